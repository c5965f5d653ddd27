//! Reading a whole organization into a [`LiveState`] with list endpoints only.

use crate::live::{Api, Backend, BackendError};
use crate::model::LiveState;

/// Read every project (or only those named in `only`) with its contents.
///
/// Uses list endpoints only: one per kind per project and one versions list per experience.
pub async fn observe<B: Backend>(
    api: &Api<B>,
    only: Option<&[String]>,
) -> Result<LiveState, BackendError> {
    let _ = (api, only);
    Err(BackendError::Local("observe is not written yet".to_owned()))
}
