//! OSCAL assessment results: shape, honesty, determinism, and loading in compliance-trestle.
//!
//! The trestle test runs when `ACTTRACE_TRESTLE_PYTHON` names a python with
//! compliance-trestle installed (see scripts/trestle_venv.sh); under CI (env `CI` set) it fails
//! without one; otherwise it prints "skipped".

mod common;

use std::process::Command;

use acttrace::export::{ExportOptions, Filter, Format, export_path};
use common::*;

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

fn walk<'a>(v: &'a serde_json::Value, key: &str, out: &mut Vec<&'a serde_json::Value>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    out.push(x);
                }
                walk(x, key, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, key, out)),
        _ => {}
    }
}

fn oscal(dir: &std::path::Path, fw: &str, signed: bool, filter: Filter) -> serde_json::Value {
    let log = quickstart_log(dir, signed);
    let out = dir.join(format!("{fw}.oscal.json"));
    let mut opts = ExportOptions::new(fw, Format::Oscal);
    opts.filter = filter;
    if signed {
        opts.key = Some(key());
    }
    export_path(&log, &out, &opts).unwrap();
    serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap()
}

#[test]
fn the_document_is_an_honest_assessment_result() {
    let dir = tempfile::tempdir().unwrap();
    let doc = oscal(dir.path(), "eu_ai_act", true, Filter::default());
    let ar = &doc["assessment-results"];
    assert_eq!(ar["metadata"]["oscal-version"], "1.1.2");
    let text = doc.to_string();
    assert!(
        !text.contains("\"satisfied\""),
        "no finding may claim a control satisfied"
    );
    assert!(ar["results"][0].get("findings").is_none());
    assert!(text.contains("not a determination"));
    let mut uuids = Vec::new();
    walk(&doc, "uuid", &mut uuids);
    assert!(uuids.len() > 10);
    for u in &uuids {
        assert!(is_v5_uuid(u.as_str().unwrap()), "{u}");
    }
    let mut uniq: Vec<_> = uuids.iter().map(|u| u.as_str().unwrap()).collect();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), uuids.len(), "uuids are unique");
    // Times come from the log, not the clock.
    let log_text = std::fs::read_to_string(dir.path().join("quickstart.jsonl")).unwrap();
    let last_ts = log_text
        .lines()
        .last()
        .unwrap()
        .split("\"ts\": \"")
        .nth(1)
        .unwrap()[..26]
        .to_owned();
    assert!(
        ar["metadata"]["last-modified"]
            .as_str()
            .unwrap()
            .starts_with(&last_ts)
    );
    // Observations: one per control with evidence, counts and links to the pack.
    let obs = ar["results"][0]["observations"].as_array().unwrap();
    let pack = dir.path().join("p.jsonl");
    let mut o = ExportOptions::new("eu_ai_act", Format::Jsonl);
    o.key = Some(key());
    export_path(&dir.path().join("quickstart.jsonl"), &pack, &o).unwrap();
    let meta = &entries(&pack)[0]["_meta"];
    assert_eq!(
        obs.len(),
        meta["controls_covered"].as_array().unwrap().len()
    );
    let ho = obs
        .iter()
        .find(|o| {
            o["title"]
                .as_str()
                .unwrap()
                .starts_with("eu_ai_act Art. 14(4)(d)")
        })
        .unwrap();
    let props = ho["props"].as_array().unwrap();
    assert!(
        props
            .iter()
            .any(|p| p["name"] == "entry-count" && p["value"] == "3")
    );
    let links: Vec<&str> = ho["relevant-evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["href"].as_str().unwrap())
        .collect();
    assert_eq!(links.len(), 4);
    assert!(links[1].starts_with("pack.jsonl#seq="));
    // The back-matter pack resource carries the pack's real hash.
    let res = &ar["back-matter"]["resources"][0];
    assert_eq!(
        res["rlinks"][0]["hashes"][0]["value"],
        sha256_hex(&std::fs::read(&pack).unwrap())
    );
    assert_eq!(links[0], format!("#{}", res["uuid"].as_str().unwrap()));
}

fn trestle_load(py: &std::path::Path, file: &std::path::Path) {
    let script = r#"
import sys, pathlib
from trestle.oscal.assessment_results import AssessmentResults
ar = AssessmentResults.oscal_read(pathlib.Path(sys.argv[1]))
assert ar is not None, "trestle read nothing"
print(len(ar.results[0].observations))
"#;
    let out = Command::new(py)
        .args(["-c", script])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "compliance-trestle rejected {}:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let n: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(n > 0);
}

#[test]
fn the_document_loads_in_compliance_trestle() {
    let Some(py) = require(
        trestle_python(),
        "ACTTRACE_TRESTLE_PYTHON (compliance-trestle)",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    for fw in ["eu_ai_act", "iso_42001", "gdpr", "nist_rmf", "all"] {
        let out = dir.path().join(format!("{fw}.json"));
        let mut opts = ExportOptions::new(fw, Format::Oscal);
        opts.key = Some(key());
        export_path(&log, &out, &opts).unwrap();
        trestle_load(&py, &out);
    }
    // An excerpt, and an unverified export with its not-satisfied finding.
    let out = dir.path().join("excerpt.json");
    let mut opts = ExportOptions::new("gdpr", Format::Oscal);
    opts.filter = Filter {
        decision: Some(D1.into()),
        ..Filter::default()
    };
    export_path(&log, &out, &opts).unwrap();
    trestle_load(&py, &out);
    let out = dir.path().join("unverified.json");
    let mut opts = ExportOptions::new("nist_rmf", Format::Oscal);
    opts.allow_unverified = true;
    export_path(
        &vectors().join("cendor-py-1.14.0/chain0.edit.jsonl"),
        &out,
        &opts,
    )
    .unwrap();
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("\"findings\"")
    );
    trestle_load(&py, &out);
}
