//! Verifying a directory of segments: each segment on its own, then that they form one chain.

use std::path::{Path, PathBuf};

use crate::chain::GENESIS;
use crate::error::Error;
use crate::segments::{list_segments, segment_file_pattern};

use super::checkpoints::{CheckpointReport, judge_all_expected};
use super::{
    CheckpointOptions, Completeness, Input, Observed, Problem, ProblemKind, Signatures,
    Verification, VerifyOptions, completeness_note, short, signatures_note, verify_observed,
    verify_path,
};

/// At most this many stripped segments are named in the problem that reports them.
const NAMED_STRIPPED: usize = 5;

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
    /// The signature outcome over every segment: checked only with a key, verified only when
    /// every segment's signatures verified.
    pub signatures: Signatures,
    /// What completeness rested on: the expected head/count given out of band, or nothing.
    pub completeness: Completeness,
    /// Checkpoints over the whole chain (counts summed over the segments, the tree from the
    /// oldest segment present to the newest), when the log uses them or checks were asked for.
    pub checkpoints: Option<CheckpointReport>,
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

    /// Entries without a signature, across the segments present.
    pub fn unsigned_entries(&self) -> u64 {
        self.segments.iter().map(|s| s.unsigned_entries).sum()
    }

    /// The head of the whole chain (the last segment's head).
    pub fn head(&self) -> &str {
        self.segments.last().map_or(GENESIS, |s| s.head.as_str())
    }

    /// A machine-readable report (the shape `acttrace verify --json DIR` prints).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "source": self.dir,
            "ok": self.ok(),
            "entries": self.entries(),
            "head": self.head(),
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
            "unsigned_entries": self.unsigned_entries(),
            "deleted_by_retention": self.deleted_by_retention,
            "problems": self.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "segments": self.segments.iter().map(Verification::to_json).collect::<Vec<_>>(),
            "checkpoints": self.checkpoints.as_ref().map(CheckpointReport::to_json),
            "summary": self.summary(),
        })
    }

    /// One line: `ok: ...` or the first problem.
    pub fn summary(&self) -> String {
        if let Some(p) = self.problems.first() {
            return p.to_string();
        }
        if let Some(bad) = self.segments.iter().find(|s| !s.ok()) {
            return format!("{}: {}", bad.source, bad.summary());
        }
        let mut notes = vec![
            signatures_note(self.signatures, self.unsigned_entries(), self.entries()).to_owned(),
            completeness_note(self.completeness).to_owned(),
        ];
        if let Some(c) = &self.checkpoints {
            notes.extend(c.notes(self.completeness == Completeness::OutOfBand));
        }
        if !self.deleted_by_retention.is_empty() {
            notes.push(format!(
                "{} earlier segments deleted by retention, as recorded on the chain",
                self.deleted_by_retention.len()
            ));
        }
        format!(
            "ok: {} segments, {} entries, head {}… ({})",
            self.segments.len(),
            self.entries(),
            short(self.head()),
            notes.join("; ")
        )
    }
}

/// Verifies a directory of segments written by [`crate::writer::SegmentedWriter`]: each
/// segment on its own, then that they form one chain: indexes without holes, each
/// `segment_open` naming and linking to the segment before it (a reordered, duplicated or
/// missing segment breaks that), and missing leading segments only where a `retention` entry
/// records their deletion. `expected_head` applies to the last segment; `expect_entries` to the
/// whole chain's seq count.
///
/// A signed chain stays signed across segments: when any entry of any segment carries a
/// signature, a segment without one is reported as signatures stripped, with or without a key
/// (each segment alone reports the entries stripped inside it).
pub fn verify_dir(dir: impl AsRef<Path>, opts: &VerifyOptions) -> Result<DirVerification, Error> {
    // Each segment on its own is verified as `verify_path` does (in parallel when large).
    verify_dir_with(dir.as_ref(), opts, &mut |path, o| verify_path(path, o))
}

/// Verifies a directory of segments as [`verify_dir`] does and hands every line of every
/// segment to `observer` as it is verified, with the segment's path, in segment order and file
/// order within each segment: a report over the whole rotated log (`acttrace summary DIR`) is
/// built from exactly the bytes verified, each segment opened and read once. Each segment is
/// verified on the calling thread ([`verify_observed`]); memory is what the observer keeps plus
/// one capped line.
pub fn verify_dir_observed(
    dir: impl AsRef<Path>,
    opts: &VerifyOptions,
    observer: &mut dyn FnMut(&Path, Observed<'_>),
) -> Result<DirVerification, Error> {
    verify_dir_with(dir.as_ref(), opts, &mut |path, o| {
        let input = Input::open(path)?;
        verify_observed(input.reader, &input.name, o, &mut |seen| {
            observer(path, seen)
        })
        .map_err(|source| Error::Io {
            op: "read",
            path: path.to_owned(),
            source,
        })
    })
}

/// The one code path of [`verify_dir`] and [`verify_dir_observed`]: `verify_segment` verifies
/// one segment file (read once) with the per-segment options; everything between segments is
/// checked here.
fn verify_dir_with(
    dir: &Path,
    opts: &VerifyOptions,
    verify_segment: &mut dyn FnMut(&Path, &VerifyOptions) -> Result<Verification, Error>,
) -> Result<DirVerification, Error> {
    let io_err = |source| Error::Io {
        op: "list",
        path: dir.to_owned(),
        source,
    };
    let mut found = list_segments(dir).map_err(io_err)?;
    found.sort_by_key(|(_, i, _)| *i);
    let mut out = DirVerification {
        dir: dir.display().to_string(),
        segments: Vec::new(),
        problems: Vec::new(),
        deleted_by_retention: Vec::new(),
        // Set once the segments are verified.
        signatures: Signatures::NotChecked,
        completeness: if opts.expected_head.is_some() || opts.expect_entries.is_some() {
            Completeness::OutOfBand
        } else {
            Completeness::NotChecked
        },
        checkpoints: None,
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
                "no segment files ({}) in {}",
                segment_file_pattern("<stem>"),
                dir.display()
            ),
        });
        return Ok(out);
    }
    // The expected checkpoint is judged over the whole chain: each segment only records the
    // root when its walk passes the checkpoint's size.
    let per_segment = VerifyOptions {
        expected_head: None,
        expect_entries: None,
        checkpoints: CheckpointOptions {
            keys: opts.checkpoints.keys.clone(),
            expected: Vec::new(),
            expected_names: Vec::new(),
            probe_sizes: opts
                .checkpoints
                .expected
                .iter()
                .map(|c| c.size)
                .chain(opts.checkpoints.probe_sizes.iter().copied())
                .collect(),
            fs_key: opts.checkpoints.fs_key.clone(),
        },
        ..opts.clone()
    };
    let mut retention_deleted: Vec<String> = Vec::new();
    for (_, _, path) in &found {
        let v = verify_segment(path, &per_segment)?;
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
                        "{} does not link to the end of {} (head {}…, seq {}): entries cut \
                         from the end of that segment?",
                        name(path),
                        name(prev_path),
                        short(&prev.head),
                        prev.next_seq()
                    )));
                }
            }
        }
    }
    out.checkpoints = dir_checkpoints(&found, &out.segments, opts, &mut out.problems);
    if opts.key.is_some() {
        let failed = out
            .segments
            .iter()
            .any(|s| s.signatures == Signatures::Failed);
        out.signatures = if failed {
            Signatures::Failed
        } else {
            Signatures::Verified
        };
    }
    // Item 3 of issue #12: a writer signs every entry or none, in every segment it writes.
    let signed = out.segments.iter().any(|s| s.unsigned_entries < s.entries);
    let stripped: Vec<String> = found
        .iter()
        .zip(&out.segments)
        .filter(|(_, s)| s.entries > 0 && s.unsigned_entries == s.entries)
        .map(|((_, _, path), _)| name(path))
        .collect();
    if signed && !stripped.is_empty() {
        let mut named = stripped[..stripped.len().min(NAMED_STRIPPED)].join(", ");
        if stripped.len() > NAMED_STRIPPED {
            named.push_str(&format!(" and {} more", stripped.len() - NAMED_STRIPPED));
        }
        out.problems.push(Problem {
            kind: ProblemKind::BadSignature,
            line: None,
            seq: None,
            detail: format!(
                "signatures stripped: {} of {} segments hold no signed entry in a signed chain ({named})",
                stripped.len(),
                found.len()
            ),
        });
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
            detail: if last.next_seq() > n {
                format!(
                    "entry count mismatch: the chain ends at seq count {}, expected {n} (more \
                     entries than expected)",
                    last.next_seq()
                )
            } else {
                format!(
                    "incomplete log: the chain ends at seq count {}, expected {n} (entries \
                     removed?)",
                    last.next_seq()
                )
            },
        });
    }
    Ok(out)
}

/// The checkpoints of a directory as one chain: each segment's `segment_open` tree must be the
/// tree at the end of the segment before it, the origin the same throughout, and the expected
/// checkpoint (if any) is judged over the whole chain.
fn dir_checkpoints(
    found: &[(String, u64, PathBuf)],
    segments: &[Verification],
    opts: &VerifyOptions,
    problems: &mut Vec<Problem>,
) -> Option<CheckpointReport> {
    let reports: Vec<Option<&CheckpointReport>> =
        segments.iter().map(|s| s.checkpoints.as_ref()).collect();
    if reports.iter().all(Option::is_none) {
        return None;
    }
    let mut problem = |kind: ProblemKind, detail: String| {
        problems.push(Problem {
            kind,
            line: None,
            seq: None,
            detail,
        })
    };
    let name = |k: usize| {
        found[k]
            .2
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let fs_key = opts.checkpoints.fs_key.as_ref();
    let mut all = CheckpointReport {
        signatures_checked: !opts.checkpoints.keys.is_empty(),
        forward_security_checked: fs_key.is_some(),
        ..CheckpointReport::default()
    };
    for (k, r) in reports.iter().enumerate() {
        let Some(r) = r else {
            problem(
                ProblemKind::Unverifiable,
                format!(
                    "{}: no tree recorded: its checkpoints cannot be checked",
                    name(k)
                ),
            );
            continue;
        };
        if k > 0
            && let Some(prev) = reports[k - 1]
            && let (Some(end), Some(start)) = (&prev.end, &r.start)
            && end != start
        {
            problem(
                ProblemKind::BadCheckpoint,
                format!(
                    "{}'s segment_open records a tree (size {}) that is not the tree at the \
                     end of {} (size {})",
                    name(k),
                    start.size(),
                    name(k - 1),
                    end.size()
                ),
            );
        }
        match (&all.origin, &r.origin) {
            (Some(a), Some(b)) if a != b => problem(
                ProblemKind::BadCheckpoint,
                format!("{} has origin {b:?}, the segments before it {a:?}", name(k)),
            ),
            (None, Some(b)) => all.origin = Some(b.clone()),
            _ => {}
        }
        if k == 0 {
            all.start = r.start.clone();
            all.epoch_start = r.epoch_start.clone();
            // The chain of epochs starts at the given epoch-0 key, which a first segment that
            // starts later can only name.
            if let (Some(fs_key), Some((epoch, key))) = (fs_key, &r.epoch_start)
                && (*epoch != 0 || *key != fs_key.to_string())
            {
                problem(
                    ProblemKind::Unverifiable,
                    format!(
                        "forward security unverifiable before {}: it starts at epoch {epoch}, \
                         announced in segments deleted by retention, so the epochs cannot be \
                         followed from the epoch-0 key",
                        name(k)
                    ),
                );
            }
        } else if fs_key.is_some()
            && let Some(prev) = reports[k - 1]
            && prev.epoch_end.is_some()
            && r.epoch_start != prev.epoch_end
        {
            problem(
                ProblemKind::BadCheckpoint,
                format!(
                    "forward security: {}'s segment_open records epoch {}, but the epoch in \
                     force at the end of {} is {} (a forged epoch chain)",
                    name(k),
                    r.epoch_start
                        .as_ref()
                        .map_or("none".to_owned(), |(e, key)| format!("{e} ({key})")),
                    name(k - 1),
                    prev.epoch_end
                        .as_ref()
                        .map_or("none".to_owned(), |(e, key)| format!("{e} ({key})")),
                ),
            );
        }
        all.epochs_seen += r.epochs_seen;
        all.epoch_signed += r.epoch_signed;
        all.epoch_end = r.epoch_end.clone();
        all.seen += r.seen;
        all.verified += r.verified;
        if r.last_checked_size.is_some() {
            all.last_checked_size = r.last_checked_size;
            all.latest_note = r.latest_note.clone();
        }
        all.uncovered = if r.seen > 0 {
            r.uncovered
        } else {
            all.uncovered + r.uncovered
        };
        all.end = r.end.clone();
        for (size, root) in &r.roots_at_probes {
            if !all.roots_at_probes.iter().any(|(s, _)| s == size) {
                all.roots_at_probes.push((*size, *root));
            }
        }
    }
    let mut found = Vec::new();
    let first = all.start.as_ref().map_or(0, |f| f.size());
    judge_all_expected(
        &opts.checkpoints.expected,
        &opts.checkpoints.expected_names,
        &mut all,
        first,
        &mut found,
    );
    for (kind, detail) in found {
        problem(kind, detail);
    }
    if fs_key.is_some() && all.seen == 0 {
        problem(
            ProblemKind::Unverifiable,
            "no checkpoint in any segment: the forward-security key has nothing to check".into(),
        );
    }
    if all.signatures_checked && all.seen == 0 {
        problem(
            ProblemKind::Unverifiable,
            "no checkpoint in any segment: the verifier key has nothing to check".into(),
        );
    }
    Some(all)
}
