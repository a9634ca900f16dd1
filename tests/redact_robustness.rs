//! Bounded work: huge strings, pathological inputs, lossy UTF-8, deep nesting.

use acttrace::json::Value;
use acttrace::redact::{Policy, redact_str, redact_value, scan};

const MB10: usize = 10 * 1024 * 1024;

fn repeat_to(unit: &str, len: usize) -> String {
    let mut s = String::with_capacity(len + unit.len());
    while s.len() < len {
        s.push_str(unit);
    }
    s
}

/// Pathological 10 MB inputs are redacted completely. Quadratic behaviour on 10 MB would take
/// hours, so finishing at all shows the work is linear-ish; how fast it is, is measured by
/// `benches/redact.rs` (release build), never by a wall-clock limit in a debug test.
#[test]
fn ten_megabyte_inputs_are_redacted() {
    let cases = [
        (
            "prose",
            repeat_to("the model answered the user with a short summary. ", MB10),
        ),
        ("digits", repeat_to("4", MB10)),
        ("spaced digits", repeat_to("4111 ", MB10)),
        ("dashed digits", repeat_to("12-", MB10)),
        ("hex colons", repeat_to("ab:", MB10)),
        ("double colons", repeat_to("a::", MB10)),
        ("uppercase", repeat_to("ABCDEFGH", MB10)),
        (
            "pem begins",
            repeat_to("-----BEGIN PRIVATE KEY-----\n", MB10),
        ),
        ("password keywords", repeat_to("password=password=", MB10)),
        ("emails", repeat_to("a@b.cd ", MB10)),
        ("dots", repeat_to("1.", MB10)),
        ("long token", repeat_to("Zx9Qm2LpR7vT4nW8", MB10)),
        (
            "findings",
            repeat_to(
                "ann@example.org 4111 1111 1111 1111 240-71-7003 10.0.0.1\n",
                MB10,
            ),
        ),
    ];
    for (name, text) in &cases {
        let (out, _report) = redact_str(text, &Policy::redact_all());
        assert!(!out.is_empty(), "{name}");
    }
    // the PEM case redacts everything from the first BEGIN
    let (out, r) = redact_str(&cases[7].1, &Policy::redact_all());
    assert_eq!(out, "<redacted:private_key>");
    assert_eq!(r.count("private_key"), 1);
}

#[test]
fn lossy_utf8_never_panics() {
    let mut bytes = Vec::new();
    let mut x = 0x1234_5678u32;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push((x & 0xFF) as u8);
        if x.is_multiple_of(97) {
            bytes.extend_from_slice(
                b" 4111 1111 1111 1111 ann@example.org \xF0\x9F\x92 religion: \xC3",
            );
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    for f in scan(&text) {
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
    }
    let (out, report) = redact_str(&text, &Policy::redact_all());
    assert!(report.count("credit_card") > 0);
    assert!(!out.contains("4111 1111 1111 1111"));
}

fn dismantle(v: Value) {
    // Value's own Drop is recursive; take deep values apart iteratively.
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(members) => stack.extend(members.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

#[test]
fn deeply_nested_values_do_not_overflow() {
    const DEPTH: usize = 200_000;
    let mut v = Value::String("ssn 240-71-7003".into());
    for i in 0..DEPTH {
        v = if i % 2 == 0 {
            Value::Array(vec![v])
        } else {
            Value::Object(vec![("k".into(), v)])
        };
    }
    let report = redact_value(&mut v, &Policy::default_preset());
    assert_eq!(report.count("us_ssn"), 1);
    // walk down to the leaf
    let mut cur = &v;
    loop {
        match cur {
            Value::Array(items) => cur = &items[0],
            Value::Object(members) => cur = &members[0].1,
            Value::String(s) => {
                assert_eq!(s, "ssn <redacted:us_ssn>");
                break;
            }
            other => panic!("unexpected leaf {other:?}"),
        }
    }
    dismantle(v);
}

#[test]
fn wide_values_are_fine() {
    let mut v = Value::Array(
        (0..100_000)
            .map(|i| Value::String(format!("user{i}@example.org")))
            .collect(),
    );
    let r = redact_value(&mut v, &Policy::default_preset());
    assert_eq!(r.count("email"), 100_000);
}

#[test]
fn empty_and_tiny_inputs() {
    for t in ["", "a", "@", "::", "-----BEGIN ", "sk-", "\n\n\n", "é"] {
        let (out, r) = redact_str(t, &Policy::redact_all());
        assert_eq!(out, t);
        assert!(r.is_empty());
    }
}
