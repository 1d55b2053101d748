//! SQLite (rusqlite's bundled build) with JSON1: a table `docs(id INTEGER PRIMARY KEY, doc
//! TEXT)` holding each document as JSON text, expression indexes on `json_extract(doc,
//! '$.n')` and `json_extract(doc, '$.city')`, WAL mode, one connection per thread with its
//! statements prepared once (`prepare_cached`).
//!
//! No index serves the array contains: SQLite indexes one value per row and expression, so
//! `tags` would need a side table (one row per element) kept in step by triggers. The
//! query is `EXISTS (SELECT 1 FROM json_each(doc, '$.tags') WHERE value = ?)`, a scan in id
//! order until the page is full.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{Connection, params_from_iter};

use super::data::{self, Answer, Dataset, PAGE, Query};
use super::{QueryStore, Session};

/// A loaded SQLite database file.
pub struct Sqlite {
    path: PathBuf,
}

/// The settings of every connection: WAL, and reads through a memory map of up to 4 GiB
/// (the whole file, here).
const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
     PRAGMA mmap_size = 4294967296;";

fn open(path: &Path) -> Result<Connection> {
    let conn =
        Connection::open(path).with_context(|| format!("opening SQLite at {}", path.display()))?;
    conn.execute_batch(PRAGMAS)?;
    Ok(conn)
}

impl Sqlite {
    /// Creates the database in `dir`, loads `data` in one transaction, then builds the
    /// indexes and runs ANALYZE.
    pub fn load(dir: &Path, data: &Dataset) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("docs.sqlite");
        let mut conn = open(&path)?;
        conn.execute_batch("CREATE TABLE docs (id INTEGER PRIMARY KEY, doc TEXT NOT NULL);")?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO docs (id, doc) VALUES (?1, ?2)")?;
            for doc in &data.docs {
                insert.execute((doc.id as i64, doc.json()))?;
            }
        }
        tx.commit()?;
        conn.execute_batch(
            "CREATE INDEX docs_n ON docs (json_extract(doc, '$.n'));
             CREATE INDEX docs_city ON docs (json_extract(doc, '$.city'));
             ANALYZE;",
        )?;
        Ok(Self { path })
    }
}

impl QueryStore for Sqlite {
    fn session(&self) -> Result<Box<dyn Session + '_>> {
        Ok(Box::new(SqliteSession {
            conn: open(&self.path)?,
        }))
    }

    fn version(&self) -> Result<String> {
        Ok(rusqlite::version().to_string())
    }
}

struct SqliteSession {
    conn: Connection,
}

/// The SQL of each query and its parameters (as SQLite values).
fn sql(query: &Query) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value::{Integer, Text};
    let page =
        |filter: &str| format!("SELECT id, doc FROM docs WHERE {filter} ORDER BY id LIMIT {PAGE}");
    match query {
        Query::Eq { city } => (
            page("json_extract(doc, '$.city') = ?1"),
            vec![Text(data::city(*city))],
        ),
        Query::Range { lo } => (
            page("json_extract(doc, '$.n') BETWEEN ?1 AND ?2"),
            vec![Integer(*lo as i64), Integer((*lo + PAGE as u64 - 1) as i64)],
        ),
        Query::Sorted { lo } => (
            format!(
                "SELECT id, doc FROM docs WHERE json_extract(doc, '$.n') >= ?1 \
                 ORDER BY json_extract(doc, '$.n') LIMIT {PAGE}"
            ),
            vec![Integer(*lo as i64)],
        ),
        Query::In { cities } => {
            let marks: Vec<String> = (1..=cities.len()).map(|i| format!("?{i}")).collect();
            (
                page(&format!(
                    "json_extract(doc, '$.city') IN ({})",
                    marks.join(", ")
                )),
                cities.iter().map(|c| Text(data::city(*c))).collect(),
            )
        }
        Query::Contains { tag } => (
            page("EXISTS (SELECT 1 FROM json_each(doc, '$.tags') WHERE value = ?1)"),
            vec![Text(data::tag(*tag))],
        ),
        Query::Count { city } => (
            "SELECT count(*) FROM docs WHERE json_extract(doc, '$.city') = ?1".to_string(),
            vec![Text(data::city(*city))],
        ),
        Query::Scan { score } => (
            page("json_extract(doc, '$.score') = ?1"),
            vec![Integer(*score as i64)],
        ),
    }
}

impl Session for SqliteSession {
    fn run(&mut self, query: &Query, _check: bool) -> Result<Answer> {
        let (sql, params) = sql(query);
        let mut statement = self.conn.prepare_cached(&sql)?;
        let mut rows = statement.query(params_from_iter(params))?;
        if let Query::Count { .. } = query {
            let row = rows.next()?.context("a count without a row")?;
            return Ok(Answer::Count(row.get::<_, i64>(0)? as u64));
        }
        let mut ids = Vec::with_capacity(PAGE);
        let mut bytes = 0;
        while let Some(row) = rows.next()? {
            ids.push(row.get::<_, i64>(0)? as u64);
            bytes += row.get_ref(1)?.as_str()?.len();
        }
        std::hint::black_box(bytes);
        Ok(Answer::Ids(ids))
    }

    fn explain(&mut self, query: &Query) -> Result<Option<String>> {
        let (sql, params) = sql(query);
        let mut statement = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let lines = statement
            .query_map(params_from_iter(params), |row| row.get::<_, String>(3))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(Some(lines.join("\n")))
    }
}
