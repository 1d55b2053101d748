//! The reads: documents by id, pages by id or by indexed values, the change feed, and the
//! collection listing and statistics.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use nyro_batch::WriterMetrics;
use nyro_index::IndexState;

use super::Database;
use crate::catalog::validate_name;
use crate::document::{Document, Value};
use crate::error::Result;
use crate::feed::ChangeStream;
use crate::indexing;
use crate::live::{Predicate, Watch};
use crate::query::Filter;
use crate::scan::Documents;
use crate::types::{CollectionInfo, CollectionStats, Page, Stats};

impl Database {
    /// Every collection, sorted by name.
    pub fn collections(&self) -> Vec<CollectionInfo> {
        self.inner
            .state
            .catalog
            .load()
            .sorted()
            .iter()
            .map(|c| {
                let (mut indexes, mut building) = (Vec::new(), Vec::new());
                for (path, state) in c.index.paths() {
                    match state {
                        IndexState::Ready => indexes.push(path),
                        IndexState::Building => building.push(path),
                    }
                }
                indexes.sort();
                building.sort();
                CollectionInfo {
                    name: c.name.to_string(),
                    count: c.index.len() as u64,
                    indexes,
                    building,
                }
            })
            .collect()
    }

    /// The document with `id` ([`Database::get_with`], made owned).
    pub fn get(&self, collection: &str, id: u64) -> Result<Document> {
        self.get_with(collection, id, |view| view.to_document())
    }

    /// Documents in ascending id order, after `after` (exclusive), at most `limit`
    /// ([`Database::list_with`], made owned).
    pub fn list(&self, collection: &str, after: Option<u64>, limit: usize) -> Result<Page> {
        let mut records = Vec::new();
        let next = self.list_with(collection, after, limit, |view| {
            records.push(view.to_document());
        })?;
        Ok(Page { records, next })
    }

    /// Every document of `collection` in ascending id order, read lazily: the ids are taken
    /// from the primary index [`crate::DOCUMENTS_CHUNK`] at a time, so memory stays bounded
    /// whatever the collection's size. For exporting or scanning a whole collection (a
    /// `list` page would hold a whole page of documents at once). Each document is looked
    /// up when reached: one deleted before is skipped, one replaced before comes in its new
    /// version, one inserted behind the scan's position is not seen; none is seen twice.
    /// Holds no permit of `max_concurrent_ops` between calls to `next`.
    pub fn documents(&self, collection: &str) -> Result<Documents<'_>> {
        let _permit = self.permit()?;
        validate_name(collection)?;
        Ok(Documents::new(
            &self.inner.reader,
            &self.inner.state.damage,
            self.inner.state.collection(collection)?,
        ))
    }

    /// Documents whose indexed fields equal every given value, in ascending id order
    /// ([`Database::find_with`], made owned).
    pub fn find(
        &self,
        collection: &str,
        conditions: &[(String, Value)],
        after: Option<u64>,
        limit: usize,
    ) -> Result<Page> {
        let mut records = Vec::new();
        let next = self.find_with(collection, conditions, after, limit, |view| {
            records.push(view.to_document());
        })?;
        Ok(Page { records, next })
    }

    /// The change feed, for one collection or all: with `since`, first every change in the
    /// log after that seq, then live changes; without, live changes only.
    pub fn subscribe(&self, collection: Option<&str>, since: Option<u64>) -> Result<ChangeStream> {
        self.open_feed(collection, since, None)
    }

    /// A live query: the change feed ([`Database::subscribe`]) with only the changes that
    /// concern `predicate` — an insert or update whose new version matches, an update or
    /// delete whose previous version matched — each with
    /// [`ChangeEvent::matches`](crate::ChangeEvent::matches) set: whether the document
    /// matches after the change. A client that starts from the matching documents and
    /// applies these events keeps its result set exact. The stream keeps one id per
    /// matching document, and reads the log from its start when it begins (without
    /// `since` too: that is how it knows which documents match where its live events
    /// begin; see [`crate::live`]).
    pub fn subscribe_matching(
        &self,
        collection: Option<&str>,
        since: Option<u64>,
        predicate: Predicate,
    ) -> Result<ChangeStream> {
        self.open_feed(collection, since, Some(Watch::new(predicate)))
    }

    /// A live query with a query's filter ([`Database::subscribe_matching`] with
    /// [`Filter::matches`] as the predicate).
    pub fn subscribe_where(
        &self,
        collection: Option<&str>,
        since: Option<u64>,
        filter: Filter,
    ) -> Result<ChangeStream> {
        let predicate: Predicate = Arc::new(move |doc| filter.matches(doc));
        self.subscribe_matching(collection, since, predicate)
    }

    fn open_feed(
        &self,
        collection: Option<&str>,
        since: Option<u64>,
        watch: Option<Watch>,
    ) -> Result<ChangeStream> {
        let name = match collection {
            Some(name) => {
                validate_name(name)?;
                Some(Arc::clone(&self.inner.state.collection(name)?.name))
            }
            None => None,
        };
        // Subscribe before reading last_seq: every change after it reaches the receiver.
        let live = self.inner.state.changes.subscribe();
        let until = self.inner.state.last_seq.load(Ordering::Acquire);
        // Changes at or before the floor may have been compacted away: a replay from before
        // it could miss some, and says so instead.
        let snapshot_floor = self.inner.state.snapshot().map_or(0, |(_, seq)| seq);
        let floor = self.inner.reader.history_floor().max(snapshot_floor);
        let incomplete = since.is_some_and(|since| since < floor);
        // Nothing to replay when `since` is already the last seq (a client resuming from
        // where it is): skip the scan of the log. A live query always walks it, for the
        // documents that match at `until`.
        let replays = since.is_some_and(|since| since < until);
        let frames = (replays || watch.is_some()).then(|| {
            let reader = &self.inner.reader;
            // Ids are tracked to tell updates from inserts in format-1 segments, and for a
            // live query's replay when compaction may have dropped the versions its
            // changes replace.
            let track_ids =
                reader.oldest_format_version() < 2 || (watch.is_some() && replays && floor > 0);
            (reader.iter(), track_ids)
        });
        Ok(ChangeStream::new(
            live,
            frames,
            Arc::clone(&self.inner.state.damage),
            Arc::clone(&self.inner.state.marks),
            since.unwrap_or(until),
            until,
            name,
            incomplete.then_some(floor),
            watch,
        ))
    }

    /// Damaged frames found since open, by reads and by the background scrub: while any is
    /// known, the database is degraded (it serves what is intact; reads of a damaged record
    /// fail with [`DbError::Corrupt`](crate::DbError::Corrupt)).
    pub fn damage(&self) -> crate::Damage {
        self.inner.state.damage.snapshot()
    }

    /// How far the background scrub of the segments opened from hints has come.
    pub fn scrub_progress(&self) -> crate::scrub::ScrubProgress {
        self.inner
            .scrub
            .lock()
            .map(|scrub| scrub.progress())
            .unwrap_or_default()
    }

    /// Why writes are refused for good, if they are (the writer's failure, or the log's:
    /// compaction's fdatasync of the active segment can poison it too).
    pub fn poisoned(&self) -> Option<String> {
        let poisoned = self.inner.writer.poisoned();
        poisoned
            .or_else(|| self.inner.reader.poisoned())
            .map(str::to_string)
    }

    /// The writer's counters and histograms (for `/metrics`).
    pub fn writer_metrics(&self) -> &WriterMetrics {
        self.inner.writer.metrics()
    }

    /// Sizes and counters.
    pub fn stats(&self) -> Stats {
        let segments = self.inner.reader.segments();
        let disk_bytes: u64 = segments.iter().map(|s| s.bytes).sum();
        let dead_bytes: u64 = segments.iter().map(|s| s.dead_bytes).sum();
        let metrics = self.inner.writer.metrics();
        let collections = self
            .inner
            .state
            .catalog
            .load()
            .sorted()
            .iter()
            .map(|c| CollectionStats {
                name: c.name.to_string(),
                count: c.index.len() as u64,
                indexes: indexing::stats(c),
            })
            .collect();
        Stats {
            collections,
            segments: segments.len(),
            disk_bytes,
            live_bytes: disk_bytes.saturating_sub(dead_bytes),
            dead_bytes,
            last_seq: self.inner.state.last_seq.load(Ordering::Acquire),
            batches: metrics.batches.load(Ordering::Relaxed),
            caller_batches: metrics.caller_batches.load(Ordering::Relaxed),
            records_written: metrics.records.load(Ordering::Relaxed),
            fsyncs: metrics.fsyncs.load(Ordering::Relaxed),
            in_flight_ops: self.inner.max_ops - self.inner.ops.available_permits(),
            uptime: self.inner.opened.elapsed(),
            poisoned: self.poisoned(),
        }
    }
}
