//! Schemas of the OpenAPI description that no Rust type of the wire gives by itself: u64
//! numbers (OpenAPI's `int64` stops at 2^63-1), the collection-name rule, documents (any
//! JSON object, `_id` optional), and the string sets the server accepts or sends. Each is
//! what the server enforces, so that a client generated from the description sends nothing
//! the server refuses for its shape.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

use crate::error::ErrorCode;

/// The collection-name rule of the contract (section 1), as `nyro_core::validate_name`
/// checks it.
pub const COLLECTION_NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// Any string but `_id` (which is always indexed and cannot be named) and the empty one,
/// written without look-ahead: a first character that is not `_`, or `_` followed by
/// anything but `id` and the end. `[\s\S]` is any character, newlines included.
const INDEX_FIELD_PATTERN: &str = r"^(?:[^_]|_$|_[^i]|_i$|_i[^d]|_id[\s\S])";
/// An index path: dot-separated segments, none empty. (`_id` is refused too, with 400: the
/// patterns stay free of lookaheads, as above.)
const INDEX_PATH_PATTERN: &str = r"^[^.]+(\.[^.]+)*$";

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(name))
}

/// A whole number from 0 to 18446744073709551615: document ids, sequence numbers. Sent and
/// accepted as a JSON number (or, in paths and query strings, decimal digits only).
pub struct U64;

impl PartialSchema for U64 {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::Custom("uint64".into())))
            .minimum(Some(0u64))
            .maximum(Some(u64::MAX))
            .description(Some("a whole number from 0 to 18446744073709551615 (u64)"))
            .into()
    }
}

impl ToSchema for U64 {}

/// A collection name: 1 to 64 of `A-Z a-z 0-9 _ -`.
pub struct CollectionName;

impl PartialSchema for CollectionName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(COLLECTION_NAME_PATTERN))
            .min_length(Some(1))
            .max_length(Some(64))
            .description(Some(
                "a collection name: 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'",
            ))
            .into()
    }
}

impl ToSchema for CollectionName {}

fn document(description: &str, id_required: bool) -> RefOr<Schema> {
    let builder = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .property("_id", reference("U64"))
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(true)));
    let builder = if id_required {
        builder.required("_id")
    } else {
        builder
    };
    builder.into()
}

/// A document sent by a client: a JSON object, `_id` optional.
pub struct DocumentBody;

impl PartialSchema for DocumentBody {
    fn schema() -> RefOr<Schema> {
        document(
            "a document: a JSON object; `_id` (optional) is its id, every other field is \
             the user's, with any JSON value (nesting at most 64 levels, the document \
             being level 1)",
            false,
        )
    }
}

impl ToSchema for DocumentBody {
    fn name() -> Cow<'static, str> {
        "Document".into()
    }
}

/// A stored document as the server sends it: `_id` first, then its fields.
pub struct StoredDocument;

impl PartialSchema for StoredDocument {
    fn schema() -> RefOr<Schema> {
        document(
            "a stored document: `_id` first, then its fields in the order written",
            true,
        )
    }
}

impl ToSchema for StoredDocument {}

/// The body of `_bulk`: a non-empty array of documents.
pub struct DocumentsBody;

impl PartialSchema for DocumentsBody {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(reference("Document"))
            .min_items(Some(1))
            .description(Some("the documents, at least one"))
            .into()
    }
}

impl ToSchema for DocumentsBody {
    fn name() -> Cow<'static, str> {
        "Documents".into()
    }
}

/// `ErrorDetail.code`: one of the contract's codes.
pub fn error_code() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ErrorCode::ALL.map(ErrorCode::as_str)))
        .description(Some(
            "one of the contract's codes; branch on it and the status",
        ))
        .into()
}

/// `ChangeMessage.op`.
pub fn change_op() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["insert", "update", "delete"]))
        .into()
}

/// `CreateCollection.indexes`: field names other than `_id` and the empty one.
pub fn index_fields() -> Schema {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .pattern(Some(INDEX_FIELD_PATTERN))
                .description(Some("a top-level field name; not `_id`, not empty")),
        )
        .unique_items(true)
        .description(Some(
            "top-level fields to index for equality queries, each listed once (stored sorted)",
        ))
        .into()
}

/// `NewIndex.path`: a dotted path, not `_id`.
pub fn index_path() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(INDEX_PATH_PATTERN))
        .description(Some(
            "field names separated by single dots, none empty (\"address.city\"); not `_id`",
        ))
        .into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The pattern in the description is the rule the server applies.
    #[test]
    fn collection_names_follow_the_pattern() {
        assert_eq!(COLLECTION_NAME_PATTERN, "^[A-Za-z0-9_-]{1,64}$");
        for b in 0u8..=127 {
            let name = (b as char).to_string();
            let in_class = b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
            assert_eq!(
                nyro_core::validate_name(&name).is_ok(),
                in_class,
                "{name:?}"
            );
        }
        assert!(nyro_core::validate_name(&"a".repeat(64)).is_ok());
        assert!(nyro_core::validate_name(&"a".repeat(65)).is_err());
        assert!(nyro_core::validate_name("").is_err());
        assert!(nyro_core::validate_name("é").is_err());
    }
}
