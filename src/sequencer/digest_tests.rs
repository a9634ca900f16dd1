//! `entries_digest` end to end on the sequencer: what the `decision_end` states is recomputed
//! here from the committed entries alone, through failed (rolled-back) batches and rotations.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::tests::{FailingWriter, sequencer};
use crate::chain::SealedEntry;
use crate::hex::{from_hex64, to_hex};
use crate::json::Value;
use crate::queue::{Msg, QueueFullPolicy};
use crate::record::FieldValue;
use crate::writer::Durability;

fn open(span: u64, parent: Option<u64>) -> Msg {
    Msg::DecisionOpen {
        span,
        parent,
        name: "decide",
        fields: Vec::new(),
    }
}

fn call(span: Option<u64>, name: &str) -> Msg {
    Msg::Event {
        kind: "tool_call".into(),
        decision: span,
        fields: vec![("name", FieldValue::Str(name.into()))],
        reply: None,
    }
}

fn close(span: u64) -> Msg {
    Msg::DecisionClose {
        span,
        duration: Duration::from_millis(1),
    }
}

fn str_of<'a>(e: &'a SealedEntry, key: &str) -> Option<&'a str> {
    e.payload.get(key).and_then(Value::as_str)
}

/// `(entries_digest, entries_count)` of decision `id` recomputed from the chain as
/// docs/FORMAT.md defines them: from its `decision` entry to the entry before its
/// `decision_end`, every entry whose `decision_id` is `id` (and every `decision` entry whose
/// `parent_decision_id` is), as seq (8 bytes, big-endian) ‖ raw chain hash.
fn recompute(chain: &[SealedEntry], id: &str) -> (String, u64) {
    let start = chain
        .iter()
        .position(|e| e.kind == "decision" && str_of(e, "decision_id") == Some(id))
        .expect("the decision's opening is on the chain");
    let mut h = Sha256::new();
    let mut n = 0;
    for e in &chain[start..] {
        if e.kind == "decision_end" && str_of(e, "decision_id") == Some(id) {
            return (to_hex(&h.finalize()), n);
        }
        let parent = e.kind == "decision" && str_of(e, "parent_decision_id") == Some(id);
        if str_of(e, "decision_id") == Some(id) || parent {
            h.update(e.seq.to_be_bytes());
            h.update(from_hex64(e.hash.as_bytes()).unwrap());
            n += 1;
        }
    }
    panic!("decision {id} has no decision_end");
}

/// Every `decision_end`'s stated digest and count equal the recomputed ones; returns how many
/// there were.
fn assert_digests(chain: &[SealedEntry]) -> usize {
    let ends: Vec<&SealedEntry> = chain.iter().filter(|e| e.kind == "decision_end").collect();
    for end in &ends {
        let id = str_of(end, "decision_id").unwrap();
        let (digest, count) = recompute(chain, id);
        assert_eq!(str_of(end, "entries_digest"), Some(digest.as_str()), "{id}");
        assert_eq!(
            end.payload.get("entries_count").and_then(Value::as_u64),
            Some(count),
            "{id}"
        );
    }
    ends.len()
}

/// Seals an entry "after" in decision 1 and closes it, commits, checks that the committed
/// chain is unbroken and returns it.
fn after_and_close(seq: &mut super::Sequencer, writer: &FailingWriter) -> Vec<SealedEntry> {
    seq.handle(call(Some(1), "after"));
    seq.handle(close(1));
    seq.commit(Durability::Synced).unwrap();
    writer.assert_linked();
    writer.store().committed.clone()
}

#[test]
fn a_decisions_digest_covers_its_committed_entries_and_not_a_rolled_back_batch() {
    let writer = FailingWriter::default();
    let (mut seq, _queue, _log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    assert!(seq.handle(open(1, None)).is_none());
    seq.handle(call(Some(1), "kept"));
    seq.handle(call(None, "outside"));
    seq.commit(Durability::Synced).unwrap();

    // A batch with two of the decision's entries fails: they are not on the chain.
    seq.handle(call(Some(1), "lost-1"));
    seq.handle(call(Some(1), "lost-2"));
    writer.fail_next_commits(1);
    seq.commit(Durability::Synced).unwrap_err();

    let chain = after_and_close(&mut seq, &writer);
    let kinds: Vec<&str> = chain.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "decision",
            "tool_call",
            "tool_call",
            "gap",
            "tool_call",
            "decision_end"
        ]
    );
    assert!(
        !chain
            .iter()
            .any(|e| str_of(e, "name").is_some_and(|n| n.starts_with("lost")))
    );
    assert_eq!(assert_digests(&chain), 1);
    // decision, "kept", "after": the lost entries and the undecided one are not counted.
    let end = chain.last().unwrap();
    assert_eq!(
        end.payload.get("entries_count").and_then(Value::as_u64),
        Some(3)
    );
}

#[test]
fn a_decision_ended_in_the_batch_that_holds_its_entries_counts_them() {
    let writer = FailingWriter::default();
    let (mut seq, _queue, _log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    seq.handle(open(1, None));
    seq.handle(open(2, Some(1)));
    seq.handle(call(Some(2), "child"));
    seq.handle(close(2));
    seq.handle(call(Some(1), "parent"));
    seq.handle(close(1));
    seq.commit(Durability::Synced).unwrap();
    let chain = writer.store().committed.clone();
    assert_eq!(assert_digests(&chain), 2);
    let count = |i: usize| {
        chain[i]
            .payload
            .get("entries_count")
            .and_then(Value::as_u64)
    };
    // The child: its decision and call. The parent: its decision, the child's opening and its
    // call (not the child's call or end).
    assert_eq!(chain[3].kind, "decision_end");
    assert_eq!(count(3), Some(2));
    assert_eq!(count(5), Some(3));
}

#[test]
fn rotations_between_entries_keep_the_digest_whole() {
    let writer = FailingWriter::default();
    let (mut seq, _queue, _log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    seq.handle(open(1, None));
    seq.handle(call(Some(1), "a"));
    // From now on each entry is sealed in a new segment, after the previous batch's commit.
    writer.store().wants_rotation = true;
    seq.handle(call(Some(1), "b"));
    seq.handle(close(1));
    seq.commit(Durability::Synced).unwrap();
    let chain = writer.store().committed.clone();
    assert!(chain.iter().any(|e| e.kind == "segment_open"));
    assert_eq!(assert_digests(&chain), 1);
}

#[test]
fn a_begun_batch_ending_commits_its_own_entries_to_the_digest_not_the_next_batchs() {
    let writer = FailingWriter::beginning_commits();
    let (mut seq, _queue, _log, _rx) = sequencer(&writer, QueueFullPolicy::Block);
    assert!(seq.handle(open(1, None)).is_none());
    seq.handle(call(Some(1), "kept"));
    seq.commit_full_batch(Durability::Synced).unwrap();
    assert!(seq.begun.is_some());
    // Sealed while the begun batch is written: it ends well, this batch then fails.
    seq.handle(call(Some(1), "lost"));
    writer.fail_next_commits(1);
    seq.commit(Durability::Synced).unwrap_err();

    let chain = after_and_close(&mut seq, &writer);
    let names: Vec<Option<&str>> = chain.iter().map(|e| str_of(e, "name")).collect();
    assert!(!names.contains(&Some("lost")), "{names:?}");
    assert_eq!(assert_digests(&chain), 1);
}
