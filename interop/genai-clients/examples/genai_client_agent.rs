//! A weather agent built on the `genai` client, audited by acttrace with no per-call wiring:
//! genai (feature `otel`) describes each model call with a `gen_ai.*` span, and the audit layer
//! turns those spans into `llm_call` and `tool_call` entries under the decision, priced from
//! the embedded price table.
//!
//! ```text
//! cargo run -p acttrace-genai-clients --example genai_client_agent [LOG_PATH]
//! ```
//!
//! It runs offline against the crate's mock OpenAI server, writes the log to `LOG_PATH` (by
//! default a new temporary directory, which is kept), verifies it and prints the entries.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::{AuditLayer, SigningKey};
use acttrace_genai_clients::mock_openai::MockServer;
use genai::adapter::AdapterKind;
use genai::chat::{ChatMessage, ChatRequest, Tool, ToolResponse};
use genai::resolver::{AuthData, Endpoint, ServiceTargetResolver};
use genai::{Client, ModelIden, ServiceTarget};
use serde_json::{Value, json};
use tracing_subscriber::prelude::*;

/// The log's signing key (from a secret store in a real deployment).
const KEY: &str = "example-signing-key";

/// A genai client whose every model is served by the mock, as OpenAI.
fn client_for(server: &MockServer) -> Result<Client, genai::Error> {
    let endpoint = format!("{}/", server.base_url());
    let resolver = ServiceTargetResolver::from_resolver_fn(
        move |target: ServiceTarget| -> Result<ServiceTarget, genai::resolver::Error> {
            Ok(ServiceTarget {
                endpoint: Endpoint::from_owned(endpoint.clone()),
                auth: AuthData::from_single("sk-mock"),
                model: ModelIden::new(AdapterKind::OpenAI, target.model.model_name),
            })
        },
    );
    Client::builder()
        .with_service_target_resolver(resolver)
        .build()
}

/// The tool the model may call.
fn get_weather(arguments: &Value) -> String {
    json!({"city": arguments["city"], "temperature": 21, "condition": "sunny"}).to_string()
}

/// One audited decision: ask, run the tool the model asks for, send its result back, answer.
#[tracing::instrument(skip_all, fields(audit.decision = "weather.answer"))]
async fn answer(client: &Client, question: &str) -> Result<String, genai::Error> {
    let tools = vec![
        Tool::new("get_weather")
            .with_description("Get the current weather for a city")
            .with_schema(json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]
            })),
    ];
    let mut request = ChatRequest::new(vec![ChatMessage::user(question)]).with_tools(tools);
    loop {
        let reply = client
            .exec_chat("gpt-4o-mini", request.clone(), None)
            .await?;
        let calls = reply.tool_calls();
        if calls.is_empty() {
            return Ok(reply.first_text().unwrap_or_default().to_owned());
        }
        let calls: Vec<_> = calls.into_iter().cloned().collect();
        request = request.append_message(calls.clone());
        for call in calls {
            // genai runs no tools: the application does, under genai's `execute_tool` span.
            let span = genai::otel::agent::execute_tool_span(&call);
            let result = span.in_scope(|| get_weather(&call.fn_arguments));
            genai::otel::agent::ExecuteToolSpan::record_result(&span, &result);
            drop(span);
            request = request.append_message(ToolResponse::new(call.call_id, result));
        }
    }
}

fn show(entry: &Value) -> String {
    let p = &entry["payload"];
    let mut line = format!(
        "{:>2} {:<13}",
        entry["seq"],
        entry["type"].as_str().unwrap_or("?")
    );
    match entry["type"].as_str() {
        Some("llm_call") => {
            let usage = &p["usage"];
            line += &format!(
                " {} tokens in={} (cached {}) out={} cost={}",
                p["model"].as_str().unwrap_or("?"),
                usage["input_tokens"],
                usage["cached_tokens"],
                usage["output_tokens"],
                p["cost"].as_str().unwrap_or("null"),
            );
        }
        Some("tool_call") => {
            line += &format!(
                " {} call_id={}",
                p["name"].as_str().unwrap_or("?"),
                p["call_id"].as_str().unwrap_or("?")
            );
        }
        Some("decision" | "decision_end") => {
            line += &format!(" {}", p["decision_id"].as_str().unwrap_or("?"));
        }
        Some("policy_flag") => {
            line += &format!(" {}", p["reason"].as_str().unwrap_or("?"));
        }
        _ => {}
    }
    line
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn Error>> {
    let path = match std::env::args_os().nth(1) {
        Some(path) => PathBuf::from(path),
        None => tempfile::Builder::new()
            .prefix("acttrace-genai-agent-")
            .tempdir()?
            .keep()
            .join("audit.jsonl"),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let (layer, guard) = AuditLayer::builder()
        .system("weather-agent")
        .path(&path)
        .signing_key(SigningKey::from_bytes(KEY)?)
        .build()?;
    tracing_subscriber::registry().with(layer).init();

    let server = MockServer::start();
    let client = client_for(&server)?;
    let text = answer(&client, "What's the weather in Paris?").await?;
    println!("answer: {text}\n");

    let tip = guard.flush()?;
    let log = std::fs::read_to_string(&path)?;
    println!("{} ({} entries):", path.display(), tip.next_seq);
    for line in log.lines() {
        println!("  {}", show(&serde_json::from_str(line)?));
    }
    let report = verify_path(
        &path,
        &VerifyOptions {
            key: Some(SigningKey::from_bytes(KEY)?),
            expected_head: Some(tip.head.clone()),
            expect_entries: Some(tip.next_seq),
            ..Default::default()
        },
    )?;
    println!("\nverify: {}", report.summary());
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
