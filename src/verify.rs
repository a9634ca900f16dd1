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

use crate::chain::{self, GENESIS, HashAlg, SigningKey};
use crate::error::Error;
use crate::json::{self, Value};

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
        self.last_seq.map_or(0, |s| s + 1)
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
pub fn verify_path(path: impl AsRef<Path>, opts: &VerifyOptions) -> Result<Verification, Error> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| Error::Io {
        op: "open",
        path: path.to_owned(),
        source,
    })?;
    verify_reader(
        BufReader::with_capacity(256 * 1024, file),
        &path.display().to_string(),
        opts,
    )
    .map_err(|source| Error::Io {
        op: "read",
        path: path.to_owned(),
        source,
    })
}

/// Verifies a log read from `reader`; `source` names it in messages.
pub fn verify_reader(
    mut reader: impl BufRead,
    source: &str,
    opts: &VerifyOptions,
) -> io::Result<Verification> {
    let mut w = Walker::new(source, opts);
    let mut buf = Vec::new();
    let mut consumed = 0u64;
    loop {
        w.line_offset = consumed;
        let read = read_line_capped(&mut reader, &mut buf, opts.max_line_bytes, &mut consumed)?;
        if !matches!(read, LineRead::Eof) {
            w.ends_with_newline = matches!(
                read,
                LineRead::Line { terminated: true } | LineRead::TooLong { terminated: true }
            );
        }
        match read {
            LineRead::Eof => break,
            LineRead::TooLong { terminated } => {
                w.line_no += 1;
                w.settle_unparsed(false);
                let detail = format!(
                    "line longer than {} bytes{}",
                    opts.max_line_bytes,
                    if terminated {
                        ""
                    } else {
                        " at the end of the file"
                    }
                );
                w.problem(ProblemKind::LineTooLong, None, detail);
                w.prev = None;
            }
            LineRead::Line { .. } => {
                w.line_no += 1;
                w.line(&buf);
            }
        }
    }
    Ok(w.finish())
}

enum LineRead {
    Eof,
    Line { terminated: bool },
    TooLong { terminated: bool },
}

/// Reads one `\n`-terminated line into `buf` (without the `\n`), never holding more than `cap`
/// bytes of it: a longer line is skipped to its end and reported. Adds the bytes consumed
/// (the `\n` included) to `consumed`.
fn read_line_capped(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
    consumed: &mut u64,
) -> io::Result<LineRead> {
    buf.clear();
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
            if buf.len() + take > cap {
                too_long = true;
                buf.clear();
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
    prev: Option<String>,
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
    body: String,
}

impl<'o> Walker<'o> {
    fn new(source: &str, opts: &'o VerifyOptions) -> Self {
        Walker {
            source: source.to_owned(),
            opts,
            line_no: 0,
            line_offset: 0,
            ends_with_newline: true,
            prev: Some(GENESIS.to_owned()),
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
            body: String::with_capacity(1024),
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

    fn line(&mut self, raw: &[u8]) {
        if !raw.iter().all(u8::is_ascii_whitespace) {
            self.settle_unparsed(false);
        }
        let first_line = !self.seen_first_line;
        self.seen_first_line = true;
        let Ok(text) = std::str::from_utf8(raw) else {
            let at = std::str::from_utf8(raw).unwrap_err().valid_up_to();
            self.problem(
                ProblemKind::Malformed,
                None,
                format!("invalid UTF-8 at byte {} of the line", at + 1),
            );
            self.prev = None;
            return;
        };
        if first_line && text.starts_with('\u{feff}') {
            self.problem(
                ProblemKind::Malformed,
                None,
                "the file starts with a byte-order mark, which acttrace-chain/1 does not allow"
                    .into(),
            );
            self.prev = None;
            return;
        }
        // Like the reference (Python's `line.strip()`), blank lines are skipped and a `\r`
        // before the `\n` (CRLF) is tolerated.
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if text.is_empty() {
            return;
        }
        let row = match json::parse(text) {
            Ok(v) => v,
            Err(e) => {
                self.unparsed = Some((self.line_no, self.line_offset, e));
                self.prev = None;
                return;
            }
        };
        if row.get("_meta").is_some() {
            if self.entries == 0 && self.meta.is_none() {
                self.meta = Some((self.line_no, row));
            } else {
                self.problem(
                    ProblemKind::Malformed,
                    None,
                    "an export header (_meta) may only be the first line".into(),
                );
            }
            return;
        }
        self.entry(&row);
    }

    fn entry(&mut self, row: &Value) {
        let seq_value = row.get("seq");
        let seq = seq_value.and_then(Value::as_u64);
        macro_rules! field {
            ($name:literal) => {
                match row.get($name) {
                    Some(v) => v,
                    None => {
                        let detail = format!("entry has no \"{}\" field", $name);
                        self.problem(ProblemKind::Malformed, seq, detail);
                        self.prev = None;
                        return;
                    }
                }
            };
        }
        let seq_value = field!("seq");
        let ts = field!("ts");
        let kind = field!("type");
        let payload = field!("payload");
        let (Some(prev_hash), Some(hash)) = (field!("prev_hash").as_str(), field!("hash").as_str())
        else {
            self.problem(
                ProblemKind::Malformed,
                seq,
                "prev_hash and hash must be strings".into(),
            );
            self.prev = None;
            return;
        };
        if !chain::is_hash_hex(hash) || !chain::is_hash_hex(prev_hash) {
            let detail = format!(
                "hash and prev_hash must be 64 lowercase hex digits (seq {})",
                json::to_line_string(seq_value)
            );
            self.problem(ProblemKind::Malformed, seq, detail);
            self.prev = None;
            return;
        }
        let Some(seq) = seq else {
            let detail = format!(
                "seq must be a non-negative integer, found {}",
                json::to_line_string(seq_value)
            );
            self.problem(ProblemKind::Malformed, None, detail);
            self.prev = None;
            return;
        };
        let first_kind = if self.entries == 0 {
            kind.as_str()
        } else {
            None
        };
        if let Some(first @ ("audit_open" | "segment_open")) = first_kind {
            match HashAlg::declared_in(payload) {
                Ok(alg) => self.hash_alg = alg,
                Err(name) => {
                    let detail = format!("{first} declares unknown hash_alg {name}");
                    self.problem(ProblemKind::UnknownHashAlg, Some(seq), detail);
                }
            }
        }
        if first_kind == Some("segment_open") && self.prev.as_deref() == Some(GENESIS) {
            // A segment of a rotated log: it continues the previous segment's chain, whose
            // head it names. The link to that segment is checked by `verify_dir`.
            self.segment_start = Some(SegmentStart {
                first_seq: seq,
                previous_head: prev_hash.to_owned(),
                previous_segment: payload
                    .get("previous_segment")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            });
            self.prev = Some(prev_hash.to_owned());
            self.expected_seq = Some(seq);
        }
        if kind.as_str() == Some("retention")
            && let Some(Value::Array(deleted)) = payload.get("deleted")
        {
            for d in deleted {
                if let Some(name) = d.get("segment").and_then(Value::as_str) {
                    self.retention_deleted.push(name.to_owned());
                }
            }
        }

        let mut entry_ok = true;
        if let Some(prev) = &self.prev
            && prev != prev_hash
        {
            self.problem(
                ProblemKind::BrokenLink,
                Some(seq),
                format!("broken link at seq {seq}: prev_hash mismatch"),
            );
            entry_ok = false;
        }
        self.body.clear();
        chain::write_body(&mut self.body, seq_value, ts, kind, payload);
        let want = chain::hash_hex(self.hash_alg, prev_hash, &self.body);
        if want != hash {
            self.problem(
                ProblemKind::TamperedEntry,
                Some(seq),
                format!("tampered entry at seq {seq}: hash mismatch"),
            );
            entry_ok = false;
        }
        let sig = match row.get("sig") {
            None => "",
            Some(Value::String(s)) if s.is_empty() || chain::is_hash_hex(s) => s.as_str(),
            Some(_) => {
                self.problem(
                    ProblemKind::Malformed,
                    Some(seq),
                    format!("sig at seq {seq} is neither empty nor 64 lowercase hex digits"),
                );
                entry_ok = false;
                ""
            }
        };
        if sig.is_empty() {
            self.unsigned += 1;
        }
        if let Some(key) = &self.opts.key
            && !key.verify(hash, sig)
        {
            self.sig_failed = true;
            let detail = if sig.is_empty() {
                format!("bad signature at seq {seq}: entry is unsigned")
            } else {
                format!("bad signature at seq {seq}")
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
        self.expected_seq = seq.checked_add(1);
        self.prev = Some(hash.to_owned());
        self.head = hash.to_owned();
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

    fn capped(input: &[u8], cap: usize) -> Vec<String> {
        let mut r = io::BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line_capped(&mut r, &mut buf, cap, &mut 0).unwrap() {
                LineRead::Eof => return out,
                LineRead::Line { .. } => out.push(String::from_utf8_lossy(&buf).into_owned()),
                LineRead::TooLong { terminated } => {
                    out.push(format!("<long>{}", if terminated { "$" } else { "" }))
                }
            }
        }
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
