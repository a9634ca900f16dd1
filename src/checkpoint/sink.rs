//! Where committed checkpoints go once they are on the log: [`CheckpointSink`]s (a file, a
//! witness), fed by one thread per log so that the sequencer never waits for them.
//!
//! The sequencer hands each checkpoint over only after the batch holding its `checkpoint` entry
//! was committed `Synced`, so a sink never sees a checkpoint a crash could take back. The hand-off
//! never blocks the sequencer: checkpoints wait in a short backlog ([`BACKLOG`] of them), and when
//! the sink thread falls further behind, the newest waiting checkpoint absorbs the next one (a
//! sink needs only the latest checkpoint and the leaves since the previous one it was given, so
//! two consecutive hand-offs merge into one whose leaves are both runs). The leaves waiting are
//! bounded too ([`MAX_BACKLOG_LEAVES`]); past that the backlog is dropped, the sequencer chains a
//! `witness_gap` entry, and the sinks' next checkpoint starts over from an empty tree
//! (`previous_size` 0, no leaves).
//!
//! What a sink reports back ([`SinkEvent`]) is chained by the sequencer as a `cosignature`,
//! `witness_conflict` or `witness_gap` entry (docs/FORMAT.md §7a).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use crossbeam_channel::{Receiver, Sender};

use super::merkle::Frontier;
use crate::error::Error;

/// Checkpoints waiting for the sink thread before consecutive ones are merged.
pub(crate) const BACKLOG: usize = 16;

/// Leaves (32 bytes each) the backlog may hold, 64 MiB: past it the backlog is dropped rather
/// than memory growing without bound behind a stalled sink.
pub(crate) const MAX_BACKLOG_LEAVES: usize = 1 << 21;

/// A checkpoint whose `checkpoint` entry was committed `Synced`, as a sink receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedCheckpoint {
    /// The log's origin (the checkpoint key's name).
    pub origin: String,
    /// The full signed note.
    pub note: String,
    /// The tree size, equal to the `checkpoint` entry's seq.
    pub tree_size: u64,
    /// The tree's root hash.
    pub root: [u8; 32],
    /// The tree size of the previous checkpoint this sink was given (0 if none, or after the
    /// backlog overflowed: see the module documentation).
    pub previous_size: u64,
    /// The tree at `previous_size`, from which a consistency proof to `tree_size` is made with
    /// `leaves`.
    pub previous_frontier: Frontier,
    /// The chain hashes of entries `previous_size..tree_size` (empty after a backlog
    /// overflow, with `previous_size` 0).
    pub leaves: Vec<[u8; 32]>,
}

impl CommittedCheckpoint {
    /// Folds the next hand-off into this one: the newer checkpoint, with the leaves of both.
    fn absorb(&mut self, next: CommittedCheckpoint) {
        if next.previous_size == self.tree_size {
            self.leaves.extend(next.leaves);
        } else {
            // `next` starts over (after an overflow): it keeps its own start.
            self.previous_size = next.previous_size;
            self.previous_frontier = next.previous_frontier;
            self.leaves = next.leaves;
        }
        self.note = next.note;
        self.tree_size = next.tree_size;
        self.root = next.root;
    }
}

/// What a sink reports; the sequencer chains each as an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkEvent {
    /// A witness cosigned a checkpoint: chained as a `cosignature` entry.
    Cosignature {
        /// The witness (its key name).
        witness: String,
        /// The cosigned checkpoint's tree size.
        tree_size: u64,
        /// The cosignature line, as the witness returned it.
        signature_line: String,
    },
    /// A witness holds a checkpoint this log cannot be consistent with (a larger size than
    /// ours, or another root): chained as a `witness_conflict` entry.
    Conflict {
        /// The witness.
        witness: String,
        /// Our tree size.
        ours: u64,
        /// The witness's tree size.
        theirs: u64,
        /// What happened.
        detail: String,
    },
    /// A sink could not be reached for too long: chained as a `witness_gap` entry (never
    /// `gap`, which means lost entries).
    Unreachable {
        /// The witness or sink.
        witness: String,
        /// The tree size of the last checkpoint it accepted.
        since_size: u64,
        /// What happened.
        detail: String,
    },
}

impl SinkEvent {
    /// The entry type the sequencer chains this event as.
    pub fn entry_type(&self) -> &'static str {
        match self {
            SinkEvent::Cosignature { .. } => "cosignature",
            SinkEvent::Conflict { .. } => "witness_conflict",
            SinkEvent::Unreachable { .. } => "witness_gap",
        }
    }
}

/// A destination for committed checkpoints: a file, a witness, a transparency service.
///
/// ```
/// use acttrace::checkpoint::{CheckpointSink, CommittedCheckpoint, SinkEvent};
///
/// /// Prints each checkpoint's size.
/// struct Print;
///
/// impl CheckpointSink for Print {
///     fn describe(&self) -> String { "stdout".into() }
///     fn latest(&mut self, _origin: &str) -> Result<Option<String>, acttrace::Error> {
///         Ok(None) // keeps nothing
///     }
///     fn publish(&mut self, checkpoint: &CommittedCheckpoint) -> Vec<SinkEvent> {
///         println!("checkpoint {}", checkpoint.tree_size);
///         Vec::new()
///     }
/// }
/// ```
pub trait CheckpointSink: Send + 'static {
    /// A short description for messages (a file's path, a witness's URL).
    fn describe(&self) -> String;
    /// At open: the latest checkpoint note this sink holds for `origin` (None when none).
    fn latest(&mut self, origin: &str) -> Result<Option<String>, Error>;
    /// On the sink thread (never the sequencer's), in order, after the checkpoint's batch
    /// was committed Synced.
    fn publish(&mut self, checkpoint: &CommittedCheckpoint) -> Vec<SinkEvent>;
}

/// Keeps every checkpoint note in a file, one JSON line per checkpoint (`{"origin", "tree_size",
/// "note"}`), each appended and synced before the next is taken: a copy of the log's
/// checkpoints that a reopened log must be consistent with. Put it on another machine (a
/// mounted share) for it to count as held off the host.
///
/// A write failure is reported as a [`SinkEvent::Unreachable`] (chained as `witness_gap`).
#[derive(Debug)]
pub struct FileCheckpointSink {
    path: PathBuf,
    file: Option<File>,
}

impl FileCheckpointSink {
    /// A sink appending to `path` (created when missing).
    pub fn new(path: impl Into<PathBuf>) -> FileCheckpointSink {
        FileCheckpointSink {
            path: path.into(),
            file: None,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, checkpoint: &CommittedCheckpoint) -> io::Result<()> {
        if self.file.is_none() {
            let created = !self.path.exists();
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)?;
            if created && let Some(dir) = self.path.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                File::open(dir)?.sync_all()?;
            }
            self.file = Some(file);
        }
        let mut line = serde_json::json!({
            "origin": checkpoint.origin,
            "tree_size": checkpoint.tree_size,
            "note": checkpoint.note,
        })
        .to_string();
        line.push('\n');
        let file = self.file.as_mut().expect("opened above");
        file.write_all(line.as_bytes())?;
        file.sync_data()
    }
}

impl CheckpointSink for FileCheckpointSink {
    fn describe(&self) -> String {
        format!("checkpoint file {}", self.path.display())
    }

    /// The last note recorded for `origin`. A last line cut short (a crash mid-append) is
    /// ignored; any other unreadable line is an error naming the file and line.
    fn latest(&mut self, origin: &str) -> Result<Option<String>, Error> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    op: "open",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let mut reader = BufReader::new(file);
        let mut latest = None;
        let mut line = String::new();
        for number in 1u64.. {
            line.clear();
            let read = reader.read_line(&mut line).map_err(|source| Error::Io {
                op: "read",
                path: self.path.clone(),
                source,
            })?;
            if read == 0 {
                break;
            }
            let complete = line.ends_with('\n');
            if line.trim().is_empty() {
                continue;
            }
            let record: Option<(String, String)> =
                serde_json::from_str(&line)
                    .ok()
                    .and_then(|v: serde_json::Value| {
                        Some((
                            v.get("origin")?.as_str()?.to_owned(),
                            v.get("note")?.as_str()?.to_owned(),
                        ))
                    });
            match record {
                Some((o, note)) if o == origin => latest = Some(note),
                Some(_) => {}
                None if !complete => break,
                None => {
                    return Err(Error::Incompatible(format!(
                        "{} line {number}: not a checkpoint record \
                         ({{\"origin\", \"tree_size\", \"note\"}})",
                        self.path.display()
                    )));
                }
            }
        }
        Ok(latest)
    }

    fn publish(&mut self, checkpoint: &CommittedCheckpoint) -> Vec<SinkEvent> {
        match self.append(checkpoint) {
            Ok(()) => Vec::new(),
            Err(e) => {
                // The file is reopened for the next checkpoint.
                self.file = None;
                vec![SinkEvent::Unreachable {
                    witness: self.describe(),
                    since_size: checkpoint.previous_size,
                    detail: format!(
                        "cannot append checkpoint {} to {}: {e}",
                        checkpoint.tree_size,
                        self.path.display()
                    ),
                }]
            }
        }
    }
}

/// The checkpoints waiting for the sink thread.
#[derive(Default)]
struct Backlog {
    queue: VecDeque<CommittedCheckpoint>,
    leaves: usize,
    closed: bool,
}

type Shared = Arc<(Mutex<Backlog>, Condvar)>;

/// The sequencer's end of a log's sink thread.
pub(crate) struct SinkThread {
    shared: Shared,
    /// What the sinks report, for the sequencer to chain.
    pub(crate) events: Receiver<SinkEvent>,
}

impl SinkThread {
    /// Starts the thread that hands checkpoints to `sinks`, in order. The returned receiver
    /// disconnects when the thread has delivered everything and exited.
    pub(crate) fn spawn(
        sinks: Vec<Box<dyn CheckpointSink>>,
    ) -> Result<(SinkThread, Receiver<()>), Error> {
        let shared: Shared = Arc::default();
        let (event_tx, events) = crossbeam_channel::bounded(1024);
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("acttrace-checkpoint-sinks".into())
            .spawn(move || run(sinks, &theirs, &event_tx, done_tx))
            .map_err(|e| Error::Config(format!("cannot start the checkpoint sink thread: {e}")))?;
        Ok((SinkThread { shared, events }, done))
    }

    /// Hands a committed checkpoint to the sinks without waiting. Returns `false` when the
    /// backlog overflowed and was dropped (the checkpoint was queued as a fresh start).
    pub(crate) fn publish(&self, checkpoint: CommittedCheckpoint) -> bool {
        let (lock, wake) = &*self.shared;
        let mut backlog = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut kept = true;
        let mut checkpoint = checkpoint;
        if backlog.leaves + checkpoint.leaves.len() > MAX_BACKLOG_LEAVES {
            backlog.queue.clear();
            backlog.leaves = 0;
            checkpoint.previous_size = 0;
            checkpoint.previous_frontier = Frontier::new();
            checkpoint.leaves = Vec::new();
            kept = false;
        }
        backlog.leaves += checkpoint.leaves.len();
        let full = backlog.queue.len() >= BACKLOG;
        match backlog.queue.back_mut() {
            Some(last) if full => last.absorb(checkpoint),
            _ => backlog.queue.push_back(checkpoint),
        }
        wake.notify_one();
        kept
    }
}

impl Drop for SinkThread {
    /// Lets the thread deliver what is queued and exit.
    fn drop(&mut self) {
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        wake.notify_one();
    }
}

fn run(
    mut sinks: Vec<Box<dyn CheckpointSink>>,
    shared: &Shared,
    events: &Sender<SinkEvent>,
    done: Sender<()>,
) {
    let (lock, wake) = &**shared;
    loop {
        let next = {
            let mut backlog = lock.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(next) = backlog.queue.pop_front() {
                    backlog.leaves -= next.leaves.len();
                    break Some(next);
                }
                if backlog.closed {
                    break None;
                }
                backlog = wake.wait(backlog).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let Some(checkpoint) = next else { break };
        for sink in &mut sinks {
            // A sink that panics is reported, and keeps being given checkpoints: one faulty
            // sink must not take the others (or the final checkpoint) down with it.
            let published = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sink.publish(&checkpoint)
            }));
            let reported = published.unwrap_or_else(|_| {
                vec![SinkEvent::Unreachable {
                    witness: sink.describe(),
                    since_size: checkpoint.previous_size,
                    detail: format!("the sink panicked on checkpoint {}", checkpoint.tree_size),
                }]
            });
            for event in reported {
                // The sequencer is gone (shut down): nothing more can be chained.
                let _ = events.send(event);
            }
        }
    }
    drop(done);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(previous: u64, size: u64) -> CommittedCheckpoint {
        CommittedCheckpoint {
            origin: "o".into(),
            note: format!("note {size}"),
            tree_size: size,
            root: [size as u8; 32],
            previous_size: previous,
            previous_frontier: Frontier::new(),
            leaves: (previous..size).map(|i| [i as u8; 32]).collect(),
        }
    }

    #[test]
    fn absorbing_keeps_the_first_start_and_every_leaf() {
        let mut a = checkpoint(2, 5);
        a.absorb(checkpoint(5, 9));
        assert_eq!(a.previous_size, 2);
        assert_eq!(a.tree_size, 9);
        assert_eq!(a.note, "note 9");
        assert_eq!(a.leaves, checkpoint(2, 9).leaves);
    }

    /// A sink that waits for the test's signal before each checkpoint, and records them.
    struct Gated {
        gate: Receiver<()>,
        seen: Sender<CommittedCheckpoint>,
    }

    impl CheckpointSink for Gated {
        fn describe(&self) -> String {
            "gated".into()
        }
        fn latest(&mut self, _: &str) -> Result<Option<String>, Error> {
            Ok(None)
        }
        fn publish(&mut self, c: &CommittedCheckpoint) -> Vec<SinkEvent> {
            let _ = self.gate.recv();
            let _ = self.seen.send(c.clone());
            vec![SinkEvent::Cosignature {
                witness: "w".into(),
                tree_size: c.tree_size,
                signature_line: String::new(),
            }]
        }
    }

    #[test]
    fn a_stalled_sink_gets_the_backlog_merged_and_never_stalls_the_publisher() {
        let (gate_tx, gate) = crossbeam_channel::unbounded();
        let (seen, seen_rx) = crossbeam_channel::unbounded();
        let (thread, done) = SinkThread::spawn(vec![Box::new(Gated { gate, seen })]).unwrap();
        // The sink is blocked on the first checkpoint; the rest pile up, none blocks.
        let total = BACKLOG as u64 + 10;
        for i in 0..total {
            assert!(thread.publish(checkpoint(i * 2, i * 2 + 2)));
        }
        for _ in 0..total {
            gate_tx.send(()).unwrap();
        }
        let events = thread.events.clone();
        drop(thread);
        // The thread exits once everything is delivered.
        assert!(done.recv().is_err());
        let got: Vec<CommittedCheckpoint> = seen_rx.try_iter().collect();
        // Whatever was merged, the sink saw a contiguous run ending at the last checkpoint,
        // each leaf once.
        assert!(got.len() <= BACKLOG + 1, "{}", got.len());
        assert_eq!(got.last().unwrap().tree_size, total * 2);
        let mut expect = 0;
        for c in &got {
            assert_eq!(c.previous_size, expect);
            assert_eq!(c.leaves.len() as u64, c.tree_size - c.previous_size);
            expect = c.tree_size;
        }
        assert_eq!(events.try_iter().count(), got.len());
    }

    /// Panics on its first checkpoint.
    struct Faulty(bool);

    impl CheckpointSink for Faulty {
        fn describe(&self) -> String {
            "faulty".into()
        }
        fn latest(&mut self, _: &str) -> Result<Option<String>, Error> {
            Ok(None)
        }
        fn publish(&mut self, c: &CommittedCheckpoint) -> Vec<SinkEvent> {
            if !std::mem::replace(&mut self.0, true) {
                panic!("faulty sink");
            }
            vec![SinkEvent::Cosignature {
                witness: "faulty".into(),
                tree_size: c.tree_size,
                signature_line: String::new(),
            }]
        }
    }

    #[test]
    fn a_panicking_sink_is_reported_and_keeps_getting_checkpoints() {
        let (thread, done) = SinkThread::spawn(vec![Box::new(Faulty(false))]).unwrap();
        thread.publish(checkpoint(0, 2));
        thread.publish(checkpoint(2, 4));
        let events = thread.events.clone();
        drop(thread);
        assert!(done.recv().is_err());
        let got: Vec<SinkEvent> = events.try_iter().collect();
        assert!(
            matches!(&got[0], SinkEvent::Unreachable { witness, detail, .. }
                if witness == "faulty" && detail.contains("panicked on checkpoint 2")),
            "{got:?}"
        );
        assert!(
            matches!(got[1], SinkEvent::Cosignature { tree_size: 4, .. }),
            "{got:?}"
        );
    }

    #[test]
    fn the_file_sink_returns_its_last_note_for_the_origin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp.jsonl");
        let mut sink = FileCheckpointSink::new(&path);
        assert_eq!(sink.latest("o").unwrap(), None);
        for size in [3, 7] {
            assert!(sink.publish(&checkpoint(0, size)).is_empty());
        }
        let mut other = checkpoint(0, 9);
        other.origin = "p".into();
        sink.publish(&other);
        assert_eq!(sink.latest("o").unwrap().as_deref(), Some("note 7"));
        assert_eq!(sink.latest("p").unwrap().as_deref(), Some("note 9"));
        // A torn last line is a crash mid-append: ignored.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"origin\": \"o\", \"no")
            .unwrap();
        assert_eq!(sink.latest("o").unwrap().as_deref(), Some("note 7"));
        // A damaged line in the middle is an error naming the file and line.
        std::fs::write(&path, "garbage\n{}\n").unwrap();
        let err = sink.latest("o").unwrap_err().to_string();
        assert!(err.contains("cp.jsonl line 1"), "{err}");
    }
}
