//! Queries (CONTRACT section 6): filters on any path evaluated on borrowed views, the index
//! keys of a path, the planner, sort, cursors and projection.
//!
//! The semantics every part shares (paths through arrays, candidates, the total order of
//! values, index and sort keys) are defined once: [`path`] resolves a path, `order` orders
//! values, `keys` turns a document into index keys, and the sort key of a document is the
//! smallest (ascending) or largest (descending) of its index keys for the sort path, so an
//! index walk and the evaluator cannot disagree. A property test checks the evaluator and
//! whole queries against a plain model over JSON.
//!
//! Embedded use:
//!
//! ```
//! use nyro_core::query::{Filter, Query};
//! let adults_in_lyon = Query::new(Filter::eq("city", "Lyon")?.and(Filter::path("age")?.gte(18)))
//!     .sort("age", true)
//!     .limit(10);
//! # let _ = adults_in_lyon;
//! # Ok::<(), nyro_core::DbError>(())
//! ```

mod build;
pub(crate) mod cursor;
mod eval;
mod explain;
mod filter;
pub mod keys;
#[cfg(test)]
mod model_tests;
pub mod order;
pub mod path;
pub(crate) mod plan;
mod project;
mod request;

pub use build::Field;
pub use explain::{Explain, ExplainLookup};
pub use filter::{Condition, Filter};
pub use keys::{index_keys, key_of_value, key_of_view};
pub use nyro_index::{IndexKey, KeyRange};
pub use order::{SortKey, compare_view_value, compare_views, kind_rank, sort_key};
pub use path::{Path, resolve};
pub use request::DEFAULT_LIMIT;

/// The order of a query's answer: one path (`_id` or an indexed path) and a direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// What to sort by.
    pub path: Path,
    /// Largest first.
    pub descending: bool,
}

/// Where a page starts: after an id (queries without a sort) or after a cursor (with one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// The `next` id of the previous page.
    Id(u64),
    /// The `next` cursor of the previous page.
    Cursor(String),
}

/// A query: what the body of `POST .../_query` says, built in code.
#[derive(Debug, Clone)]
pub struct Query {
    /// Which documents.
    pub filter: Filter,
    /// Their order; `None` is by `_id` ascending, paged by id.
    pub sort: Option<Sort>,
    /// Only these paths (and `_id`) of each document; `None` for whole documents.
    pub fields: Option<Vec<Path>>,
    /// Most documents in a page (1 to 10,000).
    pub limit: usize,
    /// Where the page starts.
    pub after: Option<After>,
    /// Answer only how many documents match.
    pub count: bool,
}

impl Query {
    /// The first page of the documents `filter` matches, by `_id`, 100 a page.
    pub fn new(filter: Filter) -> Self {
        Query {
            filter,
            sort: None,
            fields: None,
            limit: DEFAULT_LIMIT,
            after: None,
            count: false,
        }
    }

    /// Sorted by `path` (an invalid path is refused when the query runs).
    pub fn sort(mut self, path: &str, descending: bool) -> Self {
        self.sort = Some(Sort {
            path: Path::parse(path).unwrap_or_else(|_| Path::invalid(path)),
            descending,
        });
        self
    }

    /// At most `limit` documents a page.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The page after the one that answered `next`.
    pub fn after(mut self, next: Next) -> Self {
        self.after = Some(match next {
            Next::Id(id) => After::Id(id),
            Next::Cursor(cursor) => After::Cursor(cursor),
        });
        self
    }

    /// Only these paths (and `_id`).
    pub fn fields<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, paths: I) -> Self {
        self.fields = Some(
            paths
                .into_iter()
                .map(|p| Path::parse(p.as_ref()).unwrap_or_else(|_| Path::invalid(p.as_ref())))
                .collect(),
        );
        self
    }

    /// Count the matching documents instead of returning them.
    pub fn count(mut self) -> Self {
        self.count = true;
        self
    }
}

/// Where the next page starts, as a page answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Queries without a sort: the last id of the page.
    Id(u64),
    /// Queries with a sort: an opaque cursor.
    Cursor(String),
}

/// What a query page did besides handing out documents.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Next>,
    /// The number of matching documents, for a count.
    pub count: Option<u64>,
    /// The plan and what it cost.
    pub explain: Explain,
}
pub use project::Projection;
