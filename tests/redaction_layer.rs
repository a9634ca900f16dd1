//! Redaction in the audit layer: a planted value of every category never reaches the log
//! file, each act is chained as a `policy_flag`, and the chain verifies; the pre-flight guard;
//! custom redactors; the `acttrace redact` command.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use acttrace::json::Value;
use acttrace::redact::{Policy, Redactor, Report};
use acttrace::{AuditLayer, Error};
use common::*;
use tracing_subscriber::prelude::*;

/// One planted value per category, from the labelled corpus (secret, category).
fn planted() -> Vec<(String, String, String)> {
    let corpus = include_str!("corpus/redaction-en_US.jsonl");
    let mut seen = std::collections::BTreeMap::new();
    for line in corpus.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let (Some(cat), Some(secret)) = (v["category"].as_str(), v["secret"].as_str()) {
            seen.entry(cat.to_owned())
                .or_insert_with(|| (v["text"].as_str().unwrap().to_owned(), secret.to_owned()));
        }
    }
    assert_eq!(seen.len(), 20);
    seen.into_iter().map(|(c, (t, s))| (c, t, s)).collect()
}

#[test]
fn planted_values_never_reach_the_file_and_every_act_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (layer, guard) = AuditLayer::builder()
        .path(&path)
        .redaction_policy(Policy::redact_all())
        .build()
        .unwrap();
    let samples = planted();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for (i, (_, text, _)) in samples.iter().enumerate() {
            // Alternate between a decision span field and an event field.
            if i % 2 == 0 {
                let d =
                    tracing::info_span!("d", audit.decision = "redaction", input = text.as_str());
                let _e = d.enter();
                acttrace::tool_call!(name = "noop");
            } else {
                acttrace::llm_call!(model = "m", prompt = text.as_str());
            }
        }
        // Nested JSON text inside a field, as OpenTelemetry message fields carry it.
        let nested = serde_json::json!([{"role": "user", "content": samples[0].1}]).to_string();
        acttrace::llm_call!(model = "m", gen_ai.input.messages = nested.as_str());
    });
    let tip = guard.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for (cat, _, secret) in &samples {
        assert!(
            !text.contains(secret.as_str()),
            "{cat}: the raw value {secret:?} reached the log"
        );
    }
    let es = entries(&path);
    let flags = of_type(&es, "policy_flag");
    let flagged: std::collections::BTreeSet<String> = flags
        .iter()
        .flat_map(|f| {
            f["payload"]["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap().to_owned())
        })
        .collect();
    for (cat, _, _) in &samples {
        assert!(
            flagged.contains(cat),
            "no policy_flag for {cat}: {flagged:?}"
        );
    }
    // Each flag follows the entry it describes and names it.
    for f in &flags {
        let seq = f["seq"].as_u64().unwrap();
        let about = f["payload"]["entry_seq"].as_u64().unwrap();
        assert!(about < seq && seq - about <= 3, "flag {seq} about {about}");
        assert_eq!(f["payload"]["action"], "redacted");
        assert_eq!(es[about as usize]["type"], f["payload"]["entry_type"]);
    }
    assert_verifies(&path, &tip);
}

#[test]
fn the_default_policy_redacts_secrets_and_reviewer_emails_with_a_flag() {
    let (mem, log) = acttrace::MemoryWriter::new();
    let (layer, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        acttrace::oversight!(reviewer = "maria.lopez@bank.example", action = "approved");
        acttrace::tool_call!(
            name = "call",
            arguments = "key sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
        );
    });
    guard.flush().unwrap();
    let text = log.to_jsonl();
    assert!(!text.contains("maria.lopez@bank.example"));
    assert!(!text.contains("sk-proj-AbCdEf"));
    assert!(
        text.contains("<redacted:email>") && text.contains("<redacted:api_key>"),
        "{text}"
    );
    let kinds: Vec<String> = log.entries().iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            "audit_open",
            "human_oversight",
            "policy_flag",
            "tool_call",
            "policy_flag"
        ]
    );
}

#[test]
fn flag_on_redact_off_and_custom_redactors_add_no_flags() {
    struct Upper;
    impl Redactor for Upper {
        fn redact(&self, value: &mut Value) -> Report {
            if let Value::Object(fields) = value {
                for (_, v) in fields.iter_mut() {
                    if let Value::String(s) = v {
                        *s = s.to_uppercase();
                    }
                }
            }
            Report::new()
        }
    }
    for custom in [false, true] {
        let (mem, log) = acttrace::MemoryWriter::new();
        let b = AuditLayer::builder().writer(mem);
        let b = if custom {
            b.redactor(Upper)
        } else {
            b.flag_on_redact(false)
        };
        let (layer, guard) = b.build().unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            acttrace::oversight!(reviewer = "ann@example.org", action = "approved");
        });
        guard.flush().unwrap();
        let entries = log.entries();
        assert_eq!(entries.len(), 2, "{custom}");
        let reviewer = entries[1]
            .payload
            .get("reviewer")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        if custom {
            assert_eq!(reviewer, "ANN@EXAMPLE.ORG");
        } else {
            assert_eq!(reviewer, "<redacted:email>");
        }
    }
}

#[test]
fn a_blocked_preflight_is_chained_and_returned_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (layer, guard) = AuditLayer::builder()
        .path(&path)
        .redaction_policy(Policy::pci())
        .build()
        .unwrap();
    let handle = guard.handle();
    let result =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let d = tracing::info_span!("d", audit.decision = "refund");
            let _e = d.enter();
            handle.preflight(
                "llm_call",
                "please charge 4111 1111 1111 1111 for the refund",
            )
        });
    let Err(Error::Blocked {
        operation,
        categories,
        entry,
    }) = result
    else {
        panic!("not blocked: {result:?}");
    };
    assert_eq!(operation, "llm_call");
    assert_eq!(categories, ["credit_card"]);
    let tip = guard.flush().unwrap();
    let es = entries(&path);
    let flag = &es[entry.seq as usize];
    assert_eq!(flag["type"], "policy_flag");
    assert_eq!(flag["payload"]["action"], "blocked");
    assert_eq!(
        flag["payload"]["decision_id"],
        es[1]["payload"]["decision_id"]
    );
    assert!(!text_without_random_hex(&path).contains("4111"));
    // Content the policy only flags or redacts goes through (pci redacts secrets, flags email).
    let ok = guard
        .preflight("llm_call", "mail ann@example.org, key AKIAIOSFODNN7EXAMPLE")
        .unwrap();
    assert_eq!(ok.redacted, "mail ann@example.org, key <redacted:aws_key>");
    assert_eq!(ok.report.categories_flagged(), ["email"]);
    assert!(!ok.report.blocked());
    assert_verifies(&path, &tip);
}

fn redact_cli(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_acttrace"))
        .arg("redact")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command may exit (a usage error) before reading its input: a closed pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_redact_command_is_a_dry_run_of_the_layers_engine() {
    let input = "{\"note\": \"call +1 415 555 0132\", \"user\": \"ann@example.org\"}\n\"plain text\"\n[4111111111111111]\n";
    let (code, out, _) = redact_cli(&[], input);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].contains("<redacted:email>") && lines[0].contains("415 555 0132"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "\"plain text\"");
    assert_eq!(lines[2], "[\"<redacted:credit_card>\"]");
    let (_, out, _) = redact_cli(&["--all"], input);
    assert!(out.contains("<redacted:phone>"));
    let (_, out, _) = redact_cli(&["--findings"], input);
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let cats: Vec<&str> = first["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["category"].as_str().unwrap())
        .collect();
    assert_eq!(cats, ["email", "phone"]);
    assert!(!out.contains("ann@example.org"));
    // A TOML policy file, and errors that name the line or the key.
    let dir = tempfile::tempdir().unwrap();
    let pol = dir.path().join("p.toml");
    std::fs::write(
        &pol,
        "preset = \"default\"\n[categories]\nphone = \"redact\"\n",
    )
    .unwrap();
    let (_, out, _) = redact_cli(&["--policy", pol.to_str().unwrap()], input);
    assert!(out.contains("<redacted:phone>"));
    std::fs::write(&pol, "[categories]\nemial = \"redact\"\n").unwrap();
    let (code, _, err) = redact_cli(&["--policy", pol.to_str().unwrap()], input);
    assert_eq!(code, 2);
    assert!(err.contains("emial"), "{err}");
    let (code, _, err) = redact_cli(&[], "{\"ok\": 1}\n{broken\n");
    assert_eq!(code, 2);
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn huge_and_deeply_nested_payloads_are_handled_in_bounded_time() {
    let (mem, log) = acttrace::MemoryWriter::new();
    let (layer, guard) = AuditLayer::builder()
        .writer(mem)
        .redaction_policy(Policy::redact_all())
        .build()
        .unwrap();
    let big = format!(
        "{} ann@example.org {}",
        "lorem ipsum dolor ".repeat(600_000),
        "x".repeat(10)
    );
    assert!(big.len() > 10 << 20);
    let nested = format!(
        "{}\"ann@example.org\"{}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        acttrace::tool_call!(name = "big", arguments = big.as_str());
        acttrace::tool_call!(name = "nested", arguments = nested.as_str());
    });
    guard.flush().unwrap();
    let text = log.to_jsonl();
    assert!(!text.contains("ann@example.org"));
    assert_eq!(
        log.entries()
            .iter()
            .filter(|e| e.kind == "tool_call")
            .count(),
        2
    );
}

/// Issue 12 (recall): `redact --all` keeps the policy's detector options and adds every
/// locale pack; before, it replaced the policy by `redact_all` and lost its packs.
#[test]
fn redact_all_keeps_the_policys_locale_packs_and_adds_every_pack() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("packs.toml");
    std::fs::write(
        &policy,
        "locale_packs = [\"uk_nino\", \"de_steuer_id\", \"fr_nir\", \"in_aadhaar\"]\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let input = "{\"nir\": \"NIR 2 55 08 14 168 025 38\", \"ni\": \"NI number AB 12 34 56 C\"}\n";
    let (code, out, _) = redact_cli(&["--policy", policy, "--all"], input);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "{\"nir\": \"NIR <redacted:fr_nir>\", \"ni\": \"NI number <redacted:uk_nino>\"}"
    );
    // Without a policy, `--all` still means every category, locale packs included.
    let (_, out, _) = redact_cli(&["--all"], input);
    assert!(
        out.contains("<redacted:fr_nir>") && out.contains("<redacted:uk_nino>"),
        "{out}"
    );
}

/// The text the secret checks above search: random hex fields, the sealing time and durations
/// taken out (they can hold "4111" by chance), content kept byte for byte.
#[test]
fn the_secret_check_text_drops_random_hex_but_keeps_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let hash = format!("0bee71acd0fdb6c4d028df5613641111{}", "a".repeat(32));
    let line = |note: &str| {
        format!(
            "{{\"seq\": 0, \"ts\": \"2026-12-01T12:24:41.641115+00:00\", \"type\": \"tool_call\", \
             \"payload\": {{\"decision_id\": \"41110000aaaaaaaaaaaaaaaaaaaaaaaa\", \"duration_ms\": \
             0.4111, \"note\": \"{note}\"}}, \"prev_hash\": \"{hash}\", \"hash\": \"{hash}\", \
             \"sig\": \"\"}}\n"
        )
    };
    std::fs::write(&path, line("clean")).unwrap();
    let text = text_without_random_hex(&path);
    assert!(!text.contains("4111"), "{text}");
    assert!(text.contains("\"note\": \"clean\""), "{text}");
    std::fs::write(&path, line("card 4111 1111")).unwrap();
    assert!(text_without_random_hex(&path).contains("card 4111 1111"));
}
