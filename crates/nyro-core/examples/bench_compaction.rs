//! Compaction benchmark (run by `scripts/bench-compaction.sh`, release build): ingest N
//! documents, replace each one twice, then measure disk bytes before and after compaction
//! against live bytes, compaction throughput, single-document write throughput while a
//! compaction runs against without, and reopen time after compaction.
//!
//! Usage: bench_compaction DIR [DOCS]. Prints `key=value` lines.

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use nyro_core::{Config, Database, Document, SyncPolicy, WriteOptions};

#[path = "common/bench_docs.rs"]
mod bench_docs;

/// Document `i` as of its `version`th replacement (0: as inserted).
fn doc(i: u64, version: u64) -> Document {
    bench_docs::doc(
        format!("user-{i:012}-v{version}-abcdefghijklmnopqrstuvwxyz0123"),
        i,
        (i * 7_919 % 100_000) as i64,
    )
}

fn config(dir: &Path) -> Config {
    bench_docs::config(dir, SyncPolicy::Interval)
}

/// Replaces every document once, from 64 concurrent tasks.
async fn replace_all(db: &Database, docs: u64, version: u64) -> Result<(), Box<dyn Error>> {
    let tasks = 64;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            let mut id = 1 + t;
            while id <= docs {
                db.replace("bench", id, doc(id, version), WriteOptions::default())
                    .await?;
                id += tasks;
            }
            Ok::<_, nyro_core::DbError>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(())
}

/// Single-document inserts by 64 tasks for `duration`; docs/s.
async fn write_rate(db: &Database, duration: Duration, base: u64) -> Result<f64, Box<dyn Error>> {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..64u64 {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < duration {
                db.insert(
                    "bench",
                    doc(base + t * 1_000_000 + n, 0),
                    WriteOptions::default(),
                )
                .await?;
                n += 1;
            }
            Ok::<_, nyro_core::DbError>(n)
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: DIR [DOCS]")?);
    let docs: u64 = std::env::args()
        .nth(2)
        .map_or(Ok(1_000_000), |v| v.parse())?;
    let runtime = bench_docs::fresh_start(&dir)?;
    runtime.block_on(async {
        let db = bench_docs::open_and_fill(&config(&dir), 1..docs + 1, |i| doc(i, 0)).await?;
        replace_all(&db, docs, 1).await?;
        replace_all(&db, docs, 2).await?;
        db.flush().await?;
        let before = db.stats();
        println!("docs={docs}");
        println!("disk_bytes_before={}", before.disk_bytes);
        println!("live_bytes_before={}", before.live_bytes);
        let started = Instant::now();
        let summary = db.compact().await?;
        let secs = started.elapsed().as_secs_f64();
        let after = db.stats();
        println!("compaction_secs={secs:.3}");
        println!("segments_rewritten={}", summary.segments_rewritten);
        println!(
            "compaction_read_mb_per_sec={:.1}",
            summary.bytes_before as f64 / secs / 1e6
        );
        println!("disk_bytes_after={}", after.disk_bytes);
        println!("live_bytes_after={}", after.live_bytes);
        println!(
            "disk_over_live_after={:.3}",
            after.disk_bytes as f64 / after.live_bytes.max(1) as f64
        );

        // Writes with and without a compaction running (dead data made again first).
        let quiet = write_rate(&db, Duration::from_secs(5), 10_000_000).await?;
        replace_all(&db, docs, 3).await?;
        let compacting = {
            let db2 = db.clone();
            let compaction = tokio::spawn(async move { db2.compact().await });
            let rate = write_rate(&db, Duration::from_secs(5), 20_000_000).await?;
            let finished = compaction.is_finished();
            compaction.await??;
            println!("compaction_outlasted_write_window={}", !finished);
            rate
        };
        println!("writes_without_compaction_docs_per_sec={quiet:.0}");
        println!("writes_during_compaction_docs_per_sec={compacting:.0}");
        db.close().await?;
        Ok::<_, Box<dyn Error>>(())
    })?;
    let started = Instant::now();
    let db = runtime.block_on(Database::open(&config(&dir)))?;
    println!(
        "reopen_secs_without_hints={:.3}",
        started.elapsed().as_secs_f64()
    );
    let count: u64 = db.collections().iter().map(|c| c.count).sum();
    println!("docs_after_reopen={count}");
    drop(db);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
