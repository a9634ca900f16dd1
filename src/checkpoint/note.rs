//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, and tlog-checkpoint bodies
//! (c2sp.org/tlog-checkpoint), in the text formats Go's `golang.org/x/mod/sumdb/note` uses.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::Zeroizing;

use super::merkle::Hash;

/// The signature type byte of an Ed25519 key in a signed note.
const ED25519: u8 = 0x01;
/// The prefix of a signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// Signature lines beyond this many make a note malformed (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// Why a key, checkpoint body or note was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteError {
    /// An origin or key name that is empty or holds a space, `+` or a control character.
    InvalidName(&'static str),
    /// A checkpoint body that is not origin, size, root and extension lines.
    InvalidBody {
        /// The 1-based line of the body.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A verifier or private key string that is not in Go's format.
    InvalidKey(&'static str),
    /// A note that is not text, a blank line and signature lines.
    Malformed(&'static str),
    /// A signature line that cannot be parsed.
    InvalidSignatureLine {
        /// The 1-based line of the note.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    TooManySignatures(usize),
    /// A signature by a known key that does not verify the note's text.
    BadSignature {
        /// The key's name.
        name: String,
        /// The key's id, 8 hex digits.
        key_id: String,
    },
    /// Two signatures by the same known key.
    DuplicateSignature {
        /// The key's name.
        name: String,
        /// The key's id, 8 hex digits.
        key_id: String,
    },
    /// No signature by any of the given keys.
    NoKnownSignature,
    /// The operating system's random number generator failed while making a key.
    NoRandomness(String),
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteError::InvalidName(why) => write!(f, "invalid origin or key name: {why}"),
            NoteError::InvalidBody { line, reason } => {
                write!(f, "invalid checkpoint body, line {line}: {reason}")
            }
            NoteError::InvalidKey(why) => write!(f, "invalid key: {why}"),
            NoteError::Malformed(why) => write!(f, "malformed note: {why}"),
            NoteError::InvalidSignatureLine { line, reason } => {
                write!(f, "malformed note, line {line}: {reason}")
            }
            NoteError::TooManySignatures(n) => {
                write!(
                    f,
                    "note has {n} signature lines, more than {MAX_SIGNATURES}"
                )
            }
            NoteError::BadSignature { name, key_id } => {
                write!(
                    f,
                    "signature by key {name}+{key_id} does not verify the note"
                )
            }
            NoteError::DuplicateSignature { name, key_id } => {
                write!(f, "note has two signatures by key {name}+{key_id}")
            }
            NoteError::NoKnownSignature => {
                write!(f, "note has no valid signature by any of the given keys")
            }
            NoteError::NoRandomness(why) => {
                write!(f, "no random bytes from the operating system: {why}")
            }
        }
    }
}

impl std::error::Error for NoteError {}

/// Checks an origin or key name: non-empty, without whitespace, `+` or control characters.
pub fn validate_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() {
        return Err(NoteError::InvalidName("empty"));
    }
    if name.chars().any(char::is_whitespace) {
        return Err(NoteError::InvalidName("contains a space"));
    }
    if name.contains('+') {
        return Err(NoteError::InvalidName("contains '+'"));
    }
    if name.chars().any(char::is_control) {
        return Err(NoteError::InvalidName("contains a control character"));
    }
    Ok(())
}

/// The key id of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4].
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(public_key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn hex4(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits `<name>+<8 hex digits>+<base64>` and checks the name and id's form.
fn split_key(s: &str) -> Result<(&str, [u8; 4], Vec<u8>), NoteError> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::InvalidKey(
            "expected <name>+<key id>+<base64 key>",
        ));
    };
    validate_name(name)?;
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::InvalidKey("key id is not 8 hex digits"));
    }
    let mut idb = [0u8; 4];
    for (i, b) in idb.iter_mut().enumerate() {
        *b = u8::from_str_radix(&id[2 * i..2 * i + 2], 16)
            .map_err(|_| NoteError::InvalidKey("key id is not 8 hex digits"))?;
    }
    let bytes = B64
        .decode(key)
        .map_err(|_| NoteError::InvalidKey("key is not base64"))?;
    Ok((name, idb, bytes))
}

/// A key that verifies signatures, in Go's format `<name>+<hex key id>+<base64(0x01 ‖ public
/// key)>` (`FromStr` parses it, `Display` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's id.
    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = NoteError;

    /// Parses Go's verifier key format; the key id must match the name and key.
    fn from_str(s: &str) -> Result<Self, NoteError> {
        let (name, id, bytes) = split_key(s)?;
        let Some((&ED25519, pk)) = bytes.split_first() else {
            return Err(NoteError::InvalidKey("not an Ed25519 key (type 0x01)"));
        };
        let pk: [u8; 32] = pk
            .try_into()
            .map_err(|_| NoteError::InvalidKey("Ed25519 key is not 32 bytes"))?;
        if key_id(name, &pk) != id {
            return Err(NoteError::InvalidKey(
                "key id does not match the name and key",
            ));
        }
        let key = VerifyingKey::from_bytes(&pk)
            .map_err(|_| NoteError::InvalidKey("not a valid Ed25519 public key"))?;
        Ok(VerifierKey {
            name: name.to_owned(),
            id,
            key,
        })
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = vec![ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex4(&self.id), B64.encode(bytes))
    }
}

/// A key that signs notes: an Ed25519 seed (kept in [`Zeroizing`] memory, never printed) and
/// its name. Parsed from Go's format `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`.
pub struct SignerKey {
    name: String,
    id: [u8; 4],
    seed: Zeroizing<[u8; 32]>,
    public: VerifyingKey,
}

impl SignerKey {
    /// A signer from a name and a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: Zeroizing<[u8; 32]>) -> Result<Self, NoteError> {
        validate_name(name)?;
        let public = SigningKey::from_bytes(&seed).verifying_key();
        let id = key_id(name, public.as_bytes());
        Ok(SignerKey {
            name: name.to_owned(),
            id,
            seed,
            public,
        })
    }

    /// A new signer named `name` with a fresh seed from the operating system's random number
    /// generator (`getrandom`).
    ///
    /// ```
    /// use acttrace::checkpoint::{SignerKey, verify_note};
    ///
    /// let signer = SignerKey::generate("example.org/log")?;
    /// let note = signer.sign("example.org/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")?;
    /// verify_note(&note, &[signer.verifier()])?;
    /// # Ok::<(), acttrace::checkpoint::NoteError>(())
    /// ```
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        validate_name(name)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut seed[..]).map_err(|e| NoteError::NoRandomness(e.to_string()))?;
        SignerKey::from_seed(name, seed)
    }

    /// The key in Go's private key format, `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖
    /// seed)>` (what [`SignerKey::parse`] reads and Go's `note.NewSigner` accepts), in memory
    /// that is zeroized when dropped.
    ///
    /// ```
    /// use acttrace::checkpoint::SignerKey;
    ///
    /// let signer = SignerKey::generate("example.org/log")?;
    /// let text = signer.to_go_format();
    /// assert!(text.starts_with("PRIVATE+KEY+example.org/log+"));
    /// let again = SignerKey::parse(&text)?;
    /// assert_eq!(again.verifier(), signer.verifier());
    /// # Ok::<(), acttrace::checkpoint::NoteError>(())
    /// ```
    pub fn to_go_format(&self) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new([0u8; 33]);
        bytes[0] = ED25519;
        bytes[1..].copy_from_slice(&self.seed[..]);
        // Sized up front so the encoded seed is never copied into a reallocated buffer that
        // would not be zeroized.
        let mut out = Zeroizing::new(String::with_capacity(
            "PRIVATE+KEY+".len() + self.name.len() + 10 + 44,
        ));
        out.push_str("PRIVATE+KEY+");
        out.push_str(&self.name);
        out.push('+');
        out.push_str(&hex4(&self.id));
        out.push('+');
        B64.encode_string(&bytes[..], &mut out);
        out
    }

    /// Parses Go's private key format; the key id must match the name and key. Errors never
    /// quote the key.
    pub fn parse(s: &str) -> Result<Self, NoteError> {
        let rest = s.strip_prefix("PRIVATE+KEY+").ok_or(NoteError::InvalidKey(
            "private key does not start with PRIVATE+KEY+",
        ))?;
        let (name, id, bytes) = split_key(rest)?;
        let bytes = Zeroizing::new(bytes);
        if bytes.len() != 33 || bytes[0] != ED25519 {
            return Err(NoteError::InvalidKey(
                "not an Ed25519 private key (0x01 and 32 bytes)",
            ));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&bytes[1..]);
        let signer = SignerKey::from_seed(name, seed)?;
        if signer.id != id {
            return Err(NoteError::InvalidKey(
                "key id does not match the name and key",
            ));
        }
        Ok(signer)
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's id.
    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            key: self.public,
        }
    }

    /// Signs `text` into a note: the text, a blank line and `— <name> <base64(key id ‖
    /// signature)>`. The text must be non-empty, end in a newline, hold no blank line and no
    /// control character but newlines.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = SigningKey::from_bytes(&self.seed).sign(text.as_bytes());
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

impl SignerKey {
    /// Adds this key's signature line to a signed `note` (over the same text), after the lines
    /// it holds: how a checkpoint gets its second line, by the epoch key (`docs/FORMAT.md`
    /// §7f).
    ///
    /// ```
    /// use acttrace::checkpoint::{SignerKey, verify_note};
    ///
    /// let log = SignerKey::generate("example.org/log")?;
    /// let epoch = SignerKey::generate("example.org/log/fs")?;
    /// let text = "example.org/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    /// let note = epoch.add_signature(&log.sign(text)?)?;
    /// assert_eq!(verify_note(&note, &[log.verifier(), epoch.verifier()])?.verified_by.len(), 2);
    /// # Ok::<(), acttrace::checkpoint::NoteError>(())
    /// ```
    pub fn add_signature(&self, note: &str) -> Result<String, NoteError> {
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        if !note.ends_with('\n') {
            return Err(NoteError::Malformed("note does not end in a newline"));
        }
        let text = &note[..split + 1];
        let signed = self.sign(text)?;
        let line = &signed[text.len() + 1..];
        Ok(format!("{note}{line}"))
    }
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name)
            .field("key_id", &hex4(&self.id))
            .finish_non_exhaustive()
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "text must be non-empty and end in a newline",
        ));
    }
    if text.starts_with('\n') || text.contains("\n\n") {
        return Err(NoteError::Malformed("text must not hold a blank line"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("text holds a control character"));
    }
    Ok(())
}

/// A note whose text at least one given key signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    /// The signed text, with its final newline.
    pub text: String,
    /// The keys whose signatures verified, in note order.
    pub verified_by: Vec<VerifierKey>,
    /// Signature lines from keys not given (or of unknown types), ignored.
    pub unverified: usize,
}

/// Verifies a signed note against `keys`: every signature by a given key must verify,
/// signatures by other keys (or of other types) are ignored, and at least one given key must
/// have signed. At most [`MAX_SIGNATURES`] signature lines.
pub fn verify_note(note: &str, keys: &[VerifierKey]) -> Result<VerifiedNote, NoteError> {
    if !note.ends_with('\n') {
        return Err(NoteError::Malformed("note does not end in a newline"));
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("note holds a control character"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let text = &note[..split + 1];
    check_text(text)?;
    let sig_block = &note[split + 2..];
    if sig_block.is_empty() {
        return Err(NoteError::Malformed(
            "no signature lines after the blank line",
        ));
    }
    let text_lines = text.matches('\n').count() + 1;
    let lines: Vec<&str> = sig_block[..sig_block.len() - 1].split('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures(lines.len()));
    }
    let mut verified_by: Vec<VerifierKey> = Vec::new();
    let mut unverified = 0;
    for (i, line) in lines.iter().enumerate() {
        let bad = |reason| NoteError::InvalidSignatureLine {
            line: text_lines + 1 + i,
            reason,
        };
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(bad("does not start with '— '"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(bad("expected '— <name> <signature>'"))?;
        validate_name(name).map_err(|_| bad("invalid key name"))?;
        let blob = B64
            .decode(b64)
            .map_err(|_| bad("signature is not base64"))?;
        if blob.len() < 5 {
            return Err(bad("signature shorter than a key id and one byte"));
        }
        let id = [blob[0], blob[1], blob[2], blob[3]];
        let Some(key) = keys.iter().find(|k| k.name == name && k.id == id) else {
            unverified += 1;
            continue;
        };
        let key_err = |k: &VerifierKey| (k.name.clone(), hex4(&k.id));
        if verified_by.iter().any(|k| k == key) {
            let (name, key_id) = key_err(key);
            return Err(NoteError::DuplicateSignature { name, key_id });
        }
        let ok = <[u8; 64]>::try_from(&blob[4..]).is_ok_and(|sig| {
            key.key
                .verify(text.as_bytes(), &Signature::from_bytes(&sig))
                .is_ok()
        });
        if !ok {
            let (name, key_id) = key_err(key);
            return Err(NoteError::BadSignature { name, key_id });
        }
        verified_by.push(key.clone());
    }
    if verified_by.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(VerifiedNote {
        text: text.to_owned(),
        verified_by,
        unverified,
    })
}

/// A tlog checkpoint: the body `<origin>\n<size>\n<base64 root>\n`, then any extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin (its unique name).
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash,
    /// Extension lines after the root, without their newlines (non-empty each).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines; the origin must pass [`validate_name`].
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, NoteError> {
        validate_name(origin)?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The body text, each line ending in a newline.
    pub fn body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body (the text of a note): origin, decimal size without leading
    /// zeros, base64 root of 32 bytes, then non-empty extension lines, each ending in `\n`.
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let bad = |line, reason| NoteError::InvalidBody { line, reason };
        let body = text
            .strip_suffix('\n')
            .ok_or(bad(1, "body does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        validate_name(origin).map_err(|_| bad(1, "invalid origin"))?;
        let size = lines.next().ok_or(bad(2, "missing tree size"))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(bad(
                2,
                "tree size is not a decimal number without leading zeros",
            ));
        }
        let size = size
            .parse()
            .map_err(|_| bad(2, "tree size exceeds 2^64 - 1"))?;
        let root = lines.next().ok_or(bad(3, "missing root hash"))?;
        let root = B64
            .decode(root)
            .map_err(|_| bad(3, "root hash is not base64"))?;
        let root = root
            .try_into()
            .map_err(|_| bad(3, "root hash is not 32 bytes"))?;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                return Err(bad(4 + i, "empty extension line"));
            }
            if line.chars().any(char::is_control) {
                return Err(bad(4 + i, "extension line holds a control character"));
            }
            extensions.push(line.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Verifies a signed checkpoint note against `keys` ([`verify_note`]) and parses its body.
    pub fn from_note(note: &str, keys: &[VerifierKey]) -> Result<Self, NoteError> {
        Checkpoint::parse_body(&verify_note(note, keys)?.text)
    }
}
