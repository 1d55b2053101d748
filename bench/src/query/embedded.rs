//! NyroDB embedded: `nyro_core::Database` in this process, queries built with the query
//! builder (`nyro_core::query::{Query, Filter}`, not JSON strings) and run with
//! `Database::query_with`, which lends each document of the page as a borrowed
//! `DocumentView` of the stored bytes (as the other stores' rows are read in place).
//! Loaded with `replace_many` in batches of 10,000 (ids 1..=docs) into a collection created
//! with indexes on `n`, `city` and `tags`, on the default config but `batch.sync = "never"`
//! (nothing is written while timed) and `query.max_scan` at least the number of documents.

use std::path::Path;

use anyhow::{Context, Result};
use nyro_core::query::{Condition, Filter, Query as NyroQuery};
use nyro_core::{Database, DbError, Document, WriteOptions};
use tokio::runtime::Runtime;

use super::data::{self, Answer, Dataset, INDEXED, PAGE, Query};
use super::{QueryStore, Session};

/// The collection's name.
const COLLECTION: &str = "docs";
/// Documents per `replace_many` while loading.
const BATCH: usize = 10_000;

/// A database loaded with the documents (and the runtime its writes ran on).
pub struct Embedded {
    _runtime: Runtime,
    db: Database,
}

impl Embedded {
    /// Opens a database in the empty directory `dir` and loads `data`.
    pub fn load(dir: &Path, data: &Dataset) -> Result<Self> {
        let (runtime, mut config) = crate::stores::nyro::Nyro::runtime_and_config(dir)?;
        config.query.max_scan = config.query.max_scan.max(data.docs.len() as u64);
        let db = runtime.block_on(async {
            let db = Database::open(&config).await?;
            let indexes: Vec<String> = INDEXED.iter().map(|p| p.to_string()).collect();
            db.create_collection(COLLECTION, &indexes).await?;
            for chunk in data.docs.chunks(BATCH) {
                let docs = chunk
                    .iter()
                    .map(|doc| {
                        let json: serde_json::Value = serde_json::from_str(&doc.json())?;
                        let mut document = Document::from_json(json)?;
                        document.id = Some(doc.id);
                        Ok(document)
                    })
                    .collect::<Result<Vec<Document>>>()?;
                let options = WriteOptions { sync: false };
                db.replace_many(COLLECTION, docs, options).await?;
            }
            db.flush().await?;
            anyhow::Ok(db)
        })?;
        Ok(Self {
            _runtime: runtime,
            db,
        })
    }
}

impl QueryStore for Embedded {
    fn session(&self) -> Result<Box<dyn Session + '_>> {
        Ok(Box::new(EmbeddedSession { db: &self.db }))
    }

    fn version(&self) -> Result<String> {
        // The workspace's version: the script reports it.
        Ok(String::new())
    }
}

struct EmbeddedSession<'a> {
    db: &'a Database,
}

/// `query` built with the query builder: the same filter, sort, limit and count as
/// [`Query::body`] sends the server.
fn build(query: &Query) -> Result<NyroQuery> {
    let page = |filter: Filter| NyroQuery::new(filter).limit(PAGE);
    Ok(match query {
        Query::Eq { city } => page(Filter::eq("city", data::city(*city))?),
        Query::Range { lo } => {
            // One path with both bounds, as `{"n": {"$gte": lo, "$lte": hi}}` reads.
            let path = nyro_core::query::Path::parse("n")?;
            let last = *lo + PAGE as u64 - 1;
            page(Filter::Path(
                path,
                vec![Condition::Gte((*lo).into()), Condition::Lte(last.into())],
            ))
        }
        Query::Sorted { lo } => page(Filter::path("n")?.gte(*lo)).sort("n", false),
        Query::In { cities } => {
            page(Filter::path("city")?.in_(cities.iter().map(|c| data::city(*c))))
        }
        Query::Contains { tag } => page(Filter::eq("tags", data::tag(*tag))?),
        Query::Count { city } => NyroQuery::new(Filter::eq("city", data::city(*city))?).count(),
        Query::Scan { score } => page(Filter::eq("score", *score)?),
    })
}

impl Session for EmbeddedSession<'_> {
    fn run(&mut self, query: &Query, _check: bool) -> Result<Answer> {
        let built = build(query)?;
        let mut ids = Vec::with_capacity(PAGE);
        let mut bytes = 0;
        let outcome = self.db.query_with(COLLECTION, &built, |view| {
            ids.push(view.id());
            bytes += view.len();
        });
        std::hint::black_box(bytes);
        match outcome {
            Ok(outcome) if built.count => Ok(Answer::Count(
                outcome.count.context("a count query answered no count")?,
            )),
            Ok(_) => Ok(Answer::Ids(ids)),
            Err(e @ (DbError::Invalid { .. } | DbError::NotIndexed { .. })) => {
                Ok(Answer::Refused(e.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn explain(&mut self, query: &Query) -> Result<Option<String>> {
        let explain = self.db.explain(COLLECTION, &build(query)?)?;
        Ok(Some(serde_json::to_string(&explain)?))
    }
}
