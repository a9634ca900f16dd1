//! Sustained durable write throughput: entries per second from `tracing` events to a JSONL
//! file, flushed to stable storage, next to an in-process baseline that only serialises the
//! same entries with `serde_json` and writes them to a file.
//!
//! `cargo bench --bench throughput`
//!
//! One iteration emits decisions of six entries each (`decision`, `llm_call`, `tool_call`,
//! `decision_record`, `human_oversight`, `decision_end`: the workload of the reference's
//! `peer_bench.py` and of `examples/write_throughput.rs`) from the bench thread, then flushes
//! (one `fdatasync`); the time includes that flush, so the figure is durable throughput. The
//! sequencer runs on the other core.
//!
//! `group_commit_signed_redacted_checkpoints{,_file_sink}`: the same case with checkpoints on
//! (issue #13) at the default cadence (4,096 entries or 10 s, and at every flush), with and
//! without a file sink; the target is within 5% of `group_commit_signed_redacted` in the same
//! run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use acttrace::checkpoint::{FileCheckpointSink, SignerKey};
use acttrace::json::Value;
use acttrace::redact::{Redactor, Report};
use acttrace::{AuditGuard, AuditLayer, SigningKey, SyncPolicy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

#[path = "support/workload.rs"]
mod workload;
use workload::decision;

/// Entries each decision seals.
const PER_DECISION: u64 = 6;

/// A redactor that changes nothing, to time the chain without redaction.
struct NoRedaction;
impl Redactor for NoRedaction {
    fn redact(&self, _value: &mut Value) -> Report {
        Report::new()
    }
}

struct Setup {
    signed: bool,
    redaction: bool,
    policy: SyncPolicy,
    /// Checkpoints on (default cadence), and a file sink in this file when given.
    checkpoints: Option<Option<std::path::PathBuf>>,
}

fn open(path: &Path, s: &Setup) -> (Dispatch, AuditGuard) {
    let _ = std::fs::remove_file(path);
    let mut b = AuditLayer::builder()
        .system("bench")
        .path(path)
        .sync_policy(s.policy);
    if s.signed {
        b = b.signing_key(SigningKey::from_bytes("bench-key-0123456789").unwrap());
    }
    if !s.redaction {
        b = b.redactor(NoRedaction);
    }
    if let Some(sink) = &s.checkpoints {
        b = b.checkpoint_key(SignerKey::generate("bench.example/log").unwrap());
        if let Some(sink) = sink {
            let _ = std::fs::remove_file(sink);
            b = b.checkpoint_sink(FileCheckpointSink::new(sink));
        }
    }
    let (layer, guard) = b.build().unwrap();
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

/// Times `iters` rounds of `decisions` decisions, each round ending with a durable flush.
fn rounds(dispatch: &Dispatch, guard: &AuditGuard, iters: u64, decisions: u64) -> Duration {
    tracing::dispatcher::with_default(dispatch, || {
        let start = Instant::now();
        for r in 0..iters {
            for i in 0..decisions {
                decision(r * decisions + i);
            }
            guard.flush().unwrap();
        }
        start.elapsed()
    })
}

/// The entries of a log as `serde_json` values, for the baseline.
fn entries_of(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.jsonl");
    // Decisions per iteration: 6,000 entries between flushes with group commit.
    let decisions = 1_000;

    let mut g = c.benchmark_group("throughput");
    g.throughput(Throughput::Elements(decisions * PER_DECISION));

    // Baseline: the same entries (taken from a signed, redacted log) serialised by
    // serde_json and written to a file, then one fdatasync, on one thread.
    let (d, guard) = open(
        &path,
        &Setup {
            signed: true,
            redaction: true,
            policy: SyncPolicy::Batch,
            checkpoints: None,
        },
    );
    rounds(&d, &guard, 1, decisions);
    drop(guard);
    let entries = entries_of(&path);
    let entries = &entries[1..]; // without audit_open
    let out = dir.path().join("serde.jsonl");
    g.bench_function("baseline_serde_json_write_fdatasync", |b| {
        b.iter_custom(|iters| {
            let file = File::create(&out).unwrap();
            let mut w = BufWriter::with_capacity(1 << 20, &file);
            let start = Instant::now();
            for _ in 0..iters {
                for e in entries {
                    serde_json::to_writer(&mut w, e).unwrap();
                    w.write_all(b"\n").unwrap();
                }
                w.flush().unwrap();
                file.sync_data().unwrap();
            }
            start.elapsed()
        })
    });

    for (name, setup) in [
        (
            "group_commit",
            Setup {
                signed: false,
                redaction: false,
                policy: SyncPolicy::Batch,
                checkpoints: None,
            },
        ),
        (
            "group_commit_signed",
            Setup {
                signed: true,
                redaction: false,
                policy: SyncPolicy::Batch,
                checkpoints: None,
            },
        ),
        (
            "group_commit_signed_redacted",
            Setup {
                signed: true,
                redaction: true,
                policy: SyncPolicy::Batch,
                checkpoints: None,
            },
        ),
        (
            "group_commit_signed_redacted_checkpoints",
            Setup {
                signed: true,
                redaction: true,
                policy: SyncPolicy::Batch,
                checkpoints: Some(None),
            },
        ),
        (
            "group_commit_signed_redacted_checkpoints_file_sink",
            Setup {
                signed: true,
                redaction: true,
                policy: SyncPolicy::Batch,
                checkpoints: Some(Some(dir.path().join("checkpoints.txt"))),
            },
        ),
    ] {
        let (d, guard) = open(&path, &setup);
        // A filter on the command line may skip this case: then there is nothing to check.
        let mut ran = false;
        g.bench_function(name, |b| {
            ran = true;
            b.iter_custom(|iters| rounds(&d, &guard, iters, decisions))
        });
        if ran && setup.checkpoints.is_some() {
            // Each round of 6,000 entries makes one by cadence and one at its flush.
            let status = guard.status();
            assert!(
                status.checkpoints > 0 && status.lost_entries == 0,
                "{status:?}"
            );
        }
        drop(guard);
    }

    // fsync after every entry, as the reference does: far slower, so fewer entries per
    // iteration.
    let few = 10;
    g.throughput(Throughput::Elements(few * PER_DECISION));
    let (d, guard) = open(
        &path,
        &Setup {
            signed: true,
            redaction: true,
            policy: SyncPolicy::EveryEntry,
            checkpoints: None,
        },
    );
    g.bench_function("fsync_per_entry_signed_redacted", |b| {
        b.iter_custom(|iters| rounds(&d, &guard, iters, few))
    });
    drop(guard);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
