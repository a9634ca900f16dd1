//! Caller-thread cost of one audited event, next to the same event through tracing-subscriber's
//! fmt JSON layer (writing to a sink directly, or through `tracing-appender`'s `non_blocking`
//! writer), and the rungs below: Registry alone, Registry + a no-op layer, and an ordinary
//! (non-audit) event next to an AuditLayer. Every rung is also timed with two threads emitting
//! at once (`*_2threads`). A decision span's whole life (create, enter, exit, close) is timed
//! next to the same span through Registry + a no-op layer.
//!
//! `cargo bench --bench caller_cost`
//!
//! The audit sequencer runs on the other core; to time only what the caller pays (capture and
//! enqueue), events are timed in batches of 1,000 with the log flushed between batches, outside
//! the timed region, so the bounded queue never fills.

use std::sync::Barrier;
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

/// As [`timed`], with two threads each emitting `iters` events at the same time; batches start
/// together and `between` runs (untimed, on one thread) once both have finished a batch. The
/// result is the slower thread's time, so criterion reports the time per event on each of two
/// threads emitting concurrently.
fn timed_2threads(
    dispatch: &Dispatch,
    iters: u64,
    in_decision: bool,
    event: fn(),
    between: &(dyn Fn() + Sync),
) -> Duration {
    let barrier = Barrier::new(2);
    let run = |first: bool| {
        tracing::dispatcher::with_default(dispatch, || {
            let span = in_decision.then(|| tracing::info_span!("decide", audit.decision = "bench"));
            let _e = span.as_ref().map(|s| s.enter());
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH);
                barrier.wait();
                let start = Instant::now();
                for _ in 0..n {
                    event();
                }
                total += start.elapsed();
                left -= n;
                barrier.wait();
                if first {
                    between();
                }
            }
            total
        })
    };
    std::thread::scope(|s| {
        let other = s.spawn(|| run(false));
        let mine = run(true);
        mine.max(other.join().unwrap())
    })
}

/// Times `iters` decision spans (create with two fields, enter, exit, close) under `dispatch`,
/// in batches of 250 with `between` run untimed after each (an AuditLayer enqueues two records
/// per span).
fn span_lifecycles(dispatch: &Dispatch, iters: u64, between: &dyn Fn()) -> Duration {
    tracing::dispatcher::with_default(dispatch, || {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let k = left.min(BATCH / 4);
            let start = Instant::now();
            for _ in 0..k {
                let span = tracing::info_span!("decide", audit.decision = "bench", actor = "agent");
                let _e = span.enter();
            }
            total += start.elapsed();
            left -= k;
            between();
        }
        total
    })
}

/// Benches one rung on one thread and on two.
fn rung(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    dispatch: &Dispatch,
    in_decision: bool,
    event: fn(),
    between: &(dyn Fn() + Sync),
) {
    g.bench_function(name, |b| {
        b.iter_custom(|n| timed(dispatch, n, in_decision, event, between))
    });
    g.bench_function(format!("{name}_2threads"), |b| {
        b.iter_custom(|n| timed_2threads(dispatch, n, in_decision, event, between))
    });
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("caller_cost");

    let registry = Dispatch::new(tracing_subscriber::registry());
    rung(
        &mut g,
        "registry_only",
        &registry,
        false,
        ordinary_event,
        &|| {},
    );

    let noop = Dispatch::new(tracing_subscriber::registry().with(NoopLayer));
    rung(
        &mut g,
        "registry_noop_layer",
        &noop,
        false,
        ordinary_event,
        &|| {},
    );

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
    // An ordinary event enqueues nothing, so there is nothing to flush between its batches (a
    // flush would only wake the sequencer and cool the caller's caches, as in no other rung).
    rung(
        &mut g,
        "audit_layer_ordinary_event",
        &audit,
        false,
        ordinary_event,
        &|| {},
    );
    rung(
        &mut g,
        "audit_layer_audited_event_outside_decision",
        &audit,
        false,
        audited_event,
        &flush,
    );
    rung(
        &mut g,
        "audit_layer_audited_event_in_decision",
        &audit,
        true,
        audited_event,
        &flush,
    );

    // A whole decision on the caller's thread: create, enter, exit, close (the sealing itself
    // happens on the sequencer), next to the same span through Registry + a no-op layer.
    g.bench_function("registry_noop_layer_span_lifecycle", |b| {
        b.iter_custom(|n| span_lifecycles(&noop, n, &|| {}))
    });
    g.bench_function("audit_layer_decision_span_lifecycle", |b| {
        b.iter_custom(|n| span_lifecycles(&audit, n, &flush))
    });

    let fmt_json = Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(std::io::sink),
        ),
    );
    rung(
        &mut g,
        "fmt_json_sink_event_in_span",
        &fmt_json,
        true,
        ordinary_event,
        &|| {},
    );

    // The usual way to keep I/O off the caller's thread with `tracing`: format on the caller,
    // hand the line to tracing-appender's worker thread. With the default (lossy) writer a full
    // channel drops lines instead of waiting; the count is printed below (a sink keeps up, so
    // it stays 0 and every line was handed over).
    let (non_blocking, worker) = tracing_appender::non_blocking(std::io::sink());
    let dropped = non_blocking.error_counter();
    let fmt_json_nb = Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(non_blocking),
        ),
    );
    rung(
        &mut g,
        "fmt_json_non_blocking_sink_event_in_span",
        &fmt_json_nb,
        true,
        ordinary_event,
        &|| {},
    );
    g.finish();
    eprintln!(
        "tracing-appender non_blocking dropped {} lines",
        dropped.dropped_lines()
    );
    drop(worker);
    drop(guard);
}

criterion_group!(benches, bench);
criterion_main!(benches);
