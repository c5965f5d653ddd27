//! Checking `--project` and `--delete-project` against the manifests and the organization
//! (see [`crate::plan::scope`]).

use std::collections::BTreeSet;

use anyhow::Context as _;

use crate::live::{Api, Backend};
use crate::model::LiveState;

/// The projects to read: `None` (every project) without `--project`; otherwise the
/// `--project` names and the projects to delete.
#[must_use]
pub fn only(select: &super::SelectArgs, delete_projects: &[String]) -> Option<Vec<String>> {
    (!select.project.is_empty()).then(|| {
        let mut only = select.project.clone();
        only.extend(delete_projects.iter().cloned());
        only
    })
}

/// Check the project names of a run against the manifests and what was observed. Only when a
/// name is missing is the organization's whole project list read, for the did-you-mean, so a
/// run whose names are right costs no extra request.
pub async fn check<B: Backend>(
    api: &Api<B>,
    select: &super::SelectArgs,
    delete_projects: &[String],
    declared: &BTreeSet<&str>,
    live: &LiveState,
) -> anyhow::Result<()> {
    let observed: BTreeSet<&str> = live.projects.keys().map(String::as_str).collect();
    if names(&select.project, delete_projects, declared, &observed).is_ok() {
        return Ok(());
    }
    let all = api
        .list_projects()
        .await
        .with_context(|| format!("cannot list the projects of {}", api.backend.describe()))?;
    let all: BTreeSet<&str> = all.iter().map(|project| project.name.as_str()).collect();
    names(&select.project, delete_projects, declared, &all)
}

/// [`crate::plan::scope::check`] as one error.
pub fn names(
    projects: &[String],
    delete_projects: &[String],
    declared: &BTreeSet<&str>,
    live: &BTreeSet<&str>,
) -> anyhow::Result<()> {
    crate::plan::scope::check(projects, delete_projects, declared, live)
        .map_err(|problems| anyhow::anyhow!("{}", problems.join("\n")))
}
