//! The [`AuditLayerBuilder`]: configures a log, opens (or continues) its chain, and starts the
//! sequencer thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{AuditGuard, AuditHandle, AuditLayer, Shared};
use crate::chain::{self, ChainTip, FORMAT, HashAlg, PRODUCER, SigningKey};
use crate::checkpoint::{
    Checkpoint, CheckpointSink, EpochState, Frontier, SignerKey, SinkThread, epoch_key_name,
};
use crate::error::Error;
use crate::genai::GenAiCapture;
use crate::json::Value;
use crate::queue::{LogState, Queue, QueueFullPolicy};
use crate::redact::{BuiltinRedactor, Policy, Redactor};
use crate::sequencer::{
    CheckpointSetup, EpochSetup, Redaction, Sequencer, SyncPolicy, epoch_record_fields,
};
use crate::writer::{
    ChainWriter, Durability, ExistingChain, JsonlFileWriter, MIN_RETENTION, RetentionFloor,
    TreeRequest,
};

/// The default checkpoint cadence: after this many uncovered entries ...
const DEFAULT_CHECKPOINT_ENTRIES: u64 = 4096;
/// ... or once the oldest uncovered entry is this old.
const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);
/// The most entries [`AuditLayerBuilder::checkpoint_every`] lets go uncovered (the leaves
/// kept for the sinks between checkpoints are 32 bytes each).
const MAX_CHECKPOINT_ENTRIES: u64 = 1 << 20;
/// How long a forward-security epoch lasts by default.
const DEFAULT_EPOCH_INTERVAL: Duration = Duration::from_secs(600);

static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

/// The EU AI Act risk tier recorded in `audit_open` (the reference's default is `limited`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RiskTier {
    /// Minimal risk.
    Minimal,
    /// Limited risk (transparency obligations); the default.
    #[default]
    Limited,
    /// High risk (Annex III systems).
    High,
    /// Unacceptable risk (prohibited practices).
    Unacceptable,
}

impl RiskTier {
    /// The name written to the log.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskTier::Minimal => "minimal",
            RiskTier::Limited => "limited",
            RiskTier::High => "high",
            RiskTier::Unacceptable => "unacceptable",
        }
    }
}

/// Configures and starts an audit log, from [`AuditLayer::builder`].
///
/// ```
/// use acttrace::{AuditLayer, RiskTier, SyncPolicy};
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("audit.jsonl");
/// # unsafe { std::env::set_var("ACTTRACE_KEY", "0123456789abcdef0123456789abcdef") };
/// let (layer, guard) = AuditLayer::builder()
///     .system("loan-desk")
///     .risk_tier(RiskTier::High)
///     .path(&path)
///     .signing_key_from_env("ACTTRACE_KEY") // at least 16 bytes: `acttrace keygen hmac FILE`
///     .sync_policy(SyncPolicy::Batch)
///     .build()?;
/// # drop(layer);
/// guard.flush()?;
/// # Ok::<(), acttrace::Error>(())
/// ```
pub struct AuditLayerBuilder {
    system: String,
    risk_tier: RiskTier,
    writer: Option<Box<dyn ChainWriter>>,
    key: Option<Result<SigningKey, Error>>,
    hash_alg: Option<HashAlg>,
    sync_policy: SyncPolicy,
    queue_capacity: usize,
    queue_full: QueueFullPolicy,
    policy: Policy,
    custom_redactor: Option<Arc<dyn Redactor>>,
    flag_on_redact: bool,
    gen_ai: GenAiCapture,
    /// The directory `.path(..)` asked for, created by `build`.
    log_dir: Option<PathBuf>,
    drop_timeout: Duration,
    early_deletion: Option<String>,
    checkpoint_key: Option<Result<SignerKey, Error>>,
    checkpoint_every: (u64, Duration),
    checkpoint_sinks: Vec<Box<dyn CheckpointSink>>,
    epoch_state: Option<PathBuf>,
    epoch_every: (u64, Duration),
}

impl Default for AuditLayerBuilder {
    fn default() -> Self {
        AuditLayerBuilder {
            system: "unnamed-system".into(),
            risk_tier: RiskTier::default(),
            writer: None,
            key: None,
            hash_alg: None,
            sync_policy: SyncPolicy::default(),
            queue_capacity: 16 * 1024,
            queue_full: QueueFullPolicy::default(),
            policy: Policy::default_preset(),
            custom_redactor: None,
            flag_on_redact: true,
            gen_ai: GenAiCapture::default(),
            log_dir: None,
            drop_timeout: Duration::from_secs(10),
            early_deletion: None,
            checkpoint_key: None,
            checkpoint_every: (DEFAULT_CHECKPOINT_ENTRIES, DEFAULT_CHECKPOINT_INTERVAL),
            checkpoint_sinks: Vec::new(),
            epoch_state: None,
            epoch_every: (u64::MAX, DEFAULT_EPOCH_INTERVAL),
        }
    }
}

impl AuditLayerBuilder {
    /// The name of the AI system, recorded in `audit_open`.
    pub fn system(mut self, system: impl Into<String>) -> Self {
        self.system = system.into();
        self
    }

    /// The system's risk tier, recorded in `audit_open`.
    pub fn risk_tier(mut self, tier: RiskTier) -> Self {
        self.risk_tier = tier;
        self
    }

    /// Lets retention delete segments of a high-risk log ([`RiskTier::High`]) that are younger
    /// than [`MIN_RETENTION`] (183 days, EU AI Act Art. 19(1), 26(6)), which it otherwise keeps
    /// whatever [`SegmentedWriter::retain_segments`](crate::writer::SegmentedWriter::retain_segments)
    /// says. Every `retention` entry that deleted such a segment carries `"early_deletion":
    /// true` and `reason` as its `override`, and exports grade it adverse to the log-keeping
    /// controls. `reason` must not be empty ([`build`](Self::build) fails). Logs of other tiers
    /// have no floor: this changes nothing for them.
    pub fn allow_early_deletion(mut self, reason: impl Into<String>) -> Self {
        self.early_deletion = Some(reason.into());
        self
    }

    /// How spans with OpenTelemetry `gen_ai.*` fields are captured: what is kept of prompts,
    /// responses and tool arguments, the digest key, the price table. See [`crate::genai`].
    pub fn gen_ai(mut self, capture: GenAiCapture) -> Self {
        self.gen_ai = capture;
        self
    }

    /// Writes the log as JSON lines to `path` (created if missing, continued if present). Its
    /// directory is created too when missing.
    pub fn path(self, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(PathBuf::from);
        let mut this = self.writer(JsonlFileWriter::new(path));
        this.log_dir = dir;
        this
    }

    /// Sends entries to a custom [`ChainWriter`].
    pub fn writer(mut self, writer: impl ChainWriter) -> Self {
        self.writer = Some(Box::new(writer));
        self.log_dir = None;
        self
    }

    /// Sends entries to a NATS JetStream stream, one message per batch on the chain's subject
    /// (feature `nats`): see [`NatsWriter`](crate::writer::NatsWriter). The connection is made
    /// when [`build`](Self::build) opens the writer.
    #[cfg(feature = "nats")]
    pub fn nats(self, config: crate::nats::NatsConfig) -> Self {
        self.writer(crate::writer::NatsWriter::new(config))
    }

    /// How long dropping the [`AuditGuard`] waits for the log to be written and synced
    /// (default 10 s), like `tracing_appender`'s `WorkerGuard`. Past it the drop reports on
    /// stderr how many records were not yet written and returns; the sequencer keeps writing
    /// in the background until the process exits.
    pub fn drop_timeout(mut self, timeout: Duration) -> Self {
        self.drop_timeout = timeout;
        self
    }

    /// Signs every entry with `key` (HMAC-SHA256); [`build`](Self::build) fails if it is
    /// shorter than [`MIN_SIGNING_KEY_BYTES`](crate::chain::MIN_SIGNING_KEY_BYTES).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.key = Some(Ok(key).and_then(for_signing));
        self
    }

    /// Signs with the key in environment variable `var`; [`build`](Self::build) fails if it
    /// is unset, empty or too short.
    pub fn signing_key_from_env(mut self, var: &str) -> Self {
        self.key = Some(
            SigningKey::from_env(var)
                .map_err(Error::from)
                .and_then(for_signing),
        );
        self
    }

    /// Signs with the key in the file at `path`; [`build`](Self::build) fails if it cannot be
    /// read, is empty or is too short.
    pub fn signing_key_from_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.key = Some(
            SigningKey::from_file(path)
                .map_err(Error::from)
                .and_then(for_signing),
        );
        self
    }

    /// Writes signed checkpoints (issue #13) with `key`, an Ed25519 key whose name is the log's
    /// origin: a `checkpoint` entry every [`checkpoint_every`](Self::checkpoint_every), on
    /// [`flush`](AuditHandle::flush), at shutdown and before each rotation, each a C2SP
    /// signed note over the RFC 6962 Merkle tree of the entries before it, that anyone holding
    /// the verifier key can check. `audit_open`/`audit_resume` record the origin; an existing
    /// chain that records another origin is refused.
    pub fn checkpoint_key(mut self, key: SignerKey) -> Self {
        self.checkpoint_key = Some(Ok(key));
        self
    }

    /// Like [`checkpoint_key`](Self::checkpoint_key), with the key read from the file at
    /// `path`, in Go's private key format (`PRIVATE+KEY+<name>+<hex id>+<base64>`, as
    /// `acttrace keygen checkpoint` writes it). The text read is zeroized after parsing;
    /// errors name the file, never the key.
    pub fn checkpoint_key_from_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        let path = path.as_ref();
        self.checkpoint_key = Some(
            crate::small_file::read_to_string(path, crate::small_file::MAX_KEY_FILE_BYTES)
                .map(zeroize::Zeroizing::new)
                .map_err(|source| Error::Io {
                    op: "read the checkpoint key",
                    path: path.to_owned(),
                    source,
                })
                .and_then(|text| {
                    SignerKey::parse(text.trim()).map_err(|e| {
                        Error::Config(format!("checkpoint key file {}: {e}", path.display()))
                    })
                }),
        );
        self
    }

    /// Like [`checkpoint_key_from_file`](Self::checkpoint_key_from_file), with the key in
    /// environment variable `var`.
    pub fn checkpoint_key_from_env(mut self, var: &str) -> Self {
        self.checkpoint_key = Some(
            std::env::var(var)
                .map(zeroize::Zeroizing::new)
                .map_err(|_| {
                    Error::Config(format!(
                        "checkpoint key: environment variable {var} is not set (or not UTF-8)"
                    ))
                })
                .and_then(|text| {
                    SignerKey::parse(text.trim()).map_err(|e| {
                        Error::Config(format!("checkpoint key in environment variable {var}: {e}"))
                    })
                }),
        );
        self
    }

    /// When checkpoints fall due: after `entries` entries not covered by one (default 4,096,
    /// at most 1,048,576) or once the oldest of them is `interval` old (default 10 s),
    /// whichever comes first. Flush, shutdown and rotation always checkpoint. Each checkpoint
    /// first commits the entries it covers `Synced`, whatever the [`SyncPolicy`].
    pub fn checkpoint_every(mut self, entries: u64, interval: Duration) -> Self {
        self.checkpoint_every = (entries.clamp(1, MAX_CHECKPOINT_ENTRIES), interval);
        self
    }

    /// Sends every committed checkpoint to `sink` (repeatable), on a thread of its own, after
    /// its batch was committed `Synced`: see [`crate::checkpoint::CheckpointSink`]. At build,
    /// each sink's latest checkpoint for the origin must verify with the log's key and the log
    /// must match it (not be shorter, and have the same root at its size), else
    /// [`Error::CheckpointConflict`]. Needs a checkpoint key.
    pub fn checkpoint_sink(mut self, sink: impl CheckpointSink) -> Self {
        self.checkpoint_sinks.push(Box::new(sink));
        self
    }

    /// Forward security (issue #13): every checkpoint is also signed by an epoch key named
    /// `<origin>/fs`, which rolls over every epoch
    /// ([`forward_security_every`](Self::forward_security_every)) and at each rotation: the
    /// next key is announced in a `key_epoch` entry signed by the current one, then the
    /// current one is erased. Whoever takes the host later cannot re-sign the epochs closed
    /// before (`acttrace verify --fs-vkey` checks them).
    ///
    /// `path` is the state file holding the key in force, which `acttrace keygen checkpoint
    /// --origin NAME OUT` creates at epoch 0 as `OUT.fs` (it prints the epoch-0 verifier key to
    /// keep off the host); the writer rewrites it at each roll (atomically, mode 0600) and
    /// never creates it: [`build`](Self::build) fails when it is missing, names other keys
    /// than `<origin>/fs`, or does not match the chain (its epoch and key must be the last the
    /// chain records; a new chain starts at epoch 0; an existing chain with checkpoints but no
    /// epochs is refused). Needs a checkpoint key.
    pub fn forward_security_state(mut self, path: impl Into<PathBuf>) -> Self {
        self.epoch_state = Some(path.into());
        self
    }

    /// When forward-security epochs end: after `interval` (default 10 minutes), or after
    /// `entries` entries (default: no limit), whichever comes first; and at each rotation.
    pub fn forward_security_every(mut self, entries: Option<u64>, interval: Duration) -> Self {
        self.epoch_every = (entries.unwrap_or(u64::MAX).max(1), interval);
        self
    }

    /// The chain hash for a new log (default SHA-256). An existing log keeps its own; asking
    /// for a different one is an error.
    pub fn hash_alg(mut self, alg: HashAlg) -> Self {
        self.hash_alg = Some(alg);
        self
    }

    /// When entries are fsynced (default [`SyncPolicy::Batch`], group commit).
    pub fn sync_policy(mut self, policy: SyncPolicy) -> Self {
        self.sync_policy = policy;
        self
    }

    /// How many captured records may wait for the sequencer (default 16,384). When the queue is
    /// full, callers wait: nothing is dropped.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// The redaction policy applied to every payload before it is hashed (default
    /// [`Policy::default_preset`]: secrets, credentials, email, financial and government ids
    /// redacted, other personal data flagged). Also used by [`AuditHandle::preflight`].
    pub fn redaction_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Replaces the built-in redactor with your own. A custom redactor owns its flagging: no
    /// `policy_flag` entries are added for what it does. It runs on the log's own threads (the
    /// render thread that prepares payloads for the sequencer, or the sequencer itself), where
    /// what it logs through `tracing` is never audited; a panic in it stops the log as a
    /// writer's would.
    pub fn redactor(mut self, redactor: impl Redactor + 'static) -> Self {
        self.custom_redactor = Some(Arc::new(redactor));
        self
    }

    /// Whether the built-in redactor chains a `policy_flag` entry after each entry it acted on
    /// (default `true`, as the reference does).
    pub fn flag_on_redact(mut self, flag: bool) -> Self {
        self.flag_on_redact = flag;
        self
    }

    /// What callers do when the queue is full (default [`QueueFullPolicy::Block`], lossless).
    pub fn queue_full(mut self, policy: QueueFullPolicy) -> Self {
        self.queue_full = policy;
        self
    }

    /// Opens the log (creating it, or checking and continuing an existing chain), writes its
    /// first entry of this run durably, and starts the sequencer thread.
    ///
    /// A new log starts with `audit_open`; a continued one gets an `audit_resume` entry naming
    /// the producer that continues it.
    pub fn build(self) -> Result<(AuditLayer, AuditGuard), Error> {
        let key = self.key.transpose()?;
        let mut gen_ai = self.gen_ai;
        if gen_ai.needs_digest_key() && !gen_ai.has_digest_key() {
            match &key {
                Some(key) => gen_ai.set_digest_key_from(key),
                None => return Err(Error::MissingDigestKey),
            }
        }
        let mut writer = self.writer.ok_or_else(|| {
            Error::Config("no writer: call .path(..) or .writer(..) on the builder".into())
        })?;
        if let Some(dir) = &self.log_dir {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                op: "create the log's directory",
                path: dir.clone(),
                source,
            })?;
        }
        if self
            .early_deletion
            .as_ref()
            .is_some_and(|r| r.trim().is_empty())
        {
            return Err(Error::Config(
                "allow_early_deletion needs a reason (it is chained in every retention entry \
                 that uses it)"
                    .into(),
            ));
        }
        if self.risk_tier == RiskTier::High {
            writer.set_retention_floor(RetentionFloor {
                minimum: MIN_RETENTION,
                early_deletion: self.early_deletion.clone(),
            });
        }
        let source = writer.describe();
        let signer = self.checkpoint_key.transpose()?;
        let mut sinks = self.checkpoint_sinks;
        let held = match &signer {
            Some(signer) => sinks_latest(&mut sinks, signer, &source)?,
            None if !sinks.is_empty() => {
                return Err(Error::Config(
                    "checkpoint_sink needs a checkpoint key (checkpoint_key_from_file)".into(),
                ));
            }
            None => Vec::new(),
        };
        if signer.is_some() {
            writer.request_tree(TreeRequest {
                roots_at: held.iter().map(|(_, c)| c.size).collect(),
                leaves_since_checkpoint: !sinks.is_empty(),
            });
        }
        let existing = writer.open(key.as_ref())?;
        let checkpoints = match &signer {
            Some(signer) => Some(check_tree(
                existing.as_ref(),
                signer.name(),
                &held,
                &source,
            )?),
            None => None,
        };
        let epochs = match (&self.epoch_state, &signer, &checkpoints) {
            (None, _, _) => None,
            (Some(path), Some(signer), Some(tree)) => Some((
                resolve_epochs(path, signer.name(), tree, &source)?,
                path.clone(),
            )),
            (Some(_), _, _) => {
                return Err(Error::Config(
                    "forward_security_state needs a checkpoint key (checkpoint_key_from_file)"
                        .into(),
                ));
            }
        };
        let (alg, tip, first_kind) = match &existing {
            None => (
                self.hash_alg.unwrap_or_default(),
                ChainTip {
                    next_seq: 0,
                    head: chain::GENESIS.to_owned(),
                },
                "audit_open",
            ),
            Some(ex) => {
                if let Some(alg) = self.hash_alg
                    && alg != ex.hash_alg
                {
                    return Err(Error::HashAlgMismatch {
                        source_name: source,
                        chain: ex.hash_alg,
                        configured: alg,
                    });
                }
                if ex.signed != key.is_some() {
                    return Err(Error::SigningMismatch {
                        source_name: source,
                        signed: ex.signed,
                    });
                }
                // The next entry's `prev_hash`: written into its line as it is (the crate's
                // writers read it from a verified chain; a custom writer might not).
                if !crate::hex::is_hash_hex(&ex.tip.head) {
                    return Err(Error::CorruptLog {
                        source_name: source,
                        line: None,
                        seq: ex.tip.next_seq.checked_sub(1),
                        detail: "the chain's head (the last entry's hash) is not 64 lowercase \
                                 hex digits"
                            .into(),
                    });
                }
                (ex.hash_alg, ex.tip.clone(), "audit_resume")
            }
        };
        // The existing chain is accepted: now repair what a crash left.
        let recovery = writer.recover()?;
        let (sink, sink_done) = match sinks.is_empty() {
            true => (None, None),
            false => {
                let (thread, done) = SinkThread::spawn(sinks)?;
                (Some(thread), Some(done))
            }
        };
        let (queue, receiver) = Queue::new(self.queue_capacity, self.queue_full, source.clone());
        let shared = Arc::new(Shared {
            layer_id: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
            next_span: AtomicU64::new(1),
            source,
            queue: Arc::new(queue),
            log: Arc::new(LogState::new(tip.clone())),
            redactor: Arc::new(BuiltinRedactor::new(self.policy.clone())),
            gen_ai_orphans: AtomicU64::new(0),
            outside_decisions: AtomicU64::new(0),
            drop_timeout: self.drop_timeout,
            sink_done,
        });
        let redaction = match self.custom_redactor {
            Some(redactor) => Redaction {
                content_strict: redactor.clone(),
                redactor,
                auto_flag: false,
            },
            None => Redaction {
                redactor: shared.redactor.clone(),
                content_strict: Arc::new(BuiltinRedactor::new(self.policy.flags_as_redactions())),
                auto_flag: self.flag_on_redact,
            },
        };
        let mut sequencer = Sequencer::new(
            writer,
            redaction,
            key,
            alg,
            self.sync_policy,
            shared.queue.clone(),
            shared.log.clone(),
            tip.clone(),
            gen_ai,
        )?;
        let origin = signer.as_ref().map(|s| s.name().to_owned());
        if let (Some(signer), Some(tree)) = (signer, checkpoints) {
            sequencer.enable_checkpoints(CheckpointSetup {
                signer,
                every: self.checkpoint_every.0,
                interval: self.checkpoint_every.1,
                tree: tree.frontier,
                last_checkpoint: tree.last_checkpoint,
                sink,
                sink_base: tree.base,
                sink_leaves: tree.leaves_since_base,
            })?;
        }
        let epoch_fields = epochs.as_ref().map(|(state, _)| epoch_record_fields(state));
        if let Some((state, path)) = epochs {
            sequencer.enable_forward_security(EpochSetup {
                state,
                path,
                every: self.epoch_every.0,
                interval: self.epoch_every.1,
            });
        }
        let mut open = vec![
            ("system".to_owned(), Value::from(self.system.as_str())),
            ("risk_tier".to_owned(), Value::from(self.risk_tier.as_str())),
            ("format".to_owned(), Value::from(FORMAT)),
            ("producer".to_owned(), Value::from(PRODUCER)),
        ];
        if first_kind == "audit_open" && alg != HashAlg::Sha256 {
            open.push(("hash_alg".to_owned(), Value::from(alg.name())));
        }
        if first_kind == "audit_resume" {
            open.push(("resumed_at_seq".to_owned(), Value::from(tip.next_seq)));
        }
        if let Some(origin) = origin {
            open.push(("origin".to_owned(), Value::from(origin)));
        }
        // The epoch in force, so that the next open can match the state file against the chain.
        open.extend(epoch_fields.into_iter().flatten());
        sequencer.seal_unattributed(first_kind, Value::Object(open));
        if let Some(recovery) = recovery {
            sequencer.seal_unattributed("recovery", recovery.to_payload());
        }
        sequencer.commit(Durability::Synced)?;
        let thread = std::thread::Builder::new()
            .name("acttrace-sequencer".into())
            .spawn(move || {
                // What a writer logs from this thread reaches the program's subscriber, but this
                // layer ignores it (no recursion into the queue this thread drains). No scoped
                // `NoSubscriber` is installed here: any scoped dispatcher makes tracing re-check
                // every callsite in the program on every event (interest `sometimes`), a cost
                // of ~40 instructions per event that no program should pay for its audit log.
                crate::queue::mark_log_thread();
                sequencer.run(receiver);
            })
            .map_err(|e| Error::Config(format!("cannot start the sequencer thread: {e}")))?;
        let handle = AuditHandle {
            shared: shared.clone(),
        };
        Ok((
            AuditLayer { shared },
            AuditGuard {
                handle,
                thread: Some(thread),
            },
        ))
    }
}

/// The tree a log with checkpoints continues: what the writer rebuilt of the existing chain
/// (which must record no other origin and match every checkpoint the sinks hold), or an empty
/// tree for a new chain (which no sink may hold a checkpoint of).
fn check_tree(
    existing: Option<&ExistingChain>,
    origin: &str,
    held: &[(String, Checkpoint)],
    source: &str,
) -> Result<crate::writer::ExistingTree, Error> {
    let b64 = |root: &[u8; 32]| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(root)
    };
    let empty = crate::writer::ExistingTree {
        frontier: Frontier::new(),
        origin: None,
        roots: Vec::new(),
        first_size: 0,
        last_checkpoint: None,
        base: Frontier::new(),
        leaves_since_base: Vec::new(),
        last_epoch: None,
    };
    let (size, tree) = match existing {
        None => (0, empty),
        Some(ex) => {
            let tree = ex.tree.clone().ok_or_else(|| {
                Error::Incompatible(format!(
                    "{source}: its writer cannot rebuild the Merkle tree over the existing chain \
                     (ChainWriter::request_tree), so a log with checkpoints cannot continue it"
                ))
            })?;
            if tree.frontier.size() != ex.tip.next_seq {
                return Err(Error::Incompatible(format!(
                    "{source}: the Merkle tree rebuilt holds {} entries, the chain {}",
                    tree.frontier.size(),
                    ex.tip.next_seq
                )));
            }
            if let Some(recorded) = &tree.origin
                && recorded != origin
            {
                return Err(Error::Incompatible(format!(
                    "{source} records the checkpoint origin {recorded}, but the checkpoint key is \
                     named {origin}: two chains must never verify as each other (use the key the \
                     log was started with)"
                )));
            }
            (ex.tip.next_seq, tree)
        }
    };
    for (sink, checkpoint) in held {
        let conflict = |detail: String| Error::CheckpointConflict {
            source_name: source.to_owned(),
            sink: sink.clone(),
            detail,
        };
        if checkpoint.size > size {
            return Err(conflict(format!(
                "its checkpoint covers {} entries with root {}, the log holds only {size}: it was \
                 cut back or replaced",
                checkpoint.size,
                b64(&checkpoint.root)
            )));
        }
        if let Some((_, root)) = tree.roots.iter().find(|(s, _)| *s == checkpoint.size)
            && *root != checkpoint.root
        {
            return Err(conflict(format!(
                "its checkpoint of {} entries has root {}, the log's first {} entries have root \
                 {}: the log was rewritten",
                checkpoint.size,
                b64(&checkpoint.root),
                checkpoint.size,
                b64(root)
            )));
        }
        // A size without a root lies in segments deleted by retention: only its size could be
        // checked.
    }
    Ok(tree)
}

/// Reads the forward-security state file and matches it against the chain's last epoch record
/// (a `key_epoch` entry, or the epoch in force an `audit_open`/`audit_resume`/`segment_open`
/// records): a state holding the key in force and the next one (a roll cut short) resolves to
/// the one the chain says is in force, and is rewritten. Anything else is refused.
fn resolve_epochs(
    path: &std::path::Path,
    origin: &str,
    tree: &crate::writer::ExistingTree,
    source: &str,
) -> Result<EpochState, Error> {
    let mut state = EpochState::load(path).map_err(|e| match e {
        Error::Io { source: io, .. } if io.kind() == std::io::ErrorKind::NotFound => {
            Error::Config(format!(
                "forward-security state {} does not exist: the writer never makes the epoch-0 \
                 key itself; create it with `acttrace keygen checkpoint --origin {origin} OUT` \
                 (which writes OUT.fs)",
                path.display()
            ))
        }
        other => other,
    })?;
    let mismatch = |detail: String| {
        Error::Config(format!(
            "forward-security state {} does not match {source}: {detail}",
            path.display()
        ))
    };
    let name = epoch_key_name(origin);
    if state.current.signer.name() != name {
        return Err(mismatch(format!(
            "it holds keys named {}, the log's epoch keys are named {name}",
            state.current.signer.name()
        )));
    }
    let held = |k: &crate::checkpoint::EpochKey| (k.epoch, k.signer.verifier().to_string());
    let rewrite = state.next.is_some();
    match &tree.last_epoch {
        None if tree.last_checkpoint.is_some() => {
            return Err(mismatch(
                "the chain has checkpoints without epoch signatures: forward security must be \
                 on from a log's first checkpoint (start a new log)"
                    .into(),
            ));
        }
        None if state.current.epoch != 0 => {
            return Err(mismatch(format!(
                "the chain records no epoch, the state is at epoch {} (another log's state?)",
                state.current.epoch
            )));
        }
        None => state.next = None,
        Some(recorded) => {
            if state.next.as_ref().map(held).as_ref() == Some(recorded) {
                // The announcement was committed before the state was rewritten.
                state.current = state.next.take().expect("checked");
            } else if held(&state.current) == *recorded {
                // The next key was never announced.
                state.next = None;
            } else {
                return Err(mismatch(format!(
                    "the chain's last epoch is {} with key {}, the state holds epoch {} with \
                     key {}{}",
                    recorded.0,
                    recorded.1,
                    state.current.epoch,
                    state.current.signer.verifier(),
                    state.next.as_ref().map_or(String::new(), |n| format!(
                        " and epoch {} with key {}",
                        n.epoch,
                        n.signer.verifier()
                    ))
                )));
            }
        }
    }
    if rewrite {
        state.store(path)?;
    }
    Ok(state)
}

/// The latest checkpoint each sink holds for the log's origin, verified with the log's own
/// key.
fn sinks_latest(
    sinks: &mut [Box<dyn CheckpointSink>],
    signer: &SignerKey,
    source: &str,
) -> Result<Vec<(String, Checkpoint)>, Error> {
    let origin = signer.name();
    let verifier = signer.verifier();
    let mut held = Vec::new();
    for sink in sinks {
        let Some(note) = sink.latest(origin)? else {
            continue;
        };
        let conflict = |detail: String| Error::CheckpointConflict {
            source_name: source.to_owned(),
            sink: sink.describe(),
            detail,
        };
        let checkpoint =
            Checkpoint::from_note(&note, std::slice::from_ref(&verifier)).map_err(|e| {
                conflict(format!(
                    "its latest checkpoint for {origin} does not verify with the log's key \
                     {verifier}: {e}"
                ))
            })?;
        if checkpoint.origin != origin {
            return Err(conflict(format!(
                "its latest checkpoint names the origin {}, the log's is {origin}",
                checkpoint.origin
            )));
        }
        held.push((sink.describe(), checkpoint));
    }
    Ok(held)
}

/// Issue #15 §4: a key that signs new entries must be long enough.
fn for_signing(key: SigningKey) -> Result<SigningKey, Error> {
    key.check_signing_length()?;
    Ok(key)
}
