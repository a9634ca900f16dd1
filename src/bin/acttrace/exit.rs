//! Exit statuses, the same for every command: 0 success, 1 an integrity failure, 2 a usage
//! error or a file that cannot be read.

use acttrace::export::ExportError;

/// Exit code: success (verified, written, repaired, matched).
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: an integrity failure (edited, broken link, bad signature, incomplete, forged or
/// unauthenticated header, malformed or torn line), or a text that does not match its digest.
pub(crate) const EXIT_INTEGRITY: u8 = 1;
/// Exit code: usage error, or a file that cannot be read.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Prints `message` as a usage error and returns [`EXIT_USAGE`].
pub(crate) fn usage_error(message: &str) -> u8 {
    eprintln!("acttrace: error: {message}");
    EXIT_USAGE
}

/// The exit code for a failed export or summary: a log that does not verify, or cannot be read
/// as entries, is an integrity failure; everything else (unknown framework, bad mapping file,
/// bad options, unreadable file) is a usage error.
pub(crate) fn export_failure(e: &ExportError) -> u8 {
    match e {
        ExportError::Unverified { .. } | ExportError::Corrupt(_) => EXIT_INTEGRITY,
        _ => EXIT_USAGE,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use acttrace::export::MappingError;

    use super::*;

    #[test]
    fn export_failures_split_into_integrity_and_usage() {
        let integrity = [
            ExportError::Unverified {
                detail: "tampered entry at seq 3: hash mismatch".into(),
            },
            ExportError::Corrupt("the log holds no entries".into()),
        ];
        for e in &integrity {
            assert_eq!(export_failure(e), EXIT_INTEGRITY, "{e}");
        }
        let usage = [
            ExportError::UnknownFramework("unknown framework \"sox\"".into()),
            ExportError::Mapping(MappingError {
                file: "bad.json".into(),
                key: "version".into(),
                message: "must be a string".into(),
            }),
            ExportError::Usage("--from is after --to".into()),
            ExportError::Io {
                path: PathBuf::from("/nonexistent/log.jsonl"),
                source: std::io::ErrorKind::NotFound.into(),
            },
        ];
        for e in &usage {
            assert_eq!(export_failure(e), EXIT_USAGE, "{e}");
        }
    }
}
