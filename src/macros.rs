//! Macros that emit audit events, so callers need remember neither the event names nor the
//! `audit.kind` field. Each expands to `tracing::event!(name: "...", target: "acttrace::audit",
//! Level::INFO, fields...)` and takes the same field syntax (`key = value`, `key = ?debug`,
//! `key = %display`, dotted keys), so the fields arrive as typed values, not as formatted text.
//!
//! Like `tracing`'s own macros they accept a leading `target: "..."` and/or `level: Level::X`
//! (in that order, each optional). The default target, [`crate::filter::AUDIT_TARGET`]
//! (`acttrace::audit`), is the same for every audit event whatever module emits it, so any
//! filter can name it: `EnvFilter::new("warn,acttrace::audit=info")` for a global filter, or
//! [`crate::filter::exclude_audit`] to keep audit events (whose raw field values the chain
//! redacts but other layers would print) out of a console layer.

/// Expands an audit macro's `target:`/`level:` prefix into a `tracing::event!` call.
#[doc(hidden)]
#[macro_export]
macro_rules! __audit_event {
    ($name:literal; target: $target:expr, level: $level:expr, $($fields:tt)*) => {
        $crate::__tracing::event!(name: $name, target: $target, $level, $($fields)*)
    };
    ($name:literal; target: $target:expr, $($fields:tt)*) => {
        $crate::__tracing::event!(name: $name, target: $target, $crate::__tracing::Level::INFO, $($fields)*)
    };
    ($name:literal; level: $level:expr, $($fields:tt)*) => {
        $crate::__tracing::event!(name: $name, target: $crate::filter::AUDIT_TARGET, $level, $($fields)*)
    };
    ($name:literal; $($fields:tt)*) => {
        $crate::__tracing::event!(name: $name, target: $crate::filter::AUDIT_TARGET, $crate::__tracing::Level::INFO, $($fields)*)
    };
}

/// Records an `llm_call` entry (target `acttrace::audit`, level INFO unless given, as in
/// `llm_call!(target: "billing", level: Level::WARN, ...)`). Token counts (`input_tokens`, `output_tokens`, `cached_tokens`,
/// `reasoning_tokens`, `cache_write`, or any `usage.*` field) are grouped under `usage` as in
/// the reference format.
///
/// ```
/// acttrace::llm_call!(provider = "openai", model = "gpt-4o", input_tokens = 812u64,
///     output_tokens = 64u64, cost = "0.0123 USD", latency_ms = 412.5);
/// ```
#[macro_export]
macro_rules! llm_call {
    ($($fields:tt)*) => {
        $crate::__audit_event!("llm.call"; $($fields)*)
    };
}

/// Records a `tool_call` entry (`name`, `arguments`, ...).
///
/// ```
/// acttrace::tool_call!(name = "credit_score", arguments = "{\"applicant\": 7}");
/// ```
#[macro_export]
macro_rules! tool_call {
    ($($fields:tt)*) => {
        $crate::__audit_event!("tool.call"; $($fields)*)
    };
}

/// Records a `human_oversight` entry (`reviewer`, `action`, `note`): a person's sign-off.
///
/// ```
/// acttrace::oversight!(reviewer = "ops@bank", action = "approved", note = "within policy");
/// ```
#[macro_export]
macro_rules! oversight {
    ($($fields:tt)*) => {
        $crate::__audit_event!("oversight"; $($fields)*)
    };
}

/// Records a `policy_flag` entry (`reason`, `action`, `severity`, `data`). To get the chained
/// position back (for a pre-flight refusal), use [`AuditHandle::flag`](crate::AuditHandle::flag).
///
/// ```
/// acttrace::policy_flag!(reason = "card number in prompt", action = "blocked",
///     severity = "critical", data = "credit_card");
/// ```
#[macro_export]
macro_rules! policy_flag {
    ($($fields:tt)*) => {
        $crate::__audit_event!("policy_flag"; $($fields)*)
    };
}

/// Records a `cost` entry for anything that costs money outside a model call (embeddings, a
/// paid API). Write amounts as exact decimal strings, not floats.
///
/// ```
/// acttrace::cost!(item = "embeddings", amount = "0.000130", currency = "USD");
/// ```
#[macro_export]
macro_rules! cost {
    ($($fields:tt)*) => {
        $crate::__audit_event!("cost"; $($fields)*)
    };
}

/// Records a `context_assembly` entry: what went into a prompt (sources, document ids, token
/// counts).
///
/// ```
/// acttrace::context!(sources = "policy.md,faq.md", tokens = 1840u64);
/// ```
#[macro_export]
macro_rules! context {
    ($($fields:tt)*) => {
        $crate::__audit_event!("context"; $($fields)*)
    };
}
