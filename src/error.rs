//! The crate's error type.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::chain::KeyError;

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
    /// The existing chain cannot be continued with this configuration (for example it is signed
    /// and no key was given).
    Incompatible(String),
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
    /// A pre-flight check refused an operation; the refusal is on the chain.
    Blocked {
        /// The operation refused (for example `llm_call`).
        operation: String,
        /// The categories the policy blocks that were found (never the values).
        categories: Vec<String>,
        /// The `policy_flag` entry that records the refusal.
        entry: crate::ChainedEntry,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
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
            Error::Key(e) => write!(f, "signing key: {e}"),
            Error::Write(s) => write!(f, "audit entries were not persisted: {s}"),
            Error::Closed => f.write_str("the audit log is shut down"),
            Error::Timeout => f.write_str("timed out waiting for the audit log"),
            Error::Config(s) => write!(f, "invalid audit configuration: {s}"),
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
