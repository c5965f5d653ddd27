//! Reading a whole organization into a [`LiveState`] with list endpoints only.
//!
//! Per project: members (when the backend has them), attributes, events, audiences,
//! experiences and priority are read concurrently, then the versions list of every experience
//! with bounded concurrency. The backend's pacer paces the calls; every read is repeated through
//! one [`RetryPolicy`].
//!
//! Optional routes are learned from the endpoint's answers, not from its host name: a 404 from
//! `GET /user` means the endpoint cannot tell who is acting (`principal: None`), and a 404 from
//! a project's members route means it has no members API (`members: None`).

use futures_util::future::join_all;
use tokio::sync::Semaphore;

use crate::live::retry::{RetryPolicy, retry_idempotent};
use crate::live::{Api, Backend, BackendError};
use crate::model::{LiveExperience, LiveProject, LiveState, Principal};
use crate::wire;

/// How many versions lists of one project are in flight at once.
const VERSION_READS_IN_FLIGHT: usize = 8;

/// Read every project (or only those named in `only`) with its contents.
///
/// Uses list endpoints only: one per kind per project and one versions list per experience.
/// Two projects with the same name are an error naming both uids (names identify projects in
/// manifests, so guessing would be unsafe).
pub async fn observe<B: Backend>(
    api: &Api<B>,
    only: Option<&[String]>,
) -> Result<LiveState, BackendError> {
    observe_with(api, only, &RetryPolicy::default()).await
}

/// `Ok(None)` for a 404: the endpoint has no such route.
fn optional<T>(result: Result<Option<T>, BackendError>) -> Result<Option<T>, BackendError> {
    match result {
        Err(error) if error.status() == Some(404) => Ok(None),
        other => other,
    }
}

/// [`observe`], repeating reads through `retry`.
pub async fn observe_with<B: Backend>(
    api: &Api<B>,
    only: Option<&[String]>,
    retry: &RetryPolicy,
) -> Result<LiveState, BackendError> {
    let (principal, projects) = tokio::join!(
        async { retry_idempotent!(retry, api.current_user().await) },
        async { retry_idempotent!(retry, api.list_projects().await) },
    );
    let principal = optional(principal)?.map(|user| Principal {
        email: user.email.to_lowercase(),
        org_role: user.organization_role,
    });

    let mut projects = projects?;
    projects.sort_by(|a, b| a.uid.cmp(&b.uid));
    let mut selected: Vec<wire::Project> = Vec::new();
    for project in projects {
        if let Some(first) = selected.iter().find(|p| p.name == project.name) {
            return Err(BackendError::Decode {
                method: "GET",
                path: "/projects".to_owned(),
                message: format!(
                    "two projects are named `{}` (uids {} and {}); rename one so names are unique",
                    project.name, first.uid, project.uid
                ),
            });
        }
        selected.push(project);
    }
    if let Some(only) = only {
        selected.retain(|project| only.iter().any(|name| name == &project.name));
    }

    let reads = selected
        .into_iter()
        .map(|project| observe_project(api, retry, project));
    let mut state = LiveState {
        projects: Default::default(),
        principal,
    };
    for result in join_all(reads).await {
        let live = result?;
        state.projects.insert(live.project.name.clone(), live);
    }
    Ok(state)
}

async fn observe_project<B: Backend>(
    api: &Api<B>,
    retry: &RetryPolicy,
    project: wire::Project,
) -> Result<LiveProject, BackendError> {
    let uid = project.uid.as_str();
    let members = async {
        if api.backend.supports_members() {
            optional(retry_idempotent!(retry, api.list_members(uid).await).map(Some))
        } else {
            Ok(None)
        }
    };
    let (members, attributes, events, audiences, experiences, priority) = tokio::join!(
        members,
        async { retry_idempotent!(retry, api.list::<wire::Attribute>(uid).await) },
        async { retry_idempotent!(retry, api.list::<wire::Event>(uid).await) },
        async { retry_idempotent!(retry, api.list::<wire::Audience>(uid).await) },
        async { retry_idempotent!(retry, api.list::<wire::Experience>(uid).await) },
        async { retry_idempotent!(retry, api.get_priority(uid).await) },
    );
    let experiences = experiences?;

    let limit = Semaphore::new(VERSION_READS_IN_FLIGHT);
    let limit = &limit;
    let version_reads = experiences.iter().map(|experience| async move {
        let _permit = limit
            .acquire()
            .await
            .map_err(|_| BackendError::Local("observation was cancelled".to_owned()))?;
        retry_idempotent!(retry, api.list_versions(uid, &experience.uid).await)
    });
    let versions = join_all(version_reads).await;
    let mut live_experiences = Vec::with_capacity(experiences.len());
    for (experience, versions) in experiences.into_iter().zip(versions) {
        live_experiences.push(LiveExperience {
            experience,
            versions: versions?,
        });
    }

    Ok(LiveProject {
        members: members?,
        attributes: attributes?,
        events: events?,
        audiences: audiences?,
        experiences: live_experiences,
        priority: priority?.priority_order,
        project,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_all_keeps_input_order() {
        let futures: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| async move {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                ms
            })
            .collect();
        assert_eq!(join_all(futures).await, vec![30, 10, 20]);
    }
}
