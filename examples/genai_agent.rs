//! An agent whose model and tool calls are audited with no per-call wiring: the LLM client
//! describes each call with OpenTelemetry `gen_ai.*` span fields (as `genai` with its `otel`
//! feature and `rig` do), and the audit layer turns those spans into `llm_call` and `tool_call`
//! entries under the decision, priced from the embedded price table.
//!
//! ```text
//! cargo run --example genai_agent                  # writes target/acttrace-genai/audit.jsonl
//! ```
//!
//! `client` below stands in for an LLM client crate so that the example runs offline: it opens
//! the same span, with the same fields, that `genai` 0.7 opens around a chat call. With a real
//! client, delete it and call the client; nothing else changes. `interop/genai-clients` runs the
//! same pattern through `genai` and `rig` against a local mock server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use acttrace::genai::{ContentCapture, GenAiCapture};
use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::{AuditLayer, SigningKey};
use tracing::instrument;
use tracing_subscriber::prelude::*;

/// Stands in for an LLM client crate's instrumentation.
mod client {
    use tracing::field::Empty;

    pub struct Reply {
        pub text: String,
        pub tool_call: Option<(String, String, String)>,
    }

    /// A chat call, traced as `genai` traces it: fields known up front are set when the span
    /// opens, the response's are declared `Empty` and recorded when it arrives.
    pub fn chat(model: &str, prompt: &str, tool_result: Option<&str>) -> Reply {
        let span = tracing::info_span!(
            "genai.chat",
            otel.name = %format!("chat {model}"),
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = "openai",
            gen_ai.request.model = model,
            gen_ai.input.messages = prompt,
            gen_ai.response.model = Empty,
            gen_ai.response.id = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.usage.cache_read.input_tokens = Empty,
            gen_ai.output.messages = Empty,
        );
        // The "response" (a real client gets it over HTTP).
        let (reply, finish, input, cached, output) = match tool_result {
            None => (
                Reply {
                    text: String::new(),
                    tool_call: Some((
                        "call_1".into(),
                        "get_weather".into(),
                        r#"{"city":"Paris"}"#.into(),
                    )),
                },
                "tool_calls",
                412u64,
                128u64,
                23u64,
            ),
            Some(result) => (
                Reply {
                    text: format!("It is {result} in Paris."),
                    tool_call: None,
                },
                "stop",
                460,
                384,
                17,
            ),
        };
        span.record("gen_ai.response.model", "gpt-4o-mini-2024-07-18");
        span.record("gen_ai.response.id", "chatcmpl-demo");
        span.record(
            "gen_ai.response.finish_reasons",
            format!("[\"{finish}\"]").as_str(),
        );
        span.record("gen_ai.usage.input_tokens", input);
        span.record("gen_ai.usage.output_tokens", output);
        span.record("gen_ai.usage.cache_read.input_tokens", cached);
        span.record("gen_ai.output.messages", reply.text.as_str());
        reply
    }

    /// A tool execution, traced as `genai::otel::agent::execute_tool_span` traces it.
    pub fn execute_tool(call_id: &str, name: &str, arguments: &str) -> String {
        let span = tracing::info_span!(
            "genai.execute_tool",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = name,
            gen_ai.tool.call.id = call_id,
            gen_ai.tool.type = "function",
            gen_ai.tool.call.arguments = arguments,
            gen_ai.tool.call.result = Empty,
        );
        let _in = span.enter();
        let result = "18°C and sunny".to_owned();
        span.record("gen_ai.tool.call.result", result.as_str());
        result
    }
}

/// A decision: everything the client traces inside it is chained under its `decision_id`.
#[instrument(skip_all, fields(audit.decision = "weather.answer", actor = "weather-agent"))]
fn answer(question: &str) -> String {
    let first = client::chat("gpt-4o-mini", question, None);
    match first.tool_call {
        Some((id, name, args)) => {
            let result = client::execute_tool(&id, &name, &args);
            client::chat("gpt-4o-mini", question, Some(&result)).text
        }
        None => first.text,
    }
}

fn main() -> ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/acttrace-genai/audit.jsonl"));
    match run(&path) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("genai_agent: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(path: &Path) -> Result<bool, Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // A fresh log each run, so the printout below is this run's.
    let _ = std::fs::remove_file(path);
    let key = SigningKey::from_bytes("genai-agent-demo-key")?;
    let (layer, guard) = AuditLayer::builder()
        .system("weather-agent")
        .path(path)
        .signing_key(key.clone())
        // Prompts and replies are kept as keyed digests (provable later, not readable);
        // tool arguments and results are kept after redaction.
        .gen_ai(
            GenAiCapture::default()
                .messages(ContentCapture::Digest)
                .tool_io(ContentCapture::Full),
        )
        .build()?;
    tracing_subscriber::registry().with(layer).init();

    let reply = answer("What is the weather in Paris?");
    println!("agent: {reply}");

    let tip = guard.flush()?;
    for line in std::fs::read_to_string(path)?.lines() {
        let entry = acttrace::json::parse(line)?;
        let payload = entry.get("payload");
        let field = |k: &str| {
            payload
                .and_then(|p| p.get(k))
                .map_or_else(String::new, |v| format!(" {k}={v}"))
        };
        println!(
            "seq {} {}{}{}{}{}",
            entry.get("seq").map_or_else(String::new, |v| v.to_string()),
            entry.get("type").and_then(|t| t.as_str()).unwrap_or("?"),
            field("model"),
            field("usage"),
            field("cost"),
            field("name"),
        );
    }
    let report = verify_path(
        path,
        &VerifyOptions {
            key: Some(key),
            expected_head: Some(tip.head.clone()),
            expect_entries: Some(tip.next_seq),
            ..VerifyOptions::default()
        },
    )?;
    println!("{}: {}", path.display(), report.summary());
    Ok(report.ok())
}
