//! The web console: its static files are served without auth (they carry no data) with the
//! right content types and security headers, while `/v1` still needs the token; and the
//! change feeds take the token as `?access_token=`, for browsers, which cannot set headers
//! on a WebSocket.

use serde_json::json;

use crate::common::*;

const TOKEN: &str = "c0nsole-t0ken";

async fn start_with_token(dir: &DataDir) -> TestServer {
    start_in(dir.path(), |c| c.server.auth_token = TOKEN.to_string()).await
}

/// GET `path` with no Authorization header.
async fn get_anonymous(server: &TestServer, path: &str) -> Answer {
    send(server.client.get(server.url(path))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_is_served_without_auth_while_v1_needs_it() {
    let dir = DataDir::new();
    let server = start_with_token(&dir).await;

    let page = get_anonymous(&server, "/").await;
    page.expect(200);
    assert!(page.text.starts_with("<!doctype html>"), "{}", page.text);
    assert!(
        page.text
            .contains(r#"<script type="module" src="/console/app.js"></script>"#)
    );
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["cache-control"], "no-cache");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self';",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP {csp:?} lacks {directive:?}");
    }
    // No other origin's socket, not even ws: of any host ('self' covers the feed).
    assert!(!csp.contains("ws:"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");

    // The data is still behind the token, whatever the console is.
    get_anonymous(&server, "/v1/collections")
        .await
        .expect_error(401, "unauthorized");
    get_anonymous(&server, "/metrics")
        .await
        .expect_error(401, "unauthorized");
    server.get("/v1/collections").await.expect(200);
    // A path that only looks like the console's is not public.
    get_anonymous(&server, "/console")
        .await
        .expect_error(401, "unauthorized");
    get_anonymous(&server, "/consoles/app.js")
        .await
        .expect_error(401, "unauthorized");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_have_their_content_types_and_unknown_ones_are_404() {
    let dir = DataDir::new();
    let server = start_with_token(&dir).await;
    for (file, content_type, needle) in [
        ("app.js", "text/javascript; charset=utf-8", "import"),
        ("api.js", "text/javascript; charset=utf-8", "Authorization"),
        ("feed.js", "text/javascript; charset=utf-8", "access_token"),
        ("dashboard.js", "text/javascript; charset=utf-8", "/metrics"),
        ("style.css", "text/css; charset=utf-8", ":focus-visible"),
        ("icon.svg", "image/svg+xml", "<svg"),
    ] {
        let answer = get_anonymous(&server, &format!("/console/{file}")).await;
        answer.expect(200);
        assert_eq!(answer.headers["content-type"], content_type, "{file}");
        assert_eq!(
            answer.headers["x-content-type-options"], "nosniff",
            "{file}"
        );
        assert!(answer.text.contains(needle), "{file} lacks {needle:?}");
    }
    // HEAD answers like GET, without a body.
    let head = send(server.client.head(server.url("/console/style.css"))).await;
    head.expect(200);
    assert_eq!(head.headers["content-type"], "text/css; charset=utf-8");
    assert!(head.text.is_empty());

    for missing in [
        "/console/nope.js",
        "/console/index.html.bak",
        "/console/..%2Fv1%2Fstats",
        "/console/a/b.js",
        "/console/",
    ] {
        let answer = get_anonymous(&server, missing).await;
        answer.expect_error(404, "not_found");
    }
    // Other methods on the console's paths are 405, as anywhere.
    server
        .raw("POST", "/", Some(b"{}".to_vec()))
        .await
        .expect_error(405, "bad_request");
    // And they are counted in /metrics.
    let metrics = server.get("/metrics").await;
    assert!(
        metrics.text.contains(r#"op="console",status="200""#),
        "{}",
        metrics.text
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_feeds_take_the_token_as_access_token() {
    let dir = DataDir::new();
    let server = start_with_token(&dir).await;
    server.create("c", &[]).await;

    for base in ["/v1/changes", "/v1/collections/c/changes"] {
        // Right token, alone or with `since`: the feed delivers.
        for path in [
            format!("{base}?access_token={TOKEN}"),
            format!("{base}?since=0&access_token={TOKEN}"),
        ] {
            let mut ws = ws_connect(server.addr, &path, None)
                .await
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            let (id, seq) = server.insert("c", json!({"path": path})).await;
            let change = loop {
                let change = next_change(&mut ws).await;
                if change["seq"] == seq {
                    break change;
                }
            };
            assert_eq!(change["_id"], id);
            ws_close(ws).await;
        }
        // Wrong, empty, near-miss, repeated or missing: 401 before the upgrade.
        for query in [
            "?access_token=wrong".to_string(),
            "?access_token=".to_string(),
            format!("?access_token={TOKEN}x"),
            format!("?access_token={TOKEN}&access_token={TOKEN}"),
            "?since=0".to_string(),
            String::new(),
        ] {
            let path = format!("{base}{query}");
            let error = match ws_connect(server.addr, &path, None).await {
                Ok(_) => panic!("{path}: upgraded without the right token"),
                Err(error) => error,
            };
            assert_eq!(refused_status(&error, "unauthorized"), 401, "{path}");
        }
        // The header still works, and wins over a wrong query token.
        let ws = server
            .ws(&format!("{base}?access_token=wrong"))
            .await
            .unwrap_or_else(|e| panic!("{base}: {e}"));
        ws_close(ws).await;
    }
    // An escaped token is decoded like any query value.
    let mut ws = ws_connect(
        server.addr,
        "/v1/changes?access_token=c0nsole%2Dt0ken",
        None,
    )
    .await
    .expect("a percent-encoded token");
    let (id, _) = server.insert("c", json!({"escaped": true})).await;
    assert_eq!(next_change(&mut ws).await["_id"], id);
    ws_close(ws).await;

    // No other route accepts the token in the query string.
    for path in [
        format!("/v1/collections?access_token={TOKEN}"),
        format!("/v1/stats?access_token={TOKEN}"),
        format!("/metrics?access_token={TOKEN}"),
    ] {
        get_anonymous(&server, &path)
            .await
            .expect_error(401, "unauthorized");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auth_access_token_is_accepted_and_ignored_on_feeds_only() {
    let dir = DataDir::new();
    let server = start(&dir).await;
    server.create("c", &[]).await;
    let ws = server
        .ws("/v1/collections/c/changes?since=0&access_token=anything")
        .await
        .expect("the parameter is not an unknown one on a feed");
    ws_close(ws).await;
    let message = server
        .get("/v1/collections?access_token=anything")
        .await
        .expect_error(400, "bad_request");
    assert!(message.contains("access_token"), "{message}");
    server.stop().await;
}
