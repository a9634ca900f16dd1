//! The NATS JetStream writer and `nats://` reading against a real `nats-server` (Debian's
//! package; scripts/test.sh installs it). Each test starts its own server on 127.0.0.1, a random
//! port, JetStream on, a temporary store, and stops it by PID. Without the server the tests say
//! "skipped"; under CI they fail.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use acttrace::chain::{GENESIS, HashAlg, SealedEntry};
use acttrace::json::Value;
use acttrace::nats::NatsConfig;
use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::writer::{ChainWriter, Durability, NatsWriter};
use acttrace::{AuditLayer, SigningKey};
use tracing_subscriber::prelude::*;

use common::require;

const STREAM: &str = "AUDIT";
const KEY: &str = "nats-test-key-0123456789";

/// A `nats-server` child process, killed by PID when dropped.
struct Server {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    monitor: String,
}

fn nats_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

impl Server {
    /// Starts a server on a random port with a store in a new temporary directory; `None`
    /// (skipped) when nats-server is not installed.
    fn start(tmp: &Path) -> Option<Server> {
        require(nats_server(), "nats-server (apt-get install nats-server)")?;
        let dir = tmp.join("nats");
        std::fs::create_dir_all(&dir).unwrap();
        Some(Server::launch(&dir, None, &[]))
    }

    /// As [`start`](Self::start), with more server arguments.
    fn start_with(tmp: &Path, extra: &[&str]) -> Option<Server> {
        require(nats_server(), "nats-server (apt-get install nats-server)")?;
        let dir = tmp.join("nats");
        std::fs::create_dir_all(&dir).unwrap();
        Some(Server::launch(&dir, None, extra))
    }

    fn launch(dir: &Path, port: Option<u16>, extra: &[&str]) -> Server {
        let port_arg = port.map_or("-1".to_owned(), |p| p.to_string());
        let child = Command::new(nats_server().unwrap())
            .args(extra)
            .args(["-a", "127.0.0.1", "-p", &port_arg, "-m", "-1", "-js", "-sd"])
            .arg(dir.join("js"))
            .arg("--ports_file_dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let ports = dir.join(format!("nats-server_{}.ports", child.id()));
        let deadline = Instant::now() + Duration::from_secs(60);
        let v: serde_json::Value = loop {
            if let Some(v) = std::fs::read_to_string(&ports)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
            {
                break v;
            }
            assert!(Instant::now() < deadline, "nats-server wrote no ports file");
            std::thread::sleep(Duration::from_millis(20));
        };
        let client = v["nats"][0].as_str().unwrap().to_owned();
        let port: u16 = client.rsplit(':').next().unwrap().parse().unwrap();
        let monitor = v["monitoring"][0]
            .as_str()
            .unwrap()
            .trim_start_matches("http://")
            .to_owned();
        let s = Server {
            child: Some(child),
            dir: dir.to_owned(),
            port,
            monitor,
        };
        s.wait_healthy(deadline);
        s
    }

    /// Polls `/healthz?js-enabled-only=true` until the server says ok.
    fn wait_healthy(&self, deadline: Instant) {
        loop {
            let ok = TcpStream::connect(&self.monitor)
                .and_then(|mut c| {
                    c.write_all(
                        b"GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: localhost\r\n\r\n",
                    )?;
                    let mut body = String::new();
                    c.read_to_string(&mut body)?;
                    Ok(body.contains("\"ok\""))
                })
                .unwrap_or(false);
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server never became healthy"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn source(&self, rest: &str) -> String {
        format!("{}/{rest}", self.url())
    }

    /// SIGKILLs the server (its store stays; the page cache too).
    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal (`STOP`, `CONT`) to the server.
    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let ok = Command::new("kill")
            .args([format!("-{sig}"), pid])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{sig}");
        if sig == "STOP" {
            // A stop takes effect thread by thread: wait until every thread of the server is
            // stopped, so that nothing sent from now on is answered.
            let tasks = format!("/proc/{}/task", self.child.as_ref().unwrap().id());
            let deadline = Instant::now() + Duration::from_secs(60);
            while !std::fs::read_dir(&tasks).unwrap().all(|t| {
                let stat =
                    std::fs::read_to_string(t.unwrap().path().join("stat")).unwrap_or_default();
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t'))
            }) {
                assert!(Instant::now() < deadline, "the server never stopped");
                std::thread::yield_now();
            }
        }
    }

    /// Starts the server again on the same store and port.
    fn restart(&mut self) {
        self.kill9();
        let s = Server::launch(&self.dir.clone(), Some(self.port), &[]);
        self.child = Some(s.into_child());
    }

    fn into_child(mut self) -> Child {
        self.child.take().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn acttrace() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_acttrace"));
    c.env("ACTTRACE_TEST_KEY", KEY);
    c
}

fn run(args: &[&str]) -> Output {
    acttrace().args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn init_stream(server: &Server) {
    let o = run(&["nats", "init", "--url", &server.url(), "--stream", STREAM]);
    assert!(o.status.success(), "{}", text(&o));
}

fn key() -> SigningKey {
    SigningKey::from_bytes(KEY.as_bytes()).unwrap()
}

fn config(server: &Server, subject: &str, state: &Path) -> NatsConfig {
    NatsConfig::new(server.url(), STREAM, subject, state)
}

/// Writes `n` decisions through the layer to `subject`; returns the committed head.
fn write_decisions(cfg: NatsConfig, n: u64) -> acttrace::ChainTip {
    let (layer, guard) = AuditLayer::builder()
        .system("nats-test")
        .signing_key(key())
        .nats(cfg)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..n {
            let span =
                tracing::info_span!("decide", audit.decision = "loan.approve", applicant = i);
            let _e = span.enter();
            acttrace::tool_call!(name = "credit_score", arguments = %format!("{{\"applicant\": {i}}}"));
        }
    });
    let head = guard.handle().flush().unwrap();
    drop(guard);
    head
}

/// A raw client for what a writer never does (admin, forgeries, bad input).
struct Raw {
    rt: tokio::runtime::Runtime,
    client: async_nats::Client,
}

impl Raw {
    fn connect(server: &Server) -> Raw {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let client = rt.block_on(async_nats::connect(server.url())).unwrap();
        Raw { rt, client }
    }

    fn request(&self, subject: &str, body: serde_json::Value) -> serde_json::Value {
        let m = self
            .rt
            .block_on(
                self.client
                    .request(subject.to_owned(), body.to_string().into_bytes().into()),
            )
            .unwrap();
        serde_json::from_slice(&m.payload).unwrap()
    }

    fn publish(&self, subject: &str, headers: &[(&str, &str)], body: &[u8]) -> serde_json::Value {
        let mut map = async_nats::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, *v);
        }
        let m = self
            .rt
            .block_on(self.client.request_with_headers(
                subject.to_owned(),
                map,
                body.to_vec().into(),
            ))
            .unwrap();
        serde_json::from_slice(&m.payload).unwrap()
    }

    fn create_stream(&self, config: serde_json::Value) -> serde_json::Value {
        let name = config["name"].as_str().unwrap().to_owned();
        self.request(&format!("$JS.API.STREAM.CREATE.{name}"), config)
    }
}

/// Copies one chain out of the stream with `acttrace export`, as a JSONL pack.
fn export_chain(server: &Server, subject: &str, out: &Path) -> Output {
    run(&[
        "export",
        &server.source(&format!("{STREAM}/{subject}")),
        "--framework",
        "eu_ai_act",
        "--key-env",
        "ACTTRACE_TEST_KEY",
        "-o",
        out.to_str().unwrap(),
    ])
}

#[test]
fn round_trip_through_the_stream_verifies_and_an_edited_copy_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.host-1";
    let head = write_decisions(config(&server, subject, &tmp.path().join("state")), 20);
    assert!(head.next_seq > 40, "{head:?}");

    let o = run(&[
        "verify",
        &server.source(&format!("{STREAM}/{subject}")),
        "--key-env",
        "ACTTRACE_TEST_KEY",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains(&format!("{subject}: ok")), "{out}");
    assert!(out.contains(&head.head), "the head is reported: {out}");
    assert!(out.contains("1 chain(s): 1 ok, 0 failed"), "{out}");

    // Completeness against an out-of-band head: one chain only.
    let chain_source = server.source(&format!("{STREAM}/{subject}"));
    let o = run(&["verify", &chain_source, "--expect-head", &head.head]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&[
        "verify",
        &server.source(STREAM),
        "--expect-head",
        &head.head,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&[
        "verify",
        &chain_source,
        "--expect-entries",
        &(head.next_seq + 1).to_string(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a cut tail is caught: {}",
        text(&o)
    );

    // The whole stream, as JSON.
    let o = run(&["verify", &server.source(STREAM), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let chain = &doc["results"][0]["chains"][0];
    assert_eq!(chain["subject"], subject);
    assert_eq!(chain["entries"], head.next_seq);
    assert_eq!(chain["head"], head.head.as_str());

    // Exported to a file: our verifier and the reference's accept it; an edit is caught.
    let pack = tmp.path().join("pack.jsonl");
    let o = export_chain(&server, subject, &pack);
    assert!(o.status.success(), "{}", text(&o));
    let opts = VerifyOptions {
        key: Some(key()),
        expected_head: Some(head.head.clone()),
        ..VerifyOptions::default()
    };
    let r = verify_path(&pack, &opts).unwrap();
    assert!(r.ok(), "{}", r.summary());
    assert_eq!(r.entries, head.next_seq);
    if let Some(python) = require(
        common::reference_python(),
        "the reference verifier's venv (ACTTRACE_REFERENCE_PYTHON)",
    ) {
        let (ok, detail) = common::reference_verify(&python, &pack, Some(KEY), None);
        assert!(ok, "{detail}");
    }
    let edited = tmp.path().join("edited.jsonl");
    let original = std::fs::read_to_string(&pack).unwrap();
    let changed = original.replacen("\"applicant\": 7", "\"applicant\": 8", 1);
    assert_ne!(changed, original, "the edit must change the pack");
    std::fs::write(&edited, changed).unwrap();
    let r = verify_path(&edited, &opts).unwrap();
    assert!(!r.ok());
    assert!(r.summary().contains("tampered"), "{}", r.summary());
}

/// A subject's chain, exported to a file and parsed (for looking entries up).
fn chain_entries(server: &Server, subject: &str, dir: &Path) -> Vec<serde_json::Value> {
    let pack = dir.join(format!("{subject}.jsonl"));
    let o = export_chain(server, subject, &pack);
    assert!(o.status.success(), "{}", text(&o));
    common::entries(&pack)
        .into_iter()
        .filter(|e| e.get("_meta").is_none())
        .collect()
}

#[test]
fn a_second_writer_fences_the_first_which_stops_loudly() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.shared";
    let (layer_a, guard_a) = AuditLayer::builder()
        .system("a")
        .signing_key(key())
        .nats(config(&server, subject, &tmp.path().join("state-a")))
        .build()
        .unwrap();
    let sub_a = tracing::Dispatch::new(tracing_subscriber::registry().with(layer_a));
    let decide = |who: &str| {
        let span = tracing::info_span!("decide", audit.decision = "x", who = who);
        let _e = span.enter();
    };
    tracing::dispatcher::with_default(&sub_a, || decide("a-before"));
    let a_head = guard_a.handle().flush().unwrap();

    // B (another host: its own state file) opens the subject and claims it.
    let b_head = write_decisions(config(&server, subject, &tmp.path().join("state-b")), 2);
    assert!(b_head.next_seq > a_head.next_seq);

    // A writes on: its batch is refused, it stops for good and says why.
    tracing::dispatcher::with_default(&sub_a, || decide("a-after"));
    let err = guard_a.handle().flush().unwrap_err().to_string();
    assert!(err.contains("FENCED"), "{err}");
    let status = guard_a.handle().status();
    assert!(status.lost_entries > 0, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("FENCED"),
        "{status:?}"
    );
    drop(guard_a);

    // The stream holds A's first entries then B's, one verified chain, none of A's later.
    let entries = chain_entries(&server, subject, tmp.path());
    assert_eq!(entries.len() as u64, b_head.next_seq);
    assert_eq!(entries.last().unwrap()["hash"], b_head.head.as_str());
    assert!(
        !entries.iter().any(|e| e["payload"]["who"] == "a-after"),
        "a fenced writer's batch must not be stored"
    );
    let resumes = entries
        .iter()
        .filter(|e| e["type"] == "audit_resume")
        .count();
    assert_eq!(resumes, 1, "B's claim is chained");
}

#[test]
fn streams_that_let_entries_go_are_refused_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    let raw = Raw::connect(&server);
    let base = acttrace::nats::stream_config(&acttrace::nats::StreamSettings::new("X"));
    type Changes<'a> = &'a [(&'a str, serde_json::Value)];
    let cases: [(&str, Changes, &str); 3] = [
        (
            "DELETABLE",
            &[("deny_delete", serde_json::json!(false))],
            "deny_delete",
        ),
        (
            "FLOODABLE",
            &[
                ("discard", serde_json::json!("old")),
                ("max_msgs", serde_json::json!(1000)),
            ],
            "discard",
        ),
        (
            "VOLATILE",
            &[("storage", serde_json::json!("memory"))],
            "storage",
        ),
    ];
    for (i, (name, changes, word)) in cases.iter().enumerate() {
        let mut c = base.clone();
        c["name"] = (*name).into();
        c["subjects"] = serde_json::json!([format!("bad{i}.>")]);
        for (k, v) in *changes {
            c[*k] = v.clone();
        }
        let answer = raw.create_stream(c);
        assert!(answer.get("error").is_none(), "{answer}");
        let cfg = NatsConfig::new(
            server.url(),
            *name,
            format!("bad{i}.app.one"),
            tmp.path().join(format!("state-{i}")),
        );
        let err = AuditLayer::builder()
            .system("s")
            .nats(cfg)
            .build()
            .err()
            .unwrap_or_else(|| panic!("{name} must be refused"))
            .to_string();
        assert!(
            err.contains("not append-only") && err.contains(word),
            "{name}: {err}"
        );
        // The admin step checks an existing stream rather than change it.
        let o = run(&["nats", "init", "--url", &server.url(), "--stream", name]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {out}");
        assert!(out.contains(word), "{name}: {out}");
    }
}

#[test]
fn a_chain_that_went_backwards_from_what_this_host_wrote_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.host-b";
    let state = tmp.path().join("state");
    write_decisions(config(&server, subject, &state), 2);
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let reopen = || {
        AuditLayer::builder()
            .system("s")
            .signing_key(key())
            .nats(config(&server, subject, &state))
            .build()
            .err()
            .map(|e| e.to_string())
    };
    // The host acknowledged more than the subject now holds.
    let mut ahead = recorded.clone();
    ahead["stream_seq"] = (recorded["stream_seq"].as_u64().unwrap() + 5).into();
    std::fs::write(&state, ahead.to_string()).unwrap();
    let err = reopen().expect("a subject behind the host's record must be refused");
    assert!(err.contains("went backwards"), "{err}");
    // The message at the recorded stream seq is not the batch the host wrote there.
    let mut other = recorded.clone();
    other["head"] = "0".repeat(64).into();
    std::fs::write(&state, other.to_string()).unwrap();
    let err = reopen().expect("another head at the recorded seq must be refused");
    assert!(err.contains("does not hold the batch"), "{err}");
    // The true record reopens and continues the chain.
    std::fs::write(&state, recorded.to_string()).unwrap();
    assert_eq!(reopen(), None);
}

#[test]
fn a_recreated_stream_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.host-r";
    let state = tmp.path().join("state");
    write_decisions(config(&server, subject, &state), 2);
    // An admin deletes the stream (deny_delete does not stop that) and makes a new one.
    let raw = Raw::connect(&server);
    let answer = raw.request(
        &format!("$JS.API.STREAM.DELETE.{STREAM}"),
        serde_json::json!({}),
    );
    assert_eq!(answer["success"], true, "{answer}");
    init_stream(&server);
    let err = AuditLayer::builder()
        .system("s")
        .nats(config(&server, subject, &state))
        .build()
        .err()
        .expect("a recreated stream must be refused")
        .to_string();
    assert!(err.contains("recreated"), "{err}");
}

/// One hand-sealed entry.
fn entry(seq: u64, prev: &str, note: &str) -> SealedEntry {
    let kind = if seq == 0 { "audit_open" } else { "decision" };
    let payload = if seq == 0 {
        serde_json::json!({"system": "s", "risk_tier": "limited", "format": "acttrace-chain/1", "producer": "test"})
    } else {
        serde_json::json!({"decision_id": null, "note": note})
    };
    SealedEntry::seal(
        HashAlg::Sha256,
        None,
        seq,
        "2026-12-01T00:00:00.000000+00:00".into(),
        kind.into(),
        Value::from(&payload),
        prev.into(),
    )
}

#[test]
fn a_forged_message_id_from_another_client_does_not_make_a_batch_vanish() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.victim";
    let mut w = NatsWriter::connect(config(&server, subject, &tmp.path().join("state"))).unwrap();
    assert!(w.open(None).unwrap().is_none());
    let e0 = entry(0, GENESIS, "");
    let e1 = entry(1, &e0.hash, "first batch");
    w.append(&e0);
    w.append(&e1);
    // Another client stores a message under the id this batch will carry.
    let raw = Raw::connect(&server);
    let id = format!("{subject}:0:{}", e1.hash);
    let ack = raw.publish(
        "acttrace.other.forger",
        &[("Nats-Msg-Id", id.as_str())],
        b"not yours\n",
    );
    assert!(ack["seq"].as_u64().is_some(), "{ack}");
    w.commit(Durability::Synced).unwrap();
    assert_eq!(w.stopped(), None);

    let o = run(&["verify", &server.source(&format!("{STREAM}/{subject}"))]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains(&e1.hash), "{out}");
}

#[test]
fn non_chain_truncated_and_foreign_messages_are_named_by_subject_and_stream_seq() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let raw = Raw::connect(&server);
    let e0 = entry(0, GENESIS, "");
    let e1 = entry(1, &e0.hash, "x");
    let lines = format!("{}{}", e0.to_line(), e1.to_line());
    let headers = |subject: &str, head: &str| {
        vec![
            ("Nats-Msg-Id".to_owned(), format!("{subject}:0:{head}")),
            ("Acttrace-Head".to_owned(), head.to_owned()),
            ("Acttrace-First-Seq".to_owned(), "0".to_owned()),
        ]
    };
    let publish = |subject: &str, hs: Vec<(String, String)>, body: &[u8]| {
        let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let ack = raw.publish(subject, &hs, body);
        ack["seq"].as_u64().unwrap()
    };
    // Not a chain at all.
    let s1 = publish("acttrace.bad.junk", vec![], b"hello\n");
    // A batch cut short.
    let cut = &lines.as_bytes()[..lines.len() - 40];
    let s2 = publish(
        "acttrace.bad.cut",
        headers("acttrace.bad.cut", &e1.hash),
        cut,
    );
    // Another chain's batch copied onto this subject.
    let s3 = publish(
        "acttrace.bad.copied",
        headers("acttrace.bad.original", &e1.hash),
        lines.as_bytes(),
    );
    // And one good chain.
    let s4 = publish(
        "acttrace.good.one",
        headers("acttrace.good.one", &e1.hash),
        lines.as_bytes(),
    );
    for (subject, seq, words) in [
        ("acttrace.bad.junk", s1, "not an acttrace batch"),
        ("acttrace.bad.cut", s2, "truncated batch"),
        ("acttrace.bad.copied", s3, "message of another chain"),
    ] {
        let o = run(&["verify", &server.source(&format!("{STREAM}/{subject}"))]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{subject}: {out}");
        assert!(
            out.contains(words) && out.contains(&format!("subject {subject}, stream seq {seq}")),
            "{subject}: {out}"
        );
        assert!(!out.contains("panicked"), "{out}");
    }
    let o = run(&[
        "verify",
        &server.source(&format!("{STREAM}/acttrace.good.one")),
    ]);
    assert!(o.status.success(), "stream seq {s4}: {}", text(&o));
    // The whole stream: one line per chain, the total, exit 1.
    let o = run(&["verify", &server.source(STREAM)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("4 chain(s): 1 ok, 3 failed"), "{out}");
}

/// The child side of the tests that run writer processes: writes to the subject in
/// `ACTTRACE_NATS_CHILD`. Not a test of its own (ignored); the parents run it with `--ignored`.
#[test]
#[ignore = "the writer process of other tests, run by them"]
fn child_writer() {
    let spec = std::env::var("ACTTRACE_NATS_CHILD")
        .expect("run by the fleet tests, with ACTTRACE_NATS_CHILD set");
    let v: serde_json::Value = serde_json::from_str(&spec).unwrap();
    let cfg = NatsConfig::new(
        v["url"].as_str().unwrap(),
        STREAM,
        v["subject"].as_str().unwrap(),
        v["state"].as_str().unwrap(),
    );
    if v["mode"] == "stepwise" {
        return stepwise_child(cfg);
    }
    let head = write_decisions(cfg, 25);
    println!("\nACTTRACE_HEAD {} {}", head.next_seq, head.head);
}

/// Writes one decision per line read from stdin, flushing each and printing
/// `ACTTRACE_DURABLE <next seq> <head>` once it is acknowledged.
fn stepwise_child(mut cfg: NatsConfig) {
    cfg.client.request_timeout = Duration::from_millis(300);
    let (layer, guard) = AuditLayer::builder()
        .system("stepwise")
        .signing_key(key())
        .nats(cfg)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    for (round, line) in std::io::stdin().lock().lines().enumerate() {
        if line.unwrap() == "quit" {
            break;
        }
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("decide", audit.decision = "x", round = round as u64);
            let _e = span.enter();
        });
        let tip = guard.handle().flush().unwrap();
        println!("\nACTTRACE_DURABLE {} {}", tip.next_seq, tip.head);
    }
}

#[test]
fn eight_writer_processes_make_eight_verified_chains() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let me = std::env::current_exe().unwrap();
    let children: Vec<(String, Child)> = (0..8)
        .map(|i| {
            let subject = format!("acttrace.fleet.host-{i}");
            let spec = serde_json::json!({
                "url": server.url(),
                "subject": subject,
                "state": tmp.path().join(format!("state-{i}")),
            });
            let child = Command::new(&me)
                .args([
                    "--ignored",
                    "--exact",
                    "child_writer",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env("ACTTRACE_NATS_CHILD", spec.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (subject, child)
        })
        .collect();
    let mut heads = Vec::new();
    for (subject, child) in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{subject}: {}", text(&o));
        let line = BufReader::new(&o.stdout[..])
            .lines()
            .map_while(Result::ok)
            .find(|l| l.starts_with("ACTTRACE_HEAD "))
            .unwrap_or_else(|| panic!("{subject}: {}", text(&o)));
        heads.push((subject, line.split(' ').nth(2).unwrap().to_owned()));
    }
    let o = run(&[
        "verify",
        &server.source(STREAM),
        "--key-env",
        "ACTTRACE_TEST_KEY",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("8 chain(s): 8 ok, 0 failed"), "{out}");
    for (subject, head) in heads {
        assert!(
            out.lines()
                .any(|l| l.starts_with(&format!("{subject}: ok")) && l.contains(&head)),
            "{subject} {head}: {out}"
        );
    }
}

#[test]
fn acknowledged_entries_survive_a_server_sigkill_and_writing_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.crashy";
    let mut cfg = config(&server, subject, &tmp.path().join("state"));
    cfg.client.request_timeout = Duration::from_secs(2);
    let (layer, guard) = AuditLayer::builder()
        .system("crashy")
        .signing_key(key())
        .nats(cfg)
        .build()
        .unwrap();
    let sub = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let handle = guard.handle();
    let mut durable = Vec::new();
    let write = |round: u64| {
        tracing::dispatcher::with_default(&sub, || {
            let span = tracing::info_span!("decide", audit.decision = "x", round = round);
            let _e = span.enter();
        });
        handle.flush()
    };
    for round in 0..5 {
        durable.push(write(round).unwrap());
    }
    server.kill9();
    // Entries written while the server is down are republished until it answers.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let h2 = guard.handle();
    let sub2 = sub.clone();
    let writer = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&sub2, || {
            let span = tracing::info_span!("decide", audit.decision = "x", round = 99u64);
            let _e = span.enter();
        });
        let r = h2.flush();
        done_tx.send(()).unwrap();
        r
    });
    server.restart();
    let during = writer.join().unwrap().unwrap();
    done_rx.recv().unwrap();
    durable.push(during);
    for round in 5..8 {
        durable.push(write(round).unwrap());
    }
    drop(guard);

    let entries = chain_entries(&server, subject, tmp.path());
    for tip in &durable {
        let e = &entries[(tip.next_seq - 1) as usize];
        assert_eq!(
            e["hash"],
            tip.head.as_str(),
            "acknowledged entry lost: {tip:?}"
        );
    }
    assert_eq!(
        entries.last().unwrap()["hash"],
        durable.last().unwrap().head.as_str()
    );
    let o = run(&[
        "verify",
        &server.source(&format!("{STREAM}/{subject}")),
        "--key-env",
        "ACTTRACE_TEST_KEY",
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

/// The lines a child prints, from both its stdout and stderr, as they come.
fn child_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let out: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
    let err: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
    for pipe in [out, err] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    rx
}

/// Waits for a line containing `want`; fails on a line containing `not_before` first, or when
/// the child's output ends.
fn wait_line(lines: &std::sync::mpsc::Receiver<String>, want: &str, not_before: &str) -> String {
    loop {
        let line = lines
            .recv()
            .unwrap_or_else(|_| panic!("the child ended before printing {want:?}"));
        if line.contains(want) {
            return line;
        }
        assert!(
            not_before.is_empty() || !line.contains(not_before),
            "{not_before:?} before {want:?}: {line}"
        );
    }
}

#[test]
fn a_batch_that_timed_out_and_lands_late_is_neither_duplicated_nor_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.late";
    let spec = serde_json::json!({
        "url": server.url(),
        "subject": subject,
        "state": tmp.path().join("state"),
        "mode": "stepwise",
    });
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_writer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("ACTTRACE_NATS_CHILD", spec.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = child_lines(&mut child);
    let mut durable = Vec::new();
    writeln!(stdin, "go").unwrap();
    durable.push(wait_line(&lines, "ACTTRACE_DURABLE", ""));
    // The server stops answering: the next batch's publish times out and is republished...
    server.signal("STOP");
    writeln!(stdin, "go").unwrap();
    wait_line(&lines, "no answer for the batch", "ACTTRACE_DURABLE");
    // ...and when the server resumes, the first copy lands late and the retry meets it.
    server.signal("CONT");
    durable.push(wait_line(&lines, "ACTTRACE_DURABLE", ""));
    writeln!(stdin, "go").unwrap();
    durable.push(wait_line(&lines, "ACTTRACE_DURABLE", ""));
    writeln!(stdin, "quit").unwrap();
    assert!(child.wait().unwrap().success());

    let entries = chain_entries(&server, subject, tmp.path());
    let last: Vec<&str> = durable.last().unwrap().split(' ').collect();
    assert_eq!(
        entries.len().to_string(),
        last[1],
        "no batch stored twice or lost"
    );
    for d in &durable {
        let parts: Vec<&str> = d.split(' ').collect();
        let seq: usize = parts[1].parse().unwrap();
        assert_eq!(entries[seq - 1]["hash"], parts[2], "{d}");
    }
    let o = run(&["verify", &server.source(&format!("{STREAM}/{subject}"))]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn with_the_server_down_fail_closed_callers_wait_and_fail_open_drops_are_chained_as_a_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let layer = |subject: &str, policy: acttrace::QueueFullPolicy| {
        let mut cfg = config(&server, subject, &tmp.path().join(subject));
        cfg.client.request_timeout = Duration::from_millis(500);
        let (layer, guard) = AuditLayer::builder()
            .system("down")
            .signing_key(key())
            .queue_capacity(8)
            .queue_full(policy)
            .nats(cfg)
            .build()
            .unwrap();
        (
            tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
            guard,
        )
    };
    let (closed, closed_guard) = layer("acttrace.down.closed", acttrace::QueueFullPolicy::Block);
    let (open, open_guard) = layer(
        "acttrace.down.open",
        acttrace::QueueFullPolicy::DropAndRecord,
    );
    let emit = |d: &tracing::Dispatch, n: u64| {
        tracing::dispatcher::with_default(d, || {
            for i in 0..n {
                acttrace::tool_call!(name = "t", arguments = %i);
            }
        })
    };
    closed_guard.handle().flush().unwrap();
    open_guard.handle().flush().unwrap();
    server.kill9();

    // Fail open: records are dropped once the queue is full, and counted.
    let mut emitted = 0u64;
    while open_guard.handle().status().dropped_when_full == 0 {
        emit(&open, 1);
        emitted += 1;
        assert!(emitted < 1_000_000, "the queue never filled");
    }
    // Fail closed: a caller writes on while the server is down; the queue fills (the
    // sequencer is stuck republishing) and the caller waits for room.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (closed2, stop2) = (closed.clone(), stop.clone());
    let caller = std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
            emit(&closed2, 1);
            n += 1;
        }
        n
    });
    while closed_guard.handle().status().queue_len < 8 {
        assert!(!caller.is_finished());
        std::thread::yield_now();
    }
    server.restart();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let closed_emitted = caller.join().unwrap();
    let closed_head = closed_guard.handle().flush().unwrap();
    let open_head = open_guard.handle().flush().unwrap();
    let dropped = open_guard.handle().status().dropped_when_full;
    assert_eq!(closed_guard.handle().status().lost_entries, 0);
    drop((closed_guard, open_guard));

    let closed_entries = chain_entries(&server, "acttrace.down.closed", tmp.path());
    assert_eq!(closed_entries.len() as u64, closed_head.next_seq);
    let calls = closed_entries
        .iter()
        .filter(|e| e["type"] == "tool_call")
        .count();
    assert_eq!(
        calls as u64, closed_emitted,
        "every record of a fail-closed caller is stored"
    );

    let open_entries = chain_entries(&server, "acttrace.down.open", tmp.path());
    assert_eq!(
        open_entries.last().unwrap()["hash"],
        open_head.head.as_str()
    );
    let gap_dropped: u64 = open_entries
        .iter()
        .filter(|e| e["type"] == "gap")
        .filter_map(|e| e["payload"]["dropped_entries"].as_u64())
        .sum();
    assert_eq!(gap_dropped, dropped, "the drops are chained as a gap");
    let calls = open_entries
        .iter()
        .filter(|e| e["type"] == "tool_call")
        .count() as u64;
    assert_eq!(
        calls + dropped,
        emitted,
        "each record is stored or counted as dropped"
    );
}

#[test]
fn credentials_come_from_the_environment_and_are_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let password = "s3cret-pa55word";
    let Some(server) = Server::start_with(tmp.path(), &["--user", "auditor", "--pass", password])
    else {
        return;
    };
    let with_creds = |args: &[&str]| {
        acttrace()
            .env("ACTTRACE_NATS_USER", "auditor")
            .env("ACTTRACE_NATS_PASSWORD", password)
            .args(args)
            .output()
            .unwrap()
    };
    let init = ["nats", "init", "--url", &server.url(), "--stream", STREAM];
    let o = with_creds(&init);
    assert!(o.status.success(), "{}", text(&o));
    let source = server.source(STREAM);
    // No chain yet: nothing to verify (exit 2), but the stream was read.
    let o = with_creds(&["verify", &source]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("holds no chain"), "{}", text(&o));
    let o = run(&["verify", &source]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("cannot connect"), "{out}");
    let o = acttrace()
        .env("ACTTRACE_NATS_USER", "auditor")
        .env("ACTTRACE_NATS_PASSWORD", "wrong-password")
        .args(["verify", &source])
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        !out.contains("wrong-password") && !out.contains(password),
        "{out}"
    );
}

#[test]
fn a_layer_built_inside_an_async_runtime_writes_to_the_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.async";
    let cfg = config(&server, subject, &tmp.path().join("state"));
    // As in `#[tokio::main]`: the writer's own runtime must not be blocked on from inside it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let head = rt.block_on(async move {
        let writer = NatsWriter::connect(cfg).unwrap();
        let (layer, guard) = AuditLayer::builder()
            .system("async")
            .writer(writer)
            .build()
            .unwrap();
        let d = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        tracing::dispatcher::with_default(&d, || {
            let span = tracing::info_span!("decide", audit.decision = "x");
            let _e = span.enter();
        });
        let head = guard.handle().flush().unwrap();
        drop(guard);
        head
    });
    let o = run(&[
        "verify",
        &server.source(&format!("{STREAM}/{subject}")),
        "--expect-head",
        &head.head,
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn two_writers_starting_the_same_new_chain_cannot_fork_it() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.twin";
    let mut a = NatsWriter::connect(config(&server, subject, &tmp.path().join("a"))).unwrap();
    let mut b = NatsWriter::connect(config(&server, subject, &tmp.path().join("b"))).unwrap();
    assert!(a.open(None).unwrap().is_none());
    assert!(b.open(None).unwrap().is_none());
    let a0 = entry(0, GENESIS, "");
    let b0 = entry(0, GENESIS, "");
    let b1 = entry(1, &b0.hash, "b's decision");
    a.append(&a0);
    a.commit(Durability::Synced).unwrap();
    // B also expected an empty subject: its genesis is refused, and it stops.
    b.append(&b0);
    b.append(&b1);
    let err = b.commit(Durability::Synced).unwrap_err().to_string();
    assert!(err.contains("FENCED"), "{err}");
    assert!(b.stopped().is_some());
    let o = run(&["verify", &server.source(&format!("{STREAM}/{subject}"))]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("ok: 1 entries"), "{out}");
}

/// Writes `n` decisions to `subject` with checkpoints signed by the worked example's key and
/// published to the checkpoint stream; returns the committed head.
fn write_checkpointed(cfg: NatsConfig, n: u64) -> Result<acttrace::ChainTip, acttrace::Error> {
    use acttrace::nats::{CHECKPOINT_STREAM, NatsCheckpointSink};
    let sink = NatsCheckpointSink::for_chain(&cfg, CHECKPOINT_STREAM);
    let (layer, guard) = AuditLayer::builder()
        .system("nats-test")
        .signing_key(key())
        .checkpoint_key(common::checkpoints::example_signer())
        .checkpoint_every(4, Duration::from_secs(3600))
        .checkpoint_sink(sink)
        .nats(cfg)
        .build()?;
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..n {
            let span = tracing::info_span!("decide", audit.decision = "loan.approve", i = i);
            let _e = span.enter();
        }
    });
    let head = guard.handle().flush().unwrap();
    // Dropping the guard waits for the sink thread: the last checkpoint is published.
    drop(guard);
    Ok(head)
}

/// The last checkpoint note on the chain's checkpoint subject, read from the stream's leader.
fn latest_checkpoint(server: &Server, subject: &str) -> acttrace::checkpoint::Checkpoint {
    use base64::Engine;
    let raw = Raw::connect(server);
    let cp_subject = acttrace::nats::checkpoint_subject(subject);
    let answer = raw.request(
        &format!(
            "$JS.API.STREAM.MSG.GET.{}",
            acttrace::nats::CHECKPOINT_STREAM
        ),
        serde_json::json!({ "last_by_subj": cp_subject }),
    );
    let data = base64::engine::general_purpose::STANDARD
        .decode(
            answer["message"]["data"]
                .as_str()
                .expect("a checkpoint message"),
        )
        .unwrap();
    let note = String::from_utf8(data).unwrap();
    acttrace::checkpoint::Checkpoint::from_note(&note, &[common::checkpoints::example_vkey()])
        .unwrap()
}

#[test]
fn checkpoints_go_to_their_own_stream_verify_with_vkey_and_a_reopened_chain_continues_the_tree() {
    use acttrace::checkpoint::{consistency_proof, root_of, verify_consistency};
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.host-cp";
    let state = tmp.path().join("state");
    write_checkpointed(config(&server, subject, &state), 10).unwrap();
    let first = latest_checkpoint(&server, subject);
    let entries = chain_entries(&server, subject, tmp.path());
    let last_cp = entries.iter().rfind(|e| e["type"] == "checkpoint").unwrap();
    assert_eq!(last_cp["seq"].as_u64(), Some(first.size), "{last_cp}");
    // The stream verifies with the checkpoint key, and says what the checkpoints cover.
    let vkey = common::checkpoints::example_vkey_text();
    let o = run(&[
        "verify",
        &server.source(STREAM),
        "--key-env",
        "ACTTRACE_TEST_KEY",
        "--vkey",
        &vkey,
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let cps = entries.iter().filter(|e| e["type"] == "checkpoint").count();
    assert!(
        out.contains(&if cps == 1 {
            "1 checkpoint verified".to_owned()
        } else {
            format!("{cps} checkpoints verified")
        }),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "checkpoint stream ACTTRACE_CHECKPOINTS: latest at tree size {}",
            first.size
        )) && out.contains("consistent with the latest checkpoint in stream ACTTRACE_CHECKPOINTS"),
        "{out}"
    );

    // Reopened, the chain continues the same tree: a later checkpoint is consistent with the
    // earlier one.
    write_checkpointed(config(&server, subject, &state), 6).unwrap();
    let second = latest_checkpoint(&server, subject);
    assert!(second.size > first.size, "{} {}", second.size, first.size);
    let again = tmp.path().join("again");
    std::fs::create_dir(&again).unwrap();
    let entries = chain_entries(&server, subject, &again);
    let leaves: Vec<[u8; 32]> = entries
        .iter()
        .map(|e| {
            let h = e["hash"].as_str().unwrap();
            let mut leaf = [0u8; 32];
            for (i, b) in leaf.iter_mut().enumerate() {
                *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
            }
            leaf
        })
        .collect();
    assert_eq!(root_of(&leaves[..second.size as usize]), second.root);
    let proof = consistency_proof(&leaves, first.size, second.size).unwrap();
    verify_consistency(first.size, second.size, &first.root, &second.root, &proof).unwrap();
}

#[test]
fn a_recreated_entry_stream_is_refused_by_the_checkpoint_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.host-cr";
    let state = tmp.path().join("state");
    write_checkpointed(config(&server, subject, &state), 5).unwrap();
    let held = latest_checkpoint(&server, subject);
    // An admin deletes the entry stream and makes a new one; the host's state file is lost
    // too (a new host, a wiped disk): only the checkpoint stream remembers the chain.
    let raw = Raw::connect(&server);
    let answer = raw.request(
        &format!("$JS.API.STREAM.DELETE.{STREAM}"),
        serde_json::json!({}),
    );
    assert_eq!(answer["success"], true, "{answer}");
    std::fs::remove_file(&state).unwrap();
    init_stream(&server);
    let err = write_checkpointed(config(&server, subject, &state), 1)
        .expect_err("a chain restarting below the checkpoint stream's checkpoint must be refused");
    assert!(
        matches!(err, acttrace::Error::CheckpointConflict { .. }),
        "{err}"
    );
    let err = err.to_string();
    assert!(
        err.contains(&format!("covers {} entries", held.size)) && err.contains("holds only 0"),
        "{err}"
    );
    // Nothing was written: the new stream holds no chain.
    let o = run(&["verify", &server.source(STREAM)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A writer without checkpoints restarts the chain at genesis anyway: an auditor's verify
    // reads the checkpoint stream with the chain and catches it.
    write_decisions(config(&server, subject, &tmp.path().join("state2")), 1);
    let vkey = common::checkpoints::example_vkey_text();
    let o = run(&[
        "verify",
        &server.source(STREAM),
        "--key-env",
        "ACTTRACE_TEST_KEY",
        "--vkey",
        &vkey,
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("log shorter than the latest checkpoint in stream ACTTRACE_CHECKPOINTS")
            && out.contains(&format!("latest at tree size {}", held.size)),
        "{out}"
    );
}

#[test]
fn summary_and_export_of_a_whole_stream_give_one_block_and_one_pack_per_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subjects = ["acttrace.loans.host-a", "acttrace.claims.host-b"];
    let heads: Vec<_> = subjects
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let state = tmp.path().join(format!("state-{i}"));
            write_decisions(config(&server, s, &state), 2 + i as u64)
        })
        .collect();
    let stream = server.source(STREAM);

    let o = run(&["summary", &stream, "--key-env", "ACTTRACE_TEST_KEY"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for s in subjects {
        assert_eq!(out.matches(&format!("== {s}\n")).count(), 1, "{out}");
    }
    assert!(
        out.contains(&format!("{stream}: 2 chain(s): 2 ok, 0 failed")),
        "{out}"
    );
    let o = run(&[
        "summary",
        &stream,
        "--key-env",
        "ACTTRACE_TEST_KEY",
        "--json",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["chains_ok"], 2, "{doc}");
    let listed: Vec<&str> = doc["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["acttrace.claims.host-b", "acttrace.loans.host-a"]);

    // One pack per chain, each verifying on its own against the head its writer committed.
    let dir = tmp.path().join("packs");
    let o = run(&[
        "export",
        &stream,
        "--framework",
        "eu_ai_act",
        "--key-env",
        "ACTTRACE_TEST_KEY",
        "-o",
        dir.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("2 chain(s) exported"), "{out}");
    for (s, head) in subjects.iter().zip(&heads) {
        let pack = dir.join(format!("{s}.jsonl"));
        let r = verify_path(
            &pack,
            &VerifyOptions {
                key: Some(key()),
                expected_head: Some(head.head.clone()),
                ..VerifyOptions::default()
            },
        )
        .unwrap();
        assert!(r.ok() && r.entries == head.next_seq, "{s}: {}", r.summary());
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A whole stream never goes into one file: chains are not mixed in a pack.
    let file = tmp.path().join("one.jsonl");
    std::fs::write(&file, b"").unwrap();
    let o = run(&[
        "export",
        &stream,
        "--framework",
        "eu_ai_act",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("one pack per chain"), "{}", text(&o));
}

/// A committed checkpoint of the worked example's origin over the first `size` of `leaves`,
/// signed with its key, as the sequencer hands one to a sink (covering everything from 0).
fn committed(leaves: &[[u8; 32]], size: u64) -> acttrace::checkpoint::CommittedCheckpoint {
    use acttrace::checkpoint::{Checkpoint, CommittedCheckpoint, Frontier, root_of};
    let signer = common::checkpoints::example_signer();
    let root = root_of(&leaves[..size as usize]);
    let body = Checkpoint::new(signer.name(), size, root).unwrap().body();
    CommittedCheckpoint {
        origin: signer.name().to_owned(),
        note: signer.sign(&body).unwrap(),
        tree_size: size,
        root,
        previous_size: 0,
        previous_frontier: Frontier::new(),
        leaves: leaves[..size as usize].to_vec(),
    }
}

/// A checkpoint sink for `subject`'s chain, opened as a log opens it (reading the latest).
fn opened_sink(server: &Server, subject: &str, n: usize) -> acttrace::nats::NatsCheckpointSink {
    use acttrace::checkpoint::CheckpointSink;
    let cfg = config(server, subject, &server.dir.join(format!("unused-{n}")));
    let mut sink =
        acttrace::nats::NatsCheckpointSink::for_chain(&cfg, acttrace::nats::CHECKPOINT_STREAM);
    sink.latest(common::checkpoints::ORIGIN).unwrap();
    sink
}

#[test]
fn a_fenced_writers_late_checkpoint_never_makes_the_latest_go_backwards() {
    use acttrace::checkpoint::{CheckpointSink, SinkEvent};
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.host-fence";
    let leaves: Vec<[u8; 32]> = (0..16u8).map(|i| [i; 32]).collect();
    // Both writers opened the chain when the checkpoint stream held nothing for it.
    let mut older = opened_sink(&server, subject, 0);
    let mut newer = opened_sink(&server, subject, 1);
    // The newer writer publishes its checkpoint at 12 first ...
    assert!(newer.publish(&committed(&leaves, 12)).is_empty());
    assert_eq!(latest_checkpoint(&server, subject).size, 12);
    // ... then the older (fenced) writer's checkpoint at 8 arrives: refused by the fence, and
    // the older sink stops, chaining a witness_gap that says why.
    let events = older.publish(&committed(&leaves, 8));
    match events.as_slice() {
        [SinkEvent::Unreachable { detail, .. }] => assert!(
            detail.contains("superseded by a newer writer's checkpoint at tree size 12")
                && detail.contains("publishes no more"),
            "{detail}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(latest_checkpoint(&server, subject).size, 12);
    // It stays stopped: a later checkpoint of its own is not published either.
    let events = older.publish(&committed(&leaves, 14));
    assert!(
        matches!(events.as_slice(), [SinkEvent::Unreachable { detail, .. }] if detail.contains("stopped")),
        "{events:?}"
    );
    assert_eq!(latest_checkpoint(&server, subject).size, 12);

    // The other order: a fenced writer's checkpoint lands after the newer writer opened but
    // before it published. The newer one's larger checkpoint goes on top of it, without an
    // event (the older checkpoint is consistent with its tree).
    let subject = "acttrace.loans.host-fence2";
    let mut older = opened_sink(&server, subject, 2);
    let mut newer = opened_sink(&server, subject, 3);
    assert!(older.publish(&committed(&leaves, 8)).is_empty());
    assert!(newer.publish(&committed(&leaves, 12)).is_empty());
    assert_eq!(latest_checkpoint(&server, subject).size, 12);
    // And the newer sink carries on from there.
    assert!(newer.publish(&committed(&leaves, 16)).is_empty());
    assert_eq!(latest_checkpoint(&server, subject).size, 16);
    // A late checkpoint inconsistent with the newer writer's tree is reported as a conflict
    // (and still superseded).
    let mut forked = leaves.clone();
    forked[0] = [0xff; 32];
    let subject = "acttrace.loans.host-fence3";
    let mut older = opened_sink(&server, subject, 4);
    let mut newer = opened_sink(&server, subject, 5);
    assert!(older.publish(&committed(&forked, 8)).is_empty());
    let events = newer.publish(&committed(&leaves, 12));
    assert!(
        matches!(
            events.as_slice(),
            [SinkEvent::Conflict {
                ours: 12,
                theirs: 8,
                ..
            }]
        ),
        "{events:?}"
    );
    assert_eq!(latest_checkpoint(&server, subject).size, 12);
}

#[test]
fn a_forged_message_id_on_the_checkpoint_stream_does_not_make_a_checkpoint_vanish() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.cp-victim";
    let cp_subject = acttrace::nats::checkpoint_subject(subject);
    // Another client stores messages under every id the victim's checkpoints could carry.
    let raw = Raw::connect(&server);
    for size in 1..=40 {
        let id = format!("{cp_subject}:{size}");
        let ack = raw.publish(
            "acttrace-checkpoints.acttrace.other.forger",
            &[("Nats-Msg-Id", id.as_str())],
            b"not yours\n",
        );
        assert!(ack["seq"].as_u64().is_some(), "{ack}");
    }
    write_checkpointed(config(&server, subject, &tmp.path().join("state")), 10).unwrap();
    let entries = chain_entries(&server, subject, tmp.path());
    let last_cp = entries.iter().rfind(|e| e["type"] == "checkpoint").unwrap();
    assert_eq!(
        latest_checkpoint(&server, subject).size,
        last_cp["seq"].as_u64().unwrap(),
        "{last_cp}"
    );
    assert!(
        !entries.iter().any(|e| e["type"] == "witness_gap"),
        "{entries:?}"
    );
}

/// Whether the checkpoint stream holds a checkpoint for `subject`'s chain.
fn has_checkpoint(raw: &Raw, subject: &str) -> bool {
    let answer = raw.request(
        &format!(
            "$JS.API.STREAM.MSG.GET.{}",
            acttrace::nats::CHECKPOINT_STREAM
        ),
        serde_json::json!({ "last_by_subj": acttrace::nats::checkpoint_subject(subject) }),
    );
    answer["message"].is_object()
}

/// The entries of `subject`'s chain as the stream holds them now (read with the library's
/// verifying reader).
fn stream_entries(server: &Server, subject: &str) -> Vec<serde_json::Value> {
    let source = acttrace::nats::NatsSource {
        url: server.url(),
        stream: STREAM.into(),
        subject: Some(subject.into()),
        checkpoint_stream: None,
    };
    let mut copy = Vec::new();
    let report = acttrace::nats::copy_subject(
        &source,
        &acttrace::nats::NatsClientOptions::default(),
        &VerifyOptions::default(),
        &mut copy,
    )
    .unwrap();
    assert!(report.ok(), "{}", report.verification.summary());
    copy.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn the_checkpoint_stream_deleted_mid_run_is_a_witness_gap_and_the_log_goes_on() {
    use acttrace::nats::{CHECKPOINT_STREAM, NatsCheckpointSink};
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.host-gap";
    let cfg = config(&server, subject, &tmp.path().join("state"));
    let sink = NatsCheckpointSink::for_chain(&cfg, CHECKPOINT_STREAM);
    let (layer, guard) = AuditLayer::builder()
        .system("nats-test")
        .signing_key(key())
        .checkpoint_key(common::checkpoints::example_signer())
        .checkpoint_every(4, Duration::from_secs(3600))
        .checkpoint_sink(sink)
        .nats(cfg)
        .build()
        .unwrap();
    let raw = Raw::connect(&server);
    let deadline = Instant::now() + Duration::from_secs(120);
    let subscriber = tracing_subscriber::registry().with(layer);
    let gap = tracing::subscriber::with_default(subscriber, || {
        let mut i = 0u64;
        let mut decide = || {
            let span = tracing::info_span!("decide", audit.decision = "loan.approve", i = i);
            drop(span.enter());
            i += 1;
            guard.handle().flush().unwrap();
        };
        // Until the first checkpoint is published ...
        while !has_checkpoint(&raw, subject) {
            assert!(Instant::now() < deadline, "no checkpoint was published");
            decide();
        }
        // ... then the checkpoint stream goes away (an admin, a wrong cluster).
        let answer = raw.request(
            &format!("$JS.API.STREAM.DELETE.{CHECKPOINT_STREAM}"),
            serde_json::json!({}),
        );
        assert_eq!(answer["success"], true, "{answer}");
        // The log goes on, and the next checkpoint's failed publish is chained.
        loop {
            assert!(Instant::now() < deadline, "no witness_gap was chained");
            decide();
            if let Some(gap) = stream_entries(&server, subject)
                .into_iter()
                .find(|e| e["type"] == "witness_gap")
            {
                // And one more decision after it.
                decide();
                break gap;
            }
        }
    });
    drop(guard);
    let detail = gap["payload"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("no stream takes the subject") && detail.contains(CHECKPOINT_STREAM),
        "{gap}"
    );
    // Entries after the gap were committed: the chain verifies, and the verdict says the checkpoint stream is missing rather than "none for this chain".
    let entries = stream_entries(&server, subject);
    assert!(
        entries
            .iter()
            .any(|e| e["seq"].as_u64() > gap["seq"].as_u64() && e["type"] == "decision"),
        "no decision after the gap"
    );
    let o = run(&[
        "verify",
        &server.source(&format!("{STREAM}/{subject}")),
        "--key-env",
        "ACTTRACE_TEST_KEY",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("checkpoint stream {CHECKPOINT_STREAM}: missing")),
        "{out}"
    );
    assert!(!out.contains("none for this chain"), "{out}");
}

#[test]
fn a_failing_chain_in_a_whole_stream_summary_or_export_is_named_and_the_others_are_exported() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let good = ["acttrace.claims.host-a", "acttrace.loans.host-c"];
    for (i, s) in good.iter().enumerate() {
        write_decisions(
            config(&server, s, &tmp.path().join(format!("state-{i}"))),
            2,
        );
    }
    // A chain whose second batch does not link to its first.
    let bad = "acttrace.loans.host-b";
    let raw = Raw::connect(&server);
    let e0 = entry(0, GENESIS, "");
    let e1 = entry(1, &e0.hash, "linked");
    let e2 = entry(2, &e0.hash, "not linked to seq 1");
    let mut bad_seq = 0;
    for (first, body, head) in [
        (0, format!("{}{}", e0.to_line(), e1.to_line()), &e1.hash),
        (2, e2.to_line(), &e2.hash),
    ] {
        let id = format!("{bad}:{first}:{head}");
        let first = first.to_string();
        let ack = raw.publish(
            bad,
            &[
                ("Nats-Msg-Id", id.as_str()),
                ("Acttrace-Head", head.as_str()),
                ("Acttrace-First-Seq", first.as_str()),
            ],
            body.as_bytes(),
        );
        bad_seq = ack["seq"].as_u64().unwrap();
    }
    let stream = server.source(STREAM);
    let named = |out: &str| {
        out.contains(bad) && out.contains(&format!("subject {bad}, stream seq {bad_seq}"))
    };

    // The hand-made chain is unsigned: read without the key, so that its first problem is the
    // link (the signed chains verify, their signatures unchecked).
    let o = run(&["summary", &stream]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(named(&out), "{out}");
    for s in good {
        assert_eq!(out.matches(&format!("== {s}\n")).count(), 1, "{out}");
    }
    assert!(
        out.contains(&format!("{stream}: 3 chain(s): 2 ok, 1 failed")),
        "{out}"
    );

    let dir = tmp.path().join("packs");
    let o = run(&[
        "export",
        &stream,
        "--framework",
        "eu_ai_act",
        "-o",
        dir.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(named(&out), "{out}");
    assert!(
        out.contains("3 chain(s) exported") && out.contains("2 ok, 1 failed"),
        "{out}"
    );
    for s in good {
        let r = verify_path(dir.join(format!("{s}.jsonl")), &VerifyOptions::default()).unwrap();
        assert!(r.ok() && r.entries > 0, "{s}: {}", r.summary());
    }
    assert!(!dir.join(format!("{bad}.jsonl")).exists());
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, good.map(|s| format!("{s}.jsonl")));
}

#[test]
fn expect_checkpoint_with_one_subject_is_judged_with_the_checkpoint_stream() {
    use acttrace::checkpoint::Checkpoint;
    let tmp = tempfile::tempdir().unwrap();
    let Some(server) = Server::start(tmp.path()) else {
        return;
    };
    init_stream(&server);
    let subject = "acttrace.loans.host-ec";
    write_checkpointed(config(&server, subject, &tmp.path().join("state")), 10).unwrap();
    let entries = chain_entries(&server, subject, tmp.path());
    let first_cp = entries.iter().find(|e| e["type"] == "checkpoint").unwrap();
    let held = tmp.path().join("held.note");
    std::fs::write(&held, first_cp["payload"]["note"].as_str().unwrap()).unwrap();
    let vkey = common::checkpoints::example_vkey_text();
    let source = server.source(&format!("{STREAM}/{subject}"));
    let verify = |note: &Path| {
        run(&[
            "verify",
            &source,
            "--key-env",
            "ACTTRACE_TEST_KEY",
            "--vkey",
            &vkey,
            "--expect-checkpoint",
            note.to_str().unwrap(),
        ])
    };
    let o = verify(&held);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(
            "consistent with the expected checkpoint and the latest checkpoint in stream \
             ACTTRACE_CHECKPOINTS"
        ),
        "{out}"
    );
    // A checkpoint kept elsewhere that covers more than the stream holds: the chain was cut.
    let signer = common::checkpoints::example_signer();
    let beyond = Checkpoint::new(signer.name(), entries.len() as u64 + 5, [7u8; 32]).unwrap();
    let cut = tmp.path().join("beyond.note");
    std::fs::write(&cut, signer.sign(&beyond.body()).unwrap()).unwrap();
    let o = verify(&cut);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("log shorter than the expected checkpoint")
            && out.contains(&format!("the checkpoint covers {}", entries.len() + 5)),
        "{out}"
    );
    // Not with a whole stream: one chain's checkpoint says nothing of the others.
    let o = run(&[
        "verify",
        &server.source(STREAM),
        "--vkey",
        &vkey,
        "--expect-checkpoint",
        held.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("apply to one chain"), "{}", text(&o));
}
