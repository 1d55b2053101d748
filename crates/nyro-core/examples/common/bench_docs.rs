//! What the open and compaction benchmarks share: their config, their documents, and the
//! `bench` collection filled with them. Each example includes this file with
//! `#[path = "common/bench_docs.rs"] mod bench_docs;` (examples cannot share a module
//! otherwise; a file in a subdirectory without a `main.rs` is not an example itself).

use std::error::Error;
use std::ops::Range;
use std::path::Path;

use nyro_core::{Config, Database, Document, SyncPolicy, Value, WriteOptions};

/// Documents per insert request while filling the collection.
const BATCH: u64 = 10_000;

/// A benchmark document: `name` (the bulk of its bytes), the indexed `city` (one of 1000,
/// by `i`) and a `score`.
pub fn doc(name: String, i: u64, score: i64) -> Document {
    Document::new(vec![
        ("name".into(), Value::String(name)),
        (
            "city".into(),
            Value::String(format!("city-{:04}", i % 1000)),
        ),
        ("score".into(), Value::Int(score)),
    ])
}

/// The config of a benchmark database in `dir`: 64 MB segments, no automatic compaction,
/// and this fdatasync policy.
pub fn config(dir: &Path, sync: SyncPolicy) -> Config {
    let mut config = Config::default();
    config.storage.path = dir.to_path_buf();
    config.storage.segment_size_mb = 64;
    config.batch.sync = sync;
    config.compaction.auto = false;
    config
}

/// Removes `dir` if an earlier run left it, and starts a multi-threaded runtime.
pub fn fresh_start(dir: &Path) -> Result<tokio::runtime::Runtime, Box<dyn Error>> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Opens the database and fills the `bench` collection (indexed on `city`) with `make(i)`
/// for every `i` of `ids`, [`BATCH`] documents a request.
pub async fn open_and_fill(
    config: &Config,
    ids: Range<u64>,
    make: impl Fn(u64) -> Document,
) -> Result<Database, Box<dyn Error>> {
    let db = Database::open(config).await?;
    db.create_collection("bench", &["city".to_string()]).await?;
    let mut i = ids.start;
    while i < ids.end {
        let n = BATCH.min(ids.end - i);
        db.insert_many(
            "bench",
            (i..i + n).map(&make).collect(),
            WriteOptions::default(),
        )
        .await?;
        i += n;
    }
    Ok(db)
}
