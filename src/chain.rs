//! Sealing entries into the chain: the canonical body, the chain hash and the HMAC signature of
//! `acttrace-chain/1` (see `docs/FORMAT.md`).
//!
//! ```
//! use acttrace::chain::{HashAlg, GENESIS, entry_hash};
//! use acttrace::json::Value;
//!
//! let payload = Value::Object(vec![("system".into(), "demo".into())]);
//! let h = entry_hash(HashAlg::Sha256, GENESIS, &Value::from(0u64),
//!     &Value::from("2026-01-01T00:00:00.000000+00:00"), &Value::from("audit_open"), &payload);
//! assert_eq!(h.len(), 64);
//! ```

use std::fmt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::hex::{Hex64, from_hex64, from_lower_hex, hex_str, hex64, to_hex};
use crate::json::{self, Value};

/// The name of the on-disk format, recorded in every `audit_open` entry.
pub const FORMAT: &str = "acttrace-chain/1";

/// The `prev_hash` of entry 0: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What this crate writes as `producer` in `audit_open`.
pub const PRODUCER: &str = concat!("acttrace-rs/", env!("CARGO_PKG_VERSION"));

/// The chain hash function. SHA-256 is the format's default and the only one the reference
/// implementation reads; BLAKE3 is declared in the `audit_open` payload (`"hash_alg":
/// "blake3"`) and detected by [`crate::verify`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256 (the default; readable by every `acttrace-chain/1` verifier).
    #[default]
    Sha256,
    /// BLAKE3 (faster on machines without SHA extensions; NOT readable by the reference
    /// Python/TypeScript verifiers, which only know SHA-256).
    Blake3,
}

impl HashAlg {
    /// The name used in the `hash_alg` field of `audit_open`.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Blake3 => "blake3",
        }
    }

    /// The algorithm a `hash_alg` name denotes.
    pub fn from_name(name: &str) -> Option<HashAlg> {
        match name {
            "sha256" => Some(HashAlg::Sha256),
            "blake3" => Some(HashAlg::Blake3),
            _ => None,
        }
    }

    /// The algorithm an `audit_open` payload declares (SHA-256 when it declares none).
    /// `Err` carries the unknown name.
    pub fn declared_in(audit_open_payload: &Value) -> Result<HashAlg, String> {
        match audit_open_payload.get("hash_alg") {
            None => Ok(HashAlg::Sha256),
            Some(Value::String(s)) => HashAlg::from_name(s).ok_or_else(|| s.clone()),
            Some(other) => Err(json::to_line_string(other)),
        }
    }
}

/// Appends the canonical hashed body `{"payload":..,"seq":..,"ts":..,"type":..}` (keys sorted,
/// so in that order) to `out`.
pub fn write_body(out: &mut String, seq: &Value, ts: &Value, kind: &Value, payload: &Value) {
    out.push_str("{\"payload\":");
    json::write_canonical(out, payload);
    out.push_str(",\"seq\":");
    json::write_canonical(out, seq);
    out.push_str(",\"ts\":");
    json::write_canonical(out, ts);
    out.push_str(",\"type\":");
    json::write_canonical(out, kind);
    out.push('}');
}

/// `hash = H(prev_hash_hex || canonical(body))` as 64 lowercase hex digits.
pub fn entry_hash(
    alg: HashAlg,
    prev_hash: &str,
    seq: &Value,
    ts: &Value,
    kind: &Value,
    payload: &Value,
) -> String {
    let mut body = String::with_capacity(256);
    write_body(&mut body, seq, ts, kind, payload);
    hash_hex(alg, prev_hash, &body)
}

/// `H(prev_hash || body)` as lowercase hex.
pub fn hash_hex(alg: HashAlg, prev_hash: &str, body: &str) -> String {
    to_hex(&digest(alg, prev_hash.as_bytes(), body.as_bytes()))
}

/// `H(prev_hash || body)`.
pub(crate) fn digest(alg: HashAlg, prev_hash: &[u8], body: &[u8]) -> [u8; 32] {
    match alg {
        HashAlg::Sha256 => {
            let mut h = Sha256::new();
            h.update(prev_hash);
            h.update(body);
            h.finalize().into()
        }
        HashAlg::Blake3 => {
            let mut h = blake3::Hasher::new();
            h.update(prev_hash);
            h.update(body);
            h.finalize().into()
        }
    }
}

/// The secret that signs entries (`sig = HMAC-SHA256(key, hash_hex)`).
///
/// The bytes are zeroized when the key is dropped, never printed by `Debug`, and compared only
/// through the MAC's constant-time check. Take keys from the environment or a file rather than
/// a command line, where other users of the machine can read them.
///
/// ```
/// use acttrace::SigningKey;
/// # unsafe { std::env::set_var("DOC_AUDIT_KEY", "s3cret") };
/// let key = SigningKey::from_env("DOC_AUDIT_KEY").unwrap();
/// let sig = key.sign("ab".repeat(32).as_str());
/// assert!(key.verify("ab".repeat(32).as_str(), &sig));
/// assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
/// ```
///
/// A key that signs new entries must be at least [`MIN_SIGNING_KEY_BYTES`] long
/// ([`SigningKey::check_signing_length`], which the layer's builder applies); any non-empty key
/// is accepted to verify an existing log, since logs signed with shorter keys exist (the
/// reference implementation's test vectors use 7-byte keys). `acttrace keygen hmac FILE` writes a
/// random 32-byte key.
#[derive(Clone)]
pub struct SigningKey {
    bytes: Zeroizing<Vec<u8>>,
    /// Where the key came from (`bytes`, `environment variable X`, `key file P`), for errors.
    source: String,
}

/// The shortest key (in bytes) accepted for signing new entries: 128 bits.
pub const MIN_SIGNING_KEY_BYTES: usize = 16;

impl SigningKey {
    /// A key from raw bytes. The reference implementation uses a string's UTF-8 bytes.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<SigningKey, KeyError> {
        let bytes = Zeroizing::new(bytes.into());
        if bytes.is_empty() {
            return Err(KeyError::Empty {
                source: "bytes".into(),
            });
        }
        Ok(SigningKey {
            bytes,
            source: "bytes".into(),
        })
    }

    /// A key from the environment variable `var` (its UTF-8 value).
    pub fn from_env(var: &str) -> Result<SigningKey, KeyError> {
        let value = std::env::var_os(var).ok_or_else(|| KeyError::MissingEnv(var.to_owned()))?;
        let value = Zeroizing::new(
            value
                .into_string()
                .map_err(|_| KeyError::NotUtf8(format!("environment variable {var}")))?,
        );
        if value.is_empty() {
            return Err(KeyError::Empty {
                source: format!("environment variable {var}"),
            });
        }
        Ok(SigningKey {
            bytes: Zeroizing::new(value.as_bytes().to_vec()),
            source: format!("environment variable {var}"),
        })
    }

    /// A key from a file: its bytes, less one trailing `\n` or `\r\n` (as left by editors and
    /// `echo`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<SigningKey, KeyError> {
        let path = path.as_ref();
        let mut bytes = Zeroizing::new(
            crate::small_file::read(path, crate::small_file::MAX_KEY_FILE_BYTES).map_err(
                |source| KeyError::Io {
                    path: path.display().to_string(),
                    source,
                },
            )?,
        );
        if bytes.ends_with(b"\n") {
            bytes.pop();
            if bytes.ends_with(b"\r") {
                bytes.pop();
            }
        }
        if bytes.is_empty() {
            return Err(KeyError::Empty {
                source: format!("key file {}", path.display()),
            });
        }
        Ok(SigningKey {
            bytes,
            source: format!("key file {}", path.display()),
        })
    }

    /// The key named by an environment variable or a key file, whichever is given (the
    /// variable first); `None` when neither is. For command lines and configuration.
    pub fn from_env_or_file(
        var: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Option<SigningKey>, KeyError> {
        match (var, file) {
            (Some(var), _) => SigningKey::from_env(var).map(Some),
            (None, Some(path)) => SigningKey::from_file(path).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// Checks that the key is long enough to sign new entries: at least
    /// [`MIN_SIGNING_KEY_BYTES`]. Verifying an existing log takes any non-empty key.
    ///
    /// ```
    /// use acttrace::SigningKey;
    /// let short = SigningKey::from_bytes("demo-hmac-key").unwrap();
    /// let err = short.check_signing_length().unwrap_err().to_string();
    /// assert!(err.contains("13 bytes") && err.contains("at least 16"), "{err}");
    /// assert!(SigningKey::from_bytes([7u8; 32]).unwrap().check_signing_length().is_ok());
    /// ```
    pub fn check_signing_length(&self) -> Result<(), KeyError> {
        if self.bytes.len() < MIN_SIGNING_KEY_BYTES {
            return Err(KeyError::TooShort {
                source: self.source.clone(),
                len: self.bytes.len(),
                min: MIN_SIGNING_KEY_BYTES,
            });
        }
        Ok(())
    }

    /// The key's bytes, for deriving other keys from it (never for display).
    pub(crate) fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.bytes).expect("HMAC takes any key length")
    }

    /// `HMAC-SHA256(key, message)` as lowercase hex.
    pub fn sign(&self, message: &str) -> String {
        let mut mac = self.mac();
        mac.update(message.as_bytes());
        to_hex(&mac.finalize().into_bytes())
    }

    /// Whether `sig_hex` is `HMAC-SHA256(key, message)`, compared in constant time.
    pub fn verify(&self, message: &str, sig_hex: &str) -> bool {
        let Some(sig) = from_lower_hex(sig_hex) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(message.as_bytes());
        mac.verify_slice(&sig).is_ok()
    }
}

/// A signing key's HMAC state after it has absorbed the key, for signing or checking many
/// hashes in a row: each [`SigningKey::sign`] or [`SigningKey::verify`] call hashes the padded
/// key twice before it starts on its message, which is nearly half the work of signing a
/// 64-digit hash. Cloning the prepared state skips that.
///
/// The state is key material (it signs like the key), held no longer than the sequencer or
/// verification that prepared it. Like the state every [`SigningKey::sign`] call builds on its
/// stack, it is not zeroized: the `hmac` crate offers no way to.
#[derive(Clone)]
pub(crate) struct PreparedKey(Hmac<Sha256>);

impl SigningKey {
    /// The key's HMAC state, ready to sign or check many hashes.
    pub(crate) fn prepare(&self) -> PreparedKey {
        PreparedKey(self.mac())
    }
}

impl PreparedKey {
    /// `HMAC-SHA256(key, message)` as lowercase hex, as [`SigningKey::sign`].
    pub(crate) fn sign(&self, message: &[u8]) -> Hex64 {
        let mut mac = self.0.clone();
        mac.update(message);
        hex64(&mac.finalize().into_bytes().into())
    }

    /// Whether `sig_hex` is 64 lowercase hex digits spelling `HMAC-SHA256(key, message)`,
    /// compared in constant time; the same answer as [`SigningKey::verify`].
    pub(crate) fn verify(&self, message: &[u8], sig_hex: &[u8]) -> bool {
        let Some(sig) = from_hex64(sig_hex) else {
            return false;
        };
        let mut mac = self.0.clone();
        mac.update(message);
        tags_equal(&mac.finalize().into_bytes().into(), &sig)
    }
}

/// What an entry line holds in place of its `sig` until the writer signs it, when the writer
/// took a [`LineSigner`] ([`ChainWriter::sign_lines`](crate::writer::ChainWriter::sign_lines)):
/// 64 `0` digits. Never on disk: the writer replaces it before the line is stored.
pub const SIG_PENDING: &str = GENESIS;

/// The end of every entry line the sequencer renders: `"hash": "<64 hex>", "sig": "<64 hex>"}`
/// and the newline. [`LineSigner::sign_line`] reads the hash and writes the signature by these
/// fixed offsets from the line's end.
const LINE_TAIL: usize = HASH_OPEN.len() + 64 + SIG_OPEN.len() + 64 + LINE_CLOSE.len();
const HASH_OPEN: &[u8] = b"\"hash\": \"";
const SIG_OPEN: &[u8] = b"\", \"sig\": \"";
const LINE_CLOSE: &[u8] = b"\"}\n";

/// Signs entry lines whose `sig` the sequencer left to the writer: the HMAC of each line's
/// `hash` (`sig = HMAC-SHA256(key, hash)`), written over the [`SIG_PENDING`] placeholder.
///
/// Signing is three SHA-256 blocks per entry, about a third of the hashing on the sequencer's
/// thread, the busiest of a log's threads. A writer that stores lines and has a thread of its
/// own (the JSONL file writer writes large batches on one) can take that work off the
/// sequencer: it accepts the signer in
/// [`ChainWriter::sign_lines`](crate::writer::ChainWriter::sign_lines) and calls
/// [`sign_line`](LineSigner::sign_line) on every line before the line is stored.
///
/// It holds the key's prepared HMAC state: key material, never printed by `Debug`, dropped with
/// the writer that holds it. Like [`SigningKey::sign`]'s state, it is not zeroized (the `hmac`
/// crate offers no way to).
#[derive(Clone)]
pub struct LineSigner(PreparedKey);

impl fmt::Debug for LineSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LineSigner(..)")
    }
}

impl LineSigner {
    /// A signer with `key`. The sequencer makes one for a signed log and offers it to the
    /// writer; anything that holds the key can sign, so making one grants nothing new.
    pub fn new(key: &SigningKey) -> LineSigner {
        LineSigner(key.prepare())
    }

    /// Signs the entry line that ends `text` (its `\n` included): reads its `hash` and writes
    /// `HMAC-SHA256(key, hash)` in lowercase hex over the [`SIG_PENDING`] placeholder. Only the
    /// line's last 151 bytes are read, so a writer can pass a buffer of lines up to the end of
    /// the one to sign.
    ///
    /// Fails, changing nothing, unless `text` ends in the layout the sequencer renders with the
    /// placeholder in place: `"hash": "<64 hex>", "sig": "<64 zeros>"}\n`. A line signed
    /// already is refused too, so no line is ever signed twice or left half-signed.
    ///
    /// ```
    /// use acttrace::SigningKey;
    /// use acttrace::chain::{LineSigner, SIG_PENDING};
    ///
    /// let key = SigningKey::from_bytes("demo-key-0123456789").unwrap();
    /// let signer = LineSigner::new(&key);
    /// let hash = "ab".repeat(32);
    /// let mut line = format!("{{\"seq\": 0, \"hash\": \"{hash}\", \"sig\": \"{SIG_PENDING}\"}}\n").into_bytes();
    /// signer.sign_line(&mut line).unwrap();
    /// let signed = String::from_utf8(line.clone()).unwrap();
    /// assert!(signed.contains(&format!("\"sig\": \"{}\"", key.sign(&hash))));
    /// // Signing it again is refused: the placeholder is gone.
    /// assert!(signer.sign_line(&mut line).is_err());
    /// ```
    pub fn sign_line(&self, text: &mut [u8]) -> std::io::Result<()> {
        let tail_start = text.len().checked_sub(LINE_TAIL).ok_or_else(not_a_line)?;
        let tail = &mut text[tail_start..];
        let (hash_open, rest) = tail.split_at_mut(HASH_OPEN.len());
        let (hash, rest) = rest.split_at_mut(64);
        let (sig_open, rest) = rest.split_at_mut(SIG_OPEN.len());
        let (sig, close) = rest.split_at_mut(64);
        if hash_open != HASH_OPEN
            || sig_open != SIG_OPEN
            || close != LINE_CLOSE
            || sig != SIG_PENDING.as_bytes()
        {
            return Err(not_a_line());
        }
        sig.copy_from_slice(&self.0.sign(hash));
        Ok(())
    }
}

fn not_a_line() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "a line handed to the writer to sign does not end in \
         `\"hash\": \"<hash>\", \"sig\": \"<64 zeros>\"}` and a newline",
    )
}

/// Whether two 32-byte MAC tags are equal, in constant time: all 32 bytes are combined, a word
/// at a time, into one difference, and only that is tested. (`Mac::verify_slice` compares
/// through `subtle` a byte at a time, each behind an optimisation barrier: 5% of verifying a
/// signed log.)
fn tags_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u64;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
        diff |= word(x) ^ word(y);
    }
    std::hint::black_box(diff) == 0
}

impl fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreparedKey(<redacted>)")
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Why a signing key could not be loaded. Messages never contain key material.
#[derive(Debug)]
pub enum KeyError {
    /// The environment variable is not set.
    MissingEnv(String),
    /// The key source holds no bytes.
    Empty {
        /// Where the key was read from.
        source: String,
    },
    /// The environment variable is not valid UTF-8.
    NotUtf8(String),
    /// The key is too short to sign new entries.
    TooShort {
        /// Where the key was read from.
        source: String,
        /// Its length in bytes.
        len: usize,
        /// The minimum, [`MIN_SIGNING_KEY_BYTES`].
        min: usize,
    },
    /// The key file could not be read.
    Io {
        /// The key file.
        path: String,
        /// The I/O error, also the error's [`source`](std::error::Error::source).
        source: std::io::Error,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::MissingEnv(v) => write!(f, "environment variable {v} is not set"),
            KeyError::Empty { source } => write!(f, "the signing key from {source} is empty"),
            KeyError::NotUtf8(what) => write!(f, "{what} is not valid UTF-8"),
            KeyError::TooShort { source, len, min } => write!(
                f,
                "the signing key from {source} is {len} bytes; a key that signs new entries \
                 must be at least {min} bytes (generate one with `acttrace keygen hmac FILE`)"
            ),
            KeyError::Io { path, source } => write!(f, "cannot read key file {path}: {source}"),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Io { source, .. } => Some(source),
            KeyError::MissingEnv(_)
            | KeyError::Empty { .. }
            | KeyError::NotUtf8(_)
            | KeyError::TooShort { .. } => None,
        }
    }
}

/// Seals entries one after another: the key's HMAC state is prepared once, and the body and
/// line buffers are reused, so sealing allocates nothing once they have grown.
#[derive(Debug)]
pub(crate) struct Sealer {
    alg: HashAlg,
    key: Option<PreparedKey>,
    body: String,
    line: String,
    members: Vec<json::MemberText>,
    hash: Hex64,
    /// `hash` as raw bytes (the Merkle tree's leaf, issue #13).
    raw_hash: [u8; 32],
    sig: Option<Hex64>,
    /// Whether every `ts` is a stamper's and every `prev_hash` a checked hash, written into
    /// the line without looking for characters to escape ([`Sealer::for_log`]).
    plain_ts_and_prev: bool,
    /// Whether signing is left to the writer: each line then carries [`SIG_PENDING`]
    /// ([`Sealer::leave_signing_to_writer`]).
    sig_pending: bool,
}

impl Sealer {
    pub(crate) fn new(alg: HashAlg, key: Option<&SigningKey>) -> Sealer {
        Sealer {
            alg,
            key: key.map(SigningKey::prepare),
            body: String::with_capacity(1024),
            line: String::with_capacity(1024),
            members: Vec::new(),
            hash: [b'0'; 64],
            raw_hash: [0; 32],
            sig: None,
            plain_ts_and_prev: false,
            sig_pending: false,
        }
    }

    /// The sequencer's sealer: its times come from `time::Stamper` (digits and `-:T.+`) and
    /// each `prev_hash` is the hash it sealed last or the head of an existing chain, checked
    /// to be hex when the log was opened, so neither is scanned for escapes (two scans of
    /// ~100 bytes per entry on the writer's busiest thread).
    pub(crate) fn for_log(alg: HashAlg, key: Option<&SigningKey>) -> Sealer {
        Sealer {
            plain_ts_and_prev: true,
            ..Sealer::new(alg, key)
        }
    }

    /// From now on, a signed entry's line carries [`SIG_PENDING`] in place of its `sig`, for
    /// the writer to sign with a [`LineSigner`]: the writer took one.
    pub(crate) fn leave_signing_to_writer(&mut self) {
        self.sig_pending = self.key.is_some();
    }

    /// Seals an entry: renders its canonical body and its log line in one pass over the
    /// payload (or takes the payload's two forms from `text`, rendered on another thread), hashes
    /// the body onto `prev_hash` and signs the hash. The result borrows the sealer's buffers
    /// until the next call.
    pub(crate) fn seal<'a>(
        &'a mut self,
        seq: u64,
        ts: &'a str,
        kind: &'a str,
        payload: &'a Value,
        text: Option<PayloadText<'_>>,
        prev_hash: &'a str,
    ) -> RenderedEntry<'a> {
        let seq_text = json::IntDigits::new(seq.into());
        // The line up to its payload, the payload in both forms, then the body's tail: the
        // bytes `write_body` and `SealedEntry::write_line` write, without owned copies.
        self.line.clear();
        self.line.push_str("{\"seq\": ");
        seq_text.write_to(&mut self.line);
        self.line.push_str(", \"ts\": ");
        let ts_start = self.line.len();
        if self.plain_ts_and_prev {
            json::write_plain_string(&mut self.line, ts);
        } else {
            json::write_string(&mut self.line, ts);
        }
        let ts_end = self.line.len();
        self.line.push_str(", \"type\": ");
        let kind_start = self.line.len();
        json::write_string(&mut self.line, kind);
        let kind_end = self.line.len();
        self.line.push_str(", \"payload\": ");
        self.body.clear();
        self.body.push_str("{\"payload\":");
        match text {
            Some(text) => {
                self.line.push_str(text.line);
                self.body.push_str(text.canonical);
            }
            None => json::write_line_and_canonical(
                &mut self.line,
                &mut self.body,
                payload,
                &mut self.members,
            ),
        }
        self.body.push_str(",\"seq\":");
        seq_text.write_to(&mut self.body);
        self.body.push_str(",\"ts\":");
        self.body.push_str(&self.line[ts_start..ts_end]);
        self.body.push_str(",\"type\":");
        self.body.push_str(&self.line[kind_start..kind_end]);
        self.body.push('}');

        self.raw_hash = digest(self.alg, prev_hash.as_bytes(), self.body.as_bytes());
        self.hash = hex64(&self.raw_hash);
        self.sig = match &self.key {
            None => None,
            Some(_) if self.sig_pending => Some([b'0'; 64]),
            Some(k) => Some(k.sign(&self.hash)),
        };
        let hash = hex_str(&self.hash);
        let sig = self.sig.as_ref().map_or("", hex_str);
        self.line.push_str(", \"prev_hash\": ");
        if self.plain_ts_and_prev {
            json::write_plain_string(&mut self.line, prev_hash);
        } else {
            json::write_string(&mut self.line, prev_hash);
        }
        // Hex digits never need escaping.
        self.line.push_str(", \"hash\": \"");
        self.line.push_str(hash);
        self.line.push_str("\", \"sig\": \"");
        self.line.push_str(sig);
        self.line.push_str("\"}\n");
        RenderedEntry {
            seq,
            ts,
            kind,
            payload,
            prev_hash,
            hash,
            sig,
            sig_pending: self.sig_pending,
            line: &self.line,
        }
    }
}

impl Sealer {
    /// The hash of the entry sealed last.
    pub(crate) fn hash(&self) -> Hex64 {
        self.hash
    }

    /// The hash of the entry sealed last, as raw bytes.
    pub(crate) fn raw_hash(&self) -> &[u8; 32] {
        &self.raw_hash
    }
}

/// A payload's line form and canonical form, rendered ahead of sealing (what
/// `json::write_line_and_canonical` writes for it).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PayloadText<'a> {
    pub(crate) line: &'a str,
    pub(crate) canonical: &'a str,
}

/// A sealed entry as the sequencer hands it to a [`ChainWriter`](crate::writer::ChainWriter):
/// its parts, borrowed, and its log line already rendered (what [`SealedEntry::to_line`]
/// returns for the same entry).
#[derive(Clone, Copy, Debug)]
pub struct RenderedEntry<'a> {
    seq: u64,
    ts: &'a str,
    kind: &'a str,
    payload: &'a Value,
    prev_hash: &'a str,
    hash: &'a str,
    sig: &'a str,
    sig_pending: bool,
    line: &'a str,
}

impl<'a> RenderedEntry<'a> {
    /// Position in the chain.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// UTC time of sealing.
    pub fn ts(&self) -> &'a str {
        self.ts
    }

    /// The entry type.
    pub fn kind(&self) -> &'a str {
        self.kind
    }

    /// The payload (already redacted).
    pub fn payload(&self) -> &'a Value {
        self.payload
    }

    /// The previous entry's hash.
    pub fn prev_hash(&self) -> &'a str {
        self.prev_hash
    }

    /// This entry's hash.
    pub fn hash(&self) -> &'a str {
        self.hash
    }

    /// The signature, or empty when unsigned; [`SIG_PENDING`] when the writer signs lines
    /// itself ([`sig_pending`](RenderedEntry::sig_pending)).
    pub fn sig(&self) -> &'a str {
        self.sig
    }

    /// Whether the line's `sig` is [`SIG_PENDING`], for the writer to sign with the
    /// [`LineSigner`] it took in
    /// [`ChainWriter::sign_lines`](crate::writer::ChainWriter::sign_lines). Only a writer that
    /// took one is given such entries.
    pub fn sig_pending(&self) -> bool {
        self.sig_pending
    }

    /// The log line, with its trailing `\n`.
    pub fn line(&self) -> &'a str {
        self.line
    }

    /// The entry as an owned [`SealedEntry`].
    pub fn to_sealed(&self) -> SealedEntry {
        SealedEntry {
            seq: self.seq,
            ts: self.ts.to_owned(),
            kind: self.kind.to_owned(),
            payload: self.payload.clone(),
            prev_hash: self.prev_hash.to_owned(),
            hash: self.hash.to_owned(),
            sig: self.sig.to_owned(),
        }
    }
}

/// One sealed chain entry, as written to a log line.
#[derive(Clone, Debug, PartialEq)]
pub struct SealedEntry {
    /// Position in the chain, from 0.
    pub seq: u64,
    /// UTC time of sealing, `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`.
    pub ts: String,
    /// The entry type (`decision`, `llm_call`, ...).
    pub kind: String,
    /// The payload (already redacted).
    pub payload: Value,
    /// The previous entry's hash, or [`GENESIS`].
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
    /// `HMAC-SHA256(key, hash)` hex, or empty when unsigned.
    pub sig: String,
}

impl SealedEntry {
    /// Seals an entry: computes its hash over the canonical body and signs it when a key is
    /// given.
    pub fn seal(
        alg: HashAlg,
        key: Option<&SigningKey>,
        seq: u64,
        ts: String,
        kind: String,
        payload: Value,
        prev_hash: String,
    ) -> SealedEntry {
        let mut sealer = Sealer::new(alg, key);
        let e = sealer.seal(seq, &ts, &kind, &payload, None, &prev_hash);
        let (hash, sig) = (e.hash.to_owned(), e.sig.to_owned());
        SealedEntry {
            seq,
            ts,
            kind,
            payload,
            prev_hash,
            hash,
            sig,
        }
    }

    /// Appends the entry's log line (with its trailing `\n`) in the reference layout:
    /// `{"seq": .., "ts": .., "type": .., "payload": .., "prev_hash": .., "hash": .., "sig": ..}`.
    pub fn write_line(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(out, "{{\"seq\": {}, \"ts\": ", self.seq);
        json::write_string(out, &self.ts);
        out.push_str(", \"type\": ");
        json::write_string(out, &self.kind);
        out.push_str(", \"payload\": ");
        json::write_line_form(out, &self.payload);
        out.push_str(", \"prev_hash\": ");
        json::write_string(out, &self.prev_hash);
        out.push_str(", \"hash\": ");
        json::write_string(out, &self.hash);
        out.push_str(", \"sig\": ");
        json::write_string(out, &self.sig);
        out.push_str("}\n");
    }

    /// The entry's log line with its trailing `\n`.
    pub fn to_line(&self) -> String {
        let mut s = String::with_capacity(512);
        self.write_line(&mut s);
        s
    }
}

/// Where an existing chain ends, so that appending continues it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainTip {
    /// The seq the next entry gets.
    pub next_seq: u64,
    /// The hash of the last entry.
    pub head: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex::is_hash_hex;

    #[test]
    fn the_prepared_key_accepts_exactly_the_signatures_the_key_accepts() {
        let key = SigningKey::from_bytes("key-7-1").unwrap();
        let prepared = key.prepare();
        let hash = "752846f70168a08c008f246cfecc1b270e2bf32f8488df5130814b38e5cd65cf";
        let sig = key.sign(hash);
        assert!(prepared.verify(hash.as_bytes(), sig.as_bytes()));
        // Every position, changed: the tag compare must look at all 32 bytes.
        for i in 0..sig.len() {
            let mut bad = sig.clone().into_bytes();
            bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
            let bad = String::from_utf8(bad).unwrap();
            assert_eq!(
                prepared.verify(hash.as_bytes(), bad.as_bytes()),
                key.verify(hash, &bad)
            );
            assert!(!prepared.verify(hash.as_bytes(), bad.as_bytes()), "{i}");
        }
        assert!(!prepared.verify(b"other", sig.as_bytes()));
        assert!(!prepared.verify(hash.as_bytes(), b""));
    }

    #[test]
    fn reference_entry_hash_and_signature_reproduce() {
        // seq 0 of tests/vectors/cendor-py-1.14.0/chain1.jsonl (key "key-7-1").
        let line = r#"{"seq": 0, "ts": "2026-11-26T21:28:45.791750+00:00", "type": "audit_open", "payload": {"system": "sys-7", "risk_tier": "limited", "format": "acttrace-chain/1", "producer": "cendor-acttrace/1.14.0"}, "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "hash": "752846f70168a08c008f246cfecc1b270e2bf32f8488df5130814b38e5cd65cf", "sig": "df3056fa298a752c0e495d4f840daa7435217ff9bf70bcff2895427a7b58ad67"}"#;
        let v = json::parse(line).unwrap();
        let payload = v.get("payload").unwrap().clone();
        let key = SigningKey::from_bytes("key-7-1").unwrap();
        let e = SealedEntry::seal(
            HashAlg::Sha256,
            Some(&key),
            0,
            "2026-11-26T21:28:45.791750+00:00".into(),
            "audit_open".into(),
            payload,
            GENESIS.into(),
        );
        assert_eq!(
            e.hash,
            "752846f70168a08c008f246cfecc1b270e2bf32f8488df5130814b38e5cd65cf"
        );
        assert_eq!(
            e.sig,
            "df3056fa298a752c0e495d4f840daa7435217ff9bf70bcff2895427a7b58ad67"
        );
        // Our line layout is byte-identical to the reference writer's.
        assert_eq!(e.to_line(), format!("{line}\n"));
    }

    #[test]
    fn signature_check_rejects_wrong_key_case_and_length() {
        let k = SigningKey::from_bytes("k").unwrap();
        let sig = k.sign("abc");
        assert!(k.verify("abc", &sig));
        assert!(!k.verify("abd", &sig));
        assert!(!k.verify("abc", &sig.to_uppercase()));
        assert!(!k.verify("abc", &sig[..62]));
        assert!(!k.verify("abc", ""));
        assert!(!SigningKey::from_bytes("k2").unwrap().verify("abc", &sig));
    }

    #[test]
    fn empty_keys_are_refused_and_key_files_lose_one_newline() {
        assert!(matches!(
            SigningKey::from_bytes(""),
            Err(KeyError::Empty { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "secret\r\n").unwrap();
        let k = SigningKey::from_file(&p).unwrap();
        assert_eq!(
            k.sign("x"),
            SigningKey::from_bytes("secret").unwrap().sign("x")
        );
        std::fs::write(&p, "\n").unwrap();
        assert!(matches!(
            SigningKey::from_file(&p),
            Err(KeyError::Empty { .. })
        ));
        assert!(matches!(
            SigningKey::from_env("ACTTRACE_TEST_SURELY_UNSET_VAR"),
            Err(KeyError::MissingEnv(_))
        ));
    }

    #[test]
    fn an_unreadable_key_file_keeps_its_io_error_as_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let err = SigningKey::from_file(dir.path().join("missing")).unwrap_err();
        let io = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io::Error is the source");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        assert!(
            err.to_string().starts_with("cannot read key file "),
            "{err}"
        );
    }

    #[test]
    fn sealing_hashes_the_body_write_body_writes() {
        let payload =
            json::parse(r#"{"z": [1, -0, 1e-5], "a": {"é": "q\"\n"}, "n": null}"#).unwrap();
        let key = SigningKey::from_bytes("k").unwrap();
        for alg in [HashAlg::Sha256, HashAlg::Blake3] {
            for seq in [0, 7, u64::MAX] {
                let e = SealedEntry::seal(
                    alg,
                    Some(&key),
                    seq,
                    "ts\u{1}".into(),
                    "ty\"pe".into(),
                    payload.clone(),
                    GENESIS.into(),
                );
                let want = entry_hash(
                    alg,
                    GENESIS,
                    &Value::from(seq),
                    &Value::from("ts\u{1}"),
                    &Value::from("ty\"pe"),
                    &payload,
                );
                assert_eq!(e.hash, want);
                assert_eq!(e.sig, key.sign(&want));
            }
        }
    }

    #[test]
    fn sealer_renders_the_line_and_hash_of_a_sealed_entry() {
        let payload = json::parse(
            r#"{"decision_id": null, "b": [1, {"y": "é\u2028", "x": 2.5}], "a": "q\"\t", "n": 7}"#,
        )
        .unwrap();
        let key = SigningKey::from_bytes("k").unwrap();
        for key in [None, Some(&key)] {
            let mut sealer = Sealer::new(HashAlg::Sha256, key);
            let mut prev = GENESIS.to_owned();
            for seq in [0, 1, 10, u64::MAX] {
                let want = SealedEntry::seal(
                    HashAlg::Sha256,
                    key,
                    seq,
                    "ts\u{1}".into(),
                    "ty\"pe".into(),
                    payload.clone(),
                    prev.clone(),
                );
                let got = sealer.seal(seq, "ts\u{1}", "ty\"pe", &payload, None, &prev);
                assert_eq!(got.line(), want.to_line());
                assert_eq!(got.to_sealed(), want);
                let body_hash = entry_hash(
                    HashAlg::Sha256,
                    &prev,
                    &Value::from(seq),
                    &Value::from("ts\u{1}"),
                    &Value::from("ty\"pe"),
                    &payload,
                );
                assert_eq!(got.hash(), body_hash);
                prev = want.hash;
            }
        }
    }

    #[test]
    fn blake3_and_sha256_chains_differ() {
        let p = Value::Object(vec![]);
        let a = entry_hash(
            HashAlg::Sha256,
            GENESIS,
            &0u64.into(),
            &"t".into(),
            &"x".into(),
            &p,
        );
        let b = entry_hash(
            HashAlg::Blake3,
            GENESIS,
            &0u64.into(),
            &"t".into(),
            &"x".into(),
            &p,
        );
        assert_ne!(a, b);
        assert!(is_hash_hex(&a) && is_hash_hex(&b));
    }

    /// A payload whose strings look like the line's tail, to show the signer reads the tail
    /// by position from the line's end, not by searching.
    fn tail_lookalike_payload(i: u64) -> Value {
        Value::Object(vec![
            ("i".into(), Value::from(i)),
            (
                "text".into(),
                Value::from(
                    format!("\"hash\": \"{GENESIS}\", \"sig\": \"{SIG_PENDING}\"}}\n").as_str(),
                ),
            ),
        ])
    }

    #[test]
    fn a_line_left_for_the_writer_signs_to_the_line_the_sealer_signs() {
        let key = SigningKey::from_bytes("line-signer-key-0123").unwrap();
        let signer = LineSigner::new(&key);
        let mut signing = Sealer::for_log(HashAlg::Sha256, Some(&key));
        let mut leaving = Sealer::for_log(HashAlg::Sha256, Some(&key));
        leaving.leave_signing_to_writer();
        let mut prev = GENESIS.to_owned();
        // Several lines in one buffer, as a writer's block holds them.
        let (mut block, mut ends, mut want) = (Vec::new(), Vec::new(), String::new());
        for i in 0..5u64 {
            let payload = tail_lookalike_payload(i);
            let ts = "2026-12-01T00:00:00.000000+00:00";
            let signed = signing.seal(i, ts, "tool_call", &payload, None, &prev);
            want.push_str(signed.line());
            let left = leaving.seal(i, ts, "tool_call", &payload, None, &prev);
            assert!(left.sig_pending() && !signed.sig_pending());
            assert_eq!(left.sig(), SIG_PENDING);
            assert_eq!(left.hash(), signed.hash());
            block.extend_from_slice(left.line().as_bytes());
            ends.push(block.len());
            prev = left.hash().to_owned();
        }
        assert_ne!(block, want.as_bytes());
        for &end in &ends {
            signer.sign_line(&mut block[..end]).unwrap();
        }
        assert_eq!(String::from_utf8(block).unwrap(), want);
    }

    #[test]
    fn the_line_signer_refuses_what_is_not_a_line_awaiting_its_signature() {
        let key = SigningKey::from_bytes("line-signer-key-0123").unwrap();
        let signer = LineSigner::new(&key);
        let mut leaving = Sealer::for_log(HashAlg::Sha256, Some(&key));
        leaving.leave_signing_to_writer();
        let pending = leaving
            .seal(0, "t", "x", &tail_lookalike_payload(0), None, GENESIS)
            .line()
            .to_owned();
        let unsigned = Sealer::for_log(HashAlg::Sha256, None)
            .seal(0, "t", "x", &tail_lookalike_payload(0), None, GENESIS)
            .line()
            .to_owned();
        let mut signed = pending.clone().into_bytes();
        signer.sign_line(&mut signed).unwrap();
        let signed = String::from_utf8(signed).unwrap();
        let refused = [
            // Signed already: never signed twice.
            signed.clone(),
            // An unsigned log's line has no room for a signature.
            unsigned,
            // Without its newline, or cut short.
            pending.trim_end().to_owned(),
            pending[pending.len() - 100..].to_owned(),
            String::new(),
            // A tail that is not the sealer's layout.
            pending.replace("\"sig\": ", "\"sig\":  "),
            pending.replacen(", \"hash\": \"", ", \"hash\":\"x", 1),
            pending.replace("\"}\n", "\"]\n"),
        ];
        for text in refused {
            let mut bytes = text.clone().into_bytes();
            let err = signer.sign_line(&mut bytes).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{text}");
            assert!(err.to_string().contains("does not end in"), "{err}");
            assert_eq!(bytes, text.as_bytes(), "changed though refused: {text}");
        }
        // The signed line carries the key's signature of its hash.
        let parsed = json::parse(signed.trim_end()).unwrap();
        let hash = parsed.get("hash").and_then(Value::as_str).unwrap();
        assert_eq!(
            parsed.get("sig").and_then(Value::as_str),
            Some(key.sign(hash).as_str())
        );
    }
}
