//! The [`AuditLayer`]: the `tracing` callbacks that recognise decision spans, audit events and
//! GenAI spans, capture their fields and enqueue them for the sequencer.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing_core::dispatcher::Dispatch;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::callsite::{CallsiteClass, cached_ordinary, class_of, event_kind};
use super::fields::{Accumulate, Capture, check_policy_flag};
use super::{AuditLayerBuilder, Shared, Status};
use crate::genai;
use crate::queue::Msg;
use crate::record::Fields;

/// The marks a decision span carries, one per [`AuditLayer`] instance (two layers of this type
/// share the span's extensions, so each looks up its own mark by layer id).
pub(super) struct DecisionMarks(Vec<DecisionMark>);

pub(super) struct DecisionMark {
    layer: u64,
    /// Our own id for the span: the registry reuses span ids, so they cannot key a decision.
    pub(super) span: u64,
    opened: Instant,
}

impl DecisionMarks {
    pub(super) fn find(&self, layer: u64) -> Option<&DecisionMark> {
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
    pub(super) shared: Arc<Shared>,
}

impl AuditLayer {
    /// Starts configuring an audit log.
    pub fn builder() -> AuditLayerBuilder {
        AuditLayerBuilder::default()
    }

    /// The log's status (entries committed and lost, the last error).
    pub fn status(&self) -> Status {
        self.shared.status()
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

    /// The nearest decision at or above an event's span. The same answer as walking
    /// `ctx.event_scope(event)`, one registry lookup cheaper when the event's own span is the
    /// decision (the usual case): a `Scope` looks its first span up again.
    fn event_decision<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>) -> Option<u64>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let span = ctx.event_span(event)?;
        self.mark(&span)
            .or_else(|| self.nearest_decision(span.scope().skip(1)))
    }

    /// An event whose callsite is not known to this thread as ordinary: classify it (or read
    /// its cached class) and audit it unless it is ordinary after all. Out of line, and a tail
    /// call from `on_event`, so that the inlined check keeps no registers of its own.
    #[inline(never)]
    fn event_out_of_line<S>(&self, event: &Event<'_>, ctx: Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let class = class_of(event.metadata());
        if class != CallsiteClass::Ordinary {
            self.audit_event(class, event, ctx);
        }
    }

    /// An event whose callsite is not ordinary: an audit event, a decision outcome or a GenAI
    /// event. Kept out of line so that `on_event` stays a few instructions for ordinary events.
    #[inline(never)]
    fn audit_event<S>(&self, class: CallsiteClass, event: &Event<'_>, ctx: Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if crate::queue::on_log_thread() {
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
                let _ = self.shared.queue.send(Msg::DecisionOutcome {
                    span: our_id,
                    field,
                    value,
                });
            }
            return;
        }
        let Some(kind) = event_kind(meta, event) else {
            return;
        };
        let decision = self.event_decision(event, &ctx);
        if decision.is_none() {
            self.shared
                .outside_decisions
                .fetch_add(1, Ordering::Relaxed);
        }
        // Sized by the callsite: one allocation and no growth path (`RawVec::grow_one`).
        let mut fields = Fields::with_capacity(meta.fields().len());
        event.record(&mut Capture(&mut fields));
        if kind == "policy_flag" {
            check_policy_flag(&mut fields);
        }
        let _ = self.shared.queue.send(Msg::Event {
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
        let mut parent = None;
        if let Some(span) = ctx.event_span(event) {
            let mut ext = span.extensions_mut();
            if let Some(gathering) = ext
                .get_mut::<GenAiSpans>()
                .and_then(|s| s.find_mut(self.shared.layer_id))
            {
                // An event naming another operation than its span's (an inference's details
                // inside a workflow span, say) describes that operation: an entry of its own.
                let operation = |f: &Fields| {
                    f.iter()
                        .rev()
                        .find(|(n, _)| *n == "gen_ai.operation.name")
                        .map(|(_, v)| v.clone())
                };
                match (operation(&fields), operation(&gathering.fields)) {
                    (Some(own), Some(span_op)) if own != span_op => {
                        parent = gathering.ids.span;
                    }
                    _ => {
                        Accumulate(&mut gathering.fields).absorb_event(fields);
                        return;
                    }
                }
            }
        }
        let decision = self.event_decision(event, ctx);
        let ids = genai::SpanIds { span: None, parent };
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
        let _ = self.shared.queue.send(Msg::GenAi {
            name,
            spans,
            decision,
            fields,
            duration,
        });
    }
}

impl<S> Layer<S> for AuditLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        self.shared.queue.watch.set_dispatch(dispatch);
    }

    /// Sees every callsite's registration when the layer is outside the subscriber's filters
    /// (added after them): a decision or audit-event callsite is queued for the sequencer,
    /// which asks the dispatch whether the filters let any layer see it (see
    /// `queue::CallsiteWatch`).
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if !crate::queue::on_log_thread()
            && let Some(what) = class_of(meta).watched()
        {
            self.shared.queue.watch_callsite(meta, what);
        }
        Interest::always()
    }

    /// Every level: `tracing` registers a callsite only when its level passes the subscriber's
    /// maximum, so without this a global `warn` filter would keep the layer from ever hearing
    /// of the INFO decisions it hides. Callsites the filters disable are still disabled (their
    /// interest is `never`); they cost one more atomic load when reached.
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let class = class_of(attrs.metadata());
        if class == CallsiteClass::Ordinary || crate::queue::on_log_thread() {
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
        let mut fields = Fields::with_capacity(attrs.metadata().fields().len());
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
        let _ = self.shared.queue.send(Msg::DecisionOpen {
            span: our_id,
            parent,
            name: attrs.metadata().name(),
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if crate::queue::on_log_thread() {
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
            let _ = self.shared.queue.send(Msg::DecisionRecord {
                span: our_id,
                fields,
            });
        }
    }

    /// An ordinary event already classified on this thread costs one thread-local load and a
    /// compare (`cached_ordinary`); everything else, including the first sight of a callsite,
    /// goes out of line.
    #[inline]
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !cached_ordinary(event.metadata()) {
            self.event_out_of_line(event, ctx);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if crate::queue::on_log_thread() {
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
            if std::thread::panicking() {
                // A span dropped while its thread unwinds: the decision did not return.
                let _ = self.shared.queue.send(Msg::DecisionOutcome {
                    span: our_id,
                    field: "error",
                    value: crate::record::FieldValue::Str("panicked".into()),
                });
            }
            self.shared.queue.send_close(our_id, duration);
        }
    }
}
