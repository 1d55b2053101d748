//! Documents: JSON objects with a `u64` id, and the JSON-compatible [`Value`] they hold.
//!
//! A document is stored without its id (the id is in the frame header) as the codec's
//! encoding of its fields (docs/FORMAT.md section 4.2). Conversions from JSON check the
//! contract's rules: the top level is an object, `_id` (if present) is a u64, and nesting is
//! at most [`MAX_DEPTH`] levels.

use serde::{Deserialize, Serialize};

use crate::error::{DbError, Result};

/// Deepest nesting accepted: the document is level 1, each array or object inside adds one.
pub const MAX_DEPTH: usize = 64;
/// The reserved id field.
pub const ID_FIELD: &str = "_id";

/// A JSON-compatible value. Integers keep their exact type (i64, or u64 beyond i64).
///
/// The variant order is part of the on-disk format (docs/FORMAT.md section 4.2): never
/// reorder or remove variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// JSON null.
    Null,
    /// true or false.
    Bool(bool),
    /// An integer that fits i64.
    Int(i64),
    /// An integer above i64::MAX.
    UInt(u64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object; fields in the order given.
    Object(Vec<(String, Value)>),
}

/// A document: its id (if it has one yet) and its fields, `_id` excluded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    /// The id; `None` on a new document whose id the database assigns.
    pub id: Option<u64>,
    /// The fields, in the order given, never containing `_id`.
    pub fields: Vec<(String, Value)>,
}

impl Document {
    /// A document with no id and these fields.
    pub fn new(fields: Vec<(String, Value)>) -> Self {
        Self { id: None, fields }
    }

    /// The value of a top-level field (the last one, should a name repeat).
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v)
    }

    /// Builds a document from JSON, checking the contract's rules.
    pub fn from_json(json: serde_json::Value) -> Result<Self> {
        let serde_json::Value::Object(map) = json else {
            return Err(DbError::invalid(format!(
                "a document must be a JSON object, not {}",
                json_type(&json)
            )));
        };
        let mut id = None;
        let mut fields = Vec::with_capacity(map.len());
        for (key, value) in map {
            if key == ID_FIELD {
                id = Some(parse_id(&value)?);
            } else {
                fields.push((key, Value::from_json(value, 2)?));
            }
        }
        Ok(Self { id, fields })
    }

    /// The document as JSON, with `_id` first when it has one.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::with_capacity(self.fields.len() + 1);
        if let Some(id) = self.id {
            map.insert(ID_FIELD.to_string(), serde_json::Value::from(id));
        }
        for (key, value) in &self.fields {
            map.insert(key.clone(), value.to_json());
        }
        serde_json::Value::Object(map)
    }

    /// The fields in the bytes the log stores for them (docs/FORMAT.md section 4.2); the id
    /// is not included. For programs that keep NyroDB documents elsewhere, such as the
    /// benchmark that stores the very same bytes in other key-value stores.
    pub fn to_stored_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        encode_fields(&self.fields, &mut out)?;
        Ok(out)
    }

    /// The document with `id` whose fields [`Document::to_stored_bytes`] encoded. Refuses
    /// bytes that do not decode, or nest deeper than [`MAX_DEPTH`].
    pub fn from_stored_bytes(id: Option<u64>, bytes: &[u8]) -> Result<Self> {
        Ok(Self {
            id,
            fields: decode_fields(bytes)?,
        })
    }

    /// Checks what [`Document::from_json`] checks, for documents built in Rust.
    pub fn validate(&self) -> Result<()> {
        // Most documents have a few fields: comparing each name with the earlier ones is
        // cheaper than building a set (an allocation per document on the write path).
        const SCAN_BELOW: usize = 16;
        let mut names = if self.fields.len() < SCAN_BELOW {
            None
        } else {
            Some(std::collections::HashSet::with_capacity(self.fields.len()))
        };
        for (index, (key, value)) in self.fields.iter().enumerate() {
            if key == ID_FIELD {
                return Err(DbError::invalid(
                    "`_id` is reserved: set Document::id instead of a field named `_id`",
                ));
            }
            // A JSON object has each key once; a repeated one would be indexed under its
            // first value but read back (as JSON) with its last.
            let repeated = match &mut names {
                Some(names) => !names.insert(key.as_str()),
                None => self.fields[..index]
                    .iter()
                    .any(|(earlier, _)| earlier == key),
            };
            if repeated {
                return Err(DbError::invalid(format!(
                    "field {key:?} appears more than once in the document"
                )));
            }
            value.check_depth(2)?;
        }
        Ok(())
    }
}

/// A double as a u64 when it is a whole number from 0 to 2^64-1: how an id written with a
/// fraction or an exponent (`7.0`, `7e0`) is read. That is its value for JSON Schema (whose
/// integers include 7.0) and for every parser that reads numbers as doubles; above 2^53 a
/// double may not be the number written, so such ids are best written as plain integers.
pub fn whole_u64(value: f64) -> Option<u64> {
    // 2^64 as a double: the first double past u64::MAX.
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    (value.fract() == 0.0 && (0.0..LIMIT).contains(&value)).then_some(value as u64)
}

fn parse_id(value: &serde_json::Value) -> Result<u64> {
    let id = value
        .as_u64()
        .or_else(|| value.as_f64().and_then(whole_u64));
    id.ok_or_else(|| {
        DbError::invalid(format!(
            "`_id` must be a whole number from 0 to {}, got {value}",
            u64::MAX
        ))
    })
}

/// "a number", "an object", ...: the kind of a JSON value, for messages.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn too_deep() -> DbError {
    DbError::invalid(format!(
        "document nests deeper than {MAX_DEPTH} levels (the document is level 1, each array \
         or object inside adds one)"
    ))
}

impl Value {
    /// Converts JSON found at nesting `level` (the document's own fields are level 2 when
    /// they are arrays or objects).
    fn from_json(json: serde_json::Value, level: usize) -> Result<Self> {
        Ok(match json {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(b) => Self::Bool(b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Self::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Self::UInt(u)
                } else {
                    Self::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Self::String(s),
            serde_json::Value::Array(items) => {
                if level > MAX_DEPTH {
                    return Err(too_deep());
                }
                Self::Array(
                    items
                        .into_iter()
                        .map(|v| Self::from_json(v, level + 1))
                        .collect::<Result<_>>()?,
                )
            }
            serde_json::Value::Object(map) => {
                if level > MAX_DEPTH {
                    return Err(too_deep());
                }
                Self::Object(
                    map.into_iter()
                        .map(|(k, v)| Ok((k, Self::from_json(v, level + 1)?)))
                        .collect::<Result<_>>()?,
                )
            }
        })
    }

    /// Converts any JSON value (at document-field level) into a value.
    pub fn try_from_json(json: serde_json::Value) -> Result<Self> {
        Self::from_json(json, 2)
    }

    fn check_depth(&self, level: usize) -> Result<()> {
        match self {
            Self::Array(items) => {
                if level > MAX_DEPTH {
                    return Err(too_deep());
                }
                items.iter().try_for_each(|v| v.check_depth(level + 1))
            }
            Self::Object(fields) => {
                if level > MAX_DEPTH {
                    return Err(too_deep());
                }
                fields
                    .iter()
                    .try_for_each(|(_, v)| v.check_depth(level + 1))
            }
            _ => Ok(()),
        }
    }

    /// The value as JSON. A non-finite float (which JSON cannot hold) becomes null.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool(b) => serde_json::Value::Bool(*b),
            Self::Int(i) => serde_json::Value::from(*i),
            Self::UInt(u) => serde_json::Value::from(*u),
            Self::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Self::String(s) => serde_json::Value::String(s.clone()),
            Self::Array(items) => {
                serde_json::Value::Array(items.iter().map(Self::to_json).collect())
            }
            Self::Object(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// The stored form of a document's fields (docs/FORMAT.md section 4.2).
#[derive(Serialize)]
struct StoredFieldsRef<'a>(&'a [(String, Value)]);

#[derive(Deserialize)]
struct StoredFields(Vec<(String, Value)>);

/// Appends the stored encoding of `fields` to `out`.
pub(crate) fn encode_fields(fields: &[(String, Value)], out: &mut Vec<u8>) -> Result<()> {
    nyro_storage::codec::encode_into(&StoredFieldsRef(fields), out).map_err(DbError::from)
}

/// Decodes a stored document payload.
pub(crate) fn decode_fields(payload: &[u8]) -> Result<Vec<(String, Value)>> {
    crate::fields::check_nesting(payload)?;
    let StoredFields(fields) = nyro_storage::codec::decode(payload)?;
    Ok(fields)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> serde_json::Value {
        // `depth` levels counting the document itself.
        let mut v = json!(1);
        for _ in 1..depth {
            v = json!([v]);
        }
        json!({ "a": v })
    }

    #[test]
    fn stored_bytes_round_trip() {
        let doc =
            Document::from_json(json!({"_id": 9, "a": [1, 2.5, "x"], "b": {"c": null}})).unwrap();
        let bytes = doc.to_stored_bytes().unwrap();
        assert_eq!(Document::from_stored_bytes(Some(9), &bytes).unwrap(), doc);
        assert!(Document::from_stored_bytes(None, &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn json_round_trip_keeps_id_and_exact_numbers() {
        let doc = Document::from_json(json!({
            "_id": 7, "s": "x", "i": -3, "u": u64::MAX, "f": 1.5, "b": true, "n": null,
            "a": [1, "2"], "o": {"k": "v"}
        }))
        .unwrap();
        assert_eq!(doc.id, Some(7));
        assert_eq!(doc.get("u"), Some(&Value::UInt(u64::MAX)));
        assert_eq!(doc.get("i"), Some(&Value::Int(-3)));
        let mut payload = Vec::new();
        encode_fields(&doc.fields, &mut payload).unwrap();
        let back = Document {
            id: doc.id,
            fields: decode_fields(&payload).unwrap(),
        };
        assert_eq!(back.to_json()["u"], json!(u64::MAX));
        assert_eq!(back, doc);
    }

    #[test]
    fn encoding_matches_format_md() {
        // docs/FORMAT.md section 4.2 and 4.3 give these bytes; keep them in step.
        let doc = Document::from_json(json!({"_id": 5, "a": 1, "b": "xy"})).unwrap();
        let mut payload = Vec::new();
        encode_fields(&doc.fields, &mut payload).unwrap();
        assert_eq!(
            payload,
            [
                0x02, 0x01, 0x61, 0x02, 0x02, 0x01, 0x62, 0x05, 0x02, 0x78, 0x79
            ]
        );
        let def = crate::catalog::CollectionDef {
            name: "users".into(),
            indexes: vec!["city".into()],
        };
        let bytes = nyro_storage::codec::encode(&def).unwrap();
        assert_eq!(
            bytes,
            [
                0x05, 0x75, 0x73, 0x65, 0x72, 0x73, 0x01, 0x04, 0x63, 0x69, 0x74, 0x79
            ]
        );
    }

    #[test]
    fn depth_limit_is_64_levels_counting_the_document() {
        // {"a": [[...[1]...]]}: the document is level 1, the outermost array level 2.
        assert!(Document::from_json(nested(MAX_DEPTH - 1)).is_ok());
        assert!(Document::from_json(nested(MAX_DEPTH)).is_ok());
        assert!(Document::from_json(nested(MAX_DEPTH + 1)).is_err());
    }

    #[test]
    fn bad_shapes_are_invalid() {
        assert!(Document::from_json(json!([1])).is_err());
        assert!(Document::from_json(json!({"_id": -1})).is_err());
        assert!(Document::from_json(json!({"_id": "1"})).is_err());
        assert!(Document::from_json(json!({"_id": 1.5})).is_err());
        let doc = Document::new(vec![("_id".into(), Value::Int(1))]);
        assert!(doc.validate().is_err());
    }
}
