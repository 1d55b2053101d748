//! An HTTP proxy in front of a node's internal routes, standing for the network between two
//! nodes: it can be "down" (answers 503, as a node being restarted behind a load balancer
//! would), and it can damage one snapshot chunk in flight while keeping its CRC header.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nyro_raft::TypeConfig;
use nyro_raft::network::{CRC_HEADER, SECRET_HEADER, SNAPSHOT_PATH};
use openraft::raft::InstallSnapshotRequest;

use super::Serving;

/// A snapshot chunk the proxy passed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkSeen {
    pub offset: u64,
    pub len: usize,
    pub done: bool,
    /// The proxy damaged it.
    pub damaged: bool,
    /// The node's answer.
    pub status: u16,
}

/// What a test controls and observes.
#[derive(Default)]
pub struct ProxyControl {
    /// Answer every request with 503 instead of passing it on.
    pub down: AtomicBool,
    /// Damage the next snapshot chunk that is not the first.
    pub damage_next_chunk: AtomicBool,
    /// The snapshot chunks passed on, in order.
    pub chunks: Mutex<Vec<ChunkSeen>>,
    /// The path of each request passed on and the node's answer's status, in order.
    pub answers: Mutex<Vec<(String, u16)>>,
}

impl ProxyControl {
    pub fn chunks(&self) -> Vec<ChunkSeen> {
        self.chunks.lock().unwrap().clone()
    }

    /// Whether a request to `path` was passed on.
    pub fn saw(&self, path: &str) -> bool {
        !self.statuses(path).is_empty()
    }

    /// The statuses the node answered requests to `path` with, in order.
    pub fn statuses(&self, path: &str) -> Vec<u16> {
        let answers = self.answers.lock().unwrap();
        answers
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, s)| *s)
            .collect()
    }
}

pub struct Proxy {
    /// Where the proxy listens: the node's advertised address.
    pub addr: SocketAddr,
    pub control: Arc<ProxyControl>,
    _serving: Serving,
}

impl Proxy {
    /// A proxy passing requests on to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let control = Arc::new(ProxyControl::default());
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let state = (Arc::clone(&control), http, upstream);
        let router = Router::new().fallback(move |request: Request| {
            let (control, http, upstream) = state.clone();
            async move { pass_on(&control, &http, upstream, request).await }
        });
        let serving = super::serve(router).await;
        Proxy {
            addr: serving.addr,
            control,
            _serving: serving,
        }
    }
}

async fn pass_on(
    control: &ProxyControl,
    http: &reqwest::Client,
    upstream: SocketAddr,
    request: Request,
) -> Response {
    if control.down.load(Ordering::SeqCst) {
        let body = r#"{"error":{"code":"unavailable","message":"the proxy is down"}}"#;
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let mut body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap()
        .to_vec();
    let mut chunk = None;
    if path == SNAPSHOT_PATH {
        let rpc: InstallSnapshotRequest<TypeConfig> = nyro_storage::codec::decode(&body).unwrap();
        let damaged = rpc.offset > 0 && control.damage_next_chunk.swap(false, Ordering::SeqCst);
        if damaged {
            let middle = body.len() / 2;
            body[middle] ^= 0x5a;
        }
        chunk = Some(ChunkSeen {
            offset: rpc.offset,
            len: rpc.data.len(),
            done: rpc.done,
            damaged,
            status: 0,
        });
    }
    let mut outgoing = http.post(format!("http://{upstream}{path}"));
    for name in [SECRET_HEADER, CRC_HEADER, "content-type"] {
        if let Some(value) = parts.headers.get(name) {
            outgoing = outgoing.header(name, value.clone());
        }
    }
    let answer = match outgoing.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    control
        .answers
        .lock()
        .unwrap()
        .push((path, status.as_u16()));
    if let Some(mut chunk) = chunk {
        chunk.status = status.as_u16();
        control.chunks.lock().unwrap().push(chunk);
    }
    let mut headers = HeaderMap::new();
    for name in [CRC_HEADER, "content-type"] {
        if let Some(value) = answer.headers().get(name) {
            headers.insert(name, value.clone());
        }
    }
    let bytes: Bytes = answer.bytes().await.unwrap_or_default();
    (status, headers, Body::from(bytes)).into_response()
}
