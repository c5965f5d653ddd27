//! The manifests as written: typed documents that derive `Deserialize`, `JsonSchema` and
//! `Serialize` (for `raise`, the inverse of lowering).
//! The committed JSON Schemas (`schemas/`) are generated from these types.
//!
//! Only shape lives here (types, enums, formats, sizes); meaning (references, sums, owners)
//! is checked while lowering (`lower.rs`). Nothing outside `manifest` and `schema` sees these.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::model::{
    Combination as Match, ExperienceStatus as Status, ExperienceType, ProjectRole as Role,
};
use crate::wire;

/// The only `apiVersion` this release reads.
pub const API_VERSION: &str = "pzctl/v1";

/// Document kinds, in the order the schema lists them.
pub const KINDS: &[&str] = &["Project", "Attribute", "Event", "Audience", "Experience"];

/// Pattern of attribute keys and event keys.
pub const KEY_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";
/// Pattern of one experience tag.
pub const TAG_PATTERN: &str = "^[A-Za-z0-9_:-]{1,32}$";
/// Pattern of a CMS content type UID.
pub const CONTENT_TYPE_PATTERN: &str = "^[a-z0-9_]{1,200}$";
/// The words the CMS reserves: no content type can have one as its UID.
pub const RESTRICTED_CONTENT_TYPES: &[&str] = &[
    "api_key",
    "built_io_application_user",
    "built_io_application_user_role",
    "built_io_audit_log",
    "built_io_environment",
    "built_io_extensions",
    "built_io_installation_data",
    "built_io_label",
    "built_io_language",
    "built_io_publish_queue",
    "built_io_release",
    "built_io_upload",
    "cs_branches",
    "org_uid",
    "sys_asset",
    "sys_metadata",
];

/// Whether `text` matches [`CONTENT_TYPE_PATTERN`].
#[must_use]
pub fn is_content_type_uid(text: &str) -> bool {
    (1..=200).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The manifest format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// Version 1 of the pzctl manifest format.
    #[serde(rename = "pzctl/v1")]
    V1,
}

macro_rules! kind_enum {
    ($name:ident, $variant:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            #[doc = $doc]
            $variant,
        }
    };
}
kind_enum!(ProjectKind, Project, "A Personalize project.");
kind_enum!(AttributeKind, Attribute, "A custom attribute.");
kind_enum!(EventKind, Event, "An event used as an experience metric.");
kind_enum!(AudienceKind, Audience, "An audience: rules on attributes.");
kind_enum!(
    ExperienceKind,
    Experience,
    "An experience: segmented or A/B test."
);

/// Identifies a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectMetadata {
    /// The project name: its identity in the organization and in references from other
    /// documents.
    #[schemars(length(min = 1, max = 100), example = &"storefront")]
    pub name: String,
    /// Names the live project had before (as the organization shows them). When no live
    /// project has `name` and one has a previous name, that project is renamed in place: it
    /// keeps its UID and everything in it.
    #[serde(
        rename = "previousNames",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(inner(length(min = 1, max = 100)), example = vec!["shop"])]
    pub previous_names: Option<Vec<String>>,
}

/// Identifies a resource inside a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceMetadata {
    /// The resource name, unique per kind and project; other documents refer to it by this
    /// name.
    #[schemars(length(min = 1, max = 100), example = &"gold-members")]
    pub name: String,
    /// The name of the project (a `Project` document) this resource belongs to.
    #[schemars(length(min = 1, max = 100), example = &"storefront")]
    pub project: String,
    /// Names the resource had before. When no live resource of this kind has `name` and one
    /// has a previous name, that resource is renamed in place: it keeps its uid (and an
    /// experience its shortUid, versions and CMS variant group), and what refers to it keeps
    /// referring to it.
    #[serde(
        rename = "previousNames",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(inner(length(min = 1, max = 100)), example = vec!["gold"])]
    pub previous_names: Option<Vec<String>>,
}

/// Identifies an event: its name is the live event key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventMetadata {
    /// The event key, as sent by the SDK when the event happens (letters, digits, `_` and `-`).
    #[schemars(regex(pattern = KEY_PATTERN), example = &"add_to_cart")]
    pub name: String,
    /// The name of the project (a `Project` document) this event belongs to.
    #[schemars(length(min = 1, max = 100), example = &"storefront")]
    pub project: String,
    /// Keys the event had before. When no live event has `name` as its key and one has a
    /// previous key, that event's key is changed in place (it keeps its uid and the metrics
    /// that use it); SDK calls that send the old key stop matching.
    #[serde(
        rename = "previousNames",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(inner(regex(pattern = KEY_PATTERN)), example = vec!["addToCart"])]
    pub previous_names: Option<Vec<String>>,
}

/// A `Project` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Project")]
pub struct ProjectDocument {
    /// The manifest format version; always `pzctl/v1`.
    pub api_version: ApiVersion,
    /// The document kind.
    pub kind: ProjectKind,
    /// The project's identity.
    pub metadata: ProjectMetadata,
    /// What the project should look like (optional: a project with no settings).
    #[serde(default)]
    pub spec: ProjectSpec,
}

/// The desired content of a project.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProjectSpec {
    /// A free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500), example = &"Online store personalization")]
    pub description: Option<String>,
    /// The API key of the connected Contentstack stack. Absent: the project has no stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), example = &"blt0123456789abcdef")]
    pub stack: Option<String>,
    /// The full member list. Absent: members are not managed by these manifests. When present
    /// it must contain at least one owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = serde_json::json!([{"email": "owner@example.com", "role": "owner"}, {"email": "dev@example.com", "role": "member"}]))]
    pub members: Option<Vec<Member>>,
    /// Text sent with every invitation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000), example = &"Welcome!")]
    pub invitation_message: Option<String>,
    /// Experience names in priority order, highest first. Absent: priority is not managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = vec!["homepage-hero", "checkout-test"])]
    pub experience_order: Option<Vec<String>>,
    /// Delete live resources of this project that no manifest declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = false)]
    pub prune: Option<bool>,
}

/// A project member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The member's email address (compared case-insensitively).
    #[schemars(email, example = &"dev@example.com")]
    pub email: String,
    /// The member's project role.
    #[schemars(example = &"member")]
    pub role: Role,
}

/// An `Attribute` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Attribute")]
pub struct AttributeDocument {
    /// The manifest format version; always `pzctl/v1`.
    pub api_version: ApiVersion,
    /// The document kind.
    pub kind: AttributeKind,
    /// The attribute's identity; `name` is the live attribute name.
    pub metadata: ResourceMetadata,
    /// What the attribute should look like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<AttributeSpec>,
}

/// The desired content of a custom attribute.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeSpec {
    /// The key the SDK sets (letters, digits, `_` and `-`). Defaults to the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = KEY_PATTERN), example = &"loyalty_tier")]
    pub key: Option<String>,
    /// A free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500), example = &"Loyalty tier of the visitor")]
    pub description: Option<String>,
}

/// An `Event` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Event")]
pub struct EventDocument {
    /// The manifest format version; always `pzctl/v1`.
    pub api_version: ApiVersion,
    /// The document kind.
    pub kind: EventKind,
    /// The event's identity; `name` is the live event key.
    pub metadata: EventMetadata,
    /// What the event should look like.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<EventSpec>,
}

/// The desired content of an event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// A free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500), example = &"Added a product to the cart")]
    pub description: Option<String>,
}

/// An `Audience` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Audience")]
pub struct AudienceDocument {
    /// The manifest format version; always `pzctl/v1`.
    pub api_version: ApiVersion,
    /// The document kind.
    pub kind: AudienceKind,
    /// The audience's identity.
    pub metadata: ResourceMetadata,
    /// Who belongs to the audience.
    pub spec: AudienceSpec,
}

/// The desired content of an audience.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceSpec {
    /// A free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500), example = &"Gold tier on mobile")]
    pub description: Option<String>,
    /// The rules: one group with exactly one of `all` (every rule matches) or `any` (at least
    /// one matches). At most 50 conditions in total.
    #[schemars(example = serde_json::json!({"all": [{"attribute": "loyalty-tier", "condition": "STRING_EQUALS", "value": "gold"}]}))]
    pub rules: RuleGroup,
}

/// A group of rules: exactly one of `all` or `any`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
pub struct RuleGroup {
    /// Every rule must match (AND).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<Rule>>,
    /// At least one rule must match (OR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<Rule>>,
}

/// A rule: a nested group (`all` or `any`) or a condition on a custom attribute (`attribute`)
/// or a preset attribute (`preset`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("dependentRequired" = {"attribute": ["condition"], "preset": ["condition"]}))]
pub struct Rule {
    /// A nested group: every rule must match (AND).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<Rule>>,
    /// A nested group: at least one rule must match (OR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<Rule>>,
    /// The manifest name of a custom attribute (an `Attribute` document of the same project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1), example = &"loyalty-tier")]
    pub attribute: Option<String>,
    /// A preset attribute the API provides in every project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preset_schema", example = &"DEVICE_TYPE")]
    pub preset: Option<String>,
    /// How the attribute is matched (an API literal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "condition_schema", example = &"STRING_EQUALS")]
    pub condition: Option<String>,
    /// The value to match. Required, except for `HAS_ANY_VALUE`, `IS_TRUE` and `IS_FALSE`,
    /// which take none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"gold")]
    pub value: Option<serde_json::Value>,
    /// Negate the condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = false)]
    pub negate: Option<bool>,
}

fn preset_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = wire::PRESET_ATTRIBUTES
        .iter()
        .map(|(name, _)| *name)
        .collect();
    json_schema!({
        "description": "A preset attribute the API provides in every project.",
        "type": "string",
        "enum": names,
        "examples": ["DEVICE_TYPE"],
    })
}

fn condition_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "How the attribute is matched (an API literal).",
        "type": "string",
        "enum": wire::MATCH_CONDITIONS,
        "examples": ["STRING_EQUALS"],
    })
}

/// An `Experience` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Experience")]
pub struct ExperienceDocument {
    /// The manifest format version; always `pzctl/v1`.
    pub api_version: ApiVersion,
    /// The document kind.
    pub kind: ExperienceKind,
    /// The experience's identity.
    pub metadata: ResourceMetadata,
    /// What the experience should look like.
    pub spec: ExperienceSpec,
}

/// The desired content of an experience.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperienceSpec {
    /// `segmented`: each variant targets audiences. `ab_test`: traffic is split between
    /// variants.
    #[serde(rename = "type")]
    #[schemars(example = &"segmented")]
    pub kind: ExperienceType,
    /// A free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500), example = &"Hero banner per segment")]
    pub description: Option<String>,
    /// Up to 10 tags, each up to 32 characters of letters, digits, `_`, `:` and `-`;
    /// compared case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10), inner(regex(pattern = TAG_PATTERN)), example = vec!["env:production"])]
    pub tags: Option<Vec<String>>,
    /// The lifecycle status. Default `draft`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"active")]
    pub status: Option<Status>,
    /// The variants, in priority order (for segmented experiences the first match wins).
    /// Segmented variants need `audiences`; A/B variants need `traffic` (summing to 100).
    /// Up to 20 by default; up to 50 when the organization's limit was raised (declared as
    /// `limits.variants` in `pzctl.yaml`).
    #[schemars(length(min = 1, max = 50), example = serde_json::json!([{"name": "Control", "traffic": 50}, {"name": "Bold", "traffic": 50}]))]
    pub variants: Vec<Variant>,
    /// A/B tests only: who takes part. Absent: everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = serde_json::json!({"audiences": ["gold-members"], "match": "all"}))]
    pub targeting: Option<Targeting>,
    /// Event names (`Event` documents of the same project); the first is the primary metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = vec!["add_to_cart"])]
    pub metrics: Option<Vec<String>>,
    /// The CMS content types (their UIDs in the project's connected stack) linked to the
    /// experience's variant group, so their entries can have variants for this experience.
    /// Absent: not managed (whatever is linked stays linked). `[]`: none linked. Needs
    /// `spec.stack` on the project.
    #[serde(
        rename = "contentTypes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(inner(regex(pattern = CONTENT_TYPE_PATTERN)), example = vec!["home_page", "banner"])]
    pub content_types: Option<Vec<String>>,
}

/// One variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The variant name, unique in the experience.
    #[schemars(length(min = 1, max = 100), example = &"Gold")]
    pub name: String,
    /// Names the variant had before. A variant matched by its name or a previous name keeps
    /// its shortUid, so CMS entry variants made for it keep working.
    #[serde(
        rename = "previousNames",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(inner(length(min = 1, max = 100)), example = vec!["Gold tier"])]
    pub previous_names: Option<Vec<String>>,
    /// Segmented only: the audience names (`Audience` documents of the same project), up to 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50), example = vec!["gold-members"])]
    pub audiences: Option<Vec<String>>,
    /// Segmented only: how the audiences combine. Default `any`.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"any")]
    pub combination: Option<Match>,
    /// A/B only: percent of traffic; the variants of one experience sum to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100), example = 50)]
    pub traffic: Option<u32>,
}

/// A/B targeting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Targeting {
    /// Audience names (`Audience` documents of the same project), up to 50.
    #[schemars(length(min = 1, max = 50), example = vec!["gold-members"])]
    pub audiences: Vec<String>,
    /// How the audiences combine. Default `any`.
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"all")]
    pub combination: Option<Match>,
}
