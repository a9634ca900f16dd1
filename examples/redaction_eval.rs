//! Prints per-category recall and the false-positive rate on a labelled corpus with every
//! category set to redact.
//!
//! ```text
//! cargo run --release --example redaction_eval [-- path/to/corpus.jsonl [policy.toml]]
//! ```
//!
//! Corpus lines are `{"text": .., "category": CAT|null, "secret": VALUE|null}`: a positive
//! counts as recalled when VALUE no longer appears in the redacted text; a negative counts
//! as a false positive when its text changes.

use std::collections::BTreeMap;
use std::time::Instant;

use acttrace::redact::{Policy, redact_str};

/// Reads a JSON string field (or `null`) from one corpus line.
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

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "tests/corpus/redaction-en_US.jsonl".to_string());
    let policy = match args.next() {
        Some(p) => {
            let src =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {p}: {e}"));
            Policy::from_toml_str(&src).unwrap_or_else(|e| panic!("{p}: {e}"))
        }
        None => Policy::redact_all(),
    };
    let data = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut per: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let (mut negatives, mut fps, mut bytes) = (0usize, 0usize, 0usize);
    let t0 = Instant::now();
    acttrace::redact::Scanner::global(); // compile once
    let compile = t0.elapsed();
    let t = Instant::now();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let Some(text) = field(line, "text") else {
            continue;
        };
        bytes += text.len();
        let (out, report) = redact_str(&text, &policy);
        match (field(line, "category"), field(line, "secret")) {
            (Some(cat), Some(secret)) => {
                let e = per.entry(cat.clone()).or_default();
                e.0 += 1;
                if !out.contains(&secret) {
                    e.1 += 1;
                }
                if report.count(&cat) > 0 {
                    e.2 += 1;
                }
            }
            _ => {
                negatives += 1;
                if out != text {
                    fps += 1;
                }
            }
        }
    }
    let dt = t.elapsed();
    println!("corpus: {path}");
    println!(
        "{:<18} {:>5} {:>5} {:>7} {:>9}",
        "category", "n", "hit", "recall", "labelled"
    );
    for (cat, (n, hit, lab)) in &per {
        println!(
            "{cat:<18} {n:>5} {hit:>5} {:>7.3} {:>9.3}",
            *hit as f64 / *n as f64,
            *lab as f64 / *n as f64
        );
    }
    let total: usize = per.values().map(|v| v.0).sum();
    let hits: usize = per.values().map(|v| v.1).sum();
    if total > 0 {
        println!(
            "{:<18} {:>5} {:>5} {:>7.3}",
            "ALL",
            total,
            hits,
            hits as f64 / total as f64
        );
    }
    if negatives > 0 {
        println!(
            "negatives {negatives}, changed {fps}, false-positive rate {:.4}",
            fps as f64 / negatives as f64
        );
    }
    println!("engine compiled in {compile:?}; {bytes} bytes redacted line by line in {dt:?}");
}
