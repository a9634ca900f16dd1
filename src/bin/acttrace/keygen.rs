//! `acttrace keygen KIND OUT`: new random keys, written to a file only its owner can read.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use zeroize::Zeroizing;

use crate::exit::{EXIT_OK, usage_error};

/// The kinds of key `keygen` makes.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum KeyKind {
    /// An HMAC-SHA256 signing key: 32 random bytes as 64 lowercase hex digits (the key is the
    /// hex text's bytes, as `--key-file` reads it).
    Hmac,
}

/// `acttrace keygen hmac OUT`
#[derive(Args, Debug)]
pub(crate) struct KeygenArgs {
    /// The kind of key.
    #[arg(value_enum, value_name = "KIND")]
    kind: KeyKind,
    /// The key file to create (mode 0600; an existing file is never overwritten). `-` prints
    /// the key on standard output instead, for a secret store that reads it there.
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

/// Runs `keygen`; returns the exit code.
pub(crate) fn run(args: KeygenArgs) -> u8 {
    let text = match args.kind {
        KeyKind::Hmac => match hmac_key_text() {
            Ok(t) => t,
            Err(e) => return usage_error(&e),
        },
    };
    if args.out.as_os_str() == "-" {
        print!("{}", text.as_str());
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
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => usage_error(&format!(
            "{} already exists; keygen never overwrites a key",
            args.out.display()
        )),
        Err(e) => usage_error(&format!("cannot create {}: {e}", args.out.display())),
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
