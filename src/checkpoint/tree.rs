//! A whole Merkle tree kept in memory: the one way proofs are made from a log's leaves
//! (`acttrace prove`, excerpt packs that prove every entry they hold).
//!
//! [`super::inclusion_proof`] rehashes every leaf for each proof; a [`ProofTree`] keeps every
//! complete (perfect, aligned) subtree root instead, about 64 bytes per leaf, so that each proof
//! costs O(log² n) node hashes for any tree size up to the leaves it holds. Callers bound the
//! leaf count (`acttrace::export::MAX_PROOF_LEAVES`, `acttrace::verify::MAX_PROOF_LEAVES`).

use super::merkle::{
    Hash, MerkleError, consistency_proof_len, inclusion_proof_len, leaf_hash, node_hash,
};

/// The largest power of two smaller than `n` (`n` >= 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Every complete subtree root of a tree over the leaves appended so far: `levels[l][i]` is the
/// root of leaves `i·2^l .. (i+1)·2^l`.
#[derive(Debug, Clone, Default)]
pub struct ProofTree {
    levels: Vec<Vec<Hash>>,
}

impl ProofTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf (the raw 32 bytes of a chain hash).
    pub fn push(&mut self, leaf: &[u8; 32]) {
        let mut h = leaf_hash(leaf);
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(h);
            if row.len() % 2 == 1 {
                return;
            }
            h = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    /// The number of leaves appended.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The root of the tree over leaves `lo..hi` as RFC 9162 splits it (`lo < hi <= size`, `lo`
    /// a multiple of the split that led here).
    fn subtree_root(&self, lo: u64, hi: u64) -> Hash {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            return self.levels[n.trailing_zeros() as usize][(lo / n) as usize];
        }
        let k = split(n);
        node_hash(
            &self.subtree_root(lo, lo + k),
            &self.subtree_root(lo + k, hi),
        )
    }

    /// The root of the tree over the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, MerkleError> {
        self.check(size)?;
        Ok(if size == 0 {
            super::merkle::empty_root()
        } else {
            self.subtree_root(0, size)
        })
    }

    fn check(&self, size: u64) -> Result<(), MerkleError> {
        if size > self.size() {
            return Err(MerkleError::SizeBeyondLeaves {
                size,
                leaves: self.size(),
            });
        }
        Ok(())
    }

    /// The inclusion proof (RFC 9162 §2.1.3.1) of leaf `index` in the tree over the first
    /// `size` leaves: the same hashes as [`super::inclusion_proof`].
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, MerkleError> {
        self.check(size)?;
        let mut out = Vec::with_capacity(inclusion_proof_len(index, size)?);
        self.path(index, 0, size, &mut out);
        Ok(out)
    }

    /// The consistency proof (RFC 9162 §2.1.4.1) between the trees over the first `old` and
    /// the first `new` leaves: the same hashes as [`super::consistency_proof`] (empty when
    /// `old == new`; an `old` of 0 is refused, as RFC 9162 defines no proof from the empty
    /// tree).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, MerkleError> {
        self.check(new)?;
        let mut out = Vec::with_capacity(consistency_proof_len(old, new)?);
        self.subproof(old, 0, new, true, &mut out);
        Ok(out)
    }

    /// RFC 9162 SUBPROOF(m, D[lo:hi], b).
    fn subproof(&self, m: u64, lo: u64, hi: u64, complete: bool, out: &mut Vec<Hash>) {
        if m == hi - lo {
            if !complete {
                out.push(self.subtree_root(lo, hi));
            }
            return;
        }
        let k = split(hi - lo);
        if m <= k {
            self.subproof(m, lo, lo + k, complete, out);
            out.push(self.subtree_root(lo + k, hi));
        } else {
            self.subproof(m - k, lo + k, hi, false, out);
            out.push(self.subtree_root(lo, lo + k));
        }
    }

    /// RFC 9162 PATH(m, D[lo:hi]).
    fn path(&self, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) {
        if hi - lo <= 1 {
            return;
        }
        let k = split(hi - lo);
        if m < lo + k {
            self.path(m, lo, lo + k, out);
            out.push(self.subtree_root(lo + k, hi));
        } else {
            self.path(m, lo + k, hi, out);
            out.push(self.subtree_root(lo, lo + k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{
        consistency_proof, inclusion_proof, root_of, verify_consistency, verify_inclusion,
    };

    #[test]
    fn proofs_and_roots_equal_the_reference_functions_for_every_index_and_size() {
        let leaves: Vec<[u8; 32]> = (0..37u8).map(|i| [i.wrapping_mul(7); 32]).collect();
        let mut tree = ProofTree::new();
        for l in &leaves {
            tree.push(l);
        }
        assert_eq!(tree.size(), 37);
        for size in 1..=37u64 {
            let root = tree.root(size).unwrap();
            assert_eq!(root, root_of(&leaves[..size as usize]), "size {size}");
            for index in 0..size {
                let proof = tree.inclusion_proof(index, size).unwrap();
                assert_eq!(proof, inclusion_proof(&leaves, index, size).unwrap());
                verify_inclusion(&leaves[index as usize], index, size, &proof, &root).unwrap();
            }
        }
        assert_eq!(
            tree.inclusion_proof(3, 38),
            Err(MerkleError::SizeBeyondLeaves {
                size: 38,
                leaves: 37
            })
        );
        assert_eq!(
            tree.inclusion_proof(5, 5),
            Err(MerkleError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(tree.root(0).unwrap(), root_of(&[]));
    }

    #[test]
    fn consistency_proofs_equal_the_reference_function_for_every_pair_of_sizes() {
        let leaves: Vec<[u8; 32]> = (0..37u8).map(|i| [i.wrapping_mul(11); 32]).collect();
        let mut tree = ProofTree::new();
        for l in &leaves {
            tree.push(l);
        }
        for new in 1..=37u64 {
            for old in 1..=new {
                let proof = tree.consistency_proof(old, new).unwrap();
                assert_eq!(
                    proof,
                    consistency_proof(&leaves, old, new).unwrap(),
                    "{old} -> {new}"
                );
                let (a, b) = (tree.root(old).unwrap(), tree.root(new).unwrap());
                verify_consistency(old, new, &a, &b, &proof).unwrap();
            }
        }
        assert_eq!(
            tree.consistency_proof(3, 38),
            Err(MerkleError::SizeBeyondLeaves {
                size: 38,
                leaves: 37
            })
        );
        assert_eq!(tree.consistency_proof(0, 5), Err(MerkleError::EmptyOldTree));
        assert_eq!(
            tree.consistency_proof(6, 5),
            Err(MerkleError::OldAfterNew { old: 6, new: 5 })
        );
    }
}
