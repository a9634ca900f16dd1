//! The `acttrace` binary and the quickstart example, run as processes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use acttrace::SigningKey;
use acttrace::verify::{VerifyOptions, verify_reader};

const KEY: &str = "cli-test-key-7f3a";

fn acttrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acttrace"))
}

/// The quickstart example's binary, which `cargo test` builds beside the test binaries.
fn quickstart() -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_acttrace"))
        .parent()
        .unwrap()
        .join("examples/quickstart");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test`, which builds examples",
        bin.display()
    );
    let mut c = Command::new(bin);
    c.env("ACTTRACE_KEY", KEY);
    c
}

fn write_quickstart_log(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("audit.jsonl");
    let out = quickstart().arg(&log).output().unwrap();
    assert!(
        out.status.success(),
        "quickstart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_file = dir.join("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    (log, key_file)
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

#[test]
fn quickstart_log_verifies_and_every_single_byte_change_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key_file) = write_quickstart_log(dir.path());
    let out = acttrace()
        .arg("verify")
        .arg(&log)
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}");
    assert!(
        stdout.contains("ok: 23 entries") && stdout.contains("signatures verified"),
        "{stdout}"
    );

    let text = std::fs::read(&log).unwrap();
    let last_hash = {
        let last = String::from_utf8_lossy(&text)
            .lines()
            .last()
            .unwrap()
            .to_owned();
        serde_json::from_str::<serde_json::Value>(&last).unwrap()["hash"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let opts = VerifyOptions {
        key: Some(SigningKey::from_bytes(KEY).unwrap()),
        expected_head: Some(last_hash.clone()),
        ..VerifyOptions::default()
    };
    // In process, every byte of every line (the newline aside).
    let mut positions = Vec::new();
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' {
            continue;
        }
        positions.push(i);
        let mut changed = text.clone();
        changed[i] ^= 0x01;
        let r = verify_reader(changed.as_slice(), "mutated", &opts).unwrap();
        assert!(
            !r.ok(),
            "a change of byte {i} ({:?}) went unnoticed",
            b as char
        );
    }
    assert!(positions.len() > 5000);
    // Through the CLI, a spread of positions: exit status 1 each time.
    for &i in positions.iter().step_by(positions.len() / 25) {
        let mut changed = text.clone();
        changed[i] ^= 0x01;
        let p = dir.path().join("mutated.jsonl");
        std::fs::write(&p, &changed).unwrap();
        let out = acttrace()
            .args(["verify", "--key-file"])
            .arg(&key_file)
            .arg(&p)
            .args(["--expect-head", &last_hash])
            .output()
            .unwrap();
        assert_eq!(
            code(&out),
            1,
            "byte {i}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // A missing file is a usage-level failure.
    let out = acttrace()
        .args(["verify"])
        .arg(dir.path().join("missing.jsonl"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stdout).contains("cannot read"));
}

#[test]
fn cut_tails_fail_only_against_an_expected_head_or_count() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key_file) = write_quickstart_log(dir.path());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let head: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let cut = dir.path().join("cut.jsonl");
    std::fs::write(&cut, lines[..lines.len() - 2].join("\n") + "\n").unwrap();
    let verify = |extra: &[&str]| {
        acttrace()
            .arg("verify")
            .arg(&cut)
            .arg("--key-file")
            .arg(&key_file)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = verify(&[]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("completeness not checked"));
    let out = verify(&["--expect-head", head["hash"].as_str().unwrap()]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("incomplete log: head"));
    let out = verify(&["--expect-entries", "23"]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("found 21 entries, expected 23"));
}

#[test]
fn keys_come_from_env_file_or_a_warned_argument() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = write_quickstart_log(dir.path());
    let out = acttrace()
        .args(["verify", "--key-env", "T_KEY"])
        .arg(&log)
        .env("T_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let out = acttrace()
        .args(["verify", "--key-env", "T_KEY"])
        .arg(&log)
        .env("T_KEY", "wrong")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("bad signature at seq 0"));
    let out = acttrace()
        .args(["verify", "--key", KEY])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning") && !stderr.contains(KEY),
        "{stderr}"
    );
    // Unset variable, two key sources, expectations with several files: usage errors.
    let out = acttrace()
        .args(["verify", "--key-env", "ACTTRACE_SURELY_UNSET"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ACTTRACE_SURELY_UNSET is not set"));
    let out = acttrace()
        .args(["verify", "--key", "a", "--key-env", "B"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    let out = acttrace()
        .args(["verify", "--expect-entries", "3"])
        .arg(&log)
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    let out = acttrace()
        .args(["verify", "--expect-head", "XYZ"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
}

#[test]
fn json_reports_are_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key_file) = write_quickstart_log(dir.path());
    let text = std::fs::read_to_string(&log).unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, text.replacen("ops-reviewer-17", "ops-reviewer-18", 1)).unwrap();
    let out = acttrace()
        .args(["verify", "--json", "--key-file"])
        .arg(&key_file)
        .arg(&log)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[0]["signatures"], "verified");
    assert_eq!(results[0]["entries"], 23);
    assert_eq!(results[1]["ok"], false);
    let p = &results[1]["problems"][0];
    assert_eq!(p["kind"], "tampered_entry");
    assert_eq!(p["seq"], 6);
    assert_eq!(p["line"], 7);
}

#[test]
fn a_writer_in_another_process_is_refused_while_the_log_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let (_layer, guard) = acttrace::AuditLayer::builder()
        .path(&log)
        .signing_key(SigningKey::from_bytes(KEY).unwrap())
        .build()
        .unwrap();
    let out = quickstart().arg(&log).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("locked by another acttrace writer"),
        "{stderr}"
    );
    drop(guard);
    let out = quickstart().arg(&log).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn repair_moves_a_torn_tail_aside_and_chains_the_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let (log, key_file) = write_quickstart_log(dir.path());
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, &text[..text.len() - 100]).unwrap();
    let out = acttrace().arg("verify").arg(&log).output().unwrap();
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("torn last line"));
    // A signed log needs its key to sign the recovery entry.
    let out = acttrace().arg("repair").arg(&log).output().unwrap();
    assert_eq!(code(&out), 2, "{}", String::from_utf8_lossy(&out.stderr));
    let out = acttrace()
        .arg("repair")
        .arg(&log)
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("audit.jsonl.torn.1") && stdout.contains("seq 22"),
        "{stdout}"
    );
    let out = acttrace()
        .arg("verify")
        .arg(&log)
        .arg("--key-file")
        .arg(&key_file)
        .args(["--expect-entries", "23"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let out = acttrace()
        .arg("repair")
        .arg(&log)
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to repair"));
    // Tampering is not a torn tail: repair refuses it.
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("loan-desk", "loan-desq", 1)).unwrap();
    let out = acttrace()
        .arg("repair")
        .arg(&log)
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("hash mismatch"));
}

/// The GenAI agent example: client-traced model and tool calls become priced, chained entries,
/// and the log verifies with the `acttrace` binary too.
#[test]
fn genai_agent_example_chains_priced_llm_and_tool_calls() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("genai.jsonl");
    let bin = Path::new(env!("CARGO_BIN_EXE_acttrace"))
        .parent()
        .unwrap()
        .join("examples/genai_agent");
    let out = Command::new(bin).arg(&log).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("seq 2 llm_call"), "{stdout}");
    assert!(stdout.contains("cost=\"0.000066 USD\""), "{stdout}");
    assert!(stdout.contains("seq 3 tool_call"), "{stdout}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("weather in Paris"),
        "a prompt was kept in digest mode"
    );
    let out = acttrace()
        .args([
            "verify",
            log.to_str().unwrap(),
            "--key-env",
            "GENAI_DEMO_KEY",
        ])
        .env("GENAI_DEMO_KEY", "genai-agent-demo-key")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The prompt was kept only as a keyed digest: the claimed text proves or refutes it.
    let prove = |seq: &str, field: &str, text: &str, key: &str| {
        let claim = dir.path().join("claim.txt");
        std::fs::write(&claim, text).unwrap();
        let out = acttrace()
            .args([
                "prove-content",
                log.to_str().unwrap(),
                "--seq",
                seq,
                "--field",
                field,
            ])
            .arg("--text-file")
            .arg(&claim)
            .args(["--key-env", "GENAI_DEMO_KEY"])
            .env("GENAI_DEMO_KEY", key)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let key = "genai-agent-demo-key";
    let (code, text) = prove("2", "input_messages", "What is the weather in Paris?", key);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("match (digest "), "{text}");
    let (code, text) = prove("2", "input_messages", "What is the weather in Rome?", key);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("no match"), "{text}");
    let (code, text) = prove(
        "2",
        "input_messages",
        "What is the weather in Paris?",
        "wrong",
    );
    assert_eq!(code, Some(2), "a wrong key must not verify: {text}");
    assert!(text.contains("does not verify"), "{text}");
    let (code, text) = prove("3", "arguments", "{}", key);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("not a content digest"), "{text}");
    let (code, text) = prove("99", "input_messages", "x", key);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("no entry with seq 99"), "{text}");
}

// Issue #13: the quickstart writes checkpoints when ACTTRACE_CHECKPOINT_KEY_FILE names a key.
#[test]
fn quickstart_writes_checkpoints_with_a_checkpoint_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/checkpoint-example");
    let out = quickstart()
        .env("ACTTRACE_CHECKPOINT_KEY_FILE", vectors.join("skey.txt"))
        .arg(&log)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("writing signed checkpoints"), "{stdout}");
    // At least the flush's (one more if the run took longer than the 10 s cadence).
    assert!(
        stdout.contains("checkpoints: ") && !stdout.contains("checkpoints: 0 "),
        "{stdout}"
    );
    let vkey: acttrace::checkpoint::VerifierKey = std::fs::read_to_string(vectors.join("vkey.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "checkpoint");
    let note = last["payload"]["note"].as_str().unwrap();
    let checkpoint = acttrace::checkpoint::Checkpoint::from_note(note, &[vkey]).unwrap();
    assert_eq!(checkpoint.size, last["seq"].as_u64().unwrap());
    assert!(dir.path().join("checkpoints.jsonl").exists());
}

/// Runs `acttrace ARGS` with standard output going to `stdout`.
fn with_stdout(args: &[&std::ffi::OsStr], stdout: std::process::Stdio) -> Output {
    acttrace()
        .args(args)
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn a_failed_write_to_standard_output_is_an_error_not_a_panic_and_a_closed_pipe_is_quiet() {
    // Found by fuzzing the CLI: every command printing with `println!` panicked (exit 101) on
    // a full disk or a closed pipe; `verify` lost its report and still exited 0.
    let dir = tempfile::tempdir().unwrap();
    let (log, key_file) = write_quickstart_log(dir.path());
    let pack = dir.path().join("pack.jsonl");
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let commands: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec![
            os("verify"),
            log.as_os_str(),
            os("--key-file"),
            key_file.as_os_str(),
        ],
        vec![os("verify"), log.as_os_str(), os("--json")],
        vec![os("summary"), log.as_os_str()],
        vec![os("keygen"), os("hmac"), os("-")],
        vec![
            os("export"),
            log.as_os_str(),
            os("--framework"),
            os("gdpr"),
            os("-o"),
            pack.as_os_str(),
        ],
    ];
    for args in &commands {
        let full = std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = with_stdout(args, full.into());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
    // A reader that went away (`acttrace summary log | head -1` after `head` exits): the
    // command's own status, nothing on stderr about it.
    for args in &commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = with_stdout(args, writer.into());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 0, "{args:?}: {stderr}");
        assert!(
            !stderr.contains("standard output") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn endless_files_given_as_keys_mappings_policies_or_texts_are_refused_after_a_limit() {
    // Found by fuzzing the CLI: `--key-file /dev/zero` and `--mapping /dev/zero` read until
    // memory ran out.
    let dir = tempfile::tempdir().unwrap();
    let (log, key_file) = write_quickstart_log(dir.path());
    let pack = dir.path().join("pack.jsonl");
    let cases: Vec<(Vec<&std::ffi::OsStr>, &str)> = vec![
        (
            vec![
                "verify".as_ref(),
                log.as_os_str(),
                "--key-file".as_ref(),
                "/dev/zero".as_ref(),
            ],
            "cannot read key file /dev/zero: larger than 65536 bytes",
        ),
        (
            vec![
                "export".as_ref(),
                log.as_os_str(),
                "--framework".as_ref(),
                "gdpr".as_ref(),
                "-o".as_ref(),
                pack.as_os_str(),
                "--mapping".as_ref(),
                "/dev/zero".as_ref(),
            ],
            "mapping file /dev/zero: cannot read: larger than 16777216 bytes",
        ),
        (
            vec!["redact".as_ref(), "--policy".as_ref(), "/dev/zero".as_ref()],
            "/dev/zero: larger than 1 MiB",
        ),
        (
            vec![
                "prove-content".as_ref(),
                log.as_os_str(),
                "--seq".as_ref(),
                "1".as_ref(),
                "--field".as_ref(),
                "input_messages".as_ref(),
                "--key-file".as_ref(),
                key_file.as_os_str(),
                "--text-file".as_ref(),
                "/dev/zero".as_ref(),
            ],
            "/dev/zero: the text is larger than 16777216 bytes",
        ),
    ];
    for (args, want) in cases {
        let out = acttrace()
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 2, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(!pack.exists());
    }
}

#[test]
fn redact_refuses_a_line_longer_than_a_log_line_instead_of_reading_it_whole() {
    // Found by fuzzing the CLI: an endless line on stdin aborted the process when memory ran
    // out.
    use std::io::Write as _;
    let mut child = acttrace()
        .arg("redact")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'a'; 1 << 20];
        // The command stops reading after the limit: a closed pipe ends the feeding.
        for _ in 0..17 {
            if stdin.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = stdin.write_all(b"\n");
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(
        stderr.contains("line 1: longer than 16777216 bytes"),
        "{stderr}"
    );
}
