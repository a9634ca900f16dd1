//! Test logs with `checkpoint` entries in the pinned format, sealed with the crate's public API,
//! until the sequencer writes them: a builder, the worked example's key, and a re-sealer that
//! re-hashes (and re-signs) a whole edited chain as an intruder holding the HMAC key would.

use std::path::Path;

use acttrace::chain::{GENESIS, HashAlg, SealedEntry, SigningKey};
use acttrace::checkpoint::{Checkpoint, Frontier, SignerKey, VerifierKey};
use acttrace::json::{self, Value};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// The worked example's origin (tests/vectors/checkpoint-example/).
pub const ORIGIN: &str = "acttrace.example/loan-desk/prod-1";
/// The HMAC key the builder's logs are signed with.
pub const HMAC_KEY: &str = "checkpoint-test-hmac-key";

fn vectors() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/checkpoint-example")
}

/// The worked example's private key (a published test key).
pub fn example_signer() -> SignerKey {
    SignerKey::parse(
        std::fs::read_to_string(vectors().join("skey.txt"))
            .unwrap()
            .trim(),
    )
    .unwrap()
}

/// The worked example's verifier key text (Go's format).
pub fn example_vkey_text() -> String {
    std::fs::read_to_string(vectors().join("vkey.txt"))
        .unwrap()
        .trim()
        .to_owned()
}

/// The worked example's verifier key.
pub fn example_vkey() -> VerifierKey {
    example_vkey_text().parse().unwrap()
}

/// A key for another origin, from a fixed seed.
pub fn signer_for(origin: &str, seed: u8) -> SignerKey {
    SignerKey::from_seed(origin, zeroize::Zeroizing::new([seed; 32])).unwrap()
}

pub fn hmac_key() -> SigningKey {
    SigningKey::from_bytes(HMAC_KEY.as_bytes()).unwrap()
}

/// Builds a chain entry by entry, keeping the Merkle tree as a writer would.
pub struct ChainBuilder {
    pub alg: HashAlg,
    pub key: Option<SigningKey>,
    pub signer: SignerKey,
    pub origin: String,
    pub entries: Vec<SealedEntry>,
    pub tree: Frontier,
}

impl ChainBuilder {
    /// A chain whose `audit_open` declares `origin` (none when `None`), HMAC-signed with
    /// [`HMAC_KEY`], checkpoints signed by `signer`.
    pub fn new(origin: Option<&str>, signer: SignerKey) -> Self {
        let mut b = ChainBuilder {
            alg: HashAlg::Sha256,
            key: Some(hmac_key()),
            origin: origin.unwrap_or(ORIGIN).to_owned(),
            signer,
            entries: Vec::new(),
            tree: Frontier::new(),
        };
        let mut payload = vec![
            ("system".to_owned(), Value::from("loan-desk")),
            ("risk_tier".to_owned(), Value::from("high")),
            ("format".to_owned(), Value::from("acttrace-chain/1")),
            ("producer".to_owned(), Value::from("acttrace-rs/test")),
        ];
        if let Some(o) = origin {
            payload.push(("origin".to_owned(), Value::from(o)));
        }
        b.push("audit_open", Value::Object(payload));
        b
    }

    /// The worked example's key and origin.
    pub fn example() -> Self {
        ChainBuilder::new(Some(ORIGIN), example_signer())
    }

    fn ts(seq: u64) -> String {
        format!(
            "2026-11-26T10:{:02}:{:02}.{:06}+00:00",
            (seq / 60) % 60,
            seq % 60,
            seq
        )
    }

    /// Seals an entry of type `kind`.
    pub fn push(&mut self, kind: &str, payload: Value) -> &mut Self {
        let seq = self.entries.len() as u64;
        let prev = self
            .entries
            .last()
            .map_or(GENESIS.to_owned(), |e| e.hash.clone());
        let e = SealedEntry::seal(
            self.alg,
            self.key.as_ref(),
            seq,
            Self::ts(seq),
            kind.into(),
            payload,
            prev,
        );
        self.tree.append(&raw_hash(&e.hash));
        self.entries.push(e);
        self
    }

    /// `n` ordinary entries.
    pub fn events(&mut self, n: usize) -> &mut Self {
        for i in 0..n {
            let seq = self.entries.len();
            self.push(
                "tool_call",
                json::parse(&format!(
                    r#"{{"name": "credit_score", "n": {i}, "at": {seq}}}"#
                ))
                .unwrap(),
            );
        }
        self
    }

    /// Seals a `segment_open` continuing `previous_segment`, recording the tree (pinned
    /// `tree_size` and `frontier`).
    pub fn segment_open(&mut self, previous_segment: &str, segment: &str) -> &mut Self {
        let prev = self.entries.last().unwrap().hash.clone();
        let frontier = self
            .tree
            .subtrees()
            .iter()
            .map(|h| Value::from(h.iter().map(|b| format!("{b:02x}")).collect::<String>()))
            .collect();
        let payload = Value::Object(vec![
            ("previous_segment".into(), Value::from(previous_segment)),
            ("previous_head".into(), Value::from(prev)),
            ("segment".into(), Value::from(segment)),
            ("producer".into(), Value::from("acttrace-rs/test")),
            ("tree_size".into(), Value::from(self.tree.size())),
            ("frontier".into(), Value::Array(frontier)),
        ]);
        self.push("segment_open", payload)
    }

    /// The signed note over the tree so far.
    pub fn note(&self) -> String {
        let body = Checkpoint::new(&self.origin, self.tree.size(), self.tree.root())
            .unwrap()
            .body();
        self.signer.sign(&body).unwrap()
    }

    /// Seals a `checkpoint` entry covering every entry so far (its seq = its tree_size).
    pub fn checkpoint(&mut self) -> &mut Self {
        let note = self.note();
        let payload = checkpoint_payload(self.tree.size(), &self.tree.root(), &note);
        self.push("checkpoint", payload)
    }

    /// The log's text, one line per entry.
    pub fn text(&self) -> String {
        self.entries.iter().map(SealedEntry::to_line).collect()
    }

    /// The lines, for editing.
    pub fn lines(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| e.to_line().trim_end().to_owned())
            .collect()
    }

    /// Writes the log to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.text()).unwrap();
    }
}

/// The pinned checkpoint payload.
pub fn checkpoint_payload(size: u64, root: &[u8; 32], note: &str) -> Value {
    Value::Object(vec![
        ("tree_size".into(), Value::from(size)),
        ("root".into(), Value::from(B64.encode(root))),
        ("note".into(), Value::from(note)),
    ])
}

/// The 32 raw bytes of a chain hash in hex.
pub fn raw_hash(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// Re-seals edited lines as one chain: seqs renumbered from 0, every hash recomputed, every
/// entry re-signed with `key`: what an intruder holding the HMAC key can do. Checkpoint
/// entries keep their payload (the intruder cannot sign notes).
pub fn reseal(lines: &[String], key: Option<&SigningKey>) -> String {
    let mut prev = GENESIS.to_owned();
    let mut out = String::new();
    for (seq, line) in lines.iter().enumerate() {
        let v = json::parse(line).unwrap();
        let e = SealedEntry::seal(
            HashAlg::Sha256,
            key,
            seq as u64,
            v.get("ts").unwrap().as_str().unwrap().to_owned(),
            v.get("type").unwrap().as_str().unwrap().to_owned(),
            v.get("payload").unwrap().clone(),
            prev,
        );
        prev = e.hash.clone();
        out.push_str(&e.to_line());
    }
    out
}
