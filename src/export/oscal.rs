//! OSCAL 1.1.2 assessment results: one observation per control with evidence.
//!
//! The document makes no determination of support: it has no finding that claims a control
//! "satisfied". Each observation (method `EXAMINE`) states how many log entries point at the
//! control, how strongly, when they were first and last seen, and links to the evidence pack (a
//! back-matter resource carrying the pack's SHA-256) and to up to [`EVIDENCE_LINKS`] entries by
//! seq and hash. Adverse evidence (entries recording a failure of what a control asks, such as a
//! `gap`) is not an observation of support: its observation is typed `finding` and a finding
//! targeting the control records it as "not-satisfied" for those entries. When the source log
//! did not verify, one finding records, honestly, that the integrity of the evidence is
//! "not-satisfied". UUIDs are derived from the head hash, framework and filter
//! (SHA-256, formatted as version-5 UUIDs) and times come from the log, so the output is
//! deterministic.

use super::excerpt::{describe_filter, normalize_ts};
use super::{ControlEvidence, DISCLAIMER, Evidence, names};

/// The OSCAL version the document declares.
pub const OSCAL_VERSION: &str = "1.1.2";
/// Namespace of the document's own properties.
pub const PROP_NS: &str = "https://acttrace.invalid/ns/oscal";
/// At most this many entries are linked from one observation (the count is always stated).
pub const EVIDENCE_LINKS: usize = 50;

/// A deterministic UUID (version-5 layout) from `seed`.
pub fn derived_uuid(seed: &str) -> String {
    let h = sha2::Digest::finalize(sha2::Digest::chain_update(
        <sha2::Sha256 as sha2::Digest>::new(),
        seed.as_bytes(),
    ));
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = crate::hex::to_hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An OSCAL token (`control-id`) for a framework's control id: lowercase, runs of other
/// characters collapsed to `-`, prefixed with the framework (`eu_ai_act-art-14-4-d`).
pub fn control_token(framework: &str, control_id: &str) -> String {
    let mut s = String::from(framework);
    s.push('-');
    let mut dash = true;
    for ch in control_id.chars().flat_map(char::to_lowercase) {
        if ch.is_ascii_alphanumeric() {
            s.push(ch);
            dash = false;
        } else if !dash {
            s.push('-');
            dash = true;
        }
    }
    while s.ends_with('-') {
        s.pop();
    }
    s
}

/// An OSCAL date-time with time zone from a log `ts` (the epoch when it cannot be read).
fn oscal_time(ts: Option<&str>) -> String {
    match ts.and_then(|t| normalize_ts(t, false)) {
        Some(n) => format!("{n}Z"),
        None => "1970-01-01T00:00:00Z".into(),
    }
}

fn prop(name: &str, value: impl Into<String>) -> serde_json::Value {
    let v: String = value.into();
    let v = v.trim();
    serde_json::json!({"name": name, "ns": PROP_NS, "value": if v.is_empty() { "-" } else { v }})
}

/// The document as pretty JSON with a trailing newline. `pack_sha256` is the SHA-256 of the
/// JSONL pack rendered from the same evidence.
pub fn render(ev: &Evidence, pack_sha256: &str) -> String {
    let filter = ev.filter.as_ref().map(describe_filter);
    let seed = format!(
        "acttrace-oscal|{}|{}|{}",
        ev.source_head,
        ev.framework,
        filter.as_deref().unwrap_or("")
    );
    let uuid = |what: &str| derived_uuid(&format!("{seed}|{what}"));
    let observation_uuid = |c: &ControlEvidence| {
        if c.strength.is_adverse() {
            uuid(&format!(
                "observation:{}:{}:adverse",
                c.framework, c.control_id
            ))
        } else {
            uuid(&format!("observation:{}:{}", c.framework, c.control_id))
        }
    };
    let pack_uuid = uuid("resource:pack");
    let plan_uuid = uuid("resource:no-assessment-plan");
    let first = oscal_time(ev.summary.first_ts.as_deref());
    let last = oscal_time(ev.summary.last_ts.as_deref());
    let verified = ev.verified();
    let status = if verified { "verified" } else { "unverified" };
    let system = ev
        .info
        .system
        .clone()
        .unwrap_or_else(|| "unknown system".into());
    let titles: Vec<String> = ev.mappings.iter().map(|m| m.title.clone()).collect();
    let versions: Vec<String> = ev
        .mappings
        .iter()
        .map(|m| format!("{} {} (sha256 {})", m.id, m.version, m.sha256))
        .collect();
    let observations: Vec<serde_json::Value> = ev
        .index
        .iter()
        .map(|c| {
            let first_seen = c.entries.iter().map(|e| e.3.as_str()).min();
            let last_seen = c.entries.iter().map(|e| e.3.as_str()).max();
            let mut evidence = vec![serde_json::json!({
                "href": format!("#{pack_uuid}"),
                "description": format!(
                    "The evidence pack ({}, SHA-256 {pack_sha256}); {} entries point at this control.",
                    names::PACK, c.entries.len()),
            })];
            for (seq, kind, hash, _) in c.entries.iter().take(EVIDENCE_LINKS) {
                evidence.push(serde_json::json!({
                    "href": format!("{}#seq={seq}", names::PACK),
                    "description": format!("Entry seq {seq} ({kind}), hash {hash}."),
                }));
            }
            let shown = c.entries.len().min(EVIDENCE_LINKS);
            let adverse = c.strength.is_adverse();
            let n = c.entries.len();
            let entries = format!("{n} log entr{} of {system}", if n == 1 { "y" } else { "ies" });
            let mut obs = serde_json::json!({
                "uuid": observation_uuid(c),
                "title": if adverse {
                    format!("{} {} — {} (adverse evidence)", c.framework, c.control_id, c.title)
                } else {
                    format!("{} {} — {}", c.framework, c.control_id, c.title)
                },
                "description": if adverse {
                    format!(
                        "{entries} record{} a failure of what {} {} asks. Rationale: {} This is \
                         adverse evidence, never counted as support for the control.",
                        if n == 1 { "s" } else { "" },
                        c.framework,
                        c.control_id,
                        c.rationale)
                } else {
                    format!(
                        "{entries} point at {} {} ({} evidence). Rationale: {} This is an \
                         evidence pointer, not a determination that the control is satisfied.",
                        c.framework,
                        c.control_id,
                        c.strength.as_str(),
                        c.rationale)
                },
                "props": [
                    prop("framework", c.framework.clone()),
                    prop("control-id", c.control_id.clone()),
                    prop("strength", c.strength.as_str()),
                    prop("entry-count", c.entries.len().to_string()),
                    prop("first-seen", first_seen.unwrap_or("-")),
                    prop("last-seen", last_seen.unwrap_or("-")),
                    prop("evidence-status", status),
                ],
                "methods": ["EXAMINE"],
                "relevant-evidence": evidence,
                "collected": oscal_time(last_seen),
                "remarks": format!(
                    "{shown} of {} entries linked individually; all are in the pack.",
                    c.entries.len()),
            });
            if adverse {
                obs["types"] = serde_json::json!(["finding"]);
            }
            obs
        })
        .collect();
    let mut tokens: Vec<String> = ev
        .index
        .iter()
        .map(|c| control_token(&c.framework, &c.control_id))
        .collect();
    // A control with both support and adverse evidence is reviewed once.
    tokens.dedup();
    let controls: Vec<serde_json::Value> = tokens
        .iter()
        .map(|t| serde_json::json!({"control-id": t}))
        .collect();
    let mut result = serde_json::json!({
        "uuid": uuid("result"),
        "title": format!("Runtime evidence from the acttrace audit log of {system}"),
        "description": format!(
            "Observations derived from {} chain entries ({}) mapped to {}. Source log \
             verification: {status} — {}. {DISCLAIMER}",
            ev.entries.len(),
            filter.clone().unwrap_or_else(|| "whole log".into()),
            titles.join("; "),
            ev.verification.summary()),
        "start": first,
        "end": last,
        "props": [
            prop("verification-status", status),
            prop("head-hash", ev.source_head.clone()),
            prop("entries", ev.entries.len().to_string()),
            prop("excerpt", if ev.filter.is_some() { "true" } else { "false" }),
        ],
        "reviewed-controls": {
            "description": "Controls of the selected framework mapping(s) that at least one log entry points at.",
            "control-selections": [{
                "description": format!("Mapping(s): {}", versions.join("; ")),
                "include-controls": controls,
            }],
        },
        "observations": observations,
        "remarks": "No finding claims that any control is satisfied: the log evidences activity; \
                    compliance is determined by an assessor. Findings record adverse evidence \
                    (entries recording a failure of what a control asks) and, for a log that did \
                    not verify, the integrity failure.",
    });
    let mut findings = Vec::new();
    if !verified {
        let obs_uuid = uuid("observation:log-integrity");
        result["observations"]
            .as_array_mut()
            .expect("array")
            .push(serde_json::json!({
                "uuid": obs_uuid,
                "title": "Audit log integrity",
                "description": format!("The source log did not verify: {}", ev.verification.summary()),
                "methods": ["TEST"],
                "relevant-evidence": [{"href": format!("#{pack_uuid}"), "description": "The evidence pack, marked unverified."}],
                "collected": last,
            }));
        findings.push(serde_json::json!({
            "uuid": uuid("finding:log-integrity"),
            "title": "Integrity of the evidence not established",
            "description": format!(
                "The audit log failed verification ({}); its entries cannot be relied on as \
                 evidence until the failure is explained.", ev.verification.summary()),
            "target": {
                "type": "objective-id",
                "target-id": "acttrace-log-integrity",
                "status": {"state": "not-satisfied", "reason": "fail"},
            },
            "related-observations": [{"observation-uuid": obs_uuid}],
        }));
    }
    for c in ev.index.iter().filter(|c| c.strength.is_adverse()) {
        let mut kinds: Vec<&str> = c.entries.iter().map(|e| e.1.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        findings.push(serde_json::json!({
            "uuid": uuid(&format!("finding:{}:{}:adverse", c.framework, c.control_id)),
            "title": format!("{} {}: the log records a failure of this control", c.framework, c.control_id),
            "description": format!(
                "{} entr{} ({}) record{} a failure of what {} {} ({}) asks: {} The finding is \
                 limited to those entries (see the related observation); what they mean for the \
                 control as a whole is for an assessor to decide.",
                c.entries.len(),
                if c.entries.len() == 1 { "y" } else { "ies" },
                kinds.join(", "),
                if c.entries.len() == 1 { "s" } else { "" },
                c.framework,
                c.control_id,
                c.title,
                c.rationale),
            "target": {
                "type": "objective-id",
                "target-id": control_token(&c.framework, &c.control_id),
                "status": {"state": "not-satisfied", "reason": "fail"},
            },
            "related-observations": [{"observation-uuid": observation_uuid(c)}],
        }));
    }
    if !findings.is_empty() {
        result["findings"] = serde_json::Value::Array(findings);
    }
    let doc = serde_json::json!({
        "assessment-results": {
            "uuid": uuid("document"),
            "metadata": {
                "title": format!("acttrace evidence for {system}: {}", titles.join("; ")),
                "last-modified": last,
                "version": ev.mappings.iter().map(|m| format!("{}@{}", m.id, m.version)).collect::<Vec<_>>().join(","),
                "oscal-version": OSCAL_VERSION,
                "props": [
                    prop("verification-status", status),
                    prop("framework", ev.framework.clone()),
                ],
                "remarks": format!("{DISCLAIMER} Source log verification: {status} — {}.",
                    ev.verification.summary()),
            },
            "import-ap": {
                "href": format!("#{plan_uuid}"),
                "remarks": "Generated from a runtime audit log; there is no OSCAL assessment plan.",
            },
            "results": [result],
            "back-matter": {
                "resources": [
                    {
                        "uuid": pack_uuid,
                        "title": "acttrace evidence pack",
                        "description": format!(
                            "The JSONL evidence pack ({}) rendered from the same log and options; \
                             head hash {}, {} entries.", names::PACK, ev.source_head, ev.entries.len()),
                        "rlinks": [{
                            "href": names::PACK,
                            "media-type": "application/jsonl",
                            "hashes": [{"algorithm": "SHA-256", "value": pack_sha256}],
                        }],
                    },
                    {
                        "uuid": plan_uuid,
                        "title": "No assessment plan",
                        "description": "These results come from a runtime audit log, not from an assessment plan.",
                    },
                ],
            },
        }
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("JSON");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::{control_token, derived_uuid};

    fn is_v5_uuid(s: &str) -> bool {
        let b = s.as_bytes();
        s.len() == 36
            && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
            && b[14] == b'5'
            && matches!(b[19], b'8' | b'9' | b'a' | b'b')
            && s.chars()
                .filter(|c| *c != '-')
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    }

    #[test]
    fn uuids_and_tokens_are_derived_deterministically() {
        assert_eq!(derived_uuid("a"), derived_uuid("a"));
        assert_ne!(derived_uuid("a"), derived_uuid("b"));
        assert!(is_v5_uuid(&derived_uuid("a")));
        assert_eq!(
            control_token("eu_ai_act", "Art. 14(4)(d)"),
            "eu_ai_act-art-14-4-d"
        );
        assert_eq!(control_token("iso_42001", "A.6.2.8"), "iso_42001-a-6-2-8");
    }
}
