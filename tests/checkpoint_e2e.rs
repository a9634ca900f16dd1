//! Issue #13 end to end, on logs the LAYER writes (not hand-built): a layer with a checkpoint
//! key (the worked example's published test key) and a file sink writes decisions; then the
//! `acttrace` binary verifies it with the public key only, catches every tamper of covered
//! entries even re-hashed and re-signed with the HMAC key, catches truncation below a sink's
//! checkpoint, proves entries (checked by `verify-proof` and by Go when present), exports a
//! decision excerpt that verifies and that says "incomplete" without one of its entries; and
//! the reference verifier accepts the log. With the `witness` feature, a log the layer writes
//! with a `WitnessSink` to a witness on 127.0.0.1 (tests/common/witness.rs) chains the
//! cosignatures, and `verify --witness` checks the log against the witness's checkpoint.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use acttrace::checkpoint::{Checkpoint, FileCheckpointSink, TlogProof, VerifierKey};
use acttrace::{AuditLayer, AuditLayerBuilder, FlagAction, Severity};
use common::checkpoints::{raw_hash, reseal};

use common::{entries, key, reference_python, reference_verify};
use tracing_subscriber::prelude::*;

const ORIGIN: &str = "acttrace.example/loan-desk/prod-1";
const HOUR: Duration = Duration::from_secs(3600);

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/checkpoint-example")
}

fn vkey_text() -> String {
    std::fs::read_to_string(vectors().join("vkey.txt"))
        .unwrap()
        .trim()
        .to_owned()
}

fn vkey_key() -> VerifierKey {
    vkey_text().parse().unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .args(args)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A layer with the HMAC key, the checkpoint key (by count only, so which checkpoints appear
/// does not depend on the machine's speed), and the given sinks.
fn builder(path: &Path) -> AuditLayerBuilder {
    AuditLayer::builder()
        .system("loan-desk")
        .path(path)
        .signing_key(key())
        .checkpoint_key_from_file(vectors().join("skey.txt"))
        .checkpoint_every(4096, HOUR)
}

#[tracing::instrument(skip_all, fields(audit.decision = "loan.approve", applicant = id))]
fn approve(id: u64) -> bool {
    acttrace::llm_call!(
        provider = "openai",
        model = "gpt-4o",
        input_tokens = 812u64,
        output_tokens = 64u64
    );
    acttrace::tool_call!(name = "credit_score", arguments = %format!("{{\"applicant\": {id}}}"));
    acttrace::oversight!(reviewer = "ops-reviewer-17", action = "approved");
    true
}

/// A layer-written log: two decisions, a flush (checkpoint), two more decisions, a flag, and
/// shutdown (a final checkpoint). Returns the log's path and the sink's file.
fn written_log(dir: &Path) -> (PathBuf, PathBuf) {
    let path = dir.join("audit.jsonl");
    let held = dir.join("held.checkpoints");
    let (layer, guard) = builder(&path)
        .checkpoint_sink(FileCheckpointSink::new(&held))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        approve(1001);
        approve(1002);
        guard.flush().unwrap();
        approve(1003);
        approve(1004);
        guard
            .flag("manual-review", FlagAction::Flagged, Severity::Info, &[])
            .unwrap();
    });
    let report = guard.shutdown(Duration::from_secs(60)).unwrap();
    assert!(report.sinks_finished);
    (path, held)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

/// The seqs of the checkpoint entries, read from the file (serde_json, not the crate).
fn checkpoint_seqs(path: &Path) -> Vec<usize> {
    entries(path)
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == "checkpoint")
        .map(|(i, _)| i)
        .collect()
}

/// The sink's checkpoint notes (the file sink's JSON lines), as note files: (size, path).
fn held_notes(held: &Path, dir: &Path) -> Vec<(u64, PathBuf)> {
    entries(held)
        .iter()
        .map(|h| {
            let size = h["tree_size"].as_u64().unwrap();
            let path = dir.join(format!("held-{size}.note"));
            std::fs::write(&path, h["note"].as_str().unwrap()).unwrap();
            (size, path)
        })
        .collect()
}

#[test]
fn verify_with_the_public_key_alone_reports_checkpoints_and_what_is_not_authenticated() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = written_log(dir.path());
    let cps = checkpoint_seqs(&log);
    let total = lines(&log).len();
    // The layer checkpointed on flush and at shutdown, the last entry being the final one.
    assert_eq!(cps.len(), 2, "{cps:?}");
    assert_eq!(*cps.last().unwrap(), total - 1);
    let vkey = vkey_text();
    let o = run(&["verify", p(&log), "--vkey", &vkey]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "2 checkpoints verified, the last at tree size {}",
            total - 1
        )),
        "{text}"
    );
    assert!(
        text.contains("end not authenticated: the log may have been cut after any checkpoint"),
        "{text}"
    );
    assert!(!text.contains("not covered by a checkpoint"), "{text}");

    // Cut after the first checkpoint's batch: still "verified" (nothing pins the end), and the
    // entries after the last checkpoint left are counted (K, checkpoints not counted).
    let cut = dir.path().join("cut.jsonl");
    write_lines(&cut, &lines(&log)[..total - 1]);
    let k = entries(&cut)[cps[0] + 1..].len();
    assert!(k > 0);
    let o = run(&["verify", p(&cut), "--vkey", &vkey]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("final {k} entries not covered by a checkpoint")),
        "{text}"
    );
    assert!(text.contains("end not authenticated"), "{text}");
    assert!(
        text.contains(&format!(
            "1 checkpoint verified, the last at tree size {}",
            cps[0]
        )),
        "{text}"
    );
}

/// One tampering of a layer-written log's lines.
fn tampered(orig: &[String], op: &str, i: usize) -> Vec<String> {
    let mut l = orig.to_vec();
    match op {
        "edit" => {
            let mut v: serde_json::Value = serde_json::from_str(&l[i]).unwrap();
            v["payload"]
                .as_object_mut()
                .unwrap()
                .insert("tampered".into(), true.into());
            l[i] = serde_json::to_string(&v).unwrap();
        }
        "delete" => {
            l.remove(i);
        }
        "reorder" => l.swap(i, i + 1),
        "insert" => {
            let copy = l[i].clone();
            l.insert(i + 1, copy);
        }
        _ => unreachable!(),
    }
    l
}

/// What an intruder holding the HMAC key (but not the checkpoint key) can do: re-seal the whole
/// chain from seq 0, re-sign every entry, and rewrite every checkpoint entry to match the new
/// tree (tree_size = its seq, root and note body recomputed), keeping the note's old signature
/// lines, since it cannot make new ones.
fn forge(lines: &[String]) -> Vec<String> {
    use acttrace::chain::{GENESIS, HashAlg, SealedEntry};
    use acttrace::json::{self, Value};
    use base64::Engine;
    let key = key();
    let mut prev = GENESIS.to_owned();
    let mut tree = acttrace::checkpoint::Frontier::new();
    let mut out = Vec::new();
    for (seq, line) in lines.iter().enumerate() {
        let v = json::parse(line).unwrap();
        let kind = v.get("type").unwrap().as_str().unwrap().to_owned();
        let mut payload = v.get("payload").unwrap().clone();
        if kind == "checkpoint" {
            let note = payload.get("note").unwrap().as_str().unwrap().to_owned();
            let sigs = &note[note.find("\n\n").unwrap() + 1..];
            let body = Checkpoint::new(ORIGIN, seq as u64, tree.root())
                .unwrap()
                .body();
            payload = Value::Object(vec![
                ("tree_size".into(), Value::from(seq as u64)),
                (
                    "root".into(),
                    Value::from(base64::engine::general_purpose::STANDARD.encode(tree.root())),
                ),
                ("note".into(), Value::from(format!("{body}{sigs}"))),
            ]);
        }
        let e = SealedEntry::seal(
            HashAlg::Sha256,
            Some(&key),
            seq as u64,
            v.get("ts").unwrap().as_str().unwrap().to_owned(),
            kind,
            payload,
            prev,
        );
        tree.append(&raw_hash(&e.hash));
        prev = e.hash.clone();
        out.push(e.to_line().trim_end().to_owned());
    }
    out
}

#[test]
fn every_tamper_of_covered_entries_is_caught_with_the_vkey_even_rehashed_and_resigned() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = written_log(dir.path());
    let orig = lines(&log);
    let cps = checkpoint_seqs(&log);
    let last_cp = *cps.last().unwrap();
    let vkey = vkey_text();
    let path = dir.path().join("t.jsonl");
    let hmac = |path: &Path| {
        Command::new(env!("CARGO_BIN_EXE_acttrace"))
            .args(["verify", p(path), "--key-env", "ACTTRACE_E2E_KEY"])
            .env("ACTTRACE_E2E_KEY", common::KEY)
            .output()
            .unwrap()
    };
    // The control: forging without a change is the log itself, and verifies.
    let same = forge(&orig);
    assert_eq!(same, orig);
    let mut cases = 0;
    for op in ["edit", "delete", "reorder", "insert"] {
        // Every entry the last checkpoint covers (for reorder: every adjacent pair of them).
        let end = if op == "reorder" {
            last_cp - 1
        } else {
            last_cp
        };
        for i in 0..end {
            if op == "edit" && cps.contains(&i) {
                // The forger rewrites checkpoint entries whole: an edit of one is undone.
                continue;
            }
            write_lines(&path, &forge(&tampered(&orig, op, i)));
            // The HMAC chain and the tree are whole: with the HMAC key alone it verifies
            // (unless audit_open, which declares the origin, no longer comes first) ...
            if i > 0 {
                let o = hmac(&path);
                assert_eq!(o.status.code(), Some(0), "{op} at {i}: {}", out(&o));
                assert!(out(&o).contains("signature not checked"), "{}", out(&o));
            }
            // ... with the public key, a checkpoint's signature fails.
            let o = run(&["verify", p(&path), "--vkey", &vkey]);
            let text = out(&o);
            assert_eq!(o.status.code(), Some(1), "{op} at {i}: {text}");
            assert!(text.contains("bad checkpoint"), "{op} at {i}: {text}");
            cases += 1;
        }
    }
    assert_eq!(cases, 4 * last_cp - 1 - (cps.len() - 1));
}

#[test]
fn a_sinks_checkpoint_catches_truncation_and_rewrites_below_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, held) = written_log(dir.path());
    let notes = held_notes(&held, dir.path());
    let sizes: Vec<u64> = notes.iter().map(|n| n.0).collect();
    let cps: Vec<u64> = checkpoint_seqs(&log).iter().map(|&s| s as u64).collect();
    assert_eq!(sizes, cps, "the sink holds every checkpoint the log holds");
    let (last_size, last_note) = notes.last().unwrap();
    let vkey = vkey_text();
    let o = run(&[
        "verify",
        p(&log),
        "--vkey",
        &vkey,
        "--expect-checkpoint",
        p(last_note),
    ]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("consistent with the expected checkpoint"),
        "{text}"
    );

    // Cut back to the first checkpoint: the log alone still verifies, the anchor catches it.
    let cut = dir.path().join("cut.jsonl");
    write_lines(&cut, &lines(&log)[..=cps[0] as usize]);
    assert_eq!(
        run(&["verify", p(&cut), "--vkey", &vkey]).status.code(),
        Some(0)
    );
    let o = run(&[
        "verify",
        p(&cut),
        "--vkey",
        &vkey,
        "--expect-checkpoint",
        p(last_note),
    ]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("log shorter than the expected checkpoint"),
        "{text}"
    );
    assert!(
        text.contains(&format!("the checkpoint covers {last_size}")),
        "{text}"
    );

    // Rolled back and rewritten by someone holding the HMAC key (the entries the first held
    // checkpoint covers, one edited, re-hashed and re-signed): inconsistent with it.
    let mut rewritten: Vec<String> = lines(&log)[..cps[0] as usize].to_vec();
    let mut v: serde_json::Value = serde_json::from_str(&rewritten[3]).unwrap();
    v["payload"]["arguments"] = "{\"applicant\": 9999}".into();
    rewritten[3] = serde_json::to_string(&v).unwrap();
    let rewritten: Vec<String> = reseal(&rewritten, Some(&key()))
        .lines()
        .map(str::to_owned)
        .collect();
    let path = dir.path().join("rewritten.jsonl");
    write_lines(&path, &rewritten);
    let o = run(&["verify", p(&path), "--expect-checkpoint", p(&notes[0].1)]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("log inconsistent with the expected checkpoint"),
        "{text}"
    );
}

#[test]
fn proofs_from_a_layer_written_log_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = written_log(dir.path());
    let all = lines(&log);
    let last = *checkpoint_seqs(&log).last().unwrap() as u64;
    let vkey = vkey_text();
    for seq in 0..last {
        let o = run(&["prove", p(&log), "--seq", &seq.to_string()]);
        assert_eq!(o.status.code(), Some(0), "{}", out(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        // The library reads it back and checks it too.
        let proof = TlogProof::parse(&text).unwrap();
        assert_eq!(proof.index, seq);
        let e: serde_json::Value = serde_json::from_str(&all[seq as usize]).unwrap();
        let c: Checkpoint = proof
            .verify(&raw_hash(e["hash"].as_str().unwrap()), &[vkey_key()])
            .unwrap();
        assert_eq!((c.origin.as_str(), c.size), (ORIGIN, last));
        let proof_path = dir.path().join("p.tlog-proof");
        let entry = dir.path().join("e.jsonl");
        std::fs::write(&proof_path, &text).unwrap();
        std::fs::write(&entry, format!("{}\n", all[seq as usize])).unwrap();
        let o = run(&[
            "verify-proof",
            p(&proof_path),
            "--vkey",
            &vkey,
            "--entry",
            p(&entry),
        ]);
        assert_eq!(o.status.code(), Some(0), "seq {seq}: {}", out(&o));
        // Another entry is refused.
        let other = &all[(seq as usize + 1) % last as usize];
        std::fs::write(&entry, format!("{other}\n")).unwrap();
        let o = run(&[
            "verify-proof",
            p(&proof_path),
            "--vkey",
            &vkey,
            "--entry",
            p(&entry),
        ]);
        assert_eq!(o.status.code(), Some(1), "seq {seq}: {}", out(&o));
    }
    // A consistency proof between the two checkpoints verifies against the older note.
    let first = checkpoint_seqs(&log)[0];
    let old = dir.path().join("old.note");
    let e: serde_json::Value = serde_json::from_str(&all[first]).unwrap();
    std::fs::write(&old, e["payload"]["note"].as_str().unwrap()).unwrap();
    let o = run(&[
        "prove",
        p(&log),
        "--from-size",
        &first.to_string(),
        "--to-size",
        &last.to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let body = dir.path().join("c.body");
    std::fs::write(&body, &o.stdout).unwrap();
    let o = run(&[
        "verify-proof",
        p(&body),
        "--vkey",
        &vkey,
        "--old-checkpoint",
        p(&old),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

/// The decision id of the `applicant`'s decision.
fn decision_of(log: &Path, applicant: u64) -> String {
    entries(log)
        .iter()
        .find(|e| e["type"] == "decision" && e["payload"]["applicant"] == applicant)
        .map(|e| e["payload"]["decision_id"].as_str().unwrap().to_owned())
        .unwrap()
}

#[test]
fn a_decision_excerpt_of_a_layer_written_log_is_proven_complete_and_a_removed_entry_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = written_log(dir.path());
    let vkey = vkey_text();
    // 1003's decision is covered by the final checkpoint only.
    let id = decision_of(&log, 1003);
    let ex = dir.path().join("ex.jsonl");
    let o = run(&[
        "export",
        p(&log),
        "--framework",
        "eu_ai_act",
        "--decision",
        &id,
        "-o",
        p(&ex),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("every entry proven included"),
        "{}",
        out(&o)
    );
    let pack = entries(&ex);
    let of_decision = pack
        .iter()
        .filter(|e| e["payload"]["decision_id"] == id.as_str())
        .count();
    assert_eq!(
        of_decision, 5,
        "decision, llm_call, tool_call, oversight, decision_end"
    );
    for cmd in ["verify-excerpt", "verify"] {
        let o = run(&[cmd, p(&ex), "--vkey", &vkey]);
        let text = out(&o);
        assert_eq!(o.status.code(), Some(0), "{cmd}: {text}");
        assert!(!text.contains("not checked"), "{cmd}: {text}");
        // Without the key, what was not checked is said.
        let o = run(&[cmd, p(&ex)]);
        assert!(out(&o).contains("not checked"), "{cmd}: {}", out(&o));
    }
    // The tool call removed (and the pack's line count no longer what it says).
    let mut l = lines(&ex);
    let at = l
        .iter()
        .position(|x| x.contains("\"type\": \"tool_call\""))
        .unwrap();
    l.remove(at);
    let cut = dir.path().join("ex-cut.jsonl");
    write_lines(&cut, &l);
    for cmd in ["verify-excerpt", "verify"] {
        let o = run(&[cmd, p(&cut), "--vkey", &vkey]);
        let text = out(&o);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {text}");
        assert!(text.contains("incomplete"), "{cmd}: {text}");
    }
}

#[test]
fn the_reference_verifier_accepts_a_layer_written_log_with_checkpoints_and_digests() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = written_log(dir.path());
    let all = entries(&log);
    assert!(all.iter().any(|e| e["type"] == "checkpoint"));
    assert!(all.iter().any(|e| {
        e["type"] == "decision_end"
            && e["payload"]["entries_digest"]
                .as_str()
                .is_some_and(|d| d.len() == 64)
    }));
    let Some(python) = reference_python() else {
        return;
    };
    let head = all.last().unwrap()["hash"].as_str().unwrap().to_owned();
    let (ok, detail) = reference_verify(&python, &log, Some(common::KEY), Some(&head));
    assert!(
        ok,
        "reference verifier rejected a layer-written log: {detail}"
    );
    assert!(detail.contains("signatures verified"), "{detail}");
}

#[cfg(not(feature = "witness"))]
#[test]
fn without_the_witness_feature_the_flag_says_how_to_get_it() {
    let o = run(&[
        "verify",
        "any.jsonl",
        "--vkey",
        &vkey_text(),
        "--witness",
        "http://127.0.0.1:9",
        "--witness-key",
        "w+00000000+AA==",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        out(&o).contains("built without the witness feature")
            && out(&o).contains("cargo install acttrace --features witness"),
        "{}",
        out(&o)
    );
}

#[cfg(feature = "witness")]
#[path = "common/witness.rs"]
mod server;

#[cfg(feature = "witness")]
mod witnessed {
    use super::*;
    use acttrace::checkpoint::SignerKey;
    use acttrace::checkpoint::witness::WitnessSink;
    use server::WitnessServer;

    fn start() -> WitnessServer {
        WitnessServer::start("witness.test/w1", [22u8; 32], vkey_key())
    }

    /// A log the layer writes with a witness sink: two decisions, a flush (checkpoint, then the
    /// witness's cosignature chained), a decision and shutdown (a final checkpoint, which the
    /// sink submits before shutdown returns).
    fn witnessed_log(dir: &Path, server: &WitnessServer) -> PathBuf {
        let path = dir.join("audit.jsonl");
        let sink = WitnessSink::new(&server.url, vec![server.vkey().parse().unwrap()])
            .unwrap()
            .timeout(Duration::from_secs(30));
        let (layer, guard) = builder(&path).checkpoint_sink(sink).build().unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            approve(1001);
            approve(1002);
            let size = guard.flush().unwrap().next_seq;
            // The cosignature is chained when the witness answers: wait (bounded) for it.
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while guard.status().head.next_seq <= size {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no cosignature chained"
                );
                std::thread::yield_now();
            }
            approve(1003);
        });
        let report = guard.shutdown(Duration::from_secs(60)).unwrap();
        assert!(report.sinks_finished);
        path
    }

    fn verify_witness(log: &Path, url: &str, server: &WitnessServer, more: &[&str]) -> Output {
        let vkey = vkey_text();
        let wkey = server.vkey();
        let mut args = vec![
            "verify",
            p(log),
            "--vkey",
            &vkey,
            "--witness",
            url,
            "--witness-key",
            &wkey,
        ];
        args.extend_from_slice(more);
        run(&args)
    }

    #[test]
    fn a_layer_log_with_a_witness_sink_chains_cosignatures_and_verifies_against_the_witness() {
        let dir = tempfile::tempdir().unwrap();
        let server = start();
        let log = witnessed_log(dir.path(), &server);
        let all = entries(&log);
        let cps: Vec<u64> = checkpoint_seqs(&log).iter().map(|&s| s as u64).collect();
        assert_eq!(cps.len(), 2, "{cps:?}");
        // The first checkpoint's cosignature, by the witness, chained after it.
        let cos: Vec<&serde_json::Value> =
            all.iter().filter(|e| e["type"] == "cosignature").collect();
        assert_eq!(cos.len(), 1, "{cos:?}");
        assert_eq!(cos[0]["payload"]["tree_size"], cps[0]);
        assert_eq!(cos[0]["payload"]["witness"], "witness.test/w1");
        assert!(cos[0]["seq"].as_u64().unwrap() > cps[0]);
        // The witness holds the final checkpoint.
        let held = server.held(ORIGIN).unwrap();
        assert_eq!(held.size, cps[1]);

        let o = verify_witness(&log, &server.url, &server, &[]);
        let text = out(&o);
        assert_eq!(o.status.code(), Some(0), "{text}");
        assert!(
            text.contains(&format!(
                "witness {}: cosigned checkpoint of {ORIGIN} at tree size {}",
                server.url, cps[1]
            )),
            "{text}"
        );
        assert!(
            text.contains("consistent with the expected checkpoint"),
            "{text}"
        );

        // Cut back below the witnessed size (to the first checkpoint's batch and its
        // cosignature): the log alone verifies, the witness's checkpoint catches it.
        let cut = dir.path().join("cut.jsonl");
        let keep = cos[0]["seq"].as_u64().unwrap() as usize + 1;
        write_lines(&cut, &lines(&log)[..keep]);
        assert_eq!(
            run(&["verify", p(&cut), "--vkey", &vkey_text()])
                .status
                .code(),
            Some(0)
        );
        let o = verify_witness(&cut, &server.url, &server, &[]);
        let text = out(&o);
        assert_eq!(o.status.code(), Some(1), "{text}");
        assert!(
            text.contains("log shorter than the expected checkpoint"),
            "{text}"
        );

        // Each anchor is judged: the witness's and a validly signed but inconsistent one (what
        // a log key that signed two histories produces) in the same read.
        let signer = SignerKey::parse(
            std::fs::read_to_string(vectors().join("skey.txt"))
                .unwrap()
                .trim(),
        )
        .unwrap();
        let fork = signer
            .sign(&Checkpoint::new(ORIGIN, 5, [7u8; 32]).unwrap().body())
            .unwrap();
        let fork_path = dir.path().join("fork.note");
        std::fs::write(&fork_path, fork).unwrap();
        let o = verify_witness(
            &log,
            &server.url,
            &server,
            &["--expect-checkpoint", p(&fork_path)],
        );
        let text = out(&o);
        assert_eq!(o.status.code(), Some(1), "{text}");
        assert!(
            text.contains("log inconsistent with the expected checkpoint: the root of its first 5"),
            "{text}"
        );
        // And both consistent anchors: the first checkpoint's note (from the log) too.
        let first_note = dir.path().join("first.note");
        std::fs::write(
            &first_note,
            all[cps[0] as usize]["payload"]["note"].as_str().unwrap(),
        )
        .unwrap();
        let o = verify_witness(
            &log,
            &server.url,
            &server,
            &["--expect-checkpoint", p(&first_note)],
        );
        let text = out(&o);
        assert_eq!(o.status.code(), Some(0), "{text}");
        assert!(
            text.contains("consistent with the 2 expected checkpoints"),
            "{text}"
        );

        // The reference verifier accepts the log: checkpoints, a cosignature, decision_end
        // entries with their digests.
        assert!(
            all.iter().any(|e| e["type"] == "decision_end"
                && e["payload"]["entries_digest"].as_str().is_some())
        );
        if let Some(python) = reference_python() {
            let head = all.last().unwrap()["hash"].as_str().unwrap();
            let (ok, detail) = reference_verify(&python, &log, Some(common::KEY), Some(head));
            assert!(ok, "reference verifier rejected a witnessed log: {detail}");
        }
    }

    #[test]
    fn an_unreachable_witness_or_missing_keys_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let server = start();
        let log = witnessed_log(dir.path(), &server);
        // A port nothing listens on.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let o = verify_witness(&log, &closed, &server, &[]);
        let text = out(&o);
        assert_eq!(o.status.code(), Some(2), "{text}");
        assert!(
            text.contains(&format!("--witness {closed}: witness unreachable")),
            "{text}"
        );
        // Without --vkey (it names the origin and checks the witness's checkpoint), or without
        // the witness's key.
        let o = run(&[
            "verify",
            p(&log),
            "--witness",
            &server.url,
            "--witness-key",
            &server.vkey(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", out(&o));
        assert!(
            out(&o).contains("--witness needs the log's verifier key"),
            "{}",
            out(&o)
        );
        let o = run(&[
            "verify",
            p(&log),
            "--vkey",
            &vkey_text(),
            "--witness",
            &server.url,
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", out(&o));
        assert!(
            out(&o).contains("--witness needs --witness-key"),
            "{}",
            out(&o)
        );
        // A witness key that did not cosign: refused, naming the witness.
        let stranger = WitnessServer::start("witness.test/w2", [33u8; 32], vkey_key());
        let o = run(&[
            "verify",
            p(&log),
            "--vkey",
            &vkey_text(),
            "--witness",
            &server.url,
            "--witness-key",
            &stranger.vkey(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", out(&o));
        assert!(
            out(&o).contains(&format!("--witness {}", server.url)),
            "{}",
            out(&o)
        );
    }
}
