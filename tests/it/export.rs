//! Integration tests: export round trips.
