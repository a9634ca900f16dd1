//! Filters that keep the audit log's records away from the program's other layers.
//!
//! Audit macros emit ordinary `tracing` events, and decision spans are ordinary spans: every
//! layer of the subscriber sees their raw field values. The audit layer redacts what it writes
//! to the chain (card numbers, keys, the text of an `err`), but **redaction protects the chain,
//! not other layers**: a console or JSON layer prints the values as they were given. Attach
//! [`exclude_audit`] to those layers:
//!
//! ```
//! use tracing_subscriber::{EnvFilter, fmt, prelude::*};
//!
//! let (audit, guard) = acttrace::AuditLayer::builder()
//!     .writer(acttrace::MemoryWriter::new().0)
//!     .build()
//!     .unwrap();
//! let subscriber = tracing_subscriber::registry()
//!     .with(
//!         fmt::layer()
//!             .with_filter(EnvFilter::new("info"))
//!             .with_filter(acttrace::filter::exclude_audit()),
//!     )
//!     .with(audit);
//! tracing::subscriber::with_default(subscriber, || {
//!     // Recorded (redacted) on the chain; never printed by the fmt layer.
//!     acttrace::tool_call!(name = "charge", arguments = "card 4111 1111 1111 1111");
//! });
//! # drop(guard);
//! ```
//!
//! Audit events have a target of their own, [`AUDIT_TARGET`] (`acttrace::audit`), which any
//! filter can name (`EnvFilter::new("warn,acttrace::audit=info")`).

use tracing_core::subscriber::Interest;
use tracing_core::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter};

use crate::capture::{AuditRelevance, audit_relevance, is_decision_span};

pub use crate::record::AUDIT_TARGET;

/// A per-layer filter that hides the audit log's records from the layer it is attached to:
/// decision spans (their fields), audit events (the macros' events, events named after an
/// audit entry type or with an `audit.kind` field, anything in [`AUDIT_TARGET`]), and the
/// `return`/`error` events that `#[instrument(ret, err)]` emits inside a decision span.
/// Everything else passes. Combine it with other filters by attaching both
/// (`.with_filter(env).with_filter(exclude_audit())`).
pub fn exclude_audit() -> ExcludeAudit {
    ExcludeAudit { _private: () }
}

/// Whether a callsite is a decision span or an audit event (by its metadata alone).
pub fn is_audit(meta: &Metadata<'_>) -> bool {
    audit_relevance(meta) == AuditRelevance::Audit
}

/// The filter made by [`exclude_audit`].
#[derive(Clone, Debug)]
pub struct ExcludeAudit {
    _private: (),
}

impl<S: Subscriber> Filter<S> for ExcludeAudit {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        match audit_relevance(meta) {
            AuditRelevance::None => true,
            AuditRelevance::Audit => false,
            // The registry's own current span, not this filter's view of it (which skips the
            // decision spans this filter disabled).
            AuditRelevance::MaybeOutcome => !cx
                .current_span()
                .metadata()
                .is_some_and(|m| is_decision_span(m)),
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        match audit_relevance(meta) {
            AuditRelevance::None => Interest::always(),
            AuditRelevance::Audit => Interest::never(),
            AuditRelevance::MaybeOutcome => Interest::sometimes(),
        }
    }
}
