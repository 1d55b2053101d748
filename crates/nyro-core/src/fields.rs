//! Reading a few top-level fields out of a stored document without decoding it: what
//! replay and index maintenance need (the indexed fields' scalar values), with no
//! allocation for the fields they skip.
//!
//! It reads the bytes that docs/FORMAT.md section 4.2 specifies (not a library's API), and a
//! property test checks it against the full decoder on random documents.

use crate::document::{MAX_DEPTH, Value};
use crate::error::{DbError, Result};

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

fn malformed(what: &str) -> DbError {
    DbError::Storage(nyro_storage::StorageError::Codec(
        nyro_storage::codec::CodecError::Decode {
            len: 0,
            reason: format!("stored document is malformed: {what}"),
        },
    ))
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| malformed("it ends early"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// FORMAT.md 4.1 varint.
    fn varint(&mut self) -> Result<u64> {
        Ok(match self.byte()? {
            b @ 0..=250 => u64::from(b),
            251 => u64::from(u16::from_le_bytes(self.fixed()?)),
            252 => u64::from(u32::from_le_bytes(self.fixed()?)),
            253 => u64::from_le_bytes(self.fixed()?),
            _ => return Err(malformed("a varint does not fit 64 bits")),
        })
    }

    fn len(&mut self) -> Result<usize> {
        usize::try_from(self.varint()?).map_err(|_| malformed("a length does not fit memory"))
    }

    fn str(&mut self) -> Result<&'a str> {
        let len = self.len()?;
        std::str::from_utf8(self.take(len)?).map_err(|_| malformed("a string is not UTF-8"))
    }

    /// Reads one value found at nesting `level` (a top-level field's value is at level 2);
    /// returns it if it is a scalar, skips it (allocating nothing) if not. An array or object
    /// deeper than [`MAX_DEPTH`] is refused, so crafted bytes cannot recurse without bound.
    fn value(&mut self, keep: bool, level: usize) -> Result<Option<Value>> {
        let variant = self.varint()?;
        Ok(match variant {
            0 => keep.then_some(Value::Null),
            1 => {
                let b = match self.byte()? {
                    0 => false,
                    1 => true,
                    _ => return Err(malformed("a bool is neither 0 nor 1")),
                };
                keep.then_some(Value::Bool(b))
            }
            2 => {
                let z = self.varint()?;
                let i = ((z >> 1) as i64) ^ -((z & 1) as i64);
                keep.then_some(Value::Int(i))
            }
            3 => {
                let u = self.varint()?;
                keep.then_some(Value::UInt(u))
            }
            4 => {
                let f = f64::from_le_bytes(self.fixed()?);
                keep.then_some(Value::Float(f))
            }
            5 => {
                let s = self.str()?;
                keep.then(|| Value::String(s.to_string()))
            }
            6 | 7 if level > MAX_DEPTH => {
                return Err(malformed("it nests deeper than MAX_DEPTH levels"));
            }
            6 => {
                for _ in 0..self.len()? {
                    self.value(false, level + 1)?;
                }
                None
            }
            7 => {
                for _ in 0..self.len()? {
                    self.str()?;
                    self.value(false, level + 1)?;
                }
                None
            }
            _ => return Err(malformed("unknown value variant")),
        })
    }
}

/// For each of `wanted`, the document's value of that top-level field if it is a scalar
/// (`None` when the field is missing or is an array or object).
pub(crate) fn scalars(payload: &[u8], wanted: &[String]) -> Result<Vec<Option<Value>>> {
    let mut found = vec![None; wanted.len()];
    if wanted.is_empty() {
        return Ok(found);
    }
    let mut cursor = Cursor {
        bytes: payload,
        pos: 0,
    };
    for _ in 0..cursor.len()? {
        let name = cursor.str()?;
        let slot = wanted.iter().position(|w| w == name);
        let value = cursor.value(slot.is_some(), 2)?;
        if let Some(slot) = slot {
            found[slot] = value;
        }
    }
    Ok(found)
}

/// The encoded bytes of the top-level fields named in `wanted` (one slot each, in that
/// order; `None` where the document lacks the field), read from a stored payload without
/// decoding anything (replay groups documents by these bytes and decodes each distinct
/// value once: [`value_of_raw`]). The last occurrence of a repeated name wins, as in
/// [`scalars`].
pub(crate) fn raw_values<'a>(
    payload: &'a [u8],
    wanted: &[String],
    slots: &mut [Option<&'a [u8]>],
) -> Result<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    let mut cursor = Cursor {
        bytes: payload,
        pos: 0,
    };
    for _ in 0..cursor.len()? {
        // Compared as bytes: a name that is not UTF-8 equals no wanted name, and reading the
        // document reports it.
        let name_len = cursor.len()?;
        let name = cursor.take(name_len)?;
        let start = cursor.pos;
        cursor.value(false, 2)?;
        if let Some(slot) = wanted.iter().position(|w| w.as_bytes() == name) {
            slots[slot] = Some(&payload[start..cursor.pos]);
        }
    }
    Ok(())
}

/// The value [`raw_values`] found, if it is a scalar.
pub(crate) fn value_of_raw(raw: &[u8]) -> Result<Option<Value>> {
    Cursor { bytes: raw, pos: 0 }.value(true, 2)
}

/// Checks that a stored document nests at most [`MAX_DEPTH`] levels, without decoding it.
/// The full decoder recurses once per level: a crafted payload nested thousands of levels
/// deep (in a frame whose checksum matches) would overflow the stack instead of failing.
pub(crate) fn check_nesting(payload: &[u8]) -> Result<()> {
    let mut cursor = Cursor {
        bytes: payload,
        pos: 0,
    };
    for _ in 0..cursor.len()? {
        cursor.str()?;
        cursor.value(false, 2)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;
    use crate::document::{decode_fields, encode_fields};

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            (i64::MAX as u64 + 1..=u64::MAX).prop_map(Value::UInt),
            any::<f64>().prop_map(Value::Float),
            ".{0,300}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-d]{1,2}", inner), 0..6).prop_map(Value::Object),
            ]
        })
    }

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
