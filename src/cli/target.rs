//! Choosing the live target from the global options: an HTTP endpoint (hosted region or
//! emulator URL) or the embedded local organization.

/// The selected target.
#[derive(Debug)]
pub enum Target {}
