//! Checksum and format validators used by the detectors.
//!
//! Every function here is pure, allocation-free (except where noted) and works on ASCII
//! input; each implements a published specification rather than a corpus heuristic:
//!
//! | validator | specification |
//! |---|---|
//! | [`luhn_valid`] | ISO/IEC 7812-1 Annex B (Luhn mod 10) |
//! | [`card_brand`] | ISO/IEC 7812 issuer identification number ranges of the major schemes |
//! | [`iban_valid`] | ISO 13616 (mod 97-10 of ISO 7064) with the SWIFT IBAN registry lengths |
//! | [`aba_valid`] | ABA routing number check digit (weights 3-7-1) and Federal Reserve prefixes |
//! | [`bic_valid`] | ISO 9362 (SWIFT/BIC) with an ISO 3166-1 alpha-2 country code |
//! | [`ssn_valid`] | SSA rules: area not 000/666/900-999, group not 00, serial not 0000 |
//! | [`nanp_valid`] | North American Numbering Plan: NPA and NXX start with 2-9, NXX not N11 |
//! | [`verhoeff_valid`] | Verhoeff dihedral-group check digit (Aadhaar) |
//! | [`steuer_id_valid`] | German Steuer-ID: ISO 7064 MOD 11,10 and the digit-repetition rule |
//! | [`nir_valid`] | French NIR: key = 97 - (number mod 97), Corsica 2A/2B substitution |
//! | [`nino_valid`] | UK National Insurance number prefix/suffix rules (HMRC NIM39110) |

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
pub fn is_country_code(cc: &[u8]) -> bool {
    if cc.len() != 2 || !cc[0].is_ascii_uppercase() || !cc[1].is_ascii_uppercase() {
        return false;
    }
    ISO_COUNTRIES
        .as_bytes()
        .chunks(3)
        .any(|c| c[0] == cc[0] && c[1] == cc[1])
}

/// The registered IBAN length for a country code, if the country issues IBANs.
pub fn iban_length(cc: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c.as_bytes() == cc)
        .map(|&(_, n)| n)
}

/// Luhn (mod 10) check over ASCII digits; non-digits make it fail.
pub fn luhn_valid(digits: &[u8]) -> bool {
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
pub fn card_brand(digits: &[u8]) -> Option<&'static str> {
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
pub fn card_valid(digits: &[u8]) -> bool {
    card_brand(digits).is_some() && luhn_valid(digits)
}

/// IBAN check (ISO 13616): compact uppercase form, registered length for the country,
/// check digits 02-98, and the mod 97-10 remainder equal to 1.
pub fn iban_valid(iban: &[u8]) -> bool {
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
pub fn aba_valid(d: &[u8]) -> bool {
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
pub fn bic_valid(b: &[u8]) -> bool {
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

/// US Social Security number rules (SSA, post-2011 randomisation): area 001-899 except
/// 666, group 01-99, serial 0001-9999; the publicised sample numbers 078-05-1120 and
/// 219-09-9999 are rejected.
pub fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    !((area, group, serial) == (78, 5, 1120) || (area, group, serial) == (219, 9, 9999))
}

/// NANP plausibility for a 10-digit national number: NPA and NXX start with 2-9, and
/// neither is an N11 service code (211, 311, ... 911).
pub fn nanp_valid(d: &[u8]) -> bool {
    if d.len() != 10 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n11 = |x: &[u8]| x[1] == b'1' && x[2] == b'1';
    d[0] >= b'2' && d[3] >= b'2' && !n11(&d[0..3]) && !n11(&d[3..6])
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
pub fn verhoeff_valid(digits: &[u8]) -> bool {
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
pub fn aadhaar_valid(d: &[u8]) -> bool {
    d.len() == 12 && d[0] >= b'2' && verhoeff_valid(d) && !d.iter().all(|&b| b == d[0])
}

/// German tax identification number (Steuerliche Identifikationsnummer): 11 digits, first
/// not 0; in the first ten digits exactly one digit occurs twice or three times (three
/// times never consecutively) and the others at most once; check digit ISO 7064 MOD 11,10.
pub fn steuer_id_valid(d: &[u8]) -> bool {
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
pub fn nir_valid(s: &[u8]) -> bool {
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
pub fn nino_valid(s: &[u8]) -> bool {
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
    s[2..8].iter().all(u8::is_ascii_digit) && matches!(s[8], b'A'..=b'D')
}

/// Shannon entropy in bits per byte.
pub fn shannon_entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Decodes unpadded base64url (also accepting the standard alphabet); `None` on bad input.
pub fn base64url_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A JWT header segment: base64url that decodes to a JSON object naming `"alg"` or `"typ"`.
pub fn jwt_header_ok(seg: &[u8]) -> bool {
    match base64url_decode(seg) {
        Some(h) => {
            let h = String::from_utf8_lossy(&h);
            h.trim_start().starts_with('{') && (h.contains("\"alg\"") || h.contains("\"typ\""))
        }
        None => false,
    }
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
    fn nanp() {
        assert!(nanp_valid(b"2125551234"));
        assert!(!nanp_valid(b"1125551234"), "NPA starting with 1");
        assert!(!nanp_valid(b"2121551234"), "NXX starting with 1");
        assert!(!nanp_valid(b"9115551234"), "N11 NPA");
        assert!(!nanp_valid(b"212555123"));
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

    #[test]
    fn entropy_and_b64() {
        assert!(shannon_entropy(b"aaaaaaaa") < 0.01);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert_eq!(
            base64url_decode(b"eyJhbGciOiJIUzI1NiJ9").unwrap(),
            br#"{"alg":"HS256"}"#
        );
        assert!(jwt_header_ok(b"eyJhbGciOiJIUzI1NiJ9"));
        assert!(!jwt_header_ok(b"eyJzdWIiOiIxMjMifQ"));
        assert!(base64url_decode(b"a*b").is_none());
    }
}
