//! The clients: one operation against a node's database, as nyro-server serves it (a read
//! waits on the node's read barrier, then reads the database; a write goes through the
//! leader's database, forwarded from a follower), recorded with its call and return time
//! on the runtime's clock.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nyro_core::{DbError, Document, Value, WriteOptions};
use nyro_lincheck::{Operation, RegisterInput as I, RegisterOutput as O};
use nyro_raft::{Consistency, Node};
use tokio::time::Instant;

use super::cluster::COLLECTION;
use super::schedule::Request;

/// How long a client waits for an answer: past the node's own deadline (2 x the election
/// timeout), so that a missing answer is a hang, not a slow answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A checked operation on one key.
pub type Op = Operation<I, O>;

/// What the clients saw.
#[derive(Default)]
pub struct Recorded {
    /// Writes and `linearizable`/`lease` reads, by key: checked for linearizability.
    pub checked: Vec<(u64, Op)>,
    /// `local` reads: the key and the value seen.
    pub local: Vec<(u64, Option<u64>)>,
    /// Operations that got no answer within [`CLIENT_TIMEOUT`].
    pub hung: Vec<String>,
}

/// The history, shared by the clients of one run.
#[derive(Clone)]
pub struct History {
    start: Instant,
    recorded: Arc<Mutex<Recorded>>,
    /// `local` reads are checked with the others (a self-test).
    local_as_linearizable: bool,
}

impl History {
    pub fn new(local_as_linearizable: bool) -> History {
        History {
            start: Instant::now(),
            recorded: Arc::new(Mutex::new(Recorded::default())),
            local_as_linearizable,
        }
    }

    /// Time since the run started, on the runtime's clock.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Microseconds since the run started, on the runtime's clock.
    fn now(&self) -> u64 {
        u64::try_from(self.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    pub fn recorded(&self) -> MutexGuard<'_, Recorded> {
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs client `client`'s `request` on `key` (reads on `node`, writes on `leader`, the
    /// leader `node` knows of) and records it.
    pub async fn run(&self, client: u64, node: Node, leader: Node, key: u64, request: Request) {
        let call = self.now();
        let answer = tokio::time::timeout(CLIENT_TIMEOUT, perform(&node, &leader, key, request));
        let answer = answer.await;
        let ret = self.now();
        let mut recorded = self.recorded();
        let output = match answer {
            Ok(output) => output,
            Err(_) => {
                recorded.hung.push(format!(
                    "client {client}: {request:?} on key {key} via node {} hung",
                    node.id()
                ));
                None
            }
        };
        let input = match request {
            Request::Put(v) => I::Put(v),
            Request::Create(v) => I::Create(v),
            Request::Delete => I::Delete,
            Request::Read(Consistency::Local) if !self.local_as_linearizable => {
                if let Some(O::Value(seen)) = output {
                    recorded.local.push((key, seen));
                }
                return;
            }
            Request::Read(_) => I::Read,
        };
        let op = match output {
            Some(O::Unknown) | None if input == I::Read => return, // a failed read did nothing
            Some(O::Unknown) | None => Op::unknown(client, call, input, O::Unknown),
            Some(output) => Op::new(client, call, ret, input, output),
        };
        recorded.checked.push((key, op));
    }
}

fn document(value: u64) -> Document {
    Document::new(vec![(
        "v".to_string(),
        Value::Int(i64::try_from(value).unwrap_or(i64::MAX)),
    )])
}

/// The value a document holds (as the clients wrote it).
pub fn value_of(doc: &Document) -> Option<u64> {
    match doc.get("v") {
        Some(Value::Int(v)) => u64::try_from(*v).ok(),
        _ => None,
    }
}

/// Reads `key` on `node` at `consistency`: its value, `Unknown` if the barrier refused.
pub async fn read(node: &Node, key: u64, consistency: Consistency) -> O {
    if node.read_barrier(consistency).await.is_err() {
        return O::Unknown;
    }
    match node.database().get(COLLECTION, key) {
        Ok(doc) => O::Value(value_of(&doc)),
        Err(DbError::NotFound { .. } | DbError::CollectionNotFound { .. }) => O::Value(None),
        Err(_) => O::Unknown,
    }
}

/// Performs `request`; `Unknown` when the outcome is not known (any error other than a
/// definite answer: the write may or may not have been applied).
async fn perform(node: &Node, leader: &Node, key: u64, request: Request) -> Option<O> {
    let db = leader.database();
    let options = WriteOptions::default();
    let output = match request {
        Request::Read(consistency) => read(node, key, consistency).await,
        Request::Put(v) => match db.replace(COLLECTION, key, document(v), options).await {
            Ok(_) => O::Ok,
            Err(_) => O::Unknown,
        },
        Request::Create(v) => {
            let mut doc = document(v);
            doc.id = Some(key);
            match db.insert(COLLECTION, doc, options).await {
                Ok(_) => O::Ok,
                Err(DbError::Conflict { .. }) => O::Conflict,
                Err(_) => O::Unknown,
            }
        }
        Request::Delete => match db.delete(COLLECTION, key, options).await {
            Ok(_) => O::Ok,
            Err(DbError::NotFound { .. } | DbError::CollectionNotFound { .. }) => O::NotFound,
            Err(_) => O::Unknown,
        },
    };
    Some(output)
}
