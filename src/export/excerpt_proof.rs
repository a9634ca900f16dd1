//! What an excerpt pack carries to prove its entries when the log has checkpoints: the signed
//! checkpoint it is proven against and a c2sp.org/tlog-proof@v1 inclusion proof per entry
//! (`docs/EXPORT.md` §5, `docs/FORMAT.md` §6.1).
//!
//! The checkpoint chosen is the first one logged after the excerpt's last entry: the smallest
//! tree that holds every excerpted entry (for a decision, its `decision_end` and what follows
//! it in the excerpt), so the same excerpt of a growing log keeps its proofs. Cosignatures
//! chained later for that tree size (`cosignature` entries) are added to its note.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{Checkpoint, ProofTree, TlogProof};
use crate::hex::from_hex64;
use crate::json::Value;

use super::ExportError;
use super::log::LogEntry;

/// The most entries an excerpt's proofs are built from: the tree up to the checkpoint is kept
/// whole in memory, about 64 bytes per entry (1 GiB at this cap), on top of the entries the
/// export holds. A checkpoint over more entries is refused with an error that says so.
pub const MAX_PROOF_LEAVES: u64 = 1 << 24;

/// The checkpoint an excerpt pack is proven against, and the proofs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExcerptCheckpoint {
    /// The seq of the `checkpoint` entry in the log (equal to its tree size).
    pub seq: u64,
    /// The checkpoint's tree size: entries `0..tree_size` are its leaves.
    pub tree_size: u64,
    /// The signed note as logged, with any cosignature lines chained for it since.
    pub note: String,
    /// How many cosignature lines were added to the note.
    pub cosignatures: usize,
    /// Why this checkpoint was chosen.
    pub chosen: String,
    /// Per excerpted entry, in order, its c2sp.org/tlog-proof@v1 text.
    pub proofs: Vec<String>,
}

/// The proofs an excerpt carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExcerptProofs {
    /// The log has no checkpoint: the pack carries no proofs (as before checkpoints existed).
    NoCheckpoints,
    /// The log has checkpoints, but none that holds every excerpted entry (or the log does not
    /// start at seq 0): the pack says why and carries no proofs.
    NotCovered {
        /// Why, in words.
        reason: String,
    },
    /// Proven against a checkpoint.
    Proven(ExcerptCheckpoint),
}

impl ExcerptProofs {
    /// A one-line description, for the export's report.
    pub fn describe(&self) -> String {
        match self {
            ExcerptProofs::NoCheckpoints => {
                "no inclusion proofs: the log has no checkpoints".into()
            }
            ExcerptProofs::NotCovered { reason } => format!("no inclusion proofs: {reason}"),
            ExcerptProofs::Proven(c) => format!(
                "every entry proven included in the checkpoint at seq {} (tree size {}{}): {}",
                c.seq,
                c.tree_size,
                match c.cosignatures {
                    0 => String::new(),
                    n => format!(", {n} cosignature(s)"),
                },
                c.chosen
            ),
        }
    }

    /// The members `_meta.excerpt` gains: `checkpoint` {seq, tree_size, note, cosignatures,
    /// chosen}, or `checkpoint: null` and `checkpoint_missing`; none without checkpoints.
    pub(super) fn meta_members(&self) -> Vec<(String, Value)> {
        match self {
            ExcerptProofs::NoCheckpoints => Vec::new(),
            ExcerptProofs::NotCovered { reason } => vec![
                ("checkpoint".into(), Value::Null),
                ("checkpoint_missing".into(), Value::from(reason.as_str())),
            ],
            ExcerptProofs::Proven(c) => vec![(
                "checkpoint".into(),
                Value::Object(vec![
                    ("seq".into(), Value::from(c.seq)),
                    ("tree_size".into(), Value::from(c.tree_size)),
                    ("note".into(), Value::from(c.note.as_str())),
                    ("cosignatures".into(), Value::from(c.cosignatures as u64)),
                    ("chosen".into(), Value::from(c.chosen.as_str())),
                ]),
            )],
        }
    }

    /// The proof of the `i`th excerpted entry, when proven.
    pub(super) fn proof(&self, i: usize) -> Option<&str> {
        match self {
            ExcerptProofs::Proven(c) => c.proofs.get(i).map(String::as_str),
            _ => None,
        }
    }
}

/// Builds the proofs of the `picked` entries of the log `all` (every entry, in order, as
/// verified). A chosen checkpoint that does not match the log is refused.
pub(super) fn build(all: &[LogEntry], picked: &[LogEntry]) -> Result<ExcerptProofs, ExportError> {
    let mut checkpoints = all.iter().filter(|e| e.kind == "checkpoint").peekable();
    if checkpoints.peek().is_none() {
        return Ok(ExcerptProofs::NoCheckpoints);
    }
    let (Some(first), Some(last)) = (all.first(), picked.last()) else {
        return Ok(ExcerptProofs::NoCheckpoints);
    };
    if first.seq != 0 {
        return Ok(ExcerptProofs::NotCovered {
            reason: format!(
                "the log starts at seq {} (a later segment): inclusion proofs need every entry \
                 from seq 0",
                first.seq
            ),
        });
    }
    let need = last.seq;
    let tree_size = |e: &LogEntry| e.payload.get("tree_size").and_then(Value::as_u64);
    let mut latest = 0;
    let Some(chosen) = checkpoints.find(|c| {
        let size = tree_size(c).unwrap_or(0);
        latest = latest.max(size);
        size > need
    }) else {
        return Ok(ExcerptProofs::NotCovered {
            reason: format!(
                "no checkpoint holds the excerpt's last entry (seq {need}) yet; the latest \
                 covers {latest} entries (a writer adds one on flush and shutdown)"
            ),
        });
    };
    let at = chosen.seq;
    let corrupt = |what: String| ExportError::Corrupt(format!("checkpoint at seq {at}: {what}"));
    let size = tree_size(chosen).ok_or_else(|| corrupt("no integer tree_size".into()))?;
    if size != at {
        return Err(corrupt(format!(
            "tree_size {size} is not its seq (a checkpoint covers the entries before it)"
        )));
    }
    if size > MAX_PROOF_LEAVES {
        return Err(ExportError::Usage(format!(
            "the checkpoint at seq {at} covers {size} entries: an excerpt's proofs are built \
             from at most {MAX_PROOF_LEAVES} (about 64 bytes each in memory)"
        )));
    }
    let note = chosen
        .payload_str("note")
        .ok_or_else(|| corrupt("no note".into()))?;
    let body = note
        .find("\n\n")
        .and_then(|i| Checkpoint::parse_body(&note[..i + 1]).ok())
        .ok_or_else(|| corrupt("its note is not a signed checkpoint".into()))?;
    let root = chosen
        .payload_str("root")
        .and_then(|r| B64.decode(r).ok())
        .ok_or_else(|| corrupt("root is not base64".into()))?;
    if body.size != size || body.root[..] != root[..] {
        return Err(corrupt(
            "its note's tree size or root differs from the entry's".into(),
        ));
    }
    // The tree's leaf i is the entry at seq i. An export that skips verification
    // (`allow_unverified`) may read a log with entries missing or repeated: refuse it rather
    // than build the tree from whatever entries stand in those places.
    let leaves = all
        .get(..size as usize)
        .filter(|first| (0..size).zip(first.iter()).all(|(i, e)| e.seq == i))
        .ok_or_else(|| {
            corrupt(format!(
                "the log does not hold entries 0..{} once each, in order, before it",
                size - 1
            ))
        })?;
    let mut tree = ProofTree::new();
    for e in leaves {
        let leaf = from_hex64(e.hash.as_bytes())
            .ok_or_else(|| ExportError::Corrupt(format!("seq {}: hash is not hex", e.seq)))?;
        tree.push(&leaf);
    }
    let computed = tree.root(size).map_err(|e| corrupt(format!("tree: {e}")))?;
    if computed != body.root {
        return Err(corrupt(format!(
            "its root is not the Merkle root of entries 0..{} (the log differs from what was \
             signed)",
            size - 1
        )));
    }
    let (note, cosignatures) = with_cosignatures(note, size, &all[leaves.len()..]);
    let mut proofs = Vec::with_capacity(picked.len());
    for e in picked {
        let hashes = tree
            .inclusion_proof(e.seq, size)
            .map_err(|err| corrupt(format!("proof of seq {}: {err}", e.seq)))?;
        proofs.push(
            TlogProof {
                extra: None,
                index: e.seq,
                hashes,
                checkpoint: note.clone(),
            }
            .to_text(),
        );
    }
    Ok(ExcerptProofs::Proven(ExcerptCheckpoint {
        seq: at,
        tree_size: size,
        note,
        cosignatures,
        chosen: format!("the first checkpoint after the excerpt's last entry (seq {need})"),
        proofs,
    }))
}

/// `note` with the signature lines of `cosignature` entries for `size` among `later` appended
/// (each once; a line that is not one signature line is left out).
fn with_cosignatures(note: &str, size: u64, later: &[LogEntry]) -> (String, usize) {
    let mut note = note.to_owned();
    let mut added = 0;
    for e in later.iter().filter(|e| e.kind == "cosignature") {
        if e.payload.get("tree_size").and_then(Value::as_u64) != Some(size) {
            continue;
        }
        let Some(line) = e.payload_str("signature_line") else {
            continue;
        };
        let one_line = line.starts_with("\u{2014} ") && !line.contains('\n');
        if one_line && !note.lines().any(|l| l == line) {
            note.push_str(line);
            note.push('\n');
            added += 1;
        }
    }
    (note, added)
}
