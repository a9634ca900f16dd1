//! `verify --witness URL`: a witness's latest cosigned checkpoint for the log's origin, fetched
//! by the verifier itself (issue #13), as an anchor the log must be consistent with, exactly as
//! one given with `--expect-checkpoint`. The HTTP client is behind the crate's `witness`
//! feature; without it the flag is refused with a sentence that says how to get it.

use acttrace::checkpoint::{Checkpoint, VerifierKey};

/// Fetches and verifies each witness's latest checkpoint for the origin the log keys name:
/// signed by the log key, cosigned by one of `witness_keys` (`--witness-key`, type 0x04).
/// `Err` (a usage error: nothing was verified) names the witness and what went wrong, an
/// unreachable witness included.
pub(crate) fn fetch_anchors(
    urls: &[String],
    witness_keys: &[String],
    log_keys: &[VerifierKey],
) -> Result<Vec<Checkpoint>, String> {
    if urls.is_empty() {
        if !witness_keys.is_empty() {
            return Err("--witness-key needs --witness URL".into());
        }
        return Ok(Vec::new());
    }
    let mut origins: Vec<&str> = log_keys.iter().map(VerifierKey::name).collect();
    origins.sort_unstable();
    origins.dedup();
    let [origin] = origins[..] else {
        return Err(format!(
            "--witness needs the log's verifier key (--vkey, named as the log's origin: the \
             witness is asked for that origin's checkpoint), and keys of one origin only; \
             given: {origins:?}"
        ));
    };
    if witness_keys.is_empty() {
        return Err(
            "--witness needs --witness-key VKEY: the witness's Ed25519 cosignature key \
             (<name>+<hex id>+<base64(0x04 || key)>)"
                .into(),
        );
    }
    fetch(urls, witness_keys, log_keys, origin)
}

#[cfg(feature = "witness")]
fn fetch(
    urls: &[String],
    witness_keys: &[String],
    log_keys: &[VerifierKey],
    origin: &str,
) -> Result<Vec<Checkpoint>, String> {
    use acttrace::checkpoint::witness::{WitnessKey, fetch_latest};
    use acttrace::verify::expected_checkpoint;

    let wkeys = witness_keys
        .iter()
        .map(|k| {
            k.parse::<WitnessKey>()
                .map_err(|e| format!("--witness-key {k:?}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let log_key = log_keys
        .iter()
        .find(|k| k.name() == origin)
        .expect("the origin is a key's name");
    let mut out = Vec::with_capacity(urls.len());
    for url in urls {
        let note = fetch_latest(url, origin, &wkeys, log_key)
            .map_err(|e| format!("--witness {url}: {e}"))?;
        let checkpoint = expected_checkpoint(&note, log_keys)
            .map_err(|e| format!("--witness {url}: its checkpoint: {e}"))?;
        eprintln!(
            "acttrace: witness {url}: cosigned checkpoint of {origin} at tree size {}",
            checkpoint.size
        );
        out.push(checkpoint);
    }
    Ok(out)
}

#[cfg(not(feature = "witness"))]
fn fetch(
    _urls: &[String],
    _witness_keys: &[String],
    _log_keys: &[VerifierKey],
    _origin: &str,
) -> Result<Vec<Checkpoint>, String> {
    Err(
        "--witness: this acttrace was built without the witness feature (`cargo install \
         acttrace --features witness`); or fetch the witness's checkpoint with any HTTP client \
         and pass it with --expect-checkpoint FILE"
            .into(),
    )
}
