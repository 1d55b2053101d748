//! The client side of openraft's RPCs: [`HttpNetworkFactory`] and its [`HttpConnection`]s.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{PeerTls, TransportError, build_client, secret_header};
use super::wire::{
    APPEND_PATH, CRC_HEADER, OCTET_STREAM, READ_INDEX_PATH, SECRET_HEADER, SNAPSHOT_PATH,
    VOTE_PATH, check_crc, crc_value,
};
use crate::reads::{PeerCall, Peers};
use crate::{NodeId, TypeConfig};

/// What an RPC fails with, for a remote error of type `E`.
type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

/// Most bytes of a peer's error answer quoted in a log line.
const QUOTED_ERROR_BYTES: usize = 300;

/// Most bytes read of a peer's error answer.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// Most bytes of a peer's 200 answer (an encoded response or Raft error: small).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Gives openraft a connection to each peer. Every connection shares one pooled HTTP
/// client (so one kept-alive connection per peer serves its RPCs one after another) and
/// the shared secret. Cloning is cheap and shares the pool.
#[derive(Clone, Debug)]
pub struct HttpNetworkFactory {
    http: reqwest::Client,
    secret: HeaderValue,
    scheme: &'static str,
}

impl HttpNetworkFactory {
    /// A factory for node `sender` (this node's id, named in every call's
    /// [`super::NODE_HEADER`]) whose calls carry `secret` and use `tls` (plain HTTP, or HTTPS
    /// trusting the given certificates). Fails for an empty secret, one that is not a valid
    /// header value, or a CA bundle without a certificate.
    pub fn new(sender: NodeId, secret: &str, tls: &PeerTls) -> Result<Self, TransportError> {
        Ok(Self {
            http: build_client(tls, sender)?,
            secret: secret_header(secret)?,
            scheme: tls.scheme(),
        })
    }
}

impl HttpNetworkFactory {
    /// Asks the node at `addr` for its read index (see [`READ_INDEX_PATH`]) within
    /// `timeout`: its answer (an error if it does not lead), or why none came.
    async fn ask_read_index(
        &self,
        addr: &str,
        timeout: Duration,
    ) -> Result<Result<u64, String>, String> {
        let connection = HttpConnection {
            http: self.http.clone(),
            secret: self.secret.clone(),
            base: format!("{}://{}", self.scheme, addr),
            target: 0,
            node: BasicNode::new(addr),
        };
        connection
            .exchange::<(), Result<u64, String>>(READ_INDEX_PATH, &(), timeout)
            .await
            .map_err(|failure| match failure {
                Failure::Unreachable(reason)
                | Failure::Network(reason)
                | Failure::TooLarge(reason)
                | Failure::TimedOut(reason) => reason,
            })
    }
}

impl Peers for HttpNetworkFactory {
    fn read_index<'a>(&'a self, addr: &'a str, timeout: Duration) -> PeerCall<'a, u64> {
        Box::pin(async move {
            match self.ask_read_index(addr, timeout).await {
                Ok(answer) => answer,
                Err(reason) => Err(format!("the leader at {addr} gave no read index: {reason}")),
            }
        })
    }

    fn probe<'a>(&'a self, addr: &'a str, timeout: Duration) -> PeerCall<'a, ()> {
        // Any answer of the route (a node that does not lead answers with an error) means
        // the node is up and took the secret.
        Box::pin(async move { self.ask_read_index(addr, timeout).await.map(drop) })
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetworkFactory {
    type Network = HttpConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> HttpConnection {
        HttpConnection {
            http: self.http.clone(),
            secret: self.secret.clone(),
            base: format!("{}://{}", self.scheme, node.addr),
            target,
            node: node.clone(),
        }
    }
}

/// openraft's connection to one peer (`node.addr`). Sends each RPC once; openraft decides
/// what to resend.
#[derive(Debug)]
pub struct HttpConnection {
    http: reqwest::Client,
    secret: HeaderValue,
    base: String,
    target: NodeId,
    node: BasicNode,
}

/// Why an RPC failed before the peer's Raft answered, as openraft's errors carry it.
#[derive(Debug, thiserror::Error)]
#[error("{rpc} to node {target} at {addr}: {reason}")]
struct RpcFailure {
    rpc: &'static str,
    target: NodeId,
    addr: String,
    reason: String,
}

/// How openraft should treat a failure.
enum Failure {
    /// Back off before trying this peer again.
    Unreachable(String),
    /// Try again when openraft next wants to.
    Network(String),
    /// The body was over the peer's limit.
    TooLarge(String),
    /// No answer in time.
    TimedOut(String),
}

impl HttpConnection {
    /// Sends `rpc` to `path` and decodes the peer's `Result<Resp, RaftError<E>>`.
    /// `entries` is the number of entries an AppendEntries carries (for a 413's hint). An
    /// AppendEntries of several entries is bounded by the soft limit, and one not answered
    /// in time counts as too large: openraft bounds it by the heartbeat interval, and sends
    /// half as many entries after a `PayloadTooLarge` (a far-behind follower would
    /// otherwise be sent the same batch, timed out, for ever).
    async fn call<Req, Resp, E>(
        &self,
        rpc_name: &'static str,
        path: &str,
        rpc: &Req,
        option: &RPCOption,
        entries: Option<u64>,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let several = entries.is_some_and(|n| n > 1);
        let timeout = if several {
            option.soft_ttl()
        } else {
            option.hard_ttl()
        };
        match self
            .exchange::<Req, Result<Resp, RaftError<NodeId, E>>>(path, rpc, timeout)
            .await
        {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                remote,
            ))),
            Err(failure) => {
                let failure_error = |reason| RpcFailure {
                    rpc: rpc_name,
                    target: self.target,
                    addr: self.node.addr.clone(),
                    reason,
                };
                Err(match failure {
                    Failure::Unreachable(reason) => {
                        RPCError::Unreachable(Unreachable::new(&failure_error(reason)))
                    }
                    Failure::TooLarge(reason) => match entries {
                        Some(n) if n > 1 => RPCError::PayloadTooLarge(
                            PayloadTooLarge::new_entries_hint(n / 2)
                                .with_source_error(&failure_error(reason)),
                        ),
                        _ => RPCError::Network(NetworkError::new(&failure_error(reason))),
                    },
                    Failure::TimedOut(reason) if several => RPCError::PayloadTooLarge(
                        PayloadTooLarge::new_entries_hint(entries.unwrap_or(2) / 2)
                            .with_source_error(&failure_error(reason)),
                    ),
                    Failure::Network(reason) | Failure::TimedOut(reason) => {
                        RPCError::Network(NetworkError::new(&failure_error(reason)))
                    }
                })
            }
        }
    }

    /// One POST of `body` to `path`, and the decoded answer of a 200.
    async fn exchange<Req: Serialize, Out: DeserializeOwned>(
        &self,
        path: &str,
        rpc: &Req,
        timeout: Duration,
    ) -> Result<Out, Failure> {
        let body = nyro_storage::codec::encode(rpc)
            .map_err(|e| Failure::Network(format!("cannot encode the request: {e}")))?;
        let response = self
            .http
            .post(format!("{}{}", self.base, path))
            .header(SECRET_HEADER, self.secret.clone())
            .header(CRC_HEADER, crc_value(&body))
            .header(header::CONTENT_TYPE, OCTET_STREAM)
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| send_failure(&e, timeout))?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(status_failure(status, response).await);
        }
        let headers = response.headers().clone();
        let bytes = read_bounded(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                Some(e) => send_failure(&e, timeout),
                None => Failure::Network(format!("answer refused: over {MAX_ANSWER_BYTES} bytes")),
            })?;
        check_crc(&headers, &bytes)
            .map_err(|e| Failure::Network(format!("answer refused: {e}")))?;
        nyro_storage::codec::decode(&bytes)
            .map_err(|e| Failure::Network(format!("answer refused: {e}")))
    }
}

/// The body of `response`, or `Err(None)` if it is over `limit` bytes.
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, Option<reqwest::Error>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Some)? {
        if body.len() + chunk.len() > limit {
            return Err(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A request that got no answer: unreachable if no connection could be made (openraft
/// backs off), a network error otherwise (a timeout included).
fn send_failure(error: &reqwest::Error, timeout: Duration) -> Failure {
    let reason = error_chain(error);
    if error.is_connect() || error.is_builder() {
        Failure::Unreachable(format!("cannot connect: {reason}"))
    } else if error.is_timeout() {
        Failure::TimedOut(format!("no answer within {timeout:?}: {reason}"))
    } else {
        Failure::Network(reason)
    }
}

/// An error and its causes, on one line.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A refused request: a wrong secret, a peer that serves no Raft routes or is closing are
/// "unreachable" (nothing changes by trying again at once); a body over the peer's limit is
/// "too large"; anything else (a damaged body, refused with 400) is retried.
async fn status_failure(status: StatusCode, response: reqwest::Response) -> Failure {
    let message = read_bounded(response, MAX_ERROR_BYTES)
        .await
        .ok()
        .and_then(|body| error_message(&body))
        .unwrap_or_default();
    let reason = format!("answered {status}: {message}");
    match status {
        StatusCode::UNAUTHORIZED => {
            Failure::Unreachable(format!("{reason} (the nodes' cluster.secret differ)"))
        }
        StatusCode::NOT_FOUND | StatusCode::SERVICE_UNAVAILABLE => Failure::Unreachable(reason),
        StatusCode::PAYLOAD_TOO_LARGE => Failure::TooLarge(reason),
        _ => Failure::Network(reason),
    }
}

/// The `message` of a `{"error": {"code", "message"}}` body, or its first bytes as text.
fn error_message(body: &[u8]) -> Option<String> {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if let Some(message) = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(|m| m.as_str())
    {
        return Some(message.to_string());
    }
    let quoted = &body[..body.len().min(QUOTED_ERROR_BYTES)];
    Some(String::from_utf8_lossy(quoted).into_owned())
}

impl RaftNetwork<TypeConfig> for HttpConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        let entries = u64::try_from(rpc.entries.len()).unwrap_or(u64::MAX);
        self.call("AppendEntries", APPEND_PATH, &rpc, &option, Some(entries))
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call("InstallSnapshot", SNAPSHOT_PATH, &rpc, &option, None)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.call("Vote", VOTE_PATH, &rpc, &option, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[test]
    fn quotes_the_message_of_an_error_answer() {
        let body = br#"{"error":{"code":"unauthorized","message":"wrong secret"}}"#;
        assert_eq!(error_message(body).as_deref(), Some("wrong secret"));
        assert_eq!(error_message(b"plain text").as_deref(), Some("plain text"));
        let long = vec![b'x'; 1000];
        assert_eq!(error_message(&long).map(|m| m.len()), Some(300));
    }
}
