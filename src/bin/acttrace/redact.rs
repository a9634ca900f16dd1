//! `acttrace redact`: a dry run of the layer's redaction on JSON Lines from stdin, and the
//! redaction policy option it shares with `prove-content`.

use std::io::{BufRead, Read, Write};

use acttrace::redact::{Policy, redact_value};
use clap::Args;

use crate::exit::{EXIT_OK, usage_error};

#[derive(Args, Debug)]
pub(crate) struct RedactArgs {
    /// A preset (default, gdpr, pci, strict) or a policy TOML file.
    #[arg(long, value_name = "PRESET|FILE", default_value = "default")]
    policy: String,
    /// Redact every category the engine has, locale packs included, whatever the policy's
    /// actions say (the policy's entropy switch is kept).
    #[arg(long)]
    all: bool,
    /// Print the findings of each line instead of the redacted value.
    #[arg(long)]
    findings: bool,
}

/// A redaction policy named by a preset or a TOML file.
pub(crate) fn load_policy(spec: &str) -> Result<Policy, String> {
    if let Some(p) = Policy::preset(spec) {
        return Ok(p);
    }
    let text = crate::verify::read_small(std::path::Path::new(spec)).map_err(|e| {
        format!("--policy {spec}: not a preset (default, gdpr, pci, strict) and not a readable file: {e}")
    })?;
    Policy::from_toml_str(&text).map_err(|e| format!("{spec}: {e}"))
}

/// The longest input line read: a line is one JSON value, at most as long as a log line.
const MAX_LINE_BYTES: u64 = acttrace::verify::DEFAULT_MAX_LINE_BYTES as u64;

/// Runs `redact`; returns the exit code.
pub(crate) fn run(args: RedactArgs) -> u8 {
    let policy = match load_policy(&args.policy) {
        Ok(p) if args.all => p.redact_every_category(),
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut line = Vec::new();
    let mut reader = stdin.lock();
    for number in 1u64.. {
        line.clear();
        match Read::take(&mut reader, MAX_LINE_BYTES + 1).read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return usage_error(&format!("reading stdin: {e}")),
        }
        if line.len() as u64 > MAX_LINE_BYTES {
            return usage_error(&format!(
                "line {number}: longer than {MAX_LINE_BYTES} bytes (the longest entry line a \
                 verifier reads)"
            ));
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            return usage_error(&format!("line {number}: not valid UTF-8"));
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let mut value = match acttrace::json::parse(text) {
            Ok(v) => v,
            Err(e) => return usage_error(&format!("line {number}: not JSON: {e}")),
        };
        let report = redact_value(&mut value, &policy);
        let written = if args.findings {
            let findings: Vec<serde_json::Value> = report
                .categories()
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "category": c.category,
                        "group": c.group,
                        "count": c.count,
                        "action": c.action.as_str(),
                        "severity": c.severity.as_str(),
                    })
                })
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({"line": number, "findings": findings})
            )
        } else {
            writeln!(out, "{}", value)
        };
        if let Err(e) = written {
            // Nothing more can be delivered: a closed pipe (the reader went away) ends the
            // command quietly, any other failure is reported by `out::finish`.
            crate::out::failed(e);
            return EXIT_OK;
        }
    }
    if let Err(e) = out.flush() {
        crate::out::failed(e);
    }
    EXIT_OK
}
