//! The query benchmark's documents, its queries with their random parameters, and the
//! answers every store must give (computed here from the documents, so that each store's
//! answers are checked before it is timed).

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Distinct values of `city` (`city-0000` to `city-0999`).
pub const CITIES: u32 = 1_000;
/// Distinct values of `tags` (`tag-000` to `tag-199`); each document has 3 of them.
pub const TAGS: u32 = 200;
/// `score` (unindexed) is uniform in `0..SCORES`: about 10 documents per value in 1,000,000,
/// so a page of 100 is never full and the scan goes through every document.
pub const SCORES: u64 = 100_000;
/// The documents every page query asks for (and the range's width).
pub const PAGE: usize = 100;
/// The `$in` query's number of values.
pub const IN_VALUES: usize = 10;
/// The paths every store indexes.
pub const INDEXED: [&str; 3] = ["n", "city", "tags"];

/// One document: `{"n", "city", "tags", "score", "name"}`, with its id (1-based, the same in
/// every store).
pub struct Doc {
    /// Its id, `1..=docs`.
    pub id: u64,
    /// A permutation of `0..docs` over the documents (so a range of 100 values holds 100).
    pub n: u64,
    /// Which city (`city-NNNN`).
    pub city: u32,
    /// Three distinct tags (`tag-NNN`).
    pub tags: [u32; 3],
    /// Unindexed, uniform in `0..SCORES`.
    pub score: u64,
    /// Ten random letters.
    pub name: String,
}

/// The name of city `c`.
pub fn city(c: u32) -> String {
    format!("city-{c:04}")
}

/// The name of tag `t`.
pub fn tag(t: u32) -> String {
    format!("tag-{t:03}")
}

impl Doc {
    /// The document as JSON text (about 110 bytes), without `_id`.
    pub fn json(&self) -> String {
        let [a, b, c] = self.tags;
        format!(
            r#"{{"n":{},"city":"{}","tags":["{}","{}","{}"],"score":{},"name":"{}"}}"#,
            self.n,
            city(self.city),
            tag(a),
            tag(b),
            tag(c),
            self.score,
            self.name
        )
    }
}

/// Every document, in id order, and `by_n[v]` = the id of the document whose `n` is `v`.
pub struct Dataset {
    /// The documents, `docs[i].id == i + 1`.
    pub docs: Vec<Doc>,
    by_n: Vec<u64>,
}

impl Dataset {
    /// `count` documents, the same for every run with the same count.
    pub fn new(count: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(18);
        let mut ns: Vec<u64> = (0..count).collect();
        ns.shuffle(&mut rng);
        let all_tags: Vec<u32> = (0..TAGS).collect();
        let docs: Vec<Doc> = ns
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let mut tags = [0; 3];
                for (slot, t) in tags.iter_mut().zip(all_tags.choose_multiple(&mut rng, 3)) {
                    *slot = *t;
                }
                Doc {
                    id: i as u64 + 1,
                    n,
                    city: rng.random_range(0..CITIES),
                    tags,
                    score: rng.random_range(0..SCORES),
                    name: (0..10).map(|_| rng.random_range('a'..='z')).collect(),
                }
            })
            .collect();
        let mut by_n = vec![0; docs.len()];
        for doc in &docs {
            by_n[doc.n as usize] = doc.id;
        }
        Self { docs, by_n }
    }

    /// The answer `query` must get.
    pub fn expect(&self, query: &Query) -> Answer {
        let first = |keep: &dyn Fn(&Doc) -> bool| {
            Answer::Ids(
                self.docs
                    .iter()
                    .filter(|d| keep(d))
                    .take(PAGE)
                    .map(|d| d.id)
                    .collect(),
            )
        };
        match query {
            Query::Eq { city } => first(&|d| d.city == *city),
            Query::Range { lo } => {
                let mut ids = self.by_n[*lo as usize..][..PAGE].to_vec();
                ids.sort_unstable();
                Answer::Ids(ids)
            }
            Query::Sorted { lo } => Answer::Ids(self.by_n[*lo as usize..][..PAGE].to_vec()),
            Query::In { cities } => first(&|d| cities.contains(&d.city)),
            Query::Contains { tag } => first(&|d| d.tags.contains(tag)),
            Query::Count { city } => {
                Answer::Count(self.docs.iter().filter(|d| d.city == *city).count() as u64)
            }
            Query::Scan { score } => first(&|d| d.score == *score),
        }
    }
}

/// The kinds of query, each timed on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `city` equals a value: the first page of 100 by id (about 1,000 match).
    Eq,
    /// `n` between two values 99 apart: 100 documents by id.
    Range,
    /// `n` from a value on, sorted by `n`: the first 100.
    Sorted,
    /// `city` in 10 values: the first page of 100 by id (about 10,000 match).
    In,
    /// `tags` contains a value: the first page of 100 by id (about 15,000 match).
    Contains,
    /// How many documents have a `city` (about 1,000).
    Count,
    /// `score` (unindexed) equals a value: the first 100 by id (about 10 match in
    /// 1,000,000, so every document is examined).
    Scan,
}

impl Kind {
    /// Every kind, in the tables' order.
    pub const ALL: [Kind; 7] = [
        Kind::Eq,
        Kind::Range,
        Kind::Sorted,
        Kind::In,
        Kind::Contains,
        Kind::Count,
        Kind::Scan,
    ];

    /// Its row label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Eq => "equality (`city`), page of 100",
            Kind::Range => "range of 100 (`n` between)",
            Kind::Sorted => "sorted page of 100 (`n` >= x, sort `n`)",
            Kind::In => "`$in` of 10 (`city`), page of 100",
            Kind::Contains => "array contains (`tags`), page of 100",
            Kind::Count => "count (`city` equality)",
            Kind::Scan => "unindexed filter (`score` equality, full scan)",
        }
    }

    /// A query of this kind with random parameters over `docs` documents.
    pub fn random(self, rng: &mut impl Rng, docs: u64) -> Query {
        let lo = || docs.saturating_sub(PAGE as u64);
        match self {
            Kind::Eq => Query::Eq {
                city: rng.random_range(0..CITIES),
            },
            Kind::Range => Query::Range {
                lo: rng.random_range(0..=lo()),
            },
            Kind::Sorted => Query::Sorted {
                lo: rng.random_range(0..=lo()),
            },
            Kind::In => {
                let all: Vec<u32> = (0..CITIES).collect();
                Query::In {
                    cities: all.choose_multiple(rng, IN_VALUES).copied().collect(),
                }
            }
            Kind::Contains => Query::Contains {
                tag: rng.random_range(0..TAGS),
            },
            Kind::Count => Query::Count {
                city: rng.random_range(0..CITIES),
            },
            Kind::Scan => Query::Scan {
                score: rng.random_range(0..SCORES),
            },
        }
    }
}

/// One query with its parameters.
#[derive(Debug, Clone)]
pub enum Query {
    /// `city == city(c)`, first 100 by id.
    Eq {
        /// The city.
        city: u32,
    },
    /// `lo <= n <= lo + 99`, by id.
    Range {
        /// The lower bound.
        lo: u64,
    },
    /// `n >= lo`, sorted by `n`, first 100.
    Sorted {
        /// The lower bound.
        lo: u64,
    },
    /// `city` in these, first 100 by id.
    In {
        /// The cities.
        cities: Vec<u32>,
    },
    /// `tags` contains this one, first 100 by id.
    Contains {
        /// The tag.
        tag: u32,
    },
    /// How many have this city.
    Count {
        /// The city.
        city: u32,
    },
    /// `score == score`, first 100 by id.
    Scan {
        /// The score.
        score: u64,
    },
}

impl Query {
    /// The query as a NyroDB `_query` body (CONTRACT section 6), the same for the server
    /// and the embedded API.
    pub fn body(&self) -> serde_json::Value {
        use serde_json::json;
        let last = |lo: u64| lo + PAGE as u64 - 1;
        match self {
            Query::Eq { city: c } => json!({"where": {"city": city(*c)}, "limit": PAGE}),
            Query::Range { lo } => {
                json!({"where": {"n": {"$gte": lo, "$lte": last(*lo)}}, "limit": PAGE})
            }
            Query::Sorted { lo } => json!({
                "where": {"n": {"$gte": lo}}, "sort": [["n", "asc"]], "limit": PAGE
            }),
            Query::In { cities } => {
                let cities: Vec<String> = cities.iter().map(|c| city(*c)).collect();
                json!({"where": {"city": {"$in": cities}}, "limit": PAGE})
            }
            Query::Contains { tag: t } => json!({"where": {"tags": tag(*t)}, "limit": PAGE}),
            Query::Count { city: c } => json!({"where": {"city": city(*c)}, "count": true}),
            Query::Scan { score } => json!({"where": {"score": score}, "limit": PAGE}),
        }
    }
}

/// What a store answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The ids of the documents returned, in the order returned.
    Ids(Vec<u64>),
    /// A count.
    Count(u64),
    /// The store answered without the client looking at the ids (timed runs over the wire
    /// read the whole body but do not parse it): this many bytes.
    Received(usize),
    /// The store refused the query (NyroDB's 400 before its planner handles it): why.
    Refused(String),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_dataset_is_deterministic_and_n_is_a_permutation() {
        let a = Dataset::new(1_000);
        let b = Dataset::new(1_000);
        assert_eq!(a.docs[17].json(), b.docs[17].json());
        let mut ns: Vec<u64> = a.docs.iter().map(|d| d.n).collect();
        ns.sort_unstable();
        assert_eq!(ns, (0..1_000).collect::<Vec<_>>());
        assert!(a.docs.iter().all(|d| {
            let [x, y, z] = d.tags;
            x != y && y != z && x != z
        }));
        let json: serde_json::Value = serde_json::from_str(&a.docs[0].json()).unwrap();
        assert_eq!(json["tags"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn expected_answers_follow_the_documents() {
        let data = Dataset::new(2_000);
        let Answer::Ids(range) = data.expect(&Query::Range { lo: 500 }) else {
            panic!("a range answers ids");
        };
        assert_eq!(range.len(), PAGE);
        assert!(range.windows(2).all(|w| w[0] < w[1]));
        let Answer::Ids(sorted) = data.expect(&Query::Sorted { lo: 500 }) else {
            panic!("a sorted page answers ids");
        };
        let ns: Vec<u64> = sorted
            .iter()
            .map(|id| data.docs[*id as usize - 1].n)
            .collect();
        assert_eq!(ns, (500..600).collect::<Vec<_>>());
        let Answer::Count(count) = data.expect(&Query::Count { city: 7 }) else {
            panic!("a count answers a count");
        };
        let manual = data.docs.iter().filter(|d| d.city == 7).count() as u64;
        assert_eq!(count, manual);
    }
}
