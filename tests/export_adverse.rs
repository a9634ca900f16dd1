//! Adverse evidence (issue #17 A.2): entries that record a failure of what a control asks (a
//! `gap`: entries lost) are carried through every format as such and never counted as support:
//! JSONL `adverse_controls`, a CSV row of their own, an OSCAL finding, a red HTML row.

mod common;

use std::path::{Path, PathBuf};

use acttrace::chain::{GENESIS, HashAlg, SealedEntry};
use acttrace::export::{ExportOptions, Filter, Format, export_path, verify_excerpt};
use acttrace::json::Value;
use acttrace::verify::{VerifyOptions, verify_path};
use common::*;

const D1: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";

/// A signed log with two gaps (lost entries; records dropped in fail-open mode), a recovery
/// and a retention entry among ordinary ones.
fn log_with_gaps(dir: &Path) -> PathBuf {
    let path = dir.join("gaps.jsonl");
    let k = key();
    let rows: Vec<(&str, serde_json::Value)> = vec![
        (
            "audit_open",
            serde_json::json!({"system": "claims-bot", "risk_tier": "high", "format": "acttrace-chain/1", "producer": "acttrace-rs/0.1.0"}),
        ),
        (
            "decision",
            serde_json::json!({"decision_id": D1, "name": "claim.triage", "actor": "agent"}),
        ),
        (
            "llm_call",
            serde_json::json!({"decision_id": D1, "provider": "anthropic", "model": "claude"}),
        ),
        (
            "gap",
            serde_json::json!({"lost_entries": 2, "first_lost_seq": 3, "error": "No space left on device"}),
        ),
        (
            "decision_end",
            serde_json::json!({"decision_id": D1, "outcome": "ok"}),
        ),
        (
            "recovery",
            serde_json::json!({"reason": "torn last line", "line": 6, "cut_bytes": 17, "cut_sha256": "00", "side_file": "gaps.jsonl.torn", "producer": "acttrace-rs/0.1.0"}),
        ),
        (
            "gap",
            serde_json::json!({"dropped_entries": 5, "reason": "queue full (fail-open mode)"}),
        ),
        (
            "retention",
            serde_json::json!({"deleted": [{"segment": "old.00001.jsonl", "last_seq": 0, "head": GENESIS}]}),
        ),
    ];
    let mut prev = GENESIS.to_owned();
    let mut out = String::new();
    for (seq, (kind, payload)) in rows.into_iter().enumerate() {
        let e = SealedEntry::seal(
            HashAlg::Sha256,
            Some(&k),
            seq as u64,
            format!("2026-04-0{}T10:00:00.000000+00:00", seq + 1),
            kind.into(),
            Value::from(&payload),
            prev,
        );
        prev = e.hash.clone();
        e.write_line(&mut out);
    }
    std::fs::write(&path, out).unwrap();
    path
}

fn export(
    log: &Path,
    out: &Path,
    framework: &str,
    format: Format,
) -> acttrace::export::ExportReport {
    let mut opts = ExportOptions::new(framework, format);
    opts.key = Some(key());
    export_path(log, out, &opts).unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap()
}

fn entry(lines: &[serde_json::Value], seq: u64) -> &serde_json::Value {
    lines[1..].iter().find(|e| e["seq"] == seq).unwrap()
}

#[test]
fn the_pack_lists_adverse_controls_apart_and_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_gaps(dir.path());
    assert!(
        verify_path(
            &log,
            &VerifyOptions {
                key: Some(key()),
                ..VerifyOptions::default()
            }
        )
        .unwrap()
        .ok()
    );
    let out = dir.path().join("eu.jsonl");
    let report = export(&log, &out, "eu_ai_act", Format::Jsonl);
    let lines = entries(&out);
    let meta = &lines[0]["_meta"];
    let failed = ["Art. 12(1)", "Art. 19(1)", "Art. 26(6)"];
    for seq in [3, 6] {
        let gap = entry(&lines, seq);
        assert_eq!(gap["type"], "gap");
        assert_eq!(strings(&gap["controls"]), Vec::<String>::new(), "seq {seq}");
        assert_eq!(strings(&gap["adverse_controls"]), failed, "seq {seq}");
    }
    // Entries that record no failure carry no `adverse_controls`.
    for e in &lines[1..] {
        assert_eq!(
            e.get("adverse_controls").is_some(),
            e["type"] == "gap",
            "{e}"
        );
    }
    assert_eq!(strings(&meta["adverse_controls"]), failed);
    // controls_covered is the union of `controls` only.
    let mut union: Vec<String> = lines[1..]
        .iter()
        .flat_map(|e| strings(&e["controls"]))
        .collect();
    union.sort();
    union.dedup();
    assert_eq!(strings(&meta["controls_covered"]), union);
    assert_eq!(report.controls_covered, union.len());
    // Entry lines are the log's, then `controls`, then `adverse_controls`.
    let log_text = std::fs::read_to_string(&log).unwrap();
    let pack_text = std::fs::read_to_string(&out).unwrap();
    for (p, l) in pack_text.lines().skip(1).zip(log_text.lines()) {
        let cut = p.rfind(", \"controls\": [").unwrap();
        assert_eq!(format!("{}}}", &p[..cut]), l);
        if l.contains("\"type\": \"gap\"") {
            assert!(p.ends_with(
                "\"controls\": [], \"adverse_controls\": [\"Art. 12(1)\", \"Art. 19(1)\", \"Art. 26(6)\"]}"
            ), "{p}");
        }
    }
    // The pack verifies (signed header, every entry signature), as does an excerpt with a gap.
    let v = verify_path(
        &out,
        &VerifyOptions {
            key: Some(key()),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(v.ok(), "{}", v.summary());
    if let Some(py) = reference_python() {
        let (ok, detail) = reference_verify(&py, &out, Some(KEY), None);
        assert!(ok, "{detail}");
    }
    let excerpt = dir.path().join("excerpt.jsonl");
    let mut opts = ExportOptions::new("eu_ai_act", Format::Jsonl);
    opts.key = Some(key());
    opts.filter = Filter {
        from: Some("2026-04-04".into()),
        to: Some("2026-04-05".into()),
        decision: None,
    };
    export_path(&log, &excerpt, &opts).unwrap();
    let ex = verify_excerpt(&excerpt, Some(&key())).unwrap();
    assert!(ex.problems.is_empty(), "{:?}", ex.problems);
    assert_eq!(
        strings(&entries(&excerpt)[0]["_meta"]["adverse_controls"]),
        failed
    );
    // A pack exported again keeps one `controls` and one `adverse_controls` per entry.
    let again = dir.path().join("again.jsonl");
    export(&out, &again, "eu_ai_act", Format::Jsonl);
    let text = std::fs::read_to_string(&again).unwrap();
    for l in text.lines().skip(1) {
        assert_eq!(l.matches("\"controls\"").count(), 1, "{l}");
        assert!(l.matches("\"adverse_controls\"").count() <= 1, "{l}");
    }
    assert_eq!(
        text.lines().skip(1).collect::<Vec<_>>(),
        pack_text.lines().skip(1).collect::<Vec<_>>()
    );
}

#[test]
fn with_all_frameworks_adverse_and_support_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_gaps(dir.path());
    let out = dir.path().join("all.jsonl");
    export(&log, &out, "all", Format::Jsonl);
    let lines = entries(&out);
    let gap = entry(&lines, 3);
    let adverse = strings(&gap["adverse_controls"]);
    for c in [
        "eu_ai_act:Art. 12(1)",
        "iso_42001:A.6.2.8",
        "gdpr:Art. 5(1)(f)",
        "nist_rmf:MEASURE 2.4",
    ] {
        assert!(adverse.contains(&c.to_owned()), "{c}: {adverse:?}");
    }
    // The gap's incident-record controls are support.
    let support = strings(&gap["controls"]);
    for c in ["gdpr:Art. 33(5)", "iso_42001:A.8.4", "nist_rmf:MANAGE 4.3"] {
        assert!(support.contains(&c.to_owned()), "{c}: {support:?}");
    }
    assert!(support.iter().all(|c| !adverse.contains(c)));
    // GDPR Art. 5(1)(f) is supported by the recovery and failed by the gaps: in both lists.
    let meta = &lines[0]["_meta"];
    assert!(strings(&meta["controls_covered"]).contains(&"gdpr:Art. 5(1)(f)".to_owned()));
    assert!(strings(&meta["adverse_controls"]).contains(&"gdpr:Art. 5(1)(f)".to_owned()));
}

#[test]
fn an_adverse_only_control_is_not_covered() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_gaps(dir.path());
    let file = dir.path().join("acme.json");
    std::fs::write(
        &file,
        r#"{"schema": "acttrace-mapping/1", "id": "acme", "version": "1", "title": "ACME",
            "entry_types": {
              "gap": [{"control_id": "LOG-1", "title": "Complete logs", "rationale": "Entries were lost.", "strength": "adverse"}],
              "decision": [{"control_id": "DEC-1", "title": "Decisions logged", "rationale": "A decision.", "strength": "direct"}]}}"#,
    )
    .unwrap();
    let mut opts = ExportOptions::new("acme", Format::Dir);
    opts.mapping_files = vec![file];
    let out = dir.path().join("acme");
    let report = export_path(&log, &out, &opts).unwrap();
    assert_eq!(report.controls_covered, 1);
    let meta = &entries(&out.join("pack.jsonl"))[0]["_meta"];
    assert_eq!(strings(&meta["controls_covered"]), ["DEC-1"]);
    assert_eq!(strings(&meta["adverse_controls"]), ["LOG-1"]);
    let csv = std::fs::read_to_string(out.join("controls.csv")).unwrap();
    assert!(
        csv.contains("\r\nacme,LOG-1,Complete logs,adverse,2,"),
        "{csv}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(html.matches("<tr class=\"control\"").count(), 1);
    assert_eq!(html.matches("<tr class=\"control-adverse\"").count(), 1);
}

#[test]
fn csv_rolls_up_support_and_adverse_evidence_separately() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_gaps(dir.path());
    let out = dir.path().join("eu.csv");
    export(&log, &out, "eu_ai_act", Format::Csv);
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<&str>> = text
        .split("\r\n")
        .filter(|r| r.starts_with("eu_ai_act,"))
        .map(|r| r.split(',').collect())
        .collect();
    let find = |id: &str| -> Vec<(&str, &str)> {
        rows.iter()
            .filter(|r| r[1] == id)
            .map(|r| (r[r.len() - 5], r[r.len() - 4]))
            .collect()
    };
    // Art. 12(1): audit_open, decision, llm_call, decision_end, recovery support it (direct);
    // the two gaps are a row of their own, after it.
    assert_eq!(find("Art. 12(1)"), [("direct", "5"), ("adverse", "2")]);
    // Art. 19(1): audit_open and retention support it; the gaps do not.
    assert_eq!(find("Art. 19(1)"), [("supporting", "2"), ("adverse", "2")]);
    assert_eq!(find("Art. 26(6)"), [("supporting", "2"), ("adverse", "2")]);
    let adverse = rows
        .iter()
        .find(|r| r[1] == "Art. 12(1)" && r.contains(&"adverse"))
        .unwrap();
    assert_eq!(
        adverse[adverse.len() - 3],
        "2026-04-04T10:00:00.000000+00:00"
    );
    assert_eq!(
        adverse[adverse.len() - 2],
        "2026-04-07T10:00:00.000000+00:00"
    );
    assert_eq!(adverse[adverse.len() - 1], "verified");
}

#[test]
fn oscal_records_adverse_evidence_as_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_gaps(dir.path());
    let out = dir.path().join("eu.oscal.json");
    export(&log, &out, "eu_ai_act", Format::Oscal);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("\"satisfied\""), "no finding claims support");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let result = &doc["assessment-results"]["results"][0];
    let observations = result["observations"].as_array().unwrap();
    let findings = result["findings"].as_array().unwrap();
    // One finding per control with adverse evidence; the log verified, so no integrity finding.
    let targets: Vec<&str> = findings
        .iter()
        .map(|f| f["target"]["target-id"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "eu_ai_act-art-12-1",
            "eu_ai_act-art-19-1",
            "eu_ai_act-art-26-6"
        ]
    );
    for f in findings {
        assert_eq!(f["target"]["status"]["state"], "not-satisfied");
        assert!(
            f["description"]
                .as_str()
                .unwrap()
                .contains("2 entries (gap) record a failure")
        );
        let related = f["related-observations"][0]["observation-uuid"]
            .as_str()
            .unwrap();
        let o = observations.iter().find(|o| o["uuid"] == related).unwrap();
        assert_eq!(o["types"], serde_json::json!(["finding"]));
        let prop = |name: &str| {
            o["props"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap()["value"]
                .clone()
        };
        assert_eq!(prop("strength"), "adverse");
        assert_eq!(prop("entry-count"), "2");
        assert!(
            o["description"]
                .as_str()
                .unwrap()
                .contains("never counted as support")
        );
    }
    // The support observation of Art. 12(1) counts the five supporting entries, not the gaps.
    let support = observations
        .iter()
        .find(|o| {
            o["title"]
                .as_str()
                .unwrap()
                .starts_with("eu_ai_act Art. 12(1) — ")
                && o.get("types").is_none()
        })
        .unwrap();
    let count = support["props"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "entry-count")
        .unwrap();
    assert_eq!(count["value"], "5");
    assert!(!support["relevant-evidence"].to_string().contains("(gap)"));
    // Each control is reviewed once, and every uuid is unique.
    let reviewed: Vec<&str> =
        result["reviewed-controls"]["control-selections"][0]["include-controls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["control-id"].as_str().unwrap())
            .collect();
    let mut uniq = reviewed.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), reviewed.len(), "{reviewed:?}");
    let mut uuids: Vec<&str> = observations
        .iter()
        .chain(findings)
        .map(|o| o["uuid"].as_str().unwrap())
        .collect();
    let n = uuids.len();
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), n);
    if let Some(py) = require(
        trestle_python(),
        "ACTTRACE_TRESTLE_PYTHON (compliance-trestle)",
    ) {
        let script = "import sys, pathlib\nfrom trestle.oscal.assessment_results import AssessmentResults\nar = AssessmentResults.oscal_read(pathlib.Path(sys.argv[1]))\nprint(len(ar.results[0].findings))\n";
        let run = std::process::Command::new(py)
            .args(["-c", script])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "3");
    }
}

#[test]
fn html_shows_adverse_evidence_in_red() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_with_gaps(dir.path());
    let out = dir.path().join("eu.html");
    export(&log, &out, "eu_ai_act", Format::Html);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains(
        "<tr class=\"control\" data-framework=\"eu_ai_act\" data-control=\"Art. 12(1)\" data-count=\"5\">"
    ));
    assert!(html.contains(
        "<tr class=\"control-adverse\" data-framework=\"eu_ai_act\" data-control=\"Art. 12(1)\" data-count=\"2\">"
    ));
    assert_eq!(html.matches("<tr class=\"control-adverse\"").count(), 3);
    assert!(html.contains("<span class=\"pill adverse\">adverse</span></td>"));
    // Red: the report's "bad" colours, as the unverified banner uses them.
    assert!(
        html.contains(
            ".pill.adverse{background:var(--badbg);border-color:#efc0c5;color:var(--bad)"
        )
    );
    assert!(html.contains("tr.control-adverse td{color:var(--bad);background:var(--badbg)}"));
    // On the gap entries themselves, in the entry table.
    assert_eq!(
        html.matches(
            "title=\"adverse: this entry records a failure of the control\">Art. 12(1)</span>"
        )
        .count(),
        2
    );
    let meta = &entries(&{
        let p = dir.path().join("eu.jsonl");
        export(&log, &p, "eu_ai_act", Format::Jsonl);
        p
    })[0]["_meta"];
    assert_eq!(
        html.matches("<tr class=\"control\"").count(),
        meta["controls_covered"].as_array().unwrap().len()
    );
}
