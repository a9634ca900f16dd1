//! Checkpoints kept in a JetStream stream of their own ([`NatsCheckpointSink`]): off the hosts
//! that wrote the chains, and apart from the entry stream, so that deleting or recreating the
//! entry stream does not take the checkpoints with it.
//!
//! Each committed checkpoint is one message on the chain's checkpoint subject
//! ([`checkpoint_subject`]): its body is the signed note, its headers name it
//! (docs/FORMAT.md §9). The subject's last message is the latest checkpoint, read back with
//! `STREAM.MSG.GET` (last by subject, answered by the stream's leader).

use std::time::{Duration, Instant};

use super::{
    Conn, HEADER_MSG_ID, NatsClientOptions, NatsConfig, PublishOutcome, StoredMsg,
    check_append_only, validate_stream, validate_subject,
};
use crate::checkpoint::{CheckpointSink, CommittedCheckpoint, SinkEvent};
use crate::error::Error;

/// The checkpoint stream `acttrace nats init` creates beside the entry stream.
pub const CHECKPOINT_STREAM: &str = "ACTTRACE_CHECKPOINTS";

/// The first token of every checkpoint subject (the checkpoint stream takes
/// `acttrace-checkpoints.>`, which no entry stream on `acttrace.>` overlaps: JetStream refuses
/// two streams whose subjects overlap).
pub const CHECKPOINT_SUBJECT_PREFIX: &str = "acttrace-checkpoints";

/// The header that carries a checkpoint message's tree size.
pub const HEADER_TREE_SIZE: &str = "Acttrace-Tree-Size";
/// The header that carries a checkpoint message's origin.
pub const HEADER_ORIGIN: &str = "Acttrace-Origin";

/// The checkpoint subject of the chain on `entry_subject`:
/// `acttrace-checkpoints.<entry subject>` (`acttrace-checkpoints.acttrace.loan-desk.host-17`),
/// so each chain's checkpoints have a subject of their own that an auditor derives from the
/// chain's.
pub fn checkpoint_subject(entry_subject: &str) -> String {
    format!("{CHECKPOINT_SUBJECT_PREFIX}.{entry_subject}")
}

/// How long a publish keeps being retried without a definite answer before the sink reports
/// the checkpoint unpublished (chained as `witness_gap`); the next checkpoint is tried afresh.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(30);

/// A [`CheckpointSink`] that publishes every committed checkpoint note to a JetStream stream
/// other than the entries' (by default [`CHECKPOINT_STREAM`], on [`checkpoint_subject`]), and
/// reads the latest one back when a log opens: a log whose chain is shorter than, or
/// inconsistent with, the checkpoint the stream holds is refused at build
/// ([`Error::CheckpointConflict`]).
///
/// * The stream must be append-only in practice, checked at the first
///   [`latest`](CheckpointSink::latest) as the writer checks the entry stream
///   ([`check_append_only`]).
/// * Each message carries `Nats-Msg-Id: <subject>:<tree size>`: a publish without an answer
///   is republished identically, and a duplicate acknowledgement counts only once the stored
///   message was read back and found to be this note. A checkpoint that cannot be published
///   (no definite answer within 30 s, or refused) is reported as
///   [`SinkEvent::Unreachable`] (chained as `witness_gap`); the log goes on.
/// * Connection errors at open are errors: a log that cannot read its checkpoint stream does
///   not start (it could not tell whether the chain was cut back).
pub struct NatsCheckpointSink {
    url: String,
    client: NatsClientOptions,
    stream: String,
    subject: String,
    min_max_age: Duration,
    conn: Option<Conn>,
}

impl std::fmt::Debug for NatsCheckpointSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCheckpointSink")
            .field("url", &self.url)
            .field("stream", &self.stream)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl NatsCheckpointSink {
    /// A sink publishing to `subject` of `stream` on `url`; it connects at the log's open.
    pub fn new(
        url: impl Into<String>,
        client: NatsClientOptions,
        stream: impl Into<String>,
        subject: impl Into<String>,
    ) -> NatsCheckpointSink {
        NatsCheckpointSink {
            url: url.into(),
            client,
            stream: stream.into(),
            subject: subject.into(),
            min_max_age: super::MIN_MAX_AGE,
            conn: None,
        }
    }

    /// The sink for the chain a [`NatsWriter`](crate::writer::NatsWriter) with `config` writes:
    /// the same servers and credentials, `stream` (give another account's servers with
    /// [`new`](Self::new)), subject [`checkpoint_subject`] of the chain's.
    pub fn for_chain(config: &NatsConfig, stream: impl Into<String>) -> NatsCheckpointSink {
        let mut sink = NatsCheckpointSink::new(
            config.url.clone(),
            config.client.clone(),
            stream,
            checkpoint_subject(&config.subject),
        );
        sink.min_max_age = config.min_max_age;
        sink
    }

    fn location(&self) -> String {
        format!("{}/{}/{}", self.url, self.stream, self.subject)
    }

    fn connected(&mut self) -> Result<&Conn, Error> {
        if self.conn.is_none() {
            validate_stream(&self.stream)?;
            validate_subject(&self.subject)?;
            let conn = Conn::connect(&self.url, &self.client)?;
            let info = conn
                .stream_info(&self.stream, false)
                .map_err(|e| super::nats_error("read the stream info of", &self.location(), e))?;
            check_append_only(&info["config"], self.min_max_age).map_err(|why| {
                Error::Incompatible(format!(
                    "NATS checkpoint stream {}/{}: not append-only: {} (create it with \
                     `acttrace nats init`)",
                    self.url,
                    self.stream,
                    why.join("; ")
                ))
            })?;
            self.conn = Some(conn);
        }
        Ok(self
            .conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("connected above")))
    }

    fn try_publish(&mut self, checkpoint: &CommittedCheckpoint) -> Result<(), String> {
        let subject = self.subject.clone();
        let stream = self.stream.clone();
        let conn = self.connected().map_err(|e| e.to_string())?;
        let base_id = format!("{subject}:{}", checkpoint.tree_size);
        let mut id = base_id.clone();
        let started = Instant::now();
        let mut backoff = Duration::from_millis(10);
        let mut forged = 0u32;
        loop {
            let headers = [
                (HEADER_MSG_ID, id.clone()),
                (HEADER_ORIGIN, checkpoint.origin.clone()),
                (HEADER_TREE_SIZE, checkpoint.tree_size.to_string()),
            ];
            let no_answer = match conn.publish(&subject, &headers, checkpoint.note.as_bytes()) {
                PublishOutcome::Stored {
                    duplicate: false, ..
                } => return Ok(()),
                PublishOutcome::Stored {
                    seq,
                    duplicate: true,
                } => match conn.msg_get(&stream, Some(seq), None) {
                    Ok(Some(m)) if is_this(&m, &subject, checkpoint) => return Ok(()),
                    Ok(_) => {
                        // Someone else used the id: publish under another one.
                        forged += 1;
                        id = format!("{base_id}:{forged}");
                        continue;
                    }
                    Err(e) => format!("reading back stream seq {seq}: {e}"),
                },
                PublishOutcome::Rejected {
                    err_code,
                    description,
                } => {
                    return Err(format!(
                        "the stream refused it: {description} (JetStream error {err_code})"
                    ));
                }
                PublishOutcome::NoAnswer(e) => e,
            };
            if started.elapsed() >= PUBLISH_PATIENCE {
                return Err(format!(
                    "no definite answer within {PUBLISH_PATIENCE:?} ({no_answer})"
                ));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
}

impl CheckpointSink for NatsCheckpointSink {
    fn describe(&self) -> String {
        format!("NATS checkpoint stream {}", self.location())
    }

    /// The note of the subject's last message (read from the stream's leader). The origin is
    /// not filtered on: one subject holds one chain's checkpoints, so a note of another origin
    /// there is a conflict the builder reports.
    fn latest(&mut self, _origin: &str) -> Result<Option<String>, Error> {
        let location = self.location();
        let subject = self.subject.clone();
        let stream = self.stream.clone();
        let conn = self.connected()?;
        let last = conn
            .msg_get(&stream, None, Some(&subject))
            .map_err(|e| super::nats_error("read the last checkpoint of", &location, e))?;
        last.map(|m| {
            String::from_utf8(m.data).map_err(|_| {
                Error::Incompatible(format!(
                    "{location}: the last message (stream seq {}) is not a checkpoint note \
                     (not UTF-8)",
                    m.seq
                ))
            })
        })
        .transpose()
    }

    fn publish(&mut self, checkpoint: &CommittedCheckpoint) -> Vec<SinkEvent> {
        match self.try_publish(checkpoint) {
            Ok(()) => Vec::new(),
            Err(detail) => vec![SinkEvent::Unreachable {
                witness: self.describe(),
                since_size: checkpoint.previous_size,
                detail: format!(
                    "checkpoint {} not published to {}: {detail}",
                    checkpoint.tree_size,
                    self.location()
                ),
            }],
        }
    }
}

/// Whether `m` is `checkpoint` on `subject`.
fn is_this(m: &StoredMsg, subject: &str, checkpoint: &CommittedCheckpoint) -> bool {
    m.subject == subject && m.data == checkpoint.note.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_subjects_are_valid_and_outside_the_entry_streams_subjects() {
        let s = checkpoint_subject("acttrace.loan-desk.host-17");
        assert_eq!(s, "acttrace-checkpoints.acttrace.loan-desk.host-17");
        assert!(validate_subject(&s).is_ok());
        assert!(!s.starts_with("acttrace."));
    }
}
