//! Borrowed reads: a document, a page or a whole collection handed to the caller as
//! [`DocumentView`]s borrowing the log's map, with no allocation per document. The owned
//! reads (`get`, `list`, `find`) are these with [`DocumentView::to_document`].

use std::ops::ControlFlow;

use super::Database;
use crate::catalog::{Collection, validate_name};
use crate::document::Value;
use crate::error::{DbError, Result};
use crate::indexing;
use crate::scan::{DOCUMENTS_CHUNK, read_stored_in};
use crate::types::MAX_PAGE;
use crate::view::DocumentView;

fn check_limit(limit: usize) -> Result<()> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(())
    } else {
        Err(DbError::invalid(format!(
            "limit must be from 1 to {MAX_PAGE}, got {limit}"
        )))
    }
}

fn not_found(collection: &str, id: u64) -> DbError {
    DbError::NotFound {
        collection: collection.to_string(),
        id,
    }
}

impl Database {
    /// Calls `f` with a view of the document `id`, borrowed from the log, and returns what
    /// it returns. Allocates nothing when the document is found: the fastest read, for
    /// callers that look at a few fields or copy the document into their own form.
    /// [`DbError::NotFound`] if there is no such document.
    pub fn get_with<R>(
        &self,
        collection: &str,
        id: u64,
        f: impl FnOnce(DocumentView<'_>) -> R,
    ) -> Result<R> {
        let _permit = self.permit()?;
        validate_name(collection)?;
        // Borrow the collection from the catalog guard: no shared reference count to bump.
        let catalog = self.inner.state.catalog.load();
        let c = catalog
            .by_name(collection)
            .ok_or_else(|| DbError::CollectionNotFound {
                collection: collection.to_string(),
            })?;
        let location = c
            .index
            .primary()
            .get(id)
            .ok_or_else(|| not_found(collection, id))?;
        // `read_stored` may call its decoder again only after a read that did not reach
        // it (a segment retired meanwhile), so `f` runs at most once.
        let mut f = Some(f);
        let answer = self.read_view(c, id, location, |view| f.take().map(|f| f(view)))?;
        answer.flatten().ok_or_else(|| not_found(collection, id))
    }

    /// Calls `f` with each document of `collection` after `after` (exclusive) in ascending
    /// id order, as views borrowed from the log, until `f` answers `Break`. Returns the id
    /// of the document at which `f` stopped (pass it as `after` to go on), or `None` once
    /// every document was visited.
    ///
    /// The ids are taken from the primary index [`DOCUMENTS_CHUNK`] at a time, each chunk
    /// while no write of several documents is half visible (as a `list` page): memory stays
    /// bounded, no document is visited twice, one deleted before its chunk is taken is not
    /// visited, and a write of several documents is seen whole or not at all within a
    /// chunk. No allocation per document (one per chunk): each chunk's frames are read
    /// against one load of the segment table ([`nyro_storage::ReadSnapshot`]), each frame's
    /// checksum checked. A damaged document ends the scan with its error
    /// ([`DbError::Corrupt`], naming the id).
    pub fn scan_with(
        &self,
        collection: &str,
        after: Option<u64>,
        mut f: impl FnMut(DocumentView<'_>) -> ControlFlow<()>,
    ) -> Result<Option<u64>> {
        let _permit = self.permit()?;
        validate_name(collection)?;
        let c = self.inner.state.collection(collection)?;
        let mut after = after;
        loop {
            let chunk = {
                let _whole_writes = c.reading();
                c.index.primary().page(after, DOCUMENTS_CHUNK)
            };
            let Some(&(last, _)) = chunk.last() else {
                return Ok(None);
            };
            // Taken after the chunk: every location in it is in this table.
            let mut snapshot = self.inner.reader.snapshot();
            for &(id, location) in &chunk {
                let view = self.read_view_in(Some(&mut snapshot), &c, id, location, &mut f)?;
                if let Some(ControlFlow::Break(())) = view {
                    return Ok(Some(id));
                }
            }
            if chunk.len() < DOCUMENTS_CHUNK {
                return Ok(None);
            }
            after = Some(last);
        }
    }

    /// A page of documents in ascending id order after `after` (exclusive), at most
    /// `limit`, handed to `f` as borrowed views (what [`Database::list`] returns, without
    /// the owned documents). Returns the `after` of the next page, `None` on the last page.
    pub fn list_with(
        &self,
        collection: &str,
        after: Option<u64>,
        limit: usize,
        f: impl FnMut(DocumentView<'_>),
    ) -> Result<Option<u64>> {
        self.page_with(collection, limit, f, |c| {
            Ok(c.index.primary().page(after, limit + 1))
        })
    }

    /// The documents whose indexed fields equal every given value, in ascending id order,
    /// a page at a time (what [`Database::find`] returns), handed to `f` as borrowed views.
    /// Returns the `after` of the next page, `None` on the last page.
    pub fn find_with(
        &self,
        collection: &str,
        conditions: &[(String, Value)],
        after: Option<u64>,
        limit: usize,
        f: impl FnMut(DocumentView<'_>),
    ) -> Result<Option<u64>> {
        self.page_with(collection, limit, f, |c| {
            indexing::find(c, conditions, after, limit + 1)
        })
    }

    /// A page: the hits (up to `limit + 1`) that `hits` takes from the collection's
    /// indexes while no write of several documents is half visible; `f` called with each
    /// of the first `limit` still present. Returns the next page's `after` (the last
    /// document visited) if there are more hits.
    fn page_with(
        &self,
        collection: &str,
        limit: usize,
        mut f: impl FnMut(DocumentView<'_>),
        hits: impl FnOnce(&Collection) -> Result<Vec<(u64, nyro_storage::Location)>>,
    ) -> Result<Option<u64>> {
        let _permit = self.permit()?;
        validate_name(collection)?;
        check_limit(limit)?;
        let collection = self.inner.state.collection(collection)?;
        let hits = {
            let _whole_writes = collection.reading();
            hits(&collection)?
        };
        let more = hits.len() > limit;
        let mut last = None;
        for &(id, location) in hits.iter().take(limit) {
            if self.read_view(&collection, id, location, &mut f)?.is_some() {
                last = Some(id);
            }
        }
        Ok(last.filter(|_| more))
    }

    /// What `f` makes of a view of document `id` at `location`; `None` if it was deleted
    /// meanwhile.
    fn read_view<R>(
        &self,
        collection: &Collection,
        id: u64,
        location: nyro_storage::Location,
        f: impl FnMut(DocumentView<'_>) -> R,
    ) -> Result<Option<R>> {
        self.read_view_in(None, collection, id, location, f)
    }

    /// [`Database::read_view`], reading against `snapshot` first if one is given.
    pub(super) fn read_view_in<R>(
        &self,
        snapshot: Option<&mut nyro_storage::ReadSnapshot>,
        collection: &Collection,
        id: u64,
        location: nyro_storage::Location,
        mut f: impl FnMut(DocumentView<'_>) -> R,
    ) -> Result<Option<R>> {
        read_stored_in(
            &self.inner.reader,
            snapshot,
            &self.inner.state.damage,
            collection,
            id,
            location,
            |payload| Ok(f(DocumentView::new(id, payload)?)),
        )
    }
}
