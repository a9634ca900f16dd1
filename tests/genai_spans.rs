//! OpenTelemetry GenAI spans become chain entries: fields recorded over a span's life, aliases,
//! content capture modes, prices, guardrails, orphans; the log verifies with our verifier and
//! the reference's.

mod common;

use acttrace::genai::{ContentCapture, GenAiCapture, PriceTable};
use acttrace::{AuditLayer, Error, SigningKey};
use common::*;
use tracing::field::Empty;

const KEY: &str = GENAI_KEY;

/// A chat span as a client emits it: usage declared `Empty`, recorded when the response comes.
fn chat_call(prompt: &str) {
    let span = tracing::info_span!(
        "chat",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-4o-mini",
        gen_ai.input.messages = prompt,
        gen_ai.response.model = Empty,
        gen_ai.response.id = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.output.messages = Empty,
    );
    let _in = span.enter();
    std::thread::sleep(std::time::Duration::from_millis(2));
    span.record("gen_ai.response.model", "gpt-4o-mini-2024-07-18");
    span.record("gen_ai.response.id", "chatcmpl-42");
    span.record("gen_ai.response.finish_reasons", "[\"tool_calls\"]");
    span.record("gen_ai.usage.input_tokens", 1_000u64);
    span.record("gen_ai.usage.output_tokens", 500u64);
    span.record("gen_ai.output.messages", "Call get_weather for Paris.");
}

fn tool_call(arguments: &str) {
    let span = tracing::info_span!(
        "execute_tool",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = "get_weather",
        gen_ai.tool.call.id = "call_7",
        gen_ai.tool.call.arguments = arguments,
        gen_ai.tool.call.result = Empty,
    );
    let _in = span.enter();
    span.record("gen_ai.tool.call.result", "18C and sunny");
}

#[test]
fn chat_and_tool_spans_in_a_decision_become_chained_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (subscriber, guard) = genai_subscriber(&path, GenAiCapture::default());
    tracing::subscriber::with_default(subscriber, || {
        let decision = tracing::info_span!("answer", audit.decision = "support.answer");
        let _d = decision.enter();
        chat_call("What is the weather in Paris?");
        tool_call(r#"{"city": "Paris"}"#);
    });
    let tip = guard.flush().unwrap();
    let entries = entries(&path);
    assert_eq!(
        types(&entries),
        [
            "audit_open",
            "decision",
            "llm_call",
            "tool_call",
            "decision_end"
        ]
    );
    let decision_id = entries[1]["payload"]["decision_id"].clone();
    assert!(decision_id.is_string());

    let llm = &entries[2]["payload"];
    assert_eq!(llm["decision_id"], decision_id);
    assert_eq!(llm["source"], "gen_ai");
    assert_eq!(llm["operation"], "chat");
    assert_eq!(llm["provider"], "openai");
    assert_eq!(llm["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(llm["request_model"], "gpt-4o-mini");
    assert_eq!(llm["response_id"], "chatcmpl-42");
    assert_eq!(llm["finish_reasons"], serde_json::json!(["tool_calls"]));
    assert_eq!(
        llm["usage"],
        serde_json::json!({"input_tokens": 1000, "output_tokens": 500})
    );
    // 1000 × $0.15/M + 500 × $0.60/M
    assert_eq!(llm["cost"], "0.00045 USD");
    assert_eq!(llm["cost_basis"]["prices"], "2026-08-02");
    assert_eq!(llm["cost_basis"]["priced_as"], "gpt-4o-mini");
    assert!(llm["latency_ms"].as_f64().unwrap() >= 2.0, "{llm}");
    assert_eq!(llm["semconv"], acttrace::genai::SEMCONV_VERSION);
    // Messages are not kept by default; the entry says which were left out.
    assert_eq!(
        llm["content_omitted"],
        serde_json::json!(["input_messages", "output_messages"])
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("weather in Paris"),
        "a prompt reached the log"
    );

    let tool = &entries[3]["payload"];
    assert_eq!(tool["decision_id"], decision_id);
    assert_eq!(tool["name"], "get_weather");
    assert_eq!(tool["call_id"], "call_7");
    assert_eq!(tool["arguments"], r#"{"city": "Paris"}"#);
    assert_eq!(tool["result"], "18C and sunny");
    assert!(tool.get("cost").is_none());

    // The decision's end adds up its model calls.
    let end = &entries[4]["payload"];
    assert_eq!(end["llm_calls"], 1);
    assert_eq!(
        end["usage"],
        serde_json::json!({"input_tokens": 1000, "output_tokens": 500})
    );
    assert_eq!(end["cost"], "0.00045 USD");
    assert!(end.get("uncosted_calls").is_none());

    let r = assert_verifies(&path, &tip);
    assert_eq!(r.entries, 5);
    let keyed = acttrace::verify::verify_path(
        &path,
        &acttrace::verify::VerifyOptions {
            key: Some(SigningKey::from_bytes(KEY).unwrap()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(keyed.ok(), "{:?}", keyed.problems);
    if let Some(python) = reference_python() {
        let (ok, detail) = reference_verify(&python, &path, Some(KEY), Some(&tip.head));
        assert!(ok, "reference verifier: {detail}");
    }
}

#[test]
fn content_modes_keep_digest_redact_or_omit() {
    // A phone number is flagged (kept) by the default policy, an email redacted.
    let prompt = "Call me on +1 415 555 0132 or write to jane.doe@example.com";
    let mut results = Vec::new();
    for mode in [
        ContentCapture::None,
        ContentCapture::Digest,
        ContentCapture::Redacted,
        ContentCapture::Full,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let capture = GenAiCapture::default().messages(mode);
        let (subscriber, guard) = genai_subscriber(&path, capture);
        tracing::subscriber::with_default(subscriber, || {
            let d = tracing::info_span!("d", audit.decision = "contact");
            let _d = d.enter();
            chat_call(prompt);
        });
        guard.flush().unwrap();
        let entries = entries(&path);
        let llm = of_type(&entries, "llm_call")[0]["payload"].clone();
        let flags: Vec<String> = of_type(&entries, "policy_flag")
            .iter()
            .map(|f| f["payload"]["reason"].as_str().unwrap().to_owned())
            .collect();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("jane.doe@example.com"),
            "{mode:?}: a redacted value reached disk"
        );
        results.push((mode, llm, flags, text));
    }
    for (mode, llm, flags, _) in &results {
        // Redaction runs first in every mode: the email is always reported.
        assert!(
            flags.iter().any(|f| f.contains("email")),
            "{mode:?}: {flags:?}"
        );
        assert_eq!(
            llm["content_capture"]["input_messages"],
            mode.as_str(),
            "{mode:?}"
        );
    }
    let (_, none, _, none_text) = &results[0];
    assert!(none.get("input_messages").is_none());
    assert!(!none_text.contains("555 0132"));

    let (_, digest, _, digest_text) = &results[1];
    assert!(!digest_text.contains("555 0132"));
    // The digest proves the (redacted) prompt given the key. No digest key was configured, so
    // it is keyed from the signing key: the same derivation as `digest_key(signing key)`.
    let seen = "Call me on +1 415 555 0132 or write to <redacted:email>";
    let expected = GenAiCapture::default()
        .digest_key(SigningKey::from_bytes(KEY).unwrap())
        .content_digest(seen)
        .unwrap();
    assert_eq!(digest["input_messages"]["blake3_keyed"], expected);
    assert_eq!(digest["input_messages"]["bytes"], seen.len());
    let other_key = GenAiCapture::default()
        .digest_key(SigningKey::from_bytes("another key").unwrap())
        .content_digest(seen)
        .unwrap();
    assert_ne!(digest["input_messages"]["blake3_keyed"], other_key);

    let (_, redacted, _, _) = &results[2];
    assert_eq!(
        redacted["input_messages"],
        "Call me on <redacted:phone> or write to <redacted:email>"
    );
    let (_, full, _, _) = &results[3];
    assert_eq!(
        full["input_messages"],
        "Call me on +1 415 555 0132 or write to <redacted:email>"
    );
}

#[test]
fn digest_mode_without_any_key_is_refused_at_build() {
    let dir = tempfile::tempdir().unwrap();
    let err = AuditLayer::builder()
        .path(dir.path().join("a.jsonl"))
        .gen_ai(GenAiCapture::default().tool_io(ContentCapture::Digest))
        .build()
        .err()
        .expect("digest without a key must be refused");
    assert!(
        matches!(err, Error::MissingDigestKey) && err.to_string().contains("digest"),
        "{err}"
    );
    // With an explicit digest key and no signing key it works.
    let (_, guard) = AuditLayer::builder()
        .path(dir.path().join("b.jsonl"))
        .gen_ai(
            GenAiCapture::default()
                .tool_io(ContentCapture::Digest)
                .digest_key(SigningKey::from_bytes("digest-only").unwrap()),
        )
        .build()
        .unwrap();
    guard.flush().unwrap();
}

#[test]
fn orphan_spans_and_events_are_recorded_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (subscriber, guard) = genai_subscriber(&path, GenAiCapture::default());
    let dispatch = tracing::Dispatch::new(subscriber);
    tracing::dispatcher::with_default(&dispatch, || {
        let decision = tracing::info_span!("d", audit.decision = "batch");
        let _d = decision.enter();
        // A thread spawned without the span context: its call cannot be attributed.
        let d2 = dispatch.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&d2, || chat_call("hello"));
        })
        .join()
        .unwrap();
        // Attributed: inside the decision.
        chat_call("hello again");
    });
    tracing::dispatcher::with_default(&dispatch, || {
        // A GenAI event outside any span.
        tracing::info!(
            gen_ai.operation.name = "embeddings",
            gen_ai.request.model = "text-embedding-3-small",
            gen_ai.usage.input_tokens = 2_000u64,
            "embedded the corpus"
        );
    });
    let status = guard.status();
    let tip = guard.flush().unwrap();
    assert_eq!(status.gen_ai_orphans, 2);
    let entries = entries(&path);
    let calls = of_type(&entries, "llm_call");
    assert_eq!(calls.len(), 3);
    assert!(calls[0]["payload"]["decision_id"].is_null());
    assert!(calls[1]["payload"]["decision_id"].is_string());
    let embed = &calls[2]["payload"];
    assert!(embed["decision_id"].is_null());
    assert_eq!(embed["operation"], "embeddings");
    // 2000 × $0.02/M
    assert_eq!(embed["cost"], "0.00004 USD");
    // An event's formatted message may quote a prompt: it is content, not kept by default.
    assert_eq!(embed["content_omitted"], serde_json::json!(["message"]));
    assert!(embed.get("latency_ms").is_none());
    assert_verifies(&path, &tip);
}

#[test]
fn events_inside_a_genai_span_join_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (subscriber, guard) = genai_subscriber(&path, GenAiCapture::default());
    tracing::subscriber::with_default(subscriber, || {
        let d = tracing::info_span!("d", audit.decision = "x");
        let _d = d.enter();
        let span = tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = "claude-sonnet-4-20250514"
        );
        let _s = span.enter();
        // Deprecated usage names, reported by an event (as some clients do).
        tracing::info!(
            gen_ai.system = "anthropic",
            gen_ai.usage.prompt_tokens = 3_000u64,
            gen_ai.usage.completion_tokens = 100u64,
            gen_ai.usage.cache_read_input_tokens = 1_000u64,
            gen_ai.usage.cache_creation_input_tokens = 1_000u64,
        );
        // Recorded twice: the later value wins.
        span.record("gen_ai.request.model", "claude-sonnet-4-20250514");
    });
    let tip = guard.flush().unwrap();
    let entries = entries(&path);
    let calls = of_type(&entries, "llm_call");
    assert_eq!(calls.len(), 1, "{entries:#?}");
    let llm = &calls[0]["payload"];
    assert_eq!(llm["provider"], "anthropic");
    assert_eq!(
        llm["usage"],
        serde_json::json!({"input_tokens": 3000, "output_tokens": 100,
                           "cached_tokens": 1000, "cache_write": 1000})
    );
    // claude-sonnet-4: 1000 fresh × 3 + 1000 read × 0.3 + 1000 write × 3.75 + 100 × 15 per M
    assert_eq!(llm["cost"], "0.00855 USD");
    assert_eq!(llm["cost_basis"]["priced_as"], "claude-sonnet-4");
    assert_verifies(&path, &tip);
}

#[test]
fn guardrails_agents_and_retrieval_map_to_their_entry_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (subscriber, guard) = genai_subscriber(&path, GenAiCapture::default());
    tracing::subscriber::with_default(subscriber, || {
        let d = tracing::info_span!("d", audit.decision = "agent.run");
        let _d = d.enter();
        let agent = tracing::info_span!(
            "invoke_agent",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = "support-bot",
            gen_ai.agent.id = "agent-1",
        );
        let _a = agent.enter();
        tracing::info_span!(
            "retrieval",
            gen_ai.operation.name = "retrieval",
            gen_ai.data_source.id = "kb-policies",
        )
        .in_scope(|| {});
        tracing::info_span!(
            "guardrail",
            gen_ai.operation.name = "apply_guardrail",
            gen_ai.guardrail.name = "no-account-numbers",
            gen_ai.guardrail.decision = "block",
        )
        .in_scope(|| {});
    });
    let tip = guard.flush().unwrap();
    let entries = entries(&path);
    assert_eq!(
        types(&entries),
        [
            "audit_open",
            "decision",
            "context_assembly",
            "guardrail_decision",
            "policy_flag",
            "agent_invocation",
            "decision_end"
        ]
    );
    assert_eq!(entries[2]["payload"]["data_source_id"], "kb-policies");
    let flag = &entries[4]["payload"];
    assert_eq!(flag["action"], "blocked");
    assert_eq!(flag["severity"], "critical");
    assert_eq!(flag["entry_seq"], entries[3]["seq"]);
    assert_eq!(flag["decision_id"], entries[1]["payload"]["decision_id"]);
    assert_eq!(entries[5]["payload"]["agent_name"], "support-bot");
    // Entries of one agent run can be grouped by span ids, decision or not.
    let agent_span = &entries[5]["payload"]["span_id"];
    assert!(agent_span.is_u64());
    assert_eq!(&entries[2]["payload"]["parent_span_id"], agent_span);
    assert_eq!(&entries[3]["payload"]["parent_span_id"], agent_span);
    assert!(entries[5]["payload"].get("parent_span_id").is_none());
    assert_verifies(&path, &tip);
}

#[test]
fn a_price_file_overrides_the_embedded_table() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.json");
    std::fs::write(
        &prices,
        r#"{"format": "acttrace-prices/1", "version": "negotiated-2026-11", "currency": "USD",
            "models": {"gpt-4o-mini": {"input": "0.10", "output": "0.40"}}}"#,
    )
    .unwrap();
    let table = PriceTable::embedded()
        .overlay(&PriceTable::from_file(&prices).unwrap())
        .unwrap();
    let path = dir.path().join("audit.jsonl");
    let (subscriber, guard) = genai_subscriber(&path, GenAiCapture::default().price_table(table));
    tracing::subscriber::with_default(subscriber, || {
        let d = tracing::info_span!("d", audit.decision = "x");
        let _d = d.enter();
        chat_call("hi");
    });
    guard.flush().unwrap();
    let entries = entries(&path);
    let llm = &of_type(&entries, "llm_call")[0]["payload"];
    // 1000 × 0.10 + 500 × 0.40 per M
    assert_eq!(llm["cost"], "0.0003 USD");
    assert_eq!(llm["cost_basis"]["prices"], "2026-08-02+negotiated-2026-11");
}

#[test]
fn explicit_llm_call_events_without_a_cost_are_priced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (subscriber, guard) = genai_subscriber(&path, GenAiCapture::default());
    tracing::subscriber::with_default(subscriber, || {
        let d = tracing::info_span!("d", audit.decision = "x");
        let _d = d.enter();
        acttrace::llm_call!(
            provider = "openai",
            model = "gpt-4o",
            input_tokens = 1_000u64,
            output_tokens = 500u64,
            cached_tokens = 200u64
        );
        acttrace::llm_call!(model = "gpt-4o", input_tokens = 10u64, cost = "0.5 EUR");
        acttrace::llm_call!(model = "gpt-4o", note = "no usage reported");
        acttrace::llm_call!(model = "our-own-model", input_tokens = 10u64);
        // Reference usage: cache writes are apart from input; the totals count them as input.
        acttrace::llm_call!(
            model = "gpt-4o",
            input_tokens = 10u64,
            cache_write = 5u64,
            cost = "0.1 USD"
        );
    });
    guard.flush().unwrap();
    let entries = entries(&path);
    let calls = of_type(&entries, "llm_call");
    // 800 fresh × 2.5 + 200 cached × 1.25 + 500 × 10 per million
    assert_eq!(calls[0]["payload"]["cost"], "0.00725 USD");
    assert_eq!(calls[0]["payload"]["cost_basis"]["priced_as"], "gpt-4o");
    assert_eq!(
        calls[1]["payload"]["cost"], "0.5 EUR",
        "a given cost is kept"
    );
    assert!(calls[1]["payload"].get("cost_basis").is_none());
    assert!(
        calls[2]["payload"].get("cost").is_none(),
        "nothing to price"
    );
    assert!(calls[3]["payload"]["cost"].is_null());
    // The decision's end: five calls, four with tokens, costs in two currencies, two unknown.
    let end = &of_type(&entries, "decision_end")[0]["payload"];
    assert_eq!(end["llm_calls"], 5);
    assert_eq!(
        end["usage"],
        serde_json::json!({"input_tokens": 1035, "output_tokens": 500})
    );
    assert_eq!(end["cost"], serde_json::json!(["0.10725 USD", "0.5 EUR"]));
    assert_eq!(end["uncosted_calls"], 2);
    assert!(
        calls[3]["payload"]["cost_basis"]["reason"]
            .as_str()
            .unwrap()
            .contains("our-own-model")
    );
}

/// Issue 17 items 3 and 5: workflow, agent creation and response fetches are not model calls;
/// a response reported again by an inference-details event outside the span is counted once.
#[test]
fn issue17_decision_end_counts_only_model_calls_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (subscriber, guard) = genai_subscriber(&path, GenAiCapture::default());
    tracing::subscriber::with_default(subscriber, || {
        let d = tracing::info_span!("d", audit.decision = "report.daily");
        let _d = d.enter();
        let workflow = tracing::info_span!(
            "genai.invoke_workflow",
            gen_ai.operation.name = "invoke_workflow",
            gen_ai.workflow.name = "daily-report",
        );
        let _w = workflow.enter();
        tracing::info_span!(
            "create_agent",
            gen_ai.operation.name = "create_agent",
            gen_ai.agent.name = "writer",
            gen_ai.agent.version = "2.1",
        )
        .in_scope(|| {});
        tracing::info_span!(
            "fetch_response",
            gen_ai.operation.name = "fetch_response",
            gen_ai.request.model = "gpt-4o",
            gen_ai.response.id = "resp_0",
        )
        .in_scope(|| {});
        chat_call("Summarise the day.");
        // The same response, reported again as an inference-details event.
        tracing::event!(
            name: "gen_ai.client.inference.operation.details",
            tracing::Level::INFO,
            gen_ai.operation.name = "chat",
            gen_ai.request.model = "gpt-4o-mini",
            gen_ai.response.id = "chatcmpl-42",
            gen_ai.usage.input_tokens = 1_000u64,
            gen_ai.usage.output_tokens = 500u64,
        );
    });
    let tip = guard.flush().unwrap();
    let entries = entries(&path);
    assert_eq!(
        types(&entries),
        [
            "audit_open",
            "decision",
            "agent_creation",
            "model_call",
            "llm_call",
            "llm_call",
            "workflow_invocation",
            "decision_end"
        ]
    );
    assert_eq!(entries[2]["payload"]["agent_version"], "2.1");
    assert!(entries[3]["payload"].get("cost").is_none());
    assert_eq!(entries[6]["payload"]["workflow_name"], "daily-report");
    // The details event names its own operation: an entry of its own under the workflow.
    assert_eq!(entries[5]["payload"]["response_id"], "chatcmpl-42");
    assert_eq!(
        entries[5]["payload"]["parent_span_id"],
        entries[6]["payload"]["span_id"]
    );
    let end = &entries[7]["payload"];
    assert_eq!(end["llm_calls"], 1, "{end}");
    assert_eq!(
        end["usage"],
        serde_json::json!({"input_tokens": 1000, "output_tokens": 500})
    );
    assert_eq!(end["cost"], "0.00045 USD");
    assert!(end.get("uncosted_calls").is_none(), "{end}");
    assert_verifies(&path, &tip);
}

/// Issue 17 items 2 and 5: guardrail results and evaluations reported as events inside one
/// span are all kept; a spec-named blocking result raises a `policy_flag`.
#[test]
fn issue17_repeated_events_in_a_span_are_kept_and_a_spec_block_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (subscriber, guard) = genai_subscriber(&path, GenAiCapture::default());
    tracing::subscriber::with_default(subscriber, || {
        let d = tracing::info_span!("d", audit.decision = "support.answer");
        let _d = d.enter();
        let span = tracing::info_span!(
            "apply_guardrail",
            gen_ai.operation.name = "apply_guardrail",
            gen_ai.guardrail.component.name = "input-filter",
            gen_ai.guardrail.policy.id = "pol-7",
        );
        let _s = span.enter();
        tracing::info!(
            gen_ai.guardrail.result.type = "allowed",
            gen_ai.guardrail.risk.category = "toxicity",
            gen_ai.guardrail.result.value = "NONE",
        );
        tracing::info!(
            gen_ai.guardrail.result.type = "blocked",
            gen_ai.guardrail.risk.category = "pii",
            gen_ai.guardrail.result.value = "GUARDRAIL_INTERVENED",
            gen_ai.guardrail.result.reason = "card number",
        );
        tracing::info!(
            gen_ai.evaluation.name = "Relevance",
            gen_ai.evaluation.score.value = 4.0,
        );
        tracing::info!(
            gen_ai.evaluation.name = "Groundedness",
            gen_ai.evaluation.score.value = 2.0,
        );
    });
    let tip = guard.flush().unwrap();
    let entries = entries(&path);
    assert_eq!(
        types(&entries),
        [
            "audit_open",
            "decision",
            "guardrail_decision",
            "policy_flag",
            "decision_end"
        ]
    );
    let g = &entries[2]["payload"];
    assert_eq!(g["result_type"], serde_json::json!(["allowed", "blocked"]));
    assert_eq!(g["risk_category"], serde_json::json!(["toxicity", "pii"]));
    assert_eq!(
        g["result_value"],
        serde_json::json!(["NONE", "GUARDRAIL_INTERVENED"])
    );
    assert_eq!(
        g["evaluation_name"],
        serde_json::json!(["Relevance", "Groundedness"])
    );
    assert_eq!(g["score_value"], serde_json::json!([4.0, 2.0]));
    assert!(g.get("attributes").is_none(), "{g}");
    let flag = &entries[3]["payload"];
    assert_eq!(flag["action"], "blocked");
    assert_eq!(flag["policy_id"], "pol-7");
    assert_eq!(
        flag["reason"],
        "guardrail input-filter blocked: card number"
    );
    assert_eq!(flag["entry_seq"], entries[2]["seq"]);
    assert_verifies(&path, &tip);
}

/// Issue 17 item 4: retrieval content falls under the messages mode; prompt template ids
/// and an exception's message are named fields.
#[test]
fn issue17_retrieval_content_follows_the_capture_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (subscriber, guard) = genai_subscriber(&path, GenAiCapture::default());
    tracing::subscriber::with_default(subscriber, || {
        let d = tracing::info_span!("d", audit.decision = "support.answer");
        let _d = d.enter();
        tracing::info_span!(
            "retrieval",
            gen_ai.operation.name = "retrieval",
            gen_ai.retrieval.query.text = "Ann Smith's refund",
            gen_ai.retrieval.documents = "Ann Smith ordered a lamp",
            gen_ai.prompt.name = "refund-answer",
            gen_ai.prompt.version = "3",
            exception.message = "index timed out",
        )
        .in_scope(|| {});
    });
    let tip = guard.flush().unwrap();
    let entries = entries(&path);
    let r = &of_type(&entries, "context_assembly")[0]["payload"];
    assert_eq!(r["prompt_name"], "refund-answer");
    assert_eq!(r["prompt_version"], "3");
    assert_eq!(r["exception_message"], "index timed out");
    assert_eq!(
        r["content_omitted"],
        serde_json::json!(["retrieval_query", "retrieval_documents"])
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("Ann Smith"),
        "retrieval content reached the log"
    );
    assert_verifies(&path, &tip);
}

/// Issue 17 item 7: rig 0.44 opens its `invoke_agent` span with `parent: None`, and only when
/// no span is active. Shaped like rig's span, opened inside a decision: the agent entry and
/// the model call under it have no decision (orphans, counted), the run-level usage on the
/// agent entry is kept but never tallied as a model call, and the decision's end counts none.
#[test]
fn issue17_item7_a_root_agent_span_is_an_orphan_and_never_tallied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (subscriber, guard) = genai_subscriber(&path, GenAiCapture::default());
    tracing::subscriber::with_default(subscriber, || {
        let d = tracing::info_span!("d", audit.decision = "weather.answer");
        let _d = d.enter();
        let agent = tracing::info_span!(
            parent: None,
            "invoke_agent",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = "weather",
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
        );
        agent.in_scope(|| chat_call("Weather in Paris?"));
        agent.record("gen_ai.usage.input_tokens", 1_000u64);
        agent.record("gen_ai.usage.output_tokens", 500u64);
        drop(agent);
    });
    assert_eq!(guard.status().gen_ai_orphans, 2);
    let tip = guard.flush().unwrap();
    let entries = entries(&path);
    assert_eq!(
        types(&entries),
        [
            "audit_open",
            "decision",
            "llm_call",
            "agent_invocation",
            "decision_end"
        ]
    );
    assert!(entries[2]["payload"]["decision_id"].is_null());
    let agent = &entries[3]["payload"];
    assert!(agent["decision_id"].is_null());
    assert_eq!(agent["usage"]["input_tokens"], 1000);
    assert!(agent.get("cost").is_none());
    assert_eq!(entries[2]["payload"]["parent_span_id"], agent["span_id"]);
    assert!(entries[4]["payload"].get("llm_calls").is_none());
    assert_verifies(&path, &tip);
}
