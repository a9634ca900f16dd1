//! Verifying forward security (issue #13) while the chain is walked: the epoch chain starts at
//! the epoch-0 verifier key the caller holds (`--fs-vkey`, kept off the writer's host); each
//! `key_epoch` entry must be signed by the key in force, announce the next epoch, and name the
//! tree (size, root) at its own position; every checkpoint must carry a valid signature by the
//! key in force at its seq. Announcements are checked in order, on the walking thread (one per
//! epoch, a few per checkpoint at most).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{Frontier, Hash, KeyEpoch, VerifierKey, verify_note};
use crate::json::Value;

use super::ProblemKind;
use super::checkpoints::Found;

/// What the examiner reads of a `key_epoch` entry.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct KeyEpochFacts {
    /// `epoch`, `tree_size`, `root`, `key` and `note`, or what is wrong with the payload.
    payload: Result<(u64, u64, Hash, String, String), String>,
}

pub(super) fn key_epoch_facts(payload: &Value) -> KeyEpochFacts {
    let read = || -> Result<(u64, u64, Hash, String, String), String> {
        let Value::Object(_) = payload else {
            return Err("payload must be an object".into());
        };
        let number = |field: &str| {
            payload
                .get(field)
                .and_then(Value::as_u64)
                .ok_or(format!("{field} must be a non-negative integer"))
        };
        let text = |field: &str| {
            payload
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(format!("{field} must be a string"))
        };
        let root = payload
            .get("root")
            .and_then(Value::as_str)
            .and_then(|r| B64.decode(r).ok())
            .and_then(|b| <Hash>::try_from(b).ok())
            .ok_or("root must be the base64 of 32 bytes")?;
        Ok((
            number("epoch")?,
            number("tree_size")?,
            root,
            text("key")?,
            text("note")?,
        ))
    };
    KeyEpochFacts { payload: read() }
}

/// The epoch in force an `audit_open`, `audit_resume` or `segment_open` records (`epoch`,
/// `epoch_key`), if it records one.
pub(super) fn recorded_epoch(payload: &Value) -> Option<Result<(u64, VerifierKey), String>> {
    let epoch = payload.get("epoch");
    let key = payload.get("epoch_key");
    if epoch.is_none() && key.is_none() {
        return None;
    }
    Some((|| {
        let epoch = epoch
            .and_then(Value::as_u64)
            .ok_or("epoch must be a non-negative integer")?;
        let key = key
            .and_then(Value::as_str)
            .ok_or("epoch_key must be a string")?
            .parse()
            .map_err(|e| format!("epoch_key: {e}"))?;
        Ok((epoch, key))
    })())
}

/// The epoch chain followed during a walk, and what it found.
pub(super) struct EpochChain {
    /// The epoch-0 key given, when forward security is checked.
    fs_key: Option<VerifierKey>,
    /// The epoch and key in force (`None` while unknown).
    in_force: Option<(u64, VerifierKey)>,
    /// Set once an announcement failed: later checkpoints are not judged again.
    broken: bool,
    /// Whether "unknown epoch" was reported already.
    unknown_reported: bool,
    pub(super) seen: u64,
    pub(super) checkpoints_checked: u64,
    /// The epoch the walk started from when a `segment_open` recorded it.
    pub(super) start: Option<(u64, String)>,
}

impl EpochChain {
    pub(super) fn new(fs_key: Option<VerifierKey>) -> Self {
        EpochChain {
            fs_key,
            in_force: None,
            broken: false,
            unknown_reported: false,
            seen: 0,
            checkpoints_checked: 0,
            start: None,
        }
    }

    pub(super) fn checked(&self) -> bool {
        self.fs_key.is_some()
    }

    /// The epoch in force at the end of the walk.
    pub(super) fn end(&self) -> Option<(u64, String)> {
        self.in_force.as_ref().map(|(e, k)| (*e, k.to_string()))
    }

    /// The walk starts at `seq`: at 0 the chain starts at the epoch-0 key; a segment starts at
    /// the epoch its `segment_open` records (linked to the segment before by the directory's
    /// verification, see [`super::dir`]).
    pub(super) fn start(
        &mut self,
        seq: u64,
        recorded: Option<&Result<(u64, VerifierKey), String>>,
        found: &mut Vec<Found>,
    ) {
        let Some(fs_key) = &self.fs_key else { return };
        if seq == 0 {
            self.in_force = Some((0, fs_key.clone()));
            return;
        }
        match recorded {
            Some(Ok((epoch, key))) => {
                if *epoch == 0 && key != fs_key {
                    found.push((
                        ProblemKind::BadCheckpoint,
                        format!(
                            "forward security: the segment_open at seq {seq} records the epoch-0 \
                             key {key}, not the --fs-vkey given ({fs_key})"
                        ),
                    ));
                    return;
                }
                self.start = Some((*epoch, key.to_string()));
                self.in_force = Some((*epoch, key.clone()));
            }
            Some(Err(e)) => found.push((
                ProblemKind::BadCheckpoint,
                format!("segment_open at seq {seq}: {e}"),
            )),
            None => {}
        }
    }

    /// Judges a `key_epoch` entry at `seq`; `tree` is the tree over the entries before it
    /// (`None`: unknown), `origin` the log's.
    pub(super) fn key_epoch(
        &mut self,
        seq: u64,
        facts: &KeyEpochFacts,
        tree: Option<&Frontier>,
        origin: &str,
        found: &mut Vec<Found>,
    ) {
        self.seen += 1;
        let before = found.len();
        let mut bad = |detail: String| {
            found.push((
                ProblemKind::BadCheckpoint,
                format!("bad key_epoch at seq {seq}: {detail}"),
            ));
        };
        let (epoch, size, root, key, note) = match &facts.payload {
            Ok(p) => p,
            Err(e) => {
                bad(e.clone());
                self.break_chain();
                return;
            }
        };
        // Its position: a replayed or moved announcement names another tree.
        if *size != seq {
            bad(format!(
                "tree_size {size} is not its seq (an announcement replayed at another position?)"
            ));
        } else if let Some(t) = tree
            && t.root() != *root
        {
            bad(format!(
                "root is not the root of the tree over the {seq} entries before it (the \
                 entries before it were rewritten, or the announcement replayed)"
            ));
        }
        if self.fs_key.is_some() && !self.broken {
            match &self.in_force {
                None => self.unknown(seq, found),
                Some((k, in_force)) => {
                    let announced = verify_note(note, std::slice::from_ref(in_force))
                        .map_err(|e| {
                            format!(
                                "not signed by the key of epoch {k} in force ({in_force}): {e} \
                                 (an epoch key not announced by the one before it)"
                            )
                        })
                        .and_then(|v| {
                            KeyEpoch::parse_body(&v.text)
                                .map_err(|e| format!("the announcement's note: {e}"))
                        });
                    let mut bad = |detail: String| {
                        found.push((
                            ProblemKind::BadCheckpoint,
                            format!("bad key_epoch at seq {seq}: forged epoch chain: {detail}"),
                        ));
                    };
                    match announced {
                        Err(e) => bad(e),
                        Ok(a) => {
                            if a.origin != origin {
                                bad(format!(
                                    "the note names origin {:?}, not the log's {origin:?}",
                                    a.origin
                                ));
                            } else if a.epoch != k + 1 {
                                bad(format!(
                                    "it announces epoch {}, the next is {} (a replayed \
                                     announcement?)",
                                    a.epoch,
                                    k + 1
                                ));
                            } else if a.tree_size != *size
                                || a.root != *root
                                || a.epoch != *epoch
                                || a.key.to_string() != *key
                            {
                                bad("the note's epoch, tree size, root or key differs from the \
                                     payload's"
                                    .into());
                            }
                            if found.len() == before {
                                self.in_force = Some((a.epoch, a.key));
                            }
                        }
                    }
                }
            }
        }
        if found.len() != before {
            self.break_chain();
        }
    }

    /// Judges a checkpoint's note at `seq`: it must carry a valid signature by the epoch key in
    /// force.
    pub(super) fn checkpoint(&mut self, seq: u64, note: &str, found: &mut Vec<Found>) {
        if self.fs_key.is_none() || self.broken {
            return;
        }
        let Some((k, key)) = &self.in_force else {
            return self.unknown(seq, found);
        };
        match verify_note(note, std::slice::from_ref(key)) {
            Ok(_) => self.checkpoints_checked += 1,
            Err(e) => found.push((
                ProblemKind::BadCheckpoint,
                format!(
                    "bad checkpoint at seq {seq}: forward security: no valid signature by the \
                     key of epoch {k} in force ({key}): {e}"
                ),
            )),
        }
    }

    fn break_chain(&mut self) {
        if self.fs_key.is_some() {
            self.broken = true;
            self.in_force = None;
        }
    }

    fn unknown(&mut self, seq: u64, found: &mut Vec<Found>) {
        if !std::mem::replace(&mut self.unknown_reported, true) {
            found.push((
                ProblemKind::Unverifiable,
                format!(
                    "forward security unverifiable from seq {seq}: the epoch in force is not \
                     known here (this segment records none)"
                ),
            ));
        }
    }
}
