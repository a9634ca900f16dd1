//! Emits N identical events through one of several subscriber stacks, for instruction counts
//! under `valgrind --tool=callgrind` (stable on a noisy machine, unlike wall time).
//! `scripts/event_cost.sh` runs each case at two values of N and reports the difference per
//! event, which removes start-up (the redaction scanner's compilation, the sequencer thread).
//!
//! ```text
//! cargo build --release --example event_cost
//! target/release/examples/event_cost <registry|noop|audit|audit-in-decision|fmt-json> N
//! ```

use tracing_subscriber::prelude::*;

struct NoopLayer;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {}

#[inline(never)]
fn ordinary_event() {
    tracing::info!(
        model = "gpt-4o",
        input_tokens = 812u64,
        output_tokens = 64u64,
        "llm call"
    );
}

#[inline(never)]
fn audited_event() {
    acttrace::llm_call!(
        model = "gpt-4o",
        input_tokens = 812u64,
        output_tokens = 64u64,
        message = "llm call"
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "audit".into());
    let n: u64 = args.next().map_or(100_000, |s| s.parse().expect("N"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut guard = None;
    let mut audit = || {
        let (layer, g) = acttrace::AuditLayer::builder()
            .path(dir.path().join("audit.jsonl"))
            .queue_capacity(1 << 20)
            .build()
            .expect("the audit layer");
        guard = Some(g);
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer))
    };
    let (dispatch, event, in_decision): (_, fn(), bool) = match case.as_str() {
        "registry" => (
            tracing::Dispatch::new(tracing_subscriber::registry()),
            ordinary_event,
            false,
        ),
        "noop" => (
            tracing::Dispatch::new(tracing_subscriber::registry().with(NoopLayer)),
            ordinary_event,
            false,
        ),
        "audit" => (audit(), ordinary_event, false),
        "audit-in-decision" => (audit(), audited_event, true),
        "fmt-json" => (
            tracing::Dispatch::new(
                tracing_subscriber::registry().with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .with_writer(std::io::sink),
                ),
            ),
            ordinary_event,
            true,
        ),
        other => panic!("unknown case {other}"),
    };
    tracing::dispatcher::with_default(&dispatch, || {
        let span = in_decision.then(|| tracing::info_span!("decide", audit.decision = "bench"));
        let _in = span.as_ref().map(|s| s.enter());
        for _ in 0..n {
            event();
        }
    });
    if let Some(g) = guard {
        g.flush().expect("flush");
    }
}
