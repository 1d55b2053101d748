//! A cluster node's database (`Database::open_replica`) driven through its public API the
//! way `nyro-raft` drives it: entries appended, read back, applied, voided, truncated, and
//! replayed on open.

mod entries;
mod model;
mod refusals;
mod snapshot;
mod support;
mod visibility;
