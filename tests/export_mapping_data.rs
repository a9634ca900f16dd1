//! The built-in mappings' data, version 2026.4 (issue #17 parts A and A6): every entry type the crate
//! writes maps in every framework; every detector category maps through the engine's group;
//! controls that ask an organisation to define or document a process are never `direct`; a
//! `gap` is adverse evidence; citations are as narrow as the texts they cite.

use acttrace::export::{Mapping, MappingSet, Strength};
use acttrace::json::Value;

/// Every entry type acttrace itself writes, and where it comes from (paths as of 2026.3).
/// Types an application names with `audit.kind` are its own and map only through a mapping
/// file.
const WRITTEN_TYPES: [&str; 27] = [
    // capture.rs, AuditLayer build: a new chain.
    "audit_open",
    // capture.rs, AuditLayer build: an existing chain continued.
    "audit_resume",
    // capture.rs (AuditLayer build) and writer/jsonl.rs (repair): a torn last line was cut off.
    "recovery",
    // sequencer.rs, rotate(): the first entry of every segment after the first.
    "segment_open",
    // sequencer.rs, rotate(): sealed segments deleted by the retention policy.
    "retention",
    // sequencer.rs, seal_lost_gap() and seal_dropped_gap(): entries lost, or dropped when full.
    "gap",
    // sequencer.rs: a decision span opens, records fields, closes.
    "decision",
    "decision_record",
    "decision_end",
    // policy_flag!, AuditGuard::flag, automatic redaction flags (sequencer.rs), GenAI
    // guardrail interventions (genai).
    "policy_flag",
    // capture.rs known_kind(): the macros and event names, and genai kind_of_operation().
    "llm_call",
    "tool_call",
    "human_oversight",
    "cost",
    "context_assembly",
    "guardrail_decision",
    "budget_event",
    "compression",
    // genai mapping.rs kind_of_operation(): invoke_agent, handle_conversation_turn and plan
    // spans; create_agent; invoke_workflow; the memory operations; evaluations; model
    // operations without usage (fetch_response, rerank, transcription, ...); any other named
    // operation without a model call (issue #17 B).
    "agent_invocation",
    "agent_creation",
    "workflow_invocation",
    "memory_operation",
    "evaluation",
    "model_call",
    "genai_operation",
    // capture.rs event_kind(): an `audit.kind` that is not a valid entry type.
    "audit_event",
    // sequencer/mod.rs seal_invisible_callsites(): a decision or audit-event callsite that a
    // global filter hides from the log (issue #17 B).
    "invisible_callsite",
];

fn builtins() -> Vec<Mapping> {
    let set = MappingSet::builtin();
    let ids: Vec<String> = set.ids().iter().map(|s| s.to_string()).collect();
    assert_eq!(ids, ["eu_ai_act", "gdpr", "iso_42001", "nist_rmf"]);
    ids.iter().map(|id| set.get(id).unwrap().clone()).collect()
}

fn builtin(id: &str) -> Mapping {
    MappingSet::builtin().get(id).unwrap().clone()
}

/// The strength with which `key` (an entry type, or `category:<name>`) points at `control`.
fn strength(m: &Mapping, key: &str, control: &str) -> Option<Strength> {
    let list = match key.strip_prefix("category:") {
        Some(cat) => m.categories.get(cat),
        None => m.entry_types.get(key),
    }?;
    list.iter()
        .find(|c| c.control_id == control)
        .map(|c| c.strength)
}

fn flag(categories: &[&str]) -> Value {
    Value::from(&serde_json::json!({"action": "redacted", "data": categories}))
}

/// The control ids a `policy_flag` naming `categories` points at.
fn flag_controls(m: &Mapping, categories: &[&str]) -> Vec<String> {
    m.controls_for("policy_flag", &flag(categories))
        .iter()
        .map(|c| c.control_id.clone())
        .collect()
}

#[test]
fn every_written_entry_type_maps_in_every_builtin_framework() {
    for m in builtins() {
        for kind in WRITTEN_TYPES {
            assert!(
                m.entry_types.get(kind).is_some_and(|c| !c.is_empty()),
                "{}: entry type `{kind}` maps to no control",
                m.id
            );
            assert!(
                !m.controls_for(kind, &Value::Null).is_empty(),
                "{}: {kind}",
                m.id
            );
        }
    }
}

#[test]
fn every_engine_category_maps_through_the_engines_group() {
    let categories = acttrace::redact::categories();
    // The six the reference redactor does not have, which 2026.2 left without group controls.
    for cat in [
        "stripe_key",
        "uk_nino",
        "de_steuer_id",
        "fr_nir",
        "in_aadhaar",
        "high_entropy_token",
    ] {
        assert!(categories.contains(&cat), "{cat}");
    }
    for m in builtins() {
        for cat in categories {
            let group = acttrace::redact::category_group(cat).unwrap();
            assert_eq!(m.group_of(cat), Some(group), "{}: {cat}", m.id);
            let got = flag_controls(&m, &[cat]);
            let expected = m
                .categories
                .get(group)
                .into_iter()
                .chain(m.categories.get(*cat))
                .flatten();
            for c in expected {
                assert!(
                    got.contains(&c.control_id),
                    "{}: a {cat} flag misses {} (group {group}): {got:?}",
                    m.id,
                    c.control_id
                );
            }
        }
    }
    let nist = builtin("nist_rmf");
    for (cat, control) in [
        ("stripe_key", "MEASURE 2.7"),
        ("high_entropy_token", "MEASURE 2.7"),
        ("uk_nino", "MEASURE 2.10"),
        ("de_steuer_id", "MEASURE 2.10"),
        ("fr_nir", "MEASURE 2.10"),
        ("in_aadhaar", "MEASURE 2.10"),
    ] {
        assert!(
            flag_controls(&nist, &[cat]).contains(&control.to_owned()),
            "{cat}"
        );
    }
    let gdpr = builtin("gdpr");
    assert!(flag_controls(&gdpr, &["stripe_key"]).contains(&"Art. 32(1)(b)".to_owned()));
    // A mapping file's category_groups still comes first.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.json");
    std::fs::write(
        &file,
        r#"{"schema": "acttrace-mapping/1", "id": "x", "version": "1", "title": "t",
            "entry_types": {}, "category_groups": {"uk_nino": "hr"},
            "categories": {"hr": [{"control_id": "HR-1", "title": "t", "rationale": "r", "strength": "supporting"}]}}"#,
    )
    .unwrap();
    let m = Mapping::from_file(&file).unwrap();
    assert_eq!(m.group_of("uk_nino"), Some("hr"));
    assert_eq!(m.group_of("fr_nir"), Some("gov_id"));
    assert_eq!(flag_controls(&m, &["uk_nino"]), ["HR-1"]);
}

#[test]
fn controls_that_ask_for_a_defined_or_documented_process_are_never_direct() {
    // Each asks an organisation to define, document, assess or plan; an entry shows the
    // process running at most (issue #17 A.1). GDPR Art. 9(1) is a prohibition.
    const PROCESS: [(&str, &str); 7] = [
        ("iso_42001", "A.9.2"),
        ("iso_42001", "A.6.2.6"),
        ("nist_rmf", "MAP 3.5"),
        ("nist_rmf", "MANAGE 2.4"),
        ("nist_rmf", "MEASURE 2.10"),
        ("nist_rmf", "MANAGE 4.1"),
        ("gdpr", "Art. 9(1)"),
    ];
    for m in builtins() {
        for (key, list) in m.entry_types.iter().chain(&m.categories) {
            for c in list {
                if PROCESS.contains(&(m.id.as_str(), c.control_id.as_str())) {
                    assert_ne!(
                        c.strength,
                        Strength::Direct,
                        "{} {key}: {}",
                        m.id,
                        c.control_id
                    );
                }
            }
        }
    }
    let iso = builtin("iso_42001");
    for (kind, control, s) in [
        ("human_oversight", "A.9.2", Strength::Supporting),
        ("human_oversight", "A.6.2.8", Strength::Direct),
        ("llm_call", "A.6.2.6", Strength::Supporting),
        ("llm_call", "A.6.2.8", Strength::Direct),
        ("guardrail_decision", "A.6.2.6", Strength::Supporting),
        ("guardrail_decision", "A.6.2.8", Strength::Direct),
    ] {
        assert_eq!(strength(&iso, kind, control), Some(s), "{kind} {control}");
    }
    let nist = builtin("nist_rmf");
    assert_eq!(
        strength(&nist, "human_oversight", "MAP 3.5"),
        Some(Strength::Supporting)
    );
    assert_eq!(
        strength(&nist, "human_oversight", "MANAGE 2.4"),
        Some(Strength::Supporting)
    );
    assert_eq!(
        strength(&nist, "category:special_category", "MEASURE 2.10"),
        Some(Strength::Supporting)
    );
    let gdpr = builtin("gdpr");
    let art9 = &gdpr.categories["special_category"][0];
    assert_eq!(art9.control_id, "Art. 9(1)");
    assert_eq!(art9.strength, Strength::Supporting);
    assert!(art9.title.contains("Art. 9(2)") && art9.rationale.contains("Art. 9(2)"));
}

/// Issue #17 A6/B: besides a `gap`, only a hidden callsite and a `retention` entry that deleted
/// logs younger than the minimum (a `when` condition) are adverse.
#[test]
fn a_gap_is_adverse_evidence_and_nothing_else_is() {
    for (fw, control) in [
        ("eu_ai_act", "Art. 12(1)"),
        ("eu_ai_act", "Art. 19(1)"),
        ("eu_ai_act", "Art. 26(6)"),
        ("iso_42001", "A.6.2.8"),
        ("gdpr", "Art. 5(1)(f)"),
        ("nist_rmf", "MEASURE 2.4"),
    ] {
        assert_eq!(
            strength(&builtin(fw), "gap", control),
            Some(Strength::Adverse),
            "{fw} {control}"
        );
    }
    for m in builtins() {
        for (key, list) in m.entry_types.iter().chain(&m.categories) {
            for c in list.iter().filter(|c| c.strength == Strength::Adverse) {
                let early = key == "retention"
                    && c.when.as_ref().is_some_and(|w| {
                        w.member == "early_deletion" && w.equals == Value::Bool(true)
                    });
                assert!(
                    key == "gap" || key == "invisible_callsite" || early,
                    "{}: {key} {} is adverse",
                    m.id,
                    c.control_id
                );
            }
        }
        // A gap still points at something that is not a failure (incident records) except in
        // the EU AI Act, where all three of its controls are failures.
        let support = m.entry_types["gap"]
            .iter()
            .filter(|c| c.strength != Strength::Adverse)
            .count();
        assert_eq!(support == 0, m.id == "eu_ai_act", "{}", m.id);
    }
    assert_eq!(Strength::Adverse.as_str(), "adverse");
    assert!(Strength::Adverse.is_adverse() && !Strength::Direct.is_adverse());
}

#[test]
fn nist_manage_4_1_is_where_the_docs_say() {
    let nist = builtin("nist_rmf");
    for kind in [
        "decision",
        "llm_call",
        "tool_call",
        "human_oversight",
        "gap",
        "recovery",
    ] {
        assert_eq!(
            strength(&nist, kind, "MANAGE 4.1"),
            Some(Strength::Supporting),
            "{kind}"
        );
        assert_eq!(
            strength(&nist, kind, "MEASURE 2.4").is_some(),
            !["human_oversight", "recovery"].contains(&kind),
            "{kind}"
        );
    }
}

#[test]
fn citations_are_as_narrow_as_the_texts() {
    let gdpr = builtin("gdpr");
    // Art. 87 (Member State law on national identifiers): the EU locale packs only.
    // PCI DSS Req. 3.5.1 (PAN): card numbers only.
    for cat in acttrace::redact::categories() {
        let got = flag_controls(&gdpr, &[cat]);
        assert_eq!(
            got.contains(&"Art. 87".to_owned()),
            ["de_steuer_id", "fr_nir"].contains(cat),
            "{cat}: {got:?}"
        );
        assert_eq!(
            got.iter().any(|c| c.starts_with("PCI DSS")),
            *cat == "credit_card",
            "{cat}: {got:?}"
        );
    }
    assert_eq!(
        strength(&gdpr, "llm_call", "Art. 30(1)"),
        None,
        "a register of processing, not an event log"
    );
    assert_eq!(strength(&gdpr, "context_assembly", "Art. 5(1)(c)"), None);
    assert_eq!(
        strength(&gdpr, "gap", "Art. 33(5)"),
        Some(Strength::Supporting)
    );
    assert_eq!(
        strength(&gdpr, "recovery", "Art. 32(1)(c)"),
        Some(Strength::Supporting)
    );
    assert_eq!(
        strength(&gdpr, "retention", "Art. 5(1)(e)"),
        Some(Strength::Supporting)
    );
    let eu = builtin("eu_ai_act");
    let flag: Vec<&str> = eu.entry_types["policy_flag"]
        .iter()
        .map(|c| c.control_id.as_str())
        .collect();
    assert!(flag.contains(&"Art. 9(2)(d)") && flag.contains(&"Art. 15(5)"));
    assert!(!flag.contains(&"Art. 9") && !flag.contains(&"Art. 15"));
    assert_eq!(
        strength(&eu, "decision_record", "Art. 86(1)"),
        Some(Strength::Supporting)
    );
    for control in ["Art. 19(1)", "Art. 26(6)"] {
        // Issue #17 A6: supporting, unless the entry deleted logs younger than the minimum.
        let ids = |payload: serde_json::Value| -> Vec<(String, Strength)> {
            eu.controls_for("retention", &Value::from(&payload))
                .iter()
                .filter(|c| c.control_id == control)
                .map(|c| (c.control_id.clone(), c.strength))
                .collect()
        };
        let deleted = serde_json::json!([{"segment": "a-000001.jsonl", "age_days": 3}]);
        assert_eq!(
            ids(serde_json::json!({"deleted": deleted, "minimum_days": 183})),
            [(control.to_owned(), Strength::Supporting)]
        );
        assert_eq!(
            ids(serde_json::json!({"deleted": deleted, "minimum_days": 183,
                "early_deletion": true, "override": "court order"})),
            [(control.to_owned(), Strength::Adverse)]
        );
    }
    assert_eq!(
        strength(&eu, "segment_open", "Art. 12(1)"),
        strength(&eu, "audit_resume", "Art. 12(1)")
    );
    let iso = builtin("iso_42001");
    assert_eq!(
        strength(&iso, "recovery", "A.8.4"),
        Some(Strength::Supporting)
    );
    assert!(strength(&iso, "retention", "A.6.2.8").is_some());
}

#[test]
fn builtins_are_version_2026_4_with_one_title_per_control() {
    for m in builtins() {
        assert_eq!(m.version, "2026.4", "{}", m.id);
        let mut titles: std::collections::BTreeMap<&str, &str> = Default::default();
        for c in m
            .entry_types
            .values()
            .chain(m.categories.values())
            .flatten()
        {
            let t = titles.entry(&c.control_id).or_insert(&c.title);
            assert_eq!(*t, c.title, "{}: {} has two titles", m.id, c.control_id);
            assert!(!c.rationale.trim().is_empty());
        }
    }
}

#[test]
fn a_mapping_file_may_grade_evidence_adverse() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.json");
    std::fs::write(
        &file,
        r#"{"schema": "acttrace-mapping/1", "id": "acme", "version": "1", "title": "t",
            "entry_types": {"gap": [{"control_id": "LOG-1", "title": "t", "rationale": "r", "strength": "adverse"}]}}"#,
    )
    .unwrap();
    let m = Mapping::from_file(&file).unwrap();
    assert_eq!(m.entry_types["gap"][0].strength, Strength::Adverse);
    std::fs::write(
        &file,
        r#"{"schema": "acttrace-mapping/1", "id": "acme", "version": "1", "title": "t",
            "entry_types": {"gap": [{"control_id": "LOG-1", "title": "t", "rationale": "r", "strength": "negative"}]}}"#,
    )
    .unwrap();
    let e = Mapping::from_file(&file).unwrap_err();
    assert_eq!(e.key, "entry_types.gap[0].strength");
    assert!(e.message.contains("\"adverse\""), "{e}");
}

/// Issue #17 A6: a control's `when` condition; files without it read as before; a bad one is
/// refused with its key.
#[test]
fn a_mapping_file_may_condition_a_control_on_the_payload() {
    let text = r#"{"schema": "acttrace-mapping/1", "id": "x", "version": "1", "title": "t",
        "entry_types": {"retention": [
            {"control_id": "KEEP-1", "title": "t", "rationale": "r", "strength": "adverse",
             "when": {"early_deletion": true}},
            {"control_id": "KEEP-1", "title": "t", "rationale": "r", "strength": "supporting"},
            {"control_id": "KEEP-2", "title": "t", "rationale": "r", "strength": "direct",
             "when": {"reason": "audit"}}]}}"#;
    let m = Mapping::parse(text, "x.json", acttrace::export::MappingOrigin::Builtin).unwrap();
    let got = |payload: serde_json::Value| -> Vec<(String, Strength)> {
        m.controls_for("retention", &Value::from(&payload))
            .iter()
            .map(|c| (c.control_id.clone(), c.strength))
            .collect()
    };
    let s = |id: &str, st| (id.to_owned(), st);
    assert_eq!(
        got(serde_json::json!({"deleted": []})),
        [s("KEEP-1", Strength::Supporting)]
    );
    assert_eq!(
        got(serde_json::json!({"early_deletion": false})),
        [s("KEEP-1", Strength::Supporting)]
    );
    assert_eq!(
        got(serde_json::json!({"early_deletion": true, "reason": "audit"})),
        [
            s("KEEP-1", Strength::Adverse),
            s("KEEP-2", Strength::Direct)
        ]
    );
    for (bad, key) in [
        (r#""when": {}"#, "entry_types.retention[0].when"),
        (
            r#""when": {"a": 1, "b": 2}"#,
            "entry_types.retention[0].when",
        ),
        (r#""when": {"a": [1]}"#, "entry_types.retention[0].when.a"),
        (r#""when": true"#, "entry_types.retention[0].when"),
    ] {
        let text = format!(
            r#"{{"schema": "acttrace-mapping/1", "id": "x", "version": "1", "title": "t",
            "entry_types": {{"retention": [{{"control_id": "C", "title": "t", "rationale": "r",
            "strength": "adverse", {bad}}}]}}}}"#
        );
        let e =
            Mapping::parse(&text, "x.json", acttrace::export::MappingOrigin::Builtin).unwrap_err();
        assert_eq!(e.key, key, "{bad}: {e}");
    }
    let in_categories = r#"{"schema": "acttrace-mapping/1", "id": "x", "version": "1", "title": "t",
        "entry_types": {}, "categories": {"pii": [{"control_id": "C", "title": "t",
        "rationale": "r", "strength": "direct", "when": {"a": 1}}]}}"#;
    let e = Mapping::parse(
        in_categories,
        "x.json",
        acttrace::export::MappingOrigin::Builtin,
    )
    .unwrap_err();
    assert_eq!(e.key, "categories.pii[0].when");
}
