//! Verification on several threads: workers examine chunks of lines while one thread walks
//! them in file order.

use std::io::{self, BufRead};

use crate::chain::HashAlg;

use super::examine::{Examiner, LineFacts};
use super::lines::{LineInfo, LineSplitter};
use super::walk::Walker;
use super::{Verification, VerifyOptions};

/// Verifies with `workers` threads examining chunks of lines while this thread walks them in
/// order.
pub(super) fn verify_parallel(
    mut reader: impl BufRead + Send,
    source: &str,
    opts: &VerifyOptions,
    workers: usize,
) -> io::Result<Verification> {
    use crossbeam_channel::bounded;
    use std::collections::BTreeMap;

    /// Lines per chunk: big enough to amortise the hand-offs, small enough to bound memory.
    const CHUNK_LINES: usize = 2048;
    /// And at most about this many bytes, so that long lines do not multiply the memory held.
    const CHUNK_BYTES: usize = 4 << 20;
    type Examined = Vec<(LineInfo, LineFacts)>;
    #[derive(Default)]
    struct Chunk {
        index: u64,
        data: Vec<u8>,
        lines: Vec<(LineInfo, std::ops::Range<usize>)>,
        alg: HashAlg,
        /// The examiner's `tree_wanted`: leaf hashes are made on the workers.
        tree: bool,
    }

    let (job_tx, job_rx) = bounded::<Chunk>(workers * 2);
    let (done_tx, done_rx) = bounded::<(u64, io::Result<Examined>)>(workers * 2);
    // Emptied buffers go back to be filled again: fresh megabyte-sized buffers per chunk cost
    // page faults and zeroing (about 5% of the time). Only `try_` operations touch these two
    // channels, so they can neither block nor keep a thread alive.
    let (spare_chunk_tx, spare_chunk_rx) = bounded::<Chunk>(workers * 2);
    let (spare_facts_tx, spare_facts_rx) = bounded::<Examined>(workers * 2);
    let mut walker = Walker::new(source, opts);
    std::thread::scope(|scope| -> io::Result<()> {
        for _ in 0..workers {
            let job_rx = job_rx.clone();
            let done_tx = done_tx.clone();
            let spare_chunk_tx = spare_chunk_tx.clone();
            let spare_facts_rx = spare_facts_rx.clone();
            let key = opts.key.clone();
            let vkeys = opts.checkpoints.keys.clone();
            scope.spawn(move || {
                let mut examiner = Examiner::new(key, vkeys);
                for mut chunk in job_rx {
                    let index = chunk.index;
                    examiner.alg = chunk.alg;
                    examiner.tree_wanted = chunk.tree;
                    let mut out = spare_facts_rx.try_recv().unwrap_or_default();
                    out.extend(chunk.lines.drain(..).map(|(info, range)| {
                        let facts = examiner.examine(&info, &chunk.data[range]);
                        (info, facts)
                    }));
                    chunk.data.clear();
                    let _ = spare_chunk_tx.try_send(chunk);
                    if done_tx.send((index, Ok(out))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(job_rx);
        drop(spare_facts_rx);
        // The reader: splits lines into chunks, copying each line once (into the chunk). Lines
        // up to the first entry are examined here, because that entry decides the hash
        // algorithm every other line is checked with.
        let reader_done = done_tx.clone();
        drop(done_tx);
        let max_line = opts.max_line_bytes;
        let key = opts.key.clone();
        let vkeys = opts.checkpoints.keys.clone();
        scope.spawn(move || {
            let mut lines = LineSplitter::new(max_line);
            let mut examiner = Examiner::new(key, vkeys);
            let mut index = 0u64;
            let mut head: Examined = Vec::new();
            let mut chunk = Chunk::default();
            loop {
                let start = chunk.data.len();
                let info = match lines.append_next(&mut reader, &mut chunk.data) {
                    Ok(Some(info)) => info,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = reader_done.send((index, Err(e)));
                        return;
                    }
                };
                if !examiner.alg_decided {
                    let facts = examiner.examine_first_aware(&info, &chunk.data[start..]);
                    chunk.data.truncate(start);
                    head.push((info, facts));
                    // Sent as soon as the algorithm is known, or in chunks while it is not
                    // (a file without entries must not pile up here).
                    if examiner.alg_decided || head.len() == CHUNK_LINES {
                        if reader_done
                            .send((index, Ok(std::mem::take(&mut head))))
                            .is_err()
                        {
                            return;
                        }
                        index += 1;
                        chunk.alg = examiner.alg;
                        chunk.tree = examiner.tree_wanted;
                    }
                    continue;
                }
                chunk.lines.push((info, start..chunk.data.len()));
                if chunk.lines.len() == CHUNK_LINES || chunk.data.len() >= CHUNK_BYTES {
                    let mut next = spare_chunk_rx.try_recv().unwrap_or_default();
                    next.alg = chunk.alg;
                    next.tree = chunk.tree;
                    chunk.index = index;
                    if job_tx.send(std::mem::replace(&mut chunk, next)).is_err() {
                        return;
                    }
                    index += 1;
                }
            }
            if !head.is_empty() {
                let _ = reader_done.send((index, Ok(head)));
            } else if !chunk.lines.is_empty() {
                chunk.index = index;
                let _ = job_tx.send(chunk);
            }
        });
        // Walk the examined chunks in file order. After a read error the channel is still
        // drained, so that no thread stays blocked on a full channel and the scope can end.
        let mut pending: BTreeMap<u64, Examined> = BTreeMap::new();
        let mut next = 0u64;
        let mut failure = None;
        for (index, result) in done_rx {
            match result {
                Ok(lines) if failure.is_none() => {
                    pending.insert(index, lines);
                }
                Ok(_) => {}
                Err(e) => {
                    failure.get_or_insert(e);
                    pending.clear();
                }
            }
            while let Some(mut lines) = pending.remove(&next) {
                for (info, facts) in lines.drain(..) {
                    walker.apply(&info, facts);
                }
                let _ = spare_facts_tx.try_send(lines);
                next += 1;
            }
        }
        failure.map_or(Ok(()), Err)
    })?;
    Ok(walker.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many entry lines (so the workers are busy), then a read error.
    struct FailingReader {
        left: usize,
    }

    const ENTRY: &[u8] = b"{\"seq\": 0, \"ts\": \"t\", \"type\": \"audit_open\", \"payload\": {}, \"prev_hash\": \"0000000000000000000000000000000000000000000000000000000000000000\", \"hash\": \"0000000000000000000000000000000000000000000000000000000000000000\", \"sig\": \"\"}\n";

    impl io::Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("disk went away"));
            }
            let n = (buf.len() / ENTRY.len()).min(self.left).max(1);
            for i in 0..n {
                buf[i * ENTRY.len()..(i + 1) * ENTRY.len()].copy_from_slice(ENTRY);
            }
            self.left -= n;
            Ok(n * ENTRY.len())
        }
    }

    #[test]
    fn a_read_error_in_parallel_verification_is_returned_not_hung_on() {
        let reader = io::BufReader::with_capacity(64 * 1024, FailingReader { left: 200_000 });
        let err = verify_parallel(reader, "failing", &VerifyOptions::default(), 2).unwrap_err();
        assert!(err.to_string().contains("disk went away"));
    }

    #[test]
    fn a_large_file_without_entries_is_walked_in_chunks() {
        // No entry ever decides the hash algorithm: the lines still flow through in chunks.
        let text = "{\"no\": 1}\n".repeat(300_000);
        let v = verify_parallel(text.as_bytes(), "x", &VerifyOptions::default(), 2).unwrap();
        assert_eq!(v.entries, 0);
        assert_eq!(v.problem_count, 300_000);
    }
}
