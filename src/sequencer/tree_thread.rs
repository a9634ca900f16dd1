//! The Merkle tree of a log that writes checkpoints, kept on its own thread (issue #13).
//!
//! Appending a leaf costs three SHA-256 compressions (the leaf hash, and on average one node
//! hash of two blocks). On the sequencer, the writer's bottleneck, that was several per cent of
//! every entry. The sequencer now hands the leaves over here in chunks as it seals them, and
//! says when its batch is committed or rolled back; this thread keeps the committed tree and
//! the working one. The sequencer waits for it only when it needs the tree itself (to sign a
//! checkpoint, announce a key epoch or open a segment), and since the leaves were handed over
//! while the batch was sealed and written, by then little is left to hash. (Handing a batch
//! over only once committed made every checkpoint wait for a whole batch's hashing, ~0.7 ms per
//! 4,096 entries: 6% of the writer's throughput.)

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::checkpoint::Frontier;
use crate::error::Error;

/// Batches that may wait for the thread before the sequencer blocks on handing over the next:
/// bounds the memory held for it (a batch is at most `MAX_BATCH` leaves).
const BACKLOG_BATCHES: usize = 8;

enum Job {
    /// Leaves sealed onto the working tree.
    Append(Vec<[u8; 32]>),
    /// The working tree is committed.
    Commit,
    /// The working tree goes back to the committed one.
    Rollback,
    Snapshot(Sender<Frontier>),
}

/// The handle the sequencer holds. Dropping it lets the thread finish its backlog and joins it.
pub(super) struct TreeThread {
    jobs: Option<Sender<Job>>,
    /// Emptied leaf buffers coming back, so that batches do not allocate.
    spare: Receiver<Vec<[u8; 32]>>,
    thread: Option<JoinHandle<()>>,
    /// The working tree's size once the thread has caught up, and the committed tree's.
    size: u64,
    committed_size: u64,
}

impl TreeThread {
    /// Starts the thread on the tree over the existing chain.
    pub(super) fn spawn(tree: Frontier) -> Result<TreeThread, Error> {
        let (jobs, inbox) = crossbeam_channel::bounded::<Job>(BACKLOG_BATCHES);
        let (spare_tx, spare) = crossbeam_channel::bounded(BACKLOG_BATCHES + 1);
        let size = tree.size();
        let thread = std::thread::Builder::new()
            .name("acttrace-merkle".into())
            .spawn(move || run(tree, &inbox, &spare_tx))
            .map_err(|e| Error::Config(format!("cannot start the Merkle tree thread: {e}")))?;
        Ok(TreeThread {
            jobs: Some(jobs),
            spare,
            thread: Some(thread),
            size,
            committed_size: size,
        })
    }

    /// The size of the working tree once every leaf handed over is appended.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// An empty buffer for the next batch's leaves (a returned one when there is one).
    pub(super) fn buffer(&self) -> Vec<[u8; 32]> {
        self.spare.try_recv().unwrap_or_default()
    }

    /// Hands sealed leaves over to the working tree; blocks while the thread is
    /// `BACKLOG_BATCHES` hand-overs behind.
    pub(super) fn append(&mut self, leaves: Vec<[u8; 32]>) -> Result<(), Error> {
        let n = leaves.len() as u64;
        self.send(Job::Append(leaves))?;
        self.size += n;
        Ok(())
    }

    /// The working tree is committed (its batch is on the chain).
    pub(super) fn commit(&mut self) -> Result<(), Error> {
        self.send(Job::Commit)?;
        self.committed_size = self.size;
        Ok(())
    }

    /// The working tree goes back to the committed one (its batch failed).
    pub(super) fn rollback(&mut self) -> Result<(), Error> {
        self.size = self.committed_size;
        self.send(Job::Rollback)
    }

    /// The working tree over every leaf handed over, once the thread has appended them.
    pub(super) fn snapshot(&self) -> Result<Frontier, Error> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.send(Job::Snapshot(reply))?;
        answer.recv().map_err(|_| stopped())
    }

    fn send(&self, job: Job) -> Result<(), Error> {
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())
    }
}

impl Drop for TreeThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread once its backlog is done.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn stopped() -> Error {
    Error::Write("the Merkle tree thread has stopped".into())
}

fn run(mut working: Frontier, inbox: &Receiver<Job>, spare: &Sender<Vec<[u8; 32]>>) {
    // At most 64 hashes each: copying is cheap next to hashing a batch.
    let mut committed = working.clone();
    for job in inbox {
        match job {
            Job::Append(mut leaves) => {
                for leaf in &leaves {
                    working.append(leaf);
                }
                leaves.clear();
                // Full when the sequencer has enough buffers: this one is dropped.
                let _ = spare.try_send(leaves);
            }
            Job::Commit => committed.clone_from(&working),
            Job::Rollback => working.clone_from(&committed),
            Job::Snapshot(reply) => {
                let _ = reply.send(working.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::root_of;

    fn leaf(i: u32) -> [u8; 32] {
        let mut l = [0u8; 32];
        l[..4].copy_from_slice(&i.to_be_bytes());
        l
    }

    #[test]
    fn snapshots_see_every_leaf_handed_over_before_them() {
        let leaves: Vec<[u8; 32]> = (0..1000).map(leaf).collect();
        let mut start = Frontier::new();
        for l in &leaves[..10] {
            start.append(l);
        }
        let mut t = TreeThread::spawn(start).unwrap();
        assert_eq!(t.size(), 10);
        let mut at = 10;
        for chunk in [1usize, 0, 37, 400, 552] {
            let mut batch = t.buffer();
            assert!(batch.is_empty());
            batch.extend_from_slice(&leaves[at..at + chunk]);
            t.append(batch).unwrap();
            at += chunk;
            assert_eq!(t.size(), at as u64);
            let snap = t.snapshot().unwrap();
            assert_eq!(snap.size(), at as u64);
            assert_eq!(snap.root(), root_of(&leaves[..at]));
        }
        assert_eq!(at, 1000);
    }

    #[test]
    fn a_rollback_returns_to_the_last_commit() {
        let leaves: Vec<[u8; 32]> = (0..100).map(leaf).collect();
        let mut t = TreeThread::spawn(Frontier::new()).unwrap();
        t.append(leaves[..40].to_vec()).unwrap();
        t.commit().unwrap();
        t.append(leaves[40..70].to_vec()).unwrap();
        assert_eq!(t.size(), 70);
        t.rollback().unwrap();
        assert_eq!(t.size(), 40);
        assert_eq!(t.snapshot().unwrap().root(), root_of(&leaves[..40]));
        // Other leaves take the rolled-back ones' place.
        let mut other = leaves[..40].to_vec();
        other.extend((500..510).map(leaf));
        t.append(other[40..].to_vec()).unwrap();
        assert_eq!(t.snapshot().unwrap().root(), root_of(&other));
        t.commit().unwrap();
        t.rollback().unwrap();
        assert_eq!(t.snapshot().unwrap().root(), root_of(&other));
    }

    #[test]
    fn buffers_come_back_empty_and_reused() {
        let mut t = TreeThread::spawn(Frontier::new()).unwrap();
        let mut batch = Vec::with_capacity(64);
        batch.push(leaf(1));
        t.append(batch).unwrap();
        // The snapshot is answered after the append, so the buffer has been returned.
        t.snapshot().unwrap();
        let back = t.buffer();
        assert!(back.is_empty());
        assert!(back.capacity() >= 64);
    }
}
