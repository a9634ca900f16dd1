//! `acttrace prove-content`: check a claimed text against the content digest an entry recorded.

use std::io::Read;
use std::path::PathBuf;

use acttrace::SigningKey;
use acttrace::genai::{ContentProof, prove_content};
use clap::Args;

use crate::exit::{EXIT_INTEGRITY, EXIT_OK, usage_error};
use crate::keys::KeyArgs;
use crate::out::outln;
use crate::redact::load_policy;

#[derive(Args, Debug)]
pub(crate) struct ProveContentArgs {
    /// The log file; `-` reads standard input (then the text must come from --text-file).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The entry's seq.
    #[arg(long, value_name = "N")]
    seq: u64,
    /// The content field: input_messages, output_messages, system_instructions, arguments,
    /// result.
    #[arg(long, value_name = "NAME", default_value = "input_messages")]
    field: String,
    /// The claimed text, byte for byte (default: all of stdin).
    #[arg(long, value_name = "PATH")]
    text_file: Option<PathBuf>,
    /// The writer's redaction policy: a preset (default, gdpr, pci, strict) or a TOML file.
    #[arg(long, value_name = "PRESET|FILE", default_value = "default")]
    policy: String,
    /// The digest key in this environment variable, when the writer had one apart from its
    /// signing key (default: the signing key).
    #[arg(long, value_name = "VAR", conflicts_with = "digest_key_file")]
    digest_key_env: Option<String>,
    /// The digest key in this file (default: the signing key).
    #[arg(long, value_name = "PATH")]
    digest_key_file: Option<PathBuf>,
    /// The log's signing key, to check its signatures first (without one, only the chain's
    /// consistency is checked and the result says so).
    #[command(flatten)]
    key: KeyArgs,
}

/// The largest text read: no entry line may exceed 16 MiB, so no recorded text is larger.
const MAX_TEXT_BYTES: u64 = 16 * 1024 * 1024;

/// Runs `prove-content`; returns the exit code.
pub(crate) fn run(mut args: ProveContentArgs) -> u8 {
    let signing_key = match args.key.load() {
        Ok(k) => k,
        Err(e) => return usage_error(&e),
    };
    let digest_key = match SigningKey::from_env_or_file(
        args.digest_key_env.as_deref(),
        args.digest_key_file.as_deref(),
    ) {
        Ok(Some(k)) => k,
        Ok(None) => match &signing_key {
            Some(k) => k.clone(),
            None => {
                return usage_error(
                    "a key is needed: --key-env/--key-file (the signing key, from which digests \
                     are keyed by default) or --digest-key-env/--digest-key-file",
                );
            }
        },
        Err(e) => return usage_error(&e.to_string()),
    };
    if args.file.as_os_str() == "-" && args.text_file.is_none() {
        return usage_error(
            "the log and the text cannot both come from standard input: give the text with \
             --text-file",
        );
    }
    let policy = match load_policy(&args.policy) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let mut bytes = Vec::new();
    let (read, source) = match &args.text_file {
        Some(path) => (
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_TEXT_BYTES + 1).read_to_end(&mut bytes)),
            path.display().to_string(),
        ),
        None => (
            std::io::stdin()
                .take(MAX_TEXT_BYTES + 1)
                .read_to_end(&mut bytes),
            "standard input".to_owned(),
        ),
    };
    if let Err(e) = read {
        return usage_error(&format!("reading {source}: {e}"));
    }
    if bytes.len() as u64 > MAX_TEXT_BYTES {
        return usage_error(&format!(
            "{source}: the text is larger than {MAX_TEXT_BYTES} bytes, more than an entry can \
             have recorded"
        ));
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return usage_error("the text is not UTF-8");
    };
    match prove_content(
        &args.file,
        args.seq,
        &args.field,
        &text,
        signing_key.as_ref(),
        &digest_key,
        &policy,
    ) {
        Ok(proof @ ContentProof::Match { .. }) => {
            outln!(
                "{}: seq {} {}: {proof}",
                args.file.display(),
                args.seq,
                args.field
            );
            EXIT_OK
        }
        Ok(proof) => {
            outln!(
                "{}: seq {} {}: {proof}",
                args.file.display(),
                args.seq,
                args.field
            );
            EXIT_INTEGRITY
        }
        Err(e) => usage_error(&e.to_string()),
    }
}
