//! Reading chains straight from a stream: an ordered consumer per subject (each message read
//! once, in stream order) through the streaming verifier, fed one message (batch) at a time,
//! so memory stays one message plus the verifier's fixed state.

use futures_util::StreamExt;

use super::{
    Conn, HEADER_FIRST_SEQ, HEADER_HEAD, HEADER_MSG_ID, NatsClientOptions, NatsSource,
    validate_subject,
};
use crate::error::Error;
use crate::verify::{BatchVerifier, EachEntry, Observed, Verification, VerifyOptions};

/// One chain (subject) as read from a stream.
#[derive(Debug)]
pub struct ChainReport {
    /// Its subject.
    pub subject: String,
    /// How many messages (batches) were read.
    pub messages: u64,
    /// The stream seq of the last message read (the subject's last when reading began).
    pub last_stream_seq: u64,
    /// The chain's verification; each problem names the stream seq of its message.
    pub verification: Verification,
    /// The tree size of the chain's latest checkpoint in the checkpoint stream
    /// ([`NatsSource::checkpoint_stream`]), which the chain was checked against; `None` when
    /// the stream holds none for it, or was not read.
    pub checkpoint_stream_size: Option<u64>,
    /// Whether the checkpoint stream does not exist (on the servers read): the chain could not
    /// be checked against it.
    pub checkpoint_stream_missing: bool,
}

impl ChainReport {
    /// Whether the chain verified.
    pub fn ok(&self) -> bool {
        self.verification.ok()
    }
}

/// Every chain read from a stream (or the one asked for).
#[derive(Debug)]
pub struct StreamVerification {
    /// What was read, `nats://HOST:PORT/STREAM[/SUBJECT]`.
    pub source: String,
    /// The chains, by subject.
    pub chains: Vec<ChainReport>,
}

impl StreamVerification {
    /// Whether there is at least one chain and every chain verified.
    pub fn ok(&self) -> bool {
        !self.chains.is_empty() && self.chains.iter().all(ChainReport::ok)
    }

    /// How many chains failed.
    pub fn failed(&self) -> usize {
        self.chains.iter().filter(|c| !c.ok()).count()
    }
}

/// Verifies the chain(s) `source` names: one subject, or every subject of the stream (listed
/// from the stream's info, then each read with its own ordered consumer).
pub fn verify_source(
    source: &NatsSource,
    client: &NatsClientOptions,
    opts: &VerifyOptions,
) -> Result<StreamVerification, Error> {
    verify_chains(source, client, opts, None)
}

/// As [`verify_source`], handing every line to `observer` with its subject as it is verified
/// (see [`crate::verify::verify_observed`]): a summary or export built from exactly what was
/// verified.
pub fn verify_source_observed(
    source: &NatsSource,
    client: &NatsClientOptions,
    opts: &VerifyOptions,
    observer: &mut dyn FnMut(&str, Observed<'_>),
) -> Result<StreamVerification, Error> {
    verify_chains(source, client, opts, Some(observer))
}

/// What sees each line of each chain, with its subject.
type ChainObserver<'a> = dyn FnMut(&str, Observed<'_>) + 'a;

/// [`verify_source`], with an observer when one is given (without, entries are not parsed
/// into value trees).
fn verify_chains(
    source: &NatsSource,
    client: &NatsClientOptions,
    opts: &VerifyOptions,
    mut observer: Option<&mut ChainObserver<'_>>,
) -> Result<StreamVerification, Error> {
    let conn = Conn::connect(&source.url, client)?;
    let stream = &source.stream;
    let subjects = match &source.subject {
        Some(s) => vec![s.clone()],
        None => list_subjects(&conn, stream)?,
    };
    let mut chains = Vec::with_capacity(subjects.len());
    for subject in subjects {
        let last = conn
            .msg_get(stream, None, Some(&subject))
            .map_err(|e| read_err(&conn, stream, &subject, e))?
            .map_or(0, |m| m.seq);
        let label = format!("{}/{stream}/{subject}", conn.url);
        let anchor = Anchor::read(&conn, source, &subject, opts)?;
        let mut verifier = BatchVerifier::new(&label, anchor.opts.as_ref().unwrap_or(opts));
        anchor.report(&mut verifier);
        let mut wrapped;
        let obs: Option<&mut dyn FnMut(Observed<'_>)> = match observer.as_deref_mut() {
            Some(o) => {
                wrapped = |x: Observed<'_>| o(&subject, x);
                Some(&mut wrapped)
            }
            None => None,
        };
        read_subject(
            &conn,
            stream,
            &subject,
            last,
            &mut verifier,
            obs,
            &mut |_, _, _, _, _| {},
            &mut |_| {},
        )?;
        chains.push(ChainReport {
            subject: subject.clone(),
            messages: verifier.batches(),
            last_stream_seq: last,
            verification: verifier.finish(),
            checkpoint_stream_size: anchor.size,
            checkpoint_stream_missing: anchor.missing,
        });
    }
    Ok(StreamVerification {
        source: source.display(),
        chains,
    })
}

/// Reads one chain (`source` must name a subject), verifying it as [`verify_source`] does, and
/// writes its messages' bodies to `out` as they are read: the chain as a JSONL file holds it,
/// for tools that read files (export, summary, the reference verifier). The copy is what was
/// verified; check the returned report before trusting it.
pub fn copy_subject(
    source: &NatsSource,
    client: &NatsClientOptions,
    opts: &VerifyOptions,
    out: &mut dyn std::io::Write,
) -> Result<ChainReport, Error> {
    let Some(subject) = source.subject.clone() else {
        return Err(Error::Config(format!(
            "{}: name one chain: nats://HOST:PORT/STREAM/SUBJECT",
            source.display()
        )));
    };
    let conn = Conn::connect(&source.url, client)?;
    let stream = &source.stream;
    let last = conn
        .msg_get(stream, None, Some(&subject))
        .map_err(|e| read_err(&conn, stream, &subject, e))?
        .map_or(0, |m| m.seq);
    let label = format!("{}/{stream}/{subject}", conn.url);
    let anchor = Anchor::read(&conn, source, &subject, opts)?;
    let mut verifier = BatchVerifier::new(&label, anchor.opts.as_ref().unwrap_or(opts));
    anchor.report(&mut verifier);
    let mut written = Ok(());
    read_subject(
        &conn,
        stream,
        &subject,
        last,
        &mut verifier,
        None,
        &mut |_, _, _, _, _| {},
        &mut |m| {
            if written.is_ok() {
                written = out.write_all(m.payload);
            }
        },
    )?;
    written.map_err(|e| super::nats_error("write the copy of", &label, e))?;
    Ok(ChainReport {
        subject,
        messages: verifier.batches(),
        last_stream_seq: last,
        verification: verifier.finish(),
        checkpoint_stream_size: anchor.size,
        checkpoint_stream_missing: anchor.missing,
    })
}

/// A chain's latest checkpoint in the checkpoint stream, as the expected checkpoint of its
/// verification.
struct Anchor {
    /// The options with that checkpoint expected (`None`: the caller's, unchanged).
    opts: Option<VerifyOptions>,
    /// Its tree size.
    size: Option<u64>,
    /// Why the stream's checkpoint could not be used (a note that does not verify).
    problem: Option<String>,
    /// The checkpoint stream does not exist.
    missing: bool,
}

impl Anchor {
    /// Reads the latest checkpoint of `subject`'s chain from `source`'s checkpoint stream, if
    /// the stream exists; it is judged with any the caller expects. With
    /// verifier keys its signature must verify.
    fn read(
        conn: &Conn,
        source: &NatsSource,
        subject: &str,
        opts: &VerifyOptions,
    ) -> Result<Anchor, Error> {
        let none = Anchor {
            opts: None,
            size: None,
            problem: None,
            missing: false,
        };
        let Some(cp_stream) = source.checkpoint_stream.as_deref() else {
            return Ok(none);
        };
        let cp_subject = super::checkpoint_subject(subject);
        let location = format!("{}/{cp_stream}/{cp_subject}", conn.url);
        let last = match conn.msg_get(cp_stream, None, Some(&cp_subject)) {
            Ok(last) => last,
            // No checkpoint stream: nothing to check against.
            Err(super::conn::ApiFailure::Api {
                err_code: STREAM_NOT_FOUND,
                ..
            }) => {
                return Ok(Anchor {
                    missing: true,
                    ..none
                });
            }
            Err(e) => return Err(super::nats_error("read", &location, e)),
        };
        let Some(m) = last else {
            return Ok(none);
        };
        let bad = |why: String| Anchor {
            opts: None,
            size: None,
            problem: Some(format!(
                "checkpoint stream {location}, stream seq {}: {why}",
                m.seq
            )),
            missing: false,
        };
        let Ok(note) = std::str::from_utf8(&m.data) else {
            return Ok(bad("not a checkpoint note (not UTF-8)".into()));
        };
        match crate::verify::expected_checkpoint(note, &opts.checkpoints.keys) {
            Ok(checkpoint) => {
                let size = checkpoint.size;
                let mut anchored = opts.clone();
                // Judged with any checkpoint the caller expects (`--expect-checkpoint`), not
                // instead; named as what it is, so the verdict says what anchored the chain.
                let c = &mut anchored.checkpoints;
                while c.expected_names.len() < c.expected.len() {
                    c.expected_names.push("the expected checkpoint".into());
                }
                c.expected.push(checkpoint);
                c.expected_names
                    .push(format!("the latest checkpoint in stream {cp_stream}"));
                Ok(Anchor {
                    opts: Some(anchored),
                    size: Some(size),
                    problem: None,
                    missing: false,
                })
            }
            Err(e) => Ok(bad(format!("the latest checkpoint does not verify: {e}"))),
        }
    }

    /// Records why the stream's checkpoint could not be used, as a problem of the chain.
    fn report(&self, verifier: &mut BatchVerifier<'_>) {
        if let Some(p) = &self.problem {
            verifier.batch_problem("checkpoint stream", p.clone());
        }
    }
}

/// JetStream's error code for "stream not found".
const STREAM_NOT_FOUND: u64 = 10059;

fn read_err(conn: &Conn, stream: &str, subject: &str, e: impl std::fmt::Display) -> Error {
    super::nats_error("read", &format!("{}/{stream}/{subject}", conn.url), e)
}

/// The chains (subjects) `source`'s stream holds messages on, sorted; only the one it names
/// when it names one.
pub fn list_chains(source: &NatsSource, client: &NatsClientOptions) -> Result<Vec<String>, Error> {
    if let Some(s) = &source.subject {
        return Ok(vec![s.clone()]);
    }
    let conn = Conn::connect(&source.url, client)?;
    list_subjects(&conn, &source.stream)
}

/// The subjects the stream holds messages on, sorted.
fn list_subjects(conn: &Conn, stream: &str) -> Result<Vec<String>, Error> {
    let info = conn
        .stream_info(stream, true)
        .map_err(|e| super::nats_error("read", &format!("{}/{stream}", conn.url), e))?;
    let mut subjects: Vec<String> = info["state"]["subjects"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    subjects.sort();
    Ok(subjects)
}

/// A stored message as the reader hands it to `per_message`.
pub(crate) struct ReadMsg<'a> {
    pub(crate) stream_seq: u64,
    pub(crate) head: Option<&'a str>,
    pub(crate) payload: &'a [u8],
}

/// Reads `subject`'s messages up to stream seq `last` (0: none) with an ordered consumer and
/// pushes each into `verifier`, checking its headers against its lines (a message that is not
/// an acttrace batch, one that names another chain, one whose head or first seq is not its
/// lines'). `observer` (when given) sees each line and `each` each entry's seq, hash,
/// `prev_hash` and line as they are verified; `per_message` sees each message's headers after
/// it was pushed.
// The three callbacks are distinct roles that callers pass inline; a struct of them would only
// move the list.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_subject(
    conn: &Conn,
    stream: &str,
    subject: &str,
    last: u64,
    verifier: &mut BatchVerifier<'_>,
    mut observer: Option<&mut dyn FnMut(Observed<'_>)>,
    each: &mut EachEntry<'_>,
    per_message: &mut dyn FnMut(&ReadMsg<'_>),
) -> Result<(), Error> {
    if last == 0 {
        return Ok(());
    }
    if validate_subject(subject).is_err() {
        verifier.batch_problem(
            &format!("subject {subject}"),
            format!("subject {subject:?} is not an acttrace chain subject"),
        );
    }
    let fail = |e: &dyn std::fmt::Display| read_err(conn, stream, subject, e);
    let mut messages = conn
        .block_on(async {
            // The context spawns a task: it is made on the runtime.
            let js = async_nats::jetstream::new(conn.client.clone());
            let s = js.get_stream_no_info(stream).await?;
            let consumer = s
                .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                    filter_subject: subject.to_owned(),
                    deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
                    ..Default::default()
                })
                .await?;
            Ok::<_, async_nats::Error>(consumer.messages().await?)
        })
        .map_err(|e| fail(&e))?;
    let wait = std::time::Duration::from_secs(30);
    loop {
        let next = conn.block_on(async { tokio::time::timeout(wait, messages.next()).await });
        let msg = match next {
            Err(_) => return Err(fail(&format!("no message within {wait:?}"))),
            Ok(None) => return Err(fail(&"the consumer ended early")),
            Ok(Some(Err(e))) => return Err(fail(&e)),
            Ok(Some(Ok(m))) => m,
        };
        let stream_seq = msg.info().map_err(|e| fail(&e))?.stream_sequence;
        let label = format!("subject {subject}, stream seq {stream_seq}");
        let header = |name: &str| {
            msg.headers
                .as_ref()
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
        };
        let head = header(HEADER_HEAD);
        let first_seq = header(HEADER_FIRST_SEQ).and_then(|s| s.parse::<u64>().ok());
        let msg_id = header(HEADER_MSG_ID);
        let mut seen_first: Option<u64> = None;
        let mut seen_head = String::new();
        verifier.push_each(
            &label,
            &msg.payload,
            match &mut observer {
                Some(o) => Some(&mut **o as &mut dyn FnMut(Observed<'_>)),
                None => None,
            },
            &mut |seq, hash, prev_hash, line, tree| {
                seen_first.get_or_insert(seq);
                seen_head.clear();
                seen_head.push_str(crate::hex::hex_str(hash));
                each(seq, hash, prev_hash, line, tree);
            },
        );
        match (&head, first_seq, &msg_id) {
            (Some(head), Some(first), Some(id)) => {
                // `<subject>:<first seq>:<head>[:<retry>]`; a subject holds no `:`.
                let id_subject = id.split(':').next().unwrap_or("");
                if id_subject != subject {
                    verifier.batch_problem(
                        &label,
                        format!(
                            "message of another chain: its {HEADER_MSG_ID} names {id_subject:?}"
                        ),
                    );
                } else if seen_first.is_some_and(|s| s != first) || *head != seen_head {
                    verifier.batch_problem(
                        &label,
                        format!(
                            "headers do not match the lines: {HEADER_FIRST_SEQ} {first}, \
                             {HEADER_HEAD} {head}"
                        ),
                    );
                }
            }
            _ => verifier.batch_problem(
                &label,
                format!(
                    "not an acttrace batch: {HEADER_HEAD}, {HEADER_FIRST_SEQ} or \
                     {HEADER_MSG_ID} header missing or malformed"
                ),
            ),
        }
        per_message(&ReadMsg {
            stream_seq,
            head: head.as_deref(),
            payload: &msg.payload,
        });
        if stream_seq >= last {
            return Ok(());
        }
    }
}
