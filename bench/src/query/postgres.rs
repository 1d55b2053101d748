//! PostgreSQL over the wire (the `postgres` crate, one connection per thread, statements
//! prepared once per connection): a table `docs(id bigint PRIMARY KEY, doc jsonb)`, btree
//! expression indexes on `(doc->>'city')` (with `id` as a second column: SQLite's and
//! NyroDB's index entries are ordered by value then id, so an equality's page by id comes
//! straight from the index; without it PostgreSQL fetches and sorts every match) and
//! `((doc->>'n')::bigint)`, a GIN index
//! (`jsonb_path_ops`) that serves `doc @> '{"tags": ["x"]}'`, and extended statistics on
//! the unindexed `((doc->>'score')::bigint)` so that the planner knows how few documents
//! match it (without them it guesses 0.5% and walks the primary key in id order instead of
//! scanning the table). Loaded with COPY, then indexed, then VACUUM ANALYZE, then the table
//! and its indexes read into shared_buffers (`pg_prewarm`).

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result};
use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};

use super::data::{self, Answer, Dataset, IN_VALUES, PAGE, Query};
use super::{QueryStore, Session};

/// A loaded PostgreSQL database.
pub struct Postgres {
    conninfo: String,
}

impl Postgres {
    /// Connects with `conninfo`, (re)creates the table and loads `data`.
    pub fn load(conninfo: &str, data: &Dataset) -> Result<Self> {
        let mut client = connect(conninfo)?;
        client.batch_execute(
            "DROP TABLE IF EXISTS docs; CREATE TABLE docs (id bigint PRIMARY KEY, doc jsonb NOT NULL);",
        )?;
        let mut copy = client.copy_in("COPY docs (id, doc) FROM STDIN")?;
        let mut line = String::new();
        for doc in &data.docs {
            line.clear();
            line.push_str(&doc.id.to_string());
            line.push('\t');
            // COPY's text format: a backslash starts an escape (the JSON holds none, but
            // the escape keeps it right if it ever does).
            line.push_str(&doc.json().replace('\\', "\\\\"));
            line.push('\n');
            copy.write_all(line.as_bytes())?;
        }
        copy.finish()?;
        client.batch_execute(
            "CREATE INDEX docs_city ON docs ((doc->>'city'), id);
             CREATE INDEX docs_n ON docs (((doc->>'n')::bigint));
             CREATE INDEX docs_doc ON docs USING gin (doc jsonb_path_ops);
             CREATE STATISTICS docs_score ON ((doc->>'score')::bigint) FROM docs;",
        )?;
        // VACUUM cannot run in the transaction a multi-statement string makes.
        client.batch_execute("VACUUM ANALYZE docs")?;
        // COPY, CREATE INDEX and VACUUM go through a small ring of buffers, so the table
        // and its indexes would reach shared_buffers only as the timed queries touch them:
        // read them in first, as the other stores' files are in the page cache after load.
        client.batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pg_prewarm;
             SELECT pg_prewarm(c) FROM unnest(ARRAY['docs', 'docs_pkey', 'docs_city',
                 'docs_n', 'docs_doc']::regclass[]) AS c;",
        )?;
        Ok(Self {
            conninfo: conninfo.to_string(),
        })
    }
}

fn connect(conninfo: &str) -> Result<Client> {
    Client::connect(conninfo, NoTls)
        .with_context(|| format!("connecting to PostgreSQL with {conninfo:?}"))
}

impl QueryStore for Postgres {
    fn session(&self) -> Result<Box<dyn Session + '_>> {
        Ok(Box::new(PgSession {
            client: connect(&self.conninfo)?,
            prepared: HashMap::new(),
        }))
    }

    fn version(&self) -> Result<String> {
        let row = connect(&self.conninfo)?.query_one("SHOW server_version", &[])?;
        Ok(row.try_get::<_, String>(0)?)
    }
}

struct PgSession {
    client: Client,
    prepared: HashMap<&'static str, Statement>,
}

/// The SQL of each kind of query.
fn sql(query: &Query) -> &'static str {
    match query {
        Query::Eq { .. } => {
            "SELECT id, doc::text FROM docs WHERE doc->>'city' = $1 ORDER BY id LIMIT 100"
        }
        Query::Range { .. } => {
            "SELECT id, doc::text FROM docs WHERE (doc->>'n')::bigint BETWEEN $1 AND $2 \
             ORDER BY id LIMIT 100"
        }
        Query::Sorted { .. } => {
            "SELECT id, doc::text FROM docs WHERE (doc->>'n')::bigint >= $1 \
             ORDER BY (doc->>'n')::bigint LIMIT 100"
        }
        Query::In { .. } => {
            "SELECT id, doc::text FROM docs WHERE doc->>'city' \
             IN ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ORDER BY id LIMIT 100"
        }
        Query::Contains { .. } => {
            "SELECT id, doc::text FROM docs WHERE doc @> ($1::text)::jsonb ORDER BY id LIMIT 100"
        }
        Query::Count { .. } => "SELECT count(*) FROM docs WHERE doc->>'city' = $1",
        Query::Scan { .. } => {
            "SELECT id, doc::text FROM docs WHERE (doc->>'score')::bigint = $1 \
             ORDER BY id LIMIT 100"
        }
    }
}

/// The parameters of a query, as PostgreSQL values.
fn params(query: &Query) -> Vec<Box<dyn ToSql + Sync>> {
    match query {
        Query::Eq { city } | Query::Count { city } => vec![Box::new(data::city(*city))],
        Query::Range { lo } => vec![
            Box::new(*lo as i64),
            Box::new((*lo + PAGE as u64 - 1) as i64),
        ],
        Query::Sorted { lo } => vec![Box::new(*lo as i64)],
        Query::In { cities } => {
            debug_assert_eq!(cities.len(), IN_VALUES);
            cities
                .iter()
                .map(|c| Box::new(data::city(*c)) as Box<dyn ToSql + Sync>)
                .collect()
        }
        Query::Contains { tag } => {
            vec![Box::new(format!(r#"{{"tags":["{}"]}}"#, data::tag(*tag)))]
        }
        Query::Scan { score } => vec![Box::new(*score as i64)],
    }
}

impl Session for PgSession {
    fn run(&mut self, query: &Query, _check: bool) -> Result<Answer> {
        let sql = sql(query);
        let statement = match self.prepared.get(sql) {
            Some(statement) => statement.clone(),
            None => {
                let statement = self.client.prepare(sql)?;
                self.prepared.insert(sql, statement.clone());
                statement
            }
        };
        let params = params(query);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        let rows = self.client.query(&statement, &refs)?;
        if let Query::Count { .. } = query {
            let row = rows.first().context("a count without a row")?;
            return Ok(Answer::Count(row.try_get::<_, i64>(0)? as u64));
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut bytes = 0;
        for row in &rows {
            ids.push(row.try_get::<_, i64>(0)? as u64);
            bytes += row.try_get::<_, &str>(1)?.len();
        }
        std::hint::black_box(bytes);
        Ok(Answer::Ids(ids))
    }

    fn explain(&mut self, query: &Query) -> Result<Option<String>> {
        let params = params(query);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        let rows = self
            .client
            .query(&format!("EXPLAIN {}", sql(query)), &refs)?;
        let lines = rows
            .iter()
            .map(|row| row.try_get::<_, String>(0))
            .collect::<Result<Vec<String>, _>>()?;
        Ok(Some(lines.join("\n")))
    }
}
