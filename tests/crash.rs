//! Crash safety: the crash_writer example is killed with SIGKILL at random moments, 200 times
//! on the same file. After each kill the log is recovered (exactly what the next writer's
//! reopen does) and must verify end to end, with every acknowledged entry present.
//!
//! The kill is placed relative to what the writer has done, never to wall-clock time since its
//! start (a debug build on a loaded 2-core machine needs ~100 ms to its first acknowledgement):
//! most rounds wait for the writer's first `durable` line and then let it run a random number
//! of further acknowledgements (so kills land between writes and flushes, in the middle of a
//! batch or a sync); one round in five kills it as soon as it has been spawned, during start-up
//! (reopen, verification, recovery of the previous round's tail).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::writer::{RepairOutcome, repair};

fn crash_writer() -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_acttrace"))
        .parent()
        .unwrap()
        .join("examples/crash_writer");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test`",
        bin.display()
    );
    Command::new(bin)
}

/// A small deterministic generator, so a failing run can be replayed.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Reads `durable <seq> <hash>` acknowledgements from the writer's stdout.
struct Acks(BufReader<ChildStdout>);

impl Acks {
    /// The next whole acknowledgement line, or `None` at end of output (a line cut by the kill
    /// is not an acknowledgement: the writer had not finished saying it).
    fn next(&mut self, round: usize) -> Option<(u64, String)> {
        let mut line = String::new();
        self.0.read_line(&mut line).unwrap();
        if !line.ends_with('\n') {
            return None;
        }
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some("durable"), "round {round}: {line:?}");
        let seq = parts.next().unwrap().parse().unwrap();
        Some((seq, parts.next().unwrap().to_owned()))
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

#[test]
fn two_hundred_kills_lose_no_acknowledged_entry() {
    kill_rounds(200, 3, 8, 0x5eed_acf7_1234_9876);
}

/// Flushing every 2,000 decisions (about 8,000 entries), the writer's batches fill while more
/// records wait: their commits are begun while the next batch is sealed, and the kills land
/// in those too. Each round writes tens of thousands of entries, so each has a log of its own
/// (re-verifying one growing file after every kill took minutes in a debug build).
#[test]
fn kills_while_full_batches_are_synced_lose_no_acknowledged_entry() {
    for round in 0..12 {
        kill_rounds(1, 2_000, 2, 0x0b16_b47c_4e55_1e5d ^ round);
    }
}

/// Kills the crash writer (flushing every `flush_every` decisions) `rounds` times on one file,
/// after 1 to `max_acks` acknowledgements (or during start-up), recovering and verifying the
/// log after each kill and checking that every acknowledged entry is in it.
fn kill_rounds(rounds: usize, flush_every: u64, max_acks: u64, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("crash.jsonl");
    let mut rng = XorShift(seed);
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut recoveries = 0;
    let mut startup_kills = 0;
    for round in 0..rounds {
        let mut child = crash_writer()
            .arg(&log)
            .arg(flush_every.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut acks = Acks(BufReader::new(child.stdout.take().unwrap()));
        if rng.next().is_multiple_of(5) {
            // During start-up: reopening, verifying and recovering the log. Where exactly the
            // kill lands does not matter to any assertion below.
            startup_kills += 1;
            std::thread::sleep(std::time::Duration::from_millis(rng.next() % 40));
        } else {
            // After the writer has acknowledged 1 to `max_acks` flushes; it keeps writing while
            // we read, so the kill lands anywhere in its loop.
            for _ in 0..1 + rng.next() % max_acks {
                match acks.next(round) {
                    Some(ack) => acked.push(ack),
                    None => {
                        let _ = child.wait();
                        panic!(
                            "round {round}: the writer stopped before acknowledging: {}",
                            stderr_of(&mut child)
                        );
                    }
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        // Acknowledgements printed between our last read and the kill count too.
        while let Some(ack) = acks.next(round) {
            acked.push(ack);
        }
        let err = stderr_of(&mut child);
        assert!(
            status.code().is_none() || status.success(),
            "round {round}: writer failed: {err}"
        );
        if std::fs::metadata(&log).map_or(0, |m| m.len()) == 0 {
            // Killed before its first entry was written: nothing to check yet.
            assert!(
                acked.is_empty(),
                "round {round}: acknowledged entries but an empty log"
            );
            continue;
        }
        if let RepairOutcome::Repaired { .. } = repair(&log, None).unwrap() {
            recoveries += 1;
        }
        let report = verify_path(&log, &VerifyOptions::default()).unwrap();
        assert!(
            report.ok(),
            "round {round} (seed {seed:#x}): {}",
            report.summary()
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let hashes: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["hash"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        for (seq, hash) in &acked {
            assert_eq!(
                hashes.get(*seq as usize),
                Some(hash),
                "round {round} (seed {seed:#x}): acknowledged seq {seq} lost or changed"
            );
        }
    }
    eprintln!(
        "{rounds} kills ({startup_kills} during start-up): {} acknowledged entries checked, {} torn tails recovered, 0 lost",
        acked.len(),
        recoveries
    );
}
