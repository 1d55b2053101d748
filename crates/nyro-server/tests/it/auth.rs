//! Bearer-token auth: with `auth_token` set, every route but `/health` and the console's
//! static files needs `Authorization: Bearer <token>`; WebSocket upgrades too (which may give
//! it as `?access_token=` instead, see `console.rs`).

use serde_json::json;

use crate::common::*;
use crate::routes::{check_every_route, seed};

const TOKEN: &str = "s3cret-t0ken";

/// With a backup root too, for `POST /v1/_backup` in [`check_every_route`].
async fn start_with_token(dir: &DataDir, backups: &DataDir) -> TestServer {
    start_in(dir.path(), |c| {
        c.server.auth_token = TOKEN.to_string();
        c.server.backup_root = Some(backups.path().to_path_buf());
    })
    .await
}

/// Sends `method path` with this Authorization header (or none).
async fn with_auth(server: &TestServer, method: &str, path: &str, auth: Option<&str>) -> Answer {
    let mut request = server.client.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        server.url(path),
    );
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    send(request.body("{}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_health_needs_the_token() {
    let dir = DataDir::new();
    let backups = DataDir::new();
    let mut server = start_with_token(&dir, &backups).await;
    seed(&server).await;
    let before = server.snapshot().await;

    for &(method, _, path, _, _) in ROUTES {
        if PUBLIC_PATHS.contains(&path) {
            for auth in [None, Some("Bearer wrong")] {
                let answer = with_auth(&server, method, path, auth).await;
                answer.expect(200);
                if path == "/health" {
                    assert_eq!(answer.json, json!({"status": "ok"}));
                }
            }
            continue;
        }
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Bearer "),
            Some("Bearer s3cret-t0ke"),
            Some("Bearer s3cret-t0ken2"),
            Some("Basic czNjcmV0LXQwa2Vu"),
            Some(TOKEN),
        ] {
            let answer = with_auth(&server, method, path, auth).await;
            answer.expect_error(401, "unauthorized");
        }
    }
    // Unknown paths are not revealed without the token either.
    with_auth(&server, "GET", "/nope", None)
        .await
        .expect_error(401, "unauthorized");
    // Nothing was written by the refused requests.
    assert_eq!(server.snapshot().await, before);

    // With the right token, every route works.
    check_every_route(&server).await;
    // The scheme name is case-insensitive.
    for scheme in ["bearer", "BEARER"] {
        with_auth(
            &server,
            "GET",
            "/v1/collections",
            Some(&format!("{scheme} {TOKEN}")),
        )
        .await
        .expect(200);
    }

    // Without the token the harness's helpers fail too (sanity check of the harness).
    server.token = None;
    server
        .get("/v1/collections")
        .await
        .expect_error(401, "unauthorized");
    server.get("/health").await.expect(200);
    server.token = Some(TOKEN.to_string());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_needs_the_token() {
    let dir = DataDir::new();
    let backups = DataDir::new();
    let server = start_with_token(&dir, &backups).await;
    server.create("c", &[]).await;

    for path in ["/v1/changes", "/v1/collections/c/changes?since=0"] {
        for token in [None, Some("wrong")] {
            match ws_connect(server.addr, path, token).await {
                Ok(_) => panic!("{path}: upgraded without the right token"),
                Err(error) => assert_eq!(refused_status(&error, "unauthorized"), 401, "{path}"),
            }
        }
        let mut ws = server.ws(path).await.expect("upgrade with the token");
        if path.contains("since") {
            assert_quiet(&mut ws, std::time::Duration::from_millis(100)).await;
        }
        ws_close(ws).await;
    }
    // Connected with the token, the feed delivers.
    let mut ws = server.ws("/v1/collections/c/changes").await.unwrap();
    let (id, seq) = server.insert("c", json!({"x": 1})).await;
    let change = next_change(&mut ws).await;
    assert_eq!(change["_id"], id);
    assert_eq!(change["seq"], seq);
    ws_close(ws).await;
    server.stop().await;
}
