//! Throughput of the redaction engine on benign prose and on finding-dense text.
//!
//! Run: `cargo bench --bench redact` (single-threaded; criterion reports MB/s as
//! `thrpt`). The corpora are generated deterministically here (about 1 MiB each).

use acttrace::json::Value;
use acttrace::redact::{Policy, Scanner, redact_str, redact_value};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

/// A typical auto-captured audit payload: ids, model, token counts, a prompt with one
/// email address, tool arguments as JSON text.
fn audit_entry() -> Value {
    let s = |x: &str| Value::String(x.to_string());
    let n = |x: &str| acttrace::json::parse(x).unwrap();
    Value::Object(vec![
        ("decision_id".into(), s("202c01ce544e48e19898b048d2da1aaa")),
        ("provider".into(), s("openai")),
        ("model".into(), s("gpt-4o-mini-2024-07-18")),
        (
            "usage".into(),
            Value::Object(vec![
                ("input_tokens".into(), n("1532")),
                ("output_tokens".into(), n("311")),
                ("total_tokens".into(), n("1843")),
            ]),
        ),
        ("cost".into(), n("0.000412")),
        ("latency_ms".into(), n("842")),
        (
            "input".into(),
            s(
                "Summarise the quarterly report for the board and send it to ann.lee@example.org. \
               The deadline is next Friday; keep it under two pages and mention the cache hit rate, \
               the latency improvements and the three open incidents from the release candidate.",
            ),
        ),
        (
            "tool_call".into(),
            Value::Object(vec![
                ("name".into(), s("send_email")),
                (
                    "arguments".into(),
                    s(
                        r#"{"to": "board@example.com", "subject": "Q3 summary", "attachments": ["report-q3.pdf"], "priority": "normal"}"#,
                    ),
                ),
            ]),
        ),
        ("actor".into(), s("agent")),
        ("ts".into(), s("2026-11-26T21:28:45.791750+00:00")),
    ])
}

const WORDS: &[&str] = &[
    "the",
    "model",
    "answered",
    "user",
    "request",
    "with",
    "a",
    "short",
    "summary",
    "of",
    "quarterly",
    "report",
    "and",
    "then",
    "called",
    "tool",
    "to",
    "fetch",
    "weather",
    "for",
    "city",
    "agent",
    "decided",
    "retry",
    "after",
    "timeout",
    "budget",
    "remaining",
    "tokens",
    "context",
    "window",
    "assembled",
    "from",
    "three",
    "documents",
    "reviewer",
    "approved",
    "change",
    "because",
    "policy",
    "allows",
    "it",
    "system",
    "prompt",
    "was",
    "updated",
    "yesterday",
    "Meeting",
    "notes",
    "mention",
    "deadline",
    "next",
    "week",
    "Team",
    "will",
    "ship",
    "release",
    "candidate",
    "after",
    "review",
    "latency",
    "improved",
    "cache",
    "hit",
    "rate",
    "stays",
    "high",
    "Customer",
    "asked",
    "about",
    "invoice",
    "delivery",
    "status",
    "shipping",
    "address",
    "unchanged",
    "Support",
    "replied",
    "within",
    "hour",
    "The",
    "pipeline",
    "processed",
    "batch",
    "without",
    "errors",
    "while",
    "monitoring",
    "showed",
];

const BENIGN_TOKENS: &[&str] = &[
    "version 4.16.31",
    "at 10:17:09",
    "total $27466.75",
    "order #699665182",
    "commit 788c34c862d2fc136eeaa6e8c26722fd583038ce",
    "uuid c51344fc-cf4e-4844-b080-b7f881785603",
    "2024-01-08T00:05:06.160664",
    "https://example.com/posts/42",
    "score 0.2528",
    "ticket ABC-4781",
    "in 2023",
    "step 3 of 12",
];

fn rng(state: &mut u64) -> usize {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 33) as usize
}

fn benign(size: usize) -> String {
    let mut s = String::with_capacity(size + 256);
    let mut st = 42u64;
    let mut sentence = 0;
    while s.len() < size {
        let n = 8 + rng(&mut st) % 8;
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[rng(&mut st) % WORDS.len()]);
        }
        sentence += 1;
        if sentence % 4 == 0 {
            s.push(' ');
            s.push_str(BENIGN_TOKENS[rng(&mut st) % BENIGN_TOKENS.len()]);
        }
        s.push_str(". ");
        if sentence % 6 == 0 {
            s.push('\n');
        }
    }
    s
}

const FINDINGS: &[&str] = &[
    "contact ann.lee@example.org today",
    "card 4111 1111 1111 1111 exp 09/27",
    "key sk-proj-A3y_nXL_cPZKcuzPrR2BImWS-Ei9",
    "aws AKIASWLRLB9DE9O2U2VG used",
    "ssn 240-71-7003 on file",
    "call (365)988-4332x2822 later",
    "from 193.144.194.128 port 443",
    "iban GB82 WEST 1234 5698 7654 32 ok",
    "Password is TBivR5tHa!pI5 sent",
    "Authorization: Bearer y1lWUUl6azJTTdyF2PV47oeAR",
    "mac 3c:87:c4:35:ca:ed seen",
    "host efab:aae:58e9:c7bf:f53b:db4a:491b:3e6d up",
    "routing 021000021 acct",
    "bic DEUTDEFF500 wire",
    "patient is pregnant per note",
    "token ghp_mlU6ThOxdQTQQthMknad6okAKoj8aGDFc80j revoked",
];

fn dense(size: usize) -> String {
    let mut s = String::with_capacity(size + 256);
    let mut st = 7u64;
    let mut i = 0;
    while s.len() < size {
        s.push_str(WORDS[rng(&mut st) % WORDS.len()]);
        s.push(' ');
        s.push_str(WORDS[rng(&mut st) % WORDS.len()]);
        s.push_str(": ");
        s.push_str(FINDINGS[i % FINDINGS.len()]);
        s.push('\n');
        i += 1;
    }
    s
}

fn bench(c: &mut Criterion) {
    let scanner = Scanner::global();
    let prose = benign(1 << 20);
    let dense = dense(1 << 20);
    let policy = Policy::default_preset();
    let mut g = c.benchmark_group("redact");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(prose.len() as u64));
    g.bench_function("scan/benign_prose_1MiB", |b| {
        b.iter(|| scanner.scan(black_box(&prose)))
    });
    g.bench_function("redact_str/benign_prose_1MiB", |b| {
        b.iter(|| redact_str(black_box(&prose), &policy))
    });
    g.throughput(Throughput::Bytes(dense.len() as u64));
    g.bench_function("scan/finding_dense_1MiB", |b| {
        b.iter(|| scanner.scan(black_box(&dense)))
    });
    g.bench_function("redact_str/finding_dense_1MiB", |b| {
        b.iter(|| redact_str(black_box(&dense), &policy))
    });
    let entry = audit_entry();
    g.throughput(Throughput::Elements(1));
    g.bench_function("redact_value/audit_entry", |b| {
        b.iter_batched(
            || entry.clone(),
            |mut v| redact_value(&mut v, &policy),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
