//! Independent Rust implementations as oracles for `acttrace::checkpoint`, in both directions:
//! `tlog_tiles` and `signed_note` (Cloudflare's ports of Go's sumdb tlog and note packages) and
//! `ct-merkle` (RFC 6962) must compute our roots, make our proofs byte for byte, accept ours,
//! and we must accept theirs; notes and keys must pass between `signed_note` and us unchanged.
//! Random trees of up to a few thousand leaves (proptest; a failure prints its case).

use acttrace::checkpoint::{
    Checkpoint, Frontier, Hash, SignerKey, VerifierKey, consistency_proof, inclusion_proof,
    leaf_hash, root_of, verify_consistency, verify_inclusion, verify_note,
};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use signed_note::{Note, Signer as _, StandardSigner, StandardVerifier, Verifier, VerifierList};
use tlog_tiles::tlog::{self, HashReader};
use zeroize::Zeroizing;

/// ct-merkle hashes through digest 0.11: sha2 0.11's SHA-256.
type CtSha256 = sha2_011::Sha256;

/// Leaves `0..n` derived from `seed` (proptest shrinks the seed and sizes, not 32-byte arrays).
fn leaves(seed: u64, n: usize) -> Vec<[u8; 32]> {
    (0..n as u64)
        .map(|i| Sha256::digest([seed.to_le_bytes(), i.to_le_bytes()].concat()).into())
        .collect()
}

/// tlog's hash storage for the leaves, filled as a log writes it (`stored_hashes`).
struct Store(Vec<tlog::Hash>);

impl HashReader for Store {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog::Hash>, tlog::Error> {
        indexes
            .iter()
            .map(|&i| {
                self.0
                    .get(i as usize)
                    .copied()
                    .ok_or(tlog::Error::IndexesNotInTree)
            })
            .collect()
    }
}

fn tlog_store(leaves: &[[u8; 32]]) -> Store {
    let mut store = Store(Vec::new());
    for (i, leaf) in leaves.iter().enumerate() {
        let hashes = tlog::stored_hashes(i as u64, leaf, &store).unwrap();
        store.0.extend(hashes);
    }
    store
}

fn ct_tree(leaves: &[[u8; 32]]) -> MemoryBackedTree<CtSha256, [u8; 32]> {
    let mut t = MemoryBackedTree::new();
    for leaf in leaves {
        t.push(*leaf);
    }
    t
}

fn th(h: &Hash) -> tlog::Hash {
    tlog::Hash(*h)
}

fn concat(p: &[Hash]) -> Vec<u8> {
    p.concat()
}

fn split(bytes: &[u8]) -> Vec<Hash> {
    bytes.chunks(32).map(|c| c.try_into().unwrap()).collect()
}

fn ct_root(root: &Hash, size: u64) -> RootHash<CtSha256> {
    RootHash::new((*root).into(), size)
}

fn flipped(p: &[Hash], at: usize) -> Vec<Hash> {
    let mut p = p.to_vec();
    p[at][0] ^= 1;
    p
}

/// A tree size in 1..=max, an index below it and an older size in 1..=size.
fn shape(max: u64) -> impl Strategy<Value = (u64, u64, u64, u64)> {
    (any::<u64>(), 1..=max).prop_flat_map(|(seed, n)| (Just(seed), Just(n), 0..n, 1..=n))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn roots_agree_with_tlog_tiles_and_ct_merkle((seed, n, _, m) in shape(3000)) {
        let all = leaves(seed, n as usize);
        let store = tlog_store(&all);
        let ct = ct_tree(&all);
        let mut frontier = Frontier::new();
        for leaf in &all[..m as usize] {
            frontier.append(leaf);
        }
        for size in [m, n] {
            let ours = root_of(&all[..size as usize]);
            prop_assert_eq!(tlog::tree_hash(size, &store).unwrap().0, ours, "size {}", size);
            if size == m {
                prop_assert_eq!(frontier.root(), ours);
            }
        }
        let ct_root_bytes: [u8; 32] = ct.root().as_bytes().as_slice().try_into().unwrap();
        prop_assert_eq!(ct_root_bytes, root_of(&all));
        // tlog's record hash of the 32 raw bytes is our leaf hash.
        prop_assert_eq!(tlog::record_hash(&all[0]).0, leaf_hash(&all[0]));
    }

    #[test]
    fn inclusion_proofs_agree_in_both_directions((seed, n, i, m) in shape(3000)) {
        let all = leaves(seed, n as usize);
        let store = tlog_store(&all);
        let ct = ct_tree(&all);
        let leaf = &all[i as usize];
        // In the full tree (ct-merkle proves only there) and in the older tree when it holds i.
        for size in [n, m].into_iter().filter(|&s| i < s) {
            let root = root_of(&all[..size as usize]);
            let ours = inclusion_proof(&all, i, size).unwrap();
            let theirs: Vec<Hash> =
                tlog::prove_record(size, i, &store).unwrap().iter().map(|h| h.0).collect();
            prop_assert_eq!(&theirs, &ours, "leaf {} of {}", i, size);
            prop_assert!(tlog::check_record(
                &ours.iter().map(th).collect(), size, th(&root), i, tlog::record_hash(leaf)
            ).is_ok());
            prop_assert!(verify_inclusion(leaf, i, size, &theirs, &root).is_ok());
            if size == n {
                let ct_proof = ct.prove_inclusion(i as usize);
                prop_assert_eq!(split(ct_proof.as_bytes()), ours.clone());
                let ours_for_ct = InclusionProof::<CtSha256>::from_bytes(concat(&ours));
                prop_assert!(ct_root(&root, n).verify_inclusion(leaf, i, &ours_for_ct).is_ok());
            }
            // A changed hash is refused by all.
            for at in 0..ours.len() {
                let bad = flipped(&ours, at);
                prop_assert!(verify_inclusion(leaf, i, size, &bad, &root).is_err());
                prop_assert!(tlog::check_record(
                    &bad.iter().map(th).collect(), size, th(&root), i, tlog::record_hash(leaf)
                ).is_err());
                let bad_ct = InclusionProof::<CtSha256>::from_bytes(concat(&bad));
                prop_assert!(ct_root(&root, size).verify_inclusion(leaf, i, &bad_ct).is_err());
            }
        }
    }

    #[test]
    fn consistency_proofs_agree_in_both_directions((seed, n, _, m) in shape(3000)) {
        let all = leaves(seed, n as usize);
        let store = tlog_store(&all);
        let ct = ct_tree(&all);
        let (old_root, new_root) = (root_of(&all[..m as usize]), root_of(&all));
        let ours = consistency_proof(&all, m, n).unwrap();
        let theirs: Vec<Hash> =
            tlog::prove_tree(n, m, &store).unwrap().iter().map(|h| h.0).collect();
        prop_assert_eq!(&theirs, &ours, "{} -> {}", m, n);
        prop_assert!(tlog::check_tree(
            &ours.iter().map(th).collect(), n, th(&new_root), m, th(&old_root)
        ).is_ok());
        prop_assert!(verify_consistency(m, n, &old_root, &new_root, &theirs).is_ok());
        if m < n {
            let ct_proof = ct.prove_consistency((n - m) as usize);
            prop_assert_eq!(split(ct_proof.as_bytes()), ours.clone());
        }
        let ours_for_ct = ConsistencyProof::<CtSha256>::try_from_bytes(concat(&ours)).unwrap();
        prop_assert!(ct_root(&new_root, n).verify_consistency(&ct_root(&old_root, m), &ours_for_ct).is_ok());
        for at in 0..ours.len() {
            let bad = flipped(&ours, at);
            prop_assert!(verify_consistency(m, n, &old_root, &new_root, &bad).is_err());
            prop_assert!(tlog::check_tree(
                &bad.iter().map(th).collect(), n, th(&new_root), m, th(&old_root)
            ).is_err());
            let bad_ct = ConsistencyProof::<CtSha256>::try_from_bytes(concat(&bad)).unwrap();
            prop_assert!(ct_root(&new_root, n)
                .verify_consistency(&ct_root(&old_root, m), &bad_ct)
                .is_err());
        }
    }
}

/// A deterministic rand_core 0.6 source for `signed_note::generate_key` (SHA-256 in counter
/// mode over a proptest seed): the key it makes is then a function of the case.
struct SeededRng([u8; 32], u64);

impl rand_core::RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            let block = Sha256::digest([&self.0[..], &self.1.to_le_bytes()].concat());
            self.1 += 1;
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for SeededRng {}

fn their_verifiers(keys: &[&VerifierKey]) -> VerifierList {
    VerifierList::new(
        keys.iter()
            .map(|k| Box::new(StandardVerifier::new(&k.to_string()).unwrap()) as Box<dyn Verifier>)
            .collect(),
    )
}

fn origin() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9./_:-]{0,40}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn notes_pass_between_signed_note_and_us(
        origin in origin(),
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        ext in proptest::option::of("[ -~]{1,30}"),
        seeds in any::<([u8; 32], [u8; 32])>(),
    ) {
        let mut cp = Checkpoint::new(&origin, size, root).unwrap();
        cp.extensions.extend(ext.filter(|e| !e.trim().is_empty()));
        let body = cp.body();
        let log_key = SignerKey::from_seed(&origin, Zeroizing::new(seeds.0)).unwrap();
        let fs_key = SignerKey::from_seed(&format!("{origin}/fs"), Zeroizing::new(seeds.1)).unwrap();
        let (log_v, fs_v) = (log_key.verifier(), fs_key.verifier());

        // Keys: our formats are signed_note's.
        prop_assert_eq!(
            log_v.to_string(),
            signed_note::new_ed25519_verifier_key(
                &origin,
                &ed25519_dalek::VerifyingKey::from_bytes(&log_v.public_key()).unwrap()
            )
        );
        let their_signer = StandardSigner::new(&log_key.to_go_format()).unwrap();
        prop_assert_eq!(their_signer.key_id(), u32::from_be_bytes(log_key.key_id()));

        // Ours -> theirs: one signature, then a second by a key they are not given.
        let ours = log_key.sign(&body).unwrap();
        let two = format!("{ours}{}", &fs_key.sign(&body).unwrap()[body.len() + 1..]);
        let n = Note::from_bytes(ours.as_bytes()).unwrap();
        let (verified, unverified) = n.verify(&their_verifiers(&[&log_v])).unwrap();
        prop_assert_eq!((verified.len(), unverified.len()), (1, 0));
        prop_assert_eq!(n.text(), body.as_bytes());
        let parsed = tlog_tiles::Checkpoint::from_bytes(n.text()).unwrap();
        let ext_text: String = cp.extensions.iter().map(|e| format!("{e}\n")).collect();
        prop_assert_eq!(
            (parsed.origin(), parsed.size(), parsed.hash().0, parsed.extension()),
            (origin.as_str(), size, root, ext_text.as_str())
        );
        let n2 = Note::from_bytes(two.as_bytes()).unwrap();
        let (verified, unverified) = n2.verify(&their_verifiers(&[&log_v])).unwrap();
        prop_assert_eq!((verified.len(), unverified.len()), (1, 1));
        let (verified, unverified) = n2.verify(&their_verifiers(&[&log_v, &fs_v])).unwrap();
        prop_assert_eq!((verified.len(), unverified.len()), (2, 0));
        // Our body parsed by them, theirs by us.
        prop_assert_eq!(Checkpoint::parse_body(&String::from_utf8(parsed.to_bytes()).unwrap()).unwrap(), cp.clone());

        // Theirs -> ours: Ed25519 is deterministic, so their note is ours byte for byte.
        let mut theirs = Note::new(body.as_bytes(), &[]).unwrap();
        theirs.add_sigs(&[&their_signer]).unwrap();
        let theirs = String::from_utf8(theirs.to_bytes()).unwrap();
        prop_assert_eq!(&theirs, &ours);
        let v = verify_note(&two, std::slice::from_ref(&log_v)).unwrap();
        prop_assert_eq!((v.verified_by.len(), v.unverified), (1, 1));

        // A changed size is refused by both.
        let bad = ours.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size ^ 1), 1);
        prop_assert!(verify_note(&bad, std::slice::from_ref(&log_v)).is_err());
        prop_assert!(Note::from_bytes(bad.as_bytes()).unwrap().verify(&their_verifiers(&[&log_v])).is_err());
    }

    #[test]
    fn keys_signed_note_generates_work_here(origin in origin(), seed in any::<[u8; 32]>()) {
        let (skey, vkey) = signed_note::generate_key(&mut SeededRng(seed, 0), &origin);
        let signer = SignerKey::parse(&skey).unwrap();
        let verifier: VerifierKey = vkey.parse().unwrap();
        prop_assert_eq!(&signer.verifier(), &verifier);
        prop_assert_eq!(verifier.to_string(), vkey);
        prop_assert_eq!(signer.to_go_format().to_string(), skey.clone());
        let body = Checkpoint::new(&origin, 1, [0; 32]).unwrap().body();
        let mut note = Note::new(body.as_bytes(), &[]).unwrap();
        note.add_sigs(&[&StandardSigner::new(&skey).unwrap()]).unwrap();
        let note = String::from_utf8(note.to_bytes()).unwrap();
        prop_assert!(verify_note(&note, &[verifier]).is_ok());
    }
}
