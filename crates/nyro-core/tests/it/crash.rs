//! Crashes under `sync = "always"` (and `"interval"`, which also promises to lose nothing on a
//! process crash): every acknowledged write is there after reopening.
//!
//! The kill -9 test re-runs this test binary as a child process that writes and reports each
//! acknowledged write on stdout; the parent kills it with SIGKILL mid-stream and checks.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nyro_core::{Database, DbError, SyncPolicy, WriteOptions};
use serde_json::{Value as Json, json};

use crate::common::*;

/// Set in the child's environment: the data directory it writes to.
const CHILD_DIR: &str = "NYRO_CORE_CRASH_CHILD_DIR";
/// Set in the child's environment: the sync policy ("always" or "interval").
const CHILD_SYNC: &str = "NYRO_CORE_CRASH_CHILD_SYNC";
/// Set in the child's environment: the smallest id it may write, less 8.
const CHILD_BASE: &str = "NYRO_CORE_CRASH_CHILD_BASE";
/// Prefix of the child's report lines (libtest prints other things on stdout too).
const ACK: &str = "ACK";

/// The document written as version `v` of id `id` by the child.
fn child_doc(id: u64, v: u64) -> Json {
    json!({"id": id, "v": v, "k": id % 5, "pad": "p".repeat((id % 7 * 50) as usize)})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropping_without_close_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut expected: BTreeMap<(String, u64), Json> = BTreeMap::new();
    for round in 0..3u64 {
        let db = open(&config).await;
        // (Dropped databases are reopened below: see FORK_GUARD.)
        let guard = no_fork().await;
        if round == 0 {
            db.create_collection("idx", &["k".to_string()])
                .await
                .unwrap();
        }
        // Several writers at once, so that batches hold more than one write.
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..40u64 {
                    let coll = if i.is_multiple_of(2) { "idx" } else { "plain" };
                    let body = json!({"t": t, "i": i, "round": round, "k": i % 3});
                    let id = db
                        .insert(coll, doc(body.clone()), WriteOptions::default())
                        .await
                        .unwrap()
                        .id;
                    acked.push((coll.to_string(), id, Some(body)));
                    if i % 10 == 9 {
                        let body = json!({"replaced": true, "t": t, "k": 9});
                        db.replace(coll, id, doc(body.clone()), WriteOptions::default())
                            .await
                            .unwrap();
                        acked.push((coll.to_string(), id, Some(body)));
                    }
                    if i % 10 == 4 {
                        db.delete(coll, id, WriteOptions::default()).await.unwrap();
                        acked.push((coll.to_string(), id, None));
                    }
                }
                acked
            }));
        }
        for task in tasks {
            for (coll, id, body) in within("writer", task).await.unwrap() {
                match body {
                    Some(body) => expected.insert((coll, id), body),
                    None => expected.remove(&(coll, id)),
                };
            }
        }
        // Plain drop: no close, no flush.
        drop(db);

        let db = open(&config).await;
        for ((coll, id), body) in &expected {
            let mut want = body.clone();
            want["_id"] = json!(id);
            assert_eq!(db.get(coll, *id).unwrap().to_json(), want, "{coll}/{id}");
        }
        let listed = list_all(&db, "idx", 1000).len() + list_all(&db, "plain", 1000).len();
        assert_eq!(listed, expected.len());
        let nines = find_all(&db, "idx", &cond(&[("k", json!(9))]), 1000);
        let want: Vec<u64> = expected
            .iter()
            .filter(|((c, _), b)| c == "idx" && b["k"] == json!(9))
            .map(|((_, id), _)| *id)
            .collect();
        assert_eq!(nines, want);
        drop(db);
        drop(guard);
    }
}

/// The child: only acts when the parent set [`CHILD_DIR`]; otherwise it passes at once.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let sync = match std::env::var(CHILD_SYNC).as_deref() {
        Ok("interval") => SyncPolicy::Interval,
        _ => SyncPolicy::Always,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut config = config(std::path::Path::new(&dir));
        config.batch.sync = sync;
        config.storage.segment_size_mb = 1; // seal segments while being killed, too
        let db = Database::open(&config).await.unwrap();
        // Each child writes its own ids, above those of earlier children.
        let base: u64 = std::env::var(CHILD_BASE).unwrap().parse().unwrap();
        let started = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let mut tasks = Vec::new();
        for t in 0..6u64 {
            let db = db.clone();
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                // Bounded even if nobody kills us.
                while started.elapsed() < Duration::from_secs(30) {
                    n += 1;
                    let id = base + n * 8 + t;
                    let mut d = doc(child_doc(id, 0));
                    d.id = Some(id);
                    let inserted = db.insert("docs", d, WriteOptions::default()).await.unwrap();
                    assert_eq!(inserted.id, id);
                    let _ = tx.send(format!("{ACK} put {id} 0"));
                    if n.is_multiple_of(3) {
                        db.replace("docs", id, doc(child_doc(id, 1)), WriteOptions::default())
                            .await
                            .unwrap();
                        let _ = tx.send(format!("{ACK} put {id} 1"));
                    }
                    if n.is_multiple_of(5) {
                        db.delete("docs", id, WriteOptions::default())
                            .await
                            .unwrap();
                        let _ = tx.send(format!("{ACK} del {id} 0"));
                    }
                }
            }));
        }
        drop(tx);
        // One thread prints, in the order the answers came, flushing after each line.
        let printer = std::thread::spawn(move || {
            let stdout = std::io::stdout();
            for line in rx {
                let mut out = stdout.lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        });
        for task in tasks {
            task.await.unwrap();
        }
        printer.join().unwrap();
    });
}

/// Runs the child on `dir` with `sync` and kills it with SIGKILL after `acks` acknowledged
/// writes (or a time limit), and returns what it reported, in order: ("put", id, version)
/// or ("del", id, 0).
async fn run_and_kill_child(
    dir: &std::path::Path,
    sync: &str,
    base: u64,
    acks: usize,
) -> Vec<(String, u64, u64)> {
    // No other test may be between closing and reopening a database while we fork.
    let fork = within("the fork guard", FORK_GUARD.write()).await;
    let child = child_test("crash::crash_child_writer")
        .env(CHILD_DIR, dir)
        .env(CHILD_SYNC, sync)
        .env(CHILD_BASE, base.to_string())
        .spawn()
        .unwrap();
    // `spawn` returns once the child has exec'd: it holds none of our files any more.
    drop(fork);
    tokio::task::spawn_blocking(move || read_and_kill(child, acks))
        .await
        .unwrap()
}

/// Reads the child's reports until it made `acks` of them (or a time limit), kills it with
/// SIGKILL, and returns the reports, including those still in the pipe.
fn read_and_kill(mut child: std::process::Child, acks: usize) -> Vec<(String, u64, u64)> {
    let (reader, rx) = read_lines(child.stdout.take().unwrap());
    let started = Instant::now();
    let mut reported = Vec::new();
    while reported.len() < acks && started.elapsed() < Duration::from_secs(20) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix(ACK) {
                    let parts: Vec<&str> = rest.split_whitespace().collect();
                    assert_eq!(parts.len(), 3, "{line:?}");
                    reported.push((
                        parts[0].to_string(),
                        parts[1].parse().unwrap(),
                        parts[2].parse().unwrap(),
                    ));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // SIGKILL while it is still writing.
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(still_running, "the child stopped by itself: {status:?}");
    // Lines already in the pipe were acknowledged too.
    reader.join().unwrap();
    for line in rx.try_iter() {
        if let Some(rest) = line.strip_prefix(ACK) {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            if parts.len() == 3 {
                reported.push((
                    parts[0].to_string(),
                    parts[1].parse().unwrap(),
                    parts[2].parse().unwrap(),
                ));
            }
        }
    }
    reported
}

/// The states the child takes `id` through, in order: version 0, version 1 (every third),
/// deleted (every fifth).
fn child_states(id: u64) -> Vec<Option<u64>> {
    let n = (id % 1_000_000) / 8;
    let mut states = vec![Some(0)];
    if n.is_multiple_of(3) {
        states.push(Some(1));
    }
    if n.is_multiple_of(5) {
        states.push(None);
    }
    states
}

#[tokio::test]
async fn kill_9_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    // The last state each id was acknowledged in: the stored one must be that one or a later
    // one (a write that was in flight at the kill may or may not be there).
    let mut acked: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    for (round, sync) in ["always", "interval", "always"].into_iter().enumerate() {
        let reported = run_and_kill_child(dir.path(), sync, round as u64 * 1_000_000, 400).await;
        assert!(
            reported.len() >= 50,
            "round {round}: the child reported only {} writes",
            reported.len()
        );
        // Writes to one id come from one task, in order, so report order is their order.
        for (kind, id, version) in reported {
            match kind.as_str() {
                "put" => acked.insert(id, Some(version)),
                "del" => acked.insert(id, None),
                other => panic!("unknown report {other}"),
            };
        }
        let mut config = config(dir.path());
        config.storage.segment_size_mb = 1;
        let db = open(&config).await;
        let mut present = std::collections::BTreeSet::new();
        for (&id, state) in &acked {
            let states = child_states(id);
            let at = states.iter().position(|s| s == state).unwrap();
            let stored = match db.get("docs", id) {
                Ok(d) => {
                    let v = d.to_json()["v"].as_u64().unwrap();
                    let mut want = child_doc(id, v);
                    want["_id"] = json!(id);
                    assert_eq!(d.to_json(), want, "round {round} ({sync}): _id {id}");
                    present.insert(id);
                    Some(v)
                }
                Err(DbError::NotFound { .. }) => None,
                Err(e) => panic!("round {round}: get {id}: {e}"),
            };
            assert!(
                states[at..].contains(&stored),
                "round {round} ({sync}): _id {id} was acknowledged as {state:?}, is {stored:?}"
            );
        }
        // The database is whole: every listed document reads back as the child wrote it.
        let all = list_all(&db, "docs", 500);
        let listed: std::collections::BTreeSet<u64> = all.iter().map(|d| d.id.unwrap()).collect();
        assert!(
            present.is_subset(&listed),
            "round {round}: list misses stored documents"
        );
        for d in &all {
            let id = d.id.unwrap();
            let v = d.to_json()["v"].as_u64().unwrap();
            let mut want = child_doc(id, v);
            want["_id"] = json!(id);
            assert_eq!(d.to_json(), want);
        }
        db.close().await.unwrap();
    }
}

fn segment(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(nyro_storage::segment_file_name(1))
}

#[tokio::test]
async fn a_torn_tail_is_dropped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = open(&config).await;
    db.create_collection("c", &["k".to_string()]).await.unwrap();
    for n in 1..=20u64 {
        insert(&db, "c", json!({"k": n % 2, "n": n})).await;
    }
    let guard = no_fork().await;
    db.close().await.unwrap();
    // A crash in the middle of writing the last frame: only part of it reached the disk.
    let path = segment(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 5).unwrap();
    drop(file);

    let db = open(&config).await;
    drop(guard);
    let torn = db
        .recovery()
        .torn_tail
        .clone()
        .expect("a torn tail is reported");
    assert_eq!(torn.path, path);
    assert!(torn.dropped_bytes > 0);
    // Everything before it is there, indexes included; the torn document is not.
    assert_eq!(list_all(&db, "c", 7).len(), 19);
    assert!(matches!(db.get("c", 20), Err(DbError::NotFound { .. })));
    assert_eq!(find_all(&db, "c", &cond(&[("k", json!(1))]), 4).len(), 10);
    assert_eq!(find_all(&db, "c", &cond(&[("k", json!(0))]), 4).len(), 9);
    // Writing goes on after the cut.
    let next = insert(&db, "c", json!({"k": 0, "n": 21})).await;
    assert_eq!(db.get("c", next).unwrap().to_json()["n"], json!(21));
    let db = reopen(db, &config).await;
    assert_eq!(db.recovery().torn_tail, None);
    assert_eq!(list_all(&db, "c", 100).len(), 20);
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_damaged_frame_that_intact_frames_follow_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let db = open(&config).await;
    let marker = "MARKER-0123456789";
    insert(&db, "c", json!({"first": marker})).await;
    for n in 0..10u64 {
        insert(&db, "c", json!({"n": n})).await;
    }
    let guard = no_fork().await;
    db.close().await.unwrap();
    // Flip a byte inside the first document's payload.
    let path = segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .unwrap();
    bytes[at + 3] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    match Database::open(&config).await {
        Err(e @ DbError::Storage(nyro_storage::StorageError::Corrupt { .. })) => {
            let DbError::Storage(nyro_storage::StorageError::Corrupt {
                path: named,
                offset,
                ..
            }) = &e
            else {
                unreachable!()
            };
            assert_eq!(named, &path);
            assert!(*offset < at as u64, "{offset} {at}");
            let message = e.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    drop(guard);
    // Nothing was dropped silently: the file is as it was.
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}
