//! nyro-index integration tests: a model test of `CollectionIndexes` against a `BTreeMap`,
//! and concurrent readers against one writer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod concurrency;
mod model;
