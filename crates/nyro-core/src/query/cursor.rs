//! Page cursors: where the next page of a sorted query starts, as an opaque string.
//!
//! A cursor names the sort it belongs to (path and direction), the sort key and the id of
//! the last document the page examined there; the next page starts strictly after that
//! (key, id) in the sort's order. Keys and ids are values, not positions, so a cursor
//! stays valid whatever is written between pages: a document inserted before it is not
//! seen by later pages, one inserted after it is, and no document comes twice unless a
//! write moved it past the cursor. The string is the hex of a small JSON array; clients
//! must treat it as opaque (its layout may change between versions).

use nyro_index::IndexKey;

use super::keys::key_of_value;
use super::{Path, Sort};
use crate::document::Value;
use crate::error::{DbError, Result};

/// A position in a sorted walk: the last (sort key, id) examined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) key: IndexKey,
    pub(crate) id: u64,
}

/// Encodes the position of a page's end for `sort`.
pub(crate) fn encode(sort: &Sort, position: &Position) -> String {
    let key = if position.key == IndexKey::MIN {
        serde_json::json!({"min": true})
    } else {
        serde_json::json!({"key": position.key})
    };
    let json = serde_json::json!([sort.path.as_str(), sort.descending, key, position.id]);
    hex(json.to_string().as_bytes())
}

/// Decodes a cursor `text` given back by a client for a query sorted by `sort`: 400 when it
/// is not a cursor or belongs to another sort.
pub(crate) fn decode(sort: &Sort, text: &str) -> Result<Position> {
    let bad = |why: &str| {
        DbError::invalid(format!(
            "after: {why}; pass back the `next` string of the previous page unchanged, with \
             the same sort"
        ))
    };
    let bytes = unhex(text).ok_or_else(|| bad("not a cursor this server wrote"))?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| bad("not a cursor this server wrote"))?;
    let Some([path, descending, key, id]) = json.as_array().map(Vec::as_slice) else {
        return Err(bad("not a cursor this server wrote"));
    };
    if path.as_str() != Some(sort.path.as_str()) || descending.as_bool() != Some(sort.descending) {
        return Err(bad(&format!(
            "the cursor is for another sort than [[{:?}, {:?}]]",
            sort.path.as_str(),
            if sort.descending { "desc" } else { "asc" }
        )));
    }
    let id = id
        .as_u64()
        .ok_or_else(|| bad("not a cursor this server wrote"))?;
    let key = if key.get("min").and_then(serde_json::Value::as_bool) == Some(true) {
        IndexKey::MIN
    } else {
        let value = key
            .get("key")
            .cloned()
            .ok_or_else(|| bad("not a cursor this server wrote"))?;
        key_of_value(
            &Value::try_from_json(value).map_err(|_| bad("not a cursor this server wrote"))?,
        )
    };
    Ok(Position { key, id })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// The default sort (by `_id`, ascending).
impl Default for Sort {
    fn default() -> Self {
        Sort {
            path: Path::id(),
            descending: false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sort(path: &str, descending: bool) -> Sort {
        Sort {
            path: Path::parse(path).unwrap(),
            descending,
        }
    }

    #[test]
    fn cursors_round_trip_every_kind_of_key() {
        let s = sort("a.b", true);
        for key in [
            IndexKey::MIN,
            IndexKey::NULL,
            IndexKey::from(-3i64),
            IndexKey::from(u64::MAX),
            IndexKey::from(2.5),
            IndexKey::from("Lyon \"quoted\" é"),
            IndexKey::from(true),
        ] {
            let position = Position { key, id: 42 };
            assert_eq!(decode(&s, &encode(&s, &position)).unwrap(), position);
        }
    }

    #[test]
    fn a_cursor_of_another_sort_or_garbage_is_refused() {
        let position = Position {
            key: IndexKey::from(1i64),
            id: 1,
        };
        let text = encode(&sort("a", false), &position);
        for other in [sort("a", true), sort("b", false)] {
            let err = decode(&other, &text).unwrap_err().to_string();
            assert!(err.contains("another sort"), "{err}");
        }
        for garbage in ["", "zz", "abc", "5b5d", &hex(b"[1,2,3,4]")] {
            assert!(decode(&sort("a", false), garbage).is_err(), "{garbage}");
        }
    }
}
