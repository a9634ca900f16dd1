//! A client call made in a `tokio::spawn`ed task runs outside the decision's span unless the
//! task is instrumented with it: without `.instrument(Span::current())` acttrace cannot
//! attribute the call, records it with `decision_id: null` and counts it in
//! `Status::gen_ai_orphans`; with it, the call belongs to the decision.

mod common;

use acttrace_genai_clients::mock_openai::{
    self, FINAL_USAGE, MockServer, TOOL_CALL_ID, TOOL_CALL_USAGE, TOOL_NAME,
};
use common::*;
use genai::chat::{ChatMessage, ChatRequest};
use rig_agent::prelude::*;
use rig_agent::tool::ToolContext;
use rig_core::providers::openai::OpenAIConfig;
use serde_json::{Value, json};
use tracing::{Instrument, Span};

/// Asks once, with no tools: the mock answers with the final text.
async fn ask(client: genai::Client) -> String {
    let request = ChatRequest::new(vec![ChatMessage::user("Say hi")]);
    let reply = client
        .exec_chat(REQUEST_MODEL, request, None)
        .await
        .expect("chat call");
    reply.first_text().expect("a text").to_owned()
}

/// One decision that makes a call in a spawned task twice: first without the decision's span,
/// then with it.
#[tracing::instrument(skip_all, fields(audit.decision = "greeting"))]
async fn decide_with_genai(client: &genai::Client) {
    let lost = tokio::spawn(ask(client.clone()));
    assert_eq!(lost.await.expect("the task"), mock_openai::FINAL_TEXT);
    let kept = tokio::spawn(ask(client.clone()).instrument(Span::current()));
    assert_eq!(kept.await.expect("the task"), mock_openai::FINAL_TEXT);
}

#[test]
fn a_genai_call_in_a_spawned_task_needs_the_decision_span() {
    let server = MockServer::start();
    let client = genai_client(&server);
    let audit = Audit::new();
    audit.run("genai in spawned tasks", decide_with_genai(&client));
    let log = audit.finish();
    log.dump();

    let decision_id = log.decision_id();
    assert_eq!(
        log.types(),
        [
            "audit_open",
            "decision",
            "llm_call",
            "llm_call",
            "decision_end"
        ]
    );
    let llm = log.payloads("llm_call");
    // The un-instrumented task: the chat span had no parent, so no decision.
    assert_eq!(llm[0]["decision_id"], Value::Null, "{:#}", llm[0]);
    assert_eq!(llm[0]["usage"]["input_tokens"], FINAL_USAGE.prompt_tokens);
    assert_eq!(llm[0]["cost"], FINAL_COST);
    // The instrumented task: the chat span is the decision's child.
    assert_llm_call(llm[1], &decision_id, FINAL_USAGE, FINAL_COST);
    // Only the attributed call counts toward the decision.
    assert_eq!(log.payloads("decision_end")[0]["llm_calls"], 1);

    assert_eq!(log.status.gen_ai_orphans, 1, "{:?}", log.status);
    log.assert_verifies();
}

struct WeatherTool;

impl Tool for WeatherTool {
    const NAME: &'static str = TOOL_NAME;
    type Args = Value;
    type Output = Value;
    type Error = std::io::Error;

    fn description(&self) -> String {
        "Get the current weather for a city".into()
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    }

    async fn call(&self, _: &mut ToolContext, args: Value) -> Result<Value, Self::Error> {
        Ok(json!({"city": args["city"], "temperature": 21, "condition": "sunny"}))
    }
}

/// Runs the agent once (two model calls and the tool).
async fn run_agent(agent: std::sync::Arc<Agent>) -> String {
    agent
        .prompt("What's the weather in Paris?")
        .await
        .expect("the agent run")
        .output()
}

#[tracing::instrument(skip_all, fields(audit.decision = "weather.answer"))]
async fn decide_with_rig(agent: std::sync::Arc<Agent>) {
    let lost = tokio::spawn(run_agent(agent.clone()));
    assert_eq!(lost.await.expect("the task"), mock_openai::FINAL_TEXT);
    let kept = tokio::spawn(run_agent(agent).instrument(Span::current()));
    assert_eq!(kept.await.expect("the task"), mock_openai::FINAL_TEXT);
}

#[test]
fn a_rig_agent_run_in_a_spawned_task_needs_the_decision_span() {
    let server = MockServer::start();
    let model = OpenAIConfig::new("sk-test-mock")
        .with_base_url(server.base_url())
        .client()
        .chat(REQUEST_MODEL);
    let agent = AgentBuilder::new(model)
        .name("weather_agent")
        .tool(WeatherTool)
        .default_max_turns(3)
        .build();
    let audit = Audit::new();
    audit.run(
        "rig in spawned tasks",
        decide_with_rig(std::sync::Arc::new(agent)),
    );
    let log = audit.finish();
    log.dump();

    let decision_id = log.decision_id();
    // Without a span around it, rig opens its own root `invoke_agent` span, which closes last
    // and becomes an `agent_invocation`; under the decision's span it opens none.
    assert_eq!(
        log.types(),
        [
            "audit_open",
            "decision",
            // the un-instrumented task
            "llm_call",
            "tool_call",
            "llm_call",
            "agent_invocation",
            // the instrumented task
            "llm_call",
            "tool_call",
            "llm_call",
            "decision_end"
        ]
    );
    let (lost, kept) = log.entries.split_at(6);
    // The orphaned run's entries are grouped by span ids: each call names the agent's span.
    let agent_span = &lost[5]["payload"]["span_id"];
    assert!(agent_span.is_u64(), "{:#}", lost[5]);
    for entry in &lost[2..] {
        let payload = &entry["payload"];
        assert_eq!(payload["decision_id"], Value::Null, "{entry:#}");
    }
    for entry in &lost[2..5] {
        assert_eq!(&entry["payload"]["parent_span_id"], agent_span, "{entry:#}");
    }
    for entry in &kept[..3] {
        let payload = &entry["payload"];
        assert_eq!(payload["decision_id"], decision_id, "{entry:#}");
    }
    let agent = &log.payloads("agent_invocation")[0];
    assert_eq!(agent["operation"], "invoke_agent", "{agent:#}");
    assert_eq!(agent["agent_name"], "weather_agent", "{agent:#}");
    // rig sums the run's usage on its own `invoke_agent` span.
    assert_eq!(
        agent["usage"]["input_tokens"],
        TOOL_CALL_USAGE.prompt_tokens + FINAL_USAGE.prompt_tokens,
        "{agent:#}"
    );
    assert_eq!(
        agent["usage"]["output_tokens"],
        TOOL_CALL_USAGE.completion_tokens + FINAL_USAGE.completion_tokens,
        "{agent:#}"
    );
    // The run's usage is not priced again: only `llm_call`s carry a cost.
    assert!(agent.get("cost").is_none(), "{agent:#}");
    let llm = log.payloads("llm_call");
    assert_llm_call(llm[2], &decision_id, TOOL_CALL_USAGE, TOOL_CALL_COST);
    assert_llm_call(llm[3], &decision_id, FINAL_USAGE, FINAL_COST);
    let tools = log.payloads("tool_call");
    assert_eq!(tools[1]["call_id"], TOOL_CALL_ID);
    assert_eq!(tools[1]["decision_id"], decision_id);

    // Four GenAI spans without a decision: two chats, the tool and the agent.
    assert_eq!(log.status.gen_ai_orphans, 4, "{:?}", log.status);
    log.assert_verifies();
}
