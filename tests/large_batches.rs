//! Batches of megabytes through the JSONL writer, as group commit makes them under load (their
//! full 256 KiB blocks are written by the writer's own thread while the rest is appended): a
//! commit means "all of it is in the file, in order", and a batch that meets a full disk part
//! way through is cut back off whole, after which the log continues.

mod common;

use std::path::{Path, PathBuf};

use acttrace::chain::GENESIS;
use acttrace::json::Value;
use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::writer::{ChainWriter, Durability, SegmentedWriter};
use acttrace::{HashAlg, JsonlFileWriter, SealedEntry};
use common::*;

/// `count` entries continuing the chain after `prev` (starting at `seq`), the first of a new
/// log being its `audit_open`; each line is about 1 KiB.
fn entries_after(seq: u64, prev: &str, count: u64) -> Vec<SealedEntry> {
    let mut prev = prev.to_owned();
    (seq..seq + count)
        .map(|seq| {
            let (kind, payload) = if seq == 0 {
                (
                    "audit_open",
                    Value::Object(vec![
                        ("system".into(), "large-batches".into()),
                        ("risk_tier".into(), "limited".into()),
                        ("format".into(), "acttrace-chain/1".into()),
                        ("producer".into(), "tests".into()),
                    ]),
                )
            } else {
                (
                    "tool_call",
                    Value::Object(vec![
                        ("name".into(), "bulk".into()),
                        ("i".into(), Value::from(seq)),
                        ("padding".into(), Value::from("y".repeat(900).as_str())),
                    ]),
                )
            };
            let e = SealedEntry::seal(
                HashAlg::Sha256,
                None,
                seq,
                "2026-12-01T00:00:00.000000+00:00".into(),
                kind.into(),
                payload,
                prev.clone(),
            );
            prev = e.hash.clone();
            e
        })
        .collect()
}

fn lines(entries: &[SealedEntry]) -> String {
    entries.iter().map(SealedEntry::to_line).collect()
}

fn append_all<'a>(w: &mut impl ChainWriter, entries: impl IntoIterator<Item = &'a SealedEntry>) {
    for e in entries {
        w.append(e);
    }
}

/// On a tmpfs of `tmpfs_kib` KiB mounted at `dir`: commits a log's first 100 entries (about
/// 100 KiB) through `w`, whose file is `file`, then fills the tmpfs until about 600 KiB are
/// free. Returns the entries, the file's durable bytes and the filler (removing it frees the
/// space again).
fn durable_then_nearly_full(
    w: &mut impl ChainWriter,
    dir: &Path,
    file: &Path,
    tmpfs_kib: usize,
) -> (Vec<SealedEntry>, Vec<u8>, PathBuf) {
    let kept = entries_after(0, GENESIS, 100);
    append_all(w, &kept);
    w.commit(Durability::Synced).unwrap();
    let durable = std::fs::read(file).unwrap();
    let filler = dir.join("filler");
    std::fs::write(
        &filler,
        vec![0u8; tmpfs_kib * 1024 - durable.len() - 600 * 1024],
    )
    .unwrap();
    (kept, durable, filler)
}

/// A JSONL writer opened on a new `audit.jsonl` in `dir` (a new log: nothing to resume), and
/// the file's path.
fn new_log(dir: &Path) -> (PathBuf, JsonlFileWriter) {
    let path = dir.join("audit.jsonl");
    let mut w = JsonlFileWriter::new(&path);
    assert!(w.open(None).unwrap().is_none());
    (path, w)
}

/// A fresh directory with a tmpfs of a given size mounted over it (a disk that fills up),
/// unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    /// `None` where no tmpfs can be mounted (not root): `mount_tmpfs` says so on stderr, and
    /// the test has nothing to check.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        mount_tmpfs(dir.path(), size).then(|| SmallDisk(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        drop(Unmount(self.0.path()));
    }
}

#[test]
fn a_batch_of_megabytes_is_committed_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = new_log(dir.path());
    // About 1.5 MiB in one batch.
    let first = entries_after(0, GENESIS, 1500);
    append_all(&mut w, &first);
    let expected = lines(&first);
    assert_eq!(w.pending_len(), expected.len() as u64);
    w.commit(Durability::Synced).unwrap();
    assert_eq!(w.pending_len(), 0);
    assert_eq!(w.committed_len(), expected.len() as u64);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);

    // A second large batch, then a small one written at commit: the file is their lines.
    let second = entries_after(1500, &first[1499].hash, 700);
    let third = entries_after(2200, &second[699].hash, 3);
    append_all(&mut w, &second);
    w.commit(Durability::Written).unwrap();
    append_all(&mut w, &third);
    w.commit(Durability::Synced).unwrap();
    let all = expected + &lines(&second) + &lines(&third);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), all);
    assert_eq!(w.committed_len(), all.len() as u64);
    let report = verify_path(
        &path,
        &VerifyOptions {
            expected_head: Some(third[2].hash.clone()),
            expect_entries: Some(2203),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(report.ok(), "{:?}", report.first_problem());
}

#[test]
fn a_large_batch_that_meets_a_full_disk_is_cut_back_whole_and_the_log_continues() {
    let Some(dir) = SmallDisk::mount("2m") else {
        return;
    };
    let (path, mut w) = new_log(dir.path());
    // About 600 KiB free, then a batch of about 1.5 MiB: its first 600 KiB fit, the rest does
    // not.
    let (first, durable, filler) = durable_then_nearly_full(&mut w, dir.path(), &path, 2048);
    let lost = entries_after(100, &first[99].hash, 1500);
    append_all(&mut w, &lost);
    let err = w.commit(Durability::Synced).unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(w.pending_len(), 0);
    assert_eq!(w.committed_len(), durable.len() as u64);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        durable,
        "the failed batch was not cut back"
    );

    // Space returns: the same entries are sealed again and committed after the durable ones.
    std::fs::remove_file(&filler).unwrap();
    append_all(&mut w, &lost);
    w.commit(Durability::Synced).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, lines(&first) + &lines(&lost));
}

#[test]
fn a_begun_commit_ends_durable_while_the_next_batch_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut w) = new_log(dir.path());
    // A batch under one block is not begun (it is written at commit): nothing changes.
    let small = entries_after(0, GENESIS, 3);
    append_all(&mut w, &small);
    assert!(!w.begin_commit(Durability::Synced));
    assert_eq!(w.pending_len(), lines(&small).len() as u64);
    w.commit(Durability::Synced).unwrap();

    // About 1.5 MiB: begun, and the next batch appended behind it.
    let first = entries_after(3, &small[2].hash, 1500);
    let second = entries_after(1503, &first[1499].hash, 700);
    append_all(&mut w, &first);
    let durable = lines(&small).len() as u64;
    assert!(w.begin_commit(Durability::Synced));
    // Not committed until it ends: still pending.
    assert_eq!(w.pending_len(), lines(&first).len() as u64);
    assert_eq!(w.committed_len(), durable);
    append_all(&mut w, &second);
    assert_eq!(
        w.pending_len(),
        (lines(&first).len() + lines(&second).len()) as u64
    );
    w.end_commit().unwrap();
    assert_eq!(w.pending_len(), lines(&second).len() as u64);
    let through_first = durable + lines(&first).len() as u64;
    assert_eq!(w.committed_len(), through_first);
    w.commit(Durability::Synced).unwrap();
    let all = lines(&small) + &lines(&first) + &lines(&second);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), all);
    assert_eq!(w.committed_len(), all.len() as u64);
}

#[test]
fn a_begun_commit_that_meets_a_full_disk_takes_the_next_batch_with_it() {
    let Some(dir) = SmallDisk::mount("3m") else {
        return;
    };
    let (path, mut w) = new_log(dir.path());
    // About 600 KiB free; a begun batch of about 1.5 MiB does not fit, and the batch appended
    // behind it (chained onto it) must not stay either.
    let (kept, durable, filler) = durable_then_nearly_full(&mut w, dir.path(), &path, 3072);
    let first = entries_after(100, &kept[99].hash, 1500);
    let second = entries_after(1600, &first[1499].hash, 300);
    append_all(&mut w, &first);
    assert!(w.begin_commit(Durability::Synced));
    append_all(&mut w, &second);
    let err = w.end_commit().unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(w.pending_len(), 0);
    assert_eq!(w.committed_len(), durable.len() as u64);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        durable,
        "the failed batches were not cut back"
    );

    // Space returns: both are appended again and committed after the durable entries.
    std::fs::remove_file(&filler).unwrap();
    append_all(&mut w, first.iter().chain(&second));
    w.commit(Durability::Synced).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, lines(&kept) + &lines(&first) + &lines(&second));
}

#[test]
fn a_segment_counts_a_begun_batch_toward_its_rotation_and_commits_it_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = SegmentedWriter::new(dir.path(), "audit").max_bytes(1024 * 1024);
    w.open(None).unwrap();
    let first = entries_after(0, GENESIS, 1500);
    let second = entries_after(1500, &first[1499].hash, 100);
    append_all(&mut w, &first);
    assert!(w.begin_commit(Durability::Synced));
    // About 1.5 MiB begun: over the segment's size, though not yet committed.
    assert!(w.wants_rotation());
    append_all(&mut w, &second);
    w.end_commit().unwrap();
    w.commit(Durability::Synced).unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
    let segment = files[0].as_ref().unwrap().path();
    assert_eq!(
        std::fs::read_to_string(&segment).unwrap(),
        lines(&first) + &lines(&second)
    );
}

#[test]
fn a_segment_rotated_with_a_begun_commit_ends_it_first_and_reports_its_failure() {
    let Some(dir) = SmallDisk::mount("2m") else {
        return;
    };
    let mut w = SegmentedWriter::new(dir.path(), "audit").max_bytes(512 * 1024);
    w.open(None).unwrap();
    // About 1.5 MiB begun where about 600 KiB are free: a rotation must not drop it with the
    // old segment's writer as if it had been committed.
    let segment = dir.path().join("audit-000001.jsonl");
    let (kept, durable, _filler) = durable_then_nearly_full(&mut w, dir.path(), &segment, 2048);
    append_all(&mut w, &entries_after(100, &kept[99].hash, 1500));
    assert!(w.begin_commit(Durability::Synced));
    let err = w.rotate().unwrap_err().to_string();
    assert!(
        err.contains("No space left") && err.contains("audit-000001.jsonl"),
        "{err}"
    );
    assert_eq!(std::fs::read(&segment).unwrap(), durable);
}
