//! `nyrodb query C FILTER | FIELD=VALUE...`: POST /v1/collections/{c}/_query (or `_explain`),
//! one page, a count, the plan, or with `--all` every page as NDJSON.

use std::io::Write;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Map, Value};

use crate::cli::{QueryArgs, parse_condition};
use crate::http::{Client, json_argument, segment};
use crate::offline::runtime;
use crate::output::{UsageError, print_json};

/// Page size of `--all` when `--limit` is not given.
const ALL_PAGE: u32 = 1_000;

/// Prints `{"records": [...], "next": ...}`, `{"count": n}`, the plan, or every document.
pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let filter = filter(&args.filter)?;
    let mut body = body(&args, filter)?;
    let route = if args.explain { "_explain" } else { "_query" };
    let path = format!("/v1/collections/{}/{route}", segment(&args.collection));
    let client = Client::from_args(&args.client)?;
    let runtime = runtime()?;
    if args.all {
        body.entry("limit").or_insert(ALL_PAGE.into());
        return runtime.block_on(all_pages(&client, &path, body));
    }
    let body = serde_json::to_vec(&body)?;
    let answer = runtime.block_on(client.send(Method::POST, &path, Some(body)))?;
    print_json(&answer)?;
    Ok(())
}

/// The filter of the arguments: one JSON object (`-`: read from standard input), or
/// `FIELD=VALUE` equalities, each field at most once.
fn filter(args: &[String]) -> anyhow::Result<Value> {
    if let [one] = args
        && (one == "-" || one.trim_start().starts_with('{'))
    {
        let text = json_argument(one)?;
        return Ok(Value::Object(filter_object(&text)?));
    }
    let mut conditions = Map::new();
    for raw in args {
        if raw.trim_start().starts_with('{') || raw == "-" {
            return Err(UsageError(
                "give the filter either as one JSON object or as FIELD=VALUE conditions, \
                 not both"
                    .into(),
            )
            .into());
        }
        let condition = parse_condition(raw).map_err(UsageError)?;
        if conditions.contains_key(&condition.field) {
            return Err(UsageError(format!(
                "field {:?} is given twice; each field may have one value (for more, write \
                 a JSON filter such as '{{\"$or\": [...]}}')",
                condition.field
            ))
            .into());
        }
        conditions.insert(condition.field, condition.value);
    }
    Ok(Value::Object(conditions))
}

/// A JSON filter text read as an object, or a usage error saying what is wrong.
fn filter_object(text: &[u8]) -> Result<Map<String, Value>, UsageError> {
    match serde_json::from_slice(text) {
        Ok(Value::Object(filter)) => Ok(filter),
        Ok(other) => Err(UsageError(format!(
            "the filter must be a JSON object such as '{{\"age\": {{\"$gt\": 30}}}}', not {other}"
        ))),
        Err(e) => Err(UsageError(format!("the filter is not valid JSON: {e}"))),
    }
}

/// The request body: `where`, and `sort`, `fields`, `limit`, `after`, `count` when given.
fn body(args: &QueryArgs, filter: Value) -> Result<Map<String, Value>, UsageError> {
    let mut body = Map::new();
    body.insert("where".into(), filter);
    if let Some(sort) = &args.sort {
        body.insert("sort".into(), sort.to_json());
    }
    if !args.fields.is_empty() {
        body.insert("fields".into(), args.fields.clone().into());
    }
    if let Some(limit) = args.limit {
        body.insert("limit".into(), limit.into());
    }
    if let Some(after) = &args.after {
        body.insert("after".into(), after_value(after, args.sort.is_some())?);
    }
    if args.count {
        body.insert("count".into(), true.into());
    }
    Ok(body)
}

/// `--after` as the body takes it: without a sort the previous page's `next` id (a number),
/// with one its cursor string (as printed, or with the quotes of its JSON kept).
fn after_value(raw: &str, sorted: bool) -> Result<Value, UsageError> {
    if sorted {
        return Ok(match serde_json::from_str::<Value>(raw) {
            Ok(Value::String(cursor)) => Value::String(cursor),
            _ => Value::String(raw.to_string()),
        });
    }
    raw.trim().parse::<u64>().map(Value::from).map_err(|_| {
        UsageError(format!(
            "--after {raw:?}: without --sort, --after takes the `next` id of the previous page \
             (a whole number); a cursor string comes from a page with --sort and goes with \
             that same --sort"
        ))
    })
}

/// One page of an answer, as `--all` reads it.
#[derive(serde::Deserialize)]
struct Page {
    records: Vec<Value>,
    next: Value,
}

/// Asks for page after page, printing each document on its own line as it arrives, until a
/// page whose `next` is null. Only one page is held at a time. A `next` that does not move
/// on (the same as the `after` it answers) stops with an error instead of looping.
async fn all_pages(
    client: &Client,
    path: &str,
    mut body: Map<String, Value>,
) -> anyhow::Result<()> {
    let mut pages = 0u64;
    loop {
        let sent = body.get("after").cloned().unwrap_or(Value::Null);
        let answer = client
            .send(Method::POST, path, Some(serde_json::to_vec(&body)?))
            .await?;
        pages += 1;
        let page: Page = serde_json::from_str(&answer).with_context(|| {
            format!(
                "the answer to page {pages} of POST {path} is not {{\"records\": [...], \
                 \"next\": ...}}; is --url a NyroDB server?"
            )
        })?;
        let mut stdout = std::io::stdout().lock();
        for record in &page.records {
            serde_json::to_writer(&mut stdout, record)?;
            stdout.write_all(b"\n")?;
        }
        stdout.flush()?;
        drop(stdout);
        match page.next {
            Value::Null => return Ok(()),
            next if next == sent => bail!(
                "the server answered page {pages} with the `next` it was given ({next}); \
                 stopping instead of asking for the same page again"
            ),
            next => {
                body.insert("after".into(), next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser;
    use serde_json::json;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(line: &[&str]) -> QueryArgs {
        let mut full = vec!["nyrodb", "query"];
        full.extend_from_slice(line);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Query(args) => args,
            other => panic!("not a query: {other:?}"),
        }
    }

    fn request(line: &[&str]) -> Result<Value, String> {
        let args = args(line);
        let filter = filter(&args.filter).map_err(|e| e.to_string())?;
        body(&args, filter)
            .map(Value::Object)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_short_form_is_equalities() {
        assert_eq!(
            request(&["c", "city=London", "age=42", "address.zip=\"0150\""]).unwrap(),
            json!({"where": {"city": "London", "age": 42, "address.zip": "0150"}})
        );
        let twice = request(&["c", "a=1", "a=2"]).unwrap_err();
        assert!(twice.contains("\"a\" is given twice"), "{twice}");
        let plain = request(&["c", "nonsense"]).unwrap_err();
        assert!(
            plain.contains("neither FIELD=VALUE nor a JSON filter"),
            "{plain}"
        );
    }

    #[test]
    fn a_json_filter_goes_as_it_is_with_every_option() {
        let body = request(&[
            "c",
            r#"{"age": {"$gt": 30}, "$or": [{"t": "x"}, {"u.v": null}]}"#,
            "--sort",
            "age:desc",
            "--fields",
            "name,address.city",
            "--fields",
            "age",
            "--limit",
            "5",
            "--after",
            "b64cursor",
            "--count",
        ])
        .unwrap();
        assert_eq!(
            body,
            json!({
                "where": {"age": {"$gt": 30}, "$or": [{"t": "x"}, {"u.v": null}]},
                "sort": [["age", "desc"]],
                "fields": ["name", "address.city", "age"],
                "limit": 5,
                "after": "b64cursor",
                "count": true,
            })
        );
        // Key order is kept as typed (serde_json's preserve_order).
        let text = serde_json::to_string(&body["where"]).unwrap();
        assert!(text.starts_with(r#"{"age":"#), "{text}");
        assert_eq!(request(&["c", " {}"]).unwrap(), json!({"where": {}}));
    }

    #[test]
    fn bad_filters_are_usage_errors() {
        for (line, says) in [
            (&["c", "{not json"][..], "not valid JSON"),
            (&["c", "{\"a\": 1} "][..], ""),
            (&["c", "{\"a\": 1}", "b=2"][..], "not both"),
            (&["c", "b=2", "{\"a\": 1}"][..], "not both"),
        ] {
            match request(line) {
                Ok(body) if says.is_empty() => assert_eq!(body["where"], json!({"a": 1})),
                Ok(body) => panic!("{line:?} gave {body}"),
                Err(message) => assert!(message.contains(says), "{line:?}: {message}"),
            }
        }
        let array = filter_object(b"[1]").unwrap_err().to_string();
        assert!(array.contains("must be a JSON object"), "{array}");
    }

    #[test]
    fn after_is_an_id_without_sort_and_a_cursor_with_one() {
        assert_eq!(
            request(&["c", "{}", "--after", "250"]).unwrap()["after"],
            json!(250)
        );
        assert_eq!(
            request(&["c", "{}", "--after", "18446744073709551615"]).unwrap()["after"],
            json!(u64::MAX)
        );
        let cursor = request(&["c", "{}", "--after", "abc"]).unwrap_err();
        assert!(cursor.contains("without --sort"), "{cursor}");
        let sorted =
            |after: &str| request(&["c", "{}", "--sort", "_id", "--after", after]).unwrap();
        assert_eq!(sorted("250")["after"], json!("250"));
        assert_eq!(sorted("\"q1w2\"")["after"], json!("q1w2"));
        assert_eq!(sorted("q1w2")["after"], json!("q1w2"));
    }

    #[test]
    fn count_explain_and_all_combine_as_they_can() {
        assert!(Cli::try_parse_from(["nyrodb", "query", "c", "{}", "--all", "--count"]).is_err());
        assert!(Cli::try_parse_from(["nyrodb", "query", "c", "{}", "--all", "--explain"]).is_err());
        let explain = args(&["c", "{}", "--explain", "--count"]);
        assert!(explain.explain && explain.count);
        assert!(Cli::try_parse_from(["nyrodb", "query", "c", "{}", "--limit", "0"]).is_err());
        assert!(Cli::try_parse_from(["nyrodb", "query", "c", "--sort", "a"]).is_err());
    }
}
