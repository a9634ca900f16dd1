//! Excerpts that prove membership and completeness (issue #13): `decision_end` digests its
//! decision's entries, an excerpt pack of a log with checkpoints carries the checkpoint and a
//! c2sp.org/tlog-proof@v1 per entry, and `verify-excerpt --vkey` refuses anything missing,
//! added, altered, or not reached by the checkpoint.

#[path = "common/checkpointed.rs"]
mod checkpointed;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use acttrace::checkpoint::{ProofTree, TlogProof};
use acttrace::export::{
    ExcerptVerification, ExportOptions, Filter, Format, export_path, verify_excerpt_vkeys,
};
use acttrace::verify::VerifyOptions;
use checkpointed::{ChainBuilder, impostor, raw, signer, vkey, vkey_text};
use sha2::{Digest, Sha256};
use tracing_subscriber::prelude::*;

const D1: &str = "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1";
const D2: &str = "d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2";
const NESTED: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";

/// `(entries_digest, entries_count)` of decision `id`, recomputed from parsed log lines as
/// docs/FORMAT.md defines it (serde_json and sha2 only).
fn recompute(entries: &[serde_json::Value], id: &str) -> (String, u64) {
    let mut h = Sha256::new();
    let mut n = 0;
    let mut started = false;
    for e in entries {
        let p = &e["payload"];
        let own = p["decision_id"].as_str() == Some(id);
        if e["type"] == "decision" && own {
            started = true;
        }
        if !started {
            continue;
        }
        if e["type"] == "decision_end" && own {
            let digest = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
            return (digest, n);
        }
        let opens_child = e["type"] == "decision" && p["parent_decision_id"].as_str() == Some(id);
        if own || opens_child {
            h.update(e["seq"].as_u64().unwrap().to_be_bytes());
            h.update(raw(e["hash"].as_str().unwrap()));
            n += 1;
        }
    }
    panic!("decision {id} does not end");
}

/// A log: D1 (with a nested decision) interleaved with D2, a checkpoint in the middle of D1,
/// D1's end, two checkpoints after it, a tail. Returns the builder and the seqs of D1's
/// `decision_end` and of the checkpoints.
fn log(key: Option<acttrace::SigningKey>) -> (ChainBuilder, u64, Vec<u64>) {
    let mut b = ChainBuilder::new(key, true);
    b.decision(D1, None);
    b.call(Some(D1), "score");
    b.decision(D2, None);
    b.call(Some(D2), "pay");
    b.call(None, "heartbeat");
    let early = b.checkpoint();
    b.decision(NESTED, Some(D1));
    b.call(Some(NESTED), "lookup");
    b.end(NESTED);
    b.call(Some(D1), "explain");
    b.end(D2);
    let end = b.end(D1);
    b.call(None, "heartbeat");
    let first = b.checkpoint();
    b.call(None, "later");
    let second = b.checkpoint();
    b.call(None, "tail");
    (b, end, vec![early, first, second])
}

fn export(
    dir: &Path,
    b: &ChainBuilder,
    filter: Filter,
    key: Option<acttrace::SigningKey>,
) -> PathBuf {
    let path = dir.join("audit.jsonl");
    b.write(&path);
    let out = dir.join("excerpt.jsonl");
    let mut opts = ExportOptions::new("eu_ai_act", Format::Jsonl);
    opts.filter = filter;
    opts.key = key;
    let report = export_path(&path, &out, &opts).unwrap();
    assert!(report.excerpt);
    out
}

fn decision(id: &str) -> Filter {
    Filter {
        decision: Some(id.into()),
        ..Filter::default()
    }
}

fn verify(pack: &Path) -> ExcerptVerification {
    verify_excerpt_vkeys(pack, &VerifyOptions::default(), &[vkey()]).unwrap()
}

fn lines(pack: &Path) -> Vec<serde_json::Value> {
    common::entries(pack)
}

fn write_lines(pack: &Path, lines: &[serde_json::Value]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(pack, text).unwrap();
}

/// Rewrites `_meta.excerpt.selected` to list the entries as they now are (possible without
/// the HMAC key: an unsigned pack's header is unauthenticated).
fn reselect(lines: &mut [serde_json::Value]) {
    let selected: Vec<serde_json::Value> = lines[1..]
        .iter()
        .map(|e| serde_json::json!([e["seq"], e["hash"]]))
        .collect();
    lines[0]["_meta"]["excerpt"]["selected"] = selected.into();
}

fn problems(v: &ExcerptVerification) -> String {
    v.problems.join("\n")
}

#[test]
fn the_writers_decision_end_states_the_digest_recomputed_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (layer, guard) = acttrace::AuditLayer::builder()
        .system("digest-test")
        .path(&path)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let outer = tracing::info_span!("outer", audit.decision = "loan.approve");
        let _o = outer.enter();
        acttrace::tool_call!(name = "score");
        {
            let inner = tracing::info_span!("inner", audit.decision = "loan.check");
            let _i = inner.enter();
            acttrace::tool_call!(name = "lookup");
            // A secret is redacted and flagged: the flag carries the decision id too.
            acttrace::tool_call!(name = "call", arguments = "key AKIAIOSFODNN7EXAMPLE");
        }
        acttrace::tool_call!(name = "explain");
    });
    guard.shutdown(std::time::Duration::from_secs(10)).unwrap();
    let entries = common::entries(&path);
    let ends: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["type"] == "decision_end")
        .collect();
    assert_eq!(ends.len(), 2);
    for end in ends {
        let id = end["payload"]["decision_id"].as_str().unwrap();
        let (digest, count) = recompute(&entries, id);
        assert_eq!(end["payload"]["entries_digest"], digest.as_str(), "{id}");
        assert_eq!(end["payload"]["entries_count"], count, "{id}");
    }
    // The inner decision: its opening, two calls and the flag on the redacted call. The outer:
    // its opening, two calls and the inner decision's opening.
    assert_eq!(
        entries[..]
            .iter()
            .filter(|e| e["type"] == "policy_flag")
            .count(),
        1
    );
    let counts: Vec<u64> = entries
        .iter()
        .filter(|e| e["type"] == "decision_end")
        .map(|e| e["payload"]["entries_count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [4, 4]);
}

#[test]
fn a_complete_decision_excerpt_is_proven_against_the_first_checkpoint_after_it() {
    for hmac in [None, Some(common::key())] {
        let dir = tempfile::tempdir().unwrap();
        let (b, end, checkpoints) = log(hmac.clone());
        let pack = export(dir.path(), &b, decision(D1), hmac.clone());
        let ls = lines(&pack);
        let cp = &ls[0]["_meta"]["excerpt"]["checkpoint"];
        // The first checkpoint after the excerpt's last entry (D1's decision_end).
        assert_eq!(cp["seq"], checkpoints[1]);
        assert_eq!(cp["tree_size"], checkpoints[1]);
        assert!(checkpoints[1] > end);
        assert!(
            cp["chosen"]
                .as_str()
                .unwrap()
                .contains("first checkpoint after")
        );
        let note = cp["note"].as_str().unwrap();
        assert_eq!(
            note,
            b.at(checkpoints[1])
                .payload
                .get("note")
                .unwrap()
                .as_str()
                .unwrap()
        );
        // Every entry, audit_open included, carries a proof that verifies on its own.
        let seqs: Vec<u64> = ls[1..].iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        let d1_seqs: Vec<u64> = b
            .entries
            .iter()
            .filter(|e| {
                let id = e.payload.get("decision_id").and_then(|v| v.as_str());
                e.seq == 0 || id == Some(D1) || id == Some(NESTED)
            })
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, d1_seqs);
        for e in &ls[1..] {
            let proof = TlogProof::parse(e["tlog_proof"].as_str().unwrap()).unwrap();
            assert_eq!(proof.index, e["seq"].as_u64().unwrap());
            let checkpoint = proof
                .verify(&raw(e["hash"].as_str().unwrap()), &[vkey()])
                .unwrap();
            assert_eq!(checkpoint.size, checkpoints[1]);
        }
        // The decision_end's digest, recomputed from the pack's own lines.
        let (digest, count) = recompute(&ls[1..], D1);
        let end_line = ls.iter().find(|e| e["seq"] == end).unwrap();
        assert_eq!(end_line["payload"]["entries_digest"], digest.as_str());
        assert_eq!(end_line["payload"]["entries_count"], count);

        let opts = VerifyOptions {
            key: hmac.clone(),
            ..VerifyOptions::default()
        };
        let v = verify_excerpt_vkeys(&pack, &opts, &[vkey()]).unwrap();
        assert!(v.ok(), "{}", problems(&v));
        assert_eq!(v.proven, seqs.len() as u64);
        assert_eq!(v.checkpoint_size, Some(checkpoints[1]));
        assert!(v.not_checked.is_empty(), "{:?}", v.not_checked);
        let s = v.summary();
        assert!(
            s.contains(&format!("decision {D1} complete: {count} entries")),
            "{s}"
        );
        assert!(s.contains("nested"), "{s}");
        assert!(s.contains("origin proven"), "{s}");

        // Without a verifier key: still ok, and it says what it did not check.
        let v = verify_excerpt_vkeys(&pack, &opts, &[]).unwrap();
        assert!(v.ok(), "{}", problems(&v));
        assert!(
            v.summary()
                .contains("not checked: the checkpoint's signature"),
            "{}",
            v.summary()
        );
    }
}

#[test]
fn an_excerpt_with_an_entry_removed_is_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let (b, end, _) = log(None);
    let pack = export(dir.path(), &b, decision(D1), None);
    let mut ls = lines(&pack);
    // Remove D1's "explain" call (its neighbours in the excerpt are not adjacent in the chain,
    // so no link check sees it): of D1's opening, "score", the nested opening and "explain".
    let at = ls
        .iter()
        .position(|e| e["payload"]["name"] == "explain")
        .unwrap();
    ls.remove(at);
    reselect(&mut ls);
    write_lines(&pack, &ls);
    let v = verify(&pack);
    let p = problems(&v);
    assert!(
        p.contains(&format!(
            "incomplete: decision {D1}: its decision_end (seq {end}) counts 4 entries, the \
             excerpt holds 3 of them"
        )),
        "{p}"
    );
    assert_eq!(v.problem_count, 1, "{p}");
}

#[test]
fn an_entry_of_another_decision_inserted_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _, _) = log(None);
    let pack = export(dir.path(), &b, decision(D1), None);
    let mut ls = lines(&pack);
    // D2's "pay" call, with a valid proof against the same checkpoint (from D2's own excerpt,
    // whose last entry is before D1's end: made here with the library).
    let pay = b
        .entries
        .iter()
        .find(|e| e.payload.get("name").and_then(|v| v.as_str()) == Some("pay"))
        .unwrap();
    let size = ls[0]["_meta"]["excerpt"]["checkpoint"]["tree_size"]
        .as_u64()
        .unwrap();
    let mut tree = ProofTree::new();
    for e in &b.entries[..size as usize] {
        tree.push(&raw(&e.hash));
    }
    let proof = TlogProof {
        extra: None,
        index: pay.seq,
        hashes: tree.inclusion_proof(pay.seq, size).unwrap(),
        checkpoint: ls[0]["_meta"]["excerpt"]["checkpoint"]["note"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    let mut line: serde_json::Value = serde_json::from_str(&pay.to_line()).unwrap();
    line["tlog_proof"] = proof.to_text().into();
    let at = ls
        .iter()
        .position(|e| e["seq"].as_u64().is_some_and(|s| s > pay.seq))
        .unwrap();
    ls.insert(at, line);
    reselect(&mut ls);
    write_lines(&pack, &ls);
    let v = verify(&pack);
    let p = problems(&v);
    assert_eq!(v.problem_count, 1, "{p}");
    assert!(
        p.contains(&format!(
            "seq {} belongs to decision {D2}, not to decision {D1} or one nested in it",
            pay.seq
        )),
        "{p}"
    );
}

#[test]
fn a_flipped_proof_byte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _, _) = log(None);
    let pack = export(dir.path(), &b, decision(D1), None);
    let mut ls = lines(&pack);
    let mut proof = TlogProof::parse(ls[3]["tlog_proof"].as_str().unwrap()).unwrap();
    proof.hashes[0][7] ^= 0x10;
    ls[3]["tlog_proof"] = proof.to_text().into();
    write_lines(&pack, &ls);
    let seq = ls[3]["seq"].as_u64().unwrap();
    // With or without the vkey: the proof no longer leads to the pack's root.
    for vkeys in [vec![vkey()], vec![]] {
        let v = verify_excerpt_vkeys(&pack, &VerifyOptions::default(), &vkeys).unwrap();
        let p = problems(&v);
        assert_eq!(v.problem_count, 1, "{p}");
        assert!(
            p.contains(&format!(
                "seq {seq}: not proven included in the checkpoint: inclusion proof: proof does \
                 not match the root hash"
            )),
            "{p}"
        );
    }
}

#[test]
fn a_checkpoint_before_the_decision_end_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (b, end, checkpoints) = log(None);
    let pack = export(dir.path(), &b, decision(D1), None);
    let mut ls = lines(&pack);
    // Swap in the checkpoint signed in the middle of D1, with valid proofs for what it covers.
    let early = checkpoints[0];
    let note = b
        .at(early)
        .payload
        .get("note")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    let mut tree = ProofTree::new();
    for e in &b.entries[..early as usize] {
        tree.push(&raw(&e.hash));
    }
    ls[0]["_meta"]["excerpt"]["checkpoint"]["note"] = note.clone().into();
    ls[0]["_meta"]["excerpt"]["checkpoint"]["tree_size"] = early.into();
    for e in &mut ls[1..] {
        let seq = e["seq"].as_u64().unwrap();
        if seq < early {
            let proof = TlogProof {
                extra: None,
                index: seq,
                hashes: tree.inclusion_proof(seq, early).unwrap(),
                checkpoint: note.clone(),
            };
            e["tlog_proof"] = proof.to_text().into();
        } else {
            e.as_object_mut().unwrap().remove("tlog_proof");
        }
    }
    write_lines(&pack, &ls);
    let v = verify(&pack);
    let p = problems(&v);
    assert!(
        p.contains(&format!(
            "incomplete: the checkpoint's tree size {early} does not reach decision {D1}'s \
             decision_end at seq {end}"
        )),
        "{p}"
    );
    assert!(p.contains(&format!("seq {end}: no inclusion proof")), "{p}");
    // What the early checkpoint does cover is proven.
    assert_eq!(
        v.proven,
        ls[1..]
            .iter()
            .filter(|e| e["seq"].as_u64().unwrap() < early)
            .count() as u64
    );
}

#[test]
fn a_note_signed_by_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _, _) = log(None);
    let pack = export(dir.path(), &b, decision(D1), None);
    let mut ls = lines(&pack);
    let size = ls[0]["_meta"]["excerpt"]["checkpoint"]["tree_size"]
        .as_u64()
        .unwrap();
    let forged = b.note(size, &impostor());
    let real = ls[0]["_meta"]["excerpt"]["checkpoint"]["note"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(forged, real);
    ls[0]["_meta"]["excerpt"]["checkpoint"]["note"] = forged.clone().into();
    for e in &mut ls[1..] {
        let text = e["tlog_proof"].as_str().unwrap().replace(&real, &forged);
        e["tlog_proof"] = text.into();
    }
    write_lines(&pack, &ls);
    let v = verify(&pack);
    let p = problems(&v);
    assert_eq!(v.problem_count, 1, "{p}");
    assert!(
        p.starts_with(
            "checkpoint not verified: note has no valid signature by any of the given keys"
        ),
        "{p}"
    );
    // The impostor's own key verifies it: trust is the verifier key given, nothing else.
    let v =
        verify_excerpt_vkeys(&pack, &VerifyOptions::default(), &[impostor().verifier()]).unwrap();
    assert!(v.ok(), "{}", problems(&v));
    assert!(signer().verifier() != impostor().verifier());
}

#[test]
fn without_a_covering_checkpoint_the_pack_says_why_and_the_vkey_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = ChainBuilder::new(None, true);
    b.checkpoint();
    b.decision(D1, None);
    b.call(Some(D1), "score");
    let end = b.end(D1);
    let pack = export(dir.path(), &b, decision(D1), None);
    let ls = lines(&pack);
    let ex = &ls[0]["_meta"]["excerpt"];
    assert!(ex["checkpoint"].is_null());
    let why = ex["checkpoint_missing"].as_str().unwrap();
    assert!(
        why.contains(&format!(
            "no checkpoint holds the excerpt's last entry (seq {end})"
        )),
        "{why}"
    );
    assert!(ls[1].get("tlog_proof").is_none());
    let v = verify(&pack);
    let p = problems(&v);
    assert!(
        p.contains("incomplete: membership and completeness: the pack carries no checkpoint (no checkpoint holds"),
        "{p}"
    );
    // Without a key it verifies as before, saying what it could not check.
    let v = verify_excerpt_vkeys(&pack, &VerifyOptions::default(), &[]).unwrap();
    assert!(v.ok(), "{}", problems(&v));
    assert!(
        v.summary()
            .contains("not checked: membership and completeness"),
        "{}",
        v.summary()
    );
}

#[test]
fn an_audit_open_without_the_origin_does_not_prove_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = ChainBuilder::new(None, false);
    b.decision(D1, None);
    b.end(D1);
    b.checkpoint();
    // The log's own verifier refuses a checkpoint in a log without an origin, so only an export
    // that skips verification can make this pack; the excerpt check must refuse it on its own.
    let path = dir.path().join("audit.jsonl");
    b.write(&path);
    let pack = dir.path().join("excerpt.jsonl");
    let mut opts = ExportOptions::new("eu_ai_act", Format::Jsonl);
    opts.filter = decision(D1);
    assert!(
        export_path(&path, &pack, &opts).is_err(),
        "a checkpoint in a log without an origin must fail verification"
    );
    opts.allow_unverified = true;
    export_path(&path, &pack, &opts).unwrap();
    let p = problems(&verify(&pack));
    assert!(
        p.contains("audit_open (seq 0) declares no origin, so the checkpoint (origin acttrace.example/loan-desk/prod-1) is not proven to be this log's"),
        "{p}"
    );
}

#[test]
fn a_time_range_excerpt_is_proven_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _, _) = log(None);
    let f = Filter {
        from: Some(b.at(3).ts.clone()),
        to: Some(b.at(9).ts.clone()),
        decision: None,
    };
    let pack = export(dir.path(), &b, f, None);
    let v = verify(&pack);
    assert!(v.ok(), "{}", problems(&v));
    assert!(v.summary().contains("no entry missing"), "{}", v.summary());
    let mut ls = lines(&pack);
    let gone = ls.remove(4);
    reselect(&mut ls);
    write_lines(&pack, &ls);
    let p = problems(&verify(&pack));
    let seq = gone["seq"].as_u64().unwrap();
    assert!(
        p.contains(&format!(
            "incomplete: seq {seq}..{seq} are missing between the excerpt's entries"
        )),
        "{p}"
    );
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn verify_excerpt_with_vkey_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (b, end, _) = log(None);
    let path = dir.path().join("audit.jsonl");
    b.write(&path);
    let pack = dir.path().join("d1.jsonl");
    let o = run(&[
        "export",
        path.to_str().unwrap(),
        "--framework",
        "gdpr",
        "-o",
        pack.to_str().unwrap(),
        "--decision",
        D1,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("every entry proven included in the checkpoint at seq"),
        "{}",
        text(&o)
    );
    let pack = pack.to_str().unwrap();
    let vk = vkey_text();
    let o = run(&["verify-excerpt", pack, "--vkey", &vk]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("decision {D1} complete")),
        "{}",
        text(&o)
    );
    // One space, not the source's indentation (the fuzz run saw eighteen).
    assert!(
        text(&o).contains("entries proven included, origin proven"),
        "{}",
        text(&o)
    );
    let keys = dir.path().join("vkeys");
    std::fs::write(&keys, format!("# the log's key\n\n{vk}\n")).unwrap();
    let o = run(&[
        "verify-excerpt",
        pack,
        "--vkey-file",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&["verify-excerpt", pack]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("not checked: the checkpoint's signature"),
        "{}",
        text(&o)
    );

    // An entry removed: exit 1, "incomplete".
    let mut ls = lines(Path::new(pack));
    let at = ls
        .iter()
        .position(|e| e["payload"]["name"] == "explain")
        .unwrap();
    ls.remove(at);
    reselect(&mut ls);
    write_lines(Path::new(pack), &ls);
    let o = run(&["verify-excerpt", pack, "--vkey", &vk]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "incomplete: decision {D1}: its decision_end (seq {end})"
        )),
        "{}",
        text(&o)
    );

    // A malformed key is a usage error naming the file and line.
    std::fs::write(&keys, "not-a-key\n").unwrap();
    let o = run(&[
        "verify-excerpt",
        pack,
        "--vkey-file",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("vkeys: line 1: invalid key"),
        "{}",
        text(&o)
    );
}

#[test]
fn cosignatures_chained_for_the_chosen_checkpoint_join_its_note() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = ChainBuilder::new(None, true);
    b.decision(D1, None);
    b.end(D1);
    let size = b.checkpoint();
    // A witness's cosignature (key id, timestamp, signature: 76 bytes, opaque here: a verifier
    // without the witness key ignores the line), chained later, and one for another tree size.
    use base64::Engine;
    let sig = base64::engine::general_purpose::STANDARD.encode([1u8; 76]);
    let line = format!("\u{2014} witness.example/w1 {sig}");
    b.push(
        "cosignature",
        serde_json::json!({"witness": "witness.example/w1", "tree_size": size, "signature_line": &line}),
    );
    b.push(
        "cosignature",
        serde_json::json!({"witness": "witness.example/w2", "tree_size": size + 7,
            "signature_line": format!("\u{2014} witness.example/w2 {sig}")}),
    );
    let pack = export(dir.path(), &b, decision(D1), None);
    let ls = lines(&pack);
    let cp = &ls[0]["_meta"]["excerpt"]["checkpoint"];
    assert_eq!(cp["cosignatures"], 1);
    let note = cp["note"].as_str().unwrap();
    assert!(note.ends_with(&format!("{line}\n")), "{note}");
    assert!(!note.contains("w2"), "{note}");
    let v = verify(&pack);
    assert!(v.ok(), "{}", problems(&v));
}

#[test]
fn an_unverified_export_of_a_log_with_entries_missing_refuses_the_proofs_without_panicking() {
    // Found by fuzzing the CLI: the excerpt's proof tree was built by slicing the log at the
    // checkpoint's tree size, past the end of a log with entries cut out.
    let dir = tempfile::tempdir().unwrap();
    let (b, end, checkpoints) = log(None);
    let chosen = checkpoints[1];
    assert!(end < chosen);
    let path = dir.path().join("audit.jsonl");
    b.write(&path);
    // Only the opening entry, D1's end and the checkpoint after it are left: three entries,
    // where the checkpoint covers `chosen` of them.
    let kept: String = common::entries(&path)
        .iter()
        .filter(|e| [0, end, chosen].contains(&e["seq"].as_u64().unwrap()))
        .map(|e| format!("{e}\n"))
        .collect();
    std::fs::write(&path, kept).unwrap();
    let pack = dir.path().join("excerpt.jsonl");
    let mut opts = ExportOptions::new("eu_ai_act", Format::Jsonl);
    opts.filter = decision(D1);
    opts.allow_unverified = true;
    let err = export_path(&path, &pack, &opts).unwrap_err().to_string();
    assert!(
        err.contains(&format!("checkpoint at seq {chosen}"))
            && err.contains(&format!("does not hold entries 0..{}", chosen - 1))
            && err.contains("once each, in order"),
        "{err}"
    );
}
