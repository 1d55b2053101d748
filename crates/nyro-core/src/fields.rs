//! Reading a few top-level fields out of a stored document without decoding it: what
//! replay needs to group documents by the encoded value of an indexed field, with no
//! allocation for the fields it skips.
//!
//! It reads the bytes that docs/FORMAT.md section 4.2 specifies (not a library's API), and a
//! property test checks it against the full decoder on random documents.

use crate::document::Value;
use crate::error::Result;
use crate::view::{Cursor, Tag, check_document};

/// Reads the value at `cursor` found at nesting `level` (a top-level field's value is at
/// level 2): returns it if it is a scalar, steps over it (checking it, allocating nothing)
/// if not.
fn value(cursor: &mut Cursor<'_>, level: usize) -> crate::view::Walk<Option<Value>> {
    let tag = cursor.tag()?;
    Ok(Some(match tag {
        Tag::Null => Value::Null,
        Tag::Bool => Value::Bool(cursor.bool()?),
        Tag::Int => Value::Int(cursor.int()?),
        Tag::UInt => Value::UInt(cursor.varint()?),
        Tag::Float => Value::Float(cursor.float()?),
        Tag::String => Value::String(cursor.str()?.to_string()),
        Tag::Array | Tag::Object => {
            cursor.skip(tag, level, true)?;
            return Ok(None);
        }
    }))
}

/// The encoded bytes of the top-level fields named in `wanted` (one slot each, in that
/// order; `None` where the document lacks the field), read from a stored payload without
/// decoding anything (replay groups documents by these bytes and decodes each distinct
/// value once: [`value_of_raw`]). The last occurrence of a repeated name wins, as in
/// `DocumentView::get`.
pub(crate) fn raw_values<'a>(
    payload: &'a [u8],
    wanted: &[String],
    slots: &mut [Option<&'a [u8]>],
) -> Result<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    let mut cursor = Cursor::new(payload, 0);
    let mut walk = || {
        for _ in 0..cursor.len()? {
            // Compared as bytes: a name that is not UTF-8 equals no wanted name, and reading
            // the document reports it.
            let name = cursor.str_bytes()?;
            let start = cursor.pos();
            cursor.skip_value(2, false)?;
            if let Some(slot) = wanted.iter().position(|w| w.as_bytes() == name) {
                slots[slot] = Some(&payload[start..cursor.pos()]);
            }
        }
        Ok(())
    };
    walk().map_err(|e: crate::view::Malformed| e.into_error(payload.len()))
}

/// The value [`raw_values`] found, if it is a scalar.
pub(crate) fn value_of_raw(raw: &[u8]) -> Result<Option<Value>> {
    value(&mut Cursor::new(raw, 0), 2).map_err(|e| e.into_error(raw.len()))
}

/// True if the value [`raw_values`] found is a scalar (not an array or object), judged by
/// its first byte only.
pub(crate) fn is_scalar(raw: &[u8]) -> bool {
    !matches!(
        Cursor::new(raw, 0).tag(),
        Ok(Tag::Array | Tag::Object) | Err(_)
    )
}

/// For each of `wanted`, the document's value of that top-level field if it is a scalar
/// (`None` when the field is missing or is an array or object), read with [`raw_values`]
/// and [`value_of_raw`] as replay reads it (for the fuzz targets).
pub(crate) fn scalars(payload: &[u8], wanted: &[String]) -> Result<Vec<Option<Value>>> {
    let mut raw = vec![None; wanted.len()];
    raw_values(payload, wanted, &mut raw)?;
    raw.into_iter()
        .map(|raw| Ok(raw.map(value_of_raw).transpose()?.flatten()))
        .collect()
}

/// Checks that a stored document is well formed and nests at most
/// [`MAX_DEPTH`](crate::MAX_DEPTH) levels, without decoding it. The full decoder recurses
/// once per level: a crafted payload nested thousands of levels deep (in a frame whose
/// checksum matches) would overflow the stack instead of failing.
pub(crate) fn check_nesting(payload: &[u8]) -> Result<()> {
    check_document(payload)
        .map(drop)
        .map_err(|e| e.into_error(payload.len()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;
    use crate::document::{decode_fields, encode_fields};
    use crate::view::tests::value;

    fn same(a: &Option<Value>, b: &Option<Value>) -> bool {
        match (a, b) {
            (Some(Value::Float(x)), Some(Value::Float(y))) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_full_decoder(fields in prop::collection::vec(("[a-f]{1,2}", value()), 0..8)) {
            let mut payload = Vec::new();
            encode_fields(&fields, &mut payload).unwrap();
            let wanted: Vec<String> = ["a", "b", "cd", "zz"].iter().map(|s| s.to_string()).collect();
            let got = scalars(&payload, &wanted).unwrap();
            let decoded = decode_fields(&payload).unwrap();
            for (w, g) in wanted.iter().zip(&got) {
                // The last occurrence wins, as in a JSON object with repeated keys.
                let expected = decoded.iter().rev().find(|(k, _)| k == w).map(|(_, v)| v)
                    .filter(|v| !matches!(v, Value::Array(_) | Value::Object(_))).cloned();
                prop_assert!(same(g, &expected), "field {w}: {g:?} vs {expected:?}");
            }
            // The raw bytes decode to the same scalars.
            let mut raw = vec![None; wanted.len()];
            raw_values(&payload, &wanted, &mut raw).unwrap();
            for (r, g) in raw.iter().zip(&got) {
                let value = r.map(value_of_raw).transpose().unwrap().flatten();
                prop_assert!(same(&value, g), "{value:?} vs {g:?}");
            }
        }

        #[test]
        fn never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = scalars(&bytes, &["a".to_string()]);
            let _ = raw_values(&bytes, &["a".to_string()], &mut [None]);
            let _ = value_of_raw(&bytes);
        }
    }

    #[test]
    fn truncated_payloads_are_errors() {
        let mut payload = Vec::new();
        encode_fields(&[("a".into(), Value::String("xyz".into()))], &mut payload).unwrap();
        for cut in 0..payload.len() {
            assert!(
                scalars(&payload[..cut], &["a".to_string()]).is_err(),
                "cut {cut}"
            );
        }
    }
}
