//! Model prices and exact cost arithmetic.
//!
//! A [`PriceTable`] maps model ids to list prices per million tokens, held as exact decimals.
//! The crate embeds a dated table ([`PriceTable::embedded`]); a JSON file in the same format
//! overrides or extends it ([`PriceTable::overlay`]). Costs are computed in integer arithmetic
//! and written as decimal strings, never through a float, so `0.1 + 0.2` stays `0.3`.
//!
//! ```
//! use acttrace::genai::{PriceTable, TokenUsage};
//! let table = PriceTable::embedded();
//! let usage = TokenUsage { input: 1_000, output: 500, ..TokenUsage::default() };
//! let cost = table.cost("gpt-4o-2024-08-06", &usage).unwrap();
//! assert_eq!(cost.amount.to_string(), "0.0075"); // 1000 × $2.50/M + 500 × $10/M
//! assert_eq!(cost.model, "gpt-4o");               // the dated id priced as its base model
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use once_cell::sync::Lazy;

use crate::json::{self, Value};

/// The format name a price table file declares.
pub const PRICE_FORMAT: &str = "acttrace-prices/1";

/// Most fractional digits a decimal may have: a price per million tokens with up to 18, times a
/// token count, is a cost with up to 24 (a cost must parse back, to be summed). Overflow beyond
/// `u128` is checked wherever decimals are multiplied or added.
const MAX_SCALE: u32 = 24;

/// Most fractional digits a price may have (far below any real price per million tokens).
const MAX_PRICE_SCALE: u32 = 18;

/// An exact, non-negative decimal number: `units / 10^scale`.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    units: u128,
    scale: u32,
}

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal { units: 0, scale: 0 };

    /// Parses a plain decimal such as `2.5`, `0.075` or `10` (no sign, no exponent).
    pub fn parse(s: &str) -> Result<Decimal, String> {
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{s:?} is not a plain decimal number such as \"2.5\""
            ));
        }
        if s.contains('.') && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!(
                "{s:?} is not a plain decimal number such as \"2.5\""
            ));
        }
        if frac.len() > MAX_SCALE as usize {
            return Err(format!("{s:?} has more than {MAX_SCALE} decimal places"));
        }
        let mut units: u128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(u128::from(b - b'0')))
                .ok_or_else(|| format!("{s:?} is too large"))?;
        }
        Ok(Decimal {
            units,
            scale: frac.len() as u32,
        })
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.units == 0
    }

    fn rescale(self, scale: u32) -> Option<Decimal> {
        let factor = 10u128.checked_pow(scale - self.scale)?;
        Some(Decimal {
            units: self.units.checked_mul(factor)?,
            scale,
        })
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.rescale(scale)?, other.rescale(scale)?);
        Some(Decimal {
            units: a.units.checked_add(b.units)?,
            scale,
        })
    }

    /// `self × n / 10^shift`, exactly, or `None` on overflow.
    fn mul_shift(self, n: u64, shift: u32) -> Option<Decimal> {
        Some(Decimal {
            units: self.units.checked_mul(u128::from(n))?,
            scale: self.scale + shift,
        })
    }

    /// The same value with trailing fractional zeros removed.
    fn normalized(self) -> Decimal {
        let mut d = self;
        // In 64 bits when the units fit (every real amount): `u128` division is a call.
        if let Ok(mut units) = u64::try_from(d.units) {
            while d.scale > 0 && units.is_multiple_of(10) {
                units /= 10;
                d.scale -= 1;
            }
            d.units = u128::from(units);
            return d;
        }
        while d.scale > 0 && d.units.is_multiple_of(10) {
            d.units /= 10;
            d.scale -= 1;
        }
        d
    }
}

/// `units` in decimal digits, written at the end of `buf` (39 digits hold any `u128`).
fn decimal_digits(units: u128, buf: &mut [u8; 39]) -> &str {
    let mut at = buf.len();
    let mut push = |digit: u8| {
        at -= 1;
        buf[at] = b'0' + digit;
    };
    match u64::try_from(units) {
        Ok(mut v) => loop {
            push((v % 10) as u8);
            v /= 10;
            if v == 0 {
                break;
            }
        },
        Err(_) => {
            let mut v = units;
            loop {
                push((v % 10) as u8);
                v /= 10;
                if v == 0 {
                    break;
                }
            }
        }
    }
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        let (a, b) = (self.normalized(), other.normalized());
        a.units == b.units && a.scale == b.scale
    }
}

impl fmt::Display for Decimal {
    /// The shortest exact form: `0.0075`, `12`, `0`. Written in place, without allocating:
    /// the sequencer renders each decision's cost total with it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.normalized();
        let mut buf = [0u8; 39];
        let digits = decimal_digits(d.units, &mut buf);
        let scale = d.scale as usize;
        if scale == 0 {
            return f.write_str(digits);
        }
        if digits.len() > scale {
            let (i, frac) = digits.split_at(digits.len() - scale);
            f.write_str(i)?;
            f.write_str(".")?;
            f.write_str(frac)
        } else {
            f.write_str("0.")?;
            for _ in digits.len()..scale {
                f.write_str("0")?;
            }
            f.write_str(digits)
        }
    }
}

/// One model's list prices, per million tokens, in the table's currency.
#[derive(Clone, Debug, PartialEq)]
pub struct Rates {
    /// Fresh (uncached) input tokens.
    pub input: Decimal,
    /// Output tokens (reasoning tokens are billed as output).
    pub output: Decimal,
    /// Input tokens read from the provider's prompt cache, when the provider discounts them.
    pub cached_input: Option<Decimal>,
    /// Input tokens written to the provider's prompt cache, when the provider charges for it.
    pub cache_write: Option<Decimal>,
}

/// Token counts of one call, as the OpenTelemetry GenAI conventions define them: `input`
/// includes the cache reads and cache writes, which are broken out separately.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// All input tokens (`gen_ai.usage.input_tokens`).
    pub input: u64,
    /// Output tokens (`gen_ai.usage.output_tokens`), reasoning included.
    pub output: u64,
    /// Input tokens served from the cache (`gen_ai.usage.cache_read.input_tokens`).
    pub cache_read: u64,
    /// Input tokens written to the cache (`gen_ai.usage.cache_write.input_tokens`, earlier
    /// `gen_ai.usage.cache_creation.input_tokens`).
    pub cache_creation: u64,
}

/// A computed cost and what it rests on.
#[derive(Clone, Debug, PartialEq)]
pub struct Cost {
    /// The exact amount.
    pub amount: Decimal,
    /// ISO 4217 currency of the amount.
    pub currency: String,
    /// The table key the model resolved to (a dated or prefixed id prices as its base model).
    pub model: String,
    /// The price table's version (its date).
    pub table_version: String,
    /// Caveats of this computation (for example cache reads priced at the full input rate).
    pub notes: Vec<String>,
}

/// Why a call could not be priced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpriced(pub String);

impl fmt::Display for Unpriced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A problem with a price table file, naming the file and the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceTableError(pub String);

impl fmt::Display for PriceTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PriceTableError {}

/// Model prices: model id → [`Rates`], with aliases, a currency and a dated version.
///
/// The file format (`acttrace-prices/1`, JSON):
///
/// ```json
/// {"format": "acttrace-prices/1", "version": "2026-11-01", "currency": "USD",
///  "aliases": {"my-deployment": "gpt-4o"},
///  "models": {"gpt-4o": {"input": "2.5", "output": "10", "cached_input": "1.25"},
///             "claude-sonnet-4": {"input": "3", "output": "15", "cached_input": "0.3",
///                                 "cache_write": "3.75"}}}
/// ```
///
/// Prices are decimal strings per million tokens (numbers are refused: a float cannot hold
/// `0.075` exactly). Other keys (`unit`, `note`, a row's `source`) are documentation.
#[derive(Clone, Debug)]
pub struct PriceTable {
    version: String,
    currency: String,
    models: HashMap<String, Rates>,
    aliases: HashMap<String, String>,
}

static EMBEDDED: Lazy<PriceTable> = Lazy::new(|| {
    PriceTable::from_json_str(include_str!("prices.json"), "embedded prices.json")
        .expect("the embedded price table is valid (checked by a unit test)")
});

impl PriceTable {
    /// The table compiled into this crate (list prices dated by [`PriceTable::version`]).
    pub fn embedded() -> &'static PriceTable {
        &EMBEDDED
    }

    /// An empty table in `currency`: every model is unknown until added.
    pub fn empty(version: impl Into<String>, currency: impl Into<String>) -> PriceTable {
        PriceTable {
            version: version.into(),
            currency: currency.into(),
            models: HashMap::new(),
            aliases: HashMap::new(),
        }
    }

    /// Parses a table; `origin` names it in errors (a file path, say).
    pub fn from_json_str(text: &str, origin: &str) -> Result<PriceTable, PriceTableError> {
        let err = |msg: String| PriceTableError(format!("{origin}: {msg}"));
        let root = json::parse(text).map_err(|e| err(format!("not valid JSON: {e}")))?;
        let Value::Object(fields) = &root else {
            return Err(err("the table must be a JSON object".into()));
        };
        let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        match get("format") {
            Some(Value::String(f)) if f == PRICE_FORMAT => {}
            Some(other) => {
                return Err(err(format!(
                    "\"format\" is {other}, expected \"{PRICE_FORMAT}\""
                )));
            }
            None => return Err(err(format!("missing \"format\": \"{PRICE_FORMAT}\""))),
        }
        let text_field = |key: &str| match get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(err(format!("\"{key}\" must be a non-empty string"))),
        };
        let mut table = PriceTable::empty(text_field("version")?, text_field("currency")?);
        if let Some(aliases) = get("aliases") {
            let Value::Object(aliases) = aliases else {
                return Err(err("\"aliases\" must be an object".into()));
            };
            for (from, to) in aliases {
                let Value::String(to) = to else {
                    return Err(err(format!("aliases.{from} must be a model id string")));
                };
                table
                    .aliases
                    .insert(from.to_ascii_lowercase(), to.to_ascii_lowercase());
            }
        }
        let Some(Value::Object(models)) = get("models") else {
            return Err(err("\"models\" must be an object".into()));
        };
        for (model, row) in models {
            let Value::Object(row) = row else {
                return Err(err(format!("models.{model} must be an object")));
            };
            let rate = |key: &str| -> Result<Option<Decimal>, PriceTableError> {
                match row.iter().find(|(k, _)| k == key).map(|(_, v)| v) {
                    None => Ok(None),
                    Some(Value::String(s)) => match Decimal::parse(s) {
                        // Room is kept for the token count's digits: a cost must parse back.
                        Ok(d) if d.scale > MAX_PRICE_SCALE => Err(err(format!(
                            "models.{model}.{key}: {s:?} has more than {MAX_PRICE_SCALE} \
                             decimal places"
                        ))),
                        Ok(d) => Ok(Some(d)),
                        Err(e) => Err(err(format!("models.{model}.{key}: {e}"))),
                    },
                    Some(other) => Err(err(format!(
                        "models.{model}.{key} is {other}: prices are decimal strings such as \
                         \"2.5\" (a float cannot hold most prices exactly)"
                    ))),
                }
            };
            let required = |key: &str| {
                rate(key)?.ok_or_else(|| err(format!("models.{model} has no \"{key}\" price")))
            };
            let rates = Rates {
                input: required("input")?,
                output: required("output")?,
                cached_input: rate("cached_input")?,
                cache_write: rate("cache_write")?,
            };
            table.models.insert(model.to_ascii_lowercase(), rates);
        }
        Ok(table)
    }

    /// Reads a table from a JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<PriceTable, PriceTableError> {
        let path = path.as_ref();
        let text =
            crate::small_file::read_to_string(path, crate::small_file::MAX_CONFIG_FILE_BYTES)
                .map_err(|e| PriceTableError(format!("{}: cannot read: {e}", path.display())))?;
        PriceTable::from_json_str(&text, &path.display().to_string())
    }

    /// This table with `other`'s models and aliases added or replacing its own; the version
    /// becomes `"<self>+<other>"` so an entry names both. The currencies must agree.
    pub fn overlay(&self, other: &PriceTable) -> Result<PriceTable, PriceTableError> {
        if self.currency != other.currency {
            return Err(PriceTableError(format!(
                "cannot overlay a {} price table on a {} one",
                other.currency, self.currency
            )));
        }
        let mut merged = self.clone();
        merged.version = format!("{}+{}", self.version, other.version);
        merged
            .models
            .extend(other.models.iter().map(|(k, v)| (k.clone(), v.clone())));
        merged
            .aliases
            .extend(other.aliases.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(merged)
    }

    /// Adds or replaces one model's prices.
    pub fn insert(&mut self, model: &str, rates: Rates) {
        self.models.insert(model.to_ascii_lowercase(), rates);
    }

    /// The table's version (the date its prices were taken).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The currency of every price.
    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// How many models are priced.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether no model is priced.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The table key and prices for a model id as a client reports it. Tried in order: the id
    /// lower-cased (with an alias applied), then with a provider prefix
    /// (`openai/`, `us.anthropic.`), a Bedrock version (`-v1:0`) and a date suffix
    /// (`-20250219`, `-2024-08-06`) removed.
    pub fn resolve(&self, model: &str) -> Option<(&str, &Rates)> {
        let lookup = |id: &str| {
            let id = self.aliases.get(id).map_or(id, String::as_str);
            self.models.get_key_value(id).map(|(k, r)| (k.as_str(), r))
        };
        let lower = model.trim().to_ascii_lowercase();
        if let Some(found) = lookup(&lower) {
            return Some(found);
        }
        let mut id = lower.as_str();
        if let Some((_, rest)) = id.split_once('/') {
            id = rest;
        }
        id = strip_dotted_prefix(id);
        id = strip_bedrock_version(id);
        id = strip_date_suffix(id);
        lookup(id)
    }

    /// The cost of a call to `model` with `usage`, or why it cannot be priced.
    ///
    /// Fresh input (input minus cache reads and writes) is priced at the input rate, cache reads
    /// at the cached-input rate (the full input rate when the model publishes none, an upper
    /// bound that is noted), cache writes at the cache-write rate (unpriced when the model
    /// publishes none), output at the output rate.
    pub fn cost(&self, model: &str, usage: &TokenUsage) -> Result<Cost, Unpriced> {
        let Some((key, rates)) = self.resolve(model) else {
            return Err(Unpriced(format!(
                "model {model:?} is not in price table {}",
                self.version
            )));
        };
        let mut notes = Vec::new();
        let lower = model.trim().to_ascii_lowercase();
        if key != lower && !self.aliases.contains_key(&lower) {
            // A dated snapshot can be priced differently from its base model (gpt-4o-2024-05-13
            // was): say the figure rests on the base model's price.
            notes.push(format!(
                "{model} is not in the table: priced as {key} (provider prefix, version or date \
                 removed)"
            ));
        }
        let cached = usage.cache_read.saturating_add(usage.cache_creation);
        let fresh = if cached <= usage.input {
            usage.input - cached
        } else {
            // Some providers report input without the cached part (Anthropic's own API): the
            // conventions say instrumentations should fold it in, and not all do.
            notes.push("input tokens did not include the cached tokens".to_owned());
            usage.input
        };
        let cached_rate = match rates.cached_input {
            Some(r) => r,
            None if usage.cache_read > 0 => {
                notes.push("cache reads priced at the input rate (no cached rate)".to_owned());
                rates.input
            }
            None => rates.input,
        };
        let write_rate = match rates.cache_write {
            Some(r) => r,
            None if usage.cache_creation > 0 => {
                return Err(Unpriced(format!(
                    "price table {} has no cache-write price for {key}",
                    self.version
                )));
            }
            None => Decimal::ZERO,
        };
        let overflow = || Unpriced("the cost overflows exact arithmetic".to_owned());
        let mut amount = Decimal::ZERO;
        for (rate, tokens) in [
            (rates.input, fresh),
            (cached_rate, usage.cache_read),
            (write_rate, usage.cache_creation),
            (rates.output, usage.output),
        ] {
            let part = rate.mul_shift(tokens, 6).ok_or_else(overflow)?;
            amount = amount.checked_add(part).ok_or_else(overflow)?;
        }
        Ok(Cost {
            amount: amount.normalized(),
            currency: self.currency.clone(),
            model: key.to_owned(),
            table_version: self.version.clone(),
            notes,
        })
    }
}

/// `us.anthropic.claude-x` → `claude-x`: one or more lower-case words each followed by a dot.
fn strip_dotted_prefix(id: &str) -> &str {
    let mut rest = id;
    while let Some((word, tail)) = rest.split_once('.') {
        if !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()) && !tail.is_empty() {
            rest = tail;
        } else {
            break;
        }
    }
    rest
}

/// `claude-x-v1:0` or `claude-x-v2` → `claude-x`.
fn strip_bedrock_version(id: &str) -> &str {
    let Some(pos) = id.rfind("-v") else { return id };
    let tail = &id[pos + 2..];
    let (major, minor) = match tail.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (tail, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(major) && minor.is_none_or(digits) {
        &id[..pos]
    } else {
        id
    }
}

/// `gpt-4o-2024-08-06` or `claude-x-20250219` → the id without the date.
fn strip_date_suffix(id: &str) -> &str {
    let b = id.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if b.len() > 9 && b[b.len() - 9] == b'-' && digits(&b[b.len() - 8..]) {
        return &id[..id.len() - 9];
    }
    if b.len() > 11 {
        let t = &b[b.len() - 11..];
        if t[0] == b'-'
            && digits(&t[1..5])
            && t[5] == b'-'
            && digits(&t[6..8])
            && t[8] == b'-'
            && digits(&t[9..11])
        {
            return &id[..id.len() - 11];
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn embedded_table_parses_and_is_dated() {
        let t = PriceTable::embedded();
        assert!(t.len() > 500, "{} models", t.len());
        assert_eq!(t.currency(), "USD");
        assert_eq!(t.version(), "2026-08-02");
        let (_, r) = t.resolve("gpt-4o").unwrap();
        assert_eq!(r.input, d("2.5"));
        assert_eq!(r.output, d("10"));
        assert_eq!(r.cached_input, Some(d("1.25")));
    }

    /// Printing as the allocating version did (`u128::to_string`, then the point placed).
    fn printed_the_long_way(d: Decimal) -> String {
        let mut d = d;
        while d.scale > 0 && d.units.is_multiple_of(10) {
            d.units /= 10;
            d.scale -= 1;
        }
        let digits = d.units.to_string();
        let scale = d.scale as usize;
        if scale == 0 {
            digits
        } else if digits.len() > scale {
            let (i, frac) = digits.split_at(digits.len() - scale);
            format!("{i}.{frac}")
        } else {
            format!("0.{}{digits}", "0".repeat(scale - digits.len()))
        }
    }

    #[test]
    fn decimals_print_in_place_as_the_long_way_does_across_the_64_bit_boundary() {
        let big = u128::from(u64::MAX);
        for units in [
            0,
            1,
            9,
            10,
            100,
            12_300,
            123_456_789,
            big - 1,
            big,
            big + 1,
            big * 10,
            big * 1_000 + 7,
            u128::MAX,
            u128::MAX - 5,
            10u128.pow(38),
        ] {
            for scale in [0, 1, 2, 5, 19, 20, 21, 24, 38, 39, 40, 45] {
                let d = Decimal { units, scale };
                assert_eq!(
                    d.to_string(),
                    printed_the_long_way(d),
                    "{units} / 10^{scale}"
                );
            }
        }
    }

    #[test]
    fn decimals_parse_and_print_exactly() {
        assert_eq!(d("0.075").to_string(), "0.075");
        assert_eq!(d("10").to_string(), "10");
        assert_eq!(d("2.50").to_string(), "2.5");
        assert_eq!(d("0").to_string(), "0");
        assert_eq!(d("0.1").checked_add(d("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(d("0.15").mul_shift(3, 6).unwrap().to_string(), "0.00000045");
        for bad in [
            "",
            "-1",
            "1e5",
            "1.",
            ".5",
            "1.2.3",
            "a",
            "0.0000000000000000000000001",
        ] {
            assert!(Decimal::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn dated_prefixed_and_versioned_ids_resolve_to_the_base_model() {
        let t = PriceTable::embedded();
        for (id, key) in [
            ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("openai/gpt-4o", "gpt-4o"),
            ("GPT-4o", "gpt-4o"),
            (
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
                "claude-sonnet-4",
            ),
            ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ] {
            assert_eq!(t.resolve(id).map(|(k, _)| k), Some(key), "{id}");
        }
        assert!(t.resolve("no-such-model-xyz").is_none());
    }

    #[test]
    fn cost_splits_cached_and_fresh_input() {
        let t = PriceTable::embedded();
        // gpt-4o-mini: input 0.15, cached 0.075, output 0.6 per million.
        let usage = TokenUsage {
            input: 1_200,
            output: 300,
            cache_read: 200,
            cache_creation: 0,
        };
        let c = t.cost("gpt-4o-mini-2024-07-18", &usage).unwrap();
        // 1000 × 0.15 + 200 × 0.075 + 300 × 0.6 = 150 + 15 + 180 = 345 per million
        assert_eq!(c.amount.to_string(), "0.000345");
        assert_eq!(c.model, "gpt-4o-mini");
        assert_eq!(c.table_version, "2026-08-02");
        // The dated id is priced as its base model, and the entry says so.
        assert_eq!(
            c.notes,
            [
                "gpt-4o-mini-2024-07-18 is not in the table: priced as gpt-4o-mini (provider \
              prefix, version or date removed)"
            ]
        );
        let exact = t.cost("gpt-4o-mini", &usage).unwrap();
        assert!(exact.notes.is_empty());
    }

    #[test]
    fn cache_writes_are_priced_or_refused_never_guessed() {
        let mut t = PriceTable::empty("test", "USD");
        t.insert(
            "with-write",
            Rates {
                input: d("3"),
                output: d("15"),
                cached_input: Some(d("0.3")),
                cache_write: Some(d("3.75")),
            },
        );
        t.insert(
            "no-write",
            Rates {
                input: d("1"),
                output: d("2"),
                cached_input: None,
                cache_write: None,
            },
        );
        let usage = TokenUsage {
            input: 3_000,
            output: 100,
            cache_read: 1_000,
            cache_creation: 1_000,
        };
        // 1000 × 3 + 1000 × 0.3 + 1000 × 3.75 + 100 × 15 = 3000 + 300 + 3750 + 1500 = 8550
        assert_eq!(
            t.cost("with-write", &usage).unwrap().amount.to_string(),
            "0.00855"
        );
        let refused = t.cost("no-write", &usage).unwrap_err();
        assert!(refused.0.contains("no cache-write price"), "{refused}");
        let reads_only = TokenUsage {
            cache_creation: 0,
            ..usage
        };
        let c = t.cost("no-write", &reads_only).unwrap();
        // 2000 × 1 + 1000 × 1 (no cached rate) + 100 × 2 = 3200
        assert_eq!(c.amount.to_string(), "0.0032");
        assert_eq!(c.notes.len(), 1);
        let unknown = t.cost("mystery", &usage).unwrap_err();
        assert_eq!(unknown.0, "model \"mystery\" is not in price table test");
    }

    #[test]
    fn files_overlay_the_embedded_table_and_errors_name_the_field() {
        let file = r#"{"format": "acttrace-prices/1", "version": "acme-2026-11", "currency": "USD",
            "aliases": {"prod-chat": "acme-llm"},
            "models": {"acme-llm": {"input": "0.5", "output": "1.5"},
                       "gpt-4o": {"input": "2", "output": "8"}}}"#;
        let extra = PriceTable::from_json_str(file, "acme.json").unwrap();
        let t = PriceTable::embedded().overlay(&extra).unwrap();
        assert_eq!(t.version(), "2026-08-02+acme-2026-11");
        assert_eq!(t.resolve("prod-chat").unwrap().0, "acme-llm");
        assert_eq!(t.resolve("gpt-4o").unwrap().1.input, d("2"));
        assert!(t.resolve("claude-sonnet-4").is_some());

        let float = file.replace("\"0.5\"", "0.5");
        let e = PriceTable::from_json_str(&float, "acme.json").unwrap_err();
        assert!(
            e.0.starts_with("acme.json: models.acme-llm.input is 0.5"),
            "{e}"
        );
        let missing = file.replace(", \"output\": \"1.5\"", "");
        let e = PriceTable::from_json_str(&missing, "acme.json").unwrap_err();
        assert_eq!(e.0, "acme.json: models.acme-llm has no \"output\" price");
        let e = PriceTable::from_json_str("{}", "x.json").unwrap_err();
        assert!(e.0.contains("\"format\""), "{e}");
        let eur = PriceTable::empty("v", "EUR");
        assert!(PriceTable::embedded().overlay(&eur).is_err());
    }

    #[test]
    fn a_cost_from_the_finest_price_parses_back() {
        let fine = r#"{"format": "acttrace-prices/1", "version": "v", "currency": "USD",
            "models": {"m": {"input": "0.000000000000000001", "output": "0"}}}"#;
        let t = PriceTable::from_json_str(fine, "fine.json").unwrap();
        let usage = TokenUsage {
            input: 7,
            ..TokenUsage::default()
        };
        let cost = t.cost("m", &usage).unwrap().amount.to_string();
        assert_eq!(cost, "0.000000000000000000000007");
        assert_eq!(Decimal::parse(&cost).unwrap().to_string(), cost);
        let finer = fine.replace("0.000000000000000001", "0.0000000000000000001");
        let e = PriceTable::from_json_str(&finer, "finer.json").unwrap_err();
        assert!(e.0.contains("more than 18 decimal places"), "{e}");
    }

    #[test]
    fn huge_token_counts_do_not_overflow_silently() {
        let t = PriceTable::embedded();
        let usage = TokenUsage {
            input: u64::MAX,
            output: u64::MAX,
            cache_read: 0,
            cache_creation: 0,
        };
        // u64::MAX × a price still fits u128 with scale; the sum is exact.
        let c = t.cost("gpt-4o", &usage).unwrap();
        assert!(c.amount.to_string().starts_with("230584300921369"));
    }
}
