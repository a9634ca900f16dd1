//! Caller-thread cost of one audited event, next to the same event through tracing-subscriber's
//! fmt JSON layer writing to a sink, and the rungs below: Registry alone, Registry + a no-op
//! layer, and an ordinary (non-audit) event next to an AuditLayer.
//!
//! `cargo bench --bench caller_cost`
//!
//! The audit sequencer runs on the other core; to time only what the caller pays (capture and
//! enqueue), events are timed in batches of 1,000 with the log flushed between batches, outside
//! the timed region, so the bounded queue never fills.

use std::time::{Duration, Instant};

use acttrace::{AuditLayer, SyncPolicy};
use criterion::{Criterion, criterion_group, criterion_main};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

const BATCH: u64 = 1_000;

struct NoopLayer;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {}

fn ordinary_event() {
    tracing::info!(
        model = "gpt-4o",
        input_tokens = 812u64,
        output_tokens = 64u64,
        "llm call"
    );
}

fn audited_event() {
    acttrace::llm_call!(
        model = "gpt-4o",
        input_tokens = 812u64,
        output_tokens = 64u64,
        message = "llm call"
    );
}

/// Times `iters` calls of `event` under `dispatch`, inside `span` when given, calling `between`
/// untimed after each batch.
fn timed(
    dispatch: &Dispatch,
    iters: u64,
    in_decision: bool,
    event: fn(),
    between: &dyn Fn(),
) -> Duration {
    tracing::dispatcher::with_default(dispatch, || {
        let span = in_decision.then(|| tracing::info_span!("decide", audit.decision = "bench"));
        let _e = span.as_ref().map(|s| s.enter());
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(BATCH);
            let start = Instant::now();
            for _ in 0..n {
                event();
            }
            total += start.elapsed();
            left -= n;
            between();
        }
        total
    })
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("caller_cost");

    let registry = Dispatch::new(tracing_subscriber::registry());
    g.bench_function("registry_only", |b| {
        b.iter_custom(|n| timed(&registry, n, false, ordinary_event, &|| {}))
    });

    let noop = Dispatch::new(tracing_subscriber::registry().with(NoopLayer));
    g.bench_function("registry_noop_layer", |b| {
        b.iter_custom(|n| timed(&noop, n, false, ordinary_event, &|| {}))
    });

    let (layer, guard) = AuditLayer::builder()
        .path(dir.path().join("bench.jsonl"))
        .sync_policy(SyncPolicy::OnFlush)
        .queue_capacity(4 * BATCH as usize)
        .build()
        .unwrap();
    let audit = Dispatch::new(tracing_subscriber::registry().with(layer));
    let flush = || {
        guard.flush().unwrap();
    };
    g.bench_function("audit_layer_ordinary_event", |b| {
        b.iter_custom(|n| timed(&audit, n, false, ordinary_event, &flush))
    });
    g.bench_function("audit_layer_audited_event_outside_decision", |b| {
        b.iter_custom(|n| timed(&audit, n, false, audited_event, &flush))
    });
    g.bench_function("audit_layer_audited_event_in_decision", |b| {
        b.iter_custom(|n| timed(&audit, n, true, audited_event, &flush))
    });

    // A whole decision on the caller's thread: create, enter, exit, close (the sealing itself
    // happens on the sequencer).
    g.bench_function("audit_layer_decision_span_lifecycle", |b| {
        b.iter_custom(|n| {
            tracing::dispatcher::with_default(&audit, || {
                let mut total = Duration::ZERO;
                let mut left = n;
                while left > 0 {
                    let k = left.min(BATCH / 4);
                    let start = Instant::now();
                    for _ in 0..k {
                        let span = tracing::info_span!(
                            "decide",
                            audit.decision = "bench",
                            actor = "agent"
                        );
                        let _e = span.enter();
                    }
                    total += start.elapsed();
                    left -= k;
                    flush();
                }
                total
            })
        })
    });

    let fmt_json = Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::sink),
        ),
    );
    g.bench_function("fmt_json_sink_event_in_span", |b| {
        b.iter_custom(|n| timed(&fmt_json, n, true, ordinary_event, &|| {}))
    });
    g.finish();
    drop(guard);
}

criterion_group!(benches, bench);
criterion_main!(benches);
