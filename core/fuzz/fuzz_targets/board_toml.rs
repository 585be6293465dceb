//! Board profile parsing (`smbed_config::board::parse`, boards/README.md format).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = smbed_config::board::parse(&text, "fuzz.toml");
});
