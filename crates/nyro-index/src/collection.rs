//! `CollectionIndexes`: a collection's primary index and its declared secondary indexes (one
//! per path, "fields" here), kept exact under puts, replaces and deletes, and queried by
//! equality on several paths ([`CollectionIndexes::find`]) or by key ranges (`ranges.rs`).
//!
//! A document has a *set* of keys per path (multikey: the elements of an array are each a
//! key); the caller computes them, this crate does not read documents.
//!
//! How the index learns a record's old keys: the caller passes them. On a replace or a delete
//! the layer above already holds the old record's location (from the primary index) and reads
//! the old document to extract its keys. The alternative, remembering for each id the keys it
//! was indexed under, would cost an extra map entry per record and key (roughly 40-80 bytes
//! each); passing them costs nothing in memory and one read of the old frame per replace or
//! delete, which the write's own I/O dwarfs. To catch a caller that gets them wrong, every old
//! key given is checked against the index before anything changes
//! ([`IndexError::StaleOldKey`]); an old key wrongly left out cannot be detected that cheaply
//! and would leave a stale entry behind.

use std::sync::atomic::{AtomicBool, Ordering};

use nyro_storage::Location;
use parking_lot::RwLock;

use crate::error::IndexError;
use crate::key::IndexKey;
use crate::online::Secondaries;
use crate::primary::PrimaryIndex;
use smallvec::SmallVec;

use crate::secondary::{Postings, SecondaryIndex};

/// Indexed paths whose per-document keys live on the stack (no allocation per update).
const INLINE_FIELDS: usize = 4;
/// One set of keys per declared path (empty: the caller gave none).
type Slots<'k> = SmallVec<[&'k [IndexKey]; INLINE_FIELDS]>;

/// A collection's indexes: the [`PrimaryIndex`] and one [`SecondaryIndex`] per declared path
/// (paths can be added and dropped while in use: [`crate::online`]).
///
/// All methods take `&self`. Updates ([`apply_put`](Self::apply_put),
/// [`apply_delete`](Self::apply_delete)) hold the secondary indexes' write lock for the
/// in-memory update only, so a [`find`](Self::find) sees every path in the same state. One
/// writer at a time is expected (concurrent writers are serialized, not lost); adding and
/// dropping paths is the writer's too.
#[derive(Debug)]
pub struct CollectionIndexes {
    primary: PrimaryIndex,
    pub(crate) secondaries: RwLock<Secondaries>,
    /// True while there is a secondary index: without one, puts skip the lock.
    any: AtomicBool,
}

impl CollectionIndexes {
    /// Empty indexes for a collection whose documents are indexed by the top-level `fields`
    /// (possibly none). Errors with [`IndexError::DuplicateField`] if a field repeats.
    pub fn new<I, S>(fields: I) -> Result<Self, IndexError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut names: Vec<Box<str>> = Vec::new();
        for field in fields {
            let field = field.as_ref();
            if names.iter().any(|name| &**name == field) {
                return Err(IndexError::DuplicateField {
                    field: field.to_owned(),
                });
            }
            names.push(field.into());
        }
        let secondaries = names.iter().map(|_| SecondaryIndex::new()).collect();
        Ok(Self {
            primary: PrimaryIndex::new(),
            any: AtomicBool::new(!names.is_empty()),
            secondaries: RwLock::new(Secondaries::ready(names, secondaries)),
        })
    }

    /// These (empty) indexes' paths with the given contents ([`crate::bulk`]).
    pub(crate) fn with_contents(
        self,
        primary: PrimaryIndex,
        secondaries: Vec<SecondaryIndex>,
    ) -> Self {
        let names = self.secondaries.into_inner().names;
        Self {
            primary,
            any: AtomicBool::new(!names.is_empty()),
            secondaries: RwLock::new(Secondaries::ready(names, secondaries)),
        }
    }

    /// Records whether there is a secondary index (the writer, adding or dropping one).
    pub(crate) fn set_any(&self, any: bool) {
        self.any.store(any, Ordering::Release);
    }

    /// The primary index (id to location, pages in id order).
    pub fn primary(&self) -> &PrimaryIndex {
        &self.primary
    }

    /// The indexed paths, in declaration order (added ones last), in any state.
    pub fn fields(&self) -> Vec<String> {
        self.secondaries
            .read()
            .names
            .iter()
            .map(|f| f.to_string())
            .collect()
    }

    /// True if `field` is indexed and ready for queries.
    pub fn is_indexed(&self, field: &str) -> bool {
        self.secondaries.read().ready_position(field).is_ok()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.primary.len()
    }

    /// True if the collection has no record.
    pub fn is_empty(&self) -> bool {
        self.primary.is_empty()
    }

    /// Applies a put of record `id` whose frame is at `location`: a new record, or a replace.
    ///
    /// `old` and `new` give, for indexed paths, the set of keys of the previous and of the
    /// new document (a key given twice counts once); leaving a path out (or giving no key)
    /// means the document is under no key of it. For a new record `old` is empty. Only the
    /// keys that differ change. Returns the previous location.
    ///
    /// Errors (the indexes are then unchanged): [`IndexError::NotIndexed`] for a path that
    /// is not declared, [`IndexError::DuplicateField`] for a path given twice in `old` or in
    /// `new`, [`IndexError::StaleOldKey`] if `id` is not indexed under a key of `old`.
    pub fn apply_put<'o, 'n, F, O, N>(
        &self,
        id: u64,
        location: Location,
        old: O,
        new: N,
    ) -> Result<Option<Location>, IndexError>
    where
        F: AsRef<str>,
        O: IntoIterator<Item = (F, &'o [IndexKey])>,
        N: IntoIterator<Item = (F, &'n [IndexKey])>,
    {
        if !self.any.load(Ordering::Acquire) {
            // No secondary index: only the primary changes (the common case, kept free of
            // the key slots and the secondaries' lock).
            no_keys(old)?;
            no_keys(new)?;
            return Ok(self.primary.insert(id, location));
        }
        let mut secondaries = self.secondaries.write();
        let old = secondaries.slots(old)?;
        let new = secondaries.slots(new)?;
        secondaries.check_old(id, &old)?;
        // Location first: an id found through a secondary index always has one.
        let previous = self.primary.insert(id, location);
        for ((index, old), new) in secondaries.indexes.iter_mut().zip(old).zip(new) {
            index.replace_keys(id, old, new);
        }
        Ok(previous)
    }

    /// Applies a delete of record `id`, whose document had the keys `old` (as for
    /// [`apply_put`](Self::apply_put)). Returns its location, `None` if it was not present.
    ///
    /// Errors (the indexes are then unchanged): [`IndexError::NotIndexed`],
    /// [`IndexError::DuplicateField`], [`IndexError::StaleOldKey`].
    pub fn apply_delete<'o, F, O>(&self, id: u64, old: O) -> Result<Option<Location>, IndexError>
    where
        F: AsRef<str>,
        O: IntoIterator<Item = (F, &'o [IndexKey])>,
    {
        let mut secondaries = self.secondaries.write();
        let old = secondaries.slots(old)?;
        secondaries.check_old(id, &old)?;
        for (index, old) in secondaries.indexes.iter_mut().zip(old) {
            for key in old {
                index.remove(key, id);
            }
        }
        Ok(self.primary.remove(id))
    }

    /// Ids of the records indexed, for every `(field, key)` of `conditions`, under that key
    /// of that path: ascending, strictly greater than `after`, at most `limit`.
    ///
    /// The lists are intersected starting from the smallest, so the cost follows the rarest
    /// condition. No condition lists every record (by the primary index). Errors with
    /// [`IndexError::NotIndexed`] if a path is not indexed, [`IndexError::NotReady`] if its
    /// index is being built.
    pub fn find<F: AsRef<str>>(
        &self,
        conditions: &[(F, IndexKey)],
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, IndexError> {
        let secondaries = self.secondaries.read();
        let positions = conditions
            .iter()
            .map(|(field, key)| Ok((secondaries.ready_position(field.as_ref())?, key)))
            .collect::<Result<Vec<_>, IndexError>>()?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        if positions.is_empty() {
            drop(secondaries);
            return Ok(self.primary.page_ids(after, limit));
        }
        let mut lists: Vec<&Postings> = Vec::with_capacity(positions.len());
        for (i, key) in positions {
            match secondaries.indexes[i].postings(key) {
                Some(postings) => lists.push(postings),
                None => return Ok(Vec::new()),
            }
        }
        lists.sort_by_key(|postings| postings.len());
        let Some((smallest, others)) = lists.split_first() else {
            return Ok(Vec::new());
        };
        Ok(smallest
            .iter_after(after)
            .filter(|&id| others.iter().all(|list| list.contains(id)))
            .take(limit)
            .collect())
    }

    /// Number of records indexed under `key` of `field`. Errors with
    /// [`IndexError::NotIndexed`] or [`IndexError::NotReady`].
    pub fn count(&self, field: &str, key: &IndexKey) -> Result<usize, IndexError> {
        self.read_index(field, |index| index.count(key))
    }

    /// Number of distinct keys and of (key, id) entries of `field` (so far, while it is
    /// being built). Errors with [`IndexError::NotIndexed`].
    pub fn field_stats(&self, field: &str) -> Result<(usize, usize), IndexError> {
        let secondaries = self.secondaries.read();
        let index = &secondaries.indexes[secondaries.position(field)?];
        Ok((index.distinct_keys(), index.len()))
    }

    /// Runs `f` on the ready secondary index of `field` under the read lock. Errors with
    /// [`IndexError::NotIndexed`] or [`IndexError::NotReady`].
    pub(crate) fn read_index<R>(
        &self,
        field: &str,
        f: impl FnOnce(&SecondaryIndex) -> R,
    ) -> Result<R, IndexError> {
        let secondaries = self.secondaries.read();
        let i = secondaries.ready_position(field)?;
        Ok(f(&secondaries.indexes[i]))
    }
}

impl Secondaries {
    /// One set of keys per declared path from (path, keys) pairs; paths not given have
    /// none.
    fn slots<'k, F, I>(&self, keys: I) -> Result<Slots<'k>, IndexError>
    where
        F: AsRef<str>,
        I: IntoIterator<Item = (F, &'k [IndexKey])>,
    {
        let mut slots: Slots<'k> = smallvec::smallvec![&[][..]; self.names.len()];
        let mut seen: SmallVec<[bool; INLINE_FIELDS]> =
            smallvec::smallvec![false; self.names.len()];
        for (field, key) in keys {
            let field = field.as_ref();
            let i = self.position(field)?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(IndexError::DuplicateField {
                    field: field.to_owned(),
                });
            }
            slots[i] = key;
        }
        Ok(slots)
    }

    /// Checks that `id` is indexed under every key of `old` (in the indexes that are
    /// ready: one being built may not have reached `id` yet).
    fn check_old(&self, id: u64, old: &[&[IndexKey]]) -> Result<(), IndexError> {
        for (i, keys) in old.iter().enumerate() {
            if !self.building(i) && keys.iter().any(|key| !self.indexes[i].contains(key, id)) {
                return Err(IndexError::StaleOldKey {
                    field: self.names[i].to_string(),
                    id,
                });
            }
        }
        Ok(())
    }
}

/// Refuses any key, for a collection without secondary indexes (as `slots` would).
fn no_keys<'k, F, I>(keys: I) -> Result<(), IndexError>
where
    F: AsRef<str>,
    I: IntoIterator<Item = (F, &'k [IndexKey])>,
{
    match keys.into_iter().next() {
        Some((field, _)) => Err(IndexError::NotIndexed {
            field: field.as_ref().to_owned(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn loc(n: u64) -> Location {
        Location {
            segment: 0,
            offset: n,
            len: 40,
        }
    }

    /// Keys of a document: (path, its keys).
    type Keys = Vec<(&'static str, Vec<IndexKey>)>;

    fn doc(color: &str, size: i64) -> Keys {
        vec![
            ("color", vec![IndexKey::from(color)]),
            ("size", vec![IndexKey::from(size)]),
        ]
    }

    fn refs(keys: &Keys) -> Vec<(&'static str, &[IndexKey])> {
        keys.iter().map(|(p, k)| (*p, &k[..])).collect()
    }

    fn none() -> Vec<(&'static str, &'static [IndexKey])> {
        Vec::new()
    }

    #[test]
    fn put_find_replace_delete() {
        let c = CollectionIndexes::new(["color", "size"]).unwrap();
        assert_eq!(c.fields(), vec!["color", "size"]);
        c.apply_put(1, loc(1), none(), refs(&doc("red", 1)))
            .unwrap();
        c.apply_put(2, loc(2), none(), refs(&doc("red", 2)))
            .unwrap();
        c.apply_put(3, loc(3), none(), refs(&doc("blue", 2)))
            .unwrap();
        let red_only = vec![("color", vec![IndexKey::from("red")])];
        c.apply_put(4, loc(4), none(), refs(&red_only)).unwrap();
        let red = || ("color", IndexKey::from("red"));
        assert_eq!(c.find(&[red()], None, 10).unwrap(), vec![1, 2, 4]);
        assert_eq!(
            c.find(&[red(), ("size", IndexKey::from(2.0))], None, 10)
                .unwrap(),
            vec![2]
        );
        assert_eq!(c.find(&[red()], Some(1), 1).unwrap(), vec![2]);
        assert_eq!(c.find(&[red()], None, 0).unwrap(), Vec::<u64>::new());
        assert_eq!(c.find::<&str>(&[], Some(2), 10).unwrap(), vec![3, 4]);
        assert_eq!(c.count("color", &IndexKey::from("red")).unwrap(), 3);

        // Replace 2: red/2 -> blue/2.
        let old = c
            .apply_put(2, loc(5), refs(&doc("red", 2)), refs(&doc("blue", 2)))
            .unwrap();
        assert_eq!(old, Some(loc(2)));
        assert_eq!(c.primary().get(2), Some(loc(5)));
        assert_eq!(c.find(&[red()], None, 10).unwrap(), vec![1, 4]);
        assert_eq!(
            c.find(&[("color", IndexKey::from("blue"))], None, 10)
                .unwrap(),
            vec![2, 3]
        );

        // Delete 1.
        assert_eq!(
            c.apply_delete(1, refs(&doc("red", 1))).unwrap(),
            Some(loc(1))
        );
        assert_eq!(c.find(&[red()], None, 10).unwrap(), vec![4]);
        assert_eq!(
            c.find(&[("size", IndexKey::from(1i64))], None, 10).unwrap(),
            Vec::<u64>::new()
        );
        assert_eq!(c.field_stats("size").unwrap(), (1, 2));
        assert_eq!(c.len(), 3);
        assert_eq!(c.apply_delete(1, none()).unwrap(), None);
    }

    #[test]
    fn errors_leave_indexes_unchanged() {
        let c = CollectionIndexes::new(["a"]).unwrap();
        let a = |v: i64| vec![("a", vec![IndexKey::from(v)])];
        c.apply_put(1, loc(1), none(), refs(&a(1))).unwrap();

        let err = c.find(&[("b", IndexKey::NULL)], None, 1).unwrap_err();
        assert_eq!(err, IndexError::NotIndexed { field: "b".into() });
        assert!(
            err.to_string()
                .contains("declare it in the collection's indexes")
        );
        let b = vec![("b", vec![IndexKey::NULL])];
        let err = c.apply_put(1, loc(2), refs(&a(1)), refs(&b)).unwrap_err();
        assert_eq!(err, IndexError::NotIndexed { field: "b".into() });
        let err = c
            .apply_put(1, loc(2), refs(&a(2)), refs(&a(3)))
            .unwrap_err();
        assert_eq!(
            err,
            IndexError::StaleOldKey {
                field: "a".into(),
                id: 1
            }
        );
        // One stale key among good ones is refused too.
        let mixed = vec![("a", vec![IndexKey::from(1i64), IndexKey::from(9i64)])];
        let err = c.apply_delete(1, refs(&mixed)).unwrap_err();
        assert!(matches!(err, IndexError::StaleOldKey { .. }));
        let twice = vec![("a", vec![IndexKey::from(1i64)]), ("a", vec![])];
        let err = c.apply_delete(1, refs(&twice)).unwrap_err();
        assert_eq!(err, IndexError::DuplicateField { field: "a".into() });
        let err = c.apply_delete(1, refs(&a(7))).unwrap_err();
        assert!(matches!(err, IndexError::StaleOldKey { .. }));

        assert_eq!(c.primary().get(1), Some(loc(1)));
        assert_eq!(
            c.find(&[("a", IndexKey::from(1i64))], None, 5).unwrap(),
            vec![1]
        );
        assert!(matches!(
            CollectionIndexes::new(["x", "x"]),
            Err(IndexError::DuplicateField { .. })
        ));
    }

    #[test]
    fn multikey_replace_moves_only_changed_keys() {
        let c = CollectionIndexes::new(["tags"]).unwrap();
        let tags = |t: &[&str]| vec![("tags", t.iter().map(|&s| IndexKey::from(s)).collect())];
        // A key given twice counts once.
        c.apply_put(1, loc(1), none(), refs(&tags(&["a", "b", "a"])))
            .unwrap();
        c.apply_put(2, loc(2), none(), refs(&tags(&["b"]))).unwrap();
        assert_eq!(c.field_stats("tags").unwrap(), (2, 3));
        let find = |t: &str| c.find(&[("tags", IndexKey::from(t))], None, 9).unwrap();
        assert_eq!(find("b"), vec![1, 2]);
        c.apply_put(
            1,
            loc(3),
            refs(&tags(&["a", "b"])),
            refs(&tags(&["c", "b"])),
        )
        .unwrap();
        assert_eq!(
            (find("a"), find("b"), find("c")),
            (vec![], vec![1, 2], vec![1])
        );
        // Both tags present: the same path twice intersects.
        let both = [("tags", IndexKey::from("b")), ("tags", IndexKey::from("c"))];
        assert_eq!(c.find(&both, None, 9).unwrap(), vec![1]);
        c.apply_delete(1, refs(&tags(&["b", "c"]))).unwrap();
        assert_eq!((find("b"), find("c")), (vec![2], vec![]));
        assert_eq!(c.field_stats("tags").unwrap(), (1, 1));
    }

    #[test]
    fn same_field_twice_in_a_query_intersects() {
        let c = CollectionIndexes::new(["a"]).unwrap();
        let one_key = vec![("a", vec![IndexKey::from(1i64)])];
        c.apply_put(1, loc(1), none(), refs(&one_key)).unwrap();
        let one = ("a", IndexKey::from(1i64));
        assert_eq!(
            c.find(&[one.clone(), one.clone()], None, 5).unwrap(),
            vec![1]
        );
        assert!(
            c.find(&[one, ("a", IndexKey::from(2i64))], None, 5)
                .unwrap()
                .is_empty()
        );
    }
}
