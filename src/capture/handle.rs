//! The [`AuditHandle`] that flushes, queries and adds explicit entries to a running log, and the
//! [`AuditGuard`] that owns it and shuts it down.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use tracing_subscriber::registry::LookupSpan;

use super::Shared;
use super::layer::DecisionMarks;
use crate::chain::ChainTip;
use crate::error::Error;
use crate::json::Value;
use crate::queue::Msg;
use crate::record::{ChainedEntry, FieldValue, Fields};
use crate::redact::Severity;

/// A snapshot of the log's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Where the log is described (for a file, its path).
    pub source: String,
    /// The committed tip.
    pub head: ChainTip,
    /// Entries committed by this run.
    pub committed_entries: u64,
    /// Entries sealed by this run that the writer failed to persist (recorded by a `gap` entry
    /// when the chain continues).
    pub lost_entries: u64,
    /// Records refused because the log was already shut down.
    pub refused_after_close: u64,
    /// Records waiting in the queue.
    pub queue_len: usize,
    /// Records dropped because the queue was full
    /// ([`QueueFullPolicy::DropAndRecord`](crate::QueueFullPolicy::DropAndRecord) only).
    pub dropped_when_full: u64,
    /// GenAI spans and events that had no decision above them (spawned tasks that lost their
    /// span context, say): recorded with `decision_id: null`.
    pub gen_ai_orphans: u64,
    /// Entries refused because even with their longest strings replaced by digests they
    /// exceed the writer's line limit
    /// ([`ChainWriter::max_entry_bytes`](crate::writer::ChainWriter::max_entry_bytes)); a
    /// `policy_flag` (action `blocked`) is chained in place of each.
    pub oversized_refused: u64,
    /// Audit events (not GenAI) recorded with no decision above them: emitted outside any
    /// decision span, or in a task that lost its span context. Recorded with
    /// `decision_id: null`.
    pub audit_events_outside_decisions: u64,
    /// Decision spans and audit events that the subscriber's filters hide from every layer, the
    /// audit layer included (a global filter): each is reported once on stderr and chained as
    /// an `invisible_callsite` entry. Seen only when the audit layer is added after the
    /// filters (`.with(audit)` last) or the filters are per layer; checked when the sequencer
    /// is next idle, so a [`flush`](AuditHandle::flush) makes the count current.
    pub invisible_callsites: u64,
    /// Checkpoints committed by this run (issue #13; 0 without a checkpoint key). A sink
    /// receives each only after its batch was committed `Synced`.
    pub checkpoints: u64,
    /// The tree size of the last checkpoint committed by this run: entries from here on are
    /// not yet covered by a signed checkpoint.
    pub last_checkpoint_size: Option<u64>,
    /// The last persistence error, if any.
    pub last_error: Option<String>,
}

impl Shared {
    /// A snapshot of the log's health.
    pub(super) fn status(&self) -> Status {
        Status {
            source: self.source.clone(),
            head: self.log.head(),
            committed_entries: self.log.committed_entries(),
            lost_entries: self.log.lost_entries(),
            refused_after_close: self.queue.refused_after_close(),
            queue_len: self.queue.len(),
            dropped_when_full: self.queue.dropped_when_full(),
            gen_ai_orphans: self.gen_ai_orphans.load(Ordering::Relaxed),
            oversized_refused: self.log.oversized_refused(),
            audit_events_outside_decisions: self.outside_decisions.load(Ordering::Relaxed),
            invisible_callsites: self.queue.watch.invisible(),
            checkpoints: self.log.checkpoints().0,
            last_checkpoint_size: self.log.checkpoints().1,
            last_error: self.log.last_error(),
        }
    }
}

/// The action a policy flag records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagAction {
    /// Noted; the data went through.
    Flagged,
    /// The data was removed before recording.
    Redacted,
    /// The operation was refused.
    Blocked,
}

impl FlagAction {
    /// The name written to the log.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagAction::Flagged => "flagged",
            FlagAction::Redacted => "redacted",
            FlagAction::Blocked => "blocked",
        }
    }
}

/// A cheap, cloneable handle to a running audit log: flush it, read its head, and record
/// explicit entries whose chained position the caller needs.
///
/// [`flush`](Self::flush), [`flag`](Self::flag), [`oversight`](Self::oversight) and
/// [`preflight`](Self::preflight) (when it blocks) wait for the sequencer to commit, which
/// includes an `fdatasync`. In async code, do not call them on a runtime worker thread: move the
/// call to a blocking thread, for example with tokio's `spawn_blocking`:
///
/// ```ignore
/// let handle = guard.handle();
/// let tip = tokio::task::spawn_blocking(move || handle.flush()).await??;
/// ```
#[derive(Clone)]
pub struct AuditHandle {
    pub(super) shared: Arc<Shared>,
}

impl AuditHandle {
    /// Returns once every record enqueued before the call is committed and synced to stable
    /// storage, with the durable tip.
    pub fn flush(&self) -> Result<ChainTip, Error> {
        let (tx, rx) = bounded(1);
        self.shared.queue.send_control(Msg::Flush(tx))?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// The committed tip: give `head` to `acttrace verify --expect-head` (and `next_seq` to
    /// `--expect-entries`) to prove later that nothing was cut from the end.
    pub fn head(&self) -> ChainTip {
        self.shared.log.head()
    }

    /// A snapshot of the log's health.
    pub fn status(&self) -> Status {
        self.shared.status()
    }

    /// Records a `policy_flag` and returns its chained position once committed, for example
    /// from a pre-flight guard that refuses a model call: the refusal itself is on the chain.
    /// The flag belongs to the decision the current span is in (when the subscriber is built on
    /// `tracing_subscriber::Registry`).
    pub fn flag(
        &self,
        reason: &str,
        action: FlagAction,
        severity: Severity,
        data: &[&str],
    ) -> Result<ChainedEntry, Error> {
        let data = Value::Array(data.iter().map(|d| Value::from(*d)).collect());
        self.explicit(
            "policy_flag",
            vec![
                ("reason", FieldValue::Str(reason.into())),
                ("action", FieldValue::Str(action.as_str().into())),
                ("severity", FieldValue::Str(severity.as_str().into())),
                ("data", FieldValue::Json(data)),
            ],
        )
    }

    /// Records a `human_oversight` sign-off (EU AI Act Art. 14) and returns its chained
    /// position once committed. Attributed like [`flag`](Self::flag).
    pub fn oversight(
        &self,
        reviewer: &str,
        action: &str,
        note: &str,
    ) -> Result<ChainedEntry, Error> {
        self.explicit(
            "human_oversight",
            vec![
                ("reviewer", FieldValue::Str(reviewer.into())),
                ("action", FieldValue::Str(action.into())),
                ("note", FieldValue::Str(note.into())),
            ],
        )
    }

    /// Checks outgoing content (a prompt, tool arguments) against the log's redaction policy
    /// before the call is made. When the policy blocks any category found, the refusal is
    /// chained as a `policy_flag` (action `blocked`, categories only, never the values) and
    /// [`Error::Blocked`] is returned for the caller to propagate: the call never runs, and the
    /// record says why. Otherwise the content comes back redacted as the policy says, with what
    /// was found.
    ///
    /// ```
    /// # let (_layer, guard) = acttrace::AuditLayer::builder()
    /// #     .writer(acttrace::MemoryWriter::new().0)
    /// #     .redaction_policy(acttrace::redact::Policy::pci()).build().unwrap();
    /// let err = guard.preflight("llm_call", "charge card 4111 1111 1111 1111").unwrap_err();
    /// assert!(matches!(err, acttrace::Error::Blocked { .. }));
    /// let ok = guard.preflight("llm_call", "what is the refund policy?").unwrap();
    /// assert!(ok.report.is_empty());
    /// ```
    pub fn preflight(&self, operation: &str, content: &str) -> Result<Preflight, Error> {
        let (redacted, report) = self.shared.redactor.redact_str(content);
        if report.blocked() {
            let categories: Vec<&str> = report.categories_blocked();
            let severity = report.max_severity().unwrap_or(Severity::Critical);
            let reason = format!(
                "{operation} blocked before it ran: {}",
                categories.join(", ")
            );
            let entry = self.flag(&reason, FlagAction::Blocked, severity, &categories)?;
            return Err(Error::Blocked {
                operation: operation.to_owned(),
                categories: categories.iter().map(|c| (*c).to_owned()).collect(),
                entry,
            });
        }
        Ok(Preflight {
            redacted: redacted.into_owned(),
            report,
        })
    }

    fn explicit(&self, kind: &'static str, fields: Fields) -> Result<ChainedEntry, Error> {
        let (tx, rx) = bounded(1);
        self.shared.queue.send_control(Msg::Event {
            kind: Cow::Borrowed(kind),
            decision: self.current_decision(),
            fields,
            reply: Some(tx),
        })?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// The decision the current span is in, looked up through the default dispatcher's
    /// registry.
    fn current_decision(&self) -> Option<u64> {
        let id = tracing::Span::current().id()?;
        tracing::dispatcher::get_default(|dispatch| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(&id)?;
            span.scope().find_map(|s| {
                s.extensions()
                    .get::<DecisionMarks>()
                    .and_then(|m| m.find(self.shared.layer_id))
                    .map(|m| m.span)
            })
        })
    }
}

/// What [`AuditHandle::preflight`] found in content it let through.
#[derive(Clone, Debug)]
pub struct Preflight {
    /// The content with what the policy redacts replaced by `<redacted:CATEGORY>`.
    pub redacted: String,
    /// What was found and done, by category (no values).
    pub report: crate::redact::Report,
}

/// Owns the running log. Dropping it flushes, syncs and joins the sequencer thread, like
/// `tracing_appender`'s `WorkerGuard`; keep it alive for as long as the program audits.
///
/// Like `WorkerGuard`, the drop waits at most a bound (10 s by default,
/// [`AuditLayerBuilder::drop_timeout`](crate::AuditLayerBuilder::drop_timeout)): a stalled
/// writer cannot hang the program's exit. When the bound passes, the drop says on stderr how many
/// records were not yet written; the sequencer keeps writing them in the background until the
/// process exits. Call [`shutdown`](Self::shutdown) to handle the outcome yourself.
#[must_use = "dropping the guard shuts the audit log down"]
pub struct AuditGuard {
    pub(super) handle: AuditHandle,
    pub(super) thread: Option<JoinHandle<()>>,
}

/// What a shutdown persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// The final, durable tip.
    pub head: ChainTip,
    /// Entries committed by this run.
    pub committed_entries: u64,
    /// Entries this run failed to persist.
    pub lost_entries: u64,
    /// Records refused because they arrived after shutdown began.
    pub refused_after_close: u64,
    /// Whether the checkpoint sinks were handed every checkpoint (the final one included)
    /// within the bound; `true` without sinks. When `false`, the sink thread keeps delivering
    /// in the background until the process exits.
    pub sinks_finished: bool,
}

impl AuditGuard {
    /// A cloneable handle for other parts of the program.
    pub fn handle(&self) -> AuditHandle {
        self.handle.clone()
    }

    /// Seals everything enqueued so far, syncs it and stops the sequencer, waiting at most
    /// `timeout`. Records that arrive later are refused and counted.
    pub fn shutdown(mut self, timeout: Duration) -> Result<ShutdownReport, Error> {
        self.stop(timeout).map_err(|(e, _)| e)
    }

    /// Stops the sequencer, waiting at most `timeout`; on failure, also how many records were
    /// still queued.
    fn stop(&mut self, timeout: Duration) -> Result<ShutdownReport, (Error, usize)> {
        let Some(thread) = self.thread.take() else {
            return Err((Error::Closed, 0));
        };
        let deadline = Instant::now() + timeout;
        let (tx, rx) = bounded(1);
        let shared = &self.handle.shared;
        // A shutdown request that found no room is not in the queue; one that was sent is.
        if let Err(e) = shared.queue.send_shutdown(tx, Some(deadline)) {
            return Err((e, shared.queue.len()));
        }
        let result = rx.recv_deadline(deadline).map_err(|e| match e {
            crossbeam_channel::RecvTimeoutError::Timeout => {
                (Error::Timeout, shared.queue.len().saturating_sub(1))
            }
            crossbeam_channel::RecvTimeoutError::Disconnected => (Error::Closed, 0),
        })?;
        let _ = thread.join();
        let head = result.map_err(|e| (e, 0))?;
        // The sequencer has let go of the sinks: their thread delivers what is left (the final
        // checkpoint) and exits, which disconnects `sink_done`.
        let sinks_finished = shared.sink_done.as_ref().is_none_or(|done| {
            !matches!(
                done.recv_deadline(deadline),
                Err(crossbeam_channel::RecvTimeoutError::Timeout)
            )
        });
        Ok(ShutdownReport {
            head,
            committed_entries: shared.log.committed_entries(),
            lost_entries: shared.log.lost_entries(),
            refused_after_close: shared.queue.refused_after_close(),
            sinks_finished,
        })
    }
}

impl std::ops::Deref for AuditGuard {
    type Target = AuditHandle;
    fn deref(&self) -> &AuditHandle {
        &self.handle
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        if self.thread.is_none() {
            return;
        }
        let shared = self.handle.shared.clone();
        match self.stop(shared.drop_timeout) {
            Ok(report) => {
                if report.lost_entries > 0 {
                    eprintln!(
                        "acttrace: {} audit entries of {} were not persisted (see the gap entry)",
                        report.lost_entries, shared.source
                    );
                }
                if !report.sinks_finished {
                    eprintln!(
                        "acttrace: the checkpoint sinks of {} did not take the last checkpoints \
                         within {:?} of dropping its guard; they are still being delivered in \
                         the background until the process exits",
                        shared.source, shared.drop_timeout
                    );
                }
            }
            Err((Error::Timeout, queued)) => eprintln!(
                "{}",
                drop_timeout_message(&shared.source, shared.drop_timeout, queued)
            ),
            Err((e, _)) => eprintln!(
                "acttrace: shutting down the audit log {} failed: {e}",
                shared.source
            ),
        }
    }
}

/// What a guard's drop says when the log was not written within its bound.
fn drop_timeout_message(source: &str, timeout: Duration, queued: usize) -> String {
    format!(
        "acttrace: the audit log {source} was not written within {timeout:?} of dropping its \
         guard: {queued} records were still queued, besides the batch being written; they are \
         not on the chain yet. The sequencer keeps writing in the background until the process \
         exits"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue #15 §4 (guard drop bound): the message names the log, the bound and the count.
    #[test]
    fn drop_timeout_message_says_what_was_not_written() {
        let m = drop_timeout_message("audit.jsonl", Duration::from_millis(250), 7);
        assert!(m.contains("audit.jsonl"), "{m}");
        assert!(m.contains("250ms"), "{m}");
        assert!(m.contains("7 records were still queued"), "{m}");
    }
}
