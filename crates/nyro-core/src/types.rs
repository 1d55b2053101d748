//! The types of the embedded API: write options and answers, pages, collection listings and
//! statistics. Plain data, below every module that produces them.

use std::time::Duration;

use crate::document::Document;

/// Most records one page of `list` or `find` returns.
pub const MAX_PAGE: usize = 10_000;
/// Events a change-feed consumer may fall behind before it is cut off (and may resume).
pub const FEED_CAPACITY: usize = 65_536;

/// Per-write options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Answer only after the write's batch was fdatasync'ed, whatever `batch.sync` says.
    pub sync: bool,
}

/// An insert's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    /// The document's id.
    pub id: u64,
    /// The write's sequence number.
    pub seq: u64,
}

/// A bulk insert's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertedMany {
    /// The ids, in the order of the documents.
    pub ids: Vec<u64>,
    /// The last document's sequence number (each document has its own, consecutive).
    pub seq: u64,
}

/// A replace's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced {
    /// The document's id.
    pub id: u64,
    /// The write's sequence number.
    pub seq: u64,
    /// True if no document had that id before.
    pub created: bool,
}

/// Whether `create_collection` created the collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// It is new.
    Created,
    /// It existed with the same indexes; nothing changed.
    Existed,
}

/// A collection, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    /// Its name.
    pub name: String,
    /// Documents in it.
    pub count: u64,
    /// Its indexed paths that queries use, sorted.
    pub indexes: Vec<String>,
    /// Its indexed paths still being built from the stored documents, sorted
    /// ([`crate::Database::add_index`]).
    pub building: Vec<String>,
}

/// One page of documents in ascending id order.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The documents, each with its id.
    pub records: Vec<Document>,
    /// The `after` for the next page; `None` when no document follows.
    pub next: Option<u64>,
}

/// An index's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexStats {
    /// The indexed field.
    pub field: String,
    /// Distinct values indexed.
    pub distinct_values: u64,
}

/// A collection's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionStats {
    /// Its name.
    pub name: String,
    /// Documents in it.
    pub count: u64,
    /// Its secondary indexes.
    pub indexes: Vec<IndexStats>,
}

/// What `stats` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Per collection.
    pub collections: Vec<CollectionStats>,
    /// Segment files.
    pub segments: usize,
    /// Bytes in segment files.
    pub disk_bytes: u64,
    /// Bytes of frames holding live data.
    pub live_bytes: u64,
    /// Bytes of frames no longer live (replaced, deleted, dropped).
    pub dead_bytes: u64,
    /// Highest committed sequence number.
    pub last_seq: u64,
    /// Batches written since open.
    pub batches: u64,
    /// Of those batches, how many the writing caller wrote itself (leader/follower group
    /// commit: no hand-off to the writer thread).
    pub caller_batches: u64,
    /// Records written since open.
    pub records_written: u64,
    /// fdatasyncs since open.
    pub fsyncs: u64,
    /// Operations in flight.
    pub in_flight_ops: usize,
    /// Time since open.
    pub uptime: Duration,
    /// Why writes are refused, if they are.
    pub poisoned: Option<String>,
}
