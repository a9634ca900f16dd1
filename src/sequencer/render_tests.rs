//! The render thread (`render_thread.rs`): the same records give the same chain with it as
//! without it, byte for byte once time, hashes, signatures and random ids are masked; every
//! line it helped render hashes to what its own parsed content gives; and a panic in a redactor
//! running there reaches the sequencer's thread instead of hanging it.

use std::collections::HashMap;
use std::sync::Arc;

use crossbeam_channel::bounded;
use sha2::{Digest, Sha256};

use super::render_thread::CHUNK_ITEMS;
use super::tests::FailingWriter;
use super::tests::sequencer;
use super::{Redaction, Sequencer};
use crate::chain::{GENESIS, HashAlg, SealedEntry, Sealer, SigningKey, entry_hash};
use crate::error::Error;
use crate::json::{self, Value};
use crate::queue::{Msg, QueueFullPolicy};
use crate::record::{ChainedEntry, FieldValue};
use crate::redact::{BuiltinRedactor, Policy, Redactor, Report};
use crate::writer::Durability;

const KEY: &str = "render-key-0123456789";

/// A sequencer writing to `writer` (whose line limit is set first) with the built-in redactor
/// (flags on) and a signing key.
fn signed_sequencer(writer: &FailingWriter) -> Sequencer {
    let (mut seq, _queue, _log, _rx) = sequencer(writer, QueueFullPolicy::Block);
    seq.redaction = Redaction {
        redactor: Arc::new(BuiltinRedactor::new(Policy::default_preset())),
        content_strict: Arc::new(BuiltinRedactor::new(Policy::default_preset())),
        auto_flag: true,
    };
    let key = SigningKey::from_bytes(KEY).unwrap();
    seq.sealer = Sealer::new(HashAlg::Sha256, Some(&key));
    seq
}

fn s(text: &str) -> FieldValue {
    FieldValue::Str(text.into())
}

/// One decision of many shapes: a nested decision, redaction hits (and their flags), a model
/// call (totals), an explicit entry (its reply), a record, an outcome, an entry too long for
/// the writer's line limit (`big`), and the closes.
fn decision(
    i: u64,
    big: bool,
    replies: &mut Vec<crossbeam_channel::Receiver<Result<ChainedEntry, Error>>>,
) -> Vec<Msg> {
    let (outer, inner) = (2 * i + 1, 2 * i + 2);
    let (reply, answer) = bounded(1);
    replies.push(answer);
    let mut msgs = vec![
        Msg::DecisionOpen {
            span: outer,
            parent: None,
            name: "decide",
            fields: vec![
                ("audit.decision", s("loan")),
                ("applicant", FieldValue::U64(i)),
                (
                    "note",
                    s(&format!(
                        "mail bob{i}@example.com about card 4111 1111 1111 1111"
                    )),
                ),
            ],
        },
        Msg::DecisionOpen {
            span: inner,
            parent: Some(outer),
            name: "check",
            fields: vec![
                ("audit.decision", FieldValue::Bool(true)),
                ("step", FieldValue::I64(-(i as i64))),
            ],
        },
        Msg::Event {
            kind: "llm_call".into(),
            decision: Some(inner),
            fields: vec![
                ("model", s("gpt-4o")),
                ("input_tokens", FieldValue::U64(800 + i)),
                ("output_tokens", FieldValue::U64(64)),
                ("cost", s("0.0123 USD")),
                ("latency_ms", FieldValue::F64(412.5 + i as f64 / 8.0)),
                (
                    "prompt",
                    s(&format!("line one\nline \"two\" {i}\tand \u{1} é \u{2028}")),
                ),
            ],
            reply: None,
        },
        Msg::DecisionClose {
            span: inner,
            duration: std::time::Duration::from_micros(1_000 + i),
        },
        Msg::Event {
            kind: "tool_call".into(),
            decision: Some(outer),
            fields: vec![
                ("name", s("credit_score")),
                (
                    "arguments",
                    FieldValue::Json(
                        json::parse(&format!(r#"{{"applicant": {i}, "ssn": "123-45-6789"}}"#))
                            .unwrap(),
                    ),
                ),
            ],
            reply: Some(reply),
        },
        Msg::DecisionRecord {
            span: outer,
            fields: vec![
                ("note", s("reviewed")),
                ("score", FieldValue::F64(0.1 + i as f64)),
            ],
        },
        Msg::DecisionOutcome {
            span: outer,
            field: "return",
            value: s("approved"),
        },
    ];
    if i % 10 == 3 {
        // GenAI content on a decision, and a GenAI span in it: both sealed by the sequencer
        // itself, after everything handed over before them.
        msgs.push(Msg::DecisionRecord {
            span: outer,
            fields: vec![
                ("gen_ai.input.messages", s(&format!("[\"hello {i}\"]"))),
                ("step", FieldValue::U64(i)),
            ],
        });
        msgs.push(Msg::GenAi {
            name: "chat gpt-4o",
            spans: crate::genai::SpanIds {
                span: Some(1_000_000 + i),
                parent: None,
            },
            decision: Some(outer),
            fields: vec![
                ("gen_ai.operation.name", s("chat")),
                ("gen_ai.request.model", s("gpt-4o")),
                ("gen_ai.usage.input_tokens", FieldValue::U64(5)),
                ("gen_ai.usage.output_tokens", FieldValue::U64(2)),
            ],
            duration: Some(std::time::Duration::from_millis(3)),
        });
    }
    if big {
        msgs.push(Msg::Event {
            kind: "context".into(),
            decision: Some(outer),
            fields: vec![("document", s(&"x".repeat(70_000)))],
            reply: None,
        });
    }
    msgs.push(Msg::DecisionClose {
        span: outer,
        duration: std::time::Duration::from_millis(i),
    });
    msgs
}

/// Runs `decisions` decisions (every 40th with an oversized entry) through a sequencer,
/// committing every 200 and with a flush whose commit fails in the middle (its batch is lost
/// and a `gap` records it), and returns the committed lines and the explicit entries' answers.
fn run(decisions: u64, render_thread: bool) -> (Vec<String>, Vec<Result<ChainedEntry, Error>>) {
    let writer = FailingWriter::default();
    writer.store().max_entry = Some(64 * 1024);
    let mut seq = signed_sequencer(&writer);
    if render_thread {
        seq.start_render_thread(true);
        assert!(seq.render.is_some(), "the render thread starts");
    }
    let mut replies = Vec::new();
    for i in 0..decisions {
        if i % 200 == 199 {
            seq.commit(Durability::Written).unwrap();
        }
        if i == decisions / 2 {
            writer.store().fail_commits = 1;
            let (tx, rx) = bounded(1);
            assert!(seq.handle(Msg::Flush(tx)).is_none());
            assert!(rx.recv().unwrap().is_err(), "the failed flush reports it");
        }
        for m in decision(i, i % 40 == 7, &mut replies) {
            assert!(seq.handle(m).is_none());
        }
    }
    seq.commit(Durability::Synced).unwrap();
    let answers = replies.iter().map(|r| r.recv().unwrap()).collect();
    let lines = writer.store().committed_lines.clone();
    (lines, answers)
}

/// The line with the values that differ from run to run replaced by `X`.
pub(super) fn masked(line: &str) -> String {
    let mut line = line.to_owned();
    for field in [
        "ts",
        "prev_hash",
        "hash",
        "sig",
        "decision_id",
        "parent_decision_id",
        "entries_digest",
    ] {
        let tag = format!("\"{field}\": \"");
        let mut from = 0;
        while let Some(start) = line[from..].find(&tag).map(|i| from + i + tag.len()) {
            let end = start + line[start..].find('"').unwrap();
            line.replace_range(start..end, "X");
            from = start;
        }
    }
    line
}

#[test]
fn the_render_thread_gives_the_chain_the_sequencer_gives_alone() {
    // 1,600 decisions: over 14,000 records, 1,800 between commits, so chunks are handed over
    // and the sequencer also waits for the thread when it is `IN_FLIGHT` chunks behind.
    let (alone, alone_answers) = run(1_600, false);
    let (threaded, threaded_answers) = run(1_600, true);
    assert!(threaded.len() > 12_000, "{} lines", threaded.len());
    assert_eq!(alone.len(), threaded.len());
    for (i, (a, b)) in alone.iter().zip(&threaded).enumerate() {
        assert_eq!(masked(a), masked(b), "line {i}");
    }
    // What the flags, the gap, the oversized entries and the replies recorded is there.
    let count = |kind: &str| {
        threaded
            .iter()
            .filter(|l| l.contains(&format!("\"type\": \"{kind}\"")))
            .count()
    };
    assert!(
        count("policy_flag") > 3_200,
        "{} flags",
        count("policy_flag")
    );
    assert_eq!(count("gap"), 1);
    // GenAI: one decision in ten recorded content (left out by default, its mode noted) and
    // ran a model call.
    assert!(
        threaded
            .iter()
            .filter(|l| l.contains("\"content_capture\""))
            .count()
            >= 155
    );
    assert!(
        threaded
            .iter()
            .filter(|l| l.contains("\"source\": \"gen_ai\""))
            .count()
            >= 155
    );
    // Two per decision, less the two of the decision in the batch the failed flush lost.
    assert_eq!(count("decision_end"), 3_198);
    assert!(
        threaded
            .iter()
            .all(|l| !l.contains("4111 1111") && !l.contains("123-45-6789"))
    );
    // 40 decisions with a 70,000-byte field: each sealed with it replaced by its digest.
    assert_eq!(
        threaded
            .iter()
            .filter(|l| l.contains("oversized field /document (70000 bytes) replaced"))
            .count(),
        40
    );
    assert_eq!(alone_answers.len(), threaded_answers.len());
    for (a, b) in alone_answers.iter().zip(&threaded_answers) {
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a.seq, b.seq),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!("answers differ: {a:?} / {b:?}"),
        }
    }
}

/// Line `i`'s entry (parsed into `v`) sealed again after `prev` by the reference path
/// (`SealedEntry::seal`), for its line to be compared with the one written.
fn resealed(i: usize, v: &Value, key: &SigningKey, prev: &str) -> SealedEntry {
    let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    SealedEntry::seal(
        HashAlg::Sha256,
        Some(key),
        i as u64,
        get("ts").as_str().unwrap().to_owned(),
        get("type").as_str().unwrap().to_owned(),
        get("payload"),
        prev.to_owned(),
    )
}

#[test]
fn every_line_rendered_ahead_hashes_and_signs_as_its_content_says() {
    let (lines, _) = run(300, true);
    let key = SigningKey::from_bytes(KEY).unwrap();
    let mut prev = GENESIS.to_owned();
    // Each decision's entries so far, `(seq, raw hash)`, for its `entries_digest`.
    let mut members: HashMap<String, Vec<(u64, [u8; 32])>> = HashMap::new();
    let mut ends = 0;
    for (i, line) in lines.iter().enumerate() {
        let v = json::parse(line.trim_end()).unwrap_or_else(|e| panic!("line {i}: {e}"));
        let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        assert_eq!(get("seq"), Value::from(i as u64));
        assert_eq!(get("prev_hash").as_str(), Some(prev.as_str()), "line {i}");
        let hash = entry_hash(
            HashAlg::Sha256,
            &prev,
            &get("seq"),
            &get("ts"),
            &get("type"),
            &get("payload"),
        );
        assert_eq!(get("hash").as_str(), Some(hash.as_str()), "line {i}");
        assert_eq!(
            get("sig").as_str(),
            Some(key.sign(&hash).as_str()),
            "line {i}"
        );
        // The line is what the reference writer's `json.dumps` gives for the same entry.
        let entry = resealed(i, &v, &key, &prev);
        assert_eq!(entry.to_line(), *line, "line {i}");
        // docs/FORMAT.md 5.3: SHA-256 over seq (8 bytes, big-endian) and raw hash of each
        // entry of the decision before its end, a nested decision's opening counting for its
        // parent too.
        let payload = get("payload");
        let id = payload
            .get("decision_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if get("type").as_str() == Some("decision_end") {
            let id = id.clone().unwrap();
            let entries = members.remove(&id).unwrap_or_default();
            let mut h = Sha256::new();
            for (seq, raw) in &entries {
                h.update(seq.to_be_bytes());
                h.update(raw);
            }
            let want = crate::hex::to_hex(&h.finalize());
            assert_eq!(
                payload.get("entries_digest").and_then(Value::as_str),
                Some(want.as_str()),
                "line {i}"
            );
            assert_eq!(
                payload.get("entries_count"),
                Some(&Value::from(entries.len() as u64)),
                "line {i}"
            );
            ends += 1;
        } else {
            let raw = crate::hex::from_hex64(hash.as_bytes()).unwrap();
            let parent = payload.get("parent_decision_id").and_then(Value::as_str);
            let parent = parent.filter(|_| get("type").as_str() == Some("decision"));
            for owner in [id.as_deref(), parent].into_iter().flatten() {
                members
                    .entry(owner.to_owned())
                    .or_default()
                    .push((i as u64, raw));
            }
        }
        prev = hash;
    }
    assert!(ends > 200, "{ends} decision ends checked");
}

/// Reshapes `decision_end` payloads (those with an `outcome`) as a custom redactor may: every
/// other one into a string (which leaves the log's own `decision_id` alone in it), the rest with
/// a member whose key sorts where the digest's go.
#[derive(Default)]
struct EndReshaper(std::sync::atomic::AtomicUsize);

impl Redactor for EndReshaper {
    fn redact(&self, value: &mut Value) -> Report {
        if let Value::Object(fields) = value
            && fields.iter().any(|(k, _)| k == "outcome")
        {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n.is_multiple_of(2) {
                *value = Value::from("withheld");
            } else {
                fields.push(("entries_d".into(), Value::from(1u64)));
            }
        }
        Report::new()
    }
}

#[test]
fn a_decision_end_a_custom_redactor_reshaped_is_sealed_whole() {
    // A payload holding a key where the digest's members sort cannot be rendered ahead left
    // open for them, and the sealer renders it; one left with the decision id alone is left
    // open as any other. Either way the chain is as the format says.
    let writer = FailingWriter::default();
    let mut seq = signed_sequencer(&writer);
    seq.redaction.redactor = Arc::new(EndReshaper::default());
    seq.redaction.auto_flag = false;
    seq.start_render_thread(true);
    for i in 0..400u64 {
        seq.handle(Msg::DecisionOpen {
            span: i + 1,
            parent: None,
            name: "decide",
            fields: vec![("audit.decision", s("loan"))],
        });
        seq.handle(Msg::Event {
            kind: "tool_call".into(),
            decision: Some(i + 1),
            fields: vec![("name", s("score"))],
            reply: None,
        });
        seq.handle(Msg::DecisionClose {
            span: i + 1,
            duration: std::time::Duration::from_millis(i),
        });
    }
    seq.commit(Durability::Synced).unwrap();
    let lines = writer.store().committed_lines.clone();
    let key = SigningKey::from_bytes(KEY).unwrap();
    let mut prev = GENESIS.to_owned();
    let (mut emptied, mut extended) = (0, 0);
    for (i, line) in lines.iter().enumerate() {
        let v = json::parse(line.trim_end()).unwrap_or_else(|e| panic!("line {i}: {e}"));
        let get = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        let entry = resealed(i, &v, &key, &prev);
        assert_eq!(entry.to_line(), *line, "line {i}");
        if get("type").as_str() == Some("decision_end") {
            let payload = get("payload");
            let Value::Object(fields) = &payload else {
                panic!("line {i}: {payload:?}");
            };
            let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            // The decision and its tool call.
            assert_eq!(
                payload.get("entries_count"),
                Some(&Value::from(2u64)),
                "line {i}"
            );
            if keys.contains(&"entries_d") {
                extended += 1;
            } else {
                assert_eq!(
                    keys,
                    ["decision_id", "entries_count", "entries_digest"],
                    "line {i}"
                );
                emptied += 1;
            }
        }
        prev = entry.hash;
    }
    assert_eq!((emptied, extended), (200, 200));
}

/// Panics on a payload holding `boom`, as a faulty custom redactor might.
struct PanickingRedactor;

impl Redactor for PanickingRedactor {
    fn redact(&self, value: &mut Value) -> Report {
        if json::to_line_string(value).contains("boom") {
            panic!("redactor failed on purpose");
        }
        Report::new()
    }
}

#[test]
fn a_redactor_panic_on_the_render_thread_reaches_the_sequencer() {
    let writer = FailingWriter::default();
    let mut seq = signed_sequencer(&writer);
    seq.redaction.redactor = Arc::new(PanickingRedactor);
    seq.start_render_thread(true);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for i in 0..2_000 {
            let text = if i == 700 { "boom" } else { "fine" };
            let m = Msg::Event {
                kind: "tool_call".into(),
                decision: None,
                fields: vec![("name", s(text))],
                reply: None,
            };
            seq.handle(m);
        }
        seq.commit(Durability::Synced)
    }));
    let panic = result.expect_err("the panic is resumed on the sequencer's thread");
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert_eq!(message, "redactor failed on purpose");
    // Nothing after the panic was committed: the records before it were never committed
    // either (their batch was still open), as when the sequencer redacted them itself.
    assert!(writer.store().committed_lines.is_empty());
}

/// One step of a generated script (see `scripts_give_the_same_chain_with_and_without_the_thread`).
#[derive(Clone, Debug)]
enum Step {
    /// Opens a decision, nested in the innermost open one when `nested`.
    Open { nested: bool },
    /// An event of this kind in the innermost open decision (or none), explicit or not, with a
    /// text that may hold a secret.
    Event {
        kind: &'static str,
        explicit: bool,
        text: u8,
    },
    /// A model call in the innermost open decision.
    ModelCall,
    /// Fields recorded on the innermost open decision, GenAI content among them or not.
    Record { content: bool },
    /// The innermost open decision's outcome.
    Outcome,
    /// Closes the innermost open decision.
    Close,
    /// A flush whose commit fails or not.
    Flush { fail: bool },
    /// A commit, as when the queue runs dry.
    Commit,
    /// An event longer than the writer's line limit.
    Oversized,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        60 => any::<bool>().prop_map(|nested| Step::Open { nested }),
        200 => (
            prop::sample::select(vec!["tool_call", "human_oversight", "context", "policy_flag"]),
            prop::bool::weighted(0.1),
            0u8..4
        )
            .prop_map(|(kind, explicit, text)| Step::Event { kind, explicit, text }),
        60 => Just(Step::ModelCall),
        // GenAI content is sealed by the sequencer after settling: rare enough to leave runs
        // long enough for chunks.
        40 => prop::bool::weighted(0.05).prop_map(|content| Step::Record { content }),
        20 => Just(Step::Outcome),
        60 => Just(Step::Close),
        1 => prop::bool::weighted(0.3).prop_map(|fail| Step::Flush { fail }),
        1 => Just(Step::Commit),
        4 => Just(Step::Oversized),
    ]
}

/// Runs a script through a sequencer, with the render thread or without, and returns the
/// committed lines, then the explicit entries' answers (`Ok(seq)` or the error's text) and the
/// flushes' (`Ok(next seq)` or the error's text), and how many chunks went to the thread.
fn run_script(
    steps: &[Step],
    render_thread: bool,
) -> (Vec<String>, Vec<Result<u64, String>>, usize) {
    let writer = FailingWriter::default();
    writer.store().max_entry = Some(32 * 1024);
    let mut seq = signed_sequencer(&writer);
    if render_thread {
        seq.start_render_thread(true);
    }
    let mut open: Vec<u64> = Vec::new();
    let mut next_span = 1;
    let mut answers = Vec::new();
    let mut flushes = Vec::new();
    let texts = [
        "plain words",
        "mail carol@example.com",
        "card 4111 1111 1111 1111",
        "line\nbreak \"quoted\" \u{7} é",
    ];
    for (i, step) in steps.iter().enumerate() {
        let current = open.last().copied();
        let msg = match step {
            Step::Open { nested } => {
                let span = next_span;
                next_span += 1;
                let parent = if *nested { current } else { None };
                open.push(span);
                Msg::DecisionOpen {
                    span,
                    parent,
                    name: "step",
                    fields: vec![
                        ("audit.decision", s("generated")),
                        ("i", FieldValue::U64(i as u64)),
                    ],
                }
            }
            Step::Event {
                kind,
                explicit,
                text,
            } => {
                let reply = explicit.then(|| {
                    let (tx, rx) = bounded(1);
                    answers.push(rx);
                    tx
                });
                Msg::Event {
                    kind: (*kind).into(),
                    decision: current,
                    fields: vec![
                        ("text", s(texts[*text as usize])),
                        ("i", FieldValue::U64(i as u64)),
                    ],
                    reply,
                }
            }
            Step::ModelCall => Msg::Event {
                kind: "llm_call".into(),
                decision: current,
                fields: vec![
                    ("model", s("gpt-4o")),
                    ("input_tokens", FieldValue::U64(i as u64)),
                    ("output_tokens", FieldValue::U64(3)),
                ],
                reply: None,
            },
            Step::Record { content } => {
                let Some(span) = current else { continue };
                let mut fields = vec![("note", s(texts[i % texts.len()]))];
                if *content {
                    fields.push(("gen_ai.input.messages", s("[\"hi\"]")));
                }
                Msg::DecisionRecord { span, fields }
            }
            Step::Outcome => {
                let Some(span) = current else { continue };
                Msg::DecisionOutcome {
                    span,
                    field: "return",
                    value: s(texts[i % texts.len()]),
                }
            }
            Step::Close => {
                let Some(span) = open.pop() else { continue };
                Msg::DecisionClose {
                    span,
                    duration: std::time::Duration::from_micros(i as u64),
                }
            }
            Step::Flush { fail } => {
                writer.store().fail_commits = usize::from(*fail);
                let (tx, rx) = bounded(1);
                assert!(seq.handle(Msg::Flush(tx)).is_none());
                // An empty batch commits nothing: the failure then falls on a later commit.
                flushes.push(
                    rx.recv()
                        .unwrap()
                        .map(|tip| tip.next_seq)
                        .map_err(|e| e.to_string()),
                );
                continue;
            }
            Step::Commit => {
                let _ = seq.commit(Durability::Written);
                continue;
            }
            Step::Oversized => Msg::Event {
                kind: "context".into(),
                decision: current,
                fields: vec![("document", s(&"y".repeat(40_000)))],
                reply: None,
            },
        };
        assert!(seq.handle(msg).is_none());
    }
    while let Some(span) = open.pop() {
        seq.handle(Msg::DecisionClose {
            span,
            duration: std::time::Duration::ZERO,
        });
    }
    // A failure injected by the last flush may fall on this commit; the next one succeeds.
    if seq.commit(Durability::Synced).is_err() {
        seq.commit(Durability::Synced).unwrap();
    }
    let mut answers: Vec<_> = answers
        .iter()
        .map(|rx| match rx.recv().unwrap() {
            Ok(e) => Ok(e.seq),
            Err(e) => Err(e.to_string()),
        })
        .collect();
    answers.extend(flushes);
    let lines = writer.store().committed_lines.clone();
    let chunks = seq.render.as_ref().map_or(0, |r| r.handed_over());
    (lines, answers, chunks)
}

/// Any script of records, flushes (failing or not) and commits gives the same chain and the
/// same answers with the render thread as without it. Commits and GenAI content (which the
/// sequencer seals after settling) are rare enough in the scripts (about one step in 150) for
/// chunks to be handed over; the test checks that they were.
#[test]
fn scripts_give_the_same_chain_with_and_without_the_thread() {
    use proptest::test_runner::{Config, RngSeed, TestRunner};
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5e9),
        ..Config::default()
    });
    let scripts = proptest::collection::vec(step(), 300..2_000);
    let handed_over = std::cell::Cell::new(0);
    runner
        .run(&scripts, |steps| {
            let (alone, alone_answers, _) = run_script(&steps, false);
            let (threaded, threaded_answers, chunks) = run_script(&steps, true);
            handed_over.set(handed_over.get() + chunks);
            proptest::prop_assert_eq!(alone.len(), threaded.len());
            for (i, (a, b)) in alone.iter().zip(&threaded).enumerate() {
                proptest::prop_assert_eq!(masked(a), masked(b), "line {}", i);
            }
            proptest::prop_assert_eq!(alone_answers, threaded_answers);
            Ok(())
        })
        .unwrap();
    let handed_over = handed_over.get();
    assert!(handed_over > 24, "{handed_over} chunks handed over in all");
}

/// A `tool_call` event named `name`, handed over unshaped.
fn named_call(name: &str) -> Msg {
    Msg::Event {
        kind: "tool_call".into(),
        decision: None,
        fields: vec![("name", s(name))],
        reply: None,
    }
}

#[test]
fn a_full_batch_is_begun_without_waiting_for_the_records_out_on_the_render_thread() {
    let writer = FailingWriter::beginning_commits();
    let mut seq = signed_sequencer(&writer);
    seq.start_render_thread(true);
    let names: Vec<String> = (0..3 * CHUNK_ITEMS + 5).map(|i| format!("t{i}")).collect();
    // Two chunks sealed; then a third handed over and five records in the chunk being filled.
    for name in &names[..2 * CHUNK_ITEMS] {
        seq.handle(named_call(name));
    }
    seq.settle();
    for name in &names[2 * CHUNK_ITEMS..] {
        seq.handle(named_call(name));
    }
    let sealed = seq.batch_entries;
    assert!(sealed >= 2 * CHUNK_ITEMS, "{sealed}");
    assert!(
        seq.deferred() >= 5,
        "the filling chunk is not handed over yet"
    );
    // Nothing to checkpoint: the records stay where they are.
    let deferred = seq.deferred();
    seq.checkpoint_if_due(false).unwrap();
    assert_eq!(seq.deferred(), deferred);

    seq.commit_full_batch(Durability::Synced).unwrap();
    let begun = seq.begun.as_ref().expect("a plain batch is begun");
    assert_eq!(
        begun.entries, sealed,
        "only what was sealed is in the begun batch"
    );
    assert!(seq.deferred() >= 5, "what is out stays out");

    // The rest is sealed onto the begun batch, in arrival order, and commits after it.
    seq.commit(Durability::Synced).unwrap();
    assert_eq!(
        writer.store().commits,
        [
            (sealed, Durability::Synced),
            (names.len() - sealed, Durability::Synced)
        ]
    );
    let lines = writer.store().committed_lines.clone();
    let got: Vec<String> = lines
        .iter()
        .map(|l| {
            let v = json::parse(l.trim_end()).unwrap();
            let name = v.get("payload").and_then(|p| p.get("name")).cloned();
            name.and_then(|n| n.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(got, names);
    writer.assert_linked();
}
