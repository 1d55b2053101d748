//! What a filter means: [`Filter::matches`] on a borrowed document.
//!
//! A path resolves to branches ([`resolve`]); a branch offers *candidates*: an array offers
//! itself and each of its elements, any other value itself, a missing branch "missing".
//! A condition holds when some candidate meets it, and each condition of a path is tested
//! on its own (so `[1, 2]` meets `{"$gt": 1, "$lt": 2}`: 2 the one, 1 the other):
//! - `$eq v`: some candidate equals `v` in the total order ([`super::order`]); for `v` null
//!   a missing candidate counts too. `$ne` is not `$eq`, `$in` is `$eq` of some element,
//!   `$nin` not `$in` (so both hold on a missing path).
//! - `$gt/$gte/$lt/$lte v`: some candidate of `v`'s kind compares so; with `v` null,
//!   `$gte`/`$lte` are `$eq null` and `$gt`/`$lt` hold for nothing.
//! - `$exists true`: some branch is there; `$exists false`: none is.
//!
//! Evaluation reads the stored bytes in place and allocates nothing.

use std::cmp::Ordering;

use super::filter::{Condition, Filter};
use super::order::{compare_view_value, kind_rank, value_kind_rank};
use super::path::{Path, resolve};
use crate::document::Value;
use crate::view::{DocumentView, ValueView};

impl Filter {
    /// True if `doc` matches the filter (module documentation).
    pub fn matches(&self, doc: &DocumentView<'_>) -> bool {
        match self {
            Self::All => true,
            Self::And(filters) => filters.iter().all(|f| f.matches(doc)),
            Self::Or(filters) => filters.iter().any(|f| f.matches(doc)),
            Self::Not(filter) => !filter.matches(doc),
            Self::Path(path, conditions) => conditions.iter().all(|c| c.holds(doc, path)),
        }
    }
}

impl Condition {
    /// True if the condition holds on `path` in `doc`.
    pub(crate) fn holds(&self, doc: &DocumentView<'_>, path: &Path) -> bool {
        match self {
            Self::Eq(v) => any_candidate(doc, path, |c| equals(c, v)),
            Self::Ne(v) => !any_candidate(doc, path, |c| equals(c, v)),
            Self::In(vs) => any_candidate(doc, path, |c| vs.iter().any(|v| equals(c, v))),
            Self::Nin(vs) => !any_candidate(doc, path, |c| vs.iter().any(|v| equals(c, v))),
            Self::Gt(v) => range(doc, path, v, Ordering::is_gt, false),
            Self::Gte(v) => range(doc, path, v, Ordering::is_ge, true),
            Self::Lt(v) => range(doc, path, v, Ordering::is_lt, false),
            Self::Lte(v) => range(doc, path, v, Ordering::is_le, true),
            Self::Exists(there) => {
                let mut found = false;
                resolve(doc, path, |branch| found |= branch.is_some());
                found == *there
            }
        }
    }
}

/// True if some candidate of `path` in `doc` (`None`: missing) passes `test`.
fn any_candidate<'a>(
    doc: &DocumentView<'a>,
    path: &Path,
    mut test: impl FnMut(Option<ValueView<'a>>) -> bool,
) -> bool {
    let mut found = false;
    resolve(doc, path, |branch| {
        found = found
            || test(branch)
            || matches!(branch, Some(ValueView::Array(a)) if a.iter().any(|e| test(Some(e))));
    });
    found
}

/// A candidate equals the operand: equal in the total order, or missing for null.
fn equals(candidate: Option<ValueView<'_>>, operand: &Value) -> bool {
    match candidate {
        Some(value) => compare_view_value(&value, operand) == Ordering::Equal,
        None => matches!(operand, Value::Null),
    }
}

/// `$gt`-like conditions: some candidate of the operand's kind orders as `wanted` says;
/// with a null operand, `$eq null` if `or_equal`, else nothing.
fn range(
    doc: &DocumentView<'_>,
    path: &Path,
    operand: &Value,
    wanted: fn(Ordering) -> bool,
    or_equal: bool,
) -> bool {
    if matches!(operand, Value::Null) {
        return or_equal && any_candidate(doc, path, |c| equals(c, operand));
    }
    let rank = value_kind_rank(operand);
    any_candidate(doc, path, |candidate| {
        candidate.is_some_and(|value| {
            kind_rank(&value) == rank && wanted(compare_view_value(&value, operand))
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::document::Document;
    use serde_json::{Value as Json, json};

    /// Does `filter` match `doc` (both JSON)?
    fn hit(filter: Json, doc: Json) -> bool {
        let filter = Filter::parse(&filter).unwrap();
        let doc = Document::from_json(doc).unwrap();
        let bytes = doc.to_stored_bytes().unwrap();
        filter.matches(&DocumentView::new(doc.id.unwrap_or(1), &bytes).unwrap())
    }

    /// Asserts which of `docs` match `filter`.
    fn check(filter: Json, cases: &[(Json, bool)]) {
        for (doc, expected) in cases {
            assert_eq!(
                hit(filter.clone(), doc.clone()),
                *expected,
                "{filter} on {doc}"
            );
        }
    }

    #[test]
    fn the_contracts_examples() {
        check(
            json!({"tags": "rust"}),
            &[
                (json!({"tags": ["db", "rust"]}), true),
                (json!({"tags": "rust"}), true),
                (json!({"tags": ["db"]}), false),
            ],
        );
        check(
            json!({"a": {"$gt": 1, "$lt": 2}}),
            &[
                (json!({"a": [1, 2]}), true),
                (json!({"a": 1.5}), true),
                (json!({"a": 1}), false),
                (json!({"a": [0, 3]}), true),
                (json!({"a": [1]}), false),
            ],
        );
        check(
            json!({"a.b": null}),
            &[
                (json!({"a": 5}), true),
                (json!({}), true),
                (json!({"a": {"b": null}}), true),
                (json!({"a": {"b": 0}}), false),
                (json!({"a": [{"b": 1}, 7]}), true),
            ],
        );
        let big = 9_007_199_254_740_993_u64; // 2^53 + 1: no double holds it
        check(
            json!({"n": big}),
            &[
                (json!({"n": big}), true),
                (json!({"n": big - 1}), false),
                (json!({"n": 9_007_199_254_740_992.0}), false),
            ],
        );
        check(json!({"n": {"$gt": big - 1}}), &[(json!({"n": big}), true)]);
        check(json!({"n": {"$gt": big}}), &[(json!({"n": big}), false)]);
        check(
            json!({"n": u64::MAX}),
            &[
                (json!({"n": u64::MAX}), true),
                (json!({"n": u64::MAX - 1}), false),
            ],
        );
        check(
            json!({"n": 1}),
            &[(json!({"n": 1.0}), true), (json!({"n": "1"}), false)],
        );
        check(json!({"n": 1.0}), &[(json!({"n": 1}), true)]);
        check(
            json!({"n": {"$gte": "0"}}),
            &[(json!({"n": 5}), false), (json!({"n": "5"}), true)],
        );
        check(json!({"n": {"$lt": 10}}), &[(json!({"n": "5"}), false)]);
    }

    #[test]
    fn eq_ne_in_nin_and_missing() {
        let docs = |a: bool, b: bool, c: bool, d: bool| {
            vec![
                (json!({"a": 1}), a),
                (json!({"a": [2, 1]}), b),
                (json!({"a": null}), c),
                (json!({"x": 1}), d),
            ]
        };
        check(json!({"a": {"$eq": 1}}), &docs(true, true, false, false));
        check(json!({"a": {"$ne": 1}}), &docs(false, false, true, true));
        check(json!({"a": null}), &docs(false, false, true, true));
        check(json!({"a": {"$ne": null}}), &docs(true, true, false, false));
        check(
            json!({"a": {"$in": [1, "x"]}}),
            &docs(true, true, false, false),
        );
        check(
            json!({"a": {"$in": [null]}}),
            &docs(false, false, true, true),
        );
        check(json!({"a": {"$in": []}}), &docs(false, false, false, false));
        check(
            json!({"a": {"$nin": [1, "x"]}}),
            &docs(false, false, true, true),
        );
        check(json!({"a": {"$nin": []}}), &docs(true, true, true, true));
        check(
            json!({"a": {"$exists": true}}),
            &docs(true, true, true, false),
        );
        check(
            json!({"a": {"$exists": false}}),
            &docs(false, false, false, true),
        );
        // An array equals as a whole too, element by element.
        check(
            json!({"a": [2, 1]}),
            &[
                (json!({"a": [2, 1]}), true),
                (json!({"a": [1, 2]}), false),
                (json!({"a": [[2, 1], 3]}), true),
            ],
        );
        // Objects equal field by field, in order.
        check(
            json!({"o": {"x": 1, "y": [true]}}),
            &[
                (json!({"o": {"x": 1.0, "y": [true]}}), true),
                (json!({"o": {"y": [true], "x": 1}}), false),
                (json!({"o": {"x": 1}}), false),
                (json!({"o": [{"x": 1, "y": [true]}]}), true),
            ],
        );
        check(
            json!({"o": {}}),
            &[(json!({"o": {}}), true), (json!({"o": {"x": 1}}), false)],
        );
        check(
            json!({"_id": 7}),
            &[(json!({"_id": 7}), true), (json!({"_id": 8}), false)],
        );
    }

    #[test]
    fn ranges_stay_in_their_kind() {
        let docs = [
            json!({"a": null}),
            json!({"a": 3}),
            json!({"a": "m"}),
            json!({"a": {"k": 1}}),
            json!({"a": [5]}),
            json!({"a": true}),
            json!({}),
            json!({"a": []}),
        ];
        let matching = |filter: Json| -> Vec<usize> {
            (0..docs.len())
                .filter(|&i| hit(filter.clone(), docs[i].clone()))
                .collect()
        };
        assert_eq!(matching(json!({"a": {"$gt": 0}})), vec![1, 4]);
        assert_eq!(matching(json!({"a": {"$lte": 3}})), vec![1]);
        assert_eq!(matching(json!({"a": {"$lt": 3}})), Vec::<usize>::new());
        assert_eq!(matching(json!({"a": {"$gte": ""}})), vec![2]);
        assert_eq!(matching(json!({"a": {"$gt": false}})), vec![5]);
        assert_eq!(matching(json!({"a": {"$gte": {}}})), vec![3]);
        // [5] offers itself (an array) and 5: `$lt [6]` is met by the array.
        assert_eq!(matching(json!({"a": {"$lt": [6]}})), vec![4, 7]);
        assert_eq!(matching(json!({"a": {"$gte": []}})), vec![4, 7]);
        // Null bounds: $gte/$lte are $eq null, $gt/$lt nothing.
        assert_eq!(matching(json!({"a": {"$gte": null}})), vec![0, 6]);
        assert_eq!(matching(json!({"a": {"$lte": null}})), vec![0, 6]);
        assert_eq!(matching(json!({"a": {"$gt": null}})), Vec::<usize>::new());
        assert_eq!(matching(json!({"a": {"$lt": null}})), Vec::<usize>::new());
    }

    #[test]
    fn paths_through_arrays_of_objects() {
        let doc = json!({"items": [{"sku": "x", "n": 1}, {"sku": "y", "n": 5}, 3]});
        check(json!({"items.sku": "y"}), &[(doc.clone(), true)]);
        check(json!({"items.n": {"$gt": 4}}), &[(doc.clone(), true)]);
        check(json!({"items.n": {"$gt": 5}}), &[(doc.clone(), false)]);
        // The scalar element 3 makes one branch missing.
        check(json!({"items.n": null}), &[(doc.clone(), true)]);
        check(
            json!({"items.n": {"$exists": false}}),
            &[(doc.clone(), false)],
        );
        check(
            json!({"items.z": {"$exists": false}}),
            &[(doc.clone(), true)],
        );
        check(json!({"items.sku": {"$nin": ["x"]}}), &[(doc, false)]);
        check(
            json!({"a.b": {"$exists": false}}),
            &[(json!({"a": []}), true)],
        );
    }

    #[test]
    fn logic() {
        let doc = json!({"a": 1, "b": "x"});
        check(json!({}), &[(doc.clone(), true)]);
        check(json!({"$not": {}}), &[(doc.clone(), false)]);
        check(json!({"a": 1, "b": "y"}), &[(doc.clone(), false)]);
        check(
            json!({"$or": [{"a": 2}, {"b": "x"}]}),
            &[(doc.clone(), true)],
        );
        check(
            json!({"$or": [{"a": 2}, {"b": "y"}]}),
            &[(doc.clone(), false)],
        );
        check(
            json!({"$and": [{"a": 1}, {"b": "x"}], "a": {"$lt": 2}}),
            &[(doc.clone(), true)],
        );
        check(json!({"$not": {"a": 1, "b": "y"}}), &[(doc.clone(), true)]);
        check(json!({"$not": {"a": 1}, "b": "x"}), &[(doc, false)]);
    }
}
