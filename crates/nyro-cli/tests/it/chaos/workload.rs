//! The clients of a round: each runs one request after another against a node picked at
//! random (dead, paused and cut-off ones included), and records every request's invoke and
//! completion time and outcome.
//!
//! The mix: reads at each consistency level, puts, creates and deletes on a few register
//! keys; bulk creates of fresh keys; and `local` lists of the bulk keys (a bulk must show
//! whole or not at all). Every write writes a value no other write writes, so a read names
//! the write it saw.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::history::{Call, Consistency, Event, Outcome, Recorder};
use crate::cluster::{Http, Rng};

/// The collection every round writes to.
pub const COLLECTION: &str = "chaos";
/// Documents per bulk.
pub const BULK_SIZE: u64 = 3;

/// The keys of one round and the counters that make values and bulks unique.
#[derive(Debug)]
pub struct Keys {
    /// The register keys: read, put, created and deleted by every client.
    pub registers: Vec<u64>,
    /// The first bulk key; bulk `b` writes `bulk_base + b * BULK_SIZE ..` (never again).
    pub bulk_base: u64,
    next_value: AtomicU64,
    next_bulk: AtomicU64,
}

impl Keys {
    /// Round `round`'s keys: `registers` of them, then room for bulks.
    pub fn for_round(round: u64, registers: u64) -> Self {
        let base = (round + 1) * 1_000_000;
        Self {
            registers: (1..=registers).map(|k| base + k).collect(),
            bulk_base: base + 500_000,
            next_value: AtomicU64::new(1),
            next_bulk: AtomicU64::new(0),
        }
    }

    /// Whether `id` is one of this round's bulk keys.
    pub fn is_bulk_key(&self, id: u64) -> bool {
        (self.bulk_base..self.bulk_base + 500_000).contains(&id)
    }

    /// The bulk `id` belongs to.
    pub fn bulk_of(&self, id: u64) -> u64 {
        (id - self.bulk_base) / BULK_SIZE
    }

    /// A value no write of the round has written.
    pub fn value(&self) -> u64 {
        self.next_value.fetch_add(1, Ordering::Relaxed)
    }

    fn bulk(&self) -> Vec<u64> {
        let b = self.next_bulk.fetch_add(1, Ordering::Relaxed);
        (0..BULK_SIZE)
            .map(|j| self.bulk_base + b * BULK_SIZE + j)
            .collect()
    }

    /// A bulk key already handed out, if any.
    fn some_bulk_key(&self, rng: &mut Rng) -> Option<u64> {
        let bulks = self.next_bulk.load(Ordering::Relaxed);
        (bulks > 0).then(|| self.bulk_base + rng.below(bulks * BULK_SIZE))
    }
}

/// A node as the clients reach it.
#[derive(Clone, Debug)]
pub struct Target {
    pub id: u64,
    pub url: String,
}

/// One client: requests until `stop`, recorded in `recorder`.
pub async fn client(
    client: u64,
    mut rng: Rng,
    http: Http,
    targets: Vec<Target>,
    keys: Arc<Keys>,
    recorder: Recorder,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Acquire) {
        let target = &targets[rng.index(targets.len())];
        let call = pick_call(&mut rng, &keys);
        let event = perform(&http, client, target, call, &recorder).await;
        let answered = !matches!(event.outcome, Outcome::Failed(_) | Outcome::Unknown(_));
        recorder.push(event);
        if !answered {
            // Not a synchronisation: keeps a client facing a dead node or no leader from
            // spinning (and from piling up writes of unknown outcome, which the checker
            // must consider at every later point).
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The next request: 45% reads (linearizable, lease, local), 35% single writes, 10% bulks,
/// 10% lists of bulk keys.
fn pick_call(rng: &mut Rng, keys: &Keys) -> Call {
    let key = keys.registers[rng.index(keys.registers.len())];
    let roll = rng.below(100);
    let read = |consistency| Call::Read { key, consistency };
    match roll {
        0..25 => match keys.some_bulk_key(rng) {
            Some(bulk_key) if rng.percent(20) => Call::Read {
                key: bulk_key,
                consistency: Consistency::Linearizable,
            },
            _ => read(Consistency::Linearizable),
        },
        25..35 => read(Consistency::Lease),
        35..45 => read(Consistency::Local),
        45..65 => Call::Put {
            key,
            value: keys.value(),
        },
        65..72 => Call::Create {
            key,
            value: keys.value(),
        },
        72..80 => Call::Delete { key },
        80..90 => {
            let keys_of_bulk = keys.bulk();
            let values = keys_of_bulk.iter().map(|_| keys.value()).collect();
            Call::Bulk {
                keys: keys_of_bulk,
                values,
            }
        }
        _ => Call::ListBulks,
    }
}

/// The request `call` stands for: method, path (after the node's URL) and body.
fn request_of(call: &Call) -> (Method, String, Option<Value>) {
    let records = format!("/v1/collections/{COLLECTION}/records");
    match call {
        Call::Put { key, value } => (
            Method::PUT,
            format!("{records}/{key}"),
            Some(json!({"v": value})),
        ),
        Call::Create { key, value } => {
            (Method::POST, records, Some(json!({"_id": key, "v": value})))
        }
        Call::Delete { key } => (Method::DELETE, format!("{records}/{key}"), None),
        Call::Bulk { keys, values } => {
            let docs: Vec<Value> = keys
                .iter()
                .zip(values)
                .map(|(key, value)| json!({"_id": key, "v": value}))
                .collect();
            (Method::POST, format!("{records}/_bulk"), Some(docs.into()))
        }
        Call::Read { key, consistency } => (
            Method::GET,
            format!("{records}/{key}?consistency={}", consistency.as_str()),
            None,
        ),
        Call::ListBulks => (
            Method::GET,
            format!("{records}?consistency=local&limit=10000"),
            None,
        ),
    }
}

/// Sends `call` to `target` and records what came of it.
pub async fn perform(
    http: &Http,
    client: u64,
    target: &Target,
    call: Call,
    recorder: &Recorder,
) -> Event {
    let (method, path, body) = request_of(&call);
    let mut request = http
        .client()
        .request(method, format!("{}{path}", target.url));
    if let Some(body) = &body {
        request = request.json(body);
    }
    let invoke = recorder.now();
    let answer = match request.send().await {
        Ok(response) => {
            let status = response.status();
            match response.text().await {
                Ok(text) => Ok((status, text)),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let complete = recorder.now();
    let outcome = match answer {
        Ok((status, text)) => outcome_of(&call, status, &text),
        Err(e) if e.is_connect() => Outcome::Failed(describe(&e)),
        Err(e) => Outcome::Unknown(describe(&e)),
    };
    Event {
        client,
        node: target.id,
        call,
        invoke,
        complete,
        outcome,
    }
}

fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// What an answer means for `call`.
fn outcome_of(call: &Call, status: StatusCode, text: &str) -> Outcome {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("");
    let wrong = || Outcome::Wrong(format!("{status} {text}"));
    match (status.as_u16(), code) {
        (503, "overloaded") => return Outcome::Failed(format!("{status} {text}")),
        (503, _) => return Outcome::Unknown(format!("{status} {text}")),
        _ => {}
    }
    match (call, status.as_u16()) {
        (Call::Put { .. }, 200 | 201) => Outcome::Ok,
        (Call::Create { .. } | Call::Bulk { .. }, 201) => Outcome::Ok,
        (Call::Create { .. } | Call::Bulk { .. }, 409) => Outcome::Conflict,
        (Call::Delete { .. }, 204) => Outcome::Ok,
        (Call::Delete { .. }, 404) => Outcome::NotFound,
        (Call::Read { .. }, 404) if code == "not_found" => Outcome::Value(None),
        (Call::Read { .. }, 200) => match body["v"].as_u64() {
            Some(value) => Outcome::Value(Some(value)),
            None => wrong(),
        },
        (Call::ListBulks, 200) => match body["records"].as_array() {
            Some(records) => {
                Outcome::Ids(records.iter().filter_map(|r| r["_id"].as_u64()).collect())
            }
            None => wrong(),
        },
        _ => wrong(),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::outcome_of;
    use crate::chaos::history::{Call, Consistency, Outcome};

    #[test]
    fn answers_mean_what_the_contract_says() {
        let read = Call::Read {
            key: 1,
            consistency: Consistency::Local,
        };
        let put = Call::Put { key: 1, value: 2 };
        let unavailable = r#"{"error":{"code":"unavailable","message":"no leader"}}"#;
        let overloaded = r#"{"error":{"code":"overloaded","message":"busy"}}"#;
        let missing = r#"{"error":{"code":"not_found","message":"no record 1"}}"#;
        assert_eq!(
            outcome_of(&read, StatusCode::OK, r#"{"_id":1,"v":7}"#),
            Outcome::Value(Some(7))
        );
        assert_eq!(
            outcome_of(&read, StatusCode::NOT_FOUND, missing),
            Outcome::Value(None)
        );
        assert!(matches!(
            outcome_of(&put, StatusCode::SERVICE_UNAVAILABLE, unavailable),
            Outcome::Unknown(_)
        ));
        assert!(matches!(
            outcome_of(&put, StatusCode::SERVICE_UNAVAILABLE, overloaded),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            outcome_of(&put, StatusCode::INTERNAL_SERVER_ERROR, "{}"),
            Outcome::Wrong(_)
        ));
        assert!(matches!(
            outcome_of(&read, StatusCode::OK, r#"{"_id":1}"#),
            Outcome::Wrong(_)
        ));
    }
}
