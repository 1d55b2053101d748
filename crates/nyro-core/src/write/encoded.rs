//! [`Payloads`]: the stored encoding of a request's documents, made on the caller's task
//! before the request is queued; the writer hands the buffer to the batch's records
//! as it is (no copy, no encoding on the writer).

use std::ops::Range;

use nyro_batch::{ChunkId, RecordBuf};
use nyro_storage::{MAX_PAYLOAD_LEN, RecordKind};

use crate::document::{Document, encode_fields};
use crate::error::{DbError, Result};

/// Bytes of the length before each payload.
const LEN: usize = 4;

/// Most bytes reserved ahead for a request's payloads.
const RESERVE_CAP: usize = 64 << 20;

/// The encoded documents of one request, in order, in one buffer: each payload follows its
/// length (u32, little-endian), so a request of many documents makes one allocation.
#[derive(Debug, Default)]
pub(crate) struct Payloads {
    bytes: Vec<u8>,
}

impl Payloads {
    /// Encodes every document's fields, refusing one too large for a log frame (the log
    /// would fail the whole batch for it, and with it every other writer's request). A
    /// refusal names the element when there are several documents.
    pub(crate) fn encode(docs: &[Document]) -> Result<Self> {
        let mut bytes = Vec::new();
        for (index, doc) in docs.iter().enumerate() {
            if index == 1 {
                // The documents of a request tend to look alike: room for the rest at the
                // first one's size spares the buffer most of its regrowth (and copies).
                // Capped, so that one large first document reserves no more than that.
                bytes.reserve(bytes.len().saturating_mul(docs.len() - 1).min(RESERVE_CAP));
            }
            let start = bytes.len();
            bytes.extend_from_slice(&[0; LEN]);
            encode_fields(&doc.fields, &mut bytes)?;
            let len = bytes.len() - start - LEN;
            let element = (docs.len() > 1).then_some(index);
            let prefix = match u32::try_from(len) {
                Ok(prefix) if len <= MAX_PAYLOAD_LEN => prefix,
                _ => {
                    let which = doc
                        .id
                        .map(|id| format!(" with _id {id}"))
                        .unwrap_or_default();
                    return Err(DbError::Invalid {
                        message: format!(
                            "the document{which} takes {len} bytes encoded; at most \
                             {MAX_PAYLOAD_LEN} fit in a log record; nothing was written"
                        ),
                        element,
                    });
                }
            };
            bytes[start..start + LEN].copy_from_slice(&prefix.to_le_bytes());
        }
        Ok(Self { bytes })
    }

    /// Moves the payloads into the batch's `records` as one chunk (no copy), and returns
    /// the cursor that adds a record for each in turn.
    pub(crate) fn move_into(&mut self, records: &mut RecordBuf) -> Cursor {
        Cursor {
            chunk: records.add_chunk(std::mem::take(&mut self.bytes)),
            at: 0,
        }
    }
}

/// Adds the records of a request's payloads, in document order.
pub(crate) struct Cursor {
    chunk: ChunkId,
    /// Where the next payload's length is in the chunk.
    at: usize,
}

impl Cursor {
    /// Adds the record whose payload is the next document's.
    pub(crate) fn push(
        &mut self,
        records: &mut RecordBuf,
        kind: RecordKind,
        collection: u32,
        id: u64,
        seq: u64,
    ) -> Result<()> {
        let range =
            next_payload(records.chunk(self.chunk), self.at).ok_or_else(|| DbError::Internal {
                message: format!("a request has fewer encoded payloads than documents ({id})"),
            })?;
        self.at = range.end;
        records
            .push_in_chunk(kind, collection, id, seq, self.chunk, range)
            .map_err(|e| DbError::Internal {
                message: format!("an encoded payload of document {id}: {e}"),
            })
    }
}

/// The range of the payload whose length is at `at` in `bytes`.
fn next_payload(bytes: &[u8], at: usize) -> Option<Range<usize>> {
    let (len, _) = bytes.get(at..)?.split_first_chunk::<LEN>()?;
    let start = at + LEN;
    let end = start.checked_add(u32::from_le_bytes(*len) as usize)?;
    (end <= bytes.len()).then_some(start..end)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::document::{Value, decode_fields};

    #[test]
    fn payloads_become_records_in_order_and_decode() {
        let docs: Vec<Document> = (0..3)
            .map(|i| Document::new(vec![("n".into(), Value::Int(i))]))
            .collect();
        let mut payloads = Payloads::encode(&docs).unwrap();
        let mut records = RecordBuf::new();
        records.push(RecordKind::CreateCollection, 1, 0, 0, b"first");
        let mut cursor = payloads.move_into(&mut records);
        for id in 0..3 {
            cursor
                .push(&mut records, RecordKind::Put, 1, id, id)
                .unwrap();
        }
        assert!(
            matches!(
                cursor.push(&mut records, RecordKind::Put, 1, 3, 3),
                Err(DbError::Internal { .. })
            ),
            "no fourth payload"
        );
        let records = records.records();
        assert_eq!(records[0].payload, b"first");
        let decoded: Vec<_> = records[1..]
            .iter()
            .map(|r| decode_fields(r.payload).unwrap())
            .collect();
        let expected: Vec<_> = docs.into_iter().map(|d| d.fields).collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn a_document_too_large_for_a_frame_is_refused_with_its_element() {
        let big = Document::new(vec![(
            "s".into(),
            Value::String("x".repeat(MAX_PAYLOAD_LEN)),
        )]);
        let small = Document::new(Vec::new());
        match Payloads::encode(&[small, big]) {
            Err(DbError::Invalid { element, message }) => {
                assert_eq!(element, Some(1));
                assert!(message.contains("log record"), "{message}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}
