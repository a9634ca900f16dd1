#![allow(dead_code)]
//! Logs with `checkpoint` entries, sealed by hand through the public API until the sequencer
//! writes them itself: `audit_open` names the origin, each `checkpoint` entry (payload
//! `{tree_size, root, note}`) sits at seq = tree_size and signs the tree over the entries
//! before it, and every `decision_end` states `entries_digest`/`entries_count`, computed here
//! apart from the crate under test (docs/FORMAT.md §5: SHA-256 over seq as 8 big-endian bytes ‖
//! the 32 raw bytes of the chain hash, for each entry carrying the decision's id from its
//! `decision` entry up to the one before its `decision_end`, plus nested `decision` openings).

use std::collections::HashMap;
use std::path::Path;

use acttrace::chain::{GENESIS, HashAlg, SealedEntry, SigningKey};
use acttrace::checkpoint::{Checkpoint, SignerKey, VerifierKey, root_of};
use acttrace::json::Value;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The worked example's log key (tests/vectors/checkpoint-example/skey.txt; a published test
/// key).
pub fn signer() -> SignerKey {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/checkpoint-example/skey.txt"
    ))
    .unwrap();
    SignerKey::parse(text.trim()).unwrap()
}

/// Its verifier key, as `vkey.txt` holds it.
pub fn vkey_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/checkpoint-example/vkey.txt"
    ))
    .unwrap()
    .trim()
    .to_owned()
}

pub fn vkey() -> VerifierKey {
    vkey_text().parse().unwrap()
}

/// Another key with the same name (an impostor's).
pub fn impostor() -> SignerKey {
    SignerKey::from_seed(signer().name(), Zeroizing::new([42u8; 32])).unwrap()
}

/// The 32 raw bytes of a 64-hex chain hash.
pub fn raw(hash: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// A chain sealed entry by entry.
pub struct ChainBuilder {
    key: Option<SigningKey>,
    signer: SignerKey,
    pub entries: Vec<SealedEntry>,
    /// Open decisions' digests: (hasher, count).
    open: HashMap<String, (Sha256, u64)>,
}

impl ChainBuilder {
    /// A chain whose `audit_open` names the signer's origin (or none when `origin` is false),
    /// HMAC-signed with `key` when given.
    pub fn new(key: Option<SigningKey>, origin: bool) -> ChainBuilder {
        let signer = signer();
        let mut b = ChainBuilder {
            key,
            signer,
            entries: Vec::new(),
            open: HashMap::new(),
        };
        let mut open = serde_json::json!({"system": "loan desk", "risk_tier": "high",
            "format": "acttrace-chain/1", "producer": "acttrace-rs/0.1.0"});
        if origin {
            open["origin"] = b.signer.name().into();
        }
        b.push("audit_open", open);
        b
    }

    /// Seals an entry; returns its seq.
    pub fn push(&mut self, kind: &str, payload: serde_json::Value) -> u64 {
        let seq = self.entries.len() as u64;
        let prev = self
            .entries
            .last()
            .map_or(GENESIS.to_owned(), |e| e.hash.clone());
        let ts = format!(
            "2026-03-01T{:02}:{:02}:{:02}.000000+00:00",
            9 + seq / 3600,
            seq / 60 % 60,
            seq % 60
        );
        let e = SealedEntry::seal(
            HashAlg::Sha256,
            self.key.as_ref(),
            seq,
            ts,
            kind.into(),
            Value::from(&payload),
            prev,
        );
        let own = payload["decision_id"].as_str().map(str::to_owned);
        if kind == "decision"
            && let Some(id) = &own
        {
            self.open.insert(id.clone(), (Sha256::new(), 0));
        }
        let parent = payload["parent_decision_id"]
            .as_str()
            .filter(|_| kind == "decision");
        for id in [own.as_deref(), parent].into_iter().flatten() {
            if let Some((h, n)) = self.open.get_mut(id) {
                h.update(seq.to_be_bytes());
                h.update(raw(&e.hash));
                *n += 1;
            }
        }
        self.entries.push(e);
        seq
    }

    /// Opens a decision.
    pub fn decision(&mut self, id: &str, parent: Option<&str>) -> u64 {
        let mut p =
            serde_json::json!({"decision_id": id, "name": "loan.approve", "actor": "agent"});
        if let Some(parent) = parent {
            p["parent_decision_id"] = parent.into();
        }
        self.push("decision", p)
    }

    /// An ordinary entry of a decision.
    pub fn call(&mut self, id: Option<&str>, name: &str) -> u64 {
        self.push(
            "tool_call",
            serde_json::json!({"decision_id": id, "name": name, "arguments": "{}"}),
        )
    }

    /// Ends a decision with its digest and count; returns the `decision_end`'s seq.
    pub fn end(&mut self, id: &str) -> u64 {
        let (h, n) = self.open.remove(id).expect("an open decision");
        let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.push(
            "decision_end",
            serde_json::json!({"decision_id": id, "outcome": "ok", "entries_count": n,
                "entries_digest": digest}),
        )
    }

    /// The signed note of the tree over the first `size` entries, by `signer`.
    pub fn note(&self, size: u64, signer: &SignerKey) -> String {
        let leaves: Vec<[u8; 32]> = self.entries[..size as usize]
            .iter()
            .map(|e| raw(&e.hash))
            .collect();
        let body = Checkpoint::new(self.signer.name(), size, root_of(&leaves))
            .unwrap()
            .body();
        signer.sign(&body).unwrap()
    }

    /// Seals a checkpoint over every entry so far; returns its seq (= its tree size).
    pub fn checkpoint(&mut self) -> u64 {
        let size = self.entries.len() as u64;
        let leaves: Vec<[u8; 32]> = self.entries.iter().map(|e| raw(&e.hash)).collect();
        let root = B64.encode(root_of(&leaves));
        let note = self.note(size, &self.signer);
        self.push(
            "checkpoint",
            serde_json::json!({"tree_size": size, "root": root, "note": note}),
        )
    }

    /// The entry at `seq`.
    pub fn at(&self, seq: u64) -> &SealedEntry {
        &self.entries[seq as usize]
    }

    pub fn write(&self, path: &Path) {
        let mut out = String::new();
        for e in &self.entries {
            e.write_line(&mut out);
        }
        std::fs::write(path, out).unwrap();
    }
}
