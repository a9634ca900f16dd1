//! The layer installed with `set_global_default`, as applications do: async decisions on a
//! multi-threaded runtime, and a chain writer that itself logs through `tracing` (re-entrancy:
//! the sequencer's own activity must never be audited, nor deadlock).
//!
//! One test per binary: the global default can be set once per process.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use acttrace::writer::{ChainWriter, Durability, ExistingChain, JsonlFileWriter};
use acttrace::{AuditLayer, Error, SealedEntry, SigningKey};
use common::*;
use tracing::{Instrument, instrument};
use tracing_subscriber::prelude::*;

/// A file writer that logs every commit through `tracing`, the way a storage client might.
struct ChattyWriter {
    inner: JsonlFileWriter,
    commits: Arc<AtomicU64>,
}

impl ChainWriter for ChattyWriter {
    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        self.inner.open(key)
    }
    fn append(&mut self, entry: &SealedEntry) {
        // An audit event emitted from inside the writer would recurse into the layer.
        acttrace::tool_call!(name = "writer-internal", seq = entry.seq);
        self.inner.append(entry)
    }
    fn commit(&mut self, d: Durability) -> std::io::Result<()> {
        self.commits.fetch_add(1, Ordering::Relaxed);
        tracing::info!(target: "storage", "committing batch");
        let span = tracing::info_span!("commit", audit.decision = "should-not-exist");
        let _e = span.enter();
        self.inner.commit(d)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[test]
fn global_default_async_attribution_and_reentrancy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let commits = Arc::new(AtomicU64::new(0));
    let writer = ChattyWriter {
        inner: JsonlFileWriter::new(&path),
        commits: commits.clone(),
    };
    let (layer, guard) = AuditLayer::builder()
        .system("global")
        .writer(writer)
        .build()
        .unwrap();
    tracing_subscriber::registry()
        .with(layer)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .init();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..20).map(|n| tokio::spawn(decide(n))).collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    drop(rt);
    let tip = guard.flush().unwrap();
    assert!(commits.load(Ordering::Relaxed) > 0);

    let es = entries(&path);
    assert!(
        es.iter().all(|e| e["payload"]["name"] != "writer-internal"
            && e["payload"]["name"] != "should-not-exist"),
        "the writer's own activity was audited"
    );
    let mut per_decision = std::collections::HashMap::new();
    for d in of_type(&es, "decision") {
        per_decision.insert(
            d["payload"]["decision_id"].as_str().unwrap().to_owned(),
            Vec::new(),
        );
    }
    assert_eq!(per_decision.len(), 20);
    for e in es
        .iter()
        .filter(|e| e["type"] != "decision" && e["type"] != "audit_open")
    {
        let id = e["payload"]["decision_id"]
            .as_str()
            .unwrap_or_else(|| panic!("unattributed: {e}"));
        per_decision
            .get_mut(id)
            .expect("a known decision")
            .push(e["payload"]["n"].as_u64());
    }
    for (_, ns) in per_decision {
        // llm_call, two tool calls, oversight carry n; decision_end does not.
        assert_eq!(ns.len(), 5);
        let n: Vec<_> = ns.iter().flatten().collect();
        assert_eq!(n.len(), 4);
        assert!(n.windows(2).all(|w| w[0] == w[1]), "{n:?}");
    }
    assert_verifies(&path, &tip);
    drop(guard);
}

#[instrument(skip_all, fields(audit.decision = "async"))]
async fn decide(n: u32) {
    tokio::time::sleep(Duration::from_millis(2)).await;
    acttrace::llm_call!(model = "m", n);
    // A task spawned with the current span.
    let a = tokio::spawn(
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            acttrace::tool_call!(name = "in-current-span", n);
        }
        .in_current_span(),
    );
    // A task instrumented with a child span of its own.
    let b = tokio::spawn(
        async move {
            tokio::task::yield_now().await;
            acttrace::tool_call!(name = "child-span", n);
        }
        .instrument(tracing::info_span!("worker")),
    );
    // A plain OS thread that enters the decision's span.
    let span = tracing::Span::current();
    let c = std::thread::spawn(move || {
        let _e = span.enter();
        acttrace::oversight!(reviewer = "thread", n);
    });
    a.await.unwrap();
    b.await.unwrap();
    c.join().unwrap();
}
