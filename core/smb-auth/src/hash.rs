//! Password hashes ([MS-NLMP] 3.3.1 `NTOWFv1`).

use md4::{Digest, Md4};

/// The NT hash of a password: MD4 over its UTF-16LE encoding ([MS-NLMP] 3.3.1 `NTOWFv1`).
pub fn nt_hash(password: &str) -> [u8; 16] {
    let mut h = Md4::new();
    for unit in password.encode_utf16() {
        h.update(unit.to_le_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nlmp_4_2_2_1_2_nt_hash() {
        // [MS-NLMP] 4.2.2.1.2: NTOWFv1("Password")
        let expect = [
            0xa4, 0xf4, 0x9c, 0x40, 0x65, 0x10, 0xbd, 0xca, 0xb6, 0x82, 0x4e, 0xe7, 0xc3, 0x0f,
            0xd8, 0x52,
        ];
        assert_eq!(nt_hash("Password"), expect);
    }
}
