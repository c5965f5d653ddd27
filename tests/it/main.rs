//! The one integration test binary: runs the real `pzctl` binary and the real emulator.

mod support;

mod apply;
mod cli;
mod conformance;
mod export;
mod plan;
mod validate;
