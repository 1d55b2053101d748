//! Comparing nodes: their collections, every record of each (read with
//! `consistency=local` in a cluster: the node's own state) and their change feeds, record
//! by record.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::http::{Until, read_feed};
use super::{Cluster, WAIT, wait_until};

/// Most differences one comparison lists.
const MAX_LINES: usize = 40;
/// Longest one node's feed may take to reach its own last seq.
const FEED_TIMEOUT: Duration = Duration::from_secs(10);
/// Records per page when listing.
const PAGE: u32 = 10_000;

/// What one node holds.
#[derive(Debug)]
struct Holding {
    node: u64,
    /// `GET /v1/collections`, sorted by name.
    collections: Vec<Value>,
    /// Every record of each collection, by `_id`.
    records: BTreeMap<String, BTreeMap<u64, Value>>,
    /// The seq its change feed was read after: 0, or the floor below which compaction
    /// removed changes (it refused a replay from 0).
    feed_from: u64,
    /// Its change feed from `feed_from` up to its `last_seq`.
    feed: Vec<Value>,
}

impl Cluster {
    /// A successful `GET path` on node `i`, or why not.
    async fn read_json(&self, i: usize, path: &str) -> Result<Value, String> {
        let reply = self.try_request(i, Method::GET, path, None).await?;
        if reply.status == 200 {
            Ok(reply.body)
        } else {
            Err(format!("node {}: GET {path}: {reply}", self.node(i).id()))
        }
    }

    /// Every record of collection `name` on node `i`, page by page, at `consistency=local`
    /// (standalone servers take no `consistency`).
    async fn records_of(&self, i: usize, name: &str) -> Result<BTreeMap<u64, Value>, String> {
        let mut records = BTreeMap::new();
        let mut after: Option<u64> = None;
        loop {
            let mut path = format!("/v1/collections/{name}/records?limit={PAGE}");
            if self.options().cluster {
                path.push_str("&consistency=local");
            }
            if let Some(after) = after {
                path.push_str(&format!("&after={after}"));
            }
            let page = self.read_json(i, &path).await?;
            let Some(list) = page["records"].as_array() else {
                return Err(format!("GET {path}: no records array in {page}"));
            };
            for record in list {
                let Some(id) = record["_id"].as_u64() else {
                    return Err(format!("GET {path}: a record without _id: {record}"));
                };
                records.insert(id, record.clone());
            }
            match &page["next"] {
                Value::Null => return Ok(records),
                next => {
                    let next = next
                        .as_u64()
                        .ok_or_else(|| format!("GET {path}: next is not an id: {next}"))?;
                    after = Some(next);
                }
            }
        }
    }

    /// Every record of collection `name` on node `i` (its own state), by `_id`; panics if
    /// they cannot be read.
    pub async fn records(&self, i: usize, name: &str) -> BTreeMap<u64, Value> {
        self.records_of(i, name)
            .await
            .unwrap_or_else(|e| panic!("listing {name} on node {}: {e}", self.node(i).id()))
    }

    /// What node `i` holds of collection `name`, once it is checked to hold every write of
    /// `acked` (id -> document as acknowledged) exactly; panics naming what it lacks.
    pub async fn assert_holds(
        &self,
        i: usize,
        name: &str,
        acked: &BTreeMap<u64, Value>,
    ) -> BTreeMap<u64, Value> {
        let stored = self.records(i, name).await;
        let node = self.node(i).id();
        let lost: Vec<&u64> = acked.keys().filter(|id| !stored.contains_key(id)).collect();
        assert!(
            lost.is_empty(),
            "node {node} lacks {} of {} acknowledged writes: {lost:?}",
            lost.len(),
            acked.len()
        );
        for (id, doc) in acked {
            assert_eq!(stored.get(id), Some(doc), "node {node}, _id {id}");
        }
        stored
    }

    /// What node `i` holds.
    async fn holding(&self, i: usize) -> Result<Holding, String> {
        let listed = self.read_json(i, "/v1/collections").await?;
        let mut collections = listed["collections"]
            .as_array()
            .ok_or_else(|| format!("GET /v1/collections: no collections array in {listed}"))?
            .clone();
        collections.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let mut records = BTreeMap::new();
        for collection in &collections {
            let name = collection["name"].as_str().ok_or_else(|| {
                format!("GET /v1/collections: a collection without a name: {collection}")
            })?;
            records.insert(name.to_string(), self.records_of(i, name).await?);
        }
        let stats = self.read_json(i, "/v1/stats").await?;
        let last_seq = stats["last_seq"]
            .as_u64()
            .ok_or_else(|| format!("GET /v1/stats: no last_seq in {stats}"))?;
        let url = self.node(i).url();
        let id = self.node(i).id();
        let (feed_from, feed) = match read_feed(&url, 0, Until::Seq(last_seq), FEED_TIMEOUT).await {
            Ok(feed) => (0, feed),
            // Compaction removed the oldest changes: compare what is retained.
            Err(e) if e.compacted_floor().is_some() => {
                let floor = e.compacted_floor().unwrap_or_default();
                let feed = read_feed(&url, floor, Until::Seq(last_seq), FEED_TIMEOUT)
                    .await
                    .map_err(|e| format!("node {id}: {e}"))?;
                (floor, feed)
            }
            Err(e) => return Err(format!("node {id}: {e}")),
        };
        Ok(Holding {
            node: id,
            collections,
            records,
            feed_from,
            feed,
        })
    }

    /// Whether nodes `nodes` hold the same collections, records and change feed now; the
    /// differences (at most [`MAX_LINES`]) if not, or why one could not be read.
    pub async fn differences(&self, nodes: &[usize]) -> Result<(), String> {
        let mut holdings = Vec::new();
        for &i in nodes {
            holdings.push(self.holding(i).await?);
        }
        let Some((first, others)) = holdings.split_first() else {
            return Ok(());
        };
        let mut lines = Vec::new();
        for other in others {
            diff(first, other, &mut lines);
        }
        if lines.is_empty() {
            return Ok(());
        }
        let more = lines.len().saturating_sub(MAX_LINES);
        lines.truncate(MAX_LINES);
        if more > 0 {
            lines.push(format!("... and {more} more differences"));
        }
        Err(lines.join("\n"))
    }

    /// Polls until nodes `nodes` hold the same data and feeds ([`Cluster::differences`]);
    /// panics with the last differences after [`WAIT`].
    pub async fn assert_converged_on(&self, nodes: &[usize]) {
        let mut last = String::new();
        let converged = wait_until(WAIT, async || match self.differences(nodes).await {
            Ok(()) => Some(()),
            Err(differences) => {
                last = differences;
                None
            }
        })
        .await;
        let ids: Vec<u64> = nodes.iter().map(|&i| self.node(i).id()).collect();
        assert!(
            converged.is_some(),
            "nodes {ids:?} did not converge within {WAIT:?}; the last comparison:\n{last}"
        );
    }

    /// [`Cluster::assert_converged_on`] the running members.
    pub async fn assert_converged(&self) {
        self.assert_converged_on(&self.running_members()).await;
    }
}

/// Appends what differs between `a` and `b` to `lines`.
fn diff(a: &Holding, b: &Holding, lines: &mut Vec<String>) {
    let (na, nb) = (a.node, b.node);
    if a.collections != b.collections {
        lines.push(format!(
            "collections: node {na} lists {}, node {nb} lists {}",
            Value::from(a.collections.clone()),
            Value::from(b.collections.clone())
        ));
    }
    let names: BTreeSet<&String> = a.records.keys().chain(b.records.keys()).collect();
    let empty = BTreeMap::new();
    for name in names {
        let ra = a.records.get(name).unwrap_or(&empty);
        let rb = b.records.get(name).unwrap_or(&empty);
        let ids: BTreeSet<&u64> = ra.keys().chain(rb.keys()).collect();
        for id in ids {
            match (ra.get(id), rb.get(id)) {
                (Some(x), None) => lines.push(format!("{name} _id {id}: only on node {na}: {x}")),
                (None, Some(y)) => lines.push(format!("{name} _id {id}: only on node {nb}: {y}")),
                (Some(x), Some(y)) if x != y => lines.push(format!(
                    "{name} _id {id}: node {na} has {x}, node {nb} has {y}"
                )),
                _ => {}
            }
        }
    }
    // Both feeds after the higher of their floors (0 unless compaction removed history).
    let from = a.feed_from.max(b.feed_from);
    let after = |feed: &[Value]| -> Vec<Value> {
        let retained = feed
            .iter()
            .filter(|e| e["seq"].as_u64().is_none_or(|s| s > from));
        retained.cloned().collect()
    };
    let (fa, fb) = (after(&a.feed), after(&b.feed));
    if let Some(k) = fa.iter().zip(&fb).position(|(x, y)| x != y) {
        lines.push(format!(
            "change feed after seq {from}, event #{k}: node {na} sent {}, node {nb} sent {}",
            fa[k], fb[k]
        ));
    }
    if fa.len() != fb.len() {
        let last = |feed: &[Value]| feed.last().map_or(Value::Null, |e| e["seq"].clone());
        lines.push(format!(
            "change feed after seq {from}: node {na} sent {} events (last seq {}), node {nb} sent {} (last seq {})",
            fa.len(),
            last(&fa),
            fb.len(),
            last(&fb)
        ));
    }
}
