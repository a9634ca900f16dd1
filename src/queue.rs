//! The bounded queue from the caller threads to the sequencer, and the state of the log that the
//! sequencer publishes back.
//!
//! [`Queue`] is what callers send to: the messages, the close protocol that lets a shutdown seal
//! everything enqueued before it, and the counts of what it refused or dropped. [`LogState`] is
//! what the sequencer writes after each commit (the committed head, committed and lost entries,
//! the last error) and what a status snapshot reads.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use tracing_core::Metadata;
use tracing_core::dispatcher::{Dispatch, WeakDispatch};

use crate::chain::ChainTip;
use crate::error::Error;
use crate::genai;
use crate::record::{ChainedEntry, FieldValue, Fields};

thread_local! {
    /// Set on the log's own threads (the sequencer, the render thread), whose activity must
    /// never be audited (re-entrancy).
    static ON_LOG_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one of the log's own: what it emits through `tracing` (a
/// writer's or a custom redactor's logging) is never audited. Auditing it would recurse into
/// the queue the thread serves, and could wait forever on a full one.
pub(crate) fn mark_log_thread() {
    ON_LOG_THREAD.set(true);
}

/// Whether the calling thread is one of the log's own (see [`mark_log_thread`]).
pub(crate) fn on_log_thread() -> bool {
    ON_LOG_THREAD.get()
}

/// Where the sequencer answers an explicit entry with its chained position.
pub(crate) type Reply = Sender<Result<ChainedEntry, Error>>;

/// Where the sequencer answers a flush or a shutdown with the durable tip.
pub(crate) type TipReply = Sender<Result<ChainTip, Error>>;

/// What callers send to the sequencer.
pub(crate) enum Msg {
    DecisionOpen {
        span: u64,
        parent: Option<u64>,
        /// The span's name (the function's, for `#[instrument]`): the decision's name when
        /// `audit.decision` is a bare marker.
        name: &'static str,
        fields: Fields,
    },
    DecisionRecord {
        span: u64,
        fields: Fields,
    },
    DecisionOutcome {
        span: u64,
        field: &'static str,
        value: FieldValue,
    },
    DecisionClose {
        span: u64,
        duration: Duration,
    },
    Event {
        kind: Cow<'static, str>,
        decision: Option<u64>,
        fields: Fields,
        reply: Option<Reply>,
    },
    /// A GenAI span (with its duration) or event, its fields gathered over its life.
    GenAi {
        name: &'static str,
        spans: genai::SpanIds,
        decision: Option<u64>,
        fields: Fields,
        duration: Option<Duration>,
    },
    Flush(TipReply),
    Shutdown(TipReply),
}

/// What callers do when the queue to the sequencer is full (the writer is slower than the
/// program, for example on a stalled disk).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueueFullPolicy {
    /// Wait for room: nothing is lost, the program slows to the writer's pace. The default.
    #[default]
    Block,
    /// Fail open: drop the record and count it; the chain records the count in a `gap` entry
    /// (`dropped_entries`) as soon as the sequencer catches up, so the loss is on the record.
    /// For programs that value availability over a complete log. Explicit entries
    /// ([`AuditHandle::flag`](crate::AuditHandle::flag),
    /// [`AuditHandle::oversight`](crate::AuditHandle::oversight)) and flushes still wait.
    DropAndRecord,
}

/// The bounded queue callers send to, with its close protocol and the counts of what it
/// refused or dropped.
pub(crate) struct Queue {
    sender: Sender<Msg>,
    full: QueueFullPolicy,
    /// The log's description, for the warning about records refused after shutdown.
    source: String,
    closed: AtomicBool,
    /// Callers between checking `closed` and finishing their send; the sequencer waits for
    /// them at shutdown so that nothing they enqueue is dropped unseen.
    inflight: AtomicUsize,
    refused_after_close: AtomicU64,
    warned_closed: AtomicBool,
    /// Records dropped because the queue was full (fail-open mode only); the sequencer takes
    /// the count and chains it as a `gap` entry.
    dropped_when_full: AtomicU64,
    /// Dropped records whose count the sequencer has taken to chain.
    dropped_total: AtomicU64,
    /// Decision closes that found the queue full in fail-open mode: kept rather than dropped
    /// (a dropped close would leave its decision open on the sequencer for good), and sealed
    /// when the queue next runs dry, after every record enqueued before them. At most one per
    /// open decision.
    closes_when_full: Mutex<Vec<(u64, Duration)>>,
    closes_pending: AtomicBool,
    /// Decision and audit-event callsites registered with the layer, waiting for the sequencer
    /// to ask the subscriber whether its filters let anyone see them.
    pub(crate) watch: CallsiteWatch,
    /// Where callers that found the queue full wait for it to be half empty.
    room: Room,
}

/// Callers that find the queue full sleep here until the sequencer has emptied half of it,
/// instead of waiting for each freed slot: a caller woken per slot sends one record, finds the
/// queue full again and spins, yields and parks once per record, which cost the calling thread
/// about 1.1 µs of CPU per entry at full rate and the sequencer a wake-up call per record.
struct Room {
    /// Set (under `lock`) by a caller about to wait; cleared by the sequencer when it wakes
    /// them. Both sides use `SeqCst`, so a caller that sets it either is seen by the sequencer's
    /// next check or itself sees the room that the sequencer's receive made.
    wanted: AtomicBool,
    /// Set when the queue closes or the sequencer stops: waiters then fall back to the
    /// channel's own blocking send, which the close protocol and a disconnect wake.
    released: AtomicBool,
    lock: Mutex<()>,
    woken: Condvar,
    /// The length at or under which waiting callers are woken.
    low_water: usize,
}

impl Room {
    fn new(capacity: usize) -> Room {
        Room {
            wanted: AtomicBool::new(false),
            released: AtomicBool::new(false),
            lock: Mutex::new(()),
            woken: Condvar::new(),
            low_water: capacity / 2,
        }
    }

    /// Waits until the queue holds at most `low_water` records or the room is released.
    fn wait(&self, sender: &Sender<Msg>) {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let has_room = || sender.len() <= self.low_water || self.released.load(Ordering::SeqCst);
        loop {
            // Woken with room: leave without asking again, so that `wanted` is not left set
            // for a caller that is gone.
            if has_room() {
                return;
            }
            self.wanted.store(true, Ordering::SeqCst);
            // Checked again now that `wanted` is visible: room the sequencer made before it
            // could see the flag is seen here instead.
            if has_room() {
                return;
            }
            guard = self
                .woken
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Wakes every waiting caller.
    fn wake_all(&self) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.wanted.store(false, Ordering::SeqCst);
        self.woken.notify_all();
    }
}

impl Queue {
    /// A queue holding at most `capacity` messages, and the receiving end for the sequencer.
    pub(crate) fn new(
        capacity: usize,
        full: QueueFullPolicy,
        source: String,
    ) -> (Queue, Receiver<Msg>) {
        let (sender, receiver) = bounded(capacity);
        let queue = Queue {
            sender,
            full,
            source,
            closed: AtomicBool::new(false),
            inflight: AtomicUsize::new(0),
            refused_after_close: AtomicU64::new(0),
            warned_closed: AtomicBool::new(false),
            dropped_when_full: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
            closes_when_full: Mutex::new(Vec::new()),
            closes_pending: AtomicBool::new(false),
            watch: CallsiteWatch::default(),
            room: Room::new(capacity),
        };
        (queue, receiver)
    }

    /// Enqueues a captured record. Blocks while the queue is full (lossless), unless the log
    /// runs in [`QueueFullPolicy::DropAndRecord`] mode, where the record is dropped, counted,
    /// and the count chained as a `gap` entry.
    pub(crate) fn send(&self, msg: Msg) -> Result<(), Error> {
        self.enqueue(msg, self.full == QueueFullPolicy::DropAndRecord)
    }

    /// Enqueues a decision's close. In fail-open mode a full queue does not drop it: it is kept
    /// aside for the sequencer, so the caller still never waits.
    pub(crate) fn send_close(&self, span: u64, duration: Duration) {
        let msg = Msg::DecisionClose { span, duration };
        if self.full != QueueFullPolicy::DropAndRecord {
            let _ = self.send(msg);
            return;
        }
        self.inflight.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.inflight.fetch_sub(1, Ordering::SeqCst);
            self.refused();
            return;
        }
        match self.sender.try_send(msg) {
            Ok(()) => {}
            Err(crossbeam_channel::TrySendError::Full(_)) => {
                self.closes_when_full
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((span, duration));
                self.closes_pending.store(true, Ordering::SeqCst);
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => self.refused(),
        }
        self.inflight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Enqueues a control message (flush, explicit entries with a waiting caller): never dropped.
    pub(crate) fn send_control(&self, msg: Msg) -> Result<(), Error> {
        self.enqueue(msg, false)
    }

    fn enqueue(&self, msg: Msg, may_drop: bool) -> Result<(), Error> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        let result = if self.closed.load(Ordering::SeqCst) {
            Err(Error::Closed)
        } else if may_drop {
            match self.sender.try_send(msg) {
                Ok(()) => Ok(()),
                Err(crossbeam_channel::TrySendError::Full(_)) => {
                    self.dropped_when_full.fetch_add(1, Ordering::SeqCst);
                    self.inflight.fetch_sub(1, Ordering::SeqCst);
                    return Ok(());
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(Error::Closed),
            }
        } else {
            self.send_waiting_for_room(msg)
        };
        self.inflight.fetch_sub(1, Ordering::SeqCst);
        if result.is_err() {
            self.refused();
        }
        result
    }

    /// Sends, waiting while the queue is full: until it is half empty, then, once the queue is
    /// closed or the sequencer gone, in the channel's own blocking send (which the shutdown's
    /// drain and a disconnect wake).
    fn send_waiting_for_room(&self, mut msg: Msg) -> Result<(), Error> {
        while !self.room.released.load(Ordering::SeqCst) {
            match self.sender.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(crossbeam_channel::TrySendError::Full(m)) => {
                    msg = m;
                    self.room.wait(&self.sender);
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => return Err(Error::Closed),
            }
        }
        self.sender.send(msg).map_err(|_| Error::Closed)
    }

    /// Called by the sequencer after it takes a record: wakes the callers waiting for room
    /// once the queue is down to half. One atomic load when nobody waits.
    pub(crate) fn made_room(&self) {
        if self.room.wanted.load(Ordering::SeqCst) && self.sender.len() <= self.room.low_water {
            self.room.wake_all();
        }
    }

    /// Wakes the callers waiting for room for good: the queue is closing or the sequencer has
    /// stopped taking records.
    pub(crate) fn release_waiters(&self) {
        self.room.released.store(true, Ordering::SeqCst);
        self.room.wake_all();
    }

    /// Counts an entry that arrived after shutdown and says so once on stderr: nothing is
    /// dropped silently, and the layer cannot return an error to `tracing`.
    fn refused(&self) {
        let n = self.refused_after_close.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.warned_closed.swap(true, Ordering::Relaxed) {
            eprintln!(
                "acttrace: the audit log {} is shut down; audit records after shutdown are not \
                 recorded (refused so far: {n}; see AuditHandle::status)",
                self.source
            );
        }
    }

    /// Asks the sequencer to shut down, waiting for room in the queue until `deadline` (for
    /// ever without one). The request bypasses the close protocol: it is what starts it.
    pub(crate) fn send_shutdown(
        &self,
        reply: TipReply,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let sent = match deadline {
            Some(d) => self
                .sender
                .send_deadline(Msg::Shutdown(reply), d)
                .map_err(|e| match e {
                    crossbeam_channel::SendTimeoutError::Timeout(_) => Error::Timeout,
                    crossbeam_channel::SendTimeoutError::Disconnected(_) => Error::Closed,
                }),
            None => self
                .sender
                .send(Msg::Shutdown(reply))
                .map_err(|_| Error::Closed),
        };
        if sent.is_err() {
            // Timed out with the queue full: refuse (and count) new records from now on, as
            // after a shutdown; the sequencer still seals what is queued, in the background.
            self.closed.store(true, Ordering::SeqCst);
        }
        sent
    }

    /// Closes the queue to new records, then drains it until no caller is left mid-send, so
    /// that everything enqueued before the close is seen by `drain`.
    pub(crate) fn close_and_wait_for_senders(&self, mut drain: impl FnMut()) {
        self.closed.store(true, Ordering::SeqCst);
        self.release_waiters();
        loop {
            drain();
            if self.inflight.load(Ordering::SeqCst) == 0 {
                drain();
                return;
            }
            std::thread::yield_now();
        }
    }

    /// Takes the count of records dropped since the last call, moving it to the total; the
    /// sequencer chains it.
    pub(crate) fn take_dropped(&self) -> u64 {
        // Read before swapping: this runs for every message, and a swap would take the cache
        // line from the callers each time although records are nearly never dropped.
        if self.dropped_when_full.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let dropped = self.dropped_when_full.swap(0, Ordering::SeqCst);
        if dropped > 0 {
            self.dropped_total.fetch_add(dropped, Ordering::Relaxed);
        }
        dropped
    }

    /// Gives back a count taken by [`take_dropped`](Self::take_dropped) whose `gap` entry was
    /// not persisted, to be chained later.
    pub(crate) fn restore_dropped(&self, dropped: u64) {
        self.dropped_when_full.fetch_add(dropped, Ordering::SeqCst);
        self.dropped_total.fetch_sub(dropped, Ordering::Relaxed);
    }

    /// Takes the decision closes kept aside while the queue was full (fail-open mode).
    pub(crate) fn take_kept_closes(&self) -> Vec<(u64, Duration)> {
        if !self.closes_pending.swap(false, Ordering::SeqCst) {
            return Vec::new();
        }
        std::mem::take(
            &mut *self
                .closes_when_full
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Queues a decision or audit-event callsite for a visibility check (at most once while it
    /// waits) and wakes the sequencer without ever blocking: this runs inside
    /// `register_callsite`, where `tracing` holds its dispatcher list locked, so waiting could
    /// deadlock with a sequencer thread that registers a callsite of its own. The wake-up has a
    /// channel of its own, so checks never take room in the queue from records.
    pub(crate) fn watch_callsite(&self, meta: &'static Metadata<'static>, what: &'static str) {
        if self.watch.push(meta, what) {
            let _ = self.watch.wake.0.try_send(());
        }
    }

    /// Messages waiting for the sequencer.
    pub(crate) fn len(&self) -> usize {
        self.sender.len()
    }

    /// Records refused because the log was already shut down.
    pub(crate) fn refused_after_close(&self) -> u64 {
        self.refused_after_close.load(Ordering::Relaxed)
    }

    /// Records dropped because the queue was full, chained or not yet.
    pub(crate) fn dropped_when_full(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed) + self.dropped_when_full.load(Ordering::Relaxed)
    }
}

/// The sequencer's wake-up for callsite checks: a channel apart from the queue, holding at most
/// one wake-up.
pub(crate) struct Wake(Sender<()>, Receiver<()>);

impl Default for Wake {
    fn default() -> Self {
        let (tx, rx) = bounded(1);
        Wake(tx, rx)
    }
}

/// A callsite the subscriber's filters disable for every layer, the audit layer included: the
/// log can never record it.
pub(crate) struct InvisibleCallsite {
    /// What it is to the log: `decision span` or `audit event`.
    pub(crate) what: &'static str,
    pub(crate) meta: &'static Metadata<'static>,
}

/// Decision and audit-event callsites to check for visibility, and the dispatch to ask.
///
/// The layer sees every callsite's registration when it is outside the filters (added after
/// them), but not whether an inner global filter then disables it: the combined interest is
/// only known once every layer answered. So the layer queues the callsite here and the
/// sequencer asks the dispatch for the combined interest afterwards, on its own thread (no
/// re-entrancy into a registration in progress, no per-layer filter state disturbed on a
/// caller's thread). A global filter answers `never`; per-layer filters make the stack answer
/// `sometimes` or `always` because some layer still sees the callsite, so they are not reported.
#[derive(Default)]
pub(crate) struct CallsiteWatch {
    /// The dispatch the layer was registered with (weak: the dispatch owns the layer).
    dispatch: Mutex<Option<WeakDispatch>>,
    pending: Mutex<Vec<(&'static Metadata<'static>, &'static str)>>,
    has_pending: AtomicBool,
    wake: Wake,
    /// Callsites already reported (by metadata address): each is chained once.
    reported: Mutex<HashSet<usize>>,
    invisible: AtomicU64,
}

impl CallsiteWatch {
    /// Remembers the dispatch the layer belongs to.
    pub(crate) fn set_dispatch(&self, dispatch: &Dispatch) {
        *self.dispatch.lock().unwrap_or_else(PoisonError::into_inner) = Some(dispatch.downgrade());
    }

    /// Queues a callsite; false when it was already waiting or reported.
    fn push(&self, meta: &'static Metadata<'static>, what: &'static str) -> bool {
        let addr = meta as *const Metadata<'static> as usize;
        if self
            .reported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&addr)
        {
            return false;
        }
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.iter().any(|(m, _)| std::ptr::eq(*m, meta)) {
            return false;
        }
        pending.push((meta, what));
        self.has_pending.store(true, Ordering::SeqCst);
        true
    }

    /// On the sequencer: asks the dispatch about every waiting callsite and returns those no
    /// layer can see, each once. No lock is held while the dispatch is asked.
    pub(crate) fn take_invisible(&self) -> Vec<InvisibleCallsite> {
        if !self.has_pending.swap(false, Ordering::SeqCst) {
            return Vec::new();
        }
        let pending =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        let dispatch = self
            .dispatch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(WeakDispatch::upgrade);
        let Some(dispatch) = dispatch else {
            return Vec::new();
        };
        let mut invisible = Vec::new();
        for (meta, what) in pending {
            if !dispatch.register_callsite(meta).is_never() {
                continue;
            }
            let addr = meta as *const Metadata<'static> as usize;
            if self
                .reported
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(addr)
            {
                self.invisible.fetch_add(1, Ordering::Relaxed);
                invisible.push(InvisibleCallsite { what, meta });
            }
        }
        invisible
    }

    /// Where the sequencer, while it waits for records, hears that callsites wait for a check.
    pub(crate) fn woken(&self) -> &Receiver<()> {
        &self.wake.1
    }

    /// Callsites found invisible so far.
    pub(crate) fn invisible(&self) -> u64 {
        self.invisible.load(Ordering::Relaxed)
    }
}

/// The state of the log that the sequencer publishes after each commit.
pub(crate) struct LogState {
    head: Mutex<ChainTip>,
    committed_entries: AtomicU64,
    lost_entries: AtomicU64,
    oversized_refused: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Checkpoints committed by this run, and the tree size of the last (0: none yet).
    checkpoints: AtomicU64,
    last_checkpoint_size: AtomicU64,
}

impl LogState {
    /// The state of a log whose committed chain ends at `tip`.
    pub(crate) fn new(tip: ChainTip) -> LogState {
        LogState {
            head: Mutex::new(tip),
            committed_entries: AtomicU64::new(0),
            lost_entries: AtomicU64::new(0),
            oversized_refused: AtomicU64::new(0),
            last_error: Mutex::new(None),
            checkpoints: AtomicU64::new(0),
            last_checkpoint_size: AtomicU64::new(0),
        }
    }

    /// The committed tip.
    pub(crate) fn head(&self) -> ChainTip {
        self.head
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Entries committed by this run.
    pub(crate) fn committed_entries(&self) -> u64 {
        self.committed_entries.load(Ordering::Relaxed)
    }

    /// Entries sealed by this run that the writer failed to persist.
    pub(crate) fn lost_entries(&self) -> u64 {
        self.lost_entries.load(Ordering::Relaxed)
    }

    /// Entries refused because they could not fit the writer's line limit.
    pub(crate) fn oversized_refused(&self) -> u64 {
        self.oversized_refused.load(Ordering::Relaxed)
    }

    /// Publishes an entry refused as oversized.
    pub(crate) fn publish_oversized_refusal(&self, error: String) {
        self.oversized_refused.fetch_add(1, Ordering::Relaxed);
        self.publish_error(error);
    }

    /// The last persistence error, if any.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Publishes a commit of `entries` entries that ends at `tip`.
    pub(crate) fn publish_commit(&self, entries: u64, tip: &ChainTip) {
        self.committed_entries.fetch_add(entries, Ordering::Relaxed);
        *self.head.lock().unwrap_or_else(PoisonError::into_inner) = tip.clone();
    }

    /// Publishes a committed checkpoint of `tree_size` entries.
    pub(crate) fn publish_checkpoint(&self, tree_size: u64) {
        self.last_checkpoint_size
            .store(tree_size, Ordering::Relaxed);
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
    }

    /// Checkpoints committed by this run, and the tree size of the last one.
    pub(crate) fn checkpoints(&self) -> (u64, Option<u64>) {
        let count = self.checkpoints.load(Ordering::Relaxed);
        let size = self.last_checkpoint_size.load(Ordering::Relaxed);
        (count, (count > 0).then_some(size))
    }

    /// Publishes a failed commit that lost `entries` entries.
    pub(crate) fn publish_loss(&self, entries: u64, error: String) {
        self.lost_entries.fetch_add(entries, Ordering::Relaxed);
        self.publish_error(error);
    }

    /// Records an error that lost nothing (a failed rotation, say).
    pub(crate) fn publish_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close_msg(span: u64) -> Msg {
        Msg::DecisionClose {
            span,
            duration: Duration::ZERO,
        }
    }

    fn full_queue(capacity: usize) -> (std::sync::Arc<Queue>, Receiver<Msg>) {
        let (queue, rx) = Queue::new(capacity, QueueFullPolicy::Block, "test".into());
        let queue = std::sync::Arc::new(queue);
        for i in 0..capacity as u64 {
            queue.send(close_msg(i)).unwrap();
        }
        (queue, rx)
    }

    /// Waits (without a time limit the test depends on) until a caller is asleep in the room.
    fn until_a_caller_waits(queue: &Queue) {
        while !queue.room.wanted.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        // `wanted` is set under the lock just before the caller sleeps; taking the lock means
        // the caller is in `Condvar::wait` (or already woken, which the asserts would show).
        drop(queue.room.lock.lock().unwrap());
    }

    #[test]
    fn a_caller_on_a_full_queue_sleeps_until_half_of_it_is_free() {
        let (queue, rx) = full_queue(8);
        let sender = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.send(close_msg(100)))
        };
        until_a_caller_waits(&queue);
        // One slot free is not enough: the caller is not woken, and the queue is not refilled.
        rx.try_recv().unwrap();
        queue.made_room();
        assert!(queue.room.wanted.load(Ordering::SeqCst));
        assert_eq!(queue.len(), 7);
        for _ in 0..2 {
            rx.try_recv().unwrap();
            queue.made_room();
            assert!(queue.room.wanted.load(Ordering::SeqCst));
        }
        // Down to half (4 of 8): the caller is woken, and its record goes in.
        rx.try_recv().unwrap();
        queue.made_room();
        assert!(!queue.room.wanted.load(Ordering::SeqCst));
        sender.join().unwrap().unwrap();
        assert_eq!(queue.len(), 5);
        let spans: Vec<u64> = rx
            .try_iter()
            .map(|m| match m {
                Msg::DecisionClose { span, .. } => span,
                _ => unreachable!("only closes were sent"),
            })
            .collect();
        assert_eq!(spans, [4, 5, 6, 7, 100]);
    }

    #[test]
    fn closing_the_queue_lets_a_waiting_caller_finish_its_send_into_the_drain() {
        let (queue, rx) = full_queue(4);
        let sender = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.send(close_msg(100)))
        };
        until_a_caller_waits(&queue);
        let mut drained = Vec::new();
        queue.close_and_wait_for_senders(|| drained.extend(rx.try_iter()));
        sender.join().unwrap().unwrap();
        assert_eq!(
            drained.len(),
            5,
            "the waiting caller's record was drained too"
        );
        assert!(matches!(queue.send(close_msg(101)), Err(Error::Closed)));
    }

    #[test]
    fn a_caller_waiting_for_room_is_refused_when_the_sequencer_is_gone() {
        let (queue, rx) = full_queue(4);
        let sender = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.send(close_msg(100)))
        };
        until_a_caller_waits(&queue);
        drop(rx);
        queue.release_waiters();
        assert!(matches!(sender.join().unwrap(), Err(Error::Closed)));
    }
}
