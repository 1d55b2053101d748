//! The OpenAPI description: a valid OpenAPI 3.1 document that lists exactly the paths and
//! methods the router serves, with every status each route answers. (scripts/api-fuzz.sh
//! goes further, with schemathesis against a real server.)

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::common::*;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// The served description of a server with (`auth`) or without a token.
async fn served(auth: bool) -> Value {
    let dir = DataDir::new();
    let server = start_in(dir.path(), |c| {
        if auth {
            c.server.auth_token = "t0ken".into();
        }
    })
    .await;
    let doc = server.get("/v1/openapi.json").await.expect(200).clone();
    server.stop().await;
    doc
}

/// (method, path template) -> operation.
fn operations(doc: &Value) -> BTreeMap<(String, String), &Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.insert((method.to_uppercase(), path.clone()), op);
            }
        }
    }
    out
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// What a JSON pointer of the document's own (`#/components/...`) points at.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// The checks an OpenAPI validator makes that serde alone does not, on the raw document:
/// unique operation ids, path templates and path parameters that match, references that
/// resolve, response keys that are statuses.
fn check_structure(doc: &Value) {
    let mut ids = BTreeSet::new();
    for ((method, path), op) in operations(doc) {
        let id = op["operationId"]
            .as_str()
            .expect("every operation has an id");
        assert!(ids.insert(id), "operationId {id:?} is used twice");

        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let mut declared = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for p in op["parameters"].as_array().into_iter().flatten() {
            let (name, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
            assert!(
                seen.insert((name, place)),
                "{method} {path}: parameter {name} twice"
            );
            if place == "path" {
                assert_eq!(p["required"], true, "{method} {path}: {name} not required");
                declared.insert(name);
            }
        }
        assert_eq!(declared, templated, "{method} {path}: path parameters");

        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path}: no responses");
        for status in responses.keys() {
            let code: u16 = status.parse().unwrap_or(0);
            assert!(
                (100..600).contains(&code),
                "{method} {path}: status {status}"
            );
        }
    }
    let mut all = Vec::new();
    refs(doc, &mut all);
    assert!(!all.is_empty());
    for reference in all {
        assert!(
            resolve(doc, reference).is_some(),
            "{reference} does not resolve"
        );
    }
}

/// Parses the document as an OpenAPI 3.1 description (typed, every reference to a
/// parameter, body or response resolved to one).
fn check_typed(text: &str) {
    let spec = oas3::from_json(text).expect("the document is an OpenAPI 3.1 description");
    spec.validate_version()
        .expect("a supported OpenAPI version");
    let mut count = 0;
    for (path, method, op) in spec.operations() {
        count += 1;
        for p in &op.parameters {
            p.resolve(&spec)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        }
        if let Some(body) = &op.request_body {
            body.resolve(&spec)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        }
        for response in op.responses.iter().flat_map(|r| r.values()) {
            response
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        }
    }
    assert_eq!(count, ROUTES.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_is_valid_openapi() {
    for auth in [false, true] {
        let doc = served(auth).await;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
        check_structure(&doc);
        check_typed(&doc.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route() {
    let doc = served(false).await;
    assert_eq!(doc["info"]["title"], "NyroDB");
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|&(method, template, ..)| (method.to_string(), template.to_string()))
        .collect();
    assert_eq!(
        documented, served,
        "the OpenAPI paths differ from the router's"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

/// Ids and sequence numbers are u64, collection names follow the contract's pattern, error
/// bodies name a contract code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_states_what_the_server_enforces() {
    let doc = served(false).await;
    let schemas = &doc["components"]["schemas"];
    let u64_schema = &schemas["U64"];
    assert_eq!(u64_schema["type"], "integer");
    assert_eq!(u64_schema["minimum"], 0);
    assert_eq!(u64_schema["maximum"].as_u64(), Some(u64::MAX));
    assert_eq!(u64_schema["format"], "uint64");
    assert_eq!(
        schemas["CollectionName"]["pattern"],
        "^[A-Za-z0-9_-]{1,64}$"
    );
    // Always sent, null at the end of the list.
    let page_required = schemas["PageAnswer"]["required"].as_array().unwrap();
    assert!(page_required.contains(&Value::from("next")));
    for ((method, path), op) in operations(&doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let expected = match p["name"].as_str().unwrap() {
                "collection" => "#/components/schemas/CollectionName",
                "id" => "#/components/schemas/U64",
                _ => continue,
            };
            assert_eq!(p["schema"]["$ref"], expected, "{method} {path}");
        }
    }
    // No integer of the document says int64 (2^63-1) where the server takes a u64.
    let text = doc.to_string();
    assert!(
        !text.contains(r#""format":"int64""#),
        "an int64 is left: {text}"
    );

    let codes: BTreeSet<&str> = schemas["ErrorDetail"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let contract = [
        "bad_request",
        "invalid_json",
        "invalid_name",
        "not_found",
        "conflict",
        "payload_too_large",
        "unauthorized",
        "overloaded",
        "unavailable",
        "not_indexed",
        "internal",
    ];
    assert_eq!(codes, contract.into_iter().collect());
}

/// With a token every route but the public ones requires it and documents 401; without,
/// none does. Every route documents 503 (the connection limit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_and_server_wide_statuses() {
    for auth in [false, true] {
        let doc = served(auth).await;
        for ((method, path), op) in operations(&doc) {
            let public = PUBLIC_TEMPLATES.contains(&path.as_str());
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("503"), "{method} {path}");
            let protected = auth && !public;
            assert_eq!(
                responses.contains_key("401"),
                protected,
                "{method} {path} (auth {auth})"
            );
            assert_eq!(
                op.get("security").is_some(),
                protected,
                "{method} {path} (auth {auth})"
            );
        }
    }
}

/// The route templates that never need the token.
const PUBLIC_TEMPLATES: [&str; 3] = ["/health", "/", "/console/{file}"];

/// Requests that make each route give its error answers: every status is in the
/// description of that route (DELETE of a record answers 400 for a bad id, for one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_status_answered_is_documented() {
    let dir = DataDir::new();
    let server = start_in(dir.path(), |c| {
        c.server.auth_token = "t0ken".into();
        c.server.max_body_bytes = 64;
    })
    .await;
    let doc = server.get("/v1/openapi.json").await.expect(200).clone();
    server.create("c", &["city"]).await;
    server.insert("c", serde_json::json!({"_id": 1})).await;

    let big = format!("{{\"a\": \"{}\"}}", "x".repeat(100));
    let cases: &[(&str, &str, &str, Option<&str>, u16)] = &[
        (
            "DELETE",
            "/v1/collections/{collection}/records/{id}",
            "/v1/collections/c/records/x",
            None,
            400,
        ),
        (
            "DELETE",
            "/v1/collections/{collection}/records/{id}",
            "/v1/collections/c/records/1?sync=maybe",
            None,
            400,
        ),
        (
            "DELETE",
            "/v1/collections/{collection}/records/{id}",
            "/v1/collections/c/records/9",
            None,
            404,
        ),
        (
            "GET",
            "/v1/collections/{collection}/records/{id}",
            "/v1/collections/c/records/18446744073709551616",
            None,
            400,
        ),
        (
            "GET",
            "/v1/collections/{collection}/records/{id}",
            "/v1/collections/n%C3%A9/records/1",
            None,
            400,
        ),
        (
            "GET",
            "/v1/collections/{collection}/records",
            "/v1/collections/c/records?limit=0",
            None,
            400,
        ),
        (
            "GET",
            "/v1/collections/{collection}/records",
            "/v1/collections/none/records",
            None,
            404,
        ),
        (
            "POST",
            "/v1/collections/{collection}/records",
            "/v1/collections/c/records",
            Some("{"),
            400,
        ),
        (
            "POST",
            "/v1/collections/{collection}/records",
            "/v1/collections/c/records",
            Some(r#"{"_id":1}"#),
            409,
        ),
        (
            "POST",
            "/v1/collections/{collection}/records",
            "/v1/collections/c/records",
            Some(&big),
            413,
        ),
        (
            "POST",
            "/v1/collections/{collection}/records/_bulk",
            "/v1/collections/c/records/_bulk",
            Some("[]"),
            400,
        ),
        (
            "PUT",
            "/v1/collections/{collection}/records/{id}",
            "/v1/collections/c/records/2",
            Some(r#"{"_id":3}"#),
            400,
        ),
        (
            "PUT",
            "/v1/collections/{collection}",
            "/v1/collections/c",
            Some(r#"{"indexes":["age"]}"#),
            409,
        ),
        (
            "PUT",
            "/v1/collections/{collection}",
            "/v1/collections/c",
            Some("null"),
            400,
        ),
        (
            "DELETE",
            "/v1/collections/{collection}",
            "/v1/collections/none",
            None,
            404,
        ),
        (
            "POST",
            "/v1/collections/{collection}/_query",
            "/v1/collections/c/_query",
            Some(r#"{"sort":[["name","asc"]]}"#),
            400,
        ),
        (
            "POST",
            "/v1/_backup",
            "/v1/_backup",
            Some(r#"{"path":"x"}"#),
            400,
        ),
        ("POST", "/v1/_compact", "/v1/_compact?x=1", None, 400),
        ("GET", "/v1/stats", "/v1/stats?x=1", None, 400),
        ("GET", "/v1/changes", "/v1/changes", None, 400),
        (
            "GET",
            "/v1/collections/{collection}/changes",
            "/v1/collections/none/changes",
            None,
            404,
        ),
        ("GET", "/console/{file}", "/console/nope.js", None, 404),
    ];
    let ops = operations(&doc);
    for &(method, template, path, body, status) in cases {
        server.raw_expecting(method, path, body, status).await;
        let op = ops[&(method.to_string(), template.to_string())];
        assert!(
            op["responses"].get(status.to_string()).is_some(),
            "{method} {template} answers {status}, undocumented"
        );
    }
    // Without the token: 401 on every protected route, documented.
    let bare = client()
        .delete(server.url("/v1/collections/c/records/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 401);
    server.stop().await;
}

/// The list the OpenAPI test compares against is the router's: each entry is served (not
/// 404 and not 405), and each path's other methods are 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_list_is_the_routers() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    crate::routes::seed(&server).await;
    let templates: BTreeSet<&str> = ROUTES.iter().map(|r| r.1).collect();
    for template in templates {
        let path = ROUTES
            .iter()
            .find(|r| r.1 == template)
            .map(|r| r.2)
            .unwrap();
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            if ROUTES.iter().any(|r| r.0 == method && r.1 == template) {
                continue; // served: checked with their bodies in routes::every_route_succeeds
            }
            let answer = server.raw(method, path, Some(b"{}".to_vec())).await;
            answer.expect_error(405, "bad_request");
        }
    }
    server.stop().await;
}
