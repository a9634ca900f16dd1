//! The sequencer's rollback and gap accounting, driven directly with a writer that fails the
//! commits it is told to fail (the end-to-end tests in `tests/faults.rs` and
//! `tests/review_regressions.rs` go through the layer and real files; these pin the state each
//! failed batch leaves behind).

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::{Receiver, bounded};

use super::{Redaction, Sequencer, SyncPolicy};
use crate::chain::{ChainTip, GENESIS, HashAlg, RenderedEntry, SealedEntry, SigningKey};
use crate::error::Error;
use crate::genai::GenAiCapture;
use crate::json::Value;
use crate::queue::{LogState, Msg, Queue, QueueFullPolicy, Reply};
use crate::record::{ChainedEntry, FieldValue};
use crate::redact::{Redactor, Report};
use crate::writer::{ChainWriter, DeletedSegment, Durability, ExistingChain, Rotation};

/// What the test writer holds and what the test tells it to do.
#[derive(Default)]
pub(super) struct Store {
    pub(super) committed: Vec<SealedEntry>,
    pending: Vec<SealedEntry>,
    /// The committed entries' lines as the sequencer rendered them (what the file writer
    /// writes), and the pending ones'.
    pub(super) committed_lines: Vec<String>,
    pending_lines: Vec<String>,
    /// How many of the next commits fail.
    pub(super) fail_commits: usize,
    /// Whether the writer asks for a new segment before each batch.
    pub(super) wants_rotation: bool,
    rotations: usize,
    /// What the writer answers to `max_entry_bytes` (the default when `None`; read by the
    /// sequencer when it is made).
    pub(super) max_entry: Option<usize>,
    /// Each successful commit: its entries and durability.
    pub(super) commits: Vec<(usize, Durability)>,
    /// Whether the writer begins commits (`begin_commit`), and the batch it began: its
    /// entries, lines and durability.
    pub(super) begins_commits: bool,
    begun: Option<(Vec<SealedEntry>, Vec<String>, Durability)>,
    /// How many of the next begun commits fail when they end.
    pub(super) fail_ends: usize,
}

/// An in-memory writer that fails on command, dropping the failed batch as the all-or-nothing
/// contract of [`ChainWriter::commit`] requires.
#[derive(Clone, Default)]
pub(super) struct FailingWriter(Arc<Mutex<Store>>);

impl FailingWriter {
    pub(super) fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A writer that begins commits (`ChainWriter::begin_commit`), as the file writer does.
    pub(super) fn beginning_commits() -> FailingWriter {
        let writer = FailingWriter::default();
        writer.store().begins_commits = true;
        writer
    }

    pub(super) fn fail_next_commits(&self, n: usize) {
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
    pub(super) fn assert_linked(&self) {
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
        let mut store = self.store();
        store.pending.push(entry.clone());
        store.pending_lines.push(entry.to_line());
    }

    fn append_rendered(&mut self, entry: &RenderedEntry<'_>) {
        let mut store = self.store();
        store.pending.push(entry.to_sealed());
        store.pending_lines.push(entry.line().to_owned());
    }

    fn commit(&mut self, durability: Durability) -> io::Result<()> {
        let mut store = self.store();
        if store.fail_commits > 0 {
            store.fail_commits -= 1;
            store.pending.clear();
            store.pending_lines.clear();
            return Err(io::Error::other("injected failure"));
        }
        let mut batch = std::mem::take(&mut store.pending);
        store.commits.push((batch.len(), durability));
        store.committed.append(&mut batch);
        let mut lines = std::mem::take(&mut store.pending_lines);
        store.committed_lines.append(&mut lines);
        Ok(())
    }

    fn begin_commit(&mut self, durability: Durability) -> bool {
        let mut store = self.store();
        if !store.begins_commits || store.begun.is_some() {
            return false;
        }
        let entries = std::mem::take(&mut store.pending);
        let lines = std::mem::take(&mut store.pending_lines);
        store.begun = Some((entries, lines, durability));
        true
    }

    fn end_commit(&mut self) -> io::Result<()> {
        let mut store = self.store();
        let Some((mut entries, mut lines, durability)) = store.begun.take() else {
            return Ok(());
        };
        if store.fail_ends > 0 {
            // The batch appended since was chained onto the failed one: it goes too.
            store.fail_ends -= 1;
            store.pending.clear();
            store.pending_lines.clear();
            return Err(io::Error::other("injected failure"));
        }
        store.commits.push((entries.len(), durability));
        store.committed.append(&mut entries);
        store.committed_lines.append(&mut lines);
        Ok(())
    }

    fn describe(&self) -> String {
        "failing".into()
    }

    fn wants_rotation(&self) -> bool {
        self.store().wants_rotation
    }

    fn max_entry_bytes(&self) -> usize {
        self.store()
            .max_entry
            .unwrap_or(crate::writer::DEFAULT_MAX_ENTRY_BYTES)
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
                ts: "2026-01-01T00:00:00.000000+00:00".into(),
                age_days: 0,
            }],
            retention_error: None,
            minimum_days: None,
            early_deletion: None,
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
pub(super) fn sequencer(
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
        fields: vec![("name", FieldValue::Str(name.into()))],
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

/// A writer that takes lines of at most [`MIN_ENTRY_BYTES`](crate::writer::MIN_ENTRY_BYTES).
fn small_writer() -> FailingWriter {
    let writer = FailingWriter::default();
    writer.store().max_entry = Some(crate::writer::MIN_ENTRY_BYTES);
    writer
}

/// Issue #12 item 2: every committed line fits the writer's limit.
fn assert_lines_fit(writer: &FailingWriter) {
    for e in &writer.store().committed {
        let len = e.to_line().len();
        assert!(
            len <= crate::writer::MIN_ENTRY_BYTES,
            "seq {} is {len} bytes",
            e.seq
        );
    }
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    crate::hex::to_hex(&sha2::Sha256::digest(s.as_bytes()))
}

#[test]
fn item2_an_oversized_field_is_replaced_by_its_digest_and_the_flag_names_it() {
    let writer = small_writer();
    let (mut seq, _queue, log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    let result = "r".repeat(100_000);
    let mut payload = tool_call("fetch");
    payload.set("result", result.as_str());
    let (entry_seq, _) = seq.seal("tool_call", payload);
    seq.commit(Durability::Synced).unwrap();
    assert_eq!(writer.kinds(), ["tool_call", "policy_flag"]);
    writer.assert_linked();
    assert_lines_fit(&writer);
    let store = writer.store();
    let entry = &store.committed[0].payload;
    assert_eq!(entry.get("name"), Some(&Value::from("fetch")));
    assert_eq!(
        entry.get("result"),
        Some(&Value::Object(vec![
            ("omitted_bytes".into(), Value::from(100_000u64)),
            ("sha256".into(), Value::from(sha256_hex(&result))),
        ]))
    );
    let flag = &store.committed[1].payload;
    assert_eq!(flag.get("action"), Some(&Value::from("redacted")));
    assert_eq!(flag.get("entry_seq"), Some(&Value::from(entry_seq)));
    assert_eq!(flag.get("entry_type"), Some(&Value::from("tool_call")));
    assert_eq!(
        flag.get("fields"),
        Some(&Value::Array(vec![Value::Object(vec![
            ("path".into(), Value::from("/result")),
            ("bytes".into(), Value::from(100_000u64)),
        ])]))
    );
    let reason = flag.get("reason").and_then(Value::as_str).unwrap();
    assert!(reason.contains("/result (100000 bytes)"), "{reason}");
    // The value itself is nowhere on the chain.
    assert!(!crate::json::to_line_string(flag).contains("rrrr"));
    assert_eq!(log.oversized_refused(), 0);
}

#[test]
fn item2_nested_oversized_strings_go_largest_first_and_small_ones_stay() {
    let writer = small_writer();
    let (mut seq, _queue, _log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    let message = |role: &str, content: String| {
        Value::Object(vec![
            ("role".into(), Value::from(role)),
            ("content".into(), Value::from(content)),
        ])
    };
    let mut payload = tool_call("chat");
    payload.set(
        "input_messages",
        Value::Array(vec![
            message("system", "s".repeat(500)),
            message("user", "u".repeat(20_000)),
            message("user", "v".repeat(14_000)),
        ]),
    );
    payload.set("arguments", "a".repeat(3_000));
    seq.seal("llm_call", payload);
    seq.commit(Durability::Synced).unwrap();
    assert_lines_fit(&writer);
    let store = writer.store();
    let entry = &store.committed[0].payload;
    let Some(Value::Array(messages)) = entry.get("input_messages") else {
        panic!("{entry}")
    };
    // 37.5 KB of strings against a 16 KiB line: the two longest go, the rest stay.
    assert!(
        messages[1]
            .get("content")
            .unwrap()
            .get("omitted_bytes")
            .is_some()
    );
    assert!(
        messages[2]
            .get("content")
            .unwrap()
            .get("omitted_bytes")
            .is_some()
    );
    assert_eq!(
        messages[0].get("content"),
        Some(&Value::from("s".repeat(500)))
    );
    assert_eq!(
        entry.get("arguments"),
        Some(&Value::from("a".repeat(3_000)))
    );
    let flag = &store.committed[1].payload;
    let Some(Value::Array(fields)) = flag.get("fields") else {
        panic!("{flag}")
    };
    let paths: Vec<&str> = fields
        .iter()
        .filter_map(|f| f.get("path").and_then(Value::as_str))
        .collect();
    assert_eq!(
        paths,
        ["/input_messages/1/content", "/input_messages/2/content"]
    );
}

#[test]
fn item2_an_entry_that_cannot_fit_is_refused_counted_and_flagged_in_its_place() {
    let writer = small_writer();
    let (mut seq, _queue, log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    // Thousands of short fields: no string is worth replacing, the skeleton alone is too long.
    let mut payload = tool_call("wide");
    for i in 0..3000 {
        payload.set(&format!("k{i}"), i as u64);
    }
    let (tx, rx) = bounded(1);
    seq.seal("tool_call", payload);
    // An explicit entry that fits once its long note is omitted: its caller gets its position.
    let explicit = Msg::Event {
        kind: "human_oversight".into(),
        decision: None,
        fields: vec![("note", FieldValue::Str("n".repeat(20_000).as_str().into()))],
        reply: Some(tx),
    };
    assert!(seq.handle(explicit).is_none());
    seq.commit(Durability::Synced).unwrap();
    assert_lines_fit(&writer);
    writer.assert_linked();
    assert_eq!(
        writer.kinds(),
        ["policy_flag", "human_oversight", "policy_flag"]
    );
    assert_eq!(log.oversized_refused(), 1);
    let store = writer.store();
    let refusal = &store.committed[0].payload;
    assert_eq!(refusal.get("action"), Some(&Value::from("blocked")));
    assert_eq!(refusal.get("entry_type"), Some(&Value::from("tool_call")));
    assert!(
        log.last_error()
            .is_some_and(|e| e.contains("tool_call entry") && e.contains("refused"))
    );
    let answer = rx.recv().unwrap().unwrap();
    assert_eq!(answer.seq, 1);
}

#[test]
fn item2_an_explicit_entry_that_is_refused_answers_its_caller_with_the_refusal() {
    let writer = small_writer();
    let (mut seq, _queue, log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    let (tx, rx) = bounded(1);
    let many: Vec<String> = (0..3000).map(|i| format!("c{i}")).collect();
    let data = Value::Array(many.iter().map(|c| Value::from(c.as_str())).collect());
    let flag = Msg::Event {
        kind: "policy_flag".into(),
        decision: None,
        fields: vec![
            ("reason", FieldValue::Str("too many".into())),
            ("data", FieldValue::Json(data)),
        ],
        reply: Some(tx),
    };
    assert!(seq.handle(flag).is_none());
    seq.commit(Durability::Synced).unwrap();
    let err = rx.recv().unwrap().unwrap_err();
    match err {
        Error::Blocked {
            operation,
            categories,
            entry,
        } => {
            assert_eq!(operation, "policy_flag");
            assert_eq!(categories, ["oversized_entry"]);
            assert_eq!(entry.seq, 0);
        }
        other => panic!("{other}"),
    }
    assert_eq!(log.oversized_refused(), 1);
    assert_lines_fit(&writer);
}

#[test]
fn item2_the_writer_limit_is_kept_within_what_the_verifier_reads() {
    for (asked, used) in [
        (usize::MAX, crate::writer::DEFAULT_MAX_ENTRY_BYTES),
        (0, crate::writer::MIN_ENTRY_BYTES),
        (1 << 20, 1 << 20),
    ] {
        let writer = FailingWriter::default();
        writer.store().max_entry = Some(asked);
        let (seq, _queue, _log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
        assert_eq!(seq.max_entry, used, "{asked}");
    }
}

// --- Checkpoints (issue #13) ---

mod checkpoints {
    use super::*;
    use crate::checkpoint::{
        Checkpoint, CheckpointSink, CommittedCheckpoint, Frontier, SignerKey, SinkEvent,
        SinkThread, root_of,
    };
    use crate::sequencer::CheckpointSetup;
    use std::time::Duration;

    const ORIGIN: &str = "test.example/log";

    fn signer() -> SignerKey {
        SignerKey::from_seed(ORIGIN, zeroize::Zeroizing::new([9u8; 32])).unwrap()
    }

    /// Records what it is given; reports a cosignature for each.
    struct Recording(crossbeam_channel::Sender<CommittedCheckpoint>);

    impl CheckpointSink for Recording {
        fn describe(&self) -> String {
            "recording".into()
        }
        fn latest(&mut self, _: &str) -> Result<Option<String>, Error> {
            Ok(None)
        }
        fn publish(&mut self, c: &CommittedCheckpoint) -> Vec<SinkEvent> {
            let _ = self.0.send(c.clone());
            vec![SinkEvent::Cosignature {
                witness: "w.example".into(),
                tree_size: c.tree_size,
                signature_line: format!("— w.example sig-of-{}", c.tree_size),
            }]
        }
    }

    /// A sequencer on a new chain writing checkpoints every `every` entries (never by time),
    /// with a recording sink; returns what the sink receives and the channel that disconnects
    /// once the sink thread has delivered everything.
    fn sequencer_with_checkpoints(
        writer: &FailingWriter,
        every: u64,
    ) -> (
        Sequencer,
        Arc<LogState>,
        Receiver<Msg>,
        Receiver<CommittedCheckpoint>,
        Receiver<()>,
    ) {
        let (mut seq, _queue, log, rx) = sequencer(writer, QueueFullPolicy::Block);
        let (tx, seen) = crossbeam_channel::unbounded();
        let (sink, done) = SinkThread::spawn(vec![Box::new(Recording(tx))]).unwrap();
        seq.enable_checkpoints(CheckpointSetup {
            signer: signer(),
            every,
            interval: Duration::from_secs(3600),
            tree: Frontier::new(),
            last_checkpoint: None,
            sink: Some(sink),
            sink_base: Frontier::new(),
            sink_leaves: Vec::new(),
        })
        .unwrap();
        (seq, log, rx, seen, done)
    }

    fn leaf(e: &SealedEntry) -> [u8; 32] {
        crate::hex::from_hex64(e.hash.as_bytes()).unwrap()
    }

    /// Checks every committed checkpoint entry against the chain before it, computed here from
    /// the entries; returns their tree sizes.
    fn assert_checkpoints_consistent(writer: &FailingWriter) -> Vec<u64> {
        use base64::Engine;
        let store = writer.store();
        let leaves: Vec<[u8; 32]> = store.committed.iter().map(leaf).collect();
        let mut sizes = Vec::new();
        for e in store.committed.iter().filter(|e| e.kind == "checkpoint") {
            let size = e.payload.get("tree_size").and_then(Value::as_u64).unwrap();
            assert_eq!(size, e.seq, "a checkpoint's tree size is its seq");
            let root = root_of(&leaves[..size as usize]);
            let b64 = base64::engine::general_purpose::STANDARD.encode(root);
            assert_eq!(e.payload.get("root").and_then(Value::as_str), Some(&*b64));
            let note = e.payload.get("note").and_then(Value::as_str).unwrap();
            let c = Checkpoint::from_note(note, &[signer().verifier()]).unwrap();
            assert_eq!((c.origin.as_str(), c.size, c.root), (ORIGIN, size, root));
            sizes.push(size);
        }
        sizes
    }

    fn seal_n(seq: &mut Sequencer, n: usize) {
        for i in 0..n {
            seq.seal("tool_call", tool_call(&format!("t{i}")));
        }
    }

    #[test]
    fn a_checkpoint_is_sealed_first_in_the_batch_after_the_entries_it_covers() {
        let writer = FailingWriter::default();
        let (mut seq, log, _rx, seen, done) = sequencer_with_checkpoints(&writer, 3);
        seal_n(&mut seq, 2);
        seq.commit(Durability::Synced).unwrap();
        // Two uncovered entries: not due yet at 3.
        seq.checkpoint_if_due(false).unwrap();
        assert_eq!(log.checkpoints(), (0, None));
        seal_n(&mut seq, 2);
        seq.commit(Durability::Synced).unwrap();
        seq.checkpoint_if_due(false).unwrap();
        // Due by cadence: sealed first in the next batch, published when that batch commits,
        // which is made Synced because it holds a checkpoint.
        assert!(seq.checkpoint_in_batch());
        assert_eq!(log.checkpoints(), (0, None));
        seq.commit(Durability::Written).unwrap();
        assert_eq!(
            writer.store().commits.last(),
            Some(&(1, Durability::Synced))
        );
        assert_eq!(log.checkpoints(), (1, Some(4)));
        // The only uncovered entry is the checkpoint itself: even a flush adds none.
        seq.checkpoint_if_due(true).unwrap();
        assert_eq!(log.checkpoints(), (1, Some(4)));
        // One more entry, then a forced one (flush, shutdown, rotation).
        seal_n(&mut seq, 1);
        seq.checkpoint_if_due(true).unwrap();
        assert_eq!(assert_checkpoints_consistent(&writer), [4, 6]);
        writer.assert_linked();
        drop(seq);
        assert!(done.recv().is_err());
        // The sink saw both, in order, each with the leaves since the one before.
        let got: Vec<CommittedCheckpoint> = seen.try_iter().collect();
        let leaves: Vec<[u8; 32]> = writer.store().committed.iter().map(leaf).collect();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].previous_size, got[0].tree_size), (0, 4));
        assert_eq!(got[0].leaves, leaves[..4]);
        assert_eq!((got[1].previous_size, got[1].tree_size), (4, 6));
        assert_eq!(got[1].leaves, leaves[4..6]);
        let mut at4 = Frontier::new();
        leaves[..4].iter().for_each(|l| at4.append(l));
        assert_eq!(got[1].previous_frontier, at4);
    }

    /// With checkpoints every 3 entries: three entries committed, the checkpoint due by cadence
    /// sealed first in the next batch, and two entries behind it, not committed yet.
    fn seal_cadence_checkpoint_and_two_behind(seq: &mut Sequencer) {
        seal_n(seq, 3);
        seq.commit(Durability::Synced).unwrap();
        seq.checkpoint_if_due(false).unwrap();
        assert!(seq.checkpoint_in_batch());
        seal_n(seq, 2);
    }

    #[test]
    fn a_cadence_checkpoint_rides_in_one_synced_commit_with_the_entries_behind_it() {
        let writer = FailingWriter::default();
        let (mut seq, log, _rx, seen, done) = sequencer_with_checkpoints(&writer, 3);
        seal_cadence_checkpoint_and_two_behind(&mut seq);
        assert_eq!(log.checkpoints(), (0, None));
        seq.commit(Durability::Written).unwrap();
        assert_eq!(
            writer.store().commits,
            [(3, Durability::Synced), (3, Durability::Synced)],
            "no commit of the checkpoint alone"
        );
        assert_eq!(
            writer.kinds(),
            [
                "tool_call",
                "tool_call",
                "tool_call",
                "checkpoint",
                "tool_call",
                "tool_call"
            ]
        );
        assert_eq!(log.checkpoints(), (1, Some(3)));
        assert_eq!(assert_checkpoints_consistent(&writer), [3]);
        // The entries after the checkpoint are uncovered: the next forced one covers them.
        seq.checkpoint_if_due(true).unwrap();
        assert_eq!(assert_checkpoints_consistent(&writer), [3, 6]);
        writer.assert_linked();
        drop(seq);
        assert!(done.recv().is_err());
        let leaves: Vec<[u8; 32]> = writer.store().committed.iter().map(leaf).collect();
        let got: Vec<CommittedCheckpoint> = seen.try_iter().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].leaves, leaves[..3]);
        assert_eq!((got[1].previous_size, got[1].tree_size), (3, 6));
        assert_eq!(got[1].leaves, leaves[3..6]);
    }

    #[test]
    fn a_failed_batch_holding_a_cadence_checkpoint_never_publishes_it() {
        let writer = FailingWriter::default();
        let (mut seq, log, _rx, seen, done) = sequencer_with_checkpoints(&writer, 3);
        seal_cadence_checkpoint_and_two_behind(&mut seq);
        writer.fail_next_commits(1);
        seq.commit(Durability::Written).unwrap_err();
        assert!(!seq.checkpoint_in_batch());
        assert_eq!(log.checkpoints(), (0, None));
        // The checkpoint was the log's own entry: only the two user entries are lost.
        assert_eq!(log.lost_entries(), 2);
        assert_eq!(seq.checkpoints.as_ref().unwrap().tree().unwrap().size(), 3);
        seq.checkpoint_if_due(true).unwrap();
        let sizes = assert_checkpoints_consistent(&writer);
        assert_eq!(sizes.len(), 1);
        assert!(writer.kinds()[3].starts_with("gap"), "{:?}", writer.kinds());
        writer.assert_linked();
        drop(seq);
        assert!(done.recv().is_err());
        let published: Vec<u64> = seen.try_iter().map(|c| c.tree_size).collect();
        assert_eq!(
            published, sizes,
            "the sink never saw the uncommitted checkpoint"
        );
    }

    #[test]
    fn a_failed_checkpoint_batch_is_never_published_and_the_tree_rolls_back() {
        let writer = FailingWriter::default();
        let (mut seq, log, _rx, seen, done) = sequencer_with_checkpoints(&writer, 1000);
        seal_n(&mut seq, 3);
        seq.commit(Durability::Synced).unwrap();
        // The covered entries are committed; the checkpoint's own batch fails.
        writer.fail_next_commits(1);
        seq.checkpoint_if_due(true).unwrap_err();
        assert_eq!(log.checkpoints(), (0, None));
        // The checkpoint was not a user entry: nothing is counted lost, no gap follows.
        assert_eq!(log.lost_entries(), 0);
        assert_eq!(seq.checkpoints.as_ref().unwrap().tree().unwrap().size(), 3);
        // Entries take the lost checkpoint's place; the next checkpoint signs the tree at its
        // new position.
        seal_n(&mut seq, 2);
        seq.checkpoint_if_due(true).unwrap();
        assert_eq!(assert_checkpoints_consistent(&writer), [5]);
        assert!(!writer.kinds().iter().any(|k| k.starts_with("gap")));
        writer.assert_linked();
        drop(seq);
        assert!(done.recv().is_err());
        let sizes: Vec<u64> = seen.try_iter().map(|c| c.tree_size).collect();
        assert_eq!(sizes, [5], "the sink never saw the uncommitted checkpoint");
    }

    #[test]
    fn a_failed_user_batch_rolls_the_tree_back_with_the_head() {
        let writer = FailingWriter::default();
        let (mut seq, _log, _rx, _seen, _done) = sequencer_with_checkpoints(&writer, 1000);
        seal_n(&mut seq, 2);
        seq.commit(Durability::Synced).unwrap();
        writer.fail_next_commits(1);
        seal_n(&mut seq, 3);
        assert_eq!(seq.checkpoints.as_ref().unwrap().tree().unwrap().size(), 5);
        seq.commit(Durability::Synced).unwrap_err();
        assert_eq!(seq.checkpoints.as_ref().unwrap().tree().unwrap().size(), 2);
        // The gap and the next entries continue the tree; the checkpoint covers them.
        seal_n(&mut seq, 1);
        seq.checkpoint_if_due(true).unwrap();
        assert_eq!(assert_checkpoints_consistent(&writer), [4]);
        assert!(writer.kinds()[2].starts_with("gap"));
    }

    #[test]
    fn a_failed_batch_larger_than_a_hand_over_rolls_back_on_the_tree_thread() {
        // Batches of more than 256 leaves reach the tree thread while they are sealed: a
        // failure must take them off there too.
        let writer = FailingWriter::default();
        let (mut seq, _log, _rx, _seen, _done) = sequencer_with_checkpoints(&writer, 1 << 20);
        seal_n(&mut seq, 300);
        seq.commit(Durability::Synced).unwrap();
        writer.fail_next_commits(1);
        seal_n(&mut seq, 600);
        assert_eq!(seq.checkpoints.as_ref().unwrap().size(), 900);
        seq.commit(Durability::Synced).unwrap_err();
        let tree = seq.checkpoints.as_ref().unwrap().tree().unwrap();
        let committed: Vec<[u8; 32]> = writer.store().committed.iter().map(leaf).collect();
        assert_eq!(committed.len(), 300);
        assert_eq!((tree.size(), tree.root()), (300, root_of(&committed)));
        seal_n(&mut seq, 700);
        seq.checkpoint_if_due(true).unwrap();
        assert_eq!(assert_checkpoints_consistent(&writer), [1001]);
        writer.assert_linked();
    }

    #[test]
    fn rotation_checkpoints_the_sealed_segment_and_records_the_tree_in_segment_open() {
        let writer = FailingWriter::default();
        let (mut seq, _log, _rx, _seen, _done) = sequencer_with_checkpoints(&writer, 1000);
        seal_n(&mut seq, 3);
        seq.commit(Durability::Synced).unwrap();
        writer.store().wants_rotation = true;
        seq.seal("tool_call", tool_call("after"));
        writer.store().wants_rotation = false;
        seq.commit(Durability::Synced).unwrap();
        assert_eq!(
            writer.kinds(),
            [
                "tool_call",
                "tool_call",
                "tool_call",
                "checkpoint",
                "segment_open",
                "retention",
                "tool_call"
            ]
        );
        assert_eq!(assert_checkpoints_consistent(&writer), [3]);
        let store = writer.store();
        let open = &store.committed[4];
        assert_eq!(
            open.payload.get("tree_size").and_then(Value::as_u64),
            Some(4)
        );
        let mut tree = Frontier::new();
        store.committed[..4]
            .iter()
            .for_each(|e| tree.append(&leaf(e)));
        let recorded: Vec<String> = match open.payload.get("frontier") {
            Some(Value::Array(a)) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
            other => panic!("{other:?}"),
        };
        let expected: Vec<String> = tree
            .subtrees()
            .iter()
            .map(|h| crate::hex::to_hex(h))
            .collect();
        assert_eq!(recorded, expected);
    }

    #[test]
    fn what_the_sinks_report_is_chained_and_does_not_ask_for_a_checkpoint_by_cadence() {
        let writer = FailingWriter::default();
        let (mut seq, log, _rx, seen, _done) = sequencer_with_checkpoints(&writer, 1);
        seal_n(&mut seq, 1);
        seq.checkpoint_if_due(true).unwrap();
        // Wait for the sink to take it, then for its report to arrive.
        let given = seen.recv().unwrap();
        let event_rx = seq.sink_events();
        // The report follows the hand-off; it waits in the channel until the sequencer reads it.
        while event_rx.is_empty() {
            std::thread::yield_now();
        }
        seq.seal_sink_events();
        seq.commit(Durability::Synced).unwrap();
        let store = writer.store();
        let cosig = store.committed.last().unwrap();
        assert_eq!(cosig.kind, "cosignature");
        assert_eq!(
            crate::json::to_line_string(&cosig.payload),
            format!(
                "{{\"witness\": \"w.example\", \"tree_size\": {0}, \"signature_line\": \"— w.example sig-of-{0}\"}}",
                given.tree_size
            )
        );
        drop(store);
        // Every 1 entry, yet the report alone does not make a checkpoint due; a flush covers it.
        seq.checkpoint_if_due(false).unwrap();
        assert_eq!(log.checkpoints().0, 1);
        seq.checkpoint_if_due(true).unwrap();
        assert_eq!(log.checkpoints().0, 2);
        assert_eq!(assert_checkpoints_consistent(&writer).len(), 2);
    }
}

mod epochs {
    use super::*;
    use crate::checkpoint::{EpochState, Frontier, SignerKey};
    use crate::sequencer::{CheckpointSetup, EpochSetup};
    use crate::verify::{CheckpointOptions, VerifyOptions, verify_reader};
    use std::time::Duration;

    const ORIGIN: &str = "test.example/log";
    const HOUR: Duration = Duration::from_secs(3600);

    fn signer() -> SignerKey {
        SignerKey::from_seed(ORIGIN, zeroize::Zeroizing::new([9u8; 32])).unwrap()
    }

    /// A sequencer with checkpoints (by flush only) and forward security (rolls by explicit
    /// call only), its state at `state`.
    fn sequencer_with_epochs(writer: &FailingWriter, state: &std::path::Path) -> Sequencer {
        let (mut seq, _queue, _log, _rx) = sequencer(writer, QueueFullPolicy::Block);
        seq.enable_checkpoints(CheckpointSetup {
            signer: signer(),
            every: 1 << 20,
            interval: HOUR,
            tree: Frontier::new(),
            last_checkpoint: None,
            sink: None,
            sink_base: Frontier::new(),
            sink_leaves: Vec::new(),
        })
        .unwrap();
        seq.enable_forward_security(EpochSetup {
            state: EpochState::load(state).unwrap(),
            path: state.to_owned(),
            every: u64::MAX,
            interval: HOUR,
        });
        seq
    }

    fn verify_committed(writer: &FailingWriter, fs_key: &crate::checkpoint::VerifierKey) {
        let text: String = writer
            .store()
            .committed
            .iter()
            .map(|e| e.to_line())
            .collect();
        let v = verify_reader(
            text.as_bytes(),
            "failing",
            &VerifyOptions {
                checkpoints: CheckpointOptions {
                    keys: vec![signer().verifier()],
                    fs_key: Some(fs_key.clone()),
                    ..CheckpointOptions::default()
                },
                ..VerifyOptions::default()
            },
        )
        .unwrap();
        assert!(v.ok(), "{}: {:#?}", v.summary(), v.problems);
    }

    /// A new epoch state file (epoch 0) in a temporary directory; returns the directory, the
    /// file and epoch 0's verifier key.
    fn new_epoch_state() -> (
        tempfile::TempDir,
        std::path::PathBuf,
        crate::checkpoint::VerifierKey,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.fs");
        let initial = EpochState::generate(ORIGIN).unwrap();
        initial.create_new(&path).unwrap();
        (dir, path, initial.current.signer.verifier())
    }

    #[test]
    fn a_roll_whose_commit_fails_keeps_the_key_in_force_and_retries_with_the_same_next_key() {
        let (_dir, path, e0) = new_epoch_state();
        let writer = FailingWriter::default();
        let mut seq = sequencer_with_epochs(&writer, &path);
        for i in 0..3 {
            seq.seal("tool_call", tool_call(&format!("t{i}")));
        }
        seq.checkpoint_if_due(true).unwrap();

        // The announcement's batch fails: E(0) stays in force, both keys stay in the state.
        writer.fail_next_commits(1);
        seq.roll_epoch_if_due(true).unwrap_err();
        assert_eq!(seq.epochs.as_ref().unwrap().current_epoch(), 0);
        let on_disk = EpochState::load(&path).unwrap();
        assert_eq!(on_disk.current.signer.verifier(), e0);
        let pending = on_disk
            .next
            .expect("E(1) stored before the announcement")
            .signer;
        assert!(!writer.kinds().contains(&"key_epoch".to_owned()));
        // A checkpoint meanwhile is still signed by E(0).
        seq.seal("tool_call", tool_call("between"));
        seq.checkpoint_if_due(true).unwrap();
        verify_committed(&writer, &e0);

        // The retry announces the very key that was stored, then drops E(0).
        seq.roll_epoch_if_due(true).unwrap();
        assert_eq!(seq.epochs.as_ref().unwrap().current_epoch(), 1);
        let store = writer.store();
        let announced = store
            .committed
            .iter()
            .rfind(|e| e.kind == "key_epoch")
            .unwrap();
        assert_eq!(
            announced.payload.get("key").and_then(Value::as_str),
            Some(pending.verifier().to_string().as_str())
        );
        drop(store);
        let on_disk = EpochState::load(&path).unwrap();
        assert!(on_disk.next.is_none());
        assert_eq!(on_disk.current.epoch, 1);
        assert_eq!(on_disk.current.signer.verifier(), pending.verifier());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        seq.seal("tool_call", tool_call("after"));
        seq.checkpoint_if_due(true).unwrap();
        writer.assert_linked();
        verify_committed(&writer, &e0);
    }

    #[test]
    fn a_state_that_cannot_be_stored_leaves_the_epoch_unrolled() {
        let (dir, path, e0) = new_epoch_state();
        let writer = FailingWriter::default();
        let mut seq = sequencer_with_epochs(&writer, &path);
        seq.seal("tool_call", tool_call("t"));
        // The state's directory is gone: the next key cannot be stored, so it is never
        // announced.
        drop(dir);
        seq.roll_epoch_if_due(true).unwrap_err();
        assert_eq!(seq.epochs.as_ref().unwrap().current_epoch(), 0);
        assert!(!writer.kinds().contains(&"key_epoch".to_owned()));
        seq.checkpoint_if_due(true).unwrap();
        verify_committed(&writer, &e0);
    }
}

#[test]
fn the_id_hasher_tells_span_ids_and_decision_ids_apart() {
    use std::hash::BuildHasher;
    let build = std::hash::BuildHasherDefault::<super::IdHasher>::default();
    // Consecutive span ids: distinct hashes, and distinct in the low bits that pick a bucket.
    let mut low = std::collections::HashSet::new();
    for span in 1..=4096u64 {
        assert!(low.insert(build.hash_one(span) & 4095), "span {span}");
    }
    // Decision ids differing in any one hex digit, the last (in a partial word) included.
    let mut ids = super::DecisionIds::new().unwrap();
    let mut seen = std::collections::HashSet::new();
    for n in 1..=1000u64 {
        let id = ids.next().as_str().to_owned();
        // The first 16 bytes of the keyed BLAKE3 of the counter, in lowercase hex.
        let h = blake3::keyed_hash(&ids.key, &n.to_le_bytes());
        assert_eq!(id, crate::hex::to_hex(&h.as_bytes()[..16]));
        for i in 0..id.len() {
            let mut other = id.clone().into_bytes();
            other[i] = if other[i] == b'0' { b'1' } else { b'0' };
            let other = String::from_utf8(other).unwrap();
            assert_ne!(build.hash_one(&id), build.hash_one(&other), "{id} {i}");
        }
        assert!(seen.insert(build.hash_one(&id)));
        // A shorter key is not the same key padded with zeros.
        assert_ne!(
            build.hash_one(&id[..31]),
            build.hash_one(format!("{}\0", &id[..31]))
        );
    }
}

/// The benchmark's decision (benches/support/workload.rs) as captured messages, redacted by
/// the built-in redactor, sealed: the lines, with the fields that change from run to run
/// (time, hashes, signatures, random decision ids) masked, are the bytes HEAD f9ca11c wrote for the same
/// decision (taken from its `write_throughput` log), and each hash is SHA-256 over the
/// previous hash and the canonical body rendered apart by `json::to_canonical`, signed.
#[test]
fn the_workload_decision_seals_to_the_bytes_it_always_had() {
    use crate::redact::BuiltinRedactor;
    let writer = FailingWriter::default();
    let (mut seq, _queue, _log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    let builtin = BuiltinRedactor::new(crate::redact::Policy::default_preset());
    seq.redaction = Redaction {
        redactor: Arc::new(builtin),
        content_strict: Arc::new(BuiltinRedactor::new(crate::redact::Policy::default_preset())),
        auto_flag: true,
    };
    let key = SigningKey::from_bytes("bench-key-0123456789").unwrap();
    seq.sealer = crate::chain::Sealer::new(HashAlg::Sha256, Some(&key));
    let s = |t: &str| FieldValue::Str(t.into());
    let event = |kind: &'static str, fields: Vec<(&'static str, FieldValue)>| Msg::Event {
        kind: kind.into(),
        decision: Some(7),
        fields,
        reply: None,
    };
    let msgs = vec![
        Msg::DecisionOpen {
            span: 7,
            parent: None,
            name: "decide",
            fields: vec![
                ("audit.decision", s("loan")),
                ("actor", s("agent")),
                ("applicant", FieldValue::U64(3)),
                ("amount", FieldValue::U64(1003)),
                ("note", s("standard application")),
            ],
        },
        event(
            "llm_call",
            vec![
                ("provider", s("openai")),
                ("model", s("gpt-4o")),
                ("input_tokens", FieldValue::U64(812)),
                ("output_tokens", FieldValue::U64(64)),
                ("cost", s("0.0123 USD")),
                ("latency_ms", FieldValue::F64(412.5)),
            ],
        ),
        event(
            "tool_call",
            vec![
                ("name", s("credit_score")),
                ("arguments", s("{\"applicant\": 3}")),
            ],
        ),
        Msg::DecisionRecord {
            span: 7,
            fields: vec![("note", s("reviewed"))],
        },
        event(
            "human_oversight",
            vec![("reviewer", s("ops@bank")), ("action", s("approved"))],
        ),
        Msg::DecisionClose {
            span: 7,
            duration: std::time::Duration::from_micros(1_234_567),
        },
    ];
    for m in msgs {
        assert!(seq.handle(m).is_none());
    }
    seq.commit(Durability::Synced).unwrap();
    writer.assert_linked();
    let store = writer.store();
    let mut lines = Vec::new();
    for e in &store.committed {
        let body = crate::json::to_canonical(&Value::Object(vec![
            ("payload".into(), e.payload.clone()),
            ("seq".into(), Value::from(e.seq)),
            ("ts".into(), Value::from(e.ts.as_str())),
            ("type".into(), Value::from(e.kind.as_str())),
        ]));
        let hash = crate::chain::digest(HashAlg::Sha256, e.prev_hash.as_bytes(), body.as_bytes());
        assert_eq!(e.hash, crate::hex::to_hex(&hash), "seq {}", e.seq);
        assert_eq!(e.sig, key.sign(&e.hash), "seq {}", e.seq);
        let line = super::render_tests::masked(&e.to_line());
        lines.push(line);
    }
    let want = [
        r#"{"seq": 0, "ts": "X", "type": "decision", "payload": {"decision_id": "X", "name": "loan", "actor": "agent", "applicant": 3, "amount": 1003, "note": "standard application"}, "prev_hash": "X", "hash": "X", "sig": "X"}"#,
        r#"{"seq": 1, "ts": "X", "type": "llm_call", "payload": {"decision_id": "X", "provider": "openai", "model": "gpt-4o", "cost": "0.0123 USD", "latency_ms": 412.5, "usage": {"input_tokens": 812, "output_tokens": 64}}, "prev_hash": "X", "hash": "X", "sig": "X"}"#,
        r#"{"seq": 2, "ts": "X", "type": "tool_call", "payload": {"decision_id": "X", "name": "credit_score", "arguments": "{\"applicant\": 3}"}, "prev_hash": "X", "hash": "X", "sig": "X"}"#,
        r#"{"seq": 3, "ts": "X", "type": "decision_record", "payload": {"decision_id": "X", "note": "reviewed"}, "prev_hash": "X", "hash": "X", "sig": "X"}"#,
        r#"{"seq": 4, "ts": "X", "type": "human_oversight", "payload": {"decision_id": "X", "reviewer": "ops@bank", "action": "approved"}, "prev_hash": "X", "hash": "X", "sig": "X"}"#,
        r#"{"seq": 5, "ts": "X", "type": "decision_end", "payload": {"decision_id": "X", "duration_ms": 1234.567, "llm_calls": 1, "usage": {"input_tokens": 812, "output_tokens": 64}, "cost": "0.0123 USD", "outcome": "ok", "entries_count": 5, "entries_digest": "X"}, "prev_hash": "X", "hash": "X", "sig": "X"}"#,
    ];
    let got: Vec<&str> = lines.iter().map(|l| l.trim_end()).collect();
    assert_eq!(got, want);
}

/// `count` explicit `tool_call`s handed to the sequencer, with the channels their callers wait
/// on.
fn explicit_calls(
    seq: &mut Sequencer,
    prefix: &str,
    count: usize,
) -> Vec<Receiver<Result<ChainedEntry, Error>>> {
    (0..count)
        .map(|i| {
            let (msg, rx) = explicit(&format!("{prefix}{i}"));
            seq.handle(msg);
            rx
        })
        .collect()
}

#[test]
fn a_begun_batch_is_acknowledged_only_once_its_commit_ends() {
    let writer = FailingWriter::beginning_commits();
    let (mut seq, _queue, log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    let first = explicit_calls(&mut seq, "a", 3);
    seq.commit_full_batch(Durability::Synced).unwrap();
    assert!(seq.begun.is_some(), "the writer began the commit");
    // Begun, not ended: nobody is answered, nothing is published, the next batch is sealed
    // onto it.
    assert!(first.iter().all(|rx| rx.try_recv().is_err()));
    assert_eq!(log.committed_entries(), 0);
    assert_eq!(seq.committed.next_seq, 0);
    let second = explicit_calls(&mut seq, "b", 2);
    assert_eq!(seq.working.next_seq, 5);
    seq.commit(Durability::Synced).unwrap();
    // Ending it answers its callers first; then the second batch commits as usual.
    for (i, rx) in first.iter().chain(&second).enumerate() {
        assert_eq!(rx.try_recv().unwrap().unwrap().seq, i as u64);
    }
    assert_eq!(log.committed_entries(), 5);
    assert_eq!(log.head(), seq.working);
    assert_eq!(
        writer.store().commits,
        [(3, Durability::Synced), (2, Durability::Synced)]
    );
    writer.assert_linked();
}

#[test]
fn a_begun_batch_that_fails_takes_the_batch_sealed_onto_it_and_the_gap_counts_both() {
    let writer = FailingWriter::beginning_commits();
    let (mut seq, _queue, log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    seq.seal("tool_call", tool_call("kept"));
    seq.commit(Durability::Synced).unwrap();
    let committed = seq.committed.clone();

    writer.store().fail_ends = 1;
    let first = explicit_calls(&mut seq, "a", 3);
    seq.commit_full_batch(Durability::Synced).unwrap();
    let second = explicit_calls(&mut seq, "b", 2);
    let err = seq.commit(Durability::Synced).unwrap_err();
    assert!(
        matches!(&err, Error::Write(m) if m == "failing: injected failure"),
        "{err}"
    );
    // Both batches are lost: every caller is told, the tips are back at the last commit.
    for rx in first.iter().chain(&second) {
        let err = rx.try_recv().unwrap().unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
    }
    assert_eq!(seq.working, committed);
    assert_eq!(log.head(), committed);
    assert_eq!(log.lost_entries(), 5);
    assert_eq!(log.committed_entries(), 1);

    // The next batch opens with the gap that records both.
    let (next, _) = seq.seal("tool_call", tool_call("after"));
    assert_eq!(next, 2);
    seq.commit(Durability::Synced).unwrap();
    assert_eq!(
        writer.kinds(),
        [
            "tool_call",
            "gap {\"lost_entries\": 5, \"first_lost_seq\": 1, \"error\": \"failing: injected failure\"}",
            "tool_call",
        ]
    );
    writer.assert_linked();
}

#[test]
fn a_batch_with_a_gap_is_not_begun_but_committed_whole() {
    let writer = FailingWriter::beginning_commits();
    let (mut seq, _queue, log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    writer.fail_next_commits(1);
    seq.seal("tool_call", tool_call("lost"));
    seq.commit(Durability::Synced).unwrap_err();
    // This batch opens with the gap: its commit is not begun (the loss it records is
    // cleared only by its commit), so it is committed before `commit_full_batch` returns.
    let kept = explicit_calls(&mut seq, "kept", 2);
    seq.commit_full_batch(Durability::Synced).unwrap();
    assert!(seq.begun.is_none());
    for rx in &kept {
        rx.try_recv().unwrap().unwrap();
    }
    assert_eq!(log.lost_entries(), 1);
    assert_eq!(log.committed_entries(), 3);
    assert_eq!(seq.lost, 0);
    writer.assert_linked();
}

#[test]
fn a_begun_batch_that_fails_leaves_no_byte_count_behind_for_the_next_batch() {
    let writer = FailingWriter::beginning_commits();
    let (mut seq, _queue, _log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    // Names of one length: every line of a batch is about as long as the first.
    seq.seal("tool_call", tool_call("n00"));
    let line = seq.batch_bytes;
    seq.commit(Durability::Synced).unwrap();
    seq.max_batch = Some(10 * line);

    writer.store().fail_ends = 1;
    for i in 1..4 {
        seq.seal("tool_call", tool_call(&format!("n{i:02}")));
    }
    seq.commit_full_batch(Durability::Synced).unwrap();
    assert!(seq.begun.is_some());
    for i in 4..12 {
        seq.seal("tool_call", tool_call(&format!("n{i:02}")));
    }
    // The begun batch fails: both are lost, and the next batch starts from nothing.
    seq.commit_full_batch(Durability::Synced).unwrap_err();
    assert_eq!(seq.batch_bytes, 0);
    // The gap and five entries fit well within ten lines: one commit, at the end.
    for i in 12..17 {
        seq.seal("tool_call", tool_call(&format!("n{i:02}")));
    }
    seq.commit(Durability::Synced).unwrap();
    assert_eq!(
        writer.store().commits,
        [(1, Durability::Synced), (6, Durability::Synced)]
    );
    writer.assert_linked();
}
