//! The JSON line parser on arbitrary bytes: never panics, and whatever it accepts survives a
//! round trip through the line layout.
#![no_main]

use acttrace::json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(v) = json::parse(text) {
        let line = v.to_string();
        let again = json::parse(&line).expect("our own line layout parses");
        assert_eq!(json::to_canonical(&again), json::to_canonical(&v));
    }
});
