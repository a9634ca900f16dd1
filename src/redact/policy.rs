//! Redaction policies: what to do with each category of finding.
//!
//! A [`Policy`] maps a *category* (e.g. `credit_card`) or a *group* (e.g. `financial`) to an
//! [`Action`]. The most specific rule wins: category rule, then group rule, then the
//! policy default. Policies are built from presets, in code with [`PolicyBuilder`], or
//! from TOML with [`Policy::from_toml_str`].

use std::collections::HashMap;
use std::fmt;

use super::{LocalePack, ScanOptions, category_group, is_category, is_group};

/// What happens to a finding of a category.
///
/// Actions are ordered by strength: `Allow < Flag < Redact < Block`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Leave the value and do not report it.
    Allow,
    /// Leave the value in place, report the category.
    Flag,
    /// Replace the value with `<redacted:CATEGORY>` and report the category.
    Redact,
    /// Replace the value (as [`Action::Redact`]) and mark the report as blocked: the caller
    /// should refuse the operation and record the refusal.
    Block,
}

impl Action {
    /// The lower-case name used in TOML and reports (`allow`, `flag`, `redact`, `block`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Flag => "flag",
            Action::Redact => "redact",
            Action::Block => "block",
        }
    }

    /// Parses a lower-case action name.
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "allow" => Some(Action::Allow),
            "flag" => Some(Action::Flag),
            "redact" => Some(Action::Redact),
            "block" => Some(Action::Block),
            _ => None,
        }
    }

    /// True for [`Action::Redact`] and [`Action::Block`] (the value is removed).
    pub fn removes_value(self) -> bool {
        matches!(self, Action::Redact | Action::Block)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error building a policy; names the offending key and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// Dotted path of the offending key, e.g. `categories.emial` or `groups.secret`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "invalid redaction policy: {}", self.message)
        } else {
            write!(
                f,
                "invalid redaction policy at `{}`: {}",
                self.key, self.message
            )
        }
    }
}

impl std::error::Error for PolicyError {}

fn err(key: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        key: key.into(),
        message: message.into(),
    }
}

/// A redaction policy: category/group -> [`Action`], plus detector options (locale packs,
/// the entropy detector).
///
/// ```
/// use acttrace::redact::{Action, Policy};
/// let p = Policy::builder()
///     .default_action(Action::Flag)
///     .group("financial", Action::Redact)
///     .category("credit_card", Action::Block)
///     .build()
///     .unwrap();
/// assert_eq!(p.action_for("credit_card"), Action::Block); // category beats group
/// assert_eq!(p.action_for("iban"), Action::Redact); // group beats default
/// assert_eq!(p.action_for("email"), Action::Flag); // default
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    default: Action,
    groups: HashMap<&'static str, Action>,
    categories: HashMap<&'static str, Action>,
    options: ScanOptions,
}

impl Default for Policy {
    /// Same as [`Policy::default_preset`].
    fn default() -> Self {
        Policy::default_preset()
    }
}

fn canon_group(name: &str) -> Option<&'static str> {
    super::groups().iter().copied().find(|g| *g == name)
}

fn canon_category(name: &str) -> Option<&'static str> {
    super::categories().iter().copied().find(|c| *c == name)
}

impl Policy {
    fn with_default(default: Action) -> Policy {
        Policy {
            default,
            groups: HashMap::new(),
            categories: HashMap::new(),
            options: ScanOptions::default(),
        }
    }

    fn set_group(mut self, g: &'static str, a: Action) -> Self {
        self.groups.insert(g, a);
        self
    }

    fn set_category(mut self, c: &'static str, a: Action) -> Self {
        self.categories.insert(c, a);
        self
    }

    /// The default preset: secrets, credentials, email **and** financial and government ids
    /// redacted; everything else (phone, IPs, MAC, special category) flagged.
    ///
    /// Financial and government ids are redacted (not merely flagged, as in the reference)
    /// because the audit log is append-only: a card number or SSN written in clear text can
    /// never be removed later.
    pub fn default_preset() -> Policy {
        Policy::with_default(Action::Flag)
            .set_group("secret", Action::Redact)
            .set_group("credential", Action::Redact)
            .set_group("financial", Action::Redact)
            .set_group("gov_id", Action::Redact)
            .set_category("email", Action::Redact)
    }

    /// GDPR: special-category data (Art. 9) blocked; other personal data (pii, gov_id,
    /// financial) redacted; secrets and credentials redacted.
    pub fn gdpr() -> Policy {
        Policy::with_default(Action::Redact)
            .set_group("special_category", Action::Block)
            .set_group("pii", Action::Redact)
            .set_group("gov_id", Action::Redact)
            .set_group("financial", Action::Redact)
            .set_group("secret", Action::Redact)
            .set_group("credential", Action::Redact)
    }

    /// PCI DSS: financial data blocked (and removed); secrets and credentials redacted;
    /// everything else flagged.
    pub fn pci() -> Policy {
        Policy::with_default(Action::Flag)
            .set_group("financial", Action::Block)
            .set_group("secret", Action::Redact)
            .set_group("credential", Action::Redact)
    }

    /// Strict: every category redacted; secrets, credentials and special-category data
    /// blocked (the operation should be refused and the refusal logged).
    pub fn strict() -> Policy {
        Policy::with_default(Action::Redact)
            .set_group("secret", Action::Block)
            .set_group("credential", Action::Block)
            .set_group("special_category", Action::Block)
    }

    /// Every category redacted, nothing blocked.
    pub fn redact_all() -> Policy {
        Policy::with_default(Action::Redact)
    }

    /// What `acttrace redact --all` applies: every category redacted (nothing blocked) and
    /// every locale pack enabled, on top of this policy's detector options (its entropy
    /// switch is kept: the entropy detector stays its own switch).
    ///
    /// ```
    /// use acttrace::redact::{Action, LocalePack, Policy};
    /// let p = Policy::pci().to_builder().entropy(true).build().unwrap().redact_every_category();
    /// assert_eq!(p.action_for("iban"), Action::Redact);
    /// assert!(LocalePack::ALL.iter().all(|&l| p.scan_options().pack_enabled(l)));
    /// assert!(p.scan_options().entropy);
    /// ```
    pub fn redact_every_category(&self) -> Policy {
        let mut p = Policy::redact_all();
        p.options = self.options;
        for pack in LocalePack::ALL {
            p.options.enable_pack(pack);
        }
        p
    }

    /// A preset by name: `default`, `gdpr`, `pci`, `strict`, `redact_all`.
    pub fn preset(name: &str) -> Option<Policy> {
        match name {
            "default" => Some(Policy::default_preset()),
            "gdpr" => Some(Policy::gdpr()),
            "pci" => Some(Policy::pci()),
            "strict" => Some(Policy::strict()),
            "redact_all" => Some(Policy::redact_all()),
            _ => None,
        }
    }

    /// Starts a builder from an empty policy whose default is [`Action::Flag`].
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder {
            policy: Policy::with_default(Action::Flag),
            error: None,
        }
    }

    /// Starts a builder from this policy (e.g. a preset) to override parts of it.
    pub fn to_builder(&self) -> PolicyBuilder {
        PolicyBuilder {
            policy: self.clone(),
            error: None,
        }
    }

    /// The action for a category: category rule, else its group's rule, else the default.
    /// Unknown categories get the default.
    pub fn action_for(&self, category: &str) -> Action {
        if let Some(a) = self.categories.get(category) {
            return *a;
        }
        if let Some(g) = category_group(category)
            && let Some(a) = self.groups.get(g)
        {
            return *a;
        }
        self.default
    }

    /// This policy with every `flag` raised to `redact` (and `allow` left alone): what
    /// [`crate::genai::ContentCapture::Redacted`] applies to prompts and responses, so nothing
    /// the policy detects survives in kept content.
    pub fn flags_as_redactions(&self) -> Policy {
        let raise = |a: Action| if a == Action::Flag { Action::Redact } else { a };
        Policy {
            default: raise(self.default),
            groups: self.groups.iter().map(|(k, a)| (*k, raise(*a))).collect(),
            categories: self
                .categories
                .iter()
                .map(|(k, a)| (*k, raise(*a)))
                .collect(),
            options: self.options,
        }
    }

    /// The default action.
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// Detector options (locale packs, entropy detector) this policy enables.
    pub fn scan_options(&self) -> &ScanOptions {
        &self.options
    }

    /// Parses a policy from TOML.
    ///
    /// ```toml
    /// preset = "gdpr"              # optional base: default | gdpr | pci | strict | redact_all
    /// default = "flag"             # optional: allow | flag | redact | block
    /// locale_packs = ["uk_nino"]   # optional: uk_nino | de_steuer_id | fr_nir | in_aadhaar
    /// entropy = false              # optional: the high-entropy token detector
    ///
    /// [groups]                     # secret | credential | financial | gov_id | pii | special_category
    /// pii = "redact"
    ///
    /// [categories]                 # any category name, e.g. email, credit_card, us_ssn
    /// email = "allow"
    /// ```
    ///
    /// Without `preset`, the base is an empty policy with default `flag`. Any unknown key,
    /// category, group, action, preset or pack is an error naming the key and value.
    ///
    /// ```
    /// use acttrace::redact::{Action, Policy};
    /// let p = Policy::from_toml_str("preset = \"pci\"\n[categories]\nemail = \"redact\"\n").unwrap();
    /// assert_eq!(p.action_for("iban"), Action::Block);
    /// assert_eq!(p.action_for("email"), Action::Redact);
    /// let e = Policy::from_toml_str("[categories]\nemial = \"redact\"\n").unwrap_err();
    /// assert_eq!(e.key, "categories.emial");
    /// ```
    pub fn from_toml_str(s: &str) -> Result<Policy, PolicyError> {
        let table: toml::Table = s
            .parse()
            .map_err(|e: toml::de::Error| err("", format!("TOML syntax: {}", e.message())))?;
        let mut base = match table.get("preset") {
            None => Policy::with_default(Action::Flag),
            Some(toml::Value::String(name)) => Policy::preset(name).ok_or_else(|| {
                err("preset", format!("unknown preset {name:?} (expected default, gdpr, pci, strict or redact_all)"))
            })?,
            Some(other) => return Err(err("preset", format!("expected a string, found {}", other.type_str()))),
        };
        let action = |key: &str, v: &toml::Value| -> Result<Action, PolicyError> {
            match v {
                toml::Value::String(a) => Action::parse(a).ok_or_else(|| {
                    err(
                        key,
                        format!("unknown action {a:?} (expected allow, flag, redact or block)"),
                    )
                }),
                other => Err(err(
                    key,
                    format!("expected an action string, found {}", other.type_str()),
                )),
            }
        };
        for (k, v) in &table {
            match k.as_str() {
                "preset" => {}
                "default" => base.default = action("default", v)?,
                "entropy" => match v {
                    toml::Value::Boolean(b) => base.options.entropy = *b,
                    other => {
                        return Err(err(
                            "entropy",
                            format!("expected true or false, found {}", other.type_str()),
                        ));
                    }
                },
                "locale_packs" => {
                    let toml::Value::Array(items) = v else {
                        return Err(err(
                            "locale_packs",
                            format!("expected an array of pack names, found {}", v.type_str()),
                        ));
                    };
                    for (i, item) in items.iter().enumerate() {
                        let key = format!("locale_packs[{i}]");
                        let toml::Value::String(name) = item else {
                            return Err(err(
                                key,
                                format!("expected a pack name, found {}", item.type_str()),
                            ));
                        };
                        let pack = LocalePack::parse(name).ok_or_else(|| {
                            err(key.clone(), format!("unknown locale pack {name:?} (expected uk_nino, de_steuer_id, fr_nir or in_aadhaar)"))
                        })?;
                        base.options.enable_pack(pack);
                    }
                }
                "groups" | "categories" => {
                    let toml::Value::Table(t) = v else {
                        return Err(err(
                            k.as_str(),
                            format!("expected a table, found {}", v.type_str()),
                        ));
                    };
                    for (name, av) in t {
                        let key = format!("{k}.{name}");
                        let a = action(&key, av)?;
                        if k == "groups" {
                            let g = canon_group(name).ok_or_else(|| {
                                err(
                                    key.clone(),
                                    format!(
                                        "unknown group {name:?} (expected one of: {})",
                                        super::groups().join(", ")
                                    ),
                                )
                            })?;
                            base.groups.insert(g, a);
                        } else {
                            let c = canon_category(name).ok_or_else(|| {
                                err(
                                    key.clone(),
                                    format!(
                                        "unknown category {name:?} (expected one of: {})",
                                        super::categories().join(", ")
                                    ),
                                )
                            })?;
                            base.categories.insert(c, a);
                        }
                    }
                }
                other => {
                    return Err(err(
                        other,
                        "unknown key (expected preset, default, locale_packs, entropy, [groups] or [categories])",
                    ));
                }
            }
        }
        Ok(base)
    }
}

/// Builds a [`Policy`] in code; unknown names are reported by [`PolicyBuilder::build`].
#[derive(Clone, Debug)]
pub struct PolicyBuilder {
    policy: Policy,
    error: Option<PolicyError>,
}

impl PolicyBuilder {
    /// Sets the action for categories with no category or group rule.
    pub fn default_action(mut self, a: Action) -> Self {
        self.policy.default = a;
        self
    }

    /// Sets the action for a group (`secret`, `credential`, `financial`, `gov_id`, `pii`,
    /// `special_category`).
    pub fn group(mut self, name: &str, a: Action) -> Self {
        match canon_group(name) {
            Some(g) if is_group(g) => {
                self.policy.groups.insert(g, a);
            }
            _ => {
                self.error.get_or_insert_with(|| {
                    err(format!("groups.{name}"), format!("unknown group {name:?}"))
                });
            }
        }
        self
    }

    /// Sets the action for one category (e.g. `email`, `credit_card`).
    pub fn category(mut self, name: &str, a: Action) -> Self {
        match canon_category(name) {
            Some(c) if is_category(c) => {
                self.policy.categories.insert(c, a);
            }
            _ => {
                self.error.get_or_insert_with(|| {
                    err(
                        format!("categories.{name}"),
                        format!("unknown category {name:?}"),
                    )
                });
            }
        }
        self
    }

    /// Enables an opt-in locale pack.
    pub fn locale_pack(mut self, pack: LocalePack) -> Self {
        self.policy.options.enable_pack(pack);
        self
    }

    /// Enables or disables the opt-in high-entropy token detector.
    pub fn entropy(mut self, on: bool) -> Self {
        self.policy.options.entropy = on;
        self
    }

    /// Finishes the policy, or returns the first unknown group/category.
    pub fn build(self) -> Result<Policy, PolicyError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.policy),
        }
    }
}
