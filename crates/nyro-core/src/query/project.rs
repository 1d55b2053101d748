//! Projection (a query's `fields`): the JSON of only some paths of a document, written
//! straight from its stored bytes.
//!
//! `_id` comes first, always; then the document's fields in their stored order, each kept
//! if a path names it: whole if a path ends there, else rebuilt with only what the paths
//! name below it. As in MongoDB, a path goes on through an object (which is kept, `{}` if
//! nothing below it is there) and through an array into each element that is an object (the
//! array keeps those elements, each rebuilt); a scalar where the path goes on is left out,
//! and so is a nested array inside an array (the paths of filters do not descend into those
//! either). A field no path names, and a missing path, are left out. Of two paths where one
//! lies inside the other (`a` and `a.b`), the outer wins.

use super::path::Path;
use crate::view::{ArrayView, DocumentView, Fields, ValueView, json_number, json_string};

/// The fields kept of an object: each name with what is kept of its value.
type Kept = Vec<(Box<str>, Node)>;

/// What is kept of a value.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// All of it: a path ends here.
    Whole,
    /// Paths go on below it: these fields of an object (of each object in an array).
    Below(Kept),
}

/// The paths of a query's `fields`, arranged to write documents with only those paths.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    kept: Kept,
}

impl Projection {
    /// The projection to `paths` (and `_id`, always written).
    pub fn new(paths: &[Path]) -> Self {
        let mut kept = Kept::new();
        for path in paths.iter().filter(|p| !p.is_id()) {
            keep(&mut kept, path.segments());
        }
        Self { kept }
    }

    /// Appends `doc`'s JSON with only the projection's paths to `out`: `{"_id":..,...}`.
    pub fn write_json(&self, doc: &DocumentView<'_>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"_id\":");
        json_number(out, doc.id());
        write_fields(out, doc.fields(), &self.kept, true);
        out.push(b'}');
    }
}

/// Adds the path `segments` to `kept`.
fn keep(kept: &mut Kept, segments: &[Box<str>]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let at = match kept.iter().position(|(name, _)| name == first) {
        Some(at) => at,
        None => {
            kept.push((first.clone(), Node::Below(Kept::new())));
            kept.len() - 1
        }
    };
    let node = &mut kept[at].1;
    match node {
        Node::Whole => {}
        Node::Below(_) if rest.is_empty() => *node = Node::Whole,
        Node::Below(below) => keep(below, rest),
    }
}

/// Writes the kept ones of `fields` as `"name":value` members, a comma before each (before
/// the first too if `comma`).
fn write_fields(out: &mut Vec<u8>, fields: Fields<'_>, kept: &Kept, mut comma: bool) {
    for (name, value) in fields {
        let Some((_, node)) = kept.iter().find(|(kept, _)| **kept == *name) else {
            continue;
        };
        let write = |out: &mut Vec<u8>, comma: bool| {
            if comma {
                out.push(b',');
            }
            json_string(out, name.as_bytes());
            out.push(b':');
        };
        match (node, value) {
            (Node::Whole, value) => {
                write(out, comma);
                value.write_json(out);
            }
            (Node::Below(below), ValueView::Object(object)) => {
                write(out, comma);
                out.push(b'{');
                write_fields(out, object.iter(), below, false);
                out.push(b'}');
            }
            (Node::Below(below), ValueView::Array(array)) => {
                write(out, comma);
                write_elements(out, array, below);
            }
            (Node::Below(_), _) => continue,
        }
        comma = true;
    }
}

/// Writes the objects of `array`, each with only the `kept` fields, as an array.
fn write_elements(out: &mut Vec<u8>, array: ArrayView<'_>, kept: &Kept) {
    out.push(b'[');
    let mut comma = false;
    for element in array {
        if let ValueView::Object(object) = element {
            if comma {
                out.push(b',');
            }
            out.push(b'{');
            write_fields(out, object.iter(), kept, false);
            out.push(b'}');
            comma = true;
        }
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::document::Document;
    use serde_json::json;

    fn project(doc: serde_json::Value, paths: &[&str]) -> String {
        let doc = Document::from_json(doc).unwrap();
        let bytes = doc.to_stored_bytes().unwrap();
        let view = DocumentView::new(doc.id.unwrap_or(1), &bytes).unwrap();
        let paths: Vec<Path> = paths.iter().map(|p| Path::parse(p).unwrap()).collect();
        let mut out = Vec::new();
        Projection::new(&paths).write_json(&view, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn nested_objects_are_rebuilt_in_the_documents_order() {
        let doc = json!({"_id": 1, "name": "Ann", "address": {"zip": "69001", "city": "Lyon"},
                         "age": 30});
        assert_eq!(
            project(doc.clone(), &["address.city"]),
            r#"{"_id":1,"address":{"city":"Lyon"}}"#
        );
        assert_eq!(
            project(doc.clone(), &["age", "address.city", "name", "address.zip"]),
            r#"{"_id":1,"name":"Ann","address":{"zip":"69001","city":"Lyon"},"age":30}"#
        );
        assert_eq!(
            project(doc.clone(), &["address.city", "address"]),
            r#"{"_id":1,"address":{"zip":"69001","city":"Lyon"}}"#
        );
        assert_eq!(project(doc.clone(), &["_id"]), r#"{"_id":1}"#);
        assert_eq!(project(doc.clone(), &[]), r#"{"_id":1}"#);
        assert_eq!(project(doc, &["nope", "name.x"]), r#"{"_id":1}"#);
        // An object on the way is kept, as in MongoDB.
        assert_eq!(
            project(json!({"_id": 2, "a": {"x": 1}}), &["a.b"]),
            r#"{"_id":2,"a":{}}"#
        );
    }

    #[test]
    fn arrays_of_objects_are_projected_per_element() {
        let doc = json!({"_id": 3, "items": [
            {"sku": "x", "n": 1}, 7, {"n": 2}, [{"sku": "deep"}], {"sku": ["a", "b"], "z": 0}
        ]});
        assert_eq!(
            project(doc.clone(), &["items.sku"]),
            r#"{"_id":3,"items":[{"sku":"x"},{},{"sku":["a","b"]}]}"#
        );
        assert_eq!(
            project(doc, &["items"]),
            r#"{"_id":3,"items":[{"sku":"x","n":1},7,{"n":2},[{"sku":"deep"}],{"sku":["a","b"],"z":0}]}"#
        );
        assert_eq!(
            project(json!({"_id": 4, "s": "tab\there", "f": 1.5}), &["s", "f"]),
            r#"{"_id":4,"s":"tab\there","f":1.5}"#
        );
    }
}
