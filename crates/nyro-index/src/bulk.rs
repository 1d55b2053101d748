//! Building a collection's indexes at once from its records in ascending id order, as
//! replay on open does: the primary index's map sized up front and filled by a second
//! thread, which the calling thread joins once it has grouped the records by the encoded
//! bytes of each indexed value (no key is built per record) and turned each distinct value
//! into an [`IndexKey`] once; the ordered sets are made of full blocks without a search per
//! id ([`crate::PrimaryIndex::from_sorted`] alone is the same, on one thread).

use std::collections::HashMap;

use nyro_storage::Location;

use crate::collection::CollectionIndexes;
use crate::error::IndexError;
use crate::idset::IdSet;
use crate::key::IndexKey;
use crate::primary::PrimaryBuild;
use crate::secondary::SecondaryIndex;

/// Ids under each encoded value of one field, ascending.
type Groups<'a> = HashMap<&'a [u8], IdSet, foldhash::fast::RandomState>;

impl CollectionIndexes {
    /// Indexes for a collection indexed by `fields` that hold exactly `records` (ids
    /// strictly ascending, else [`IndexError::NotAscending`]). `encoded(i, slots)` fills, for
    /// record `i`, one slot per field (in the order of `fields`) with the encoded bytes of
    /// its value, `None` where the document has no key for that field; `decode` turns an
    /// encoded value into its key (`None`: not a scalar). Equal bytes must mean equal keys;
    /// different bytes may decode to the same key (their ids are merged).
    ///
    /// The same indexes as [`CollectionIndexes::new`] followed by an
    /// [`apply_put`](CollectionIndexes::apply_put) of every record, built faster: the
    /// primary index on a second thread, each distinct value decoded once.
    pub fn from_sorted<'a, S, E>(
        fields: impl IntoIterator<Item = S>,
        records: &[(u64, Location)],
        encoded: impl Fn(usize, &mut [Option<&'a [u8]>]) -> Result<(), E>,
        decode: impl Fn(&'a [u8]) -> Result<Option<IndexKey>, E>,
    ) -> Result<Self, E>
    where
        S: AsRef<str>,
        E: From<IndexError>,
    {
        let empty = Self::new(fields)?;
        let width = empty.fields().len();
        let primary = PrimaryBuild::new(records)?;
        let secondaries = std::thread::scope(|scope| {
            let helper = scope.spawn(|| primary.help());
            let secondaries = group(width, records, &encoded).and_then(|groups| {
                groups
                    .into_iter()
                    .map(|groups| secondary(groups, &decode))
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

/// The ids of `records` grouped by the encoded value of each of `width` fields.
fn group<'a, E: From<IndexError>>(
    width: usize,
    records: &[(u64, Location)],
    encoded: &impl Fn(usize, &mut [Option<&'a [u8]>]) -> Result<(), E>,
) -> Result<Vec<Groups<'a>>, E> {
    let mut groups: Vec<Groups<'a>> = (0..width).map(|_| Groups::default()).collect();
    if width == 0 {
        return Ok(groups);
    }
    let mut slots: Vec<Option<&'a [u8]>> = vec![None; width];
    let mut last = None;
    for (i, &(id, _)) in records.iter().enumerate() {
        if last.is_some_and(|last| last >= id) {
            return Err(IndexError::NotAscending { id }.into());
        }
        last = Some(id);
        slots.fill(None);
        encoded(i, &mut slots)?;
        for (groups, slot) in groups.iter_mut().zip(&slots) {
            if let Some(bytes) = slot {
                // Ascending: `id` is above every id before it.
                groups.entry(bytes).or_default().push_ascending(id);
            }
        }
    }
    Ok(groups)
}

/// One field's index from its groups, each distinct value decoded once.
fn secondary<'a, E: From<IndexError>>(
    groups: Groups<'a>,
    decode: &impl Fn(&'a [u8]) -> Result<Option<IndexKey>, E>,
) -> Result<SecondaryIndex, E> {
    let mut postings = Vec::with_capacity(groups.len());
    for (bytes, ids) in groups {
        if let Some(key) = decode(bytes)? {
            postings.push((key, ids));
        }
    }
    Ok(SecondaryIndex::from_postings(postings))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    /// The encoding of the tests: a tag byte (`i`nteger, `f`loat, `s`tring, `a`rray)
    /// and the value's text.
    fn decode(bytes: &[u8]) -> Result<Option<IndexKey>, IndexError> {
        let text = std::str::from_utf8(&bytes[1..]).unwrap();
        Ok(match bytes[0] {
            b'i' => Some(IndexKey::from(text.parse::<i64>().unwrap())),
            b'f' => Some(IndexKey::from(text.parse::<f64>().unwrap())),
            b's' => Some(IndexKey::from(text)),
            _ => None,
        })
    }

    fn value() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            (0i64..4).prop_map(|i| Some(format!("i{i}"))),
            (0i64..4).prop_map(|i| Some(format!("f{i}.0"))),
            (0i64..3).prop_map(|i| Some(format!("s{i}"))),
            Just(Some("a[]".to_string())),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn from_sorted_is_apply_put_of_every_record(
            docs in prop::collection::btree_map(0u64..5_000, (value(), value()), 0..1_500),
        ) {
            let at = |offset| Location { segment: 1, offset, len: 64 };
            let records: Vec<(u64, Location)> =
                docs.keys().enumerate().map(|(i, &id)| (id, at(i as u64 * 64))).collect();
            let values: Vec<[Option<String>; 2]> =
                docs.values().map(|(a, b)| [a.clone(), b.clone()]).collect();
            let bulk = CollectionIndexes::from_sorted(
                ["a", "b"],
                &records,
                |i, slots| {
                    for (slot, value) in slots.iter_mut().zip(&values[i]) {
                        *slot = value.as_deref().map(str::as_bytes);
                    }
                    Ok::<(), IndexError>(())
                },
                decode,
            )
            .unwrap();
            let one_by_one = CollectionIndexes::new(["a", "b"]).unwrap();
            for (&(id, location), [a, b]) in records.iter().zip(&values) {
                let key = |v: &Option<String>| v.as_deref().and_then(|v| decode(v.as_bytes()).unwrap());
                one_by_one
                    .apply_put(id, location, [], [("a", key(a)), ("b", key(b))])
                    .unwrap();
            }
            prop_assert_eq!(bulk.len(), one_by_one.len());
            prop_assert_eq!(bulk.primary().iter().collect::<Vec<_>>(), one_by_one.primary().iter().collect::<Vec<_>>());
            for field in ["a", "b"] {
                prop_assert_eq!(bulk.field_stats(field).unwrap(), one_by_one.field_stats(field).unwrap());
                for v in ["i0", "i1", "i3", "f1.0", "f2.5", "s0", "s2", "a[]"] {
                    let Some(key) = decode(v.as_bytes()).unwrap() else { continue };
                    let query = [(field, key)];
                    prop_assert_eq!(
                        bulk.find(&query, None, usize::MAX).unwrap(),
                        one_by_one.find(&query, None, usize::MAX).unwrap()
                    );
                }
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
        let none = |_: usize, _: &mut [Option<&[u8]>]| Ok::<(), IndexError>(());
        for fields in [&[][..], &["a"][..]] {
            let err = CollectionIndexes::from_sorted(fields, &records, none, decode).unwrap_err();
            assert_eq!(err, IndexError::NotAscending { id: 5 });
        }
        let err = CollectionIndexes::from_sorted(["a", "a"], &[], none, decode).unwrap_err();
        assert!(matches!(err, IndexError::DuplicateField { .. }));
    }
}
