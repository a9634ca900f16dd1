//! `acttrace repair`: cut a torn last line off a log and record the cut on the chain.

use std::path::PathBuf;

use acttrace::writer::{RepairOutcome, repair};
use clap::Args;

use crate::exit::{EXIT_INTEGRITY, EXIT_OK, usage_error};
use crate::keys::KeyArgs;
use crate::out::{out, outln};

#[derive(Args, Debug)]
pub(crate) struct RepairArgs {
    /// The log file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
}

/// Runs `repair`; returns the exit code.
pub(crate) fn run(mut args: RepairArgs) -> u8 {
    let key = match args.key.load() {
        Ok(k) => k,
        Err(e) => return usage_error(&e),
    };
    let shown = args.file.display();
    match repair(&args.file, key.as_ref()) {
        Ok(RepairOutcome::NothingToRepair { entries }) => {
            outln!("{shown}: nothing to repair ({entries} entries, no torn line)");
            EXIT_OK
        }
        Ok(RepairOutcome::Repaired {
            recovery,
            recovery_seq,
        }) => {
            out!(
                "{shown}: moved the {} at line {} ({} bytes, sha256 {}) to {}",
                recovery.reason(),
                recovery.line,
                recovery.cut_bytes,
                recovery.cut_sha256,
                recovery.side_file
            );
            match recovery_seq {
                Some(seq) => outln!("; recorded as a recovery entry at seq {seq}"),
                None => outln!("; the log held no complete entry and is now empty"),
            }
            EXIT_OK
        }
        Err(e @ acttrace::Error::CorruptLog { .. }) => {
            eprintln!("acttrace: {e}");
            EXIT_INTEGRITY
        }
        Err(e) => usage_error(&e.to_string()),
    }
}
