//! SMB2 NEGOTIATE ([MS-SMB2] 2.2.3, 2.2.4) and negotiate contexts (2.2.3.1, 2.2.4.1).

use crate::body::Body;
use crate::emit::{align8, Out};
use crate::error::{Error, Result};
use crate::field::{le_u16, le_u32};
use crate::header::HEADER_LEN;

/// Security mode bits ([MS-SMB2] 2.2.3).
pub mod security_mode {
    pub const SIGNING_ENABLED: u16 = 0x0001;
    pub const SIGNING_REQUIRED: u16 = 0x0002;
}

/// Global capabilities ([MS-SMB2] 2.2.3).
pub mod capabilities {
    pub const DFS: u32 = 0x0000_0001;
    pub const LEASING: u32 = 0x0000_0002;
    pub const LARGE_MTU: u32 = 0x0000_0004;
    pub const MULTI_CHANNEL: u32 = 0x0000_0008;
    pub const PERSISTENT_HANDLES: u32 = 0x0000_0010;
    pub const DIRECTORY_LEASING: u32 = 0x0000_0020;
    pub const ENCRYPTION: u32 = 0x0000_0040;
}

/// Negotiate context types ([MS-SMB2] 2.2.3.1).
pub mod context_type {
    pub const PREAUTH_INTEGRITY_CAPABILITIES: u16 = 0x0001;
    pub const ENCRYPTION_CAPABILITIES: u16 = 0x0002;
    pub const COMPRESSION_CAPABILITIES: u16 = 0x0003;
    pub const NETNAME_NEGOTIATE_CONTEXT_ID: u16 = 0x0005;
    pub const TRANSPORT_CAPABILITIES: u16 = 0x0006;
    pub const RDMA_TRANSFORM_CAPABILITIES: u16 = 0x0007;
    pub const SIGNING_CAPABILITIES: u16 = 0x0008;
}

/// SHA-512, the only preauth integrity hash ([MS-SMB2] 2.2.3.1.1).
pub const HASH_SHA512: u16 = 0x0001;

/// A parsed NEGOTIATE request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub security_mode: u16,
    pub capabilities: u32,
    pub client_guid: [u8; 16],
    dialects: &'a [u8],
    contexts: &'a [u8],
    context_count: u16,
    /// Offset of `contexts` from the header start (contexts are 8-byte aligned from there).
    contexts_offset: usize,
}

impl<'a> Request<'a> {
    /// Parses a NEGOTIATE request (whole message, header included).
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let b = Body::new(msg, 36)?;
        let count = usize::from(b.u16(2));
        if count == 0 {
            return Err(Error::Malformed);
        }
        let dialects = b.blob(HEADER_LEN + 36, count * 2)?;
        let ctx_off = b.u32(28) as usize;
        let ctx_count = b.u16(32);
        // The context fields are only meaningful when 3.1.1 is offered.
        let offers_311 = dialects.chunks_exact(2).any(|d| le_u16(d) == 0x0311);
        let (contexts, context_count) = if offers_311 && ctx_count > 0 {
            if ctx_off < HEADER_LEN + 36 || ctx_off > msg.len() {
                return Err(Error::Malformed);
            }
            (&msg[ctx_off..], ctx_count)
        } else {
            (&msg[..0], 0)
        };
        Ok(Self {
            security_mode: b.u16(4),
            capabilities: b.u32(8),
            client_guid: b.array(12),
            dialects,
            contexts,
            context_count,
            contexts_offset: ctx_off,
        })
    }

    /// The dialects offered, in the client's order.
    pub fn dialects(&self) -> impl Iterator<Item = u16> + 'a {
        self.dialects.chunks_exact(2).map(le_u16)
    }

    /// The negotiate contexts, lazily; each item is checked as it is reached.
    pub fn contexts(&self) -> ContextIter<'a> {
        ContextIter {
            buf: self.contexts,
            base: self.contexts_offset,
            pos: 0,
            left: self.context_count,
        }
    }
}

/// One negotiate context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context<'a> {
    pub context_type: u16,
    pub data: &'a [u8],
}

/// Iterator over negotiate contexts ([MS-SMB2] 2.2.3.1): 8-byte aligned from the header.
#[derive(Debug, Clone)]
pub struct ContextIter<'a> {
    buf: &'a [u8],
    base: usize,
    pos: usize,
    left: u16,
}

impl<'a> Iterator for ContextIter<'a> {
    type Item = Result<Context<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Align relative to the header start.
        let aligned = align8(self.base + self.pos) - self.base;
        let Some(head) = self.buf.get(aligned..aligned + 8) else {
            self.left = 0;
            return Some(Err(Error::Truncated));
        };
        let context_type = le_u16(head);
        let len = usize::from(le_u16(&head[2..]));
        let start = aligned + 8;
        let Some(data) = self.buf.get(start..start + len) else {
            self.left = 0;
            return Some(Err(Error::Truncated));
        };
        self.pos = start + len;
        Some(Ok(Context { context_type, data }))
    }
}

/// Reads a `count`-prefixed list of u16 ids (the ids of encryption, signing or hash
/// capabilities) and returns the id slice.
pub fn id_list(data: &[u8], count_off: usize, list_off: usize) -> Result<&[u8]> {
    let count = usize::from(le_u16(
        data.get(count_off..count_off + 2).ok_or(Error::Truncated)?,
    ));
    if count == 0 {
        return Err(Error::Malformed);
    }
    data.get(list_off..list_off + count * 2)
        .ok_or(Error::Truncated)
}

/// The fields of a NEGOTIATE response besides its buffers.
#[derive(Debug, Clone, Copy)]
pub struct ResponseRepr {
    pub security_mode: u16,
    pub dialect: u16,
    pub server_guid: [u8; 16],
    pub capabilities: u32,
    pub max_transact_size: u32,
    pub max_read_size: u32,
    pub max_write_size: u32,
    pub system_time: u64,
    pub server_start_time: u64,
}

/// Offset of the security buffer in a NEGOTIATE response (header + 64 bytes of fixed body).
pub const RESPONSE_SECURITY_OFFSET: usize = HEADER_LEN + 64;

impl ResponseRepr {
    /// Writes the body. `msg` is the whole response message; the security buffer
    /// (`security_len` bytes) must already be at [`RESPONSE_SECURITY_OFFSET`] and the
    /// `context_count` contexts (if any) at `contexts_offset`. Returns nothing: the caller
    /// knows the total length it wrote.
    pub fn emit(
        &self,
        msg: &mut [u8],
        security_len: usize,
        context_count: u16,
        contexts_offset: usize,
    ) {
        let mut o = Out::new(&mut msg[HEADER_LEN..RESPONSE_SECURITY_OFFSET]);
        o.u16(0, 65);
        o.u16(2, self.security_mode);
        o.u16(4, self.dialect);
        o.u16(6, context_count);
        o.bytes(8, &self.server_guid);
        o.u32(24, self.capabilities);
        o.u32(28, self.max_transact_size);
        o.u32(32, self.max_read_size);
        o.u32(36, self.max_write_size);
        o.u64(40, self.system_time);
        o.u64(48, self.server_start_time);
        o.u16(56, RESPONSE_SECURITY_OFFSET as u16);
        o.u16(58, security_len as u16);
        o.u32(
            60,
            if context_count > 0 {
                contexts_offset as u32
            } else {
                0
            },
        );
    }
}

/// Writes one negotiate context (header + data) at `msg[off..]`; returns the end offset.
/// Returns `None` if it does not fit.
pub fn emit_context(msg: &mut [u8], off: usize, context_type: u16, data: &[u8]) -> Option<usize> {
    let end = off.checked_add(8 + data.len())?;
    let dst = msg.get_mut(off..end)?;
    let mut o = Out::new(dst);
    o.u16(0, context_type);
    o.u16(2, data.len() as u16);
    o.u32(4, 0);
    o.bytes(8, data);
    Some(end)
}

/// Reads a little-endian u32 (re-exported for context data parsing).
pub fn ctx_u32(b: &[u8]) -> u32 {
    le_u32(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dialects: &[u16], contexts: &[(u16, &[u8])]) -> ([u8; 512], usize) {
        let mut m = [0u8; 512];
        m[..4].copy_from_slice(&crate::header::PROTOCOL_ID);
        m[4] = 64;
        let b = HEADER_LEN;
        m[b..b + 2].copy_from_slice(&36u16.to_le_bytes());
        m[b + 2..b + 4].copy_from_slice(&(dialects.len() as u16).to_le_bytes());
        let mut p = b + 36;
        for d in dialects {
            m[p..p + 2].copy_from_slice(&d.to_le_bytes());
            p += 2;
        }
        if !contexts.is_empty() {
            p = align8(p);
            m[b + 28..b + 32].copy_from_slice(&(p as u32).to_le_bytes());
            m[b + 32..b + 34].copy_from_slice(&(contexts.len() as u16).to_le_bytes());
            for (t, d) in contexts {
                p = align8(p);
                p = emit_context(&mut m, p, *t, d).unwrap();
            }
        }
        (m, p)
    }

    #[test]
    fn parses_dialects_and_contexts() {
        let pre = [1, 0, 0, 0, 1, 0];
        let enc = [2, 0, 2, 0, 1, 0];
        let (m, len) = request(&[0x202, 0x311], &[(1, &pre), (2, &enc)]);
        let r = Request::parse(&m[..len]).unwrap();
        assert_eq!(
            r.dialects().collect::<heapless_free::V>().0,
            [0x202, 0x311, 0, 0]
        );
        let mut it = r.contexts();
        let c = it.next().unwrap().unwrap();
        assert_eq!(c.context_type, 1);
        assert_eq!(c.data, &pre);
        let c = it.next().unwrap().unwrap();
        assert_eq!(c.context_type, 2);
        assert_eq!(id_list(c.data, 0, 2).unwrap(), &[2, 0, 1, 0]);
        assert!(it.next().is_none());
    }

    #[test]
    fn rejects_truncated_contexts_and_zero_dialects() {
        let pre = [1, 0, 0, 0, 1, 0];
        let (m, len) = request(&[0x311], &[(1, &pre)]);
        let r = Request::parse(&m[..len - 3]).unwrap();
        assert_eq!(r.contexts().next().unwrap().unwrap_err(), Error::Truncated);
        let (m, len) = request(&[], &[]);
        assert!(Request::parse(&m[..len]).is_err());
        for cut in 0..len {
            let _ = Request::parse(&m[..cut]);
        }
    }

    mod heapless_free {
        /// A tiny fixed collector for tests (no alloc in this crate).
        pub struct V(pub [u16; 4]);
        impl FromIterator<u16> for V {
            fn from_iter<I: IntoIterator<Item = u16>>(it: I) -> Self {
                let mut a = [0; 4];
                for (i, v) in it.into_iter().take(4).enumerate() {
                    a[i] = v;
                }
                Self(a)
            }
        }
    }
}
