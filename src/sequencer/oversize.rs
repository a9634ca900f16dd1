//! Entries too long for the writer (issue #12, item 2): the verifier refuses a line longer than
//! its cap, so the sequencer never hands a writer a line longer than
//! [`ChainWriter::max_entry_bytes`](crate::writer::ChainWriter::max_entry_bytes). An entry that
//! would be longer has its longest strings replaced, largest first, by
//! `{"omitted_bytes": N, "sha256": "<hex>"}` (the UTF-8 length and SHA-256 of the redacted
//! string) until it fits, and a `policy_flag` names the fields and their sizes (never their
//! values). An entry that cannot fit even so (millions of keys, say) is refused, counted, and a
//! `policy_flag` with action `blocked` records the refusal in its place.

use sha2::Digest;

use crate::json::Value;

/// Longest field path a flag lists (longer ones are cut, with `…`).
const MAX_PATH_BYTES: usize = 256;
/// Most fields a flag lists one by one (the rest are counted).
const MAX_LISTED: usize = 16;
/// Most fields the flag's `reason` names.
const MAX_IN_REASON: usize = 3;
/// Longest entry type a flag repeats (longer ones are cut, with `…`).
const MAX_KIND_BYTES: usize = 128;

/// A string field replaced by its digest.
#[derive(Debug, PartialEq)]
pub(super) struct Omitted {
    /// Its JSON Pointer (RFC 6901) in the payload, e.g. `/result` or `/messages/2/content`.
    pub(super) path: String,
    /// Its length in UTF-8 bytes.
    pub(super) bytes: usize,
}

/// The length of `s` as a JSON string literal in a log line (quotes and escapes included).
fn line_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// What replaces a string of `bytes` UTF-8 bytes with this SHA-256.
fn replacement(bytes: usize, sha256: String) -> Value {
    Value::Object(vec![
        ("omitted_bytes".into(), Value::from(bytes as u64)),
        ("sha256".into(), Value::from(sha256)),
    ])
}

/// The line length of [`replacement`]: `{"omitted_bytes": N, "sha256": "<64 hex>"}`.
fn replacement_len(bytes: usize) -> usize {
    97 + bytes.to_string().len()
}

/// Visits the string values (not keys) of `v` in depth-first order.
fn for_each_string(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| for_each_string(i, f)),
        Value::Object(fields) => fields.iter().for_each(|(_, v)| for_each_string(v, f)),
        _ => {}
    }
}

/// `payload` with its longest strings replaced by their digests, so that its line form is at
/// least `need` bytes shorter, and the fields replaced; `None` when replacing every string that
/// would save bytes still saves less than `need`.
pub(super) fn omit_longest_strings(payload: &Value, need: usize) -> Option<(Value, Vec<Omitted>)> {
    // Every string by length, with its depth-first ordinal.
    let mut strings: Vec<(usize, usize)> = Vec::new();
    for_each_string(payload, &mut |s| {
        let ordinal = strings.len();
        strings.push((line_len(s), ordinal));
    });
    strings.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut chosen = Vec::new();
    let mut saved = 0usize;
    for (len, ordinal) in strings {
        if saved >= need {
            break;
        }
        // A string's UTF-8 length is at most its line length less the quotes.
        let saving = len.saturating_sub(replacement_len(len));
        if saving == 0 {
            break;
        }
        saved += saving;
        chosen.push(ordinal);
    }
    if saved < need {
        return None;
    }
    chosen.sort_unstable();
    let mut rebuild = Rebuild {
        chosen: &chosen,
        next: 0,
        ordinal: 0,
        path: Vec::new(),
        omitted: Vec::new(),
    };
    let bounded = rebuild.value(payload);
    Some((bounded, rebuild.omitted))
}

/// Copies a payload, replacing the chosen strings (by depth-first ordinal).
struct Rebuild<'a> {
    chosen: &'a [usize],
    next: usize,
    ordinal: usize,
    path: Vec<String>,
    omitted: Vec<Omitted>,
}

impl Rebuild<'_> {
    fn value(&mut self, v: &Value) -> Value {
        match v {
            Value::String(s) => {
                let ordinal = self.ordinal;
                self.ordinal += 1;
                if self.chosen.get(self.next) != Some(&ordinal) {
                    return v.clone();
                }
                self.next += 1;
                self.omitted.push(Omitted {
                    path: self.pointer(),
                    bytes: s.len(),
                });
                let digest = crate::hex::to_hex(&sha2::Sha256::digest(s.as_bytes()));
                replacement(s.len(), digest)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.member(i.to_string(), item))
                    .collect(),
            ),
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, item)| (k.clone(), self.member(k.clone(), item)))
                    .collect(),
            ),
            scalar => scalar.clone(),
        }
    }

    fn member(&mut self, segment: String, v: &Value) -> Value {
        self.path.push(segment);
        let out = self.value(v);
        self.path.pop();
        out
    }

    /// The JSON Pointer of the current position, cut to [`MAX_PATH_BYTES`].
    fn pointer(&self) -> String {
        let mut p = String::new();
        for segment in &self.path {
            p.push('/');
            p.push_str(&segment.replace('~', "~0").replace('/', "~1"));
            if p.len() > MAX_PATH_BYTES {
                break;
            }
        }
        cut(&p, MAX_PATH_BYTES)
    }
}

/// `s` cut to at most `max` bytes (on a character boundary), marked with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn decision(decision_id: Option<&str>) -> Value {
    decision_id.map_or(Value::Null, Value::from)
}

/// The `policy_flag` that records the strings omitted from entry `seq` (paths and sizes,
/// never values).
pub(super) fn omitted_flag(
    omitted: &[Omitted],
    kind: &str,
    seq: u64,
    decision_id: Option<&str>,
    limit: usize,
) -> Value {
    let named: Vec<String> = omitted
        .iter()
        .take(MAX_IN_REASON)
        .map(|o| format!("{} ({} bytes)", cut(&o.path, MAX_PATH_BYTES), o.bytes))
        .collect();
    let more = omitted.len().saturating_sub(MAX_IN_REASON);
    let reason = format!(
        "oversized field{} {}{} replaced by {} digest: the {} entry would exceed the writer's \
         limit of {limit} bytes per line",
        if omitted.len() == 1 { "" } else { "s" },
        named.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        if omitted.len() == 1 { "its" } else { "their" },
        cut(kind, MAX_KIND_BYTES),
    );
    let fields = omitted
        .iter()
        .take(MAX_LISTED)
        .map(|o| {
            Value::Object(vec![
                ("path".into(), Value::from(cut(&o.path, MAX_PATH_BYTES))),
                ("bytes".into(), Value::from(o.bytes as u64)),
            ])
        })
        .collect();
    let mut flag = vec![
        ("decision_id".into(), decision(decision_id)),
        ("reason".into(), Value::from(reason)),
        ("action".into(), Value::from("redacted")),
        ("severity".into(), Value::from("warning")),
        (
            "data".into(),
            Value::Array(vec![Value::from("oversized_field")]),
        ),
        ("fields".into(), Value::Array(fields)),
    ];
    if omitted.len() > MAX_LISTED {
        flag.push(("omitted_fields".into(), Value::from(omitted.len() as u64)));
    }
    flag.extend([
        ("limit_bytes".into(), Value::from(limit as u64)),
        ("entry_seq".into(), Value::from(seq)),
        ("entry_type".into(), Value::from(cut(kind, MAX_KIND_BYTES))),
        ("auto".into(), Value::Bool(true)),
    ]);
    Value::Object(flag)
}

/// The `policy_flag` chained in place of an entry too long to record even with its strings
/// omitted.
pub(super) fn refused_flag(
    kind: &str,
    entry_bytes: usize,
    limit: usize,
    decision_id: Option<&str>,
) -> Value {
    let kind = cut(kind, MAX_KIND_BYTES);
    Value::Object(vec![
        ("decision_id".into(), decision(decision_id)),
        (
            "reason".into(),
            Value::from(format!(
                "oversized entry not recorded: the {kind} entry's line of {entry_bytes} bytes \
                 exceeds the writer's limit of {limit} bytes even with its strings replaced by \
                 their digests"
            )),
        ),
        ("action".into(), Value::from("blocked")),
        ("severity".into(), Value::from("critical")),
        (
            "data".into(),
            Value::Array(vec![Value::from("oversized_entry")]),
        ),
        ("entry_type".into(), Value::from(kind)),
        ("entry_bytes".into(), Value::from(entry_bytes as u64)),
        ("limit_bytes".into(), Value::from(limit as u64)),
        ("auto".into(), Value::Bool(true)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::to_line_string;

    #[test]
    fn line_lengths_are_those_of_the_rendered_line() {
        for s in [
            "",
            "plain",
            "q\"b\\n\n\t\u{1}é🚀\u{2028}",
            "\u{0}\u{1f}\u{7f}",
        ] {
            assert_eq!(line_len(s), to_line_string(&Value::from(s)).len(), "{s:?}");
        }
        for n in [0usize, 9, 10, 17 << 20, usize::MAX] {
            let r = replacement(n, "0".repeat(64));
            assert_eq!(replacement_len(n), to_line_string(&r).len(), "{n}");
        }
    }

    #[test]
    fn the_longest_strings_go_first_and_nested_ones_are_found() {
        let big = "x".repeat(5000);
        let payload = Value::Object(vec![
            ("decision_id".into(), Value::from("d")),
            ("small".into(), Value::from("y".repeat(300))),
            (
                "messages".into(),
                Value::Array(vec![
                    Value::from("short"),
                    Value::Object(vec![("a/b~c".into(), Value::from(big.as_str()))]),
                ]),
            ),
            ("mid".into(), Value::from("z".repeat(2000))),
        ]);
        let before = to_line_string(&payload).len();
        let (bounded, omitted) = omit_longest_strings(&payload, 4000).unwrap();
        assert_eq!(
            omitted,
            [Omitted {
                path: "/messages/1/a~1b~0c".into(),
                bytes: 5000
            }]
        );
        let after = to_line_string(&bounded).len();
        assert_eq!(before - after, line_len(&big) - replacement_len(5000));
        let replaced = bounded.get("messages").unwrap();
        let Value::Array(items) = replaced else {
            panic!()
        };
        let digest = crate::hex::to_hex(&sha2::Sha256::digest(big.as_bytes()));
        assert_eq!(items[1].get("a/b~c"), Some(&replacement(5000, digest)));
        // More to save: the next longest goes too, in payload order in the list.
        let (_, omitted) = omit_longest_strings(&payload, 6000).unwrap();
        let paths: Vec<&str> = omitted.iter().map(|o| o.path.as_str()).collect();
        assert_eq!(paths, ["/messages/1/a~1b~0c", "/mid"]);
        // Strings no longer than their replacement save nothing: not enough to save.
        assert!(omit_longest_strings(&payload, before).is_none());
    }

    #[test]
    fn flags_stay_small_whatever_they_describe() {
        let omitted: Vec<Omitted> = (0..1000)
            .map(|i| Omitted {
                path: format!("/{}", "k".repeat(MAX_PATH_BYTES + i)),
                bytes: i,
            })
            .collect();
        let kind = "t".repeat(1 << 20);
        let flag = omitted_flag(&omitted, &kind, 7, Some("d"), 1 << 20);
        assert!(to_line_string(&flag).len() < 8 * 1024);
        assert_eq!(flag.get("omitted_fields"), Some(&Value::from(1000u64)));
        let refused = refused_flag(&kind, usize::MAX, 1 << 20, None);
        assert!(to_line_string(&refused).len() < 2 * 1024);
    }
}
