//! Large files are verified in parallel chunks; the result must be exactly the sequential one,
//! problems and all.

use std::io::BufReader;
use std::path::Path;

use acttrace::chain::{GENESIS, HashAlg, SealedEntry, SigningKey};
use acttrace::json::Value;
use acttrace::verify::{Verification, VerifyOptions, verify_path, verify_reader};

/// A signed log well over the parallel threshold (4 MiB).
fn big_log(alg: HashAlg, entries: u64) -> String {
    let key = SigningKey::from_bytes("par-key").unwrap();
    let mut prev = GENESIS.to_owned();
    let mut out = String::new();
    for seq in 0..entries {
        let payload = if seq == 0 {
            let mut p = vec![("system".to_owned(), Value::from("par"))];
            if alg == HashAlg::Blake3 {
                p.push(("hash_alg".to_owned(), Value::from("blake3")));
            }
            Value::Object(p)
        } else {
            Value::Object(vec![
                (
                    "decision_id".to_owned(),
                    Value::from(format!("{:032x}", seq / 6)),
                ),
                ("model".to_owned(), Value::from("gpt-4o")),
                ("note".to_owned(), Value::from("x".repeat(200))),
                ("n".to_owned(), Value::from(seq)),
            ])
        };
        let kind = if seq == 0 { "audit_open" } else { "llm_call" };
        let e = SealedEntry::seal(
            alg,
            Some(&key),
            seq,
            format!("2026-01-01T00:00:00.{seq:06}+00:00"),
            kind.into(),
            payload,
            prev,
        );
        prev = e.hash.clone();
        e.write_line(&mut out);
    }
    out
}

fn both(path: &Path, opts: &VerifyOptions) -> (Verification, Verification) {
    let parallel = verify_path(path, opts).unwrap();
    let sequential = verify_reader(
        BufReader::new(std::fs::File::open(path).unwrap()),
        &path.display().to_string(),
        opts,
    )
    .unwrap();
    (parallel, sequential)
}

fn assert_same(a: &Verification, b: &Verification) {
    assert_eq!(a.ok(), b.ok());
    assert_eq!(a.entries, b.entries);
    assert_eq!(a.head, b.head);
    assert_eq!(a.hash_alg, b.hash_alg);
    assert_eq!(a.problem_count, b.problem_count);
    assert_eq!(a.problems, b.problems);
    assert_eq!(a.torn_tail, b.torn_tail);
    assert_eq!(a.signatures, b.signatures);
}

#[test]
fn parallel_and_sequential_verification_agree() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes("par-key").unwrap();
    let opts = VerifyOptions {
        key: Some(key),
        ..VerifyOptions::default()
    };
    for alg in [HashAlg::Sha256, HashAlg::Blake3] {
        let text = big_log(alg, 20_000);
        assert!(text.len() > 5 << 20);
        let path = dir.path().join("big.jsonl");
        std::fs::write(&path, &text).unwrap();
        let (p, s) = both(&path, &opts);
        assert!(p.ok(), "{}", p.summary());
        assert_eq!(p.entries, 20_000);
        assert_same(&p, &s);

        // Damage in several chunks: an edit, a deleted line, a swap, a torn tail.
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines[3_000] = lines[3_000].replace("gpt-4o", "gpt-4x");
        lines.remove(9_001);
        lines.swap(15_000, 15_001);
        let last = lines.pop().unwrap();
        let damaged = format!("{}\n{}", lines.join("\n"), &last[..last.len() / 2]);
        std::fs::write(&path, damaged).unwrap();
        let (p, s) = both(&path, &opts);
        assert!(!p.ok());
        assert!(p.problem_count >= 5, "{:#?}", p.problems);
        assert!(p.torn_tail.is_some());
        assert_same(&p, &s);
    }
}
