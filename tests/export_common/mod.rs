//! Helpers shared by the integration tests: test logs, external tools, the reference verifier.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use acttrace::chain::{GENESIS, HashAlg, SealedEntry, SigningKey};
use acttrace::json::Value;
use acttrace::{AuditLayer, FlagAction, RiskTier, Severity};
use tracing::instrument;
use tracing_subscriber::prelude::*;

/// The key the test logs are signed with.
pub const KEY: &str = "export-test-key";

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

/// A tool the test needs: `Some` when found; when missing, fails under CI (env `CI` set) and
/// otherwise prints "skipped" and returns `None`.
pub fn require<T>(found: Option<T>, what: &str) -> Option<T> {
    if found.is_some() {
        return found;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required under CI but was not found");
    }
    println!("skipped: {what} not found");
    None
}

fn existing(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find(|p| p.exists()).cloned()
}

/// A python with `cendor-acttrace==1.14.0`: `ACTTRACE_REFERENCE_PYTHON` (set by
/// scripts/test.sh), or the venv that script creates.
pub fn reference_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ACTTRACE_REFERENCE_PYTHON").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    existing(&[PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/refvenv/bin/python")])
}

/// A python with compliance-trestle: `ACTTRACE_TRESTLE_PYTHON`.
pub fn trestle_python() -> Option<PathBuf> {
    std::env::var_os("ACTTRACE_TRESTLE_PYTHON").map(PathBuf::from)
}

/// Headless Chromium: `ACTTRACE_CHROMIUM`, or `chromium`/`chromium-browser` on PATH.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ACTTRACE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Runs the reference verifier: `(ok, detail)`.
pub fn reference_verify(python: &Path, file: &Path, key: Option<&str>) -> (bool, String) {
    let script = "import sys, json\nfrom cendor.acttrace import verify\nkey = sys.argv[2] or None\nok, detail = verify(sys.argv[1], key=key)\nprint(json.dumps([ok, detail]))\n";
    let out = Command::new(python)
        .args(["-c", script])
        .arg(file)
        .arg(key.unwrap_or(""))
        .output()
        .expect("run the reference python");
    assert!(
        out.status.success(),
        "reference verifier crashed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (v[0].as_bool().unwrap(), v[1].as_str().unwrap().to_owned())
}

/// The pack's lines parsed with serde_json (independently of the host's parser).
pub fn pack_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The conformance vectors directory.
pub fn vectors() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors"))
}
