//! Running the server: open the database, bind, serve until a shutdown signal, then stop
//! accepting, finish in-flight requests, drain the writer, fsync and release the directory.
//!
//! Connections are served by hyper's HTTP/1.1 server directly (not `axum::serve`, which sets
//! no timer and so no header read timeout), with these limits ([`ConnectionLimits`]):
//!
//! - a client must send a request's head (request line and headers) within
//!   [`HEADER_READ_TIMEOUT`] of starting it, and an idle keep-alive connection is closed after
//!   that long: a client that sends its headers slowly, or never, holds a connection for that
//!   long at most (slowloris);
//! - a request body must arrive within [`BODY_TIMEOUT`] (408, see `extract::read_body`);
//! - at most [`MAX_CONNECTIONS`] connections are served at once. Past it, up to
//!   [`MAX_REFUSING`] more are each answered one 503 `overloaded` (with `Retry-After`) and
//!   closed; past that, new connections are closed at once. Either way, memory and tasks
//!   stay bounded however many connections clients open.
//!
//! With `server.tls_cert` and `server.tls_key` set ([`crate::tls`]), each connection first
//! completes a TLS handshake within [`HEADER_READ_TIMEOUT`] in its own task, then is served
//! the same way over the TLS stream; a connection that is not TLS is closed without an answer.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use nyro_core::{Database, DbError, OpenOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_util::either::Either;

use crate::app::{AppState, build_router};
use crate::cluster::ClusterHandle;
use crate::config::ServerConfig;
use crate::error::{ApiError, ErrorCode};
pub use crate::extract::BODY_TIMEOUT;
use crate::tls::{Tls, TlsError, TlsReloader};

/// Most connections served at once (see the module docs for what happens past it).
pub const MAX_CONNECTIONS: usize = 4096;
/// Connections past [`MAX_CONNECTIONS`] that are still answered 503 `overloaded` (the rest
/// are closed at once).
pub const MAX_REFUSING: usize = 256;
/// How long a client may take to send a request's head, and how long an idle keep-alive
/// connection is kept open.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The limits a server puts on its connections; [`Default`] gives the documented constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Connections past `max_connections` answered 503 before the rest are closed at once.
    pub max_refusing: usize,
    /// Longest time to receive a request's head; also the keep-alive idle timeout.
    pub header_read_timeout: Duration,
    /// Longest time to receive a request's body (then 408).
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            max_refusing: MAX_REFUSING,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
        }
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or closed cleanly.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another server using it? set server.listen)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Serving failed.
    #[error("the server stopped with an error: {0}")]
    Serve(#[source] std::io::Error),
    /// The cluster node could not start.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::StartError),
}

/// A server bound to its address, not yet serving.
pub struct Server {
    listener: TcpListener,
    db: Database,
    /// The cluster node, with `[cluster]` (`db` is its database).
    cluster: Option<ClusterHandle>,
    config: ServerConfig,
    limits: ConnectionLimits,
    tls: Option<Tls>,
}

impl Server {
    /// Opens the database and binds `config.server.listen` (port 0 picks a free port).
    pub async fn bind(config: ServerConfig) -> Result<Self, ServeError> {
        Self::bind_with(config, OpenOptions::default()).await
    }

    /// Like [`Server::bind`], with options for opening the database (tests inject I/O faults
    /// this way).
    ///
    /// TLS files are read first: a bad certificate or key stops here, before the data
    /// directory is opened.
    pub async fn bind_with(config: ServerConfig, options: OpenOptions) -> Result<Self, ServeError> {
        let tls = Tls::from_settings(&config.server)?;
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let (db, cluster) = if config.cluster.is_cluster() {
            let handle = ClusterHandle::start(&config, options).await?;
            (handle.node.database().clone(), Some(handle))
        } else {
            (Database::open_with(&config.db, options).await?, None)
        };
        Ok(Self {
            listener,
            db,
            cluster,
            config,
            limits: ConnectionLimits::default(),
            tls,
        })
    }

    /// Replaces the connection limits (the defaults are the documented constants).
    pub fn with_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether it speaks HTTPS and WSS (`server.tls_cert` and `tls_key` are set).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A handle that reloads the TLS certificate and key from their files, as SIGHUP does;
    /// `None` without TLS.
    pub fn tls_reloader(&self) -> Option<TlsReloader> {
        self.tls.as_ref().map(Tls::reloader)
    }

    /// The database it serves.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and closes the
    /// database (everything queued written and fdatasync'ed, the directory released).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let addr = self.local_addr().map_err(ServeError::Serve)?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!(%addr, scheme, data = %self.config.db.storage.path.display(),
            sync = %self.config.db.batch.sync, "nyrodb listening");
        // Certificates are reloaded on SIGHUP while the server runs.
        let reloading = tokio::spawn(crate::tls::reload_on_sighup(
            self.tls.as_ref().map(Tls::reloader),
        ));
        let mut state = match &self.cluster {
            Some(cluster) => AppState::for_cluster(cluster.clone(), &self.config),
            None => AppState::new(self.db.clone(), &self.config),
        };
        state.fields_mut().body_timeout = self.limits.body_timeout;
        let feeds = Arc::clone(&state.feeds);
        let router = build_router(state);
        serve(self.listener, router, self.limits, self.tls, shutdown).await;
        reloading.abort();
        // Upgraded WebSocket connections are not waited for by graceful shutdown: close them
        // with 1001 so clients know to resume with `since`.
        feeds.close_all(Duration::from_secs(5)).await;
        tracing::info!("no more requests in flight; closing the database");
        match self.cluster {
            Some(cluster) => {
                if let Err(e) = cluster.node.shutdown().await {
                    tracing::warn!(error = %e, "the cluster node did not stop cleanly");
                }
            }
            None => self.db.close().await?,
        }
        tracing::info!("database closed");
        Ok(())
    }
}

/// Accepts connections until `shutdown`, then stops accepting, tells every connection to
/// finish its request in flight and close, and waits until they have.
async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let serving = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(limits.max_refusing));
    // Every connection task holds a receiver: `closed()` completes when all are gone.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        if let Ok(permit) = Arc::clone(&serving).try_acquire_owned() {
            let service = TowerToHyperService::new(router.clone());
            let builder = builder.clone();
            let tls = tls.clone();
            let mut stop = stop_rx.clone();
            let timeout = limits.header_read_timeout;
            tokio::spawn(async move {
                if let Some(io) = open_stream(tls.as_ref(), stream, peer, timeout, &mut stop).await
                {
                    serve_connection(&builder, io, service, stop, peer).await;
                }
                drop(permit);
            });
        } else if let Ok(permit) = Arc::clone(&refusing).try_acquire_owned() {
            tracing::warn!(%peer, limit = limits.max_connections,
                "connection limit reached; answering 503");
            let mut refuse = builder.clone();
            refuse.keep_alive(false);
            let limit = limits.max_connections;
            let service =
                hyper::service::service_fn(move |_request: hyper::Request<Incoming>| async move {
                    Ok::<_, Infallible>(overloaded(limit))
                });
            let tls = tls.clone();
            let mut stop = stop_rx.clone();
            let timeout = limits.header_read_timeout;
            tokio::spawn(async move {
                if let Some(io) = open_stream(tls.as_ref(), stream, peer, timeout, &mut stop).await
                {
                    let conn = refuse.serve_connection(TokioIo::new(io), service);
                    log_connection_end(peer, conn.await);
                }
                drop(stop);
                drop(permit);
            });
        } else {
            tracing::warn!(%peer, "connection limit reached; closing the connection at once");
            drop::<TcpStream>(stream);
        }
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(true);
    stop_tx.closed().await;
}

/// A connection's byte stream: plain TCP, or TLS once its handshake completed.
type Io = Either<TcpStream, Box<tokio_rustls::server::TlsStream<TcpStream>>>;

/// The stream to serve HTTP on: `stream` itself without TLS; with TLS, the stream after a
/// handshake completed within `timeout`. `None` (the connection is closed without an HTTP
/// answer) when the client does not speak TLS, fails the handshake, takes too long, or the
/// server is stopping.
async fn open_stream(
    tls: Option<&Tls>,
    stream: TcpStream,
    peer: SocketAddr,
    timeout: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Option<Io> {
    let Some(tls) = tls else {
        return Some(Either::Left(stream));
    };
    let handshake = tokio::time::timeout(timeout, tls.acceptor().accept(stream));
    tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => Some(Either::Right(Box::new(stream))),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed; connection closed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "no TLS handshake in time; connection closed");
                None
            }
        },
        _ = stop.wait_for(|stop| *stop) => None,
    }
}

/// Serves one connection until it ends, or, once `stop` says so, until its request in flight
/// is answered.
async fn serve_connection(
    builder: &hyper::server::conn::http1::Builder,
    io: Io,
    service: TowerToHyperService<axum::Router>,
    mut stop: watch::Receiver<bool>,
    peer: SocketAddr,
) {
    {
        let conn = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let stopping = async {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        tokio::select! {
            result = conn.as_mut() => log_connection_end(peer, result),
            () = stopping => {
                conn.as_mut().graceful_shutdown();
                log_connection_end(peer, conn.await);
            }
        }
    }
    // The connection (and with it its clone of the router, which holds the database) is
    // dropped above, before `stop` tells `serve` this connection is done: once `serve`
    // returns, closing the database releases the directory at once (a restart after a
    // shutdown found it locked).
    drop(stop);
}

fn overloaded(limit: usize) -> axum::response::Response {
    axum::response::IntoResponse::into_response(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Overloaded,
        format!("the server is at its limit of {limit} connections; retry shortly"),
    ))
}

fn log_connection_end(peer: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        if e.is_timeout() {
            tracing::debug!(%peer, "closing a connection that sent no request head in time");
        } else {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// After a failed `accept`: a connection that was reset before it was accepted is nothing;
/// anything else (such as running out of file descriptors) is logged and waited out briefly,
/// as `axum::serve` does, instead of spinning.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
