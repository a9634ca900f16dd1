//! The canonicaliser: canonical form is a fixed point (canonical(parse(canonical(x))) ==
//! canonical(x)), so a hash computed by one reader matches another's.
#![no_main]

use acttrace::json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(v) = json::parse(text) else { return };
    let canon = json::to_canonical(&v);
    let reparsed = json::parse(&canon).expect("canonical form parses");
    assert_eq!(json::to_canonical(&reparsed), canon);
});
