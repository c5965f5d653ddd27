//! The one integration test binary: runs the real `pzctl` binary and the real emulator.

mod support;

mod apply;
mod cli;
mod conformance;
mod converge;
mod export;
mod http;
mod plan;
mod projects;
mod tidy;
mod validate;
