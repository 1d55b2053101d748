//! Building a collection's indexes at once from its records in ascending id order, as
//! replay on open does: the primary index's map sized up front and filled by a second
//! thread, which the calling thread joins once it has gathered each path's keys. A caller
//! may give a key as the encoded bytes of a scalar ([`BulkKey::Encoded`]): records are then
//! grouped by those bytes (no key is built per record) and each distinct value is turned into
//! an [`IndexKey`] once; any other key is given built ([`BulkKey::Key`]). The ordered maps
//! are built bottom up from sorted keys, and the posting lists of full blocks without a search
//! per id ([`crate::PrimaryIndex::from_sorted`] alone is the same, on one thread).

use std::collections::{BTreeMap, HashMap};

use nyro_storage::Location;

use crate::collection::CollectionIndexes;
use crate::error::IndexError;
use crate::idset::IdSet;
use crate::key::IndexKey;
use crate::primary::PrimaryBuild;
use crate::secondary::SecondaryIndex;

/// One key of a record for a path, as [`CollectionIndexes::from_sorted`] takes it.
#[derive(Clone, Debug, PartialEq)]
pub enum BulkKey<'a> {
    /// The encoded bytes of a value: equal bytes must stand for equal keys (different bytes
    /// may stand for the same key: their ids are merged); decoded once per distinct value.
    Encoded(&'a [u8]),
    /// The key itself.
    Key(IndexKey),
}

/// One path's keys while they are gathered: ids under each encoded value, and under each
/// key given built, ascending.
#[derive(Default)]
struct Gathered<'a> {
    encoded: HashMap<&'a [u8], IdSet, foldhash::fast::RandomState>,
    keys: BTreeMap<IndexKey, IdSet>,
}

impl CollectionIndexes {
    /// Indexes for a collection indexed by `paths` that hold exactly `records` (ids
    /// strictly ascending, else [`IndexError::NotAscending`]). `keys(i, emit)` gives the
    /// keys of record `i`: `emit(slot, key)` for each key of the path at position `slot` of
    /// `paths` (a key given twice counts once; a slot beyond the paths is ignored);
    /// `decode` turns an encoded value into its key.
    ///
    /// The same indexes as [`CollectionIndexes::new`] followed by an
    /// [`apply_put`](CollectionIndexes::apply_put) of every record, built faster: the
    /// primary index on a second thread, each distinct encoded value decoded once.
    pub fn from_sorted<'a, S, E>(
        paths: impl IntoIterator<Item = S>,
        records: &[(u64, Location)],
        keys: impl Fn(usize, &mut dyn FnMut(usize, BulkKey<'a>)) -> Result<(), E>,
        decode: impl Fn(&'a [u8]) -> Result<IndexKey, E>,
    ) -> Result<Self, E>
    where
        S: AsRef<str>,
        E: From<IndexError>,
    {
        let empty = Self::new(paths)?;
        let width = empty.fields().len();
        let primary = PrimaryBuild::new(records)?;
        let secondaries = std::thread::scope(|scope| {
            let helper = scope.spawn(|| primary.help());
            let secondaries = gather(width, records, &keys).and_then(|gathered| {
                gathered
                    .into_iter()
                    .map(|gathered| secondary(gathered, &decode))
                    .collect::<Result<Vec<_>, E>>()
            });
            // Then this thread helps fill the map with what is left.
            primary.help();
            // A panic on the other thread is a bug in this crate: pass it on.
            helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            secondaries
        });
        Ok(empty.with_contents(primary.finish(), secondaries?))
    }
}

/// The ids of `records` gathered under each key of each of `width` paths.
fn gather<'a, E: From<IndexError>>(
    width: usize,
    records: &[(u64, Location)],
    keys: &impl Fn(usize, &mut dyn FnMut(usize, BulkKey<'a>)) -> Result<(), E>,
) -> Result<Vec<Gathered<'a>>, E> {
    let mut gathered: Vec<Gathered<'a>> = (0..width).map(|_| Gathered::default()).collect();
    let mut last = None;
    for (i, &(id, _)) in records.iter().enumerate() {
        if last.is_some_and(|last| last >= id) {
            return Err(IndexError::NotAscending { id }.into());
        }
        last = Some(id);
        if width == 0 {
            continue;
        }
        keys(i, &mut |slot, key| {
            let Some(path) = gathered.get_mut(slot) else {
                return;
            };
            // Ascending: `id` is above every id before it (or is `id` again, a key given
            // twice, which `push_ascending` leaves out).
            match key {
                BulkKey::Encoded(bytes) => path.encoded.entry(bytes).or_default(),
                BulkKey::Key(key) => path.keys.entry(key).or_default(),
            }
            .push_ascending(id);
        })?;
    }
    Ok(gathered)
}

/// One path's index from its gathered keys, each distinct encoded value decoded once.
fn secondary<'a, E: From<IndexError>>(
    gathered: Gathered<'a>,
    decode: &impl Fn(&'a [u8]) -> Result<IndexKey, E>,
) -> Result<SecondaryIndex, E> {
    let Gathered { encoded, mut keys } = gathered;
    for (bytes, ids) in encoded {
        let key = decode(bytes)?;
        match keys.get_mut(&key) {
            None => {
                keys.insert(key, ids);
            }
            // The same key from two encodings (1 and 1.0), or given both ways: rare,
            // merged by sorting.
            Some(merged) => {
                let mut all: Vec<u64> = merged
                    .iter_after(None)
                    .chain(ids.iter_after(None))
                    .collect();
                all.sort_unstable();
                all.dedup();
                *merged = IdSet::from_ascending(all).unwrap_or_default();
            }
        }
    }
    Ok(SecondaryIndex::from_postings(keys))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::range::KeyRange;
    use proptest::prelude::*;

    /// The encoding of the tests: a tag byte (`i`nteger, `f`loat, `s`tring) and the
    /// value's text.
    fn decode(bytes: &[u8]) -> Result<IndexKey, IndexError> {
        let text = std::str::from_utf8(&bytes[1..]).unwrap();
        Ok(match bytes[0] {
            b'i' => IndexKey::from(text.parse::<i64>().unwrap()),
            b'f' => IndexKey::from(text.parse::<f64>().unwrap()),
            _ => IndexKey::from(text),
        })
    }

    /// A key of a record: encoded (a scalar) or given built (`m`: MinKey, `n`: null, `a`:
    /// an array of one integer).
    fn bulk_key(v: &str) -> BulkKey<'_> {
        match v.as_bytes()[0] {
            b'm' => BulkKey::Key(IndexKey::MIN),
            b'n' => BulkKey::Key(IndexKey::NULL),
            b'a' => BulkKey::Key(IndexKey::array([IndexKey::from(
                v[1..].parse::<i64>().unwrap(),
            )])),
            _ => BulkKey::Encoded(v.as_bytes()),
        }
    }

    fn key(v: &str) -> IndexKey {
        match bulk_key(v) {
            BulkKey::Key(key) => key,
            BulkKey::Encoded(bytes) => decode(bytes).unwrap(),
        }
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            (0i64..4).prop_map(|i| format!("i{i}")),
            (0i64..4).prop_map(|i| format!("f{i}.0")),
            Just("f2.5".to_string()),
            (0i64..3).prop_map(|i| format!("s{i}")),
            Just("m".to_string()),
            Just("n".to_string()),
            (1i64..3).prop_map(|i| format!("a{i}")),
        ]
    }

    fn entries(c: &CollectionIndexes, path: &str) -> Vec<(IndexKey, u64)> {
        let mut all = Vec::new();
        c.walk(path, &KeyRange::all(), None, false, |k, id| {
            all.push((k.clone(), id));
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        all
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn from_sorted_is_apply_put_of_every_record(
            docs in prop::collection::btree_map(
                0u64..5_000,
                (prop::collection::vec(value(), 0..4), prop::collection::vec(value(), 0..3)),
                0..1_000,
            ),
        ) {
            let at = |offset| Location { segment: 1, offset, len: 64 };
            let records: Vec<(u64, Location)> =
                docs.keys().enumerate().map(|(i, &id)| (id, at(i as u64 * 64))).collect();
            let values: Vec<[Vec<String>; 2]> =
                docs.values().map(|(a, b)| [a.clone(), b.clone()]).collect();
            let bulk = CollectionIndexes::from_sorted(
                ["a", "b"],
                &records,
                |i, emit| {
                    for (slot, keys) in values[i].iter().enumerate() {
                        for v in keys {
                            emit(slot, bulk_key(v));
                        }
                    }
                    // A slot beyond the paths is ignored.
                    emit(2, BulkKey::Key(IndexKey::NULL));
                    Ok::<(), IndexError>(())
                },
                decode,
            )
            .unwrap();
            let one_by_one = CollectionIndexes::new(["a", "b"]).unwrap();
            for (&(id, location), [a, b]) in records.iter().zip(&values) {
                let a: Vec<IndexKey> = a.iter().map(|v| key(v)).collect();
                let b: Vec<IndexKey> = b.iter().map(|v| key(v)).collect();
                one_by_one
                    .apply_put(id, location, [], [("a", &a[..]), ("b", &b[..])])
                    .unwrap();
            }
            prop_assert_eq!(bulk.len(), one_by_one.len());
            prop_assert_eq!(bulk.primary().iter().collect::<Vec<_>>(), one_by_one.primary().iter().collect::<Vec<_>>());
            for path in ["a", "b"] {
                prop_assert_eq!(bulk.field_stats(path).unwrap(), one_by_one.field_stats(path).unwrap());
                prop_assert_eq!(entries(&bulk, path), entries(&one_by_one, path));
            }
        }
    }

    #[test]
    fn records_out_of_order_are_refused() {
        let at = |offset| Location {
            segment: 1,
            offset,
            len: 64,
        };
        let records = [(5, at(0)), (5, at(64))];
        fn none(_: usize, _: &mut dyn FnMut(usize, BulkKey<'static>)) -> Result<(), IndexError> {
            Ok(())
        }
        for paths in [&[][..], &["a"][..]] {
            let err = CollectionIndexes::from_sorted(paths, &records, none, decode).unwrap_err();
            assert_eq!(err, IndexError::NotAscending { id: 5 });
        }
        let err = CollectionIndexes::from_sorted(["a", "a"], &[], none, decode).unwrap_err();
        assert!(matches!(err, IndexError::DuplicateField { .. }));
    }
}
