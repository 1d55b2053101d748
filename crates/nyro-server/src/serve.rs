//! Running the server: open the database, bind, serve until a shutdown signal, then stop
//! accepting, finish in-flight requests, drain the writer, fsync and release the directory.

use std::future::Future;
use std::net::SocketAddr;

use nyro_core::{Config, Database, DbError};
use tokio::net::TcpListener;

use crate::app::{AppState, build_router};

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
    /// Serving failed.
    #[error("the server stopped with an error: {0}")]
    Serve(#[source] std::io::Error),
}

/// A server bound to its address, not yet serving.
pub struct Server {
    listener: TcpListener,
    db: Database,
    config: Config,
}

impl Server {
    /// Opens the database and binds `config.server.listen` (port 0 picks a free port).
    pub async fn bind(config: Config) -> Result<Self, ServeError> {
        let db = Database::open(&config).await?;
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self {
            listener,
            db,
            config,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
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
        tracing::info!(%addr, data = %self.config.storage.path.display(),
            sync = %self.config.batch.sync, "nyrodb listening");
        let state = AppState::new(self.db.clone(), &self.config);
        let feeds = std::sync::Arc::clone(&state.feeds);
        let router = build_router(state);
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServeError::Serve)?;
        // Upgraded WebSocket connections are not waited for by graceful shutdown: close them
        // with 1001 so clients know to resume with `since`.
        feeds.close_all(std::time::Duration::from_secs(5)).await;
        tracing::info!("no more requests in flight; closing the database");
        self.db.close().await?;
        tracing::info!("database closed");
        Ok(())
    }
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
