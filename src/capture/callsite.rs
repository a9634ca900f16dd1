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
const CLASS_CACHE_SLOTS: usize = 256;

/// The bit a cache slot's tag sets for a callsite that is not ordinary. Callsite metadata are
/// at least pointer-aligned, so an address never has it set and the tag of an ordinary callsite
/// is its address itself: the caller's hot path (an ordinary event) is then one load and one
/// compare, which answers both "is this slot the callsite's?" and "is it ordinary?".
const NOT_ORDINARY: usize = 1;

// Metadata hold references, so they are at least 2-byte aligned on every target.
const _: () = assert!(std::mem::align_of::<Metadata<'static>>() > NOT_ORDINARY);

/// The per-thread class cache: tags and classes in separate arrays, so that the hot path
/// indexes word-sized tags with the metadata address's own bits (on 64-bit targets, one `and`
/// and no shift).
struct ClassCache {
    /// Per slot, the metadata address, with [`NOT_ORDINARY`] set unless the callsite is
    /// ordinary; 0 when empty.
    tags: [Cell<usize>; CLASS_CACHE_SLOTS],
    /// Per slot, the class (read only when the tag has [`NOT_ORDINARY`]).
    classes: [Cell<CallsiteClass>; CLASS_CACHE_SLOTS],
}

thread_local! {
    /// Callsite metadata lives for the whole program at a fixed address, so its class can be
    /// cached by address: an ordinary event then costs the layer one thread-local load and a
    /// compare, no string comparison, no lock and no allocation.
    static CLASS_CACHE: ClassCache = const {
        ClassCache {
            tags: [const { Cell::new(0) }; CLASS_CACHE_SLOTS],
            classes: [const { Cell::new(CallsiteClass::Ordinary) }; CLASS_CACHE_SLOTS],
        }
    };
}

/// The cache slot of a metadata address: bits 3-10 (metadata are 8-byte aligned on 64-bit
/// targets and a hundred bytes or more apart, so neighbouring callsites get different slots;
/// a collision only costs a reclassification).
#[inline(always)]
fn slot_of(addr: usize) -> usize {
    (addr >> 3) % CLASS_CACHE_SLOTS
}

/// Whether this thread has already classified the callsite as ordinary: the whole of the
/// layer's work for an ordinary event. `false` means "look closer" (not cached here yet,
/// evicted by another callsite, or not ordinary), for [`class_of`] to answer.
#[inline(always)]
pub(super) fn cached_ordinary(meta: &'static Metadata<'static>) -> bool {
    let addr = meta as *const Metadata<'static> as usize;
    CLASS_CACHE
        .try_with(|cache| cache.tags[slot_of(addr)].get() == addr)
        .unwrap_or(false)
}

/// The class of a callsite whose metadata is `'static` (every event's, and every span's made
/// by the `tracing` macros).
#[inline]
pub(super) fn class_of(meta: &'static Metadata<'static>) -> CallsiteClass {
    let addr = meta as *const Metadata<'static> as usize;
    let slot = slot_of(addr);
    let cached = CLASS_CACHE.try_with(|cache| {
        let tag = cache.tags[slot].get();
        if tag == addr {
            Some(CallsiteClass::Ordinary)
        } else if tag == addr | NOT_ORDINARY {
            Some(cache.classes[slot].get())
        } else {
            None
        }
    });
    match cached {
        Ok(Some(class)) => class,
        _ => classify_and_cache(meta, addr, slot),
    }
}

/// A cache miss: classify the callsite and remember it (during thread teardown, when the cache
/// is gone, just classify).
#[cold]
#[inline(never)]
fn classify_and_cache(meta: &'static Metadata<'static>, addr: usize, slot: usize) -> CallsiteClass {
    let class = classify(meta);
    let tag = if class == CallsiteClass::Ordinary {
        addr
    } else {
        addr | NOT_ORDINARY
    };
    let _ = CLASS_CACHE.try_with(|cache| {
        cache.classes[slot].set(class);
        cache.tags[slot].set(tag);
    });
    class
}

#[cfg(test)]
mod tests {
    use tracing_core::callsite::Callsite;
    use tracing_core::field::FieldSet;
    use tracing_core::metadata::Kind;
    use tracing_core::subscriber::Interest;
    use tracing_core::{Level, identify_callsite};

    use super::*;

    /// The callsite every test metadata names (the cache keys on the metadata, not on it).
    struct TestCallsite;

    static TEST_CALLSITE: TestCallsite = TestCallsite;
    static TEST_META: Metadata<'static> = Metadata::new(
        "test",
        "acttrace::test",
        Level::INFO,
        None,
        None,
        None,
        FieldSet::new(&[], identify_callsite!(&TEST_CALLSITE)),
        Kind::EVENT,
    );

    impl Callsite for TestCallsite {
        fn set_interest(&self, _: Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            &TEST_META
        }
    }

    /// A `'static` metadata at a fresh heap address (so tests can find two that share a slot).
    fn leaked(
        name: &'static str,
        fields: &'static [&'static str],
        kind: Kind,
    ) -> &'static Metadata<'static> {
        Box::leak(Box::new(Metadata::new(
            name,
            "acttrace::test",
            Level::INFO,
            None,
            None,
            None,
            FieldSet::new(fields, identify_callsite!(&TEST_CALLSITE)),
            kind,
        )))
    }

    fn addr(meta: &'static Metadata<'static>) -> usize {
        meta as *const Metadata<'static> as usize
    }

    #[test]
    fn every_class_survives_the_cache() {
        let cases = [
            (
                leaked("plain", &["x"], Kind::EVENT),
                CallsiteClass::Ordinary,
            ),
            (
                leaked("d", &[DECISION_FIELD], Kind::SPAN),
                CallsiteClass::Decision,
            ),
            (
                leaked("llm.call", &["model"], Kind::EVENT),
                CallsiteClass::AuditNamed,
            ),
            (
                leaked("e", &[KIND_FIELD], Kind::EVENT),
                CallsiteClass::AuditKindField,
            ),
            (
                leaked("r", &["return"], Kind::EVENT),
                CallsiteClass::Outcome,
            ),
            (
                leaked("g", &["gen_ai.system"], Kind::EVENT),
                CallsiteClass::GenAi,
            ),
        ];
        for (meta, class) in cases {
            // The first look classifies (a miss), the second reads the cache.
            assert_eq!(class_of(meta), class, "{}", meta.name());
            assert_eq!(class_of(meta), class, "{} (cached)", meta.name());
            assert_eq!(
                cached_ordinary(meta),
                class == CallsiteClass::Ordinary,
                "{}",
                meta.name()
            );
        }
    }

    #[test]
    fn callsites_sharing_a_slot_evict_each_other_without_borrowing_a_class() {
        let decision = leaked("d", &[DECISION_FIELD], Kind::SPAN);
        let ordinary = (0..100_000)
            .map(|_| leaked("plain", &["x"], Kind::EVENT))
            .find(|m| slot_of(addr(m)) == slot_of(addr(decision)))
            .expect("heap addresses cover every slot within 100,000 allocations");
        assert_eq!(class_of(decision), CallsiteClass::Decision);
        // The slot holds the decision: the ordinary callsite is not known yet, and the
        // decision's tag never reads as ordinary.
        assert!(!cached_ordinary(ordinary));
        assert!(!cached_ordinary(decision));
        assert_eq!(class_of(ordinary), CallsiteClass::Ordinary);
        assert!(cached_ordinary(ordinary));
        assert!(!cached_ordinary(decision));
        // The decision, evicted, is classified again, and evicts the ordinary callsite.
        assert_eq!(class_of(decision), CallsiteClass::Decision);
        assert!(!cached_ordinary(ordinary));
        assert_eq!(class_of(ordinary), CallsiteClass::Ordinary);
    }

    #[test]
    fn another_thread_starts_with_nothing_cached() {
        let meta = leaked("plain", &["x"], Kind::EVENT);
        assert_eq!(class_of(meta), CallsiteClass::Ordinary);
        assert!(cached_ordinary(meta));
        std::thread::spawn(move || {
            assert!(!cached_ordinary(meta));
            assert_eq!(class_of(meta), CallsiteClass::Ordinary);
            assert!(cached_ordinary(meta));
        })
        .join()
        .unwrap();
    }
}
