//! SPNEGO token parsing (`smb_auth::spnego::parse`, [MS-SPNG], RFC 4178 DER).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = smb_auth::spnego::parse(data);
});
