//! Issue #15 §2: a global filter that hides decisions from every layer is noticed, reported,
//! counted and chained (`invisible_callsite`), once per callsite; filters that leave the audit
//! layer its view (a global filter enabling the decisions' target, per-layer filters) report
//! nothing and lose nothing.
//!
//! Its own test binary: `tracing`'s callsite interest cache and maximum level are process-wide,
//! and every new dispatch re-registers every callsite already known to the process. The three
//! set-ups run one after another in one test, each with its own callsites, and each assertion
//! names the callsites it is about.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use acttrace::{AuditLayer, MemoryWriter};
use tracing::instrument;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// A console that keeps what the fmt layer prints.
#[derive(Clone, Default)]
struct Console(Arc<Mutex<Vec<u8>>>);

impl Console {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Console {
    type Writer = Console;
    fn make_writer(&'a self) -> Console {
        self.clone()
    }
}

#[instrument(skip_all, fields(audit.decision = "hidden.approve"))]
fn hidden_decision() {
    acttrace::tool_call!(name = "hidden-tool");
}

#[instrument(target = "app", skip_all, fields(audit.decision = "app.approve"))]
fn app_decision() {
    acttrace::tool_call!(target: "app", name = "app-tool");
    acttrace::llm_call!(model = "m", input_tokens = 1u64);
}

#[instrument(skip_all, fields(audit.decision = "layered.approve"))]
fn layered_decision() {
    acttrace::tool_call!(name = "layered-tool");
}

fn payloads_of(log: &acttrace::writer::MemoryLog, kind: &str) -> Vec<serde_json::Value> {
    log.entries()
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| serde_json::from_str(&e.payload.to_string()).unwrap())
        .collect()
}

#[test]
fn global_filters_are_noticed_and_per_layer_filters_are_not_reported() {
    // 1. A global `warn` filter, as most services have: the INFO decision and its event are
    // hidden from every layer. Before the fix: 1 entry (audit_open), nothing said.
    let (mem, log) = MemoryWriter::new();
    let (audit, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("warn"))
        .with(fmt::layer().with_writer(std::io::sink))
        .with(audit);
    tracing::subscriber::with_default(subscriber, || {
        hidden_decision();
        hidden_decision();
        guard.flush().unwrap();
        // Registering every callsite again (a reload, a new dispatch) reports nothing twice.
        tracing_core::callsite::rebuild_interest_cache();
        hidden_decision();
        guard.flush().unwrap();
        let status = guard.status();
        let invisible = payloads_of(&log, "invisible_callsite");
        let decision = invisible
            .iter()
            .filter(|p| p["callsite"] == "decision span" && p["name"] == "hidden_decision")
            .collect::<Vec<_>>();
        assert_eq!(decision.len(), 1, "{invisible:#?}");
        let d = decision[0];
        assert_eq!(d["target"], "filter_global");
        assert_eq!(d["level"], "INFO");
        assert_eq!(d["file"], file!());
        assert!(d["line"].as_u64().unwrap() > 0);
        // The event inside is hidden too, and reported as an audit event in its own target.
        assert!(
            invisible.iter().any(|p| p["callsite"] == "audit event"
                && p["target"] == "acttrace::audit"
                && p["module_path"] == "filter_global"),
            "{invisible:#?}"
        );
        assert_eq!(status.invisible_callsites, invisible.len() as u64);
        assert!(status.invisible_callsites >= 2);
        assert!(payloads_of(&log, "decision").is_empty());
    });
    drop(guard);

    // 2. A global filter that enables the decisions' target (and the audit target): nothing of
    // theirs is reported, everything is recorded.
    let (mem, log) = MemoryWriter::new();
    let (audit, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("warn,app=info,acttrace::audit=info"))
        .with(fmt::layer().with_writer(std::io::sink))
        .with(audit);
    tracing::subscriber::with_default(subscriber, || {
        app_decision();
        guard.flush().unwrap();
    });
    let invisible = payloads_of(&log, "invisible_callsite");
    assert!(
        !invisible
            .iter()
            .any(|p| p["target"] == "app" || p["name"] == "app_decision"),
        "{invisible:#?}"
    );
    assert_eq!(payloads_of(&log, "decision").len(), 1);
    assert_eq!(payloads_of(&log, "decision")[0]["name"], "app.approve");
    assert_eq!(payloads_of(&log, "tool_call").len(), 1);
    assert_eq!(payloads_of(&log, "llm_call").len(), 1);
    assert_eq!(payloads_of(&log, "decision_end").len(), 1);
    drop(guard);

    // 3. Per-layer filters, as the README shows: the console prints warnings only and no
    // audit record; the audit layer records everything and reports nothing.
    let (mem, log) = MemoryWriter::new();
    let (audit, guard) = AuditLayer::builder().writer(mem).build().unwrap();
    let console = Console::default();
    let subscriber = tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_writer(console.clone())
                .with_filter(EnvFilter::new("warn"))
                .with_filter(acttrace::filter::exclude_audit()),
        )
        .with(audit);
    tracing::subscriber::with_default(subscriber, || {
        layered_decision();
        hidden_decision();
        tracing::warn!("an ordinary warning");
        guard.flush().unwrap();
        assert_eq!(guard.status().invisible_callsites, 0);
    });
    assert!(payloads_of(&log, "invisible_callsite").is_empty());
    assert_eq!(payloads_of(&log, "decision").len(), 2);
    assert_eq!(payloads_of(&log, "tool_call").len(), 2);
    let printed = console.text();
    assert!(printed.contains("an ordinary warning"), "{printed}");
    assert!(!printed.contains("layered-tool"), "{printed}");
    drop(guard);
}
