//! Proving a disputed prompt or response against a content digest in a verified log.
//!
//! In [`super::ContentCapture::Digest`] mode an entry keeps `{"blake3_keyed": hex, "bytes": n}`
//! instead of the content. Given the text someone claims was sent (or received), the same
//! redaction and the same key reproduce the digest: equal digests prove the claim, without the
//! log ever holding the text.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{ContentCapture, GenAiCapture, captured_content};
use crate::SigningKey;
use crate::error::Error;
use crate::json::{self, Value};
use crate::redact::{Policy, redact_value};
use crate::verify::{VerifyOptions, verify_path};

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

/// Checks `text` against the content digest the entry at `seq` of the log at `path` records in
/// `field` (`input_messages`, `output_messages`, `system_instructions`, `arguments`, `result`).
///
/// The log is verified first, with `signing_key` when given (signatures checked) or without
/// (the chain's consistency only). `digest_key` is the key the writer's digests were made with:
/// the one given to [`GenAiCapture::digest_key`], or the signing key when none was. `policy`
/// must be the writer's redaction policy: the text is redacted before it is digested, as the
/// writer did (a writer with a custom redactor cannot be reproduced here). Errors name the
/// file, the seq and the field.
pub fn prove_content(
    path: &Path,
    seq: u64,
    field: &str,
    text: &str,
    signing_key: Option<&SigningKey>,
    digest_key: &SigningKey,
    policy: &Policy,
) -> Result<ContentProof, Error> {
    let verdict = verify_path(
        path,
        &VerifyOptions {
            key: signing_key.cloned(),
            ..VerifyOptions::default()
        },
    )?;
    if !verdict.ok() {
        return Err(Error::CorruptLog {
            source_name: path.display().to_string(),
            line: None,
            seq: Some(seq),
            detail: format!(
                "the log does not verify, so it proves nothing: {}",
                verdict.summary()
            ),
        });
    }
    let recorded = recorded_digest(path, seq, field)?;
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
        .ok_or_else(|| Error::Config("no digest key".into()))?;
    Ok(if computed == recorded {
        ContentProof::Match {
            digest: computed,
            unproven,
            authenticated: signing_key.is_some(),
        }
    } else {
        ContentProof::Mismatch { recorded, computed }
    })
}

/// The digest the entry at `seq` records in `field`.
fn recorded_digest(path: &Path, seq: u64, field: &str) -> Result<String, Error> {
    let name = path.display().to_string();
    let fail = |line: Option<u64>, detail: String| Error::CorruptLog {
        source_name: name.clone(),
        line,
        seq: Some(seq),
        detail,
    };
    let file = File::open(path).map_err(|source| Error::Io {
        op: "open",
        path: path.to_owned(),
        source,
    })?;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let number = index as u64 + 1;
        let line = line.map_err(|source| Error::Io {
            op: "read",
            path: path.to_owned(),
            source,
        })?;
        let entry = json::parse(&line).map_err(|e| fail(Some(number), e.to_string()))?;
        if entry.get("seq").and_then(Value::as_u64) != Some(seq) {
            continue;
        }
        let payload = entry.get("payload");
        let content = payload.and_then(|p| p.get(field)).ok_or_else(|| {
            fail(
                Some(number),
                format!(
                    "the entry has no `{field}` (what it kept of content is in `content_capture`)"
                ),
            )
        })?;
        return content
            .get("blake3_keyed")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                fail(
                    Some(number),
                    format!("`{field}` is not a content digest (it was kept in another mode)"),
                )
            });
    }
    Err(fail(None, format!("the log has no entry with seq {seq}")))
}
