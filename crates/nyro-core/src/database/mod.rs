//! [`Database`]: the supervisor and the thin API that the server, the CLI and embedding
//! programs use. By job: `open` (open, close, hints), `write` (the write operations),
//! `read` (get, list, find, the change feed, stats) and `maintain` (compaction, backup).

mod maintain;
mod open;
mod query;
mod read;
mod replica;
mod views;
mod write;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use nyro_batch::{WriterHandle, WriterThread};
use nyro_storage::{LogReader, RecoveryReport};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::builds::Builds;
use crate::compaction::{self, CompactSummary};
use crate::error::{DbError, Result};
use crate::replica::ReplicaState;
use crate::scrub::Scrub;
use crate::state::State;
use crate::write::CoreApplier;

pub use open::{OpenOptions, ScrubRate};

struct Inner {
    reader: LogReader,
    writer: WriterHandle<CoreApplier>,
    /// Joined once the writer stops: by `close`, or on drop right after `writer` was
    /// dropped (fields drop in declaration order), which makes the writer write what is
    /// queued, fdatasync and stop. The thread drops the log and its applier (and with them
    /// its hold on the directory lock) before it ends.
    writer_thread: JoinOnDrop,
    ops: Semaphore,
    max_ops: usize,
    /// `query.max_scan`: documents one query request may examine.
    max_scan: u64,
    opened: Instant,
    recovery: RecoveryReport,
    /// One compaction at a time (on demand or in the background).
    compaction: tokio::sync::Mutex<()>,
    /// The background maintenance (compaction if `compaction.auto`, hint files). `close`
    /// stops it and waits for it; dropping the database stops it at its next wake-up.
    maintenance: Mutex<Option<compaction::Background>>,
    /// The index builds, stopped on drop (before `state`: a build holds the log, and with
    /// it the directory lock); `close` stops them first.
    builds: StopBuilds,
    /// The background scrub of the segments opened from hints; stopped by `close`, or on
    /// drop (before `state`: the scrub holds the log, and with it the directory lock).
    scrub: Mutex<Scrub>,
    state: Arc<State>,
    /// A cluster node's replicated state; `None` standalone.
    replica: Option<ReplicaState>,
}

/// Stops the index builds (and waits for their threads) when dropped.
struct StopBuilds(Arc<Builds>);

impl Drop for StopBuilds {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// The writer thread, joined when this is dropped (or before, by [`JoinOnDrop::join`]).
struct JoinOnDrop(Mutex<Option<WriterThread>>);

impl JoinOnDrop {
    /// Waits until the writer thread has ended; at once if it was joined before.
    fn join(&self) {
        let thread = self.0.lock().ok().and_then(|mut slot| slot.take());
        if let Some(thread) = thread
            && !thread.join()
        {
            tracing::error!("the writer thread panicked; writes were refused since");
        }
    }
}

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        self.join();
    }
}

impl compaction::CompactionTarget for Inner {
    fn pass(
        &self,
        runtime: &tokio::runtime::Runtime,
        min_dead_ratio: Option<f64>,
    ) -> Result<(CompactSummary, usize)> {
        runtime.block_on(async {
            let _one_at_a_time = self.compaction.lock().await;
            let summary = match min_dead_ratio {
                Some(ratio) => {
                    let purged = self.replica.as_ref().map(ReplicaState::purged);
                    compaction::run(&self.state, &self.writer, ratio, purged).await?
                }
                None => CompactSummary::default(),
            };
            Ok((summary, self.write_missing_hints()?))
        })
    }
}

impl Inner {
    /// Writes the hint of the active segment's frames so far (a clean close, once the
    /// writer has stopped).
    fn write_active_hint(&self) -> Result<()> {
        let catalog = self.state.catalog.load();
        self.reader.write_active_hint(|header, payload, out| {
            crate::replay::hint_body(&catalog, header, payload, out)
        })?;
        Ok(())
    }

    /// Writes a hint file for every sealed segment that has none; returns how many.
    fn write_missing_hints(&self) -> Result<usize> {
        let mut written = 0;
        for segment in self.reader.segments() {
            if segment.active || self.reader.has_hint_file(segment.id) {
                continue;
            }
            let catalog = self.state.catalog.load();
            self.reader.write_hint(segment.id, |header, payload, out| {
                crate::replay::hint_body(&catalog, header, payload, out)
            })?;
            written += 1;
        }
        Ok(written)
    }
}

/// An open database. Cheap to clone; every clone is the same database. The data directory
/// stays locked until [`Database::close`] (or the last clone is dropped).
///
/// Dropping without `close` loses nothing that was acknowledged under `sync = "always"` (it
/// was fdatasync'ed before the answer); the writer still writes and syncs what was queued,
/// and dropping the last clone blocks until its thread has ended (so the directory can be
/// reopened at once).
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dir", &self.inner.reader.dir())
            .finish()
    }
}

impl Database {
    /// A permit of `max_concurrent_ops`, or `Overloaded`.
    fn permit(&self) -> Result<SemaphorePermit<'_>> {
        self.inner
            .ops
            .try_acquire()
            .map_err(|_| DbError::Overloaded {
                limit: self.inner.max_ops,
            })
    }
}
