//! Verification speed of a signed log, next to the floor it cannot beat: SHA-256 of the same
//! file's bytes (what `openssl dgst -sha256` computes), measured in the same run.
//!
//! `cargo bench --bench verify`
//!
//! The log (300,001 entries, about 130 MB: the workload of `examples/write_throughput.rs`) is
//! written once into a temporary directory and read from the page cache by both cases.
//! `acttrace verify` uses every core; the SHA-256 baseline is one stream on one core, as
//! `openssl dgst` is.
//!
//! Group `verify_checkpoints` (issue #13): a 1,000,003-entry log of the same workload written
//! with checkpoints on (default cadence: 4,096 entries, so about 244 `checkpoint` entries),
//! and the same workload written without checkpoints, each about 460 MB. The target: verifying
//! with verifier keys (`acttrace verify --vkey`, [`CheckpointOptions::keys`]) within 10% of
//! verifying without checkpoints, in the same run. Set `ACTTRACE_BENCH_DECISIONS` for another
//! size.

use std::io::Read;
use std::path::Path;

use acttrace::checkpoint::SignerKey;
use acttrace::verify::{CheckpointOptions, VerifyOptions, verify_path};
use acttrace::{AuditLayer, SigningKey, SyncPolicy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::Digest;
use tracing_subscriber::prelude::*;

#[path = "support/workload.rs"]
mod workload;

const DECISIONS: u64 = 50_000;

/// Decisions of the 1M-entry logs (six entries each).
const DECISIONS_1M: u64 = 166_667;

fn write_log(
    path: &Path,
    key: &SigningKey,
    checkpoints: Option<&SignerKey>,
    decisions: u64,
) -> u64 {
    let mut b = AuditLayer::builder()
        .system("bench")
        .path(path)
        .signing_key(key.clone())
        .sync_policy(SyncPolicy::OnFlush);
    if let Some(cp) = checkpoints {
        b = b.checkpoint_key(SignerKey::parse(&cp.to_go_format()).unwrap());
    }
    let (layer, guard) = b.build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..decisions {
            workload::decision(i);
        }
    });
    guard
        .shutdown(std::time::Duration::from_secs(600))
        .unwrap()
        .head
        .next_seq
}

fn sha256_file(path: &Path) -> [u8; 32] {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return h.finalize().into();
        }
        h.update(&buf[..n]);
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.jsonl");
    let key = SigningKey::from_bytes("bench-key-0123456789").unwrap();
    let entries = write_log(&path, &key, None, DECISIONS);
    let opts = VerifyOptions {
        key: Some(key.clone()),
        ..VerifyOptions::default()
    };

    let mut g = c.benchmark_group("verify");
    g.sample_size(20);
    g.throughput(Throughput::Elements(entries));
    g.bench_function("baseline_sha256_of_file", |b| b.iter(|| sha256_file(&path)));
    g.bench_function("verify_signed_log", |b| {
        b.iter(|| {
            let v = verify_path(&path, &opts).unwrap();
            assert!(v.ok() && v.entries == entries, "{}", v.summary());
        })
    });
    g.finish();
    drop(dir);
    checkpoints(c, &key);
}

/// Verification of a log with checkpoints, with and without verifier keys, next to the same
/// workload without checkpoints and SHA-256 of the file.
fn checkpoints(c: &mut Criterion, key: &SigningKey) {
    let decisions = std::env::var("ACTTRACE_BENCH_DECISIONS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(DECISIONS_1M);
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.jsonl");
    let with_cp = dir.path().join("checkpoints.jsonl");
    let signer = SignerKey::generate("bench.example/log").unwrap();
    let plain_entries = write_log(&plain, key, None, decisions);
    let entries = write_log(&with_cp, key, Some(&signer), decisions);
    let cps = entries - plain_entries;
    assert!(cps > 0, "no checkpoint written");

    let hmac =
        |vkeys: Vec<acttrace::checkpoint::VerifierKey>, key: Option<&SigningKey>| VerifyOptions {
            key: key.cloned(),
            checkpoints: CheckpointOptions {
                keys: vkeys,
                ..CheckpointOptions::default()
            },
            ..VerifyOptions::default()
        };
    let vkey = vec![signer.verifier()];
    let check = |path: &Path, opts: &VerifyOptions, n: u64, verified: Option<u64>| {
        let v = verify_path(path, opts).unwrap();
        assert!(v.ok() && v.entries == n, "{}", v.summary());
        if let Some(verified) = verified {
            let report = v.checkpoints.as_ref().expect("a checkpoint report");
            assert_eq!(report.verified, verified);
            assert_eq!(report.signatures_checked, !opts.checkpoints.keys.is_empty());
        }
    };

    let mut g = c.benchmark_group("verify_checkpoints");
    g.sample_size(10);
    g.throughput(Throughput::Elements(entries));
    g.bench_function("baseline_sha256_of_file", |b| {
        b.iter(|| sha256_file(&with_cp))
    });
    // Today: the same workload without checkpoints, with the HMAC key.
    let opts = hmac(Vec::new(), Some(key));
    g.bench_function("no_checkpoints_key", |b| {
        b.iter(|| check(&plain, &opts, plain_entries, None))
    });
    // The checkpoints are checked against the tree (root, size, origin), not their signatures.
    g.bench_function("checkpoints_key", |b| {
        b.iter(|| check(&with_cp, &opts, entries, Some(cps)))
    });
    // `acttrace verify --key-env K --vkey V`.
    let opts = hmac(vkey.clone(), Some(key));
    g.bench_function("checkpoints_key_vkey", |b| {
        b.iter(|| check(&with_cp, &opts, entries, Some(cps)))
    });
    // `acttrace verify --vkey V`: no HMAC key (an outside auditor).
    let opts = hmac(vkey, None);
    g.bench_function("checkpoints_vkey_only", |b| {
        b.iter(|| check(&with_cp, &opts, entries, Some(cps)))
    });
    g.finish();

    // Reopening the log: the writer verifies it (on one thread) and, with checkpoints on,
    // rebuilds the Merkle tree. Each reopen appends a few entries (`audit_resume`, and a
    // checkpoint at shutdown), a negligible change to a 1M-entry log.
    let mut g = c.benchmark_group("reopen_1m");
    g.sample_size(10);
    g.throughput(Throughput::Elements(entries));
    let reopen = |path: &Path, checkpoints: Option<&SignerKey>| {
        let mut b = AuditLayer::builder()
            .system("bench")
            .path(path)
            .signing_key(key.clone());
        if let Some(cp) = checkpoints {
            b = b.checkpoint_key(SignerKey::parse(&cp.to_go_format()).unwrap());
        }
        let (_layer, guard) = b.build().unwrap();
        guard.shutdown(std::time::Duration::from_secs(60)).unwrap();
    };
    g.bench_function("no_checkpoints", |b| b.iter(|| reopen(&plain, None)));
    g.bench_function("checkpoints", |b| {
        b.iter(|| reopen(&with_cp, Some(&signer)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
