//! The query benchmark (`nyro-bench query`): 1,000,000 JSON documents with indexes on an
//! integer, a string and an array field, queried in NyroDB (embedded, and its server over
//! the wire), SQLite (bundled, JSON1 expression indexes) and PostgreSQL (`jsonb`,
//! expression and GIN indexes, over the wire); `scripts/bench-query.sh` starts the servers
//! and drives it.
//!
//! One process per store: it loads the documents, checks every kind of query against the
//! answers computed from the documents ([`data::Dataset::expect`]), then times each kind at
//! each thread count, round after round. A kind the store refuses is recorded as refused, a
//! kind it answers wrongly as wrong; neither is timed.

pub mod data;
pub mod embedded;
pub mod postgres;
pub mod report;
pub mod server;
pub mod sqlite;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::workload::timed;
use data::{Answer, Dataset, Kind, Query};

/// A store loaded with the documents.
pub trait QueryStore: Sync {
    /// A new client of the store for one thread (a connection of its own).
    fn session(&self) -> Result<Box<dyn Session + '_>>;

    /// The store's version, for the report.
    fn version(&self) -> Result<String>;
}

/// One thread's client.
pub trait Session: Send {
    /// Runs `query` and reads its whole answer; with `check`, answers the ids (or count)
    /// returned, else may answer only that something was received.
    fn run(&mut self, query: &Query, check: bool) -> Result<Answer>;

    /// The store's plan for `query`, if it shows one (printed once per kind, on stderr).
    fn explain(&mut self, _query: &Query) -> Result<Option<String>> {
        Ok(None)
    }
}

/// The stores the benchmark knows, in the tables' order.
pub const STORES: [&str; 4] = ["nyrodb", "nyrodb-server", "sqlite", "postgres"];

/// Where a store is, and how it is run (the arguments of `nyro-bench query`).
#[derive(clap::Args)]
pub struct Settings {
    /// nyrodb, nyrodb-server, sqlite or postgres.
    #[arg(long)]
    pub store: String,
    /// Documents to load.
    #[arg(long, default_value_t = 1_000_000)]
    pub docs: u64,
    /// Rounds: every kind at every thread count once per round.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Seconds per timed kind and thread count (a query in flight at the end completes and
    /// counts).
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Thread counts (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub threads: Vec<usize>,
    /// Run only these kinds of query (comma-separated); all by default. For profiling.
    #[arg(long, value_delimiter = ',')]
    pub kinds: Vec<Kind>,
    /// An empty (or missing) directory for an embedded store's files.
    #[arg(long, default_value = "nyro-bench-query")]
    pub dir: std::path::PathBuf,
    /// The server's address: a PostgreSQL connection string, or NyroDB's base URL.
    #[arg(long)]
    pub url: Option<String>,
    /// Where to write the JSON result.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// What one store's run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryResult {
    /// The store.
    pub store: String,
    /// Documents loaded.
    pub docs: u64,
    /// The store's version.
    pub version: String,
    /// Seconds to load the documents and build the indexes.
    pub load_secs: f64,
    /// Seconds per timed figure.
    pub seconds: f64,
    /// One row per kind.
    pub rows: Vec<KindResult>,
}

/// One kind's figures in one store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KindResult {
    /// The kind.
    pub kind: Kind,
    /// Why the store refused it, if it did.
    pub refused: Option<String>,
    /// How its answer differed from the expected one, if it did.
    pub wrong: Option<String>,
    /// Queries per second per thread count, one figure per round.
    pub qps: BTreeMap<usize, Vec<f64>>,
}

/// Loads the store `settings` names, checks it and times it.
pub fn run(settings: &Settings) -> Result<QueryResult> {
    eprintln!("generating {} documents", settings.docs);
    let data = Dataset::new(settings.docs);
    let started = Instant::now();
    let url = || {
        settings
            .url
            .clone()
            .ok_or_else(|| anyhow::anyhow!("store {} needs --url", settings.store))
    };
    let store: Box<dyn QueryStore> = match settings.store.as_str() {
        "nyrodb" => Box::new(embedded::Embedded::load(&settings.dir, &data)?),
        "sqlite" => Box::new(sqlite::Sqlite::load(&settings.dir, &data)?),
        "postgres" => Box::new(postgres::Postgres::load(&url()?, &data)?),
        "nyrodb-server" => Box::new(server::Server::load(&url()?, &data)?),
        other => bail!(
            "unknown store {other:?}: choose one of {}",
            STORES.join(", ")
        ),
    };
    let load_secs = started.elapsed().as_secs_f64();
    eprintln!("{}: loaded in {load_secs:.1} s", settings.store);
    let rows = measure(store.as_ref(), &data, settings)?;
    Ok(QueryResult {
        store: settings.store.clone(),
        version: store.version()?,
        docs: settings.docs,
        load_secs,
        seconds: settings.seconds,
        rows,
    })
}

/// Random queries each kind is checked with.
const CHECKS: usize = 5;

/// Checks every kind, then times those answered right.
fn measure(store: &dyn QueryStore, data: &Dataset, settings: &Settings) -> Result<Vec<KindResult>> {
    let most = settings.threads.iter().copied().max().unwrap_or(1);
    let sessions: Vec<Mutex<(Box<dyn Session + '_>, StdRng)>> = (0..most)
        .map(|i| {
            Ok(Mutex::new((
                store.session()?,
                StdRng::seed_from_u64(i as u64),
            )))
        })
        .collect::<Result<_>>()?;
    let mut rows: Vec<KindResult> = Kind::ALL
        .iter()
        .filter(|kind| settings.kinds.is_empty() || settings.kinds.contains(kind))
        .map(|&kind| KindResult {
            kind,
            refused: None,
            wrong: None,
            qps: BTreeMap::new(),
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(1_000);
    {
        let mut first = lock(&sessions[0])?;
        for row in &mut rows {
            for i in 0..CHECKS {
                let query = row.kind.random(&mut rng, settings.docs);
                let expected = data.expect(&query);
                if i == 0
                    && let Some(plan) = first.0.explain(&query)?
                {
                    eprintln!("{}: plan of {query:?}:\n{plan}", settings.store);
                }
                match first.0.run(&query, true)? {
                    Answer::Refused(why) => row.refused = Some(why),
                    got if got != expected => {
                        row.wrong = Some(format!(
                            "{query:?}: expected {}, got {}",
                            summary(&expected),
                            summary(&got)
                        ));
                    }
                    _ => continue,
                }
                eprintln!(
                    "{}: {:?} not timed: {}",
                    settings.store,
                    row.kind,
                    row.refused
                        .as_ref()
                        .or(row.wrong.as_ref())
                        .map_or("", |s| s)
                );
                break;
            }
        }
    }
    let duration = Duration::from_secs_f64(settings.seconds);
    for round in 1..=settings.rounds {
        for row in rows
            .iter_mut()
            .filter(|r| r.refused.is_none() && r.wrong.is_none())
        {
            for &threads in &settings.threads {
                let qps = timed(threads, duration, |thread, _| {
                    let mut guard = lock(&sessions[thread])?;
                    let (session, rng) = &mut *guard;
                    let query = row.kind.random(rng, settings.docs);
                    match session.run(&query, false)? {
                        Answer::Refused(why) => bail!("{query:?} refused while timed: {why}"),
                        _ => Ok(()),
                    }
                })?;
                eprintln!(
                    "{} round {round}/{}: {:?} at {threads} thread(s): {qps:.0} queries/s",
                    settings.store, settings.rounds, row.kind
                );
                row.qps.entry(threads).or_default().push(qps);
            }
        }
    }
    Ok(rows)
}

/// An answer in a few words: a count, or how many ids and the first of them.
fn summary(answer: &Answer) -> String {
    match answer {
        Answer::Ids(ids) if ids.len() > 5 => format!("{} ids {:?}...", ids.len(), &ids[..5]),
        Answer::Ids(ids) => format!("{} ids {ids:?}", ids.len()),
        other => format!("{other:?}"),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    mutex
        .lock()
        .map_err(|_| anyhow::anyhow!("a benchmark thread panicked holding its session"))
}
