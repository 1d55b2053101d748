//! I/O faults under the HTTP server (the database opened with a fault-injecting I/O layer):
//! a full disk (ENOSPC), an I/O error (EIO) or a short write fails exactly the writes that
//! meet it with 503 `unavailable` and a message saying why, leaves nothing of them visible
//! (records, lists, queries, the change feed), keeps reads working, and writes succeed again
//! once the fault is gone. A failed fdatasync makes every later write 503 `unavailable`
//! until a restart, which brings back everything acknowledged.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use nyro_core::{OpenOptions, SyncPolicy};
use nyro_server::ConnectionLimits;
use nyro_storage::{FaultInjector, LogIo, WriteFault};
use serde_json::{Value, json};

use crate::common::*;

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

/// The log's I/O layer for these tests: the storage crate's fault injector, plus writes that
/// fail with a real errno (so the message is the operating system's own).
#[derive(Debug, Default)]
struct Disk {
    faults: FaultInjector,
    write_errno: AtomicI32,
}

impl Disk {
    fn clear(&self) {
        self.write_errno.store(0, Ordering::SeqCst);
        self.faults.clear();
    }
}

impl LogIo for Disk {
    fn write_at(
        &self,
        path: &Path,
        file: &std::fs::File,
        offset: u64,
        buf: &[u8],
    ) -> io::Result<usize> {
        match self.write_errno.load(Ordering::SeqCst) {
            0 => self.faults.write_at(path, file, offset, buf),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    fn sync_data(&self, path: &Path, file: &std::fs::File) -> io::Result<()> {
        self.faults.sync_data(path, file)
    }
}

async fn start_faulty(dir: &DataDir) -> (TestServer, Arc<Disk>) {
    let disk = Arc::new(Disk::default());
    let server = start_with(
        dir.path(),
        |c| c.db.batch.sync = SyncPolicy::Always,
        OpenOptions {
            io: Arc::clone(&disk) as Arc<dyn LogIo>,
            // No background hint writing: it must not meet the fault a test arms for writes.
            maintenance_interval: Duration::from_secs(24 * 3600),
            ..OpenOptions::default()
        },
        ConnectionLimits::default(),
    )
    .await;
    (server, disk)
}

/// Every kind of write, each of which must fail while the fault lasts.
async fn every_write(server: &TestServer) -> Vec<(String, Answer)> {
    let mut answers = Vec::new();
    let doc = json!({"k": "failed"});
    for (what, method, path, body) in [
        (
            "insert",
            "POST",
            "/v1/collections/c/records",
            Some(doc.clone()),
        ),
        (
            "insert with _id",
            "POST",
            "/v1/collections/c/records",
            Some(json!({"_id": 100, "k": "failed"})),
        ),
        (
            "insert ?sync=true",
            "POST",
            "/v1/collections/c/records?sync=true",
            Some(doc.clone()),
        ),
        (
            "bulk",
            "POST",
            "/v1/collections/c/records/_bulk",
            Some(json!([doc, {"k": "failed", "n": 2}])),
        ),
        (
            "replace",
            "PUT",
            "/v1/collections/c/records/2",
            Some(json!({"k": "failed"})),
        ),
        ("delete", "DELETE", "/v1/collections/c/records/3", None),
        (
            "insert into a new collection",
            "POST",
            "/v1/collections/new/records",
            Some(json!({})),
        ),
        (
            "create collection",
            "PUT",
            "/v1/collections/d",
            Some(json!({"indexes": ["k"]})),
        ),
        ("drop collection", "DELETE", "/v1/collections/c", None),
    ] {
        let body = body.map(|b| b.to_string().into_bytes());
        answers.push((what.to_string(), server.raw(method, path, body).await));
    }
    // And many at once, so that they share batches.
    let concurrent = (0..16).map(|i| {
        let client = server.client.clone();
        let url = server.url("/v1/collections/c/records");
        tokio::spawn(async move {
            send(
                client
                    .post(url)
                    .header("content-type", "application/json")
                    .body(json!({"k": "failed", "i": i}).to_string()),
            )
            .await
        })
    });
    for answer in futures_util::future::join_all(concurrent).await {
        answers.push(("concurrent insert".to_string(), answer.unwrap()));
    }
    answers
}

/// Reads answer as before: the same documents, lists and query results.
async fn reads_work(server: &TestServer) {
    server.get("/v1/collections/c/records/1").await.expect(200);
    server.get("/v1/collections/c/records").await.expect(200);
    server.get("/v1/collections").await.expect(200);
    server.get("/v1/stats").await.expect(200);
    server.get("/health").await.expect(200);
    let found = server
        .post(
            "/v1/collections/c/_query",
            &json!({"where": {"k": "failed"}}),
        )
        .await;
    assert_eq!(found.expect(200)["records"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_faults_fail_only_the_writes_with_503_and_go_away() {
    let dir = DataDir::new();
    let (server, disk) = start_faulty(&dir).await;
    server.create("c", &["k"]).await;
    for n in 1..=3 {
        server.insert("c", json!({"k": "before", "n": n})).await;
    }
    let mut feed = server.ws("/v1/changes").await.unwrap();

    type Inject = Box<dyn Fn(&Disk)>;
    let faults: [(&str, Inject, &str); 4] = [
        (
            "ENOSPC",
            Box::new(|d: &Disk| d.write_errno.store(ENOSPC, Ordering::SeqCst)),
            "No space left on device",
        ),
        (
            "EIO",
            Box::new(|d: &Disk| d.write_errno.store(EIO, Ordering::SeqCst)),
            "Input/output error",
        ),
        (
            "a short write, then a full disk",
            Box::new(|d: &Disk| {
                d.faults.fail_writes(WriteFault::ShortThenFail {
                    bytes: 10,
                    kind: io::ErrorKind::StorageFull,
                })
            }),
            "no storage space",
        ),
        (
            "a full disk (injected)",
            Box::new(|d: &Disk| {
                d.faults
                    .fail_writes(WriteFault::Fail(io::ErrorKind::StorageFull))
            }),
            "no storage space",
        ),
    ];
    let mut acknowledged = 3;
    for (name, inject, why) in faults {
        let before = server.snapshot().await;
        let seq = server.last_seq().await;
        inject(&disk);
        for (what, answer) in every_write(&server).await {
            let message = answer.expect_error(503, "unavailable");
            assert!(
                message.contains("nothing of it was kept") && message.contains(why),
                "{name}, {what}: {message}"
            );
        }
        // Nothing of the failed writes is visible; reads go on.
        reads_work(&server).await;
        assert_eq!(server.snapshot().await, before, "{name}");
        assert_eq!(server.last_seq().await, seq, "{name}");
        assert_quiet(&mut feed, Duration::from_millis(100)).await;
        let stats = server.get("/v1/stats").await;
        assert_eq!(stats.expect(200)["writes_poisoned"], Value::Null, "{name}");

        // The fault goes: writes succeed again, and the feed carries them.
        disk.clear();
        let (id, seq_now) = server
            .insert("c", json!({"k": "after", "fault": name}))
            .await;
        acknowledged += 1;
        assert_eq!(seq_now, seq + 1, "{name}: a failed write took a seq");
        let change = next_change(&mut feed).await;
        assert_eq!(change["seq"], seq_now, "{change}");
        assert_eq!(change["doc"]["_id"], id, "{change}");
        // Collection writes too (the feed carries document changes only).
        server
            .put("/v1/collections/d", &json!({"indexes": []}))
            .await
            .expect(201);
        server.delete("/v1/collections/d").await.expect(204);
    }
    assert_eq!(server.all_docs("c").await.len(), acknowledged);
    let kept = server.snapshot().await;
    ws_close(feed).await;
    server.stop().await;

    // After a restart everything acknowledged is there, and nothing that failed.
    let server = start(&dir).await;
    assert_eq!(server.snapshot().await, kept);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fdatasync_makes_writes_503_until_restart() {
    let dir = DataDir::new();
    let (server, disk) = start_faulty(&dir).await;
    server.create("c", &["k"]).await;
    for n in 1..=3 {
        server.insert("c", json!({"k": "before", "n": n})).await;
    }
    let acknowledged = server.snapshot().await;
    let mut feed = server.ws("/v1/changes").await.unwrap();

    disk.faults.fail_syncs(io::ErrorKind::Other);
    let message = server
        .post("/v1/collections/c/records", &json!({"k": "failed"}))
        .await
        .expect_error(503, "unavailable");
    assert!(message.contains("fdatasync"), "{message}");
    assert!(message.contains("restarted"), "{message}");

    // The disk is fine again, but nothing is retried: every write is refused, saying why.
    disk.clear();
    for (what, answer) in every_write(&server).await {
        let message = answer.expect_error(503, "unavailable");
        assert!(
            message.contains("refuses writes until it is restarted")
                && message.contains("fdatasync"),
            "{what}: {message}"
        );
    }
    reads_work(&server).await;
    let stats = server.get("/v1/stats").await;
    let poisoned = stats.expect(200)["writes_poisoned"].as_str().unwrap_or("");
    assert!(poisoned.contains("fdatasync"), "{poisoned}");
    // The write that was not acknowledged never reached readers or the feed.
    assert_eq!(server.snapshot().await, acknowledged);
    assert_quiet(&mut feed, Duration::from_millis(100)).await;
    ws_close(feed).await;
    // Shutting down may report the failed fdatasync; it must not hang.
    let _ = server.stop_result().await;

    // A restart recovers from the log: everything acknowledged is there, writes work.
    let server = start(&dir).await;
    let after = server.snapshot().await;
    let docs = &after["c"].1;
    for doc in &acknowledged["c"].1 {
        assert!(docs.contains(doc), "acknowledged {doc} lost");
    }
    assert!(docs.len() <= 4, "{docs:?}");
    server.insert("c", json!({"k": "again"})).await;
    server.stop().await;
}

/// A write that fails with an I/O error, and writes refused after a failed fdatasync: the
/// answer says what failed but names no server file (the data directory's path never
/// reaches the client; the server log has it, with the request id: see the unit tests of
/// `nyro_server::error`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_writes_answer_without_server_paths() {
    let dir = DataDir::new();
    let (server, disk) = start_faulty(&dir).await;
    let path = dir.path().display().to_string();
    let doc = json!({"k": "failed"});

    disk.write_errno.store(EIO, Ordering::SeqCst);
    for answer in [
        server.post("/v1/collections/c/records", &doc).await,
        server.put("/v1/collections/c/records/9", &doc).await,
    ] {
        let message = answer.expect_error(503, "unavailable");
        assert!(message.contains("Input/output error"), "{message}");
        assert!(!answer.text.contains(&path), "{}", answer.text);
        assert!(!answer.text.contains("segment-"), "{}", answer.text);
    }
    disk.clear();

    disk.faults.fail_syncs(io::ErrorKind::Other);
    for answer in [
        server.post("/v1/collections/c/records", &doc).await,
        server.post("/v1/collections/c/records", &doc).await,
    ] {
        let message = answer.expect_error(503, "unavailable");
        assert!(message.contains("fdatasync"), "{message}");
        assert!(!answer.text.contains(&path), "{}", answer.text);
        assert!(!answer.text.contains("segment-"), "{}", answer.text);
    }
    // Closing a poisoned database reports the poison; that is not what this test is about.
    let _ = server.stop_result().await;
}

/// Writes refused after a failed fdatasync: the database's reason names the segment file,
/// yet neither `/v1/stats` nor the 503 of a write sends it (contract: what the server sends
/// names no server file); both say what happened and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_database_names_no_server_path_in_stats_or_refusals() {
    let dir = DataDir::new();
    let (server, disk) = start_faulty(&dir).await;
    let path = dir.path().display().to_string();
    server.create("c", &[]).await;
    let stats = server.get("/v1/stats").await;
    assert!(stats.expect(200)["writes_poisoned"].is_null());

    disk.faults.fail_syncs(io::ErrorKind::Other);
    let first = server
        .post("/v1/collections/c/records", &json!({"k": "failed"}))
        .await;
    first.expect_error(503, "unavailable");
    disk.clear();
    let later = server
        .post("/v1/collections/c/records", &json!({"k": "refused"}))
        .await;
    let message = later.expect_error(503, "unavailable");
    assert!(message.contains("restarted"), "{message}");

    let stats = server.get("/v1/stats").await;
    let text = stats.text.clone();
    let poisoned = stats.expect(200)["writes_poisoned"]
        .as_str()
        .unwrap_or_else(|| panic!("writes_poisoned is a string: {text}"))
        .to_string();
    assert!(
        poisoned.contains("fdatasync") && poisoned.contains("restarted"),
        "{poisoned}"
    );
    for (what, body) in [
        ("the first 503", &first.text),
        ("a later 503", &later.text),
        ("/v1/stats", &text),
    ] {
        assert!(!body.contains(&path), "{what}: {body}");
        assert!(!body.contains("segment-"), "{what}: {body}");
        assert!(!body.contains(".log"), "{what}: {body}");
    }
    // Closing a poisoned database reports the poison; that is not what this test is about.
    let _ = server.stop_result().await;
}
