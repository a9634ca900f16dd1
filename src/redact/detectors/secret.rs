//! `secret` detectors: API keys and tokens recognised by their literal prefixes, PEM
//! private keys, and the opt-in high-entropy token detector.

use super::Severity::{Critical, Warning};
use super::{Def, Feature, Gate, SECRET, Span, gate};

pub(super) const API_KEY: Def = Def {
    category: "api_key",
    group: SECRET,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::LIT_SK),
    pattern: r"(?-u:\b)sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
    validate: val_api_key,
    validator_name: Some("charset+length"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const STRIPE_KEY: Def = Def {
    category: "stripe_key",
    group: SECRET,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::LIT_STRIPE),
    pattern: r"(?-u:\b)[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
    validate: val_plain,
    validator_name: None,
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const AWS_KEY: Def = Def {
    category: "aws_key",
    group: SECRET,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::LIT_AWS),
    pattern: r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?-u:\b)",
    validate: val_plain,
    validator_name: None,
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const GOOGLE_API_KEY: Def = Def {
    category: "google_api_key",
    group: SECRET,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::LIT_GOOGLE),
    pattern: r"AIza[0-9A-Za-z_\-]{35}",
    validate: val_plain,
    validator_name: None,
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const JWT: Def = Def {
    category: "jwt",
    group: SECRET,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::LIT_JWT),
    pattern: r"(?-u:\b)eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",
    validate: val_jwt,
    validator_name: Some("base64url JSON header with alg/typ"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const BEARER_TOKEN: Def = Def {
    category: "bearer_token",
    group: SECRET,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::LIT_BEARER),
    pattern: r"(?i-u:\bbearer)[ \t]+[A-Za-z0-9\-._~+/]+=*",
    validate: val_bearer,
    validator_name: Some("RFC 6750 b64token shape"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const GITHUB_TOKEN: Def = Def {
    category: "github_token",
    group: SECRET,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::LIT_GITHUB),
    pattern: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})",
    validate: val_plain,
    validator_name: None,
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const SLACK_TOKEN: Def = Def {
    category: "slack_token",
    group: SECRET,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::LIT_SLACK),
    pattern: r"(?-u:\b)(?:xox[baprse]-[A-Za-z0-9\-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9_/]{20,})",
    validate: val_slack,
    validator_name: Some("contains digits"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const PRIVATE_KEY: Def = Def {
    category: "private_key",
    group: SECRET,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::PEM),
    pattern: r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----",
    validate: val_private_key,
    validator_name: Some("extends to the END line or end of text"),
    numeric_ok: false,
    key_context: &[],
    multiline: true,
    rescan_after: None,
};

/// Opt-in (`ScanOptions::entropy`); registered last.
pub(super) const HIGH_ENTROPY_TOKEN: Def = Def {
    category: "high_entropy_token",
    group: SECRET,
    severity: Warning,
    feature: Feature::Entropy,
    gate: Gate::Bits(gate::LONG_TOKEN),
    pattern: r"[A-Za-z0-9+/_=\-]{24,}",
    validate: val_entropy,
    validator_name: Some("mixed classes + Shannon entropy, hex/UUID excluded"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

// -------------------------------------------------------------- validators

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
    if jwt_header_ok(&tok[..dot]) {
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
    if shannon_entropy(tok) >= 4.0 {
        out.push((s, e));
    }
}

// ----------------------------------------------------------------- formats

/// Shannon entropy in bits per byte.
fn shannon_entropy(s: &[u8]) -> f64 {
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
fn base64url_decode(s: &[u8]) -> Option<Vec<u8>> {
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
fn jwt_header_ok(seg: &[u8]) -> bool {
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
