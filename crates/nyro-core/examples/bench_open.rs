//! Open-time benchmark (run by `scripts/bench-open.sh`, release build): N documents in 64 MB
//! segments; reopen time without hint files, then with them, and the heap the reopened
//! database holds per document.
//!
//! Usage: `bench_open DIR DOCS` fills DIR, closes it, and times each open in a fresh child
//! process (`bench_open DIR DOCS --open`, which opens, checks the count, does a first get and
//! prints `open_secs` and `heap_bytes_per_doc`), three times each way; it prints the medians
//! as `key=value` lines and removes DIR (kept if `BENCH_OPEN_KEEP` is set). `--open` alone is what a profiler runs.

use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use nyro_core::{Config, Database, SyncPolicy};

#[path = "common/bench_docs.rs"]
mod bench_docs;
#[path = "common/memory.rs"]
mod memory;

/// Opens timed per way; the median is reported.
const RUNS: usize = 3;

fn config(dir: &Path) -> Config {
    bench_docs::config(dir, SyncPolicy::Never)
}

fn remove_hints(dir: &Path) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|e| e == "hint" || e == "active-hint")
        {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// CPU time the process has used so far (user and system, all threads), in seconds, at the
/// kernel's tick resolution (usually 10 ms); 0 if unreadable. Unlike elapsed time, it does
/// not count waiting for a core on a busy machine.
pub fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which ends with the last ')'): utime and stime are
    // the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The child: one open, to the first get, timed; then the heap it holds. Closes without
/// the clean close's hint writing being timed.
fn open_once(dir: &Path, docs: u64) -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let heap_before = memory::status_kb("RssAnon:");
    let cpu_before = cpu_secs();
    let started = Instant::now();
    let db = runtime.block_on(Database::open(&config(dir)))?;
    db.get("bench", docs / 2)?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu_before;
    let heap = memory::status_kb("RssAnon:").saturating_sub(heap_before) * 1024;
    let count: u64 = db.collections().iter().map(|c| c.count).sum();
    if count != docs {
        return Err(format!("{count} documents after reopen, expected {docs}").into());
    }
    println!("open_secs={secs:.4}");
    println!("open_cpu_secs={cpu:.2}");
    println!("used_hints={}", db.recovery().hinted_segments);
    println!("heap_bytes_per_doc={:.1}", heap as f64 / docs.max(1) as f64);
    runtime.block_on(db.close())?;
    Ok(())
}

/// Runs `--open` in a child process; returns its `key=value` lines.
fn open_in_child(dir: &Path, docs: u64) -> Result<Vec<(String, String)>, Box<dyn Error>> {
    let out = Command::new(std::env::current_exe()?)
        .arg(dir)
        .arg(docs.to_string())
        .arg("--open")
        .output()?;
    if !out.status.success() {
        return Err(format!("open failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8(out.stdout)?
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn value(lines: &[(String, String)], key: &str) -> Result<String, Box<dyn Error>> {
    lines
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| format!("the child printed no {key}").into())
}

/// The median run (by open time) of [`RUNS`] opens, each after `prepare`.
fn median_open(
    dir: &Path,
    docs: u64,
    prepare: impl Fn() -> Result<(), Box<dyn Error>>,
) -> Result<Vec<(String, String)>, Box<dyn Error>> {
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        prepare()?;
        let run = open_in_child(dir, docs)?;
        let secs: f64 = value(&run, "open_secs")?.parse()?;
        runs.push((secs, run));
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(runs.swap_remove(RUNS / 2).1)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: DIR DOCS")?);
    let docs: u64 = std::env::args().nth(2).ok_or("usage: DIR DOCS")?.parse()?;
    if std::env::args().nth(3).as_deref() == Some("--open") {
        return open_once(&dir, docs);
    }
    let runtime = bench_docs::fresh_start(&dir)?;
    let segments = runtime.block_on(async {
        let db = bench_docs::open_and_fill(&config(&dir), 0..docs, |i| {
            let name = format!("user-{i:012}-abcdefghijklmnopqrstuvwxyz");
            bench_docs::doc(name, i, (i % 100_000) as i64)
        })
        .await?;
        let segments = db.stats().segments;
        db.close().await?;
        Ok::<_, Box<dyn Error>>(segments)
    })?;
    let without = median_open(&dir, docs, || remove_hints(&dir))?;
    // Hints for every sealed segment (the background maintenance writes them too).
    let hinted_segments = runtime.block_on(async {
        let db = Database::open(&config(&dir)).await?;
        let written = db.write_hints().await?;
        db.close().await?;
        Ok::<_, Box<dyn Error>>(written)
    })?;
    let with = median_open(&dir, docs, || Ok(()))?;
    println!("docs={docs}");
    println!("segments={segments}");
    println!("hinted_segments={hinted_segments}");
    println!("used_hints={}", value(&with, "used_hints")?);
    for key in ["open_secs", "open_cpu_secs", "heap_bytes_per_doc"] {
        for (way, run) in [("without", &without), ("with", &with)] {
            println!("{key}_{way}_hints={}", value(run, key)?);
        }
    }
    if std::env::var_os("BENCH_OPEN_KEEP").is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
