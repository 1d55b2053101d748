//! The transport over HTTPS (`server.tls_cert` set): an RPC and a forwarded write reach a
//! node that serves TLS with a certificate the client trusts; a client trusting another
//! certificate, or speaking plain HTTP, does not get through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use nyro_raft::network::{Forwarder, HttpConnection, HttpNetworkFactory, PeerTls, internal_routes};
use nyro_raft::{NodeId, TypeConfig};
use openraft::error::RPCError;
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::VoteRequest;
use openraft::{BasicNode, Vote};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::support::{MAX_BODY, SECRET, Serving, TestNode, WAIT, serve_on};

/// A self-signed certificate for 127.0.0.1: its PEM, and the server side of it (with
/// rustls' `ring` provider, NyroDB's, deprecated only for lacking post-quantum key exchange;
/// see nyro-server's `tls::provider`).
#[allow(deprecated)]
fn certificate() -> (String, Arc<rustls::ServerConfig>) {
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    (cert.pem(), Arc::new(config))
}

/// A loopback listener that completes a TLS handshake on each connection.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(Ok(tls)) = tokio::time::timeout(WAIT, self.acceptor.accept(tcp)).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A server of `router` over TLS, stopped when dropped.
async fn serve_tls(router: Router, config: Arc<rustls::ServerConfig>) -> Serving {
    let listener = TlsListener {
        tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        acceptor: TlsAcceptor::from(config),
    };
    serve_on(listener, router)
}

async fn connection(tls: &PeerTls, addr: SocketAddr) -> HttpConnection {
    let mut factory = HttpNetworkFactory::new(2, SECRET, tls).unwrap();
    let node = BasicNode {
        addr: addr.to_string(),
    };
    RaftNetworkFactory::<TypeConfig>::new_client(&mut factory, 1, &node).await
}

#[tokio::test]
async fn rpcs_go_over_https_to_a_trusted_certificate_only() {
    let node = TestNode::start(1).await;
    let (pem, config) = certificate();
    let server = serve_tls(internal_routes(node.raft.clone(), SECRET, MAX_BODY), config).await;
    let rpc = VoteRequest::<NodeId>::new(Vote::new(1, 2), None);
    let option = RPCOption::new(Duration::from_secs(10));

    let mut trusted = connection(&PeerTls::https(pem.as_bytes()), server.addr).await;
    let answer = trusted.vote(rpc.clone(), option.clone()).await.unwrap();
    assert!(answer.vote_granted, "{answer:?}");

    let (other_pem, _) = certificate();
    let mut untrusted = connection(&PeerTls::https(other_pem.as_bytes()), server.addr).await;
    let error = untrusted
        .vote(rpc.clone(), option.clone())
        .await
        .unwrap_err();
    assert!(matches!(error, RPCError::Unreachable(_)), "{error}");

    let mut plain = connection(&PeerTls::Plain, server.addr).await;
    assert!(plain.vote(rpc, option).await.is_err());
    node.raft.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_write_is_forwarded_over_https() {
    let (pem, config) = certificate();
    let router = Router::new().route(
        "/v1/collections/c/records",
        post(|body: Bytes| async move { (StatusCode::CREATED, body) }),
    );
    let leader = serve_tls(router, config).await;
    let forwarder = Forwarder::new(2, &PeerTls::https(pem.as_bytes()), WAIT).unwrap();
    let request = axum::http::Request::post("/v1/collections/c/records")
        .body(Bytes::from_static(b"{\"a\":1}"))
        .unwrap();
    let answer = forwarder
        .forward(&leader.addr.to_string(), request)
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    assert_eq!(answer.body().as_ref(), b"{\"a\":1}");
}
