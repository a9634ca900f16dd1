//! Verifying a log's `checkpoint` entries (issue #13) while the chain is walked: the Merkle tree
//! over the chain hashes is kept as a [`Frontier`] (at most 64 hashes), and every checkpoint
//! entry is checked against it: its payload's shape, `tree_size` = its seq, `root` = the tree
//! over the entries before it, the note's body = (origin, tree_size, root), the origin = the
//! one `audit_open` (or `audit_resume`) declares, and, with verifier keys, the note's
//! signature by a key named as the origin. An expected checkpoint obtained elsewhere is checked
//! the same way: the root of the log's first N entries must be its root.
//!
//! The tree costs two SHA-256 of 64 bytes per entry, so it is kept only when the log uses
//! checkpoints (its `audit_open` declares an origin, its `segment_open` records a frontier) or
//! the caller asked for checks ([`CheckpointOptions`]). Signatures (Ed25519) are checked where
//! lines are examined, so on every core in the parallel verifier; the tree is walked in order.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{Checkpoint, Frontier, Hash, NoteError, VerifierKey, verify_note};
use crate::hex::{Hex64, from_hex64, from_lower_hex};
use crate::json::Value;

use super::ProblemKind;
use super::epochs::{EpochChain, KeyEpochFacts, key_epoch_facts, recorded_epoch};

/// What to check of a log's checkpoints besides their consistency with the chain.
#[derive(Clone, Debug, Default)]
pub struct CheckpointOptions {
    /// Verifier keys: every checkpoint's note must carry a valid signature by a key named as
    /// the log's origin (signatures by other keys are ignored). Empty: signatures not checked.
    pub keys: Vec<VerifierKey>,
    /// Checkpoints obtained elsewhere (from witnesses, another machine, an earlier audit):
    /// the log must be consistent with each, that is hold at least its size and have its root
    /// over its first `size` entries. Load one with [`expected_checkpoint`].
    pub expected: Vec<Checkpoint>,
    /// How verdicts and problems name each of [`expected`](Self::expected), by index (`the
    /// latest checkpoint in stream ACTTRACE_CHECKPOINTS`): where it came from. Those without a
    /// name are `the expected checkpoint`.
    pub expected_names: Vec<String>,
    /// Record the tree's root when the walk passes these sizes
    /// ([`CheckpointReport::roots_at_probes`]), without judging them. [`super::verify_dir`]
    /// uses them to check expected checkpoints across segments.
    pub probe_sizes: Vec<u64>,
    /// The forward-security verifier key of epoch 0 (`<origin>/fs+<hex id>+<base64>`, as
    /// `acttrace keygen checkpoint` prints it; kept off the writer's host): every checkpoint
    /// must carry a valid signature by the epoch key in force at its seq, the epoch chain
    /// starting at this key, each `key_epoch` entry signed by the key before it and naming the
    /// tree at its own position (`docs/FORMAT.md` §7f). `None`: not checked.
    pub fs_key: Option<VerifierKey>,
}

impl CheckpointOptions {
    /// Whether anything was asked of checkpoints (keys or an expected checkpoint).
    pub fn any(&self) -> bool {
        !self.keys.is_empty()
            || !self.expected.is_empty()
            || !self.probe_sizes.is_empty()
            || self.fs_key.is_some()
    }
}

/// Parses an expected checkpoint (a signed note obtained elsewhere) for
/// [`CheckpointOptions::expected`]. With `keys`, the note must carry a valid signature by a
/// key named as its origin; without, only its body is read (the caller vouches for it). The
/// one entry point for every source of an anchor: a file (`--expect-checkpoint`), a witness.
pub fn expected_checkpoint(note: &str, keys: &[VerifierKey]) -> Result<Checkpoint, NoteError> {
    if keys.is_empty() {
        return Checkpoint::parse_body(note_text(note)?);
    }
    let verified = verify_note(note, keys)?;
    let checkpoint = Checkpoint::parse_body(&verified.text)?;
    if !verified
        .verified_by
        .iter()
        .any(|k| k.name() == checkpoint.origin)
    {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(checkpoint)
}

/// The signed text of a note (up to and including the newline before the blank line), without
/// checking any signature.
pub(crate) fn note_text(note: &str) -> Result<&str, NoteError> {
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    Ok(&note[..split + 1])
}

/// How the log compares with an expected checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedOutcome {
    /// The root of the log's first `size` entries is the checkpoint's root.
    Consistent,
    /// The root differs: the history below the checkpoint was rewritten.
    Inconsistent,
    /// The log holds fewer entries than the checkpoint covers: truncated or rolled back.
    Shorter,
    /// The checkpoint's size lies in segments deleted by retention: it cannot be checked.
    Unverifiable,
    /// The checkpoint names another origin: another log's checkpoint.
    OtherOrigin,
}

impl ExpectedOutcome {
    /// A stable snake_case name, used in JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            ExpectedOutcome::Consistent => "consistent",
            ExpectedOutcome::Inconsistent => "inconsistent",
            ExpectedOutcome::Shorter => "shorter",
            ExpectedOutcome::Unverifiable => "unverifiable",
            ExpectedOutcome::OtherOrigin => "other_origin",
        }
    }
}

/// What the walk found of a log's checkpoints (present in a [`super::Verification`] when the
/// log uses checkpoints or checks were asked for).
#[derive(Clone, Debug, Default)]
pub struct CheckpointReport {
    /// The log's origin, from `audit_open`/`audit_resume` (or, in a segment whose `audit_open`
    /// was deleted, from its first checkpoint).
    pub origin: Option<String>,
    /// Checkpoint entries seen.
    pub seen: u64,
    /// Checkpoint entries whose every check passed, the signature included when keys were
    /// given.
    pub verified: u64,
    /// Whether verifier keys were given (else signatures were not checked).
    pub signatures_checked: bool,
    /// The tree size of the last checkpoint whose every check passed.
    pub last_checked_size: Option<u64>,
    /// The note of the last checkpoint whose every check passed.
    pub latest_note: Option<String>,
    /// Entries after the last checkpoint, not counting checkpoint entries: what no checkpoint
    /// covers (K).
    pub uncovered: u64,
    /// The tree a segment starts from (its `segment_open`'s frontier), when it does.
    pub start: Option<Frontier>,
    /// The tree over every entry walked (`None` when a segment recorded no frontier to start
    /// from).
    pub end: Option<Frontier>,
    /// The roots at the sizes of [`CheckpointOptions::probe_sizes`] and the expected
    /// checkpoints that the walk passed: (size, root).
    pub roots_at_probes: Vec<(u64, Hash)>,
    /// How the log compares with [`CheckpointOptions::expected`], when any was given: the
    /// first outcome other than consistent, else consistent.
    pub expected: Option<ExpectedOutcome>,
    /// `key_epoch` entries seen (forward-security epoch rolls).
    pub epochs_seen: u64,
    /// Whether forward security was checked ([`CheckpointOptions::fs_key`] given).
    pub forward_security_checked: bool,
    /// Checkpoints whose signature by the epoch key in force verified.
    pub epoch_signed: u64,
    /// The epoch (and its verifier key) the walk started from when a segment's `segment_open`
    /// recorded it rather than the chain starting at epoch 0: a directory's verification links
    /// it to the segment before.
    pub epoch_start: Option<(u64, String)>,
    /// The epoch in force at the end of the walk, when forward security was checked and the
    /// chain of epochs held.
    pub epoch_end: Option<(u64, String)>,
    /// How many expected checkpoints were judged.
    pub expected_count: usize,
    /// The names of the expected checkpoints judged, in order
    /// ([`CheckpointOptions::expected_names`]).
    pub expected_names: Vec<String>,
}

/// What an expected checkpoint without a name of its own is called.
const EXPECTED: &str = "the expected checkpoint";

/// The name of `expected[i]` given `names`.
pub(super) fn expected_name(names: &[String], i: usize) -> &str {
    names.get(i).map_or(EXPECTED, String::as_str)
}

impl CheckpointReport {
    /// A machine-readable report.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "origin": self.origin,
            "seen": self.seen,
            "verified": self.verified,
            "signatures": if self.signatures_checked { "checked" } else { "not_checked" },
            "last_checked_size": self.last_checked_size,
            "uncovered_entries": self.uncovered,
            "tree_size": self.end.as_ref().map(Frontier::size),
            "expected_checkpoint": self.expected.map(ExpectedOutcome::name),
            "key_epochs": self.epochs_seen,
            "forward_security": if self.forward_security_checked { "checked" } else { "not_checked" },
            "epoch": self.epoch_end.as_ref().map(|(e, _)| e),
        })
    }

    /// The verdict's notes on checkpoints, for a log that verified. `anchored` when something
    /// beyond the log (an expected checkpoint, head or count) pins its end.
    pub fn notes(&self, anchored: bool) -> Vec<String> {
        let mut notes = Vec::new();
        let last = self
            .last_checked_size
            .map_or(String::new(), |n| format!(", the last at tree size {n}"));
        notes.push(if self.signatures_checked {
            format!("{} verified{last}", checkpoints(self.verified))
        } else if self.seen > 0 {
            format!(
                "{} consistent with the chain{last}, signature not checked (no --vkey)",
                checkpoints(self.seen)
            )
        } else {
            "no checkpoints".to_owned()
        });
        if self.forward_security_checked {
            let from = match &self.epoch_start {
                Some((e, _)) if *e > 0 => format!(
                    " from epoch {e} as the first segment's segment_open records it (verify the \
                     whole directory to link it to epoch 0)"
                ),
                _ => String::new(),
            };
            notes.push(format!(
                "forward security checked{from}: {} signed by the epoch key in force, {} epoch \
                 rolls",
                checkpoints(self.epoch_signed),
                self.epochs_seen
            ));
        } else if self.epochs_seen > 0 {
            notes.push(format!(
                "forward security not checked (no --fs-vkey; {} key_epoch entries)",
                self.epochs_seen
            ));
        }
        if self.expected == Some(ExpectedOutcome::Consistent) {
            let named = self.expected_names.iter().any(|n| n != EXPECTED);
            notes.push(match self.expected_count {
                _ if named => format!("consistent with {}", self.expected_names.join(" and ")),
                1 => format!("consistent with {EXPECTED}"),
                n => format!("consistent with the {n} expected checkpoints"),
            });
        }
        if !anchored {
            notes.push(
                "end not authenticated: the log may have been cut after any checkpoint".into(),
            );
            if self.uncovered > 0 {
                notes.push(format!(
                    "final {} entries not covered by a checkpoint",
                    self.uncovered
                ));
            }
        }
        notes
    }
}

/// What the examiner reads from the entries the tree needs, on the examining thread.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) enum TreeFacts {
    /// `audit_open` or `audit_resume`: the origin it declares (`Ok(None)`: none).
    Origin(Result<Option<String>, String>),
    /// `segment_open`: the tree it starts from (`None`: none recorded), its origin, and the
    /// forward-security epoch in force it records.
    Segment(
        Option<Result<Frontier, String>>,
        Option<String>,
        Option<Box<Result<(u64, VerifierKey), String>>>,
    ),
    /// A `checkpoint` entry.
    Checkpoint(Box<CheckpointFacts>),
    /// A `key_epoch` entry.
    KeyEpoch(Box<KeyEpochFacts>),
}

#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct CheckpointFacts {
    /// `tree_size`, `root` and `note`, or what is wrong with the payload.
    payload: Result<(u64, Hash, String), String>,
    /// The note's body, or why it cannot be read.
    body: Result<Checkpoint, String>,
    /// With keys: the names of the keys whose signatures verified, or why the note failed.
    signed_by: Option<Result<Vec<String>, String>>,
}

/// Reads what the tree needs from an entry of type `kind` (the examiner's general path).
pub(super) fn tree_facts(kind: &str, payload: &Value, keys: &[VerifierKey]) -> Option<TreeFacts> {
    let origin = || match payload.get("origin") {
        None => Ok(None),
        Some(Value::String(s)) => crate::checkpoint::validate_name(s)
            .map(|()| Some(s.clone()))
            .map_err(|e| format!("origin {s:?}: {e}")),
        Some(_) => Err("origin must be a string".to_owned()),
    };
    match kind {
        "audit_open" | "audit_resume" => Some(TreeFacts::Origin(origin())),
        "segment_open" => Some(TreeFacts::Segment(
            segment_tree(payload),
            origin().ok().flatten(),
            recorded_epoch(payload).map(Box::new),
        )),
        "key_epoch" => Some(TreeFacts::KeyEpoch(Box::new(key_epoch_facts(payload)))),
        "checkpoint" => Some(TreeFacts::Checkpoint(Box::new(checkpoint_facts(
            payload, keys,
        )))),
        _ => None,
    }
}

/// The tree `segment_open` records: `tree_size` and `frontier` (the perfect subtrees' roots,
/// largest first, lowercase hex).
fn segment_tree(payload: &Value) -> Option<Result<Frontier, String>> {
    let (size, frontier) = (payload.get("tree_size"), payload.get("frontier"));
    if size.is_none() && frontier.is_none() {
        return None;
    }
    let read = || {
        let size = size
            .and_then(Value::as_u64)
            .ok_or("segment_open's tree_size must be a non-negative integer")?;
        let Some(Value::Array(items)) = frontier else {
            return Err("segment_open's frontier must be an array of hashes".to_owned());
        };
        let mut hashes = Vec::with_capacity(items.len().min(64));
        for item in items {
            let h = item
                .as_str()
                .filter(|s| s.len() == 64)
                .and_then(from_lower_hex)
                .and_then(|b| <Hash>::try_from(b).ok())
                .ok_or(
                    "segment_open's frontier holds a value that is not 64 lowercase hex digits",
                )?;
            hashes.push(h);
        }
        Frontier::from_subtrees(size, hashes).map_err(|_| {
            format!(
                "segment_open's frontier must hold one hash per set bit of tree_size {size} ({})",
                size.count_ones()
            )
        })
    };
    Some(read())
}

fn checkpoint_facts(payload: &Value, keys: &[VerifierKey]) -> CheckpointFacts {
    let read = || -> Result<(u64, Hash, String), String> {
        let Value::Object(_) = payload else {
            return Err("payload must be an object".into());
        };
        let size = payload
            .get("tree_size")
            .and_then(Value::as_u64)
            .ok_or("tree_size must be a non-negative integer")?;
        let root = payload
            .get("root")
            .and_then(Value::as_str)
            .and_then(|r| B64.decode(r).ok())
            .and_then(|b| <Hash>::try_from(b).ok())
            .ok_or("root must be the base64 of 32 bytes")?;
        let note = payload
            .get("note")
            .and_then(Value::as_str)
            .ok_or("note must be a string")?;
        Ok((size, root, note.to_owned()))
    };
    let payload = read();
    let note = payload.as_ref().map(|(_, _, n)| n.as_str()).unwrap_or("");
    let body = note_text(note)
        .and_then(Checkpoint::parse_body)
        .map_err(|e| e.to_string());
    let signed_by = (!keys.is_empty() && payload.is_ok()).then(|| {
        verify_note(note, keys)
            .map(|v| v.verified_by.iter().map(|k| k.name().to_owned()).collect())
            .map_err(|e| e.to_string())
    });
    CheckpointFacts {
        payload,
        body,
        signed_by,
    }
}

/// The tree kept during the walk, and what it found.
pub(super) struct Tracker {
    /// Whether the tree is kept (decided at the first entry).
    active: bool,
    decided: bool,
    keys_given: bool,
    expected: Vec<Checkpoint>,
    expected_names: Vec<String>,
    /// The sizes whose roots are recorded (the expected checkpoints' and the probes').
    probes: Vec<u64>,
    /// `None` once the tree cannot be known (a segment that records none).
    frontier: Option<Frontier>,
    /// When collecting leaves (for proofs): at most this many, and which checkpoint notes to
    /// keep besides the latest.
    collect: Option<Collect>,
    report: CheckpointReport,
    /// The forward-security epoch chain.
    epochs: EpochChain,
}

/// Leaves and notes kept for proofs (see [`super::proofs`]).
pub(super) struct Collect {
    pub(super) cap: u64,
    pub(super) tree: crate::checkpoint::ProofTree,
    pub(super) over_cap: bool,
    pub(super) wanted_sizes: Vec<u64>,
    pub(super) notes: Vec<(u64, String)>,
    /// The tree size the collected leaves start at (a segment's).
    pub(super) first: u64,
}

/// A problem the tracker found: its kind and sentence.
pub(super) type Found = (ProblemKind, String);

impl Tracker {
    pub(super) fn new(opts: &CheckpointOptions) -> Self {
        let expected = opts.expected.clone();
        Tracker {
            active: opts.any(),
            decided: false,
            keys_given: !opts.keys.is_empty(),
            expected_names: opts.expected_names.clone(),
            probes: expected
                .iter()
                .map(|c| c.size)
                .chain(opts.probe_sizes.iter().copied())
                .collect(),
            expected,
            frontier: Some(Frontier::new()),
            collect: None,
            report: CheckpointReport {
                signatures_checked: !opts.keys.is_empty(),
                forward_security_checked: opts.fs_key.is_some(),
                ..CheckpointReport::default()
            },
            epochs: EpochChain::new(opts.fs_key.clone()),
        }
    }

    pub(super) fn collecting(mut self, collect: Collect) -> Self {
        self.active = true;
        self.collect = Some(collect);
        self
    }

    /// The tree over the entries walked so far, when it is kept (see `writer::tree`, which
    /// follows it on reopen instead of building it a second time).
    pub(super) fn frontier(&self) -> Option<&Frontier> {
        self.frontier.as_ref().filter(|_| self.active)
    }

    pub(super) fn take_collect(&mut self) -> Option<Collect> {
        self.collect.take()
    }

    /// Judges one chain entry (seq `seq`, chain hash `hash` in hex, its leaf hash when the
    /// examiner made it, what the examiner read of it), in file order, then adds it to the
    /// tree.
    pub(super) fn entry(
        &mut self,
        first: bool,
        seq: u64,
        (hash, leaf): (&Hex64, Option<Hash>),
        facts: Option<&TreeFacts>,
        found: &mut Vec<Found>,
    ) {
        if first && !self.decided {
            self.decided = true;
            let recorded = match facts {
                Some(TreeFacts::Segment(_, _, r)) => r.as_deref(),
                _ => None,
            };
            self.epochs.start(seq, recorded, found);
            match facts {
                Some(TreeFacts::Origin(Ok(Some(_)))) => self.active = true,
                Some(TreeFacts::Segment(tree, _, _)) => {
                    if tree.is_some() {
                        self.active = true;
                    }
                    if self.active {
                        self.frontier = match tree {
                            Some(Ok(f)) if f.size() == seq => Some(f.clone()),
                            Some(Ok(f)) => {
                                found.push((
                                    ProblemKind::BadCheckpoint,
                                    format!(
                                        "segment_open at seq {seq} records tree_size {}, not its \
                                         seq",
                                        f.size()
                                    ),
                                ));
                                None
                            }
                            Some(Err(e)) => {
                                found.push((ProblemKind::BadCheckpoint, e.clone()));
                                None
                            }
                            None => None,
                        };
                        self.report.start = self.frontier.clone();
                        if let Some(c) = &mut self.collect {
                            c.first = seq;
                        }
                    }
                }
                _ => {}
            }
            if self.active
                && let Some(f) = &self.frontier
            {
                self.probe(f.size(), f.root());
            }
        }
        match facts {
            Some(TreeFacts::Origin(origin)) => self.origin(seq, origin, found),
            Some(TreeFacts::Segment(_, Some(origin), _)) if self.report.origin.is_none() => {
                self.report.origin = Some(origin.clone());
            }
            Some(TreeFacts::Checkpoint(c)) => {
                self.report.seen += 1;
                self.report.uncovered = 0;
                self.checkpoint(seq, c, found);
            }
            Some(TreeFacts::KeyEpoch(k)) => {
                self.report.uncovered += 1;
                let origin = self.report.origin.clone().unwrap_or_default();
                let tree = self.frontier.as_ref().filter(|_| self.active);
                self.epochs.key_epoch(seq, k, tree, &origin, found);
            }
            _ => self.report.uncovered += 1,
        }
        if !self.active {
            return;
        }
        // The examiner checked the hex already; the raw hash is decoded only when needed.
        let raw = || from_hex64(hash).unwrap_or_default();
        if let Some(f) = &mut self.frontier {
            match leaf {
                Some(h) => f.append_leaf_hash(h),
                None => f.append(&raw()),
            }
        }
        // A frontier's root costs up to 64 node hashes: only at the sizes a probe asks for.
        if let Some(f) = &self.frontier {
            let size = f.size();
            if self.probes.contains(&size) {
                let root = f.root();
                self.probe(size, root);
            }
        }
        if let Some(c) = &mut self.collect {
            if c.tree.size() < c.cap {
                c.tree.push(&raw());
            } else {
                c.over_cap = true;
            }
        }
    }

    /// Records the root at `size` when a probe asks for it (the root is computed by the caller
    /// only because a frontier's root is cheap: at most 64 node hashes).
    fn probe(&mut self, size: u64, root: Hash) {
        if self.probes.contains(&size)
            && !self.report.roots_at_probes.iter().any(|(s, _)| *s == size)
        {
            self.report.roots_at_probes.push((size, root));
        }
    }

    fn origin(
        &mut self,
        seq: u64,
        origin: &Result<Option<String>, String>,
        found: &mut Vec<Found>,
    ) {
        match origin {
            Err(e) => found.push((ProblemKind::BadCheckpoint, format!("at seq {seq}: {e}"))),
            Ok(None) => {}
            Ok(Some(o)) => match &self.report.origin {
                Some(known) if known != o => {
                    found.push((
                        ProblemKind::BadCheckpoint,
                        format!(
                            "origin {o:?} at seq {seq} differs from the log's origin {known:?}"
                        ),
                    ));
                }
                Some(_) => {}
                None => self.report.origin = Some(o.clone()),
            },
        }
    }

    fn checkpoint(&mut self, seq: u64, c: &CheckpointFacts, found: &mut Vec<Found>) {
        let before = found.len();
        let mut bad = |detail: String| {
            found.push((
                ProblemKind::BadCheckpoint,
                format!("bad checkpoint at seq {seq}: {detail}"),
            ));
        };
        let (size, root, note) = match &c.payload {
            Ok(p) => p,
            Err(e) => return bad(e.clone()),
        };
        if !self.active {
            return bad(
                "the log does not declare an origin (audit_open) or record a tree \
                 (segment_open), so no tree was kept to check it against"
                    .into(),
            );
        }
        if *size != seq {
            bad(format!(
                "tree_size {size} disagrees with its seq (a checkpoint covers the entries \
                 before it)"
            ));
        }
        match &self.frontier {
            None => found.push((
                ProblemKind::Unverifiable,
                format!(
                    "checkpoint at seq {seq} unverifiable: this segment records no tree to \
                     start from (its segment_open has no frontier)"
                ),
            )),
            Some(f) if f.size() != *size => bad(format!(
                "tree_size {size}, but {} entries precede it in this file",
                f.size()
            )),
            Some(f) if f.root() != *root => bad(format!(
                "root is not the root of the tree over the {size} entries before it"
            )),
            Some(_) => {}
        }
        let mut bad = |detail: String| {
            found.push((
                ProblemKind::BadCheckpoint,
                format!("bad checkpoint at seq {seq}: {detail}"),
            ));
        };
        match &c.body {
            Err(e) => bad(format!("note: {e}")),
            Ok(body) => {
                if body.size != *size || body.root != *root {
                    bad("the note's tree size or root differs from the payload's".into());
                }
                if self.report.origin.is_none() {
                    // A segment whose `audit_open` was deleted: the first checkpoint names it;
                    // a signature by the origin's key (with --vkey) then vouches for it.
                    self.report.origin = Some(body.origin.clone());
                }
                let origin = self.report.origin.as_deref().unwrap_or_default();
                if body.origin != origin {
                    bad(format!(
                        "the note's origin {:?} is not the log's origin {origin:?} (a checkpoint \
                         of another log)",
                        body.origin
                    ));
                }
                match &c.signed_by {
                    None => {}
                    Some(Err(e)) => bad(format!("note: {e}")),
                    Some(Ok(names)) if !names.iter().any(|n| n == origin) => bad(format!(
                        "no signature by a given key named {origin:?} (signed by {})",
                        names.join(", ")
                    )),
                    Some(Ok(_)) => {}
                }
            }
        }
        self.epochs.checkpoint(seq, note, found);
        if found.len() == before && self.frontier.is_some() {
            self.report.verified += 1;
            self.report.last_checked_size = Some(*size);
            self.report.latest_note = Some(note.clone());
        }
        if let Some(col) = &mut self.collect
            && col.wanted_sizes.contains(size)
            && !col.notes.iter().any(|(s, _)| s == size)
        {
            col.notes.push((*size, note.clone()));
        }
    }

    /// Ends the walk: judges the expected checkpoint; `is_segment` when the file is a segment
    /// of a rotated log (whose directory is judged as a whole). `None` when the tree was not
    /// kept and nothing was asked.
    pub(super) fn finish(
        mut self,
        is_segment: bool,
        found: &mut Vec<Found>,
    ) -> Option<CheckpointReport> {
        if !self.active {
            return None;
        }
        self.report.end = self.frontier.clone();
        self.report.epochs_seen = self.epochs.seen;
        self.report.epoch_signed = self.epochs.checkpoints_checked;
        self.report.epoch_start = self.epochs.start.clone();
        self.report.epoch_end = self.epochs.end();
        if !is_segment && self.epochs.checked() && self.report.seen == 0 {
            found.push((
                ProblemKind::Unverifiable,
                "no checkpoint in the log: the forward-security key has nothing to check".into(),
            ));
        }
        let expected = std::mem::take(&mut self.expected);
        let first = self.report.start.as_ref().map_or(0, Frontier::size);
        let names = std::mem::take(&mut self.expected_names);
        judge_all_expected(&expected, &names, &mut self.report, first, found);
        if !is_segment && self.keys_given && self.report.seen == 0 {
            found.push((
                ProblemKind::Unverifiable,
                "no checkpoint in the log: the verifier key has nothing to check".into(),
            ));
        }
        Some(self.report)
    }
}

/// Judges a log (or a rotated log's chain) against every expected checkpoint: `first` is the
/// tree size it starts at; the report gains the outcome (the first other than consistent) and
/// `found` a problem per inconsistency. Shared by files and directories.
pub(super) fn judge_all_expected(
    expected: &[Checkpoint],
    names: &[String],
    report: &mut CheckpointReport,
    first: u64,
    found: &mut Vec<Found>,
) {
    for (i, e) in expected.iter().enumerate() {
        let name = expected_name(names, i);
        let root_at = report
            .roots_at_probes
            .iter()
            .find(|(s, _)| *s == e.size)
            .map(|(_, r)| *r);
        let (outcome, problem) = judge_expected(
            e,
            name,
            report.origin.as_deref(),
            first,
            report.end.as_ref().map(Frontier::size),
            root_at,
        );
        if report
            .expected
            .is_none_or(|o| o == ExpectedOutcome::Consistent)
        {
            report.expected = Some(outcome);
        }
        report.expected_count += 1;
        report.expected_names.push(name.to_owned());
        found.extend(problem);
    }
}

/// Judges a log against an expected checkpoint: `first` is the tree size the log (or its
/// oldest segment present) starts at, `end` the size it reaches (`None`: unknown), `root_at`
/// the root the walk found at the checkpoint's size. Shared by files and directories.
pub(super) fn judge_expected(
    expected: &Checkpoint,
    name: &str,
    origin: Option<&str>,
    first: u64,
    end: Option<u64>,
    root_at: Option<Hash>,
) -> (ExpectedOutcome, Option<Found>) {
    let n = expected.size;
    if let Some(o) = origin
        && o != expected.origin
    {
        return (
            ExpectedOutcome::OtherOrigin,
            Some((
                ProblemKind::Inconsistent,
                format!(
                    "{name} is for origin {:?}, not this log's {o:?}",
                    expected.origin
                ),
            )),
        );
    }
    match root_at {
        Some(r) if r == expected.root => (ExpectedOutcome::Consistent, None),
        Some(_) => (
            ExpectedOutcome::Inconsistent,
            Some((
                ProblemKind::Inconsistent,
                format!(
                    "log inconsistent with {name}: the root of its first {n} \
                     entries differs (history rewritten, or rolled back and rewritten)"
                ),
            )),
        ),
        None if n < first => (
            ExpectedOutcome::Unverifiable,
            Some((
                ProblemKind::Unverifiable,
                format!(
                    "{name} at tree size {n} unverifiable: it reaches into \
                     deleted segments (the oldest present starts at {first})"
                ),
            )),
        ),
        None => match end {
            Some(end) if end < n => (
                ExpectedOutcome::Shorter,
                Some((
                    ProblemKind::Incomplete,
                    format!(
                        "log shorter than {name} (truncated or rolled back): \
                         it holds {end} entries, the checkpoint covers {n}"
                    ),
                )),
            ),
            _ => (
                ExpectedOutcome::Unverifiable,
                Some((
                    ProblemKind::Unverifiable,
                    format!(
                        "{name} at tree size {n} unverifiable: the tree over the \
                         log is unknown there"
                    ),
                )),
            ),
        },
    }
}

/// "1 checkpoint", "2 checkpoints".
fn checkpoints(n: u64) -> String {
    if n == 1 {
        "1 checkpoint".to_owned()
    } else {
        format!("{n} checkpoints")
    }
}
