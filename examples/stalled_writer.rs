//! Memory while the disk stalls: a writer whose commits block (as on a hung disk or a full NFS
//! server) under a producer that keeps emitting events. The queue to the sequencer is bounded,
//! so memory stays bounded by its capacity, whatever the number of events.
//!
//! ```text
//! cargo run --release --example stalled_writer -- [block|drop] QUEUE_CAPACITY EVENTS STALL_SECS
//! ```
//!
//! It prints, as JSON: the peak resident set size before the producer starts, during the stall
//! (sampled every 10 ms) and at the end, how many events the producer had emitted when the
//! stall ended, and how many entries were committed or dropped.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use acttrace::writer::{ChainWriter, Durability, ExistingChain};
use acttrace::{AuditLayer, Error, JsonlFileWriter, QueueFullPolicy, SealedEntry, SigningKey};
use tracing_subscriber::prelude::*;

/// A JSONL file writer whose commits wait while `stalled` is set.
struct StallingWriter {
    inner: JsonlFileWriter,
    stalled: Arc<AtomicBool>,
}

impl ChainWriter for StallingWriter {
    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        self.inner.open(key)
    }
    fn append(&mut self, entry: &SealedEntry) {
        self.inner.append(entry);
    }
    fn commit(&mut self, durability: Durability) -> std::io::Result<()> {
        while self.stalled.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.inner.commit(durability)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// This process's resident set size (`VmRSS`) or its peak (`VmHWM`), in KiB.
fn status_kib(field: &str) -> u64 {
    let mut s = String::new();
    std::fs::File::open("/proc/self/status")
        .and_then(|mut f| f.read_to_string(&mut s))
        .expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: stalled_writer [block|drop] QUEUE_CAPACITY EVENTS STALL_SECS";
    let policy = match args.next().as_deref() {
        Some("block") => QueueFullPolicy::Block,
        Some("drop") => QueueFullPolicy::DropAndRecord,
        _ => panic!("{usage}"),
    };
    let mut number = || -> u64 { args.next().and_then(|s| s.parse().ok()).expect(usage) };
    let (capacity, events, stall_secs) = (number() as usize, number(), number());

    let dir = tempfile::tempdir().unwrap();
    let stalled = Arc::new(AtomicBool::new(false));
    let (layer, guard) = AuditLayer::builder()
        .system("stall")
        .writer(StallingWriter {
            inner: JsonlFileWriter::new(dir.path().join("stall.jsonl")),
            stalled: stalled.clone(),
        })
        .signing_key(SigningKey::from_bytes("bench-key-0123456789").unwrap())
        .queue_capacity(capacity)
        .queue_full(policy)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    // A ~1 KiB prompt per event, so that queued records weigh something.
    let prompt =
        "Summarise the applicant's payment history for the last twelve months. ".repeat(15);
    let rss_before = status_kib("VmRSS:");

    stalled.store(true, Ordering::Release);
    let emitted = Arc::new(AtomicU64::new(0));
    let producer = {
        let (dispatch, emitted) = (dispatch.clone(), emitted.clone());
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                for i in 0..events {
                    acttrace::llm_call!(model = "gpt-4o", prompt = %prompt, call = i);
                    emitted.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
    };
    let start = Instant::now();
    let mut peak_during = 0;
    while start.elapsed() < Duration::from_secs(stall_secs) {
        peak_during = peak_during.max(status_kib("VmRSS:"));
        std::thread::sleep(Duration::from_millis(10));
    }
    let emitted_during_stall = emitted.load(Ordering::Relaxed);
    stalled.store(false, Ordering::Release);
    producer.join().unwrap();
    let status = guard.handle().status();
    let report = guard.shutdown(Duration::from_secs(600)).unwrap();
    println!(
        "{{\"policy\": \"{policy:?}\", \"queue_capacity\": {capacity}, \"events\": {events}, \
         \"stall_s\": {stall_secs}, \"emitted_during_stall\": {emitted_during_stall}, \
         \"rss_before_kib\": {rss_before}, \"peak_rss_during_stall_kib\": {peak_during}, \
         \"peak_rss_kib\": {}, \"entries\": {}, \"dropped\": {}}}",
        // The kernel updates the high-water mark lazily; a sample can be a little above it.
        status_kib("VmHWM:").max(peak_during),
        report.head.next_seq,
        status.dropped_when_full,
    );
}
