//! Issue #17 A6: a high-risk log keeps segments younger than the six-month minimum whatever
//! `retain_segments` says, unless the builder allows early deletion; a `retention` entry that
//! deleted younger segments says so and is exported as adverse evidence.

use std::path::Path;

use acttrace::export::{Mapping, Strength};
use acttrace::json::Value;
use acttrace::writer::SegmentedWriter;
use acttrace::{AuditLayer, AuditLayerBuilder, RiskTier};
use tracing_subscriber::prelude::*;

/// Writes enough to rotate several times with `retain_segments(1)`; returns the log's last
/// error and the segment files left.
fn write(dir: &Path, builder: AuditLayerBuilder) -> (Option<String>, Vec<String>) {
    let writer = SegmentedWriter::new(dir, "audit")
        .max_bytes(3 * 1024)
        .retain_segments(1);
    let (layer, guard) = builder.writer(writer).build().unwrap();
    let handle = guard.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..200u64 {
            acttrace::tool_call!(name = "op", i, padding = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        }
    });
    guard.flush().unwrap();
    let last_error = handle.status().last_error;
    drop(guard);
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .collect();
    files.sort();
    (last_error, files)
}

/// The payloads of the `retention` entries in the segments left.
fn retention_entries(dir: &Path, files: &[String]) -> Vec<serde_json::Value> {
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(dir.join(f)).unwrap();
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|e| e["type"] == "retention")
        .map(|e| e["payload"].clone())
        .collect()
}

/// How the EU AI Act mapping grades `payload` as a `retention` entry for Art. 19(1).
fn art_19_1(payload: &serde_json::Value) -> Strength {
    let eu = Mapping::builtin("eu_ai_act").unwrap();
    let v = Value::from(payload);
    let controls = eu.controls_for("retention", &v);
    controls
        .iter()
        .find(|c| c.control_id == "Art. 19(1)")
        .unwrap()
        .strength
}

#[test]
fn a_high_risk_log_keeps_segments_younger_than_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let (error, files) = write(
        dir.path(),
        AuditLayer::builder().system("s").risk_tier(RiskTier::High),
    );
    assert!(files.len() > 3, "nothing rotated: {files:?}");
    assert_eq!(
        files[0], "audit-000001.jsonl",
        "a young segment was deleted"
    );
    assert!(retention_entries(dir.path(), &files).is_empty());
    let error = error.expect("the log says it kept segments");
    assert!(
        error.contains("183 days") && error.contains("allow_early_deletion"),
        "{error}"
    );
}

#[test]
fn an_explicit_override_deletes_them_and_the_entry_is_adverse() {
    let dir = tempfile::tempdir().unwrap();
    let (error, files) = write(
        dir.path(),
        AuditLayer::builder()
            .system("s")
            .risk_tier(RiskTier::High)
            .allow_early_deletion("test fixture: no personal data"),
    );
    assert_eq!(files.len(), 2, "{files:?}"); // 1 sealed + the current one
    assert_eq!(error, None);
    let entries = retention_entries(dir.path(), &files);
    assert!(!entries.is_empty());
    for p in &entries {
        assert_eq!(p["minimum_days"], 183, "{p}");
        assert_eq!(p["early_deletion"], true, "{p}");
        assert_eq!(p["override"], "test fixture: no personal data", "{p}");
        for d in p["deleted"].as_array().unwrap() {
            assert_eq!(d["age_days"], 0, "{d}");
            assert!(d["ts"].as_str().unwrap().ends_with("+00:00"), "{d}");
        }
        assert_eq!(art_19_1(p), Strength::Adverse);
    }
    // An empty reason is refused.
    let empty = AuditLayer::builder()
        .allow_early_deletion(" ")
        .writer(SegmentedWriter::new(dir.path().join("e"), "e"))
        .build();
    assert!(matches!(empty, Err(acttrace::Error::Config(_))));
}

#[test]
fn a_limited_risk_log_deletes_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let (error, files) = write(dir.path(), AuditLayer::builder().system("s"));
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(error, None);
    let entries = retention_entries(dir.path(), &files);
    assert!(!entries.is_empty());
    for p in &entries {
        assert!(p.get("minimum_days").is_none() && p.get("early_deletion").is_none());
        let d = &p["deleted"][0];
        assert!(d["last_seq"].is_u64() && d["head"].is_string() && d["age_days"] == 0);
        assert_eq!(art_19_1(p), Strength::Supporting);
    }
}
