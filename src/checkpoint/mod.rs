//! Checkpoints: the foundation of public verifiability (issue #13).
//!
//! Two self-contained parts, for a log's sequencer and verifier to build on:
//!
//! - The tree: an RFC 6962 / RFC 9162 Merkle tree over the log's entries, leaf i being the
//!   raw 32 bytes of entry i's chain hash. A [`Frontier`] keeps the tree's root current in at
//!   most 64 hashes; [`inclusion_proof`] and [`consistency_proof`] make proofs from the leaves,
//!   [`verify_inclusion`] and [`verify_consistency`] check them by RFC 9162's algorithms.
//! - Notes: C2SP signed notes with Ed25519 keys and tlog-checkpoint bodies, in the text
//!   formats of Go's `golang.org/x/mod/sumdb/note` and `transparency-dev/formats`, so that
//!   standard tools (and witnesses) verify what this module signs.
//! - Proofs: [`TlogProof`], the c2sp.org/tlog-proof@v1 text of an inclusion proof with its
//!   checkpoint, and [`ProofTree`], a tree kept whole in memory for many proofs from one log.
//!
//! - Sinks: where the log's committed checkpoints go ([`CheckpointSink`],
//!   [`FileCheckpointSink`]), off the sequencer's thread; what they report back
//!   ([`SinkEvent`]) is chained.
//!
//! `docs/FORMAT.md` ("Checkpoints") gives the exact hashing and text formats.
//!
//! ```
//! use acttrace::checkpoint::{Checkpoint, Frontier, SignerKey, verify_inclusion, inclusion_proof};
//! use zeroize::Zeroizing;
//!
//! // Leaves: the chain hashes of the log's entries (here made up).
//! let leaves: Vec<[u8; 32]> = (0u8..5).map(|i| [i; 32]).collect();
//! let mut tree = Frontier::new();
//! for leaf in &leaves {
//!     tree.append(leaf);
//! }
//!
//! // Sign a checkpoint of the tree, and verify it as a reader holding the verifier key would.
//! let signer = SignerKey::from_seed("example.org/log", Zeroizing::new([7u8; 32]))?;
//! let body = Checkpoint::new("example.org/log", tree.size(), tree.root())?.body();
//! let note = signer.sign(&body)?;
//! let checkpoint = Checkpoint::from_note(&note, &[signer.verifier()])?;
//! assert_eq!(checkpoint.size, 5);
//!
//! // Prove that entry 3 is in the checkpointed tree.
//! let proof = inclusion_proof(&leaves, 3, checkpoint.size)?;
//! verify_inclusion(&leaves[3], 3, checkpoint.size, &proof, &checkpoint.root)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod merkle;
mod note;
mod sink;
pub mod witness;
mod proof;
mod tree;

pub use merkle::{
    Frontier, Hash, MerkleError, consistency_proof, consistency_proof_from, consistency_proof_len,
    empty_root, inclusion_proof, inclusion_proof_len, leaf_hash, node_hash, root_of,
    verify_consistency, verify_inclusion,
};
pub use note::{
    Checkpoint, MAX_SIGNATURES, NoteError, SignerKey, VerifiedNote, VerifierKey, key_id,
    validate_name, verify_note,
};
pub use sink::{CheckpointSink, CommittedCheckpoint, FileCheckpointSink, SinkEvent};
pub(crate) use sink::{MAX_BACKLOG_LEAVES, SinkThread};
pub use proof::{MAX_PROOF_HASHES, ProofError, TLOG_PROOF_HEADER, TlogProof};
pub use tree::ProofTree;
