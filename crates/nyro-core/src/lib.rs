//! # nyro-core: the NyroDB database
//!
//! The database an embedding Rust program (and NyroDB's own server and CLI) uses directly,
//! with the data model and durability promise of the contract (sections 1 and 2).
//!
//! - [`Database`]: opens the log ([`Database::open`] recovers it and rebuilds every index),
//!   owns the group-commit writer, bounds work with a semaphore of `max_concurrent_ops`
//!   permits (refusing with [`DbError::Overloaded`] rather than queueing without bound), and
//!   offers the operations: collections (and their indexes, added and dropped online:
//!   [`Database::add_index`], built by `builds`), insert / insert_many / get / replace /
//!   replace_many / delete, a lazy scan of a collection ([`Database::documents`]),
//!   paginated list and find, the change feed ([`Database::subscribe`]), live queries
//!   (the feed filtered by a query's filter or any predicate, [`Database::subscribe_where`]
//!   and [`Database::subscribe_matching`]; see [`live`])
//!   and [`Stats`].
//!   The borrowed reads [`Database::get_with`], [`Database::scan_with`],
//!   [`Database::list_with`] and [`Database::find_with`] hand a closure [`DocumentView`]s
//!   of the stored bytes instead, allocating nothing per document (`get`, `list` and
//!   `find` are them with the owned document built).
//! - [`Document`] and [`Value`]: JSON-compatible documents, at most 64 levels deep.
//! - [`DocumentView`], [`ValueView`], [`ArrayView`], [`ObjectView`]: a stored document read
//!   in place (docs/FORMAT.md section 4.2): checked once when made (a defect is an error
//!   naming it and its offset), then field lookup, typed values, iteration, nested paths
//!   and [`DocumentView::write_json`] (the server's JSON for the document) without
//!   allocating.
//! - [`Config`]: the database's settings in `nyrodb.toml` (storage, batch, compaction,
//!   collections) with their defaults and `NYRODB_*` overrides, each key described once in a
//!   key table that the server extends with its own keys ([`config::Schema`]).
//! - [`names`]: the one rule for collection names and index paths, shared by the config
//!   file and the catalog.
//! - [`secret`]: comparing secrets (bearer token, cluster secret) in constant time.
//! - [`repair()`]: `nyrodb repair` on a damaged data directory (the log's repair, with the
//!   collection records a lost range held put back so that the log replays).
//! - [`DbError`]: every failure, typed, with its context as fields (not found, a conflict
//!   naming the collection, id and element, not indexed, invalid, overloaded, unavailable
//!   with its cause, damaged stored data, I/O with context).
//! - [`Damage`]: damaged frames found while running (a segment opened from its hint file is
//!   not read on open): reads of them fail with [`DbError::Corrupt`], and a background scrub
//!   reads those segments after open ([`ScrubProgress`]).
//!
//! Inside: `database/` (open and close, writes, reads, borrowed reads, maintenance), `write/`
//! (one type per write operation, run by the writer), `scan` (reading documents), `view/`
//! (the borrowed view, its checking walk and its JSON writer), `indexing`, `builds` (indexes
//! added online, built from the stored documents), `replay` and `replay_index` (open:
//! records gathered per collection, then indexed at once), `compaction`, `backup`, `feed`
//! and `live`, `damage` and `scrub`. Modules below `database/`
//! never import it.
//!
//! Invariants:
//! - A write's answer comes after its bytes are in the log and its index changes are
//!   visible (read-your-writes); under `sync = "always"`, after its fdatasync too.
//! - Only the writer's leader (one at a time: the writing caller or nyro-batch's thread)
//!   changes the catalog, indexes and counters (through the private `write` module, each
//!   operation's `commit`); readers take no lock against it.
//! - Document payloads are encoded on the caller's task before a write is queued; the
//!   writer's leader only checks, frames, appends and commits.
//! - No read returns bytes that fail their checksum; every damaged frame met is counted
//!   once and makes the database degraded ([`Database::damage`]).
//! - Ids assigned by the database increase within a collection and are never reused; every
//!   document write gets a database-wide sequence number, strictly increasing in log order.
//! - Opening from hint files gives exactly the state a scan of every segment gives
//!   (`tests/it/hint_equivalence.rs`).
//!
//! ```
//! use nyro_core::{Config, Database, Document, WriteOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let mut config = Config::default();
//! config.storage.path = dir.path().to_path_buf();
//! let db = Database::open(&config).await?;
//!
//! db.create_collection("users", &["city".to_string()]).await?;
//! let doc = Document::from_json(serde_json::json!({"name": "Ada", "city": "London"}))?;
//! let inserted = db.insert("users", doc, WriteOptions::default()).await?;
//! assert_eq!(db.get("users", inserted.id)?.to_json()["name"], "Ada");
//! // Borrowed from the log, nothing allocated:
//! let is_london = db.get_with("users", inserted.id, |doc| {
//!     doc.get("city").and_then(|city| city.as_str()) == Some("London")
//! })?;
//! assert!(is_london);
//!
//! let london = vec![("city".to_string(), nyro_core::Value::String("London".into()))];
//! assert_eq!(db.find("users", &london, None, 10)?.records.len(), 1);
//! db.close().await?;
//! # Ok(()) }
//! ```

mod backup;
mod builds;
mod catalog;
mod compaction;
pub mod config;
mod damage;
mod database;
mod document;
mod error;
mod feed;
mod fields;
mod indexing;
pub mod live;
pub mod names;
pub mod query;
mod repair;
mod replay;
mod replay_index;
pub mod replica;
mod scan;
mod scrub;
pub mod secret;
mod state;
mod types;
mod view;
mod write;

pub use backup::{
    BackupFile, BackupManifest, MANIFEST_FILE, MANIFEST_VERSION, check_backup, restore,
};
pub use catalog::validate_name;
pub use compaction::CompactSummary;
pub use config::{Config, ConfigError, SyncPolicy};
pub use damage::{Damage, DamagedFrame, FoundBy};
pub use database::{Database, OpenOptions, ScrubRate};
pub use document::{Document, ID_FIELD, MAX_DEPTH, Value, whole_u64};
pub use error::{DbError, Result};
pub use feed::{ChangeEvent, ChangeOp, ChangeStream, FeedError};
pub use live::Predicate;
pub use nyro_batch::{Histogram, WriterMetrics};
pub use repair::repair;
pub use scan::{DOCUMENTS_CHUNK, Documents};
pub use scrub::{DEFAULT_SCRUB_RATE, ScrubProgress};
pub use types::{
    CollectionInfo, CollectionStats, Created, FEED_CAPACITY, IndexStats, Inserted, InsertedMany,
    MAX_PAGE, Page, Replaced, Stats, WriteOptions,
};
pub use view::{ArrayView, DocumentView, Elements, Fields, ObjectView, ValueView};

/// Entry points for the fuzz targets in `fuzz/` (not part of the API; may change at any
/// time). Thin wrappers over the private stored-document decoders.
#[doc(hidden)]
pub mod fuzzing {
    use crate::{Result, Value};

    /// Decodes a stored document payload (FORMAT.md section 4.2), as `get` and `list` do.
    pub fn decode_document(payload: &[u8]) -> Result<Vec<(String, Value)>> {
        crate::document::decode_fields(payload)
    }

    /// Encodes a document's fields as they are stored.
    pub fn encode_document(fields: &[(String, Value)]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        crate::document::encode_fields(fields, &mut out)?;
        Ok(out)
    }

    /// The scalar values of `wanted` top-level fields, read without a full decode, as replay
    /// and index maintenance do.
    pub fn indexed_scalars(payload: &[u8], wanted: &[String]) -> Result<Vec<Option<Value>>> {
        crate::fields::scalars(payload, wanted)
    }
}
