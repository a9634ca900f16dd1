//! The HTML report: one self-contained file a reviewer opens first.
//!
//! No network: inline CSS, inline SVG charts, no script, and a Content-Security-Policy that
//! forbids loading anything. All log content is HTML-escaped. Numbers a test (or a reader's
//! tool) can check carry stable ids and `data-*` attributes: `#sum-<key>[data-value]` for each
//! `_meta.summary` count, `tr.flag-action[data-key][data-count]`,
//! `tr.flag-severity[data-key][data-count]`, `#oversight-with`, `#oversight-without`,
//! `#verification[data-status][data-state]` (state: `verified`, `verified_partial`, `failed`), and `#control-index` rows: `tr.control` for support,
//! `tr.control-adverse` (in red) for entries recording a failure of a control, which never count
//! as support.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::excerpt::{describe_filter, normalize_ts};
use super::log::LogEntry;
use super::{DISCLAIMER, Evidence, IntegrityState, names};
use crate::json::Value;

/// At most this many decisions are listed in the decision table (the count is stated).
pub const MAX_DECISIONS_LISTED: usize = 2000;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root{--ink:#1b2430;--muted:#5b6675;--line:#d9dee5;--bg:#f5f7fa;--card:#fff;--accent:#2f5d8a;--ok:#1f7a4d;--okbg:#e6f4ec;--bad:#a8232f;--badbg:#fbe9eb;--warn:#b26a00}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
header{background:#17324d;color:#fff;padding:22px 32px 18px}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header .sub{margin:0;color:#c9d6e3;font-size:13px}
main{max-width:1180px;margin:0 auto;padding:20px 32px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:0 0 18px}
h2{font-size:16px;margin:0 0 12px;font-weight:600}
.banner{border-radius:8px;padding:12px 16px;margin:0 0 18px;font-weight:600;border:1px solid}
.banner.ok{background:var(--okbg);color:var(--ok);border-color:#b7dcc7}
.banner.partial{background:#fff4e0;color:var(--warn);border-color:#f0d29c}
.banner.fail{background:var(--badbg);color:var(--bad);border-color:#efc0c5}
.banner .detail{display:block;font-weight:400;color:var(--ink);margin-top:4px;font-size:13px;word-break:break-word}
.disclaimer{font-size:12.5px;color:var(--muted);margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px;background:#fbfcfd}
.card .num{display:block;font-size:24px;font-weight:650;color:var(--accent)}
.card .label{color:var(--muted);font-size:12px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px}
.grid2>section{margin:0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.ts,td.cid,.cid{white-space:nowrap}
dl.fields{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:0 0 4px}
dl.fields dt{color:var(--muted);font-size:12px}
dl.fields dd{margin:0;word-break:break-word}
details.raw{border:none;margin:2px 0;background:none}
details.raw>summary{display:block;padding:0;color:var(--accent);font-size:12px}
details.decision.failed>summary{background:var(--badbg)}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:11.5px;border:1px solid var(--line);background:#f0f3f7}
.pill.direct{background:#e7eef6;border-color:#bcd0e4;color:#204a73}
.pill.yes{background:var(--okbg);border-color:#b7dcc7;color:var(--ok)}
.pill.no{background:#fff4e0;border-color:#f0d29c;color:var(--warn)}
.pill.adverse{background:var(--badbg);border-color:#efc0c5;color:var(--bad);font-weight:600}
tr.control-adverse td{color:var(--bad);background:var(--badbg)}
details{border:1px solid var(--line);border-radius:6px;margin:6px 0;background:#fff}
details>summary{cursor:pointer;padding:8px 10px;list-style:none;display:grid;gap:8px;align-items:center}
details>summary::-webkit-details-marker{display:none}
details[open]>summary{border-bottom:1px solid var(--line);background:#f7f9fb}
details .inner{padding:6px 10px 10px;overflow-x:auto}
pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:12px}
.legend{color:var(--muted);font-size:12px}
footer{color:var(--muted);font-size:12px;text-align:center;padding:10px 0 30px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
"#;

/// Microseconds since the epoch of a UTC `ts` (for charting).
fn micros(ts: &str) -> Option<i64> {
    let n = normalize_ts(ts, false)?;
    let num = |r: std::ops::Range<usize>| n[r].parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, us) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some((((days * 24 + hh) * 60 + mm) * 60 + ss) * 1_000_000 + us)
}

/// A compact display form of a `ts` (`2026-11-27 00:10:53.273`); the full value goes in a
/// `title` attribute.
fn short_ts(ts: &str) -> String {
    match normalize_ts(ts, false) {
        Some(n) => format!("{} {}", &n[..10], &n[11..23]),
        None => ts.to_owned(),
    }
}

fn ts_cell(ts: &str) -> String {
    format!(
        r#"<td class="mono ts" title="{}">{}</td>"#,
        escape(ts),
        escape(&short_ts(ts))
    )
}

fn bar_chart(id: &str, bars: &[(String, u64, &str)], width: u32) -> String {
    // Horizontal bars: label, value, colour.
    let row_h = 26u32;
    let label_w = 110u32;
    let h = row_h * bars.len().max(1) as u32 + 6;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let mut s = format!(
        r#"<svg id="{id}" role="img" width="100%" viewBox="0 0 {width} {h}" xmlns="http://www.w3.org/2000/svg">"#
    );
    if bars.is_empty() {
        let _ = write!(
            s,
            r##"<text x="0" y="18" fill="#5b6675" font-size="13">none recorded</text>"##
        );
    }
    for (i, (label, v, colour)) in bars.iter().enumerate() {
        let y = i as u32 * row_h + 4;
        let w = ((width - label_w - 50) as f64 * *v as f64 / max as f64).round() as u32;
        let _ = write!(
            s,
            r##"<text x="0" y="{ty}" font-size="12.5" fill="#1b2430">{l}</text><rect x="{label_w}" y="{y}" width="{w}" height="18" rx="3" fill="{colour}"><title>{l}: {v}</title></rect><text x="{tx}" y="{ty}" font-size="12.5" fill="#1b2430">{v}</text>"##,
            ty = y + 13,
            l = escape(label),
            tx = label_w + w + 6,
        );
    }
    s.push_str("</svg>");
    s
}

fn decisions_over_time(entries: &[&LogEntry]) -> String {
    let times: Vec<i64> = entries.iter().filter_map(|e| micros(&e.ts)).collect();
    let (w, h, left, bottom) = (720u32, 170u32, 40u32, 30u32);
    let mut s = format!(
        r#"<svg id="chart-decisions" role="img" width="100%" viewBox="0 0 {w} {h}" xmlns="http://www.w3.org/2000/svg" data-total="{}">"#,
        entries.len()
    );
    if times.is_empty() {
        s.push_str(r##"<text x="0" y="20" fill="#5b6675" font-size="13">no decisions recorded</text></svg>"##);
        return s;
    }
    let (lo, hi) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
    let n_buckets: usize = if hi == lo { 1 } else { 24 };
    let span = (hi - lo).max(1);
    let mut buckets = vec![0u64; n_buckets];
    for t in &times {
        let i = (((t - lo) as i128 * n_buckets as i128) / (span as i128 + 1)) as usize;
        buckets[i.min(n_buckets - 1)] += 1;
    }
    let max = *buckets.iter().max().unwrap_or(&1);
    let plot_w = w - left - 10;
    let plot_h = h - bottom - 10;
    let bw = plot_w / n_buckets as u32;
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{y0}" x2="{x2}" y2="{y0}" stroke="#9aa5b1"/><text x="{lx}" y="14" font-size="11" fill="#5b6675" text-anchor="end">{max}</text><text x="{lx}" y="{y0}" font-size="11" fill="#5b6675" text-anchor="end">0</text>"##,
        y0 = 10 + plot_h,
        x2 = left + plot_w,
        lx = left - 6,
    );
    for (i, c) in buckets.iter().enumerate() {
        let bh = (plot_h as f64 * *c as f64 / max as f64).round() as u32;
        let x = left + i as u32 * bw + 1;
        let _ = write!(
            s,
            r##"<rect class="bucket" data-count="{c}" x="{x}" y="{y}" width="{bwm}" height="{bh}" fill="#2f5d8a"><title>{c} decision(s)</title></rect>"##,
            y = 10 + plot_h - bh,
            bwm = bw.saturating_sub(2).max(1),
        );
    }
    let first = entries.iter().map(|e| e.ts.as_str()).min().unwrap_or("");
    let last = entries.iter().map(|e| e.ts.as_str()).max().unwrap_or("");
    let _ = write!(
        s,
        r##"<text x="{left}" y="{ty}" font-size="11" fill="#5b6675">{a}</text><text x="{xr}" y="{ty}" font-size="11" fill="#5b6675" text-anchor="end">{b}</text></svg>"##,
        ty = h - 8,
        xr = left + plot_w,
        a = escape(&short_ts(first)),
        b = escape(&short_ts(last)),
    );
    s
}

fn oversight_bar(with: u64, without: u64) -> String {
    let total = (with + without).max(1);
    let w = 720u32;
    let ww = (w as f64 * with as f64 / total as f64).round() as u32;
    format!(
        r##"<svg id="chart-oversight" role="img" width="100%" viewBox="0 0 {w} 28" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="2" width="{w}" height="24" rx="4" fill="#f0d29c"><title>without sign-off: {without}</title></rect><rect x="0" y="2" width="{ww}" height="24" rx="4" fill="#1f7a4d"><title>with sign-off: {with}</title></rect></svg>"##
    )
}

/// The report as one HTML document. `pack_sha256` is the SHA-256 of the JSONL pack rendered
/// from the same evidence.
pub fn render(ev: &Evidence, pack_sha256: &str) -> String {
    let s = &ev.summary;
    let verified = ev.verified();
    let system = ev.info.system.as_deref().unwrap_or("unknown system");
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evidence report — {sys}</title>
<style>{CSS}</style></head>
<body>
<header><h1>Evidence report: {sys}</h1>
<p class="sub">Risk tier {tier} · framework <b>{fw}</b> · {range} · {n} entries{excerpt}</p></header>
<main>
"#,
        sys = escape(system),
        tier = escape(ev.info.risk_tier.as_deref().unwrap_or("?")),
        fw = escape(&ev.framework),
        range = escape(&format!(
            "{} → {} UTC",
            short_ts(s.first_ts.as_deref().unwrap_or("-")),
            short_ts(s.last_ts.as_deref().unwrap_or("-"))
        )),
        n = ev.entries.len(),
        excerpt = match &ev.filter {
            Some(f) => format!(" · excerpt: {}", escape(&describe_filter(f))),
            None => String::new(),
        },
    );
    // Issue #15 §5: three states, so that an unchecked key or completeness is not shown as
    // a plain green "verified".
    let state = IntegrityState::of(&ev.verification);
    let (cls, icon, head) = match state {
        IntegrityState::VerifiedComplete => (
            "ok",
            "✔",
            "Source log verified and complete: chain, signatures and completeness checked",
        ),
        IntegrityState::VerifiedPartial {
            signatures_unchecked,
            completeness_unchecked,
        } => (
            "partial",
            "⚠",
            match (signatures_unchecked, completeness_unchecked) {
                (true, true) => {
                    "Source log chain verified; signatures and completeness NOT checked"
                }
                (true, false) => {
                    "Source log chain and completeness verified; signatures NOT checked"
                }
                _ => "Source log chain and signatures verified; completeness NOT checked",
            },
        ),
        IntegrityState::Failed => (
            "fail",
            "✘",
            "UNVERIFIED: the source log failed verification — do not rely on this evidence",
        ),
    };
    let _ = write!(
        h,
        r#"<div id="verification" class="banner {cls}" data-status="{st}" data-state="{state}">{icon} {head}<span class="detail">{detail}</span></div>
<p class="disclaimer" id="disclaimer">{disc}</p>
"#,
        st = if verified { "verified" } else { "unverified" },
        state = state.name(),
        detail = escape(&ev.verification.summary()),
        disc = escape(DISCLAIMER),
    );
    // Counts.
    h.push_str("<section><h2>At a glance</h2><div class=\"cards\">");
    let cards: [(&str, &str, u64); 8] = [
        ("entries", "Entries", s.entries),
        ("decisions", "Decisions", s.decisions),
        ("llm_calls", "Model calls", s.llm_calls),
        ("tool_calls", "Tool calls", s.tool_calls),
        (
            "context_assemblies",
            "Context assemblies",
            s.context_assemblies,
        ),
        ("human_oversight", "Human sign-offs", s.human_oversight),
        ("policy_flags", "Policy flags", s.policy_flags),
        (
            "guardrail_decisions",
            "Guardrail decisions",
            s.guardrail_decisions,
        ),
    ];
    for (key, label, v) in cards {
        let _ = write!(
            h,
            r#"<div class="card"><span class="num" id="sum-{key}" data-value="{v}">{v}</span><span class="label">{label}</span></div>"#
        );
    }
    h.push_str("</div></section>\n");
    // Decisions over time.
    let decisions: Vec<&LogEntry> = ev.entries.iter().filter(|e| e.kind == "decision").collect();
    let _ = write!(
        h,
        "<section><h2>Decisions over time</h2>{}<p class=\"legend\">Decisions per time bucket between the first and the last decision.</p></section>",
        decisions_over_time(&decisions)
    );
    h.push('\n');
    // Flags.
    let colour = |k: &str| match k {
        "blocked" | "critical" => "#a8232f",
        "redacted" | "warning" => "#b26a00",
        _ => "#2f5d8a",
    };
    let flag_table = |class: &str, list: &[(String, u64)]| {
        let mut t = String::from("<table><tr><th>Value</th><th class=\"n\">Flags</th></tr>");
        for (k, n) in list {
            let _ = write!(
                t,
                r#"<tr class="{class}" data-key="{ke}" data-count="{n}"><td>{ke}</td><td class="n">{n}</td></tr>"#,
                ke = escape(k)
            );
        }
        if list.is_empty() {
            t.push_str("<tr><td colspan=\"2\" class=\"legend\">none</td></tr>");
        }
        t.push_str("</table>");
        t
    };
    let bars = |list: &[(String, u64)]| -> Vec<(String, u64, &str)> {
        list.iter()
            .map(|(k, n)| (k.clone(), *n, colour(k)))
            .collect()
    };
    let _ = write!(
        h,
        "<div class=\"grid2\" style=\"margin-bottom:18px\"><section><h2>Policy flags by action</h2>{}{}</section><section><h2>Policy flags by severity</h2>{}{}</section></div>",
        bar_chart("chart-flags-action", &bars(&s.flags_by_action), 480),
        flag_table("flag-action", &s.flags_by_action),
        bar_chart("chart-flags-severity", &bars(&s.flags_by_severity), 480),
        flag_table("flag-severity", &s.flags_by_severity),
    );
    h.push('\n');
    // Oversight.
    let _ = write!(
        h,
        r#"<section><h2>Human-oversight coverage</h2>{bar}<p><span class="pill yes">with sign-off <b id="oversight-with" data-value="{w}">{w}</b></span> <span class="pill no">without sign-off <b id="oversight-without" data-value="{wo}">{wo}</b></span> <span class="legend">of {d} decisions; a sign-off is a <code>human_oversight</code> entry carrying the decision's id.</span></p></section>"#,
        bar = oversight_bar(s.decisions_with_oversight, s.decisions_without_oversight),
        w = s.decisions_with_oversight,
        wo = s.decisions_without_oversight,
        d = s.decisions,
    );
    h.push('\n');
    // Control index.
    h.push_str("<section><h2>Control index</h2><p class=\"legend\">Controls the log's entries are evidence for, per the mapping below. Evidence pointers, not a determination that any control is met. Rows in red (<span class=\"pill adverse\">adverse</span>) count entries that record a failure of what the control asks, such as lost log entries; they are never counted as support.</p><table id=\"control-index\"><tr><th>Framework</th><th>Control</th><th>Title</th><th>Strength</th><th class=\"n\">Entries</th><th>First seen</th><th>Last seen</th></tr>");
    for c in &ev.index {
        let first = c.entries.iter().map(|e| e.3.as_str()).min().unwrap_or("");
        let last = c.entries.iter().map(|e| e.3.as_str()).max().unwrap_or("");
        let _ = write!(
            h,
            r#"<tr class="{class}" data-framework="{f}" data-control="{id}" data-count="{n}"><td>{f}</td><td class="cid"><b>{id}</b></td><td title="{rat}">{t}</td><td><span class="pill {st}">{st}</span></td><td class="n">{n}</td>{a}{b}</tr>"#,
            f = escape(&c.framework),
            id = escape(&c.control_id),
            t = escape(&c.title),
            rat = escape(&c.rationale),
            class = if c.strength.is_adverse() {
                "control-adverse"
            } else {
                "control"
            },
            st = c.strength.as_str(),
            n = c.entries.len(),
            a = ts_cell(first),
            b = ts_cell(last),
        );
    }
    if ev.index.is_empty() {
        h.push_str("<tr><td colspan=\"7\" class=\"legend\">no entry maps to a control</td></tr>");
    }
    h.push_str("</table></section>\n");
    // Decisions.
    decisions_section(&mut h, ev);
    // Provenance.
    let mapping_rows: String = ev
        .mappings
        .iter()
        .map(|m| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
                escape(&m.id),
                escape(&m.title),
                escape(&m.version),
                escape(&m.sha256),
                escape(&m.origin_label())
            )
        })
        .collect();
    let _ = write!(
        h,
        r#"<section><h2>Provenance</h2><table>
<tr><th>Head hash</th><td class="mono" id="head-hash">{head}</td></tr>
<tr><th>Entries in the source log</th><td id="source-entries">{se}</td></tr>
<tr><th>Chain format</th><td>{fmt}</td></tr>
<tr><th>Producer</th><td>{prod}</td></tr>
<tr><th>Hash algorithm</th><td>{alg}</td></tr>
<tr><th>Evidence pack</th><td class="mono">{pack} · SHA-256 {sha}</td></tr>
</table><h2 style="margin-top:14px">Mapping</h2><table><tr><th>Id</th><th>Title</th><th>Version</th><th>SHA-256</th><th>Origin</th></tr>{mapping_rows}</table></section>
</main><footer>{disc} Generated by acttrace from the log alone; timestamps are the log's.</footer>
</body></html>
"#,
        head = escape(&ev.source_head),
        se = ev.source_entries,
        fmt = escape(ev.info.format.as_deref().unwrap_or("(not declared)")),
        prod = escape(ev.info.producer.as_deref().unwrap_or("(not declared)")),
        alg = escape(&ev.info.hash_alg),
        pack = names::PACK,
        sha = pack_sha256,
        disc = escape(DISCLAIMER),
    );
    h
}

/// The grid of a decision's summary row (and its header): decision, name/actor, started,
/// outcome, duration, cost, entries, sign-off, flags.
const DECISION_GRID: &str = "2fr 1.4fr 1.3fr .8fr .8fr 1fr .6fr 1fr .5fr";

/// A payload member shown as text: a string as it is, a list of strings joined with ` + `
/// (a cost in several currencies), a number or other value as JSON.
fn member_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| i.as_str().is_some()) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" + "),
        other => other.to_string(),
    }
}

/// How deep `id` is nested: 0 for a top-level decision (bounded, so that a cycle of parent
/// ids in a hostile log cannot loop).
fn nesting_depth(parents: &BTreeMap<&str, &str>, id: &str) -> usize {
    let mut depth = 0;
    let mut cur = id;
    while let Some(p) = parents.get(cur) {
        depth += 1;
        if depth >= 8 {
            break;
        }
        cur = p;
    }
    depth
}

fn decisions_section(h: &mut String, ev: &Evidence) {
    let mut by_id: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut loose = Vec::new();
    for (i, e) in ev.entries.iter().enumerate() {
        match e.decision_id() {
            Some(id) => by_id.entry(id).or_default().push(i),
            None => loose.push(i),
        }
    }
    let order: Vec<&LogEntry> = ev.entries.iter().filter(|e| e.kind == "decision").collect();
    let parents: BTreeMap<&str, &str> = order
        .iter()
        .filter_map(|d| Some((d.decision_id()?, d.payload_str("parent_decision_id")?)))
        .collect();
    let _ = write!(
        h,
        "<section><h2>Decisions</h2><p class=\"legend\">{} decisions. Failed decisions are marked in red; nested decisions are indented under the decision they ran in. Open one to see its entries, each with the controls it points at.</p>",
        order.len()
    );
    let _ = write!(
        h,
        "<div id=\"decision-columns\" style=\"display:grid;grid-template-columns:{DECISION_GRID};gap:8px;padding:0 11px\" class=\"legend\"><span>Decision</span><span>Name / actor</span><span>Started</span><span>Outcome</span><span>Duration</span><span>Cost</span><span>Entries</span><span>Sign-off</span><span>Flags</span></div>"
    );
    for d in order.iter().take(MAX_DECISIONS_LISTED) {
        let id = d.decision_id().unwrap_or("");
        let idx = by_id.get(id).cloned().unwrap_or_default();
        let members: Vec<&LogEntry> = idx.iter().map(|i| &ev.entries[*i]).collect();
        let signoffs: Vec<&str> = members
            .iter()
            .filter(|e| e.kind == "human_oversight")
            .map(|e| e.payload_str("reviewer").unwrap_or("?"))
            .collect();
        let flags = members.iter().filter(|e| e.kind == "policy_flag").count();
        let name = d
            .payload_str("name")
            .or_else(|| d.payload_str("input"))
            .unwrap_or("");
        let actor = d.payload_str("actor").unwrap_or("");
        let end = members.iter().find(|e| e.kind == "decision_end");
        let end_member = |k: &str| end.and_then(|e| e.payload.get(k));
        let outcome = end_member("outcome").map(member_text);
        let failed = outcome.as_deref().is_some_and(|o| o != "ok");
        let outcome_cell = match (&outcome, end) {
            (Some(o), _) => {
                let title = end_member("error").map(member_text).unwrap_or_default();
                format!(
                    "<span class=\"pill {}\" title=\"{}\">{}</span>",
                    if failed { "adverse" } else { "yes" },
                    escape(&title),
                    escape(o)
                )
            }
            (None, Some(_)) => "<span class=\"legend\">ended</span>".to_owned(),
            (None, None) => "<span class=\"legend\">no end recorded</span>".to_owned(),
        };
        let duration = end_member("duration_ms")
            .map(|v| format!("{} ms", member_text(v)))
            .unwrap_or_else(|| "-".to_owned());
        let cost = end_member("cost")
            .map(member_text)
            .unwrap_or_else(|| "-".to_owned());
        let depth = nesting_depth(&parents, id);
        let nested = match parents.get(id) {
            Some(p) => format!(
                "<br><span class=\"legend\">↳ nested in <span class=\"mono\" title=\"{pe}\">{ps}…</span></span>",
                pe = escape(p),
                ps = escape(p.get(..8).unwrap_or(p)),
            ),
            None => String::new(),
        };
        let _ = write!(
            h,
            r#"<details class="decision{fc}" data-decision="{id}" data-signed-off="{so}" data-outcome="{oc}" data-depth="{depth}" style="margin-left:{indent}px"><summary style="grid-template-columns:{DECISION_GRID}"><span class="mono">{id}{nested}</span><span>{name}<br><span class="legend">{actor}</span></span><span class="mono" title="{ts}">{short}</span><span class="outcome">{outcome_cell}</span><span class="duration">{duration}</span><span class="cost">{cost}</span><span>{n}</span><span>{pill}</span><span>{flags}</span></summary><div class="inner">"#,
            fc = if failed { " failed" } else { "" },
            id = escape(id),
            so = !signoffs.is_empty(),
            oc = escape(outcome.as_deref().unwrap_or("")),
            indent = depth.min(4) * 24,
            name = escape(name),
            actor = escape(actor),
            ts = escape(&d.ts),
            short = escape(&short_ts(&d.ts)),
            duration = escape(&duration),
            cost = escape(&cost),
            n = members.len(),
            pill = if signoffs.is_empty() {
                "<span class=\"pill no\">none</span>".to_owned()
            } else {
                format!(
                    "<span class=\"pill yes\">{}</span>",
                    escape(&signoffs.join(", "))
                )
            },
        );
        entry_table(h, ev, &idx);
        h.push_str("</div></details>");
    }
    if order.len() > MAX_DECISIONS_LISTED {
        let _ = write!(
            h,
            "<p class=\"legend\">{} more decisions are in the evidence pack.</p>",
            order.len() - MAX_DECISIONS_LISTED
        );
    }
    if !loose.is_empty() {
        let _ = write!(
            h,
            r#"<details class="loose"><summary style="grid-template-columns:{DECISION_GRID}"><span>Entries outside any decision</span><span></span><span></span><span></span><span></span><span></span><span>{}</span><span></span><span></span></summary><div class="inner">"#,
            loose.len()
        );
        entry_table(h, ev, &loose);
        h.push_str("</div></details>");
    }
    h.push_str("</section>\n");
}

/// The payload members shown as labelled fields for each common entry type (issue #15 §5);
/// the whole payload stays available as JSON behind a toggle.
fn labelled_fields(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "decision" => &[
            ("name", "Name"),
            ("input", "Input"),
            ("actor", "Actor"),
            ("parent_decision_id", "Nested in"),
        ],
        "decision_end" => &[
            ("outcome", "Outcome"),
            ("error", "Error"),
            ("result", "Result"),
            ("duration_ms", "Duration (ms)"),
            ("llm_calls", "Model calls"),
            ("usage", "Tokens"),
            ("cost", "Cost"),
        ],
        "llm_call" => &[
            ("model", "Model"),
            ("provider", "Provider"),
            ("response_model", "Response model"),
            ("usage", "Tokens"),
            ("cost", "Cost"),
            ("latency_ms", "Latency (ms)"),
            ("error_type", "Error"),
        ],
        "tool_call" => &[
            ("name", "Tool"),
            ("tool_outcome", "Outcome"),
            ("latency_ms", "Latency (ms)"),
            ("error_type", "Error"),
        ],
        "human_oversight" => &[
            ("reviewer", "Reviewer"),
            ("action", "Action"),
            ("note", "Note"),
            ("reason", "Reason"),
        ],
        "policy_flag" => &[
            ("action", "Action"),
            ("severity", "Severity"),
            ("reason", "Reason"),
            ("data", "Categories"),
        ],
        "guardrail_decision" => &[
            ("guardrail", "Guardrail"),
            ("decision", "Decision"),
            ("reason", "Reason"),
        ],
        _ => &[],
    }
}

/// Token usage as `N in / M out`, or the member as JSON when it has another shape.
fn usage_text(v: &Value) -> String {
    match (
        v.get("input_tokens").and_then(Value::as_u64),
        v.get("output_tokens").and_then(Value::as_u64),
    ) {
        (Some(i), Some(o)) => format!("{i} in / {o} out"),
        _ => member_text(v),
    }
}

/// An entry's payload: its type's common members as labelled fields, then the raw JSON in a
/// `<details>` toggle.
fn payload_cell(e: &LogEntry) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for (key, label) in labelled_fields(&e.kind) {
        let Some(v) = e.payload.get(key) else {
            continue;
        };
        if shown == 0 {
            out.push_str("<dl class=\"fields\">");
        }
        shown += 1;
        let text = if *key == "usage" {
            usage_text(v)
        } else {
            member_text(v)
        };
        let _ = write!(
            out,
            "<dt>{}</dt><dd data-field=\"{}\">{}</dd>",
            escape(label),
            escape(key),
            escape(&text)
        );
    }
    if shown > 0 {
        out.push_str("</dl>");
        let _ = write!(
            out,
            "<details class=\"raw\"><summary>raw JSON</summary><pre>{}</pre></details>",
            escape(&e.payload.to_string())
        );
    } else {
        let _ = write!(out, "<pre>{}</pre>", escape(&e.payload.to_string()));
    }
    out
}

fn entry_table(h: &mut String, ev: &Evidence, idx: &[usize]) {
    h.push_str("<table><tr><th>Seq</th><th>Time</th><th>Type</th><th>Payload</th><th>Controls</th><th>Hash</th></tr>");
    for &i in idx {
        let e = &ev.entries[i];
        let controls = ev.controls[i]
            .iter()
            .map(|c| format!("<span class=\"cid\">{}</span>", escape(c)))
            .chain(ev.adverse[i].iter().map(|c| {
                format!(
                    "<span class=\"pill adverse cid\" title=\"adverse: this entry records a failure of the control\">{}</span>",
                    escape(c)
                )
            }))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = write!(
            h,
            r#"<tr data-seq="{seq}"><td class="n">{seq}</td>{ts}<td>{kind}</td><td>{payload}</td><td>{controls}</td><td class="mono" title="{hash}">{short}…</td></tr>"#,
            seq = e.seq,
            ts = ts_cell(&e.ts),
            kind = escape(&e.kind),
            payload = payload_cell(e),
            hash = escape(&e.hash),
            short = escape(e.hash.get(..12).unwrap_or(&e.hash)),
        );
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_covers_element_content_and_both_attribute_quotes() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
