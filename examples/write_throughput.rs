//! Writes N decisions (6 entries each, like the reference's benchmark) to a log and reports the
//! sustained rate, to produce large logs for `acttrace verify` measurements.
//!
//! ```text
//! cargo run --release --example write_throughput -- OUT.jsonl N [signed] [written] [checkpoints] [reopen] [flush-every=K]
//! ```
//!
//! `written`: batches are handed to the operating system and synced only at the end
//! (`SyncPolicy::OnFlush`), to measure what each batch's `fdatasync` costs.
//! `checkpoints`: with checkpoints on (issue #13; default cadence), signed by a key made from a
//! fixed seed. `reopen`: opens the existing log (which the writer verifies, rebuilding the
//! Merkle tree with `checkpoints`), emits N decisions more and closes it. The verifier key is
//! printed on standard error. `flush-every=K`: a durable flush after every K decisions, as the
//! criterion benchmark does after each round of 1,000 (the time includes the flushes).

use std::time::Instant;

use acttrace::checkpoint::SignerKey;
use acttrace::{AuditLayer, SigningKey, SyncPolicy};
use tracing_subscriber::prelude::*;

#[path = "../benches/support/workload.rs"]
mod workload;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: write_throughput OUT.jsonl N [signed]");
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .expect("N decisions");
    let flags: Vec<String> = args.collect();
    let flag = |f: &str| flags.iter().any(|a| a == f);
    let signed = flag("signed");
    let flush_every: Option<u64> = flags
        .iter()
        .find_map(|a| a.strip_prefix("flush-every="))
        .map(|k| k.parse().expect("flush-every=K, K decisions"));
    if !flag("reopen") {
        let _ = std::fs::remove_file(&path);
    }
    let mut b = AuditLayer::builder()
        .system("bench")
        .path(&path)
        .sync_policy(if flag("written") {
            SyncPolicy::OnFlush
        } else {
            SyncPolicy::Batch
        });
    if signed {
        b = b.signing_key(SigningKey::from_bytes("bench-key-0123456789").unwrap());
    }
    if flag("checkpoints") {
        let seed = zeroize::Zeroizing::new([7u8; 32]);
        let key = SignerKey::from_seed("bench.example/log", seed).unwrap();
        // For `acttrace verify --vkey`.
        eprintln!("vkey: {}", key.verifier());
        b = b.checkpoint_key(key);
    }
    let open = Instant::now();
    let (layer, guard) = b.build().unwrap();
    let open_s = open.elapsed().as_secs_f64();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let start = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..n {
            workload::decision(i);
            if flush_every.is_some_and(|k| (i + 1) % k == 0) {
                guard.flush().unwrap();
            }
        }
    });
    let report = guard.shutdown(std::time::Duration::from_secs(600)).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let entries = report.head.next_seq;
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!(
        "{{\"entries\": {entries}, \"open_s\": {open_s:.3}, \"write_s\": {secs:.3}, \"entries_per_s\": {:.0}, \"bytes\": {bytes}, \"head\": \"{}\"}}",
        entries as f64 / secs,
        report.head.head
    );
}
