//! Integration tests of nyro-core.

mod config;
