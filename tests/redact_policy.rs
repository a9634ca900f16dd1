//! Policy resolution, presets, builder and TOML parsing.

use acttrace::redact::{
    Action, LocalePack, Policy, categories, category_group, groups, redact_str,
};

#[test]
fn most_specific_rule_wins() {
    let p = Policy::builder()
        .default_action(Action::Allow)
        .group("financial", Action::Flag)
        .category("credit_card", Action::Block)
        .build()
        .unwrap();
    assert_eq!(p.action_for("credit_card"), Action::Block);
    assert_eq!(p.action_for("iban"), Action::Flag);
    assert_eq!(p.action_for("email"), Action::Allow);
    // a category rule can also weaken its group
    let p = Policy::builder()
        .group("secret", Action::Block)
        .category("jwt", Action::Flag)
        .build()
        .unwrap();
    assert_eq!(p.action_for("jwt"), Action::Flag);
    assert_eq!(p.action_for("aws_key"), Action::Block);
}

#[test]
fn presets() {
    let d = Policy::default_preset();
    for c in [
        "api_key",
        "aws_key",
        "private_key",
        "password",
        "email",
        "credit_card",
        "us_ssn",
        "iban",
    ] {
        assert_eq!(d.action_for(c), Action::Redact, "default {c}");
    }
    for c in ["phone", "ipv4", "mac_address", "special_category"] {
        assert_eq!(d.action_for(c), Action::Flag, "default {c}");
    }
    let g = Policy::gdpr();
    assert_eq!(g.action_for("special_category"), Action::Block);
    for c in [
        "email",
        "phone",
        "ipv6",
        "us_ssn",
        "credit_card",
        "jwt",
        "password",
    ] {
        assert_eq!(g.action_for(c), Action::Redact, "gdpr {c}");
    }
    let p = Policy::pci();
    for c in ["credit_card", "iban", "us_routing", "swift_bic"] {
        assert_eq!(p.action_for(c), Action::Block, "pci {c}");
    }
    assert_eq!(p.action_for("api_key"), Action::Redact);
    assert_eq!(p.action_for("email"), Action::Flag);
    let s = Policy::strict();
    assert_eq!(s.action_for("api_key"), Action::Block);
    assert_eq!(s.action_for("password"), Action::Block);
    assert_eq!(s.action_for("special_category"), Action::Block);
    assert_eq!(s.action_for("email"), Action::Redact);
    let r = Policy::redact_all();
    for c in categories() {
        assert_eq!(r.action_for(c), Action::Redact);
    }
    assert_eq!(Policy::preset("gdpr"), Some(Policy::gdpr()));
    assert_eq!(Policy::preset("nope"), None);
    assert_eq!(Policy::default(), Policy::default_preset());
}

#[test]
fn registry_is_consistent() {
    assert!(categories().len() >= 26);
    for c in categories() {
        let g = category_group(c).unwrap();
        assert!(groups().contains(&g), "{c} -> {g}");
    }
    assert_eq!(category_group("nope"), None);
}

#[test]
fn builder_rejects_unknown_names() {
    let e = Policy::builder()
        .category("emial", Action::Redact)
        .build()
        .unwrap_err();
    assert_eq!(e.key, "categories.emial");
    let e = Policy::builder()
        .group("secrets", Action::Redact)
        .build()
        .unwrap_err();
    assert_eq!(e.key, "groups.secrets");
    assert!(e.to_string().contains("groups.secrets"), "{e}");
}

#[test]
fn toml_full() {
    let p = Policy::from_toml_str(
        r#"
        preset = "default"
        default = "allow"
        locale_packs = ["uk_nino", "in_aadhaar"]
        entropy = true
        [groups]
        pii = "redact"
        [categories]
        email = "flag"
        credit_card = "block"
        "#,
    )
    .unwrap();
    assert_eq!(p.default_action(), Action::Allow);
    assert_eq!(p.action_for("phone"), Action::Redact); // group
    assert_eq!(p.action_for("email"), Action::Flag); // category beats group
    assert_eq!(p.action_for("credit_card"), Action::Block);
    assert_eq!(p.action_for("api_key"), Action::Redact); // from the preset
    assert!(p.scan_options().pack_enabled(LocalePack::UkNino));
    assert!(p.scan_options().pack_enabled(LocalePack::InAadhaar));
    assert!(!p.scan_options().pack_enabled(LocalePack::FrNir));
    assert!(p.scan_options().entropy);
    // options take effect in redaction
    let (out, rep) = redact_str("NI AB123456C", &p);
    assert_eq!(out, "NI <redacted:uk_nino>");
    assert_eq!(rep.categories_redacted(), vec!["uk_nino"]);
}

#[test]
fn toml_errors_name_the_key() {
    let cases = [
        (
            "[categories]\nemial = \"redact\"",
            "categories.emial",
            "unknown category",
        ),
        (
            "[groups]\nsecrets = \"redact\"",
            "groups.secrets",
            "unknown group",
        ),
        (
            "[categories]\nemail = \"erase\"",
            "categories.email",
            "unknown action \"erase\"",
        ),
        (
            "[categories]\nemail = 3",
            "categories.email",
            "expected an action",
        ),
        ("default = \"nuke\"", "default", "unknown action"),
        ("preset = \"hipaa\"", "preset", "unknown preset \"hipaa\""),
        (
            "locale_packs = [\"us_drivers_license\"]",
            "locale_packs[0]",
            "unknown locale pack",
        ),
        ("entropy = \"yes\"", "entropy", "expected true or false"),
        ("colour = \"blue\"", "colour", "unknown key"),
        ("groups = 1", "groups", "expected a table"),
    ];
    for (src, key, msg) in cases {
        let e = Policy::from_toml_str(src).unwrap_err();
        assert_eq!(e.key, key, "{src}");
        assert!(e.message.contains(msg), "{src}: {}", e.message);
        assert!(e.to_string().contains(key));
    }
    let e = Policy::from_toml_str("[categories\n").unwrap_err();
    assert!(e.message.contains("TOML syntax"), "{e}");
}

#[test]
fn action_names_round_trip() {
    for a in [Action::Allow, Action::Flag, Action::Redact, Action::Block] {
        assert_eq!(Action::parse(a.as_str()), Some(a));
        assert_eq!(a.to_string(), a.as_str());
    }
    assert!(
        Action::Allow < Action::Flag
            && Action::Flag < Action::Redact
            && Action::Redact < Action::Block
    );
}
