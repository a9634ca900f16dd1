//! The NATS JetStream writer (feature `nats`): one chain per subject, one message per batch.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::tree::TreeBuilder;
use super::{ChainTip, ChainWriter, Durability, ExistingChain, TreeRequest};
use crate::chain::{RenderedEntry, SealedEntry, SigningKey};
use crate::error::Error;
use crate::nats::{
    Conn, HEADER_ENTRIES, HEADER_EXPECTED_LAST_SUBJECT_SEQ, HEADER_FIRST_SEQ, HEADER_HEAD,
    HEADER_MSG_ID, NatsConfig, PublishOutcome, StoredMsg, check_append_only, validate_stream,
    validate_subject,
};
use crate::verify::{BatchVerifier, VerifyOptions};

/// JetStream's error code for a wrong expected last subject sequence.
const WRONG_LAST_SEQUENCE: u64 = 10071;

/// Room left in a message for its headers (ids, hashes and numbers: well under 1 KiB).
const HEADER_ROOM: usize = 1024;

/// The format of the host's state file.
const STATE_FORMAT: &str = "acttrace-nats-state/1";

/// A [`ChainWriter`] that publishes each batch as one message on the chain's subject of a
/// JetStream stream, so a batch is stored whole or not at all.
///
/// * Each message carries `Nats-Msg-Id: <subject>:<first seq>:<head>` (so no other chain, and
///   no other batch, shares its id), `Nats-Expected-Last-Subject-Sequence` (the stream seq of
///   this writer's previous message: the server refuses the batch if anyone else wrote to the
///   subject since), and the new head (`Acttrace-Head`).
/// * A publish without an answer (a timeout, a server restarting) is republished identically
///   until the server answers. A duplicate acknowledgement counts only once the message at the
///   acknowledged stream seq was read back from the stream's leader and found to be this batch
///   (anyone allowed to publish to the stream can pre-empt an id: then the batch is published
///   again under a new id). A wrong-last-sequence answer is resolved by reading the subject's
///   last message: this batch (an earlier attempt that landed late) means committed; anything
///   else means another writer took the subject: this writer is **fenced**, stops for good
///   (every later commit fails, so the sequencer counts the losses) and says so on stderr.
/// * [`open`](ChainWriter::open) refuses a stream that is not append-only in practice
///   ([`check_append_only`]), verifies the subject's whole chain (read once, with the key),
///   and checks the host's state file: a stream that was recreated or went backwards is
///   refused. The sequencer's first batch after a resume, its `audit_resume`, claims the
///   subject: the newest writer wins and an older one is fenced. (The file writer's lock does
///   the opposite: it refuses the newer writer. A crashed host cannot release a lock held in a
///   stream, so here the newcomer takes over.)
///
/// Durability: an acknowledgement means the stream stored the message on its replicas; whether
/// it was fsynced depends on the server (`sync_interval: always`, servers 2.10 and later), so
/// [`Durability::Synced`] is treated as [`Durability::Written`].
pub struct NatsWriter {
    config: NatsConfig,
    /// Made by [`NatsWriter::connect`], or by `open` for a writer made with [`NatsWriter::new`].
    conn: Option<Conn>,
    created: String,
    /// The stream seq of the subject's last message, this writer's: the next publish expects it.
    last_subject_seq: u64,
    /// The largest batch (entry lines) a message takes.
    max_batch: usize,
    batch: Vec<u8>,
    batch_first: Option<u64>,
    batch_head: String,
    batch_entries: u64,
    /// Why this writer stopped for good (fenced, or a batch whose outcome is unknown).
    stopped: Option<String>,
    /// Set by `request_tree`: the Merkle tree rebuilt while `open` verifies the subject.
    tree: Option<TreeBuilder>,
}

impl std::fmt::Debug for NatsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsWriter")
            .field("url", &self.config.url)
            .field("stream", &self.config.stream)
            .field("subject", &self.config.subject)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl NatsWriter {
    /// A writer that connects when the sequencer opens it (errors surface from
    /// [`AuditLayerBuilder::build`](crate::AuditLayerBuilder::build)); what
    /// [`AuditLayerBuilder::nats`](crate::AuditLayerBuilder::nats) uses.
    pub fn new(config: NatsConfig) -> NatsWriter {
        NatsWriter {
            config,
            conn: None,
            created: String::new(),
            last_subject_seq: 0,
            max_batch: 0,
            batch: Vec::new(),
            batch_first: None,
            batch_head: String::new(),
            batch_entries: 0,
            stopped: None,
            tree: None,
        }
    }

    /// Connects and reads the stream's info now (its limits size the batches), so that a
    /// wrong URL, credentials or stream name is reported here; the chain itself is checked
    /// when the sequencer opens the writer.
    pub fn connect(config: NatsConfig) -> Result<NatsWriter, Error> {
        let mut w = NatsWriter::new(config);
        w.ensure_connected()?;
        Ok(w)
    }

    fn ensure_connected(&mut self) -> Result<&Conn, Error> {
        if self.conn.is_none() {
            let config = &self.config;
            validate_stream(&config.stream)?;
            validate_subject(&config.subject)?;
            let conn = Conn::connect(&config.url, &config.client)?;
            let info = conn.stream_info(&config.stream, false).map_err(|e| {
                crate::nats::nats_error("read", &format!("{}/{}", config.url, config.stream), e)
            })?;
            let mut max_batch = conn.max_payload().saturating_sub(HEADER_ROOM);
            if let Some(m) = info["config"]["max_msg_size"].as_i64().filter(|m| *m > 0) {
                max_batch = max_batch.min((m as usize).saturating_sub(HEADER_ROOM));
            }
            self.max_batch = max_batch;
            self.conn = Some(conn);
        }
        Ok(self
            .conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("connected above")))
    }

    /// Why this writer stopped for good (fenced by a newer writer, or a batch whose outcome
    /// stayed unknown past the commit deadline); `None` while it writes.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    fn location(&self) -> String {
        format!(
            "{}/{}/{}",
            self.config.url, self.config.stream, self.config.subject
        )
    }

    fn where_(&self) -> String {
        format!(
            "NATS {}/{}/{}",
            self.config.url, self.config.stream, self.config.subject
        )
    }

    fn refuse(&self, detail: String) -> Error {
        Error::Incompatible(format!("{}: {detail}", self.where_()))
    }

    /// Whether `m` is the batch being committed.
    fn is_ours(&self, m: &StoredMsg, first: u64) -> bool {
        m.subject == self.config.subject
            && m.header(HEADER_HEAD) == Some(self.batch_head.as_str())
            && m.header(HEADER_FIRST_SEQ) == Some(first.to_string().as_str())
            && m.data == self.batch
    }

    fn stop(&mut self, why: String) -> io::Error {
        eprintln!("acttrace: {}: WRITER STOPPED: {why}", self.where_());
        self.stopped = Some(why.clone());
        io::Error::other(why)
    }

    fn committed(&mut self, seq: u64) -> io::Result<()> {
        self.last_subject_seq = seq;
        let state = HostState {
            created: self.created.clone(),
            stream_seq: seq,
            head: self.batch_head.clone(),
        };
        if let Err(e) = state.save(&self.config) {
            // The batch is in the stream: failing the commit would make the sequencer chain it
            // again. The next open finds the stream ahead of the file, which it accepts.
            eprintln!(
                "acttrace: {}: cannot update the state file {}: {e}",
                self.where_(),
                self.config.state_file.display()
            );
        }
        Ok(())
    }

    fn publish_batch(&mut self) -> io::Result<()> {
        let Some(conn) = self.conn.take() else {
            return Err(io::Error::other("the writer was not opened"));
        };
        let result = self.publish_with(&conn);
        self.conn = Some(conn);
        result
    }

    fn publish_with(&mut self, conn: &Conn) -> io::Result<()> {
        let first = self.batch_first.unwrap_or(0);
        let base_id = format!("{}:{first}:{}", self.config.subject, self.batch_head);
        let mut id = base_id.clone();
        let mut forged = 0u32;
        let mut unanswered = 0u32;
        let started = Instant::now();
        let mut backoff = Duration::from_millis(10);
        loop {
            let headers = [
                (HEADER_MSG_ID, id.clone()),
                (
                    HEADER_EXPECTED_LAST_SUBJECT_SEQ,
                    self.last_subject_seq.to_string(),
                ),
                (HEADER_HEAD, self.batch_head.clone()),
                (HEADER_FIRST_SEQ, first.to_string()),
                (HEADER_ENTRIES, self.batch_entries.to_string()),
            ];
            let outcome = conn.publish(&self.config.subject, &headers, &self.batch);
            let no_answer = match outcome {
                PublishOutcome::Stored {
                    seq,
                    duplicate: false,
                } => return self.committed(seq),
                PublishOutcome::Stored {
                    seq,
                    duplicate: true,
                } => match conn.msg_get(&self.config.stream, Some(seq), None) {
                    Ok(Some(m)) if self.is_ours(&m, first) => return self.committed(seq),
                    Ok(_) => {
                        // Someone else stored a message under this id: ours was not stored.
                        forged += 1;
                        eprintln!(
                            "acttrace: {}: message id {id} was already used by stream seq \
                             {seq}, which is not this batch: publishing it again under a new id",
                            self.where_()
                        );
                        id = format!("{base_id}:{forged}");
                        continue;
                    }
                    Err(e) => format!("reading back stream seq {seq}: {e}"),
                },
                PublishOutcome::Rejected {
                    err_code: WRONG_LAST_SEQUENCE,
                    description,
                } => match conn.msg_get(&self.config.stream, None, Some(&self.config.subject)) {
                    Ok(Some(m)) if self.is_ours(&m, first) => return self.committed(m.seq),
                    Ok(last) => {
                        let by = last.map_or_else(
                            || "the subject is empty".to_owned(),
                            |m| {
                                format!(
                                    "its last message is stream seq {} (head {})",
                                    m.seq,
                                    m.header(HEADER_HEAD).unwrap_or("none")
                                )
                            },
                        );
                        return Err(self.stop(format!(
                            "FENCED: another writer took this chain ({description}; {by}); this \
                             writer stops for good: its batch from seq {first} is not stored"
                        )));
                    }
                    Err(e) => format!("reading the subject's last message: {e}"),
                },
                PublishOutcome::Rejected {
                    err_code,
                    description,
                } => {
                    if unanswered > 0
                        && let Ok(Some(m)) =
                            conn.msg_get(&self.config.stream, None, Some(&self.config.subject))
                        && self.is_ours(&m, first)
                    {
                        // An earlier attempt landed after all.
                        return self.committed(m.seq);
                    }
                    return Err(io::Error::other(format!(
                        "the stream refused the batch: {description} (JetStream error {err_code})"
                    )));
                }
                PublishOutcome::NoAnswer(e) | PublishOutcome::NoStream(e) => e,
            };
            unanswered += 1;
            if let Some(deadline) = self.config.commit_deadline
                && started.elapsed() >= deadline
            {
                return Err(self.stop(format!(
                    "no definite answer for the batch from seq {first} within {deadline:?} \
                     ({no_answer}); it may still land, so this writer stops rather than chain \
                     over it"
                )));
            }
            if unanswered == 1 || unanswered.is_power_of_two() {
                eprintln!(
                    "acttrace: {}: no answer for the batch from seq {first} ({no_answer}); \
                     publishing it again",
                    self.where_()
                );
            }
            // Paces the retries while the server is unreachable (a refused connection answers
            // at once); a timed-out request has waited already.
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
    fn open_with(
        &mut self,
        conn: &Conn,
        key: Option<&SigningKey>,
        stream: &str,
        subject: &str,
    ) -> Result<Option<ExistingChain>, Error> {
        let info = conn
            .stream_info(stream, false)
            .map_err(|e| crate::nats::nats_error("read the stream info of", &self.location(), e))?;
        check_append_only(&info["config"], self.config.min_max_age).map_err(|why| {
            self.refuse(format!(
                "the stream is not append-only: {} (create it with `acttrace nats init`)",
                why.join("; ")
            ))
        })?;
        self.created = info["created"].as_str().unwrap_or_default().to_owned();
        let state = HostState::load(&self.config)?;
        if let Some(s) = &state
            && s.created != self.created
        {
            return Err(self.refuse(format!(
                "the stream was recreated (created {}, this host last wrote to the one created \
                 {}; state file {}): refusing to restart the chain",
                self.created,
                s.created,
                self.config.state_file.display()
            )));
        }
        let last = conn.msg_get(stream, None, Some(subject)).map_err(|e| {
            crate::nats::nats_error("read the last message of", &self.location(), e)
        })?;
        let last_seq = last.as_ref().map_or(0, |m| m.seq);
        if let Some(s) = &state
            && s.stream_seq > last_seq
        {
            return Err(self.refuse(format!(
                "the chain went backwards: this host's last acknowledged batch is stream seq {} \
                 (head {}), the subject now ends at stream seq {last_seq}",
                s.stream_seq, s.head
            )));
        }
        self.last_subject_seq = last_seq;
        if last.is_none() {
            return Ok(None);
        }
        let opts = VerifyOptions {
            key: key.cloned(),
            ..VerifyOptions::default()
        };
        let label = self.where_();
        let mut verifier = BatchVerifier::new(&label, &opts);
        let mut found_recorded = state.is_none();
        // The tree (checkpoints on) is rebuilt in the same pass, from the subject's first
        // message: see `request_tree`.
        let mut tree = self.tree.take();
        crate::nats::read_subject(
            conn,
            stream,
            subject,
            last_seq,
            &mut verifier,
            None,
            &mut |seq, hash, prev_hash, line, walked| {
                if let Some(tree) = &mut tree {
                    tree.entry(seq, hash, prev_hash, line, walked);
                }
            },
            &mut |m| {
                if let Some(s) = &state
                    && m.stream_seq == s.stream_seq
                    && m.head == Some(s.head.as_str())
                {
                    found_recorded = true;
                }
            },
        )?;
        let report = verifier.finish();
        if let Some(tree) = &mut tree {
            tree.end_of_file(report.tree_end());
        }
        if let Some(p) = report.first_problem() {
            return Err(Error::CorruptLog {
                source_name: label,
                line: p.line,
                seq: p.seq,
                detail: p.to_string(),
            });
        }
        if !found_recorded && let Some(s) = &state {
            return Err(self.refuse(format!(
                "stream seq {} does not hold the batch with head {} that this host wrote there",
                s.stream_seq, s.head
            )));
        }
        let tree = match tree.map(TreeBuilder::finish) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(tree))) => Some(tree),
            Some(Err(detail)) => {
                return Err(self.refuse(format!(
                    "cannot rebuild the Merkle tree its checkpoints need: {detail}"
                )));
            }
        };
        let mut existing = ExistingChain::new(
            ChainTip {
                next_seq: report.next_seq(),
                head: report.head.clone(),
            },
            report.hash_alg,
            report.unsigned_entries == 0,
        );
        existing.tree = tree;
        Ok(Some(existing))
    }
}

impl ChainWriter for NatsWriter {
    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        let stream = self.config.stream.clone();
        let subject = self.config.subject.clone();
        self.ensure_connected()?;
        let Some(conn) = self.conn.take() else {
            unreachable!("connected above")
        };
        let result = self.open_with(&conn, key, &stream, &subject);
        self.conn = Some(conn);
        result
    }

    fn append(&mut self, entry: &SealedEntry) {
        self.batch_first.get_or_insert(entry.seq);
        self.batch.extend_from_slice(entry.to_line().as_bytes());
        self.batch_head.clear();
        self.batch_head.push_str(&entry.hash);
        self.batch_entries += 1;
    }

    fn append_rendered(&mut self, entry: &RenderedEntry<'_>) {
        self.batch_first.get_or_insert(entry.seq());
        self.batch.extend_from_slice(entry.line().as_bytes());
        self.batch_head.clear();
        self.batch_head.push_str(entry.hash());
        self.batch_entries += 1;
    }

    fn commit(&mut self, _durability: Durability) -> io::Result<()> {
        if self.batch_entries == 0 {
            return Ok(());
        }
        let result = match &self.stopped {
            Some(why) => Err(io::Error::other(why.clone())),
            None => self.publish_batch(),
        };
        self.batch.clear();
        self.batch_first = None;
        self.batch_entries = 0;
        result
    }

    fn describe(&self) -> String {
        self.where_()
    }

    fn max_entry_bytes(&self) -> usize {
        self.max_batch.min(super::DEFAULT_MAX_ENTRY_BYTES)
    }

    fn max_batch_bytes(&self) -> Option<usize> {
        Some(self.max_batch)
    }

    /// The tree is rebuilt from the subject's first message, in the pass that verifies the
    /// chain (which must start at genesis anyway: a subject is never cut, and verifying from
    /// the last checkpoint's frontier would take everything before it on trust, signatures
    /// and links included, where reopening a file checks them).
    fn request_tree(&mut self, request: TreeRequest) {
        self.tree = Some(TreeBuilder::new(&request));
    }
}

/// What this host last knew of its chain in the stream.
struct HostState {
    created: String,
    stream_seq: u64,
    head: String,
}

impl HostState {
    fn load(config: &NatsConfig) -> Result<Option<HostState>, Error> {
        let path = &config.state_file;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    op: "read",
                    path: path.clone(),
                    source,
                });
            }
        };
        let bad = |why: &str| Error::Config(format!("NATS state file {}: {why}", path.display()));
        let v: Value = serde_json::from_str(&text).map_err(|_| bad("not JSON"))?;
        if v["format"] != STATE_FORMAT {
            return Err(bad(&format!("format must be {STATE_FORMAT:?}")));
        }
        if v["stream"] != config.stream.as_str() || v["subject"] != config.subject.as_str() {
            return Err(bad(&format!(
                "it records stream {} subject {}, not stream {} subject {}",
                v["stream"], v["subject"], config.stream, config.subject
            )));
        }
        Ok(Some(HostState {
            created: v["created"]
                .as_str()
                .ok_or_else(|| bad("created"))?
                .to_owned(),
            stream_seq: v["stream_seq"].as_u64().ok_or_else(|| bad("stream_seq"))?,
            head: v["head"].as_str().ok_or_else(|| bad("head"))?.to_owned(),
        }))
    }

    /// Writes the file beside itself and renames it into place, so a crash leaves the old or
    /// the new state, never a torn one.
    fn save(&self, config: &NatsConfig) -> io::Result<()> {
        let path: &Path = &config.state_file;
        let text = json!({
            "format": STATE_FORMAT,
            "stream": config.stream,
            "subject": config.subject,
            "created": self.created,
            "stream_seq": self.stream_seq,
            "head": self.head,
        })
        .to_string();
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_max_age_floor_is_the_retention_floor() {
        assert_eq!(crate::nats::MIN_MAX_AGE, super::super::MIN_RETENTION);
    }
}
