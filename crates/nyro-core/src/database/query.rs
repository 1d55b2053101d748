//! Running a query: the plan of `query::plan` carried out against a collection's indexes and
//! log, a page at a time, with every document read counted against `query.max_scan`.
//!
//! Documents are handed to the caller as borrowed views; the filter is checked on each
//! view (never on an owned document). Index entries are taken a chunk at a time under the
//! collection's visibility lock (a write of several documents is seen whole or not at all
//! within a chunk) and the documents are read after the lock is let go, so a long walk
//! never holds writers up for more than one chunk.

use std::cmp::Ordering;
use std::ops::ControlFlow;

use nyro_index::{IndexKey, KeyRange};
use smallvec::SmallVec;

use super::Database;
use crate::catalog::{Collection, validate_name};
use crate::error::{DbError, Result};
use crate::query::cursor::{self, Position};
use crate::query::keys::index_keys;
use crate::query::plan::{self, Access, Candidates, Plan};
use crate::query::{After, Explain, Filter, Next, Outcome, Query, Sort};
use crate::scan::DOCUMENTS_CHUNK;
use crate::types::MAX_PAGE;
use crate::view::DocumentView;

/// Index entries a walk takes per visit of the index.
const WALK_CHUNK: usize = 256;

/// The planner's view of a collection's indexes.
struct IndexesOf<'c>(&'c Collection);

impl plan::Indexes for IndexesOf<'_> {
    fn total(&self) -> usize {
        self.0.index.len()
    }

    fn is_ready(&self, path: &str) -> bool {
        self.0.index.is_indexed(path)
    }

    fn single_key(&self, path: &str) -> bool {
        self.0.index.is_single_key(path).unwrap_or(false)
    }

    fn estimate(&self, path: &str, ranges: &[KeyRange]) -> usize {
        ranges
            .iter()
            .map(|range| self.0.index.estimate(path, range).unwrap_or(usize::MAX))
            .fold(0, usize::saturating_add)
    }
}

/// The key a document sorts by: its smallest index key for the sort path ascending, its
/// largest descending (an array by its smallest or largest element, `[]` first, a missing
/// path as null), its id for `_id`.
pub(crate) fn sort_key(view: &DocumentView<'_>, sort: &Sort) -> IndexKey {
    if sort.path.is_id() {
        return IndexKey::from(view.id());
    }
    let mut keys: SmallVec<[IndexKey; 4]> = SmallVec::new();
    index_keys(view, &sort.path, &mut keys);
    let key = if sort.descending {
        keys.into_iter().max()
    } else {
        keys.into_iter().min()
    };
    key.unwrap_or(IndexKey::NULL)
}

/// `a` before `b` in the sort's order (key, then id; both reversed descending).
fn order(sort: &Sort, a: &Position, b: &Position) -> Ordering {
    let ascending = a.key.cmp(&b.key).then(a.id.cmp(&b.id));
    if sort.descending {
        ascending.reverse()
    } else {
        ascending
    }
}

/// A page being filled: the filter checked on each document offered, the first `limit`
/// matches handed out, one more looked for so that `next` is null exactly on the last page,
/// and reading stopped at `max_scan`.
struct Pager<'q, F> {
    filter: &'q Filter,
    limit: usize,
    max_scan: u64,
    /// Counting: every match counted, none handed out, and passing `max_scan` an error.
    counting: bool,
    examined: u64,
    returned: u64,
    /// The last document handed out.
    last: Option<Position>,
    /// The last document examined.
    reached: Option<Position>,
    /// A match was found after a full page.
    more: bool,
    /// Reading stopped at `max_scan`.
    cut: bool,
    f: F,
}

impl<F: FnMut(DocumentView<'_>)> Pager<'_, F> {
    /// Offers the document `view` at `position` of the order being read; `Break` once the
    /// page is settled.
    fn offer(&mut self, view: DocumentView<'_>, position: Position) -> ControlFlow<()> {
        if self.examined >= self.max_scan {
            self.cut = true;
            return ControlFlow::Break(());
        }
        self.examined += 1;
        if self.filter.matches(&view) {
            if self.counting {
                self.returned += 1;
            } else if self.returned as usize == self.limit {
                self.more = true;
                return ControlFlow::Break(());
            } else {
                (self.f)(view);
                self.returned += 1;
                self.last = Some(position.clone());
            }
        }
        self.reached = Some(position);
        ControlFlow::Continue(())
    }

    /// Counts a document read at `position` that is not offered (a walk meets a document
    /// under a key that is not its sort key); `Break` at `max_scan`.
    fn skip(&mut self, position: Position) -> ControlFlow<()> {
        if self.examined >= self.max_scan {
            self.cut = true;
            return ControlFlow::Break(());
        }
        self.examined += 1;
        self.reached = Some(position);
        ControlFlow::Continue(())
    }

    /// Where the next page starts.
    fn next(&self) -> Option<&Position> {
        if self.more {
            self.last.as_ref()
        } else if self.cut {
            self.reached.as_ref()
        } else {
            None
        }
    }
}

impl Database {
    /// Runs one page of `query` on `collection`, handing each document of the page to `f`
    /// as a borrowed view (whole: `query.fields` is the caller's to apply, see
    /// `query::project`). With `query.count`, `f` is not called and the outcome holds the
    /// count. Errors: 400 for a bad path, limit or cursor, a count past `query.max_scan`;
    /// `not_indexed` for a sort on a path without a ready index.
    pub fn query_with(
        &self,
        collection: &str,
        query: &Query,
        f: impl FnMut(DocumentView<'_>),
    ) -> Result<Outcome> {
        let _permit = self.permit()?;
        validate_name(collection)?;
        if !(1..=MAX_PAGE).contains(&query.limit) {
            return Err(DbError::invalid(format!(
                "limit must be from 1 to {MAX_PAGE}, got {}",
                query.limit
            )));
        }
        for path in plan::filter_paths(&query.filter) {
            path.check()?;
        }
        for path in query.fields.iter().flatten() {
            path.check()?;
        }
        let c = self.inner.state.collection(collection)?;
        let sort = query.sort.clone().unwrap_or_default();
        sort.path.check()?;
        if !sort.path.is_id() && !c.index.is_indexed(sort.path.as_str()) {
            return Err(DbError::NotIndexed {
                collection: collection.to_owned(),
                field: sort.path.to_string(),
            });
        }
        let from = match &query.after {
            None => None,
            Some(After::Id(id)) => Some(Position {
                key: IndexKey::from(*id),
                id: *id,
            }),
            Some(After::Cursor(text)) => Some(cursor::decode(&sort, text)?),
        };
        let max_scan = self.inner.max_scan;
        let plan = plan::plan(
            &IndexesOf(&c),
            &query.filter,
            sort,
            query.limit,
            usize::try_from(max_scan).unwrap_or(usize::MAX),
            query.count,
        );
        let mut pager = Pager {
            filter: &query.filter,
            limit: query.limit,
            max_scan,
            counting: query.count,
            examined: 0,
            returned: 0,
            last: None,
            reached: None,
            more: false,
            cut: false,
            f,
        };
        let mut counted = None;
        match &plan.access {
            Access::Candidates(served) if query.count && served.exact => {
                let _whole_writes = c.reading();
                counted = Some(self.candidates(&c, &served.candidates)?.len() as u64);
            }
            Access::Candidates(served) => {
                self.read_candidates(&c, &plan, &served.candidates, from, &mut pager)?;
            }
            Access::Walk => self.walk(&c, &plan.sort, &plan.walk_range, from, &mut pager)?,
            Access::Scan => self.scan_ids(&c, &plan.sort, from, &mut pager)?,
        }
        if query.count && pager.cut {
            return Err(too_many(&c, &query.filter, max_scan));
        }
        let mut explain: Explain = plan.explain();
        explain.examined = pager.examined;
        explain.returned = counted.unwrap_or(pager.returned);
        let next = pager.next().map(|position| match query.sort {
            None => Next::Id(position.id),
            Some(_) => Next::Cursor(cursor::encode(&plan.sort, position)),
        });
        Ok(Outcome {
            next: if query.count { None } else { next },
            count: query.count.then_some(explain.returned),
            explain,
        })
    }

    /// The plan of `query` and what its first page costs (the page is read, not returned).
    pub fn explain(&self, collection: &str, query: &Query) -> Result<Explain> {
        Ok(self.query_with(collection, query, |_| {})?.explain)
    }

    /// The ids the candidate sets give, ascending.
    fn candidates(&self, c: &Collection, candidates: &Candidates) -> Result<Vec<u64>> {
        Ok(match candidates {
            Candidates::Ids(ids) => ids
                .iter()
                .copied()
                .filter(|&id| c.index.primary().contains(id))
                .collect(),
            Candidates::Lookup(lookup) => c
                .index
                .ids_in(lookup.path.as_str(), &lookup.ranges)
                .map_err(|e| DbError::invalid(e.to_string()))?,
            Candidates::And(sets) => {
                let mut ids: Option<Vec<u64>> = None;
                for set in sets {
                    let next = self.candidates(c, set)?;
                    ids = Some(match ids {
                        None => next,
                        Some(ids) => intersect(&ids, &next),
                    });
                    if ids.as_ref().is_some_and(Vec::is_empty) {
                        break;
                    }
                }
                ids.unwrap_or_default()
            }
            Candidates::Or(sets) => {
                let mut ids = Vec::new();
                for set in sets {
                    ids.extend(self.candidates(c, set)?);
                }
                ids.sort_unstable();
                ids.dedup();
                ids
            }
        })
    }

    /// Reads the candidates: in id order straight into the page, or, sorted by a path, all
    /// of them first to sort the matches by their sort keys.
    fn read_candidates<F: FnMut(DocumentView<'_>)>(
        &self,
        c: &Collection,
        plan: &Plan,
        candidates: &Candidates,
        from: Option<Position>,
        pager: &mut Pager<'_, F>,
    ) -> Result<()> {
        let mut ids = {
            let _whole_writes = c.reading();
            self.candidates(c, candidates)?
        };
        let sort = &plan.sort;
        if sort.path.is_id() || pager.counting {
            if sort.descending && !pager.counting {
                ids.reverse();
            }
            let start = match &from {
                Some(from) if !pager.counting => ids
                    .iter()
                    .position(|&id| order(sort, &id_position(id), from) == Ordering::Greater)
                    .unwrap_or(ids.len()),
                _ => 0,
            };
            return self.read_in_order(c, sort, &ids[start..], pager);
        }
        // Sorted by a path: every candidate's sort key, then the page.
        let mut keyed: Vec<Position> = Vec::new();
        let filter = pager.filter;
        let mut examined = 0;
        for chunk in ids.chunks(DOCUMENTS_CHUNK) {
            let mut snapshot = self.inner.reader.snapshot();
            for &id in chunk {
                let Some(location) = c.index.primary().get(id) else {
                    continue;
                };
                examined += 1;
                let key = self.read_view_in(Some(&mut snapshot), c, id, location, |view| {
                    filter.matches(&view).then(|| sort_key(&view, sort))
                })?;
                keyed.extend(key.flatten().map(|key| Position { key, id }));
            }
        }
        keyed.retain(|p| {
            from.as_ref()
                .is_none_or(|from| order(sort, p, from) == Ordering::Greater)
        });
        keyed.sort_by(|a, b| order(sort, a, b));
        let page: Vec<u64> = keyed.iter().take(pager.limit).map(|p| p.id).collect();
        // The page's documents are read again to hand them out; each counts once.
        let before = pager.examined;
        self.read_in_order(c, sort, &page, pager)?;
        pager.examined = before + examined;
        if keyed.len() > page.len() {
            pager.more = true;
        }
        Ok(())
    }

    /// Offers the documents of `ids` (in the order given) to the pager.
    fn read_in_order<F: FnMut(DocumentView<'_>)>(
        &self,
        c: &Collection,
        sort: &Sort,
        ids: &[u64],
        pager: &mut Pager<'_, F>,
    ) -> Result<()> {
        for chunk in ids.chunks(DOCUMENTS_CHUNK) {
            let mut snapshot = self.inner.reader.snapshot();
            for &id in chunk {
                let Some(location) = c.index.primary().get(id) else {
                    continue;
                };
                let flow = self.read_view_in(Some(&mut snapshot), c, id, location, |view| {
                    let key = sort_key(&view, sort);
                    pager.offer(view, Position { key, id })
                })?;
                if let Some(ControlFlow::Break(())) = flow {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Every document in id order, ascending or descending.
    fn scan_ids<F: FnMut(DocumentView<'_>)>(
        &self,
        c: &Collection,
        sort: &Sort,
        from: Option<Position>,
        pager: &mut Pager<'_, F>,
    ) -> Result<()> {
        let mut after = from.map(|p| p.id);
        loop {
            let chunk = {
                let _whole_writes = c.reading();
                if sort.descending {
                    c.index.primary().page_desc(after, DOCUMENTS_CHUNK)
                } else {
                    c.index.primary().page(after, DOCUMENTS_CHUNK)
                }
            };
            let Some(&(last, _)) = chunk.last() else {
                return Ok(());
            };
            let mut snapshot = self.inner.reader.snapshot();
            for &(id, location) in &chunk {
                let flow = self.read_view_in(Some(&mut snapshot), c, id, location, |view| {
                    pager.offer(view, id_position(id))
                })?;
                if let Some(ControlFlow::Break(())) = flow {
                    return Ok(());
                }
            }
            after = Some(last);
        }
    }

    /// The sort path's index in the sort's order; a document is offered at its own sort key
    /// only (an array is under each of its elements), so once across the walk.
    fn walk<F: FnMut(DocumentView<'_>)>(
        &self,
        c: &Collection,
        sort: &Sort,
        range: &KeyRange,
        mut from: Option<Position>,
        pager: &mut Pager<'_, F>,
    ) -> Result<()> {
        let path = sort.path.as_str();
        loop {
            let mut entries: Vec<Position> = Vec::with_capacity(WALK_CHUNK);
            {
                let _whole_writes = c.reading();
                let start = from.as_ref().map(|p| (&p.key, p.id));
                c.index
                    .walk(path, range, start, sort.descending, |key, id| {
                        entries.push(Position {
                            key: key.clone(),
                            id,
                        });
                        if entries.len() == WALK_CHUNK {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    })
                    .map_err(|e| DbError::invalid(e.to_string()))?;
            }
            let Some(last) = entries.last().cloned() else {
                return Ok(());
            };
            let mut snapshot = self.inner.reader.snapshot();
            for entry in entries {
                let Some(location) = c.index.primary().get(entry.id) else {
                    continue;
                };
                let flow =
                    self.read_view_in(Some(&mut snapshot), c, entry.id, location, |view| {
                        if sort_key(&view, sort) == entry.key {
                            pager.offer(view, entry.clone())
                        } else {
                            pager.skip(entry.clone())
                        }
                    })?;
                if let Some(ControlFlow::Break(())) = flow {
                    return Ok(());
                }
            }
            from = Some(last);
        }
    }
}

/// The position of a document in `_id` order.
fn id_position(id: u64) -> Position {
    Position {
        key: IndexKey::from(id),
        id,
    }
}

/// Ids in both ascending lists.
fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small
        .iter()
        .copied()
        .filter(|id| large.binary_search(id).is_ok())
        .collect()
}

/// A count that would read more than `max_scan` documents: the message names the first path
/// of the filter without a ready index (`_id` needs none).
fn too_many(c: &Collection, filter: &Filter, max_scan: u64) -> DbError {
    let collection = &*c.name;
    let hint = plan::filter_paths(filter)
        .into_iter()
        .find(|path| !path.is_id() && !c.index.is_indexed(path.as_str()))
        .map(|path| {
            format!(
                "add an index on {:?} (POST /v1/collections/{collection}/_indexes)",
                path.as_str()
            )
        })
        .unwrap_or_else(|| "narrow the filter".to_owned());
    DbError::invalid(format!(
        "the count reads more than query.max_scan = {max_scan} documents of collection \
         {collection:?}; {hint}, or raise query.max_scan"
    ))
}
