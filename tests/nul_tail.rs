//! Issue #12, item 7: a run of NUL bytes that power loss left at the end of a log (XFS, ext4 in
//! writeback mode) is recovered like a torn last line — cut, kept in `<log>.torn.N`, chained
//! as a `recovery` entry — by `acttrace repair` and by a writer reopening the log. NUL bytes in
//! the middle of a file (followed by more lines) are still corruption.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use acttrace::verify::{ProblemKind, VerifyOptions, verify_path};
use acttrace::writer::{RepairOutcome, repair};
use acttrace::{AuditLayer, Error};
use common::*;
use sha2::Digest;

fn acttrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acttrace"))
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

/// A sound unsigned log of `audit_open` and five tool calls; its text.
fn write_log(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || {
        for i in 0..5u64 {
            acttrace::tool_call!(name = "op", i);
        }
    });
    drop(guard);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn item7_a_nul_padded_tail_is_reported_as_torn_and_repair_recovers_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = write_log(dir.path());
    append(&path, &[0u8; 4096]);

    let r = verify_path(&path, &VerifyOptions::default()).unwrap();
    assert_eq!(r.problem_count, 1, "{:#?}", r.problems);
    assert_eq!(r.problems[0].kind, ProblemKind::TornLine);
    assert!(
        r.problems[0].detail.contains("4096 NUL bytes"),
        "{}",
        r.problems[0].detail
    );
    let torn = r.torn_tail.expect("a NUL tail is a torn tail");
    assert_eq!(
        (torn.line, torn.offset, torn.nul_bytes),
        (7, text.len() as u64, 4096)
    );

    let out = acttrace().arg("verify").arg(&path).output().unwrap();
    assert_eq!(code(&out), 1);
    let out = acttrace().arg("repair").arg(&path).output().unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("NUL-padded tail") && stdout.contains("audit.jsonl.torn.1"),
        "{stdout}"
    );
    let out = acttrace()
        .arg("verify")
        .arg(&path)
        .args(["--expect-entries", "7"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));

    let side = std::fs::read(dir.path().join("audit.jsonl.torn.1")).unwrap();
    assert_eq!(side, vec![0u8; 4096]);
    let es = entries(&path);
    assert_eq!(types(&es)[6], "recovery");
    let rec = &es[6]["payload"];
    assert_eq!(rec["reason"], "NUL-padded tail");
    assert_eq!(rec["line"], 7);
    assert_eq!(rec["cut_bytes"], 4096);
    assert_eq!(rec["nul_bytes"], 4096);
    assert_eq!(rec["cut_sha256"], sha256_hex(&side));
    // The log before the tail is untouched.
    assert!(std::fs::read_to_string(&path).unwrap().starts_with(&text));
}

#[test]
fn item7_a_torn_line_followed_by_nuls_is_cut_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = write_log(dir.path());
    // The last entry cut short (inside a multi-byte character's neighbourhood does not matter
    // here), then the NUL bytes of the pages that never reached the disk.
    let last_start = text[..text.len() - 1].rfind('\n').unwrap() + 1;
    let mut damaged = text.as_bytes()[..text.len() - 30].to_vec();
    damaged.extend_from_slice(&[0u8; 1000]);
    std::fs::write(&path, &damaged).unwrap();
    let tail = damaged[last_start..].to_vec();

    match repair(&path, None).unwrap() {
        RepairOutcome::Repaired {
            recovery,
            recovery_seq,
        } => {
            assert_eq!(recovery_seq, Some(5));
            assert_eq!(recovery.reason(), "torn last line with a NUL-padded tail");
            assert_eq!(recovery.line, 6);
            assert_eq!(recovery.nul_bytes, 1000);
            assert_eq!(recovery.cut_bytes, tail.len() as u64);
            assert_eq!(recovery.cut_sha256, sha256_hex(&tail));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read(dir.path().join("audit.jsonl.torn.1")).unwrap(),
        tail
    );
    let r = verify_path(&path, &VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{}", r.summary());
    assert_eq!(r.entries, 6);
}

#[test]
fn item7_a_whole_last_line_whose_newline_became_nuls_is_cut_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = write_log(dir.path());
    let last_start = text[..text.len() - 1].rfind('\n').unwrap() + 1;
    let mut damaged = text.as_bytes()[..text.len() - 1].to_vec();
    damaged.extend_from_slice(&[0u8; 7]);
    std::fs::write(&path, &damaged).unwrap();
    let r = verify_path(&path, &VerifyOptions::default()).unwrap();
    assert_eq!(r.torn_tail.map(|t| t.offset), Some(last_start as u64));
    assert!(matches!(
        repair(&path, None).unwrap(),
        RepairOutcome::Repaired {
            recovery_seq: Some(5),
            ..
        }
    ));
    assert!(verify_path(&path, &VerifyOptions::default()).unwrap().ok());
}

#[test]
fn item7_a_writer_reopening_a_nul_padded_log_recovers_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_log(dir.path());
    append(&path, &[0u8; 4096]);

    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || acttrace::tool_call!(name = "after"));
    let tip = guard.flush().unwrap();
    drop(guard);
    let es = entries(&path);
    assert_eq!(
        types(&es)[5..],
        ["tool_call", "audit_resume", "recovery", "tool_call"]
    );
    assert_eq!(es[7]["payload"]["reason"], "NUL-padded tail");
    assert_eq!(es[7]["payload"]["cut_bytes"], 4096);
    assert_verifies(&path, &tip);
}

#[test]
fn item7_nuls_in_the_middle_of_a_log_are_corruption_not_a_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = write_log(dir.path());
    let lines: Vec<&str> = text.lines().collect();
    // A line of NULs followed by more lines, NULs then a newline at the end, and a line cut
    // short and padded with NULs, then a newline.
    let cases = [
        format!(
            "{}\n{}\n{}\n",
            lines[..3].join("\n"),
            "\0".repeat(512),
            lines[3..].join("\n")
        ),
        format!("{}\n{}\n", lines.join("\n"), "\0".repeat(64)),
        format!("{}\n{}", lines[..5].join("\n"), &lines[5][..40]) + &"\0".repeat(8) + "\n",
    ];
    for (i, case) in cases.iter().enumerate() {
        std::fs::write(&path, case).unwrap();
        let r = verify_path(&path, &VerifyOptions::default()).unwrap();
        assert!(r.torn_tail.is_none(), "case {i}");
        assert!(
            r.problems
                .iter()
                .any(|p| p.kind == ProblemKind::Malformed && p.detail.contains("NUL bytes")),
            "case {i}: {:#?}",
            r.problems
        );
        let err = repair(&path, None).unwrap_err();
        assert!(matches!(err, Error::CorruptLog { .. }), "case {i}: {err}");
        let err = AuditLayer::builder().path(&path).build().err().unwrap();
        assert!(err.to_string().contains("NUL bytes"), "case {i}: {err}");
        let out = acttrace().arg("repair").arg(&path).output().unwrap();
        assert_eq!(code(&out), 1, "case {i}");
        // Nothing was cut.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), *case, "case {i}");
    }
}

#[test]
fn item7_garbage_before_trailing_nuls_is_not_a_crash_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (path, text) = write_log(dir.path());
    std::fs::write(&path, format!("{text}not json{}", "\0".repeat(16))).unwrap();
    let r = verify_path(&path, &VerifyOptions::default()).unwrap();
    assert!(r.torn_tail.is_none());
    assert_eq!(r.problems[0].kind, ProblemKind::Malformed);
    assert!(repair(&path, None).is_err());
}
