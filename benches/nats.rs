//! The NATS JetStream writer next to the file writer, in one run: durable entries/s (signed
//! and redacted, the throughput bench's workload, each round ending with a flush) and commit
//! latency (one entry then a flush, p50/p99), against a local single-replica `nats-server`
//! started here (skipped when it is not installed).
//!
//! `cargo bench --bench nats --features nats`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acttrace::nats::{NatsClientOptions, NatsConfig, StreamSettings, init_stream};
use acttrace::{AuditGuard, AuditLayer, AuditLayerBuilder, SigningKey};
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

#[path = "support/workload.rs"]
mod workload;
use workload::decision;

const PER_DECISION: u64 = 6;

struct Server(Child);

impl Server {
    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([format!("-{sig}"), self.0.id().to_string()])
            .status();
    }
}

/// This process's resident memory, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a server on a random port; its client URL, or `None` when nats-server is missing.
fn start(dir: &Path) -> Option<(Server, String)> {
    let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())?;
    let child = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-js", "-sd"])
        .arg(dir.join("js"))
        .arg("--ports_file_dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let ports = dir.join(format!("nats-server_{}.ports", child.id()));
    let server = Server(child);
    let v: serde_json::Value = loop {
        if let Some(v) = std::fs::read_to_string(&ports)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            break v;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let monitor = v["monitoring"][0]
        .as_str()?
        .trim_start_matches("http://")
        .to_owned();
    loop {
        let healthy = TcpStream::connect(&monitor)
            .and_then(|mut c| {
                c.write_all(b"GET /healthz?js-enabled-only=true HTTP/1.0\r\n\r\n")?;
                let mut body = String::new();
                c.read_to_string(&mut body)?;
                Ok(body.contains("\"ok\""))
            })
            .unwrap_or(false);
        if healthy {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((server, v["nats"][0].as_str()?.to_owned()))
}

fn open(builder: AuditLayerBuilder) -> (Dispatch, AuditGuard) {
    let (layer, guard) = builder
        .system("bench")
        .signing_key(SigningKey::from_bytes("bench-key-0123456789").unwrap())
        .build()
        .unwrap();
    (
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

/// Durable entries/s over `rounds` rounds of `decisions` decisions, each ending with a flush.
fn throughput(d: &Dispatch, guard: &AuditGuard, rounds: u64, decisions: u64) -> f64 {
    tracing::dispatcher::with_default(d, || {
        let start = Instant::now();
        for r in 0..rounds {
            for i in 0..decisions {
                decision(r * decisions + i);
            }
            guard.flush().unwrap();
        }
        (rounds * decisions * PER_DECISION) as f64 / start.elapsed().as_secs_f64()
    })
}

/// p50 and p99 of one entry then a flush, over `n` commits.
fn latency(d: &Dispatch, guard: &AuditGuard, n: usize) -> (Duration, Duration) {
    let mut times: Vec<Duration> = tracing::dispatcher::with_default(d, || {
        (0..n)
            .map(|i| {
                let start = Instant::now();
                acttrace::tool_call!(name = "t", arguments = %i);
                guard.flush().unwrap();
                start.elapsed()
            })
            .collect()
    });
    times.sort();
    (times[n / 2], times[n * 99 / 100])
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it with no such flag: then a
    // quick pass only checks it runs.
    let quick = !std::env::args().any(|a| a == "--bench");
    let (rounds, decisions, commits) = if quick {
        (2, 100, 50)
    } else {
        (20, 1_000, 2_000)
    };
    let dir = tempfile::tempdir().unwrap();
    let Some((server, url)) = start(dir.path()) else {
        println!("skipped: nats-server not installed (apt-get install nats-server)");
        return;
    };
    init_stream(
        &url,
        &NatsClientOptions::default(),
        &StreamSettings::new("BENCH"),
    )
    .unwrap();
    let mut n = 0;
    let mut nats = || {
        n += 1;
        AuditLayer::builder().nats(NatsConfig::new(
            url.clone(),
            "BENCH",
            format!("acttrace.bench.run-{n}"),
            dir.path().join(format!("state-{n}")),
        ))
    };
    let file = |name: &str| AuditLayer::builder().path(dir.path().join(name));

    let (d, g) = open(file("t.jsonl"));
    let file_rate = throughput(&d, &g, rounds, decisions);
    drop(g);
    let (d, g) = open(nats());
    let nats_rate = throughput(&d, &g, rounds, decisions);
    drop(g);
    let (d, g) = open(file("l.jsonl"));
    let (f50, f99) = latency(&d, &g, commits);
    drop(g);
    let (d, g) = open(nats());
    let (n50, n99) = latency(&d, &g, commits);
    drop(g);
    // Memory while the server is stalled (SIGSTOP): callers wait once the queue is full, so
    // what the process holds is bounded by the queue, however many events are emitted.
    let (d, g) = open(nats());
    let before = rss_mib();
    server.signal("STOP");
    let emitter = {
        let d = d.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&d, || {
                for i in 0..200_000 {
                    decision(i);
                }
            })
        })
    };
    let handle = g.handle();
    while handle.status().queue_len < 16_384 && !emitter.is_finished() {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(if quick {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(10)
    });
    let stalled = rss_mib();
    server.signal("CONT");
    emitter.join().unwrap();
    g.flush().unwrap();
    drop(g);
    println!(
        "RSS with the server stalled: {before:.1} MiB before, {stalled:.1} MiB with the queue full \
         after {}",
        if quick { "0.2 s" } else { "10 s" }
    );
    println!("writer | entries/s (signed, redacted) | commit p50 | commit p99");
    println!("file (fdatasync) | {file_rate:.0} | {f50:?} | {f99:?}");
    println!("NATS JetStream, local, 1 replica | {nats_rate:.0} | {n50:?} | {n99:?}");
}
