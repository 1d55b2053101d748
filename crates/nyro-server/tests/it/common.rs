//! The harness: a real server in-process on a loopback port, a reqwest client, answers as
//! (status, headers, JSON), the error-shape check, snapshots of everything stored, and a
//! WebSocket client for the change feed. Every wait is bounded.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nyro_core::OpenOptions;
use nyro_server::{ConnectionLimits, ServeError, Server, ServerConfig};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// Awaits `fut`, failing the test if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// The data directory of a test: a temporary one, kept across restarts of the server.
pub struct DataDir(tempfile::TempDir);

impl DataDir {
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("create a temporary data directory"))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// A config for a test server on `dir`, on a free loopback port.
pub fn config(dir: &Path) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.db.storage.path = dir.to_path_buf();
    config.server.listen = "127.0.0.1:0".parse().expect("a socket address");
    config
}

/// A server running in this process, stopped by [`TestServer::stop`] (or, if a test fails
/// before that, by dropping it, which sends the shutdown signal).
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub token: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

/// Starts a server on `dir` with the default test config changed by `tweak`.
pub async fn start_in(dir: &Path, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
    start_with(
        dir,
        tweak,
        OpenOptions::default(),
        ConnectionLimits::default(),
    )
    .await
}

/// Starts a server on `dir` with the default test config changed by `tweak`, the database
/// opened with `options` (e.g. an I/O fault injector) and these connection limits.
pub async fn start_with(
    dir: &Path,
    tweak: impl FnOnce(&mut ServerConfig),
    options: OpenOptions,
    limits: ConnectionLimits,
) -> TestServer {
    let mut config = config(dir);
    tweak(&mut config);
    let token = (!config.server.auth_token.is_empty()).then(|| config.server.auth_token.clone());
    let server = within("Server::bind", Server::bind_with(config, options))
        .await
        .expect("the server binds")
        .with_limits(limits);
    let addr = server.local_addr().expect("a local address");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    TestServer {
        addr,
        client: client(),
        token,
        shutdown: Some(tx),
        task: Some(task),
    }
}

/// Starts a server with the default test config on `dir`.
pub async fn start(dir: &DataDir) -> TestServer {
    start_in(dir.path(), |_| {}).await
}

/// A client that never goes through a proxy and never waits forever.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .expect("a reqwest client")
}

/// An HTTP answer, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Answer {
    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        &self.json
    }

    /// Asserts an error answer: this status, and exactly
    /// `{"error": {"code": code, "message": "<non-empty>"}}`. Returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        assert_error_shape(&self.json, &self.text);
        assert_eq!(self.json["error"]["code"], code, "body: {}", self.text);
        self.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// Asserts `{"error": {"code": "<string>", "message": "<non-empty string>"}}` and nothing else.
#[track_caller]
pub fn assert_error_shape(json: &Value, text: &str) {
    let top = json
        .as_object()
        .unwrap_or_else(|| panic!("error body is not a JSON object: {text:?}"));
    assert_eq!(top.len(), 1, "error body has other keys: {text}");
    let error = top
        .get("error")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("no \"error\" object: {text}"));
    assert_eq!(error.len(), 2, "error object has other keys: {text}");
    assert!(error.get("code").is_some_and(Value::is_string), "{text}");
    assert!(
        error
            .get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| !m.is_empty()),
        "{text}"
    );
}

/// The contract's codes and their statuses.
pub fn status_of(code: &str) -> u16 {
    match code {
        "bad_request" | "invalid_json" | "invalid_name" | "not_indexed" => 400,
        "unauthorized" => 401,
        "not_found" => 404,
        "conflict" => 409,
        "payload_too_large" => 413,
        "internal" => 500,
        "overloaded" | "unavailable" => 503,
        other => panic!("not a contract code: {other}"),
    }
}

/// The paths that never need the token: `/health` and the web console's static files.
pub const PUBLIC_PATHS: &[&str] = &["/health", "/", "/console/app.js"];

/// Every route of the router: (method, path template, a concrete path, a body that makes
/// it succeed on a fresh server where collection `c` exists with document 1, and the
/// success status). The change feeds are WebSocket routes, checked separately. The cluster
/// routes answer 404 on these standalone servers (the cluster tests run real clusters).
pub const ROUTES: &[(&str, &str, &str, Option<&str>, u16)] = &[
    ("GET", "/", "/", None, 200),
    ("GET", "/console/{file}", "/console/app.js", None, 200),
    ("GET", "/health", "/health", None, 200),
    ("GET", "/metrics", "/metrics", None, 200),
    ("GET", "/v1/stats", "/v1/stats", None, 200),
    ("GET", "/v1/openapi.json", "/v1/openapi.json", None, 200),
    ("POST", "/v1/_compact", "/v1/_compact", None, 200),
    // Succeeds only with `server.backup_root` set, as `check_every_route`'s servers have it.
    (
        "POST",
        "/v1/_backup",
        "/v1/_backup",
        Some(r#"{"path":"every-route"}"#),
        200,
    ),
    ("GET", "/v1/collections", "/v1/collections", None, 200),
    (
        "PUT",
        "/v1/collections/{collection}",
        "/v1/collections/fresh",
        None,
        201,
    ),
    (
        "DELETE",
        "/v1/collections/{collection}",
        "/v1/collections/gone",
        None,
        204,
    ),
    (
        "POST",
        "/v1/collections/{collection}/records",
        "/v1/collections/c/records",
        Some(r#"{"a":1}"#),
        201,
    ),
    (
        "GET",
        "/v1/collections/{collection}/records",
        "/v1/collections/c/records",
        None,
        200,
    ),
    (
        "POST",
        "/v1/collections/{collection}/records/_bulk",
        "/v1/collections/c/records/_bulk",
        Some(r#"[{"a":1}]"#),
        201,
    ),
    (
        "GET",
        "/v1/collections/{collection}/records/{id}",
        "/v1/collections/c/records/1",
        None,
        200,
    ),
    (
        "PUT",
        "/v1/collections/{collection}/records/{id}",
        "/v1/collections/c/records/2",
        Some(r#"{"a":2}"#),
        200,
    ),
    (
        "DELETE",
        "/v1/collections/{collection}/records/{id}",
        "/v1/collections/c/records/1",
        None,
        204,
    ),
    (
        "POST",
        "/v1/collections/{collection}/_query",
        "/v1/collections/c/_query",
        Some(r#"{"where":{}}"#),
        200,
    ),
    (
        "POST",
        "/v1/collections/{collection}/_explain",
        "/v1/collections/c/_explain",
        Some(r#"{"where":{"k":{"$gt":1}}}"#),
        200,
    ),
    (
        "POST",
        "/v1/collections/{collection}/_indexes",
        "/v1/collections/c/_indexes",
        Some(r#"{"path":"a"}"#),
        202,
    ),
    (
        "DELETE",
        "/v1/collections/{collection}/_indexes/{path}",
        "/v1/collections/c/_indexes/a",
        None,
        204,
    ),
    (
        "GET",
        "/v1/collections/{collection}/changes",
        "/v1/collections/c/changes",
        None,
        101,
    ),
    ("GET", "/v1/changes", "/v1/changes", None, 101),
    ("GET", "/v1/cluster", "/v1/cluster", None, 404),
    (
        "POST",
        "/v1/cluster/members",
        "/v1/cluster/members",
        Some(r#"{"id":4,"addr":"127.0.0.1:7073"}"#),
        404,
    ),
    (
        "DELETE",
        "/v1/cluster/members/{id}",
        "/v1/cluster/members/4",
        None,
        404,
    ),
];

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request with the server's token (if any) and a raw body.
    pub async fn raw(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Answer {
        let mut request = self.client.request(
            Method::from_bytes(method.as_bytes()).expect("a method"),
            self.url(path),
        );
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        send(request).await
    }

    /// Sends `body` (if any) with `method` to `path`, asserting the answer's status.
    pub async fn raw_expecting(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        status: u16,
    ) -> Answer {
        let answer = self
            .raw(method, path, body.map(|b| b.as_bytes().to_vec()))
            .await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{method} {path}: {}",
            answer.text
        );
        answer
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.raw("GET", path, None).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.raw("DELETE", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.raw("POST", path, Some(body.to_string().into_bytes()))
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.raw("PUT", path, Some(body.to_string().into_bytes()))
            .await
    }

    /// Inserts `doc` into `collection`, expecting 201; returns (id, seq).
    pub async fn insert(&self, collection: &str, doc: Value) -> (u64, u64) {
        let answer = self
            .post(&format!("/v1/collections/{collection}/records"), &doc)
            .await;
        let body = answer.expect(201);
        (
            body["_id"].as_u64().expect("_id"),
            body["seq"].as_u64().expect("seq"),
        )
    }

    /// Creates `collection` with `indexes`, expecting 201.
    pub async fn create(&self, collection: &str, indexes: &[&str]) {
        self.put(
            &format!("/v1/collections/{collection}"),
            &json!({ "indexes": indexes }),
        )
        .await
        .expect(201);
    }

    /// Every document of `collection`, through the paged list.
    pub async fn all_docs(&self, collection: &str) -> Vec<Value> {
        let mut docs = Vec::new();
        let mut after: Option<u64> = None;
        loop {
            let path = match after {
                Some(a) => format!("/v1/collections/{collection}/records?limit=10000&after={a}"),
                None => format!("/v1/collections/{collection}/records?limit=10000"),
            };
            let answer = self.get(&path).await;
            let page = answer.expect(200);
            docs.extend(page["records"].as_array().expect("records").iter().cloned());
            match page["next"].as_u64() {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        docs
    }

    /// Everything stored: per collection, its indexes and every document.
    pub async fn snapshot(&self) -> BTreeMap<String, (Value, Vec<Value>)> {
        let list = self.get("/v1/collections").await;
        let mut out = BTreeMap::new();
        for c in list.expect(200)["collections"]
            .as_array()
            .expect("collections")
        {
            let name = c["name"].as_str().expect("name").to_string();
            let docs = self.all_docs(&name).await;
            assert_eq!(docs.len() as u64, c["count"].as_u64().expect("count"));
            out.insert(name, (c["indexes"].clone(), docs));
        }
        out
    }

    /// The database's last sequence number, from /v1/stats.
    pub async fn last_seq(&self) -> u64 {
        self.get("/v1/stats").await.expect(200)["last_seq"]
            .as_u64()
            .expect("last_seq")
    }

    /// Opens a WebSocket on `path` with the server's token (if any).
    pub async fn ws(&self, path: &str) -> Result<Ws, Box<tokio_tungstenite::tungstenite::Error>> {
        ws_connect(self.addr, path, self.token.as_deref()).await
    }

    /// Sends the shutdown signal and waits for `run` to return, whatever it returns.
    pub async fn stop_result(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => within("the server to shut down", task)
                .await
                .expect("the server task does not panic"),
            None => Ok(()),
        }
    }

    /// Sends the shutdown signal and waits for `run` to return, which must be `Ok`.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            within("the server to shut down", task)
                .await
                .expect("the server task does not panic")
                .expect("run returns Ok");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Sends a request and reads the whole answer.
pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = within("an HTTP answer", request.send())
        .await
        .expect("the request gets an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = within("an HTTP body", response.bytes())
        .await
        .expect("the body is read");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        json,
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket to `path` on `addr`, with a bearer token if given.
pub async fn ws_connect(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> Result<Ws, Box<tokio_tungstenite::tungstenite::Error>> {
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("a WebSocket request");
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("a header value"),
        );
    }
    within(
        "the WebSocket handshake",
        tokio_tungstenite::connect_async(request),
    )
    .await
    .map(|(ws, _)| ws)
    .map_err(Box::new)
}

/// The status of a refused WebSocket upgrade, after checking its error body and code.
pub fn refused_status(error: &tungstenite::Error, code: &str) -> u16 {
    refusal(error, code).0
}

/// The status and error message of a refused WebSocket upgrade, after checking its error
/// body and code.
pub fn refusal(error: &tungstenite::Error, code: &str) -> (u16, String) {
    match error {
        tungstenite::Error::Http(response) => {
            let body = response.body().clone().unwrap_or_default();
            let json: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error body");
            assert_error_shape(&json, &String::from_utf8_lossy(&body));
            assert_eq!(json["error"]["code"], code);
            let message = json["error"]["message"].as_str().unwrap_or_default();
            (response.status().as_u16(), message.to_string())
        }
        other => panic!("unexpected error {other}"),
    }
}

/// What the feed sent next: a change, or the close frame (code, reason).
#[derive(Debug)]
pub enum Feed {
    Change(Value),
    Closed(Option<(u16, String)>),
}

/// The next change or close from the feed, skipping pings and pongs.
pub async fn next_feed(ws: &mut Ws) -> Feed {
    loop {
        let message = within("a change-feed message", ws.next()).await;
        match message {
            Some(Ok(Message::Text(text))) => {
                return Feed::Change(serde_json::from_str(text.as_str()).expect("a JSON change"));
            }
            Some(Ok(Message::Close(frame))) => {
                return Feed::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) => panic!("unexpected feed message {other:?}"),
            Some(Err(_)) | None => return Feed::Closed(None),
        }
    }
}

/// The next change from the feed; fails the test on a close.
pub async fn next_change(ws: &mut Ws) -> Value {
    match next_feed(ws).await {
        Feed::Change(change) => change,
        Feed::Closed(frame) => panic!("the feed closed: {frame:?}"),
    }
}

/// Asserts nothing arrives on the feed for `quiet`.
pub async fn assert_quiet(ws: &mut Ws, quiet: Duration) {
    if let Ok(message) = tokio::time::timeout(quiet, ws.next()).await {
        panic!("expected no feed message, got {message:?}");
    }
}

/// Closes a WebSocket politely, without waiting long.
pub async fn ws_close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
}

/// Keeps the sink trait in scope for callers that send on the socket.
pub async fn ws_send_text(ws: &mut Ws, text: &str) {
    within("a WebSocket send", ws.send(Message::text(text.to_string())))
        .await
        .expect("send on the WebSocket");
}
