//! 8.3 short names ([MS-FSCC] 2.1.5.2.1, [MS-FSA] 2.1.5.1.2.1) for FileAlternateNameInformation
//! and directory listings. Names already valid as 8.3 are their own short name (upper-cased);
//! others get a Samba-style hash mangle `PREFIX~HH.EXT`, stable for a given long name.

/// Characters allowed in an 8.3 name besides ASCII letters and digits.
const EXTRA: &[u8] = b"!#$%&'()-@^_`{}~";

fn ok83(c: u8) -> bool {
    c.is_ascii_alphanumeric() || EXTRA.contains(&c)
}

/// Writes the short name of `name` into `out` (12 bytes: 8 + '.' + 3) and returns it.
pub fn short_name<'b>(name: &str, out: &'b mut [u8; 12]) -> &'b str {
    let bytes = name.as_bytes();
    let (base, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&bytes[..i], &bytes[i + 1..]),
        _ => (bytes, &bytes[..0]),
    };
    let valid = !base.is_empty()
        && base.len() <= 8
        && ext.len() <= 3
        && base.iter().all(|&c| ok83(c))
        && ext.iter().all(|&c| ok83(c))
        && (name.contains('.') != ext.is_empty() || ext.is_empty() && !name.ends_with('.'));
    let mut n = 0;
    if valid {
        for &c in base {
            out[n] = c.to_ascii_uppercase();
            n += 1;
        }
        if !ext.is_empty() {
            out[n] = b'.';
            n += 1;
            for &c in ext {
                out[n] = c.to_ascii_uppercase();
                n += 1;
            }
        }
        return core::str::from_utf8(&out[..n]).unwrap_or("");
    }
    // FNV-1a over the whole name, case-folded, gives two base-36 digits.
    let mut h: u32 = 0x811c_9dc5;
    for c in name.chars().flat_map(char::to_uppercase) {
        let mut b = [0u8; 4];
        for &x in c.encode_utf8(&mut b).as_bytes() {
            h ^= u32::from(x);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for &c in base.iter().filter(|&&c| ok83(c)).take(5) {
        out[n] = c.to_ascii_uppercase();
        n += 1;
    }
    if n == 0 {
        out[n] = b'_';
        n += 1;
    }
    out[n] = b'~';
    out[n + 1] = DIGITS[(h % 36) as usize];
    out[n + 2] = DIGITS[((h / 36) % 36) as usize];
    n += 3;
    let e: heapless::Vec<u8, 3> = ext.iter().copied().filter(|&c| ok83(c)).take(3).collect();
    if !e.is_empty() {
        out[n] = b'.';
        n += 1;
        for c in e {
            out[n] = c.to_ascii_uppercase();
            n += 1;
        }
    }
    core::str::from_utf8(&out[..n]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names() {
        let mut b = [0u8; 12];
        assert_eq!(short_name("readme.txt", &mut b), "README.TXT");
        let mut b = [0u8; 12];
        let s = short_name("a long file name.jpeg", &mut b);
        assert!(s.starts_with("ALONG~") && s.ends_with(".JPE"), "{s}");
        let mut b2 = [0u8; 12];
        assert_eq!(
            short_name("A LONG FILE NAME.JPEG", &mut b2),
            s,
            "stable under case"
        );
        let mut b = [0u8; 12];
        assert!(short_name("日本語", &mut b).starts_with("_~"));
        let mut b = [0u8; 12];
        assert!(short_name(".bashrc", &mut b).contains('~'));
    }
}
