//! `nyrodb watch [C] [--since SEQ]`: the change feed over WebSocket, one JSON per line on
//! stdout (flushed per change), until Ctrl-C (exit 0), `--count` changes (exit 0), or the
//! server cutting the feed (the reason on stderr with the seq to resume from, exit 1).

use std::io::Write;

use anyhow::{Context, anyhow};
use futures_util::StreamExt;
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::cli::WatchArgs;
use crate::http::{CONNECT_TIMEOUT, Client, ServerError, segment};
use crate::offline::runtime;

/// The server's close code for "fell behind; resume with since".
const CLOSE_LAGGED: u16 = 4000;

/// Follows the feed.
pub fn run(args: WatchArgs) -> anyhow::Result<()> {
    let client = Client::from_args(&args.client)?;
    let mut path = match &args.collection {
        Some(name) => format!("/v1/collections/{}/changes", segment(name)),
        None => "/v1/changes".to_string(),
    };
    if let Some(since) = args.since {
        path.push_str(&format!("?since={since}"));
    }
    let url = client.ws_url(&path);
    runtime()?.block_on(follow(&client, &url, &args))
}

/// How to resume after the last change printed.
fn resume_hint(last_seq: Option<u64>) -> String {
    match last_seq {
        Some(seq) => format!("the last change printed was seq {seq}: resume with --since {seq}"),
        None => "no change was printed".to_string(),
    }
}

async fn follow(client: &Client, url: &str, args: &WatchArgs) -> anyhow::Result<()> {
    let mut request = url
        .into_client_request()
        .with_context(|| format!("{url} is not a valid WebSocket URL; check --url"))?;
    if let Some(token) = client.token() {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token holds characters that cannot go in an HTTP header")?;
        request
            .headers_mut()
            .insert(tungstenite::http::header::AUTHORIZATION, value);
    }
    let connector = client
        .websocket_tls()
        .map(tokio_tungstenite::Connector::Rustls);
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector);
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| {
            anyhow!(
                "the NyroDB server at {} did not accept the change feed within {} s",
                client.base(),
                CONNECT_TIMEOUT.as_secs()
            )
        })?;
    let (mut socket, _) = connected.map_err(|e| connect_error(client, e))?;

    let mut stdout = std::io::stdout().lock();
    let mut printed = 0u64;
    let mut last_seq = None;
    if args.count == Some(0) {
        let _ = socket.close(None).await;
        return Ok(());
    }
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => {
                let _ = socket.close(None).await;
                return Ok(());
            }
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    writeln!(stdout, "{}", text.as_str())?;
                    stdout.flush()?;
                    if let Some(seq) = serde_json::from_str::<serde_json::Value>(text.as_str())
                        .ok()
                        .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64))
                    {
                        last_seq = Some(seq);
                    }
                    printed += 1;
                    if args.count.is_some_and(|count| printed >= count) {
                        let _ = socket.close(None).await;
                        return Ok(());
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.as_str().to_string()))
                        .unwrap_or((1005, String::new()));
                    let what = if code == CLOSE_LAGGED {
                        "the server cut the change feed because this consumer fell behind"
                    } else {
                        "the server closed the change feed"
                    };
                    return Err(anyhow!(
                        "{what}: {} (close code {code}); {}",
                        if reason.is_empty() { "no reason given" } else { reason.as_str() },
                        resume_hint(last_seq)
                    ));
                }
                Some(Ok(_)) => {} // pings are answered by the library; nothing else is sent
                Some(Err(e)) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "the change feed from {} broke; {}",
                        client.base(),
                        resume_hint(last_seq)
                    )));
                }
                None => {
                    return Err(anyhow!(
                        "the NyroDB server at {} closed the connection; {}",
                        client.base(),
                        resume_hint(last_seq)
                    ));
                }
            },
        }
    }
}

fn connect_error(client: &Client, error: tungstenite::Error) -> anyhow::Error {
    match error {
        tungstenite::Error::Http(response) => {
            let status = StatusCode::from_u16(response.status().as_u16())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = response.body().as_deref().unwrap_or_default();
            ServerError::from_answer(status, body).into()
        }
        tungstenite::Error::Io(e) => anyhow::Error::new(e).context(client.unreachable()),
        tungstenite::Error::Tls(e) => anyhow::Error::new(e).context(client.unreachable()),
        e => anyhow::Error::new(e).context(format!(
            "cannot open the change feed of the NyroDB server at {}",
            client.base()
        )),
    }
}
