//! Reading chains straight from a stream: an ordered consumer per subject (each message read
//! once, in stream order) through the streaming verifier, fed one message (batch) at a time,
//! so memory stays one message plus the verifier's fixed state.

use futures_util::StreamExt;

use super::{
    Conn, HEADER_FIRST_SEQ, HEADER_HEAD, HEADER_MSG_ID, NatsClientOptions, NatsSource,
    validate_subject,
};
use crate::error::Error;
use crate::verify::{BatchVerifier, Observed, Verification, VerifyOptions};

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
    verify_source_observed(source, client, opts, &mut |_, _| {})
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
        let mut verifier = BatchVerifier::new(&label, opts);
        let mut obs = |o: Observed<'_>| observer(&subject, o);
        read_subject(
            &conn,
            stream,
            &subject,
            last,
            &mut verifier,
            &mut obs,
            &mut |_| {},
        )?;
        chains.push(ChainReport {
            subject: subject.clone(),
            messages: verifier.batches(),
            last_stream_seq: last,
            verification: verifier.finish(),
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
    let mut verifier = BatchVerifier::new(&label, opts);
    let mut written = Ok(());
    read_subject(
        &conn,
        stream,
        &subject,
        last,
        &mut verifier,
        &mut |_| {},
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
    })
}

fn read_err(conn: &Conn, stream: &str, subject: &str, e: impl std::fmt::Display) -> Error {
    super::nats_error("read", &format!("{}/{stream}/{subject}", conn.url), e)
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
/// lines'). `per_message` sees each message's headers after it was pushed.
pub(crate) fn read_subject(
    conn: &Conn,
    stream: &str,
    subject: &str,
    last: u64,
    verifier: &mut BatchVerifier<'_>,
    observer: &mut dyn FnMut(Observed<'_>),
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
        verifier.push_observed(&label, &msg.payload, &mut |o| {
            if let Observed::Entry(e) = &o {
                seen_first.get_or_insert(e.seq);
                seen_head.clear();
                seen_head.push_str(e.hash);
            }
            observer(o);
        });
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
