//! The layer's per-thread callsite cache (an ordinary event costs one load and a compare): what
//! it remembers about a callsite must never change what is captured, whatever the order in
//! which callsites are first seen, the subscriber they are seen under, the thread, or the
//! filters around the layer.

mod common;

use std::path::Path;

use acttrace::AuditLayer;
use common::*;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// One audit-event callsite, reached from everywhere below.
fn tool(name: &str) {
    acttrace::tool_call!(name = name);
}

/// One ordinary callsite, reached from everywhere below.
fn chatter(n: u64) {
    tracing::info!(n, "not audited");
}

/// One decision-span callsite.
fn decide(f: impl FnOnce()) {
    let d = tracing::info_span!("d", audit.decision = "fast-path");
    let _e = d.enter();
    f();
}

fn payload_names(es: &[serde_json::Value]) -> Vec<(String, bool)> {
    of_type(es, "tool_call")
        .iter()
        .map(|e| {
            (
                e["payload"]["name"].as_str().unwrap().to_owned(),
                e["payload"]["decision_id"].is_null(),
            )
        })
        .collect()
}

fn decision_ids(es: &[serde_json::Value]) -> Vec<serde_json::Value> {
    of_type(es, "decision")
        .iter()
        .map(|e| e["payload"]["decision_id"].clone())
        .collect()
}

#[test]
fn a_callsite_first_seen_outside_a_decision_is_captured_inside_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || {
        // Both callsites are classified (and cached) here, outside any decision.
        chatter(1);
        tool("outside");
        decide(|| {
            chatter(2);
            tool("inside");
        });
        chatter(3);
        tool("after");
    });
    let tip = guard.flush().unwrap();
    let es = entries(&path);
    assert_eq!(
        types(&es),
        [
            "audit_open",
            "tool_call",
            "decision",
            "tool_call",
            "decision_end",
            "tool_call"
        ]
    );
    assert_eq!(
        payload_names(&es),
        [
            ("outside".to_owned(), true),
            ("inside".to_owned(), false),
            ("after".to_owned(), true)
        ]
    );
    assert_eq!(es[3]["payload"]["decision_id"], decision_ids(&es)[0]);
    assert_eq!(guard.status().audit_events_outside_decisions, 2);
    assert_verifies(&path, &tip);
}

#[test]
fn an_ordinary_callsite_cached_first_does_not_hide_a_decision_opened_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || {
        for n in 0..3 {
            chatter(n);
        }
        for _ in 0..2 {
            decide(|| tool("in"));
        }
    });
    guard.flush().unwrap();
    let es = entries(&path);
    assert_eq!(
        types(&es),
        [
            "audit_open",
            "decision",
            "tool_call",
            "decision_end",
            "decision",
            "tool_call",
            "decision_end"
        ]
    );
    let ids = decision_ids(&es);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(es[2]["payload"]["decision_id"], ids[0]);
    assert_eq!(es[5]["payload"]["decision_id"], ids[1]);
}

/// Two subscribers on one thread (`with_default` nested in another) share the thread's cache:
/// each log gets exactly what was emitted under it.
#[test]
fn two_subscribers_with_default_on_one_thread_each_get_their_own_events() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let (sa, ga) = subscriber(&pa);
    let (sb, gb) = subscriber(&pb);
    let a = tracing::Dispatch::new(sa);
    let b = tracing::Dispatch::new(sb);
    tracing::dispatcher::with_default(&a, || {
        chatter(1);
        tool("a-outside");
        tracing::dispatcher::with_default(&b, || {
            chatter(2);
            decide(|| tool("b-inside"));
            tool("b-outside");
        });
        decide(|| {
            tool("a-inside");
            tracing::dispatcher::with_default(&b, || tool("b-under-a-decision"));
        });
    });
    ga.flush().unwrap();
    gb.flush().unwrap();
    let ea = entries(&pa);
    let eb = entries(&pb);
    assert_eq!(
        payload_names(&ea),
        [
            ("a-outside".to_owned(), true),
            ("a-inside".to_owned(), false)
        ]
    );
    // The decision open under `a` is not a span of `b`'s registry: under `b` the event is
    // outside any decision.
    assert_eq!(
        payload_names(&eb),
        [
            ("b-inside".to_owned(), false),
            ("b-outside".to_owned(), true),
            ("b-under-a-decision".to_owned(), true)
        ]
    );
    assert_eq!(decision_ids(&ea).len(), 1);
    assert_eq!(decision_ids(&eb).len(), 1);
}

/// Each thread classifies a callsite for itself: a callsite cached as an audit event on one
/// thread is captured on another that has never seen it, and an ordinary one stays ignored.
#[test]
fn callsites_cached_on_one_thread_are_classified_again_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    let dispatch = tracing::Dispatch::new(sub);
    tracing::dispatcher::with_default(&dispatch, || {
        chatter(1);
        tool("main");
    });
    std::thread::scope(|s| {
        s.spawn(|| {
            tracing::dispatcher::with_default(&dispatch, || {
                chatter(2);
                decide(|| tool("spawned"));
            })
        });
    });
    guard.flush().unwrap();
    let es = entries(&path);
    assert_eq!(
        payload_names(&es),
        [("main".to_owned(), true), ("spawned".to_owned(), false)]
    );
    assert_eq!(of_type(&es, "decision").len(), 1);
}

fn filtered_log(path: &Path, f: impl FnOnce()) -> Vec<serde_json::Value> {
    let (layer, guard) = AuditLayer::builder().path(path).build().unwrap();
    // A per-layer filter on the audit layer and another on a second layer: the audit layer's
    // filter hides DEBUG (so the DEBUG decision and event below do not reach it), the fmt
    // layer's hides everything below ERROR.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::sink)
        .with_filter(LevelFilter::ERROR);
    let sub = tracing_subscriber::registry()
        .with(layer.with_filter(LevelFilter::INFO))
        .with(fmt);
    tracing::subscriber::with_default(sub, f);
    guard.flush().unwrap();
    entries(path)
}

#[test]
fn per_layer_filters_decide_what_the_cached_callsites_deliver() {
    let dir = tempfile::tempdir().unwrap();
    let es = filtered_log(&dir.path().join("audit.jsonl"), || {
        chatter(1);
        tracing::debug!(n = 2, "debug chatter");
        decide(|| {
            chatter(3);
            tool("seen");
            acttrace::tool_call!(level: tracing::Level::DEBUG, name = "filtered out");
            tracing::error!("ordinary, to the fmt layer only");
        });
        let hidden = tracing::debug_span!("hidden", audit.decision = "debug");
        let _e = hidden.enter();
        tool("under a hidden decision");
    });
    assert_eq!(
        types(&es),
        [
            "audit_open",
            "decision",
            "tool_call",
            "decision_end",
            "tool_call"
        ]
    );
    assert_eq!(
        payload_names(&es),
        [
            ("seen".to_owned(), false),
            ("under a hidden decision".to_owned(), true)
        ]
    );
}

/// The decision of an event is looked up from the event's own span first, then its ancestors:
/// the same answer as walking the whole scope, for contextual events, explicit parents and
/// root events.
#[test]
fn events_find_their_decision_from_their_own_span_or_its_ancestors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || {
        let d = tracing::info_span!("d", audit.decision = "outer");
        let plain = tracing::info_span!(parent: &d, "plain");
        // Neither span is entered: the parents are explicit.
        tracing::event!(parent: &d, tracing::Level::INFO, audit.kind = "tool.call", name = "explicit-decision");
        tracing::event!(parent: &plain, tracing::Level::INFO, audit.kind = "tool.call", name = "explicit-plain");
        let _e = d.enter();
        let _p = plain.enter();
        tool("contextual-plain");
        tracing::event!(parent: None, tracing::Level::INFO, audit.kind = "tool.call", name = "root");
    });
    guard.flush().unwrap();
    let es = entries(&path);
    assert_eq!(
        payload_names(&es),
        [
            ("explicit-decision".to_owned(), false),
            ("explicit-plain".to_owned(), false),
            ("contextual-plain".to_owned(), false),
            ("root".to_owned(), true)
        ]
    );
    let d = &decision_ids(&es)[0];
    for e in of_type(&es, "tool_call").iter().take(3) {
        assert_eq!(&e["payload"]["decision_id"], d);
    }
}
