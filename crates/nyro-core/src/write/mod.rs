//! The write path on the writer (whoever leads it, one at a time: a caller that found it
//! idle, or nyro-batch's writer thread; see `nyro_batch`). Each operation (insert, replace, delete, create and
//! drop collection, add and drop index, relocate for compaction) is its own type implementing [`Operation`]: its
//! own plan (what `prepare` decided: ids, seqs, the collection it creates) and its own
//! answer. The database submits an operation with [`submit`]; the operation travels as a
//! [`Job`] with a typed reply, and this module's [`CoreApplier`] is the one place that
//! dispatches over the kinds of operation (the `operations!` list below). A new operation
//! is one new type and one name in that list.
//!
//! Document payloads are encoded by the caller (`encoded::Payloads`, before the request is
//! queued); the writer only checks the request against the state, hands the
//! payloads to the batch's records (no copy: `RecordBuf::add_chunk`), and after the append
//! makes them visible.

mod batch;
mod collections;
pub(crate) mod commit;
mod documents;
mod encoded;
mod indexes;
mod raw;
mod relocate;

use std::sync::Arc;

use nyro_batch::{Applier, RecordBuf, Reply, Unwritten, WriteError, WriterHandle};
use nyro_storage::Location;

use crate::error::{DbError, Result};
use crate::state::State;

pub(crate) use batch::{Batch, Counters};
pub(crate) use collections::{CreateCollection, DropCollection};
pub(crate) use documents::{Delete, Insert, Replace};
pub(crate) use indexes::{AddIndex, DropIndex};
pub(crate) use raw::{AppendEntries, TruncateEntries};
pub(crate) use relocate::Relocate;

/// One kind of write.
pub(crate) trait Operation: Sized + Send + 'static {
    /// What `prepare` decided for the request, for `commit`.
    type Plan: Send + 'static;
    /// The answer to a written request.
    type Answer: Send + 'static;

    /// Checks the request against the state as it will be after every earlier request of
    /// its batch (`batch`), and adds its records to `records`. On `Err` nothing of what it
    /// assumed stays: the caller rolls `batch` back to where it was (see [`Batch::mark`]).
    fn prepare(&mut self, batch: &mut Batch, records: &mut RecordBuf) -> Result<Self::Plan>;

    /// The request's records are in the log at `locations`: makes them visible (indexes,
    /// catalog, change feed) and answers. Runs on the writer (its leader), after the append.
    fn commit(self, plan: Self::Plan, state: &State, locations: &[Location]) -> Self::Answer;

    /// The answer from the plan alone, for a write whose records are made visible
    /// elsewhere: a cluster applies them on every node once they are committed
    /// (`crate::replica`). `None` for an operation that is never replicated.
    fn answer(&self, _plan: &Self::Plan) -> Option<Self::Answer> {
        None
    }
}

/// An operation on its way to the writer, with where its answer goes.
pub(crate) struct Job<O: Operation> {
    op: O,
    reply: Reply<O::Answer, DbError>,
}

/// A prepared operation: the job and its plan.
pub(crate) struct Planned<O: Operation> {
    job: Job<O>,
    plan: O::Plan,
}

impl<O: Operation> Job<O> {
    /// `op`, answered through `reply`.
    pub(crate) fn new(op: O, reply: Reply<O::Answer, DbError>) -> Self {
        Self { op, reply }
    }

    #[allow(clippy::result_large_err)] // handed back by value once; see `Queued::prepare`
    fn prepare(
        mut self,
        batch: &mut Batch,
        records: &mut RecordBuf,
    ) -> Result<Planned<O>, (Self, DbError)> {
        let mark = batch.mark();
        match self.op.prepare(batch, records) {
            Ok(plan) => Ok(Planned { job: self, plan }),
            Err(e) => {
                batch.roll_back(mark);
                Err((self, e))
            }
        }
    }

    pub(crate) fn fail(self, error: WriteError<DbError>) {
        self.reply.send(Err(error));
    }
}

impl<O: Operation> Planned<O> {
    /// Answers from the plan alone (a cluster: the records are applied elsewhere).
    fn answer(self) {
        let Planned { job, plan } = self;
        match job.op.answer(&plan) {
            Some(answer) => job.reply.send(Ok(answer)),
            None => job.fail(WriteError::Rejected(DbError::Internal {
                message: "this kind of write is never replicated".to_string(),
            })),
        }
    }

    fn commit(self, state: &State, locations: &[Location]) {
        let Planned { job, plan } = self;
        let answer = job.op.commit(plan, state, locations);
        job.reply.send(Ok(answer));
    }
}

/// Declares the operations: the queued and prepared request types (one variant each), the
/// conversion of a job into its variant, and their dispatch: the only `match` over kinds of operation in the write path.
macro_rules! operations {
    ($($op:ident),+ $(,)?) => {
        /// A queued write: one of the operations, with its reply.
        pub(crate) enum Queued {
            $($op(Job<$op>),)+
        }

        /// A write `prepare` accepted: its job and its plan.
        pub(crate) enum Prepared {
            $($op(Planned<$op>),)+
        }

        $(impl From<Job<$op>> for Queued {
            fn from(job: Job<$op>) -> Self {
                Self::$op(job)
            }
        })+

        impl Queued {
            // The refused request is handed back by value, once; boxing it would cost an
            // allocation for every request.
            #[allow(clippy::result_large_err)]
            pub(crate) fn prepare(self, batch: &mut Batch, records: &mut RecordBuf) -> Result<Prepared, (Self, DbError)> {
                match self {
                    $(Self::$op(job) => job
                        .prepare(batch, records)
                        .map(Prepared::$op)
                        .map_err(|(job, e)| (Self::$op(job), e)),)+
                }
            }
        }

        impl Unwritten<DbError> for Queued {
            fn fail(self, error: WriteError<DbError>) {
                match self {
                    $(Self::$op(job) => job.fail(error),)+
                }
            }
        }

        impl Prepared {
            fn commit(self, state: &State, locations: &[Location]) {
                match self {
                    $(Self::$op(planned) => planned.commit(state, locations),)+
                }
            }

            /// Answers a write whose records a cluster applied (see `Operation::answer`).
            pub(crate) fn answer(self) {
                match self {
                    $(Self::$op(planned) => planned.answer(),)+
                }
            }

            /// Answers a prepared write that was not applied after all.
            pub(crate) fn refuse(self, error: DbError) {
                match self {
                    $(Self::$op(planned) => planned.job.fail(WriteError::Rejected(error)),)+
                }
            }
        }

        impl Unwritten<DbError> for Prepared {
            fn fail(self, error: WriteError<DbError>) {
                match self {
                    $(Self::$op(planned) => planned.job.fail(error),)+
                }
            }
        }
    };
}

operations!(
    Insert,
    Replace,
    Delete,
    CreateCollection,
    DropCollection,
    AddIndex,
    DropIndex,
    Relocate,
    AppendEntries,
    TruncateEntries,
);

/// Submits `op` to the writer and awaits its typed answer.
pub(crate) async fn submit<O>(
    writer: &WriterHandle<CoreApplier>,
    op: O,
    sync: bool,
) -> Result<O::Answer>
where
    O: Operation,
    Queued: From<Job<O>>,
{
    writer
        .submit(sync, move |reply| Queued::from(Job { op, reply }))
        .await
        .map_err(DbError::from)
}

/// The core's [`Applier`]; used by the writer's leader, one at a time (a caller's thread or
/// the writer thread: it keeps nothing thread-local).
pub(crate) struct CoreApplier {
    state: Arc<State>,
    batch: Batch,
}

impl CoreApplier {
    pub(crate) fn new(state: Arc<State>, counters: Counters) -> Self {
        Self {
            batch: Batch::new(Arc::clone(&state), counters),
            state,
        }
    }
}

impl Applier for CoreApplier {
    type Request = Queued;
    type Prepared = Prepared;
    type Rejection = DbError;

    #[allow(clippy::result_large_err)] // handed back by value once; see `Queued::prepare`
    fn prepare(
        &mut self,
        request: Queued,
        records: &mut RecordBuf,
    ) -> Result<Prepared, (Queued, DbError)> {
        request.prepare(&mut self.batch, records)
    }

    fn commit(&mut self, prepared: Prepared, locations: &[Location]) {
        prepared.commit(&self.state, locations);
    }

    fn end_batch(&mut self, written: bool) {
        self.batch.end(written);
        // Every commit of the batch is done: no write prepared before an index was added
        // commits after its build has begun (`crate::builds`).
        self.state.start_index_builds();
    }
}
