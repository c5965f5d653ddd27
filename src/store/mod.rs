//! The store: the Personalize Management API's semantics without HTTP.
//!
//! One organization, its users, projects, members, attributes, events, audiences, experiences,
//! versions and priority lists, with the API's validation, lifecycle rules, limits and the
//! permission table (`personalize-api.md` §2–§4 and §6). [`Store::dispatch`] carries out one
//! [`wire::Request`] as one user; the emulator serves it over HTTP and the embedded local
//! organization calls it in process.
//!
//! Invariants: deterministic (ids, short uids and timestamps come from counters, never from
//! randomness or the wall clock); a request that fails changes nothing; the whole state is
//! serializable ([`Store::to_json`]).

mod clock;
mod cms;
mod persist;
mod projects;
mod resources;
#[cfg(test)]
mod tests;
mod versions;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::wire::{self, ApiError, Method, Request};

pub use persist::write_atomically;

/// What a route answers: the response body (`Value::Null` for 204), or the API's error.
type Answer = Result<Value, ApiError>;

/// Configurable limits; the defaults are the documented ones (`wire::limits`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Limits {
    pub projects_per_org: usize,
    pub experiences_per_project: usize,
    pub audiences_per_project: usize,
    pub rules_per_audience: usize,
    pub attributes_per_project: usize,
    pub events_per_project: usize,
    pub variants_per_experience: usize,
    pub audiences_per_variant: usize,
    pub tags_per_experience: usize,
    pub tag_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        use wire::limits::*;
        Limits {
            projects_per_org: PROJECTS_PER_ORG,
            experiences_per_project: EXPERIENCES_PER_PROJECT,
            audiences_per_project: AUDIENCES_PER_PROJECT,
            rules_per_audience: RULES_PER_AUDIENCE,
            attributes_per_project: ATTRIBUTES_PER_PROJECT,
            events_per_project: EVENTS_PER_PROJECT,
            variants_per_experience: VARIANTS_PER_EXPERIENCE,
            audiences_per_variant: AUDIENCES_PER_VARIANT,
            tags_per_experience: TAGS_PER_EXPERIENCE,
            tag_length: TAG_LENGTH,
        }
    }
}

/// Audit fields every record carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    created_at: String,
    updated_at: String,
    created_by: String,
    updated_by: String,
}

impl Meta {
    fn new(now: &str, actor: &str) -> Self {
        Meta {
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            created_by: actor.to_owned(),
            updated_by: actor.to_owned(),
        }
    }

    fn touch(&mut self, now: &str, actor: &str) {
        now.clone_into(&mut self.updated_at);
        actor.clone_into(&mut self.updated_by);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectRecord {
    #[serde(rename = "_id")]
    id: String,
    uid: String,
    name: String,
    description: String,
    organization_uid: String,
    connected_stack_api_key: Option<String>,
    #[serde(flatten)]
    meta: Meta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttributeRecord {
    #[serde(rename = "_id")]
    id: String,
    uid: String,
    name: String,
    key: String,
    description: String,
    #[serde(rename = "__type")]
    kind: wire::AttributeType,
    project: String,
    #[serde(flatten)]
    meta: Meta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventRecord {
    #[serde(rename = "_id")]
    id: String,
    uid: String,
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    description: String,
    project: String,
    #[serde(flatten)]
    meta: Meta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AudienceRecord {
    #[serde(rename = "_id")]
    id: String,
    uid: String,
    name: String,
    description: String,
    definition: Value,
    project: String,
    #[serde(flatten)]
    meta: Meta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExperienceRecord {
    #[serde(rename = "_id")]
    id: String,
    uid: String,
    name: String,
    description: String,
    #[serde(rename = "__type")]
    kind: wire::ExperienceType,
    short_uid: String,
    status: String,
    latest_version: String,
    tags: Vec<String>,
    referred_audiences: Vec<String>,
    referred_lytics_audiences: Vec<String>,
    #[serde(rename = "_cms", default, skip_serializing_if = "Option::is_none")]
    cms: Option<Value>,
    project: String,
    #[serde(flatten)]
    meta: Meta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionRecord {
    #[serde(rename = "_id")]
    id: String,
    uid: String,
    experience: String,
    status: wire::VersionStatus,
    variants: Vec<wire::Variant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variant_split: Option<Value>,
    metrics: Vec<wire::Metric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    targeting: Option<wire::Targeting>,
    /// Fields of the body the store does not model, served back inlined.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    extra: serde_json::Map<String, Value>,
    #[serde(flatten)]
    meta: Meta,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExperienceState {
    experience: ExperienceRecord,
    /// Oldest first.
    versions: Vec<VersionRecord>,
    /// The variant short-uid high-water mark: the next one to hand out.
    next_variant_short_uid: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectState {
    project: ProjectRecord,
    members: Vec<wire::Member>,
    attributes: Vec<AttributeRecord>,
    events: Vec<EventRecord>,
    audiences: Vec<AudienceRecord>,
    experiences: Vec<ExperienceState>,
    /// Experience uids, highest priority first.
    priority: Vec<String>,
    next_experience_short_uid: u64,
}

/// The whole organization. Serializable: this is what the embedded organization and the
/// emulator's `--data` file hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Store {
    /// [`STATE_FORMAT_VERSION`] when written; files from before it had none.
    #[serde(default)]
    format_version: u32,
    organization_uid: String,
    users: Vec<wire::User>,
    #[serde(default)]
    limits: Limits,
    clock: u64,
    next_object: u64,
    next_cms: u64,
    projects: Vec<ProjectState>,
    /// The CMS variant groups of the connected stacks (Content Management API).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    variant_groups: Vec<cms::VariantGroupRecord>,
    /// Per user email, what they may do on which stack (configuration, not data: the
    /// emulator's users file). A user without an entry acts on the stacks of the projects
    /// they can read.
    #[serde(skip)]
    stack_access:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, wire::StackAccess>>,
}

/// The format version of the state the embedded organization (`.pzctl/state.json`) and the
/// emulator's `--data` file hold (`formatVersion`).
pub const STATE_FORMAT_VERSION: u32 = 1;

/// The paths of `input` that `written` (the same state written again) does not have; `null`
/// values and `formatVersion` aside.
fn unknown_fields(input: &Value, written: &Value, at: &str, out: &mut Vec<String>) {
    match (input, written) {
        (Value::Object(input), Value::Object(written)) => {
            for (key, value) in input {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match written.get(key) {
                    Some(again) => unknown_fields(value, again, &path, out),
                    // What is written only when not empty.
                    None if is_empty(value) || path == "formatVersion" => {}
                    None => out.push(format!("`{path}`")),
                }
            }
        }
        (Value::Array(input), Value::Array(written)) => {
            for (index, (value, again)) in input.iter().zip(written).enumerate() {
                unknown_fields(value, again, &format!("{at}[{index}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// Whether a request may change state (so persistence knows when to save).
#[must_use]
pub fn is_write(request: &Request) -> bool {
    request.method != Method::Get
}

/// The HTTP status of a successful answer: 201 for creates, 204 for deletes, else 200.
#[must_use]
pub fn success_status(request: &Request) -> u16 {
    match request.method {
        Method::Get | Method::Put => 200,
        Method::Delete => 204,
        Method::Post => {
            if split_path(&request.path).0.ends_with("/accept") {
                200
            } else {
                201
            }
        }
    }
}

/// A 400 whose `errors` map holds several strings for one field.
fn invalid(field: &str, messages: &[&str]) -> ApiError {
    let mut errors = Map::new();
    errors.insert(
        field.to_owned(),
        Value::Array(
            messages
                .iter()
                .map(|m| Value::String((*m).to_owned()))
                .collect(),
        ),
    );
    ApiError {
        status: 400,
        body: json!({ "errors": errors }),
    }
}

/// A 400 with a code and a message naming the offending object.
fn invalid_ref(field: &str, code: &str, message: &str) -> ApiError {
    invalid(field, &[code, message])
}

/// A NestJS 404 for a missing object.
fn missing(kind: &str, uid: &str) -> ApiError {
    ApiError::not_found(&format!("{kind} {uid} not found"))
}

/// The JSON object body of a request, or a 400.
fn body_object(request: &Request) -> Result<&Map<String, Value>, ApiError> {
    match &request.body {
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(invalid("body", &["body must be a JSON object"])),
        None => Err(invalid("body", &["a JSON body is required"])),
    }
}

/// A required, non-empty string field.
fn required_string(body: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(invalid(field, &[&format!("{field} should not be empty")])),
        Some(Value::String(text)) if text.trim().is_empty() => {
            Err(invalid(field, &[&format!("{field} should not be empty")]))
        }
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(invalid(field, &[&format!("{field} must be a string")])),
    }
}

/// An optional string field (`null` and absent are `None`).
fn optional_string(body: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid(field, &[&format!("{field} must be a string")])),
    }
}

/// Split `/a/b?x=1` into the path and the decoded query pairs.
fn split_path(full: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = match full.split_once('?') {
        Some((path, query)) => (path, query),
        None => (full, ""),
    };
    let mut path = path.to_owned();
    while path.len() > 1 && path.ends_with('/') {
        path.pop();
    }
    let pairs = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| wire::decode_segment(&text.replace('+', " "));
            (decode(key), decode(value))
        })
        .collect();
    (path, pairs)
}

/// The decoded segments of a path.
fn segments(path: &str) -> Vec<String> {
    let segments = path.split('/').filter(|segment| !segment.is_empty());
    segments.map(wire::decode_segment).collect()
}

impl Store {
    /// A fresh organization with these users and limits.
    #[must_use]
    pub fn new(organization_uid: &str, users: Vec<wire::User>, limits: Limits) -> Self {
        let mut store = Store {
            format_version: STATE_FORMAT_VERSION,
            organization_uid: organization_uid.to_owned(),
            users: Vec::new(),
            limits,
            clock: 0,
            next_object: 1,
            next_cms: 1,
            projects: Vec::new(),
            variant_groups: Vec::new(),
            stack_access: std::collections::BTreeMap::new(),
        };
        store.set_users(users);
        store
    }

    /// Whether `request` may change state (see [`is_write`]).
    #[must_use]
    pub fn is_write(request: &Request) -> bool {
        is_write(request)
    }

    /// The whole state as JSON.
    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Read a state written by [`Store::to_json`]. A state from a newer pzctl
    /// (`formatVersion` above [`STATE_FORMAT_VERSION`]) is refused, and so is one with fields
    /// this version does not know: rewriting it would drop them.
    pub fn from_json(value: Value) -> Result<Self, String> {
        let version = match value.get("formatVersion") {
            None => 0,
            Some(found) => found
                .as_u64()
                .ok_or_else(|| format!("`formatVersion` is not a number: {found}"))?,
        };
        if version > u64::from(STATE_FORMAT_VERSION) {
            return Err(format!(
                "written by a newer pzctl: format version {version}, this pzctl reads up to version {STATE_FORMAT_VERSION}; the file is left as it is"
            ));
        }
        let mut store: Store = serde_json::from_value(value.clone())
            .map_err(|error| format!("invalid store state: {error}"))?;
        let mut unknown = Vec::new();
        unknown_fields(&value, &store.to_json(), "", &mut unknown);
        if !unknown.is_empty() {
            return Err(format!(
                "fields this pzctl does not know: {}; the file is left as it is (was it written by another pzctl?)",
                unknown.join(", ")
            ));
        }
        store.format_version = STATE_FORMAT_VERSION;
        Ok(store)
    }

    /// Replace the organization's users (emails are lower-cased; later duplicates dropped).
    pub fn set_users(&mut self, users: Vec<wire::User>) {
        self.users.clear();
        for user in users {
            self.ensure_user(user);
        }
    }

    /// Add a user if no user has that email. Returns whether the state changed.
    pub fn ensure_user(&mut self, user: wire::User) -> bool {
        let email = user.email.trim().to_lowercase();
        if self.users.iter().any(|known| known.email == email) {
            return false;
        }
        self.users.push(wire::User {
            email,
            organization_role: user.organization_role,
        });
        true
    }

    /// The organization's users.
    #[must_use]
    pub fn users(&self) -> &[wire::User] {
        &self.users
    }

    /// Set what users may do on the Content Management API, per email and stack API key.
    pub fn set_stack_access(
        &mut self,
        access: std::collections::BTreeMap<
            String,
            std::collections::BTreeMap<String, wire::StackAccess>,
        >,
    ) {
        self.stack_access = access
            .into_iter()
            .map(|(email, stacks)| (email.trim().to_lowercase(), stacks))
            .collect();
    }

    /// Change the limits (they are configuration, not data).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The organization uid.
    #[must_use]
    pub fn organization_uid(&self) -> &str {
        &self.organization_uid
    }

    /// Advance the logical clock; the rendered timestamp of the new tick.
    fn tick(&mut self) -> String {
        self.clock += 1;
        clock::render(self.clock)
    }

    fn new_id(&mut self) -> String {
        let id = clock::object_id(self.next_object);
        self.next_object += 1;
        id
    }

    fn new_cms_uid(&mut self) -> String {
        let id = clock::cms_uid(self.next_cms);
        self.next_cms += 1;
        id
    }

    fn org_role(&self, actor: &str) -> Result<wire::OrgRole, ApiError> {
        let actor = actor.to_lowercase();
        self.users
            .iter()
            .find(|user| user.email == actor)
            .map(|user| user.organization_role)
            .ok_or_else(ApiError::unauthorized)
    }

    fn accepted_role(&self, actor: &str, project: usize) -> Option<wire::ProjectRole> {
        let actor = actor.to_lowercase();
        self.projects[project]
            .members
            .iter()
            .find(|member| member.email == actor && member.status == wire::MemberStatus::Accepted)
            .map(|member| member.role)
    }

    /// Org owner/admin or any accepted project role.
    fn require_read(&self, actor: &str, project: usize) -> Result<(), ApiError> {
        if self.org_role(actor)?.is_admin() || self.accepted_role(actor, project).is_some() {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// Org owner/admin or the project's accepted owner.
    fn require_manage(&self, actor: &str, project: usize) -> Result<(), ApiError> {
        if self.org_role(actor)?.is_admin()
            || self.accepted_role(actor, project) == Some(wire::ProjectRole::Owner)
        {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    fn project_index(&self, uid: &str) -> Result<usize, ApiError> {
        self.projects
            .iter()
            .position(|state| state.project.uid == uid)
            .ok_or_else(|| missing("Project", uid))
    }

    /// The project named by `x-project-uid`, after the read permission check.
    fn scoped_project(&self, actor: &str, request: &Request) -> Result<usize, ApiError> {
        let uid = match request.project.as_deref().map(str::trim) {
            Some(uid) if !uid.is_empty() => uid,
            _ => {
                return Err(invalid(
                    "x-project-uid",
                    &["x-project-uid header is required"],
                ));
            }
        };
        let index = self.project_index(uid)?;
        self.require_read(actor, index)?;
        Ok(index)
    }

    /// Carry out one API call as `actor` (an email). `Ok(Value::Null)` for 204 answers.
    pub fn dispatch(&mut self, actor: &str, request: &Request) -> Answer {
        // Unknown users are not logged in, whatever the route.
        self.org_role(actor)?;
        if request.is_cma() {
            return self.dispatch_cma(actor, request);
        }
        let (path, query) = split_path(&request.path);
        let segments = segments(&path);
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        let cannot =
            || ApiError::not_found(&format!("Cannot {} {}", request.method.as_str(), path));
        use Method::{Delete, Get, Post, Put};
        match (request.method, parts.as_slice()) {
            (Get, ["user"]) => self.current_user(actor),
            (Get, ["projects"]) => self.list_projects(actor, &query),
            (Post, ["projects"]) => self.create_project(actor, request),
            (Get, ["projects", uid]) => self.get_project(actor, uid),
            (Put, ["projects", uid]) => self.update_project(actor, uid, request),
            (Delete, ["projects", uid]) => self.delete_project(actor, uid),
            (Get, ["projects", uid, "users"]) => self.list_members(actor, uid),
            (Post, ["projects", uid, "users"]) => self.invite_member(actor, uid, request),
            (Put, ["projects", uid, "users", email]) => {
                self.update_member(actor, uid, email, request)
            }
            (Delete, ["projects", uid, "users", email]) => self.remove_member(actor, uid, email),
            (Post, ["projects", uid, "users", email, "accept"]) => {
                self.accept_invitation(actor, uid, email)
            }
            (Get | Post, [collection]) | (Put | Delete, [collection, _])
                if matches!(*collection, "attributes" | "events" | "audiences") =>
            {
                let p = self.scoped_project(actor, request)?;
                let uid = parts.get(1).copied();
                match *collection {
                    "attributes" => self.collection::<AttributeRecord>(actor, p, request, uid),
                    "events" => self.collection::<EventRecord>(actor, p, request, uid),
                    _ => self.collection::<AudienceRecord>(actor, p, request, uid),
                }
            }
            (Get, ["experiences"]) => {
                let p = self.scoped_project(actor, request)?;
                Ok(self.list_experiences(p))
            }
            (Post, ["experiences"]) => {
                let p = self.scoped_project(actor, request)?;
                self.create_experience(actor, p, request)
            }
            (Get, ["experiences", uid]) => {
                let p = self.scoped_project(actor, request)?;
                self.get_experience(p, uid)
            }
            (Put, ["experiences", uid]) => {
                let p = self.scoped_project(actor, request)?;
                self.update_experience(actor, p, uid, request)
            }
            (Delete, ["experiences", uid]) => {
                let p = self.scoped_project(actor, request)?;
                self.delete_experience(p, uid)
            }
            (Get, ["experiences", uid, "versions"]) => {
                let p = self.scoped_project(actor, request)?;
                self.list_versions(p, uid)
            }
            (Post, ["experiences", uid, "versions"]) => {
                let p = self.scoped_project(actor, request)?;
                self.create_version(actor, p, uid, request)
            }
            (Put, ["experiences", uid, "versions", version]) => {
                let p = self.scoped_project(actor, request)?;
                self.update_version(actor, p, uid, version, request)
            }
            (Delete, ["experiences", uid, "versions", version]) => {
                let p = self.scoped_project(actor, request)?;
                self.delete_version(actor, p, uid, version)
            }
            (Get, ["experiences-priority"]) => {
                let p = self.scoped_project(actor, request)?;
                Ok(json!({ "priorityOrder": self.projects[p].priority }))
            }
            (Put, ["experiences-priority"]) => {
                let p = self.scoped_project(actor, request)?;
                self.put_priority(p, request)
            }
            _ => Err(cannot()),
        }
    }

    fn current_user(&self, actor: &str) -> Answer {
        let role = self.org_role(actor)?;
        Ok(json!(wire::User {
            email: actor.to_lowercase(),
            organization_role: role,
        }))
    }
}
