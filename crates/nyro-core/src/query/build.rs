//! Filters built in Rust: `Filter::path("age")?.gt(30).and(Filter::eq("city", "Lyon")?)`.
//!
//! A path is parsed where it is named ([`Filter::path`], [`Filter::eq`] return a `Result`
//! whose error names the path), so a filter that exists is a valid one; everything after
//! (conditions, [`Filter::and`], [`Filter::or`], [`Filter::not`]) is infallible. Operands
//! are anything `Into<Value>`: the `From` impls here cover booleans, integers, floats and
//! strings (a `u64` that fits i64 becomes `Int`, as from JSON).

use super::filter::{Condition, Filter};
use super::path::Path;
use crate::document::Value;
use crate::error::Result;

/// A path named in a filter being built; each condition makes a [`Filter`].
#[derive(Debug, Clone)]
pub struct Field(Path);

impl Filter {
    /// The path `path` (`"address.city"`), to put a condition on; an error if it is not a
    /// path.
    pub fn path(path: &str) -> Result<Field> {
        Path::parse(path).map(Field)
    }

    /// `{path: value}`.
    pub fn eq(path: &str, value: impl Into<Value>) -> Result<Filter> {
        Ok(Self::path(path)?.eq(value))
    }

    /// Negation: `{"$not": filter}` (`!filter` too).
    // `Filter::not(f)` reads as the JSON it stands for; `std::ops::Not` is implemented below.
    #[allow(clippy::should_implement_trait)]
    pub fn not(filter: Filter) -> Filter {
        Filter::Not(Box::new(filter))
    }

    /// Both hold (an `And` grows rather than nests).
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut all) => {
                all.push(other);
                Filter::And(all)
            }
            first => Filter::And(vec![first, other]),
        }
    }

    /// Either holds (an `Or` grows rather than nests).
    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Or(mut any) => {
                any.push(other);
                Filter::Or(any)
            }
            first => Filter::Or(vec![first, other]),
        }
    }
}

impl std::ops::Not for Filter {
    type Output = Filter;

    fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

impl Field {
    fn condition(self, condition: Condition) -> Filter {
        Filter::Path(self.0, vec![condition])
    }

    /// `$eq`.
    pub fn eq(self, value: impl Into<Value>) -> Filter {
        self.condition(Condition::Eq(value.into()))
    }

    /// `$ne`.
    pub fn ne(self, value: impl Into<Value>) -> Filter {
        self.condition(Condition::Ne(value.into()))
    }

    /// `$gt`.
    pub fn gt(self, value: impl Into<Value>) -> Filter {
        self.condition(Condition::Gt(value.into()))
    }

    /// `$gte`.
    pub fn gte(self, value: impl Into<Value>) -> Filter {
        self.condition(Condition::Gte(value.into()))
    }

    /// `$lt`.
    pub fn lt(self, value: impl Into<Value>) -> Filter {
        self.condition(Condition::Lt(value.into()))
    }

    /// `$lte`.
    pub fn lte(self, value: impl Into<Value>) -> Filter {
        self.condition(Condition::Lte(value.into()))
    }

    /// `$in`.
    pub fn in_<V: Into<Value>>(self, values: impl IntoIterator<Item = V>) -> Filter {
        self.condition(Condition::In(values.into_iter().map(Into::into).collect()))
    }

    /// `$nin`.
    pub fn nin<V: Into<Value>>(self, values: impl IntoIterator<Item = V>) -> Filter {
        self.condition(Condition::Nin(values.into_iter().map(Into::into).collect()))
    }

    /// `$exists`.
    pub fn exists(self, there: bool) -> Filter {
        self.condition(Condition::Exists(there))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i64::from(i))
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<u64> for Value {
    fn from(u: u64) -> Self {
        i64::try_from(u).map_or(Value::UInt(u), Value::Int)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn built_filters_equal_parsed_ones() {
        let built = Filter::path("age")
            .unwrap()
            .gt(30)
            .and(Filter::eq("city", "Lyon").unwrap())
            .and(Filter::not(Filter::path("tags").unwrap().in_(["a", "b"])));
        let parsed = Filter::parse(&json!({"$and": [
            {"age": {"$gt": 30}}, {"city": "Lyon"}, {"$not": {"tags": {"$in": ["a", "b"]}}}
        ]}))
        .unwrap();
        assert_eq!(built, parsed.clone());
        let Filter::And(parts) = parsed else {
            panic!("not an And");
        };
        assert_eq!(parts.len(), 3);

        let field = |p: &str| Filter::path(p).unwrap();
        let built = field("a")
            .gte(1.5)
            .or(field("b").lt(u64::MAX))
            .or(field("c").exists(false))
            .or(field("d").ne(true))
            .or(field("e").lte(-2))
            .or(field("f").nin(Vec::<Value>::new()))
            .or(field("g").eq(Value::Null));
        let parsed = Filter::parse(&json!({"$or": [
            {"a": {"$gte": 1.5}}, {"b": {"$lt": u64::MAX}}, {"c": {"$exists": false}},
            {"d": {"$ne": true}}, {"e": {"$lte": -2}}, {"f": {"$nin": []}}, {"g": null}
        ]}))
        .unwrap();
        assert_eq!(built, parsed);
    }

    #[test]
    fn a_bad_path_is_an_error_where_it_is_named() {
        assert_eq!(!Filter::All, Filter::not(Filter::All));
        let err = Filter::eq("a..b", 1).unwrap_err().to_string();
        assert!(err.contains("\"a..b\""), "{err}");
        assert!(Filter::path("").is_err());
        assert_eq!(Value::from(5u64), Value::Int(5));
        assert_eq!(Value::from(u64::MAX), Value::UInt(u64::MAX));
    }
}
