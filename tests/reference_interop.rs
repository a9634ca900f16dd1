//! Logs written by this crate, checked by the reference verifier (Python cendor-acttrace
//! 1.14.0). Needs `ACTTRACE_REFERENCE_PYTHON`: a Python with `cendor-acttrace==1.14.0`
//! installed; `.ci/run` creates one. Without it the test says it was skipped, except under CI,
//! where a missing reference is a failure.

use std::path::Path;

use acttrace::{AuditLayer, ChainTip, HashAlg, SigningKey};
use tracing_subscriber::prelude::*;

mod common;
use common::{reference_python, reference_verify};

/// Writes a log full of the values whose encoding the format pins down.
fn write_tricky_log(path: &Path, key: Option<&str>, alg: HashAlg) -> ChainTip {
    let mut b = AuditLayer::builder()
        .system("interop-ü")
        .path(path)
        .hash_alg(alg);
    if let Some(k) = key {
        b = b.signing_key(SigningKey::from_bytes(k).unwrap());
    }
    let (layer, guard) = b.build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let d = tracing::info_span!(
            "d",
            audit.decision = "interop",
            input = "日本語 🚀 \u{2028} \"q\" \\ \t\n\u{1f}/"
        );
        let _e = d.enter();
        acttrace::llm_call!(
            provider = "openai",
            model = "gpt-4o",
            input_tokens = 4390u64,
            latency_ms = 1e-5,
            big = 3e16,
            tiny = 2.5e-7,
            whole = 1.0,
            neg = -0.0,
            max = u64::MAX,
            huge = u128::MAX,
            signed = i64::MIN,
            nan = f64::NAN
        );
        acttrace::tool_call!(name = "lookup", arguments = ?vec!["a", "b"], ok = true);
        acttrace::oversight!(reviewer = "ops", action = "approved", note = "");
    });
    guard.flush().unwrap()
}

#[test]
fn the_reference_verifier_accepts_our_logs() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for key in [None, Some("interop-key-0123456")] {
        let path = dir.path().join(format!("log-{}.jsonl", key.is_some()));
        let tip = write_tricky_log(&path, key, HashAlg::Sha256);
        let (ok, detail) = reference_verify(&python, &path, key, Some(&tip.head));
        assert!(
            ok,
            "reference verifier rejected our log ({key:?}): {detail}"
        );
        assert!(
            detail.starts_with(&format!("ok: {} entries", tip.next_seq)),
            "{detail}"
        );
        if key.is_some() {
            assert!(detail.contains("signatures verified"), "{detail}");
            // And it notices a wrong key and an edit: the acceptance is not vacuous.
            assert!(!reference_verify(&python, &path, Some("other-key"), None).0);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = dir.path().join("edited.jsonl");
        std::fs::write(&edited, text.replacen("lookup", "lookuq", 1)).unwrap();
        let (ok, detail) = reference_verify(&python, &edited, key, None);
        assert!(!ok && detail.contains("hash mismatch"), "{detail}");
    }
}

#[test]
fn blake3_chains_are_not_readable_by_the_reference_as_documented() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b3.jsonl");
    write_tricky_log(&path, None, HashAlg::Blake3);
    let (ok, detail) = reference_verify(&python, &path, None, None);
    assert!(
        !ok && detail.contains("tampered entry at seq 0"),
        "{detail}"
    );
}
