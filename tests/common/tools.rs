//! External tools some cross-checks need (compliance-trestle, Chromium): found, or skipped
//! outside CI and a failure under it.

use std::path::PathBuf;

/// A tool the test needs: `Some` when found; when missing, fails under CI (env `CI` set) and
/// otherwise prints "skipped" and returns `None`.
pub fn require<T>(found: Option<T>, what: &str) -> Option<T> {
    if found.is_some() {
        return found;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required under CI but was not found");
    }
    println!("skipped: {what} not found");
    None
}

/// A python with compliance-trestle: `ACTTRACE_TRESTLE_PYTHON`.
pub fn trestle_python() -> Option<PathBuf> {
    std::env::var_os("ACTTRACE_TRESTLE_PYTHON").map(PathBuf::from)
}

/// Headless Chromium: `ACTTRACE_CHROMIUM`, or `chromium`/`chromium-browser` on PATH.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ACTTRACE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Go with the golang.org/x/mod sources (Debian `golang-go` and `golang-golang-x-mod-dev`):
/// the `go` binary (`ACTTRACE_GO`, or `go` on PATH) and the GOPATH root that holds
/// `src/golang.org/x/mod` (`ACTTRACE_GOCODE`, or Debian's /usr/share/gocode).
pub fn go_with_x_mod() -> Option<(PathBuf, PathBuf)> {
    let go = match std::env::var_os("ACTTRACE_GO") {
        Some(p) => PathBuf::from(p),
        None => std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join("go"))
            .find(|p| p.is_file())?,
    };
    let gocode = std::env::var_os("ACTTRACE_GOCODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/gocode"));
    let found = go.is_file()
        && ["note", "tlog"]
            .iter()
            .all(|p| gocode.join("src/golang.org/x/mod/sumdb").join(p).is_dir());
    found.then_some((go, gocode))
}
