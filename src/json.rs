//! The JSON dialect of `acttrace-chain/1`.
//!
//! Entry hashes are computed over Python's `json.dumps(..., sort_keys=True, ensure_ascii=False,
//! separators=(",", ":"))`, and log lines are written with Python's default `json.dumps` layout,
//! because the reference implementation (cendor-acttrace) defined the format that way. Matching
//! that byte for byte needs three things `serde_json` does not give without global feature flags
//! (which would leak into every crate that embeds us): object keys kept in insertion order,
//! integers of any size kept exactly, and floats printed the way Python's `repr` prints them
//! (`1e-05`, `1e+16`, `1.0`). This module is that small, strict JSON implementation.
//!
//! ```
//! use acttrace::json::{self, Value};
//!
//! let v = json::parse(r#"{"b": 1e-5, "a": [18446744073709551617, "é\u2028"]}"#).unwrap();
//! assert_eq!(json::to_canonical(&v), "{\"a\":[18446744073709551617,\"é\u{2028}\"],\"b\":1e-05}");
//! assert_eq!(v.to_string(), "{\"b\": 1e-05, \"a\": [18446744073709551617, \"é\u{2028}\"]}");
//! ```

use std::fmt::{self, Write as _};

pub(crate) mod tape;

/// Nesting deeper than this is refused by [`parse`] (Python's own limit is near 1,000 frames;
/// no audit payload legitimately nests this deep, and a bound keeps hostile input from
/// exhausting the stack).
pub(crate) const MAX_DEPTH: usize = 256;

/// Python refuses to convert integers longer than this many digits (`sys.int_info.
/// default_max_str_digits`), so a reference verifier rejects such a log; so do we.
pub(crate) const MAX_INT_DIGITS: usize = 4300;

/// A JSON value with object keys in insertion order and numbers kept exactly.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number: an exact integer of any size, or a binary64 float.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, keys in insertion order. Keys are unique when parsed by [`parse`].
    Object(Vec<(String, Value)>),
}

/// A JSON number as Python's `json` module models it: an integer (exact, arbitrary size) when
/// the text has no fraction or exponent, otherwise a binary64 float.
#[derive(Clone, Debug, PartialEq)]
pub struct Number(NumberRepr);

#[derive(Clone, Debug, PartialEq)]
enum NumberRepr {
    Int(i128),
    /// An integer outside `i128`, as normalised decimal text (optional `-`, no leading zeros).
    BigInt(Box<str>),
    Float(f64),
}

impl Number {
    /// A float. Non-finite values are allowed here (Python writes them as `NaN`, `Infinity`);
    /// the capture path converts them to strings before they reach a chain so that our own
    /// logs stay strict JSON.
    pub fn from_f64(f: f64) -> Number {
        Number(NumberRepr::Float(f))
    }

    /// The value as `u64` when it is an integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            NumberRepr::Int(i) => u64::try_from(i).ok(),
            _ => None,
        }
    }

    /// The value as `i128` when it is an integer in range.
    pub fn as_i128(&self) -> Option<i128> {
        match self.0 {
            NumberRepr::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The value as `f64` (integers are converted, possibly losing precision).
    pub fn as_f64(&self) -> f64 {
        match &self.0 {
            NumberRepr::Int(i) => *i as f64,
            NumberRepr::BigInt(s) => s.parse().unwrap_or(f64::NAN),
            NumberRepr::Float(f) => *f,
        }
    }

    /// Whether the number is an integer (no fraction or exponent in its text).
    pub fn is_integer(&self) -> bool {
        !matches!(self.0, NumberRepr::Float(_))
    }
}

macro_rules! number_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(i: $t) -> Number { Number(NumberRepr::Int(i as i128)) }
        }
    )*};
}
number_from_int!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, i128);

impl From<u128> for Number {
    fn from(u: u128) -> Number {
        match i128::try_from(u) {
            Ok(i) => Number(NumberRepr::Int(i)),
            Err(_) => Number(NumberRepr::BigInt(u.to_string().into_boxed_str())),
        }
    }
}

impl From<f64> for Number {
    fn from(f: f64) -> Number {
        Number::from_f64(f)
    }
}

impl fmt::Display for Number {
    /// Writes the number exactly as Python's `json.dumps` would.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            NumberRepr::Int(i) => f.write_str(IntDigits::new(*i).as_str()),
            NumberRepr::BigInt(s) => f.write_str(s),
            NumberRepr::Float(x) => write_python_float(f, *x),
        }
    }
}

impl Number {
    /// Appends the number as [`fmt::Display`] writes it. Integers (nearly every number in a
    /// payload) skip the formatting machinery, which costs more than their few digits.
    pub(crate) fn write_to(&self, out: &mut String) {
        match &self.0 {
            NumberRepr::Int(i) => IntDigits::new(*i).write_to(out),
            NumberRepr::BigInt(s) => out.push_str(s),
            NumberRepr::Float(x) => {
                let _ = write_python_float(out, *x);
            }
        }
    }
}

impl Number {
    /// Calls `f` with the number's text as [`fmt::Display`] writes it, built on the stack.
    pub(crate) fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match &self.0 {
            NumberRepr::Int(i) => f(IntDigits::new(*i).as_str()),
            NumberRepr::BigInt(s) => f(s),
            NumberRepr::Float(x) => {
                let mut buf = StackString::<64>::new();
                match write_python_float(&mut buf, *x) {
                    Ok(()) => f(buf.as_str()),
                    // Not reached (a float's text is at most 24 bytes).
                    Err(_) => f(&self.to_string()),
                }
            }
        }
    }
}

/// The decimal text of an `i128`, built on the stack (sign and at most 39 digits).
pub(crate) struct IntDigits {
    buf: [u8; 40],
    start: usize,
}

impl IntDigits {
    pub(crate) fn new(i: i128) -> IntDigits {
        let mut d = IntDigits {
            buf: [0; 40],
            start: 40,
        };
        let mut push = |b: u8| {
            d.start -= 1;
            d.buf[d.start] = b;
        };
        let mut n = i.unsigned_abs();
        // 64-bit division is much cheaper than 128-bit, and nearly every integer fits.
        match u64::try_from(n) {
            Ok(mut small) => loop {
                push(b'0' + (small % 10) as u8);
                small /= 10;
                if small == 0 {
                    break;
                }
            },
            Err(_) => loop {
                push(b'0' + (n % 10) as u8);
                n /= 10;
                if n == 0 {
                    break;
                }
            },
        }
        if i < 0 {
            push(b'-');
        }
        d
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and '-' are written.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }

    /// Appends the digits. Pushed one by one: cheaper than checking a few bytes for UTF-8
    /// and copying them.
    pub(crate) fn write_to(&self, out: &mut String) {
        out.reserve(self.buf.len() - self.start);
        for &b in &self.buf[self.start..] {
            out.push(char::from(b));
        }
    }
}

/// Writes `x` as Python's `float.__repr__` does, with `json.dumps`'s names for non-finite
/// values. Python prints the shortest digit string that round-trips, the one nearest the value
/// when several do (ties to even), and switches to exponent notation when the decimal exponent
/// is below -4 or at least 16.
fn write_python_float(out: &mut impl fmt::Write, x: f64) -> fmt::Result {
    if x.is_nan() {
        return out.write_str("NaN");
    }
    if x.is_infinite() {
        return out.write_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    }
    // Żmij (Schubfach) gives the shortest round-trip digits, nearest the value and ties to
    // even, as Python's dtoa does, in a few hundred instructions; `{:e}` (Grisu with a Dragon
    // fallback) took several times that, and floats sit in most decision payloads.
    let mut zbuf = zmij::Buffer::new();
    let (negative, mut digits, mut decpt) = decimal_parts(zbuf.format_finite(x));
    if digits.len == 17 {
        // 17 significant digits: the shortest form can fall on a tie between two 17-digit
        // strings. The exact formatter rounds half to even, as Python does; kept for these
        // rare values so their text stays what it has always been.
        let mut buf = StackString::<40>::new();
        write!(buf, "{x:.16e}")?;
        (_, digits, decpt) = decimal_parts(buf.as_str());
    }
    let digits = digits.as_str();
    if negative {
        out.write_char('-')?;
    }
    if !(-4 < decpt && decpt <= 16) {
        out.write_str(&digits[..1])?;
        if digits.len() > 1 {
            out.write_char('.')?;
            out.write_str(&digits[1..])?;
        }
        let e = decpt - 1;
        // Python writes at least two exponent digits, with a sign (`1e-05`, `1e+16`).
        let mut exp = StackString::<8>::new();
        exp.push_byte(b'e');
        exp.push_byte(if e < 0 { b'-' } else { b'+' });
        let e = e.unsigned_abs();
        if e >= 100 {
            exp.push_byte(b'0' + (e / 100) as u8);
        }
        exp.push_byte(b'0' + (e / 10 % 10) as u8);
        exp.push_byte(b'0' + (e % 10) as u8);
        out.write_str(exp.as_str())
    } else if decpt <= 0 {
        out.write_str("0.")?;
        out.write_str(&"0000"[..decpt.unsigned_abs() as usize])?;
        out.write_str(digits)
    } else {
        let decpt = decpt as usize;
        if decpt >= digits.len() {
            out.write_str(digits)?;
            // At most 16 - 1 zeros: `decpt` is at most 16 here.
            out.write_str(&"0000000000000000"[..decpt - digits.len()])?;
            out.write_str(".0")
        } else {
            out.write_str(&digits[..decpt])?;
            out.write_char('.')?;
            out.write_str(&digits[decpt..])
        }
    }
}

/// The sign, significant digits (no leading or trailing zeros; `0` for zero) and Python's
/// `decpt` (the value is `0.DIGITS x 10^decpt`) of a finite float's decimal text as Żmij or
/// `{:e}` write it: `[-]DIGITS[.DIGITS][e[+|-]EXP]`.
fn decimal_parts(text: &str) -> (bool, StackString<24>, i32) {
    let bytes = text.as_bytes();
    let (negative, bytes) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let mut digits = StackString::<24>::new();
    // Digits before the point, and zeros before the first non-zero digit.
    let mut before_point = 0i32;
    let mut leading_zeros = 0i32;
    let mut seen_point = false;
    let mut exp = 0i32;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'0'..=b'9' => {
                if !seen_point {
                    before_point += 1;
                }
                if digits.len == 0 && b == b'0' {
                    leading_zeros += 1;
                } else {
                    digits.push_byte(b);
                }
            }
            b'.' => seen_point = true,
            b'e' | b'E' => {
                let (exp_neg, rest) = match bytes.get(i..).unwrap_or_default() {
                    [b'-', rest @ ..] => (true, rest),
                    [b'+', rest @ ..] => (false, rest),
                    rest => (false, rest),
                };
                for &d in rest {
                    exp = exp * 10 + i32::from(d.wrapping_sub(b'0'));
                }
                if exp_neg {
                    exp = -exp;
                }
                break;
            }
            _ => {}
        }
    }
    while digits.len > 1 && digits.buf[digits.len - 1] == b'0' {
        digits.len -= 1;
    }
    if digits.len == 0 {
        // Zero: Python's repr is `0.0` (`-0.0`), the digits `0` at decpt 1.
        digits.push_byte(b'0');
        return (negative, digits, 1);
    }
    (negative, digits, before_point - leading_zeros + exp)
}

/// A fixed-capacity string on the stack, so float formatting does not allocate.
struct StackString<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackString<N> {
    fn new() -> Self {
        StackString {
            buf: [0; N],
            len: 0,
        }
    }
    fn as_str(&self) -> &str {
        // Only whole `&str`s and ASCII bytes are ever copied in, so the bytes are valid UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
    /// Appends an ASCII byte (dropped when full: callers size the buffer for their text).
    fn push_byte(&mut self, b: u8) {
        debug_assert!(b.is_ascii());
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }
}

impl<const N: usize> fmt::Write for StackString<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Value {
    /// The value of `key` when `self` is an object holding it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets the member `key` of an object to `value`: a member already named `key` gets the
    /// new value where it stands, otherwise the member is appended. Returns the value replaced.
    ///
    /// # Panics
    ///
    /// When `self` is not an object.
    ///
    /// ```
    /// use acttrace::json::Value;
    ///
    /// let mut v = Value::Object(vec![("a".into(), Value::from(1u64))]);
    /// assert_eq!(v.set("b", "x"), None);
    /// assert_eq!(v.set("a", 2u64), Some(Value::from(1u64)));
    /// assert_eq!(v.to_string(), r#"{"a": 2, "b": "x"}"#);
    /// ```
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> Option<Value> {
        let Value::Object(fields) = self else {
            panic!("Value::set on {}, which is not an object", self.type_name());
        };
        set_member(fields, key.to_owned(), value.into())
    }

    /// The string, when `self` is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as `u64`, when `self` is an integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The fields, when `self` is an object.
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// A short name of the value's JSON type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

/// Sets `key` in an ordered list of members: replaces the value of the member with that key
/// (returning the old one) or appends the member. The one "insert or replace by key" of the
/// crate: payload objects, gathered span fields and `Value::set` use it.
pub(crate) fn set_member<K: AsRef<str>, V>(list: &mut Vec<(K, V)>, key: K, value: V) -> Option<V> {
    match list.iter_mut().find(|(k, _)| k.as_ref() == key.as_ref()) {
        Some((_, slot)) => Some(std::mem::replace(slot, value)),
        None => {
            list.push((key, value));
            None
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl<T: Into<Number>> From<T> for Value {
    fn from(n: T) -> Value {
        Value::Number(n.into())
    }
}

impl From<&serde_json::Value> for Value {
    /// Converts a `serde_json` value. Numbers keep their value (integers exactly within
    /// `i128`/`u64`, floats as binary64).
    fn from(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::from(i)
                } else if let Some(u) = n.as_u64() {
                    Value::from(u)
                } else {
                    Value::from(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), Value::from(v))).collect())
            }
        }
    }
}

impl fmt::Display for Value {
    /// The line layout (insertion order, `", "` and `": "` separators).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_line_string(self))
    }
}

/// Appends the canonical form of `v` (sorted keys, no spaces) that entry hashes cover.
pub fn write_canonical(out: &mut String, v: &Value) {
    match v {
        Value::Object(fields) => {
            in_key_order(fields, |order| {
                out.push('{');
                for (n, &i) in order.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    let (k, v) = &fields[i];
                    write_string(out, k);
                    out.push(':');
                    write_canonical(out, v);
                }
                out.push('}');
            });
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, v);
            }
            out.push(']');
        }
        scalar => write_scalar(out, scalar),
    }
}

/// Calls `f` with the indices of `fields` in canonical key order. Small objects (nearly all
/// payloads) are sorted in a buffer on the stack: the sequencer canonicalises every payload, and
/// an allocation per object showed in profiles.
fn in_key_order<R>(fields: &[(String, Value)], f: impl FnOnce(&[usize]) -> R) -> R {
    let mut small = [0usize; 16];
    let mut large = Vec::new();
    let order: &mut [usize] = if fields.len() <= small.len() {
        &mut small[..fields.len()]
    } else {
        large.resize(fields.len(), 0);
        &mut large
    };
    sort_keys(order, fields);
    f(order)
}

/// Fills `order` with the indices of `fields` sorted by key, as the canonical form orders
/// them: Python sorts `str` keys by code point, and UTF-8 byte order is the same order.
fn sort_keys(order: &mut [usize], fields: &[(String, Value)]) {
    for (i, slot) in order.iter_mut().enumerate() {
        *slot = i;
    }
    if order.len() > 16 {
        order.sort_unstable_by(|&a, &b| fields[a].0.cmp(&fields[b].0));
        return;
    }
    // Payload objects are small and often nearly sorted; insertion sort makes the fewest key
    // comparisons there (the general sort's small-slice network showed in profiles). Each key's
    // first eight bytes, as a big-endian number, decide most comparisons without a `memcmp`.
    let mut prefixes = [0u64; 16];
    for (p, (k, _)) in prefixes.iter_mut().zip(fields) {
        *p = key_prefix(k);
    }
    let greater = |a: usize, b: usize| match prefixes[a].cmp(&prefixes[b]) {
        std::cmp::Ordering::Equal => fields[a].0 > fields[b].0,
        o => o.is_gt(),
    };
    for i in 1..order.len() {
        let cur = order[i];
        let mut j = i;
        while j > 0 && greater(order[j - 1], cur) {
            order[j] = order[j - 1];
            j -= 1;
        }
        order[j] = cur;
    }
}

/// The first eight bytes of `key` (zero-padded) as a big-endian number. Where two keys'
/// prefixes differ, they are ordered as the keys are: at the first differing byte either
/// both keys have a byte, or the shorter one ended (its zero padding against a non-zero
/// byte), and a key that ends first sorts first. Equal prefixes decide nothing.
#[inline]
fn key_prefix(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let mut p = [0u8; 8];
    match bytes.first_chunk::<8>() {
        Some(first) => p = *first,
        None => {
            for (d, &b) in p.iter_mut().zip(bytes) {
                *d = b;
            }
        }
    }
    u64::from_be_bytes(p)
}

/// Where one member of an object sits in its line form (see [`write_line_and_canonical`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MemberText {
    key: (usize, usize),
    /// The value's text, when it is a scalar (whose two forms are the same).
    value: Option<(usize, usize)>,
}

/// Appends the line form of `v` to `line` and its canonical form to `canon`, rendering each
/// member key and scalar member value of a top-level object once: their text is the same in
/// both forms (only separators, key order and nested containers differ), so the canonical
/// form copies it from the line. `members` is scratch space, reused across calls.
pub(crate) fn write_line_and_canonical(
    line: &mut String,
    canon: &mut String,
    v: &Value,
    members: &mut Vec<MemberText>,
) {
    let Value::Object(fields) = v else {
        write_line_form(line, v);
        write_canonical(canon, v);
        return;
    };
    write_line_members(line, fields, members);
    line.push('}');
    write_canonical_members(canon, line, fields, members, None);
}

/// The line form of an object without its closing `}`, noting where each member's key and
/// scalar value lie in `line` (in `members`).
fn write_line_members(
    line: &mut String,
    fields: &[(String, Value)],
    members: &mut Vec<MemberText>,
) {
    members.clear();
    line.push('{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            line.push_str(", ");
        }
        let key_start = line.len();
        write_string(line, k);
        let key = (key_start, line.len());
        line.push_str(": ");
        let value_start = line.len();
        write_line_form(line, v);
        let value = match v {
            Value::Array(_) | Value::Object(_) => None,
            _ => Some((value_start, line.len())),
        };
        members.push(MemberText { key, value });
    }
}

/// The canonical form of an object whose line form [`write_line_members`] wrote to `line`,
/// copying each key and scalar from there. With `split_after`, returns where in `canon`
/// members with keys above it begin (just before the first one's comma, or at the `}`).
fn write_canonical_members(
    canon: &mut String,
    line: &str,
    fields: &[(String, Value)],
    members: &[MemberText],
    split_after: Option<&str>,
) -> usize {
    in_key_order(fields, |order| {
        let mut split = None;
        canon.push('{');
        for (n, &i) in order.iter().enumerate() {
            if split.is_none() && split_after.is_some_and(|hi| fields[i].0.as_str() > hi) {
                split = Some(canon.len());
            }
            if n > 0 {
                canon.push(',');
            }
            let m = members[i];
            canon.push_str(&line[m.key.0..m.key.1]);
            canon.push(':');
            match m.value {
                Some((start, end)) => canon.push_str(&line[start..end]),
                None => write_canonical(canon, &fields[i].1),
            }
        }
        let end = canon.len();
        canon.push('}');
        split.unwrap_or(end)
    })
}

/// Renders an object as [`write_line_and_canonical`] does, but left open for members with keys
/// in `lo..=hi` to be added once they are known (a `decision_end`'s digest, taken when it is
/// sealed): the line form is written without its closing `}`, and the returned offset (from
/// where the canonical form starts in `canon`) is where such members sort in the canonical
/// form, which is otherwise complete. [`close_open_forms`] adds them. `None`, with nothing
/// written, when `v` is not an object or already has a key in `lo..=hi`.
pub(crate) fn write_line_and_canonical_open(
    line: &mut String,
    canon: &mut String,
    v: &Value,
    members: &mut Vec<MemberText>,
    lo: &str,
    hi: &str,
) -> Option<usize> {
    let Value::Object(fields) = v else {
        return None;
    };
    if fields.iter().any(|(k, _)| (lo..=hi).contains(&k.as_str())) {
        return None;
    }
    // The line form keeps insertion order: added members go before its `}`, left off here.
    write_line_members(line, fields, members);
    let canon_start = canon.len();
    let split = write_canonical_members(canon, line, fields, members, Some(hi));
    Some(split - canon_start)
}

/// Completes forms written by [`write_line_and_canonical_open`] with `added` (members whose keys
/// lie in the range left open, in key order): appends the line form to `line` and the canonical
/// form to `canon`, from the open `open_line` and `open_canon` and its `split`.
pub(crate) fn close_open_forms(
    line: &mut String,
    canon: &mut String,
    open_line: &str,
    open_canon: &str,
    split: usize,
    added: &[(String, Value)],
) {
    line.push_str(open_line);
    let (before, after) = open_canon.split_at(split);
    canon.push_str(before);
    for (n, (k, v)) in added.iter().enumerate() {
        debug_assert!(n == 0 || added[n - 1].0 < *k, "members in key order");
        if open_line.len() > 1 || n > 0 {
            line.push_str(", ");
        }
        write_string(line, k);
        line.push_str(": ");
        write_line_form(line, v);
        if before.len() > 1 || n > 0 {
            canon.push(',');
        }
        write_string(canon, k);
        canon.push(':');
        write_canonical(canon, v);
    }
    line.push('}');
    // `after` is `}`, or the members after the gap starting with their comma, or (when the
    // object had none before the gap) starting with the first member itself.
    if !added.is_empty() && !after.starts_with([',', '}']) {
        canon.push(',');
    }
    canon.push_str(after);
}

/// The canonical form of `v` as a new string.
pub fn to_canonical(v: &Value) -> String {
    let mut s = String::new();
    write_canonical(&mut s, v);
    s
}

/// Appends `v` in the layout of a log line: Python's default `json.dumps` (keys in insertion
/// order, `", "` and `": "` separators, non-ASCII raw).
pub(crate) fn write_line_form(out: &mut String, v: &Value) {
    match v {
        Value::Object(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, k);
                out.push_str(": ");
                write_line_form(out, v);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_line_form(out, v);
            }
            out.push(']');
        }
        scalar => write_scalar(out, scalar),
    }
}

/// The line layout of `v` as a new string.
pub(crate) fn to_line_string(v: &Value) -> String {
    let mut s = String::new();
    write_line_form(&mut s, v);
    s
}

fn write_scalar(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => n.write_to(out),
        Value::String(s) => write_string(out, s),
        Value::Array(_) | Value::Object(_) => unreachable!("write_scalar called on a container"),
    }
}

/// Appends `s`, which holds nothing to escape (a timestamp, hex digits), as a JSON string: what
/// [`write_string`] writes for it, without looking for escapes.
#[inline]
pub(crate) fn write_plain_string(out: &mut String, s: &str) {
    debug_assert_eq!(plain_end(s.as_bytes(), 0), s.len(), "{s:?} needs escaping");
    out.reserve(s.len() + 2);
    out.push('"');
    out.push_str(s);
    out.push('"');
}

/// Appends `s` as a JSON string literal, escaped as Python's `json.dumps(ensure_ascii=False)`
/// escapes: `"` `\` and the control characters below U+0020 only (`\n` `\r` `\t` `\b` `\f`
/// by name, the rest as lowercase `\u00XX`). `/`, U+007F and U+2028 stay raw.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = plain_end(bytes, 0);
    if i == bytes.len() {
        // Nearly every string: nothing to escape.
        out.push_str(s);
        out.push('"');
        return;
    }
    loop {
        i = plain_end(bytes, i);
        let Some(&b) = bytes.get(i) else { break };
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        i += 1;
        start = i;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The index of the first byte at or after `from` that may be a `"`, a `\\` or a control
/// character, found eight bytes at a time (`bytes.len()` when there is none). It may stop
/// early on an ordinary byte, never late. Most strings in a log (hashes, names, ids) need no
/// escape, so writing and reading them is mostly this scan.
#[inline]
pub(crate) fn plain_end(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // `(x - ONES) & !x & HIGHS` is non-zero exactly when some byte of `x` is zero, and
    // `(w - 0x20 * ONES) & !w & HIGHS` when some byte of `w` is below 0x20. (Borrows can also
    // flag a later byte: a false alarm that only stops the scan early.)
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let special = |w: u64| {
        has_zero(w ^ (ONES * u64::from(b'"')))
            | has_zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS)
    };
    let mut i = from;
    while let Some(chunk) = bytes.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        if special(u64::from_le_bytes(*chunk)) != 0 {
            return i;
        }
        i += 8;
    }
    // Fewer than eight bytes left. Most keys and short values end here: check the text's last
    // eight bytes at once when they all lie at or after `from` (some again), else go byte by
    // byte.
    if i >= bytes.len() {
        return bytes.len();
    }
    match bytes.len().checked_sub(8) {
        Some(last) if last >= from => {
            let tail = bytes[last..]
                .first_chunk::<8>()
                .copied()
                .unwrap_or_default();
            if special(u64::from_le_bytes(tail)) == 0 {
                bytes.len()
            } else {
                i
            }
        }
        _ => {
            while let Some(&b) = bytes.get(i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                i += 1;
            }
            i
        }
    }
}

/// Why a text is not acceptable JSON, and where (a byte offset into the parsed text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset of the problem in the parsed text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
    /// Whether the text ended before the value was complete (as a line cut short by a crash
    /// mid-write does), rather than holding something invalid.
    pub truncated: bool,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.offset + 1)
    }
}

impl std::error::Error for ParseError {}

/// Parses one JSON text strictly (RFC 8259), with two documented departures that follow the
/// reference verifier, which reads logs with Python's `json.loads`:
///
/// - `NaN`, `Infinity` and `-Infinity` are accepted as numbers (Python writes them);
/// - integers longer than 4,300 digits are refused (Python refuses them).
///
/// Duplicate object keys are refused (Python would silently keep the last one, which lets a
/// line show one value to a reader and hash another), as are lone UTF-16 surrogates (Python
/// cannot encode them to hash) and nesting deeper than 256 levels.
///
/// ```
/// let err = acttrace::json::parse(r#"{"a": 1, "a": 2}"#).unwrap_err();
/// assert!(err.message.contains("duplicate key \"a\""));
/// ```
pub fn parse(text: &str) -> Result<Value, ParseError> {
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    let v = p.value()?;
    p.skip_ws();
    if p.pos != p.bytes.len() {
        return Err(p.err("extra data after the JSON value"));
    }
    Ok(v)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            offset: self.pos,
            message: message.into(),
            truncated: self.pos >= self.bytes.len(),
        }
    }

    /// An error for text that ends before the value does (a torn line), at the end.
    fn cut_short(&self, message: &str) -> ParseError {
        ParseError {
            offset: self.bytes.len(),
            message: message.into(),
            truncated: true,
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat_literal(&mut self, lit: &str, v: Value) -> Result<Value, ParseError> {
        let rest = &self.bytes[self.pos..];
        if rest.starts_with(lit.as_bytes()) {
            self.pos += lit.len();
            Ok(v)
        } else {
            let mut e = self.err("expecting value");
            e.truncated = lit.as_bytes().starts_with(rest);
            Err(e)
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        match self.bytes.get(self.pos) {
            None => Err(self.err("expecting value, found end of text")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.eat_literal("true", Value::Bool(true)),
            Some(b'f') => self.eat_literal("false", Value::Bool(false)),
            Some(b'n') => self.eat_literal("null", Value::Null),
            Some(b'N') => self.eat_literal("NaN", Value::from(f64::NAN)),
            Some(b'I') => self.eat_literal("Infinity", Value::from(f64::INFINITY)),
            Some(b'-') if self.bytes[self.pos..].starts_with(b"-Infinity") => {
                self.pos += "-Infinity".len();
                Ok(Value::from(f64::NEG_INFINITY))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expecting value")),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        self.enter()?;
        self.pos += 1;
        let mut fields: Vec<(String, Value)> = Vec::new();
        let mut seen: Option<std::collections::HashSet<String>> = None;
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Object(fields));
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.err("expecting property name enclosed in double quotes"));
            }
            let key_at = self.pos;
            let key = self.string()?;
            let duplicate = if fields.len() < 16 {
                fields.iter().any(|(k, _)| *k == key)
            } else {
                // Many keys: a set keeps hostile objects (100k keys) linear, not quadratic.
                !seen
                    .get_or_insert_with(|| fields.iter().map(|(k, _)| k.clone()).collect())
                    .insert(key.clone())
            };
            if duplicate {
                return Err(ParseError {
                    offset: key_at,
                    message: format!("duplicate key {}", quoted(&key)),
                    truncated: false,
                });
            }
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.err("expecting ':' delimiter"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value()?;
            fields.push((key, v));
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Object(fields));
                }
                _ => return Err(self.err("expecting ',' or '}'")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.enter()?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expecting ',' or ']'")),
            }
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut run_start = self.pos;
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(ParseError {
                    offset: open,
                    message: "unterminated string".into(),
                    truncated: true,
                });
            };
            match b {
                b'"' => {
                    out.push_str(&self.text[run_start..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&self.text[run_start..self.pos]);
                    self.escape(&mut out)?;
                    run_start = self.pos;
                }
                0x00..=0x1f => return Err(self.err("invalid control character in string")),
                _ => self.pos += 1,
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), ParseError> {
        let Some(&c) = self.bytes.get(self.pos + 1) else {
            return Err(self.cut_short("unterminated escape"));
        };
        self.pos += 2;
        let ch = match c {
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
                if (0xD800..0xDC00).contains(&hi) {
                    if b"\\u".starts_with(&self.bytes[self.pos..]) {
                        // The text ends between the two halves of a surrogate pair.
                        return Err(self.cut_short("unterminated surrogate pair"));
                    }
                    if self.bytes[self.pos..].starts_with(b"\\u") {
                        self.pos += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(self.err("lone UTF-16 surrogate in \\u escape"));
                        }
                        let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        char::from_u32(cp).ok_or_else(|| self.err("invalid \\u escape"))?
                    } else {
                        return Err(self.err("lone UTF-16 surrogate in \\u escape"));
                    }
                } else if (0xDC00..0xE000).contains(&hi) {
                    return Err(self.err("lone UTF-16 surrogate in \\u escape"));
                } else {
                    char::from_u32(hi).ok_or_else(|| self.err("invalid \\u escape"))?
                }
            }
            _ => {
                self.pos -= 1;
                return Err(self.err("invalid \\escape"));
            }
        };
        out.push(ch);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = match self.bytes.get(self.pos..self.pos + 4) {
            Some(d) => d,
            None if self.bytes[self.pos..].iter().all(u8::is_ascii_hexdigit) => {
                return Err(self.cut_short("unterminated \\uXXXX escape"));
            }
            None => return Err(self.err("invalid \\uXXXX escape")),
        };
        let mut v = 0u32;
        for &d in digits {
            let n = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid \\uXXXX escape"))?;
            v = v * 16 + n;
        }
        self.pos += 4;
        Ok(v)
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err("expecting value")),
        }
        let int_digits = self.pos - int_start;
        let mut is_float = false;
        if self.bytes.get(self.pos) == Some(&b'.') {
            let dot = self.pos;
            self.pos += 1;
            if self.pos == self.bytes.len() {
                return Err(self.cut_short("number cut short after '.'"));
            }
            if !matches!(self.bytes.get(self.pos), Some(b'0'..=b'9')) {
                // Python's scanner stops before a '.' not followed by digits, so the text
                // fails as "extra data"; report that position the same way.
                self.pos = dot;
                return self.finish_int(start, int_digits);
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
                return Err(self.cut_short("number cut short in its exponent"));
            }
            if matches!(self.bytes.get(self.pos), Some(b'0'..=b'9')) {
                self.digits();
                is_float = true;
            } else {
                self.pos = e;
            }
        }
        if is_float {
            let text = &self.text[start..self.pos];
            let f: f64 = text
                .parse()
                .map_err(|_| self.err(format!("invalid number {text}")))?;
            Ok(Value::Number(Number::from_f64(f)))
        } else {
            self.finish_int(start, int_digits)
        }
    }

    fn finish_int(&self, start: usize, int_digits: usize) -> Result<Value, ParseError> {
        let text = &self.text[start..self.pos];
        if int_digits > MAX_INT_DIGITS {
            return Err(ParseError {
                offset: start,
                message: format!("integer longer than {MAX_INT_DIGITS} digits"),
                truncated: false,
            });
        }
        match text.parse::<i128>() {
            Ok(i) => Ok(Value::Number(Number(NumberRepr::Int(i)))),
            // Valid JSON integer text has no leading zeros, so it is already normalised.
            Err(_) => Ok(Value::Number(Number(NumberRepr::BigInt(text.into())))),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }
}

/// `s` as a short quoted string for error messages (at most 40 characters).
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::new();
    let cut: String = s.chars().take(40).collect();
    write_string(&mut out, &cut);
    if cut.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The float writer before Żmij (Rust's `{:e}` digits, re-parsed), kept as the oracle the
    /// property test compares the new writer with: the same `float.__repr__` layout, exponent
    /// notation below 1e-4 and from 1e16.
    fn write_python_float_fmt(out: &mut impl fmt::Write, x: f64) -> fmt::Result {
        if x.is_nan() {
            return out.write_str("NaN");
        }
        if x.is_infinite() {
            return out.write_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        }
        // Rust's `{:e}` gives the shortest round-trip digits as `d[.ddd]e[-]X`.
        let mut buf = StackString::<40>::new();
        write!(buf, "{x:e}")?;
        if buf
            .as_str()
            .trim_start_matches('-')
            .split('e')
            .next()
            .map_or(0, |m| m.len())
            == 18
        {
            // 17 significant digits (and the point): the shortest round-trip form can fall on a
            // tie between two 17-digit strings, which Rust rounds up and Python (David Gay's dtoa)
            // rounds to even. The exact formatter rounds half to even, as Python does.
            buf = StackString::new();
            write!(buf, "{x:.16e}")?;
        }
        let s = buf.as_str();
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut digits = StackString::<24>::new();
        for c in mantissa.chars().filter(|c| *c != '.') {
            digits.write_char(c)?;
        }
        let digits = digits.as_str();
        // Python's decpt: the value is 0.DIGITS x 10^decpt.
        let decpt = exp + 1;
        if negative {
            out.write_char('-')?;
        }
        if !(-4 < decpt && decpt <= 16) {
            out.write_str(&digits[..1])?;
            if digits.len() > 1 {
                out.write_char('.')?;
                out.write_str(&digits[1..])?;
            }
            let e = decpt - 1;
            write!(
                out,
                "e{}{:02}",
                if e < 0 { '-' } else { '+' },
                e.unsigned_abs()
            )
        } else if decpt <= 0 {
            out.write_str("0.")?;
            for _ in 0..(-decpt) {
                out.write_char('0')?;
            }
            out.write_str(digits)
        } else {
            let decpt = decpt as usize;
            if decpt >= digits.len() {
                out.write_str(digits)?;
                for _ in digits.len()..decpt {
                    out.write_char('0')?;
                }
                out.write_str(".0")
            } else {
                out.write_str(&digits[..decpt])?;
                out.write_char('.')?;
                out.write_str(&digits[decpt..])
            }
        }
    }

    fn canon(text: &str) -> String {
        to_canonical(&parse(text).unwrap())
    }

    #[test]
    // The tie cases are exactly representable binary64 values; their precision is the point.
    #[allow(clippy::excessive_precision)]
    fn floats_print_like_python_repr() {
        let cases = [
            (1e-5, "1e-05"),
            (1e16, "1e+16"),
            (3e16, "3e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (0.1, "0.1"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (123.456, "123.456"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (9007199254740993.0, "9007199254740992.0"),
            (2.5e-7, "2.5e-07"),
            // Ties between two shortest 17-digit forms round to even, as Python's repr does.
            (1000000000000000.25, "1000000000000000.2"),
            (233891771783429.625, "233891771783429.62"),
            (0.1 + 0.2, "0.30000000000000004"),
            // A tie between two shortest 16-digit forms (the value is ...937.25): even, as
            // Python writes it (the `{:e}` digits used before rounded it up to ...937.3).
            (662936471232937.25, "662936471232937.2"),
            (1e100, "1e+100"),
            (-1.5e-300, "-1.5e-300"),
            (1e22, "1e+22"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (x, want) in cases {
            assert_eq!(Number::from_f64(x).to_string(), want, "{x:e}");
        }
    }

    #[test]
    // The tie cases are exactly representable binary64 values; their precision is the point.
    #[allow(clippy::excessive_precision)]
    fn floats_print_as_the_old_writer_did_save_ties_now_even() {
        let text = |x: f64| {
            let mut s = String::new();
            write_python_float(&mut s, x).unwrap();
            s
        };
        let oracle = |x: f64| {
            let mut s = String::new();
            write_python_float_fmt(&mut s, x).unwrap();
            s
        };
        let mut cases = vec![
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            5e-324,
            9007199254740993.0,
            1000000000000000.25,
            233891771783429.625,
            0.1 + 0.2,
        ];
        // Every power of two and of ten, with their neighbours: the asymmetric rounding
        // intervals, and where the layout switches between plain and exponent notation.
        for e in -1074..=1023 {
            cases.push(2f64.powi(e));
        }
        for e in -323..=308 {
            let p: f64 = format!("1e{e}").parse().unwrap();
            cases.extend([p, 9.0 * p, 1.5 * p, 123.456 * p]);
        }
        for x in cases.clone() {
            let b = x.to_bits();
            cases.extend([
                f64::from_bits(b.wrapping_add(1)),
                f64::from_bits(b.wrapping_sub(1)),
            ]);
        }
        let mut r = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            // Any bit pattern, and short decimals as payloads hold them (latencies, scores,
            // prices), and integers around 2^53 where floats stop holding every integer.
            cases.push(f64::from_bits(r));
            let digits = (r >> 20) % 100_000_000;
            let scale = (r >> 56) % 12;
            cases.push(digits as f64 / 10f64.powi(scale as i32));
            cases.push(((1u64 << 53) + (r >> 40)) as f64 * if r & 1 == 0 { 1.0 } else { -1.0 });
        }
        let (mut checked, mut ties) = (0, 0);
        for x in cases.iter().copied().filter(|x| x.is_finite()) {
            checked += 1;
            let (new, old) = (text(x), oracle(x));
            if new != old {
                // The old writer rounded a tie between two shortest strings of fewer than 17
                // digits up; Python (and Żmij) round it to even. Only such ties may differ.
                assert_shortest_tie_to_even(x, &new, &old);
                ties += 1;
            }
        }
        assert!(checked > 600_000, "{checked}");
        // The ties are rare: a handful among the random values, none among the edge cases.
        assert!(ties < 100, "{ties}");
    }

    /// Asserts that `x`'s exact value lies exactly halfway between `new` and `old`, two
    /// decimals of the same number of digits, and that `new` ends in an even digit.
    fn assert_shortest_tie_to_even(x: f64, new: &str, old: &str) {
        let (_, nd, np) = decimal_parts(new);
        let (_, od, op) = decimal_parts(old);
        let (nd, od) = (nd.as_str(), od.as_str());
        assert_eq!((nd.len(), np), (od.len(), op), "{x:e}: {new} vs {old}");
        assert!(nd.len() < 17, "{x:e}: {new} vs {old}");
        assert_eq!(nd.as_bytes()[nd.len() - 1] % 2, 0, "{x:e}: {new} not even");
        // The exact decimal expansion of `x` (every binary64 has a finite one).
        let exact = format!("{:.1100e}", x.abs());
        let (mantissa, exp) = exact.split_once('e').unwrap();
        let exact_digits = mantissa.replace('.', "");
        let lower = nd.min(od);
        assert_eq!(
            (
                exact_digits.trim_end_matches('0'),
                exp.parse::<i32>().unwrap() + 1
            ),
            (format!("{lower}5").as_str(), np),
            "{x:e}: {new} vs {old} is not a tie"
        );
    }

    #[test]
    fn keys_sort_by_their_bytes_whatever_their_prefixes() {
        // Keys sharing prefixes of every length up to past eight bytes, keys that are
        // prefixes of others, NUL and non-ASCII bytes: the order is `str`'s.
        let alphabet = ["", "\0", "a", "a\0", "b", "é", "\u{7f}", "\u{10ffff}"];
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 17) as usize;
            let fields: Vec<(String, Value)> = (0..n)
                .map(|i| {
                    let r = x.rotate_left(7 * i as u32);
                    let stem = "abcdefgh"[..(r % 9) as usize].to_owned();
                    let tail = alphabet[((r >> 8) % 8) as usize];
                    (format!("{stem}{tail}"), Value::Null)
                })
                .collect();
            let mut order = vec![0; n];
            sort_keys(&mut order, &fields);
            let got: Vec<&str> = order.iter().map(|&i| fields[i].0.as_str()).collect();
            let mut want: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            want.sort();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn forms_left_open_and_closed_match_the_whole_object_rendered() {
        let keys = [
            "a",
            "cost",
            "decision_id",
            "duration_ms",
            "entries",
            "entries_c",
            "error",
            "llm_calls",
            "outcome",
            "result",
            "usage",
            "\u{e9}t\u{e9}",
            "z\"q",
        ];
        let values = [
            Value::from(1u64),
            Value::from("x\ny"),
            Value::from(2.5),
            Value::Null,
            Value::Object(vec![
                ("b".into(), Value::from(1u64)),
                ("a".into(), Value::from(2u64)),
            ]),
            Value::Array(vec![Value::from("p"), Value::Bool(true)]),
        ];
        let added_sets: [Vec<(String, Value)>; 3] = [
            vec![],
            vec![("entries_count".into(), Value::from(5u64))],
            vec![
                ("entries_count".into(), Value::from(12u64)),
                (
                    "entries_digest".into(),
                    Value::from("ab".repeat(32).as_str()),
                ),
            ],
        ];
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut members = Vec::new();
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // A random subset of the keys, in a random order, with random values.
            let mut fields: Vec<(String, Value)> = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                if (x >> i) & 1 == 1 {
                    let v = values[((x >> (20 + i)) % values.len() as u64) as usize].clone();
                    fields.push(((*k).into(), v));
                }
            }
            let turn = (x >> 40) as usize % fields.len().max(1);
            fields.rotate_left(turn);
            let object = Value::Object(fields.clone());
            for added in &added_sets {
                let (mut line, mut canon) = ("<".to_owned(), ">".to_owned());
                let split = write_line_and_canonical_open(
                    &mut line,
                    &mut canon,
                    &object,
                    &mut members,
                    "entries_count",
                    "entries_digest",
                )
                .unwrap();
                let (mut closed_line, mut closed_canon) = (String::new(), String::new());
                close_open_forms(
                    &mut closed_line,
                    &mut closed_canon,
                    &line[1..],
                    &canon[1..],
                    split,
                    added,
                );
                let mut whole = fields.clone();
                whole.extend(added.iter().cloned());
                let whole = Value::Object(whole);
                let (mut want_line, mut want_canon) = (String::new(), String::new());
                write_line_and_canonical(&mut want_line, &mut want_canon, &whole, &mut members);
                assert_eq!(closed_line, want_line);
                assert_eq!(closed_canon, want_canon);
                assert_eq!(want_canon, to_canonical(&whole));
            }
        }
        // A key already in the range, or a value that is not an object: nothing is written.
        let (mut line, mut canon) = (String::new(), String::new());
        for v in [
            Value::Object(vec![("entries_count".into(), Value::from(1u64))]),
            Value::Object(vec![("entries_d".into(), Value::from(1u64))]),
            Value::from("text"),
        ] {
            let open = write_line_and_canonical_open(
                &mut line,
                &mut canon,
                &v,
                &mut members,
                "entries_count",
                "entries_digest",
            );
            assert!(open.is_none());
            assert!(line.is_empty() && canon.is_empty());
        }
    }

    #[test]
    fn plain_end_stops_at_or_before_the_first_special_byte() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            // Zero to two special bytes at random places.
            for k in 0..(x >> 8) % 3 {
                if len > 0 {
                    let at = ((x >> (16 + 8 * k)) as usize) % len;
                    bytes[at] = [b'"', b'\\', b'\n', 0x1f, 0][((x >> 40) % 5) as usize];
                }
            }
            let from = if len == 0 {
                0
            } else {
                ((x >> 48) as usize) % (len + 1)
            };
            let first = (from..len)
                .find(|&i| matches!(bytes[i], b'"' | b'\\' | 0..=0x1f))
                .unwrap_or(len);
            let end = plain_end(&bytes, from);
            assert!(from <= end && end <= first, "{bytes:?} from {from}: {end}");
            if first == len {
                assert_eq!(end, len, "{bytes:?} from {from}");
            }
        }
    }

    #[test]
    fn integers_print_as_display_does() {
        let mut cases = vec![0i128, 1, -1, 9, 10, -10, 99, 100, i128::MAX, i128::MIN];
        for t in [i64::MIN as i128, i64::MAX as i128, u64::MAX as i128] {
            cases.extend([t - 1, t, t + 1]);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x as i64 as i128 >> (x % 64));
            cases.push((x as i128) << (x % 64));
        }
        for i in cases {
            assert_eq!(IntDigits::new(i).as_str(), format!("{i}"));
            let mut out = String::new();
            Number::from(i).write_to(&mut out);
            assert_eq!(out, format!("{i}"));
        }
    }

    #[test]
    fn line_and_canonical_in_one_pass_match_the_two_writers() {
        let texts = [
            r#"{"decision_id": "ab", "z": 1, "a": [1, {"y": 2, "b": "q\"\n"}], "é": 1e-05, "A": {}, "m": []}"#,
            r#"{"k": null, "j": true, "i": false, "h": -0.0, "g": 18446744073709551617, "f": "\u0001"}"#,
            r#"{"b": {"d": {"f": 1, "e": 2}, "c": [3, [4]]}, "a": "x"}"#,
            r#"{}"#,
            r#"[1, {"b": 2, "a": 1}]"#,
            r#""just a string""#,
            r#"12"#,
        ];
        let mut members = Vec::new();
        for text in texts {
            let v = parse(text).unwrap();
            let (mut line, mut canon) = (String::from("prefix "), String::from("{"));
            write_line_and_canonical(&mut line, &mut canon, &v, &mut members);
            assert_eq!(line, format!("prefix {}", to_line_string(&v)), "{text}");
            assert_eq!(canon, format!("{{{}", to_canonical(&v)), "{text}");
        }
        // More keys than the stack buffer holds, in reverse order.
        let many = Value::Object(
            (0..40)
                .rev()
                .map(|i| (format!("k{i:02}"), Value::from(i)))
                .collect(),
        );
        let (mut line, mut canon) = (String::new(), String::new());
        write_line_and_canonical(&mut line, &mut canon, &many, &mut members);
        assert_eq!(line, to_line_string(&many));
        assert_eq!(canon, to_canonical(&many));
    }

    #[test]
    fn integers_keep_their_value_at_any_size() {
        assert_eq!(
            canon("[9007199254740993, -0, 123456789012345678901234567890123456789012]"),
            "[9007199254740993,0,123456789012345678901234567890123456789012]"
        );
        let long = "9".repeat(MAX_INT_DIGITS + 1);
        assert!(parse(&long).unwrap_err().message.contains("4300 digits"));
    }

    #[test]
    fn number_texts_are_normalised_as_python_reads_them() {
        assert_eq!(
            canon("[1E5, 1e400, 1.50, 2e-5, 10.0]"),
            "[100000.0,Infinity,1.5,2e-05,10.0]"
        );
    }

    #[test]
    fn strings_escape_like_python() {
        let v = Value::from("q\"b\\t\tn\nr\rb\u{8}f\u{c}c\u{1f}/\u{7f}\u{2028}é🚀");
        assert_eq!(
            to_canonical(&v),
            "\"q\\\"b\\\\t\\tn\\nr\\rb\\bf\\fc\\u001f/\u{7f}\u{2028}é🚀\""
        );
    }

    #[test]
    fn escapes_decode_including_surrogate_pairs() {
        assert_eq!(
            parse(r#""\ud83d\ude80\u00e9\/""#).unwrap(),
            Value::from("🚀é/")
        );
        assert!(parse(r#""\ud83d""#).unwrap_err().message.contains("lone"));
        assert!(parse(r#""\ude80x""#).unwrap_err().message.contains("lone"));
    }

    #[test]
    fn canonical_sorts_keys_by_code_point_and_line_form_keeps_order() {
        let v = parse(r#"{"é": 1, "b": {"z": null, "a": [true, false]}, "B": 2}"#).unwrap();
        assert_eq!(
            to_canonical(&v),
            r#"{"B":2,"b":{"a":[true,false],"z":null},"é":1}"#
        );
        assert_eq!(
            to_line_string(&v),
            r#"{"é": 1, "b": {"z": null, "a": [true, false]}, "B": 2}"#
        );
    }

    #[test]
    fn malformed_texts_are_refused_with_a_position() {
        for (text, needle) in [
            ("", "end of text"),
            ("{\"a\" 1}", "':'"),
            ("[1,]", "expecting value"),
            ("{\"a\":1,}", "property name"),
            ("\"abc", "unterminated"),
            ("\"a\u{1}\"", "control character"),
            ("01", "extra data"),
            ("1.x", "extra data"),
            ("[1] x", "extra data"),
            ("tru", "expecting value"),
            ("\"\\x\"", "invalid \\escape"),
            ("1.x", "extra data"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn objects_with_many_keys_parse_in_linear_time_and_still_refuse_duplicates() {
        let mut text = String::from("{");
        for i in 0..100_000 {
            text.push_str(&format!("\"k{i}\": {i},"));
        }
        let start = std::time::Instant::now();
        let ok = format!("{}\"last\": 0}}", text);
        assert!(parse(&ok).is_ok());
        let dup = format!("{}\"k99999\": 0}}", text);
        assert!(
            parse(&dup)
                .unwrap_err()
                .message
                .contains("duplicate key \"k99999\"")
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn text_cut_anywhere_is_reported_as_truncated() {
        let full = r#"{"a": "x\"y\u00e9\ud83d\ude80", "n": -1.5e-3, "t": true}"#;
        for end in 1..full.len() {
            let cut = &full[..end];
            if let Err(e) = parse(cut) {
                assert!(e.truncated, "{cut:?}: {e}");
            }
        }
        assert!(!parse("[1, x]").unwrap_err().truncated);
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).unwrap_err().message.contains("nesting"));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let too_deep = format!("[{ok}]");
        assert!(parse(&too_deep).unwrap_err().message.contains("nesting"));
        // `parse`'s documentation gives both limits in numbers.
        assert_eq!((MAX_DEPTH, MAX_INT_DIGITS), (256, 4300));
    }

    #[test]
    fn set_replaces_a_member_in_place_or_appends_it() {
        let mut v = parse(r#"{"a": 1, "b": [2], "c": null}"#).unwrap();
        assert_eq!(v.set("b", "x"), Some(Value::Array(vec![Value::from(2u64)])));
        assert_eq!(v.set("d", true), None);
        assert_eq!(v.to_string(), r#"{"a": 1, "b": "x", "c": null, "d": true}"#);
    }

    #[test]
    #[should_panic(expected = "not an object")]
    fn set_on_a_value_that_is_not_an_object_panics() {
        Value::Array(Vec::new()).set("a", 1u64);
    }
}
