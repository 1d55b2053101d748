//! The server's request-body parsers (JSON straight into `nyro_core::Document`, the hot path
//! of insert, replace and `_bulk`) on arbitrary bytes: they never panic, refuse only with a
//! 400 (`invalid_json` or `bad_request`) carrying a message, and agree with the general path
//! (serde_json::Value, then `Document::from_json`): the same document, or both refuse.
//! Accepted documents respect the contract's rules (nesting at most 64 levels, unique keys)
//! and survive the stored encoding unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nyro_core::{Document, MAX_DEPTH, Value};
use nyro_server::fuzzing::{parse_document, parse_documents};

/// serde_json's private marker key: with its `raw_value` feature (which axum turns on) a
/// `serde_json::Value` cannot hold an object whose first key is this, so the general path
/// is no oracle for such bodies (the fast path takes them as an ordinary key).
const SERDE_MAGIC: &[u8] = b"$serde_json::private::";

fuzz_target!(|data: &[u8]| {
    let general: Option<serde_json::Value> =
        if data.windows(SERDE_MAGIC.len()).any(|w| w == SERDE_MAGIC) {
            let _ = parse_document(data);
            let _ = parse_documents(data);
            return;
        } else {
            serde_json::from_slice(data).ok()
        };

    let one = parse_document(data);
    match &one {
        Ok(doc) => {
            let json = general
                .clone()
                .expect("the fast path took a body that is not JSON");
            let slow = Document::from_json(json).expect("the general path refuses it");
            assert_eq!(doc, &slow, "the two paths disagree");
            check_document(doc);
        }
        Err(e) => {
            assert_eq!(e.status.as_u16(), 400, "{e:?}");
            assert!(
                matches!(e.code.as_str(), "invalid_json" | "bad_request"),
                "{e:?}"
            );
            assert!(!e.message.is_empty());
            if let Some(json) = general.clone() {
                // The general path may refuse too; if it takes it, the cause is the depth
                // counted differently, which would be a bug.
                if let Ok(doc) = Document::from_json(json) {
                    panic!("the fast path refused ({e:?}) what the general path took: {doc:?}");
                }
            }
        }
    }

    let many = parse_documents(data);
    match &many {
        Ok(docs) => {
            let Some(serde_json::Value::Array(items)) = general else {
                panic!("_bulk took a body that is not a JSON array");
            };
            assert_eq!(docs.len(), items.len());
            for (doc, item) in docs.iter().zip(items) {
                let slow = Document::from_json(item).expect("the general path refuses it");
                assert_eq!(doc, &slow, "the two paths disagree on a _bulk element");
                check_document(doc);
            }
        }
        Err(e) => {
            assert_eq!(e.status.as_u16(), 400, "{e:?}");
            assert!(
                matches!(e.code.as_str(), "invalid_json" | "bad_request"),
                "{e:?}"
            );
            if let Some(serde_json::Value::Array(items)) = general {
                let all = items
                    .into_iter()
                    .map(Document::from_json)
                    .collect::<Result<Vec<_>, _>>();
                assert!(
                    all.is_err(),
                    "_bulk refused ({e:?}) what the general path took"
                );
            }
        }
    }
});

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_document(doc: &Document) {
    doc.validate()
        .expect("an accepted document follows the rules");
    for (_, value) in &doc.fields {
        assert!(depth(value) < MAX_DEPTH, "nesting deeper than {MAX_DEPTH}");
    }
    let stored = nyro_core::fuzzing::encode_document(&doc.fields).expect("encode");
    let back = nyro_core::fuzzing::decode_document(&stored).expect("decode what was encoded");
    assert_eq!(back, doc.fields, "the stored encoding changed the document");
    // And the JSON it reads back as parses to the same document.
    let text = doc.to_json().to_string();
    let again = parse_document(text.as_bytes()).expect("a document's own JSON parses");
    assert_eq!(&again, doc);
}
