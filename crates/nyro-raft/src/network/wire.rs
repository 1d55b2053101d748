//! What both ends of a Raft RPC agree on: the routes, the headers, and the body's checksum.

use axum::http::{HeaderMap, HeaderValue};

/// The route of AppendEntries (heartbeats included).
pub const APPEND_PATH: &str = "/internal/raft/append";
/// The route of RequestVote.
pub const VOTE_PATH: &str = "/internal/raft/vote";
/// The route of InstallSnapshot: one chunk per request.
pub const SNAPSHOT_PATH: &str = "/internal/raft/snapshot";

/// The route a follower asks the leader's read index on (for a linearizable read): the
/// leader's commit index once a heartbeat round confirmed it still leads.
pub const READ_INDEX_PATH: &str = "/internal/raft/read-index";

/// The header carrying the cluster's shared secret (`cluster.secret`).
pub const SECRET_HEADER: &str = "x-nyrodb-secret";
/// The header naming the node that sends a request (its node id, in decimal), on every
/// node-to-node request: Raft RPCs, read-index calls and forwarded writes. Nothing checks
/// it (the secret is what admits a caller); it names the sender in logs, and lets a
/// fault-injecting proxy tell which link a connection belongs to.
pub const NODE_HEADER: &str = "x-nyrodb-node";
/// The header carrying the CRC-32C of the body, as 8 lowercase hex digits; set on requests
/// and on 200 answers.
pub const CRC_HEADER: &str = "x-nyrodb-crc32c";

/// The content type of encoded bodies.
pub(crate) const OCTET_STREAM: &str = "application/octet-stream";

/// The [`CRC_HEADER`] value for `body`.
pub fn crc_value(body: &[u8]) -> HeaderValue {
    let text = format!("{:08x}", crc32c::crc32c(body));
    // Eight hex digits are always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("00000000"))
}

/// Why a body's checksum was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CrcProblem {
    /// No [`CRC_HEADER`].
    #[error("the {CRC_HEADER} header is missing")]
    Missing,
    /// The header is not 8 hex digits.
    #[error("the {CRC_HEADER} header is not 8 hex digits")]
    Malformed,
    /// The body does not match it.
    #[error(
        "the body ({len} bytes) does not match its CRC-32C ({expected:08x} given, {actual:08x} computed): it was damaged in transit"
    )]
    Mismatch {
        /// Bytes received.
        len: usize,
        /// The checksum the sender computed.
        expected: u32,
        /// The checksum of what arrived.
        actual: u32,
    },
}

/// Checks `body` against the [`CRC_HEADER`] in `headers`.
pub(crate) fn check_crc(headers: &HeaderMap, body: &[u8]) -> Result<(), CrcProblem> {
    let value = headers.get(CRC_HEADER).ok_or(CrcProblem::Missing)?;
    let text = value.to_str().map_err(|_| CrcProblem::Malformed)?;
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CrcProblem::Malformed);
    }
    let expected = u32::from_str_radix(text, 16).map_err(|_| CrcProblem::Malformed)?;
    let actual = crc32c::crc32c(body);
    if expected == actual {
        Ok(())
    } else {
        Err(CrcProblem::Mismatch {
            len: body.len(),
            expected,
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::HeaderMap;

    use super::{CRC_HEADER, CrcProblem, check_crc, crc_value};

    fn with_crc(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CRC_HEADER, value.parse().unwrap());
        headers
    }

    #[test]
    fn accepts_the_body_it_was_computed_for() {
        let mut headers = HeaderMap::new();
        headers.insert(CRC_HEADER, crc_value(b"chunk"));
        assert_eq!(check_crc(&headers, b"chunk"), Ok(()));
        assert!(matches!(
            check_crc(&headers, b"chunK"),
            Err(CrcProblem::Mismatch { len: 5, .. })
        ));
    }

    #[test]
    fn refuses_a_missing_or_malformed_header() {
        assert_eq!(check_crc(&HeaderMap::new(), b""), Err(CrcProblem::Missing));
        assert_eq!(check_crc(&with_crc("abc"), b""), Err(CrcProblem::Malformed));
        assert_eq!(
            check_crc(&with_crc("zzzzzzzz"), b""),
            Err(CrcProblem::Malformed)
        );
        assert_eq!(
            check_crc(&with_crc("+0000000"), b""),
            Err(CrcProblem::Malformed)
        );
    }
}
