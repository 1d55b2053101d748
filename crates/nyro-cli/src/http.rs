//! The small HTTP client of the client commands: one request, the server's JSON answer as
//! text on success, and the message of its `{"error": {"code", "message"}}` body otherwise.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};

use crate::cli::{ClientArgs, DEFAULT_URL};

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

/// A client for the server at one base URL.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// Checks the URL and builds the client.
    pub fn new(url: &str, token: Option<&str>) -> anyhow::Result<Self> {
        Self::with_timeout(url, token, REQUEST_TIMEOUT)
    }

    /// [`Client::new`] with another limit on each request's time.
    pub fn with_timeout(url: &str, token: Option<&str>, timeout: Duration) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(url)
            .with_context(|| format!("{url:?} is not a URL; write it like {DEFAULT_URL}"))?;
        match parsed.scheme() {
            "http" => {}
            "https" => bail!(
                "{url}: this build of nyrodb speaks plain HTTP only (the server does too); \
                 use an http:// URL, e.g. through an SSH tunnel or a TLS proxy on your side"
            ),
            other => bail!("{url}: the scheme {other:?} is not supported; use http://"),
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            bail!(
                "{url}: the server URL takes no ?query or #fragment; write it like {DEFAULT_URL}"
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self {
            http,
            base: url.trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()).map(str::to_string),
        })
    }

    /// The client of the `--url` and `--token` of a client command.
    pub fn from_args(args: &ClientArgs) -> anyhow::Result<Self> {
        Self::new(&args.url, args.token.as_deref())
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The bearer token, if one was given.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The WebSocket URL of `path` (which starts with '/').
    pub fn ws_url(&self, path: &str) -> String {
        let rest = self.base.strip_prefix("http://").unwrap_or(&self.base);
        format!("ws://{rest}{path}")
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

    fn transport_error(&self, error: reqwest::Error) -> anyhow::Error {
        let hint = if error.is_timeout() {
            format!(
                "the NyroDB server at {} did not answer in time; is it overloaded or stuck?",
                self.base
            )
        } else if error.is_connect() {
            format!(
                "cannot reach the NyroDB server at {}; is `nyrodb serve` running there? \
                 Pass its address with --url or NYRODB_URL",
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
