//! nyro-raft integration tests.
