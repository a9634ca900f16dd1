//! Crash harness: writes decisions to LOG_PATH (unsigned) as fast as it can and prints
//! `durable <seq> <hash>` each time a flush returns, until it is killed. It flushes after every
//! third decision, or every FLUSH_EVERY: with a few thousand, batches fill while more records
//! wait, and their commits are begun while the next batch is sealed.
//!
//! ```text
//! cargo run --release --example crash_writer -- LOG_PATH [FLUSH_EVERY]
//! ```
//!
//! `tests/crash.rs` kills it with SIGKILL at random moments, 200 times on one file, and checks
//! that every acknowledged entry survives and the chain verifies after each recovery.

use std::io::Write;

use acttrace::AuditLayer;
use tracing_subscriber::prelude::*;

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: crash_writer LOG_PATH [FLUSH_EVERY]");
        return std::process::ExitCode::from(2);
    };
    let flush_every = match std::env::args().nth(2).map(|n| n.parse::<u64>()) {
        None => 3,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("crash_writer: FLUSH_EVERY must be a whole number above 0");
            return std::process::ExitCode::from(2);
        }
    };
    let (layer, guard) = match AuditLayer::builder()
        .system("crash-harness")
        .path(&path)
        .build()
    {
        Ok(x) => x,
        Err(e) => {
            eprintln!("crash_writer: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    tracing_subscriber::registry().with(layer).init();
    let mut stdout = std::io::stdout().lock();
    for n in 0u64.. {
        {
            let d = tracing::info_span!("decide", audit.decision = "crash.test", n);
            let _e = d.enter();
            acttrace::llm_call!(model = "m", input_tokens = 100u64, output_tokens = 10u64, n);
            acttrace::tool_call!(
                name = "t",
                arguments = "{\"padding\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}"
            );
        }
        // Acknowledge in bursts so that kills also land between writes and flushes.
        if n % flush_every == 0 {
            match guard.flush() {
                Ok(tip) => {
                    let _ = writeln!(stdout, "durable {} {}", tip.next_seq - 1, tip.head);
                    let _ = stdout.flush();
                }
                Err(e) => {
                    eprintln!("crash_writer: flush failed: {e}");
                    return std::process::ExitCode::from(1);
                }
            }
        }
    }
    std::process::ExitCode::SUCCESS
}
