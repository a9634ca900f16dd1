//! Checkpoint sinks: where committed checkpoints go off the sequencer thread.
//!
//! (The witness engineer's copy of the pinned interface, so the witness sink compiles on its
//! own branch; the cp-seq engineer's file replaces it on merge.)

use super::merkle::Frontier;

/// A checkpoint the sequencer committed (`Synced`), as a sink receives it.
#[derive(Debug, Clone)]
pub struct CommittedCheckpoint {
    /// The log's origin.
    pub origin: String,
    /// The full signed note.
    pub note: String,
    /// The tree size (== the checkpoint entry's seq).
    pub tree_size: u64,
    /// The tree's root hash.
    pub root: [u8; 32],
    /// Tree size of the previous checkpoint this sink was given (0 if none).
    pub previous_size: u64,
    /// The tree at `previous_size`.
    pub previous_frontier: Frontier,
    /// Chain hashes of entries `previous_size..tree_size`.
    pub leaves: Vec<[u8; 32]>,
}

/// What a sink reports back; the sequencer chains each as an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkEvent {
    /// A witness cosigned a checkpoint (entry type `cosignature`).
    Cosignature {
        /// The witness's name.
        witness: String,
        /// The cosigned tree size.
        tree_size: u64,
        /// The cosignature line, `— <name> <base64>`.
        signature_line: String,
    },
    /// A witness holds a checkpoint inconsistent with ours (entry type `witness_conflict`).
    Conflict {
        /// The witness's name.
        witness: String,
        /// Our tree size.
        ours: u64,
        /// The witness's tree size.
        theirs: u64,
        /// What happened.
        detail: String,
    },
    /// A witness could not be reached for too long (entry type `witness_gap`).
    Unreachable {
        /// The witness's name.
        witness: String,
        /// The last size the witness acknowledged.
        since_size: u64,
        /// What happened.
        detail: String,
    },
}

/// A destination for committed checkpoints.
pub trait CheckpointSink: Send + 'static {
    /// A short description for messages.
    fn describe(&self) -> String;
    /// At open: the latest checkpoint note this sink holds for `origin` (None when none).
    fn latest(&mut self, origin: &str) -> Result<Option<String>, crate::Error>;
    /// On the sink thread (never the sequencer's), in order, after the checkpoint's batch
    /// was committed Synced.
    fn publish(&mut self, checkpoint: &CommittedCheckpoint) -> Vec<SinkEvent>;
}
