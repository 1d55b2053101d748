//! `nyrodb cluster status | add | remove` against a stub of the membership routes of
//! CONTRACT.md section 7 (an axum server in this process, on a free loopback port): it
//! records every request, checks method, path, body and token, and answers as the contract
//! says, so the tests see what the binary sent, printed and exited with.
//!
//! `nyrodb serve`'s own checks of `[cluster]` are tested here too, through the binary.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::common::{StubServer, fails, free_port, nyrodb, succeeds, texts};

const TOKEN: &str = "cluster-t0ken";

/// One request the stub received.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    path: String,
    content_type: Option<String>,
    body: Option<Value>,
}

#[derive(Default)]
struct State {
    /// (id, addr, role), in id order.
    members: Vec<(u64, String, &'static str)>,
    seen: Vec<Seen>,
}

impl State {
    fn status(&self) -> Value {
        let members: Vec<Value> = self
            .members
            .iter()
            .map(
                |(id, addr, role)| json!({"id": id, "addr": addr, "role": role, "match_index": 41}),
            )
            .collect();
        json!({"node_id": 1, "leader_id": 1, "term": 3, "commit_index": 41,
               "applied_index": 41, "members": members})
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// The stub's one handler: records the request, then answers it.
async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = state.lock().unwrap();
    let path = uri.path().to_owned();
    state.seen.push(Seen {
        method: method.to_string(),
        path: uri.to_string(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned()),
        body: (!body.is_empty()).then(|| serde_json::from_slice(&body).unwrap_or(Value::Null)),
    });
    let authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.to_str().ok() == Some(&format!("Bearer {TOKEN}")));
    if !authorized {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        );
    }
    if uri.query().is_some() {
        return error(StatusCode::BAD_REQUEST, "bad_request", "unexpected query");
    }
    match (method, path.as_str()) {
        (Method::GET, "/v1/cluster") if body.is_empty() => {
            axum::Json(state.status()).into_response()
        }
        (Method::POST, "/v1/cluster/members") => {
            let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
                return error(StatusCode::BAD_REQUEST, "invalid_json", "not a JSON object");
            };
            let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let (Some(id), Some(addr)) = (fields["id"].as_u64(), fields["addr"].as_str()) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "want {\"id\", \"addr\"}",
                );
            };
            if keys != ["addr", "id"] {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "want {\"id\", \"addr\"}",
                );
            }
            if state.members.iter().any(|m| m.0 == id) {
                return error(
                    StatusCode::CONFLICT,
                    "conflict",
                    &format!("node {id} is already a member"),
                );
            }
            state.members.push((id, addr.to_owned(), "follower"));
            axum::Json(state.status()).into_response()
        }
        (Method::DELETE, p) if p.starts_with("/v1/cluster/members/") && body.is_empty() => {
            let id: u64 = p["/v1/cluster/members/".len()..].parse().unwrap_or(0);
            let before = state.members.len();
            state.members.retain(|m| m.0 != id);
            if state.members.len() == before {
                return error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("node {id} is not a member"),
                );
            }
            axum::Json(state.status()).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such route"),
    }
}

/// The stub on a free loopback port; stopped when dropped.
struct Stub {
    server: StubServer,
    state: Arc<Mutex<State>>,
}

impl Stub {
    fn start() -> Stub {
        let state = Arc::new(Mutex::new(State {
            members: vec![
                (1, "127.0.0.1:7070".to_owned(), "leader"),
                (2, "127.0.0.1:7071".to_owned(), "follower"),
                (3, "127.0.0.1:7072".to_owned(), "follower"),
            ],
            seen: Vec::new(),
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        Stub {
            server: StubServer::serve(app),
            state,
        }
    }

    /// `nyrodb cluster ARGS...` aimed at the stub with the right token (through the
    /// environment, as the other client commands take it).
    fn cluster(&self, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = nyrodb();
        cmd.arg("cluster").args(args);
        cmd.env("NYRODB_URL", &self.server.url)
            .env("NYRODB_TOKEN", TOKEN);
        cmd
    }

    /// The requests received since the last call.
    fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().seen)
    }
}

fn seen(method: &str, path: &str, body: Option<Value>) -> Seen {
    Seen {
        method: method.to_owned(),
        path: path.to_owned(),
        content_type: body.as_ref().map(|_| "application/json".to_owned()),
        body,
    }
}

fn stdout_json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out:?}"))
}

fn member_ids(status: &Value) -> Vec<u64> {
    status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn status_add_and_remove_send_the_contract_requests_and_print_the_answers() {
    let stub = Stub::start();

    let (out, err) = succeeds(&mut stub.cluster(&["status"]));
    assert_eq!(stdout_json(&out), stub.state.lock().unwrap().status());
    assert_eq!(member_ids(&stdout_json(&out)), [1, 2, 3]);
    assert_eq!(err, "");
    assert_eq!(stub.take_seen(), [seen("GET", "/v1/cluster", None)]);

    let (out, _) = succeeds(&mut stub.cluster(&["add", "4", "127.0.0.1:7073"]));
    assert_eq!(member_ids(&stdout_json(&out)), [1, 2, 3, 4]);
    assert_eq!(
        stub.take_seen(),
        [seen(
            "POST",
            "/v1/cluster/members",
            Some(json!({"id": 4, "addr": "127.0.0.1:7073"}))
        )]
    );

    // --url and --token work as on the other client commands, and override the environment.
    let mut remove = stub.cluster(&["remove", "3", "--url", &stub.server.url, "--token", TOKEN]);
    remove
        .env("NYRODB_URL", "http://127.0.0.1:1")
        .env("NYRODB_TOKEN", "wrong");
    let (out, _) = succeeds(&mut remove);
    assert_eq!(member_ids(&stdout_json(&out)), [1, 2, 4]);
    assert_eq!(
        stub.take_seen(),
        [seen("DELETE", "/v1/cluster/members/3", None)]
    );

    let (out, _) = succeeds(&mut stub.cluster(&["status"]));
    let status = stdout_json(&out);
    assert_eq!(member_ids(&status), [1, 2, 4]);
    assert_eq!(status["members"][2]["addr"], "127.0.0.1:7073");

    // Host names and IPv6 addresses are addresses too.
    succeeds(&mut stub.cluster(&["add", "5", "db5.example.com:7070"]));
    succeeds(&mut stub.cluster(&["add", "6", "[::1]:7070"]));
    let bodies: Vec<Option<Value>> = stub
        .take_seen()
        .into_iter()
        .skip(1)
        .map(|s| s.body)
        .collect();
    assert_eq!(
        bodies,
        [
            Some(json!({"id": 5, "addr": "db5.example.com:7070"})),
            Some(json!({"id": 6, "addr": "[::1]:7070"}))
        ]
    );
}

#[test]
fn error_answers_go_to_stderr_with_exit_1() {
    let stub = Stub::start();

    let (out, err) = fails(&mut stub.cluster(&["add", "2", "127.0.0.1:7071"]));
    assert_eq!(out, "");
    assert!(err.contains("node 2 is already a member"), "{err}");
    assert!(err.contains("409") && err.contains("conflict"), "{err}");

    let (out, err) = fails(&mut stub.cluster(&["remove", "9"]));
    assert_eq!(out, "");
    assert!(err.contains("node 9 is not a member"), "{err}");
    assert!(err.contains("404"), "{err}");

    let mut wrong_token = stub.cluster(&["status"]);
    wrong_token.env("NYRODB_TOKEN", "wrong");
    let (out, err) = fails(&mut wrong_token);
    assert_eq!(out, "");
    assert!(
        err.contains("missing or wrong bearer token") && err.contains("401"),
        "{err}"
    );
    let mut no_token = stub.cluster(&["status"]);
    no_token.env_remove("NYRODB_TOKEN");
    fails(&mut no_token);

    // Nothing changed on the stub: every member is still listed.
    let (out, _) = succeeds(&mut stub.cluster(&["status"]));
    assert_eq!(member_ids(&stdout_json(&out)), [1, 2, 3]);

    // No server at all.
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let (out, err) = fails(nyrodb().args(["cluster", "status", "--url", &nobody]));
    assert_eq!(out, "");
    assert!(err.contains("cannot reach the NyroDB server"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_send_nothing() {
    let stub = Stub::start();
    let cases: &[&[&str]] = &[
        &[],
        &["join"],
        &["status", "extra"],
        &["add"],
        &["add", "4"],
        &["add", "0", "127.0.0.1:7073"],
        &["add", "x", "127.0.0.1:7073"],
        &["add", "4", "127.0.0.1"],
        &["add", "4", "http://127.0.0.1:7073"],
        &["add", "4", "127.0.0.1:0"],
        &["remove"],
        &["remove", "-1"],
        &["remove", "three"],
        &["remove", "0"],
    ];
    for args in cases {
        let output = stub.cluster(args).assert().code(2).get_output().clone();
        let (out, err) = texts(&output);
        assert_eq!(out, "", "{args:?}");
        assert!(!err.is_empty(), "{args:?}");
    }
    let output = stub
        .cluster(&["add", "4", "127.0.0.1"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(
        texts(&output).1.contains("HOST:PORT"),
        "{:?}",
        texts(&output)
    );
    assert_eq!(stub.take_seen(), []);
    for args in [
        ["status", "--help"],
        ["add", "--help"],
        ["remove", "--help"],
    ] {
        let (out, _) = succeeds(&mut stub.cluster(&args));
        assert!(out.contains("Usage: nyrodb cluster"), "{out}");
    }
}

#[test]
fn serve_refuses_cluster_settings_that_disagree_naming_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.toml");
    std::fs::write(
        &file,
        "[cluster]\nnode_id = 2\nbootstrap = [\"1@127.0.0.1:7070\", \"2@127.0.0.1:7071\"]\n",
    )
    .unwrap();
    let serve = || {
        let mut cmd = nyrodb();
        cmd.args(["serve", "--config"])
            .arg(&file)
            .arg("--data")
            .arg(dir.path().join("data"))
            .env_remove("NYRODB_CLUSTER_SECRET");
        cmd
    };
    // No secret anywhere.
    let (_, err) = fails(&mut serve());
    assert!(
        err.contains("`cluster.secret`") && err.contains("node.toml"),
        "{err}"
    );
    // The secret from the environment; now this node's address disagrees with its entry.
    let (_, err) = fails(serve().env("NYRODB_CLUSTER_SECRET", "s"));
    assert!(
        err.contains("`cluster.advertise`") && err.contains("127.0.0.1:7071"),
        "{err}"
    );
    // A flag naming another node that the list does not hold.
    let (_, err) = fails(
        serve()
            .env("NYRODB_CLUSTER_SECRET", "s")
            .args(["--node-id", "5"]),
    );
    assert!(
        err.contains("`cluster.bootstrap`") && err.contains("node_id = 5"),
        "{err}"
    );
    // Bad flag values name the flag and the key.
    let (_, err) = fails(serve().args(["--bootstrap", "1@127.0.0.1:7070,1@127.0.0.1:7071"]));
    assert!(
        err.contains("--bootstrap") && err.contains("`cluster.bootstrap`"),
        "{err}"
    );
    let (_, err) = fails(serve().args(["--advertise", "nowhere"]));
    assert!(
        err.contains("--advertise") && err.contains("no port"),
        "{err}"
    );
    // None of it opened the data directory.
    assert!(!dir.path().join("data").exists());
}
