//! Quickstart: audit three loan decisions (model call, tool call, human sign-off, a pre-flight
//! refusal) into a signed JSONL log, then verify it offline.
//!
//! ```text
//! cargo run --example quickstart                 # writes target/acttrace-quickstart/audit.jsonl
//! cargo run --example quickstart -- my/audit.jsonl
//! ```
//!
//! The signing key comes from `ACTTRACE_KEY` when set; otherwise a random demo key is created
//! once in `audit.key` beside the log (mode 0600). Running it again continues the same chain.
//!
//! With `ACTTRACE_CHECKPOINT_KEY_FILE` naming a checkpoint key (Go's private key format, as
//! `acttrace keygen checkpoint` writes it), the log also carries signed checkpoints that anyone
//! holding the verifier key can check, and the notes are kept in `checkpoints.jsonl` beside it.
//!
//! With `--features nats` and `ACTTRACE_NATS_URL` set (`nats://127.0.0.1:4222`), the chain goes
//! to the NATS JetStream stream `ACTTRACE` instead, on subject `acttrace.quickstart.<pid>`
//! (the stream is created with `acttrace nats init`'s append-only settings if absent: for the
//! example only; in production that is an admin step):
//!
//! ```text
//! ACTTRACE_NATS_URL=nats://127.0.0.1:4222 cargo run --example quickstart --features nats
//! ```
//!
//! With a checkpoint key too, the checkpoints go to the stream `ACTTRACE_CHECKPOINTS` (created
//! likewise), and the `verify` command printed at the end checks them with `--vkey`.

use std::path::PathBuf;
use std::process::ExitCode;

use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::{AuditLayer, FlagAction, RiskTier, Severity, SigningKey};
use tracing::instrument;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

#[instrument(skip_all, fields(audit.decision = "loan.approve", actor = "agent", applicant = id, amount), ret)]
fn approve(id: u64, amount: u64) -> bool {
    tracing::Span::current().record("amount", amount);
    acttrace::context!(sources = "credit_policy_v7.md", tokens = 1840u64);
    acttrace::llm_call!(
        provider = "openai",
        model = "gpt-4o",
        input_tokens = 812u64,
        output_tokens = 64u64,
        cost = "0.0123 USD",
        latency_ms = 412.5
    );
    acttrace::tool_call!(name = "credit_score", arguments = %format!("{{\"applicant\": {id}}}"));
    let approved = amount <= 50_000;
    acttrace::oversight!(
        reviewer = "ops-reviewer-17",
        action = if approved { "approved" } else { "escalated" }
    );
    tracing::info!(approved, "ordinary log line: not an audit entry");
    approved
}

fn main() -> ExitCode {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/acttrace-quickstart/audit.jsonl"));
    match run(&path) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("quickstart: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(path: &std::path::Path) -> Result<bool, Box<dyn std::error::Error>> {
    // The builder creates the log's directory; the demo key lives there too.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let key_file = path.with_file_name("audit.key");
    let key = match SigningKey::from_env("ACTTRACE_KEY") {
        Ok(key) => key,
        Err(_) => demo_key(&key_file)?,
    };

    let builder = AuditLayer::builder()
        .system("loan-desk")
        .risk_tier(RiskTier::High)
        .signing_key(key.clone());
    let nats_url = std::env::var("ACTTRACE_NATS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    #[cfg(feature = "nats")]
    let nats = nats_url.map(|url| NatsTarget::new(url, path));
    #[cfg(not(feature = "nats"))]
    let nats: Option<std::convert::Infallible> = {
        if nats_url.is_some() {
            eprintln!("ACTTRACE_NATS_URL is ignored: run with --features nats");
        }
        None
    };
    #[cfg(feature = "nats")]
    let nats_config = nats.as_ref().map(NatsTarget::config).transpose()?;
    let mut builder = match &nats {
        #[cfg(feature = "nats")]
        Some(_) => builder.nats(nats_config.clone().expect("made above")),
        #[cfg(not(feature = "nats"))]
        Some(never) => match *never {},
        None => builder.path(path),
    };
    let checkpoint_key = std::env::var_os("ACTTRACE_CHECKPOINT_KEY_FILE").filter(|v| !v.is_empty());
    if let Some(file) = &checkpoint_key {
        builder = builder.checkpoint_key_from_file(file);
        #[cfg(feature = "nats")]
        if let Some(config) = &nats_config {
            // Off the host and apart from the entries: the checkpoint stream.
            let sink = acttrace::nats::NatsCheckpointSink::for_chain(
                config,
                acttrace::nats::CHECKPOINT_STREAM,
            );
            println!(
                "writing signed checkpoints with the key in {} (notes also published to {})",
                PathBuf::from(file).display(),
                acttrace::checkpoint::CheckpointSink::describe(&sink)
            );
            builder = builder.checkpoint_sink(sink);
        }
        if nats.is_none() {
            let held = path.with_file_name("checkpoints.jsonl");
            println!(
                "writing signed checkpoints with the key in {} (notes also kept in {})",
                PathBuf::from(file).display(),
                held.display()
            );
            builder = builder.checkpoint_sink(acttrace::checkpoint::FileCheckpointSink::new(held));
        }
    }
    let (audit, guard) = builder.build()?;
    // Filters per layer: a filter added with `.with(..)` would apply to every layer, the audit
    // layer included, and the decisions it disables would never be recorded. The console never
    // prints audit records (redaction protects the chain, not other layers).
    let console = tracing_subscriber::fmt::layer()
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_filter(acttrace::filter::exclude_audit());
    tracing_subscriber::registry()
        .with(console)
        .with(audit)
        .init();

    for (id, amount) in [(1001, 12_000), (1002, 80_000), (1003, 45_500)] {
        approve(id, amount);
    }
    // A pre-flight guard refused a call: the refusal itself is on the chain.
    let refusal = guard.flag(
        "card number in prompt",
        FlagAction::Blocked,
        Severity::Critical,
        &["credit_card"],
    )?;
    if checkpoint_key.is_some() {
        // A flush checkpoints everything so far.
        guard.flush()?;
        let status = guard.status();
        println!(
            "checkpoints: {} this run, the last covering {} entries",
            status.checkpoints,
            status.last_checkpoint_size.unwrap_or(0)
        );
    }
    let report = guard.shutdown(std::time::Duration::from_secs(10))?;
    #[cfg(feature = "nats")]
    if let Some(target) = &nats {
        return target.verify(&report, key, &key_file, checkpoint_key.as_deref());
    }
    println!(
        "wrote {} entries this run to {} (refusal sealed at seq {}); head {}",
        report.committed_entries,
        path.display(),
        refusal.seq,
        report.head.head
    );

    // With a checkpoint key, the checkpoints are checked with its public half too: what an
    // auditor without the HMAC key can check.
    let vkey = match &checkpoint_key {
        Some(file) => {
            let text = zeroize::Zeroizing::new(std::fs::read_to_string(file)?);
            Some(acttrace::checkpoint::SignerKey::parse(text.trim())?.verifier())
        }
        None => None,
    };
    let mut opts = VerifyOptions {
        key: Some(key),
        expected_head: Some(report.head.head.clone()),
        expect_entries: Some(report.head.next_seq),
        ..VerifyOptions::default()
    };
    opts.checkpoints.keys = vkey.iter().cloned().collect();
    let verdict = verify_path(path, &opts)?;
    println!("verify: {}", verdict.summary());
    let vkey_arg = vkey.map_or(String::new(), |v| format!(" --vkey {v}"));
    println!(
        "check it yourself: cargo run -- verify {} --key-file {} --expect-head {}{vkey_arg}",
        path.display(),
        key_file.display(),
        report.head.head
    );
    Ok(verdict.ok())
}

/// A random demo key kept beside the log, readable only by its owner.
fn demo_key(key_file: &std::path::Path) -> Result<SigningKey, Box<dyn std::error::Error>> {
    if !key_file.exists() {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        std::io::Write::write_all(&mut opts.open(key_file)?, hex.as_bytes())?;
        eprintln!(
            "created demo signing key {} (set ACTTRACE_KEY to use your own)",
            key_file.display()
        );
    }
    Ok(SigningKey::from_file(key_file)?)
}

/// Where the example writes when `ACTTRACE_NATS_URL` is set.
#[cfg(feature = "nats")]
struct NatsTarget {
    url: String,
    subject: String,
    state_file: PathBuf,
}

#[cfg(feature = "nats")]
impl NatsTarget {
    const STREAM: &str = "ACTTRACE";

    fn new(url: String, log: &std::path::Path) -> NatsTarget {
        let pid = std::process::id();
        NatsTarget {
            url,
            subject: format!("acttrace.quickstart.{pid}"),
            state_file: log.with_file_name(format!("nats-{pid}.state")),
        }
    }

    /// The streams, entries' and checkpoints' (created with the admin step's settings when
    /// absent: for the example only), and the writer's configuration.
    fn config(&self) -> Result<acttrace::nats::NatsConfig, acttrace::Error> {
        use acttrace::nats::{CHECKPOINT_STREAM, NatsClientOptions, StreamSettings, init_stream};
        for settings in [
            StreamSettings::new(Self::STREAM),
            StreamSettings::checkpoints(CHECKPOINT_STREAM),
        ] {
            init_stream(&self.url, &NatsClientOptions::default(), &settings)?;
        }
        Ok(acttrace::nats::NatsConfig::new(
            &self.url,
            Self::STREAM,
            &self.subject,
            &self.state_file,
        ))
    }

    /// Verifies the chain straight from the stream and prints the command that does it.
    fn verify(
        &self,
        report: &acttrace::ShutdownReport,
        key: SigningKey,
        key_file: &std::path::Path,
        checkpoint_key: Option<&std::ffi::OsStr>,
    ) -> Result<bool, Box<dyn std::error::Error>> {
        // The checkpoint verifier key (public), derived from the private key file.
        let vkey = checkpoint_key
            .map(|file| -> Result<_, Box<dyn std::error::Error>> {
                let text = std::fs::read_to_string(file)?;
                Ok(acttrace::checkpoint::SignerKey::parse(text.trim())?.verifier())
            })
            .transpose()?;
        let source = acttrace::nats::NatsSource {
            url: self.url.clone(),
            stream: Self::STREAM.into(),
            subject: Some(self.subject.clone()),
            checkpoint_stream: Some(acttrace::nats::CHECKPOINT_STREAM.into()),
        };
        println!(
            "wrote {} entries to {}; head {}",
            report.committed_entries,
            source.display(),
            report.head.head
        );
        let verdict = acttrace::nats::verify_source(
            &source,
            &Default::default(),
            &VerifyOptions {
                key: Some(key),
                expected_head: Some(report.head.head.clone()),
                expect_entries: Some(report.head.next_seq),
                checkpoints: acttrace::verify::CheckpointOptions {
                    keys: vkey.iter().cloned().collect(),
                    ..Default::default()
                },
                ..VerifyOptions::default()
            },
        )?;
        for chain in &verdict.chains {
            println!(
                "verify: {}: {}",
                chain.subject,
                chain.verification.summary()
            );
        }
        let vkey_arg = vkey.map_or(String::new(), |v| format!(" --vkey {v}"));
        println!(
            "check it yourself: cargo run --features nats -- verify {} --key-file {} --expect-head {}{vkey_arg}",
            source.display(),
            key_file.display(),
            report.head.head
        );
        Ok(verdict.ok())
    }
}
