//! Field visitors: copying a span's or event's field values into owned values on the caller's
//! thread, so that they can cross to the sequencer.

use std::fmt;

use tracing_core::field::{Field, Visit};

use crate::record::{FieldValue, Fields, KIND_FIELD, Text};

/// Copies every field into owned values, leaving out the layer's own control fields.
pub(super) struct Capture<'a>(pub(super) &'a mut Fields);

impl Capture<'_> {
    fn push(&mut self, field: &Field, value: FieldValue) {
        let name = field.name();
        if name == KIND_FIELD {
            return;
        }
        self.0.push((name, value));
    }
}

impl Visit for Capture<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, FieldValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, FieldValue::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, FieldValue::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, FieldValue::U128(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, FieldValue::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, FieldValue::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, FieldValue::Str(value.into()));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(
            field,
            FieldValue::Str(Text::format(format_args!("{value}"))),
        );
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(
            field,
            FieldValue::Str(Text::format(format_args!("{value:?}"))),
        );
    }
}

/// Adds recorded values to a GenAI span's fields: a field recorded again replaces its earlier
/// value, so a span's memory is bounded by its declared fields however often it records.
pub(super) struct Accumulate<'a>(pub(super) &'a mut Fields);

/// Most values one span keeps of a repeated GenAI event field: beyond it, the last value is
/// replaced, so a span with endless events stays bounded.
const MAX_REPEATED_VALUES: usize = 64;

impl Accumulate<'_> {
    /// Adds the fields of an event inside a GenAI span: a field that repeats per event
    /// (evaluation and guardrail results, see `genai::is_repeatable`) keeps every value, up to
    /// [`MAX_REPEATED_VALUES`]; any other field replaces its earlier value.
    pub(super) fn absorb_event(&mut self, recorded: Fields) {
        for (name, value) in recorded {
            let seen = self.0.iter().filter(|(n, _)| *n == name).count();
            if seen > 0 && crate::genai::is_repeatable(name) && seen < MAX_REPEATED_VALUES {
                self.0.push((name, value));
            } else {
                self.absorb(vec![(name, value)]);
            }
        }
    }

    pub(super) fn absorb(&mut self, recorded: Fields) {
        for (name, value) in recorded {
            match self.0.iter_mut().rev().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => self.0.push((name, value)),
            }
        }
    }
}

/// Reads the `audit.kind` field's value.
pub(super) struct KindField(pub(super) Option<String>);

impl Visit for KindField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == KIND_FIELD {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == KIND_FIELD {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// The `severity` a `policy_flag` may carry, for a value given in another spelling.
fn policy_severity(given: &str) -> &'static str {
    match given.trim().to_ascii_lowercase().as_str() {
        "info" | "informational" | "low" | "minor" | "debug" | "trace" | "none" => "info",
        "warning" | "warn" | "medium" | "moderate" => "warning",
        // Anything else, known ("high", "error") or not, is taken at its most serious: a flag
        // must never understate.
        _ => "critical",
    }
}

/// The `action` a `policy_flag` may carry, for a value given in another spelling.
fn policy_action(given: &str) -> &'static str {
    match given.trim().to_ascii_lowercase().as_str() {
        "redact" | "redacted" | "mask" | "masked" => "redacted",
        "block" | "blocked" | "deny" | "denied" | "refuse" | "refused" | "reject" | "rejected" => {
            "blocked"
        }
        // Anything else claims no more than that the data was noted and went through.
        _ => "flagged",
    }
}

/// Brings a `policy_flag` event's `severity` and `action` to the values the format allows
/// (`info`/`warning`/`critical`, `flagged`/`redacted`/`blocked`), as `Severity` and
/// `FlagAction` do for [`AuditHandle::flag`](crate::AuditHandle::flag). A value given
/// otherwise is replaced, and what was given is kept in a `corrected` member
/// (`{"severity": "medium"}`) so the chain shows the correction; the first correction of the
/// process is also reported on stderr.
pub(super) fn check_policy_flag(fields: &mut Fields) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let mut corrected = Vec::new();
    for (name, value) in fields.iter_mut() {
        let fix: fn(&str) -> &'static str = match *name {
            "severity" => policy_severity,
            "action" => policy_action,
            _ => continue,
        };
        let given = match &*value {
            FieldValue::Str(s) => s.to_string(),
            other => other.clone().into_value().to_string(),
        };
        let valid = fix(&given);
        if given != valid {
            corrected.push(((*name).to_owned(), crate::json::Value::from(given)));
            *value = FieldValue::Str(valid.into());
        }
    }
    if corrected.is_empty() {
        return;
    }
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        let list: Vec<String> = corrected
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        eprintln!(
            "acttrace: policy_flag! with {}: severity must be info, warning or critical and \
             action flagged, redacted or blocked; recorded the nearest valid value, with what \
             was given under `corrected` (reported once)",
            list.join(", ")
        );
    }
    fields.push((
        "corrected",
        FieldValue::Json(crate::json::Value::Object(corrected)),
    ));
}
