//! `entries_digest`: each open decision's running digest of the entries that carry its id, so
//! that its `decision_end` can state exactly which entries belong to it (an excerpt of the
//! decision is then provably complete; `docs/FORMAT.md` §5.3).
//!
//! The digest is SHA-256 over, for each entry of the decision in seq order, the seq as 8
//! big-endian bytes followed by the 32 raw bytes of the entry's chain hash. Only committed
//! entries are on the chain, so the entries of the current batch are kept apart (their
//! `(seq, hash)` pairs, at most one batch) and folded in when the batch commits, or dropped
//! when it fails and is rolled back.

use sha2::{Digest, Sha256};

use crate::hex::{Hex64, hex64};
use crate::json::Value;

use super::{DecisionId, IdMap};

/// One open decision's digest: what is committed, and the current batch's entries.
#[derive(Default)]
struct Running {
    committed: Sha256,
    committed_count: u64,
    /// `(seq, raw chain hash)` of this decision's entries in the current, uncommitted batch.
    batch: Vec<(u64, [u8; 32])>,
}

fn update(h: &mut Sha256, seq: u64, hash: &[u8; 32]) {
    h.update(seq.to_be_bytes());
    h.update(hash);
}

/// Emptied batch lists kept for the decisions opened next: a decision a few entries long
/// would otherwise allocate and free one each.
const SPARE_BATCHES: usize = 64;
/// Batch lists that grew beyond this (a decision with many entries in one batch) are let go.
const SPARE_BATCH_CAPACITY: usize = 64;

/// The running digests of the open decisions, keyed by decision id.
///
/// Keyed by the inline [`DecisionId`] rather than its text, so that opening, touching and
/// ending a decision allocate nothing (each allocation here was freed on this thread while
/// the callers allocated on theirs, and glibc's arena locks showed in the sequencer's
/// profile).
#[derive(Default)]
pub(super) struct DecisionDigests {
    open: IdMap<DecisionId, Running>,
    /// Decisions with entries in the current batch (each once).
    touched: Vec<DecisionId>,
    spare: Vec<Vec<(u64, [u8; 32])>>,
}

impl DecisionDigests {
    /// Starts a decision's digest; called before its `decision` entry is sealed.
    pub(super) fn open(&mut self, id: DecisionId) {
        self.open.insert(id, Running::default());
    }

    /// Records a sealed entry (`hash` is its raw chain hash, as the sealer computed it: no hex
    /// to decode per entry) with the decision named by its
    /// payload's `decision_id`, and a nested decision's `decision` entry with its parent too
    /// (`parent_decision_id`): the parent's digest then proves that the nested decision exists,
    /// and the nested decision's own digest proves its entries.
    pub(super) fn record(&mut self, kind: &str, payload: &Value, seq: u64, hash: &[u8; 32]) {
        if self.open.is_empty() {
            return;
        }
        let id = |key: &str| {
            payload
                .get(key)
                .and_then(Value::as_str)
                .and_then(DecisionId::from_text)
        };
        let own = id("decision_id");
        let parent = (kind == "decision")
            .then(|| id("parent_decision_id"))
            .flatten();
        self.record_ids(own, parent, seq, hash);
    }

    /// Records a sealed entry whose decision (`own`) and, for a `decision` entry, parent
    /// decision are already known, as [`DecisionDigests::record`] reads them from its payload.
    pub(super) fn record_ids(
        &mut self,
        own: Option<DecisionId>,
        parent: Option<DecisionId>,
        seq: u64,
        hash: &[u8; 32],
    ) {
        if self.open.is_empty() {
            return;
        }
        for id in [own, parent].into_iter().flatten() {
            let Some(running) = self.open.get_mut(&id) else {
                continue;
            };
            if running.batch.is_empty() {
                self.touched.push(id);
                if running.batch.capacity() == 0 {
                    // Taken here rather than at `open`: decisions are opened as their records
                    // arrive, hundreds ahead of their sealing, but between their first sealed
                    // entry and their end only a few are in progress.
                    running.batch = self.spare.pop().unwrap_or_default();
                }
            }
            running.batch.push((seq, *hash));
        }
    }

    /// Ends a decision's digest: `(entries_digest as lowercase hex, entries_count)` over its
    /// committed entries and those of the current batch (which its `decision_end` joins).
    /// `None` for a decision that was never opened here.
    pub(super) fn finish(&mut self, id: DecisionId) -> Option<(Hex64, u64)> {
        let Running {
            committed: mut h,
            committed_count,
            mut batch,
        } = self.open.remove(&id)?;
        for (seq, hash) in &batch {
            update(&mut h, *seq, hash);
        }
        let count = committed_count + batch.len() as u64;
        // Still listed in `touched` if its batch had entries: that entry is passed over at
        // commit, since the decision is no longer open.
        if self.spare.len() < SPARE_BATCHES && batch.capacity() <= SPARE_BATCH_CAPACITY {
            batch.clear();
            self.spare.push(batch);
        }
        Some((hex64(&h.finalize().into()), count))
    }

    /// The current batch was committed: its entries join the digests.
    pub(super) fn commit(&mut self) {
        self.commit_before(u64::MAX);
    }

    /// A batch that ends before seq `end` was committed, while a later one is being sealed:
    /// the entries before `end` join the digests, the later ones stay in their batch.
    pub(super) fn commit_before(&mut self, end: u64) {
        let open = &mut self.open;
        self.touched.retain(|id| {
            let Some(running) = open.get_mut(id) else {
                return false;
            };
            let committed = running.batch.partition_point(|(seq, _)| *seq < end);
            for (seq, hash) in running.batch.drain(..committed) {
                update(&mut running.committed, seq, &hash);
                running.committed_count += 1;
            }
            !running.batch.is_empty()
        });
    }

    /// The current batch failed and was rolled back: its entries are not on the chain.
    pub(super) fn rollback(&mut self) {
        for id in self.touched.drain(..) {
            if let Some(running) = self.open.get_mut(&id) {
                running.batch.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decision id for the tests: `name` repeated to the 32 characters of a real one.
    fn id(name: &str) -> DecisionId {
        DecisionId::from_text(&name.repeat(32)).unwrap()
    }

    fn payload(own: Option<&str>, parent: Option<&str>) -> Value {
        let text = |name: &str| Value::from(name.repeat(32));
        let mut fields = vec![("decision_id".into(), own.map_or(Value::Null, text))];
        if let Some(p) = parent {
            fields.push(("parent_decision_id".into(), text(p)));
        }
        Value::Object(fields)
    }

    fn hash(i: u8) -> [u8; 32] {
        [i; 32]
    }

    /// The digest as docs/FORMAT.md defines it, computed here from scratch.
    fn expected(entries: &[(u64, [u8; 32])]) -> (Hex64, u64) {
        let mut bytes = Vec::new();
        for (seq, h) in entries {
            bytes.extend_from_slice(&seq.to_be_bytes());
            bytes.extend_from_slice(h);
        }
        (hex64(&Sha256::digest(&bytes).into()), entries.len() as u64)
    }

    #[test]
    fn committed_and_batched_entries_of_the_decision_alone_are_digested_in_order() {
        let mut d = DecisionDigests::default();
        d.open(id("a"));
        d.record("decision", &payload(Some("a"), None), 3, &hash(3));
        d.record("tool_call", &payload(None, None), 4, &hash(4));
        d.record("tool_call", &payload(Some("b"), None), 5, &hash(5));
        d.commit();
        d.record("llm_call", &payload(Some("a"), None), 6, &hash(6));
        // Still in the batch when the decision ends: it is part of the digest.
        let got = d.finish(id("a")).unwrap();
        assert_eq!(got, expected(&[(3, hash(3)), (6, hash(6))]));
        assert!(
            d.finish(id("a")).is_none(),
            "a finished decision is forgotten"
        );
    }

    #[test]
    fn a_batch_committed_while_the_next_is_sealed_commits_only_its_own_entries() {
        let mut d = DecisionDigests::default();
        d.open(id("a"));
        d.open(id("b"));
        d.record("decision", &payload(Some("a"), None), 0, &hash(0));
        d.record("decision", &payload(Some("b"), None), 1, &hash(1));
        // The next batch, from seq 2, is sealed before the first one's commit returns.
        d.record("tool_call", &payload(Some("a"), None), 2, &hash(2));
        d.commit_before(2);
        // Only "a" still has entries in a batch; b's went in whole.
        assert_eq!(d.touched, [id("a")]);
        // The later batch fails: its entry leaves no trace, the committed ones stay.
        d.rollback();
        d.record("tool_call", &payload(Some("a"), None), 2, &hash(7));
        d.commit();
        assert_eq!(
            d.finish(id("a")).unwrap(),
            expected(&[(0, hash(0)), (2, hash(7))])
        );
        assert_eq!(d.finish(id("b")).unwrap(), expected(&[(1, hash(1))]));
        assert!(d.touched.is_empty());
    }

    #[test]
    fn a_rolled_back_batch_leaves_no_trace_in_the_digest() {
        let mut d = DecisionDigests::default();
        d.open(id("a"));
        d.record("decision", &payload(Some("a"), None), 0, &hash(0));
        d.commit();
        d.record("tool_call", &payload(Some("a"), None), 1, &hash(1));
        d.record("tool_call", &payload(Some("a"), None), 2, &hash(2));
        d.rollback();
        // The seqs are reused after the gap entry that records the loss.
        d.record("tool_call", &payload(Some("a"), None), 2, &hash(9));
        d.commit();
        assert_eq!(
            d.finish(id("a")).unwrap(),
            expected(&[(0, hash(0)), (2, hash(9))])
        );
    }

    #[test]
    fn a_batch_list_reused_by_the_next_decision_carries_nothing_over_and_the_spare_is_bounded() {
        let mut d = DecisionDigests::default();
        // Ended with entries still in the batch: its list goes back to the spare.
        d.open(id("a"));
        d.record("decision", &payload(Some("a"), None), 0, &hash(0));
        d.record("tool_call", &payload(Some("a"), None), 1, &hash(1));
        assert_eq!(
            d.finish(id("a")).unwrap(),
            expected(&[(0, hash(0)), (1, hash(1))])
        );
        assert_eq!(d.spare.len(), 1);
        d.open(id("b"));
        d.record("decision", &payload(Some("b"), None), 2, &hash(2));
        assert!(d.spare.is_empty(), "the kept list was taken");
        d.commit();
        // `a` ended before the commit: its entries went nowhere, b's only into b.
        assert_eq!(d.finish(id("b")).unwrap(), expected(&[(2, hash(2))]));
        // Many decisions in progress at once, ended in turn: every digest is its own, and no
        // more lists are kept than the bound.
        let names: Vec<String> = (0..100).map(|i| format!("{i:02}")).collect();
        for n in &names {
            d.open(DecisionId::from_text(&n.repeat(16)).unwrap());
        }
        for (i, n) in names.iter().enumerate() {
            let text = n.repeat(16);
            let p = Value::Object(vec![("decision_id".into(), Value::from(text.as_str()))]);
            d.record("decision", &p, 10 + i as u64, &hash(i as u8));
        }
        for (i, n) in names.iter().enumerate() {
            let got = d.finish(DecisionId::from_text(&n.repeat(16)).unwrap());
            assert_eq!(got.unwrap(), expected(&[(10 + i as u64, hash(i as u8))]));
        }
        assert_eq!(d.spare.len(), SPARE_BATCHES);
    }

    #[test]
    fn a_nested_decisions_opening_counts_for_its_parent_and_its_entries_for_itself() {
        let mut d = DecisionDigests::default();
        d.open(id("p"));
        d.record("decision", &payload(Some("p"), None), 1, &hash(1));
        d.open(id("c"));
        d.record("decision", &payload(Some("c"), Some("p")), 2, &hash(2));
        d.record("tool_call", &payload(Some("c"), None), 3, &hash(3));
        // `parent_decision_id` only links a `decision` entry to its parent.
        d.record("note", &payload(Some("c"), Some("p")), 4, &hash(4));
        assert_eq!(
            d.finish(id("c")).unwrap(),
            expected(&[(2, hash(2)), (3, hash(3)), (4, hash(4))])
        );
        d.commit();
        assert_eq!(
            d.finish(id("p")).unwrap(),
            expected(&[(1, hash(1)), (2, hash(2))])
        );
    }
}
