//! `KeyRange`: an interval of [`IndexKey`]s, and the bound arithmetic the ordered indexes use
//! to scan one (tightest bounds, emptiness) without ever handing `BTreeMap::range` an
//! interval it would panic on.

use std::cmp::Ordering;
use std::ops::Bound;

use crate::key::IndexKey;

/// The keys between `lo` and `hi`, in the order of [`IndexKey`] (an equality is
/// [`KeyRange::eq`], every key [`KeyRange::all`]). A range whose `lo` lies above its `hi`
/// holds nothing (it is not an error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    /// The lower bound.
    pub lo: Bound<IndexKey>,
    /// The upper bound.
    pub hi: Bound<IndexKey>,
}

impl KeyRange {
    /// Exactly `key`.
    pub fn eq(key: IndexKey) -> Self {
        Self {
            lo: Bound::Included(key.clone()),
            hi: Bound::Included(key),
        }
    }

    /// Every key.
    pub fn all() -> Self {
        Self {
            lo: Bound::Unbounded,
            hi: Bound::Unbounded,
        }
    }

    /// The keys between `lo` and `hi`.
    pub fn new(lo: Bound<IndexKey>, hi: Bound<IndexKey>) -> Self {
        Self { lo, hi }
    }

    /// True if `key` lies in the range.
    pub fn contains(&self, key: &IndexKey) -> bool {
        let above_lo = match &self.lo {
            Bound::Included(lo) => key >= lo,
            Bound::Excluded(lo) => key > lo,
            Bound::Unbounded => true,
        };
        let below_hi = match &self.hi {
            Bound::Included(hi) => key <= hi,
            Bound::Excluded(hi) => key < hi,
            Bound::Unbounded => true,
        };
        above_lo && below_hi
    }

    /// True if no key can lie in the range.
    pub fn is_empty(&self) -> bool {
        is_empty(self.lo.as_ref(), self.hi.as_ref())
    }

    /// The keys in both ranges (the tighter bound on each side).
    pub fn intersect(&self, other: &KeyRange) -> KeyRange {
        KeyRange {
            lo: max_lower(self.lo.as_ref(), other.lo.as_ref()).cloned(),
            hi: min_upper(self.hi.as_ref(), other.hi.as_ref()).cloned(),
        }
    }

    /// The bounds, borrowed.
    pub(crate) fn bounds(&self) -> (Bound<&IndexKey>, Bound<&IndexKey>) {
        (self.lo.as_ref(), self.hi.as_ref())
    }
}

/// True if no key lies between `lo` and `hi` (also every interval `BTreeMap::range` panics
/// on: `lo > hi`, or `lo == hi` with both excluded).
pub(crate) fn is_empty(lo: Bound<&IndexKey>, hi: Bound<&IndexKey>) -> bool {
    match (lo, hi) {
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => false,
        (Bound::Included(l), Bound::Included(h)) => l > h,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(h) | Bound::Excluded(h)) => {
            l >= h
        }
    }
}

/// The higher of two lower bounds.
pub(crate) fn max_lower<'k>(a: Bound<&'k IndexKey>, b: Bound<&'k IndexKey>) -> Bound<&'k IndexKey> {
    tighter(a, b, Ordering::Greater)
}

/// The lower of two upper bounds.
pub(crate) fn min_upper<'k>(a: Bound<&'k IndexKey>, b: Bound<&'k IndexKey>) -> Bound<&'k IndexKey> {
    tighter(a, b, Ordering::Less)
}

/// Of two bounds on the same side, the tighter: the one whose key compares `inward` to the
/// other's (`Greater` for lower bounds), or at the same key the exclusion.
fn tighter<'k>(
    a: Bound<&'k IndexKey>,
    b: Bound<&'k IndexKey>,
    inward: Ordering,
) -> Bound<&'k IndexKey> {
    match (a, b) {
        (Bound::Unbounded, other) | (other, Bound::Unbounded) => other,
        (a, b) => match key_of(a).cmp(key_of(b)) {
            Ordering::Equal if matches!(a, Bound::Excluded(_)) => a,
            Ordering::Equal => b,
            order if order == inward => a,
            _ => b,
        },
    }
}

/// The key of a bound that is not `Unbounded` (the callers match that case first).
fn key_of(bound: Bound<&IndexKey>) -> &IndexKey {
    match bound {
        Bound::Included(k) | Bound::Excluded(k) => k,
        Bound::Unbounded => &IndexKey::MIN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: i64) -> IndexKey {
        IndexKey::from(i)
    }

    #[test]
    fn contains_and_emptiness() {
        let r = KeyRange::new(Bound::Excluded(k(1)), Bound::Included(k(3)));
        assert!(!r.contains(&k(1)) && r.contains(&k(2)) && r.contains(&k(3)));
        assert!(!r.contains(&k(4)) && !r.is_empty());
        assert!(KeyRange::eq(k(1)).contains(&IndexKey::from(1.0)));
        assert!(KeyRange::all().contains(&IndexKey::MIN));
        assert!(KeyRange::new(Bound::Included(k(2)), Bound::Included(k(1))).is_empty());
        assert!(KeyRange::new(Bound::Excluded(k(1)), Bound::Included(k(1))).is_empty());
        assert!(KeyRange::new(Bound::Included(k(1)), Bound::Excluded(k(1))).is_empty());
        assert!(!KeyRange::eq(k(1)).is_empty());
    }

    #[test]
    fn tightest_bounds() {
        let (one, two) = (k(1), k(2));
        assert_eq!(
            max_lower(Bound::Included(&one), Bound::Excluded(&one)),
            Bound::Excluded(&one)
        );
        assert_eq!(
            max_lower(Bound::Unbounded, Bound::Included(&one)),
            Bound::Included(&one)
        );
        assert_eq!(
            max_lower(Bound::Included(&two), Bound::Excluded(&one)),
            Bound::Included(&two)
        );
        assert_eq!(
            min_upper(Bound::Included(&two), Bound::Excluded(&two)),
            Bound::Excluded(&two)
        );
        assert_eq!(
            min_upper(Bound::Included(&one), Bound::Unbounded),
            Bound::Included(&one)
        );
        assert_eq!(
            min_upper(Bound::Included(&one), Bound::Excluded(&two)),
            Bound::Included(&one)
        );
    }
}
