//! The command line of `nyrodb query` (CONTRACT sections 5 and 6): a filter as one JSON
//! object or as `FIELD=VALUE` equalities, `--sort PATH[:asc|desc]`, `--fields`, paging,
//! `--count`, `--explain` and `--all`.

use clap::Args;

use super::ClientArgs;

/// Largest page the server gives (`limit`).
pub const MAX_LIMIT: u32 = 10_000;

/// `nyrodb query`.
#[derive(Debug, Args)]
#[command(after_help = "\
FILTER is one JSON object, as POST /v1/collections/C/_query takes it under \"where\": \
'{\"age\": {\"$gte\": 18}, \"tags\": \"rust\"}', '{\"$or\": [{\"city\": \"Oslo\"}, \
{\"address.city\": \"Oslo\"}]}', '{}' for every document; `-` reads it from standard input. \
Operators: $eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $not; paths may be dotted \
(address.city). The short form FIELD=VALUE... gives equalities that must all hold; each VALUE \
is read as JSON when it parses as JSON, else as a string: age=42 is the number 42, \
age='\"42\"' the string \"42\", city=London the string \"London\", active=true a boolean.

Prints the server's {\"records\": [...], \"next\": ...}; pass --after NEXT (with the same \
filter and --sort) for the following page, or --all to follow every page and print one \
document per line (NDJSON). --count prints {\"count\": n}; --explain prints the plan (the \
indexes used, their bounds, whether it scans, documents examined and returned). Any path may be \
queried; --sort takes _id or an indexed path. See docs/CLI.md.")]
pub struct QueryArgs {
    /// The collection.
    #[arg(value_name = "COLLECTION")]
    pub collection: String,
    /// The filter: one JSON object ('{"age": {"$gt": 30}}'; `-` reads standard input), or
    /// FIELD=VALUE equalities, all of which must hold (each field at most once).
    #[arg(value_name = "FILTER | FIELD=VALUE", required = true)]
    pub filter: Vec<String>,
    /// Sort by this path (_id, the default, or an indexed path), ascending unless `:desc`
    /// follows: `--sort age:desc`.
    #[arg(long, value_name = "PATH[:asc|desc]", value_parser = parse_sort)]
    pub sort: Option<SortKey>,
    /// Return only these paths of each document (and _id), comma-separated:
    /// `--fields name,address.city`.
    #[arg(long, value_name = "PATH,...", value_delimiter = ',')]
    pub fields: Vec<String>,
    /// Most documents per page (1 to 10000; the server's default is 100, --all's 1000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT)))]
    pub limit: Option<u32>,
    /// Start after this: the `next` of the previous page (an id without --sort, the cursor
    /// string with the same --sort).
    #[arg(long, value_name = "NEXT")]
    pub after: Option<String>,
    /// Print only how many documents match: {"count": n}.
    #[arg(long)]
    pub count: bool,
    /// Print the plan (POST .../_explain) instead of the documents: the indexes used and
    /// their bounds, whether it scans, documents examined and returned.
    #[arg(long, conflicts_with = "all")]
    pub explain: bool,
    /// Follow `next` to the last page and print every document, one per line (NDJSON).
    #[arg(long, conflicts_with = "count")]
    pub all: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// One `FIELD=VALUE` condition of `nyrodb query`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The field (a path: `address.city`).
    pub field: String,
    /// The value: JSON if it parses as JSON, else the string.
    pub value: serde_json::Value,
}

/// Parses `FIELD=VALUE`: the value is JSON when it parses as JSON (`42`, `true`, `"42"`,
/// `null`), else the text as a string.
pub fn parse_condition(raw: &str) -> Result<Condition, String> {
    let Some((field, value)) = raw.split_once('=') else {
        return Err(format!(
            "{raw:?} is neither FIELD=VALUE nor a JSON filter object; write e.g. city=London, \
             age=42 or '{{\"age\": {{\"$gt\": 30}}}}'"
        ));
    };
    if field.is_empty() {
        return Err(format!("{raw:?} has no field name before '='"));
    }
    let value = serde_json::from_str(value)
        .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
    Ok(Condition {
        field: field.to_string(),
        value,
    })
}

/// `--sort PATH[:asc|desc]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The path to sort by.
    pub path: String,
    /// Largest first.
    pub descending: bool,
}

impl SortKey {
    /// The `sort` of a query body: `[[PATH, "asc"|"desc"]]`.
    pub fn to_json(&self) -> serde_json::Value {
        let direction = if self.descending { "desc" } else { "asc" };
        serde_json::json!([[self.path, direction]])
    }
}

/// Parses `PATH`, `PATH:asc` or `PATH:desc` (a path may hold ':' itself: only a final
/// `:asc` or `:desc` is the direction).
pub fn parse_sort(raw: &str) -> Result<SortKey, String> {
    let (path, descending) = match raw.rsplit_once(':') {
        Some((path, "asc")) => (path, false),
        Some((path, "desc")) => (path, true),
        _ => (raw, false),
    };
    if path.is_empty() {
        return Err(format!(
            "{raw:?} names no path; write e.g. --sort age or --sort age:desc"
        ));
    }
    Ok(SortKey {
        path: path.to_string(),
        descending,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn conditions_read_json_else_strings() {
        let c = parse_condition("age=42").unwrap();
        assert_eq!(c.value, serde_json::json!(42));
        let c = parse_condition("age=\"42\"").unwrap();
        assert_eq!(c.value, serde_json::json!("42"));
        let c = parse_condition("city=London").unwrap();
        assert_eq!(c.value, serde_json::json!("London"));
        let c = parse_condition("on=true").unwrap();
        assert_eq!(c.value, serde_json::json!(true));
        let c = parse_condition("eq=a=b").unwrap();
        assert_eq!(
            (c.field.as_str(), c.value),
            ("eq", serde_json::json!("a=b"))
        );
        let c = parse_condition("address.city=Oslo").unwrap();
        assert_eq!(c.field, "address.city");
        assert!(parse_condition("nofield").is_err());
        assert!(parse_condition("=1").is_err());
    }

    #[test]
    fn sort_keys_take_an_optional_direction() {
        let key = parse_sort("age").unwrap();
        assert_eq!(key.to_json(), serde_json::json!([["age", "asc"]]));
        let key = parse_sort("address.zip:desc").unwrap();
        assert_eq!(key.to_json(), serde_json::json!([["address.zip", "desc"]]));
        assert!(!parse_sort("a:asc").unwrap().descending);
        // Only a final asc/desc is a direction.
        assert_eq!(parse_sort("t:x").unwrap().path, "t:x");
        assert!(parse_sort(":desc").is_err());
        assert!(parse_sort("").is_err());
    }
}
