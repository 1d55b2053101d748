//! Shared by the fuzz targets: an independent encoder of the on-disk format (docs/FORMAT.md),
//! written from the spec rather than with the storage crate's own code, so that the targets
//! can build valid frames and segment headers and use them as an oracle.

#![allow(dead_code)]

/// Bytes in a frame header and in a segment header.
pub const HEADER: usize = 32;

pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

pub fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(raw)
}

/// CRC-32C of a frame: bytes [0, 4) followed by bytes [8, frame_len).
pub fn frame_crc(frame: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&frame[0..4]), &frame[8..])
}

/// One frame with a correct checksum. `kind` is stored as given (1..=4 are valid).
pub fn frame(kind: u8, collection: u32, id: u64, seq: u64, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(HEADER + payload.len()).expect("a small payload");
    let mut out = Vec::with_capacity(len as usize);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&collection.to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = frame_crc(&out);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The 32-byte header of segment `id`, format `version`.
pub fn segment_header(id: u32, version: u32) -> [u8; HEADER] {
    let mut header = [0u8; HEADER];
    header[0..8].copy_from_slice(b"NYRODBSG");
    header[8..12].copy_from_slice(&version.to_le_bytes());
    header[12..16].copy_from_slice(&id.to_le_bytes());
    let crc = crc32c::crc32c(&header[..28]);
    header[28..32].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Reads fuzz input as a stream of small numbers, returning zeros once it runs out.
pub struct Input<'a> {
    pub bytes: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub fn u64(&mut self) -> u64 {
        let mut raw = [0u8; 8];
        for b in &mut raw {
            *b = self.byte();
        }
        u64::from_le_bytes(raw)
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.bytes.len());
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        head
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// The 32-byte header of a hint file of segment `id`, which is `segment_len` bytes long
/// (docs/FORMAT.md section 6).
pub fn hint_header(id: u32, segment_len: u64) -> [u8; HEADER] {
    let mut header = [0u8; HEADER];
    header[0..8].copy_from_slice(b"NYROHINT");
    header[8..12].copy_from_slice(&1u32.to_le_bytes());
    header[12..16].copy_from_slice(&id.to_le_bytes());
    header[16..24].copy_from_slice(&segment_len.to_le_bytes());
    let crc = crc32c::crc32c(&header[..28]);
    header[28..32].copy_from_slice(&crc.to_le_bytes());
    header
}

/// The payload of a hint frame: the record's offset and frame length, then the body.
pub fn hint_payload(offset: u64, frame_len: u32, body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(12 + body.len());
    payload.extend_from_slice(&offset.to_le_bytes());
    payload.extend_from_slice(&frame_len.to_le_bytes());
    payload.extend_from_slice(body);
    payload
}
