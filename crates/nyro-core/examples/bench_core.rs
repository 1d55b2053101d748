//! Core benchmark (run by `scripts/bench-core.sh`, release build). One run measures:
//! durable bulk ingest with `insert_many` batches of 10,000; single-document inserts by 1, 4
//! and 64 concurrent producers under each sync policy; random gets by id on 2 threads
//! (owned, borrowed views touching one field, the codec's decode, JSON); full scans (owned
//! and borrowed); the view's check against the codec's decode; indexed equality queries;
//! reopen time; peak RSS and bytes per record.
//!
//! Usage: bench_core DIR [DOCS]. Prints `key=value` lines. `BENCH_READS_ONLY=1` skips the
//! writes, `BENCH_VIEW_ONLY=1` runs only the view's per-call rows, `BENCH_SCANS_ONLY=1`
//! skips the gets and stops after the scan rows.

use std::error::Error;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[path = "common/memory.rs"]
mod memory;

use nyro_core::{Config, Database, Document, DocumentView, SyncPolicy, Value, WriteOptions};

/// Distinct values of the indexed field.
const CITIES: u64 = 1_000;

/// A document of about 100 bytes encoded: three fields, `city` indexed.
fn doc(i: u64) -> Document {
    Document::new(vec![
        (
            "name".into(),
            Value::String(format!("user-{i:012}-abcdefghijklmnopqrstuvwxyz0123456789")),
        ),
        (
            "city".into(),
            Value::String(format!("city-{:04}", i % CITIES)),
        ),
        ("score".into(), Value::Int((i * 7_919 % 100_000) as i64)),
    ])
}

fn config(dir: &Path, sync: SyncPolicy) -> Config {
    let mut config = Config::default();
    config.storage.path = dir.to_path_buf();
    config.batch.sync = sync;
    config
}

fn fresh(dir: &Path) -> Result<(), Box<dyn Error>> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    Ok(())
}

async fn bulk_ingest(dir: &Path, docs: u64) -> Result<f64, Box<dyn Error>> {
    fresh(dir)?;
    let db = Database::open(&config(dir, SyncPolicy::Always)).await?;
    db.create_collection("bench", &["city".to_string()]).await?;
    let started = Instant::now();
    let mut i = 0;
    while i < docs {
        let n = 10_000.min(docs - i);
        let batch: Vec<Document> = (i..i + n).map(doc).collect();
        db.insert_many("bench", batch, WriteOptions::default())
            .await?;
        i += n;
    }
    let secs = started.elapsed().as_secs_f64();
    db.close().await?;
    Ok(docs as f64 / secs)
}

/// Docs per second, and records per written batch.
async fn producers(
    dir: &Path,
    sync: SyncPolicy,
    tasks: u64,
    docs: u64,
) -> Result<(f64, f64), Box<dyn Error>> {
    fresh(dir)?;
    let db = Database::open(&config(dir, sync)).await?;
    db.create_collection("bench", &["city".to_string()]).await?;
    let per_task = docs / tasks;
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                db.insert("bench", doc(t * per_task + i), WriteOptions::default())
                    .await?;
            }
            Ok::<_, nyro_core::DbError>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let stats = db.stats();
    db.close().await?;
    let per_batch = stats.records_written as f64 / stats.batches.max(1) as f64;
    Ok(((per_task * tasks) as f64 / secs, per_batch))
}

/// Latency of a lone write on an idle writer under `interval`, median of `n`.
async fn lone_write_micros(dir: &Path, n: usize) -> Result<f64, Box<dyn Error>> {
    fresh(dir)?;
    let db = Database::open(&config(dir, SyncPolicy::Interval)).await?;
    db.create_collection("bench", &[]).await?;
    let mut times = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let started = Instant::now();
        db.insert("bench", doc(i), WriteOptions::default()).await?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
        tokio::time::sleep(std::time::Duration::from_micros(200)).await;
    }
    db.close().await?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Nanoseconds per call of `f`, over a million calls.
fn per_call_ns(mut f: impl FnMut() -> Result<(), Box<dyn Error>>) -> Result<f64, Box<dyn Error>> {
    let rounds = 1_000_000u32;
    let started = Instant::now();
    for _ in 0..rounds {
        f()?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e9 / f64::from(rounds))
}

/// One get of the benchmark: the number of fields it found.
type GetRow = fn(&Database, u64) -> usize;
/// One full scan of the benchmark: the number of documents it saw.
type ScanRow = fn(&Database) -> Result<u64, Box<dyn Error>>;

/// Random gets by id on `threads` threads, half a million each; `read` answers the number of
/// fields it found (3 per document). Gets per second.
fn gets(db: &Arc<Database>, threads: u64, docs: u64, read: GetRow) -> Result<f64, Box<dyn Error>> {
    let per_thread = 500_000u64;
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let db = Arc::clone(db);
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                let mut fields = 0usize;
                for _ in 0..per_thread {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    fields += read(&db, 1 + x % docs);
                }
                fields
            })
        })
        .collect();
    let mut found = 0;
    for h in handles {
        found += h.join().map_err(|_| "get thread panicked")?;
    }
    let secs = started.elapsed().as_secs_f64();
    if found != (threads * per_thread) as usize * 3 {
        return Err("some gets found nothing".into());
    }
    Ok((threads * per_thread) as f64 / secs)
}

/// The view against the codec's decode, on one stored document (no log): its check
/// (`DocumentView::new`), a field lookup, JSON, the owned document built from it.
fn view_rows() -> Result<(), Box<dyn Error>> {
    let bytes = doc(42).to_stored_bytes()?;
    let view = DocumentView::new(42, &bytes)?;
    let bytes = &bytes;
    let ns = per_call_ns(|| {
        std::hint::black_box(DocumentView::new(42, std::hint::black_box(bytes))?);
        Ok(())
    })?;
    println!("view_check_ns={ns:.1}");
    let ns = per_call_ns(|| {
        std::hint::black_box(std::hint::black_box(view).get("score"));
        Ok(())
    })?;
    println!("view_get_field_ns={ns:.1}");
    let ns = per_call_ns(|| {
        std::hint::black_box(std::hint::black_box(view).to_document());
        Ok(())
    })?;
    println!("view_to_document_ns={ns:.1}");
    let mut json = Vec::with_capacity(256);
    let ns = per_call_ns(|| {
        json.clear();
        std::hint::black_box(view).write_json(&mut json);
        std::hint::black_box(&json);
        Ok(())
    })?;
    println!("view_write_json_ns={ns:.1}");
    let ns = per_call_ns(|| {
        std::hint::black_box(Document::from_stored_bytes(
            Some(42),
            std::hint::black_box(bytes),
        )?);
        Ok(())
    })?;
    println!("codec_decode_ns={ns:.1}");
    let ns = per_call_ns(|| {
        let doc = Document::from_stored_bytes(Some(42), std::hint::black_box(bytes))?;
        std::hint::black_box(serde_json::to_vec(&doc.to_json())?);
        Ok(())
    })?;
    println!("codec_decode_to_json_ns={ns:.1}");
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: DIR [DOCS]")?);
    let docs: u64 = std::env::args()
        .nth(2)
        .map_or(Ok(1_000_000), |v| v.parse())?;
    // BENCH_READS_ONLY=1 skips the write measurements (for profiling the read path).
    let reads_only = std::env::var("BENCH_READS_ONLY").is_ok_and(|v| v == "1");
    // BENCH_VIEW_ONLY=1 runs only the per-call rows of the view and the codec.
    if std::env::var("BENCH_VIEW_ONLY").is_ok_and(|v| v == "1") {
        return view_rows();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let work = dir.join("work");
    runtime.block_on(async {
        println!("docs={docs}");
        if reads_only {
            return Ok(());
        }
        println!(
            "bulk_always_docs_per_sec={:.0}",
            bulk_ingest(&work, docs).await?
        );
        for sync in [SyncPolicy::Always, SyncPolicy::Interval, SyncPolicy::Never] {
            for tasks in [1u64, 4, 64] {
                // Under `always` few producers are bound by fdatasyncs: keep those runs short.
                let count = match sync {
                    SyncPolicy::Always => (tasks * 2_000).min(docs),
                    _ => (tasks * 50_000).min(docs),
                };
                let (rate, per_batch) = producers(&work, sync, tasks, count).await?;
                println!("producers_{sync}_{tasks}_docs_per_sec={rate:.0}");
                println!("producers_{sync}_{tasks}_records_per_batch={per_batch:.1}");
            }
        }
        println!(
            "lone_write_interval_micros={:.1}",
            lone_write_micros(&work, 200).await?
        );
        Ok::<_, Box<dyn Error>>(())
    })?;

    // The database used for reads: the bulk ingest, reopened.
    let read_dir = dir.join("read");
    runtime.block_on(async {
        fresh(&read_dir)?;
        let db = Database::open(&config(&read_dir, SyncPolicy::Never)).await?;
        db.create_collection("bench", &["city".to_string()]).await?;
        let mut i = 0;
        while i < docs {
            let n = 10_000.min(docs - i);
            db.insert_many(
                "bench",
                (i..i + n).map(doc).collect(),
                WriteOptions::default(),
            )
            .await?;
            i += n;
        }
        db.close().await?;
        Ok::<_, Box<dyn Error>>(())
    })?;
    let rss_before = memory::status_kb("RssAnon:");
    let started = Instant::now();
    let db = runtime.block_on(Database::open(&config(&read_dir, SyncPolicy::Never)))?;
    println!("reopen_secs={:.3}", started.elapsed().as_secs_f64());
    let rss_after = memory::status_kb("RssAnon:");
    println!(
        "heap_bytes_per_doc_after_open={:.1}",
        (rss_after.saturating_sub(rss_before)) as f64 * 1024.0 / docs as f64
    );
    let disk: u64 = db.stats().disk_bytes;
    println!("disk_bytes_per_doc={:.1}", disk as f64 / docs as f64);

    // Random gets on 2 threads: owned documents (`get`), a view touching one field
    // (`get_with`), a view decoded by the codec as before views (`get_with` +
    // `Document::from_stored_bytes`: the view's check plus the old decode), and JSON from
    // a view. The rows take turns, three rounds, and each reports its median round, so that
    // a busy machine favours none.
    let db = Arc::new(db);
    let get_threads: u64 = std::env::var("BENCH_GET_THREADS").map_or(Ok(2), |v| v.parse())?;
    let get_rows: [(&str, GetRow); 4] = [
        ("gets", |db, id| {
            db.get("bench", id).map(|d| d.fields.len()).unwrap_or(0)
        }),
        ("gets_with_one_field", |db, id| {
            db.get_with("bench", id, |v| {
                v.get("score").and_then(|s| s.as_i64()).map_or(0, |_| 3)
            })
            .unwrap_or(0)
        }),
        ("gets_codec_decode", |db, id| {
            db.get_with("bench", id, |v| {
                Document::from_stored_bytes(Some(id), v.bytes()).map_or(0, |d| d.fields.len())
            })
            .unwrap_or(0)
        }),
        ("gets_json", |db, id| {
            let mut json = Vec::with_capacity(256);
            db.get_with("bench", id, |v| v.write_json(&mut json))
                .map_or(0, |()| 3 * usize::from(!json.is_empty()))
        }),
    ];
    // BENCH_SCANS_ONLY=1 runs only the scan rows after the reopen (for profiling scans).
    let scans_only = std::env::var("BENCH_SCANS_ONLY").is_ok_and(|v| v == "1");
    let mut rounds = [const { Vec::new() }; 4];
    for _ in 0..if scans_only { 0 } else { 3 } {
        for (rates, (_, row)) in rounds.iter_mut().zip(&get_rows) {
            rates.push(gets(&db, get_threads, docs, *row)?);
        }
    }
    for ((name, _), rate) in get_rows
        .iter()
        .zip(rounds.map(median))
        .filter(|_| !scans_only)
    {
        println!("{name}_{get_threads}_threads_per_sec={rate:.0}");
    }

    // Full scans on one thread, taking turns as the gets do: owned documents
    // (`documents`), views decoded by the codec as before views, and views touching one
    // field (`scan_with`).
    let scan_rows: [(&str, ScanRow); 3] = [
        ("scan_documents", |db| {
            let mut seen = 0;
            for d in db.documents("bench")? {
                seen += u64::from(d?.get("score").is_some());
            }
            Ok(seen)
        }),
        ("scan_codec_decode", |db| {
            let mut seen = 0;
            db.scan_with("bench", None, |v| {
                let d = Document::from_stored_bytes(Some(v.id()), v.bytes());
                seen += u64::from(d.is_ok_and(|d| d.get("score").is_some()));
                std::ops::ControlFlow::Continue(())
            })?;
            Ok(seen)
        }),
        ("scan_with", |db| {
            let mut seen = 0;
            db.scan_with("bench", None, |v| {
                seen += u64::from(v.get("score").is_some());
                std::ops::ControlFlow::Continue(())
            })?;
            Ok(seen)
        }),
    ];
    let mut rounds = [const { Vec::new() }; 3];
    for _ in 0..3 {
        for (rates, (_, row)) in rounds.iter_mut().zip(&scan_rows) {
            let started = Instant::now();
            if row(&db)? != docs {
                return Err("a scan missed documents".into());
            }
            rates.push(docs as f64 / started.elapsed().as_secs_f64());
        }
    }
    for ((name, _), rate) in scan_rows.iter().zip(rounds.map(median)) {
        println!("{name}_docs_per_sec={rate:.0}");
    }
    if scans_only {
        return Ok(());
    }

    view_rows()?;

    // Indexed equality queries, 100 results per page.
    let queries = 20_000u64;
    let started = Instant::now();
    for q in 0..queries {
        let city = vec![(
            "city".to_string(),
            Value::String(format!("city-{:04}", q % CITIES)),
        )];
        let page = db.find("bench", &city, None, 100)?;
        std::hint::black_box(page.records.len());
    }
    let secs = started.elapsed().as_secs_f64();
    println!("queries_per_sec={:.0}", queries as f64 / secs);
    println!("query_docs_per_sec={:.0}", 100.0 * queries as f64 / secs);
    println!(
        "peak_rss_mb={:.0}",
        memory::status_kb("VmHWM:") as f64 / 1024.0
    );
    drop(db);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The median of `rates` (the upper one of an even count); 0 for none.
fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(0.0)
}
