//! The sequencer: the one thread that turns captured records into chain entries.
//!
//! Callers only capture owned field values and enqueue a message; this thread gives every entry
//! its place in the one total order (seq, prev_hash), seals it (hash, signature) and hands it
//! to the [`ChainWriter`]. Payloads are shaped, redacted and rendered (line and canonical form)
//! on a second thread ahead of sealing where the machine has one (`render_thread.rs`). Batches are committed when the queue runs dry
//! (group commit), so one `fdatasync` covers every entry that arrived during the previous one.
//! A failed commit rolls the head back to the last committed entry; the lost entries are
//! counted, reported, and recorded by a `gap` entry when the chain continues.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};

use crate::chain::{ChainTip, HashAlg, LineSigner, Sealer, SigningKey};
use crate::error::Error;
use crate::genai::{self, GenAiCapture};
use crate::hex::Hex64;
use crate::json::Value;
use crate::queue::{LogState, Msg, Queue, Reply, TipReply};
use crate::record::{ChainedEntry, FieldValue};
use crate::redact::{Redactor, Report};
use crate::time;
use crate::writer::{ChainWriter, DEFAULT_MAX_ENTRY_BYTES, Durability, MIN_ENTRY_BYTES};

mod checkpoints;
mod digest;
#[cfg(test)]
mod digest_tests;
mod epochs;
mod oversize;
mod payload;
mod render_thread;
mod tree_thread;

pub(crate) use checkpoints::CheckpointSetup;
pub(crate) use epochs::{EpochSetup, record_fields as epoch_record_fields};
#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod tests;

use digest::DecisionDigests;
use payload::{CallTotals, Payload, auto_flags};
use render_thread::{Ahead, CHUNK_ITEMS, Chunk, Deferred, RenderThread, Then, Unshaped};

/// Entries sealed into one batch before it is committed even if more are queued, which bounds
/// the writer's buffer and the latency of the first entry in a burst. A soft bound: the check
/// comes after each message, and one message can seal every chunk back from the render thread,
/// so a batch may run past it by up to `IN_FLIGHT × CHUNK_ITEMS` entries (the writer's byte
/// bound, `max_batch_bytes`, is checked per entry).
const MAX_BATCH: usize = 4096;

/// When entries reach stable storage.
///
/// | policy | fsync | after power loss you keep |
/// |---|---|---|
/// | `EveryEntry` | after each entry | every entry sealed |
/// | `Batch` (default) | whenever the queue runs dry (group commit) | every entry up to the last batch; [`crate::AuditHandle::flush`] is always durable |
/// | `Interval(d)` | at most every `d` | entries older than `d` |
/// | `OnFlush` | only on `flush()` / shutdown | entries up to the last flush |
///
/// In every mode each batch is written to the operating system when the queue runs dry, so a
/// crash of the process alone loses nothing that was sealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync after every entry (slowest, like the reference).
    EveryEntry,
    /// fsync once per batch, when the queue runs dry (group commit).
    #[default]
    Batch,
    /// Write per batch, fsync at most this often.
    Interval(Duration),
    /// Write per batch, fsync only on flush and shutdown.
    OnFlush,
}

struct OpenDecision {
    id: DecisionId,
    outcome: Vec<(&'static str, FieldValue)>,
    calls: CallTotals,
}

/// How payloads are redacted before they are hashed.
#[derive(Clone)]
pub(crate) struct Redaction {
    pub(crate) redactor: Arc<dyn Redactor>,
    /// The redactor for content kept in [`genai::ContentCapture::Redacted`] mode: the policy
    /// with flags raised to redactions (a custom redactor is used as it is).
    pub(crate) content_strict: Arc<dyn Redactor>,
    /// Whether to chain a `policy_flag` after an entry the redactor acted on. Only for the
    /// built-in redactor: a custom one owns its flagging.
    pub(crate) auto_flag: bool,
}

impl Redaction {
    /// Redacts the user fields of a payload (the ids the log sets itself are left alone).
    pub(super) fn redact_payload(&self, payload: &mut Value) -> Report {
        let Value::Object(fields) = payload else {
            return self.redactor.redact(payload);
        };
        let ours = fields
            .iter()
            .take_while(|(k, _)| k == "decision_id" || k == "parent_decision_id")
            .count();
        // Our (at most two, unique) fields are set aside while the redactor sees the rest,
        // rather than the user fields being split off into a new allocation per entry.
        let mut kept: [Option<(String, Value)>; 2] = [None, None];
        for slot in kept.iter_mut().take(ours) {
            *slot = Some(fields.remove(0));
        }
        let report = self.redactor.redact(payload);
        // A redactor that replaced the object keeps no user field.
        if !matches!(payload, Value::Object(_)) {
            *payload = Value::Object(Vec::new());
        }
        if let Value::Object(fields) = payload {
            for (i, field) in kept.into_iter().flatten().enumerate() {
                fields.insert(i, field);
            }
        }
        report
    }
}

pub(crate) struct Sequencer {
    writer: Box<dyn ChainWriter>,
    redaction: Redaction,
    /// Seals with the log's hash algorithm and (prepared) signing key.
    sealer: Sealer,
    /// Timestamps entries.
    stamper: time::Stamper,
    alg: HashAlg,
    policy: SyncPolicy,
    /// Where records arrive from, with the drops and kept closes to chain.
    queue: Arc<Queue>,
    /// Where commits and losses are published.
    log: Arc<LogState>,
    /// The committed tip.
    committed: ChainTip,
    /// The tip including the current, uncommitted batch.
    working: ChainTip,
    batch_entries: usize,
    /// Whether the current batch starts with a `gap` entry for earlier lost entries.
    batch_has_gap: bool,
    /// Records dropped in fail-open mode whose count this batch chains, and how many `gap`
    /// entries carry them (restored if the batch fails).
    batch_dropped: u64,
    /// Entries of the current batch that the log wrote itself (gaps, segment openings): not
    /// counted as lost user entries when the batch fails.
    batch_system: usize,
    /// `segment_open`/`retention` entries in the current batch, and those of a failed batch
    /// that must open the next one (the new segment must start with them).
    batch_segment: Vec<(String, Value)>,
    pending_segment: Vec<(String, Value)>,
    /// Entries lost since the last flush: the next flush reports them.
    lost_since_flush: u64,
    /// Replies to explicit entries, sent when their batch is committed: the entry, or the
    /// refusal of an oversized one.
    batch_replies: Vec<(Reply, Result<ChainedEntry, Error>)>,
    /// The longest line the writer takes (its `max_entry_bytes`, kept within bounds).
    max_entry: usize,
    /// The most bytes of entry lines one batch may hold (the writer's `max_batch_bytes`), and
    /// how many the current batch holds; `in_commit` keeps the entries `commit` seals itself
    /// from starting another commit.
    max_batch: Option<usize>,
    batch_bytes: usize,
    in_commit: bool,
    /// Set when the entry last sealed was refused as oversized (a `policy_flag` took its
    /// place).
    refused: bool,
    decisions: IdMap<u64, OpenDecision>,
    /// Each open decision's `entries_digest` so far (committed entries plus this batch's).
    digests: DecisionDigests,
    ids: DecisionIds,
    lost: u64,
    lost_first_seq: u64,
    lost_error: String,
    unsynced: bool,
    last_sync: Instant,
    gen_ai: GenAiCapture,
    /// The Merkle tree and checkpoint state, when the log writes checkpoints.
    checkpoints: Option<checkpoints::Checkpoints>,
    /// The forward-secure epoch keys, when the log has them (always with checkpoints).
    epochs: Option<epochs::Epochs>,
    /// The thread that redacts and renders payloads ahead of sealing (`None`: this thread does
    /// it), the chunk of payloads being filled for it, and emptied chunks kept for reuse.
    render: Option<RenderThread>,
    filling: Chunk,
    spare_chunks: Vec<Chunk>,
    /// A `decision_end`'s forms, rendered ahead and completed with its digest when sealed.
    closed_line: String,
    closed_canonical: String,
    /// A full batch whose commit the writer began while the next batch is sealed
    /// ([`Sequencer::commit_full_batch`]); nothing of it is published until it ends.
    begun: Option<BegunBatch>,
    /// Set while deferred payloads are sealed: what sealing one seals or commits in passing
    /// (flags, a gap, a full batch's commit) takes its place among them, rather than first
    /// settling the rest, which come after it.
    sealing_deferred: bool,
}

/// A batch being written and synced while the next one is sealed: what its commit publishes,
/// kept until the writer's `end_commit` answers.
struct BegunBatch {
    /// The working tip after it: the committed tip once it is durable.
    tip: ChainTip,
    entries: usize,
    replies: Vec<(Reply, Result<ChainedEntry, Error>)>,
    durability: Durability,
}

/// Emptied chunks kept for reuse: one per chunk that can be out on the render thread, the one
/// being filled, and one being sealed.
const SPARE_CHUNKS: usize = render_thread::IN_FLIGHT + 2;

impl Sequencer {
    // Called once, by the builder, with everything the sequencer owns.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        mut writer: Box<dyn ChainWriter>,
        redaction: Redaction,
        key: Option<SigningKey>,
        alg: HashAlg,
        policy: SyncPolicy,
        queue: Arc<Queue>,
        log: Arc<LogState>,
        tip: ChainTip,
        gen_ai: GenAiCapture,
    ) -> Result<Sequencer, Error> {
        // A single entry must fit a batch too: the same bound rule as `max_entry_bytes`.
        let max_batch = writer.max_batch_bytes();
        let max_entry = writer
            .max_entry_bytes()
            .min(max_batch.unwrap_or(usize::MAX))
            .clamp(MIN_ENTRY_BYTES, DEFAULT_MAX_ENTRY_BYTES);
        let mut sealer = Sealer::for_log(alg, key.as_ref());
        // A writer that signs lines on a thread of its own takes a third of the hashing off
        // this one.
        if let Some(key) = &key
            && writer.sign_lines(&LineSigner::new(key))
        {
            sealer.leave_signing_to_writer();
        }
        Ok(Sequencer {
            max_entry,
            max_batch: max_batch.map(|m| m.max(max_entry)),
            batch_bytes: 0,
            in_commit: false,
            refused: false,
            writer,
            redaction,
            sealer,
            stamper: time::Stamper::default(),
            alg,
            policy,
            queue,
            log,
            committed: tip.clone(),
            working: tip,
            batch_entries: 0,
            batch_has_gap: false,
            batch_dropped: 0,
            batch_system: 0,
            batch_segment: Vec::new(),
            pending_segment: Vec::new(),
            lost_since_flush: 0,
            batch_replies: Vec::new(),
            decisions: IdMap::default(),
            digests: DecisionDigests::default(),
            ids: DecisionIds::new()?,
            lost: 0,
            lost_first_seq: 0,
            lost_error: String::new(),
            unsynced: false,
            last_sync: Instant::now(),
            gen_ai,
            checkpoints: None,
            epochs: None,
            render: None,
            filling: Chunk::default(),
            spare_chunks: Vec::new(),
            closed_line: String::new(),
            closed_canonical: String::new(),
            begun: None,
            sealing_deferred: false,
        })
    }

    /// Hands redaction and rendering to a thread of their own from now on (`run` does this;
    /// `anyway` starts it on a one-core machine too, for tests). Not with `EveryEntry`, which
    /// commits each entry as it arrives.
    pub(crate) fn start_render_thread(&mut self, anyway: bool) {
        if self.policy != SyncPolicy::EveryEntry && self.render.is_none() {
            self.render = if anyway {
                RenderThread::spawn_anyway(&self.redaction)
            } else {
                RenderThread::spawn(&self.redaction)
            };
        }
    }

    /// Records handed to [`Sequencer::submit`] and not yet sealed.
    fn deferred(&self) -> usize {
        self.filling.items.len()
            + self
                .render
                .as_ref()
                .map_or(0, |r| r.in_flight() * CHUNK_ITEMS)
    }

    /// Seals a shaped payload: with a render thread, once it has been redacted and rendered
    /// there, while the payloads before it are sealed; else now.
    fn submit(&mut self, item: Deferred) {
        if self.render.is_none() || self.sealing_deferred {
            let mut chunk = self.spare_chunk();
            chunk.items.push(item);
            render_thread::prepare(&self.redaction, &mut chunk);
            self.seal_chunk(chunk);
            return;
        }
        self.filling.items.push(item);
        if self.filling.items.len() < CHUNK_ITEMS {
            return;
        }
        let next = self.spare_chunk();
        let full = std::mem::replace(&mut self.filling, next);
        if let Some(render) = &mut self.render
            && !render.has_room()
            && let Some(chunk) = render.take(true)
        {
            self.seal_chunk(chunk);
        }
        if let Some(render) = &mut self.render {
            render.hand_over(full);
        }
        while let Some(chunk) = self.render.as_mut().and_then(|r| r.take(false)) {
            self.seal_chunk(chunk);
        }
    }

    /// Seals everything submitted: the chunks out on the render thread (waiting for them),
    /// then the one being filled. Called before anything else is sealed or committed, so that
    /// entries are chained in the order their records arrived; the one commit that does not
    /// wait for it is a full plain batch's begun commit ([`Sequencer::commit_full_batch`]),
    /// which covers only what is sealed.
    fn settle(&mut self) {
        if self.sealing_deferred {
            return;
        }
        while let Some(chunk) = self.render.as_mut().and_then(|r| r.take(true)) {
            self.seal_chunk(chunk);
        }
        if !self.filling.items.is_empty() {
            let next = self.spare_chunk();
            let mut chunk = std::mem::replace(&mut self.filling, next);
            render_thread::prepare(&self.redaction, &mut chunk);
            self.seal_chunk(chunk);
        }
    }

    fn spare_chunk(&mut self) -> Chunk {
        self.spare_chunks.pop().unwrap_or_default()
    }

    /// Seals a prepared chunk's payloads in order and keeps the emptied chunk, with the sealed
    /// payloads for the thread that prepares it next to take apart and reuse.
    fn seal_chunk(&mut self, mut chunk: Chunk) {
        let outer = std::mem::replace(&mut self.sealing_deferred, true);
        let mut items = std::mem::take(&mut chunk.items);
        let mut sealed = chunk.take_sealed();
        for item in items.drain(..) {
            let ahead = chunk.ahead_of(&item);
            let by_prepare = item.shaped_by_prepare;
            let payload = self.seal_deferred(item, ahead);
            match payload {
                // Taken apart where it was built, so its strings are reused there.
                Some(payload) if by_prepare => sealed.push(payload),
                Some(payload) => payload::recycle(payload),
                None => {}
            }
        }
        self.sealing_deferred = outer;
        chunk.items = items;
        chunk.clear(sealed);
        if self.spare_chunks.len() < SPARE_CHUNKS {
            self.spare_chunks.push(chunk);
        }
    }

    /// Seals one prepared payload (its forms already rendered in `text`, unless it is a
    /// `decision_end`, whose digest is appended now), then its redaction flags, and queues the
    /// answer to an explicit entry. Returns the payload to be taken apart for reuse, unless it
    /// is too large to be worth holding until then.
    fn seal_deferred(&mut self, item: Deferred, ahead: Ahead<'_>) -> Option<Value> {
        let Deferred {
            kind,
            mut payload,
            report,
            then,
            ..
        } = item;
        // A rotation's commit comes before a digest is taken.
        self.rotate_if_due();
        // Where a `decision_end` rendered ahead is completed with its digest.
        let mut closed_line = std::mem::take(&mut self.closed_line);
        let mut closed_canonical = std::mem::take(&mut self.closed_canonical);
        let ahead = match &then {
            Then::EndDecision(id) => {
                // Appended after redaction, which must never rewrite them, as prepared members
                // are.
                let [count_key, digest_key] = render_thread::DIGEST_KEYS;
                let mut added = 0;
                if let Some((digest, count)) = self.digests.finish(*id)
                    && let Value::Object(fields) = &mut payload
                {
                    // In strings this thread keeps: the payload is taken apart here.
                    fields.push((payload::spare_string(count_key), Value::from(count)));
                    fields.push((
                        payload::spare_string(digest_key),
                        Value::String(payload::spare_string(crate::hex::hex_str(&digest))),
                    ));
                    added = 2;
                }
                match (ahead.text, ahead.canonical_split, &payload) {
                    (Some(open), Some(split), Value::Object(fields)) => {
                        closed_line.clear();
                        closed_canonical.clear();
                        crate::json::close_open_forms(
                            &mut closed_line,
                            &mut closed_canonical,
                            open.line,
                            open.canonical,
                            split,
                            &fields[fields.len() - added..],
                        );
                        Ahead {
                            text: Some(crate::chain::PayloadText {
                                line: &closed_line,
                                canonical: &closed_canonical,
                            }),
                            canonical_split: None,
                            decisions: ahead.decisions,
                        }
                    }
                    // Rendered by the sealer.
                    _ => Ahead::default(),
                }
            }
            _ => ahead,
        };
        self.seal_lost_gap();
        let sealed = self.seal_entry(&kind, &payload, ahead);
        self.flag_redactions(&report, &kind, sealed.0, &payload);
        if let Then::Reply { reply, decision_id } = then {
            let chained = ChainedEntry {
                seq: sealed.0,
                hash: crate::hex::hex_str(&sealed.1).to_owned(),
                decision_id,
            };
            // A refused entry's caller learns it, with the flag chained in its place.
            let answer = if self.refused {
                Err(Error::Blocked {
                    operation: kind.into_owned(),
                    categories: vec!["oversized_entry".to_owned()],
                    entry: chained,
                })
            } else {
                Ok(chained)
            };
            self.batch_replies.push((reply, answer));
        }
        let small = ahead
            .text
            .is_none_or(|t| t.line.len() <= render_thread::KEPT_PAYLOAD_BYTES);
        self.closed_line = closed_line;
        self.closed_canonical = closed_canonical;
        small.then_some(payload)
    }

    /// Chains the `policy_flag`s that record what the built-in redactor did to the entry just
    /// sealed at `seq` (a refused entry is not on the chain: the flag in its place says why).
    fn flag_redactions(&mut self, report: &Report, kind: &str, seq: u64, payload: &Value) {
        if self.redaction.auto_flag && !report.is_empty() && !self.refused {
            // The redactor never sees `decision_id` (see `redact_payload`): it is the one the
            // entry was given.
            let decision_id = payload.get("decision_id").and_then(Value::as_str);
            for flag in auto_flags(report, kind, seq, decision_id) {
                self.seal_raw("policy_flag", &flag);
            }
        }
    }

    /// Writes checkpoints from now on, continuing the tree of the existing chain. Called by the
    /// builder before the run's first entry is sealed.
    pub(crate) fn enable_checkpoints(&mut self, setup: CheckpointSetup) -> Result<(), Error> {
        self.checkpoints = Some(checkpoints::Checkpoints::new(setup)?);
        Ok(())
    }

    /// Signs every checkpoint with the epoch key in force too, and rolls the epoch over when it
    /// is due and at each rotation. Called by the builder after
    /// [`enable_checkpoints`](Self::enable_checkpoints), before the run's first entry.
    pub(crate) fn enable_forward_security(&mut self, setup: EpochSetup) {
        self.epochs = Some(epochs::Epochs::new(setup, self.working.next_seq));
    }

    /// Seals one entry onto the working tip and appends it to the writer's batch; returns its
    /// seq and hash.
    pub(crate) fn seal(&mut self, kind: &str, payload: Value) -> (u64, Hex64) {
        self.seal_with(kind, payload, Vec::new(), Report::new())
    }

    /// Seals an entry whose `prepared` fields were already redacted (GenAI content, with the
    /// `earlier` report of that redaction): they are appended to the payload after it is
    /// redacted, and the flags cover both.
    fn seal_with(
        &mut self,
        kind: &str,
        payload: Value,
        prepared: Vec<(String, Value)>,
        earlier: Report,
    ) -> (u64, Hex64) {
        self.settle();
        self.rotate_if_due();
        let mut payload = payload;
        let mut report = self.redaction.redact_payload(&mut payload);
        report.merge(&earlier);
        if let Value::Object(fields) = &mut payload {
            fields.extend(prepared);
        }
        let sealed = self.seal_raw(kind, &payload);
        self.flag_redactions(&report, kind, sealed.0, &payload);
        payload::recycle(payload);
        sealed
    }

    /// Moves to a new segment when the writer asks for one (and no loss or segment opening is
    /// pending). Its commit comes before an entry is sealed, never between a `decision_end`'s
    /// digest and its sealing.
    fn rotate_if_due(&mut self) {
        self.settle();
        if self.lost == 0 && self.pending_segment.is_empty() && self.writer.wants_rotation() {
            self.rotate();
        }
    }

    /// Commits the current batch, moves the writer to a new segment and opens it with
    /// `segment_open` (and `retention` when old segments were deleted). A failed rotation is
    /// reported and the chain stays in the current segment.
    fn rotate(&mut self) {
        // The sealed segment is synced before it is left behind, and ends with a checkpoint
        // that covers it.
        if self.commit(Durability::Synced).is_err() {
            return;
        }
        // Each segment starts a new epoch; a failed roll is reported and retried later.
        let _ = self.roll_epoch_if_due(true);
        if self.checkpoint_if_due(true).is_err() {
            return;
        }
        match self.writer.rotate() {
            Ok(r) => {
                let mut open = vec![
                    (
                        "previous_segment".to_owned(),
                        Value::from(r.previous_segment),
                    ),
                    (
                        "previous_head".to_owned(),
                        Value::from(self.committed.head.as_str()),
                    ),
                    ("segment".to_owned(), Value::from(r.segment)),
                    ("producer".to_owned(), Value::from(crate::chain::PRODUCER)),
                ];
                if self.alg != HashAlg::Sha256 {
                    open.push(("hash_alg".to_owned(), Value::from(self.alg.name())));
                }
                // The tree before this segment, so that it verifies after older ones are gone.
                if let Some(cp) = &self.checkpoints {
                    debug_assert_eq!(cp.size(), self.working.next_seq);
                    match cp.segment_fields() {
                        Ok(fields) => open.extend(fields),
                        // Verification then reports this segment's checkpoints as
                        // unverifiable once the segments before it are deleted.
                        Err(e) => self.log.publish_error(format!(
                            "segment_open without the Merkle frontier: {e}"
                        )),
                    }
                }
                if let Some(ep) = &self.epochs {
                    open.extend(ep.record_fields());
                }
                self.seal_segment_entry("segment_open", Value::Object(open));
                if !r.deleted.is_empty() {
                    let deleted = r
                        .deleted
                        .into_iter()
                        .map(|d| {
                            Value::Object(vec![
                                ("segment".into(), Value::from(d.segment)),
                                ("last_seq".into(), Value::from(d.last_seq)),
                                ("head".into(), Value::from(d.head)),
                                ("ts".into(), Value::from(d.ts)),
                                ("age_days".into(), Value::from(d.age_days)),
                            ])
                        })
                        .collect();
                    let mut fields = vec![("deleted".to_owned(), Value::Array(deleted))];
                    if let Some(days) = r.minimum_days {
                        fields.push(("minimum_days".into(), Value::from(days)));
                    }
                    if let Some(reason) = r.early_deletion {
                        fields.push(("early_deletion".into(), Value::Bool(true)));
                        fields.push(("override".into(), Value::from(reason)));
                    }
                    self.seal_segment_entry("retention", Value::Object(fields));
                }
                if let Some(e) = r.retention_error {
                    self.log.publish_error(format!("retention: {e}"));
                }
            }
            Err(e) => self.log.publish_error(format!("rotation failed: {e}")),
        }
    }

    /// Seals an entry that opens a segment, remembering it until its batch is committed.
    fn seal_segment_entry(&mut self, kind: &str, payload: Value) {
        self.seal_raw(kind, &payload);
        self.batch_segment.push((kind.to_owned(), payload));
        self.batch_system += 1;
    }

    /// Seals an entry that belongs to no decision (`audit_open`, `audit_resume`).
    pub(crate) fn seal_unattributed(&mut self, kind: &str, payload: Value) {
        self.seal_raw(kind, &payload);
    }

    /// Seals an entry into the current batch. A batch that follows lost entries starts with
    /// the `gap` entry that records them, whatever entry opens it.
    fn seal_raw(&mut self, kind: &str, payload: &Value) -> (u64, Hex64) {
        self.settle();
        self.seal_lost_gap();
        self.seal_entry(kind, payload, Ahead::default())
    }

    /// Opens a batch: a new segment whose opening entries were lost starts with them again,
    /// and a batch that follows lost entries starts with the `gap` entry recording them.
    fn seal_lost_gap(&mut self) {
        if self.batch_entries != 0 {
            return;
        }
        for (kind, payload) in std::mem::take(&mut self.pending_segment) {
            self.seal_entry(&kind, &payload, Ahead::default());
            self.batch_segment.push((kind, payload));
            self.batch_system += 1;
        }
        if self.lost > 0 {
            let gap = Value::Object(vec![
                ("lost_entries".into(), Value::from(self.lost)),
                ("first_lost_seq".into(), Value::from(self.lost_first_seq)),
                ("error".into(), Value::from(self.lost_error.as_str())),
            ]);
            self.seal_entry("gap", &gap, Ahead::default());
            self.batch_has_gap = true;
            self.batch_system += 1;
        }
    }

    /// Seals an entry into the current batch, bounded by the writer's line limit: an entry
    /// that would be longer has its longest strings replaced by their digests (and a
    /// `policy_flag` follows it), or is refused (and a `policy_flag` takes its place). Returns
    /// the seq and hash of what was sealed in its place; [`Sequencer::refused`] says which.
    /// `ahead`: what was prepared ahead of sealing (the payload's forms, its decisions).
    fn seal_entry(&mut self, kind: &str, payload: &Value, ahead: Ahead<'_>) -> (u64, Hex64) {
        self.refused = false;
        match self.seal_bounded(kind, payload, ahead, true) {
            Ok(sealed) => sealed,
            Err(line_len) => self.seal_oversized(kind, payload, line_len),
        }
    }

    /// Seals an entry whose line would exceed the writer's limit (`line_len` bytes).
    fn seal_oversized(&mut self, kind: &str, payload: &Value, line_len: usize) -> (u64, Hex64) {
        let decision_id = payload
            .get("decision_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let need = line_len - self.max_entry;
        if let Some((bounded, omitted)) = oversize::omit_longest_strings(payload, need)
            && let Ok(sealed) = self.seal_bounded(kind, &bounded, Ahead::default(), true)
        {
            let flag = oversize::omitted_flag(
                &omitted,
                kind,
                sealed.0,
                decision_id.as_deref(),
                self.max_entry,
            );
            // Bounded by construction (a few KiB, below `MIN_ENTRY_BYTES`).
            let _ = self.seal_bounded("policy_flag", &flag, Ahead::default(), false);
            return sealed;
        }
        self.log.publish_oversized_refusal(format!(
            "{}: a {} entry of {line_len} bytes was refused: it exceeds the writer's limit of              {} bytes per line even with its strings replaced by their digests",
            self.writer.describe(),
            kind.chars().take(128).collect::<String>(),
            self.max_entry
        ));
        let flag = oversize::refused_flag(kind, line_len, self.max_entry, decision_id.as_deref());
        let sealed = self
            .seal_bounded("policy_flag", &flag, Ahead::default(), false)
            .unwrap_or_else(|_| unreachable!("an unchecked seal always seals"));
        self.refused = true;
        sealed
    }

    /// Seals an entry onto the working tip and appends it to the writer's batch; with `check`,
    /// only when its line fits the writer's limit (else `Err` with its length, and nothing
    /// changes).
    fn seal_bounded(
        &mut self,
        kind: &str,
        payload: &Value,
        ahead: Ahead<'_>,
        check: bool,
    ) -> Result<(u64, Hex64), usize> {
        let seq = self.working.next_seq;
        let ts = self.stamper.now();
        let entry = self
            .sealer
            .seal(seq, ts, kind, payload, ahead.text, &self.working.head);
        let len = entry.line().len();
        if check && len > self.max_entry {
            return Err(len);
        }
        if self
            .max_batch
            .is_some_and(|max| self.batch_entries > 0 && self.batch_bytes + len > max)
            && !self.in_commit
        {
            // The batch is full: commit it first, then seal this entry again on the new tip
            // (after a failed commit that tip is the last committed one, and the new batch
            // opens with the gap that records the loss).
            let _ = self.commit(Durability::Written);
            self.seal_lost_gap();
            return self.seal_bounded(kind, payload, ahead, check);
        }
        self.batch_bytes += len;
        self.writer.append_rendered(&entry);
        let hash = self.sealer.hash();
        if let Some(cp) = &mut self.checkpoints {
            cp.leaf(self.sealer.raw_hash());
        }
        match ahead.decisions {
            // Known without reading the payload, which another thread built.
            Some([own, parent]) => {
                self.digests
                    .record_ids(own, parent, seq, self.sealer.raw_hash())
            }
            None => self
                .digests
                .record(kind, payload, seq, self.sealer.raw_hash()),
        }
        // Saturating: 2^64 entries are never reached; a crafted chain at the limit gets a
        // repeated seq (which verification reports) rather than a panic.
        self.working.next_seq = seq.saturating_add(1);
        self.working.head.clear();
        self.working.head.push_str(crate::hex::hex_str(&hash));
        self.batch_entries += 1;
        Ok((seq, hash))
    }

    /// Chains an `invisible_callsite` entry for each decision or audit-event callsite that the
    /// subscriber's filters hide from every layer, and says so on stderr: the log can never
    /// record it, and an auditor must be able to tell.
    fn seal_invisible_callsites(&mut self) {
        for c in self.queue.watch.take_invisible() {
            eprintln!(
                "{}",
                payload::invisible_warning(&self.writer.describe(), &c)
            );
            self.seal_raw("invisible_callsite", &payload::invisible_payload(&c));
        }
    }

    /// Seals the decision closes that found the queue full in fail-open mode. Called when the
    /// queue has run dry, so every record enqueued before a close has been sealed first.
    fn seal_kept_closes(&mut self) {
        self.seal_invisible_callsites();
        self.seal_sink_events();
        for (span, duration) in self.queue.take_kept_closes() {
            self.handle(Msg::DecisionClose { span, duration });
        }
    }

    /// Chains the count of records that fail-open mode dropped while the queue was full.
    fn seal_dropped_gap(&mut self) {
        let dropped = self.queue.take_dropped();
        if dropped > 0 {
            let gap = Value::Object(vec![
                ("dropped_entries".into(), Value::from(dropped)),
                ("reason".into(), Value::from("queue full (fail-open mode)")),
            ]);
            self.seal_raw("gap", &gap);
            self.batch_dropped += dropped;
            self.batch_system += 1;
        }
    }

    /// Commits the current batch. On failure the working tip rolls back to the committed one
    /// and the batch's entries are counted as lost.
    pub(crate) fn commit(&mut self, durability: Durability) -> Result<(), Error> {
        self.settle();
        self.in_commit = true;
        self.seal_dropped_gap();
        self.in_commit = false;
        self.batch_bytes = 0;
        // A batch whose commit was begun comes first: this one is chained onto it.
        self.end_begun_commit()?;
        if self.batch_entries == 0 && (durability == Durability::Written || !self.unsynced) {
            return Ok(());
        }
        // A checkpoint is published only once its batch is Synced.
        let durability = if self.checkpoint_in_batch() {
            Durability::Synced
        } else {
            durability
        };
        let result = self.writer.commit(durability);
        let replies = std::mem::take(&mut self.batch_replies);
        match result {
            Ok(()) => {
                self.digests.commit();
                if self.batch_has_gap {
                    // The gap entry that records the lost entries is now on the chain.
                    self.lost = 0;
                }
                self.batch_dropped = 0;
                self.batch_system = 0;
                self.batch_segment.clear();
                self.committed = self.working.clone();
                self.log
                    .publish_commit(self.batch_entries as u64, &self.committed);
                self.batch_entries = 0;
                self.batch_has_gap = false;
                if durability == Durability::Synced {
                    self.unsynced = false;
                    self.last_sync = Instant::now();
                } else {
                    self.unsynced = true;
                }
                // Before the replies: whoever learns that an entry is committed then also sees
                // the checkpoint its batch held as published.
                self.checkpoints_committed();
                for (reply, answer) in replies {
                    let _ = reply.send(answer);
                }
                Ok(())
            }
            Err(e) => {
                let message = format!("{}: {e}", self.writer.describe());
                Err(self.lose_batch(message, 0, replies))
            }
        }
    }

    /// Rolls the working tip back to the committed one after a failed commit: the current
    /// batch's user entries and `earlier` ones (of a begun batch it was chained onto) are
    /// counted as lost, and each of `replies` is told why. Returns the error to report.
    fn lose_batch(
        &mut self,
        message: String,
        earlier: usize,
        replies: Vec<(Reply, Result<ChainedEntry, Error>)>,
    ) -> Error {
        self.digests.rollback();
        // The gap entry that opened this batch (if any) is the log's own, not a lost user
        // entry.
        let user_entries = (self.batch_entries.saturating_sub(self.batch_system) + earlier) as u64;
        // A new segment's opening entries must open it again.
        self.pending_segment = std::mem::take(&mut self.batch_segment);
        // The drop counts this batch would have chained go back to be chained later.
        self.queue.restore_dropped(self.batch_dropped);
        self.batch_dropped = 0;
        self.batch_system = 0;
        self.lost_since_flush += user_entries;
        if self.lost == 0 {
            self.lost_first_seq = self.committed.next_seq;
            self.lost_error = message.clone();
        }
        self.lost += user_entries;
        self.log.publish_loss(user_entries, message.clone());
        self.working = self.committed.clone();
        if let Some(cp) = &mut self.checkpoints {
            cp.rolled_back();
        }
        self.batch_entries = 0;
        // The lost batch's bytes must not count against the next one (a begun batch failing
        // in `commit_full_batch` returns before anything resets them).
        self.batch_bytes = 0;
        self.batch_has_gap = false;
        for (reply, _) in replies {
            let _ = reply.send(Err(Error::Write(message.clone())));
        }
        Error::Write(message)
    }

    /// Commits a full batch while more records wait. When the writer can
    /// ([`ChainWriter::begin_commit`]), only begins it, and the next batch is sealed while this
    /// one is written and synced; [`Sequencer::commit`] ends it before anything else is
    /// committed, and only then are its entries acknowledged. Otherwise, as `commit`.
    ///
    /// Only a plain batch is begun: none with a `gap`, a drop count or a segment's opening
    /// (their bookkeeping is per batch), and none with checkpoints on (the tree and the
    /// checkpoints' publication follow each commit).
    ///
    /// A plain batch is begun with what is sealed: the records still out on the render thread
    /// are not waited for, and are sealed into the next batch while this one is written.
    /// Waiting for them (as [`Sequencer::commit`] does) drained the render thread at every
    /// batch's end, and it then slept until the next chunk, a wake-up away
    /// (docs/PERFORMANCE.md, "Session 11"). A drop count waiting to be recorded is sealed
    /// with the next message or commit.
    fn commit_full_batch(&mut self, durability: Durability) -> Result<(), Error> {
        // `batch_system` counts the log's own entries: a `gap` (a batch after a loss opens with
        // one), a drop count, a segment's opening. Epoch keys come only with checkpoints.
        let plain = self.batch_entries > 0 && self.batch_system == 0 && self.checkpoints.is_none();
        if !plain {
            return self.commit(durability);
        }
        self.end_begun_commit()?;
        if !self.writer.begin_commit(durability) {
            return self.commit(durability);
        }
        self.batch_bytes = 0;
        self.begun = Some(BegunBatch {
            tip: self.working.clone(),
            entries: std::mem::take(&mut self.batch_entries),
            replies: std::mem::take(&mut self.batch_replies),
            durability,
        });
        Ok(())
    }

    /// Waits for the commit [`Sequencer::commit_full_batch`] began, and publishes it. If it
    /// failed, the batch sealed since (chained onto it) is lost with it.
    fn end_begun_commit(&mut self) -> Result<(), Error> {
        let Some(begun) = self.begun.take() else {
            return Ok(());
        };
        match self.writer.end_commit() {
            Ok(()) => {
                self.digests.commit_before(begun.tip.next_seq);
                self.committed = begun.tip;
                self.log
                    .publish_commit(begun.entries as u64, &self.committed);
                if begun.durability == Durability::Synced {
                    self.unsynced = false;
                    self.last_sync = Instant::now();
                } else {
                    self.unsynced = true;
                }
                for (reply, answer) in begun.replies {
                    let _ = reply.send(answer);
                }
                Ok(())
            }
            Err(e) => {
                let message = format!("{}: {e}", self.writer.describe());
                let mut replies = begun.replies;
                replies.append(&mut self.batch_replies);
                Err(self.lose_batch(message, begun.entries, replies))
            }
        }
    }

    /// Whether the batch is full while records keep arriving. Without checkpoints a full batch
    /// is begun with what is sealed ([`Sequencer::commit_full_batch`]), so only that counts;
    /// with them it is committed whole, the records out on the render thread sealed into it
    /// first, so they count too (the tree thread holds at most about `MAX_BATCH` leaves a batch).
    fn batch_is_full(&self) -> bool {
        if self.checkpoints.is_none() {
            self.batch_entries >= MAX_BATCH
        } else {
            self.batch_entries + self.deferred() >= MAX_BATCH
        }
    }

    /// How the batch is committed when the queue runs dry.
    fn drain_durability(&self) -> Durability {
        match self.policy {
            SyncPolicy::EveryEntry | SyncPolicy::Batch => Durability::Synced,
            SyncPolicy::Interval(d) if self.last_sync.elapsed() >= d => Durability::Synced,
            SyncPolicy::Interval(_) | SyncPolicy::OnFlush => Durability::Written,
        }
    }

    /// Runs until shut down or until every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Msg>) {
        // However the sequencer stops (a panic included), callers waiting for room must not
        // wait for it: they fall back to the channel's send, which a disconnect ends.
        let _release = ReleaseWaiters(self.queue.clone());
        self.start_render_thread(false);
        loop {
            let Some(first) = self.recv(&rx) else {
                self.seal_kept_closes();
                let _ = self.commit(Durability::Synced);
                let _ = self.checkpoint_if_due(true);
                return;
            };
            if let Some(done) = self.handle(first) {
                return self.shut_down(rx, done);
            }
            loop {
                if self.batch_is_full() {
                    let _ = self.commit_full_batch(self.drain_durability());
                    let _ = self.checkpoint_if_due(false);
                }
                match rx.try_recv() {
                    Ok(m) => {
                        if let Some(done) = self.handle(m) {
                            return self.shut_down(rx, done);
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.seal_kept_closes();
                        let _ = self.commit(Durability::Synced);
                        let _ = self.checkpoint_if_due(true);
                        return;
                    }
                }
            }
            self.seal_kept_closes();
            let _ = self.commit(self.drain_durability());
            let _ = self.checkpoint_if_due(false);
        }
    }

    /// When the sequencer must wake without a message: an `Interval` sync or a checkpoint
    /// falling due.
    fn deadline(&self) -> Option<Instant> {
        let sync = match self.policy {
            SyncPolicy::Interval(d) if self.unsynced => Some(self.last_sync + d),
            _ => None,
        };
        let checkpoint = self.checkpoints.as_ref().and_then(|c| c.deadline());
        let epoch = self.epochs.as_ref().map(|e| e.deadline());
        sync.into_iter().chain(checkpoint).chain(epoch).min()
    }

    /// Waits for the next message; callsites queued for a visibility check meanwhile are
    /// checked (and any invisible one chained), what checkpoint sinks report is chained, and
    /// an `Interval` sync or a checkpoint that falls due is done, while waiting. `None` when
    /// every sender is gone.
    fn recv(&mut self, rx: &Receiver<Msg>) -> Option<Msg> {
        let queue = self.queue.clone();
        loop {
            if self.checkpoint_in_batch() {
                // A checkpoint waits in the batch for the entries behind it: none are queued,
                // so it is committed alone now rather than waiting for the next entry.
                match rx.try_recv() {
                    Ok(m) => return Some(m),
                    Err(_) => {
                        let _ = self.commit(Durability::Synced);
                    }
                }
            }
            let timer = self
                .deadline()
                .map_or_else(crossbeam_channel::never, crossbeam_channel::at);
            let events = self.sink_events();
            crossbeam_channel::select! {
                recv(rx) -> msg => return msg.ok(),
                recv(queue.watch.woken()) -> _ => {
                    self.seal_invisible_callsites();
                    let _ = self.commit(self.drain_durability());
                }
                recv(events) -> event => {
                    // An error: the sink thread is gone, and `seal_sink_events` stops selecting
                    // on its channel.
                    if let Ok(event) = event {
                        self.seal_sink_event(event);
                    }
                    self.seal_sink_events();
                    let _ = self.commit(self.drain_durability());
                }
                recv(timer) -> _ => {
                    let _ = self.commit(self.drain_durability());
                    let _ = self.checkpoint_if_due(false);
                }
            }
        }
    }

    /// Closes the queue, seals whatever callers had already enqueued, commits durably and
    /// answers the shutdown request.
    fn shut_down(mut self, rx: Receiver<Msg>, reply: TipReply) {
        let queue = self.queue.clone();
        queue.close_and_wait_for_senders(|| {
            while let Ok(m) = rx.try_recv() {
                if let Some(other) = self.handle(m) {
                    let _ = other.send(Err(Error::Closed));
                }
            }
        });
        self.seal_kept_closes();
        let result = self
            .commit(Durability::Synced)
            .and_then(|()| self.checkpoint_if_due(true))
            .map(|()| self.committed.clone());
        let _ = reply.send(result);
    }

    /// Handles one message; returns the reply channel when it asks to shut down.
    fn handle(&mut self, msg: Msg) -> Option<TipReply> {
        self.queue.made_room();
        self.seal_dropped_gap();
        match msg {
            Msg::DecisionOpen {
                span,
                parent,
                name,
                mut fields,
            } => {
                let content = genai::take_decision_content(&mut fields, &self.gen_ai);
                let id = self.ids.next();
                let parent = parent.and_then(|p| self.decisions.get(&p)).map(|p| p.id);
                self.digests.open(id);
                self.decisions.insert(
                    span,
                    OpenDecision {
                        id,
                        outcome: Vec::new(),
                        calls: CallTotals::default(),
                    },
                );
                let fields = Unshaped::Decision {
                    fields,
                    span_name: name,
                    id,
                    parent,
                };
                if content.is_empty() {
                    self.submit(Deferred::unshaped("decision", fields, Then::Nothing));
                } else {
                    let (kept, report) = self.prepare_content(content);
                    self.seal_with("decision", payload::shape("decision", fields), kept, report);
                }
            }
            Msg::DecisionRecord { span, mut fields } => {
                let content = genai::take_decision_content(&mut fields, &self.gen_ai);
                let id = self.decisions.get(&span).map(|d| d.id);
                let fields = Unshaped::Record { fields, id };
                if content.is_empty() {
                    self.submit(Deferred::unshaped("decision_record", fields, Then::Nothing));
                } else {
                    let (kept, report) = self.prepare_content(content);
                    let payload = payload::shape("decision_record", fields);
                    self.seal_with("decision_record", payload, kept, report);
                }
            }
            Msg::DecisionOutcome { span, field, value } => {
                if let Some(d) = self.decisions.get_mut(&span) {
                    d.outcome.push((field, value));
                }
            }
            Msg::DecisionClose { span, duration } => {
                if let Some(d) = self.decisions.remove(&span) {
                    let mut p = Payload::with_decision(Some(d.id.as_str()));
                    p.put(
                        "duration_ms",
                        Value::from((duration.as_micros() as f64) / 1000.0),
                    );
                    d.calls.put_into(&mut p);
                    // `ok` unless an error was reported (`#[instrument(err)]`, or a panic
                    // unwinding through the span): `err` alone reports nothing on success.
                    let failed = d.outcome.iter().any(|(f, _)| *f == "error");
                    p.put(
                        "outcome",
                        Value::String(payload::spare_string(if failed { "error" } else { "ok" })),
                    );
                    for (field, value) in d.outcome {
                        let key = if field == "return" { "result" } else { field };
                        p.put(key, value.into_value());
                    }
                    // The digest is taken when it is sealed, after the decision's other
                    // entries.
                    self.submit(Deferred::shaped(
                        "decision_end",
                        p.finish(),
                        Then::EndDecision(d.id),
                    ));
                }
            }
            Msg::Event {
                kind,
                decision,
                fields,
                reply,
            } => {
                let then = match reply {
                    Some(reply) => Then::Reply {
                        reply,
                        decision_id: self.decision_id(decision).map(str::to_owned),
                    },
                    None => Then::Nothing,
                };
                if kind != "llm_call" {
                    // Shaped on the render thread: nothing here depends on the values.
                    let id = decision.and_then(|s| self.decisions.get(&s)).map(|d| d.id);
                    let fields = Unshaped::Event { fields, id };
                    self.submit(Deferred::unshaped(kind, fields, then));
                    return self.after_message();
                }
                // A model call is shaped here: its decision's totals are taken from it.
                let mut p = Payload::with_decision(self.decision_id(decision));
                p.event_fields(&kind, fields);
                if p.get("cost").is_none() {
                    // A call that reported tokens but no cost is priced from the table.
                    if let Some((cost, basis)) = genai::price_explicit_call(
                        p.get("model"),
                        p.get("usage"),
                        self.gen_ai.prices(),
                    ) {
                        p.put("cost", cost);
                        p.put("cost_basis", basis);
                    }
                }
                let payload = p.finish();
                self.tally(decision, payload.as_object().unwrap_or_default());
                self.submit(Deferred::shaped(kind, payload, then));
            }
            Msg::GenAi {
                name,
                spans,
                decision,
                fields,
                duration,
            } => {
                let id = decision
                    .and_then(|s| self.decisions.get(&s))
                    .map(|d| d.id.as_str().to_owned());
                let mapped = genai::map(name, spans, fields, duration, &self.gen_ai);
                if mapped.kind == "llm_call" {
                    self.tally(decision, &mapped.fields);
                }
                self.seal_genai(id, mapped);
            }
            Msg::Flush(reply) => {
                self.settle();
                // Record an earlier loss now rather than with the next entry.
                self.seal_lost_gap();
                self.seal_invisible_callsites();
                // A flush also checkpoints what it made durable.
                let committed = self
                    .commit(Durability::Synced)
                    .and_then(|()| self.checkpoint_if_due(true));
                // Each flush reports the losses since the previous one, once.
                let lost = std::mem::take(&mut self.lost_since_flush);
                let result = match committed {
                    Err(e) => Err(e),
                    Ok(()) if lost > 0 => Err(Error::Write(format!(
                        "{lost} entries enqueued before this flush were not persisted ({}); \
                         the chain records the gap",
                        self.lost_error
                    ))),
                    Ok(()) => Ok(self.committed.clone()),
                };
                let _ = reply.send(result);
            }
            Msg::Shutdown(reply) => return Some(reply),
        }
        self.after_message()
    }

    /// What every handled message ends with: `EveryEntry` commits what it sealed.
    fn after_message(&mut self) -> Option<TipReply> {
        if self.policy == SyncPolicy::EveryEntry && self.batch_entries > 0 {
            let _ = self.commit(Durability::Synced);
        }
        None
    }
}

impl Sequencer {
    /// The id of the open decision a record belongs to, if any.
    fn decision_id(&self, span: Option<u64>) -> Option<&str> {
        span.and_then(|s| self.decisions.get(&s))
            .map(|d| d.id.as_str())
    }

    /// Adds a model call to its decision's totals.
    fn tally(&mut self, decision: Option<u64>, payload: &[(String, Value)]) {
        if let Some(d) = decision.and_then(|s| self.decisions.get_mut(&s)) {
            d.calls.add(payload);
        }
    }

    /// Seals a mapped GenAI record: its content is redacted first, then kept, digested or
    /// left out per its capture mode; a guardrail's intervention chains a `policy_flag` after
    /// the entry.
    fn seal_genai(&mut self, decision_id: Option<String>, mapped: genai::Mapped) {
        let mut p = Payload::with_decision(decision_id.as_deref());
        for (key, value) in mapped.fields {
            p.put(&key, value);
        }
        let (mut kept, report) = self.prepare_content(mapped.content);
        kept.splice(0..0, mapped.unscanned);
        let entry = self.seal_with(mapped.kind, p.finish(), kept, report);
        if let Some(flag) = mapped.guardrail_flag {
            let mut p = Payload::with_decision(decision_id.as_deref());
            for (key, value) in flag {
                p.put(&key, value);
            }
            p.put("entry_seq", Value::from(entry.0));
            p.put("entry_type", Value::from(mapped.kind));
            self.seal("policy_flag", p.finish());
        }
    }

    /// Redacts content fields, then keeps, digests or leaves out each per its capture mode:
    /// the members to append after the payload's own redaction, and what redaction found.
    fn prepare_content(&self, content: Vec<genai::ContentField>) -> (Vec<(String, Value)>, Report) {
        let mut report = Report::new();
        let mut kept = Vec::new();
        let mut omitted = Vec::new();
        let mut modes = Vec::new();
        for content in content {
            let mut value = content.value;
            let redactor = if content.mode == genai::ContentCapture::Redacted {
                &self.redaction.content_strict
            } else {
                &self.redaction.redactor
            };
            report.merge(&redactor.redact(&mut value));
            modes.push((content.key.to_owned(), Value::from(content.mode.as_str())));
            match genai::captured_content(content.mode, value, &self.gen_ai) {
                Some(v) => kept.push((content.key.to_owned(), v)),
                None => omitted.push(Value::from(content.key)),
            }
        }
        if !modes.is_empty() {
            kept.push(("content_capture".to_owned(), Value::Object(modes)));
        }
        if !omitted.is_empty() {
            kept.push(("content_omitted".to_owned(), Value::Array(omitted)));
        }
        (kept, report)
    }
}

/// A map keyed by span ids or decision ids, hashed with [`IdHasher`].
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A multiply-rotate hash (FxHash's) for the sequencer's maps. Their keys are span ids (the
/// subscriber's slab indices) and decision ids (keyed BLAKE3 output): neither is chosen by
/// whoever produces the events, so SipHash's protection against chosen collisions buys
/// nothing, and it cost a few hundred instructions per entry.
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

impl IdHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.add(u64::from_le_bytes(w.try_into().unwrap_or_default()));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
        // The length, so that a zero-padded partial word differs from real zero bytes.
        self.add(bytes.len() as u64);
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// Fresh, unpredictable 32-hex decision ids: BLAKE3 keyed with 32 random bytes drawn once, over
/// a counter (one syscall per log instead of one per decision).
/// Releases the callers waiting for room in the queue when dropped.
struct ReleaseWaiters(Arc<Queue>);

impl Drop for ReleaseWaiters {
    fn drop(&mut self) {
        self.0.release_waiters();
    }
}

pub(crate) struct DecisionIds {
    key: [u8; 32],
    counter: u64,
}

impl DecisionIds {
    fn new() -> Result<DecisionIds, Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| Error::Config(format!("no randomness for decision ids: {e}")))?;
        Ok(DecisionIds { key, counter: 0 })
    }

    fn next(&mut self) -> DecisionId {
        self.counter += 1;
        let h = blake3::keyed_hash(&self.key, &self.counter.to_le_bytes());
        // The first 16 bytes, as the first 32 of the hash's 64 hex digits (the word-at-a-time
        // encoder, rather than a push per digit).
        let hex = crate::hex::hex64(h.as_bytes());
        let mut id = [0; 32];
        id.copy_from_slice(&hex[..32]);
        DecisionId(id)
    }
}

/// A decision's id: 32 lowercase hex digits, held inline so that handing it to the render
/// thread with each of the decision's records allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct DecisionId([u8; 32]);

impl DecisionId {
    /// The id a payload's `decision_id` names, when it has an id's length (only ids this
    /// sequencer made are ever looked up by it).
    pub(super) fn from_text(text: &str) -> Option<DecisionId> {
        text.as_bytes().try_into().ok().map(DecisionId)
    }

    pub(super) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}
