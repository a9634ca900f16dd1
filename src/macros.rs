//! Macros that emit audit events, so callers need remember neither the event names nor the
//! `audit.kind` field. Each expands to `tracing::event!(name: "...", Level::INFO, fields...)`
//! and takes the same field syntax (`key = value`, `key = ?debug`, `key = %display`, dotted
//! keys), so the fields arrive as typed values, not as formatted text.

/// Records an `llm_call` entry. Token counts (`input_tokens`, `output_tokens`, `cached_tokens`,
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
        $crate::__tracing::event!(name: "llm.call", $crate::__tracing::Level::INFO, $($fields)*)
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
        $crate::__tracing::event!(name: "tool.call", $crate::__tracing::Level::INFO, $($fields)*)
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
        $crate::__tracing::event!(name: "oversight", $crate::__tracing::Level::INFO, $($fields)*)
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
        $crate::__tracing::event!(name: "policy_flag", $crate::__tracing::Level::INFO, $($fields)*)
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
        $crate::__tracing::event!(name: "cost", $crate::__tracing::Level::INFO, $($fields)*)
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
        $crate::__tracing::event!(name: "context", $crate::__tracing::Level::INFO, $($fields)*)
    };
}
