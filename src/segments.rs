//! The file names of a rotated log's segments, `<stem>-NNNNNN.jsonl` in one directory: the
//! names [`crate::writer::SegmentedWriter`] writes and directory verification
//! ([`crate::verify::verify_dir`]) reads back.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The file name of segment `index` of the log `stem`.
pub(crate) fn segment_file_name(stem: &str, index: u64) -> String {
    format!("{stem}-{index:06}.jsonl")
}

/// The names of the segments of the log `stem`, as a pattern for messages.
pub(crate) fn segment_file_pattern(stem: &str) -> String {
    format!("{stem}-NNNNNN.jsonl")
}

/// `(stem, index, path)` of every `<stem>-NNNNNN.jsonl` file in `dir`.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(String, u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(base) = name.strip_suffix(".jsonl") else {
            continue;
        };
        let Some((stem, digits)) = base.rsplit_once('-') else {
            continue;
        };
        if digits.len() == 6
            && digits.bytes().all(|b| b.is_ascii_digit())
            && let Ok(index) = digits.parse::<u64>()
        {
            out.push((stem.to_owned(), index, entry.path()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_segments_are_the_files_named_like_segments() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            segment_file_name("audit", 1),
            segment_file_name("my-log", 42),
            "audit-1.jsonl".into(),
            "audit-00000a.jsonl".into(),
            "audit-000003.json".into(),
            "audit.jsonl".into(),
        ] {
            fs::write(dir.path().join(name), "").unwrap();
        }
        let mut found: Vec<(String, u64)> = list_segments(dir.path())
            .unwrap()
            .into_iter()
            .map(|(stem, index, path)| {
                assert_eq!(path, dir.path().join(segment_file_name(&stem, index)));
                (stem, index)
            })
            .collect();
        found.sort();
        assert_eq!(found, [("audit".into(), 1), ("my-log".into(), 42)]);
        assert_eq!(segment_file_pattern("<stem>"), "<stem>-NNNNNN.jsonl");
    }
}
