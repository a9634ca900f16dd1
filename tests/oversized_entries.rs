//! Issue #12, item 2: the writer never commits a line its verifier refuses. A field too long
//! for the writer's line limit (a 17 MiB tool result, say) is replaced by its digest and
//! length, a `policy_flag` says so, and the log stays verifiable, reopenable, repairable and
//! exportable.

mod common;

use std::io;
use std::path::Path;
use std::process::{Command, Output};

use acttrace::verify::{VerifyOptions, verify_path};
use acttrace::writer::{ChainWriter, Durability, ExistingChain, JsonlFileWriter, Recovery};
use acttrace::{AuditLayer, Error, RenderedEntry, SealedEntry, SigningKey};
use common::*;
use sha2::Digest;
use tracing_subscriber::prelude::*;

fn acttrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acttrace"))
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

/// The file writer with a smaller line limit, as a message-broker writer would have.
struct SmallLines(JsonlFileWriter);

const SMALL: usize = 64 * 1024;

impl ChainWriter for SmallLines {
    fn open(&mut self, key: Option<&SigningKey>) -> Result<Option<ExistingChain>, Error> {
        self.0.open(key)
    }
    fn append(&mut self, entry: &SealedEntry) {
        self.0.append(entry)
    }
    fn append_rendered(&mut self, entry: &RenderedEntry<'_>) {
        self.0.append_rendered(entry)
    }
    fn commit(&mut self, durability: Durability) -> io::Result<()> {
        self.0.commit(durability)
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn recover(&mut self) -> Result<Option<Recovery>, Error> {
        self.0.recover()
    }
    fn max_entry_bytes(&self) -> usize {
        SMALL
    }
}

fn small_subscriber(path: &Path) -> (Subscriber, acttrace::AuditGuard) {
    let (layer, guard) = AuditLayer::builder()
        .system("oversized")
        .writer(SmallLines(JsonlFileWriter::new(path)))
        .build()
        .unwrap();
    (tracing_subscriber::registry().with(layer), guard)
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn item2_a_field_over_a_writers_limit_is_committed_as_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let result = "tool output line\n".repeat(12_000); // 204 KB
    let (sub, guard) = small_subscriber(&path);
    in_decision(sub, || {
        acttrace::tool_call!(name = "fetch", arguments = "{}", result = %result);
    });
    let tip = guard.flush().unwrap();
    assert_eq!(guard.status().oversized_refused, 0);
    drop(guard);

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines().all(|l| l.len() < SMALL),
        "a line over the limit"
    );
    let es = entries(&path);
    let call = of_type(&es, "tool_call")[0];
    assert_eq!(call["payload"]["name"], "fetch");
    assert_eq!(call["payload"]["arguments"], "{}");
    assert_eq!(
        call["payload"]["result"],
        serde_json::json!({"omitted_bytes": result.len(), "sha256": sha256_hex(result.as_bytes())})
    );
    let flags = of_type(&es, "policy_flag");
    assert_eq!(flags.len(), 1);
    let flag = &flags[0]["payload"];
    assert_eq!(flag["action"], "redacted");
    assert_eq!(flag["entry_seq"], call["seq"]);
    assert_eq!(flag["decision_id"], call["payload"]["decision_id"]);
    assert_eq!(
        flag["fields"],
        serde_json::json!([{"path": "/result", "bytes": result.len()}])
    );
    assert_verifies(&path, &tip);

    // Reopened, the chain continues.
    let (sub, guard) = small_subscriber(&path);
    tracing::subscriber::with_default(sub, || acttrace::tool_call!(name = "after"));
    let tip = guard.flush().unwrap();
    drop(guard);
    assert_verifies(&path, &tip);
}

/// The case of the review: a 17 MiB tool result through the default file writer, whose limit
/// is the verifier's line cap less headroom. Before the fix `verify` refused the line ("line
/// longer than 16777216 bytes") and the log could no longer be reopened, repaired or exported.
#[test]
fn item2_a_17_mib_tool_result_leaves_a_log_that_verifies_reopens_repairs_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let result = "x".repeat(17 << 20);
    let (sub, guard) = subscriber(&path);
    in_decision(sub, || {
        acttrace::tool_call!(name = "dump", result = %result);
    });
    guard.flush().unwrap();
    drop(guard);

    let out = acttrace().arg("verify").arg(&path).output().unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let es = entries(&path);
    let call = of_type(&es, "tool_call")[0];
    assert_eq!(call["payload"]["result"]["omitted_bytes"], 17 << 20);
    assert_eq!(
        call["payload"]["result"]["sha256"],
        sha256_hex(result.as_bytes())
    );
    assert_eq!(
        of_type(&es, "policy_flag")[0]["payload"]["fields"][0]["path"],
        "/result"
    );

    let (sub, guard) = subscriber(&path);
    tracing::subscriber::with_default(sub, || acttrace::tool_call!(name = "after"));
    let tip = guard.flush().unwrap();
    drop(guard);
    assert_verifies(&path, &tip);

    let out = acttrace().arg("repair").arg(&path).output().unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to repair"));
    let pack = dir.path().join("pack.jsonl");
    let out = acttrace()
        .arg("export")
        .arg(&path)
        .args(["--framework", "eu_ai_act", "--format", "jsonl", "-o"])
        .arg(&pack)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let r = verify_path(&pack, &VerifyOptions::default()).unwrap();
    assert!(r.ok(), "{}", r.summary());
}
