//! The total order of values (docs/CONTRACT section 6), for ranges, sorting and index keys.
//!
//! Kinds, lowest first: `MinKey` (the sort key of `[]`, never a stored value) < null <
//! numbers < strings < objects < arrays < booleans ([`kind_rank`]). Within a kind: numbers
//! by exact value across i64, u64 and f64 (the comparison of [`nyro_index::IndexKey`], so
//! `1 == 1.0` and integers beyond 2^53 stay exact), strings by UTF-8 bytes, false < true,
//! objects field by field (name bytes, then value) and then fewer fields first, arrays
//! element by element and then shorter first. Equal in this order is equal for `$eq`.
//!
//! One generic comparison serves borrowed views and owned values alike (allocation free);
//! [`sort_key`] is a document's key for sorting on a path.

use std::cmp::Ordering;

use nyro_index::IndexKey;

use super::path::{Path, resolve};
use crate::document::Value;
use crate::view::{DocumentView, ValueView};

/// The rank of `MinKey`, below every value's kind.
pub const MIN_KEY_RANK: u8 = 0;

/// A value as the order sees it: its kind, and what compares within the kind.
enum Shape<'s, E, F> {
    Null,
    /// The number, as the exact key nyro-index compares.
    Number(IndexKey),
    String(&'s str),
    Object(F),
    Array(E),
    Bool(bool),
}

impl<E, F> Shape<'_, E, F> {
    fn rank(&self) -> u8 {
        match self {
            Self::Null => 1,
            Self::Number(_) => 2,
            Self::String(_) => 3,
            Self::Object(_) => 4,
            Self::Array(_) => 5,
            Self::Bool(_) => 6,
        }
    }
}

/// What the order needs of a value: [`ValueView`] and `&Value` both are one.
trait Ordered<'s>: Copy {
    type Elements: Iterator<Item = Self>;
    type Fields: Iterator<Item = (&'s str, Self)>;
    fn shape(self) -> Shape<'s, Self::Elements, Self::Fields>;
}

impl<'a> Ordered<'a> for ValueView<'a> {
    type Elements = crate::view::Elements<'a>;
    type Fields = crate::view::Fields<'a>;

    fn shape(self) -> Shape<'a, Self::Elements, Self::Fields> {
        match self {
            Self::Null => Shape::Null,
            Self::Bool(b) => Shape::Bool(b),
            Self::Int(i) => Shape::Number(IndexKey::from(i)),
            Self::UInt(u) => Shape::Number(IndexKey::from(u)),
            Self::Float(f) => Shape::Number(IndexKey::from(f)),
            Self::String(s) => Shape::String(s),
            Self::Array(a) => Shape::Array(a.iter()),
            Self::Object(o) => Shape::Object(o.iter()),
        }
    }
}

type ValueFields<'v> = std::iter::Map<
    std::slice::Iter<'v, (String, Value)>,
    fn(&'v (String, Value)) -> (&'v str, &'v Value),
>;

impl<'v> Ordered<'v> for &'v Value {
    type Elements = std::slice::Iter<'v, Value>;
    type Fields = ValueFields<'v>;

    fn shape(self) -> Shape<'v, Self::Elements, Self::Fields> {
        match self {
            Value::Null => Shape::Null,
            Value::Bool(b) => Shape::Bool(*b),
            Value::Int(i) => Shape::Number(IndexKey::from(*i)),
            Value::UInt(u) => Shape::Number(IndexKey::from(*u)),
            Value::Float(f) => Shape::Number(IndexKey::from(*f)),
            Value::String(s) => Shape::String(s),
            Value::Array(items) => Shape::Array(items.iter()),
            Value::Object(fields) => Shape::Object(fields.iter().map(|(k, v)| (k.as_str(), v))),
        }
    }
}

/// Compares two sequences item by item with `compare`, then the shorter first.
fn sequences<I: Iterator, J: Iterator>(
    mut a: I,
    mut b: J,
    mut compare: impl FnMut(I::Item, J::Item) -> Ordering,
) -> Ordering {
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match compare(x, y) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

fn compare<'x, 'y, A: Ordered<'x>, B: Ordered<'y>>(a: A, b: B) -> Ordering {
    let (a, b) = (a.shape(), b.shape());
    let by_kind = a.rank().cmp(&b.rank());
    if by_kind != Ordering::Equal {
        return by_kind;
    }
    match (a, b) {
        (Shape::Number(x), Shape::Number(y)) => x.cmp(&y),
        (Shape::String(x), Shape::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Shape::Bool(x), Shape::Bool(y)) => x.cmp(&y),
        (Shape::Array(x), Shape::Array(y)) => sequences(x, y, compare),
        (Shape::Object(x), Shape::Object(y)) => sequences(x, y, |(m, p), (n, q)| {
            m.as_bytes().cmp(n.as_bytes()).then_with(|| compare(p, q))
        }),
        // Equal ranks and none of the above: both null.
        _ => Ordering::Equal,
    }
}

/// Compares two values of documents in the total order.
pub fn compare_views(a: &ValueView<'_>, b: &ValueView<'_>) -> Ordering {
    compare(*a, *b)
}

/// Compares a document's value with an owned one (a filter's operand) in the total order.
pub fn compare_view_value(a: &ValueView<'_>, b: &Value) -> Ordering {
    compare(*a, b)
}

/// Compares two owned values in the total order.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    compare(a, b)
}

/// The rank of a value's kind in the total order: null 1, numbers 2, strings 3, objects 4,
/// arrays 5, booleans 6 ([`MIN_KEY_RANK`] is 0). Ranges match only values of one rank.
pub fn kind_rank(value: &ValueView<'_>) -> u8 {
    value.shape().rank()
}

/// [`kind_rank`] of an owned value.
pub fn value_kind_rank(value: &Value) -> u8 {
    value.shape().rank()
}

/// A document's key for sorting on a path ([`sort_key`]): `MinKey` (below every value) or a
/// value of the document. Ordered by the total order.
#[derive(Debug, Clone, Copy)]
pub enum SortKey<'a> {
    /// The key of an empty array: before null.
    MinKey,
    /// A value (null for a missing path).
    Value(ValueView<'a>),
}

impl Ord for SortKey<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::MinKey, Self::MinKey) => Ordering::Equal,
            (Self::MinKey, Self::Value(_)) => Ordering::Less,
            (Self::Value(_), Self::MinKey) => Ordering::Greater,
            (Self::Value(a), Self::Value(b)) => compare_views(a, b),
        }
    }
}

impl PartialOrd for SortKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SortKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SortKey<'_> {}

/// The key `doc` sorts by on `path`: the smallest of its index keys for the path ascending,
/// the largest descending. Its index keys: for each branch of the path, a missing one is
/// null, `[]` is `MinKey`, a non-empty array gives each element (a nested array is one key,
/// the whole array), any other value itself. Allocation free.
pub fn sort_key<'a>(doc: &DocumentView<'a>, path: &Path, descending: bool) -> SortKey<'a> {
    let mut best: Option<SortKey<'a>> = None;
    let mut offer = |key: SortKey<'a>| {
        let better = best.is_none_or(|best| {
            let order = key.cmp(&best);
            if descending {
                order == Ordering::Greater
            } else {
                order == Ordering::Less
            }
        });
        if better {
            best = Some(key);
        }
    };
    resolve(doc, path, |branch| match branch {
        None => offer(SortKey::Value(ValueView::Null)),
        Some(ValueView::Array(array)) if array.is_empty() => offer(SortKey::MinKey),
        Some(ValueView::Array(array)) => array.iter().for_each(|e| offer(SortKey::Value(e))),
        Some(value) => offer(SortKey::Value(value)),
    });
    // `resolve` gives at least one branch, and each branch offers at least one key.
    best.unwrap_or(SortKey::Value(ValueView::Null))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::document::Document;
    use serde_json::json;

    fn value(json: serde_json::Value) -> Value {
        Value::try_from_json(json).unwrap()
    }

    /// Values in ascending order; each group compares equal within itself.
    fn ladder() -> Vec<Vec<Value>> {
        [
            vec![json!(null)],
            vec![json!(i64::MIN)],
            vec![json!(-1.5)],
            vec![json!(0), json!(0.0), json!(-0.0)],
            vec![json!(1), json!(1.0)],
            vec![
                json!(9_007_199_254_740_992_u64),
                json!(9_007_199_254_740_992.0),
            ],
            vec![json!(9_007_199_254_740_993_u64)],
            vec![json!(i64::MAX)],
            vec![json!(1u64 << 63), json!(9_223_372_036_854_775_808.0)],
            vec![json!(u64::MAX)],
            vec![json!(1e300)],
            vec![json!("")],
            vec![json!("B")],
            vec![json!("a")],
            vec![json!("é")],
            vec![json!({})],
            vec![json!({"a": 1}), json!({"a": 1.0})],
            vec![json!({"a": 1, "b": 0})],
            vec![json!({"a": "x"})],
            vec![json!({"b": null})],
            vec![json!([])],
            vec![json!([null])],
            vec![json!([1]), json!([1.0])],
            vec![json!([1, 2])],
            vec![json!([2])],
            vec![json!(false)],
            vec![json!(true)],
        ]
        .into_iter()
        .map(|group| group.into_iter().map(value).collect())
        .collect()
    }

    fn stored(value: &Value) -> (Vec<u8>, u64) {
        let doc = Document::new(vec![("v".into(), value.clone())]);
        (doc.to_stored_bytes().unwrap(), 1)
    }

    #[test]
    fn the_ladder_is_the_total_order_for_values_and_views() {
        let ladder = ladder();
        let flat: Vec<(usize, &Value)> = ladder
            .iter()
            .enumerate()
            .flat_map(|(i, group)| group.iter().map(move |v| (i, v)))
            .collect();
        let bytes: Vec<_> = flat.iter().map(|(_, v)| stored(v)).collect();
        let views: Vec<_> = bytes
            .iter()
            .map(|(b, id)| DocumentView::new(*id, b).unwrap())
            .collect();
        for (x, (i, a)) in flat.iter().enumerate() {
            let view_a = views[x].get("v").unwrap();
            for (y, (j, b)) in flat.iter().enumerate() {
                let view_b = views[y].get("v").unwrap();
                let expected = i.cmp(j);
                assert_eq!(compare_values(a, b), expected, "{a:?} vs {b:?}");
                assert_eq!(compare_view_value(&view_a, b), expected, "{a:?} vs {b:?}");
                assert_eq!(compare_views(&view_a, &view_b), expected, "{a:?} vs {b:?}");
            }
            assert_eq!(kind_rank(&view_a), value_kind_rank(a));
        }
    }

    fn sort_keys(doc: serde_json::Value, path: &str) -> (String, String) {
        let doc = Document::from_json(doc).unwrap();
        let bytes = doc.to_stored_bytes().unwrap();
        let view = DocumentView::new(3, &bytes).unwrap();
        let path = Path::parse(path).unwrap();
        let show = |key: SortKey<'_>| match key {
            SortKey::MinKey => "MinKey".to_string(),
            SortKey::Value(v) => v.to_value().to_json().to_string(),
        };
        (
            show(sort_key(&view, &path, false)),
            show(sort_key(&view, &path, true)),
        )
    }

    #[test]
    fn sort_keys_are_the_extreme_index_keys() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(sort_keys(json!({"a": 5}), "a"), pair("5", "5"));
        assert_eq!(sort_keys(json!({"b": 5}), "a"), pair("null", "null"));
        assert_eq!(sort_keys(json!({"a": []}), "a"), pair("MinKey", "MinKey"));
        assert_eq!(
            sort_keys(json!({"a": [3, "x", 1]}), "a"),
            pair("1", "\"x\"")
        );
        assert_eq!(sort_keys(json!({"a": [[0], 2]}), "a"), pair("2", "[0]"));
        assert_eq!(
            sort_keys(json!({"a": [true, null]}), "a"),
            pair("null", "true")
        );
        assert_eq!(
            sort_keys(json!({"a": [{"b": 2}, {"c": 1}, {"b": [7, []]}]}), "a.b"),
            pair("null", "[]")
        );
        assert_eq!(
            sort_keys(json!({"a": [{"b": []}, {"b": 1}]}), "a.b"),
            pair("MinKey", "1")
        );
        assert_eq!(sort_keys(json!({"a": 5}), "_id"), pair("3", "3"));
        assert!(SortKey::MinKey < SortKey::Value(ValueView::Null));
    }
}
