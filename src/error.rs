//! The crate's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::chain::{HashAlg, KeyError};
use crate::record::ChainedEntry;

/// Everything that can go wrong when opening, writing to or reading an audit log. Messages name
/// the file, line and seq where one is known, and never contain key material.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on a file failed.
    Io {
        /// What was being done (`"open"`, `"append to"`, ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Another writer (in this or another process) holds the log's lock.
    Locked {
        /// The log file.
        path: PathBuf,
    },
    /// An existing log failed verification, so appending to it is refused.
    CorruptLog {
        /// The log file (or the writer's description).
        source_name: String,
        /// 1-based line number of the first problem, when known.
        line: Option<u64>,
        /// seq of the first problem, when known.
        seq: Option<u64>,
        /// What is wrong.
        detail: String,
    },
    /// The existing chain cannot be continued with this configuration (for example it is an
    /// export pack, not a log).
    Incompatible(String),
    /// The existing chain uses another hash algorithm than the one configured.
    HashAlgMismatch {
        /// The log file (or the writer's description).
        source_name: String,
        /// The existing chain's hash algorithm.
        chain: HashAlg,
        /// The hash algorithm configured.
        configured: HashAlg,
    },
    /// The existing chain is signed and no signing key is configured, or it is unsigned and a
    /// key is configured (a key cannot be added midway).
    SigningMismatch {
        /// The log file (or the writer's description).
        source_name: String,
        /// Whether the existing chain is signed.
        signed: bool,
    },
    /// A signing key could not be loaded.
    Key(KeyError),
    /// The chain writer failed to persist entries; they are counted and the chain records the gap
    /// when it continues.
    Write(String),
    /// The audit log has been shut down (or its sequencer thread is gone).
    Closed,
    /// An operation did not finish within its time limit.
    Timeout,
    /// A configuration value is invalid.
    Config(String),
    /// Content capture `digest` is configured with no key to digest with (neither a digest key
    /// nor a signing key to derive it from).
    MissingDigestKey,
    /// Segment retention shorter than the six months the EU AI Act requires
    /// ([`MIN_RETENTION`](crate::writer::MIN_RETENTION)).
    RetentionTooShort {
        /// The retention asked for, in whole days.
        days: u64,
    },
    /// A checkpoint sink holds a checkpoint of this log's origin that the existing chain does
    /// not match: the chain is shorter than it, its first `tree_size` entries have another
    /// root, or the note does not verify with the log's checkpoint key (issue #13). The log was
    /// cut back, rewritten or replaced; continuing it would sign a checkpoint inconsistent with
    /// one already published.
    CheckpointConflict {
        /// The log file (or the writer's description).
        source_name: String,
        /// The sink that holds the checkpoint.
        sink: String,
        /// What does not match (sizes and roots).
        detail: String,
    },
    /// A pre-flight check refused an operation; the refusal is on the chain.
    Blocked {
        /// The operation refused (for example `llm_call`).
        operation: String,
        /// The categories the policy blocks that were found (never the values).
        categories: Vec<String>,
        /// The `policy_flag` entry that records the refusal.
        entry: ChainedEntry,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Issue #15 §4: an empty path is named as such, not as "cannot open : ...".
            Error::Io { op, path, source } if path.as_os_str().is_empty() => {
                write!(f, "cannot {op} an empty path (\"\"): {source}")
            }
            Error::Io { op, path, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
            Error::Locked { path } => write!(
                f,
                "{} is locked by another acttrace writer (in this or another process); \
                 two writers on one chain would fork it",
                path.display()
            ),
            Error::CorruptLog {
                source_name,
                line,
                seq,
                detail,
            } => {
                write!(f, "refusing to append to {source_name}: ")?;
                if let Some(line) = line {
                    write!(f, "line {line}")?;
                    if let Some(seq) = seq {
                        write!(f, " (seq {seq})")?;
                    }
                    f.write_str(": ")?;
                }
                write!(
                    f,
                    "{detail}; run `acttrace verify {source_name}` for a full report"
                )
            }
            Error::Incompatible(s) => write!(f, "cannot continue the existing chain: {s}"),
            Error::HashAlgMismatch {
                source_name,
                chain,
                configured,
            } => write!(
                f,
                "cannot continue the existing chain: {source_name} is a {} chain; it cannot \
                 continue with {}",
                chain.name(),
                configured.name()
            ),
            Error::SigningMismatch {
                source_name,
                signed: true,
            } => write!(
                f,
                "cannot continue the existing chain: {source_name} is signed; configure its \
                 signing key to continue it"
            ),
            Error::SigningMismatch {
                source_name,
                signed: false,
            } => write!(
                f,
                "cannot continue the existing chain: {source_name} is unsigned; a signing key \
                 cannot be added midway"
            ),
            Error::Key(e) => write!(f, "signing key: {e}"),
            Error::Write(s) => write!(f, "audit entries were not persisted: {s}"),
            Error::Closed => f.write_str("the audit log is shut down"),
            Error::Timeout => f.write_str("timed out waiting for the audit log"),
            Error::Config(s) => write!(f, "invalid audit configuration: {s}"),
            Error::MissingDigestKey => f.write_str(
                "invalid audit configuration: content capture `digest` needs a key: give \
                 GenAiCapture::digest_key or a signing key (the digest key is then derived from \
                 it)",
            ),
            Error::RetentionTooShort { days } => write!(
                f,
                "invalid audit configuration: retention of {days} days is shorter than the six \
                 months (183 days) EU AI Act Art. 19(1) and 26(6) require for high-risk system \
                 logs"
            ),
            Error::CheckpointConflict {
                source_name,
                sink,
                detail,
            } => write!(
                f,
                "refusing to continue {source_name}: {sink} holds a checkpoint it does not \
                 match: {detail}"
            ),
            Error::Blocked {
                operation,
                categories,
                entry,
            } => write!(
                f,
                "{operation} blocked by the redaction policy ({}); recorded at seq {}",
                categories.join(", "),
                entry.seq
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Key(e) => Some(e),
            _ => None,
        }
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Error {
        Error::Key(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structured variants read as the messages they replaced did.
    #[test]
    fn structured_variants_keep_their_messages() {
        let cases = [
            (
                Error::HashAlgMismatch {
                    source_name: "a.jsonl".into(),
                    chain: HashAlg::Blake3,
                    configured: HashAlg::Sha256,
                },
                "cannot continue the existing chain: a.jsonl is a blake3 chain; it cannot \
                 continue with sha256",
            ),
            (
                Error::SigningMismatch {
                    source_name: "a.jsonl".into(),
                    signed: true,
                },
                "cannot continue the existing chain: a.jsonl is signed; configure its signing \
                 key to continue it",
            ),
            (
                Error::SigningMismatch {
                    source_name: "a.jsonl".into(),
                    signed: false,
                },
                "cannot continue the existing chain: a.jsonl is unsigned; a signing key cannot \
                 be added midway",
            ),
            (
                Error::MissingDigestKey,
                "invalid audit configuration: content capture `digest` needs a key: give \
                 GenAiCapture::digest_key or a signing key (the digest key is then derived \
                 from it)",
            ),
            (
                Error::RetentionTooShort { days: 30 },
                "invalid audit configuration: retention of 30 days is shorter than the six \
                 months (183 days) EU AI Act Art. 19(1) and 26(6) require for high-risk \
                 system logs",
            ),
        ];
        for (err, message) in cases {
            assert_eq!(err.to_string(), message);
        }
    }
}
