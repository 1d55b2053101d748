//! JSON straight from a stored document's bytes: what the server sends for a document,
//! written without building a [`Document`](crate::Document) or a `serde_json::Value`.
//!
//! The bytes are exactly `serde_json`'s compact output for the document with `_id` first
//! (numbers and the escaping of strings as `serde_json` writes them; a float that is not
//! finite as `null`, as [`Value::to_json`](crate::Value::to_json) makes it). A repeated
//! name in an object (only a document built in Rust can hold one) is written each time,
//! as the server has always written it.

use super::{ArrayView, Cursor, DocumentView, ObjectView, Tag, ValueView};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The length of the prefix of `s` that needs no escape (no `"`, `\` or byte below
/// 0x20), eight bytes at a time.
fn plain_prefix(s: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// Some byte of `w` is zero (no false answer as to whether one is).
    fn has_zero(w: u64) -> bool {
        w.wrapping_sub(ONES) & !w & HIGH != 0
    }
    let mut plain = 0;
    for c in s.chunks_exact(8) {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Some byte below 0x20 (as `has_zero`, for bytes below 0x20 instead of 0).
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0;
        if control
            || has_zero(w ^ (ONES * u64::from(b'"')))
            || has_zero(w ^ (ONES * u64::from(b'\\')))
        {
            break;
        }
        plain += 8;
    }
    plain
}

/// Writes `s` as a JSON string, escaped as `serde_json` escapes it: `"` and `\`, the
/// control characters below 0x20 (`\b \t \n \f \r` by name, others as `\u00XX`), nothing
/// else.
pub(crate) fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate().skip(plain_prefix(s)) {
        let named: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(named);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Writes a number as `serde_json` does (a float that is not finite as `null`).
pub(crate) fn number<T: serde::Serialize>(out: &mut Vec<u8>, n: T) {
    // Cannot fail: serializing a number into a Vec neither errs nor does I/O that fails.
    let _ = serde_json::to_writer(&mut *out, &n);
}

/// Writes the value at `cursor` (checked bytes: their nesting is bounded).
fn value(out: &mut Vec<u8>, cursor: &mut Cursor<'_>) -> Option<()> {
    match cursor.tag().ok()? {
        Tag::Null => out.extend_from_slice(b"null"),
        Tag::Bool => {
            let b = cursor.bool().ok()?;
            out.extend_from_slice(if b { b"true" } else { b"false" });
        }
        Tag::Int => number(out, cursor.int().ok()?),
        Tag::UInt => number(out, cursor.varint().ok()?),
        Tag::Float => number(out, cursor.float().ok()?),
        Tag::String => string(out, cursor.str_bytes().ok()?),
        Tag::Array => {
            let len = cursor.len().ok()?;
            elements(out, cursor, len)?;
        }
        Tag::Object => {
            let len = cursor.len().ok()?;
            out.push(b'{');
            members(out, cursor, len)?;
            out.push(b'}');
        }
    }
    Some(())
}

/// `[` the `len` values at `cursor` `]`.
fn elements(out: &mut Vec<u8>, cursor: &mut Cursor<'_>, len: usize) -> Option<()> {
    out.push(b'[');
    for i in 0..len {
        if i > 0 {
            out.push(b',');
        }
        value(out, cursor)?;
    }
    out.push(b']');
    Some(())
}

/// The `len` `"name":value` pairs at `cursor`, separated by commas.
fn members(out: &mut Vec<u8>, cursor: &mut Cursor<'_>, len: usize) -> Option<()> {
    for i in 0..len {
        if i > 0 {
            out.push(b',');
        }
        string(out, cursor.str_bytes().ok()?);
        out.push(b':');
        value(out, cursor)?;
    }
    Some(())
}

/// Runs `write`, which cannot fail on bytes a view checked; should it, what it wrote is
/// taken back and `null` written instead (never a half value).
fn guarded(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>) -> Option<()>) {
    let start = out.len();
    if write(out).is_none() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
}

impl DocumentView<'_> {
    /// Appends the document as JSON to `out`: an object with `_id` first, then the fields
    /// in the stored order; byte for byte what `serde_json` writes for
    /// [`Document::to_json`](crate::Document::to_json). Allocates nothing but the growth of
    /// `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        guarded(out, |out| {
            out.extend_from_slice(b"{\"_id\":");
            number(out, self.id);
            let fields = self.fields;
            if fields.len > 0 {
                out.push(b',');
            }
            let mut cursor = Cursor::new(fields.bytes, fields.at);
            members(out, &mut cursor, fields.len)?;
            out.push(b'}');
            Some(())
        });
    }
}

impl ValueView<'_> {
    /// Appends the value as JSON to `out`, as `serde_json` writes
    /// [`Value::to_json`](crate::Value::to_json).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match *self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Self::Int(i) => number(out, i),
            Self::UInt(u) => number(out, u),
            Self::Float(f) => number(out, f),
            Self::String(s) => string(out, s.as_bytes()),
            Self::Array(a) => a.write_json(out),
            Self::Object(o) => o.write_json(out),
        }
    }
}

impl ArrayView<'_> {
    /// Appends the array as JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        guarded(out, |out| {
            elements(out, &mut Cursor::new(self.bytes, self.at), self.len)
        });
    }
}

impl ObjectView<'_> {
    /// Appends the object as JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        guarded(out, |out| {
            out.push(b'{');
            members(out, &mut Cursor::new(self.bytes, self.at), self.len)?;
            out.push(b'}');
            Some(())
        });
    }
}
