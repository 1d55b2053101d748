//! Limits: `max_body_bytes` (413, with Content-Length and chunked without it; nothing
//! written) and `max_concurrent_ops` (503 `overloaded` with Retry-After; nothing of a
//! refused write written).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

const LIMIT: usize = 1024;

/// A JSON document of exactly `len` bytes.
fn doc_of_len(len: usize) -> Vec<u8> {
    let overhead = r#"{"pad":""}"#.len();
    let body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(len - overhead));
    assert_eq!(body.len(), len);
    body.into_bytes()
}

/// Sends a raw HTTP/1.1 request whose body goes out chunked, in `chunks` written with a
/// pause between them, and returns the status and the JSON body of the answer.
async fn chunked_request(
    addr: SocketAddr,
    path: &str,
    chunks: &[Vec<u8>],
    finish: bool,
) -> (u16, Value) {
    let mut stream = within("connect", TcpStream::connect(addr)).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(chunk);
        frame.extend_from_slice(b"\r\n");
        // The server may answer (and stop reading) before everything was sent.
        if stream.write_all(&frame).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if finish {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    read_answer(&mut stream).await
}

/// Reads one HTTP answer: its status and JSON body, and the raw text.
async fn read_answer_raw(stream: &mut TcpStream) -> (u16, Value, String) {
    // Read until the whole answer is in (not until the connection closes: after a 413 the
    // server may keep reading what is left of the body for a while).
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let complete = |response: &[u8]| -> bool {
        let text = String::from_utf8_lossy(response).to_ascii_lowercase();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            return false;
        };
        match head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            Some(len) => body.len() >= len,
            None => body.ends_with("0\r\n\r\n"),
        }
    };
    while !complete(&response) {
        match within("the answer", stream.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        // One chunk is enough for these small answers.
        body.split_once("\r\n").map_or("", |(_, rest)| rest)
    } else {
        body
    };
    let json_end = body.rfind('}').map_or(0, |i| i + 1);
    let json = serde_json::from_str(&body[..json_end]).unwrap_or(Value::Null);
    (status, json, text)
}

/// Reads one HTTP answer: its status and JSON body.
async fn read_answer(stream: &mut TcpStream) -> (u16, Value) {
    let (status, json, _) = read_answer_raw(stream).await;
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_max_body_bytes_get_413_and_write_nothing() {
    let dir = DataDir::new();
    let server = start_in(dir.path(), |c| c.server.max_body_bytes = LIMIT).await;
    server.create("c", &["pad"]).await;
    server.insert("c", json!({"_id": 1, "pad": "x"})).await;
    let before = server.snapshot().await;
    let seq = server.last_seq().await;

    // With Content-Length, on every route that takes a body.
    let big = doc_of_len(LIMIT + 1);
    let mut big_array = b"[".to_vec();
    big_array.extend_from_slice(&doc_of_len(LIMIT));
    big_array.push(b']');
    for (method, path, body) in [
        ("POST", "/v1/collections/c/records", big.clone()),
        ("POST", "/v1/collections/new/records", big.clone()),
        ("POST", "/v1/collections/c/records/_bulk", big_array),
        ("PUT", "/v1/collections/c/records/1", big.clone()),
        ("PUT", "/v1/collections/c/records/2", big.clone()),
        ("POST", "/v1/collections/c/_query", big.clone()),
        ("PUT", "/v1/collections/other", big.clone()),
        ("POST", "/v1/collections/c/records", vec![b' '; 10 * LIMIT]),
    ] {
        let message = server
            .raw(method, path, Some(body))
            .await
            .expect_error(413, "payload_too_large");
        assert!(message.contains(&LIMIT.to_string()), "{message}");
    }

    // Chunked, without Content-Length: in one go, and trickled.
    let half = doc_of_len(LIMIT + 200);
    let pieces: Vec<Vec<u8>> = half.chunks(300).map(<[u8]>::to_vec).collect();
    for (path, chunks, finish) in [
        ("/v1/collections/c/records", vec![half.clone()], true),
        ("/v1/collections/c/records", pieces.clone(), false),
        ("/v1/collections/c/records", pieces.clone(), true),
        ("/v1/collections/chunky/records", pieces, true),
    ] {
        let (status, json) = chunked_request(server.addr, path, &chunks, finish).await;
        assert_eq!(status, 413, "{json}");
        assert_error_shape(&json, &json.to_string());
        assert_eq!(json["error"]["code"], "payload_too_large");
    }

    // Much larger than the limit: the client is still sending when the 413 is ready, and
    // still gets to read it (the server drains the rest instead of resetting the connection).
    for _ in 0..3 {
        let huge = vec![b' '; 3 * 1024 * 1024];
        server
            .raw("POST", "/v1/collections/c/records", Some(huge))
            .await
            .expect_error(413, "payload_too_large");
        let stream = futures_util::stream::iter(
            (0..48).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])),
        );
        let request = server
            .client
            .post(server.url("/v1/collections/c/records"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream));
        send(request).await.expect_error(413, "payload_too_large");
    }

    assert_eq!(server.snapshot().await, before);
    assert_eq!(server.last_seq().await, seq);

    // A client that asks `Expect: 100-continue` for a body too large gets the 413 at once,
    // without being told to go ahead and send it.
    let mut stream = within("connect", TcpStream::connect(server.addr))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/collections/c/records HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 10000000\r\n\
         Expect: 100-continue\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (status, json, text) = read_answer_raw(&mut stream).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert_eq!(json["error"]["code"], "payload_too_large");

    // At the limit exactly, with Content-Length or chunked, a body is taken.
    server
        .raw("POST", "/v1/collections/c/records", Some(doc_of_len(LIMIT)))
        .await
        .expect(201);
    let pieces: Vec<Vec<u8>> = doc_of_len(LIMIT).chunks(100).map(<[u8]>::to_vec).collect();
    let (status, json) =
        chunked_request(server.addr, "/v1/collections/c/records", &pieces, true).await;
    assert_eq!(status, 201, "{json}");
    let stream = futures_util::stream::iter(
        doc_of_len(LIMIT - 10)
            .chunks(64)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let mut request = server
        .client
        .post(server.url("/v1/collections/c/records"))
        .body(reqwest::Body::wrap_stream(stream));
    request = request.header("content-type", "application/json");
    send(request).await.expect(201);
    assert_eq!(server.all_docs("c").await.len(), 4);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_gets_503_with_retry_after_and_writes_nothing() {
    let dir = DataDir::new();
    let server = start_in(dir.path(), |c| c.db.server.max_concurrent_ops = 1).await;
    server.create("busy", &[]).await;

    let mut created = 0usize;
    let mut overloaded = 0usize;
    for round in 0..20 {
        let requests = (0..64).map(|i| {
            let client = server.client.clone();
            let url = server.url("/v1/collections/busy/records?sync=true");
            tokio::spawn(async move {
                send(
                    client
                        .post(url)
                        .header("content-type", "application/json")
                        .body(json!({"round": round, "i": i}).to_string()),
                )
                .await
            })
        });
        let answers = futures_util::future::join_all(requests).await;
        for answer in answers {
            let answer = answer.unwrap();
            match answer.status.as_u16() {
                201 => created += 1,
                503 => {
                    overloaded += 1;
                    answer.expect_error(503, "overloaded");
                    let retry = answer
                        .headers
                        .get("retry-after")
                        .expect("a Retry-After header")
                        .to_str()
                        .unwrap();
                    assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "{retry}");
                }
                other => panic!("unexpected status {other}: {}", answer.text),
            }
        }
        if overloaded > 0 && round >= 1 {
            break;
        }
    }
    assert!(
        overloaded > 0,
        "64 concurrent writes with one permit never got a 503"
    );
    assert!(created > 0);
    // Every 201 is stored, nothing of a 503.
    let count = server.get("/v1/collections").await.expect(200)["collections"][0]["count"]
        .as_u64()
        .unwrap();
    assert_eq!(count as usize, created);
    assert_eq!(server.all_docs("busy").await.len(), created);
    server.stop().await;
}
