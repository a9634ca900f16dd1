//! Mapping files: the built-ins are valid and versioned; user files add or override a
//! framework; malformed files are refused naming the file and the key.

mod common;

use acttrace::export::{
    BUILTIN_FRAMEWORKS, ExportError, ExportOptions, Format, Mapping, MappingOrigin, MappingSet,
    export_path,
};
use common::*;

#[test]
fn builtin_mappings_are_valid_versioned_and_cover_guardrails() {
    let set = MappingSet::builtin();
    assert_eq!(set.ids(), BUILTIN_FRAMEWORKS.to_vec());
    for id in BUILTIN_FRAMEWORKS {
        let m = set.get(id).unwrap();
        assert_eq!(m.id, id);
        assert!(!m.version.is_empty());
        assert_eq!(m.sha256.len(), 64);
        assert_eq!(m.origin, MappingOrigin::Builtin);
        assert!(
            !m.entry_types["guardrail_decision"].is_empty(),
            "{id}: guardrail_decision must map to a control"
        );
        // The generic policy_flag mapping never claims special-category processing (GDPR
        // Art. 9; the EU AI Act's Art. 9 is risk management).
        assert!(
            id != "gdpr"
                || !m.entry_types["policy_flag"]
                    .iter()
                    .any(|c| c.control_id.starts_with("Art. 9(")),
            "{id}"
        );
    }
    let gdpr = set.get("gdpr").unwrap();
    assert_eq!(
        gdpr.categories["special_category"][0].control_id,
        "Art. 9(1)"
    );
}

#[test]
fn mapping_files_are_validated_with_the_file_and_key_named() {
    let dir = tempfile::tempdir().unwrap();
    // Found by fuzzing the CLI: 8,000 controls on one type took an export to 1.26 GB.
    let many: Vec<String> = (0..257)
        .map(|i| {
            format!(
                r#"{{"control_id": "C{i}", "title": "t", "rationale": "r", "strength": "direct"}}"#
            )
        })
        .collect();
    let too_many = format!(
        r#"{{"schema": "acttrace-mapping/1", "id": "x", "version": "1", "title": "t", "entry_types": {{"decision": [{}]}}}}"#,
        many.join(", ")
    );
    let cases: [(&str, &str, &str); 9] = [
        (
            &too_many,
            "entry_types.decision",
            "257 controls; at most 256",
        ),
        ("{not json", "", "not valid JSON"),
        (
            r#"{"schema": "acttrace-mapping/1", "id": "x", "version": "1", "title": "t", "entry_types": {}, "colour": 1}"#,
            "colour",
            "unknown key",
        ),
        (
            r#"{"schema": "acttrace-mapping/2", "id": "x", "version": "1", "title": "t", "entry_types": {}}"#,
            "schema",
            "must be \"acttrace-mapping/1\"",
        ),
        (
            r#"{"schema": "acttrace-mapping/1", "id": "X Y", "version": "1", "title": "t", "entry_types": {}}"#,
            "id",
            "lowercase",
        ),
        (
            r#"{"schema": "acttrace-mapping/1", "id": "x", "title": "t", "entry_types": {}}"#,
            "version",
            "missing",
        ),
        (
            r#"{"schema": "acttrace-mapping/1", "id": "x", "version": "1", "title": "t", "entry_types": {"llm_call": {}}}"#,
            "entry_types.llm_call",
            "array",
        ),
        (
            r#"{"schema": "acttrace-mapping/1", "id": "x", "version": "1", "title": "t", "entry_types": {"llm_call": [{"control_id": "C1", "title": "t", "rationale": "r", "strength": "strong"}]}}"#,
            "entry_types.llm_call[0].strength",
            "\"direct\" or \"supporting\"",
        ),
        (
            r#"{"schema": "acttrace-mapping/1", "id": "x", "version": "1", "title": "t", "entry_types": {}, "categories": {"pii": [{"control_id": "C1", "title": "t", "strength": "direct"}]}}"#,
            "categories.pii[0].rationale",
            "missing",
        ),
    ];
    for (i, (text, key, msg)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.json"));
        std::fs::write(&path, text).unwrap();
        let err = Mapping::from_file(&path).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("mapping file {}", path.display())),
            "{shown}"
        );
        assert_eq!(err.key, *key, "{shown}");
        assert!(shown.contains(msg), "case {i}: {shown}");
        if !key.is_empty() {
            assert!(shown.contains(&format!("key `{key}`")), "{shown}");
        }
        // Through export: a usage error that carries the same message.
        let log = synthetic_log(dir.path(), false);
        let mut opts = ExportOptions::new("gdpr", Format::Jsonl);
        opts.mapping_files = vec![path.clone()];
        let e = export_path(&log, &dir.path().join("o.jsonl"), &opts).unwrap_err();
        assert!(matches!(e, ExportError::Mapping(_)));
        assert_eq!(e.to_string(), shown);
    }
    let missing = Mapping::from_file(&dir.path().join("nope.json")).unwrap_err();
    assert!(missing.to_string().contains("cannot read"), "{missing}");
}

const CUSTOM: &str = r#"{
  "schema": "acttrace-mapping/1",
  "id": "acme_policy",
  "version": "7.2",
  "title": "ACME internal AI policy",
  "entry_types": {
    "human_oversight": [{"control_id": "ACME-HO-1", "title": "Human sign-off", "rationale": "A person signed off.", "strength": "direct"}],
    "guardrail_decision": [{"control_id": "ACME-GR-1", "title": "Guardrails run", "rationale": "A guardrail ran.", "strength": "supporting"}]
  },
  "categories": {"hr_record": [{"control_id": "ACME-HR-9", "title": "HR data", "rationale": "HR data flagged.", "strength": "direct"}]},
  "category_groups": {"email": "hr_record"}
}"#;

#[test]
fn a_user_mapping_adds_a_framework_and_is_recorded_with_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("acme.json");
    std::fs::write(&file, CUSTOM).unwrap();
    let log = synthetic_log(dir.path(), true);
    let out = dir.path().join("acme.jsonl");
    let mut opts = ExportOptions::new("acme_policy", Format::Jsonl);
    opts.mapping_files = vec![file.clone()];
    opts.key = Some(key());
    export_path(&log, &out, &opts).unwrap();
    let lines = entries(&out);
    let meta = &lines[0]["_meta"];
    assert_eq!(meta["framework"], "acme_policy");
    assert_eq!(meta["mapping"]["version"], "7.2");
    assert_eq!(meta["mapping"]["origin"], "file:acme.json");
    assert_eq!(meta["mapping"]["sha256"], sha256_hex(CUSTOM.as_bytes()));
    assert_eq!(
        meta["controls_covered"],
        serde_json::json!(["ACME-GR-1", "ACME-HO-1", "ACME-HR-9"])
    );
    // The email flag (seq 6) reaches ACME-HR-9 through the file's category_groups.
    assert_eq!(lines[7]["seq"], 6);
    assert_eq!(lines[7]["controls"], serde_json::json!(["ACME-HR-9"]));
    // `all` now includes it.
    let mut all = opts.clone();
    all.framework = "all".into();
    export_path(&log, &dir.path().join("all.jsonl"), &all).unwrap();
    let meta = &entries(&dir.path().join("all.jsonl"))[0]["_meta"];
    assert_eq!(meta["mapping"].as_array().unwrap().len(), 5);
}

#[test]
fn a_user_mapping_overrides_a_builtin() {
    let dir = tempfile::tempdir().unwrap();
    let text = CUSTOM.replace("\"acme_policy\"", "\"gdpr\"");
    let file = dir.path().join("my-gdpr.json");
    std::fs::write(&file, &text).unwrap();
    let log = synthetic_log(dir.path(), false);
    let out = dir.path().join("g.jsonl");
    let mut opts = ExportOptions::new("gdpr", Format::Jsonl);
    opts.mapping_files = vec![file];
    export_path(&log, &out, &opts).unwrap();
    let meta = &entries(&out)[0]["_meta"];
    assert_eq!(meta["mapping"]["origin"], "file:my-gdpr.json");
    assert!(!meta["controls_covered"].to_string().contains("Art. 22"));
}
