//! Capture: the [`AuditLayer`] that watches `tracing` spans and events, its builder, and the
//! [`AuditGuard`]/[`AuditHandle`] that own and query the log.
//!
//! On the caller's thread the layer does as little as it can: it recognises decision spans and
//! audit events from their static metadata, copies their field values into owned values, finds
//! the nearest decision ancestor through the span registry, and enqueues a message for the
//! sequencer thread. Ordinary spans and events are recognised from metadata alone and cost no
//! allocation and no lock.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::queue::{LogState, Queue};
use crate::redact::BuiltinRedactor;

mod builder;
mod callsite;
mod fields;
mod handle;
mod layer;

pub use builder::{AuditLayerBuilder, RiskTier};
pub(crate) use callsite::{AuditRelevance, audit_relevance, is_decision_span};
pub use handle::{AuditGuard, AuditHandle, FlagAction, Preflight, ShutdownReport, Status};
pub use layer::AuditLayer;

/// State shared by the layer, the handles and the guard of one log.
struct Shared {
    /// Tells this layer's marks in span extensions from those of other [`AuditLayer`]s.
    layer_id: u64,
    /// Our own span ids (the registry reuses its ids, so they cannot key a decision).
    next_span: AtomicU64,
    /// Where the log is described (for a file, its path).
    source: String,
    /// Where records go to the sequencer.
    queue: Arc<Queue>,
    /// What the sequencer publishes of the log.
    log: Arc<LogState>,
    /// The built-in redactor with the log's policy (for payloads and pre-flight checks).
    redactor: Arc<BuiltinRedactor>,
    /// GenAI spans and events recorded without a decision above them.
    gen_ai_orphans: AtomicU64,
    /// Audit events (not GenAI) recorded without a decision above them.
    outside_decisions: AtomicU64,
    /// How long dropping the guard waits for the log to be written.
    drop_timeout: std::time::Duration,
    /// Disconnects when the checkpoint sink thread has delivered everything (when the log has
    /// sinks): shutdown waits for it, within its bound.
    sink_done: Option<crossbeam_channel::Receiver<()>>,
}
