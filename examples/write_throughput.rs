//! Writes N decisions (6 entries each, like the reference's benchmark) to a log and reports the
//! sustained rate, to produce large logs for `acttrace verify` measurements.
//!
//! ```text
//! cargo run --release --example write_throughput -- OUT.jsonl N [signed]
//! ```

use std::time::Instant;

use acttrace::{AuditLayer, SigningKey, SyncPolicy};
use tracing_subscriber::prelude::*;

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
        b = b.signing_key(SigningKey::from_bytes("bench-key").unwrap());
    }
    let (layer, guard) = b.build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let start = Instant::now();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..n {
            let d = tracing::info_span!(
                "decide",
                audit.decision = "loan",
                actor = "agent",
                applicant = i,
                amount = 1000 + i,
                note = "standard application"
            );
            let _e = d.enter();
            acttrace::llm_call!(
                provider = "openai",
                model = "gpt-4o",
                input_tokens = 812u64,
                output_tokens = 64u64,
                cost = "0.0123 USD",
                latency_ms = 412.5
            );
            acttrace::tool_call!(name = "credit_score", arguments = %format!("{{\"applicant\": {i}}}"));
            d.record("note", "reviewed");
            acttrace::oversight!(reviewer = "ops@bank", action = "approved");
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
