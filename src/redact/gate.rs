//! The single pre-pass: a byte-level lexer that computes, for one line of text, which
//! kinds of token it contains (long digit runs, hex-colon runs, uppercase codes, keyword
//! stems, long base64-ish tokens). A detector's regex runs on a line only if the line has
//! the token kind the detector needs, so benign text pays one lexer pass, not one pass
//! per detector.
//!
//! Every gate is a *superset* condition of its detector's pattern (if the pattern can
//! match in the line, the gate is open), so gating never loses a finding.

use once_cell::sync::Lazy;

/// What a detector needs to see in a line before its regex is worth running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// A run of digits joined by single spaces or dashes holding at least this many digits.
    NumDash(u32),
    /// At least this many consecutive digits.
    Consec(u32),
    /// Any of these feature bits.
    Bits(u32),
}

pub(crate) const HEX: u32 = 1 << 0;
pub(crate) const IBAN: u32 = 1 << 1;
pub(crate) const BIC: u32 = 1 << 2;
pub(crate) const NINO: u32 = 1 << 3;
pub(crate) const PASSWORD: u32 = 1 << 4;
pub(crate) const SPECIAL: u32 = 1 << 5;
pub(crate) const LONG_TOKEN: u32 = 1 << 6;
pub(crate) const IPV4: u32 = 1 << 7;
pub(crate) const MAC: u32 = 1 << 8;
pub(crate) const SSN: u32 = 1 << 9;
pub(crate) const PHONE: u32 = 1 << 10;
pub(crate) const PLUS: u32 = 1 << 11;
/// Tokens that start literal-prefixed secrets, one bit per family so that only the
/// matching detector runs: `sk-`/`sk_`/`rk_`, `AKIA`.., `AIza`, `eyJ`, `bearer`,
/// `ghp_`../`github_`, `xoxb-`../`hooks.`.
pub(crate) const LIT_SK: u32 = 1 << 12;
pub(crate) const LIT_AWS: u32 = 1 << 16;
pub(crate) const LIT_GOOGLE: u32 = 1 << 17;
pub(crate) const LIT_JWT: u32 = 1 << 18;
pub(crate) const LIT_BEARER: u32 = 1 << 19;
pub(crate) const LIT_GITHUB: u32 = 1 << 20;
pub(crate) const LIT_SLACK: u32 = 1 << 21;
#[cfg(test)]
const SECRET_LIT: u32 =
    LIT_SK | LIT_STRIPE | LIT_AWS | LIT_GOOGLE | LIT_JWT | LIT_BEARER | LIT_GITHUB | LIT_SLACK;
/// An `@` (email, URL userinfo).
pub(crate) const AT: u32 = 1 << 13;
/// A `-----BEGIN ` line.
pub(crate) const PEM: u32 = 1 << 14;
/// A numeric run of 10+ digits whose first group starts with the trunk prefix `0`.
pub(crate) const ZERO_LED: u32 = 1 << 22;
/// The area code + subscriber shape `NN NNNN-NNNN` / `(NN) NNNNN-NNNN`.
pub(crate) const PHONE_AREA: u32 = 1 << 23;
/// `sk_` / `rk_` (Stripe) as opposed to `sk-` (OpenAI/Anthropic).
pub(crate) const LIT_STRIPE: u32 = 1 << 24;
/// `://` (URL with a scheme).
pub(crate) const SCHEME: u32 = 1 << 25;
/// `ssn`, `ss#`, `social` (security), `itin`, `tax` (id).
pub(crate) const SSN_KW: u32 = 1 << 15;

/// Features of one line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Features {
    /// Max digits in a run joined by single spaces/dashes.
    pub dash: u32,
    /// Max consecutive digits.
    pub consec: u32,
    /// Feature bits.
    pub bits: u32,
}

impl Features {
    #[inline]
    pub(crate) fn open(&self, g: Gate) -> bool {
        match g {
            Gate::NumDash(n) => self.dash >= n,
            Gate::Consec(n) => self.consec >= n,
            Gate::Bits(b) => self.bits & b != 0,
        }
    }
}

/// Keyword stems: a word starting with one of these opens the gate. Password keywords,
/// then the first word of every special-category lexicon entry.
const PASSWORD_STEMS: &[&str] = &["password", "passphrase", "passwd", "passcode", "pwd"];
const SPECIAL_STEMS: &[&str] = &[
    "diagnos",
    "hiv",
    "pregnan",
    "disabilit",
    "medical",
    "health",
    "mental",
    "psychiatric",
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
    "sexual",
    "std",
    "biometric",
    "fingerprint",
    "face",
    "facial",
    "retina",
    "iris",
    "voice",
    "genetic",
    "genom",
    "genotype",
    "dna",
    "brca",
    "ethnic",
    "racial",
    "race",
    "religio",
    "muslim",
    "christian",
    "jewish",
    "hindu",
    "buddhist",
    "sikh",
    "catholic",
    "protestant",
    "atheist",
    "sex",
    "homosexual",
    "heterosexual",
    "bisexual",
    "transgender",
    "lesbian",
    "lgbt",
    "political",
    "trade",
    "union",
    "labor",
    "labour",
    "philosophical",
];

/// Stems bucketed by their first three lower-case letters, plus a bitmap of used buckets
/// so that the common case (no stem shares the word's first three letters) is one lookup.
struct StemIndex {
    /// 4096-bit filter over a hash of the lower-cased first three letters.
    filter: [u64; 64],
    buckets: Vec<Vec<(u32, &'static [u8])>>,
}

const BUCKETS: usize = 26 * 26 * 26;

static STEMS: Lazy<StemIndex> = Lazy::new(|| {
    let mut idx = StemIndex {
        filter: [0; 64],
        buckets: vec![Vec::new(); BUCKETS],
    };
    for (bit, list) in [
        (PASSWORD, PASSWORD_STEMS),
        (SPECIAL, SPECIAL_STEMS),
        (LIT_BEARER, &["bearer"][..]),
        (SSN_KW, &["ssn", "social", "itin", "tax"][..]),
    ] {
        for s in list {
            let b = s.as_bytes();
            let k = key3(b[0], b[1], b[2]);
            let h = hash3(b);
            idx.filter[h / 64] |= 1 << (h % 64);
            idx.buckets[k].push((bit, b));
        }
    }
    idx
});

/// Hash of the first three bytes, ASCII-lower-cased, into 0..4096.
#[inline(always)]
fn hash3(w: &[u8]) -> usize {
    let k = (u32::from(w[0] | 0x20) << 16) | (u32::from(w[1] | 0x20) << 8) | u32::from(w[2] | 0x20);
    (k.wrapping_mul(0x9E37_79B1) >> 20) as usize
}

#[inline]
fn key3(a: u8, b: u8, c: u8) -> usize {
    let l = |x: u8| (x.to_ascii_lowercase() - b'a') as usize;
    l(a) * 676 + l(b) * 26 + l(c)
}

/// Keyword bits for an alphabetic word (any case).
#[inline(always)]
fn keyword_bits(stems: &StemIndex, word: &[u8]) -> u32 {
    if word.len() < 3 {
        return 0;
    }
    let h = hash3(word);
    if stems.filter[h / 64] & (1 << (h % 64)) == 0 {
        return 0;
    }
    keyword_bits_slow(stems, word)
}

#[inline(never)]
fn keyword_bits_slow(stems: &StemIndex, word: &[u8]) -> u32 {
    let k = key3(word[0], word[1], word[2]);
    let mut bits = 0;
    for &(bit, stem) in &stems.buckets[k] {
        if word.len() >= stem.len() && word[..stem.len()].eq_ignore_ascii_case(stem) {
            bits |= bit;
        }
    }
    bits
}

/// Literal secret prefixes that are whole lower-case tokens followed by a given byte:
/// `sk-`, `sk_`, `rk_`, `ghp_`.., `github_`, `xoxb-`.., `hooks.` (Slack webhook), `ss#`.
#[inline]
fn lower_prefix_bits(w: &[u8], next: Option<u8>) -> u32 {
    let Some(nb) = next else { return 0 };
    match (w, nb) {
        (b"sk", b'-') => LIT_SK,
        (b"sk" | b"rk", b'_') => LIT_STRIPE,
        (b"github", b'_') => LIT_GITHUB,
        ([b'g', b'h', x], b'_') if b"pousr".contains(x) => LIT_GITHUB,
        (b"hooks", b'.') => LIT_SLACK,
        ([b'x', b'o', b'x', x], b'-') if b"baprse".contains(x) => LIT_SLACK,
        (b"ss", b'#') => SSN_KW,
        _ => 0,
    }
}

/// Literal secret prefixes inside mixed-case tokens: `AKIA`/`ASIA`/`ABIA`/`ACCA` and `eyJ`
/// at the start, `AIza` anywhere (the Google key pattern has no leading boundary).
#[inline]
fn mixed_prefix_bits(tok: &[u8]) -> u32 {
    let mut bits = 0;
    if tok.len() >= 4 && matches!(&tok[..4], b"AKIA" | b"ASIA" | b"ABIA" | b"ACCA") {
        bits |= LIT_AWS;
    }
    if tok.starts_with(b"eyJ") {
        bits |= LIT_JWT;
    }
    if tok.len() >= 4 && tok.windows(4).any(|w| w == b"AIza") {
        bits |= LIT_GOOGLE;
    }
    bits
}

/// Gate bits for a token with an upper-case letter (IBAN, BIC, NINO shapes).
fn upper_token_bits(tok: &[u8], t: &[u8], end: usize) -> u32 {
    let mut bits = 0;
    let up = |x: &[u8]| x.iter().all(u8::is_ascii_uppercase);
    if tok.len() >= 4 && up(&tok[..2]) && tok[2].is_ascii_digit() && tok[3].is_ascii_digit() {
        bits |= IBAN;
    }
    if (tok.len() == 8 || tok.len() == 11)
        && up(&tok[..6])
        && !tok.iter().any(u8::is_ascii_lowercase)
    {
        bits |= BIC;
    }
    bits | nino_bits(tok, t, end)
}

#[inline]
fn nino_bits(tok: &[u8], t: &[u8], end: usize) -> u32 {
    let two_letters =
        tok.len() >= 2 && tok[0].is_ascii_alphabetic() && tok[1].is_ascii_alphabetic();
    if two_letters
        && ((tok.len() == 2
            && t.get(end) == Some(&b' ')
            && t.get(end + 1).is_some_and(u8::is_ascii_digit))
            || (tok.len() >= 4 && tok[2].is_ascii_digit() && tok[3].is_ascii_digit()))
    {
        NINO
    } else {
        0
    }
}

/// IPv6 (`HEX`) and colon/dash MAC (`MAC`) shapes of a run of hex tokens joined by `:`,
/// `-`, `.` (the dotted Cisco MAC form is tracked separately).
#[inline]
fn hex_bits(len: usize, colons: u32, dashes: u32, dbl: bool) -> u32 {
    let mut bits = 0;
    if (dbl && len >= 3) || colons >= 6 {
        bits |= HEX;
    }
    if (colons >= 5 || dashes >= 5) && len >= 17 {
        bits |= MAC;
    }
    bits
}

const C_DIGIT: u8 = 1;
const C_LOWER: u8 = 2;
const C_UPPER: u8 = 4;
const C_HEX: u8 = 8;
const C_NUMSEP: u8 = 16;
const C_JOIN: u8 = 32;
const C_ALNUM: u8 = C_DIGIT | C_LOWER | C_UPPER;

static CLASS: [u8; 256] = {
    let mut c = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut v = 0;
        if b.is_ascii_digit() {
            v |= C_DIGIT | C_HEX;
        }
        if b.is_ascii_lowercase() {
            v |= C_LOWER;
        }
        if b.is_ascii_uppercase() {
            v |= C_UPPER;
        }
        if matches!(b, b'a'..=b'f' | b'A'..=b'F') {
            v |= C_HEX;
        }
        if matches!(b, b' ' | b'.' | b'-' | b'(' | b')' | b'+' | b'/') {
            v |= C_NUMSEP;
        }
        if matches!(b, b'+' | b'/' | b'_' | b'=' | b'-') {
            v |= C_JOIN;
        }
        c[i] = v;
        i += 1;
    }
    c
};

/// Computes the features of `t` (one line) in a single pass.
#[cfg(test)]
pub(crate) fn features(t: &[u8]) -> Features {
    let mut out = Features::default();
    for_each_line(t, |_, _, f| out = f);
    out
}

/// One pass over `t`: calls `emit(line_start, line_end, features)` for every line
/// (split on `\n`) whose features are not empty.
pub(crate) fn for_each_line(t: &[u8], mut emit: impl FnMut(usize, usize, Features)) {
    let stems: &StemIndex = &STEMS;
    let n = t.len();
    let mut f = Features::default();
    // numeric run: digits joined by up to two separator bytes
    let mut run_digits = 0u32;
    let mut seps = 0u32;
    // dash run: digits joined by single ' ' or '-'
    let mut run_dash = 0u32;
    let mut dash_ok = false;
    // hex run: hex-only tokens joined by ':', '-', '.'
    let mut hx_len = 0usize;
    let mut hx_colons = 0u32;
    let mut hx_dashes = 0u32;
    let mut hx_dbl = false;
    // Cisco MAC: three 4-hex tokens joined by '.'
    let mut q4 = 0u32;
    // long token run: alnum tokens joined by + / _ = -
    let mut lt_len = 0usize;
    // dotted-quad run: digit tokens joined by single '.'
    let mut dq = 0u32;
    // the last two digit groups of the current numeric run (length, separator before it)
    let mut g1: (u32, u8) = (0, 0);
    let mut g2: (u32, u8) = (0, 0);
    let mut sep_byte = 0u8;
    // digits of the current numeric run since its first '0'-led group
    let mut zero_digits = 0u32;
    let mut last_sep = 0u8;
    let mut i = 0;

    macro_rules! end_hex {
        () => {
            if hx_len > 0 {
                f.bits |= hex_bits(hx_len, hx_colons, hx_dashes, hx_dbl);
                hx_len = 0;
                hx_colons = 0;
                hx_dashes = 0;
                hx_dbl = false;
            }
        };
    }

    let mut line_start = 0;
    while i < n {
        let c = CLASS[t[i] as usize];
        if c & C_LOWER != 0 {
            // fast path: a plain lower-case word
            let s = i;
            let mut beyond_f = false;
            while i < n && t[i].is_ascii_lowercase() {
                beyond_f |= t[i] > b'f';
                i += 1;
            }
            if i == n || CLASS[t[i] as usize] & C_ALNUM == 0 {
                let w = &t[s..i];
                f.bits |= keyword_bits(stems, w);
                if w.len() <= 6 {
                    f.bits |= lower_prefix_bits(w, t.get(i).copied());
                    if w.len() == 2 {
                        f.bits |= nino_bits(w, t, i);
                    }
                }
                if beyond_f {
                    q4 = 0;
                    end_hex!();
                } else {
                    if w.len() == 4 {
                        q4 = if seps == 1 && last_sep == b'.' && q4 > 0 {
                            q4 + 1
                        } else {
                            1
                        };
                        if q4 >= 3 {
                            f.bits |= MAC;
                        }
                    } else {
                        q4 = 0;
                    }
                    hx_len += w.len();
                }
                run_digits = 0;
                run_dash = 0;
                seps = 0;
                dq = 0;
                lt_len += w.len();
                if lt_len >= 24 {
                    f.bits |= LONG_TOKEN;
                }
                continue;
            }
            i = s;
        }
        if c & C_ALNUM != 0 {
            let s = i;
            let mut and = 0xFFu8;
            let mut or = 0u8;
            while i < n {
                let c = CLASS[t[i] as usize];
                if c & C_ALNUM == 0 {
                    break;
                }
                and &= c;
                or |= c;
                i += 1;
            }
            let tok = &t[s..i];
            let len = tok.len() as u32;
            if and & C_DIGIT != 0 {
                // pure number
                dq = if seps == 1 && last_sep == b'.' && dq > 0 {
                    dq + 1
                } else {
                    1
                };
                if dq >= 4 {
                    f.bits |= IPV4;
                }
                f.consec = f.consec.max(len);
                run_digits = if seps <= 2 && run_digits > 0 {
                    run_digits + len
                } else {
                    len
                };
                // digits since the first '0'-led group of this run (a national number may
                // start at any group: "675924376543 02100002112")
                zero_digits = if run_digits != len && zero_digits > 0 {
                    zero_digits + len
                } else if tok[0] == b'0' {
                    len
                } else {
                    0
                };
                if zero_digits >= 10 {
                    f.bits |= ZERO_LED;
                }
                run_dash = if dash_ok && seps == 1 && run_dash > 0 {
                    run_dash + len
                } else {
                    len
                };
                f.dash = f.dash.max(run_dash);
                // SSN 3-2-4 (same single separator) and NANP 3-3-4 shapes
                {
                    let cur = (len, if seps > 0 { sep_byte } else { 0 });
                    if run_digits == len {
                        g1 = (0, 0);
                        g2 = (0, 0);
                    }
                    if len == 4
                        && g1.0 == 2
                        && g2.0 == 3
                        && seps == 1
                        && g1.1 == cur.1
                        && matches!(cur.1, b'-' | b' ')
                    {
                        f.bits |= SSN;
                    }
                    // NANP: 3-3-4 (the area code may carry a glued country code: "1234.928.6179")
                    // area code + subscriber number: "93 9096-6909", "(11) 98765-4321"
                    if len == 4 && (g1.0 == 4 || g1.0 == 5) && g2.0 == 2 && cur.1 == b'-' {
                        f.bits |= PHONE_AREA;
                    }
                    if len == 4 && g1.0 == 3 && g2.0 >= 3 && seps >= 1 {
                        f.bits |= PHONE;
                    }
                    g2 = g1;
                    g1 = cur;
                }
            } else {
                if or & C_DIGIT != 0 {
                    // mixed token: digits inside count as consecutive digits; a number-led
                    // token also continues a numeric run ("4332x22")
                    let mut cd = 0u32;
                    let mut lead = true;
                    for &x in tok {
                        if x.is_ascii_digit() {
                            cd += 1;
                            f.consec = f.consec.max(cd);
                        } else {
                            if lead && cd > 0 {
                                let r = if dash_ok && seps == 1 && run_dash > 0 {
                                    run_dash + cd
                                } else {
                                    cd
                                };
                                f.dash = f.dash.max(r);
                                if cd == 4 && g1.0 == 3 && g2.0 >= 3 && seps >= 1 && run_digits > 0
                                {
                                    f.bits |= PHONE;
                                }
                            }
                            lead = false;
                            cd = 0;
                        }
                    }
                }
                run_digits = 0;
                run_dash = 0;
                dq = 0;
                // keywords: the alphabetic part at the start (or right after leading digits)
                let mut a = 0;
                while a < tok.len() && tok[a].is_ascii_digit() {
                    a += 1;
                }
                let mut b = a;
                while b < tok.len() && tok[b].is_ascii_alphabetic() {
                    b += 1;
                }
                f.bits |= keyword_bits(stems, &tok[a..b]);
                if a == 0 && tok.len() <= 6 {
                    f.bits |= lower_prefix_bits(tok, t.get(i).copied());
                }
                if or & C_UPPER != 0 {
                    f.bits |= mixed_prefix_bits(tok);
                    if a == 0 {
                        f.bits |= upper_token_bits(tok, t, i);
                    }
                } else if a == 0 && tok.len() >= 2 {
                    f.bits |= nino_bits(tok, t, i);
                }
            }
            if and & C_HEX != 0 && tok.len() == 4 {
                q4 = if seps == 1 && last_sep == b'.' && q4 > 0 {
                    q4 + 1
                } else {
                    1
                };
                if q4 >= 3 {
                    f.bits |= MAC;
                }
            } else {
                q4 = 0;
            }
            seps = 0;
            dash_ok = true;
            if and & C_HEX != 0 {
                hx_len += tok.len();
            } else {
                end_hex!();
            }
            lt_len += tok.len();
            if lt_len >= 24 {
                f.bits |= LONG_TOKEN;
            }
            continue;
        }
        // separator / punctuation
        let b = t[i];
        last_sep = b;
        if b == b'\n' {
            end_hex!();
            if f != Features::default() {
                emit(line_start, i, f);
            }
            f = Features::default();
            run_digits = 0;
            run_dash = 0;
            seps = 0;
            lt_len = 0;
            dq = 0;
            i += 1;
            line_start = i;
            continue;
        }
        if b == b' ' {
            // fast path for the commonest byte
            seps += 1;
            sep_byte = b' ';
            end_hex!();
            lt_len = 0;
            i += 1;
            continue;
        }
        if c & C_NUMSEP != 0 {
            seps += 1;
            sep_byte = b;
            if b == b'+' && t.get(i + 1).is_some_and(u8::is_ascii_digit) {
                f.bits |= PLUS;
            }
            if b != b'-' {
                dash_ok = false;
            }
        } else {
            run_digits = 0;
            run_dash = 0;
            seps = 0;
        }
        if b == b'@' {
            f.bits |= AT;
        } else if b == b':' && t.len() >= i + 3 && t[i + 1] == b'/' && t[i + 2] == b'/' {
            f.bits |= SCHEME;
        } else if b == b'-' && t.len() >= i + 11 && &t[i..i + 11] == b"-----BEGIN " {
            f.bits |= PEM;
        }
        match b {
            b':' if hx_len > 0
                || t.get(i + 1) == Some(&b':')
                || t.get(i + 1).is_some_and(u8::is_ascii_hexdigit) =>
            {
                if i > 0 && t[i - 1] == b':' {
                    hx_dbl = true;
                }
                hx_colons += 1;
                hx_len += 1;
            }
            b'-' if hx_len > 0 => {
                hx_dashes += 1;
                hx_len += 1;
            }
            b'.' if hx_len > 0 => {
                hx_len += 1;
            }
            _ => end_hex!(),
        }
        if c & C_JOIN != 0 {
            lt_len += 1;
            if lt_len >= 24 {
                f.bits |= LONG_TOKEN;
            }
        } else {
            lt_len = 0;
        }
        i += 1;
    }
    if hx_len > 0 {
        f.bits |= hex_bits(hx_len, hx_colons, hx_dashes, hx_dbl);
    }
    if f != Features::default() {
        emit(line_start, n, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_runs() {
        let f = features(b"card 4111 1111 1111 1111 ok");
        assert_eq!((f.dash, f.consec), (16, 4));
        let f = features(b"ip 193.144.194.128 ok");
        assert_eq!(f.dash, 3);
        assert!(f.bits & IPV4 != 0);
        let f = features(b"ssn 240-71-7003");
        assert_eq!(f.dash, 9);
        let f = features(b"call (365) 988-4332x22 now");
        assert!(f.bits & PHONE != 0);
        let f = features(b"order #699665182 shipped");
        assert_eq!(f.consec, 9);
        let f = features(b"version 4.16.31 in 2023");
        assert!(f.dash < 9 && f.consec == 4);
    }

    #[test]
    fn hex_runs() {
        assert!(features(b"mac 3c:87:c4:35:ca:ed").bits & MAC != 0);
        assert!(features(b"mac 3c:87:c4:35:ca:ed").bits & HEX == 0);
        assert!(features(b"ssn 240-71-7003").bits & SSN != 0);
        assert!(features(b"ssn 240 71 7003").bits & SSN != 0);
        assert!(features(b"n 240-71 7003").bits & SSN == 0);
        assert!(features(b"call (365)988-4332x2822").bits & PHONE != 0);
        assert!(features(b"call +1-237-428-0321").bits & (PHONE | PLUS) == PHONE | PLUS);
        assert!(features(b"call 234.928.6179").bits & PHONE != 0);
        assert!(features(b"ip 193.144.194.128").bits & PHONE == 0);
        assert!(features(b"tel 01632 960123").bits & ZERO_LED != 0);
        assert!(features(b"tel 93 9096-6909").bits & PHONE_AREA != 0);
        assert!(features(b"tel (11) 98765-4321").bits & PHONE_AREA != 0);
        assert!(features(b"db postgres://u:p@h").bits & SCHEME != 0);
        assert!(features(b"tel (0123) 456789").bits & ZERO_LED != 0);
        assert!(features(b"tel 01 23 45 67 89").bits & ZERO_LED != 0);
        assert!(features(b"order 025680463").bits & ZERO_LED == 0);
        assert!(features(b"ip fe80::1 up").bits & HEX != 0);
        assert!(features(b"x efab:aae:58e9:c7bf:f53b:db4a:491b:3e6d").bits & HEX != 0);
        assert!(features(b"mac 3c-87-c4-35-ca-ed").bits & MAC != 0);
        assert!(features(b"mac 0123.4567.89ab").bits & MAC != 0);
        assert!(features(b"at 10:17:09 today").bits & HEX == 0);
        assert!(features(b"uuid c51344fc-cf4e-4844-b080-b7f881785603").bits & HEX == 0);
    }

    #[test]
    fn tokens_and_keywords() {
        assert!(features(b"to GB82 WEST 1234").bits & IBAN != 0);
        assert!(features(b"bic DEUTDEFF500").bits & BIC != 0);
        assert!(features(b"NI AB 12 34 56 C").bits & NINO != 0);
        assert!(features(b"the Password is x").bits & PASSWORD != 0);
        assert!(features(b"db_PWD=x").bits & PASSWORD != 0);
        assert!(features(b"Religion: x").bits & SPECIAL != 0);
        assert!(features(b"HIV positive").bits & SPECIAL != 0);
        assert_eq!(features(b"the model answered the user").bits, 0);
        assert!(features(b"tok abcdefghijklmnopqrstuvwxyz").bits & LONG_TOKEN != 0);
        for lit in [
            "key sk-proj-abc",
            "sk_live_x",
            "rk_live_x",
            "AKIAXX",
            "id ASIAXX",
            "eyJhbGc",
            "x AIzaSy",
            "keyAIzaSy",
            "ghp_x",
            "github_pat_x",
            "xoxb-1",
            "https://hooks.slack.com/x",
            "Bearer x",
        ] {
            assert!(features(lit.as_bytes()).bits & SECRET_LIT != 0, "{lit}");
        }
        assert!(features(b"mail a@b.cd").bits & AT != 0);
        assert!(features(b"x -----BEGIN RSA PRIVATE KEY-----").bits & PEM != 0);
        assert!(features(b"SSN: 1").bits & SSN_KW != 0);
        assert!(features(b"ss# 1").bits & SSN_KW != 0);
        assert_eq!(features(b"skip the risk ghost xoxo hooks").bits, 0);
    }
}
