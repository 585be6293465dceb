//! On-disk format: segment headers, record framing and the encoding of
//! operations. See `FORMAT.md` for the byte map; the constants here are the
//! single source of truth and the document must match them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Magic at the start of every segment file.
pub(crate) const SEG_MAGIC: [u8; 8] = *b"SMBEDTDB";
/// Format version written in segment headers.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header that carry data (the rest of the first block
/// is zero).
pub(crate) const SEG_HEADER_LEN: usize = 64;
/// Segment header flag: this segment starts a snapshot (a new base).
pub(crate) const FLAG_BASE: u32 = 1;

/// Magic at the start of every record.
pub(crate) const REC_MAGIC: [u8; 4] = *b"TDBr";
/// Size of the fixed record header.
pub(crate) const REC_HEADER_LEN: usize = 32;

/// Smallest supported block (flush padding) size.
pub(crate) const MIN_BLOCK: u32 = 512;
/// Largest supported block size.
pub(crate) const MAX_BLOCK: u32 = 1 << 20;
/// Largest supported segment size.
pub(crate) const MAX_SEGMENT: u64 = 1 << 30;
/// Largest key.
pub const MAX_KEY_LEN: usize = 16 * 1024;
/// Largest table name.
pub const MAX_TABLE_NAME_LEN: usize = 255;

/// Record kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A list of operations applied atomically.
    Ops = 1,
    /// End of a snapshot: everything before it in this chain is the snapshot.
    SnapshotEnd = 2,
}

impl Kind {
    fn from_u8(v: u8) -> Option<Kind> {
        match v {
            1 => Some(Kind::Ops),
            2 => Some(Kind::SnapshotEnd),
            _ => None,
        }
    }
}

/// Decoded segment header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegHeader {
    pub flags: u32,
    pub generation: u64,
    pub prev_generation: u64,
    pub first_seq: u64,
    pub segment_size: u64,
    pub block_size: u32,
}

impl SegHeader {
    pub fn is_base(&self) -> bool {
        self.flags & FLAG_BASE != 0
    }

    /// Encode into the first `SEG_HEADER_LEN` bytes of `out`.
    pub fn encode(&self, out: &mut [u8]) {
        out[..SEG_HEADER_LEN].fill(0);
        out[0..8].copy_from_slice(&SEG_MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.flags.to_le_bytes());
        out[16..24].copy_from_slice(&self.generation.to_le_bytes());
        out[24..32].copy_from_slice(&self.prev_generation.to_le_bytes());
        out[32..40].copy_from_slice(&self.first_seq.to_le_bytes());
        out[40..48].copy_from_slice(&self.segment_size.to_le_bytes());
        out[48..52].copy_from_slice(&self.block_size.to_le_bytes());
        let crc = crc32fast::hash(&out[0..56]);
        out[56..60].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decode and validate a header.
    pub fn decode(b: &[u8]) -> Result<SegHeader, String> {
        if b.len() < SEG_HEADER_LEN {
            return Err(format!(
                "file too short for a segment header ({} bytes)",
                b.len()
            ));
        }
        if b[0..8] != SEG_MAGIC {
            return Err("bad segment magic".into());
        }
        let crc = le32(&b[56..60]);
        if crc32fast::hash(&b[0..56]) != crc {
            return Err("segment header checksum mismatch".into());
        }
        let version = le32(&b[8..12]);
        if version != FORMAT_VERSION {
            return Err(format!("unsupported format version {version}"));
        }
        let h = SegHeader {
            flags: le32(&b[12..16]),
            generation: le64(&b[16..24]),
            prev_generation: le64(&b[24..32]),
            first_seq: le64(&b[32..40]),
            segment_size: le64(&b[40..48]),
            block_size: le32(&b[48..52]),
        };
        if h.flags & !FLAG_BASE != 0 {
            return Err(format!("unknown segment flags {:#x}", h.flags));
        }
        check_geometry(h.segment_size, h.block_size)?;
        if h.generation == 0 {
            return Err("segment generation 0".into());
        }
        Ok(h)
    }
}

/// Validate a (segment size, block size) pair.
pub(crate) fn check_geometry(segment_size: u64, block_size: u32) -> Result<(), String> {
    if !block_size.is_power_of_two() || !(MIN_BLOCK..=MAX_BLOCK).contains(&block_size) {
        return Err(format!(
            "block size {block_size} is not a power of two in {MIN_BLOCK}..={MAX_BLOCK}"
        ));
    }
    let b = u64::from(block_size);
    if !segment_size.is_multiple_of(b) || segment_size < 4 * b || segment_size > MAX_SEGMENT {
        return Err(format!(
            "segment size {segment_size} must be a multiple of the block size {block_size}, \
             at least 4 blocks and at most {MAX_SEGMENT}"
        ));
    }
    Ok(())
}

pub(crate) fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

pub(crate) fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Round `v` up to a multiple of `block`.
pub(crate) fn align_up(v: u64, block: u64) -> u64 {
    v.div_ceil(block) * block
}

/// Append one framed record to `out`.
pub(crate) fn frame_record(
    out: &mut Vec<u8>,
    kind: Kind,
    seq: u64,
    generation: u64,
    payload: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(&REC_MAGIC);
    // CRC placeholder, filled below.
    out.extend_from_slice(&[0u8; 4]);
    // The payload length is bounded by the segment size (<= 1 GiB) at enqueue.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&[kind as u8, 0, 0, 0]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(payload);
    let mut h = crc32fast::Hasher::new();
    h.update(&out[start + 8..]);
    let crc = h.finalize();
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A record that passed framing validation.
#[derive(Debug)]
pub(crate) struct RawRecord<'a> {
    pub kind: Kind,
    pub seq: u64,
    pub payload: &'a [u8],
    /// Total framed length (header + payload).
    pub len: usize,
}

/// Why a record at some offset was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Not even a record header there (no magic: zeros, padding, garbage).
    NoRecord,
    /// A header that claims more bytes than the segment holds.
    Truncated,
    /// Checksum mismatch.
    BadCrc,
    /// Checksum fine but it belongs to another generation (stale data).
    WrongGeneration(u64),
    /// Checksum fine but the sequence number is not the expected one.
    WrongSeq(u64),
    /// Checksum fine but unknown kind or reserved bits set.
    BadKind,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::NoRecord => f.write_str("no record header"),
            Reject::Truncated => f.write_str("record runs past the end of the segment"),
            Reject::BadCrc => f.write_str("record checksum mismatch"),
            Reject::WrongGeneration(g) => write!(f, "record of generation {g}"),
            Reject::WrongSeq(s) => write!(f, "unexpected sequence number {s}"),
            Reject::BadKind => f.write_str("unknown record kind"),
        }
    }
}

/// Parse the record at the start of `b`. `expected_seq` of `None` accepts
/// any sequence number (used by diagnostics).
pub(crate) fn parse_record(
    b: &[u8],
    generation: u64,
    expected_seq: Option<u64>,
) -> Result<RawRecord<'_>, Reject> {
    if b.len() < REC_HEADER_LEN || b[0..4] != REC_MAGIC {
        return Err(Reject::NoRecord);
    }
    let len = le32(&b[8..12]) as usize;
    let total = REC_HEADER_LEN.checked_add(len).ok_or(Reject::Truncated)?;
    if total > b.len() {
        return Err(Reject::Truncated);
    }
    let crc = le32(&b[4..8]);
    if crc32fast::hash(&b[8..total]) != crc {
        return Err(Reject::BadCrc);
    }
    let seq = le64(&b[16..24]);
    let g = le64(&b[24..32]);
    if g != generation {
        return Err(Reject::WrongGeneration(g));
    }
    if let Some(e) = expected_seq {
        if seq != e {
            return Err(Reject::WrongSeq(seq));
        }
    }
    let kind = Kind::from_u8(b[12]).ok_or(Reject::BadKind)?;
    if b[13..16] != [0, 0, 0] {
        return Err(Reject::BadKind);
    }
    Ok(RawRecord {
        kind,
        seq,
        payload: &b[REC_HEADER_LEN..total],
        len: total,
    })
}

/// Borrowed byte string serialized with `serialize_bytes` (postcard: varint
/// length followed by the bytes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Bytes<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bytes<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("borrowed bytes")
            }
            fn visit_borrowed_bytes<E: serde::de::Error>(
                self,
                v: &'de [u8],
            ) -> Result<Self::Value, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// One operation as encoded in a record payload (postcard, the payload is a
/// sequence of these).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum WireOp<'a> {
    /// Insert or replace.
    Put {
        table: u32,
        #[serde(borrow)]
        key: Bytes<'a>,
        #[serde(borrow)]
        value: Bytes<'a>,
    },
    /// Remove a key (absent keys are fine).
    Delete {
        table: u32,
        #[serde(borrow)]
        key: Bytes<'a>,
    },
    /// Create a table.
    CreateTable { id: u32, name: &'a str },
    /// Drop a table and all its keys.
    DropTable { id: u32 },
}

/// Payload of a `SnapshotEnd` record, used to verify the snapshot at open.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct SnapshotEnd {
    /// Number of live keys in the snapshot.
    pub keys: u64,
    /// Number of tables in the snapshot.
    pub tables: u32,
    /// Next table id to hand out (ids are never reused).
    pub next_table_id: u32,
}

/// Owned form of an operation, as applied to the index.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Put {
        table: u32,
        key: Vec<u8>,
        value: Arc<[u8]>,
    },
    Delete {
        table: u32,
        key: Vec<u8>,
    },
    CreateTable {
        id: u32,
        name: String,
    },
    DropTable {
        id: u32,
    },
}

impl Op {
    fn wire(&self) -> WireOp<'_> {
        match self {
            Op::Put { table, key, value } => WireOp::Put {
                table: *table,
                key: Bytes(key),
                value: Bytes(value),
            },
            Op::Delete { table, key } => WireOp::Delete {
                table: *table,
                key: Bytes(key),
            },
            Op::CreateTable { id, name } => WireOp::CreateTable { id: *id, name },
            Op::DropTable { id } => WireOp::DropTable { id: *id },
        }
    }

    fn from_wire(w: &WireOp<'_>) -> Op {
        match w {
            WireOp::Put { table, key, value } => Op::Put {
                table: *table,
                key: key.0.to_vec(),
                value: Arc::from(value.0),
            },
            WireOp::Delete { table, key } => Op::Delete {
                table: *table,
                key: key.0.to_vec(),
            },
            WireOp::CreateTable { id, name } => Op::CreateTable {
                id: *id,
                name: (*name).into(),
            },
            WireOp::DropTable { id } => Op::DropTable { id: *id },
        }
    }
}

/// Encode a list of operations as a record payload.
pub(crate) fn encode_ops(ops: &[Op]) -> Result<Vec<u8>, postcard::Error> {
    let wire: Vec<WireOp<'_>> = ops.iter().map(Op::wire).collect();
    postcard::to_allocvec(&wire)
}

/// Decode a record payload (borrowed form).
pub(crate) fn decode_wire_ops(payload: &[u8]) -> Result<Vec<WireOp<'_>>, String> {
    let (ops, rest) = postcard::take_from_bytes::<Vec<WireOp<'_>>>(payload)
        .map_err(|e| format!("undecodable operations: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes after operations", rest.len()));
    }
    Ok(ops)
}

/// Decode a record payload into owned operations.
pub(crate) fn decode_ops(payload: &[u8]) -> Result<Vec<Op>, String> {
    Ok(decode_wire_ops(payload)?
        .iter()
        .map(Op::from_wire)
        .collect())
}

/// Decode a `SnapshotEnd` payload.
pub(crate) fn decode_snapshot_end(payload: &[u8]) -> Result<SnapshotEnd, String> {
    let (v, rest) = postcard::take_from_bytes::<SnapshotEnd>(payload)
        .map_err(|e| format!("undecodable snapshot end: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after snapshot end".into());
    }
    Ok(v)
}

/// Name of the segment file of a generation.
pub(crate) fn segment_name(generation: u64) -> String {
    format!("seg-{generation:016x}.log")
}

/// Name of the temporary file a segment is prepared in.
pub(crate) fn temp_name(generation: u64) -> String {
    format!("seg-{generation:016x}.tmp")
}

/// Name of a retired segment kept for reuse (its content is stale; see
/// FORMAT.md section 2). `generation` is the one it had when it was live.
pub(crate) fn spare_name(generation: u64) -> String {
    format!("seg-{generation:016x}.spare")
}

/// What a store file name says a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `seg-<16 hex>.log`: a segment.
    Segment,
    /// `seg-<16 hex>.tmp`: a segment being created (garbage at open).
    Temp,
    /// `seg-<16 hex>.spare`: a retired segment kept for reuse.
    Spare,
}

/// Parse `seg-<16 hex>.log` / `.tmp` / `.spare`; returns (generation, kind).
pub(crate) fn parse_name(name: &str) -> Option<(u64, FileKind)> {
    let rest = name.strip_prefix("seg-")?;
    let (hex, kind) = if let Some(h) = rest.strip_suffix(".log") {
        (h, FileKind::Segment)
    } else if let Some(h) = rest.strip_suffix(".tmp") {
        (h, FileKind::Temp)
    } else {
        (rest.strip_suffix(".spare")?, FileKind::Spare)
    };
    if hex.len() != 16 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let g = u64::from_str_radix(hex, 16).ok()?;
    Some((g, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip() {
        let h = SegHeader {
            flags: FLAG_BASE,
            generation: 7,
            prev_generation: 0,
            first_seq: 42,
            segment_size: 1 << 20,
            block_size: 4096,
        };
        let mut b = [0u8; 64];
        h.encode(&mut b);
        assert_eq!(SegHeader::decode(&b).unwrap(), h);
        b[20] ^= 1;
        assert!(SegHeader::decode(&b).is_err());
    }

    #[test]
    fn record_roundtrip_and_rejects() {
        let ops = vec![
            Op::CreateTable {
                id: 1,
                name: "t".into(),
            },
            Op::Put {
                table: 1,
                key: b"k".to_vec(),
                value: Arc::from(&b"v"[..]),
            },
            Op::Delete {
                table: 1,
                key: b"x".to_vec(),
            },
        ];
        let p = encode_ops(&ops).unwrap();
        let mut buf = Vec::new();
        frame_record(&mut buf, Kind::Ops, 5, 3, &p);
        let r = parse_record(&buf, 3, Some(5)).unwrap();
        assert_eq!(r.len, buf.len());
        assert_eq!(decode_ops(r.payload).unwrap().len(), 3);
        assert_eq!(
            parse_record(&buf, 4, Some(5)).unwrap_err(),
            Reject::WrongGeneration(3)
        );
        assert_eq!(
            parse_record(&buf, 3, Some(6)).unwrap_err(),
            Reject::WrongSeq(5)
        );
        assert_eq!(
            parse_record(&buf[..buf.len() - 1], 3, Some(5)).unwrap_err(),
            Reject::Truncated
        );
        let mut bad = buf.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        assert_eq!(parse_record(&bad, 3, Some(5)).unwrap_err(), Reject::BadCrc);
    }

    /// Locks the payload encoding documented in FORMAT.md.
    #[test]
    fn payload_bytes_match_format_md() {
        let ops = vec![
            Op::Put {
                table: 1,
                key: b"k".to_vec(),
                value: Arc::from(&b"vv"[..]),
            },
            Op::Delete {
                table: 300,
                key: b"x".to_vec(),
            },
            Op::CreateTable {
                id: 2,
                name: "t".into(),
            },
            Op::DropTable { id: 2 },
        ];
        let p = encode_ops(&ops).unwrap();
        assert_eq!(
            p,
            [4, 0, 1, 1, b'k', 2, b'v', b'v', 1, 0xac, 0x02, 1, b'x', 2, 2, 1, b't', 3, 2]
        );
        let end = SnapshotEnd {
            keys: 5,
            tables: 1,
            next_table_id: 3,
        };
        assert_eq!(postcard::to_allocvec(&end).unwrap(), [5, 1, 3]);
        let mut rec = Vec::new();
        frame_record(&mut rec, Kind::SnapshotEnd, 0x0102, 7, &[5, 1, 3]);
        assert_eq!(&rec[0..4], b"TDBr");
        assert_eq!(&rec[8..12], &[3, 0, 0, 0]);
        assert_eq!(&rec[12..16], &[2, 0, 0, 0]);
        assert_eq!(&rec[16..24], &[2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&rec[24..32], &[7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&rec[4..8], &crc32fast::hash(&rec[8..]).to_le_bytes());
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_name(&segment_name(0xabc)),
            Some((0xabc, FileKind::Segment))
        );
        assert_eq!(parse_name(&temp_name(1)), Some((1, FileKind::Temp)));
        assert_eq!(parse_name(&spare_name(2)), Some((2, FileKind::Spare)));
        assert_eq!(parse_name("seg-0000000000000002.spar"), None);
        assert_eq!(parse_name("seg-1.log"), None);
        assert_eq!(parse_name("LOCK"), None);
    }
}
