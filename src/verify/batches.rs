//! Verifying a chain stored as a sequence of batches (one broker message per batch, say) in
//! one pass: each batch's lines go through the same examiner and walker as a file's, and each
//! problem names the batch it was found in, so a report points at the stored message and not
//! only at a line number that exists nowhere but in the reader's count.

use super::examine::Examiner;
use super::lines::LineSplitter;
use super::walk::Walker;
use super::{Observed, ProblemKind, Verification, VerifyOptions, observe};

/// A chain verifier fed one stored batch at a time, in order. Memory: one capped line, the
/// listed problems, and the walker's fixed state; nothing grows with the number of batches.
pub struct BatchVerifier<'o> {
    opts: &'o VerifyOptions,
    walker: Walker<'o>,
    lines: LineSplitter,
    examiner: Examiner,
    batches: u64,
}

impl<'o> BatchVerifier<'o> {
    /// A verifier for the chain `source` (named in messages) with `opts`.
    pub fn new(source: &str, opts: &'o VerifyOptions) -> BatchVerifier<'o> {
        BatchVerifier {
            opts,
            walker: Walker::new(source, opts),
            lines: LineSplitter::new(opts.max_line_bytes),
            examiner: Examiner::new(opts.key.clone(), opts.checkpoints.keys.clone()),
            batches: 0,
        }
    }

    /// How many batches were pushed.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Verifies the next batch's lines; `label` (for example `stream seq 17`) is appended to
    /// every problem found in it. A batch must end with `\n`: one that does not is reported as
    /// truncated and read as if it did, so that its last line is not joined to the next batch.
    pub fn push(&mut self, label: &str, bytes: &[u8]) {
        self.push_observed(label, bytes, &mut |_| {});
    }

    /// As [`push`](Self::push), handing each line to `observer` as
    /// [`verify_observed`](super::verify_observed) does.
    pub fn push_observed(
        &mut self,
        label: &str,
        bytes: &[u8],
        observer: &mut dyn FnMut(Observed<'_>),
    ) {
        self.push_each(label, bytes, Some(observer), &mut |_, _, _, _, _| {});
    }

    /// As [`push`](Self::push), handing each chain entry's seq, hash, `prev_hash`, line and the
    /// verifier's tree after it (when it keeps one) to
    /// `each` (as [`verify_reader_each`](super::verify_reader_each) does: no parse beyond the
    /// examiner's), and each line to `observer` when there is one (which parses every entry
    /// into a value tree).
    pub(crate) fn push_each(
        &mut self,
        label: &str,
        bytes: &[u8],
        mut observer: Option<&mut dyn FnMut(Observed<'_>)>,
        each: &mut super::EachEntry<'_>,
    ) {
        self.batches += 1;
        let before = self.walker.listed_problems();
        let padded;
        let mut reader: &[u8] = if bytes.last() == Some(&b'\n') {
            bytes
        } else {
            self.walker.problem_between_lines(
                ProblemKind::Malformed,
                if bytes.is_empty() {
                    "empty batch: no entries".to_owned()
                } else {
                    "truncated batch: it does not end with a newline".to_owned()
                },
            );
            let mut b = bytes.to_vec();
            if !b.is_empty() {
                b.push(b'\n');
            }
            padded = b;
            &padded
        };
        // A slice never fails to read.
        while let Ok(Some(info)) = self.lines.next(&mut reader) {
            let facts = self.examiner.examine_first_aware(&info, self.lines.buf());
            if let super::LineFacts::Entry(entry) = &facts {
                let tree = self.walker.tree.frontier();
                each(
                    entry.seq,
                    &entry.hash,
                    &entry.prev_hash,
                    self.lines.buf(),
                    tree,
                );
            }
            if let Some(observer) = observer.as_deref_mut() {
                observe(
                    &info,
                    self.lines.buf(),
                    &facts,
                    self.opts.max_line_bytes,
                    observer,
                );
            }
            self.walker.apply(&info, facts);
        }
        self.walker.end_of_batch();
        self.walker.label_problems_since(before, label);
    }

    /// Records a problem with the batch itself (its headers, say), labelled like the others.
    pub fn batch_problem(&mut self, label: &str, detail: String) {
        let before = self.walker.listed_problems();
        self.walker
            .problem_between_lines(ProblemKind::Malformed, detail);
        self.walker.label_problems_since(before, label);
    }

    /// The report.
    pub fn finish(self) -> Verification {
        self.walker.finish()
    }
}
