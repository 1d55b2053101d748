//! # nyro-index: NyroDB's in-memory indexes
//!
//! Will hold the primary index of each collection (record id to its
//! `nyro_storage::Location`, in a `DashMap`, beside an ordered structure for paginated
//! listing) and the secondary indexes (value of a declared top-level field to the set of ids
//! whose document has exactly that value). Indexes live only in memory and are rebuilt from
//! the log on open; they never name anything from the crates above them.
