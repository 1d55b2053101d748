//! `nyrodb query` (CONTRACT sections 5 and 6): against a real server (filters, sort and
//! cursors, fields, count, explain, `--all`, the server's 400s), and against a stub that
//! records the bodies it gets and answers pages as told, for what a real server cannot be
//! made to do (a `next` that does not move on).

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::common::{Server, StubServer, fails, nyrodb, succeeds};

const CONFIG: &str = "[[collections]]\nname = \"people\"\nindexes = [\"age\", \"tags\"]\n";
const TOKEN: &str = "query-t0ken";

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines().map(json_of).collect()
}

fn ids(records: &[Value]) -> Vec<u64> {
    records.iter().map(|d| d["_id"].as_u64().unwrap()).collect()
}

/// A server holding 30 people: `_id` i in 1..=30, `age` 21 + i % 10 (three of each age from
/// 21 to 30), tags `["even", "db"]` or `["odd"]`, and an address for every third.
fn people() -> Server {
    let server = Server::start(CONFIG, TOKEN);
    let docs: Vec<Value> = (1..=30u64)
        .map(|i| {
            let mut doc = json!({"_id": i, "name": format!("p{i}"), "age": 21 + i % 10,
                                 "tags": if i % 2 == 0 { json!(["even", "db"]) } else { json!(["odd"]) }});
            if i % 3 == 0 {
                doc["address"] = json!({"city": "Oslo", "zip": format!("{:04}", i)});
            }
            doc
        })
        .collect();
    for doc in docs {
        succeeds(
            server
                .command(TOKEN)
                .args(["insert", "people", &doc.to_string()]),
        );
    }
    server
}

#[test]
fn filters_sort_pages_fields_count_and_explain_against_a_server() {
    let server = people();
    let query = |args: &[&str]| {
        let (out, _) = succeeds(server.command(TOKEN).arg("query").arg("people").args(args));
        json_of(&out)
    };

    // A JSON filter on an indexed path, a dotted path nobody indexed, and array elements.
    let adults = query(&[r#"{"age": {"$gte": 29}}"#, "--limit", "100"]);
    let expected: Vec<u64> = (1..=30).filter(|i| 21 + i % 10 >= 29).collect();
    assert_eq!(ids(adults["records"].as_array().unwrap()), expected);
    assert_eq!(adults["next"], Value::Null);
    let oslo = query(&[r#"{"address.city": "Oslo", "tags": "odd"}"#]);
    assert_eq!(ids(oslo["records"].as_array().unwrap()), [3, 9, 15, 21, 27]);
    // The short form is equality, on any path; values are JSON when they parse.
    let short = query(&["tags=odd", "age=22"]);
    assert_eq!(ids(short["records"].as_array().unwrap()), [1, 11, 21]);
    let zip = query(&["address.zip=0006"]);
    assert_eq!(ids(zip["records"].as_array().unwrap()), [6]);

    // Sorted pages: `next` is a cursor string that --after takes back with the same sort.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _page in 0..10 {
        let mut args = vec![
            "{}", "--sort", "age:desc", "--limit", "7", "--fields", "age",
        ];
        if let Some(after) = &after {
            args.extend(["--after", after.as_str()]);
        }
        let page = query(&args);
        for doc in page["records"].as_array().unwrap() {
            let keys: Vec<&str> = doc
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, ["_id", "age"], "only the fields asked for, and _id");
            seen.push((doc["age"].as_u64().unwrap(), doc["_id"].as_u64().unwrap()));
        }
        match &page["next"] {
            Value::Null => break,
            Value::String(cursor) => after = Some(cursor.clone()),
            other => panic!("a sorted page's next is a cursor string, not {other}"),
        }
    }
    assert_eq!(seen.len(), 30, "every document once: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0].0 >= w[1].0),
        "descending ages: {seen:?}"
    );

    // Without a sort, pages go by _id and `next` is the last id.
    let first = query(&["{}", "--limit", "10"]);
    assert_eq!(first["next"], 10);
    let second = query(&["{}", "--limit", "10", "--after", "10"]);
    assert_eq!(
        ids(second["records"].as_array().unwrap()),
        (11..=20).collect::<Vec<_>>()
    );

    // Count, and the plan.
    assert_eq!(
        query(&[r#"{"tags": "even"}"#, "--count"]),
        json!({"count": 15})
    );
    let plan = query(&[r#"{"age": {"$gt": 28}}"#, "--explain"]);
    assert_eq!(plan["access"], "index", "{plan}");
    assert_eq!(plan["indexes"][0]["path"], "age", "{plan}");
    assert_eq!(plan["scan"], false);
    let scan = query(&[r#"{"name": "p4"}"#, "--explain"]);
    assert_eq!(
        (scan["access"].clone(), scan["scan"].clone()),
        (json!("scan"), json!(true))
    );

    // --all: every page followed, one document per line, in the sort's order.
    let (out, _) = succeeds(server.command(TOKEN).args([
        "query",
        "people",
        r#"{"tags": "even"}"#,
        "--all",
        "--limit",
        "4",
        "--sort",
        "age",
    ]));
    let docs = ndjson(&out);
    assert_eq!(docs.len(), 15);
    let ages: Vec<u64> = docs.iter().map(|d| d["age"].as_u64().unwrap()).collect();
    assert!(ages.windows(2).all(|w| w[0] <= w[1]), "{ages:?}");
    let (out, _) = succeeds(
        server
            .command(TOKEN)
            .args(["query", "people", "-", "--all"])
            .write_stdin("{}"),
    );
    assert_eq!(ids(&ndjson(&out)), (1..=30).collect::<Vec<_>>());
}

#[test]
fn the_servers_400s_are_printed_with_exit_1() {
    let server = Server::start(CONFIG, TOKEN);
    succeeds(
        server
            .command(TOKEN)
            .args(["insert", "people", r#"{"age": 1}"#]),
    );
    for (args, says) in [
        (&[r#"{"age": {"$near": 3}}"#][..], "$near"),
        (&[r#"{"age": {"$in": 3}}"#][..], "$in"),
        (&[r#"{"$or": []}"#][..], "$or"),
        (&["{}", "--sort", "name"][..], "not_indexed"),
        (&["{}", "--sort", "a..b"][..], "a..b"),
        (&["{}", "--sort", "age", "--after", "garbage!"][..], "after"),
    ] {
        let (out, err) = fails(server.command(TOKEN).arg("query").arg("people").args(args));
        assert_eq!(out, "", "{args:?}");
        assert!(
            err.contains(says) && err.contains("HTTP 400"),
            "{args:?}: {err}"
        );
    }
    let (_, err) = fails(
        server
            .command(TOKEN)
            .args(["query", "people", "{}", "--all", "--sort", "name"]),
    );
    assert!(err.contains("not_indexed"), "{err}");
}

#[test]
fn bad_arguments_are_usage_errors() {
    for args in [
        &["query", "people", "{not json"][..],
        &["query", "people", "[1]"],
        &["query", "people", "{\"a\": 1}", "b=2"],
        &["query", "people", "{}", "--after", "cursor-without-sort"],
        &["query", "people", "{}", "--sort", ":desc"],
        &["query", "people", "{}", "--all", "--count"],
        &["query", "people", "{}", "--all", "--explain"],
        &["query", "people", "{}", "--limit", "10001"],
    ] {
        nyrodb()
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicates::str::contains("error:"));
    }
}

/// A stub of `_query` that records each body and answers from `pages`, keyed by the body's
/// `after` (JSON text; "null" for none).
struct Stub {
    server: StubServer,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Stub {
    fn start(pages: Vec<(&'static str, Value)>) -> Stub {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&bodies);
        let handler = move |uri: Uri, body: Bytes| {
            let recorded = Arc::clone(&recorded);
            let pages = pages.clone();
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                recorded.lock().unwrap().push(body.clone());
                let after = body
                    .get("after")
                    .cloned()
                    .unwrap_or(Value::Null)
                    .to_string();
                match pages.iter().find(|(key, _)| *key == after) {
                    Some((_, page)) if uri.path() == "/v1/collections/c/_query" => {
                        axum::Json(page.clone()).into_response()
                    }
                    _ => {
                        let error = json!({"error": {"code": "bad_request", "message": format!("no page after {after}")}});
                        (StatusCode::BAD_REQUEST, axum::Json(error)).into_response()
                    }
                }
            }
        };
        Stub {
            server: StubServer::serve(axum::Router::new().fallback(handler)),
            bodies,
        }
    }

    fn query(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = nyrodb();
        cmd.args(["query", "c"])
            .args(args)
            .args(["--url", &self.server.url]);
        cmd
    }

    fn bodies(&self) -> Vec<Value> {
        std::mem::take(&mut self.bodies.lock().unwrap())
    }
}

fn response(ids: &[u64], next: Value) -> Value {
    let records: Vec<Value> = ids
        .iter()
        .map(|id| json!({"_id": id, "big": u64::MAX, "f": 0.1}))
        .collect();
    json!({"records": records, "next": next})
}

#[test]
fn all_sends_each_next_back_and_stops_at_the_last_page() {
    // A page cut short by max_scan (empty, with a next) is followed too.
    let stub = Stub::start(vec![
        ("null", response(&[1, 2], json!("c1"))),
        ("\"c1\"", response(&[], json!("c2"))),
        ("\"c2\"", response(&[7], Value::Null)),
    ]);
    let (out, _) = succeeds(&mut stub.query(&[
        "{\"x\": {\"$gt\": 1}}",
        "--all",
        "--sort",
        "x:desc",
        "--fields",
        "x,y.z",
    ]));
    assert_eq!(
        out,
        "{\"_id\":1,\"big\":18446744073709551615,\"f\":0.1}\n{\"_id\":2,\"big\":18446744073709551615,\"f\":0.1}\n{\"_id\":7,\"big\":18446744073709551615,\"f\":0.1}\n"
    );
    let bodies = stub.bodies();
    let base = json!({"where": {"x": {"$gt": 1}}, "sort": [["x", "desc"]], "fields": ["x", "y.z"], "limit": 1000});
    let mut expected = Vec::new();
    for after in [None, Some("c1"), Some("c2")] {
        let mut body = base.clone();
        if let Some(after) = after {
            body["after"] = json!(after);
        }
        expected.push(body);
    }
    assert_eq!(bodies, expected);

    // Without --all, one page as the server sent it; --after a cursor with the sort.
    let (out, _) =
        succeeds(&mut stub.query(&["{}", "--sort", "_id", "--after", "c2", "--limit", "3"]));
    assert_eq!(json_of(&out), response(&[7], Value::Null));
    assert_eq!(
        stub.bodies(),
        [json!({"where": {}, "sort": [["_id", "asc"]], "limit": 3, "after": "c2"})]
    );
}

#[test]
fn all_stops_on_a_next_that_does_not_move_and_on_an_error() {
    let stub = Stub::start(vec![
        ("null", response(&[1], json!(1))),
        ("1", response(&[1], json!(1))),
    ]);
    let (out, err) = fails(&mut stub.query(&["a=1", "--all", "--limit", "1"]));
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(err.contains("the `next` it was given (1)"), "{err}");
    assert_eq!(stub.bodies().len(), 2);

    // A page the server refuses ends the command with its message, after what came before.
    let stub = Stub::start(vec![("null", response(&[1, 2], json!(2)))]);
    let (out, err) = fails(&mut stub.query(&["a=1", "--all"]));
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        err.contains("no page after 2 (HTTP 400, bad_request)"),
        "{err}"
    );
}
