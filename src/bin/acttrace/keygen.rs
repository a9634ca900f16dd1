//! `acttrace keygen KIND OUT`: new random keys, written to a file only its owner can read.
//!
//! Each kind makes its secret text (and, for a public-key kind, the public half to print),
//! then [`write_new_secret`] creates the file: a new kind adds a variant and a function.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use zeroize::Zeroizing;

use crate::exit::{EXIT_OK, usage_error};
use crate::out::{out, outln};

/// The kinds of key `keygen` makes.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum KeyKind {
    /// An HMAC-SHA256 signing key: 32 random bytes as 64 lowercase hex digits (the key is the
    /// hex text's bytes, as `--key-file` reads it).
    Hmac,
    /// An Ed25519 checkpoint signing key for the log named by `--origin`, in Go's note format
    /// (`PRIVATE+KEY+<origin>+<hex id>+<base64>`); its verifier key is printed on standard
    /// output. Also writes `OUT.fs`, the forward-security state at epoch 0 (a key named
    /// `<origin>/fs`), whose verifier key is printed on standard error, to store off the host.
    Checkpoint,
}

/// `acttrace keygen hmac OUT`, `acttrace keygen checkpoint --origin NAME OUT`
#[derive(Args, Debug)]
pub(crate) struct KeygenArgs {
    /// The kind of key.
    #[arg(value_enum, value_name = "KIND")]
    kind: KeyKind,
    /// The log's origin (its unique name, e.g. `example.org/loan-desk/prod-1`): the checkpoint
    /// key's name. No spaces, `+` or control characters. Required for (and only for)
    /// `checkpoint`.
    #[arg(long, value_name = "NAME")]
    origin: Option<String>,
    /// The key file to create (mode 0600; an existing file is never overwritten; its directory
    /// must exist). For `hmac`, `-` prints the key on standard output instead, for a secret
    /// store that reads it there.
    #[arg(value_name = "OUT")]
    out: PathBuf,
}

/// 32 random bytes as lowercase hex, with a trailing newline.
fn hmac_key_text() -> Result<Zeroizing<String>, String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut bytes[..]).map_err(|e| format!("no random bytes from the OS: {e}"))?;
    let mut text = Zeroizing::new(String::with_capacity(65));
    for b in bytes.iter() {
        text.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        text.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    text.push('\n');
    Ok(text)
}

/// Creates `path` with mode 0600 (never replacing a file) and writes `text` to it.
fn write_new_secret(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Why a file could not be created, in words that name it.
fn create_error(path: &std::path::Path, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!(
            "{} already exists; keygen never overwrites a key",
            path.display()
        ),
        std::io::ErrorKind::NotFound => format!(
            "cannot create {}: its directory does not exist",
            path.display()
        ),
        _ => format!("cannot create {}: {e}", path.display()),
    }
}

/// `OUT.fs`: where `keygen checkpoint` writes the epoch-0 forward-security state.
fn fs_state_path(out: &std::path::Path) -> PathBuf {
    let mut name = out.as_os_str().to_os_string();
    name.push(".fs");
    PathBuf::from(name)
}

/// `keygen checkpoint --origin NAME OUT`: writes the private key in Go's format (one line) and
/// prints the verifier key on standard output, alone on its line so that `> NAME.vkey` keeps
/// it; writes the epoch-0 forward-security state to `OUT.fs` and prints its verifier key on
/// standard error, on a line of its own, with what to do with it (as `journalctl --setup-keys`
/// does: it must be kept off the host).
fn run_checkpoint(origin: Option<&str>, out: &std::path::Path) -> u8 {
    let Some(origin) = origin else {
        return usage_error("keygen checkpoint needs --origin NAME (the log's unique name)");
    };
    if let Err(e) = acttrace::checkpoint::validate_name(origin) {
        return usage_error(&format!("--origin {origin:?}: {e}"));
    }
    if out.as_os_str() == "-" || out.as_os_str().is_empty() {
        return usage_error(
            "keygen checkpoint needs a file for OUT (standard output carries the verifier key)",
        );
    }
    let signer = match acttrace::checkpoint::SignerKey::generate(origin) {
        Ok(s) => s,
        Err(e) => return usage_error(&e.to_string()),
    };
    let fs_path = fs_state_path(out);
    if fs_path.exists() {
        return usage_error(&format!(
            "{} already exists; keygen never overwrites a key",
            fs_path.display()
        ));
    }
    let fs_state = match acttrace::checkpoint::EpochState::generate(origin) {
        Ok(s) => s,
        Err(e) => return usage_error(&e.to_string()),
    };
    let key = signer.to_go_format();
    // Sized for the newline, so the key is never left behind in a reallocated buffer.
    let mut text = Zeroizing::new(String::with_capacity(key.len() + 1));
    text.push_str(&key);
    text.push('\n');
    if let Err(e) = write_new_secret(out, &text) {
        return usage_error(&create_error(out, &e));
    }
    if let Err(e) = fs_state.create_new(&fs_path) {
        // Both or neither: the key alone would start a log without forward security.
        let _ = std::fs::remove_file(out);
        return usage_error(&create_error(&fs_path, &e));
    }
    outln!("{}", signer.verifier());
    eprintln!(
        "acttrace: wrote a new checkpoint signing key for origin {origin} to {} (mode 0600); \
         keep it on the writer's host (checkpoint_key_from_file). The verifier key printed on \
         standard output is public: give it to verifiers (acttrace verify --vkey) and \
         witnesses.",
        out.display()
    );
    eprintln!(
        "acttrace: wrote the forward-security state (epoch 0) to {} (mode 0600); the writer \
         reads and rewrites it (forward_security_state). Its verifier key follows: store this \
         off the host (another machine, or paper): acttrace verify --fs-vkey needs it, and a \
         copy left on the writer's host proves nothing.\n{}",
        fs_path.display(),
        fs_state.current.signer.verifier()
    );
    EXIT_OK
}

/// Runs `keygen`; returns the exit code.
pub(crate) fn run(args: KeygenArgs) -> u8 {
    let text = match args.kind {
        KeyKind::Checkpoint => return run_checkpoint(args.origin.as_deref(), &args.out),
        KeyKind::Hmac if args.origin.is_some() => {
            return usage_error("--origin applies to keygen checkpoint, not keygen hmac");
        }
        KeyKind::Hmac => match hmac_key_text() {
            Ok(t) => t,
            Err(e) => return usage_error(&e),
        },
    };
    if args.out.as_os_str() == "-" {
        out!("{}", text.as_str());
        return EXIT_OK;
    }
    if args.out.as_os_str().is_empty() {
        return usage_error("OUT is an empty path");
    }
    match write_new_secret(&args.out, &text) {
        Ok(()) => {
            eprintln!(
                "acttrace: wrote a new HMAC key to {} (mode 0600); sign with \
                 signing_key_from_file, verify with --key-file",
                args.out.display()
            );
            EXIT_OK
        }
        Err(e) => usage_error(&create_error(&args.out, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::hmac_key_text;

    #[test]
    fn an_hmac_key_is_64_hex_digits_and_fresh_each_time() {
        let a = hmac_key_text().unwrap();
        let b = hmac_key_text().unwrap();
        assert_eq!(a.len(), 65);
        assert!(
            a[..64]
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(*a, *b);
    }
}
