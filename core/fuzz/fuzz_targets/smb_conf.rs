//! smb.conf parsing and validation (`smbed_config::from_str`): clean errors with file:line,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok((cfg, _)) = smbed_config::from_str(&text, "/fuzz/smb.conf") {
        // The effective configuration prints (testparm) without panicking.
        let _ = cfg.to_string();
    }
});
