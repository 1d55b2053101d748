//! A node whose Raft stopped: openraft quits on a storage error (a failed fdatasync poisons
//! the log, and every later append fails), and its metrics then stay as they were at that
//! moment but for the state, `Shutdown` (the last leader is still named: possibly the
//! stopped node itself, which would forward writes to itself). Every use of the metrics that
//! decides what a client gets checks [`stopped`] first, and an openraft error is described
//! by [`describe`], which never passes on a fatal error's text (it names data files).

use std::fmt::Display;

use openraft::error::{Fatal, RaftError};

use crate::types::{NodeId, Raft};

/// What a client is told by a node whose Raft stopped on a storage error.
pub const STOPPED: &str = "this node stopped replicating after a storage error (such as a \
                           failed fdatasync): it refuses writes and reads other than \
                           consistency=local until it is restarted; the server log has the \
                           details; use another node meanwhile";

/// What a client is told by a node whose Raft is shutting down.
const SHUTTING_DOWN: &str = "this node is shutting down; retry on another node";

/// Why `raft` can serve nothing but local reads: `Some` once it stopped (on a storage
/// error, a panic, or a shutdown).
pub fn stopped(raft: &Raft) -> Option<&'static str> {
    match &raft.metrics().borrow().running_state {
        Ok(()) => None,
        Err(fatal) => Some(fatal_message(fatal)),
    }
}

/// Whether `raft` stopped on an error (storage, panic), not by a shutdown: it will not
/// take part in the cluster again until the process restarts.
pub(crate) fn failed(raft: &Raft) -> bool {
    matches!(
        &raft.metrics().borrow().running_state,
        Err(fatal) if !matches!(fatal, Fatal::Stopped)
    )
}

/// `error` as a client may read it: an API error's own text (no file in it), or what a
/// stopped node says.
pub(crate) fn describe<E: Display>(error: &RaftError<NodeId, E>) -> String {
    match error {
        RaftError::APIError(e) => e.to_string(),
        RaftError::Fatal(fatal) => fatal_message(fatal).to_string(),
    }
}

fn fatal_message(fatal: &Fatal<NodeId>) -> &'static str {
    match fatal {
        Fatal::Stopped => SHUTTING_DOWN,
        _ => STOPPED,
    }
}

#[cfg(test)]
mod tests {
    use openraft::error::{Fatal, Infallible, RaftError};
    use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};

    use super::{STOPPED, describe};
    use crate::NodeId;

    #[test]
    fn a_fatal_error_is_described_without_its_text() {
        let io = StorageIOError::<NodeId>::new(
            ErrorSubject::LogIndex(3),
            ErrorVerb::Write,
            AnyError::error("fdatasync of /data/segment-0000000001.log failed"),
        );
        let fatal: RaftError<NodeId, Infallible> = RaftError::Fatal(Fatal::StorageError(io.into()));
        let text = describe(&fatal);
        assert_eq!(text, STOPPED);
        assert!(!text.contains("/data"));
        let stopped: RaftError<NodeId, Infallible> = RaftError::Fatal(Fatal::Stopped);
        assert!(describe(&stopped).contains("shutting down"));
    }
}
