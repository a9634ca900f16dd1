//! Proofs from a log (issue #13): the leaves (chain hashes) gathered while the log is verified,
//! in one read; inclusion proofs in the c2sp.org/tlog-proof@v1 format and consistency proofs in
//! the c2sp.org/tlog-witness `add-checkpoint` request body; and their verification.
//!
//! Memory: 32 bytes per entry up to the tree size asked for (1M entries = 32 MiB), and at
//! most [`MAX_PROOF_LEAVES`] leaves (or the cap given): a larger log is refused with an error
//! rather than held.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{self, Checkpoint, Hash, VerifierKey, consistency_proof, inclusion_proof};
use crate::error::Error;

use super::checkpoints::{Collect, Tracker, expected_checkpoint};
use super::examine::Examiner;
use super::lines::LineSplitter;
use super::walk::Walker;
use super::{Input, Verification, VerifyOptions};

/// The most leaves gathered for a proof by default: 4,194,304 (128 MiB of hashes).
pub const MAX_PROOF_LEAVES: u64 = 1 << 22;

/// The first line of a c2sp.org/tlog-proof@v1 proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Why a proof could not be made or did not verify.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProofError {
    /// The log could not be read.
    Io(Error),
    /// The log holds more leaves than the cap allows gathering.
    TooManyLeaves {
        /// The cap.
        cap: u64,
    },
    /// The log does not verify, so no proof is made from it.
    Unverified(String),
    /// What was asked cannot be proved from this log (a size beyond it, a seq not below the
    /// size, leaves in deleted segments).
    Request(String),
    /// A proof text that is not in the format, or that does not verify.
    Invalid(String),
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::Io(e) => e.fmt(f),
            ProofError::TooManyLeaves { cap } => write!(
                f,
                "the log holds more than {cap} entries, the most gathered for a proof (32 bytes \
                 each); ask for a smaller --size or raise --max-leaves"
            ),
            ProofError::Unverified(s) => write!(f, "the log does not verify: {s}"),
            ProofError::Request(s) | ProofError::Invalid(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ProofError {}

/// A log's leaves, gathered while it was verified.
#[derive(Debug)]
pub struct LogTree {
    /// The verification of the whole log (read once).
    pub verification: Verification,
    /// The chain hashes of entries `0..leaves.len()` (only up to the size asked for).
    pub leaves: Vec<[u8; 32]>,
    /// The signed notes of the checkpoint entries whose tree size was asked for, and the
    /// latest checkpoint's.
    pub notes: Vec<(u64, String)>,
}

impl LogTree {
    /// The note of the checkpoint entry of tree size `size`, if the log holds one that
    /// verified.
    pub fn note_at(&self, size: u64) -> Option<&str> {
        self.notes
            .iter()
            .find(|(s, _)| *s == size)
            .map(|(_, n)| n.as_str())
    }

    /// The latest checkpoint that verified: its size and note.
    pub fn latest(&self) -> Option<(u64, &str)> {
        let c = self.verification.checkpoints.as_ref()?;
        Some((c.last_checked_size?, c.latest_note.as_deref()?))
    }
}

/// Verifies the log in `input` (read once, on this thread) and gathers its leaves up to tree
/// size `up_to` (all of them when `None`), at most `max_leaves`, with the notes of the
/// checkpoints of the `sizes` asked for. A log that does not verify is refused; so is a log
/// that starts after seq 0 (a segment: its older leaves are deleted).
pub fn log_tree(
    input: Input,
    opts: &VerifyOptions,
    up_to: Option<u64>,
    sizes: &[u64],
    max_leaves: u64,
) -> Result<LogTree, ProofError> {
    let Input {
        name, mut reader, ..
    } = input;
    let cap = up_to.map_or(max_leaves, |n| n.min(max_leaves));
    let mut w = Walker::new(&name, opts);
    w.tree = Tracker::new(&opts.checkpoints).collecting(Collect {
        cap,
        leaves: Vec::new(),
        over_cap: false,
        wanted_sizes: sizes.to_vec(),
        notes: Vec::new(),
        first: 0,
    });
    let mut lines = LineSplitter::new(opts.max_line_bytes);
    let mut examiner = Examiner::new(opts.key.clone(), opts.checkpoints.keys.clone());
    let io = |source| {
        ProofError::Io(Error::Io {
            op: "read",
            path: name.clone().into(),
            source,
        })
    };
    while let Some(info) = lines.next(&mut reader).map_err(io)? {
        let facts = examiner.examine_first_aware(&info, lines.buf());
        w.apply(&info, facts);
    }
    let collect = w.tree.take_collect().expect("collecting");
    let verification = w.finish();
    if !verification.ok() {
        return Err(ProofError::Unverified(verification.summary()));
    }
    if collect.first != 0 {
        return Err(ProofError::Request(format!(
            "{name} is a segment starting at tree size {}: proofs need every leaf from 0 (the \
             older segments are deleted or elsewhere), so they are unverifiable from it",
            collect.first
        )));
    }
    if collect.over_cap && up_to.is_none_or(|n| n > max_leaves) {
        return Err(ProofError::TooManyLeaves { cap: max_leaves });
    }
    let mut notes = collect.notes;
    if let Some(c) = &verification.checkpoints
        && let (Some(size), Some(note)) = (c.last_checked_size, &c.latest_note)
        && !notes.iter().any(|(s, _)| *s == size)
    {
        notes.push((size, note.clone()));
    }
    Ok(LogTree {
        verification,
        leaves: collect.leaves,
        notes,
    })
}

fn b64_lines(hashes: &[Hash]) -> String {
    hashes
        .iter()
        .map(|h| format!("{}\n", B64.encode(h)))
        .collect()
}

/// The unsigned checkpoint body of the tree of `size` leaves, for a proof whose size is no
/// checkpoint's (a verifier then needs that root from elsewhere).
fn body_of(tree: &LogTree, size: u64) -> Result<String, ProofError> {
    let origin = tree
        .verification
        .checkpoints
        .as_ref()
        .and_then(|c| c.origin.clone())
        .ok_or_else(|| ProofError::Request("the log declares no origin".into()))?;
    let root = checkpoint::root_of(&tree.leaves[..size as usize]);
    Checkpoint::new(&origin, size, root)
        .map(|c| c.body())
        .map_err(|e| ProofError::Request(e.to_string()))
}

/// The checkpoint text a proof ends with: the log's signed note of that size when it holds
/// one, else the unsigned body (and `false`).
fn checkpoint_text(tree: &LogTree, size: u64) -> Result<(String, bool), ProofError> {
    match tree.note_at(size) {
        Some(note) => Ok((note.to_owned(), true)),
        None => Ok((body_of(tree, size)?, false)),
    }
}

fn check_size(tree: &LogTree, size: u64) -> Result<(), ProofError> {
    if size > tree.leaves.len() as u64 {
        return Err(ProofError::Request(format!(
            "tree size {size} is beyond the log's {} entries",
            tree.leaves.len()
        )));
    }
    Ok(())
}

/// An inclusion proof of entry `seq` in the tree of `size` leaves, in the
/// c2sp.org/tlog-proof@v1 format: the header, `index <seq>`, the proof's hashes in base64, a
/// blank line, and the checkpoint (the log's signed note when a checkpoint entry has that
/// size; otherwise the unsigned body, and the returned flag is `false`).
pub fn inclusion_proof_text(
    tree: &LogTree,
    seq: u64,
    size: u64,
) -> Result<(String, bool), ProofError> {
    check_size(tree, size)?;
    let proof =
        inclusion_proof(&tree.leaves, seq, size).map_err(|e| ProofError::Request(e.to_string()))?;
    let (checkpoint, signed) = checkpoint_text(tree, size)?;
    Ok((
        format!(
            "{TLOG_PROOF_HEADER}\nindex {seq}\n{}\n{checkpoint}",
            b64_lines(&proof)
        ),
        signed,
    ))
}

/// A consistency proof from tree size `old` to `new`, as the body of a c2sp.org/tlog-witness
/// `add-checkpoint` request: `old <old>`, the proof's hashes in base64, a blank line, and the
/// checkpoint of size `new` (signed when the log holds one of that size).
pub fn consistency_proof_text(
    tree: &LogTree,
    old: u64,
    new: u64,
) -> Result<(String, bool), ProofError> {
    check_size(tree, new)?;
    let proof = if old == 0 {
        Vec::new()
    } else {
        consistency_proof(&tree.leaves, old, new).map_err(|e| ProofError::Request(e.to_string()))?
    };
    let (checkpoint, signed) = checkpoint_text(tree, new)?;
    Ok((
        format!("old {old}\n{}\n{checkpoint}", b64_lines(&proof)),
        signed,
    ))
}

/// A proof text, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofText {
    /// c2sp.org/tlog-proof@v1.
    Inclusion {
        /// The entry's index (its seq).
        index: u64,
        /// The `extra` data, when present (unauthenticated).
        extra: Option<Vec<u8>>,
        /// The proof's hashes.
        hashes: Vec<Hash>,
        /// The checkpoint note.
        checkpoint: String,
    },
    /// A tlog-witness `add-checkpoint` body.
    Consistency {
        /// The old tree size.
        old: u64,
        /// The proof's hashes.
        hashes: Vec<Hash>,
        /// The new checkpoint note.
        checkpoint: String,
    },
}

/// At most this many hash lines in a proof (a tree of 2^64 leaves needs 64, plus one).
const MAX_PROOF_HASHES: usize = 65;

fn decimal(s: &str, what: &str) -> Result<u64, ProofError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(ProofError::Invalid(format!(
            "{what} is not a decimal number without leading zeros"
        )));
    }
    s.parse()
        .map_err(|_| ProofError::Invalid(format!("{what} exceeds 2^64 - 1")))
}

/// Parses a tlog-proof or a tlog-witness request body.
pub fn parse_proof(text: &str) -> Result<ProofText, ProofError> {
    let bad = |s: String| ProofError::Invalid(s);
    let (head, checkpoint) = text
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line before the checkpoint".into()))?;
    let mut lines = head.split('\n').enumerate().peekable();
    let first = lines.next().map(|(_, l)| l).unwrap_or_default();
    let hashes = |lines: &mut dyn Iterator<Item = (usize, &str)>| -> Result<Vec<Hash>, ProofError> {
        let mut out = Vec::new();
        for (i, line) in lines {
            if out.len() == MAX_PROOF_HASHES {
                return Err(bad(format!("more than {MAX_PROOF_HASHES} proof hashes")));
            }
            let h = B64
                .decode(line)
                .ok()
                .and_then(|b| Hash::try_from(b).ok())
                .ok_or_else(|| bad(format!("line {}: not the base64 of a 32-byte hash", i + 1)))?;
            out.push(h);
        }
        Ok(out)
    };
    if first == TLOG_PROOF_HEADER {
        let mut extra = None;
        if let Some((i, l)) = lines.peek().copied()
            && let Some(data) = l.strip_prefix("extra ")
        {
            extra = Some(
                B64.decode(data)
                    .map_err(|_| bad(format!("line {}: extra is not base64", i + 1)))?,
            );
            lines.next();
        }
        let (_, line) = lines.next().ok_or_else(|| bad("no index line".into()))?;
        let index = decimal(
            line.strip_prefix("index ")
                .ok_or_else(|| bad(format!("expected \"index N\", found {line:?}")))?,
            "index",
        )?;
        return Ok(ProofText::Inclusion {
            index,
            extra,
            hashes: hashes(&mut lines)?,
            checkpoint: checkpoint.to_owned(),
        });
    }
    if let Some(old) = first.strip_prefix("old ") {
        return Ok(ProofText::Consistency {
            old: decimal(old, "old size")?,
            hashes: hashes(&mut lines)?,
            checkpoint: checkpoint.to_owned(),
        });
    }
    Err(bad(format!(
        "neither a {TLOG_PROOF_HEADER} proof nor a tlog-witness body (\"old N\"): first line \
         {first:?}"
    )))
}

/// The checkpoint a proof ends with, its signature checked by a key named as its origin.
fn signed_checkpoint(note: &str, keys: &[VerifierKey]) -> Result<Checkpoint, ProofError> {
    expected_checkpoint(note, keys).map_err(|e| ProofError::Invalid(format!("checkpoint: {e}")))
}

/// Verifies an inclusion proof (tlog-proof@v1) of the leaf `leaf` (an entry's raw chain hash)
/// against verifier keys: the checkpoint must be signed by a key named as its origin, and the
/// proof must lead from the leaf at its index to the checkpoint's root. Returns the index and
/// the checkpoint.
pub fn verify_inclusion_text(
    text: &str,
    keys: &[VerifierKey],
    leaf: &[u8; 32],
) -> Result<(u64, Checkpoint), ProofError> {
    let ProofText::Inclusion {
        index,
        hashes,
        checkpoint,
        ..
    } = parse_proof(text)?
    else {
        return Err(ProofError::Invalid(
            "not an inclusion proof (c2sp.org/tlog-proof@v1)".into(),
        ));
    };
    let c = signed_checkpoint(&checkpoint, keys)?;
    checkpoint::verify_inclusion(leaf, index, c.size, &hashes, &c.root)
        .map_err(|e| ProofError::Invalid(format!("inclusion proof of index {index}: {e}")))?;
    Ok((index, c))
}

/// Verifies a consistency proof (a tlog-witness body) against verifier keys and the old
/// checkpoint `old` (obtained elsewhere): the new checkpoint must be signed by a key named as
/// its origin, both must have the same origin, the body's old size must be `old`'s, and the
/// proof must show the old tree is a prefix of the new. Returns the new checkpoint.
pub fn verify_consistency_text(
    text: &str,
    keys: &[VerifierKey],
    old: &Checkpoint,
) -> Result<Checkpoint, ProofError> {
    let ProofText::Consistency {
        old: old_size,
        hashes,
        checkpoint,
    } = parse_proof(text)?
    else {
        return Err(ProofError::Invalid(
            "not a consistency proof (tlog-witness body \"old N\")".into(),
        ));
    };
    let new = signed_checkpoint(&checkpoint, keys)?;
    if new.origin != old.origin {
        return Err(ProofError::Invalid(format!(
            "the old checkpoint's origin {:?} is not the new one's {:?}",
            old.origin, new.origin
        )));
    }
    if old_size != old.size {
        return Err(ProofError::Invalid(format!(
            "the proof is from tree size {old_size}, the old checkpoint's is {}",
            old.size
        )));
    }
    if old_size == 0 {
        return if hashes.is_empty() {
            Ok(new)
        } else {
            Err(ProofError::Invalid(
                "a proof from the empty tree has no hashes".into(),
            ))
        };
    }
    checkpoint::verify_consistency(old.size, new.size, &old.root, &new.root, &hashes).map_err(
        |e| {
            ProofError::Invalid(format!(
                "consistency proof {} -> {}: {e}",
                old.size, new.size
            ))
        },
    )?;
    Ok(new)
}
