//! Verification on several threads: the reader reads the file in large blocks, workers split
//! them into lines and examine them, and this thread walks the lines in file order.

use std::io::{self, BufRead};
use std::ops::Range;

use crate::chain::HashAlg;

use super::examine::{Examiner, LineFacts};
use super::lines::{LineInfo, next_line};
use super::walk::Walker;
use super::{Verification, VerifyOptions};

/// Bytes read per block: big enough to amortise the hand-offs (about 2,000 lines of a typical
/// log), small enough to bound memory (a few blocks are in flight per worker).
const BLOCK: usize = 1 << 20;

/// Chunks read and not yet walked, per worker. The walker takes chunks in file order, so while
/// one worker is held up (a loaded machine deschedules it) the others' finished chunks wait for
/// it: without this bound they would pile up there.
const IN_FLIGHT_PER_WORKER: usize = 4;

/// Lines examined on the reader thread before the first entry, sent on in groups of at most this
/// many (a file without entries must not pile up there).
const HEAD_LINES: usize = 2048;

type Examined = Vec<(LineInfo, LineFacts)>;

/// A block of the file for a worker.
#[derive(Default)]
struct Chunk {
    index: u64,
    /// Bytes read from the file; its length is the room reads fill (kept, so that a reused
    /// buffer is not zeroed again).
    data: Vec<u8>,
    /// The whole lines in `data` the workers examine (only the last may lack its `\n`, at the
    /// end of the input).
    lines: Range<usize>,
    /// The file offset of `data[0]`.
    base: u64,
    /// A line longer than the cap that ended before `lines`, skipped without being held.
    skipped: Option<LineInfo>,
    alg: HashAlg,
    /// The examiner's `tree_wanted`: leaf hashes are made on the workers.
    tree: bool,
}

/// Verifies with `workers` threads examining blocks of lines while this thread walks them in
/// order.
///
/// The reader copies nothing line by line: it reads blocks straight into a chunk's buffer
/// (through `reader`, whose own buffer a large read bypasses), hands the whole lines on, and
/// carries the partial line at the end into the next buffer. Workers split the lines; this
/// thread numbers them as it walks them in order. A line longer than the cap is skipped to its
/// end without being held, so a buffer never grows beyond the cap plus one byte.
pub(super) fn verify_parallel(
    mut reader: impl BufRead + Send,
    source: &str,
    opts: &VerifyOptions,
    workers: usize,
) -> io::Result<Verification> {
    use crossbeam_channel::bounded;
    use std::collections::BTreeMap;

    let (job_tx, job_rx) = bounded::<Chunk>(workers * 2);
    let (done_tx, done_rx) = bounded::<(u64, io::Result<Examined>)>(workers * 2);
    // Emptied buffers go back to be filled again: fresh megabyte-sized buffers per chunk cost
    // page faults and zeroing (about 5% of the time). Only `try_` operations touch these two
    // channels, so they can neither block nor keep a thread alive.
    let (spare_chunk_tx, spare_chunk_rx) = bounded::<Chunk>(workers * 2);
    let (spare_facts_tx, spare_facts_rx) = bounded::<Examined>(workers * 2);
    // One credit per chunk in flight: the reader takes one before it hands a chunk on, the
    // walker gives it back once the chunk is walked (or dropped after a read error).
    let in_flight = workers * IN_FLIGHT_PER_WORKER;
    let (credit_tx, credit_rx) = bounded::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = credit_tx.try_send(());
    }
    let max_line = opts.max_line_bytes;
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
                    if let Some(info) = chunk.skipped.take() {
                        out.push((info, examiner.examine(&info, &[])));
                    }
                    let mut pos = chunk.lines.start;
                    while let Some((info, range)) =
                        next_line(&chunk.data, &mut pos, chunk.lines.end, chunk.base, max_line)
                    {
                        let facts = examiner.examine(&info, &chunk.data[range]);
                        out.push((info, facts));
                    }
                    // A buffer grown for one long line is not kept for the rest of the run.
                    if chunk.data.len() <= 2 * BLOCK {
                        let _ = spare_chunk_tx.try_send(chunk);
                    }
                    if done_tx.send((index, Ok(out))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(job_rx);
        drop(spare_facts_rx);
        // The reader. Lines up to the first entry are examined here, because that entry decides
        // the hash algorithm every other line is checked with.
        let reader_done = done_tx.clone();
        drop(done_tx);
        let key = opts.key.clone();
        let vkeys = opts.checkpoints.keys.clone();
        scope.spawn(move || {
            let mut examiner = Examiner::new(key, vkeys);
            let mut index = 0u64;
            let mut head: Examined = Vec::new();
            let mut chunk = Chunk::default();
            // `chunk.data[..filled]` holds bytes read and not yet handed on, from offset `base`.
            let mut filled = 0usize;
            let mut base = 0u64;
            // Where a line longer than the cap began, while it is being skipped.
            let mut skipping: Option<u64> = None;
            loop {
                if chunk.data.len() < BLOCK {
                    chunk.data.resize(BLOCK, 0);
                }
                if filled == chunk.data.len() {
                    // One partial line fills the buffer and is still within the cap (else it
                    // would be skipped): room for more of it, up to one byte over the cap.
                    let len = (filled * 2).min(max_line.saturating_add(1)).max(filled + 1);
                    chunk.data.resize(len, 0);
                }
                let n = loop {
                    match reader.read(&mut chunk.data[filled..]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = reader_done.send((index, Err(e)));
                            return;
                        }
                    }
                };
                let eof = n == 0;
                filled += n;
                if let Some(from) = skipping {
                    let info = |terminated| LineInfo {
                        number: 0,
                        offset: from,
                        terminated,
                        too_long: true,
                    };
                    match memchr::memchr(b'\n', &chunk.data[..filled]) {
                        Some(i) => {
                            chunk.skipped = Some(info(true));
                            chunk.data.copy_within(i + 1..filled, 0);
                            base += (i + 1) as u64;
                            filled -= i + 1;
                        }
                        None if eof => {
                            chunk.skipped = Some(info(false));
                            base += filled as u64;
                            filled = 0;
                        }
                        None => {
                            base += filled as u64;
                            filled = 0;
                            continue;
                        }
                    }
                    skipping = None;
                }
                // Whole lines: up to the last `\n`, or everything at the end of the input.
                let end = if eof {
                    filled
                } else {
                    memchr::memrchr(b'\n', &chunk.data[..filled]).map_or(0, |i| i + 1)
                };
                if end > 0 || chunk.skipped.is_some() {
                    let mut start = 0;
                    if !examiner.alg_decided {
                        if let Some(info) = chunk.skipped.take() {
                            let facts = examiner.examine_first_aware(&info, &[]);
                            head.push((info, facts));
                        }
                        while !examiner.alg_decided
                            && let Some((info, range)) =
                                next_line(&chunk.data, &mut start, end, base, max_line)
                        {
                            let facts = examiner.examine_first_aware(&info, &chunk.data[range]);
                            head.push((info, facts));
                            if examiner.alg_decided || head.len() == HEAD_LINES {
                                let lines = std::mem::take(&mut head);
                                if credit_rx.recv().is_err()
                                    || reader_done.send((index, Ok(lines))).is_err()
                                {
                                    return;
                                }
                                index += 1;
                            }
                        }
                    }
                    let carry = filled - end;
                    if start < end || chunk.skipped.is_some() {
                        let mut next = spare_chunk_rx.try_recv().unwrap_or_default();
                        if next.data.len() < carry.max(BLOCK) {
                            next.data.resize(carry.max(BLOCK), 0);
                        }
                        next.data[..carry].copy_from_slice(&chunk.data[end..filled]);
                        chunk.index = index;
                        chunk.lines = start..end;
                        chunk.base = base;
                        chunk.alg = examiner.alg;
                        chunk.tree = examiner.tree_wanted;
                        if credit_rx.recv().is_err()
                            || job_tx.send(std::mem::replace(&mut chunk, next)).is_err()
                        {
                            return;
                        }
                        index += 1;
                    } else {
                        // Every line was examined here (or there were none).
                        chunk.data.copy_within(end..filled, 0);
                    }
                    base += end as u64;
                    filled = carry;
                }
                if eof {
                    break;
                }
                if end == 0 && filled > max_line {
                    // No `\n` in more than the cap: skip the line without holding it.
                    skipping = Some(base);
                    base += filled as u64;
                    filled = 0;
                }
            }
            if !head.is_empty() && credit_rx.recv().is_ok() {
                let _ = reader_done.send((index, Ok(head)));
            }
        });
        // Walk the examined chunks in file order, numbering the lines. After a read error the
        // channel is still drained, so that no thread stays blocked on a full channel and the
        // scope can end.
        let mut pending: BTreeMap<u64, Examined> = BTreeMap::new();
        let mut next = 0u64;
        let mut number = 0u64;
        let mut failure = None;
        for (index, result) in done_rx {
            match result {
                Ok(lines) if failure.is_none() => {
                    pending.insert(index, lines);
                }
                Ok(_) => {
                    let _ = credit_tx.try_send(());
                }
                Err(e) => {
                    failure.get_or_insert(e);
                    for _ in 0..pending.len() {
                        let _ = credit_tx.try_send(());
                    }
                    pending.clear();
                }
            }
            while let Some(mut lines) = pending.remove(&next) {
                for (info, facts) in lines.iter_mut() {
                    number += 1;
                    info.number = number;
                    walker.apply_in_place(info, facts);
                }
                lines.clear();
                let _ = spare_facts_tx.try_send(lines);
                let _ = credit_tx.try_send(());
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

    /// Hands out at most `step` bytes per read, so that blocks end anywhere.
    struct ShortReads<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl io::Read for ShortReads<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Entry lines as the writer writes them, each with a payload of `pad` bytes.
    fn entries(n: u64, pad: usize, key: &crate::chain::SigningKey) -> Vec<String> {
        let mut prev = crate::chain::GENESIS.to_owned();
        (0..n)
            .map(|seq| {
                let payload = crate::json::Value::Object(vec![(
                    "note".to_owned(),
                    crate::json::Value::from("n".repeat(pad)),
                )]);
                let kind = if seq == 0 { "audit_open" } else { "llm_call" };
                let e = crate::chain::SealedEntry::seal(
                    HashAlg::Sha256,
                    Some(key),
                    seq,
                    format!("2026-01-01T00:00:00.{seq:06}+00:00"),
                    kind.into(),
                    payload,
                    std::mem::take(&mut prev),
                );
                prev = e.hash.clone();
                e.to_line().trim_end().to_owned()
            })
            .collect()
    }

    #[test]
    fn block_reads_find_the_lines_line_by_line_reading_finds() {
        let key = crate::chain::SigningKey::from_bytes("k").unwrap();
        let opts = VerifyOptions {
            key: Some(key.clone()),
            max_line_bytes: 3000,
            ..VerifyOptions::default()
        };
        let lines = entries(3000, 300, &key);
        let long = |n: usize| format!("{{\"x\": \"{}\"}}", "a".repeat(n));
        let mut cases: Vec<Vec<u8>> = Vec::new();
        let mut add = |parts: Vec<String>, tail: &[u8]| {
            let mut bytes = parts.join("\n").into_bytes();
            bytes.extend_from_slice(tail);
            cases.push(bytes);
        };
        add(lines.clone(), b"\n");
        // Unterminated last line; torn last line; NUL-padded tail.
        add(lines.clone(), b"");
        add(lines.clone(), b"\n{\"seq\": 3000, \"ts");
        add(lines.clone(), b"\n\0\0\0\0");
        // CRLF, blank lines, lines that are not entries before the first entry (more than
        // the reader examines in one group).
        add(lines.iter().map(|l| format!("{l}\r")).collect(), b"\n");
        let mut headed = vec!["{\"no\": 1}".to_owned(); HEAD_LINES + 5];
        headed.push(String::new());
        headed.extend(lines.iter().cloned());
        add(headed, b"\n");
        // Lines over the cap: within a block, longer than a block (skipped without being
        // held), first, in the middle, last and unterminated.
        for (at, n) in [
            (0, 5000),
            (1, 3001),
            (1500, 3 << 20),
            (2000, BLOCK),
            (3000, 2 << 20),
        ] {
            let mut with = lines.clone();
            with.insert(at, long(n));
            add(with.clone(), b"\n");
            add(with, b"");
        }
        let mut edited = lines.clone();
        edited[1000] = edited[1000].replacen("nnn", "nnm", 1);
        edited.remove(2500);
        add(edited, b"\n");
        for (i, bytes) in cases.iter().enumerate() {
            let serial = super::super::verify_reader(bytes.as_slice(), "x", &opts).unwrap();
            for step in [usize::MAX, 7919] {
                let reader = io::BufReader::with_capacity(1000, ShortReads { data: bytes, step });
                let parallel = verify_parallel(reader, "x", &opts, 2).unwrap();
                let case = format!("case {i}, reads of {step}: {}", parallel.summary());
                assert_eq!(parallel.entries, serial.entries, "{case}");
                assert_eq!(parallel.head, serial.head, "{case}");
                assert_eq!(parallel.problem_count, serial.problem_count, "{case}");
                assert_eq!(parallel.problems, serial.problems, "{case}");
                assert_eq!(parallel.torn_tail, serial.torn_tail, "{case}");
                assert_eq!(
                    parallel.ends_with_newline, serial.ends_with_newline,
                    "{case}"
                );
                assert_eq!(parallel.signatures, serial.signatures, "{case}");
            }
            // Not a vacuous agreement: the entries were read, and only the sound cases (with
            // and without the last newline, with CRLF) are ok.
            assert!(serial.entries >= 2999, "case {i}: {}", serial.summary());
            assert_eq!(
                serial.ok(),
                [0, 1, 4].contains(&i),
                "case {i}: {}",
                serial.summary()
            );
        }
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
