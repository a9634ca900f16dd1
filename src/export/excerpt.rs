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

use std::io::BufRead;
use std::path::Path;

use crate::chain::{GENESIS, HashAlg, SigningKey, hash_hex, write_body};
use crate::json::{Value, parse, to_canonical};
use crate::time::{DateAlone, parse_utc};
use crate::verify::{Input, LineSplitter, VerifyOptions, meta_signing_input};

use super::excerpt_check::ProofChecks;
use super::log::{LogEntry, parse_pack_line};
use super::{ExportError, Filter};
use crate::checkpoint::VerifierKey;

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

    pub(super) fn contains(&self, ts: &str) -> bool {
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
    /// Problems found, in file order (empty when it verified; at most
    /// [`MAX_LISTED_PROBLEMS`], the rest are counted in `problem_count`).
    pub problems: Vec<String>,
    /// How many problems were found, listed or not.
    pub problem_count: u64,
    /// Whether a key was given (signatures and both header signatures were checked).
    pub key_checked: bool,
    /// Whether the source log's head and/or entry count given out of band were checked against
    /// the header.
    pub expected_checked: bool,
    /// The source log's entry count, as the header states it.
    pub source_entries: Option<u64>,
    /// Whether verifier keys were given: the checkpoint's signature was checked and every
    /// membership and completeness requirement applied.
    pub vkeys_checked: bool,
    /// The tree size of the pack's checkpoint, when it carries one.
    pub checkpoint_size: Option<u64>,
    /// The verifier key (Go's format) that verified the checkpoint's signature.
    pub checkpoint_key: Option<String>,
    /// Entries whose inclusion proof led to the checkpoint's root.
    pub proven: u64,
    /// The completeness established (a decision's entries as its `decision_end` digests them,
    /// or a time range without a hole), when the excerpt verified it.
    pub completeness: Option<String>,
    /// What could not be checked, and why (without verifier keys: the checkpoint's signature).
    pub not_checked: Vec<String>,
}

/// At most this many problems are listed in an [`ExcerptVerification`].
pub const MAX_LISTED_PROBLEMS: usize = 100;

impl ExcerptVerification {
    /// True when no problem was found.
    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }

    pub(super) fn problem(&mut self, p: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(p);
        }
    }

    /// One line: `ok: excerpt of N entries ...` or the first problem.
    pub fn summary(&self) -> String {
        if let Some(p) = self.problems.first() {
            let more = self.problem_count - 1;
            return if more > 0 {
                format!("{p} [and {more} more]")
            } else {
                p.clone()
            };
        }
        let mut proven = String::new();
        if let (Some(size), Some(key)) = (self.checkpoint_size, &self.checkpoint_key) {
            proven = format!(
                "; checkpoint of tree size {size} signed by {}: all {} entries proven included, \
                 origin proven",
                key.split('+').next().unwrap_or_default(),
                self.proven
            );
            if let Some(c) = &self.completeness {
                proven.push_str("; ");
                proven.push_str(c);
            }
        }
        if !self.not_checked.is_empty() {
            proven.push_str("; not checked: ");
            proven.push_str(&self.not_checked.join("; "));
        }
        format!(
            "ok: excerpt of {} entries from a {}-entry log ({}{}){proven}",
            self.entries,
            self.source_entries
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into()),
            if self.key_checked {
                "signatures and excerpt header verified"
            } else {
                "no key: hashes and links checked; the header is unauthenticated"
            },
            if self.expected_checked {
                "; the source head/count match the expected"
            } else {
                ""
            }
        )
    }
}

/// Verifies the excerpt pack at `path` (`-` is standard input) with `key`. See
/// [`verify_excerpt_with`] for the other options.
pub fn verify_excerpt(
    path: &Path,
    key: Option<&SigningKey>,
) -> Result<ExcerptVerification, ExportError> {
    verify_excerpt_with(
        path,
        &VerifyOptions {
            key: key.cloned(),
            ..VerifyOptions::default()
        },
    )
}

/// Verifies the excerpt pack at `path` (`-` is standard input), reading it once. `Err` only
/// when it cannot be read.
pub fn verify_excerpt_with(
    path: &Path,
    opts: &VerifyOptions,
) -> Result<ExcerptVerification, ExportError> {
    verify_excerpt_vkeys(path, opts, &[])
}

/// Verifies the excerpt pack at `path` (`-` is standard input), reading it once, with the
/// log's checkpoint verifier keys: see [`verify_excerpt_reader_vkeys`]. `Err` only when it
/// cannot be read.
pub fn verify_excerpt_vkeys(
    path: &Path,
    opts: &VerifyOptions,
    vkeys: &[VerifierKey],
) -> Result<ExcerptVerification, ExportError> {
    let io = |source| ExportError::Io {
        path: path.to_owned(),
        source,
    };
    let input = Input::open(path).map_err(|e| io(std::io::Error::other(e)))?;
    verify_excerpt_reader_vkeys(input.reader, opts, vkeys).map_err(io)
}

/// Verifies an excerpt pack written by an export with a filter, read once from `reader`, in
/// memory bounded by the line cap ([`VerifyOptions::max_line_bytes`]) and the header: entries
/// are checked as they stream by. The key checks entry signatures and both header signatures;
/// an expected head or count (given out of band) must be the header's source `head_hash` and
/// `entries`. `Err` only when the reader fails.
pub fn verify_excerpt_reader(
    reader: impl BufRead,
    opts: &VerifyOptions,
) -> std::io::Result<ExcerptVerification> {
    verify_excerpt_reader_vkeys(reader, opts, &[])
}

/// [`verify_excerpt_reader`] with the log's checkpoint verifier keys. When the pack carries a
/// checkpoint (a log with checkpoints), every entry's c2sp.org/tlog-proof@v1 inclusion proof
/// must lead to its root and the `audit_open` at seq 0 must name its origin. With `vkeys` the
/// checkpoint must be signed by one of them (named for its origin), and the excerpt must be
/// provably complete: a decision's entries exactly those its `decision_end` digests
/// (`entries_digest`, `entries_count`) with the checkpoint past that `decision_end`, a time
/// range without a hole; otherwise a problem starting "incomplete:" says what is missing.
/// Without keys, what was not checked is listed in [`ExcerptVerification::not_checked`].
pub fn verify_excerpt_reader_vkeys(
    mut reader: impl BufRead,
    opts: &VerifyOptions,
    vkeys: &[VerifierKey],
) -> std::io::Result<ExcerptVerification> {
    let key = opts.key.as_ref();
    let mut out = ExcerptVerification {
        entries: 0,
        problems: Vec::new(),
        problem_count: 0,
        key_checked: key.is_some(),
        expected_checked: false,
        source_entries: None,
        vkeys_checked: false,
        checkpoint_size: None,
        checkpoint_key: None,
        proven: 0,
        completeness: None,
        not_checked: Vec::new(),
    };
    let mut checks: Option<ProofChecks> = None;
    let mut lines = LineSplitter::new(opts.max_line_bytes);
    let mut meta: Option<Value> = None;
    // `_meta.excerpt.selected`, compared with the entries as they come.
    let mut listed: Option<Vec<(u64, String)>> = None;
    let mut first_difference: Option<usize> = None;
    let mut alg = HashAlg::Sha256;
    let mut last: Option<(u64, String)> = None;
    let mut body = String::new();
    while let Some(info) = lines.next(&mut reader)? {
        let line_no = info.number;
        if info.too_long {
            if meta.is_none() {
                out.problem(format!(
                    "not an excerpt pack: the first line is longer than {} bytes",
                    opts.max_line_bytes
                ));
                return Ok(out);
            }
            out.problem(format!(
                "line {line_no} is longer than {} bytes",
                opts.max_line_bytes
            ));
            continue;
        }
        let Ok(text) = std::str::from_utf8(lines.buf()) else {
            if meta.is_none() {
                out.problem("not an excerpt pack: the first line is not UTF-8".into());
                return Ok(out);
            }
            out.problem(format!("malformed line {line_no}: invalid UTF-8"));
            continue;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        if meta.is_none() {
            let m = parse(text)
                .ok()
                .and_then(|v| v.get("_meta").cloned())
                .filter(|m| m.get("excerpt").and_then(Value::as_object).is_some());
            let Some(m) = m else {
                out.problem("not an excerpt pack: the first line has no _meta.excerpt".into());
                return Ok(out);
            };
            let ex = m.get("excerpt").expect("checked");
            match ex
                .get("hash_alg")
                .and_then(Value::as_str)
                .and_then(HashAlg::from_name)
            {
                Some(a) => alg = a,
                None => out.problem("_meta.excerpt.hash_alg missing or unknown".into()),
            }
            listed = selected_list(ex);
            checks = Some(ProofChecks::new(ex, vkeys, &mut out));
            out.source_entries = m.get("entries").and_then(Value::as_u64);
            meta = Some(m);
            continue;
        }
        let (e, proof) = match parse_pack_line(text) {
            Ok(Some(e)) => e,
            Ok(None) => {
                out.problem(format!("a second _meta line (line {line_no})"));
                continue;
            }
            Err(msg) => {
                out.problem(format!("malformed line {line_no}: {msg}"));
                continue;
            }
        };
        let position = out.entries as usize;
        out.entries += 1;
        if first_difference.is_none()
            && let Some(list) = &listed
            && list
                .get(position)
                .is_none_or(|(s, h)| *s != e.seq || *h != e.hash)
        {
            first_difference = Some(position);
        }
        body.clear();
        write_body(
            &mut body,
            &Value::from(e.seq),
            &Value::String(e.ts.clone()),
            &Value::String(e.kind.clone()),
            &e.payload,
        );
        if hash_hex(alg, &e.prev_hash, &body) != e.hash {
            out.problem(format!(
                "tampered entry at seq {}: hash mismatch (line {line_no})",
                e.seq
            ));
        }
        match &last {
            Some((pseq, _)) if e.seq <= *pseq => out.problem(format!(
                "out of order at seq {}: follows seq {pseq} (line {line_no})",
                e.seq
            )),
            Some((pseq, phash)) if e.seq == pseq + 1 && &e.prev_hash != phash => {
                out.problem(format!(
                    "broken link at seq {}: prev_hash mismatch (line {line_no})",
                    e.seq
                ))
            }
            None if e.seq == 0 && e.prev_hash != GENESIS => out.problem(format!(
                "broken link at seq 0: prev_hash is not genesis (line {line_no})"
            )),
            _ => {}
        }
        if let Some(k) = key
            && !k.verify(&e.hash, &e.sig)
        {
            out.problem(format!("bad signature at seq {} (line {line_no})", e.seq));
        }
        if let Some(c) = &mut checks {
            c.entry(&e, proof.as_deref(), line_no, &mut out);
        }
        last = Some((e.seq, e.hash));
    }
    let Some(meta) = meta else {
        out.problem("empty file".into());
        return Ok(out);
    };
    let ex = meta.get("excerpt").expect("checked");
    if let Some(c) = checks {
        c.finish(&mut out);
    }
    match listed {
        None => out.problem("_meta.excerpt.selected missing or malformed".into()),
        Some(list) if first_difference.is_some() || list.len() as u64 != out.entries => {
            let at = first_difference.unwrap_or(list.len().min(out.entries as usize));
            out.problem(format!(
                "excerpt altered: the pack holds {} entries, _meta.excerpt.selected lists {} \
                 (first difference at position {at}: entries removed, added, reordered or rehashed)",
                out.entries,
                list.len()
            ));
        }
        Some(_) => {}
    }
    let meta_head = meta.get("head_hash").and_then(Value::as_str);
    if let (Some(n), Some((last_seq, last_hash))) = (out.source_entries, &last)
        && n > 0
        && *last_seq == n - 1
        && meta_head != Some(last_hash.as_str())
    {
        out.problem(format!(
            "incomplete log: the excerpt ends at the source's last seq {last_seq} but its hash \
             is not _meta.head_hash"
        ));
    }
    // The source head and count given out of band: the header must name them (with a key, the
    // header's signature then vouches that the excerpt was cut from that log).
    if let Some(want) = &opts.expected_head {
        out.expected_checked = true;
        if meta_head != Some(want.as_str()) {
            out.problem(format!(
                "incomplete log: the excerpt's source head {}… != expected {}…",
                short(meta_head.unwrap_or("(none)")),
                short(want)
            ));
        }
    }
    if let Some(want) = opts.expect_entries {
        out.expected_checked = true;
        if out.source_entries != Some(want) {
            out.problem(format!(
                "incomplete log: the excerpt's source has {} entries, expected {want}",
                out.source_entries
                    .map_or_else(|| "an unstated number of".to_owned(), |n| n.to_string())
            ));
        }
    }
    if let Some(k) = key {
        match meta.get("sig").and_then(Value::as_str) {
            None | Some("") => {
                out.problem("unauthenticated _meta: header carries no signature".into())
            }
            Some(sig) if !k.verify(&meta_signing_input(&meta), sig) => out.problem(
                "forged _meta: header signature mismatch (completeness fields altered?)".into(),
            ),
            Some(_) => {}
        }
        match (
            ex.get("sig").and_then(Value::as_str),
            excerpt_signing_input(&meta),
        ) {
            (None | Some(""), _) | (_, None) => out.problem(
                "unauthenticated _meta.excerpt: the excerpt header carries no signature".into(),
            ),
            (Some(sig), Some(input)) if !k.verify(&input, sig) => out.problem(
                "forged _meta.excerpt: excerpt signature mismatch (selection altered?)".into(),
            ),
            _ => {}
        }
    }
    Ok(out)
}

/// `_meta.excerpt.selected` as `(seq, hash)` pairs, or `None` when missing or malformed.
fn selected_list(ex: &Value) -> Option<Vec<(u64, String)>> {
    match ex.get("selected") {
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
    }
}

/// The first 12 characters of a hash, for messages (safe on any string).
fn short(s: &str) -> &str {
    s.char_indices().nth(12).map_or(s, |(i, _)| &s[..i])
}
