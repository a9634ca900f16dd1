//! A borrowed, allocation-free reading of one JSON text, for the verifier's hot path.
//!
//! [`super::parse`] builds a [`super::Value`] tree: every key and string is an allocation of its
//! own, and the tree is freed as soon as the line's hash is checked. On a log of a million
//! entries that churn was about a fifth of verification time (profile in
//! `docs/PERFORMANCE.md`). A [`Tape`] records the same values as a flat list of nodes that
//! point back into the text; only strings holding escapes are decoded, into one buffer. Each
//! object's keys are sorted once, when the object closes (which is also how duplicates are
//! found), so the canonical form is written straight from the tape. All buffers are reused from
//! one text to the next.
//!
//! It accepts exactly the texts [`super::parse`] accepts and writes byte-identical canonical
//! forms (the tests compare both on generated and hand-picked inputs). It does not explain a
//! failure: on any error the caller parses the text again with [`super::parse`], which says
//! what is wrong, where, and whether the text was cut short. Keeping one error path means the
//! messages cannot drift apart.

use std::fmt::Write as _;

use super::{MAX_DEPTH, MAX_INT_DIGITS, Number};

/// The text is not one the tape represents (anything [`super::parse`] refuses).
#[derive(Debug)]
pub(crate) struct Reject;

/// Positions are `u32` to keep nodes at 16 bytes; texts of 4 GiB or more are left to
/// [`super::parse`].
type Pos = u32;

#[derive(Clone, Copy, Debug)]
enum Node {
    Null,
    Bool(bool),
    /// An integer, as its source text (valid JSON integer text is already normalised, except
    /// `-0`).
    Int {
        start: Pos,
        end: Pos,
    },
    Float(f64),
    /// A string without escapes: its source bytes are its value, and its canonical form too.
    Str {
        start: Pos,
        end: Pos,
    },
    /// A string with escapes, decoded into [`Tape::decoded`].
    Escaped {
        start: Pos,
        end: Pos,
    },
    /// Its items follow it; `end` is the index just past its last descendant.
    Array {
        end: Pos,
    },
    /// Its members follow it as key node, value nodes; `sorted..sorted + len` indexes
    /// [`Tape::sorted`], which lists the key nodes in canonical (code point) order.
    Object {
        end: Pos,
        sorted: Pos,
        len: Pos,
    },
}

/// Reusable buffers for reading texts one after the other.
#[derive(Debug, Default)]
pub(crate) struct Tape {
    nodes: Vec<Node>,
    decoded: String,
    sorted: Vec<Pos>,
    /// Key nodes of the objects still open, innermost last, each with its sort prefix.
    open_keys: Vec<(u64, Pos)>,
}

/// Buffers grown beyond this many nodes by one huge line are released afterwards, so that a
/// single hostile line does not pin its memory for the rest of a run.
const KEEP_NODES: usize = 1 << 16;

impl Tape {
    /// Reads `text`; `Err` when [`super::parse`] would refuse it.
    pub(crate) fn parse<'a>(&'a mut self, text: &'a str) -> Result<Doc<'a>, Reject> {
        if Pos::try_from(text.len()).is_err() {
            return Err(Reject);
        }
        if self.nodes.capacity() > KEEP_NODES {
            *self = Tape::default();
        }
        self.nodes.clear();
        self.decoded.clear();
        self.sorted.clear();
        self.open_keys.clear();
        let mut p = Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
            tape: self,
        };
        p.skip_ws();
        p.value()?;
        p.skip_ws();
        if p.pos != p.bytes.len() {
            return Err(Reject);
        }
        Ok(Doc { text, tape: self })
    }

    /// The bytes of key node `id`.
    fn key_bytes<'a>(&'a self, text: &'a str, id: Pos) -> &'a [u8] {
        match self.nodes[id as usize] {
            Node::Str { start, end } => &text.as_bytes()[start as usize..end as usize],
            Node::Escaped { start, end } => &self.decoded.as_bytes()[start as usize..end as usize],
            _ => unreachable!("object keys are string nodes"),
        }
    }
}

/// A text read into a [`Tape`]. Nodes are named by index; the root is node 0.
pub(crate) struct Doc<'a> {
    text: &'a str,
    tape: &'a Tape,
}

/// A node of a [`Doc`].
pub(crate) type NodeId = usize;

impl<'a> Doc<'a> {
    /// The root value.
    pub(crate) fn root(&self) -> NodeId {
        0
    }

    /// The members of object `id` in text order, as (key, value) pairs; `None` when `id` is not
    /// an object.
    pub(crate) fn members(&self, id: NodeId) -> Option<impl Iterator<Item = (&'a str, NodeId)>> {
        let Node::Object { end, .. } = self.tape.nodes[id] else {
            return None;
        };
        let mut key = id + 1;
        Some(std::iter::from_fn(move || {
            if key >= end as usize {
                return None;
            }
            let (k, v) = (key, key + 1);
            key = self.end_of(v);
            Some((self.str_at(k)?, v))
        }))
    }

    /// The string node `id`'s value.
    pub(crate) fn as_str(&self, id: NodeId) -> Option<&'a str> {
        self.str_at(id)
    }

    /// The integer node `id` as `u64`, when it is one in range (as [`super::Value::as_u64`]).
    pub(crate) fn as_u64(&self, id: NodeId) -> Option<u64> {
        match self.tape.nodes[id] {
            Node::Int { start, end } => match &self.text[start as usize..end as usize] {
                "-0" => Some(0),
                digits => digits.parse().ok(),
            },
            _ => None,
        }
    }

    fn str_at(&self, id: NodeId) -> Option<&'a str> {
        match self.tape.nodes[id] {
            Node::Str { start, end } => Some(&self.text[start as usize..end as usize]),
            Node::Escaped { start, end } => Some(&self.tape.decoded[start as usize..end as usize]),
            _ => None,
        }
    }

    /// The index just past node `id` and its descendants.
    fn end_of(&self, id: NodeId) -> NodeId {
        match self.tape.nodes[id] {
            Node::Array { end } | Node::Object { end, .. } => end as usize,
            _ => id + 1,
        }
    }

    /// Appends the canonical form of node `id`, byte for byte what [`super::write_canonical`]
    /// writes for the same value.
    pub(crate) fn write_canonical(&self, out: &mut String, id: NodeId) {
        match self.tape.nodes[id] {
            Node::Null => out.push_str("null"),
            Node::Bool(true) => out.push_str("true"),
            Node::Bool(false) => out.push_str("false"),
            Node::Int { start, end } => {
                out.push_str(match &self.text[start as usize..end as usize] {
                    "-0" => "0",
                    digits => digits,
                })
            }
            Node::Float(x) => {
                let _ = write!(out, "{}", Number::from_f64(x));
            }
            Node::Escaped { start, end } => {
                super::write_string(out, &self.tape.decoded[start as usize..end as usize]);
            }
            Node::Str { start, end } => {
                // Raw source bytes hold no `"`, `\` or control character (those end the
                // string, start an escape, or are refused), so they need no escaping.
                out.push('"');
                out.push_str(&self.text[start as usize..end as usize]);
                out.push('"');
            }
            Node::Array { end } => {
                out.push('[');
                let mut item = id + 1;
                while item < end as usize {
                    if item != id + 1 {
                        out.push(',');
                    }
                    self.write_canonical(out, item);
                    item = self.end_of(item);
                }
                out.push(']');
            }
            Node::Object { sorted, len, .. } => {
                out.push('{');
                let keys = &self.tape.sorted[sorted as usize..(sorted + len) as usize];
                for (i, &key) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.write_canonical(out, key as usize);
                    out.push(':');
                    self.write_canonical(out, key as usize + 1);
                }
                out.push('}');
            }
        }
    }
}

/// The first eight bytes of a key as a big-endian number (zero-padded), so that most key
/// comparisons while sorting are one integer comparison: when two prefixes differ, they order
/// the keys as their bytes do; when they are equal the whole keys are compared.
fn sort_prefix(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}

/// The index of the first `"`, `\\` or control character at or after `from` (`bytes.len()`
/// when there is none), found eight bytes at a time. Unlike [`super::plain_end`], which may
/// stop early, this lands on the byte itself: a string's end is found in one call rather than
/// in a byte-by-byte walk over its last word (most keys are shorter than a word, so that walk
/// was most of reading them).
#[inline]
pub(crate) fn special_at(bytes: &[u8], from: usize) -> usize {
    first_flagged::<false>(bytes, from)
}

/// [`special_at`] that also stops at the first non-ASCII byte (the verifier's one-pass reader
/// checks only those runs for UTF-8).
#[inline]
pub(crate) fn special_or_high_at(bytes: &[u8], from: usize) -> usize {
    first_flagged::<true>(bytes, from)
}

/// The first `"`, `\\` or control byte, and with `HIGH` the first non-ASCII byte too.
#[inline(always)]
fn first_flagged<const HIGH: bool>(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The classic zero-byte test: `(x - ONES) & !x & HIGHS` flags every zero byte of `x`, and
    // may also flag bytes above a zero byte (a borrow), never below one; likewise
    // `(w - 0x20 * ONES) & !w & HIGHS` for bytes below 0x20. So the lowest flag of the three
    // tests (little-endian: the lowest set bit) marks the first special byte exactly. With
    // `HIGH`, `(w - 0x20 * ONES) | w` sets a byte's high bit when it is below 0x20 (a borrow,
    // never below a true flag) or non-ASCII.
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let special = |w: u64| {
        let low_or_high = if HIGH {
            w.wrapping_sub(ONES * 0x20) | w
        } else {
            w.wrapping_sub(ONES * 0x20) & !w
        };
        (has_zero(w ^ (ONES * u64::from(b'"')))
            | has_zero(w ^ (ONES * u64::from(b'\\')))
            | low_or_high)
            & HIGHS
    };
    let mut i = from;
    while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let flags = special(u64::from_le_bytes(*chunk));
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 || (HIGH && b >= 0x80) {
            return i;
        }
        i += 1;
    }
    i
}

/// A recursive-descent reader with the same grammar, limits and decisions as
/// `super::Parser`, step for step, so that the two accept the same texts.
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    tape: &'a mut Tape,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn literal(&mut self, lit: &str, node: Node) -> Result<(), Reject> {
        if !self.bytes[self.pos..].starts_with(lit.as_bytes()) {
            return Err(Reject);
        }
        self.pos += lit.len();
        self.tape.nodes.push(node);
        Ok(())
    }

    fn value(&mut self) -> Result<(), Reject> {
        match self.bytes.get(self.pos) {
            None => Err(Reject),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string(),
            Some(b't') => self.literal("true", Node::Bool(true)),
            Some(b'f') => self.literal("false", Node::Bool(false)),
            Some(b'n') => self.literal("null", Node::Null),
            Some(b'N') => self.literal("NaN", Node::Float(f64::NAN)),
            Some(b'I') => self.literal("Infinity", Node::Float(f64::INFINITY)),
            Some(b'-') if self.bytes[self.pos..].starts_with(b"-Infinity") => {
                self.literal("-Infinity", Node::Float(f64::NEG_INFINITY))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(Reject),
        }
    }

    fn enter(&mut self) -> Result<(), Reject> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Reject);
        }
        Ok(())
    }

    fn object(&mut self) -> Result<(), Reject> {
        self.enter()?;
        self.pos += 1;
        let at = self.tape.nodes.len();
        self.tape.nodes.push(Node::Null); // replaced when the object closes
        let keys_from = self.tape.open_keys.len();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return self.close_object(at, keys_from);
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(Reject);
            }
            let key = self.tape.nodes.len() as Pos;
            self.string()?;
            let prefix = sort_prefix(self.tape.key_bytes(self.text, key));
            self.tape.open_keys.push((prefix, key));
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(Reject);
            }
            self.pos += 1;
            self.skip_ws();
            self.value()?;
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return self.close_object(at, keys_from);
                }
                _ => return Err(Reject),
            }
        }
    }

    /// Sorts the closing object's keys into canonical order, refusing duplicates (equal keys
    /// are neighbours once sorted, so this is linear after the sort even for huge objects).
    fn close_object(&mut self, at: usize, keys_from: usize) -> Result<(), Reject> {
        self.depth -= 1;
        let text = self.text;
        let tape = &mut *self.tape;
        let mut keys = std::mem::take(&mut tape.open_keys);
        let open = &mut keys[keys_from..];
        // Python sorts `str` keys by code point; UTF-8 byte order is the same order.
        let order = |a: &(u64, Pos), b: &(u64, Pos)| {
            a.0.cmp(&b.0)
                .then_with(|| tape.key_bytes(text, a.1).cmp(tape.key_bytes(text, b.1)))
        };
        open.sort_unstable_by(order);
        let duplicate = open.windows(2).any(|w| order(&w[0], &w[1]).is_eq());
        let sorted = tape.sorted.len() as Pos;
        tape.sorted.extend(open.iter().map(|&(_, id)| id));
        keys.truncate(keys_from);
        tape.open_keys = keys;
        if duplicate {
            return Err(Reject);
        }
        tape.nodes[at] = Node::Object {
            end: tape.nodes.len() as Pos,
            sorted,
            len: tape.sorted.len() as Pos - sorted,
        };
        Ok(())
    }

    fn array(&mut self) -> Result<(), Reject> {
        self.enter()?;
        self.pos += 1;
        let at = self.tape.nodes.len();
        self.tape.nodes.push(Node::Null); // replaced when the array closes
        self.skip_ws();
        if self.bytes.get(self.pos) != Some(&b']') {
            loop {
                self.skip_ws();
                self.value()?;
                self.skip_ws();
                match self.bytes.get(self.pos) {
                    Some(b',') => self.pos += 1,
                    Some(b']') => break,
                    _ => return Err(Reject),
                }
            }
        }
        self.pos += 1;
        self.depth -= 1;
        self.tape.nodes[at] = Node::Array {
            end: self.tape.nodes.len() as Pos,
        };
        Ok(())
    }

    /// A string starting at its opening quote, pushed as a node. Most strings hold no escape
    /// and are left in place; the first escape switches to decoding into the tape's buffer.
    fn string(&mut self) -> Result<(), Reject> {
        self.pos += 1;
        let start = self.pos;
        loop {
            self.skip_plain();
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.tape.nodes.push(Node::Str {
                        start: start as Pos,
                        end: self.pos as Pos,
                    });
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => return self.decode_string(start),
                Some(0x00..=0x1f) | None => return Err(Reject),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Moves over string bytes that need no attention, eight at a time, stopping at or before
    /// the first `"`, `\\` or control character. Hashes and signatures (64 plain characters
    /// each) are half of a typical log line, so this is most of the parse. Inlined into the
    /// string readers: as a call of its own it cost verification ~4% more instructions.
    #[inline]
    fn skip_plain(&mut self) {
        self.pos = special_at(self.bytes, self.pos);
    }

    /// Decodes the rest of a string whose first escape is at `self.pos`.
    fn decode_string(&mut self, start: usize) -> Result<(), Reject> {
        let from = self.tape.decoded.len();
        let mut run = start;
        loop {
            self.skip_plain();
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.tape.decoded.push_str(&self.text[run..self.pos]);
                    self.pos += 1;
                    self.tape.nodes.push(Node::Escaped {
                        start: from as Pos,
                        end: self.tape.decoded.len() as Pos,
                    });
                    return Ok(());
                }
                Some(b'\\') => {
                    self.tape.decoded.push_str(&self.text[run..self.pos]);
                    let c = self.escape()?;
                    self.tape.decoded.push(c);
                    run = self.pos;
                }
                Some(0x00..=0x1f) | None => return Err(Reject),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn escape(&mut self) -> Result<char, Reject> {
        let c = *self.bytes.get(self.pos + 1).ok_or(Reject)?;
        self.pos += 2;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    if !self.bytes[self.pos..].starts_with(b"\\u") {
                        return Err(Reject);
                    }
                    self.pos += 2;
                    let lo = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(Reject);
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(Reject);
                } else {
                    hi
                };
                char::from_u32(cp).ok_or(Reject)?
            }
            _ => return Err(Reject),
        })
    }

    fn hex4(&mut self) -> Result<u32, Reject> {
        let digits = self.bytes.get(self.pos..self.pos + 4).ok_or(Reject)?;
        let mut v = 0u32;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16).ok_or(Reject)?;
        }
        self.pos += 4;
        Ok(v)
    }

    fn number(&mut self) -> Result<(), Reject> {
        let start = self.pos;
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Reject),
        }
        let int_digits = self.pos - int_start;
        let mut is_float = false;
        if self.bytes.get(self.pos) == Some(&b'.') {
            let dot = self.pos;
            self.pos += 1;
            if self.pos == self.bytes.len() {
                return Err(Reject);
            }
            if !matches!(self.bytes.get(self.pos), Some(b'0'..=b'9')) {
                // As `super::Parser`: the number ends before the '.', and the '.' then fails
                // as whatever follows a value there.
                self.pos = dot;
                return self.int(start, int_digits);
            }
            self.digits();
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            let e = self.pos;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if self.pos == self.bytes.len() {
                return Err(Reject);
            }
            if matches!(self.bytes.get(self.pos), Some(b'0'..=b'9')) {
                self.digits();
                is_float = true;
            } else {
                self.pos = e;
            }
        }
        if is_float {
            let f: f64 = self.text[start..self.pos].parse().map_err(|_| Reject)?;
            self.tape.nodes.push(Node::Float(f));
            Ok(())
        } else {
            self.int(start, int_digits)
        }
    }

    fn int(&mut self, start: usize, int_digits: usize) -> Result<(), Reject> {
        if int_digits > MAX_INT_DIGITS {
            return Err(Reject);
        }
        self.tape.nodes.push(Node::Int {
            start: start as Pos,
            end: self.pos as Pos,
        });
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{self, Value};
    use proptest::prelude::*;

    /// Both readers on `text`: the same verdict and, when accepted, the same canonical bytes.
    fn same(tape: &mut Tape, text: &str) -> Result<(), TestCaseError> {
        let slow = json::parse(text);
        match (tape.parse(text), slow) {
            (Ok(doc), Ok(v)) => {
                let mut fast = String::new();
                doc.write_canonical(&mut fast, doc.root());
                prop_assert_eq!(fast, json::to_canonical(&v), "text {:?}", text);
            }
            (Err(Reject), Err(_)) => {}
            (Ok(_), Err(e)) => {
                prop_assert!(false, "tape accepted {:?}, parse refused: {}", text, e)
            }
            (Err(Reject), Ok(_)) => prop_assert!(false, "tape refused {:?}, parse accepted", text),
        }
        Ok(())
    }

    /// Strings that exercise the escape rules: controls, quotes, backslashes, non-ASCII,
    /// U+2028, astral characters.
    fn arb_string() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                4 => proptest::char::range('a', 'z'),
                1 => proptest::char::range('\u{0}', '\u{20}'),
                1 => prop_oneof![Just('"'), Just('\\'), Just('/'), Just('\u{7f}'), Just('\u{2028}')],
                1 => proptest::char::range('\u{80}', '\u{10ffff}'),
            ],
            0..12,
        )
        .prop_map(|cs| cs.into_iter().collect())
    }

    fn arb_number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u128>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            (-400i32..400, 1u64..100_000).prop_map(|(e, m)| Value::from(m as f64 * 10f64.powi(e))),
        ]
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            arb_number(),
            arb_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                // Keys from a small alphabet (so that they collide and sort interestingly),
                // made unique here; duplicates are tested by text below.
                proptest::collection::vec((arb_string(), inner), 0..6).prop_map(|fields| {
                    let mut seen = std::collections::HashSet::new();
                    Value::Object(
                        fields
                            .into_iter()
                            .filter(|(k, _)| seen.insert(k.clone()))
                            .collect(),
                    )
                }),
            ]
        })
    }

    /// Re-spells a text the way other writers might: `\uXXXX` escapes (upper or lower case,
    /// surrogate pairs) for some characters, and whitespace between tokens.
    fn respell(text: &str, seed: u64) -> String {
        let mut out = String::new();
        let mut in_string = false;
        let mut escaped = false;
        // Hex digits of a `\uXXXX` escape still to copy as they are.
        let mut hex_left = 0;
        let mut r = seed | 1;
        let mut roll = || {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r % 8
        };
        for c in text.chars() {
            if hex_left > 0 {
                hex_left -= 1;
                out.push(c);
                continue;
            }
            if in_string && !escaped && c != '"' && c != '\\' && roll() == 0 {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    if roll() < 4 {
                        out.push_str(&format!("\\u{u:04x}"));
                    } else {
                        out.push_str(&format!("\\u{u:04X}"));
                    }
                }
                continue;
            }
            if !in_string && matches!(c, ',' | ':' | '[' | '{') && roll() == 0 {
                out.push_str(" \n\t\r");
            }
            out.push(c);
            if in_string {
                if escaped {
                    escaped = false;
                    if c == 'u' {
                        hex_left = 4;
                    }
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
            } else if c == '"' {
                in_string = true;
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7a9e),
            ..ProptestConfig::default()
        })]

        #[test]
        fn tape_and_tree_agree_on_generated_values(v in arb_value(), seed in any::<u64>()) {
            let mut tape = Tape::default();
            let line = json::to_line_string(&v);
            same(&mut tape, &line)?;
            same(&mut tape, &json::to_canonical(&v))?;
            same(&mut tape, &respell(&line, seed))?;
        }

        #[test]
        fn tape_and_tree_agree_on_every_cut_and_damaged_text(v in arb_value(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut tape = Tape::default();
            let line = json::to_line_string(&v);
            // Cut at every char boundary, and with one ASCII byte replaced.
            for (i, _) in line.char_indices() {
                same(&mut tape, &line[..i])?;
            }
            let i = at.index(line.len());
            if line.is_char_boundary(i) && line.is_char_boundary(i + 1) && byte.is_ascii() {
                let mut damaged = line.clone();
                damaged.replace_range(i..i + 1, &char::from(byte).to_string());
                same(&mut tape, &damaged)?;
            }
        }

        #[test]
        fn tape_and_tree_agree_on_arbitrary_short_texts(text in "[-0-9.eE+\"\\\\ul{}\\[\\],:aNItrufs ]{0,24}") {
            same(&mut Tape::default(), &text)?;
        }
    }

    #[test]
    fn tape_and_tree_agree_on_edge_cases() {
        let long_int = "7".repeat(MAX_INT_DIGITS);
        let too_long_int = "7".repeat(MAX_INT_DIGITS + 1);
        let deep_ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let mut many_keys = String::from("{");
        for i in 0..5000 {
            many_keys.push_str(&format!("\"k{i}\": {i}, "));
        }
        let many_ok = format!("{many_keys}\"last\": 0}}");
        let many_dup = format!("{many_keys}\"k4321\": 0}}");
        let cases: Vec<&str> = vec![
            "",
            " ",
            "-0",
            "[-0, 0, -0.0, 0.0, 1E5, 1e400, -1e400, 1.50, 2e-5, 10.0, 1e+16, 9007199254740993]",
            "[1000000000000000.25, 233891771783429.625, 5e-324, 1.7976931348623157e308]",
            "[NaN, Infinity, -Infinity]",
            "-Inf",
            "[1.]",
            "1.",
            "1e",
            "1e+",
            "[1e]",
            "1.5e",
            "[1.5e]",
            "01",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{\"a\": 1, \"a\": 2}",
            "{\"a\": {\"b\": 1, \"b\": 1}}",
            "{\"a\": 1, \"\\u0061\": 2}",
            "{\"\\u00e9\": 1, \"é\": 2}",
            "{\"é\": 1, \"b\": {\"z\": null, \"a\": [true, false]}, \"B\": 2}",
            "{\"\": 0, \"\\u0000\": 1}",
            r#""\ud83d\ude80\u00e9\/\"\\\b\f\n\r\t\u001F\u007f\u2028""#,
            r#""\ud83d""#,
            r#""\ud83dx""#,
            r#""\ud83d\u0041""#,
            r#""\ude80""#,
            r#""\uD83D\uDE80""#,
            r#""\u12""#,
            r#""\u12g4""#,
            r#""\x""#,
            "\"a\u{1}\"",
            "\"abc",
            "tru",
            "nul",
            "[1] x",
            "\u{feff}1",
            "{\"seq\": 0, \"ts\": \"t\", \"type\": \"x\", \"payload\": {}}",
            &long_int,
            &too_long_int,
            &deep_ok,
            &too_deep,
            &many_ok,
            &many_dup,
        ];
        let mut tape = Tape::default();
        for text in cases {
            same(&mut tape, text).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5bec),
            ..ProptestConfig::default()
        })]

        /// The word-at-a-time scan finds the first special byte exactly, from any start.
        #[test]
        fn special_at_finds_the_first_special_byte(
            bytes in proptest::collection::vec(prop_oneof![
                8 => 0x20u8..=0xff,
                1 => Just(b'"'),
                1 => Just(b'\\'),
                1 => 0u8..0x20,
            ], 0..40),
            from in 0usize..41,
        ) {
            let from = from.min(bytes.len());
            let naive = bytes[from..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .map_or(bytes.len(), |i| from + i);
            prop_assert_eq!(special_at(&bytes, from), naive);
        }
    }

    #[test]
    fn members_strings_and_integers_read_as_the_tree_does() {
        let mut tape = Tape::default();
        let text = r#"{"seq": 18446744073709551615, "n": -0, "big": 18446744073709551616, "s": "a\u00e9", "f": 1.0}"#;
        let doc = tape.parse(text).unwrap();
        let tree = json::parse(text).unwrap();
        let members: Vec<_> = doc.members(doc.root()).unwrap().collect();
        assert_eq!(members.len(), 5);
        for (key, id) in members {
            let v = tree.get(key).unwrap();
            assert_eq!(doc.as_u64(id), v.as_u64(), "{key}");
            assert_eq!(doc.as_str(id), v.as_str(), "{key}");
        }
        assert!(doc.members(1).is_none());
    }
}
