//! The small HTTP client of the client commands: one request, the server's JSON answer as
//! text on success, and the message of its `{"error": {"code", "message"}}` body otherwise.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use rustls::pki_types::CertificateDer;

use crate::cli::{AccessArgs, ClientArgs, DEFAULT_URL};

/// Longest wait for a TCP connection to the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a whole answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// An error answer of the server: its status, code and message.
#[derive(Debug)]
pub struct ServerError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The contract's error code, if the body had one.
    pub code: Option<String>,
    /// The message for people.
    pub message: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(
                f,
                "{} (HTTP {}, {code})",
                self.message,
                self.status.as_u16()
            ),
            None => write!(f, "{} (HTTP {})", self.message, self.status.as_u16()),
        }
    }
}

impl std::error::Error for ServerError {}

impl ServerError {
    /// Reads an error answer: the contract's error body, or else the status and the text.
    pub fn from_answer(status: StatusCode, body: &[u8]) -> Self {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let message = error
            .and_then(|e| e.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_string);
        let code = error
            .and_then(|e| e.get("code"))
            .and_then(|c| c.as_str())
            .map(str::to_string);
        let message = message.unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("the server answered {status} with no message; is --url a NyroDB server?")
            } else {
                let short: String = text.chars().take(300).collect();
                format!("the server answered {status}: {short}")
            }
        });
        Self {
            status,
            code,
            message,
        }
    }
}

/// Percent-encodes one path segment (a collection name), so that whatever the user typed
/// reaches the server as one segment and gets the server's own answer (`invalid_name`).
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The route of one record, `/v1/collections/{collection}/records/{id}`, with
/// `?sync=true` when `sync` asks for it.
pub fn record_path(collection: &str, id: u64, sync: bool) -> String {
    let path = format!("/v1/collections/{}/records/{id}", segment(collection));
    if sync { path + "?sync=true" } else { path }
}

/// A client for the server at one base URL.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// For an https:// URL: the TLS settings of the change feed's WebSocket (wss://).
    tls: Option<Arc<rustls::ClientConfig>>,
}

/// Reads `--ca-cert`: a PEM file with one or more certificates.
fn read_ca_certs(file: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let what = || format!("--ca-cert / NYRODB_CA_CERT {}", file.display());
    let bytes = std::fs::read(file)
        .with_context(|| format!("cannot read the CA certificate file ({})", what()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not PEM certificate text", what()))?;
    if certs.is_empty() {
        bail!(
            "{} holds no certificate; give it the server's certificate (or its CA's) as PEM, \
             -----BEGIN CERTIFICATE-----",
            what()
        );
    }
    Ok(certs)
}

/// The TLS settings of a WebSocket to an https:// server: the public certificate
/// authorities and the `--ca-cert` certificates.
fn websocket_tls(extra: &[CertificateDer<'static>]) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots
            .add(cert.clone())
            .context("a --ca-cert certificate cannot be used as a trust anchor")?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(nyro_server::tls::provider())
            .with_safe_default_protocol_versions()
            .context("cannot set up TLS")?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

impl Client {
    /// Checks the URL and builds the client.
    pub fn new(url: &str, access: &AccessArgs) -> anyhow::Result<Self> {
        Self::with_timeout(url, access, REQUEST_TIMEOUT)
    }

    /// [`Client::new`] with another limit on each request's time.
    pub fn with_timeout(url: &str, access: &AccessArgs, timeout: Duration) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(url)
            .with_context(|| format!("{url:?} is not a URL; write it like {DEFAULT_URL}"))?;
        let https = match parsed.scheme() {
            "http" => false,
            "https" => true,
            other => bail!("{url}: the scheme {other:?} is not supported; use http:// or https://"),
        };
        if parsed.query().is_some() || parsed.fragment().is_some() {
            bail!(
                "{url}: the server URL takes no ?query or #fragment; write it like {DEFAULT_URL}"
            );
        }
        let extra = match &access.ca_cert {
            Some(file) => read_ca_certs(file)?,
            None => Vec::new(),
        };
        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout);
        for cert in &extra {
            let cert = reqwest::Certificate::from_der(cert)
                .context("a --ca-cert certificate cannot be used")?;
            http = http.add_root_certificate(cert);
        }
        let http = http.build().context("cannot set up the HTTP client")?;
        let tls = if https {
            Some(Arc::new(websocket_tls(&extra)?))
        } else {
            None
        };
        Ok(Self {
            http,
            base: url.trim_end_matches('/').to_string(),
            token: access
                .token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            tls,
        })
    }

    /// The client of the `--url`, `--token` and `--ca-cert` of a client command.
    pub fn from_args(args: &ClientArgs) -> anyhow::Result<Self> {
        Self::new(&args.url, &args.access)
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The bearer token, if one was given.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The TLS settings for the WebSocket of an https:// server; `None` for http://.
    pub fn websocket_tls(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.tls.clone()
    }

    /// The WebSocket URL of `path` (which starts with '/'): ws:// for http://, wss:// for
    /// https://.
    pub fn ws_url(&self, path: &str) -> String {
        match self.base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}{path}"),
            None => {
                let rest = self.base.strip_prefix("http://").unwrap_or(&self.base);
                format!("ws://{rest}{path}")
            }
        }
    }

    /// Sends one request; `path` starts with '/' and may carry a query. Returns the body of a
    /// 2xx answer as text (empty for 204), or a [`ServerError`] for an error answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let answer = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = answer.status();
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))
            .with_context(|| format!("reading the answer to {method} {url} failed"))?;
        if !status.is_success() {
            return Err(ServerError::from_answer(status, &bytes).into());
        }
        String::from_utf8(bytes.to_vec())
            .with_context(|| format!("the answer to {method} {url} is not UTF-8 text"))
    }

    /// What to say when the server cannot be reached (or, over TLS, not trusted).
    pub fn unreachable(&self) -> String {
        if self.tls.is_some() {
            format!(
                "cannot reach the NyroDB server at {} over TLS; is `nyrodb serve` running \
                 there with server.tls_cert set? If its certificate is self-signed or from a \
                 private CA, trust it with --ca-cert FILE (or NYRODB_CA_CERT)",
                self.base
            )
        } else {
            format!(
                "cannot reach the NyroDB server at {}; is `nyrodb serve` running there? \
                 Pass its address with --url or NYRODB_URL (https:// for a server with \
                 server.tls_cert set)",
                self.base
            )
        }
    }

    fn transport_error(&self, error: reqwest::Error) -> anyhow::Error {
        let hint = if error.is_timeout() {
            format!(
                "the NyroDB server at {} did not answer in time; is it overloaded or stuck?",
                self.base
            )
        } else if error.is_connect() {
            self.unreachable()
        } else if self.tls.is_none() {
            format!(
                "the request to the NyroDB server at {} failed (a server with server.tls_cert \
                 set speaks only TLS: use an https:// URL for it)",
                self.base
            )
        } else {
            format!("the request to the NyroDB server at {} failed", self.base)
        };
        anyhow::Error::new(error).context(hint)
    }
}

/// Runs one request of a client command on a fresh runtime and returns the answer's text.
pub fn call(
    args: &ClientArgs,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> anyhow::Result<String> {
    let client = Client::from_args(args)?;
    crate::offline::runtime()?.block_on(client.send(method, path, body))
}

/// The JSON argument of `insert` and `put`: the text given, or standard input for `-`.
pub fn json_argument(raw: &str) -> anyhow::Result<Vec<u8>> {
    if raw == "-" {
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut body)
            .context("cannot read the document from standard input")?;
        Ok(body)
    } else {
        Ok(raw.as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("users_1-a"), "users_1-a");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn error_bodies_give_their_message() {
        let e = ServerError::from_answer(
            StatusCode::NOT_FOUND,
            br#"{"error":{"code":"not_found","message":"no document"}}"#,
        );
        assert_eq!(e.message, "no document");
        assert_eq!(e.to_string(), "no document (HTTP 404, not_found)");
        let e = ServerError::from_answer(StatusCode::BAD_GATEWAY, b"proxy down");
        assert!(e.message.contains("proxy down"));
    }
}
