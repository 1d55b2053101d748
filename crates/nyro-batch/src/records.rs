//! [`RecordBuf`]: the records a batch will append, with all payloads in one buffer.

use std::ops::Range;

use nyro_storage::{Record, RecordKind};

#[derive(Debug, Clone)]
struct Entry {
    kind: RecordKind,
    collection: u32,
    id: u64,
    seq: u64,
    payload: Range<usize>,
    /// Another record of the same write follows.
    continues: bool,
}

/// The records of one batch. Payloads are encoded straight into one shared buffer, so a
/// batch of ten thousand records makes two allocations, not ten thousand.
#[derive(Debug, Default)]
pub struct RecordBuf {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
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
            payload: start..self.bytes.len(),
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

    /// Drops every record from index `len` on (used to take back a refused request's
    /// records).
    pub fn truncate(&mut self, len: usize) {
        if let Some(first) = self.entries.get(len) {
            self.bytes.truncate(first.payload.start);
        }
        self.entries.truncate(len);
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

    /// Empties the buffer, keeping its memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
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
                payload: &self.bytes[e.payload.clone()],
                continues: e.continues,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_takes_back_records_and_their_bytes() {
        let mut buf = RecordBuf::new();
        buf.push(RecordKind::Put, 1, 1, 1, b"aa");
        buf.push(RecordKind::Put, 1, 2, 2, b"bbb");
        buf.push(RecordKind::Delete, 1, 3, 3, b"");
        buf.truncate(1);
        let records = buf.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].payload, b"aa");
        buf.push(RecordKind::Put, 1, 4, 4, b"c");
        assert_eq!(buf.records()[1].payload, b"c");
        assert_eq!(buf.records()[1].id, 4);
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
