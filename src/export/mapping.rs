//! Control mappings: which framework controls an entry is evidence for.
//!
//! A mapping is a JSON document (schema `acttrace-mapping/1`, see `docs/EXPORT.md`):
//!
//! ```json
//! {"schema": "acttrace-mapping/1", "id": "eu_ai_act", "version": "2026.3", "title": "...",
//!  "source": "...", "disclaimer": "...",
//!  "entry_types": {"human_oversight": [{"control_id": "Art. 14(4)(d)", "title": "...",
//!                                       "rationale": "...", "strength": "direct"}]},
//!  "categories": {"special_category": [...]},
//!  "category_groups": {"my_detector": "pii"}}
//! ```
//!
//! `entry_types` maps an entry type to the controls every entry of that type points at (a
//! control with `"when": {"member": value}` only when the entry's payload has that member with
//! that value, and then in place of an unconditional control with the same id);
//! `categories` adds controls to a `policy_flag` whose `data` names a category (or a category of
//! that group). A control's `strength` says whether the entry supports it (`direct`,
//! `supporting`) or records a failure of it (`adverse`, never counted as support). Mappings are
//! evidence pointers, never a claim of compliance.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::hex::to_hex;
use crate::json::Value;
use crate::redact::category_group;

/// The schema name every mapping file must declare.
pub const MAPPING_SCHEMA: &str = "acttrace-mapping/1";

/// The frameworks with a built-in mapping, in the order `all` exports them.
pub const BUILTIN_FRAMEWORKS: [&str; 4] = ["eu_ai_act", "gdpr", "iso_42001", "nist_rmf"];

const BUILTIN_FILES: [(&str, &str); 4] = [
    ("eu_ai_act", include_str!("mappings/eu_ai_act.json")),
    ("gdpr", include_str!("mappings/gdpr.json")),
    ("iso_42001", include_str!("mappings/iso_42001.json")),
    ("nist_rmf", include_str!("mappings/nist_rmf.json")),
];

/// How an entry bears on a control: as evidence for it (`Direct`, `Supporting`) or as a record
/// of its failure (`Adverse`).
///
/// The order is from strongest support to none: a roll-up over supporting evidence takes the
/// minimum. Adverse evidence is never counted as support: the export keeps it apart (its own
/// `adverse_controls`, CSV row, OSCAL finding and red HTML row).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strength {
    /// The entry is a direct record of the activity the control asks for.
    Direct,
    /// The entry supports, but does not by itself evidence, the control.
    Supporting,
    /// The entry records a failure of what the control asks (a `gap`: entries were lost, against
    /// a control that asks for events to be recorded).
    Adverse,
}

impl Strength {
    /// `direct`, `supporting` or `adverse`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Direct => "direct",
            Strength::Supporting => "supporting",
            Strength::Adverse => "adverse",
        }
    }

    /// Whether the entry records a failure of the control rather than evidence for it.
    pub fn is_adverse(self) -> bool {
        self == Strength::Adverse
    }
}

/// One control an entry points at.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlRef {
    /// The control's identifier in its framework, for example `Art. 14(4)(d)`.
    pub control_id: String,
    /// The control's short title.
    pub title: String,
    /// Why this kind of entry is evidence for the control.
    pub rationale: String,
    /// How strong that evidence is.
    pub strength: Strength,
    /// When set, the control applies only to entries whose payload has this member with this
    /// value (and then replaces an unconditional control of the same id for that entry).
    pub when: Option<Condition>,
}

/// A control's condition on the entry's payload: `"when": {"early_deletion": true}` in a
/// mapping file.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// A top-level payload member.
    pub member: String,
    /// The value it must have (a string, number or boolean).
    pub equals: Value,
}

impl Condition {
    /// Whether `payload` meets the condition.
    pub fn holds(&self, payload: &Value) -> bool {
        payload.get(&self.member) == Some(&self.equals)
    }
}

/// Where a mapping came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappingOrigin {
    /// Built into the crate.
    Builtin,
    /// Loaded from a user file (its file name, without directories).
    File(String),
}

/// A validated control mapping for one framework.
#[derive(Clone, Debug)]
pub struct Mapping {
    /// The framework id (`eu_ai_act`, ...): what `--framework` selects.
    pub id: String,
    /// The mapping's version, recorded in every pack.
    pub version: String,
    /// The framework's human-readable title.
    pub title: String,
    /// The legal or standard text the mapping was made against.
    pub source: String,
    /// SHA-256 (lowercase hex) of the mapping file's bytes, recorded in every pack.
    pub sha256: String,
    /// Built in or from a file.
    pub origin: MappingOrigin,
    /// Entry type → controls.
    pub entry_types: BTreeMap<String, Vec<ControlRef>>,
    /// Category or group → controls added to a `policy_flag` naming it.
    pub categories: BTreeMap<String, Vec<ControlRef>>,
    /// Extra category → group assignments.
    pub category_groups: BTreeMap<String, String>,
}

/// A mapping file that cannot be used: names the file and the offending key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingError {
    /// The file (or `builtin:<id>`).
    pub file: String,
    /// A JSON-pointer-like path to the bad key, for example `entry_types.llm_call[0].strength`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "mapping file {}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "mapping file {}: key `{}`: {}",
                self.file, self.key, self.message
            )
        }
    }
}

impl std::error::Error for MappingError {}

impl Mapping {
    /// Parses and validates a mapping document. `file` names it in errors.
    pub fn parse(text: &str, file: &str, origin: MappingOrigin) -> Result<Mapping, MappingError> {
        let err = |key: &str, message: String| MappingError {
            file: file.to_owned(),
            key: key.to_owned(),
            message,
        };
        let doc: serde_json::Value =
            serde_json::from_str(text).map_err(|e| err("", format!("not valid JSON: {e}")))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| err("", "the document must be a JSON object".into()))?;
        const KNOWN: [&str; 9] = [
            "schema",
            "id",
            "version",
            "title",
            "source",
            "disclaimer",
            "entry_types",
            "categories",
            "category_groups",
        ];
        for k in obj.keys() {
            if !KNOWN.contains(&k.as_str()) {
                return Err(err(
                    k,
                    format!("unknown key (expected one of: {})", KNOWN.join(", ")),
                ));
            }
        }
        let string = |key: &str, required: bool| -> Result<String, MappingError> {
            match obj.get(key) {
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(serde_json::Value::String(_)) => {
                    Err(err(key, "must be a non-empty string".into()))
                }
                Some(v) => Err(err(
                    key,
                    format!("must be a string, found {}", json_type(v)),
                )),
                None if required => Err(err(key, "missing (required)".into())),
                None => Ok(String::new()),
            }
        };
        let schema = string("schema", true)?;
        if schema != MAPPING_SCHEMA {
            return Err(err(
                "schema",
                format!("must be \"{MAPPING_SCHEMA}\", found \"{schema}\""),
            ));
        }
        let id = string("id", true)?;
        if id == "all"
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            || !id.as_bytes()[0].is_ascii_lowercase()
        {
            return Err(err(
                "id",
                format!(
                    "\"{id}\" must be lowercase letters, digits and '_', start with a letter, \
                     and not be \"all\""
                ),
            ));
        }
        let version = string("version", true)?;
        let title = string("title", true)?;
        let source = string("source", false)?;
        string("disclaimer", false)?;
        let entry_types = control_table(obj.get("entry_types"), "entry_types", true, &err)?;
        let categories = control_table(obj.get("categories"), "categories", false, &err)?;
        let mut category_groups = BTreeMap::new();
        match obj.get("category_groups") {
            None => {}
            Some(serde_json::Value::Object(m)) => {
                for (cat, group) in m {
                    let key = format!("category_groups.{cat}");
                    match group.as_str() {
                        Some(g) if !g.is_empty() => {
                            category_groups.insert(cat.clone(), g.to_owned());
                        }
                        _ => return Err(err(&key, "must be a non-empty string (a group)".into())),
                    }
                }
            }
            Some(v) => {
                return Err(err(
                    "category_groups",
                    format!("must be an object, found {}", json_type(v)),
                ));
            }
        }
        Ok(Mapping {
            id,
            version,
            title,
            source,
            sha256: to_hex(&Sha256::digest(text.as_bytes())),
            origin,
            entry_types,
            categories,
            category_groups,
        })
    }

    /// Reads and validates a mapping file.
    pub fn from_file(path: &Path) -> Result<Mapping, MappingError> {
        let shown = path.display().to_string();
        let limit = crate::small_file::MAX_CONFIG_FILE_BYTES;
        let text = crate::small_file::read_to_string(path, limit).map_err(|e| MappingError {
            file: shown.clone(),
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| shown.clone());
        Mapping::parse(&text, &shown, MappingOrigin::File(name))
    }

    /// The built-in mapping for `id`, if there is one.
    pub fn builtin(id: &str) -> Option<Mapping> {
        BUILTIN_FILES
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(i, text)| {
                Mapping::parse(text, &format!("builtin:{i}"), MappingOrigin::Builtin)
                    .expect("built-in mappings are valid (tested)")
            })
    }

    /// The controls an entry of type `kind` with payload `payload` points at, deduplicated by
    /// control id: type controls whose `when` the payload meets, then the type's unconditional
    /// controls, then category controls for a `policy_flag`.
    pub fn controls_for(&self, kind: &str, payload: &Value) -> Vec<&ControlRef> {
        fn add<'m>(
            out: &mut Vec<&'m ControlRef>,
            list: Option<&'m Vec<ControlRef>>,
            keep: &dyn Fn(&ControlRef) -> bool,
        ) {
            for c in list.into_iter().flatten().filter(|c| keep(c)) {
                if !out.iter().any(|o| o.control_id == c.control_id) {
                    out.push(c);
                }
            }
        }
        let mut out = Vec::new();
        let list = self.entry_types.get(kind);
        add(&mut out, list, &|c| {
            c.when.as_ref().is_some_and(|w| w.holds(payload))
        });
        add(&mut out, list, &|c| c.when.is_none());
        if kind == "policy_flag" {
            for cat in flag_categories(payload) {
                add(&mut out, self.categories.get(cat.as_str()), &|_| true);
                if let Some(group) = self.group_of(&cat) {
                    add(&mut out, self.categories.get(group), &|_| true);
                }
            }
        }
        out
    }

    /// The group a category belongs to: this mapping's `category_groups`, then the detection
    /// engine's own (`redact::category_group`, every category it has, locale packs and opt-in
    /// detectors included).
    pub fn group_of<'a>(&'a self, category: &str) -> Option<&'a str> {
        if let Some(g) = self.category_groups.get(category) {
            return Some(g);
        }
        category_group(category)
    }

    /// Where the mapping came from, as recorded in a pack (`builtin` or `file:<name>`).
    pub fn origin_label(&self) -> String {
        match &self.origin {
            MappingOrigin::Builtin => "builtin".into(),
            MappingOrigin::File(name) => format!("file:{name}"),
        }
    }

    /// Every control this mapping can point at (id → ref), for titles in reports.
    pub fn all_controls(&self) -> BTreeMap<&str, &ControlRef> {
        let mut out = BTreeMap::new();
        for c in self
            .entry_types
            .values()
            .chain(self.categories.values())
            .flatten()
        {
            out.entry(c.control_id.as_str()).or_insert(c);
        }
        out
    }
}

/// The categories a `policy_flag` payload names in `data` (a string or a list of strings).
pub fn flag_categories(payload: &Value) -> Vec<String> {
    match payload.get("data") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The most controls one entry type (or category) may map to. The built-in frameworks map a
/// type to a handful; every exported entry carries its type's list, so a mapping of
/// thousands would multiply an export's memory by as many.
const MAX_CONTROLS_PER_KEY: usize = 256;

fn control_table(
    v: Option<&serde_json::Value>,
    name: &str,
    required: bool,
    err: &dyn Fn(&str, String) -> MappingError,
) -> Result<BTreeMap<String, Vec<ControlRef>>, MappingError> {
    let mut out = BTreeMap::new();
    let obj = match v {
        None if required => return Err(err(name, "missing (required)".into())),
        None => return Ok(out),
        Some(serde_json::Value::Object(o)) => o,
        Some(v) => {
            return Err(err(
                name,
                format!("must be an object, found {}", json_type(v)),
            ));
        }
    };
    for (key, list) in obj {
        let path = format!("{name}.{key}");
        if key.is_empty() {
            return Err(err(&path, "empty entry type or category".into()));
        }
        let items = list.as_array().ok_or_else(|| {
            err(
                &path,
                format!("must be an array of controls, found {}", json_type(list)),
            )
        })?;
        if items.len() > MAX_CONTROLS_PER_KEY {
            return Err(err(
                &path,
                format!(
                    "{} controls; at most {MAX_CONTROLS_PER_KEY} may be mapped to one entry type \
                     or category (every exported entry of the type carries the list)",
                    items.len()
                ),
            ));
        }
        let mut refs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            let o = item.as_object().ok_or_else(|| {
                err(
                    &ipath,
                    format!("must be a control object, found {}", json_type(item)),
                )
            })?;
            for k in o.keys() {
                if !["control_id", "title", "rationale", "strength", "when"].contains(&k.as_str()) {
                    return Err(err(
                        &format!("{ipath}.{k}"),
                        "unknown key (expected control_id, title, rationale, strength, when)"
                            .into(),
                    ));
                }
            }
            let when = match o.get("when") {
                None => None,
                Some(_) if name != "entry_types" => {
                    return Err(err(
                        &format!("{ipath}.when"),
                        "a condition is only allowed on an entry type's controls".into(),
                    ));
                }
                Some(serde_json::Value::Object(c)) if c.len() == 1 => {
                    let (member, value) = c.iter().next().expect("one member");
                    if !(value.is_string() || value.is_number() || value.is_boolean()) {
                        return Err(err(
                            &format!("{ipath}.when.{member}"),
                            format!(
                                "must be a string, number or boolean, found {}",
                                json_type(value)
                            ),
                        ));
                    }
                    Some(Condition {
                        member: member.clone(),
                        equals: Value::from(value),
                    })
                }
                Some(v) => {
                    return Err(err(
                        &format!("{ipath}.when"),
                        format!(
                            "must be an object with one payload member and its value, found {}",
                            match v {
                                serde_json::Value::Object(_) => "an object of another size",
                                _ => json_type(v),
                            }
                        ),
                    ));
                }
            };
            let field = |f: &str| -> Result<String, MappingError> {
                match o.get(f) {
                    Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                    Some(v) => Err(err(
                        &format!("{ipath}.{f}"),
                        format!("must be a non-empty string, found {}", json_type(v)),
                    )),
                    None => Err(err(&format!("{ipath}.{f}"), "missing (required)".into())),
                }
            };
            let strength = match field("strength")?.as_str() {
                "direct" => Strength::Direct,
                "supporting" => Strength::Supporting,
                "adverse" => Strength::Adverse,
                other => {
                    return Err(err(
                        &format!("{ipath}.strength"),
                        format!(
                            "must be \"direct\" or \"supporting\" (evidence for the control) or \
                             \"adverse\" (a record of its failure), found \"{other}\""
                        ),
                    ));
                }
            };
            refs.push(ControlRef {
                control_id: field("control_id")?,
                title: field("title")?,
                rationale: field("rationale")?,
                strength,
                when,
            });
        }
        out.insert(key.clone(), refs);
    }
    Ok(out)
}

/// The mappings an export can choose from: the built-ins, overridden or extended by user files.
#[derive(Clone, Debug)]
pub struct MappingSet {
    mappings: BTreeMap<String, Mapping>,
}

impl MappingSet {
    /// The four built-in mappings.
    pub fn builtin() -> MappingSet {
        let mappings = BUILTIN_FRAMEWORKS
            .iter()
            .map(|id| {
                (
                    (*id).to_owned(),
                    Mapping::builtin(id).expect("built-in mapping"),
                )
            })
            .collect();
        MappingSet { mappings }
    }

    /// The built-ins plus the given files; a file whose `id` names a built-in replaces it.
    pub fn with_files<P: AsRef<Path>>(files: &[P]) -> Result<MappingSet, MappingError> {
        let mut set = MappingSet::builtin();
        for f in files {
            let m = Mapping::from_file(f.as_ref())?;
            set.mappings.insert(m.id.clone(), m);
        }
        Ok(set)
    }

    /// The available framework ids, sorted.
    pub fn ids(&self) -> Vec<&str> {
        self.mappings.keys().map(String::as_str).collect()
    }

    /// The mapping for `id`.
    pub fn get(&self, id: &str) -> Option<&Mapping> {
        self.mappings.get(id)
    }

    /// Resolves a `--framework` value: one id, or `all` (every mapping, sorted by id).
    pub fn select(&self, framework: &str) -> Result<Vec<&Mapping>, String> {
        if framework == "all" {
            return Ok(self.mappings.values().collect());
        }
        self.mappings.get(framework).map(|m| vec![m]).ok_or_else(|| {
            format!(
                "unknown framework \"{framework}\"; available: {}, all (add one with --mapping FILE)",
                self.ids().join(", ")
            )
        })
    }
}
