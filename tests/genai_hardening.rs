//! GenAI capture under hostile or unusual input, and content proofs: regressions for the review
//! of the GenAI feature (each test failed before its fix).

mod common;

use std::path::Path;

use acttrace::genai::{ContentCapture, ContentProof, GenAiCapture, PriceTable, prove_content};
use acttrace::redact::Policy;
use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::{AuditLayer, SigningKey};
use common::*;
use tracing_subscriber::prelude::*;

const KEY: &str = GENAI_KEY;

/// R1: a finish_reasons text that parses as deeply nested JSON is kept as a string, so the entry
/// stays within the depth the log's own parser accepts.
#[test]
fn r1_deep_finish_reasons_do_not_break_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let (sub, guard) = genai_subscriber(&path, GenAiCapture::default());
    let deep = format!("{}{}", "[".repeat(255), "]".repeat(255));
    in_decision(sub, || {
        tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.response.finish_reasons = deep.as_str()
        )
        .in_scope(|| {});
    });
    guard.flush().unwrap();
    let r = verify_path(
        &path,
        &VerifyOptions {
            key: Some(SigningKey::from_bytes(KEY).unwrap()),
            ..VerifyOptions::default()
        },
    );
    match r {
        Ok(v) => assert!(
            v.ok(),
            "log does not verify: {} {:#?}",
            v.summary(),
            v.problems
        ),
        Err(e) => panic!("verify error: {e}"),
    }
    // And it can be continued.
    drop(guard);
    let (_l, g) = AuditLayer::builder()
        .path(&path)
        .signing_key(SigningKey::from_bytes(KEY).unwrap())
        .build()
        .expect("resume");
    g.flush().unwrap();
}

/// R2: content under names the mapping doesn't map (OpenLLMetry-style indexed prompts, an event's
/// message inside a GenAI span) falls under the messages mode, not `attributes`.
#[test]
fn r2_unmapped_content_is_not_kept_in_none_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let (sub, guard) = genai_subscriber(
        &path,
        GenAiCapture::default().messages(ContentCapture::None),
    );
    in_decision(sub, || {
        let s = tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = "gpt-4o",
            "gen_ai.prompt.0.content" = "my diagnosis is SECRET-PROMPT-ONE",
            "gen_ai.completion.0.content" = "SECRET-COMPLETION-TWO",
        );
        let _s = s.enter();
        tracing::info!(
            gen_ai.usage.input_tokens = 5u64,
            "model answered: {}",
            "SECRET-RESPONSE-THREE"
        );
    });
    guard.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for secret in [
        "SECRET-PROMPT-ONE",
        "SECRET-COMPLETION-TWO",
        "SECRET-RESPONSE-THREE",
    ] {
        assert!(
            !text.contains(secret),
            "{secret} reached disk in `none` mode:\n{text}"
        );
    }
}

/// R3: an endpoint that is more than a host and a port is redacted like any field.
#[test]
fn r3_an_endpoint_with_credentials_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let (sub, guard) = genai_subscriber(&path, GenAiCapture::default());
    in_decision(sub, || {
        tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            server.address =
                "https://jane.doe@example.com:sk-proj-Abc123Def456Ghi789Jkl0@llm.internal",
            server.port = "jane.doe@example.com",
        )
        .in_scope(|| {});
    });
    guard.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("jane.doe@example.com"),
        "raw email on disk:\n{text}"
    );
    assert!(!text.contains("sk-proj-Abc123"), "raw api key on disk");
}

fn digest_log(path: &Path, capture: GenAiCapture, signing: Option<&str>, prompt: &str) {
    let mut b = AuditLayer::builder()
        .system("review")
        .path(path)
        .gen_ai(capture);
    if let Some(k) = signing {
        b = b.signing_key(SigningKey::from_bytes(k).unwrap());
    }
    let (layer, guard) = b.build().unwrap();
    let sub = tracing_subscriber::registry().with(layer);
    in_decision(sub, || {
        tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.input.messages = prompt,
        )
        .in_scope(|| {});
    });
    guard.flush().unwrap();
}

fn llm_seq(path: &Path) -> u64 {
    of_type(&entries(path), "llm_call")[0]["seq"]
        .as_u64()
        .unwrap()
}

/// R4a: with a digest key apart from the signing key, the log is verified with one and the digest
/// checked with the other.
#[test]
fn r4a_prove_with_separate_digest_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let prompt = "What is the refund policy?";
    digest_log(
        &path,
        GenAiCapture::default()
            .messages(ContentCapture::Digest)
            .digest_key(SigningKey::from_bytes("digest-key").unwrap()),
        Some(KEY),
        prompt,
    );
    let seq = llm_seq(&path);
    let policy = Policy::default_preset();
    let signing = SigningKey::from_bytes(KEY).unwrap();
    let digest = SigningKey::from_bytes("digest-key").unwrap();
    let proof = prove_content(
        &path,
        seq,
        "input_messages",
        prompt,
        Some(&signing),
        &digest,
        &policy,
    );
    assert!(
        matches!(&proof, Ok(ContentProof::Match { authenticated: true, unproven, .. }) if unproven.is_empty()),
        "{proof:?}"
    );
    // The signing key is not the digest key: the same text does not match with it.
    let wrong = prove_content(
        &path,
        seq,
        "input_messages",
        prompt,
        Some(&signing),
        &signing,
        &policy,
    );
    assert!(
        matches!(wrong, Ok(ContentProof::Mismatch { .. })),
        "{wrong:?}"
    );
}

/// R4b: an unsigned log with a digest key can still prove content (the chain is unauthenticated).
#[test]
fn r4b_prove_unsigned_log_with_digest_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let prompt = "What is the refund policy?";
    digest_log(
        &path,
        GenAiCapture::default()
            .messages(ContentCapture::Digest)
            .digest_key(SigningKey::from_bytes("digest-key").unwrap()),
        None,
        prompt,
    );
    let digest = SigningKey::from_bytes("digest-key").unwrap();
    let r = prove_content(
        &path,
        llm_seq(&path),
        "input_messages",
        prompt,
        None,
        &digest,
        &Policy::default_preset(),
    );
    // Proven, and the result says the chain itself is not authenticated.
    assert!(
        matches!(
            &r,
            Ok(ContentProof::Match {
                authenticated: false,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(r.unwrap().to_string().contains("not authenticated"));
}

/// R5: a text that differs only inside redacted spans matches, and the proof names what it does
/// not cover.
#[test]
fn r5_prove_matches_a_different_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    digest_log(
        &path,
        GenAiCapture::default().messages(ContentCapture::Digest),
        Some(KEY),
        "Wire the refund to alice@example.com",
    );
    let key = SigningKey::from_bytes(KEY).unwrap();
    let r = prove_content(
        &path,
        llm_seq(&path),
        "input_messages",
        "Wire the refund to mallory@attacker.example",
        Some(&key),
        &key,
        &Policy::default_preset(),
    );
    // Both texts redact to "Wire the refund to <redacted:email>": the match cannot speak for the
    // redacted part, and says so.
    match &r {
        Ok(proof @ ContentProof::Match { unproven, .. }) => {
            assert_eq!(unproven, &["email"]);
            assert!(proof.to_string().contains("not proven"), "{proof}");
        }
        other => panic!("{other:?}"),
    }
}

/// R6: token counts that are not non-negative integers give no cost, with a reason, rather than
/// a cost computed from zero tokens.
#[test]
fn r6_odd_token_counts_are_not_priced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let (sub, guard) = genai_subscriber(&path, GenAiCapture::default());
    in_decision(sub, || {
        tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = "gpt-4o",
            gen_ai.usage.input_tokens = 1_000_000.5f64,
            gen_ai.usage.output_tokens = 10u64,
        )
        .in_scope(|| {});
        tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = "gpt-4o",
            gen_ai.usage.input_tokens = "1,000,000",
            gen_ai.usage.output_tokens = 10u64,
        )
        .in_scope(|| {});
    });
    guard.flush().unwrap();
    let e = entries(&path);
    for c in of_type(&e, "llm_call") {
        let p = &c["payload"];
        println!(
            "usage {} cost {} basis {}",
            p["usage"], p["cost"], p["cost_basis"]
        );
        assert!(
            p["cost"].is_null(),
            "an unparseable input count was priced: {}",
            p["cost"]
        );
        assert_eq!(
            p["cost_basis"]["reason"],
            "usage.input_tokens is not a token count"
        );
    }
}

/// R7: a small reported cost (a float below 1e-4) is written as a plain decimal, so the decision
/// totals count it.
#[test]
fn r7_small_reported_cost_counts_in_totals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let (sub, guard) = genai_subscriber(&path, GenAiCapture::default());
    in_decision(sub, || {
        tracing::info_span!(
            "embeddings",
            gen_ai.operation.name = "embeddings",
            gen_ai.request.model = "text-embedding-3-small",
            gen_ai.usage.input_tokens = 2_000u64,
            gen_ai.usage.cost = 0.00004f64,
        )
        .in_scope(|| {});
    });
    guard.flush().unwrap();
    let e = entries(&path);
    let call = &of_type(&e, "llm_call")[0]["payload"];
    let end = &of_type(&e, "decision_end")[0]["payload"];
    assert_eq!(call["cost"], "0.00004 USD");
    assert_eq!(end["cost"], "0.00004 USD");
    assert_eq!(end["uncosted_calls"], serde_json::Value::Null, "{end}");
}

/// R8: an alias whose target is not lower case resolves (ids are matched lower-cased).
#[test]
fn r8_alias_target_case() {
    let t = PriceTable::from_json_str(
        r#"{"format": "acttrace-prices/1", "version": "v", "currency": "USD",
            "aliases": {"prod-chat": "Acme-LLM"},
            "models": {"Acme-LLM": {"input": "1", "output": "2"}}}"#,
        "t.json",
    )
    .unwrap();
    assert!(t.resolve("Acme-LLM").is_some());
    assert!(
        t.resolve("prod-chat").is_some(),
        "alias to a mixed-case id is dead"
    );
}

/// R9: a dated snapshot missing from the table is priced as its base model, and the cost says so
/// (gpt-4o-2024-05-13 listed at $5/M input, not gpt-4o's $2.50).
#[test]
fn r9_dated_snapshot_priced_as_base_is_noted() {
    let t = PriceTable::embedded();
    let usage = acttrace::genai::TokenUsage {
        input: 1_000,
        ..Default::default()
    };
    let cost = t.cost("gpt-4o-2024-05-13", &usage).unwrap();
    assert_eq!(cost.model, "gpt-4o");
    assert!(
        cost.notes.iter().any(|n| n.contains("priced as gpt-4o")),
        "{:?}",
        cost.notes
    );
}

/// R10: a decision span that also carries GenAI content follows the content mode too.
#[test]
fn r10_decision_span_with_genai_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let (sub, guard) = genai_subscriber(
        &path,
        GenAiCapture::default().messages(ContentCapture::None),
    );
    tracing::subscriber::with_default(sub, || {
        let d = tracing::info_span!(
            "agent",
            audit.decision = "x",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.input.messages = "SECRET-DECISION-PROMPT"
        );
        let _d = d.enter();
    });
    guard.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains("SECRET-DECISION-PROMPT"),
        "prompt kept in `none` mode"
    );
}

/// Issue #12 item 10: a claimed text that carries the writer's placeholders (`<redacted:email>`)
/// matches the digest, since the writer digested the placeholder; the proof says what it does not
/// cover, from the log's own `policy_flag` for the entry and from the placeholders in the text.
#[test]
fn issue12_item10_a_text_with_placeholders_matches_with_what_is_not_proven() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    digest_log(
        &path,
        GenAiCapture::default().messages(ContentCapture::Digest),
        Some(KEY),
        "Wire the refund to alice@example.com",
    );
    let seq = llm_seq(&path);
    let key = SigningKey::from_bytes(KEY).unwrap();
    let r = prove_content(
        &path,
        seq,
        "input_messages",
        "Wire the refund to <redacted:email>",
        Some(&key),
        &key,
        &Policy::default_preset(),
    );
    match &r {
        Ok(
            proof @ ContentProof::Match {
                unproven,
                redacted_by_writer,
                placeholders,
                ..
            },
        ) => {
            // Nothing in the claimed text itself was redacted...
            assert!(unproven.is_empty(), "{proof:?}");
            // ...but the log records that the writer redacted an email from this entry, and
            // the text stands a placeholder where it was.
            assert_eq!(redacted_by_writer, &["email"]);
            assert_eq!(placeholders, &["email"]);
            let text = proof.to_string();
            assert!(
                text.contains("not proven: what the writer redacted"),
                "{text}"
            );
            assert!(text.contains("<redacted:email>"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

/// Issue #12 item 11 (prove-content part): its errors speak of proving, not of appending (the
/// writer's `Error::CorruptLog` wording), and still name the file and the seq.
#[test]
fn issue12_item11_prove_content_errors_have_their_own_wording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    digest_log(
        &path,
        GenAiCapture::default().messages(ContentCapture::Digest),
        Some(KEY),
        "hello",
    );
    let key = SigningKey::from_bytes(KEY).unwrap();
    let wrong = SigningKey::from_bytes("not-the-key").unwrap();
    let prove = |seq: u64, signing: &SigningKey| {
        prove_content(
            &path,
            seq,
            "input_messages",
            "hello",
            Some(signing),
            &key,
            &Policy::default_preset(),
        )
        .unwrap_err()
        .to_string()
    };
    let name = path.display().to_string();
    for (message, expected) in [
        (prove(llm_seq(&path), &wrong), "the log does not verify"),
        (prove(999, &key), "the log has no entry with seq 999"),
        (prove(0, &key), "(seq 0): the entry has no `input_messages`"),
    ] {
        assert!(!message.contains("refusing to append"), "{message}");
        assert!(
            message.starts_with(&format!("cannot prove content from {name}: ")),
            "{message}"
        );
        assert!(message.contains(expected), "{message}");
    }
}
