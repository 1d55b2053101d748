//! Paths into documents (`"address.city"`) and how a document resolves one.
//!
//! Resolving gives one or more *branches*, each a value or missing (`None`): a path walks
//! field by field through nested objects; through an array before its last segment it goes
//! on into each element (MongoDB's `items.sku`); through a scalar it is missing. A walk that
//! finds nothing at all (every branch died in an empty array) is one missing branch, so a
//! document always resolves to at least one branch. The evaluator, the index keys and the
//! sort keys all resolve through [`resolve`], so they cannot disagree on what a path means.

use std::fmt;

use crate::document::ID_FIELD;
use crate::error::{DbError, Result};
use crate::view::{DocumentView, ValueView};

/// A parsed path: field names separated by dots, each non-empty.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Path {
    text: Box<str>,
    segments: Box<[Box<str>]>,
}

impl Path {
    /// Parses `"a.b.c"`; an empty path or an empty segment (`"a..b"`, `".a"`) is an error
    /// naming the path.
    pub fn parse(text: &str) -> Result<Self> {
        if text.is_empty() || text.split('.').any(str::is_empty) {
            return Err(DbError::invalid(format!(
                "path {text:?}: a path is field names separated by single dots, none empty \
                 (\"address.city\")"
            )));
        }
        Ok(Self {
            text: text.into(),
            segments: text.split('.').map(Box::from).collect(),
        })
    }

    /// The path of the top-level field named `name`, taken literally: one segment, dots
    /// and all. For index names declared before indexes were paths (any name but empty and
    /// `_id` was accepted then) that [`Path::parse`] refuses, such as `"a..b"`.
    pub(crate) fn field(name: &str) -> Self {
        Self {
            text: name.into(),
            segments: Box::new([name.into()]),
        }
    }

    /// The path of the document's id.
    pub fn id() -> Self {
        Self {
            text: ID_FIELD.into(),
            segments: Box::new([ID_FIELD.into()]),
        }
    }

    /// A path that did not parse, kept for a builder to report when the query runs
    /// ([`Path::check`]); it resolves to missing everywhere.
    pub(crate) fn invalid(text: &str) -> Self {
        Self {
            text: text.into(),
            segments: Box::new([]),
        }
    }

    /// The error [`Path::parse`] gave, for a path a builder could not parse.
    pub fn check(&self) -> Result<()> {
        if self.segments.is_empty() {
            Self::parse(&self.text).map(drop)
        } else {
            Ok(())
        }
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its field names, outermost first (at least one).
    pub fn segments(&self) -> &[Box<str>] {
        &self.segments
    }

    /// True for `_id`.
    pub fn is_id(&self) -> bool {
        &*self.text == ID_FIELD
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The document's id as a value (an integer above `i64::MAX` is `UInt`).
fn id_value<'a>(id: u64) -> ValueView<'a> {
    i64::try_from(id).map_or(ValueView::UInt(id), ValueView::Int)
}

/// Calls `branch` once for each branch of `path` in `doc` (module documentation): with the
/// value found, or `None` where the path is missing. At least once; allocation free.
pub fn resolve<'a>(
    doc: &DocumentView<'a>,
    path: &Path,
    mut branch: impl FnMut(Option<ValueView<'a>>),
) {
    if path.is_id() {
        return branch(Some(id_value(doc.id())));
    }
    let (first, rest) = match path.segments.split_first() {
        Some(split) => split,
        None => return branch(None),
    };
    let mut found = false;
    descend(doc.get(first), rest, &mut |value| {
        found = true;
        branch(value);
    });
    if !found {
        branch(None);
    }
}

/// The walk from `value` (found so far) through the remaining segments `rest`.
fn descend<'a>(
    value: Option<ValueView<'a>>,
    rest: &[Box<str>],
    branch: &mut dyn FnMut(Option<ValueView<'a>>),
) {
    let Some((next, tail)) = rest.split_first() else {
        return branch(value);
    };
    match value {
        Some(ValueView::Object(object)) => descend(object.get(next), tail, branch),
        Some(ValueView::Array(array)) => {
            for element in array {
                match element {
                    ValueView::Object(object) => descend(object.get(next), tail, branch),
                    _ => branch(None),
                }
            }
        }
        _ => branch(None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::document::{Document, encode_fields};

    fn branches(json: &str, path: &str) -> Vec<Option<String>> {
        let doc = Document::from_json(serde_json::from_str(json).unwrap()).unwrap();
        let mut payload = Vec::new();
        encode_fields(&doc.fields, &mut payload).unwrap();
        let view = DocumentView::new(7, &payload).unwrap();
        let mut out = Vec::new();
        resolve(&view, &Path::parse(path).unwrap(), |value| {
            out.push(value.map(|v| v.to_value().to_json().to_string()));
        });
        out
    }

    fn some(texts: &[&str]) -> Vec<Option<String>> {
        texts.iter().map(|t| Some(t.to_string())).collect()
    }

    #[test]
    fn paths_parse_and_refuse_empty_segments() {
        assert_eq!(Path::parse("a.b").unwrap().segments().len(), 2);
        assert!(Path::parse("_id").unwrap().is_id());
        for bad in ["", ".", "a.", ".a", "a..b"] {
            let err = Path::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn nested_objects_scalars_and_missing() {
        assert_eq!(branches(r#"{"a":{"b":{"c":1}}}"#, "a.b.c"), some(&["1"]));
        assert_eq!(branches(r#"{"a":{"b":[1,2]}}"#, "a.b"), some(&["[1,2]"]));
        assert_eq!(branches(r#"{"a":5}"#, "a.b"), vec![None]);
        assert_eq!(branches(r#"{"x":5}"#, "a"), vec![None]);
        assert_eq!(branches(r#"{"a":null}"#, "a"), some(&["null"]));
        assert_eq!(branches(r#"{"a":1,"a":2}"#, "a"), some(&["2"]));
        assert_eq!(branches(r#"{}"#, "_id"), some(&["7"]));
    }

    #[test]
    fn arrays_before_the_last_segment_are_walked_element_by_element() {
        let doc = r#"{"items":[{"sku":"x"},{"n":1},3,[{"sku":"deep"}],{"sku":["y","z"]}]}"#;
        assert_eq!(
            branches(doc, "items.sku"),
            vec![
                Some("\"x\"".into()),
                None,
                None,
                None,
                Some("[\"y\",\"z\"]".into())
            ]
        );
        // An empty array there gives nothing: the path is missing.
        assert_eq!(branches(r#"{"items":[]}"#, "items.sku"), vec![None]);
        // The last segment's array is one branch: its elements are the evaluator's to see.
        assert_eq!(branches(r#"{"items":[]}"#, "items"), some(&["[]"]));
    }
}
