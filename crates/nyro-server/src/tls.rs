//! HTTPS and WSS with rustls (`server.tls_cert`, `server.tls_key`).
//!
//! With both keys set the server speaks TLS only: every accepted connection first completes a
//! TLS handshake (within the header read timeout), and a client that sends anything else,
//! plain HTTP included, is closed without an HTTP answer. HTTP/1.1 is the only protocol
//! offered (ALPN `http/1.1`); WebSocket upgrades run inside the TLS stream (WSS).
//!
//! Certificates are read at start, where any problem stops the server with a message naming
//! the file and what to do ([`TlsError`]), and again on SIGHUP ([`TlsReloader::reload`]): the
//! new certificate serves every handshake from then on, connections already open keep theirs,
//! and if the new files are bad the old certificate stays and the log says why. The crypto
//! provider is rustls' `ring`, named explicitly.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::config::ServerSettings;

/// Why the TLS certificate or key could not be used. Every message names the file (or the
/// key of `nyrodb.toml`) and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// One of `tls_cert` and `tls_key` is set, the other empty.
    #[error(
        "server.{set} is set but server.{missing} is empty: set both (PEM files of the \
         certificate chain and its private key) to serve HTTPS, or neither to serve plain HTTP"
    )]
    OnlyOne {
        /// The key that is set.
        set: &'static str,
        /// The key that is empty.
        missing: &'static str,
    },
    /// A file could not be read.
    #[error(
        "cannot read the TLS {what} file {} (server.tls_{key}): {source}; check the path and \
         that the server's user may read it",
        file.display()
    )]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// `cert` or `key`.
        key: &'static str,
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not PEM, or holds nothing of the expected kind.
    #[error(
        "the TLS {what} file {} (server.tls_{key}) {problem}; it must be PEM text with a \
         -----BEGIN {label}----- block",
        file.display()
    )]
    BadPem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// `cert` or `key`.
        key: &'static str,
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        problem: String,
        /// The PEM label expected.
        label: &'static str,
    },
    /// The key is of a kind rustls cannot sign with.
    #[error(
        "the TLS private key in {} (server.tls_key) cannot be used: {source}; use an RSA, \
         ECDSA (P-256, P-384) or Ed25519 key",
        file.display()
    )]
    UnusableKey {
        /// The key file.
        file: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// The key does not belong to the certificate.
    #[error(
        "the TLS private key {} does not match the certificate {} (its first certificate \
         must be the one the key signs for): {source}; give server.tls_key the key of \
         server.tls_cert",
        key.display(),
        cert.display()
    )]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// rustls refused the configuration (unexpected once the files are good).
    #[error("cannot set up TLS: {0}")]
    Config(#[source] rustls::Error),
}

/// The crypto provider every TLS configuration of NyroDB uses: rustls' `ring`.
///
/// Why `ring` and not `aws-lc-rs` (rustls' default): it builds with a C compiler alone, where
/// aws-lc-sys needs cmake, which this project's machines and CI do not have; reqwest's
/// rustls (the CLI and the tests) uses `ring` too, so one provider is built, not two.
/// rustls 0.23.48 deprecated it because it offers no post-quantum key exchange (X25519MLKEM768);
/// TLS 1.3 and 1.2 with X25519, P-256 and P-384 are what it serves.
#[allow(deprecated)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM certificate chain (its own certificate first).
pub fn read_certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |problem: String| TlsError::BadPem {
        what: "certificate",
        key: "cert",
        file: file.to_path_buf(),
        problem,
        label: "CERTIFICATE",
    };
    let bytes = read("certificate", "cert", file)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| bad(format!("is not valid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(bad("holds no certificate".to_owned()));
    }
    Ok(certs)
}

fn read(what: &'static str, key: &'static str, file: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(file).map_err(|source| TlsError::Read {
        what,
        key,
        file: file.to_path_buf(),
        source,
    })
}

/// Reads and checks a certificate chain and its private key.
fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = read_certificates(cert)?;
    let key_bytes = read("private key", "key", key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        let problem = match e {
            pem::Error::NoItemsFound => "holds no private key".to_owned(),
            e => format!("is not valid PEM ({e})"),
        };
        TlsError::BadPem {
            what: "private key",
            key: "key",
            file: key.to_path_buf(),
            problem,
            label: "PRIVATE KEY",
        }
    })?;
    let signing = provider()
        .key_provider
        .load_private_key(private)
        .map_err(|source| TlsError::UnusableKey {
            file: key.to_path_buf(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|source| TlsError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        })?;
    Ok(Arc::new(certified))
}

/// Hands every handshake the current certificate; [`TlsReloader::reload`] swaps it.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let current = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(Arc::clone(&current))
    }
}

/// The server's TLS: the acceptor for connections and the files it reloads from.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    reloader: TlsReloader,
}

/// Reloads the certificate and key from their files (on SIGHUP, or when a test asks).
#[derive(Clone, Debug)]
pub struct TlsReloader {
    cert: PathBuf,
    key: PathBuf,
    current: Arc<Current>,
}

impl TlsReloader {
    /// Reads the files again and, if they are good, serves the new certificate to every
    /// handshake from now on. If not, the old one stays and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load(&self.cert, &self.key)?;
        let mut current = self
            .current
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = fresh;
        Ok(())
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }
}

impl Tls {
    /// The TLS `settings` ask for: `None` when both `tls_cert` and `tls_key` are empty.
    pub fn from_settings(settings: &ServerSettings) -> Result<Option<Tls>, TlsError> {
        let (cert, key) = match (&settings.tls_cert, &settings.tls_key) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => {
                return Err(TlsError::OnlyOne {
                    set: "tls_cert",
                    missing: "tls_key",
                });
            }
            (None, Some(_)) => {
                return Err(TlsError::OnlyOne {
                    set: "tls_key",
                    missing: "tls_cert",
                });
            }
        };
        let current = Arc::new(Current(RwLock::new(load(cert, key)?)));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            reloader: TlsReloader {
                cert: cert.clone(),
                key: key.clone(),
                current,
            },
        }))
    }

    /// The acceptor that runs each connection's handshake.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// A handle that reloads the certificate.
    pub fn reloader(&self) -> TlsReloader {
        self.reloader.clone()
    }
}

/// Reloads the certificate on every SIGHUP until the task is aborted; a failed reload is
/// logged and the old certificate kept. Without TLS a SIGHUP is logged and changes nothing
/// (so `systemctl reload` never stops a server).
pub(crate) async fn reload_on_sighup(reloader: Option<TlsReloader>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(signal) => signal,
            Err(e) => {
                tracing::warn!(error = %e,
                    "cannot listen for SIGHUP; restart the server to load a new certificate");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            let Some(reloader) = &reloader else {
                tracing::info!("SIGHUP: no TLS certificate to reload (server.tls_cert is empty)");
                continue;
            };
            match reloader.reload() {
                Ok(()) => tracing::info!(cert = %reloader.cert.display(),
                    "SIGHUP: TLS certificate reloaded"),
                Err(e) => tracing::error!(error = %e,
                    "SIGHUP: TLS certificate not reloaded; still serving the previous one"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reloader;
    }
}
