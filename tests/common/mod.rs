//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use acttrace::verify::{Verification, VerifyOptions, verify_path};
use acttrace::{AuditGuard, AuditLayer};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::Layered;
use tracing_subscriber::prelude::*;

mod log_text;
#[allow(unused_imports)] // Not every test binary searches a log for secrets.
pub use log_text::text_without_random_hex;

/// The lines of a log or pack as JSON values (parsed with serde_json, independently of the
/// crate's own parser).
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

pub mod checkpoints;
mod fixtures;
mod reference;
mod tools;
// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use fixtures::*;
#[allow(unused_imports)]
pub use reference::{reference_python, reference_verify};
#[allow(unused_imports)]
pub use tools::*;

/// The signing key of the GenAI tests' logs.
pub const GENAI_KEY: &str = "genai-test-key-0123";

/// A signed log at `path` with the given GenAI capture.
pub fn genai_subscriber(
    path: &Path,
    capture: acttrace::genai::GenAiCapture,
) -> (Subscriber, AuditGuard) {
    let (layer, guard) = AuditLayer::builder()
        .system("genai-test")
        .path(path)
        .signing_key(acttrace::SigningKey::from_bytes(GENAI_KEY).unwrap())
        .gen_ai(capture)
        .build()
        .unwrap();
    (tracing_subscriber::registry().with(layer), guard)
}

/// Runs `f` inside a decision span under `subscriber`.
pub fn in_decision(subscriber: Subscriber, f: impl FnOnce()) {
    tracing::subscriber::with_default(subscriber, || {
        let d = tracing::info_span!("d", audit.decision = "x");
        let _d = d.enter();
        f();
    });
}

/// Mounts a tmpfs of `size` at `dir`; `false` (with a message) where that is impossible.
pub fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output();
    match out {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "skipped: cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("skipped: cannot run mount: {e}");
            false
        }
    }
}

/// Unmounts what [`mount_tmpfs`] mounted when dropped.
pub struct Unmount<'a>(pub &'a Path);
impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0).status();
    }
}
