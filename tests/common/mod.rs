//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use acttrace::verify::{Verification, VerifyOptions, verify_path};
use acttrace::{AuditGuard, AuditLayer};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::Layered;
use tracing_subscriber::prelude::*;

/// The log's lines as JSON values (parsed with serde_json, independently of our parser).
pub fn entries(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn types(entries: &[serde_json::Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

pub fn of_type<'a>(entries: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    entries.iter().filter(|e| e["type"] == t).collect()
}

/// Verifies with the expected head and count, asserting success.
pub fn assert_verifies(path: &Path, head: &acttrace::ChainTip) -> Verification {
    let r = verify_path(
        path,
        &VerifyOptions {
            expected_head: Some(head.head.clone()),
            expect_entries: Some(head.next_seq),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(r.ok(), "{}: {:#?}", r.summary(), r.problems);
    r
}

pub type Subscriber = Layered<AuditLayer, Registry>;

/// A subscriber with an audit layer writing to `path`.
pub fn subscriber(path: &Path) -> (Subscriber, AuditGuard) {
    let (layer, guard) = AuditLayer::builder()
        .system("test-system")
        .path(path)
        .build()
        .unwrap();
    (tracing_subscriber::registry().with(layer), guard)
}

/// The Python with the reference (cendor-acttrace 1.14.0) installed, from
/// `ACTTRACE_REFERENCE_PYTHON`; `None` (the test says it skipped) outside CI, a failure under CI.
pub fn reference_python() -> Option<String> {
    match std::env::var("ACTTRACE_REFERENCE_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "ACTTRACE_REFERENCE_PYTHON is not set under CI; .ci/run must create the reference venv"
            )
        }
        _ => {
            eprintln!(
                "skipped: set ACTTRACE_REFERENCE_PYTHON to a python with cendor-acttrace==1.14.0"
            );
            None
        }
    }
}

/// The reference verifier's `(ok, detail)` for `path`.
pub fn reference_verify(
    python: &str,
    path: &Path,
    key: Option<&str>,
    head: Option<&str>,
) -> (bool, String) {
    let script = r#"
import json, os, sys
os.environ.setdefault("CENDOR_TELEMETRY", "off")
from cendor.acttrace import verify
path, key, head = sys.argv[1], sys.argv[2] or None, sys.argv[3] or None
print(json.dumps(verify(path, key=key, expected_head=head)))
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(path)
        .arg(key.unwrap_or(""))
        .arg(head.unwrap_or(""))
        .output()
        .expect("run the reference python");
    assert!(
        out.status.success(),
        "reference python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: (bool, String) = serde_json::from_slice(&out.stdout).unwrap();
    v
}
