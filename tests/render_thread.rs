//! The render thread (payloads redacted and rendered ahead of sealing, issue #16) behind the
//! layer installed as the global default: a custom redactor that itself logs through `tracing`
//! runs there, and its logging must never be audited (it would recurse into the queue the log
//! drains, and could wait forever on a full one), while every record is still chained once,
//! in order, redacted.
//!
//! One test per binary: the global default can be set once per process.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use acttrace::json::Value;
use acttrace::redact::{BuiltinRedactor, Policy, Redactor, Report};
use acttrace::writer::{ChainWriter, Durability, ExistingChain, JsonlFileWriter};
use acttrace::{AuditLayer, Error, SealedEntry, SigningKey};
use common::*;
use tracing_subscriber::prelude::*;

/// The built-in redactor, logging through `tracing` each time it runs (as a redactor calling
/// out to a classification service might), and counting the runs on the render thread.
struct ChattyRedactor {
    inner: BuiltinRedactor,
    on_render_thread: Arc<AtomicU64>,
}

impl Redactor for ChattyRedactor {
    fn redact(&self, value: &mut Value) -> Report {
        if std::thread::current().name() == Some("acttrace-render") {
            self.on_render_thread.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(target: "classifier", "classifying a payload");
        acttrace::tool_call!(name = "redactor-internal");
        let span = tracing::info_span!("classify", audit.decision = "should-not-exist");
        let _e = span.enter();
        self.inner.redact(value)
    }
}

/// A file writer whose commits wait while the gate is closed: records queue up meanwhile, and
/// the sequencer then takes them in one run, handing chunks to the render thread.
struct GatedWriter {
    inner: JsonlFileWriter,
    gate: Arc<Gate>,
}

#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
}

impl ChainWriter for GatedWriter {
    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        self.inner.open(key)
    }
    fn append(&mut self, entry: &SealedEntry) {
        self.inner.append(entry)
    }
    fn append_rendered(&mut self, entry: &acttrace::RenderedEntry<'_>) {
        self.inner.append_rendered(entry)
    }
    fn commit(&mut self, d: Durability) -> std::io::Result<()> {
        let mut closed = self.gate.closed.lock().unwrap();
        while *closed {
            closed = self.gate.opened.wait(closed).unwrap();
        }
        drop(closed);
        self.inner.commit(d)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[test]
fn a_redactor_that_logs_runs_on_the_render_thread_without_being_audited() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let gate = Arc::new(Gate::default());
    let on_render_thread = Arc::new(AtomicU64::new(0));
    let (layer, guard) = AuditLayer::builder()
        .system("render")
        .writer(GatedWriter {
            inner: JsonlFileWriter::new(&path),
            gate: gate.clone(),
        })
        .redactor(ChattyRedactor {
            inner: BuiltinRedactor::new(Policy::default_preset()),
            on_render_thread: on_render_thread.clone(),
        })
        .signing_key(SigningKey::from_bytes("render-key-0123456789").unwrap())
        .build()
        .unwrap();
    tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .init();

    *gate.closed.lock().unwrap() = true;
    const DECISIONS: u64 = 500;
    for i in 0..DECISIONS {
        let d = tracing::info_span!(
            "decide",
            audit.decision = "loan",
            applicant = i,
            note = "card 4111 1111 1111 1111"
        );
        let _e = d.enter();
        acttrace::llm_call!(model = "m", input_tokens = 10u64, output_tokens = 2u64);
        acttrace::tool_call!(name = "score", n = i);
        acttrace::oversight!(reviewer = "ops", action = "approved");
    }
    gate.closed.lock().map(|mut c| *c = false).unwrap();
    gate.opened.notify_all();
    let tip = guard.flush().unwrap();

    let es = entries(&path);
    assert!(
        es.iter()
            .all(|e| e["payload"]["name"] != "redactor-internal"
                && e["payload"]["name"] != "should-not-exist"),
        "the redactor's own activity was audited"
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .find("4111 1111")
            .is_none(),
        "a redacted value reached the disk"
    );
    // Every decision whole, its entries in the order they were emitted.
    let decisions = of_type(&es, "decision");
    assert_eq!(decisions.len() as u64, DECISIONS);
    for (i, d) in decisions.iter().enumerate() {
        assert_eq!(d["payload"]["applicant"], i as u64);
        let id = &d["payload"]["decision_id"];
        let kinds: Vec<&str> = es
            .iter()
            .filter(|e| &e["payload"]["decision_id"] == id && e["type"] != "policy_flag")
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "decision",
                "llm_call",
                "tool_call",
                "human_oversight",
                "decision_end"
            ],
            "decision {i}"
        );
    }
    assert_verifies(&path, &tip);
    // The queue ran dry at most once before the gate opened (the commit that follows waits
    // there while the rest queue up), so one run of records took at least half of them: with
    // a second core, chunks of it went to the render thread (on one core there is none, and
    // the sequencer redacts).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 1 {
        assert!(on_render_thread.load(Ordering::Relaxed) > 0);
    }
    drop(guard);
}
