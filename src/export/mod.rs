//! Evidence-pack export: turn a verified audit log into what a reviewer or auditor reads.
//!
//! [`export_path`] verifies the log (refusing one that does not verify unless
//! [`ExportOptions::allow_unverified`] is set) in the same single read that collects its
//! entries (`-` is standard input), annotates every entry with the framework controls
//! it is evidence for (see [`MappingSet`]), and writes one of:
//!
//! - `jsonl`: the reference evidence pack (`{"_meta": ...}` then every entry with `controls`),
//!   verifiable by `acttrace verify` and by the Python reference verifier;
//! - `oscal`: an OSCAL 1.1.2 assessment-results document (observations per control, no
//!   "satisfied" findings);
//! - `html`: one self-contained report file (no network, inline SVG charts);
//! - `csv`: the control-evidence index;
//! - `dir`: all of the above plus a `manifest.json` with every file's SHA-256.
//!
//! A filtered export (time range or one decision) is an *excerpt pack*, checked by
//! [`verify_excerpt`]; see `docs/EXPORT.md`. Exports are deterministic: the same log and options
//! give byte-identical output (no clock, no randomness).
//!
//! Control mappings are evidence pointers, never a claim of compliance; every output says so.
//!
//! Behind the `export` feature (on by default), which the command line needs.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::chain::SigningKey;
use crate::hex::to_hex;
use crate::verify::{Input, Observed, Verification, VerifyOptions, verify_observed};

mod csv;
mod excerpt;
mod excerpt_check;
mod excerpt_proof;
mod html;
mod log;
mod mapping;
mod oscal;
mod pack;
mod summary;

pub use excerpt::{
    ExcerptVerification, MAX_LISTED_PROBLEMS, verify_excerpt, verify_excerpt_reader,
    verify_excerpt_reader_vkeys, verify_excerpt_vkeys, verify_excerpt_with,
};
pub use excerpt_proof::{ExcerptCheckpoint, ExcerptProofs, MAX_PROOF_LEAVES};
pub use log::{ChainInfo, LogEntry, Progress};
pub use mapping::{
    BUILTIN_FRAMEWORKS, Condition, ControlRef, Mapping, MappingError, MappingOrigin, MappingSet,
    Strength,
};
pub use summary::{
    DirSummaryReport, IntegrityState, MAX_LISTED_UNREADABLE, Summary, SummaryOptions,
    SummaryReport, summarize_dir, summarize_path,
};

/// The sentence every output carries.
pub(crate) const DISCLAIMER: &str = "Evidence to support compliance — not legal advice. Control \
     mappings are evidence pointers, never a claim of compliance.";

/// File names used by the `dir` format (and referenced between outputs).
pub mod names {
    /// The JSONL evidence pack.
    pub const PACK: &str = "pack.jsonl";
    /// The OSCAL assessment-results document.
    pub const OSCAL: &str = "assessment-results.oscal.json";
    /// The HTML report.
    pub const HTML: &str = "report.html";
    /// The control-evidence index.
    pub const CSV: &str = "controls.csv";
    /// The manifest with every file's SHA-256.
    pub const MANIFEST: &str = "manifest.json";
}

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
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

impl Format {
    /// The format's name as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Oscal => "oscal",
            Format::Html => "html",
            Format::Csv => "csv",
            Format::Dir => "dir",
        }
    }
}

/// Which entries to export. An empty filter exports the whole log as a standard pack; any
/// filter makes an excerpt pack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only entries with `ts` at or after this time (`YYYY-MM-DD` or an RFC 3339 UTC time).
    pub from: Option<String>,
    /// Only entries with `ts` at or before this time (a date alone means the end of that day).
    pub to: Option<String>,
    /// Only the entries of this decision (its `decision_id`).
    pub decision: Option<String>,
}

impl Filter {
    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.decision.is_none()
    }
}

/// Options for [`export_path`].
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// A framework id (`eu_ai_act`, `iso_42001`, `gdpr`, `nist_rmf`, or one added by a mapping
    /// file), or `all`.
    pub framework: String,
    /// The output format.
    pub format: Format,
    /// The signing key: checks the log's signatures and signs the pack header.
    pub key: Option<SigningKey>,
    /// The head hash the log must end at (out of band), passed to the verifier.
    pub expected_head: Option<String>,
    /// The entry count the log must have (out of band), passed to the verifier.
    pub expect_entries: Option<u64>,
    /// Mapping files that add frameworks or replace built-in ones.
    pub mapping_files: Vec<PathBuf>,
    /// Which entries to export.
    pub filter: Filter,
    /// Export a log that does not verify, marking every output unverified.
    pub allow_unverified: bool,
}

impl ExportOptions {
    /// Options for `framework` and `format` with everything else off.
    pub fn new(framework: impl Into<String>, format: Format) -> ExportOptions {
        ExportOptions {
            framework: framework.into(),
            format,
            key: None,
            expected_head: None,
            expect_entries: None,
            mapping_files: Vec::new(),
            filter: Filter::default(),
            allow_unverified: false,
        }
    }
}

/// Why an export failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What happened (for a log the verifier could not read, its error, which names the
        /// operation).
        source: io::Error,
    },
    /// The log did not verify (and `allow_unverified` was not set): the verifier's message.
    Unverified {
        /// The verifier's one-line verdict.
        detail: String,
    },
    /// The framework is not known.
    UnknownFramework(String),
    /// A mapping file is invalid.
    Mapping(MappingError),
    /// The options are inconsistent (bad time, no entry selected, ...).
    Usage(String),
    /// The log could not be read as entries.
    Corrupt(String),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ExportError::Unverified { detail } => write!(
                f,
                "the log does not verify: {detail} (refusing to export; pass --allow-unverified \
                 to export it marked unverified)"
            ),
            ExportError::UnknownFramework(m) => f.write_str(m),
            ExportError::Mapping(e) => write!(f, "{e}"),
            ExportError::Usage(m) => f.write_str(m),
            ExportError::Corrupt(m) => write!(f, "corrupt log: {m}"),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// One control's evidence in the export.
#[derive(Clone, Debug)]
pub struct ControlEvidence {
    /// The framework id.
    pub framework: String,
    /// The control id within the framework.
    pub control_id: String,
    /// The control's title.
    pub title: String,
    /// `Direct` or `Supporting`: the strongest with which any entry supports it. `Adverse`: this
    /// row holds the entries recording a failure of it instead (a control can have both rows;
    /// adverse entries are never counted in the support row).
    pub strength: Strength,
    /// The rationale of the first mapping rule that pointed at it.
    pub rationale: String,
    /// Entries pointing at it: (seq, type, hash, ts).
    pub entries: Vec<(u64, String, String, String)>,
}

/// What was exported and how it verified.
#[derive(Clone, Debug)]
pub struct ExportReport {
    /// Files written, with their SHA-256.
    pub files: Vec<(PathBuf, String)>,
    /// Whether the source log verified.
    pub verified: bool,
    /// The verifier's one-line verdict on the source log.
    pub verification: String,
    /// Entries in the export.
    pub entries: u64,
    /// Whether the export is an excerpt.
    pub excerpt: bool,
    /// Controls with at least one entry supporting them (adverse evidence not counted).
    pub controls_covered: usize,
    /// For an excerpt: what proves its entries (which checkpoint, or why none), in words.
    pub proofs: Option<String>,
}

/// Everything the renderers need, computed once.
#[derive(Clone, Debug)]
pub struct Evidence {
    /// The exported entries (all, or the excerpt's).
    pub entries: Vec<LogEntry>,
    /// Per exported entry, its `controls` labels (prefixed `framework:` with `all`): the
    /// controls it is evidence for.
    pub controls: Vec<Vec<String>>,
    /// Per exported entry, its `adverse_controls` labels: the controls whose failure it records.
    pub adverse: Vec<Vec<String>>,
    /// What `audit_open` declares.
    pub info: ChainInfo,
    /// The framework selection (`all` or an id).
    pub framework: String,
    /// The mappings used.
    pub mappings: Vec<Mapping>,
    /// Evidence per control, sorted by framework then control id.
    pub index: Vec<ControlEvidence>,
    /// Counts over the exported entries.
    pub summary: Summary,
    /// The source log's verification.
    pub verification: Verification,
    /// Entries in the source log.
    pub source_entries: u64,
    /// The source log's last hash.
    pub source_head: String,
    /// The filter, when this is an excerpt.
    pub filter: Option<Filter>,
    /// For an excerpt: the checkpoint and inclusion proofs it carries (or why none).
    pub excerpt_proofs: Option<ExcerptProofs>,
    /// The key, for signing the pack header.
    pub key: Option<SigningKey>,
}

impl Evidence {
    /// Whether the source log verified.
    pub fn verified(&self) -> bool {
        self.verification.ok()
    }

    /// The control labels covered (sorted, deduplicated), as in `_meta.controls_covered`.
    pub fn controls_covered(&self) -> Vec<String> {
        sorted_union(&self.controls)
    }

    /// The control labels with adverse evidence (sorted, deduplicated), as in
    /// `_meta.adverse_controls`.
    pub fn adverse_controls(&self) -> Vec<String> {
        sorted_union(&self.adverse)
    }
}

fn sorted_union(labels: &[Vec<String>]) -> Vec<String> {
    let mut all: Vec<String> = labels.iter().flatten().cloned().collect();
    all.sort();
    all.dedup();
    all
}

/// Verifies the log at `log_path` (`-` is standard input) and collects its entries in one read,
/// then applies the filter and mappings: the common first step of every format. No line over
/// the verifier's line cap is held; one is refused even with `allow_unverified`.
pub fn prepare(log_path: &Path, opts: &ExportOptions) -> Result<Evidence, ExportError> {
    let set = MappingSet::with_files(&opts.mapping_files).map_err(ExportError::Mapping)?;
    let mappings: Vec<Mapping> = set
        .select(&opts.framework)
        .map_err(ExportError::UnknownFramework)?
        .into_iter()
        .cloned()
        .collect();
    let bounds = excerpt::TimeBounds::parse(&opts.filter)?;
    let io_err = |e: crate::Error| ExportError::Io {
        path: log_path.to_owned(),
        source: io::Error::other(e),
    };
    let input = Input::open(log_path).map_err(io_err)?;
    let verify_opts = VerifyOptions {
        key: opts.key.clone(),
        expected_head: opts.expected_head.clone(),
        expect_entries: opts.expect_entries,
        ..VerifyOptions::default()
    };
    // One pass: the entries exported are the very bytes verified (a file swapped or a FIFO
    // serving other bytes on a second open cannot slip in), and no line over the verifier's cap
    // is ever held, with or without `allow_unverified`.
    let mut entries: Vec<LogEntry> = Vec::new();
    let mut first_unreadable: Option<(u64, bool, String)> = None;
    let verification =
        verify_observed(
            input.reader,
            &input.name,
            &verify_opts,
            &mut |seen| match seen {
                Observed::Entry(e) => entries.push(LogEntry::from_observed(&e)),
                Observed::Meta { .. } => {}
                Observed::Unreadable {
                    line,
                    too_long,
                    detail,
                } => {
                    // A line too long to hold is refused even in an unverified export; other
                    // unreadable lines are left out of one (it is marked unverified).
                    let worse = too_long && !first_unreadable.as_ref().is_some_and(|u| u.1);
                    if first_unreadable.is_none() || worse {
                        first_unreadable = Some((line, too_long, detail));
                    }
                }
            },
        )
        .map_err(|e| ExportError::Io {
            path: log_path.to_owned(),
            source: e,
        })?;
    if !verification.ok() && !opts.allow_unverified {
        return Err(ExportError::Unverified {
            detail: verification.summary(),
        });
    }
    if let Some((line, true, detail)) = &first_unreadable {
        return Err(ExportError::Corrupt(format!(
            "{}: line {line}: {detail}; an export cannot include it",
            input.name
        )));
    }
    if entries.is_empty() {
        return Err(ExportError::Corrupt("the log holds no entries".into()));
    }
    let source_entries = entries.len() as u64;
    let source_head = entries.last().map(|e| e.hash.clone()).unwrap_or_default();
    // What is reported must be what was verified: in a verified log every line is an entry.
    if verification.ok()
        && (source_entries != verification.entries || source_head != verification.head)
    {
        return Err(ExportError::Corrupt(format!(
            "{}: read {source_entries} entries ending at {source_head}, verified {} ending at {}",
            input.name, verification.entries, verification.head
        )));
    }
    let first = entries
        .first()
        .map(|e| (e.seq, e.kind.as_str(), &e.payload));
    let info = log::chain_info_of(first);
    let (entries, filter, excerpt_proofs) = if opts.filter.is_empty() {
        (entries, None, None)
    } else {
        let picked = excerpt::select(&entries, &opts.filter, &bounds);
        if picked.iter().all(|e| e.seq == 0 && e.kind == "audit_open") {
            return Err(ExportError::Usage(format!(
                "the filter selects no entries ({})",
                excerpt::describe_filter(&opts.filter)
            )));
        }
        // Built from every entry as verified (the proofs need all leaves up to the checkpoint).
        let proofs = excerpt_proof::build(&entries, &picked)?;
        (picked, Some(opts.filter.clone()), Some(proofs))
    };
    let all = opts.framework == "all";
    let mut controls = Vec::with_capacity(entries.len());
    let mut adverse = Vec::with_capacity(entries.len());
    // Keyed by (framework, control, adverse): adverse evidence gets its own row, never merged
    // into (or counted as) support.
    let mut index: std::collections::BTreeMap<(String, String, bool), ControlEvidence> =
        Default::default();
    for e in &entries {
        let (mut labels, mut against) = (Vec::new(), Vec::new());
        for m in &mappings {
            for c in m.controls_for(&e.kind, &e.payload) {
                let label = if all {
                    format!("{}:{}", m.id, c.control_id)
                } else {
                    c.control_id.clone()
                };
                if c.strength.is_adverse() {
                    against.push(label);
                } else {
                    labels.push(label);
                }
                let ev = index
                    .entry((m.id.clone(), c.control_id.clone(), c.strength.is_adverse()))
                    .or_insert_with(|| ControlEvidence {
                        framework: m.id.clone(),
                        control_id: c.control_id.clone(),
                        title: c.title.clone(),
                        strength: c.strength,
                        rationale: c.rationale.clone(),
                        entries: Vec::new(),
                    });
                ev.strength = ev.strength.min(c.strength);
                ev.entries
                    .push((e.seq, e.kind.clone(), e.hash.clone(), e.ts.clone()));
            }
        }
        controls.push(labels);
        adverse.push(against);
    }
    let summary = Summary::of(&entries);
    Ok(Evidence {
        entries,
        controls,
        adverse,
        info,
        framework: opts.framework.clone(),
        mappings,
        index: index.into_values().collect(),
        summary,
        verification,
        source_entries,
        source_head,
        filter,
        excerpt_proofs,
        key: opts.key.clone(),
    })
}

/// One rendered output file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    /// Its name inside a `dir` export.
    pub name: &'static str,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Renders every format from prepared evidence, in manifest order (pack, OSCAL, HTML, CSV,
/// manifest).
fn render_all(ev: &Evidence) -> Vec<OutputFile> {
    let pack = pack::render(ev);
    let pack_sha = sha256_hex(pack.as_bytes());
    let mut files = vec![
        OutputFile {
            name: names::PACK,
            bytes: pack.into_bytes(),
        },
        OutputFile {
            name: names::OSCAL,
            bytes: oscal::render(ev, &pack_sha).into_bytes(),
        },
        OutputFile {
            name: names::HTML,
            bytes: html::render(ev, &pack_sha).into_bytes(),
        },
        OutputFile {
            name: names::CSV,
            bytes: csv::render(ev).into_bytes(),
        },
    ];
    let manifest = manifest(ev, &files);
    files.push(OutputFile {
        name: names::MANIFEST,
        bytes: manifest.into_bytes(),
    });
    files
}

fn manifest(ev: &Evidence, files: &[OutputFile]) -> String {
    let doc = serde_json::json!({
        "format": "acttrace-export-manifest/1",
        "framework": ev.framework,
        "head_hash": ev.source_head,
        "entries": ev.entries.len(),
        "verified": ev.verified(),
        "excerpt": ev.filter.is_some(),
        "disclaimer": DISCLAIMER,
        "files": files.iter().map(|f| serde_json::json!({
            "path": f.name,
            "bytes": f.bytes.len(),
            "sha256": sha256_hex(&f.bytes),
        })).collect::<Vec<_>>(),
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("JSON");
    s.push('\n');
    s
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Renders one format (for `dir`, every file) from prepared evidence.
pub fn render(ev: &Evidence, format: Format) -> Vec<OutputFile> {
    let mut all = render_all(ev);
    let keep = match format {
        Format::Dir => return all,
        Format::Jsonl => names::PACK,
        Format::Oscal => names::OSCAL,
        Format::Html => names::HTML,
        Format::Csv => names::CSV,
    };
    all.retain(|f| f.name == keep);
    all
}

/// Refuses a pack with a line longer than a verifier reads (an excerpt of a few hundred
/// thousand entries lists each one's seq and hash in its header): written, it could never be
/// verified.
fn refuse_unreadable_pack(pack: &[u8], entries: usize) -> Result<(), ExportError> {
    let limit = crate::verify::DEFAULT_MAX_LINE_BYTES;
    let too_long = pack
        .split(|&b| b == b'\n')
        .enumerate()
        .find(|(_, line)| line.len() > limit);
    match too_long {
        None => Ok(()),
        Some((0, line)) => Err(ExportError::Usage(format!(
            "the pack's header would be {} bytes, over the {limit} a verifier reads in one line: \
             an excerpt lists the seq and hash of each of its {entries} entries there; select \
             fewer (a narrower --from/--to or one --decision), or export the whole log",
            line.len()
        ))),
        Some((i, line)) => Err(ExportError::Usage(format!(
            "line {} of the pack would be {} bytes, over the {limit} a verifier reads in one line",
            i + 1,
            line.len()
        ))),
    }
}

/// Refuses an output that would overwrite the log being exported: the same file by any path
/// or link, an output directory holding a file of that name that is the log, or (for a
/// rotated log's directory of segments) a file written into that directory, which a later
/// verification would read as a segment.
fn refuse_overwriting_log(log_path: &Path, out: &Path, format: Format) -> Result<(), ExportError> {
    let same = |a: &Path, b: &Path| same_file::is_same_file(a, b).unwrap_or(false);
    let refuse = |target: &Path| {
        Err(ExportError::Usage(format!(
            "the output {} would overwrite the log being exported ({}): choose another path",
            target.display(),
            log_path.display()
        )))
    };
    let targets: Vec<PathBuf> = if format == Format::Dir {
        std::iter::once(out.to_owned())
            .chain(
                [
                    names::PACK,
                    names::OSCAL,
                    names::HTML,
                    names::CSV,
                    names::MANIFEST,
                ]
                .iter()
                .map(|name| out.join(name)),
            )
            .collect()
    } else {
        vec![out.to_owned()]
    };
    for target in &targets {
        if same(target, log_path) {
            return refuse(target);
        }
        let parent = target.parent().filter(|d| !d.as_os_str().is_empty());
        if log_path.is_dir() && parent.is_some_and(|d| same(d, log_path)) {
            return refuse(target);
        }
    }
    Ok(())
}

/// Exports the log at `log_path` to `out` (a file, or a directory for [`Format::Dir`]).
pub fn export_path(
    log_path: &Path,
    out: &Path,
    opts: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    refuse_overwriting_log(log_path, out, opts.format)?;
    let ev = prepare(log_path, opts)?;
    let files = render(&ev, opts.format);
    if let Some(pack) = files.iter().find(|f| f.name == names::PACK) {
        refuse_unreadable_pack(&pack.bytes, ev.entries.len())?;
    }
    let io = |path: &Path, source: io::Error| ExportError::Io {
        path: path.to_owned(),
        source,
    };
    let mut written = Vec::new();
    if opts.format == Format::Dir {
        std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
        for f in &files {
            let p = out.join(f.name);
            std::fs::write(&p, &f.bytes).map_err(|e| io(&p, e))?;
            written.push((p, sha256_hex(&f.bytes)));
        }
    } else {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let f = &files[0];
        std::fs::write(out, &f.bytes).map_err(|e| io(out, e))?;
        written.push((out.to_owned(), sha256_hex(&f.bytes)));
    }
    Ok(ExportReport {
        files: written,
        verified: ev.verified(),
        verification: ev.verification.summary(),
        entries: ev.entries.len() as u64,
        excerpt: ev.filter.is_some(),
        controls_covered: ev.index.iter().filter(|c| !c.strength.is_adverse()).count(),
        proofs: ev.excerpt_proofs.as_ref().map(ExcerptProofs::describe),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_a_verifier_could_not_read_is_refused_naming_its_long_line() {
        // Found by fuzzing the CLI: an excerpt of 222,029 entries was written with a 17 MB
        // header, which `verify-excerpt` then refused as too long a line.
        let limit = crate::verify::DEFAULT_MAX_LINE_BYTES;
        let line = |len: usize| "x".repeat(len);
        let pack = |lines: &[String]| lines.join("\n").into_bytes();
        assert!(refuse_unreadable_pack(&pack(&[line(limit), line(10)]), 1).is_ok());
        let header = refuse_unreadable_pack(&pack(&[line(limit + 1), line(10)]), 222_029)
            .unwrap_err()
            .to_string();
        assert!(
            header.contains(&format!("header would be {} bytes", limit + 1))
                && header.contains("each of its 222029 entries"),
            "{header}"
        );
        let entry = refuse_unreadable_pack(&pack(&[line(10), line(5), line(limit + 2)]), 2)
            .unwrap_err()
            .to_string();
        assert!(
            entry.contains(&format!("line 3 of the pack would be {} bytes", limit + 2)),
            "{entry}"
        );
    }
}
