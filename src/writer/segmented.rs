//! A rotating writer: one chain spread over numbered segment files, with retention.
//!
//! Segment files are named `<stem>-000001.jsonl`, `<stem>-000002.jsonl`, ... in one directory.
//! The first segment starts with `audit_open`; every later one starts with a `segment_open`
//! entry that continues the seq and links (`prev_hash`) to the previous segment's head and names
//! that segment, so the segments form one chain that [`crate::verify::verify_dir`] checks
//! end to end. Retention deletes whole, sealed segments only, never the one being written, and
//! the sequencer records each deletion in a `retention` entry (segment names and heads), so a
//! verifier can tell segments deleted by policy from segments missing.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::tree::TreeBuilder;
use super::{
    ChainWriter, DeletedSegment, Durability, ExistingChain, JsonlFileWriter, RetentionFloor,
    Rotation, TreeRequest,
};
use crate::chain::{LineSigner, RenderedEntry, SealedEntry, SigningKey};
use crate::error::Error;
use crate::json;
use crate::segments::{list_segments, segment_file_name, segment_file_pattern};

/// The shortest retention [`SegmentedWriter::retain_for`] accepts: EU AI Act Art. 19(1) and
/// 26(6) require providers and deployers of high-risk systems to keep automatically generated
/// logs for at least six months (unless other law says otherwise).
pub const MIN_RETENTION: Duration = Duration::from_secs(183 * 24 * 3600);

/// How sealed segments are deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Keep every segment.
    KeepAll,
    /// Keep the newest `n` sealed segments (besides the one being written).
    KeepSegments(usize),
    /// Delete sealed segments last modified longer ago than this (at least [`MIN_RETENTION`]).
    KeepFor(Duration),
}

/// Writes one chain across numbered segment files, rotating by size and/or age.
///
/// ```
/// use acttrace::writer::SegmentedWriter;
/// let dir = tempfile::tempdir().unwrap();
/// let writer = SegmentedWriter::new(dir.path(), "audit").max_bytes(64 * 1024 * 1024);
/// let (layer, guard) = acttrace::AuditLayer::builder().writer(writer).build().unwrap();
/// # drop((layer, guard));
/// assert!(dir.path().join("audit-000001.jsonl").exists());
/// ```
#[derive(Debug)]
pub struct SegmentedWriter {
    dir: PathBuf,
    stem: String,
    max_bytes: Option<u64>,
    max_age: Option<Duration>,
    retention: Retention,
    index: u64,
    current: Option<JsonlFileWriter>,
    current_bytes: u64,
    opened_at: Instant,
    key: Option<SigningKey>,
    /// Handed to each segment's writer, which signs its lines ([`ChainWriter::sign_lines`]).
    signer: Option<LineSigner>,
    floor: Option<RetentionFloor>,
    tree: Option<TreeRequest>,
}

impl SegmentedWriter {
    /// Segments `<stem>-NNNNNN.jsonl` in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>, stem: impl Into<String>) -> SegmentedWriter {
        SegmentedWriter {
            dir: dir.into(),
            stem: stem.into(),
            max_bytes: None,
            max_age: None,
            retention: Retention::KeepAll,
            index: 0,
            current: None,
            current_bytes: 0,
            opened_at: Instant::now(),
            key: None,
            signer: None,
            floor: None,
            tree: None,
        }
    }

    /// Starts a new segment once the current one holds at least this many bytes.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes.max(1));
        self
    }

    /// Starts a new segment once the current one has been written to for this long.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keeps the newest `n` sealed segments (at least 1) and deletes older ones at rotation.
    ///
    /// In a high-risk log ([`RiskTier::High`](crate::RiskTier)) a segment whose last entry is
    /// younger than [`MIN_RETENTION`] is kept all the same (and the log's `last_error` says
    /// so), unless the builder was given
    /// [`allow_early_deletion`](crate::AuditLayerBuilder::allow_early_deletion).
    pub fn retain_segments(mut self, n: usize) -> Self {
        self.retention = Retention::KeepSegments(n.max(1));
        self
    }

    /// Deletes sealed segments last modified more than `age` ago, at rotation. Refuses less
    /// than [`MIN_RETENTION`] (six months, EU AI Act Art. 19(1)/26(6)).
    pub fn retain_for(mut self, age: Duration) -> Result<Self, Error> {
        if age < MIN_RETENTION {
            return Err(Error::RetentionTooShort {
                days: age.as_secs() / 86_400,
            });
        }
        self.retention = Retention::KeepFor(age);
        Ok(self)
    }

    /// The file name of segment `index`.
    pub fn segment_name(&self, index: u64) -> String {
        segment_file_name(&self.stem, index)
    }

    fn segment_path(&self, index: u64) -> PathBuf {
        self.dir.join(self.segment_name(index))
    }

    /// The indexes of the segments present, ascending.
    fn present(&self) -> io::Result<Vec<u64>> {
        let mut found: Vec<u64> = list_segments(&self.dir)?
            .into_iter()
            .filter(|(stem, _, _)| *stem == self.stem)
            .map(|(_, index, _)| index)
            .collect();
        found.sort_unstable();
        Ok(found)
    }

    fn io_err(&self, op: &'static str, path: &Path, source: io::Error) -> Error {
        let _ = self;
        Error::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }

    /// Deletes sealed segments the retention policy no longer keeps. Every doomed segment's
    /// last entry is read before anything is deleted; what was deleted is returned even when a
    /// later step fails (with the error), so that the chain records every deletion.
    fn apply_retention(&self) -> (Vec<DeletedSegment>, Option<String>) {
        let sealed: Vec<u64> = match self.present() {
            Ok(p) => p.into_iter().filter(|i| *i < self.index).collect(),
            Err(e) => {
                return (
                    Vec::new(),
                    Some(format!("cannot list {}: {e}", self.dir.display())),
                );
            }
        };
        let doomed: Vec<u64> = match self.retention {
            Retention::KeepAll => Vec::new(),
            Retention::KeepSegments(n) => sealed[..sealed.len().saturating_sub(n)].to_vec(),
            Retention::KeepFor(age) => sealed
                .iter()
                .copied()
                .filter(|i| {
                    fs::metadata(self.segment_path(*i))
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok())
                        .is_some_and(|elapsed| elapsed > age)
                })
                .collect(),
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut tips = Vec::new();
        let mut kept = Vec::new();
        for i in doomed {
            let (last_seq, head, ts) = match last_entry(&self.segment_path(i)) {
                Ok(tip) => tip,
                Err(e) => return (Vec::new(), Some(e.to_string())),
            };
            let age = entry_age(&ts, now);
            if let Some(floor) = &self.floor
                && floor.early_deletion.is_none()
                && age.is_none_or(|a| a < floor.minimum)
            {
                kept.push((i, ts, age));
                continue;
            }
            tips.push((i, last_seq, head, ts, age));
        }
        let mut deleted = Vec::new();
        let mut error = self.floor_error(&kept);
        for (i, last_seq, head, ts, age) in tips {
            let path = self.segment_path(i);
            if let Err(e) = fs::remove_file(&path) {
                error = Some(format!("cannot delete {}: {e}", path.display()));
                break;
            }
            deleted.push(DeletedSegment {
                segment: self.segment_name(i),
                last_seq,
                head,
                ts,
                age_days: age.map_or(0, |a| a.as_secs() / 86_400),
            });
        }
        if !deleted.is_empty() {
            super::jsonl::sync_parent_dir(&self.segment_path(self.index));
        }
        (deleted, error)
    }

    /// What the log's `last_error` says when the retention floor kept segments the policy
    /// would have deleted.
    fn floor_error(&self, kept: &[(u64, String, Option<Duration>)]) -> Option<String> {
        let floor = self.floor.as_ref()?;
        let (first, ts, age) = kept.first()?;
        let age = age.map_or_else(
            || "of unreadable age".to_owned(),
            |a| format!("{} days old", a.as_secs() / 86_400),
        );
        Some(format!(
            "kept {} segment(s) the retention policy would delete, from {} (last entry {ts}, \
             {age}): a high-risk log keeps its logs at least {} days (EU AI Act Art. 19(1), \
             26(6)); AuditLayerBuilder::allow_early_deletion(reason) overrides this",
            kept.len(),
            self.segment_name(*first),
            floor.minimum.as_secs() / 86_400,
        ))
    }
}

impl SegmentedWriter {
    /// A tree builder fed with the sealed segments the rebuild must start from: none when the
    /// current segment records the tree before it (its `segment_open` frontier) and no sink's
    /// checkpoint is older than it; otherwise the segments back to the newest one that starts
    /// the chain or records its tree and is old enough, each verified (with `key`) as it is
    /// read. Deleted segments end the search: a checkpoint older than every segment present
    /// cannot be recomputed ([`super::ExistingTree::roots`] lacks it).
    fn tree_before_current(
        &self,
        present: &[u64],
        request: &TreeRequest,
        key: Option<&SigningKey>,
    ) -> Result<TreeBuilder, Error> {
        let oldest_root = request.roots_at.iter().copied().min();
        // The oldest segment looked at that starts the tree; the search goes back while a
        // sink's checkpoint is older than it, over contiguous segments only.
        let mut best = None;
        let mut expected = self.index;
        for &index in present.iter().rev() {
            if index != expected {
                break;
            }
            expected = index.saturating_sub(1);
            let Some((seq, starts_tree)) = first_entry_starts_tree(&self.segment_path(index))?
            else {
                break;
            };
            if starts_tree {
                best = Some(index);
                if oldest_root.is_none_or(|r| r >= seq) {
                    break;
                }
            }
        }
        // With no segment that starts the tree, the builder says so on the current one.
        let start = best.unwrap_or(self.index);
        let mut builder = TreeBuilder::new(request);
        let opts = crate::verify::VerifyOptions {
            key: key.cloned(),
            ..Default::default()
        };
        for index in start..self.index {
            let path = self.segment_path(index);
            let file = fs::File::open(&path).map_err(|e| self.io_err("open", &path, e))?;
            let reader = io::BufReader::with_capacity(256 * 1024, file);
            let source = path.display().to_string();
            let report =
                crate::verify::verify_reader_each(reader, &source, &opts, &mut |s, h, p, l, t| {
                    builder.entry(s, h, p, l, t)
                })
                .map_err(|e| self.io_err("read", &path, e))?;
            builder.end_of_file(report.tree_end());
            if let Some(p) = report.first_problem() {
                return Err(Error::CorruptLog {
                    source_name: source,
                    line: p.line,
                    seq: p.seq,
                    detail: p.detail.clone(),
                });
            }
        }
        Ok(builder)
    }
}

/// The seq of a segment's first entry and whether the tree is known before it (seq 0, or a
/// `segment_open` recording a frontier); `None` for an empty or unreadable first line.
fn first_entry_starts_tree(path: &Path) -> Result<Option<(u64, bool)>, Error> {
    use std::io::{BufRead, Read};
    let file = fs::File::open(path).map_err(|source| Error::Io {
        op: "open",
        path: path.to_owned(),
        source,
    })?;
    let mut line = Vec::new();
    io::BufReader::new(file)
        .take(crate::verify::DEFAULT_MAX_LINE_BYTES as u64)
        .read_until(b'\n', &mut line)
        .map_err(|source| Error::Io {
            op: "read",
            path: path.to_owned(),
            source,
        })?;
    let row = std::str::from_utf8(&line)
        .ok()
        .and_then(|l| json::parse(l.trim()).ok());
    let Some(row) = row else { return Ok(None) };
    let Some(seq) = row.get("seq").and_then(json::Value::as_u64) else {
        return Ok(None);
    };
    let recorded = row.get("type").and_then(json::Value::as_str) == Some("segment_open")
        && row.get("payload").and_then(|p| p.get("frontier")).is_some();
    Ok(Some((seq, seq == 0 || recorded)))
}

/// How old an entry stamped `ts` is at `now` (Unix seconds); `None` when `ts` is not a UTC
/// time. An entry stamped in the future is 0 seconds old.
fn entry_age(ts: &str, now: u64) -> Option<Duration> {
    let t = crate::time::parse_utc(ts, crate::time::DateAlone::StartOfDay).ok()?;
    let secs = i64::try_from(now).ok()?.saturating_sub(t.unix_seconds());
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

/// The seq, hash and `ts` of a segment's last entry, read from its end (a window that grows up
/// to the verifier's line-length cap).
fn last_entry(path: &Path) -> Result<(u64, String, String), Error> {
    use std::io::{Read, Seek, SeekFrom};
    let err = |source| Error::Io {
        op: "read",
        path: path.to_owned(),
        source,
    };
    let corrupt = |detail: &str| Error::CorruptLog {
        source_name: path.display().to_string(),
        line: None,
        seq: None,
        detail: detail.into(),
    };
    let mut f = fs::File::open(path).map_err(err)?;
    let len = f.metadata().map_err(err)?.len();
    let cap = crate::verify::DEFAULT_MAX_LINE_BYTES as u64 + 2;
    let mut window = len.min(64 * 1024);
    loop {
        f.seek(SeekFrom::Start(len - window)).map_err(err)?;
        let mut tail = Vec::with_capacity(window as usize);
        (&mut f).take(window).read_to_end(&mut tail).map_err(err)?;
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        // The last line is whole once a newline precedes it, or when the window is the file.
        let start = memchr::memrchr(b'\n', body)
            .map(|i| i + 1)
            .or((window == len).then_some(0));
        if let Some(start) = start {
            let last = std::str::from_utf8(&body[start..])
                .ok()
                .and_then(|l| json::parse(l.trim()).ok());
            let parsed = last.as_ref().and_then(|v| {
                Some((
                    v.get("seq")?.as_u64()?,
                    v.get("hash")?.as_str()?.to_owned(),
                    v.get("ts")?.as_str()?.to_owned(),
                ))
            });
            return parsed.ok_or_else(|| {
                corrupt("cannot read the last entry of a segment due for deletion")
            });
        }
        if window >= len.min(cap) {
            return Err(corrupt(
                "the last line of a segment due for deletion is longer than the line cap",
            ));
        }
        window = (window * 4).min(len).min(cap);
    }
}

impl ChainWriter for SegmentedWriter {
    fn set_retention_floor(&mut self, floor: RetentionFloor) {
        self.floor = Some(floor);
    }

    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        fs::create_dir_all(&self.dir).map_err(|e| self.io_err("create", &self.dir, e))?;
        self.key = key.cloned();
        let mut present = self
            .present()
            .map_err(|e| self.io_err("list", &self.dir, e))?;
        // A crash between creating the next segment and writing its first entry leaves it
        // empty: it holds nothing, so it goes, and the chain continues in the segment before
        // (the next rotation creates it again, opened by `segment_open`).
        while present.len() > 1 {
            let last = *present.last().expect("non-empty");
            let path = self.segment_path(last);
            if fs::metadata(&path).map(|m| m.len()).unwrap_or(1) != 0 {
                break;
            }
            fs::remove_file(&path).map_err(|e| self.io_err("remove an empty segment", &path, e))?;
            present.pop();
        }
        self.index = present.last().copied().unwrap_or(1);
        let mut current = JsonlFileWriter::new(self.segment_path(self.index));
        if let Some(request) = self.tree.take() {
            current.continue_tree(self.tree_before_current(&present, &request, key)?);
        }
        let existing = current.open(key)?;
        self.current_bytes = fs::metadata(current.path()).map(|m| m.len()).unwrap_or(0);
        self.opened_at = Instant::now();
        self.current = Some(current);
        Ok(existing)
    }

    fn request_tree(&mut self, request: TreeRequest) {
        self.tree = Some(request);
    }

    fn recover(&mut self) -> Result<Option<super::Recovery>, Error> {
        match &mut self.current {
            Some(c) => c.recover(),
            None => Ok(None),
        }
    }

    fn append(&mut self, entry: &SealedEntry) {
        if let Some(c) = &mut self.current {
            c.append(entry);
        }
    }

    fn append_rendered(&mut self, entry: &RenderedEntry<'_>) {
        if let Some(c) = &mut self.current {
            c.append_rendered(entry);
        }
    }

    fn sign_lines(&mut self, signer: &LineSigner) -> bool {
        let taken = self
            .current
            .as_mut()
            .is_some_and(|current| current.sign_lines(signer));
        if taken {
            self.signer = Some(signer.clone());
        }
        taken
    }

    fn begin_commit(&mut self, durability: Durability) -> bool {
        // A rotation commits first (`rotate_if_due`), so a begun batch never spans segments.
        self.current
            .as_mut()
            .is_some_and(|current| current.begin_commit(durability))
    }

    fn end_commit(&mut self) -> io::Result<()> {
        let current = self
            .current
            .as_mut()
            .ok_or_else(|| io::Error::other("the segment is not open"))?;
        current.end_commit()?;
        self.current_bytes = current.committed_len();
        Ok(())
    }

    fn commit(&mut self, durability: Durability) -> io::Result<()> {
        let current = self
            .current
            .as_mut()
            .ok_or_else(|| io::Error::other("the segment is not open"))?;
        current.commit(durability)?;
        self.current_bytes = current.committed_len();
        Ok(())
    }

    fn describe(&self) -> String {
        if self.current.is_none() {
            let pattern = segment_file_pattern(&self.stem);
            return self.dir.join(pattern).display().to_string();
        }
        self.segment_path(self.index).display().to_string()
    }

    fn wants_rotation(&self) -> bool {
        let pending = self
            .current
            .as_ref()
            .map_or(0, JsonlFileWriter::pending_len);
        self.max_bytes
            .is_some_and(|m| self.current_bytes + pending >= m)
            || self.max_age.is_some_and(|a| self.opened_at.elapsed() >= a)
    }

    fn rotate(&mut self) -> Result<Rotation, Error> {
        // The sequencer ends a begun commit before it rotates; had a caller not, the batch
        // must not be dropped with the old segment's writer.
        if let Some(current) = self.current.as_mut()
            && let Err(e) = current.end_commit()
        {
            let path = current.path().to_path_buf();
            return Err(self.io_err("commit a batch to", &path, e));
        }
        let previous_segment = self.segment_name(self.index);
        let next = self.index + 1;
        let mut writer = JsonlFileWriter::new(self.segment_path(next));
        if writer.path().exists() {
            return Err(Error::Incompatible(format!(
                "{} already exists; refusing to overwrite a segment",
                writer.path().display()
            )));
        }
        writer.open(self.key.as_ref())?;
        if let Some(signer) = &self.signer {
            // A file writer always takes it: the sequencer goes on leaving signatures pending.
            writer.sign_lines(signer);
        }
        // The old segment's lock is released only once the new one is held.
        self.current = Some(writer);
        self.index = next;
        self.current_bytes = 0;
        self.opened_at = Instant::now();
        // The switch has happened: from here on the rotation stands, and a retention problem
        // is reported with it rather than as a failed rotation.
        let (deleted, retention_error) = self.apply_retention();
        let minimum_days = self.floor.as_ref().map(|f| f.minimum.as_secs() / 86_400);
        let early_deletion = self.floor.as_ref().and_then(|f| {
            let minimum = f.minimum.as_secs() / 86_400;
            let early = deleted.iter().any(|d| d.age_days < minimum);
            f.early_deletion.clone().filter(|_| early)
        });
        Ok(Rotation {
            previous_segment,
            segment: self.segment_name(next),
            deleted,
            retention_error,
            minimum_days,
            early_deletion,
        })
    }
}
