//! The command line: exit codes (0 ok, 1 integrity failure, 2 usage) and messages.

mod common;

use std::process::{Command, Output};

use common::*;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .args(args)
        .env("EXPORT_TEST_KEY", KEY)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn export_summary_and_verify_excerpt_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let log = log.to_str().unwrap();
    let out = dir.path().join("ev");
    let o = run(&[
        "export",
        log,
        "--framework",
        "all",
        "--format",
        "dir",
        "-o",
        out.to_str().unwrap(),
        "--key-env",
        "EXPORT_TEST_KEY",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("exported 15 entries"));
    assert!(out.join("manifest.json").exists());

    let ex = dir.path().join("ex.jsonl");
    let o = run(&[
        "export",
        log,
        "--framework",
        "gdpr",
        "-o",
        ex.to_str().unwrap(),
        "--key-env",
        "EXPORT_TEST_KEY",
        "--decision",
        D1,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&[
        "verify-excerpt",
        ex.to_str().unwrap(),
        "--key-env",
        "EXPORT_TEST_KEY",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let edited = std::fs::read_to_string(&ex)
        .unwrap()
        .replace("policy.md", "policy.txt");
    std::fs::write(&ex, edited).unwrap();
    let o = run(&[
        "verify-excerpt",
        ex.to_str().unwrap(),
        "--key-env",
        "EXPORT_TEST_KEY",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("tampered entry at seq 2"));

    let o = run(&["summary", log, "--key-env", "EXPORT_TEST_KEY"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("decisions:   2"));
    let o = run(&["summary", log, "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["summary"]["decisions"], 2);
}

#[test]
fn errors_have_the_right_exit_codes_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let log = log.to_str().unwrap();
    let out = dir.path().join("p.jsonl");
    let out = out.to_str().unwrap();
    // Unknown framework: usage (2).
    let o = run(&["export", log, "--framework", "hipaa", "-o", out]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains(
            "unknown framework \"hipaa\"; available: eu_ai_act, gdpr, iso_42001, nist_rmf, all"
        ),
        "{}",
        text(&o)
    );
    // Malformed mapping file: usage (2), naming the file and key.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"schema": "acttrace-mapping/1", "id": "x", "version": 3, "title": "t", "entry_types": {}}"#).unwrap();
    let o = run(&[
        "export",
        log,
        "--framework",
        "x",
        "-o",
        out,
        "--mapping",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains(&format!(
            "mapping file {}: key `version`: must be a string",
            bad.display()
        )),
        "{}",
        text(&o)
    );
    // A log that does not verify: integrity (1), with the verifier's message.
    let edited = vectors().join("cendor-py-1.14.0/chain0.edit.jsonl");
    let o = run(&[
        "export",
        edited.to_str().unwrap(),
        "--framework",
        "gdpr",
        "-o",
        out,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("the log does not verify: tampered entry at seq 3: hash mismatch"),
        "{}",
        text(&o)
    );
    let o = run(&[
        "export",
        edited.to_str().unwrap(),
        "--framework",
        "gdpr",
        "-o",
        out,
        "--allow-unverified",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("UNVERIFIED"));
    let o = run(&["summary", edited.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    // Wrong key: integrity (1). Missing key variable: usage (2).
    std::fs::write(dir.path().join("k"), "wrong\n").unwrap();
    let o = run(&[
        "export",
        log,
        "--framework",
        "gdpr",
        "-o",
        out,
        "--key-file",
        dir.path().join("k").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = run(&[
        "export",
        log,
        "--framework",
        "gdpr",
        "-o",
        out,
        "--key-env",
        "NO_SUCH_VAR_FOR_TEST",
    ]);
    assert_eq!(o.status.code(), Some(2));
    // Unreadable log: usage (2). Bad format value: clap usage (2).
    let o = run(&[
        "export",
        "/nonexistent/log.jsonl",
        "--framework",
        "gdpr",
        "-o",
        out,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&[
        "export",
        log,
        "--framework",
        "gdpr",
        "--format",
        "pdf",
        "-o",
        out,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "export",
        log,
        "--framework",
        "gdpr",
        "-o",
        out,
        "--key-env",
        "A",
        "--key-file",
        "B",
    ]);
    assert_eq!(o.status.code(), Some(2), "one key source at a time");
}
