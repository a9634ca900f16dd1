//! The `acttrace` command line: a thin shell over [`crate::verify`].

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use zeroize::Zeroizing;

use crate::chain::SigningKey;
use crate::hex::is_hash_hex;
use crate::verify::{VerifyOptions, verify_path};

/// Exit code: verified.
pub const EXIT_OK: u8 = 0;
/// Exit code: an integrity failure (edited, broken link, bad signature, incomplete, forged or
/// unauthenticated header, malformed or torn line).
pub const EXIT_INTEGRITY: u8 = 1;
/// Exit code: usage error, or a file that cannot be read.
pub const EXIT_USAGE: u8 = 2;

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
    Verify(VerifyArgs),
    /// Repair a log whose last line a crash tore: move the torn bytes to a side file beside the
    /// log, cut the log back to its last complete entry, and append a `recovery` entry that
    /// records what was cut (byte count, SHA-256, side file). A log with any other problem is
    /// refused. The same happens automatically when a writer reopens the log.
    ///
    /// Exit status: 0 repaired or nothing to repair, 1 the log has other integrity problems,
    /// 2 usage error or unreadable file.
    Repair(RepairArgs),
    /// Export an evidence pack annotated with EU AI Act, ISO/IEC 42001, GDPR or NIST AI RMF
    /// control ids: JSONL pack, OSCAL assessment results, HTML report, CSV control index, or a
    /// directory of all of them with a manifest. The log is verified first.
    ///
    /// Exit status: 0 written, 1 the log does not verify, 2 usage error or unreadable file.
    Export(crate::export::cli::ExportArgs),
    /// The at-a-glance read of a log: counts, flags by action and severity, oversight coverage,
    /// time range, verification status.
    Summary(crate::export::cli::SummaryArgs),
    /// Verify an excerpt pack (a filtered export) on its own terms.
    VerifyExcerpt(crate::export::cli::VerifyExcerptArgs),
    /// Redact JSON Lines from stdin with the same engine the layer uses: a dry run on real
    /// samples before turning the layer on. Each input line is any JSON value; each output line
    /// is that value redacted (or, with --findings, what was found: categories and counts only).
    ///
    /// Exit status: 0 done, 2 usage error or a line that is not JSON (named by number).
    Redact(RedactArgs),
    /// Prove (or refute) that a text is the prompt, response or tool input/output an entry
    /// recorded as a content digest (`digest` capture mode). The log is verified with the key
    /// first; the text (a file, or stdin) is redacted with the writer's policy and digested with
    /// the key, as the writer did.
    ///
    /// Exit status: 0 the text matches, 1 it does not, 2 usage error, unreadable or unverifiable
    /// log, or no such digest.
    ProveContent(ProveContentArgs),
}

#[derive(Args, Debug)]
struct ProveContentArgs {
    /// The log file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The entry's seq.
    #[arg(long, value_name = "N")]
    seq: u64,
    /// The content field: input_messages, output_messages, system_instructions, arguments,
    /// result.
    #[arg(long, value_name = "NAME", default_value = "input_messages")]
    field: String,
    /// The claimed text, byte for byte (default: all of stdin).
    #[arg(long, value_name = "PATH")]
    text_file: Option<PathBuf>,
    /// The writer's redaction policy: a preset (default, gdpr, pci, strict) or a TOML file.
    #[arg(long, value_name = "PRESET|FILE", default_value = "default")]
    policy: String,
    /// The digest key in this environment variable, when the writer had one apart from its
    /// signing key (default: the signing key).
    #[arg(long, value_name = "VAR", conflicts_with = "digest_key_file")]
    digest_key_env: Option<String>,
    /// The digest key in this file (default: the signing key).
    #[arg(long, value_name = "PATH")]
    digest_key_file: Option<PathBuf>,
    /// The log's signing key, to check its signatures first (without one, only the chain's
    /// consistency is checked and the result says so).
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Args, Debug)]
struct RedactArgs {
    /// A preset (default, gdpr, pci, strict) or a policy TOML file.
    #[arg(long, value_name = "PRESET|FILE", default_value = "default")]
    policy: String,
    /// Redact every category, whatever the policy says.
    #[arg(long)]
    all: bool,
    /// Print the findings of each line instead of the redacted value.
    #[arg(long)]
    findings: bool,
}

#[derive(Args, Debug)]
struct RepairArgs {
    /// The log file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// Log or export-pack files (JSON lines), or directories of a rotated log's segments.
    #[arg(required = true, value_name = "FILE|DIR")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    key: KeyArgs,
    /// The head hash the log must end at, recorded out of band at write time. Catches a cut
    /// tail, which a hash chain alone cannot see. Only with a single FILE.
    #[arg(long, value_name = "HEX")]
    expect_head: Option<String>,
    /// The number of entries the log must hold, recorded out of band. Only with a single FILE.
    #[arg(long, value_name = "N")]
    expect_entries: Option<u64>,
    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[group(multiple = false)]
struct KeyArgs {
    /// Check signatures with the key in this environment variable.
    #[arg(long, value_name = "VAR")]
    key_env: Option<String>,
    /// Check signatures with the key in this file (one trailing newline is ignored).
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Check signatures with this key. Visible to other users of the machine (ps, /proc):
    /// prefer --key-env or --key-file.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
}

impl KeyArgs {
    fn load(&mut self) -> Result<Option<SigningKey>, String> {
        let named = SigningKey::from_env_or_file(self.key_env.as_deref(), self.key_file.as_deref())
            .map_err(|e| e.to_string())?;
        if named.is_some() {
            return Ok(named);
        }
        if let Some(key) = self.key.take() {
            let key = Zeroizing::new(key);
            eprintln!(
                "acttrace: warning: --key puts the key on the command line, where other users \
                 of this machine can read it; prefer --key-env VAR or --key-file PATH"
            );
            return SigningKey::from_bytes(key.as_bytes())
                .map(Some)
                .map_err(|e| e.to_string());
        }
        Ok(None)
    }
}

/// Runs the command line with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    run(std::env::args_os())
}

/// Runs the command line with `args` (the first is the program name).
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    match cli.command {
        Command::Verify(args) => ExitCode::from(verify(args)),
        Command::Repair(args) => ExitCode::from(repair(args)),
        Command::Export(args) => ExitCode::from(crate::export::cli::run_export(args)),
        Command::Summary(args) => ExitCode::from(crate::export::cli::run_summary(args)),
        Command::VerifyExcerpt(args) => {
            ExitCode::from(crate::export::cli::run_verify_excerpt(args))
        }
        Command::Redact(args) => ExitCode::from(redact(args)),
        Command::ProveContent(args) => ExitCode::from(prove_content(args)),
    }
}

/// A redaction policy named by a preset or a TOML file.
fn load_policy(spec: &str) -> Result<crate::redact::Policy, String> {
    use crate::redact::Policy;
    if let Some(p) = Policy::preset(spec) {
        return Ok(p);
    }
    let text = std::fs::read_to_string(spec).map_err(|e| {
        format!(
            "--policy {spec}: not a preset (default, gdpr, pci, strict) and not a readable file: \
             {e}"
        )
    })?;
    Policy::from_toml_str(&text).map_err(|e| format!("{spec}: {e}"))
}

fn prove_content(mut args: ProveContentArgs) -> u8 {
    use std::io::Read;
    let signing_key = match args.key.load() {
        Ok(k) => k,
        Err(e) => return usage_error(&e),
    };
    let digest_key = match SigningKey::from_env_or_file(
        args.digest_key_env.as_deref(),
        args.digest_key_file.as_deref(),
    ) {
        Ok(Some(k)) => k,
        Ok(None) => match &signing_key {
            Some(k) => k.clone(),
            None => {
                return usage_error(
                    "a key is needed: --key-env/--key-file (the signing key, from which digests \
                     are keyed by default) or --digest-key-env/--digest-key-file",
                );
            }
        },
        Err(e) => return usage_error(&e.to_string()),
    };
    let policy = match load_policy(&args.policy) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let mut bytes = Vec::new();
    let read = match &args.text_file {
        Some(path) => std::fs::read(path)
            .map(|b| bytes = b)
            .map_err(|e| format!("{}: {e}", path.display())),
        None => std::io::stdin()
            .read_to_end(&mut bytes)
            .map(|_| ())
            .map_err(|e| format!("reading stdin: {e}")),
    };
    if let Err(e) = read {
        return usage_error(&e);
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return usage_error("the text is not UTF-8");
    };
    match crate::genai::prove_content(
        &args.file,
        args.seq,
        &args.field,
        &text,
        signing_key.as_ref(),
        &digest_key,
        &policy,
    ) {
        Ok(proof @ crate::genai::ContentProof::Match { .. }) => {
            println!(
                "{}: seq {} {}: {proof}",
                args.file.display(),
                args.seq,
                args.field
            );
            0
        }
        Ok(proof) => {
            println!(
                "{}: seq {} {}: {proof}",
                args.file.display(),
                args.seq,
                args.field
            );
            1
        }
        Err(e) => usage_error(&e.to_string()),
    }
}

fn repair(mut args: RepairArgs) -> u8 {
    use crate::writer::{RepairOutcome, repair};
    let key = match args.key.load() {
        Ok(k) => k,
        Err(e) => return usage_error(&e),
    };
    let shown = args.file.display();
    match repair(&args.file, key.as_ref()) {
        Ok(RepairOutcome::NothingToRepair { entries }) => {
            println!("{shown}: nothing to repair ({entries} entries, no torn line)");
            EXIT_OK
        }
        Ok(RepairOutcome::Repaired {
            recovery,
            recovery_seq,
        }) => {
            print!(
                "{shown}: moved the torn line {} ({} bytes, sha256 {}) to {}",
                recovery.line, recovery.cut_bytes, recovery.cut_sha256, recovery.side_file
            );
            match recovery_seq {
                Some(seq) => println!("; recorded as a recovery entry at seq {seq}"),
                None => println!("; the log held no complete entry and is now empty"),
            }
            EXIT_OK
        }
        Err(e @ crate::Error::CorruptLog { .. }) => {
            eprintln!("acttrace: {e}");
            EXIT_INTEGRITY
        }
        Err(e) => usage_error(&e.to_string()),
    }
}

fn redact(args: RedactArgs) -> u8 {
    use crate::redact::{Policy, redact_value};
    use std::io::BufRead;
    let policy = if args.all {
        Policy::redact_all()
    } else {
        match load_policy(&args.policy) {
            Ok(p) => p,
            Err(e) => return usage_error(&e),
        }
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut line = Vec::new();
    let mut reader = stdin.lock();
    for number in 1u64.. {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return usage_error(&format!("reading stdin: {e}")),
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            return usage_error(&format!("line {number}: not valid UTF-8"));
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let mut value = match crate::json::parse(text) {
            Ok(v) => v,
            Err(e) => return usage_error(&format!("line {number}: not JSON: {e}")),
        };
        let report = redact_value(&mut value, &policy);
        let written = if args.findings {
            let findings: Vec<serde_json::Value> = report
                .categories()
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "category": c.category,
                        "group": c.group,
                        "count": c.count,
                        "action": c.action.as_str(),
                        "severity": c.severity.as_str(),
                    })
                })
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({"line": number, "findings": findings})
            )
        } else {
            writeln!(out, "{}", crate::json::to_line_string(&value))
        };
        if written.is_err() {
            // The reader went away (a closed pipe): stop quietly.
            return EXIT_OK;
        }
    }
    let _ = out.flush();
    EXIT_OK
}

/// Whether `file` starts with an excerpt pack's header (`{"_meta": {..., "excerpt": ...}}`).
fn is_excerpt_pack(file: &std::path::Path) -> bool {
    use std::io::BufRead;
    let Ok(f) = std::fs::File::open(file) else {
        return false;
    };
    let mut first = Vec::new();
    let mut reader = std::io::BufReader::new(f).take(crate::verify::DEFAULT_MAX_LINE_BYTES as u64);
    if reader.read_until(b'\n', &mut first).is_err() {
        return false;
    }
    std::str::from_utf8(&first)
        .ok()
        .and_then(|t| crate::json::parse(t.trim()).ok())
        .is_some_and(|v| v.get("_meta").and_then(|m| m.get("excerpt")).is_some())
}

fn usage_error(message: &str) -> u8 {
    eprintln!("acttrace: error: {message}");
    EXIT_USAGE
}

fn verify(mut args: VerifyArgs) -> u8 {
    if args.files.len() > 1 && (args.expect_head.is_some() || args.expect_entries.is_some()) {
        return usage_error("--expect-head and --expect-entries apply to a single FILE");
    }
    if let Some(h) = &args.expect_head
        && !is_hash_hex(h)
    {
        return usage_error("--expect-head must be 64 lowercase hex digits");
    }
    let key = match args.key.load() {
        Ok(k) => k,
        Err(e) => return usage_error(&e),
    };
    let opts = VerifyOptions {
        key,
        expected_head: args.expect_head.clone(),
        expect_entries: args.expect_entries,
        ..VerifyOptions::default()
    };
    let mut integrity_failed = false;
    let mut unreadable = false;
    let mut reports = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in &args.files {
        if file.is_dir() {
            match crate::verify::verify_dir(file, &opts) {
                Ok(report) => {
                    integrity_failed |= !report.ok();
                    if args.json {
                        reports.push(serde_json::json!({
                            "source": report.dir,
                            "ok": report.ok(),
                            "entries": report.entries(),
                            "head": report.head(),
                            "deleted_by_retention": report.deleted_by_retention,
                            "problems": report.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                            "segments": report.segments.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
                            "summary": report.summary(),
                        }));
                    } else {
                        let _ = writeln!(out, "{}: {}", file.display(), report.summary());
                        for p in report.problems.iter().skip(1) {
                            let _ = writeln!(out, "  also: {p}");
                        }
                        for seg in report.segments.iter().filter(|s| !s.ok()) {
                            let _ = writeln!(out, "  {}: {}", seg.source, seg.summary());
                        }
                    }
                }
                Err(e) => {
                    unreadable = true;
                    let _ = writeln!(out, "{}: cannot read: {e}", file.display());
                }
            }
            continue;
        }
        if is_excerpt_pack(file) {
            // A filtered export holds a selection of entries: its links are checked by the
            // excerpt verifier, not as one contiguous chain.
            match crate::export::verify_excerpt(file, opts.key.as_ref()) {
                Ok(report) => {
                    integrity_failed |= !report.ok();
                    if args.json {
                        reports.push(serde_json::json!({
                            "source": file.display().to_string(),
                            "ok": report.ok(),
                            "excerpt": true,
                            "problems": report.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                            "summary": report.summary(),
                        }));
                    } else {
                        let _ = writeln!(out, "{}: {}", file.display(), report.summary());
                    }
                }
                Err(e) => {
                    unreadable = true;
                    let _ = writeln!(out, "{}: cannot read: {e}", file.display());
                }
            }
            continue;
        }
        match verify_path(file, &opts) {
            Ok(report) => {
                integrity_failed |= !report.ok();
                if args.json {
                    reports.push(report.to_json());
                } else {
                    let _ = writeln!(out, "{}: {}", file.display(), report.summary());
                    for p in report.problems.iter().skip(1) {
                        let _ = writeln!(out, "  also: {p}");
                    }
                    let listed = report.problems.len() as u64;
                    if report.problem_count > listed.max(1) {
                        let _ = writeln!(
                            out,
                            "  ... {} more problems not listed",
                            report.problem_count - listed
                        );
                    }
                }
            }
            Err(e) => {
                unreadable = true;
                if args.json {
                    reports.push(serde_json::json!({
                        "source": file.display().to_string(),
                        "ok": false,
                        "error": e.to_string(),
                    }));
                } else {
                    let _ = writeln!(out, "{}: cannot read: {e}", file.display());
                }
            }
        }
    }
    if args.json {
        let all_ok = !integrity_failed && !unreadable;
        let doc = serde_json::json!({ "ok": all_ok, "results": reports });
        let _ = writeln!(out, "{doc:#}");
    }
    if integrity_failed {
        EXIT_INTEGRITY
    } else if unreadable {
        EXIT_USAGE
    } else {
        EXIT_OK
    }
}
