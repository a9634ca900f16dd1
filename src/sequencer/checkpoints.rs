//! Checkpoints on the sequencer (issue #13): the Merkle tree over every sealed entry, the
//! `checkpoint` entries that sign it, and the hand-off to the sinks.
//!
//! The order is what makes a checkpoint safe to publish: the entries it covers are committed
//! `Synced` first, then the `checkpoint` entry is sealed first in the next batch (so its seq is
//! its tree size) and that batch is committed `Synced`; only then does any sink see it. A batch
//! that fails rolls the tree back with the head, and the checkpoint it held was never
//! published: the tree is signed again later at its new position, which is consistent with
//! every checkpoint published before.
//!
//! A checkpoint due by cadence while entries keep arriving does not get a commit of its own: the
//! entries queued behind it join its batch, whose commit is made `Synced` because it holds a
//! checkpoint. Under a steady load that saves one `fdatasync` per checkpoint. Flush, shutdown and
//! rotation commit theirs at once. The tree itself is hashed on its own thread
//! ([`TreeThread`]).

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::Sequencer;
use super::tree_thread::TreeThread;
use crate::checkpoint::{
    Checkpoint, CommittedCheckpoint, Frontier, SignerKey, SinkEvent, SinkThread,
};
use crate::error::Error;
use crate::hex::to_hex;
use crate::json::Value;
use crate::writer::Durability;

/// What the builder gives the sequencer to write checkpoints with.
pub(crate) struct CheckpointSetup {
    pub(crate) signer: SignerKey,
    /// Uncovered entries that make a checkpoint due.
    pub(crate) every: u64,
    /// How long the oldest uncovered entry waits at most for a checkpoint.
    pub(crate) interval: Duration,
    /// The tree over the existing chain (empty for a new one).
    pub(crate) tree: Frontier,
    /// The seq of the chain's last `checkpoint` entry, if any.
    pub(crate) last_checkpoint: Option<u64>,
    /// The sinks' thread, when there are sinks.
    pub(crate) sink: Option<SinkThread>,
    /// Where the sinks' first hand-off of this run starts: the tree at the chain's last
    /// checkpoint and the leaves since.
    pub(crate) sink_base: Frontier,
    pub(crate) sink_leaves: Vec<[u8; 32]>,
}

pub(super) struct Checkpoints {
    signer: SignerKey,
    every: u64,
    interval: Duration,
    /// The tree (committed and working, hashed on its own thread), and the leaves sealed but
    /// not yet handed over to it: the working tree is the two together.
    tree: TreeThread,
    pending: Vec<[u8; 32]>,
    /// A checkpoint sealed into the current batch, published once the batch is committed.
    sealed: Option<SealedCheckpoint>,
    /// Entries below this seq are covered: the last checkpoint entry's seq + 1 (the checkpoint
    /// itself is never counted as uncovered).
    covered_until: u64,
    /// Committed uncovered entries that are the sinks' own reports (`cosignature`,
    /// `witness_*`): they do not make a checkpoint due by cadence, or every cosignature would
    /// ask for another checkpoint. Flush, shutdown and rotation cover them.
    uncovered_reports: u64,
    batch_reports: u64,
    /// When the oldest uncovered entry (not a report) was committed.
    uncovered_since: Option<Instant>,
    sink: Option<SinkThread>,
    events: Receiver<SinkEvent>,
    /// The tree at the last checkpoint handed to the sinks, and the leaves since (up to the
    /// working tip; `committed_leaves` of them committed).
    sink_base: Frontier,
    sink_leaves: Vec<[u8; 32]>,
    committed_leaves: usize,
}

/// Sealed leaves handed to the tree thread at a time: small enough that a checkpoint right after
/// a commit waits for little hashing, large enough that hand-overs are rare next to entries.
const HANDOFF_LEAVES: usize = 256;

/// A checkpoint entry in the working batch, waiting for its commit to be published.
struct SealedCheckpoint {
    note: String,
    /// The tree it signs (its size is the checkpoint entry's seq).
    tree: Frontier,
    /// Committed sink reports it covers (see `uncovered_reports`).
    reports: u64,
}

impl Checkpoints {
    pub(super) fn new(setup: CheckpointSetup) -> Result<Checkpoints, Error> {
        let events = setup
            .sink
            .as_ref()
            .map_or_else(crossbeam_channel::never, |s| s.events.clone());
        let covered_until = setup.last_checkpoint.map_or(0, |s| s.saturating_add(1));
        let committed_leaves = setup.sink_leaves.len();
        let uncovered = setup.tree.size() > covered_until;
        let tree = TreeThread::spawn(setup.tree)?;
        Ok(Checkpoints {
            signer: setup.signer,
            every: setup.every.max(1),
            interval: setup.interval,
            pending: tree.buffer(),
            tree,
            sealed: None,
            covered_until,
            uncovered_reports: 0,
            batch_reports: 0,
            uncovered_since: uncovered.then(Instant::now),
            sink: setup.sink,
            events,
            sink_base: setup.sink_base,
            sink_leaves: setup.sink_leaves,
            committed_leaves,
        })
    }

    /// Adds a sealed entry's hash (raw bytes, not hex: no decoding per entry) to the working
    /// tree.
    pub(super) fn leaf(&mut self, leaf: &[u8; 32]) {
        self.pending.push(*leaf);
        if self.pending.len() >= HANDOFF_LEAVES {
            // Fails only when the tree thread is gone, for good: the next commit reports it.
            let _ = self.hand_over();
        }
        if self.sink.is_some() {
            self.sink_leaves.push(*leaf);
        }
    }

    /// The log's origin (the checkpoint key's name).
    pub(super) fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The size of the working tree: every sealed entry.
    pub(super) fn size(&self) -> u64 {
        self.tree.size() + self.pending.len() as u64
    }

    /// The working tree, once the tree thread has caught up with the leaves handed to it.
    pub(super) fn tree(&self) -> Result<Frontier, Error> {
        let mut tree = self.tree.snapshot()?;
        for leaf in &self.pending {
            tree.append(leaf);
        }
        Ok(tree)
    }

    /// Whether a checkpoint sealed into the working batch waits for its commit.
    pub(super) fn waiting(&self) -> bool {
        self.sealed.is_some()
    }

    /// `segment_open`'s record of the tree before it: `tree_size` and `frontier`.
    pub(super) fn segment_fields(&self) -> Result<[(String, Value); 2], Error> {
        let tree = self.tree()?;
        let frontier = tree
            .subtrees()
            .iter()
            .map(|h| Value::from(to_hex(h)))
            .collect();
        Ok([
            ("tree_size".into(), Value::from(tree.size())),
            ("frontier".into(), Value::Array(frontier)),
        ])
    }

    /// Hands the pending leaves to the tree thread.
    fn hand_over(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let leaves = std::mem::replace(&mut self.pending, self.tree.buffer());
        self.tree.append(leaves)
    }

    /// The working state becomes the committed one, on the tree thread too. Returns the
    /// checkpoint the batch held, now committed, if any.
    fn committed(&mut self, next_seq: u64) -> Result<Option<SealedCheckpoint>, Error> {
        let handed = self.hand_over().and_then(|()| self.tree.commit());
        self.committed_leaves = self.sink_leaves.len();
        self.uncovered_reports += std::mem::take(&mut self.batch_reports);
        if self.uncovered_since.is_none() && self.cadence_uncovered(next_seq) > 0 {
            self.uncovered_since = Some(Instant::now());
        }
        // Taken either way: a checkpoint in a committed batch no longer waits for a commit.
        let sealed = self.sealed.take();
        handed.map(|()| sealed)
    }

    /// The working state goes back to the committed one; a checkpoint in the batch was never
    /// published, and the tree is signed again one interval later.
    pub(super) fn rolled_back(&mut self) {
        self.pending.clear();
        // Fails only when the tree thread is gone: `tree` then reports it.
        let _ = self.tree.rollback();
        self.sink_leaves.truncate(self.committed_leaves);
        self.batch_reports = 0;
        if self.sealed.take().is_some() {
            self.uncovered_since = Some(Instant::now());
        }
    }

    fn uncovered(&self, next_seq: u64) -> u64 {
        next_seq.saturating_sub(self.covered_until)
    }

    fn cadence_uncovered(&self, next_seq: u64) -> u64 {
        self.uncovered(next_seq)
            .saturating_sub(self.uncovered_reports)
    }

    /// When a checkpoint falls due by time, if entries wait for one.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.uncovered_since.map(|t| t + self.interval)
    }

    /// Whether a checkpoint is due for the committed entries up to `next_seq`.
    fn due(&self, next_seq: u64, force: bool) -> bool {
        if force {
            return self.uncovered(next_seq) > 0;
        }
        let k = self.cadence_uncovered(next_seq);
        k > 0
            && (k >= self.every
                || self
                    .uncovered_since
                    .is_some_and(|t| t.elapsed() >= self.interval))
    }
}

impl Sequencer {
    /// Writes a checkpoint when one is due: by cadence, or (`force`) for a flush, shutdown or
    /// rotation whenever any entry is uncovered. Commits the current batch `Synced` first. A
    /// forced checkpoint is committed at once; one due by cadence rides in the next batch
    /// (see the module's documentation). `Err` when a commit failed (the checkpoint, if
    /// sealed, was not published).
    pub(super) fn checkpoint_if_due(&mut self, force: bool) -> Result<(), Error> {
        if self.checkpoints.is_none() && self.epochs.is_none() {
            // Nothing to do, and nothing to wait for: settling here would drain the render
            // thread after every full batch.
            return Ok(());
        }
        // A checkpoint covers the entries before it: every record submitted is sealed first.
        self.settle();
        // An epoch that ends rolls over first (a failure is reported there and retried later;
        // the checkpoint is still due).
        let _ = self.roll_epoch_if_due(false);
        let result = self.try_checkpoint(force);
        if result.is_err()
            && let Some(cp) = &mut self.checkpoints
        {
            // A failed commit is retried by cadence one interval later, not in a tight loop.
            cp.uncovered_since = Some(Instant::now());
        }
        result
    }

    fn try_checkpoint(&mut self, force: bool) -> Result<(), Error> {
        let Some(cp) = &self.checkpoints else {
            return Ok(());
        };
        if !cp.due(self.working.next_seq, force) {
            return Ok(());
        }
        // The entries it covers are committed Synced first (with the gap that records earlier
        // losses, if any: it must be on the chain before the checkpoint is first in a batch).
        // That also publishes a checkpoint still waiting in the batch.
        self.seal_lost_gap();
        self.commit(Durability::Synced)?;
        let next_seq = self.committed.next_seq;
        let Some(cp) = &self.checkpoints else {
            return Ok(());
        };
        if !cp.due(next_seq, force) {
            return Ok(());
        }
        let size = cp.size();
        if self.batch_entries != 0 || size != next_seq {
            self.log.publish_error(format!(
                "checkpoint skipped: the tree holds {size} entries, the chain {next_seq}"
            ));
            return Ok(());
        }
        let tree = match cp.tree() {
            Ok(tree) => tree,
            Err(e) => {
                self.log.publish_error(format!("checkpoint skipped: {e}"));
                return Ok(());
            }
        };
        let root = tree.root();
        let epochs = &self.epochs;
        let note = match Checkpoint::new(cp.origin(), size, root)
            .and_then(|c| cp.signer.sign(&c.body()))
            .and_then(|note| match epochs {
                // The second line: the epoch key in force at this seq.
                Some(ep) => ep.sign(&note),
                None => Ok(note),
            }) {
            Ok(note) => note,
            Err(e) => {
                self.log
                    .publish_error(format!("checkpoint not signed: {e}"));
                return Ok(());
            }
        };
        let payload = Value::Object(vec![
            ("tree_size".into(), Value::from(size)),
            ("root".into(), Value::from(b64(&root))),
            ("note".into(), Value::from(note.as_str())),
        ]);
        // Not bounded by the line limit (a note is well below `MIN_ENTRY_BYTES`), never
        // redacted.
        let _ = self.seal_bounded("checkpoint", &payload, super::Ahead::default(), false);
        self.batch_system += 1;
        let cp = self.checkpoints.as_mut().expect("checked above");
        cp.sealed = Some(SealedCheckpoint {
            note,
            tree,
            reports: cp.uncovered_reports,
        });
        if force {
            self.commit(Durability::Synced)?;
        }
        Ok(())
    }

    /// After a commit: the committed leaves go to the tree thread, and a checkpoint the batch
    /// held is published. Called by `commit` once the batch is on the chain, `Synced` whenever
    /// it held a checkpoint.
    pub(super) fn checkpoints_committed(&mut self) {
        let next_seq = self.committed.next_seq;
        let Some(cp) = &mut self.checkpoints else {
            return;
        };
        match cp.committed(next_seq) {
            Ok(Some(sealed)) => self.publish_checkpoint(sealed),
            Ok(None) => {}
            Err(e) => self.log.publish_error(format!("checkpoints stopped: {e}")),
        }
    }

    /// Whether the working batch must be committed `Synced`: it holds a checkpoint.
    pub(super) fn checkpoint_in_batch(&self) -> bool {
        self.checkpoints.as_ref().is_some_and(Checkpoints::waiting)
    }

    /// Marks the checkpoint's entries covered and hands it to the sinks.
    fn publish_checkpoint(&mut self, sealed: SealedCheckpoint) {
        let next_seq = self.committed.next_seq;
        let Some(cp) = &mut self.checkpoints else {
            return;
        };
        let size = sealed.tree.size();
        cp.covered_until = size + 1;
        cp.uncovered_reports = cp.uncovered_reports.saturating_sub(sealed.reports);
        cp.uncovered_since = (cp.cadence_uncovered(next_seq) > 0).then(Instant::now);
        self.log.publish_checkpoint(size);
        let Some(sink) = &cp.sink else {
            return;
        };
        let take = (size - cp.sink_base.size()) as usize;
        let leaves: Vec<[u8; 32]> = cp
            .sink_leaves
            .drain(..take.min(cp.sink_leaves.len()))
            .collect();
        cp.committed_leaves -= leaves.len();
        let root = sealed.tree.root();
        let previous = std::mem::replace(&mut cp.sink_base, sealed.tree);
        let since_size = previous.size();
        let handed = CommittedCheckpoint {
            origin: cp.origin().to_owned(),
            note: sealed.note,
            tree_size: size,
            root,
            previous_size: previous.size(),
            previous_frontier: previous,
            leaves,
        };
        if !sink.publish(handed) {
            self.seal_sink_event(SinkEvent::Unreachable {
                witness: "acttrace checkpoint sinks".into(),
                since_size,
                detail: format!(
                    "the sinks fell behind by more than {} entries: the checkpoints waiting for \
                     them were dropped and they were given checkpoint {size} without the \
                     leaves before it",
                    crate::checkpoint::MAX_BACKLOG_LEAVES
                ),
            });
        }
    }

    /// Chains what the sinks reported since the last call.
    pub(super) fn seal_sink_events(&mut self) {
        let Some(cp) = &mut self.checkpoints else {
            return;
        };
        let mut events = Vec::new();
        loop {
            match cp.events.try_recv() {
                Ok(e) => events.push(e),
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    // The sink thread is gone: stop selecting on its channel.
                    cp.events = crossbeam_channel::never();
                    break;
                }
            }
        }
        for event in events {
            self.seal_sink_event(event);
        }
    }

    /// The channel the sinks report on (never ready without sinks).
    pub(super) fn sink_events(&self) -> Receiver<SinkEvent> {
        self.checkpoints
            .as_ref()
            .map_or_else(crossbeam_channel::never, |c| c.events.clone())
    }

    pub(super) fn seal_sink_event(&mut self, event: SinkEvent) {
        let kind = event.entry_type();
        let payload = match event {
            SinkEvent::Cosignature {
                witness,
                tree_size,
                signature_line,
            } => vec![
                ("witness".into(), Value::from(witness)),
                ("tree_size".into(), Value::from(tree_size)),
                ("signature_line".into(), Value::from(signature_line)),
            ],
            SinkEvent::Conflict {
                witness,
                ours,
                theirs,
                detail,
            } => vec![
                ("witness".into(), Value::from(witness)),
                ("ours".into(), Value::from(ours)),
                ("theirs".into(), Value::from(theirs)),
                ("detail".into(), Value::from(detail)),
            ],
            SinkEvent::Unreachable {
                witness,
                since_size,
                detail,
            } => vec![
                ("witness".into(), Value::from(witness)),
                ("since_size".into(), Value::from(since_size)),
                ("detail".into(), Value::from(detail)),
            ],
        };
        self.seal_raw(kind, &Value::Object(payload));
        self.batch_system += 1;
        if let Some(cp) = &mut self.checkpoints {
            cp.batch_reports += 1;
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
