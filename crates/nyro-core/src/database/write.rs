//! The write operations: each builds its operation (checked and encoded here, on the
//! caller's task), takes a permit and submits it to the writer for its typed answer.

use super::Database;
use crate::document::Document;
use crate::error::{DbError, Result};
use crate::types::{Created, Inserted, InsertedMany, Replaced, WriteOptions};
use crate::write::{
    self, AddIndex, CreateCollection, Delete, DropCollection, DropIndex, Insert, Job, Operation,
    Queued, Replace,
};

impl Database {
    /// Submits `op` under a permit of `max_concurrent_ops`.
    async fn write<O>(&self, op: O, options: WriteOptions) -> Result<O::Answer>
    where
        O: Operation,
        Queued: From<Job<O>>,
    {
        let _permit = self.permit()?;
        match &self.inner.replica {
            None => write::submit(&self.inner.writer, op, options.sync).await,
            Some(replica) => replica.propose(op, options.sync).await,
        }
    }

    /// Waits until every acknowledged write is fdatasync'ed.
    pub async fn flush(&self) -> Result<()> {
        self.inner.writer.flush().await.map_err(DbError::from)
    }

    /// Creates a collection with indexes on the given top-level fields. Creating one that
    /// exists with the same indexes changes nothing; with other indexes it is a conflict
    /// ([`DbError::CollectionExists`]).
    pub async fn create_collection(&self, name: &str, indexes: &[String]) -> Result<Created> {
        let op = CreateCollection::new(name, indexes)?;
        self.write(op, WriteOptions::default()).await
    }

    /// Drops a collection and every document in it.
    pub async fn drop_collection(&self, name: &str) -> Result<()> {
        let op = DropCollection::new(name)?;
        self.write(op, WriteOptions::default()).await
    }

    /// Adds an index on `path` (a dotted path, not `_id`) to a collection that exists. The
    /// index is logged at once and built from the stored documents in the background while
    /// reads and writes go on: [`Database::collections`] lists it in `building` until it is
    /// ready, and queries use it only then. It survives restarts (an open builds every
    /// index before serving). Errors: [`DbError::CollectionNotFound`],
    /// [`DbError::IndexExists`] (ready or building), [`DbError::Invalid`] for a bad path.
    pub async fn add_index(&self, collection: &str, path: &str) -> Result<()> {
        let op = AddIndex::new(collection, path)?;
        self.write(op, WriteOptions::default()).await
    }

    /// Drops the index on `path` of `collection` (ready or being built; its build stops), at
    /// once. Errors: [`DbError::CollectionNotFound`], [`DbError::IndexNotFound`].
    pub async fn drop_index(&self, collection: &str, path: &str) -> Result<()> {
        let op = DropIndex::new(collection, path)?;
        self.write(op, WriteOptions::default()).await
    }

    /// Makes the background index builds wait (`true`) or go on: for tests that need an
    /// index to stay in state building. Not part of the stable API.
    #[doc(hidden)]
    pub fn pause_index_builds(&self, paused: bool) {
        self.inner.state.builds.pause(paused);
    }

    /// Inserts a document, with the id it carries or the next one of the collection.
    /// Creates the collection if it is missing.
    pub async fn insert(
        &self,
        collection: &str,
        doc: Document,
        options: WriteOptions,
    ) -> Result<Inserted> {
        let InsertedMany { ids, seq } = self.insert_many(collection, vec![doc], options).await?;
        let id = ids.first().copied().ok_or_else(|| DbError::Internal {
            message: "an insert of one document answered no id".to_string(),
        })?;
        Ok(Inserted { id, seq })
    }

    /// Inserts documents all or nothing: if one is refused, none is written. Each gets its
    /// own sequence number and change event.
    pub async fn insert_many(
        &self,
        collection: &str,
        docs: Vec<Document>,
        options: WriteOptions,
    ) -> Result<InsertedMany> {
        let op = Insert::new(collection, docs)?;
        self.write(op, options).await
    }

    /// Replaces the document with `id`, or creates it. Creates the collection if missing.
    pub async fn replace(
        &self,
        collection: &str,
        id: u64,
        mut doc: Document,
        options: WriteOptions,
    ) -> Result<Replaced> {
        if doc.id.is_some_and(|given| given != id) {
            return Err(DbError::invalid(format!(
                "the document's _id {} differs from the id {id} it is written to",
                doc.id.unwrap_or_default()
            )));
        }
        doc.id = Some(id);
        let mut replaced = self.replace_many(collection, vec![doc], options).await?;
        replaced.pop().ok_or_else(|| DbError::Internal {
            message: "a replace of one document answered for none".to_string(),
        })
    }

    /// Replaces or creates every document, each at the id it carries, all or nothing: if
    /// one is refused, none is written. They are written in order, so a later document
    /// with the same id replaces an earlier one; each gets its own sequence number and
    /// change event. Creates the collection if missing. Answers one [`Replaced`] per
    /// document, in order.
    pub async fn replace_many(
        &self,
        collection: &str,
        docs: Vec<Document>,
        options: WriteOptions,
    ) -> Result<Vec<Replaced>> {
        let op = Replace::new(collection, docs)?;
        self.write(op, options).await
    }

    /// Deletes a document (a tombstone in the log). Returns its sequence number.
    pub async fn delete(&self, collection: &str, id: u64, options: WriteOptions) -> Result<u64> {
        let op = Delete::new(collection, id)?;
        self.write(op, options).await
    }
}
