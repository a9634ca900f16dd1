//! The JSONL evidence pack: the reference's format plus documented extensions in `_meta`.
//!
//! Line 1 is `{"_meta": {...}}` with the reference members (`system`, `risk_tier`,
//! `framework`, `controls_covered`, `summary`, `head_hash`, `entries`, `disclaimer`, `sig`)
//! and these additions: `adverse_controls` (after `controls_covered`), `time_range`, `chain`
//! (format, producer, hash algorithm), `mapping` (id, version, SHA-256, origin; a list with
//! `all`), `verified` (the source log's verification), `oversight` (decisions with and without
//! sign-off) and, for a filtered export, `excerpt` (see [`super::excerpt`]). `sig` is last.
//! Every entry follows exactly as the log has it, with `, "controls": [...]` inserted before its
//! closing brace, then `, "adverse_controls": [...]` when it records a failure of a control
//! (a `gap`): those controls are never in `controls` or `controls_covered`. An excerpt of a log
//! with checkpoints adds `, "tlog_proof": "..."` last (see [`super::excerpt_proof`]).

use crate::json::{Value, write_line_form};
use crate::verify::meta_signing_input;

use super::excerpt::{excerpt_signing_input, excerpt_value};
use super::{DISCLAIMER, Evidence, Mapping};

fn opt_str(v: &Option<String>) -> Value {
    v.clone().map(Value::String).unwrap_or(Value::Null)
}

fn mapping_value(m: &Mapping) -> Value {
    Value::Object(vec![
        ("id".into(), Value::from(m.id.as_str())),
        ("version".into(), Value::from(m.version.as_str())),
        ("sha256".into(), Value::from(m.sha256.as_str())),
        ("origin".into(), Value::from(m.origin_label())),
    ])
}

/// The `_meta` object of the pack (signed when the evidence carries a key).
pub fn meta(ev: &Evidence) -> Value {
    let excerpt = ev.filter.is_some();
    let (head, count) = if excerpt {
        (ev.source_head.clone(), ev.source_entries)
    } else {
        (
            ev.entries
                .last()
                .map(|e| e.hash.clone())
                .unwrap_or_default(),
            ev.entries.len() as u64,
        )
    };
    let v = &ev.verification;
    let vj = v.to_json();
    let status = if v.ok() { "verified" } else { "unverified" };
    let mut fields: Vec<(String, Value)> = vec![
        ("system".into(), opt_str(&ev.info.system)),
        ("risk_tier".into(), opt_str(&ev.info.risk_tier)),
        ("framework".into(), Value::from(ev.framework.as_str())),
        (
            "controls_covered".into(),
            Value::Array(
                ev.controls_covered()
                    .into_iter()
                    .map(Value::String)
                    .collect(),
            ),
        ),
        (
            "adverse_controls".into(),
            Value::Array(
                ev.adverse_controls()
                    .into_iter()
                    .map(Value::String)
                    .collect(),
            ),
        ),
        ("summary".into(), ev.summary.to_meta_value()),
        ("head_hash".into(), Value::String(head)),
        ("entries".into(), Value::from(count)),
        ("disclaimer".into(), Value::from(DISCLAIMER)),
        (
            "time_range".into(),
            Value::Object(vec![
                ("first_ts".into(), opt_str(&ev.summary.first_ts)),
                ("last_ts".into(), opt_str(&ev.summary.last_ts)),
            ]),
        ),
        (
            "chain".into(),
            Value::Object(vec![
                ("format".into(), opt_str(&ev.info.format)),
                ("producer".into(), opt_str(&ev.info.producer)),
                ("hash_alg".into(), Value::from(ev.info.hash_alg.as_str())),
            ]),
        ),
        (
            "mapping".into(),
            if ev.framework == "all" {
                Value::Array(ev.mappings.iter().map(mapping_value).collect())
            } else {
                mapping_value(&ev.mappings[0])
            },
        ),
        (
            "verified".into(),
            Value::Object(vec![
                ("status".into(), Value::from(status)),
                ("detail".into(), Value::String(v.summary())),
                (
                    "signatures".into(),
                    Value::from(vj["signatures"].as_str().unwrap_or("")),
                ),
                (
                    "completeness".into(),
                    Value::from(vj["completeness"].as_str().unwrap_or("")),
                ),
            ]),
        ),
        (
            "oversight".into(),
            Value::Object(vec![
                (
                    "decisions_with_sign_off".into(),
                    Value::from(ev.summary.decisions_with_oversight),
                ),
                (
                    "decisions_without_sign_off".into(),
                    Value::from(ev.summary.decisions_without_oversight),
                ),
            ]),
        ),
    ];
    if let Some(f) = &ev.filter {
        let mut excerpt = excerpt_value(&ev.entries, f, &ev.info.hash_alg);
        if let (Some(proofs), Value::Object(members)) = (&ev.excerpt_proofs, &mut excerpt) {
            members.extend(proofs.meta_members());
        }
        fields.push(("excerpt".into(), excerpt));
    }
    let mut meta = Value::Object(fields);
    if let Some(key) = &ev.key {
        if excerpt && let Some(input) = excerpt_signing_input(&meta) {
            let sig = key.sign(&input);
            if let Value::Object(fields) = &mut meta
                && let Some((_, Value::Object(ex))) =
                    fields.iter_mut().find(|(k, _)| k == "excerpt")
            {
                ex.push(("sig".into(), Value::String(sig)));
            }
        }
        let sig = key.sign(&meta_signing_input(&meta));
        if let Value::Object(fields) = &mut meta {
            fields.push(("sig".into(), Value::String(sig)));
        }
    }
    meta
}

/// The whole pack as text.
pub fn render(ev: &Evidence) -> String {
    let mut out = String::with_capacity(ev.entries.iter().map(|e| e.line.len() + 64).sum());
    write_line_form(&mut out, &Value::Object(vec![("_meta".into(), meta(ev))]));
    out.push('\n');
    let list =
        |labels: &[String]| Value::Array(labels.iter().map(|c| Value::from(c.as_str())).collect());
    for (i, ((e, controls), adverse)) in ev
        .entries
        .iter()
        .zip(&ev.controls)
        .zip(&ev.adverse)
        .enumerate()
    {
        let line = e.line.trim_end();
        let body = line.strip_suffix('}').unwrap_or(line);
        out.push_str(body);
        out.push_str(", \"controls\": ");
        write_line_form(&mut out, &list(controls));
        if !adverse.is_empty() {
            out.push_str(", \"adverse_controls\": ");
            write_line_form(&mut out, &list(adverse));
        }
        if let Some(proof) = ev.excerpt_proofs.as_ref().and_then(|p| p.proof(i)) {
            out.push_str(", \"tlog_proof\": ");
            write_line_form(&mut out, &Value::from(proof));
        }
        out.push_str("}\n");
    }
    out
}
