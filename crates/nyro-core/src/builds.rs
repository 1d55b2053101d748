//! Online index builds: an index added to a collection that holds documents is built from
//! the stored documents on a thread of its own while reads and writes go on, then made
//! ready for queries.
//!
//! How it stays exact: the index is in the collection's indexes from the add's commit on,
//! so every later write updates it (an absent old key is no error while it builds). The
//! build walks the primary index in id order, [`CHUNK`] documents at a time: it reads each
//! document's key outside any lock, then hands the chunk to
//! [`nyro_index::CollectionIndexes::fill`], which indexes a document only if it is still at
//! the location that was read, under the lock every write holds while it changes a
//! document. A document written meanwhile is read again. A build starts only once the
//! batch of its add is over (`CoreApplier::end_batch`; a cluster node once the entry is
//! applied), so that no write of the same batch, prepared before the add, commits after the
//! build has read its document.
//!
//! A build stops when its index or its collection is dropped, or the database closes. It
//! is never resumed: on open, replay builds every index it knows from the documents before
//! the database serves anything (an index added after its collection was created is built
//! there by [`build_now`], with the same code), so an interrupted build is simply done
//! again, whole.
//!
//! A document whose stored frame is damaged is recorded in the damage log and left out of
//! the index (the database is degraded; `nyrodb verify` names the frame).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use nyro_index::{IndexError, IndexKey, IndexState};
use nyro_storage::{Location, LogReader, NO_SUCH_SEGMENT, StorageError};

use crate::catalog::Collection;
use crate::damage::DamageLog;
use crate::error::{DbError, Result};
use crate::indexing::path_keys;
use crate::query::Path;
use crate::state::State;

/// Indexes to build, each of a collection: what replay leaves for [`build_now`].
pub(crate) type ToBuild = Vec<(Arc<Collection>, String)>;

/// Documents a build reads between two holds of the index's write lock.
pub(crate) const CHUNK: usize = 256;

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every document stored when it began is indexed.
    Built,
    /// Stopped: its index or collection was dropped, or the database closes.
    Stopped,
}

/// Indexes under `path` (an index of `collection` being built) every document of
/// `collection`, in id order; `stop` is asked between reading a chunk and indexing it (where
/// a write racing the build matters most: a paused build waits there).
pub(crate) fn fill_path(
    collection: &Collection,
    reader: &LogReader,
    damage: &DamageLog,
    path: &str,
    stop: &dyn Fn() -> bool,
) -> Result<Outcome> {
    // A name stored before indexes were paths that does not parse is one field (as
    // `IndexedPaths::new` reads it).
    let parsed = Path::parse(path).unwrap_or_else(|_| Path::field(path));
    let mut after = None;
    loop {
        let page = collection.index.primary().page(after, CHUNK);
        let Some(&(last, _)) = page.last() else {
            return Ok(Outcome::Built);
        };
        after = Some(last);
        let mut entries = read_keys(collection, reader, damage, &parsed, page);
        if stop() {
            return Ok(Outcome::Stopped);
        }
        // Documents written since they were read: read again where they are now.
        loop {
            let moved = match collection.index.fill(path, &entries) {
                Ok(moved) => moved,
                Err(IndexError::NotIndexed { .. } | IndexError::NotBuilding { .. }) => {
                    return Ok(Outcome::Stopped);
                }
                Err(e) => {
                    return Err(DbError::Internal {
                        message: format!(
                            "building the index on {path:?} of collection {:?}: {e}",
                            collection.name
                        ),
                    });
                }
            };
            if moved.is_empty() {
                break;
            }
            if stop() {
                return Ok(Outcome::Stopped);
            }
            let primary = collection.index.primary();
            let again = moved
                .into_iter()
                .filter_map(|id| primary.get(id).map(|at| (id, at)))
                .collect();
            entries = read_keys(collection, reader, damage, &parsed, again);
        }
    }
}

/// The keys under `path` of each document of `page`, read at its location. A location in
/// a segment compaction retired meanwhile gets no key: `fill` finds the document moved and
/// it is read again. A damaged frame is recorded and its document left out.
fn read_keys(
    collection: &Collection,
    reader: &LogReader,
    damage: &DamageLog,
    path: &Path,
    page: Vec<(u64, Location)>,
) -> Vec<(u64, Location, Vec<IndexKey>)> {
    let mut entries = Vec::with_capacity(page.len());
    for (id, location) in page {
        match reader.read_with(location, |_, payload| path_keys(path, id, payload)) {
            Ok(Ok(keys)) => entries.push((id, location, keys.into_vec())),
            Err(StorageError::BadLocation { reason, .. }) if reason == NO_SUCH_SEGMENT => {
                entries.push((id, location, Vec::new()));
            }
            Ok(Err(e)) => skip_damaged(collection, id, &e),
            Err(e) => skip_damaged(
                collection,
                id,
                &damage.read_error(reader, e, &collection.name, id),
            ),
        }
    }
    entries
}

fn skip_damaged(collection: &Collection, id: u64, error: &DbError) {
    tracing::error!(collection = %collection.name, id, %error,
        "an index build leaves out a document it cannot read");
}

/// Builds, at open, the indexes replay could not build from what it read (`to_build`: the
/// indexes added after their collection was created, already in state building), then
/// makes them ready. Nothing else runs yet.
pub(crate) fn build_now(state: &State, to_build: ToBuild) -> Result<()> {
    for (collection, path) in to_build {
        let started = std::time::Instant::now();
        fill_path(&collection, &state.reader, &state.damage, &path, &|| false)?;
        collection
            .index
            .set_ready(&path)
            .map_err(|e| DbError::Internal {
                message: format!("an index built on open: {e}"),
            })?;
        tracing::info!(collection = %collection.name, path, documents = collection.index.len(),
            elapsed_ms = started.elapsed().as_millis() as u64, "index built from the documents");
    }
    Ok(())
}

/// An index added on `collection` (the writer's leader, committing the add; a cluster node
/// applying it): it joins the collection's indexes, and is built from the stored documents
/// once the batch is over ([`Builds::start_queued`]) if there are any.
pub(crate) fn add(state: &State, collection: &Arc<Collection>, path: String) {
    match collection.index.add_path(&path) {
        Ok(index_state) => {
            let mut indexes = collection.indexes().to_vec();
            indexes.push(path.clone());
            collection.set_indexes(indexes);
            if index_state == IndexState::Building {
                state.builds.queue(Arc::clone(collection), path);
            }
        }
        Err(e) => tracing::error!(collection = %collection.name, path, error = %e,
            "cannot add an index already in the log"),
    }
}

/// The index on `path` of `collection` dropped (the writer's leader, committing the drop;
/// a cluster node applying it): its build stops, and it is gone at once.
pub(crate) fn remove(state: &State, collection: &Collection, path: &str) {
    state.builds.cancel(collection.id, Some(path));
    if let Err(e) = collection.index.drop_path(path) {
        tracing::error!(collection = %collection.name, path, error = %e,
            "cannot drop an index the log drops");
    }
    let mut indexes = collection.indexes().to_vec();
    indexes.retain(|p| p != path);
    collection.set_indexes(indexes);
}

/// A build asked for, and how to stop it.
struct Build {
    collection: Arc<Collection>,
    path: String,
    cancel: Arc<AtomicBool>,
    /// Its thread, once started.
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Registry {
    builds: Vec<Build>,
    closed: bool,
}

/// The database's index builds: queued by the commits of adds, started when their batch is
/// over, stopped by drops and by close.
#[derive(Default)]
pub(crate) struct Builds {
    registry: Mutex<Registry>,
    /// Builds wait between chunks while this is set (tests: an index that stays building).
    paused: AtomicBool,
}

impl std::fmt::Debug for Builds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builds").finish_non_exhaustive()
    }
}

impl Builds {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the build of `path` of `collection` (started by [`Builds::start_queued`]).
    fn queue(&self, collection: Arc<Collection>, path: String) {
        let mut registry = self.lock();
        registry.builds.push(Build {
            collection,
            path,
            cancel: Arc::new(AtomicBool::new(false)),
            thread: None,
        });
    }

    /// Stops the builds of collection `id` (of `path` only, if given): at their next chunk.
    pub(crate) fn cancel(&self, id: u32, path: Option<&str>) {
        let mut registry = self.lock();
        for build in &mut registry.builds {
            if build.collection.id == id && path.is_none_or(|p| p == build.path) {
                build.cancel.store(true, Ordering::Release);
            }
        }
    }

    /// Starts the queued builds (the writer's leader, once the batch of their adds is over;
    /// a cluster node once the entry is applied), and forgets the builds that ended.
    pub(crate) fn start_queued(self: &Arc<Self>, reader: &LogReader, damage: &Arc<DamageLog>) {
        let mut registry = self.lock();
        let closed = registry.closed;
        registry
            .builds
            .retain(|b| b.thread.as_ref().is_none_or(|t| !t.is_finished()));
        for build in &mut registry.builds {
            if build.thread.is_some() || closed || build.cancel.load(Ordering::Acquire) {
                continue;
            }
            let (builds, reader, damage) = (Arc::clone(self), reader.clone(), Arc::clone(damage));
            let (collection, path) = (Arc::clone(&build.collection), build.path.clone());
            let cancel = Arc::clone(&build.cancel);
            let spawned = std::thread::Builder::new()
                .name("nyro-index-build".into())
                .spawn(move || builds.run(&collection, &path, &reader, &damage, &cancel));
            match spawned {
                Ok(thread) => build.thread = Some(thread),
                Err(e) => tracing::error!(collection = %build.collection.name, path = build.path,
                    error = %e, "cannot start an index build; it is built on the next open"),
            }
        }
        registry
            .builds
            .retain(|b| b.thread.is_some() || !(closed || b.cancel.load(Ordering::Acquire)));
    }

    /// A build's thread.
    fn run(
        &self,
        collection: &Collection,
        path: &str,
        reader: &LogReader,
        damage: &DamageLog,
        cancel: &AtomicBool,
    ) {
        let started = std::time::Instant::now();
        let stop = || {
            while self.paused.load(Ordering::Acquire) && !cancel.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
            cancel.load(Ordering::Acquire)
        };
        match fill_path(collection, reader, damage, path, &stop) {
            Ok(Outcome::Built) => {
                // Under the registry's lock, so that a drop (which cancels under it first)
                // never finds its index made ready by a build it stopped.
                let _registry = self.lock();
                if !cancel.load(Ordering::Acquire) {
                    if let Err(e) = collection.index.set_ready(path) {
                        tracing::error!(collection = %collection.name, path, error = %e,
                            "an index build could not make its index ready");
                    }
                    tracing::info!(collection = %collection.name, path,
                        elapsed_ms = started.elapsed().as_millis() as u64, "index built");
                }
            }
            Ok(Outcome::Stopped) => {
                tracing::info!(collection = %collection.name, path, "index build stopped");
            }
            Err(e) => tracing::error!(collection = %collection.name, path, error = %e,
                "index build failed; the index stays building until the next open builds it"),
        }
    }

    /// Makes builds wait between chunks (`true`) or go on.
    pub(crate) fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Release);
    }

    /// Stops every build and waits for their threads (close, or the database dropped);
    /// later adds are not built until the next open.
    pub(crate) fn shutdown(&self) {
        let builds = {
            let mut registry = self.lock();
            registry.closed = true;
            std::mem::take(&mut registry.builds)
        };
        for build in &builds {
            build.cancel.store(true, Ordering::Release);
        }
        for build in builds {
            if let Some(thread) = build.thread
                && thread.join().is_err()
            {
                tracing::warn!(path = build.path, "an index build panicked");
            }
        }
    }
}
