//! Go as the oracle: golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (what Go's
//! checksum database and the C2SP tools build on) check acttrace's checkpoint notes, verifier
//! keys, tree roots and inclusion and consistency proofs, reject tampered ones, and sign notes
//! that acttrace verifies.
//!
//! The Go side is interop/go-tlog/main.go, built here in GOPATH mode against Debian's
//! golang-golang-x-mod-dev sources (no network). It reports what Go found for each case; the
//! assertions are here. Skipped (with a message) without Go, a failure under CI.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use acttrace::checkpoint::{
    Checkpoint, Hash, SignerKey, VerifierKey, consistency_proof, inclusion_proof, leaf_hash,
    root_of, verify_note,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The built oracle, once per test binary; `None` (skipped) without Go.
fn oracle() -> Option<&'static Path> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    let built =
        BUILT.get_or_init(|| common::go_with_x_mod().map(|(go, gocode)| build(&go, &gocode)));
    common::require(
        built.as_deref(),
        "go with golang.org/x/mod (apt-get install golang-go golang-golang-x-mod-dev)",
    )
}

/// Builds interop/go-tlog in GOPATH mode (no module download), its cache in the target dir.
fn build(go: &Path, gocode: &Path) -> PathBuf {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("go-tlog");
    std::fs::create_dir_all(&work).unwrap();
    let bin = work.join("go-tlog");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/go-tlog/main.go");
    let mut gopath = std::ffi::OsString::from(work.join("gopath"));
    gopath.push(":");
    gopath.push(gocode);
    let out = Command::new(go)
        .arg("build")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .current_dir(&work)
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env("GOCACHE", work.join("cache"))
        .env("GOFLAGS", "")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .output()
        .expect("run go build");
    assert!(
        out.status.success(),
        "go build {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Runs the oracle on `cases`; its results by case id.
fn go(bin: &Path, cases: &Value) -> HashMap<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cases.json");
    std::fs::write(&path, serde_json::to_vec(cases).unwrap()).unwrap();
    let out = Command::new(bin).arg(&path).output().expect("run go-tlog");
    assert!(
        out.status.success(),
        "go-tlog: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("go-tlog prints JSON");
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

fn result<'a>(results: &'a HashMap<String, Value>, id: &str) -> &'a Value {
    results
        .get(id)
        .unwrap_or_else(|| panic!("go-tlog gave no result for {id}"))
}

fn ok(r: &Value) -> bool {
    r["ok"].as_bool().unwrap()
}

fn b64(h: &[u8]) -> String {
    B64.encode(h)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn proof_json(p: &[Hash]) -> Value {
    p.iter().map(|h| b64(h)).collect()
}

fn flip(h: &Hash) -> Hash {
    let mut h = *h;
    h[7] ^= 0x10;
    h
}

/// `n` pseudo-random leaves from a random seed (printed, so a failure can be replayed with
/// `ACTTRACE_TEST_SEED`).
fn leaves(n: usize) -> Vec<[u8; 32]> {
    let seed = match std::env::var("ACTTRACE_TEST_SEED") {
        Ok(s) => s.parse::<u64>().unwrap(),
        Err(_) => {
            let mut b = [0u8; 8];
            getrandom::fill(&mut b).unwrap();
            u64::from_le_bytes(b)
        }
    };
    println!("leaves from ACTTRACE_TEST_SEED={seed}");
    (0..n as u64)
        .map(|i| {
            let mut h = Sha256::new();
            h.update(seed.to_le_bytes());
            h.update(i.to_le_bytes());
            h.finalize().into()
        })
        .collect()
}

/// A size between 1,000 and 5,000 derived from the leaves (random with them).
fn large_size(leaves: &[[u8; 32]]) -> u64 {
    1000 + u64::from(u16::from_le_bytes([leaves[0][0], leaves[0][1]])) % 4000
}

fn leaves_json(leaves: &[[u8; 32]]) -> Value {
    leaves.iter().map(|l| hex(l)).collect()
}

#[test]
fn go_computes_our_roots_for_sizes_1_to_70_and_a_large_random_size() {
    let Some(bin) = oracle() else { return };
    let all = leaves(5000);
    let big = large_size(&all);
    let sizes: Vec<u64> = (1..=70).chain([big]).collect();
    let mut roots = Vec::new();
    for &n in &sizes {
        let root = root_of(&all[..n as usize]);
        roots.push(json!({"id": format!("root-{n}"), "size": n, "root": b64(&root)}));
        roots.push(json!({"id": format!("bad-{n}"), "size": n, "root": b64(&flip(&root))}));
    }
    let results = go(bin, &json!({"leaves": leaves_json(&all), "roots": roots}));
    for &n in &sizes {
        let r = result(&results, &format!("root-{n}"));
        assert!(ok(r), "size {n}: Go's TreeHash {} differs", r["root"]);
        assert_eq!(r["root"], b64(&root_of(&all[..n as usize])), "size {n}");
        assert!(!ok(result(&results, &format!("bad-{n}"))), "size {n}");
    }
}

/// Inclusion cases for leaf `i` of the tree of size `n`: ours (which Go must accept, and
/// whose proof must equal Go's own), and tampered ones Go must reject.
fn inclusion_cases(all: &[[u8; 32]], i: u64, n: u64, out: &mut Vec<Value>) {
    let root = root_of(&all[..n as usize]);
    let proof = inclusion_proof(all, i, n).unwrap();
    let leaf = hex(&all[i as usize]);
    let case = |tag: &str, size: u64, index: u64, root: &Hash, proof: &[Hash]| {
        json!({"id": format!("{tag}-{i}-{n}"), "size": size, "index": index, "leaf": leaf,
               "root": b64(root), "proof": proof_json(proof)})
    };
    out.push(case("ok", n, i, &root, &proof));
    out.push(case("bad-root", n, i, &flip(&root), &proof));
    if let Some(last) = proof.len().checked_sub(1) {
        let mut p = proof.clone();
        p[last] = flip(&p[last]);
        out.push(case("bad-proof", n, i, &root, &p));
        out.push(case("short-proof", n, i, &root, &proof[..last]));
        out.push(case("bad-index", n, (i + 1) % n, &root, &proof));
    }
    if (n as usize) < all.len() {
        // A claim that the same proof places the leaf in the next tree, with that tree's root.
        let next = root_of(&all[..n as usize + 1]);
        out.push(case("bad-size", n + 1, i, &next, &proof));
    }
}

fn check_inclusion_results(results: &HashMap<String, Value>, all: &[[u8; 32]], i: u64, n: u64) {
    let r = result(results, &format!("ok-{i}-{n}"));
    assert!(
        ok(r),
        "leaf {i} of {n}: Go rejects our proof: {}",
        r["error"]
    );
    let ours: Value = proof_json(&inclusion_proof(all, i, n).unwrap());
    let go_proof = if ours.as_array().unwrap().is_empty() {
        json!([])
    } else {
        r["go_proof"].clone()
    };
    assert_eq!(go_proof, ours, "leaf {i} of {n}: Go's ProveRecord differs");
    // tlog.RecordHash of the 32 raw bytes is our leaf hash, SHA-256(0x00 ‖ leaf).
    assert_eq!(r["leaf_hash"], b64(&leaf_hash(&all[i as usize])));
    for tag in [
        "bad-root",
        "bad-proof",
        "short-proof",
        "bad-index",
        "bad-size",
    ] {
        if let Some(r) = results.get(&format!("{tag}-{i}-{n}")) {
            assert!(!ok(r), "leaf {i} of {n}: Go accepts the {tag} case");
        }
    }
}

#[test]
fn go_verifies_our_inclusion_proofs_and_rejects_tampered_ones() {
    let Some(bin) = oracle() else { return };
    let all = leaves(5000);
    let big = large_size(&all);
    let mut pairs: Vec<(u64, u64)> = (1..=40).flat_map(|n| (0..n).map(move |i| (i, n))).collect();
    // Leaves spread over the large tree: first, last, and a stride through the middle.
    pairs.extend((0..big).step_by(97).chain([big - 1]).map(|i| (i, big)));
    let mut cases = Vec::new();
    for &(i, n) in &pairs {
        inclusion_cases(&all, i, n, &mut cases);
    }
    let results = go(
        bin,
        &json!({"leaves": leaves_json(&all), "inclusions": cases}),
    );
    for &(i, n) in &pairs {
        check_inclusion_results(&results, &all, i, n);
    }
    // Every tampered kind was actually tried.
    for tag in [
        "bad-root",
        "bad-proof",
        "short-proof",
        "bad-index",
        "bad-size",
    ] {
        assert!(results.keys().any(|k| k.starts_with(tag)), "no {tag} case");
    }
}

#[test]
fn go_verifies_our_consistency_proofs_and_rejects_tampered_ones() {
    let Some(bin) = oracle() else { return };
    let all = leaves(5000);
    let big = large_size(&all);
    let mut pairs: Vec<(u64, u64)> = (1..=40)
        .flat_map(|n| (1..=n).map(move |m| (m, n)))
        .collect();
    pairs.extend(
        (1..big)
            .step_by(211)
            .chain([big - 1, big])
            .map(|m| (m, big)),
    );
    let mut cases = Vec::new();
    for &(m, n) in &pairs {
        let (old_root, new_root) = (root_of(&all[..m as usize]), root_of(&all[..n as usize]));
        let proof = consistency_proof(&all, m, n).unwrap();
        let case = |tag: &str, old: u64, new: u64, a: &Hash, b: &Hash, p: &[Hash]| {
            json!({"id": format!("{tag}-{m}-{n}"), "old": old, "new": new,
                   "old_root": b64(a), "new_root": b64(b), "proof": proof_json(p)})
        };
        cases.push(case("ok", m, n, &old_root, &new_root, &proof));
        cases.push(case(
            "bad-new-root",
            m,
            n,
            &old_root,
            &flip(&new_root),
            &proof,
        ));
        cases.push(case(
            "bad-old-root",
            m,
            n,
            &flip(&old_root),
            &new_root,
            &proof,
        ));
        if let Some(last) = proof.len().checked_sub(1) {
            let mut p = proof.clone();
            p[0] = flip(&p[0]);
            cases.push(case("bad-proof", m, n, &old_root, &new_root, &p));
            cases.push(case(
                "short-proof",
                m,
                n,
                &old_root,
                &new_root,
                &proof[..last],
            ));
        }
        // The same proof offered for the next tree, with that tree's root.
        let next = root_of(&all[..n as usize + 1]);
        cases.push(case("bad-size", m, n + 1, &old_root, &next, &proof));
    }
    let results = go(
        bin,
        &json!({"leaves": leaves_json(&all), "consistencies": cases}),
    );
    for &(m, n) in &pairs {
        let r = result(&results, &format!("ok-{m}-{n}"));
        assert!(ok(r), "{m} -> {n}: Go rejects our proof: {}", r["error"]);
        let ours = proof_json(&consistency_proof(&all, m, n).unwrap());
        let go_proof = if r["go_proof"].is_null() {
            json!([])
        } else {
            r["go_proof"].clone()
        };
        assert_eq!(go_proof, ours, "{m} -> {n}: Go's ProveTree differs");
        for tag in [
            "bad-new-root",
            "bad-old-root",
            "bad-proof",
            "short-proof",
            "bad-size",
        ] {
            if let Some(r) = results.get(&format!("{tag}-{m}-{n}")) {
                assert!(!ok(r), "{m} -> {n}: Go accepts the {tag} case");
            }
        }
    }
}

/// A note of `text` signed by each of `signers`, in order (one signature line each).
fn multi_signed(text: &str, signers: &[&SignerKey]) -> String {
    let mut note = format!("{text}\n");
    for s in signers {
        let one = s.sign(text).unwrap();
        note.push_str(&one[text.len() + 1..]);
    }
    note
}

fn signer(name: &str, n: u8) -> SignerKey {
    let seed: [u8; 32] =
        Sha256::digest([b"go interop key ".as_slice(), name.as_bytes(), &[n]].concat()).into();
    SignerKey::from_seed(name, Zeroizing::new(seed)).unwrap()
}

fn key_label(k: &VerifierKey) -> String {
    format!("{}+{}", k.name(), hex(&k.key_id()))
}

#[test]
fn go_opens_our_notes_with_one_and_two_signatures_and_rejects_tampered_ones() {
    let Some(bin) = oracle() else { return };
    let origin = "acttrace.test/go-interop/prod-1";
    let log_key = signer(origin, 0);
    let fs_key = signer(&format!("{origin}/fs"), 0);
    // Same name as the log key, another key: a different key id.
    let impostor = signer(origin, 1);
    let all = leaves(70);
    let body = Checkpoint::new(origin, 70, root_of(&all)).unwrap().body();
    let one = log_key.sign(&body).unwrap();
    // The second line as the writer adds it to each checkpoint (the epoch key in force).
    let two = fs_key.add_signature(&one).unwrap();
    assert_eq!(two, multi_signed(&body, &[&log_key, &fs_key]));
    let tampered_size = one.replacen("\n70\n", "\n71\n", 1);
    let mut tampered_sig = one.clone().into_bytes();
    let at = tampered_sig.len() - 10;
    tampered_sig[at] = if tampered_sig[at] == b'A' { b'B' } else { b'A' };
    let tampered_sig = String::from_utf8(tampered_sig).unwrap();
    let example = |f: &str| {
        std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/vectors/checkpoint-example")
                .join(f),
        )
        .unwrap()
    };

    let (log_v, fs_v, imp_v) = (log_key.verifier(), fs_key.verifier(), impostor.verifier());
    // (id, note, keys given to Go, expected verified keys or None for a rejection, unverified)
    type Case<'a> = (
        &'a str,
        String,
        Vec<&'a VerifierKey>,
        Option<Vec<&'a VerifierKey>>,
        u64,
    );
    let cases: Vec<Case> = vec![
        ("one", one.clone(), vec![&log_v], Some(vec![&log_v]), 0),
        // The second (forward-security) line is by a key Go is not given: ignored.
        (
            "two-log-key",
            two.clone(),
            vec![&log_v],
            Some(vec![&log_v]),
            1,
        ),
        (
            "two-both-keys",
            two.clone(),
            vec![&log_v, &fs_v],
            Some(vec![&log_v, &fs_v]),
            0,
        ),
        ("two-fs-key", two.clone(), vec![&fs_v], Some(vec![&fs_v]), 1),
        (
            "tampered-size",
            tampered_size.clone(),
            vec![&log_v],
            None,
            0,
        ),
        ("tampered-sig", tampered_sig.clone(), vec![&log_v], None, 0),
        ("wrong-key", one.clone(), vec![&imp_v], None, 0),
        ("two-wrong-key", two.clone(), vec![&imp_v], None, 0),
    ];
    let mut notes: Vec<Value> = cases
        .iter()
        .map(|(id, note, keys, _, _)| {
            json!({"id": id, "note": note, "vkeys": keys.iter().map(|k| k.to_string()).collect::<Vec<_>>()})
        })
        .collect();
    notes.push(json!({"id": "example", "note": example("checkpoint.txt"),
                      "vkeys": [example("vkey.txt").trim_end()]}));
    let results = go(bin, &json!({"notes": notes}));

    for (id, note, keys, expect, unverified) in &cases {
        let r = result(&results, id);
        let keys: Vec<VerifierKey> = keys.iter().map(|&k| k.clone()).collect();
        let ours = verify_note(note, &keys);
        match expect {
            Some(verified) => {
                assert!(ok(r), "{id}: Go rejects our note: {}", r["error"]);
                assert_eq!(r["text"], body, "{id}");
                let labels: Vec<String> = verified.iter().map(|&k| key_label(k)).collect();
                assert_eq!(r["verified"], json!(labels), "{id}");
                assert_eq!(r["unverified"], *unverified, "{id}");
                // acttrace's own verifier agrees.
                let v = ours.unwrap_or_else(|e| panic!("{id}: acttrace rejects: {e}"));
                assert_eq!(v.verified_by.len(), verified.len(), "{id}");
                assert_eq!(v.unverified as u64, *unverified, "{id}");
            }
            None => {
                assert!(!ok(r), "{id}: Go accepts a bad note");
                assert!(ours.is_err(), "{id}: acttrace accepts a note Go rejects");
            }
        }
    }
    let r = result(&results, "example");
    assert!(ok(r), "worked example: {}", r["error"]);
    let cp = Checkpoint::parse_body(r["text"].as_str().unwrap()).unwrap();
    assert_eq!(cp.origin, "acttrace.example/loan-desk/prod-1");
}

#[test]
fn acttrace_verifies_notes_and_keys_go_makes() {
    let Some(bin) = oracle() else { return };
    let origin = "acttrace.test/go-signed";
    let ours = SignerKey::generate(origin).unwrap();
    let all = leaves(33);
    let body = Checkpoint::new(origin, 33, root_of(&all)).unwrap().body();
    let first = go(
        bin,
        &json!({
            "genkeys": [{"id": "gen", "name": origin}],
            // Go reads the private key file `keygen checkpoint` writes.
            "sign": [{"id": "our-key", "skey": ours.to_go_format().as_str(), "text": body}],
        }),
    );
    let gen_r = result(&first, "gen");
    assert!(ok(gen_r), "{}", gen_r["error"]);
    let go_signer = SignerKey::parse(gen_r["skey"].as_str().unwrap()).unwrap();
    let go_vkey: VerifierKey = gen_r["vkey"].as_str().unwrap().parse().unwrap();
    assert_eq!(go_signer.verifier(), go_vkey);
    assert_eq!(go_vkey.to_string(), gen_r["vkey"].as_str().unwrap());
    assert_eq!(
        go_signer.to_go_format().as_str(),
        gen_r["skey"].as_str().unwrap()
    );

    // Ed25519 is deterministic: Go's note with our key is byte for byte ours.
    let r = result(&first, "our-key");
    assert!(ok(r), "Go cannot sign with our key file: {}", r["error"]);
    assert_eq!(r["note"].as_str().unwrap(), ours.sign(&body).unwrap());

    let second = go(
        bin,
        &json!({"sign": [{"id": "go-key", "skey": gen_r["skey"], "text": body}]}),
    );
    let r = result(&second, "go-key");
    assert!(ok(r), "{}", r["error"]);
    let note = r["note"].as_str().unwrap();
    let cp = Checkpoint::from_note(note, std::slice::from_ref(&go_vkey)).unwrap();
    assert_eq!((cp.size, cp.root), (33, root_of(&all)));
    // And not with our own key, nor once the size is changed.
    assert!(verify_note(note, &[ours.verifier()]).is_err());
    assert!(verify_note(&note.replacen("\n33\n", "\n34\n", 1), &[go_vkey]).is_err());
}

/// End to end (issue #13): Go checks the proofs `acttrace prove` prints for a log the layer
/// wrote with a checkpoint key. The proofs are made by the library calls `prove` is a shell
/// over (`log_tree`, `inclusion_proof_text`) and read back with `TlogProof::parse`; Go opens
/// the checkpoint note with the verifier key and verifies every entry's inclusion proof.
#[test]
fn go_verifies_the_proofs_of_a_log_the_layer_wrote() {
    use acttrace::checkpoint::TlogProof;
    use acttrace::verify::{
        Input, MAX_PROOF_LEAVES, VerifyOptions, inclusion_proof_text, log_tree,
    };
    use tracing_subscriber::prelude::*;

    let Some(bin) = oracle() else { return };
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/checkpoint-example");
    let vkey_text = std::fs::read_to_string(vectors.join("vkey.txt")).unwrap();
    let vkey_text = vkey_text.trim();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (layer, guard) = acttrace::AuditLayer::builder()
        .system("go-e2e")
        .path(&path)
        .checkpoint_key_from_file(vectors.join("skey.txt"))
        .checkpoint_every(4096, std::time::Duration::from_secs(3600))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for id in 0..6u64 {
            let span = tracing::info_span!("d", audit.decision = "go.e2e", applicant = id);
            let _e = span.enter();
            acttrace::tool_call!(name = "lookup", arguments = %id);
        }
    });
    guard.shutdown(std::time::Duration::from_secs(60)).unwrap();

    let hashes: Vec<[u8; 32]> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let h = v["hash"].as_str().unwrap();
            let mut out = [0u8; 32];
            for (i, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
            }
            out
        })
        .collect();
    // The last entry is shutdown's checkpoint, over every entry before it.
    let size = hashes.len() as u64 - 1;
    let tree = log_tree(
        Input::open(&path).unwrap(),
        &VerifyOptions::default(),
        None,
        &[],
        MAX_PROOF_LEAVES,
    )
    .unwrap();
    let mut inclusions = Vec::new();
    let mut note = String::new();
    for seq in 0..size {
        let (text, signed) = inclusion_proof_text(&tree, seq, size).unwrap();
        assert!(signed);
        let proof = TlogProof::parse(&text).unwrap();
        let c =
            Checkpoint::parse_body(&proof.checkpoint[..proof.checkpoint.find("\n\n").unwrap() + 1])
                .unwrap();
        assert_eq!(c.size, size);
        note = proof.checkpoint.clone();
        let case = |tag: &str, root: &Hash| {
            json!({"id": format!("{tag}-{seq}"), "size": size, "index": seq,
                   "leaf": hex(&hashes[seq as usize]), "root": b64(root),
                   "proof": proof_json(&proof.hashes)})
        };
        inclusions.push(case("ok", &c.root));
        inclusions.push(case("bad", &flip(&c.root)));
    }
    let notes = json!([{"id": "note", "note": note, "vkeys": [vkey_text]}]);
    let results = go(
        bin,
        &json!({"leaves": [], "inclusions": inclusions, "notes": notes}),
    );
    let r = result(&results, "note");
    assert!(
        ok(r),
        "Go rejects the layer's checkpoint note: {}",
        r["error"]
    );
    for seq in 0..size {
        let r = result(&results, &format!("ok-{seq}"));
        assert!(ok(r), "entry {seq}: Go rejects our proof: {}", r["error"]);
        assert!(!ok(result(&results, &format!("bad-{seq}"))), "entry {seq}");
    }
}
