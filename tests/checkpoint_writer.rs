//! The writer side of issue #13: `checkpoint` entries at cadence, on flush and shutdown, each
//! a note over the Merkle tree of the entries before it (computed here, independently, from the
//! file); sinks; reopening a log continues its tree and is refused when a sink holds a
//! checkpoint the log no longer matches.

use std::path::{Path, PathBuf};
use std::time::Duration;

use acttrace::checkpoint::{
    Checkpoint, CheckpointSink, FileCheckpointSink, Frontier, SignerKey, VerifierKey,
    consistency_proof, root_of, verify_consistency,
};
use acttrace::writer::SegmentedWriter;
use acttrace::{AuditGuard, AuditLayer, AuditLayerBuilder, Error, FlagAction, Severity};
use base64::Engine;
use serde_json::Value;

mod common;
use common::{entries, key, reference_python, reference_verify};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/checkpoint-example")
}

/// The published test key of the worked example (never use it for a real log), as a file.
fn key_file() -> PathBuf {
    vectors().join("skey.txt")
}

fn verifier() -> VerifierKey {
    std::fs::read_to_string(vectors().join("vkey.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

const ORIGIN: &str = "acttrace.example/loan-desk/prod-1";

/// A log with checkpoints by count only (an hour is never reached), so that which checkpoints
/// appear does not depend on how fast the machine is.
fn builder(path: &Path) -> AuditLayerBuilder {
    AuditLayer::builder()
        .system("cp")
        .path(path)
        .signing_key(key())
        .checkpoint_key_from_file(key_file())
        .checkpoint_every(4096, HOUR)
}

const HOUR: Duration = Duration::from_secs(3600);

/// Chains `n` explicit entries, each committed before the next is sent (one per batch).
fn flags(guard: &AuditGuard, n: usize) {
    for i in 0..n {
        guard
            .flag(&format!("f{i}"), FlagAction::Flagged, Severity::Info, &[])
            .unwrap();
    }
}

/// The 32-byte chain hashes of a log's entries, decoded from the file.
fn leaves(entries: &[Value]) -> Vec<[u8; 32]> {
    entries
        .iter()
        .map(|e| {
            let h = e["hash"].as_str().unwrap();
            let mut out = [0u8; 32];
            for (i, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
            }
            out
        })
        .collect()
}

/// Every checkpoint entry of a chain (whose first entry has seq `first` and whose tree before
/// it is `base`): its tree size is its seq, its root is the root of the entries before it, and
/// its note verifies with the verifier key and says the same. Returns (size, root) of each.
fn checked_checkpoints(entries: &[Value], base: Frontier) -> Vec<(u64, [u8; 32])> {
    let first = base.size();
    let leaves = leaves(entries);
    let mut tree = base;
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"].as_u64().unwrap(), first + i as u64);
        if e["type"] == "checkpoint" {
            let p = &e["payload"];
            let size = p["tree_size"].as_u64().unwrap();
            assert_eq!(size, e["seq"].as_u64().unwrap(), "tree_size == seq");
            let root = tree.root();
            if first == 0 {
                // The whole tree from the file, not the running frontier.
                assert_eq!(root, root_of(&leaves[..size as usize]));
            }
            assert_eq!(
                p["root"].as_str().unwrap(),
                base64::engine::general_purpose::STANDARD.encode(root)
            );
            let c = Checkpoint::from_note(p["note"].as_str().unwrap(), &[verifier()]).unwrap();
            assert_eq!((c.origin.as_str(), c.size, c.root), (ORIGIN, size, root));
            out.push((size, root));
        }
        tree.append(&leaves[i]);
    }
    out
}

#[test]
fn checkpoints_come_at_cadence_on_flush_and_at_shutdown_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (_layer, guard) = builder(&path)
        .checkpoint_every(5, Duration::from_secs(3600))
        .build()
        .unwrap();
    // One entry per batch: a checkpoint after every 5 uncovered ones.
    flags(&guard, 12);
    let status = guard.status();
    assert_eq!(status.checkpoints, 2);
    // audit_open + 4 flags, then 5 flags after the first checkpoint.
    assert_eq!(status.last_checkpoint_size, Some(11));
    guard.flush().unwrap();
    assert_eq!(guard.status().checkpoints, 3);
    // A flush with nothing new covers nothing: no checkpoint.
    guard.flush().unwrap();
    assert_eq!(guard.status().checkpoints, 3);
    flags(&guard, 1);
    let report = guard.shutdown(Duration::from_secs(60)).unwrap();
    assert!(report.sinks_finished);

    let all = entries(&path);
    assert_eq!(all[0]["payload"]["origin"], ORIGIN);
    let sizes: Vec<u64> = checked_checkpoints(&all, Frontier::new())
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(sizes, [5, 11, 15, 17]);
    // Shutdown ends the log with a checkpoint covering everything before it.
    assert_eq!(all.last().unwrap()["type"], "checkpoint");
    assert_eq!(report.head.next_seq, 18);
    common::assert_verifies(&path, &report.head);
}

#[test]
fn a_checkpoint_falls_due_by_time_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (_layer, guard) = builder(&path)
        .checkpoint_every(1_000_000, Duration::from_millis(1))
        .build()
        .unwrap();
    // The sequencer wakes for them on its own; wait (bounded) for what it does.
    let wait_for = |count: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while guard.status().checkpoints < count {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint by time"
            );
            std::thread::yield_now();
        }
    };
    // First `audit_open`, uncovered since the build.
    wait_for(1);
    assert_eq!(guard.status().last_checkpoint_size, Some(1));
    flags(&guard, 1);
    wait_for(2);
    assert_eq!(guard.status().last_checkpoint_size, Some(3));
    drop(guard);
    let sizes: Vec<u64> = checked_checkpoints(&entries(&path), Frontier::new())
        .iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(sizes, [1, 3]);
}

#[test]
fn a_sink_gets_every_checkpoint_and_a_reopened_log_continues_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let held = dir.path().join("checkpoints.jsonl");
    let (_layer, guard) = builder(&path)
        .checkpoint_sink(FileCheckpointSink::new(&held))
        .build()
        .unwrap();
    flags(&guard, 3);
    guard.flush().unwrap();
    flags(&guard, 2);
    let report = guard.shutdown(Duration::from_secs(60)).unwrap();
    assert!(
        report.sinks_finished,
        "shutdown waits for the final checkpoint"
    );
    let before = entries(&path);
    let first = checked_checkpoints(&before, Frontier::new());
    assert_eq!(first.len(), 2);
    // The sink holds the last note, as the log has it.
    let mut sink = FileCheckpointSink::new(&held);
    assert_eq!(
        sink.latest(ORIGIN).unwrap().as_deref(),
        before.last().unwrap()["payload"]["note"].as_str()
    );

    // Reopened, with the sink: the chain continues and so does its tree.
    let (_layer, guard) = builder(&path)
        .checkpoint_sink(FileCheckpointSink::new(&held))
        .build()
        .unwrap();
    flags(&guard, 4);
    let report = guard.shutdown(Duration::from_secs(60)).unwrap();
    let after = entries(&path);
    let resume = after.iter().find(|e| e["type"] == "audit_resume").unwrap();
    assert_eq!(resume["payload"]["origin"], ORIGIN);
    let all = checked_checkpoints(&after, Frontier::new());
    assert_eq!(all[..2], first[..]);
    let (old, new) = (all[1], *all.last().unwrap());
    assert!(new.0 > old.0);
    let proof = consistency_proof(&leaves(&after), old.0, new.0).unwrap();
    verify_consistency(old.0, new.0, &old.1, &new.1, &proof).unwrap();
    common::assert_verifies(&path, &report.head);
    let mut sink = FileCheckpointSink::new(&held);
    let latest = Checkpoint::from_note(&sink.latest(ORIGIN).unwrap().unwrap(), &[verifier()]);
    assert_eq!(latest.unwrap().size, new.0);
}

#[test]
fn reopening_is_refused_when_a_sink_holds_a_longer_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let held = dir.path().join("checkpoints.jsonl");
    let (_layer, guard) = builder(&path)
        .checkpoint_sink(FileCheckpointSink::new(&held))
        .build()
        .unwrap();
    flags(&guard, 6);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    // Cut the log back by four entries (a chain that still verifies on its own).
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept = lines.len() - 4;
    std::fs::write(&path, lines[..kept].join("\n") + "\n").unwrap();
    let err = builder(&path)
        .checkpoint_sink(FileCheckpointSink::new(&held))
        .build()
        .err()
        .expect("a cut-back log is refused");
    assert!(matches!(err, Error::CheckpointConflict { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&held.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("covers {} entries", lines.len() - 1)),
        "{message}"
    );
    assert!(
        message.contains(&format!("the log holds only {kept}")),
        "{message}"
    );
    // Without the sink nothing stops it: the sink is what catches the cut.
    let (_layer, _guard) = builder(&path).build().unwrap();
}

#[test]
fn reopening_is_refused_when_a_sink_holds_a_checkpoint_of_another_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let held = dir.path().join("checkpoints.jsonl");
    let (_layer, guard) = builder(&path)
        .checkpoint_sink(FileCheckpointSink::new(&held))
        .build()
        .unwrap();
    flags(&guard, 2);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    // The log is replaced by another one, longer, with the same key and origin.
    std::fs::remove_file(&path).unwrap();
    let (_layer, guard) = builder(&path).system("other").build().unwrap();
    flags(&guard, 8);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    let err = builder(&path)
        .checkpoint_sink(FileCheckpointSink::new(&held))
        .build()
        .err()
        .expect("a rewritten log is refused");
    let message = err.to_string();
    assert!(matches!(err, Error::CheckpointConflict { .. }), "{message}");
    assert!(message.contains("the log was rewritten"), "{message}");
    assert!(
        message.contains("checkpoint of 3 entries has root"),
        "{message}"
    );
}

#[test]
fn a_sink_note_that_the_logs_key_did_not_sign_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let held = dir.path().join("checkpoints.jsonl");
    // A note with the log's origin, signed by another key.
    let other = SignerKey::from_seed(ORIGIN, zeroize::Zeroizing::new([3u8; 32])).unwrap();
    let note = other
        .sign(&Checkpoint::new(ORIGIN, 1, [0u8; 32]).unwrap().body())
        .unwrap();
    let record = serde_json::json!({"origin": ORIGIN, "tree_size": 1, "note": note});
    std::fs::write(&held, format!("{record}\n")).unwrap();
    let err = builder(&path)
        .checkpoint_sink(FileCheckpointSink::new(&held))
        .build()
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("does not verify with the log's key"),
        "{message}"
    );
    assert!(!path.exists() || std::fs::read_to_string(&path).unwrap().is_empty());
}

#[test]
fn a_chain_recording_another_origin_is_not_continued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let other = SignerKey::from_seed("other.example/log", zeroize::Zeroizing::new([4u8; 32]));
    let (_layer, guard) = AuditLayer::builder()
        .path(&path)
        .signing_key(key())
        .checkpoint_key(other.unwrap())
        .build()
        .unwrap();
    flags(&guard, 1);
    drop(guard);
    let err = builder(&path).build().err().unwrap().to_string();
    assert!(
        err.contains("records the checkpoint origin other.example/log") && err.contains(ORIGIN),
        "{err}"
    );
}

#[test]
fn checkpoint_keys_load_from_files_and_the_environment_with_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "PRIVATE+KEY+x+00000000+AAAA\n").unwrap();
    let err = builder(&path)
        .checkpoint_key_from_file(&bad)
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("bad.key"), "{err}");
    assert!(!err.contains("AAAA"), "errors never quote the key: {err}");
    let missing = builder(&path)
        .checkpoint_key_from_env("ACTTRACE_TEST_NO_SUCH_CHECKPOINT_KEY")
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(
        missing.contains("ACTTRACE_TEST_NO_SUCH_CHECKPOINT_KEY"),
        "{missing}"
    );
    // The variable is unique to this test.
    let text = std::fs::read_to_string(key_file()).unwrap();
    unsafe { std::env::set_var("ACTTRACE_TEST_CHECKPOINT_KEY", text.trim()) };
    let (_layer, guard) = AuditLayer::builder()
        .path(&path)
        .checkpoint_key_from_env("ACTTRACE_TEST_CHECKPOINT_KEY")
        .checkpoint_every(4096, HOUR)
        .build()
        .unwrap();
    guard.flush().unwrap();
    drop(guard);
    assert_eq!(
        checked_checkpoints(&entries(&path), Frontier::new()).len(),
        1
    );
    // Sinks need a key.
    let err = AuditLayer::builder()
        .path(dir.path().join("other.jsonl"))
        .checkpoint_sink(FileCheckpointSink::new(dir.path().join("cp")))
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("checkpoint_sink needs a checkpoint key"),
        "{err}"
    );
}

/// The tree before a segment, from its `segment_open` (or empty for the first).
fn segment_base(first: &Value) -> Frontier {
    if first["type"] == "audit_open" {
        return Frontier::new();
    }
    let subtrees = first["payload"]["frontier"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let h = h.as_str().unwrap();
            let mut out = [0u8; 32];
            for (i, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
            }
            out
        })
        .collect();
    Frontier::from_subtrees(first["payload"]["tree_size"].as_u64().unwrap(), subtrees).unwrap()
}

#[test]
fn rotation_with_retention_keeps_the_tree_in_each_segment_and_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let held = dir.path().join("checkpoints.jsonl");
    let open = || {
        AuditLayer::builder()
            .writer(
                SegmentedWriter::new(dir.path().join("log"), "audit")
                    .max_bytes(2_000)
                    .retain_segments(1),
            )
            .signing_key(key())
            .checkpoint_key_from_file(key_file())
            .checkpoint_every(4096, HOUR)
            .checkpoint_sink(FileCheckpointSink::new(&held))
            .build()
            .unwrap()
    };
    let (_layer, guard) = open();
    flags(&guard, 20);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    let (_layer, guard) = open();
    flags(&guard, 20);
    guard.shutdown(Duration::from_secs(60)).unwrap();

    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir.path().join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    // Retention deleted the first segments: what is left starts with `segment_open`.
    assert!(segments.len() <= 2, "{segments:?}");
    assert!(!segments[0].ends_with("audit-000001.jsonl"));
    let mut last = None;
    for (i, segment) in segments.iter().enumerate() {
        let all = entries(segment);
        assert_eq!(all[0]["type"], "segment_open");
        let checkpoints = checked_checkpoints(&all, segment_base(&all[0]));
        if i + 1 < segments.len() {
            // A sealed segment ends with the checkpoint that covers it.
            assert_eq!(all.last().unwrap()["type"], "checkpoint", "{segment:?}");
        }
        last = checkpoints.last().copied().or(last);
    }
    // The sink's latest is the log's last checkpoint.
    let mut sink = FileCheckpointSink::new(&held);
    let latest = Checkpoint::from_note(&sink.latest(ORIGIN).unwrap().unwrap(), &[verifier()]);
    let latest = latest.unwrap();
    assert_eq!(Some((latest.size, latest.root)), last);
    // And the log reopens once more against it.
    let (_layer, guard) = open();
    guard.shutdown(Duration::from_secs(60)).unwrap();
}

/// A rotated log written without checkpoints (so its `segment_open`s record no tree).
fn segmented_without_checkpoints(dir: &Path, retain: Option<usize>) -> PathBuf {
    let log = dir.join("log");
    let mut writer = SegmentedWriter::new(&log, "audit").max_bytes(1_500);
    if let Some(n) = retain {
        writer = writer.retain_segments(n);
    }
    let (_layer, guard) = AuditLayer::builder()
        .writer(writer)
        .signing_key(key())
        .build()
        .unwrap();
    flags(&guard, 12);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    log
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    segments
}

#[test]
fn checkpoints_turned_on_for_a_rotated_log_rebuild_the_tree_from_its_first_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = segmented_without_checkpoints(dir.path(), None);
    assert!(segment_files(&log).len() >= 3);
    let (_layer, guard) = AuditLayer::builder()
        .writer(SegmentedWriter::new(&log, "audit").max_bytes(1_500))
        .signing_key(key())
        .checkpoint_key_from_file(key_file())
        .checkpoint_every(4096, HOUR)
        .build()
        .unwrap();
    flags(&guard, 2);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    // The whole chain, read across the segments, has checkpoints over all of it.
    let all: Vec<Value> = segment_files(&log)
        .iter()
        .flat_map(|s| entries(s))
        .collect();
    let checkpoints = checked_checkpoints(&all, Frontier::new());
    assert!(!checkpoints.is_empty());
    assert_eq!(checkpoints.last().unwrap().0 + 1, all.len() as u64);
}

#[test]
fn checkpoints_cannot_start_on_a_rotated_log_whose_first_segments_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let log = segmented_without_checkpoints(dir.path(), Some(1));
    assert!(!segment_files(&log)[0].ends_with("audit-000001.jsonl"));
    let err = AuditLayer::builder()
        .writer(SegmentedWriter::new(&log, "audit").max_bytes(1_500))
        .signing_key(key())
        .checkpoint_key_from_file(key_file())
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("cannot rebuild the Merkle tree") && err.contains("without recording"),
        "{err}"
    );
}

#[test]
fn a_sink_checkpoint_in_an_earlier_segment_is_checked_against_that_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let held = dir.path().join("checkpoints.jsonl");
    let open = |sink: Option<&Path>| {
        let mut b = AuditLayer::builder()
            .writer(SegmentedWriter::new(&log, "audit").max_bytes(1_500))
            .signing_key(key())
            .checkpoint_key_from_file(key_file())
            .checkpoint_every(4096, HOUR);
        if let Some(sink) = sink {
            b = b.checkpoint_sink(FileCheckpointSink::new(sink));
        }
        b.build()
    };
    let (_layer, guard) = open(None).unwrap();
    flags(&guard, 12);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    let segments = segment_files(&log);
    assert!(segments.len() >= 3, "{segments:?}");
    // The checkpoint that closes the first segment, as a sink that fell behind holds it.
    let first = entries(&segments[0]);
    let closing = first.last().unwrap();
    assert_eq!(closing["type"], "checkpoint");
    let size = closing["seq"].as_u64().unwrap();
    let record =
        |note: &str| serde_json::json!({"origin": ORIGIN, "tree_size": size, "note": note});
    std::fs::write(
        &held,
        format!("{}\n", record(closing["payload"]["note"].as_str().unwrap())),
    )
    .unwrap();
    let (_layer, guard) = open(Some(&held)).unwrap();
    guard.shutdown(Duration::from_secs(60)).unwrap();
    // The same size with another root, signed by the log's own key: refused.
    let signer = SignerKey::parse(std::fs::read_to_string(key_file()).unwrap().trim()).unwrap();
    let forged = signer
        .sign(&Checkpoint::new(ORIGIN, size, [7u8; 32]).unwrap().body())
        .unwrap();
    std::fs::write(&held, format!("{}\n", record(&forged))).unwrap();
    let err = open(Some(&held)).err().unwrap().to_string();
    assert!(
        err.contains(&format!("checkpoint of {size} entries has root")),
        "{err}"
    );
}

#[test]
fn the_reference_verifier_accepts_a_log_with_checkpoint_entries() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (_layer, guard) = builder(&path).build().unwrap();
    flags(&guard, 3);
    let report = guard.shutdown(Duration::from_secs(60)).unwrap();
    assert_eq!(
        checked_checkpoints(&entries(&path), Frontier::new()).len(),
        1
    );
    let hmac = std::str::from_utf8(common::KEY.as_bytes()).unwrap();
    let (ok, detail) = reference_verify(&python, &path, Some(hmac), Some(&report.head.head));
    assert!(
        ok,
        "reference verifier rejected a log with checkpoints: {detail}"
    );
    assert!(detail.contains("signatures verified"), "{detail}");
}
