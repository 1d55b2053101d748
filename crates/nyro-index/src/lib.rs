//! # nyro-index: NyroDB's in-memory indexes
//!
//! Finds records without reading the log: for each collection, where the latest frame of
//! each record id lies, and which ids hold a given value in each declared top-level field.
//! Indexes live only in memory: the database core rebuilds them from the log on open and
//! updates them after each successful write. This crate never names anything from the crates
//! above it.
//!
//! ## Main types
//!
//! - [`IndexKey`]: an indexed field's value (null, bool, number, string) as a hashable,
//!   totally ordered key; integral numbers compare by value (`1 == 1.0`), `"1"` is not `1`.
//! - [`PrimaryIndex`]: record id to [`nyro_storage::Location`], with `get` in O(1) and
//!   pages in ascending id order (`after`, `limit`) without sorting. Its map's hasher keeps
//!   runs of consecutive ids in neighbouring buckets (`id_hash`), seeded per index.
//! - [`SecondaryIndex`]: for one field, key to the ascending set of ids holding it.
//! - [`CollectionIndexes`]: a collection's primary and secondary indexes, updated together by
//!   [`CollectionIndexes::apply_put`] / [`CollectionIndexes::apply_delete`] and queried by
//!   equality on several fields with [`CollectionIndexes::find`].
//! - [`CollectionIndexes::from_sorted`] and [`PrimaryIndex::from_sorted`] build indexes at
//!   once from records in ascending id order (replay on open): maps sized up front, ordered
//!   sets made of full blocks, each distinct indexed value decoded once.
//! - Online builds ([`IndexState`]): [`CollectionIndexes::add_path`] adds an index to a
//!   collection in use (building while it holds records), [`CollectionIndexes::fill`]
//!   indexes the records stored before it (only those still where they were read),
//!   [`CollectionIndexes::set_ready`] opens it to queries; [`CollectionIndexes::drop_path`],
//!   [`CollectionIndexes::paths`].
//! - [`IndexError`]: a field that is not indexed (or not ready), given twice, or old keys that
//!   do not match.
//!
//! ## Invariants
//!
//! - An id is in the primary index iff its latest applied operation is a put; its location is
//!   that put's.
//! - In every ready secondary index, an id is under exactly the key its latest applied put had
//!   for that field (nowhere if that document lacked the field or held an array or object),
//!   given that callers pass the old keys of a replaced or deleted record (checked when given).
//!   An index being built holds a subset of that (the records its build has not reached yet
//!   may be missing) and no stale entry; queries refuse it until it is ready.
//! - Every id listed by a page or found by `find` had a location when it was read; pages and
//!   finds are ascending and never repeat an id.
//! - Readers run concurrently with one writer: `get` takes one shard lock, `page` and `find`
//!   take read locks that a writer holds only for its in-memory update.
//!
//! ## Example
//!
//! ```
//! use nyro_index::{CollectionIndexes, IndexKey};
//! use nyro_storage::Location;
//!
//! let users = CollectionIndexes::new(["city", "age"])?;
//! let at = |offset| Location { segment: 1, offset, len: 64 };
//! let keys = |city: &str, age: i64| {
//!     [("city", Some(IndexKey::from(city))), ("age", Some(IndexKey::from(age)))]
//! };
//!
//! // New records: no old keys.
//! users.apply_put(1, at(0), [], keys("Lyon", 30))?;
//! users.apply_put(2, at(64), [], keys("Oslo", 30))?;
//! users.apply_put(3, at(128), [], keys("Lyon", 41))?;
//!
//! // 30.0 and 30 are the same key.
//! let lyon_30 = [("city", IndexKey::from("Lyon")), ("age", IndexKey::from(30.0))];
//! assert_eq!(users.find(&lyon_30, None, 10)?, vec![1]);
//!
//! // A replace passes the keys of the document it replaces.
//! let old = users.apply_put(1, at(192), keys("Lyon", 30), keys("Oslo", 31))?;
//! assert_eq!(old, Some(at(0)));
//! assert_eq!(users.find(&[("city", IndexKey::from("Oslo"))], None, 10)?, vec![1, 2]);
//!
//! // Pages in id order.
//! assert_eq!(users.primary().page(Some(1), 1), vec![(2, at(64))]);
//!
//! // Querying a field that is not indexed says so.
//! let err = users.find(&[("name", IndexKey::from("Ada"))], None, 10).unwrap_err();
//! assert!(err.to_string().contains("not indexed"));
//! # Ok::<(), nyro_index::IndexError>(())
//! ```

mod bulk;
mod collection;
mod error;
mod id_hash;
mod idset;
mod key;
mod online;
mod primary;
mod secondary;

pub use collection::CollectionIndexes;
pub use error::IndexError;
pub use key::IndexKey;
pub use online::IndexState;
pub use primary::{PrimaryIndex, PrimaryIter};
pub use secondary::SecondaryIndex;
