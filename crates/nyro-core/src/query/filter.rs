//! Filters (docs/CONTRACT section 6): the [`Filter`] tree and [`Filter::parse`], which
//! reads the JSON of a query's `where`.
//!
//! A filter object's entries all must hold: `{path: value}` is equality,
//! `{path: {"$op": operand, ...}}` a set of conditions on one path, and `$and`, `$or`,
//! `$not` combine whole filters; the three may be mixed in one object, and `{}` is every
//! document. An object without `$` names is equality with that object (`{}` included); one
//! mixing `$` names and plain names is refused. Every refusal is
//! [`DbError::Invalid`](crate::DbError::Invalid) (HTTP 400) and names the operator and the
//! path (or, for `$and`/`$or`/`$not`, where in the filter it stands) and what is expected.
//! What a filter means is [`Filter::matches`] (module `eval`).

use serde_json::{Map, Value as Json};

use super::path::Path;
use crate::document::{Value, json_type};
use crate::error::{DbError, Result};

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every document (`{}`).
    All,
    /// Every one of these holds (non-empty).
    And(Vec<Filter>),
    /// Some one of these holds (non-empty).
    Or(Vec<Filter>),
    /// This does not hold.
    Not(Box<Filter>),
    /// Every one of these conditions holds on the path (each possibly met by a different
    /// element of an array there).
    Path(Path, Vec<Condition>),
}

/// A condition on the value(s) at one path.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `$eq` (and `{path: value}`): some value there equals the operand (null: or the path
    /// is missing).
    Eq(Value),
    /// `$ne`: not `$eq`.
    Ne(Value),
    /// `$gt`: some value of the operand's kind is greater.
    Gt(Value),
    /// `$gte`: some value of the operand's kind is greater or equal (null: `$eq null`).
    Gte(Value),
    /// `$lt`: some value of the operand's kind is less.
    Lt(Value),
    /// `$lte`: some value of the operand's kind is less or equal (null: `$eq null`).
    Lte(Value),
    /// `$in`: `$eq` one of these.
    In(Vec<Value>),
    /// `$nin`: not `$in`.
    Nin(Vec<Value>),
    /// `$exists`: the path is there (true) or missing (false).
    Exists(bool),
}

/// The operators of a path's condition, as the errors list them.
const OPERATORS: &str = "$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin and $exists";

impl Filter {
    /// Reads a filter from its JSON (a query's `where`), checking its shape; a bad filter is
    /// an `Invalid` error naming the operator and the path and saying what is expected.
    pub fn parse(json: &Json) -> Result<Self> {
        match json {
            Json::Object(map) => parse_object(map, None),
            other => Err(DbError::invalid(format!(
                "filter: a filter is a JSON object such as {{\"city\": \"Lyon\"}} ({{}} for every \
                 document), not {}",
                json_type(other)
            ))),
        }
    }
}

/// Where a filter object stands, for errors: `None` at the top, else the operators that
/// lead to it (`$or[1].$not`); a `$and`/`$or` is named by its place (`$or[1].$and`).
type At<'s> = Option<&'s str>;

fn place(at: At<'_>) -> String {
    at.map_or_else(
        || "at the filter's top level".into(),
        |at| format!("in {at}"),
    )
}

/// The filter a JSON object stands for: its entries, all of which must hold.
fn parse_object(map: &Map<String, Json>, at: At<'_>) -> Result<Filter> {
    let mut parts = Vec::with_capacity(map.len());
    for (key, value) in map {
        let nested = |op: &str| at.map_or_else(|| op.to_string(), |at| format!("{at}.{op}"));
        parts.push(match key.as_str() {
            "$and" => Filter::And(parse_list("$and", value, &nested("$and"))?),
            "$or" => Filter::Or(parse_list("$or", value, &nested("$or"))?),
            "$not" => Filter::Not(Box::new(match value {
                Json::Object(inner) => parse_object(inner, Some(&nested("$not")))?,
                other => {
                    return Err(DbError::invalid(format!(
                        "filter: $not {} needs a filter object ({{\"$not\": {{\"city\": \
                         \"Lyon\"}}}}), not {}",
                        place(at),
                        json_type(other)
                    )));
                }
            })),
            op if op.starts_with('$') => {
                return Err(DbError::invalid(format!(
                    "filter: unknown operator {op:?} {}: a filter object holds paths and \
                     $and, $or, $not; the operators {OPERATORS} go in a path's condition \
                     ({{\"age\": {{\"$gt\": 30}}}})",
                    place(at)
                )));
            }
            path => parse_path(path, value)?,
        });
    }
    Ok(match parts.len() {
        0 => Filter::All,
        1 => parts.swap_remove(0),
        _ => Filter::And(parts),
    })
}

/// The operand of `$and` / `$or` at `at`: a non-empty array of filter objects.
fn parse_list(op: &str, value: &Json, at: &str) -> Result<Vec<Filter>> {
    let items = match value {
        Json::Array(items) if !items.is_empty() => items,
        other => {
            let got = match other {
                Json::Array(_) => "an empty array",
                other => json_type(other),
            };
            return Err(DbError::invalid(format!(
                "filter: {at} needs a non-empty array of filter objects \
                 ({{\"{op}\": [{{\"a\": 1}}, {{\"b\": 2}}]}}), not {got}"
            )));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Json::Object(map) => parse_object(map, Some(&format!("{at}[{index}]"))),
            other => Err(DbError::invalid(format!(
                "filter: {at}[{index}] must be a filter object (each element of {op} is one), not {}",
                json_type(other)
            ))),
        })
        .collect()
}

/// `{path: value}`: equality, or the operators of an object with `$` names.
fn parse_path(text: &str, value: &Json) -> Result<Filter> {
    let path = Path::parse(text).map_err(|e| DbError::invalid(format!("filter: {e}")))?;
    let ops = match value {
        Json::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => ops,
        other => {
            let operand = operand(&path, "equality", other)?;
            return Ok(Filter::Path(path, vec![Condition::Eq(operand)]));
        }
    };
    if let Some(plain) = ops.keys().find(|k| !k.starts_with('$')) {
        let op = ops
            .keys()
            .find(|k| k.starts_with('$'))
            .map_or("", String::as_str);
        return Err(DbError::invalid(format!(
            "filter: the condition on path {text:?} mixes the operator {op} with the field \
             name {plain:?}: write either operators ({{\"$gt\": 1}}) or an object to compare \
             with ({{\"{plain}\": ...}}), or {{\"$eq\": {{...}}}} for an object whose names \
             start with $"
        )));
    }
    let conditions = ops
        .iter()
        .map(|(op, operand)| parse_condition(&path, op, operand))
        .collect::<Result<_>>()?;
    Ok(Filter::Path(path, conditions))
}

/// One `"$op": operand` of the condition on `path`.
fn parse_condition(path: &Path, op: &str, value: &Json) -> Result<Condition> {
    let one = || operand(path, op, value);
    Ok(match op {
        "$eq" => Condition::Eq(one()?),
        "$ne" => Condition::Ne(one()?),
        "$gt" => Condition::Gt(one()?),
        "$gte" => Condition::Gte(one()?),
        "$lt" => Condition::Lt(one()?),
        "$lte" => Condition::Lte(one()?),
        "$in" | "$nin" => {
            let Json::Array(items) = value else {
                return Err(DbError::invalid(format!(
                    "filter: {op} on path {:?} needs an array of values ({{\"{op}\": [1, \
                     2]}}), not {}",
                    path.as_str(),
                    json_type(value)
                )));
            };
            let values = items
                .iter()
                .map(|item| operand(path, op, item))
                .collect::<Result<_>>()?;
            if op == "$in" {
                Condition::In(values)
            } else {
                Condition::Nin(values)
            }
        }
        "$exists" => match value {
            Json::Bool(b) => Condition::Exists(*b),
            other => {
                return Err(DbError::invalid(format!(
                    "filter: $exists on path {:?} needs true or false, not {}",
                    path.as_str(),
                    json_type(other)
                )));
            }
        },
        "$and" | "$or" | "$not" => {
            return Err(DbError::invalid(format!(
                "filter: {op} on path {:?}: $and, $or and $not combine whole filters and \
                 stand beside paths ({{\"{op}\": ...}}), not inside a path's condition; the \
                 operators there are {OPERATORS}",
                path.as_str()
            )));
        }
        _ => {
            return Err(DbError::invalid(format!(
                "filter: unknown operator {op:?} on path {:?}; the operators are {OPERATORS}",
                path.as_str()
            )));
        }
    })
}

/// A JSON operand as a value (the conversion documents use).
fn operand(path: &Path, op: &str, value: &Json) -> Result<Value> {
    Value::try_from_json(value.clone()).map_err(|e| {
        DbError::invalid(format!(
            "filter: {op} on path {:?}: the operand {e}",
            path.as_str()
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn path(text: &str) -> Path {
        Path::parse(text).unwrap()
    }

    fn error(filter: Json) -> String {
        let err = Filter::parse(&filter).unwrap_err();
        assert!(matches!(err, DbError::Invalid { .. }), "{err:?}");
        err.to_string()
    }

    #[test]
    fn equality_shorthand_takes_any_value() {
        assert_eq!(Filter::parse(&json!({})).unwrap(), Filter::All);
        assert_eq!(
            Filter::parse(&json!({"city": "Lyon"})).unwrap(),
            Filter::Path(
                path("city"),
                vec![Condition::Eq(Value::String("Lyon".into()))]
            )
        );
        assert_eq!(
            Filter::parse(&json!({"a.b": [1, null]})).unwrap(),
            Filter::Path(
                path("a.b"),
                vec![Condition::Eq(Value::Array(vec![
                    Value::Int(1),
                    Value::Null
                ]))]
            )
        );
        // An object without `$` names ({} too) is equality with that object.
        assert_eq!(
            Filter::parse(&json!({"a": {"x": 1}, "b": {}})).unwrap(),
            Filter::And(vec![
                Filter::Path(
                    path("a"),
                    vec![Condition::Eq(Value::Object(vec![(
                        "x".into(),
                        Value::Int(1)
                    )]))]
                ),
                Filter::Path(path("b"), vec![Condition::Eq(Value::Object(vec![]))]),
            ])
        );
        assert_eq!(
            Filter::parse(&json!({"n": u64::MAX})).unwrap(),
            Filter::Path(path("n"), vec![Condition::Eq(Value::UInt(u64::MAX))])
        );
    }

    #[test]
    fn every_operator_parses() {
        let filter = json!({"a": {
            "$eq": 1, "$ne": "x", "$gt": 1.5, "$gte": null, "$lt": [1], "$lte": {"k": true},
            "$in": [1, "a"], "$nin": [], "$exists": false
        }});
        let Filter::Path(p, conditions) = Filter::parse(&filter).unwrap() else {
            panic!("not a path filter");
        };
        assert_eq!(p, path("a"));
        assert_eq!(
            conditions,
            vec![
                Condition::Eq(Value::Int(1)),
                Condition::Ne(Value::String("x".into())),
                Condition::Gt(Value::Float(1.5)),
                Condition::Gte(Value::Null),
                Condition::Lt(Value::Array(vec![Value::Int(1)])),
                Condition::Lte(Value::Object(vec![("k".into(), Value::Bool(true))])),
                Condition::In(vec![Value::Int(1), Value::String("a".into())]),
                Condition::Nin(vec![]),
                Condition::Exists(false),
            ]
        );
        // $eq's operand is a value, even an object with `$` names.
        assert_eq!(
            Filter::parse(&json!({"a": {"$eq": {"$x": 1}}})).unwrap(),
            Filter::Path(
                path("a"),
                vec![Condition::Eq(Value::Object(vec![(
                    "$x".into(),
                    Value::Int(1)
                )]))]
            )
        );
    }

    #[test]
    fn logic_mixes_with_paths() {
        let filter = json!({
            "a": 1,
            "$or": [{"b": 2}, {"$not": {"c": {"$exists": true}}}],
            "$and": [{"d": 3}]
        });
        let eq = |p: &str, n: i64| Filter::Path(path(p), vec![Condition::Eq(Value::Int(n))]);
        assert_eq!(
            Filter::parse(&filter).unwrap(),
            Filter::And(vec![
                eq("a", 1),
                Filter::Or(vec![
                    eq("b", 2),
                    Filter::Not(Box::new(Filter::Path(
                        path("c"),
                        vec![Condition::Exists(true)]
                    ))),
                ]),
                Filter::And(vec![eq("d", 3)]),
            ])
        );
        assert_eq!(
            Filter::parse(&json!({"$not": {}})).unwrap(),
            Filter::Not(Box::new(Filter::All))
        );
    }

    #[test]
    fn errors_name_the_operator_the_path_and_what_is_expected() {
        let cases = [
            (json!([1]), vec!["a filter is a JSON object", "an array"]),
            (
                json!({"a": {"$foo": 1}}),
                vec!["\"$foo\"", "\"a\"", "$exists"],
            ),
            (json!({"$foo": 1}), vec!["\"$foo\"", "top level"]),
            (
                json!({"a.b": {"$gt": 1, "x": 2}}),
                vec!["$gt", "\"a.b\"", "\"x\"", "mixes"],
            ),
            (
                json!({"a": {"$in": 1}}),
                vec!["$in", "\"a\"", "array", "a number"],
            ),
            (
                json!({"a": {"$nin": "x"}}),
                vec!["$nin", "\"a\"", "a string"],
            ),
            (
                json!({"a": {"$exists": 1}}),
                vec!["$exists", "\"a\"", "true or false"],
            ),
            (json!({"a": {"$not": {"$gt": 1}}}), vec!["$not", "\"a\""]),
            (
                json!({"$and": []}),
                vec!["$and", "non-empty", "empty array"],
            ),
            (json!({"$or": {}}), vec!["$or", "an object"]),
            (
                json!({"$or": [{"a": 1}, 2]}),
                vec!["$or[1]", "filter object", "a number"],
            ),
            (
                json!({"$not": [1]}),
                vec!["$not", "filter object", "an array"],
            ),
            (
                json!({"$or": [{"$not": {"b": {"$in": null}}}]}),
                vec!["$in", "\"b\"", "null"],
            ),
            (
                json!({"$or": [{"x": 1}, {"$and": [3]}]}),
                vec!["$or[1].$and[0]", "filter object", "a number"],
            ),
            (json!({"a..b": 1}), vec!["\"a..b\""]),
            (json!({"": 1}), vec!["\"\""]),
        ];
        for (filter, words) in cases {
            let message = error(filter.clone());
            for word in words {
                assert!(
                    message.contains(word),
                    "{filter}: {message:?} lacks {word:?}"
                );
            }
        }
    }

    #[test]
    fn operands_deeper_than_documents_are_refused() {
        let mut deep = json!(1);
        for _ in 0..crate::MAX_DEPTH {
            deep = json!([deep]);
        }
        let message = error(json!({"a": {"$lt": deep}}));
        assert!(
            message.contains("$lt") && message.contains("\"a\""),
            "{message}"
        );
    }
}
