//! The cluster tests of issue 15's "Must work" list, written against contract section 7.
//! Run them with `cargo test -p nyro-cli --test it cluster::scenarios`.
