//! The detector registry: one [`Def`] per pattern, each with its category, group,
//! severity, the *gate* a line must open before its pattern runs (a token kind the lexer of
//! [`super::gate`] reports, or a digit-run length), the precise candidate pattern, and a
//! validator that confirms candidates and computes the exact span to report.
//!
//! Each group's rows sit with their validators in one file (`secret`, `credential`,
//! `financial`, `gov_id` with the locale packs, `pii`, `special_category`); [`DEFS`] lists
//! them in registry order. The helpers here (characters around a candidate, context words,
//! identifier labels, standalone numbers) are shared by several groups.
//!
//! Validators look at the text around a candidate (boundaries, context words) because
//! many formats are only recognisable as "a standalone token": a 16-digit Luhn number
//! inside a hex commit id is not a card, a 9-digit ABA-valid number after `order #` is
//! an order number.

mod credential;
mod financial;
mod gov_id;
mod pii;
mod secret;
mod special_category;

use super::gate::{self, Gate};
use super::{LocalePack, Severity};

/// A byte span `[start, end)` inside the scanned text.
pub(crate) type Span = (usize, usize);

/// Validator: given the whole text and a candidate match `[start, end)`, push the confirmed
/// span(s) to `out` (possibly none, possibly narrower than the candidate).
pub(crate) type ValidateFn = fn(text: &str, start: usize, end: usize, out: &mut Vec<Span>);

/// Which option switches a detector on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Feature {
    /// Always on.
    Core,
    /// On when the locale pack is enabled by the policy.
    Pack(LocalePack),
    /// The opt-in high-entropy token detector.
    Entropy,
}

/// One registry entry.
pub(crate) struct Def {
    /// Category its findings report, e.g. `credit_card`.
    pub category: &'static str,
    /// Group of the category (one of [`GROUPS`]).
    pub group: &'static str,
    /// Severity of its findings.
    pub severity: Severity,
    /// What switches it on.
    pub feature: Feature,
    /// What a line must contain for the candidate pattern to be worth running.
    pub gate: Gate,
    /// Candidate pattern.
    pub pattern: &'static str,
    /// Confirms a candidate and gives the span(s) to report.
    pub validate: ValidateFn,
    /// What the validator checks (for documentation / introspection), if the detector has
    /// one beyond its pattern.
    pub validator_name: Option<&'static str>,
    /// May fire on a bare JSON number with no key context.
    pub numeric_ok: bool,
    /// Lower-case words that, in a JSON key, make a bare number eligible.
    pub key_context: &'static [&'static str],
    /// A match may span lines (PEM blocks): run from the first gated line to the end.
    pub multiline: bool,
    /// When the validator rejects a candidate, search again from just after the first
    /// occurrence of this byte in it, rather than after its end: a candidate can hide a valid
    /// finding that starts inside it (`x.@jane.doe@example.com` is first read as `x.@jane.doe`,
    /// whose local part is invalid). Each search still starts past the last one.
    pub rescan_after: Option<u8>,
}

const SECRET: &str = "secret";
const CREDENTIAL: &str = "credential";
const FINANCIAL: &str = "financial";
const GOV_ID: &str = "gov_id";
const PII: &str = "pii";
const SPECIAL: &str = "special_category";

/// All groups, in display order.
pub(crate) const GROUPS: &[&str] = &[SECRET, CREDENTIAL, FINANCIAL, GOV_ID, PII, SPECIAL];

/// The registry. Order matters only for reporting ties; every detector runs independently.
pub(crate) static DEFS: &[Def] = &[
    secret::API_KEY,
    secret::STRIPE_KEY,
    secret::AWS_KEY,
    secret::GOOGLE_API_KEY,
    secret::JWT,
    secret::BEARER_TOKEN,
    secret::GITHUB_TOKEN,
    secret::SLACK_TOKEN,
    secret::PRIVATE_KEY,
    credential::PASSWORD_KEYWORD,
    credential::PASSWORD_IN_URL,
    financial::CREDIT_CARD,
    financial::IBAN,
    financial::US_ROUTING,
    financial::SWIFT_BIC,
    gov_id::US_SSN,
    gov_id::US_SSN_AFTER_KEYWORD,
    gov_id::UK_NINO,
    gov_id::DE_STEUER_ID,
    gov_id::FR_NIR,
    gov_id::IN_AADHAAR,
    pii::EMAIL,
    pii::PHONE_NANP,
    pii::PHONE_NANP_BARE,
    pii::PHONE_INTERNATIONAL,
    pii::PHONE_TRUNK_PREFIX,
    pii::PHONE_AREA_CODE,
    pii::IPV4,
    pii::IPV6,
    pii::MAC_ADDRESS,
    special_category::SPECIAL_CATEGORY,
    secret::HIGH_ENTROPY_TOKEN,
];

// ------------------------------------------------------------------------ helpers

#[inline]
fn before(t: &[u8], i: usize) -> Option<u8> {
    if i == 0 { None } else { Some(t[i - 1]) }
}

#[inline]
fn at(t: &[u8], i: usize) -> Option<u8> {
    t.get(i).copied()
}

#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Case-insensitive: does any of `words` (given in lower case) occur in the `window`
/// bytes before `start`? `window` is capped at 64 bytes.
fn context_before(text: &str, start: usize, window: usize, words: &[&str]) -> bool {
    let t = text.as_bytes();
    let from = start.saturating_sub(window.min(64));
    let mut buf = [0u8; 64];
    let n = start - from;
    for (d, s) in buf[..n].iter_mut().zip(&t[from..start]) {
        *d = s.to_ascii_lowercase();
    }
    let hay = &buf[..n];
    words.iter().any(|w| {
        let w = w.as_bytes();
        hay.len() >= w.len()
            && (0..=hay.len() - w.len()).any(|i| hay[i] == w[0] && &hay[i..i + w.len()] == w)
    })
}

/// Labels that mark the following token as an identifier of something else.
const ID_LABELS: &[&str] = &[
    "order",
    "invoice",
    "ticket",
    "ref",
    "reference",
    "id",
    "sku",
    "item",
    "product",
    "tracking",
    "version",
    "ver",
    "v",
    "build",
    "commit",
    "uuid",
    "serial",
    "part",
    "model",
    "case",
    "po",
    "txn",
    "transaction",
    "record",
    "row",
    "page",
    "line",
    "port",
    "pid",
    "code",
    "isbn",
    "zip",
    "postcode",
    "release",
    "issue",
    "pr",
    "job",
    "run",
    "batch",
    "lot",
    "no",
    "nr",
    // German and French labels (issue 12, locale corpora)
    "artikel",
    "art",
    "auftrag",
    "bestellung",
    "rechnung",
    "vorgang",
    "kundennummer",
    "commande",
    "facture",
    "dossier",
    "article",
];

/// True when the token at `start` is directly preceded by `#` or by an identifier label
/// such as `order`, `sku`, `ticket`, `ref`, `version` (optionally followed by `:`/`#`/`.`).
fn id_label_before(text: &str, start: usize) -> bool {
    let t = text.as_bytes();
    let mut i = start;
    // skip separators between label and token
    let mut saw_hash = false;
    let mut skipped = 0;
    while i > 0 && skipped < 4 {
        let b = t[i - 1];
        if b == b'#' {
            saw_hash = true;
        } else if !(b == b' ' || b == b':' || b == b'.' || b == b'\t' || b == b'=') {
            break;
        }
        i -= 1;
        skipped += 1;
    }
    if saw_hash {
        return true;
    }
    if i == start && i > 0 && is_word(t[i - 1]) {
        return false;
    }
    let end = i;
    while i > 0 && t[i - 1].is_ascii_alphabetic() {
        i -= 1;
    }
    if i == end || end - i > 12 {
        return false;
    }
    let word = &t[i..end];
    ID_LABELS
        .iter()
        .any(|l| l.as_bytes().eq_ignore_ascii_case(word))
}

/// True when the word right before `start` (skipping spaces, `:`, `=`) is one of `labels`.
fn id_label_before_word(text: &str, start: usize, labels: &[&str]) -> bool {
    let t = text.as_bytes();
    let mut i = start;
    while i > 0 && matches!(t[i - 1], b' ' | b':' | b'=' | b'\t') && start - i < 4 {
        i -= 1;
    }
    let end = i;
    while i > 0 && t[i - 1].is_ascii_alphabetic() {
        i -= 1;
    }
    end > i
        && end - i <= 12
        && labels
            .iter()
            .any(|l| l.as_bytes().eq_ignore_ascii_case(&t[i..end]))
}

/// The candidate is a standalone number: not glued to letters/digits and not part of a
/// decimal, version, date or longer dash/dot/slash-separated sequence.
fn standalone_number(t: &[u8], start: usize, end: usize) -> bool {
    if let Some(b) = before(t, start) {
        if b.is_ascii_alphanumeric() || b == b'_' {
            return false;
        }
        if matches!(
            b,
            b'.' | b',' | b'-' | b'/' | b'+' | b'$' | b'\xa3' | b'=' | b'^'
        ) && before(t, start - 1).is_some_and(|c| c.is_ascii_digit())
        {
            return false;
        }
        if matches!(b, b'$' | b'.' | b'+') {
            return false;
        }
    }
    if let Some(b) = at(t, end) {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'%' {
            return false;
        }
        if matches!(b, b'.' | b',' | b'-' | b'/' | b':')
            && at(t, end + 1).is_some_and(|c| c.is_ascii_digit())
        {
            return false;
        }
    }
    true
}

fn digits_of(s: &[u8]) -> Vec<u8> {
    s.iter().copied().filter(u8::is_ascii_digit).collect()
}
