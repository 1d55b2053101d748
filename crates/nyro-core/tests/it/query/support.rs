//! What the query tests share: running every page of a query, and the plain answer.

use nyro_core::query::{Filter, Next, Path, Query, order::sort_key};
use nyro_core::{Database, DocumentView};

/// One page's documents as JSON, and its `next`.
pub fn page(
    db: &Database,
    collection: &str,
    query: &Query,
) -> (Vec<serde_json::Value>, Option<Next>) {
    let mut docs = Vec::new();
    let outcome = db
        .query_with(collection, query, |view| {
            docs.push(view.to_document().to_json())
        })
        .unwrap_or_else(|e| panic!("query {query:?} failed: {e}"));
    (docs, outcome.next)
}

/// The ids of every page of `query`, in order; panics past `bound` pages.
pub fn all_ids(db: &Database, collection: &str, query: &Query, bound: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut query = query.clone();
    for _ in 0..bound {
        let (docs, next) = page(db, collection, &query);
        ids.extend(docs.iter().map(|d| d["_id"].as_u64().unwrap()));
        match next {
            None => return ids,
            Some(next) => {
                assert_eq!(docs.len(), query.limit, "a page before the last is full");
                query = query.after(next);
            }
        }
    }
    panic!("more than {bound} pages");
}

/// Every stored document's id and bytes.
pub fn stored(db: &Database, collection: &str) -> Vec<(u64, Vec<u8>)> {
    let mut all = Vec::new();
    db.scan_with(collection, None, |view| {
        all.push((view.id(), view.bytes().to_vec()));
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    all
}

/// The ids of the documents `filter` matches, in the order of `sort` (path, descending),
/// ties by id in the same direction: the plain answer.
pub fn plain(
    db: &Database,
    collection: &str,
    filter: &Filter,
    sort: Option<(&str, bool)>,
) -> Vec<u64> {
    let docs = stored(db, collection);
    let views: Vec<DocumentView<'_>> = docs
        .iter()
        .map(|(id, bytes)| DocumentView::new(*id, bytes).unwrap())
        .filter(|view| filter.matches(view))
        .collect();
    let mut views = views;
    if let Some((path, descending)) = sort {
        let path = Path::parse(path).unwrap();
        views.sort_by(|a, b| {
            let order = sort_key(a, &path, descending)
                .cmp(&sort_key(b, &path, descending))
                .then(a.id().cmp(&b.id()));
            if descending { order.reverse() } else { order }
        });
    }
    views.iter().map(DocumentView::id).collect()
}
