//! `gov_id` detectors: US Social Security numbers (core) and the opt-in locale packs (UK
//! National Insurance number, German Steuer-ID, French NIR, Indian Aadhaar).
//!
//! The checks implement published specifications rather than corpus heuristics:
//!
//! | check | specification |
//! |---|---|
//! | `ssn_valid` | SSA rules: area not 000/666/900-999, group not 00, serial not 0000 (waived after a context word: `SSN`, `social security`, `ITIN`, `tax id`) |
//! | `verhoeff_valid` | Verhoeff dihedral-group check digit (Aadhaar) |
//! | `steuer_id_valid` | German Steuer-ID: ISO 7064 MOD 11,10 and the digit-repetition rule |
//! | `nir_valid` | French NIR: key = 97 - (number mod 97), Corsica 2A/2B substitution |
//! | `nino_valid` | UK National Insurance number prefix/suffix rules (HMRC NIM39110; prefix rules waived after `NINO`, `national insurance`, `NI number`) |

use super::LocalePack;
use super::Severity::Critical;
use super::{Def, Feature, GOV_ID, Gate, Span, context_before, digits_of, gate, standalone_number};

pub(super) const US_SSN: Def = Def {
    category: "us_ssn",
    group: GOV_ID,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::SSN),
    pattern: r"(?-u:\b)[0-9]{3}(?:-[0-9]{2}-| [0-9]{2} )[0-9]{4}(?-u:\b)",
    validate: val_ssn,
    validator_name: Some("SSA area/group/serial rules"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const US_SSN_AFTER_KEYWORD: Def = Def {
    category: "us_ssn",
    group: GOV_ID,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::SSN_KW),
    pattern: r"(?i-u:\b(?:ssn|ss#|itin|tax[ \t_\-]?(?:payer[ \t_\-]?)?id|social[ \t_\-]+security))(?:[^A-Za-z0-9\n][^0-9\n]{0,19})?[0-9]{3}(?:[ \-]?)[0-9]{2}(?:[ \-]?)[0-9]{4}(?-u:\b)",
    validate: val_ssn_context,
    validator_name: Some("context word required; SSA rules relaxed"),
    numeric_ok: false,
    key_context: &["ssn", "social", "itin", "tax"],
    multiline: false,
    rescan_after: None,
};

// -------------------------------------------------- locale packs (opt-in)

pub(super) const UK_NINO: Def = Def {
    category: "uk_nino",
    group: GOV_ID,
    severity: Critical,
    feature: Feature::Pack(LocalePack::UkNino),
    gate: Gate::Bits(gate::NINO),
    pattern: r"(?-u:\b)[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d](?-u:\b)",
    validate: val_nino,
    validator_name: Some("HMRC prefix/suffix rules"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const DE_STEUER_ID: Def = Def {
    category: "de_steuer_id",
    group: GOV_ID,
    severity: Critical,
    feature: Feature::Pack(LocalePack::DeSteuerId),
    gate: Gate::NumDash(11),
    pattern: r"(?-u:\b)[1-9][0-9] ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}(?-u:\b)",
    validate: val_steuer,
    validator_name: Some("ISO 7064 MOD 11,10 + digit rule"),
    numeric_ok: true,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const FR_NIR: Def = Def {
    category: "fr_nir",
    group: GOV_ID,
    severity: Critical,
    feature: Feature::Pack(LocalePack::FrNir),
    gate: Gate::NumDash(5),
    pattern: r"(?-u:\b)[1278] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[ABab]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}(?-u:\b)",
    validate: val_nir,
    validator_name: Some("mod 97 key"),
    numeric_ok: true,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const IN_AADHAAR: Def = Def {
    category: "in_aadhaar",
    group: GOV_ID,
    severity: Critical,
    feature: Feature::Pack(LocalePack::InAadhaar),
    gate: Gate::NumDash(12),
    pattern: r"(?-u:\b)[2-9][0-9]{3}[ \-]?[0-9]{4}[ \-]?[0-9]{4}(?-u:\b)",
    validate: val_aadhaar,
    validator_name: Some("Verhoeff"),
    numeric_ok: true,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

// -------------------------------------------------------------- validators

fn ssn_digits_ok(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let n = |a: usize, b: usize| {
        d[a..b]
            .iter()
            .fold(0u32, |x, &c| x * 10 + u32::from(c - b'0'))
    };
    ssn_valid(n(0, 3), n(3, 5), n(5, 9))
}

fn val_ssn(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if !standalone_number(t, s, e) || !ssn_digits_ok(&digits_of(&t[s..e])) {
        return;
    }
    out.push((s, e));
}

/// After a context word (`SSN`, `social security`, `ITIN`, `tax id`, or a field named so):
/// nine digits, bare or grouped 3-2-4, are the identifier even when they fail the SSA
/// allocation rules (issue 12: ITINs and test numbers in the 9xx range, `00` groups and
/// placeholders are still written where an SSN belongs). Not part of a longer number.
fn val_ssn_context(text: &str, _s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    // The candidate ends with 9 digits and at most two separators.
    let mut ds = e;
    let mut digits = 0;
    while digits < 9 {
        ds -= 1;
        if t[ds].is_ascii_digit() {
            digits += 1;
        }
    }
    if !standalone_number(t, ds, e) {
        return;
    }
    // Grouped forms use one separator kind (`912-34-5678`, `912 34 5678`).
    let seps: Vec<u8> = t[ds..e]
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_digit())
        .collect();
    if seps.len() == 1 || (seps.len() == 2 && seps[0] != seps[1]) {
        return;
    }
    out.push((ds, e));
}

fn compact_upper(s: &[u8]) -> Vec<u8> {
    s.iter()
        .filter(|&&b| b != b' ' && b != b'-')
        .map(u8::to_ascii_uppercase)
        .collect()
}

/// Words that say a National Insurance number follows (a field name such as
/// `national_insurance_number` reads as `national_insurance_number: VALUE`).
const NINO_CONTEXT: &[&str] = &[
    "nino",
    "national insurance",
    "national_insurance",
    "nationalinsurance",
    "ni number",
    "ni no",
    "ni_number",
    "ni#",
];

fn val_nino(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let c = compact_upper(&text.as_bytes()[s..e]);
    // Administrative and placeholder prefixes (`ZZ`, `TN`, ...) are never issued but real
    // forms still carry them: after a context word they are the identifier (issue 12).
    if nino_valid(&c) || (nino_shape(&c) && context_before(text, s, 40, NINO_CONTEXT)) {
        out.push((s, e));
    }
}

fn val_steuer(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if standalone_number(t, s, e) && steuer_id_valid(&digits_of(&t[s..e])) {
        out.push((s, e));
    }
}

fn val_nir(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if standalone_number(t, s, e) && nir_valid(&compact_upper(&t[s..e])) {
        out.push((s, e));
    }
}

fn val_aadhaar(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if standalone_number(t, s, e) && aadhaar_valid(&digits_of(&t[s..e])) {
        out.push((s, e));
    }
}

// --------------------------------------------------- checksums and formats

/// US Social Security number rules (SSA, post-2011 randomisation): area 001-899 except
/// 666, group 01-99, serial 0001-9999; the publicised sample numbers 078-05-1120 and
/// 219-09-9999 are rejected.
fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    !((area, group, serial) == (78, 5, 1120) || (area, group, serial) == (219, 9, 9999))
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// Verhoeff check over ASCII digits (the last digit is the check digit).
fn verhoeff_valid(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut c = 0u8;
    for (i, &b) in digits.iter().rev().enumerate() {
        c = VERHOEFF_D[c as usize][VERHOEFF_P[i % 8][(b - b'0') as usize] as usize];
    }
    c == 0
}

/// Indian Aadhaar number: 12 digits, first digit 2-9, Verhoeff check digit, not a
/// palindrome-like constant run.
fn aadhaar_valid(d: &[u8]) -> bool {
    d.len() == 12 && d[0] >= b'2' && verhoeff_valid(d) && !d.iter().all(|&b| b == d[0])
}

/// German tax identification number (Steuerliche Identifikationsnummer): 11 digits, first
/// not 0; in the first ten digits exactly one digit occurs twice or three times (three
/// times never consecutively) and the others at most once; check digit ISO 7064 MOD 11,10.
fn steuer_id_valid(d: &[u8]) -> bool {
    if d.len() != 11 || !d.iter().all(u8::is_ascii_digit) || d[0] == b'0' {
        return false;
    }
    let mut counts = [0u8; 10];
    for &b in &d[..10] {
        counts[(b - b'0') as usize] += 1;
    }
    let repeated: Vec<usize> = (0..10).filter(|&i| counts[i] > 1).collect();
    if repeated.len() != 1 || counts[repeated[0]] > 3 {
        return false;
    }
    if counts[repeated[0]] == 3 {
        let r = b'0' + repeated[0] as u8;
        if d[..10].windows(3).any(|w| w.iter().all(|&b| b == r)) {
            return false;
        }
    }
    let mut product = 10u32;
    for &b in &d[..10] {
        let mut sum = (u32::from(b - b'0') + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let mut check = 11 - product;
    if check == 10 {
        check = 0;
    }
    check == u32::from(d[10] - b'0')
}

/// French social security number (NIR, 15 characters without spaces): sex 1/2 (7/8 for
/// temporary numbers), month 01-12 or 20-42/50-99 (unknown/special), department digits or
/// `2A`/`2B`, key = 97 - (first 13 digits mod 97) with 2A -> 19 and 2B -> 18.
fn nir_valid(s: &[u8]) -> bool {
    if s.len() != 15 || !matches!(s[0], b'1' | b'2' | b'7' | b'8') {
        return false;
    }
    let month = match (s[3], s[4]) {
        (a, b) if a.is_ascii_digit() && b.is_ascii_digit() => {
            u32::from(a - b'0') * 10 + u32::from(b - b'0')
        }
        _ => return false,
    };
    if !((1..=12).contains(&month) || (20..=42).contains(&month) || (50..=99).contains(&month)) {
        return false;
    }
    let mut body: [u8; 13] = [0; 13];
    body.copy_from_slice(&s[..13]);
    let corsica_shift: u64 = match (s[5], s[6]) {
        (b'2', b'A') => {
            body[6] = b'0';
            1_000_000
        }
        (b'2', b'B') => {
            body[6] = b'0';
            2_000_000
        }
        _ => 0,
    };
    if !body.iter().all(u8::is_ascii_digit) || !s[13..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let num = body.iter().fold(0u64, |a, &b| a * 10 + u64::from(b - b'0'));
    // 2A is read as 19 and 2B as 18 in place of the two department digits: with the
    // letter replaced by 0 above, "20" must become "19" (minus 1 * 10^6) or "18" (minus 2).
    let num = num - corsica_shift;
    let key = u64::from(s[13] - b'0') * 10 + u64::from(s[14] - b'0');
    key == 97 - (num % 97)
}

/// UK National Insurance number (compact, uppercase): two prefix letters (first not
/// D/F/I/Q/U/V, second not D/F/I/O/Q/U/V; prefixes BG, GB, KN, NK, NT, TN, ZZ never
/// issued), six digits, suffix A-D.
fn nino_valid(s: &[u8]) -> bool {
    if s.len() != 9 {
        return false;
    }
    let (a, b) = (s[0], s[1]);
    if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
        return false;
    }
    if b"DFIQUV".contains(&a) || b"DFIOQUV".contains(&b) {
        return false;
    }
    if [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"]
        .iter()
        .any(|p| p[..] == s[..2])
    {
        return false;
    }
    nino_shape(s)
}

/// The shape of a National Insurance number (compact, uppercase) without the allocation
/// rules: two letters, six digits, suffix A-D.
fn nino_shape(s: &[u8]) -> bool {
    s.len() == 9
        && s[..2].iter().all(u8::is_ascii_uppercase)
        && s[2..8].iter().all(u8::is_ascii_digit)
        && matches!(s[8], b'A'..=b'D')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssn() {
        assert!(ssn_valid(240, 71, 7003));
        assert!(!ssn_valid(0, 12, 3456));
        assert!(!ssn_valid(666, 12, 3456));
        assert!(!ssn_valid(912, 12, 3456));
        assert!(!ssn_valid(123, 0, 3456));
        assert!(!ssn_valid(123, 45, 0));
        assert!(!ssn_valid(78, 5, 1120));
    }

    #[test]
    fn verhoeff() {
        assert!(verhoeff_valid(b"2363"));
        assert!(!verhoeff_valid(b"2364"));
        assert!(aadhaar_valid(b"234123412346"));
        assert!(!aadhaar_valid(b"234123412345"));
        assert!(!aadhaar_valid(b"134123412346"), "first digit 1");
    }

    #[test]
    fn steuer_id() {
        assert!(steuer_id_valid(b"86095742719"));
        assert!(steuer_id_valid(b"47036892816"));
        assert!(!steuer_id_valid(b"86095742718"), "check digit");
        assert!(!steuer_id_valid(b"12345678903"), "no repeated digit");
        assert!(!steuer_id_valid(b"06095742719"), "leading zero");
    }

    #[test]
    fn nir() {
        assert!(nir_valid(b"255081416802538"));
        assert!(!nir_valid(b"255081416802539"));
        assert!(nir_valid(b"184032A12345650"));
        assert!(nir_valid(b"184032B12345677"));
        assert!(!nir_valid(b"184032B12345650"), "2B with the 2A key");
        assert!(!nir_valid(b"184132A12345650"), "month 13");
        assert!(!nir_valid(b"355081416802538"), "sex digit");
    }

    #[test]
    fn nino() {
        assert!(nino_valid(b"AB123456C"));
        assert!(!nino_valid(b"QQ123456C"));
        assert!(!nino_valid(b"GB123456A"));
        assert!(!nino_valid(b"AB123456E"));
        assert!(!nino_valid(b"AO123456A"));
    }
}
