//! The audit layer end to end: decisions, attribution, concurrency, persistence.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::writer::{ChainWriter, Durability, ExistingChain};
use acttrace::{
    AuditLayer, ChainTip, Error, FlagAction, HashAlg, MemoryWriter, SealedEntry, Severity,
    SigningKey, SyncPolicy,
};
use common::*;
use tracing::instrument;
use tracing_subscriber::prelude::*;

#[instrument(skip_all, fields(audit.decision = "outer", actor = "agent", input = %question))]
fn outer(question: &str) -> u32 {
    acttrace::llm_call!(
        provider = "openai",
        model = "gpt-4o",
        input_tokens = 10u64,
        output_tokens = 2u64
    );
    let step = tracing::info_span!("retrieval-step");
    let _e = step.enter();
    acttrace::tool_call!(name = "search", arguments = "{}");
    inner(7)
}

#[instrument(skip_all, fields(audit.decision = "inner"), ret)]
fn inner(x: u32) -> u32 {
    acttrace::oversight!(reviewer = "alice", action = "approved");
    x * 6
}

#[instrument(skip_all, fields(audit.decision), err)]
fn failing() -> Result<(), String> {
    Err("model refused".into())
}

#[test]
fn decisions_nest_and_events_find_their_nearest_decision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || {
        assert_eq!(outer("why?"), 42);
        let _ = failing();
    });
    let tip = guard.flush().unwrap();
    let es = entries(&path);
    assert_eq!(
        types(&es),
        [
            "audit_open",
            "decision",
            "llm_call",
            "tool_call",
            "decision",
            "human_oversight",
            "decision_end",
            "decision_end",
            "decision",
            "decision_end"
        ]
    );
    let outer_id = es[1]["payload"]["decision_id"].as_str().unwrap();
    let inner_id = es[4]["payload"]["decision_id"].as_str().unwrap();
    assert_eq!(outer_id.len(), 32);
    assert_ne!(outer_id, inner_id);
    assert_eq!(es[1]["payload"]["name"], "outer");
    assert_eq!(es[1]["payload"]["actor"], "agent");
    assert_eq!(es[1]["payload"]["input"], "why?");
    assert!(es[1]["payload"].get("parent_decision_id").is_none());
    assert_eq!(es[2]["payload"]["decision_id"], outer_id);
    assert_eq!(es[2]["payload"]["usage"]["input_tokens"], 10);
    // Through an ordinary intermediate span.
    assert_eq!(es[3]["payload"]["decision_id"], outer_id);
    assert_eq!(es[4]["payload"]["parent_decision_id"], outer_id);
    assert_eq!(es[5]["payload"]["decision_id"], inner_id);
    // `ret` gives the outcome; the inner decision closes before the outer one.
    assert_eq!(es[6]["payload"]["decision_id"], inner_id);
    assert_eq!(es[6]["payload"]["outcome"], "ok");
    assert_eq!(es[6]["payload"]["result"], "42");
    assert!(es[6]["payload"]["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(es[7]["payload"]["decision_id"], outer_id);
    // Issue #15 §4: a decision that returned with no error reported is `ok`.
    assert_eq!(es[7]["payload"]["outcome"], "ok");
    assert!(es[7]["payload"].get("result").is_none());
    // `err` gives a failed outcome; issue #15 §4: a bare `audit.decision` marker is named
    // after its span (the function).
    assert_eq!(es[8]["payload"]["name"], "failing");
    assert_eq!(es[9]["payload"]["outcome"], "error");
    assert_eq!(es[9]["payload"]["error"], "model refused");
    assert_verifies(&path, &tip);
}

#[test]
fn fields_recorded_later_become_decision_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || {
        let span = tracing::info_span!(
            "d",
            audit.decision = "loan",
            score = tracing::field::Empty,
            decision_id = 5
        );
        span.record("score", 0.87);
        span.record("undeclared", 1); // dropped by tracing itself
        drop(span);
    });
    guard.flush().unwrap();
    let es = entries(&path);
    assert_eq!(
        types(&es),
        ["audit_open", "decision", "decision_record", "decision_end"]
    );
    // A user field named like one of ours is kept, renamed, rather than clobbering ours.
    assert_eq!(es[1]["payload"]["field.decision_id"], 5);
    assert_eq!(es[2]["payload"]["score"], 0.87);
    assert_eq!(
        es[2]["payload"]["decision_id"],
        es[1]["payload"]["decision_id"]
    );
}

#[test]
fn ordinary_events_and_spans_are_not_audited_but_audit_events_outside_decisions_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || {
        tracing::info!(user = "x", "hello");
        let s = tracing::info_span!("plain", a = 1);
        let _e = s.enter();
        tracing::warn!("still not audited");
        acttrace::cost!(item = "embeddings", amount = "0.000130", currency = "USD");
        tracing::event!(
            tracing::Level::INFO,
            audit.kind = "tool.call",
            name = "via-kind-field"
        );
        tracing::event!(tracing::Level::INFO, audit.kind = "model_eval", score = 3);
        tracing::event!(
            tracing::Level::INFO,
            audit.kind = "decision_end",
            forged = true
        );
        // `retention` is graded by its payload in the export mappings (`early_deletion`): an
        // application event must not pose as one.
        tracing::event!(
            tracing::Level::INFO,
            audit.kind = "retention",
            early_deletion = true
        );
    });
    guard.flush().unwrap();
    let es = entries(&path);
    assert_eq!(
        types(&es),
        [
            "audit_open",
            "cost",
            "tool_call",
            "model_eval",
            "audit_event",
            "audit_event"
        ]
    );
    for e in &es[1..] {
        assert!(e["payload"]["decision_id"].is_null());
    }
    assert_eq!(es[1]["payload"]["amount"], "0.000130");
    assert_eq!(es[2]["payload"]["name"], "via-kind-field");
    // A user event cannot claim a type the log writes itself.
    assert_eq!(es[4]["payload"]["forged"], true);
}

#[test]
fn every_macro_makes_its_entry_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || {
        let d = tracing::info_span!("d", audit.decision = "m");
        let _e = d.enter();
        acttrace::llm_call!(
            model = "m",
            usage.cache_write = 3u64,
            reasoning_tokens = 4u64
        );
        acttrace::tool_call!(name = "t");
        acttrace::oversight!(reviewer = "r", action = "approved", note = "n");
        acttrace::policy_flag!(
            reason = "x",
            action = "flagged",
            severity = "info",
            data = "email"
        );
        acttrace::cost!(amount = "1.00", currency = "EUR");
        acttrace::context!(sources = "a,b");
    });
    guard.flush().unwrap();
    let es = entries(&path);
    assert_eq!(
        types(&es),
        [
            "audit_open",
            "decision",
            "llm_call",
            "tool_call",
            "human_oversight",
            "policy_flag",
            "cost",
            "context_assembly",
            "decision_end"
        ]
    );
    assert_eq!(
        es[2]["payload"]["usage"],
        serde_json::json!({"cache_write": 3, "reasoning_tokens": 4})
    );
    let id = &es[1]["payload"]["decision_id"];
    assert!(es[2..8].iter().all(|e| &e["payload"]["decision_id"] == id));
}

#[test]
fn eight_threads_times_ten_thousand_events_form_one_verifiable_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    let dispatch = tracing::Dispatch::new(sub);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let d = tracing::info_span!("worker", audit.decision = "bulk", thread = t);
                    let _e = d.enter();
                    for i in 0..10_000u64 {
                        acttrace::tool_call!(name = "op", thread = t, i);
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(dispatch);
    let report = guard.shutdown(Duration::from_secs(60)).unwrap();
    assert_eq!(report.head.next_seq, 1 + 8 * (10_000 + 2));
    assert_eq!(report.lost_entries, 0);
    let es = entries(&path);
    // Per thread, events keep their order and all carry their thread's decision.
    let mut last = [None::<u64>; 8];
    let mut decision_of = std::collections::HashMap::new();
    for e in &es {
        if e["type"] == "decision" {
            decision_of.insert(
                e["payload"]["thread"].as_u64().unwrap(),
                e["payload"]["decision_id"].clone(),
            );
        }
        if e["type"] == "tool_call" {
            let t = e["payload"]["thread"].as_u64().unwrap();
            let i = e["payload"]["i"].as_u64().unwrap();
            assert_eq!(last[t as usize].map_or(0, |l| l + 1), i);
            last[t as usize] = Some(i);
            assert_eq!(e["payload"]["decision_id"], decision_of[&t]);
        }
    }
    assert!(last.iter().all(|l| *l == Some(9_999)));
    assert_verifies(&path, &report.head);
}

#[test]
fn reopening_continues_the_chain_without_a_second_audit_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    for round in 0..3 {
        let (sub, guard) = subscriber(&path);
        tracing::subscriber::with_default(sub, || {
            acttrace::tool_call!(name = "op", round);
        });
        drop(guard);
    }
    let es = entries(&path);
    assert_eq!(
        types(&es),
        [
            "audit_open",
            "tool_call",
            "audit_resume",
            "tool_call",
            "audit_resume",
            "tool_call"
        ]
    );
    assert_eq!(es[2]["payload"]["resumed_at_seq"], 2);
    let last = es.last().unwrap();
    let tip = ChainTip {
        next_seq: 6,
        head: last["hash"].as_str().unwrap().to_owned(),
    };
    assert_verifies(&path, &tip);
}

#[test]
fn a_second_writer_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (_layer, guard) = AuditLayer::builder().path(&path).build().unwrap();
    let second = AuditLayer::builder().path(&path).build();
    match second {
        Err(Error::Locked { path: p }) => assert_eq!(p, path),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a second writer was allowed"),
    }
    drop(guard);
    // Once the first is gone, the file can be continued.
    drop(AuditLayer::builder().path(&path).build().unwrap());
}

#[test]
fn flush_returns_only_once_entries_are_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (layer, guard) = AuditLayer::builder()
        .path(&path)
        .sync_policy(SyncPolicy::OnFlush)
        .build()
        .unwrap();
    let sub = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(sub, || {
        for i in 0..1000u64 {
            acttrace::tool_call!(name = "op", i);
            if i % 100 == 99 {
                let tip = guard.flush().unwrap();
                assert_eq!(tip.next_seq, i + 2);
                // Read through a separate file description: the bytes are there.
                let es = entries(&path);
                assert_eq!(es.len() as u64, tip.next_seq);
                assert_eq!(es.last().unwrap()["hash"], tip.head.as_str());
                assert_eq!(guard.head(), tip);
            }
        }
    });
}

#[test]
fn explicit_flags_return_their_chained_position_and_join_the_current_decision() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    let handle = guard.handle();
    let flagged = tracing::subscriber::with_default(sub, || {
        let d = tracing::info_span!("preflight", audit.decision = "guarded-call");
        let _e = d.enter();
        let inner = tracing::info_span!("inner");
        let _i = inner.enter();
        handle
            .flag(
                "card number in prompt",
                FlagAction::Blocked,
                Severity::Critical,
                &["credit_card"],
            )
            .unwrap()
    });
    let outside = guard.oversight("bob", "approved", "late sign-off").unwrap();
    guard.flush().unwrap();
    let es = entries(&path);
    let e = &es[flagged.seq as usize];
    assert_eq!(e["type"], "policy_flag");
    assert_eq!(e["hash"], flagged.hash.as_str());
    assert_eq!(e["payload"]["action"], "blocked");
    assert_eq!(e["payload"]["severity"], "critical");
    assert_eq!(e["payload"]["data"], serde_json::json!(["credit_card"]));
    assert_eq!(e["payload"]["decision_id"], es[1]["payload"]["decision_id"]);
    assert_eq!(
        flagged.decision_id.as_deref(),
        es[1]["payload"]["decision_id"].as_str()
    );
    let o = &es[outside.seq as usize];
    assert_eq!(o["type"], "human_oversight");
    assert!(o["payload"]["decision_id"].is_null());
}

#[test]
fn signed_logs_verify_only_with_their_key_and_keep_needing_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let key = SigningKey::from_bytes("key-one-0123456789").unwrap();
    let (layer, guard) = AuditLayer::builder()
        .path(&path)
        .signing_key(key.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        acttrace::tool_call!(name = "op");
    });
    drop(guard);
    let with = |k: &str| VerifyOptions {
        key: Some(SigningKey::from_bytes(k).unwrap()),
        ..Default::default()
    };
    assert!(
        verify_path(&path, &with("key-one-0123456789"))
            .unwrap()
            .ok()
    );
    assert!(
        !verify_path(&path, &with("key-two-0123456789"))
            .unwrap()
            .ok()
    );
    // Continuing a signed chain without its key, or with another key, is refused.
    let err = AuditLayer::builder().path(&path).build().err().unwrap();
    assert!(
        matches!(err, Error::SigningMismatch { signed: true, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("is signed"), "{err}");
    let err = AuditLayer::builder()
        .path(&path)
        .signing_key(SigningKey::from_bytes("key-two-0123456789").unwrap())
        .build()
        .err()
        .unwrap();
    assert!(matches!(err, Error::CorruptLog { .. }), "{err}");
    assert!(err.to_string().contains("bad signature at seq 0"), "{err}");
}

#[test]
fn a_corrupt_file_is_refused_with_its_line_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || {
        for i in 0..5u64 {
            acttrace::tool_call!(name = "op", i);
        }
    });
    drop(guard);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("\"i\": 3", "\"i\": 4", 1);
    std::fs::write(&path, &edited).unwrap();
    let err = AuditLayer::builder().path(&path).build().err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("line 5 (seq 4)") && msg.contains("hash mismatch"),
        "{msg}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    // A torn line in the middle (not the last line) is corruption too, not a crash tail.
    let lines: Vec<&str> = text.lines().collect();
    let mid_torn = format!(
        "{}\n{}\n{}\n",
        lines[..3].join("\n"),
        &lines[3][..50],
        lines[4..].join("\n")
    );
    std::fs::write(&path, &mid_torn).unwrap();
    let msg = AuditLayer::builder()
        .path(&path)
        .build()
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("line 4") && msg.contains("malformed line"),
        "{msg}"
    );
}

#[test]
fn a_torn_last_line_is_moved_aside_and_the_recovery_is_chained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || {
        for i in 0..5u64 {
            acttrace::tool_call!(name = "op", i);
        }
    });
    drop(guard);
    let text = std::fs::read_to_string(&path).unwrap();
    let cut_at = text.len() - 40;
    std::fs::write(&path, &text[..cut_at]).unwrap();
    let torn = text[text[..cut_at].rfind('\n').unwrap() + 1..cut_at].to_owned();

    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || acttrace::tool_call!(name = "after"));
    let tip = guard.flush().unwrap();
    drop(guard);
    let es = entries(&path);
    assert_eq!(
        types(&es)[4..],
        ["tool_call", "audit_resume", "recovery", "tool_call"]
    );
    let rec = &es[6]["payload"];
    assert_eq!(rec["line"], 6);
    assert_eq!(rec["cut_bytes"], torn.len());
    assert_eq!(rec["side_file"], "audit.jsonl.torn.1");
    let side = std::fs::read_to_string(dir.path().join("audit.jsonl.torn.1")).unwrap();
    assert_eq!(side, torn);
    use sha2::Digest;
    assert_eq!(
        rec["cut_sha256"],
        format!("{:x}", sha2::Sha256::digest(torn.as_bytes()))
    );
    assert_verifies(&path, &tip);
}

#[test]
fn a_last_entry_without_its_newline_is_kept_and_continued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || acttrace::tool_call!(name = "op"));
    drop(guard);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.trim_end_matches('\n')).unwrap();
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || acttrace::tool_call!(name = "after"));
    let tip = guard.flush().unwrap();
    assert_eq!(
        types(&entries(&path)),
        ["audit_open", "tool_call", "audit_resume", "tool_call"]
    );
    assert_verifies(&path, &tip);
}

#[test]
fn blake3_chains_declare_their_hash_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (layer, guard) = AuditLayer::builder()
        .path(&path)
        .hash_alg(HashAlg::Blake3)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        acttrace::tool_call!(name = "op");
    });
    let tip = guard.flush().unwrap();
    drop(guard);
    let es = entries(&path);
    assert_eq!(es[0]["payload"]["hash_alg"], "blake3");
    let r = assert_verifies(&path, &tip);
    assert_eq!(r.hash_alg, HashAlg::Blake3);
    // Resuming keeps BLAKE3; asking for SHA-256 on it is refused.
    let err = AuditLayer::builder()
        .path(&path)
        .hash_alg(HashAlg::Sha256)
        .build()
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            Error::HashAlgMismatch {
                chain: HashAlg::Blake3,
                configured: HashAlg::Sha256,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("blake3 chain"), "{err}");
    drop(AuditLayer::builder().path(&path).build().unwrap());
    let es = entries(&path);
    let tip = ChainTip {
        next_seq: es.len() as u64,
        head: es.last().unwrap()["hash"].as_str().unwrap().into(),
    };
    assert_verifies(&path, &tip);
}

#[test]
fn two_audit_layers_on_one_subscriber_keep_separate_chains() {
    let dir = tempfile::tempdir().unwrap();
    let (a, ga) = AuditLayer::builder()
        .path(dir.path().join("a.jsonl"))
        .build()
        .unwrap();
    let (b, gb) = AuditLayer::builder()
        .path(dir.path().join("b.jsonl"))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(a).with(b), || {
        let d = tracing::info_span!("d", audit.decision = "both");
        let _e = d.enter();
        acttrace::tool_call!(name = "op");
    });
    drop((ga, gb));
    let ea = entries(&dir.path().join("a.jsonl"));
    let eb = entries(&dir.path().join("b.jsonl"));
    assert_eq!(types(&ea), types(&eb));
    assert_eq!(
        ea[2]["payload"]["decision_id"],
        ea[1]["payload"]["decision_id"]
    );
    assert_eq!(
        eb[2]["payload"]["decision_id"],
        eb[1]["payload"]["decision_id"]
    );
    assert_ne!(
        ea[1]["payload"]["decision_id"],
        eb[1]["payload"]["decision_id"]
    );
}

/// A writer that fails its commits while `failing` is set, and is otherwise an in-memory chain.
struct FlakyWriter {
    failing: Arc<AtomicBool>,
    committed: Vec<SealedEntry>,
    pending: Vec<SealedEntry>,
    out: Arc<std::sync::Mutex<Vec<SealedEntry>>>,
}

impl ChainWriter for FlakyWriter {
    fn open(&mut self, _key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        Ok(None)
    }
    fn append(&mut self, entry: &SealedEntry) {
        self.pending.push(entry.clone());
    }
    fn commit(&mut self, _d: Durability) -> std::io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            self.pending.clear();
            return Err(std::io::Error::other("EIO (injected)"));
        }
        self.committed.append(&mut self.pending);
        *self.out.lock().unwrap() = self.committed.clone();
        Ok(())
    }
    fn describe(&self) -> String {
        "flaky".into()
    }
}

#[test]
fn write_failures_reach_the_caller_and_the_chain_records_the_gap() {
    let failing = Arc::new(AtomicBool::new(false));
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = FlakyWriter {
        failing: failing.clone(),
        committed: vec![],
        pending: vec![],
        out: out.clone(),
    };
    let (layer, guard) = AuditLayer::builder().writer(writer).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        acttrace::tool_call!(name = "kept-1");
        guard.flush().unwrap();
        failing.store(true, Ordering::SeqCst);
        acttrace::tool_call!(name = "lost-1");
        acttrace::tool_call!(name = "lost-2");
        let err = guard.flush().unwrap_err();
        assert!(err.to_string().contains("EIO (injected)"), "{err}");
        let flag = guard.flag("while failing", FlagAction::Flagged, Severity::Info, &[]);
        assert!(matches!(flag, Err(Error::Write(_))), "{flag:?}");
        let status = guard.status();
        assert_eq!(status.lost_entries, 3);
        assert!(status.last_error.unwrap().contains("EIO"));
        failing.store(false, Ordering::SeqCst);
        acttrace::tool_call!(name = "kept-2");
        // This flush succeeds in writing, and still reports the loss since the last flush
        // (the flag), once.
        let err = guard.flush().unwrap_err();
        assert!(
            err.to_string()
                .contains("1 entries enqueued before this flush"),
            "{err}"
        );
        guard.flush().unwrap();
    });
    let entries = out.lock().unwrap().clone();
    let kinds: Vec<_> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["audit_open", "tool_call", "gap", "tool_call"]);
    let gap = &entries[2].payload;
    assert_eq!(gap.get("lost_entries").unwrap().as_u64(), Some(3));
    assert_eq!(gap.get("first_lost_seq").unwrap().as_u64(), Some(2));
    // Seqs stay contiguous and the chain verifies.
    let text: String = entries.iter().map(SealedEntry::to_line).collect();
    let r = acttrace::verify::verify_reader(text.as_bytes(), "flaky", &VerifyOptions::default())
        .unwrap();
    assert!(r.ok(), "{}", r.summary());
}

/// A writer that stalls on every commit, to fill the queue.
struct SlowWriter(MemoryWriter);

impl ChainWriter for SlowWriter {
    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        self.0.open(key)
    }
    fn append(&mut self, entry: &SealedEntry) {
        self.0.append(entry)
    }
    fn commit(&mut self, d: Durability) -> std::io::Result<()> {
        std::thread::sleep(Duration::from_millis(2));
        self.0.commit(d)
    }
    fn describe(&self) -> String {
        "slow".into()
    }
}

#[test]
fn a_full_queue_makes_callers_wait_and_loses_nothing() {
    let (mem, log) = MemoryWriter::new();
    let (layer, guard) = AuditLayer::builder()
        .writer(SlowWriter(mem))
        .queue_capacity(4)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let mut max_depth = 0;
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..300u64 {
            acttrace::tool_call!(name = "op", i);
            max_depth = max_depth.max(guard.status().queue_len);
        }
    });
    let report = guard.shutdown(Duration::from_secs(30)).unwrap();
    assert_eq!(report.head.next_seq, 301);
    assert!((1..=4).contains(&max_depth), "queue depth {max_depth}");
    let r = acttrace::verify::verify_reader(
        log.to_jsonl().as_bytes(),
        "mem",
        &VerifyOptions::default(),
    )
    .unwrap();
    assert!(r.ok() && r.entries == 301, "{}", r.summary());
}

#[test]
fn records_after_shutdown_are_refused_and_counted() {
    let (mem, log) = MemoryWriter::new();
    let (layer, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    let handle = guard.handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || acttrace::tool_call!(name = "before"));
    let report = guard.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(report.head.next_seq, 2);
    tracing::dispatcher::with_default(&dispatch, || acttrace::tool_call!(name = "after"));
    assert_eq!(handle.status().refused_after_close, 1);
    assert!(matches!(handle.flush(), Err(Error::Closed)));
    assert_eq!(log.entries().len(), 2);
}

#[test]
fn a_filter_on_another_layer_hides_nothing_from_the_audit_layer() {
    let (mem, log) = MemoryWriter::new();
    let (layer, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::sink)
        .with_filter(tracing_subscriber::filter::LevelFilter::ERROR);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer).with(fmt), || {
        let d = tracing::info_span!("d", audit.decision = "x");
        let _e = d.enter();
        acttrace::tool_call!(name = "op");
    });
    assert_eq!(guard.status().invisible_callsites, 0);
    drop(guard);
    assert_eq!(log.entries().len(), 4);
}

#[instrument(skip_all, fields(audit.decision = "err-only"), err)]
fn err_only(fail: bool) -> Result<u32, String> {
    if fail { Err("declined".into()) } else { Ok(7) }
}

#[instrument(skip_all, fields(audit.decision = "panics"))]
fn panics() {
    panic!("model client panicked");
}

// Issue #15 §4: with only `#[instrument(err)]` a success records `ok` (no event tells it), a
// failure `error`, and a panic unwinding through the decision `error` too.
#[test]
fn outcomes_with_err_only_and_panics() {
    let (mem, log) = MemoryWriter::new();
    let (layer, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        assert_eq!(err_only(false), Ok(7));
        assert!(err_only(true).is_err());
        assert!(std::panic::catch_unwind(panics).is_err());
    });
    guard.flush().unwrap();
    let ends: Vec<_> = log
        .entries()
        .into_iter()
        .filter(|e| e.kind == "decision_end")
        .map(|e| e.payload)
        .collect();
    assert_eq!(ends.len(), 3);
    let get = |i: usize, k: &str| ends[i].get(k).and_then(|v| v.as_str()).map(str::to_owned);
    assert_eq!(get(0, "outcome").as_deref(), Some("ok"));
    assert_eq!(get(0, "error"), None);
    assert_eq!(get(1, "outcome").as_deref(), Some("error"));
    assert_eq!(get(1, "error").as_deref(), Some("declined"));
    assert_eq!(get(2, "outcome").as_deref(), Some("error"));
    assert_eq!(get(2, "error").as_deref(), Some("panicked"));
}

// Issue #15 §4: `policy_flag!` values outside the format's are brought to valid ones, and the
// chain keeps what was given.
#[test]
fn policy_flag_macro_values_are_validated_and_corrections_chained() {
    let (mem, log) = MemoryWriter::new();
    let (layer, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        acttrace::policy_flag!(reason = "r1", action = "blocked", severity = "critical");
        acttrace::policy_flag!(reason = "r2", action = "deny", severity = "medium");
        acttrace::policy_flag!(reason = "r3", action = "shrug", severity = "whatever");
    });
    guard.flush().unwrap();
    let flags: Vec<_> = log
        .entries()
        .into_iter()
        .filter(|e| e.kind == "policy_flag")
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.payload.to_string()).unwrap())
        .collect();
    assert_eq!(flags.len(), 3);
    assert_eq!(flags[0]["severity"], "critical");
    assert!(flags[0].get("corrected").is_none());
    assert_eq!(flags[1]["action"], "blocked");
    assert_eq!(flags[1]["severity"], "warning");
    assert_eq!(
        flags[1]["corrected"],
        serde_json::json!({"action": "deny", "severity": "medium"})
    );
    // Unknown values claim no action taken and never understate the severity.
    assert_eq!(flags[2]["action"], "flagged");
    assert_eq!(flags[2]["severity"], "critical");
    assert_eq!(flags[2]["corrected"]["severity"], "whatever");
}

// Issue #15 §4: audit events outside any decision are counted (GenAI orphans apart).
#[test]
fn audit_events_outside_decisions_are_counted() {
    let (mem, _log) = MemoryWriter::new();
    let (layer, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        acttrace::tool_call!(name = "outside-1");
        {
            let d = tracing::info_span!("d", audit.decision = "x");
            let _e = d.enter();
            acttrace::tool_call!(name = "inside");
        }
        acttrace::cost!(item = "outside-2", amount = "1", currency = "USD");
        tracing::info!("ordinary, not counted");
    });
    guard.flush().unwrap();
    let status = guard.status();
    assert_eq!(status.audit_events_outside_decisions, 2);
    assert_eq!(status.gen_ai_orphans, 0);
}

// Issue #15 §4: the builder creates the log's directory.
#[test]
fn the_builder_creates_the_logs_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("audit.jsonl");
    let (_layer, guard) = AuditLayer::builder().path(&path).build().unwrap();
    guard.flush().unwrap();
    assert_eq!(entries(&path).len(), 1);
    // A directory that cannot be made is an error naming it.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let err = AuditLayer::builder()
        .path(blocker.join("audit.jsonl"))
        .build()
        .err()
        .unwrap();
    assert!(
        err.to_string().contains(&*blocker.to_string_lossy()),
        "{err}"
    );
}

/// A writer whose commits wait for permission, to stall the sequencer on command.
struct GatedWriter {
    inner: MemoryWriter,
    gate: crossbeam_channel::Receiver<()>,
    entered: crossbeam_channel::Sender<()>,
}

impl ChainWriter for GatedWriter {
    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        self.inner.open(key)
    }
    fn append(&mut self, entry: &SealedEntry) {
        self.inner.append(entry)
    }
    fn commit(&mut self, d: Durability) -> std::io::Result<()> {
        let _ = self.entered.send(());
        let _ = self.gate.recv();
        self.inner.commit(d)
    }
    fn describe(&self) -> String {
        "gated".into()
    }
}

// Issue #15 §4: dropping the guard waits at most its bound when the writer is stalled (before
// the fix it waited for ever), and the records it could not write are written in the background
// once the writer moves again.
#[test]
fn dropping_the_guard_waits_at_most_its_bound() {
    let (mem, log) = MemoryWriter::new();
    let (gate_tx, gate) = crossbeam_channel::unbounded();
    let (entered, entered_rx) = crossbeam_channel::unbounded();
    // The builder's own first commit (audit_open) passes.
    gate_tx.send(()).unwrap();
    let writer = GatedWriter {
        inner: mem,
        gate,
        entered,
    };
    let (layer, guard) = AuditLayer::builder()
        .writer(writer)
        .drop_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    entered_rx.recv().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || acttrace::tool_call!(name = "stuck"));
    // The sequencer is now inside a commit that waits for the gate.
    entered_rx.recv().unwrap();
    let (done_tx, done) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        drop(guard);
        let _ = done_tx.send(());
    });
    // A ceiling, not a floor: the drop must return although the writer never moves.
    done.recv_timeout(Duration::from_secs(60))
        .expect("dropping the guard hung on a stalled writer");
    assert_eq!(log.entries().len(), 1);
    // Released, the sequencer finishes in the background.
    drop(gate_tx);
}

/// A console that keeps what a fmt layer prints.
#[derive(Clone, Default)]
struct Console(Arc<std::sync::Mutex<Vec<u8>>>);

impl Console {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Console {
    type Writer = Console;
    fn make_writer(&'a self) -> Console {
        self.clone()
    }
}

#[instrument(skip_all, fields(audit.decision = "charge", input = %card), err)]
fn charge(card: &str) -> Result<(), String> {
    acttrace::tool_call!(name = "payments", arguments = %format!("card {card}"));
    tracing::info!("ordinary line in a decision");
    Err(format!("card {card} declined"))
}

/// Runs `charge` with a fmt layer (filtered by `exclude_audit` or not) beside the audit layer:
/// what the console printed, and the chain.
fn print_charge(exclude: bool) -> (String, Vec<SealedEntry>) {
    let (mem, log) = MemoryWriter::new();
    let (audit, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    let console = Console::default();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(console.clone())
        .with_ansi(false);
    let run = || {
        let _ = charge("4111 1111 1111 1111");
    };
    if exclude {
        let subscriber = tracing_subscriber::registry()
            .with(fmt.with_filter(acttrace::filter::exclude_audit()))
            .with(audit);
        tracing::subscriber::with_default(subscriber, run);
    } else {
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(fmt).with(audit),
            run,
        );
    }
    guard.flush().unwrap();
    (console.text(), log.entries())
}

// Issue #15 §3: the chain redacts the card number, but a console layer prints what it is given;
// `exclude_audit()` keeps decision spans, audit events and a decision's `err` out of it.
#[test]
fn exclude_audit_keeps_raw_secrets_out_of_other_layers() {
    let (printed, chain) = print_charge(false);
    // Without the filter the console shows the card (what the issue reported).
    assert!(printed.contains("4111 1111 1111 1111"), "{printed}");
    let (printed, chain_filtered) = print_charge(true);
    // Not "4111" alone: the console's timestamps can hold any run of four digits.
    assert!(!printed.contains("4111 1111"), "{printed}");
    assert!(!printed.contains("declined"), "{printed}");
    assert!(printed.contains("ordinary line in a decision"), "{printed}");
    // The chain is the same either way, and holds no raw card number.
    let kinds = |c: &[SealedEntry]| c.iter().map(|e| e.kind.clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&chain), kinds(&chain_filtered));
    assert!(kinds(&chain).contains(&"tool_call".to_owned()));
    let text: String = chain_filtered.iter().map(SealedEntry::to_line).collect();
    assert!(!text.contains("4111 1111 1111 1111"));
}

/// Keeps the target and level of every event it sees.
#[derive(Clone, Default)]
struct Seen(Arc<std::sync::Mutex<Vec<(String, tracing::Level)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let m = e.metadata();
        self.0
            .lock()
            .unwrap()
            .push((m.target().to_owned(), *m.level()));
    }
}

// Issue #15 §2: audit macros take `target:` and `level:` like tracing's, and default to the
// dedicated `acttrace::audit` target at INFO.
#[test]
fn audit_macros_take_target_and_level() {
    let (mem, log) = MemoryWriter::new();
    let (audit, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    let seen = Seen::default();
    let subscriber = tracing_subscriber::registry()
        .with(seen.clone())
        .with(audit);
    tracing::subscriber::with_default(subscriber, || {
        acttrace::tool_call!(name = "default");
        acttrace::llm_call!(target: "billing", model = "m");
        acttrace::policy_flag!(level: tracing::Level::WARN, reason = "r");
        acttrace::oversight!(target: "review", level: tracing::Level::ERROR, reviewer = "a");
        acttrace::cost!(level: tracing::Level::DEBUG, amount = "1", currency = "USD");
        acttrace::context!(target: "rag", sources = "a.md");
    });
    guard.flush().unwrap();
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(acttrace::filter::AUDIT_TARGET, "acttrace::audit");
    let expected = [
        ("acttrace::audit", tracing::Level::INFO),
        ("billing", tracing::Level::INFO),
        ("acttrace::audit", tracing::Level::WARN),
        ("review", tracing::Level::ERROR),
        ("acttrace::audit", tracing::Level::DEBUG),
        ("rag", tracing::Level::INFO),
    ];
    let seen: Vec<(&str, tracing::Level)> = seen.iter().map(|(t, l)| (t.as_str(), *l)).collect();
    assert_eq!(seen, expected);
    let kinds: Vec<_> = log.entries().into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            "audit_open",
            "tool_call",
            "llm_call",
            "policy_flag",
            "human_oversight",
            "cost",
            "context_assembly"
        ]
    );
}
