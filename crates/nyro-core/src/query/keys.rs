//! Index keys: the values a document is indexed under for a path (docs/CONTRACT section 6,
//! "multikey"), and the key of any value, as nyro-index's ordered [`IndexKey`]s.
//!
//! For each branch of the path in the document ([`resolve`]): a missing branch is the null
//! key (so `{path: null}` and `$exists` are served from the null key plus the filter's own
//! check); an empty array is [`IndexKey::MIN`] (it sorts before null); a non-empty array
//! gives each element's key (an element that is itself an array is one key, the whole
//! array); any other value gives its key. The keys are deduplicated, so every document has
//! at least one key in every index of its collection. Numbers are canonical (`1` and `1.0`
//! are one key), objects and arrays are keys of their own (field by field, element by
//! element), in the same total order as the evaluator's.

use nyro_index::IndexKey;
use smallvec::SmallVec;

use crate::document::Value;
use crate::query::path::{Path, resolve};
use crate::view::{DocumentView, ValueView};

/// The index keys of `doc` for `path` (module documentation), in ascending key order, each
/// once: the first is the document's ascending sort key for the path, the last its
/// descending one. Replaces what `out` held.
pub fn index_keys(doc: &DocumentView<'_>, path: &Path, out: &mut SmallVec<[IndexKey; 4]>) {
    out.clear();
    resolve(doc, path, |branch| match branch {
        None => out.push(IndexKey::NULL),
        Some(ValueView::Array(array)) if array.is_empty() => out.push(IndexKey::MIN),
        Some(ValueView::Array(array)) => out.extend(array.iter().map(|e| key_of_view(&e))),
        Some(value) => out.push(key_of_view(&value)),
    });
    if out.len() > 1 {
        out.sort_unstable();
        out.dedup();
    }
}

/// The key of a borrowed value: an array's is the whole array's, an object's field by field.
pub fn key_of_view(value: &ValueView<'_>) -> IndexKey {
    match value {
        ValueView::Null => IndexKey::NULL,
        ValueView::Bool(b) => IndexKey::from(*b),
        ValueView::Int(i) => IndexKey::from(*i),
        ValueView::UInt(u) => IndexKey::from(*u),
        ValueView::Float(f) => IndexKey::from(*f),
        ValueView::String(s) => IndexKey::from(*s),
        ValueView::Array(array) => IndexKey::array(array.iter().map(|e| key_of_view(&e))),
        ValueView::Object(object) => {
            IndexKey::object(object.iter().map(|(name, v)| (name, key_of_view(&v))))
        }
    }
}

/// The key of an owned value (the same as [`key_of_view`] of its stored form).
pub fn key_of_value(value: &Value) -> IndexKey {
    match value {
        Value::Null => IndexKey::NULL,
        Value::Bool(b) => IndexKey::from(*b),
        Value::Int(i) => IndexKey::from(*i),
        Value::UInt(u) => IndexKey::from(*u),
        Value::Float(f) => IndexKey::from(*f),
        Value::String(s) => IndexKey::from(s.as_str()),
        Value::Array(elements) => IndexKey::array(elements.iter().map(key_of_value)),
        Value::Object(fields) => IndexKey::object(
            fields
                .iter()
                .map(|(name, v)| (name.as_str(), key_of_value(v))),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;
    use crate::document::{Document, encode_fields};

    fn payload(json: &str) -> Vec<u8> {
        let doc = Document::from_json(serde_json::from_str(json).unwrap()).unwrap();
        let mut payload = Vec::new();
        encode_fields(&doc.fields, &mut payload).unwrap();
        payload
    }

    fn keys(json: &str, path: &str) -> Vec<String> {
        let payload = payload(json);
        let view = DocumentView::new(7, &payload).unwrap();
        let mut out = SmallVec::new();
        index_keys(&view, &Path::parse(path).unwrap(), &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn keys_of_each_kind_of_branch() {
        assert_eq!(keys(r#"{"a": 1}"#, "a"), ["1"]);
        assert_eq!(keys(r#"{"a": 1.0}"#, "a"), ["1"]);
        assert_eq!(keys(r#"{"b": 1}"#, "a"), ["null"]);
        assert_eq!(keys(r#"{"a": null}"#, "a"), ["null"]);
        assert_eq!(keys(r#"{"a": []}"#, "a"), ["MinKey"]);
        assert_eq!(
            keys(r#"{"a": [3, "x", 1, 3, [2, 1], {"k": true}]}"#, "a"),
            ["1", "3", "\"x\"", r#"{"k": true}"#, "[2, 1]",]
        );
        assert_eq!(keys(r#"{"a": {"b": [1, 2]}}"#, "a.b"), ["1", "2"]);
        assert_eq!(keys(r#"{"a": {"b": 2}}"#, "a"), [r#"{"b": 2}"#]);
        // A dotted path through a scalar is missing.
        assert_eq!(keys(r#"{"a": 5}"#, "a.b"), ["null"]);
        // Through an array of objects: each element's branch, missing ones as null.
        assert_eq!(
            keys(
                r#"{"a": [{"b": "x"}, {"c": 1}, 4, {"b": []}, {"b": ["y", "x"]}]}"#,
                "a.b"
            ),
            ["MinKey", "null", "\"x\"", "\"y\""]
        );
        assert_eq!(keys(r#"{"a": []}"#, "a.b"), ["null"]);
        assert_eq!(keys(r#"{}"#, "_id"), ["7"]);
        assert_eq!(
            keys(&format!(r#"{{"a": {}}}"#, u64::MAX), "a"),
            [u64::MAX.to_string()]
        );
    }

    proptest! {
        #[test]
        fn view_and_value_keys_agree(value in crate::view::tests::value()) {
            let fields = vec![("v".to_string(), value.clone())];
            let mut payload = Vec::new();
            encode_fields(&fields, &mut payload).unwrap();
            let view = DocumentView::new(1, &payload).unwrap();
            let from_view = key_of_view(&view.get("v").unwrap());
            prop_assert_eq!(from_view, key_of_value(&value));
        }
    }
}
