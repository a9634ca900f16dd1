//! Redaction and rendering of payloads on a second thread, ahead of sealing (issue #16).
//!
//! The sequencer is the writer's bottleneck, and most of its work per entry did not depend on
//! the chain: building the payload from the captured fields, redacting it and rendering its
//! line and canonical forms. The sequencer still decides everything in arrival order (decision
//! ids, model-call totals, what each record becomes), but it hands the records over here in
//! chunks of [`CHUNK_ITEMS`], and while this thread shapes, redacts and renders one chunk it
//! seals the chunk before. Chunks come back in the order they were handed over, so the chain's
//! order is the arrival order, as before. Model calls and `decision_end`s arrive shaped (the
//! sequencer keeps their decision's totals and digest); every other payload is built here from
//! the captured fields ([`Unshaped`]). A `decision_end` is rendered here left open for the
//! digest the sealer adds ([`DIGEST_KEYS`]). Payloads built here travel back with their chunk once
//! sealed and are taken apart here, so their strings are reused by the thread that allocated
//! them rather than freed on another.
//!
//! Chunks, not records, are handed over: a wake-up per record cost more than the work it moved
//! (an earlier experiment, docs/PERFORMANCE.md "The redaction stage"). Before anything else is
//! sealed or committed, the sequencer seals every chunk handed over and the one it is filling
//! ([`Sequencer::settle`](super::Sequencer)), so nothing is chained out of arrival order and a
//! flush or a drained queue commits every record before it. Only a full batch's begun commit
//! does not wait: it covers what is sealed, and the chunks still out go into the next batch.

use std::any::Any;
use std::borrow::Cow;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::payload;
use super::{DecisionId, Redaction};
use crate::chain::PayloadText;
use crate::json::{self, MemberText, Value};
use crate::queue::Reply;
use crate::record::Fields;
use crate::redact::Report;

/// Records per hand-over: enough that the wake-ups (a few microseconds each) are a small share
/// of the ~30 µs of work a chunk carries.
pub(super) const CHUNK_ITEMS: usize = 128;

/// Chunks that may be out on the thread at once; bounds what it holds beyond the queue (at most
/// `IN_FLIGHT × CHUNK_ITEMS` records). Eight rather than three: a thread that has run dry and
/// sleeps can take half a millisecond to run again once woken on a busy virtual machine, and
/// with three chunks out (~0.4 ms of sealing) the sequencer waited for it about a quarter of
/// the time (docs/PERFORMANCE.md, "Session 9"). Twelve since a full batch no longer drains
/// the thread: with eight out the sequencer still waited for it some 450 times per million
/// entries; twelve and sixteen wrote 2–6 % more, 24 and 32 less again, and each chunk out
/// holds its payloads' memory under a stalled disk ("Session 11").
pub(super) const IN_FLIGHT: usize = 12;

/// The most records shaped and not yet sealed: those out on the thread, the chunk being filled
/// and the one being sealed.
pub(super) const MAX_UNSEALED: usize = (IN_FLIGHT + 2) * CHUNK_ITEMS;

/// Sealed payloads whose line is longer than this are dropped at once rather than held until
/// their chunk is prepared again (taking them apart keeps only short strings anyway).
pub(super) const KEPT_PAYLOAD_BYTES: usize = 4096;

/// Chunk text buffers that grew past this (a few huge payloads) are let go rather than kept.
const KEPT_TEXT_BYTES: usize = 1 << 20;

/// A record on its way to the chain.
pub(super) struct Deferred {
    pub(super) kind: Cow<'static, str>,
    /// The payload: shaped by the sequencer, or by [`prepare`] from `unshaped`.
    pub(super) payload: Value,
    unshaped: Option<Unshaped>,
    /// Whether [`prepare`] shaped the payload: it is then taken apart on the thread that
    /// prepares (whose strings it was built from), else on the sequencer.
    pub(super) shaped_by_prepare: bool,
    /// What redaction found (filled in by [`prepare`]).
    pub(super) report: Report,
    /// Where its two forms are in the chunk's text (when [`prepare`] rendered them).
    text: Option<(Range<usize>, Range<usize>)>,
    /// For a `decision_end` rendered ahead, open for its digest ([`json::close_open_forms`]):
    /// where the digest's members go in the canonical form.
    canonical_split: Option<usize>,
    /// The decision it belongs to and, for a decision's opening, its parent, when the
    /// sequencer handed it over unshaped.
    decisions: Option<[Option<DecisionId>; 2]>,
    pub(super) then: Then,
}

/// What sealing a [`Deferred`] involves beyond the entry itself.
pub(super) enum Then {
    Nothing,
    /// An explicit entry: its caller is answered when the batch commits.
    Reply {
        reply: Reply,
        decision_id: Option<String>,
    },
    /// A `decision_end`: the decision's `entries_digest` is taken at sealing (after every
    /// earlier entry of the decision is sealed) and appended after redaction, so this payload
    /// is rendered here left open for it ([`DIGEST_KEYS`]), and closed by the sealer.
    EndDecision(DecisionId),
}

/// Captured fields and what the sequencer decided for them, for [`payload::shape`] to build
/// the payload from.
pub(super) enum Unshaped {
    /// A decision opens: its fields, its span's name, its id and its parent's.
    Decision {
        fields: Fields,
        span_name: &'static str,
        id: DecisionId,
        parent: Option<DecisionId>,
    },
    /// Fields recorded on an open decision (`None`: the decision is not known here).
    Record {
        fields: Fields,
        id: Option<DecisionId>,
    },
    /// An event other than a model call, in the decision `id`.
    Event {
        fields: Fields,
        id: Option<DecisionId>,
    },
}

impl Deferred {
    /// A record whose payload the sequencer shaped.
    pub(super) fn shaped(
        kind: impl Into<Cow<'static, str>>,
        payload: Value,
        then: Then,
    ) -> Deferred {
        Deferred {
            kind: kind.into(),
            payload,
            unshaped: None,
            shaped_by_prepare: false,
            report: Report::new(),
            text: None,
            canonical_split: None,
            decisions: None,
            then,
        }
    }

    /// A record whose payload [`prepare`] shapes.
    pub(super) fn unshaped(
        kind: impl Into<Cow<'static, str>>,
        fields: Unshaped,
        then: Then,
    ) -> Deferred {
        let decisions = match &fields {
            Unshaped::Decision { id, parent, .. } => [Some(*id), *parent],
            Unshaped::Record { id, .. } | Unshaped::Event { id, .. } => [*id, None],
        };
        Deferred {
            kind: kind.into(),
            payload: Value::Null,
            decisions: Some(decisions),
            unshaped: Some(fields),
            shaped_by_prepare: false,
            report: Report::new(),
            text: None,
            canonical_split: None,
            then,
        }
    }
}

/// The keys of the members a `decision_end` gets when it is sealed, in key order (the first
/// and last of the range its forms are left open for).
pub(super) const DIGEST_KEYS: [&str; 2] = ["entries_count", "entries_digest"];

/// What was prepared ahead of sealing an entry: its payload's two forms, and the decisions it
/// belongs to (`[own, parent]`), so that sealing need not read a payload another thread built.
/// The default: nothing, the sealer renders and reads the payload itself.
#[derive(Clone, Copy, Default)]
pub(super) struct Ahead<'a> {
    pub(super) text: Option<PayloadText<'a>>,
    /// For a `decision_end`: `text` is left open, and this is where its digest's members go
    /// in the canonical form.
    pub(super) canonical_split: Option<usize>,
    pub(super) decisions: Option<[Option<DecisionId>; 2]>,
}

/// Deferred records, the text their payloads' forms were rendered into, and payloads sealed
/// from the chunk before, to be taken apart for reuse.
#[derive(Default)]
pub(super) struct Chunk {
    pub(super) items: Vec<Deferred>,
    line: String,
    canonical: String,
    members: Vec<MemberText>,
    sealed: Vec<Value>,
}

impl Chunk {
    /// What was prepared ahead for an item of this chunk.
    pub(super) fn ahead_of(&self, item: &Deferred) -> Ahead<'_> {
        Ahead {
            text: item.text.as_ref().map(|(line, canonical)| PayloadText {
                line: &self.line[line.clone()],
                canonical: &self.canonical[canonical.clone()],
            }),
            canonical_split: item.canonical_split,
            decisions: item.decisions,
        }
    }

    /// The list the sequencer puts the payloads it seals from this chunk in, handed back
    /// through [`Chunk::clear`] (empty: [`prepare`] took apart those it held before).
    pub(super) fn take_sealed(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.sealed)
    }

    /// Empties the chunk for reuse, keeping its allocations (unless they grew huge) and the
    /// payloads just sealed from it.
    pub(super) fn clear(&mut self, sealed: Vec<Value>) {
        self.items.clear();
        for text in [&mut self.line, &mut self.canonical] {
            text.clear();
            if text.capacity() > KEPT_TEXT_BYTES {
                *text = String::new();
            }
        }
        self.sealed = sealed;
    }
}

/// Takes apart the payloads sealed from `chunk` before (for this thread's next payloads),
/// shapes each record's payload the sequencer left unshaped, redacts each payload and renders
/// those that are final after redaction. Run on the render thread, or by the sequencer itself
/// for the chunk it was filling.
pub(super) fn prepare(redaction: &Redaction, chunk: &mut Chunk) {
    let Chunk {
        items,
        line,
        canonical,
        members,
        sealed,
    } = chunk;
    for payload in sealed.drain(..) {
        payload::recycle(payload);
    }
    for item in items.iter_mut() {
        if let Some(fields) = item.unshaped.take() {
            item.payload = payload::shape(&item.kind, fields);
            item.shaped_by_prepare = true;
        }
        item.report = redaction.redact_payload(&mut item.payload);
        let (line_start, canonical_start) = (line.len(), canonical.len());
        if matches!(item.then, Then::EndDecision(_)) {
            let [lo, hi] = DIGEST_KEYS;
            // Not an object any more, or holding those keys already (a custom redactor's
            // doing): the sealer renders it whole.
            item.canonical_split = json::write_line_and_canonical_open(
                line,
                canonical,
                &item.payload,
                members,
                lo,
                hi,
            );
            if item.canonical_split.is_none() {
                continue;
            }
        } else {
            json::write_line_and_canonical(line, canonical, &item.payload, members);
        }
        item.text = Some((line_start..line.len(), canonical_start..canonical.len()));
    }
}

/// A chunk back from the thread, or the panic that stopped it (a custom redactor's).
type Done = Result<Chunk, Box<dyn Any + Send>>;

/// The handle the sequencer holds. Dropping it lets the thread finish what it holds and joins
/// it.
pub(super) struct RenderThread {
    jobs: Option<Sender<Chunk>>,
    done: Receiver<Done>,
    in_flight: usize,
    /// Chunks handed over so far (tests check that theirs were).
    #[cfg(test)]
    handed_over: usize,
    thread: Option<JoinHandle<()>>,
}

impl RenderThread {
    /// Starts the thread; `None` when the machine has one core (the hand-over would only add
    /// to the work) or no thread can be started (the sequencer then does the work itself).
    pub(super) fn spawn(redaction: &Redaction) -> Option<RenderThread> {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return None;
        }
        RenderThread::spawn_anyway(redaction)
    }

    /// Starts the thread whatever the machine (tests use it).
    pub(super) fn spawn_anyway(redaction: &Redaction) -> Option<RenderThread> {
        let (jobs, inbox) = crossbeam_channel::bounded::<Chunk>(IN_FLIGHT);
        let (done_tx, done) = crossbeam_channel::bounded::<Done>(IN_FLIGHT);
        let redaction = redaction.clone();
        let thread = std::thread::Builder::new()
            .name("acttrace-render".into())
            .spawn(move || {
                // A custom redactor's own logging is not audited (see `mark_log_thread`).
                crate::queue::mark_log_thread();
                for mut chunk in inbox {
                    let result = catch_unwind(AssertUnwindSafe(|| prepare(&redaction, &mut chunk)));
                    let stop = result.is_err();
                    // The sequencer is gone only if it stopped itself; nothing is left to do.
                    if done_tx.send(result.map(|()| chunk)).is_err() || stop {
                        return;
                    }
                }
            })
            .ok()?;
        Some(RenderThread {
            jobs: Some(jobs),
            done,
            in_flight: 0,
            #[cfg(test)]
            handed_over: 0,
            thread: Some(thread),
        })
    }

    /// Chunks handed over and not yet taken back.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Chunks handed over since the thread started.
    #[cfg(test)]
    pub(super) fn handed_over(&self) -> usize {
        self.handed_over
    }

    /// Whether another chunk can be handed over without waiting for one to come back.
    pub(super) fn has_room(&self) -> bool {
        self.in_flight < IN_FLIGHT
    }

    /// Hands a chunk over. The caller first makes room ([`RenderThread::has_room`]), so this
    /// never waits.
    pub(super) fn hand_over(&mut self, chunk: Chunk) {
        debug_assert!(self.has_room());
        #[cfg(test)]
        {
            self.handed_over += 1;
        }
        let jobs = self
            .jobs
            .as_ref()
            .expect("the jobs channel lives as long as the handle");
        match jobs.send(chunk) {
            Ok(()) => self.in_flight += 1,
            // The thread is gone only after a panic, which its last reply carries; every chunk
            // before it is still waiting to be taken back, and `take` resumes that panic.
            Err(e) => {
                drop(e.into_inner());
                self.in_flight += 1;
            }
        }
    }

    /// The oldest chunk handed over, prepared: waits for it when `wait`, else only takes one
    /// that is ready. A panic on the thread is resumed here, on the sequencer's thread, as if
    /// the sequencer had redacted the payload itself.
    pub(super) fn take(&mut self, wait: bool) -> Option<Chunk> {
        if self.in_flight == 0 {
            return None;
        }
        let done = if wait {
            self.done.recv().ok()
        } else {
            self.done.try_recv().ok()
        };
        match done {
            Some(Ok(chunk)) => {
                self.in_flight -= 1;
                Some(chunk)
            }
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            // Only when waiting can a disconnect show: the thread ended without a panic
            // reply, which it never does while chunks are out.
            None if wait => panic!("the acttrace render thread stopped with chunks in flight"),
            None => None,
        }
    }
}

impl Drop for RenderThread {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
