//! Exact comparison of numbers across the three representations an [`crate::IndexKey`] keeps
//! (`i64`, `u64` above `i64::MAX`, and floats that are not integral or out of both ranges):
//! by value, with no rounding, NaN below every other number and equal to itself.

use std::cmp::Ordering;

/// 2^63 as an `f64`: the first float above the range of `i64`.
pub(crate) const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
/// 2^64 as an `f64`: the first float above the range of `u64`.
pub(crate) const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// A number widened for comparison.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Num {
    /// Any integer in `[-2^63, 2^64)`.
    Int(i128),
    /// A float.
    Float(f64),
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

/// Compares two numbers by value; NaN is below every other number and equal to itself.
pub(crate) fn cmp_numbers(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            // `total_cmp` orders -0.0 below 0.0; keys never hold -0.0 (it is the integer 0).
            (false, false) => x.total_cmp(&y),
        },
        (Num::Int(_), Num::Float(y)) if y.is_nan() => Ordering::Greater,
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(_)) if x.is_nan() => Ordering::Less,
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}
