//! The connection: a tokio runtime the connection owns (one worker thread, so the client keeps
//! answering the server's pings between commits) and blocking wrappers over the JetStream API
//! requests the writer and the readers need. API requests are made as plain NATS requests to
//! `$JS.API.*` and their JSON read here, so every server version's fields are seen as sent.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use super::{NatsClientOptions, NatsCredentials};
use crate::error::Error;

/// JetStream's error code for "no message found" (a message get).
const NO_MESSAGE_FOUND: u64 = 10037;

/// A connected client and the runtime that drives it.
pub(crate) struct Conn {
    /// Always `Some` until dropped (then shut down without waiting, which is allowed even
    /// from async code).
    rt: Option<tokio::runtime::Runtime>,
    pub(super) client: async_nats::Client,
    pub(crate) url: String,
    timeout: Duration,
}

/// Why a JetStream API request failed.
#[derive(Debug)]
pub(crate) enum ApiFailure {
    /// The server answered with an error: a definite answer.
    Api {
        /// JetStream's `err_code`.
        err_code: u64,
        /// The server's description.
        description: String,
    },
    /// No answer (timed out, no responders, disconnected): the request may or may not have
    /// been acted on.
    NoAnswer(String),
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiFailure::Api {
                err_code,
                description,
            } => write!(f, "{description} (JetStream error {err_code})"),
            ApiFailure::NoAnswer(e) => write!(f, "no answer: {e}"),
        }
    }
}

/// A message read back from a stream with `STREAM.MSG.GET` (answered by the stream's leader).
#[derive(Clone, Debug)]
pub(crate) struct StoredMsg {
    pub(crate) seq: u64,
    pub(crate) subject: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) data: Vec<u8>,
}

impl StoredMsg {
    /// A header's first value (names compared without case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a publish's acknowledgement said.
#[derive(Debug)]
pub(crate) enum PublishOutcome {
    /// Stored (or, with `duplicate`, a message with the same id was already stored) at `seq`.
    Stored { seq: u64, duplicate: bool },
    /// Refused: a definite answer, nothing stored.
    Rejected { err_code: u64, description: String },
    /// No answer: the message may land later.
    NoAnswer(String),
    /// No stream listens on the subject (the server said "no responders"): the message was
    /// delivered to no one and will not land later. A writer still waits (a stream's leader
    /// may be moving); a checkpoint sink reports its checkpoint unpublished at once.
    NoStream(String),
}

impl Conn {
    /// Connects to `url` with `opts`; the first connection must succeed within the connect
    /// timeout, later reconnections are retried without limit.
    pub(crate) fn connect(url: &str, opts: &NatsClientOptions) -> Result<Conn, Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("acttrace-nats")
            .enable_all()
            .build()
            .map_err(|e| super::nats_error("start a runtime for", url, e))?;
        let fail = |what: String| super::nats_error("connect to", url, what);
        let mut options = async_nats::ConnectOptions::new()
            .connection_timeout(opts.connect_timeout)
            .request_timeout(Some(opts.request_timeout))
            .max_reconnects(None);
        let env = |name: &str| {
            std::env::var(name).map_err(|_| {
                fail(format!(
                    "credentials: environment variable {name} is not set (or not UTF-8)"
                ))
            })
        };
        options = match &opts.credentials {
            NatsCredentials::None => options,
            NatsCredentials::CredsFile(path) => block_on(&rt, options.credentials_file(path))
                .map_err(|e| fail(format!("credentials file {}: {e}", path.display())))?,
            NatsCredentials::CredsEnv(var) => options
                .credentials(&env(var)?)
                .map_err(|e| fail(format!("credentials in {var}: {e}")))?,
            NatsCredentials::UserPasswordEnv { user, password } => {
                options.user_and_password(env(user)?, env(password)?)
            }
            NatsCredentials::TokenEnv(var) => options.token(env(var)?),
        };
        if opts.tls.required || url.starts_with("tls://") {
            options = options.require_tls(true);
        }
        if let Some(ca) = &opts.tls.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &opts.tls.client_cert {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        let client = block_on(&rt, async {
            tokio::time::timeout(opts.connect_timeout, options.connect(url)).await
        })
        .map_err(|_| fail(format!("no connection within {:?}", opts.connect_timeout)))?
        .map_err(|e| fail(format!("cannot connect: {e}")))?;
        Ok(Conn {
            rt: Some(rt),
            client,
            url: url.to_owned(),
            timeout: opts.request_timeout,
        })
    }

    /// Runs `f` on the connection's runtime and waits for it (see [`block_on`]).
    pub(super) fn block_on<F>(&self, f: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        let rt = self
            .rt
            .as_ref()
            .unwrap_or_else(|| unreachable!("the runtime lives until the connection is dropped"));
        block_on(rt, f)
    }

    /// The largest message (headers and body) the server takes.
    pub(crate) fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }

    /// A JetStream API request; `Ok` is the answer's JSON when it carries no error.
    pub(crate) fn api(&self, subject: &str, body: &Value) -> Result<Value, ApiFailure> {
        let payload = serde_json::to_vec(body).unwrap_or_default();
        let answer = self.block_on(async {
            tokio::time::timeout(
                self.timeout,
                self.client.request(subject.to_owned(), payload.into()),
            )
            .await
        });
        let msg = match answer {
            Err(_) => return Err(ApiFailure::NoAnswer("timed out".into())),
            Ok(Err(e)) => return Err(ApiFailure::NoAnswer(e.to_string())),
            Ok(Ok(m)) => m,
        };
        parse_api_answer(&msg.payload)
    }

    /// The stream's info (`config`, `created`, `state`), and with `subjects` the subjects it
    /// holds messages on (`state.subjects`).
    pub(crate) fn stream_info(&self, stream: &str, subjects: bool) -> Result<Value, ApiFailure> {
        let body = if subjects {
            serde_json::json!({"subjects_filter": ">"})
        } else {
            serde_json::json!({})
        };
        self.api(&format!("$JS.API.STREAM.INFO.{stream}"), &body)
    }

    /// `STREAM.MSG.GET` (the leader's answer, never a replica's direct get): the message at
    /// `seq`, or with `last_by_subject` the subject's last one; `None` when there is none.
    pub(crate) fn msg_get(
        &self,
        stream: &str,
        seq: Option<u64>,
        last_by_subject: Option<&str>,
    ) -> Result<Option<StoredMsg>, ApiFailure> {
        let body = match (seq, last_by_subject) {
            (_, Some(subject)) => serde_json::json!({"last_by_subj": subject}),
            (seq, None) => serde_json::json!({"seq": seq.unwrap_or(0)}),
        };
        let answer = match self.api(&format!("$JS.API.STREAM.MSG.GET.{stream}"), &body) {
            Err(ApiFailure::Api { err_code, .. }) if err_code == NO_MESSAGE_FOUND => {
                return Ok(None);
            }
            other => other?,
        };
        let m = &answer["message"];
        let b64 = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .map(|s| base64::engine::general_purpose::STANDARD.decode(s))
                .transpose()
        };
        let bad = |what: &str| ApiFailure::Api {
            err_code: 0,
            description: format!("malformed message-get answer: {what}"),
        };
        let data = b64("data").map_err(|_| bad("data"))?.unwrap_or_default();
        let hdrs = b64("hdrs").map_err(|_| bad("hdrs"))?.unwrap_or_default();
        Ok(Some(StoredMsg {
            seq: m
                .get("seq")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("seq"))?,
            subject: m
                .get("subject")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("subject"))?
                .to_owned(),
            headers: parse_headers(&hdrs),
            data,
        }))
    }

    /// Publishes one message and waits for the stream's acknowledgement.
    pub(crate) fn publish(
        &self,
        subject: &str,
        headers: &[(&str, String)],
        payload: &[u8],
    ) -> PublishOutcome {
        let mut map = async_nats::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.as_str());
        }
        let answer = self.block_on(async {
            tokio::time::timeout(
                self.timeout,
                self.client
                    .request_with_headers(subject.to_owned(), map, payload.to_vec().into()),
            )
            .await
        });
        let msg = match answer {
            Err(_) => return PublishOutcome::NoAnswer("timed out".into()),
            Ok(Err(e)) => {
                if matches!(
                    e.kind(),
                    async_nats::client::RequestErrorKind::MaxPayloadExceeded
                ) {
                    return PublishOutcome::Rejected {
                        err_code: 0,
                        description: e.to_string(),
                    };
                }
                if matches!(e.kind(), async_nats::client::RequestErrorKind::NoResponders) {
                    return PublishOutcome::NoStream(e.to_string());
                }
                return PublishOutcome::NoAnswer(e.to_string());
            }
            Ok(Ok(m)) => m,
        };
        match parse_api_answer(&msg.payload) {
            Ok(ack) => match ack.get("seq").and_then(Value::as_u64) {
                Some(seq) => PublishOutcome::Stored {
                    seq,
                    duplicate: ack.get("duplicate").and_then(Value::as_bool) == Some(true),
                },
                None => PublishOutcome::NoAnswer(format!(
                    "an acknowledgement without seq: {}",
                    String::from_utf8_lossy(&msg.payload)
                )),
            },
            Err(ApiFailure::Api {
                err_code,
                description,
            }) => PublishOutcome::Rejected {
                err_code,
                description,
            },
            Err(ApiFailure::NoAnswer(e)) => PublishOutcome::NoAnswer(e),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Waits for `f` on `rt`. Called from async code (a layer built inside `#[tokio::main]`, say),
/// where a runtime cannot block inside another, the wait happens on a thread of its own.
fn block_on<F>(rt: &tokio::runtime::Runtime, f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| rt.block_on(f))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    } else {
        rt.block_on(f)
    }
}

/// Reads a JetStream API answer: its JSON, or its `error`.
fn parse_api_answer(payload: &[u8]) -> Result<Value, ApiFailure> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| {
        ApiFailure::NoAnswer(format!(
            "not a JetStream answer ({e}): {}",
            String::from_utf8_lossy(&payload[..payload.len().min(200)])
        ))
    })?;
    if let Some(err) = v.get("error") {
        return Err(ApiFailure::Api {
            err_code: err.get("err_code").and_then(Value::as_u64).unwrap_or(0),
            description: err
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_owned(),
        });
    }
    Ok(v)
}

/// Parses a stored message's header block (`NATS/1.0\r\nName: value\r\n...\r\n\r\n`).
pub(crate) fn parse_headers(block: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(block);
    text.split("\r\n")
        .skip(1)
        .filter_map(|line| {
            let (k, v) = line.split_once(':')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_blocks_parse_into_names_and_values() {
        let h = parse_headers(b"NATS/1.0\r\nNats-Msg-Id: a.b:3:ff\r\nActtrace-Head: ff\r\n\r\n");
        assert_eq!(
            h,
            vec![
                ("Nats-Msg-Id".to_owned(), "a.b:3:ff".to_owned()),
                ("Acttrace-Head".to_owned(), "ff".to_owned())
            ]
        );
    }

    #[test]
    fn api_errors_are_definite_and_carry_their_code() {
        match parse_api_answer(
            br#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 4"}}"#,
        ) {
            Err(ApiFailure::Api { err_code, .. }) => assert_eq!(err_code, 10071),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_api_answer(b"garbage"),
            Err(ApiFailure::NoAnswer(_))
        ));
    }
}
