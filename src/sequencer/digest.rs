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

use crate::hex::{hex_str, hex64};
use crate::json::Value;

use super::IdMap;

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

/// The running digests of the open decisions, keyed by decision id.
#[derive(Default)]
pub(super) struct DecisionDigests {
    open: IdMap<String, Running>,
    /// Decisions with entries in the current batch (each once).
    touched: Vec<String>,
}

impl DecisionDigests {
    /// Starts a decision's digest; called before its `decision` entry is sealed.
    pub(super) fn open(&mut self, id: &str) {
        self.open.insert(id.to_owned(), Running::default());
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
        let own = payload.get("decision_id").and_then(Value::as_str);
        let parent = (kind == "decision")
            .then(|| payload.get("parent_decision_id").and_then(Value::as_str))
            .flatten();
        self.record_ids(own, parent, seq, hash);
    }

    /// Records a sealed entry whose decision (`own`) and, for a `decision` entry, parent
    /// decision are already known, as [`DecisionDigests::record`] reads them from its payload.
    pub(super) fn record_ids(
        &mut self,
        own: Option<&str>,
        parent: Option<&str>,
        seq: u64,
        hash: &[u8; 32],
    ) {
        if self.open.is_empty() {
            return;
        }
        for id in [own, parent].into_iter().flatten() {
            let Some(running) = self.open.get_mut(id) else {
                continue;
            };
            if running.batch.is_empty() {
                self.touched.push(id.to_owned());
            }
            running.batch.push((seq, *hash));
        }
    }

    /// Ends a decision's digest: `(entries_digest as lowercase hex, entries_count)` over its
    /// committed entries and those of the current batch (which its `decision_end` joins).
    /// `None` for a decision that was never opened here.
    pub(super) fn finish(&mut self, id: &str) -> Option<(String, u64)> {
        let running = self.open.remove(id)?;
        let mut h = running.committed;
        for (seq, hash) in &running.batch {
            update(&mut h, *seq, hash);
        }
        let count = running.committed_count + running.batch.len() as u64;
        Some((hex_str(&hex64(&h.finalize().into())).to_owned(), count))
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
    use crate::hex::to_hex;

    fn payload(id: Option<&str>, parent: Option<&str>) -> Value {
        let mut fields = vec![("decision_id".into(), id.map_or(Value::Null, Value::from))];
        if let Some(p) = parent {
            fields.push(("parent_decision_id".into(), Value::from(p)));
        }
        Value::Object(fields)
    }

    fn hash(i: u8) -> [u8; 32] {
        [i; 32]
    }

    /// The digest as docs/FORMAT.md defines it, computed here from scratch.
    fn expected(entries: &[(u64, [u8; 32])]) -> (String, u64) {
        let mut bytes = Vec::new();
        for (seq, h) in entries {
            bytes.extend_from_slice(&seq.to_be_bytes());
            bytes.extend_from_slice(h);
        }
        (to_hex(&Sha256::digest(&bytes)), entries.len() as u64)
    }

    #[test]
    fn committed_and_batched_entries_of_the_decision_alone_are_digested_in_order() {
        let mut d = DecisionDigests::default();
        d.open("a");
        d.record("decision", &payload(Some("a"), None), 3, &hash(3));
        d.record("tool_call", &payload(None, None), 4, &hash(4));
        d.record("tool_call", &payload(Some("b"), None), 5, &hash(5));
        d.commit();
        d.record("llm_call", &payload(Some("a"), None), 6, &hash(6));
        // Still in the batch when the decision ends: it is part of the digest.
        let got = d.finish("a").unwrap();
        assert_eq!(got, expected(&[(3, hash(3)), (6, hash(6))]));
        assert!(d.finish("a").is_none(), "a finished decision is forgotten");
    }

    #[test]
    fn a_batch_committed_while_the_next_is_sealed_commits_only_its_own_entries() {
        let mut d = DecisionDigests::default();
        d.open("a");
        d.open("b");
        d.record("decision", &payload(Some("a"), None), 0, &hash(0));
        d.record("decision", &payload(Some("b"), None), 1, &hash(1));
        // The next batch, from seq 2, is sealed before the first one's commit returns.
        d.record("tool_call", &payload(Some("a"), None), 2, &hash(2));
        d.commit_before(2);
        // Only "a" still has entries in a batch; b's went in whole.
        assert_eq!(d.touched, ["a"]);
        // The later batch fails: its entry leaves no trace, the committed ones stay.
        d.rollback();
        d.record("tool_call", &payload(Some("a"), None), 2, &hash(7));
        d.commit();
        assert_eq!(
            d.finish("a").unwrap(),
            expected(&[(0, hash(0)), (2, hash(7))])
        );
        assert_eq!(d.finish("b").unwrap(), expected(&[(1, hash(1))]));
        assert!(d.touched.is_empty());
    }

    #[test]
    fn a_rolled_back_batch_leaves_no_trace_in_the_digest() {
        let mut d = DecisionDigests::default();
        d.open("a");
        d.record("decision", &payload(Some("a"), None), 0, &hash(0));
        d.commit();
        d.record("tool_call", &payload(Some("a"), None), 1, &hash(1));
        d.record("tool_call", &payload(Some("a"), None), 2, &hash(2));
        d.rollback();
        // The seqs are reused after the gap entry that records the loss.
        d.record("tool_call", &payload(Some("a"), None), 2, &hash(9));
        d.commit();
        assert_eq!(
            d.finish("a").unwrap(),
            expected(&[(0, hash(0)), (2, hash(9))])
        );
    }

    #[test]
    fn a_nested_decisions_opening_counts_for_its_parent_and_its_entries_for_itself() {
        let mut d = DecisionDigests::default();
        d.open("p");
        d.record("decision", &payload(Some("p"), None), 1, &hash(1));
        d.open("c");
        d.record("decision", &payload(Some("c"), Some("p")), 2, &hash(2));
        d.record("tool_call", &payload(Some("c"), None), 3, &hash(3));
        // `parent_decision_id` only links a `decision` entry to its parent.
        d.record("note", &payload(Some("c"), Some("p")), 4, &hash(4));
        assert_eq!(
            d.finish("c").unwrap(),
            expected(&[(2, hash(2)), (3, hash(3)), (4, hash(4))])
        );
        d.commit();
        assert_eq!(
            d.finish("p").unwrap(),
            expected(&[(1, hash(1)), (2, hash(2))])
        );
    }
}
