//! The planner: for one query, which documents to read and in what order.
//!
//! Three ways to find documents:
//! - **candidates**: id sets from ordered indexes, one per condition an index can answer
//!   (equality, `$in`, ranges on a ready index), intersected for `$and` (only the sets not
//!   much larger than the smallest: an intersection reads nothing, but building a huge set
//!   to intersect with a small one costs more than checking the small one's documents)
//!   and united for an `$or` whose every branch has one. The filter is then checked on
//!   each candidate, borrowed.
//! - **walk**: the sort path's index in order, one document at a time, for a sort on an
//!   indexed path when candidates would be many: it stops after a page.
//! - **scan**: every document in id order, when no index serves the filter.
//!
//! Costs are counted in documents read ("examined"): candidates cost their number (an
//! index's entry counts are known exactly); a walk or scan costs about `limit` times the
//! inverse of the fraction of documents that match, estimated from the candidates when
//! there are some. The cheapest wins. A condition an index answers *exactly* (the entries
//! under its bounds are exactly the documents it matches: equality with a scalar or an
//! object, `$in` of those, ranges with a non-array bound) lets a count that only has such
//! conditions be answered from the index without reading a document.

use std::ops::Bound;

use nyro_index::{IndexKey, KeyRange};

use super::filter::{Condition, Filter};
use super::keys::key_of_value;
use super::{Path, Sort};
use crate::document::Value;

/// Sets larger than this many times the smallest are not intersected (their conditions are
/// checked on the documents instead).
const INTERSECT_RATIO: usize = 8;

/// What the planner needs to know of a collection's indexes.
pub(crate) trait Indexes {
    /// Documents in the collection.
    fn total(&self) -> usize;
    /// True if `path` has a ready index.
    fn is_ready(&self, path: &str) -> bool;
    /// Index entries under `ranges` of `path` (an upper bound of the documents).
    fn estimate(&self, path: &str, ranges: &[KeyRange]) -> usize;
    /// True if every document is under exactly one key of `path`'s ready index (no array
    /// of several elements there): its conditions then combine into one range.
    fn single_key(&self, path: &str) -> bool;
}

/// An [`Indexes`] that asks each question once per plan: a range's estimate walks up to a
/// few thousand keys, and the planner asks the same one for the candidates and the walk.
struct Remembered<'i> {
    indexes: &'i dyn Indexes,
    estimates: std::cell::RefCell<Vec<(String, Vec<KeyRange>, usize)>>,
}

impl<'i> Remembered<'i> {
    fn new(indexes: &'i dyn Indexes) -> Self {
        Self {
            indexes,
            estimates: std::cell::RefCell::new(Vec::new()),
        }
    }
}

impl Indexes for Remembered<'_> {
    fn total(&self) -> usize {
        self.indexes.total()
    }

    fn is_ready(&self, path: &str) -> bool {
        self.indexes.is_ready(path)
    }

    fn estimate(&self, path: &str, ranges: &[KeyRange]) -> usize {
        let known = self
            .estimates
            .borrow()
            .iter()
            .find(|(p, r, _)| p == path && r == ranges)
            .map(|&(_, _, estimate)| estimate);
        known.unwrap_or_else(|| {
            let estimate = self.indexes.estimate(path, ranges);
            self.estimates
                .borrow_mut()
                .push((path.to_owned(), ranges.to_vec(), estimate));
            estimate
        })
    }

    fn single_key(&self, path: &str) -> bool {
        self.indexes.single_key(path)
    }
}

/// One index lookup: the ids under some ranges of one path's index.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    pub(crate) path: Path,
    pub(crate) ranges: Vec<KeyRange>,
    pub(crate) estimate: usize,
}

/// How to build the candidate ids.
#[derive(Debug, Clone)]
pub(crate) enum Candidates {
    Lookup(Lookup),
    /// These ids (ascending, each once): `_id` equality or `$in`, from the primary index.
    Ids(Vec<u64>),
    /// Ids in every set.
    And(Vec<Candidates>),
    /// Ids in any set.
    Or(Vec<Candidates>),
}

impl Candidates {
    pub(crate) fn estimate(&self) -> usize {
        match self {
            Candidates::Lookup(lookup) => lookup.estimate,
            Candidates::Ids(ids) => ids.len(),
            Candidates::And(sets) => sets.iter().map(Self::estimate).min().unwrap_or(0),
            Candidates::Or(sets) => sets.iter().map(Self::estimate).sum(),
        }
    }
}

/// Candidates for a filter: the sets and whether they are exactly the matching documents.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub(crate) candidates: Candidates,
    pub(crate) exact: bool,
}

/// How a query reads its documents.
#[derive(Debug, Clone)]
pub(crate) enum Access {
    /// Candidate ids, then their documents (in id order, or sorted by the sort key).
    Candidates(Served),
    /// The sort path's index in the sort's order.
    Walk,
    /// Every document in id order.
    Scan,
}

/// The planner's choice for one query.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) access: Access,
    pub(crate) sort: Sort,
    /// The keys of the sort path's index a walk visits: the filter's bounds on the sort
    /// path when its index is single-key (a document then sorts at its only key, inside
    /// them), every key otherwise (an array sorts at its smallest or largest element, which
    /// may lie outside bounds another element meets).
    pub(crate) walk_range: KeyRange,
    /// Documents the plan expects to read.
    pub(crate) estimate: usize,
}

/// Chooses how to answer `filter` sorted by `sort` (a sort on a path other than `_id` must
/// have a ready index: checked by the caller), a page of `limit`, with at most `max_scan`
/// documents examined.
pub(crate) fn plan(
    indexes: &dyn Indexes,
    filter: &Filter,
    sort: Sort,
    limit: usize,
    max_scan: usize,
    count: bool,
) -> Plan {
    let indexes = &Remembered::new(indexes);
    let total = indexes.total();
    let served = serve(indexes, filter);
    let by_id = sort.path.is_id();
    let walk_range = if by_id {
        KeyRange::all()
    } else {
        walk_bounds(indexes, filter, &sort.path)
    };
    // Entries a walk may visit at most.
    let span = if by_id || walk_range == KeyRange::all() {
        total
    } else {
        indexes
            .estimate(sort.path.as_str(), std::slice::from_ref(&walk_range))
            .min(total)
    };
    // Documents read before `limit` matches come up, reading in an order unrelated to the
    // filter: limit / (fraction matching).
    let ordered_cost = |matching: usize| {
        if matches!(filter, Filter::All) {
            limit.min(span)
        } else {
            let matching = matching.min(span).max(1);
            (limit.saturating_mul(span) / matching).min(span)
        }
    };
    let (access, estimate) = match served {
        Some(served) if count => {
            let estimate = if served.exact {
                0
            } else {
                served.candidates.estimate()
            };
            (Access::Candidates(served), estimate)
        }
        Some(served) => {
            let candidates = served.candidates.estimate();
            let walk = ordered_cost(candidates);
            // Sorted by a path, candidates are all read before the first is returned: not
            // possible past max_scan.
            let may_sort_candidates = by_id || candidates <= max_scan;
            if may_sort_candidates && (candidates <= walk || by_id && candidates < total) {
                (Access::Candidates(served), candidates)
            } else if by_id {
                (Access::Scan, walk)
            } else {
                (Access::Walk, walk)
            }
        }
        None if count => (Access::Scan, total),
        None if by_id => (Access::Scan, ordered_cost(total)),
        None => (Access::Walk, ordered_cost(span)),
    };
    Plan {
        access,
        sort,
        walk_range,
        estimate,
    }
}

/// The range a walk of `sort_path`'s index may keep to: the filter's top-level bounds on
/// that path, if its index is single-key.
fn walk_bounds(indexes: &dyn Indexes, filter: &Filter, sort_path: &Path) -> KeyRange {
    if !indexes.single_key(sort_path.as_str()) {
        return KeyRange::all();
    }
    let top: &[Filter] = match filter {
        Filter::And(parts) => parts,
        other => std::slice::from_ref(other),
    };
    let mut bounds = KeyRange::all();
    for part in top {
        if let Filter::Path(path, conditions) = part
            && path == sort_path
        {
            for condition in conditions {
                if let Some(range) = single_range(condition) {
                    bounds = bounds.intersect(&range);
                }
            }
        }
    }
    bounds
}

/// The one range of a condition that has one (equality, a bound), if any.
fn single_range(condition: &Condition) -> Option<KeyRange> {
    if matches!(condition, Condition::In(_)) {
        return None;
    }
    match ranges(condition)?.as_slice() {
        [range] => Some(range.clone()),
        // `$gt null` and `$lt null` match nothing: an empty range.
        [] => Some(KeyRange::new(
            Bound::Excluded(IndexKey::NULL),
            Bound::Excluded(IndexKey::NULL),
        )),
        _ => None,
    }
}

/// The candidates an index gives for `filter`, if any.
fn serve(indexes: &dyn Indexes, filter: &Filter) -> Option<Served> {
    match filter {
        Filter::All | Filter::Not(_) => None,
        Filter::Path(path, conditions) => serve_path(indexes, path, conditions),
        Filter::Or(branches) => {
            let mut sets = Vec::with_capacity(branches.len());
            let mut exact = true;
            for branch in branches {
                let served = serve(indexes, branch)?;
                exact &= served.exact;
                sets.push(served.candidates);
            }
            Some(Served {
                candidates: flatten(sets, Candidates::Or),
                exact,
            })
        }
        Filter::And(parts) => {
            let mut served: Vec<Served> = Vec::new();
            let mut exact = true;
            for part in parts {
                match serve(indexes, part) {
                    Some(s) => served.push(s),
                    None => exact = false,
                }
            }
            let smallest = served.iter().map(|s| s.candidates.estimate()).min()?;
            let bound = smallest.saturating_mul(INTERSECT_RATIO).max(smallest + 1);
            let mut sets = Vec::with_capacity(served.len());
            for s in served {
                if s.candidates.estimate() <= bound {
                    exact &= s.exact;
                    sets.push(s.candidates);
                } else {
                    exact = false;
                }
            }
            Some(Served {
                candidates: flatten(sets, Candidates::And),
                exact,
            })
        }
    }
}

/// One set as itself, several under `combine`.
fn flatten(mut sets: Vec<Candidates>, combine: fn(Vec<Candidates>) -> Candidates) -> Candidates {
    if sets.len() == 1 {
        sets.remove(0)
    } else {
        combine(sets)
    }
}

/// Candidates for the conditions on one path: the intersection of each condition's.
fn serve_path(indexes: &dyn Indexes, path: &Path, conditions: &[Condition]) -> Option<Served> {
    if path.is_id() {
        return serve_ids(conditions);
    }
    if !indexes.is_ready(path.as_str()) {
        return None;
    }
    // On a single-key index the bounds of one path combine into one range (`$gte` and
    // `$lte`: the keys between); on a multikey one each condition is looked up alone and the
    // sets intersected, since different elements of an array may meet different bounds.
    let single = indexes.single_key(path.as_str());
    let mut sets = Vec::new();
    let mut exact = true;
    let mut bounds: Option<KeyRange> = None;
    let lookup = |ranges: Vec<KeyRange>, sets: &mut Vec<Candidates>| {
        let estimate = indexes.estimate(path.as_str(), &ranges);
        sets.push(Candidates::Lookup(Lookup {
            path: path.clone(),
            ranges,
            estimate,
        }));
    };
    for condition in conditions {
        match (single, single_range(condition), ranges(condition)) {
            (true, Some(range), _) => {
                bounds = Some(match bounds {
                    None => range,
                    Some(bounds) => bounds.intersect(&range),
                });
            }
            (_, _, Some(ranges)) => lookup(ranges, &mut sets),
            (_, _, None) => exact = false,
        }
    }
    if let Some(bounds) = bounds {
        let ranges = if bounds.is_empty() {
            Vec::new()
        } else {
            vec![bounds]
        };
        lookup(ranges, &mut sets);
    }
    if sets.is_empty() {
        return None;
    }
    sets.sort_by_key(Candidates::estimate);
    Some(Served {
        candidates: flatten(sets, Candidates::And),
        exact,
    })
}

/// Candidates for conditions on `_id`: the ids an equality or `$in` names (only whole
/// numbers can be ids), intersected when there are several; none for other conditions.
fn serve_ids(conditions: &[Condition]) -> Option<Served> {
    let as_id = |value: &Value| match value {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::UInt(u) => Some(*u),
        Value::Float(f) => crate::document::whole_u64(*f),
        _ => None,
    };
    let mut sets: Vec<Vec<u64>> = Vec::new();
    let mut exact = true;
    for condition in conditions {
        let mut ids: Vec<u64> = match condition {
            Condition::Eq(value) => as_id(value).into_iter().collect(),
            Condition::In(values) => values.iter().filter_map(as_id).collect(),
            _ => {
                exact = false;
                continue;
            }
        };
        ids.sort_unstable();
        ids.dedup();
        sets.push(ids);
    }
    let mut sets = sets.into_iter();
    let first = sets.next()?;
    let ids = sets.fold(first, |ids, next| {
        ids.into_iter()
            .filter(|id| next.binary_search(id).is_ok())
            .collect()
    });
    Some(Served {
        candidates: Candidates::Ids(ids),
        exact,
    })
}

/// The index ranges whose entries are exactly the documents `condition` matches, if there
/// are such ranges.
fn ranges(condition: &Condition) -> Option<Vec<KeyRange>> {
    Some(match condition {
        Condition::Eq(value) => vec![KeyRange::eq(key(value)?)],
        Condition::In(values) => {
            let mut keys = values.iter().map(key).collect::<Option<Vec<_>>>()?;
            keys.sort();
            keys.dedup();
            keys.into_iter().map(KeyRange::eq).collect()
        }
        Condition::Gt(v) => range(v, false, true)?,
        Condition::Gte(v) => range(v, true, true)?,
        Condition::Lt(v) => range(v, false, false)?,
        Condition::Lte(v) => range(v, true, false)?,
        Condition::Ne(_) | Condition::Nin(_) | Condition::Exists(_) => return None,
    })
}

/// The key of an operand an index can look up: not an array (an array operand matches an
/// array value as a whole, which the index holds only as its elements).
fn key(value: &Value) -> Option<IndexKey> {
    (!matches!(value, Value::Array(_))).then(|| key_of_value(value))
}

/// A range bound: `$gt`/`$gte` (`upward`) or `$lt`/`$lte` of `value`, kept inside the
/// operand's kind (a string bound never matches a number). Null: `$gte`/`$lte` are equality
/// with null, `$gt`/`$lt` match nothing.
fn range(value: &Value, inclusive: bool, upward: bool) -> Option<Vec<KeyRange>> {
    let bound = key(value)?;
    if bound.is_null() {
        return Some(if inclusive {
            vec![KeyRange::eq(bound)]
        } else {
            Vec::new()
        });
    }
    let (first, after) = kind_bounds(&bound);
    let at = if inclusive {
        Bound::Included(bound)
    } else {
        Bound::Excluded(bound)
    };
    Some(vec![if upward {
        KeyRange { lo: at, hi: after }
    } else {
        KeyRange { lo: first, hi: at }
    }])
}

/// Every path the filter names, in order of appearance.
pub(crate) fn filter_paths(filter: &Filter) -> Vec<&Path> {
    fn walk<'f>(filter: &'f Filter, out: &mut Vec<&'f Path>) {
        match filter {
            Filter::All => {}
            Filter::And(parts) | Filter::Or(parts) => parts.iter().for_each(|p| walk(p, out)),
            Filter::Not(inner) => walk(inner, out),
            Filter::Path(path, _) => out.push(path),
        }
    }
    let mut out = Vec::new();
    walk(filter, &mut out);
    out
}

/// The bounds of every key of `key`'s kind (the order: MinKey < null < numbers < strings <
/// objects < arrays < booleans): after the kind below, before the kind above.
pub(crate) fn kind_bounds(key: &IndexKey) -> (Bound<IndexKey>, Bound<IndexKey>) {
    let empty_object = || IndexKey::object(std::iter::empty::<(&str, IndexKey)>());
    let empty_array = || IndexKey::array(std::iter::empty());
    if key.is_number() {
        (
            Bound::Excluded(IndexKey::NULL),
            Bound::Excluded(IndexKey::from("")),
        )
    } else if key.as_str().is_some() {
        (
            Bound::Included(IndexKey::from("")),
            Bound::Excluded(empty_object()),
        )
    } else if key.as_object().is_some() {
        (
            Bound::Included(empty_object()),
            Bound::Excluded(empty_array()),
        )
    } else if key.as_array().is_some() {
        (
            Bound::Included(empty_array()),
            Bound::Excluded(IndexKey::from(false)),
        )
    } else if key.as_bool().is_some() {
        (Bound::Included(IndexKey::from(false)), Bound::Unbounded)
    } else {
        (Bound::Included(key.clone()), Bound::Included(key.clone()))
    }
}
