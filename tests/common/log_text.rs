//! A log's text for "this secret never reached disk" checks, shared by the crate's tests and
//! the interop tests.
//!
//! Searching the raw file for a short run of digits (a card number's "4111") is flaky: chain
//! hashes, signatures, decision ids and digests are random hex, and 64 hex digits hold a given
//! 4-digit run about once in a thousand entries. This text is the file with the values of those
//! fields taken out and every other byte as written, so a check on it fails only on content.

use std::path::Path;

/// The fields whose values are random hex: never content.
const RANDOM_HEX_FIELDS: [&str; 6] = [
    "prev_hash",
    "hash",
    "sig",
    "decision_id",
    "parent_decision_id",
    "entries_digest",
];

/// The log at `path` with the values of [`RANDOM_HEX_FIELDS`] (at any depth) removed from each
/// line; everything else as the file holds it.
pub fn text_without_random_hex(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read the log");
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a log line is JSON");
        let mut hex = Vec::new();
        collect_random_hex(&value, &mut hex);
        let mut line = line.to_owned();
        for h in hex {
            line = line.replace(&h, "");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn collect_random_hex(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(members) => {
            for (key, v) in members {
                match v.as_str() {
                    Some(s)
                        if RANDOM_HEX_FIELDS.contains(&key.as_str())
                            && !s.is_empty()
                            && s.bytes().all(|b| b.is_ascii_hexdigit()) =>
                    {
                        out.push(s.to_owned());
                    }
                    _ => collect_random_hex(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_random_hex(v, out)),
        _ => {}
    }
}
