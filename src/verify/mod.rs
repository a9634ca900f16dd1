//! Offline verification of a log or an evidence pack.
//!
//! The verifier streams the file line by line in bounded memory, re-walks the chain (link, then
//! recomputed hash, then signature when a key is given, then seq continuity), checks an export
//! pack's `_meta` header, and finally checks completeness against an out-of-band head or count
//! or, failing that, the header. Unlike the reference it does not stop at the first problem: it
//! re-synchronises on the stored hash and reports every problem (up to
//! [`VerifyOptions::max_problems`] of them, counting the rest).
//!
//! ```
//! use acttrace::verify::{verify_reader, VerifyOptions};
//!
//! let log = concat!(
//!   r#"{"seq": 0, "ts": "2026-11-26T21:28:45.791750+00:00", "type": "audit_open", "payload": {"system": "sys-7", "risk_tier": "limited", "format": "acttrace-chain/1", "producer": "cendor-acttrace/1.14.0"}, "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "752846f70168a08c008f246cfecc1b270e2bf32f8488df5130814b38e5cd65cf", "sig": "df3056fa298a752c0e495d4f840daa7435217ff9bf70bcff2895427a7b58ad67"}"#, "\n");
//! let report = verify_reader(log.as_bytes(), "inline", &VerifyOptions::default()).unwrap();
//! assert!(report.ok(), "{}", report.summary());
//! assert_eq!(report.entries, 1);
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::chain::{HashAlg, SigningKey};
use crate::error::Error;
use crate::json::{self, Value};

mod batches;
mod checkpoints;
mod dir;
mod epochs;
mod examine;
mod lines;
mod parallel;
mod proofs;
mod shape;
mod walk;

pub use batches::BatchVerifier;
pub use checkpoints::{CheckpointOptions, CheckpointReport, ExpectedOutcome, expected_checkpoint};
pub use dir::{DirVerification, verify_dir, verify_dir_observed};
pub use proofs::{
    LogTree, MAX_PROOF_LEAVES, ProofError, ProofText, consistency_proof_text, inclusion_proof_text,
    log_tree, parse_proof, verify_consistency_text, verify_inclusion_text,
};

use examine::{Examiner, LineFacts};
pub(crate) use lines::{LineInfo, LineSplitter};
use parallel::verify_parallel;
use walk::Walker;

/// Lines longer than this are refused (with the line number) instead of being read into memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// What to check besides the chain itself.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Check every entry's `sig` (and a pack header's `sig`) with this key.
    pub key: Option<SigningKey>,
    /// The head hash the log must end at, obtained out of band (for example from
    /// [`crate::AuditHandle::head`] at write time). Overrides a pack header.
    pub expected_head: Option<String>,
    /// The number of entries the log must hold, obtained out of band. Overrides a pack header.
    pub expect_entries: Option<u64>,
    /// Longest line accepted, in bytes.
    pub max_line_bytes: usize,
    /// How many problems are listed in full; the rest are only counted.
    pub max_problems: usize,
    /// Checkpoint checks: verifier keys and an expected checkpoint (issue #13).
    pub checkpoints: CheckpointOptions,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            key: None,
            expected_head: None,
            expect_entries: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_problems: 100,
            checkpoints: CheckpointOptions::default(),
        }
    }
}

/// The kind of a verification problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// `prev_hash` is not the previous entry's hash: an entry was deleted, inserted or moved.
    BrokenLink,
    /// The recomputed hash differs from the stored one: the entry was edited.
    TamperedEntry,
    /// The signature is missing or wrong for the given key.
    BadSignature,
    /// `seq` does not follow the previous entry's (the chain was renumbered or rebuilt).
    SeqMismatch,
    /// A line is not a well-formed entry (not JSON, a field missing or of the wrong type).
    Malformed,
    /// The last line is cut short, as a crash during a write leaves it.
    TornLine,
    /// A line exceeds the length limit.
    LineTooLong,
    /// The chain ends before the expected head or count: entries were removed from the end.
    Incomplete,
    /// The pack header's signature does not match its completeness fields.
    ForgedMeta,
    /// A key was given but the pack header carries no signature.
    UnauthenticatedMeta,
    /// The file holds no entries at all.
    Empty,
    /// The chain declares a hash algorithm this verifier does not know.
    UnknownHashAlg,
    /// A `checkpoint` entry (or the origin or tree the log records for it) is wrong: its
    /// payload, its size or root against the chain, its note's body, origin or signature.
    BadCheckpoint,
    /// The log is inconsistent with an expected checkpoint obtained elsewhere.
    Inconsistent,
    /// Something asked for cannot be checked (a checkpoint reaching into deleted segments, a
    /// verifier key with no checkpoint to check).
    Unverifiable,
}

impl ProblemKind {
    /// A stable snake_case name, used in JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::BrokenLink => "broken_link",
            ProblemKind::TamperedEntry => "tampered_entry",
            ProblemKind::BadSignature => "bad_signature",
            ProblemKind::SeqMismatch => "seq_mismatch",
            ProblemKind::Malformed => "malformed",
            ProblemKind::TornLine => "torn_line",
            ProblemKind::LineTooLong => "line_too_long",
            ProblemKind::Incomplete => "incomplete",
            ProblemKind::ForgedMeta => "forged_meta",
            ProblemKind::UnauthenticatedMeta => "unauthenticated_meta",
            ProblemKind::Empty => "empty",
            ProblemKind::UnknownHashAlg => "unknown_hash_alg",
            ProblemKind::BadCheckpoint => "bad_checkpoint",
            ProblemKind::Inconsistent => "inconsistent",
            ProblemKind::Unverifiable => "unverifiable",
        }
    }
}

/// One problem found in a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// 1-based line number, when the problem is on a line.
    pub line: Option<u64>,
    /// The entry's seq, when known.
    pub seq: Option<u64>,
    /// A sentence describing it.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)?;
        match (self.seq, self.line) {
            (_, None) => Ok(()),
            (Some(_), Some(line)) | (None, Some(line)) => write!(f, " (line {line})"),
        }
    }
}

/// What the signatures tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// No key was given, so signatures were not checked.
    NotChecked,
    /// Every entry's signature matched the key.
    Verified,
    /// At least one signature was missing or wrong.
    Failed,
}

/// What the completeness check rested on. A hash chain alone cannot see entries cut from its
/// end; only an expected head or count can.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completeness {
    /// Nothing to check against: a cut tail would go unnoticed. Pass an expected head or count.
    NotChecked,
    /// Checked against the head and/or count given out of band (authoritative).
    OutOfBand,
    /// Checked against a pack header whose HMAC signature verified with the key.
    SignedHeader,
    /// Checked against a pack header that nobody authenticated (anyone can rewrite it).
    UnauthenticatedHeader,
}

/// The result of verifying one log or pack.
#[derive(Clone, Debug)]
pub struct Verification {
    /// The file's name (or the label given to [`verify_reader`]).
    pub source: String,
    /// Number of chain entries read.
    pub entries: u64,
    /// The hash of the last entry ([`GENESIS`](crate::chain::GENESIS) when there is none).
    pub head: String,
    /// The chain's hash algorithm, from its `audit_open` entry.
    pub hash_alg: HashAlg,
    /// Whether the file was an export pack (had a `_meta` header).
    pub is_pack: bool,
    /// The signature outcome.
    pub signatures: Signatures,
    /// What completeness rested on.
    pub completeness: Completeness,
    /// The problems found, in file order (at most `max_problems`).
    pub problems: Vec<Problem>,
    /// The total number of problems, including those not listed.
    pub problem_count: u64,
    /// Entries without a signature (empty `sig`).
    pub unsigned_entries: u64,
    /// Where a torn last line starts, when the file ends with one.
    pub torn_tail: Option<TornTail>,
    /// Whether the file's last line ends with `\n` (an empty file counts as ending with one).
    pub ends_with_newline: bool,
    /// When the file is a segment of a rotated log (it starts with `segment_open`), where it
    /// continues from.
    pub segment_start: Option<SegmentStart>,
    /// Segments that `retention` entries in this file record as deleted.
    pub retention_deleted: Vec<String>,
    /// The seq of the last entry read.
    pub last_seq: Option<u64>,
    /// What was found of checkpoints: present when the log uses them (its `audit_open`
    /// declares an origin, its `segment_open` records a tree) or checks were asked for.
    pub checkpoints: Option<CheckpointReport>,
}

impl Verification {
    /// The seq the next entry appended to this chain gets.
    pub fn next_seq(&self) -> u64 {
        self.last_seq.map_or(0, |s| s.saturating_add(1))
    }

    /// The Merkle tree over every entry walked, when the verifier kept one.
    pub(crate) fn tree_end(&self) -> Option<&crate::checkpoint::Frontier> {
        self.checkpoints.as_ref().and_then(|c| c.end.as_ref())
    }
}

/// Where a segment of a rotated log continues its predecessor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentStart {
    /// The seq of its first entry (`segment_open`).
    pub first_seq: u64,
    /// The previous segment's head, which `segment_open` links to.
    pub previous_head: String,
    /// The previous segment's file name, as `segment_open` records it.
    pub previous_segment: String,
}

/// A last line cut short by a crash mid-write, or a run of NUL bytes that power loss left at
/// the end of the file (after the last newline, possibly after a line cut short).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Its 1-based line number.
    pub line: u64,
    /// The byte offset where it starts; everything from here to the end of the file is torn.
    pub offset: u64,
    /// How many NUL bytes end the file (0 for a line that is only cut short).
    pub nul_bytes: u64,
}

impl Verification {
    /// True when the log verified: no problem of any kind.
    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }

    /// The first problem, if any.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems.first()
    }

    /// One line in the reference verifier's style, for example `ok: 24 entries, head
    /// 482936863390… (signatures verified; completeness checked against the expected
    /// head/count)` or `tampered entry at seq 3: hash mismatch (line 4)`. A verified log's line
    /// always says what was checked: signatures (verified, present but not checked, or
    /// unsigned) and what completeness rested on.
    pub fn summary(&self) -> String {
        if let Some(p) = self.first_problem() {
            let more = self.problem_count - 1;
            if more > 0 {
                return format!(
                    "{p} [and {more} more problem{}]",
                    if more == 1 { "" } else { "s" }
                );
            }
            return p.to_string();
        }
        let mut notes: Vec<&str> = vec![
            signatures_note(self.signatures, self.unsigned_entries, self.entries),
            completeness_note(self.completeness),
        ];
        let anchored = self.completeness == Completeness::OutOfBand;
        let checkpoint_notes = self
            .checkpoints
            .as_ref()
            .map(|c| c.notes(anchored))
            .unwrap_or_default();
        notes.extend(checkpoint_notes.iter().map(String::as_str));
        if self.hash_alg != HashAlg::Sha256 {
            notes.push("hash blake3");
        }
        let segment_note;
        if let Some(seg) = &self.segment_start {
            segment_note = format!(
                "a segment continuing {} from seq {}; verify the directory to check that link",
                seg.previous_segment, seg.first_seq
            );
            notes.push(&segment_note);
        }
        format!(
            "ok: {} entries, head {}… ({})",
            self.entries,
            short(&self.head),
            notes.join("; ")
        )
    }

    /// A machine-readable report.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "source": self.source,
            "ok": self.ok(),
            "entries": self.entries,
            "head": self.head,
            "hash_alg": self.hash_alg.name(),
            "is_pack": self.is_pack,
            "signatures": match self.signatures {
                Signatures::NotChecked => "not_checked",
                Signatures::Verified => "verified",
                Signatures::Failed => "failed",
            },
            "completeness": match self.completeness {
                Completeness::NotChecked => "not_checked",
                Completeness::OutOfBand => "out_of_band",
                Completeness::SignedHeader => "signed_header",
                Completeness::UnauthenticatedHeader => "unauthenticated_header",
            },
            "unsigned_entries": self.unsigned_entries,
            "problem_count": self.problem_count,
            "problems": self.problems.iter().map(|p| serde_json::json!({
                "kind": p.kind.name(),
                "line": p.line,
                "seq": p.seq,
                "detail": p.detail,
            })).collect::<Vec<_>>(),
            "checkpoints": self.checkpoints.as_ref().map(CheckpointReport::to_json),
            "summary": self.summary(),
        })
    }
}

/// An input opened once: a file (a regular file, a FIFO, a device) or, for the path `-`,
/// standard input. Every command that reads a log reads it through one `Input`, once: a pipe
/// cannot be read twice, and a file read twice may not hold the same bytes the second time.
pub struct Input {
    /// The name for messages: the path as given, or `stdin` for `-`.
    pub name: String,
    /// The size when the input is a regular file; `None` for a pipe, FIFO or terminal.
    pub regular_len: Option<u64>,
    /// The bytes.
    pub reader: Box<dyn BufRead + Send>,
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("regular_len", &self.regular_len)
            .finish_non_exhaustive()
    }
}

impl Input {
    /// Opens `path`; `-` is standard input.
    pub fn open(path: &Path) -> Result<Input, Error> {
        if path.as_os_str() == "-" {
            return Ok(Input {
                name: "stdin".into(),
                regular_len: None,
                reader: Box::new(BufReader::with_capacity(256 * 1024, io::stdin())),
            });
        }
        let file = File::open(path).map_err(|source| Error::Io {
            op: "open",
            path: path.to_owned(),
            source,
        })?;
        let regular_len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        Ok(Input {
            name: path.display().to_string(),
            regular_len,
            reader: Box::new(BufReader::with_capacity(256 * 1024, file)),
        })
    }

    /// Reads the input's first line (at most `cap` bytes of it, without its `\n`) and puts it
    /// back in front of the rest, so that the input can be classified (an excerpt pack, say)
    /// and then read from its start without a second open. A first line longer than `cap` is
    /// returned cut at `cap` bytes (and still read whole, from the start, by what follows).
    pub fn peek_first_line(&mut self, cap: usize) -> io::Result<Vec<u8>> {
        let mut first = Vec::new();
        (&mut self.reader)
            .take(cap as u64 + 1)
            .read_until(b'\n', &mut first)?;
        let rest = std::mem::replace(&mut self.reader, Box::new(io::empty()));
        let peeked = first.clone();
        self.reader = Box::new(io::Cursor::new(peeked).chain(rest));
        if first.last() == Some(&b'\n') {
            first.pop();
        }
        first.truncate(cap);
        Ok(first)
    }
}

/// Verifies the log or pack at `path` (`-` is standard input). `Err` only when the input cannot
/// be opened or read; every integrity problem is reported in the returned [`Verification`].
///
/// Large regular files are verified on every available core: lines are examined (parsed,
/// re-hashed, signatures checked) in parallel chunks and then walked in file order for the
/// links, so memory stays bounded by the chunks in flight. Pipes are verified on this thread.
pub fn verify_path(path: impl AsRef<Path>, opts: &VerifyOptions) -> Result<Verification, Error> {
    verify_input(Input::open(path.as_ref())?, opts)
}

/// Verifies an opened [`Input`], reading it once (in parallel when it is a large regular
/// file). `Err` only when it cannot be read.
pub fn verify_input(input: Input, opts: &VerifyOptions) -> Result<Verification, Error> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let large = input.regular_len.is_some_and(|n| n > 4 << 20);
    let Input { name, reader, .. } = input;
    let result = if large && workers > 1 {
        verify_parallel(reader, &name, opts, workers)
    } else {
        verify_reader(reader, &name, opts)
    };
    result.map_err(|source| Error::Io {
        op: "read",
        path: name.into(),
        source,
    })
}

/// Verifies a log read from `reader`, on the calling thread; `source` names it in messages.
pub fn verify_reader(
    reader: impl BufRead,
    source: &str,
    opts: &VerifyOptions,
) -> io::Result<Verification> {
    verify_reader_each(reader, source, opts, &mut |_, _, _, _, _| {})
}

/// What [`verify_reader_each`] calls for each chain entry: seq, hash, `prev_hash`, line, and
/// the Merkle tree over the entries before it when the verifier keeps one (the log uses
/// checkpoints), so that the caller need not build it again.
pub(crate) type EachEntry<'a> = dyn FnMut(u64, &crate::hex::Hex64, &crate::hex::Hex64, &[u8], Option<&crate::checkpoint::Frontier>)
    + 'a;

/// Verifies like [`verify_reader`] and hands `each` every chain entry's seq, hash, `prev_hash`
/// and line as it goes: what a writer needs to rebuild the Merkle tree over a log it reopens
/// without reading it twice (issue #13). Costs nothing per entry beyond the call; the caller
/// trusts what it built only when the verification is ok.
pub(crate) fn verify_reader_each(
    mut reader: impl BufRead,
    source: &str,
    opts: &VerifyOptions,
    each: &mut EachEntry<'_>,
) -> io::Result<Verification> {
    let mut w = Walker::new(source, opts);
    let mut lines = LineSplitter::new(opts.max_line_bytes);
    let mut examiner = Examiner::new(opts.key.clone(), opts.checkpoints.keys.clone());
    while let Some(info) = lines.next(&mut reader)? {
        let facts = examiner.examine_first_aware(&info, lines.buf());
        if let LineFacts::Entry(entry) = &facts {
            let tree = w.tree.frontier();
            each(entry.seq, &entry.hash, &entry.prev_hash, lines.buf(), tree);
        }
        w.apply(&info, facts);
    }
    Ok(w.finish())
}

/// What a verdict says of signatures: verified with the key, present but not checked (no key),
/// or absent (an unsigned log).
fn signatures_note(signatures: Signatures, unsigned: u64, entries: u64) -> &'static str {
    match signatures {
        Signatures::Verified => "signatures verified",
        Signatures::Failed => "signatures failed",
        Signatures::NotChecked if unsigned >= entries => "unsigned (no entry carries a signature)",
        Signatures::NotChecked => "signatures present but not checked (no key given)",
    }
}

/// What a verdict says completeness rested on.
fn completeness_note(completeness: Completeness) -> &'static str {
    match completeness {
        // Item 11 of issue #12: the header's signature covers four members, not the header.
        Completeness::SignedHeader => {
            "metadata signature verified (it covers system, risk_tier, head_hash and entries; \
             the other _meta members are not signed)"
        }
        Completeness::OutOfBand => "completeness checked against the expected head/count",
        Completeness::UnauthenticatedHeader => {
            "completeness from unauthenticated in-file _meta — pass expected_head/\
             expect_entries out-of-band for an authoritative check"
        }
        Completeness::NotChecked => {
            "completeness not checked: a cut tail is invisible without --expect-head or \
             --expect-entries"
        }
    }
}

/// One chain entry as [`verify_observed`] read it, parsed.
#[derive(Debug)]
pub struct ObservedEntry<'a> {
    /// Its 1-based line number.
    pub line: u64,
    /// The line as written, without its line ending.
    pub text: &'a str,
    /// The whole line, parsed.
    pub row: &'a Value,
    /// `seq`.
    pub seq: u64,
    /// `ts`.
    pub ts: &'a str,
    /// `type`.
    pub kind: &'a str,
    /// `payload`.
    pub payload: &'a Value,
    /// `prev_hash`.
    pub prev_hash: &'a str,
    /// `hash`.
    pub hash: &'a str,
    /// `sig` (empty when unsigned).
    pub sig: &'a str,
}

/// What [`verify_observed`] hands its observer for each non-blank line, in file order.
#[derive(Debug)]
pub enum Observed<'a> {
    /// A chain entry. Whether it verified is in the final [`Verification`]: an observer builds
    /// its report as it goes and trusts it only when the verification is ok.
    Entry(ObservedEntry<'a>),
    /// An export pack's header line (`{"_meta": ...}`), parsed.
    Meta {
        /// Its 1-based line number.
        line: u64,
        /// The whole line.
        row: &'a Value,
    },
    /// A line that is not an entry the observer can use: longer than
    /// [`VerifyOptions::max_line_bytes`] (its bytes were never held), not UTF-8, not JSON, a
    /// member missing or of the wrong type.
    Unreadable {
        /// Its 1-based line number.
        line: u64,
        /// Whether it was longer than the line cap.
        too_long: bool,
        /// What is wrong with it.
        detail: String,
    },
}

/// Verifies a log read from `reader` in one pass and hands every line to `observer` as it is
/// verified, so that a report (a summary, an export, a proof) is built from exactly the bytes
/// that were verified, never from a second read. Lines longer than
/// [`VerifyOptions::max_line_bytes`] are neither buffered nor observed as entries. Runs on
/// the calling thread; memory is what the observer keeps plus one capped line.
pub fn verify_observed(
    mut reader: impl BufRead,
    source: &str,
    opts: &VerifyOptions,
    observer: &mut dyn FnMut(Observed<'_>),
) -> io::Result<Verification> {
    let mut w = Walker::new(source, opts);
    let mut lines = LineSplitter::new(opts.max_line_bytes);
    let mut examiner = Examiner::new(opts.key.clone(), opts.checkpoints.keys.clone());
    while let Some(info) = lines.next(&mut reader)? {
        let facts = examiner.examine_first_aware(&info, lines.buf());
        observe(&info, lines.buf(), &facts, opts.max_line_bytes, observer);
        w.apply(&info, facts);
    }
    Ok(w.finish())
}

/// Hands one examined line to an observer.
fn observe(
    info: &LineInfo,
    raw: &[u8],
    facts: &LineFacts,
    cap: usize,
    observer: &mut dyn FnMut(Observed<'_>),
) {
    let line = info.number;
    let unreadable = |detail: String| Observed::Unreadable {
        line,
        too_long: false,
        detail,
    };
    match facts {
        LineFacts::Blank => {}
        LineFacts::TooLong => observer(Observed::Unreadable {
            line,
            too_long: true,
            detail: format!("line longer than {cap} bytes"),
        }),
        LineFacts::NotUtf8 { .. } | LineFacts::Bom => {
            observer(unreadable("not UTF-8 without a byte-order mark".into()))
        }
        LineFacts::Unparsed(e) => observer(unreadable(format!("not JSON: {e}"))),
        LineFacts::NulTail { nul_bytes, .. } => observer(unreadable(format!(
            "ends with {nul_bytes} NUL bytes (a NUL-padded tail: `acttrace repair` recovers it)"
        ))),
        LineFacts::Malformed { detail, .. } => observer(unreadable(detail.clone())),
        LineFacts::Meta(row) => observer(Observed::Meta { line, row }),
        LineFacts::Entry(facts) => {
            // The examiner read this line as UTF-8 JSON already; it is parsed again here into a
            // value tree only because an observer wants one.
            let text = std::str::from_utf8(raw)
                .unwrap_or_default()
                .trim_matches(|c: char| c.is_ascii_whitespace());
            let row = match json::parse(text) {
                Ok(row) => row,
                Err(e) => return observer(unreadable(format!("not JSON: {e}"))),
            };
            let s = |k: &str| row.get(k).and_then(Value::as_str);
            let (Some(ts), Some(kind), Some(payload), Some(prev_hash), Some(hash)) = (
                s("ts"),
                s("type"),
                row.get("payload"),
                s("prev_hash"),
                s("hash"),
            ) else {
                return observer(unreadable(format!(
                    "entry at seq {}: ts and type must be strings",
                    facts.seq
                )));
            };
            observer(Observed::Entry(ObservedEntry {
                line,
                text,
                row: &row,
                seq: facts.seq,
                ts,
                kind,
                payload,
                prev_hash,
                hash,
                sig: s("sig").unwrap_or_default(),
            }));
        }
    }
}

/// The first 12 characters of a hash, for messages (safe on any string).
fn short(s: &str) -> &str {
    s.char_indices().nth(12).map_or(s, |(i, _)| &s[..i])
}

/// The text a pack header's `sig` covers: the canonical form of its `system`, `risk_tier`,
/// `head_hash` and `entries` (missing ones as `null`).
pub fn meta_signing_input(meta: &Value) -> String {
    let pick = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    json::to_canonical(&Value::Object(vec![
        ("system".into(), pick("system")),
        ("risk_tier".into(), pick("risk_tier")),
        ("head_hash".into(), pick("head_hash")),
        ("entries".into(), pick("entries")),
    ]))
}
