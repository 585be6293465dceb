//! The SMB2 packet header ([MS-SMB2] 2.2.1). After [`Header::check_len`] succeeds no accessor
//! panics.

use crate::error::{Error, Result};
use crate::field::{le_u16, le_u32, le_u64, put_le_u16, put_le_u32, put_le_u64, Field};
use crate::NtStatus;

open_enum! {
    /// SMB2 command codes ([MS-SMB2] 2.2.1.2).
    pub struct Command(pub u16) {
        NEGOTIATE = 0x0000,
        SESSION_SETUP = 0x0001,
        LOGOFF = 0x0002,
        TREE_CONNECT = 0x0003,
        TREE_DISCONNECT = 0x0004,
        CREATE = 0x0005,
        CLOSE = 0x0006,
        FLUSH = 0x0007,
        READ = 0x0008,
        WRITE = 0x0009,
        LOCK = 0x000A,
        IOCTL = 0x000B,
        CANCEL = 0x000C,
        ECHO = 0x000D,
        QUERY_DIRECTORY = 0x000E,
        CHANGE_NOTIFY = 0x000F,
        QUERY_INFO = 0x0010,
        SET_INFO = 0x0011,
        OPLOCK_BREAK = 0x0012,
    }
}

/// Header flags ([MS-SMB2] 2.2.1.2).
pub mod flags {
    pub const SERVER_TO_REDIR: u32 = 0x0000_0001;
    pub const ASYNC_COMMAND: u32 = 0x0000_0002;
    pub const RELATED_OPERATIONS: u32 = 0x0000_0004;
    pub const SIGNED: u32 = 0x0000_0008;
    pub const PRIORITY_MASK: u32 = 0x0000_0070;
    pub const DFS_OPERATIONS: u32 = 0x1000_0000;
    pub const REPLAY_OPERATION: u32 = 0x2000_0000;
}

mod field {
    use crate::field::Field;
    pub const PROTOCOL_ID: Field = 0..4;
    pub const STRUCTURE_SIZE: Field = 4..6;
    pub const CREDIT_CHARGE: Field = 6..8;
    pub const STATUS: Field = 8..12;
    pub const COMMAND: Field = 12..14;
    pub const CREDITS: Field = 14..16;
    pub const FLAGS: Field = 16..20;
    pub const NEXT_COMMAND: Field = 20..24;
    pub const MESSAGE_ID: Field = 24..32;
    pub const ASYNC_ID: Field = 32..40;
    pub const TREE_ID: Field = 36..40;
    pub const SESSION_ID: Field = 40..48;
    pub const SIGNATURE: Field = 48..64;
}

/// Bytes in the SMB2 header; bodies start here.
pub const HEADER_LEN: usize = field::SIGNATURE.end;
/// The `0xFE 'S' 'M' 'B'` protocol identifier.
pub const PROTOCOL_ID: [u8; 4] = [0xfe, b'S', b'M', b'B'];
/// The SMB1 protocol identifier (only seen in a multi-protocol NEGOTIATE).
pub const SMB1_PROTOCOL_ID: [u8; 4] = [0xff, b'S', b'M', b'B'];
/// The encryption transform identifier ([MS-SMB2] 2.2.41).
pub const TRANSFORM_PROTOCOL_ID: [u8; 4] = [0xfd, b'S', b'M', b'B'];
/// The signature field, for signing code.
pub const SIGNATURE: Field = field::SIGNATURE;

/// A read/write view of an SMB2 message, starting at its header.
#[derive(Debug, Clone)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer and checks its length and protocol id.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        if h.protocol_id() != PROTOCOL_ID || h.structure_size() != 64 {
            return Err(Error::Malformed);
        }
        Ok(h)
    }

    /// Ensures that no accessor will panic.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    pub fn protocol_id(&self) -> [u8; 4] {
        let mut p = [0; 4];
        p.copy_from_slice(&self.b()[field::PROTOCOL_ID]);
        p
    }
    pub fn structure_size(&self) -> u16 {
        le_u16(&self.b()[field::STRUCTURE_SIZE])
    }
    pub fn credit_charge(&self) -> u16 {
        le_u16(&self.b()[field::CREDIT_CHARGE])
    }
    pub fn status(&self) -> NtStatus {
        NtStatus(le_u32(&self.b()[field::STATUS]))
    }
    /// For requests of dialect 3.x this field is ChannelSequence + Reserved.
    pub fn channel_sequence(&self) -> u16 {
        le_u16(&self.b()[field::STATUS])
    }
    pub fn command(&self) -> Command {
        Command(le_u16(&self.b()[field::COMMAND]))
    }
    /// CreditRequest in requests, CreditResponse in responses.
    pub fn credits(&self) -> u16 {
        le_u16(&self.b()[field::CREDITS])
    }
    pub fn flags(&self) -> u32 {
        le_u32(&self.b()[field::FLAGS])
    }
    pub fn next_command(&self) -> u32 {
        le_u32(&self.b()[field::NEXT_COMMAND])
    }
    pub fn message_id(&self) -> u64 {
        le_u64(&self.b()[field::MESSAGE_ID])
    }
    pub fn async_id(&self) -> u64 {
        le_u64(&self.b()[field::ASYNC_ID])
    }
    pub fn tree_id(&self) -> u32 {
        le_u32(&self.b()[field::TREE_ID])
    }
    pub fn session_id(&self) -> u64 {
        le_u64(&self.b()[field::SESSION_ID])
    }
    pub fn signature(&self) -> &[u8] {
        &self.b()[field::SIGNATURE]
    }
    pub fn is_async(&self) -> bool {
        self.flags() & flags::ASYNC_COMMAND != 0
    }
    pub fn is_related(&self) -> bool {
        self.flags() & flags::RELATED_OPERATIONS != 0
    }
    pub fn is_signed(&self) -> bool {
        self.flags() & flags::SIGNED != 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    /// Writes a response header: protocol id, structure size, zero signature and reserved.
    pub fn init_response(&mut self) {
        let b = self.bm();
        b[..HEADER_LEN].fill(0);
        b[field::PROTOCOL_ID].copy_from_slice(&PROTOCOL_ID);
        put_le_u16(&mut b[field::STRUCTURE_SIZE], 64);
    }
    pub fn set_credit_charge(&mut self, v: u16) {
        put_le_u16(&mut self.bm()[field::CREDIT_CHARGE], v)
    }
    pub fn set_status(&mut self, v: NtStatus) {
        put_le_u32(&mut self.bm()[field::STATUS], v.0)
    }
    pub fn set_command(&mut self, v: Command) {
        put_le_u16(&mut self.bm()[field::COMMAND], v.0)
    }
    pub fn set_credits(&mut self, v: u16) {
        put_le_u16(&mut self.bm()[field::CREDITS], v)
    }
    pub fn set_flags(&mut self, v: u32) {
        put_le_u32(&mut self.bm()[field::FLAGS], v)
    }
    pub fn set_next_command(&mut self, v: u32) {
        put_le_u32(&mut self.bm()[field::NEXT_COMMAND], v)
    }
    pub fn set_message_id(&mut self, v: u64) {
        put_le_u64(&mut self.bm()[field::MESSAGE_ID], v)
    }
    /// Sets the AsyncId (only with `ASYNC_COMMAND`; overlaps Reserved and TreeId).
    pub fn set_async_id(&mut self, v: u64) {
        put_le_u64(&mut self.bm()[field::ASYNC_ID], v)
    }
    pub fn set_tree_id(&mut self, v: u32) {
        put_le_u32(&mut self.bm()[field::TREE_ID], v)
    }
    pub fn set_session_id(&mut self, v: u64) {
        put_le_u64(&mut self.bm()[field::SESSION_ID], v)
    }
    pub fn signature_mut(&mut self) -> &mut [u8] {
        &mut self.bm()[field::SIGNATURE]
    }
}

impl<T: AsRef<[u8]>> core::fmt::Display for Header<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.check_len().is_err() {
            return f.write_str("SMB2 (truncated)");
        }
        write!(
            f,
            "SMB2 {:?} mid={} sid={:#x} tid={:#x} flags={:#x} credits={}/{} status={:?} next={}",
            self.command(),
            self.message_id(),
            self.session_id(),
            self.tree_id(),
            self.flags(),
            self.credit_charge(),
            self.credits(),
            self.status(),
            self.next_command()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_short_and_bad_protocol() {
        assert_eq!(
            Header::new_checked(&[0u8; 63][..]).unwrap_err(),
            Error::Truncated
        );
        let mut b = [0u8; 64];
        assert_eq!(Header::new_checked(&b[..]).unwrap_err(), Error::Malformed);
        b[..4].copy_from_slice(&PROTOCOL_ID);
        b[4] = 64;
        assert!(Header::new_checked(&b[..]).is_ok());
    }

    #[test]
    fn construct_then_deconstruct() {
        let mut b = [0xa5u8; 64];
        let mut h = Header::new_unchecked(&mut b[..]);
        h.init_response();
        h.set_command(Command::READ);
        h.set_message_id(0x1122_3344_5566_7788);
        h.set_session_id(0xdead_beef);
        h.set_tree_id(7);
        h.set_credits(31);
        h.set_flags(flags::SERVER_TO_REDIR);
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!(h.command(), Command::READ);
        assert_eq!(h.message_id(), 0x1122_3344_5566_7788);
        assert_eq!(h.session_id(), 0xdead_beef);
        assert_eq!(h.tree_id(), 7);
        assert_eq!(h.credits(), 31);
        assert_eq!(h.signature(), &[0; 16]);
    }
}
