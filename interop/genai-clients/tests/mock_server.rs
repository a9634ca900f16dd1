//! The mock itself, at the socket level: keep-alive, a chunked request body, `Connection:
//! close`, a 404 for an unknown path, and a streamed reply.

use acttrace_genai_clients::mock_openai::{self, MockServer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

type Response = (String, Vec<(String, String)>, String);

fn read_response(reader: &mut BufReader<TcpStream>) -> Response {
    let mut status = String::new();
    reader.read_line(&mut status).expect("a status line");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("a header");
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .expect("a Content-Length")
        .1
        .parse()
        .unwrap();
    let mut body = vec![0; len];
    reader.read_exact(&mut body).expect("the body");
    (
        status.trim_end().to_owned(),
        headers,
        String::from_utf8(body).unwrap(),
    )
}

fn connect(server: &MockServer) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(server.addr).expect("connect to the mock");
    // Only a hang is caught: a reply that never comes fails the test instead of blocking it.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let reader = BufReader::new(stream.try_clone().unwrap());
    (stream, reader)
}

fn has(headers: &[(String, String)], name: &str, value: &str) -> bool {
    headers.iter().any(|(k, v)| k == name && v == value)
}

#[test]
fn keep_alive_chunked_bodies_close_404_and_streaming() {
    let server = MockServer::start();
    let (mut conn, mut reader) = connect(&server);

    // A chunked body that declares tools: a tool call, and the connection stays open.
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{}}}]}"#;
    let (a, b) = body.split_at(20);
    write!(
        conn,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: mock\r\nTransfer-Encoding: chunked\r\n\
         Content-Type: application/json\r\n\r\n{:x}\r\n{a}\r\n{:x};ext=1\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    )
    .unwrap();
    let (status, headers, reply) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(has(&headers, "connection", "keep-alive"), "{headers:?}");
    assert!(has(&headers, "x-request-id", "req_mock_0_1"), "{headers:?}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply, mock_openai::tool_call_response());
    assert_eq!(
        reply["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        mock_openai::TOOL_NAME
    );
    assert_eq!(reply["usage"]["prompt_tokens_details"]["cached_tokens"], 12);

    // Same connection, a sized body with a tool result: the final text, then close as asked.
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_mock_weather_1","content":"{}"}]}"#;
    write!(
        conn,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: mock\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let (status, headers, reply) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(has(&headers, "connection", "close"), "{headers:?}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        mock_openai::FINAL_TEXT
    );
    assert_eq!(reply["usage"]["total_tokens"], 102);
    let mut rest = Vec::new();
    assert_eq!(
        reader.read_to_end(&mut rest).unwrap(),
        0,
        "the mock closed the connection"
    );

    // An unknown path gets a 404; a streamed request gets server-sent events.
    let (mut conn, mut reader) = connect(&server);
    write!(
        conn,
        "POST /v1/responses HTTP/1.1\r\nHost: mock\r\nContent-Length: 2\r\n\r\n{{}}"
    )
    .unwrap();
    assert_eq!(read_response(&mut reader).0, "HTTP/1.1 404 Not Found");
    let body = r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    write!(
        conn,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: mock\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let (_, headers, events) = read_response(&mut reader);
    assert!(
        has(&headers, "content-type", "text/event-stream"),
        "{headers:?}"
    );
    assert!(events.ends_with("data: [DONE]\n\n"), "{events}");
    let chunks: Vec<serde_json::Value> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, mock_openai::FINAL_TEXT);
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 12, "{events}");

    let seen = server.requests();
    assert_eq!(
        seen.iter().map(|r| r.answered).collect::<Vec<_>>(),
        ["tool_call", "final_text", "not_found", "final_text"]
    );
    assert!(seen[0].chunked && !seen[1].chunked);
    assert_eq!(seen[0].json()["model"], "m");
    assert_eq!((seen[0].conn_id, seen[0].seq_on_conn), (0, 0));
    assert_eq!((seen[1].conn_id, seen[1].seq_on_conn), (0, 1));
    assert_eq!(seen[2].path, "/v1/responses");
    assert_eq!(
        seen[3].header("Content-Length"),
        Some(body.len().to_string().as_str())
    );
}
