//! The chain walk: judging examined lines in file order (links, seq continuity, signatures
//! stripped, the pack header and completeness) into a [`Verification`].

use crate::chain::{GENESIS, HashAlg};
use crate::hex::{Hex64, hex_str, hex64_from_checked};
use crate::json::{self, Value};

use super::checkpoints::Tracker;
use super::examine::{EntryFacts, LineFacts, RareFacts, SigFacts};
use super::lines::LineInfo;
use super::{
    Completeness, Problem, ProblemKind, SegmentStart, Signatures, TornTail, Verification,
    VerifyOptions, meta_signing_input, short,
};

/// The rare facts of an entry that carries none.
static NO_RARE_FACTS: RareFacts = RareFacts {
    kind: String::new(),
    declared_alg: None,
    previous_segment: None,
    retention_deleted: Vec::new(),
    ts_problem: None,
    tree: None,
};

/// At most this many segment names from `retention` entries are kept per file.
const MAX_RETENTION_NAMES: usize = 4096;

/// Judges examined lines in file order, and turns what it found into a [`Verification`].
pub(super) struct Walker<'o> {
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
    /// The seq the next entry must have; `None` after an entry at `u64::MAX`, which no entry
    /// can follow.
    expected_seq: Option<u64>,
    entries: u64,
    /// The last entry's hash, kept as its digits and made text once, at the end.
    head: Hex64,
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
    /// Signed entries whose signature the key checked: passed, and failed.
    sigs_good: u64,
    sigs_bad: u64,
    unsigned: u64,
    problems: Vec<Problem>,
    problem_count: u64,
    /// The Merkle tree over the chain hashes and the checkpoint checks.
    pub(super) tree: Tracker,
}

impl<'o> Walker<'o> {
    pub(super) fn new(source: &str, opts: &'o VerifyOptions) -> Self {
        Walker {
            source: source.to_owned(),
            opts,
            line_no: 0,
            line_offset: 0,
            ends_with_newline: true,
            prev: Some(hex64_from_checked(GENESIS)),
            expected_seq: Some(0),
            entries: 0,
            head: hex64_from_checked(GENESIS),
            hash_alg: HashAlg::Sha256,
            meta: None,
            unparsed: None,
            torn_tail: None,
            segment_start: None,
            retention_deleted: Vec::new(),
            last_seq: None,
            seen_first_line: false,
            sig_failed: false,
            sigs_good: 0,
            sigs_bad: 0,
            unsigned: 0,
            problems: Vec::new(),
            problem_count: 0,
            tree: Tracker::new(&opts.checkpoints),
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

    /// How many problems are listed so far.
    pub(super) fn listed_problems(&self) -> usize {
        self.problems.len()
    }

    /// Appends ` (<label>)` to the problems listed after the first `from`.
    pub(super) fn label_problems_since(&mut self, from: usize, label: &str) {
        for p in self.problems.iter_mut().skip(from) {
            p.detail = format!("{} ({label})", p.detail);
        }
    }

    /// A batch ended (with a newline): a line held as unparsable is malformed, not torn.
    pub(super) fn end_of_batch(&mut self) {
        self.settle_unparsed(false);
    }

    /// A problem that is on no line (a stored batch's framing, say).
    pub(super) fn problem_between_lines(&mut self, kind: ProblemKind, detail: String) {
        self.problem_at(kind, None, None, detail);
    }

    /// When the key failed every signed entry (two or more, none passing), the key is almost
    /// certainly the wrong one: one problem says so in place of a line per entry (issue #15
    /// §4). It keeps the first failure's wording, which the reference verifier prints.
    fn collapse_wrong_key(&mut self) {
        if self.sigs_good > 0 || self.sigs_bad < 2 {
            return;
        }
        let per_entry = |p: &Problem| {
            p.kind == ProblemKind::BadSignature
                && p.seq
                    .is_some_and(|s| p.detail == format!("bad signature at seq {s}"))
        };
        let Some(first) = self.problems.iter().position(per_entry) else {
            return;
        };
        let mut collapsed = self.problems[first].clone();
        collapsed.detail = format!(
            "{}: every signature fails ({} of {} signed entries): wrong key?",
            collapsed.detail, self.sigs_bad, self.sigs_bad
        );
        self.problems.retain(|p| !per_entry(p));
        self.problems.insert(first, collapsed);
        self.problem_count = self.problem_count - self.sigs_bad + 1;
    }

    /// Reports the held unparsable line: torn when it was the file's last line and ended before
    /// its JSON did, malformed otherwise.
    fn settle_unparsed(&mut self, at_end: bool) {
        if let Some((line, offset, e)) = self.unparsed.take() {
            let torn = at_end && e.truncated;
            if torn {
                self.torn_tail = Some(TornTail {
                    line,
                    offset,
                    nul_bytes: 0,
                });
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

    /// A line ending in a run of NUL bytes: a tail left by power loss when nothing follows it
    /// (the line is unterminated, so it is the file's last) and what precedes the NULs is what
    /// a crash leaves; corruption otherwise (NULs in the middle of the file are not a crash
    /// tail).
    fn nul_tail(&mut self, info: &LineInfo, prefix_bytes: u64, nul_bytes: u64, sound_prefix: bool) {
        self.prev = None;
        if !info.terminated && sound_prefix {
            self.torn_tail = Some(TornTail {
                line: info.number,
                offset: info.offset,
                nul_bytes,
            });
            let detail = format!(
                "NUL-padded tail: the file ends with {nul_bytes} NUL bytes{} (as power loss \
                 leaves a file on some file systems)",
                if prefix_bytes == 0 {
                    ""
                } else {
                    " after an unfinished line"
                }
            );
            self.problem(ProblemKind::TornLine, None, detail);
        } else {
            let detail = format!(
                "malformed line: {nul_bytes} NUL bytes {}",
                if info.terminated {
                    "inside the file, not at its end"
                } else {
                    "after text that is not a line cut short"
                }
            );
            self.problem(ProblemKind::Malformed, None, detail);
        }
    }

    /// Judges one examined line, in file order.
    pub(super) fn apply(&mut self, info: &LineInfo, mut facts: LineFacts) {
        self.apply_in_place(info, &mut facts);
    }

    /// [`Walker::apply`] on facts left where they are (`Blank` afterwards, unless they are an
    /// entry's): the facts are the largest thing handled per line, and moving them out of
    /// the batch and into the walk was a `memcpy` call per line.
    pub(super) fn apply_in_place(&mut self, info: &LineInfo, facts: &mut LineFacts) {
        self.line_no = info.number;
        self.line_offset = info.offset;
        self.ends_with_newline = info.terminated;
        if !matches!(facts, LineFacts::Blank) {
            self.settle_unparsed(false);
        }
        let first_line = !self.seen_first_line;
        self.seen_first_line = true;
        if let LineFacts::Entry(e) = facts {
            self.entry(e);
            return;
        }
        match std::mem::replace(facts, LineFacts::Blank) {
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
            LineFacts::NulTail {
                prefix_bytes,
                nul_bytes,
                sound_prefix,
            } => self.nul_tail(info, prefix_bytes, nul_bytes, sound_prefix),
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
            LineFacts::Entry(e) => self.entry(&e),
        }
    }

    fn entry(&mut self, e: &EntryFacts) {
        let seq = e.seq;
        // Borrowed: most entries carry no rare facts, and building and dropping an empty set
        // per entry showed in profiles.
        let rare = e.rare.as_deref().unwrap_or(&NO_RARE_FACTS);
        if self.entries == 0 {
            match &rare.declared_alg {
                Some(Ok(alg)) => self.hash_alg = *alg,
                Some(Err(name)) => {
                    let detail = format!("{} declares unknown hash_alg {name}", rare.kind);
                    self.problem(ProblemKind::UnknownHashAlg, Some(seq), detail);
                }
                None => {}
            }
            if rare.kind == "segment_open" && self.prev == Some(hex64_from_checked(GENESIS)) {
                // A segment of a rotated log: it continues the previous segment's chain, whose
                // head it names. The link to that segment is checked by `verify_dir`.
                self.segment_start = Some(SegmentStart {
                    first_seq: seq,
                    previous_head: hex_str(&e.prev_hash).to_owned(),
                    previous_segment: rare.previous_segment.clone().unwrap_or_default(),
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
        if e.sig_valid == Some(true) {
            self.sigs_good += 1;
        }
        if let Some(valid) = e.sig_valid
            && !valid
        {
            self.sig_failed = true;
            let detail = if matches!(e.sig, SigFacts::Present) {
                self.sigs_bad += 1;
                format!("bad signature at seq {seq}")
            } else {
                format!("bad signature at seq {seq}: entry is unsigned")
            };
            self.problem(ProblemKind::BadSignature, Some(seq), detail);
            entry_ok = false;
        }
        if let Some(detail) = &rare.ts_problem {
            self.problem(ProblemKind::Malformed, Some(seq), detail.clone());
        }
        if entry_ok {
            match self.expected_seq {
                Some(expected) if expected != seq => self.problem(
                    ProblemKind::SeqMismatch,
                    Some(seq),
                    format!("seq out of order: expected seq {expected}, found seq {seq}"),
                ),
                // Item 11 of issue #12: nothing may follow the largest seq; the check stays on.
                None => self.problem(
                    ProblemKind::SeqMismatch,
                    Some(seq),
                    format!(
                        "seq out of order: seq {seq} follows seq {}, the largest a seq can be",
                        u64::MAX
                    ),
                ),
                Some(_) => {}
            }
        }
        // Deletions are believed only from entries that verified, and kept bounded (the names
        // are only needed to excuse segments missing before the first one present).
        if entry_ok {
            for name in &rare.retention_deleted {
                if self.retention_deleted.len() < MAX_RETENTION_NAMES
                    && !self.retention_deleted.contains(name)
                {
                    self.retention_deleted.push(name.clone());
                }
            }
        }
        let mut found = Vec::new();
        self.tree.entry(
            self.entries == 0,
            seq,
            (&e.hash, e.leaf),
            rare.tree.as_ref(),
            &mut found,
        );
        for (kind, detail) in found {
            self.problem(kind, Some(seq), detail);
        }
        self.expected_seq = seq.checked_add(1);
        self.head = e.hash;
        self.prev = Some(e.hash);
        self.last_seq = Some(seq);
        self.entries += 1;
    }

    pub(super) fn finish(mut self) -> Verification {
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
        self.collapse_wrong_key();
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
            && want.as_bytes() != self.head.as_slice()
        {
            let detail = format!(
                "incomplete log: head {}… != expected {}… (trailing entries removed?)",
                short(hex_str(&self.head)),
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
                // Issue #15 §4: fewer entries suggests removal; more is a different problem.
                let detail = if self.entries > n {
                    format!(
                        "entry count mismatch: found {} entries, expected {n} (more entries \
                         than expected)",
                        self.entries
                    )
                } else {
                    format!(
                        "incomplete log: found {} entries, expected {n} (entries removed?)",
                        self.entries
                    )
                };
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
        let mut found = Vec::new();
        let tree = std::mem::replace(&mut self.tree, Tracker::new(&Default::default()));
        let checkpoints = tree.finish(self.segment_start.is_some(), &mut found);
        for (kind, detail) in found {
            self.problem(kind, None, detail);
        }
        let signatures = match (&key, self.sig_failed) {
            (None, _) => Signatures::NotChecked,
            (Some(_), false) => Signatures::Verified,
            (Some(_), true) => Signatures::Failed,
        };
        Verification {
            source: self.source,
            entries: self.entries,
            head: hex_str(&self.head).to_owned(),
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
            checkpoints,
        }
    }
}
