//! Integration tests of nyro-lincheck.
