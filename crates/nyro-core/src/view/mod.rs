//! Borrowed views of stored documents: [`DocumentView`], [`ValueView`], [`ArrayView`] and
//! [`ObjectView`] read a document's fields straight from its stored bytes (docs/FORMAT.md
//! section 4.2; in a database, bytes borrowed from the log's map) without decoding it and
//! without allocating. The owned [`Document`] is built only when asked
//! ([`DocumentView::to_document`]), and [`DocumentView::write_json`] writes the document's
//! JSON straight from the bytes.
//!
//! A view is made by [`DocumentView::new`], which checks the whole payload once (every
//! length, variant and string, nesting at most [`crate::MAX_DEPTH`] levels, nothing after
//! the last field) and refuses bytes that fail with an error naming the defect and its
//! offset. Every accessor afterwards is infallible. The format has no field offsets, so a
//! lookup walks the fields before it (skipping over nested values without reading them).

mod json;
mod walk;

#[cfg(test)]
pub(crate) mod tests;

pub(crate) use json::{number as json_number, string as json_string};
pub(crate) use walk::{Cursor, Malformed, Tag, Walk, check_document};

use crate::document::{Document, Value};
use crate::error::Result;

/// A stored document, borrowed: its id and its fields' bytes. `Copy`, and as cheap to pass
/// around as a slice.
#[derive(Clone, Copy)]
pub struct DocumentView<'a> {
    id: u64,
    fields: ObjectView<'a>,
}

/// A value inside a [`DocumentView`]: scalars decoded, strings borrowed, arrays and objects
/// as views to iterate.
#[derive(Debug, Clone, Copy)]
pub enum ValueView<'a> {
    /// JSON null.
    Null,
    /// true or false.
    Bool(bool),
    /// An integer that fits i64.
    Int(i64),
    /// An integer above i64::MAX.
    UInt(u64),
    /// A number with a fraction or exponent (non-finite ones are written to JSON as null).
    Float(f64),
    /// A string.
    String(&'a str),
    /// An array.
    Array(ArrayView<'a>),
    /// An object; fields in the stored order.
    Object(ObjectView<'a>),
}

/// An array inside a document: its elements, in order.
#[derive(Clone, Copy)]
pub struct ArrayView<'a> {
    bytes: &'a [u8],
    /// Offset of the first element.
    at: usize,
    len: usize,
    /// Nesting level of the elements.
    level: usize,
}

/// An object inside a document (or a document's own fields): its `(name, value)` pairs, in
/// the stored order.
#[derive(Clone, Copy)]
pub struct ObjectView<'a> {
    bytes: &'a [u8],
    /// Offset of the first field.
    at: usize,
    len: usize,
    /// Nesting level of the values.
    level: usize,
}

/// The text of a string the view has checked. Never fails: [`DocumentView::new`] checked
/// every string of the payload as UTF-8 (an empty string stands in, should that change).
fn checked_str(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// Reads the value at `cursor` (already checked) and steps over it.
fn read_value<'a>(cursor: &mut Cursor<'a>, bytes: &'a [u8], level: usize) -> Option<ValueView<'a>> {
    let tag = cursor.tag().ok()?;
    Some(match tag {
        Tag::Null => ValueView::Null,
        Tag::Bool => ValueView::Bool(cursor.bool().ok()?),
        Tag::Int => ValueView::Int(cursor.int().ok()?),
        Tag::UInt => ValueView::UInt(cursor.varint().ok()?),
        Tag::Float => ValueView::Float(cursor.float().ok()?),
        Tag::String => ValueView::String(checked_str(cursor.str_bytes().ok()?)),
        Tag::Array | Tag::Object => {
            let len = cursor.len().ok()?;
            let at = cursor.pos();
            let mut end = Cursor::new(bytes, at);
            for _ in 0..len {
                if tag == Tag::Object {
                    end.str_bytes().ok()?;
                }
                end.skip_value(level + 1, false).ok()?;
            }
            *cursor = end;
            if tag == Tag::Array {
                ValueView::Array(ArrayView {
                    bytes,
                    at,
                    len,
                    level: level + 1,
                })
            } else {
                ValueView::Object(ObjectView {
                    bytes,
                    at,
                    len,
                    level: level + 1,
                })
            }
        }
    })
}

impl<'a> DocumentView<'a> {
    /// A view of document `id` whose stored fields are `payload` (what
    /// [`Document::to_stored_bytes`] gives), after checking the whole payload once. Refuses
    /// bytes that are not a stored document, naming the defect and its offset.
    pub fn new(id: u64, payload: &'a [u8]) -> Result<Self> {
        let (len, at) = check_document(payload).map_err(|e| e.into_error(payload.len()))?;
        Ok(Self {
            id,
            fields: ObjectView {
                bytes: payload,
                at,
                len,
                level: 2,
            },
        })
    }

    /// The document's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The stored bytes of the fields (the id is not in them).
    pub fn bytes(&self) -> &'a [u8] {
        self.fields.bytes
    }

    /// The number of fields, `_id` not counted.
    pub fn len(&self) -> usize {
        self.fields.len
    }

    /// True if the document has no field but `_id`.
    pub fn is_empty(&self) -> bool {
        self.fields.len == 0
    }

    /// The value of a top-level field (the last one, should a name repeat, as
    /// [`Document::get`]).
    pub fn get(&self, field: &str) -> Option<ValueView<'a>> {
        self.fields.get(field)
    }

    /// The value at a path of field names into nested objects (`["address", "city"]`);
    /// `None` if a step is missing or is not an object. An empty path is `None`.
    pub fn get_path<S: AsRef<str>>(&self, path: &[S]) -> Option<ValueView<'a>> {
        let (first, rest) = path.split_first()?;
        let mut value = self.get(first.as_ref())?;
        for step in rest {
            value = value.as_object()?.get(step.as_ref())?;
        }
        Some(value)
    }

    /// The fields, in the stored order.
    pub fn fields(&self) -> Fields<'a> {
        self.fields.iter()
    }

    /// The fields as an object view.
    pub fn as_object(&self) -> ObjectView<'a> {
        self.fields
    }

    /// The owned document (allocates: its fields and strings).
    pub fn to_document(&self) -> Document {
        Document {
            id: Some(self.id),
            fields: self.fields.to_fields(),
        }
    }
}

impl std::fmt::Debug for DocumentView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentView")
            .field("id", &self.id)
            .field("fields", &self.fields)
            .finish()
    }
}

impl<'a> ValueView<'a> {
    /// True for null.
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The integer, if it is one that fits i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The integer, if it is one from 0 to u64::MAX.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::Int(i) => u64::try_from(i).ok(),
            Self::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// Any number as a double (integers beyond 2^53 rounded), as `serde_json` gives it.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::Int(i) => Some(i as f64),
            Self::UInt(u) => Some(u as f64),
            Self::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The array, if it is one.
    pub fn as_array(&self) -> Option<ArrayView<'a>> {
        match *self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The object, if it is one.
    pub fn as_object(&self) -> Option<ObjectView<'a>> {
        match *self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The owned value (allocates for strings, arrays and objects).
    pub fn to_value(&self) -> Value {
        match *self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(b),
            Self::Int(i) => Value::Int(i),
            Self::UInt(u) => Value::UInt(u),
            Self::Float(f) => Value::Float(f),
            Self::String(s) => Value::String(s.to_string()),
            Self::Array(a) => Value::Array(a.iter().map(|v| v.to_value()).collect()),
            Self::Object(o) => Value::Object(o.to_fields()),
        }
    }
}

impl<'a> ArrayView<'a> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements, in order.
    pub fn iter(&self) -> Elements<'a> {
        Elements(Entries::new(self.bytes, self.at, self.len, self.level))
    }

    /// Element `index` (walks the elements before it).
    pub fn get(&self, index: usize) -> Option<ValueView<'a>> {
        self.iter().nth(index)
    }
}

impl<'a> IntoIterator for ArrayView<'a> {
    type Item = ValueView<'a>;
    type IntoIter = Elements<'a>;

    fn into_iter(self) -> Elements<'a> {
        self.iter()
    }
}

impl std::fmt::Debug for ArrayView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> ObjectView<'a> {
    /// The number of fields.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the object has no field.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The fields, in the stored order.
    pub fn iter(&self) -> Fields<'a> {
        Fields(Entries::new(self.bytes, self.at, self.len, self.level))
    }

    /// The value of `field` (the last one, should a name repeat). Compares names as bytes
    /// and reads only the value found.
    pub fn get(&self, field: &str) -> Option<ValueView<'a>> {
        let mut cursor = Cursor::new(self.bytes, self.at);
        let mut found = None;
        for _ in 0..self.len {
            let name = cursor.str_bytes().ok()?;
            if name == field.as_bytes() {
                found = Some(cursor);
            }
            cursor.skip_value(self.level, false).ok()?;
        }
        read_value(&mut found?, self.bytes, self.level)
    }

    fn to_fields(self) -> Vec<(String, Value)> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_value()))
            .collect()
    }
}

impl<'a> IntoIterator for ObjectView<'a> {
    type Item = (&'a str, ValueView<'a>);
    type IntoIter = Fields<'a>;

    fn into_iter(self) -> Fields<'a> {
        self.iter()
    }
}

impl std::fmt::Debug for ObjectView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A walk over the entries of an array or object: what its iterators share.
#[derive(Clone)]
struct Entries<'a> {
    cursor: Cursor<'a>,
    bytes: &'a [u8],
    left: usize,
    /// Nesting level of the values.
    level: usize,
}

impl<'a> Entries<'a> {
    fn new(bytes: &'a [u8], at: usize, len: usize, level: usize) -> Self {
        Self {
            cursor: Cursor::new(bytes, at),
            bytes,
            left: len,
            level,
        }
    }

    /// Reads the next entry with `read`; ends the walk should the (checked) bytes fail.
    fn step<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        self.left = self.left.checked_sub(1)?;
        let entry = read(self);
        if entry.is_none() {
            self.left = 0;
        }
        entry
    }

    fn value(&mut self) -> Option<ValueView<'a>> {
        read_value(&mut self.cursor, self.bytes, self.level)
    }
}

/// The elements of an [`ArrayView`].
#[derive(Clone)]
pub struct Elements<'a>(Entries<'a>);

impl<'a> Iterator for Elements<'a> {
    type Item = ValueView<'a>;

    fn next(&mut self) -> Option<ValueView<'a>> {
        self.0.step(Entries::value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.0.left, Some(self.0.left))
    }
}

impl ExactSizeIterator for Elements<'_> {}

/// The `(name, value)` pairs of an [`ObjectView`] or a [`DocumentView`].
#[derive(Clone)]
pub struct Fields<'a>(Entries<'a>);

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a str, ValueView<'a>);

    fn next(&mut self) -> Option<(&'a str, ValueView<'a>)> {
        self.0.step(|entries| {
            let name = entries.cursor.str_bytes().ok()?;
            Some((checked_str(name), entries.value()?))
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.0.left, Some(self.0.left))
    }
}

impl ExactSizeIterator for Fields<'_> {}
