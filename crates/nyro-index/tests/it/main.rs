//! nyro-index integration tests: model tests of `CollectionIndexes` against a `BTreeMap` (an
//! online build racing writes among them), and concurrent readers against one writer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod concurrency;
mod model;
mod online;
