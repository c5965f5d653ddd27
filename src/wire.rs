//! Wire types: the JSON shapes of the Personalize Management API, as the hosted service,
//! the emulator and the embedded organization speak them.
//!
//! Field names follow the API (camelCase, `__type` discriminators, `_id` + `uid`).
//! Reading is tolerant (see "Reading what the service may send" in `docs/http-client.md`):
//! `null` strings read as empty, `uid` and `_id` stand in for each other, unknown version
//! statuses are kept as [`VersionStatus::Unknown`], a missing `__type` is inferred where the
//! shape is unambiguous. Unknown fields of versions, variants, metrics and targeting are kept
//! (`extra`) so a rewrite can carry them over; elsewhere they are ignored. Nothing is invented
//! on output.
//! This module owns shapes only: no IO, no validation, no planning.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A string field that the service may send as `null`: read as empty.
pub fn nullable<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// Who made an object and when, as the record says (each empty when it does not). Read
/// leniently: an odd value is taken as unknown, never as an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Made {
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "String::is_empty"
    )]
    pub created_at: String,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "String::is_empty"
    )]
    pub created_by: String,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "String::is_empty"
    )]
    pub created_by_user_name: String,
}

impl Made {
    /// `made 2025-01-01T00:00:00Z by Ada`, `made 2025-…`, `made by Ada`, or empty: the user
    /// name when the record has one, else the `createdBy` id.
    #[must_use]
    pub fn describe(&self) -> String {
        let who = if self.created_by_user_name.is_empty() {
            &self.created_by
        } else {
            &self.created_by_user_name
        };
        match (self.created_at.as_str(), who.as_str()) {
            ("", "") => String::new(),
            (at, "") => format!("made {at}"),
            ("", who) => format!("made by {who}"),
            (at, who) => format!("made {at} by {who}"),
        }
    }
}

/// A string field that may come as `null`, a number or anything else: only a string is kept.
fn lenient<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        _ => String::new(),
    })
}

/// Unknown fields of an object, kept as they came.
pub type Extra = serde_json::Map<String, Value>;

/// Keys the server maintains itself: never carried over from a read into a write.
pub const SERVER_KEYS: &[&str] = &[
    "_id",
    "uid",
    "createdAt",
    "updatedAt",
    "createdBy",
    "updatedBy",
    "createdByUserName",
    "updatedByUserName",
    "experience",
    "project",
];

/// A record as the API returns it: `_id` and `uid` first, then its kind's own fields, then
/// `updatedAt` and who made it ([`Made`], read, never written: what pzctl writes, plan files
/// and fingerprints, stays as it was).
macro_rules! record {
    (
        $(#[$attr:meta])*
        pub struct $name:ident { $($(#[$field_attr:meta])* pub $field:ident: $ty:ty,)* }
    ) => {
        $(#[$attr])*
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[serde(rename = "_id", default, deserialize_with = "nullable")]
            pub id: String,
            #[serde(default, deserialize_with = "nullable")]
            pub uid: String,
            $($(#[$field_attr])* pub $field: $ty,)*
            #[serde(default, deserialize_with = "nullable")]
            pub updated_at: String,
            #[serde(flatten, skip_serializing)]
            pub made: Made,
        }
    };
}

/// A record identified by `uid` and `_id`, which the service may send one without the other.
pub trait Identified {
    /// Fill a missing `uid` from `_id` and the reverse; `false` when the record has neither.
    fn fill_ids(&mut self) -> bool;
}

macro_rules! identified {
    ($($object:ident),*) => {$(
        impl Identified for $object {
            fn fill_ids(&mut self) -> bool {
                if self.uid.is_empty() {
                    self.uid.clone_from(&self.id);
                }
                if self.id.is_empty() {
                    self.id.clone_from(&self.uid);
                }
                !self.uid.is_empty()
            }
        }
    )*};
}

identified!(Project, Attribute, Event, Audience, Experience, Version);

/// An organization role, as the emulator's users file and the permission table name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    Owner,
    Admin,
    Member,
}

impl OrgRole {
    /// Organization owners and admins may do everything in every project.
    #[must_use]
    pub fn is_admin(self) -> bool {
        matches!(self, OrgRole::Owner | OrgRole::Admin)
    }
}

/// A project role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProjectRole {
    Owner,
    Member,
}

/// Whether an invited member has accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberStatus {
    Pending,
    Accepted,
}

/// The user a request acts as (emulator extension `GET /user`; the hosted API has no such call).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub email: String,
    pub organization_role: OrgRole,
}

/// What a user may do on a stack's Content Management API (emulator users file, `stacks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StackAccess {
    /// Read variant groups.
    Read,
    /// Read and change them (link and unlink content types).
    Write,
}

/// `POST /projects` and `PUT /projects/{uid}` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectInput {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    /// `None` serializes as `null`, which disconnects the stack on PUT.
    #[serde(default)]
    pub connected_stack_api_key: Option<String>,
}

/// A project as the API returns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    #[serde(rename = "_id", default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub uid: String,
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub organization_uid: String,
    #[serde(default)]
    pub connected_stack_api_key: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub created_at: String,
    #[serde(default, deserialize_with = "nullable")]
    pub updated_at: String,
}

/// Project member (emulator extension: `/projects/{uid}/users`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub email: String,
    pub role: ProjectRole,
    pub status: MemberStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_message: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub updated_at: String,
}

/// `POST /projects/{uid}/users` body (emulator extension).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberInput {
    pub email: String,
    pub role: ProjectRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_message: Option<String>,
}

/// `PUT /projects/{uid}/users/{email}` body (emulator extension).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRoleInput {
    pub role: ProjectRole,
}

/// `PRESET` or `CUSTOM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttributeType {
    Preset,
    Custom,
}

/// `POST /attributes`, `PUT /attributes/{uid}` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeInput {
    pub name: String,
    pub key: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
}

record! {
    /// An attribute as the API returns it. Lists include presets.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Attribute {
        pub name: String,
        #[serde(default, deserialize_with = "nullable")]
        pub key: String,
        #[serde(default, deserialize_with = "nullable")]
        pub description: String,
        #[serde(rename = "__type")]
        pub kind: AttributeType,
        #[serde(default, deserialize_with = "nullable")]
        pub project: String,
    }
}

/// `POST /events`, `PUT /events/{uid}` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventInput {
    pub key: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
}

record! {
    /// An event as the API returns it.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Event {
        pub key: String,
        #[serde(default, deserialize_with = "nullable")]
        pub description: String,
        #[serde(default, deserialize_with = "nullable")]
        pub project: String,
    }
}

/// `AND` / `OR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Combination {
    And,
    Or,
}

/// A node of an audience definition: a rule or a nested group. A node without `__type` is a
/// group when it has `rules` and a rule when it has `attribute`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "__type")]
pub enum RuleNode {
    #[serde(rename = "RuleCombination")]
    Combination(RuleCombination),
    Rule(Rule),
}

impl<'de> Deserialize<'de> for RuleNode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(deserializer)?;
        let kind = match value.get("__type") {
            Some(Value::String(kind)) => kind.clone(),
            None | Some(Value::Null) if value.get("rules").is_some() => "RuleCombination".into(),
            None | Some(Value::Null) if value.get("attribute").is_some() => "Rule".into(),
            None | Some(Value::Null) => {
                return Err(D::Error::custom(
                    "a rule node without `__type` has neither `rules` nor `attribute`",
                ));
            }
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`__type` {other} is not a string"
                )));
            }
        };
        match kind.as_str() {
            "RuleCombination" => serde_json::from_value(value)
                .map(RuleNode::Combination)
                .map_err(D::Error::custom),
            "Rule" => serde_json::from_value(value)
                .map(RuleNode::Rule)
                .map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "unknown rule node `__type` {other:?}"
            ))),
        }
    }
}

/// `{"__type":"RuleCombination","combinationType":"AND","rules":[…]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleCombination {
    pub combination_type: Combination,
    #[serde(default)]
    pub rules: Vec<RuleNode>,
}

/// One condition on an attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub attribute: AttributeReference,
    /// `STRING_EQUALS`, `HAS_ANY_VALUE`, … (see the Management API reference on audiences).
    pub attribute_match_condition: String,
    /// `{"__type":"StringMatchOptions","value":…}`; absent for value-less conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_match_options: Option<MatchOptions>,
    #[serde(default)]
    pub invert_condition: bool,
}

/// Which attribute a rule reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "__type")]
pub enum AttributeReference {
    /// `ref` is the custom attribute's uid.
    #[serde(rename = "CustomAttributeReference")]
    Custom {
        #[serde(rename = "ref")]
        reference: String,
    },
    /// `ref` is the preset name, such as `DEVICE_TYPE`.
    #[serde(rename = "PresetAttributeReference")]
    Preset {
        #[serde(rename = "ref")]
        reference: String,
    },
}

/// Match options: the `__type` (`StringMatchOptions`, `NumberMatchOptions`, …) and the value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchOptions {
    #[serde(rename = "__type")]
    pub kind: String,
    #[serde(default)]
    pub value: Value,
}

/// The root of an audience definition is always a `RuleCombination`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudienceDefinition {
    #[serde(rename = "__type", default = "rule_combination_type")]
    pub kind: String,
    #[serde(flatten)]
    pub root: RuleCombination,
}

fn rule_combination_type() -> String {
    "RuleCombination".to_owned()
}

/// `POST /audiences`, `PUT /audiences/{uid}` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudienceInput {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    pub definition: AudienceDefinition,
}

record! {
    /// An audience as the API returns it. Lytics-synced audiences have `source` and no
    /// `definition`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Audience {
        pub name: String,
        #[serde(default, deserialize_with = "nullable")]
        pub description: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub definition: Option<AudienceDefinition>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub source: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub slug: Option<String>,
        #[serde(default, deserialize_with = "nullable")]
        pub project: String,
    }
}

/// `SEGMENTED` / `AB_TEST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExperienceType {
    Segmented,
    AbTest,
}

/// `POST /experiences`, `PUT /experiences/{uid}` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceInput {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(rename = "__type")]
    pub kind: ExperienceType,
    #[serde(default)]
    pub tags: Vec<String>,
}

record! {
    /// An experience as the API returns it (no variants: those live on versions).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Experience {
        pub name: String,
        #[serde(default, deserialize_with = "nullable")]
        pub description: String,
        #[serde(rename = "__type")]
        pub kind: ExperienceType,
        #[serde(default, deserialize_with = "nullable")]
        pub short_uid: String,
        /// Summary status: `DRAFT`, `ACTIVE` or `PAUSED`.
        #[serde(default, deserialize_with = "nullable")]
        pub status: String,
        #[serde(default, deserialize_with = "nullable")]
        pub latest_version: String,
        #[serde(default)]
        pub tags: Vec<String>,
        #[serde(default)]
        pub referred_audiences: Vec<String>,
        #[serde(default, rename = "_cms", skip_serializing_if = "Option::is_none")]
        pub cms: Option<Value>,
    }
}

/// Version status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VersionStatus {
    Draft,
    Active,
    Paused,
    Archived,
    /// A status this client does not know: read, never treated as draft, active or paused,
    /// never written.
    #[serde(other)]
    Unknown,
}

/// A variant of a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "__type")]
pub enum Variant {
    #[serde(rename = "SegmentedVariant", rename_all = "camelCase")]
    Segmented {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        short_uid: Option<String>,
        #[serde(default)]
        audiences: Vec<String>,
        #[serde(default)]
        lytics_audiences: Vec<String>,
        /// Absent reads as `OR`, the UI's default ("Match Any").
        #[serde(default = "default_combination")]
        audience_combination_type: Combination,
        #[serde(flatten)]
        extra: Extra,
    },
    #[serde(rename = "ABTestVariant", rename_all = "camelCase")]
    AbTest {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        short_uid: Option<String>,
        /// A percentage. The API is said to accept a number or a numeric string.
        traffic_distribution: Value,
        #[serde(flatten)]
        extra: Extra,
    },
}

fn default_combination() -> Combination {
    Combination::Or
}

/// `{"__type":"Primary","event":"<event uid>","name":"…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// `Primary`, …; absent reads as empty (the first metric is the primary one anyway).
    #[serde(rename = "__type", default, deserialize_with = "nullable")]
    pub kind: String,
    pub event: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{"audience":{"audiences":[…],"audienceCombinationType":"AND"}}`; `{}` (what the official
/// CLI sends when it maps no audience) targets everyone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targeting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<TargetingAudience>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The A/B target group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetingAudience {
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default = "default_combination")]
    pub audience_combination_type: Combination,
    /// `lyticsAudiences` and anything else the service adds.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /experiences/{uid}/versions`, `PUT …/versions/{vuid}` body. PUT replaces the whole version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInput {
    pub status: VersionStatus,
    pub variants: Vec<Variant>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeting: Option<Targeting>,
    /// What this client does not manage (`variantSplit`, unknown fields), carried over from
    /// the live version a rewrite replaces.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A version as the API returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    #[serde(rename = "_id", default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub uid: String,
    pub status: VersionStatus,
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeting: Option<Targeting>,
    #[serde(default, deserialize_with = "nullable")]
    pub updated_at: String,
    /// Every other field (`variantSplit`, audit fields, unknown fields), as sent.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Version {
    /// What a rewrite of this version carries over: its fields minus those the server keeps.
    #[must_use]
    pub fn carried_over(&self) -> Extra {
        self.extra
            .iter()
            .filter(|(key, _)| !SERVER_KEYS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }
}

/// A CMS variant group of the Content Management API (`GET /v3/variant_groups`,
/// `personalize-api.md` §2.9): Personalize makes one per experience in the connected stack.
/// Read tolerantly: only `uid` is required; other fields are kept in `extra`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantGroup {
    pub uid: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// `[{uid, status: "linked"}]` as documented; a bare UID string is read as linked.
    #[serde(default)]
    pub content_types: Vec<Value>,
    /// `experience_uid`, `experience_short_uid`, `project_uid`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personalize_metadata: Option<Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl VariantGroup {
    /// The UIDs of the linked content types, sorted, each once.
    #[must_use]
    pub fn linked(&self) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        for entry in &self.content_types {
            match entry {
                Value::String(uid) => {
                    out.insert(uid.clone());
                }
                Value::Object(map) => {
                    let status = map.get("status").and_then(Value::as_str);
                    if let Some(uid) = map.get("uid").and_then(Value::as_str)
                        && !status.is_some_and(|status| status.eq_ignore_ascii_case("unlinked"))
                    {
                        out.insert(uid.to_owned());
                    }
                }
                _ => {}
            }
        }
        out.into_iter().collect()
    }

    /// The experience the group belongs to, from `personalize_metadata.experience_uid`.
    #[must_use]
    pub fn experience_uid(&self) -> Option<&str> {
        self.personalize_metadata
            .as_ref()?
            .get("experience_uid")?
            .as_str()
    }
}

/// `GET /v3/variant_groups` answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VariantGroups {
    #[serde(default)]
    pub variant_groups: Vec<Value>,
    /// With `include_count=true`: how many groups match in all pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// Whether a content type is to be linked to a variant group or unlinked from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStatus {
    Linked,
    Unlinked,
}

/// One entry of [`VariantGroupInput::content_types`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentTypeLink {
    pub uid: String,
    pub status: LinkStatus,
}

/// `PUT /v3/variant_groups/{uid}` body: both fields are required by the CMA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantGroupInput {
    pub name: String,
    pub content_types: Vec<ContentTypeLink>,
}

/// How many variant groups one `GET /v3/variant_groups` page holds (`limit`); the CMA's
/// list endpoints give at most 100.
pub const VARIANT_GROUPS_PAGE: usize = 100;

/// `GET`/`PUT /experiences-priority` body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Priority {
    pub priority_order: Vec<String>,
}

/// HTTP method of a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// GET, PUT and DELETE may be repeated safely; POST may not.
    #[must_use]
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Method::Post)
    }
}

/// One API call, independent of transport: what the HTTP client sends, what the emulator
/// receives and what the embedded organization dispatches in process.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: Method,
    /// The path with query, e.g. `/attributes` or `/projects?connectedStackApiKey=blt1`.
    pub path: String,
    /// The `x-project-uid` header, for project-scoped routes.
    pub project: Option<String>,
    /// The `organization_uid` header as the emulator received it (the HTTP client sends its
    /// own from its configuration; in process there is none).
    pub organization: Option<String>,
    /// JSON body for POST and PUT.
    pub body: Option<Value>,
    /// The `api_key` header: the connected stack's API key, on requests to the Content
    /// Management API (paths under `/v3/`, see [`is_cma_path`]).
    pub stack: Option<String>,
}

/// A project-scoped collection of the API (`/attributes`, `/events`, `/audiences`,
/// `/experiences`, each with the `x-project-uid` header): the objects it lists, the body that
/// creates or replaces one, and its path. The typed API has one generic list, create, update
/// and delete over it.
pub trait Collection: serde::de::DeserializeOwned + Send {
    /// The body of a create (POST) or an update (PUT).
    type Input: Serialize + PartialEq + Sync;
    /// The path segment, e.g. `attributes`.
    const PATH: &'static str;
    /// What messages call one object, e.g. `attribute`.
    const WORD: &'static str;
    /// The object's uid.
    fn uid(&self) -> &str;
    /// When the object was last updated, as the API says (empty when it does not).
    fn updated_at(&self) -> &str;
    /// Who made the object and when, as the API says.
    fn made(&self) -> &Made;
}

macro_rules! collection {
    ($object:ident, $input:ident, $path:literal, $word:literal) => {
        impl Collection for $object {
            type Input = $input;
            const PATH: &'static str = $path;
            const WORD: &'static str = $word;
            fn uid(&self) -> &str {
                &self.uid
            }
            fn updated_at(&self) -> &str {
                &self.updated_at
            }
            fn made(&self) -> &Made {
                &self.made
            }
        }
    };
}

collection!(Attribute, AttributeInput, "attributes", "attribute");
collection!(Event, EventInput, "events", "event");
collection!(Audience, AudienceInput, "audiences", "audience");
collection!(Experience, ExperienceInput, "experiences", "experience");

/// What a path segment holds as it is: RFC 3986's unreserved characters. Everything else is
/// percent-encoded, so that `a/b@example.com` stays one segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A request path from its segments, each percent-encoded: `["projects", uid, "users", email]`
/// gives `/projects/UID/users/EMAIL`. The only place paths are put together; the store's
/// router decodes each segment again ([`decode_segment`]).
#[must_use]
pub fn path(segments: &[&str]) -> String {
    let mut out = String::new();
    for segment in segments {
        out.push('/');
        out.extend(percent_encoding::utf8_percent_encode(segment, SEGMENT));
    }
    out
}

/// One path segment (or query component) with its `%XX` escapes decoded.
#[must_use]
pub fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

impl Request {
    #[must_use]
    pub fn get(path: impl Into<String>) -> Self {
        Request::new(Method::Get, path)
    }

    #[must_use]
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Request {
            method,
            path: path.into(),
            project: None,
            organization: None,
            body: None,
            stack: None,
        }
    }

    #[must_use]
    pub fn project(mut self, project_uid: &str) -> Self {
        self.project = Some(project_uid.to_owned());
        self
    }

    #[must_use]
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// The `api_key` header of a Content Management API request.
    #[must_use]
    pub fn stack(mut self, api_key: &str) -> Self {
        self.stack = Some(api_key.to_owned());
        self
    }

    /// Whether this request goes to the Content Management API rather than Personalize.
    #[must_use]
    pub fn is_cma(&self) -> bool {
        is_cma_path(&self.path)
    }
}

/// Whether a path (with or without query) belongs to the Content Management API: every CMA
/// route starts with `/v3/`, and no Personalize Management API route does.
#[must_use]
pub fn is_cma_path(path: &str) -> bool {
    path == "/v3" || path.starts_with("/v3/") || path.starts_with("/v3?")
}

/// An error answer of the API: the HTTP status and the JSON body as sent.
///
/// Bodies follow the Management API's error format: `{"errors":{"field":["personalize.X.Y"]}}` for
/// validation, NestJS `{"statusCode","message","error"}` for 403/404, and
/// `{"error_message":…}` for 401.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{status}: {}", self.message())]
pub struct ApiError {
    pub status: u16,
    pub body: Value,
}

impl ApiError {
    /// A 400 with one field error.
    #[must_use]
    pub fn validation(field: &str, code: &str) -> Self {
        let mut errors = BTreeMap::new();
        errors.insert(field.to_owned(), vec![code.to_owned()]);
        ApiError {
            status: 400,
            body: serde_json::json!({ "errors": errors }),
        }
    }

    /// A 401 with the hosted service's message.
    #[must_use]
    pub fn unauthorized() -> Self {
        ApiError {
            status: 401,
            body: serde_json::json!({
                "error_message": "You're not allowed in here unless you're logged in.",
                "error_code": 105
            }),
        }
    }

    /// A NestJS-style 403.
    #[must_use]
    pub fn forbidden() -> Self {
        ApiError {
            status: 403,
            body: serde_json::json!({"statusCode": 403, "message": "Forbidden resource", "error": "Forbidden"}),
        }
    }

    /// A NestJS-style 404 for an unknown route or object.
    #[must_use]
    pub fn not_found(message: &str) -> Self {
        ApiError {
            status: 404,
            body: serde_json::json!({"statusCode": 404, "message": message, "error": "Not Found"}),
        }
    }

    /// An error of the Content Management API: `{"error_message", "error_code", "errors"}`.
    #[must_use]
    pub fn cma(status: u16, code: u32, message: &str) -> Self {
        ApiError {
            status,
            body: serde_json::json!({
                "error_message": message,
                "error_code": code,
                "errors": {}
            }),
        }
    }

    /// Every `personalize.*` (or short) code in the `errors` map, in map order.
    #[must_use]
    pub fn codes(&self) -> Vec<String> {
        let mut codes = Vec::new();
        if let Some(Value::Object(errors)) = self.body.get("errors") {
            for value in errors.values() {
                match value {
                    Value::Array(items) => {
                        codes.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                    Value::String(text) => codes.push(text.clone()),
                    _ => {}
                }
            }
        }
        codes
    }

    /// A one-line human message, read in the official CLI's order:
    /// `errors` → `error_message` → `message` → `error` → raw body.
    #[must_use]
    pub fn message(&self) -> String {
        if let Some(Value::Object(errors)) = self.body.get("errors") {
            let parts: Vec<String> = errors
                .iter()
                .map(|(field, value)| match value {
                    Value::Array(items) => {
                        let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                        format!("{field}: {}", items.join(", "))
                    }
                    Value::String(text) => format!("{field}: {text}"),
                    other => format!("{field}: {other}"),
                })
                .collect();
            if !parts.is_empty() {
                return parts.join("; ");
            }
        }
        for key in ["error_message", "message", "error"] {
            if let Some(text) = self.body.get(key).and_then(Value::as_str) {
                return text.to_owned();
            }
        }
        self.body.to_string()
    }
}

/// The 24-hex id format of projects, attributes, audiences, events, experiences and versions.
#[must_use]
pub fn is_object_id(text: &str) -> bool {
    text.len() == 24 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Normalize experience tags as the API does: lower-case, duplicates removed (first kept).
#[must_use]
pub fn normalize_tags(tags: &[String]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for tag in tags {
        let lower = tag.to_lowercase();
        if seen.insert(lower.clone()) {
            out.push(lower);
        }
    }
    out
}

/// The preset attributes the API seeds in every project (`ref` values of
/// `PresetAttributeReference`).
pub const PRESET_ATTRIBUTES: &[(&str, &str)] = &[
    ("CITY", "City"),
    ("COUNTRY", "Country"),
    ("DATE_AND_TIME", "Date and Time"),
    ("DEVICE_TYPE", "Device Type"),
    ("OPERATING_SYSTEM", "Operating System"),
    ("QUERY_PARAMETERS", "Query Parameter"),
    ("REFERRER", "Referrer"),
    ("REGION", "Region"),
];

/// Match conditions the API is known to accept (`attributeMatchCondition`).
pub const MATCH_CONDITIONS: &[&str] = &[
    "STRING_EQUALS",
    "CONTAINS_SUBSTRING",
    "HAS_ANY_VALUE",
    "IS_TRUE",
    "IS_FALSE",
    "NUMBER_LESS_THAN",
    "NUMBER_GREATER_THAN",
    "NUMBER_EQUAL_TO",
    "JSON_MATCH",
    "IS_MEMBER_OF",
    "BEFORE_TIME",
    "AFTER_TIME",
    "BETWEEN_TIME",
];

/// Conditions that take no `attributeMatchOptions`.
pub const VALUELESS_CONDITIONS: &[&str] = &["HAS_ANY_VALUE", "IS_TRUE", "IS_FALSE"];

/// The Management API's documented limits, at their default values.
pub mod limits {
    pub const PROJECTS_PER_ORG: usize = 3;
    pub const EXPERIENCES_PER_PROJECT: usize = 100;
    pub const AUDIENCES_PER_PROJECT: usize = 100;
    pub const RULES_PER_AUDIENCE: usize = 50;
    pub const ATTRIBUTES_PER_PROJECT: usize = 100;
    pub const EVENTS_PER_PROJECT: usize = 100;
    pub const VARIANTS_PER_EXPERIENCE: usize = 20;
    pub const AUDIENCES_PER_VARIANT: usize = 50;
    pub const TAGS_PER_EXPERIENCE: usize = 10;
    pub const TAG_LENGTH: usize = 32;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_the_service_may_send() {
        let mut attribute: Attribute = serde_json::from_value(json!({
            "uid": "a1", "name": "Tier", "key": "tier", "description": null,
            "__type": "CUSTOM", "somethingNew": 1
        }))
        .unwrap();
        assert!(attribute.fill_ids());
        assert_eq!(
            (attribute.id.as_str(), attribute.description.as_str()),
            ("a1", "")
        );
        let mut event: Event = serde_json::from_value(json!({"_id": "e1", "key": "buy"})).unwrap();
        assert!(event.fill_ids());
        assert_eq!(event.uid, "e1");

        let version: Version = serde_json::from_value(json!({
            "uid": "v1", "status": "SCHEDULED", "targeting": {}, "variantSplit": "CUSTOM",
            "variants": [{"__type": "SegmentedVariant", "name": "A", "audiences": ["u1"]}],
            "metrics": [{"event": "e1"}]
        }))
        .unwrap();
        assert_eq!(version.status, VersionStatus::Unknown);
        assert_eq!(version.targeting, Some(Targeting::default()));
        assert_eq!(version.metrics[0].kind, "");
        assert_eq!(
            version.carried_over().get("variantSplit"),
            Some(&json!("CUSTOM"))
        );
        match &version.variants[0] {
            Variant::Segmented {
                audience_combination_type,
                ..
            } => assert_eq!(*audience_combination_type, Combination::Or),
            other => panic!("{other:?}"),
        }

        let definition: AudienceDefinition = serde_json::from_value(json!({
            "combinationType": "AND",
            "rules": [
                {"combinationType": "OR", "rules": []},
                {"attribute": {"__type": "PresetAttributeReference", "ref": "COUNTRY"},
                 "attributeMatchCondition": "HAS_ANY_VALUE"}
            ]
        }))
        .unwrap();
        assert!(matches!(definition.root.rules[0], RuleNode::Combination(_)));
        assert!(matches!(definition.root.rules[1], RuleNode::Rule(_)));
        let odd = serde_json::from_value::<RuleNode>(json!({"combinationType": "OR"}));
        assert!(odd.is_err());
    }
}
