//! Scalar GF(2^128) arithmetic for GHASH key setup (powers of H), constant time.
//!
//! Representation shared by the accelerated backends: a GHASH block byte-reversed and read as
//! a little-endian 128-bit integer, so bit `127 - i` is the coefficient of `x^i`.

/// A GHASH block (spec byte order) as the reflected integer.
pub(crate) fn to_int(b: &[u8; 16]) -> u128 {
    let mut r = *b;
    r.reverse();
    u128::from_le_bytes(r)
}

/// `a * b` (NIST SP 800-38D algorithm 1), constant time.
#[cfg(any(target_arch = "aarch64", target_arch = "arm", test))]
pub(crate) fn gf_mul(a: u128, b: u128) -> u128 {
    let mut z = 0u128;
    let mut v = b;
    for i in 0..128 {
        let bit = (a >> (127 - i)) & 1;
        z ^= v & 0u128.wrapping_sub(bit);
        v = (v >> 1) ^ (0u128.wrapping_sub(v & 1) & (0xE1u128 << 120));
    }
    z
}

/// `a * x^-1`: a left shift in this representation, with `x^-1 = x^127 + x^6 + x + 1`
/// folded in for the bit shifted out.
///
/// The carry-less product of two reflected operands encodes their field product times `x`
/// (it comes out one bit short); keys pre-multiplied by `x^-1` compensate.
pub(crate) fn x_inv_mul(a: u128) -> u128 {
    let carry = 0u128.wrapping_sub(a >> 127);
    (a << 1) ^ (carry & 0xC200_0000_0000_0000_0000_0000_0000_0001)
}
