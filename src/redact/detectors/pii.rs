//! `pii` detectors: email addresses, phone numbers (NANP, international, national with a
//! trunk prefix or an area code), IPv4 and IPv6 addresses, MAC addresses.
//!
//! | check | specification |
//! |---|---|
//! | `nanp_valid` | North American Numbering Plan: NPA and NXX start with 2-9, neither N11 (bare 10-digit numbers) |
//! | `npa_valid` | the NPA rules only (grouped `NNN-NNN-NNNN` / `NNN.NNN.NNNN` forms, with or without `x`/`ext.`/`extension` and an extension) |

use super::Severity::{Info, Warning};
use super::{
    Def, Feature, Gate, PII, Span, at, before, context_before, digits_of, gate, id_label_before,
    is_word, standalone_number,
};

pub(super) const EMAIL: Def = Def {
    category: "email",
    group: PII,
    severity: Warning,
    feature: Feature::Core,
    gate: Gate::Bits(gate::AT),
    pattern: r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?-u:\b)",
    validate: val_email,
    validator_name: Some("RFC 5321 local-part shape"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: Some(b'@'),
};

pub(super) const PHONE_NANP: Def = Def {
    category: "phone",
    group: PII,
    severity: Warning,
    feature: Feature::Core,
    gate: Gate::Bits(gate::PHONE),
    pattern: r"(?:(?:\+|00)?1[ .\-]?|001[ .\-]?)?(?:\([0-9]{3}\)[ .\-]?|[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}(?:[ ]?(?:x|ext(?:ension)?\.?|#)[ ]?[0-9]{1,6})?",
    validate: val_phone_nanp,
    validator_name: Some("NANP NPA rules"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const PHONE_NANP_BARE: Def = Def {
    category: "phone",
    group: PII,
    severity: Warning,
    feature: Feature::Core,
    gate: Gate::Consec(10),
    pattern: r"(?-u:\b)(?:\+?1)?[2-9][0-9]{9}(?-u:\b)",
    validate: val_phone_bare,
    validator_name: Some("NANP rules, standalone"),
    numeric_ok: false,
    key_context: &["phone", "tel", "mobile", "cell", "fax"],
    multiline: false,
    rescan_after: None,
};

pub(super) const PHONE_INTERNATIONAL: Def = Def {
    category: "phone",
    group: PII,
    severity: Warning,
    feature: Feature::Core,
    gate: Gate::Bits(gate::PLUS),
    pattern: r"\+[1-9][0-9 .\-()]{6,22}[0-9]",
    validate: val_phone_intl,
    validator_name: Some("E.164 digit count 8-15"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const PHONE_TRUNK_PREFIX: Def = Def {
    category: "phone",
    group: PII,
    severity: Warning,
    feature: Feature::Core,
    gate: Gate::Bits(gate::ZERO_LED),
    pattern: r"\(0[1-9][0-9]{0,4}\)[ .\-/]{0,2}[0-9]{2,8}(?:[ .\-/]{1,2}[0-9]{2,8}){0,3}|(?-u:\b)0[1-9][0-9]{0,4}(?:[ .\-/]{1,2}[0-9]{2,8}){1,4}|(?-u:\b)0[1-9][0-9]{8,10}(?-u:\b)",
    validate: val_phone_national,
    validator_name: Some("trunk-prefix national number, 10-12 digits"),
    numeric_ok: false,
    key_context: &["phone", "tel", "mobile", "cell", "fax"],
    multiline: false,
    rescan_after: None,
};

pub(super) const PHONE_AREA_CODE: Def = Def {
    category: "phone",
    group: PII,
    severity: Warning,
    feature: Feature::Core,
    gate: Gate::Bits(gate::PHONE_AREA),
    pattern: r"(?:(?-u:\b)[1-9][0-9] |\([1-9][0-9]\) ?)9?[0-9]{4}-[0-9]{4}(?-u:\b)",
    validate: val_phone_national,
    validator_name: Some("area code + 8/9-digit subscriber (NN NNNN-NNNN)"),
    numeric_ok: false,
    key_context: &["phone", "tel", "mobile", "cell", "fax"],
    multiline: false,
    rescan_after: None,
};

pub(super) const IPV4: Def = Def {
    category: "ipv4",
    group: PII,
    severity: Info,
    feature: Feature::Core,
    gate: Gate::Bits(gate::IPV4),
    pattern: r"(?-u:\b)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?-u:\b)",
    validate: val_ipv4,
    validator_name: Some("octets 0-255, standalone"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const IPV6: Def = Def {
    category: "ipv6",
    group: PII,
    severity: Info,
    feature: Feature::Core,
    gate: Gate::Bits(gate::HEX),
    pattern: r"[0-9A-Fa-f:]*:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]*(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3})?",
    validate: val_ipv6,
    validator_name: Some("RFC 4291 parse"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const MAC_ADDRESS: Def = Def {
    category: "mac_address",
    group: PII,
    severity: Info,
    feature: Feature::Core,
    gate: Gate::Bits(gate::MAC),
    pattern: r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}|(?:[0-9A-Fa-f]{2}-){5}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}",
    validate: val_mac,
    validator_name: Some("EUI-48, standalone"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

// -------------------------------------------------------------- validators

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
    // The grouped 3-3-4 shape is a phone number on its own: only the area code is checked.
    // Exchange codes outside the plan (`287.711.9043`, N11 or leading 0/1) are still written
    // as phone numbers (test and fictional numbers, data entry), issue 12.
    if npa_valid(national) {
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
    if !nanp_valid(national) {
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
    // `1` + ten digits without `+` is as often an 11-digit id (a German Steuer-ID with a
    // wrong check digit, an account number) as a phone number: it needs a context word.
    if !ctx && d.len() == 11 && t[s] != b'+' {
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
    // The tail of a longer run of spaced digit groups (a French NIR `2 54 10 06 059 837 90`
    // whose key does not check) is not a phone number of its own.
    if before(t, s) == Some(b' ') && s >= 2 && t[s - 2].is_ascii_digit() {
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

// --------------------------------------------------- checksums and formats

/// NANP area code (NPA) of a 10-digit national number: starts with 2-9, not an N11
/// service code.
fn npa_valid(d: &[u8]) -> bool {
    d.len() == 10
        && d.iter().all(u8::is_ascii_digit)
        && d[0] >= b'2'
        && !(d[1] == b'1' && d[2] == b'1')
}

/// NANP plausibility for a 10-digit national number: NPA and NXX start with 2-9, and
/// neither is an N11 service code (211, 311, ... 911).
fn nanp_valid(d: &[u8]) -> bool {
    if d.len() != 10 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n11 = |x: &[u8]| x[1] == b'1' && x[2] == b'1';
    d[0] >= b'2' && d[3] >= b'2' && !n11(&d[0..3]) && !n11(&d[3..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanp() {
        assert!(nanp_valid(b"2125551234"));
        assert!(!nanp_valid(b"1125551234"), "NPA starting with 1");
        assert!(!nanp_valid(b"2121551234"), "NXX starting with 1");
        assert!(!nanp_valid(b"9115551234"), "N11 NPA");
        assert!(!nanp_valid(b"212555123"));
        // Issue 12: the grouped form checks the area code only.
        assert!(npa_valid(b"2877119043"));
        assert!(!npa_valid(b"1877119043"));
        assert!(!npa_valid(b"9117119043"));
    }
}
