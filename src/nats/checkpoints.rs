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
    Conn, HEADER_EXPECTED_LAST_SUBJECT_SEQ, HEADER_MSG_ID, NatsClientOptions, NatsConfig,
    PublishOutcome, StoredMsg, check_append_only, validate_stream, validate_subject,
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
/// * Each publish is fenced with `Nats-Expected-Last-Subject-Sequence` (the subject's last
///   message as read at open, then this sink's own), so a fenced writer's late checkpoint
///   never lands after a newer writer's larger one. Refused by the fence, the sink reads the
///   subject's last message: an older checkpoint is published over (a
///   [`SinkEvent::Conflict`] when it is not consistent with this sink's tree); a larger one,
///   or another root at the same size, stops this sink for good (reported, and every later
///   checkpoint reported unpublished). No stream on the subject any more is reported at once.
/// * Connection errors at open are errors: a log that cannot read its checkpoint stream does
///   not start (it could not tell whether the chain was cut back).
pub struct NatsCheckpointSink {
    url: String,
    client: NatsClientOptions,
    stream: String,
    subject: String,
    min_max_age: Duration,
    conn: Option<Conn>,
    /// The stream seq of the subject's last message as this sink knows it (read at open, then
    /// its own last publish): each publish expects it (`Nats-Expected-Last-Subject-Sequence`).
    last_seq: Option<u64>,
    /// Why this sink stopped publishing (another writer's checkpoint superseded its own).
    stopped: Option<String>,
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
            last_seq: None,
            stopped: None,
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

    /// The stream seq the checkpoint subject's last message had when this sink last knew it,
    /// read from the stream's leader the first time.
    fn expected_last(&mut self) -> Result<u64, String> {
        if let Some(seq) = self.last_seq {
            return Ok(seq);
        }
        let subject = self.subject.clone();
        let stream = self.stream.clone();
        let conn = self.connected().map_err(|e| e.to_string())?;
        let seq = conn
            .msg_get(&stream, None, Some(&subject))
            .map_err(|e| format!("reading the subject's last message: {e}"))?
            .map_or(0, |m| m.seq);
        self.last_seq = Some(seq);
        Ok(seq)
    }

    /// Publishes `checkpoint` fenced on the subject's last message as this sink knows it.
    /// `Ok` with the events to chain (none when published and nothing was amiss); `Err` with
    /// why it was not published.
    fn try_publish(&mut self, checkpoint: &CommittedCheckpoint) -> Result<Vec<SinkEvent>, String> {
        let expected = self.expected_last()?;
        let subject = self.subject.clone();
        let stream = self.stream.clone();
        let witness = self.describe();
        let conn = self.connected().map_err(|e| e.to_string())?;
        match publish_fenced(conn, &stream, &subject, &witness, expected, checkpoint) {
            Outcome::Published(seq, events) => {
                self.last_seq = Some(seq);
                Ok(events)
            }
            Outcome::Stopped(why, events) => {
                self.stopped = Some(why);
                Ok(events)
            }
            Outcome::Failed(why) => Err(why),
        }
    }
}

/// How a fenced publish ended.
enum Outcome {
    /// The checkpoint (or one covering the same tree) is the subject's last message, at this
    /// stream seq; the events are to be chained.
    Published(u64, Vec<SinkEvent>),
    /// Another writer's checkpoint superseded this one: the sink stops, for this reason.
    Stopped(String, Vec<SinkEvent>),
    /// Not published, for this reason.
    Failed(String),
}

/// Publishes `checkpoint` on `subject` expecting the subject's last message at stream seq
/// `expected`; see [`judge_last`] for what happens when another message is there.
fn publish_fenced(
    conn: &Conn,
    stream: &str,
    subject: &str,
    witness: &str,
    mut expected: u64,
    checkpoint: &CommittedCheckpoint,
) -> Outcome {
    let base_id = format!("{subject}:{}", checkpoint.tree_size);
    let mut id = base_id.clone();
    let started = Instant::now();
    let mut backoff = Duration::from_millis(10);
    let mut forged = 0u32;
    let mut rebased = 0u32;
    let mut events = Vec::new();
    loop {
        let headers = [
            (HEADER_MSG_ID, id.clone()),
            (HEADER_EXPECTED_LAST_SUBJECT_SEQ, expected.to_string()),
            (HEADER_ORIGIN, checkpoint.origin.clone()),
            (HEADER_TREE_SIZE, checkpoint.tree_size.to_string()),
        ];
        let no_answer = match conn.publish(subject, &headers, checkpoint.note.as_bytes()) {
            PublishOutcome::Stored {
                seq,
                duplicate: false,
            } => return Outcome::Published(seq, events),
            PublishOutcome::Stored {
                seq,
                duplicate: true,
            } => match conn.msg_get(stream, Some(seq), None) {
                Ok(Some(m)) if is_this(&m, subject, checkpoint) => {
                    return Outcome::Published(seq, events);
                }
                Ok(_) => {
                    // Someone else used the id: publish under another one.
                    forged += 1;
                    id = format!("{base_id}:{forged}");
                    continue;
                }
                Err(e) => format!("reading back stream seq {seq}: {e}"),
            },
            PublishOutcome::Rejected {
                err_code: WRONG_LAST_SEQUENCE,
                ..
            } => match conn.msg_get(stream, None, Some(subject)) {
                Ok(Some(m)) if is_this(&m, subject, checkpoint) => {
                    return Outcome::Published(m.seq, events);
                }
                Ok(last) => match judge_last(last.as_ref(), expected, checkpoint, witness) {
                    Judged::Supersede(event) if rebased < MAX_REBASE => {
                        // An older checkpoint (a fenced writer's, landing late) or something
                        // that is no checkpoint of this chain: ours goes on top, so that the
                        // latest never goes backwards.
                        rebased += 1;
                        events.extend(event);
                        expected = last.map_or(0, |m| m.seq);
                        continue;
                    }
                    Judged::Supersede(_) => {
                        return Outcome::Failed(format!(
                            "the subject kept changing under it ({MAX_REBASE} other messages \
                             since stream seq {expected})"
                        ));
                    }
                    Judged::Stop(why, event) => {
                        events.push(event);
                        return Outcome::Stopped(why, events);
                    }
                    Judged::Same(seq) => return Outcome::Published(seq, events),
                },
                Err(e) => format!("reading the subject's last message: {e}"),
            },
            PublishOutcome::Rejected {
                err_code,
                description,
            } => {
                return Outcome::Failed(format!(
                    "the stream refused it: {description} (JetStream error {err_code})"
                ));
            }
            PublishOutcome::NoStream(e) => {
                return Outcome::Failed(format!(
                    "no stream takes the subject (the checkpoint stream was deleted?): {e}"
                ));
            }
            PublishOutcome::NoAnswer(e) => e,
        };
        if started.elapsed() >= PUBLISH_PATIENCE {
            return Outcome::Failed(format!(
                "no definite answer within {PUBLISH_PATIENCE:?} ({no_answer})"
            ));
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// JetStream's error code for a refused `Nats-Expected-Last-Subject-Sequence`.
const WRONG_LAST_SEQUENCE: u64 = 10071;

/// How many times one publish goes on top of a message that is not this sink's before giving
/// up (someone keeps writing on the subject).
const MAX_REBASE: u32 = 8;

/// What the subject's last message, found instead of the one this sink expected, means for
/// this sink's checkpoint.
#[derive(Debug)]
enum Judged {
    /// It covers exactly this checkpoint's tree (the same size and root): this checkpoint is
    /// there in substance; it is at that stream seq.
    Same(u64),
    /// It is older than this checkpoint, or no checkpoint of this chain: publish this one on
    /// top of it, chaining the event if any (something inconsistent or foreign was there).
    Supersede(Option<SinkEvent>),
    /// A checkpoint of this chain at least as large but not this sink's: another (newer)
    /// writer holds the chain. This sink stops publishing, for the reason given, and chains
    /// the event.
    Stop(String, SinkEvent),
}

/// Judges the subject's `last` message (the sink expected stream seq `expected`) against
/// `checkpoint`.
fn judge_last(
    last: Option<&StoredMsg>,
    expected: u64,
    checkpoint: &CommittedCheckpoint,
    witness: &str,
) -> Judged {
    let ours = checkpoint.tree_size;
    let conflict = |theirs: u64, detail: String| SinkEvent::Conflict {
        witness: witness.to_owned(),
        ours,
        theirs,
        detail,
    };
    let Some(m) = last else {
        return Judged::Supersede(Some(conflict(
            0,
            format!(
                "the checkpoint subject is empty, though it held this sink's checkpoint at \
                 stream seq {expected}: the checkpoint stream was deleted or recreated; \
                 publishing checkpoint {ours} again"
            ),
        )));
    };
    let theirs = std::str::from_utf8(&m.data)
        .ok()
        .and_then(|note| crate::verify::expected_checkpoint(note, &[]).ok());
    let Some(theirs) = theirs else {
        return Judged::Supersede(Some(conflict(
            0,
            format!(
                "stream seq {} on the checkpoint subject is not a checkpoint note; checkpoint \
                 {ours} goes on top of it",
                m.seq
            ),
        )));
    };
    if theirs.origin != checkpoint.origin {
        return Judged::Supersede(Some(conflict(
            theirs.size,
            format!(
                "stream seq {} on the checkpoint subject is a checkpoint of origin {:?}, not \
                 {:?}; checkpoint {ours} goes on top of it",
                m.seq, theirs.origin, checkpoint.origin
            ),
        )));
    }
    let root_at = our_root_at(checkpoint, theirs.size);
    if theirs.size < ours {
        return Judged::Supersede(match root_at {
            Some(root) if root != theirs.root => Some(conflict(
                theirs.size,
                format!(
                    "stream seq {} on the checkpoint subject is a checkpoint at tree size {} \
                     whose root is not this chain's there; checkpoint {ours} goes on top of it",
                    m.seq, theirs.size
                ),
            )),
            // An older checkpoint of this chain (a fenced writer's, published late): ours
            // supersedes it without more ado.
            _ => None,
        });
    }
    if theirs.size == ours && root_at == Some(theirs.root) {
        return Judged::Same(m.seq);
    }
    if theirs.size == ours {
        let why = format!(
            "stream seq {} holds another checkpoint at tree size {ours} with another root (a \
             fork)",
            m.seq
        );
        return Judged::Stop(
            why.clone(),
            conflict(
                theirs.size,
                format!("{why}: this sink publishes no more checkpoints"),
            ),
        );
    }
    let why = format!(
        "superseded by a newer writer's checkpoint at tree size {} (stream seq {})",
        theirs.size, m.seq
    );
    Judged::Stop(
        why.clone(),
        SinkEvent::Unreachable {
            witness: witness.to_owned(),
            since_size: checkpoint.previous_size,
            detail: format!(
                "checkpoint {ours} not published: {why}; another writer holds this chain, so \
                 this sink publishes no more checkpoints"
            ),
        },
    )
}

/// The root of this sink's tree at `size`, when `checkpoint` holds the leaves to compute it.
fn our_root_at(checkpoint: &CommittedCheckpoint, size: u64) -> Option<crate::checkpoint::Hash> {
    if size < checkpoint.previous_size || size > checkpoint.tree_size {
        return None;
    }
    let take = usize::try_from(size - checkpoint.previous_size).ok()?;
    let mut tree = checkpoint.previous_frontier.clone();
    for leaf in checkpoint.leaves.get(..take)? {
        tree.append(leaf);
    }
    Some(tree.root())
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
        // The next publish is fenced on this message: anything published since is seen.
        self.last_seq = Some(last.as_ref().map_or(0, |m| m.seq));
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
        let result = match &self.stopped {
            Some(why) => Err(format!("this sink stopped publishing: {why}")),
            None => self.try_publish(checkpoint),
        };
        match result {
            Ok(events) => events,
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
