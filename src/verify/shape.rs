//! The writers' line layout, read and canonicalised in one pass.
//!
//! Every writer we know of (acttrace-rs, the Python reference, the TypeScript port) writes an
//! entry as
//!
//! ```text
//! {"seq": N, "ts": "…", "type": "…", "payload": {…}, "prev_hash": "…", "hash": "…", "sig": "…"}
//! ```
//!
//! with `", "` and `": "` separators and the payload's keys in insertion order. The general
//! readers ([`crate::json::tape`], [`crate::json::parse`]) take any JSON text, record it and
//! then write the canonical body from the record: on a million-entry log that was about two
//! fifths of verification time (docs/PERFORMANCE.md, "Round 2: verify"). [`LineShape::read`]
//! instead expects those exact bytes and writes the canonical body (`{"payload":…,"seq":…,
//! "ts":…,"type":…}`) while it validates, sorting each payload object's members as it closes.
//!
//! It accepts only lines whose every token it can copy unchanged into the canonical form:
//! strings whose escapes are the ones the canonical form writes, integers and floats already
//! spelled as Python's `repr` spells them, no whitespace beyond the writers' separators, no
//! escaped or duplicate keys. Anything else (a reordered or extra top-level field, an exponent,
//! `\/` or `\u00e9`, another spacing, a deep nesting) is `None`, and the caller reads the line
//! with the general path, which also words every problem. So what the verifier reports does not
//! depend on which path read a line; the tests compare both on generated lines and near misses.
//!
//! It reads the line's bytes, not a `str`: every byte outside a string is one of the layout's
//! ASCII bytes, and each string's non-ASCII runs are checked to be UTF-8 as the string is
//! scanned, so a line it reads is UTF-8 without a separate pass over it (a line that is not
//! goes to the general path, which reports it as today).

use crate::hex::is_hash_hex_bytes;
use crate::json::tape::{special_at, special_or_high_at};

/// The top-level fields of a line read by [`LineShape::read`], borrowed from the line.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct Shaped<'a> {
    pub(super) seq: u64,
    /// UTF-8 (checked), without escapes.
    pub(super) ts: &'a [u8],
    /// UTF-8 (checked), without escapes.
    pub(super) kind: &'a [u8],
    /// 64 lowercase hex digits (checked).
    pub(super) prev_hash: &'a [u8; 64],
    /// 64 lowercase hex digits (checked).
    pub(super) hash: &'a [u8; 64],
    /// `None` for an empty `sig`, else 64 lowercase hex digits (checked).
    pub(super) sig: Option<&'a [u8; 64]>,
}

/// Scratch buffers reused from one line to the next.
#[derive(Default)]
pub(super) struct LineShape {
    /// The canonical body of the last line read.
    out: Out,
    /// Members of the payload objects still open, innermost last.
    members: Vec<Member>,
    /// The canonical text of an object's nested values while its members are put in key order.
    scratch: Vec<u8>,
    /// A float's canonical text, when it has to be written to be compared.
    float: String,
}

/// One member of an open object: where its key is in the line and where its value's canonical
/// text is. Offsets are `u32` (longer lines are left to the general path) so that a member is
/// 24 bytes: the members are moved while they are sorted.
#[derive(Clone, Copy)]
struct Member {
    /// The key's first eight bytes as a big-endian number, zero-padded: when two prefixes
    /// differ they order the keys as their bytes do, so most comparisons are one integer
    /// comparison rather than a `memcmp` call.
    prefix: u64,
    /// The key's bytes in the line, without the quotes.
    key: (u32, u32),
    /// The value's canonical text: its bytes in the line for a scalar (whose line text is its
    /// canonical text), or, with [`NESTED`] set in the start, in the output for an object or
    /// array (written canonically as it was read).
    value: (u32, u32),
}

/// Marks a [`Member::value`] that is in the output rather than in the line.
const NESTED: u32 = 1 << 31;

/// Nesting deeper than this inside the payload is left to the general path (which allows 256
/// levels): the fast path recurses, and real payloads are shallow.
const MAX_DEPTH: usize = 32;

/// Integers with more digits than this are left to the general path: they are exact there as
/// big integers, and never written by a sealing clock or counter.
const MAX_INT_DIGITS: usize = 38;

/// Floats with more significant digits than this are left to the general path: any two
/// decimals of at most 15 significant digits are distinct binary64 values (`DBL_DIG`), so such
/// a float, spelled without an exponent and without trailing zeros, is already the shortest
/// digit string that round-trips, which is what Python's `repr` (the canonical form) writes.
const MAX_FLOAT_DIGITS: usize = 15;

/// Spans up to this long are copied by [`Out::copy`] as a fixed-size block.
const STEP: usize = 64;

/// The canonical body being written. The buffer is kept longer than what has been written
/// (`len`), so that a short span is copied as a fixed [`STEP`]-byte block straight from the
/// line, the bytes past the span to be overwritten by what comes next: a few vector moves
/// where a `memcpy` call per key and per value showed in profiles.
#[derive(Default)]
struct Out {
    buf: Vec<u8>,
    len: usize,
}

impl Out {
    /// Starts a body for `line`. The canonical body of a line this module reads is never
    /// longer than the line (the same tokens, fewer spaces, and the header's and the chain
    /// fields' bytes replaced by fewer), so after this the writes below rarely take their
    /// slow path; they stay correct when they do.
    fn start(&mut self, line: &[u8]) {
        self.len = 0;
        let want = line.len() + 2 * STEP;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
    }

    /// Grows the buffer to hold `n` more bytes plus a step.
    #[cold]
    fn grow(&mut self, n: usize) {
        let need = self.len + n + STEP;
        self.buf.resize(need.max(2 * self.buf.len()), 0);
    }

    #[inline(always)]
    fn push(&mut self, b: u8) {
        match self.buf.get_mut(self.len) {
            Some(slot) => *slot = b,
            None => {
                self.grow(1);
                self.buf[self.len] = b;
            }
        }
        self.len += 1;
    }

    #[inline(always)]
    fn put<const N: usize>(&mut self, s: &[u8; N]) {
        match self
            .buf
            .get_mut(self.len..)
            .and_then(<[u8]>::first_chunk_mut::<N>)
        {
            Some(slot) => *slot = *s,
            None => {
                self.grow(N);
                self.buf[self.len..self.len + N].copy_from_slice(s);
            }
        }
        self.len += N;
    }

    /// Appends `src[start..end]`, reading up to a step past `end` when `src` has those bytes
    /// (in a line, all but its last bytes do).
    #[inline(always)]
    fn copy(&mut self, src: &[u8], start: usize, end: usize) {
        let n = end - start;
        let block = src.get(start..).and_then(<[u8]>::first_chunk::<STEP>);
        let slot = self
            .buf
            .get_mut(self.len..)
            .and_then(<[u8]>::first_chunk_mut::<STEP>);
        match (block, slot) {
            (Some(block), Some(slot)) if n <= STEP => *slot = *block,
            _ => self.copy_exact(&src[start..end]),
        }
        self.len += n;
    }

    /// [`Out::copy`]'s slow path: `s` at the end, without moving `len`.
    #[cold]
    fn copy_exact(&mut self, s: &[u8]) {
        if self.buf.len() < self.len + s.len() {
            self.grow(s.len());
        }
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
    }
}

/// The index of the first `"`, `\\` or control byte at or after `from` (see [`special_at`]),
/// with the non-ASCII bytes before it checked to be UTF-8; `None` when they are not. A
/// multi-byte character holds no ASCII byte, so checking each run of non-ASCII bytes on its
/// own is checking the text.
#[inline(always)]
fn scan_string(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i = special_or_high_at(bytes, i);
        match bytes.get(i) {
            Some(&b) if b >= 0x80 => {
                let end = special_at(bytes, i);
                std::str::from_utf8(&bytes[i..end]).ok()?;
                i = end;
            }
            _ => return Some(i),
        }
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Moves over `lit`, which must come next. Of a fixed size, so that the comparison is a
    /// few inlined loads rather than a `memcmp` call (which showed in profiles).
    fn lit<const N: usize>(&mut self, lit: &[u8; N]) -> Option<()> {
        let next: &[u8; N] = self.bytes.get(self.pos..)?.first_chunk()?;
        if next == lit {
            self.pos += N;
            Some(())
        } else {
            None
        }
    }

    /// The rest of a string whose opening quote was just read, when it has no escape; the
    /// closing quote is consumed.
    fn plain(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        let end = scan_string(self.bytes, start)?;
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        Some(&self.bytes[start..end])
    }

    /// 64 lowercase hex digits.
    fn hex64(&mut self) -> Option<&'a [u8; 64]> {
        let s: &'a [u8; 64] = self.bytes.get(self.pos..)?.first_chunk()?;
        if !is_hash_hex_bytes(s) {
            return None;
        }
        self.pos += 64;
        Some(s)
    }

    /// `seq`: a non-negative integer in `u64` without leading zeros.
    fn seq(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut n = 0u64;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') {
            return None;
        }
        Some(n)
    }
}

impl LineShape {
    /// Reads `line` (a trimmed line) when it is laid out exactly as the writers lay out an
    /// entry, writing its canonical body (then [`LineShape::body`]). `None` when the line is
    /// anything else, not UTF-8 included; the body then holds no meaningful bytes.
    pub(super) fn read<'a>(&mut self, line: &'a [u8]) -> Option<Shaped<'a>> {
        let mut out = std::mem::take(&mut self.out);
        out.start(line);
        let read = self.read_into(line, &mut out);
        self.out = out;
        read
    }

    /// The canonical body written by the last [`LineShape::read`] that returned a line.
    pub(super) fn body(&self) -> &[u8] {
        &self.out.buf[..self.out.len]
    }

    fn read_into<'a>(&mut self, line: &'a [u8], out: &mut Out) -> Option<Shaped<'a>> {
        // Offsets in a line, and in its body (never longer), fit a member's `u32` with the
        // `NESTED` bit clear.
        if line.len() >= NESTED as usize {
            return None;
        }
        let mut c = Cursor {
            bytes: line,
            pos: 0,
        };
        self.members.clear();
        c.lit(b"{\"seq\": ")?;
        let seq_start = c.pos;
        let seq = c.seq()?;
        let seq_end = c.pos;
        c.lit(b", \"ts\": \"")?;
        let ts_start = c.pos;
        let ts = c.plain()?;
        c.lit(b", \"type\": \"")?;
        let kind_start = c.pos;
        let kind = c.plain()?;
        c.lit(b", \"payload\": ")?;
        if c.peek() != Some(b'{') {
            return None;
        }
        out.put(b"{\"payload\":");
        self.object(&mut c, out, 1)?;
        c.lit(b", \"prev_hash\": \"")?;
        let prev_hash = c.hex64()?;
        c.lit(b"\", \"hash\": \"")?;
        let hash = c.hex64()?;
        c.lit(b"\", \"sig\": \"")?;
        let sig = if c.peek() == Some(b'"') {
            None
        } else {
            Some(c.hex64()?)
        };
        c.lit(b"\"")?;
        // An export pack's entries carry their `controls` (and some `adverse_controls`) after
        // the chain's fields: not hashed, but read, since the line must be sound JSON without
        // a repeated key. Written into the body to be read and then cut off again.
        let (mut controls, mut adverse) = (false, false);
        while c.peek() == Some(b',') {
            c.lit(b", \"")?;
            let seen = match c.plain()? {
                b"controls" => &mut controls,
                b"adverse_controls" => &mut adverse,
                _ => return None,
            };
            if std::mem::replace(seen, true) {
                return None;
            }
            c.lit(b": ")?;
            if c.peek() != Some(b'[') {
                return None;
            }
            let mark = out.len;
            self.array(&mut c, out, 1)?;
            out.len = mark;
        }
        c.lit(b"}")?;
        if c.pos != line.len() {
            return None;
        }
        // The same bytes as `chain::write_body`: keys in sorted order; `ts` and `type` hold
        // no escape, so their line text is their canonical text.
        out.put(b",\"seq\":");
        out.copy(line, seq_start, seq_end);
        out.put(b",\"ts\":\"");
        out.copy(line, ts_start, ts_start + ts.len());
        out.put(b"\",\"type\":\"");
        out.copy(line, kind_start, kind_start + kind.len());
        out.put(b"\"}");
        Some(Shaped {
            seq,
            ts,
            kind,
            prev_hash,
            hash,
            sig,
        })
    }

    /// A value at the cursor, written canonically.
    fn value(&mut self, c: &mut Cursor<'_>, out: &mut Out, depth: usize) -> Option<()> {
        match c.peek()? {
            b'{' => self.object(c, out, depth + 1),
            b'[' => self.array(c, out, depth + 1),
            _ => {
                let start = c.pos;
                scalar(c, &mut self.float)?;
                out.copy(c.bytes, start, c.pos);
                Some(())
            }
        }
    }

    /// An object at the cursor, written canonically: members in key (code point) order,
    /// without spaces. Scalar members are only read while the object is; once it closes, each
    /// member is written once, in key order, straight from the line. Nested values are written
    /// as they are read, and set aside before the members are written.
    fn object(&mut self, c: &mut Cursor<'_>, out: &mut Out, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        c.pos += 1;
        if c.peek() == Some(b'}') {
            c.pos += 1;
            out.put(b"{}");
            return Some(());
        }
        let open = out.len;
        let base = self.members.len();
        let mut any_nested = false;
        loop {
            c.lit(b"\"")?;
            let key_start = c.pos;
            let end = scan_string(c.bytes, key_start)?;
            // An escaped key would sort by its decoded text, not its bytes here.
            if c.bytes.get(end) != Some(&b'"') {
                return None;
            }
            c.pos = end + 1;
            c.lit(b": ")?;
            let at = c.pos;
            let value = match c.peek()? {
                b'"' => {
                    string(c)?;
                    (at as u32, c.pos as u32)
                }
                b'{' | b'[' => {
                    any_nested = true;
                    let at = out.len;
                    self.value(c, out, depth)?;
                    if out.len >= NESTED as usize {
                        return None;
                    }
                    (at as u32 | NESTED, out.len as u32)
                }
                _ => {
                    scalar(c, &mut self.float)?;
                    (at as u32, c.pos as u32)
                }
            };
            self.members.push(Member {
                prefix: sort_prefix(c.bytes, key_start, end),
                key: (key_start as u32, end as u32),
                value,
            });
            match c.peek()? {
                b',' => c.lit(b", ")?,
                b'}' => {
                    c.pos += 1;
                    break;
                }
                _ => return None,
            }
        }
        let bytes = c.bytes;
        // Python sorts `str` keys by code point; UTF-8 byte order is the same order.
        let key = |m: &Member| &bytes[m.key.0 as usize..m.key.1 as usize];
        let order =
            |a: &Member, b: &Member| a.prefix.cmp(&b.prefix).then_with(|| key(a).cmp(key(b)));
        let members = &mut self.members[base..];
        if !members.windows(2).all(|w| order(&w[0], &w[1]).is_lt()) {
            // Insertion sort: payloads are small and often nearly sorted.
            for i in 1..members.len() {
                let cur = members[i];
                let mut j = i;
                while j > 0 && order(&members[j - 1], &cur).is_gt() {
                    members[j] = members[j - 1];
                    j -= 1;
                }
                members[j] = cur;
            }
            if members.windows(2).any(|w| order(&w[0], &w[1]).is_eq()) {
                return None;
            }
        }
        if any_nested {
            self.scratch.clear();
            self.scratch.extend_from_slice(&out.buf[open..out.len]);
            out.len = open;
        }
        out.push(b'{');
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // `"key":` as the line has it, before its space.
            out.copy(bytes, m.key.0 as usize - 1, m.key.1 as usize + 2);
            let (start, end) = (m.value.0 as usize, m.value.1 as usize);
            if start & NESTED as usize != 0 {
                out.copy(
                    &self.scratch,
                    (start & !(NESTED as usize)) - open,
                    end - open,
                );
            } else {
                out.copy(bytes, start, end);
            }
        }
        out.push(b'}');
        self.members.truncate(base);
        Some(())
    }

    /// An array at the cursor, written canonically (no spaces).
    fn array(&mut self, c: &mut Cursor<'_>, out: &mut Out, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        c.pos += 1;
        out.push(b'[');
        if c.peek() == Some(b']') {
            c.pos += 1;
            out.push(b']');
            return Some(());
        }
        loop {
            self.value(c, out, depth)?;
            match c.peek()? {
                b',' => {
                    c.lit(b", ")?;
                    out.push(b',');
                }
                b']' => {
                    c.pos += 1;
                    out.push(b']');
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The first eight bytes of the key `line[start..end]` as a big-endian number, zero-padded
/// (see [`Member::prefix`]). Eight bytes are loaded from the line and the ones past the key
/// masked off: a key is followed by at least `": ` and a value, so the load is all but always
/// there, where copying a key shorter than eight bytes was a `memcpy` call.
#[inline(always)]
fn sort_prefix(line: &[u8], start: usize, end: usize) -> u64 {
    let n = end - start;
    match line.get(start..).and_then(<[u8]>::first_chunk::<8>) {
        Some(word) if n < 8 => u64::from_be_bytes(*word) & !(u64::MAX >> (8 * n)),
        Some(word) => u64::from_be_bytes(*word),
        None => {
            let n = n.min(8);
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&line[start..start + n]);
            u64::from_be_bytes(b)
        }
    }
}

/// Moves over a string, number or literal at the cursor when its line text is its canonical
/// text.
#[inline]
fn scalar(c: &mut Cursor<'_>, float: &mut String) -> Option<()> {
    match c.peek()? {
        b'"' => string(c),
        b't' => c.lit(b"true"),
        b'f' => c.lit(b"false"),
        b'n' => c.lit(b"null"),
        b'-' | b'0'..=b'9' => number(c, float),
        _ => None,
    }
}

/// A string at the cursor whose escapes are exactly those the canonical form writes (see
/// `json::write_string`: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, and `\u00xx` in lowercase
/// for the other control characters), so that its line text is its canonical text.
fn string(c: &mut Cursor<'_>) -> Option<()> {
    let mut i = c.pos + 1;
    loop {
        i = scan_string(c.bytes, i)?;
        match c.bytes.get(i)? {
            b'"' => break,
            b'\\' => {
                i += match c.bytes.get(i + 1)? {
                    b'"' | b'\\' | b'n' | b'r' | b't' | b'b' | b'f' => 2,
                    b'u' => match c.bytes.get(i + 2..i + 6)? {
                        [
                            b'0',
                            b'0',
                            hi @ (b'0' | b'1'),
                            lo @ (b'0'..=b'9' | b'a'..=b'f'),
                        ] => {
                            // The named ones are written by name.
                            if *hi == b'0' && matches!(lo, b'8' | b'9' | b'a' | b'c' | b'd') {
                                return None;
                            }
                            6
                        }
                        _ => return None,
                    },
                    _ => return None,
                };
            }
            _ => return None,
        }
    }
    c.pos = i + 1;
    Some(())
}

/// A number at the cursor when its text is its canonical text: an integer other than `-0`, or
/// a float as Python's `repr` writes it. Most floats are recognised from their digits (see
/// [`float_is_canonical`]); the others (17 significant digits, an exponent) are written
/// canonically into `buf` and compared, as the general path would write them.
fn number(c: &mut Cursor<'_>, buf: &mut String) -> Option<()> {
    let b = c.bytes;
    let start = c.pos;
    let mut i = start + usize::from(b[start] == b'-');
    let int_start = i;
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => {
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
        }
        _ => return None,
    }
    let int = &b[int_start..i];
    let mut frac = None;
    if b.get(i) == Some(&b'.') {
        let frac_start = i + 1;
        i = frac_start;
        while let Some(b'0'..=b'9') = b.get(i) {
            i += 1;
        }
        if i == frac_start {
            return None;
        }
        frac = Some(&b[frac_start..i]);
    }
    let mut exponent = false;
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let digits = i;
        while let Some(b'0'..=b'9') = b.get(i) {
            i += 1;
        }
        if i == digits {
            return None;
        }
        exponent = true;
    }
    let text = &b[start..i];
    match frac {
        Some(frac) if !exponent && float_is_canonical(int, frac) => {}
        None if !exponent => {
            if int.len() > MAX_INT_DIGITS || text == b"-0" {
                return None;
            }
        }
        // `1e5` is a float too, whose canonical text is `100000.0`.
        _ => {
            // ASCII: only digits, sign, point and exponent were read.
            let text = std::str::from_utf8(text).ok()?;
            let x: f64 = text.parse().ok()?;
            buf.clear();
            crate::json::Number::from_f64(x).write_to(buf);
            if buf != text {
                return None;
            }
        }
    }
    c.pos = i;
    Some(())
}

/// Whether `int.frac` (the digits either side of the point) is what Python's `repr` writes for
/// its value: positional notation (the value in `[1e-4, 1e16)`), no trailing zero except the
/// one after the point of an integral value, at most [`MAX_FLOAT_DIGITS`] significant digits.
/// Zero is `0.0` (or `-0.0`), as `repr` writes it (a writer's measured duration often is).
fn float_is_canonical(int: &[u8], frac: &[u8]) -> bool {
    if frac.is_empty() {
        return false;
    }
    if int == b"0" && frac == b"0" {
        return true;
    }
    if int == b"0" {
        let zeros = frac.iter().take_while(|&&d| d == b'0').count();
        // 0.0001 is repr'd positionally, 0.00001 as 1e-05; an all-zero fraction is zero.
        zeros <= 3
            && zeros < frac.len()
            && frac.last() != Some(&b'0')
            && frac.len() - zeros <= MAX_FLOAT_DIGITS
    } else if frac == b"0" {
        let significant = int.len() - int.iter().rev().take_while(|&&d| d == b'0').count();
        int.len() <= 16 && significant <= MAX_FLOAT_DIGITS
    } else {
        frac.last() != Some(&b'0') && int.len() + frac.len() <= MAX_FLOAT_DIGITS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 3000,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5ca1),
            ..ProptestConfig::default()
        })]

        /// The word-at-a-time scan stops exactly at the first special or non-ASCII byte, and
        /// the string scan at the first special byte, refusing exactly the texts whose bytes
        /// before it are not UTF-8.
        #[test]
        fn string_scans_stop_where_a_byte_at_a_time_scan_does(
            bytes in proptest::collection::vec(prop_oneof![
                6 => 0x20u8..0x7f,
                1 => Just(b'"'),
                1 => Just(b'\\'),
                1 => 0u8..0x20,
                3 => 0x80u8..=0xff,
            ], 0..48),
            text in "[^\"\\\\\\x00-\\x1f]{0,12}",
            from in 0usize..49,
        ) {
            let from = from.min(bytes.len());
            let naive = bytes[from..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))
                .map_or(bytes.len(), |i| from + i);
            prop_assert_eq!(special_or_high_at(&bytes, from), naive);

            let end = special_at(&bytes, from);
            let utf8 = std::str::from_utf8(&bytes[from..end]).is_ok();
            prop_assert_eq!(scan_string(&bytes, from), utf8.then_some(end));
            // Text without a special byte, then a quote: found, its non-ASCII checked.
            let quoted = format!("{text}\"tail");
            prop_assert_eq!(scan_string(quoted.as_bytes(), 0), Some(text.len()));
        }

        /// A member's integer prefix orders keys as their first eight bytes do, whether the
        /// line has eight bytes from the key on or not.
        #[test]
        fn sort_prefixes_are_the_keys_first_bytes(
            key in proptest::collection::vec(1u8..=0xff, 0..12),
            tail in proptest::collection::vec(any::<u8>(), 0..10),
        ) {
            let mut line = key.clone();
            line.extend_from_slice(&tail);
            let mut want = [0u8; 8];
            let n = key.len().min(8);
            want[..n].copy_from_slice(&key[..n]);
            prop_assert_eq!(sort_prefix(&line, 0, key.len()), u64::from_be_bytes(want));
        }
    }

    #[test]
    fn spans_are_copied_exactly_wherever_they_end() {
        let line: Vec<u8> = (0..200u8).collect();
        let mut out = Out::default();
        out.start(&line[..10]);
        let mut want = Vec::new();
        for (start, end) in [
            (0, 0),
            (3, 9),
            (0, 64),
            (1, 65),
            (150, 200),
            (199, 200),
            (5, 140),
        ] {
            out.copy(&line, start, end);
            want.extend_from_slice(&line[start..end]);
            out.push(b'|');
            want.push(b'|');
            out.put(b"ab");
            want.extend_from_slice(b"ab");
        }
        assert_eq!(&out.buf[..out.len], &want[..]);
    }
}
