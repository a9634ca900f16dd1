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
//! | `rerank`, `transcription`, `image_generation`, `audio_generation` | `llm_call` with token usage, else `model_call` |
//! | `fetch_response` | `model_call` |
//! | `execute_tool` | `tool_call` |
//! | `invoke_agent`, `handle_conversation_turn`, `plan` | `agent_invocation` |
//! | `create_agent` | `agent_creation` |
//! | `invoke_workflow` | `workflow_invocation` |
//! | `apply_guardrail`, `run_guardrail` (or any `gen_ai.guardrail.*` field) | `guardrail_decision`, plus a `policy_flag` when the guardrail intervened |
//! | `retrieval`, `search_memory` | `context_assembly` |
//! | the other memory operations | `memory_operation` |
//! | `evaluate` (or any `gen_ai.evaluation.*` field) | `evaluation` |
//! | any other | `llm_call` with a model and token usage, else `genai_operation` |
//!
//! Only `llm_call` entries count in a decision's totals, each response id once. The mapping
//! follows the basis [`SEMCONV_VERSION`] names: the OpenTelemetry semantic conventions 1.41.0
//! and the GenAI drafts that moved to `open-telemetry/semantic-conventions-genai` (which name
//! comes from where is listed in docs/FORMAT.md, section 5.1). It accepts deprecated and
//! earlier-draft names as aliases (`gen_ai.system`, `gen_ai.usage.prompt_tokens`/
//! `completion_tokens`, `gen_ai.prompt`/`gen_ai.completion`, `cache_creation.input_tokens`,
//! the guardrail `verdict`/`action`). Fields it does not map are kept verbatim under
//! `attributes`. An `llm_call` that reports tokens but no cost is priced from a [`PriceTable`]
//! as an exact decimal, unless it reports audio, image or video tokens (the table has text
//! rates only).
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

/// The basis of the GenAI mapping, recorded in every entry made from a GenAI span (`semconv`):
/// the OpenTelemetry semantic conventions 1.41.0 (the last core release with the GenAI
/// conventions) plus the `open-telemetry/semantic-conventions-genai` drafts as followed in
/// 2026-11. Entries written before said `1.40.0`.
pub const SEMCONV_VERSION: &str = "1.41.0 + semantic-conventions-genai drafts 2026-11";

/// The log's own ids for a GenAI span and the nearest GenAI span above it, so entries of one
/// agent run can be grouped even when no decision is above them (span ids are unique per log
/// run; the registry's own ids are reused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpanIds {
    pub(crate) span: Option<u64>,
    pub(crate) parent: Option<u64>,
}
