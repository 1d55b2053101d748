//! A query request (`POST .../_query` and `_explain` body, CONTRACT section 6) read into a
//! [`Query`]: every key checked, every error a 400 that names the key.

use serde_json::Value as Json;

use super::{After, Filter, Path, Query, Sort};
use crate::error::{DbError, Result};
use crate::types::MAX_PAGE;

/// The page size when a request gives none.
pub const DEFAULT_LIMIT: usize = 100;

const KEYS: &str = "where, sort, fields, limit, after, count";

impl Query {
    /// Reads a request body: `{"where": FILTER, "sort": [[PATH, "asc"|"desc"]], "fields":
    /// [PATH, ...], "limit": N, "after": CURSOR, "count": true}`, each key optional.
    pub fn from_json(body: &Json) -> Result<Query> {
        let object = body.as_object().ok_or_else(|| {
            DbError::invalid(format!("a query is a JSON object with the keys {KEYS}"))
        })?;
        if let Some(unknown) = object
            .keys()
            .find(|k| !KEYS.split(", ").any(|known| known == *k))
        {
            return Err(DbError::invalid(format!(
                "query key {unknown:?} is unknown; the keys are {KEYS}"
            )));
        }
        let filter = match object.get("where") {
            None | Some(Json::Null) => Filter::All,
            Some(filter) => Filter::parse(filter)?,
        };
        let sort = object.get("sort").map(parse_sort).transpose()?;
        let fields = object.get("fields").map(parse_fields).transpose()?;
        let limit = match object.get("limit") {
            None | Some(Json::Null) => DEFAULT_LIMIT,
            Some(limit) => limit
                .as_u64()
                .or_else(|| limit.as_f64().and_then(crate::document::whole_u64))
                .and_then(|l| usize::try_from(l).ok())
                .filter(|l| (1..=MAX_PAGE).contains(l))
                .ok_or_else(|| {
                    DbError::invalid(format!("limit: a whole number from 1 to {MAX_PAGE}"))
                })?,
        };
        let after = match (object.get("after"), &sort) {
            (None | Some(Json::Null), _) => None,
            (Some(Json::String(cursor)), Some(_)) => Some(After::Cursor(cursor.clone())),
            (Some(id), None) => Some(After::Id(
                id.as_u64()
                    .or_else(|| id.as_f64().and_then(crate::document::whole_u64))
                    .ok_or_else(|| {
                        DbError::invalid(
                            "after: without a sort, the `next` id of the previous page (a whole \
                             number)",
                        )
                    })?,
            )),
            (Some(_), Some(_)) => {
                return Err(DbError::invalid(
                    "after: with a sort, the `next` string of the previous page",
                ));
            }
        };
        let count = match object.get("count") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(count)) => *count,
            Some(_) => return Err(DbError::invalid("count: true or false")),
        };
        Ok(Query {
            filter,
            sort,
            fields,
            limit,
            after,
            count,
        })
    }
}

fn parse_sort(sort: &Json) -> Result<Sort> {
    const EXPECTED: &str = "sort: [[PATH, \"asc\" or \"desc\"]] (one path: _id or an indexed one)";
    let keys = sort
        .as_array()
        .filter(|keys| keys.len() == 1)
        .ok_or_else(|| DbError::invalid(EXPECTED))?;
    let Some([path, direction]) = keys[0].as_array().map(Vec::as_slice) else {
        return Err(DbError::invalid(EXPECTED));
    };
    let path = Path::parse(path.as_str().ok_or_else(|| DbError::invalid(EXPECTED))?)
        .map_err(|e| DbError::invalid(format!("sort: {e}")))?;
    let descending = match direction.as_str() {
        Some("asc") => false,
        Some("desc") => true,
        _ => {
            return Err(DbError::invalid(format!(
                "{EXPECTED}; got direction {direction}"
            )));
        }
    };
    Ok(Sort { path, descending })
}

fn parse_fields(fields: &Json) -> Result<Vec<Path>> {
    let fields = fields.as_array().ok_or_else(|| {
        DbError::invalid("fields: an array of paths ([\"name\", \"address.city\"])")
    })?;
    fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let text = field.as_str().ok_or_else(|| {
                DbError::invalid(format!("fields[{i}]: a path (a string), got {field}"))
            })?;
            Path::parse(text).map_err(|e| DbError::invalid(format!("fields[{i}]: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn error(body: Json) -> String {
        Query::from_json(&body).unwrap_err().to_string()
    }

    #[test]
    fn a_full_body_reads_back() {
        let q = Query::from_json(&json!({"where": {}, "sort": [["a.b", "desc"]],
            "fields": ["x", "y.z"], "limit": 5, "after": "00", "count": true}))
        .unwrap();
        assert_eq!(q.sort.as_ref().unwrap().path.as_str(), "a.b");
        assert!(q.sort.unwrap().descending);
        assert_eq!(q.fields.unwrap().len(), 2);
        assert_eq!((q.limit, q.count), (5, true));
        assert_eq!(q.after, Some(After::Cursor("00".into())));
        let q = Query::from_json(&json!({"after": 7.0})).unwrap();
        assert_eq!((q.after, q.limit), (Some(After::Id(7)), DEFAULT_LIMIT));
    }

    #[test]
    fn every_bad_key_is_named() {
        assert!(error(json!([])).contains("JSON object"));
        assert!(error(json!({"wher": {}})).contains("\"wher\""));
        assert!(error(json!({"sort": [["a", "up"]]})).contains("sort"));
        assert!(error(json!({"sort": [["a", "asc"], ["b", "asc"]]})).contains("one path"));
        assert!(error(json!({"sort": [["a..b", "asc"]]})).contains("\"a..b\""));
        assert!(error(json!({"fields": ["a", 3]})).contains("fields[1]"));
        assert!(error(json!({"limit": 0})).contains("limit"));
        assert!(error(json!({"limit": 10001})).contains("limit"));
        assert!(error(json!({"after": "x"})).contains("after"));
        assert!(error(json!({"sort": [["a", "asc"]], "after": 3})).contains("after"));
        assert!(error(json!({"count": 1})).contains("count"));
    }
}
