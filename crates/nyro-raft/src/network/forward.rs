//! Forwarding a user's write from a follower to the leader, whose answer is returned
//! unchanged (contract section 7).
//!
//! A forwarded request is sent once: never again by this node, whatever happens (a write
//! is applied at most once per client request; the client retries if it wants). The one
//! resend below us is hyper's, on a pooled connection the leader closed before any byte of
//! the request was written: the leader never saw that attempt. It carries
//! [`FORWARDED_HEADER`], and a request carrying it is never forwarded again, so a node that
//! thought another was the leader answers 503 instead of bouncing the write around.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Request, Response};

use super::client::{PeerTls, TransportError, build_client};
use crate::NodeId;

/// The header marking a request as forwarded by another node (value `1`).
pub const FORWARDED_HEADER: &str = "x-nyrodb-forwarded";

/// The request headers passed on to the leader (all others are dropped: hop-by-hop and
/// host headers belong to this connection).
pub const REQUEST_HEADERS: [&str; 4] = ["authorization", "content-type", "accept", "x-request-id"];

/// The answer headers passed back from the leader.
pub const RESPONSE_HEADERS: [&str; 4] = [
    "content-type",
    "retry-after",
    "location",
    "www-authenticate",
];

/// Whether `headers` mark their request as already forwarded by another node.
pub fn was_forwarded(headers: &HeaderMap) -> bool {
    headers.contains_key(FORWARDED_HEADER)
}

/// A write could not be forwarded, or its answer did not come back.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The request was itself forwarded by another node: this node is not the leader
    /// either, so the client should be told there is no leader (503).
    #[error("the write was forwarded to a node that is not the leader; no leader is known")]
    AlreadyForwarded,
    /// No connection to the leader could be made: the write was not delivered.
    #[error("cannot reach the leader at {leader}: {reason}")]
    Unreachable {
        /// The leader's address.
        leader: String,
        /// What failed.
        reason: String,
    },
    /// The leader did not answer in time: the write may or may not have been applied.
    #[error(
        "the leader at {leader} did not answer within {after:?}; the write may or may not have been applied"
    )]
    TimedOut {
        /// The leader's address.
        leader: String,
        /// The bound that passed.
        after: Duration,
    },
    /// The exchange broke off: the write may or may not have been applied.
    #[error(
        "forwarding to the leader at {leader} failed: {reason}; the write may or may not have been applied"
    )]
    Failed {
        /// The leader's address.
        leader: String,
        /// What failed.
        reason: String,
    },
    /// The request cannot be sent to that address.
    #[error("cannot forward to the leader at {leader}: {reason}")]
    InvalidRequest {
        /// The leader's address.
        leader: String,
        /// What was wrong.
        reason: String,
    },
}

impl ForwardError {
    /// Whether the leader may have received (and applied) the write.
    pub fn may_have_been_applied(&self) -> bool {
        matches!(self, Self::TimedOut { .. } | Self::Failed { .. })
    }
}

/// Sends user requests to the leader over one pooled client (one kept-alive connection per
/// peer and concurrent request). Cloning is cheap and shares the pool.
#[derive(Clone, Debug)]
pub struct Forwarder {
    http: reqwest::Client,
    scheme: &'static str,
    timeout: Duration,
}

impl Forwarder {
    /// A forwarder for node `sender` (this node's id, named in every request's
    /// [`super::NODE_HEADER`]) using `tls`, that waits at most `timeout` for each answer (its
    /// whole body included).
    pub fn new(sender: NodeId, tls: &PeerTls, timeout: Duration) -> Result<Self, TransportError> {
        Ok(Self {
            http: build_client(tls, sender)?,
            scheme: tls.scheme(),
            timeout,
        })
    }

    /// Sends `request` (its method, path and query, [`REQUEST_HEADERS`] and body, marked with
    /// [`FORWARDED_HEADER`] and this node's [`super::NODE_HEADER`]) to the
    /// leader at `leader_addr`, once, and returns the leader's status,
    /// [`RESPONSE_HEADERS`] and body unchanged. A request already carrying
    /// [`FORWARDED_HEADER`] is refused with [`ForwardError::AlreadyForwarded`].
    pub async fn forward(
        &self,
        leader_addr: &str,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, ForwardError> {
        let (parts, body) = request.into_parts();
        if was_forwarded(&parts.headers) {
            return Err(ForwardError::AlreadyForwarded);
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("{}://{}{}", self.scheme, leader_addr, path);
        let mut outgoing = self
            .http
            .request(parts.method, url)
            .timeout(self.timeout)
            .header(FORWARDED_HEADER, HeaderValue::from_static("1"));
        for name in REQUEST_HEADERS {
            for value in parts.headers.get_all(name) {
                outgoing = outgoing.header(name, value.clone());
            }
        }
        let response = outgoing
            .body(body)
            .send()
            .await
            .map_err(|e| self.failure(leader_addr, &e))?;
        let mut answer = Response::builder().status(response.status());
        for name in RESPONSE_HEADERS {
            for value in response.headers().get_all(name) {
                answer = answer.header(name, value.clone());
            }
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| self.failure(leader_addr, &e))?;
        answer.body(body).map_err(|e| ForwardError::Failed {
            leader: leader_addr.to_string(),
            reason: format!("the leader's answer cannot be passed on: {e}"),
        })
    }

    /// What a failed exchange with the leader means for the write.
    fn failure(&self, leader: &str, error: &reqwest::Error) -> ForwardError {
        let leader = leader.to_string();
        let reason = super::raft_client::error_chain(error);
        if error.is_builder() {
            ForwardError::InvalidRequest { leader, reason }
        } else if error.is_connect() {
            ForwardError::Unreachable { leader, reason }
        } else if error.is_timeout() {
            ForwardError::TimedOut {
                leader,
                after: self.timeout,
            }
        } else {
            ForwardError::Failed { leader, reason }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::{FORWARDED_HEADER, ForwardError, was_forwarded};

    #[test]
    fn knows_a_forwarded_request() {
        let mut headers = HeaderMap::new();
        assert!(!was_forwarded(&headers));
        headers.insert(FORWARDED_HEADER, HeaderValue::from_static("1"));
        assert!(was_forwarded(&headers));
    }

    #[test]
    fn says_when_a_write_may_have_been_applied() {
        let leader = "127.0.0.1:1".to_string();
        assert!(!ForwardError::AlreadyForwarded.may_have_been_applied());
        let unreachable = ForwardError::Unreachable {
            leader: leader.clone(),
            reason: String::new(),
        };
        assert!(!unreachable.may_have_been_applied());
        let failed = ForwardError::Failed {
            leader,
            reason: String::new(),
        };
        assert!(failed.may_have_been_applied());
    }
}
