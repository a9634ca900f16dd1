//! `credential` detectors: passwords after a keyword (`password: ...`, `pwd=...`) and in
//! URL userinfo (`scheme://user:pass@host`).

use super::Severity::Critical;
use super::{CREDENTIAL, Def, Feature, Gate, Span, at, before, gate};

pub(super) const PASSWORD_KEYWORD: Def = Def {
    category: "password",
    group: CREDENTIAL,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::PASSWORD),
    pattern: r#"(?i-u:password|passphrase|passwd|passcode|pwd)s?\\?["']?[ \t]*(?:(?i-u:is|was)[ \t]+|:=|=>|[:=])[ \t]*"#,
    validate: val_password,
    validator_name: Some("separator + non-placeholder value"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

pub(super) const PASSWORD_IN_URL: Def = Def {
    category: "password",
    group: CREDENTIAL,
    severity: Critical,
    feature: Feature::Core,
    gate: Gate::Bits(gate::SCHEME),
    pattern: r#"[A-Za-z][A-Za-z0-9+.\-]{1,15}://[^\s:/?#@"'<>]+:[^\s/?#@"'<>]+@"#,
    validate: val_url_password,
    validator_name: Some("URL userinfo password"),
    numeric_ok: false,
    key_context: &[],
    multiline: false,
    rescan_after: None,
};

// -------------------------------------------------------------- validators

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
