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

/// The members whose values are measured, not content: a sealing time's microseconds or a
/// duration hold a given 4-digit run often enough to fail a check now and then (a fresh clone
/// once sealed at `…:41.641115`). Their values never hold a `,` or a `}`.
const MEASURED_FIELDS: [&str; 2] = ["ts", "duration_ms"];

/// The log at `path` with the values of [`RANDOM_HEX_FIELDS`] (at any depth) and of
/// [`MEASURED_FIELDS`] removed from each line; everything else as the file holds it.
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
        for key in MEASURED_FIELDS {
            line = without_values_of(&line, key);
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

/// `line` with the value after every `"key": ` cut, up to the next `,` or `}`.
fn without_values_of(line: &str, key: &str) -> String {
    let marker = format!("\"{key}\": ");
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(&marker) {
        let value = at + marker.len();
        out.push_str(&rest[..value]);
        let end = rest[value..]
            .find([',', '}'])
            .map_or(rest.len(), |i| value + i);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
