//! Rotated logs: segments form one chain; missing, reordered, duplicated or cut segments are
//! reported; retention deletes whole sealed segments and says so on the chain.

mod common;

use std::path::Path;
use std::process::Command;

use acttrace::verify::{VerifyOptions, verify_dir};
use acttrace::writer::SegmentedWriter;
use acttrace::{AuditLayer, Error};
use tracing_subscriber::prelude::*;

fn write(dir: &Path, writer: SegmentedWriter, events: u64) -> acttrace::ChainTip {
    let (layer, guard) = AuditLayer::builder()
        .system("rotating")
        .writer(writer)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..events {
            acttrace::tool_call!(
                name = "op",
                i,
                padding = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            );
        }
    });
    let _ = dir;
    let tip = guard.flush().unwrap();
    drop(guard);
    tip
}

/// The directory verifies as one chain ending at `tip`, with every entry up to it.
fn assert_dir_verifies_to(dir: &Path, tip: &acttrace::ChainTip) {
    let r = verify_dir(
        dir,
        &VerifyOptions {
            expected_head: Some(tip.head.clone()),
            expect_entries: Some(tip.next_seq),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r.ok(), "{} {:?}", r.summary(), r.problems);
    assert_eq!(r.entries(), tip.next_seq);
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    v.sort();
    v
}

fn first_type(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    first["type"].as_str().unwrap().to_owned()
}

#[test]
fn segments_form_one_chain_across_rotation_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mk = || SegmentedWriter::new(dir.path(), "audit").max_bytes(4 * 1024);
    let tip1 = write(dir.path(), mk(), 100);
    let tip2 = write(dir.path(), mk(), 100);
    assert!(tip2.next_seq > tip1.next_seq + 100);
    let files = segment_files(dir.path());
    assert!(files.len() >= 4, "{files:?}");
    assert_eq!(first_type(&dir.path().join(&files[0])), "audit_open");
    for f in &files[1..] {
        assert_eq!(first_type(&dir.path().join(f)), "segment_open", "{f}");
    }
    assert_dir_verifies_to(dir.path(), &tip2);
    // Each segment alone verifies and says it continues another.
    let alone =
        acttrace::verify::verify_path(dir.path().join(&files[1]), &VerifyOptions::default())
            .unwrap();
    assert!(alone.ok(), "{}", alone.summary());
    assert!(
        alone
            .summary()
            .contains(&format!("continuing {}", files[0])),
        "{}",
        alone.summary()
    );
}

#[test]
fn missing_reordered_duplicated_and_cut_segments_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        SegmentedWriter::new(dir.path(), "audit").max_bytes(3 * 1024),
        120,
    );
    let files = segment_files(dir.path());
    assert!(files.len() >= 5, "{files:?}");
    let p = |i: usize| dir.path().join(&files[i]);
    let check = |needle: &str| {
        let r = verify_dir(dir.path(), &VerifyOptions::default()).unwrap();
        assert!(!r.ok());
        let all: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
        assert!(
            all.iter().any(|m| m.contains(needle)),
            "{needle:?} not in {all:#?}"
        );
    };
    let backup = tempfile::tempdir().unwrap();
    for f in &files {
        std::fs::copy(dir.path().join(f), backup.path().join(f)).unwrap();
    }
    let restore = || {
        for f in segment_files(dir.path()) {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
        for f in &files {
            std::fs::copy(backup.path().join(f), dir.path().join(f)).unwrap();
        }
        assert!(
            verify_dir(dir.path(), &VerifyOptions::default())
                .unwrap()
                .ok()
        );
    };

    std::fs::remove_file(p(2)).unwrap();
    check("missing segment(s) between");
    restore();

    // Swap the contents of segments 2 and 3 (their names stay in order).
    std::fs::copy(backup.path().join(&files[3]), p(2)).unwrap();
    std::fs::copy(backup.path().join(&files[2]), p(3)).unwrap();
    check("reordered or duplicated");
    restore();

    // Segment 2 copied as the next segment.
    let dup = dir
        .path()
        .join(format!("audit-{:06}.jsonl", files.len() + 1));
    std::fs::copy(p(2), &dup).unwrap();
    check("reordered or duplicated");
    std::fs::remove_file(&dup).unwrap();

    // The last entry of segment 1 cut off.
    let text = std::fs::read_to_string(p(1)).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    std::fs::write(p(1), lines.join("\n") + "\n").unwrap();
    check("): entries cut from the end of that segment?");
    restore();

    // The first segment deleted by hand, not by retention.
    std::fs::remove_file(p(0)).unwrap();
    check("not recorded as deleted by retention");
    restore();
}

#[test]
fn retention_deletes_whole_sealed_segments_and_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let tip = write(
        dir.path(),
        SegmentedWriter::new(dir.path(), "audit")
            .max_bytes(3 * 1024)
            .retain_segments(2),
        200,
    );
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 3, "{files:?}"); // 2 sealed + the current one
    assert_ne!(files[0], "audit-000001.jsonl");
    let r = verify_dir(
        dir.path(),
        &VerifyOptions {
            expected_head: Some(tip.head.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r.ok(), "{} {:?}", r.summary(), r.problems);
    // The segment before the first one kept is recorded as deleted by a kept segment.
    let first_kept: u64 = files[0]["audit-".len().."audit-".len() + 6]
        .parse()
        .unwrap();
    let predecessor = format!("audit-{:06}.jsonl", first_kept - 1);
    assert!(
        r.deleted_by_retention.contains(&predecessor),
        "{:?}",
        r.deleted_by_retention
    );
    assert!(
        r.summary().contains("deleted by retention"),
        "{}",
        r.summary()
    );
    // The retention entries name each deleted segment with its head.
    let all: String = files
        .iter()
        .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap())
        .collect();
    assert!(all.contains("\"type\": \"retention\""));

    // Less than six months of retention is refused.
    let err = SegmentedWriter::new(dir.path(), "x")
        .retain_for(std::time::Duration::from_secs(86_400))
        .unwrap_err();
    assert!(
        matches!(err, Error::RetentionTooShort { days: 1 })
            && err.to_string().contains("six months"),
        "{err}"
    );
}

#[test]
fn the_cli_verifies_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        SegmentedWriter::new(dir.path(), "audit").max_bytes(4 * 1024),
        80,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .arg("verify")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("segments"));
    let files = segment_files(dir.path());
    std::fs::remove_file(dir.path().join(&files[1])).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .arg("verify")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// Many records at once, through rotations: every one is on the one verified chain. (When
/// batches fill while more records wait, their commits are begun while the next batch is
/// sealed; whether they do here depends on the machine's speed. `tests/large_batches.rs`
/// drives that case directly.)
#[test]
fn thirty_thousand_records_through_rotations_form_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let tip = write(
        dir.path(),
        SegmentedWriter::new(dir.path(), "audit").max_bytes(1024 * 1024),
        30_000,
    );
    assert!(segment_files(dir.path()).len() >= 3);
    assert_dir_verifies_to(dir.path(), &tip);
    // Every record is on the chain: 30,000 tool calls, and no gap.
    let lines: Vec<String> = segment_files(dir.path())
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(dir.path().join(f))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let of_type = |t: &str| {
        let t = format!("\"type\": \"{t}\"");
        lines.iter().filter(|l| l.contains(&t)).count()
    };
    assert_eq!(of_type("tool_call"), 30_000);
    assert_eq!(of_type("gap"), 0);
}
