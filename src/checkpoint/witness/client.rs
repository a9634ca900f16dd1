//! The HTTP side of the witness protocol (feature `witness`): [`WitnessSink`] and
//! [`fetch_latest`], over ureq (blocking, rustls for HTTPS, no redirects, bounded reads).

use std::thread;
use std::time::{Duration, Instant};

use super::{
    AddCheckpointOutcome, MAX_RESPONSE_BYTES, WitnessError, WitnessKey, add_checkpoint_body,
    checkpoint_url, note_text, parse_add_checkpoint_response, verify_witnessed_checkpoint,
};
use crate::checkpoint::merkle::{Frontier, consistency_proof_from};
use crate::checkpoint::note::VerifierKey;
use crate::checkpoint::sink::{CheckpointSink, CommittedCheckpoint, SinkEvent};

/// An HTTP response: status and body (at most [`MAX_RESPONSE_BYTES`]).
struct Reply {
    status: u16,
    body: Vec<u8>,
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        // Every status means something in this protocol (409, 422): read them all.
        .http_status_as_error(false)
        // A redirected POST would become a GET; a witness that moved is a configuration error.
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .user_agent(concat!("acttrace/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> Result<Reply, WitnessError> {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES as u64)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => WitnessError::InvalidResponse {
                status,
                reason: format!("body longer than {MAX_RESPONSE_BYTES} bytes"),
            },
            e => WitnessError::Transport(e.to_string()),
        })?;
    Ok(Reply { status, body })
}

fn post(agent: &ureq::Agent, url: &str, body: &str) -> Result<Reply, WitnessError> {
    let response = agent
        .post(url)
        .header("Content-Type", "text/plain; charset=utf-8")
        .send(body.as_bytes())
        .map_err(|e| WitnessError::Transport(format!("POST {url}: {e}")))?;
    read(response)
}

fn get(agent: &ureq::Agent, url: &str) -> Result<Reply, WitnessError> {
    let response = agent
        .get(url)
        .call()
        .map_err(|e| WitnessError::Transport(format!("GET {url}: {e}")))?;
    read(response)
}

fn fetch_latest_with(
    agent: &ureq::Agent,
    monitoring_prefix: &str,
    origin: &str,
    witness_keys: &[WitnessKey],
    log_key: &VerifierKey,
) -> Result<String, WitnessError> {
    let reply = get(agent, &checkpoint_url(monitoring_prefix, origin))?;
    match reply.status {
        200 => {}
        404 => return Err(WitnessError::NotFound),
        status => {
            return Err(WitnessError::Status {
                status,
                excerpt: super::excerpt(&reply.body),
            });
        }
    }
    let note = String::from_utf8(reply.body).map_err(|_| WitnessError::InvalidResponse {
        status: 200,
        reason: "checkpoint is not UTF-8".into(),
    })?;
    verify_witnessed_checkpoint(&note, origin, witness_keys, log_key)?;
    Ok(note)
}

/// Fetches a witness's latest cosigned checkpoint for `origin` from its monitoring prefix
/// (`GET <monitoring_prefix>/<hex SHA-256 of origin>/checkpoint`) and returns the note once it
/// is verified: signed by `log_key`, for `origin`, cosigned by at least one of `witness_keys`.
/// What `acttrace verify --witness URL` checks the log against. Times out after 30 s.
pub fn fetch_latest(
    monitoring_prefix: &str,
    origin: &str,
    witness_keys: &[WitnessKey],
    log_key: &VerifierKey,
) -> Result<String, WitnessError> {
    fetch_latest_with(
        &agent(Duration::from_secs(30)),
        monitoring_prefix,
        origin,
        witness_keys,
        log_key,
    )
}

/// A [`CheckpointSink`] that submits each committed checkpoint to one C2SP witness
/// (`POST <url>/add-checkpoint` with a consistency proof from the size the witness holds) and
/// reports what the witness said as [`SinkEvent`]s:
///
/// - cosigned: one [`SinkEvent::Cosignature`] per cosignature by a configured key (lines of
///   other keys or types, such as ML-DSA-44, are ignored);
/// - 409 naming a size the sink can prove from (it keeps the witness's tree and the leaves
///   since): it resends from that size; naming a size larger than the checkpoint's: a rollback
///   of the log (or another writer on its origin), [`SinkEvent::Conflict`];
/// - 422, the witness refused the proof: its checkpoint at that size has another root (a fork),
///   [`SinkEvent::Conflict`];
/// - unreachable (or answering errors) for longer than [`unreachable_after`]: one
///   [`SinkEvent::Unreachable`] (`witness_gap`; entries were not lost). Until then `publish`
///   retries with exponential backoff, blocking its own thread; once reported, it tries each
///   later checkpoint once, and reports again only after a success.
///
/// Memory is bounded: the sink keeps the tree at the oldest size it may need to prove from
/// (64 hashes) and the leaves after it, at most [`max_retained_leaves`] (default 1,048,576, 32
/// MiB). When a witness stays behind beyond that many entries, the sink keeps only the newest
/// leaves, can no longer prove consistency from the witness's size, and reports
/// [`SinkEvent::Unreachable`] saying so. The operator then either raises the cap (and
/// restarts: the sink starts from the next checkpoint), or brings the witness forward by hand:
/// `acttrace prove LOG --from-size <witness size> --to-size <latest>` prints the proof lines
/// of an add-checkpoint request body, to which the latest note is appended.
///
/// [`unreachable_after`]: WitnessSink::unreachable_after
/// [`max_retained_leaves`]: WitnessSink::max_retained_leaves
pub struct WitnessSink {
    name: String,
    url: String,
    keys: Vec<WitnessKey>,
    log_key: Option<VerifierKey>,
    monitoring_url: Option<String>,
    unreachable_after: Duration,
    max_leaves: usize,
    backoff: (Duration, Duration),
    agent: ureq::Agent,
    timeout: Duration,
    /// The size the witness holds (from a 200 or a 409), `None` until it told us.
    witness_size: Option<u64>,
    /// The last size the witness cosigned for us (0 before the first).
    acked: u64,
    /// The tree at the oldest size the sink can prove from, and the leaves after it.
    base: Option<Frontier>,
    leaves: Vec<[u8; 32]>,
    /// The latest checkpoint the witness cosigned: origin and the note with its cosignatures.
    latest: Option<(String, String)>,
    /// Since when (and from which acknowledged size) submissions fail, and whether that was
    /// reported.
    failing: Option<(Instant, u64)>,
    gap_reported: bool,
    /// The witness size last reported in a conflict, so one conflict is one entry.
    conflict_reported: Option<u64>,
    /// The witness size last reported as one the sink cannot prove from.
    stuck_reported: Option<u64>,
}

/// What one submission came to.
enum Attempt {
    Done(Vec<SinkEvent>),
    Resend,
    Failed(String),
}

impl WitnessSink {
    /// A sink for the witness whose submission prefix is `url` (`https://host/prefix`, the
    /// sink appends `/add-checkpoint`) and whose cosignatures verify with `keys` (at least
    /// one; the first's name names the witness in events). Defaults: unreachable after 5
    /// minutes, backoff 1 s doubling to 60 s, 30 s per request, 1,048,576 retained leaves.
    pub fn new(url: &str, keys: Vec<WitnessKey>) -> Result<Self, WitnessError> {
        let name = keys
            .first()
            .ok_or(WitnessError::InvalidKey(
                "a witness sink needs its witness key",
            ))?
            .name()
            .to_owned();
        let timeout = Duration::from_secs(30);
        Ok(WitnessSink {
            name,
            url: url.trim_end_matches('/').to_owned(),
            keys,
            log_key: None,
            monitoring_url: None,
            unreachable_after: Duration::from_secs(300),
            max_leaves: 1 << 20,
            backoff: (Duration::from_secs(1), Duration::from_secs(60)),
            agent: agent(timeout),
            timeout,
            witness_size: None,
            acked: 0,
            base: None,
            leaves: Vec::new(),
            latest: None,
            failing: None,
            gap_reported: false,
            conflict_reported: None,
            stuck_reported: None,
        })
    }

    /// The witness's monitoring prefix and the log's verifier key: with both, [`latest`]
    /// fetches the witness's cosigned checkpoint when the sink holds none (at open), so a log
    /// cut back below what the witness saw is refused.
    ///
    /// [`latest`]: CheckpointSink::latest
    pub fn monitoring(mut self, monitoring_prefix: &str, log_key: VerifierKey) -> Self {
        self.monitoring_url = Some(monitoring_prefix.to_owned());
        self.log_key = Some(log_key);
        self
    }

    /// How long submissions may fail before a [`SinkEvent::Unreachable`] (default 5 min).
    pub fn unreachable_after(mut self, after: Duration) -> Self {
        self.unreachable_after = after;
        self
    }

    /// The first retry delay and the longest (default 1 s and 60 s); each retry doubles it.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max.max(initial));
        self
    }

    /// The time limit of one request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.agent = agent(timeout);
        self
    }

    /// The most leaves kept to prove consistency from the witness's size (default 1,048,576,
    /// 32 MiB); at least 1. It must exceed the entries between two checkpoints (4,096 by
    /// default), else even a healthy witness falls behind what the sink can prove.
    pub fn max_retained_leaves(mut self, max: usize) -> Self {
        self.max_leaves = max.max(1);
        self
    }

    /// Takes in the checkpoint's leaves; an error names what is inconsistent about it.
    fn absorb(&mut self, cp: &CommittedCheckpoint) -> Result<(), String> {
        let count = cp.tree_size.checked_sub(cp.previous_size);
        if count != Some(cp.leaves.len() as u64) || cp.previous_frontier.size() != cp.previous_size
        {
            return Err(format!(
                "checkpoint of size {} from previous size {} (frontier size {}) carries {} \
                 leaves",
                cp.tree_size,
                cp.previous_size,
                cp.previous_frontier.size(),
                cp.leaves.len()
            ));
        }
        let end = self
            .base
            .as_ref()
            .map(|b| b.size() + self.leaves.len() as u64);
        if end != Some(cp.previous_size) {
            // The first checkpoint, or a sequencer that started over (a reopened log): begin at
            // the tree it gives.
            self.base = Some(cp.previous_frontier.clone());
            self.leaves.clear();
        }
        self.leaves.extend_from_slice(&cp.leaves);
        if self.leaves.len() > self.max_leaves {
            let drop = self.leaves.len() - self.max_leaves;
            if let Some(base) = self.base.as_mut() {
                for leaf in &self.leaves[..drop] {
                    base.append(leaf);
                }
            }
            self.leaves.drain(..drop);
        }
        Ok(())
    }

    fn unreachable(&self, detail: String) -> SinkEvent {
        SinkEvent::Unreachable {
            witness: self.name.clone(),
            since_size: self.acked,
            detail,
        }
    }

    fn conflict(&mut self, cp: &CommittedCheckpoint, theirs: u64, detail: String) -> Attempt {
        if self.conflict_reported == Some(theirs) {
            return Attempt::Done(Vec::new());
        }
        self.conflict_reported = Some(theirs);
        Attempt::Done(vec![SinkEvent::Conflict {
            witness: self.name.clone(),
            ours: cp.tree_size,
            theirs,
            detail,
        }])
    }

    /// One add-checkpoint request from the size the witness holds (0 when unknown).
    fn attempt(&mut self, cp: &CommittedCheckpoint) -> Attempt {
        let old = self.witness_size.unwrap_or(0);
        if old > cp.tree_size {
            let detail = format!(
                "witness {} holds size {old}, larger than this log's {}: the log was rolled \
                 back or another writer uses its origin",
                self.name, cp.tree_size
            );
            return self.conflict(cp, old, detail);
        }
        let proof = match self.proof_from(old, cp.tree_size) {
            Ok(proof) => proof,
            Err(detail) => {
                // Permanent until the operator acts (see the type's documentation): one event.
                if self.stuck_reported == Some(old) {
                    return Attempt::Done(Vec::new());
                }
                self.stuck_reported = Some(old);
                return Attempt::Done(vec![self.unreachable(detail)]);
            }
        };
        let body = match add_checkpoint_body(old, &proof, &cp.note) {
            Ok(body) => body,
            Err(e) => return Attempt::Done(vec![self.unreachable(e.to_string())]),
        };
        let text = match note_text(&cp.note) {
            Ok(text) => text,
            Err(e) => return Attempt::Done(vec![self.unreachable(e.to_string())]),
        };
        let reply = match post(&self.agent, &format!("{}/add-checkpoint", self.url), &body) {
            Ok(reply) => reply,
            Err(e) => return Attempt::Failed(e.to_string()),
        };
        match parse_add_checkpoint_response(reply.status, &reply.body, text, &self.keys) {
            Ok(AddCheckpointOutcome::Cosigned(found)) => {
                self.witness_size = Some(cp.tree_size);
                self.acked = cp.tree_size;
                self.conflict_reported = None;
                self.stuck_reported = None;
                // Nothing before the witness's new size is needed again: keep just its tree.
                let mut base = self.base.take().unwrap_or_default();
                for leaf in &self.leaves {
                    base.append(leaf);
                }
                self.base = Some(base);
                self.leaves.clear();
                let mut note = cp.note.clone();
                for c in &found.verified {
                    note.push_str(&c.line);
                    note.push('\n');
                }
                self.latest = Some((cp.origin.clone(), note));
                Attempt::Done(
                    found
                        .verified
                        .into_iter()
                        .map(|c| SinkEvent::Cosignature {
                            witness: c.witness,
                            tree_size: cp.tree_size,
                            signature_line: c.line,
                        })
                        .collect(),
                )
            }
            Ok(AddCheckpointOutcome::SizeConflict { witness_size }) => {
                self.witness_size = Some(witness_size);
                if witness_size <= cp.tree_size {
                    // The witness holds (has cosigned) that size of this log.
                    self.acked = witness_size;
                }
                Attempt::Resend
            }
            Ok(AddCheckpointOutcome::BadProof { excerpt }) => {
                let detail = format!(
                    "witness {} refused the consistency proof from size {old} to {} (HTTP \
                     422: {excerpt:?}): its checkpoint at size {old} has another root than \
                     this log's tree",
                    self.name, cp.tree_size
                );
                self.conflict(cp, old, detail)
            }
            Err(e) => Attempt::Failed(e.to_string()),
        }
    }

    /// The consistency proof from `old` (the witness's size) to `new` from the retained tree.
    fn proof_from(&self, old: u64, new: u64) -> Result<Vec<[u8; 32]>, String> {
        if old == 0 || old == new {
            return Ok(Vec::new());
        }
        let base = self.base.as_ref().ok_or("no tree retained")?;
        if old < base.size() {
            return Err(format!(
                "witness {} holds size {old}, but the sink keeps leaves only from size {} (at \
                 most {} leaves): it cannot prove consistency from the witness's size; raise \
                 max_retained_leaves or bring the witness forward with `acttrace prove \
                 --from-size {old}`",
                self.name,
                base.size(),
                self.max_leaves
            ));
        }
        let skip = (old - base.size()) as usize;
        let mut tree = base.clone();
        for leaf in &self.leaves[..skip] {
            tree.append(leaf);
        }
        consistency_proof_from(&tree, &self.leaves[skip..], new).map_err(|e| e.to_string())
    }
}

impl CheckpointSink for WitnessSink {
    fn describe(&self) -> String {
        format!("witness {} at {}", self.name, self.url)
    }

    fn latest(&mut self, origin: &str) -> Result<Option<String>, crate::Error> {
        if let Some((o, note)) = &self.latest
            && o == origin
        {
            return Ok(Some(note.clone()));
        }
        let (Some(url), Some(log_key)) = (&self.monitoring_url, &self.log_key) else {
            return Ok(None);
        };
        match fetch_latest_with(&self.agent, url, origin, &self.keys, log_key) {
            Ok(note) => Ok(Some(note)),
            Err(WitnessError::NotFound) => Ok(None),
            Err(e) => Err(crate::Error::Incompatible(format!(
                "{}: cannot read its latest checkpoint for {origin}: {e}",
                self.describe()
            ))),
        }
    }

    fn publish(&mut self, checkpoint: &CommittedCheckpoint) -> Vec<SinkEvent> {
        if let Err(detail) = self.absorb(checkpoint) {
            return vec![self.unreachable(detail)];
        }
        let mut delay = self.backoff.0;
        let mut resends = 0;
        loop {
            let detail = match self.attempt(checkpoint) {
                Attempt::Done(events) => {
                    if events
                        .iter()
                        .any(|e| matches!(e, SinkEvent::Cosignature { .. }))
                    {
                        self.failing = None;
                        self.gap_reported = false;
                    }
                    return events;
                }
                // A 409 moves the old size; a witness that keeps moving it (other writers on
                // the origin) counts as failing.
                Attempt::Resend if resends < 3 => {
                    resends += 1;
                    continue;
                }
                Attempt::Resend => format!(
                    "witness {} answered 409 to {} requests in a row",
                    self.name,
                    resends + 1
                ),
                Attempt::Failed(detail) => detail,
            };
            let (since, _) = *self.failing.get_or_insert((Instant::now(), self.acked));
            if self.gap_reported {
                return Vec::new();
            }
            let waited = since.elapsed();
            if waited >= self.unreachable_after {
                self.gap_reported = true;
                return vec![self.unreachable(format!(
                    "no cosignature from witness {} for {} s (last acknowledged size {}): \
                     {detail}",
                    self.name,
                    waited.as_secs(),
                    self.acked
                ))];
            }
            thread::sleep(delay.min(self.unreachable_after - waited));
            delay = (delay * 2).min(self.backoff.1);
        }
    }
}

impl std::fmt::Debug for WitnessSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessSink")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("witness_size", &self.witness_size)
            .field("retained_leaves", &self.leaves.len())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
