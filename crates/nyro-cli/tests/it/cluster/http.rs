//! The user API as the tests speak it: one request to one node, its status and JSON body;
//! and a change feed consumer over WebSocket.

use std::fmt;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// Longest a request may go unanswered. Contract section 7: any request to a running node
/// is answered within 2 x election_timeout_ms plus a few seconds (1 s + a few here).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer: its status and its body (JSON; `null` when empty; a string when not JSON).
#[derive(Clone, Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
}

impl Reply {
    /// The error body's `code`, if it has one.
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    /// A 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body, once the status is `status`; else a panic naming `what` and the answer.
    pub fn expect(self, status: u16, what: &str) -> Value {
        assert_eq!(self.status, status, "{what}: expected {status}, got {self}");
        self.body
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// An error and its causes, on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// An HTTP client (one connection pool) with a timeout per request, no proxy and no auth.
#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    /// A client whose requests give up after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .unwrap();
        Self { client }
    }

    /// The client itself, for a request the other methods cannot make (custom headers).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `method url` with `body` as JSON; the answer, or why there is none (refused, timed
    /// out, cut), naming the request.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let mut request = self.client.request(method.clone(), url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let failed = |e: reqwest::Error| format!("{method} {url}: {}", describe(&e));
        let response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(failed)?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply { status, body })
    }
}

/// Where a feed consumer stops.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// At the first event whose seq is this or more (included).
    Seq(u64),
    /// After this many events.
    Count(usize),
}

impl Until {
    fn reached(self, events: &[Value], seq: u64) -> bool {
        match self {
            Until::Seq(until) => seq >= until,
            Until::Count(count) => events.len() >= count,
        }
    }
}

/// Why a feed consumer stopped short.
#[derive(Debug)]
pub struct FeedError {
    /// What happened, naming the node's feed URL.
    pub message: String,
    /// The close frame's code and reason, if the node closed the feed.
    pub close: Option<(u16, String)>,
}

impl FeedError {
    fn other(message: String) -> Self {
        Self {
            message,
            close: None,
        }
    }

    /// The seq up to which changes may have been compacted away, if the node refused a
    /// replay for that (close code 4001, "history compacted: changes up to seq N ...").
    pub fn compacted_floor(&self) -> Option<u64> {
        let (code, reason) = self.close.as_ref()?;
        let after = reason.split("up to seq ").nth(1)?;
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        (*code == 4001).then_some(digits.parse().ok()?)
    }
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The change feed of every collection on the node at `base_url`, from `since`, up to
/// `until` (nothing when `since` is already there). An error names the node and what went
/// wrong: a close frame (its code and reason), the connection, or `until` not reached within
/// `timeout`.
pub async fn read_feed(
    base_url: &str,
    since: u64,
    until: Until,
    timeout: Duration,
) -> Result<Vec<Value>, FeedError> {
    let mut events = Vec::new();
    if matches!(until, Until::Seq(seq) if since >= seq) || matches!(until, Until::Count(0)) {
        return Ok(events);
    }
    let url = format!(
        "{}/v1/changes?since={since}",
        base_url.replacen("http://", "ws://", 1)
    );
    let deadline = Instant::now() + timeout;
    let read = async {
        let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .map_err(|e| FeedError::other(format!("connecting to {url}: {}", describe(&e))))?;
        while let Some(message) = socket.next().await {
            let message = message
                .map_err(|e| FeedError::other(format!("reading {url}: {}", describe(&e))))?;
            match message {
                Message::Text(text) => {
                    let event: Value = serde_json::from_str(&text).map_err(|e| {
                        FeedError::other(format!(
                            "{url} sent a change that is not JSON ({e}): {text}"
                        ))
                    })?;
                    let seq = event["seq"].as_u64().ok_or_else(|| {
                        FeedError::other(format!("{url} sent a change without a seq: {event}"))
                    })?;
                    events.push(event);
                    if until.reached(&events, seq) {
                        let _ = socket.close(None).await;
                        return Ok(());
                    }
                }
                Message::Close(frame) => {
                    let close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    return Err(FeedError {
                        message: format!("{url} closed the feed before {until:?}: {close:?}"),
                        close,
                    });
                }
                _ => {}
            }
        }
        Err(FeedError::other(format!(
            "{url} ended the feed before {until:?}"
        )))
    };
    match tokio::time::timeout_at(deadline.into(), read).await {
        Ok(Ok(())) => Ok(events),
        Ok(Err(mut e)) => {
            e.message
                .push_str(&format!(" (after {} events)", events.len()));
            Err(e)
        }
        Err(_) => Err(FeedError::other(format!(
            "{url}: {until:?} not reached within {timeout:?}; the last of {} events was {}",
            events.len(),
            events.last().map_or("none".to_string(), Value::to_string)
        ))),
    }
}
