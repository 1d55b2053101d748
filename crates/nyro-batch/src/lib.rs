//! # nyro-batch: NyroDB's group-commit writer
//!
//! Will hold the background tokio task that owns the `nyro_storage::Log`, drains a bounded
//! channel of write requests, appends each batch (up to `batch_size` records, waiting at most
//! `batch_timeout_ms` for company) with one append call, applies the fsync policy (`always`,
//! `interval`, `never`) and answers each request on its own oneshot.
