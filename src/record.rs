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
    Str(Text),
    Json(Value),
}

/// The most bytes a captured string keeps inline.
const SHORT_TEXT: usize = 24;

/// A captured string: up to [`SHORT_TEXT`] bytes inline, longer ones on the heap.
///
/// Most captured values are short (a model, a provider, an action, a reviewer). Kept inline,
/// they cost the calling thread no allocation, and the log thread that builds the payload no
/// `free` of memory another thread allocated (glibc then takes that thread's arena lock): the
/// payload takes a string from its own thread's pool instead ([`crate::sequencer`]).
#[derive(Clone)]
pub(crate) enum Text {
    Short(arrayvec::ArrayString<SHORT_TEXT>),
    Long(String),
}

impl Text {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Text::Short(s) => s.as_str(),
            Text::Long(s) => s,
        }
    }

    pub(crate) fn into_string(self) -> String {
        match self {
            Text::Short(s) => s.as_str().to_owned(),
            Text::Long(s) => s,
        }
    }

    /// Formats `value` (a `Debug` or `Display` value being captured) into a `Text`, inline
    /// when it fits.
    pub(crate) fn format(value: std::fmt::Arguments<'_>) -> Text {
        let mut out = TextWriter(Text::Short(arrayvec::ArrayString::new()));
        let _ = std::fmt::Write::write_fmt(&mut out, value);
        out.0
    }
}

/// Equal when the text is, wherever it is kept.
impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        arrayvec::ArrayString::from(s).map_or_else(|_| Text::Long(s.to_owned()), Text::Short)
    }
}

/// Writes inline until the text outgrows [`SHORT_TEXT`], then moves it to the heap.
struct TextWriter(Text);

impl std::fmt::Write for TextWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        match &mut self.0 {
            Text::Long(long) => long.push_str(s),
            Text::Short(short) => {
                if short.try_push_str(s).is_err() {
                    // Exactly what it holds, as `format!` would have it: most values are
                    // written in one piece, and a queued record keeps this allocation.
                    let mut long = String::with_capacity(short.len() + s.len());
                    long.push_str(short);
                    long.push_str(s);
                    self.0 = Text::Long(long);
                }
            }
        }
        Ok(())
    }
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
            FieldValue::Str(v) => Value::String(v.into_string()),
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

#[cfg(test)]
mod tests {
    use super::{SHORT_TEXT, Text};

    fn is_short(t: &Text) -> bool {
        matches!(t, Text::Short(_))
    }

    #[test]
    fn text_is_inline_up_to_the_limit_and_on_the_heap_beyond() {
        let at_limit = "a".repeat(SHORT_TEXT);
        let beyond = "a".repeat(SHORT_TEXT + 1);
        assert!(is_short(&Text::from(at_limit.as_str())));
        assert!(!is_short(&Text::from(beyond.as_str())));
        assert_eq!(Text::from(beyond.as_str()).as_str(), beyond);
        // The limit is in bytes: twelve two-byte characters fit, one more byte does not.
        let wide = "é".repeat(SHORT_TEXT / 2);
        assert!(is_short(&Text::from(wide.as_str())));
        assert_eq!(Text::from(wide.as_str()).as_str(), wide);
        let wider = format!("{wide}x");
        assert!(!is_short(&Text::from(wider.as_str())));
        assert_eq!(Text::from(wider.as_str()).into_string(), wider);
        assert_eq!(Text::from("").as_str(), "");
    }

    #[test]
    fn formatted_text_equals_format_whatever_its_length() {
        // A `Debug` impl writes in many small pieces: the text moves to the heap part way
        // through and must come out whole.
        for n in [0usize, 1, 3, 4, 5, 7, 8, 40] {
            let value: Vec<u32> = (0..n as u32).collect();
            let want = format!("{value:?}");
            let got = Text::format(format_args!("{value:?}"));
            assert_eq!(got.as_str(), want, "{n} items");
            assert_eq!(is_short(&got), want.len() <= SHORT_TEXT, "{want}");
        }
        let quoted = "say \"hi\"\n";
        assert_eq!(
            Text::format(format_args!("{quoted:?}")).as_str(),
            format!("{quoted:?}")
        );
        // One piece longer than the inline room on its own: kept without slack, since a full
        // queue holds thousands of these (a doubled capacity showed as +17 MiB in the
        // stalled-disk measurement).
        let long = "x".repeat(1024);
        match Text::format(format_args!("{long}")) {
            Text::Long(s) => assert_eq!((s.as_str(), s.capacity()), (long.as_str(), 1024)),
            Text::Short(_) => panic!("1 KiB kept inline"),
        }
    }

    #[test]
    fn texts_compare_by_content_wherever_they_are_kept() {
        let short = Text::from("same");
        let long = Text::Long("same".to_owned());
        assert!(is_short(&short) && !is_short(&long));
        assert_eq!(short, long);
        assert_ne!(short, Text::from("other"));
        assert_eq!(format!("{short:?}"), format!("{long:?}"));
    }
}
