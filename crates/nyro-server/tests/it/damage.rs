//! Damage that open does not see (contract section 8): a frame damaged in a sealed segment
//! that open takes from its hint file. The first read that meets it answers 500 `internal`
//! "stored data is damaged; run nyrodb verify" with no file path, `/health` turns
//! `degraded`, `/metrics` counts it, and the background scrub finds it without a read.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nyro_core::{Database, Document, OpenOptions, WriteOptions};
use nyro_server::ConnectionLimits;
use nyro_storage::{FrameCheck, RecordKind, SEGMENT_HEADER_LEN, check_frame, segment_file_name};
use serde_json::{Value, json};

use crate::common::*;

const DAMAGED: &str = "stored data is damaged; run nyrodb verify";

/// Writes 2,000 documents (ids 1..=2000, `city` indexed) into 1 MB segments, hints every
/// sealed segment, closes, and damages the payload of the 51st document's frame in the
/// first segment. Returns that document's id and its frame's offset.
async fn damaged_hinted_directory(dir: &Path) -> (u64, u64) {
    damaged_hinted_directory_with(dir, &["city"]).await
}

/// As [`damaged_hinted_directory`], with these secondary indexes on `people`.
async fn damaged_hinted_directory_with(dir: &Path, indexes: &[&str]) -> (u64, u64) {
    let mut c = config(dir);
    c.db.storage.segment_size_mb = 1;
    c.db.compaction.auto = false;
    let db = within("open", Database::open(&c.db)).await.unwrap();
    let indexes: Vec<String> = indexes.iter().map(|f| f.to_string()).collect();
    db.create_collection("people", &indexes).await.unwrap();
    let pad = "p".repeat(2_000);
    for first in (1..=2_000u64).step_by(100) {
        let docs = (first..first + 100)
            .map(|i| {
                let city = if i % 2 == 0 { "Oslo" } else { "Lima" };
                Document::from_json(json!({"_id": i, "city": city, "pad": pad})).unwrap()
            })
            .collect();
        db.insert_many("people", docs, WriteOptions::default())
            .await
            .unwrap();
    }
    db.write_hints().await.unwrap();
    within("close", db.close()).await.unwrap();

    let path = dir.join(segment_file_name(1));
    let bytes = std::fs::read(&path).unwrap();
    let mut pos = SEGMENT_HEADER_LEN;
    let mut puts = 0;
    loop {
        let FrameCheck::Complete(header) = check_frame(&bytes[pos..]) else {
            panic!("segment 1 is damaged at {pos} before the test damaged it");
        };
        if header.kind == RecordKind::Put {
            puts += 1;
            if puts == 51 {
                let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                let at = pos as u64 + 40;
                file.write_all_at(&[bytes[at as usize] ^ 0x04], at).unwrap();
                file.sync_all().unwrap();
                return (header.id, pos as u64);
            }
        }
        pos += header.frame_len as usize;
    }
}

/// The value of the series `name` (without labels) in a `/metrics` answer.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no series {name} in /metrics"))
}

/// A server on `dir` with the background scrub off (only reads find the damage).
async fn start_without_scrub(dir: &Path) -> TestServer {
    let scrub_off = OpenOptions {
        scrub_rate: nyro_core::ScrubRate::Off,
        ..OpenOptions::default()
    };
    start_with(dir, |_| {}, scrub_off, ConnectionLimits::default()).await
}

/// Asserts a 500 `internal` answer with the damage message and no server path in it.
#[track_caller]
fn assert_damaged(answer: &Answer, dir: &Path) {
    assert_eq!(answer.expect_error(500, "internal"), DAMAGED);
    let dir = dir.display().to_string();
    assert!(
        !answer.text.contains(&dir),
        "a server path in {}",
        answer.text
    );
    assert!(
        !answer.text.contains(".log"),
        "a file name in {}",
        answer.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_hinted_frame_is_a_500_without_path_and_makes_health_degraded() {
    let dir = DataDir::new();
    let (id, _) = damaged_hinted_directory(dir.path()).await;
    let server = start_without_scrub(dir.path()).await;

    // Open saw nothing: the segment came from its hint.
    assert_eq!(
        server.get("/health").await.expect(200),
        &json!({"status": "ok"})
    );
    let metrics = server.get("/metrics").await.text;
    assert_eq!(metric(&metrics, "nyrodb_corrupt_frames_total"), 0.0);
    assert_eq!(metric(&metrics, "nyrodb_degraded"), 0.0);

    // Every read that meets the frame: 500, the same message, no path.
    let record = format!("/v1/collections/people/records/{id}");
    assert_damaged(&server.get(&record).await, dir.path());
    assert_damaged(&server.get(&record).await, dir.path());
    let list = format!("/v1/collections/people/records?after={}&limit=5", id - 1);
    assert_damaged(&server.get(&list).await, dir.path());
    let city = if id % 2 == 0 { "Oslo" } else { "Lima" };
    let query = json!({"where": {"city": city}, "after": id - 2, "limit": 3});
    assert_damaged(
        &server.post("/v1/collections/people/_query", &query).await,
        dir.path(),
    );
    // Everything else is served.
    let other = server
        .get(&format!("/v1/collections/people/records/{}", id + 1))
        .await;
    assert_eq!(other.expect(200)["_id"], json!(id + 1));

    // /health: still 200, degraded, saying where without a path; /metrics counts it once.
    let health = server.get("/health").await;
    let body = health.expect(200);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["corrupt_frames"], 1);
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("segment 1 at offset"), "{reason}");
    assert!(!health.text.contains(&dir.path().display().to_string()));
    let metrics = server.get("/metrics").await.text;
    assert_eq!(metric(&metrics, "nyrodb_corrupt_frames_total"), 1.0);
    assert_eq!(metric(&metrics, "nyrodb_degraded"), 1.0);

    // The change feed's replay closes at the damage, with the same words and no path.
    let mut ws = server
        .ws("/v1/collections/people/changes?since=0")
        .await
        .unwrap();
    let mut changes = 0;
    loop {
        match next_feed(&mut ws).await {
            Feed::Change(change) => {
                changes += 1;
                assert_eq!(change["seq"], json!(changes));
            }
            Feed::Closed(Some((1011, reason))) => {
                assert_eq!(reason, DAMAGED);
                break;
            }
            Feed::Closed(other) => panic!("after {changes} changes the feed closed: {other:?}"),
        }
    }
    assert_eq!(changes, 50, "every change before the damaged frame");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_scrub_finds_the_damage_without_a_read() {
    let dir = DataDir::new();
    damaged_hinted_directory(dir.path()).await;
    let server = start_in(dir.path(), |_| {}).await;
    let started = Instant::now();
    let body: Value = loop {
        let answer = server.get("/health").await;
        let body = answer.expect(200).clone();
        if body["status"] == "degraded" {
            break body;
        }
        assert_eq!(body, json!({"status": "ok"}));
        assert!(started.elapsed() < WAIT, "the scrub found nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(body["corrupt_frames"], 1);
    assert!(body["reason"].as_str().unwrap().contains("by the scrub"));
    let metrics = server.get("/metrics").await.text;
    assert_eq!(metric(&metrics, "nyrodb_corrupt_frames_total"), 1.0);
    server.stop().await;
}

/// The ids `_query` answers for `city` (among the first 100 after `after`).
async fn ids_in(server: &TestServer, city: &str, after: u64) -> Vec<u64> {
    let query = json!({"where": {"city": city}, "after": after, "limit": 100});
    let answer = server.post("/v1/collections/people/_query", &query).await;
    answer.expect(200)["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["_id"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_or_delete_of_a_damaged_indexed_document_is_a_500_and_changes_nothing() {
    let dir = DataDir::new();
    let (id, _) = damaged_hinted_directory(dir.path()).await;
    let server = start_without_scrub(dir.path()).await;
    let record = format!("/v1/collections/people/records/{id}");
    let rome = json!({"city": "Rome"});
    // The old version's index keys cannot be read: refused before anything is written.
    assert_damaged(&server.put(&record, &rome).await, dir.path());
    assert_damaged(&server.delete(&record).await, dir.path());
    assert_eq!(server.get("/health").await.expect(200)["corrupt_frames"], 1);
    assert_eq!(ids_in(&server, "Rome", 0).await, Vec::<u64>::new());
    assert_damaged(&server.get(&record).await, dir.path());
    let city = if id % 2 == 0 { "Oslo" } else { "Lima" };
    // It is still indexed under its city: a page of that city that starts at it meets it.
    let query = json!({"where": {"city": city}, "after": id - 1, "limit": 1});
    let page = server.post("/v1/collections/people/_query", &query).await;
    assert_damaged(&page, dir.path());
    // Writes of intact documents go on.
    let other = format!("/v1/collections/people/records/{}", id + 1);
    server.put(&other, &rome).await.expect(200);
    assert_eq!(ids_in(&server, "Rome", 0).await, vec![id + 1]);
    let gone = format!("/v1/collections/people/records/{}", id + 3);
    server.delete(&gone).await.expect(204);
    assert!(!ids_in(&server, city, id + 1).await.contains(&(id + 3)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_secondary_indexes_a_damaged_document_is_replaced_and_deleted() {
    let dir = DataDir::new();
    let (id, _) = damaged_hinted_directory_with(dir.path(), &[]).await;
    let server = start_without_scrub(dir.path()).await;
    let record = format!("/v1/collections/people/records/{id}");
    // No old keys are needed, so nothing reads the damaged frame.
    server
        .put(&record, &json!({"city": "Rome"}))
        .await
        .expect(200);
    assert_eq!(server.get(&record).await.expect(200)["city"], "Rome");
    server.delete(&record).await.expect(204);
    server.get(&record).await.expect_error(404, "not_found");
    assert_eq!(
        server.get("/health").await.expect(200),
        &json!({"status": "ok"})
    );
    server.stop().await;
}

/// A log sink for one test: what the `fmt` subscriber writes, kept in memory.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// One thread: the subscriber set below is this thread's, and the server's request handling
// runs on it too.
#[tokio::test(flavor = "current_thread")]
async fn the_log_line_of_the_request_names_the_file_and_offset() {
    let dir = DataDir::new();
    let (id, offset) = damaged_hinted_directory(dir.path()).await;
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    // tracing caches each callsite's interest process-wide. While at most one dispatcher
    // is registered, a callsite first reached by another test's thread (which has no
    // subscriber) is cached as "never", and this test's request span would be lost
    // (tokio-rs/tracing#3611). A second registered dispatcher makes every registration,
    // and the rebuild `set_default` does, ask all of them, this test's included.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _default = tracing::subscriber::set_default(subscriber);
    let server = start_without_scrub(dir.path()).await;
    let request = server
        .client
        .get(server.url(&format!("/v1/collections/people/records/{id}")))
        .header("x-request-id", "damage-trace-7");
    let answer = send(request).await;
    assert_damaged(&answer, dir.path());
    server.stop().await;

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let segment = dir.path().join(segment_file_name(1)).display().to_string();
    let line = log
        .lines()
        .find(|line| line.contains("a read met damaged stored data"))
        .unwrap_or_else(|| panic!("no log line for the damaged read in:\n{log}"));
    assert!(line.contains("damage-trace-7"), "the request id in {line}");
    assert!(line.contains(&segment), "the file in {line}");
    assert!(
        line.contains(&format!("offset={offset}")),
        "the offset in {line}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("damaged frame in the log") && l.contains(&segment)),
        "the damage record's own line in:\n{log}"
    );
}
