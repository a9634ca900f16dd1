//! What a captured record is made of, shared by the layer that captures it, the sequencer that
//! chains it and the GenAI mapping: owned field values, the control fields that mark decisions
//! and name entry types, the entry types only the log writes, and the chained position a caller
//! gets back.

use crate::json::Value;

/// The span field that marks a decision: `#[instrument(fields(audit.decision))]`.
pub(crate) const DECISION_FIELD: &str = "audit.decision";
/// The event field that names an audit entry type when the event's name does not.
pub(crate) const KIND_FIELD: &str = "audit.kind";

/// Entry types a user event must not claim: the log writes them itself.
pub(crate) const RESERVED_KINDS: [&str; 10] = [
    "audit_open",
    "audit_resume",
    "recovery",
    "segment_open",
    "decision",
    "decision_record",
    "decision_end",
    "gap",
    "invisible_callsite",
    // Graded by its payload in the export mappings (`early_deletion`): a user event must not
    // be able to pose as one.
    "retention",
];

/// The target the audit macros give their events unless told otherwise: name it in a filter to
/// route audit events (`acttrace::audit=info`), or keep them out of other layers with
/// `acttrace::filter::exclude_audit()`.
pub const AUDIT_TARGET: &str = "acttrace::audit";

/// A captured field value, owned so it can cross to the sequencer thread.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FieldValue {
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Str(String),
    Json(Value),
}

impl FieldValue {
    pub(crate) fn into_value(self) -> Value {
        match self {
            FieldValue::I64(v) => Value::from(v),
            FieldValue::U64(v) => Value::from(v),
            FieldValue::I128(v) => Value::from(v),
            FieldValue::U128(v) => Value::from(v),
            // Non-finite floats become strings so that our own logs stay strict JSON.
            FieldValue::F64(v) if !v.is_finite() => Value::from(Value::from(v).to_string()),
            FieldValue::F64(v) => Value::from(v),
            FieldValue::Bool(v) => Value::Bool(v),
            FieldValue::Str(v) => Value::String(v),
            FieldValue::Json(v) => v,
        }
    }
}

/// A span's or event's captured fields, by name, in the order they were recorded.
pub(crate) type Fields = Vec<(&'static str, FieldValue)>;

/// The seq and hash of an entry, once it is committed to the writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainedEntry {
    /// Its position in the chain.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// The decision it belongs to, if any.
    pub decision_id: Option<String>,
}
