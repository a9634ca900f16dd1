//! Forward-secure epoch keys (issue #13): the key that signs a log's checkpoints beside its
//! long-lived key changes every epoch, each new key announced by the one before it, and the old
//! one is erased; whoever takes the writer's host later holds only the current epoch's key and
//! cannot re-sign the epochs closed before.
//!
//! - Epoch key `k` (E(k)) is an Ed25519 key named `<origin>/fs` ([`epoch_key_name`]); E(0) is
//!   made off the writer by `acttrace keygen checkpoint` (its verifier key is kept off the
//!   host), never by the writer itself.
//! - A [`KeyEpoch`] announcement, signed by E(k), names E(k+1) and the tree (size and root) at
//!   its position in the chain, so it cannot be replayed elsewhere: it rides in the log as a
//!   `key_epoch` entry whose seq is its tree size.
//! - The [`EpochState`] file on the writer's host holds E(k), and E(k+1) while a roll is under
//!   way, each line `<epoch> <Go private key>`; it is replaced atomically (temporary file,
//!   fsync, rename, fsync of the directory), mode 0600.
//!
//! `docs/FORMAT.md` §7f gives the formats and the verification rule.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::merkle::Hash;
use super::note::{NoteError, SignerKey, VerifierKey, validate_name};
use crate::error::Error;

/// The first line of an epoch state file.
pub const EPOCH_STATE_HEADER: &str = "acttrace-fs-state/1";

/// The second line of a [`KeyEpoch`] body starts with this word, so that an announcement never
/// parses as a checkpoint body (whose second line is a number).
const KEY_EPOCH_WORD: &str = "key-epoch";

/// The largest epoch state file read (two keys take about 200 bytes).
const MAX_STATE_BYTES: u64 = 64 * 1024;

/// The name of a log's epoch keys: `<origin>/fs`.
pub fn epoch_key_name(origin: &str) -> String {
    format!("{origin}/fs")
}

/// An epoch key announcement: E(k) names E(k+1) at a position of the chain.
///
/// Its body (the signed note's text) is five lines:
///
/// ```text
/// <origin>
/// key-epoch <k+1>
/// <tree size at the announcement = the key_epoch entry's seq>
/// <base64 root of the tree over the entries before it>
/// <verifier key of E(k+1), <origin>/fs+<hex id>+<base64>>
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEpoch {
    /// The log's origin.
    pub origin: String,
    /// The epoch the announced key opens (k + 1).
    pub epoch: u64,
    /// The tree size at the announcement.
    pub tree_size: u64,
    /// The tree's root at that size.
    pub root: Hash,
    /// The announced key, named `<origin>/fs`.
    pub key: VerifierKey,
}

impl KeyEpoch {
    /// The body text, each line ending in a newline.
    pub fn body(&self) -> String {
        format!(
            "{}\n{KEY_EPOCH_WORD} {}\n{}\n{}\n{}\n",
            self.origin,
            self.epoch,
            self.tree_size,
            B64.encode(self.root),
            self.key
        )
    }

    /// Parses a body as [`KeyEpoch::body`] writes it; the key must be named `<origin>/fs`.
    pub fn parse_body(text: &str) -> Result<KeyEpoch, NoteError> {
        let bad = |line, reason| NoteError::InvalidBody { line, reason };
        let body = text
            .strip_suffix('\n')
            .ok_or(bad(1, "body does not end in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() != 5 {
            return Err(bad(
                lines.len().min(6),
                "a key epoch announcement has exactly five lines",
            ));
        }
        validate_name(lines[0]).map_err(|_| bad(1, "invalid origin"))?;
        let epoch = lines[1]
            .strip_prefix(KEY_EPOCH_WORD)
            .and_then(|r| r.strip_prefix(' '))
            .and_then(decimal)
            .ok_or(bad(2, "expected 'key-epoch <decimal epoch>'"))?;
        let tree_size = decimal(lines[2]).ok_or(bad(3, "tree size is not a decimal number"))?;
        let root = B64
            .decode(lines[3])
            .ok()
            .and_then(|r| <Hash>::try_from(r).ok())
            .ok_or(bad(4, "root hash is not the base64 of 32 bytes"))?;
        let key: VerifierKey = lines[4]
            .parse()
            .map_err(|_| bad(5, "not a verifier key in Go's format"))?;
        if key.name() != epoch_key_name(lines[0]) {
            return Err(bad(5, "the announced key is not named <origin>/fs"));
        }
        Ok(KeyEpoch {
            origin: lines[0].to_owned(),
            epoch,
            tree_size,
            root,
            key,
        })
    }
}

/// A decimal number without leading zeros.
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// An epoch key: its number and the signer.
#[derive(Debug)]
pub struct EpochKey {
    /// The epoch (0 for the key `keygen` made).
    pub epoch: u64,
    /// The key, named `<origin>/fs`.
    pub signer: SignerKey,
}

/// The epoch keys on the writer's host: the current one, and the next one while a roll is under
/// way (written before the announcement is committed, so that a crash in between loses
/// nothing; the writer resolves it on open from the chain's last announcement).
#[derive(Debug)]
pub struct EpochState {
    /// The key in force.
    pub current: EpochKey,
    /// The key being announced, if a roll is under way.
    pub next: Option<EpochKey>,
}

impl EpochState {
    /// A new state at epoch 0 with a fresh key for `origin`.
    pub fn generate(origin: &str) -> Result<EpochState, NoteError> {
        Ok(EpochState {
            current: EpochKey {
                epoch: 0,
                signer: SignerKey::generate(&epoch_key_name(origin))?,
            },
            next: None,
        })
    }

    /// The file's text: the header, then one line per key (`<epoch> <Go private key>`), in
    /// memory that is zeroized when dropped.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(512));
        out.push_str(EPOCH_STATE_HEADER);
        out.push('\n');
        for key in std::iter::once(&self.current).chain(&self.next) {
            out.push_str(&key.epoch.to_string());
            out.push(' ');
            out.push_str(&key.signer.to_go_format());
            out.push('\n');
        }
        out
    }

    /// Parses a state file's text. Errors never quote a key.
    pub fn parse(text: &str) -> Result<EpochState, String> {
        let mut lines = text.lines();
        if lines.next() != Some(EPOCH_STATE_HEADER) {
            return Err(format!("line 1 is not {EPOCH_STATE_HEADER:?}"));
        }
        let mut keys = Vec::new();
        for (i, line) in lines.enumerate() {
            let n = i + 2;
            if line.is_empty() {
                continue;
            }
            let (epoch, key) = line
                .split_once(' ')
                .ok_or_else(|| format!("line {n}: expected '<epoch> PRIVATE+KEY+...'"))?;
            let epoch = decimal(epoch).ok_or_else(|| format!("line {n}: epoch is not a number"))?;
            let signer = SignerKey::parse(key).map_err(|e| format!("line {n}: {e}"))?;
            if !signer.name().ends_with("/fs") {
                return Err(format!("line {n}: the key is not named <origin>/fs"));
            }
            keys.push(EpochKey { epoch, signer });
        }
        let mut keys = keys.into_iter();
        let current = keys.next().ok_or("no key")?;
        let next = keys.next();
        if keys.next().is_some() {
            return Err("more than two keys".into());
        }
        if let Some(next) = &next
            && (Some(next.epoch) != current.epoch.checked_add(1)
                || next.signer.name() != current.signer.name())
        {
            return Err(format!(
                "the second key must be epoch {} of the same name",
                current.epoch.saturating_add(1)
            ));
        }
        Ok(EpochState { current, next })
    }

    /// Reads the state file at `path`.
    pub fn load(path: &Path) -> Result<EpochState, Error> {
        use std::io::Read;
        let io = |source| Error::Io {
            op: "read the forward-security state",
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut text = Zeroizing::new(String::new());
        file.take(MAX_STATE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io)?;
        if text.len() as u64 > MAX_STATE_BYTES {
            return Err(Error::Config(format!(
                "forward-security state {}: larger than 64 KiB",
                path.display()
            )));
        }
        EpochState::parse(&text)
            .map_err(|e| Error::Config(format!("forward-security state {}: {e}", path.display())))
    }

    /// Creates the file at `path` (mode 0600), never replacing one: what `keygen` does for
    /// epoch 0.
    pub fn create_new(&self, path: &Path) -> std::io::Result<()> {
        let mut f = private_file(path, true)?;
        f.write_all(self.to_text().as_bytes())?;
        f.sync_all()?;
        sync_parent(path)
    }

    /// Replaces the file at `path` atomically and durably: a temporary file beside it (mode
    /// 0600) is written and fsynced, renamed over it, and the directory fsynced. The earlier
    /// contents are unlinked, not overwritten: see `docs/FORMAT.md` §7f on what can keep them.
    pub fn store(&self, path: &Path) -> Result<(), Error> {
        let tmp = temp_path(path);
        let io = |op, source| Error::Io {
            op,
            path: path.to_owned(),
            source,
        };
        // A temporary file a crash left behind is ours to replace.
        let _ = std::fs::remove_file(&tmp);
        let result = (|| {
            let mut f = private_file(&tmp, true)?;
            f.write_all(self.to_text().as_bytes())?;
            f.sync_all()
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("write the forward-security state", e));
        }
        std::fs::rename(&tmp, path).map_err(|e| io("replace the forward-security state", e))?;
        sync_parent(path).map_err(|e| io("sync the forward-security state's directory", e))
    }
}

/// `<path>.tmp`, beside it (same file system, so the rename is atomic).
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn private_file(path: &Path, create_new: bool) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(create_new);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Makes a rename or creation in `path`'s directory durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_and_a_pending_key_must_be_the_next_epoch() {
        let mut state = EpochState::generate("o.example/log").unwrap();
        state.current.epoch = 4;
        state.next = Some(EpochKey {
            epoch: 5,
            signer: SignerKey::generate("o.example/log/fs").unwrap(),
        });
        let back = EpochState::parse(&state.to_text()).unwrap();
        assert_eq!(back.current.epoch, 4);
        assert_eq!(
            back.current.signer.verifier(),
            state.current.signer.verifier()
        );
        assert_eq!(back.next.as_ref().unwrap().epoch, 5);
        let text = state.to_text().replace("\n5 ", "\n6 ");
        assert!(EpochState::parse(&text).unwrap_err().contains("epoch 5"));
        assert!(EpochState::parse("x\n").unwrap_err().contains("line 1"));
        assert_eq!(
            EpochState::parse(&format!("{EPOCH_STATE_HEADER}\n")).unwrap_err(),
            "no key"
        );
    }

    #[test]
    fn an_announcement_round_trips_and_never_reads_as_a_checkpoint() {
        let key = SignerKey::generate("o.example/log/fs").unwrap().verifier();
        let a = KeyEpoch {
            origin: "o.example/log".into(),
            epoch: 3,
            tree_size: 17,
            root: [7; 32],
            key,
        };
        let body = a.body();
        assert_eq!(KeyEpoch::parse_body(&body).unwrap(), a);
        assert!(super::super::Checkpoint::parse_body(&body).is_err());
        let other = body.replace("o.example/log/fs+", "o.example/other/fs+");
        assert!(KeyEpoch::parse_body(&other).is_err());
    }
}
