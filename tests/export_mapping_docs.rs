//! docs/EXPORT.md and the built-in mappings agree: the tables of section 3.2 are the data
//! (both ways), every row of the 2026.3 change table holds, every control id the document names
//! is mapped (or is on the short list below of ids it names as sources or as dropped), and the
//! category groups it lists are the detection engine's.

use std::collections::BTreeSet;

use acttrace::export::{Mapping, MappingSet, Strength};
use regex::Regex;

const DOC: &str = include_str!("../docs/EXPORT.md");

/// Ids the document names that no built-in maps, and why it names them.
const NAMED_NOT_MAPPED: [(&str, &str); 8] = [
    (
        "MEASURE 2.1",
        "the reference's wrong monitoring control (test-set evaluation)",
    ),
    (
        "Art. 10",
        "EU AI Act data governance, dropped for runtime flags",
    ),
    ("Art. 10(5)", "EU AI Act bias-detection processing, dropped"),
    ("A.7", "ISO/IEC 42001 data for development, dropped"),
    (
        "Art. 9",
        "EU AI Act whole article, narrowed to Art. 9(2)(d)",
    ),
    ("Art. 15", "EU AI Act whole article, narrowed to Art. 15(5)"),
    ("Art. 9(2)", "GDPR conditions an Art. 9(1) review checks"),
    ("Art. 4(12)", "GDPR definition of a personal data breach"),
];

/// (framework, key, control, strength): key is an entry type or `category:<name>`.
type Row = (String, String, String, String);

fn data() -> BTreeSet<Row> {
    let set = MappingSet::builtin();
    let mut out = BTreeSet::new();
    for id in set.ids() {
        let m: &Mapping = set.get(id).unwrap();
        let lists = m.entry_types.iter().map(|(k, v)| (k.clone(), v)).chain(
            m.categories
                .iter()
                .map(|(k, v)| (format!("category:{k}"), v)),
        );
        for (key, list) in lists {
            for c in list {
                // A conditional control (2026.4) is keyed `type when member=value`.
                let key = match &c.when {
                    Some(w) => format!("{key} when {}={}", w.member, w.equals),
                    None => key.clone(),
                };
                out.insert((
                    id.to_owned(),
                    key,
                    c.control_id.clone(),
                    c.strength.as_str().to_owned(),
                ));
            }
        }
    }
    out
}

/// The text of the section starting at the line `heading` up to the next heading of the same
/// or a higher level.
fn section(heading: &str) -> &'static str {
    let start = DOC
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading:?} in docs/EXPORT.md"));
    let level = heading.split(' ').next().unwrap();
    let body = &DOC[start + heading.len() + 2..];
    let end = body
        .lines()
        .scan(0, |at, l| {
            let here = *at;
            *at += l.len() + 1;
            Some((here, l))
        })
        .find(|(_, l)| {
            let hashes = l.split(' ').next().unwrap_or("");
            !hashes.is_empty() && hashes.chars().all(|c| c == '#') && hashes.len() <= level.len()
        })
        .map_or(body.len(), |(at, _)| at);
    &body[..end]
}

/// A table key cell: "`type`", "category `name`" or "`type` when `member` is `value`".
fn key_of(cell: &str) -> String {
    if let Some((key, condition)) = cell.split_once(" when ") {
        let (member, value) = condition
            .split_once(" is ")
            .unwrap_or_else(|| panic!("bad condition in key cell {cell:?}"));
        return format!(
            "{} when {}={}",
            key_of(key),
            member.trim().trim_matches('`'),
            value.trim().trim_matches('`')
        );
    }
    let name = cell
        .trim()
        .trim_start_matches("category")
        .trim()
        .trim_matches('`');
    assert!(
        !name.is_empty() && !name.contains('`'),
        "bad key cell {cell:?}"
    );
    if cell.trim().starts_with("category ") {
        format!("category:{name}")
    } else {
        name.to_owned()
    }
}

fn cells(line: &str) -> Vec<&str> {
    let inner = line
        .trim()
        .strip_prefix('|')
        .unwrap()
        .strip_suffix('|')
        .unwrap();
    inner.split('|').map(str::trim).collect()
}

/// A row of the change table: its second cell is an entry type or a category.
fn is_table_row(line: &str) -> bool {
    let key = line.split('|').nth(2).map(str::trim).unwrap_or("");
    line.starts_with("| ") && (key.starts_with('`') || key.starts_with("category `"))
}

#[test]
fn the_mapping_tables_are_the_data() {
    let tables = section("### 3.2 Built-in mappings (version 2026.4)");
    let mut documented = BTreeSet::new();
    let mut framework = None;
    let mut frameworks = Vec::new();
    for line in tables.lines() {
        if let Some(h) = line.strip_prefix("#### ") {
            let id = h.rsplit('`').nth(1).expect("framework id in backticks");
            framework = Some(id.to_owned());
            frameworks.push(id.to_owned());
        } else if line.starts_with("| `") || line.starts_with("| category `") {
            let fw = framework
                .clone()
                .expect("a table under a framework heading");
            let c = cells(line);
            assert_eq!(c.len(), 4, "{line}");
            for (cell, st) in c[1..].iter().zip(["direct", "supporting", "adverse"]) {
                for control in cell.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    let row = (fw.clone(), key_of(c[0]), control.to_owned(), st.to_owned());
                    assert!(documented.insert(row.clone()), "listed twice: {row:?}");
                }
            }
        }
    }
    assert_eq!(frameworks, ["eu_ai_act", "iso_42001", "gdpr", "nist_rmf"]);
    let data = data();
    let missing: Vec<&Row> = data.difference(&documented).collect();
    let extra: Vec<&Row> = documented.difference(&data).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/EXPORT.md 3.2 and the mappings differ.\nin the data, not the docs: {missing:#?}\n\
         in the docs, not the data: {extra:#?}"
    );
}

#[test]
fn every_row_of_the_change_table_holds() {
    let changes = [
        section("### 3.3 Changes in 2026.3 (issue #17 part A)"),
        section("### 3.4 Changes in 2026.4 (issue #17 A6 and B)"),
    ];
    let data = data();
    let mut rows = 0;
    let lines = changes.iter().flat_map(|c| c.lines());
    for line in lines.filter(|l| is_table_row(l)) {
        let c = cells(line);
        assert_eq!(c.len(), 6, "{line}");
        let (change, key, fw, control, now, why) = (c[0], key_of(c[1]), c[2], c[3], c[4], c[5]);
        assert!(
            ["added", "removed", "regraded", "moved"].contains(&change),
            "{line}"
        );
        assert!(!why.is_empty(), "a change needs its reason: {line}");
        let mapped: Vec<&Row> = data
            .iter()
            .filter(|(f, k, id, _)| f == fw && *k == key && id == control)
            .collect();
        if now == "removed" {
            assert_eq!(change, "removed", "{line}");
            assert!(mapped.is_empty(), "still mapped: {line}");
        } else {
            assert!(["direct", "supporting", "adverse"].contains(&now), "{line}");
            assert_eq!(mapped.len(), 1, "not mapped: {line}");
            assert_eq!(mapped[0].3, now, "{line}");
        }
        rows += 1;
    }
    assert!(rows > 40, "the change table was not found ({rows} rows)");
}

#[test]
fn every_control_the_document_names_is_mapped() {
    let mapped: BTreeSet<String> = data().into_iter().map(|r| r.2).collect();
    let patterns = [
        r"\b(?:GOVERN|MAP|MEASURE|MANAGE) \d+\.\d+\b",
        r"\bA\.\d+(?:\.\d+)*\b",
        r"\bCl\. \d+(?:\.\d+)*\b",
        r"\bArt\. \d+(?:\([0-9a-z]+\))*",
        r"PCI DSS v4\.0 Req\. \d+(?:\.\d+)*",
    ];
    let mut named = BTreeSet::new();
    for p in patterns {
        for m in Regex::new(p).unwrap().find_iter(DOC) {
            named.insert(m.as_str().to_owned());
        }
    }
    assert!(named.len() > 40, "{named:?}");
    for id in &named {
        assert!(
            mapped.contains(id) || NAMED_NOT_MAPPED.iter().any(|(n, _)| n == id),
            "docs/EXPORT.md names {id:?}, which no built-in mapping has"
        );
    }
    for (id, why) in NAMED_NOT_MAPPED {
        assert!(named.contains(id), "{id} ({why}) is no longer named");
        assert!(
            !mapped.contains(id),
            "{id} is mapped now: drop it from the list"
        );
    }
    // The claim that drifted before (issue #17 A.3): decisions map to NIST MANAGE 4.1.
    let nist = MappingSet::builtin().get("nist_rmf").unwrap().clone();
    assert!(
        nist.entry_types["decision"]
            .iter()
            .any(|c| c.control_id == "MANAGE 4.1" && c.strength != Strength::Adverse)
    );
}

#[test]
fn the_category_groups_the_document_lists_are_the_engines() {
    let para = DOC
        .split("\n\n")
        .find(|p| p.contains("acttrace::redact::category_group"))
        .expect("the category-group paragraph");
    let flat = para.replace('\n', " ");
    for cat in acttrace::redact::categories() {
        let group = acttrace::redact::category_group(cat).unwrap();
        if *cat == group {
            assert!(flat.contains(group), "{group}");
            continue;
        }
        let start = flat
            .find(&format!("{group} ("))
            .unwrap_or_else(|| panic!("group {group} not listed"));
        let list = &flat[start + group.len() + 2..];
        let list = &list[..list.find(')').unwrap()];
        assert!(
            list.split(',').any(|c| c.trim() == *cat),
            "{cat} is not listed under {group}: {list}"
        );
    }
    assert!(flat.contains(&format!(
        "all {} categories",
        acttrace::redact::categories().len()
    )));
}
