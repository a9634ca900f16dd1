//! `acttrace verify`: logs, rotated logs' directories, export packs and excerpt packs.

use std::io::Write;
use std::path::PathBuf;

use acttrace::checkpoint::VerifierKey;
use acttrace::verify::{
    CheckpointOptions, CheckpointReport, Completeness, Input, ProblemKind, Signatures,
    VerifyOptions, expected_checkpoint, verify_dir, verify_input,
};
use clap::Args;

use crate::exit::{EXIT_INTEGRITY, EXIT_OK, EXIT_USAGE, usage_error};
use crate::keys::{KeyArgs, key_lines, load_vkeys};
use crate::out::outln;

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// Log or export-pack files (JSON lines), or directories of a rotated log's segments. `-`
    /// (once) reads standard input; a FIFO works too: every input is read once.
    #[arg(required = true, value_name = "FILE|DIR")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    key: KeyArgs,
    /// The head hash the log must end at, recorded out of band at write time. Catches a cut
    /// tail, which a hash chain alone cannot see. Only with a single FILE or DIR (a rotated
    /// log's directory: its last segment's head).
    #[arg(long, value_name = "HEX")]
    expect_head: Option<String>,
    /// The number of entries the log must hold, recorded out of band (for a rotated log's
    /// directory: the whole chain's). Only with a single FILE or DIR.
    #[arg(long, value_name = "N")]
    expect_entries: Option<u64>,
    #[command(flatten)]
    checkpoints: CheckpointArgs,
    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    json: bool,
}

/// The checkpoint options of `verify` and `checkpoint` (issue #13): public verifier keys, and a
/// checkpoint obtained elsewhere. None of them needs the HMAC key.
#[derive(Args, Debug, Default)]
pub(crate) struct CheckpointArgs {
    /// A checkpoint verifier key in Go's note format (`<origin>+<hex id>+<base64>`, public):
    /// every checkpoint must carry a valid signature by a key named as the log's origin.
    /// Repeatable.
    #[arg(long, value_name = "VKEY")]
    vkey: Vec<String>,
    /// A file of verifier keys, one per line (blank lines and `#` comments ignored).
    /// Repeatable.
    #[arg(long, value_name = "FILE")]
    vkey_file: Vec<PathBuf>,
    /// A checkpoint (signed note) obtained elsewhere: the log must hold at least its size and
    /// have its root over its first entries; catches truncation and rollback. With --vkey its
    /// signature is checked too. Only with a single FILE or DIR.
    #[arg(long, value_name = "FILE")]
    expect_checkpoint: Option<PathBuf>,
    /// The forward-security verifier key of epoch 0 (`<origin>/fs+<hex id>+<base64>`, printed
    /// by `acttrace keygen checkpoint`, kept off the writer's host): every checkpoint must carry
    /// a valid signature by the epoch key in force at its seq, each epoch key announced by the
    /// one before in a `key_epoch` entry that matches the tree at its position. Catches a
    /// rewrite of closed epochs even by whoever holds the log's key and the current epoch key.
    #[arg(long, value_name = "VKEY", conflicts_with = "fs_vkey_file")]
    fs_vkey: Option<String>,
    /// --fs-vkey read from a file: its one key line (blank lines and `#` comments ignored).
    #[arg(long, value_name = "FILE")]
    fs_vkey_file: Option<PathBuf>,
    /// A C2SP tlog-witness's monitoring URL: its latest cosigned checkpoint for the log's
    /// origin (named by --vkey) is fetched and the log must be consistent with it, as with
    /// --expect-checkpoint. Needs --vkey and --witness-key, and a build with the `witness`
    /// feature (`cargo install acttrace --features witness`). Repeatable.
    #[arg(long, value_name = "URL")]
    witness: Vec<String>,
    /// A witness's Ed25519 cosignature key, `<name>+<hex id>+<base64(0x04 ‖ key)>`: each
    /// --witness checkpoint must be cosigned by one of them. Repeatable.
    #[arg(long, value_name = "VKEY")]
    witness_key: Vec<String>,
}

/// The largest verifier-key or checkpoint file read.
const MAX_SMALL_FILE: u64 = 1024 * 1024;

/// Reads a small text file (a key list, a note), refusing anything larger than 1 MiB.
pub(crate) fn read_small(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.take(MAX_SMALL_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if text.len() as u64 > MAX_SMALL_FILE {
        return Err(format!("{}: larger than 1 MiB", path.display()));
    }
    Ok(text)
}

/// The options of a command that verifies a log with the HMAC key and checkpoint checks its
/// arguments give (`verify`, `checkpoint`, `prove`).
pub(crate) fn verify_options(
    key: &mut KeyArgs,
    checkpoints: &CheckpointArgs,
) -> Result<VerifyOptions, String> {
    Ok(VerifyOptions {
        key: key.load()?,
        checkpoints: checkpoints.options()?,
        ..VerifyOptions::default()
    })
}

impl CheckpointArgs {
    /// The verifier keys given (`--vkey`, `--vkey-file`).
    pub(crate) fn keys(&self) -> Result<Vec<VerifierKey>, String> {
        load_vkeys(&self.vkey, &self.vkey_file)
    }

    /// The options: keys and the expected checkpoints (`--expect-checkpoint`, its signature
    /// checked when keys are given; each `--witness`'s, fetched now).
    pub(crate) fn options(&self) -> Result<CheckpointOptions, String> {
        let keys = self.keys()?;
        let mut expected = Vec::new();
        if let Some(path) = &self.expect_checkpoint {
            let note = read_small(path)?;
            expected.push(
                expected_checkpoint(&note, &keys)
                    .map_err(|e| format!("--expect-checkpoint {}: {e}", path.display()))?,
            );
        }
        expected.extend(crate::witness::fetch_anchors(
            &self.witness,
            &self.witness_key,
            &keys,
        )?);
        let fs_key = match (&self.fs_vkey, &self.fs_vkey_file) {
            (Some(k), _) => Some(fs_verifier_key(k, &format!("--fs-vkey {k:?}"))?),
            (None, Some(path)) => {
                let text = read_small(path).map_err(|e| format!("--fs-vkey-file {e}"))?;
                let mut lines = key_lines(&text);
                let origin = format!("--fs-vkey-file {}", path.display());
                match (lines.next(), lines.next()) {
                    (Some((n, line)), None) => {
                        Some(fs_verifier_key(line, &format!("{origin}: line {n}"))?)
                    }
                    (None, _) => return Err(format!("{origin}: no key in the file")),
                    (Some(_), Some((n, _))) => {
                        return Err(format!(
                            "{origin}: line {n}: a second key (the file holds epoch 0's key only)"
                        ));
                    }
                }
            }
            (None, None) => None,
        };
        Ok(CheckpointOptions {
            keys,
            expected,
            expected_names: Vec::new(),
            probe_sizes: Vec::new(),
            fs_key,
        })
    }
}

/// Parses a forward-security verifier key (`<origin>/fs+<hex id>+<base64>`); `origin` names
/// where it came from in errors.
fn fs_verifier_key(text: &str, origin: &str) -> Result<VerifierKey, String> {
    let key: VerifierKey = text.trim().parse().map_err(|e| format!("{origin}: {e}"))?;
    if !key.name().ends_with("/fs") {
        return Err(format!(
            "{origin}: a forward-security key is named <origin>/fs, this one {}",
            key.name()
        ));
    }
    Ok(key)
}

/// Checks an `--expect-head` value before anything is read: a hash as the format writes it,
/// 64 lowercase hex digits.
pub(crate) fn check_expect_head(head: Option<&str>) -> Result<(), String> {
    match head {
        Some(h) if !is_hash_hex(h) => Err("--expect-head must be 64 lowercase hex digits".into()),
        _ => Ok(()),
    }
}

/// A signature outcome's name in JSON reports (as a file's report names it).
fn signatures_name(s: Signatures) -> &'static str {
    match s {
        Signatures::NotChecked => "not_checked",
        Signatures::Verified => "verified",
        Signatures::Failed => "failed",
    }
}

/// A completeness basis's name in JSON reports (as a file's report names it).
fn completeness_name(c: Completeness) -> &'static str {
    match c {
        Completeness::NotChecked => "not_checked",
        Completeness::OutOfBand => "out_of_band",
        Completeness::SignedHeader => "signed_header",
        Completeness::UnauthenticatedHeader => "unauthenticated_header",
    }
}

/// The library keeps its (branch-free, per-line) hex checks to itself; this one runs once.
fn is_hash_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `first_line` is an excerpt pack's header (`{"_meta": {..., "excerpt": ...}}`).
fn is_excerpt_header(first_line: &[u8]) -> bool {
    std::str::from_utf8(first_line)
        .ok()
        .and_then(|t| acttrace::json::parse(t.trim()).ok())
        .is_some_and(|v| v.get("_meta").and_then(|m| m.get("excerpt")).is_some())
}

/// What one input file was found to be, read once.
// One per input, short-lived: its size costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Chain(acttrace::verify::Verification),
    Excerpt(acttrace::export::ExcerptVerification),
}

/// Opens `file` once, classifies it from its first line (read from the same reader), and
/// verifies it as an excerpt pack or as a log/pack.
fn verify_file(file: &std::path::Path, opts: &VerifyOptions) -> Result<Outcome, String> {
    let mut input = Input::open(file).map_err(|e| e.to_string())?;
    let first = input
        .peek_first_line(opts.max_line_bytes)
        .map_err(|e| format!("{}: {e}", input.name))?;
    if is_excerpt_header(&first) {
        // A filtered export holds a selection of entries: its links are checked by the
        // excerpt verifier, not as one contiguous chain.
        return acttrace::export::verify_excerpt_reader_vkeys(
            input.reader,
            opts,
            &opts.checkpoints.keys,
        )
        .map(Outcome::Excerpt)
        .map_err(|e| format!("{}: {e}", input.name));
    }
    verify_input(input, opts)
        .map(Outcome::Chain)
        .map_err(|e| e.to_string())
}

/// What `verify DIR` found in an export directory (`export --format dir`).
struct ExportDirReport {
    /// The pack's own verification.
    pack: Option<Outcome>,
    /// Files whose bytes match the manifest.
    matched: usize,
    /// Manifest mismatches: missing, edited or misnamed files, and a missing pack.
    problems: Vec<String>,
}

impl ExportDirReport {
    fn ok(&self) -> bool {
        self.problems.is_empty()
            && match &self.pack {
                Some(Outcome::Chain(v)) => v.ok(),
                Some(Outcome::Excerpt(v)) => v.ok(),
                None => false,
            }
    }

    fn pack_summary(&self) -> String {
        match &self.pack {
            Some(Outcome::Chain(v)) => v.summary(),
            Some(Outcome::Excerpt(v)) => v.summary(),
            None => "no pack verified".into(),
        }
    }
}

/// The largest manifest read (a manifest lists five files; this is generous).
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Whether `dir` is an export directory: it holds `manifest.json`.
pub(crate) fn is_export_dir(dir: &std::path::Path) -> bool {
    dir.join(acttrace::export::names::MANIFEST).is_file()
}

/// Verifies an export directory (issue #15 §4): every file the manifest lists must be there
/// with the manifest's size and SHA-256, and the pack must verify; each file is read once, and
/// the pack is verified from the same bytes that were hashed. `Err` when the manifest cannot be
/// read or is not an acttrace export manifest.
fn verify_export_dir(
    dir: &std::path::Path,
    opts: &VerifyOptions,
) -> Result<ExportDirReport, String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let manifest_path = dir.join(acttrace::export::names::MANIFEST);
    let mut text = String::new();
    std::fs::File::open(&manifest_path)
        .and_then(|f| f.take(MAX_MANIFEST_BYTES).read_to_string(&mut text))
        .map_err(|e| format!("cannot read {}: {e}", manifest_path.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not JSON: {e}", manifest_path.display()))?;
    if manifest.get("format").and_then(|f| f.as_str()) != Some("acttrace-export-manifest/1") {
        return Err(format!(
            "{}: not an acttrace export manifest (format must be \"acttrace-export-manifest/1\")",
            manifest_path.display()
        ));
    }
    let files = manifest
        .get("files")
        .and_then(|f| f.as_array())
        .ok_or_else(|| format!("{}: files must be an array", manifest_path.display()))?;
    let mut report = ExportDirReport {
        pack: None,
        matched: 0,
        problems: Vec::new(),
    };
    for (i, f) in files.iter().enumerate() {
        let name = f.get("path").and_then(|p| p.as_str()).unwrap_or("");
        let want_sha = f.get("sha256").and_then(|p| p.as_str()).unwrap_or("");
        let want_len = f.get("bytes").and_then(|p| p.as_u64());
        // A manifest names files beside it: anything else could point outside the directory.
        if name.is_empty() || name.contains(['/', '\\']) || name == ".." || name == "." {
            report.problems.push(format!(
                "manifest files[{i}]: path {name:?} is not a file name"
            ));
            continue;
        }
        if name == acttrace::export::names::MANIFEST {
            continue;
        }
        let path = dir.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                report.problems.push(format!(
                    "{name}: listed in the manifest but cannot be read: {e}"
                ));
                continue;
            }
        };
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if sha != want_sha || want_len.is_some_and(|n| n != bytes.len() as u64) {
            report.problems.push(format!(
                "{name}: SHA-256 {}… does not match the manifest's {}… (file edited?)",
                &sha[..12],
                want_sha.get(..12).unwrap_or(want_sha)
            ));
        } else {
            report.matched += 1;
        }
        if name == acttrace::export::names::PACK {
            let first = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
            let source = path.display().to_string();
            report.pack = Some(if is_excerpt_header(first) {
                acttrace::export::verify_excerpt_reader_vkeys(
                    &bytes[..],
                    opts,
                    &opts.checkpoints.keys,
                )
                .map(Outcome::Excerpt)
                .map_err(|e| format!("{source}: {e}"))?
            } else {
                acttrace::verify::verify_reader(&bytes[..], &source, opts)
                    .map(Outcome::Chain)
                    .map_err(|e| format!("{source}: {e}"))?
            });
        }
    }
    if report.pack.is_none() {
        report.problems.push(format!(
            "the manifest lists no {}: nothing to verify",
            acttrace::export::names::PACK
        ));
    }
    Ok(report)
}

/// `Some` when `arg` is a `nats://` (or `tls://`) URL: the source, or why it cannot be read
/// (a malformed URL, or a binary built without the `nats` feature).
pub(crate) fn nats_source(arg: &std::path::Path) -> Option<Result<NatsSource, String>> {
    #[cfg(feature = "nats")]
    {
        crate::nats::source_of(arg)
    }
    #[cfg(not(feature = "nats"))]
    {
        let text = arg.to_str()?;
        (text.starts_with("nats://") || text.starts_with("tls://")).then(|| {
            Err(
                "this acttrace was built without NATS support: rebuild it with \
                 `--features nats`"
                    .to_owned(),
            )
        })
    }
}

/// What a `nats://` source is to `verify`: the parsed source, or nothing without the feature.
#[cfg(feature = "nats")]
pub(crate) type NatsSource = acttrace::nats::NatsSource;
/// What a `nats://` source is to `verify`: the parsed source, or nothing without the feature.
#[cfg(not(feature = "nats"))]
pub(crate) type NatsSource = std::convert::Infallible;

/// The chain a `nats://` source names, if it names one.
pub(crate) fn nats_subject(source: &NatsSource) -> Option<&str> {
    #[cfg(feature = "nats")]
    {
        source.subject.as_deref()
    }
    #[cfg(not(feature = "nats"))]
    {
        match *source {}
    }
}

/// Verifies a `nats://` source: whether every chain verified, and its JSON report.
fn verify_nats(
    source: &Result<NatsSource, String>,
    opts: &VerifyOptions,
    json: bool,
    out: &mut dyn Write,
) -> Result<(bool, Option<serde_json::Value>), String> {
    let source = source.as_ref().map_err(Clone::clone)?;
    #[cfg(feature = "nats")]
    {
        crate::nats::verify(source, opts, json, out).map(|(r, doc)| (r.ok(), doc))
    }
    #[cfg(not(feature = "nats"))]
    {
        let _ = (opts, json, out);
        match *source {}
    }
}

/// Runs `verify`; returns the exit code.
pub(crate) fn run(mut args: VerifyArgs) -> u8 {
    if args.files.len() > 1
        && (args.expect_head.is_some()
            || args.expect_entries.is_some()
            || args.checkpoints.expect_checkpoint.is_some()
            || !args.checkpoints.witness.is_empty())
    {
        return usage_error(
            "--expect-head, --expect-entries, --expect-checkpoint and --witness apply to a single \
             FILE or DIR",
        );
    }
    let whole_stream = args
        .files
        .iter()
        .any(|f| matches!(nats_source(f), Some(Ok(ref s)) if nats_subject(s).is_none()));
    if whole_stream
        && (args.expect_head.is_some()
            || args.expect_entries.is_some()
            || args.checkpoints.expect_checkpoint.is_some())
    {
        return usage_error(
            "--expect-head, --expect-entries and --expect-checkpoint apply to one chain: \
             nats://HOST:PORT/STREAM/SUBJECT",
        );
    }
    if let Err(e) = check_expect_head(args.expect_head.as_deref()) {
        return usage_error(&e);
    }
    if args.files.iter().filter(|f| f.as_os_str() == "-").count() > 1 {
        return usage_error("standard input (`-`) can be read only once");
    }
    let base = match verify_options(&mut args.key, &args.checkpoints) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    let opts = VerifyOptions {
        expected_head: args.expect_head.clone(),
        expect_entries: args.expect_entries,
        ..base
    };
    let mut integrity_failed = false;
    let mut unreadable = false;
    let mut reports = Vec::new();
    let mut out = crate::out::Stdout;
    for file in &args.files {
        if let Some(source) = nats_source(file) {
            // A chain (or every chain) in a NATS JetStream stream, read once from the stream.
            match verify_nats(&source, &opts, args.json, &mut out) {
                Ok((ok, doc)) => {
                    integrity_failed |= !ok;
                    reports.extend(doc);
                }
                Err(e) => {
                    unreadable = true;
                    outln!("{}: cannot read: {e}", file.display());
                }
            }
            continue;
        }
        if file.is_dir() && is_export_dir(file) {
            match verify_export_dir(file, &opts) {
                Ok(report) => {
                    integrity_failed |= !report.ok();
                    let headline = if report.problems.is_empty() {
                        format!(
                            "export directory: {} files match manifest.json; pack: {}",
                            report.matched,
                            report.pack_summary()
                        )
                    } else {
                        format!(
                            "export directory: {}; pack: {}",
                            report.problems[0],
                            report.pack_summary()
                        )
                    };
                    if args.json {
                        reports.push(serde_json::json!({
                            "source": file.display().to_string(),
                            "ok": report.ok(),
                            "export_dir": true,
                            "files_matched": report.matched,
                            "problems": report.problems,
                            "summary": headline,
                        }));
                    } else {
                        outln!("{}: {headline}", file.display());
                        for p in report.problems.iter().skip(1) {
                            outln!("  also: {p}");
                        }
                    }
                }
                Err(e) => {
                    unreadable = true;
                    outln!("{}: cannot read: {e}", file.display());
                }
            }
            continue;
        }
        if file.is_dir() {
            match verify_dir(file, &opts) {
                Ok(report) => {
                    // No segment files at all: nothing was found to verify, as for a path that
                    // does not exist, so a usage error (2) like `summary DIR` (see README).
                    let nothing_found = report.segments.is_empty()
                        && report.problems.iter().any(|p| p.kind == ProblemKind::Empty);
                    if nothing_found {
                        unreadable = true;
                    } else {
                        integrity_failed |= !report.ok();
                    }
                    if args.json {
                        reports.push(serde_json::json!({
                            "source": report.dir,
                            "ok": report.ok(),
                            "entries": report.entries(),
                            "head": report.head(),
                            "signatures": signatures_name(report.signatures),
                            "completeness": completeness_name(report.completeness),
                            "unsigned_entries": report.unsigned_entries(),
                            "deleted_by_retention": report.deleted_by_retention,
                            "problems": report.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                            "segments": report.segments.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
                            "checkpoints": report.checkpoints.as_ref().map(CheckpointReport::to_json),
                            "summary": report.summary(),
                        }));
                    } else {
                        outln!("{}: {}", file.display(), report.summary());
                        for p in report.problems.iter().skip(1) {
                            outln!("  also: {p}");
                        }
                        for seg in report.segments.iter().filter(|s| !s.ok()) {
                            outln!("  {}: {}", seg.source, seg.summary());
                        }
                    }
                }
                Err(e) => {
                    unreadable = true;
                    outln!("{}: cannot read: {e}", file.display());
                }
            }
            continue;
        }
        match verify_file(file, &opts) {
            Ok(Outcome::Excerpt(report)) => {
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
                    outln!("{}: {}", file.display(), report.summary());
                    for p in report.problems.iter().skip(1) {
                        outln!("  also: {p}");
                    }
                }
            }
            Ok(Outcome::Chain(report)) => {
                integrity_failed |= !report.ok();
                if args.json {
                    reports.push(report.to_json());
                } else {
                    outln!("{}: {}", file.display(), report.summary());
                    for p in report.problems.iter().skip(1) {
                        outln!("  also: {p}");
                    }
                    let listed = report.problems.len() as u64;
                    if report.problem_count > listed.max(1) {
                        outln!(
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
                        "error": e,
                    }));
                } else {
                    outln!("{}: cannot read: {e}", file.display());
                }
            }
        }
    }
    if args.json {
        let all_ok = !integrity_failed && !unreadable;
        let doc = serde_json::json!({ "ok": all_ok, "results": reports });
        outln!("{doc:#}");
    }
    if integrity_failed {
        EXIT_INTEGRITY
    } else if unreadable {
        EXIT_USAGE
    } else {
        EXIT_OK
    }
}

#[cfg(test)]
mod tests {
    use super::check_expect_head;

    #[test]
    fn an_expected_head_is_64_lowercase_hex_digits() {
        let head = "0123456789abcdef".repeat(4);
        assert_eq!(check_expect_head(None), Ok(()));
        assert_eq!(check_expect_head(Some(&head)), Ok(()));
        for bad in [
            &head[1..],
            &format!("{head}0"),
            &head.to_uppercase(),
            &head.replace('a', "g"),
            "",
        ] {
            assert!(check_expect_head(Some(bad)).is_err(), "{bad}");
        }
    }
}
