//! Faults: a full disk (a small tmpfs), and a stalled writer in fail-open mode.

mod common;

use std::time::Duration;

use acttrace::writer::{ChainWriter, Durability, ExistingChain};
use acttrace::{AuditLayer, Error, MemoryWriter, QueueFullPolicy, SealedEntry, SigningKey};
use common::*;
use tracing_subscriber::prelude::*;

#[test]
fn a_full_disk_reaches_the_caller_damages_nothing_and_the_chain_records_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    if !mount_tmpfs(dir.path(), "256k") {
        return;
    }
    let _unmount = Unmount(dir.path());
    let filler = dir.path().join("filler");
    // Leave about 40 KiB free.
    std::fs::write(&filler, vec![0u8; 216 * 1024]).unwrap();
    let path = dir.path().join("audit.jsonl");
    let (layer, guard) = AuditLayer::builder()
        .system("disk-full")
        .path(&path)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let mut durable = None;
    let mut failure = None;
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..2_000u64 {
            acttrace::tool_call!(
                name = "fill",
                i,
                padding = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            );
            match guard.flush() {
                Ok(tip) => durable = Some(tip),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
    });
    let failure = failure.expect("the disk never filled up");
    assert!(matches!(failure, Error::Write(_)), "{failure}");
    assert!(failure.to_string().contains("No space left"), "{failure}");
    let durable = durable.expect("some entries fit");
    let status = guard.status();
    assert!(status.lost_entries >= 1);
    assert!(status.last_error.unwrap().contains("No space left"));
    // What was durable is intact: the file verifies up to the durable head, no partial line.
    assert_verifies(&path, &durable);

    // Space returns: the chain continues, first with a gap entry.
    std::fs::remove_file(&filler).unwrap();
    tracing::dispatcher::with_default(&dispatch, || acttrace::tool_call!(name = "after"));
    let tip = guard.flush().unwrap();
    let es = entries(&path);
    let gap = &es[durable.next_seq as usize];
    assert_eq!(gap["type"], "gap");
    assert_eq!(gap["payload"]["lost_entries"], status.lost_entries);
    assert_eq!(gap["payload"]["first_lost_seq"], durable.next_seq);
    assert_eq!(es.last().unwrap()["payload"]["name"], "after");
    assert_verifies(&path, &tip);
}

/// Holds a writer's commits while closed, so a test stalls the writer exactly when it wants to
/// and releases it when it has seen what it waits for: no timing involved.
#[derive(Clone, Default)]
struct Gate(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn set_closed(&self, closed: bool) {
        *self.0.0.lock().unwrap() = closed;
        self.0.1.notify_all();
    }
    fn pass(&self) {
        let mut closed = self.0.0.lock().unwrap();
        while *closed {
            closed = self.0.1.wait(closed).unwrap();
        }
    }
}

/// A writer whose commits stall while its gate is closed.
struct Stalled(MemoryWriter, Gate);

impl ChainWriter for Stalled {
    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        self.0.open(key)
    }
    fn append(&mut self, entry: &SealedEntry) {
        self.0.append(entry)
    }
    fn commit(&mut self, d: Durability) -> std::io::Result<()> {
        self.1.pass();
        self.0.commit(d)
    }
    fn describe(&self) -> String {
        "stalled".into()
    }
}

/// Runs `callers` on another thread against a stalled writer and returns once they are done.
/// In fail-open mode they never wait for the writer, so they finish while it is stalled; a
/// regression that made them wait would never finish, and the (generous) bound turns that hang
/// into a failure. It is not a performance limit.
fn run_while_stalled(gate: &Gate, dispatch: &tracing::Dispatch, callers: fn()) {
    gate.set_closed(true);
    let (done, finished) = std::sync::mpsc::channel();
    let dispatch = dispatch.clone();
    std::thread::spawn(move || {
        tracing::dispatcher::with_default(&dispatch, callers);
        let _ = done.send(());
    });
    let result = finished.recv_timeout(Duration::from_secs(300));
    gate.set_closed(false);
    result.expect("callers waited for a stalled writer in fail-open mode");
}

#[test]
fn fail_open_mode_drops_when_full_and_chains_the_count() {
    let (mem, log) = MemoryWriter::new();
    let gate = Gate::default();
    let (layer, guard) = AuditLayer::builder()
        .writer(Stalled(mem, gate.clone()))
        .queue_capacity(8)
        .queue_full(QueueFullPolicy::DropAndRecord)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    run_while_stalled(&gate, &dispatch, || {
        for i in 0..500u64 {
            acttrace::tool_call!(name = "op", i);
        }
    });
    let report = guard.shutdown(Duration::from_secs(300)).unwrap();
    let entries = log.entries();
    let kept = entries.iter().filter(|e| e.kind == "tool_call").count() as u64;
    let chained_drops: u64 = entries
        .iter()
        .filter(|e| e.kind == "gap")
        .map(|e| {
            e.payload
                .get("dropped_entries")
                .and_then(|v| v.as_u64())
                .unwrap()
        })
        .sum();
    assert!(
        chained_drops > 0,
        "nothing was dropped; the test did not stall the writer"
    );
    // Every record is accounted for: kept, or dropped and counted on the chain.
    assert_eq!(kept + chained_drops, 500);
    assert_eq!(report.head.next_seq as usize, entries.len());
    let r = acttrace::verify::verify_reader(log.to_jsonl().as_bytes(), "mem", &Default::default())
        .unwrap();
    assert!(r.ok(), "{}", r.summary());
}

/// In fail-open mode a full queue drops records, but never a decision's close: a dropped close
/// would leave the decision open on the sequencer for good (memory that only grows, and no
/// `decision_end`). Every decision on the chain is closed on the chain, after its records.
#[test]
fn fail_open_mode_never_drops_a_decision_close() {
    let (mem, log) = MemoryWriter::new();
    let gate = Gate::default();
    let (layer, guard) = AuditLayer::builder()
        .writer(Stalled(mem, gate.clone()))
        .queue_capacity(4)
        .queue_full(QueueFullPolicy::DropAndRecord)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    run_while_stalled(&gate, &dispatch, || {
        for i in 0..300u64 {
            let d = tracing::info_span!("d", audit.decision = "burst", i);
            let _e = d.enter();
            acttrace::tool_call!(name = "op", i);
        }
    });
    guard.shutdown(Duration::from_secs(300)).unwrap();
    let entries = log.entries();
    let id = |e: &acttrace::SealedEntry| {
        e.payload
            .get("decision_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let opened: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == "decision")
        .filter_map(id)
        .collect();
    let ended: std::collections::HashSet<_> = entries
        .iter()
        .filter(|e| e.kind == "decision_end")
        .filter_map(id)
        .collect();
    let dropped: u64 = entries
        .iter()
        .filter(|e| e.kind == "gap")
        .filter_map(|e| e.payload.get("dropped_entries").and_then(|v| v.as_u64()))
        .sum();
    assert!(
        dropped > 0,
        "nothing was dropped; the test did not stall the writer"
    );
    assert!(!opened.is_empty());
    for d in &opened {
        assert!(
            ended.contains(d),
            "decision {d} was opened but never closed"
        );
    }
    // A kept record of a decision comes before its end.
    for (i, e) in entries.iter().enumerate() {
        if e.kind == "tool_call"
            && let Some(d) = id(e)
        {
            let end = entries
                .iter()
                .position(|x| x.kind == "decision_end" && id(x).as_deref() == Some(d.as_str()))
                .unwrap();
            assert!(i < end, "a record of {d} was sealed after its decision_end");
        }
    }
}
