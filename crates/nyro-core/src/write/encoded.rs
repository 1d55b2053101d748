//! [`Payloads`]: the stored encoding of a request's documents, made on the caller's task
//! before the request is queued, so that the writer thread only copies bytes.

use nyro_storage::MAX_PAYLOAD_LEN;

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

    /// The payloads, in document order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = self.bytes.as_slice();
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<LEN>()?;
            let len = u32::from_le_bytes(*len) as usize;
            let (payload, tail) = tail.split_at_checked(len)?;
            rest = tail;
            Some(payload)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::document::{Value, decode_fields};

    #[test]
    fn payloads_come_back_in_order_and_decode() {
        let docs: Vec<Document> = (0..3)
            .map(|i| Document::new(vec![("n".into(), Value::Int(i))]))
            .collect();
        let payloads = Payloads::encode(&docs).unwrap();
        let decoded: Vec<_> = payloads.iter().map(|p| decode_fields(p).unwrap()).collect();
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
