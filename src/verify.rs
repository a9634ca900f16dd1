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
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::chain::{self, GENESIS, HashAlg, Hex64, PreparedKey, SigningKey};
use crate::error::Error;
use crate::json::tape::Tape;
use crate::json::{self, Value};

/// At most this many segment names from `retention` entries are kept per file.
const MAX_RETENTION_NAMES: usize = 4096;

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
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            key: None,
            expected_head: None,
            expect_entries: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_problems: 100,
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
    /// The hash of the last entry ([`GENESIS`] when there is none).
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
}

impl Verification {
    /// The seq the next entry appended to this chain gets.
    pub fn next_seq(&self) -> u64 {
        self.last_seq.map_or(0, |s| s.saturating_add(1))
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

/// A last line cut short by a crash mid-write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Its 1-based line number.
    pub line: u64,
    /// The byte offset where it starts; everything from here to the end of the file is torn.
    pub offset: u64,
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
    /// 482936863390… (signatures verified)` or `tampered entry at seq 3: hash mismatch (line 4)`.
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
        let mut notes: Vec<&str> = Vec::new();
        if self.signatures == Signatures::Verified {
            notes.push("signatures verified");
        }
        match self.completeness {
            Completeness::SignedHeader => notes.push("metadata signature verified"),
            Completeness::OutOfBand => {
                notes.push("completeness checked against the expected head/count")
            }
            Completeness::UnauthenticatedHeader => notes.push(
                "completeness from unauthenticated in-file _meta — pass expected_head/\
                 expect_entries out-of-band for an authoritative check",
            ),
            Completeness::NotChecked => notes.push(
                "completeness not checked: a cut tail is invisible without --expect-head or \
                 --expect-entries",
            ),
        }
        if self.signatures == Signatures::NotChecked && self.unsigned_entries < self.entries {
            notes.push("signatures present but not checked (no key given)");
        }
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
            "summary": self.summary(),
        })
    }
}

/// Verifies the log or pack at `path`. `Err` only when the file cannot be opened or read;
/// every integrity problem is reported in the returned [`Verification`].
///
/// Large files are verified on every available core: lines are examined (parsed, re-hashed,
/// signatures checked) in parallel chunks and then walked in file order for the links, so
/// memory stays bounded by the chunks in flight.
pub fn verify_path(path: impl AsRef<Path>, opts: &VerifyOptions) -> Result<Verification, Error> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| Error::Io {
        op: "open",
        path: path.to_owned(),
        source,
    })?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let large = file.metadata().map(|m| m.len() > 4 << 20).unwrap_or(false);
    let reader = BufReader::with_capacity(256 * 1024, file);
    let source = path.display().to_string();
    let result = if large && workers > 1 {
        verify_parallel(reader, &source, opts, workers)
    } else {
        verify_reader(reader, &source, opts)
    };
    result.map_err(|source| Error::Io {
        op: "read",
        path: path.to_owned(),
        source,
    })
}

/// Verifies a log read from `reader`, on the calling thread; `source` names it in messages.
pub fn verify_reader(
    mut reader: impl BufRead,
    source: &str,
    opts: &VerifyOptions,
) -> io::Result<Verification> {
    let mut w = Walker::new(source, opts);
    let mut lines = LineSplitter::new(opts.max_line_bytes);
    let mut examiner = Examiner::new(opts.key.clone());
    while let Some(info) = lines.next(&mut reader)? {
        let facts = examiner.examine_first_aware(&info, lines.buf());
        w.apply(&info, facts);
    }
    Ok(w.finish())
}

/// Verifies with `workers` threads examining chunks of lines while this thread walks them in
/// order.
fn verify_parallel(
    mut reader: impl BufRead + Send,
    source: &str,
    opts: &VerifyOptions,
    workers: usize,
) -> io::Result<Verification> {
    use crossbeam_channel::bounded;
    use std::collections::BTreeMap;

    /// Lines per chunk: big enough to amortise the hand-offs, small enough to bound memory.
    const CHUNK_LINES: usize = 2048;
    /// And at most about this many bytes, so that long lines do not multiply the memory held.
    const CHUNK_BYTES: usize = 4 << 20;
    type Examined = Vec<(LineInfo, LineFacts)>;
    #[derive(Default)]
    struct Chunk {
        index: u64,
        data: Vec<u8>,
        lines: Vec<(LineInfo, std::ops::Range<usize>)>,
        alg: HashAlg,
    }

    let (job_tx, job_rx) = bounded::<Chunk>(workers * 2);
    let (done_tx, done_rx) = bounded::<(u64, io::Result<Examined>)>(workers * 2);
    // Emptied buffers go back to be filled again: fresh megabyte-sized buffers per chunk cost
    // page faults and zeroing (about 5% of the time). Only `try_` operations touch these two
    // channels, so they can neither block nor keep a thread alive.
    let (spare_chunk_tx, spare_chunk_rx) = bounded::<Chunk>(workers * 2);
    let (spare_facts_tx, spare_facts_rx) = bounded::<Examined>(workers * 2);
    let mut walker = Walker::new(source, opts);
    std::thread::scope(|scope| -> io::Result<()> {
        for _ in 0..workers {
            let job_rx = job_rx.clone();
            let done_tx = done_tx.clone();
            let spare_chunk_tx = spare_chunk_tx.clone();
            let spare_facts_rx = spare_facts_rx.clone();
            let key = opts.key.clone();
            scope.spawn(move || {
                let mut examiner = Examiner::new(key);
                for mut chunk in job_rx {
                    let index = chunk.index;
                    examiner.alg = chunk.alg;
                    let mut out = spare_facts_rx.try_recv().unwrap_or_default();
                    out.extend(chunk.lines.drain(..).map(|(info, range)| {
                        let facts = examiner.examine(&info, &chunk.data[range]);
                        (info, facts)
                    }));
                    chunk.data.clear();
                    let _ = spare_chunk_tx.try_send(chunk);
                    if done_tx.send((index, Ok(out))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(job_rx);
        drop(spare_facts_rx);
        // The reader: splits lines into chunks, copying each line once (into the chunk). Lines
        // up to the first entry are examined here, because that entry decides the hash
        // algorithm every other line is checked with.
        let reader_done = done_tx.clone();
        drop(done_tx);
        let max_line = opts.max_line_bytes;
        let key = opts.key.clone();
        scope.spawn(move || {
            let mut lines = LineSplitter::new(max_line);
            let mut examiner = Examiner::new(key);
            let mut index = 0u64;
            let mut head: Examined = Vec::new();
            let mut chunk = Chunk::default();
            loop {
                let start = chunk.data.len();
                let info = match lines.append_next(&mut reader, &mut chunk.data) {
                    Ok(Some(info)) => info,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = reader_done.send((index, Err(e)));
                        return;
                    }
                };
                if !examiner.alg_decided {
                    let facts = examiner.examine_first_aware(&info, &chunk.data[start..]);
                    chunk.data.truncate(start);
                    head.push((info, facts));
                    // Sent as soon as the algorithm is known, or in chunks while it is not
                    // (a file without entries must not pile up here).
                    if examiner.alg_decided || head.len() == CHUNK_LINES {
                        if reader_done
                            .send((index, Ok(std::mem::take(&mut head))))
                            .is_err()
                        {
                            return;
                        }
                        index += 1;
                        chunk.alg = examiner.alg;
                    }
                    continue;
                }
                chunk.lines.push((info, start..chunk.data.len()));
                if chunk.lines.len() == CHUNK_LINES || chunk.data.len() >= CHUNK_BYTES {
                    let mut next = spare_chunk_rx.try_recv().unwrap_or_default();
                    next.alg = chunk.alg;
                    chunk.index = index;
                    if job_tx.send(std::mem::replace(&mut chunk, next)).is_err() {
                        return;
                    }
                    index += 1;
                }
            }
            if !head.is_empty() {
                let _ = reader_done.send((index, Ok(head)));
            } else if !chunk.lines.is_empty() {
                chunk.index = index;
                let _ = job_tx.send(chunk);
            }
        });
        // Walk the examined chunks in file order. After a read error the channel is still
        // drained, so that no thread stays blocked on a full channel and the scope can end.
        let mut pending: BTreeMap<u64, Examined> = BTreeMap::new();
        let mut next = 0u64;
        let mut failure = None;
        for (index, result) in done_rx {
            match result {
                Ok(lines) if failure.is_none() => {
                    pending.insert(index, lines);
                }
                Ok(_) => {}
                Err(e) => {
                    failure.get_or_insert(e);
                    pending.clear();
                }
            }
            while let Some(mut lines) = pending.remove(&next) {
                for (info, facts) in lines.drain(..) {
                    walker.apply(&info, facts);
                }
                let _ = spare_facts_tx.try_send(lines);
                next += 1;
            }
        }
        failure.map_or(Ok(()), Err)
    })?;
    Ok(walker.finish())
}

/// Where a line sits in the file.
#[derive(Clone, Copy, Debug)]
struct LineInfo {
    /// 1-based line number.
    number: u64,
    /// Byte offset of the line's start.
    offset: u64,
    /// Whether it ended with `\n`.
    terminated: bool,
    /// Whether it exceeded the length cap (its bytes were skipped).
    too_long: bool,
}

/// Splits a reader into lines with [`read_line_capped`], numbering them.
struct LineSplitter {
    buf: Vec<u8>,
    consumed: u64,
    number: u64,
    cap: usize,
}

impl LineSplitter {
    fn new(cap: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            consumed: 0,
            number: 0,
            cap,
        }
    }

    /// The next line's position; its bytes are in [`buf`](Self::buf).
    fn next(&mut self, reader: &mut impl BufRead) -> io::Result<Option<LineInfo>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let line = self.append_next(reader, &mut buf);
        self.buf = buf;
        line
    }

    /// The next line's position; its bytes are appended to `out` (nothing is, when it is too
    /// long).
    fn append_next(
        &mut self,
        reader: &mut impl BufRead,
        out: &mut Vec<u8>,
    ) -> io::Result<Option<LineInfo>> {
        let offset = self.consumed;
        let read = read_line_capped(reader, out, self.cap, &mut self.consumed)?;
        let (terminated, too_long) = match read {
            LineRead::Eof => return Ok(None),
            LineRead::Line { terminated } => (terminated, false),
            LineRead::TooLong { terminated } => (terminated, true),
        };
        self.number += 1;
        Ok(Some(LineInfo {
            number: self.number,
            offset,
            terminated,
            too_long,
        }))
    }

    fn buf(&self) -> &[u8] {
        &self.buf
    }
}

enum LineRead {
    Eof,
    Line { terminated: bool },
    TooLong { terminated: bool },
}

/// Appends one `\n`-terminated line to `buf` (without the `\n`), never holding more than `cap`
/// bytes of it: a longer line is skipped to its end and reported (and `buf` left as it was).
/// Adds the bytes consumed (the `\n` included) to `consumed`.
fn read_line_capped(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
    consumed: &mut u64,
) -> io::Result<LineRead> {
    let start = buf.len();
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match (read_any, too_long) {
                (false, _) => LineRead::Eof,
                (true, false) => LineRead::Line { terminated: false },
                (true, true) => LineRead::TooLong { terminated: false },
            });
        }
        read_any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() - start + take > cap {
                too_long = true;
                buf.truncate(start);
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take + usize::from(done));
        *consumed += (take + usize::from(done)) as u64;
        if done {
            return Ok(if too_long {
                LineRead::TooLong { terminated: true }
            } else {
                LineRead::Line { terminated: true }
            });
        }
    }
}

/// What one line says on its own: parsed, its hash recomputed, its signature checked. Needs
/// no other line, so lines can be examined in parallel; [`Walker::apply`] then judges the links
/// in file order.
// `Entry` is not boxed: that would be one more allocation per line, freed on another thread.
// The facts live in a chunk's vector, so their size costs little.
#[allow(clippy::large_enum_variant)]
enum LineFacts {
    Blank,
    TooLong,
    NotUtf8 { at: usize },
    Bom,
    Unparsed(json::ParseError),
    Meta(Value),
    Malformed { seq: Option<u64>, detail: String },
    Entry(EntryFacts),
}

#[cfg_attr(test, derive(Debug, PartialEq))]
struct EntryFacts {
    seq: u64,
    /// The entry type when the walker needs it: for an entry that may declare the hash
    /// algorithm, open a segment or record retention. Empty otherwise (and when it is not a
    /// string).
    kind: String,
    /// Both 64 lowercase hex digits (checked), kept inline rather than allocated per line.
    prev_hash: Hex64,
    hash: Hex64,
    /// Whether `hash` is the recomputed hash.
    hash_ok: bool,
    sig: SigFacts,
    /// With a key: whether the signature verified.
    sig_valid: Option<bool>,
    /// The hash algorithm an `audit_open`/`segment_open` declares.
    declared_alg: Option<Result<HashAlg, String>>,
    /// `segment_open`'s `previous_segment`.
    previous_segment: Option<String>,
    /// Segment names a `retention` entry records as deleted.
    retention_deleted: Vec<String>,
}

#[cfg_attr(test, derive(Debug, PartialEq))]
enum SigFacts {
    Empty,
    Present,
    Malformed,
}

/// Examines lines; remembers the hash algorithm once the first entry has declared it.
struct Examiner {
    key: Option<PreparedKey>,
    alg: HashAlg,
    alg_decided: bool,
    /// The canonical body of the line being examined (reused).
    body: String,
    /// The allocation-free reading of the line being examined (reused).
    tape: Tape,
}

/// Entry types the fast path leaves to [`Examiner::entry`]: the walker needs more than their
/// hash from them (a declared hash algorithm, a previous segment, deleted segments).
const TYPES_WITH_FACTS: [&str; 3] = ["audit_open", "segment_open", "retention"];

impl Examiner {
    fn new(key: Option<SigningKey>) -> Self {
        Examiner {
            key: key.as_ref().map(SigningKey::prepare),
            alg: HashAlg::Sha256,
            alg_decided: false,
            body: String::with_capacity(1024),
            tape: Tape::default(),
        }
    }

    /// Examines a line in file order: the first entry decides the hash algorithm, and is
    /// re-examined when it declares a different one.
    fn examine_first_aware(&mut self, info: &LineInfo, raw: &[u8]) -> LineFacts {
        let facts = self.examine(info, raw);
        if !self.alg_decided
            && let LineFacts::Entry(e) = &facts
        {
            self.alg_decided = true;
            if let Some(Ok(alg)) = e.declared_alg
                && alg != self.alg
            {
                self.alg = alg;
                return self.examine(info, raw);
            }
        }
        facts
    }

    fn examine(&mut self, info: &LineInfo, raw: &[u8]) -> LineFacts {
        if info.too_long {
            return LineFacts::TooLong;
        }
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            // A multi-byte character cut by the end of the line: torn if it is the last line.
            Err(e) if e.error_len().is_none() => {
                return LineFacts::Unparsed(json::ParseError {
                    offset: e.valid_up_to(),
                    message: "incomplete UTF-8 character at the end of the line".into(),
                    truncated: true,
                });
            }
            Err(e) => {
                return LineFacts::NotUtf8 {
                    at: e.valid_up_to(),
                };
            }
        };
        if text.starts_with('\u{feff}') {
            return LineFacts::Bom;
        }
        // Like the reference (Python's `line.strip()`), blank lines are skipped and a `\r`
        // before the `\n` (CRLF) is tolerated.
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if text.is_empty() {
            return LineFacts::Blank;
        }
        if let Some(facts) = self.entry_fast(text) {
            return LineFacts::Entry(facts);
        }
        let row = match json::parse(text) {
            Ok(v) => v,
            Err(e) => return LineFacts::Unparsed(e),
        };
        if row.get("_meta").is_some() {
            return LineFacts::Meta(row);
        }
        match self.entry(&row) {
            Ok(e) => LineFacts::Entry(e),
            Err((seq, detail)) => LineFacts::Malformed { seq, detail },
        }
    }

    fn entry(&mut self, row: &Value) -> Result<EntryFacts, (Option<u64>, String)> {
        let seq = row.get("seq").and_then(Value::as_u64);
        let field = |name: &str| {
            row.get(name)
                .ok_or_else(|| (seq, format!("entry has no \"{name}\" field")))
        };
        let seq_value = field("seq")?;
        let ts = field("ts")?;
        let kind = field("type")?;
        let payload = field("payload")?;
        let (Some(prev_hash), Some(hash)) = (field("prev_hash")?.as_str(), field("hash")?.as_str())
        else {
            return Err((seq, "prev_hash and hash must be strings".into()));
        };
        if !chain::is_hash_hex(hash) || !chain::is_hash_hex(prev_hash) {
            return Err((
                seq,
                format!(
                    "hash and prev_hash must be 64 lowercase hex digits (seq {})",
                    json::to_line_string(seq_value)
                ),
            ));
        }
        let Some(seq) = seq else {
            return Err((
                None,
                format!(
                    "seq must be a non-negative integer, found {}",
                    json::to_line_string(seq_value)
                ),
            ));
        };
        self.body.clear();
        chain::write_body(&mut self.body, seq_value, ts, kind, payload);
        let hash_ok = hash_matches(self.alg, &self.body, prev_hash, hash);
        let (sig, sig_text) = match row.get("sig") {
            None => (SigFacts::Empty, ""),
            Some(Value::String(s)) if s.is_empty() => (SigFacts::Empty, ""),
            Some(Value::String(s)) if chain::is_hash_hex(s) => (SigFacts::Present, s.as_str()),
            Some(_) => (SigFacts::Malformed, ""),
        };
        let sig_valid = check_sig(self.key.as_ref(), hash, sig_text);
        let kind = kind.as_str().unwrap_or_default();
        let kind = if TYPES_WITH_FACTS.contains(&kind) {
            kind.to_owned()
        } else {
            String::new()
        };
        let declared_alg = matches!(kind.as_str(), "audit_open" | "segment_open")
            .then(|| HashAlg::declared_in(payload));
        let previous_segment = (kind == "segment_open").then(|| {
            payload
                .get("previous_segment")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        });
        let mut retention_deleted = Vec::new();
        if kind == "retention"
            && let Some(Value::Array(deleted)) = payload.get("deleted")
        {
            retention_deleted.extend(
                deleted
                    .iter()
                    .filter_map(|d| d.get("segment").and_then(Value::as_str).map(str::to_owned)),
            );
        }
        Ok(EntryFacts {
            seq,
            kind,
            prev_hash: hex64_of(prev_hash),
            hash: hex64_of(hash),
            hash_ok,
            sig,
            sig_valid,
            declared_alg,
            previous_segment,
            retention_deleted,
        })
    }

    /// The facts of a sound entry of an ordinary type, read without building a value tree (see
    /// [`crate::json::tape`]). `None` sends the line to the general path (`json::parse` and
    /// [`Examiner::entry`]), which also words every problem; for the lines this accepts, both
    /// paths find the same facts.
    fn entry_fast(&mut self, text: &str) -> Option<EntryFacts> {
        let doc = self.tape.parse(text).ok()?;
        let (mut seq, mut ts, mut kind, mut payload) = (None, None, None, None);
        let (mut prev_hash, mut hash, mut sig) = (None, None, None);
        for (key, id) in doc.members(doc.root())? {
            let slot = match key {
                "seq" => &mut seq,
                "ts" => &mut ts,
                "type" => &mut kind,
                "payload" => &mut payload,
                "prev_hash" => &mut prev_hash,
                "hash" => &mut hash,
                "sig" => &mut sig,
                "_meta" => return None,
                _ => continue,
            };
            *slot = Some(id);
        }
        let (seq_id, ts, kind, payload) = (seq?, ts?, kind?, payload?);
        let prev_hash = doc.as_str(prev_hash?).filter(|h| chain::is_hash_hex(h))?;
        let hash = doc.as_str(hash?).filter(|h| chain::is_hash_hex(h))?;
        let seq = doc.as_u64(seq_id)?;
        if TYPES_WITH_FACTS.contains(&doc.as_str(kind)?) {
            return None;
        }
        let (sig, sig_text) = match sig.map(|id| doc.as_str(id)) {
            None => (SigFacts::Empty, ""),
            Some(Some("")) => (SigFacts::Empty, ""),
            Some(Some(s)) if chain::is_hash_hex(s) => (SigFacts::Present, s),
            Some(_) => (SigFacts::Malformed, ""),
        };
        // The same bytes as `chain::write_body`: keys in sorted order.
        self.body.clear();
        self.body.push_str("{\"payload\":");
        doc.write_canonical(&mut self.body, payload);
        self.body.push_str(",\"seq\":");
        doc.write_canonical(&mut self.body, seq_id);
        self.body.push_str(",\"ts\":");
        doc.write_canonical(&mut self.body, ts);
        self.body.push_str(",\"type\":");
        doc.write_canonical(&mut self.body, kind);
        self.body.push('}');
        Some(EntryFacts {
            seq,
            kind: String::new(),
            prev_hash: hex64_of(prev_hash),
            hash: hex64_of(hash),
            hash_ok: hash_matches(self.alg, &self.body, prev_hash, hash),
            sig,
            sig_valid: check_sig(self.key.as_ref(), hash, sig_text),
            declared_alg: None,
            previous_segment: None,
            retention_deleted: Vec::new(),
        })
    }
}

/// Whether `hash` is the hash of `prev_hash` and `body`.
fn hash_matches(alg: HashAlg, body: &str, prev_hash: &str, hash: &str) -> bool {
    let digest = chain::digest(alg, prev_hash.as_bytes(), body.as_bytes());
    chain::hex64(&digest) == hash.as_bytes()
}

/// With a key: whether `sig_hex` signs `hash` (`false` for an empty or malformed one).
fn check_sig(key: Option<&PreparedKey>, hash: &str, sig_hex: &str) -> Option<bool> {
    key.map(|k| k.verify(hash.as_bytes(), sig_hex.as_bytes()))
}

/// A hash already checked to be 64 lowercase hex digits, inline.
fn hex64_of(checked: &str) -> Hex64 {
    let mut out = [0u8; 64];
    out.copy_from_slice(checked.as_bytes());
    out
}

/// The text of a [`Hex64`] (always ASCII hex).
fn hex64_str(h: &Hex64) -> &str {
    std::str::from_utf8(h).unwrap_or_default()
}

struct Walker<'o> {
    source: String,
    opts: &'o VerifyOptions,
    line_no: u64,
    /// Byte offset of the current line's start.
    line_offset: u64,
    /// Whether the last line read so far ended with `\n`.
    ends_with_newline: bool,
    /// The hash the next entry must link to; `None` right after an unreadable line, when the
    /// next entry's link cannot be judged.
    prev: Option<Hex64>,
    expected_seq: Option<u64>,
    entries: u64,
    head: String,
    hash_alg: HashAlg,
    meta: Option<(u64, Value)>,
    /// A line that failed to parse, held until we know whether it was the last one (a torn
    /// tail) or not (a malformed line).
    unparsed: Option<(u64, u64, json::ParseError)>,
    torn_tail: Option<TornTail>,
    segment_start: Option<SegmentStart>,
    retention_deleted: Vec<String>,
    last_seq: Option<u64>,
    seen_first_line: bool,
    sig_failed: bool,
    unsigned: u64,
    problems: Vec<Problem>,
    problem_count: u64,
}

impl<'o> Walker<'o> {
    fn new(source: &str, opts: &'o VerifyOptions) -> Self {
        Walker {
            source: source.to_owned(),
            opts,
            line_no: 0,
            line_offset: 0,
            ends_with_newline: true,
            prev: Some(hex64_of(GENESIS)),
            expected_seq: Some(0),
            entries: 0,
            head: GENESIS.to_owned(),
            hash_alg: HashAlg::Sha256,
            meta: None,
            unparsed: None,
            torn_tail: None,
            segment_start: None,
            retention_deleted: Vec::new(),
            last_seq: None,
            seen_first_line: false,
            sig_failed: false,
            unsigned: 0,
            problems: Vec::new(),
            problem_count: 0,
        }
    }

    fn problem(&mut self, kind: ProblemKind, seq: Option<u64>, detail: String) {
        self.problem_at(
            kind,
            (self.line_no > 0).then_some(self.line_no),
            seq,
            detail,
        );
    }

    fn problem_at(
        &mut self,
        kind: ProblemKind,
        line: Option<u64>,
        seq: Option<u64>,
        detail: String,
    ) {
        self.problem_count += 1;
        if self.problems.len() < self.opts.max_problems {
            self.problems.push(Problem {
                kind,
                line,
                seq,
                detail,
            });
        }
    }

    /// Reports the held unparsable line: torn when it was the file's last line and ended before
    /// its JSON did, malformed otherwise.
    fn settle_unparsed(&mut self, at_end: bool) {
        if let Some((line, offset, e)) = self.unparsed.take() {
            let torn = at_end && e.truncated;
            if torn {
                self.torn_tail = Some(TornTail { line, offset });
            }
            let (kind, what) = if torn {
                (
                    ProblemKind::TornLine,
                    "torn last line (cut short, as a crash during a write leaves it)",
                )
            } else {
                (ProblemKind::Malformed, "malformed line")
            };
            self.problem_at(kind, Some(line), None, format!("{what}: {e}"));
        }
    }

    /// Judges one examined line, in file order.
    fn apply(&mut self, info: &LineInfo, facts: LineFacts) {
        self.line_no = info.number;
        self.line_offset = info.offset;
        self.ends_with_newline = info.terminated;
        if !matches!(facts, LineFacts::Blank) {
            self.settle_unparsed(false);
        }
        let first_line = !self.seen_first_line;
        self.seen_first_line = true;
        match facts {
            LineFacts::Blank => {}
            LineFacts::TooLong => {
                let detail = format!(
                    "line longer than {} bytes{}",
                    self.opts.max_line_bytes,
                    if info.terminated {
                        ""
                    } else {
                        " at the end of the file"
                    }
                );
                self.problem(ProblemKind::LineTooLong, None, detail);
                self.prev = None;
            }
            LineFacts::NotUtf8 { at } => {
                self.problem(
                    ProblemKind::Malformed,
                    None,
                    format!("invalid UTF-8 at byte {} of the line", at + 1),
                );
                self.prev = None;
            }
            LineFacts::Bom => {
                let detail = if first_line {
                    "the file starts with a byte-order mark, which acttrace-chain/1 does not allow"
                } else {
                    "malformed line: a byte-order mark inside the file"
                };
                self.problem(ProblemKind::Malformed, None, detail.into());
                self.prev = None;
            }
            LineFacts::Unparsed(e) => {
                self.unparsed = Some((info.number, info.offset, e));
                self.prev = None;
            }
            LineFacts::Meta(row) => {
                if self.entries == 0 && self.meta.is_none() {
                    self.meta = Some((info.number, row));
                } else {
                    self.problem(
                        ProblemKind::Malformed,
                        None,
                        "an export header (_meta) may only be the first line".into(),
                    );
                }
            }
            LineFacts::Malformed { seq, detail } => {
                self.problem(ProblemKind::Malformed, seq, detail);
                self.prev = None;
            }
            LineFacts::Entry(e) => self.entry(e),
        }
    }

    fn entry(&mut self, e: EntryFacts) {
        let seq = e.seq;
        if self.entries == 0 {
            match &e.declared_alg {
                Some(Ok(alg)) => self.hash_alg = *alg,
                Some(Err(name)) => {
                    let detail = format!("{} declares unknown hash_alg {name}", e.kind);
                    self.problem(ProblemKind::UnknownHashAlg, Some(seq), detail);
                }
                None => {}
            }
            if e.kind == "segment_open" && self.prev == Some(hex64_of(GENESIS)) {
                // A segment of a rotated log: it continues the previous segment's chain, whose
                // head it names. The link to that segment is checked by `verify_dir`.
                self.segment_start = Some(SegmentStart {
                    first_seq: seq,
                    previous_head: hex64_str(&e.prev_hash).to_owned(),
                    previous_segment: e.previous_segment.clone().unwrap_or_default(),
                });
                self.prev = Some(e.prev_hash);
                self.expected_seq = Some(seq);
            }
        }

        let mut entry_ok = true;
        if let Some(prev) = &self.prev
            && *prev != e.prev_hash
        {
            self.problem(
                ProblemKind::BrokenLink,
                Some(seq),
                format!("broken link at seq {seq}: prev_hash mismatch"),
            );
            entry_ok = false;
        }
        if !e.hash_ok {
            self.problem(
                ProblemKind::TamperedEntry,
                Some(seq),
                format!("tampered entry at seq {seq}: hash mismatch"),
            );
            entry_ok = false;
        }
        match e.sig {
            SigFacts::Malformed => {
                self.problem(
                    ProblemKind::Malformed,
                    Some(seq),
                    format!("sig at seq {seq} is neither empty nor 64 lowercase hex digits"),
                );
                entry_ok = false;
                self.unsigned += 1;
            }
            SigFacts::Empty => self.unsigned += 1,
            SigFacts::Present => {}
        }
        if let Some(valid) = e.sig_valid
            && !valid
        {
            self.sig_failed = true;
            let detail = if matches!(e.sig, SigFacts::Present) {
                format!("bad signature at seq {seq}")
            } else {
                format!("bad signature at seq {seq}: entry is unsigned")
            };
            self.problem(ProblemKind::BadSignature, Some(seq), detail);
            entry_ok = false;
        }
        if entry_ok
            && let Some(expected) = self.expected_seq
            && expected != seq
        {
            self.problem(
                ProblemKind::SeqMismatch,
                Some(seq),
                format!("seq out of order: expected seq {expected}, found seq {seq}"),
            );
        }
        // Deletions are believed only from entries that verified, and kept bounded (the names
        // are only needed to excuse segments missing before the first one present).
        if entry_ok {
            for name in e.retention_deleted {
                if self.retention_deleted.len() < MAX_RETENTION_NAMES
                    && !self.retention_deleted.contains(&name)
                {
                    self.retention_deleted.push(name);
                }
            }
        }
        self.expected_seq = seq.checked_add(1);
        // Reuses the head's buffer: no allocation per entry.
        self.head.clear();
        self.head.push_str(hex64_str(&e.hash));
        self.prev = Some(e.hash);
        self.last_seq = Some(seq);
        self.entries += 1;
    }

    fn finish(mut self) -> Verification {
        self.settle_unparsed(true);
        if self.unsigned > 0 && self.unsigned < self.entries {
            // A writer signs every entry or none; a mix means signatures were stripped.
            let detail = format!(
                "signatures stripped: {} of {} entries are unsigned in a signed log",
                self.unsigned, self.entries
            );
            self.line_no = 0;
            self.problem(ProblemKind::BadSignature, None, detail);
        }
        let key = self.opts.key.clone();
        self.line_no = 0;
        if self.entries == 0 && self.problem_count == 0 {
            self.problem(ProblemKind::Empty, None, "empty log: no entries".into());
        }
        let mut completeness = Completeness::NotChecked;
        let mut meta_head: Option<String> = None;
        let mut meta_entries: Option<Value> = None;
        let is_pack = self.meta.is_some();
        if let Some((line, row)) = self.meta.take() {
            let meta = row.get("_meta").cloned().unwrap_or(Value::Null);
            meta_head = meta
                .get("head_hash")
                .and_then(Value::as_str)
                .map(str::to_owned);
            meta_entries = meta.get("entries").cloned();
            completeness = Completeness::UnauthenticatedHeader;
            if let Some(key) = &key {
                let sig = meta.get("sig").and_then(Value::as_str).unwrap_or("");
                self.line_no = line;
                if sig.is_empty() {
                    self.problem(
                        ProblemKind::UnauthenticatedMeta,
                        None,
                        "unauthenticated _meta: signed log but header carries no signature".into(),
                    );
                } else if !key.verify(&meta_signing_input(&meta), sig) {
                    self.problem(
                        ProblemKind::ForgedMeta,
                        None,
                        "forged _meta: header signature mismatch (completeness fields altered?)"
                            .into(),
                    );
                } else {
                    completeness = Completeness::SignedHeader;
                }
                self.line_no = 0;
            }
        }
        let out_of_band = self.opts.expected_head.is_some() || self.opts.expect_entries.is_some();
        if out_of_band {
            completeness = Completeness::OutOfBand;
        }
        let want_head = self.opts.expected_head.clone().or(meta_head);
        if let Some(want) = want_head
            && want != self.head
        {
            let detail = format!(
                "incomplete log: head {}… != expected {}… (trailing entries removed?)",
                short(&self.head),
                short(&want)
            );
            self.problem(ProblemKind::Incomplete, None, detail);
        }
        let want_n = match (self.opts.expect_entries, meta_entries) {
            (Some(n), _) => Some(Ok(n)),
            (None, Some(v)) => Some(v.as_u64().ok_or(v)),
            (None, None) => None,
        };
        match want_n {
            Some(Ok(n)) if n != self.entries => {
                let detail = format!(
                    "incomplete log: found {} entries, expected {n} (entries removed?)",
                    self.entries
                );
                self.problem(ProblemKind::Incomplete, None, detail);
            }
            Some(Err(v)) => {
                let detail = format!(
                    "_meta.entries must be a non-negative integer, found {}",
                    json::to_line_string(&v)
                );
                self.problem(ProblemKind::Malformed, None, detail);
            }
            _ => {}
        }
        let signatures = match (&key, self.sig_failed) {
            (None, _) => Signatures::NotChecked,
            (Some(_), false) => Signatures::Verified,
            (Some(_), true) => Signatures::Failed,
        };
        Verification {
            source: self.source,
            entries: self.entries,
            head: self.head,
            hash_alg: self.hash_alg,
            is_pack,
            signatures,
            completeness,
            problems: self.problems,
            problem_count: self.problem_count,
            unsigned_entries: self.unsigned,
            torn_tail: self.torn_tail,
            ends_with_newline: self.ends_with_newline,
            segment_start: self.segment_start,
            retention_deleted: self.retention_deleted,
            last_seq: self.last_seq,
        }
    }
}

/// The result of verifying a directory of segments ([`verify_dir`]).
#[derive(Clone, Debug)]
pub struct DirVerification {
    /// The directory.
    pub dir: String,
    /// Each segment's own verification, in index order.
    pub segments: Vec<Verification>,
    /// Problems between segments (missing, reordered, duplicated, unlinked), and completeness.
    pub problems: Vec<Problem>,
    /// Segments absent at the start that `retention` entries record as deleted.
    pub deleted_by_retention: Vec<String>,
}

impl DirVerification {
    /// True when every segment verified and they form one chain.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.segments.iter().all(Verification::ok)
    }

    /// Total entries across the segments present.
    pub fn entries(&self) -> u64 {
        self.segments.iter().map(|s| s.entries).sum()
    }

    /// The head of the whole chain (the last segment's head).
    pub fn head(&self) -> &str {
        self.segments.last().map_or(GENESIS, |s| s.head.as_str())
    }

    /// One line: `ok: ...` or the first problem.
    pub fn summary(&self) -> String {
        if let Some(p) = self.problems.first() {
            return p.to_string();
        }
        if let Some(bad) = self.segments.iter().find(|s| !s.ok()) {
            return format!("{}: {}", bad.source, bad.summary());
        }
        let mut s = format!(
            "ok: {} segments, {} entries, head {}…",
            self.segments.len(),
            self.entries(),
            short(self.head())
        );
        if !self.deleted_by_retention.is_empty() {
            s.push_str(&format!(
                " ({} earlier segments deleted by retention, as recorded on the chain)",
                self.deleted_by_retention.len()
            ));
        }
        s
    }
}

/// Verifies a directory of segments written by [`crate::writer::SegmentedWriter`]: each
/// segment on its own, then that they form one chain: indexes without holes, each
/// `segment_open` naming and linking to the segment before it (a reordered, duplicated or
/// missing segment breaks that), and missing leading segments only where a `retention` entry
/// records their deletion. `expected_head` applies to the last segment; `expect_entries` to the
/// whole chain's seq count.
pub fn verify_dir(dir: impl AsRef<Path>, opts: &VerifyOptions) -> Result<DirVerification, Error> {
    let dir = dir.as_ref();
    let io_err = |source| Error::Io {
        op: "list",
        path: dir.to_owned(),
        source,
    };
    let mut found = crate::writer::list_segments(dir).map_err(io_err)?;
    found.sort_by_key(|(_, i, _)| *i);
    let mut out = DirVerification {
        dir: dir.display().to_string(),
        segments: Vec::new(),
        problems: Vec::new(),
        deleted_by_retention: Vec::new(),
    };
    let problem = |detail: String| Problem {
        kind: ProblemKind::BrokenLink,
        line: None,
        seq: None,
        detail,
    };
    let stems: std::collections::BTreeSet<&str> =
        found.iter().map(|(s, _, _)| s.as_str()).collect();
    if stems.len() > 1 {
        out.problems.push(Problem {
            kind: ProblemKind::Malformed,
            line: None,
            seq: None,
            detail: format!("segments of several logs in one directory: {stems:?}"),
        });
        return Ok(out);
    }
    if found.is_empty() {
        out.problems.push(Problem {
            kind: ProblemKind::Empty,
            line: None,
            seq: None,
            detail: format!(
                "no segment files (<stem>-NNNNNN.jsonl) in {}",
                dir.display()
            ),
        });
        return Ok(out);
    }
    let per_segment = VerifyOptions {
        expected_head: None,
        expect_entries: None,
        ..opts.clone()
    };
    let mut retention_deleted: Vec<String> = Vec::new();
    for (_, _, path) in &found {
        let v = verify_path(path, &per_segment)?;
        retention_deleted.extend(v.retention_deleted.iter().cloned());
        out.segments.push(v);
    }
    let name = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    for k in 0..found.len() {
        let (_, index, path) = &found[k];
        let seg = &out.segments[k];
        if k == 0 {
            if let Some(start) = &seg.segment_start {
                if retention_deleted.contains(&start.previous_segment) {
                    out.deleted_by_retention = retention_deleted.clone();
                } else {
                    out.problems.push(problem(format!(
                        "missing segment {} before {} (not recorded as deleted by retention)",
                        start.previous_segment,
                        name(path)
                    )));
                }
            }
            continue;
        }
        let (_, prev_index, prev_path) = &found[k - 1];
        let prev = &out.segments[k - 1];
        if *index != prev_index + 1 {
            out.problems.push(problem(format!(
                "missing segment(s) between {} and {}",
                name(prev_path),
                name(path)
            )));
        }
        match &seg.segment_start {
            None => out.problems.push(problem(format!(
                "{} does not start with segment_open: a duplicated or misplaced segment",
                name(path)
            ))),
            Some(start) => {
                if start.previous_segment != name(prev_path) {
                    out.problems.push(problem(format!(
                        "{} continues {}, not {}: segments reordered or duplicated",
                        name(path),
                        start.previous_segment,
                        name(prev_path)
                    )));
                } else if start.previous_head != prev.head || start.first_seq != prev.next_seq() {
                    out.problems.push(problem(format!(
                        "{} does not link to the end of {} (head {}…, seq {}): entries cut                          from the end of that segment?",
                        name(path),
                        name(prev_path),
                        short(&prev.head),
                        prev.next_seq()
                    )));
                }
            }
        }
    }
    let last = out.segments.last().expect("at least one segment");
    if let Some(want) = &opts.expected_head
        && *want != last.head
    {
        out.problems.push(Problem {
            kind: ProblemKind::Incomplete,
            line: None,
            seq: None,
            detail: format!(
                "incomplete log: head {}… != expected {}… (trailing entries removed?)",
                short(&last.head),
                short(want)
            ),
        });
    }
    if let Some(n) = opts.expect_entries
        && n != last.next_seq()
    {
        out.problems.push(Problem {
            kind: ProblemKind::Incomplete,
            line: None,
            seq: None,
            detail: format!(
                "incomplete log: the chain ends at seq count {}, expected {n} (entries removed?)",
                last.next_seq()
            ),
        });
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A signed entry line with `payload`, and its key.
    fn entry_line(payload: Value, kind: &str) -> (String, SigningKey) {
        let key = SigningKey::from_bytes("k").unwrap();
        let e = chain::SealedEntry::seal(
            HashAlg::Sha256,
            Some(&key),
            7,
            "2026-01-01T00:00:00.000001+00:00".into(),
            kind.into(),
            payload,
            "ab".repeat(32),
        );
        let line = e.to_line();
        (line.trim_end().to_owned(), key)
    }

    /// What the general path finds in `text`, when it parses.
    fn general_facts(examiner: &mut Examiner, text: &str) -> Option<EntryFacts> {
        let row = json::parse(text).ok()?;
        if row.get("_meta").is_some() {
            return None;
        }
        examiner.entry(&row).ok()
    }

    fn arb_payload() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[a\\x00-\\x1f\"\\\\é\u{2028}🚀]{0,6}".prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-zA-Zé_]{0,5}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        proptest::collection::btree_map("[a-z_]{1,8}", value, 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 1000,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0xface),
            ..ProptestConfig::default()
        })]

        /// The allocation-free path finds exactly the facts the general path finds: the same
        /// hash verdict (so the same canonical bytes), signature verdict, seq and links, on
        /// sound lines and on lines with one byte changed.
        #[test]
        fn fast_and_general_paths_find_the_same_facts(
            payload in arb_payload(),
            kind in prop_oneof![Just("llm_call"), Just("tool_call"), Just("x\"y")],
            at in any::<prop::sample::Index>(),
            byte in 0x20u8..0x7f,
        ) {
            let (line, key) = entry_line(payload, kind);
            let mut fast = Examiner::new(Some(key.clone()));
            let mut general = Examiner::new(Some(key));
            let facts = fast.entry_fast(&line);
            prop_assert!(facts.is_some(), "a sound ordinary entry takes the fast path: {}", line);
            prop_assert_eq!(&facts, &general_facts(&mut general, &line));
            prop_assert!(facts.is_some_and(|f| f.hash_ok && f.sig_valid == Some(true)));

            let mut damaged = line.into_bytes();
            let i = at.index(damaged.len());
            damaged[i] = byte;
            if let Ok(text) = std::str::from_utf8(&damaged)
                && let Some(facts) = fast.entry_fast(text)
            {
                prop_assert_eq!(Some(facts), general_facts(&mut general, text), "{}", text);
            }
        }
    }

    #[test]
    fn lines_the_walker_needs_more_from_take_the_general_path() {
        for kind in TYPES_WITH_FACTS {
            let (line, key) = entry_line(Value::Object(vec![]), kind);
            assert!(
                Examiner::new(Some(key)).entry_fast(&line).is_none(),
                "{kind}"
            );
        }
        let mut e = Examiner::new(None);
        for text in [
            r#"{"_meta": {}, "seq": 0}"#,
            "[]",
            r#"{"seq": -1, "ts": "", "type": "x", "payload": {}, "prev_hash": "", "hash": ""}"#,
            r#"{"a": 1, "a": 2}"#,
        ] {
            assert!(e.entry_fast(text).is_none(), "{text}");
        }
    }

    fn capped(input: &[u8], cap: usize) -> Vec<String> {
        let mut r = io::BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            buf.clear();
            match read_line_capped(&mut r, &mut buf, cap, &mut 0).unwrap() {
                LineRead::Eof => return out,
                LineRead::Line { .. } => out.push(String::from_utf8_lossy(&buf).into_owned()),
                LineRead::TooLong { terminated } => {
                    out.push(format!("<long>{}", if terminated { "$" } else { "" }))
                }
            }
        }
    }

    /// Many entry lines (so the workers are busy), then a read error.
    struct FailingReader {
        left: usize,
    }

    const ENTRY: &[u8] = b"{\"seq\": 0, \"ts\": \"t\", \"type\": \"audit_open\", \"payload\": {}, \"prev_hash\": \"0000000000000000000000000000000000000000000000000000000000000000\", \"hash\": \"0000000000000000000000000000000000000000000000000000000000000000\", \"sig\": \"\"}\n";

    impl io::Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("disk went away"));
            }
            let n = (buf.len() / ENTRY.len()).min(self.left).max(1);
            for i in 0..n {
                buf[i * ENTRY.len()..(i + 1) * ENTRY.len()].copy_from_slice(ENTRY);
            }
            self.left -= n;
            Ok(n * ENTRY.len())
        }
    }

    #[test]
    fn a_read_error_in_parallel_verification_is_returned_not_hung_on() {
        let reader = io::BufReader::with_capacity(64 * 1024, FailingReader { left: 200_000 });
        let err = verify_parallel(reader, "failing", &VerifyOptions::default(), 2).unwrap_err();
        assert!(err.to_string().contains("disk went away"));
    }

    #[test]
    fn a_large_file_without_entries_is_walked_in_chunks() {
        // No entry ever decides the hash algorithm: the lines still flow through in chunks.
        let text = "{\"no\": 1}\n".repeat(300_000);
        let v = verify_parallel(text.as_bytes(), "x", &VerifyOptions::default(), 2).unwrap();
        assert_eq!(v.entries, 0);
        assert_eq!(v.problem_count, 300_000);
    }

    #[test]
    fn lines_are_read_with_a_cap_across_buffer_boundaries() {
        assert_eq!(
            capped(b"abc\ndefghij\n\nxy", 5),
            ["abc", "<long>$", "", "xy"]
        );
        assert_eq!(capped(b"abcdefgh", 5), ["<long>"]);
        assert_eq!(capped(b"", 5), Vec::<String>::new());
    }
}
