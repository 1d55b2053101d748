//! What `_explain` answers: the plan a query ran with (its way of reading, the index lookups
//! with their bounds) and what its first page examined and returned.

use std::ops::Bound;

use nyro_index::{IndexKey, KeyRange};

use super::plan::{Access, Candidates, Plan, kind_bounds};

/// What a query did, as `_explain` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Explain {
    /// "index" (candidates from indexes), "index_order" (walking the sort index) or "scan".
    pub access: &'static str,
    /// The index lookups, with their bounds.
    pub indexes: Vec<ExplainLookup>,
    /// True if the collection's documents were read in id order, none skipped by an index.
    pub scan: bool,
    /// The sort: path and direction.
    pub sort: (String, &'static str),
    /// The documents the planner expected to read.
    pub estimated: u64,
    /// Documents read.
    pub examined: u64,
    /// Documents returned (or counted).
    pub returned: u64,
}

/// One index lookup of a plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExplainLookup {
    /// The indexed path.
    pub path: String,
    /// Each range, as `[lo, hi]` with `[`/`(` for inclusive/exclusive, `-inf`/`+inf`.
    pub bounds: Vec<String>,
    /// Index entries under the bounds.
    pub entries: u64,
    /// "and" when intersected with the others, "or" when united.
    pub combine: &'static str,
}

impl Plan {
    /// The plan as `_explain` shows it, before counting.
    pub(crate) fn explain(&self) -> Explain {
        let mut indexes = Vec::new();
        let access = match &self.access {
            Access::Candidates(served) => {
                lookups(&served.candidates, "and", &mut indexes);
                "index"
            }
            Access::Walk => "index_order",
            Access::Scan => "scan",
        };
        Explain {
            access,
            indexes,
            scan: matches!(self.access, Access::Scan),
            sort: (
                self.sort.path.as_str().to_owned(),
                if self.sort.descending { "desc" } else { "asc" },
            ),
            estimated: self.estimate as u64,
            examined: 0,
            returned: 0,
        }
    }
}

fn lookups(candidates: &Candidates, combine: &'static str, out: &mut Vec<ExplainLookup>) {
    match candidates {
        Candidates::Ids(ids) => out.push(ExplainLookup {
            path: crate::document::ID_FIELD.to_owned(),
            bounds: ids.iter().map(|id| format!("[{id}, {id}]")).collect(),
            entries: ids.len() as u64,
            combine,
        }),
        Candidates::Lookup(lookup) => out.push(ExplainLookup {
            path: lookup.path.as_str().to_owned(),
            bounds: lookup.ranges.iter().map(show_range).collect(),
            entries: lookup.estimate as u64,
            combine,
        }),
        Candidates::And(sets) => sets.iter().for_each(|s| lookups(s, "and", out)),
        Candidates::Or(sets) => sets.iter().for_each(|s| lookups(s, "or", out)),
    }
}

fn show_range(range: &KeyRange) -> String {
    // A bound that is the edge of the other bound's kind (a range kept inside one kind)
    // shows as an infinity of that kind.
    let kind_of = |bound: &Bound<IndexKey>| match bound {
        Bound::Included(key) | Bound::Excluded(key) => Some(kind_bounds(key)),
        Bound::Unbounded => None,
    };
    let (lo_edge, hi_edge) = (kind_of(&range.hi), kind_of(&range.lo));
    let show = |bound: &Bound<IndexKey>, low: bool| {
        let edge = if low {
            lo_edge.as_ref().map(|(first, _)| first)
        } else {
            hi_edge.as_ref().map(|(_, after)| after)
        };
        let infinite = if low { "-inf" } else { "+inf" };
        let (open, close) = if low { ("[", "(") } else { ("]", ")") };
        match bound {
            Bound::Unbounded => (close, infinite.to_owned()),
            _ if edge == Some(bound) && !matches!(bound, Bound::Included(k) if k.is_null()) => {
                (close, infinite.to_owned())
            }
            Bound::Included(key) => (open, key.to_string()),
            Bound::Excluded(key) => (close, key.to_string()),
        }
    };
    let (open, lo) = show(&range.lo, true);
    let (close, hi) = show(&range.hi, false);
    format!("{open}{lo}, {hi}{close}")
}
