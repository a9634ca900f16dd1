//! Test logs shared by the export tests: the quickstart's log written through the layer, and a
//! hand-sealed synthetic log with fixed timestamps.

use std::path::{Path, PathBuf};

use acttrace::chain::{GENESIS, HashAlg, SealedEntry, SigningKey};
use acttrace::json::Value;
use acttrace::{AuditLayer, FlagAction, RiskTier, Severity};
use tracing::instrument;
use tracing_subscriber::prelude::*;

/// The key the test logs are signed with.
pub const KEY: &str = "export-test-key-0123";

pub fn key() -> SigningKey {
    SigningKey::from_bytes(KEY.as_bytes()).unwrap()
}

/// Lowercase hex SHA-256, computed apart from the crate under test.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[instrument(skip_all, fields(audit.decision = "loan.approve", actor = "agent", applicant = id, amount), ret)]
fn approve(id: u64, amount: u64) -> bool {
    tracing::Span::current().record("amount", amount);
    acttrace::context!(sources = "credit_policy_v7.md", tokens = 1840u64);
    acttrace::llm_call!(
        provider = "openai",
        model = "gpt-4o",
        input_tokens = 812u64,
        output_tokens = 64u64,
        cost = "0.0123 USD",
        latency_ms = 412.5
    );
    acttrace::tool_call!(name = "credit_score", arguments = %format!("{{\"applicant\": {id}}}"));
    let approved = amount <= 50_000;
    acttrace::oversight!(
        reviewer = "ops-reviewer-17",
        action = if approved { "approved" } else { "escalated" }
    );
    approved
}

/// The quickstart example's log (examples/quickstart.rs of the host), written with the host's
/// layer: three decisions with context, model call, tool call and sign-off, then a blocked
/// card-number refusal. Signed with [`KEY`] when `signed`.
pub fn quickstart_log(dir: &Path, signed: bool) -> PathBuf {
    let path = dir.join(if signed {
        "quickstart.jsonl"
    } else {
        "quickstart-unsigned.jsonl"
    });
    let mut b = AuditLayer::builder()
        .system("loan-desk")
        .risk_tier(RiskTier::High)
        .path(&path);
    if signed {
        b = b.signing_key(key());
    }
    let (layer, guard) = b.build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for (id, amount) in [(1001, 12_000), (1002, 80_000), (1003, 45_500)] {
            approve(id, amount);
        }
    });
    guard
        .flag(
            "card number in prompt",
            FlagAction::Blocked,
            Severity::Critical,
            &["credit_card"],
        )
        .unwrap();
    guard.shutdown(std::time::Duration::from_secs(10)).unwrap();
    path
}

/// A hand-sealed log with fixed timestamps covering every entry type the exporter treats
/// specially, hostile HTML in payloads, and flags of several categories.
pub fn synthetic_log(dir: &Path, signed: bool) -> PathBuf {
    let path = dir.join(if signed {
        "synthetic.jsonl"
    } else {
        "synthetic-unsigned.jsonl"
    });
    let k = key();
    let key = signed.then_some(&k);
    let d1 = "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1";
    let d2 = "d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2";
    let rows: Vec<(&str, &str, serde_json::Value)> = vec![
        (
            "2026-03-01T09:00:00.000000+00:00",
            "audit_open",
            serde_json::json!({"system": "claims <b>bot</b>", "risk_tier": "high", "format": "acttrace-chain/1", "producer": "acttrace-rs/0.1.0"}),
        ),
        (
            "2026-03-01T09:00:01.000000+00:00",
            "decision",
            serde_json::json!({"decision_id": d1, "name": "claim.triage", "actor": "agent", "input": "<script>alert('x')</script> & 日本語"}),
        ),
        (
            "2026-03-01T09:00:02.000000+00:00",
            "context_assembly",
            serde_json::json!({"decision_id": d1, "sources": "policy.md", "tokens": 100}),
        ),
        (
            "2026-03-01T09:00:03.000000+00:00",
            "llm_call",
            serde_json::json!({"decision_id": d1, "provider": "anthropic", "model": "claude", "usage": {"input_tokens": 10, "output_tokens": 5}, "cost": "0.001 USD", "latency_ms": 12.5}),
        ),
        (
            "2026-03-01T09:00:04.000000+00:00",
            "guardrail_decision",
            serde_json::json!({"decision_id": d1, "guardrail": "toxicity", "verdict": "pass"}),
        ),
        (
            "2026-03-01T09:00:05.000000+00:00",
            "policy_flag",
            serde_json::json!({"decision_id": d1, "reason": "diagnosis in input", "action": "blocked", "severity": "critical", "data": ["special_category"]}),
        ),
        (
            "2026-03-01T09:00:06.000000+00:00",
            "policy_flag",
            serde_json::json!({"decision_id": d1, "reason": "email redacted", "action": "redacted", "severity": "warning", "data": ["email"]}),
        ),
        (
            "2026-03-01T09:00:07.000000+00:00",
            "human_oversight",
            serde_json::json!({"decision_id": d1, "reviewer": "rev\"<i>1</i>", "action": "approved", "note": "ok"}),
        ),
        (
            "2026-03-01T09:00:08.000000+00:00",
            "decision_end",
            serde_json::json!({"decision_id": d1, "outcome": "ok"}),
        ),
        (
            "2026-03-02T10:00:00.000000+00:00",
            "decision",
            serde_json::json!({"decision_id": d2, "name": "claim.pay", "actor": "batch"}),
        ),
        (
            "2026-03-02T10:00:01.000000+00:00",
            "tool_call",
            serde_json::json!({"decision_id": d2, "name": "pay", "arguments": "{\"amount\": 12}"}),
        ),
        (
            "2026-03-02T10:00:02.000000+00:00",
            "policy_flag",
            serde_json::json!({"decision_id": d2, "reason": "api key in tool args", "action": "flagged", "severity": "info", "data": "api_key"}),
        ),
        (
            "2026-03-02T10:00:03.000000+00:00",
            "decision_end",
            serde_json::json!({"decision_id": d2, "outcome": "ok"}),
        ),
        (
            "2026-03-03T11:00:00.000000+00:00",
            "budget_event",
            serde_json::json!({"decision_id": null, "budget": "daily", "spent": "4.2 USD"}),
        ),
        (
            "2026-03-03T11:00:01.000000+00:00",
            "policy_flag",
            serde_json::json!({"decision_id": null, "reason": "card number", "action": "blocked", "severity": "critical", "data": ["credit_card"]}),
        ),
    ];
    let mut prev = GENESIS.to_owned();
    let mut out = String::new();
    for (seq, (ts, kind, payload)) in rows.into_iter().enumerate() {
        let e = SealedEntry::seal(
            HashAlg::Sha256,
            key,
            seq as u64,
            ts.into(),
            kind.into(),
            Value::from(&payload),
            prev,
        );
        prev = e.hash.clone();
        e.write_line(&mut out);
    }
    std::fs::write(&path, out).unwrap();
    path
}

/// The decision ids of the synthetic log.
pub const D1: &str = "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1";
pub const D2: &str = "d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2";

/// The reference writers' chains with their verifier's verdicts (tests/vectors).
pub fn vectors() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors"))
}
