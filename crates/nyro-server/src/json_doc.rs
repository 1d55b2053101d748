//! Request bodies parsed straight into `nyro_core::Document`s, without building a
//! `serde_json::Value` tree first (the hot path of inserts, replaces and `_bulk`).
//!
//! The contract's rules are checked while parsing: a document is a JSON object; `_id`, if
//! present, is a whole number from 0 to 2^64-1; nesting is at most `MAX_DEPTH` levels (the
//! document is level 1). A repeated key keeps its first position and its last value, as a
//! JSON object parsed into a map would. Syntax errors are `invalid_json`; documents of the
//! wrong shape are `bad_request`.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

use axum::http::StatusCode;
use nyro_core::{Document, ID_FIELD, MAX_DEPTH, Value};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{ApiError, ErrorCode};
use crate::extract::parse_json;

/// One document from a whole body.
pub fn parse_document(bytes: &[u8]) -> Result<Document, ApiError> {
    let element = Cell::new(None);
    parse(bytes, DocumentSeed, &element)
}

/// A JSON array of documents from a whole body; errors name the element.
pub fn parse_documents(bytes: &[u8]) -> Result<Vec<Document>, ApiError> {
    let element = Cell::new(None);
    parse(bytes, DocumentsSeed { element: &element }, &element)
}

fn parse<'de, S: DeserializeSeed<'de>>(
    bytes: &'de [u8],
    seed: S,
    element: &Cell<Option<usize>>,
) -> Result<S::Value, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|e| {
        // A wrong shape can be noticed before a syntax error further on, so a shape error
        // stands only if the body parses as JSON; otherwise the general parser's verdict
        // (invalid_json, or bad_request for nesting too deep) is the answer. This second
        // parse happens on the error path only.
        if e.classify() != serde_json::error::Category::Data {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                format!("the body is not valid JSON: {e}"),
            );
        }
        match parse_json(bytes) {
            Ok(_) => {
                let prefix = element
                    .get()
                    .map(|i| format!("element {i}: "))
                    .unwrap_or_default();
                ApiError::bad_request(format!("{prefix}{e}"))
            }
            Err(general) => general,
        }
    })
}

fn too_deep<E: de::Error>() -> E {
    E::custom(format!(
        "the document nests deeper than {MAX_DEPTH} levels (the document is level 1, each array \
         or object inside adds one)"
    ))
}

/// Collects an object's fields, keeping a repeated key's first position and last value.
#[derive(Default)]
struct Fields {
    fields: Vec<(String, Value)>,
    /// Built once an object is large enough for linear duplicate checks to cost.
    index: Option<HashMap<String, usize>>,
}

impl Fields {
    fn insert(&mut self, key: String, value: Value) {
        const LINEAR: usize = 32;
        if self.index.is_none() && self.fields.len() >= LINEAR {
            let index = self
                .fields
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            self.index = Some(index);
        }
        let existing = match &self.index {
            Some(index) => index.get(&key).copied(),
            None => self.fields.iter().position(|(k, _)| *k == key),
        };
        match existing {
            Some(at) => self.fields[at].1 = value,
            None => {
                if let Some(index) = &mut self.index {
                    index.insert(key.clone(), self.fields.len());
                }
                self.fields.push((key, value));
            }
        }
    }
}

struct DocumentSeed;

impl<'de> DeserializeSeed<'de> for DocumentSeed {
    type Value = Document;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Document, D::Error> {
        deserializer.deserialize_map(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a document (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut id = None;
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == ID_FIELD {
                id = Some(map.next_value_seed(IdSeed)?);
            } else {
                let value = map.next_value_seed(ValueSeed { level: 2 })?;
                fields.insert(key, value);
            }
        }
        Ok(Document {
            id,
            fields: fields.fields,
        })
    }
}

struct IdSeed;

impl<'de> DeserializeSeed<'de> for IdSeed {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`_id` as a whole number from 0 to {}", u64::MAX)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    /// `7.0` or `7e0`: a whole number all the same (as JSON Schema and double-based parsers
    /// see it); `7.5`, negative and out of range values are refused.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        nyro_core::whole_u64(v).ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }
}

struct DocumentsSeed<'a> {
    element: &'a Cell<Option<usize>>,
}

impl<'de> DeserializeSeed<'de> for DocumentsSeed<'_> {
    type Value = Vec<Document>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Document>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for DocumentsSeed<'_> {
    type Value = Vec<Document>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of documents")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Document>, A::Error> {
        // The hint comes from the body, which is bounded by max_body_bytes; cap it anyway.
        let mut docs = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            self.element.set(Some(docs.len()));
            match seq.next_element_seed(DocumentSeed)? {
                Some(doc) => docs.push(doc),
                None => break,
            }
        }
        self.element.set(None);
        Ok(docs)
    }
}

struct ValueSeed {
    level: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::UInt(v), Value::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.level > MAX_DEPTH {
            return Err(too_deep());
        }
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(ValueSeed {
            level: self.level + 1,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.level > MAX_DEPTH {
            return Err(too_deep());
        }
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(ValueSeed {
                level: self.level + 1,
            })?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields.fields))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The fast path must build exactly what the general one (serde_json::Value, then
    /// Document::from_json) builds.
    fn same_as_general_path(body: &str) {
        let fast = parse_document(body.as_bytes()).unwrap();
        let general = Document::from_json(serde_json::from_str(body).unwrap()).unwrap();
        assert_eq!(fast, general, "{body}");
    }

    #[test]
    fn agrees_with_the_general_path() {
        for body in [
            r#"{}"#,
            r#"{"_id": 7, "a": 1, "b": -2, "c": 18446744073709551615, "d": 1.5, "e": "x"}"#,
            r#"{"n": null, "t": true, "arr": [1, [2, {"k": []}]], "o": {"z": 1, "a": 2}}"#,
            r#"{"dup": 1, "other": 2, "dup": 3}"#,
            r#"{"u": "h\u00e9llo \ud83d\ude00", "big": 9223372036854775808}"#,
            r#"{"_id": 760.0, "a": 1}"#,
            r#"{"_id": 1e19}"#,
        ] {
            same_as_general_path(body);
        }
    }

    #[test]
    fn shapes_and_syntax_are_told_apart() {
        let code = |body: &str| parse_document(body.as_bytes()).unwrap_err().code.as_str();
        assert_eq!(code("[1]"), "bad_request");
        assert_eq!(code("42"), "bad_request");
        assert_eq!(code(r#"{"_id": -1}"#), "bad_request");
        assert_eq!(code(r#"{"_id": 1.5}"#), "bad_request");
        assert_eq!(code(r#"{"_id": -1.0}"#), "bad_request");
        assert_eq!(code(r#"{"_id": 18446744073709551616.0}"#), "bad_request");
        assert_eq!(code(r#"{"_id": "1"}"#), "bad_request");
        assert_eq!(code(r#"{"_id": 18446744073709551616}"#), "bad_request");
        assert_eq!(code(r#"{"a": "#), "invalid_json");
        assert_eq!(code(r#"{"a": 1} x"#), "invalid_json");
        // A wrong shape does not hide a syntax error later in the body.
        assert_eq!(code(r#"[1, }"#), "invalid_json");
        let bulk = parse_documents(br#"{"a": }"#).unwrap_err();
        assert_eq!(bulk.code.as_str(), "invalid_json");
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(64), "]".repeat(64));
        assert_eq!(code(&deep), "bad_request");
        let ok = format!("{{\"a\": {}1{}}}", "[".repeat(63), "]".repeat(63));
        assert!(parse_document(ok.as_bytes()).is_ok());
    }

    #[test]
    fn bulk_errors_name_the_element() {
        let e = parse_documents(br#"[{"a": 1}, {"b": 2}, 7]"#).unwrap_err();
        assert_eq!(e.code.as_str(), "bad_request");
        assert!(e.message.starts_with("element 2: "), "{}", e.message);
        let e = parse_documents(br#"{"a": 1}"#).unwrap_err();
        assert!(!e.message.starts_with("element"), "{}", e.message);
        assert_eq!(parse_documents(b"[]").unwrap(), vec![]);
    }
}
