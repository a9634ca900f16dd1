//! `summarize_path`: counts, oversight coverage, verification status and byte progress.

mod common;

use acttrace::export::{Progress, SummaryOptions, summarize_path};
use acttrace::verify::VerifyOptions;
use common::*;

#[test]
fn the_summary_counts_match_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let opts = SummaryOptions {
        verify: VerifyOptions {
            key: Some(key()),
            ..VerifyOptions::default()
        },
    };
    let mut seen: Vec<Progress> = Vec::new();
    let r = summarize_path(&log, &opts, &mut |p| seen.push(p)).unwrap();
    assert!(r.verification.ok());
    let s = &r.summary;
    assert_eq!(s.entries, 15);
    assert_eq!(
        (s.decisions, s.llm_calls, s.tool_calls, s.context_assemblies),
        (2, 1, 1, 1)
    );
    assert_eq!(
        (s.human_oversight, s.guardrail_decisions, s.policy_flags),
        (1, 1, 4)
    );
    assert_eq!(
        s.flags_by_action,
        vec![
            ("blocked".into(), 2),
            ("redacted".into(), 1),
            ("flagged".into(), 1)
        ]
    );
    assert_eq!(
        s.flags_by_severity,
        vec![
            ("critical".into(), 2),
            ("warning".into(), 1),
            ("info".into(), 1)
        ]
    );
    assert_eq!(
        (s.decisions_with_oversight, s.decisions_without_oversight),
        (1, 1)
    );
    assert_eq!(
        s.first_ts.as_deref(),
        Some("2026-03-01T09:00:00.000000+00:00")
    );
    assert_eq!(
        s.last_ts.as_deref(),
        Some("2026-03-03T11:00:01.000000+00:00")
    );
    assert_eq!(r.info.system.as_deref(), Some("claims <b>bot</b>"));
    // Progress: one pass (issue #12 item 1: verified and counted from the same read) runs to
    // the file's size.
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(seen.iter().all(|p| p.phase == "verify"), "{seen:?}");
    let last = seen.last().unwrap();
    assert_eq!((last.bytes, last.total), (size, size));
    let text = r.render_text();
    assert!(text.contains("integrity:   VERIFIED"), "{text}");
    assert!(
        text.contains("1 of 2 decisions signed off (50%), 1 without"),
        "{text}"
    );
    assert!(
        text.contains("by action: blocked 2, redacted 1, flagged 1"),
        "{text}"
    );
    assert!(text.contains("2026-03-01T09:00:00.000000+00:00 .. 2026-03-03T11:00:01.000000+00:00"));
    let j = r.to_json();
    assert_eq!(j["verified"], true);
    assert_eq!(j["summary"]["policy_flags"], 4);
}

#[test]
fn a_failing_log_is_summarised_and_reported_as_failed() {
    let path = vectors().join("cendor-py-1.14.0/chain0.edit.jsonl");
    let r = summarize_path(&path, &SummaryOptions::default(), &mut |_| {}).unwrap();
    assert!(!r.verification.ok());
    assert!(
        r.render_text()
            .starts_with("integrity:   FAILED — tampered entry at seq 3")
    );
    assert_eq!(r.summary.entries, 24);
}

/// Model costs add up exactly per currency; calls without a usable cost are counted, not guessed.
#[test]
fn the_summary_adds_up_model_costs_exactly() {
    use tracing_subscriber::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("costs.jsonl");
    let (layer, guard) = acttrace::AuditLayer::builder().path(&path).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let d = tracing::info_span!("d", audit.decision = "costs");
        let _d = d.enter();
        // Binary floats would make 0.1 + 0.2 = 0.30000000000000004.
        acttrace::llm_call!(model = "a", cost = "0.1 USD");
        acttrace::llm_call!(model = "a", cost = "0.2 USD");
        acttrace::llm_call!(model = "a", cost = "1.5 EUR");
        acttrace::llm_call!(model = "unknown-model", input_tokens = 5u64);
        acttrace::llm_call!(model = "a", cost = "about a dollar");
    });
    guard.flush().unwrap();
    let r = summarize_path(&path, &SummaryOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(r.summary.llm_calls, 5);
    assert_eq!(r.summary.llm_cost, ["0.3 USD", "1.5 EUR"]);
    assert_eq!(r.summary.uncosted_llm_calls, 2);
    assert!(
        r.render_text()
            .contains("model cost:  0.3 USD + 1.5 EUR (2 of 5 calls without a cost)"),
        "{}",
        r.render_text()
    );
    assert_eq!(r.summary.to_json()["llm_cost"][0], "0.3 USD");
}
