//! `ChainWriter::max_batch_bytes`: the sequencer commits before a batch would exceed the
//! writer's bound, and bounds a single entry to it as to `max_entry_bytes`.

use std::io;
use std::sync::{Arc, Mutex};

use acttrace::verify::{VerifyOptions, verify_reader};
use acttrace::writer::{ChainWriter, Durability, ExistingChain, MIN_ENTRY_BYTES};
use acttrace::{AuditLayer, Error, RenderedEntry, SealedEntry, SigningKey};
use tracing_subscriber::prelude::*;

/// Keeps committed batches (their bytes) and refuses any batch over its bound.
struct Bounded {
    limit: usize,
    pending: String,
    batches: Arc<Mutex<Vec<String>>>,
}

impl ChainWriter for Bounded {
    fn open(&mut self, _key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        Ok(None)
    }
    fn append(&mut self, entry: &SealedEntry) {
        self.pending.push_str(&entry.to_line());
    }
    fn append_rendered(&mut self, entry: &RenderedEntry<'_>) {
        self.pending.push_str(entry.line());
    }
    fn commit(&mut self, _d: Durability) -> io::Result<()> {
        let batch = std::mem::take(&mut self.pending);
        if batch.len() > self.limit {
            return Err(io::Error::other(format!(
                "batch of {} bytes over the bound of {}",
                batch.len(),
                self.limit
            )));
        }
        if !batch.is_empty() {
            self.batches.lock().unwrap().push(batch);
        }
        Ok(())
    }
    fn describe(&self) -> String {
        "bounded batches".into()
    }
    fn max_batch_bytes(&self) -> Option<usize> {
        Some(self.limit)
    }
}

#[test]
fn batches_never_exceed_the_writers_bound_and_oversized_entries_are_bounded_to_it() {
    let limit = MIN_ENTRY_BYTES * 2;
    let batches = Arc::new(Mutex::new(Vec::new()));
    let writer = Bounded {
        limit,
        pending: String::new(),
        batches: batches.clone(),
    };
    let (layer, guard) = AuditLayer::builder()
        .system("bounded")
        .writer(writer)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    let big = "x".repeat(limit * 2);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("decide", audit.decision = "x");
        let _e = span.enter();
        // Far more than one batch's worth, queued faster than they are committed.
        for i in 0..400u32 {
            acttrace::tool_call!(name = "t", arguments = %format!("{i} {}", "y".repeat(900)));
        }
        // An entry longer than a whole batch.
        acttrace::tool_call!(name = "huge", arguments = %big);
    });
    let head = guard.handle().flush().unwrap();
    let status = guard.handle().status();
    drop(guard);
    assert_eq!(status.lost_entries, 0, "{status:?}");

    let batches = batches.lock().unwrap();
    assert!(
        batches.len() > 1,
        "the bound must split the entries into batches"
    );
    assert!(batches.iter().all(|b| b.len() <= limit));
    let all: String = batches.concat();
    let report = verify_reader(all.as_bytes(), "batches", &VerifyOptions::default()).unwrap();
    assert!(report.ok(), "{}", report.summary());
    assert_eq!(report.head, head.head);
    // The huge entry is on the chain with its string replaced by a digest, and flagged.
    assert!(
        all.contains("\"omitted_bytes\": "),
        "the oversized string is omitted"
    );
    assert!(all.contains("oversized_field"), "and flagged");
}
