//! The in-memory writer.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use super::tree::TreeBuilder;
use super::{ChainTip, ChainWriter, Durability, ExistingChain, TreeRequest};
use crate::chain::{HashAlg, RenderedEntry, SealedEntry, SigningKey};
use crate::error::Error;

/// An in-memory writer, for tests and for programs that ship entries elsewhere themselves.
/// [`MemoryLog`] reads what was committed.
///
/// ```
/// let (writer, log) = acttrace::writer::MemoryWriter::new();
/// # let _ = writer;
/// assert!(log.entries().is_empty());
/// ```
#[derive(Debug)]
pub struct MemoryWriter {
    pending: Vec<SealedEntry>,
    log: MemoryLog,
    tree: Option<TreeRequest>,
}

/// The committed entries of a [`MemoryWriter`], shared.
#[derive(Clone, Debug, Default)]
pub struct MemoryLog {
    entries: Arc<Mutex<Vec<SealedEntry>>>,
}

impl MemoryWriter {
    /// A new, empty in-memory chain and the handle to read it.
    pub fn new() -> (MemoryWriter, MemoryLog) {
        let log = MemoryLog::default();
        (
            MemoryWriter {
                pending: Vec::new(),
                log: log.clone(),
                tree: None,
            },
            log,
        )
    }
}

impl MemoryLog {
    /// A copy of the committed entries.
    pub fn entries(&self) -> Vec<SealedEntry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The committed entries as JSONL text, as the file writer would have written them.
    pub fn to_jsonl(&self) -> String {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut s = String::new();
        for e in entries.iter() {
            e.write_line(&mut s);
        }
        s
    }
}

impl ChainWriter for MemoryWriter {
    fn open(&mut self, _key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        let entries = self
            .log
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The entries were sealed by this process: the tree is rebuilt without re-verifying.
        let tree = match &self.tree {
            None => None,
            Some(request) => {
                let mut builder = TreeBuilder::new(request);
                let hex = |h: &str| crate::hex::hex64_from_checked(h);
                for e in entries.iter() {
                    builder.entry(
                        e.seq,
                        &hex(&e.hash),
                        &hex(&e.prev_hash),
                        e.to_line().as_bytes(),
                        None,
                    );
                }
                builder
                    .finish()
                    .map_err(|e| Error::Incompatible(format!("memory: {e}")))?
            }
        };
        Ok(entries.last().map(|last| ExistingChain {
            tip: ChainTip {
                next_seq: last.seq + 1,
                head: last.hash.clone(),
            },
            hash_alg: entries
                .first()
                .and_then(|e| HashAlg::declared_in(&e.payload).ok())
                .unwrap_or_default(),
            signed: !last.sig.is_empty(),
            tree,
        }))
    }

    fn request_tree(&mut self, request: TreeRequest) {
        self.tree = Some(request);
    }

    fn append(&mut self, entry: &SealedEntry) {
        self.pending.push(entry.clone());
    }

    fn append_rendered(&mut self, entry: &RenderedEntry<'_>) {
        self.pending.push(entry.to_sealed());
    }

    fn commit(&mut self, _durability: Durability) -> io::Result<()> {
        self.log
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(&mut self.pending);
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}
