//! Inclusion proofs in the c2sp.org/tlog-proof@v1 text format: a self-contained,
//! offline-verifiable proof that an entry is in a log, made of the entry's index, its RFC 9162
//! inclusion proof and the signed checkpoint it leads to.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>              (optional, unauthenticated application data)
//! index <decimal>
//! <base64 hash>               (zero or more: the leaf's sibling first, up to the root's child)
//!
//! <the checkpoint note, verbatim>
//! ```
//!
//! For an acttrace log the leaf is the 32 raw bytes of the entry's chain `hash` and the index is
//! its `seq`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::merkle::{Hash, MerkleError, verify_inclusion};
use super::note::{Checkpoint, NoteError, VerifierKey};

/// The first line of a tlog proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Hashes beyond this many make a proof malformed: a tree of 2^64 - 1 leaves needs 64.
pub const MAX_PROOF_HASHES: usize = 64;

/// Why a tlog proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The text is not a tlog proof.
    Malformed {
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The checkpoint's note or body was refused (or no given key signed it).
    Note(NoteError),
    /// The inclusion proof does not lead to the checkpoint's root (or does not fit its size).
    Inclusion(MerkleError),
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::Malformed { line, reason } => {
                write!(f, "malformed tlog proof, line {line}: {reason}")
            }
            ProofError::Note(e) => write!(f, "tlog proof's checkpoint: {e}"),
            ProofError::Inclusion(e) => write!(f, "inclusion proof: {e}"),
        }
    }
}

impl std::error::Error for ProofError {}

/// A c2sp.org/tlog-proof@v1 inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque extra data (the `extra` line), never authenticated.
    pub extra: Option<Vec<u8>>,
    /// The entry's index in the log (for acttrace, its `seq`).
    pub index: u64,
    /// The RFC 9162 inclusion proof, the leaf's sibling first.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note the proof leads to, verbatim (ending in a newline).
    pub checkpoint: String,
}

impl TlogProof {
    /// The proof as text.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(64 + 45 * self.hashes.len() + self.checkpoint.len());
        s.push_str(TLOG_PROOF_HEADER);
        s.push('\n');
        if let Some(extra) = &self.extra {
            s.push_str("extra ");
            s.push_str(&B64.encode(extra));
            s.push('\n');
        }
        s.push_str("index ");
        s.push_str(&self.index.to_string());
        s.push('\n');
        for h in &self.hashes {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Parses a proof's text. The checkpoint is taken verbatim and not checked here
    /// ([`TlogProof::verify`] does), beyond being non-empty and ending in a newline.
    pub fn parse(text: &str) -> Result<TlogProof, ProofError> {
        let bad = |line, reason| ProofError::Malformed { line, reason };
        let mut rest = text;
        let mut line_no = 0;
        let mut next = |rest: &mut &str| -> Option<(usize, String)> {
            let (line, tail) = rest.split_once('\n')?;
            *rest = tail;
            line_no += 1;
            Some((line_no, line.to_owned()))
        };
        let (n, first) = next(&mut rest).ok_or(bad(1, "no header line"))?;
        if first != TLOG_PROOF_HEADER {
            return Err(bad(n, "the first line is not c2sp.org/tlog-proof@v1"));
        }
        let (mut n, mut line) = next(&mut rest).ok_or(bad(2, "no index line"))?;
        let mut extra = None;
        if let Some(b) = line.strip_prefix("extra ") {
            extra = Some(
                B64.decode(b)
                    .map_err(|_| bad(n, "extra data is not base64"))?,
            );
            (n, line) = next(&mut rest).ok_or(bad(n + 1, "no index line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .ok_or(bad(n, "expected `index <decimal>`"))?;
        if index.is_empty()
            || !index.bytes().all(|b| b.is_ascii_digit())
            || (index.len() > 1 && index.starts_with('0'))
        {
            return Err(bad(
                n,
                "index is not a decimal number without leading zeros",
            ));
        }
        let index: u64 = index
            .parse()
            .map_err(|_| bad(n, "index exceeds 2^64 - 1"))?;
        let mut hashes = Vec::new();
        loop {
            let (n, line) =
                next(&mut rest).ok_or(bad(n + 1, "no blank line before the checkpoint"))?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(bad(n, "more than 64 proof hashes"));
            }
            let h = B64
                .decode(&line)
                .map_err(|_| bad(n, "proof hash is not base64"))?;
            hashes.push(
                h.try_into()
                    .map_err(|_| bad(n, "proof hash is not 32 bytes"))?,
            );
        }
        if rest.is_empty() || !rest.ends_with('\n') {
            return Err(bad(
                line_no + 1,
                "the checkpoint is missing or does not end in a newline",
            ));
        }
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: rest.to_owned(),
        })
    }

    /// Verifies the proof for `leaf` (the 32 raw bytes of the entry's chain hash): the
    /// checkpoint must be signed by one of `keys` (signatures by other keys are ignored) and
    /// the inclusion proof must lead from the leaf at `index` to its root. Returns the
    /// checkpoint. Which origins and keys to trust is the caller's policy.
    pub fn verify(&self, leaf: &[u8; 32], keys: &[VerifierKey]) -> Result<Checkpoint, ProofError> {
        let checkpoint = Checkpoint::from_note(&self.checkpoint, keys).map_err(ProofError::Note)?;
        self.verify_against(leaf, &checkpoint)?;
        Ok(checkpoint)
    }

    /// Verifies only the inclusion proof of `leaf` against an already verified `checkpoint`.
    pub fn verify_against(
        &self,
        leaf: &[u8; 32],
        checkpoint: &Checkpoint,
    ) -> Result<(), ProofError> {
        verify_inclusion(
            leaf,
            self.index,
            checkpoint.size,
            &self.hashes,
            &checkpoint.root,
        )
        .map_err(ProofError::Inclusion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Frontier, SignerKey, inclusion_proof};
    use zeroize::Zeroizing;

    fn signed(leaves: &[[u8; 32]], name: &str, seed: u8) -> (String, VerifierKey) {
        let mut f = Frontier::new();
        for l in leaves {
            f.append(l);
        }
        let signer = SignerKey::from_seed(name, Zeroizing::new([seed; 32])).unwrap();
        let body = Checkpoint::new(name, f.size(), f.root()).unwrap().body();
        (signer.sign(&body).unwrap(), signer.verifier())
    }

    #[test]
    fn a_proof_round_trips_and_verifies_and_each_change_is_refused() {
        let leaves: Vec<[u8; 32]> = (0..11u8).map(|i| [i; 32]).collect();
        let (note, vkey) = signed(&leaves, "example.org/log", 1);
        let proof = TlogProof {
            extra: Some(b"context".to_vec()),
            index: 6,
            hashes: inclusion_proof(&leaves, 6, 11).unwrap(),
            checkpoint: note.clone(),
        };
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra Y29udGV4dA==\nindex 6\n"));
        assert!(text.ends_with(&format!("\n\n{note}")));
        let parsed = TlogProof::parse(&text).unwrap();
        assert_eq!(parsed, proof);
        let cp = parsed
            .verify(&leaves[6], std::slice::from_ref(&vkey))
            .unwrap();
        assert_eq!(cp.size, 11);

        // Another leaf, another index, a flipped hash, another key: refused.
        assert!(matches!(
            parsed.verify(&leaves[5], std::slice::from_ref(&vkey)),
            Err(ProofError::Inclusion(MerkleError::RootMismatch))
        ));
        let mut other = parsed.clone();
        other.index = 7;
        assert!(
            other
                .verify(&leaves[6], std::slice::from_ref(&vkey))
                .is_err()
        );
        let mut flipped = parsed.clone();
        flipped.hashes[1][0] ^= 1;
        assert!(
            flipped
                .verify(&leaves[6], std::slice::from_ref(&vkey))
                .is_err()
        );
        let (_, stranger) = signed(&leaves, "example.org/log", 2);
        assert!(matches!(
            parsed.verify(&leaves[6], &[stranger]),
            Err(ProofError::Note(NoteError::NoKnownSignature))
        ));

        // Without extra data the line is left out; a one-leaf tree has no hashes.
        let (note1, vkey1) = signed(&leaves[..1], "example.org/log", 1);
        let single = TlogProof {
            extra: None,
            index: 0,
            hashes: Vec::new(),
            checkpoint: note1,
        };
        let text = single.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 0\n\n"));
        TlogProof::parse(&text)
            .unwrap()
            .verify(&leaves[0], &[vkey1])
            .unwrap();
    }

    #[test]
    fn malformed_proofs_name_their_line() {
        let cases = [
            ("", 1, "no header"),
            ("c2sp.org/tlog-proof@v2\nindex 0\n\nx\n", 1, "first line"),
            (
                "c2sp.org/tlog-proof@v1\nindex 01\n\nx\n",
                2,
                "leading zeros",
            ),
            (
                "c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\nx\n",
                2,
                "base64",
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\nx\n",
                3,
                "32 bytes",
            ),
            ("c2sp.org/tlog-proof@v1\nindex 1\n", 3, "blank line"),
            (
                "c2sp.org/tlog-proof@v1\nindex 1\n\n",
                4,
                "checkpoint is missing",
            ),
            (
                "c2sp.org/tlog-proof@v1\nindex 99999999999999999999\n\nx\n",
                2,
                "2^64",
            ),
        ];
        for (text, line, words) in cases {
            let e = TlogProof::parse(text).unwrap_err();
            let msg = e.to_string();
            assert!(
                matches!(e, ProofError::Malformed { line: l, .. } if l == line)
                    && msg.contains(words),
                "{text:?}: {msg}"
            );
        }
        let many = format!(
            "c2sp.org/tlog-proof@v1\nindex 1\n{}\nx\n",
            format!("{}\n", B64.encode([0u8; 32])).repeat(65)
        );
        assert!(
            TlogProof::parse(&many)
                .unwrap_err()
                .to_string()
                .contains("more than 64")
        );
    }
}
