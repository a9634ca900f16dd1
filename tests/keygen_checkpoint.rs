//! `acttrace keygen checkpoint --origin NAME OUT`: the private key file it writes (Go's note
//! format, mode 0600, never overwritten) and the verifier key it prints, which must verify
//! notes signed with that file's key.

use std::path::Path;
use std::process::{Command, Output};

use acttrace::checkpoint::{Checkpoint, SignerKey, VerifierKey, root_of, verify_note};

fn keygen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .arg("keygen")
        .args(args)
        .output()
        .expect("run acttrace")
}

fn checkpoint_keygen(origin: &str, out: &Path) -> Output {
    keygen(&["checkpoint", "--origin", origin, out.to_str().unwrap()])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_printed_verifier_key_verifies_notes_signed_with_the_written_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("log.key");
    let origin = "acttrace.test/keygen/prod-1";
    let o = checkpoint_keygen(origin, &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Standard output is the verifier key alone, so `> log.vkey` keeps a usable file.
    let stdout = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "stdout: {stdout:?}");
    let vkey: VerifierKey = stdout.trim_end().parse().unwrap();
    assert_eq!(vkey.name(), origin);
    assert!(stderr(&o).contains("verify --vkey"), "{}", stderr(&o));

    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.ends_with('\n') && text.lines().count() == 1);
    assert!(text.starts_with(&format!("PRIVATE+KEY+{origin}+")));
    // The private key is never printed.
    // (Base64 holds '+' too: the key is what follows the name and the 8-digit id.)
    let prefix = format!("PRIVATE+KEY+{origin}+");
    let seed_b64 = &text.trim_end()[prefix.len() + 9..];
    assert_eq!(seed_b64.len(), 44, "base64 of 0x01 and a 32-byte seed");
    assert!(!stdout.contains(seed_b64) && !stderr(&o).contains(seed_b64));

    let signer = SignerKey::parse(text.trim_end()).unwrap();
    assert_eq!(signer.verifier(), vkey);
    let leaves: Vec<[u8; 32]> = (0u8..3).map(|i| [i; 32]).collect();
    let body = Checkpoint::new(origin, 3, root_of(&leaves)).unwrap().body();
    let note = signer.sign(&body).unwrap();
    let verified = verify_note(&note, std::slice::from_ref(&vkey)).unwrap();
    assert_eq!(verified.text, body);
    assert_eq!(
        Checkpoint::from_note(&note, &[vkey]).unwrap().root,
        root_of(&leaves)
    );
}

#[test]
fn two_runs_make_different_keys() {
    let dir = tempfile::tempdir().unwrap();
    let a = checkpoint_keygen("acttrace.test/a", &dir.path().join("a.key"));
    let b = checkpoint_keygen("acttrace.test/a", &dir.path().join("b.key"));
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)));
    assert_ne!(a.stdout, b.stdout);
}

#[cfg(unix)]
#[test]
fn the_key_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("log.key");
    let o = checkpoint_keygen("acttrace.test/mode", &out);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mode = std::fs::metadata(&out).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("log.key");
    std::fs::write(&out, "precious\n").unwrap();
    let o = checkpoint_keygen("acttrace.test/again", &out);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "no verifier key for a key not written");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious\n");
}

#[test]
fn a_missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no-such-dir").join("log.key");
    let o = checkpoint_keygen("acttrace.test/dir", &out);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("directory does not exist") && err.contains("no-such-dir"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn bad_origins_are_refused_before_any_file_is_made() {
    let dir = tempfile::tempdir().unwrap();
    for (origin, why) in [
        ("has space", "space"),
        ("a+b", "'+'"),
        ("tab\there", "space"),
        ("bell\u{7}", "control character"),
        ("", "empty"),
    ] {
        let out = dir.path().join("k");
        let o = checkpoint_keygen(origin, &out);
        assert_eq!(o.status.code(), Some(2), "origin {origin:?}");
        let err = stderr(&o);
        assert!(
            err.contains("--origin") && err.contains(why),
            "{origin:?}: {err}"
        );
        assert!(!out.exists(), "origin {origin:?} made a file");
    }
}

#[test]
fn origin_is_required_for_checkpoint_keys_and_refused_for_hmac_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k");
    let o = keygen(&["checkpoint", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--origin"), "{}", stderr(&o));
    assert!(!out.exists());

    let o = keygen(&["hmac", "--origin", "x", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("keygen hmac"), "{}", stderr(&o));
    assert!(!out.exists());

    let o = keygen(&["checkpoint", "--origin", "x", "-"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty(), "a private key on stdout");
}
