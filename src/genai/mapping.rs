//! The OpenTelemetry GenAI semantic-convention mapping: where each `gen_ai.*` field goes, the
//! entry type of an operation, finish reasons, guardrail interventions, and the content fields
//! (prompts, responses, tool input/output) set aside for their capture mode.

use std::borrow::Cow;
use std::time::Duration;

use super::cost::{cost_of, unpriced_cost};
use super::{ContentCapture, GenAiCapture, SEMCONV_VERSION, SpanIds};
use crate::json::{self, Value};
use crate::record::{FieldValue, Fields};

/// The prefix that marks a GenAI field.
const PREFIX: &str = "gen_ai.";

/// Whether a field name is a GenAI field.
pub(crate) fn is_genai_field(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// A content field of a mapped record, awaiting redaction and its capture mode.
pub(crate) struct ContentField {
    pub(crate) key: &'static str,
    pub(crate) value: Value,
    pub(crate) mode: ContentCapture,
}

/// A GenAI span or event turned into the parts of an entry.
pub(crate) struct Mapped {
    pub(crate) kind: &'static str,
    /// Payload fields (redacted with the rest of the payload when sealed).
    pub(crate) fields: Vec<(String, Value)>,
    /// Content fields, handled per [`ContentCapture`] mode before sealing.
    pub(crate) content: Vec<ContentField>,
    /// Fields appended after redaction, unscanned (the model endpoint).
    pub(crate) unscanned: Vec<(String, Value)>,
    /// The `policy_flag` payload fields to chain after the entry when a guardrail intervened.
    pub(crate) guardrail_flag: Option<Vec<(String, Value)>>,
}

/// Where a known GenAI field goes.
enum Slot {
    Operation,
    Provider,
    RequestModel,
    ResponseModel,
    Usage(&'static str),
    /// Token counts of a non-text modality (audio, image, video): kept under `usage`; a
    /// non-zero count leaves the call unpriced (the price table has text-token rates only).
    ModalityUsage(&'static str),
    Content(&'static str, ContentKind),
    Named(&'static str),
    FinishReasons,
    Guardrail(&'static str),
    /// A `gen_ai.evaluation.*` field: an evaluation result; repeated results are all kept.
    Evaluation(&'static str),
    ReportedCost,
    /// `server.address`/`server.port`: the model endpoint, kept unscanned under `server` (an
    /// endpoint's address is not personal data, and flagging every call to a local model as an
    /// IP address would drown real findings).
    Server(&'static str),
    /// Tracing-to-OpenTelemetry bridge fields that repeat what the entry already says.
    Dropped,
}

#[derive(Clone, Copy)]
enum ContentKind {
    Message,
    ToolIo,
}

/// The known fields, current names and aliases alike. Which convention each name comes from
/// is listed in docs/FORMAT.md, section 5.1.
fn slot(name: &str) -> Option<Slot> {
    use ContentKind::{Message, ToolIo};
    Some(match name {
        "gen_ai.operation.name" => Slot::Operation,
        "gen_ai.provider.name" | "gen_ai.system" => Slot::Provider,
        "gen_ai.request.model" => Slot::RequestModel,
        "gen_ai.response.model" => Slot::ResponseModel,
        "gen_ai.response.id" => Slot::Named("response_id"),
        "gen_ai.response.finish_reasons" => Slot::FinishReasons,
        "gen_ai.usage.input_tokens" | "gen_ai.usage.prompt_tokens" => Slot::Usage("input_tokens"),
        "gen_ai.usage.output_tokens" | "gen_ai.usage.completion_tokens" => {
            Slot::Usage("output_tokens")
        }
        "gen_ai.usage.cache_read.input_tokens"
        | "gen_ai.usage.cache_read_input_tokens"
        | "gen_ai.usage.input_tokens.cached" => Slot::Usage("cached_tokens"),
        // Issue 17 item 1: `cache_write` is the current name, `cache_creation` the earlier one.
        "gen_ai.usage.cache_write.input_tokens"
        | "gen_ai.usage.cache_creation.input_tokens"
        | "gen_ai.usage.cache_creation_input_tokens"
        | "gen_ai.usage.input_tokens.cache_write" => Slot::Usage("cache_write"),
        "gen_ai.usage.reasoning.output_tokens" | "gen_ai.usage.reasoning_tokens" => {
            Slot::Usage("reasoning_tokens")
        }
        "gen_ai.usage.total_tokens" => Slot::Usage("total_tokens"),
        "gen_ai.usage.tool_use_prompt_tokens" => Slot::Usage("tool_use_prompt_tokens"),
        "gen_ai.usage.audio.input_tokens"
        | "gen_ai.usage.input_tokens.audio"
        | "gen_ai.usage.input_audio_tokens" => Slot::ModalityUsage("audio_input_tokens"),
        "gen_ai.usage.audio.output_tokens"
        | "gen_ai.usage.output_tokens.audio"
        | "gen_ai.usage.output_audio_tokens" => Slot::ModalityUsage("audio_output_tokens"),
        "gen_ai.usage.image.input_tokens"
        | "gen_ai.usage.input_tokens.image"
        | "gen_ai.usage.input_image_tokens" => Slot::ModalityUsage("image_input_tokens"),
        "gen_ai.usage.image.output_tokens"
        | "gen_ai.usage.output_tokens.image"
        | "gen_ai.usage.output_image_tokens" => Slot::ModalityUsage("image_output_tokens"),
        "gen_ai.usage.video.input_tokens" | "gen_ai.usage.input_tokens.video" => {
            Slot::ModalityUsage("video_input_tokens")
        }
        "gen_ai.usage.cost" => Slot::ReportedCost,
        "gen_ai.input.messages" | "gen_ai.prompt" => Slot::Content("input_messages", Message),
        "gen_ai.output.messages" | "gen_ai.completion" => Slot::Content("output_messages", Message),
        "gen_ai.system_instructions" => Slot::Content("system_instructions", Message),
        // Issue 17 item 4: what a retrieval, a memory search, a prompt template or a guardrail
        // saw is content, under the messages mode.
        "gen_ai.retrieval.query.text" | "gen_ai.retrieval.query" => {
            Slot::Content("retrieval_query", Message)
        }
        "gen_ai.retrieval.documents" => Slot::Content("retrieval_documents", Message),
        "gen_ai.memory.query" | "gen_ai.memory.query.text" => {
            Slot::Content("memory_query", Message)
        }
        "gen_ai.memory.records" | "gen_ai.memory.content" => {
            Slot::Content("memory_records", Message)
        }
        "gen_ai.prompt.variables" => Slot::Content("prompt_variables", Message),
        "gen_ai.guardrail.content" | "gen_ai.guardrail.input" | "gen_ai.guardrail.output" => {
            Slot::Content("guardrail_content", Message)
        }
        "gen_ai.tool.call.arguments" => Slot::Content("arguments", ToolIo),
        "gen_ai.tool.call.result" => Slot::Content("result", ToolIo),
        // Template ids, not content (issue 17 item 4).
        "gen_ai.prompt.name" => Slot::Named("prompt_name"),
        "gen_ai.prompt.version" => Slot::Named("prompt_version"),
        "gen_ai.prompt.id" => Slot::Named("prompt_id"),
        "gen_ai.tool.name" => Slot::Named("name"),
        "gen_ai.tool.call.id" => Slot::Named("call_id"),
        "gen_ai.tool.type" => Slot::Named("tool_type"),
        "gen_ai.tool.description" => Slot::Named("tool_description"),
        "gen_ai.agent.name" => Slot::Named("agent_name"),
        "gen_ai.agent.id" => Slot::Named("agent_id"),
        "gen_ai.agent.description" => Slot::Named("agent_description"),
        // Issue 17 item 6.
        "gen_ai.agent.version" => Slot::Named("agent_version"),
        "gen_ai.workflow.name" => Slot::Named("workflow_name"),
        "gen_ai.request.previous_response.id" | "gen_ai.request.previous_response_id" => {
            Slot::Named("previous_response_id")
        }
        "gen_ai.request.reasoning.level" | "gen_ai.request.reasoning.effort" => {
            Slot::Named("reasoning_level")
        }
        "gen_ai.request.stream" => Slot::Named("stream"),
        "gen_ai.conversation.id" => Slot::Named("conversation_id"),
        "gen_ai.data_source.id" => Slot::Named("data_source_id"),
        "gen_ai.output.type" => Slot::Named("output_type"),
        "gen_ai.memory.store.id" => Slot::Named("memory_store_id"),
        "gen_ai.memory.store.name" => Slot::Named("memory_store_name"),
        "gen_ai.memory.id" => Slot::Named("memory_id"),
        "error.type" | "gen_ai.tool.error.type" => Slot::Named("error_type"),
        // An exception's message is an error text, not a prompt (issue 17 item 4).
        "exception.type" => Slot::Named("exception_type"),
        "exception.message" => Slot::Named("exception_message"),
        "otel.status_code" => Slot::Named("status"),
        "gen_ai.tool.call.outcome" => Slot::Named("tool_outcome"),
        "rig.provider_request_id" => Slot::Named("provider_request_id"),
        "server.address" => Slot::Server("address"),
        "server.port" => Slot::Server("port"),
        "otel.name" | "otel.kind" => Slot::Dropped,
        // Guardrails (issue 17 item 2): the current draft's names, the earlier draft's
        // `verdict`/`action`, and acttrace's own earlier names as aliases.
        "gen_ai.guardrail.name" => Slot::Guardrail("guardrail"),
        "gen_ai.guardrail.id" => Slot::Guardrail("guardrail_id"),
        "gen_ai.guardrail.component.name" => Slot::Guardrail("guardrail_component"),
        "gen_ai.guardrail.policy.id" => Slot::Guardrail("policy_id"),
        "gen_ai.guardrail.policy.version" => Slot::Guardrail("policy_version"),
        "gen_ai.guardrail.policy.rule.id" => Slot::Guardrail("policy_rule_id"),
        "gen_ai.guardrail.result.type" => Slot::Guardrail("result_type"),
        "gen_ai.guardrail.result.value" => Slot::Guardrail("result_value"),
        "gen_ai.guardrail.source" => Slot::Guardrail("guardrail_source"),
        "gen_ai.guardrail.risk.category" => Slot::Guardrail("risk_category"),
        "gen_ai.guardrail.risk.score" => Slot::Guardrail("risk_score"),
        "gen_ai.guardrail.verdict.type" => Slot::Guardrail("verdict_type"),
        "gen_ai.guardrail.action.type" => Slot::Guardrail("action_type"),
        "gen_ai.guardrail.decision" | "gen_ai.guardrail.action" | "gen_ai.guardrail.outcome" => {
            Slot::Guardrail("decision")
        }
        "gen_ai.guardrail.result.reason"
        | "gen_ai.guardrail.verdict.reason"
        | "gen_ai.guardrail.reason" => Slot::Guardrail("reason"),
        "gen_ai.evaluation.name" => Slot::Evaluation("evaluation_name"),
        "gen_ai.evaluation.score.value" => Slot::Evaluation("score_value"),
        "gen_ai.evaluation.score.label" => Slot::Evaluation("score_label"),
        "gen_ai.evaluation.result" => Slot::Evaluation("evaluation_result"),
        "gen_ai.evaluation.explanation" => Slot::Content("evaluation_explanation", Message),
        _ => return None,
    })
}

/// Whether a field keeps every value an event inside its span records (evaluation and
/// guardrail results: one span may carry several), rather than the last one (issue 17 item 5).
pub(crate) fn is_repeatable(name: &str) -> bool {
    name.starts_with("gen_ai.evaluation.") || name.starts_with("gen_ai.guardrail.")
}

/// What an operation name says about the entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OpClass {
    /// Always this entry type.
    Fixed(&'static str),
    /// A model call on text: `llm_call`.
    Text,
    /// A model call that is not text generation (`rerank`, `transcription`, ...): an
    /// `llm_call` only when it reports token usage, else a `model_call`. `true` when its
    /// tokens are not text tokens, so the call is left unpriced.
    Model(bool),
}

/// The entry type for an operation name; `None` for an operation acttrace does not know.
fn kind_of_operation(op: &str) -> Option<OpClass> {
    use OpClass::{Fixed, Model, Text};
    Some(match op {
        "chat" | "text_completion" | "generate_content" | "embeddings" | "completion"
        | "embedding" | "create_response" => Text,
        "rerank" => Model(false),
        "transcription" | "image_generation" | "audio_generation" | "speech"
        | "video_generation" => Model(true),
        // Fetches a stored response: no model is run, no usage is billed.
        "fetch_response" => Fixed("model_call"),
        "execute_tool" => Fixed("tool_call"),
        "invoke_agent" | "handle_conversation_turn" | "plan" => Fixed("agent_invocation"),
        // Creating an agent invokes nothing.
        "create_agent" => Fixed("agent_creation"),
        "invoke_workflow" => Fixed("workflow_invocation"),
        "apply_guardrail" | "run_guardrail" => Fixed("guardrail_decision"),
        "retrieval" | "search_memory" => Fixed("context_assembly"),
        "evaluate" | "evaluation" => Fixed("evaluation"),
        "create_memory_store"
        | "delete_memory_store"
        | "update_memory"
        | "delete_memory"
        | "add_memory"
        | "create_memory"
        | "store_memory"
        | "get_memory" => Fixed("memory_operation"),
        _ => return None,
    })
}

/// Guardrail decisions that count as an intervention, and the flag verb and severity each
/// records.
fn intervention(decision: &str) -> Option<(&'static str, &'static str)> {
    Some(match decision.to_ascii_lowercase().as_str() {
        "block" | "blocked" | "deny" | "denied" | "reject" | "rejected" | "refuse" | "refused" => {
            ("blocked", "critical")
        }
        "intervene" | "intervened" | "modify" | "modified" | "redact" | "redacted" | "mask"
        | "masked" | "rewrite" | "rewritten" => ("redacted", "warning"),
        "flag" | "flagged" | "warn" | "warned" | "warning" => ("flagged", "info"),
        _ => return None,
    })
}

/// Finish reasons arrive as a JSON array text, a debug-formatted list or a single string.
fn finish_reasons(value: FieldValue) -> Value {
    match value {
        FieldValue::Str(s) => {
            // Only a flat array of strings is taken as structure: a nested value from a
            // provider (or a proxy) must not deepen the entry past what verifiers parse.
            if let Ok(Value::Array(items)) = json::parse(&s)
                && items.iter().all(|i| matches!(i, Value::String(_)))
            {
                return Value::Array(items);
            }
            let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
            Value::Array(
                inner
                    .split(',')
                    .map(|p| p.trim().trim_matches('"'))
                    .filter(|p| !p.is_empty())
                    .map(Value::from)
                    .collect(),
            )
        }
        FieldValue::Json(v @ Value::Array(_)) => v,
        other => Value::Array(vec![other.into_value()]),
    }
}

/// Whether a field that is not mapped by name still holds prompt or response text, and so falls
/// under the messages capture mode rather than `attributes`: the indexed names of older
/// instrumentations (`gen_ai.prompt.0.content`, `gen_ai.completion.0.content`) and any
/// `*.content`, `*.messages` or `*.message` field, and an event's formatted `message`.
fn is_message_content(name: &str) -> bool {
    name == "message"
        || name.starts_with("gen_ai.prompt.")
        || name.starts_with("gen_ai.completion.")
        || name.ends_with(".content")
        || name.ends_with(".messages")
        || name.ends_with(".message")
}

/// Takes the GenAI content fields (prompts, responses, tool input/output) out of a decision
/// span's fields, with the capture mode each falls under: a decision span that also carries
/// them must not keep what the same fields on a GenAI span would not.
pub(crate) fn take_decision_content(
    fields: &mut Fields,
    capture: &GenAiCapture,
) -> Vec<ContentField> {
    let mut content = Vec::new();
    fields.retain(|(name, value)| {
        if !name.starts_with(PREFIX) {
            return true;
        }
        let mode = match slot(name) {
            Some(Slot::Content(_, ContentKind::ToolIo)) => capture.tool_io_mode(),
            Some(Slot::Content(_, ContentKind::Message)) => capture.messages_mode(),
            None if is_message_content(name) => capture.messages_mode(),
            _ => return true,
        };
        content.push(ContentField {
            key: name,
            value: value.clone().into_value(),
            mode,
        });
        false
    });
    content
}

/// Whether a `server.*` value is a bare endpoint (a host name or IP address, a port number)
/// that can be kept unscanned.
fn plain_endpoint(key: &str, value: &FieldValue) -> bool {
    match (key, value) {
        ("port", FieldValue::I64(n)) => (0..=65_535).contains(n),
        ("port", FieldValue::U64(n)) => *n <= 65_535,
        ("address", FieldValue::Str(s)) => {
            !s.is_empty()
                && s.len() <= 255
                && s.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        }
        _ => false,
    }
}

/// A token count from a field, accepting integers, integral floats and digit strings.
fn token_count(value: &FieldValue) -> Option<u64> {
    match value {
        FieldValue::U64(n) => Some(*n),
        FieldValue::I64(n) => u64::try_from(*n).ok(),
        FieldValue::U128(n) => u64::try_from(*n).ok(),
        FieldValue::I128(n) => u64::try_from(*n).ok(),
        FieldValue::F64(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19 => Some(*f as u64),
        FieldValue::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Appends a repeated field's value: every value is kept, in order.
fn push_all<K: PartialEq>(list: &mut Vec<(K, Vec<Value>)>, key: K, value: Value) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1.push(value),
        None => list.push((key, vec![value])),
    }
}

/// One value as itself, several as a list.
fn one_or_list(mut values: Vec<Value>) -> Value {
    if values.len() == 1 {
        values.remove(0)
    } else {
        Value::Array(values)
    }
}

/// Maps the accumulated fields of a GenAI span (or one event) to an entry.
pub(crate) fn map(
    span_name: &str,
    spans: SpanIds,
    fields: Fields,
    duration: Option<Duration>,
    capture: &GenAiCapture,
) -> Mapped {
    let mut operation: Option<String> = None;
    let mut provider: Option<Value> = None;
    let mut request_model: Option<String> = None;
    let mut response_model: Option<String> = None;
    let mut usage: Vec<(&'static str, Value)> = Vec::new();
    let mut tokens: Vec<(&'static str, u64)> = Vec::new();
    let mut bad_tokens: Vec<&'static str> = Vec::new();
    let mut non_text: Vec<&'static str> = Vec::new();
    let mut named: Vec<(&'static str, Value)> = Vec::new();
    let mut guardrail: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut evaluation: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut content: Vec<ContentField> = Vec::new();
    let mut repeated_content: Vec<((&'static str, ContentCapture), Vec<Value>)> = Vec::new();
    let mut attributes: Vec<(String, Value)> = Vec::new();
    let mut reported_cost: Option<Value> = None;
    let mut server: Vec<(&'static str, Value)> = Vec::new();

    // Later values of a field replace earlier ones (a span may record a field twice).
    fn set<K: AsRef<str>>(list: &mut Vec<(K, Value)>, key: K, value: Value) {
        json::set_member(list, key, value);
    }

    for (name, value) in fields {
        let text = |v: &FieldValue| match v {
            FieldValue::Str(s) => s.to_string(),
            other => other.clone().into_value().to_string(),
        };
        match slot(name) {
            Some(Slot::Operation) => operation = Some(text(&value)),
            Some(Slot::Provider) => provider = Some(value.into_value()),
            Some(Slot::RequestModel) => request_model = Some(text(&value)),
            Some(Slot::ResponseModel) => response_model = Some(text(&value)),
            Some(Slot::Usage(key)) => {
                tokens.retain(|(k, _)| *k != key);
                bad_tokens.retain(|k| *k != key);
                if let Some(n) = token_count(&value) {
                    tokens.push((key, n));
                    set(&mut usage, key, Value::from(n));
                } else {
                    bad_tokens.push(key);
                    set(&mut usage, key, value.into_value());
                }
            }
            Some(Slot::ModalityUsage(key)) => {
                non_text.retain(|k| *k != key);
                // Providers report `0` audio tokens on every text call: only a count above
                // zero (or one that is not a count) says the call was not text only.
                if token_count(&value) != Some(0) {
                    non_text.push(key);
                }
                let v = token_count(&value).map_or_else(|| value.into_value(), Value::from);
                set(&mut usage, key, v);
            }
            Some(Slot::Content(key, kind)) => {
                let mode = match kind {
                    ContentKind::Message => capture.messages_mode(),
                    ContentKind::ToolIo => capture.tool_io_mode(),
                };
                let value = value.into_value();
                if is_repeatable(name) {
                    // Evaluation explanations repeat with their results (issue 17 item 5).
                    push_all(&mut repeated_content, (key, mode), value);
                } else {
                    content.retain(|c| c.key != key);
                    content.push(ContentField { key, value, mode });
                }
            }
            Some(Slot::Named(key)) => set(&mut named, key, value.into_value()),
            Some(Slot::FinishReasons) => set(&mut named, "finish_reasons", finish_reasons(value)),
            Some(Slot::Guardrail(key)) => push_all(&mut guardrail, key, value.into_value()),
            Some(Slot::Evaluation(key)) => push_all(&mut evaluation, key, value.into_value()),
            Some(Slot::ReportedCost) => reported_cost = Some(value.into_value()),
            Some(Slot::Server(key)) if plain_endpoint(key, &value) => {
                set(&mut server, key, value.into_value())
            }
            // An endpoint with more than a host or a port in it (credentials in a URL, say) is
            // an ordinary field: it goes through redaction.
            Some(Slot::Server(_)) => set(&mut attributes, name.to_owned(), value.into_value()),
            Some(Slot::Dropped) => {}
            None if is_message_content(name) => {
                content.retain(|c| c.key != name);
                content.push(ContentField {
                    key: name,
                    value: value.into_value(),
                    mode: capture.messages_mode(),
                });
            }
            None => set(&mut attributes, name.to_owned(), value.into_value()),
        }
    }

    for ((key, mode), values) in repeated_content {
        content.push(ContentField {
            key,
            value: one_or_list(values),
            mode,
        });
    }
    let has_guardrail_fields = !guardrail.is_empty()
        || attributes
            .iter()
            .any(|(k, _)| k.starts_with("gen_ai.guardrail."));
    let has_evaluation_fields =
        !evaluation.is_empty() || content.iter().any(|c| c.key == "evaluation_explanation");
    let has_usage = !tokens.is_empty() || !bad_tokens.is_empty();
    let model = response_model.clone().or_else(|| request_model.clone());
    let class = match operation.as_deref() {
        Some(op) => kind_of_operation(op),
        None => kind_of_operation(span_name),
    };
    // Issue 17 item 3: an operation acttrace does not know is an `llm_call` only when it is a
    // model call with usage; a span without an operation name is inferred from its fields.
    let mut non_text_reason: Option<String> = None;
    let kind = match class {
        Some(OpClass::Fixed(kind)) => kind,
        Some(OpClass::Text) => "llm_call",
        Some(OpClass::Model(tokens_not_text)) => {
            if tokens_not_text {
                non_text_reason = Some(format!(
                    "{} tokens are not text tokens; the price table has text rates only",
                    operation.as_deref().unwrap_or(span_name)
                ));
            }
            if has_usage { "llm_call" } else { "model_call" }
        }
        None if operation.is_some() && has_usage && model.is_some() => "llm_call",
        None if operation.is_some() => "genai_operation",
        None if has_guardrail_fields => "guardrail_decision",
        None if has_evaluation_fields => "evaluation",
        None if named.iter().any(|(k, _)| *k == "name") => "tool_call",
        None if has_usage || model.is_some() => "llm_call",
        None => "genai_operation",
    };
    if non_text_reason.is_none()
        && let Some(key) = non_text.first()
    {
        non_text_reason = Some(format!(
            "usage.{key}: non-text tokens are priced apart; the price table has text rates only"
        ));
    }

    let mut out: Vec<(String, Value)> = Vec::new();
    let mut put = |k: &str, v: Value| out.push((k.to_owned(), v));
    put("source", Value::from("gen_ai"));
    put(
        "operation",
        operation.clone().map_or(Value::Null, Value::from),
    );
    put("span", Value::from(span_name));
    if let Some(id) = spans.span {
        put("span_id", Value::from(id));
    }
    if let Some(parent) = spans.parent {
        put("parent_span_id", Value::from(parent));
    }
    if let Some(p) = provider {
        put("provider", p);
    }
    if let Some(m) = &model {
        put("model", Value::from(m.as_str()));
    }
    if let Some(m) = &request_model {
        put("request_model", Value::from(m.as_str()));
    }
    if let Some(m) = &response_model {
        put("response_model", Value::from(m.as_str()));
    }
    for (k, v) in named {
        put(k, v);
    }
    if !usage.is_empty() {
        put(
            "usage",
            Value::Object(usage.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
        );
    }
    if kind == "llm_call" {
        let (cost, basis) = if let Some(bad) = bad_tokens.first() {
            unpriced_cost(
                capture.prices(),
                format!("usage.{bad} is not a token count"),
            )
        } else if let (Some(why), None) = (&non_text_reason, &reported_cost) {
            unpriced_cost(capture.prices(), why.clone())
        } else {
            cost_of(model.as_deref(), &tokens, reported_cost, capture.prices())
        };
        put("cost", cost);
        put("cost_basis", basis);
    } else if let Some(c) = reported_cost {
        put("cost", c);
    }
    if let Some(d) = duration {
        put("latency_ms", Value::from(d.as_micros() as f64 / 1000.0));
    }
    let guardrail_flag = guardrail_flag(&guardrail);
    for (k, v) in guardrail {
        put(k, one_or_list(v));
    }
    for (k, v) in evaluation {
        put(k, one_or_list(v));
    }
    if !attributes.is_empty() {
        put("attributes", Value::Object(attributes));
    }
    put("semconv", Value::from(SEMCONV_VERSION));
    let unscanned = if server.is_empty() {
        Vec::new()
    } else {
        let server = server.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        vec![("server".to_owned(), Value::Object(server))]
    };
    Mapped {
        kind,
        fields: out,
        content,
        unscanned,
        guardrail_flag,
    }
}

/// The fields that say what a guardrail did, most specific first: the earlier draft's
/// `action.type`, the current draft's `result.type`, the earlier draft's `verdict.type`, and
/// acttrace's own earlier alias. `result.value` is provider-native and is never read here.
const GUARDRAIL_OUTCOMES: [&str; 4] = ["action_type", "result_type", "verdict_type", "decision"];

/// The flag a guardrail's intervention chains after its entry: the most severe intervention
/// among its (possibly repeated) results, or `None` when none intervened.
fn guardrail_flag(guardrail: &[(&'static str, Vec<Value>)]) -> Option<Vec<(String, Value)>> {
    let all = |key: &str| -> Vec<&str> {
        guardrail
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, vs)| vs.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let rank = |severity: &str| match severity {
        "critical" => 2,
        "warning" => 1,
        _ => 0,
    };
    let mut found: Option<(&str, &'static str, &'static str)> = None;
    for key in GUARDRAIL_OUTCOMES {
        for decision in all(key) {
            if let Some((verb, severity)) = intervention(decision)
                && found.is_none_or(|(_, _, s)| rank(severity) > rank(s))
            {
                found = Some((decision, verb, severity));
            }
        }
    }
    let (decision, verb, severity) = found?;
    let first = |key: &str| all(key).first().copied();
    let name = first("guardrail")
        .or(first("guardrail_id"))
        .or(first("guardrail_component"))
        .unwrap_or("guardrail");
    let mut reason = format!("guardrail {name} {decision}");
    let reasons = all("reason");
    if !reasons.is_empty() {
        reason.push_str(": ");
        reason.push_str(&reasons.join("; "));
    }
    let mut flag = vec![
        ("reason".into(), Value::from(reason)),
        ("action".into(), Value::from(verb)),
        ("severity".into(), Value::from(severity)),
        ("data".into(), Value::Array(vec![Value::from(name)])),
        ("source".into(), Value::from("gen_ai.guardrail")),
    ];
    if let Some(policy) = first("policy_id") {
        flag.push(("policy_id".into(), Value::from(policy)));
    }
    Some(flag)
}

/// What an entry records for a content field after redaction, per its mode: `None` when the
/// field is left out.
pub(crate) fn captured_content(
    mode: ContentCapture,
    redacted: Value,
    capture: &GenAiCapture,
) -> Option<Value> {
    match mode {
        ContentCapture::None => None,
        ContentCapture::Redacted | ContentCapture::Full => Some(redacted),
        ContentCapture::Digest => {
            let text: Cow<'_, str> = match &redacted {
                Value::String(s) => Cow::Borrowed(s),
                other => Cow::Owned(json::to_canonical(other)),
            };
            let digest = capture.content_digest(&text)?;
            Some(Value::Object(vec![
                ("blake3_keyed".into(), Value::from(digest)),
                ("bytes".into(), Value::from(text.len() as u64)),
            ]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    fn s(v: &str) -> FieldValue {
        FieldValue::Str(v.into())
    }

    /// Maps fields with the default capture, as a span without ids or duration.
    fn mapped(name: &str, fields: Fields) -> Mapped {
        map(
            name,
            SpanIds::default(),
            fields,
            None,
            &GenAiCapture::default(),
        )
    }

    fn get<'a>(m: &'a Mapped, key: &str) -> Option<&'a Value> {
        m.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn chat_fields() -> Fields {
        vec![
            ("gen_ai.operation.name", s("chat")),
            ("gen_ai.provider.name", s("openai")),
            ("gen_ai.request.model", s("gpt-4o-mini")),
            ("gen_ai.response.model", s("gpt-4o-mini-2024-07-18")),
            ("gen_ai.response.id", s("chatcmpl-1")),
            ("gen_ai.response.finish_reasons", s("[\"stop\"]")),
            ("gen_ai.usage.input_tokens", FieldValue::U64(1_200)),
            ("gen_ai.usage.output_tokens", FieldValue::I64(300)),
            ("gen_ai.usage.cache_read.input_tokens", FieldValue::U64(200)),
            ("gen_ai.usage.reasoning.output_tokens", FieldValue::U64(20)),
            ("gen_ai.request.temperature", FieldValue::F64(0.2)),
            ("server.address", s("127.0.0.1")),
            ("server.port", FieldValue::I64(8080)),
            ("otel.name", s("chat gpt-4o-mini")),
            ("otel.status_code", s("ok")),
        ]
    }

    #[test]
    fn a_chat_span_maps_to_a_priced_llm_call() {
        let m = map(
            "chat",
            SpanIds::default(),
            chat_fields(),
            Some(Duration::from_micros(12_500)),
            &GenAiCapture::default(),
        );
        assert_eq!(m.kind, "llm_call");
        assert_eq!(get(&m, "provider"), Some(&Value::from("openai")));
        assert_eq!(
            get(&m, "model"),
            Some(&Value::from("gpt-4o-mini-2024-07-18"))
        );
        assert_eq!(get(&m, "request_model"), Some(&Value::from("gpt-4o-mini")));
        assert_eq!(get(&m, "response_id"), Some(&Value::from("chatcmpl-1")));
        assert_eq!(
            get(&m, "finish_reasons"),
            Some(&Value::Array(vec![Value::from("stop")]))
        );
        assert_eq!(
            json::to_canonical(get(&m, "usage").unwrap()),
            r#"{"cached_tokens":200,"input_tokens":1200,"output_tokens":300,"reasoning_tokens":20}"#
        );
        // 1000 × 0.15 + 200 × 0.075 + 300 × 0.6 per million
        assert_eq!(get(&m, "cost"), Some(&Value::from("0.000345 USD")));
        assert_eq!(
            json::to_canonical(get(&m, "cost_basis").unwrap()),
            r#"{"notes":["gpt-4o-mini-2024-07-18 is not in the table: priced as gpt-4o-mini (provider prefix, version or date removed)"],"priced_as":"gpt-4o-mini","prices":"2026-08-02","source":"price_table"}"#
        );
        assert_eq!(get(&m, "latency_ms"), Some(&Value::from(12.5)));
        assert_eq!(
            json::to_canonical(get(&m, "attributes").unwrap()),
            r#"{"gen_ai.request.temperature":0.2}"#
        );
        assert_eq!(get(&m, "status"), Some(&Value::from("ok")));
        assert_eq!(
            json::to_canonical(&Value::Object(m.unscanned.clone())),
            r#"{"server":{"address":"127.0.0.1","port":8080}}"#
        );
        assert_eq!(get(&m, "semconv"), Some(&Value::from(SEMCONV_VERSION)));
        assert!(m.guardrail_flag.is_none());
    }

    #[test]
    fn deprecated_names_are_aliases() {
        let fields = vec![
            ("gen_ai.system", s("openai")),
            ("gen_ai.request.model", s("gpt-4o")),
            ("gen_ai.usage.prompt_tokens", FieldValue::U64(1_000)),
            ("gen_ai.usage.completion_tokens", FieldValue::U64(500)),
            ("gen_ai.prompt", s("hello")),
            ("gen_ai.completion", s("hi")),
        ];
        let m = mapped("openai.chat", fields);
        // No operation name: a model call is inferred.
        assert_eq!(m.kind, "llm_call");
        assert_eq!(get(&m, "provider"), Some(&Value::from("openai")));
        assert_eq!(get(&m, "cost"), Some(&Value::from("0.0075 USD")));
        let keys: Vec<_> = m.content.iter().map(|c| c.key).collect();
        assert_eq!(keys, ["input_messages", "output_messages"]);
        assert!(m.content.iter().all(|c| c.mode == ContentCapture::None));
    }

    #[test]
    fn unknown_models_and_missing_usage_cost_null_with_a_reason() {
        let fields = vec![
            ("gen_ai.operation.name", s("chat")),
            ("gen_ai.request.model", s("in-house-llm-7b")),
            ("gen_ai.usage.input_tokens", FieldValue::U64(10)),
        ];
        let m = mapped("chat", fields);
        assert_eq!(get(&m, "cost"), Some(&Value::Null));
        let reason = get(&m, "cost_basis").unwrap().get("reason").unwrap();
        assert_eq!(
            reason.as_str(),
            Some("model \"in-house-llm-7b\" is not in price table 2026-08-02")
        );
        let no_usage = vec![
            ("gen_ai.operation.name", s("chat")),
            ("gen_ai.request.model", s("gpt-4o")),
        ];
        let m = mapped("chat", no_usage);
        let reason = get(&m, "cost_basis").unwrap().get("reason").unwrap();
        assert_eq!(reason.as_str(), Some("the call reported no token usage"));
    }

    #[test]
    fn a_reported_cost_wins_over_the_table() {
        let mut fields = chat_fields();
        fields.push(("gen_ai.usage.cost", FieldValue::F64(0.0123)));
        let m = mapped("chat", fields);
        assert_eq!(get(&m, "cost"), Some(&Value::from("0.0123 USD")));
    }

    #[test]
    fn operations_map_to_entry_types() {
        for (op, kind) in [
            ("chat", "llm_call"),
            ("text_completion", "llm_call"),
            ("generate_content", "llm_call"),
            ("embeddings", "llm_call"),
            ("execute_tool", "tool_call"),
            ("invoke_agent", "agent_invocation"),
            ("apply_guardrail", "guardrail_decision"),
            ("retrieval", "context_assembly"),
        ] {
            let m = mapped("span", vec![("gen_ai.operation.name", s(op))]);
            assert_eq!(m.kind, kind, "{op}");
        }
    }

    /// Issue 17 item 3: operations that are not model calls never become `llm_call`; model
    /// operations that are not text generation are `llm_call` only with usage.
    #[test]
    fn issue17_item3_unknown_operations_are_not_llm_calls() {
        for (op, kind) in [
            ("create_agent", "agent_creation"),
            ("invoke_workflow", "workflow_invocation"),
            ("handle_conversation_turn", "agent_invocation"),
            ("plan", "agent_invocation"),
            ("search_memory", "context_assembly"),
            ("update_memory", "memory_operation"),
            ("delete_memory", "memory_operation"),
            ("create_memory_store", "memory_operation"),
            ("fetch_response", "model_call"),
            ("run_guardrail", "guardrail_decision"),
            ("rerank", "model_call"),
            ("transcription", "model_call"),
            ("image_generation", "model_call"),
            ("audio_generation", "model_call"),
            ("something_new", "genai_operation"),
        ] {
            let m = mapped(
                "span",
                vec![
                    ("gen_ai.operation.name", s(op)),
                    ("gen_ai.request.model", s("gpt-4o")),
                ],
            );
            assert_eq!(m.kind, kind, "{op}");
            assert!(get(&m, "cost_basis").is_none(), "{op} is not priced");
        }
        // With usage, a model operation is a model call; an unknown one with a model too.
        let with_usage = |op: &str| {
            mapped(
                "span",
                vec![
                    ("gen_ai.operation.name", s(op)),
                    ("gen_ai.request.model", s("gpt-4o")),
                    ("gen_ai.usage.input_tokens", FieldValue::U64(1_000)),
                ],
            )
        };
        assert_eq!(with_usage("rerank").kind, "llm_call");
        assert_eq!(
            get(&with_usage("rerank"), "cost"),
            Some(&Value::from("0.0025 USD"))
        );
        assert_eq!(with_usage("speech_to_speech").kind, "llm_call");
        assert_eq!(with_usage("fetch_response").kind, "model_call");
        assert_eq!(with_usage("invoke_workflow").kind, "workflow_invocation");
        // Audio and image tokens are not priced at text rates (issue 17 item 6).
        let t = with_usage("transcription");
        assert_eq!(t.kind, "llm_call");
        assert_eq!(get(&t, "cost"), Some(&Value::Null));
        let reason = get(&t, "cost_basis").unwrap().get("reason").unwrap();
        assert_eq!(
            reason.as_str(),
            Some("transcription tokens are not text tokens; the price table has text rates only")
        );
        // genai's evaluation span has no operation name: its fields say what it is.
        let eval = mapped(
            "genai.evaluation.result",
            vec![
                ("gen_ai.evaluation.name", s("Relevance")),
                ("gen_ai.evaluation.score.value", FieldValue::F64(4.0)),
                ("gen_ai.response.id", s("chatcmpl-1")),
            ],
        );
        assert_eq!(eval.kind, "evaluation");
        assert_eq!(
            get(&eval, "evaluation_name"),
            Some(&Value::from("Relevance"))
        );
        assert_eq!(get(&eval, "score_value"), Some(&Value::from(4.0)));
    }

    /// Issue 17 item 1: the current cache-write name prices at the cache-write rate.
    #[test]
    fn issue17_item1_cache_write_is_priced_as_a_cache_write() {
        let call = |name: &'static str| {
            mapped(
                "chat",
                vec![
                    ("gen_ai.operation.name", s("chat")),
                    ("gen_ai.request.model", s("claude-sonnet-4-5")),
                    ("gen_ai.usage.input_tokens", FieldValue::U64(10_000)),
                    ("gen_ai.usage.output_tokens", FieldValue::U64(0)),
                    (name, FieldValue::U64(10_000)),
                ],
            )
        };
        let current = call("gen_ai.usage.cache_write.input_tokens");
        let alias = call("gen_ai.usage.cache_creation.input_tokens");
        assert_eq!(
            json::to_canonical(get(&current, "usage").unwrap()),
            r#"{"cache_write":10000,"input_tokens":10000,"output_tokens":0}"#
        );
        assert!(get(&current, "attributes").is_none());
        assert_eq!(get(&current, "cost"), get(&alias, "cost"));
        let table = crate::genai::PriceTable::embedded();
        let (_, rates) = table.resolve("claude-sonnet-4-5").unwrap();
        assert_ne!(rates.cache_write, Some(rates.input), "distinct rates");
        let priced = |cache_creation: u64| {
            let usage = crate::genai::TokenUsage {
                input: 10_000,
                cache_creation,
                ..Default::default()
            };
            let cost = table.cost("claude-sonnet-4-5", &usage).unwrap();
            Value::from(format!("{} USD", cost.amount))
        };
        assert_eq!(get(&current, "cost"), Some(&priced(10_000)));
        assert_ne!(
            get(&current, "cost"),
            Some(&priced(0)),
            "not the input rate"
        );
    }

    /// Issue 17 items 4 and 6: template ids and exception messages are named fields; retrieval,
    /// memory, prompt variables and guardrail content fall under the messages mode.
    #[test]
    fn issue17_item4_ids_are_named_and_content_is_captured() {
        let fields = vec![
            ("gen_ai.operation.name", s("retrieval")),
            ("gen_ai.prompt.name", s("refund-answer")),
            ("gen_ai.prompt.version", s("3")),
            ("gen_ai.prompt.variables", s(r#"{"customer":"Ann"}"#)),
            ("gen_ai.retrieval.query.text", s("refund policy")),
            ("gen_ai.retrieval.documents", s(r#"[{"id":"faq.md"}]"#)),
            ("gen_ai.memory.query", s("Ann's orders")),
            ("gen_ai.memory.records", s("Ann ordered a lamp")),
            ("gen_ai.guardrail.content", s("my card is ...")),
            ("exception.type", s("TimeoutError")),
            ("exception.message", s("upstream timed out")),
            ("gen_ai.agent.version", s("1.2.0")),
            ("gen_ai.workflow.name", s("refunds")),
            ("gen_ai.request.previous_response.id", s("resp_1")),
            ("gen_ai.request.reasoning.level", s("high")),
            ("gen_ai.request.stream", FieldValue::Bool(true)),
        ];
        let m = mapped("retrieval", fields);
        for (key, value) in [
            ("prompt_name", Value::from("refund-answer")),
            ("prompt_version", Value::from("3")),
            ("exception_type", Value::from("TimeoutError")),
            ("exception_message", Value::from("upstream timed out")),
            ("agent_version", Value::from("1.2.0")),
            ("workflow_name", Value::from("refunds")),
            ("previous_response_id", Value::from("resp_1")),
            ("reasoning_level", Value::from("high")),
            ("stream", Value::Bool(true)),
        ] {
            assert_eq!(get(&m, key), Some(&value), "{key}");
        }
        let keys: Vec<_> = m.content.iter().map(|c| (c.key, c.mode)).collect();
        assert_eq!(
            keys,
            [
                ("prompt_variables", ContentCapture::None),
                ("retrieval_query", ContentCapture::None),
                ("retrieval_documents", ContentCapture::None),
                ("memory_query", ContentCapture::None),
                ("memory_records", ContentCapture::None),
                ("guardrail_content", ContentCapture::None),
            ]
        );
        assert!(get(&m, "attributes").is_none());
    }

    /// Issue 17 item 6: non-zero audio or image tokens leave a chat unpriced; zero does not.
    #[test]
    fn issue17_item6_non_text_tokens_are_not_priced_at_text_rates() {
        let call = |audio: u64| {
            let mut fields = chat_fields();
            fields.push(("gen_ai.usage.input_tokens.audio", FieldValue::U64(audio)));
            mapped("chat", fields)
        };
        let text_only = call(0);
        assert_eq!(get(&text_only, "cost"), Some(&Value::from("0.000345 USD")));
        let audio = call(150);
        assert_eq!(get(&audio, "cost"), Some(&Value::Null));
        assert_eq!(
            get(&audio, "cost_basis")
                .unwrap()
                .get("reason")
                .and_then(Value::as_str),
            Some(
                "usage.audio_input_tokens: non-text tokens are priced apart; the price table has text rates only"
            )
        );
        assert_eq!(
            get(&audio, "usage").unwrap().get("audio_input_tokens"),
            Some(&Value::from(150u64))
        );
    }

    /// Issue 17 item 2: the draft's guardrail names are mapped; a blocking result raises a flag;
    /// a provider-native value is kept verbatim and never read as a decision.
    #[test]
    fn issue17_item2_spec_guardrails_flag_and_keep_native_values() {
        let fields = vec![
            ("gen_ai.operation.name", s("apply_guardrail")),
            ("gen_ai.guardrail.component.name", s("input-filter")),
            ("gen_ai.guardrail.policy.id", s("pol-7")),
            ("gen_ai.guardrail.policy.version", s("2")),
            ("gen_ai.guardrail.policy.rule.id", s("no-card-numbers")),
            ("gen_ai.guardrail.result.type", s("blocked")),
            ("gen_ai.guardrail.result.value", s("GUARDRAIL_INTERVENED")),
            ("gen_ai.guardrail.result.reason", s("card number")),
            ("gen_ai.guardrail.source", s("input")),
            ("gen_ai.guardrail.risk.category", s("pii")),
            ("gen_ai.guardrail.risk.score", FieldValue::F64(0.97)),
        ];
        let m = mapped("apply_guardrail", fields);
        assert_eq!(m.kind, "guardrail_decision");
        for (key, value) in [
            ("guardrail_component", Value::from("input-filter")),
            ("policy_id", Value::from("pol-7")),
            ("policy_version", Value::from("2")),
            ("policy_rule_id", Value::from("no-card-numbers")),
            ("result_type", Value::from("blocked")),
            ("result_value", Value::from("GUARDRAIL_INTERVENED")),
            ("reason", Value::from("card number")),
            ("guardrail_source", Value::from("input")),
            ("risk_category", Value::from("pii")),
            ("risk_score", Value::from(0.97)),
        ] {
            assert_eq!(get(&m, key), Some(&value), "{key}");
        }
        assert!(get(&m, "attributes").is_none());
        assert_eq!(
            json::to_canonical(&Value::Object(m.guardrail_flag.unwrap())),
            r#"{"action":"blocked","data":["input-filter"],"policy_id":"pol-7","reason":"guardrail input-filter blocked: card number","severity":"critical","source":"gen_ai.guardrail"}"#
        );
        // The earlier draft: `run_guardrail` with a verdict and an action.
        let earlier = mapped(
            "run_guardrail",
            vec![
                ("gen_ai.operation.name", s("run_guardrail")),
                ("gen_ai.guardrail.name", s("toxicity")),
                ("gen_ai.guardrail.verdict.type", s("fail")),
                ("gen_ai.guardrail.action.type", s("redact")),
                ("gen_ai.guardrail.verdict.reason", s("insult")),
            ],
        );
        assert_eq!(earlier.kind, "guardrail_decision");
        assert_eq!(get(&earlier, "verdict_type"), Some(&Value::from("fail")));
        let flag = Value::Object(earlier.guardrail_flag.unwrap());
        assert_eq!(flag.get("action"), Some(&Value::from("redacted")));
        // A provider-native value alone decides nothing.
        let native = mapped(
            "apply_guardrail",
            vec![
                ("gen_ai.operation.name", s("apply_guardrail")),
                ("gen_ai.guardrail.result.value", s("BLOCKED")),
            ],
        );
        assert!(native.guardrail_flag.is_none());
        assert_eq!(get(&native, "result_value"), Some(&Value::from("BLOCKED")));
    }

    /// Issue 17 item 5: repeated guardrail and evaluation results are all kept.
    #[test]
    fn issue17_item5_repeated_results_are_lists() {
        let fields = vec![
            ("gen_ai.operation.name", s("chat")),
            ("gen_ai.evaluation.name", s("Relevance")),
            ("gen_ai.evaluation.score.value", FieldValue::F64(4.0)),
            ("gen_ai.evaluation.explanation", s("on topic")),
            ("gen_ai.evaluation.name", s("Toxicity")),
            ("gen_ai.evaluation.score.value", FieldValue::F64(0.0)),
            ("gen_ai.evaluation.explanation", s("clean")),
            ("gen_ai.guardrail.result.type", s("allowed")),
            ("gen_ai.guardrail.result.type", s("blocked")),
        ];
        let m = mapped("chat", fields);
        assert_eq!(m.kind, "llm_call");
        assert_eq!(
            json::to_canonical(get(&m, "evaluation_name").unwrap()),
            r#"["Relevance","Toxicity"]"#
        );
        assert_eq!(
            json::to_canonical(get(&m, "score_value").unwrap()),
            r#"[4.0,0.0]"#
        );
        let explanation = m.content.iter().find(|c| c.key == "evaluation_explanation");
        assert_eq!(
            json::to_canonical(&explanation.unwrap().value),
            r#"["on topic","clean"]"#
        );
        assert_eq!(
            json::to_canonical(get(&m, "result_type").unwrap()),
            r#"["allowed","blocked"]"#
        );
        let flag = Value::Object(m.guardrail_flag.unwrap());
        assert_eq!(flag.get("action"), Some(&Value::from("blocked")));
    }

    #[test]
    fn tool_calls_keep_name_id_and_content_fields() {
        let fields = vec![
            ("gen_ai.operation.name", s("execute_tool")),
            ("gen_ai.tool.name", s("get_weather")),
            ("gen_ai.tool.call.id", s("call_1")),
            ("gen_ai.tool.call.arguments", s(r#"{"city":"Paris"}"#)),
            ("gen_ai.tool.call.result", s("18C")),
            ("gen_ai.tool.custom_thing", FieldValue::Bool(true)),
        ];
        let m = mapped("execute_tool", fields);
        assert_eq!(m.kind, "tool_call");
        assert_eq!(get(&m, "name"), Some(&Value::from("get_weather")));
        assert_eq!(get(&m, "call_id"), Some(&Value::from("call_1")));
        assert!(get(&m, "cost").is_none());
        let modes: Vec<_> = m.content.iter().map(|c| (c.key, c.mode)).collect();
        assert_eq!(
            modes,
            [
                ("arguments", ContentCapture::Full),
                ("result", ContentCapture::Full)
            ]
        );
        assert_eq!(
            json::to_canonical(get(&m, "attributes").unwrap()),
            r#"{"gen_ai.tool.custom_thing":true}"#
        );
    }

    #[test]
    fn guardrail_interventions_raise_a_flag() {
        let fields = vec![
            ("gen_ai.operation.name", s("apply_guardrail")),
            ("gen_ai.guardrail.name", s("pii-shield")),
            ("gen_ai.guardrail.decision", s("blocked")),
            ("gen_ai.guardrail.reason", s("account number in prompt")),
        ];
        let m = mapped("guardrail", fields);
        assert_eq!(m.kind, "guardrail_decision");
        assert_eq!(get(&m, "guardrail"), Some(&Value::from("pii-shield")));
        let flag = Value::Object(m.guardrail_flag.unwrap());
        assert_eq!(
            json::to_canonical(&flag),
            r#"{"action":"blocked","data":["pii-shield"],"reason":"guardrail pii-shield blocked: account number in prompt","severity":"critical","source":"gen_ai.guardrail"}"#
        );
        let allowed = vec![
            ("gen_ai.guardrail.name", s("pii-shield")),
            ("gen_ai.guardrail.decision", s("allow")),
        ];
        let m = mapped("check", allowed);
        assert_eq!(m.kind, "guardrail_decision");
        assert!(m.guardrail_flag.is_none());
    }

    #[test]
    fn digests_are_keyed_and_modes_shape_content() {
        let plain = GenAiCapture::default();
        assert_eq!(
            captured_content(ContentCapture::Digest, Value::from("x"), &plain),
            None,
            "no key, no digest"
        );
        let a = GenAiCapture::default().digest_key(SigningKey::from_bytes("k1").unwrap());
        let b = GenAiCapture::default().digest_key(SigningKey::from_bytes("k2").unwrap());
        let da = captured_content(ContentCapture::Digest, Value::from("refund?"), &a).unwrap();
        let db = captured_content(ContentCapture::Digest, Value::from("refund?"), &b).unwrap();
        assert_ne!(da, db, "the key changes the digest");
        assert_eq!(
            da.get("blake3_keyed").and_then(Value::as_str),
            a.content_digest("refund?").as_deref()
        );
        assert_eq!(da.get("bytes"), Some(&Value::from(7u64)));
        // Unkeyed BLAKE3 of the text must not be what is stored.
        let unkeyed = crate::hex::to_hex(blake3::hash(b"refund?").as_bytes());
        assert_ne!(
            da.get("blake3_keyed").and_then(Value::as_str),
            Some(unkeyed.as_str())
        );
        assert_eq!(
            captured_content(ContentCapture::None, Value::from("x"), &a),
            None
        );
        assert_eq!(
            captured_content(ContentCapture::Full, Value::from("x"), &a),
            Some(Value::from("x"))
        );
        assert_eq!(format!("{a:?}").matches("redacted").count(), 1);
    }
}
