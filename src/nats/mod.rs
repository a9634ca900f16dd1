//! NATS JetStream as a chain store (feature `nats`): the connection settings shared by the
//! writer (`writer::NatsWriter`) and the readers, the stream settings that make a
//! stream append-only in practice ([`check_append_only`], [`init_stream`]), the stored
//! message's format, and verification straight from a stream ([`verify_source`]).
//!
//! One chain is one subject (`acttrace.<system>.<instance>`); each committed batch is one
//! message whose body is the batch's log lines, exactly as a file holds them, with headers that
//! name it (docs/FORMAT.md, "NATS JetStream"). Reading a subject's messages in order and
//! concatenating their bodies gives the chain's JSONL file.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;

mod checkpoints;
mod conn;
mod policy;
mod read;

pub use checkpoints::{
    CHECKPOINT_STREAM, CHECKPOINT_SUBJECT_PREFIX, HEADER_ORIGIN, HEADER_TREE_SIZE,
    NatsCheckpointSink, checkpoint_subject,
};
pub(crate) use conn::{Conn, PublishOutcome, StoredMsg};
pub use policy::{StreamSettings, check_append_only, init_stream, stream_config};
pub(crate) use read::read_subject;
pub use read::{
    ChainReport, StreamVerification, copy_subject, list_chains, verify_source,
    verify_source_observed,
};

/// The shortest stream `max_age` accepted by default: six months (183 days), the retention
/// floor of a high-risk log (EU AI Act Art. 19(1), 26(6); the same as `writer::MIN_RETENTION`).
pub const MIN_MAX_AGE: Duration = Duration::from_secs(183 * 24 * 3600);

/// The header that carries a batch's new head hash.
pub const HEADER_HEAD: &str = "Acttrace-Head";
/// The header that carries the seq of a batch's first entry.
pub const HEADER_FIRST_SEQ: &str = "Acttrace-First-Seq";
/// The header that carries how many entries a batch holds.
pub const HEADER_ENTRIES: &str = "Acttrace-Entries";
/// JetStream's de-duplication header; ours is `<subject>:<first seq>:<head>`.
pub const HEADER_MSG_ID: &str = "Nats-Msg-Id";
/// JetStream's optimistic-concurrency header: the stream seq of the subject's last message.
pub const HEADER_EXPECTED_LAST_SUBJECT_SEQ: &str = "Nats-Expected-Last-Subject-Sequence";

/// How a client proves who it is. Secrets come from a file or the environment, never from a
/// command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NatsCredentials {
    /// No credentials (a server without authentication, or one that trusts the TLS client
    /// certificate).
    #[default]
    None,
    /// A `.creds` file (user JWT and NKey seed), as `nsc` writes it.
    CredsFile(PathBuf),
    /// The name of an environment variable holding a `.creds` file's text.
    CredsEnv(String),
    /// The names of two environment variables: user name and password.
    UserPasswordEnv {
        /// The variable holding the user name.
        user: String,
        /// The variable holding the password.
        password: String,
    },
    /// The name of an environment variable holding a token.
    TokenEnv(String),
}

/// TLS settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// Refuse a connection that is not TLS (also implied by a `tls://` URL).
    pub required: bool,
    /// PEM file of the certificate authorities to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// PEM files of a client certificate and its private key, for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// How to reach a NATS server: what the writer and the readers share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsClientOptions {
    /// Credentials.
    pub credentials: NatsCredentials,
    /// TLS.
    pub tls: NatsTls,
    /// How long the first connection may take.
    pub connect_timeout: Duration,
    /// How long one request (a publish's acknowledgement, a message get) may take before it is
    /// retried or reported.
    pub request_timeout: Duration,
}

impl Default for NatsClientOptions {
    fn default() -> Self {
        NatsClientOptions {
            credentials: NatsCredentials::None,
            tls: NatsTls::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// Where the NATS writer stores one chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsConfig {
    /// Server URL(s): `nats://host:port` (or `tls://`), several separated by commas.
    pub url: String,
    /// The JetStream stream (created beforehand by the admin step, [`init_stream`]).
    pub stream: String,
    /// This chain's subject, `acttrace.<system>.<instance>`: tokens of `[A-Za-z0-9_-]`.
    pub subject: String,
    /// A small file on this host where the writer keeps the stream's creation time and the last
    /// acknowledged (stream seq, head), so that a stream that went backwards or was recreated
    /// is refused at the next open rather than silently restarting the chain.
    pub state_file: PathBuf,
    /// Connection settings.
    pub client: NatsClientOptions,
    /// The shortest `max_age` a stream may have (0, no age limit, is always accepted); by
    /// default [`MIN_MAX_AGE`].
    pub min_max_age: Duration,
    /// How long a commit keeps republishing a batch without a definite answer before the writer
    /// stops for good (outcome unknown, so never rolled back); `None` (the default) keeps
    /// trying while the sequencer's queue applies its back-pressure.
    pub commit_deadline: Option<Duration>,
}

impl NatsConfig {
    /// A configuration with default connection settings.
    pub fn new(
        url: impl Into<String>,
        stream: impl Into<String>,
        subject: impl Into<String>,
        state_file: impl Into<PathBuf>,
    ) -> NatsConfig {
        NatsConfig {
            url: url.into(),
            stream: stream.into(),
            subject: subject.into(),
            state_file: state_file.into(),
            client: NatsClientOptions::default(),
            min_max_age: MIN_MAX_AGE,
            commit_deadline: None,
        }
    }
}

/// An error reaching or reading `location` (a URL, stream or subject): `cannot <op> <location>:
/// <detail>`.
pub(crate) fn nats_error(
    op: &'static str,
    location: &str,
    detail: impl std::fmt::Display,
) -> Error {
    Error::Io {
        op,
        path: PathBuf::from(location),
        source: std::io::Error::other(detail.to_string()),
    }
}

/// Checks a chain subject: dot-separated tokens of `[A-Za-z0-9_-]` (no wildcard, no empty
/// token), at most 255 bytes.
pub fn validate_subject(subject: &str) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::Config(format!("NATS subject {subject:?}: {why}")));
    if subject.is_empty() || subject.len() > 255 {
        return bad("must be 1 to 255 bytes");
    }
    for token in subject.split('.') {
        if token.is_empty() {
            return bad("has an empty token");
        }
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return bad("tokens may hold only A-Z, a-z, 0-9, `_` and `-`");
        }
    }
    Ok(())
}

/// Checks a stream name: `[A-Za-z0-9_-]`, 1 to 255 bytes.
pub fn validate_stream(stream: &str) -> Result<(), Error> {
    if stream.is_empty()
        || stream.len() > 255
        || !stream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::Config(format!(
            "NATS stream name {stream:?}: 1 to 255 bytes of A-Z, a-z, 0-9, `_` and `-`"
        )));
    }
    Ok(())
}

/// A chain or stream to read: `nats://HOST:PORT/STREAM[/SUBJECT]` (or `tls://`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsSource {
    /// The server URL (`nats://HOST:PORT`).
    pub url: String,
    /// The stream.
    pub stream: String,
    /// One chain's subject; `None` for every chain in the stream.
    pub subject: Option<String>,
    /// The stream holding the chains' checkpoints ([`NatsCheckpointSink`]), read with each
    /// chain when it exists: the chain's latest checkpoint there becomes the expected
    /// checkpoint its verification must be consistent with (unless the caller gave one), so a
    /// chain cut back or rewritten below it fails. [`NatsSource::parse`] sets
    /// [`CHECKPOINT_STREAM`]; `None` reads no checkpoint stream.
    pub checkpoint_stream: Option<String>,
}

impl NatsSource {
    /// Parses `nats://HOST:PORT/STREAM[/SUBJECT]`; `None` when `s` is not a NATS URL at all.
    pub fn parse(s: &str) -> Option<Result<NatsSource, Error>> {
        let rest = s
            .strip_prefix("nats://")
            .map(|r| ("nats://", r))
            .or_else(|| s.strip_prefix("tls://").map(|r| ("tls://", r)));
        let (scheme, rest) = rest?;
        Some((|| {
            let mut parts = rest.splitn(3, '/');
            let host = parts.next().unwrap_or_default();
            let stream = parts.next().unwrap_or_default();
            let subject = parts.next().filter(|s| !s.is_empty());
            if host.is_empty() || host.contains('@') {
                return Err(Error::Config(format!(
                    "{s}: expected nats://HOST:PORT/STREAM[/SUBJECT] (credentials go in a file \
                     or the environment, not the URL)"
                )));
            }
            validate_stream(stream)?;
            if let Some(subject) = subject {
                validate_subject(subject)?;
            }
            Ok(NatsSource {
                url: format!("{scheme}{host}"),
                stream: stream.to_owned(),
                subject: subject.map(str::to_owned),
                checkpoint_stream: Some(CHECKPOINT_STREAM.to_owned()),
            })
        })())
    }

    /// `nats://HOST:PORT/STREAM[/SUBJECT]`.
    pub fn display(&self) -> String {
        match &self.subject {
            Some(s) => format!("{}/{}/{s}", self.url, self.stream),
            None => format!("{}/{}", self.url, self.stream),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_dot_separated_safe_tokens() {
        for ok in ["acttrace.sys.host-1", "acttrace.a_b.C9", "x"] {
            assert!(validate_subject(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "acttrace.*",
            "acttrace.>",
            "a..b",
            "a.b.",
            "a b",
            "a.é",
            ".a",
            "a\nb",
        ] {
            assert!(validate_subject(bad).is_err(), "{bad:?}");
        }
        assert!(validate_subject(&"a".repeat(256)).is_err());
    }

    #[test]
    fn sources_parse_stream_and_optional_subject() {
        let s = NatsSource::parse("nats://127.0.0.1:4222/AUDIT")
            .unwrap()
            .unwrap();
        assert_eq!(s.url, "nats://127.0.0.1:4222");
        assert_eq!(s.stream, "AUDIT");
        assert_eq!(s.subject, None);
        let s = NatsSource::parse("tls://h:1/AUDIT/acttrace.a.b")
            .unwrap()
            .unwrap();
        assert_eq!(s.url, "tls://h:1");
        assert_eq!(s.subject.as_deref(), Some("acttrace.a.b"));
        assert_eq!(s.display(), "tls://h:1/AUDIT/acttrace.a.b");
        assert!(NatsSource::parse("log.jsonl").is_none());
        for bad in [
            "nats://",
            "nats://h:1",
            "nats://h:1/",
            "nats://u:p@h:1/S",
            "nats://h:1/S.T",
            "nats://h:1/S/a.*",
        ] {
            assert!(NatsSource::parse(bad).unwrap().is_err(), "{bad}");
        }
    }
}
