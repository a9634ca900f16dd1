//! The at-a-glance read of a log: counts, flags, oversight coverage, time range.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::BufReader;
use std::path::Path;

use crate::json::Value;
use crate::verify::{
    Completeness, DirVerification, Input, Observed, Signatures, Verification, VerifyOptions,
    verify_dir_observed, verify_observed,
};

use super::ExportError;
use super::log::{ChainInfo, CountingReader, LogEntry, Progress, chain_info_of};
use crate::genai::CurrencyTotals;

/// Counts over a log's entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// All chain entries.
    pub entries: u64,
    /// `decision` entries.
    pub decisions: u64,
    /// `llm_call` entries.
    pub llm_calls: u64,
    /// `tool_call` entries.
    pub tool_calls: u64,
    /// `context_assembly` entries.
    pub context_assemblies: u64,
    /// `human_oversight` entries.
    pub human_oversight: u64,
    /// `guardrail_decision` entries.
    pub guardrail_decisions: u64,
    /// `policy_flag` entries.
    pub policy_flags: u64,
    /// Flags per `action`, in order of first appearance (`null` when missing).
    pub flags_by_action: Vec<(String, u64)>,
    /// Flags per `severity`, in order of first appearance (`null` when missing).
    pub flags_by_severity: Vec<(String, u64)>,
    /// Decisions with at least one `human_oversight` entry carrying their id.
    pub decisions_with_oversight: u64,
    /// Decisions with none.
    pub decisions_without_oversight: u64,
    /// `ts` of the first entry.
    pub first_ts: Option<String>,
    /// `ts` of the last entry.
    pub last_ts: Option<String>,
    /// Entries per type.
    pub entry_types: BTreeMap<String, u64>,
    /// What the `llm_call` entries cost: the exact sum per currency (`"<decimal> <currency>"`),
    /// in order of first appearance.
    pub llm_cost: Vec<String>,
    /// `llm_call` entries without a usable cost (none, `null`, or not a plain decimal).
    pub uncosted_llm_calls: u64,
}

/// Builds a [`Summary`] one entry at a time (bounded by the number of decisions).
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    s: Summary,
    costs: CurrencyTotals,
    decision_ids: BTreeSet<String>,
    overseen: BTreeSet<String>,
}

fn bump(list: &mut Vec<(String, u64)>, key: String) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, n)) => *n += 1,
        None => list.push((key, 1)),
    }
}

impl SummaryBuilder {
    /// Counts one entry.
    pub fn add(&mut self, e: &LogEntry) {
        self.add_parts(&e.ts, &e.kind, &e.payload);
    }

    /// Counts one entry given by its `ts`, `type` and `payload`.
    pub fn add_parts(&mut self, ts: &str, kind: &str, payload: &Value) {
        let payload_str = |k: &str| payload.get(k).and_then(Value::as_str);
        let decision_id = payload_str("decision_id");
        let s = &mut self.s;
        s.entries += 1;
        if s.first_ts.is_none() {
            s.first_ts = Some(ts.to_owned());
        }
        match &mut s.last_ts {
            Some(last) => {
                last.clear();
                last.push_str(ts);
            }
            None => s.last_ts = Some(ts.to_owned()),
        }
        match s.entry_types.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                s.entry_types.insert(kind.to_owned(), 1);
            }
        }
        match kind {
            "decision" => {
                s.decisions += 1;
                if let Some(id) = decision_id {
                    self.decision_ids.insert(id.to_owned());
                }
            }
            "llm_call" => {
                s.llm_calls += 1;
                let added = payload_str("cost").is_some_and(|cost| self.costs.add(cost));
                if !added {
                    s.uncosted_llm_calls += 1;
                }
            }
            "tool_call" => s.tool_calls += 1,
            "context_assembly" => s.context_assemblies += 1,
            "guardrail_decision" => s.guardrail_decisions += 1,
            "human_oversight" => {
                s.human_oversight += 1;
                if let Some(id) = decision_id {
                    self.overseen.insert(id.to_owned());
                }
            }
            "policy_flag" => {
                s.policy_flags += 1;
                let label = |k: &str| {
                    payload_str(k)
                        .map(str::to_owned)
                        .unwrap_or_else(|| "null".into())
                };
                bump(&mut s.flags_by_action, label("action"));
                bump(&mut s.flags_by_severity, label("severity"));
            }
            _ => {}
        }
    }

    /// The finished summary.
    pub fn finish(mut self) -> Summary {
        let with = self
            .decision_ids
            .iter()
            .filter(|id| self.overseen.contains(*id))
            .count() as u64;
        self.s.decisions_with_oversight = with;
        self.s.decisions_without_oversight = self.s.decisions.saturating_sub(with);
        self.s.llm_cost = self.costs.render_each(String::new).collect();
        self.s
    }
}

impl Summary {
    /// Summarises a slice of entries.
    pub fn of<'a>(entries: impl IntoIterator<Item = &'a LogEntry>) -> Summary {
        let mut b = SummaryBuilder::default();
        for e in entries {
            b.add(e);
        }
        b.finish()
    }

    /// The reference pack's `summary` object: decisions, llm_calls, tool_calls,
    /// context_assemblies, human_oversight, policy_flags, flags_by_action, flags_by_severity.
    pub fn to_meta_value(&self) -> Value {
        let counts = |list: &[(String, u64)]| {
            Value::Object(
                list.iter()
                    .map(|(k, n)| (k.clone(), Value::from(*n)))
                    .collect(),
            )
        };
        Value::Object(vec![
            ("decisions".into(), Value::from(self.decisions)),
            ("llm_calls".into(), Value::from(self.llm_calls)),
            ("tool_calls".into(), Value::from(self.tool_calls)),
            (
                "context_assemblies".into(),
                Value::from(self.context_assemblies),
            ),
            ("human_oversight".into(), Value::from(self.human_oversight)),
            ("policy_flags".into(), Value::from(self.policy_flags)),
            ("flags_by_action".into(), counts(&self.flags_by_action)),
            ("flags_by_severity".into(), counts(&self.flags_by_severity)),
        ])
    }

    /// Every count as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let counts = |list: &[(String, u64)]| {
            serde_json::Value::Object(
                list.iter()
                    .map(|(k, n)| (k.clone(), serde_json::Value::from(*n)))
                    .collect(),
            )
        };
        serde_json::json!({
            "entries": self.entries,
            "decisions": self.decisions,
            "llm_calls": self.llm_calls,
            "tool_calls": self.tool_calls,
            "context_assemblies": self.context_assemblies,
            "human_oversight": self.human_oversight,
            "guardrail_decisions": self.guardrail_decisions,
            "policy_flags": self.policy_flags,
            "flags_by_action": counts(&self.flags_by_action),
            "flags_by_severity": counts(&self.flags_by_severity),
            "decisions_with_oversight": self.decisions_with_oversight,
            "decisions_without_oversight": self.decisions_without_oversight,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "entry_types": self.entry_types,
            "llm_cost": self.llm_cost,
            "uncosted_llm_calls": self.uncosted_llm_calls,
        })
    }
}

/// What a verification established, in the three states a report shows (issue #15 §5): a log
/// that verified with its signatures and its completeness checked, one that verified with
/// either left unchecked, and one that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegrityState {
    /// Verified, signatures checked with the key and completeness checked (out of band or
    /// against a signed pack header).
    VerifiedComplete,
    /// Verified, but the signatures or the completeness (or both) were not checked.
    VerifiedPartial {
        /// The signatures were not checked (no key, or an unsigned log).
        signatures_unchecked: bool,
        /// Completeness was not checked, or only against an unauthenticated header.
        completeness_unchecked: bool,
    },
    /// The log failed verification.
    Failed,
}

impl IntegrityState {
    /// The state of `v`.
    pub fn of(v: &Verification) -> IntegrityState {
        IntegrityState::of_parts(v.ok(), v.signatures, v.completeness)
    }

    /// The state of a rotated log's directory `v`, over all its segments.
    pub fn of_dir(v: &DirVerification) -> IntegrityState {
        IntegrityState::of_parts(v.ok(), v.signatures, v.completeness)
    }

    fn of_parts(ok: bool, signatures: Signatures, completeness: Completeness) -> IntegrityState {
        if !ok {
            return IntegrityState::Failed;
        }
        let signatures_unchecked = signatures != Signatures::Verified;
        let completeness_unchecked = matches!(
            completeness,
            Completeness::NotChecked | Completeness::UnauthenticatedHeader
        );
        if signatures_unchecked || completeness_unchecked {
            IntegrityState::VerifiedPartial {
                signatures_unchecked,
                completeness_unchecked,
            }
        } else {
            IntegrityState::VerifiedComplete
        }
    }

    /// A short machine-readable name: `verified`, `verified_partial` or `failed`.
    pub fn name(self) -> &'static str {
        match self {
            IntegrityState::VerifiedComplete => "verified",
            IntegrityState::VerifiedPartial { .. } => "verified_partial",
            IntegrityState::Failed => "failed",
        }
    }

    /// The headline a report shows, naming what was not checked.
    pub fn headline(self) -> &'static str {
        match self {
            IntegrityState::VerifiedComplete => "VERIFIED and complete",
            IntegrityState::VerifiedPartial {
                signatures_unchecked: true,
                completeness_unchecked: true,
            } => "VERIFIED chain; signatures and completeness NOT CHECKED",
            IntegrityState::VerifiedPartial {
                signatures_unchecked: true,
                ..
            } => "VERIFIED chain and completeness; signatures NOT CHECKED",
            IntegrityState::VerifiedPartial { .. } => {
                "VERIFIED chain and signatures; completeness NOT CHECKED"
            }
            IntegrityState::Failed => "FAILED",
        }
    }
}

/// Options for [`summarize_path`].
#[derive(Clone, Debug, Default)]
pub struct SummaryOptions {
    /// Verification options (key, expected head/count) for the integrity line.
    pub verify: VerifyOptions,
}

/// A log's summary together with its verification.
#[derive(Clone, Debug)]
pub struct SummaryReport {
    /// The verifier's result.
    pub verification: Verification,
    /// What `audit_open` declares.
    pub info: ChainInfo,
    /// The counts.
    pub summary: Summary,
    /// Lines that could not be read as entries (1-based): the first
    /// [`MAX_LISTED_UNREADABLE`] of them.
    pub unreadable_lines: Vec<u64>,
    /// How many lines could not be read as entries (all of them, listed or not).
    pub unreadable_count: u64,
}

/// At most this many unreadable line numbers are listed in a [`SummaryReport`] (the rest are
/// counted), so that a summary's memory does not grow with a file's garbage.
pub const MAX_LISTED_UNREADABLE: usize = 1000;

impl SummaryReport {
    /// The terminal rendering.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let v = &self.verification;
        let _ = writeln!(
            out,
            "integrity:   {} — {}",
            IntegrityState::of(v).headline(),
            v.summary()
        );
        render_body(&mut out, &self.info, &self.summary, self.unreadable_count);
        out
    }

    /// The machine-readable form (`summary --json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "verified": self.verification.ok(),
            "integrity_state": IntegrityState::of(&self.verification).name(),
            "verification": self.verification.to_json(),
            "system": self.info.system,
            "risk_tier": self.info.risk_tier,
            "format": self.info.format,
            "producer": self.info.producer,
            "summary": self.summary.to_json(),
            "unreadable_lines": self.unreadable_lines,
            "unreadable_count": self.unreadable_count,
        })
    }
}

/// Verifies and summarises the log or pack at `path` (`-` is standard input) in one streaming
/// pass, reporting byte progress through `progress`: the counts are of the very bytes verified,
/// and memory holds only the counts (and the decision ids, for oversight coverage), whatever the
/// file's size. Lines longer than the verifier's cap are never held. A log that fails
/// verification is still summarised; the report says it failed.
pub fn summarize_path(
    path: &Path,
    opts: &SummaryOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<SummaryReport, ExportError> {
    let input = Input::open(path).map_err(|e| ExportError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    let reader = BufReader::with_capacity(
        256 * 1024,
        CountingReader {
            inner: input.reader,
            read: 0,
            total: input.regular_len.unwrap_or(0),
            phase: "verify",
            callback: progress,
        },
    );
    let mut gathered = Gathered::default();
    let verification = verify_observed(reader, &input.name, &opts.verify, &mut |seen| {
        gathered.observe(seen, |line| line)
    })
    .map_err(|source| ExportError::Io {
        path: path.to_owned(),
        source,
    })?;
    let (info, summary, unreadable_lines, unreadable_count) = gathered.finish();
    Ok(SummaryReport {
        verification,
        info,
        summary,
        unreadable_lines,
        unreadable_count,
    })
}

/// A rotated log's summary over all its segments, together with the directory's verification
/// ([`summarize_dir`]).
#[derive(Clone, Debug)]
pub struct DirSummaryReport {
    /// The directory's verification: each segment, the links between them, retention,
    /// signatures across segments, completeness of the whole chain.
    pub verification: DirVerification,
    /// What the first entry read (the first segment's `audit_open`) declares.
    pub info: ChainInfo,
    /// The counts over the entries of every segment.
    pub summary: Summary,
    /// Lines that could not be read as entries, as (segment file, 1-based line): the first
    /// [`MAX_LISTED_UNREADABLE`] of them.
    pub unreadable_lines: Vec<(String, u64)>,
    /// How many lines could not be read as entries (all of them, listed or not).
    pub unreadable_count: u64,
}

impl DirSummaryReport {
    /// The terminal rendering: as a file's, naming the directory and its segment count.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let v = &self.verification;
        let _ = writeln!(
            out,
            "integrity:   {} — {}",
            IntegrityState::of_dir(v).headline(),
            v.summary()
        );
        let _ = writeln!(
            out,
            "segments:    {} segment file{} in {}",
            v.segments.len(),
            if v.segments.len() == 1 { "" } else { "s" },
            v.dir
        );
        render_body(&mut out, &self.info, &self.summary, self.unreadable_count);
        out
    }

    /// The machine-readable form (`summary --json DIR`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "verified": self.verification.ok(),
            "integrity_state": IntegrityState::of_dir(&self.verification).name(),
            "verification": self.verification.to_json(),
            "segments": self.verification.segments.len(),
            "system": self.info.system,
            "risk_tier": self.info.risk_tier,
            "format": self.info.format,
            "producer": self.info.producer,
            "summary": self.summary.to_json(),
            "unreadable_lines": self.unreadable_lines.iter()
                .map(|(segment, line)| serde_json::json!({"segment": segment, "line": line}))
                .collect::<Vec<_>>(),
            "unreadable_count": self.unreadable_count,
        })
    }
}

/// Verifies and summarises the rotated log in the directory `dir` (segments written by
/// [`crate::writer::SegmentedWriter`]), each segment opened and read once: the counts are of
/// the very bytes verified, over every segment in order, and the report carries the verdict
/// on the whole directory ([`crate::verify::verify_dir`]'s checks; `opts.verify`'s expected
/// head and count apply to the whole chain). A directory that fails verification is still
/// summarised; the report says it failed. A directory without segment files yields a report
/// with no segments and an [`crate::verify::ProblemKind::Empty`] problem.
pub fn summarize_dir(dir: &Path, opts: &SummaryOptions) -> Result<DirSummaryReport, ExportError> {
    let mut gathered = Gathered::default();
    let verification = verify_dir_observed(dir, &opts.verify, &mut |segment, seen| {
        gathered.observe(seen, |line| {
            let name = segment
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, line)
        })
    })
    .map_err(|e| ExportError::Io {
        path: dir.to_owned(),
        source: std::io::Error::other(e),
    })?;
    let (info, summary, unreadable_lines, unreadable_count) = gathered.finish();
    Ok(DirSummaryReport {
        verification,
        info,
        summary,
        unreadable_lines,
        unreadable_count,
    })
}

/// What a summary gathers from the entries a verification observes (of one file, or of every
/// segment of a directory, in order): the counts, what the first entry declares, and where the
/// unreadable lines are (`L` names a line: its number, or its segment and number).
struct Gathered<L> {
    builder: SummaryBuilder,
    info: Option<ChainInfo>,
    unreadable: Vec<L>,
    unreadable_count: u64,
}

impl<L> Default for Gathered<L> {
    fn default() -> Self {
        Gathered {
            builder: SummaryBuilder::default(),
            info: None,
            unreadable: Vec::new(),
            unreadable_count: 0,
        }
    }
}

impl<L> Gathered<L> {
    fn observe(&mut self, seen: Observed<'_>, locate: impl FnOnce(u64) -> L) {
        match seen {
            Observed::Entry(e) => {
                if self.info.is_none() {
                    self.info = Some(chain_info_of(Some((e.seq, e.kind, e.payload))));
                }
                self.builder.add_parts(e.ts, e.kind, e.payload);
            }
            Observed::Meta { .. } => {}
            Observed::Unreadable { line, .. } => {
                self.unreadable_count += 1;
                if self.unreadable.len() < MAX_LISTED_UNREADABLE {
                    self.unreadable.push(locate(line));
                }
            }
        }
    }

    fn finish(self) -> (ChainInfo, Summary, Vec<L>, u64) {
        (
            self.info.unwrap_or_else(|| chain_info_of(None)),
            self.builder.finish(),
            self.unreadable,
            self.unreadable_count,
        )
    }
}

/// Everything a summary shows below its integrity line.
fn render_body(out: &mut String, info: &ChainInfo, s: &Summary, unreadable_count: u64) {
    let _ = writeln!(
        *out,
        "system:      {} (risk tier {})",
        info.system.as_deref().unwrap_or("?"),
        info.risk_tier.as_deref().unwrap_or("?")
    );
    let _ = writeln!(
        *out,
        "chain:       {} by {}",
        info.format.as_deref().unwrap_or("(format not declared)"),
        info.producer
            .as_deref()
            .unwrap_or("(producer not declared)")
    );
    let _ = writeln!(
        *out,
        "time range:  {} .. {}",
        s.first_ts.as_deref().unwrap_or("-"),
        s.last_ts.as_deref().unwrap_or("-")
    );
    let _ = writeln!(*out, "entries:     {}", s.entries);
    let _ = writeln!(
        *out,
        "decisions:   {}   llm calls: {}   tool calls: {}   context assemblies: {}   guardrail decisions: {}",
        s.decisions, s.llm_calls, s.tool_calls, s.context_assemblies, s.guardrail_decisions
    );
    if s.llm_calls > 0 {
        let cost = if s.llm_cost.is_empty() {
            "none recorded".to_owned()
        } else {
            s.llm_cost.join(" + ")
        };
        let _ = writeln!(
            out,
            "model cost:  {cost} ({} of {} calls without a cost)",
            s.uncosted_llm_calls, s.llm_calls
        );
    }
    let pct = if s.decisions == 0 {
        "n/a".to_owned()
    } else {
        format!(
            "{:.0}%",
            100.0 * s.decisions_with_oversight as f64 / s.decisions as f64
        )
    };
    let _ = writeln!(
        *out,
        "oversight:   {} sign-off{}; {} of {} decisions signed off ({pct}), {} without",
        s.human_oversight,
        if s.human_oversight == 1 { "" } else { "s" },
        s.decisions_with_oversight,
        s.decisions,
        s.decisions_without_oversight
    );
    let list = |l: &[(String, u64)]| {
        if l.is_empty() {
            "-".to_owned()
        } else {
            l.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(
        *out,
        "policy flags: {}   by action: {}   by severity: {}",
        s.policy_flags,
        list(&s.flags_by_action),
        list(&s.flags_by_severity)
    );
    if unreadable_count > 0 {
        let _ = writeln!(out, "unreadable:  {} line(s) not counted", unreadable_count);
    }
}
