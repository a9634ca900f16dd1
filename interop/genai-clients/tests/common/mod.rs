//! Helpers shared by the interop tests: an audit log in a temporary directory, a tokio runtime
//! whose every thread sees the audit subscriber, clients pointed at the mock, the chain
//! entries, and both verifiers (acttrace's and the reference's).
#![allow(dead_code)]

use std::cell::RefCell;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::{AuditGuard, AuditLayer, ChainTip, SigningKey, Status};
use acttrace_genai_clients::mock_openai::{self, MockUsage};
use serde_json::{Value, json};
use tracing::Dispatch;
use tracing::dispatcher::DefaultGuard;
use tracing_subscriber::prelude::*;

/// The log's signing key.
pub const KEY: &str = "genai-clients-test-key";

/// How long one scenario may take before the test fails. Generous: it only catches a hang
/// (a client waiting on a reply that never comes), it synchronises nothing.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

/// The model the clients ask for; the mock answers with [`mock_openai::MOCK_MODEL`].
pub const REQUEST_MODEL: &str = "gpt-4o-mini";

/// An audit log in a temporary directory and a runtime to run client code in.
pub struct Audit {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    guard: AuditGuard,
    dispatch: Dispatch,
    rt: tokio::runtime::Runtime,
}

thread_local! {
    /// The audit subscriber as this runtime thread's default (see [`Audit::new`]).
    static THREAD_DEFAULT: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

impl Audit {
    /// A signed log and a 2-worker multi-thread runtime. The subscriber is made the default of
    /// every runtime thread (and of the thread that calls [`Audit::run`]), which is what a
    /// global default gives an application, while tests in one binary keep separate logs.
    pub fn new() -> Audit {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let path = dir.path().join("audit.jsonl");
        let (layer, guard) = AuditLayer::builder()
            .system("acttrace-genai-clients")
            .path(&path)
            .signing_key(SigningKey::from_bytes(KEY).unwrap())
            .build()
            .expect("build the audit layer");
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        let for_workers = dispatch.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                let default = tracing::dispatcher::set_default(&for_workers);
                THREAD_DEFAULT.with(|d| *d.borrow_mut() = Some(default));
            })
            .on_thread_stop(|| {
                THREAD_DEFAULT.with(|d| d.borrow_mut().take());
            })
            .build()
            .expect("build the tokio runtime");
        Audit {
            _dir: dir,
            path,
            guard,
            dispatch,
            rt,
        }
    }

    /// Runs `scenario` to completion on the runtime, failing the test if it takes longer than
    /// [`SCENARIO_TIMEOUT`].
    pub fn run<F: Future>(&self, what: &str, scenario: F) -> F::Output {
        tracing::dispatcher::with_default(&self.dispatch, || {
            self.rt
                .block_on(async { tokio::time::timeout(SCENARIO_TIMEOUT, scenario).await })
                .unwrap_or_else(|_| {
                    panic!("{what}: no result within {SCENARIO_TIMEOUT:?} (a client hung?)")
                })
        })
    }

    /// The log's health now.
    pub fn status(&self) -> Status {
        self.guard.status()
    }

    /// Shuts the runtime down (every span it held is closed), flushes the log and reads it.
    pub fn finish(self) -> Log {
        self.rt.shutdown_timeout(Duration::from_secs(10));
        let tip = self.guard.flush().expect("flush the audit log");
        let status = self.guard.status();
        let entries = std::fs::read_to_string(&self.path)
            .expect("read the audit log")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a log line is JSON"))
            .collect();
        Log {
            _dir: self._dir,
            path: self.path,
            tip,
            status,
            entries,
        }
    }
}

/// A flushed log.
pub struct Log {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub tip: ChainTip,
    pub status: Status,
    /// The log's lines, parsed with serde_json (independently of acttrace's parser).
    pub entries: Vec<Value>,
}

impl Log {
    /// The entry types in chain order.
    pub fn types(&self) -> Vec<&str> {
        self.entries
            .iter()
            .map(|e| e["type"].as_str().expect("an entry has a type"))
            .collect()
    }

    /// The payloads of the entries of one type, in chain order.
    pub fn payloads(&self, kind: &str) -> Vec<&Value> {
        self.entries
            .iter()
            .filter(|e| e["type"] == kind)
            .map(|e| &e["payload"])
            .collect()
    }

    /// The decision id of the only `decision` entry.
    pub fn decision_id(&self) -> Value {
        let decisions = self.payloads("decision");
        assert_eq!(
            decisions.len(),
            1,
            "one decision expected: {:#?}",
            self.entries
        );
        let id = decisions[0]["decision_id"].clone();
        assert!(id.is_string(), "decision_id: {id}");
        id
    }

    /// The log verifies with acttrace's verifier (signature key, expected head and entry
    /// count) and with the reference verifier.
    pub fn assert_verifies(&self) {
        let report = verify_path(
            &self.path,
            &VerifyOptions {
                key: Some(SigningKey::from_bytes(KEY).unwrap()),
                expected_head: Some(self.tip.head.clone()),
                expect_entries: Some(self.tip.next_seq),
                ..Default::default()
            },
        )
        .expect("read the log to verify it");
        assert!(report.ok(), "{}: {:#?}", report.summary(), report.problems);
        assert_eq!(report.entries, self.entries.len() as u64);
        if let Some(python) = reference_python() {
            let (ok, detail) =
                reference_verify(&python, &self.path, Some(KEY), Some(&self.tip.head));
            assert!(ok, "reference verifier: {detail}");
        }
    }

    /// Prints the entries (shown with `--nocapture` or when a test fails).
    pub fn dump(&self) {
        for e in &self.entries {
            println!("{e}");
        }
    }
}

/// What the `llm_call` for one mock reply must say, whichever client made the call.
pub fn assert_llm_call(llm: &Value, decision_id: &Value, usage: MockUsage, cost: &str) {
    assert_eq!(&llm["decision_id"], decision_id, "decision_id: {llm:#}");
    assert_eq!(llm["source"], "gen_ai", "{llm:#}");
    assert_eq!(llm["operation"], "chat", "{llm:#}");
    assert_eq!(llm["provider"], "openai", "{llm:#}");
    assert_eq!(llm["model"], mock_openai::MOCK_MODEL, "{llm:#}");
    assert_eq!(llm["request_model"], REQUEST_MODEL, "{llm:#}");
    assert_eq!(llm["response_model"], mock_openai::MOCK_MODEL, "{llm:#}");
    assert_eq!(
        llm["usage"]["input_tokens"], usage.prompt_tokens,
        "input tokens: {llm:#}"
    );
    assert_eq!(
        llm["usage"]["output_tokens"], usage.completion_tokens,
        "output tokens: {llm:#}"
    );
    assert_eq!(
        llm["usage"]["cached_tokens"], usage.cached_tokens,
        "cached tokens: {llm:#}"
    );
    assert_eq!(
        llm["usage"]["reasoning_tokens"], usage.reasoning_tokens,
        "reasoning tokens: {llm:#}"
    );
    assert_eq!(llm["cost"], cost, "cost: {llm:#}");
    assert_eq!(
        llm["cost_basis"],
        json!({
            "source": "price_table",
            "prices": "2026-08-02",
            "priced_as": "gpt-4o-mini",
            // The mock answers with the dated snapshot id, which the table prices as its base.
            "notes": ["gpt-4o-mini-2024-07-18 is not in the table: priced as gpt-4o-mini \
                       (provider prefix, version or date removed)"],
        }),
        "{llm:#}"
    );
    assert!(
        llm["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "latency_ms: {llm:#}"
    );
    assert_eq!(llm["semconv"], acttrace::genai::SEMCONV_VERSION, "{llm:#}");
}

// The costs of the two mock replies at the embedded prices for gpt-4o-mini ($0.15 per million
// fresh input tokens, $0.075 per million cached input tokens, $0.60 per million output tokens;
// fresh input = input - cached):
//
// tool-call reply: 57 in (12 cached), 17 out
//   (57 - 12) × 0.15 + 12 × 0.075 + 17 × 0.60 = 6.75 + 0.9 + 10.2 = 17.85 per million
//   = $0.00001785
// final reply: 90 in (32 cached), 12 out
//   (90 - 32) × 0.15 + 32 × 0.075 + 12 × 0.60 = 8.7 + 2.4 + 7.2 = 18.3 per million
//   = $0.0000183
/// The cost of the tool-call reply (see the computation above).
pub const TOOL_CALL_COST: &str = "0.00001785 USD";
/// The cost of the final reply (see the computation above).
pub const FINAL_COST: &str = "0.0000183 USD";

/// A genai client whose every model is served by the mock as OpenAI.
pub fn genai_client(server: &mock_openai::MockServer) -> genai::Client {
    use genai::adapter::AdapterKind;
    use genai::resolver::{AuthData, Endpoint, ServiceTargetResolver};
    use genai::{ModelIden, ServiceTarget};
    // genai joins "chat/completions" onto the endpoint with `Url::join`: it needs the slash.
    let endpoint = format!("{}/", server.base_url());
    let resolver = ServiceTargetResolver::from_resolver_fn(
        move |target: ServiceTarget| -> Result<ServiceTarget, genai::resolver::Error> {
            Ok(ServiceTarget {
                endpoint: Endpoint::from_owned(endpoint.clone()),
                auth: AuthData::from_single("sk-test-mock"),
                model: ModelIden::new(AdapterKind::OpenAI, target.model.model_name),
            })
        },
    );
    genai::Client::builder()
        .with_service_target_resolver(resolver)
        .build()
        .expect("build the genai client")
}

#[path = "../../../../tests/common/log_text.rs"]
mod log_text;
#[allow(unused_imports)] // Not every test binary that includes `common` searches the text.
pub use log_text::text_without_random_hex;

#[path = "../../../../tests/common/reference.rs"]
mod reference;
#[allow(unused_imports)] // Not every test binary that includes `common` runs the reference.
pub use reference::{reference_python, reference_verify};
