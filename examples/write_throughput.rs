//! Writes N decisions (6 entries each, like the reference's benchmark) to a log and reports the
//! sustained rate, to produce large logs for `acttrace verify` measurements.
//!
//! ```text
//! cargo run --release --example write_throughput -- OUT.jsonl N [signed]
//! ```

use std::time::Instant;

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
    let signed = args.next().as_deref() == Some("signed");
    let _ = std::fs::remove_file(&path);
    let mut b = AuditLayer::builder()
        .system("bench")
        .path(&path)
        .sync_policy(SyncPolicy::Batch);
    if signed {
        b = b.signing_key(SigningKey::from_bytes("bench-key-0123456789").unwrap());
    }
    let (layer, guard) = b.build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let start = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..n {
            workload::decision(i);
        }
    });
    let report = guard.shutdown(std::time::Duration::from_secs(600)).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let entries = report.head.next_seq;
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!(
        "{{\"entries\": {entries}, \"write_s\": {secs:.3}, \"entries_per_s\": {:.0}, \"bytes\": {bytes}, \"head\": \"{}\"}}",
        entries as f64 / secs,
        report.head.head
    );
}
