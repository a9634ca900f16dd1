//! Writes the front of a large batch on a thread of its own while the sequencer seals the rest.
//!
//! On a disk-backed file, `write(2)` of a 2 MiB batch into the page cache costs about a fifth
//! of the sequencer's time (page allocation, the file system's block reservation); the
//! sequencer has nothing else to do with it. [`JsonlFileWriter`](super::JsonlFileWriter) hands
//! every full block of a batch to this thread as soon as it fills and keeps sealing; at commit
//! it hands over the tail and waits until every block is written (and synced when asked), so
//! a commit returns exactly when it did before: after the batch's bytes are in the file. The
//! bytes of a batch not yet committed could already reach the file before this too (between
//! `write` and `fdatasync`), and a failed batch is cut back off the file as before.
//!
//! For a signed log it also signs each block's lines before writing them (the sequencer leaves
//! their `sig` to the writer: [`LineSigner`]), a third of the hashing the sequencer did.
//!
//! Memory is bounded: at most [`QUEUED_BLOCKS`] blocks wait for the thread, and blocks it has
//! written come back for reuse.
//!
//! History: this thread was tried in session 6, when the sequencer itself was the only busy
//! core, and bought nothing measurable; it was taken out. Once the render thread took the
//! payload work off the sequencer (session 7) and the sequencer's wait for it was cut
//! (session 9), the `write(2)` left on the sequencer was worth moving: docs/PERFORMANCE.md,
//! "Session 9".

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::chain::LineSigner;

/// A batch is handed over in blocks of at least this many bytes (whole lines).
pub(super) const BLOCK_BYTES: usize = 256 * 1024;

/// Blocks that may wait for the thread; a sequencer that gets further ahead waits for it.
/// Eight (2 MiB, a whole batch of 4,096 typical entries): a thread woken on a busy virtual
/// machine can take half a millisecond to run, and with two blocks queued the sequencer
/// waited for it.
const QUEUED_BLOCKS: usize = 8;

/// Written blocks kept for the next ones; more come back only when the thread catches up after
/// a burst, and are freed.
const SPARE_BLOCKS: usize = 2;

/// Whole entry lines to append to the file, and where those whose `sig` is still to be
/// written end.
#[derive(Debug, Default)]
pub(super) struct Block {
    pub(super) bytes: Vec<u8>,
    /// The offset just past the `\n` of each line in `bytes` that carries
    /// [`SIG_PENDING`](crate::chain::SIG_PENDING).
    pub(super) unsigned_ends: Vec<usize>,
}

impl Block {
    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.unsigned_ends.clear();
    }

    /// Signs every line whose `sig` is pending. Fails, leaving the block unfit to write, if a
    /// line cannot be signed or there is no signer to sign one.
    pub(super) fn sign(&mut self, signer: Option<&LineSigner>) -> io::Result<()> {
        if self.unsigned_ends.is_empty() {
            return Ok(());
        }
        let signer = signer.ok_or_else(|| {
            io::Error::other("an entry line awaits its signature but the writer holds no key")
        })?;
        for &end in &self.unsigned_ends {
            let line = self.bytes.get_mut(..end).ok_or_else(|| {
                io::Error::other("an entry line to sign lies beyond its block's end")
            })?;
            signer.sign_line(line)?;
        }
        Ok(())
    }
}

enum Job {
    /// Append these lines to the file (signing those whose `sig` is pending first).
    Write(Block),
    /// The batch's last block has been handed over: answer with the outcome of its writes,
    /// after a `fdatasync` when `sync` is set.
    Finish { sync: bool },
}

/// The thread and the channels to it. Dropping it stops the thread; blocks of a batch that was
/// never finished are discarded, not written.
pub(super) struct BackgroundWriter {
    jobs: Option<Sender<Job>>,
    outcomes: Receiver<io::Result<()>>,
    spare: Receiver<Block>,
    /// Set when the owner is dropped: blocks still queued belong to no commit.
    discard: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for BackgroundWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundWriter").finish_non_exhaustive()
    }
}

impl BackgroundWriter {
    /// Starts a thread appending to `file` (a handle on the log, opened for appending) and
    /// signing lines with `signer`.
    pub(super) fn start(file: File, signer: Option<LineSigner>) -> io::Result<BackgroundWriter> {
        let (jobs, job_rx) = bounded::<Job>(QUEUED_BLOCKS);
        let (outcome_tx, outcomes) = bounded(1);
        // A block comes back once written, to be filled again.
        let (spare_tx, spare) = bounded(SPARE_BLOCKS);
        let discard = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&discard);
        let thread = std::thread::Builder::new()
            .name("acttrace-write".into())
            .spawn(move || run(file, signer, &job_rx, &outcome_tx, &spare_tx, &stop))?;
        Ok(BackgroundWriter {
            jobs: Some(jobs),
            outcomes,
            spare,
            discard,
            thread: Some(thread),
        })
    }

    /// An empty block to fill next: one the thread has written, or a new one.
    pub(super) fn spare_block(&self) -> Block {
        self.spare.try_recv().unwrap_or_else(|_| Block {
            bytes: Vec::with_capacity(BLOCK_BYTES + BLOCK_BYTES / 4),
            unsigned_ends: Vec::new(),
        })
    }

    /// Hands a block over; waits while [`QUEUED_BLOCKS`] are already waiting. Fails only if the
    /// thread is gone.
    pub(super) fn write(&self, block: Block) -> io::Result<()> {
        self.send(Job::Write(block))
    }

    /// Waits until every block handed over is written (and synced with `sync`), and returns
    /// the first error any of those writes met.
    pub(super) fn finish(&self, sync: bool) -> io::Result<()> {
        self.start_finish(sync)?;
        self.wait_finish()
    }

    /// Asks for the outcome of the blocks handed over so far (written, and synced with `sync`)
    /// without waiting for it: blocks handed over next are written after that. One
    /// [`wait_finish`](BackgroundWriter::wait_finish) must follow before the next.
    pub(super) fn start_finish(&self, sync: bool) -> io::Result<()> {
        self.send(Job::Finish { sync })
    }

    /// Waits for the outcome [`start_finish`](BackgroundWriter::start_finish) asked for.
    pub(super) fn wait_finish(&self) -> io::Result<()> {
        self.outcomes.recv().map_err(|_| gone())?
    }

    fn send(&self, job: Job) -> io::Result<()> {
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())
    }
}

pub(super) fn gone() -> io::Error {
    io::Error::other("the log's background write thread has stopped")
}

fn run(
    mut file: File,
    signer: Option<LineSigner>,
    jobs: &Receiver<Job>,
    outcomes: &Sender<io::Result<()>>,
    spare: &Sender<Block>,
    discard: &AtomicBool,
) {
    // The first error of the batch under way: its later blocks are not written (the batch is
    // cut back off the file anyway), and the error is its commit's answer.
    let mut failed: Option<io::Error> = None;
    for job in jobs {
        match job {
            Job::Write(mut block) => {
                if failed.is_none() && !discard.load(Ordering::Acquire) {
                    failed = block
                        .sign(signer.as_ref())
                        .and_then(|()| file.write_all(&block.bytes))
                        .err();
                }
                block.clear();
                // Full when the owner keeps enough spares: this one is then freed.
                let _ = spare.try_send(block);
            }
            Job::Finish { sync } => {
                let outcome = match failed.take() {
                    Some(e) => Err(e),
                    None if sync => file.sync_data(),
                    None => Ok(()),
                };
                if outcomes.send(outcome).is_err() {
                    return;
                }
            }
        }
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.discard.store(true, Ordering::Release);
        // Closing the channel ends the thread's loop once it has drained what is queued.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
