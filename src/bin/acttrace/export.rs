//! `acttrace export`, `acttrace summary` and `acttrace verify-excerpt`: evidence packs,
//! the at-a-glance read of a log, and excerpt packs checked on their own terms.
//!
//! Exit status (as `acttrace verify`): 0 success, 1 integrity failure (the log or excerpt does
//! not verify), 2 usage error or unreadable file (unknown framework, bad mapping file, bad
//! time, missing key).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use acttrace::export::{
    ExportOptions, Filter, Format, Progress, SummaryOptions, export_path, summarize_dir,
    summarize_path, verify_excerpt_vkeys,
};
use acttrace::verify::{ProblemKind, VerifyOptions};
use clap::{Args, ValueEnum};

use crate::exit::{EXIT_INTEGRITY, EXIT_OK, EXIT_USAGE, export_failure, usage_error};
use crate::keys::{ExportKeyArgs, load_vkeys};
use crate::out::{out, outln};
use crate::verify::check_expect_head;

/// The `--format` values: one per [`Format`], documented for `--help`.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    /// The JSONL evidence pack (reference format plus extensions).
    Jsonl,
    /// OSCAL 1.1.2 assessment results (JSON).
    Oscal,
    /// A self-contained HTML report.
    Html,
    /// The control-evidence index (RFC 4180 CSV).
    Csv,
    /// A directory with all of the above and a manifest.
    Dir,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Jsonl => Format::Jsonl,
            FormatArg::Oscal => Format::Oscal,
            FormatArg::Html => Format::Html,
            FormatArg::Csv => Format::Csv,
            FormatArg::Dir => Format::Dir,
        }
    }
}

/// `acttrace export LOG --framework F [--format jsonl|oscal|html|csv|dir] -o OUT ...`
#[derive(Args, Debug, Clone)]
pub(crate) struct ExportArgs {
    /// The audit log (or an export pack) to export; `-` reads standard input. Read once.
    #[arg(value_name = "LOG")]
    log: PathBuf,
    /// eu_ai_act, iso_42001, gdpr, nist_rmf, a framework added with --mapping, or all.
    #[arg(long, value_name = "FRAMEWORK")]
    framework: String,
    /// Output format; `dir` writes every format plus manifest.json into OUT. Without it, the
    /// format follows OUT's extension: .jsonl, .json (OSCAL), .html/.htm, .csv, or a path
    /// ending in `/` (or an existing directory) for `dir`; any other OUT needs --format.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Output file (or directory for --format dir).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    out: PathBuf,
    /// The signing key's source.
    #[command(flatten)]
    key: ExportKeyArgs,
    /// A mapping file (JSON, schema acttrace-mapping/1) that adds a framework or replaces a
    /// built-in one. Repeatable.
    #[arg(long = "mapping", value_name = "FILE")]
    mapping: Vec<PathBuf>,
    /// Only entries at or after this UTC time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[.ffffff]Z):
    /// writes an excerpt pack.
    #[arg(long, value_name = "TS")]
    from: Option<String>,
    /// Only entries at or before this UTC time (a date alone includes that whole day).
    #[arg(long, value_name = "TS")]
    to: Option<String>,
    /// Only the entries of this decision (and decisions nested in it): writes an excerpt pack.
    #[arg(long, value_name = "ID")]
    decision: Option<String>,
    /// The head hash the log must end at, recorded out of band.
    #[arg(long, value_name = "HEX")]
    expect_head: Option<String>,
    /// The number of entries the log must hold, recorded out of band.
    #[arg(long, value_name = "N")]
    expect_entries: Option<u64>,
    /// Export even if the log does not verify; every output is then marked unverified.
    #[arg(long)]
    allow_unverified: bool,
}

/// `acttrace summary LOG [--json]`
#[derive(Args, Debug, Clone)]
pub(crate) struct SummaryArgs {
    /// The audit log, an export pack or directory, or a rotated log's directory of segments;
    /// `-` reads standard input. Read once.
    #[arg(value_name = "LOG")]
    log: PathBuf,
    /// The signing key's source.
    #[command(flatten)]
    key: ExportKeyArgs,
    /// The head hash the log must end at, recorded out of band (for a directory: the whole
    /// chain's head).
    #[arg(long, value_name = "HEX")]
    expect_head: Option<String>,
    /// The number of entries the log must hold, recorded out of band (for a directory: the
    /// whole chain's).
    #[arg(long, value_name = "N")]
    expect_entries: Option<u64>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `acttrace verify-excerpt PACK`
#[derive(Args, Debug, Clone)]
pub(crate) struct VerifyExcerptArgs {
    /// The excerpt pack written by a filtered export; `-` reads standard input.
    #[arg(value_name = "PACK")]
    pack: PathBuf,
    /// The signing key's source.
    #[command(flatten)]
    key: ExportKeyArgs,
    /// The source log's head hash, recorded out of band: the pack's header must name it.
    #[arg(long, value_name = "HEX")]
    expect_head: Option<String>,
    /// The source log's entry count, recorded out of band: the pack's header must state it.
    #[arg(long, value_name = "N")]
    expect_entries: Option<u64>,
    /// The log's checkpoint verifier key, `<origin>+<key id>+<base64>` (repeatable): the pack's
    /// checkpoint must be signed by it, every entry proven included, and the excerpt proven
    /// complete (else "incomplete: ..."). Without one, what was not checked is listed.
    #[arg(long = "vkey", value_name = "VKEY")]
    vkey: Vec<String>,
    /// A file of checkpoint verifier keys, one per line (blank lines and `#` comments
    /// ignored). Repeatable.
    #[arg(long = "vkey-file", value_name = "PATH")]
    vkey_file: Vec<PathBuf>,
}

/// The format `out` names by its extension (issue #15 §4: `-o report.html` without
/// `--format` used to write JSONL); `Err` when it names none.
fn format_of_out(out: &std::path::Path) -> Result<FormatArg, String> {
    let text = out.to_string_lossy();
    if text.ends_with('/') || out.is_dir() {
        return Ok(FormatArg::Dir);
    }
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("jsonl") => Ok(FormatArg::Jsonl),
        Some("json") => Ok(FormatArg::Oscal),
        Some("html" | "htm") => Ok(FormatArg::Html),
        Some("csv") => Ok(FormatArg::Csv),
        _ => Err(format!(
            "cannot tell the output format from {:?}: pass --format jsonl|oscal|html|csv|dir, \
             or name OUT .jsonl, .json (OSCAL), .html, .csv or DIR/",
            out.display().to_string()
        )),
    }
}

/// A chain copied from a NATS stream into a local file, removed when dropped.
pub(crate) struct Fetched(PathBuf);

impl Drop for Fetched {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// For a `nats://HOST:PORT/STREAM/SUBJECT` log: the chain copied into a file in `near`'s
/// directory (verified while it was read; a chain that does not verify is refused with exit 1).
/// `Ok(None)` for any other log.
fn fetch_nats(
    log: &std::path::Path,
    key: &Option<acttrace::SigningKey>,
    near: &std::path::Path,
) -> Result<Option<Fetched>, u8> {
    let Some(source) = crate::verify::nats_source(log) else {
        return Ok(None);
    };
    let source = source.map_err(|e| usage_error(&e))?;
    #[cfg(feature = "nats")]
    {
        let dir = if near.is_dir() {
            near
        } else {
            near.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."))
        };
        let opts = VerifyOptions {
            key: key.clone(),
            ..VerifyOptions::default()
        };
        crate::nats::fetch_to_file(&source, &opts, dir)
            .map(|p| Some(Fetched(p)))
            .map_err(|(code, e)| {
                eprintln!("acttrace: error: {e}");
                code
            })
    }
    #[cfg(not(feature = "nats"))]
    {
        let _ = (key, near);
        match source {}
    }
}

/// Runs `export`; returns the exit code.
pub(crate) fn run_export(args: ExportArgs) -> u8 {
    if let Err(e) = check_expect_head(args.expect_head.as_deref()) {
        return usage_error(&e);
    }
    let whole_stream = matches!(
        crate::verify::nats_source(&args.log),
        Some(Ok(ref s)) if crate::verify::nats_subject(s).is_none()
    );
    let format = match args.format {
        Some(f) => f,
        // A whole stream's packs go into the directory OUT, JSONL unless --format says.
        None if whole_stream => FormatArg::Jsonl,
        None => match format_of_out(&args.out) {
            Ok(f) => f,
            Err(e) => return usage_error(&e),
        },
    };
    let key = match args.key.load() {
        Ok(k) => k,
        Err(e) => return usage_error(&e),
    };
    let opts = ExportOptions {
        framework: args.framework,
        format: format.into(),
        key,
        expected_head: args.expect_head,
        expect_entries: args.expect_entries,
        mapping_files: args.mapping,
        filter: Filter {
            from: args.from,
            to: args.to,
            decision: args.decision,
        },
        allow_unverified: args.allow_unverified,
    };
    if let Some(Ok(source)) = crate::verify::nats_source(&args.log)
        && crate::verify::nats_subject(&source).is_none()
    {
        // Every chain of a stream: one pack per chain into the directory OUT.
        if opts.expected_head.is_some() || opts.expect_entries.is_some() {
            return usage_error(
                "--expect-head and --expect-entries apply to one chain: \
                 nats://HOST:PORT/STREAM/SUBJECT",
            );
        }
        #[cfg(feature = "nats")]
        return crate::nats::export_stream(&source, &args.out, &opts);
    }
    // A chain in a NATS stream is copied (verified as it is read) to a file beside OUT first.
    let fetched = match fetch_nats(&args.log, &opts.key, &args.out) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let log = fetched.as_ref().map_or(args.log.clone(), |f| f.0.clone());
    export_log(&args.log, &log, &args.out, &opts)
}

/// Exports `log` (named `shown` in messages) to `out`; returns the exit code.
pub(crate) fn export_log(
    shown: &std::path::Path,
    log: &std::path::Path,
    out: &std::path::Path,
    opts: &ExportOptions,
) -> u8 {
    match export_path(log, out, opts) {
        Ok(report) => {
            if !report.verified {
                eprintln!(
                    "acttrace: warning: the log does not verify ({}); the export is marked unverified",
                    report.verification
                );
            }
            outln!(
                "{}: exported {} entries{} ({} controls with evidence) as {} to {}; log {}",
                shown.display(),
                report.entries,
                if report.excerpt { " (excerpt)" } else { "" },
                report.controls_covered,
                opts.format.as_str(),
                out.display(),
                if report.verified {
                    "verified"
                } else {
                    "UNVERIFIED"
                }
            );
            if let Some(proofs) = &report.proofs {
                outln!("  {proofs}");
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("acttrace: error: {e}");
            export_failure(&e)
        }
    }
}

/// Runs `summary`; returns the exit code (1 when the log does not verify). Shows a byte
/// progress line on stderr when it is a terminal.
pub(crate) fn run_summary(args: SummaryArgs) -> u8 {
    if let Err(e) = check_expect_head(args.expect_head.as_deref()) {
        return usage_error(&e);
    }
    let key = match args.key.load() {
        Ok(k) => k,
        Err(e) => return usage_error(&e),
    };
    if let Some(Ok(source)) = crate::verify::nats_source(&args.log)
        && crate::verify::nats_subject(&source).is_none()
    {
        // Every chain of a stream: one block per chain and a total.
        if args.expect_head.is_some() || args.expect_entries.is_some() {
            return usage_error(
                "--expect-head and --expect-entries apply to one chain: \
                 nats://HOST:PORT/STREAM/SUBJECT",
            );
        }
        #[cfg(feature = "nats")]
        return crate::nats::summary_stream(&source, key, args.json);
    }
    let fetched = match fetch_nats(&args.log, &key, &std::env::temp_dir()) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let mut log = fetched.as_ref().map_or(args.log.clone(), |f| f.0.clone());
    if log.is_dir() && crate::verify::is_export_dir(&log) {
        // Issue #15 §4: an export directory is summarised from its pack (`verify DIR` also
        // checks every file against the manifest).
        log = log.join(acttrace::export::names::PACK);
        eprintln!(
            "acttrace: {} is an export directory: summarising its {} (check the other files \
             with `acttrace verify {}`)",
            args.log.display(),
            acttrace::export::names::PACK,
            args.log.display()
        );
    }
    let opts = SummaryOptions {
        verify: VerifyOptions {
            key,
            expected_head: args.expect_head,
            expect_entries: args.expect_entries,
            ..VerifyOptions::default()
        },
    };
    if log.is_dir() {
        // Issue #15 §4: a rotated log's directory of segments, verified as `verify DIR` does,
        // each segment read once.
        return summary_of_dir(&log, &opts, args.json);
    }
    let tty = std::io::stderr().is_terminal();
    let mut last_pct = u64::MAX;
    let mut progress = |p: Progress| {
        if !tty || p.total < 8 * 1024 * 1024 {
            return;
        }
        let pct = p.bytes * 100 / p.total.max(1);
        if pct != last_pct {
            last_pct = pct;
            eprint!("\r{:>6}: {pct:>3}% of {} MB", p.phase, p.total / 1_000_000);
            let _ = std::io::stderr().flush();
        }
    };
    let result = summarize_path(&log, &opts, &mut progress);
    if tty && last_pct != u64::MAX {
        eprint!("\r{:40}\r", "");
    }
    match result {
        Ok(report) => {
            if args.json {
                let mut s = serde_json::to_string_pretty(&report.to_json()).expect("JSON");
                s.push('\n');
                out!("{s}");
            } else {
                out!("{}", report.render_text());
            }
            if report.verification.ok() {
                EXIT_OK
            } else {
                EXIT_INTEGRITY
            }
        }
        Err(e) => {
            eprintln!("acttrace: error: {e}");
            export_failure(&e)
        }
    }
}

/// Summarises the rotated log in `dir`; returns the exit code: as `verify DIR`, a directory
/// without segment files is a usage error (2), one that does not verify an integrity failure.
fn summary_of_dir(dir: &std::path::Path, opts: &SummaryOptions, json: bool) -> u8 {
    let report = match summarize_dir(dir, opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("acttrace: error: {e}");
            return export_failure(&e);
        }
    };
    let v = &report.verification;
    if v.segments.is_empty() && v.problems.iter().any(|p| p.kind == ProblemKind::Empty) {
        return usage_error(&format!(
            "{}: {} (summary reads a log file, an export pack or directory, or a rotated log's \
             directory of segments)",
            dir.display(),
            v.summary()
        ));
    }
    if json {
        let mut s = serde_json::to_string_pretty(&report.to_json()).expect("JSON");
        s.push('\n');
        out!("{s}");
    } else {
        out!("{}", report.render_text());
    }
    if v.ok() { EXIT_OK } else { EXIT_INTEGRITY }
}

/// Runs `verify-excerpt`; returns the exit code.
pub(crate) fn run_verify_excerpt(args: VerifyExcerptArgs) -> u8 {
    if let Err(e) = check_expect_head(args.expect_head.as_deref()) {
        return usage_error(&e);
    }
    let key = match args.key.load() {
        Ok(k) => k,
        Err(e) => return usage_error(&e),
    };
    let vkeys = match load_vkeys(&args.vkey, &args.vkey_file) {
        Ok(k) => k,
        Err(e) => return usage_error(&e),
    };
    let opts = VerifyOptions {
        key,
        expected_head: args.expect_head,
        expect_entries: args.expect_entries,
        ..VerifyOptions::default()
    };
    match verify_excerpt_vkeys(&args.pack, &opts, &vkeys) {
        Ok(v) => {
            outln!("{}: {}", args.pack.display(), v.summary());
            for p in v.problems.iter().skip(1) {
                outln!("  also: {p}");
            }
            if v.ok() { EXIT_OK } else { EXIT_INTEGRITY }
        }
        Err(e) => {
            eprintln!("acttrace: error: {e}");
            EXIT_USAGE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_of_out;
    use std::path::Path;

    #[test]
    fn the_output_format_follows_the_extension_or_is_refused() {
        // Issue #15 §4: `-o report.html` without --format wrote JSONL.
        let f = |p: &str| format_of_out(Path::new(p)).map(|f| format!("{f:?}"));
        assert_eq!(f("report.html"), Ok("Html".into()));
        assert_eq!(f("r.HTM"), Ok("Html".into()));
        assert_eq!(f("pack.jsonl"), Ok("Jsonl".into()));
        assert_eq!(f("oscal.json"), Ok("Oscal".into()));
        assert_eq!(f("index.csv"), Ok("Csv".into()));
        assert_eq!(f("out/"), Ok("Dir".into()));
        let err = f("report.pdf").unwrap_err();
        assert!(
            err.contains("--format") && err.contains("report.pdf"),
            "{err}"
        );
        assert!(f("report").is_err());
    }
}
