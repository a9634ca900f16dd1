//! Reading a log line by line with a cap on the line length, so that a hostile file cannot
//! make the verifier hold more than one capped line at a time.

use std::io::{self, BufRead};

/// Where a line sits in the file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineInfo {
    /// 1-based line number.
    pub(crate) number: u64,
    /// Byte offset of the line's start.
    pub(crate) offset: u64,
    /// Whether it ended with `\n`.
    pub(crate) terminated: bool,
    /// Whether it exceeded the length cap (its bytes were skipped).
    pub(crate) too_long: bool,
}

/// Splits a reader into lines with [`read_line_capped`], numbering them.
pub(crate) struct LineSplitter {
    buf: Vec<u8>,
    consumed: u64,
    number: u64,
    cap: usize,
}

impl LineSplitter {
    pub(crate) fn new(cap: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            consumed: 0,
            number: 0,
            cap,
        }
    }

    /// The next line's position; its bytes are in [`buf`](Self::buf).
    pub(crate) fn next(&mut self, reader: &mut impl BufRead) -> io::Result<Option<LineInfo>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let line = self.append_next(reader, &mut buf);
        self.buf = buf;
        line
    }

    /// The next line's position; its bytes are appended to `out` (nothing is, when it is too
    /// long).
    pub(super) fn append_next(
        &mut self,
        reader: &mut impl BufRead,
        out: &mut Vec<u8>,
    ) -> io::Result<Option<LineInfo>> {
        let offset = self.consumed;
        let read = read_line_capped(reader, out, self.cap, &mut self.consumed)?;
        let (terminated, too_long) = match read {
            LineRead::Eof => return Ok(None),
            LineRead::Line { terminated } => (terminated, false),
            LineRead::TooLong { terminated } => (terminated, true),
        };
        self.number += 1;
        Ok(Some(LineInfo {
            number: self.number,
            offset,
            terminated,
            too_long,
        }))
    }

    pub(crate) fn buf(&self) -> &[u8] {
        &self.buf
    }
}

/// The line starting at `*pos` in `data[..end]`, which holds whole lines (only the last may
/// lack its `\n`, at the end of the input), with its bytes' range in `data` (empty when the
/// line is longer than `cap`); moves `*pos` past it. `base` is the file offset of `data[0]`.
/// The line number is left 0: whoever sees the lines in file order numbers them.
pub(super) fn next_line(
    data: &[u8],
    pos: &mut usize,
    end: usize,
    base: u64,
    cap: usize,
) -> Option<(LineInfo, std::ops::Range<usize>)> {
    let start = *pos;
    if start >= end {
        return None;
    }
    let (stop, terminated) = match memchr::memchr(b'\n', &data[start..end]) {
        Some(i) => (start + i, true),
        None => (end, false),
    };
    *pos = stop + usize::from(terminated);
    let too_long = stop - start > cap;
    let info = LineInfo {
        number: 0,
        offset: base + start as u64,
        terminated,
        too_long,
    };
    Some((info, if too_long { start..start } else { start..stop }))
}

enum LineRead {
    Eof,
    Line { terminated: bool },
    TooLong { terminated: bool },
}

/// Appends one `\n`-terminated line to `buf` (without the `\n`), never holding more than `cap`
/// bytes of it: a longer line is skipped to its end and reported (and `buf` left as it was).
/// Adds the bytes consumed (the `\n` included) to `consumed`.
fn read_line_capped(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
    consumed: &mut u64,
) -> io::Result<LineRead> {
    let start = buf.len();
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match (read_any, too_long) {
                (false, _) => LineRead::Eof,
                (true, false) => LineRead::Line { terminated: false },
                (true, true) => LineRead::TooLong { terminated: false },
            });
        }
        read_any = true;
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() - start + take > cap {
                too_long = true;
                buf.truncate(start);
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        r.consume(take + usize::from(done));
        *consumed += (take + usize::from(done)) as u64;
        if done {
            return Ok(if too_long {
                LineRead::TooLong { terminated: true }
            } else {
                LineRead::Line { terminated: true }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped(input: &[u8], cap: usize) -> Vec<String> {
        let mut r = io::BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            buf.clear();
            match read_line_capped(&mut r, &mut buf, cap, &mut 0).unwrap() {
                LineRead::Eof => return out,
                LineRead::Line { .. } => out.push(String::from_utf8_lossy(&buf).into_owned()),
                LineRead::TooLong { terminated } => {
                    out.push(format!("<long>{}", if terminated { "$" } else { "" }))
                }
            }
        }
    }

    #[test]
    fn lines_are_read_with_a_cap_across_buffer_boundaries() {
        assert_eq!(
            capped(b"abc\ndefghij\n\nxy", 5),
            ["abc", "<long>$", "", "xy"]
        );
        assert_eq!(capped(b"abcdefgh", 5), ["<long>"]);
        assert_eq!(capped(b"", 5), Vec::<String>::new());
    }
}
