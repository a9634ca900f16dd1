//! The control-evidence index as RFC 4180 CSV: one row per control with evidence.
//!
//! Columns: `framework, control_id, title, strength, entry_count, first_seen, last_seen,
//! evidence_status` — the last is `verified` or `unverified` (the source log's verification), so
//! that the file, read alone, still says whether its evidence can be relied on. `strength` is
//! the strongest support (`direct` or `supporting`); entries recording a failure of a control
//! (a `gap`) get a row of their own with `strength` `adverse`, after the control's support row,
//! and are never counted in it.
//! Lines end with CRLF; a field is quoted when it holds a comma, a double quote, CR or LF, and
//! a double quote inside a quoted field is doubled. A field that starts with `=`, `+`, `-`, `@`,
//! a tab or CR gets a `'` in front (OWASP's CSV-injection rule), so that a spreadsheet shows it
//! as text instead of running it as a formula: a hostile `ts` or mapping title cannot become a
//! `=HYPERLINK(...)`.

use super::Evidence;

/// The header row's columns.
pub const COLUMNS: [&str; 8] = [
    "framework",
    "control_id",
    "title",
    "strength",
    "entry_count",
    "first_seen",
    "last_seen",
    "evidence_status",
];

/// Quotes one field as RFC 4180 requires, after neutralising a leading formula character
/// (`=`, `+`, `-`, `@`, tab, CR) with a `'`.
pub fn field(s: &str) -> String {
    let neutral;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        neutral = format!("'{s}");
        neutral.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn row(out: &mut String, cells: &[&str]) {
    let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

/// The CSV text. `first_seen`/`last_seen` are the earliest and latest `ts` of the entries
/// pointing at the control.
pub fn render(ev: &Evidence) -> String {
    let mut out = String::new();
    let status = if ev.verified() {
        "verified"
    } else {
        "unverified"
    };
    row(&mut out, &COLUMNS);
    for c in &ev.index {
        let first = c.entries.iter().map(|e| e.3.as_str()).min().unwrap_or("");
        let last = c.entries.iter().map(|e| e.3.as_str()).max().unwrap_or("");
        let count = c.entries.len().to_string();
        row(
            &mut out,
            &[
                &c.framework,
                &c.control_id,
                &c.title,
                c.strength.as_str(),
                &count,
                first,
                last,
                status,
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_as_rfc_4180_requires() {
        assert_eq!(field("a \"b\", c"), "\"a \"\"b\"\", c\"");
        assert_eq!(field("x\ny"), "\"x\ny\"");
    }

    /// Item 11 of issue #12: OWASP's CSV-injection rule, on every leading formula character.
    #[test]
    fn a_leading_formula_character_is_neutralised() {
        assert_eq!(
            field("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        for lead in ['=', '+', '-', '@', '\t'] {
            let text = format!("{lead}1+1");
            assert_eq!(field(&text), format!("'{text}"), "{lead:?}");
        }
        assert_eq!(field("\r1"), "\"'\r1\"");
        // Only a leading one: text that merely contains them is left alone.
        assert_eq!(field("a=b-c+d@e"), "a=b-c+d@e");
        assert_eq!(
            field("2026-03-01T09:00:00+00:00"),
            "2026-03-01T09:00:00+00:00"
        );
    }
}
