//! A minimal in-process mock of the OpenAI Chat Completions API, for driving real LLM client
//! crates without a network or an API key.
//!
//! [`MockServer::start`] binds `127.0.0.1:0` and serves plain HTTP/1.1 from background threads
//! (one accept thread, one thread per connection; std only, no async runtime). Point a client
//! at [`MockServer::base_url`] (`http://127.0.0.1:PORT/v1`).
//!
//! `POST …/chat/completions` is answered from a fixed script, so every number a test asserts
//! on is known in advance:
//!
//! | the request | the reply |
//! |---|---|
//! | has a message with role `tool` | the final text [`FINAL_TEXT`], `finish_reason: "stop"`, usage [`FINAL_USAGE`], id [`FINAL_RESPONSE_ID`] |
//! | else declares `tools` | one call of [`TOOL_NAME`] with id [`TOOL_CALL_ID`] and arguments [`TOOL_ARGS`], `finish_reason: "tool_calls"`, usage [`TOOL_CALL_USAGE`], id [`TOOL_CALL_RESPONSE_ID`] |
//! | else | the final text, as above |
//!
//! Both replies report the model [`MOCK_MODEL`] and a `usage` object with
//! `prompt_tokens_details.cached_tokens` and `completion_tokens_details.reasoning_tokens`, so a
//! priced call has a cached part. A request with `"stream": true` gets the same reply as
//! server-sent events (`chat.completion.chunk`s, a usage chunk when
//! `stream_options.include_usage` is set, then `[DONE]`). Any other method or path gets a 404
//! with an OpenAI-style error body, so a client that calls an unexpected endpoint (such as
//! `/v1/responses`) fails loudly.
//!
//! HTTP handling: keep-alive (a client's `Connection: close`, or HTTP/1.0, closes the
//! connection after the reply), request bodies framed by `Content-Length` or
//! `Transfer-Encoding: chunked`, `Expect: 100-continue`. Replies always carry `Content-Length`
//! and an `x-request-id` header. Every request is recorded ([`MockServer::requests`]).
//!
//! ```
//! use acttrace_genai_clients::mock_openai::{MockServer, TOOL_CALL_ID};
//! use std::io::{Read, Write};
//!
//! let server = MockServer::start();
//! let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Weather?"}],
//!               "tools":[{"type":"function","function":{"name":"get_weather"}}]}"#;
//! let mut conn = std::net::TcpStream::connect(server.addr).unwrap();
//! write!(
//!     conn,
//!     "POST /v1/chat/completions HTTP/1.1\r\nHost: mock\r\nConnection: close\r\n\
//!      Content-Length: {}\r\n\r\n{body}",
//!     body.len()
//! )
//! .unwrap();
//! let mut reply = String::new();
//! conn.read_to_string(&mut reply).unwrap();
//! assert!(reply.starts_with("HTTP/1.1 200 OK"));
//! assert!(reply.contains(TOOL_CALL_ID));
//! assert_eq!(server.requests()[0].answered, "tool_call");
//! ```

use serde_json::{Value, json};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// The model every reply reports (`model`), as OpenAI reports a dated snapshot of
/// `gpt-4o-mini`.
pub const MOCK_MODEL: &str = "gpt-4o-mini-2024-07-18";
/// The tool the mock asks for.
pub const TOOL_NAME: &str = "get_weather";
/// The id of the mock's tool call.
pub const TOOL_CALL_ID: &str = "call_mock_weather_1";
/// The arguments of the mock's tool call (a JSON text, as OpenAI sends them).
pub const TOOL_ARGS: &str = r#"{"city":"Paris","unit":"C"}"#;
/// The assistant's final answer.
pub const FINAL_TEXT: &str = "It is 21 C and sunny in Paris.";
/// The `id` of the tool-call reply.
pub const TOOL_CALL_RESPONSE_ID: &str = "chatcmpl-mock-toolcall-0001";
/// The `id` of the final-text reply.
pub const FINAL_RESPONSE_ID: &str = "chatcmpl-mock-final-0002";

/// The token usage a reply reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MockUsage {
    /// `usage.prompt_tokens`: all input tokens, cached ones included.
    pub prompt_tokens: u64,
    /// `usage.completion_tokens`: all output tokens, reasoning ones included.
    pub completion_tokens: u64,
    /// `usage.prompt_tokens_details.cached_tokens`: the part of the input read from the cache.
    pub cached_tokens: u64,
    /// `usage.completion_tokens_details.reasoning_tokens`.
    pub reasoning_tokens: u64,
}

impl MockUsage {
    /// `usage.total_tokens`.
    pub const fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    fn to_json(self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens(),
            "prompt_tokens_details": { "cached_tokens": self.cached_tokens, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    }
}

/// The usage of the tool-call reply.
pub const TOOL_CALL_USAGE: MockUsage = MockUsage {
    prompt_tokens: 57,
    completion_tokens: 17,
    cached_tokens: 12,
    reasoning_tokens: 3,
};

/// The usage of the final-text reply.
pub const FINAL_USAGE: MockUsage = MockUsage {
    prompt_tokens: 90,
    completion_tokens: 12,
    cached_tokens: 32,
    reasoning_tokens: 5,
};

/// How long a connection thread waits for the next request before it gives up on the
/// connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One request as the mock saw it.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    /// The HTTP method.
    pub method: String,
    /// The request target, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The headers, names lowercased, in the order sent.
    pub headers: Vec<(String, String)>,
    /// Whether the body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// The body (lossily decoded as UTF-8).
    pub body: String,
    /// What the mock answered: `tool_call`, `final_text`, `not_found` or `bad_request`.
    pub answered: &'static str,
    /// Which TCP connection the request came on (0 = the first accepted).
    pub conn_id: u64,
    /// The request's position on its connection (0 = first): above 0 shows keep-alive reuse.
    pub seq_on_conn: u64,
}

impl SeenRequest {
    /// The value of a header (names are matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, `Value::Null` if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A running mock server. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct MockServer {
    /// The address it listens on (`127.0.0.1` and an ephemeral port).
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<SeenRequest>>>,
    stop: Arc<AtomicBool>,
}

impl MockServer {
    /// Binds `127.0.0.1:0` and serves in background threads.
    ///
    /// # Panics
    ///
    /// If the port cannot be bound or the accept thread cannot be started.
    pub fn start() -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("mock: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("mock: local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (requests.clone(), stop.clone());
        thread::Builder::new()
            .name("mock-openai-accept".into())
            .spawn(move || {
                let next_conn = AtomicU64::new(0);
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let seen = seen.clone();
                    let conn_id = next_conn.fetch_add(1, Ordering::SeqCst);
                    let _ = thread::Builder::new()
                        .name(format!("mock-openai-conn-{conn_id}"))
                        .spawn(move || {
                            // An I/O error ends the connection; the client sees it fail.
                            let _ = serve_connection(stream, &seen, conn_id);
                        });
                }
            })
            .expect("mock: start the accept thread");
        MockServer {
            addr,
            requests,
            stop,
        }
    }

    /// The base URL of the API, without a trailing slash: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The requests served so far, in the order they were answered.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Serves requests on one connection until the client closes it or asks to.
fn serve_connection(
    stream: TcpStream,
    seen: &Mutex<Vec<SeenRequest>>,
    conn_id: u64,
) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut seq_on_conn = 0;
    loop {
        // The request line.
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(()); // the client closed the connection
        }
        let line = line.trim_end();
        if line.is_empty() {
            continue; // tolerate a stray CRLF between requests
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let version = parts.next().unwrap_or("HTTP/1.1").to_owned();

        // The headers.
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }

        // The body, chunked or sized.
        let chunked =
            header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            read_chunked(&mut reader)?
        } else {
            let len = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body)?;
            body
        };
        let body = String::from_utf8_lossy(&body).into_owned();
        let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || version == "HTTP/1.0";

        let reply = route(&method, &path, &body);
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(SeenRequest {
                method,
                path,
                headers,
                chunked,
                body,
                answered: reply.answered,
                conn_id,
                seq_on_conn,
            });
        seq_on_conn += 1;

        let head = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             x-request-id: req_mock_{conn_id}_{seq_on_conn}\r\nConnection: {}\r\n\r\n",
            reply.status,
            reply.content_type,
            reply.body.len(),
            if close { "close" } else { "keep-alive" },
        );
        // One write: a head and a body sent apart can wait out a delayed ACK.
        writer.write_all(format!("{head}{}", reply.body).as_bytes())?;
        writer.flush()?;
        if close {
            return Ok(());
        }
    }
}

/// Reads a chunked body (chunk extensions and trailers are tolerated and ignored).
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        if reader.read_line(&mut size_line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size_hex = size_line.trim().split(';').next().unwrap_or("0");
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// A reply to one request.
struct Reply {
    status: &'static str,
    content_type: &'static str,
    body: String,
    answered: &'static str,
}

fn route(method: &str, path: &str, body: &str) -> Reply {
    let path_only = path.split('?').next().unwrap_or(path);
    if method != "POST" || !path_only.ends_with("/chat/completions") {
        let error = json!({"error": {
            "message": format!("mock: no route for {method} {path}"),
            "type": "invalid_request_error", "param": null, "code": "not_found"
        }});
        return Reply {
            status: "404 Not Found",
            content_type: "application/json",
            body: error.to_string(),
            answered: "not_found",
        };
    }
    let Ok(request) = serde_json::from_str::<Value>(body) else {
        let error = json!({"error": {
            "message": "mock: the body is not JSON", "type": "invalid_request_error"
        }});
        return Reply {
            status: "400 Bad Request",
            content_type: "application/json",
            body: error.to_string(),
            answered: "bad_request",
        };
    };
    let has_tool_result = request["messages"]
        .as_array()
        .is_some_and(|messages| messages.iter().any(|m| m["role"] == "tool"));
    let has_tools = request["tools"].as_array().is_some_and(|t| !t.is_empty());
    let (reply, answered) = if has_tools && !has_tool_result {
        (tool_call_response(), "tool_call")
    } else {
        (final_text_response(), "final_text")
    };
    if request["stream"].as_bool().unwrap_or(false) {
        let include_usage = request["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false);
        return Reply {
            status: "200 OK",
            content_type: "text/event-stream",
            body: to_sse(&reply, include_usage),
            answered,
        };
    }
    Reply {
        status: "200 OK",
        content_type: "application/json",
        body: reply.to_string(),
        answered,
    }
}

/// The chat completion that asks for a call of [`TOOL_NAME`].
pub fn tool_call_response() -> Value {
    json!({
        "id": TOOL_CALL_RESPONSE_ID,
        "object": "chat.completion",
        "created": 1_700_000_000u64,
        "model": MOCK_MODEL,
        "system_fingerprint": "fp_mock",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "refusal": null,
                "tool_calls": [{
                    "id": TOOL_CALL_ID,
                    "type": "function",
                    "function": { "name": TOOL_NAME, "arguments": TOOL_ARGS }
                }]
            },
            "logprobs": null,
            "finish_reason": "tool_calls"
        }],
        "usage": TOOL_CALL_USAGE.to_json()
    })
}

/// The chat completion with the final answer [`FINAL_TEXT`].
pub fn final_text_response() -> Value {
    json!({
        "id": FINAL_RESPONSE_ID,
        "object": "chat.completion",
        "created": 1_700_000_001u64,
        "model": MOCK_MODEL,
        "system_fingerprint": "fp_mock",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": FINAL_TEXT, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": FINAL_USAGE.to_json()
    })
}

/// A chat completion as server-sent events: `chat.completion.chunk`s, a usage chunk if asked
/// for, then `[DONE]`.
fn to_sse(reply: &Value, include_usage: bool) -> String {
    let chunk = |choices: Value, usage: Value| {
        json!({
            "id": reply["id"], "object": "chat.completion.chunk", "created": reply["created"],
            "model": reply["model"], "system_fingerprint": "fp_mock",
            "choices": choices, "usage": usage
        })
    };
    let delta = |delta: Value, finish_reason: Value| {
        chunk(
            json!([{"index": 0, "delta": delta, "finish_reason": finish_reason}]),
            Value::Null,
        )
    };
    let message = &reply["choices"][0]["message"];
    let mut events = vec![delta(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    if let Some(text) = message["content"].as_str() {
        for piece in text.split_inclusive(' ') {
            events.push(delta(json!({"content": piece}), Value::Null));
        }
    }
    for (i, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        events.push(delta(
            json!({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}]}),
            Value::Null,
        ));
        events.push(delta(
            json!({"tool_calls": [{"index": i,
                "function": {"arguments": call["function"]["arguments"]}}]}),
            Value::Null,
        ));
    }
    events.push(delta(
        json!({}),
        reply["choices"][0]["finish_reason"].clone(),
    ));
    if include_usage {
        events.push(chunk(json!([]), reply["usage"].clone()));
    }
    let mut out = String::new();
    for event in events {
        out.push_str("data: ");
        out.push_str(&event.to_string());
        out.push_str("\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    out
}
