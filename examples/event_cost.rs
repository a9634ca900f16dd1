//! Emits N identical events through one of several subscriber stacks, for instruction counts
//! under `valgrind --tool=callgrind` (stable on a noisy machine, unlike wall time).
//! `scripts/event_cost.sh` runs each case at two values of N and reports the difference per
//! event, which removes start-up (the redaction scanner's compilation, the sequencer thread).
//! On Unix it also prints the calling thread's own CPU time for the events (stderr): the
//! caller's cost without the sequencer's work and without waits for a core.
//!
//! ```text
//! cargo build --release --example event_cost
//! target/release/examples/event_cost <registry|noop|audit|audit-in-decision|fmt-json> N
//! ```

use tracing_subscriber::prelude::*;

/// Events per timed batch.
const BATCH: u64 = 1_000;

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

/// The calling thread's CPU time so far, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`): unlike
/// wall time it leaves out the time the thread waits for a core another job holds, so it
/// measures the caller's own cost on a loaded machine.
#[cfg(unix)]
fn thread_cpu_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(not(unix))]
fn thread_cpu_ns() -> Option<u64> {
    None
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
        // Batches of 1,000 with the log flushed between them (not timed), as in
        // `benches/caller_cost.rs`: the queue never fills, so the caller never waits for the
        // sequencer and its CPU time is its own work.
        let mut cpu = Some(0u64);
        let mut left = n;
        while left > 0 {
            let k = left.min(BATCH);
            let before = thread_cpu_ns();
            for _ in 0..k {
                event();
            }
            let after = thread_cpu_ns();
            cpu = match (cpu, before, after) {
                (Some(total), Some(a), Some(b)) => Some(total + (b - a)),
                _ => None,
            };
            left -= k;
            if in_decision && let Some(g) = &guard {
                g.flush().expect("flush");
            }
        }
        if let Some(cpu) = cpu {
            eprintln!(
                "{case}: calling thread CPU {cpu} ns for {n} events, {:.1} ns/event",
                cpu as f64 / n.max(1) as f64
            );
        }
    });
    if let Some(g) = guard {
        g.flush().expect("flush");
    }
}
