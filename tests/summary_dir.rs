//! Issue #15 §4: `acttrace summary DIR` summarises a rotated log's directory of segments (it
//! used to refuse what `acttrace verify DIR` accepts), verifying it as `verify DIR` does and
//! counting the very bytes verified.

use std::path::Path;
use std::process::Command;

use acttrace::export::{IntegrityState, SummaryOptions, summarize_dir};
use acttrace::verify::{VerifyOptions, verify_dir};
use acttrace::writer::SegmentedWriter;
use acttrace::{AuditLayer, ChainTip, SigningKey};
use tracing::instrument;
use tracing_subscriber::prelude::*;

const KEY: &str = "summary-dir-key-0123";

#[instrument(skip_all, fields(audit.decision = "route", actor = "agent", n))]
fn decide(n: u64) {
    acttrace::tool_call!(
        name = "lookup",
        n,
        padding = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    );
    if n.is_multiple_of(3) {
        acttrace::oversight!(reviewer = "r1", action = "approved");
    }
}

/// A signed log rotated into several segments.
fn write_rotated(dir: &Path, decisions: u64) -> ChainTip {
    let (layer, guard) = AuditLayer::builder()
        .system("rotating")
        .signing_key(SigningKey::from_bytes(KEY.as_bytes()).unwrap())
        .writer(SegmentedWriter::new(dir, "audit").max_bytes(4 * 1024))
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for n in 0..decisions {
            decide(n);
        }
    });
    let tip = guard.flush().unwrap();
    drop(guard);
    tip
}

fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    v.sort();
    v
}

/// Entries per type across every segment, counted apart from the crate under test.
fn count_types(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    let mut m = std::collections::BTreeMap::new();
    for f in segment_files(dir) {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            *m.entry(v["type"].as_str().unwrap().to_owned()).or_insert(0) += 1;
        }
    }
    m
}

fn summary(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .arg("summary")
        .args(args)
        .arg(dir)
        .env("SUMMARY_DIR_KEY", KEY)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn summary_of_a_rotated_directory_counts_every_segment() {
    let dir = tempfile::tempdir().unwrap();
    let tip = write_rotated(dir.path(), 60);
    let files = segment_files(dir.path());
    assert!(files.len() >= 4, "{files:?}");
    let types = count_types(dir.path());
    let total: u64 = types.values().sum();
    let of = |t: &str| types.get(t).copied().unwrap_or(0);
    assert_eq!(of("decision"), 60, "{types:?}");

    let opts = SummaryOptions {
        verify: VerifyOptions {
            key: Some(SigningKey::from_bytes(KEY.as_bytes()).unwrap()),
            expected_head: Some(tip.head.clone()),
            expect_entries: Some(tip.next_seq),
            ..VerifyOptions::default()
        },
    };
    let r = summarize_dir(dir.path(), &opts).unwrap();
    assert!(r.verification.ok(), "{}", r.verification.summary());
    assert_eq!(r.verification.segments.len(), files.len());
    assert_eq!(
        IntegrityState::of_dir(&r.verification),
        IntegrityState::VerifiedComplete
    );
    assert_eq!(r.summary.entries, total);
    assert_eq!(r.summary.entries, r.verification.entries());
    assert_eq!(r.summary.decisions, of("decision"));
    assert_eq!(r.summary.tool_calls, of("tool_call"));
    assert_eq!(r.summary.human_oversight, of("human_oversight"));
    assert_eq!(r.summary.entry_types, types);
    assert_eq!(r.verification.head(), tip.head);
    // The same verdict as `verify_dir` on the same directory.
    let v = verify_dir(dir.path(), &opts.verify).unwrap();
    assert_eq!(v.summary(), r.verification.summary());

    let (code, out, err) = summary(
        &[
            "--json",
            "--key-env",
            "SUMMARY_DIR_KEY",
            "--expect-entries",
            &tip.next_seq.to_string(),
        ],
        dir.path(),
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["verified"], true);
    assert_eq!(j["integrity_state"], "verified");
    assert_eq!(j["segments"], files.len() as u64);
    assert_eq!(j["summary"]["entries"], total);
    assert_eq!(j["summary"]["decisions"], of("decision"));
    assert_eq!(j["summary"]["tool_calls"], of("tool_call"));
    assert_eq!(j["verification"]["head"], tip.head.as_str());

    let (code, out, err) = summary(&[], dir.path());
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("VERIFIED"), "{out}");
    assert!(
        out.contains(&format!("{} segment files in", files.len())),
        "{out}"
    );
    assert!(out.contains(&format!("entries:     {total}")), "{out}");

    // The expected count applies to the whole chain, not to the last segment.
    let (code, out, _) = summary(&["--expect-entries", "3"], dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAILED"), "{out}");
}

#[test]
fn summary_of_a_directory_with_an_edited_segment_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_rotated(dir.path(), 60);
    let files = segment_files(dir.path());
    let middle = &files[files.len() / 2];
    let text = std::fs::read_to_string(middle).unwrap();
    let edited = text.replacen("\"lookup\"", "\"LOOKUP\"", 1);
    assert_ne!(edited, text);
    std::fs::write(middle, edited).unwrap();
    let r = summarize_dir(dir.path(), &SummaryOptions::default()).unwrap();
    assert!(!r.verification.ok());
    assert_eq!(
        IntegrityState::of_dir(&r.verification),
        IntegrityState::Failed
    );
    let (code, out, err) = summary(&[], dir.path());
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("FAILED"), "{out}");
    let (code, out, _) = summary(&["--json"], dir.path());
    assert_eq!(code, Some(1));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["verified"], false);
    assert_eq!(j["integrity_state"], "failed");
}

#[test]
fn summary_of_a_directory_without_segments_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = summary(&[], dir.path());
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("no segment files"), "{err}");
    std::fs::write(dir.path().join("notes.txt"), "not a log\n").unwrap();
    let (code, _, err) = summary(&[], dir.path());
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn a_later_segment_exports_on_its_own() {
    // README "Export holds the log in memory": a very large rotated log is exported a segment
    // at a time.
    let dir = tempfile::tempdir().unwrap();
    write_rotated(dir.path(), 60);
    let segments = segment_files(dir.path());
    assert!(segments.len() >= 3, "{segments:?}");
    let out = tempfile::tempdir().unwrap();
    let pack = out.path().join("pack.jsonl");
    let mut opts = acttrace::export::ExportOptions::new("gdpr", acttrace::export::Format::Jsonl);
    opts.key = Some(SigningKey::from_bytes(KEY.as_bytes()).unwrap());
    let report = acttrace::export::export_path(&segments[1], &pack, &opts).unwrap();
    assert!(report.verified, "{}", report.verification);
    let segment_entries = std::fs::read_to_string(&segments[1])
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(report.entries, segment_entries);
}

#[test]
fn repair_of_a_sound_later_segment_counts_its_own_entries() {
    // Found by fuzzing the CLI: "nothing to repair (248 entries ...)" for a segment of 47,
    // the seq after its last entry.
    let dir = tempfile::tempdir().unwrap();
    write_rotated(dir.path(), 60);
    let segments = segment_files(dir.path());
    let lines = std::fs::read_to_string(&segments[1])
        .unwrap()
        .lines()
        .count() as u64;
    let key = SigningKey::from_bytes(KEY.as_bytes()).unwrap();
    let outcome = acttrace::writer::repair(&segments[1], Some(&key)).unwrap();
    assert_eq!(
        outcome,
        acttrace::writer::RepairOutcome::NothingToRepair { entries: lines }
    );
}
