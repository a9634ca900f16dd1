//! `acttrace checkpoint`, `acttrace prove` and `acttrace verify-proof`: a log's latest signed
//! checkpoint, inclusion proofs (c2sp.org/tlog-proof@v1) and consistency proofs (the
//! c2sp.org/tlog-witness request body), and their verification with public keys (issue #13).

use std::io::Read;
use std::path::PathBuf;

use acttrace::chain::{HashAlg, entry_hash};
use acttrace::json;
use acttrace::verify::{
    Input, MAX_PROOF_LEAVES, ProofError, ProofText, consistency_proof_text, expected_checkpoint,
    inclusion_proof_text, log_tree, parse_proof, verify_consistency_text, verify_inclusion_text,
    verify_input,
};
use clap::Args;

use crate::exit::{EXIT_INTEGRITY, EXIT_OK, usage_error};
use crate::keys::KeyArgs;
use crate::out::{out, outln};
use crate::verify::{CheckpointArgs, read_small, verify_options};

#[derive(Args, Debug)]
pub(crate) struct CheckpointCmdArgs {
    /// The log file; `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    checkpoints: CheckpointArgs,
}

/// Runs `checkpoint`: verifies the log (read once) and prints its latest checkpoint's note.
pub(crate) fn run_checkpoint(mut args: CheckpointCmdArgs) -> u8 {
    let opts = match verify_options(&mut args.key, &args.checkpoints) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    let input = match Input::open(&args.file) {
        Ok(i) => i,
        Err(e) => return usage_error(&e.to_string()),
    };
    let v = match verify_input(input, &opts) {
        Ok(v) => v,
        Err(e) => return usage_error(&e.to_string()),
    };
    if !v.ok() {
        eprintln!("{}: {}", args.file.display(), v.summary());
        return EXIT_INTEGRITY;
    }
    match v
        .checkpoints
        .as_ref()
        .and_then(|c| c.latest_note.as_deref())
    {
        Some(note) => {
            out!("{note}");
            EXIT_OK
        }
        None => {
            eprintln!("{}: no checkpoint in the log", args.file.display());
            EXIT_INTEGRITY
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct ProveArgs {
    /// The log file (a whole log from seq 0); `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Inclusion proof of the entry with this seq.
    #[arg(long, value_name = "N", conflicts_with_all = ["from_size", "to_size"])]
    seq: Option<u64>,
    /// The tree size to prove inclusion in (default: the latest checkpoint's).
    #[arg(long, value_name = "M", requires = "seq")]
    size: Option<u64>,
    /// Consistency proof from this tree size...
    #[arg(long, value_name = "A", requires = "to_size")]
    from_size: Option<u64>,
    /// ...to this one.
    #[arg(long, value_name = "B", requires = "from_size")]
    to_size: Option<u64>,
    /// The most entries whose hashes are held (32 bytes each).
    #[arg(long, value_name = "N", default_value_t = MAX_PROOF_LEAVES)]
    max_leaves: u64,
    #[command(flatten)]
    key: KeyArgs,
    #[command(flatten)]
    checkpoints: CheckpointArgs,
}

/// Runs `prove`: verifies the log while gathering its leaves (read once), then prints the
/// proof.
pub(crate) fn run_prove(mut args: ProveArgs) -> u8 {
    if args.seq.is_none() && args.from_size.is_none() {
        return usage_error("give --seq N [--size M] or --from-size A --to-size B");
    }
    let opts = match verify_options(&mut args.key, &args.checkpoints) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    let input = match Input::open(&args.file) {
        Ok(i) => i,
        Err(e) => return usage_error(&e.to_string()),
    };
    let (up_to, sizes): (Option<u64>, Vec<u64>) = match (args.seq, args.size, args.to_size) {
        (Some(_), Some(m), _) => (Some(m), vec![m]),
        (_, _, Some(b)) => (Some(b), vec![b]),
        _ => (None, Vec::new()),
    };
    let tree = match log_tree(input, &opts, up_to, &sizes, args.max_leaves) {
        Ok(t) => t,
        Err(e @ ProofError::Unverified(_)) => {
            eprintln!("acttrace: {}: {e}", args.file.display());
            return EXIT_INTEGRITY;
        }
        Err(e) => return usage_error(&format!("{}: {e}", args.file.display())),
    };
    let result = match (args.seq, args.from_size, args.to_size) {
        (Some(seq), _, _) => {
            let size = match args.size.or(tree.latest().map(|(s, _)| s)) {
                Some(s) => s,
                None => {
                    return usage_error(
                        "the log holds no checkpoint: give the tree size with --size",
                    );
                }
            };
            inclusion_proof_text(&tree, seq, size)
        }
        (None, Some(a), Some(b)) => consistency_proof_text(&tree, a, b),
        _ => unreachable!("checked above"),
    };
    match result {
        Ok((text, signed)) => {
            if !signed {
                eprintln!(
                    "acttrace: warning: no checkpoint of that tree size in the log: the proof \
                     ends with the unsigned tree head, which a verifier must obtain elsewhere"
                );
            }
            out!("{text}");
            EXIT_OK
        }
        Err(e) => usage_error(&e.to_string()),
    }
}

#[derive(Args, Debug)]
pub(crate) struct VerifyProofArgs {
    /// The proof: a c2sp.org/tlog-proof@v1 file or a tlog-witness request body; `-` reads
    /// standard input.
    #[arg(value_name = "PROOF")]
    proof: PathBuf,
    #[command(flatten)]
    checkpoints: CheckpointArgs,
    /// Inclusion: a file holding the entry's line as the log wrote it (its hash is recomputed
    /// and its seq must be the proof's index).
    #[arg(long, value_name = "FILE", conflicts_with = "hash")]
    entry: Option<PathBuf>,
    /// Inclusion: the entry's chain hash (64 lowercase hex digits).
    #[arg(long, value_name = "HEX")]
    hash: Option<String>,
    /// Consistency: the old checkpoint (a signed note obtained earlier).
    #[arg(long, value_name = "FILE")]
    old_checkpoint: Option<PathBuf>,
}

/// The raw chain hash of an entry line, recomputed (SHA-256, else BLAKE3), with its seq.
fn entry_leaf(line: &str) -> Result<(u64, [u8; 32]), String> {
    let v = json::parse(line.trim()).map_err(|e| format!("not JSON: {e}"))?;
    let get = |k: &str| v.get(k).ok_or(format!("no {k:?} member"));
    let (seq, ts, kind, payload) = (get("seq")?, get("ts")?, get("type")?, get("payload")?);
    let prev = get("prev_hash")?
        .as_str()
        .ok_or("prev_hash is not a string")?;
    let hash = get("hash")?.as_str().ok_or("hash is not a string")?;
    let seq_n = seq.as_u64().ok_or("seq is not a non-negative integer")?;
    let matches = [HashAlg::Sha256, HashAlg::Blake3]
        .iter()
        .any(|alg| entry_hash(*alg, prev, seq, ts, kind, payload) == hash);
    if !matches {
        return Err(format!(
            "its hash is not the hash of its contents (seq {seq_n}): edited?"
        ));
    }
    Ok((seq_n, hex32(hash)?))
}

fn hex32(s: &str) -> Result<[u8; 32], String> {
    if s.len() != 64 || !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("a hash is 64 lowercase hex digits".into());
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Runs `verify-proof`.
pub(crate) fn run_verify_proof(args: VerifyProofArgs) -> u8 {
    let keys = match args.checkpoints.keys() {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => return usage_error("a verifier key is needed: --vkey or --vkey-file"),
        Err(e) => return usage_error(&e),
    };
    let text = if args.proof.as_os_str() == "-" {
        let mut t = String::new();
        if let Err(e) = std::io::stdin().take(1 << 20).read_to_string(&mut t) {
            return usage_error(&format!("reading stdin: {e}"));
        }
        t
    } else {
        match read_small(&args.proof) {
            Ok(t) => t,
            Err(e) => return usage_error(&e),
        }
    };
    let name = args.proof.display();
    let parsed = match parse_proof(&text) {
        Ok(p) => p,
        Err(e) => {
            outln!("{name}: {e}");
            return EXIT_INTEGRITY;
        }
    };
    let outcome = match parsed {
        ProofText::Inclusion(proof) => {
            let index = proof.index;
            let leaf = match (&args.entry, &args.hash) {
                (Some(path), _) => {
                    let line = match read_small(path) {
                        Ok(line) => line,
                        Err(e) => return usage_error(&format!("--entry {e}")),
                    };
                    let entry = path.display();
                    match entry_leaf(&line) {
                        Ok((seq, _)) if seq != index => {
                            outln!(
                                "{name}: the entry in {entry} has seq {seq}, the proof is for \
                                 index {index}"
                            );
                            return EXIT_INTEGRITY;
                        }
                        Ok((_, leaf)) => leaf,
                        Err(e) => {
                            outln!("{name}: the entry in {entry}: {e}");
                            return EXIT_INTEGRITY;
                        }
                    }
                }
                (None, Some(h)) => match hex32(h) {
                    Ok(l) => l,
                    Err(e) => return usage_error(&format!("--hash: {e}")),
                },
                (None, None) => {
                    return usage_error("an inclusion proof needs --entry FILE or --hash HEX");
                }
            };
            verify_inclusion_text(&text, &keys, &leaf).map(|(i, c)| {
                format!(
                    "ok: entry {i} is in the tree of {} entries of {}, checkpoint signed",
                    c.size, c.origin
                )
            })
        }
        ProofText::Consistency { .. } => {
            let Some(path) = &args.old_checkpoint else {
                return usage_error("a consistency proof needs --old-checkpoint FILE");
            };
            let old = match read_small(path)
                .and_then(|n| expected_checkpoint(&n, &keys).map_err(|e| e.to_string()))
            {
                Ok(c) => c,
                Err(e) => {
                    outln!("{name}: old checkpoint {}: {e}", path.display());
                    return EXIT_INTEGRITY;
                }
            };
            verify_consistency_text(&text, &keys, &old).map(|c| {
                format!(
                    "ok: the tree of {} entries of {} extends the tree of {}, checkpoints signed",
                    c.size, c.origin, old.size
                )
            })
        }
    };
    match outcome {
        Ok(s) => {
            outln!("{name}: {s}");
            EXIT_OK
        }
        Err(e) => {
            outln!("{name}: {e}");
            EXIT_INTEGRITY
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acttrace::json::Value;

    #[test]
    fn an_entry_line_gives_its_seq_and_recomputed_hash_and_an_edit_is_refused() {
        let key = acttrace::SigningKey::from_bytes(b"k-0123456789abcdef").unwrap();
        let e = acttrace::chain::SealedEntry::seal(
            HashAlg::Sha256,
            Some(&key),
            4,
            "2026-01-01T00:00:00+00:00".into(),
            "note".into(),
            Value::from("x"),
            acttrace::chain::GENESIS.into(),
        );
        let (seq, leaf) = entry_leaf(&e.to_line()).unwrap();
        assert_eq!(seq, 4);
        assert_eq!(leaf, hex32(&e.hash).unwrap());
        let edited = e.to_line().replace("\"x\"", "\"y\"");
        assert!(entry_leaf(&edited).unwrap_err().contains("edited?"));
    }
}
