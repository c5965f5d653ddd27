//! The one integration test binary: runs the real `pzctl` binary and the real emulator.

#[macro_use]
mod support;

mod apply;
mod cli;
mod cli_flags;
mod cms;
mod conformance;
mod converge;
mod environments;
mod events;
mod export;
mod http;
mod plan;
mod projects;
mod renames;
mod reviewed;
mod shard;
mod show;
mod tidy;
mod tolerant;
mod validate;
