//! The HTTP client every node-to-node call goes through, and whether it speaks TLS.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

use super::wire::NODE_HEADER;
use crate::NodeId;

/// How this node reaches its peers: plain HTTP, or HTTPS (when `server.tls_cert` is set,
/// every node serves HTTPS) trusting only the given certificate authorities.
#[derive(Clone, Debug, Default)]
pub enum PeerTls {
    /// `http://`.
    #[default]
    Plain,
    /// `https://`, trusting only the certificates of this PEM bundle (the cluster's CA, or
    /// the nodes' self-signed certificates); the system's roots are not trusted.
    Https {
        /// One or more PEM certificates.
        ca_pem: Vec<u8>,
    },
}

impl PeerTls {
    /// HTTPS trusting the certificates of `ca_pem` (the contents of a PEM file).
    pub fn https(ca_pem: impl Into<Vec<u8>>) -> Self {
        Self::Https {
            ca_pem: ca_pem.into(),
        }
    }

    /// `"http"` or `"https"`.
    pub(crate) fn scheme(&self) -> &'static str {
        match self {
            Self::Plain => "http",
            Self::Https { .. } => "https",
        }
    }
}

/// The transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The shared secret cannot be sent as an HTTP header value.
    #[error(
        "cluster.secret cannot be sent in an HTTP header (it must be printable ASCII, without \
         line breaks); choose another secret"
    )]
    InvalidSecret,
    /// The cluster's secret is empty.
    #[error("cluster.secret is empty; a cluster needs a shared secret (NYRODB_CLUSTER_SECRET)")]
    EmptySecret,
    /// The CA bundle holds no usable certificate.
    #[error(
        "the certificate authority PEM for node-to-node TLS holds no usable certificate: {reason}"
    )]
    BadCa {
        /// What was wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the node-to-node HTTP client: {reason}")]
    Client {
        /// What failed.
        reason: String,
    },
}

/// Longest wait for a TCP (and TLS) connection to a peer: a peer that does not accept one
/// in this time is treated as unreachable.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The [`crate::network::SECRET_HEADER`] value for `secret`, marked sensitive (never logged).
pub(crate) fn secret_header(secret: &str) -> Result<HeaderValue, TransportError> {
    if secret.is_empty() {
        return Err(TransportError::EmptySecret);
    }
    let mut value = HeaderValue::from_str(secret).map_err(|_| TransportError::InvalidSecret)?;
    value.set_sensitive(true);
    Ok(value)
}

/// A pooled client for node-to-node calls: no proxy, no redirects, no retries, connections
/// kept open between calls (one pool, keyed by peer). Every request it sends names `sender`
/// (this node's id) in [`NODE_HEADER`].
pub(crate) fn build_client(
    tls: &PeerTls,
    sender: NodeId,
) -> Result<reqwest::Client, TransportError> {
    let mut headers = HeaderMap::new();
    headers.insert(NODE_HEADER, HeaderValue::from(sender));
    let mut builder = reqwest::Client::builder()
        .default_headers(headers)
        .use_rustls_tls()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT);
    if let PeerTls::Https { ca_pem } = tls {
        let certs =
            reqwest::Certificate::from_pem_bundle(ca_pem).map_err(|e| TransportError::BadCa {
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(TransportError::BadCa {
                reason: "no PEM certificate found".to_string(),
            });
        }
        builder = builder.tls_built_in_root_certs(false).https_only(true);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| TransportError::Client {
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{PeerTls, TransportError, build_client, secret_header};

    #[test]
    fn refuses_a_secret_that_is_no_header_value() {
        assert!(matches!(
            secret_header(""),
            Err(TransportError::EmptySecret)
        ));
        assert!(matches!(
            secret_header("a\nb"),
            Err(TransportError::InvalidSecret)
        ));
        assert!(secret_header("s3cret").unwrap().is_sensitive());
    }

    #[test]
    fn refuses_a_ca_bundle_without_certificates() {
        let error = build_client(&PeerTls::https(b"not a certificate".to_vec()), 1).unwrap_err();
        assert!(matches!(error, TransportError::BadCa { .. }), "{error}");
    }

    #[test]
    fn names_its_scheme() {
        assert_eq!(PeerTls::Plain.scheme(), "http");
        assert_eq!(PeerTls::https(Vec::new()).scheme(), "https");
    }
}
