//! `acttrace nats init` (the admin step that creates an append-only stream) and `nats://`
//! sources for `verify`, `summary` and `export` (feature `nats`).
//!
//! Connection settings come from the environment, never from arguments:
//! `ACTTRACE_NATS_CREDS` (a `.creds` file's path), `ACTTRACE_NATS_USER` and
//! `ACTTRACE_NATS_PASSWORD`, `ACTTRACE_NATS_TOKEN`, `ACTTRACE_NATS_CA` (a PEM file of
//! certificate authorities; also requires TLS), `ACTTRACE_NATS_CERT`/`ACTTRACE_NATS_KEY` (a
//! client certificate for mutual TLS). `ACTTRACE_NATS_CHECKPOINT_STREAM` names the checkpoint
//! stream read with each chain (default `ACTTRACE_CHECKPOINTS`; empty: none).

use std::io::Write;
use std::path::{Path, PathBuf};

use acttrace::nats::{
    NatsClientOptions, NatsCredentials, NatsSource, StreamSettings, StreamVerification,
    init_stream, verify_source,
};
use acttrace::verify::VerifyOptions;
use clap::{Args, Subcommand};

use crate::exit::{EXIT_INTEGRITY, EXIT_OK, EXIT_USAGE, usage_error};
use crate::out::{out, outln};

#[derive(Args, Debug)]
pub(crate) struct NatsArgs {
    #[command(subcommand)]
    command: NatsCommand,
}

#[derive(Subcommand, Debug)]
enum NatsCommand {
    /// Create the JetStream stream the writers publish to, append-only: file storage, limits
    /// retention, discard new, no age limit, deny_delete, deny_purge, no rollups. An existing
    /// stream is checked instead (exit 1 if it is not append-only). The checkpoint stream
    /// (`ACTTRACE_CHECKPOINTS` on `acttrace-checkpoints.>`, where `NatsCheckpointSink`
    /// publishes) is created or checked the same way, unless --no-checkpoint-stream. An admin
    /// step: writers never create streams. Connection settings come from ACTTRACE_NATS_*
    /// variables.
    ///
    /// Exit status: 0 created or already append-only, 1 exists and is not append-only, 2 usage
    /// error or the server cannot be reached.
    Init(InitArgs),
}

#[derive(Args, Debug)]
struct InitArgs {
    /// The server, nats://HOST:PORT (or tls://).
    #[arg(long, value_name = "URL")]
    url: String,
    /// The stream's name.
    #[arg(long, value_name = "NAME", default_value = "ACTTRACE")]
    stream: String,
    /// The subjects it takes.
    #[arg(long = "subject", value_name = "SUBJECT", default_value = "acttrace.>")]
    subjects: Vec<String>,
    /// Replicas: 3 in production (a cluster), 1 for a single server.
    #[arg(long, default_value_t = 1)]
    replicas: u32,
    /// A size limit in bytes; when reached the stream refuses new entries (discard new), it
    /// never expires old ones.
    #[arg(long, value_name = "BYTES")]
    max_bytes: Option<u64>,
    /// The checkpoint stream's name (subjects `acttrace-checkpoints.>`), created or checked
    /// with the same settings.
    #[arg(long, value_name = "NAME", default_value = acttrace::nats::CHECKPOINT_STREAM)]
    checkpoint_stream: String,
    /// Do not create the checkpoint stream (it lives in another account or on other servers:
    /// run `nats init` there with --stream NAME --subject 'acttrace-checkpoints.>').
    #[arg(long)]
    no_checkpoint_stream: bool,
}

/// The connection settings from `ACTTRACE_NATS_*` variables.
pub(crate) fn client_options() -> NatsClientOptions {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let mut o = NatsClientOptions::default();
    if let Some(creds) = var("ACTTRACE_NATS_CREDS") {
        o.credentials = NatsCredentials::CredsFile(PathBuf::from(creds));
    } else if var("ACTTRACE_NATS_USER").is_some() {
        o.credentials = NatsCredentials::UserPasswordEnv {
            user: "ACTTRACE_NATS_USER".into(),
            password: "ACTTRACE_NATS_PASSWORD".into(),
        };
    } else if var("ACTTRACE_NATS_TOKEN").is_some() {
        o.credentials = NatsCredentials::TokenEnv("ACTTRACE_NATS_TOKEN".into());
    }
    if let Some(ca) = var("ACTTRACE_NATS_CA") {
        o.tls.required = true;
        o.tls.ca_file = Some(PathBuf::from(ca));
    }
    if let (Some(cert), Some(key)) = (var("ACTTRACE_NATS_CERT"), var("ACTTRACE_NATS_KEY")) {
        o.tls.client_cert = Some((PathBuf::from(cert), PathBuf::from(key)));
    }
    o
}

/// `Some` when `arg` is a NATS URL: the parsed source or why it is not one.
pub(crate) fn source_of(arg: &Path) -> Option<Result<NatsSource, String>> {
    let text = arg.to_str()?;
    NatsSource::parse(text).map(|r| {
        let mut source = r.map_err(|e| e.to_string())?;
        // The checkpoint stream read with each chain: ACTTRACE_CHECKPOINTS unless the
        // variable names another (empty: none).
        if let Some(name) = std::env::var_os("ACTTRACE_NATS_CHECKPOINT_STREAM") {
            let name = name.to_string_lossy().into_owned();
            if !name.is_empty() {
                acttrace::nats::validate_stream(&name).map_err(|e| e.to_string())?;
            }
            source.checkpoint_stream = Some(name).filter(|n| !n.is_empty());
        }
        Ok(source)
    })
}

/// Runs `nats`; returns the exit code.
pub(crate) fn run(args: NatsArgs) -> u8 {
    match args.command {
        NatsCommand::Init(a) => {
            let mut streams = vec![StreamSettings {
                name: a.stream,
                subjects: a.subjects,
                replicas: a.replicas,
                max_bytes: a.max_bytes,
            }];
            if !a.no_checkpoint_stream {
                streams.push(StreamSettings {
                    replicas: a.replicas,
                    max_bytes: a.max_bytes,
                    ..StreamSettings::checkpoints(a.checkpoint_stream)
                });
            }
            for settings in &streams {
                match init_stream(&a.url, &client_options(), settings) {
                    Ok(info) => {
                        let c = &info["config"];
                        outln!(
                            "{}/{}: append-only stream ready (subjects {}, {} replica(s), \
                             created {})",
                            a.url,
                            settings.name,
                            c["subjects"],
                            c["num_replicas"],
                            info["created"].as_str().unwrap_or("?")
                        );
                    }
                    Err(e @ acttrace::Error::Incompatible(_)) => {
                        eprintln!("acttrace: error: {e}");
                        return EXIT_INTEGRITY;
                    }
                    Err(e) => return usage_error(&e.to_string()),
                }
            }
            EXIT_OK
        }
    }
}

/// `verify nats://...`: one line per chain and a total; `Err` when the stream cannot be read.
pub(crate) fn verify(
    source: &NatsSource,
    opts: &VerifyOptions,
    json: bool,
    out: &mut dyn Write,
) -> Result<(StreamVerification, Option<serde_json::Value>), String> {
    let report = verify_source(source, &client_options(), opts).map_err(|e| e.to_string())?;
    if report.chains.is_empty() {
        // Nothing found to check, like a directory without segments: a mistake in the command
        // (or the stream), not evidence about a chain.
        return Err(format!("stream {} holds no chain", source.stream));
    }
    if json {
        let chains: Vec<_> = report
            .chains
            .iter()
            .map(|c| {
                let mut v = c.verification.to_json();
                v["subject"] = c.subject.clone().into();
                v["messages"] = c.messages.into();
                v["last_stream_seq"] = c.last_stream_seq.into();
                v["checkpoint_stream_size"] = c.checkpoint_stream_size.into();
                v["checkpoint_stream_missing"] = c.checkpoint_stream_missing.into();
                v
            })
            .collect();
        let doc = serde_json::json!({
            "source": report.source,
            "ok": report.ok(),
            "chains": chains,
            "chains_ok": report.chains.len() - report.failed(),
            "chains_failed": report.failed(),
        });
        return Ok((report, Some(doc)));
    }
    for c in &report.chains {
        let _ = writeln!(
            out,
            "{}: {} ({} messages, head {}, to stream seq {}; {})",
            c.subject,
            c.verification.summary(),
            c.messages,
            c.verification.head,
            c.last_stream_seq,
            checkpoint_stream_note(source, c)
        );
        for p in c.verification.problems.iter().skip(1) {
            let _ = writeln!(out, "  also: {p}");
        }
    }
    let _ = writeln!(
        out,
        "{}: {} chain(s): {} ok, {} failed",
        report.source,
        report.chains.len(),
        report.chains.len() - report.failed(),
        report.failed()
    );
    Ok((report, None))
}

/// What the checkpoint stream held for a chain.
fn checkpoint_stream_note(source: &NatsSource, c: &acttrace::nats::ChainReport) -> String {
    match (&source.checkpoint_stream, c.checkpoint_stream_size) {
        (None, _) => "checkpoint stream not read".into(),
        (Some(s), _) if c.checkpoint_stream_missing => {
            format!("checkpoint stream {s}: missing, no checkpoint checked against it")
        }
        (Some(s), Some(size)) => format!("checkpoint stream {s}: latest at tree size {size}"),
        (Some(s), None) => format!("checkpoint stream {s}: none for this chain"),
    }
}

/// Copies one chain from the stream into a local file (verifying it as it is read), for the
/// commands that read files. Returns the file, which the caller removes.
pub(crate) fn fetch_to_file(
    source: &NatsSource,
    opts: &VerifyOptions,
    dir: &Path,
) -> Result<PathBuf, (u8, String)> {
    if source.subject.is_none() {
        return Err((
            EXIT_USAGE,
            format!(
                "{}: name one chain: nats://HOST:PORT/STREAM/SUBJECT",
                source.display()
            ),
        ));
    }
    let path = dir.join(format!(
        ".acttrace-nats-{}-{}.jsonl",
        std::process::id(),
        source.subject.as_deref().unwrap_or("")
    ));
    let mut file = std::fs::File::create(&path)
        .map_err(|e| (EXIT_USAGE, format!("cannot create {}: {e}", path.display())))?;
    let report = acttrace::nats::copy_subject(source, &client_options(), opts, &mut file);
    let fail = |code, msg| {
        let _ = std::fs::remove_file(&path);
        Err((code, msg))
    };
    match report {
        Err(e) => fail(EXIT_USAGE, e.to_string()),
        Ok(r) if !r.ok() => fail(
            EXIT_INTEGRITY,
            format!("{}: {}", source.display(), r.verification.summary()),
        ),
        Ok(_) => Ok(path),
    }
}

/// Worst of two exit codes for a run over many chains: an integrity failure (1) first, then a
/// usage error or unreadable chain (2).
fn worst(a: u8, b: u8) -> u8 {
    if a == EXIT_INTEGRITY || b == EXIT_INTEGRITY {
        EXIT_INTEGRITY
    } else {
        a.max(b)
    }
}

/// The stream's chains, or the exit code of why there are none to read.
fn chains_of(source: &NatsSource) -> Result<Vec<String>, u8> {
    match acttrace::nats::list_chains(source, &client_options()) {
        Ok(c) if c.is_empty() => Err(usage_error(&format!(
            "stream {} holds no chain",
            source.stream
        ))),
        Ok(c) => Ok(c),
        Err(e) => Err(usage_error(&e.to_string())),
    }
}

/// One chain of `source`'s stream.
fn chain_of(source: &NatsSource, subject: &str) -> NatsSource {
    NatsSource {
        subject: Some(subject.to_owned()),
        ..source.clone()
    }
}

/// `export nats://HOST:PORT/STREAM`: one pack per chain in the directory `out`,
/// `OUT/<subject>.<ext>` (`OUT/<subject>/` for `--format dir`). A pack is one chain (one head,
/// one signed header over it): chains are never mixed into one. A chain that does not verify
/// is not exported (exit 1); the others are.
pub(crate) fn export_stream(
    source: &NatsSource,
    out: &Path,
    opts: &acttrace::export::ExportOptions,
) -> u8 {
    use acttrace::export::Format;
    if out.exists() && !out.is_dir() {
        return usage_error(&format!(
            "{}: every chain of a stream is exported to a directory (one pack per chain); {} is \
             not one",
            source.display(),
            out.display()
        ));
    }
    if let Err(e) = std::fs::create_dir_all(out) {
        return usage_error(&format!("cannot create {}: {e}", out.display()));
    }
    let chains = match chains_of(source) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let verify = VerifyOptions {
        key: opts.key.clone(),
        ..VerifyOptions::default()
    };
    let (mut code, mut failed) = (EXIT_OK, 0usize);
    for subject in &chains {
        let chain = chain_of(source, subject);
        let target = match opts.format {
            Format::Dir => out.join(subject),
            Format::Jsonl => out.join(format!("{subject}.jsonl")),
            Format::Oscal => out.join(format!("{subject}.json")),
            Format::Html => out.join(format!("{subject}.html")),
            Format::Csv => out.join(format!("{subject}.csv")),
        };
        let chain_code = match fetch_to_file(&chain, &verify, out) {
            Err((c, msg)) => {
                eprintln!("acttrace: error: {msg}");
                c
            }
            Ok(path) => {
                let c =
                    crate::export::export_log(Path::new(&chain.display()), &path, &target, opts);
                let _ = std::fs::remove_file(&path);
                c
            }
        };
        if chain_code != EXIT_OK {
            failed += 1;
        }
        code = worst(code, chain_code);
    }
    outln!(
        "{}: {} chain(s) exported to {}: {} ok, {failed} failed",
        source.display(),
        chains.len(),
        out.display(),
        chains.len() - failed
    );
    code
}

/// `summary nats://HOST:PORT/STREAM`: one summary per chain (each chain verified as it is
/// copied, then summarised) and a total; with `json`, one document holding them.
pub(crate) fn summary_stream(
    source: &NatsSource,
    key: Option<acttrace::SigningKey>,
    json: bool,
) -> u8 {
    let chains = match chains_of(source) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let verify = VerifyOptions {
        key,
        ..VerifyOptions::default()
    };
    let opts = acttrace::export::SummaryOptions {
        verify: verify.clone(),
    };
    let (mut code, mut failed) = (EXIT_OK, 0usize);
    let mut docs = Vec::new();
    for subject in &chains {
        let chain = chain_of(source, subject);
        let summarised = fetch_to_file(&chain, &verify, &std::env::temp_dir()).and_then(|path| {
            let r = acttrace::export::summarize_path(&path, &opts, &mut |_| {});
            let _ = std::fs::remove_file(&path);
            r.map_err(|e| (crate::exit::export_failure(&e), e.to_string()))
        });
        let chain_code = match summarised {
            Ok(report) => {
                if json {
                    let mut doc = report.to_json();
                    doc["subject"] = subject.clone().into();
                    docs.push(doc);
                } else {
                    outln!("== {subject}");
                    out!("{}", report.render_text());
                }
                if report.verification.ok() {
                    EXIT_OK
                } else {
                    EXIT_INTEGRITY
                }
            }
            Err((c, msg)) => {
                if json {
                    docs.push(serde_json::json!({"subject": subject, "ok": false, "error": msg}));
                } else {
                    outln!("== {subject}\n{msg}");
                }
                c
            }
        };
        if chain_code != EXIT_OK {
            failed += 1;
        }
        code = worst(code, chain_code);
    }
    if json {
        let doc = serde_json::json!({
            "source": source.display(),
            "ok": failed == 0,
            "chains": docs,
            "chains_ok": chains.len() - failed,
            "chains_failed": failed,
        });
        outln!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
    } else {
        outln!(
            "{}: {} chain(s): {} ok, {failed} failed",
            source.display(),
            chains.len(),
            chains.len() - failed
        );
    }
    code
}
