//! Open-time benchmark (run by `scripts/bench-open.sh`, release build): N documents in 64 MB
//! segments; reopen time without hint files, then with them.
//!
//! Usage: bench_open DIR DOCS. Prints `key=value` lines.

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use nyro_core::{Config, Database, SyncPolicy};

#[path = "common/bench_docs.rs"]
mod bench_docs;

fn config(dir: &Path) -> Config {
    bench_docs::config(dir, SyncPolicy::Never)
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
    let runtime = bench_docs::fresh_start(&dir)?;
    runtime.block_on(async {
        let db = bench_docs::open_and_fill(&config(&dir), 0..docs, |i| {
            let name = format!("user-{i:012}-abcdefghijklmnopqrstuvwxyz");
            bench_docs::doc(name, i, (i % 100_000) as i64)
        })
        .await?;
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
