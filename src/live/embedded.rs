//! The embedded local organization: the store behind a lock under `.pzctl/`, no server.
