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
//!
//! Reads are tolerant: a list is read record by record, and a record that does not decode
//! (or has neither `uid` nor `_id`) becomes one [`LiveWarning`] and is left out, so one odd
//! record never stops a run. An experience with a version that does not decode is left out
//! the same way (rewriting it could lose what could not be read). A `/experiences-priority`
//! answer that is not `{"priorityOrder": [...]}` (a 404, a bare array) gives one warning and
//! leaves the order unmanaged.

use futures_util::future::join_all;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::live::retry::{RetryPolicy, retry_idempotent};
use crate::live::{Api, Backend, BackendError, Request};
use crate::model::{
    ContentTypeLinks, Kind, LiveExperience, LiveProject, LiveState, LiveWarning, Principal,
};
use crate::wire::{self, Collection, Identified};

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
        async {
            retry_idempotent!(
                retry,
                api.get_value(Request::get(wire::path(&["projects"]))).await
            )
        },
    );
    let principal = optional(principal)?.map(|user| Principal {
        email: user.email.to_lowercase(),
        org_role: user.organization_role,
    });

    let mut warnings = Vec::new();
    let mut projects: Vec<wire::Project> =
        records(projects?, "", Kind::Project, "/projects", &mut warnings)?;
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
        warnings,
    };
    for result in join_all(reads).await {
        let (live, warnings) = result?;
        state.warnings.extend(warnings);
        state.projects.insert(live.project.name.clone(), live);
    }
    Ok(state)
}

async fn observe_project<B: Backend>(
    api: &Api<B>,
    retry: &RetryPolicy,
    project: wire::Project,
) -> Result<(LiveProject, Vec<LiveWarning>), BackendError> {
    let uid = project.uid.as_str();
    let name = project.name.as_str();
    let members = async {
        if api.backend.supports_members() {
            optional(retry_idempotent!(retry, api.list_members(uid).await).map(Some))
        } else {
            Ok(None)
        }
    };
    let list = |path: &'static str| async move {
        retry_idempotent!(
            retry,
            api.get_value(Request::get(wire::path(&[path])).project(uid))
                .await
        )
    };
    let (members, attributes, events, audiences, experiences, priority) = tokio::join!(
        members,
        list(wire::Attribute::PATH),
        list(wire::Event::PATH),
        list(wire::Audience::PATH),
        list(wire::Experience::PATH),
        list("experiences-priority"),
    );
    let mut warnings = Vec::new();
    let experiences: Vec<wire::Experience> = records(
        experiences?,
        name,
        Kind::Experience,
        "/experiences",
        &mut warnings,
    )?;

    let limit = Semaphore::new(VERSION_READS_IN_FLIGHT);
    let limit = &limit;
    let version_reads = experiences.iter().map(|experience| async move {
        let _permit = limit
            .acquire()
            .await
            .map_err(|_| BackendError::Local("observation was cancelled".to_owned()))?;
        let path = wire::path(&["experiences", &experience.uid, "versions"]);
        retry_idempotent!(
            retry,
            api.get_value(Request::get(path.clone()).project(uid)).await
        )
    });
    let versions = join_all(version_reads).await;
    let mut live_experiences = Vec::with_capacity(experiences.len());
    for (experience, versions) in experiences.into_iter().zip(versions) {
        let path = format!("/experiences/{}/versions", experience.uid);
        let mut odd = Vec::new();
        let versions: Vec<wire::Version> =
            records(versions?, name, Kind::Experience, &path, &mut odd)?;
        if let Some(first) = odd.first() {
            warnings.push(LiveWarning {
                project: name.to_owned(),
                kind: Kind::Experience,
                uid: Some(experience.uid.clone()),
                name: Some(experience.name.clone()),
                message: format!(
                    "its version {} cannot be read ({})",
                    first.uid.as_deref().unwrap_or("without uid"),
                    first.message
                ),
            });
            continue;
        }
        live_experiences.push(LiveExperience {
            experience,
            versions,
            content_types: ContentTypeLinks::default(),
        });
    }

    let priority = match priority {
        Ok(value) => match value
            .get("priorityOrder")
            .cloned()
            .map(serde_json::from_value)
        {
            Some(Ok(order)) if value.is_object() => Some(order),
            _ => {
                let shape = if value.is_array() {
                    "a bare array"
                } else {
                    "not `{\"priorityOrder\": [...]}`"
                };
                warnings.push(priority_warning(name, format!("the answer is {shape}")));
                None
            }
        },
        Err(error) if error.status() == Some(404) => {
            warnings.push(priority_warning(
                name,
                "the endpoint answers 404".to_owned(),
            ));
            None
        }
        Err(error) => return Err(error),
    };

    let cms_unread = observe_content_types(api, retry, &project, &mut live_experiences).await;
    let live = LiveProject {
        members: members?,
        attributes: records(
            attributes?,
            name,
            Kind::Attribute,
            "/attributes",
            &mut warnings,
        )?,
        events: records(events?, name, Kind::Event, "/events", &mut warnings)?,
        audiences: records(
            audiences?,
            name,
            Kind::Audience,
            "/audiences",
            &mut warnings,
        )?,
        experiences: live_experiences,
        priority: priority.unwrap_or_default(),
        cms_unread,
        project,
    };
    Ok((live, warnings))
}

/// How many pages of one stack's variant groups observe reads at most (a guard against an
/// endpoint that ignores `skip`).
const MAX_VARIANT_GROUP_PAGES: usize = 100;

/// The content types linked to each experience's CMS variant group, from the connected
/// stack's variant groups on the Content Management API: all of them with one
/// `GET /v3/variant_groups` per page of 100 (instead of one request per experience, as the
/// official CLI does). When the listing is not served (400, 404, 422) it falls back to one
/// request per experience that has a variant group. Returns why they could not be read,
/// if they could not; that never stops the observation.
async fn observe_content_types<B: Backend>(
    api: &Api<B>,
    retry: &RetryPolicy,
    project: &wire::Project,
    experiences: &mut [LiveExperience],
) -> Option<String> {
    let unread = |experiences: &mut [LiveExperience], why: String| {
        for experience in experiences.iter_mut() {
            experience.content_types = ContentTypeLinks::Unread(why.clone());
        }
        Some(why)
    };
    let Some(stack) = project
        .connected_stack_api_key
        .as_deref()
        .filter(|key| !key.is_empty())
    else {
        for experience in experiences.iter_mut() {
            experience.content_types = ContentTypeLinks::Read(Vec::new());
        }
        return None;
    };
    if !api.backend.supports_cma() {
        return unread(
            experiences,
            "this target has no Content Management API endpoint (--cma-endpoint)".to_owned(),
        );
    }
    let refused = |error: &BackendError| match error.api() {
        Some(answer) if matches!(answer.status, 401 | 403) => Some(format!(
            "the Content Management API refused ({}: {})",
            answer.status,
            answer.message()
        )),
        _ => None,
    };
    let mut groups: Vec<Value> = Vec::new();
    let mut listed = true;
    for _ in 0..MAX_VARIANT_GROUP_PAGES {
        let skip = groups.len();
        match retry_idempotent!(retry, api.list_variant_groups(stack, None, skip).await) {
            Ok(page) => {
                let got = page.variant_groups.len();
                groups.extend(page.variant_groups);
                let complete = page.count.is_some_and(|count| groups.len() as u64 >= count);
                if got < wire::VARIANT_GROUPS_PAGE || complete {
                    break;
                }
            }
            Err(error) => {
                if let Some(why) = refused(&error) {
                    return unread(experiences, why);
                }
                if matches!(error.status(), Some(400 | 404 | 422)) {
                    listed = false;
                    break;
                }
                return unread(
                    experiences,
                    format!("GET /v3/variant_groups failed: {error}"),
                );
            }
        }
    }
    if !listed {
        groups.clear();
        for experience in experiences.iter() {
            if experience
                .experience
                .cms
                .as_ref()
                .is_none_or(Value::is_null)
            {
                continue;
            }
            let uid = experience.experience.uid.as_str();
            match retry_idempotent!(retry, api.list_variant_groups(stack, Some(uid), 0).await) {
                Ok(page) => groups.extend(page.variant_groups),
                Err(error) => {
                    let why = refused(&error).unwrap_or_else(|| {
                        format!("GET /v3/variant_groups?experience_uid={uid} failed: {error}")
                    });
                    return unread(experiences, why);
                }
            }
        }
    }
    // One odd group never stops the run: it is left out.
    let groups: Vec<wire::VariantGroup> = groups
        .into_iter()
        .filter_map(|group| serde_json::from_value(group).ok())
        .collect();
    for experience in experiences.iter_mut() {
        let own = experience
            .experience
            .cms
            .as_ref()
            .and_then(|cms| cms.get("variantGroup"))
            .and_then(Value::as_str);
        let uid = experience.experience.uid.as_str();
        let group = groups
            .iter()
            .find(|group| Some(group.uid.as_str()) == own || group.experience_uid() == Some(uid));
        experience.content_types =
            ContentTypeLinks::Read(group.map(wire::VariantGroup::linked).unwrap_or_default());
    }
    None
}

fn priority_warning(project: &str, why: String) -> LiveWarning {
    LiveWarning {
        project: project.to_owned(),
        kind: Kind::ExperienceOrder,
        uid: None,
        name: None,
        message: format!("GET /experiences-priority is not usable: {why}"),
    }
}

/// Decode a list answer record by record. The answer itself must be a JSON array; a record
/// that does not decode, or has neither `uid` nor `_id`, becomes a warning and is left out.
fn records<T: DeserializeOwned + Identified>(
    answer: Value,
    project: &str,
    kind: Kind,
    path: &str,
    warnings: &mut Vec<LiveWarning>,
) -> Result<Vec<T>, BackendError> {
    let Value::Array(items) = answer else {
        return Err(BackendError::Decode {
            method: "GET",
            path: path.to_owned(),
            message: "expected a JSON array".to_owned(),
        });
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let text = |key: &str| {
            item.get(key)
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        let uid = text("uid").or_else(|| text("_id"));
        let name = text("name").or_else(|| text("key"));
        let message = match serde_json::from_value::<T>(item) {
            Ok(mut record) => {
                if record.fill_ids() {
                    out.push(record);
                    continue;
                }
                "it has neither `uid` nor `_id`".to_owned()
            }
            Err(error) => error.to_string(),
        };
        warnings.push(LiveWarning {
            project: project.to_owned(),
            kind,
            uid,
            name,
            message,
        });
    }
    Ok(out)
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
