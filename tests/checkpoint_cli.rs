//! The checkpoint commands (issue #13): `verify --vkey/--vkey-file/--expect-checkpoint`,
//! `checkpoint`, `prove` and `verify-proof`, on logs built by tests/common/checkpoints.rs.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use acttrace::checkpoint::{self, Checkpoint};
use acttrace::verify::{ProofText, parse_proof};
use common::checkpoints::*;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// 1 audit_open + 5 events, checkpoint (seq 6), 4 events, checkpoint (seq 11), 3 events.
fn sample() -> ChainBuilder {
    let mut b = ChainBuilder::example();
    b.events(5).checkpoint().events(4).checkpoint().events(3);
    b
}

/// [`sample`] written to `log.jsonl` in `dir`.
fn sample_log(dir: &Path) -> (std::path::PathBuf, ChainBuilder) {
    let log = dir.join("log.jsonl");
    let b = sample();
    b.write(&log);
    (log, b)
}

fn note(b: &ChainBuilder, seq: usize) -> String {
    b.entries[seq]
        .payload
        .get("note")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn verify_with_a_vkey_needs_no_hmac_key_and_reports_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, _) = sample_log(tmp.path());
    let vkey = example_vkey_text();
    let o = run(&["verify", p(&log), "--vkey", &vkey]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("2 checkpoints verified, the last at tree size 11"),
        "{out}"
    );
    assert!(out.contains("end not authenticated: the log may have been cut after any checkpoint"));
    assert!(out.contains("final 3 entries not covered by a checkpoint"));

    let keys = tmp.path().join("vkeys.txt");
    std::fs::write(&keys, format!("# the log's key\n{vkey}\n\n")).unwrap();
    let o = run(&["verify", p(&log), "--vkey-file", p(&keys), "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let c = &j["results"][0]["checkpoints"];
    assert_eq!(c["seen"], 2);
    assert_eq!(c["verified"], 2);
    assert_eq!(c["last_checked_size"], 11);
    assert_eq!(c["uncovered_entries"], 3);
    assert_eq!(c["origin"], ORIGIN);

    // Another origin's key: nothing verifies the checkpoints.
    let other = signer_for("other.example/log", 4).verifier().to_string();
    let o = run(&["verify", p(&log), "--vkey", &other]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // A malformed key is a usage error naming it.
    let o = run(&["verify", p(&log), "--vkey", "not-a-key"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--vkey \"not-a-key\""));
}

#[test]
fn a_resealed_edit_fails_and_an_expected_checkpoint_catches_truncation() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log.jsonl");
    let b = sample();
    let vkey = example_vkey_text();
    let mut lines = b.lines();
    lines[3] = lines[3].replace("credit_score", "credit_sc0re");
    std::fs::write(&log, reseal(&lines, Some(&hmac_key()))).unwrap();
    let o = run(&[
        "verify",
        p(&log),
        "--vkey",
        &vkey,
        "--key-env",
        "NO_SUCH_VAR_X",
    ]);
    // The HMAC key variable is unset: a usage error, the key is never guessed.
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["verify", p(&log), "--vkey", &vkey]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("bad checkpoint at seq 6"),
        "{}",
        stdout(&o)
    );

    let held = tmp.path().join("held.note");
    std::fs::write(&held, note(&b, 11)).unwrap();
    std::fs::write(&log, reseal(&b.lines()[..8], Some(&hmac_key()))).unwrap();
    let o = run(&["verify", p(&log), "--vkey", &vkey]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "cut after a checkpoint: {}",
        stdout(&o)
    );
    let o = run(&[
        "verify",
        p(&log),
        "--vkey",
        &vkey,
        "--expect-checkpoint",
        p(&held),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("log shorter than the expected checkpoint (truncated or rolled back)"),
        "{}",
        stdout(&o)
    );
    // A forged expected checkpoint is refused before anything is read.
    std::fs::write(&held, note(&b, 11).replace("\n11\n", "\n12\n")).unwrap();
    let o = run(&[
        "verify",
        p(&log),
        "--vkey",
        &vkey,
        "--expect-checkpoint",
        p(&held),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn checkpoint_prints_the_latest_note() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, b) = sample_log(tmp.path());
    let o = run(&["checkpoint", p(&log), "--vkey", &example_vkey_text()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), note(&b, 11));
    let mut plain = ChainBuilder::example();
    plain.events(2);
    plain.write(&log);
    let o = run(&["checkpoint", p(&log)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no checkpoint"));
}

#[test]
fn inclusion_proofs_verify_with_the_library_and_verify_proof_and_a_flipped_byte_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, b) = sample_log(tmp.path());
    let vkey = example_vkey_text();
    for (seq, size) in [(3u64, None), (0, Some(6u64)), (10, Some(11)), (5, Some(6))] {
        let mut args = vec![
            "prove".to_owned(),
            p(&log).into(),
            "--seq".into(),
            seq.to_string(),
        ];
        if let Some(m) = size {
            args.extend(["--size".into(), m.to_string()]);
        }
        let o = Command::new(env!("CARGO_BIN_EXE_acttrace"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = stdout(&o);
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex "), "{text}");
        // The library's verifier agrees.
        let ProofText::Inclusion(acttrace::checkpoint::TlogProof {
            index,
            hashes,
            checkpoint: note,
            ..
        }) = parse_proof(&text).unwrap()
        else {
            panic!("{text}")
        };
        assert_eq!(index, seq);
        let c = Checkpoint::from_note(&note, &[example_vkey()]).unwrap();
        assert_eq!(c.size, size.unwrap_or(11));
        let leaf = raw_hash(&b.entries[seq as usize].hash);
        checkpoint::verify_inclusion(&leaf, seq, c.size, &hashes, &c.root).unwrap();

        let proof = tmp.path().join("p.tlog-proof");
        std::fs::write(&proof, &text).unwrap();
        let entry = tmp.path().join("entry.jsonl");
        std::fs::write(&entry, b.entries[seq as usize].to_line()).unwrap();
        let ok = run(&[
            "verify-proof",
            p(&proof),
            "--vkey",
            &vkey,
            "--entry",
            p(&entry),
        ]);
        assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
        let ok = run(&[
            "verify-proof",
            p(&proof),
            "--vkey",
            &vkey,
            "--hash",
            &b.entries[seq as usize].hash,
        ]);
        assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
        // Another entry is not at that index.
        let other = &b.entries[(seq as usize + 1) % 6].hash;
        let bad = run(&["verify-proof", p(&proof), "--vkey", &vkey, "--hash", other]);
        assert_eq!(bad.status.code(), Some(1));
        // A flipped byte in a proof hash (when there is one) or in the checkpoint's root.
        let mut bytes = text.clone().into_bytes();
        let at = text.find("\n\n").unwrap() + 2 + ORIGIN.len() + 4;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        std::fs::write(&proof, &bytes).unwrap();
        let bad = run(&[
            "verify-proof",
            p(&proof),
            "--vkey",
            &vkey,
            "--entry",
            p(&entry),
        ]);
        assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
        if !hashes.is_empty() {
            let line_start = text.find("index ").unwrap();
            let first_hash = text[line_start..].find('\n').unwrap() + line_start + 1;
            let mut bytes = text.clone().into_bytes();
            bytes[first_hash + 3] = if bytes[first_hash + 3] == b'A' {
                b'B'
            } else {
                b'A'
            };
            std::fs::write(&proof, &bytes).unwrap();
            let bad = run(&[
                "verify-proof",
                p(&proof),
                "--vkey",
                &vkey,
                "--entry",
                p(&entry),
            ]);
            assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
        }
    }
}

#[test]
fn a_bad_entry_for_an_inclusion_proof_is_named_by_its_own_file() {
    // Found by fuzzing the CLI: an --entry file that is not an entry was reported under the
    // proof's name.
    let tmp = tempfile::tempdir().unwrap();
    let (log, b) = sample_log(tmp.path());
    let vkey = example_vkey_text();
    let proof = tmp.path().join("p.tlog-proof");
    std::fs::write(&proof, stdout(&run(&["prove", p(&log), "--seq", "3"]))).unwrap();
    let entry = tmp.path().join("bad-entry.jsonl");
    let check = |entry_text: &str| {
        std::fs::write(&entry, entry_text).unwrap();
        run(&[
            "verify-proof",
            p(&proof),
            "--vkey",
            &vkey,
            "--entry",
            p(&entry),
        ])
    };
    let not_json = check("{\"seq\": 3,");
    assert_eq!(not_json.status.code(), Some(1));
    let text = stdout(&not_json);
    assert!(
        text.contains("the entry in ") && text.contains("bad-entry.jsonl: not JSON"),
        "{text}"
    );
    let other = check(&b.entries[4].to_line());
    assert_eq!(other.status.code(), Some(1));
    let text = stdout(&other);
    assert!(
        text.contains("bad-entry.jsonl has seq 4, the proof is for index 3"),
        "{text}"
    );
    let missing = run(&[
        "verify-proof",
        p(&proof),
        "--vkey",
        &vkey,
        "--entry",
        p(&tmp.path().join("absent.jsonl")),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("--entry") && err.contains("absent.jsonl"),
        "{err}"
    );
}

#[test]
fn consistency_proofs_in_the_witness_body_verify_and_a_flipped_byte_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log.jsonl");
    let mut b = sample();
    b.checkpoint(); // seq 15, covering 0..15
    b.write(&log);
    let vkey = example_vkey_text();
    let old = tmp.path().join("old.note");
    std::fs::write(&old, note(&b, 6)).unwrap();
    let o = run(&["prove", p(&log), "--from-size", "6", "--to-size", "15"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = stdout(&o);
    assert!(text.starts_with("old 6\n"), "{text}");
    assert!(text.ends_with(&note(&b, 15)), "{text}");
    let ProofText::Consistency {
        hashes,
        checkpoint: new_note,
        ..
    } = parse_proof(&text).unwrap()
    else {
        panic!()
    };
    let new = Checkpoint::from_note(&new_note, &[example_vkey()]).unwrap();
    let old_c = Checkpoint::from_note(&note(&b, 6), &[example_vkey()]).unwrap();
    checkpoint::verify_consistency(6, 15, &old_c.root, &new.root, &hashes).unwrap();

    let proof = tmp.path().join("c.txt");
    std::fs::write(&proof, &text).unwrap();
    let ok = run(&[
        "verify-proof",
        p(&proof),
        "--vkey",
        &vkey,
        "--old-checkpoint",
        p(&old),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    let mut bytes = text.clone().into_bytes();
    bytes[8] = if bytes[8] == b'A' { b'B' } else { b'A' };
    std::fs::write(&proof, &bytes).unwrap();
    let bad = run(&[
        "verify-proof",
        p(&proof),
        "--vkey",
        &vkey,
        "--old-checkpoint",
        p(&old),
    ]);
    assert_eq!(bad.status.code(), Some(1), "{}", stdout(&bad));
    // The old checkpoint of another size does not fit the proof.
    std::fs::write(&proof, &text).unwrap();
    std::fs::write(&old, note(&b, 11)).unwrap();
    let bad = run(&[
        "verify-proof",
        p(&proof),
        "--vkey",
        &vkey,
        "--old-checkpoint",
        p(&old),
    ]);
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn a_proof_at_a_size_without_checkpoint_is_unsigned_and_does_not_verify_and_caps_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("log.jsonl");
    sample().write(&log);
    let o = run(&["prove", p(&log), "--seq", "2", "--size", "9"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unsigned tree head"));
    let proof = tmp.path().join("p");
    std::fs::write(&proof, stdout(&o)).unwrap();
    let o = run(&[
        "verify-proof",
        p(&proof),
        "--vkey",
        &example_vkey_text(),
        "--hash",
        &"00".repeat(32),
    ]);
    assert_eq!(o.status.code(), Some(1));
    // Beyond the log, or more leaves than the cap: clear errors.
    let o = run(&["prove", p(&log), "--seq", "2", "--size", "99"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("beyond the log's"));
    let o = run(&["prove", p(&log), "--seq", "2", "--max-leaves", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("more than 5 entries"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
