//! The internal routes' refusals (401, 413, 400, in the contract's JSON error shape) and
//! single RPCs through the client: an answer, a remote error, an unreachable peer.

use std::time::Duration;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::routing::any;
use nyro_raft::network::{
    APPEND_PATH, CRC_HEADER, HttpNetworkFactory, NODE_HEADER, PeerTls, READ_INDEX_PATH,
    SECRET_HEADER, SNAPSHOT_PATH, VOTE_PATH, crc_value, internal_routes,
};
use nyro_raft::{NodeId, Peers, TypeConfig};
use openraft::error::{RPCError, RaftError};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest, VoteResponse};
use openraft::{BasicNode, SnapshotMeta, Vote};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{SECRET, TestNode, WAIT, serve};

fn vote_body() -> Vec<u8> {
    let rpc = VoteRequest::<NodeId>::new(Vote::new(1, 2), None);
    nyro_storage::codec::encode(&rpc).unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

/// POSTs `body` to the vote route of `addr` with these headers; the status and body.
async fn post_vote(addr: &str, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Vec<u8>) {
    let mut request = client().post(format!("http://{addr}{VOTE_PATH}"));
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// The `error.code` of a JSON error body.
fn code(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body).unwrap();
    assert!(
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    value["error"]["code"].as_str().unwrap().to_string()
}

fn crc_of(body: &[u8]) -> String {
    crc_value(body).to_str().unwrap().to_string()
}

#[tokio::test]
async fn refuses_a_request_without_the_right_secret() {
    let node = TestNode::start(1).await;
    let addr = node.server.addr.to_string();
    let body = vote_body();
    let crc = (CRC_HEADER, crc_of(&body));

    let (status, answer) = post_vote(&addr, std::slice::from_ref(&crc), body.clone()).await;
    assert_eq!((status, code(&answer).as_str()), (401, "unauthorized"));
    let wrong = (SECRET_HEADER, "a shared secreT".to_string());
    let (status, answer) = post_vote(&addr, &[crc.clone(), wrong], body.clone()).await;
    assert_eq!((status, code(&answer).as_str()), (401, "unauthorized"));
    let longer = (SECRET_HEADER, format!("{SECRET}!"));
    let (status, _) = post_vote(&addr, &[crc.clone(), longer], body.clone()).await;
    assert_eq!(status, 401);

    let right = (SECRET_HEADER, SECRET.to_string());
    let (status, answer) = post_vote(&addr, &[crc, right], body).await;
    assert_eq!(status, 200);
    let decoded: Result<VoteResponse<NodeId>, RaftError<NodeId>> =
        nyro_storage::codec::decode(&answer).unwrap();
    assert!(decoded.is_ok(), "{decoded:?}");
    node.raft.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_empty_secret_refuses_every_request() {
    let node = TestNode::start(1).await;
    let server = serve(internal_routes(node.raft.clone(), "", 1 << 20)).await;
    let body = vote_body();
    let headers = [(CRC_HEADER, crc_of(&body)), (SECRET_HEADER, String::new())];
    let (status, _) = post_vote(&server.addr.to_string(), &headers, body).await;
    assert_eq!(status, 401);
    node.raft.shutdown().await.unwrap();
}

#[tokio::test]
async fn refuses_a_body_over_the_limit() {
    let node = TestNode::start(1).await;
    let server = serve(internal_routes(node.raft.clone(), SECRET, 1024)).await;
    let addr = server.addr.to_string();
    let big = vec![7u8; 2000];
    let headers = [
        (CRC_HEADER, crc_of(&big)),
        (SECRET_HEADER, SECRET.to_string()),
    ];
    let (status, answer) = post_vote(&addr, &headers, big.clone()).await;
    assert_eq!((status, code(&answer).as_str()), (413, "payload_too_large"));

    // Without a Content-Length (chunked), the limit holds while reading.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {VOTE_PATH} HTTP/1.1\r\nhost: {addr}\r\n{SECRET_HEADER}: {SECRET}\r\n\
         {CRC_HEADER}: {}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        crc_of(&big)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for part in big.chunks(500) {
        stream
            .write_all(format!("{:x}\r\n", part.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(part).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    node.raft.shutdown().await.unwrap();
}

#[tokio::test]
async fn refuses_a_body_that_does_not_match_its_crc() {
    let node = TestNode::start(1).await;
    let addr = node.server.addr.to_string();
    let body = vote_body();
    let secret = (SECRET_HEADER, SECRET.to_string());

    let mut damaged = body.clone();
    damaged[0] ^= 1;
    let headers = [(CRC_HEADER, crc_of(&body)), secret.clone()];
    let (status, answer) = post_vote(&addr, &headers, damaged).await;
    assert_eq!((status, code(&answer).as_str()), (400, "bad_request"));
    let text = String::from_utf8_lossy(&answer);
    assert!(text.contains("damaged in transit"), "{text}");

    let (status, answer) = post_vote(&addr, std::slice::from_ref(&secret), body.clone()).await;
    assert_eq!((status, code(&answer).as_str()), (400, "bad_request"));

    // A body with a right CRC that is not a vote request.
    let junk = vec![0xffu8; 16];
    let (status, answer) = post_vote(&addr, &[(CRC_HEADER, crc_of(&junk)), secret], junk).await;
    assert_eq!((status, code(&answer).as_str()), (400, "bad_request"));
    node.raft.shutdown().await.unwrap();
}

async fn connection(secret: &str, addr: String) -> nyro_raft::network::HttpConnection {
    let mut factory = HttpNetworkFactory::new(2, secret, &PeerTls::Plain).unwrap();
    RaftNetworkFactory::<TypeConfig>::new_client(&mut factory, 1, &BasicNode { addr }).await
}

fn option() -> RPCOption {
    RPCOption::new(Duration::from_secs(10))
}

#[tokio::test]
async fn a_vote_round_trips_and_errors_map_to_what_openraft_expects() {
    let node = TestNode::start(1).await;
    let addr = node.server.addr.to_string();
    let rpc = VoteRequest::<NodeId>::new(Vote::new(1, 2), None);

    let mut peer = connection(SECRET, addr.clone()).await;
    let answer = peer.vote(rpc.clone(), option()).await.unwrap();
    assert!(answer.vote_granted, "{answer:?}");

    // A wrong secret: openraft backs off from the peer.
    let mut stranger = connection("another secret", addr.clone()).await;
    let error = stranger.vote(rpc.clone(), option()).await.unwrap_err();
    assert!(matches!(error, RPCError::Unreachable(_)), "{error}");
    assert!(error.to_string().contains("secret"), "{error}");

    // Nothing listening: unreachable too.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let mut dead = connection(SECRET, closed_addr).await;
    let error = dead.vote(rpc.clone(), option()).await.unwrap_err();
    assert!(matches!(error, RPCError::Unreachable(_)), "{error}");

    // The peer's Raft answers an error: a remote error naming the peer.
    node.raft.shutdown().await.unwrap();
    let error = peer.vote(rpc, option()).await.unwrap_err();
    match error {
        RPCError::RemoteError(remote) => {
            assert_eq!(remote.target, 1);
            assert!(
                matches!(remote.source, RaftError::Fatal(_)),
                "{}",
                remote.source
            );
        }
        other => panic!("expected a remote error, got {other}"),
    }
}

/// A request's path and the sender its `x-nyrodb-node` names.
type Sent = (String, Option<String>);

#[tokio::test]
async fn every_call_names_the_node_that_sends_it() {
    // A peer that records each request's path and sender, and answers 503.
    let seen: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let record = Arc::clone(&seen);
    let router = Router::new().fallback(any(move |request: Request| {
        let record = Arc::clone(&record);
        async move {
            let sender = request
                .headers()
                .get(NODE_HEADER)
                .map(|v| v.to_str().unwrap().to_string());
            let path = request.uri().path().to_string();
            record.lock().unwrap().push((path, sender));
            StatusCode::SERVICE_UNAVAILABLE
        }
    }));
    let peer = serve(router).await;
    let addr = peer.addr.to_string();

    let mut factory = HttpNetworkFactory::new(7, SECRET, &PeerTls::Plain).unwrap();
    let node = BasicNode { addr: addr.clone() };
    let mut connection = RaftNetworkFactory::<TypeConfig>::new_client(&mut factory, 1, &node).await;
    let vote = Vote::new(1, 7);
    let append = AppendEntriesRequest::<TypeConfig> {
        vote,
        prev_log_id: None,
        entries: Vec::new(),
        leader_commit: None,
    };
    let chunk = InstallSnapshotRequest::<TypeConfig> {
        vote,
        meta: SnapshotMeta::default(),
        offset: 0,
        data: vec![1, 2, 3],
        done: true,
    };
    // The peer answers 503 to each: every call fails, after its request was sent.
    connection
        .append_entries(append, option())
        .await
        .unwrap_err();
    connection
        .vote(VoteRequest::new(vote, None), option())
        .await
        .unwrap_err();
    connection
        .install_snapshot(chunk, option())
        .await
        .unwrap_err();
    factory.read_index(&addr, WAIT).await.unwrap_err();
    factory.probe(&addr, WAIT).await.unwrap_err();

    let seen = seen.lock().unwrap().clone();
    let from_seven = |path: &str| (path.to_string(), Some("7".to_string()));
    assert_eq!(
        seen,
        vec![
            from_seven(APPEND_PATH),
            from_seven(VOTE_PATH),
            from_seven(SNAPSHOT_PATH),
            from_seven(READ_INDEX_PATH),
            from_seven(READ_INDEX_PATH),
        ]
    );
}
