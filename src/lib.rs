//! pzctl: manage Contentstack Personalize the GitOps way.
//!
//! See `ARCHITECTURE.md` for the map of modules and their invariants.

pub mod apply;
pub mod cli;
pub mod convert;
pub mod diagnostic;
pub mod emulator;
pub mod export;
pub mod live;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod render;
pub mod store;
pub mod wire;
pub mod yaml_out;

/// The JSON Schemas live with the manifests they describe; this is their public path.
pub use manifest::schema;
