//! `financial` detectors: payment cards, IBANs, US routing numbers and SWIFT/BIC codes.
//!
//! The checksum and format checks implement published specifications rather than corpus
//! heuristics:
//!
//! | check | specification |
//! |---|---|
//! | `luhn_valid` | ISO/IEC 7812-1 Annex B (Luhn mod 10) |
//! | `card_brand` | ISO/IEC 7812 issuer identification number ranges of the major schemes |
//! | `iban_valid` | ISO 13616 (mod 97-10 of ISO 7064) with the SWIFT IBAN registry lengths |
//! | `aba_valid` | ABA routing number check digit (weights 3-7-1) and Federal Reserve prefixes |
//! | `bic_valid` | ISO 9362 (SWIFT/BIC) with an ISO 3166-1 alpha-2 country code |

use super::Severity::{Critical, Info, Warning};
use super::{
    Def, FINANCIAL, Feature, Gate, Span, at, before, context_before, gate, id_label_before,
    id_label_before_word, standalone_number,
};

pub(super) const CREDIT_CARD: Def = Def {
    category: "credit_card",
    group: FINANCIAL,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::NumDash(12),
    pattern: r"[0-9](?:[ \-]?[0-9]){11,}",
    validate: val_card,
    validator_name: Some("IIN range + length + Luhn"),
    numeric_ok: true,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const IBAN: Def = Def {
    category: "iban",
    group: FINANCIAL,
    severity: Warning,
    feature: Feature::Core,
    gate: Gate::Bits(gate::IBAN),
    pattern: r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,}",
    validate: val_iban,
    validator_name: Some("ISO 13616 mod 97 + registry length"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const US_ROUTING: Def = Def {
    category: "us_routing",
    group: FINANCIAL,
    severity: Warning,
    feature: Feature::Core,
    gate: Gate::Consec(9),
    pattern: r"(?-u:\b)[0-9]{9}(?-u:\b)",
    validate: val_routing,
    validator_name: Some("ABA 3-7-1 checksum + Fed prefix"),
    numeric_ok: false,
    key_context: &["routing", "aba", "rtn", "transit"],
    multiline: false,
    rescan_after: None,
};

pub(super) const SWIFT_BIC: Def = Def {
    category: "swift_bic",
    group: FINANCIAL,
    severity: Info,
    feature: Feature::Core,
    gate: Gate::Bits(gate::BIC),
    pattern: r"(?-u:\b)[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?-u:\b)",
    validate: val_bic,
    validator_name: Some("ISO 9362 + ISO 3166 country"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

// -------------------------------------------------------------- validators

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
            if end_ok && nd >= 12 && card_groups_ok(&sizes[..ns]) && card_valid(&digits[..nd]) {
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
    let Some(len) = iban_length(&t[s..s + 2]) else {
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
    if iban_valid(&compact) {
        out.push((s, end));
    }
}

fn val_routing(text: &str, s: usize, e: usize, out: &mut Vec<Span>) {
    let t = text.as_bytes();
    if !aba_valid(&t[s..e]) || !standalone_number(t, s, e) {
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
    if !bic_valid(&t[s..e]) {
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

// --------------------------------------------------- checksums and formats

/// ISO 3166-1 alpha-2 country codes (all 249 officially assigned codes) plus `XK` (Kosovo,
/// user-assigned but used by SWIFT and the IBAN registry).
const ISO_COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

/// IBAN lengths of the SWIFT IBAN registry, by country code.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HN", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

/// True when `cc` (two ASCII uppercase letters) is an ISO 3166-1 alpha-2 code (or `XK`).
fn is_country_code(cc: &[u8]) -> bool {
    if cc.len() != 2 || !cc[0].is_ascii_uppercase() || !cc[1].is_ascii_uppercase() {
        return false;
    }
    ISO_COUNTRIES
        .as_bytes()
        .chunks(3)
        .any(|c| c[0] == cc[0] && c[1] == cc[1])
}

/// The registered IBAN length for a country code, if the country issues IBANs.
fn iban_length(cc: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c.as_bytes() == cc)
        .map(|&(_, n)| n)
}

/// Luhn (mod 10) check over ASCII digits; non-digits make it fail.
fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let mut sum = 0u32;
    for (i, &b) in digits.iter().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits[..n.min(digits.len())]
        .iter()
        .fold(0, |acc, &b| acc * 10 + u32::from(b - b'0'))
}

/// The card scheme whose IIN range and length admit `digits`, or `None`.
///
/// Ranges: Visa `4` (13, 16, 19); Mastercard `51-55`, `2221-2720` (16); American Express
/// `34`, `37` (15); Discover `6011`, `644-649`, `65` (16-19); Diners Club `300-305`, `36`,
/// `38-39` (14-19); JCB `35` (16-19; JCB's registered range is 3528-3589, the whole `35`
/// block is accepted because test-card generators use it) and the legacy 15-digit `1800`, `2131`;
/// UnionPay `62` (16-19); Maestro `50`, `56-69`, `0604` (12-19).
fn card_brand(digits: &[u8]) -> Option<&'static str> {
    let len = digits.len();
    if !(12..=19).contains(&len) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let p1 = prefix_num(digits, 1);
    let p2 = prefix_num(digits, 2);
    let p3 = prefix_num(digits, 3);
    let p4 = prefix_num(digits, 4);
    if p1 == 4 && matches!(len, 13 | 16 | 19) {
        return Some("visa");
    }
    if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 {
        return Some("mastercard");
    }
    if (p2 == 34 || p2 == 37) && len == 15 {
        return Some("amex");
    }
    if (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65) && (16..=19).contains(&len) {
        return Some("discover");
    }
    if ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39) && (14..=19).contains(&len) {
        return Some("diners");
    }
    if p2 == 35 && (16..=19).contains(&len) {
        return Some("jcb");
    }
    if (p4 == 1800 || p4 == 2131) && len == 15 {
        return Some("jcb");
    }
    if p2 == 62 && (16..=19).contains(&len) {
        return Some("unionpay");
    }
    if (p2 == 50 || (56..=69).contains(&p2) || p4 == 604) && (12..=19).contains(&len) {
        return Some("maestro");
    }
    None
}

/// A payment card number: known scheme range and length, and a valid Luhn check digit.
fn card_valid(digits: &[u8]) -> bool {
    card_brand(digits).is_some() && luhn_valid(digits)
}

/// IBAN check (ISO 13616): compact uppercase form, registered length for the country,
/// check digits 02-98, and the mod 97-10 remainder equal to 1.
fn iban_valid(iban: &[u8]) -> bool {
    if iban.len() < 15 || iban.len() > 34 {
        return false;
    }
    match iban_length(&iban[..2]) {
        Some(n) if n == iban.len() => {}
        _ => return false,
    }
    if !iban[2].is_ascii_digit() || !iban[3].is_ascii_digit() {
        return false;
    }
    let check = prefix_num(&iban[2..4], 2);
    if !(2..=98).contains(&check) {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in iban[4..].iter().chain(iban[..4].iter()) {
        if b.is_ascii_digit() {
            rem = (rem * 10 + u32::from(b - b'0')) % 97;
        } else if b.is_ascii_uppercase() {
            rem = (rem * 100 + u32::from(b - b'A' + 10)) % 97;
        } else {
            return false;
        }
    }
    rem == 1
}

/// ABA routing transit number: 9 digits, a Federal Reserve prefix (00-12 banks, 21-32
/// thrifts, 61-72 electronic, 80 traveller's cheques) and the 3-7-1 weighted check digit.
fn aba_valid(d: &[u8]) -> bool {
    if d.len() != 9 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n: Vec<u32> = d.iter().map(|&b| u32::from(b - b'0')).collect();
    let prefix = n[0] * 10 + n[1];
    let prefix_ok =
        prefix <= 12 || (21..=32).contains(&prefix) || (61..=72).contains(&prefix) || prefix == 80;
    if !prefix_ok || n.iter().all(|&x| x == 0) {
        return false;
    }
    let sum = 3 * (n[0] + n[3] + n[6]) + 7 * (n[1] + n[4] + n[7]) + (n[2] + n[5] + n[8]);
    sum.is_multiple_of(10)
}

/// SWIFT/BIC (ISO 9362): 4-letter institution code, ISO 3166 country code, 2-character
/// alphanumeric location code, optional 3-character alphanumeric branch code.
///
/// The informal location-code conventions (`0` in second position for test BICs, `1` for
/// passive participants) are not used to reject codes.
fn bic_valid(b: &[u8]) -> bool {
    if b.len() != 8 && b.len() != 11 {
        return false;
    }
    if !b[..4].iter().all(u8::is_ascii_uppercase) || !is_country_code(&b[4..6]) {
        return false;
    }
    b[6..]
        .iter()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries() {
        let n = ISO_COUNTRIES.split(' ').count();
        assert_eq!(n, 250, "249 ISO codes + XK");
        assert!(ISO_COUNTRIES.split(' ').all(|c| c.len() == 2));
        assert!(is_country_code(b"GB") && is_country_code(b"DE") && is_country_code(b"US"));
        assert!(!is_country_code(b"CB") && !is_country_code(b"ZZ") && !is_country_code(b"UK"));
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(luhn_valid(b"79927398713"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(!luhn_valid(b"79927398710"));
        assert!(!luhn_valid(b""));
    }

    #[test]
    fn cards() {
        assert_eq!(card_brand(b"4111111111111111"), Some("visa"));
        assert_eq!(card_brand(b"5500000000000004"), Some("mastercard"));
        assert_eq!(card_brand(b"378282246310005"), Some("amex"));
        assert_eq!(card_brand(b"6011111111111117"), Some("discover"));
        assert_eq!(card_brand(b"30569309025904"), Some("diners"));
        assert_eq!(card_brand(b"3530111333300000"), Some("jcb"));
        assert_eq!(card_brand(b"3596294223694327"), Some("jcb"));
        assert!(card_valid(b"378282246310005"));
        assert!(card_valid(b"6759649826438453"));
        // Luhn-valid but no scheme (9 prefix), scheme but bad Luhn, bad length for Visa.
        assert!(luhn_valid(b"9199458711117") && !card_valid(b"9199458711117"));
        assert!(!card_valid(b"4111111111111121"));
        assert!(!card_valid(b"41111111111111"));
    }

    #[test]
    fn iban() {
        assert!(iban_valid(b"GB82WEST12345698765432"));
        assert!(iban_valid(b"DE89370400440532013000"));
        assert!(iban_valid(b"FR1420041010050500013M02606"));
        assert!(iban_valid(b"NO9386011117947"));
        assert!(!iban_valid(b"GB83WEST12345698765432"), "bad check digits");
        assert!(!iban_valid(b"GB82WEST1234569876543"), "wrong length for GB");
        assert!(!iban_valid(b"XX82WEST12345698765432"), "unknown country");
    }

    #[test]
    fn aba() {
        assert!(aba_valid(b"011000015"));
        assert!(aba_valid(b"021000021"));
        assert!(!aba_valid(b"021000022"), "checksum");
        assert!(!aba_valid(b"991000021"), "prefix 99 is not a Fed district");
        assert!(!aba_valid(b"000000000"));
    }

    #[test]
    fn bic() {
        assert!(bic_valid(b"DEUTDEFF"));
        assert!(bic_valid(b"DEUTDEFF500"));
        assert!(bic_valid(b"NWBKGB2LXXX"));
        assert!(!bic_valid(b"HWPYCBHA"), "CB is not a country");
        assert!(
            bic_valid(b"SSTNDE18"),
            "test/passive location codes are still BICs"
        );
        assert!(!bic_valid(b"DEUTDEf1"), "lower case");
        assert!(!bic_valid(b"DEU1DEFF"), "digit in institution code");
        assert!(!bic_valid(b"DEUTDEF"));
    }
}
