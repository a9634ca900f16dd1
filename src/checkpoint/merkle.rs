//! RFC 6962 / RFC 9162 Merkle tree over 32-byte leaves: hashing, a compact [`Frontier`], and
//! inclusion and consistency proofs (generation and verification).
//!
//! A leaf is the raw 32 bytes of an entry's chain hash. Leaf hash = SHA-256(0x00 ‖ leaf), node
//! hash = SHA-256(0x01 ‖ left ‖ right), a tree of n > 1 leaves splits at the largest power of
//! two smaller than n, and the empty tree's root is SHA-256 of the empty string.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 hash: a leaf, node or root hash of the tree.
pub type Hash = [u8; 32];

/// Why a proof could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MerkleError {
    /// A leaf index that is not below the tree size.
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tree size larger than the number of leaves given.
    SizeBeyondLeaves {
        /// The tree size asked for.
        size: u64,
        /// How many leaves were given.
        leaves: u64,
    },
    /// A consistency proof from an empty tree (old size 0), which RFC 9162 does not define.
    EmptyOldTree,
    /// A consistency proof whose old size exceeds its new size.
    OldAfterNew {
        /// The old tree size.
        old: u64,
        /// The new tree size.
        new: u64,
    },
    /// A proof with the wrong number of hashes for its index and sizes.
    ProofLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes a proof for these sizes has.
        expected: usize,
    },
    /// The proof's hashes do not lead to the given root(s).
    RootMismatch,
    /// A frontier given as subtree roots whose count is not the number of set bits of its
    /// size ([`Frontier::from_subtrees`]).
    SubtreeCount {
        /// The tree size.
        size: u64,
        /// Subtree roots given.
        got: usize,
        /// Subtree roots a tree of this size has (its size's set bits).
        expected: usize,
    },
}

impl fmt::Display for MerkleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MerkleError::IndexOutOfRange { index, size } => {
                write!(f, "leaf index {index} is not below the tree size {size}")
            }
            MerkleError::SizeBeyondLeaves { size, leaves } => {
                write!(f, "tree size {size} exceeds the {leaves} leaves given")
            }
            MerkleError::EmptyOldTree => {
                write!(
                    f,
                    "a consistency proof needs an old tree size of at least 1"
                )
            }
            MerkleError::OldAfterNew { old, new } => {
                write!(f, "old tree size {old} exceeds the new tree size {new}")
            }
            MerkleError::ProofLength { got, expected } => {
                write!(f, "proof has {got} hashes, these sizes need {expected}")
            }
            MerkleError::RootMismatch => write!(f, "proof does not match the root hash"),
            MerkleError::SubtreeCount {
                size,
                got,
                expected,
            } => write!(
                f,
                "a tree of {size} leaves has {expected} perfect subtrees, {got} roots were given"
            ),
        }
    }
}

impl std::error::Error for MerkleError {}

/// The hash of a leaf: SHA-256(0x00 ‖ leaf).
pub fn leaf_hash(leaf: &[u8; 32]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// The hash of an inner node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two smaller than `n` (`n` >= 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The root of a tree of leaf hashes (at least one).
fn subtree_root(hashes: &[Hash]) -> Hash {
    if hashes.len() == 1 {
        return hashes[0];
    }
    let k = split(hashes.len() as u64) as usize;
    node_hash(&subtree_root(&hashes[..k]), &subtree_root(&hashes[k..]))
}

/// The root (RFC 9162 MTH) of the tree over `leaves`, each the raw 32 bytes of a chain hash.
pub fn root_of(leaves: &[[u8; 32]]) -> Hash {
    if leaves.is_empty() {
        return empty_root();
    }
    subtree_root(&leaves.iter().map(leaf_hash).collect::<Vec<_>>())
}

/// The leaf hashes of the first `size` leaves, or an error when there are fewer.
fn leaf_hashes(leaves: &[[u8; 32]], size: u64) -> Result<Vec<Hash>, MerkleError> {
    if size > leaves.len() as u64 {
        return Err(MerkleError::SizeBeyondLeaves {
            size,
            leaves: leaves.len() as u64,
        });
    }
    Ok(leaves[..size as usize].iter().map(leaf_hash).collect())
}

/// The number of hashes in an inclusion proof of leaf `index` in a tree of `size` leaves.
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<usize, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (mut m, mut n, mut len) = (index, size, 0);
    while n > 1 {
        let k = split(n);
        if m < k {
            n = k;
        } else {
            m -= k;
            n -= k;
        }
        len += 1;
    }
    Ok(len)
}

/// The number of hashes in a consistency proof from a tree of `old` leaves to one of `new`.
pub fn consistency_proof_len(old: u64, new: u64) -> Result<usize, MerkleError> {
    check_sizes(old, new)?;
    let (mut m, mut n, mut whole, mut len) = (old, new, true, 0);
    while m != n {
        let k = split(n);
        if m <= k {
            n = k;
        } else {
            m -= k;
            n -= k;
            whole = false;
        }
        len += 1;
    }
    Ok(len + usize::from(!whole))
}

fn check_sizes(old: u64, new: u64) -> Result<(), MerkleError> {
    if old == 0 {
        return Err(MerkleError::EmptyOldTree);
    }
    if old > new {
        return Err(MerkleError::OldAfterNew { old, new });
    }
    Ok(())
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]) over leaf hashes.
fn path(m: usize, hashes: &[Hash], out: &mut Vec<Hash>) {
    let n = hashes.len();
    if n <= 1 {
        return;
    }
    let k = split(n as u64) as usize;
    if m < k {
        path(m, &hashes[..k], out);
        out.push(subtree_root(&hashes[k..]));
    } else {
        path(m - k, &hashes[k..], out);
        out.push(subtree_root(&hashes[..k]));
    }
}

/// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b) over leaf hashes.
fn subproof(m: usize, hashes: &[Hash], whole: bool, out: &mut Vec<Hash>) {
    let n = hashes.len();
    if m == n {
        if !whole {
            out.push(subtree_root(hashes));
        }
        return;
    }
    let k = split(n as u64) as usize;
    if m <= k {
        subproof(m, &hashes[..k], whole, out);
        out.push(subtree_root(&hashes[k..]));
    } else {
        subproof(m - k, &hashes[k..], false, out);
        out.push(subtree_root(&hashes[..k]));
    }
}

/// The inclusion proof (RFC 9162 §2.1.3.1) of leaf `index` in the tree over the first `size`
/// of `leaves`.
pub fn inclusion_proof(
    leaves: &[[u8; 32]],
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, MerkleError> {
    let hashes = leaf_hashes(leaves, size)?;
    let mut out = Vec::with_capacity(inclusion_proof_len(index, size)?);
    path(index as usize, &hashes, &mut out);
    Ok(out)
}

/// The consistency proof (RFC 9162 §2.1.4.1) between the trees over the first `old` and the
/// first `new` of `leaves`; empty when `old == new`.
pub fn consistency_proof(
    leaves: &[[u8; 32]],
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, MerkleError> {
    let mut out = Vec::with_capacity(consistency_proof_len(old, new)?);
    let hashes = leaf_hashes(leaves, new)?;
    subproof(old as usize, &hashes, true, &mut out);
    Ok(out)
}

/// Right-shifts `fn_` and `sn` together until the lowest bit of `fn_` is set or `fn_` is 0.
fn shift_to_set_bit(fn_: &mut u64, sn: &mut u64) {
    while *fn_ & 1 == 0 && *fn_ != 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// Verifies that `leaf` (the raw 32 bytes of a chain hash, hashed here as a leaf) is leaf
/// `index` of the tree of `size` leaves with root `root`, by RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    leaf: &[u8; 32],
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), MerkleError> {
    let expected = inclusion_proof_len(index, size)?;
    if proof.len() != expected {
        return Err(MerkleError::ProofLength {
            got: proof.len(),
            expected,
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = leaf_hash(leaf);
    for p in proof {
        if sn == 0 {
            return Err(MerkleError::RootMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                shift_to_set_bit(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && r == *root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// Verifies that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root`, by RFC 9162 §2.1.4.2. Equal sizes need an empty
/// proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), MerkleError> {
    let expected = consistency_proof_len(old_size, new_size)?;
    if proof.len() != expected {
        return Err(MerkleError::ProofLength {
            got: proof.len(),
            expected,
        });
    }
    if old_size == new_size {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    // Step 2: a power-of-two old tree is a subtree of the new one: its root opens the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(MerkleError::RootMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                shift_to_set_bit(&mut fn_, &mut sn);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if fr == *old_root && sr == *new_root && sn == 0 {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// The compact range of a growing tree: the roots of its perfect subtrees, largest first (one
/// per set bit of the size, so at most 64), from which the root of the whole tree follows.
///
/// `append` costs one leaf hash plus one node hash per trailing one bit of the size (two on
/// average); `root` costs one node hash per subtree. `Clone` copies at most 64 hashes, so a
/// caller can keep a copy and roll back to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    subtrees: Vec<Hash>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf (the raw 32 bytes of a chain hash). The size is a `u64`: 2^64 - 1
    /// appends are beyond any log's reach.
    pub fn append(&mut self, leaf: &[u8; 32]) {
        self.append_leaf_hash(leaf_hash(leaf));
    }

    /// Appends a leaf given by its leaf hash ([`leaf_hash`]), computed elsewhere (the parallel
    /// verifier hashes leaves on its workers and joins them in order).
    pub(crate) fn append_leaf_hash(&mut self, leaf_hash: Hash) {
        let mut h = leaf_hash;
        let mut s = self.size;
        while s & 1 == 1 {
            if let Some(left) = self.subtrees.pop() {
                h = node_hash(&left, &h);
            }
            s >>= 1;
        }
        self.subtrees.push(h);
        self.size += 1;
    }

    /// A tree of `size` leaves given by the roots of its perfect subtrees, largest first (as
    /// [`subtrees`](Self::subtrees) returns them, and as a `segment_open` entry records them):
    /// their number must be the number of set bits of `size`. The roots cannot be checked
    /// against leaves here; a tree continued from them has the root they imply.
    pub fn from_subtrees(size: u64, subtrees: Vec<Hash>) -> Result<Frontier, MerkleError> {
        let expected = size.count_ones() as usize;
        if subtrees.len() != expected {
            return Err(MerkleError::SubtreeCount {
                size,
                got: subtrees.len(),
                expected,
            });
        }
        Ok(Frontier { size, subtrees })
    }

    /// The roots of the tree's perfect subtrees, largest first: one per set bit of the size,
    /// the subtree of 2^k leaves for the highest bit covering the first 2^k leaves.
    pub fn subtrees(&self) -> &[Hash] {
        &self.subtrees
    }

    /// The number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree of all leaves appended ([`empty_root`] when there are none).
    pub fn root(&self) -> Hash {
        let mut it = self.subtrees.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |r, left| node_hash(left, &r)),
        }
    }
}

/// The consistency proof (RFC 9162 §2.1.4.1) from the tree `old` (of `old.size()` leaves) to the
/// tree of `new` leaves, knowing only the old tree's [`Frontier`] and the leaves after it
/// (`leaves[0]` is leaf `old.size()`; at least `new - old.size()` of them). Equal to
/// [`consistency_proof`] over the whole tree's leaves, so a witness client can prove
/// consistency from a witness's size without keeping the log's older leaves: every hash the
/// proof takes from the old tree is one of its frontier's subtrees or a join of its last ones.
pub fn consistency_proof_from(
    old: &Frontier,
    leaves: &[[u8; 32]],
    new: u64,
) -> Result<Vec<Hash>, MerkleError> {
    let m = old.size;
    let len = consistency_proof_len(m, new)?;
    let after = new - m;
    if after > leaves.len() as u64 {
        return Err(MerkleError::SizeBeyondLeaves {
            size: new,
            leaves: m + leaves.len() as u64,
        });
    }
    let hashes: Vec<Hash> = leaves[..after as usize].iter().map(leaf_hash).collect();
    let mut out = Vec::with_capacity(len);
    subproof_from(&old.subtrees, 0, m, m, new, true, &hashes, &mut out);
    Ok(out)
}

/// SUBPROOF over the subtree of the leaves `off..off + n` (relative old size `m_rel`), taking
/// hashes left of the old size `m` from `nodes` (the old frontier's subtrees not yet passed,
/// the first starting at `off`) and hashes right of it from `right` (leaf hashes from `m` on).
#[allow(clippy::too_many_arguments)]
fn subproof_from(
    nodes: &[Hash],
    off: u64,
    m_rel: u64,
    m: u64,
    n: u64,
    whole: bool,
    right: &[Hash],
    out: &mut Vec<Hash>,
) {
    if m_rel == n {
        // The subtree off..m is the join of the frontier's remaining subtrees (their sizes are
        // the descending set bits of m - off), as in `Frontier::root`.
        if !whole {
            let mut it = nodes.iter().rev();
            if let Some(last) = it.next() {
                out.push(it.fold(*last, |r, left| node_hash(left, &r)));
            }
        }
        return;
    }
    let k = split(n);
    if m_rel <= k {
        subproof_from(nodes, off, m_rel, m, k, whole, right, out);
        // off + k >= m: the right half lies wholly after the old tree.
        let (a, b) = ((off + k - m) as usize, (off + n - m) as usize);
        out.push(subtree_root(&right[a..b]));
    } else {
        // m_rel > k, and n <= 2k, so k is the top set bit of m_rel: the left half is the first
        // remaining frontier subtree.
        let (first, rest) = nodes
            .split_first()
            .map_or((empty_root(), nodes), |(f, r)| (*f, r));
        subproof_from(rest, off + k, m_rel - k, m, n - k, false, right, out);
        out.push(first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u8) -> Vec<[u8; 32]> {
        (0..n).map(|i| [i; 32]).collect()
    }

    #[test]
    fn subtrees_are_the_perfect_subtree_roots_largest_first() {
        let all = leaves(13);
        let mut f = Frontier::new();
        for leaf in &all {
            f.append(leaf);
        }
        // 13 = 8 + 4 + 1: the subtrees over leaves 0..8, 8..12 and 12.
        assert_eq!(
            f.subtrees(),
            [
                root_of(&all[..8]),
                root_of(&all[8..12]),
                root_of(&all[12..])
            ]
        );
    }

    #[test]
    fn a_frontier_rebuilt_from_its_subtrees_continues_the_same_tree() {
        let all = leaves(40);
        for cut in 0..all.len() {
            let mut f = Frontier::new();
            for leaf in &all[..cut] {
                f.append(leaf);
            }
            let mut g = Frontier::from_subtrees(f.size(), f.subtrees().to_vec()).unwrap();
            assert_eq!(g, f);
            for leaf in &all[cut..] {
                g.append(leaf);
            }
            assert_eq!(g.root(), root_of(&all), "cut at {cut}");
        }
    }

    #[test]
    fn from_subtrees_refuses_a_count_that_is_not_the_sizes_popcount() {
        let err = Frontier::from_subtrees(6, vec![[0; 32]]).unwrap_err();
        assert_eq!(
            err,
            MerkleError::SubtreeCount {
                size: 6,
                got: 1,
                expected: 2
            }
        );
        assert!(err.to_string().contains("6 leaves has 2"), "{err}");
        assert!(Frontier::from_subtrees(0, vec![[0; 32]]).is_err());
        assert_eq!(Frontier::from_subtrees(0, vec![]).unwrap(), Frontier::new());
    }
}

#[cfg(test)]
mod proof_from_tests {
    use super::*;

    fn leaves(n: u64) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| Sha256::digest(i.to_be_bytes()).into())
            .collect()
    }

    #[test]
    fn proof_from_frontier_equals_proof_from_all_leaves() {
        let all = leaves(70);
        for m in 1..=all.len() as u64 {
            let mut old = Frontier::new();
            for leaf in &all[..m as usize] {
                old.append(leaf);
            }
            for n in m..=all.len() as u64 {
                let want = consistency_proof(&all, m, n).unwrap();
                let got = consistency_proof_from(&old, &all[m as usize..], n).unwrap();
                assert_eq!(got, want, "m={m} n={n}");
                verify_consistency(m, n, &old.root(), &root_of(&all[..n as usize]), &got).unwrap();
            }
        }
    }

    #[test]
    fn proof_from_frontier_refuses_missing_leaves_and_bad_sizes() {
        let all = leaves(9);
        let mut old = Frontier::new();
        for leaf in &all[..4] {
            old.append(leaf);
        }
        assert_eq!(
            consistency_proof_from(&old, &all[4..8], 9),
            Err(MerkleError::SizeBeyondLeaves { size: 9, leaves: 8 })
        );
        assert_eq!(
            consistency_proof_from(&old, &all[4..], 3),
            Err(MerkleError::OldAfterNew { old: 4, new: 3 })
        );
        assert_eq!(
            consistency_proof_from(&Frontier::new(), &all, 3),
            Err(MerkleError::EmptyOldTree)
        );
    }
}
