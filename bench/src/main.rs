//! # nyro-bench: NyroDB against redb, fjall, sled, LMDB and RocksDB
//!
//! Runs the same workloads with the same records and the same durability against NyroDB's
//! embedded API and five embedded key-value stores, then turns the results into
//! docs/BENCHMARKS.md tables and a PNG chart. Two modes ([`record::Mode`]): `native`, each
//! store on its own best path (its own compact encoding read in place, NyroDB's fastest read
//! API, non-durable YCSB updates), and `same-bytes`, every store keeping NyroDB's stored
//! bytes and decoding them into an owned `Document` (every write durable).
//! `scripts/bench-compare.sh` drives it; docs/BENCHMARKS.md ("Comparison with other
//! stores") states every setting and what the figures mean.
//!
//! - `run`: one store, every workload, in this process (a fresh process per store and
//!   round, so no store inherits another's memory); prints its [`run::RunResult`] as JSON.
//! - `report`: the medians over all results of a directory, as Markdown and a PNG.
//! - `query`: the query benchmark against one store (NyroDB embedded or its server, SQLite,
//!   PostgreSQL; see [`query`]), its results as JSON; `query-report` turns a directory of
//!   them into the table of docs/BENCHMARKS.md's "Queries" (`scripts/bench-query.sh`).
//!
//! Only `stores/lmdb.rs` holds `unsafe` (heed's `EnvOpenOptions::open` and `Env::set_flags`
//! are unsafe fns), each with its SAFETY comment; this crate is outside the main workspace
//! and ships nowhere. RocksDB is Debian's shared library, linked (see bench/Cargo.toml).

#![deny(unsafe_code)]

mod query;
mod record;
mod report;
mod run;
mod store;
mod stores;
mod workload;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::record::Mode;

#[derive(Parser)]
#[command(about = "NyroDB compared with redb, fjall, sled, LMDB and RocksDB")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs every workload against one store and writes its results as JSON.
    Run {
        /// nyrodb, redb, fjall, sled, lmdb or rocksdb.
        #[arg(long)]
        store: String,
        /// native (each store's own encoding, read in place) or same-bytes (NyroDB's bytes,
        /// decoded into a `Document`).
        #[arg(long, default_value = "native")]
        mode: Mode,
        /// An empty (or missing) directory for the store's files.
        #[arg(long)]
        dir: PathBuf,
        /// Documents to load.
        #[arg(long, default_value_t = 1_000_000)]
        docs: u64,
        /// Seconds per timed workload (gets, the YCSB mixes, concurrent writers).
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Where to write the JSON result.
        #[arg(long)]
        out: PathBuf,
        /// Run only these workloads after the ingest and reopen (comma-separated: gets,
        /// scan, overwrite, ycsb-c, ycsb-b, ycsb-a, writers); all by default. For profiling.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Writes the Markdown table of the medians of every result of one mode in a directory,
    /// and a chart.
    Report {
        /// The directory of JSON results.
        #[arg(long)]
        results: PathBuf,
        /// The mode whose results to take.
        #[arg(long, default_value = "native")]
        mode: Mode,
        /// Where to write the PNG chart; none if not given.
        #[arg(long, requires = "font")]
        png: Option<PathBuf>,
        /// A TrueType font for the chart's text.
        #[arg(long)]
        font: Option<PathBuf>,
    },
    /// The query benchmark against one store: loads the documents, checks each kind of
    /// query, times each at each thread count and writes the results as JSON.
    Query(query::Settings),
    /// The Markdown table of the query benchmark's results in a directory.
    QueryReport {
        /// The directory of JSON results (one per store).
        #[arg(long)]
        results: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run {
            store,
            mode,
            dir,
            docs,
            seconds,
            out,
            only,
        } => {
            let result = run::run(&store, mode, &dir, docs, seconds, &only)?;
            let json = serde_json::to_string_pretty(&result)?;
            std::fs::write(&out, json).with_context(|| format!("writing {}", out.display()))?;
        }
        Command::Report {
            results,
            mode,
            png,
            font,
        } => {
            let medians = report::medians(&results, mode)?;
            if let (Some(png), Some(font)) = (png, font) {
                report::chart(&medians, &png, &font)?;
            }
            println!("{}", report::table(&medians));
            println!("rounds={} docs={}", medians.rounds, medians.docs);
        }
        Command::Query(settings) => {
            let result = query::run(&settings)?;
            let json = serde_json::to_string_pretty(&result)?;
            let out = &settings.out;
            std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
        }
        Command::QueryReport { results } => {
            println!("{}", query::report::table(&query::report::load(&results)?));
        }
    }
    Ok(())
}
