//! The detector registry: one entry per pattern, each with its category, group, severity,
//! a loose *gate* pattern (used by the single-pass [`regex::RegexSet`] pre-scan), the
//! precise candidate pattern, and a validator that confirms candidates and computes the
//! exact span to report.
//!
//! Validators look at the text around a candidate (boundaries, context words) because
//! many formats are only recognisable as "a standalone token": a 16-digit Luhn number
//! inside a hex commit id is not a card, a 9-digit ABA-valid number after `order #` is
//! an order number.

use super::gate::{self, Gate};
use super::validators as v;
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
    pub category: &'static str,
    pub group: &'static str,
    pub severity: Severity,
    pub feature: Feature,
    /// What a line must contain for the candidate pattern to be worth running.
    pub gate: Gate,
    /// Candidate pattern.
    pub pattern: &'static str,
    pub validate: ValidateFn,
    /// Name of the validator (for documentation / introspection), if the detector has one.
    pub validator: Option<&'static str>,
    /// May fire on a bare JSON number with no key context.
    pub numeric_ok: bool,
    /// Lower-case words that, in a JSON key, make a bare number eligible.
    pub key_context: &'static [&'static str],
    /// A match may span lines (PEM blocks): run from the first gated line to the end.
    pub multiline: bool,
}

pub(crate) const SECRET: &str = "secret";
pub(crate) const CREDENTIAL: &str = "credential";
pub(crate) const FINANCIAL: &str = "financial";
pub(crate) const GOV_ID: &str = "gov_id";
pub(crate) const PII: &str = "pii";
pub(crate) const SPECIAL: &str = "special_category";

/// All groups, in display order.
pub(crate) const GROUPS: &[&str] = &[SECRET, CREDENTIAL, FINANCIAL, GOV_ID, PII, SPECIAL];

use Severity::{Critical, Info, Warning};

macro_rules! def {
    ($cat:expr, $group:expr, $sev:expr, $feat:expr, $gate:expr, $pat:expr, $val:expr, $vname:expr, $num:expr, $ctx:expr) => {
        Def {
            category: $cat,
            group: $group,
            severity: $sev,
            feature: $feat,
            gate: $gate,
            pattern: $pat,
            validate: $val,
            validator: $vname,
            numeric_ok: $num,
            key_context: $ctx,
            multiline: matches!($gate, Gate::Bits(gate::PEM)),
        }
    };
}

const NONE: &[&str] = &[];
const CORE: Feature = Feature::Core;

/// The registry. Order matters only for reporting ties; every detector runs independently.
pub(crate) static DEFS: &[Def] = &[
    // ---------------------------------------------------------------- secret
    def!(
        "api_key",
        SECRET,
        Critical,
        CORE,
        Gate::Bits(gate::LIT_SK),
        r"(?-u:\b)sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
        val_api_key,
        Some("charset+length"),
        false,
        NONE
    ),
    def!(
        "stripe_key",
        SECRET,
        Critical,
        CORE,
        Gate::Bits(gate::LIT_STRIPE),
        r"(?-u:\b)[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
        val_plain,
        None,
        false,
        NONE
    ),
    def!(
        "aws_key",
        SECRET,
        Critical,
        CORE,
        Gate::Bits(gate::LIT_AWS),
        r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?-u:\b)",
        val_plain,
        None,
        false,
        NONE
    ),
    def!(
        "google_api_key",
        SECRET,
        Critical,
        CORE,
        Gate::Bits(gate::LIT_GOOGLE),
        r"AIza[0-9A-Za-z_\-]{35}",
        val_plain,
        None,
        false,
        NONE
    ),
    def!(
        "jwt",
        SECRET,
        Critical,
        CORE,
        Gate::Bits(gate::LIT_JWT),
        r"(?-u:\b)eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",
        val_jwt,
        Some("base64url JSON header with alg/typ"),
        false,
        NONE
    ),
    def!(
        "bearer_token",
        SECRET,
        Critical,
        CORE,
        Gate::Bits(gate::LIT_BEARER),
        r"(?i-u:\bbearer)[ \t]+[A-Za-z0-9\-._~+/]+=*",
        val_bearer,
        Some("RFC 6750 b64token shape"),
        false,
        NONE
    ),
    def!(
        "github_token",
        SECRET,
        Critical,
        CORE,
        Gate::Bits(gate::LIT_GITHUB),
        r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})",
        val_plain,
        None,
        false,
        NONE
    ),
    def!(
        "slack_token",
        SECRET,
        Critical,
        CORE,
        Gate::Bits(gate::LIT_SLACK),
        r"(?-u:\b)(?:xox[baprse]-[A-Za-z0-9\-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,})",
        val_slack,
        Some("contains digits"),
        false,
        NONE
    ),
    def!(
        "private_key",
        SECRET,
        Critical,
        CORE,
        Gate::Bits(gate::PEM),
        r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----",
        val_private_key,
        Some("extends to the END line or end of text"),
        false,
        NONE
    ),
    // ---------------------------------------------------------------- credential
    def!(
        "password",
        CREDENTIAL,
        Critical,
        CORE,
        Gate::Bits(gate::PASSWORD),
        r#"(?i-u:password|passphrase|passwd|passcode|pwd)s?\\?["']?[ \t]*(?:(?i-u:is|was)[ \t]+|:=|=>|[:=])[ \t]*"#,
        val_password,
        Some("separator + non-placeholder value"),
        false,
        NONE
    ),
    def!(
        "password",
        CREDENTIAL,
        Critical,
        CORE,
        Gate::Bits(gate::SCHEME),
        r#"[A-Za-z][A-Za-z0-9+.\-]{1,15}://[^\s:/?#@"'<>]+:[^\s/?#@"'<>]+@"#,
        val_url_password,
        Some("URL userinfo password"),
        false,
        NONE
    ),
    // ---------------------------------------------------------------- financial
    def!(
        "credit_card",
        FINANCIAL,
        Critical,
        CORE,
        Gate::NumDash(12),
        r"[0-9](?:[ \-]?[0-9]){11,}",
        val_card,
        Some("IIN range + length + Luhn"),
        true,
        NONE
    ),
    def!(
        "iban",
        FINANCIAL,
        Warning,
        CORE,
        Gate::Bits(gate::IBAN),
        r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,}",
        val_iban,
        Some("ISO 13616 mod 97 + registry length"),
        false,
        NONE
    ),
    def!(
        "us_routing",
        FINANCIAL,
        Warning,
        CORE,
        Gate::Consec(9),
        r"(?-u:\b)[0-9]{9}(?-u:\b)",
        val_routing,
        Some("ABA 3-7-1 checksum + Fed prefix"),
        false,
        &["routing", "aba", "rtn", "transit"]
    ),
    def!(
        "swift_bic",
        FINANCIAL,
        Info,
        CORE,
        Gate::Bits(gate::BIC),
        r"(?-u:\b)[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?-u:\b)",
        val_bic,
        Some("ISO 9362 + ISO 3166 country"),
        false,
        NONE
    ),
    // ---------------------------------------------------------------- gov_id
    def!(
        "us_ssn",
        GOV_ID,
        Critical,
        CORE,
        Gate::Bits(gate::SSN),
        r"(?-u:\b)[0-9]{3}(?:-[0-9]{2}-| [0-9]{2} )[0-9]{4}(?-u:\b)",
        val_ssn,
        Some("SSA area/group/serial rules"),
        false,
        NONE
    ),
    def!(
        "us_ssn",
        GOV_ID,
        Critical,
        CORE,
        Gate::Bits(gate::SSN_KW),
        r"(?i-u:\b(?:ssn|ss#|social[ \t]+security(?:[ \t]+(?:number|no\.?|#))?))[^0-9\n]{0,20}[0-9]{9}(?-u:\b)",
        val_ssn_context,
        Some("SSA rules, context word required"),
        false,
        &["ssn", "social"]
    ),
    def!(
        "uk_nino",
        GOV_ID,
        Critical,
        Feature::Pack(LocalePack::UkNino),
        Gate::Bits(gate::NINO),
        r"(?-u:\b)[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d](?-u:\b)",
        val_nino,
        Some("HMRC prefix/suffix rules"),
        false,
        NONE
    ),
    def!(
        "de_steuer_id",
        GOV_ID,
        Critical,
        Feature::Pack(LocalePack::DeSteuerId),
        Gate::NumDash(11),
        r"(?-u:\b)[1-9][0-9] ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}(?-u:\b)",
        val_steuer,
        Some("ISO 7064 MOD 11,10 + digit rule"),
        true,
        NONE
    ),
    def!(
        "fr_nir",
        GOV_ID,
        Critical,
        Feature::Pack(LocalePack::FrNir),
        Gate::NumDash(5),
        r"(?-u:\b)[1278] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[ABab]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}(?-u:\b)",
        val_nir,
        Some("mod 97 key"),
        true,
        NONE
    ),
    def!(
        "in_aadhaar",
        GOV_ID,
        Critical,
        Feature::Pack(LocalePack::InAadhaar),
        Gate::NumDash(12),
        r"(?-u:\b)[2-9][0-9]{3}[ \-]?[0-9]{4}[ \-]?[0-9]{4}(?-u:\b)",
        val_aadhaar,
        Some("Verhoeff"),
        true,
        NONE
    ),
    // ---------------------------------------------------------------- pii
    def!(
        "email",
        PII,
        Warning,
        CORE,
        Gate::Bits(gate::AT),
        r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?-u:\b)",
        val_email,
        Some("RFC 5321 local-part shape"),
        false,
        NONE
    ),
    def!(
        "phone",
        PII,
        Warning,
        CORE,
        Gate::Bits(gate::PHONE),
        r"(?:(?:\+|00)?1[ .\-]?|001[ .\-]?)?(?:\([0-9]{3}\)[ .\-]?|[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}(?:[ ]?(?:x|ext\.?|#)[ ]?[0-9]{1,6})?",
        val_phone_nanp,
        Some("NANP NPA/NXX rules"),
        false,
        NONE
    ),
    def!(
        "phone",
        PII,
        Warning,
        CORE,
        Gate::Consec(10),
        r"(?-u:\b)(?:\+?1)?[2-9][0-9]{9}(?-u:\b)",
        val_phone_bare,
        Some("NANP rules, standalone"),
        false,
        &["phone", "tel", "mobile", "cell", "fax"]
    ),
    def!(
        "phone",
        PII,
        Warning,
        CORE,
        Gate::Bits(gate::PLUS),
        r"\+[1-9][0-9 .\-()]{6,22}[0-9]",
        val_phone_intl,
        Some("E.164 digit count 8-15"),
        false,
        NONE
    ),
    def!(
        "phone",
        PII,
        Warning,
        CORE,
        Gate::Bits(gate::ZERO_LED),
        r"\(0[1-9][0-9]{0,4}\)[ .\-/]{0,2}[0-9]{2,8}(?:[ .\-/]{1,2}[0-9]{2,8}){0,3}|(?-u:\b)0[1-9][0-9]{0,4}(?:[ .\-/]{1,2}[0-9]{2,8}){1,4}|(?-u:\b)0[1-9][0-9]{8,10}(?-u:\b)",
        val_phone_national,
        Some("trunk-prefix national number, 10-12 digits"),
        false,
        &["phone", "tel", "mobile", "cell", "fax"]
    ),
    def!(
        "phone",
        PII,
        Warning,
        CORE,
        Gate::Bits(gate::PHONE_AREA),
        r"(?:(?-u:\b)[1-9][0-9] |\([1-9][0-9]\) ?)9?[0-9]{4}-[0-9]{4}(?-u:\b)",
        val_phone_national,
        Some("area code + 8/9-digit subscriber (NN NNNN-NNNN)"),
        false,
        &["phone", "tel", "mobile", "cell", "fax"]
    ),
    def!(
        "ipv4",
        PII,
        Info,
        CORE,
        Gate::Bits(gate::IPV4),
        r"(?-u:\b)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?-u:\b)",
        val_ipv4,
        Some("octets 0-255, standalone"),
        false,
        NONE
    ),
    def!(
        "ipv6",
        PII,
        Info,
        CORE,
        Gate::Bits(gate::HEX),
        r"[0-9A-Fa-f:]*:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]*(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3})?",
        val_ipv6,
        Some("RFC 4291 parse"),
        false,
        NONE
    ),
    def!(
        "mac_address",
        PII,
        Info,
        CORE,
        Gate::Bits(gate::MAC),
        r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}|(?:[0-9A-Fa-f]{2}-){5}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}",
        val_mac,
        Some("EUI-48, standalone"),
        false,
        NONE
    ),
    // ---------------------------------------------------------------- special category
    def!(
        "special_category",
        SPECIAL,
        Critical,
        CORE,
        Gate::Bits(gate::SPECIAL),
        SPECIAL_PATTERN,
        val_special,
        Some("keyword lexicon + technical-context exclusions"),
        false,
        NONE
    ),
    // ---------------------------------------------------------------- opt-in entropy
    def!(
        "high_entropy_token",
        SECRET,
        Warning,
        Feature::Entropy,
        Gate::Bits(gate::LONG_TOKEN),
        r"[A-Za-z0-9+/_=\-]{24,}",
        val_entropy,
        Some("mixed classes + Shannon entropy, hex/UUID excluded"),
        false,
        NONE
    ),
];

const SPECIAL_PATTERN: &str = r"(?i-u)\b(?:diagnos(?:is|es|ed)|hiv(?:[ \-]?(?:positive|negative|status))?|pregnan(?:t|cy|cies)|disabilit(?:y|ies)|(?:medical|health|mental[ \-]health|psychiatric)[ \-](?:conditions?|history|records?|diagnosis|status|data|information|treatment)|mental[ \-]illness(?:es)?|cancer|diabet(?:es|ic)|chemotherapy|dementia|alzheimer'?s|tuberculosis|schizophreni(?:a|c)|bipolar[ \-]disorder|hepatitis[ \-][abc]|epilep(?:sy|tic)|autis(?:m|tic)|multiple[ \-]sclerosis|parkinson'?s|miscarriage|abortion|infertil(?:e|ity)|sexually[ \-]transmitted|std[ \-]test|biometrics?|fingerprints?|face[ \-]?prints?|facial[ \-](?:recognition|geometry|scan|template)|retina(?:l)?[ \-]scan|iris[ \-]scan|voice[ \-]?prints?|genetic|genome|genomic|genotype|dna[ \-](?:test|sample|profile|sequence|analysis)|brca[12]|ethnicity|ethnic[ \-](?:origin|background|group|minority)|racial(?:[ \-]origin)?|religions?|religious[ \-](?:beliefs?|affiliation|views|faith|practice|background|denomination)|(?:muslim|christian|jewish|hindu|buddhist|sikh|catholic|protestant|atheist)[ \-](?:faith|beliefs?)|sexual[ \-]orientation|sex[ \-]life|homosexual|heterosexual|bisexual|transgender|lesbian|lgbtq?|political[ \-](?:opinions?|affiliations?|views|beliefs|party[ \-]membership)|trade[ \-]union(?:[ \-]member(?:ship)?)?|union[ \-]member(?:ship)?|labou?r[ \-]union|philosophical[ \-]beliefs?)\b|\b(?:race|religious)[ \t]*[:=]";

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
pub(crate) fn context_before(text: &str, start: usize, window: usize, words: &[&str]) -> bool {
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
];

/// True when the token at `start` is directly preceded by `#` or by an identifier label
/// such as `order`, `sku`, `ticket`, `ref`, `version` (optionally followed by `:`/`#`/`.`).
pub(crate) fn id_label_before(text: &str, start: usize) -> bool {
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

/// Identifier labels that override a card-shaped number (no `#`, `no.`: "Card #: ...").
const CARD_ID_LABELS: &[&str] = &[
    "ref",
    "reference",
    "order",
    "invoice",
    "ticket",
    "sku",
    "tracking",
    "serial",
    "isbn",
    "txn",
    "uuid",
    "commit",
    "version",
    "build",
    "item",
    "product",
    "part",
    "model",
];

/// True when the word right before `start` (skipping spaces, `:`, `=`) is one of `labels`.
pub(crate) fn id_label_before_word(text: &str, start: usize, labels: &[&str]) -> bool {
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

// ------------------------------------------------------------------------ validators

fn val_plain(_: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    out.push((s, e));
}

fn val_api_key(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let tok = &text.as_bytes()[s..e];
    let body = &tok[3..];
    let has_digit = body.iter().any(u8::is_ascii_digit);
    let has_upper = body.iter().any(u8::is_ascii_uppercase);
    if has_digit || has_upper {
        out.push((s, e));
    }
}

fn val_slack(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    if text.as_bytes()[s..e].iter().any(u8::is_ascii_digit) {
        out.push((s, e));
    }
}

fn val_jwt(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let tok = &text.as_bytes()[s..e];
    let dot = tok.iter().position(|&b| b == b'.').unwrap_or(tok.len());
    if v::jwt_header_ok(&tok[..dot]) {
        out.push((s, e));
    }
}

fn val_bearer(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    let mut ts = s + 6;
    while ts < e && (t[ts] == b' ' || t[ts] == b'\t') {
        ts += 1;
    }
    let mut te = e;
    while te > ts && t[te - 1] == b'.' {
        te -= 1;
    }
    let tok = &t[ts..te];
    if tok.len() < 12 {
        return;
    }
    // A dictionary-shaped word ("Bearer Authentication") is prose, not a token.
    let wordlike = tok[0].is_ascii_alphabetic() && tok[1..].iter().all(u8::is_ascii_lowercase);
    if wordlike {
        return;
    }
    let has_digit = tok.iter().any(u8::is_ascii_digit);
    let has_upper = tok.iter().any(u8::is_ascii_uppercase);
    let has_lower = tok.iter().any(u8::is_ascii_lowercase);
    let has_sym = tok.iter().any(|b| b"-._~+/".contains(b));
    if has_digit || (has_upper && has_lower) || has_sym {
        out.push((ts, te));
    }
}

fn val_private_key(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let rest = &text[e..];
    let end = match rest.find("-----END ") {
        Some(i) => {
            let after = e + i + 9;
            match text[after..].find("-----") {
                // The END line must be short (e.g. "RSA PRIVATE KEY").
                Some(j) if j <= 40 => after + j + 5,
                _ => text.len(),
            }
        }
        None => text.len(),
    };
    out.push((s, end));
}

const PASSWORD_PLACEHOLDERS: &[&str] = &[
    "is",
    "was",
    "required",
    "incorrect",
    "invalid",
    "wrong",
    "expired",
    "missing",
    "empty",
    "reset",
    "changed",
    "updated",
    "policy",
    "field",
    "must",
    "should",
    "will",
    "not",
    "null",
    "none",
    "nil",
    "redacted",
    "hidden",
    "masked",
    "too",
    "the",
    "a",
    "an",
    "set",
    "correct",
    "valid",
    "strong",
    "weak",
    "protected",
    "needed",
    "length",
    "change",
    "mismatch",
    "unknown",
    "[redacted]",
    "[hidden]",
    "<redacted>",
    "undefined",
];

fn val_password(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    // Keyword must start a word or follow `_`/`-` ("db_password"); not "bypass is", "compass:".
    if before(t, s).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let mut vs = e;
    let mut quote = None;
    if at(t, vs) == Some(b'\\') && matches!(at(t, vs + 1), Some(b'"' | b'\'')) {
        vs += 1;
    }
    if let Some(q @ (b'"' | b'\'')) = at(t, vs) {
        quote = Some(q);
        vs += 1;
    }
    let limit = (vs + 256).min(t.len());
    let mut ve = vs;
    match quote {
        Some(q) => {
            while ve < limit && t[ve] != q && t[ve] != b'\n' {
                ve += 1;
            }
            if ve > vs && t[ve - 1] == b'\\' {
                ve -= 1;
            }
        }
        None => {
            while ve < limit && !t[ve].is_ascii_whitespace() && t[ve] != b'"' && t[ve] != b'\'' {
                ve += 1;
            }
            while ve > vs
                && matches!(
                    t[ve - 1],
                    b'.' | b',' | b';' | b')' | b']' | b'}' | b'>' | b'\\'
                )
            {
                ve -= 1;
            }
        }
    }
    if ve <= vs {
        return;
    }
    let val = &t[vs..ve];
    if val.starts_with(b"<redacted") || val.iter().all(|&b| b == b'*' || b == b'x' || b == b'X') {
        return;
    }
    if PASSWORD_PLACEHOLDERS
        .iter()
        .any(|p| p.as_bytes().eq_ignore_ascii_case(val))
    {
        return;
    }
    out.push((vs, ve));
}

fn val_url_password(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let m = &text[s..e];
    let Some(scheme_end) = m.find("://") else {
        return;
    };
    let ui = s + scheme_end + 3;
    let Some(colon) = text[ui..e].find(':') else {
        return;
    };
    let ps = ui + colon + 1;
    let pe = e - 1; // the '@'
    if pe > ps && !text[ps..pe].starts_with("<redacted") {
        out.push((ps, pe));
    }
}

fn card_groups_ok(groups: &[usize]) -> bool {
    match groups.len() {
        1 => true,
        3 => {
            (groups[0] == 4 && groups[1] == 6 && (4..=5).contains(&groups[2]))
                || (groups[0] == 4 && groups[1] == 4 && (4..=11).contains(&groups[2]))
        }
        _ => {
            groups[..groups.len() - 1].iter().all(|&g| g == 4)
                && (1..=7).contains(&groups[groups.len() - 1])
        }
    }
}

fn val_card(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    // What precedes / follows the whole digit run decides for windows touching its ends;
    // inner windows are delimited by a space (a dash means a longer dashed sequence).
    let head_ok = match before(t, s) {
        Some(b)
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$' || b == b'+' =>
        {
            false
        }
        Some(b',' | b'-' | b'/') => !before(t, s - 1).is_some_and(|c| c.is_ascii_digit()),
        _ => true,
    };
    let tail_ok = !(at(t, e).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        || (matches!(at(t, e), Some(b'.' | b',' | b'/'))
            && at(t, e + 1).is_some_and(|c| c.is_ascii_digit())));
    // Split into digit groups with their byte ranges.
    let mut groups: Vec<(u32, u32)> = Vec::new();
    let mut i = s;
    while i < e {
        let gs = i;
        while i < e && t[i].is_ascii_digit() {
            i += 1;
        }
        groups.push((gs as u32, i as u32));
        i += 1; // skip the separator
    }
    let last = groups.len() - 1;
    let mut g = 0;
    let mut digits = [0u8; 19];
    let mut sizes = [0usize; 19];
    while g < groups.len() {
        let start = groups[g].0 as usize;
        let start_ok = if g == 0 {
            head_ok
        } else {
            t[start - 1] == b' '
        };
        // "ref 4437591399662", "order 4111...": a label naming the number as something else.
        if !start_ok || id_label_before_word(text, start, CARD_ID_LABELS) {
            g += 1;
            continue;
        }
        let mut best = None;
        let mut nd = 0usize;
        let mut ns = 0usize;
        let mut h = g;
        while h < groups.len() {
            let (gs, ge) = (groups[h].0 as usize, groups[h].1 as usize);
            if nd + (ge - gs) > 19 {
                break;
            }
            digits[nd..nd + ge - gs].copy_from_slice(&t[gs..ge]);
            nd += ge - gs;
            sizes[ns] = ge - gs;
            ns += 1;
            let end_ok = if h == last { tail_ok } else { t[ge] == b' ' };
            if end_ok && nd >= 12 && card_groups_ok(&sizes[..ns]) && v::card_valid(&digits[..nd]) {
                best = Some(h);
            }
            h += 1;
        }
        match best {
            Some(h) => {
                out.push((start, groups[h].1 as usize));
                g = h + 1;
            }
            None => g += 1,
        }
    }
}

fn val_iban(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    let Some(len) = v::iban_length(&t[s..s + 2]) else {
        return;
    };
    let mut compact = Vec::with_capacity(34);
    let mut end = s;
    for (i, &b) in t[s..e].iter().enumerate() {
        if b == b' ' {
            continue;
        }
        compact.push(b);
        if compact.len() == len {
            end = s + i + 1;
            break;
        }
    }
    if compact.len() != len || at(t, end).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    if v::iban_valid(&compact) {
        out.push((s, end));
    }
}

fn val_routing(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if !v::aba_valid(&t[s..e]) || !standalone_number(t, s, e) {
        return;
    }
    let ctx = context_before(text, s, 40, &["routing", "aba", "rtn", "transit"]);
    if !ctx && id_label_before(text, s) {
        return;
    }
    out.push((s, e));
}

/// Common all-caps words in running text that happen to fit the BIC shape.
fn caps_neighbour(t: &[u8], s: usize, e: usize) -> bool {
    let word_before = {
        let mut i = s;
        while i > 0 && (t[i - 1] == b' ') {
            i -= 1;
        }
        let end = i;
        while i > 0 && t[i - 1].is_ascii_alphabetic() {
            i -= 1;
        }
        &t[i..end]
    };
    let word_after = {
        let mut i = e;
        while i < t.len() && t[i] == b' ' {
            i += 1;
        }
        let st = i;
        while i < t.len() && t[i].is_ascii_alphabetic() {
            i += 1;
        }
        &t[st..i]
    };
    let caps = |w: &[u8]| w.len() >= 2 && w.iter().all(u8::is_ascii_uppercase);
    caps(word_before) || caps(word_after)
}

fn val_bic(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if !v::bic_valid(&t[s..e]) {
        return;
    }
    if at(t, e) == Some(b'-') || before(t, s) == Some(b'-') {
        return; // part of a hyphenated code (ticket ABC-..., SKU-...)
    }
    let ctx = context_before(
        text,
        s,
        48,
        &["swift", "bic", "bank", "wire", "iban", "transfer"],
    );
    if !ctx && (id_label_before(text, s) || caps_neighbour(t, s, e)) {
        return;
    }
    out.push((s, e));
}

fn ssn_digits_ok(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let n = |a: usize, b: usize| {
        d[a..b]
            .iter()
            .fold(0u32, |x, &c| x * 10 + u32::from(c - b'0'))
    };
    v::ssn_valid(n(0, 3), n(3, 5), n(5, 9))
}

fn val_ssn(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if !standalone_number(t, s, e) || !ssn_digits_ok(&digits_of(&t[s..e])) {
        return;
    }
    out.push((s, e));
}

fn val_ssn_context(text: &str, _s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    let ds = e - 9;
    if ssn_digits_ok(&t[ds..e]) && at(t, e).is_none_or(|b| !b.is_ascii_digit()) {
        out.push((ds, e));
    }
}

fn compact_upper(s: &[u8]) -> Vec<u8> {
    s.iter()
        .filter(|&&b| b != b' ' && b != b'-')
        .map(u8::to_ascii_uppercase)
        .collect()
}

fn val_nino(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    if v::nino_valid(&compact_upper(&text.as_bytes()[s..e])) {
        out.push((s, e));
    }
}

fn val_steuer(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if standalone_number(t, s, e) && v::steuer_id_valid(&digits_of(&t[s..e])) {
        out.push((s, e));
    }
}

fn val_nir(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if standalone_number(t, s, e) && v::nir_valid(&compact_upper(&t[s..e])) {
        out.push((s, e));
    }
}

fn val_aadhaar(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if standalone_number(t, s, e) && v::aadhaar_valid(&digits_of(&t[s..e])) {
        out.push((s, e));
    }
}

fn val_email(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    let mut s = s;
    while s < e && t[s] == b'.' {
        s += 1;
    }
    let at_pos = match t[s..e].iter().position(|&b| b == b'@') {
        Some(p) => s + p,
        None => return,
    };
    let local = &t[s..at_pos];
    if local.is_empty() || local.ends_with(b".") || local.windows(2).any(|w| w == b"..") {
        return;
    }
    out.push((s, e));
}

fn phone_tail_ok(t: &[u8], e: usize) -> bool {
    match at(t, e) {
        None => true,
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => false,
        Some(b'-' | b'.' | b'/' | b':') => !at(t, e + 1).is_some_and(|c| c.is_ascii_digit()),
        _ => true,
    }
}

fn phone_head_ok(t: &[u8], s: usize) -> bool {
    match before(t, s) {
        None => true,
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => false,
        Some(b'-' | b'.' | b'/' | b':' | b',') => {
            !before(t, s - 1).is_some_and(|c| c.is_ascii_digit())
        }
        Some(b'$' | b'+') => false,
        _ => true,
    }
}

fn val_phone_nanp(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if !phone_head_ok(t, s) || !phone_tail_ok(t, e) {
        return;
    }
    // National number = the 10 digits before any extension.
    let mut main_end = e;
    if let Some(p) = t[s..e]
        .iter()
        .position(|&b| b == b'x' || b == b'e' || b == b'#')
    {
        main_end = s + p;
    }
    let d = digits_of(&t[s..main_end]);
    if d.len() < 10 {
        return;
    }
    let national = &d[d.len() - 10..];
    if v::nanp_valid(national) {
        out.push((s, e));
    }
}

fn val_phone_bare(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if !standalone_number(t, s, e) {
        return;
    }
    let d = &t[s..e];
    let d = if d[0] == b'+' { &d[1..] } else { d };
    let national = &d[d.len() - 10..];
    if !v::nanp_valid(national) {
        return;
    }
    let ctx = context_before(
        text,
        s,
        40,
        &["phone", "tel", "mobile", "cell", "call", "fax", "sms"],
    );
    if !ctx && id_label_before(text, s) {
        return;
    }
    out.push((s, e));
}

/// National numbers written with the trunk prefix `0` (most of Europe, Japan, Brazil,
/// Australia, India...): `01632 960123`, `(0123) 456789`, `01 23 45 67 89`, `0301234567`.
/// Accepts 10-12 digits; a grouped form must use one kind of separator (dates like
/// `01.02.2024` have 8 digits and fail); a bare form must not follow an identifier label.
fn val_phone_national(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if !phone_head_ok(t, s) || !phone_tail_ok(t, e) {
        return;
    }
    let body = &t[s..e];
    let n = body.iter().filter(|b| b.is_ascii_digit()).count();
    if !(10..=12).contains(&n) {
        return;
    }
    let mut kinds = body.iter().filter(|b| matches!(b, b'.' | b'-' | b'/'));
    if let Some(first) = kinds.next()
        && kinds.any(|k| k != first)
    {
        return;
    }
    if body.iter().all(u8::is_ascii_digit) && id_label_before(text, s) {
        return;
    }
    out.push((s, e));
}

fn val_phone_intl(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if !phone_head_ok(t, s) || !phone_tail_ok(t, e) {
        return;
    }
    let body = &t[s + 1..e];
    // No doubled separators, balanced parentheses.
    if body.windows(2).any(|w| {
        !w[0].is_ascii_digit()
            && !w[1].is_ascii_digit()
            && w != b") "
            && w != b" ("
            && w != b")-"
            && w != b")."
    }) {
        return;
    }
    let opens = body.iter().filter(|&&b| b == b'(').count();
    let closes = body.iter().filter(|&&b| b == b')').count();
    if opens != closes || opens > 1 {
        return;
    }
    let n = body.iter().filter(|b| b.is_ascii_digit()).count();
    if (8..=15).contains(&n) {
        out.push((s, e));
    }
}

fn val_ipv4(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if before(t, s).is_some_and(|b| b == b'.' || b.is_ascii_alphanumeric())
        || (at(t, e) == Some(b'.') && at(t, e + 1).is_some_and(|c| c.is_ascii_digit()))
    {
        return;
    }
    if text[s..e].parse::<std::net::Ipv4Addr>().is_err() {
        return;
    }
    let ver = context_before(text, s, 9, &["version", "ver ", "ver.", "v"]) && {
        // only when the label is directly before the token ("v1.2.3.4", "version 1.2.3.4")
        id_label_before(text, s) || before(t, s).is_some_and(|b| b == b'v' || b == b'V')
    };
    if ver || &text[s..e] == "0.0.0.0" {
        return;
    }
    out.push((s, e));
}

fn val_ipv6(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if before(t, s).is_some_and(|b| is_word(b) || b == b'.') {
        return;
    }
    let mut end = e;
    // Drop a trailing single ':' (sentence punctuation), keep a trailing "::".
    if end - s > 2 && t[end - 1] == b':' && t[end - 2] != b':' {
        end -= 1;
    }
    if at(t, end).is_some_and(|b| is_word(b) || b == b':') {
        return;
    }
    let cand = &text[s..end];
    if cand.parse::<std::net::Ipv6Addr>().is_err() {
        return;
    }
    let groups = cand.split(':').filter(|g| !g.is_empty()).count();
    if groups < 3 {
        return;
    }
    out.push((s, end));
}

fn val_mac(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if before(t, s).is_some_and(|b| is_word(b) || b == b':' || b == b'-' || b == b'.')
        || at(t, e).is_some_and(|b| is_word(b) || b == b':')
        || (matches!(at(t, e), Some(b'-' | b'.'))
            && at(t, e + 1).is_some_and(|c| c.is_ascii_hexdigit()))
    {
        return;
    }
    let hex: Vec<u8> = t[s..e]
        .iter()
        .copied()
        .filter(u8::is_ascii_hexdigit)
        .collect();
    if hex.iter().all(|&b| b == b'0') || hex.iter().all(|&b| b == b'f' || b == b'F') {
        return;
    }
    // Dotted (Cisco) form made only of decimal digits is more likely a number than a MAC.
    if t[s + 4] == b'.' && !hex.iter().any(u8::is_ascii_alphabetic) {
        return;
    }
    out.push((s, e));
}

/// Words before "fingerprint"/"genetic"/... that make it technical vocabulary.
const TECH_BEFORE: &[&str] = &[
    "key",
    "ssh",
    "certificate",
    "cert",
    "tls",
    "ssl",
    "gpg",
    "pgp",
    "sha1",
    "sha256",
    "sha-1",
    "sha-256",
    "md5",
    "browser",
    "device",
    "hash",
    "public",
    "host",
    "server",
    "code",
    "file",
    "build",
    "schema",
    "query",
    "content",
];
const TECH_AFTER: &[&str] = &[
    "algorithm",
    "algorithms",
    "programming",
    "operator",
    "operators",
    "of the key",
    "hash",
    "mismatch",
];

/// Condition names that need a personal cue.
const DISEASES: &[&str] = &[
    "cancer",
    "diabet",
    "chemotherapy",
    "dementia",
    "alzheimer",
    "tuberculosis",
    "schizophreni",
    "bipolar",
    "hepatitis",
    "epilep",
    "autis",
    "multiple",
    "parkinson",
    "miscarriage",
    "abortion",
    "infertil",
];
const DISEASE_CUES: &[&str] = &[
    "has ",
    "have ",
    "had ",
    "with ",
    "from ",
    "for ",
    "patient",
    "diagnos",
    "history of",
    "treated",
    "treatment",
    "suffer",
    "tested",
    "living",
    "is ",
    "was ",
    "her ",
    "his ",
    "their ",
];

fn val_special(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    let kw = &text[s..e];
    let lower = kw.to_ascii_lowercase();
    // Technical vocabulary: "SSH key fingerprint", "genetic algorithm".
    let mut i = s;
    while i > 0 && t[i - 1] == b' ' {
        i -= 1;
    }
    let pe = i;
    while i > 0 && (t[i - 1].is_ascii_alphanumeric() || t[i - 1] == b'-') {
        i -= 1;
    }
    let prev = &t[i..pe];
    let mut r0 = e;
    while r0 < t.len() && t[r0] == b' ' {
        r0 += 1;
    }
    let rest = &t[r0..(r0 + 24).min(t.len())];
    let tech_word = lower.starts_with("fingerprint")
        || lower.starts_with("genetic")
        || lower.starts_with("genom")
        || lower.starts_with("biometric");
    if tech_word
        && (TECH_BEFORE
            .iter()
            .any(|w| w.as_bytes().eq_ignore_ascii_case(prev))
            || TECH_AFTER.iter().any(|w| {
                rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes())
            }))
    {
        return;
    }
    // A condition name alone is a topic ("cancer research"); it is health data about a
    // person with a personal cue: "has cancer", "diagnosed with ...", "cancer patient".
    if DISEASES.iter().any(|d| lower.starts_with(d)) {
        let cue_before = context_before(text, s, 32, DISEASE_CUES);
        let cue_after = rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"patient");
        if !cue_before && !cue_after {
            return;
        }
    }
    // Label form: "religion: X", "diagnosed with X", "ethnicity is X" -> the value is the
    // sensitive part; report it (the label stays readable).
    let mut j = e;
    while j < t.len() && (t[j] == b' ' || t[j] == b'\t') {
        j += 1;
    }
    let mut vs = None;
    if lower.ends_with(':') || lower.ends_with('=') {
        vs = Some(e); // the pattern already consumed the separator
    } else if j < t.len() && (t[j] == b':' || t[j] == b'=') {
        vs = Some(j + 1);
    } else {
        for sep in ["is ", "was ", "are ", "with ", "of ", "as ", "for "] {
            if t.len() >= j + sep.len() && t[j..j + sep.len()].eq_ignore_ascii_case(sep.as_bytes())
            {
                vs = Some(j + sep.len());
                break;
            }
        }
    }
    if let Some(mut vs) = vs {
        while vs < t.len() && (t[vs] == b' ' || t[vs] == b'\t' || t[vs] == b'"' || t[vs] == b'\'') {
            vs += 1;
        }
        let limit = (vs + 80).min(t.len());
        let mut ve = vs;
        let mut words = 0;
        while ve < limit {
            let b = t[ve];
            if b"\n\r.,;!?\"()[]{}<>|".contains(&b) {
                break;
            }
            if b == b' ' {
                words += 1;
                if words >= 5 {
                    break;
                }
            }
            ve += 1;
        }
        while ve > vs && t[ve - 1] == b' ' {
            ve -= 1;
        }
        // Only letters make a value ("diagnosis: 2024" is a date, still flag the keyword).
        if ve > vs && t[vs..ve].iter().any(u8::is_ascii_alphabetic) {
            out.push((s, ve));
            return;
        }
    }
    out.push((s, e));
}

fn val_entropy(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    let tok = &t[s..e];
    if tok.len() < 24 || tok.len() > 4096 {
        return;
    }
    // Hex ids (decision ids, SHA-256, git shas), UUIDs: hex digits and dashes only.
    if tok.iter().all(|&b| b.is_ascii_hexdigit() || b == b'-') {
        return;
    }
    let digits = tok.iter().filter(|b| b.is_ascii_digit()).count();
    let upper = tok.iter().filter(|b| b.is_ascii_uppercase()).count();
    let lower = tok.iter().filter(|b| b.is_ascii_lowercase()).count();
    if digits < 2 || upper < 2 || lower < 2 {
        return;
    }
    // Paths and identifiers made of words: many separators relative to length.
    let seps = tok
        .iter()
        .filter(|&&b| b == b'/' || b == b'-' || b == b'_')
        .count();
    if seps * 6 > tok.len() {
        return;
    }
    if v::shannon_entropy(tok) >= 4.0 {
        out.push((s, e));
    }
}
