//! `IndexKey`: a value of a document at an indexed path, as a hashable, totally ordered key.
//!
//! Every JSON value has a key, and one more key stands below them all: [`IndexKey::MIN`], the
//! key of an empty array (a document holding `[]` at a path is indexed under it, so that it
//! sorts first and is found again). Keys of different kinds order as NyroDB's queries order
//! values (docs/CONTRACT section 6, MongoDB's order):
//!
//! `MinKey` < null < numbers < strings < objects < arrays < booleans
//!
//! Numbers are kept in one canonical form so that the derived `Eq`/`Hash` agree with numeric
//! equality: an integral value that fits `i64` is always `Int`, an integer above `i64::MAX` is
//! always `UInt`, and only a float that is not integral (or is integral but outside the range
//! of `i64`/`u64`, or infinite, or NaN) is `Float`, stored as its bits. So `1`, `1u64` and
//! `1.0` are one key, `-0.0` is `0`, and every NaN is one key; numbers compare by exact value
//! (`u64` and `i64` beyond 2^53 included). Strings order by their UTF-8 bytes, `false` before
//! `true`; objects field by field (name bytes, then value) and then fewer fields first; arrays
//! element by element and then shorter first. Objects and arrays keep their elements' keys,
//! so numbers inside them are canonical too (`{"a": 1}` and `{"a": 1.0}` are one key).

use std::cmp::Ordering;
use std::fmt;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::number::{Num, TWO_POW_63, TWO_POW_64, cmp_numbers};

/// The bits every NaN is stored as, so that NaN is a single key equal to itself.
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// The value at an indexed path: any JSON value, or [`IndexKey::MIN`].
///
/// Numbers compare by numeric value: `IndexKey::from(1i64) == IndexKey::from(1.0)`, while the
/// string `"1"` is a different key. See the module documentation for the order across kinds.
/// NaN (which JSON cannot carry) orders below every other number and equals itself. 24 bytes;
/// a string, object or array key owns one exact-size allocation (plus its elements').
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IndexKey(Repr);

/// The canonical representation; see the module documentation for its invariants.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// Below every value: the key of an empty array.
    Min,
    Null,
    Bool(bool),
    /// Every integral number in `[-2^63, 2^63)`.
    Int(i64),
    /// Integers in `[2^63, 2^64)`, and only those.
    UInt(u64),
    /// Bits of a float that is not representable as `Int` or `UInt` (never `-0.0`; NaN is
    /// always `CANONICAL_NAN`).
    Float(u64),
    Str(Box<str>),
    /// Fields in document order (a repeated name stays repeated).
    Object(Box<[(Box<str>, IndexKey)]>),
    Array(Box<[IndexKey]>),
}

impl IndexKey {
    /// The key of a JSON `null`.
    pub const NULL: IndexKey = IndexKey(Repr::Null);

    /// The smallest key, below every value (below null): what an empty array is indexed
    /// under. No JSON value has this key.
    pub const MIN: IndexKey = IndexKey(Repr::Min);

    /// The key of a JSON `null` (same as [`IndexKey::NULL`]).
    pub fn null() -> Self {
        Self::NULL
    }

    /// The key of an object with these fields, in this order.
    pub fn object<S: Into<Box<str>>>(fields: impl IntoIterator<Item = (S, IndexKey)>) -> Self {
        IndexKey(Repr::Object(
            fields
                .into_iter()
                .map(|(name, key)| (name.into(), key))
                .collect(),
        ))
    }

    /// The key of an array with these elements, in this order (the key of the array as one
    /// value; an index of a path holding an array is under each element's key instead).
    pub fn array(elements: impl IntoIterator<Item = IndexKey>) -> Self {
        IndexKey(Repr::Array(elements.into_iter().collect()))
    }

    /// The key of a JSON value (an array's key is the whole array's, see
    /// [`IndexKey::array`]).
    pub fn from_json(value: &serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => Self::NULL,
            Value::Bool(b) => Self::from(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Self::from(i)
                } else if let Some(u) = n.as_u64() {
                    Self::from(u)
                } else {
                    Self::from(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => Self::from(s.as_str()),
            Value::Array(elements) => Self::array(elements.iter().map(Self::from_json)),
            Value::Object(fields) => {
                Self::object(fields.iter().map(|(k, v)| (k.as_str(), Self::from_json(v))))
            }
        }
    }

    /// True for [`IndexKey::MIN`].
    pub fn is_min(&self) -> bool {
        matches!(self.0, Repr::Min)
    }

    /// True for the null key.
    pub fn is_null(&self) -> bool {
        matches!(self.0, Repr::Null)
    }

    /// The boolean, if this is a boolean key.
    pub fn as_bool(&self) -> Option<bool> {
        match self.0 {
            Repr::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The number as an `i64`, if this is an integral number in the range of `i64`
    /// (including one built from an integral float such as `2.0`).
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            Repr::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The number as a `u64`, if this is an integral number in the range of `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            Repr::Int(i) => u64::try_from(i).ok(),
            Repr::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// The number as an `f64` (possibly rounded for integers beyond 2^53), if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self.0 {
            // Rounding to the nearest float is the documented intent here.
            #[allow(clippy::cast_precision_loss)]
            Repr::Int(i) => Some(i as f64),
            #[allow(clippy::cast_precision_loss)]
            Repr::UInt(u) => Some(u as f64),
            Repr::Float(bits) => Some(f64::from_bits(bits)),
            _ => None,
        }
    }

    /// True if this is a number (of any representation).
    pub fn is_number(&self) -> bool {
        matches!(self.0, Repr::Int(_) | Repr::UInt(_) | Repr::Float(_))
    }

    /// The string, if this is a string key.
    pub fn as_str(&self) -> Option<&str> {
        match &self.0 {
            Repr::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The fields, if this is an object key.
    pub fn as_object(&self) -> Option<&[(Box<str>, IndexKey)]> {
        match &self.0 {
            Repr::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// The elements, if this is an array key.
    pub fn as_array(&self) -> Option<&[IndexKey]> {
        match &self.0 {
            Repr::Array(elements) => Some(elements),
            _ => None,
        }
    }

    /// Heap bytes owned by this key: a string's bytes; an object's or array's slots and
    /// what its elements own; 0 for other keys.
    pub fn heap_size(&self) -> usize {
        match &self.0 {
            Repr::Str(s) => s.len(),
            Repr::Object(fields) => fields
                .iter()
                .map(|(name, key)| size_of::<(Box<str>, IndexKey)>() + name.len() + key.heap_size())
                .sum(),
            Repr::Array(elements) => elements
                .iter()
                .map(|key| size_of::<IndexKey>() + key.heap_size())
                .sum(),
            _ => 0,
        }
    }

    /// Rank of the key's kind in the cross-kind order (module documentation).
    pub fn kind_rank(&self) -> u8 {
        match self.0 {
            Repr::Min => 0,
            Repr::Null => 1,
            Repr::Int(_) | Repr::UInt(_) | Repr::Float(_) => 2,
            Repr::Str(_) => 3,
            Repr::Object(_) => 4,
            Repr::Array(_) => 5,
            Repr::Bool(_) => 6,
        }
    }

    /// The number this key holds, if it is one.
    fn num(&self) -> Option<Num> {
        match self.0 {
            Repr::Int(i) => Some(Num::Int(i128::from(i))),
            Repr::UInt(u) => Some(Num::Int(i128::from(u))),
            Repr::Float(bits) => Some(Num::Float(f64::from_bits(bits))),
            _ => None,
        }
    }
}

impl From<bool> for IndexKey {
    fn from(b: bool) -> Self {
        IndexKey(Repr::Bool(b))
    }
}

impl From<i64> for IndexKey {
    fn from(i: i64) -> Self {
        IndexKey(Repr::Int(i))
    }
}

impl From<i32> for IndexKey {
    fn from(i: i32) -> Self {
        IndexKey(Repr::Int(i64::from(i)))
    }
}

impl From<u32> for IndexKey {
    fn from(u: u32) -> Self {
        IndexKey(Repr::Int(i64::from(u)))
    }
}

impl From<u64> for IndexKey {
    fn from(u: u64) -> Self {
        match i64::try_from(u) {
            Ok(i) => IndexKey(Repr::Int(i)),
            Err(_) => IndexKey(Repr::UInt(u)),
        }
    }
}

impl From<f64> for IndexKey {
    fn from(f: f64) -> Self {
        if f.is_nan() {
            return IndexKey(Repr::Float(CANONICAL_NAN));
        }
        // `fract` of an infinity is NaN, so infinities stay floats.
        if f.fract() == 0.0 {
            // The range checks make both casts exact (the value is integral and in range);
            // -0.0 becomes 0.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            {
                if (-TWO_POW_63..TWO_POW_63).contains(&f) {
                    return IndexKey(Repr::Int(f as i64));
                }
                if (TWO_POW_63..TWO_POW_64).contains(&f) {
                    return IndexKey(Repr::UInt(f as u64));
                }
            }
        }
        IndexKey(Repr::Float(f.to_bits()))
    }
}

impl From<&str> for IndexKey {
    fn from(s: &str) -> Self {
        IndexKey(Repr::Str(Box::from(s)))
    }
}

impl From<String> for IndexKey {
    fn from(s: String) -> Self {
        IndexKey(Repr::Str(s.into_boxed_str()))
    }
}

impl From<Box<str>> for IndexKey {
    fn from(s: Box<str>) -> Self {
        IndexKey(Repr::Str(s))
    }
}

impl Ord for IndexKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_kind = self.kind_rank().cmp(&other.kind_rank());
        if by_kind != Ordering::Equal {
            return by_kind;
        }
        match (&self.0, &other.0) {
            (Repr::Bool(a), Repr::Bool(b)) => a.cmp(b),
            (Repr::Str(a), Repr::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Repr::Object(a), Repr::Object(b)) => a
                .iter()
                .map(|(name, key)| (name.as_bytes(), key))
                .cmp(b.iter().map(|(name, key)| (name.as_bytes(), key))),
            (Repr::Array(a), Repr::Array(b)) => a.iter().cmp(b.iter()),
            _ => match (self.num(), other.num()) {
                (Some(x), Some(y)) => cmp_numbers(x, y),
                // Equal kind ranks and none of the above: both null, or both MinKey.
                _ => Ordering::Equal,
            },
        }
    }
}

impl PartialOrd for IndexKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for IndexKey {
    /// JSON-like: `null`, `true`, `42`, `1.5`, `"text"` (strings quoted and escaped),
    /// `{"a": 1}`, `[1, 2]`; `MinKey` for [`IndexKey::MIN`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Min => f.write_str("MinKey"),
            Repr::Null => f.write_str("null"),
            Repr::Bool(b) => write!(f, "{b}"),
            Repr::Int(i) => write!(f, "{i}"),
            Repr::UInt(u) => write!(f, "{u}"),
            Repr::Float(bits) => write!(f, "{:?}", f64::from_bits(*bits)),
            Repr::Str(s) => write!(f, "{s:?}"),
            Repr::Object(fields) => {
                f.write_str("{")?;
                for (i, (name, key)) in fields.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{name:?}: {key}")?;
                }
                f.write_str("}")
            }
            Repr::Array(elements) => {
                f.write_str("[")?;
                for (i, key) in elements.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{key}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexKey({self})")
    }
}

impl Serialize for IndexKey {
    /// Serializes as the JSON value it stands for (an integral float as an integer);
    /// [`IndexKey::MIN`] as MongoDB's extended JSON writes it, `{"$minKey": 1}`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Min => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("$minKey", &1)?;
                map.end()
            }
            Repr::Null => serializer.serialize_unit(),
            Repr::Bool(b) => serializer.serialize_bool(*b),
            Repr::Int(i) => serializer.serialize_i64(*i),
            Repr::UInt(u) => serializer.serialize_u64(*u),
            Repr::Float(bits) => serializer.serialize_f64(f64::from_bits(*bits)),
            Repr::Str(s) => serializer.serialize_str(s),
            Repr::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (name, key) in fields.iter() {
                    map.serialize_entry(&**name, key)?;
                }
                map.end()
            }
            Repr::Array(elements) => {
                let mut seq = serializer.serialize_seq(Some(elements.len()))?;
                for key in elements.iter() {
                    seq.serialize_element(key)?;
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    fn hash(k: &IndexKey) -> u64 {
        let mut h = DefaultHasher::new();
        k.hash(&mut h);
        h.finish()
    }

    #[test]
    fn is_24_bytes() {
        assert_eq!(std::mem::size_of::<IndexKey>(), 24);
    }

    #[test]
    fn integral_numbers_are_one_key() {
        let int = IndexKey::from(1i64);
        for k in [
            IndexKey::from(1u64),
            IndexKey::from(1.0),
            IndexKey::from(1i32),
        ] {
            assert_eq!(k, int);
            assert_eq!(hash(&k), hash(&int));
            assert_eq!(k.cmp(&int), Ordering::Equal);
        }
        assert_eq!(IndexKey::from(-0.0), IndexKey::from(0i64));
        assert_eq!(IndexKey::from(0.0), IndexKey::from(-0.0));
        assert_eq!(hash(&IndexKey::from(-0.0)), hash(&IndexKey::from(0u64)));
        assert_eq!(IndexKey::from(2f64.powi(63)), IndexKey::from(1u64 << 63));
        assert_eq!(IndexKey::from(-(2f64.powi(63))), IndexKey::from(i64::MIN));
        assert_eq!(IndexKey::from(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(IndexKey::from(3.0).as_i64(), Some(3));
    }

    #[test]
    fn strings_and_numbers_differ() {
        assert_ne!(IndexKey::from("1"), IndexKey::from(1i64));
        assert_ne!(IndexKey::from("true"), IndexKey::from(true));
        assert_ne!(IndexKey::from("null"), IndexKey::NULL);
        assert_ne!(IndexKey::from(0i64), IndexKey::from(false));
        assert_ne!(IndexKey::from(0i64), IndexKey::NULL);
    }

    #[test]
    fn non_integral_floats_stay_floats() {
        let k = IndexKey::from(1.5);
        assert_eq!(k.as_i64(), None);
        assert_eq!(k.as_f64(), Some(1.5));
        assert!(IndexKey::from(1i64) < k && k < IndexKey::from(2i64));
        assert!(IndexKey::from(-2i64) < IndexKey::from(-1.5));
        assert!(IndexKey::from(-1.5) < IndexKey::from(-1i64));
    }

    #[test]
    fn nan_and_infinities_do_not_panic() {
        let nan = IndexKey::from(f64::NAN);
        assert_eq!(nan, IndexKey::from(-f64::NAN));
        assert_eq!(nan.cmp(&nan), Ordering::Equal);
        assert!(nan < IndexKey::from(i64::MIN));
        assert!(nan < IndexKey::from(f64::NEG_INFINITY));
        assert!(IndexKey::NULL < nan);
        let inf = IndexKey::from(f64::INFINITY);
        assert!(IndexKey::from(u64::MAX) < inf);
        assert!(IndexKey::from(f64::NEG_INFINITY) < IndexKey::from(i64::MIN));
        assert!(IndexKey::from(1e300) > IndexKey::from(u64::MAX));
        assert!(IndexKey::from(-1e300) < IndexKey::from(i64::MIN));
        assert_eq!(nan.to_string(), "NaN");
    }

    #[test]
    fn big_integers_compare_exactly() {
        let big = IndexKey::from(u64::MAX);
        let below = IndexKey::from(u64::MAX - 1);
        assert!(below < big);
        assert!(IndexKey::from(i64::MAX) < IndexKey::from(1u64 << 63));
        // 2^63 + 0.5 is not representable; the float nearest 2^63+1 is 2^63 itself.
        assert!(IndexKey::from((1u64 << 63) + 1) > IndexKey::from(2f64.powi(63)));
        assert!(IndexKey::from(i64::MAX) < IndexKey::from(2f64.powi(63)));
        assert!(IndexKey::from(9_007_199_254_740_993i64) > IndexKey::from(9_007_199_254_740_992.0));
    }

    #[test]
    fn cross_kind_order_follows_the_contract() {
        let keys = [
            IndexKey::MIN,
            IndexKey::NULL,
            IndexKey::from(f64::NAN),
            IndexKey::from(i64::MIN),
            IndexKey::from(-0.5),
            IndexKey::from(0i64),
            IndexKey::from(u64::MAX),
            IndexKey::from(""),
            IndexKey::from("a"),
            IndexKey::from("b"),
            IndexKey::object::<&str>([]),
            IndexKey::object([("a", IndexKey::NULL)]),
            IndexKey::object([("a", IndexKey::from(1i64))]),
            IndexKey::object([("a", IndexKey::from(1i64)), ("a", IndexKey::NULL)]),
            IndexKey::object([("b", IndexKey::NULL)]),
            IndexKey::array([]),
            IndexKey::array([IndexKey::MIN]),
            IndexKey::array([IndexKey::from(1i64)]),
            IndexKey::array([IndexKey::from(1i64), IndexKey::from(0i64)]),
            IndexKey::array([IndexKey::from(2i64)]),
            IndexKey::from(false),
            IndexKey::from(true),
        ];
        for (i, a) in keys.iter().enumerate() {
            for (j, b) in keys.iter().enumerate() {
                assert_eq!(a.cmp(b), i.cmp(&j), "{a} vs {b}");
                assert_eq!(a == b, i == j, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn containers_keep_numbers_canonical() {
        use serde_json::json;
        let a = IndexKey::from_json(&json!({"x": [1, 2.0, {"y": -0.0}]}));
        let b = IndexKey::from_json(&json!({"x": [1.0, 2, {"y": 0}]}));
        assert_eq!(a, b);
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(a.to_string(), r#"{"x": [1, 2, {"y": 0}]}"#);
        assert_eq!(a.as_object().map(<[_]>::len), Some(1));
        assert_eq!(IndexKey::from_json(&json!([])).as_array(), Some(&[][..]));
        assert!(IndexKey::from_json(&json!([])) > IndexKey::from_json(&json!({"z": true})));
        assert!(IndexKey::MIN.is_min() && !IndexKey::NULL.is_min());
        assert_eq!(IndexKey::from_json(&json!("x")).heap_size(), 1);
        assert_eq!(
            IndexKey::from_json(&json!(["ab"])).heap_size(),
            size_of::<IndexKey>() + 2
        );
    }

    #[test]
    fn from_json_of_scalars() {
        use serde_json::json;
        assert_eq!(IndexKey::from_json(&json!(null)), IndexKey::NULL);
        assert_eq!(IndexKey::from_json(&json!(2)), IndexKey::from(2.0));
        assert_eq!(IndexKey::from_json(&json!(2.0)), IndexKey::from(2i64));
        assert_eq!(
            IndexKey::from_json(&json!(u64::MAX)),
            IndexKey::from(u64::MAX)
        );
        assert_eq!(IndexKey::from_json(&json!(-7)), IndexKey::from(-7i64));
        assert_eq!(IndexKey::from_json(&json!("x")), IndexKey::from("x"));
        assert_eq!(IndexKey::from_json(&json!(true)), IndexKey::from(true));
    }

    #[test]
    fn serializes_as_the_scalar() {
        let v = serde_json::to_value(IndexKey::from(2.0)).unwrap();
        assert_eq!(v, serde_json::json!(2));
        let v = serde_json::to_value(IndexKey::from("a\"b")).unwrap();
        assert_eq!(v, serde_json::json!("a\"b"));
        assert_eq!(
            serde_json::to_value(IndexKey::NULL).unwrap(),
            serde_json::Value::Null
        );
        assert_eq!(IndexKey::from("a\"b").to_string(), "\"a\\\"b\"");
        let json = serde_json::json!({"a": [1, "x", null], "b": {}});
        assert_eq!(
            serde_json::to_value(IndexKey::from_json(&json)).unwrap(),
            json
        );
        assert_eq!(
            serde_json::to_value(IndexKey::MIN).unwrap(),
            serde_json::json!({"$minKey": 1})
        );
    }
}
