//! Rebuilding the Merkle tree over an existing chain while a writer verifies it on open
//! (issue #13): one leaf hash and about one node hash per entry, and a parse only of the few
//! entries that carry what the tree needs (the first one, and those naming an origin, a
//! checkpoint or a frontier).
//!
//! The verifier that reads the entries keeps the same tree when the log declares an origin
//! (`verify::checkpoints`), so the builder follows the verifier's tree instead of hashing every
//! leaf and node a second time: it is handed that tree before each entry, and uses it whenever
//! it has the entry's size. In a log that verifies, the two trees are the same (the same
//! hashes in the same order from the same start); a log that does not verify is refused before
//! the tree is used.

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
    /// [`MAX_LEAVES_SINCE`] (smaller in tests).
    max_leaves_since: usize,
    built: Option<ExistingTree>,
    last: Option<[u8; 32]>,
    error: Option<String>,
    /// The tree size reached (the next entry's seq).
    size: u64,
    /// Whether the verifier's tree is followed: `built.frontier` is then stale until the end of
    /// the file ([`end_of_file`](Self::end_of_file)).
    following: bool,
    /// `built.base` must become the tree before the next entry (or at the end of the file).
    base_pending: bool,
}

impl TreeBuilder {
    pub(crate) fn new(request: &TreeRequest) -> TreeBuilder {
        let mut roots_at = request.roots_at.clone();
        roots_at.sort_unstable();
        roots_at.dedup();
        TreeBuilder {
            roots_at,
            keep_leaves: request.leaves_since_checkpoint,
            max_leaves_since: MAX_LEAVES_SINCE,
            built: None,
            last: None,
            error: None,
            size: 0,
            following: false,
            base_pending: false,
        }
    }

    /// Takes the next entry: its seq, hash, `prev_hash` and line, and the verifier's tree
    /// before it, when the verifier keeps one.
    pub(crate) fn entry(
        &mut self,
        seq: u64,
        hash: &Hex64,
        prev_hash: &Hex64,
        line: &[u8],
        walked: Option<&Frontier>,
    ) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.try_entry(seq, hash, prev_hash, line, walked) {
            self.error = Some(e);
        }
    }

    /// Ends a file's entries: `end` is the verifier's tree over them (`None` when it kept none).
    /// The next file's verifier starts a tree of its own, so the builder stops following.
    pub(crate) fn end_of_file(&mut self, end: Option<&Frontier>) {
        if self.error.is_some() || !self.following {
            return;
        }
        self.following = false;
        match (end.filter(|f| f.size() == self.size), &mut self.built) {
            (Some(end), Some(built)) => {
                built.frontier = end.clone();
                if std::mem::take(&mut self.base_pending) {
                    built.base = end.clone();
                }
            }
            _ => self.error = Some(self.lost_track()),
        }
    }

    fn lost_track(&self) -> String {
        format!("the verifier's tree does not reach tree size {}", self.size)
    }

    fn try_entry(
        &mut self,
        seq: u64,
        hash: &Hex64,
        prev_hash: &Hex64,
        line: &[u8],
        walked: Option<&Frontier>,
    ) -> Result<(), String> {
        // The verifier's tree before this entry, when it has this entry's size.
        let walked = walked.filter(|f| f.size() == seq);
        if self.following && walked.is_none() {
            return Err(self.lost_track());
        }
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
                if seq != self.size {
                    return Err(format!(
                        "seq {seq} does not continue the tree of {} entries",
                        self.size
                    ));
                }
                if self.last.map(|l| hex64(&l)) != Some(*prev_hash) {
                    return Err(format!(
                        "seq {seq}: prev_hash is not the hash of the entry before it"
                    ));
                }
                let current = match walked {
                    Some(w) if self.following => w,
                    _ => &built.frontier,
                };
                if let Some(recorded) = &recorded
                    && recorded != current
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
        // In a log that verifies, the verifier's tree is this builder's (checked by the
        // walk's own checks): from here on it is followed, not rebuilt.
        if walked.is_some() {
            self.following = true;
        }
        let current = match walked {
            Some(w) if self.following => w,
            _ => &built.frontier,
        };
        if std::mem::take(&mut self.base_pending) {
            built.base = current.clone();
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
                built.base = current.clone();
                built.leaves_since_base.clear();
            }
            _ => {}
        }
        if self.roots_at.binary_search(&seq).is_ok() {
            built.roots.push((seq, current.root()));
        }
        if !self.following {
            built.frontier.append(&leaf);
        }
        self.size = seq + 1;
        // Without sinks to continue, `base` and the leaves are never used.
        if self.keep_leaves {
            built.leaves_since_base.push(leaf);
            if built.leaves_since_base.len() > self.max_leaves_since {
                // The tree after this entry: the verifier's before the next one.
                if self.following {
                    self.base_pending = true;
                } else {
                    built.base = built.frontier.clone();
                }
                built.leaves_since_base.clear();
            }
        }
        self.last = Some(leaf);
        Ok(())
    }

    /// The tree over every entry taken (`None` when there was none).
    /// [`end_of_file`](Self::end_of_file) must have been called for the last file.
    pub(crate) fn finish(self) -> Result<Option<ExistingTree>, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.following {
            return Err(self.lost_track());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of `n` entries after `audit_open` (declaring an origin) with a `checkpoint` entry
    /// after every 7 entries, sealed here (not through the layer: the writer does not depend
    /// on `capture`).
    fn log(path: &std::path::Path, n: u64) {
        use crate::chain::{GENESIS, HashAlg, SealedEntry};
        use crate::checkpoint::{Checkpoint, SignerKey};
        let origin = "example.com/t";
        let signer = SignerKey::generate(origin).unwrap();
        let mut tree = Frontier::new();
        let mut text = String::new();
        let mut prev = GENESIS.to_owned();
        let mut seal = |kind: &str, payload: Value, tree: &mut Frontier| {
            let seq = tree.size();
            let e = SealedEntry::seal(
                HashAlg::Sha256,
                None,
                seq,
                "2026-01-01T00:00:00.000001+00:00".into(),
                kind.into(),
                payload,
                prev.clone(),
            );
            text.push_str(&e.to_line());
            text.push('\n');
            tree.append(&from_hex64(e.hash.as_bytes()).unwrap());
            prev = e.hash;
        };
        let open = Value::Object(vec![("origin".into(), Value::from(origin))]);
        seal("audit_open", open, &mut tree);
        for i in 0..n {
            seal(
                "tool_call",
                Value::Object(vec![("i".into(), Value::from(i))]),
                &mut tree,
            );
            if i % 7 == 6 {
                let (size, root) = (tree.size(), tree.root());
                let note = signer
                    .sign(&Checkpoint::new(origin, size, root).unwrap().body())
                    .unwrap();
                use base64::Engine;
                let root = base64::engine::general_purpose::STANDARD.encode(root);
                let payload = Value::Object(vec![
                    ("tree_size".into(), Value::from(size)),
                    ("root".into(), Value::from(root)),
                    ("note".into(), Value::from(note)),
                ]);
                seal("checkpoint", payload, &mut tree);
            }
        }
        std::fs::write(path, text).unwrap();
    }

    /// Builds the tree over the log at `path` while it verifies, following the verifier's
    /// tree or not.
    fn build(
        path: &std::path::Path,
        request: &TreeRequest,
        max_leaves: usize,
        follow: bool,
    ) -> (Result<Option<ExistingTree>, String>, bool) {
        let mut builder = TreeBuilder::new(request);
        builder.max_leaves_since = max_leaves;
        let mut followed = false;
        let reader = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let opts = crate::verify::VerifyOptions::default();
        let report = crate::verify::verify_reader_each(reader, "t", &opts, &mut |s, h, p, l, t| {
            let t = t.filter(|_| follow);
            followed |= t.is_some();
            builder.entry(s, h, p, l, t)
        })
        .unwrap();
        assert!(report.ok(), "{}", report.summary());
        builder.end_of_file(report.tree_end().filter(|_| follow));
        (builder.finish(), followed)
    }

    #[test]
    fn following_the_verifiers_tree_gives_the_tree_built_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        log(&path, 40);
        let request = TreeRequest {
            roots_at: vec![0, 1, 3, 7, 8, 20, 45, 10_000],
            leaves_since_checkpoint: true,
        };
        // 4 moves the base up between checkpoints (7 entries apart), also at the last entry.
        for max_leaves in [MAX_LEAVES_SINCE, 4, 1] {
            let (alone, followed_alone) = build(&path, &request, max_leaves, false);
            let (followed, did_follow) = build(&path, &request, max_leaves, true);
            assert!(!followed_alone && did_follow);
            let alone = alone.unwrap().unwrap();
            assert!(alone.last_checkpoint.is_some() && !alone.roots.is_empty());
            assert_eq!(followed.unwrap().unwrap(), alone, "max_leaves {max_leaves}");
        }
    }

    #[test]
    fn a_tree_that_stops_following_before_the_end_is_an_error_not_a_wrong_tree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        log(&path, 10);
        let mut builder = TreeBuilder::new(&TreeRequest::default());
        let reader = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
        let opts = crate::verify::VerifyOptions::default();
        let mut n = 0;
        crate::verify::verify_reader_each(reader, "t", &opts, &mut |s, h, p, l, t| {
            n += 1;
            // The verifier's tree goes missing after five entries.
            builder.entry(s, h, p, l, t.filter(|_| n <= 5))
        })
        .unwrap();
        let err = builder.finish().unwrap_err();
        assert!(err.contains("does not reach tree size 5"), "{err}");
    }
}
