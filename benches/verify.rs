//! Verification speed of a signed log, next to the floor it cannot beat: SHA-256 of the same
//! file's bytes (what `openssl dgst -sha256` computes), measured in the same run.
//!
//! `cargo bench --bench verify`
//!
//! The log (300,001 entries, about 130 MB: the workload of `examples/write_throughput.rs`) is
//! written once into a temporary directory and read from the page cache by both cases.
//! `acttrace verify` uses every core; the SHA-256 baseline is one stream on one core, as
//! `openssl dgst` is.

use std::io::Read;
use std::path::Path;

use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::{AuditLayer, SigningKey, SyncPolicy};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sha2::Digest;
use tracing_subscriber::prelude::*;

#[path = "support/workload.rs"]
mod workload;

const DECISIONS: u64 = 50_000;

fn write_log(path: &Path, key: &SigningKey) -> u64 {
    let (layer, guard) = AuditLayer::builder()
        .system("bench")
        .path(path)
        .signing_key(key.clone())
        .sync_policy(SyncPolicy::OnFlush)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..DECISIONS {
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
    let entries = write_log(&path, &key);
    let opts = VerifyOptions {
        key: Some(key),
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
