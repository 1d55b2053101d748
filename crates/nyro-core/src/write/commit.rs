//! What the operations share once their records are in the log: the collection a request
//! created, index updates, and change events.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use nyro_storage::Location;

use super::batch::Target;
use crate::catalog::{Catalog, Collection};
use crate::document::Document;
use crate::feed::ChangeEvent;
use crate::indexing::{self, StoredKeys};
use crate::state::State;

/// The collection a request wrote to, made visible first if the request created it (its
/// first record, whose location this takes from `locations`).
pub(super) fn open_target(
    state: &State,
    target: Target,
    locations: &mut impl Iterator<Item = Location>,
) -> Option<Arc<Collection>> {
    if let Some(def) = target.creates {
        locations.next(); // the create-collection record
        match Collection::new(target.id, def) {
            Ok(created) => {
                let created = Arc::new(created);
                state.catalog.rcu(|catalog| {
                    let mut catalog = Catalog::clone(catalog);
                    catalog.insert(Arc::clone(&created));
                    catalog
                });
                return Some(created);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot create a collection already in the log")
            }
        }
    }
    state.catalog.load().by_id(target.id).cloned()
}

/// Makes `event.seq` the last visible seq and sends the event to the change feed.
pub(crate) fn publish(state: &State, event: ChangeEvent) {
    state.last_seq.store(event.seq, Ordering::Release);
    // Nobody watching: skip the event's allocation. No change is missed by a subscriber
    // that arrives meanwhile: `receiver_count` and `subscribe` take the same lock, and a
    // subscriber reads `last_seq` after subscribing, so one that was not counted here reads
    // this seq or a later one and starts after it.
    if state.changes.receiver_count() > 0 {
        // A receiver gone since is not an error.
        let _ = state.changes.send(Arc::new(event));
    }
}

/// What the documents of a committed request are, for their index update.
pub(super) enum Written {
    /// Inserts: ids the writer checked absent, so there are no old keys to look up.
    New,
    /// Replaces or creations, with the keys of the versions they replace as `prepare` read
    /// them (per document; empty without secondary indexes, see [`super::Batch::old_keys`]).
    Replacing(Vec<Option<StoredKeys>>),
}

/// Indexes the documents a request wrote (each with its id, at the next location of
/// `locations`), counting the frames they replace as dead. Without secondary indexes the
/// whole request goes into the primary index at once. The bytes are in the log already and
/// `prepare` read the old versions' keys, so a failure here is a bug: it is logged, not
/// returned.
pub(super) fn index_written(
    state: &State,
    collection: &Collection,
    docs: &[Document],
    locations: &mut impl Iterator<Item = Location>,
    written: Written,
) {
    let reader = &state.reader;
    // Several documents become visible together (a list or query never shows part of a
    // bulk); one needs no such lock.
    let _whole = (docs.len() > 1).then(|| collection.publishing());
    if !collection.has_indexes() {
        let located = docs.iter().map(|d| d.id.unwrap_or_default()).zip(locations);
        collection
            .index
            .primary()
            .insert_many(located, |_, old| reader.mark_dead(old));
        return;
    }
    let mut old = match written {
        Written::New => None,
        Written::Replacing(old) => Some(old.into_iter()),
    };
    for (doc, location) in docs.iter().zip(locations) {
        let indexed = match &mut old {
            None => indexing::insert_new(collection, doc, location).map(|()| None),
            Some(old) => {
                let old = old.next().flatten();
                indexing::put(collection, reader, doc, location, old)
            }
        };
        match indexed {
            Ok(Some(old)) => reader.mark_dead(old),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "index update failed after a write"),
        }
    }
}
