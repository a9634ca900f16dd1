//! Issue #13 (public verifiability), foundation: the Merkle tree, proofs and signed checkpoint
//! notes of `acttrace::checkpoint`, against the worked example in
//! tests/vectors/checkpoint-example (verified with Go's note and tlog packages).

use acttrace::checkpoint::*;
use std::path::PathBuf;
use zeroize::Zeroizing;

fn example(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/checkpoint-example")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn example_leaves() -> Vec<[u8; 32]> {
    example("leaves.hex")
        .lines()
        .map(|l| {
            let mut out = [0u8; 32];
            for (i, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(&l[2 * i..2 * i + 2], 16).unwrap();
            }
            out
        })
        .collect()
}

fn vkey() -> VerifierKey {
    example("vkey.txt").trim_end().parse().unwrap()
}

fn b64(h: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(h)
}

#[test]
fn example_root_matches_the_checkpoint() {
    let leaves = example_leaves();
    assert_eq!(leaves.len(), 4);
    let root = root_of(&leaves);
    assert_eq!(b64(&root), "uEGUP6XMQL0Sk8mBumifxWFNtNXqJFMMbM2qNO0AXEw=");
    let mut f = Frontier::new();
    leaves.iter().for_each(|l| f.append(l));
    assert_eq!(f.root(), root);
    let body =
        Checkpoint::parse_body(example("checkpoint.txt").split("\n\n").next().unwrap()).err();
    // The text before the blank line lacks its final newline: refused.
    assert!(body.is_some());
    let cp = Checkpoint::from_note(&example("checkpoint.txt"), &[vkey()]).unwrap();
    assert_eq!(
        (cp.origin.as_str(), cp.size, cp.root),
        ("acttrace.example/loan-desk/prod-1", 4, root)
    );
    assert!(cp.extensions.is_empty());
}

#[test]
fn example_keys_parse_and_print() {
    let v = vkey();
    assert_eq!(v.key_id(), [0x26, 0x10, 0x9a, 0xf9]);
    assert_eq!(key_id(v.name(), &v.public_key()), v.key_id());
    assert_eq!(v.to_string(), example("vkey.txt").trim_end());
    let s = SignerKey::parse(example("skey.txt").trim_end()).unwrap();
    assert_eq!(s.verifier(), v);
    let dbg = format!("{s:?}");
    assert!(
        dbg.contains("26109af9") && !dbg.contains("AUeBsfhy"),
        "{dbg}"
    );
}

#[test]
fn example_signing_reproduces_the_checkpoint_byte_for_byte() {
    let s = SignerKey::parse(example("skey.txt").trim_end()).unwrap();
    let cp = Checkpoint::new(
        "acttrace.example/loan-desk/prod-1",
        4,
        root_of(&example_leaves()),
    )
    .unwrap();
    assert_eq!(s.sign(&cp.body()).unwrap(), example("checkpoint.txt"));
}

#[test]
fn example_tampered_checkpoints_fail() {
    let note = example("checkpoint.txt");
    let keys = [vkey()];
    let bad_sig = |n: &str| matches!(verify_note(n, &keys), Err(NoteError::BadSignature { .. }));
    assert!(verify_note(&note, &keys).is_ok());
    assert!(bad_sig(&note.replacen("\n4\n", "\n5\n", 1)));
    assert!(bad_sig(&note.replacen("uEGUP6", "uEGUP7", 1)));
    assert!(bad_sig(&note.replacen("prod-1\n4", "prod-2\n4", 1)));
    // A corrupted signature byte.
    assert!(bad_sig(&note.replacen("JhCa+X9V", "JhCa+X9W", 1)));
}

#[test]
fn unknown_signatures_are_ignored_and_unknown_only_is_refused() {
    let note = example("checkpoint.txt");
    let other = SignerKey::from_seed("witness.example", Zeroizing::new([9u8; 32])).unwrap();
    let body = note.split_once("\n\n").unwrap().0.to_owned() + "\n";
    let other_note = other.sign(&body).unwrap();
    let other_line = other_note.rsplit_once("\n\n").unwrap().1;
    // An extra line from an unknown key, and one of an unknown signature type (same name,
    // another key id).
    let unknown_type = "\u{2014} acttrace.example/loan-desk/prod-1 AAAAAAYAAAAAAAAA\n";
    let both = format!("{note}{other_line}{unknown_type}");
    let v = verify_note(&both, &[vkey()]).unwrap();
    assert_eq!((v.verified_by.len(), v.unverified), (1, 2));
    assert_eq!(v.text, body);
    // Both known: both verified.
    let v = verify_note(&both, &[vkey(), other.verifier()]).unwrap();
    assert_eq!(v.verified_by.len(), 2);
    // Signed only by a key the reader does not know.
    assert_eq!(
        verify_note(&other_note, &[vkey()]),
        Err(NoteError::NoKnownSignature)
    );
}

#[test]
fn signature_line_limits() {
    let note = example("checkpoint.txt");
    let extra = |n: usize| {
        let mut s = note.clone();
        for i in 0..n {
            let k = SignerKey::from_seed(&format!("w{i}"), Zeroizing::new([i as u8; 32])).unwrap();
            s.push_str(k.sign("x\n").unwrap().rsplit_once("\n\n").unwrap().1);
        }
        s
    };
    assert!(
        verify_note(&extra(15), &[vkey()]).is_ok(),
        "16 lines accepted"
    );
    assert!(
        verify_note(&extra(99), &[vkey()]).is_ok(),
        "100 lines accepted"
    );
    assert_eq!(
        verify_note(&extra(100), &[vkey()]),
        Err(NoteError::TooManySignatures(101))
    );
}

#[test]
fn malformed_notes_and_keys_are_refused() {
    let note = example("checkpoint.txt");
    let keys = [vkey()];
    let body = note.split_once("\n\n").unwrap().0;
    for bad in [
        "".to_string(),
        note.trim_end().to_string(),
        body.to_string() + "\n",
        body.to_string() + "\n\n",
        note.replacen('\u{2014}', "-", 1),
        note.replacen("prod-1 Jh", "prod-1  Jh", 1),
        note.replacen("prod-1 Jh", "prod-1 *h", 1),
        body.to_string() + "\n\n\u{2014} acttrace.example/loan-desk/prod-1 JhCa\n",
        note.replacen("\n4\n", "\n4\u{7}\n", 1),
    ] {
        assert!(verify_note(&bad, &keys).is_err(), "accepted {bad:?}");
    }
    let dup = format!("{note}{}", note.rsplit_once("\n\n").unwrap().1);
    assert!(matches!(
        verify_note(&dup, &keys),
        Err(NoteError::DuplicateSignature { .. })
    ));
    let v = example("vkey.txt");
    for bad in [
        v.replacen("26109af9", "26109af8", 1),
        v.replacen("+Aa", "+Ab", 1),
        v.replacen("+26109af9", "", 1),
        "a b+26109af9+AaZ6".to_string(),
    ] {
        assert!(
            bad.trim_end().parse::<VerifierKey>().is_err(),
            "accepted {bad:?}"
        );
    }
    let s = example("skey.txt");
    assert!(SignerKey::parse(&s.replacen("26109af9", "26109af8", 1)).is_err());
    assert!(SignerKey::parse(s.trim_end().strip_prefix("PRIVATE+KEY+").unwrap()).is_err());
    let err = SignerKey::parse(&s.replacen("+AUe", "+BUe", 1))
        .unwrap_err()
        .to_string();
    assert!(!err.contains("BUeBsfhy"), "{err}");
}

#[test]
fn checkpoint_bodies_and_origins() {
    for bad in ["", "a b", "a+b", "a\tb", "a\u{1}b"] {
        assert!(validate_name(bad).is_err(), "{bad:?}");
        assert!(Checkpoint::new(bad, 1, [0; 32]).is_err());
    }
    let mut cp = Checkpoint::new("o", 12, [5; 32]).unwrap();
    cp.extensions = vec!["ext one".into(), "two".into()];
    let body = cp.body();
    assert_eq!(body, format!("o\n12\n{}\next one\ntwo\n", b64(&[5; 32])));
    assert_eq!(Checkpoint::parse_body(&body).unwrap(), cp);
    let root = b64(&[5; 32]);
    for bad in [
        format!("o\n12\n{root}"),
        format!("o\n012\n{root}\n"),
        format!("o\n+12\n{root}\n"),
        format!("o\n18446744073709551616\n{root}\n"),
        format!("o\n12\n{}\n", b64(&[5; 31])),
        format!("o\n12\n{root}\n\n"),
        "o\n12\n".to_string(),
        format!("o p\n12\n{root}\n"),
    ] {
        assert!(Checkpoint::parse_body(&bad).is_err(), "accepted {bad:?}");
    }
}

fn tree(n: usize) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| {
            let mut l = [0u8; 32];
            l[..8].copy_from_slice(
                &(i as u64 + 1)
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .to_le_bytes(),
            );
            l
        })
        .collect()
}

#[test]
fn frontier_matches_root_of_every_prefix() {
    let leaves = tree(40);
    let mut f = Frontier::new();
    assert_eq!(f.root(), empty_root());
    assert_eq!(root_of(&[]), empty_root());
    let mut saved = Vec::new();
    for (i, l) in leaves.iter().enumerate() {
        saved.push(f.clone());
        f.append(l);
        assert_eq!(f.size(), i as u64 + 1);
        assert_eq!(f.root(), root_of(&leaves[..=i]), "size {}", i + 1);
    }
    // A clone rolls back: appending from it again gives the same tree.
    let mut back = saved[17].clone();
    leaves[17..].iter().for_each(|l| back.append(l));
    assert_eq!(back, f);
    // Small trees by hand: RFC 6962 split.
    let (a, b, c) = (
        leaf_hash(&leaves[0]),
        leaf_hash(&leaves[1]),
        leaf_hash(&leaves[2]),
    );
    assert_eq!(root_of(&leaves[..1]), a);
    assert_eq!(root_of(&leaves[..3]), node_hash(&node_hash(&a, &b), &c));
}

fn flip_each(proof: &[Hash], mut check: impl FnMut(&[Hash])) {
    for i in 0..proof.len() {
        for bit in [0usize, 77, 255] {
            let mut p = proof.to_vec();
            p[i][bit / 8] ^= 1 << (bit % 8);
            check(&p);
        }
    }
}

#[test]
fn inclusion_proofs_verify_and_tampering_fails() {
    let leaves = tree(41);
    let roots: Vec<Hash> = (0..=41).map(|n| root_of(&leaves[..n])).collect();
    for n in 1..=40u64 {
        let root = root_of(&leaves[..n as usize]);
        let other_root = root_of(&leaves[1..=n as usize]);
        for m in 0..n {
            let leaf = &leaves[m as usize];
            let proof = inclusion_proof(&leaves, m, n).unwrap();
            assert_eq!(proof.len(), inclusion_proof_len(m, n).unwrap());
            verify_inclusion(leaf, m, n, &proof, &root).unwrap();
            flip_each(&proof, |p| {
                assert!(verify_inclusion(leaf, m, n, p, &root).is_err())
            });
            assert!(verify_inclusion(leaf, m, n, &proof, &other_root).is_err());
            assert!(verify_inclusion(&leaves[40], m, n, &proof, &root).is_err());
            for wrong in 0..n.max(2) + 1 {
                if wrong != m {
                    assert!(
                        verify_inclusion(leaf, wrong, n, &proof, &root).is_err(),
                        "{m} as {wrong} in {n}"
                    );
                }
            }
            // A wrong size, with that size's own root (the claim a checkpoint would make).
            for wrong in 1..=41 {
                if wrong != n {
                    let r = &roots[wrong as usize];
                    assert!(
                        verify_inclusion(leaf, m, wrong, &proof, r).is_err(),
                        "size {wrong} for {n}"
                    );
                }
            }
            let mut long = proof.clone();
            long.push([0; 32]);
            assert!(matches!(
                verify_inclusion(leaf, m, n, &long, &root),
                Err(MerkleError::ProofLength { .. })
            ));
        }
    }
}

#[test]
fn consistency_proofs_verify_and_tampering_fails() {
    let leaves = tree(41);
    let roots: Vec<Hash> = (0..=41).map(|n| root_of(&leaves[..n])).collect();
    let shifted: Vec<Hash> = (0..=40).map(|n| root_of(&leaves[1..=n])).collect();
    for n in 1..=40u64 {
        for m in 1..=n {
            let (old, new) = (&roots[m as usize], &roots[n as usize]);
            let proof = consistency_proof(&leaves, m, n).unwrap();
            assert_eq!(proof.len(), consistency_proof_len(m, n).unwrap());
            verify_consistency(m, n, old, new, &proof).unwrap();
            flip_each(&proof, |p| {
                assert!(verify_consistency(m, n, old, new, p).is_err())
            });
            assert!(verify_consistency(m, n, &shifted[m as usize], new, &proof).is_err());
            assert!(verify_consistency(m, n, old, &shifted[n as usize], &proof).is_err());
            // A wrong size, with that size's own root (the claim a checkpoint would make).
            for wrong in 1..=41 {
                let r = &roots[wrong as usize];
                if wrong != n && wrong >= m {
                    assert!(
                        verify_consistency(m, wrong, old, r, &proof).is_err(),
                        "{m}->{wrong} for {n}"
                    );
                }
                if wrong != m && wrong <= n {
                    assert!(
                        verify_consistency(wrong, n, r, new, &proof).is_err(),
                        "{wrong}->{n} for {m}"
                    );
                }
            }
            if m < n {
                assert!(verify_consistency(m, n, old, new, &proof[..proof.len() - 1]).is_err());
            }
        }
    }
}

#[test]
fn bad_proof_arguments_are_errors_not_panics() {
    let leaves = tree(8);
    let r = root_of(&leaves);
    assert_eq!(
        inclusion_proof(&leaves, 8, 8),
        Err(MerkleError::IndexOutOfRange { index: 8, size: 8 })
    );
    assert_eq!(
        inclusion_proof(&leaves, 0, 0),
        Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(
        inclusion_proof(&leaves, 0, 9),
        Err(MerkleError::SizeBeyondLeaves { size: 9, leaves: 8 })
    );
    assert_eq!(
        consistency_proof(&leaves, 0, 8),
        Err(MerkleError::EmptyOldTree)
    );
    assert_eq!(
        consistency_proof(&leaves, 5, 4),
        Err(MerkleError::OldAfterNew { old: 5, new: 4 })
    );
    assert_eq!(
        consistency_proof(&leaves, 4, 9),
        Err(MerkleError::SizeBeyondLeaves { size: 9, leaves: 8 })
    );
    assert!(verify_inclusion(&leaves[0], 0, 0, &[], &r).is_err());
    assert!(verify_inclusion(&leaves[0], u64::MAX, u64::MAX, &[], &r).is_err());
    assert!(verify_inclusion(&leaves[0], 0, u64::MAX, &[r; 64], &r).is_err());
    assert!(verify_consistency(0, 8, &r, &r, &[]).is_err());
    assert!(verify_consistency(9, 8, &r, &r, &[]).is_err());
    assert!(verify_consistency(8, 8, &r, &r, &[r]).is_err());
    assert!(verify_consistency(1, u64::MAX, &r, &r, &[r; 64]).is_err());
    assert_eq!(consistency_proof(&leaves, 8, 8), Ok(vec![]));
    verify_consistency(8, 8, &r, &r, &[]).unwrap();
    assert!(verify_consistency(8, 8, &r, &leaves[0], &[]).is_err());
    assert!(MerkleError::EmptyOldTree.to_string().contains("at least 1"));
}

#[test]
fn proof_length_at_a_million_leaves() {
    // The length function agrees with generated proofs on every (index, size) up to 40 (the
    // tests above), and here on a 300-leaf tree at a few indices.
    let leaves = tree(300);
    for m in [0u64, 1, 127, 255, 256, 299] {
        assert_eq!(
            inclusion_proof(&leaves, m, 300).unwrap().len(),
            inclusion_proof_len(m, 300).unwrap()
        );
    }
    assert_eq!(inclusion_proof_len(0, 1_000_000), Ok(20));
    let max = (0..1_000_000u64)
        .step_by(997)
        .map(|m| inclusion_proof_len(m, 1_000_000).unwrap())
        .max();
    assert_eq!(max, Some(20));
    assert_eq!(inclusion_proof_len(0, 80_000_000), Ok(27));
    assert_eq!(consistency_proof_len(1, 1_000_000), Ok(20));
}
