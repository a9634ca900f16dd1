//! Reading a log (or an export pack) into entries, keeping each entry's line as written.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::json::{Value, parse, write_line_form};

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
    /// The entry's line without its line ending (and without a pack's `controls` and
    /// `adverse_controls`).
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

/// A whole log in memory.
#[derive(Clone, Debug)]
pub struct LoadedLog {
    /// The entries, in file order.
    pub entries: Vec<LogEntry>,
    /// What the chain declares about itself.
    pub info: ChainInfo,
}

/// Byte progress of a pass over a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Which pass: `verify` or `read`.
    pub phase: &'static str,
    /// Bytes read so far.
    pub bytes: u64,
    /// The file's size.
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

/// Parses one line into an entry; `Ok(None)` for a pack's `_meta` line.
pub fn parse_line(text: &str) -> Result<Option<LogEntry>, String> {
    let v = parse(text).map_err(|e| format!("not JSON: {}", e.message))?;
    if v.get("_meta").is_some() {
        return Ok(None);
    }
    let fields = v.as_object().ok_or("not a JSON object")?;
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
    let added = |k: &str| k == "controls" || k == "adverse_controls";
    let line = if fields.iter().any(|(k, _)| added(k)) {
        let stripped = Value::Object(fields.iter().filter(|(k, _)| !added(k)).cloned().collect());
        let mut out = String::new();
        write_line_form(&mut out, &stripped);
        out
    } else {
        text.to_owned()
    };
    Ok(Some(LogEntry {
        seq,
        ts: s("ts")?,
        kind: s("type")?,
        payload,
        prev_hash: s("prev_hash")?,
        hash: s("hash")?,
        sig: s("sig").unwrap_or_default(),
        line,
    }))
}

/// Reads a log or pack. With `lenient`, unreadable lines are skipped (an export of a log that
/// does not verify is marked unverified, so they need no list); otherwise the first one is an
/// error naming its line.
pub fn load_path(
    path: &Path,
    lenient: bool,
    progress: &mut dyn FnMut(Progress),
) -> io::Result<Result<LoadedLog, String>> {
    let file = File::open(path)?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let reader = BufReader::with_capacity(
        256 * 1024,
        CountingReader {
            inner: file,
            read: 0,
            total,
            phase: "read",
            callback: progress,
        },
    );
    load_reader(reader, lenient)
}

/// As [`load_path`], from any reader.
pub fn load_reader(
    mut reader: impl BufRead,
    lenient: bool,
) -> io::Result<Result<LoadedLog, String>> {
    let mut entries = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let mut bytes = buf.as_slice();
        if bytes.last() == Some(&b'\n') {
            bytes = &bytes[..bytes.len() - 1];
        }
        if bytes.last() == Some(&b'\r') {
            bytes = &bytes[..bytes.len() - 1];
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = std::str::from_utf8(bytes)
            .map_err(|_| "invalid UTF-8".to_owned())
            .and_then(parse_line);
        match parsed {
            Ok(Some(e)) => entries.push(e),
            Ok(None) => {}
            Err(_) if lenient => {}
            Err(e) => return Ok(Err(format!("line {line_no}: {e}"))),
        }
    }
    let info = chain_info(&entries);
    Ok(Ok(LoadedLog { entries, info }))
}

/// What the `audit_open` entry at seq 0 declares, if the log starts with one.
pub fn chain_info(entries: &[LogEntry]) -> ChainInfo {
    let open = entries
        .first()
        .filter(|e| e.seq == 0 && e.kind == "audit_open");
    let get = |k: &str| open.and_then(|e| e.payload_str(k)).map(str::to_owned);
    ChainInfo {
        system: get("system"),
        risk_tier: get("risk_tier"),
        format: get("format"),
        producer: get("producer"),
        hash_alg: get("hash_alg").unwrap_or_else(|| "sha256".into()),
    }
}
