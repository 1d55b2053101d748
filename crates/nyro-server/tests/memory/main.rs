#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]
//! The server's memory stays bounded under bursts of large-but-allowed bodies and of huge
//! bodies it refuses, and the refused ones change nothing stored. A test binary of its own,
//! so that nothing else runs in the process while its resident memory (the server's, read
//! from /proc/self/status) is measured.

#[path = "../it/common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Largest body the server takes in this test.
const LIMIT: usize = 1 << 20;
/// Requests in flight at once.
const CONCURRENCY: usize = 32;

/// Anonymous resident memory of this process (heap and stacks, not the mapped log), in KiB.
fn rss_anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("an RssAnon line")
}

/// A JSON document of exactly `len` bytes.
fn doc_of_len(len: usize, extra: &str) -> Vec<u8> {
    let overhead = format!(r#"{{{extra}"pad":""}}"#).len();
    let body = format!(r#"{{{extra}"pad":"{}"}}"#, "x".repeat(len - overhead));
    assert_eq!(body.len(), len);
    body.into_bytes()
}

/// What one burst sent and got.
#[derive(Debug, Default)]
struct Burst {
    written: usize,
    refused: usize,
    bytes_sent: usize,
}

/// A request body, made once and shared by every burst, so that the client side of this
/// process allocates nothing per request.
#[derive(Clone, Copy)]
enum Body {
    /// Sent as it is, with its Content-Length.
    Whole(&'static [u8]),
    /// `count` pieces, streamed: with a Content-Length if `declared`, else chunked.
    Pieces {
        piece: &'static [u8],
        count: usize,
        declared: bool,
    },
}

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

/// The requests of one burst: (path, body, expected status).
fn plan() -> Vec<(&'static str, Body, u16)> {
    let mut plan = Vec::new();
    for i in 0..16 {
        let doc = leak(doc_of_len(LIMIT - i, ""));
        plan.push(("/v1/collections/big/records", Body::Whole(doc), 201));
    }
    for i in 0..32 {
        // Parses (a megabyte of it), then refused for its `_id`: nothing is written.
        let doc = leak(doc_of_len(LIMIT - i, r#""_id":-1,"#));
        plan.push(("/v1/collections/c/records", Body::Whole(doc), 400));
    }
    let spaces = leak(vec![b' '; 64 * 1024]);
    let brackets = leak(vec![b'['; 64 * 1024]);
    for _ in 0..16 {
        let body = Body::Pieces {
            piece: spaces,
            count: 128,
            declared: true,
        };
        plan.push(("/v1/collections/c/records", body, 413));
    }
    for _ in 0..8 {
        let body = Body::Pieces {
            piece: brackets,
            count: 64,
            declared: false,
        };
        plan.push(("/v1/collections/c/records/_bulk", body, 413));
    }
    plan
}

/// One burst, `CONCURRENCY` requests at a time: large documents that are stored, large
/// bodies that parse but are refused (400), and huge bodies refused for their size (413),
/// declared with Content-Length (8 MiB) or streamed without one (4 MiB).
async fn burst(server: &TestServer, plan: &[(&'static str, Body, u16)]) -> Burst {
    let mut outcome = Burst::default();
    for chunk in plan.chunks(CONCURRENCY) {
        let tasks = chunk.iter().copied().map(|(path, body, status)| {
            let client = server.client.clone();
            let url = server.url(path);
            tokio::spawn(async move {
                let request = client.post(url).header("content-type", "application/json");
                let (request, len) = match body {
                    Body::Whole(bytes) => (request.body(bytes), bytes.len()),
                    Body::Pieces {
                        piece,
                        count,
                        declared,
                    } => {
                        let len = piece.len() * count;
                        let stream = futures_util::stream::iter(
                            (0..count).map(move |_| Ok::<_, std::io::Error>(piece)),
                        );
                        let request = if declared {
                            request.header("content-length", len)
                        } else {
                            request
                        };
                        (request.body(reqwest::Body::wrap_stream(stream)), len)
                    }
                };
                let answer = send(request).await;
                assert_eq!(answer.status.as_u16(), status, "{path}: {}", answer.text);
                (status, len)
            })
        });
        for result in futures_util::future::join_all(tasks).await {
            let (status, len) = result.unwrap();
            outcome.bytes_sent += len;
            if status == 201 {
                outcome.written += 1;
            } else {
                outcome.refused += 1;
            }
        }
    }
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_and_refused_bodies_write_nothing() {
    let dir = DataDir::new();
    let server = start_in(dir.path(), |c| c.server.max_body_bytes = LIMIT).await;
    server.create("c", &["k"]).await;
    server.insert("c", json!({"_id": 1, "k": "one"})).await;
    server.create("big", &[]).await;
    let before = server.all_docs("c").await;

    let plan = plan();
    let started = Instant::now();
    let cold = rss_anon_kib();
    // A first burst lets the allocator and the runtime reach their working size.
    let mut written = burst(&server, &plan).await.written;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let warm = rss_anon_kib();
    let mut peak = warm;
    let mut sent = 0;
    let mut readings = Vec::new();
    const ROUNDS: usize = 5;
    for _ in 0..ROUNDS {
        let outcome = burst(&server, &plan).await;
        written += outcome.written;
        sent += outcome.bytes_sent;
        let now = rss_anon_kib();
        readings.push(now);
        peak = peak.max(now);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_anon_kib();
    eprintln!(
        "RssAnon: {cold} KiB at start, {warm} KiB after a warm-up burst, {readings:?} KiB \
         after each of {ROUNDS} more bursts ({} MiB sent), {after} KiB at the end; {:?}",
        sent >> 20,
        started.elapsed()
    );
    // A generous bound: the bursts sent well over a gigabyte; none of it may be kept.
    assert!(
        after.saturating_sub(warm) < 128 * 1024,
        "resident memory grew from {warm} KiB to {after} KiB over {ROUNDS} bursts"
    );
    assert!(peak < warm + 256 * 1024, "peak {peak} KiB");

    // The refused bodies changed nothing; the stored ones are all there.
    assert_eq!(server.all_docs("c").await, before);
    assert_eq!(server.all_docs("big").await.len(), written);
    server.stop().await;
}
