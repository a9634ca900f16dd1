//! Unit tests of the protocol functions; the cosignatures are made here with ed25519-dalek
//! directly, from the spec's description, not with the module's code.

use super::*;
use crate::checkpoint::{Checkpoint, SignerKey};
use ed25519_dalek::{Signer, SigningKey};
use zeroize::Zeroizing;

const WITNESS: &str = "witness.example/w1";
const ORIGIN: &str = "example.org/log";

fn witness_signer(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The vkey written out by hand: name, SHA-256(name ‖ \n ‖ 0x04 ‖ pk)[:4] in hex, base64.
fn vkey(name: &str, signer: &SigningKey) -> String {
    let pk = signer.verifying_key().to_bytes();
    let id = Sha256::digest([name.as_bytes(), b"\n\x04", &pk].concat());
    let mut blob = vec![0x04];
    blob.extend_from_slice(&pk);
    format!(
        "{name}+{}+{}",
        crate::hex::to_hex(&id[..4]),
        B64.encode(blob)
    )
}

fn cosign_line(name: &str, signer: &SigningKey, text: &str, time: u64) -> String {
    let pk = signer.verifying_key().to_bytes();
    let id = Sha256::digest([name.as_bytes(), b"\n\x04", &pk].concat());
    let msg = format!("cosignature/v1\ntime {time}\n{text}");
    let mut blob = id[..4].to_vec();
    blob.extend_from_slice(&time.to_be_bytes());
    blob.extend_from_slice(&signer.sign(msg.as_bytes()).to_bytes());
    format!("\u{2014} {name} {}\n", B64.encode(blob))
}

/// An ML-DSA-44 shaped line: key id from type 0x06 and a 1312-byte key, then a timestamp and
/// 2420 signature bytes.
fn ml_dsa_line(name: &str) -> String {
    let id = Sha256::digest([name.as_bytes(), b"\n\x06", &[9u8; 1312]].concat());
    let mut blob = id[..4].to_vec();
    blob.extend_from_slice(&1_700_000_000u64.to_be_bytes());
    blob.extend_from_slice(&[7u8; 2420]);
    format!("\u{2014} {name} {}\n", B64.encode(blob))
}

fn log_note(size: u64) -> (SignerKey, String) {
    let signer = SignerKey::from_seed(ORIGIN, Zeroizing::new([3u8; 32])).unwrap();
    let body = Checkpoint::new(ORIGIN, size, [size as u8; 32])
        .unwrap()
        .body();
    let note = signer.sign(&body).unwrap();
    (signer, note)
}

#[test]
fn witness_key_parses_the_spec_format_and_refuses_other_types() {
    let w = witness_signer(1);
    let text = vkey(WITNESS, &w);
    let key: WitnessKey = text.parse().unwrap();
    assert_eq!(key.name(), WITNESS);
    assert_eq!(key.public_key(), w.verifying_key().to_bytes());
    assert_eq!(key.to_string(), text);
    assert_eq!(
        key.key_id(),
        cosignature_key_id(WITNESS, &w.verifying_key().to_bytes())
    );

    // The same public key as a log key (type 0x01) is not a cosignature key.
    let log = SignerKey::from_seed(WITNESS, Zeroizing::new([1u8; 32]))
        .unwrap()
        .verifier()
        .to_string();
    assert!(matches!(
        log.parse::<WitnessKey>(),
        Err(WitnessError::InvalidKey(_))
    ));
    let mut ml = vec![0x06];
    ml.extend_from_slice(&[9u8; 1312]);
    let ml = format!("{WITNESS}+00000000+{}", B64.encode(ml));
    let err = ml.parse::<WitnessKey>().unwrap_err();
    assert!(err.to_string().contains("ML-DSA-44"), "{err}");
    // A key id that does not match.
    let wrong = text.replacen(&text[WITNESS.len() + 1..WITNESS.len() + 9], "00000000", 1);
    assert_eq!(
        wrong.parse::<WitnessKey>(),
        Err(WitnessError::InvalidKey(
            "key id does not match the name and key"
        ))
    );
}

#[test]
fn request_body_is_old_size_proof_lines_blank_line_and_note() {
    let (_, note) = log_note(9);
    let proof = [[1u8; 32], [2u8; 32]];
    let body = add_checkpoint_body(4, &proof, &note).unwrap();
    let want = format!(
        "old 4\n{}\n{}\n\n{note}",
        B64.encode([1u8; 32]),
        B64.encode([2u8; 32])
    );
    assert_eq!(body, want);
    assert_eq!(
        add_checkpoint_body(0, &[], &note).unwrap(),
        format!("old 0\n\n{note}")
    );
    assert!(matches!(
        add_checkpoint_body(0, &proof, &note),
        Err(WitnessError::InvalidRequest(_))
    ));
    assert!(add_checkpoint_body(1, &[[0u8; 32]; 63], &note).is_ok());
    assert!(matches!(
        add_checkpoint_body(1, &[[0u8; 32]; 64], &note),
        Err(WitnessError::InvalidRequest(_))
    ));
    assert!(add_checkpoint_body(1, &[], "no blank line\n").is_err());
}

#[test]
fn cosigned_response_verifies_known_keys_and_ignores_others() {
    let (_, note) = log_note(5);
    let text = note_text(&note).unwrap();
    let w = witness_signer(1);
    let other = witness_signer(2);
    let keys = [vkey(WITNESS, &w).parse::<WitnessKey>().unwrap()];
    let good = cosign_line(WITNESS, &w, text, 1_700_000_123);
    let body = format!(
        "{}{good}{}",
        ml_dsa_line(WITNESS),
        cosign_line("other.example/w", &other, text, 5)
    );
    let outcome = parse_add_checkpoint_response(200, body.as_bytes(), text, &keys).unwrap();
    let AddCheckpointOutcome::Cosigned(found) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(found.ignored, 2);
    assert_eq!(found.verified.len(), 1);
    assert_eq!(found.verified[0].timestamp, 1_700_000_123);
    assert_eq!(found.verified[0].witness, WITNESS);
    assert_eq!(format!("{}\n", found.verified[0].line), good);

    // Only lines of other keys or types: no cosignature.
    let body = ml_dsa_line(WITNESS);
    assert_eq!(
        parse_add_checkpoint_response(200, body.as_bytes(), text, &keys),
        Err(WitnessError::NoCosignature { ignored: 1 })
    );
    // A known key's line over another checkpoint (or another time) does not verify.
    let (_, note6) = log_note(6);
    let wrong = cosign_line(WITNESS, &w, note_text(&note6).unwrap(), 1_700_000_123);
    assert!(matches!(
        parse_add_checkpoint_response(200, wrong.as_bytes(), text, &keys),
        Err(WitnessError::BadCosignature { .. })
    ));
    // The same key twice, a line without the dash, no final newline: malformed.
    for body in [
        format!("{good}{good}"),
        good.replace('\u{2014}', "-"),
        good.trim_end().to_owned(),
    ] {
        assert!(
            matches!(
                parse_add_checkpoint_response(200, body.as_bytes(), text, &keys),
                Err(WitnessError::InvalidResponse { status: 200, .. })
            ),
            "{body:?}"
        );
    }
}

#[test]
fn conflict_bad_proof_and_other_statuses() {
    let keys: [WitnessKey; 0] = [];
    assert_eq!(
        parse_add_checkpoint_response(409, b"1234\n", "t\n", &keys),
        Ok(AddCheckpointOutcome::SizeConflict { witness_size: 1234 })
    );
    assert_eq!(
        parse_add_checkpoint_response(409, b"0\n", "t\n", &keys),
        Ok(AddCheckpointOutcome::SizeConflict { witness_size: 0 })
    );
    for body in [
        &b"0012\n"[..],
        b"",
        b"-1\n",
        b"12 13\n",
        b"99999999999999999999\n",
    ] {
        assert!(
            matches!(
                parse_add_checkpoint_response(409, body, "t\n", &keys),
                Err(WitnessError::InvalidResponse { status: 409, .. })
            ),
            "{body:?}"
        );
    }
    assert_eq!(
        parse_add_checkpoint_response(422, b"bad proof\n", "t\n", &keys),
        Ok(AddCheckpointOutcome::BadProof {
            excerpt: "bad proof ".into()
        })
    );
    let long = vec![b'x'; 100_000];
    let Err(WitnessError::Status { status, excerpt }) =
        parse_add_checkpoint_response(503, &long, "t\n", &keys)
    else {
        panic!("503 is an error")
    };
    assert_eq!(status, 503);
    assert_eq!(excerpt.chars().count(), 201);
    assert!(excerpt.ends_with('…'));
}

#[test]
fn witnessed_checkpoint_needs_the_log_key_the_origin_and_a_cosignature() {
    let (log, note) = log_note(5);
    let text = note_text(&note).unwrap();
    let w = witness_signer(1);
    let keys = [vkey(WITNESS, &w).parse::<WitnessKey>().unwrap()];
    let cosigned = format!(
        "{note}{}{}",
        ml_dsa_line(WITNESS),
        cosign_line(WITNESS, &w, text, 77)
    );
    let got = verify_witnessed_checkpoint(&cosigned, ORIGIN, &keys, &log.verifier()).unwrap();
    assert_eq!(got.checkpoint.size, 5);
    assert_eq!(got.cosignatures.len(), 1);
    assert_eq!(got.cosignatures[0].timestamp, 77);

    assert!(matches!(
        verify_witnessed_checkpoint(&cosigned, "example.org/other", &keys, &log.verifier()),
        Err(WitnessError::OriginMismatch { .. })
    ));
    assert_eq!(
        verify_witnessed_checkpoint(&note, ORIGIN, &keys, &log.verifier()),
        Err(WitnessError::NoCosignature { ignored: 1 })
    );
    let stranger = SignerKey::from_seed(ORIGIN, Zeroizing::new([4u8; 32])).unwrap();
    assert!(matches!(
        verify_witnessed_checkpoint(&cosigned, ORIGIN, &keys, &stranger.verifier()),
        Err(WitnessError::Checkpoint(_))
    ));
}

#[test]
fn monitoring_url_is_prefix_hex_sha256_of_origin_checkpoint() {
    let want = format!(
        "https://w.example/m/{}/checkpoint",
        crate::hex::to_hex(&Sha256::digest(ORIGIN))
    );
    assert_eq!(checkpoint_url("https://w.example/m/", ORIGIN), want);
    assert_eq!(checkpoint_url("https://w.example/m", ORIGIN), want);
}
