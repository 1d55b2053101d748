//! Open-time benchmark (run by `scripts/bench-open.sh`, release build): N documents in 64 MB
//! segments; reopen time without hint files, then with them.
//!
//! Usage: bench_open DIR DOCS. Prints `key=value` lines.

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use nyro_core::{Config, Database, Document, SyncPolicy, Value, WriteOptions};

fn config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.storage.path = dir.to_path_buf();
    config.storage.segment_size_mb = 64;
    config.batch.sync = SyncPolicy::Never;
    config.compaction.auto = false;
    config
}

fn remove_hints(dir: &Path) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "hint") {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: DIR DOCS")?);
    let docs: u64 = std::env::args().nth(2).ok_or("usage: DIR DOCS")?.parse()?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = Database::open(&config(&dir)).await?;
        db.create_collection("bench", &["city".to_string()]).await?;
        let mut i = 0;
        while i < docs {
            let n = 10_000.min(docs - i);
            let batch = (i..i + n)
                .map(|i| {
                    Document::new(vec![
                        (
                            "name".into(),
                            Value::String(format!("user-{i:012}-abcdefghijklmnopqrstuvwxyz")),
                        ),
                        (
                            "city".into(),
                            Value::String(format!("city-{:04}", i % 1000)),
                        ),
                        ("score".into(), Value::Int((i % 100_000) as i64)),
                    ])
                })
                .collect();
            db.insert_many("bench", batch, WriteOptions::default())
                .await?;
            i += n;
        }
        db.close().await?;
        Ok::<_, Box<dyn Error>>(())
    })?;
    remove_hints(&dir)?;
    let time_open = |runtime: &tokio::runtime::Runtime| -> Result<(f64, Database), Box<dyn Error>> {
        let started = Instant::now();
        let db = runtime.block_on(Database::open(&config(&dir)))?;
        Ok((started.elapsed().as_secs_f64(), db))
    };
    let (without, db) = time_open(&runtime)?;
    let segments = db.stats().segments;
    let hinted_segments = runtime.block_on(db.write_hints())?;
    runtime.block_on(db.close())?;
    let (with, db) = time_open(&runtime)?;
    let count: u64 = db.collections().iter().map(|c| c.count).sum();
    if count != docs {
        return Err(format!("{count} documents after reopen, expected {docs}").into());
    }
    println!("docs={docs}");
    println!("segments={segments}");
    println!("hinted_segments={hinted_segments}");
    println!("used_hints={}", db.recovery().hinted_segments);
    println!("open_secs_without_hints={without:.3}");
    println!("open_secs_with_hints={with:.3}");
    runtime.block_on(db.close())?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
