//! Excerpt packs: a filtered export (time range or one decision) that stays verifiable.
//!
//! Design (see `docs/EXPORT.md`): an excerpt pack holds only the selected entries (plus the
//! chain's `audit_open` at seq 0, which declares the format and hash algorithm), each exactly as
//! in the log. Its `_meta` keeps the *source* log's `head_hash` and `entries` (signed as in a
//! full pack) and adds `_meta.excerpt`: the filter, `from_seq`/`to_seq`, the first entry's
//! `prev_hash`, and `selected` — the `[seq, hash]` of every included entry — signed with
//! `excerpt.sig = HMAC(key, canonical({system, risk_tier, head_hash, entries, excerpt without
//! sig}))`. [`verify_excerpt`] recomputes every entry's hash from its own `prev_hash`, checks the
//! link wherever two included entries are adjacent in the chain (and genesis at seq 0), checks
//! entry signatures with the key, and checks that the entries are exactly `selected` and both
//! header signatures verify. An edited entry fails its hash; a removed, added or reordered entry
//! fails `selected` (authenticated with a key).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::chain::{GENESIS, HashAlg, SigningKey, hash_hex, write_body};
use crate::json::{Value, parse, to_canonical};
use crate::time::{DateAlone, parse_utc};
use crate::verify::meta_signing_input;

use super::log::{LogEntry, parse_line};
use super::{ExportError, Filter};

/// Normalised, comparable time bounds of a filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimeBounds {
    /// Inclusive lower bound (`YYYY-MM-DDTHH:MM:SS.ffffff`, UTC).
    pub from: Option<String>,
    /// Inclusive upper bound.
    pub to: Option<String>,
}

impl TimeBounds {
    /// Parses the filter's `from`/`to`; a malformed or invalid time is a usage error.
    pub fn parse(f: &Filter) -> Result<TimeBounds, ExportError> {
        let one = |v: &Option<String>, flag: &str, date_alone| -> Result<_, ExportError> {
            v.as_deref()
                .map(|s| {
                    parse_utc(s, date_alone)
                        .map(|t| t.without_offset())
                        .map_err(|e| ExportError::Usage(format!("{flag} \"{s}\": {e}")))
                })
                .transpose()
        };
        let b = TimeBounds {
            from: one(&f.from, "--from", DateAlone::StartOfDay)?,
            to: one(&f.to, "--to", DateAlone::EndOfDay)?,
        };
        if let (Some(a), Some(z)) = (&b.from, &b.to)
            && a > z
        {
            return Err(ExportError::Usage("--from is after --to".into()));
        }
        Ok(b)
    }

    fn contains(&self, ts: &str) -> bool {
        if self.from.is_none() && self.to.is_none() {
            return true;
        }
        let Some(t) = normalize_ts(ts, false) else {
            return false;
        };
        self.from.as_ref().is_none_or(|f| &t >= f) && self.to.as_ref().is_none_or(|z| &t <= z)
    }
}

/// Normalises a UTC timestamp to `YYYY-MM-DDTHH:MM:SS.ffffff` for comparison. A date alone is
/// the start of the day, or its last microsecond with `end_of_day`. `None` when the text is not
/// a valid UTC time (month 13, February 30, hour 24, another offset, ...).
pub fn normalize_ts(s: &str, end_of_day: bool) -> Option<String> {
    let date_alone = if end_of_day {
        DateAlone::EndOfDay
    } else {
        DateAlone::StartOfDay
    };
    parse_utc(s, date_alone).ok().map(|t| t.without_offset())
}

/// A human description of a filter, for messages and reports.
pub fn describe_filter(f: &Filter) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &f.from {
        parts.push(format!("from {v}"));
    }
    if let Some(v) = &f.to {
        parts.push(format!("to {v}"));
    }
    if let Some(v) = &f.decision {
        parts.push(format!("decision {v}"));
    }
    if parts.is_empty() {
        "whole log".into()
    } else {
        parts.join(", ")
    }
}

/// The entries a filter selects, in chain order: the `audit_open` at seq 0, then every entry
/// inside the time bounds that belongs to the decision (or to a decision nested in it) when one
/// is given.
pub fn select(entries: &[LogEntry], f: &Filter, bounds: &TimeBounds) -> Vec<LogEntry> {
    let mut ids: Vec<String> = f.decision.iter().cloned().collect();
    if f.decision.is_some() {
        for e in entries {
            if e.kind == "decision"
                && let (Some(id), Some(parent)) =
                    (e.decision_id(), e.payload_str("parent_decision_id"))
                && ids.iter().any(|i| i == parent)
                && !ids.iter().any(|i| i == id)
            {
                ids.push(id.to_owned());
            }
        }
    }
    entries
        .iter()
        .filter(|e| {
            (e.seq == 0 && e.kind == "audit_open")
                || (bounds.contains(&e.ts)
                    && (f.decision.is_none()
                        || e.decision_id().is_some_and(|d| ids.iter().any(|i| i == d))))
        })
        .cloned()
        .collect()
}

/// The `_meta.excerpt` object of an excerpt pack (without its signature).
pub fn excerpt_value(entries: &[LogEntry], f: &Filter, hash_alg: &str) -> Value {
    let opt = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
    let first = entries.first();
    Value::Object(vec![
        (
            "filter".into(),
            Value::Object(vec![
                ("from".into(), opt(&f.from)),
                ("to".into(), opt(&f.to)),
                ("decision".into(), opt(&f.decision)),
            ]),
        ),
        ("hash_alg".into(), Value::from(hash_alg)),
        (
            "from_seq".into(),
            first.map(|e| Value::from(e.seq)).unwrap_or(Value::Null),
        ),
        (
            "to_seq".into(),
            entries
                .last()
                .map(|e| Value::from(e.seq))
                .unwrap_or(Value::Null),
        ),
        (
            "prev_hash_of_first".into(),
            first
                .map(|e| Value::String(e.prev_hash.clone()))
                .unwrap_or(Value::Null),
        ),
        ("included".into(), Value::from(entries.len() as u64)),
        (
            "selected".into(),
            Value::Array(
                entries
                    .iter()
                    .map(|e| Value::Array(vec![Value::from(e.seq), Value::String(e.hash.clone())]))
                    .collect(),
            ),
        ),
    ])
}

/// The text `_meta.excerpt.sig` covers: canonical `{system, risk_tier, head_hash, entries,
/// excerpt}` with the excerpt's own `sig` left out. `None` when `_meta` has no excerpt object.
pub fn excerpt_signing_input(meta: &Value) -> Option<String> {
    let ex = meta.get("excerpt")?.as_object()?;
    let pick = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    let unsigned = Value::Object(ex.iter().filter(|(k, _)| k != "sig").cloned().collect());
    Some(to_canonical(&Value::Object(vec![
        ("system".into(), pick("system")),
        ("risk_tier".into(), pick("risk_tier")),
        ("head_hash".into(), pick("head_hash")),
        ("entries".into(), pick("entries")),
        ("excerpt".into(), unsigned),
    ])))
}

/// The result of [`verify_excerpt`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExcerptVerification {
    /// Entries in the excerpt.
    pub entries: u64,
    /// Problems found, in file order (empty when it verified).
    pub problems: Vec<String>,
    /// Whether a key was given (signatures and both header signatures were checked).
    pub key_checked: bool,
    /// The source log's entry count, as the header states it.
    pub source_entries: Option<u64>,
}

impl ExcerptVerification {
    /// True when no problem was found.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// One line: `ok: excerpt of N entries ...` or the first problem.
    pub fn summary(&self) -> String {
        if let Some(p) = self.problems.first() {
            let more = self.problems.len() - 1;
            return if more > 0 {
                format!("{p} [and {more} more]")
            } else {
                p.clone()
            };
        }
        format!(
            "ok: excerpt of {} entries from a {}-entry log ({})",
            self.entries,
            self.source_entries
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into()),
            if self.key_checked {
                "signatures and excerpt header verified"
            } else {
                "no key: hashes and links checked; the header is unauthenticated"
            }
        )
    }
}

/// Verifies an excerpt pack written by an export with a filter. `Err` only when the file cannot
/// be read.
pub fn verify_excerpt(
    path: &Path,
    key: Option<&SigningKey>,
) -> Result<ExcerptVerification, ExportError> {
    let io = |source| ExportError::Io {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut out = ExcerptVerification {
        entries: 0,
        problems: Vec::new(),
        key_checked: key.is_some(),
        source_entries: None,
    };
    let mut buf = String::new();
    let mut line_no = 0u64;
    let mut meta: Option<Value> = None;
    let mut alg = HashAlg::Sha256;
    let mut prev: Option<(u64, String)> = None;
    let mut seen: Vec<(u64, String)> = Vec::new();
    loop {
        buf.clear();
        if reader.read_line(&mut buf).map_err(io)? == 0 {
            break;
        }
        line_no += 1;
        let text = buf.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        if meta.is_none() {
            let m = parse(text)
                .ok()
                .and_then(|v| v.get("_meta").cloned())
                .filter(|m| m.get("excerpt").and_then(Value::as_object).is_some());
            let Some(m) = m else {
                out.problems
                    .push("not an excerpt pack: the first line has no _meta.excerpt".into());
                return Ok(out);
            };
            let ex = m.get("excerpt").expect("checked");
            match ex
                .get("hash_alg")
                .and_then(Value::as_str)
                .and_then(HashAlg::from_name)
            {
                Some(a) => alg = a,
                None => out
                    .problems
                    .push("_meta.excerpt.hash_alg missing or unknown".into()),
            }
            out.source_entries = m.get("entries").and_then(Value::as_u64);
            meta = Some(m);
            continue;
        }
        let e = match parse_line(text) {
            Ok(Some(e)) => e,
            Ok(None) => {
                out.problems
                    .push(format!("a second _meta line (line {line_no})"));
                continue;
            }
            Err(msg) => {
                out.problems
                    .push(format!("malformed line {line_no}: {msg}"));
                continue;
            }
        };
        out.entries += 1;
        let mut body = String::new();
        write_body(
            &mut body,
            &Value::from(e.seq),
            &Value::String(e.ts.clone()),
            &Value::String(e.kind.clone()),
            &e.payload,
        );
        if hash_hex(alg, &e.prev_hash, &body) != e.hash {
            out.problems.push(format!(
                "tampered entry at seq {}: hash mismatch (line {line_no})",
                e.seq
            ));
        }
        match &prev {
            Some((pseq, _)) if e.seq <= *pseq => out.problems.push(format!(
                "out of order at seq {}: follows seq {pseq} (line {line_no})",
                e.seq
            )),
            Some((pseq, phash)) if e.seq == pseq + 1 && &e.prev_hash != phash => {
                out.problems.push(format!(
                    "broken link at seq {}: prev_hash mismatch (line {line_no})",
                    e.seq
                ))
            }
            None if e.seq == 0 && e.prev_hash != GENESIS => out.problems.push(format!(
                "broken link at seq 0: prev_hash is not genesis (line {line_no})"
            )),
            _ => {}
        }
        if let Some(k) = key
            && !k.verify(&e.hash, &e.sig)
        {
            out.problems
                .push(format!("bad signature at seq {} (line {line_no})", e.seq));
        }
        prev = Some((e.seq, e.hash.clone()));
        seen.push((e.seq, e.hash));
    }
    let Some(meta) = meta else {
        out.problems.push("empty file".into());
        return Ok(out);
    };
    let ex = meta.get("excerpt").expect("checked");
    let listed: Option<Vec<(u64, String)>> = match ex.get("selected") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|it| match it {
                Value::Array(pair) if pair.len() == 2 => {
                    Some((pair[0].as_u64()?, pair[1].as_str()?.to_owned()))
                }
                _ => None,
            })
            .collect(),
        _ => None,
    };
    match listed {
        None => out
            .problems
            .push("_meta.excerpt.selected missing or malformed".into()),
        Some(list) if list != seen => {
            let at = list
                .iter()
                .zip(&seen)
                .position(|(a, b)| a != b)
                .unwrap_or(list.len().min(seen.len()));
            out.problems.push(format!(
                "excerpt altered: the pack holds {} entries, _meta.excerpt.selected lists {} \
                 (first difference at position {at}: entries removed, added, reordered or rehashed)",
                seen.len(),
                list.len()
            ));
        }
        Some(_) => {}
    }
    if let (Some(n), Some((last_seq, last_hash))) = (out.source_entries, seen.last())
        && n > 0
        && *last_seq == n - 1
        && meta.get("head_hash").and_then(Value::as_str) != Some(last_hash.as_str())
    {
        out.problems.push(format!(
            "incomplete log: the excerpt ends at the source's last seq {last_seq} but its hash \
             is not _meta.head_hash"
        ));
    }
    if let Some(k) = key {
        match meta.get("sig").and_then(Value::as_str) {
            None | Some("") => out
                .problems
                .push("unauthenticated _meta: header carries no signature".into()),
            Some(sig) if !k.verify(&meta_signing_input(&meta), sig) => out.problems.push(
                "forged _meta: header signature mismatch (completeness fields altered?)".into(),
            ),
            Some(_) => {}
        }
        match (
            ex.get("sig").and_then(Value::as_str),
            excerpt_signing_input(&meta),
        ) {
            (None | Some(""), _) | (_, None) => out.problems.push(
                "unauthenticated _meta.excerpt: the excerpt header carries no signature".into(),
            ),
            (Some(sig), Some(input)) if !k.verify(&input, sig) => out.problems.push(
                "forged _meta.excerpt: excerpt signature mismatch (selection altered?)".into(),
            ),
            _ => {}
        }
    }
    Ok(out)
}
