//! The reference verifier (Python cendor-acttrace 1.14.0), run as a process. The one helper
//! for it: included by every integration test through `common`, and by
//! `interop/genai-clients` by path.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python with the reference (cendor-acttrace 1.14.0) installed:
/// `ACTTRACE_REFERENCE_PYTHON` (set by scripts/test.sh), else the venv that script creates
/// (`target/refvenv`). Missing: a failure under CI (env `CI` set), otherwise `None` and a line
/// saying the test skipped the cross-check.
pub fn reference_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ACTTRACE_REFERENCE_PYTHON").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("scripts/test.sh").is_file())
        .map(Path::to_path_buf);
    if let Some(venv) = workspace.map(|w| w.join("target/refvenv/bin/python"))
        && venv.is_file()
    {
        return Some(venv);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "the reference verifier is required under CI: set ACTTRACE_REFERENCE_PYTHON \
             (.ci/run runs scripts/test.sh, which creates target/refvenv)"
        );
    }
    eprintln!(
        "skipped: the reference verifier (set ACTTRACE_REFERENCE_PYTHON to a python with \
         cendor-acttrace==1.14.0, or run scripts/test.sh)"
    );
    None
}

/// The reference verifier's `(ok, detail)` for `path`, with an optional key and expected
/// head. Its telemetry is switched off.
pub fn reference_verify(
    python: impl AsRef<OsStr>,
    path: &Path,
    key: Option<&str>,
    head: Option<&str>,
) -> (bool, String) {
    let script = r#"
import json, os, sys
os.environ["CENDOR_TELEMETRY"] = "off"
from cendor.acttrace import verify
path, key, head = sys.argv[1], sys.argv[2] or None, sys.argv[3] or None
print(json.dumps(verify(path, key=key, expected_head=head)))
"#;
    let out = Command::new(python)
        .env("CENDOR_TELEMETRY", "off")
        .args(["-c", script])
        .arg(path)
        .arg(key.unwrap_or(""))
        .arg(head.unwrap_or(""))
        .output()
        .expect("run the reference python");
    assert!(
        out.status.success(),
        "reference verifier failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: (bool, String) = serde_json::from_slice(&out.stdout).unwrap();
    v
}
