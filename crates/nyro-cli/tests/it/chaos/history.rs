//! The history of a round: every client request, when it was invoked and answered (µs since
//! the round began, one clock for every client), on which node, and what came of it; and the
//! nemesis's own events on the same clock.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

/// A read's consistency level (`?consistency=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    Linearizable = 0,
    Lease,
    Local,
}

impl Consistency {
    /// The query parameter's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Linearizable => "linearizable",
            Consistency::Lease => "lease",
            Consistency::Local => "local",
        }
    }
}

/// What a client asked. Keys are record ids of the round's collection; a value is the
/// `v` field of the document, unique to the write that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    /// `PUT .../records/{key}` (replace or create).
    Put { key: u64, value: u64 },
    /// `POST .../records` with `_id`: create, 409 if it exists.
    Create { key: u64, value: u64 },
    /// `DELETE .../records/{key}`.
    Delete { key: u64 },
    /// `POST .../records/_bulk` of fresh keys: all or nothing.
    Bulk { keys: Vec<u64>, values: Vec<u64> },
    /// `GET .../records/{key}?consistency=`.
    Read { key: u64, consistency: Consistency },
    /// `GET .../records?consistency=local` over the bulk keys: which of them exist.
    ListBulks,
}

/// What came of a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum Outcome {
    /// 2xx (a write applied; a read found the key: `Read` answers go in `Value`).
    Ok,
    /// 409: the key existed (a create).
    Conflict,
    /// 404 on a delete: the key did not exist.
    NotFound,
    /// A read's answer: the value, `None` for 404.
    Value(Option<u64>),
    /// A list of bulk keys: the ids present.
    Ids(Vec<u64>),
    /// Certainly not applied (the connection was refused: nothing was sent).
    Failed(String),
    /// Applied or not: a 503, a timeout, a cut connection.
    Unknown(String),
    /// An answer no request should get (a 500, a 400 to a valid request, a malformed body).
    Wrong(String),
}

/// One request.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// The client task (a client never has two requests in flight).
    pub client: u64,
    /// The node asked.
    pub node: u64,
    pub call: Call,
    /// µs since the round began.
    pub invoke: u64,
    /// µs since the round began.
    pub complete: u64,
    pub outcome: Outcome,
}

impl Event {
    /// How long it waited for its answer, in µs.
    pub fn latency(&self) -> u64 {
        self.complete - self.invoke
    }

    /// Whether the call writes.
    pub fn is_write(&self) -> bool {
        !matches!(self.call, Call::Read { .. } | Call::ListBulks)
    }
}

/// Something the nemesis did, on the clients' clock.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// µs since the round began.
    pub at: u64,
    pub what: String,
}

/// The shared recorder of one round: clients push events, the nemesis pushes steps.
#[derive(Clone, Debug)]
pub struct Recorder {
    started: Instant,
    events: Arc<Mutex<Vec<Event>>>,
    steps: Arc<Mutex<Vec<Step>>>,
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            events: Arc::default(),
            steps: Arc::default(),
        }
    }

    /// µs since the round began.
    pub fn now(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// Records a request.
    pub fn push(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }

    /// Records what the nemesis did, now.
    pub fn step(&self, what: impl Into<String>) -> u64 {
        let at = self.now();
        let what = what.into();
        self.steps.lock().unwrap().push(Step { at, what });
        at
    }

    /// Every request so far, in the order they were answered.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// Every nemesis step so far.
    pub fn steps(&self) -> Vec<Step> {
        self.steps.lock().unwrap().clone()
    }
}
