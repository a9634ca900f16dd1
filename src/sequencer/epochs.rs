//! Forward-secure epoch keys on the sequencer (issue #13): each checkpoint gets a second
//! signature by the epoch key in force, and every epoch the key rolls over.
//!
//! A roll is ordered so that no crash or failed commit breaks the epoch chain: the next key is
//! made and the state file holding both keys is replaced durably; the `key_epoch` entry, signed
//! by the current key over the next one and the tree at its position, is committed `Synced`
//! first in its batch; only then is the current key dropped (its seed zeroized) and the state
//! rewritten with the next key alone. A commit that fails leaves the current key in force and
//! both keys in the state: the roll is retried later with the same next key (it was never
//! announced). A crash in between is resolved on open from the chain's last announcement
//! (`capture::builder`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Sequencer;
use crate::checkpoint::{EpochKey, EpochState, KeyEpoch, NoteError, SignerKey};
use crate::error::Error;
use crate::json::Value;
use crate::writer::Durability;

/// After a failed roll, the next attempt waits at least this long (or one epoch, if shorter).
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// What the builder gives the sequencer for forward security.
pub(crate) struct EpochSetup {
    /// The state, resolved against the chain (no roll under way).
    pub(crate) state: EpochState,
    /// The state file, rewritten at each roll.
    pub(crate) path: PathBuf,
    /// Entries after which an epoch ends (`u64::MAX`: by time only) ...
    pub(crate) every: u64,
    /// ... or how long it lasts.
    pub(crate) interval: Duration,
}

pub(super) struct Epochs {
    state: EpochState,
    path: PathBuf,
    every: u64,
    interval: Duration,
    /// Where and when the current epoch began in this run.
    start_seq: u64,
    started: Instant,
    /// After a failed roll: not before this.
    retry_at: Option<Instant>,
}

impl Epochs {
    pub(super) fn new(setup: EpochSetup, next_seq: u64) -> Epochs {
        Epochs {
            state: setup.state,
            path: setup.path,
            every: setup.every.max(1),
            interval: setup.interval,
            start_seq: next_seq,
            started: Instant::now(),
            retry_at: None,
        }
    }

    /// When the epoch ends by time (or the failed roll is retried).
    pub(super) fn deadline(&self) -> Instant {
        let end = self.started + self.interval;
        self.retry_at.map_or(end, |r| r.max(end))
    }

    fn due(&self, next_seq: u64) -> bool {
        if self.retry_at.is_some_and(|r| Instant::now() < r) {
            return false;
        }
        next_seq.saturating_sub(self.start_seq) >= self.every
            || self.started.elapsed() >= self.interval
    }

    /// Adds the signature line of the epoch key in force to a checkpoint note.
    pub(super) fn sign(&self, note: &str) -> Result<String, NoteError> {
        self.state.current.signer.add_signature(note)
    }

    /// The epoch in force and its verifier key, as `audit_open`, `audit_resume` and
    /// `segment_open` record them (`epoch`, `epoch_key`).
    pub(super) fn record_fields(&self) -> [(String, Value); 2] {
        record_fields(&self.state)
    }

    #[cfg(test)]
    pub(super) fn current_epoch(&self) -> u64 {
        self.state.current.epoch
    }
}

/// `epoch` and `epoch_key` of the key in force of `state`.
pub(crate) fn record_fields(state: &EpochState) -> [(String, Value); 2] {
    [
        ("epoch".into(), Value::from(state.current.epoch)),
        (
            "epoch_key".into(),
            Value::from(state.current.signer.verifier().to_string()),
        ),
    ]
}

impl Sequencer {
    /// Rolls the epoch over when it is due, or (`force`, at rotation) whenever forward security
    /// is on. `Err` when the state could not be stored or a commit failed: the chain and the
    /// state stay consistent, and the roll is retried later.
    pub(super) fn roll_epoch_if_due(&mut self, force: bool) -> Result<(), Error> {
        let Some(ep) = &self.epochs else {
            return Ok(());
        };
        if !force && !ep.due(self.working.next_seq) {
            return Ok(());
        }
        let result = self.roll_epoch();
        if let Err(e) = &result {
            self.log
                .publish_error(format!("forward-security epoch not rolled over: {e}"));
            if let Some(ep) = &mut self.epochs {
                ep.retry_at = Some(Instant::now() + RETRY_AFTER.min(ep.interval));
            }
        }
        result
    }

    fn roll_epoch(&mut self) -> Result<(), Error> {
        // The entries before the announcement are committed first: it opens its own batch.
        self.commit(Durability::Synced)?;
        let Some(ep) = &mut self.epochs else {
            return Ok(());
        };
        if ep.state.next.is_none() {
            let signer = SignerKey::generate(ep.state.current.signer.name())
                .map_err(|e| Error::Config(format!("no next epoch key: {e}")))?;
            ep.state.next = Some(EpochKey {
                epoch: ep.state.current.epoch + 1,
                signer,
            });
            if let Err(e) = ep.state.store(&ep.path) {
                // Never stored, never announced: forgotten.
                ep.state.next = None;
                return Err(e);
            }
        }
        self.seal_lost_gap();
        let (Some(ep), Some(cp)) = (&self.epochs, &self.checkpoints) else {
            return Ok(());
        };
        let tree = cp.tree()?;
        let size = self.working.next_seq;
        if tree.size() != size {
            return Err(Error::Write(format!(
                "key epoch skipped: the tree holds {} entries, the chain {size}",
                tree.size()
            )));
        }
        let next = ep.state.next.as_ref().expect("made above");
        let announcement = KeyEpoch {
            origin: cp.origin().to_owned(),
            epoch: next.epoch,
            tree_size: size,
            root: tree.root(),
            key: next.signer.verifier(),
        };
        let note = ep
            .state
            .current
            .signer
            .sign(&announcement.body())
            .map_err(|e| Error::Config(format!("key epoch not signed: {e}")))?;
        let payload = Value::Object(vec![
            ("epoch".into(), Value::from(announcement.epoch)),
            ("tree_size".into(), Value::from(size)),
            ("root".into(), Value::from(b64(&announcement.root))),
            ("key".into(), Value::from(announcement.key.to_string())),
            ("note".into(), Value::from(note)),
        ]);
        // A few hundred bytes: below the line limit, never redacted.
        let _ = self.seal_bounded("key_epoch", &payload, super::Ahead::default(), false);
        self.batch_system += 1;
        self.commit(Durability::Synced)?;
        // Announced durably: the next key is in force, the previous one is dropped (its seed
        // zeroized) and the state rewritten without it.
        let next_seq = self.committed.next_seq;
        let ep = self.epochs.as_mut().expect("checked above");
        let next = ep.state.next.take().expect("made above");
        ep.state.current = next;
        ep.start_seq = next_seq;
        ep.started = Instant::now();
        ep.retry_at = None;
        if let Err(e) = ep.state.store(&ep.path) {
            // The chain is sound; the file still holds the previous key until a later store.
            self.log.publish_error(format!(
                "forward-security state not rewritten after the roll to epoch {}: it still \
                 holds the previous epoch's key: {e}",
                ep.state.current.epoch
            ));
        }
        Ok(())
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
