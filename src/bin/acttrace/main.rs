//! The `acttrace` command line: verify, repair, export, summarise and redact audit logs
//! (acttrace-chain/1) offline, and prove content digests. See `acttrace --help`.
//!
//! Each command is a module beside this one that parses its arguments and calls the library's
//! public API; [`exit`] holds the exit statuses they share.

mod exit;
mod export;
mod keygen;
mod keys;
#[cfg(feature = "nats")]
mod nats;
mod out;
mod prove;
mod redact;
mod repair;
mod tlog;
mod verify;
mod witness;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{EXIT_OK, EXIT_USAGE};

/// Verify and inspect acttrace audit logs (acttrace-chain/1) offline.
#[derive(Parser, Debug)]
#[command(name = "acttrace", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Re-walk a log's (or export pack's) hash chain: links, hashes, signatures, completeness.
    ///
    /// Exit status: 0 verified, 1 integrity failure, 2 usage error or unreadable file.
    Verify(verify::VerifyArgs),
    /// Repair a log whose last line a crash tore: move the torn bytes to a side file beside the
    /// log, cut the log back to its last complete entry, and append a `recovery` entry that
    /// records what was cut (byte count, SHA-256, side file). A log with any other problem is
    /// refused. The same happens automatically when a writer reopens the log.
    ///
    /// Exit status: 0 repaired or nothing to repair, 1 the log has other integrity problems,
    /// 2 usage error or unreadable file.
    Repair(repair::RepairArgs),
    /// Export an evidence pack annotated with EU AI Act, ISO/IEC 42001, GDPR or NIST AI RMF
    /// control ids: JSONL pack, OSCAL assessment results, HTML report, CSV control index, or a
    /// directory of all of them with a manifest. The log is verified first.
    ///
    /// Exit status: 0 written, 1 the log does not verify, 2 usage error or unreadable file.
    Export(export::ExportArgs),
    /// The at-a-glance read of a log: counts, flags by action and severity, oversight coverage,
    /// time range, verification status.
    Summary(export::SummaryArgs),
    /// Verify an excerpt pack (a filtered export) on its own terms; with --vkey, that its
    /// checkpoint is signed, every entry is proven included and the excerpt is complete.
    ///
    /// Exit status: 0 verified, 1 integrity failure or incomplete, 2 usage error or unreadable
    /// file.
    VerifyExcerpt(export::VerifyExcerptArgs),
    /// Redact JSON Lines from stdin with the same engine the layer uses: a dry run on real
    /// samples before turning the layer on. Each input line is any JSON value; each output line
    /// is that value redacted (or, with --findings, what was found: categories and counts only).
    ///
    /// Exit status: 0 done, 2 usage error or a line that is not JSON (named by number).
    Redact(redact::RedactArgs),
    /// Prove (or refute) that a text is the prompt, response or tool input/output an entry
    /// recorded as a content digest (`digest` capture mode). The log is verified with the key
    /// first; the text (a file, or stdin) is redacted with the writer's policy and digested with
    /// the key, as the writer did.
    ///
    /// Exit status: 0 the text matches, 1 it does not, 2 usage error, unreadable or unverifiable
    /// log, or no such digest.
    ProveContent(prove::ProveContentArgs),
    /// Make a new random key: `keygen hmac OUT` writes a signing key (32 random bytes as hex)
    /// to OUT, created with mode 0600; an existing file is never overwritten, and the key is
    /// printed only when OUT is `-`. `keygen checkpoint --origin NAME OUT` writes an Ed25519
    /// checkpoint signing key for the log NAME (Go's note format) to OUT and prints its
    /// verifier key on standard output.
    ///
    /// Exit status: 0 written, 2 usage error or OUT exists or cannot be created.
    Keygen(keygen::KeygenArgs),
    /// Print the log's latest checkpoint (a C2SP signed note) after verifying the log; with
    /// --vkey its signature is checked too.
    ///
    /// Exit status: 0 printed, 1 the log does not verify or holds no checkpoint, 2 usage error.
    Checkpoint(tlog::CheckpointCmdArgs),
    /// Prove from a log: `--seq N [--size M]` an inclusion proof (c2sp.org/tlog-proof@v1, with
    /// the checkpoint of size M, default the latest), `--from-size A --to-size B` a consistency
    /// proof (the c2sp.org/tlog-witness add-checkpoint body). The log is verified while its
    /// entry hashes are gathered (32 bytes each, at most --max-leaves).
    ///
    /// Exit status: 0 printed, 1 the log does not verify, 2 usage error or unprovable request.
    Prove(tlog::ProveArgs),
    /// Verify an inclusion proof (with --entry or --hash) or a consistency proof (with
    /// --old-checkpoint) against checkpoint verifier keys.
    ///
    /// Exit status: 0 verified, 1 it does not verify, 2 usage error.
    VerifyProof(tlog::VerifyProofArgs),
    /// NATS JetStream administration (built with `--features nats`): `nats init` creates the
    /// append-only stream the writers publish to.
    #[cfg(feature = "nats")]
    Nats(nats::NatsArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let code = match cli.command {
        Command::Verify(args) => verify::run(args),
        Command::Repair(args) => repair::run(args),
        Command::Export(args) => export::run_export(args),
        Command::Summary(args) => export::run_summary(args),
        Command::VerifyExcerpt(args) => export::run_verify_excerpt(args),
        Command::Redact(args) => redact::run(args),
        Command::ProveContent(args) => prove::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Checkpoint(args) => tlog::run_checkpoint(args),
        Command::Prove(args) => tlog::run_prove(args),
        Command::VerifyProof(args) => tlog::run_verify_proof(args),
        #[cfg(feature = "nats")]
        Command::Nats(args) => nats::run(args),
    };
    ExitCode::from(out::finish(code))
}
