//! Issue #12 ("Hardening from an outside review"), items 3 and 11: a directory verdict that
//! sees stripped signatures and says what it checked, the seq check after `u64::MAX`, `ts`
//! validation and CSV injection, the verdict's wording, and exit statuses for empty
//! directories.

use std::path::{Path, PathBuf};
use std::process::Command;

use acttrace::SigningKey;
use acttrace::chain::{GENESIS, HashAlg, SealedEntry};
use acttrace::export::{ExportOptions, Format, export_path};
use acttrace::json::Value;
use acttrace::verify::{
    Completeness, ProblemKind, Signatures, Verification, VerifyOptions, verify_dir, verify_path,
    verify_reader,
};

const KEY: &str = "hardening-test-key";
const TS: &str = "2026-01-01T00:00:00.000000+00:00";

fn key() -> SigningKey {
    SigningKey::from_bytes(KEY).unwrap()
}

fn with_key() -> VerifyOptions {
    VerifyOptions {
        key: Some(key()),
        ..VerifyOptions::default()
    }
}

fn acttrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acttrace"))
}

fn obj(members: &[(&str, Value)]) -> Value {
    Value::Object(
        members
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

fn audit_open() -> Value {
    obj(&[
        ("system", "sys".into()),
        ("risk_tier", "limited".into()),
        ("format", "acttrace-chain/1".into()),
        ("producer", "acttrace-rs/test".into()),
    ])
}

fn tool_call(i: u64) -> Value {
    obj(&[("name", "op".into()), ("i", Value::from(i))])
}

/// Seals `(seq, ts, type, payload)` rows into one chain continuing `prev`.
fn seal_rows(
    rows: impl IntoIterator<Item = (u64, String, String, Value)>,
    key: Option<&SigningKey>,
    mut prev: String,
) -> Vec<SealedEntry> {
    rows.into_iter()
        .map(|(seq, ts, kind, payload)| {
            let e = SealedEntry::seal(HashAlg::Sha256, key, seq, ts, kind, payload, prev.clone());
            prev = e.hash.clone();
            e
        })
        .collect()
}

fn text(entries: &[SealedEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        e.write_line(&mut out);
    }
    out
}

/// A log of `n` entries (`audit_open` then tool calls).
fn log(n: u64, key: Option<&SigningKey>) -> Vec<SealedEntry> {
    seal_rows(
        (0..n).map(|seq| {
            let (kind, payload) = if seq == 0 {
                ("audit_open", audit_open())
            } else {
                ("tool_call", tool_call(seq))
            };
            (seq, TS.to_owned(), kind.to_owned(), payload)
        }),
        key,
        GENESIS.to_owned(),
    )
}

fn verify_text(text: &str, opts: &VerifyOptions) -> Verification {
    verify_reader(text.as_bytes(), "test", opts).unwrap()
}

fn segment_name(index: usize) -> String {
    format!("audit-{index:06}.jsonl")
}

/// Writes a rotated log of `segments` segments of `per` entries into `dir`, as
/// `SegmentedWriter` lays them out. Segments `1..=signed` are signed, the rest are not; the
/// entry at `edit_seq` (if any) gets another payload. Every hash is computed over what is
/// written, so the segments after the last signed one are what a forger without the key can
/// make: edited, rehashed from the last signed segment's head, unsigned. Returns the head and
/// the entry count.
fn write_segments(
    dir: &Path,
    segments: usize,
    per: u64,
    signed: usize,
    edit_seq: Option<u64>,
) -> (String, u64) {
    let k = key();
    let mut prev = GENESIS.to_owned();
    let mut seq = 0;
    for index in 1..=segments {
        let mut rows = Vec::new();
        for j in 0..per {
            let (kind, payload) = match (index, j) {
                (1, 0) => ("audit_open", audit_open()),
                (_, 0) => (
                    "segment_open",
                    obj(&[
                        ("previous_segment", segment_name(index - 1).as_str().into()),
                        ("previous_head", prev.as_str().into()),
                        ("segment", segment_name(index).as_str().into()),
                        ("producer", "acttrace-rs/test".into()),
                    ]),
                ),
                _ if Some(seq) == edit_seq => ("tool_call", tool_call(999_999)),
                _ => ("tool_call", tool_call(seq)),
            };
            rows.push((seq, TS.to_owned(), kind.to_owned(), payload));
            seq += 1;
        }
        let entries = seal_rows(rows, (index <= signed).then_some(&k), prev);
        prev = entries.last().unwrap().hash.clone();
        std::fs::write(dir.join(segment_name(index)), text(&entries)).unwrap();
    }
    (prev, seq)
}

/// The segments' lines concatenated, as one file.
fn concatenated(dir: &Path, segments: usize) -> String {
    (1..=segments)
        .map(|i| std::fs::read_to_string(dir.join(segment_name(i))).unwrap())
        .collect()
}

// --- Item 3: directory verify and stripped signatures -----------------------------------------

#[test]
fn item3_a_directory_whose_last_segment_lost_its_signatures_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    write_segments(dir.path(), 8, 5, 8, None);
    assert!(
        verify_dir(dir.path(), &VerifyOptions::default())
            .unwrap()
            .ok()
    );
    // Strip every sig of the last segment (the hash does not cover `sig`).
    let last = dir.path().join(segment_name(8));
    let stripped = std::fs::read_to_string(&last)
        .unwrap()
        .lines()
        .map(|l| {
            let i = l.rfind("\"sig\": \"").unwrap();
            format!("{}\"sig\": \"\"}}\n", &l[..i])
        })
        .collect::<String>();
    std::fs::write(&last, stripped).unwrap();

    // The same entries as one file: signatures stripped, with or without a key.
    let one = concatenated(dir.path(), 8);
    for opts in [VerifyOptions::default(), with_key()] {
        let v = verify_text(&one, &opts);
        assert!(
            v.problems
                .iter()
                .any(|p| p.detail.contains("signatures stripped")),
            "{}",
            v.summary()
        );
    }
    // The directory says the same.
    for opts in [VerifyOptions::default(), with_key()] {
        let r = verify_dir(dir.path(), &opts).unwrap();
        assert!(!r.ok(), "{}", r.summary());
        let p = r
            .problems
            .iter()
            .find(|p| p.detail.contains("signatures stripped"))
            .unwrap_or_else(|| panic!("{:?}", r.problems));
        assert_eq!(p.kind, ProblemKind::BadSignature);
        assert!(p.detail.contains("1 of 8 segments"), "{p}");
        assert!(p.detail.contains(&segment_name(8)), "{p}");
    }
}

#[test]
fn item3_segments_forged_after_the_last_signed_one_are_caught_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    // Segments 4-8 edited (seq 17), rehashed from segment 3's head, unsigned.
    let (head, count) = write_segments(dir.path(), 8, 5, 3, Some(17));
    let r = verify_dir(
        dir.path(),
        &VerifyOptions {
            expected_head: Some(head),
            expect_entries: Some(count),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(!r.ok(), "a forged tail verified: {}", r.summary());
    let summary = r.summary();
    assert!(
        summary.starts_with("signatures stripped: 5 of 8 segments"),
        "{summary}"
    );
    for i in 4..=8 {
        assert!(summary.contains(&segment_name(i)), "{summary}");
    }
    // The concatenated file gives the same kind of verdict.
    let v = verify_text(&concatenated(dir.path(), 8), &VerifyOptions::default());
    assert_eq!(v.first_problem().unwrap().kind, ProblemKind::BadSignature);
}

#[test]
fn item3_many_stripped_segments_are_counted_and_a_few_named() {
    let dir = tempfile::tempdir().unwrap();
    write_segments(dir.path(), 9, 2, 1, None);
    let r = verify_dir(dir.path(), &VerifyOptions::default()).unwrap();
    let p = &r.problems[0];
    assert!(
        p.detail.starts_with("signatures stripped: 8 of 9 segments")
            && p.detail.ends_with(" and 3 more)"),
        "{p}"
    );
}

#[test]
fn item3_the_directory_verdict_says_what_was_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (head, count) = write_segments(dir.path(), 3, 4, 3, None);
    let r = verify_dir(dir.path(), &VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{}", r.summary());
    assert_eq!(r.signatures, Signatures::NotChecked);
    assert_eq!(r.completeness, Completeness::NotChecked);
    let s = r.summary();
    assert!(
        s.contains("signatures present but not checked (no key given)")
            && s.contains("completeness not checked"),
        "{s}"
    );

    let r = verify_dir(
        dir.path(),
        &VerifyOptions {
            expected_head: Some(head),
            expect_entries: Some(count),
            ..with_key()
        },
    )
    .unwrap();
    assert!(r.ok(), "{}", r.summary());
    assert_eq!(r.signatures, Signatures::Verified);
    assert_eq!(r.completeness, Completeness::OutOfBand);
    let s = r.summary();
    assert!(
        s.contains("signatures verified")
            && s.contains("completeness checked against the expected head/count"),
        "{s}"
    );

    let unsigned = tempfile::tempdir().unwrap();
    write_segments(unsigned.path(), 3, 4, 0, None);
    let r = verify_dir(unsigned.path(), &VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{}", r.summary());
    assert_eq!(r.unsigned_entries(), 12);
    assert!(r.summary().contains("unsigned"), "{}", r.summary());
    // With a key, an unsigned directory fails.
    let r = verify_dir(unsigned.path(), &with_key()).unwrap();
    assert!(!r.ok());
    assert_eq!(r.signatures, Signatures::Failed);

    // The CLI's JSON report carries the same.
    let out = acttrace()
        .args(["verify", "--json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = &doc["results"][0];
    assert_eq!(result["signatures"], "not_checked", "{doc}");
    assert_eq!(result["completeness"], "not_checked", "{doc}");
    assert_eq!(result["unsigned_entries"], 0, "{doc}");
}

// --- Item 11 ---------------------------------------------------------------------------------

#[test]
fn item11_no_seq_follows_u64_max() {
    let entries = seal_rows(
        [
            (
                u64::MAX,
                TS.to_owned(),
                "segment_open".to_owned(),
                obj(&[("previous_segment", "audit-000001.jsonl".into())]),
            ),
            (0, TS.to_owned(), "tool_call".to_owned(), tool_call(0)),
            (1, TS.to_owned(), "tool_call".to_owned(), tool_call(1)),
        ],
        None,
        "ab".repeat(32),
    );
    let v = verify_text(&text(&entries), &VerifyOptions::default());
    assert!(!v.ok(), "seq 0 after seq u64::MAX was accepted");
    assert_eq!(v.problem_count, 1, "{:?}", v.problems);
    let p = &v.problems[0];
    assert_eq!(
        (p.kind, p.seq, p.line),
        (ProblemKind::SeqMismatch, Some(0), Some(2))
    );
    assert!(p.detail.contains("follows seq 18446744073709551615"), "{p}");
    assert_eq!(v.next_seq(), 2);
}

#[test]
fn item11_ts_must_be_an_rfc_3339_utc_time() {
    let hostile = r#"=HYPERLINK("http://evil.example/","click")"#;
    for (ts, why) in [
        (hostile, "expected YYYY-MM-DDTHH:MM:SS"),
        ("2026-01-01", "expected YYYY-MM-DDTHH:MM:SS"),
        ("2026-01-01T00:00:00", "expected YYYY-MM-DDTHH:MM:SS"),
        ("2026-01-01 00:00:00+00:00", "expected YYYY-MM-DDTHH:MM:SS"),
        ("2026-01-01T00:00:00+01:00", "offset +01:00 is not UTC"),
        ("2026-02-30T00:00:00Z", "day 30 is out of range"),
        ("", "expected YYYY-MM-DDTHH:MM:SS"),
    ] {
        let mut rows: Vec<_> = (0..3)
            .map(|seq| (seq, TS.to_owned(), "tool_call".to_owned(), tool_call(seq)))
            .collect();
        rows[1].1 = ts.to_owned();
        let v = verify_text(
            &text(&seal_rows(rows, None, GENESIS.to_owned())),
            &VerifyOptions::default(),
        );
        assert_eq!(v.problem_count, 1, "{ts}: {:?}", v.problems);
        let p = &v.problems[0];
        assert_eq!(
            (p.kind, p.seq, p.line),
            (ProblemKind::Malformed, Some(1), Some(2)),
            "{ts}"
        );
        assert!(p.detail.starts_with("malformed ts at seq 1: "), "{p}");
        assert!(p.detail.contains(why), "{ts}: {p}");
    }
    // A ts that is not a string, and a long one, quoted shortened.
    for (ts_json, shown) in [
        ("17", "17 is not a string"),
        ("null", "null is not a string"),
    ] {
        let line = text(&log(1, None))
            .replace(&format!("\"ts\": \"{TS}\""), &format!("\"ts\": {ts_json}"));
        let v = verify_text(&line, &VerifyOptions::default());
        assert!(
            v.problems.iter().any(|p| p.detail.contains(shown)),
            "{:?}",
            v.problems
        );
    }
    let rows = vec![(0, "x".repeat(100_000), "t".to_owned(), tool_call(0))];
    let v = verify_text(
        &text(&seal_rows(rows, None, GENESIS.to_owned())),
        &VerifyOptions::default(),
    );
    assert!(v.problems[0].detail.len() < 200, "{}", v.problems[0]);

    // The forms real writers produce verify: acttrace-rs and Python (`isoformat`, which drops a
    // zero fraction) write +00:00, TypeScript's toISOString writes Z with milliseconds.
    for ts in [
        "2026-11-26T21:28:45.791750+00:00",
        "2026-11-26T21:28:45+00:00",
        "2026-11-26T21:28:45.791Z",
        "2026-11-26T21:28:45Z",
    ] {
        let rows = vec![(0, ts.to_owned(), "tool_call".to_owned(), tool_call(0))];
        let v = verify_text(
            &text(&seal_rows(rows, None, GENESIS.to_owned())),
            &VerifyOptions::default(),
        );
        assert!(v.ok(), "{ts}: {}", v.summary());
    }
}

/// The synthetic export log with every `ts` replaced by `ts`, rehashed (unsigned).
fn log_with_ts(dir: &Path, ts: &str) -> PathBuf {
    let rows: Vec<_> = text(&log(6, None))
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let kind = v["type"].as_str().unwrap().to_owned();
            let kind = if kind == "tool_call" { "human_oversight".to_owned() } else { kind };
            let payload = if kind == "human_oversight" {
                Value::from(&serde_json::json!({"decision_id": null, "reviewer": "r", "action": "approved", "note": "ok"}))
            } else {
                Value::from(&v["payload"])
            };
            (v["seq"].as_u64().unwrap(), ts.to_owned(), kind, payload)
        })
        .collect();
    let path = dir.join("hostile-ts.jsonl");
    std::fs::write(&path, text(&seal_rows(rows, None, GENESIS.to_owned()))).unwrap();
    path
}

#[test]
fn item11_a_formula_ts_is_refused_by_verify_and_neutralised_in_csv() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = r#"=HYPERLINK("http://evil.example/","click")"#;
    let path = log_with_ts(dir.path(), hostile);
    let v = verify_path(&path, &VerifyOptions::default()).unwrap();
    assert!(!v.ok());
    assert!(
        v.problems.iter().all(
            |p| p.kind == ProblemKind::Malformed && p.detail.starts_with("malformed ts at seq")
        ),
        "{:?}",
        v.problems
    );
    assert_eq!(v.problem_count, 6);

    // Refused by export, written (marked unverified) with --allow-unverified, neutralised.
    let out = dir.path().join("index.csv");
    let mut opts = ExportOptions::new("all", Format::Csv);
    assert!(export_path(&path, &out, &opts).is_err());
    opts.allow_unverified = true;
    export_path(&path, &out, &opts).unwrap();
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil.example/\"\""),
        "{csv}"
    );
    for line in csv.lines().skip(1) {
        // No cell starts with a formula character (cells here hold no quoted commas but the
        // hostile one, which is quoted and starts with `"'`).
        for cell in line.split(',') {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "{cell:?} in {line}"
            );
        }
        assert!(line.ends_with(",unverified"), "{line}");
    }
}

#[test]
fn item11_an_unsigned_log_is_called_unsigned() {
    let v = verify_text(&text(&log(3, None)), &VerifyOptions::default());
    assert!(v.ok());
    assert!(
        v.summary()
            .contains("(unsigned (no entry carries a signature);"),
        "{}",
        v.summary()
    );
    let k = key();
    let v = verify_text(&text(&log(3, Some(&k))), &VerifyOptions::default());
    assert!(!v.summary().contains("unsigned"), "{}", v.summary());
    assert!(v.summary().contains("signatures present but not checked"));
}

#[test]
fn item11_the_meta_signature_note_names_the_members_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("signed.jsonl");
    let k = key();
    std::fs::write(&log_path, text(&log(4, Some(&k)))).unwrap();
    let pack = dir.path().join("pack.jsonl");
    let mut opts = ExportOptions::new("eu_ai_act", Format::Jsonl);
    opts.key = Some(key());
    export_path(&log_path, &pack, &opts).unwrap();
    // Edit an unsigned member of the header: still verifies, and the note says why.
    let text = std::fs::read_to_string(&pack).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(header).unwrap();
    meta["_meta"]["framework"] = "edited".into();
    std::fs::write(&pack, format!("{meta}\n{rest}")).unwrap();
    let v = verify_path(&pack, &with_key()).unwrap();
    assert!(v.ok(), "{}", v.summary());
    assert_eq!(v.completeness, Completeness::SignedHeader);
    assert!(
        v.summary().contains(
            "metadata signature verified (it covers system, risk_tier, head_hash and entries; \
             the other _meta members are not signed)"
        ),
        "{}",
        v.summary()
    );
}

#[test]
fn item11_an_empty_directory_exits_2_from_verify_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let verify = acttrace().arg("verify").arg(dir.path()).output().unwrap();
    assert_eq!(verify.status.code(), Some(2), "{verify:?}");
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("no segment files"),
        "{verify:?}"
    );
    let json = acttrace()
        .args(["verify", "--json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(2), "{json:?}");
    let summary = acttrace().arg("summary").arg(dir.path()).output().unwrap();
    assert_eq!(summary.status.code(), Some(2), "{summary:?}");
    assert!(
        // `summary DIR` reads a rotated log's segments (issue #15 §4); none found is still 2.
        String::from_utf8_lossy(&summary.stderr).contains("no segment files"),
        "{summary:?}"
    );
    // An empty file is still an integrity failure (a log always holds `audit_open`).
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = acttrace().arg("verify").arg(&empty).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn item11_expect_head_is_documented_and_works_for_a_directory() {
    let help = acttrace().args(["verify", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(!help.contains("Only with a single FILE."), "{help}");
    assert!(help.contains("single FILE or DIR"), "{help}");

    let dir = tempfile::tempdir().unwrap();
    let (head, _) = write_segments(dir.path(), 3, 3, 3, None);
    let out = acttrace()
        .args(["verify", "--expect-head", &head])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("completeness checked against"));
    let wrong = "0".repeat(64);
    let out = acttrace()
        .args(["verify", "--expect-head", &wrong])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

/// Every problem message and verdict, for inputs that raise every kind of problem, has no run
/// of spaces (a lost line continuation in a message's source shows up as one).
#[test]
fn item11_no_problem_message_has_a_run_of_spaces() {
    let k = key();
    let signed = log(6, Some(&k));
    let sound = text(&signed);
    let lines: Vec<&str> = sound.lines().collect();
    let joined = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
    let mut files: Vec<(String, VerifyOptions)> = Vec::new();
    let mut add = |t: String, o: VerifyOptions| files.push((t, o));
    // Tampered, broken link, bad signature, stripped, malformed sig.
    add(sound.replacen("\"i\": 3", "\"i\": 4", 1), with_key());
    add(
        joined(&[lines[0], lines[1], lines[3], lines[4]]),
        with_key(),
    );
    add(
        sound.replacen(&signed[2].sig, &"0".repeat(64), 1),
        with_key(),
    );
    add(
        sound.replacen(&signed[2].sig, "", 1),
        VerifyOptions::default(),
    );
    add(
        sound.replacen(&signed[2].sig, "XYZ", 1),
        VerifyOptions::default(),
    );
    // Seq out of order, and after u64::MAX.
    let renumbered = seal_rows(
        [0, 1, 5].map(|s| (s, TS.to_owned(), "t".to_owned(), tool_call(s))),
        None,
        GENESIS.to_owned(),
    );
    add(text(&renumbered), VerifyOptions::default());
    // Malformed lines of many sorts, a torn tail, a long line, BOMs, bad UTF-8.
    for bad in [
        "not json",
        "{}",
        r#"{"seq": 1, "ts": "x", "type": "t", "payload": {}, "prev_hash": 1, "hash": 2}"#,
        r#"{"seq": -1, "ts": "x", "type": "t", "payload": {}, "prev_hash": "ab", "hash": "cd"}"#,
        r#"{"seq": 1, "seq": 1}"#,
        r#"{"_meta": {}}"#,
        "\u{feff}{}",
    ] {
        add(joined(&[lines[0], bad, lines[1]]), VerifyOptions::default());
    }
    add(
        format!("{sound}{}", &lines[1][..40]),
        VerifyOptions::default(),
    );
    add(
        sound.clone(),
        VerifyOptions {
            max_line_bytes: 100,
            ..VerifyOptions::default()
        },
    );
    add(format!("\u{feff}{sound}"), VerifyOptions::default());
    let mut not_utf8 = sound.clone().into_bytes();
    not_utf8[20] = 0xff;
    add(
        String::from_utf8_lossy(&not_utf8).into_owned(),
        VerifyOptions::default(),
    );
    // Incomplete, empty, unknown hash algorithm, bad ts.
    add(
        sound.clone(),
        VerifyOptions {
            expected_head: Some("0".repeat(64)),
            expect_entries: Some(9),
            ..VerifyOptions::default()
        },
    );
    add(String::new(), VerifyOptions::default());
    let md5 = seal_rows(
        [(
            0,
            TS.to_owned(),
            "audit_open".to_owned(),
            obj(&[("hash_alg", "md5".into())]),
        )],
        None,
        GENESIS.to_owned(),
    );
    add(text(&md5), VerifyOptions::default());
    let bad_ts = seal_rows(
        [(0, "yesterday".to_owned(), "t".to_owned(), tool_call(0))],
        None,
        GENESIS.to_owned(),
    );
    add(text(&bad_ts), VerifyOptions::default());
    // Pack headers: unauthenticated, forged, bad entries, out of place.
    let head = &signed.last().unwrap().hash;
    let meta = |extra: &str| {
        format!(
            r#"{{"_meta": {{"system": "sys", "risk_tier": "limited", "head_hash": "{head}", "entries": 6{extra}}}}}"#
        )
    };
    add(format!("{}\n{sound}", meta("")), with_key());
    add(
        format!(
            "{}\n{sound}",
            meta(&format!(r#", "sig": "{}""#, "1".repeat(64)))
        ),
        with_key(),
    );
    add(
        format!(
            "{}\n{sound}",
            meta("").replace("\"entries\": 6", "\"entries\": -6")
        ),
        VerifyOptions::default(),
    );
    add(format!("{sound}{}\n", meta("")), VerifyOptions::default());

    let mut messages: Vec<String> = Vec::new();
    let mut kinds = std::collections::HashSet::new();
    for (t, o) in &files {
        let v = verify_text(
            t,
            &VerifyOptions {
                max_problems: 1000,
                ..o.clone()
            },
        );
        assert!(!v.ok(), "expected a problem in:\n{t}");
        messages.push(v.summary());
        for p in &v.problems {
            kinds.insert(p.kind);
            messages.push(p.detail.clone());
            messages.push(p.to_string());
        }
    }

    // Directory problems: several logs, no segments, missing, misplaced, reordered, unlinked,
    // stripped, incomplete.
    let dirs: Vec<tempfile::TempDir> = (0..9).map(|_| tempfile::tempdir().unwrap()).collect();
    let seg = |d: &tempfile::TempDir, i: usize| d.path().join(segment_name(i));
    for d in &dirs[2..] {
        write_segments(d.path(), 4, 3, 4, None);
    }
    std::fs::write(dirs[0].path().join("other-000001.jsonl"), &sound).unwrap();
    std::fs::write(dirs[0].path().join("audit-000001.jsonl"), &sound).unwrap();
    std::fs::remove_file(seg(&dirs[2], 1)).unwrap();
    std::fs::remove_file(seg(&dirs[3], 2)).unwrap();
    std::fs::copy(seg(&dirs[4], 1), seg(&dirs[4], 3)).unwrap();
    std::fs::rename(seg(&dirs[5], 3), seg(&dirs[5], 9)).unwrap();
    std::fs::copy(seg(&dirs[5], 2), seg(&dirs[5], 3)).unwrap();
    std::fs::rename(seg(&dirs[5], 9), seg(&dirs[5], 2)).unwrap();
    let cut: String = std::fs::read_to_string(seg(&dirs[6], 2))
        .unwrap()
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(seg(&dirs[6], 2), cut).unwrap();
    write_segments(dirs[7].path(), 4, 3, 2, None);
    for (i, d) in dirs.iter().enumerate() {
        let opts = VerifyOptions {
            expected_head: (i == 8).then(|| "0".repeat(64)),
            expect_entries: (i == 8).then_some(99),
            ..VerifyOptions::default()
        };
        let r = verify_dir(d.path(), &opts).unwrap();
        assert!(!r.ok(), "directory {i}: {}", r.summary());
        messages.push(r.summary());
        for p in &r.problems {
            kinds.insert(p.kind);
            messages.push(p.to_string());
        }
    }

    for kind in [
        ProblemKind::BrokenLink,
        ProblemKind::TamperedEntry,
        ProblemKind::BadSignature,
        ProblemKind::SeqMismatch,
        ProblemKind::Malformed,
        ProblemKind::TornLine,
        ProblemKind::LineTooLong,
        ProblemKind::Incomplete,
        ProblemKind::ForgedMeta,
        ProblemKind::UnauthenticatedMeta,
        ProblemKind::Empty,
        ProblemKind::UnknownHashAlg,
    ] {
        assert!(kinds.contains(&kind), "no input raised {kind:?}");
    }
    let runs: Vec<&String> = messages.iter().filter(|m| m.contains("  ")).collect();
    assert!(runs.is_empty(), "messages with a run of spaces: {runs:#?}");
    assert!(messages.len() > 60, "{}", messages.len());
}
