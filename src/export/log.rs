//! Reading a log (or an export pack) into entries, keeping each entry's line as written.

use std::io::{self, Read};

use crate::json::{Value, parse, write_line_form};
use crate::verify::ObservedEntry;

/// One chain entry of a log, with its original line.
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// `seq`.
    pub seq: u64,
    /// `ts`, as written.
    pub ts: String,
    /// `type`.
    pub kind: String,
    /// `payload`.
    pub payload: Value,
    /// `prev_hash`.
    pub prev_hash: String,
    /// `hash`.
    pub hash: String,
    /// `sig` (empty when unsigned or missing).
    pub sig: String,
    /// The entry's line without its line ending (and without a pack's `controls`,
    /// `adverse_controls` and `tlog_proof`).
    pub line: String,
}

impl LogEntry {
    /// `payload.decision_id` when it is a string.
    pub fn decision_id(&self) -> Option<&str> {
        self.payload.get("decision_id").and_then(Value::as_str)
    }

    /// A string member of the payload.
    pub fn payload_str(&self, key: &str) -> Option<&str> {
        self.payload.get(key).and_then(Value::as_str)
    }
}

/// What `audit_open` (seq 0) declares about the chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainInfo {
    /// `system`.
    pub system: Option<String>,
    /// `risk_tier`.
    pub risk_tier: Option<String>,
    /// `format` (absent in older TypeScript files).
    pub format: Option<String>,
    /// `producer` (absent in older TypeScript files).
    pub producer: Option<String>,
    /// `hash_alg` (`sha256` when not declared).
    pub hash_alg: String,
}

/// Byte progress of the (single) pass over a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Which pass: always `verify` (the file is verified and read in one pass).
    pub phase: &'static str,
    /// Bytes read so far.
    pub bytes: u64,
    /// The file's size (0 when unknown: a pipe).
    pub total: u64,
}

/// A reader that reports how many bytes went through it.
pub(crate) struct CountingReader<'a, R> {
    pub(crate) inner: R,
    pub(crate) read: u64,
    pub(crate) total: u64,
    pub(crate) phase: &'static str,
    pub(crate) callback: &'a mut dyn FnMut(Progress),
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.callback)(Progress {
            phase: self.phase,
            bytes: self.read,
            total: self.total,
        });
        Ok(n)
    }
}

impl LogEntry {
    /// The entry the verifier observed, with a pack's `controls` left out of its line.
    pub fn from_observed(e: &ObservedEntry<'_>) -> LogEntry {
        LogEntry {
            seq: e.seq,
            ts: e.ts.to_owned(),
            kind: e.kind.to_owned(),
            payload: e.payload.clone(),
            prev_hash: e.prev_hash.to_owned(),
            hash: e.hash.to_owned(),
            sig: e.sig.to_owned(),
            line: line_without_controls(e.text, e.row),
        }
    }
}

/// `text`, the line of `row`, without a pack's `controls` member.
fn line_without_controls(text: &str, row: &Value) -> String {
    // What an export pack adds to each entry's line, and a re-export strips again.
    let added = |k: &str| k == "controls" || k == "adverse_controls" || k == "tlog_proof";
    match row.as_object() {
        Some(fields) if fields.iter().any(|(k, _)| added(k)) => {
            let stripped =
                Value::Object(fields.iter().filter(|(k, _)| !added(k)).cloned().collect());
            let mut out = String::new();
            write_line_form(&mut out, &stripped);
            out
        }
        _ => text.to_owned(),
    }
}

/// Parses one line of a pack into an entry and its `tlog_proof` member (an excerpt's
/// inclusion proof, when a string); `Ok(None)` for a `_meta` line.
pub(crate) fn parse_pack_line(text: &str) -> Result<Option<(LogEntry, Option<String>)>, String> {
    let v = parse(text).map_err(|e| format!("not JSON: {}", e.message))?;
    if v.get("_meta").is_some() {
        return Ok(None);
    }
    let proof = v
        .get("tlog_proof")
        .and_then(Value::as_str)
        .map(str::to_owned);
    v.as_object().ok_or("not a JSON object")?;
    let s = |k: &str| -> Result<String, String> {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("`{k}` missing or not a string"))
    };
    let seq = v
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or("`seq` missing or not an integer")?;
    let payload = v.get("payload").cloned().ok_or("`payload` missing")?;
    let line = line_without_controls(text, &v);
    let entry = LogEntry {
        seq,
        ts: s("ts")?,
        kind: s("type")?,
        payload,
        prev_hash: s("prev_hash")?,
        hash: s("hash")?,
        sig: s("sig").unwrap_or_default(),
        line,
    };
    Ok(Some((entry, proof)))
}

/// What the first entry (seq, type, payload) declares, if it is the `audit_open` at seq 0.
pub fn chain_info_of(first: Option<(u64, &str, &Value)>) -> ChainInfo {
    let open = first
        .filter(|(seq, kind, _)| *seq == 0 && *kind == "audit_open")
        .map(|(_, _, payload)| payload);
    let get = |k: &str| {
        open.and_then(|p| p.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    ChainInfo {
        system: get("system"),
        risk_tier: get("risk_tier"),
        format: get("format"),
        producer: get("producer"),
        hash_alg: get("hash_alg").unwrap_or_else(|| "sha256".into()),
    }
}
