//! Route handlers, one module per resource.

pub mod changes;
pub mod cluster;
pub mod collections;
pub mod query;
pub mod records;
pub mod system;
