//! Detection and redaction of secrets and personal data before anything is hashed.
//!
//! The engine finds 20 reference categories plus Stripe keys (and, opt-in, four locale
//! packs and a high-entropy token detector) in one pass over the text:
//!
//! 1. a byte-level lexer reads each line once and notes which token kinds it holds (see
//!    *How it stays fast*); benign text usually stops here;
//! 2. only the detectors whose token kind occurs run their own regex on that line, and
//!    only their candidates are validated (Luhn, mod-97, ABA, ISO 3166, SSA rules, ...).
//!
//! | group | categories |
//! |---|---|
//! | `secret` | `api_key`, `stripe_key`, `aws_key`, `google_api_key`, `jwt`, `bearer_token`, `github_token`, `slack_token`, `private_key`, (`high_entropy_token`, opt-in) |
//! | `credential` | `password` (keyword form and URL userinfo) |
//! | `financial` | `credit_card`, `iban`, `us_routing`, `swift_bic` |
//! | `gov_id` | `us_ssn`, (`uk_nino`, `de_steuer_id`, `fr_nir`, `in_aadhaar`: locale packs) |
//! | `pii` | `email`, `phone`, `ipv4`, `ipv6`, `mac_address` |
//! | `special_category` | `special_category` (GDPR Art. 9 lexicon) |
//!
//! Entry points: [`scan`] (findings only), [`redact_str`], [`redact_value`], the
//! [`Redactor`] trait and its built-in implementation [`BuiltinRedactor`], and [`Policy`].
//!
//! # How it stays fast
//!
//! One byte-level lexer pass per line computes which token kinds occur (long digit runs
//! and their shapes, hex-colon runs, upper-case codes, keyword stems, literal secret
//! prefixes, `@`). A detector's regex runs on a line only when the line holds the token
//! kind it needs, and validators run only on regex candidates. The gates are supersets of
//! the patterns (a property test compares gated and ungated scans), so gating never loses
//! a finding. Work is linear in the input: multi-line PEM blocks are searched once from
//! their first line, candidates inside an accepted span are skipped, validators look at
//! bounded windows, and [`redact_value`] walks values with an explicit stack.
//!
//! # Sharing the engine
//!
//! [`Scanner::global`] compiles every pattern once per process (a few milliseconds, on
//! first use; [`BuiltinRedactor::new`] forces it). [`Scanner`], [`Policy`] and
//! [`BuiltinRedactor`] are `Send + Sync`: keep one `Arc<dyn Redactor>` and call it from
//! any thread. Each call uses only stack/heap scratch of its own.
//!
//! # Choices worth knowing
//!
//! * `us_routing` fires on a standalone 9-digit number with a valid ABA check digit and a
//!   Federal Reserve prefix (00-12, 21-32, 61-72, 80), unless it follows an identifier
//!   label (`order #`, `ref`, `sku`, ...) or is part of a decimal/date/longer number. A
//!   random 9-digit number passes with probability about 3.7 %, so context words
//!   (`routing`, `ABA`, `RTN`) are not required; with them, identifier labels are ignored.
//!   Bare JSON numbers need a key naming a routing number.
//! * `swift_bic` needs a valid ISO 3166 country and location code, and is dropped after an
//!   identifier label, in hyphenated codes and next to other ALL-CAPS words (shouted
//!   prose), unless a context word (`SWIFT`, `BIC`, `bank`, `wire`, `IBAN`) precedes it.
//! * `special_category` uses a keyword lexicon with word boundaries; bare topic words
//!   (`health`, `political`, `religious`, `cancer`) need a qualifier or a personal cue
//!   ("health condition", "political opinion", "has cancer"); technical uses ("SSH key
//!   fingerprint", "genetic algorithm", "race condition") are excluded. For label forms
//!   ("religion: X", "diagnosed with X") the finding covers the value.
//! * `Block` removes the value like `Redact` and additionally marks the [`Report`] as
//!   blocked: the caller should refuse the operation and log the refusal.
//! * `us_ssn` and `uk_nino` candidates that fail the allocation rules (the ITIN range
//!   `9xx`, a `00` group, `ZZ`/`TN` prefixes) are redacted only after a context word (`SSN`,
//!   `ITIN`, `tax id`, `NINO`, `national insurance`, ...) or under a field so named.
//! * JSON floats with an integral value (`4111111111111111.0`) are scanned as their integer
//!   digits.
//! * The locale packs stay opt-in. Measured on `tests/corpus` with all four packs on: 0 false
//!   positives in the 1,000 en_US and 900 fr_FR/de_DE/en_GB benign lines, as with them off. But
//!   bare JSON numbers are scanned by the packs too, and a random number passes as an
//!   Aadhaar about 10 % of the time (one Verhoeff digit), as a Steuer-ID or NIR about 0.4 %:
//!   on-by-default would redact ordinary 11-15 digit ids in busy logs. Enable the packs of your
//!   users' countries in the policy (`locale_packs`); `acttrace redact --all` enables them all.
//! * [`Policy::default_preset`] also redacts financial and government ids (the reference
//!   only flagged them and left card numbers and SSNs in an append-only log).
//!
//! ```
//! use acttrace::redact::{redact_str, Policy};
//! let (out, report) = redact_str("key sk-proj-Abc123Def456Ghi789Jkl0 for bob@example.com", &Policy::default_preset());
//! assert_eq!(out, "key <redacted:api_key> for <redacted:email>");
//! assert_eq!(report.categories_redacted(), vec!["api_key", "email"]);
//! ```

mod detectors;
mod gate;
mod policy;
mod report;

use std::borrow::Cow;
use std::fmt;

use once_cell::sync::Lazy;
use regex::Regex;

use crate::json::Value;
use detectors::{DEFS, Feature, Span};

pub use policy::{Action, Policy, PolicyBuilder, PolicyError};
pub use report::{CategoryReport, Report};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Low-risk identifiers (IP and MAC addresses, BIC codes).
    Info,
    /// Personal data and partial financial data (email, phone, IBAN, routing numbers).
    Warning,
    /// Secrets, credentials, card numbers, government ids, special-category data.
    Critical,
}

impl Severity {
    /// `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Opt-in national identifier detectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocalePack {
    /// UK National Insurance number (`uk_nino`).
    UkNino,
    /// German tax id, Steuer-ID (`de_steuer_id`).
    DeSteuerId,
    /// French social security number, NIR (`fr_nir`).
    FrNir,
    /// Indian Aadhaar number (`in_aadhaar`).
    InAadhaar,
}

impl LocalePack {
    /// All packs.
    pub const ALL: [LocalePack; 4] = [
        LocalePack::UkNino,
        LocalePack::DeSteuerId,
        LocalePack::FrNir,
        LocalePack::InAadhaar,
    ];

    /// The pack's name, which is also its category name.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalePack::UkNino => "uk_nino",
            LocalePack::DeSteuerId => "de_steuer_id",
            LocalePack::FrNir => "fr_nir",
            LocalePack::InAadhaar => "in_aadhaar",
        }
    }

    /// Parses a pack name.
    pub fn parse(s: &str) -> Option<LocalePack> {
        LocalePack::ALL.into_iter().find(|p| p.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Which optional detectors run. The default runs the core detectors only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanOptions {
    packs: u8,
    /// Run the high-entropy token detector (never matches hex ids, UUIDs, SHA digests).
    pub entropy: bool,
}

impl ScanOptions {
    /// Core detectors only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enables a locale pack.
    pub fn enable_pack(&mut self, pack: LocalePack) -> &mut Self {
        self.packs |= pack.bit();
        self
    }

    /// Is a locale pack enabled?
    pub fn pack_enabled(&self, pack: LocalePack) -> bool {
        self.packs & pack.bit() != 0
    }

    fn enabled(&self, f: Feature) -> bool {
        match f {
            Feature::Core => true,
            Feature::Pack(p) => self.pack_enabled(p),
            Feature::Entropy => self.entropy,
        }
    }
}

/// One detected value: where it is and what it is. Never carries the value itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Finding {
    /// Category name, e.g. `credit_card`.
    pub category: &'static str,
    /// Group name, e.g. `financial`.
    pub group: &'static str,
    /// Severity of the category.
    pub severity: Severity,
    /// Byte offset of the first byte (a char boundary).
    pub start: usize,
    /// Byte offset one past the last byte (a char boundary).
    pub end: usize,
}

/// Public description of a registered detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectorInfo {
    /// Category it reports.
    pub category: &'static str,
    /// Group of the category.
    pub group: &'static str,
    /// Severity of its findings.
    pub severity: Severity,
    /// The validator run on candidates, if any.
    pub validator: Option<&'static str>,
    /// `None` for core detectors, else the locale pack that enables it.
    pub locale_pack: Option<LocalePack>,
    /// True for the opt-in entropy detector.
    pub opt_in_entropy: bool,
}

static INFOS: Lazy<Vec<DetectorInfo>> = Lazy::new(|| {
    DEFS.iter()
        .map(|d| DetectorInfo {
            category: d.category,
            group: d.group,
            severity: d.severity,
            validator: d.validator_name,
            locale_pack: match d.feature {
                Feature::Pack(p) => Some(p),
                _ => None,
            },
            opt_in_entropy: d.feature == Feature::Entropy,
        })
        .collect()
});

static CATEGORIES: Lazy<Vec<&'static str>> = Lazy::new(|| {
    let mut v: Vec<&'static str> = Vec::new();
    for d in DEFS {
        if !v.contains(&d.category) {
            v.push(d.category);
        }
    }
    v
});

/// Every registered detector (a category may have several, e.g. `phone`).
pub fn detectors() -> &'static [DetectorInfo] {
    &INFOS
}

/// Every category name, core and opt-in, in registry order.
pub fn categories() -> &'static [&'static str] {
    &CATEGORIES
}

/// Every group name.
pub fn groups() -> &'static [&'static str] {
    detectors::GROUPS
}

/// The group of a category, if the category exists.
pub fn category_group(category: &str) -> Option<&'static str> {
    DEFS.iter()
        .find(|d| d.category == category)
        .map(|d| d.group)
}

pub(crate) fn is_category(name: &str) -> bool {
    categories().contains(&name)
}

pub(crate) fn is_group(name: &str) -> bool {
    groups().contains(&name)
}

/// The compiled detection engine. Compile once and share: it is `Send + Sync`, and
/// [`Scanner::global`] returns a process-wide instance compiled on first use.
///
/// ```
/// use acttrace::redact::{Scanner, ScanOptions, LocalePack};
/// let scanner = Scanner::global();
/// let f = scanner.scan("SSN 240-71-7003");
/// assert_eq!(f[0].category, "us_ssn");
/// let mut opts = ScanOptions::new();
/// opts.enable_pack(LocalePack::UkNino);
/// assert_eq!(scanner.scan_with("NI number AB 12 34 56 C", &opts)[0].category, "uk_nino");
/// ```
pub struct Scanner {
    /// DEFS index -> compiled candidate regex
    regexes: Vec<Regex>,
    /// The plans for text, then for numbers under a key without context words, for every
    /// set of scan options (see [`Plan::index`]).
    plans: Vec<Plan>,
    /// Matches a key holding any detector's context word (one search instead of one per
    /// word: most payload numbers are checked against it).
    key_context: Regex,
}

/// Per-call bookkeeping indexes detectors with u8 and u64 bit sets, at most this many per
/// feature bit (checked by the `registry_limits` test).
const PER_BIT: usize = 6;

/// Which detectors a scan runs, indexed by the lexer's feature bits so that a line costs one
/// step per set bit. It depends only on the scan options and, for a number, on its key; the
/// scanner builds the common ones up front, because building one per scanned string was most
/// of the cost of redacting a typical (clean) payload.
#[derive(Clone, Copy)]
struct Plan {
    by_bit: [[u8; PER_BIT]; 32],
    n_by_bit: [u8; 32],
    /// Detectors with a numeric gate.
    numeric: [u8; 16],
    n_numeric: usize,
    any_bits: u32,
    /// The fewest ASCII digits a text needs for any numeric gate of the plan to open (a run
    /// of `n` digits needs `n` digits); `u32::MAX` when the plan has no numeric detector.
    min_digits: u32,
}

impl Plan {
    /// The detectors `active` accepts, in registry order.
    fn new(active: impl Fn(&detectors::Def) -> bool) -> Plan {
        let mut plan = Plan {
            by_bit: [[0; PER_BIT]; 32],
            n_by_bit: [0; 32],
            numeric: [0; 16],
            n_numeric: 0,
            any_bits: 0,
            min_digits: u32::MAX,
        };
        for (di, d) in DEFS.iter().enumerate() {
            if !active(d) {
                continue;
            }
            match d.gate {
                gate::Gate::Bits(mask) => {
                    let mut m = mask;
                    while m != 0 {
                        let k = m.trailing_zeros() as usize;
                        if (plan.n_by_bit[k] as usize) < PER_BIT {
                            plan.by_bit[k][plan.n_by_bit[k] as usize] = di as u8;
                            plan.n_by_bit[k] += 1;
                        }
                        m &= m - 1;
                    }
                    plan.any_bits |= mask;
                }
                gate::Gate::NumDash(n) | gate::Gate::Consec(n) => {
                    if plan.n_numeric < plan.numeric.len() {
                        plan.numeric[plan.n_numeric] = di as u8;
                        plan.n_numeric += 1;
                        plan.min_digits = plan.min_digits.min(n);
                    }
                }
            }
        }
        plan
    }

    /// Option sets: every combination of the four locale packs and the entropy detector.
    const OPTION_SETS: usize = 32;

    /// Where the plan for `opts` sits in [`Scanner::plans`] (text), or `OPTION_SETS` further
    /// on (numbers without key context).
    fn index(opts: &ScanOptions) -> usize {
        usize::from(opts.packs & 0xf) | usize::from(opts.entropy) << 4
    }

    /// The options an index stands for.
    fn options(index: usize) -> ScanOptions {
        ScanOptions {
            packs: (index & 0xf) as u8,
            entropy: index & 0x10 != 0,
        }
    }
}

impl fmt::Debug for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scanner")
            .field("detectors", &self.regexes.len())
            .finish()
    }
}

static GLOBAL: Lazy<Scanner> = Lazy::new(Scanner::new);

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

/// Shortest text any detector can match (`a@b.cd`).
const MIN_LEN: usize = 6;

impl Scanner {
    /// Compiles every detector (a few milliseconds; prefer [`Scanner::global`]).
    pub fn new() -> Scanner {
        assert!(DEFS.len() <= 64, "detector registry exceeds 64 entries");
        // `ScanOptions::packs` only ever holds the four pack bits.
        assert!(LocalePack::ALL.iter().all(|p| p.bit() <= 0x8));
        let text_plans = (0..Plan::OPTION_SETS).map(|i| {
            let opts = Plan::options(i);
            Plan::new(|d| opts.enabled(d.feature))
        });
        let number_plans = (0..Plan::OPTION_SETS).map(|i| {
            let opts = Plan::options(i);
            Plan::new(|d| opts.enabled(d.feature) && d.numeric_ok)
        });
        let plans = text_plans.chain(number_plans).collect();
        let words: Vec<String> = DEFS
            .iter()
            .flat_map(|d| d.key_context.iter().map(|w| regex::escape(w)))
            .collect();
        let key_context = Regex::new(&words.join("|")).expect("context words form a regex");
        let regexes = DEFS
            .iter()
            .map(|d| {
                regex::RegexBuilder::new(d.pattern)
                    .size_limit(64 << 20)
                    .build()
                    .unwrap_or_else(|e| panic!("built-in pattern for {} compiles: {e}", d.category))
            })
            .collect();
        Scanner {
            regexes,
            plans,
            key_context,
        }
    }

    /// The process-wide scanner, compiled on first use.
    pub fn global() -> &'static Scanner {
        &GLOBAL
    }

    /// Findings of the core detectors, sorted by position.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        self.scan_with(text, &ScanOptions::default())
    }

    /// Findings of the core detectors plus the optional ones enabled in `opts`, sorted by
    /// position.
    pub fn scan_with(&self, text: &str, opts: &ScanOptions) -> Vec<Finding> {
        let mut out = Vec::new();
        self.scan_into(text, opts, Subject::Text, &mut out);
        out
    }

    /// Runs detector `di` on `text[from..to]` (with the whole text as context for
    /// boundaries and validators) and appends confirmed findings.
    fn run(
        &self,
        di: usize,
        text: &str,
        from: usize,
        to: usize,
        spans: &mut Vec<Span>,
        out: &mut Vec<Finding>,
    ) {
        let d = &DEFS[di];
        let re = &self.regexes[di];
        let hay = &text[..to];
        let mut pos = from;
        while pos < to {
            let Some(m) = re.find_at(hay, pos) else { break };
            pos = if m.end() > m.start() {
                m.end()
            } else {
                m.end() + 1
            };
            spans.clear();
            (d.validate)(text, m.start(), m.end(), spans);
            if spans.is_empty()
                && let Some(byte) = d.rescan_after
                && let Some(i) = hay.as_bytes()[m.start()..m.end()]
                    .iter()
                    .position(|&b| b == byte)
            {
                // Past the byte, so the next search starts later than this one did.
                pos = m.start() + i + 1;
            }
            for &(mut s, mut e) in spans.iter() {
                while s > 0 && !text.is_char_boundary(s) {
                    s -= 1;
                }
                while e < text.len() && !text.is_char_boundary(e) {
                    e += 1;
                }
                // Resume after a span the validator extended (a PEM block runs to its END
                // line): candidates inside it are covered, and skipping them keeps the
                // work linear.
                pos = pos.max(e);
                if e > s {
                    out.push(Finding {
                        category: d.category,
                        group: d.group,
                        severity: d.severity,
                        start: s,
                        end: e,
                    });
                }
            }
        }
    }

    /// Whether a (lower-cased) object key holds a detector's context word, so that a number
    /// under it is scanned as [`Subject::NumberUnder`] that key.
    fn names_number(&self, lower_key: &str) -> bool {
        self.key_context.is_match(lower_key)
    }

    fn scan_into(
        &self,
        text: &str,
        opts: &ScanOptions,
        subject: Subject<'_>,
        out: &mut Vec<Finding>,
    ) {
        out.clear();
        if text.len() < MIN_LEN {
            return;
        }
        let key_plan;
        let plan = match subject {
            Subject::Text => &self.plans[Plan::index(opts)],
            Subject::Number => &self.plans[Plan::OPTION_SETS + Plan::index(opts)],
            // A key naming what a number is ("phone", "routing_number") opens detectors a
            // bare number does not; such keys are rare, so their plan is built on the spot.
            Subject::NumberUnder(key) => {
                key_plan = Plan::new(|d| {
                    opts.enabled(d.feature)
                        && (d.numeric_ok || d.key_context.iter().any(|w| key.contains(w)))
                });
                &key_plan
            }
        };
        // A plan of digit-run detectors only (every number's, unless its key has context
        // words) cannot open a gate in a text with fewer digits than the shortest run: most
        // payload numbers (counts, amounts, ids) are decided here without the lexer.
        if plan.any_bits == 0 && count_digits(text) < plan.min_digits {
            return;
        }
        let Plan {
            by_bit,
            n_by_bit,
            numeric,
            n_numeric,
            any_bits,
            min_digits: _,
        } = plan;
        let (any_bits, numeric) = (*any_bits, &numeric[..*n_numeric]);
        let mut spans: Vec<Span> = Vec::new();
        // One lexer pass per line opens only the detectors whose token kind occurs in that
        // line; a line with nothing of interest costs no regex search at all.
        // Multi-line detectors run once, from their first gated line to the end of the text.
        let mut multiline_done = 0u64;
        gate::for_each_line(text.as_bytes(), |ls, le, f| {
            let mut bits = f.bits & any_bits;
            let mut ran = 0u64; // a detector gated on several bits runs once per line
            while bits != 0 {
                let k = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                for &di in &by_bit[k][..n_by_bit[k] as usize] {
                    let di = di as usize;
                    if ran & (1 << di) != 0 {
                        continue;
                    }
                    ran |= 1 << di;
                    if DEFS[di].multiline {
                        if multiline_done & (1 << di) == 0 {
                            multiline_done |= 1 << di;
                            self.run(di, text, ls, text.len(), &mut spans, out);
                        }
                    } else {
                        self.run(di, text, ls, le, &mut spans, out);
                    }
                }
            }
            for &di in numeric {
                let di = di as usize;
                if f.open(DEFS[di].gate) {
                    self.run(di, text, ls, le, &mut spans, out);
                }
            }
        });
        if out.len() > 1 {
            out.sort_by(|a, b| {
                a.start
                    .cmp(&b.start)
                    .then(b.end.cmp(&a.end))
                    .then(a.category.cmp(b.category))
            });
            // Same category, overlapping spans (two phone patterns on one number): keep the union.
            let mut merged: Vec<Finding> = Vec::with_capacity(out.len());
            for f in out.drain(..) {
                if let Some(prev) = merged
                    .iter_mut()
                    .rev()
                    .take(8)
                    .find(|p| p.category == f.category && f.start < p.end)
                {
                    prev.end = prev.end.max(f.end);
                    continue;
                }
                merged.push(f);
            }
            *out = merged;
        }
    }
}

/// What a scanned text is, which decides the detectors that may run on it.
#[derive(Clone, Copy, Debug)]
enum Subject<'a> {
    /// Text: every enabled detector.
    Text,
    /// A JSON number (with its key): only detectors that are safe on bare numbers.
    Number,
    /// A JSON number under this lower-cased key, which holds a detector's context word: also
    /// the detectors whose context words it holds.
    NumberUnder(&'a str),
}

/// ASCII digits in `text`.
fn count_digits(text: &str) -> u32 {
    text.bytes().filter(u8::is_ascii_digit).count() as u32
}

/// Findings of the core detectors in `text`, using the global [`Scanner`].
///
/// ```
/// let f = acttrace::redact::scan("mail ann@example.org from 10.0.0.7");
/// let cats: Vec<_> = f.iter().map(|f| f.category).collect();
/// assert_eq!(cats, ["email", "ipv4"]);
/// assert_eq!(&"mail ann@example.org from 10.0.0.7"[f[0].start..f[0].end], "ann@example.org");
/// ```
pub fn scan(text: &str) -> Vec<Finding> {
    Scanner::global().scan(text)
}

/// Applies `policy` to `findings` of `text`: records every non-allowed finding in `report`
/// and replaces the spans of redacted/blocked ones, merging overlaps so that no fragment of
/// a value survives. The replacement of a merged span names its most severe (then
/// longest) category.
fn apply(text: &str, findings: &[Finding], policy: &Policy, report: &mut Report) -> Option<String> {
    // Category names are 'static registry strings: cache the policy lookup by pointer.
    let mut cache: [(*const u8, Action); 8] = [(std::ptr::null(), Action::Allow); 8];
    let mut cached = 0;
    let mut out: Option<String> = None;
    let mut pos = 0;
    // the cut being merged: (start, end, label finding)
    let mut cur: Option<(usize, usize, Finding)> = None;
    let flush = |out: &mut Option<String>, pos: &mut usize, c: (usize, usize, Finding)| {
        let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
        o.push_str(&text[*pos..c.0]);
        o.push_str("<redacted:");
        o.push_str(c.2.category);
        o.push('>');
        *pos = c.1;
    };
    // `findings` are sorted by start (scan order), so overlaps are adjacent.
    debug_assert!(findings.windows(2).all(|w| w[0].start <= w[1].start));
    for f in findings {
        let p = f.category.as_ptr();
        let a = match cache[..cached].iter().find(|c| c.0 == p) {
            Some(c) => c.1,
            None => {
                let a = policy.action_for(f.category);
                if cached < cache.len() {
                    cache[cached] = (p, a);
                    cached += 1;
                }
                a
            }
        };
        report.record(f, a);
        if !a.removes_value() {
            continue;
        }
        match cur.as_mut() {
            Some(c) if f.start < c.1 => {
                let better = (f.severity, f.end - f.start) > (c.2.severity, c.2.end - c.2.start);
                c.1 = c.1.max(f.end);
                if better {
                    c.2 = *f;
                }
            }
            _ => {
                if let Some(c) = cur.take() {
                    flush(&mut out, &mut pos, c);
                }
                cur = Some((f.start, f.end, *f));
            }
        }
    }
    if let Some(c) = cur {
        flush(&mut out, &mut pos, c);
    }
    let mut o = out?;
    o.push_str(&text[pos..]);
    Some(o)
}

/// Redacts `text` under `policy`; borrows when nothing is removed.
///
/// ```
/// use acttrace::redact::{redact_str, Policy};
/// let (out, report) = redact_str("SSN 240-71-7003, religion: Muslim", &Policy::gdpr());
/// assert_eq!(out, "SSN <redacted:us_ssn>, <redacted:special_category>");
/// assert!(report.blocked()); // gdpr blocks special-category data
/// let (out, report) = redact_str("nothing to see", &Policy::gdpr());
/// assert!(matches!(out, std::borrow::Cow::Borrowed(_)) && report.is_empty());
/// ```
pub fn redact_str<'a>(text: &'a str, policy: &Policy) -> (Cow<'a, str>, Report) {
    let mut report = Report::new();
    let mut findings = Vec::new();
    Scanner::global().scan_into(text, policy.scan_options(), Subject::Text, &mut findings);
    match apply(text, &findings, policy, &mut report) {
        Some(s) => (Cow::Owned(s), report),
        None => (Cow::Borrowed(text), report),
    }
}

/// A thread's scratch space for [`redact_value`] walks, kept between calls: the sequencer
/// redacts every payload on one thread, and allocating the walk's buffers and scanning the
/// same few object keys again for every entry showed in its profile.
struct Scratch {
    buf: String,
    findings: Vec<Finding>,
    keys: KeyMemo,
    clean: CleanMemo,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            buf: String::new(),
            findings: Vec::new(),
            keys: KeyMemo::new(),
            clean: CleanMemo::new(),
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::new());
}

/// What scanning an object key showed. It depends only on the key's text and the scan
/// options (never on the policy or the value), so it can be remembered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KeyFacts {
    /// The key on its own holds nothing to report (see [`Walk::key`]).
    clean: bool,
    /// The key names what a number under it is (a detector's context word).
    names_number: bool,
}

/// The facts of recently seen object keys, in a small two-way set-associative table: payload
/// keys are field names, which repeat from entry to entry. Memory stays bounded whatever the
/// keys (a new key replaces the older of its set), and a lookup is one hash and at most two
/// comparisons.
struct KeyMemo {
    slots: Vec<Option<(Box<str>, usize, KeyFacts)>>,
}

impl KeyMemo {
    /// Sets of two slots.
    const SETS: usize = 256;
    /// Longer keys are not remembered (they are rarely field names).
    const MAX_KEY: usize = 64;

    fn new() -> KeyMemo {
        KeyMemo { slots: Vec::new() }
    }

    /// The facts of `key` under the scan options with plan index `opts`: remembered, or
    /// computed by `scan` and remembered.
    fn facts(&mut self, key: &str, opts: usize, scan: impl FnOnce() -> KeyFacts) -> KeyFacts {
        if key.len() > Self::MAX_KEY {
            return scan();
        }
        if self.slots.is_empty() {
            self.slots.resize(2 * Self::SETS, None);
        }
        // FNV-1a over the key and the options; the set from the well-mixed high bits.
        let mut h: u32 = 0x811c_9dc5;
        for &b in key.as_bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        h = (h ^ opts as u32).wrapping_mul(0x0100_0193);
        let set = (h.wrapping_mul(0x9E37_79B1) >> 24) as usize % Self::SETS;
        let pair = &mut self.slots[2 * set..2 * set + 2];
        let hit = |slot: &Option<(Box<str>, usize, KeyFacts)>| {
            slot.as_ref()
                .filter(|(k, o, _)| **k == *key && *o == opts)
                .map(|&(_, _, facts)| facts)
        };
        if let Some(facts) = hit(&pair[0]) {
            return facts;
        }
        if let Some(facts) = hit(&pair[1]) {
            // The more recently used key goes first.
            pair.swap(0, 1);
            return facts;
        }
        let facts = scan();
        pair[1] = Some((key.into(), opts, facts));
        pair.swap(0, 1);
        facts
    }
}

/// Short member texts (`key: value`, as [`Walk::member`] scans them) that were found clean,
/// in a small two-way set-associative table, so that a value repeated from entry to entry (a
/// model, a provider, a tool's name, a reviewer, a decision's outcome) is scanned once. Only a
/// clean result is remembered: it depends on nothing but the text, the scan options and how
/// the value is scanned (text, number, number under a context key), which the slot's tag
/// holds, so a remembered answer is the answer a scan would give. A text with findings is
/// always scanned (its findings are needed). Memory is fixed (a new text replaces the older
/// of its set) and no slot allocates.
struct CleanMemo {
    slots: Vec<CleanSlot>,
}

#[derive(Clone, Copy)]
struct CleanSlot {
    /// 0: empty; else 1 + the scan options' plan index × 4 + the subject's number.
    tag: u16,
    len: u8,
    text: [u8; CleanMemo::MAX_TEXT],
}

impl CleanMemo {
    /// Sets of two slots (64 bytes each: 64 KiB in all, per redacting thread).
    const SETS: usize = 512;
    /// Longer texts are not remembered: they are rarely repeated and their scan costs more
    /// per byte saved anyway.
    const MAX_TEXT: usize = 61;

    fn new() -> CleanMemo {
        CleanMemo { slots: Vec::new() }
    }

    /// The slot tag of a scan, or `None` when such texts are not remembered.
    fn tag(text: &str, opts: &ScanOptions, subject: &Subject<'_>) -> Option<u16> {
        if text.len() > Self::MAX_TEXT {
            return None;
        }
        let subject = match subject {
            Subject::Text => 0,
            Subject::Number => 1,
            // The context key is the lower-cased key, which is part of the text.
            Subject::NumberUnder(_) => 2,
        };
        Some(1 + (Plan::index(opts) as u16) * 4 + subject)
    }

    /// The set a text falls in: a multiply-mix hash over its bytes, eight at a time.
    fn set(text: &[u8], tag: u16) -> usize {
        let mut h = u64::from(tag) ^ (text.len() as u64) << 16;
        let mut chunks = text.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or_default());
            h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h ^= h >> 29;
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        h = (h ^ u64::from_le_bytes(last)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 32) as usize % Self::SETS
    }

    /// Whether `text` scanned under `tag` is remembered as clean.
    fn is_clean(&mut self, text: &str, tag: u16) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let set = Self::set(text.as_bytes(), tag);
        let pair = &mut self.slots[2 * set..2 * set + 2];
        let hit = |slot: &CleanSlot| {
            slot.tag == tag
                && usize::from(slot.len) == text.len()
                && slot.text[..text.len()] == *text.as_bytes()
        };
        if hit(&pair[0]) {
            return true;
        }
        if hit(&pair[1]) {
            // The more recently used text goes first.
            pair.swap(0, 1);
            return true;
        }
        false
    }

    /// Remembers that `text` scanned under `tag` is clean.
    fn remember(&mut self, text: &str, tag: u16) {
        if self.slots.is_empty() {
            let empty = CleanSlot {
                tag: 0,
                len: 0,
                text: [0; Self::MAX_TEXT],
            };
            self.slots.resize(2 * Self::SETS, empty);
        }
        let set = Self::set(text.as_bytes(), tag);
        let pair = &mut self.slots[2 * set..2 * set + 2];
        pair[1].tag = tag;
        pair[1].len = text.len() as u8;
        pair[1].text[..text.len()].copy_from_slice(text.as_bytes());
        pair.swap(0, 1);
    }
}

/// Per-call state of a [`redact_value`] walk.
struct Walk<'p, 's> {
    scanner: &'static Scanner,
    policy: &'p Policy,
    report: Report,
    scratch: &'s mut Scratch,
}

impl Walk<'_, '_> {
    /// Scans an object member's value with its key as context ("password": "x" is a
    /// password, "routing_number": 021000021 a routing number). Findings are clipped to
    /// the value. Returns the replaced value text, if anything was removed.
    fn member(&mut self, key: Option<&str>, value: &str, subject: Subject<'_>) -> Option<String> {
        let opts = self.policy.scan_options();
        let Scratch {
            buf,
            findings,
            clean,
            ..
        } = &mut *self.scratch;
        match key {
            Some(k) if k.len() <= 128 => {
                buf.clear();
                buf.push_str(k);
                buf.push_str(": ");
                let off = buf.len();
                buf.push_str(value);
                let tag = CleanMemo::tag(buf, opts, &subject);
                if let Some(tag) = tag
                    && clean.is_clean(buf, tag)
                {
                    return None;
                }
                self.scanner.scan_into(buf, opts, subject, findings);
                if let Some(tag) = tag
                    && findings.is_empty()
                {
                    clean.remember(buf, tag);
                }
                findings.retain_mut(|f| {
                    if f.end <= off {
                        return false;
                    }
                    f.start = f.start.max(off) - off;
                    f.end -= off;
                    true
                });
            }
            _ => self.scanner.scan_into(value, opts, subject, findings),
        }
        if findings.is_empty() {
            return None;
        }
        apply(value, findings, self.policy, &mut self.report)
    }

    /// Scans a JSON number's text (the number's key may make it a routing or phone number).
    fn number(&mut self, key: Option<&str>, text: &str) -> Option<String> {
        // A float with an integral value is scanned as its integer digits (issue 12 item 8):
        // a card number or SSN stored as `4111111111111111.0` or `1.2345e+15` is the same
        // value as the integer, and the `.0` tail would otherwise hide it (or survive the
        // redaction as `<redacted:us_ssn>.0`).
        let widened;
        let text = match text.strip_suffix(".0") {
            Some(int) if !int.contains(['.', 'e', 'E']) => int,
            _ if text.contains(['e', 'E']) => match integral_digits(text) {
                Some(int) => {
                    widened = int;
                    &widened
                }
                None => text,
            },
            _ => text,
        };
        let names_number = key.is_some_and(|k| self.key_facts(k).names_number);
        if !names_number {
            return self.member(key, text, Subject::Number);
        }
        let lower_key = key.map(str::to_ascii_lowercase).unwrap_or_default();
        self.member(key, text, Subject::NumberUnder(&lower_key))
    }

    /// The facts of an object key, remembered per thread.
    fn key_facts(&mut self, k: &str) -> KeyFacts {
        let (scanner, opts) = (self.scanner, self.policy.scan_options());
        let Scratch { findings, keys, .. } = &mut *self.scratch;
        keys.facts(k, Plan::index(opts), || {
            key_findings(scanner, k, opts, findings);
            KeyFacts {
                clean: findings.is_empty(),
                names_number: scanner.names_number(&k.to_ascii_lowercase()),
            }
        })
    }

    /// Redacts an object key on its own; a key that is only a special-category label
    /// ("religion", "diagnosis") is context for its value, not data.
    fn key(&mut self, k: &str) -> Option<String> {
        if self.key_facts(k).clean {
            return None;
        }
        let opts = self.policy.scan_options();
        key_findings(self.scanner, k, opts, &mut self.scratch.findings);
        apply(k, &self.scratch.findings, self.policy, &mut self.report)
    }

    /// Redacts a string or number; containers are left to the caller.
    fn scalar(&mut self, v: &mut Value, key: Option<&str>) {
        match v {
            Value::String(s) => {
                if let Some(new) = self.member(key, s, Subject::Text) {
                    *s = new;
                }
            }
            Value::Number(n) => {
                if let Some(new) = n.with_text(|text| self.number(key, text)) {
                    *v = Value::String(new);
                }
            }
            _ => {}
        }
    }
}

/// The integer digits of a float written with an exponent (`4.111111111111111e+15`) when
/// its value is integral and has at most 20 digits; `None` otherwise.
fn integral_digits(text: &str) -> Option<String> {
    let x: f64 = text.parse().ok()?;
    (x.is_finite() && x.fract() == 0.0 && x.abs() < 1e20).then(|| format!("{x:.0}"))
}

/// The findings of an object key scanned on its own, less a special-category label that is
/// the whole key (context for its value).
fn key_findings(scanner: &Scanner, k: &str, opts: &ScanOptions, findings: &mut Vec<Finding>) {
    scanner.scan_into(k, opts, Subject::Text, findings);
    findings.retain(|f| {
        !(f.category == "special_category"
            && f.end - f.start == k.len()
            && k.split([' ', '_', '-']).count() <= 2)
    });
}

/// Walks every string, object key and number in `value` (iteratively: arbitrarily deep
/// values cannot overflow the stack) and redacts them under `policy`.
///
/// * a string's redacted spans become `<redacted:CATEGORY>`;
/// * an object key holding a value to remove is renamed to its redacted text (a key that
///   is only a label such as `"religion"` is not renamed; it is context for its value);
///   keys stay unique: a second `<redacted:email>` in one object becomes
///   `<redacted:email>#2`;
/// * a number holding a value to remove (a card number stored as an integer) becomes the
///   string `<redacted:CATEGORY>`;
/// * strings holding JSON text are scanned as text.
///
/// ```
/// use acttrace::json::Value;
/// use acttrace::redact::{redact_value, Policy};
/// let mut v = Value::Object(vec![
///     ("card".into(), Value::from(4111111111111111u64)),
///     ("password".into(), Value::String("hunter2!".into())),
///     ("ann@example.org".into(), Value::Bool(true)),
/// ]);
/// let report = redact_value(&mut v, &Policy::default_preset());
/// assert_eq!(v, Value::Object(vec![
///     ("card".into(), Value::String("<redacted:credit_card>".into())),
///     ("password".into(), Value::String("<redacted:password>".into())),
///     ("<redacted:email>".into(), Value::Bool(true)),
/// ]));
/// assert_eq!(report.categories_redacted(), vec!["credit_card", "email", "password"]);
/// ```
pub fn redact_value(value: &mut Value, policy: &Policy) -> Report {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => walk(value, policy, &mut scratch),
        // Not reached (a walk calls no user code), but a fresh scratch is always correct.
        Err(_) => walk(value, policy, &mut Scratch::new()),
    })
}

fn walk(value: &mut Value, policy: &Policy, scratch: &mut Scratch) -> Report {
    let mut w = Walk {
        scanner: Scanner::global(),
        policy,
        report: Report::new(),
        scratch,
    };
    // Scalars are redacted where they are found and only containers wait on the stack, so
    // a flat payload needs no stack allocation. The order does not show: each value is
    // redacted on its own, an object's keys before its members, and reports are merged by
    // category.
    let mut stack: Vec<(&mut Value, Option<&str>)> = Vec::new();
    let mut next = Some((value, None));
    while let Some((v, key)) = next.take().or_else(|| stack.pop()) {
        match v {
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if matches!(item, Value::Array(_) | Value::Object(_)) {
                        stack.push((item, None));
                    } else {
                        w.scalar(item, None);
                    }
                }
            }
            Value::Object(members) => {
                let mut renamed: Vec<bool> = Vec::new();
                for (i, (k, _)) in members.iter_mut().enumerate() {
                    if let Some(new) = w.key(k) {
                        *k = new;
                        if renamed.is_empty() {
                            renamed.resize(i, false);
                        }
                        renamed.push(true);
                    } else if !renamed.is_empty() {
                        renamed.push(false);
                    }
                }
                if !renamed.is_empty() {
                    dedupe_keys(members, &renamed);
                }
                for (k, child) in members.iter_mut() {
                    let k: &str = k;
                    if matches!(child, Value::Array(_) | Value::Object(_)) {
                        stack.push((child, Some(k)));
                    } else {
                        w.scalar(child, Some(k));
                    }
                }
            }
            scalar => w.scalar(scalar, key),
        }
    }
    w.report
}

/// Keeps object keys unique after renaming: a renamed key that collides with another key
/// gets a `#2`, `#3`, ... suffix (`<redacted:email>#2`); keys that were not renamed never
/// change.
fn dedupe_keys(members: &mut [(String, Value)], renamed: &[bool]) {
    let mut seen: std::collections::HashSet<String> = members
        .iter()
        .zip(renamed)
        .filter(|(_, r)| !**r)
        .map(|((k, _), _)| k.clone())
        .collect();
    for ((k, _), &r) in members.iter_mut().zip(renamed) {
        if !r {
            continue;
        }
        if seen.insert(k.clone()) {
            continue;
        }
        let mut n = 2;
        let unique = loop {
            let candidate = format!("{k}#{n}");
            if !seen.contains(&candidate) {
                break candidate;
            }
            n += 1;
        };
        seen.insert(unique.clone());
        *k = unique;
    }
}

/// A pluggable redactor: the host calls it on every payload before hashing.
///
/// Implementations must be `Send + Sync` (one instance is shared by all threads). A custom
/// implementation owns its flagging: whatever [`Report`] it returns is what gets recorded.
pub trait Redactor: Send + Sync {
    /// Redacts `value` in place and reports what was found and done.
    fn redact(&self, value: &mut Value) -> Report;
}

/// The built-in redactor: the global [`Scanner`] plus a [`Policy`].
///
/// ```
/// use acttrace::json::Value;
/// use acttrace::redact::{BuiltinRedactor, Policy, Redactor};
/// let r: Box<dyn Redactor> = Box::new(BuiltinRedactor::new(Policy::pci()));
/// let mut v = Value::String("IBAN GB82 WEST 1234 5698 7654 32".into());
/// let report = r.redact(&mut v);
/// assert_eq!(v, Value::String("IBAN <redacted:iban>".into()));
/// assert!(report.blocked());
/// ```
#[derive(Clone, Debug)]
pub struct BuiltinRedactor {
    policy: Policy,
}

impl BuiltinRedactor {
    /// A redactor applying `policy` (compiles the global scanner on first use).
    pub fn new(policy: Policy) -> BuiltinRedactor {
        Lazy::force(&GLOBAL);
        BuiltinRedactor { policy }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Redacts a string under this redactor's policy.
    pub fn redact_str<'a>(&self, text: &'a str) -> (Cow<'a, str>, Report) {
        redact_str(text, &self.policy)
    }
}

impl Default for BuiltinRedactor {
    fn default() -> Self {
        BuiltinRedactor::new(Policy::default_preset())
    }
}

impl Redactor for BuiltinRedactor {
    fn redact(&self, value: &mut Value) -> Report {
        redact_value(value, &self.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Scanner {
        /// Every active detector over the whole text, no gating (the reference for the gate).
        fn scan_ungated(&self, text: &str, opts: &ScanOptions) -> Vec<Finding> {
            let mut out = Vec::new();
            let mut spans = Vec::new();
            for (di, d) in DEFS.iter().enumerate() {
                if opts.enabled(d.feature) {
                    self.run(di, text, 0, text.len(), &mut spans, &mut out);
                }
            }
            out.sort_by(|a, b| {
                a.start
                    .cmp(&b.start)
                    .then(b.end.cmp(&a.end))
                    .then(a.category.cmp(b.category))
            });
            let mut merged: Vec<Finding> = Vec::new();
            for f in out {
                if let Some(prev) = merged
                    .iter_mut()
                    .rev()
                    .take(8)
                    .find(|p| p.category == f.category && f.start < p.end)
                {
                    prev.end = prev.end.max(f.end);
                    continue;
                }
                merged.push(f);
            }
            merged
        }
    }

    const FRAGMENTS: &[&str] = &[
        "01632 960123",
        "(01632) 960123",
        "01 23 45 67 89",
        "030/12345678",
        "07700900123",
        "0",
        "(0118)4960656",
        "93 9096-6909",
        "(11) 98765-4321",
        "ann@example.org",
        "4111 1111 1111 1111",
        "3782 822463 10005",
        "675924376543",
        "240-71-7003",
        "240 71 7003",
        "ssn 240717003",
        "(365)988-4332x2822",
        "+1-237-428-0321",
        "001-659-505-6055",
        "234.928.6179",
        "5185843282",
        "+44 20 7946 0958",
        "193.144.194.128",
        "2001:db8::8a2e:370:7334",
        "::ffff:10.0.0.1",
        "efab:aae:58e9:c7bf:f53b:db4a:491b:3e6d",
        "3c:87:c4:35:ca:ed",
        "3C-87-C4-35-CA-ED",
        "3c87.c435.caed",
        "GB82 WEST 1234 5698 7654 32",
        "DE89370400440532013000",
        "021000021",
        "DEUTDEFF500",
        "UCYFGBNO",
        "Password is TBivR5tHa!pI5",
        "pwd=Q$qRhmVP8",
        "\"password\": \"x1\"",
        "religion: Muslim",
        "HIV positive",
        "diagnosed with cancer",
        "trade union member",
        "AB123456C",
        "AB 12 34 56 C",
        "86095742719",
        "255081416802538",
        "184032A12345650",
        "2341 2341 2346",
        "Zx9Qm2LpR7vT4nW8kB3yH6dF1sJ5gC0",
        "sk-proj-A3y_nXL_cPZKcuzPrR2BImWS-Ei",
        "AKIASWLRLB9DE9O2U2VG",
        "https://u:p4ss@h.example",
        "-----BEGIN PRIVATE KEY-----",
        "-----END PRIVATE KEY-----",
        "Bearer y1lWUUl6azJTTdyF2PV47oeAR",
        "version 4.16.31",
        "10:17:09",
        "order #",
        "ref",
        "x",
        "é",
        "1",
        "12",
        "-",
        ".",
        ":",
        "::",
        "(",
        ")",
        "+",
        "\n",
        " ",
        "  ",
        "4",
        "AB",
        "GB",
        "#",
        "case 7737:",
        "$12.50",
        "1.",
        "2024-01-08T00:05:06",
    ];

    /// A small deterministic generator, so a failing case can be replayed from its seed.
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn digit_runs_never_exceed_the_digits_of_a_text() {
        // The lemma behind `Plan::min_digits`: a gate on a run of `n` digits cannot open in a
        // text holding fewer than `n` digits.
        let mut next = xorshift(0x2545_F491_4F6C_DD1Du64);
        for _ in 0..20_000 {
            let n = 1 + (next() % 8) as usize;
            let mut text = String::new();
            for _ in 0..n {
                text.push_str(FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]);
                text.push_str([" ", "-", ": ", ""][(next() % 4) as usize]);
            }
            let digits = count_digits(&text);
            gate::for_each_line(text.as_bytes(), |_, _, f| {
                assert!(f.dash <= digits && f.consec <= digits, "{text:?}");
            });
        }
        // Every plan for numbers holds digit-run detectors only, so the shortcut applies.
        let sc = Scanner::global();
        for i in 0..Plan::OPTION_SETS {
            let plan = &sc.plans[Plan::OPTION_SETS + i];
            assert_eq!(plan.any_bits, 0);
            assert!(plan.min_digits >= 5);
        }
    }

    /// Redacts `value` with this thread's memos and with fresh ones, asserts both give the same
    /// value and report, and returns the report.
    fn redacts_as_fresh(value: Value, policy: &Policy, what: &str) -> Report {
        let mut v = value.clone();
        let report = redact_value(&mut v, policy);
        let mut fresh = value;
        let fresh_report = walk(&mut fresh, policy, &mut Scratch::new());
        assert_eq!(v, fresh, "{what}");
        assert_eq!(report, fresh_report, "{what}");
        report
    }

    /// The default policy with the UK National Insurance pack and the entropy detector: scan
    /// options other than the default's.
    fn nino_and_entropy() -> Policy {
        Policy::default_preset()
            .to_builder()
            .locale_pack(LocalePack::UkNino)
            .entropy(true)
            .build()
            .unwrap()
    }

    #[test]
    fn numbers_redact_the_same_with_remembered_keys() {
        // Numbers under keys with digits, context words and none, with several option sets:
        // remembered key facts give what a fresh walk gives.
        let keys = [
            "n",
            "amount",
            "card 4111",
            "4111 1111 1111",
            "phone",
            "Routing_Number",
            "ssn",
            "x1234567890",
        ];
        let numbers = [
            Value::from(4111111111111111u64),
            Value::from(41111111u64),
            Value::from(21000021u64),
            Value::from(6505550123u64),
            Value::from(240717003u64),
            Value::from(1111u64),
            Value::from(86095742719u64),
            Value::from(255081416802538u64),
            Value::from(12.5),
            Value::from(-7i64),
        ];
        let mut policies = vec![Policy::default_preset(), Policy::gdpr()];
        for p in LocalePack::ALL {
            policies.push(
                Policy::default_preset()
                    .to_builder()
                    .locale_pack(p)
                    .build()
                    .unwrap(),
            );
        }
        let mut card = Value::Object(vec![("n".into(), Value::from(4111111111111111u64))]);
        redact_value(&mut card, &Policy::default_preset());
        assert_eq!(card.get("n"), Some(&Value::from("<redacted:credit_card>")));
        let mut phone = Value::Object(vec![("phone".into(), Value::from(5185843282u64))]);
        let report = redact_value(&mut phone, &Policy::default_preset());
        assert_eq!(report.categories_flagged(), vec!["phone"]);
        for _round in 0..2 {
            for policy in &policies {
                for key in keys {
                    for n in &numbers {
                        let value = Value::Object(vec![(key.to_owned(), n.clone())]);
                        redacts_as_fresh(value, policy, &format!("{key}: {n}"));
                    }
                }
            }
        }
    }

    #[test]
    fn remembered_keys_redact_like_fresh_ones() {
        // Keys with and without findings, under policies with different scan options, more
        // keys than the memo holds, and the same keys again.
        let mut keys: Vec<String> = [
            "ann@example.org",
            "religion",
            "note",
            "AB 12 34 56 C",
            "password",
            "Zx9Qm2LpR7vT4nW8kB3yH6dF1sJ5gC0",
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
        keys.extend((0..1000).map(|i| format!("field_{i}")));
        let nino = nino_and_entropy();
        for _round in 0..2 {
            for policy in [&Policy::default_preset(), &nino] {
                for k in &keys {
                    let value = Value::Object(vec![
                        (k.clone(), Value::from("x")),
                        ("other".into(), Value::from(7u64)),
                    ]);
                    redacts_as_fresh(value, policy, k);
                }
            }
        }
        let mut v = Value::Object(vec![("AB 12 34 56 C".into(), Value::Null)]);
        assert!(redact_value(&mut v, &Policy::default_preset()).is_empty());
        assert!(!redact_value(&mut v, &nino).is_empty());
    }

    #[test]
    fn remembered_clean_values_redact_like_fresh_ones() {
        // The same texts as strings and as numbers, under keys that are and are not context
        // words, under policies with different scan options, with findings and without, more
        // of them than the memo holds, and all of it twice: every answer must be the one a
        // fresh scan gives.
        let keys = ["note", "n", "phone", "routing_number", "ssn", "model"];
        let mut texts: Vec<String> = [
            "gpt-4o",
            "standard application",
            "5185843282",
            "4111111111111111",
            "021000021",
            "AB 12 34 56 C",
            "AB123456C",
            "ann@example.org",
            "Zx9Qm2LpR7vT4nW8kB3yH6dF1sJ5gC0",
            "078-05-1120",
            "reviewed",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        texts.extend((0..1200).map(|i| format!("value {i}")));
        let nino = nino_and_entropy();
        let policies = [Policy::default_preset(), nino, Policy::gdpr()];
        let mut redacted = 0;
        for _round in 0..2 {
            for key in keys {
                for text in &texts {
                    // A number first: its digits are clean as a number more often than as text.
                    let mut forms = Vec::new();
                    if let Ok(n) = text.parse::<u64>() {
                        forms.push(Value::from(n));
                    }
                    forms.push(Value::from(text.as_str()));
                    for form in forms {
                        // Each text under every policy in turn, while it is still remembered.
                        for policy in &policies {
                            let value = Value::Object(vec![(key.to_owned(), form.clone())]);
                            let report =
                                redacts_as_fresh(value, policy, &format!("{key}: {form:?}"));
                            redacted += usize::from(!report.is_empty());
                        }
                    }
                }
            }
        }
        // The texts with findings were scanned and redacted each time, not remembered clean.
        assert!(redacted > 50, "{redacted}");
    }

    #[test]
    fn a_value_clean_under_one_policy_is_scanned_again_under_another() {
        let nino = Policy::default_preset()
            .to_builder()
            .locale_pack(LocalePack::UkNino)
            .build()
            .unwrap();
        let value = || Value::Object(vec![("note".into(), Value::from("AB 12 34 56 C"))]);
        // Remembered clean under the default policy (twice, so that it is a hit the second time).
        for _ in 0..2 {
            let mut v = value();
            assert!(redact_value(&mut v, &Policy::default_preset()).is_empty());
            assert_eq!(v, value());
        }
        let mut v = value();
        let report = redact_value(&mut v, &nino);
        assert!(!report.is_empty());
        assert_ne!(v, value());
        // Ten digits under a key that names nothing are clean as a number (phone numbers are
        // not looked for in bare numbers) and a phone number as text: remembering the first
        // must not answer for the second.
        let as_number = || Value::Object(vec![("n".into(), Value::from(5185843282u64))]);
        let as_text = || Value::Object(vec![("n".into(), Value::from("5185843282"))]);
        for _ in 0..2 {
            assert!(redact_value(&mut as_number(), &Policy::default_preset()).is_empty());
        }
        let report = redact_value(&mut as_text(), &Policy::default_preset());
        assert_eq!(report.categories_flagged(), vec!["phone"]);
    }

    #[test]
    fn the_clean_memo_keeps_only_short_texts_and_tells_subjects_and_options_apart() {
        let core = ScanOptions::new();
        let mut packed = ScanOptions::new();
        packed.enable_pack(LocalePack::UkNino);
        let short = "note: reviewed";
        let long = format!("note: {}", "x".repeat(CleanMemo::MAX_TEXT));
        assert!(CleanMemo::tag(&long, &core, &Subject::Text).is_none());
        let text = CleanMemo::tag(short, &core, &Subject::Text).unwrap();
        let number = CleanMemo::tag(short, &core, &Subject::Number).unwrap();
        let under = CleanMemo::tag(short, &core, &Subject::NumberUnder("note")).unwrap();
        let other_options = CleanMemo::tag(short, &packed, &Subject::Text).unwrap();
        let tags = [text, number, under, other_options];
        for (i, a) in tags.iter().enumerate() {
            assert_ne!(*a, 0, "0 marks an empty slot");
            for b in &tags[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let mut memo = CleanMemo::new();
        assert!(!memo.is_clean(short, text));
        memo.remember(short, text);
        assert!(memo.is_clean(short, text));
        assert!(!memo.is_clean(short, number));
        assert!(!memo.is_clean(short, other_options));
        assert!(!memo.is_clean("note: reviewe", text));
        assert!(!memo.is_clean("note: reviewed!", text));
        // Bounded: many more texts than slots, and the table never grows.
        for i in 0..10_000 {
            memo.remember(&format!("k: {i}"), text);
        }
        assert_eq!(memo.slots.len(), 2 * CleanMemo::SETS);
        assert!(memo.is_clean("k: 9999", text));
    }

    #[test]
    fn registry_limits() {
        assert!(DEFS.len() <= 64);
        for k in 0..32 {
            let n = DEFS
                .iter()
                .filter(|d| matches!(d.gate, gate::Gate::Bits(m) if m & (1 << k) != 0))
                .count();
            assert!(n <= 6, "bit {k} gates {n} detectors");
        }
    }

    #[test]
    fn gating_never_loses_a_finding() {
        let mut opts = ScanOptions::new();
        for p in LocalePack::ALL {
            opts.enable_pack(p);
        }
        opts.entropy = true;
        let sc = Scanner::global();
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15u64);
        for _ in 0..20_000 {
            let n = 1 + (next() % 8) as usize;
            let mut text = String::new();
            for _ in 0..n {
                text.push_str(FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]);
                match next() % 4 {
                    0 => text.push(' '),
                    1 => text.push('\n'),
                    2 => {}
                    _ => text.push_str(", "),
                }
            }
            let mut gated = Vec::new();
            sc.scan_into(&text, &opts, Subject::Text, &mut gated);
            let reference = sc.scan_ungated(&text, &opts);
            assert_eq!(gated, reference, "text {text:?}");
        }
        // and the corpus lines
        for line in include_str!("../../tests/corpus/redaction-en_US.jsonl").lines() {
            let mut gated = Vec::new();
            sc.scan_into(line, &opts, Subject::Text, &mut gated);
            assert_eq!(gated, sc.scan_ungated(line, &opts), "line {line}");
        }
    }
}
