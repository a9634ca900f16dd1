//! Capture: the [`AuditLayer`] that watches `tracing` spans and events, its builder, and the
//! [`AuditGuard`]/[`AuditHandle`] that own and query the log.
//!
//! On the caller's thread the layer does as little as it can: it recognises decision spans and
//! audit events from their static metadata, copies their field values into owned values, finds
//! the nearest decision ancestor through the span registry, and enqueues a message for the
//! sequencer thread. Ordinary spans and events are recognised from metadata alone and cost no
//! allocation and no lock.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::chain::{self, FORMAT, HashAlg, PRODUCER, SigningKey};
use crate::error::Error;
use crate::genai::{self, GenAiCapture};
use crate::json::Value;
pub use crate::redact::Severity;
use crate::redact::{BuiltinRedactor, Policy, Redactor};
use crate::sequencer::{ChainedEntry, Msg, Redaction, Sequencer, SyncPolicy};
use crate::writer::{ChainTip, ChainWriter, Durability, JsonlFileWriter};

/// The span field that marks a decision: `#[instrument(fields(audit.decision))]`.
pub const DECISION_FIELD: &str = "audit.decision";
/// The event field that names an audit entry type when the event's name does not.
pub const KIND_FIELD: &str = "audit.kind";

/// Entry types a user event must not claim: the log writes them itself.
const RESERVED_KINDS: [&str; 8] = [
    "audit_open",
    "audit_resume",
    "recovery",
    "segment_open",
    "decision",
    "decision_record",
    "decision_end",
    "gap",
];

/// A captured field value, owned so it can cross to the sequencer thread.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FieldValue {
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Str(String),
    Json(Value),
}

impl FieldValue {
    pub(crate) fn into_value(self) -> Value {
        match self {
            FieldValue::I64(v) => Value::from(v),
            FieldValue::U64(v) => Value::from(v),
            FieldValue::I128(v) => Value::from(v),
            FieldValue::U128(v) => Value::from(v),
            // Non-finite floats become strings so that our own logs stay strict JSON.
            FieldValue::F64(v) if !v.is_finite() => Value::from(Value::from(v).to_string()),
            FieldValue::F64(v) => Value::from(v),
            FieldValue::Bool(v) => Value::Bool(v),
            FieldValue::Str(v) => Value::String(v),
            FieldValue::Json(v) => v,
        }
    }
}

pub(crate) type Fields = Vec<(&'static str, FieldValue)>;

/// Copies every field into owned values, leaving out the layer's own control fields.
struct Capture<'a>(&'a mut Fields);

impl Capture<'_> {
    fn push(&mut self, field: &Field, value: FieldValue) {
        let name = field.name();
        if name == KIND_FIELD {
            return;
        }
        self.0.push((name, value));
    }
}

impl Visit for Capture<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, FieldValue::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, FieldValue::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, FieldValue::U128(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, FieldValue::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, FieldValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, FieldValue::Str(value.to_owned()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, FieldValue::Str(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, FieldValue::Str(format!("{value:?}")));
    }
}

/// Adds recorded values to a GenAI span's fields: a field recorded again replaces its earlier
/// value, so a span's memory is bounded by its declared fields however often it records.
struct Accumulate<'a>(&'a mut Fields);

impl Accumulate<'_> {
    fn absorb(&mut self, recorded: Fields) {
        for (name, value) in recorded {
            match self.0.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => self.0.push((name, value)),
            }
        }
    }
}

/// Reads the `audit.kind` field's value.
struct KindField(Option<String>);

impl Visit for KindField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == KIND_FIELD {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == KIND_FIELD {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// The entry type an event name or `audit.kind` value stands for, when it is a known alias.
fn known_kind(name: &str) -> Option<&'static str> {
    Some(match name {
        "llm.call" | "llm_call" => "llm_call",
        "tool.call" | "tool_call" => "tool_call",
        "oversight" | "human_oversight" => "human_oversight",
        "policy_flag" | "policy.flag" => "policy_flag",
        "cost" => "cost",
        "context" | "context_assembly" => "context_assembly",
        "guardrail" | "guardrail_decision" => "guardrail_decision",
        "budget" | "budget_event" => "budget_event",
        "compression" => "compression",
        _ => return None,
    })
}

/// Whether a user-chosen `audit.kind` may be used verbatim as an entry type.
fn valid_custom_kind(kind: &str) -> bool {
    !RESERVED_KINDS.contains(&kind)
        && (1..=64).contains(&kind.len())
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

/// The marks a decision span carries, one per [`AuditLayer`] instance (two layers of this type
/// share the span's extensions, so each looks up its own mark by layer id).
struct DecisionMarks(Vec<DecisionMark>);

struct DecisionMark {
    layer: u64,
    /// Our own id for the span: the registry reuses span ids, so they cannot key a decision.
    span: u64,
    opened: Instant,
}

impl DecisionMarks {
    fn find(&self, layer: u64) -> Option<&DecisionMark> {
        self.0.iter().find(|m| m.layer == layer)
    }
}

/// A GenAI span being gathered, one per [`AuditLayer`] instance.
struct GenAiSpans(Vec<GenAiSpan>);

struct GenAiSpan {
    layer: u64,
    /// Our own id for the span, and that of the nearest GenAI span above it.
    ids: genai::SpanIds,
    /// The decision the span belongs to, found when it opened.
    decision: Option<u64>,
    fields: Fields,
    opened: Instant,
}

impl GenAiSpans {
    fn find(&self, layer: u64) -> Option<&GenAiSpan> {
        self.0.iter().find(|m| m.layer == layer)
    }

    fn find_mut(&mut self, layer: u64) -> Option<&mut GenAiSpan> {
        self.0.iter_mut().find(|m| m.layer == layer)
    }
}

/// What a callsite is to the layer, decided from its static metadata alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallsiteClass {
    /// Neither audited nor GenAI: the layer ignores it.
    Ordinary,
    /// A span with `audit.decision`.
    Decision,
    /// An event named as an audit entry type.
    AuditNamed,
    /// An event with an `audit.kind` field.
    AuditKindField,
    /// An event whose only field is `return` or `error` (`#[instrument(ret, err)]`).
    Outcome,
    /// A span or event with a `gen_ai.*` field.
    GenAi,
}

fn classify(meta: &Metadata<'_>) -> CallsiteClass {
    let fields = meta.fields();
    if meta.is_span() {
        if fields.field(DECISION_FIELD).is_some() {
            return CallsiteClass::Decision;
        }
    } else {
        if known_kind(meta.name()).is_some() {
            return CallsiteClass::AuditNamed;
        }
        if fields.field(KIND_FIELD).is_some() {
            return CallsiteClass::AuditKindField;
        }
        if fields.len() == 1
            && fields
                .iter()
                .any(|f| f.name() == "return" || f.name() == "error")
        {
            return CallsiteClass::Outcome;
        }
    }
    if fields.iter().any(|f| genai::is_genai_field(f.name())) {
        return CallsiteClass::GenAi;
    }
    CallsiteClass::Ordinary
}

/// Slots in the per-thread callsite class cache (direct-mapped by metadata address).
const CLASS_CACHE_SLOTS: usize = 128;

thread_local! {
    /// Callsite metadata lives for the whole program at a fixed address, so its class can be
    /// cached by address: an ordinary event then costs the layer one thread-local lookup, no
    /// string comparison, no lock and no allocation.
    static CLASS_CACHE: [Cell<(usize, CallsiteClass)>; CLASS_CACHE_SLOTS] =
        const { [const { Cell::new((0, CallsiteClass::Ordinary)) }; CLASS_CACHE_SLOTS] };
}

/// The class of a callsite whose metadata is `'static` (every event's, and every span's made
/// by the `tracing` macros).
#[inline]
fn class_of(meta: &'static Metadata<'static>) -> CallsiteClass {
    let addr = meta as *const Metadata<'static> as usize;
    // Metadata are at least 8-byte aligned and usually far apart: mix the address bits.
    let slot = ((addr >> 3) ^ (addr >> 11)) % CLASS_CACHE_SLOTS;
    match CLASS_CACHE.try_with(|cache| cache[slot].get()) {
        Ok((cached, class)) if cached == addr => class,
        _ => classify_and_cache(meta, addr, slot),
    }
}

/// A cache miss: classify the callsite and remember it (during thread teardown, when the cache
/// is gone, just classify).
#[cold]
#[inline(never)]
fn classify_and_cache(meta: &'static Metadata<'static>, addr: usize, slot: usize) -> CallsiteClass {
    let class = classify(meta);
    let _ = CLASS_CACHE.try_with(|cache| cache[slot].set((addr, class)));
    class
}

thread_local! {
    /// Set on the sequencer thread, whose own activity must never be audited (re-entrancy).
    static IN_SEQUENCER: Cell<bool> = const { Cell::new(false) };
}

static NEXT_LAYER_ID: AtomicU64 = AtomicU64::new(1);

/// State shared by the layer, the handles and the sequencer.
pub(crate) struct Shared {
    layer_id: u64,
    sender: Sender<Msg>,
    next_span: AtomicU64,
    source: String,
    pub(crate) head: Mutex<ChainTip>,
    pub(crate) committed_entries: AtomicU64,
    pub(crate) lost_entries: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
    closed: AtomicBool,
    /// Callers between checking `closed` and finishing their send; the sequencer waits for
    /// them at shutdown so that nothing they enqueue is dropped unseen.
    inflight: AtomicUsize,
    refused_after_close: AtomicU64,
    warned_closed: AtomicBool,
    queue_full: QueueFullPolicy,
    /// The built-in redactor with the log's policy (for payloads and pre-flight checks).
    redactor: Arc<BuiltinRedactor>,
    /// Records dropped because the queue was full (fail-open mode only); the sequencer takes
    /// the count and chains it as a `gap` entry.
    pub(crate) dropped_when_full: AtomicU64,
    pub(crate) dropped_total: AtomicU64,
    /// GenAI spans and events recorded without a decision above them.
    gen_ai_orphans: AtomicU64,
    /// Decision closes that found the queue full in fail-open mode: kept rather than dropped
    /// (a dropped close would leave its decision open on the sequencer for good), and sealed
    /// when the queue next runs dry, after every record enqueued before them. At most one per
    /// open decision.
    pub(crate) closes_when_full: Mutex<Vec<(u64, Duration)>>,
    pub(crate) closes_pending: AtomicBool,
}

impl Shared {
    /// Enqueues a captured record. Blocks while the queue is full (lossless), unless the log
    /// runs in [`QueueFullPolicy::DropAndRecord`] mode, where the record is dropped, counted,
    /// and the count chained as a `gap` entry.
    fn send(&self, msg: Msg) -> Result<(), Error> {
        self.enqueue(msg, self.queue_full == QueueFullPolicy::DropAndRecord)
    }

    /// Enqueues a decision's close. In fail-open mode a full queue does not drop it: it is kept
    /// aside for the sequencer, so the caller still never waits.
    fn send_close(&self, span: u64, duration: Duration) {
        let msg = Msg::DecisionClose { span, duration };
        if self.queue_full != QueueFullPolicy::DropAndRecord {
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
    fn send_control(&self, msg: Msg) -> Result<(), Error> {
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
            self.sender.send(msg).map_err(|_| Error::Closed)
        };
        self.inflight.fetch_sub(1, Ordering::SeqCst);
        if result.is_err() {
            self.refused();
        }
        result
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

    pub(crate) fn close_and_wait_for_senders(&self, mut drain: impl FnMut()) {
        self.closed.store(true, Ordering::SeqCst);
        loop {
            drain();
            if self.inflight.load(Ordering::SeqCst) == 0 {
                drain();
                return;
            }
            std::thread::yield_now();
        }
    }
}

/// The `tracing-subscriber` layer that records decisions and audit events.
///
/// Build it with [`AuditLayer::builder`]. It implements [`Layer`] for any subscriber with a span
/// registry (`tracing_subscriber::registry()`).
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("audit.jsonl");
/// let (layer, guard) = acttrace::AuditLayer::builder()
///     .system("loan-desk")
///     .path(&path)
///     .build()
///     .unwrap();
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("approve", audit.decision = "loan.approve", actor = "agent");
///     let _in = span.enter();
///     acttrace::llm_call!(provider = "openai", model = "gpt-4o", input_tokens = 812u64);
/// });
/// let tip = guard.flush().unwrap();
/// assert_eq!(tip.next_seq, 4); // audit_open, decision, llm_call, decision_end
/// ```
pub struct AuditLayer {
    shared: Arc<Shared>,
}

impl AuditLayer {
    /// Starts configuring an audit log.
    pub fn builder() -> AuditLayerBuilder {
        AuditLayerBuilder::default()
    }

    /// The log's status (entries committed and lost, the last error).
    pub fn status(&self) -> Status {
        status_of(&self.shared)
    }

    fn mark<S>(&self, span: &SpanRef<'_, S>) -> Option<u64>
    where
        S: for<'a> LookupSpan<'a>,
    {
        let ext = span.extensions();
        ext.get::<DecisionMarks>()
            .and_then(|m| m.find(self.shared.layer_id))
            .map(|m| m.span)
    }

    /// The nearest decision at or above `span`, by our own span id.
    fn nearest_decision<'a, S>(&self, spans: impl Iterator<Item = SpanRef<'a, S>>) -> Option<u64>
    where
        S: for<'b> LookupSpan<'b> + 'a,
    {
        spans.into_iter().find_map(|s| self.mark(&s))
    }

    /// An event whose callsite is not ordinary: an audit event, a decision outcome or a GenAI
    /// event. Kept out of line so that `on_event` stays a few instructions for ordinary events.
    #[inline(never)]
    fn audit_event<S>(&self, class: CallsiteClass, event: &Event<'_>, ctx: Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if IN_SEQUENCER.get() {
            return;
        }
        let meta = event.metadata();
        if class == CallsiteClass::GenAi {
            self.genai_event(event, &ctx);
            return;
        }
        if class == CallsiteClass::Outcome {
            // `#[instrument(ret, err)]` reports a decision's outcome with an event whose only
            // field is `return` or `error`, inside the decision span.
            let Some(span) = ctx.event_span(event) else {
                return;
            };
            let Some(our_id) = self.mark(&span) else {
                return;
            };
            let mut captured = Fields::new();
            event.record(&mut Capture(&mut captured));
            if let Some((field, value)) = captured.pop() {
                let _ = self.shared.send(Msg::DecisionOutcome {
                    span: our_id,
                    field,
                    value,
                });
            }
            return;
        }
        let Some(kind) = Self::event_kind(meta, event) else {
            return;
        };
        let decision = ctx
            .event_scope(event)
            .and_then(|scope| self.nearest_decision(scope));
        let mut fields = Fields::new();
        event.record(&mut Capture(&mut fields));
        let _ = self.shared.send(Msg::Event {
            kind,
            decision,
            fields,
            reply: None,
        });
    }

    /// An event with `gen_ai.*` fields: inside a GenAI span its fields join the span's (the
    /// span becomes one entry when it closes); elsewhere it is an entry of its own.
    fn genai_event<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut fields = Fields::new();
        event.record(&mut Capture(&mut fields));
        if let Some(span) = ctx.event_span(event) {
            let mut ext = span.extensions_mut();
            if let Some(gathering) = ext
                .get_mut::<GenAiSpans>()
                .and_then(|s| s.find_mut(self.shared.layer_id))
            {
                Accumulate(&mut gathering.fields).absorb(fields);
                return;
            }
        }
        let decision = ctx
            .event_scope(event)
            .and_then(|scope| self.nearest_decision(scope));
        let ids = genai::SpanIds::default();
        self.send_genai(event.metadata().name(), ids, decision, fields, None);
    }

    /// Enqueues a gathered GenAI span or event; one without a decision is an orphan, counted.
    fn send_genai(
        &self,
        name: &'static str,
        spans: genai::SpanIds,
        decision: Option<u64>,
        fields: Fields,
        duration: Option<Duration>,
    ) {
        if decision.is_none() {
            self.shared.gen_ai_orphans.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.shared.send(Msg::GenAi {
            name,
            spans,
            decision,
            fields,
            duration,
        });
    }

    /// The entry type of an audit event: its name's, or its `audit.kind` field's.
    fn event_kind(meta: &Metadata<'_>, event: &Event<'_>) -> Option<Cow<'static, str>> {
        if let Some(kind) = known_kind(meta.name()) {
            return Some(Cow::Borrowed(kind));
        }
        let mut v = KindField(None);
        event.record(&mut v);
        let requested = v.0?;
        Some(match known_kind(&requested) {
            Some(kind) => Cow::Borrowed(kind),
            None if valid_custom_kind(&requested) => Cow::Owned(requested),
            None => Cow::Borrowed("audit_event"),
        })
    }
}

impl<S> Layer<S> for AuditLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let class = class_of(attrs.metadata());
        if class == CallsiteClass::Ordinary || IN_SEQUENCER.get() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        if class == CallsiteClass::GenAi {
            let decision = self.nearest_decision(span.scope().skip(1));
            let parent = span.scope().skip(1).find_map(|s| {
                let ext = s.extensions();
                let gathering = ext.get::<GenAiSpans>()?.find(self.shared.layer_id)?;
                gathering.ids.span
            });
            let ids = genai::SpanIds {
                span: Some(self.shared.next_span.fetch_add(1, Ordering::Relaxed)),
                parent,
            };
            let mut fields = Fields::new();
            attrs.record(&mut Capture(&mut fields));
            let gathering = GenAiSpan {
                layer: self.shared.layer_id,
                ids,
                decision,
                fields,
                opened: Instant::now(),
            };
            let mut ext = span.extensions_mut();
            match ext.get_mut::<GenAiSpans>() {
                Some(spans) => spans.0.push(gathering),
                None => ext.insert(GenAiSpans(vec![gathering])),
            }
            return;
        }
        let parent = self.nearest_decision(span.scope().skip(1));
        let our_id = self.shared.next_span.fetch_add(1, Ordering::Relaxed);
        let mut fields = Fields::new();
        attrs.record(&mut Capture(&mut fields));
        {
            let mut ext = span.extensions_mut();
            let mark = DecisionMark {
                layer: self.shared.layer_id,
                span: our_id,
                opened: Instant::now(),
            };
            match ext.get_mut::<DecisionMarks>() {
                Some(marks) => marks.0.push(mark),
                None => ext.insert(DecisionMarks(vec![mark])),
            }
        } // The extensions lock is released before a send that may block.
        let _ = self.shared.send(Msg::DecisionOpen {
            span: our_id,
            parent,
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if IN_SEQUENCER.get() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        if class_of(span.metadata()) == CallsiteClass::GenAi {
            let mut recorded = Fields::new();
            values.record(&mut Capture(&mut recorded));
            let mut ext = span.extensions_mut();
            if let Some(gathering) = ext
                .get_mut::<GenAiSpans>()
                .and_then(|s| s.find_mut(self.shared.layer_id))
            {
                Accumulate(&mut gathering.fields).absorb(recorded);
            }
            return;
        }
        let Some(our_id) = self.mark(&span) else {
            return;
        };
        let mut fields = Fields::new();
        values.record(&mut Capture(&mut fields));
        if !fields.is_empty() {
            let _ = self.shared.send(Msg::DecisionRecord {
                span: our_id,
                fields,
            });
        }
    }

    #[inline]
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let class = class_of(event.metadata());
        if class != CallsiteClass::Ordinary {
            self.audit_event(class, event, ctx);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if IN_SEQUENCER.get() {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        let class = class_of(span.metadata());
        if class == CallsiteClass::Ordinary {
            return;
        }
        if class == CallsiteClass::GenAi {
            let gathered = span
                .extensions_mut()
                .get_mut::<GenAiSpans>()
                .and_then(|spans| {
                    let at = spans
                        .0
                        .iter()
                        .position(|m| m.layer == self.shared.layer_id)?;
                    Some(spans.0.swap_remove(at))
                });
            if let Some(g) = gathered {
                self.send_genai(
                    span.name(),
                    g.ids,
                    g.decision,
                    g.fields,
                    Some(g.opened.elapsed()),
                );
            }
            return;
        }
        let closed = {
            let ext = span.extensions();
            ext.get::<DecisionMarks>()
                .and_then(|m| m.find(self.shared.layer_id))
                .map(|m| (m.span, m.opened.elapsed()))
        };
        if let Some((our_id, duration)) = closed {
            self.shared.send_close(our_id, duration);
        }
    }
}

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

/// Configures and starts an audit log. See [`AuditLayer`] for an example.
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
    /// ([`AuditHandle::flag`], [`AuditHandle::oversight`]) and flushes still wait.
    DropAndRecord,
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

    /// How spans with OpenTelemetry `gen_ai.*` fields are captured: what is kept of prompts,
    /// responses and tool arguments, the digest key, the price table. See [`crate::genai`].
    pub fn gen_ai(mut self, capture: GenAiCapture) -> Self {
        self.gen_ai = capture;
        self
    }

    /// Writes the log as JSON lines to `path` (created if missing, continued if present).
    pub fn path(self, path: impl Into<PathBuf>) -> Self {
        self.writer(JsonlFileWriter::new(path))
    }

    /// Sends entries to a custom [`ChainWriter`].
    pub fn writer(mut self, writer: impl ChainWriter) -> Self {
        self.writer = Some(Box::new(writer));
        self
    }

    /// Signs every entry with `key` (HMAC-SHA256).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.key = Some(Ok(key));
        self
    }

    /// Signs with the key in environment variable `var`; [`build`](Self::build) fails if it
    /// is unset or empty.
    pub fn signing_key_from_env(mut self, var: &str) -> Self {
        self.key = Some(SigningKey::from_env(var).map_err(Error::from));
        self
    }

    /// Signs with the key in the file at `path`; [`build`](Self::build) fails if it cannot be
    /// read or is empty.
    pub fn signing_key_from_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        self.key = Some(SigningKey::from_file(path).map_err(Error::from));
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
    /// `policy_flag` entries are added for what it does.
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
                None => {
                    return Err(Error::Config(
                        "content capture `digest` needs a key: give GenAiCapture::digest_key or \
                         a signing key (the digest key is then derived from it)"
                            .into(),
                    ));
                }
            }
        }
        let mut writer = self.writer.ok_or_else(|| {
            Error::Config("no writer: call .path(..) or .writer(..) on the builder".into())
        })?;
        let source = writer.describe();
        let existing = writer.open(key.as_ref())?;
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
                    return Err(Error::Incompatible(format!(
                        "{source} is a {} chain; it cannot continue with {}",
                        ex.hash_alg.name(),
                        alg.name()
                    )));
                }
                if ex.signed != key.is_some() {
                    return Err(Error::Incompatible(if ex.signed {
                        format!("{source} is signed; configure its signing key to continue it")
                    } else {
                        format!("{source} is unsigned; a signing key cannot be added midway")
                    }));
                }
                (ex.hash_alg, ex.tip.clone(), "audit_resume")
            }
        };
        // The existing chain is accepted: now repair what a crash left.
        let recovery = writer.recover()?;
        let (sender, receiver) = bounded(self.queue_capacity);
        let shared = Arc::new(Shared {
            layer_id: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
            sender,
            next_span: AtomicU64::new(1),
            source: source.clone(),
            head: Mutex::new(tip.clone()),
            committed_entries: AtomicU64::new(0),
            lost_entries: AtomicU64::new(0),
            last_error: Mutex::new(None),
            closed: AtomicBool::new(false),
            inflight: AtomicUsize::new(0),
            refused_after_close: AtomicU64::new(0),
            warned_closed: AtomicBool::new(false),
            queue_full: self.queue_full,
            redactor: Arc::new(BuiltinRedactor::new(self.policy.clone())),
            dropped_when_full: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
            gen_ai_orphans: AtomicU64::new(0),
            closes_when_full: Mutex::new(Vec::new()),
            closes_pending: AtomicBool::new(false),
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
            shared.clone(),
            tip.clone(),
            gen_ai,
        )?;
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
                IN_SEQUENCER.set(true);
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

/// A snapshot of the log's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Where the log is described (for a file, its path).
    pub source: String,
    /// The committed tip.
    pub head: ChainTip,
    /// Entries committed by this run.
    pub committed_entries: u64,
    /// Entries sealed by this run that the writer failed to persist (recorded by a `gap` entry
    /// when the chain continues).
    pub lost_entries: u64,
    /// Records refused because the log was already shut down.
    pub refused_after_close: u64,
    /// Records waiting in the queue.
    pub queue_len: usize,
    /// Records dropped because the queue was full ([`QueueFullPolicy::DropAndRecord`] only).
    pub dropped_when_full: u64,
    /// GenAI spans and events that had no decision above them (spawned tasks that lost their
    /// span context, say): recorded with `decision_id: null`.
    pub gen_ai_orphans: u64,
    /// The last persistence error, if any.
    pub last_error: Option<String>,
}

fn status_of(shared: &Shared) -> Status {
    Status {
        source: shared.source.clone(),
        head: shared
            .head
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
        committed_entries: shared.committed_entries.load(Ordering::Relaxed),
        lost_entries: shared.lost_entries.load(Ordering::Relaxed),
        refused_after_close: shared.refused_after_close.load(Ordering::Relaxed),
        queue_len: shared.sender.len(),
        dropped_when_full: shared.dropped_total.load(Ordering::Relaxed)
            + shared.dropped_when_full.load(Ordering::Relaxed),
        gen_ai_orphans: shared.gen_ai_orphans.load(Ordering::Relaxed),
        last_error: shared
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    }
}

/// The action a policy flag records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagAction {
    /// Noted; the data went through.
    Flagged,
    /// The data was removed before recording.
    Redacted,
    /// The operation was refused.
    Blocked,
}

impl FlagAction {
    /// The name written to the log.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagAction::Flagged => "flagged",
            FlagAction::Redacted => "redacted",
            FlagAction::Blocked => "blocked",
        }
    }
}

/// A cheap, cloneable handle to a running audit log: flush it, read its head, and record
/// explicit entries whose chained position the caller needs.
#[derive(Clone)]
pub struct AuditHandle {
    shared: Arc<Shared>,
}

impl AuditHandle {
    /// Returns once every record enqueued before the call is committed and synced to stable
    /// storage, with the durable tip.
    pub fn flush(&self) -> Result<ChainTip, Error> {
        let (tx, rx) = bounded(1);
        self.shared.send_control(Msg::Flush(tx))?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// The committed tip: give `head` to `acttrace verify --expect-head` (and `next_seq` to
    /// `--expect-entries`) to prove later that nothing was cut from the end.
    pub fn head(&self) -> ChainTip {
        self.shared
            .head
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A snapshot of the log's health.
    pub fn status(&self) -> Status {
        status_of(&self.shared)
    }

    /// Records a `policy_flag` and returns its chained position once committed, for example
    /// from a pre-flight guard that refuses a model call: the refusal itself is on the chain.
    /// The flag belongs to the decision the current span is in (when the subscriber is built on
    /// `tracing_subscriber::Registry`).
    pub fn flag(
        &self,
        reason: &str,
        action: FlagAction,
        severity: Severity,
        data: &[&str],
    ) -> Result<ChainedEntry, Error> {
        let data = Value::Array(data.iter().map(|d| Value::from(*d)).collect());
        self.explicit(
            "policy_flag",
            vec![
                ("reason", FieldValue::Str(reason.to_owned())),
                ("action", FieldValue::Str(action.as_str().to_owned())),
                ("severity", FieldValue::Str(severity.as_str().to_owned())),
                ("data", FieldValue::Json(data)),
            ],
        )
    }

    /// Records a `human_oversight` sign-off (EU AI Act Art. 14) and returns its chained
    /// position once committed. Attributed like [`flag`](Self::flag).
    pub fn oversight(
        &self,
        reviewer: &str,
        action: &str,
        note: &str,
    ) -> Result<ChainedEntry, Error> {
        self.explicit(
            "human_oversight",
            vec![
                ("reviewer", FieldValue::Str(reviewer.to_owned())),
                ("action", FieldValue::Str(action.to_owned())),
                ("note", FieldValue::Str(note.to_owned())),
            ],
        )
    }

    /// Checks outgoing content (a prompt, tool arguments) against the log's redaction policy
    /// before the call is made. When the policy blocks any category found, the refusal is
    /// chained as a `policy_flag` (action `blocked`, categories only, never the values) and
    /// [`Error::Blocked`] is returned for the caller to propagate: the call never runs, and the
    /// record says why. Otherwise the content comes back redacted as the policy says, with what
    /// was found.
    ///
    /// ```
    /// # let (_layer, guard) = acttrace::AuditLayer::builder()
    /// #     .writer(acttrace::MemoryWriter::new().0)
    /// #     .redaction_policy(acttrace::redact::Policy::pci()).build().unwrap();
    /// let err = guard.preflight("llm_call", "charge card 4111 1111 1111 1111").unwrap_err();
    /// assert!(matches!(err, acttrace::Error::Blocked { .. }));
    /// let ok = guard.preflight("llm_call", "what is the refund policy?").unwrap();
    /// assert!(ok.report.is_empty());
    /// ```
    pub fn preflight(&self, operation: &str, content: &str) -> Result<Preflight, Error> {
        let (redacted, report) = self.shared.redactor.redact_str(content);
        if report.blocked() {
            let categories: Vec<&str> = report.categories_blocked();
            let severity = report.max_severity().unwrap_or(Severity::Critical);
            let reason = format!(
                "{operation} blocked before it ran: {}",
                categories.join(", ")
            );
            let entry = self.flag(&reason, FlagAction::Blocked, severity, &categories)?;
            return Err(Error::Blocked {
                operation: operation.to_owned(),
                categories: categories.iter().map(|c| (*c).to_owned()).collect(),
                entry,
            });
        }
        Ok(Preflight {
            redacted: redacted.into_owned(),
            report,
        })
    }

    fn explicit(&self, kind: &'static str, fields: Fields) -> Result<ChainedEntry, Error> {
        let (tx, rx) = bounded(1);
        self.shared.send_control(Msg::Event {
            kind: Cow::Borrowed(kind),
            decision: self.current_decision(),
            fields,
            reply: Some(tx),
        })?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// The decision the current span is in, looked up through the default dispatcher's
    /// registry.
    fn current_decision(&self) -> Option<u64> {
        let id = tracing::Span::current().id()?;
        tracing::dispatcher::get_default(|dispatch| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(&id)?;
            span.scope().find_map(|s| {
                s.extensions()
                    .get::<DecisionMarks>()
                    .and_then(|m| m.find(self.shared.layer_id))
                    .map(|m| m.span)
            })
        })
    }

    /// Whether a decision span at `level` is enabled by the current dispatcher's filters.
    ///
    /// A global filter (for example an `EnvFilter` added as a layer of its own) that disables
    /// the decisions' level hides them from every layer, this one included, and nothing is
    /// recorded. Call this at startup to catch that. The check uses this crate's target; a
    /// filter with per-target directives may treat your decisions' targets differently.
    pub fn decisions_visible(&self, level: Level) -> bool {
        match level {
            Level::TRACE => tracing::span_enabled!(Level::TRACE, audit.decision),
            Level::DEBUG => tracing::span_enabled!(Level::DEBUG, audit.decision),
            Level::INFO => tracing::span_enabled!(Level::INFO, audit.decision),
            Level::WARN => tracing::span_enabled!(Level::WARN, audit.decision),
            Level::ERROR => tracing::span_enabled!(Level::ERROR, audit.decision),
        }
    }
}

/// What [`AuditHandle::preflight`] found in content it let through.
#[derive(Clone, Debug)]
pub struct Preflight {
    /// The content with what the policy redacts replaced by `<redacted:CATEGORY>`.
    pub redacted: String,
    /// What was found and done, by category (no values).
    pub report: crate::redact::Report,
}

/// Owns the running log. Dropping it flushes, syncs and joins the sequencer thread, like
/// `tracing_appender`'s `WorkerGuard`; keep it alive for as long as the program audits.
#[must_use = "dropping the guard shuts the audit log down"]
pub struct AuditGuard {
    handle: AuditHandle,
    thread: Option<JoinHandle<()>>,
}

/// What a shutdown persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// The final, durable tip.
    pub head: ChainTip,
    /// Entries committed by this run.
    pub committed_entries: u64,
    /// Entries this run failed to persist.
    pub lost_entries: u64,
    /// Records refused because they arrived after shutdown began.
    pub refused_after_close: u64,
}

impl AuditGuard {
    /// A cloneable handle for other parts of the program.
    pub fn handle(&self) -> AuditHandle {
        self.handle.clone()
    }

    /// Seals everything enqueued so far, syncs it and stops the sequencer, waiting at most
    /// `timeout`. Records that arrive later are refused and counted.
    pub fn shutdown(mut self, timeout: Duration) -> Result<ShutdownReport, Error> {
        self.stop(Some(timeout))
    }

    fn stop(&mut self, timeout: Option<Duration>) -> Result<ShutdownReport, Error> {
        let Some(thread) = self.thread.take() else {
            return Err(Error::Closed);
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        let (tx, rx) = bounded(1);
        let shared = &self.handle.shared;
        let sent = match deadline {
            Some(d) => shared
                .sender
                .send_deadline(Msg::Shutdown(tx), d)
                .map_err(|e| match e {
                    crossbeam_channel::SendTimeoutError::Timeout(_) => Error::Timeout,
                    crossbeam_channel::SendTimeoutError::Disconnected(_) => Error::Closed,
                }),
            None => shared
                .sender
                .send(Msg::Shutdown(tx))
                .map_err(|_| Error::Closed),
        };
        if let Err(e) = sent {
            // Timed out with the queue full: refuse (and count) new records from now on, as
            // after a shutdown; the sequencer still seals what is queued, in the background.
            shared.closed.store(true, Ordering::SeqCst);
            return Err(e);
        }
        let result = match deadline {
            Some(d) => rx.recv_deadline(d).map_err(|e| match e {
                crossbeam_channel::RecvTimeoutError::Timeout => Error::Timeout,
                crossbeam_channel::RecvTimeoutError::Disconnected => Error::Closed,
            })?,
            None => rx.recv().map_err(|_| Error::Closed)?,
        };
        let _ = thread.join();
        let head = result?;
        Ok(ShutdownReport {
            head,
            committed_entries: shared.committed_entries.load(Ordering::Relaxed),
            lost_entries: shared.lost_entries.load(Ordering::Relaxed),
            refused_after_close: shared.refused_after_close.load(Ordering::Relaxed),
        })
    }
}

impl std::ops::Deref for AuditGuard {
    type Target = AuditHandle;
    fn deref(&self) -> &AuditHandle {
        &self.handle
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        if self.thread.is_none() {
            return;
        }
        match self.stop(None) {
            Ok(report) if report.lost_entries > 0 => eprintln!(
                "acttrace: {} audit entries of {} were not persisted (see the gap entry)",
                report.lost_entries, self.handle.shared.source
            ),
            Ok(_) => {}
            Err(e) => eprintln!(
                "acttrace: shutting down the audit log {} failed: {e}",
                self.handle.shared.source
            ),
        }
    }
}
