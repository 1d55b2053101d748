//! Answers written straight from stored documents: a page of documents
//! ([`super::PageAnswer`]'s shape) and a JSON body already written.

/// Writes a [`PageAnswer`](super::PageAnswer), `{"records":[...],"next":ID|null}`, straight from the stored
/// documents' bytes (no `Document` or `serde_json::Value` in between): exactly the bytes
/// `serde_json` writes for the page with each document as [`JsonDoc`](super::JsonDoc).
pub struct PageWriter {
    out: Vec<u8>,
    records: usize,
}

impl Default for PageWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PageWriter {
    /// An empty page.
    pub fn new() -> Self {
        let mut out = Vec::with_capacity(4096);
        out.extend_from_slice(b"{\"records\":[");
        Self { out, records: 0 }
    }

    /// Appends a document.
    pub fn push(&mut self, doc: nyro_core::DocumentView<'_>) {
        if self.records > 0 {
            self.out.push(b',');
        }
        self.records += 1;
        doc.write_json(&mut self.out);
    }

    /// Appends only the paths (and `_id`) of a document that `projection` keeps.
    pub fn push_projected(
        &mut self,
        doc: nyro_core::DocumentView<'_>,
        projection: &nyro_core::query::Projection,
    ) {
        if self.records > 0 {
            self.out.push(b',');
        }
        self.records += 1;
        projection.write_json(&doc, &mut self.out);
    }

    /// The whole answer of a query page, with its `next` (an id, a cursor string or null).
    pub fn finish_next(mut self, next: Option<&nyro_core::query::Next>) -> Vec<u8> {
        self.out.extend_from_slice(b"],\"next\":");
        self.out
            .extend_from_slice(crate::routes::query::next_json(next).as_bytes());
        self.out.push(b'}');
        self.out
    }

    /// The whole answer, with `next`.
    pub fn finish(mut self, next: Option<u64>) -> Vec<u8> {
        self.out.extend_from_slice(b"],\"next\":");
        match next {
            Some(next) => self.out.extend_from_slice(next.to_string().as_bytes()),
            None => self.out.extend_from_slice(b"null"),
        }
        self.out.push(b'}');
        self.out
    }
}

/// A 200 answer whose body is JSON already written.
pub fn json_response(body: Vec<u8>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use nyro_core::{Document, DocumentView, Value};

    use super::*;
    use crate::wire::JsonDoc;

    /// What the server wrote before pages were written from views: `serde_json` of
    /// `{"records": [JsonDoc, ...], "next": next}`.
    fn as_before(docs: &[Document], next: Option<u64>) -> Vec<u8> {
        let records: Vec<String> = docs
            .iter()
            .map(|d| serde_json::to_string(&JsonDoc(d)).unwrap())
            .collect();
        let next = serde_json::to_string(&next).unwrap();
        format!("{{\"records\":[{}],\"next\":{next}}}", records.join(",")).into_bytes()
    }

    fn tricky() -> Vec<Document> {
        let json = serde_json::json!({
            "s": "quote \" backslash \\ ctl \u{1} tab \t é 😀", "n": null, "b": false,
            "i": i64::MIN, "u": u64::MAX, "f": 1e300, "g": -0.0, "h": 0.1,
            "a": [[], {}, [1, [2, {"k": "v"}]]], "o": {"x": {"y": {"z": true}}}
        });
        let mut plain = Document::from_json(json).unwrap();
        plain.id = Some(7);
        // A repeated name inside an object (a document built in Rust) and floats JSON
        // cannot hold.
        let repeated = Document {
            id: Some(u64::MAX),
            fields: vec![
                (
                    "o".into(),
                    Value::Object(vec![
                        ("k".into(), Value::Int(1)),
                        ("k".into(), Value::Int(2)),
                    ]),
                ),
                ("nan".into(), Value::Float(f64::NAN)),
                ("inf".into(), Value::Float(f64::INFINITY)),
            ],
        };
        let empty = Document {
            id: Some(0),
            fields: Vec::new(),
        };
        vec![plain, repeated, empty]
    }

    #[test]
    fn pages_are_written_as_before() {
        let docs = tricky();
        let stored: Vec<Vec<u8>> = docs.iter().map(|d| d.to_stored_bytes().unwrap()).collect();
        for next in [None, Some(0), Some(u64::MAX)] {
            for n in 0..=docs.len() {
                let mut page = PageWriter::new();
                for (doc, bytes) in docs.iter().zip(&stored).take(n) {
                    page.push(DocumentView::new(doc.id.unwrap(), bytes).unwrap());
                }
                assert_eq!(page.finish(next), as_before(&docs[..n], next));
            }
        }
        for (doc, bytes) in docs.iter().zip(&stored) {
            let mut one = Vec::new();
            DocumentView::new(doc.id.unwrap(), bytes)
                .unwrap()
                .write_json(&mut one);
            assert_eq!(one, serde_json::to_vec(&JsonDoc(doc)).unwrap());
        }
    }
}
