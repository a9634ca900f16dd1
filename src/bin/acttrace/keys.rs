//! Where a command's signing key comes from.

use std::path::PathBuf;

use acttrace::SigningKey;
use acttrace::checkpoint::VerifierKey;
use clap::Args;
use zeroize::Zeroizing;

/// The key options of `verify`, `repair` and `prove-content`: an environment variable, a file,
/// or (with a warning) the command line itself.
#[derive(Args, Debug)]
#[group(multiple = false)]
pub(crate) struct KeyArgs {
    /// Check signatures with the key in this environment variable.
    #[arg(long, value_name = "VAR")]
    key_env: Option<String>,
    /// Check signatures with the key in this file (one trailing newline is ignored).
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Check signatures with this key. Visible to other users of the machine (ps, /proc):
    /// prefer --key-env or --key-file.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
}

impl KeyArgs {
    /// Loads the key, if one was named.
    pub(crate) fn load(&mut self) -> Result<Option<SigningKey>, String> {
        let named = SigningKey::from_env_or_file(self.key_env.as_deref(), self.key_file.as_deref())
            .map_err(|e| e.to_string())?;
        if named.is_some() {
            return Ok(named);
        }
        if let Some(key) = self.key.take() {
            let key = Zeroizing::new(key);
            eprintln!(
                "acttrace: warning: --key puts the key on the command line, where other users \
                 of this machine can read it; prefer --key-env VAR or --key-file PATH"
            );
            return SigningKey::from_bytes(key.as_bytes())
                .map(Some)
                .map_err(|e| e.to_string());
        }
        Ok(None)
    }
}

/// The key options of `export`, `summary` and `verify-excerpt` (never the command line itself).
#[derive(Args, Debug, Clone, Default)]
#[group(multiple = false)]
pub(crate) struct ExportKeyArgs {
    /// The signing key is in this environment variable: checks the log's signatures (and, for
    /// `export`, signs the pack header).
    #[arg(long, value_name = "VAR")]
    key_env: Option<String>,
    /// The signing key is in this file (one trailing newline is ignored).
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
}

impl ExportKeyArgs {
    /// Loads the key, if one was named.
    pub(crate) fn load(&self) -> Result<Option<SigningKey>, String> {
        SigningKey::from_env_or_file(self.key_env.as_deref(), self.key_file.as_deref())
            .map_err(|e| e.to_string())
    }
}

/// The key lines of a key file, trimmed, with their 1-based line numbers: blank lines and `#`
/// comments are skipped.
pub(crate) fn key_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// The checkpoint verifier keys of `--vkey` (public, so the command line is fine) and
/// `--vkey-file` (one per line; blank lines and `#` comments ignored; at most 1 MiB), for every
/// command that takes them. An error names the key, or the file and line.
pub(crate) fn load_vkeys(vkeys: &[String], files: &[PathBuf]) -> Result<Vec<VerifierKey>, String> {
    let mut out = Vec::new();
    for k in vkeys {
        out.push(k.trim().parse().map_err(|e| format!("--vkey {k:?}: {e}"))?);
    }
    for path in files {
        let text = crate::verify::read_small(path).map_err(|e| format!("--vkey-file {e}"))?;
        for (number, line) in key_lines(&text) {
            out.push(
                line.parse()
                    .map_err(|e| format!("--vkey-file {}: line {number}: {e}", path.display()))?,
            );
        }
    }
    Ok(out)
}
