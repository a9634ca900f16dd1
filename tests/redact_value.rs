//! `redact_value`: strings, object keys, numbers, nested JSON text, overlaps, reports.

use std::sync::Arc;

use acttrace::json::Value;
use acttrace::redact::{
    Action, BuiltinRedactor, Policy, Redactor, Report, redact_str, redact_value,
};

fn s(x: &str) -> Value {
    Value::String(x.to_string())
}
/// A number from its JSON text, parsed as any log line's numbers are.
fn num(x: &str) -> Value {
    let v = acttrace::json::parse(x).unwrap();
    assert!(matches!(v, Value::Number(_)));
    v
}
fn obj(members: Vec<(&str, Value)>) -> Value {
    Value::Object(
        members
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

#[test]
fn walks_strings_keys_and_numbers() {
    let mut v = obj(vec![
        ("user", s("ann@example.org")),
        ("bob@example.org", Value::Bool(true)),
        ("card", num("4111111111111111")),
        ("latency_ms", num("123456789")),
        ("ratio", num("1.5")),
        (
            "list",
            Value::Array(vec![
                s("AKIASWLRLB9DE9O2U2VG"),
                Value::Null,
                num("378282246310005"),
            ]),
        ),
    ]);
    let report = redact_value(&mut v, &Policy::default_preset());
    assert_eq!(
        v,
        obj(vec![
            ("user", s("<redacted:email>")),
            ("<redacted:email>", Value::Bool(true)),
            ("card", s("<redacted:credit_card>")),
            ("latency_ms", num("123456789")),
            ("ratio", num("1.5")),
            (
                "list",
                Value::Array(vec![
                    s("<redacted:aws_key>"),
                    Value::Null,
                    s("<redacted:credit_card>")
                ])
            ),
        ])
    );
    assert_eq!(report.count("email"), 2);
    assert_eq!(report.count("credit_card"), 2);
    assert_eq!(
        report.categories_redacted(),
        vec!["aws_key", "credit_card", "email"]
    );
    assert!(report.categories_flagged().is_empty());
}

#[test]
fn renamed_keys_stay_unique() {
    let mut v = obj(vec![
        ("ann@example.org", Value::Bool(true)),
        ("bob@example.org", Value::Bool(false)),
        ("<redacted:email>#2", Value::Null),
        ("carl@example.org", num("1")),
    ]);
    let r = redact_value(&mut v, &Policy::default_preset());
    assert_eq!(
        v,
        obj(vec![
            ("<redacted:email>", Value::Bool(true)),
            ("<redacted:email>#3", Value::Bool(false)),
            ("<redacted:email>#2", Value::Null),
            ("<redacted:email>#4", num("1")),
        ])
    );
    assert_eq!(r.count("email"), 3);
}

#[test]
fn key_gives_context_to_its_value() {
    let mut v = obj(vec![
        ("password", s("hunter2!")),
        ("religion", s("Muslim")),
        ("routing_number", num("121000358")),
        ("count", num("121000358")),
        ("phone", num("2125550142")),
    ]);
    let report = redact_value(&mut v, &Policy::gdpr());
    assert_eq!(
        v,
        obj(vec![
            ("password", s("<redacted:password>")),
            ("religion", s("<redacted:special_category>")),
            ("routing_number", s("<redacted:us_routing>")),
            ("count", num("121000358")),
            ("phone", s("<redacted:phone>")),
        ])
    );
    assert!(report.blocked(), "gdpr blocks special-category data");
    assert_eq!(report.categories_blocked(), vec!["special_category"]);
}

#[test]
fn json_text_inside_a_string_is_scanned() {
    let inner = r#"[{"role":"user","content":"my card is 4111 1111 1111 1111, ssn 240-71-7003"}]"#;
    let mut v = obj(vec![("gen_ai.input.messages", s(inner))]);
    redact_value(&mut v, &Policy::default_preset());
    assert_eq!(
        v,
        obj(vec![(
            "gen_ai.input.messages",
            s(
                r#"[{"role":"user","content":"my card is <redacted:credit_card>, ssn <redacted:us_ssn>"}]"#
            )
        )])
    );
}

#[test]
fn overlapping_findings_leave_no_fragment() {
    // the URL password and the "email" s3cretpw@example.com overlap
    let text = "see https://bob:s3cretpw@example.com/x";
    let (out, report) = redact_str(text, &Policy::redact_all());
    assert!(
        !out.contains("s3cret") && !out.contains("example.com"),
        "{out}"
    );
    assert_eq!(out.matches("<redacted:").count(), 1, "{out}");
    assert_eq!(report.count("password"), 1);
    assert_eq!(report.count("email"), 1);
}

#[test]
fn flag_leaves_values_and_reports() {
    let mut v = s("call 212-555-0142 from 10.1.2.3");
    let report = redact_value(&mut v, &Policy::default_preset());
    assert_eq!(v, s("call 212-555-0142 from 10.1.2.3"));
    assert_eq!(report.categories_flagged(), vec!["ipv4", "phone"]);
    assert!(report.categories_redacted().is_empty());
    assert_eq!(report.strongest_action(), Some(Action::Flag));
    let p = Policy::builder()
        .default_action(Action::Allow)
        .build()
        .unwrap();
    let report = redact_value(&mut v, &p);
    assert!(report.is_empty(), "allow is not reported");
}

#[test]
fn report_never_holds_raw_values() {
    let secret = "sk-proj-A3y_nXL_cPZKcuzPrR2BImWS-Ei";
    let (_, report) = redact_str(
        &format!("key {secret} and 4111 1111 1111 1111"),
        &Policy::default_preset(),
    );
    let dbg = format!("{report:?}");
    assert!(!dbg.contains(secret) && !dbg.contains("4111"), "{dbg}");
    assert_eq!(report.total(), 2);
    assert_eq!(report.max_severity().map(|s| s.as_str()), Some("critical"));
}

#[test]
fn report_merge_keeps_strongest() {
    let (_, mut a) = redact_str(
        "ann@example.org",
        &Policy::builder()
            .category("email", Action::Flag)
            .build()
            .unwrap(),
    );
    let (_, b) = redact_str(
        "bob@example.org",
        &Policy::builder()
            .category("email", Action::Block)
            .build()
            .unwrap(),
    );
    a.merge(&b);
    assert_eq!(a.count("email"), 2);
    assert!(a.blocked());
    assert_eq!(a, {
        let mut r = Report::new();
        r.merge(&a);
        r
    });
}

struct UpperRedactor;
impl Redactor for UpperRedactor {
    fn redact(&self, value: &mut Value) -> Report {
        if let Value::String(s) = value {
            *s = s.to_uppercase();
        }
        Report::new()
    }
}

#[test]
fn redactor_trait_is_pluggable_and_shareable() {
    let engines: Vec<Arc<dyn Redactor>> = vec![
        Arc::new(BuiltinRedactor::new(Policy::strict())),
        Arc::new(UpperRedactor),
    ];
    let mut handles = Vec::new();
    for (i, e) in engines.into_iter().enumerate() {
        handles.push(std::thread::spawn(move || {
            let mut v = s("token ghp_mlU6ThOxdQTQQthMknad6okAKoj8aGDFc80j");
            let r = e.redact(&mut v);
            (i, v, r.blocked())
        }));
    }
    for h in handles {
        let (i, v, blocked) = h.join().unwrap();
        if i == 0 {
            assert_eq!(v, s("token <redacted:github_token>"));
            assert!(blocked);
        } else {
            assert_eq!(v, s("TOKEN GHP_MLU6THOXDQTQQTHMKNAD6OKAKOJ8AGDFC80J"));
            assert!(!blocked);
        }
    }
}

#[test]
fn reviewer_email_in_oversight_is_flagged_when_redacted() {
    // the reference replaced a reviewer's email with no flag; here the report says so
    let mut v = obj(vec![
        ("reviewer", s("jane.doe@corp.example")),
        ("action", s("approved")),
    ]);
    let r = BuiltinRedactor::default().redact(&mut v);
    assert_eq!(r.categories_redacted(), vec!["email"]);
}

/// Issue 12 item 8: integral floats are scanned as their integer digits, so a card number
/// or SSN stored as `4111111111111111.0` does not reach the log while its integer form is
/// redacted; fractional floats are left alone.
#[test]
fn integral_floats_are_redacted_like_integers() {
    let policy = Policy::default_preset();
    for (key, int, float) in [
        ("n", "4111111111111111", "4111111111111111.0"),
        ("n", "4111111111111111", "4.111111111111111e15"),
        ("ssn", "123456789", "123456789.0"),
        ("ssn", "-123456789", "-123456789.0"),
    ] {
        let mut a = obj(vec![(key, num(int))]);
        let mut b = obj(vec![(key, num(float))]);
        let ra = redact_value(&mut a, &policy);
        let rb = redact_value(&mut b, &policy);
        assert!(!ra.is_empty(), "{int}");
        assert_eq!(a, b, "{float}");
        assert_eq!(
            ra.categories_redacted(),
            rb.categories_redacted(),
            "{float}"
        );
    }
    for float in ["4111111111111111.5", "12.0", "1e-5"] {
        let mut v = obj(vec![("ssn", num(float))]);
        let before = v.clone();
        assert!(redact_value(&mut v, &policy).is_empty(), "{float}");
        assert_eq!(v, before);
    }
}
