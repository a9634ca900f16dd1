//! The JSONL file writer, and the repair of a log torn by a crash.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::background::{self, BackgroundWriter, Block};
use super::tree::TreeBuilder;
use super::{ChainTip, ChainWriter, Durability, ExistingChain, Recovery, TreeRequest};
use crate::chain::{LineSigner, RenderedEntry, SealedEntry, SigningKey};
use crate::error::Error;
use crate::verify::{self, VerifyOptions};

/// The default writer: one JSON line per entry appended to a file, in the reference layout.
///
/// It takes an exclusive lock on the file (a second writer in this or another process is
/// refused), verifies an existing file before continuing it (a corrupt file is refused with the
/// line of its first problem, never restarted), writes each batch and, on [`Durability::Synced`],
/// syncs it with one `fdatasync`. A failed batch is cut back off the file. A batch of more than
/// 256 KiB is written by a thread of the writer's own ("acttrace-write") in blocks, as they
/// fill, while the sequencer seals the rest; its commit still returns only once every block is
/// written (and synced). For a signed log it takes the signing of lines
/// ([`ChainWriter::sign_lines`]): that thread signs each block before writing it, and a batch
/// written at commit is signed just before.
#[derive(Debug)]
pub struct JsonlFileWriter {
    path: PathBuf,
    file: Option<File>,
    /// Bytes of the file that hold committed entries.
    committed_len: u64,
    /// The batch's lines not yet handed to `background`.
    batch: Block,
    /// Where `append` renders an owned entry's line.
    line: String,
    /// Signs the lines whose `sig` the sequencer left pending.
    signer: Option<LineSigner>,
    /// Bytes of the batch under way already handed to `background`.
    handed_over: u64,
    /// Writes a large batch's full blocks while the rest is sealed; started by the first one.
    background: Option<BackgroundWriter>,
    /// Why the background thread could not be started: batches are then written at commit.
    no_background: bool,
    synced: bool,
    /// A torn (or NUL-padded) tail found by `open`, cut off by `recover`.
    torn: Option<verify::TornTail>,
    /// Set when a failed batch could not be cut back: the file's end is unknown, so nothing
    /// more is appended until the log is reopened (and re-verified).
    poisoned: Option<String>,
    /// Set by `request_tree`: rebuilds the Merkle tree while `open` verifies (it may already
    /// hold earlier segments' entries).
    tree: Option<TreeBuilder>,
    /// Entries `open` verified in the file (a later segment's first seq is not 0, so its tip
    /// does not say how many it holds).
    opened_entries: u64,
    /// The batch whose commit `begin_commit` started and `end_commit` waits for.
    begun: Option<BegunCommit>,
}

/// A batch handed to the background thread to be written and synced while the next one is
/// appended.
#[derive(Debug)]
struct BegunCommit {
    /// The file's committed length before it: where a failure cuts the file back to.
    before: u64,
    /// Its bytes.
    len: u64,
    sync: bool,
    /// Why it could not even be handed over (the thread is gone).
    failed: Option<io::Error>,
}

impl JsonlFileWriter {
    /// A writer for `path`; the file is created and locked when the sequencer opens it.
    pub fn new(path: impl Into<PathBuf>) -> JsonlFileWriter {
        JsonlFileWriter {
            path: path.into(),
            file: None,
            committed_len: 0,
            batch: Block::default(),
            line: String::new(),
            signer: None,
            handed_over: 0,
            background: None,
            no_background: false,
            synced: true,
            torn: None,
            poisoned: None,
            tree: None,
            opened_entries: 0,
            begun: None,
        }
    }

    /// Continues `tree`, already fed the entries before this file's, while `open` verifies.
    pub(super) fn continue_tree(&mut self, tree: TreeBuilder) {
        self.tree = Some(tree);
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of the file that hold committed entries.
    pub fn committed_len(&self) -> u64 {
        self.committed_len
    }

    /// Bytes appended since the last commit (a begun one included until it ends).
    pub fn pending_len(&self) -> u64 {
        self.begun.as_ref().map_or(0, |b| b.len) + self.handed_over + self.batch.bytes.len() as u64
    }

    /// Hands the batch's bytes so far to the background thread once they fill a block.
    fn hand_over_full_block(&mut self) {
        if self.batch.bytes.len() < background::BLOCK_BYTES
            || self.no_background
            || self.torn.is_some()
            || self.poisoned.is_some()
        {
            return;
        }
        let Some(file) = self.file.as_ref() else {
            return;
        };
        if self.background.is_none() {
            let signer = self.signer.clone();
            match file
                .try_clone()
                .and_then(|file| BackgroundWriter::start(file, signer))
            {
                Ok(thread) => self.background = Some(thread),
                Err(_) => {
                    // Without the thread, nothing is lost: the batch is written at commit.
                    self.no_background = true;
                    return;
                }
            }
        }
        let Some(thread) = self.background.as_ref() else {
            return;
        };
        let block = std::mem::replace(&mut self.batch, thread.spare_block());
        let len = block.bytes.len() as u64;
        // Sending fails only if the thread is gone (its loop cannot panic): the commit then
        // finds it gone too, fails the batch and cuts it back.
        let _ = thread.write(block);
        self.handed_over += len;
    }

    /// Writes the batch and syncs it: through the background thread when part of it was
    /// handed over, here otherwise.
    fn write_batch(&mut self, durability: Durability) -> io::Result<()> {
        if self.handed_over > 0 || !self.batch.is_empty() {
            self.synced = false;
        }
        let sync = durability == Durability::Synced && !self.synced;
        let result = match (&self.background, self.file.as_mut()) {
            (_, None) => Err(io::Error::other("the log file is not open")),
            (Some(thread), Some(_)) if self.handed_over > 0 => {
                let tail = std::mem::take(&mut self.batch);
                let handed = if tail.is_empty() {
                    Ok(())
                } else {
                    thread.write(tail)
                };
                // Always wait for the thread: a cut-back must not race its writes.
                let finished = thread.finish(sync);
                handed.and(finished)
            }
            (_, Some(file)) => (|| {
                if !self.batch.is_empty() {
                    self.batch.sign(self.signer.as_ref())?;
                    file.write_all(&self.batch.bytes)?;
                }
                if sync {
                    file.sync_data()?;
                }
                Ok(())
            })(),
        };
        if result.is_ok() && sync {
            self.synced = true;
        }
        result
    }

    fn io_err(&self, op: &'static str, source: io::Error) -> Error {
        Error::Io {
            op,
            path: self.path.clone(),
            source,
        }
    }
}

/// How long [`lock_or_refuse`] keeps trying a lock that is held.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(1500);

/// Takes the log's exclusive lock, or says it is held. A lock held only for a moment is waited
/// for (at most [`LOCK_PATIENCE`]): a child process that another thread of this program is
/// starting shares the lock from `fork` until its `exec` closes the file, so a log closed and
/// reopened while the program spawns processes can find its own lock briefly held. A writer in
/// another process holds it for its whole life and is refused once the patience runs out.
fn lock_or_refuse(file: &File) -> Result<(), TryLockError> {
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

impl ChainWriter for JsonlFileWriter {
    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        let created = !self.path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(|e| self.io_err("open", e))?;
        lock_or_refuse(&file).map_err(|e| match e {
            TryLockError::WouldBlock => Error::Locked {
                path: self.path.clone(),
            },
            TryLockError::Error(e) => self.io_err("lock", e),
        })?;
        if created {
            // Make the new directory entry itself durable.
            sync_parent_dir(&self.path);
        }
        let len = file.metadata().map_err(|e| self.io_err("stat", e))?.len();
        self.committed_len = len;
        let existing = if len == 0 {
            None
        } else {
            let opts = VerifyOptions {
                key: key.cloned(),
                ..VerifyOptions::default()
            };
            let reader = BufReader::with_capacity(256 * 1024, &file);
            let source = self.path.display().to_string();
            let report = match &mut self.tree {
                None => verify::verify_reader(reader, &source, &opts),
                Some(tree) => {
                    verify::verify_reader_each(reader, &source, &opts, &mut |s, h, p, l, t| {
                        tree.entry(s, h, p, l, t)
                    })
                    .inspect(|report| tree.end_of_file(report.tree_end()))
                }
            }
            .map_err(|e| self.io_err("read", e))?;
            if report.is_pack {
                return Err(Error::Incompatible(format!(
                    "{} is an export pack, not a log; packs are never appended to",
                    self.path.display()
                )));
            }
            match (report.torn_tail, report.first_problem()) {
                // A crash mid-write left a torn last line and nothing else is wrong: move it
                // aside and continue (the sequencer records a `recovery` entry).
                (Some(torn), _) if report.problem_count == 1 => {
                    self.torn = Some(torn);
                }
                (_, Some(p)) => {
                    return Err(Error::CorruptLog {
                        source_name: self.path.display().to_string(),
                        line: p.line,
                        seq: p.seq,
                        detail: p.detail.clone(),
                    });
                }
                (_, None) if !report.ends_with_newline => {
                    // The last entry is complete but its newline is missing: add it, or the
                    // next entry would be glued onto that line.
                    (&file)
                        .write_all(b"\n")
                        .and_then(|()| file.sync_data())
                        .map_err(|e| self.io_err("append to", e))?;
                    self.committed_len += 1;
                }
                (_, None) => {}
            }
            let tree = match self.tree.take().map(TreeBuilder::finish) {
                None | Some(Ok(None)) => None,
                Some(Ok(Some(tree))) => Some(tree),
                Some(Err(detail)) => {
                    return Err(Error::Incompatible(format!(
                        "{}: cannot rebuild the Merkle tree its checkpoints need: {detail}",
                        self.path.display()
                    )));
                }
            };
            self.opened_entries = report.entries;
            (report.entries > 0).then_some(ExistingChain {
                tip: ChainTip {
                    next_seq: report.next_seq(),
                    head: report.head,
                },
                hash_alg: report.hash_alg,
                signed: report.unsigned_entries == 0,
                tree,
            })
        };
        self.file = Some(file);
        Ok(existing)
    }

    fn request_tree(&mut self, request: TreeRequest) {
        self.tree = Some(TreeBuilder::new(&request));
    }

    fn append(&mut self, entry: &SealedEntry) {
        self.line.clear();
        entry.write_line(&mut self.line);
        self.batch.bytes.extend_from_slice(self.line.as_bytes());
        self.hand_over_full_block();
    }

    fn append_rendered(&mut self, entry: &RenderedEntry<'_>) {
        self.batch.bytes.extend_from_slice(entry.line().as_bytes());
        if entry.sig_pending() {
            self.batch.unsigned_ends.push(self.batch.bytes.len());
        }
        self.hand_over_full_block();
    }

    fn begin_commit(&mut self, durability: Durability) -> bool {
        // Only a batch already partly on the write thread: a smaller one is written at once.
        if self.begun.is_some()
            || self.handed_over == 0
            || self.torn.is_some()
            || self.poisoned.is_some()
            || self.file.is_none()
        {
            return false;
        }
        let Some(thread) = self.background.as_ref() else {
            return false;
        };
        let len = self.pending_len();
        let sync = durability == Durability::Synced;
        let tail = std::mem::take(&mut self.batch);
        let handed = if tail.is_empty() {
            Ok(())
        } else {
            thread.write(tail)
        };
        let failed = handed.and_then(|()| thread.start_finish(sync)).err();
        self.synced = false;
        self.handed_over = 0;
        self.begun = Some(BegunCommit {
            before: self.committed_len,
            len,
            sync,
            failed,
        });
        true
    }

    fn end_commit(&mut self) -> io::Result<()> {
        let Some(begun) = self.begun.take() else {
            return Ok(());
        };
        let outcome = match (begun.failed, self.background.as_ref()) {
            (Some(e), _) => Err(e),
            (None, Some(thread)) => thread.wait_finish(),
            (None, None) => Err(background::gone()),
        };
        match outcome {
            Ok(()) => {
                self.committed_len = begun.before + begun.len;
                // What was appended since is not synced yet (`write_batch` notes that).
                self.synced = begun.sync && self.pending_len() == 0;
                Ok(())
            }
            Err(e) => {
                // The batch appended since was chained onto the failed one: it goes too. Let
                // the thread finish with what it was handed (a cut-back must not race its
                // writes), then cut the file back to before the failed batch.
                if let Some(thread) = self.background.as_ref() {
                    let _ = thread.finish(false);
                }
                self.batch.clear();
                self.handed_over = 0;
                let cut = match self.file.as_ref() {
                    Some(file) => file.set_len(begun.before).and_then(|()| file.sync_data()),
                    None => Ok(()),
                };
                if let Err(cut) = cut {
                    self.poisoned = Some(format!("cutting back a failed batch failed: {cut}"));
                }
                Err(e)
            }
        }
    }

    fn sign_lines(&mut self, signer: &LineSigner) -> bool {
        self.signer = Some(signer.clone());
        true
    }

    fn commit(&mut self, durability: Durability) -> io::Result<()> {
        if self.begun.is_some() {
            // The sequencer ends a begun commit first; a caller that did not is answered
            // as if it had: the begun batch's failure fails this one too.
            if let Err(e) = self.end_commit() {
                self.batch.clear();
                return Err(e);
            }
        }
        if self.torn.is_some() {
            self.batch.clear();
            return Err(io::Error::other(
                "the log ends with a torn line; recover() must cut it before appending",
            ));
        }
        if let Some(why) = &self.poisoned {
            self.batch.clear();
            return Err(io::Error::other(format!(
                "the log's end is in an unknown state ({why}); reopen it to recover"
            )));
        }
        if self.file.is_none() {
            self.batch.clear();
            self.handed_over = 0;
            return Err(io::Error::other("the log file is not open"));
        }
        let before = self.committed_len;
        let appended = self.pending_len();
        let result = self.write_batch(durability);
        self.batch.clear();
        self.handed_over = 0;
        match result {
            Ok(()) => {
                self.committed_len = before + appended;
                Ok(())
            }
            Err(e) => {
                // All or nothing: a batch whose write or sync failed is cut back off, so that
                // the file never holds entries the sequencer counts as lost (that would fork the
                // chain when it continues). If even that fails, nothing more is appended.
                let cut = match self.file.as_ref() {
                    Some(file) => file.set_len(before).and_then(|()| file.sync_data()),
                    None => Ok(()),
                };
                if let Err(cut) = cut {
                    self.poisoned = Some(format!("cutting back a failed batch failed: {cut}"));
                }
                Err(e)
            }
        }
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn recover(&mut self) -> Result<Option<Recovery>, Error> {
        let Some(torn) = self.torn else {
            return Ok(None);
        };
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| Error::Config("recover() called before open()".into()))?;
        let recovery = self.cut_torn_tail(file, torn)?;
        self.torn = None;
        self.committed_len = torn.offset;
        Ok(Some(recovery))
    }
}

impl JsonlFileWriter {
    /// Moves the bytes from the torn tail's offset to the end of the file into a new side file
    /// beside the log (`<log>.torn.<n>`), synced, then cuts them off the log.
    fn cut_torn_tail(&self, file: &File, tail: verify::TornTail) -> Result<Recovery, Error> {
        let verify::TornTail {
            line,
            offset,
            nul_bytes,
        } = tail;
        use std::io::{Read, Seek, SeekFrom};
        let mut torn = Vec::new();
        let mut reader = file;
        reader
            .seek(SeekFrom::Start(offset))
            .and_then(|_| reader.read_to_end(&mut torn))
            .map_err(|e| self.io_err("read", e))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "log".into());
        let (side_path, mut side) = (1..)
            .map(|n| self.path.with_file_name(format!("{name}.torn.{n}")))
            .find_map(
                |p| match OpenOptions::new().write(true).create_new(true).open(&p) {
                    Ok(f) => Some(Ok((p, f))),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
                    Err(e) => Some(Err(e)),
                },
            )
            .expect("an unused side-file name exists")
            .map_err(|e| self.io_err("create a side file beside", e))?;
        side.write_all(&torn)
            .and_then(|()| side.sync_all())
            .map_err(|e| Error::Io {
                op: "write",
                path: side_path.clone(),
                source: e,
            })?;
        file.set_len(offset)
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io_err("truncate", e))?;
        sync_parent_dir(&self.path);
        Ok(Recovery {
            line,
            nul_bytes,
            cut_bytes: torn.len() as u64,
            cut_sha256: crate::hex::to_hex(&sha2::Sha256::digest(&torn)),
            side_file: side_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }
}

/// Makes a directory entry change (a created or truncated file) durable.
pub(super) fn sync_parent_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// What [`repair`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepairOutcome {
    /// The log was sound; nothing was changed.
    NothingToRepair {
        /// Entries in the log.
        entries: u64,
    },
    /// A torn last line was moved to a side file and a `recovery` entry appended.
    Repaired {
        /// What was cut.
        recovery: Recovery,
        /// The `recovery` entry's position, or `None` when the log held no entry to continue
        /// (it is now empty; the side file keeps the bytes).
        recovery_seq: Option<u64>,
    },
}

/// Repairs a log whose last line a crash tore, exactly as reopening it with the layer would:
/// the torn bytes go to a side file, the log is cut back to its last complete entry, and a
/// `recovery` entry records what was cut (signed with `key` when the log is signed). A log with
/// any other problem is refused.
pub fn repair(path: impl AsRef<Path>, key: Option<&SigningKey>) -> Result<RepairOutcome, Error> {
    let mut writer = JsonlFileWriter::new(path.as_ref());
    let existing = writer.open(key)?;
    if let Some(existing) = &existing
        && existing.signed != key.is_some()
    {
        return Err(Error::Incompatible(if existing.signed {
            format!(
                "{} is signed; give its key to sign the recovery entry",
                writer.describe()
            )
        } else {
            format!(
                "{} is unsigned; a recovery entry cannot be signed",
                writer.describe()
            )
        }));
    }
    let Some(recovery) = writer.recover()? else {
        return Ok(RepairOutcome::NothingToRepair {
            entries: writer.opened_entries,
        });
    };
    let Some(existing) = existing else {
        return Ok(RepairOutcome::Repaired {
            recovery,
            recovery_seq: None,
        });
    };
    let entry = SealedEntry::seal(
        existing.hash_alg,
        key,
        existing.tip.next_seq,
        crate::time::now(),
        "recovery".into(),
        recovery.to_payload(),
        existing.tip.head,
    );
    writer.append(&entry);
    writer
        .commit(Durability::Synced)
        .map_err(|e| writer.io_err("append to", e))?;
    Ok(RepairOutcome::Repaired {
        recovery,
        recovery_seq: Some(entry.seq),
    })
}

#[cfg(test)]
#[path = "jsonl_tests.rs"]
mod tests;
