//! Forward-secure epoch keys (issue #13): the writer rolls its epoch key by entry count and at
//! rotation, keeps only the key in force in its 0600 state file, refuses to start without a
//! state that matches the chain, and resolves a roll cut short; `verify --fs-vkey` catches a
//! rewrite of a closed epoch by whoever holds the log's key, the HMAC key and the current epoch
//! key, and forged epoch chains.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use acttrace::chain::{GENESIS, HashAlg, SealedEntry};
use acttrace::checkpoint::{
    Checkpoint, EpochKey, EpochState, Frontier, KeyEpoch, SignerKey, VerifierKey, verify_note,
};
use acttrace::json::{self, Value};
use acttrace::verify::{
    CheckpointOptions, ProblemKind, Verification, VerifyOptions, verify_dir, verify_reader,
};
use acttrace::writer::SegmentedWriter;
use acttrace::{AuditGuard, AuditLayer, AuditLayerBuilder, FlagAction, Severity};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::checkpoints::{ORIGIN, example_signer, example_vkey, hmac_key, raw_hash};

const HOUR: Duration = Duration::from_secs(3600);

fn key_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/checkpoint-example/skey.txt")
}

/// A fresh epoch-0 state for the example origin at `path`; its verifier key.
fn new_state(path: &Path) -> VerifierKey {
    let state = EpochState::generate(ORIGIN).unwrap();
    state.create_new(path).unwrap();
    state.current.signer.verifier()
}

/// A log with checkpoints every 3 entries and an epoch every 5, by count only (an hour is
/// never reached), so that nothing depends on the machine's speed.
fn builder(state: &Path) -> AuditLayerBuilder {
    AuditLayer::builder()
        .system("fs")
        .signing_key(hmac_key())
        .checkpoint_key_from_file(key_file())
        .checkpoint_every(3, HOUR)
        .forward_security_state(state)
        .forward_security_every(Some(5), HOUR)
}

/// Chains `n` explicit entries, each committed before the next is sent.
fn flags(guard: &AuditGuard, n: usize) {
    for i in 0..n {
        guard
            .flag(&format!("f{i}"), FlagAction::Flagged, Severity::Info, &[])
            .unwrap();
    }
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| json::parse(l).unwrap()).collect()
}

fn kind(e: &Value) -> &str {
    e.get("type").and_then(Value::as_str).unwrap()
}

fn payload_str<'a>(e: &'a Value, field: &str) -> &'a str {
    e.get("payload")
        .and_then(|p| p.get(field))
        .and_then(Value::as_str)
        .unwrap()
}

fn opts(fs_key: Option<&VerifierKey>) -> VerifyOptions {
    VerifyOptions {
        key: Some(hmac_key()),
        checkpoints: CheckpointOptions {
            keys: vec![example_vkey()],
            fs_key: fs_key.cloned(),
            ..CheckpointOptions::default()
        },
        ..VerifyOptions::default()
    }
}

fn verify(text: &str, fs_key: Option<&VerifierKey>) -> Verification {
    verify_reader(text.as_bytes(), "test", &opts(fs_key)).unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Writes a log of `n` flags with forward security; returns its text.
fn write_log(dir: &Path, state: &Path, n: usize) -> String {
    let path = dir.join("audit.jsonl");
    let (_layer, guard) = builder(state).path(&path).build().unwrap();
    flags(&guard, n);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn epochs_roll_by_count_each_checkpoint_carries_the_key_in_force_and_the_state_keeps_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("log.key.fs");
    let e0 = new_state(&state_path);
    let text = write_log(dir.path(), &state_path, 20);
    let entries = lines(&text);

    // audit_open records the epoch in force (0, its key), for the next open's check.
    let open = entries[0].get("payload").unwrap();
    assert_eq!(open.get("epoch").and_then(Value::as_u64), Some(0));
    assert_eq!(payload_str(&entries[0], "epoch_key"), e0.to_string());

    // Follow the chain of epochs here, independently of the verifier: each announcement is
    // signed by the key before, names the next epoch and the tree at its own position; each
    // checkpoint is signed by the log's key and the key in force.
    let mut in_force = (0u64, e0.clone());
    let mut tree = Frontier::new();
    let (mut rolls, mut checkpoints) = (0, 0);
    for e in &entries {
        let seq = e.get("seq").and_then(Value::as_u64).unwrap();
        match kind(e) {
            "key_epoch" => {
                let v =
                    verify_note(payload_str(e, "note"), std::slice::from_ref(&in_force.1)).unwrap();
                let a = KeyEpoch::parse_body(&v.text).unwrap();
                assert_eq!(
                    (a.origin.as_str(), a.epoch, a.tree_size),
                    (ORIGIN, in_force.0 + 1, seq)
                );
                assert_eq!(a.root, tree.root());
                assert_eq!(payload_str(e, "key"), a.key.to_string());
                in_force = (a.epoch, a.key);
                rolls += 1;
            }
            "checkpoint" => {
                let note = payload_str(e, "note");
                let v = verify_note(note, &[example_vkey(), in_force.1.clone()]).unwrap();
                assert_eq!(v.verified_by.len(), 2, "two signature lines at seq {seq}");
                let c = Checkpoint::parse_body(&v.text).unwrap();
                assert_eq!((c.size, c.root), (seq, tree.root()));
                checkpoints += 1;
            }
            _ => {}
        }
        tree.append(&raw_hash(e.get("hash").and_then(Value::as_str).unwrap()));
    }
    assert!(
        rolls >= 3,
        "20 flags and their checkpoints make several epochs: {rolls}"
    );
    assert!(checkpoints >= rolls);

    // The state holds the key in force alone, named <origin>/fs, readable by its owner only.
    let state = EpochState::load(&state_path).unwrap();
    assert!(state.next.is_none());
    assert_eq!(state.current.epoch, in_force.0);
    assert_eq!(state.current.signer.verifier(), in_force.1);
    let raw = std::fs::read_to_string(&state_path).unwrap();
    assert_eq!(raw.lines().count(), 2, "header and one key");
    assert!(!dir.path().join("log.key.fs.tmp").exists());
    #[cfg(unix)]
    assert_eq!(mode(&state_path), 0o600);

    // The verifier agrees, with the epoch-0 key; without it, it says what it did not check.
    let v = verify(&text, Some(&e0));
    assert!(v.ok(), "{}: {:#?}", v.summary(), v.problems);
    let report = v.checkpoints.as_ref().unwrap();
    assert_eq!(report.epochs_seen, rolls);
    assert_eq!(report.epoch_signed, checkpoints);
    assert_eq!(report.epoch_end.as_ref().unwrap().0, in_force.0);
    assert!(
        v.summary().contains("forward security checked"),
        "{}",
        v.summary()
    );
    let v = verify(&text, None);
    assert!(v.ok(), "{}", v.summary());
    assert!(
        v.summary().contains("forward security not checked"),
        "{}",
        v.summary()
    );

    // Reopened, the log continues in the epoch in force (resumed from the state).
    let path = dir.path().join("audit.jsonl");
    let (_layer, guard) = builder(&state_path).path(&path).build().unwrap();
    flags(&guard, 12);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let v = verify(&text, Some(&e0));
    assert!(v.ok(), "{}: {:#?}", v.summary(), v.problems);
    assert!(v.checkpoints.as_ref().unwrap().epochs_seen > rolls);
}

#[test]
fn every_rotation_starts_a_new_epoch_and_the_directory_verifies_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("log.key.fs");
    let e0 = new_state(&state_path);
    let log = dir.path().join("log");
    let (_layer, guard) = builder(&state_path)
        .forward_security_every(None, HOUR)
        .writer(SegmentedWriter::new(&log, "audit").max_bytes(3_000))
        .build()
        .unwrap();
    flags(&guard, 12);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    assert!(segments.len() >= 3, "{segments:?}");
    // Only rotations end epochs here (an hour is never reached, no count is set): each
    // segment after the first opens in the epoch its predecessor's last key_epoch announced.
    let mut announced = 0;
    for (i, seg) in segments.iter().enumerate() {
        let entries = lines(&std::fs::read_to_string(seg).unwrap());
        if i > 0 {
            assert_eq!(kind(&entries[0]), "segment_open");
            let epoch = entries[0]
                .get("payload")
                .and_then(|p| p.get("epoch"))
                .and_then(Value::as_u64);
            assert_eq!(epoch, Some(announced), "{}", seg.display());
        }
        for e in entries.iter().filter(|e| kind(e) == "key_epoch") {
            announced = e
                .get("payload")
                .and_then(|p| p.get("epoch"))
                .and_then(Value::as_u64)
                .unwrap();
        }
    }
    assert_eq!(
        announced,
        segments.len() as u64 - 1,
        "one roll per rotation"
    );
    let v = verify_dir(&log, &opts(Some(&e0))).unwrap();
    assert!(v.ok(), "{}: {:#?}", v.summary(), v.problems);
    assert_eq!(
        v.checkpoints
            .as_ref()
            .unwrap()
            .epoch_end
            .as_ref()
            .unwrap()
            .0,
        announced
    );
    // Another epoch-0 key: the first segment's first checkpoint is refused.
    let other = EpochState::generate(ORIGIN)
        .unwrap()
        .current
        .signer
        .verifier();
    let v = verify_dir(&log, &opts(Some(&other))).unwrap();
    assert!(!v.ok());
}

#[test]
fn the_writer_refuses_to_start_without_a_state_or_with_one_that_does_not_match_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let missing = dir.path().join("missing.fs");
    let err = builder(&missing)
        .path(&path)
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("does not exist") && err.contains("keygen checkpoint"),
        "{err}"
    );
    assert!(!path.exists() || std::fs::read_to_string(&path).unwrap().is_empty());

    // Another origin's state.
    let foreign = dir.path().join("foreign.fs");
    EpochState::generate("acttrace.example/other")
        .unwrap()
        .create_new(&foreign)
        .unwrap();
    let err = builder(&foreign)
        .path(&path)
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("acttrace.example/other/fs"), "{err}");

    // A log that rolled some epochs, then a fresh epoch-0 state for it.
    let state_path = dir.path().join("log.key.fs");
    new_state(&state_path);
    write_log(dir.path(), &state_path, 12);
    let fresh = dir.path().join("fresh.fs");
    new_state(&fresh);
    let err = builder(&fresh)
        .path(&path)
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("does not match") && err.contains("last epoch"),
        "{err}"
    );

    // A log with checkpoints but no epochs cannot take them on later.
    let plain = dir.path().join("plain.jsonl");
    let (_layer, guard) = AuditLayer::builder()
        .path(&plain)
        .signing_key(hmac_key())
        .checkpoint_key_from_file(key_file())
        .build()
        .unwrap();
    flags(&guard, 2);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    let late = dir.path().join("late.fs");
    new_state(&late);
    let err = builder(&late)
        .path(&plain)
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("without epoch signatures"), "{err}");

    // Forward security needs a checkpoint key.
    let err = AuditLayer::builder()
        .path(dir.path().join("x.jsonl"))
        .forward_security_state(&state_path)
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("needs a checkpoint key"), "{err}");
}

#[test]
fn a_state_holding_two_keys_resolves_to_the_one_the_chain_announced_last() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("log.key.fs");
    let e0 = new_state(&state_path);
    write_log(dir.path(), &state_path, 12);
    let state = EpochState::load(&state_path).unwrap();
    let k = state.current.epoch;
    assert!(k >= 1);
    let in_force = state.current.signer.verifier();
    let name = format!("{ORIGIN}/fs");

    // A crash after the announcement's commit, before the rewrite: {E(k-1), E(k)} on disk
    // (E(k-1) stands in for the key the writer had not dropped yet).
    let cut_short = EpochState {
        current: EpochKey {
            epoch: k - 1,
            signer: SignerKey::generate(&name).unwrap(),
        },
        next: Some(state.current),
    };
    std::fs::remove_file(&state_path).unwrap();
    cut_short.create_new(&state_path).unwrap();
    let path = dir.path().join("audit.jsonl");
    let (_layer, guard) = builder(&state_path).path(&path).build().unwrap();
    guard.flush().unwrap();
    drop(guard);
    let resolved = EpochState::load(&state_path).unwrap();
    assert!(resolved.next.is_none());
    assert_eq!(resolved.current.signer.verifier(), in_force);

    // A crash before the announcement's commit: {E(k), E(k+1)}, E(k+1) never announced.
    let current = resolved.current.epoch;
    let unannounced = SignerKey::generate(&name).unwrap();
    let before = EpochState {
        current: resolved.current,
        next: Some(EpochKey {
            epoch: current + 1,
            signer: unannounced,
        }),
    };
    std::fs::remove_file(&state_path).unwrap();
    before.create_new(&state_path).unwrap();
    let (_layer, guard) = AuditLayer::builder()
        .system("fs")
        .signing_key(hmac_key())
        .checkpoint_key_from_file(key_file())
        .forward_security_state(&state_path)
        .path(&path)
        .build()
        .unwrap();
    guard.flush().unwrap();
    drop(guard);
    let resolved = EpochState::load(&state_path).unwrap();
    assert!(resolved.next.is_none());
    assert_eq!(resolved.current.epoch, current);
    let text = std::fs::read_to_string(&path).unwrap();
    let v = verify(&text, Some(&e0));
    assert!(v.ok(), "{}: {:#?}", v.summary(), v.problems);
}

/// An intruder's rewrite: `edit` changes the entry lines, then every entry is re-hashed and
/// re-signed with the HMAC key, and every checkpoint from index `from` on re-signed with the
/// log's key and `epoch_key` (the only epoch key the intruder has), every announcement from
/// there re-signed with it too (at its new root).
fn rewrite(
    text: &str,
    epoch_key: &SignerKey,
    from: usize,
    edit: impl Fn(&mut Vec<Value>),
) -> String {
    let mut entries = lines(text);
    edit(&mut entries);
    let key = hmac_key();
    let mut tree = Frontier::new();
    let mut prev = GENESIS.to_owned();
    let mut out = String::new();
    for (seq, e) in entries.iter().enumerate() {
        let seq = seq as u64;
        let mut payload = e.get("payload").unwrap().clone();
        let root = tree.root();
        let set = |payload: &mut Value, field: &str, v: Value| {
            if let Value::Object(fields) = payload {
                for (k, x) in fields.iter_mut() {
                    if k == field {
                        *x = v.clone();
                    }
                }
            }
        };
        match kind(e) {
            _ if (seq as usize) < from => {}
            "checkpoint" => {
                let body = Checkpoint::new(ORIGIN, seq, root).unwrap().body();
                let note = epoch_key
                    .add_signature(&example_signer().sign(&body).unwrap())
                    .unwrap();
                set(&mut payload, "tree_size", Value::from(seq));
                set(&mut payload, "root", Value::from(B64.encode(root)));
                set(&mut payload, "note", Value::from(note));
            }
            "key_epoch" => {
                let epoch = payload.get("epoch").and_then(Value::as_u64).unwrap();
                let announced: VerifierKey = payload
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap()
                    .parse()
                    .unwrap();
                let a = KeyEpoch {
                    origin: ORIGIN.into(),
                    epoch,
                    tree_size: seq,
                    root,
                    key: announced,
                };
                set(&mut payload, "tree_size", Value::from(seq));
                set(&mut payload, "root", Value::from(B64.encode(root)));
                set(
                    &mut payload,
                    "note",
                    Value::from(epoch_key.sign(&a.body()).unwrap()),
                );
            }
            _ => {}
        }
        let sealed = SealedEntry::seal(
            HashAlg::Sha256,
            Some(&key),
            seq,
            e.get("ts").and_then(Value::as_str).unwrap().to_owned(),
            kind(e).to_owned(),
            payload,
            prev,
        );
        prev = sealed.hash.clone();
        tree.append(&raw_hash(&sealed.hash));
        out.push_str(&sealed.to_line());
    }
    out
}

fn bad_checkpoint_problems(v: &Verification) -> Vec<String> {
    v.problems
        .iter()
        .filter(|p| p.kind == ProblemKind::BadCheckpoint)
        .map(|p| p.detail.clone())
        .collect()
}

#[test]
fn a_rewrite_of_a_closed_epoch_with_the_log_key_and_the_current_epoch_key_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("log.key.fs");
    let e0 = new_state(&state_path);
    let text = write_log(dir.path(), &state_path, 20);
    // What the intruder takes from the host: the state file (the current epoch key), the log's
    // key and the HMAC key.
    let current = EpochState::load(&state_path).unwrap().current;
    assert!(current.epoch >= 2);
    // Rewrite a flag of epoch 0 (the first flag, seq 1).
    let forged = rewrite(&text, &current.signer, 1, |entries| {
        let e = &mut entries[1];
        assert_eq!(kind(e), "policy_flag");
        if let Some(Value::Object(p)) = e_payload(e) {
            p.push(("note".into(), Value::from("rewritten")));
        }
    });
    assert_ne!(forged, text);
    // The log's own key vouches for the rewrite: only forward security catches it.
    let v = verify(&forged, None);
    assert!(v.ok(), "{}: {:#?}", v.summary(), v.problems);
    let v = verify(&forged, Some(&e0));
    assert!(!v.ok());
    let bad = bad_checkpoint_problems(&v);
    assert!(
        bad.iter().any(|p| p.contains("epoch 0")),
        "the first checkpoint of epoch 0 is not signed by E(0): {bad:#?}"
    );

    // A rewrite of the current epoch alone (after the last announcement) is what the current
    // key can still do: it verifies, as documented.
    let all = lines(&text);
    let last_announcement = all.iter().rposition(|e| kind(e) == "key_epoch").unwrap();
    let target = last_announcement
        + 1
        + all[last_announcement + 1..]
            .iter()
            .position(|e| kind(e) == "policy_flag")
            .unwrap();
    let tail = rewrite(&text, &current.signer, target, |entries| {
        let e = &mut entries[target];
        if let Some(Value::Object(p)) = e_payload(e) {
            p.push(("note".into(), Value::from("rewritten")));
        }
    });
    assert_ne!(tail, text);
    let v = verify(&tail, Some(&e0));
    assert!(v.ok(), "{}: {:#?}", v.summary(), v.problems);
}

fn e_payload(e: &mut Value) -> Option<&mut Value> {
    match e {
        Value::Object(fields) => fields
            .iter_mut()
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v),
        _ => None,
    }
}

#[test]
fn forged_epoch_chains_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("log.key.fs");
    let e0 = new_state(&state_path);
    let text = write_log(dir.path(), &state_path, 20);
    let key = hmac_key();
    let reseal = |entries: Vec<Value>| {
        let lines: Vec<String> = entries.iter().map(json::to_canonical).collect();
        common::checkpoints::reseal(&lines, Some(&key))
    };

    // An epoch chain from another epoch-0 key (the real one unknown to the forger): a whole
    // log the forger signs with the log key (stolen) and an epoch 0 of his own.
    let forger = EpochState::generate(ORIGIN).unwrap();
    let forged = rewrite(&text, &forger.current.signer, 0, |_| {});
    let v = verify(&forged, Some(&e0));
    assert!(!v.ok());
    assert!(
        bad_checkpoint_problems(&v)
            .iter()
            .any(|p| p.contains("forward security")),
        "{:#?}",
        v.problems
    );

    // A replayed announcement: the first key_epoch copied to the end (the chain re-hashed):
    // it names a tree that is not the one at its position.
    let mut entries = lines(&text);
    let first = entries
        .iter()
        .find(|e| kind(e) == "key_epoch")
        .unwrap()
        .clone();
    entries.push(first);
    let v = verify(&reseal(entries), Some(&e0));
    assert!(!v.ok());
    let bad = bad_checkpoint_problems(&v);
    assert!(
        bad.iter()
            .any(|p| p.contains("key_epoch") && p.contains("is not its seq")),
        "{bad:#?}"
    );

    // An announcement of a key the key before never announced: the second one's key swapped
    // for the forger's, its note kept.
    let mut entries = lines(&text);
    let second = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| kind(e) == "key_epoch")
        .nth(1)
        .unwrap()
        .0;
    let forged_key = forger.current.signer.verifier().to_string();
    if let Some(Value::Object(p)) = e_payload(&mut entries[second]) {
        for (k, v) in p.iter_mut() {
            if k == "key" {
                *v = Value::from(forged_key.as_str());
            }
        }
    }
    let v = verify(&reseal(entries), Some(&e0));
    assert!(!v.ok());
    assert!(
        bad_checkpoint_problems(&v)
            .iter()
            .any(|p| p.contains("forged epoch chain")),
        "{:#?}",
        v.problems
    );
}

#[test]
fn keygen_writes_the_epoch_zero_state_and_verify_checks_it_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("log.key");
    let origin = "acttrace.test/fs/prod-1";
    let o = Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .args(["keygen", "checkpoint", "--origin", origin])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    // Standard output stays the log's verifier key alone.
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(stderr.contains("store this off the host"), "{stderr}");
    let fs_line = stderr
        .lines()
        .find(|l| l.starts_with(&format!("{origin}/fs+")))
        .expect("the forward-security verifier key on a line of its own");
    let fs_vkey: VerifierKey = fs_line.parse().unwrap();
    let fs_path = dir.path().join("log.key.fs");
    let state = EpochState::load(&fs_path).unwrap();
    assert_eq!(state.current.epoch, 0);
    assert_eq!(state.current.signer.verifier(), fs_vkey);
    #[cfg(unix)]
    assert_eq!(mode(&fs_path), 0o600);
    // The seed is never printed. Base64 holds '+' too, so the seed is what follows
    // "PRIVATE+KEY+<origin>/fs+<8-digit id>+", not what follows the last '+'.
    let seed = state.current.signer.to_go_format();
    let prefix = format!("PRIVATE+KEY+{origin}/fs+");
    assert!(
        seed.starts_with(&prefix),
        "{}",
        &seed[..prefix.len().min(seed.len())]
    );
    let seed_b64 = &seed[prefix.len() + 9..];
    assert_eq!(seed_b64.len(), 44, "base64 of 0x01 and a 32-byte seed");
    assert!(!stderr.contains(seed_b64) && !stdout.contains(seed_b64));

    // A second run never overwrites either file.
    let before = std::fs::read(&fs_path).unwrap();
    std::fs::remove_file(&out).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .args(["keygen", "checkpoint", "--origin", origin])
        .arg(&out)
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert!(!out.exists());
    assert_eq!(std::fs::read(&fs_path).unwrap(), before);

    // The keys keygen made run a log, which verify checks with the printed keys.
    let o = Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .args(["keygen", "checkpoint", "--origin", origin])
        .arg(dir.path().join("run.key"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let vkey = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    let fs_vkey = String::from_utf8(o.stderr)
        .unwrap()
        .lines()
        .find(|l| l.starts_with(&format!("{origin}/fs+")))
        .unwrap()
        .to_owned();
    let log = dir.path().join("audit.jsonl");
    let (_layer, guard) = AuditLayer::builder()
        .path(&log)
        .checkpoint_key_from_file(dir.path().join("run.key"))
        .checkpoint_every(3, HOUR)
        .forward_security_state(dir.path().join("run.key.fs"))
        .forward_security_every(Some(4), HOUR)
        .build()
        .unwrap();
    flags(&guard, 10);
    guard.shutdown(Duration::from_secs(60)).unwrap();
    let run = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_acttrace"))
            .arg("verify")
            .arg(&log)
            .args(["--vkey", &vkey])
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (code, said) = run(&["--fs-vkey", &fs_vkey]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("forward security checked"), "{said}");
    let (code, said) = run(&[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("forward security not checked"), "{said}");
    let (code, said) = run(&["--fs-vkey", &vkey]);
    assert_ne!(code, Some(0));
    assert!(said.contains("<origin>/fs"), "{said}");
    // The same key from a file (comments and blank lines around it), and bad files named.
    let key_file = dir.path().join("fs.vkey");
    std::fs::write(&key_file, format!("# epoch 0\n\n{fs_vkey}\n")).unwrap();
    let (code, said) = run(&["--fs-vkey-file", key_file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("forward security checked"), "{said}");
    std::fs::write(&key_file, format!("{fs_vkey}\n{fs_vkey}\n")).unwrap();
    let (code, said) = run(&["--fs-vkey-file", key_file.to_str().unwrap()]);
    assert_ne!(code, Some(0));
    assert!(said.contains("fs.vkey: line 2: a second key"), "{said}");
    std::fs::write(&key_file, "# nothing\n").unwrap();
    let (code, said) = run(&["--fs-vkey-file", key_file.to_str().unwrap()]);
    assert_ne!(code, Some(0));
    assert!(said.contains("fs.vkey: no key in the file"), "{said}");
    std::fs::write(&key_file, format!("{vkey}\n")).unwrap();
    let (code, said) = run(&["--fs-vkey-file", key_file.to_str().unwrap()]);
    assert_ne!(code, Some(0));
    assert!(
        said.contains("fs.vkey: line 1: a forward-security key is named"),
        "{said}"
    );
    let (code, said) = run(&[
        "--fs-vkey",
        &fs_vkey,
        "--fs-vkey-file",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("cannot be used with"), "{said}");
    let other = EpochState::generate(origin)
        .unwrap()
        .current
        .signer
        .verifier();
    let (code, said) = run(&["--fs-vkey", &other.to_string()]);
    assert_ne!(code, Some(0), "{said}");
    assert!(said.contains("forward security"), "{said}");
}
