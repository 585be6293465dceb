//! Extended attributes as SMB carries them: FILE_FULL_EA_INFORMATION lists ([MS-FSCC] 2.4.15)
//! in CREATE contexts, SET_INFO and QUERY_INFO. Parsed lists borrow the request buffer.

use smb_wire::NtStatus;

/// Most EAs accepted in one list.
pub const MAX_EAS: usize = 64;

/// A parsed FILE_FULL_EA_INFORMATION chain.
#[derive(Debug, Default)]
pub struct EaList<'a> {
    items: heapless::Vec<(&'a str, &'a [u8]), MAX_EAS>,
}

/// Whether `name` is a valid EA name ([MS-FSCC] 2.4.15: ASCII, no control characters or
/// `"*+,/:;<=>?[\\]|`).
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&c| (0x20..0x7f).contains(&c) && !b"\"*+,/:;<=>?[\\]|".contains(&c))
}

impl<'a> EaList<'a> {
    /// Parses and validates a list; a malformed chain is `EA_LIST_INCONSISTENT`, a bad name
    /// `INVALID_EA_NAME`.
    pub fn parse(b: &'a [u8]) -> Result<Self, NtStatus> {
        let mut items = heapless::Vec::new();
        let mut pos = 0usize;
        loop {
            let h = b.get(pos..pos + 8).ok_or(NtStatus::EA_LIST_INCONSISTENT)?;
            let next = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let nlen = usize::from(h[5]);
            let vlen = usize::from(u16::from_le_bytes([h[6], h[7]]));
            let name = b
                .get(pos + 8..pos + 8 + nlen)
                .ok_or(NtStatus::EA_LIST_INCONSISTENT)?;
            let value_at = pos + 8 + nlen + 1;
            let value = b
                .get(value_at..value_at + vlen)
                .ok_or(NtStatus::EA_LIST_INCONSISTENT)?;
            if b.get(pos + 8 + nlen) != Some(&0) {
                return Err(NtStatus::EA_LIST_INCONSISTENT);
            }
            if !valid_name(name) {
                return Err(NtStatus::INVALID_EA_NAME);
            }
            let name = core::str::from_utf8(name).map_err(|_| NtStatus::INVALID_EA_NAME)?;
            items
                .push((name, value))
                .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
            if next == 0 {
                break;
            }
            if !next.is_multiple_of(4) || next < 8 + nlen + 1 + vlen {
                return Err(NtStatus::EA_LIST_INCONSISTENT);
            }
            pos += next;
        }
        Ok(Self { items })
    }

    /// The (name, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.items.iter().copied()
    }
}

/// Bytes one EA takes in a FILE_FULL_EA_INFORMATION list, 4-aligned.
pub fn entry_size(name: &str, value: &[u8]) -> usize {
    (8 + name.len() + 1 + value.len() + 3) & !3
}

/// Writes one entry at `out[pos..]`; returns its unaligned length or `None` if it does not fit.
pub fn write_entry(out: &mut [u8], pos: usize, name: &str, value: &[u8]) -> Option<usize> {
    let len = 8 + name.len() + 1 + value.len();
    let dst = out.get_mut(pos..pos + len)?;
    dst[..4].fill(0);
    dst[4] = 0;
    dst[5] = u8::try_from(name.len()).ok()?;
    dst[6..8].copy_from_slice(&u16::try_from(value.len()).ok()?.to_le_bytes());
    dst[8..8 + name.len()].copy_from_slice(name.as_bytes());
    dst[8 + name.len()] = 0;
    dst[9 + name.len()..].copy_from_slice(value);
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_roundtrip_and_reject() {
        let mut b = [0u8; 64];
        let l1 = write_entry(&mut b, 0, "EAONE", b"VALUE1").unwrap();
        let p2 = (l1 + 3) & !3;
        b[..4].copy_from_slice(&(p2 as u32).to_le_bytes());
        let l2 = write_entry(&mut b, p2, "SECOND", b"x").unwrap();
        let list = EaList::parse(&b[..p2 + l2]).unwrap();
        let v: heapless::Vec<_, 4> = list.iter().collect();
        assert_eq!(v[0], ("EAONE", &b"VALUE1"[..]));
        assert_eq!(v[1], ("SECOND", &b"x"[..]));
        for cut in 0..p2 + l2 {
            assert!(EaList::parse(&b[..cut]).is_err());
        }
        let mut bad = b;
        bad[8] = b'*';
        assert_eq!(
            EaList::parse(&bad[..p2 + l2]).unwrap_err(),
            NtStatus::INVALID_EA_NAME
        );
        let mut bad = b;
        bad[..4].copy_from_slice(&3u32.to_le_bytes());
        assert!(EaList::parse(&bad[..p2 + l2]).is_err());
    }
}
