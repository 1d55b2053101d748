//! The line in front of the writer: the queued messages and who leads (writes) them.
//!
//! One mutex guards the queue *and* the leadership, so that "the writer is idle, I lead"
//! and "someone leads, I queue" are decided in one step: a message is never queued while
//! nobody is about to write it (no lost wake-up), and at most one leader exists at a time.
//! A leader holds the [`Worker`](crate::writer::Worker) (its own mutex, uncontended because
//! of this one) and takes further messages from here one at a time, after each `prepare`,
//! so that requests that arrive meanwhile join its batch.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::applier::{Applier, WriteError};

pub(crate) type Done<R> = oneshot::Sender<Result<(), WriteError<R>>>;

/// What a panicking applier left behind, rethrown by the writer thread.
pub(crate) type PanicPayload = Box<dyn Any + Send>;

pub(crate) enum Message<A: Applier> {
    /// A request (carrying its own reply) and whether it asked for an fdatasync.
    Write { request: A::Request, sync: bool },
    /// fdatasync everything written so far, then answer.
    Flush(Done<A::Rejection>),
    /// Seal the active segment (and start a new one), then answer.
    Seal(Done<A::Rejection>),
    /// Write everything queued before this, fdatasync, release the log, then answer.
    Close(Done<A::Rejection>),
}

impl<A: Applier> Message<A> {
    /// A write that need not be fdatasync'ed: what a caller may write in its own batch.
    /// (Under `SyncPolicy::Always` callers never lead, so `sync: false` suffices here.)
    pub(crate) fn is_plain_write(&self) -> bool {
        matches!(self, Self::Write { sync: false, .. })
    }
}

/// Who holds the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leader {
    /// Nobody: the next caller with a plain write leads.
    Idle,
    /// A caller, on its own thread, writing one batch.
    Caller,
    /// The writer thread (handed over, or taken for an interval fdatasync or to stop).
    Thread,
}

struct State<A: Applier> {
    messages: VecDeque<Message<A>>,
    leader: Leader,
    /// The thread waits to lead (an interval fdatasync is due): the leading caller hands
    /// over instead of going idle.
    thread_wants: bool,
    /// The thread leads and waits for company before an fdatasync: wake it for a message.
    lingering: bool,
    /// Writes were queued behind a leader since a caller last led a batch alone: callers
    /// are arriving together, so the next one that finds the writer idle yields once
    /// before it writes, to let them join its batch.
    contended: bool,
    /// When the interval policy's fdatasync of what was written is due.
    sync_due: Option<Instant>,
    /// Live `WriterHandle`s; with none left the thread writes what is queued and stops.
    handles: usize,
    /// No more messages are taken: closed, stopped, or the writer died.
    closed: bool,
    /// A caller's leadership ended in a panic: the thread rethrows it (join reports it).
    panic: Option<PanicPayload>,
}

/// The queue and the leadership, and the condition variable the writer thread sleeps on.
pub(crate) struct Line<A: Applier> {
    state: Mutex<State<A>>,
    /// Wakes the writer thread: leadership handed to it, a message while it lingers, a new
    /// interval deadline, the last handle gone, a caller's panic.
    wake: Condvar,
}

/// What became of a caller's message.
pub(crate) enum Entry<A: Applier> {
    /// The writer was idle: the caller leads, starting with this message.
    Lead(Message<A>),
    /// The writer was idle and callers have been arriving together: the caller leads,
    /// but yields once first so that those about to submit join its batch (if it is
    /// dropped meanwhile, [`Line::abandon`] hands its message to the thread).
    LeadSoon(Message<A>),
    /// Queued; it will be written by the current leader or the thread.
    Queued,
    /// The writer has stopped; the message was not taken.
    Closed,
}

/// What the writer thread is to do next.
pub(crate) enum Turn {
    /// It leads.
    Lead,
    /// A caller panicked while leading: rethrow this.
    Died(PanicPayload),
    /// The writer has stopped.
    Stopped,
}

/// The writer thread's next message.
pub(crate) enum Next<A: Applier> {
    Message(Message<A>),
    /// Nothing queued: the thread no longer leads.
    Idle,
    /// Nothing queued and no handle left: the thread stops (still leading).
    Stop,
}

/// Locks `mutex`, also after a panic elsewhere: nothing is left half-changed under our
/// locks (applier code never runs while the line's lock is held, and a worker is dropped
/// when its applier panics).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<A: Applier> Line<A> {
    /// An idle line with one handle.
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                messages: VecDeque::new(),
                leader: Leader::Idle,
                thread_wants: false,
                lingering: false,
                contended: false,
                sync_due: None,
                handles: 1,
                closed: false,
                panic: None,
            }),
            wake: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<A>> {
        lock(&self.state)
    }

    /// A caller's message. With an idle writer and `may_lead`, the caller leads; else the
    /// message is queued, and the thread is asked to lead if nobody does.
    pub(crate) fn enter(&self, message: Message<A>, may_lead: bool) -> Entry<A> {
        let mut state = self.state();
        if state.closed {
            return Entry::Closed;
        }
        if state.leader == Leader::Idle && may_lead {
            state.leader = Leader::Caller;
            return if state.contended {
                Entry::LeadSoon(message)
            } else {
                Entry::Lead(message)
            };
        }
        state.messages.push_back(message);
        state.contended = true;
        match state.leader {
            Leader::Idle => {
                state.leader = Leader::Thread;
                self.wake.notify_one();
            }
            Leader::Thread if state.lingering => self.wake.notify_one(),
            _ => {}
        }
        Entry::Queued
    }

    /// The leader's next message for its batch, if one is queued and `fits` takes it.
    pub(crate) fn next_if(&self, fits: impl FnOnce(&Message<A>) -> bool) -> Option<Message<A>> {
        let mut state = self.state();
        if state.messages.front().is_some_and(fits) {
            state.messages.pop_front()
        } else {
            None
        }
    }

    /// The leading thread waits for a message until `deadline` (lingering for company).
    pub(crate) fn wait_next(&self, deadline: Instant) -> Option<Message<A>> {
        let mut state = self.state();
        loop {
            if let Some(message) = state.messages.pop_front() {
                state.lingering = false;
                return Some(message);
            }
            let now = Instant::now();
            if now >= deadline {
                state.lingering = false;
                return None;
            }
            state.lingering = true;
            state = self
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// A caller's batch is written: `sync_due` is when what is written now must be
    /// fdatasync'ed (the thread learns of a new deadline). If `may_go_on` and a plain
    /// write is queued (it arrived while the batch was written), the caller goes on
    /// leading with it. Else it stops: the writer goes idle, or, when messages are queued
    /// or the thread waits for an fdatasync, leadership goes to the thread. `alone`: the
    /// caller wrote only its own request, so callers no longer arrive together.
    pub(crate) fn caller_next(
        &self,
        sync_due: Option<Instant>,
        may_go_on: bool,
        alone: bool,
    ) -> Option<Message<A>> {
        let mut state = self.state();
        let new_deadline = state.sync_due.is_none() && sync_due.is_some();
        state.sync_due = sync_due;
        let goes_on = may_go_on
            && !state.thread_wants
            && state.messages.front().is_some_and(Message::is_plain_write);
        if goes_on {
            if new_deadline {
                self.wake.notify_one();
            }
            return state.messages.pop_front();
        }
        if !state.messages.is_empty() || state.thread_wants {
            state.leader = Leader::Thread;
            state.thread_wants = false;
            self.wake.notify_one();
        } else {
            state.leader = Leader::Idle;
            if alone {
                state.contended = false;
            }
            if new_deadline {
                self.wake.notify_one();
            }
        }
        None
    }

    /// A caller that was to lead was dropped before it wrote: its message goes first in
    /// line and leadership to the thread.
    pub(crate) fn abandon(&self, message: Message<A>) {
        let mut state = self.state();
        state.messages.push_front(message);
        state.leader = Leader::Thread;
        self.wake.notify_one();
    }

    /// The writer thread waits until it leads: handed over, an interval fdatasync due with
    /// the writer idle, or every handle gone.
    pub(crate) fn thread_wait(&self) -> Turn {
        let mut state = self.state();
        loop {
            if let Some(payload) = state.panic.take() {
                return Turn::Died(payload);
            }
            if state.closed {
                return Turn::Stopped;
            }
            let now = Instant::now();
            let due = state.sync_due.is_some_and(|due| now >= due);
            match state.leader {
                Leader::Thread => {
                    state.thread_wants = false;
                    return Turn::Lead;
                }
                Leader::Idle if due || state.handles == 0 => {
                    state.leader = Leader::Thread;
                    return Turn::Lead;
                }
                Leader::Caller if due => state.thread_wants = true,
                _ => {}
            }
            state = match state.sync_due {
                Some(deadline) if !due => {
                    self.wake
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                _ => self
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    /// The leading thread's next message; with none queued it stops leading (the writer
    /// goes idle, `sync_due` being its next fdatasync), or stops altogether once every
    /// handle is gone.
    pub(crate) fn thread_next(&self, sync_due: Option<Instant>) -> Next<A> {
        let mut state = self.state();
        if let Some(message) = state.messages.pop_front() {
            return Next::Message(message);
        }
        if state.handles == 0 {
            return Next::Stop;
        }
        state.sync_due = sync_due;
        state.leader = Leader::Idle;
        Next::Idle
    }

    /// Takes no more messages; returns those still queued (to be dropped, outside the
    /// lock, which answers them `Closed`). The leader stays: nobody leads again.
    pub(crate) fn close(&self) -> VecDeque<Message<A>> {
        let mut state = self.state();
        state.closed = true;
        std::mem::take(&mut state.messages)
    }

    /// A leader's applier panicked: [`close`](Self::close), and, for a caller's panic,
    /// hand the payload to the writer thread, which rethrows it.
    pub(crate) fn died(&self, payload: Option<PanicPayload>) -> VecDeque<Message<A>> {
        let mut state = self.state();
        state.closed = true;
        state.panic = payload;
        self.wake.notify_one();
        std::mem::take(&mut state.messages)
    }

    /// A handle was cloned.
    pub(crate) fn add_handle(&self) {
        self.state().handles += 1;
    }

    /// A handle was dropped; the last one wakes the thread to write what is queued and stop.
    pub(crate) fn drop_handle(&self) {
        let mut state = self.state();
        state.handles -= 1;
        if state.handles == 0 {
            self.wake.notify_one();
        }
    }
}
