//! # nyro-index: NyroDB's in-memory indexes
//!
//! Finds records without reading the log: for each collection, where the latest frame of
//! each record id lies, and, for each declared path, which ids hold which values, in value
//! order. Indexes live only in memory: the database core rebuilds them from the log on open
//! and updates them after each successful write. This crate never names anything from the
//! crates above it, and reads no document: callers give it each document's keys.
//!
//! ## Main types
//!
//! - [`IndexKey`]: a value (null, bool, number, string, object, array) or [`IndexKey::MIN`]
//!   as a hashable, totally ordered key: `MinKey` < null < numbers < strings < objects <
//!   arrays < booleans; numbers by exact value (`1 == 1.0`, `u64` exact), `"1"` is not `1`.
//! - [`PrimaryIndex`]: record id to [`nyro_storage::Location`], with `get` in O(1) and
//!   pages in ascending id order (`after`, `limit`) without sorting. Its map's hasher keeps
//!   runs of consecutive ids in neighbouring buckets (`id_hash`), seeded per index.
//! - [`SecondaryIndex`]: for one path, an ordered map from key to the ascending set of ids
//!   under it (one id inline, more in blocks): equality, ranges, and walks in key order.
//! - [`KeyRange`]: an interval of keys (`lo`/`hi` bounds; [`KeyRange::eq`], [`KeyRange::all`]).
//! - [`CollectionIndexes`]: a collection's primary and secondary indexes, updated together by
//!   [`CollectionIndexes::apply_put`] / [`CollectionIndexes::apply_delete`] with each
//!   document's *set* of keys per path (multikey: an array's elements are each a key), and
//!   queried by equality on several paths ([`CollectionIndexes::find`]), by estimate
//!   ([`CollectionIndexes::estimate`]), by ranges ([`CollectionIndexes::ids_in`]) and in key
//!   order from a cursor ([`CollectionIndexes::walk`]).
//! - [`CollectionIndexes::from_sorted`] and [`PrimaryIndex::from_sorted`] build indexes at
//!   once from records in ascending id order (replay on open): maps built bottom up, ordered
//!   sets made of full blocks, each distinct encoded value decoded once ([`BulkKey`]).
//! - Online builds ([`IndexState`]): [`CollectionIndexes::add_path`] adds an index to a
//!   collection in use (building while it holds records), [`CollectionIndexes::fill`]
//!   indexes the records stored before it (only those still where they were read),
//!   [`CollectionIndexes::set_ready`] opens it to queries; [`CollectionIndexes::drop_path`],
//!   [`CollectionIndexes::paths`].
//! - [`IndexError`]: a path that is not indexed (or not ready), given twice, or old keys that
//!   do not match.
//!
//! ## Invariants
//!
//! - An id is in the primary index iff its latest applied operation is a put; its location is
//!   that put's.
//! - In every secondary index, an id is under exactly the keys its latest applied put gave
//!   for that path, given that callers pass the old keys of a replaced or deleted record
//!   (checked when given). An index being built holds a subset of that (the records its
//!   build has not reached yet may be missing) and no stale entry; queries refuse it until
//!   it is ready.
//! - Every id listed by a page or found by `find` had a location when it was read; pages,
//!   finds and `ids_in` are ascending and never repeat an id; a walk gives each (key, id)
//!   entry once, in key then id order (both reversed descending).
//! - Readers run concurrently with one writer: `get` takes one shard lock, `page`, `find`,
//!   `estimate`, `ids_in` and `walk` take read locks that a writer holds only for its
//!   in-memory update, so they see each write whole or not at all.
//!
//! ## Memory
//!
//! Heap bytes per (key, id) entry of a secondary index, keys included, measured by
//! `cargo run -p nyro-index --example index_memory` (a counting global allocator; 1,000,000
//! documents; docs/BENCHMARKS.md has the run), inserted one by one in random id order / built
//! at once by `from_sorted`: all-distinct integers 62 / 42; a string with 1,000 distinct
//! values 10 / 8.3; an array of 3 strings drawn from 10,000 (3 entries per document) 14 / 14.
//!
//! ## Example
//!
//! ```
//! use std::ops::{Bound, ControlFlow};
//!
//! use nyro_index::{CollectionIndexes, IndexKey, KeyRange};
//! use nyro_storage::Location;
//!
//! let users = CollectionIndexes::new(["city", "age", "tags"])?;
//! let at = |offset| Location { segment: 1, offset, len: 64 };
//! let s = IndexKey::from;
//!
//! // New records: no old keys. Each path takes a set of keys (an array's elements).
//! let one = [[s("Lyon")], [IndexKey::from(30)], [s("admin")]];
//! users.apply_put(1, at(0), [], [("city", &one[0][..]), ("age", &one[1]), ("tags", &one[2])])?;
//! let two = [vec![s("Oslo")], vec![IndexKey::from(30)], vec![s("admin"), s("dev")]];
//! users.apply_put(2, at(64), [], [("city", &two[0][..]), ("age", &two[1]), ("tags", &two[2])])?;
//! let three = [vec![s("Lyon")], vec![IndexKey::from(41)], vec![IndexKey::MIN]]; // tags: []
//! users.apply_put(3, at(128), [], [("city", &three[0][..]), ("age", &three[1]), ("tags", &three[2])])?;
//!
//! // Equality on several paths; 30.0 and 30 are the same key.
//! let lyon_30 = [("city", s("Lyon")), ("age", IndexKey::from(30.0))];
//! assert_eq!(users.find(&lyon_30, None, 10)?, vec![1]);
//! assert_eq!(users.find(&[("tags", s("dev"))], None, 10)?, vec![2]);
//!
//! // A range, its estimate, and a walk in key order (descending here) from a cursor.
//! let over_29 = KeyRange::new(Bound::Excluded(IndexKey::from(29)), Bound::Unbounded);
//! assert_eq!(users.estimate("age", &over_29)?, 3);
//! assert_eq!(users.ids_in("age", &[over_29.clone()])?, vec![1, 2, 3]);
//! let mut page = Vec::new();
//! let from = IndexKey::from(41);
//! users.walk("age", &over_29, Some((&from, 3)), true, |key, id| {
//!     page.push((key.as_i64(), id));
//!     ControlFlow::Continue(())
//! })?;
//! assert_eq!(page, vec![(Some(30), 2), (Some(30), 1)]);
//!
//! // A replace passes the keys of the document it replaces; only the keys that differ move.
//! let new = [vec![s("Oslo")], vec![IndexKey::from(30)], vec![s("dev")]];
//! let old = users.apply_put(
//!     2,
//!     at(192),
//!     [("city", &two[0][..]), ("age", &two[1]), ("tags", &two[2])],
//!     [("city", &new[0][..]), ("age", &new[1]), ("tags", &new[2])],
//! )?;
//! assert_eq!(old, Some(at(64)));
//! assert_eq!(users.find(&[("tags", s("admin"))], None, 10)?, vec![1]);
//!
//! // Pages in id order.
//! assert_eq!(users.primary().page(Some(1), 1), vec![(2, at(192))]);
//!
//! // Querying a path that is not indexed says so.
//! let err = users.find(&[("name", s("Ada"))], None, 10).unwrap_err();
//! assert!(err.to_string().contains("not indexed"));
//! # Ok::<(), nyro_index::IndexError>(())
//! ```

mod bulk;
mod collection;
mod error;
mod id_hash;
mod idset;
mod key;
mod number;
mod online;
mod primary;
mod range;
mod ranges;
mod secondary;

pub use bulk::BulkKey;
pub use collection::CollectionIndexes;
pub use error::IndexError;
pub use key::IndexKey;
pub use online::IndexState;
pub use primary::{PrimaryIndex, PrimaryIter};
pub use range::KeyRange;
pub use secondary::SecondaryIndex;
