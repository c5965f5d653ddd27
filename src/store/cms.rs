//! The Content Management API's variant groups (`personalize-api.md` §2.9): one CMS variant
//! group per experience on its project's connected stack, with one CMS variant per experience
//! variant (the uids of the experience's `_cms`), and the content types linked to it.
//!
//! Served at `GET /v3/variant_groups` (all of a stack's groups, paged with `limit`, `skip` and
//! `include_count`, or one experience's with `experience_uid`) and
//! `PUT /v3/variant_groups/{uid}` with `{name, content_types: [{uid, status}]}`; every request
//! names its stack in the `api_key` header.
//!
//! Groups follow their experiences (name, variants) whenever the CMA is asked; deleting an
//! experience leaves its group behind, still linked, as the hosted service does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Answer, Store, clock, segments, split_path};
use crate::wire::{self, ApiError, Method, Request, StackAccess};

/// One variant group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VariantGroupRecord {
    uid: String,
    /// The stack's API key.
    stack: String,
    name: String,
    experience_uid: String,
    experience_short_uid: String,
    project_uid: String,
    /// Variant short uid -> CMS variant uid.
    variants: BTreeMap<String, String>,
    /// Linked content type UIDs, sorted.
    content_types: Vec<String>,
    created_at: String,
    updated_at: String,
}

impl VariantGroupRecord {
    fn to_json(&self) -> Value {
        json!({
            "uid": self.uid,
            "name": self.name,
            "description": "",
            "source": "Personalize",
            "content_types": self
                .content_types
                .iter()
                .map(|uid| json!({"uid": uid, "status": "linked"}))
                .collect::<Vec<_>>(),
            "personalize_metadata": {
                "experience_uid": self.experience_uid,
                "experience_short_uid": self.experience_short_uid,
                "project_uid": self.project_uid,
            },
            "variants": self
                .variants
                .iter()
                .map(|(short, uid)| json!({
                    "uid": uid,
                    "personalize_metadata": {"variant_short_uid": short},
                }))
                .collect::<Vec<_>>(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

fn missing_key() -> ApiError {
    ApiError::cma(
        412,
        109,
        "The api_key is required: name the stack in the `api_key` header.",
    )
}

fn invalid_key() -> ApiError {
    ApiError::cma(412, 109, "The api_key provided is invalid.")
}

fn no_permission() -> ApiError {
    ApiError::cma(
        403,
        162,
        "You don't have the permissions to perform this action in this stack.",
    )
}

impl Store {
    /// Carry out one Content Management API request as `actor`.
    pub(super) fn dispatch_cma(&mut self, actor: &str, request: &Request) -> Answer {
        let (path, query) = split_path(&request.path);
        let segments = segments(&path);
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        let route = match (request.method, parts.as_slice()) {
            (Method::Get, ["v3", "variant_groups"]) => None,
            (Method::Put, ["v3", "variant_groups", uid]) => Some((*uid).to_owned()),
            _ => {
                return Err(ApiError::cma(
                    404,
                    141,
                    &format!("The requested URL {path} was not found on this server."),
                ));
            }
        };
        let stack = match request.stack.as_deref().map(str::trim) {
            Some(key) if !key.is_empty() => key.to_owned(),
            _ => return Err(missing_key()),
        };
        self.sync_variant_groups();
        let access = self.stack_access_of(actor, &stack)?;
        match route {
            None => self.list_variant_groups(&stack, &query),
            Some(uid) => {
                if access != StackAccess::Write {
                    return Err(no_permission());
                }
                self.update_variant_group(&stack, &uid, request)
            }
        }
    }

    /// What `actor` may do on `stack`: as the users file says, else what the actor may do in a
    /// project connected to it (org owners and admins: everything).
    fn stack_access_of(&self, actor: &str, stack: &str) -> Result<StackAccess, ApiError> {
        let actor = actor.to_lowercase();
        let connected: Vec<usize> = (0..self.projects.len())
            .filter(|&p| self.projects[p].project.connected_stack_api_key.as_deref() == Some(stack))
            .collect();
        let known = !connected.is_empty() || self.variant_groups.iter().any(|g| g.stack == stack);
        if !known {
            return Err(invalid_key());
        }
        if let Some(stacks) = self.stack_access.get(&actor) {
            return stacks.get(stack).copied().ok_or_else(no_permission);
        }
        if self.org_role(&actor)?.is_admin()
            || connected
                .iter()
                .any(|&p| self.accepted_role(&actor, p).is_some())
        {
            Ok(StackAccess::Write)
        } else {
            Err(no_permission())
        }
    }

    /// Make every experience with a `_cms` variant group on a connected stack have its group,
    /// with the experience's name and variants. Changes no clock or counter, so reading
    /// stays deterministic.
    fn sync_variant_groups(&mut self) {
        let now = clock::render(self.clock);
        let mut seen = Vec::new();
        for state in &self.projects {
            let Some(stack) = state
                .project
                .connected_stack_api_key
                .clone()
                .filter(|key| !key.is_empty())
            else {
                continue;
            };
            for experience in &state.experiences {
                let record = &experience.experience;
                let Some(Value::Object(cms)) = &record.cms else {
                    continue;
                };
                let Some(group) = cms.get("variantGroup").and_then(Value::as_str) else {
                    continue;
                };
                let variants: BTreeMap<String, String> = match cms.get("variants") {
                    Some(Value::Object(map)) => map
                        .iter()
                        .filter_map(|(short, uid)| Some((short.clone(), uid.as_str()?.to_owned())))
                        .collect(),
                    _ => BTreeMap::new(),
                };
                seen.push(VariantGroupRecord {
                    uid: group.to_owned(),
                    stack: stack.clone(),
                    name: record.name.clone(),
                    experience_uid: record.uid.clone(),
                    experience_short_uid: record.short_uid.clone(),
                    project_uid: state.project.uid.clone(),
                    variants,
                    content_types: Vec::new(),
                    created_at: now.clone(),
                    updated_at: now.clone(),
                });
            }
        }
        for fresh in seen {
            match self.variant_groups.iter_mut().find(|g| g.uid == fresh.uid) {
                Some(group) => {
                    group.stack = fresh.stack;
                    group.name = fresh.name;
                    group.experience_short_uid = fresh.experience_short_uid;
                    group.project_uid = fresh.project_uid;
                    group.variants = fresh.variants;
                }
                None => self.variant_groups.push(fresh),
            }
        }
    }

    fn list_variant_groups(&self, stack: &str, query: &[(String, String)]) -> Answer {
        let param = |name: &str| {
            query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        let number = |name: &str, default: usize| -> Result<usize, ApiError> {
            match param(name) {
                None => Ok(default),
                Some(text) => text.parse().map_err(|_| {
                    ApiError::cma(
                        422,
                        344,
                        &format!("`{name}` must be a number, got `{text}`."),
                    )
                }),
            }
        };
        let limit = number("limit", wire::VARIANT_GROUPS_PAGE)?.clamp(1, wire::VARIANT_GROUPS_PAGE);
        let skip = number("skip", 0)?;
        let experience = param("experience_uid");
        let matching: Vec<&VariantGroupRecord> = self
            .variant_groups
            .iter()
            .filter(|group| group.stack == stack)
            .filter(|group| experience.is_none_or(|uid| group.experience_uid == uid))
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(skip)
            .take(limit)
            .map(|group| group.to_json())
            .collect();
        let mut answer = Map::new();
        answer.insert("variant_groups".to_owned(), Value::Array(page));
        if param("include_count") == Some("true") {
            answer.insert("count".to_owned(), json!(matching.len()));
        }
        Ok(Value::Object(answer))
    }

    fn update_variant_group(&mut self, stack: &str, uid: &str, request: &Request) -> Answer {
        let body = request.body.as_ref().and_then(Value::as_object);
        let name = body
            .and_then(|body| body.get("name"))
            .and_then(Value::as_str)
            .filter(|name| !name.trim().is_empty());
        let content_types = body
            .and_then(|body| body.get("content_types"))
            .and_then(Value::as_array);
        let (Some(name), Some(content_types)) = (name, content_types) else {
            return Err(ApiError::cma(422, 344, "Name or content types is required"));
        };
        let mut changes = Vec::new();
        for entry in content_types {
            let uid = entry.get("uid").and_then(Value::as_str);
            let status = entry.get("status").and_then(Value::as_str);
            match (uid, status) {
                (Some(uid), Some("linked")) => changes.push((uid.to_owned(), true)),
                (Some(uid), Some("unlinked")) => changes.push((uid.to_owned(), false)),
                _ => {
                    return Err(ApiError::cma(
                        422,
                        344,
                        "Each content type needs a `uid` and a `status` of `linked` or `unlinked`.",
                    ));
                }
            }
        }
        let Some(index) = self
            .variant_groups
            .iter()
            .position(|group| group.uid == uid && group.stack == stack)
        else {
            return Err(ApiError::cma(
                404,
                141,
                &format!("The variant group {uid} was not found."),
            ));
        };
        let now = self.tick();
        let group = &mut self.variant_groups[index];
        name.clone_into(&mut group.name);
        for (content_type, linked) in changes {
            group.content_types.retain(|known| *known != content_type);
            if linked {
                group.content_types.push(content_type);
            }
        }
        group.content_types.sort();
        group.updated_at = now;
        Ok(json!({
            "notice": "Variant group updated successfully.",
            "variant_group": group.to_json(),
        }))
    }
}
