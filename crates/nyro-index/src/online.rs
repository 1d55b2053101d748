//! Indexes added and dropped while the collection is in use: the set of a collection's
//! secondary indexes (each with its [`IndexState`]) and the operations of an online build.
//!
//! An index added to a collection that holds records starts **building**: every later put
//! and delete updates it like a ready one, while a builder (the layer above, on a thread of
//! its own) fills in the records stored before it with [`CollectionIndexes::fill`], then
//! marks it ready ([`CollectionIndexes::set_ready`]). Until then queries refuse it
//! ([`IndexError::NotReady`]). While building, an old key that is absent is not an error
//! (the builder may not have reached that record yet): the removal just finds nothing.
//!
//! Exactness: `fill` indexes a record only if the primary index still has it at the
//! location the builder read it from, checked under the same write lock that every put and
//! delete holds while it changes the record's location and keys. So a record the builder
//! read before a write changed it is handed back to be read again, and every record ends up
//! under exactly the keys of its latest version.

use nyro_storage::Location;

use crate::collection::CollectionIndexes;
use crate::error::IndexError;
use crate::key::IndexKey;
use crate::secondary::SecondaryIndex;

/// Whether an index serves queries yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndexState {
    /// Added to a collection with records: kept up to date by every write, but not complete
    /// until its build has indexed the records stored before it.
    Building,
    /// Complete: queries may use it.
    Ready,
}

/// A collection's secondary indexes, in declaration order (added ones last), each with its
/// name and state; kept behind one lock so that a query over several sees one state.
#[derive(Debug, Default)]
pub(crate) struct Secondaries {
    pub(crate) names: Vec<Box<str>>,
    pub(crate) states: Vec<IndexState>,
    pub(crate) indexes: Vec<SecondaryIndex>,
}

impl Secondaries {
    /// Ready indexes named `names` with the given contents.
    pub(crate) fn ready(names: Vec<Box<str>>, indexes: Vec<SecondaryIndex>) -> Self {
        Self {
            states: vec![IndexState::Ready; names.len()],
            names,
            indexes,
        }
    }

    /// Position of `field` among the indexes, in any state.
    pub(crate) fn position(&self, field: &str) -> Result<usize, IndexError> {
        self.names
            .iter()
            .position(|f| &**f == field)
            .ok_or_else(|| IndexError::NotIndexed {
                field: field.to_owned(),
            })
    }

    /// Position of `field` among the indexes that queries may use.
    pub(crate) fn ready_position(&self, field: &str) -> Result<usize, IndexError> {
        let i = self.position(field)?;
        match self.states[i] {
            IndexState::Ready => Ok(i),
            IndexState::Building => Err(IndexError::NotReady {
                field: field.to_owned(),
            }),
        }
    }

    /// True if the index at `i` is being built (an absent old key is then no error).
    pub(crate) fn building(&self, i: usize) -> bool {
        self.states[i] == IndexState::Building
    }
}

impl CollectionIndexes {
    /// Adds an empty index on `path`, in state [`IndexState::Building`] (or
    /// [`IndexState::Ready`] when the collection holds no record: there is nothing to
    /// build). From now on every put and delete updates it; the caller builds it from the
    /// records stored before ([`fill`](Self::fill)) and then calls
    /// [`set_ready`](Self::set_ready). Returns its state. Errors with
    /// [`IndexError::DuplicateField`] if `path` is indexed already.
    pub fn add_path(&self, path: &str) -> Result<IndexState, IndexError> {
        let mut secondaries = self.secondaries.write();
        if secondaries.position(path).is_ok() {
            return Err(IndexError::DuplicateField {
                field: path.to_owned(),
            });
        }
        // Under the write lock, which every put holds while it changes the primary index:
        // a record put after this is indexed by its put.
        let state = if self.primary().is_empty() {
            IndexState::Ready
        } else {
            IndexState::Building
        };
        secondaries.names.push(path.into());
        secondaries.states.push(state);
        secondaries.indexes.push(SecondaryIndex::new());
        self.set_any(true);
        Ok(state)
    }

    /// Drops the index on `path` (in either state) with everything in it. Errors with
    /// [`IndexError::NotIndexed`] if there is none.
    pub fn drop_path(&self, path: &str) -> Result<(), IndexError> {
        let mut secondaries = self.secondaries.write();
        let i = secondaries.position(path)?;
        secondaries.names.remove(i);
        secondaries.states.remove(i);
        secondaries.indexes.remove(i);
        self.set_any(!secondaries.names.is_empty());
        Ok(())
    }

    /// Marks the index on `path` ready: its build has indexed every record stored before it
    /// was added. Errors with [`IndexError::NotIndexed`] if there is none.
    pub fn set_ready(&self, path: &str) -> Result<(), IndexError> {
        let mut secondaries = self.secondaries.write();
        let i = secondaries.position(path)?;
        secondaries.states[i] = IndexState::Ready;
        Ok(())
    }

    /// Every indexed path with its state, in declaration order (added ones last).
    pub fn paths(&self) -> Vec<(String, IndexState)> {
        let secondaries = self.secondaries.read();
        secondaries
            .names
            .iter()
            .zip(&secondaries.states)
            .map(|(name, state)| (name.to_string(), *state))
            .collect()
    }

    /// The state of the index on `path`, if there is one.
    pub fn state(&self, path: &str) -> Option<IndexState> {
        let secondaries = self.secondaries.read();
        let i = secondaries.position(path).ok()?;
        Some(secondaries.states[i])
    }

    /// A build's step: indexes each `(id, location, keys)` under `path` (which must be
    /// building) if the primary index still has `id` at `location`, all under one hold of
    /// the write lock. `keys` are the keys of the document read at `location` for this
    /// path. Returns the ids whose location changed since they were read
    /// (replaced or moved by compaction): read them again at their new location and fill
    /// them again. Ids deleted since are skipped (their delete removed them).
    ///
    /// Errors (nothing changed): [`IndexError::NotIndexed`] if `path` is not indexed (it
    /// was dropped: the build is over), [`IndexError::NotBuilding`] if it is ready.
    pub fn fill(
        &self,
        path: &str,
        entries: &[(u64, Location, Vec<IndexKey>)],
    ) -> Result<Vec<u64>, IndexError> {
        let mut secondaries = self.secondaries.write();
        let i = secondaries.position(path)?;
        if !secondaries.building(i) {
            return Err(IndexError::NotBuilding {
                field: path.to_owned(),
            });
        }
        let index = &mut secondaries.indexes[i];
        let mut moved = Vec::new();
        for (id, location, keys) in entries {
            match self.primary().get(*id) {
                Some(now) if now == *location => {
                    for key in keys {
                        index.insert(key.clone(), *id);
                    }
                }
                Some(_) => moved.push(*id),
                None => {}
            }
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn loc(n: u64) -> Location {
        Location {
            segment: 0,
            offset: n,
            len: 40,
        }
    }

    fn key(n: i64) -> Vec<IndexKey> {
        vec![IndexKey::from(n)]
    }

    #[test]
    fn a_build_races_writes_and_ends_exact() {
        let c = CollectionIndexes::new(Vec::<&str>::new()).unwrap();
        for id in 1..=4 {
            c.apply_put(id, loc(id), [], Vec::<(&str, &[IndexKey])>::new())
                .unwrap();
        }
        assert_eq!(c.add_path("a").unwrap(), IndexState::Building);
        assert_eq!(c.paths(), vec![("a".to_string(), IndexState::Building)]);
        // Queries refuse it until it is ready.
        assert!(matches!(
            c.find(&[("a", IndexKey::from(1i64))], None, 5),
            Err(IndexError::NotReady { .. })
        ));
        // A write before the build reaches id 2: its old key is absent, no error.
        c.apply_put(2, loc(12), [("a", &key(2)[..])], [("a", &key(20)[..])])
            .unwrap();
        // A delete before the build reaches id 3.
        c.apply_delete(3, [("a", &key(3)[..])]).unwrap();
        // The builder read ids 1..=4 at their first locations.
        let read: Vec<_> = (1..=4).map(|id| (id, loc(id), key(id as i64))).collect();
        assert_eq!(c.fill("a", &read).unwrap(), vec![2]);
        // Read again where it is now.
        assert!(c.fill("a", &[(2, loc(12), key(20))]).unwrap().is_empty());
        // A write after the build indexed id 1 removes its key as usual.
        c.apply_put(1, loc(11), [("a", &key(1)[..])], [("a", &key(10)[..])])
            .unwrap();
        c.set_ready("a").unwrap();
        assert!(matches!(
            c.fill("a", &read),
            Err(IndexError::NotBuilding { .. })
        ));
        let find = |k: i64| c.find(&[("a", IndexKey::from(k))], None, 9).unwrap();
        assert_eq!(
            (find(1), find(10), find(2), find(20), find(3), find(4)),
            (vec![], vec![1], vec![], vec![2], vec![], vec![4])
        );
        // Once ready, a stale old key is an error again.
        assert!(matches!(
            c.apply_put(4, loc(14), [("a", &key(99)[..])], [("a", &key(4)[..])]),
            Err(IndexError::StaleOldKey { .. })
        ));
    }

    #[test]
    fn add_and_drop() {
        let c = CollectionIndexes::new(["a"]).unwrap();
        // Nothing stored: ready at once.
        assert_eq!(c.add_path("b").unwrap(), IndexState::Ready);
        assert!(matches!(
            c.add_path("a"),
            Err(IndexError::DuplicateField { .. })
        ));
        c.apply_put(1, loc(1), [("a", &key(1)[..]), ("b", &key(2)[..])], [])
            .unwrap_err(); // old keys that are not indexed: refused
        c.apply_put(1, loc(1), [], [("a", &key(1)[..]), ("b", &key(2)[..])])
            .unwrap();
        c.drop_path("a").unwrap();
        assert!(matches!(
            c.drop_path("a"),
            Err(IndexError::NotIndexed { .. })
        ));
        assert_eq!(c.paths(), vec![("b".to_string(), IndexState::Ready)]);
        assert_eq!(
            c.find(&[("b", IndexKey::from(2i64))], None, 9).unwrap(),
            [1]
        );
        c.drop_path("b").unwrap();
        assert!(c.paths().is_empty());
        // Without secondary indexes, puts go to the primary alone.
        c.apply_put(2, loc(2), Vec::<(&str, &[IndexKey])>::new(), [])
            .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.add_path("b").unwrap(), IndexState::Building);
        assert_eq!(c.state("b"), Some(IndexState::Building));
    }
}
