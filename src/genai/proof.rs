//! Proving a disputed prompt or response against a content digest in a verified log.
//!
//! In [`super::ContentCapture::Digest`] mode an entry keeps `{"blake3_keyed": hex, "bytes": n}`
//! instead of the content. Given the text someone claims was sent (or received), the same
//! redaction and the same key reproduce the digest: equal digests prove the claim, without the
//! log ever holding the text.

use std::fmt;
use std::path::Path;

use super::{ContentCapture, GenAiCapture, captured_content};
use crate::SigningKey;
use crate::error::Error;
use crate::json::Value;
use crate::redact::{Policy, redact_value};
use crate::verify::{Input, Observed, ObservedEntry, VerifyOptions, verify_observed};

/// The outcome of [`prove_content`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentProof {
    /// The text, redacted and digested with the key, gives the entry's digest.
    Match {
        /// The digest both sides share.
        digest: String,
        /// Categories redacted from the text before digesting. Those parts are not proven: any
        /// text that differs only inside them matches too (the log never held them).
        unproven: Vec<&'static str>,
        /// Categories the log's own `policy_flag` entries record the writer redacting (or
        /// blocking) from this entry. The writer digested its placeholders, not what stood
        /// there: a text carrying the placeholders (`<redacted:email>`) matches too, and proves
        /// nothing about those parts.
        redacted_by_writer: Vec<String>,
        /// Categories whose placeholders (`<redacted:CATEGORY>`) the given text itself holds:
        /// the text claims nothing about what stood there.
        placeholders: Vec<String>,
        /// Whether the log's signatures were checked with its signing key. Without, the chain
        /// is consistent but anyone could have written it.
        authenticated: bool,
    },
    /// The digests differ: this is not the content the entry recorded (or the key or the
    /// redaction policy differ from the writer's).
    Mismatch {
        /// The digest in the entry.
        recorded: String,
        /// The digest of the given text.
        computed: String,
    },
}

impl fmt::Display for ContentProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentProof::Match {
                digest,
                unproven,
                redacted_by_writer,
                placeholders,
                authenticated,
            } => {
                write!(f, "match (digest {digest})")?;
                if !unproven.is_empty() {
                    write!(
                        f,
                        "; not proven: the parts redacted before digesting ({}), where any \
                         text matches",
                        unproven.join(", ")
                    )?;
                }
                if !redacted_by_writer.is_empty() {
                    write!(
                        f,
                        "; not proven: what the writer redacted from this entry ({}), as the \
                         log's policy_flag records; the digest covers only its placeholders",
                        redacted_by_writer.join(", ")
                    )?;
                }
                if !placeholders.is_empty() {
                    write!(
                        f,
                        "; not proven: the text holds redaction placeholders ({}), which say \
                         nothing about what stood there",
                        placeholders
                            .iter()
                            .map(|c| format!("<redacted:{c}>"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )?;
                }
                if !authenticated {
                    write!(
                        f,
                        "; the chain is not authenticated (unsigned log or no signing key given)"
                    )?;
                }
                Ok(())
            }
            ContentProof::Mismatch { recorded, computed } => write!(
                f,
                "no match: the entry records digest {recorded}, the text gives {computed}"
            ),
        }
    }
}

/// Why [`prove_content`] could not give a verdict.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProofError {
    /// The log could not be opened or read.
    Io(Error),
    /// The log does not verify, so it proves nothing.
    Unverified {
        /// The log.
        source_name: String,
        /// The verifier's one-line verdict.
        detail: String,
    },
    /// The log holds no usable digest for the seq and field asked about.
    NoDigest {
        /// The log.
        source_name: String,
        /// The entry's 1-based line, when the entry was found.
        line: Option<u64>,
        /// The seq asked about.
        seq: u64,
        /// What is missing.
        detail: String,
    },
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::Io(e) => write!(f, "cannot prove content: {e}"),
            ProofError::Unverified {
                source_name,
                detail,
            } => write!(
                f,
                "cannot prove content from {source_name}: the log does not verify, so it \
                 proves nothing: {detail}"
            ),
            ProofError::NoDigest {
                source_name,
                line,
                seq,
                detail,
            } => {
                write!(f, "cannot prove content from {source_name}: ")?;
                match line {
                    Some(line) => write!(f, "line {line} (seq {seq}): {detail}"),
                    None => f.write_str(detail),
                }
            }
        }
    }
}

impl std::error::Error for ProofError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProofError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// What the single pass over the log found about the entry asked about.
#[derive(Default)]
struct Found {
    /// The entry's line, and its digest or why it has none.
    entry: Option<(u64, Result<String, String>)>,
    /// Categories `policy_flag` entries record as redacted or blocked from the entry.
    redacted: Vec<String>,
}

/// Checks `text` against the content digest the entry at `seq` of the log at `path` records in
/// `field` (`input_messages`, `output_messages`, `system_instructions`, `arguments`, `result`).
/// `path` may be `-` for standard input.
///
/// The log is read once: verified, with `signing_key` when given (signatures checked) or
/// without (the chain's consistency only), while the digest and the `policy_flag` entries about
/// the entry are picked up, so the digest compared is one that verified. `digest_key` is the
/// key the writer's digests were made with: the one given to [`GenAiCapture::digest_key`], or
/// the signing key when none was. `policy` must be the writer's redaction policy: the text is
/// redacted before it is digested, as the writer did (a writer with a custom redactor cannot be
/// reproduced here). A match says what it does not prove: parts redacted from the text, parts
/// the log records the writer redacting, and placeholders in the text. Errors name the file,
/// the seq and the field.
pub fn prove_content(
    path: &Path,
    seq: u64,
    field: &str,
    text: &str,
    signing_key: Option<&SigningKey>,
    digest_key: &SigningKey,
    policy: &Policy,
) -> Result<ContentProof, ProofError> {
    let input = Input::open(path).map_err(ProofError::Io)?;
    let source_name = input.name.clone();
    let mut found = Found::default();
    let verdict = verify_observed(
        input.reader,
        &input.name,
        &VerifyOptions {
            key: signing_key.cloned(),
            ..VerifyOptions::default()
        },
        &mut |seen| {
            if let Observed::Entry(e) = seen {
                observe(&mut found, &e, seq, field);
            }
        },
    )
    .map_err(|source| {
        ProofError::Io(Error::Io {
            op: "read",
            path: path.to_owned(),
            source,
        })
    })?;
    if !verdict.ok() {
        return Err(ProofError::Unverified {
            source_name,
            detail: verdict.summary(),
        });
    }
    let no_digest = |line, detail| ProofError::NoDigest {
        source_name: source_name.clone(),
        line,
        seq,
        detail,
    };
    let recorded = match found.entry {
        None => {
            return Err(no_digest(
                None,
                format!("the log has no entry with seq {seq}"),
            ));
        }
        Some((line, Err(detail))) => return Err(no_digest(Some(line), detail)),
        Some((_, Ok(digest))) => digest,
    };
    let mut redacted = Value::String(text.to_owned());
    let report = redact_value(&mut redacted, policy);
    let unproven: Vec<&'static str> = report
        .categories()
        .iter()
        .filter(|c| c.action.removes_value())
        .map(|c| c.category)
        .collect();
    let capture = GenAiCapture::default().digest_key(digest_key.clone());
    let computed = captured_content(ContentCapture::Digest, redacted, &capture)
        .and_then(|d| {
            d.get("blake3_keyed")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .ok_or_else(|| no_digest(None, "no digest key".into()))?;
    Ok(if computed == recorded {
        ContentProof::Match {
            digest: computed,
            unproven,
            redacted_by_writer: found.redacted,
            placeholders: placeholders_in(text),
            authenticated: signing_key.is_some(),
        }
    } else {
        ContentProof::Mismatch { recorded, computed }
    })
}

/// Picks up, from one verified entry, the digest asked about or a `policy_flag` about it.
fn observe(found: &mut Found, e: &ObservedEntry<'_>, seq: u64, field: &str) {
    if e.seq == seq && found.entry.is_none() {
        let digest = match e.payload.get(field) {
            None => Err(format!(
                "the entry has no `{field}` (what it kept of content is in `content_capture`)"
            )),
            Some(content) => content
                .get("blake3_keyed")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    format!("`{field}` is not a content digest (it was kept in another mode)")
                }),
        };
        found.entry = Some((e.line, digest));
        return;
    }
    if e.kind != "policy_flag"
        || e.payload.get("entry_seq").and_then(Value::as_u64) != Some(seq)
        || !matches!(
            e.payload.get("action").and_then(Value::as_str),
            Some("redacted" | "blocked")
        )
    {
        return;
    }
    if let Some(Value::Array(data)) = e.payload.get("data") {
        for category in data.iter().filter_map(Value::as_str) {
            if !found.redacted.iter().any(|c| c == category) {
                found.redacted.push(category.to_owned());
            }
        }
    }
}

/// The categories of the `<redacted:CATEGORY>` placeholders in `text`, in order of first
/// appearance.
fn placeholders_in(text: &str) -> Vec<String> {
    const OPEN: &str = "<redacted:";
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        rest = &rest[at + OPEN.len()..];
        let Some(end) = rest.find('>') else { break };
        let category = &rest[..end];
        if !category.is_empty()
            && category
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && !out.iter().any(|c| c == category)
        {
            out.push(category.to_owned());
        }
    }
    out
}
