//! The verifier on arbitrary files (with and without a key, with a small line cap): never
//! panics, never hangs, and a verified result has a well-formed head.
#![no_main]

use acttrace::SigningKey;
use acttrace::verify::{VerifyOptions, verify_reader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plain = VerifyOptions { max_line_bytes: 4096, ..VerifyOptions::default() };
    let r = verify_reader(data, "fuzz", &plain).expect("reading a slice cannot fail");
    if r.ok() {
        assert!(r.head.len() == 64 && r.head.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        assert!(r.entries > 0);
    }
    let keyed = VerifyOptions {
        key: Some(SigningKey::from_bytes("key-7-1").unwrap()),
        expected_head: Some(r.head.clone()),
        ..VerifyOptions::default()
    };
    let _ = verify_reader(data, "fuzz", &keyed).expect("reading a slice cannot fail");
});
