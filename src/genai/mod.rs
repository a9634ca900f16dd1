//! Capture of OpenTelemetry GenAI spans: model, tool, agent, guardrail and retrieval calls that
//! LLM client crates already describe with `gen_ai.*` tracing fields become chain entries with
//! no per-call wiring.
//!
//! The [`crate::AuditLayer`] treats any span with a `gen_ai.*` field as a GenAI operation. It
//! gathers every field the span carries at creation and every value recorded on it later
//! (clients declare usage fields `Empty` and record them when the response arrives), and turns
//! the span into one entry when it closes:
//!
//! | `gen_ai.operation.name` | entry type |
//! |---|---|
//! | `chat`, `text_completion`, `generate_content`, `embeddings` | `llm_call` |
//! | `execute_tool` | `tool_call` |
//! | `invoke_agent`, `create_agent` | `agent_invocation` |
//! | `apply_guardrail` (or any `gen_ai.guardrail.*` field) | `guardrail_decision`, plus a `policy_flag` when the guardrail intervened |
//! | `retrieval` | `context_assembly` |
//!
//! The mapping follows the OpenTelemetry semantic conventions for GenAI, version
//! [`SEMCONV_VERSION`], and accepts the deprecated names as aliases (`gen_ai.system`,
//! `gen_ai.usage.prompt_tokens`/`completion_tokens`, `gen_ai.prompt`/`gen_ai.completion`).
//! Fields it does not map are kept verbatim under `attributes`. An `llm_call` that reports
//! tokens but no cost is priced from a [`PriceTable`] as an exact decimal.
//!
//! Prompts, responses, system instructions and tool arguments and results are content: what
//! the entry keeps of them is set by a [`ContentCapture`] mode (see [`GenAiCapture`]). Redaction
//! runs on content first, whatever the mode, so a secret sent to a model is flagged even when
//! the prompt itself is not kept.
//!
//! Events with `gen_ai.*` fields inside a GenAI span add their fields to that span; elsewhere
//! each becomes an entry of its own. A GenAI span or event with no decision above it (a task
//! spawned without its span context, say) cannot be attributed: it is recorded with
//! `decision_id: null` and counted in [`crate::Status::gen_ai_orphans`].

mod config;
mod cost;
mod mapping;
mod prices;
mod proof;

pub use config::{ContentCapture, GenAiCapture};
pub(crate) use cost::{CurrencyTotals, price_explicit_call};
pub(crate) use mapping::{
    ContentField, Mapped, captured_content, is_genai_field, is_repeatable, map,
    take_decision_content,
};
pub use prices::{
    Cost, Decimal, PRICE_FORMAT, PriceTable, PriceTableError, Rates, TokenUsage, Unpriced,
};
pub use proof::{ContentProof, ProofError, prove_content};

/// The version of the OpenTelemetry semantic conventions for GenAI that the mapping follows,
/// recorded in every entry made from a GenAI span (`semconv`).
pub const SEMCONV_VERSION: &str = "1.41.0 + semantic-conventions-genai drafts 2026-11";

/// The log's own ids for a GenAI span and the nearest GenAI span above it, so entries of one
/// agent run can be grouped even when no decision is above them (span ids are unique per log
/// run; the registry's own ids are reused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpanIds {
    pub(crate) span: Option<u64>,
    pub(crate) parent: Option<u64>,
}
