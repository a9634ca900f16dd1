//! Every command reads its input once (issue #12 items 1, 4, 5, 6): what it reports is what it
//! verified, pipes and FIFOs work, and a hostile input cannot make it hold an unbounded line.

#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::*;

fn acttrace() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acttrace"));
    c.env("EXPORT_TEST_KEY", KEY);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A FIFO at `path` that serves `genuine` to the first reader that opens it and `forged` to
/// every later one. A tool that opens it twice (verifies one read, reports from another) gets
/// the forged bytes the second time; a tool that opens it once never sees them, and the thread
/// stays blocked in its next open, detached, until the test process ends.
fn two_faced_fifo(path: &Path, genuine: Vec<u8>, forged: Vec<u8>) {
    use std::os::unix::fs::OpenOptionsExt;
    /// Linux's `O_NONBLOCK`: opening a FIFO's write end fails with `ENXIO` when no reader has it
    /// open.
    const O_NONBLOCK: i32 = 0o4000;
    const ENXIO: i32 = 6;
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
    let path = path.to_owned();
    std::thread::spawn(move || {
        let mut serving = &genuine;
        // Each blocking open waits for a reader to open the FIFO.
        while let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&path) {
            // A reader that closes early makes the write fail; the next open serves again.
            let _ = f.write_all(serving);
            drop(f);
            serving = &forged;
            // Serve the next reader only once this one has gone: while a reader holds the FIFO
            // open, a write end opened now would feed the same read. (Opening and closing a
            // write end without writing adds nothing to what the reader reads.)
            loop {
                match std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(O_NONBLOCK)
                    .open(&path)
                {
                    Ok(probe) => {
                        drop(probe);
                        std::thread::yield_now();
                    }
                    Err(e) if e.raw_os_error() == Some(ENXIO) => break,
                    Err(_) => return,
                }
            }
        }
    });
}

/// A genuine signed log of 15 entries, and a forged unsigned chain of 5 (a consistent chain on
/// its own, but not signed with the key).
fn genuine_and_forged(dir: &Path) -> (PathBuf, Vec<u8>, Vec<u8>) {
    let genuine = synthetic_log(dir, true);
    let forged_log = synthetic_log(dir, false);
    let forged: String = std::fs::read_to_string(forged_log)
        .unwrap()
        .lines()
        .take(5)
        .map(|l| format!("{l}\n"))
        .collect();
    let bytes = std::fs::read(&genuine).unwrap();
    (genuine, bytes, forged.into_bytes())
}

/// Item 1 (TOCTOU) and item 5: a FIFO serving a genuine log on its first open and a forged one
/// on its second. Each command opens it once and reports on the genuine log; none ever reports
/// the forged counts under a "verified" verdict, and none hangs.
#[test]
fn item1_a_fifo_that_changes_between_opens_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_, genuine, forged) = genuine_and_forged(dir.path());
    let fifo = |name: &str| {
        let p = dir.path().join(name);
        two_faced_fifo(&p, genuine.clone(), forged.clone());
        p
    };

    let p = fifo("verify.fifo");
    let o = acttrace()
        .arg("verify")
        .arg(&p)
        .args(["--key-env", "EXPORT_TEST_KEY", "--expect-entries", "15"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("ok: 15 entries"), "{}", text(&o));

    let p = fifo("summary.fifo");
    let o = acttrace()
        .arg("summary")
        .arg(&p)
        .args(["--key-env", "EXPORT_TEST_KEY", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["verified"], true);
    assert_eq!(report["summary"]["entries"], 15, "{report:#}");
    assert_eq!(report["verification"]["entries"], 15, "{report:#}");

    let p = fifo("export.fifo");
    let pack = dir.path().join("pack.jsonl");
    let o = acttrace()
        .arg("export")
        .arg(&p)
        .args(["--framework", "gdpr", "--key-env", "EXPORT_TEST_KEY", "-o"])
        .arg(&pack)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = entries(&pack);
    assert_eq!(lines.len(), 16, "the header and the 15 genuine entries");
    assert_eq!(lines[0]["_meta"]["entries"], 15);
    assert_eq!(lines[0]["_meta"]["head_hash"], lines[15]["hash"]);
    // The pack itself verifies with the key: its signed header names the genuine head.
    let o = acttrace()
        .arg("verify")
        .arg(&pack)
        .args(["--key-env", "EXPORT_TEST_KEY"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// Feeds `input` to `acttrace ARGS` on stdin, reads the child's peak memory (VmHWM) while it
/// waits for the end of its input (so the whole input but the pipe's buffer has gone through
/// it), then closes stdin and collects its output. Returns (output, VmHWM in KiB).
fn run_on_stdin(args: &[&str], input: impl Fn(&mut dyn Write)) -> (Output, u64) {
    let mut child: Child = acttrace()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    input(&mut stdin);
    stdin.flush().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/PID/status");
    drop(stdin);
    (child.wait_with_output().unwrap(), hwm)
}

/// Item 5: `cat log | acttrace verify -` verifies a genuine log, and `summary -` counts it.
#[test]
fn item5_verify_and_summary_read_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let bytes = std::fs::read(&log).unwrap();
    let (o, _) = run_on_stdin(&["verify", "-", "--key-env", "EXPORT_TEST_KEY"], |w| {
        w.write_all(&bytes).unwrap()
    });
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("ok: 15 entries"), "{}", text(&o));

    let (o, _) = run_on_stdin(&["summary", "-", "--key-env", "EXPORT_TEST_KEY"], |w| {
        w.write_all(&bytes).unwrap()
    });
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("integrity:   VERIFIED"), "{t}");
    assert!(t.contains("entries:     15"), "{t}");
    assert!(t.contains("decisions:   2"), "{t}");

    // /dev/stdin is a pipe too: opened once, it verifies.
    let (o, _) = run_on_stdin(&["verify", "/dev/stdin"], |w| w.write_all(&bytes).unwrap());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // An excerpt pack read from a pipe is recognised from the same read.
    let ex = dir.path().join("ex.jsonl");
    let o = acttrace()
        .arg("export")
        .arg(&log)
        .args(["--framework", "gdpr", "--key-env", "EXPORT_TEST_KEY"])
        .args(["--decision", D1, "-o"])
        .arg(&ex)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let pack = std::fs::read(&ex).unwrap();
    let (o, _) = run_on_stdin(&["verify", "-", "--key-env", "EXPORT_TEST_KEY"], |w| {
        w.write_all(&pack).unwrap()
    });
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("ok: excerpt of"), "{}", text(&o));

    // `-` twice cannot work: stdin is read once.
    let o = acttrace().args(["verify", "-", "-"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// Item 4: `verify` on an excerpt pack enforces --expect-head and --expect-entries (the source
/// log's, which the excerpt's header carries), as it does for a full pack.
#[test]
fn item4_verify_on_an_excerpt_checks_the_expected_head_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let ex = dir.path().join("ex.jsonl");
    let o = acttrace()
        .arg("export")
        .arg(&log)
        .args(["--framework", "gdpr", "--key-env", "EXPORT_TEST_KEY"])
        .args(["--decision", D1, "-o"])
        .arg(&ex)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = entries(&log);
    let head = lines.last().unwrap()["hash"].as_str().unwrap().to_owned();
    let other = "ab".repeat(32);
    let verify = |extra: &[&str]| {
        let o = acttrace()
            .arg("verify")
            .arg(&ex)
            .args(["--key-env", "EXPORT_TEST_KEY"])
            .args(extra)
            .output()
            .unwrap();
        (o.status.code(), text(&o))
    };
    let (code, t) = verify(&["--expect-head", &head, "--expect-entries", "15"]);
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("source head/count match the expected"), "{t}");
    let (code, t) = verify(&["--expect-head", &other]);
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("source head"), "{t}");
    let (code, t) = verify(&["--expect-entries", "16"]);
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("expected 16"), "{t}");
    // verify-excerpt takes them too.
    let o = acttrace()
        .arg("verify-excerpt")
        .arg(&ex)
        .args(["--key-env", "EXPORT_TEST_KEY", "--expect-entries", "14"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// The input of the memory tests: well past the 16 MiB line cap and the 96 MiB bound below.
const HUGE: usize = 200 << 20;
/// The memory bound the tests hold a command to, in KiB: the line cap's buffer plus the
/// program, far below the input.
const BOUND_KIB: u64 = 96 * 1024;

fn zeros(w: &mut dyn Write, n: usize) {
    let block = vec![0u8; 1 << 20];
    for _ in 0..n >> 20 {
        w.write_all(&block).unwrap();
    }
}

/// Item 6: `summary` of 200 MB of zeros (one line, no newline) holds one capped line, not the
/// file, and says why the input fails.
#[test]
fn item6_summary_of_a_huge_line_stays_bounded() {
    let (o, hwm) = run_on_stdin(&["summary", "-"], |w| zeros(w, HUGE));
    assert!(hwm < BOUND_KIB, "summary peaked at {hwm} KiB");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("integrity:   FAILED"), "{t}");
    assert!(t.contains("line longer than 16777216 bytes"), "{t}");
    assert!(t.contains("entries:     0"), "{t}");
}

/// Item 6: `export --allow-unverified` of a log followed by a 200 MB line holds one capped
/// line, not the file, and refuses the line with a message naming it.
#[test]
fn item6_unverified_export_of_a_huge_line_stays_bounded_and_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::read(synthetic_log(dir.path(), false)).unwrap();
    let out = dir.path().join("pack.jsonl");
    let out_arg = out.to_str().unwrap().to_owned();
    let args = [
        "export",
        "-",
        "--framework",
        "gdpr",
        "--allow-unverified",
        "-o",
        &out_arg,
    ];
    let (o, hwm) = run_on_stdin(&args, |w| {
        w.write_all(&log).unwrap();
        w.write_all(b"{\"seq\": 15, \"payload\": \"").unwrap();
        zeros(w, HUGE);
        w.write_all(b"\"}\n").unwrap();
    });
    assert!(hwm < BOUND_KIB, "export peaked at {hwm} KiB");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("line 16: line longer than 16777216 bytes"),
        "{t}"
    );
    assert!(!out.exists(), "nothing is written for a refused input");
}

/// Item 6: `verify-excerpt` streams as well: a 200 MB line after the header is refused as too
/// long without being held.
#[test]
fn item6_verify_excerpt_of_a_huge_line_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let ex = dir.path().join("ex.jsonl");
    let o = acttrace()
        .arg("export")
        .arg(&log)
        .args(["--framework", "gdpr", "--key-env", "EXPORT_TEST_KEY"])
        .args(["--decision", D1, "-o"])
        .arg(&ex)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let pack = std::fs::read(&ex).unwrap();
    let (o, hwm) = run_on_stdin(&["verify-excerpt", "-"], |w| {
        w.write_all(&pack).unwrap();
        zeros(w, HUGE);
    });
    assert!(hwm < BOUND_KIB, "verify-excerpt peaked at {hwm} KiB");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("is longer than 16777216 bytes"),
        "{}",
        text(&o)
    );
}
