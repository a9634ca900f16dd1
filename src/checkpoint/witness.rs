//! Witnesses: the C2SP tlog-witness protocol (c2sp.org/tlog-witness) and Ed25519
//! cosignatures (c2sp.org/tlog-cosignature, signature type 0x04).
//!
//! A witness keeps, per log origin, the latest checkpoint it verified and cosigns a new one only
//! when the log proves it consistent with that one, so two parties holding a witness's
//! cosignature on a size know that they saw the same history. The log submits with
//! `POST <submission prefix>/add-checkpoint`; anyone reads the witness's latest cosigned
//! checkpoint for an origin with `GET <monitoring prefix>/<lowercase hex SHA-256 of the
//! origin>/checkpoint` (the spec's monitor retrieval mechanism).
//!
//! Without a feature: building request bodies ([`add_checkpoint_body`]), reading responses
//! ([`parse_add_checkpoint_response`]), witness verifier keys ([`WitnessKey`]) and checking
//! cosignatures ([`verify_cosignatures`], [`verify_witnessed_checkpoint`]). With the `witness`
//! feature (an HTTP client, ureq with rustls): `WitnessSink`, a
//! [`CheckpointSink`](super::CheckpointSink) that submits each committed checkpoint to a
//! witness, and `fetch_latest`, what `verify --witness URL` uses.
//!
//! Signature lines of other types (ML-DSA-44 cosignatures, type 0x06, which C2SP now
//! recommends) and lines from keys not configured are ignored, never an error: a witness may
//! sign with several keys. A line whose name and key id match a configured key must verify.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;

use super::merkle::Hash;
use super::note::{Checkpoint, NoteError, VerifierKey, validate_name, verify_note};

/// The signature type byte of a timestamped Ed25519 cosignature (tlog-cosignature).
pub const COSIGNATURE_V1: u8 = 0x04;
/// The signature type byte of an ML-DSA-44 (sub)tree cosignature: recognised, not verified.
pub const ML_DSA_44: u8 = 0x06;
/// The most consistency-proof lines an add-checkpoint request may carry (tlog-witness).
pub const MAX_PROOF_LINES: usize = 63;
/// The most bytes read from a witness's response: a checkpoint with 100 ML-DSA-44 signature
/// lines (about 3.3 KB each) fits; anything longer is refused, not buffered.
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024;
/// How much of an unexpected response body an error quotes.
const EXCERPT_BYTES: usize = 200;
/// The prefix of a signature line: an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// The most signature lines read from one response (as [`super::MAX_SIGNATURES`]).
const MAX_LINES: usize = super::note::MAX_SIGNATURES;

/// What went wrong talking to a witness or checking what it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessError {
    /// A witness verifier key that is not `<name>+<hex id>+<base64(0x04 ‖ public key)>`.
    InvalidKey(&'static str),
    /// An add-checkpoint request that cannot be built (too many proof lines, a proof from
    /// size 0, a note without its blank line).
    InvalidRequest(String),
    /// A response that does not follow the protocol.
    InvalidResponse {
        /// The HTTP status.
        status: u16,
        /// What is wrong with it.
        reason: String,
    },
    /// A cosignature by a configured key that does not verify the checkpoint.
    BadCosignature {
        /// The key's name.
        name: String,
        /// The key's id, 8 hex digits.
        key_id: String,
    },
    /// No cosignature by any configured witness key (other lines, if any, were ignored).
    NoCosignature {
        /// Signature lines ignored (other keys or types).
        ignored: usize,
    },
    /// An HTTP status the protocol gives no meaning here (403: the witness does not trust
    /// the log key; 404: it does not know the origin; 5xx: it failed).
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the response body, control characters replaced.
        excerpt: String,
    },
    /// The witness could not be reached, or the connection failed.
    Transport(String),
    /// The checkpoint served by the witness is not signed by the log key, or not a checkpoint.
    Checkpoint(NoteError),
    /// The served checkpoint is for another origin.
    OriginMismatch {
        /// The origin asked for.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
    /// The witness has no checkpoint for the origin (404 on the monitoring resource).
    NotFound,
}

impl fmt::Display for WitnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WitnessError::InvalidKey(why) => write!(f, "invalid witness key: {why}"),
            WitnessError::InvalidRequest(why) => {
                write!(f, "cannot build the add-checkpoint request: {why}")
            }
            WitnessError::InvalidResponse { status, reason } => {
                write!(f, "invalid witness response (HTTP {status}): {reason}")
            }
            WitnessError::BadCosignature { name, key_id } => write!(
                f,
                "cosignature by witness key {name}+{key_id} does not verify the checkpoint"
            ),
            WitnessError::NoCosignature { ignored } => write!(
                f,
                "no cosignature by a configured witness key ({ignored} other signature \
                 line(s) ignored)"
            ),
            WitnessError::Status { status, excerpt } => {
                write!(f, "witness answered HTTP {status}: {excerpt:?}")
            }
            WitnessError::Transport(why) => write!(f, "witness unreachable: {why}"),
            WitnessError::Checkpoint(e) => write!(f, "witness's checkpoint: {e}"),
            WitnessError::OriginMismatch { expected, found } => write!(
                f,
                "witness served a checkpoint for origin {found:?}, not {expected:?}"
            ),
            WitnessError::NotFound => {
                write!(f, "witness holds no checkpoint for this origin (HTTP 404)")
            }
        }
    }
}

impl std::error::Error for WitnessError {}

fn hex(bytes: &[u8]) -> String {
    crate::hex::to_hex(bytes)
}

/// The key id of an Ed25519 cosigner key: SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[..4].
pub fn cosignature_key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', COSIGNATURE_V1]);
    h.update(public_key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The message an Ed25519 cosignature signs: `cosignature/v1\ntime <timestamp>\n` followed by
/// the checkpoint's note text (its body, with the final newline, without signature lines).
pub fn cosigned_message(note_text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{note_text}")
}

/// A witness's Ed25519 cosigning key, in the vkey format of c2sp.org/signed-note with type
/// 0x04: `<name>+<hex key id>+<base64(0x04 ‖ public key)>` (`FromStr` parses it, `Display`
/// prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl WitnessKey {
    /// A key from its name and 32-byte Ed25519 public key.
    pub fn from_public_key(name: &str, public_key: &[u8; 32]) -> Result<Self, WitnessError> {
        validate_name(name).map_err(|_| WitnessError::InvalidKey("invalid key name"))?;
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| WitnessError::InvalidKey("not a valid Ed25519 public key"))?;
        Ok(WitnessKey {
            name: name.to_owned(),
            id: cosignature_key_id(name, public_key),
            key,
        })
    }

    /// The witness's name (the key name of its signature lines).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl std::str::FromStr for WitnessKey {
    type Err = WitnessError;

    /// Parses a type-0x04 vkey; the key id must match the name and key.
    fn from_str(s: &str) -> Result<Self, WitnessError> {
        let mut parts = s.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(WitnessError::InvalidKey(
                "expected <name>+<key id>+<base64 key>",
            ));
        };
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(WitnessError::InvalidKey("key id is not 8 hex digits"));
        }
        let bytes = B64
            .decode(key)
            .map_err(|_| WitnessError::InvalidKey("key is not base64"))?;
        let pk: [u8; 32] = match bytes.split_first() {
            Some((&COSIGNATURE_V1, pk)) => pk
                .try_into()
                .map_err(|_| WitnessError::InvalidKey("Ed25519 key is not 32 bytes"))?,
            Some((&ML_DSA_44, _)) => {
                return Err(WitnessError::InvalidKey(
                    "ML-DSA-44 witness keys (type 0x06) are not supported; give the \
                     witness's Ed25519 cosignature key (type 0x04)",
                ));
            }
            _ => {
                return Err(WitnessError::InvalidKey(
                    "not an Ed25519 cosignature key (type 0x04)",
                ));
            }
        };
        let parsed = WitnessKey::from_public_key(name, &pk)?;
        if hex(&parsed.id) != id.to_ascii_lowercase() {
            return Err(WitnessError::InvalidKey(
                "key id does not match the name and key",
            ));
        }
        Ok(parsed)
    }
}

impl fmt::Display for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = vec![COSIGNATURE_V1];
        bytes.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, hex(&self.id), B64.encode(bytes))
    }
}

/// A verified cosignature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness key's name.
    pub witness: String,
    /// The witness key's id.
    pub key_id: [u8; 4],
    /// When the witness cosigned, in seconds since the Unix epoch.
    pub timestamp: u64,
    /// The signature line, `— <name> <base64>`, without its newline.
    pub line: String,
}

/// The cosignatures found in signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignatures {
    /// Those by configured keys, verified, in line order.
    pub verified: Vec<Cosignature>,
    /// Lines from other keys or of other types (ML-DSA-44, the log's own signature), ignored.
    pub ignored: usize,
}

/// Checks signature lines (each `— <name> <base64>`, newline-terminated) as cosignatures of
/// the checkpoint whose note text is `note_text`: a line whose name and key id match one of
/// `keys` must be a valid Ed25519 cosignature (timestamp ‖ signature); other lines are
/// ignored. Malformed lines, two lines by one key and more than 100 lines are errors.
pub fn verify_cosignatures(
    lines: &str,
    note_text: &str,
    keys: &[WitnessKey],
) -> Result<Cosignatures, WitnessError> {
    let bad = |reason: String| WitnessError::InvalidResponse {
        status: 200,
        reason,
    };
    let mut out = Cosignatures {
        verified: Vec::new(),
        ignored: 0,
    };
    let Some(lines) = lines.strip_suffix('\n') else {
        if lines.is_empty() {
            return Ok(out);
        }
        return Err(bad("signature lines do not end in a newline".into()));
    };
    for (i, line) in lines.split('\n').enumerate() {
        if i >= MAX_LINES {
            return Err(bad(format!("more than {MAX_LINES} signature lines")));
        }
        let n = i + 1;
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or_else(|| bad(format!("signature line {n} does not start with '— '")))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| bad(format!("signature line {n} is not '— <name> <signature>'")))?;
        validate_name(name).map_err(|_| bad(format!("signature line {n}: invalid key name")))?;
        let blob = B64
            .decode(b64)
            .map_err(|_| bad(format!("signature line {n}: signature is not base64")))?;
        if blob.len() < 5 {
            return Err(bad(format!(
                "signature line {n}: shorter than a key id and one byte"
            )));
        }
        let id = [blob[0], blob[1], blob[2], blob[3]];
        let Some(key) = keys.iter().find(|k| k.name == name && k.id == id) else {
            out.ignored += 1;
            continue;
        };
        let err = || WitnessError::BadCosignature {
            name: key.name.clone(),
            key_id: hex(&key.id),
        };
        if out
            .verified
            .iter()
            .any(|c| c.witness == key.name && c.key_id == key.id)
        {
            return Err(bad(format!(
                "signature line {n}: a second cosignature by {}+{}",
                key.name,
                hex(&key.id)
            )));
        }
        let body: &[u8; 72] = blob[4..].try_into().map_err(|_| err())?;
        let timestamp = u64::from_be_bytes(body[..8].try_into().map_err(|_| err())?);
        let sig: [u8; 64] = body[8..].try_into().map_err(|_| err())?;
        if timestamp > i64::MAX as u64 {
            return Err(err());
        }
        key.key
            .verify(
                cosigned_message(note_text, timestamp).as_bytes(),
                &Signature::from_bytes(&sig),
            )
            .map_err(|_| err())?;
        out.verified.push(Cosignature {
            witness: key.name.clone(),
            key_id: key.id,
            timestamp,
            line: line.to_owned(),
        });
    }
    Ok(out)
}

/// The text of a signed note: everything up to and including the newline before the blank
/// line that precedes the signatures.
pub fn note_text(note: &str) -> Result<&str, WitnessError> {
    note.rfind("\n\n")
        .map(|i| &note[..i + 1])
        .ok_or_else(|| WitnessError::InvalidRequest("note has no blank line".into()))
}

/// The body of an add-checkpoint request: `old <old_size>\n`, one base64 line per proof hash,
/// a blank line, then the signed checkpoint note. A proof from size 0 must be empty, and at
/// most [`MAX_PROOF_LINES`] hashes are allowed (enough for any tree below 2^63 leaves).
pub fn add_checkpoint_body(
    old_size: u64,
    proof: &[Hash],
    note: &str,
) -> Result<String, WitnessError> {
    if proof.len() > MAX_PROOF_LINES {
        return Err(WitnessError::InvalidRequest(format!(
            "{} proof hashes, more than {MAX_PROOF_LINES}",
            proof.len()
        )));
    }
    if old_size == 0 && !proof.is_empty() {
        return Err(WitnessError::InvalidRequest(
            "a proof from old size 0 must be empty".into(),
        ));
    }
    if !note.ends_with('\n') {
        return Err(WitnessError::InvalidRequest(
            "note does not end in a newline".into(),
        ));
    }
    note_text(note)?;
    let mut body = format!("old {old_size}\n");
    for h in proof {
        body.push_str(&B64.encode(h));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    Ok(body)
}

/// What an add-checkpoint response means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddCheckpointOutcome {
    /// 200: the witness cosigned; at least one cosignature by a configured key verified.
    Cosigned(Cosignatures),
    /// 409: the witness's latest cosigned checkpoint for the origin has this size, not the old
    /// size sent.
    SizeConflict {
        /// The witness's size (the `text/x.tlog.size` body).
        witness_size: u64,
    },
    /// 422: the witness refused the consistency proof (or the roots of equal sizes differ):
    /// the checkpoint is inconsistent with the one the witness holds, or the proof is wrong.
    BadProof {
        /// The start of the response body.
        excerpt: String,
    },
}

/// The start of a body for an error message, at most 200 bytes, control characters replaced.
pub fn excerpt(body: &[u8]) -> String {
    let cut = body.len().min(EXCERPT_BYTES);
    let mut s: String = String::from_utf8_lossy(&body[..cut])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > cut {
        s.push('…');
    }
    s
}

/// Reads an add-checkpoint response (status and body, at most [`MAX_RESPONSE_BYTES`]) for the
/// checkpoint whose note text is `note_text`, checking cosignatures against `keys`.
pub fn parse_add_checkpoint_response(
    status: u16,
    body: &[u8],
    note_text: &str,
    keys: &[WitnessKey],
) -> Result<AddCheckpointOutcome, WitnessError> {
    match status {
        200 => {
            let lines = std::str::from_utf8(body).map_err(|_| WitnessError::InvalidResponse {
                status,
                reason: "body is not UTF-8".into(),
            })?;
            let found = verify_cosignatures(lines, note_text, keys)?;
            if found.verified.is_empty() {
                return Err(WitnessError::NoCosignature {
                    ignored: found.ignored,
                });
            }
            Ok(AddCheckpointOutcome::Cosigned(found))
        }
        409 => {
            let bad = || WitnessError::InvalidResponse {
                status,
                reason: format!(
                    "expected a tree size and a newline (text/x.tlog.size), got {:?}",
                    excerpt(body)
                ),
            };
            let text = std::str::from_utf8(body).map_err(|_| bad())?;
            let digits = text.strip_suffix('\n').unwrap_or(text);
            if digits.is_empty()
                || !digits.bytes().all(|b| b.is_ascii_digit())
                || (digits.len() > 1 && digits.starts_with('0'))
            {
                return Err(bad());
            }
            let witness_size = digits.parse().map_err(|_| bad())?;
            Ok(AddCheckpointOutcome::SizeConflict { witness_size })
        }
        422 => Ok(AddCheckpointOutcome::BadProof {
            excerpt: excerpt(body),
        }),
        _ => Err(WitnessError::Status {
            status,
            excerpt: excerpt(body),
        }),
    }
}

/// A checkpoint a witness served, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessedCheckpoint {
    /// The checkpoint (signed by the log key).
    pub checkpoint: Checkpoint,
    /// The note's cosignatures by the configured witness keys (at least one).
    pub cosignatures: Vec<Cosignature>,
}

/// Verifies a checkpoint note served by a witness: signed by `log_key`, for `origin`, and
/// cosigned by at least one of `witness_keys` (other signature lines ignored).
pub fn verify_witnessed_checkpoint(
    note: &str,
    origin: &str,
    witness_keys: &[WitnessKey],
    log_key: &VerifierKey,
) -> Result<WitnessedCheckpoint, WitnessError> {
    let verified =
        verify_note(note, std::slice::from_ref(log_key)).map_err(WitnessError::Checkpoint)?;
    let checkpoint = Checkpoint::parse_body(&verified.text).map_err(WitnessError::Checkpoint)?;
    if checkpoint.origin != origin {
        return Err(WitnessError::OriginMismatch {
            expected: origin.to_owned(),
            found: checkpoint.origin,
        });
    }
    // verify_note checked the note's shape: the signature block follows the text's blank line.
    let lines = &note[verified.text.len() + 1..];
    let found = verify_cosignatures(lines, &verified.text, witness_keys)?;
    if found.verified.is_empty() {
        return Err(WitnessError::NoCosignature {
            ignored: found.ignored,
        });
    }
    Ok(WitnessedCheckpoint {
        checkpoint,
        cosignatures: found.verified,
    })
}

/// The monitoring resource of a witness for an origin: `<prefix>/<lowercase hex SHA-256 of the
/// origin>/checkpoint` (tlog-witness, "Monitor Retrieval Mechanism").
pub fn checkpoint_url(monitoring_prefix: &str, origin: &str) -> String {
    format!(
        "{}/{}/checkpoint",
        monitoring_prefix.trim_end_matches('/'),
        hex(&Sha256::digest(origin.as_bytes()))
    )
}

#[cfg(feature = "witness")]
mod client;
#[cfg(feature = "witness")]
pub use client::{WitnessSink, fetch_latest};

#[cfg(test)]
mod tests;
