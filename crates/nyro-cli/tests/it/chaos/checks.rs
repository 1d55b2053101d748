//! The checks of a round's history, once the cluster has healed and converged:
//! linearizability per key (every write, `linearizable` and `lease` reads, and a final
//! `linearizable` read of every key), `local` reads (a value some write wrote, never a
//! partial bulk), acknowledged writes lost, and how long requests waited.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use nyro_lincheck::{
    Operation, Register, RegisterInput as Input, RegisterOutput as Output, check_keys,
};

use super::history::{Call, Consistency, Event, Outcome};
use super::nemesis::Effects;
use super::workload::{BULK_SIZE, Keys};

/// Longest the checker may search one key's history.
const CHECK_BUDGET: Duration = Duration::from_secs(60);

/// What the checks of one round found (all of it fine, or the round fails).
#[derive(Clone, Debug, Default)]
pub struct Findings {
    /// Requests recorded.
    pub requests: usize,
    /// Operations the linearizability checker placed (writes and non-local reads).
    pub checked: usize,
    /// Requests whose outcome is unknown (a 503, a timeout).
    pub unknown: usize,
    /// Acknowledged writes missing from the final state.
    pub lost: usize,
    /// Longest wait for an answer from a node that was not paused, in µs.
    pub longest_wait: u64,
    /// From the leader's kill to the first write answered after it, in µs.
    pub unavailable_for: Option<u64>,
}

/// Checks `events` (the clients' and the final reads). `Err` says what is wrong, with the
/// requests involved.
pub fn check(
    events: &[Event],
    keys: &Keys,
    effects: &Effects,
    bound: Duration,
) -> Result<Findings, String> {
    let wrong: Vec<String> = events
        .iter()
        .filter(|e| matches!(e.outcome, Outcome::Wrong(_)))
        .map(|e| format!("{e:?}"))
        .collect();
    if !wrong.is_empty() {
        return Err(format!(
            "answers no request should get:\n{}",
            wrong.join("\n")
        ));
    }
    check_local_reads(events)?;
    check_bulk_lists(events, keys)?;
    let lost = lost_writes(events);
    if !lost.is_empty() {
        return Err(format!("acknowledged writes lost:\n{}", lost.join("\n")));
    }
    let checked = check_linearizable(events)?;
    let longest_wait = longest_wait(events, effects);
    if longest_wait > bound.as_micros() as u64 {
        let slow: Vec<String> = waits(events, effects)
            .filter(|e| e.latency() > bound.as_micros() as u64)
            .map(|e| format!("{e:?}"))
            .collect();
        return Err(format!(
            "requests to running nodes answered after more than {bound:?}:\n{}",
            slow.join("\n")
        ));
    }
    Ok(Findings {
        requests: events.len(),
        checked,
        unknown: events
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Unknown(_)))
            .count(),
        lost: 0,
        longest_wait,
        unavailable_for: effects
            .leader_killed_at
            .and_then(|at| unavailable_for(events, at)),
    })
}

/// Each write's keys and the value each leaves (`None`: a delete).
fn effects_of(call: &Call) -> Vec<(u64, Option<u64>)> {
    match call {
        Call::Put { key, value } | Call::Create { key, value } => vec![(*key, Some(*value))],
        Call::Delete { key } => vec![(*key, None)],
        Call::Bulk { keys, values } => keys
            .iter()
            .zip(values)
            .map(|(&key, &value)| (key, Some(value)))
            .collect(),
        Call::Read { .. } | Call::ListBulks => Vec::new(),
    }
}

/// A `local` read may be stale but must show a value some write (sent, not refused) wrote
/// to that key before the read was answered, or nothing.
fn check_local_reads(events: &[Event]) -> Result<(), String> {
    let mut written: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for event in events {
        if matches!(event.outcome, Outcome::Failed(_)) {
            continue;
        }
        for (key, value) in effects_of(&event.call) {
            if let Some(value) = value {
                written.entry(key).or_default().push((value, event.invoke));
            }
        }
    }
    for event in events {
        let (
            Call::Read {
                key,
                consistency: Consistency::Local,
            },
            Outcome::Value(Some(value)),
        ) = (&event.call, &event.outcome)
        else {
            continue;
        };
        let was_written = written.get(key).is_some_and(|writes| {
            writes
                .iter()
                .any(|&(v, invoke)| v == *value && invoke <= event.complete)
        });
        if !was_written {
            return Err(format!(
                "a local read shows a value no write had written: {event:?}"
            ));
        }
    }
    Ok(())
}

/// A `local` list shows each bulk whole or not at all, and only bulks some client sent.
fn check_bulk_lists(events: &[Event], keys: &Keys) -> Result<(), String> {
    let sent: BTreeSet<u64> = events
        .iter()
        .filter(|e| !matches!(e.outcome, Outcome::Failed(_)))
        .filter_map(|e| match &e.call {
            Call::Bulk { keys: ids, .. } => Some(keys.bulk_of(ids[0])),
            _ => None,
        })
        .collect();
    for event in events {
        let Outcome::Ids(ids) = &event.outcome else {
            continue;
        };
        let mut shown: BTreeMap<u64, u64> = BTreeMap::new();
        for &id in ids.iter().filter(|&&id| keys.is_bulk_key(id)) {
            *shown.entry(keys.bulk_of(id)).or_default() += 1;
        }
        for (bulk, count) in shown {
            if count != BULK_SIZE || !sent.contains(&bulk) {
                return Err(format!(
                    "a local list shows {count} of the {BULK_SIZE} documents of bulk {bulk} \
                     (sent: {}): {event:?}",
                    sent.contains(&bulk)
                ));
            }
        }
    }
    Ok(())
}

/// Acknowledged writes the final state lacks: for each key, the last acknowledged write
/// when no other write overlaps or follows it (an unknown one never ends) must be what the
/// final read of the key shows.
fn lost_writes(events: &[Event]) -> Vec<String> {
    let mut writes: BTreeMap<u64, Vec<(&Event, Option<u64>)>> = BTreeMap::new();
    for event in events.iter().filter(|e| e.is_write()) {
        if matches!(event.outcome, Outcome::Failed(_)) {
            continue;
        }
        for (key, value) in effects_of(&event.call) {
            writes.entry(key).or_default().push((event, value));
        }
    }
    let finals = events
        .iter()
        .filter_map(|e| match (&e.call, &e.outcome, e.client) {
            (Call::Read { key, .. }, Outcome::Value(value), client)
                if super::is_final_read(client) =>
            {
                Some((*key, *value))
            }
            _ => None,
        });
    let mut lost = Vec::new();
    for (key, shown) in finals {
        let Some(writes) = writes.get(&key) else {
            continue;
        };
        let Some(&(last, value)) = writes
            .iter()
            .filter(|(e, _)| e.outcome == Outcome::Ok)
            .max_by_key(|(e, _)| e.invoke)
        else {
            continue;
        };
        let alone = writes.iter().all(|(other, _)| {
            std::ptr::eq(*other, last)
                || (!matches!(other.outcome, Outcome::Unknown(_)) && other.complete < last.invoke)
        });
        if alone && shown != value {
            lost.push(format!(
                "key {key}: the final read shows {shown:?}, the last acknowledged write was {last:?}"
            ));
        }
    }
    lost
}

/// The history as the checker takes it: per key, every write that may have happened and
/// every `linearizable` or `lease` read that was answered. Returns how many it checked.
fn check_linearizable(events: &[Event]) -> Result<usize, String> {
    let mut history = Vec::new();
    for event in events {
        let ret = match event.outcome {
            Outcome::Unknown(_) => None,
            _ => Some(event.complete),
        };
        let operation = |input, output| Operation {
            client: event.client,
            call: event.invoke,
            ret,
            input,
            output,
        };
        let output = match &event.outcome {
            Outcome::Ok => Output::Ok,
            Outcome::Conflict => Output::Conflict,
            Outcome::NotFound => Output::NotFound,
            Outcome::Value(value) => Output::Value(*value),
            Outcome::Unknown(_) => Output::Unknown,
            Outcome::Failed(_) | Outcome::Wrong(_) | Outcome::Ids(_) => continue,
        };
        match &event.call {
            Call::Put { key, value } => history.push((*key, operation(Input::Put(*value), output))),
            Call::Create { key, value } => {
                history.push((*key, operation(Input::Create(*value), output)));
            }
            Call::Delete { key } => history.push((*key, operation(Input::Delete, output))),
            Call::Bulk { keys, values } => {
                for (&key, &value) in keys.iter().zip(values) {
                    history.push((key, operation(Input::Create(value), output)));
                }
            }
            Call::Read { key, consistency } if *consistency != Consistency::Local => {
                if ret.is_some() {
                    history.push((*key, operation(Input::Read, output)));
                }
            }
            Call::Read { .. } | Call::ListBulks => {}
        }
    }
    let checked = history.len();
    // The checker first searches without the unknown writes no read saw (Register's hint)
    // and falls back to the whole history: dozens of unknown writes on a key (a leader
    // killed under load) stay cheap to check.
    let report = check_keys(&Register, history, CHECK_BUDGET)
        .map_err(|e| format!("the recorded history is malformed: {e}"))?;
    let bad: Vec<String> = report
        .violations()
        .chain(report.timeouts())
        .map(ToString::to_string)
        .collect();
    if bad.is_empty() {
        Ok(checked)
    } else {
        Err(format!(
            "not linearizable (or not decided within {CHECK_BUDGET:?} a key):\n{}",
            bad.join("\n")
        ))
    }
}

/// The requests held to the answer bound: answered or timed out (not refused) by a node
/// that was not paused while they waited.
fn waits<'e>(events: &'e [Event], effects: &'e Effects) -> impl Iterator<Item = &'e Event> {
    events.iter().filter(move |e| {
        !matches!(e.outcome, Outcome::Failed(_))
            && !effects
                .paused
                .iter()
                .any(|&(node, from, to)| node == e.node && e.invoke <= to && e.complete >= from)
    })
}

fn longest_wait(events: &[Event], effects: &Effects) -> u64 {
    waits(events, effects)
        .map(Event::latency)
        .max()
        .unwrap_or(0)
}

/// From `killed_at` to the answer of the first write sent after it that some leader
/// answered (applied, or refused for a conflict).
fn unavailable_for(events: &[Event], killed_at: u64) -> Option<u64> {
    events
        .iter()
        .filter(|e| e.is_write() && e.invoke >= killed_at)
        .filter(|e| {
            matches!(
                e.outcome,
                Outcome::Ok | Outcome::Conflict | Outcome::NotFound
            )
        })
        .map(|e| e.complete - killed_at)
        .min()
}
