//! Rebuilding the Merkle tree over an existing chain while a writer verifies it on open
//! (issue #13): one leaf hash and about one node hash per entry, and a parse only of the few
//! entries that carry what the tree needs (the first one, and those naming an origin, a
//! checkpoint or a frontier).

use super::{ExistingTree, TreeRequest};
use crate::checkpoint::{Checkpoint, Frontier, Hash};
use crate::hex::{Hex64, from_hex64, hex64};
use crate::json::{self, Value};

/// Leaves kept since the last checkpoint entry, for the sinks' first hand-off of the run; past
/// this the base moves up to the newest entry instead (32 MiB).
const MAX_LEAVES_SINCE: usize = 1 << 20;

/// Feeds on a chain's entries in seq order (across the files of a rotated log) and yields the
/// tree over them.
#[derive(Debug)]
pub(crate) struct TreeBuilder {
    roots_at: Vec<u64>,
    keep_leaves: bool,
    built: Option<ExistingTree>,
    last: Option<[u8; 32]>,
    error: Option<String>,
}

impl TreeBuilder {
    pub(crate) fn new(request: &TreeRequest) -> TreeBuilder {
        let mut roots_at = request.roots_at.clone();
        roots_at.sort_unstable();
        roots_at.dedup();
        TreeBuilder {
            roots_at,
            keep_leaves: request.leaves_since_checkpoint,
            built: None,
            last: None,
            error: None,
        }
    }

    /// Takes the next entry: its seq, hash, `prev_hash` and line.
    pub(crate) fn entry(&mut self, seq: u64, hash: &Hex64, prev_hash: &Hex64, line: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.try_entry(seq, hash, prev_hash, line) {
            self.error = Some(e);
        }
    }

    fn try_entry(
        &mut self,
        seq: u64,
        hash: &Hex64,
        prev_hash: &Hex64,
        line: &[u8],
    ) -> Result<(), String> {
        let leaf = from_hex64(hash).ok_or_else(|| format!("seq {seq}: hash is not hex"))?;
        let wanted = self.built.is_none()
            || [
                &b"\"origin\""[..],
                b"\"checkpoint\"",
                b"\"frontier\"",
                b"\"key_epoch\"",
                b"\"epoch_key\"",
            ]
            .iter()
            .any(|needle| memchr::memmem::find(line, needle).is_some());
        let row = if wanted {
            std::str::from_utf8(line)
                .ok()
                .and_then(|l| json::parse(l.trim()).ok())
        } else {
            None
        };
        let kind = row
            .as_ref()
            .and_then(|r| r.get("type"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let payload = row.as_ref().and_then(|r| r.get("payload"));
        let recorded = (kind == "segment_open")
            .then(|| payload.and_then(|p| recorded_frontier(p, seq)))
            .flatten()
            .transpose()?;
        let built = match &mut self.built {
            Some(built) => {
                if seq != built.frontier.size() {
                    return Err(format!(
                        "seq {seq} does not continue the tree of {} entries",
                        built.frontier.size()
                    ));
                }
                if self.last.map(|l| hex64(&l)) != Some(*prev_hash) {
                    return Err(format!(
                        "seq {seq}: prev_hash is not the hash of the entry before it"
                    ));
                }
                if let Some(recorded) = &recorded
                    && *recorded != built.frontier
                {
                    return Err(format!(
                        "the segment_open at seq {seq} records a frontier that differs from \
                         the tree over the entries before it"
                    ));
                }
                built
            }
            None => {
                let frontier = match recorded {
                    _ if seq == 0 => Frontier::new(),
                    Some(f) => f,
                    None => {
                        return Err(format!(
                            "the entry at seq {seq} starts the entries read without recording \
                             the tree before it (a segment_open written before checkpoints \
                             were on, with the earlier segments gone)"
                        ));
                    }
                };
                self.built.insert(ExistingTree {
                    first_size: seq,
                    base: frontier.clone(),
                    frontier,
                    origin: None,
                    roots: Vec::new(),
                    last_checkpoint: None,
                    leaves_since_base: Vec::new(),
                    last_epoch: None,
                })
            }
        };
        if let Some(epoch) = recorded_epoch(kind, payload) {
            built.last_epoch = Some(epoch);
        }
        match kind {
            "audit_open" | "audit_resume" => {
                if let Some(o) = payload
                    .and_then(|p| p.get("origin"))
                    .and_then(Value::as_str)
                {
                    built.origin = Some(o.to_owned());
                }
            }
            "checkpoint" => {
                let note = payload.and_then(|p| p.get("note")).and_then(Value::as_str);
                if let Some(body) = note.and_then(|n| n.split_once("\n\n"))
                    && let Ok(c) = Checkpoint::parse_body(&format!("{}\n", body.0))
                {
                    built.origin = Some(c.origin);
                }
                built.last_checkpoint = Some(seq);
                built.base = built.frontier.clone();
                built.leaves_since_base.clear();
            }
            _ => {}
        }
        if self.roots_at.binary_search(&seq).is_ok() {
            built.roots.push((seq, built.frontier.root()));
        }
        built.frontier.append(&leaf);
        // Without sinks to continue, `base` and the leaves are never used.
        if self.keep_leaves {
            built.leaves_since_base.push(leaf);
            if built.leaves_since_base.len() > MAX_LEAVES_SINCE {
                built.base = built.frontier.clone();
                built.leaves_since_base.clear();
            }
        }
        self.last = Some(leaf);
        Ok(())
    }

    /// The tree over every entry taken (`None` when there was none).
    pub(crate) fn finish(self) -> Result<Option<ExistingTree>, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(self.built.map(|mut built| {
            let size = built.frontier.size();
            if self.roots_at.binary_search(&size).is_ok() {
                built.roots.push((size, built.frontier.root()));
            }
            built
        }))
    }
}

/// The forward-security epoch an entry records: a `key_epoch` entry the one it announces
/// (`epoch`, `key`), an `audit_open`, `audit_resume` or `segment_open` the one in force
/// (`epoch`, `epoch_key`).
fn recorded_epoch(kind: &str, payload: Option<&Value>) -> Option<(u64, String)> {
    let key_field = match kind {
        "key_epoch" => "key",
        "audit_open" | "audit_resume" | "segment_open" => "epoch_key",
        _ => return None,
    };
    let payload = payload?;
    let epoch = payload.get("epoch").and_then(Value::as_u64)?;
    let key = payload.get(key_field).and_then(Value::as_str)?;
    Some((epoch, key.to_owned()))
}

/// The tree a `segment_open` records before itself (`tree_size` equal to its seq, `frontier`
/// the subtree roots in hex), when it records one.
fn recorded_frontier(payload: &Value, seq: u64) -> Option<Result<Frontier, String>> {
    let frontier = payload.get("frontier")?;
    let size = payload.get("tree_size").and_then(Value::as_u64);
    let bad = |why: &str| Err(format!("the segment_open at seq {seq}: {why}"));
    if size != Some(seq) {
        return Some(bad("tree_size is not its seq"));
    }
    let Value::Array(items) = frontier else {
        return Some(bad("frontier is not an array"));
    };
    let mut hashes: Vec<Hash> = Vec::with_capacity(items.len());
    for item in items {
        match item
            .as_str()
            .filter(|s| s.len() == 64)
            .and_then(|s| from_hex64(s.as_bytes()))
        {
            Some(h) => hashes.push(h),
            None => return Some(bad("frontier holds a value that is not 64 hex digits")),
        }
    }
    Some(Frontier::from_subtrees(seq, hashes).or_else(|e| bad(&e.to_string())))
}
