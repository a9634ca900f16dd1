//! Verifying `checkpoint` entries (issue #13): the tree, the notes, the origin, an expected
//! checkpoint, and the tamper matrix with verifier keys: edits, deletions, reorderings and
//! insertions of covered entries are caught even after the whole chain is re-hashed and
//! re-signed with the HMAC key; truncation and rollback with an expected checkpoint.

mod common;

use acttrace::checkpoint::{Checkpoint, VerifierKey};
use acttrace::json::{self, Value};
use acttrace::verify::{
    CheckpointOptions, ExpectedOutcome, ProblemKind, Verification, VerifyOptions,
    expected_checkpoint, verify_path, verify_reader,
};
use common::checkpoints::*;

fn opts(vkeys: &[VerifierKey], expected: Option<Checkpoint>) -> VerifyOptions {
    VerifyOptions {
        key: Some(hmac_key()),
        checkpoints: CheckpointOptions {
            keys: vkeys.to_vec(),
            expected: expected.into_iter().collect(),
            probe_sizes: Vec::new(),
            fs_key: None,
            ..CheckpointOptions::default()
        },
        ..VerifyOptions::default()
    }
}

fn verify(text: &str, o: &VerifyOptions) -> Verification {
    verify_reader(text.as_bytes(), "test", o).unwrap()
}

fn kinds(v: &Verification) -> Vec<ProblemKind> {
    v.problems.iter().map(|p| p.kind).collect()
}

/// 1 audit_open + 5 events, checkpoint (seq 6), 4 events, checkpoint (seq 11), 3 events.
fn sample() -> ChainBuilder {
    let mut b = ChainBuilder::example();
    b.events(5).checkpoint().events(4).checkpoint().events(3);
    b
}

#[test]
fn an_honest_log_verifies_and_says_what_is_not_covered() {
    let b = sample();
    let v = verify(&b.text(), &opts(&[example_vkey()], None));
    assert!(v.ok(), "{}", v.summary());
    let c = v.checkpoints.as_ref().expect("a checkpoint report");
    assert_eq!((c.seen, c.verified), (2, 2));
    assert_eq!(c.last_checked_size, Some(11));
    assert_eq!(c.uncovered, 3);
    assert_eq!(c.origin.as_deref(), Some(ORIGIN));
    assert_eq!(
        c.latest_note.as_deref(),
        Some(b.entries[11].payload.get("note").unwrap().as_str().unwrap())
    );
    let s = v.summary();
    assert!(
        s.contains("2 checkpoints verified, the last at tree size 11"),
        "{s}"
    );
    assert!(
        s.contains("end not authenticated: the log may have been cut after any checkpoint"),
        "{s}"
    );
    assert!(
        s.contains("final 3 entries not covered by a checkpoint"),
        "{s}"
    );
    let j = v.to_json();
    assert_eq!(j["checkpoints"]["verified"], 2);
    assert_eq!(j["checkpoints"]["uncovered_entries"], 3);
    assert_eq!(j["checkpoints"]["signatures"], "checked");
}

#[test]
fn without_a_key_signatures_are_reported_not_checked_and_the_tree_still_is() {
    let v = verify(&sample().text(), &VerifyOptions::default());
    assert!(v.ok(), "{}", v.summary());
    assert!(
        v.summary().contains("signature not checked"),
        "{}",
        v.summary()
    );
    assert_eq!(v.to_json()["checkpoints"]["signatures"], "not_checked");
}

#[test]
fn a_log_without_checkpoints_keeps_no_tree_unless_asked() {
    let mut b = ChainBuilder::new(None, example_signer());
    b.events(3);
    let v = verify(&b.text(), &VerifyOptions::default());
    assert!(v.ok() && v.checkpoints.is_none(), "{}", v.summary());
    // Asked to check with a verifier key, a log with nothing to check fails.
    let v = verify(&b.text(), &opts(&[example_vkey()], None));
    assert_eq!(kinds(&v), [ProblemKind::Unverifiable], "{}", v.summary());
    assert!(v.summary().contains("no checkpoint in the log"));
}

#[test]
fn a_checkpoint_in_a_log_without_origin_is_refused() {
    let mut b = ChainBuilder::new(None, example_signer());
    b.events(2).checkpoint();
    let v = verify(&b.text(), &VerifyOptions::default());
    assert_eq!(kinds(&v), [ProblemKind::BadCheckpoint], "{}", v.summary());
    assert!(
        v.summary().contains("does not declare an origin"),
        "{}",
        v.summary()
    );
}

/// Every edit, deletion, swap and insertion of a covered entry, re-sealed with the HMAC key.
#[test]
fn tamper_matrix_with_a_vkey_catches_every_change_to_covered_entries_after_resealing() {
    let b = sample();
    let lines = b.lines();
    let key = hmac_key();
    let o = opts(&[example_vkey()], None);
    let checkpoint_at = [6usize, 11];
    let mut cases = 0;
    // Covered entries: 0..11 (the second checkpoint covers 0..=10; entry 11 is that checkpoint).
    for i in 0..11usize {
        let mut variants: Vec<(String, Vec<String>)> = Vec::new();
        if !checkpoint_at.contains(&i) {
            let mut edited = lines.clone();
            let mut v = json::parse(&edited[i]).unwrap();
            let mut payload = v.get("payload").unwrap().clone();
            payload.set("tampered", Value::from(true));
            v.set("payload", payload);
            edited[i] = json::to_canonical(&v);
            variants.push((format!("edit {i}"), edited));
        }
        let mut deleted = lines.clone();
        deleted.remove(i);
        variants.push((format!("delete {i}"), deleted));
        let mut swapped = lines.clone();
        swapped.swap(i, i + 1);
        variants.push((format!("swap {i}"), swapped));
        let mut inserted = lines.clone();
        inserted.insert(i + 1, lines[1].clone());
        variants.push((format!("insert after {i}"), inserted));
        for (what, variant) in variants {
            let text = reseal(&variant, Some(&key));
            let v = verify(&text, &o);
            assert!(!v.ok(), "{what}: {}", v.summary());
            assert!(
                kinds(&v)
                    .iter()
                    .all(|k| matches!(k, ProblemKind::BadCheckpoint | ProblemKind::Unverifiable)),
                "{what}: the chain itself is sound, the checkpoints catch it: {:?}",
                v.problems
            );
            cases += 1;
        }
    }
    assert!(cases > 40);
}

#[test]
fn with_a_vkey_a_cut_after_a_checkpoint_passes_and_is_said_so_an_expected_checkpoint_catches_it() {
    let b = sample();
    let lines = b.lines();
    let cut = reseal(&lines[..8], Some(&hmac_key()));
    let v = verify(&cut, &opts(&[example_vkey()], None));
    assert!(v.ok(), "{}", v.summary());
    assert!(v.summary().contains("end not authenticated"));
    assert!(
        v.summary().contains("final 1 entries not covered"),
        "{}",
        v.summary()
    );

    // The latest checkpoint, held elsewhere.
    let held = b.entries[11]
        .payload
        .get("note")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let expected = expected_checkpoint(&held, &[example_vkey()]).unwrap();
    let v = verify(&cut, &opts(&[example_vkey()], Some(expected.clone())));
    assert_eq!(kinds(&v), [ProblemKind::Incomplete], "{}", v.summary());
    assert!(
        v.summary()
            .contains("log shorter than the expected checkpoint (truncated or rolled back)")
    );
    assert_eq!(
        v.checkpoints.unwrap().expected,
        Some(ExpectedOutcome::Shorter)
    );

    // Rolled back to the first checkpoint and rewritten past the held one's size.
    let mut rewritten = lines[..7].to_vec();
    let mut forged = ChainBuilder::example();
    forged.events(12);
    rewritten.extend(forged.lines()[1..].iter().cloned());
    let text = reseal(&rewritten, Some(&hmac_key()));
    let v = verify(&text, &opts(&[example_vkey()], Some(expected.clone())));
    assert!(
        kinds(&v).contains(&ProblemKind::Inconsistent),
        "{}",
        v.summary()
    );
    assert!(
        v.summary()
            .contains("log inconsistent with the expected checkpoint")
    );

    // The honest log, grown since, is consistent with it; the end is anchored.
    let mut grown = sample();
    grown.events(2).checkpoint();
    let v = verify(&grown.text(), &opts(&[example_vkey()], Some(expected)));
    assert!(v.ok(), "{}", v.summary());
    assert_eq!(
        v.checkpoints.as_ref().unwrap().expected,
        Some(ExpectedOutcome::Consistent)
    );
    assert!(
        v.summary()
            .contains("consistent with the expected checkpoint")
    );
}

#[test]
fn an_expected_checkpoint_needs_a_valid_signature_when_keys_are_given_and_the_same_origin() {
    let b = sample();
    let held = b.entries[6]
        .payload
        .get("note")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let mut forged = held.clone();
    forged.replace_range(held.len() - 10..held.len() - 5, "AAAAA");
    assert!(expected_checkpoint(&forged, &[example_vkey()]).is_err());
    // Another log's checkpoint, properly signed by its own key.
    let mut other = ChainBuilder::new(
        Some("other.example/log"),
        signer_for("other.example/log", 9),
    );
    other.events(5);
    let note = other.note();
    let vkeys = [example_vkey(), other.signer.verifier()];
    let expected = expected_checkpoint(&note, &vkeys).unwrap();
    let v = verify(&b.text(), &opts(&vkeys, Some(expected)));
    assert_eq!(kinds(&v), [ProblemKind::Inconsistent], "{}", v.summary());
    assert!(v.summary().contains("for origin \"other.example/log\""));
}

/// Rewrites the checkpoint entry at `at` with `payload` and re-seals the chain.
fn with_checkpoint(b: &ChainBuilder, at: usize, payload: Value) -> String {
    let mut lines = b.lines();
    let mut v = json::parse(&lines[at]).unwrap();
    v.set("payload", payload);
    lines[at] = json::to_canonical(&v);
    reseal(&lines, Some(&hmac_key()))
}

#[test]
fn forged_notes_wrong_key_ids_other_sizes_other_roots_and_other_origins_are_refused() {
    let b = sample();
    let o = opts(&[example_vkey()], None);
    let at = 6usize;
    let prefix = {
        let mut p = ChainBuilder::example();
        p.events(5);
        p
    };
    let root = prefix.tree.root();
    let refused = |what: &str, payload: Value, needle: &str| {
        let v = verify(&with_checkpoint(&b, at, payload), &o);
        assert!(
            kinds(&v).contains(&ProblemKind::BadCheckpoint),
            "{what}: {}",
            v.summary()
        );
        assert!(
            v.problems.iter().any(|p| p.detail.contains(needle)),
            "{what}: {needle:?} in {:?}",
            v.problems
        );
    };
    // A note signed by an intruder's key under the log's name (another key id).
    let intruder = signer_for(ORIGIN, 3);
    let body = Checkpoint::new(ORIGIN, 6, root).unwrap().body();
    refused(
        "forged note",
        checkpoint_payload(6, &root, &intruder.sign(&body).unwrap()),
        "no valid signature by any of the given keys",
    );
    // The log's signature with its key id bytes changed.
    let good = prefix.note();
    let (text, sig) = good.split_once("\u{2014} ").unwrap();
    let (name, b64) = sig.trim_end().split_once(' ').unwrap();
    use base64::Engine;
    let mut blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    blob[0] ^= 1;
    let wrong_id = format!(
        "{text}\u{2014} {name} {}\n",
        base64::engine::general_purpose::STANDARD.encode(&blob)
    );
    refused(
        "wrong key id",
        checkpoint_payload(6, &root, &wrong_id),
        "no valid signature",
    );
    // A flipped signature byte.
    let mut blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    blob[10] ^= 1;
    let flipped = format!(
        "{text}\u{2014} {name} {}\n",
        base64::engine::general_purpose::STANDARD.encode(&blob)
    );
    refused(
        "bad signature",
        checkpoint_payload(6, &root, &flipped),
        "does not verify",
    );
    // A validly signed checkpoint of size 5 placed at seq 6.
    let mut short = ChainBuilder::example();
    short.events(4);
    refused(
        "tree_size != seq",
        checkpoint_payload(5, &short.tree.root(), &short.note()),
        "disagrees with its seq",
    );
    // A validly signed checkpoint over another tree of size 6.
    let mut other_tree = ChainBuilder::example();
    other_tree.push("note", Value::from("x")).events(4);
    refused(
        "root of another tree",
        checkpoint_payload(6, &other_tree.tree.root(), &other_tree.note()),
        "root is not the root of the tree",
    );
    // The payload's root differs from the note's.
    refused(
        "payload root != note root",
        checkpoint_payload(6, &other_tree.tree.root(), &good),
        "differs from the payload's",
    );
    // Another log's checkpoint (its own origin and key) over this very tree.
    let other = signer_for("other.example/log", 9);
    let body = Checkpoint::new("other.example/log", 6, root)
        .unwrap()
        .body();
    let v = verify(
        &with_checkpoint(
            &b,
            at,
            checkpoint_payload(6, &root, &other.sign(&body).unwrap()),
        ),
        &opts(&[example_vkey(), other.verifier()], None),
    );
    assert!(
        v.problems
            .iter()
            .any(|p| p.detail.contains("not the log's origin")),
        "{:?}",
        v.problems
    );
    // Shapes.
    for (payload, needle) in [
        (
            json::parse(r#"{"tree_size": -1}"#).unwrap(),
            "tree_size must be",
        ),
        (
            json::parse(r#"{"tree_size": 6, "root": "AAAA", "note": ""}"#).unwrap(),
            "root must be",
        ),
        (json::parse(r#"[]"#).unwrap(), "payload must be an object"),
    ] {
        refused("shape", payload, needle);
    }
}

#[test]
fn a_whole_log_of_another_origin_does_not_verify_with_this_origins_key() {
    let mut other = ChainBuilder::new(
        Some("other.example/log"),
        signer_for("other.example/log", 9),
    );
    other.events(3).checkpoint();
    let v = verify(&other.text(), &opts(&[example_vkey()], None));
    assert!(
        kinds(&v).contains(&ProblemKind::BadCheckpoint),
        "{}",
        v.summary()
    );
    // Its own key, named for its origin, verifies it.
    let v = verify(&other.text(), &opts(&[other.signer.verifier()], None));
    assert!(v.ok(), "{}", v.summary());
}

#[test]
fn the_parallel_verifier_checks_checkpoints_as_the_sequential_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = ChainBuilder::example();
    for _ in 0..8 {
        b.events(2000).checkpoint();
    }
    b.events(7);
    let path = dir.path().join("big.jsonl");
    b.write(&path);
    assert!(
        std::fs::metadata(&path).unwrap().len() > 4 << 20,
        "large enough for the parallel path"
    );
    let o = opts(&[example_vkey()], None);
    let par = verify_path(&path, &o).unwrap();
    let seq = verify(&b.text(), &o);
    assert!(
        par.ok() && seq.ok(),
        "{} / {}",
        par.summary(),
        seq.summary()
    );
    assert_eq!(
        par.summary(),
        seq.summary().replace("test", &path.display().to_string())
    );
    let c = par.checkpoints.unwrap();
    assert_eq!((c.seen, c.verified, c.uncovered), (8, 8, 7));

    // One edited, re-sealed entry deep in the file is caught on the parallel path too.
    let mut lines = b.lines();
    lines[5000] = lines[5000].replace("credit_score", "credit_sc0re");
    std::fs::write(&path, reseal(&lines, Some(&hmac_key()))).unwrap();
    let par = verify_path(&path, &o).unwrap();
    assert!(
        kinds(&par).contains(&ProblemKind::BadCheckpoint),
        "{}",
        par.summary()
    );
}

/// Three segments: `log-000001.jsonl` (seq 0..=6, checkpoint at 6), `log-000002.jsonl`
/// (segment_open at 7, retention deleting segment 1, events, checkpoint at 13),
/// `log-000003.jsonl` (segment_open at 14, events, checkpoint at 18, 2 events).
fn segmented(dir: &std::path::Path) -> ChainBuilder {
    let mut b = ChainBuilder::example();
    b.events(5).checkpoint();
    let cut1 = b.entries.len();
    b.segment_open("log-000001.jsonl", "log-000002.jsonl");
    b.push(
        "retention",
        json::parse(r#"{"deleted": [{"segment": "log-000001.jsonl"}]}"#).unwrap(),
    );
    b.events(4).checkpoint();
    let cut2 = b.entries.len();
    b.segment_open("log-000002.jsonl", "log-000003.jsonl");
    b.events(3).checkpoint().events(2);
    let text = |r: std::ops::Range<usize>| -> String {
        b.entries[r].iter().map(|e| e.to_line()).collect()
    };
    std::fs::write(dir.join("log-000001.jsonl"), text(0..cut1)).unwrap();
    std::fs::write(dir.join("log-000002.jsonl"), text(cut1..cut2)).unwrap();
    std::fs::write(dir.join("log-000003.jsonl"), text(cut2..b.entries.len())).unwrap();
    b
}

fn note_at(b: &ChainBuilder, seq: usize) -> Checkpoint {
    let note = b.entries[seq]
        .payload
        .get("note")
        .unwrap()
        .as_str()
        .unwrap();
    expected_checkpoint(note, &[example_vkey()]).unwrap()
}

#[test]
fn a_directory_of_segments_is_one_tree_and_survives_deleted_segments() {
    use acttrace::verify::verify_dir;
    let tmp = tempfile::tempdir().unwrap();
    let b = segmented(tmp.path());
    let v = verify_dir(tmp.path(), &opts(&[example_vkey()], Some(note_at(&b, 13)))).unwrap();
    assert!(v.ok(), "{}", v.summary());
    let c = v.checkpoints.as_ref().unwrap();
    assert_eq!((c.seen, c.verified, c.uncovered), (3, 3, 2));
    assert_eq!(c.expected, Some(ExpectedOutcome::Consistent));
    assert_eq!(v.to_json()["checkpoints"]["last_checked_size"], 18);

    // Retention deleted the first segment: the second starts from its segment_open's tree.
    std::fs::remove_file(tmp.path().join("log-000001.jsonl")).unwrap();
    let v = verify_dir(tmp.path(), &opts(&[example_vkey()], Some(note_at(&b, 13)))).unwrap();
    assert!(v.ok(), "{}", v.summary());
    assert_eq!(v.checkpoints.as_ref().unwrap().verified, 2);
    // A checkpoint inside the deleted segment cannot be checked: said so, not ok.
    let v = verify_dir(tmp.path(), &opts(&[example_vkey()], Some(note_at(&b, 6)))).unwrap();
    assert!(!v.ok());
    assert!(
        v.problems
            .iter()
            .any(|p| p.kind == ProblemKind::Unverifiable
                && p.detail.contains("reaches into deleted segments")),
        "{:?}",
        v.problems
    );

    // The last segment cut: shorter than the expected checkpoint at 18.
    std::fs::remove_file(tmp.path().join("log-000003.jsonl")).unwrap();
    let v = verify_dir(tmp.path(), &opts(&[example_vkey()], Some(note_at(&b, 18)))).unwrap();
    assert!(
        v.problems.iter().any(|p| p.kind == ProblemKind::Incomplete
            && p.detail
                .contains("log shorter than the expected checkpoint")),
        "{:?}",
        v.problems
    );
}

#[test]
fn a_segment_open_tree_that_is_not_the_previous_segments_is_refused() {
    use acttrace::verify::verify_dir;
    let tmp = tempfile::tempdir().unwrap();
    segmented(tmp.path());
    // Rewrite segment 3's recorded frontier (its checkpoint then fails too, being over it).
    let path = tmp.path().join("log-000003.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut open = json::parse(&lines[0]).unwrap();
    let mut payload = open.get("payload").unwrap().clone();
    payload.set(
        "frontier",
        json::parse(&format!(
            r#"["{}", "{}", "{}"]"#,
            "ab".repeat(32),
            "cd".repeat(32),
            "ef".repeat(32)
        ))
        .unwrap(),
    );
    open.set("payload", payload);
    lines[0] = json::to_canonical(&open);
    // Re-hash segment 3 from segment 2's head (the link stays sound).
    let prev = open.get("prev_hash").unwrap().as_str().unwrap().to_owned();
    let mut out = String::new();
    let mut prev_hash = prev;
    for line in &lines {
        let v = json::parse(line).unwrap();
        let e = acttrace::chain::SealedEntry::seal(
            acttrace::chain::HashAlg::Sha256,
            Some(&hmac_key()),
            v.get("seq").unwrap().as_u64().unwrap(),
            v.get("ts").unwrap().as_str().unwrap().to_owned(),
            v.get("type").unwrap().as_str().unwrap().to_owned(),
            v.get("payload").unwrap().clone(),
            prev_hash,
        );
        prev_hash = e.hash.clone();
        out.push_str(&e.to_line());
    }
    std::fs::write(&path, out).unwrap();
    let v = verify_dir(tmp.path(), &opts(&[example_vkey()], None)).unwrap();
    assert!(!v.ok());
    assert!(
        v.problems.iter().any(|p| p
            .detail
            .contains("is not the tree at the end of log-000002.jsonl")),
        "{:?}",
        v.problems
    );
}
