//! The JSONL evidence pack: verifies with both verifiers, matches the reference layout and
//! summary, maps controls correctly, refuses bad input, and is deterministic.

mod common;

use std::path::Path;

use acttrace::export::{BUILTIN_FRAMEWORKS, ExportError, ExportOptions, Format, export_path};
use acttrace::verify::{Completeness, Signatures, VerifyOptions, verify_path};
use common::*;

const FRAMEWORKS: [&str; 5] = ["eu_ai_act", "iso_42001", "gdpr", "nist_rmf", "all"];

fn ours(path: &Path, key: Option<&str>) -> acttrace::verify::Verification {
    verify_path(
        path,
        &VerifyOptions {
            key: key.map(|k| acttrace::SigningKey::from_bytes(k.as_bytes()).unwrap()),
            ..VerifyOptions::default()
        },
    )
    .unwrap()
}

fn export(log: &Path, out: &Path, framework: &str, signed: bool) {
    let mut opts = ExportOptions::new(framework, Format::Jsonl);
    if signed {
        opts.key = Some(key());
    }
    export_path(log, out, &opts).unwrap();
}

#[test]
fn quickstart_packs_verify_with_our_verifier_signed_and_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let signed_log = quickstart_log(dir.path(), true);
    let unsigned_log = quickstart_log(dir.path(), false);
    for fw in FRAMEWORKS {
        let out = dir.path().join(format!("{fw}.signed.jsonl"));
        export(&signed_log, &out, fw, true);
        let v = ours(&out, Some(KEY));
        assert!(v.ok(), "{fw}: {}", v.summary());
        assert!(v.is_pack);
        assert_eq!(v.signatures, Signatures::Verified);
        assert_eq!(v.completeness, Completeness::SignedHeader, "{fw}");
        let v = ours(&out, None);
        assert!(v.ok(), "{fw} without key: {}", v.summary());
        assert_eq!(v.completeness, Completeness::UnauthenticatedHeader);

        let out = dir.path().join(format!("{fw}.unsigned.jsonl"));
        export(&unsigned_log, &out, fw, false);
        let v = ours(&out, None);
        assert!(v.ok(), "{fw} unsigned: {}", v.summary());
        // A key-holder's check of an unsigned pack fails (nothing is signed).
        assert!(!ours(&out, Some(KEY)).ok());
    }
}

#[test]
fn quickstart_packs_verify_with_the_reference_verifier() {
    let Some(py) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let signed_log = quickstart_log(dir.path(), true);
    let unsigned_log = quickstart_log(dir.path(), false);
    for fw in FRAMEWORKS {
        let out = dir.path().join(format!("{fw}.signed.jsonl"));
        export(&signed_log, &out, fw, true);
        let (ok, detail) = reference_verify(&py, &out, Some(KEY), None);
        assert!(ok, "{fw} signed, with key: {detail}");
        assert!(detail.contains("metadata signature verified"), "{detail}");
        let (ok, detail) = reference_verify(&py, &out, None, None);
        assert!(ok, "{fw} signed, without key: {detail}");

        let out = dir.path().join(format!("{fw}.unsigned.jsonl"));
        export(&unsigned_log, &out, fw, false);
        let (ok, detail) = reference_verify(&py, &out, None, None);
        assert!(ok, "{fw} unsigned: {detail}");
        let (ok, _) = reference_verify(&py, &out, Some("wrong"), None);
        assert!(!ok, "{fw}: an unsigned pack must not pass a keyed check");
    }
    // The reference also rejects our signed pack when its header is rewritten.
    let out = dir.path().join("eu_ai_act.signed.jsonl");
    let text = std::fs::read_to_string(&out).unwrap();
    let forged = text.replacen("\"entries\": 23", "\"entries\": 22", 1);
    assert_ne!(text, forged);
    std::fs::write(&out, forged).unwrap();
    let (ok, detail) = reference_verify(&py, &out, Some(KEY), None);
    assert!(!ok && detail.contains("forged _meta"), "{detail}");
}

#[test]
fn entry_lines_are_the_log_lines_plus_controls() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let out = dir.path().join("p.jsonl");
    export(&log, &out, "gdpr", true);
    let log_lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let pack = std::fs::read_to_string(&out).unwrap();
    let pack_lines: Vec<&str> = pack.lines().collect();
    assert!(pack_lines[0].starts_with("{\"_meta\": {\"system\": "));
    assert_eq!(pack_lines.len(), log_lines.len() + 1);
    for (p, l) in pack_lines[1..].iter().zip(&log_lines) {
        let cut = p.rfind(", \"controls\": [").expect("controls member");
        assert_eq!(format!("{}}}", &p[..cut]), *l);
        assert!(p.ends_with("]}"));
    }
    // Non-ASCII stays raw, as the reference writes it.
    assert!(pack.contains("日本語"));
    assert!(pack.ends_with('\n'));
}

#[test]
fn meta_carries_the_reference_members_and_the_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let out = dir.path().join("p.jsonl");
    export(&log, &out, "nist_rmf", true);
    let lines = entries(&out);
    let meta = &lines[0]["_meta"];
    let keys: Vec<&str> = meta
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for k in [
        "system",
        "risk_tier",
        "framework",
        "controls_covered",
        "summary",
        "head_hash",
        "entries",
        "disclaimer",
        "time_range",
        "chain",
        "mapping",
        "verified",
        "oversight",
        "sig",
    ] {
        assert!(keys.contains(&k), "missing {k}");
    }
    assert_eq!(meta["system"], "claims <b>bot</b>");
    assert_eq!(meta["framework"], "nist_rmf");
    assert_eq!(meta["entries"], 15);
    assert_eq!(meta["head_hash"], lines.last().unwrap()["hash"]);
    assert_eq!(
        meta["time_range"]["first_ts"],
        "2026-03-01T09:00:00.000000+00:00"
    );
    assert_eq!(
        meta["time_range"]["last_ts"],
        "2026-03-03T11:00:01.000000+00:00"
    );
    assert_eq!(meta["chain"]["format"], "acttrace-chain/1");
    assert_eq!(meta["chain"]["producer"], "acttrace-rs/0.1.0");
    assert_eq!(meta["mapping"]["id"], "nist_rmf");
    assert_eq!(meta["mapping"]["origin"], "builtin");
    let builtin = include_str!("../src/export/mappings/nist_rmf.json");
    assert_eq!(meta["mapping"]["sha256"], sha256_hex(builtin.as_bytes()));
    assert!(meta["mapping"]["version"].as_str().unwrap().len() > 2);
    assert_eq!(meta["verified"]["status"], "verified");
    assert_eq!(meta["verified"]["signatures"], "verified");
    assert!(
        meta["disclaimer"]
            .as_str()
            .unwrap()
            .contains("never a claim of compliance")
    );
    let s = &meta["summary"];
    assert_eq!(
        s,
        &serde_json::json!({"decisions": 2, "llm_calls": 1, "tool_calls": 1,
            "context_assemblies": 1, "human_oversight": 1, "policy_flags": 4,
            "flags_by_action": {"blocked": 2, "redacted": 1, "flagged": 1},
            "flags_by_severity": {"critical": 2, "warning": 1, "info": 1}})
    );
    assert_eq!(meta["oversight"]["decisions_with_sign_off"], 1);
    assert_eq!(meta["oversight"]["decisions_without_sign_off"], 1);
    // controls_covered is sorted and is exactly the union of the entries' controls.
    let covered: Vec<String> = serde_json::from_value(meta["controls_covered"].clone()).unwrap();
    let mut sorted = covered.clone();
    sorted.sort();
    assert_eq!(covered, sorted);
    let mut union: Vec<String> = lines[1..]
        .iter()
        .flat_map(|e| serde_json::from_value::<Vec<String>>(e["controls"].clone()).unwrap())
        .collect();
    union.sort();
    union.dedup();
    assert_eq!(covered, union);
}

fn controls_of(lines: &[serde_json::Value], seq: u64) -> Vec<String> {
    let e = lines[1..].iter().find(|e| e["seq"] == seq).unwrap();
    serde_json::from_value(e["controls"].clone()).unwrap()
}

#[test]
fn control_mappings_follow_the_corrected_texts() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), false);
    let out = dir.path().join("all.jsonl");
    export(&log, &out, "all", false);
    let lines = entries(&out);
    assert_eq!(lines[0]["_meta"]["framework"], "all");
    assert_eq!(lines[0]["_meta"]["mapping"].as_array().unwrap().len(), 4);
    // seq 4 guardrail_decision: a control in every framework.
    let g = controls_of(&lines, 4);
    for fw in BUILTIN_FRAMEWORKS {
        assert!(
            g.iter().any(|c| c.starts_with(&format!("{fw}:"))),
            "{fw}: {g:?}"
        );
    }
    // seq 5 special-category flag -> GDPR Art. 9(1); seq 6 email flag and seq 11 api-key flag
    // do not.
    assert!(controls_of(&lines, 5).contains(&"gdpr:Art. 9(1)".to_owned()));
    for seq in [6, 11, 14] {
        let c = controls_of(&lines, seq);
        assert!(
            !c.iter().any(|c| c.starts_with("gdpr:Art. 9")),
            "seq {seq}: {c:?}"
        );
    }
    // Category additions: secret -> Art. 32, pii -> Art. 25(2), financial -> PCI DSS.
    assert!(controls_of(&lines, 11).contains(&"gdpr:Art. 32(1)(b)".to_owned()));
    assert!(controls_of(&lines, 6).contains(&"gdpr:Art. 25(2)".to_owned()));
    assert!(
        controls_of(&lines, 14)
            .iter()
            .any(|c| c.starts_with("gdpr:PCI DSS"))
    );
    // Runtime policy flags: EU AI Act Art. 9(2)(d), 12(2)(a), 15(5) — never Art. 10.
    let f = controls_of(&lines, 5);
    for c in [
        "eu_ai_act:Art. 9(2)(d)",
        "eu_ai_act:Art. 12(2)(a)",
        "eu_ai_act:Art. 15(5)",
    ] {
        assert!(f.contains(&c.to_owned()), "{c} missing from {f:?}");
    }
    assert!(
        !lines[1..]
            .iter()
            .any(|e| e["controls"].to_string().contains("Art. 10"))
    );
    // Production monitoring: MEASURE 2.4 / MANAGE 4.1, not MEASURE 2.1.
    let llm = controls_of(&lines, 3);
    assert!(llm.contains(&"nist_rmf:MEASURE 2.4".to_owned()));
    assert!(llm.contains(&"nist_rmf:MANAGE 4.1".to_owned()));
    assert!(
        !lines
            .iter()
            .any(|e| e.to_string().contains("MEASURE 2.1\""))
    );
    // Human oversight.
    let h = controls_of(&lines, 7);
    for c in [
        "nist_rmf:MAP 3.5",
        "nist_rmf:GOVERN 3.2",
        "nist_rmf:MANAGE 2.4",
        "eu_ai_act:Art. 14(4)(d)",
        "eu_ai_act:Art. 14(4)(e)",
        "eu_ai_act:Art. 26(2)",
        "gdpr:Art. 22(3)",
        "iso_42001:A.9.2",
        "iso_42001:A.9.3",
        "iso_42001:A.9.4",
        "iso_42001:A.3.2",
    ] {
        assert!(h.contains(&c.to_owned()), "{c} missing from {h:?}");
    }
    // Log retention.
    let open = controls_of(&lines, 0);
    assert!(open.contains(&"eu_ai_act:Art. 19(1)".to_owned()));
    assert!(open.contains(&"eu_ai_act:Art. 26(6)".to_owned()));
}

#[test]
fn reference_logs_export_to_the_reference_summary() {
    // The reference's own packs of its vector chains: same head, count and summary.
    let dir = tempfile::tempdir().unwrap();
    let v = vectors().join("cendor-py-1.14.0");
    for i in 0..6 {
        let log = v.join(format!("chain{i}.jsonl"));
        let ref_pack = entries(&v.join(format!("chain{i}.pack.jsonl")));
        let ref_meta = &ref_pack[0]["_meta"];
        let fw = ref_meta["framework"].as_str().unwrap_or("eu_ai_act");
        let signed = i % 2 == 1;
        let k = format!("key-7-{i}");
        let mut opts = ExportOptions::new(fw, Format::Jsonl);
        if signed {
            opts.key = Some(acttrace::SigningKey::from_bytes(k.as_bytes()).unwrap());
        }
        let out = dir.path().join(format!("chain{i}.ours.jsonl"));
        export_path(&log, &out, &opts).unwrap();
        let ours_lines = entries(&out);
        let meta = &ours_lines[0]["_meta"];
        assert_eq!(meta["head_hash"], ref_meta["head_hash"], "chain{i}");
        assert_eq!(meta["entries"], ref_meta["entries"], "chain{i}");
        assert_eq!(meta["summary"], ref_meta["summary"], "chain{i}");
        let verdict = ours(&out, signed.then_some(k.as_str()));
        assert!(verdict.ok(), "chain{i}: {}", verdict.summary());
        if let Some(py) = reference_python() {
            let (ok, detail) = reference_verify(&py, &out, signed.then_some(k.as_str()), None);
            assert!(ok, "chain{i}: {detail}");
        }
        // Entry lines are byte-identical to the reference pack's, apart from `controls`.
        let strip = |l: &str| l[..l.rfind(", \"controls\": [").unwrap_or(l.len() - 1)].to_owned();
        let ref_text = std::fs::read_to_string(v.join(format!("chain{i}.pack.jsonl"))).unwrap();
        let our_text = std::fs::read_to_string(&out).unwrap();
        for (a, b) in our_text.lines().skip(1).zip(ref_text.lines().skip(1)) {
            assert_eq!(strip(a), strip(b), "chain{i}");
        }
    }
}

#[test]
fn a_typescript_pack_exports_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ExportOptions::new("eu_ai_act", Format::Jsonl);
    opts.key = Some(acttrace::SigningKey::from_bytes(&b"roundtrip-key"[..]).unwrap());
    let out = dir.path().join("js.jsonl");
    export_path(&vectors().join("js_written_chain.jsonl"), &out, &opts).unwrap();
    let v = ours(&out, Some("roundtrip-key"));
    assert!(v.ok(), "{}", v.summary());
    let lines = entries(&out);
    assert_eq!(lines[0]["_meta"]["entries"], 7);
    assert_eq!(lines[0]["_meta"]["system"], "js-refund-bot");
    // Controls are replaced, not duplicated.
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.matches("\"controls\"").count() == 1)
    );
    if let Some(py) = reference_python() {
        let (ok, detail) = reference_verify(&py, &out, Some("roundtrip-key"), None);
        assert!(ok, "{detail}");
    }
}

#[test]
fn exports_are_byte_identical_when_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let log = quickstart_log(dir.path(), true);
    for fmt in [
        Format::Jsonl,
        Format::Oscal,
        Format::Html,
        Format::Csv,
        Format::Dir,
    ] {
        for fw in ["gdpr", "all"] {
            let mut opts = ExportOptions::new(fw, fmt);
            opts.key = Some(key());
            let a = dir.path().join(format!("a-{fw}.{}", fmt.as_str()));
            let b = dir.path().join(format!("b-{fw}.{}", fmt.as_str()));
            export_path(&log, &a, &opts).unwrap();
            export_path(&log, &b, &opts).unwrap();
            if fmt == Format::Dir {
                for name in [
                    "pack.jsonl",
                    "assessment-results.oscal.json",
                    "report.html",
                    "controls.csv",
                    "manifest.json",
                ] {
                    assert_eq!(
                        std::fs::read(a.join(name)).unwrap(),
                        std::fs::read(b.join(name)).unwrap(),
                        "{fw} {name}"
                    );
                }
            } else {
                assert_eq!(
                    std::fs::read(&a).unwrap(),
                    std::fs::read(&b).unwrap(),
                    "{fw} {fmt:?}"
                );
            }
        }
    }
}

#[test]
fn dir_export_has_every_file_and_a_manifest_of_their_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let out = dir.path().join("evidence");
    let mut opts = ExportOptions::new("iso_42001", Format::Dir);
    opts.key = Some(key());
    let report = export_path(&log, &out, &opts).unwrap();
    assert_eq!(report.files.len(), 5);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    for f in files {
        let bytes = std::fs::read(out.join(f["path"].as_str().unwrap())).unwrap();
        assert_eq!(f["sha256"], sha256_hex(&bytes));
        assert_eq!(f["bytes"], bytes.len());
    }
    assert!(ours(&out.join("pack.jsonl"), Some(KEY)).ok());
}

#[test]
fn csv_is_the_control_index_with_rfc4180_quoting() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), false);
    let out = dir.path().join("c.csv");
    export_path(&log, &out, &ExportOptions::new("nist_rmf", Format::Csv)).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        rows[0],
        "framework,control_id,title,strength,entry_count,first_seen,last_seen,evidence_status"
    );
    assert_eq!(*rows.last().unwrap(), "", "ends with CRLF");
    assert!(!text.replace("\r\n", "").contains('\n'));
    // A title with commas is quoted.
    let row = rows
        .iter()
        .find(|r| r.starts_with("nist_rmf,MAP 3.5,"))
        .unwrap();
    assert_eq!(
        *row,
        "nist_rmf,MAP 3.5,\"Processes for human oversight are defined, assessed and documented\",\
         supporting,1,2026-03-01T09:00:07.000000+00:00,2026-03-01T09:00:07.000000+00:00,verified"
    );
}

#[test]
fn unknown_framework_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), false);
    let err = export_path(
        &log,
        &dir.path().join("x"),
        &ExportOptions::new("sox", Format::Jsonl),
    )
    .unwrap_err();
    assert!(matches!(err, ExportError::UnknownFramework(_)));
    let msg = err.to_string();
    assert!(msg.contains("unknown framework \"sox\""), "{msg}");
    assert!(
        msg.contains("eu_ai_act, gdpr, iso_42001, nist_rmf, all"),
        "{msg}"
    );
}

#[test]
fn a_log_that_does_not_verify_is_refused_with_the_verifiers_message() {
    let dir = tempfile::tempdir().unwrap();
    let edited = vectors().join("cendor-py-1.14.0/chain0.edit.jsonl");
    let out = dir.path().join("p.jsonl");
    let err = export_path(&edited, &out, &ExportOptions::new("gdpr", Format::Jsonl)).unwrap_err();
    assert!(matches!(err, ExportError::Unverified { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("tampered entry at seq 3: hash mismatch"),
        "{msg}"
    );
    assert!(msg.contains("--allow-unverified"), "{msg}");
    assert!(!out.exists());
    // A wrong key is a verification failure too.
    let mut opts = ExportOptions::new("gdpr", Format::Jsonl);
    opts.key = Some(acttrace::SigningKey::from_bytes(&b"not-the-key"[..]).unwrap());
    let signed = vectors().join("cendor-py-1.14.0/chain1.jsonl");
    let err = export_path(&signed, &out, &opts).unwrap_err();
    assert!(err.to_string().contains("bad signature at seq 0"), "{err}");
}

#[test]
fn allow_unverified_marks_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let edited = vectors().join("cendor-py-1.14.0/chain0.edit.jsonl");
    let out = dir.path().join("ev");
    let mut opts = ExportOptions::new("eu_ai_act", Format::Dir);
    opts.allow_unverified = true;
    let report = export_path(&edited, &out, &opts).unwrap();
    assert!(!report.verified);
    let meta = &entries(&out.join("pack.jsonl"))[0]["_meta"];
    assert_eq!(meta["verified"]["status"], "unverified");
    assert!(
        meta["verified"]["detail"]
            .as_str()
            .unwrap()
            .contains("tampered entry at seq 3")
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("data-status=\"unverified\""));
    assert!(html.contains("UNVERIFIED"));
    let oscal = std::fs::read_to_string(out.join("assessment-results.oscal.json")).unwrap();
    assert!(oscal.contains("\"not-satisfied\"") && oscal.contains("\"unverified\""));
    let csv = std::fs::read_to_string(out.join("controls.csv")).unwrap();
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",unverified")));
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"verified\": false"));
    // The pack itself still fails verification, as it should.
    assert!(!ours(&out.join("pack.jsonl"), None).ok());
}

#[cfg(unix)]
#[test]
fn an_output_that_is_the_log_itself_is_refused_and_the_log_is_left_intact() {
    // Found by fuzzing the CLI: `export audit.jsonl -o audit.jsonl` replaced the log with its
    // pack.
    let dir = tempfile::tempdir().unwrap();
    let log = synthetic_log(dir.path(), true);
    let before = std::fs::read(&log).unwrap();
    let linked = dir.path().join("linked.jsonl");
    std::fs::hard_link(&log, &linked).unwrap();
    let symlinked = dir.path().join("symlinked.jsonl");
    std::os::unix::fs::symlink(&log, &symlinked).unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir(&evidence).unwrap();
    std::fs::hard_link(&log, evidence.join("pack.jsonl")).unwrap();
    let relative = dir.path().join(".").join(log.file_name().unwrap());
    for (out, format) in [
        (log.clone(), Format::Jsonl),
        (relative, Format::Html),
        (linked, Format::Csv),
        (symlinked, Format::Oscal),
        (evidence.clone(), Format::Dir),
    ] {
        let opts = ExportOptions::new("gdpr", format);
        let err = export_path(&log, &out, &opts).unwrap_err();
        assert!(
            matches!(err, ExportError::Usage(_))
                && err
                    .to_string()
                    .contains("would overwrite the log being exported"),
            "{}: {err}",
            out.display()
        );
        assert_eq!(std::fs::read(&log).unwrap(), before, "{}", out.display());
    }
    // A directory of segments: nothing may be written into it.
    let segments = dir.path().join("segments");
    std::fs::create_dir(&segments).unwrap();
    std::fs::copy(&log, segments.join("seg-000000.jsonl")).unwrap();
    let opts = ExportOptions::new("gdpr", Format::Jsonl);
    let err = export_path(&segments, &segments.join("pack.jsonl"), &opts).unwrap_err();
    assert!(err.to_string().contains("would overwrite"), "{err}");
    assert!(!segments.join("pack.jsonl").exists());
    // Another path is fine.
    export_path(&log, &dir.path().join("pack.jsonl"), &opts).unwrap();
}
