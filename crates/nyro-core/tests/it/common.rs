//! Helpers shared by the database tests.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use nyro_core::{Config, Database, Document, SyncPolicy, Value, WriteOptions};
use serde_json::json;

/// Longest any single awaited step may take before the test fails instead of hanging.
pub const BOUND: Duration = Duration::from_secs(20);

/// A config for `dir` with `sync = "always"`.
pub fn config(dir: &Path) -> Config {
    let mut c = Config::default();
    c.storage.path = dir.into();
    c.batch.sync = SyncPolicy::Always;
    c
}

/// Awaits `fut`, failing the test if it takes longer than [`BOUND`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(BOUND, fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what} took longer than {BOUND:?}"),
    }
}

/// Opens the database; the directory must be free at once (a closed or dropped database
/// has let go of it).
pub async fn open(config: &Config) -> Database {
    match within("open", Database::open(config)).await {
        Ok(db) => db,
        Err(e) => panic!("opening {} failed: {e}", config.storage.path.display()),
    }
}

/// An interval the background maintenance never reaches within a test: for tests that
/// call `write_hints` or `compact` themselves and count what they did.
pub const NO_MAINTENANCE: Duration = Duration::from_secs(24 * 3600);

/// [`open`] without background maintenance (no hint or compaction pass behind the test's
/// back, however long its setup takes).
pub async fn open_quiet(config: &Config) -> Database {
    let options = nyro_core::OpenOptions {
        maintenance_interval: NO_MAINTENANCE,
        ..nyro_core::OpenOptions::default()
    };
    match within("open", Database::open_with(config, options)).await {
        Ok(db) => db,
        Err(e) => panic!("opening {} failed: {e}", config.storage.path.display()),
    }
}

/// Held shared by a test from closing (or dropping) a database until it has opened the
/// directory again, and exclusively by the kill -9 test while it spawns a child process.
///
/// A child forked from this test process gets a copy of every open file, the data
/// directories' `LOCK` files included, and keeps it until it execs: a database closed and
/// reopened in that window finds its directory still locked (by the child). That is how
/// `flock` works, not a bug of the database, so tests must not race the spawn.
pub static FORK_GUARD: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Takes [`FORK_GUARD`] shared.
pub async fn no_fork() -> tokio::sync::RwLockReadGuard<'static, ()> {
    within("the fork guard", FORK_GUARD.read()).await
}

/// Closes `db` and opens it again on the same directory.
pub async fn reopen(db: Database, config: &Config) -> Database {
    let _guard = no_fork().await;
    within("close", db.close()).await.expect("close");
    open(config).await
}

/// A document from JSON.
pub fn doc(json: serde_json::Value) -> Document {
    Document::from_json(json).expect("a valid document")
}

/// A document from JSON, with `id` if given.
pub fn doc_with_id(json: serde_json::Value, id: Option<u64>) -> Document {
    let mut d = doc(json);
    d.id = id;
    d
}

/// A value from JSON.
pub fn val(json: serde_json::Value) -> Value {
    Value::try_from_json(json).expect("a valid value")
}

/// `[(field, value)]` conditions for `find`.
pub fn cond(pairs: &[(&str, serde_json::Value)]) -> Vec<(String, Value)> {
    pairs
        .iter()
        .map(|(f, v)| ((*f).to_string(), val(v.clone())))
        .collect()
}

/// The ids of a page.
pub fn ids(page: &nyro_core::Page) -> Vec<u64> {
    page.records.iter().map(|d| d.id.expect("an id")).collect()
}

/// Every document of `collection`, by paging with `limit`.
pub fn list_all(db: &Database, collection: &str, limit: usize) -> Vec<Document> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = db.list(collection, after, limit).expect("list");
        assert!(page.records.len() <= limit);
        all.extend(page.records);
        match page.next {
            Some(next) => {
                assert_eq!(all.last().and_then(|d| d.id), Some(next));
                after = Some(next);
            }
            None => return all,
        }
    }
}

/// Ids found for `conditions`, by paging with `limit`.
pub fn find_all(
    db: &Database,
    collection: &str,
    conditions: &[(String, Value)],
    limit: usize,
) -> Vec<u64> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = db.find(collection, conditions, after, limit).expect("find");
        all.extend(ids(&page));
        match page.next {
            Some(next) => after = Some(next),
            None => return all,
        }
    }
}

/// Inserts `json` and returns its id.
pub async fn insert(db: &Database, collection: &str, json: serde_json::Value) -> u64 {
    within(
        "insert",
        db.insert(collection, doc(json), WriteOptions::default()),
    )
    .await
    .expect("insert")
    .id
}

/// A small document with a number, for bulk loads.
pub fn numbered(n: u64) -> serde_json::Value {
    json!({ "n": n, "text": format!("document number {n}") })
}

/// Reads a child's `stdout` line by line on a thread of its own, which sends each line and
/// ends with the stream (or when the receiver is gone).
pub fn read_lines(
    stdout: std::process::ChildStdout,
) -> (
    std::thread::JoinHandle<()>,
    std::sync::mpsc::Receiver<String>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (reader, rx)
}

/// A command that runs only the test `name` (its full path in this binary, such as
/// `crash::crash_child_writer`) of this test binary, with its stdout piped.
pub fn child_test(name: &str) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    command
}

/// Runs `fut` to its end on a runtime of its own (one thread), for tests that are not async.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}
