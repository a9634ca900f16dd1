//! # acttrace
//!
//! A [`tracing_subscriber::Layer`] that turns every AI decision a program makes into a
//! tamper-evident, hash-chained, optionally signed audit record, and an offline verifier.
//!
//! Mark decision functions with `#[instrument(skip_all, fields(audit.decision))]`. Spans with
//! that field are decisions; audit events under them (`llm_call!`, `tool_call!`, `oversight!`,
//! `policy_flag!`, `cost!`, `context!`) become chain entries carrying the decision's id, however
//! deep, across `.await` and into instrumented tasks. Each entry's hash covers the previous
//! one, so `acttrace verify` catches edits, reordering and deletion, and with an expected head
//! (or a signed export header) truncation too.
//!
//! Attach other layers' filters to those layers (`.with_filter(..)`), not to the whole
//! subscriber: a global filter hides decisions from the audit layer too (the layer reports and
//! chains each callsite it cannot see). Redaction protects the chain, not other layers:
//! [`filter::exclude_audit`] keeps audit records off a console.
//!
//! The on-disk format is `acttrace-chain/1`, byte-compatible with the Python and TypeScript
//! `cendor-acttrace` implementations. Further reading, in the crate's `docs/` directory
//! (shipped in the published package): `docs/FORMAT.md` (the format, precise enough to
//! implement a verifier), `docs/ARCHITECTURE.md` (how the layer, sequencer and verifier fit
//! together), `docs/EXPORT.md` (evidence packs and control mappings) and
//! `docs/PERFORMANCE.md`.
//!
//! A program's set-up: the audit layer beside a console layer, installed as the global
//! subscriber with `.init()`. The console's filters sit on the console layer (`.with_filter`),
//! never on the whole subscriber: a global filter (or `RUST_LOG` applied globally) would hide
//! decisions from the audit layer too.
//!
//! ```
//! use tracing::instrument;
//! use tracing_subscriber::prelude::*;
//!
//! #[instrument(skip_all, fields(audit.decision = "loan.approve", actor = "agent", input))]
//! fn approve(applicant: u64) -> bool {
//!     tracing::Span::current().record("input", applicant);
//!     acttrace::llm_call!(provider = "openai", model = "gpt-4o", input_tokens = 812u64, output_tokens = 64u64);
//!     acttrace::tool_call!(name = "credit_score", arguments = "{\"applicant\": 7}");
//!     acttrace::oversight!(reviewer = "ops@bank", action = "approved");
//!     true
//! }
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("audit.jsonl");
//! // In a program: .path("audit.jsonl").signing_key_from_env("ACTTRACE_KEY")
//! let (layer, guard) = acttrace::AuditLayer::builder()
//!     .system("loan-desk")
//!     .risk_tier(acttrace::RiskTier::High)
//!     .path(&path)
//!     .build()
//!     .unwrap();
//! let console = tracing_subscriber::fmt::layer()
//!     .with_filter(tracing_subscriber::filter::LevelFilter::WARN)
//!     .with_filter(acttrace::filter::exclude_audit());
//! tracing_subscriber::registry().with(console).with(layer).init();
//!
//! approve(7);
//! let tip = guard.flush().unwrap(); // keep `guard` alive until the program ends
//!
//! let report = acttrace::verify::verify_path(&path, &acttrace::verify::VerifyOptions {
//!     expected_head: Some(tip.head),
//!     ..Default::default()
//! }).unwrap();
//! assert!(report.ok(), "{}", report.summary());
//! ```
//!
//! Evidence to support compliance, never a compliance guarantee.

#![warn(missing_docs)]

mod capture;
pub mod chain;
pub mod checkpoint;
mod error;
#[cfg(feature = "export")]
pub mod export;
pub mod filter;
pub mod genai;
mod hex;
pub mod json;
mod macros;
#[cfg(feature = "nats")]
pub mod nats;
mod queue;
mod record;
pub mod redact;
mod segments;
mod sequencer;
mod small_file;
mod time;
pub mod verify;
pub mod writer;

#[doc(inline)]
pub use capture::{
    AuditGuard, AuditHandle, AuditLayer, AuditLayerBuilder, FlagAction, Preflight, RiskTier,
    ShutdownReport, Status,
};
#[doc(inline)]
pub use chain::{ChainTip, HashAlg, MIN_SIGNING_KEY_BYTES, RenderedEntry, SealedEntry, SigningKey};
#[doc(inline)]
pub use error::Error;
#[doc(inline)]
pub use queue::QueueFullPolicy;
#[doc(inline)]
pub use record::ChainedEntry;
#[doc(inline)]
pub use redact::Severity;
#[doc(inline)]
pub use sequencer::SyncPolicy;
#[doc(inline)]
pub use writer::{ChainWriter, JsonlFileWriter, MemoryWriter};

#[doc(hidden)]
pub use tracing as __tracing;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
