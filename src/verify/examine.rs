//! Examining one line on its own: parsed (on an allocation-free fast path when it can be),
//! its hash recomputed and its signature checked, so that lines can be examined in parallel.

use crate::chain::{self, HashAlg, PreparedKey, SigningKey};
use crate::hex::{Hex64, checked_hex64_is, hex64_from_checked, is_hash_hex};
use crate::json::tape::Tape;
use crate::json::{self, Value};
use crate::time::{DateAlone, TimestampError, parse_utc};

use super::checkpoints::{TreeFacts, tree_facts};
use super::lines::LineInfo;
use super::shape::LineShape;
use crate::checkpoint::{Hash, VerifierKey, leaf_hash};

/// What one line says on its own: parsed, its hash recomputed, its signature checked. Needs
/// no other line, so lines can be examined in parallel; [`Walker::apply`](super::walk::Walker::apply) then judges the links
/// in file order.
// `Entry` is not boxed: that would be one more allocation per line, freed on another thread.
// The facts live in a chunk's vector, so their size costs little.
#[allow(clippy::large_enum_variant)]
pub(super) enum LineFacts {
    Blank,
    TooLong,
    NotUtf8 {
        at: usize,
    },
    Bom,
    Unparsed(json::ParseError),
    /// The line ends with a run of `nul_bytes` NUL bytes after `prefix_bytes` other bytes, as
    /// power loss can leave the end of a file (XFS, ext4 in writeback mode); `sound_prefix` when
    /// that prefix is empty, a line cut short, or a whole line: the shape of a crash.
    NulTail {
        prefix_bytes: u64,
        nul_bytes: u64,
        sound_prefix: bool,
    },
    Meta(Value),
    Malformed {
        seq: Option<u64>,
        detail: String,
    },
    Entry(EntryFacts),
}

#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct EntryFacts {
    pub(super) seq: u64,
    /// Both 64 lowercase hex digits (checked), kept inline rather than allocated per line.
    pub(super) prev_hash: Hex64,
    pub(super) hash: Hex64,
    /// Whether `hash` is the recomputed hash.
    pub(super) hash_ok: bool,
    pub(super) sig: SigFacts,
    /// With a key: whether the signature verified.
    pub(super) sig_valid: Option<bool>,
    /// The entry's Merkle leaf hash (SHA-256 of 0x00 and the raw chain hash), when the
    /// examiner knew the tree is kept ([`Examiner::tree_wanted`]) and the hash matched: made
    /// here so that it is made on the parallel workers; else the walker makes it.
    pub(super) leaf: Option<Hash>,
    /// What only some entries carry; `None` when there is nothing (every ordinary entry of a
    /// sound log). Boxed because the facts of every line are moved from a worker to the
    /// walker: inline, these fields doubled the bytes moved per line.
    pub(super) rare: Option<Box<RareFacts>>,
}

/// The facts of an entry the walker needs from some entries only.
#[cfg_attr(test, derive(Debug, PartialEq))]
#[derive(Default)]
pub(super) struct RareFacts {
    /// The entry type when the walker needs it: for an entry that may declare the hash
    /// algorithm, open a segment or record retention. Empty otherwise (and when it is not a
    /// string).
    pub(super) kind: String,
    /// The hash algorithm an `audit_open`/`segment_open` declares.
    pub(super) declared_alg: Option<Result<HashAlg, String>>,
    /// `segment_open`'s `previous_segment`.
    pub(super) previous_segment: Option<String>,
    /// Segment names a `retention` entry records as deleted.
    pub(super) retention_deleted: Vec<String>,
    /// Why `ts` is not a sealing time as writers write it (see [`ts_problem`]), naming the
    /// seq; `None` when it is one.
    pub(super) ts_problem: Option<String>,
    /// What the Merkle tree needs from `audit_open`, `audit_resume`, `segment_open` and
    /// `checkpoint` entries (see [`super::checkpoints`]).
    pub(super) tree: Option<TreeFacts>,
}

impl RareFacts {
    /// `None` when every field is empty, so that ordinary entries allocate nothing.
    fn boxed(self) -> Option<Box<RareFacts>> {
        let empty = self.kind.is_empty()
            && self.declared_alg.is_none()
            && self.previous_segment.is_none()
            && self.retention_deleted.is_empty()
            && self.ts_problem.is_none()
            && self.tree.is_none();
        (!empty).then(|| Box::new(self))
    }
}

#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) enum SigFacts {
    Empty,
    Present,
    Malformed,
}

/// Examines lines; remembers the hash algorithm once the first entry has declared it.
pub(super) struct Examiner {
    key: Option<PreparedKey>,
    /// Checkpoint verifier keys (signatures are checked where lines are examined, so in
    /// parallel).
    vkeys: Vec<VerifierKey>,
    pub(super) alg: HashAlg,
    pub(super) alg_decided: bool,
    /// Whether the walker keeps the Merkle tree (the first entry declares an origin or records
    /// a tree, or verifier keys were given): entries then carry their leaf hash.
    pub(super) tree_wanted: bool,
    /// The canonical body of the line being examined (reused).
    body: String,
    /// The allocation-free reading of the line being examined (reused).
    tape: Tape,
    /// The one-pass reading of lines in the writers' layout (reused).
    shape: LineShape,
    /// The first 19 bytes (`YYYY-MM-DDTHH:MM:SS`) of the last `ts` found to be a sealing
    /// time: consecutive entries mostly share their second, and everything
    /// [`is_sealing_time`] checks beyond those bytes is the fraction and the offset.
    sealed_second: Option<[u8; 19]>,
}

/// The members of an entry (docs/FORMAT.md §2), all covered by its hash or its link.
const ENTRY_MEMBERS: [&str; 7] = ["seq", "ts", "type", "payload", "prev_hash", "hash", "sig"];

/// The members an export pack adds to its entries (§6, §6.1), outside the hash by design and
/// checked by the pack's own verification. Any other member is refused: nothing covers it, so
/// a reader of the line could be shown text nobody signed.
const PACK_MEMBERS: [&str; 3] = ["controls", "adverse_controls", "tlog_proof"];

/// Entry types the fast path leaves to [`Examiner::entry`]: the walker needs more than their
/// hash from them (a declared hash algorithm, a previous segment, deleted segments, an origin,
/// a checkpoint).
const TYPES_WITH_FACTS: [&str; 6] = [
    "audit_open",
    "key_epoch",
    "segment_open",
    "retention",
    "audit_resume",
    "checkpoint",
];

/// Whether `kind` is one of [`TYPES_WITH_FACTS`], as a `match`: the comparisons are inlined
/// by length and bytes, where comparing slices called `memcmp` for every entry whose type has
/// the length of one of them (`tool_call`, `key_epoch`).
fn has_rare_facts(kind: &[u8]) -> bool {
    matches!(
        kind,
        b"audit_open"
            | b"key_epoch"
            | b"segment_open"
            | b"retention"
            | b"audit_resume"
            | b"checkpoint"
    )
}

impl Examiner {
    pub(super) fn new(key: Option<SigningKey>, vkeys: Vec<VerifierKey>) -> Self {
        Examiner {
            key: key.as_ref().map(SigningKey::prepare),
            tree_wanted: !vkeys.is_empty(),
            vkeys,
            alg: HashAlg::Sha256,
            alg_decided: false,
            body: String::with_capacity(1024),
            tape: Tape::default(),
            shape: LineShape::default(),
            sealed_second: None,
        }
    }
}

/// [`is_sealing_time`], remembering in `sealed_second` the last second that passed: a `ts` in
/// that second needs only its fraction (`.` and one or more digits, or none) and its `Z` or
/// `+00:00` looked at, which is all [`parse_utc`] checks after the seconds (the date and time
/// fields and their ranges are the remembered bytes).
fn sealing_time(sealed_second: &mut Option<[u8; 19]>, ts: &[u8]) -> bool {
    let b = ts;
    if let (Some(second), Some((head, rest))) = (&*sealed_second, b.split_first_chunk())
        && head == second
    {
        let rest = match rest.strip_prefix(b".") {
            Some(fraction) => {
                let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
                if n == 0 {
                    return false;
                }
                &fraction[n..]
            }
            None => rest,
        };
        return rest == b"Z" || rest == b"+00:00";
    }
    let ok = std::str::from_utf8(ts).is_ok_and(is_sealing_time);
    if ok {
        *sealed_second = b.first_chunk().copied();
    }
    ok
}

impl Examiner {
    /// Examines a line in file order: the first entry decides the hash algorithm, and is
    /// re-examined when it declares a different one.
    pub(super) fn examine_first_aware(&mut self, info: &LineInfo, raw: &[u8]) -> LineFacts {
        let facts = self.examine(info, raw);
        if !self.alg_decided
            && let LineFacts::Entry(e) = &facts
        {
            self.alg_decided = true;
            let rare = e.rare.as_deref();
            self.tree_wanted |= matches!(
                rare.and_then(|r| r.tree.as_ref()),
                Some(TreeFacts::Origin(Ok(Some(_))) | TreeFacts::Segment(Some(_), _, _))
            );
            if let Some(Ok(alg)) = rare.and_then(|r| r.declared_alg.clone())
                && alg != self.alg
            {
                self.alg = alg;
                return self.examine(info, raw);
            }
        }
        facts
    }

    pub(super) fn examine(&mut self, info: &LineInfo, raw: &[u8]) -> LineFacts {
        if info.too_long {
            return LineFacts::TooLong;
        }
        // The writers' layout first: a line it reads holds no NUL, no byte-order mark and no
        // surrounding whitespace (its first byte is `{`, its last `}`), so the checks below
        // would all pass it; they run for the other lines, in their order.
        if let Some(facts) = self.entry_shaped(raw) {
            return LineFacts::Entry(facts);
        }
        if let Some(first) = memchr::memchr(0, raw)
            && raw[first..].iter().all(|&b| b == 0)
        {
            return LineFacts::NulTail {
                prefix_bytes: first as u64,
                nul_bytes: (raw.len() - first) as u64,
                sound_prefix: crash_prefix(&raw[..first]),
            };
        }
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            // A multi-byte character cut by the end of the line: torn if it is the last line.
            Err(e) if e.error_len().is_none() => {
                return LineFacts::Unparsed(json::ParseError {
                    offset: e.valid_up_to(),
                    message: "incomplete UTF-8 character at the end of the line".into(),
                    truncated: true,
                });
            }
            Err(e) => {
                return LineFacts::NotUtf8 {
                    at: e.valid_up_to(),
                };
            }
        };
        if text.starts_with('\u{feff}') {
            return LineFacts::Bom;
        }
        // Like the reference (Python's `line.strip()`), blank lines are skipped and a `\r`
        // before the `\n` (CRLF) is tolerated.
        let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.is_empty() {
            return LineFacts::Blank;
        }
        // A CRLF line, say.
        if trimmed.len() != text.len()
            && let Some(facts) = self.entry_shaped(trimmed.as_bytes())
        {
            return LineFacts::Entry(facts);
        }
        let text = trimmed;
        if let Some(facts) = self.entry_fast(text) {
            return LineFacts::Entry(facts);
        }
        let row = match json::parse(text) {
            Ok(v) => v,
            Err(e) => return LineFacts::Unparsed(e),
        };
        if row.get("_meta").is_some() {
            return LineFacts::Meta(row);
        }
        match self.entry(&row) {
            Ok(e) => LineFacts::Entry(e),
            Err((seq, detail)) => LineFacts::Malformed { seq, detail },
        }
    }

    fn entry(&mut self, row: &Value) -> Result<EntryFacts, (Option<u64>, String)> {
        let seq = row.get("seq").and_then(Value::as_u64);
        if let Value::Object(members) = row
            && let Some((key, _)) = members.iter().find(|(k, _)| {
                !ENTRY_MEMBERS.contains(&k.as_str()) && !PACK_MEMBERS.contains(&k.as_str())
            })
        {
            return Err((
                seq,
                format!(
                    "unknown member {}: an entry holds seq, ts, type, payload, prev_hash, hash \
                     and sig (in an export pack also {}); no other member is covered by its \
                     hash",
                    json::to_line_string(&Value::from(key.as_str())),
                    PACK_MEMBERS.join(", ")
                ),
            ));
        }
        let field = |name: &str| {
            row.get(name)
                .ok_or_else(|| (seq, format!("entry has no \"{name}\" field")))
        };
        let seq_value = field("seq")?;
        let ts = field("ts")?;
        let kind = field("type")?;
        let payload = field("payload")?;
        let (Some(prev_hash), Some(hash)) = (field("prev_hash")?.as_str(), field("hash")?.as_str())
        else {
            return Err((seq, "prev_hash and hash must be strings".into()));
        };
        if !is_hash_hex(hash) || !is_hash_hex(prev_hash) {
            return Err((
                seq,
                format!(
                    "hash and prev_hash must be 64 lowercase hex digits (seq {})",
                    json::to_line_string(seq_value)
                ),
            ));
        }
        let Some(seq) = seq else {
            return Err((
                None,
                format!(
                    "seq must be a non-negative integer, found {}",
                    json::to_line_string(seq_value)
                ),
            ));
        };
        self.body.clear();
        chain::write_body(&mut self.body, seq_value, ts, kind, payload);
        let (hash_ok, leaf) = hash_matches(
            self.alg,
            self.body.as_bytes(),
            self.tree_wanted,
            prev_hash.as_bytes(),
            &hex64_from_checked(hash),
        );
        let (sig, sig_text) = match row.get("sig") {
            None => (SigFacts::Empty, ""),
            Some(Value::String(s)) if s.is_empty() => (SigFacts::Empty, ""),
            Some(Value::String(s)) if is_hash_hex(s) => (SigFacts::Present, s.as_str()),
            Some(_) => (SigFacts::Malformed, ""),
        };
        let sig_valid = check_sig(self.key.as_ref(), hash, sig_text);
        let kind = kind.as_str().unwrap_or_default();
        let kind = if TYPES_WITH_FACTS.contains(&kind) {
            kind.to_owned()
        } else {
            String::new()
        };
        let declared_alg = matches!(kind.as_str(), "audit_open" | "segment_open")
            .then(|| HashAlg::declared_in(payload));
        let previous_segment = (kind == "segment_open").then(|| {
            payload
                .get("previous_segment")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        });
        let mut retention_deleted = Vec::new();
        if kind == "retention"
            && let Some(Value::Array(deleted)) = payload.get("deleted")
        {
            retention_deleted.extend(
                deleted
                    .iter()
                    .filter_map(|d| d.get("segment").and_then(Value::as_str).map(str::to_owned)),
            );
        }
        let tree = tree_facts(&kind, payload, &self.vkeys);
        Ok(EntryFacts {
            seq,
            prev_hash: hex64_from_checked(prev_hash),
            hash: hex64_from_checked(hash),
            hash_ok,
            leaf,
            sig,
            sig_valid,
            rare: RareFacts {
                kind,
                tree,
                declared_alg,
                previous_segment,
                retention_deleted,
                ts_problem: ts_problem(seq, ts),
            }
            .boxed(),
        })
    }

    /// The facts of a sound entry of an ordinary type laid out as the writers lay entries out,
    /// read and canonicalised in one pass (see [`super::shape`]). `None` sends the line on to
    /// [`Examiner::entry_fast`]; for the lines this accepts, it finds the same facts as both
    /// other paths.
    #[inline(always)]
    fn entry_shaped(&mut self, text: &[u8]) -> Option<EntryFacts> {
        let line = self.shape.read(text)?;
        if has_rare_facts(line.kind) {
            return None;
        }
        // A `ts` that is not a sealing time is worded by the general path.
        if !sealing_time(&mut self.sealed_second, line.ts) {
            return None;
        }
        let (sig, sig_text): (_, &[u8]) = match line.sig {
            None => (SigFacts::Empty, b""),
            Some(s) => (SigFacts::Present, s),
        };
        let (hash_ok, leaf) = hash_matches(
            self.alg,
            self.shape.body(),
            self.tree_wanted,
            line.prev_hash,
            line.hash,
        );
        Some(EntryFacts {
            seq: line.seq,
            prev_hash: *line.prev_hash,
            hash: *line.hash,
            hash_ok,
            leaf,
            sig,
            sig_valid: self.key.as_ref().map(|k| k.verify(line.hash, sig_text)),
            rare: None,
        })
    }

    /// The facts of a sound entry of an ordinary type, read without building a value tree (see
    /// [`crate::json::tape`]). `None` sends the line to the general path (`json::parse` and
    /// [`Examiner::entry`]), which also words every problem; for the lines this accepts, both
    /// paths find the same facts.
    fn entry_fast(&mut self, text: &str) -> Option<EntryFacts> {
        let doc = self.tape.parse(text).ok()?;
        let (mut seq, mut ts, mut kind, mut payload) = (None, None, None, None);
        let (mut prev_hash, mut hash, mut sig) = (None, None, None);
        for (key, id) in doc.members(doc.root())? {
            let slot = match key {
                "seq" => &mut seq,
                "ts" => &mut ts,
                "type" => &mut kind,
                "payload" => &mut payload,
                "prev_hash" => &mut prev_hash,
                "hash" => &mut hash,
                "sig" => &mut sig,
                key if PACK_MEMBERS.contains(&key) => continue,
                // `_meta` on an entry line, or a member no entry has: the general path words it.
                _ => return None,
            };
            *slot = Some(id);
        }
        let (seq_id, ts, kind, payload) = (seq?, ts?, kind?, payload?);
        let prev_hash = doc.as_str(prev_hash?).filter(|h| is_hash_hex(h))?;
        let hash = doc.as_str(hash?).filter(|h| is_hash_hex(h))?;
        let seq = doc.as_u64(seq_id)?;
        if TYPES_WITH_FACTS.contains(&doc.as_str(kind)?) {
            return None;
        }
        // A `ts` that is not a sealing time is worded by the general path.
        if !sealing_time(&mut self.sealed_second, doc.as_str(ts)?.as_bytes()) {
            return None;
        }
        let (sig, sig_text) = match sig.map(|id| doc.as_str(id)) {
            None => (SigFacts::Empty, ""),
            Some(Some("")) => (SigFacts::Empty, ""),
            Some(Some(s)) if is_hash_hex(s) => (SigFacts::Present, s),
            Some(_) => (SigFacts::Malformed, ""),
        };
        // The same bytes as `chain::write_body`: keys in sorted order.
        self.body.clear();
        self.body.push_str("{\"payload\":");
        doc.write_canonical(&mut self.body, payload);
        self.body.push_str(",\"seq\":");
        doc.write_canonical(&mut self.body, seq_id);
        self.body.push_str(",\"ts\":");
        doc.write_canonical(&mut self.body, ts);
        self.body.push_str(",\"type\":");
        doc.write_canonical(&mut self.body, kind);
        self.body.push('}');
        let (hash_ok, leaf) = hash_matches(
            self.alg,
            self.body.as_bytes(),
            self.tree_wanted,
            prev_hash.as_bytes(),
            &hex64_from_checked(hash),
        );
        Some(EntryFacts {
            seq,
            prev_hash: hex64_from_checked(prev_hash),
            hash: hex64_from_checked(hash),
            hash_ok,
            leaf,
            sig,
            sig_valid: check_sig(self.key.as_ref(), hash, sig_text),
            rare: None,
        })
    }
}

/// Whether `ts` is a sealing time as the writers write it: an RFC 3339 date and time in UTC,
/// `YYYY-MM-DDTHH:MM:SS[.f...]` followed by `+00:00` (Python's `isoformat`, which leaves the
/// fraction out when it is zero, and acttrace-rs) or `Z` (TypeScript's `toISOString`), every
/// field in range. A date alone or a time without an offset is not one.
fn is_sealing_time(ts: &str) -> bool {
    (ts.ends_with('Z') || ts.ends_with("+00:00")) && parse_utc(ts, DateAlone::StartOfDay).is_ok()
}

/// Why the entry's `ts` is not a sealing time ([`is_sealing_time`]), naming its seq. The value
/// is quoted shortened, so that a hostile `ts` cannot fill the report.
fn ts_problem(seq: u64, ts: &Value) -> Option<String> {
    const SHOWN: usize = 40;
    let text = json::to_line_string(ts);
    let shown = match text.char_indices().nth(SHOWN) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    };
    let Some(s) = ts.as_str() else {
        return Some(format!(
            "malformed ts at seq {seq}: {shown} is not a string (an RFC 3339 UTC time)"
        ));
    };
    if is_sealing_time(s) {
        return None;
    }
    let why = match parse_utc(s, DateAlone::StartOfDay) {
        Err(TimestampError::Layout) | Ok(_) => {
            "expected YYYY-MM-DDTHH:MM:SS[.ffffff] with Z or +00:00".to_owned()
        }
        Err(e) => e.to_string(),
    };
    Some(format!(
        "malformed ts at seq {seq}: {shown} is not an RFC 3339 UTC time: {why}"
    ))
}

/// Whether `prefix` (what precedes a run of NUL bytes) is what a crash leaves before them:
/// nothing, a line cut short (its JSON, or a UTF-8 character, unfinished), or a whole object
/// whose newline never reached the disk.
fn crash_prefix(prefix: &[u8]) -> bool {
    let text = match std::str::from_utf8(prefix) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => {
            // Cut inside a character: the part before it must itself be cut short.
            return std::str::from_utf8(&prefix[..e.valid_up_to()])
                .is_ok_and(|t| json::parse(t.trim()).is_err_and(|e| e.truncated));
        }
        Err(_) => return false,
    };
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    text.is_empty()
        || match json::parse(text) {
            Ok(v) => matches!(v, Value::Object(_)),
            Err(e) => e.truncated,
        }
}

/// Whether `hash` is the hash of `body` linked to `prev_hash`, and then, when the tree is
/// wanted, the entry's Merkle leaf hash.
fn hash_matches(
    alg: HashAlg,
    body: &[u8],
    tree_wanted: bool,
    prev_hash: &[u8],
    hash: &Hex64,
) -> (bool, Option<Hash>) {
    let digest = chain::digest(alg, prev_hash, body);
    // `hash` was checked to be lowercase hex by every caller.
    let ok = checked_hex64_is(hash, &digest);
    (ok, (ok && tree_wanted).then(|| leaf_hash(&digest)))
}

/// With a key: whether `sig_hex` signs `hash` (`false` for an empty or malformed one).
fn check_sig(key: Option<&PreparedKey>, hash: &str, sig_hex: &str) -> Option<bool> {
    key.map(|k| k.verify(hash.as_bytes(), sig_hex.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A signed entry line with `payload`, and its key.
    fn entry_line(payload: Value, kind: &str) -> (String, SigningKey) {
        let key = SigningKey::from_bytes("k").unwrap();
        let e = chain::SealedEntry::seal(
            HashAlg::Sha256,
            Some(&key),
            7,
            "2026-01-01T00:00:00.000001+00:00".into(),
            kind.into(),
            payload,
            "ab".repeat(32),
        );
        let line = e.to_line();
        (line.trim_end().to_owned(), key)
    }

    /// What the general path finds in `text`, when it parses.
    fn general_facts(examiner: &mut Examiner, text: &str) -> Option<EntryFacts> {
        let row = json::parse(text).ok()?;
        if row.get("_meta").is_some() {
            return None;
        }
        examiner.entry(&row).ok()
    }

    fn arb_payload() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[a\\x00-\\x1f\"\\\\é\u{2028}🚀]{0,6}".prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-zA-Zé_]{0,5}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        proptest::collection::btree_map("[a-z_]{1,8}", value, 0..6)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 1000,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0xface),
            ..ProptestConfig::default()
        })]

        /// The allocation-free path finds exactly the facts the general path finds: the same
        /// hash verdict (so the same canonical bytes), signature verdict, seq and links, on
        /// sound lines and on lines with one byte changed.
        #[test]
        fn fast_and_general_paths_find_the_same_facts(
            payload in arb_payload(),
            kind in prop_oneof![Just("llm_call"), Just("tool_call"), Just("x\"y")],
            at in any::<prop::sample::Index>(),
            byte in 0x20u8..0x7f,
        ) {
            let (line, key) = entry_line(payload, kind);
            let mut fast = Examiner::new(Some(key.clone()), Vec::new());
            let mut general = Examiner::new(Some(key), Vec::new());
            let facts = fast.entry_fast(&line);
            prop_assert!(facts.is_some(), "a sound ordinary entry takes the fast path: {}", line);
            prop_assert_eq!(&facts, &general_facts(&mut general, &line));
            prop_assert!(facts.is_some_and(|f| f.hash_ok && f.sig_valid == Some(true)));

            let mut damaged = line.into_bytes();
            let i = at.index(damaged.len());
            damaged[i] = byte;
            if let Ok(text) = std::str::from_utf8(&damaged)
                && let Some(facts) = fast.entry_fast(text)
            {
                prop_assert_eq!(Some(facts), general_facts(&mut general, text), "{}", text);
            }
        }
    }

    /// What the general path (`json::parse` and [`Examiner::entry`]) makes of `text`: its facts,
    /// or its words for the problem.
    fn general_verdict(examiner: &mut Examiner, text: &str) -> Result<EntryFacts, String> {
        let row = json::parse(text).map_err(|e| format!("unparsed: {e}"))?;
        if row.get("_meta").is_some() {
            return Err("meta".into());
        }
        examiner
            .entry(&row)
            .map_err(|(seq, detail)| format!("malformed at {seq:?}: {detail}"))
    }

    /// The one-pass path on `text`, checked against the general path: when it reads the line,
    /// its canonical body is the one `chain::write_body` writes for the parsed line and its
    /// facts are the general path's. Returns whether it read the line.
    fn shaped_agrees(text: &str, key: Option<&SigningKey>) -> Result<bool, TestCaseError> {
        let mut fast = Examiner::new(key.cloned(), Vec::new());
        let mut general = Examiner::new(key.cloned(), Vec::new());
        let Some(facts) = fast.entry_shaped(text.as_bytes()) else {
            return Ok(false);
        };
        let row = json::parse(text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        let mut body = String::new();
        let field = |n: &str| row.get(n).unwrap();
        chain::write_body(
            &mut body,
            field("seq"),
            field("ts"),
            field("type"),
            field("payload"),
        );
        prop_assert_eq!(
            fast.shape.body(),
            body.as_bytes(),
            "canonical body of {}",
            text
        );
        prop_assert_eq!(Ok(facts), general_verdict(&mut general, text), "{}", text);
        Ok(true)
    }

    /// [`shaped_agrees`] on any bytes: a line that is not UTF-8 is never read by the one-pass
    /// path (it reads bytes, checking each string's non-ASCII runs as it scans them), so the
    /// general path reports it as before.
    fn shaped_agrees_on_bytes(raw: &[u8], key: Option<&SigningKey>) -> Result<bool, TestCaseError> {
        match std::str::from_utf8(raw) {
            Ok(text) => shaped_agrees(text, key),
            Err(_) => {
                let mut fast = Examiner::new(key.cloned(), Vec::new());
                prop_assert!(fast.entry_shaped(raw).is_none(), "{:?}", raw);
                Ok(false)
            }
        }
    }

    /// Payload values as writers spell them, all of which the one-pass path reads: strings
    /// with every kind of character (the writers escape exactly as the canonical form does),
    /// integers, floats in positional notation, nested objects and arrays.
    fn arb_written_payload() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            prop_oneof![
                Just(412.5),
                Just(0.015),
                Just(1.0),
                Just(-2.25),
                Just(0.0001),
                Just(0.0),
                Just(-0.0),
                Just(123456.789),
                Just(1e15),
                Just(3.0000000000000004e-05),
                Just(9.424769999999999),
            ]
            .prop_map(Value::from),
            // Any finite float, as `repr` writes it (17 digits, exponents).
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[a\\x00-\\x1f\"\\\\/é\u{7f}\u{2028}🚀]{0,6}".prop_map(Value::from),
            // Longer than the blocks the body is copied in.
            "[a-z0-9 é\"\\\\\\x01]{60,140}".prop_map(Value::from),
        ];
        // Keys sharing their first eight bytes, shorter and longer than eight, and long ones:
        // the order beyond the integer prefix, and the masking of short keys' prefixes.
        let key = prop_oneof![
            4 => "[a-zA-Zé_ ]{0,5}",
            1 => "(abcdefgh|abcdefg|abcdefghi|abcdefgé)[a-c]{0,3}",
            1 => "[a-z]{60,80}",
        ];
        let value = leaf.prop_recursive(4, 32, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..5).prop_map(dedup),
            ]
        });
        proptest::collection::vec(("[a-z_é🚀]{1,8}", value), 0..8).prop_map(dedup)
    }

    /// An object of `fields` in their order (insertion order, as writers keep it), keeping
    /// the first of equal keys.
    fn dedup(fields: Vec<(String, Value)>) -> Value {
        let mut seen = std::collections::HashSet::new();
        Value::Object(
            fields
                .into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect(),
        )
    }

    /// Respellings of a sound line that keep its meaning (or make a near miss) but leave the
    /// writers' exact layout, so the one-pass path must hand them on.
    fn near_misses(line: &str) -> Vec<String> {
        let mut out = vec![
            // Reordered top-level keys.
            line.replacen(r#"{"seq": 7, "ts""#, r#"{"ts""#, 1).replacen(
                r#", "type""#,
                r#", "seq": 7, "type""#,
                1,
            ),
            // Whitespace variants.
            line.replacen(r#""seq": "#, r#""seq":"#, 1),
            line.replacen(r#", "hash""#, r#",  "hash""#, 1),
            line.replacen(r#""payload": {"#, "\"payload\":\t{", 1),
            line.replacen(r#""payload": {"#, r#""payload": { "#, 1),
            format!("{} ", line.trim_end_matches('}')) + "}",
            // An extra or a missing top-level field.
            line.replacen(r#", "sig""#, r#", "extra": 1, "sig""#, 1),
            line.replacen(r#", "prev_hash""#, r#", "_meta": {}, "prev_hash""#, 1),
            // An escaped top-level string and an escaped key.
            line.replacen(r#""type": "llm_call""#, r#""type": "llm\u005fcall""#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"k\u00e9": 1, "#, 1),
            // Payload members that are valid JSON but not canonical text.
            line.replacen(r#""payload": {"#, r#""payload": {"n": 1e5, "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"n": 1E5, "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"n": 2.5e-3, "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"n": 1.50, "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"n": -0, "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"n": 0.00, "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"n": 0.00001, "#, 1),
            line.replacen(
                r#""payload": {"#,
                r#""payload": {"n": 0.1000000000000000055, "#,
                1,
            ),
            line.replacen(r#""payload": {"#, r#""payload": {"n": 1e400, "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"n": NaN, "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"n": 01, "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"s": "a\/b", "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"s": "\u00e9", "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"s": "\u000A", "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"s": "\u0008", "#, 1),
            line.replacen(r#""payload": {"#, r#""payload": {"s": "\ud83d\ude80", "#, 1),
            // Duplicate keys, at the top and nested.
            line.replacen(r#""payload": {"#, r#""payload": {"d": 1, "d": 2, "#, 1),
            line.replacen(
                r#""payload": {"#,
                r#""payload": {"d": {"x": 1, "x": 1}, "#,
                1,
            ),
            line.replacen(r#", "sig""#, r#", "hash": "00", "sig""#, 1),
            // Nesting deeper than the one-pass path follows.
            line.replacen(
                r#""payload": {"#,
                &format!(
                    r#""payload": {{"deep": {}1{}, "#,
                    "[".repeat(40),
                    "]".repeat(40)
                ),
                1,
            ),
            // A seq with a leading zero, out of range, or not an integer.
            line.replacen(r#""seq": 7"#, r#""seq": 07"#, 1),
            line.replacen(r#""seq": 7"#, r#""seq": 18446744073709551616"#, 1),
            line.replacen(r#""seq": 7"#, r#""seq": 7.0"#, 1),
            // Export-pack fields other than `controls`/`adverse_controls`, repeated, or holding
            // what the one-pass path hands on.
            format!("{}, \"other\": []}}", &line[..line.len() - 1]),
            format!(
                "{}, \"controls\": [], \"controls\": []}}",
                &line[..line.len() - 1]
            ),
            format!("{}, \"controls\": {{}}}}", &line[..line.len() - 1]),
            format!("{}, \"controls\": [1e5]}}", &line[..line.len() - 1]),
            format!("{}, \"controls\": [] }}", &line[..line.len() - 1]),
            // Upper-case hex digits.
            line.replacen(r#""prev_hash": "abab"#, r#""prev_hash": "ABab"#, 1),
        ];
        out.retain(|v| v != line);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 1000,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5a9e),
            ..ProptestConfig::default()
        })]

        /// Lines as writers write them take the one-pass path and find exactly what the
        /// general path finds; lines one byte away from them, and respellings that leave the
        /// writers' layout, either find the same or are handed on (the respellings always).
        #[test]
        fn the_one_pass_path_agrees_with_the_general_path(
            payload in arb_written_payload(),
            kind in prop_oneof![Just("llm_call"), Just("tool_call"), Just("x\"y"), Just("é")],
            at in any::<prop::sample::Index>(),
            byte in 0x20u8..0x7f,
            high in 0x80u8..=0xff,
        ) {
            let (line, key) = entry_line(payload, kind);
            // A `type` with an escape is handed on (its line text is not looked into).
            prop_assert_eq!(shaped_agrees(&line, Some(&key))?, kind != "x\"y", "{}", line);
            shaped_agrees(&line, None)?;
            // As an export pack carries it.
            let pack = format!(
                "{}, \"controls\": [\"Art.12 logging\", \"Art.19\"], \"adverse_controls\": []}}",
                &line[..line.len() - 1]
            );
            prop_assert_eq!(shaped_agrees(&pack, Some(&key))?, kind != "x\"y", "{}", pack);
            for miss in near_misses(&line) {
                prop_assert!(!shaped_agrees(&miss, Some(&key))?, "{}", miss);
            }
            let mut damaged = line.clone().into_bytes();
            let i = at.index(damaged.len());
            damaged[i] = byte;
            if let Ok(text) = std::str::from_utf8(&damaged) {
                shaped_agrees(text, Some(&key))?;
            }
            // A non-ASCII byte anywhere: the line may stop being UTF-8 (in a key, a value, `ts`
            // or `type`), and is then handed on; else it is read as the general path reads it.
            let mut damaged = line.into_bytes();
            damaged[i] = high;
            shaped_agrees_on_bytes(&damaged, Some(&key))?;
            if i + 1 < damaged.len() {
                damaged[i + 1] = 0x80;
                shaped_agrees_on_bytes(&damaged, Some(&key))?;
            }
        }

        /// Any payload the general generator makes (floats of every magnitude included): read
        /// by the one-pass path or handed on, never read differently.
        #[test]
        fn the_one_pass_path_never_disagrees_on_general_payloads(payload in arb_payload()) {
            let (line, key) = entry_line(payload, "llm_call");
            shaped_agrees(&line, Some(&key))?;
        }
    }

    #[test]
    fn floats_are_read_in_one_pass_only_when_spelled_canonically() {
        let mut shape = super::super::shape::LineShape::default();
        let (line, _) = entry_line(Value::Object(vec![]), "llm_call");
        let mut seen = 0;
        let mut check = |text: &str| {
            // As the general path reads it: `1` is an integer, `1.0` a float.
            let canonical = json::to_canonical(&json::parse(text).unwrap());
            let with = line.replacen(
                r#""payload": {}"#,
                &format!(r#""payload": {{"n": {text}}}"#),
                1,
            );
            if shape.read(with.as_bytes()).is_some() {
                seen += 1;
                assert_eq!(text, canonical, "read as canonical");
            }
        };
        for m in [1i64, 5, 9, 10, 15, 99, 100, 123, 4125, 999_999_999_999_999] {
            for k in 0..20 {
                let x = m as f64 / 10f64.powi(k);
                for text in [
                    json::to_canonical(&Value::from(x)),
                    json::to_canonical(&Value::from(-x)),
                    format!("{x}"),
                    format!("{x:.3}"),
                    format!("{x:.17}"),
                ] {
                    if json::parse(&text).is_ok() {
                        check(&text);
                    }
                }
            }
        }
        for text in [
            "3.0000000000000004e-05",
            "9.424769999999999",
            "1e-05",
            "1e+16",
            "1.5e+300",
            "1.5E+300",
            "1e5",
            "-2.2250738585072014e-308",
            "5e-324",
            "0.0",
            "-0.0",
            "0.00",
            "-0.00",
            "0.1",
            "0.30000000000000004",
            "1e16",
            "9999999999999998.0",
            "1000000000000000.0",
        ] {
            check(text);
        }
        assert!(seen > 100, "{seen}");
    }

    #[test]
    fn the_shared_vectors_read_the_same_on_every_path() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(dir)];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "jsonl") {
                    files.push(p);
                }
            }
        }
        let key = SigningKey::from_bytes("k").unwrap();
        let (mut lines, mut shaped) = (0, 0);
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            for line in text.lines() {
                lines += 1;
                for key in [None, Some(&key)] {
                    if shaped_agrees(line.trim(), key).unwrap() {
                        shaped += 1;
                    }
                }
            }
        }
        assert!(files.len() >= 10 && lines > 100, "{files:?}");
        assert!(shaped > lines, "{shaped} of {lines} lines read in one pass");
    }

    #[test]
    fn the_remembered_second_decides_sealing_times_as_the_full_check_does() {
        let mut second = None;
        let base = "2026-02-28T23:59:59";
        let tails = [
            "Z",
            "+00:00",
            ".1Z",
            ".123456+00:00",
            ".1234567Z",
            "",
            ".",
            ".Z",
            ".12",
            ".12x+00:00",
            "+01:00",
            "-00:00",
            "z",
            "+00:00 ",
            "Z+00:00",
            ".5+00",
            "+0000",
        ];
        for first in ["2026-02-28T23:59:59Z", "2026-02-29T00:00:00Z", "not a time"] {
            second = None;
            assert_eq!(
                sealing_time(&mut second, first.as_bytes()),
                is_sealing_time(first)
            );
            for tail in tails {
                for ts in [
                    format!("{base}{tail}"),
                    format!("2026-02-29T23:59:59{tail}"),
                ] {
                    assert_eq!(
                        sealing_time(&mut second, ts.as_bytes()),
                        is_sealing_time(&ts),
                        "{ts}"
                    );
                }
            }
        }
        assert!(second.is_some());
    }

    #[test]
    fn the_types_with_rare_facts_are_matched_exactly() {
        for kind in TYPES_WITH_FACTS {
            assert!(has_rare_facts(kind.as_bytes()), "{kind}");
            for cut in 0..kind.len() {
                assert!(
                    !has_rare_facts(&kind.as_bytes()[..cut]),
                    "{kind} cut at {cut}"
                );
            }
            assert!(!has_rare_facts(format!("{kind}s").as_bytes()), "{kind}");
            assert!(!has_rare_facts(kind.to_uppercase().as_bytes()), "{kind}");
        }
        for kind in [
            "decision",
            "llm_call",
            "tool_call",
            "key_epocH",
            "retentioN",
            "",
        ] {
            assert!(!has_rare_facts(kind.as_bytes()), "{kind}");
        }
    }

    #[test]
    fn lines_the_walker_needs_more_from_take_the_general_path() {
        for kind in TYPES_WITH_FACTS {
            let (line, key) = entry_line(Value::Object(vec![]), kind);
            assert!(
                Examiner::new(Some(key), Vec::new())
                    .entry_fast(&line)
                    .is_none(),
                "{kind}"
            );
        }
        let mut e = Examiner::new(None, Vec::new());
        for text in [
            r#"{"_meta": {}, "seq": 0}"#,
            "[]",
            r#"{"seq": -1, "ts": "", "type": "x", "payload": {}, "prev_hash": "", "hash": ""}"#,
            r#"{"a": 1, "a": 2}"#,
        ] {
            assert!(e.entry_fast(text).is_none(), "{text}");
        }
    }
}
