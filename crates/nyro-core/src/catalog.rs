//! Collections: names, definitions as stored in the log, and the live catalog readers use.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use nyro_index::CollectionIndexes;
use serde::{Deserialize, Serialize};

use crate::error::{DbError, Result};
use crate::names::{check_index_fields, is_valid_collection_name};
use crate::query::Path;

/// Checks the contract's naming rule `^[A-Za-z0-9_-]{1,64}$` ([`crate::names`]).
pub fn validate_name(name: &str) -> Result<()> {
    if is_valid_collection_name(name) {
        Ok(())
    } else {
        Err(DbError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// Checks index field names by the rule the config file uses too ([`crate::names`]: not
/// empty, not `_id`, each once) and returns them sorted: the canonical form that is stored
/// and compared.
pub fn normalize_indexes(collection: &str, fields: &[String]) -> Result<Vec<String>> {
    check_index_fields(fields).map_err(|(j, problem)| {
        DbError::invalid(format!(
            "collection {collection:?}, indexes[{j}]: {problem}"
        ))
    })?;
    let mut fields = fields.to_vec();
    fields.sort();
    Ok(fields)
}

/// The payload of a create-collection record (docs/FORMAT.md section 4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CollectionDef {
    pub(crate) name: String,
    pub(crate) indexes: Vec<String>,
}

/// A live collection: its definition and its indexes.
#[derive(Debug)]
pub(crate) struct Collection {
    pub(crate) id: u32,
    pub(crate) name: Arc<str>,
    /// Its indexed paths, sorted (ready or being built: every write updates them). Changed
    /// only by the writer's leader (an index added or dropped), replaced whole.
    indexes: ArcSwap<IndexedPaths>,
    pub(crate) index: CollectionIndexes,
    /// Taken exclusively while the documents of one write (several of them: a `_bulk`, a
    /// run of a replicated entry) become visible here, shared while a list or query takes
    /// its page of hits: a page shows each write whole or not at all. A write of one
    /// document and a get of one id need neither.
    visibility: parking_lot::RwLock<()>,
}

impl Collection {
    pub(crate) fn new(id: u32, def: CollectionDef) -> Result<Self> {
        let index = CollectionIndexes::new(&def.indexes)
            .map_err(|e| DbError::invalid(format!("collection {:?}: {e}", def.name)))?;
        Ok(Self::with_index(id, def, index))
    }

    /// A collection whose indexes were built already (replay on open).
    pub(crate) fn with_index(id: u32, def: CollectionDef, index: CollectionIndexes) -> Self {
        Self {
            id,
            name: Arc::from(def.name),
            indexes: ArcSwap::from_pointee(IndexedPaths::new(def.indexes)),
            index,
            visibility: parking_lot::RwLock::new(()),
        }
    }

    /// Its indexed paths now, sorted, in any state (as a write updates them).
    pub(crate) fn indexes(&self) -> Arc<IndexedPaths> {
        self.indexes.load_full()
    }

    /// True if it has a secondary index (in any state).
    pub(crate) fn has_indexes(&self) -> bool {
        !self.indexes.load().is_empty()
    }

    /// Replaces its indexed paths (the writer's leader, adding or dropping an index).
    pub(crate) fn set_indexes(&self, mut indexes: Vec<String>) {
        indexes.sort();
        self.indexes.store(Arc::new(IndexedPaths::new(indexes)));
    }

    /// Its definition as it stands (every index, ready or being built).
    pub(crate) fn def(&self) -> CollectionDef {
        CollectionDef {
            name: self.name.to_string(),
            indexes: self.indexes().to_vec(),
        }
    }

    /// Held while a write's records become visible in this collection.
    pub(crate) fn publishing(&self) -> parking_lot::RwLockWriteGuard<'_, ()> {
        self.visibility.write()
    }

    /// Held while a page of hits is taken from this collection's indexes.
    pub(crate) fn reading(&self) -> parking_lot::RwLockReadGuard<'_, ()> {
        self.visibility.read()
    }
}

/// A collection's indexed paths: their names (as stored, sorted) and parsed. Derefs to the
/// names.
#[derive(Debug, Default)]
pub(crate) struct IndexedPaths {
    names: Vec<String>,
    paths: Vec<Path>,
}

impl IndexedPaths {
    /// The paths of declared index names. A name stored before indexes were paths that is
    /// not a valid path (`"a..b"`) still indexes the top-level field of that name.
    pub(crate) fn new(names: Vec<String>) -> Self {
        let paths = names
            .iter()
            .map(|name| Path::parse(name).unwrap_or_else(|_| Path::field(name)))
            .collect();
        Self { names, paths }
    }

    /// The parsed paths, in the order of the names.
    pub(crate) fn paths(&self) -> &[Path] {
        &self.paths
    }
}

impl std::ops::Deref for IndexedPaths {
    type Target = Vec<String>;

    fn deref(&self) -> &Vec<String> {
        &self.names
    }
}

/// Every live collection, by name and by id. Replaced as a whole (copy on write) when a
/// collection is created or dropped, which is rare; readers load it without locking.
#[derive(Debug, Default, Clone)]
pub(crate) struct Catalog {
    by_name: HashMap<Arc<str>, Arc<Collection>, foldhash::fast::RandomState>,
    by_id: HashMap<u32, Arc<Collection>, foldhash::fast::RandomState>,
}

impl Catalog {
    pub(crate) fn by_name(&self, name: &str) -> Option<&Arc<Collection>> {
        self.by_name.get(name)
    }

    pub(crate) fn by_id(&self, id: u32) -> Option<&Arc<Collection>> {
        self.by_id.get(&id)
    }

    pub(crate) fn insert(&mut self, collection: Arc<Collection>) {
        self.by_name
            .insert(Arc::clone(&collection.name), Arc::clone(&collection));
        self.by_id.insert(collection.id, collection);
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<Arc<Collection>> {
        let removed = self.by_id.remove(&id)?;
        self.by_name.remove(&removed.name);
        Some(removed)
    }

    /// Collections sorted by name.
    pub(crate) fn sorted(&self) -> Vec<Arc<Collection>> {
        let mut all: Vec<_> = self.by_name.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        for good in ["a", "users", "A-b_9", &"x".repeat(64)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "ü", "a/b", "a.b", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn indexes_are_sorted_and_checked() {
        let got = normalize_indexes("c", &["b".into(), "a".into()]);
        assert_eq!(got.ok(), Some(vec!["a".to_string(), "b".to_string()]));
        assert!(normalize_indexes("c", &["_id".into()]).is_err());
        let dotted = normalize_indexes("c", &["b.c".into(), "a".into()]);
        assert_eq!(dotted.ok(), Some(vec!["a".to_string(), "b.c".to_string()]));
        let Err(err) = normalize_indexes("c", &["a..b".into()]) else {
            panic!("a path with an empty field name was accepted");
        };
        assert!(err.to_string().contains("\"a..b\""), "{err}");
        // Paths parse; a name stored before paths that does not parse stays one field.
        let indexed = IndexedPaths::new(vec!["a.b".into(), "x..y".into()]);
        let paths = indexed.paths();
        assert_eq!(paths[0].segments().len(), 2);
        assert_eq!(paths[1].segments().len(), 1);
        assert_eq!(paths[1].as_str(), "x..y");
        assert!(normalize_indexes("c", &[String::new()]).is_err());
        // A repeated field is refused, as the config file refuses it.
        let Err(err) = normalize_indexes("c", &["b".into(), "a".into(), "b".into()]) else {
            panic!("a repeated index field was accepted");
        };
        assert!(matches!(err, DbError::Invalid { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("indexes[2]") && message.contains("twice"),
            "{message}"
        );
    }
}
