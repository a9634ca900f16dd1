//! Conformance against chains written by the reference implementations (tests/vectors, copied
//! from the reference's published vectors): every case must get the reference verifier's
//! verdict, and our reports must say more where they can.

use std::path::{Path, PathBuf};

use acttrace::SigningKey;
use acttrace::verify::{Completeness, ProblemKind, Signatures, VerifyOptions, verify_path};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn options(args: &serde_json::Value) -> VerifyOptions {
    VerifyOptions {
        key: args["key"]
            .as_str()
            .map(|k| SigningKey::from_bytes(k).unwrap()),
        expected_head: args["expected_head"].as_str().map(str::to_owned),
        expect_entries: args["expect_entries"].as_u64(),
        ..VerifyOptions::default()
    }
}

#[test]
fn every_reference_case_gets_the_reference_verdict() {
    let dir = vectors().join("cendor-py-1.14.0");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 90, "manifest has {} cases", cases.len());
    let mut mismatches = Vec::new();
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let report = verify_path(dir.join(file), &options(&case["args"])).unwrap();
        let want = case["expect_ok"].as_bool().unwrap();
        if report.ok() != want {
            mismatches.push(format!(
                "{file} {}: want ok={want}, got {} (reference: {})",
                case["args"],
                report.summary(),
                case["reference_detail"]
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn first_problem_matches_the_reference_message() {
    // Our message starts with the reference's wording for the same first problem.
    let dir = vectors().join("cendor-py-1.14.0");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    for case in manifest["cases"].as_array().unwrap() {
        let detail = case["reference_detail"].as_str().unwrap();
        let report = verify_path(
            dir.join(case["file"].as_str().unwrap()),
            &options(&case["args"]),
        )
        .unwrap();
        let ours = report.summary();
        let comparable = [
            "broken link",
            "tampered entry",
            "bad signature",
            "incomplete log",
            "forged _meta",
        ];
        if comparable.iter().any(|p| detail.starts_with(p)) {
            assert!(
                ours.starts_with(detail),
                "{}: ours {ours:?}, reference {detail:?}",
                case["file"]
            );
        }
        if detail.starts_with("ok:") {
            // Same count and head prefix.
            let prefix: String = detail.split(" (").next().unwrap().to_owned();
            assert!(
                ours.starts_with(&prefix),
                "ours {ours:?}, reference {detail:?}"
            );
        }
    }
}

#[test]
fn torn_lines_are_reported_as_torn_not_as_tampering() {
    let dir = vectors().join("cendor-py-1.14.0");
    let r = verify_path(dir.join("chain0.torn.jsonl"), &VerifyOptions::default()).unwrap();
    assert!(!r.ok());
    let p = r.first_problem().unwrap();
    assert_eq!(p.kind, ProblemKind::TornLine, "{p}");
    assert_eq!(r.problem_count, 1, "{:?}", r.problems);
}

#[test]
fn completeness_basis_is_reported() {
    let dir = vectors().join("cendor-py-1.14.0");
    let raw = verify_path(dir.join("chain0.jsonl"), &VerifyOptions::default()).unwrap();
    assert_eq!(raw.completeness, Completeness::NotChecked);
    assert!(
        raw.summary().contains("completeness not checked"),
        "{}",
        raw.summary()
    );

    let pack = verify_path(dir.join("chain0.pack.jsonl"), &VerifyOptions::default()).unwrap();
    assert_eq!(pack.completeness, Completeness::UnauthenticatedHeader);
    assert!(pack.summary().contains("unauthenticated"));

    let key = SigningKey::from_bytes("key-7-1").unwrap();
    let signed = verify_path(
        dir.join("chain1.pack.jsonl"),
        &VerifyOptions {
            key: Some(key),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(signed.ok());
    assert_eq!(signed.completeness, Completeness::SignedHeader);
    assert_eq!(signed.signatures, Signatures::Verified);
}

#[test]
fn all_problems_are_listed_not_only_the_first() {
    // Deleting a line and swapping two others must both show up in one run.
    let dir = vectors().join("cendor-py-1.14.0");
    let text = std::fs::read_to_string(dir.join("chain2.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(5);
    lines.swap(20, 21);
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("x.jsonl");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let r = verify_path(&p, &VerifyOptions::default()).unwrap();
    let links: Vec<u64> = r
        .problems
        .iter()
        .filter(|p| p.kind == ProblemKind::BrokenLink)
        .map(|p| p.seq.unwrap())
        .collect();
    assert_eq!(links, [6, 22, 21, 23], "{:#?}", r.problems);
}

#[test]
fn typescript_written_packs_verify_with_their_key() {
    let key = SigningKey::from_bytes("roundtrip-key").unwrap();
    for file in [
        "js_written_chain.jsonl",
        "js_written_chain_pre_provenance.jsonl",
    ] {
        let r = verify_path(
            vectors().join(file),
            &VerifyOptions {
                key: Some(key.clone()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(r.ok(), "{file}: {}", r.summary());
        assert_eq!(r.entries, 7);
        assert_eq!(r.completeness, Completeness::SignedHeader);
        let wrong = verify_path(
            vectors().join(file),
            &VerifyOptions {
                key: Some(SigningKey::from_bytes("nope").unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!wrong.ok());
        assert_eq!(
            wrong.first_problem().unwrap().kind,
            ProblemKind::BadSignature
        );
    }
}
