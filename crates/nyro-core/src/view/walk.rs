//! A bounds-checked cursor over the bytes of a stored document (docs/FORMAT.md section
//! 4.2), and the one pass that checks a whole document: what [`super::DocumentView`] runs
//! when it is made, and what index maintenance and the full decoder use to read or check
//! stored fields without decoding them.
//!
//! It reads the bytes the format specifies, not a library's API; tests pin it to the
//! codec's real output. Nothing here panics or allocates: a defect is a [`Malformed`]
//! naming what is wrong and at which byte.

use crate::document::MAX_DEPTH;
use crate::error::DbError;

/// What is wrong with a stored document, and the offset of the byte where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed {
    /// What is wrong.
    pub(crate) what: &'static str,
    /// Offset in the payload.
    pub(crate) at: usize,
}

impl Malformed {
    /// The error a reader returns for a payload of `len` bytes.
    #[inline]
    pub(crate) fn into_error(self, len: usize) -> DbError {
        DbError::from(nyro_storage::codec::CodecError::Decode {
            len,
            reason: format!(
                "stored document is malformed at byte {}: {}",
                self.at, self.what
            ),
        })
    }
}

/// The kind of a stored value: its variant number is the position here (never reorder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    Null,
    Bool,
    Int,
    UInt,
    Float,
    String,
    Array,
    Object,
}

const TAGS: [Tag; 8] = [
    Tag::Null,
    Tag::Bool,
    Tag::Int,
    Tag::UInt,
    Tag::Float,
    Tag::String,
    Tag::Array,
    Tag::Object,
];

/// The defect of a string at `at` that is not UTF-8.
fn not_utf8(at: usize) -> Malformed {
    Malformed {
        what: "a string is not UTF-8",
        at,
    }
}

/// A position in a payload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

pub(crate) type Walk<T> = std::result::Result<T, Malformed>;

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8], pos: usize) -> Self {
        Self { bytes, pos }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub(crate) fn fail(&self, what: &'static str) -> Malformed {
        Malformed { what, at: self.pos }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Walk<&'a [u8]> {
        let slice = self
            .pos
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or_else(|| self.fail("it ends early"))?;
        self.pos += n;
        Ok(slice)
    }

    #[inline]
    fn fixed<const N: usize>(&mut self) -> Walk<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    #[inline]
    pub(crate) fn byte(&mut self) -> Walk<u8> {
        let [b] = self.fixed()?;
        Ok(b)
    }

    /// FORMAT.md 4.1 varint.
    #[inline]
    pub(crate) fn varint(&mut self) -> Walk<u64> {
        let at = self.pos;
        // Most varints (lengths, small numbers) are one byte.
        if let Some(&b @ 0..=250) = self.bytes.get(at) {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        Ok(match self.byte()? {
            b @ 0..=250 => u64::from(b),
            251 => u64::from(u16::from_le_bytes(self.fixed()?)),
            252 => u64::from(u32::from_le_bytes(self.fixed()?)),
            253 => u64::from_le_bytes(self.fixed()?),
            _ => {
                return Err(Malformed {
                    what: "a varint does not fit 64 bits",
                    at,
                });
            }
        })
    }

    /// A count or a length.
    #[inline]
    pub(crate) fn len(&mut self) -> Walk<usize> {
        let at = self.pos;
        let n = self.varint()?;
        // Each element or byte takes at least one byte: a count past the end is a lie.
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len() - self.pos.min(self.bytes.len()))
            .ok_or(Malformed {
                what: "a length runs past the end",
                at,
            })
    }

    /// A string's bytes, not checked as UTF-8.
    #[inline]
    pub(crate) fn str_bytes(&mut self) -> Walk<&'a [u8]> {
        let len = self.len()?;
        self.take(len)
    }

    /// A string, checked as UTF-8.
    #[inline]
    pub(crate) fn str(&mut self) -> Walk<&'a str> {
        let at = self.pos;
        std::str::from_utf8(self.str_bytes()?).map_err(|_| not_utf8(at))
    }

    /// A value's variant (encoded as a u32 varint: a 64-bit form is refused, as the
    /// codec refuses it).
    #[inline]
    pub(crate) fn tag(&mut self) -> Walk<Tag> {
        let at = self.pos;
        if let Some(&tag) = self.bytes.get(at).and_then(|&b| TAGS.get(usize::from(b))) {
            self.pos += 1;
            return Ok(tag);
        }
        let wide = self.bytes.get(at).is_some_and(|&b| b >= 253);
        let variant = self.varint()?;
        usize::try_from(variant)
            .ok()
            .and_then(|v| TAGS.get(v))
            .filter(|_| !wide)
            .copied()
            .ok_or(Malformed {
                what: "unknown value variant",
                at,
            })
    }

    #[inline]
    pub(crate) fn bool(&mut self) -> Walk<bool> {
        let at = self.pos;
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Malformed {
                what: "a bool is neither 0 nor 1",
                at,
            }),
        }
    }

    /// A zigzag varint.
    pub(crate) fn int(&mut self) -> Walk<i64> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    #[inline]
    pub(crate) fn float(&mut self) -> Walk<f64> {
        Ok(f64::from_le_bytes(self.fixed()?))
    }

    /// Refuses an array or object found at nesting `level` deeper than [`MAX_DEPTH`] (the
    /// document is level 1), so that crafted bytes cannot recurse without bound.
    pub(crate) fn enter(&self, level: usize) -> Walk<()> {
        if level > MAX_DEPTH {
            Err(self.fail("it nests deeper than 64 levels"))
        } else {
            Ok(())
        }
    }

    /// Steps over the content of a value of kind `tag` at nesting `level`, checking it
    /// (with `utf8`, that its strings are UTF-8 too).
    pub(crate) fn skip(&mut self, tag: Tag, level: usize, utf8: bool) -> Walk<()> {
        match tag {
            Tag::Null => {}
            Tag::Bool => {
                self.bool()?;
            }
            Tag::Int | Tag::UInt => {
                self.varint()?;
            }
            Tag::Float => {
                self.take(8)?;
            }
            Tag::String => self.skip_str(utf8)?,
            Tag::Array => {
                self.enter(level)?;
                for _ in 0..self.len()? {
                    self.skip_value(level + 1, utf8)?;
                }
            }
            Tag::Object => {
                self.enter(level)?;
                for _ in 0..self.len()? {
                    self.skip_str(utf8)?;
                    self.skip_value(level + 1, utf8)?;
                }
            }
        }
        Ok(())
    }

    #[inline]
    fn skip_str(&mut self, utf8: bool) -> Walk<()> {
        if utf8 {
            self.check_str()
        } else {
            self.str_bytes().map(drop)
        }
    }

    /// Steps over a string, checking it is UTF-8: what [`Cursor::str`] checks, with a
    /// quicker path for the common all-ASCII string (ASCII is UTF-8).
    #[inline]
    pub(crate) fn check_str(&mut self) -> Walk<()> {
        let at = self.pos;
        let bytes = self.str_bytes()?;
        if bytes.is_ascii() || std::str::from_utf8(bytes).is_ok() {
            Ok(())
        } else {
            Err(not_utf8(at))
        }
    }

    /// Steps over a whole value (variant and content) at nesting `level`.
    pub(crate) fn skip_value(&mut self, level: usize, utf8: bool) -> Walk<()> {
        let tag = self.tag()?;
        self.skip(tag, level, utf8)
    }
}

/// Checks a whole stored document in one pass: every varint, variant, bool and length,
/// every string's UTF-8, nesting at most [`MAX_DEPTH`] levels, no byte after the last field.
/// Returns the number of fields and the offset of the first one.
pub(crate) fn check_document(payload: &[u8]) -> Walk<(usize, usize)> {
    let mut cursor = Cursor::new(payload, 0);
    let count = cursor.len()?;
    let first = cursor.pos();
    for _ in 0..count {
        cursor.check_str()?;
        cursor.skip_value(2, true)?;
    }
    if !cursor.at_end() {
        return Err(cursor.fail("trailing bytes after the last field"));
    }
    Ok((count, first))
}
