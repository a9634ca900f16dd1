//! The sequencer's rollback and gap accounting, driven directly with a writer that fails the
//! commits it is told to fail (the end-to-end tests in `tests/faults.rs` and
//! `tests/review_regressions.rs` go through the layer and real files; these pin the state each
//! failed batch leaves behind).

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::{Receiver, bounded};

use super::{Redaction, Sequencer, SyncPolicy};
use crate::chain::{ChainTip, GENESIS, HashAlg, SealedEntry, SigningKey};
use crate::error::Error;
use crate::genai::GenAiCapture;
use crate::json::Value;
use crate::queue::{LogState, Msg, Queue, QueueFullPolicy, Reply};
use crate::record::{ChainedEntry, FieldValue};
use crate::redact::{Redactor, Report};
use crate::writer::{ChainWriter, DeletedSegment, Durability, ExistingChain, Rotation};

/// What the test writer holds and what the test tells it to do.
#[derive(Default)]
struct Store {
    committed: Vec<SealedEntry>,
    pending: Vec<SealedEntry>,
    /// How many of the next commits fail.
    fail_commits: usize,
    /// Whether the writer asks for a new segment before each batch.
    wants_rotation: bool,
    rotations: usize,
}

/// An in-memory writer that fails on command, dropping the failed batch as the all-or-nothing
/// contract of [`ChainWriter::commit`] requires.
#[derive(Clone, Default)]
struct FailingWriter(Arc<Mutex<Store>>);

impl FailingWriter {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail_next_commits(&self, n: usize) {
        self.store().fail_commits = n;
    }

    /// The committed entries' types, with each `gap` shown as its payload.
    fn kinds(&self) -> Vec<String> {
        self.store()
            .committed
            .iter()
            .map(|e| match e.kind.as_str() {
                "gap" => format!("gap {}", crate::json::to_line_string(&e.payload)),
                kind => kind.to_owned(),
            })
            .collect()
    }

    /// Asserts that the committed entries form one unbroken chain from genesis.
    fn assert_linked(&self) {
        let store = self.store();
        let mut prev = GENESIS;
        for (i, e) in store.committed.iter().enumerate() {
            assert_eq!(e.seq, i as u64, "seq of {}", e.kind);
            assert_eq!(e.prev_hash, prev, "prev_hash of seq {}", e.seq);
            prev = &e.hash;
        }
    }
}

impl ChainWriter for FailingWriter {
    fn open(&mut self, _key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        Ok(None)
    }

    fn append(&mut self, entry: &SealedEntry) {
        self.store().pending.push(entry.clone());
    }

    fn commit(&mut self, _durability: Durability) -> io::Result<()> {
        let mut store = self.store();
        if store.fail_commits > 0 {
            store.fail_commits -= 1;
            store.pending.clear();
            return Err(io::Error::other("injected failure"));
        }
        let mut batch = std::mem::take(&mut store.pending);
        store.committed.append(&mut batch);
        Ok(())
    }

    fn describe(&self) -> String {
        "failing".into()
    }

    fn wants_rotation(&self) -> bool {
        self.store().wants_rotation
    }

    fn rotate(&mut self) -> Result<Rotation, Error> {
        let mut store = self.store();
        store.rotations += 1;
        Ok(Rotation {
            previous_segment: "seg-1".into(),
            segment: "seg-2".into(),
            deleted: vec![DeletedSegment {
                segment: "seg-0".into(),
                last_seq: 0,
                head: GENESIS.into(),
            }],
            retention_error: None,
        })
    }
}

/// Leaves payloads as they are: these tests are about commits, not redaction.
struct NoRedaction;

impl Redactor for NoRedaction {
    fn redact(&self, _value: &mut Value) -> Report {
        Report::new()
    }
}

/// A sequencer on a new chain, writing to `writer`, with its queue (whose receiver is returned
/// so that the queue stays connected) and published state.
fn sequencer(
    writer: &FailingWriter,
    full: QueueFullPolicy,
) -> (Sequencer, Arc<Queue>, Arc<LogState>, Receiver<Msg>) {
    let (queue, receiver) = Queue::new(1, full, "failing".into());
    let queue = Arc::new(queue);
    let tip = ChainTip {
        next_seq: 0,
        head: GENESIS.into(),
    };
    let log = Arc::new(LogState::new(tip.clone()));
    let redaction = Redaction {
        redactor: Arc::new(NoRedaction),
        content_strict: Arc::new(NoRedaction),
        auto_flag: false,
    };
    let sequencer = Sequencer::new(
        Box::new(writer.clone()),
        redaction,
        None,
        HashAlg::Sha256,
        SyncPolicy::Batch,
        queue.clone(),
        log.clone(),
        tip,
        GenAiCapture::default(),
    )
    .unwrap();
    (sequencer, queue, log, receiver)
}

fn tool_call(name: &str) -> Value {
    Value::Object(vec![
        ("decision_id".into(), Value::Null),
        ("name".into(), Value::from(name)),
    ])
}

/// A captured `tool_call` event, with the channel its caller waits on for an explicit entry.
fn event(name: &str, reply: Option<Reply>) -> Msg {
    Msg::Event {
        kind: "tool_call".into(),
        decision: None,
        fields: vec![("name", FieldValue::Str(name.to_owned()))],
        reply,
    }
}

/// An explicit `tool_call` whose caller waits for its chained position.
fn explicit(name: &str) -> (Msg, Receiver<Result<ChainedEntry, Error>>) {
    let (tx, rx) = bounded(1);
    (event(name, Some(tx)), rx)
}

#[test]
fn a_failed_commit_rolls_the_head_back_and_the_next_batch_opens_with_a_gap() {
    let writer = FailingWriter::default();
    let (mut seq, _queue, log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    seq.seal("tool_call", tool_call("kept"));
    seq.commit(Durability::Synced).unwrap();
    let committed = seq.committed.clone();
    assert_eq!(log.head(), committed);

    writer.fail_next_commits(1);
    for name in ["a", "b", "c"] {
        seq.seal("tool_call", tool_call(name));
    }
    assert_eq!(seq.working.next_seq, 4);
    let err = seq.commit(Durability::Synced).unwrap_err();
    assert!(
        matches!(&err, Error::Write(m) if m == "failing: injected failure"),
        "{err}"
    );
    // Head and published state are back at the last commit; the three entries are lost.
    assert_eq!(seq.working, committed);
    assert_eq!(log.head(), committed);
    assert_eq!(log.lost_entries(), 3);
    assert_eq!(log.committed_entries(), 1);
    assert_eq!(
        log.last_error().as_deref(),
        Some("failing: injected failure")
    );

    // The next entry takes the lost entries' place after the gap that records them.
    let (next, _) = seq.seal("tool_call", tool_call("d"));
    assert_eq!(next, 2);
    seq.commit(Durability::Synced).unwrap();
    assert_eq!(
        writer.kinds(),
        [
            "tool_call",
            "gap {\"lost_entries\": 3, \"first_lost_seq\": 1, \"error\": \"failing: injected failure\"}",
            "tool_call",
        ]
    );
    // The gap is on the chain: the following batch has none.
    seq.seal("tool_call", tool_call("e"));
    seq.commit(Durability::Synced).unwrap();
    assert_eq!(writer.kinds().last().unwrap(), "tool_call");
    assert_eq!(log.committed_entries(), 4);
    assert_eq!(log.lost_entries(), 3);
    writer.assert_linked();
}

#[test]
fn a_batch_that_fails_again_adds_its_user_entries_to_the_first_loss() {
    let writer = FailingWriter::default();
    let (mut seq, _queue, log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    writer.fail_next_commits(2);
    seq.seal("tool_call", tool_call("a"));
    seq.seal("tool_call", tool_call("b"));
    seq.commit(Durability::Synced).unwrap_err();
    // The second batch opens with a gap (the log's own entry, not a lost user entry).
    seq.seal("tool_call", tool_call("c"));
    assert_eq!(seq.batch_system, 1);
    seq.commit(Durability::Synced).unwrap_err();
    assert_eq!(log.lost_entries(), 3);

    // A flush records the loss at once, without waiting for another entry, and reports the
    // losses since the previous flush, once.
    let (tx, rx) = bounded(1);
    seq.handle(Msg::Flush(tx));
    let reported = rx.recv().unwrap().unwrap_err();
    assert!(
        reported
            .to_string()
            .contains("3 entries enqueued before this flush were not persisted"),
        "{reported}"
    );
    assert_eq!(
        writer.kinds(),
        [
            "gap {\"lost_entries\": 3, \"first_lost_seq\": 0, \"error\": \"failing: injected failure\"}"
        ]
    );
    let (tx, rx) = bounded(1);
    seq.handle(Msg::Flush(tx));
    assert_eq!(rx.recv().unwrap().unwrap(), log.head());
    writer.assert_linked();
}

#[test]
fn replies_of_a_failed_batch_get_its_error_and_of_a_committed_one_their_position() {
    let writer = FailingWriter::default();
    let (mut seq, _queue, log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    writer.fail_next_commits(1);
    let (msg, lost) = explicit("lost");
    seq.handle(msg);
    // Nobody is answered before the commit.
    assert!(lost.try_recv().is_err());
    seq.commit(Durability::Synced).unwrap_err();
    let err = lost.recv().unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::Write(m) if m == "failing: injected failure"),
        "{err}"
    );

    let (msg, kept) = explicit("kept");
    seq.handle(msg);
    seq.commit(Durability::Synced).unwrap();
    let entry = kept.recv().unwrap().unwrap();
    // Seq 0 is the gap that records the lost entry.
    assert_eq!(entry.seq, 1);
    assert_eq!(entry.hash, log.head().head);
    assert_eq!(entry.decision_id, None);
}

#[test]
fn a_failed_batch_gives_its_drop_count_back_to_be_chained_later() {
    let writer = FailingWriter::default();
    let (mut seq, queue, log, _rx) = sequencer(&writer, QueueFullPolicy::DropAndRecord);
    // Capacity 1 and nobody receiving: the first record is queued, the next two dropped.
    for name in ["queued", "dropped", "dropped"] {
        queue.send(event(name, None)).unwrap();
    }
    assert_eq!(queue.dropped_when_full(), 2);

    writer.fail_next_commits(1);
    // The next message the sequencer handles chains the drop count first.
    seq.handle(event("a", None));
    assert_eq!(seq.batch_dropped, 2);
    seq.commit(Durability::Synced).unwrap_err();
    // Only the user entry is lost; the drop count waits to be chained again, counted once.
    assert_eq!(log.lost_entries(), 1);
    assert_eq!(seq.batch_dropped, 0);
    assert_eq!(queue.dropped_when_full(), 2);

    // The next batch records the lost entry first, then the drops again.
    seq.commit(Durability::Synced).unwrap();
    assert_eq!(
        writer.kinds(),
        [
            "gap {\"lost_entries\": 1, \"first_lost_seq\": 0, \"error\": \"failing: injected failure\"}",
            "gap {\"dropped_entries\": 2, \"reason\": \"queue full (fail-open mode)\"}",
        ]
    );
    assert_eq!(queue.dropped_when_full(), 2);
    assert_eq!(queue.take_dropped(), 0);
    writer.assert_linked();
}

#[test]
fn the_segment_opening_entries_of_a_failed_batch_open_the_next_one() {
    let writer = FailingWriter::default();
    let (mut seq, _queue, log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    seq.seal("tool_call", tool_call("before"));
    seq.commit(Durability::Synced).unwrap();

    writer.store().wants_rotation = true;
    writer.fail_next_commits(1);
    seq.seal("tool_call", tool_call("first in segment"));
    assert_eq!(writer.store().rotations, 1);
    seq.commit(Durability::Synced).unwrap_err();
    // segment_open and retention are the log's own: only the user entry is lost.
    assert_eq!(log.lost_entries(), 1);
    assert_eq!(seq.pending_segment.len(), 2);

    // The writer still asks for a new segment, but the one it has must first be opened.
    seq.seal("tool_call", tool_call("second"));
    seq.commit(Durability::Synced).unwrap();
    assert_eq!(writer.store().rotations, 1);
    assert_eq!(
        writer.kinds(),
        [
            "tool_call",
            "segment_open",
            "retention",
            "gap {\"lost_entries\": 1, \"first_lost_seq\": 1, \"error\": \"failing: injected failure\"}",
            "tool_call",
        ]
    );
    let store = writer.store();
    let open = &store.committed[1].payload;
    assert_eq!(
        open.get("previous_head"),
        Some(&Value::from(store.committed[0].hash.as_str()))
    );
    assert_eq!(open.get("segment"), Some(&Value::from("seg-2")));
    drop(store);
    writer.assert_linked();
}
