//! Recall per category and false-positive rate on the labelled corpus, with every
//! category set to redact. Prints the table; asserts recall >= 0.99 per category and a
//! false-positive rate <= 0.01.

use std::collections::BTreeMap;

use acttrace::redact::{Policy, redact_str};

/// Minimal JSON string-field reader for the corpus lines (`{"text": .., "category": .., "secret": ..}`).
fn field(line: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\": ");
    let i = line.find(&key)? + key.len();
    let rest = &line[i..];
    if rest.starts_with("null") {
        return None;
    }
    let mut out = String::new();
    let mut chars = rest[1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[test]
fn corpus_recall_and_false_positives() {
    let data = include_str!("corpus/redaction-en_US.jsonl");
    let policy = Policy::redact_all();
    let mut per: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let (mut negatives, mut fps) = (0usize, 0usize);
    let mut misses = Vec::new();
    let mut fp_lines = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let text = field(line, "text").expect("text");
        let (out, report) = redact_str(&text, &policy);
        match (field(line, "category"), field(line, "secret")) {
            (Some(cat), Some(secret)) => {
                let e = per.entry(cat.clone()).or_default();
                e.0 += 1;
                if report.count(&cat) > 0 {
                    e.2 += 1;
                }
                if !out.contains(&secret) {
                    e.1 += 1;
                } else {
                    misses.push(format!("{cat}: {text:?} -> {out:?}"));
                }
            }
            _ => {
                negatives += 1;
                if out != text {
                    fps += 1;
                    fp_lines.push(format!("{text:?} -> {out:?}"));
                }
            }
        }
    }
    // recall: the secret no longer appears; labelled: the report names the expected category.
    println!(
        "{:<18} {:>5} {:>5} {:>7} {:>9}",
        "category", "n", "hit", "recall", "labelled"
    );
    let mut worst = 1.0f64;
    let mut worst_label = 1.0f64;
    for (cat, (n, hit, lab)) in &per {
        let r = *hit as f64 / *n as f64;
        let l = *lab as f64 / *n as f64;
        worst = worst.min(r);
        worst_label = worst_label.min(l);
        println!("{cat:<18} {n:>5} {hit:>5} {r:>7.3} {l:>9.3}");
    }
    let total: usize = per.values().map(|v| v.0).sum();
    let hits: usize = per.values().map(|v| v.1).sum();
    let fp_rate = fps as f64 / negatives as f64;
    println!(
        "{:<18} {:>5} {:>5} {:>7.3}",
        "ALL",
        total,
        hits,
        hits as f64 / total as f64
    );
    println!("negatives {negatives}, changed {fps}, false-positive rate {fp_rate:.4}");
    for m in &misses {
        println!("MISS {m}");
    }
    for f in &fp_lines {
        println!("FP   {f}");
    }
    assert_eq!(per.len(), 20, "all 20 reference categories present");
    assert!(
        worst >= 0.99,
        "per-category recall below 0.99 (worst {worst:.3})"
    );
    assert!(
        worst_label >= 0.99,
        "per-category labelling below 0.99 (worst {worst_label:.3})"
    );
    assert!(fp_rate <= 0.01, "false-positive rate {fp_rate:.4} > 0.01");
}
