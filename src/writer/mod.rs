//! Persistence: the [`ChainWriter`] trait and the writers that ship with the crate.
//!
//! The sequencer hands a writer sealed entries one by one, with their lines already rendered
//! ([`ChainWriter::append_rendered`]), and then closes each batch with [`ChainWriter::commit`].
//! A commit is all or nothing: when it fails the store must be as it was after the previous
//! successful commit, so that the sequencer can roll its head back, count the lost entries and
//! record the gap on the chain when it continues.

use std::io;

use crate::chain::{ChainTip, HashAlg, LineSigner, RenderedEntry, SealedEntry, SigningKey};
use crate::error::Error;

mod background;
mod jsonl;
mod memory;
#[cfg(feature = "nats")]
mod nats;
mod segmented;
mod tree;

pub use jsonl::{JsonlFileWriter, RepairOutcome, repair};
pub use memory::{MemoryLog, MemoryWriter};
#[cfg(feature = "nats")]
pub use nats::NatsWriter;
pub use segmented::{MIN_RETENTION, Retention, SegmentedWriter};

/// The longest log line (its `\n` included) the sequencer hands a writer by default: the
/// verifier's line cap ([`crate::verify::DEFAULT_MAX_LINE_BYTES`]) less 64 KiB of headroom for
/// what an export pack adds to each line (its `controls`). See
/// [`ChainWriter::max_entry_bytes`].
pub const DEFAULT_MAX_ENTRY_BYTES: usize = crate::verify::DEFAULT_MAX_LINE_BYTES - 64 * 1024;

/// The smallest bound the sequencer applies, whatever a writer's
/// [`max_entry_bytes`](ChainWriter::max_entry_bytes) says: room for the log's own entries and
/// for the `policy_flag` that records an oversized one.
pub const MIN_ENTRY_BYTES: usize = 16 * 1024;

// A line the writer takes is one the verifier reads (its cap counts the line without `\n`).
const _: () = assert!(
    MIN_ENTRY_BYTES < DEFAULT_MAX_ENTRY_BYTES
        && DEFAULT_MAX_ENTRY_BYTES <= crate::verify::DEFAULT_MAX_LINE_BYTES
);

/// What a store already holds when the sequencer opens it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingChain {
    /// Where it ends.
    pub tip: ChainTip,
    /// Its hash algorithm.
    pub hash_alg: HashAlg,
    /// Whether its entries are signed.
    pub signed: bool,
    /// The Merkle tree over its entries, rebuilt when the builder asked for it with
    /// [`ChainWriter::request_tree`] (checkpoints are on); `None` otherwise, or from a writer
    /// that cannot rebuild it (a log with checkpoints then refuses to continue it).
    pub tree: Option<ExistingTree>,
}

impl ExistingChain {
    /// A chain ending at `tip`, without a rebuilt tree.
    pub fn new(tip: ChainTip, hash_alg: HashAlg, signed: bool) -> ExistingChain {
        ExistingChain {
            tip,
            hash_alg,
            signed,
            tree: None,
        }
    }
}

/// What [`ChainWriter::request_tree`] asks [`open`](ChainWriter::open) to compute besides the
/// tip, while it verifies the existing chain (issue #13).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeRequest {
    /// Tree sizes whose roots to report in [`ExistingTree::roots`]: those of the checkpoints
    /// the log's sinks hold, which the chain must be consistent with.
    pub roots_at: Vec<u64>,
    /// Whether to keep the chain hashes since the last checkpoint
    /// ([`ExistingTree::leaves_since_base`]): the log has sinks to continue.
    pub leaves_since_checkpoint: bool,
}

/// The Merkle tree over an existing chain (leaf i = the 32 raw bytes of entry i's hash), as a
/// writer's [`open`](ChainWriter::open) rebuilt it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExistingTree {
    /// The tree over every entry (its size is the tip's `next_seq`).
    pub frontier: crate::checkpoint::Frontier,
    /// The checkpoint origin the chain records last (an `audit_open`/`audit_resume` `origin`,
    /// or a `checkpoint` note's), if any among the entries read.
    pub origin: Option<String>,
    /// The roots at the requested sizes the writer could compute: those from
    /// [`first_size`](Self::first_size) to the tip. Sizes in deleted segments are absent.
    pub roots: Vec<(u64, crate::checkpoint::Hash)>,
    /// The seq of the first entry read: the tree before it came from a `segment_open`'s
    /// recorded frontier (0 when read from the start).
    pub first_size: u64,
    /// The seq (= tree size) of the last `checkpoint` entry read, if any.
    pub last_checkpoint: Option<u64>,
    /// The tree at the last checkpoint entry (or, when none was read or too many entries
    /// followed it, at a later point) ...
    pub base: crate::checkpoint::Frontier,
    /// ... and the chain hashes of the entries from there to the tip: what the checkpoint sinks
    /// need to continue from the last checkpoint they were given (empty unless
    /// [`TreeRequest::leaves_since_checkpoint`] asked for them).
    pub leaves_since_base: Vec<[u8; 32]>,
    /// The last forward-security epoch the chain records, and its verifier key's text: from a
    /// `key_epoch` entry (the epoch it announces) or an `audit_open`/`audit_resume`/
    /// `segment_open` (the epoch in force); `None` when the entries read record none.
    pub last_epoch: Option<(u64, String)>,
}

/// How far a commit must go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Handed to the operating system (survives a crash of this process, not of the machine).
    Written,
    /// On stable storage (`fdatasync`): survives power loss.
    Synced,
}

/// A store for chain entries. Implement it to send the chain elsewhere (object storage, a
/// database, a remote service); the sequencer thread is its only caller.
///
/// ```
/// use acttrace::writer::{ChainWriter, Durability, ExistingChain};
/// use acttrace::{Error, SealedEntry, SigningKey};
///
/// /// Keeps lines in memory and counts commits.
/// #[derive(Default)]
/// struct Lines { committed: Vec<String>, pending: Vec<String>, commits: usize }
///
/// impl ChainWriter for Lines {
///     fn open(&mut self, _key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
///         Ok(None) // always a new chain
///     }
///     fn append(&mut self, entry: &SealedEntry) {
///         self.pending.push(entry.to_line());
///     }
///     fn commit(&mut self, _d: Durability) -> std::io::Result<()> {
///         self.committed.append(&mut self.pending);
///         self.commits += 1;
///         Ok(())
///     }
///     fn describe(&self) -> String { "memory lines".into() }
/// }
/// ```
pub trait ChainWriter: Send + 'static {
    /// Called once, before anything else (but [`request_tree`](ChainWriter::request_tree) and
    /// [`set_retention_floor`](ChainWriter::set_retention_floor)): returns the chain the store already holds (after
    /// checking it; a store that cannot vouch for its content must refuse with
    /// [`Error::CorruptLog`]) or `None` for an empty store. `key` is the signing key the log is
    /// configured with, to check existing signatures. The tip's head must be the last entry's
    /// hash, 64 lowercase hex digits: the builder refuses any other with [`Error::CorruptLog`].
    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error>;

    /// Adds a sealed entry to the current batch. Nothing needs to be persisted yet; failures
    /// are reported by the [`commit`](ChainWriter::commit) that closes the batch.
    fn append(&mut self, entry: &SealedEntry);

    /// Adds a sealed entry given with its log line already rendered; the sequencer calls this
    /// rather than [`append`](ChainWriter::append). Writers that store lines override it to
    /// take [`RenderedEntry::line`] as it is, which spares building an owned entry and
    /// rendering it again for every entry. The default builds the [`SealedEntry`] and calls
    /// `append`.
    fn append_rendered(&mut self, entry: &RenderedEntry<'_>) {
        self.append(&entry.to_sealed());
    }

    /// Offers the writer the signing of a signed log's lines, which is otherwise done on the
    /// sequencer's thread, the busiest of a log's threads. A writer that stores lines and can
    /// sign them elsewhere (on a thread of its own) keeps `signer` and returns `true`; every
    /// entry it is then given through [`append_rendered`](ChainWriter::append_rendered) has
    /// [`SIG_PENDING`](crate::chain::SIG_PENDING) in place of its `sig`
    /// ([`RenderedEntry::sig_pending`]), and the writer must sign the line with
    /// [`LineSigner::sign_line`] before it stores it anywhere; a line it cannot sign fails the
    /// batch's commit. Called once, after [`recover`](ChainWriter::recover), only for a signed
    /// log. The default declines: entries arrive signed. [`JsonlFileWriter`] accepts and signs
    /// on its write thread.
    fn sign_lines(&mut self, signer: &LineSigner) -> bool {
        let _ = signer;
        false
    }

    /// Persists every entry appended since the last commit, at least to `durability`. On error
    /// none of them may remain in the store (all or nothing).
    fn commit(&mut self, durability: Durability) -> io::Result<()>;

    /// Starts committing the batch appended so far, to `durability`, without waiting for it,
    /// so that the next batch can be appended while this one is written and synced. Returns
    /// `false` (the default) when the writer does not do that, having changed nothing: the
    /// sequencer then calls [`commit`](ChainWriter::commit). After `true`, entries appended
    /// belong to the next batch, and the sequencer calls
    /// [`end_commit`](ChainWriter::end_commit) before it commits again, acknowledges the
    /// begun batch's entries or does anything else with the store.
    ///
    /// The sequencer begins a commit only for a full batch while more entries wait, never for
    /// a flush, a checkpoint, a rotation or a gap, and acknowledges nothing of the batch until
    /// `end_commit` has succeeded: what a caller is told is durable is as durable as before.
    fn begin_commit(&mut self, durability: Durability) -> bool {
        let _ = durability;
        false
    }

    /// Waits for the commit [`begin_commit`](ChainWriter::begin_commit) started and returns
    /// its outcome. On error, neither that batch nor anything appended since may remain in the
    /// store (the entries appended since were chained onto the failed batch, so they go with
    /// it; the sequencer counts both as lost). Called only after `begin_commit` returned
    /// `true`.
    fn end_commit(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// A short description for messages (for a file, its path).
    fn describe(&self) -> String;

    /// Repairs what [`open`](ChainWriter::open) found damaged by a crash (a torn last line)
    /// and says what it did, so that the sequencer records it as a `recovery` entry. Called
    /// once, after `open` and after the caller has accepted the existing chain, before the
    /// first `append`. The default: nothing to repair.
    fn recover(&mut self) -> Result<Option<Recovery>, Error> {
        Ok(None)
    }

    /// The longest entry line, in bytes with its `\n`, the store takes; the default is
    /// [`DEFAULT_MAX_ENTRY_BYTES`] (what the verifier reads, less headroom). A store with a
    /// smaller limit (a message broker's maximum payload, say) returns it. The sequencer reads
    /// it once, when it starts, and keeps it within [`MIN_ENTRY_BYTES`] and
    /// [`DEFAULT_MAX_ENTRY_BYTES`].
    ///
    /// An entry whose line would be longer never reaches the store: its longest string values
    /// (inside arrays and objects too) are replaced, largest first, by
    /// `{"omitted_bytes": N, "sha256": "<hex>"}` (the redacted string's UTF-8 length and
    /// SHA-256) until it fits, and a `policy_flag` (action `redacted`) after it names each
    /// replaced field's path and size. An entry that cannot fit even so is refused: a
    /// `policy_flag` (action `blocked`) takes its place on the chain and
    /// [`Status::oversized_refused`](crate::Status::oversized_refused) counts it.
    fn max_entry_bytes(&self) -> usize {
        DEFAULT_MAX_ENTRY_BYTES
    }

    /// The most bytes of entry lines (each with its `\n`) one batch may hold, for a store that
    /// keeps a batch as one bounded record (a message broker's message, say); `None` (the
    /// default) for no limit. The sequencer reads it once, when it starts: it commits the
    /// current batch before an entry would take it past this, and bounds every single entry
    /// to it as to [`max_entry_bytes`](ChainWriter::max_entry_bytes) (never below
    /// [`MIN_ENTRY_BYTES`]), so nothing is sealed that the store cannot take.
    fn max_batch_bytes(&self) -> Option<usize> {
        None
    }

    /// Whether the store wants to start a new segment before the next batch (size or age
    /// reached). The default: never.
    fn wants_rotation(&self) -> bool {
        false
    }

    /// The retention floor of a high-risk log, set by the builder before
    /// [`open`](ChainWriter::open) when the risk tier is [`RiskTier::High`](crate::RiskTier):
    /// a writer that deletes old segments must not delete one whose last entry is younger than
    /// [`RetentionFloor::minimum`] unless [`RetentionFloor::early_deletion`] gives a reason,
    /// and then reports it in [`Rotation::early_deletion`]. The default ignores it (a writer
    /// that deletes nothing).
    fn set_retention_floor(&mut self, floor: RetentionFloor) {
        let _ = floor;
    }

    /// Asks [`open`](ChainWriter::open) to rebuild the Merkle tree over the existing chain
    /// ([`ExistingChain::tree`]), called by the builder before `open` when the log writes
    /// checkpoints. The default ignores it: a log with checkpoints then cannot continue an
    /// existing chain in this store (it can start a new one). The crate's writers rebuild it
    /// while they verify the chain, at the cost of about two SHA-256 of 64 bytes per entry.
    fn request_tree(&mut self, request: TreeRequest) {
        let _ = request;
    }

    /// Starts a new segment (and applies retention). Called with no batch pending; the
    /// sequencer then seals `segment_open` (and `retention`) as the new segment's first
    /// entries. The default refuses.
    fn rotate(&mut self) -> Result<Rotation, Error> {
        Err(Error::Config(format!(
            "{} does not rotate",
            self.describe()
        )))
    }
}

/// What a rotation did, for the `segment_open` and `retention` entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The segment just sealed.
    pub previous_segment: String,
    /// The segment now being written.
    pub segment: String,
    /// Segments deleted by retention.
    pub deleted: Vec<DeletedSegment>,
    /// Why retention could not delete what its policy asked (the rotation itself succeeded),
    /// or which segments it kept under the retention floor.
    pub retention_error: Option<String>,
    /// The retention floor in whole days, when one applies (a high-risk log).
    pub minimum_days: Option<u64>,
    /// The override's reason, when a deleted segment was younger than the floor.
    pub early_deletion: Option<String>,
}

/// The shortest time a high-risk log keeps a segment, and the explicit override that lets
/// retention delete younger ones. See [`ChainWriter::set_retention_floor`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionFloor {
    /// Segments whose last entry is younger than this are kept (EU AI Act Art. 19(1), 26(6):
    /// [`MIN_RETENTION`], six months).
    pub minimum: std::time::Duration,
    /// Why younger segments may be deleted anyway
    /// ([`AuditLayerBuilder::allow_early_deletion`](crate::AuditLayerBuilder::allow_early_deletion));
    /// `None` keeps them.
    pub early_deletion: Option<String>,
}

/// A segment deleted by retention, as the `retention` entry records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletedSegment {
    /// Its file name.
    pub segment: String,
    /// The seq of its last entry.
    pub last_seq: u64,
    /// Its head hash.
    pub head: String,
    /// The `ts` of its last entry.
    pub ts: String,
    /// How many whole days old its last entry was when it was deleted.
    pub age_days: u64,
}

/// A torn last line (or a NUL-padded tail) that was cut off a log and kept in a side file, so
/// that the chain can continue without losing those bytes silently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The torn line's 1-based line number.
    pub line: u64,
    /// How many of the cut bytes were the run of NUL bytes that ended the file (0 when the
    /// tail was only a line cut short).
    pub nul_bytes: u64,
    /// How many bytes were cut.
    pub cut_bytes: u64,
    /// SHA-256 of the cut bytes, lowercase hex.
    pub cut_sha256: String,
    /// The side file holding the cut bytes (its file name, beside the log).
    pub side_file: String,
}

impl Recovery {
    /// What was cut: `torn last line`, `NUL-padded tail` (only NUL bytes after the last
    /// newline) or `torn last line with a NUL-padded tail`.
    pub fn reason(&self) -> &'static str {
        match self.nul_bytes {
            0 => "torn last line",
            n if n == self.cut_bytes => "NUL-padded tail",
            _ => "torn last line with a NUL-padded tail",
        }
    }

    /// The payload of the `recovery` entry that records this repair (`nul_bytes` only when the
    /// tail had NUL bytes).
    pub fn to_payload(&self) -> crate::json::Value {
        use crate::json::Value;
        let mut fields = vec![
            ("reason".into(), Value::from(self.reason())),
            ("line".into(), Value::from(self.line)),
            ("cut_bytes".into(), Value::from(self.cut_bytes)),
        ];
        if self.nul_bytes > 0 {
            fields.push(("nul_bytes".into(), Value::from(self.nul_bytes)));
        }
        fields.extend([
            ("cut_sha256".into(), Value::from(self.cut_sha256.as_str())),
            ("side_file".into(), Value::from(self.side_file.as_str())),
            ("producer".into(), Value::from(crate::chain::PRODUCER)),
        ]);
        Value::Object(fields)
    }
}
