//! Hostile and unusual input to the verifier: each gets a clear, specific problem (never a
//! panic, a hang or unbounded memory), or a documented acceptance.

use std::io::Read;

use acttrace::chain::{GENESIS, HashAlg, entry_hash};
use acttrace::json::{self, Value};
use acttrace::verify::{ProblemKind, Verification, VerifyOptions, verify_reader};

fn verify(text: &[u8]) -> Verification {
    verify_reader(text, "input", &VerifyOptions::default()).unwrap()
}

/// A well-formed line for seq 0 with `payload_json` as its payload text.
fn line(payload_json: &str) -> String {
    let payload = json::parse(payload_json).unwrap();
    let ts = "2026-01-01T00:00:00.000000+00:00";
    let hash = entry_hash(
        HashAlg::Sha256,
        GENESIS,
        &Value::from(0u64),
        &ts.into(),
        &"note".into(),
        &payload,
    );
    format!(
        r#"{{"seq": 0, "ts": "{ts}", "type": "note", "payload": {payload_json}, "prev_hash": "{GENESIS}", "hash": "{hash}", "sig": ""}}"#
    )
}

fn first(v: &Verification) -> (ProblemKind, String) {
    let p = v.first_problem().expect("a problem");
    (p.kind, p.to_string())
}

#[test]
fn duplicate_keys_are_refused_naming_the_key_and_line() {
    let ok = line(r#"{"a": 1}"#);
    let dup = ok.replace(r#""seq": 0,"#, r#""seq": 0, "seq": 0,"#);
    let (kind, msg) = first(&verify(format!("{ok}\n{dup}\n").as_bytes()));
    assert_eq!(kind, ProblemKind::Malformed);
    assert!(
        msg.contains("duplicate key \"seq\"") && msg.contains("line 2"),
        "{msg}"
    );
}

#[test]
fn nan_and_infinity_are_accepted_as_python_writes_them() {
    // Documented acceptance: the reference writer emits them; the canonical form keeps them.
    let v = verify(format!("{}\n", line(r#"{"x": NaN, "y": -Infinity, "z": 1e400}"#)).as_bytes());
    assert!(v.ok(), "{}", v.summary());
}

#[test]
fn oversized_integers_are_refused_like_python_refuses_them() {
    let big = "9".repeat(5000);
    let text = format!(
        "{}\n",
        line(&format!(r#"{{"x": {}}}"#, "1")).replace("\"x\": 1", &format!("\"x\": {big}"))
    );
    let (kind, msg) = first(&verify(text.as_bytes()));
    assert_eq!(kind, ProblemKind::Malformed);
    assert!(msg.contains("longer than 4300 digits"), "{msg}");
}

#[test]
fn invalid_utf8_bom_and_lone_surrogates_are_named() {
    let mut bad = line(r#"{"a": "x"}"#).into_bytes();
    let at = bad.iter().position(|&b| b == b'x').unwrap();
    bad[at] = 0xff;
    let (kind, msg) = first(&verify(&bad));
    assert_eq!(kind, ProblemKind::Malformed);
    assert!(
        msg.contains("invalid UTF-8") && msg.contains("line 1"),
        "{msg}"
    );

    let bom = format!("\u{feff}{}\n", line("{}"));
    let (_, msg) = first(&verify(bom.as_bytes()));
    assert!(msg.contains("byte-order mark"), "{msg}");

    let surrogate = line(r#"{"a": "x"}"#).replace("\"x\"", r#""\ud800""#);
    let (_, msg) = first(&verify(surrogate.as_bytes()));
    assert!(msg.contains("lone UTF-16 surrogate"), "{msg}");
}

#[test]
fn crlf_line_endings_are_accepted() {
    let v = verify(format!("{}\r\n", line(r#"{"a": 1}"#)).as_bytes());
    assert!(v.ok(), "{}", v.summary());
}

#[test]
fn empty_files_and_header_only_files_fail_clearly() {
    let (kind, msg) = first(&verify(b""));
    assert_eq!(kind, ProblemKind::Empty);
    assert!(msg.contains("empty log"));
    let (kind, _) = first(&verify(b"\n\n  \n"));
    assert_eq!(kind, ProblemKind::Empty);
    let meta = verify(br#"{"_meta": {"head_hash": "00", "entries": 0}}"#);
    assert!(!meta.ok());
    assert_eq!(first(&meta).0, ProblemKind::Empty);
}

#[test]
fn deep_nesting_is_refused_without_overflow() {
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let (kind, msg) = first(&verify(line("{}").replace("{}", &deep).as_bytes()));
    assert_eq!(kind, ProblemKind::Malformed);
    assert!(msg.contains("nesting deeper than 256"), "{msg}");
}

/// One gibibyte of a single line, produced on the fly.
struct GiantLine {
    left: u64,
}

impl Read for GiantLine {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.left) as usize;
        buf[..n].fill(b'a');
        self.left -= n as u64;
        if self.left == 0 {
            buf[n - 1] = b'\n';
        }
        Ok(n)
    }
}

#[test]
fn a_one_gibibyte_line_is_refused_in_bounded_memory() {
    let next = line("{}");
    let reader = std::io::BufReader::with_capacity(
        1 << 20,
        GiantLine { left: 1 << 30 }.chain(next.as_bytes()),
    );
    let v = verify_reader(reader, "giant", &VerifyOptions::default()).unwrap();
    let (kind, msg) = first(&v);
    assert_eq!(kind, ProblemKind::LineTooLong);
    assert!(
        msg.contains("line longer than 16777216 bytes") && msg.contains("line 1"),
        "{msg}"
    );
    // The entry after it is still read.
    assert_eq!(v.entries, 1);
}

/// A well-formed line for entry `seq` of type `kind` on `prev`, with `payload_json` as its
/// payload text and `extra` (`, "name": value` members, or nothing) after its `sig`.
fn entry_line(
    seq: u64,
    prev: &str,
    kind: &str,
    payload_json: &str,
    extra: &str,
) -> (String, String) {
    let payload = json::parse(payload_json).unwrap();
    let ts = "2026-01-01T00:00:00.000000+00:00";
    let hash = entry_hash(
        HashAlg::Sha256,
        prev,
        &Value::from(seq),
        &ts.into(),
        &kind.into(),
        &payload,
    );
    let text = format!(
        r#"{{"seq": {seq}, "ts": "{ts}", "type": "{kind}", "payload": {payload_json}, "prev_hash": "{prev}", "hash": "{hash}", "sig": ""{extra}}}"#
    );
    (text, hash)
}

// The three cases below were found by running the reference verifier (cendor-acttrace 1.14.0)
// and ours side by side on ~3,600 generated and damaged logs (docs/FORMAT.md §8.5).

#[test]
fn an_entry_carrying_a_meta_member_is_not_taken_for_a_header_and_dropped() {
    // The reference reads any line with a `_meta` member as an export header and leaves the
    // entry out of the chain it verifies ("ok: 2 entries", even with --expect-entries 2).
    let (open, h0) = entry_line(0, GENESIS, "note", "{}", "");
    let (second, h1) = entry_line(1, &h0, "note", r#"{"n": 1}"#, "");
    let (hidden, _) = entry_line(2, &h1, "note", r#"{"n": 2}"#, r#", "_meta": {}"#);
    let v = verify(format!("{open}\n{second}\n{hidden}\n").as_bytes());
    let (kind, msg) = first(&v);
    assert_eq!(kind, ProblemKind::Malformed, "{msg}");
    assert!(
        msg.contains("_meta") && msg.contains("first line") && msg.contains("line 3"),
        "{msg}"
    );
    assert!(!v.ok());
}

#[test]
fn an_unknown_declared_hash_alg_is_reported_not_read_as_sha256() {
    for declared in [r#""md5""#, r#""BLAKE3""#, r#""""#, "null", "5"] {
        let payload = format!(
            r#"{{"system": "s", "risk_tier": "high", "format": "acttrace-chain/1", "hash_alg": {declared}}}"#
        );
        let (open, _) = entry_line(0, GENESIS, "audit_open", &payload, "");
        let v = verify(format!("{open}\n").as_bytes());
        let (kind, msg) = first(&v);
        assert_eq!(kind, ProblemKind::UnknownHashAlg, "{declared}: {msg}");
        assert!(msg.contains("unknown hash_alg"), "{declared}: {msg}");
    }
    // The two it knows are read as declared.
    let (open, _) = entry_line(
        0,
        GENESIS,
        "audit_open",
        r#"{"system": "s", "risk_tier": "high", "hash_alg": "sha256"}"#,
        "",
    );
    assert!(verify(format!("{open}\n").as_bytes()).ok());
}

#[test]
fn an_export_header_count_must_be_an_integer() {
    let (open, head) = entry_line(0, GENESIS, "note", "{}", "");
    for (count, accepted) in [
        ("1", true),
        ("1.0", false),
        ("-1", false),
        (r#""1""#, false),
    ] {
        let meta = format!(
            r#"{{"_meta": {{"system": "s", "risk_tier": "high", "head_hash": "{head}", "entries": {count}}}}}"#
        );
        let v = verify(format!("{meta}\n{open}\n").as_bytes());
        if accepted {
            assert!(v.ok(), "{count}: {}", v.summary());
        } else {
            let (_, msg) = first(&v);
            assert!(
                msg.contains("_meta.entries must be a non-negative integer"),
                "{count}: {msg}"
            );
        }
    }
}

#[test]
fn a_member_no_entry_has_is_refused_since_no_hash_covers_it() {
    // Found by fuzzing the CLI: `"approved_by": "CFO"` added to a signed entry verified, with
    // the key, and was carried into export packs, where a reader sees it as part of the entry.
    let (open, h0) = entry_line(0, GENESIS, "note", "{}", "");
    let (added, _) = entry_line(1, &h0, "note", r#"{"n": 1}"#, r#", "approved_by": "CFO""#);
    let v = verify(format!("{open}\n{added}\n").as_bytes());
    let (kind, msg) = first(&v);
    assert_eq!(kind, ProblemKind::Malformed, "{msg}");
    assert!(
        msg.contains(r#"unknown member "approved_by""#) && msg.contains("line 2"),
        "{msg}"
    );
    // The members an export pack adds are not part of the hash by design, and are read.
    let (annotated, _) = entry_line(
        1,
        &h0,
        "note",
        r#"{"n": 1}"#,
        r#", "controls": ["Art. 12"], "adverse_controls": [], "tlog_proof": "p""#,
    );
    let v = verify(format!("{open}\n{annotated}\n").as_bytes());
    assert!(v.ok(), "{}", v.summary());
}
