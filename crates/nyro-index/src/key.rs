//! `IndexKey`: the value of an indexed field as a hashable, totally ordered key.
//!
//! Numbers are kept in one canonical form so that the derived `Eq`/`Hash` agree with numeric
//! equality (the way MongoDB compares numbers): an integral value that fits `i64` is always
//! `Int`, an integer above `i64::MAX` is always `UInt`, and only a float that is not integral
//! (or is integral but outside the range of `i64`/`u64`, or infinite, or NaN) is `Float`, stored
//! as its bits. So `1`, `1u64` and `1.0` are one key, `-0.0` is `0`, and every NaN is one key.

use std::cmp::Ordering;
use std::fmt;

use serde::{Serialize, Serializer};

/// 2^63 as an `f64`: the first float above the range of `i64`.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
/// 2^64 as an `f64`: the first float above the range of `u64`.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
/// The bits every NaN is stored as, so that NaN is a single key equal to itself.
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// The value of an indexed field: null, a boolean, a number or a string.
///
/// Arrays and objects are not keys (see [`IndexKey::from_json`]). Numbers compare by numeric
/// value: `IndexKey::from(1i64) == IndexKey::from(1.0)`, while the string `"1"` is a different
/// key. Keys of different types order as MongoDB orders them: null < numbers < strings <
/// booleans; strings order by bytes; NaN (which JSON cannot carry) orders below every other
/// number and equals itself. 24 bytes; a string key owns one exact-size allocation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IndexKey(Repr);

/// The canonical representation; see the module documentation for its invariants.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
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
}

impl IndexKey {
    /// The key of a JSON `null`.
    pub const NULL: IndexKey = IndexKey(Repr::Null);

    /// The key of a JSON `null` (same as [`IndexKey::NULL`]).
    pub fn null() -> Self {
        Self::NULL
    }

    /// The key of a JSON scalar; `None` for arrays and objects, which are not indexable.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        use serde_json::Value;
        match value {
            Value::Null => Some(Self::NULL),
            Value::Bool(b) => Some(Self::from(*b)),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(Self::from(i))
                } else if let Some(u) = n.as_u64() {
                    Some(Self::from(u))
                } else {
                    n.as_f64().map(Self::from)
                }
            }
            Value::String(s) => Some(Self::from(s.as_str())),
            Value::Array(_) | Value::Object(_) => None,
        }
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

    /// Heap bytes owned by this key (the string's bytes; 0 for other keys).
    pub fn heap_size(&self) -> usize {
        match &self.0 {
            Repr::Str(s) => s.len(),
            _ => 0,
        }
    }

    /// Rank of the key's type in the cross-type order (MongoDB's: null, numbers, strings,
    /// booleans).
    fn type_rank(&self) -> u8 {
        match self.0 {
            Repr::Null => 0,
            Repr::Int(_) | Repr::UInt(_) | Repr::Float(_) => 1,
            Repr::Str(_) => 2,
            Repr::Bool(_) => 3,
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

/// Compares an integer in `[-2^63, 2^64)` with a float that is not NaN, exactly.
fn cmp_int_float(n: i128, f: f64) -> Ordering {
    if f >= TWO_POW_64 {
        return Ordering::Less;
    }
    if f < -TWO_POW_63 {
        return Ordering::Greater;
    }
    let floor = f.floor();
    // `floor` is integral and within [-2^63, 2^64): the cast is exact.
    #[allow(clippy::cast_possible_truncation)]
    let t = floor as i128;
    match n.cmp(&t) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    }
}

/// A number widened for comparison.
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Repr {
    /// The number this representation holds, if it is one.
    fn num(&self) -> Option<Num> {
        match *self {
            Repr::Int(i) => Some(Num::Int(i128::from(i))),
            Repr::UInt(u) => Some(Num::Int(i128::from(u))),
            Repr::Float(bits) => Some(Num::Float(f64::from_bits(bits))),
            _ => None,
        }
    }
}

/// Compares two numbers by value; NaN is below every other number and equal to itself.
fn cmp_numbers(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            // No -0.0 is ever stored, so the total order is the numeric order here.
            (false, false) => x.total_cmp(&y),
        },
        (Num::Int(_), Num::Float(y)) if y.is_nan() => Ordering::Greater,
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(_)) if x.is_nan() => Ordering::Less,
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}

impl Ord for IndexKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_type = self.type_rank().cmp(&other.type_rank());
        if by_type != Ordering::Equal {
            return by_type;
        }
        match (&self.0, &other.0) {
            (Repr::Bool(a), Repr::Bool(b)) => a.cmp(b),
            (Repr::Str(a), Repr::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            (a, b) => match (a.num(), b.num()) {
                (Some(x), Some(y)) => cmp_numbers(x, y),
                // Equal type ranks and neither bools, strings nor numbers: both null.
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
    /// JSON-like: `null`, `true`, `42`, `1.5`, `"text"` (strings quoted and escaped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Null => f.write_str("null"),
            Repr::Bool(b) => write!(f, "{b}"),
            Repr::Int(i) => write!(f, "{i}"),
            Repr::UInt(u) => write!(f, "{u}"),
            Repr::Float(bits) => write!(f, "{:?}", f64::from_bits(*bits)),
            Repr::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexKey({self})")
    }
}

impl Serialize for IndexKey {
    /// Serializes as the JSON scalar it stands for (an integral float as an integer).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Null => serializer.serialize_unit(),
            Repr::Bool(b) => serializer.serialize_bool(*b),
            Repr::Int(i) => serializer.serialize_i64(*i),
            Repr::UInt(u) => serializer.serialize_u64(*u),
            Repr::Float(bits) => serializer.serialize_f64(f64::from_bits(*bits)),
            Repr::Str(s) => serializer.serialize_str(s),
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
    fn cross_type_order_follows_mongodb() {
        let keys = [
            IndexKey::NULL,
            IndexKey::from(i64::MIN),
            IndexKey::from(-0.5),
            IndexKey::from(0i64),
            IndexKey::from(u64::MAX),
            IndexKey::from(""),
            IndexKey::from("a"),
            IndexKey::from("b"),
            IndexKey::from(false),
            IndexKey::from(true),
        ];
        for (i, a) in keys.iter().enumerate() {
            for (j, b) in keys.iter().enumerate() {
                assert_eq!(a.cmp(b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn from_json_rejects_containers() {
        use serde_json::json;
        assert_eq!(IndexKey::from_json(&json!(null)), Some(IndexKey::NULL));
        assert_eq!(IndexKey::from_json(&json!(2)), Some(IndexKey::from(2.0)));
        assert_eq!(IndexKey::from_json(&json!(2.0)), Some(IndexKey::from(2i64)));
        assert_eq!(
            IndexKey::from_json(&json!(u64::MAX)),
            Some(IndexKey::from(u64::MAX))
        );
        assert_eq!(IndexKey::from_json(&json!(-7)), Some(IndexKey::from(-7i64)));
        assert_eq!(IndexKey::from_json(&json!("x")), Some(IndexKey::from("x")));
        assert_eq!(
            IndexKey::from_json(&json!(true)),
            Some(IndexKey::from(true))
        );
        assert_eq!(IndexKey::from_json(&json!([1])), None);
        assert_eq!(IndexKey::from_json(&json!({"a": 1})), None);
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
    }
}
