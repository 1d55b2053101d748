//! [`RecordBuf`]: the records a batch will append, their payloads in the buffer's own bytes
//! or in buffers the requests brought along (encoded before they were queued).

use std::ops::Range;

use nyro_storage::{Record, RecordKind};

#[derive(Debug, Clone)]
struct Entry {
    kind: RecordKind,
    collection: u32,
    id: u64,
    seq: u64,
    /// The chunk holding the payload; `None` for the buffer's own bytes.
    chunk: Option<usize>,
    payload: Range<usize>,
    /// Another record of the same write follows.
    continues: bool,
}

/// The records of one batch. Payloads are written into one shared buffer, or are ranges of
/// a chunk a request encoded beforehand ([`RecordBuf::add_chunk`]), so a batch of ten
/// thousand records makes a few allocations, not ten thousand, and pre-encoded payloads are
/// not copied before the append.
#[derive(Debug, Default)]
pub struct RecordBuf {
    bytes: Vec<u8>,
    chunks: Vec<Vec<u8>>,
    entries: Vec<Entry>,
}

/// Where the buffer stood: what [`RecordBuf::rollback`] takes it back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    entries: usize,
    bytes: usize,
    chunks: usize,
}

impl Mark {
    /// Records in the buffer at the mark.
    pub fn records(&self) -> usize {
        self.entries
    }
}

/// A chunk added with [`RecordBuf::add_chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkId(usize);

/// A payload range outside its chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payload range {start}..{end} lies outside its chunk of {len} bytes")]
pub struct OutOfChunk {
    /// The range's start.
    pub start: usize,
    /// The range's end.
    pub end: usize,
    /// The chunk's length.
    pub len: usize,
}

impl RecordBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record whose payload `write_payload` appends to the buffer it is given. If it
    /// fails, nothing is added.
    pub fn push_with<E>(
        &mut self,
        kind: RecordKind,
        collection: u32,
        id: u64,
        seq: u64,
        write_payload: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.bytes.len();
        if let Err(e) = write_payload(&mut self.bytes) {
            self.bytes.truncate(start);
            return Err(e);
        }
        self.entries.push(Entry {
            kind,
            collection,
            id,
            seq,
            chunk: None,
            payload: start..self.bytes.len(),
            continues: false,
        });
        Ok(())
    }

    /// Takes `bytes` along with the batch, for records whose payloads are ranges of it
    /// ([`RecordBuf::push_in_chunk`]): a request's payloads encoded before it was queued
    /// reach the append without being copied.
    pub fn add_chunk(&mut self, bytes: Vec<u8>) -> ChunkId {
        self.chunks.push(bytes);
        ChunkId(self.chunks.len() - 1)
    }

    /// The bytes of chunk `chunk` (empty if there is no such chunk).
    pub fn chunk(&self, chunk: ChunkId) -> &[u8] {
        self.chunks.get(chunk.0).map_or(&[], Vec::as_slice)
    }

    /// Adds a record whose payload is `range` of chunk `chunk`.
    pub fn push_in_chunk(
        &mut self,
        kind: RecordKind,
        collection: u32,
        id: u64,
        seq: u64,
        chunk: ChunkId,
        range: Range<usize>,
    ) -> Result<(), OutOfChunk> {
        let len = self.chunks.get(chunk.0).map_or(0, Vec::len);
        if range.start > range.end || range.end > len {
            return Err(OutOfChunk {
                start: range.start,
                end: range.end,
                len,
            });
        }
        self.entries.push(Entry {
            kind,
            collection,
            id,
            seq,
            chunk: Some(chunk.0),
            payload: range,
            continues: false,
        });
        Ok(())
    }

    /// Adds a record with the given payload bytes.
    pub fn push(&mut self, kind: RecordKind, collection: u32, id: u64, seq: u64, payload: &[u8]) {
        let pushed: Result<(), std::convert::Infallible> =
            self.push_with(kind, collection, id, seq, |out| {
                out.extend_from_slice(payload);
                Ok(())
            });
        let Ok(()) = pushed;
    }

    /// Records in the buffer.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no records.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where the buffer stands now.
    pub fn mark(&self) -> Mark {
        Mark {
            entries: self.entries.len(),
            bytes: self.bytes.len(),
            chunks: self.chunks.len(),
        }
    }

    /// The payload bytes of the records added since `mark` (what they add to an append,
    /// headers aside).
    pub fn payload_bytes_since(&self, mark: Mark) -> usize {
        self.entries
            .get(mark.entries..)
            .map_or(0, |added| added.iter().map(|e| e.payload.len()).sum())
    }

    /// Drops every record, payload byte and chunk added since `mark` (used to take back a
    /// refused request's records).
    pub fn rollback(&mut self, mark: Mark) {
        self.entries.truncate(mark.entries);
        self.bytes.truncate(mark.bytes);
        self.chunks.truncate(mark.chunks);
    }

    /// Marks the records `range` as one write: each but the last says another follows, so
    /// that recovery keeps the write whole or drops it whole.
    pub fn mark_write(&mut self, range: Range<usize>) {
        if range.is_empty() {
            return; // a write with no records (e.g. an existing collection) marks nothing
        }
        for entry in &mut self.entries[range.start..range.end - 1] {
            entry.continues = true;
        }
    }

    /// Empties the buffer, keeping its own memory (chunks are dropped).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.chunks.clear();
        self.entries.clear();
    }

    /// The records, borrowing their payloads, ready for `Log::append`.
    pub fn records(&self) -> Vec<Record<'_>> {
        self.entries
            .iter()
            .map(|e| Record {
                kind: e.kind,
                collection: e.collection,
                id: e.id,
                seq: e.seq,
                payload: match e.chunk {
                    None => &self.bytes[e.payload.clone()],
                    // In range: checked by `push_in_chunk`, and chunks never shrink.
                    Some(chunk) => &self.chunks[chunk][e.payload.clone()],
                },
                continues: e.continues,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rollback_takes_back_records_their_bytes_and_chunks() {
        let mut buf = RecordBuf::new();
        buf.push(RecordKind::Put, 1, 1, 1, b"aa");
        let mark = buf.mark();
        assert_eq!(mark.records(), 1);
        buf.push(RecordKind::Put, 1, 2, 2, b"bbb");
        let chunk = buf.add_chunk(b"zzz".to_vec());
        buf.push_in_chunk(RecordKind::Put, 1, 5, 5, chunk, 0..3)
            .unwrap();
        buf.push(RecordKind::Delete, 1, 3, 3, b"");
        buf.rollback(mark);
        let records = buf.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].payload, b"aa");
        buf.push(RecordKind::Put, 1, 4, 4, b"c");
        assert_eq!(buf.records()[1].payload, b"c");
        assert_eq!(buf.records()[1].id, 4);
        let chunk = buf.add_chunk(b"xyz".to_vec());
        assert_eq!(chunk, ChunkId(0), "the rolled back chunk is gone");
    }

    #[test]
    fn records_borrow_their_payloads_from_chunks_in_order() {
        let mut buf = RecordBuf::new();
        buf.push(RecordKind::CreateCollection, 1, 0, 0, b"def");
        let chunk = buf.add_chunk(b"onetwo".to_vec());
        buf.push_in_chunk(RecordKind::Put, 1, 1, 1, chunk, 0..3)
            .unwrap();
        buf.push_in_chunk(RecordKind::Put, 1, 2, 2, chunk, 3..6)
            .unwrap();
        buf.push(RecordKind::Delete, 1, 3, 3, b"");
        let payloads: Vec<&[u8]> = buf.records().iter().map(|r| r.payload).collect();
        assert_eq!(payloads, [&b"def"[..], b"one", b"two", b""]);
        assert_eq!(
            buf.push_in_chunk(RecordKind::Put, 1, 4, 4, chunk, 4..7),
            Err(OutOfChunk {
                start: 4,
                end: 7,
                len: 6
            })
        );
        assert_eq!(buf.len(), 4, "a refused range adds nothing");
        buf.clear();
        assert!(buf.is_empty());
        assert_eq!(buf.add_chunk(Vec::new()), ChunkId(0));
    }

    #[test]
    fn a_write_of_several_records_is_marked_as_one() {
        let mut buf = RecordBuf::new();
        for i in 0..5 {
            buf.push(RecordKind::Put, 1, i, i, b"x");
        }
        buf.mark_write(1..4);
        buf.mark_write(4..4);
        let continues: Vec<bool> = buf.records().iter().map(|r| r.continues).collect();
        assert_eq!(continues, [false, true, true, false, false]);
    }

    #[test]
    fn failed_payload_writer_adds_nothing() {
        let mut buf = RecordBuf::new();
        let r: Result<(), &str> = buf.push_with(RecordKind::Put, 1, 1, 1, |out| {
            out.extend_from_slice(b"partial");
            Err("no")
        });
        assert!(r.is_err());
        assert!(buf.is_empty());
        buf.push(RecordKind::Put, 1, 2, 2, b"x");
        assert_eq!(buf.records()[0].payload, b"x");
    }
}
