//! Bad input of every kind gets a 4xx with the error body, never a 5xx, and changes nothing
//! stored; unusual but valid input (unicode, emoji, deep but allowed nesting, extreme
//! numbers) round-trips exactly.

use serde_json::{Value, json};

use crate::common::*;

const LIMIT: usize = 64 * 1024;

/// `{"a":{"a":...{}}}` with `depth` objects in all (the document itself is level 1).
fn nested_objects(depth: usize) -> String {
    let mut s = String::new();
    for _ in 1..depth {
        s.push_str("{\"a\":");
    }
    s.push_str("{}");
    for _ in 1..depth {
        s.push('}');
    }
    s
}

/// `{"a":[[...[]]]}`: a document whose nesting is `depth` levels, through arrays.
fn nested_arrays(depth: usize) -> String {
    format!(
        "{{\"a\":{}{}}}",
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    )
}

/// One request of the battery: what to send, and the status and code it must get.
struct Case {
    method: &'static str,
    path: String,
    body: Option<Vec<u8>>,
    status: u16,
    code: Option<&'static str>,
}

fn case(
    method: &'static str,
    path: &str,
    body: Option<&[u8]>,
    status: u16,
    code: Option<&'static str>,
) -> Case {
    Case {
        method,
        path: path.to_string(),
        body: body.map(<[u8]>::to_vec),
        status,
        code,
    }
}

fn battery() -> Vec<Case> {
    let mut cases = Vec::new();
    let insert = "/v1/collections/c/records";
    let bulk = "/v1/collections/c/records/_bulk";
    let put = "/v1/collections/c/records/10";
    let query = "/v1/collections/c/_query";
    let invalid_json = Some("invalid_json");
    let bad_request = Some("bad_request");

    // Malformed JSON, on every route that takes a body.
    for body in [
        &b"{"[..],
        b"}",
        b"{\"a\":}",
        b"{\"a\":1,}",
        b"{'a':1}",
        b"{a:1}",
        b"NaN",
        b"{\"a\":NaN}",
        b"{\"a\":Infinity}",
        b"{\"a\":1} trailing",
        b"{}{}",
        b"{\"a\":\"\x01\"}",
        b"{\"a\":\"\\x\"}",
        b"{\"a\":\"\\ud800\"}",
        b"\xEF\xBB\xBF{}",
        b"\x00",
        b"\xff\xfe{\"a\":1}",
        b"{\"a\":\"\xc3\x28\"}",
        b"{\"\xff\":1}",
        b"{\"a\":\"\xed\xa0\x80\"}",
        b"",
        b"   ",
    ] {
        for path in [insert, bulk, query] {
            cases.push(case("POST", path, Some(body), 400, invalid_json));
        }
        cases.push(case("PUT", put, Some(body), 400, invalid_json));
    }

    // Valid JSON of the wrong shape.
    for body in [
        &b"\"string\""[..],
        b"[{\"a\":1}]",
        b"42",
        b"null",
        b"true",
        b"[]",
        b"-0.5",
    ] {
        cases.push(case("POST", insert, Some(body), 400, bad_request));
        cases.push(case("PUT", put, Some(body), 400, bad_request));
    }
    for body in [
        &b"\"string\""[..],
        b"{\"a\":1}",
        b"42",
        b"null",
        b"[]",
        b"[[]]",
        b"[{}, 1]",
        b"[{}, null]",
    ] {
        cases.push(case("POST", bulk, Some(body), 400, bad_request));
    }
    for body in [
        &b"[]"[..],
        b"\"where\"",
        b"{\"where\":[]}",
        b"{\"where\":\"k\"}",
        b"{\"where\":{\"k\":[1]}}",
        b"{\"where\":{\"k\":{\"a\":1}}}",
        b"{\"where\":{},\"limit\":\"5\"}",
        b"{\"where\":{},\"limit\":1.5}",
        b"{\"where\":{},\"after\":-1}",
        b"{\"where\":{},\"extra\":1}",
        b"{\"WHERE\":{}}",
    ] {
        cases.push(case("POST", query, Some(body), 400, bad_request));
    }
    for body in [
        &b"[]"[..],
        b"\"x\"",
        b"{\"indexes\":\"k\"}",
        b"{\"indexes\":[1]}",
        b"{\"indexes\":[\"_id\"]}",
        b"{\"indexes\":[\"\"]}",
        b"{\"index\":[\"k\"]}",
    ] {
        cases.push(case(
            "PUT",
            "/v1/collections/newc",
            Some(body),
            400,
            bad_request,
        ));
    }
    cases.push(case(
        "PUT",
        "/v1/collections/newc",
        Some(b"{"),
        400,
        invalid_json,
    ));

    // `_id` of the wrong kind, in a document and in a bulk element.
    for id in [
        "-1",
        "1.5",
        "\"7\"",
        "18446744073709551616",
        "99999999999999999999999",
        "null",
        "true",
        "1e3",
        "{}",
        "[]",
    ] {
        let doc = format!("{{\"_id\":{id},\"a\":1}}");
        cases.push(case("POST", insert, Some(doc.as_bytes()), 400, bad_request));
        cases.push(case("PUT", put, Some(doc.as_bytes()), 400, bad_request));
        let many = format!("[{{\"a\":1}},{doc}]");
        cases.push(case("POST", bulk, Some(many.as_bytes()), 400, bad_request));
    }
    // An `_id` in the body that is not the one in the path.
    cases.push(case("PUT", put, Some(b"{\"_id\":11}"), 400, bad_request));

    // Too deep: 65 levels (through objects or arrays), 200, and far more.
    for body in [
        nested_objects(65),
        nested_arrays(65),
        nested_objects(200),
        nested_arrays(200),
        "[".repeat(60_000),
        "{\"a\":".repeat(10_000),
    ] {
        cases.push(case(
            "POST",
            insert,
            Some(body.as_bytes()),
            400,
            bad_request,
        ));
        cases.push(case("PUT", put, Some(body.as_bytes()), 400, bad_request));
        let many = format!("[{{}},{body}]");
        cases.push(case("POST", bulk, Some(many.as_bytes()), 400, bad_request));
        let q = format!("{{\"where\":{{\"k\":{body}}}}}");
        cases.push(case("POST", query, Some(q.as_bytes()), 400, bad_request));
    }

    // Huge bodies.
    let huge = format!("{{\"a\":\"{}\"}}", "x".repeat(LIMIT));
    for path in [insert, bulk, query] {
        cases.push(case(
            "POST",
            path,
            Some(huge.as_bytes()),
            413,
            Some("payload_too_large"),
        ));
    }
    cases.push(case(
        "PUT",
        put,
        Some(huge.as_bytes()),
        413,
        Some("payload_too_large"),
    ));
    let giant = vec![b'['; 4 * 1024 * 1024];
    cases.push(Case {
        method: "POST",
        path: bulk.to_string(),
        body: Some(giant),
        status: 413,
        code: Some("payload_too_large"),
    });

    // Odd ids in the path.
    for id in [
        "-1",
        "1.5",
        "99999999999999999999",
        "18446744073709551616",
        "%00",
        "%FF",
        "abc",
        "%F0%9F%98%80",
        "1%20",
        "%201",
        "0x1",
        "1e3",
        "NaN",
        "+1",
        "%2B1",
        &"9".repeat(5000),
    ] {
        let path = format!("/v1/collections/c/records/{id}");
        cases.push(case("GET", &path, None, 400, None));
        cases.push(case("DELETE", &path, None, 400, None));
        cases.push(case("PUT", &path, Some(b"{\"a\":1}"), 400, None));
        let missing = format!("/v1/collections/nothere/records/{id}");
        cases.push(case("PUT", &missing, Some(b"{\"a\":1}"), 400, None));
    }

    // Bad collection names, on every route that takes one.
    for name in [
        "a.b",
        "%00",
        "%FF",
        "%F0%9F%98%80",
        "caf%C3%A9",
        "a%2Fb",
        &"n".repeat(65),
        "%20",
    ] {
        for (method, path, body) in [
            ("PUT", format!("/v1/collections/{name}"), None),
            ("DELETE", format!("/v1/collections/{name}"), None),
            (
                "POST",
                format!("/v1/collections/{name}/records"),
                Some(&b"{}"[..]),
            ),
            (
                "POST",
                format!("/v1/collections/{name}/records/_bulk"),
                Some(&b"[{}]"[..]),
            ),
            ("GET", format!("/v1/collections/{name}/records"), None),
            ("GET", format!("/v1/collections/{name}/records/1"), None),
            (
                "PUT",
                format!("/v1/collections/{name}/records/1"),
                Some(&b"{}"[..]),
            ),
            ("DELETE", format!("/v1/collections/{name}/records/1"), None),
            (
                "POST",
                format!("/v1/collections/{name}/_query"),
                Some(&b"{}"[..]),
            ),
        ] {
            cases.push(case(method, &path, body, 400, None));
        }
    }

    // Query parameters: duplicated, unknown, malformed.
    for q in [
        "sync=true&sync=true",
        "sync=TRUE",
        "sync=",
        "sync",
        "foo=bar",
        "SYNC=true",
        "=1",
        "sync=%FF",
    ] {
        cases.push(case(
            "POST",
            &format!("{insert}?{q}"),
            Some(b"{}"),
            400,
            bad_request,
        ));
        cases.push(case(
            "POST",
            &format!("{bulk}?{q}"),
            Some(b"[{}]"),
            400,
            bad_request,
        ));
        cases.push(case(
            "PUT",
            &format!("{put}?{q}"),
            Some(b"{}"),
            400,
            bad_request,
        ));
        cases.push(case(
            "DELETE",
            &format!("/v1/collections/c/records/1?{q}"),
            None,
            400,
            bad_request,
        ));
        cases.push(case(
            "PUT",
            &format!("/v1/collections/newc?{q}"),
            None,
            400,
            bad_request,
        ));
        cases.push(case(
            "DELETE",
            &format!("/v1/collections/c?{q}"),
            None,
            400,
            bad_request,
        ));
    }
    for q in [
        "limit=1&limit=1",
        "after=1&after=2",
        "limit=5&foo=1",
        "Limit=5",
        "limit=%FF",
        "limit=1;after=2",
        "limit=+5",
        "after=+1",
        "after=%2B1",
    ] {
        cases.push(case(
            "GET",
            &format!("{insert}?{q}"),
            None,
            400,
            bad_request,
        ));
    }
    for q in ["limit=5", "foo=1", "sync=true"] {
        cases.push(case(
            "POST",
            &format!("{query}?{q}"),
            Some(b"{}"),
            400,
            bad_request,
        ));
        cases.push(case(
            "GET",
            &format!("/v1/collections/c/records/1?{q}"),
            None,
            400,
            bad_request,
        ));
        cases.push(case(
            "GET",
            &format!("/v1/collections?{q}"),
            None,
            400,
            bad_request,
        ));
    }

    // Conflicts.
    cases.push(case(
        "POST",
        insert,
        Some(b"{\"_id\":1}"),
        409,
        Some("conflict"),
    ));
    cases.push(case(
        "POST",
        bulk,
        Some(b"[{\"_id\":500},{\"_id\":1}]"),
        409,
        Some("conflict"),
    ));
    cases.push(case(
        "POST",
        bulk,
        Some(b"[{\"_id\":500},{\"_id\":500}]"),
        409,
        Some("conflict"),
    ));
    cases.push(case(
        "PUT",
        "/v1/collections/c",
        Some(b"{\"indexes\":[\"other\"]}"),
        409,
        Some("conflict"),
    ));
    cases.push(case(
        "PUT",
        "/v1/collections/c",
        None,
        409,
        Some("conflict"),
    ));

    // Not found, not indexed.
    cases.push(case(
        "DELETE",
        "/v1/collections/c/records/12345",
        None,
        404,
        Some("not_found"),
    ));
    cases.push(case(
        "DELETE",
        "/v1/collections/nothere/records/1",
        None,
        404,
        Some("not_found"),
    ));
    cases.push(case(
        "DELETE",
        "/v1/collections/nothere",
        None,
        404,
        Some("not_found"),
    ));
    cases.push(case(
        "POST",
        query,
        Some(b"{\"where\":{\"name\":\"x\"}}"),
        400,
        Some("not_indexed"),
    ));

    // Wrong methods and unknown paths.
    for (method, path) in [
        ("PATCH", "/v1/collections/c/records/1"),
        ("POST", "/v1/collections/c"),
        ("PUT", "/v1/collections/c/records"),
        ("PUT", "/v1/collections/c/records/_bulk"),
        ("DELETE", "/v1/collections/c/_query"),
        ("POST", "/v1/collections/c/changes"),
    ] {
        cases.push(case(method, path, Some(b"{}"), 405, bad_request));
    }
    for path in [
        "/v1/collections/c/records/1/x",
        "/v1/collection/c/records",
        "/v1/collections/c/records//1",
    ] {
        cases.push(case("POST", path, Some(b"{}"), 404, Some("not_found")));
    }
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_4xx_and_changes_nothing() {
    let dir = DataDir::new();
    let server = start_in(dir.path(), |c| c.server.max_body_bytes = LIMIT).await;
    server.create("c", &["k"]).await;
    server
        .insert("c", json!({"_id": 1, "k": 1, "name": "one"}))
        .await;
    server
        .insert("c", json!({"_id": 2, "k": "1", "ключ": "значение 😀"}))
        .await;
    server.insert("c", json!({"_id": 10, "k": null})).await;
    server.create("empty", &[]).await;
    let before = server.snapshot().await;
    let seq = server.last_seq().await;

    let cases = battery();
    let mut failures = Vec::new();
    for c in &cases {
        let answer = server.raw(c.method, &c.path, c.body.clone()).await;
        let shown = format!(
            "{} {} {:?} -> {} {}",
            c.method,
            if c.path.len() > 120 {
                &c.path[..120]
            } else {
                &c.path
            },
            c.body
                .as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned()),
            answer.status,
            answer.text.chars().take(200).collect::<String>()
        );
        let shape_ok = answer
            .json
            .as_object()
            .is_some_and(|o| o.len() == 1 && o.contains_key("error"))
            && answer.json["error"]
                .as_object()
                .is_some_and(|e| e.len() == 2)
            && answer.json["error"]["code"].is_string()
            && answer.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty());
        let code_ok = c
            .code
            .is_none_or(|code| answer.json["error"]["code"] == code);
        if answer.status.as_u16() != c.status || !shape_ok || !code_ok {
            failures.push(shown);
        }
        assert!(!answer.status.is_server_error(), "5xx: {}", answer.text);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases answered wrongly:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(
        server.snapshot().await,
        before,
        "the battery changed stored data"
    );
    assert_eq!(server.last_seq().await, seq, "the battery wrote something");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusual_valid_input_round_trips() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("u", &["tag", "名前"]).await;

    let docs = [
        json!({"名前": "José", "emoji 😀": "🦀🎉", "ключ": ["✓", "\u{0}", "\u{1F600}"], "": "empty key"}),
        json!({"tag": "😀", "nested": {"_id": "not the id", "ü": {"ß": [null, true, false]}}}),
        json!({"tag": "a\"b\\c\n\t\u{7f}", "rtl": "مرحبا", "zwj": "👩‍👩‍👧", "bom": "\u{feff}"}),
        json!({"big": u64::MAX, "small": i64::MIN, "float": 1.5e300, "tiny": 5e-324, "one": 1.0, "neg": -7}),
        serde_json::from_str::<Value>(&nested_objects(64)).unwrap(),
        serde_json::from_str::<Value>(&nested_arrays(64)).unwrap(),
        json!({"long": "x".repeat(100_000)}),
    ];
    let mut ids = Vec::new();
    for doc in &docs {
        let (id, _) = server.insert("u", doc.clone()).await;
        ids.push(id);
        let got = server.get(&format!("/v1/collections/u/records/{id}")).await;
        let mut expected = doc.clone();
        expected["_id"] = json!(id);
        assert_eq!(got.expect(200), &expected);
    }
    // Escaped surrogate pairs arrive as the character they spell.
    let answer = server
        .raw(
            "POST",
            "/v1/collections/u/records",
            Some(br#"{"tag":"\ud83d\ude00 esc"}"#.to_vec()),
        )
        .await;
    let id = answer.expect(201)["_id"].as_u64().unwrap();
    assert_eq!(
        server
            .get(&format!("/v1/collections/u/records/{id}"))
            .await
            .expect(200)["tag"],
        "😀 esc"
    );
    // Replace with unicode; list and query by unicode values.
    server
        .put(
            &format!("/v1/collections/u/records/{}", ids[0]),
            &json!({"名前": "Zoë", "tag": "😀"}),
        )
        .await
        .expect(200);
    let found = server
        .post("/v1/collections/u/_query", &json!({"where": {"tag": "😀"}}))
        .await;
    let found: Vec<u64> = found.expect(200)["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["_id"].as_u64().unwrap())
        .collect();
    assert_eq!(found, [ids[0], ids[1]]);
    let by_name = server
        .post(
            "/v1/collections/u/_query",
            &json!({"where": {"名前": "Zoë"}}),
        )
        .await;
    assert_eq!(by_name.expect(200)["records"][0]["_id"], ids[0]);
    let all = server.all_docs("u").await;
    assert_eq!(all.len(), docs.len() + 1);
    assert_eq!(all[1]["nested"]["ü"]["ß"], json!([null, true, false]));

    // The feed carries them unchanged too.
    let mut ws = server
        .ws(&format!(
            "/v1/collections/u/changes?since={}",
            server.last_seq().await - 1
        ))
        .await
        .unwrap();
    let change = next_change(&mut ws).await;
    assert_eq!(
        change["doc"],
        json!({"_id": ids[0], "名前": "Zoë", "tag": "😀"})
    );
    ws_close(ws).await;

    // Duplicate query parameters that a route does not take are refused, but a route's own
    // empty query string is fine.
    server.get("/v1/collections/u/records?").await.expect(200);
    server.stop().await;
}
