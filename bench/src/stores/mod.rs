//! One adapter per store, each mapping [`crate::store::Store`] onto the store's own API
//! with durable writes (see docs/BENCHMARKS.md, "Settings").

pub mod fjall;
pub mod lmdb;
pub mod nyro;
pub mod redb;
pub mod sled;
