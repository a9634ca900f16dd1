//! What a callsite is to the layer (a decision span, an audit event, a decision's outcome, a
//! GenAI span or event, or ordinary), decided from its static metadata alone and cached per
//! thread by metadata address; and the entry type an audit event names.

use std::borrow::Cow;
use std::cell::Cell;

use tracing_core::{Event, Metadata};

use super::fields::KindField;
use crate::genai;
use crate::record::{AUDIT_TARGET, DECISION_FIELD, KIND_FIELD, RESERVED_KINDS};

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

/// The entry type of an audit event: its name's, or its `audit.kind` field's.
pub(super) fn event_kind(meta: &Metadata<'_>, event: &Event<'_>) -> Option<Cow<'static, str>> {
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

/// What a callsite is to the layer, decided from its static metadata alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CallsiteClass {
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

impl CallsiteClass {
    /// What the log calls a callsite it must see (for the `invisible_callsite` entry), or
    /// `None` for callsites whose absence is not reported (ordinary, GenAI, outcomes).
    pub(super) fn watched(self) -> Option<&'static str> {
        match self {
            CallsiteClass::Decision => Some("decision span"),
            CallsiteClass::AuditNamed | CallsiteClass::AuditKindField => Some("audit event"),
            _ => None,
        }
    }
}

/// What a callsite is to [`crate::filter::exclude_audit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuditRelevance {
    /// Not the log's business.
    None,
    /// A decision span, an audit event, or an event in the audit target.
    Audit,
    /// An event whose only field is `return` or `error`: a decision's outcome when it is
    /// emitted in a decision span (`#[instrument(ret, err)]`).
    MaybeOutcome,
}

/// What a callsite is to [`crate::filter::exclude_audit`] (not cached: the metadata of a
/// converted `log` record is not `'static`).
pub(crate) fn audit_relevance(meta: &Metadata<'_>) -> AuditRelevance {
    if meta.target().starts_with(AUDIT_TARGET)
        && (meta.target().len() == AUDIT_TARGET.len()
            || meta.target()[AUDIT_TARGET.len()..].starts_with("::"))
    {
        return AuditRelevance::Audit;
    }
    match classify(meta) {
        CallsiteClass::Decision | CallsiteClass::AuditNamed | CallsiteClass::AuditKindField => {
            AuditRelevance::Audit
        }
        CallsiteClass::Outcome => AuditRelevance::MaybeOutcome,
        CallsiteClass::Ordinary | CallsiteClass::GenAi => AuditRelevance::None,
    }
}

/// Whether a span is a decision span.
pub(crate) fn is_decision_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.fields().field(DECISION_FIELD).is_some()
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
pub(super) fn class_of(meta: &'static Metadata<'static>) -> CallsiteClass {
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
