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

use crate::hex::is_hash_hex;
use crate::json::tape::special_at;

/// The top-level fields of a line read by [`LineShape::read`], borrowed from the line.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct Shaped<'a> {
    pub(super) seq: u64,
    pub(super) ts: &'a str,
    pub(super) kind: &'a str,
    /// 64 lowercase hex digits (checked).
    pub(super) prev_hash: &'a str,
    /// 64 lowercase hex digits (checked).
    pub(super) hash: &'a str,
    /// Empty, or 64 lowercase hex digits (checked).
    pub(super) sig: &'a str,
}

/// Scratch buffers reused from one line to the next.
#[derive(Default)]
pub(super) struct LineShape {
    /// Members of the payload objects still open, innermost last.
    members: Vec<Member>,
    /// An object's canonical members while they are put in key order.
    scratch: String,
    /// A float's canonical text, when it has to be written to be compared.
    float: String,
}

/// One member of an open object: its key's bytes in the line (without the quotes) and its
/// canonical `"key":value` in the output.
#[derive(Clone, Copy)]
struct Member {
    /// The key's first eight bytes as a big-endian number, zero-padded: when two prefixes
    /// differ they order the keys as their bytes do, so most comparisons are one integer
    /// comparison rather than a `memcmp` call.
    prefix: u64,
    key: (usize, usize),
    out: (usize, usize),
}

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

struct Cursor<'a> {
    text: &'a str,
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
    fn plain(&mut self) -> Option<&'a str> {
        let start = self.pos;
        let end = special_at(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.pos = end + 1;
        self.text.get(start..end)
    }

    /// 64 lowercase hex digits.
    fn hex64(&mut self) -> Option<&'a str> {
        let s = self.text.get(self.pos..self.pos + 64)?;
        if !is_hash_hex(s) {
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
    /// Reads `text` (a trimmed line) when it is laid out exactly as the writers lay out an
    /// entry, writing its canonical body into `body` (cleared first). `None` when the line is
    /// anything else; `body` then holds no meaningful bytes.
    pub(super) fn read<'a>(&mut self, text: &'a str, body: &mut String) -> Option<Shaped<'a>> {
        let mut c = Cursor {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        };
        self.members.clear();
        c.lit(b"{\"seq\": ")?;
        let seq_start = c.pos;
        let seq = c.seq()?;
        let seq_text = &text[seq_start..c.pos];
        c.lit(b", \"ts\": \"")?;
        let ts = c.plain()?;
        c.lit(b", \"type\": \"")?;
        let kind = c.plain()?;
        c.lit(b", \"payload\": ")?;
        if c.peek() != Some(b'{') {
            return None;
        }
        body.clear();
        body.push_str("{\"payload\":");
        self.object(&mut c, body, 1)?;
        c.lit(b", \"prev_hash\": \"")?;
        let prev_hash = c.hex64()?;
        c.lit(b"\", \"hash\": \"")?;
        let hash = c.hex64()?;
        c.lit(b"\", \"sig\": \"")?;
        let sig = if c.peek() == Some(b'"') {
            ""
        } else {
            c.hex64()?
        };
        c.lit(b"\"")?;
        // An export pack's entries carry their `controls` (and some `adverse_controls`) after
        // the chain's fields: not hashed, but read, since the line must be sound JSON without
        // a repeated key. Written into `body` to be read and then cut off again.
        let (mut controls, mut adverse) = (false, false);
        while c.peek() == Some(b',') {
            c.lit(b", \"")?;
            let seen = match c.plain()? {
                "controls" => &mut controls,
                "adverse_controls" => &mut adverse,
                _ => return None,
            };
            if std::mem::replace(seen, true) {
                return None;
            }
            c.lit(b": ")?;
            if c.peek() != Some(b'[') {
                return None;
            }
            let mark = body.len();
            self.array(&mut c, body, 1)?;
            body.truncate(mark);
        }
        c.lit(b"}")?;
        if c.pos != text.len() {
            return None;
        }
        // The same bytes as `chain::write_body`: keys in sorted order; `ts` and `type` hold
        // no escape, so their line text is their canonical text.
        body.push_str(",\"seq\":");
        body.push_str(seq_text);
        body.push_str(",\"ts\":\"");
        body.push_str(ts);
        body.push_str("\",\"type\":\"");
        body.push_str(kind);
        body.push_str("\"}");
        Some(Shaped {
            seq,
            ts,
            kind,
            prev_hash,
            hash,
            sig,
        })
    }

    fn value(&mut self, c: &mut Cursor<'_>, out: &mut String, depth: usize) -> Option<()> {
        match c.peek()? {
            b'{' => self.object(c, out, depth + 1),
            b'[' => self.array(c, out, depth + 1),
            b'"' => string(c, out),
            b't' => copy_lit(c, out, b"true"),
            b'f' => copy_lit(c, out, b"false"),
            b'n' => copy_lit(c, out, b"null"),
            b'-' | b'0'..=b'9' => number(c, out, &mut self.float),
            _ => None,
        }
    }

    /// An object at the cursor, written canonically: members in key (code point) order,
    /// without spaces.
    fn object(&mut self, c: &mut Cursor<'_>, out: &mut String, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        c.pos += 1;
        let open = out.len();
        out.push('{');
        if c.peek() == Some(b'}') {
            c.pos += 1;
            out.push('}');
            return Some(());
        }
        let base = self.members.len();
        loop {
            c.lit(b"\"")?;
            let key_start = c.pos;
            let end = special_at(c.bytes, key_start);
            // An escaped key would sort by its decoded text, not its bytes here.
            if c.bytes.get(end) != Some(&b'"') {
                return None;
            }
            c.pos = end + 1;
            c.lit(b": ")?;
            let at = out.len();
            out.push_str(&c.text[key_start - 1..end + 1]);
            out.push(':');
            self.value(c, out, depth)?;
            self.members.push(Member {
                prefix: sort_prefix(&c.bytes[key_start..end]),
                key: (key_start, end),
                out: (at, out.len()),
            });
            match c.peek()? {
                b',' => {
                    c.lit(b", ")?;
                    out.push(',');
                }
                b'}' => {
                    c.pos += 1;
                    break;
                }
                _ => return None,
            }
        }
        let bytes = c.bytes;
        // Python sorts `str` keys by code point; UTF-8 byte order is the same order.
        let order = |a: &Member, b: &Member| {
            a.prefix
                .cmp(&b.prefix)
                .then_with(|| bytes[a.key.0..a.key.1].cmp(&bytes[b.key.0..b.key.1]))
        };
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
            self.scratch.clear();
            self.scratch.push_str(&out[open..]);
            out.truncate(open + 1);
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&self.scratch[m.out.0 - open..m.out.1 - open]);
            }
        }
        out.push('}');
        self.members.truncate(base);
        Some(())
    }

    /// An array at the cursor, written canonically (no spaces).
    fn array(&mut self, c: &mut Cursor<'_>, out: &mut String, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        c.pos += 1;
        out.push('[');
        if c.peek() == Some(b']') {
            c.pos += 1;
            out.push(']');
            return Some(());
        }
        loop {
            self.value(c, out, depth)?;
            match c.peek()? {
                b',' => {
                    c.lit(b", ")?;
                    out.push(',');
                }
                b']' => {
                    c.pos += 1;
                    out.push(']');
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The first eight bytes of `key` as a big-endian number, zero-padded (see [`Member::prefix`]).
fn sort_prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

fn copy_lit<const N: usize>(c: &mut Cursor<'_>, out: &mut String, lit: &[u8; N]) -> Option<()> {
    c.lit(lit)?;
    // ASCII, so one char per byte.
    out.extend(lit.iter().map(|&b| char::from(b)));
    Some(())
}

/// A string at the cursor whose escapes are exactly those the canonical form writes (see
/// `json::write_string`: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, and `\u00xx` in lowercase
/// for the other control characters), so that its line text is its canonical text.
fn string(c: &mut Cursor<'_>, out: &mut String) -> Option<()> {
    let start = c.pos;
    let mut i = start + 1;
    loop {
        i = special_at(c.bytes, i);
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
    out.push_str(&c.text[start..c.pos]);
    Some(())
}

/// A number at the cursor when its text is its canonical text: an integer other than `-0`, or
/// a float as Python's `repr` writes it. Most floats are recognised from their digits (see
/// [`float_is_canonical`]); the others (17 significant digits, an exponent) are written
/// canonically into `buf` and compared, as the general path would write them.
fn number(c: &mut Cursor<'_>, out: &mut String, buf: &mut String) -> Option<()> {
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
    let text = &c.text[start..i];
    match frac {
        Some(frac) if !exponent && float_is_canonical(int, frac) => {}
        None if !exponent => {
            if int.len() > MAX_INT_DIGITS || text == "-0" {
                return None;
            }
        }
        // `1e5` is a float too, whose canonical text is `100000.0`.
        _ => {
            let x: f64 = text.parse().ok()?;
            buf.clear();
            crate::json::Number::from_f64(x).write_to(buf);
            if buf != text {
                return None;
            }
        }
    }
    c.pos = i;
    out.push_str(text);
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
