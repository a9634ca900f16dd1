//! rig 0.44 (rig-core + rig-agent) inside an acttrace decision: an `Agent` with a
//! `get_weather` tool answers a question, calling the model twice and the tool once. The
//! chain gets an `llm_call` per model call and a `tool_call`, all under the decision, priced
//! exactly, and the log verifies with both verifiers.
//!
//! Under a caller span rig opens no `invoke_agent` span: it adopts the caller's span (here the
//! decision) as the agent span, so there is no `agent_invocation` entry and the run-level usage
//! rig would record on its own `invoke_agent` is not recorded anywhere; the per-call usage on
//! the `chat` spans is.

mod common;

use acttrace_genai_clients::mock_openai::{
    self, FINAL_RESPONSE_ID, FINAL_USAGE, MockServer, TOOL_CALL_ID, TOOL_CALL_RESPONSE_ID,
    TOOL_CALL_USAGE, TOOL_NAME,
};
use common::*;
use rig_agent::prelude::*;
use rig_agent::tool::ToolContext;
use rig_core::providers::openai::OpenAIConfig;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct WeatherArgs {
    city: String,
    unit: Option<String>,
}

struct WeatherTool;

impl Tool for WeatherTool {
    const NAME: &'static str = TOOL_NAME;
    type Args = WeatherArgs;
    type Output = Value;
    type Error = std::io::Error;

    fn description(&self) -> String {
        "Get the current weather for a city".into()
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["C", "F"]}
            },
            "required": ["city"]
        })
    }

    async fn call(&self, _: &mut ToolContext, args: WeatherArgs) -> Result<Value, Self::Error> {
        Ok(json!({
            "city": args.city,
            "temperature": 21,
            "unit": args.unit.unwrap_or_else(|| "C".into()),
            "condition": "sunny"
        }))
    }
}

fn weather_agent(server: &MockServer, record_content: bool) -> Agent {
    // rig appends "/chat/completions" to the base URL (no trailing slash). `.chat()` picks the
    // Chat Completions wire; `.completion()` would default to the Responses API (`/responses`).
    let model = OpenAIConfig::new("sk-test-mock")
        .with_base_url(server.base_url())
        .client()
        .chat(REQUEST_MODEL);
    AgentBuilder::new(model)
        .name("weather_agent")
        .preamble("You are a weather bot")
        .tool(WeatherTool)
        .default_max_turns(3)
        .record_content_telemetry(record_content)
        .build()
}

/// One audited decision: the agent answers, calling the tool as the model asks.
#[tracing::instrument(skip_all, fields(audit.decision = "weather.answer"))]
async fn decide(agent: &Agent, question: &str) -> String {
    agent
        .prompt(question)
        .await
        .expect("the agent run")
        .output()
}

#[test]
fn a_rig_agent_run_is_chained_under_its_decision() {
    let server = MockServer::start();
    let agent = weather_agent(&server, false);
    let audit = Audit::new();
    let answer = audit.run(
        "rig agent run",
        decide(&agent, "What's the weather in Paris?"),
    );
    assert_eq!(answer, mock_openai::FINAL_TEXT);
    let log = audit.finish();
    log.dump();

    // The spans close in this order: chat 1, the tool, chat 2, the decision. No
    // `agent_invocation`: rig adopted the decision span as its agent span.
    assert_eq!(
        log.types(),
        [
            "audit_open",
            "decision",
            "llm_call",
            "tool_call",
            "llm_call",
            "decision_end"
        ]
    );
    let decision_id = log.decision_id();
    let llm = log.payloads("llm_call");
    assert_llm_call(llm[0], &decision_id, TOOL_CALL_USAGE, TOOL_CALL_COST);
    assert_llm_call(llm[1], &decision_id, FINAL_USAGE, FINAL_COST);
    // Unlike genai, rig reports the response id.
    assert_eq!(llm[0]["response_id"], TOOL_CALL_RESPONSE_ID);
    assert_eq!(llm[1]["response_id"], FINAL_RESPONSE_ID);
    for call in &llm {
        assert_eq!(call["span"], "chat", "{call:#}");
        assert_eq!(call["agent_name"], "weather_agent", "{call:#}");
        // rig reports no finish reasons and no total outside the message content.
        assert!(call.get("finish_reasons").is_none(), "{call:#}");
        assert!(call["usage"].get("total_tokens").is_none(), "{call:#}");
        // Content telemetry is off in rig by default: no message fields reached the span.
        assert!(call.get("content_omitted").is_none(), "{call:#}");
        // rig's request id header is mapped (to match entries with the provider's logs);
        // unmapped fields, like its span marker, are kept verbatim.
        assert!(
            call["provider_request_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("req_mock_")),
            "{call:#}"
        );
        // `gen_ai.request.stream` is a named field (issue 17 item 6).
        assert_eq!(call["stream"], false, "{call:#}");
        let attributes = &call["attributes"];
        assert!(
            attributes.get("gen_ai.request.stream").is_none(),
            "{call:#}"
        );
        assert_eq!(attributes["rig.completion_parent"], true, "{call:#}");
    }

    let tools = log.payloads("tool_call");
    let tool = tools[0];
    assert_eq!(tool["decision_id"], decision_id, "{tool:#}");
    assert_eq!(tool["source"], "gen_ai");
    assert_eq!(tool["operation"], "execute_tool");
    assert_eq!(tool["span"], "execute_tool");
    assert_eq!(tool["name"], TOOL_NAME);
    assert_eq!(tool["call_id"], TOOL_CALL_ID);
    assert_eq!(tool["tool_type"], "function");
    assert_eq!(tool["tool_outcome"], "success");
    assert!(tool.get("cost").is_none(), "{tool:#}");
    // rig records tool arguments and results only with its content telemetry on.
    assert!(
        tool.get("arguments").is_none() && tool.get("result").is_none(),
        "{tool:#}"
    );

    let end = log.payloads("decision_end");
    assert_eq!(end[0]["decision_id"], decision_id);
    // rig adopted the decision span, so its run totals are not recorded by rig; the decision's
    // end adds up the two calls itself (17.85 + 18.3 per million).
    assert_eq!(end[0]["llm_calls"], 2, "{:#}", end[0]);
    assert_eq!(end[0]["cost"], "0.00003615 USD");
    assert_eq!(log.status.gen_ai_orphans, 0);
    log.assert_verifies();

    let seen = server.requests();
    assert_eq!(
        seen.iter().map(|r| r.answered).collect::<Vec<_>>(),
        ["tool_call", "final_text"],
        "{seen:#?}"
    );
    assert!(seen.iter().all(|r| r.path == "/v1/chat/completions"));
}

#[test]
fn with_rig_content_telemetry_on_the_log_keeps_tool_io_but_not_messages() {
    // rig then records the prompt, the preamble, the answer and the tool definitions on its
    // `chat` spans, and the tool's arguments and result on `execute_tool`. acttrace's default
    // capture leaves messages out (listing them in `content_omitted`) and keeps tool input
    // and output after redaction.
    let server = MockServer::start();
    let agent = weather_agent(&server, true);
    let audit = Audit::new();
    let question = "What's the weather in Paris? My card is 4111 1111 1111 1111.";
    let answer = audit.run("rig agent run, content on", decide(&agent, question));
    assert_eq!(answer, mock_openai::FINAL_TEXT);
    let log = audit.finish();
    log.dump();

    let text = text_without_random_hex(&log.path);
    for secret in ["4111", "weather bot", mock_openai::FINAL_TEXT] {
        assert!(!text.contains(secret), "{secret:?} reached the log");
    }
    let decision_id = log.decision_id();
    let llm = log.payloads("llm_call");
    assert_eq!(llm.len(), 2);
    for call in &llm {
        assert_eq!(call["decision_id"], decision_id, "{call:#}");
        let omitted: Vec<&str> = call["content_omitted"]
            .as_array()
            .unwrap_or_else(|| panic!("content_omitted: {call:#}"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for field in ["system_instructions", "input_messages", "output_messages"] {
            assert!(omitted.contains(&field), "{field} not omitted: {call:#}");
        }
        assert!(call.get("input_messages").is_none(), "{call:#}");
    }
    // Redaction runs on content whatever the mode: the card number in the prompt is reported
    // although the prompt is not kept.
    // Both calls send it (the second one with the history), so both are flagged.
    assert_eq!(
        log.types(),
        [
            "audit_open",
            "decision",
            "llm_call",
            "policy_flag",
            "tool_call",
            "llm_call",
            "policy_flag",
            "decision_end"
        ]
    );
    for (flag, flagged_seq) in log.payloads("policy_flag").iter().zip([2, 5]) {
        assert_eq!(flag["decision_id"], decision_id, "{flag:#}");
        assert_eq!(flag["data"], json!(["credit_card"]), "{flag:#}");
        assert_eq!(flag["action"], "redacted", "{flag:#}");
        assert_eq!(flag["entry_seq"], flagged_seq, "{flag:#}");
    }
    let tool = log.payloads("tool_call")[0];
    assert_eq!(tool["arguments"], mock_openai::TOOL_ARGS, "{tool:#}");
    let result: Value = serde_json::from_str(tool["result"].as_str().expect("a result text"))
        .expect("the result is the tool's JSON");
    assert_eq!(
        result,
        json!({"city": "Paris", "temperature": 21, "unit": "C", "condition": "sunny"})
    );
    log.assert_verifies();
}
