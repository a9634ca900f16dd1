//! Payload shaping: how captured fields become an entry's payload object (usage grouped, the
//! log's own keys protected), a decision's model-call totals for its `decision_end`, and the
//! `policy_flag` payloads that record what the built-in redactor did.

use std::cell::RefCell;

use super::render_thread;
use crate::genai;
use crate::json::Value;
use crate::queue::InvisibleCallsite;
use crate::record::{DECISION_FIELD, FieldValue, Fields, Text};
use crate::redact::{Action, Report};

/// Token counts the reference nests under `usage` in `llm_call` entries.
const USAGE_FIELDS: [&str; 5] = [
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cache_write",
];

/// Keys the sequencer sets itself; a user field of the same name is kept as `field.NAME`.
const RESERVED: [&str; 2] = ["decision_id", "parent_decision_id"];

/// Builds a payload object: keys unique, later user values replacing earlier ones.
pub(super) struct Payload {
    fields: Vec<(String, Value)>,
}

impl Payload {
    pub(super) fn with_decision(id: Option<&str>) -> Payload {
        let mut fields = spare_list();
        fields.push((
            spare_string("decision_id"),
            id.map_or(Value::Null, spare_value),
        ));
        Payload { fields }
    }

    /// Sets `key` (a later value replaces an earlier one where it stands).
    pub(super) fn put(&mut self, key: &str, value: Value) {
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some((_, slot)) => *slot = value,
            None => self.fields.push((spare_string(key), value)),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn user(&mut self, name: &str, value: Value) {
        if RESERVED.contains(&name) {
            self.put(&format!("field.{name}"), value);
        } else {
            self.put(name, value);
        }
    }

    /// A decision span's fields; `span_name` names the decision (from `decision` entries)
    /// when `audit.decision` is a bare marker rather than a string.
    pub(super) fn decision_fields(&mut self, fields: Fields, span_name: Option<&str>) {
        let named = fields
            .iter()
            .any(|(n, v)| *n == DECISION_FIELD && matches!(v, FieldValue::Str(_)));
        if let Some(span_name) = span_name.filter(|_| !named) {
            self.put("name", spare_value(span_name));
        }
        for (name, value) in fields {
            if name == DECISION_FIELD {
                // `audit.decision = "loan.approve"` names the decision; a bare marker does not.
                if let FieldValue::Str(s) = value {
                    self.put("name", spare_text(s));
                }
                continue;
            }
            self.user(name, spare_field_value(value));
        }
    }

    pub(super) fn event_fields(&mut self, kind: &str, fields: Fields) {
        let mut usage: Vec<(String, Value)> = Vec::new();
        for (name, value) in fields {
            if kind == "llm_call" {
                let usage_key = name
                    .strip_prefix("usage.")
                    .or_else(|| USAGE_FIELDS.contains(&name).then_some(name));
                if let Some(k) = usage_key {
                    match usage.iter_mut().find(|(uk, _)| uk == k) {
                        Some(slot) => slot.1 = spare_field_value(value),
                        None => {
                            if usage.capacity() == 0 {
                                // A kept list: taking payloads apart keeps nested ones too.
                                usage = spare_list();
                            }
                            usage.push((spare_string(k), spare_field_value(value)));
                        }
                    }
                    continue;
                }
            }
            self.user(name, spare_field_value(value));
        }
        if !usage.is_empty() {
            self.put("usage", Value::Object(usage));
        }
    }

    pub(super) fn finish(self) -> Value {
        Value::Object(self.fields)
    }
}

/// Builds the payload of a record the sequencer handed over unshaped (see
/// [`render_thread::Unshaped`]), as the sequencer would have: the decision id first (and a
/// nested decision's parent), then the record's fields.
pub(super) fn shape(kind: &str, fields: render_thread::Unshaped) -> Value {
    use render_thread::Unshaped;
    match fields {
        Unshaped::Decision {
            fields,
            span_name,
            id,
            parent,
        } => {
            let mut p = Payload::with_decision(Some(id.as_str()));
            if let Some(parent) = parent {
                p.put("parent_decision_id", spare_value(parent.as_str()));
            }
            p.decision_fields(fields, Some(span_name));
            p.finish()
        }
        Unshaped::Record { fields, id } => {
            let mut p = Payload::with_decision(id.as_ref().map(|id| id.as_str()));
            p.decision_fields(fields, None);
            p.finish()
        }
        Unshaped::Event { fields, id } => {
            let mut p = Payload::with_decision(id.as_ref().map(|id| id.as_str()));
            p.event_fields(kind, fields);
            p.finish()
        }
    }
}

/// Strings and member lists of sealed payloads, kept to build the next payloads from: every
/// entry's payload has a handful of keys and a decision id the sequencer writes itself, and
/// allocating and freeing them was a tenth of the thread's work outside hashing. Bounded: at
/// most [`SPARE_STRINGS`] strings of at most [`SPARE_CAPACITY`] bytes and [`SPARE_LISTS`]
/// lists are kept, per thread (only the sequencer's builds payloads).
struct Spare {
    strings: Vec<String>,
    lists: Vec<Vec<(String, Value)>>,
}

/// Payloads are built up to [`render_thread::MAX_UNSEALED`] records before they are sealed and
/// taken apart (while earlier ones are redacted and rendered on the render thread), so the
/// spare holds enough for that many: about eight strings and a list each.
const SPARE_LISTS: usize = render_thread::MAX_UNSEALED;
const SPARE_STRINGS: usize = 8 * SPARE_LISTS;
/// Strings smaller than this are not worth keeping (most keys would not fit); larger ones
/// (a prompt) would hold memory for nothing.
const SPARE_MIN_CAPACITY: usize = 16;
const SPARE_CAPACITY: usize = 256;
/// Member lists start with room for a typical payload's fields, rather than growing three
/// times; longer ones are not kept.
const LIST_CAPACITY: usize = 8;
const SPARE_LIST_CAPACITY: usize = 32;

thread_local! {
    static SPARE: RefCell<Spare> = const {
        RefCell::new(Spare {
            strings: Vec::new(),
            lists: Vec::new(),
        })
    };
}

/// `text` as a `String`, in a kept allocation when there is one.
pub(super) fn spare_string(text: &str) -> String {
    let kept = SPARE
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.strings.pop()))
        .ok()
        .flatten();
    let mut out = kept.unwrap_or_default();
    out.push_str(text);
    out
}

fn spare_value(text: &str) -> Value {
    Value::String(spare_string(text))
}

/// A captured string as a value: a short one (kept inline by the caller) in a kept allocation
/// of this thread's, a long one as the caller allocated it.
fn spare_text(text: Text) -> Value {
    match text {
        Text::Short(short) => spare_value(&short),
        Text::Long(long) => Value::String(long),
    }
}

/// A captured field's value, its string (if any) as [`spare_text`] makes it.
fn spare_field_value(value: FieldValue) -> Value {
    match value {
        FieldValue::Str(text) => spare_text(text),
        other => other.into_value(),
    }
}

/// An empty member list, a kept one when there is one.
fn spare_list() -> Vec<(String, Value)> {
    SPARE
        .try_with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.lists.pop()))
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(LIST_CAPACITY))
}

/// Takes a sealed payload apart, keeping its keys, its string values and its member list
/// (and those of objects directly inside it) for the next payloads; the rest is dropped.
pub(super) fn recycle(payload: Value) {
    let Value::Object(fields) = payload else {
        return;
    };
    // Outside the sequencer's thread (or while the spare is borrowed) it is simply dropped.
    let _ = SPARE.try_with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.take_apart(fields, true);
        }
    });
}

impl Spare {
    fn take_apart(&mut self, mut fields: Vec<(String, Value)>, nested: bool) {
        for (k, v) in fields.drain(..) {
            self.keep(k);
            match v {
                Value::String(v) => self.keep(v),
                Value::Object(inner) if nested => self.take_apart(inner, false),
                _ => {}
            }
        }
        if fields.capacity() >= LIST_CAPACITY
            && fields.capacity() <= SPARE_LIST_CAPACITY
            && self.lists.len() < SPARE_LISTS
        {
            self.lists.push(fields);
        }
    }

    fn keep(&mut self, mut s: String) {
        if (SPARE_MIN_CAPACITY..=SPARE_CAPACITY).contains(&s.capacity())
            && self.strings.len() < SPARE_STRINGS
        {
            s.clear();
            self.strings.push(s);
        }
    }
}

/// What the model calls of one decision added up to, for its `decision_end`.
#[derive(Default)]
pub(super) struct CallTotals {
    llm_calls: u64,
    input_tokens: u64,
    output_tokens: u64,
    /// Exact sums per currency, in first-seen order.
    costs: genai::CurrencyTotals,
    /// Calls whose cost is unknown (`null`, absent, or not a plain decimal amount).
    uncosted: u64,
    /// The response ids of GenAI calls already counted: a response reported twice (a span and
    /// its `gen_ai.client.inference.operation.details` event) is counted once (issue 17 item 5).
    responses: std::collections::HashSet<String>,
}

impl CallTotals {
    pub(super) fn add(&mut self, payload: &[(String, Value)]) {
        let get = |key: &str| payload.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        if get("source").and_then(Value::as_str) == Some("gen_ai")
            && let Some(id) = get("response_id").and_then(Value::as_str)
            && !self.responses.insert(id.to_owned())
        {
            return;
        }
        self.llm_calls += 1;
        if let Some(usage) = get("usage") {
            let count = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
            // Totals count input as the GenAI conventions do, cache writes included; explicit
            // `llm_call!` events follow the reference, where `cache_write` is apart from input.
            let from_gen_ai = get("source").and_then(Value::as_str) == Some("gen_ai");
            let input = if from_gen_ai {
                count("input_tokens")
            } else {
                count("input_tokens").saturating_add(count("cache_write"))
            };
            self.input_tokens = self.input_tokens.saturating_add(input);
            self.output_tokens = self.output_tokens.saturating_add(count("output_tokens"));
        }
        let costed = get("cost")
            .and_then(Value::as_str)
            .is_some_and(|cost| self.costs.add(cost));
        if !costed {
            self.uncosted += 1;
        }
    }

    /// The `decision_end` members: `llm_calls`, `usage`, `cost` (one `"<amount> <currency>"`,
    /// or a list when calls were billed in several currencies) and `uncosted_calls`.
    pub(super) fn put_into(self, p: &mut Payload) {
        if self.llm_calls == 0 {
            return;
        }
        p.put("llm_calls", Value::from(self.llm_calls));
        let mut usage = spare_list();
        usage.push((spare_string("input_tokens"), Value::from(self.input_tokens)));
        usage.push((
            spare_string("output_tokens"),
            Value::from(self.output_tokens),
        ));
        p.put("usage", Value::Object(usage));
        // In strings this thread keeps, without a list for the one currency there usually is.
        let mut costs = self
            .costs
            .render_each(|| spare_string(""))
            .map(Value::String);
        match self.costs.len() {
            0 => {}
            1 => p.put("cost", costs.next().unwrap_or(Value::Null)),
            _ => p.put("cost", Value::Array(costs.collect())),
        }
        if self.uncosted > 0 {
            p.put("uncosted_calls", Value::from(self.uncosted));
        }
    }
}

/// The `policy_flag` payloads that record what the built-in redactor did to entry `seq`: one
/// per action taken (redacted, flagged, blocked), as the reference records them. They carry
/// categories and counts, never values.
pub(super) fn auto_flags(
    report: &Report,
    kind: &str,
    seq: u64,
    decision_id: Option<&str>,
) -> Vec<Value> {
    let mut flags = Vec::new();
    for (action, verb) in [
        (Action::Block, "blocked"),
        (Action::Redact, "redacted"),
        (Action::Flag, "flagged"),
    ] {
        let cats: Vec<_> = report
            .categories()
            .iter()
            .filter(|c| c.action == action)
            .collect();
        if cats.is_empty() {
            continue;
        }
        let names: Vec<&str> = cats.iter().map(|c| c.category).collect();
        let severity = cats
            .iter()
            .map(|c| c.severity)
            .max()
            .map_or("info", |s| s.as_str());
        flags.push(Value::Object(vec![
            (
                "decision_id".into(),
                decision_id.map_or(Value::Null, Value::from),
            ),
            (
                "reason".into(),
                Value::from(format!("{verb} {} from {kind}", names.join(", "))),
            ),
            ("action".into(), Value::from(verb)),
            ("severity".into(), Value::from(severity)),
            (
                "data".into(),
                Value::Array(names.iter().map(|n| Value::from(*n)).collect()),
            ),
            (
                "counts".into(),
                Value::Object(
                    cats.iter()
                        .map(|c| (c.category.to_owned(), Value::from(c.count)))
                        .collect(),
                ),
            ),
            ("entry_seq".into(), Value::from(seq)),
            ("entry_type".into(), Value::from(kind)),
            ("auto".into(), Value::Bool(true)),
        ]));
    }
    flags
}

/// The payload of an `invisible_callsite` entry: which callsite the log cannot see.
pub(super) fn invisible_payload(c: &InvisibleCallsite) -> Value {
    let m = c.meta;
    Value::Object(vec![
        ("callsite".into(), Value::from(c.what)),
        ("name".into(), Value::from(m.name())),
        ("target".into(), Value::from(m.target())),
        ("level".into(), Value::from(m.level().as_str())),
        (
            "module_path".into(),
            m.module_path().map_or(Value::Null, Value::from),
        ),
        ("file".into(), m.file().map_or(Value::Null, Value::from)),
        (
            "line".into(),
            m.line().map_or(Value::Null, |l| Value::from(u64::from(l))),
        ),
        (
            "reason".into(),
            Value::from("the subscriber's filters disable it for every layer: never recorded"),
        ),
    ])
}

/// The stderr warning for a callsite the log cannot see: what, where, and the fix.
pub(super) fn invisible_warning(source: &str, c: &InvisibleCallsite) -> String {
    let m = c.meta;
    format!(
        "acttrace: the audit log {source} cannot see the {} `{}` (target `{}`, level {}) at \
         {}:{}: a global filter disables it for every layer, so it is never recorded. Filter \
         per layer instead (`fmt::layer().with_filter(EnvFilter::from_default_env())`) or \
         enable `{}={}` in the global filter. Chained as an `invisible_callsite` entry.",
        c.what,
        m.name(),
        m.target(),
        m.level(),
        m.file().unwrap_or("?"),
        m.line().map_or_else(|| "?".to_owned(), |l| l.to_string()),
        m.target(),
        m.level().as_str().to_ascii_lowercase(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spare_len() -> (usize, usize) {
        SPARE.with(|s| {
            let s = s.borrow();
            (s.strings.len(), s.lists.len())
        })
    }

    #[test]
    fn recycled_payloads_build_the_same_payloads_and_the_spare_stays_bounded() {
        let build = |i: u64| {
            let mut p = Payload::with_decision(Some("0123456789abcdef0123456789abcdef"));
            p.put(
                "a_rather_long_member_name",
                Value::from(format!("value number {i:>20}")),
            );
            p.put("n", Value::from(i));
            p.put(
                "usage",
                Value::Object(vec![(spare_string("input_tokens"), Value::from(i))]),
            );
            // A later value replaces the earlier one where it stands.
            p.put("n", Value::from(i + 1));
            p.finish()
        };
        let fresh = build(7).to_string();
        for i in 0..1000 {
            recycle(build(i));
            let (strings, lists) = spare_len();
            assert!(
                strings <= SPARE_STRINGS && lists <= SPARE_LISTS,
                "{strings} {lists}"
            );
        }
        assert!(spare_len().0 > 0, "keys and values are kept");
        // Built from kept strings (cleared, whatever they held), the payload is the same.
        assert_eq!(build(7).to_string(), fresh);
        assert_eq!(
            fresh,
            r#"{"decision_id": "0123456789abcdef0123456789abcdef", "a_rather_long_member_name": "value number                    7", "n": 8, "usage": {"input_tokens": 7}}"#
        );
        // A large string (a prompt) is dropped, not kept.
        recycle(Value::Object(vec![(
            "prompt".into(),
            Value::from("x".repeat(SPARE_CAPACITY + 1)),
        )]));
        SPARE.with(|s| {
            assert!(
                s.borrow()
                    .strings
                    .iter()
                    .all(|s| s.capacity() <= SPARE_CAPACITY && s.is_empty())
            );
        });
    }
}
