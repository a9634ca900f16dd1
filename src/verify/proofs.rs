//! Proofs from a log (issue #13): the tree over the chain hashes, gathered while the log is
//! verified, in one read ([`ProofTree`]); inclusion proofs in the c2sp.org/tlog-proof@v1 format
//! ([`TlogProof`], the one implementation excerpt packs use too) and consistency proofs in the
//! c2sp.org/tlog-witness `add-checkpoint` request body; and their verification.
//!
//! Memory: about 64 bytes per entry up to the tree size asked for (1M entries = 64 MiB), and at
//! most [`MAX_PROOF_LEAVES`] leaves (or the cap given): a larger log is refused with an error
//! rather than held.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{
    self, Checkpoint, Hash, ProofTree, TLOG_PROOF_HEADER, TlogProof, VerifierKey,
};
use crate::error::Error;

use super::checkpoints::{Collect, Tracker, expected_checkpoint};
use super::examine::Examiner;
use super::lines::LineSplitter;
use super::walk::Walker;
use super::{Input, Verification, VerifyOptions};

/// The most leaves gathered for a proof by default: 4,194,304 (about 256 MiB of tree).
pub const MAX_PROOF_LEAVES: u64 = 1 << 22;

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
                "the log holds more than {cap} entries, the most gathered for a proof (about \
                 64 bytes each); ask for a smaller --size or raise --max-leaves"
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
    /// The tree over the chain hashes of entries `0..tree.size()` (only up to the size asked
    /// for).
    pub tree: ProofTree,
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
        tree: ProofTree::new(),
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
        tree: collect.tree,
        notes,
    })
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
    let root = tree
        .tree
        .root(size)
        .map_err(|e| ProofError::Request(e.to_string()))?;
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
    if size > tree.tree.size() {
        return Err(ProofError::Request(format!(
            "tree size {size} is beyond the log's {} entries",
            tree.tree.size()
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
    let hashes = tree
        .tree
        .inclusion_proof(seq, size)
        .map_err(|e| ProofError::Request(e.to_string()))?;
    let (checkpoint, signed) = checkpoint_text(tree, size)?;
    let proof = TlogProof {
        extra: None,
        index: seq,
        hashes,
        checkpoint,
    };
    Ok((proof.to_text(), signed))
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
        tree.tree
            .consistency_proof(old, new)
            .map_err(|e| ProofError::Request(e.to_string()))?
    };
    let (checkpoint, signed) = checkpoint_text(tree, new)?;
    let mut text = format!("old {old}\n");
    for h in &proof {
        text.push_str(&B64.encode(h));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&checkpoint);
    Ok((text, signed))
}

/// A proof text, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofText {
    /// c2sp.org/tlog-proof@v1.
    Inclusion(TlogProof),
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

/// At most this many hash lines in a consistency proof (a tree of 2^64 - 1 leaves needs 64,
/// plus one).
const MAX_CONSISTENCY_HASHES: usize = 65;

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

/// Parses a tlog-proof ([`TlogProof::parse`]) or a tlog-witness request body.
pub fn parse_proof(text: &str) -> Result<ProofText, ProofError> {
    let bad = |s: String| ProofError::Invalid(s);
    let first = text.split('\n').next().unwrap_or_default();
    if first == TLOG_PROOF_HEADER {
        return TlogProof::parse(text)
            .map(ProofText::Inclusion)
            .map_err(|e| bad(e.to_string()));
    }
    let Some(old) = first.strip_prefix("old ") else {
        return Err(bad(format!(
            "neither a {TLOG_PROOF_HEADER} proof nor a tlog-witness body (\"old N\"): first \
             line {first:?}"
        )));
    };
    let (head, checkpoint) = text
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line before the checkpoint".into()))?;
    let mut hashes = Vec::new();
    for (i, line) in head.split('\n').enumerate().skip(1) {
        if hashes.len() == MAX_CONSISTENCY_HASHES {
            return Err(bad(format!(
                "more than {MAX_CONSISTENCY_HASHES} proof hashes"
            )));
        }
        let h = B64
            .decode(line)
            .ok()
            .and_then(|b| Hash::try_from(b).ok())
            .ok_or_else(|| bad(format!("line {}: not the base64 of a 32-byte hash", i + 1)))?;
        hashes.push(h);
    }
    Ok(ProofText::Consistency {
        old: decimal(old, "old size")?,
        hashes,
        checkpoint: checkpoint.to_owned(),
    })
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
    let ProofText::Inclusion(proof) = parse_proof(text)? else {
        return Err(ProofError::Invalid(
            "not an inclusion proof (c2sp.org/tlog-proof@v1)".into(),
        ));
    };
    let c = signed_checkpoint(&proof.checkpoint, keys)?;
    proof
        .verify_against(leaf, &c)
        .map_err(|e| ProofError::Invalid(format!("{e} (index {})", proof.index)))?;
    Ok((proof.index, c))
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
