//! The reference verifier (Python cendor-acttrace 1.14.0), run as a process. Shared by the
//! crate's tests and by `interop/genai-clients` (included there by path).

use std::path::Path;
use std::process::Command;

/// The Python with the reference (cendor-acttrace 1.14.0) installed, from
/// `ACTTRACE_REFERENCE_PYTHON`; `None` (the test says it skipped) outside CI, a failure under CI.
pub fn reference_python() -> Option<String> {
    match std::env::var("ACTTRACE_REFERENCE_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "ACTTRACE_REFERENCE_PYTHON is not set under CI; .ci/run must create the reference venv"
            )
        }
        _ => {
            eprintln!(
                "skipped: set ACTTRACE_REFERENCE_PYTHON to a python with cendor-acttrace==1.14.0"
            );
            None
        }
    }
}

/// The reference verifier's `(ok, detail)` for `path`.
pub fn reference_verify(
    python: &str,
    path: &Path,
    key: Option<&str>,
    head: Option<&str>,
) -> (bool, String) {
    let script = r#"
import json, os, sys
os.environ.setdefault("CENDOR_TELEMETRY", "off")
from cendor.acttrace import verify
path, key, head = sys.argv[1], sys.argv[2] or None, sys.argv[3] or None
print(json.dumps(verify(path, key=key, expected_head=head)))
"#;
    let out = Command::new(python)
        .args(["-c", script])
        .arg(path)
        .arg(key.unwrap_or(""))
        .arg(head.unwrap_or(""))
        .output()
        .expect("run the reference python");
    assert!(
        out.status.success(),
        "reference python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: (bool, String) = serde_json::from_slice(&out.stdout).unwrap();
    v
}
