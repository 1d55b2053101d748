//! Route handlers, one module per resource.

pub mod changes;
pub mod collections;
pub mod records;
pub mod system;
