//! One adapter per store, each mapping [`crate::store::Store`] onto the store's own API
//! (see docs/BENCHMARKS.md, "Comparison with other stores").

pub mod fjall;
pub mod lmdb;
pub mod nyro;
pub mod redb;
pub mod rocksdb;
pub mod sled;
