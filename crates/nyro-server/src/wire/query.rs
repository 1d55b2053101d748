//! The schemas of `POST .../_query` and `_explain` (CONTRACT section 6). The server reads the
//! body with `nyro_core::query::Query::from_json`; these types only describe it.

use utoipa::ToSchema;

use super::U64;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};

/// `POST .../_query` and `_explain` body; every key optional.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct QueryBody {
    /// Which documents: `{}` (all), `{PATH: VALUE}` equality, `{PATH: {OP: OPERAND}}` with
    /// `$eq $ne $gt $gte $lt $lte $in $nin $exists`, `{"$and": [..]}`, `{"$or": [..]}`,
    /// `{"$not": FILTER}`. PATH is a field or a dotted path (`address.city`).
    #[schema(rename = "where", value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    /// `[[PATH, "asc"|"desc"]]`: `_id` (the default) or one indexed path.
    #[schema(schema_with = sort)]
    pub sort: Option<Vec<Vec<String>>>,
    /// Only these paths (and `_id`) of each document.
    pub fields: Option<Vec<String>>,
    /// Most documents to return (1 to 10000, default 100).
    #[schema(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// Where the page starts: the `next` of the previous page (an id without `sort`, a
    /// string with one).
    #[schema(schema_with = after)]
    pub after: Option<serde_json::Value>,
    /// Answer `{"count": n}` instead of documents.
    pub count: Option<bool>,
}

fn sort() -> Schema {
    let key = ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String))
        .min_items(Some(2))
        .max_items(Some(2))
        .description(Some("[PATH, \"asc\" or \"desc\"]"));
    ArrayBuilder::new()
        .items(key)
        .min_items(Some(1))
        .max_items(Some(1))
        .description(Some("one sort key: _id or an indexed path"))
        .into()
}

/// An id (a whole number), a cursor string or null, described by `description`.
fn id_or_cursor(description: &str) -> Schema {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(description))
        .into()
}

fn after() -> Schema {
    id_or_cursor("the previous page's next: an id without sort, a cursor string with one")
}

fn next() -> Schema {
    id_or_cursor(
        "where the next page starts (an id without sort, an opaque cursor with one); null on \
         the last page",
    )
}

/// A page of a query (`records` and `next`), or with `count: true` only `count`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct QueryAnswer {
    /// The documents, each with `_id` (only the `fields` asked for, if any).
    #[schema(value_type = Option<Vec<Object>>)]
    pub records: Option<Vec<serde_json::Value>>,
    /// Where the next page starts.
    #[schema(schema_with = next)]
    pub next: Option<serde_json::Value>,
    /// Documents matching the filter (with `count: true`).
    #[schema(value_type = Option<U64>)]
    pub count: Option<u64>,
}

/// `_explain`'s answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ExplainAnswer {
    /// "index" (candidates from indexes, then the filter checked on each), "index_order"
    /// (the sort path's index walked in order) or "scan" (every document in id order).
    pub access: String,
    /// The index lookups, each `{"path", "bounds", "entries", "combine"}`.
    #[schema(value_type = Vec<Object>)]
    pub indexes: Vec<serde_json::Value>,
    /// True if every document is read in id order.
    pub scan: bool,
    /// `[PATH, "asc"|"desc"]`.
    pub sort: Vec<String>,
    /// Documents the planner expected to read.
    #[schema(value_type = U64)]
    pub estimated: u64,
    /// Documents read for the first page (or the count).
    #[schema(value_type = U64)]
    pub examined: u64,
    /// Documents returned (or counted).
    #[schema(value_type = U64)]
    pub returned: u64,
}
