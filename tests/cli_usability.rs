//! Issue #15 sections 4 and 5: the command line's wording, keys, export directories, output
//! formats, and the HTML report a compliance officer reads.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use acttrace::export::{ExportOptions, Format, IntegrityState, export_path};
use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::{AuditLayer, SigningKey};
use common::*;
use tracing_subscriber::prelude::*;

fn acttrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acttrace"))
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn key_file(dir: &Path, key: &str) -> std::path::PathBuf {
    let p = dir.join(format!("key-{}", key.len()));
    std::fs::write(&p, format!("{key}\n")).unwrap();
    p
}

#[test]
fn more_entries_than_expected_is_not_called_removal() {
    let dir = tempfile::tempdir().unwrap();
    let log = quickstart_log(dir.path(), false);
    let n = verify_path(&log, &VerifyOptions::default())
        .unwrap()
        .entries;
    let more = verify_path(
        &log,
        &VerifyOptions {
            expect_entries: Some(n - 2),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    let s = more.summary();
    assert!(s.contains("more entries than expected"), "{s}");
    assert!(!s.contains("removed"), "{s}");
    let fewer = verify_path(
        &log,
        &VerifyOptions {
            expect_entries: Some(n + 2),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(
        fewer.summary().contains("entries removed?"),
        "{}",
        fewer.summary()
    );
}

#[test]
fn a_wrong_key_is_named_once_instead_of_a_line_per_entry() {
    let dir = tempfile::tempdir().unwrap();
    let log = quickstart_log(dir.path(), true);
    let wrong = key_file(dir.path(), "not-the-key-at-all-0000");
    let out = acttrace()
        .arg("verify")
        .arg(&log)
        .arg("--key-file")
        .arg(&wrong)
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(code(&out), 1, "{t}");
    assert_eq!(t.matches("wrong key?").count(), 1, "{t}");
    assert_eq!(t.matches("bad signature").count(), 1, "{t}");
    assert!(t.contains("bad signature at seq 0"), "{t}");
    let n = verify_path(&log, &VerifyOptions::default())
        .unwrap()
        .entries;
    assert!(t.contains(&format!("{n} of {n} signed entries")), "{t}");
}

#[test]
fn one_bad_signature_among_good_ones_is_not_called_a_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = quickstart_log(dir.path(), true);
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut row: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    row["sig"] = serde_json::Value::String("0".repeat(64));
    lines[2] = serde_json::to_string(&row).unwrap();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let v = verify_path(
        &log,
        &VerifyOptions {
            key: Some(key()),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(!v.ok());
    assert!(!v.summary().contains("wrong key"), "{}", v.summary());
}

#[test]
fn keygen_writes_a_private_32_byte_hex_key_once_and_never_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("audit.key");
    let out = acttrace()
        .args(["keygen", "hmac"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let key = std::fs::read_to_string(&out_path).unwrap();
    let hex = key.trim_end();
    assert_eq!(hex.len(), 64);
    assert!(hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
    assert!(!text(&out).contains(hex), "the key was printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwrites.
    let again = acttrace()
        .args(["keygen", "hmac"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(code(&again), 2);
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), key);
    // Printed only when asked (`-`), and the key signs a new log.
    let printed = acttrace().args(["keygen", "hmac", "-"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&printed.stdout).trim_end().len(),
        64
    );
    let log = dir.path().join("signed.jsonl");
    let (_layer, guard) = AuditLayer::builder()
        .path(&log)
        .signing_key_from_file(&out_path)
        .build()
        .unwrap();
    guard.shutdown(std::time::Duration::from_secs(10)).unwrap();
}

#[test]
fn short_keys_cannot_sign_new_logs_but_still_verify_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let err = AuditLayer::builder()
        .path(dir.path().join("a.jsonl"))
        .signing_key(SigningKey::from_bytes("k").unwrap())
        .build()
        .err()
        .expect("a 1-byte key is refused")
        .to_string();
    assert!(
        err.contains("1 bytes") && err.contains("at least 16"),
        "{err}"
    );
    // The reference vectors' 7-byte keys still verify the logs they signed.
    let vdir = vectors().join("cendor-py-1.14.0");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vdir.join("manifest.json")).unwrap())
            .unwrap();
    let signed = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["args"]["key"] == "key-7-1" && c["expect_ok"] == true)
        .expect("a signed reference vector");
    let v = verify_path(
        vdir.join(signed["file"].as_str().unwrap()),
        &VerifyOptions {
            key: Some(SigningKey::from_bytes("key-7-1").unwrap()),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(v.ok(), "{}", v.summary());
}

#[test]
fn an_empty_path_is_named_as_such() {
    let err = verify_path("", &VerifyOptions::default())
        .unwrap_err()
        .to_string();
    assert!(!err.contains("cannot open :"), "{err}");
    assert!(err.contains("an empty path"), "{err}");
    let out = acttrace().args(["verify", ""]).output().unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(!text(&out).contains("cannot open :"), "{}", text(&out));
}

#[test]
fn one_sign_off_is_singular_and_summary_names_what_was_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("one.jsonl");
    let (layer, guard) = AuditLayer::builder().path(&log).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!("d", audit.decision = "one", actor = "a");
        let _g = span.enter();
        acttrace::oversight!(reviewer = "r", action = "approved");
    });
    guard.shutdown(std::time::Duration::from_secs(10)).unwrap();
    let out = acttrace().arg("summary").arg(&log).output().unwrap();
    let t = text(&out);
    assert_eq!(code(&out), 0, "{t}");
    assert!(t.contains("1 sign-off;"), "{t}");
    assert!(!t.contains("1 sign-offs"), "{t}");
    assert!(
        t.contains("integrity:   VERIFIED chain; signatures and completeness NOT CHECKED"),
        "{t}"
    );
}

#[test]
fn summary_help_does_not_promise_to_sign_a_pack() {
    let out = acttrace().args(["summary", "--help"]).output().unwrap();
    let t = text(&out);
    assert!(
        !t.contains("signs the pack header.") || t.contains("for `export`"),
        "{t}"
    );
    assert!(t.contains("for `export`"), "{t}");
}

#[test]
fn export_infers_the_format_from_the_extension_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let log = quickstart_log(dir.path(), false);
    let html = dir.path().join("report.html");
    let out = acttrace()
        .arg("export")
        .arg(&log)
        .args(["--framework", "eu_ai_act", "-o"])
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    let pdf = dir.path().join("report.pdf");
    let out = acttrace()
        .arg("export")
        .arg(&log)
        .args(["--framework", "eu_ai_act", "-o"])
        .arg(&pdf)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("--format"), "{}", text(&out));
    assert!(!pdf.exists());
}

#[test]
fn verify_and_summary_accept_an_export_directory_and_catch_an_edited_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = quickstart_log(dir.path(), true);
    let kf = key_file(dir.path(), KEY);
    let ev = dir.path().join("ev");
    let out = acttrace()
        .arg("export")
        .arg(&log)
        .args(["--framework", "eu_ai_act", "--format", "dir", "--key-file"])
        .arg(&kf)
        .arg("-o")
        .arg(&ev)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let verify = || {
        acttrace()
            .arg("verify")
            .arg(&ev)
            .arg("--key-file")
            .arg(&kf)
            .output()
            .unwrap()
    };
    let ok = verify();
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    assert!(
        text(&ok).contains("4 files match manifest.json"),
        "{}",
        text(&ok)
    );
    let summary = acttrace().arg("summary").arg(&ev).output().unwrap();
    assert_eq!(code(&summary), 0, "{}", text(&summary));
    assert!(text(&summary).contains("integrity:"), "{}", text(&summary));
    // One byte of the report changed: the manifest catches it.
    let report = ev.join("report.html");
    let mut bytes = std::fs::read(&report).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&report, bytes).unwrap();
    let bad = verify();
    assert_eq!(code(&bad), 1, "{}", text(&bad));
    assert!(
        text(&bad).contains("report.html: SHA-256"),
        "{}",
        text(&bad)
    );
}

fn html_of(dir: &Path, log: &Path, key: Option<SigningKey>, expect_entries: Option<u64>) -> String {
    let out = dir.join(format!("r-{}-{:?}.html", key.is_some(), expect_entries));
    let mut opts = ExportOptions::new("eu_ai_act", Format::Html);
    opts.key = key;
    opts.expect_entries = expect_entries;
    export_path(log, &out, &opts).unwrap();
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn the_html_banner_has_three_states() {
    let dir = tempfile::tempdir().unwrap();
    let log = quickstart_log(dir.path(), true);
    let n = verify_path(&log, &VerifyOptions::default())
        .unwrap()
        .entries;
    let partial = html_of(dir.path(), &log, None, None);
    assert!(partial.contains(r#"data-state="verified_partial""#));
    assert!(partial.contains("signatures and completeness NOT checked"));
    assert!(!partial.contains("Source log verified and complete"));
    let complete = html_of(dir.path(), &log, Some(key()), Some(n));
    assert!(complete.contains(r#"data-state="verified""#));
    assert!(complete.contains("Source log verified and complete"));
    let mut opts = ExportOptions::new("eu_ai_act", Format::Html);
    opts.expect_entries = Some(n + 1);
    opts.allow_unverified = true;
    let out = dir.path().join("failed.html");
    export_path(&log, &out, &opts).unwrap();
    let failed = std::fs::read_to_string(out).unwrap();
    assert!(failed.contains(r#"data-state="failed""#));
    assert!(failed.contains("UNVERIFIED"));
    let v = verify_path(&log, &VerifyOptions::default()).unwrap();
    assert_eq!(
        IntegrityState::of(&v),
        IntegrityState::VerifiedPartial {
            signatures_unchecked: true,
            completeness_unchecked: true
        }
    );
}

#[test]
fn the_html_decisions_show_outcome_duration_cost_nesting_and_labelled_fields() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("nested.jsonl");
    let (layer, guard) = AuditLayer::builder().path(&log).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let outer = tracing::info_span!("o", audit.decision = "outer", actor = "a");
        let _o = outer.enter();
        acttrace::llm_call!(
            provider = "openai",
            model = "gpt-4o",
            input_tokens = 812u64,
            output_tokens = 64u64,
            cost = "0.0123 USD"
        );
        let inner = tracing::info_span!("i", audit.decision = "inner", actor = "a");
        let _i = inner.enter();
        acttrace::oversight!(reviewer = "ops-reviewer-17", action = "approved");
    });
    guard.shutdown(std::time::Duration::from_secs(10)).unwrap();
    let html = html_of(dir.path(), &log, None, None);
    for col in [
        "<span>Outcome</span>",
        "<span>Duration</span>",
        "<span>Cost</span>",
    ] {
        assert!(html.contains(col), "missing column {col}");
    }
    assert!(html.contains(r#"data-outcome="ok""#));
    assert!(html.contains("0.0123 USD"));
    assert!(html.contains(" ms</span>"));
    assert!(html.contains(r#"data-depth="1""#), "nesting not shown");
    assert!(html.contains("nested in"));
    // Labelled fields, raw JSON behind a toggle.
    assert!(html.contains(r#"<dt>Model</dt><dd data-field="model">gpt-4o</dd>"#));
    assert!(html.contains(r#"<dd data-field="usage">812 in / 64 out</dd>"#));
    assert!(html.contains(r#"<dd data-field="reviewer">ops-reviewer-17</dd>"#));
    assert!(html.contains(r#"<details class="raw"><summary>raw JSON</summary>"#));
    // Control ids do not wrap mid-token.
    assert!(
        html.contains(".cid{white-space:nowrap}") || html.contains(",.cid{white-space:nowrap}")
    );
    assert!(html.contains(r#"<span class="cid">"#));
}
