//! Domain model: the resolved desired state that manifests lower into, the live state that
//! backends observe, and the acting principal.
//!
//! Everything here is pure data in ordered collections (`BTreeMap`), so whatever is computed
//! from it is deterministic. References between resources are by manifest name ([`Ref`]); only
//! `convert` translates names to live uids and back.
//!
//! The `*Spec` types are the normalized, comparable content of one resource. They are
//! serializable because a plan's `before`/`after` are specs: the plan file is a contract
//! (see `docs/plan-format.md`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::wire;

pub use wire::OrgRole;

// The enums below speak the manifests' words (`owner`, `all`, `ab_test`); `convert` alone maps
// them to and from the API's (`OWNER`, `AND`, `AB_TEST`). The raw manifest types reuse them, so
// their doc comments are also the schema's descriptions (`schemas/`).

/// A project role.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Role")]
pub enum ProjectRole {
    /// Full control of the project, including members.
    Owner,
    /// Manages content; cannot manage members.
    Member,
}

/// How several audiences combine.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Match")]
pub enum Combination {
    /// The visitor must be in every audience.
    All,
    /// The visitor must be in at least one audience.
    Any,
}

/// The experience type.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ExperienceType {
    /// Variants target audiences.
    Segmented,
    /// Traffic is split between variants.
    AbTest,
}

/// The enums print as their manifest word, which is their serde name.
macro_rules! display_as_word {
    ($($enum:ty),+) => {$(
        impl std::fmt::Display for $enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match serde_json::to_value(self) {
                    Ok(serde_json::Value::String(word)) => f.write_str(&word),
                    _ => Ok(()),
                }
            }
        }
    )+};
}
display_as_word!(ProjectRole, Combination, ExperienceType, ExperienceStatus);

/// Where a resource was declared: file, 1-based line and column.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// Everything the manifests declare, resolved and defaulted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredState {
    /// Projects by name.
    pub projects: BTreeMap<String, DesiredProject>,
}

/// One project and everything declared in it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredProject {
    pub name: String,
    pub spec: ProjectSpec,
    /// The connected stack's API key; `None` means no stack.
    pub stack: Option<String>,
    /// `None`: the manifests do not manage members. `Some`: the full member list.
    pub members: Option<Vec<MemberSpec>>,
    /// Sent with every invitation.
    pub invitation_message: Option<String>,
    /// Experience names, highest priority first. `None`: priority is not managed.
    pub experience_order: Option<Vec<String>>,
    /// Delete live objects in this project that no manifest declares.
    pub prune: bool,
    /// Custom attributes by manifest name (the live attribute `name`).
    pub attributes: BTreeMap<String, AttributeSpec>,
    /// Events by manifest name. The live identity of an event is its `key`.
    pub events: BTreeMap<String, EventSpec>,
    /// Audiences by name.
    pub audiences: BTreeMap<String, AudienceSpec>,
    /// Experiences by name.
    pub experiences: BTreeMap<String, ExperienceSpec>,
    /// Where each resource was declared, by address (see [`address`]); also where an
    /// experience's `contentTypes` were (see [`content_types_origin`]).
    pub origins: BTreeMap<String, Origin>,
    /// The names the project and its resources had before (`metadata.previousNames`), by
    /// address (see [`address`]), for renames in place.
    pub previous_names: BTreeMap<String, Vec<String>>,
    /// The names experience variants had before (`variants[].previousNames`): experience
    /// name -> variant name -> previous names.
    pub variant_previous_names: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// The project's own fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSpec {
    pub description: String,
}

/// The stack link of a project.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackLinkSpec {
    /// The stack API key; `None` when disconnected.
    pub stack: Option<String>,
}

/// A project member.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MemberSpec {
    /// Lower-cased email.
    pub email: String,
    pub role: ProjectRole,
}

/// A custom attribute.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeSpec {
    pub key: String,
    pub description: String,
}

/// An event. `key` is its live identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSpec {
    pub key: String,
    pub description: String,
}

/// An audience.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudienceSpec {
    pub description: String,
    pub rules: RuleGroup,
}

/// A group of conditions: all of them (`AND`) or any of them (`OR`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleGroup {
    pub combination: Combination,
    pub rules: Vec<RuleNode>,
}

/// A condition or a nested group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleNode {
    Group(RuleGroup),
    Condition(Condition),
}

/// One condition on an attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub attribute: AttributeRef,
    /// The API literal, e.g. `STRING_EQUALS`.
    pub condition: String,
    /// The value to match; `None` for value-less conditions such as `HAS_ANY_VALUE`.
    pub value: Option<serde_json::Value>,
    /// Negate the condition (`invertCondition`).
    pub negate: bool,
}

/// A reference to another object of the project: by manifest name, or, for a live reference to
/// an object that no longer exists, by the uid it still holds. Manifests only ever write names;
/// a dangling uid never equals any name, whatever the name looks like.
///
/// Serialized as the name itself, or as `{"uid": UID}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ref {
    Name(String),
    Uid { uid: String },
}

impl Ref {
    /// The manifest name, unless the reference is dangling.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        match self {
            Ref::Name(name) => Some(name),
            Ref::Uid { .. } => None,
        }
    }
}

impl From<&str> for Ref {
    fn from(name: &str) -> Self {
        Ref::Name(name.to_owned())
    }
}

impl From<String> for Ref {
    fn from(name: String) -> Self {
        Ref::Name(name)
    }
}

/// A reference equals a name when it is that name.
impl PartialEq<&str> for Ref {
    fn eq(&self, name: &&str) -> bool {
        self.name() == Some(*name)
    }
}

impl std::fmt::Display for Ref {
    /// How people read a reference: the name, or `uid:UID` for a dangling one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ref::Name(name) => f.write_str(name),
            Ref::Uid { uid } => write!(f, "uid:{uid}"),
        }
    }
}

/// Which attribute a condition reads.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeRef {
    /// A custom attribute by manifest name.
    Custom(Ref),
    /// A preset attribute by API name, e.g. `DEVICE_TYPE`.
    Preset(String),
}

/// The lifecycle status.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Status")]
pub enum ExperienceStatus {
    /// Not served.
    #[default]
    Draft,
    /// Served to visitors.
    Active,
    /// Stopped after being active.
    Paused,
}

/// An experience: its own fields plus the content of its current version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperienceSpec {
    pub kind: ExperienceType,
    pub description: String,
    /// Normalized as the API does (lower-case, duplicates removed), then sorted: tag order has
    /// no meaning.
    pub tags: Vec<String>,
    pub status: ExperienceStatus,
    /// In priority order (first match wins for segmented experiences).
    pub variants: Vec<VariantSpec>,
    /// A/B only: who takes part. `None`: everyone.
    pub targeting: Option<TargetingSpec>,
    /// Event names; the first is the primary metric.
    pub metrics: Vec<Ref>,
    /// The CMS content types linked to the experience's variant group in the connected stack,
    /// sorted (their order has no meaning). `None`: not managed (a manifest without
    /// `contentTypes`, or a live experience whose links could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_types: Option<Vec<String>>,
}

/// A variant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariantSpec {
    Segmented {
        name: String,
        /// Audience names.
        audiences: Vec<Ref>,
        combination: Combination,
    },
    AbTest {
        name: String,
        /// Percent of traffic; the variants of one experience sum to 100.
        traffic: u32,
    },
}

/// A variant renamed in place: the version update sends the live variant's shortUid with its
/// new name, so CMS entry variants made for it keep working.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct VariantRename {
    /// The variant's name in the manifest.
    pub name: String,
    /// The live variant's name.
    pub renamed_from: String,
}

/// A/B targeting: audiences by name and how they combine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetingSpec {
    pub audiences: Vec<Ref>,
    pub combination: Combination,
}

/// What a member change asks for: the member, and for an invitation the message sent with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberTarget {
    #[serde(flatten)]
    pub member: MemberSpec,
    /// Sent with the invitation (creates only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_message: Option<String>,
}

/// The live (`before`) and the desired (`after`) spec of one change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sides<Before, After = Before> {
    /// `None` for creates.
    pub before: Option<Before>,
    /// `None` for deletes.
    pub after: Option<After>,
}

/// The specs of one change, typed by kind: in a plan file `kind` is the change's `kind` and
/// the sides are its `before` and `after` (`docs/plan-format.md`), so reading a plan checks
/// every spec against its kind.
///
/// Not boxed although the experience variant is the largest: a plan holds one per change, a few
/// hundred at most, and the variants are matched by value everywhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum Specs {
    Project(Sides<ProjectSpec>),
    StackLink(Sides<StackLinkSpec>),
    Member(Sides<MemberSpec, MemberTarget>),
    Attribute(Sides<AttributeSpec>),
    Event(Sides<EventSpec>),
    Audience(Sides<AudienceSpec>),
    Experience(Sides<ExperienceSpec>),
    /// Experience names, highest priority first; the live order may hold stale uids.
    ExperienceOrder(Sides<Vec<Ref>, Vec<String>>),
}

/// Apply `$body` to the [`Sides`] of every variant of a [`Specs`].
macro_rules! each_sides {
    ($specs:expr, $sides:ident => $body:expr) => {
        match $specs {
            Specs::Project($sides) => $body,
            Specs::StackLink($sides) => $body,
            Specs::Member($sides) => $body,
            Specs::Attribute($sides) => $body,
            Specs::Event($sides) => $body,
            Specs::Audience($sides) => $body,
            Specs::Experience($sides) => $body,
            Specs::ExperienceOrder($sides) => $body,
        }
    };
}

impl Specs {
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Specs::Project(_) => Kind::Project,
            Specs::StackLink(_) => Kind::StackLink,
            Specs::Member(_) => Kind::Member,
            Specs::Attribute(_) => Kind::Attribute,
            Specs::Event(_) => Kind::Event,
            Specs::Audience(_) => Kind::Audience,
            Specs::Experience(_) => Kind::Experience,
            Specs::ExperienceOrder(_) => Kind::ExperienceOrder,
        }
    }

    /// The live spec as JSON (`None` when absent).
    #[must_use]
    pub fn before_json(&self) -> Option<serde_json::Value> {
        each_sides!(self, sides => sides.before.as_ref().map(to_json))
    }

    /// The desired spec as JSON (`None` when absent).
    #[must_use]
    pub fn after_json(&self) -> Option<serde_json::Value> {
        each_sides!(self, sides => sides.after.as_ref().map(to_json))
    }

    /// Whether there is a desired spec.
    #[must_use]
    pub fn has_after(&self) -> bool {
        each_sides!(self, sides => sides.after.is_some())
    }
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    // Specs hold only strings, numbers, lists and string-keyed maps: this cannot fail.
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

impl AudienceSpec {
    /// The custom attributes the rules read.
    #[must_use]
    pub fn references(&self) -> Vec<(Kind, String)> {
        fn walk(group: &RuleGroup, out: &mut std::collections::BTreeSet<String>) {
            for node in &group.rules {
                match node {
                    RuleNode::Group(inner) => walk(inner, out),
                    RuleNode::Condition(condition) => {
                        // A dangling reference uses no object.
                        if let AttributeRef::Custom(Ref::Name(name)) = &condition.attribute {
                            out.insert(name.clone());
                        }
                    }
                }
            }
        }
        let mut names = std::collections::BTreeSet::new();
        walk(&self.rules, &mut names);
        names
            .into_iter()
            .map(|name| (Kind::Attribute, name))
            .collect()
    }
}

impl ExperienceSpec {
    /// The audiences and events the experience refers to (dangling references use no object).
    #[must_use]
    pub fn references(&self) -> Vec<(Kind, String)> {
        let mut out = std::collections::BTreeSet::new();
        let mut add = |kind: Kind, refs: &[Ref]| {
            for name in refs.iter().filter_map(Ref::name) {
                out.insert((kind, name.to_owned()));
            }
        };
        for variant in &self.variants {
            if let VariantSpec::Segmented { audiences, .. } = variant {
                add(Kind::Audience, audiences);
            }
        }
        if let Some(targeting) = &self.targeting {
            add(Kind::Audience, &targeting.audiences);
        }
        add(Kind::Event, &self.metrics);
        out.into_iter().collect()
    }
}

/// The principal that will carry out a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Lower-cased email.
    pub email: String,
    pub org_role: OrgRole,
}

/// What a backend observed: every project with its contents, as wire objects.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveState {
    /// Projects by name.
    pub projects: BTreeMap<String, LiveProject>,
    /// Who is acting; `None` when the backend cannot tell (the hosted API has no such call).
    pub principal: Option<Principal>,
    /// Records and answers that could not be read (one each); such records are unmanaged.
    pub warnings: Vec<LiveWarning>,
}

/// A live record pzctl cannot understand, or an endpoint answer it cannot use. The record is
/// left out of the live state: it is never planned against, and a change that would have to
/// touch it (a create of the same name, say) is refused. `kind` `experience_order` means the
/// project's experience priority could not be read and is not managed on this endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveWarning {
    /// The project's name; empty for a project record that could not be read.
    pub project: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The record's name (an event's key), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why it could not be read.
    pub message: String,
}

impl std::fmt::Display for LiveWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.project.is_empty() {
            write!(f, "project `{}`: ", self.project)?;
        }
        if self.kind == Kind::ExperienceOrder {
            return write!(f, "{}; the experience order is not managed", self.message);
        }
        write!(f, "{}", self.kind.as_str())?;
        if let Some(name) = &self.name {
            write!(f, " `{name}`")?;
        }
        if let Some(uid) = &self.uid {
            write!(f, " (uid {uid})")?;
        }
        write!(
            f,
            " cannot be read: {}; it is left alone as unmanaged",
            self.message
        )
    }
}

/// One live project and its contents.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveProject {
    pub project: wire::Project,
    /// `None` when the backend has no members endpoint (the hosted API).
    pub members: Option<Vec<wire::Member>>,
    /// Includes presets.
    pub attributes: Vec<wire::Attribute>,
    pub events: Vec<wire::Event>,
    pub audiences: Vec<wire::Audience>,
    pub experiences: Vec<LiveExperience>,
    /// Experience uids, highest priority first.
    pub priority: Vec<String>,
    /// Why the connected stack's variant groups (Content Management API) could not be read;
    /// `None` when they were, or when the project connects no stack.
    pub cms_unread: Option<String>,
}

impl LiveProject {
    /// `project` with nothing in it, on a backend without a members endpoint.
    #[must_use]
    pub fn empty(project: wire::Project) -> Self {
        LiveProject {
            project,
            members: None,
            attributes: Vec::new(),
            events: Vec::new(),
            audiences: Vec::new(),
            experiences: Vec::new(),
            priority: Vec::new(),
            cms_unread: None,
        }
    }
}

/// A live experience with all its versions.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveExperience {
    pub experience: wire::Experience,
    pub versions: Vec<wire::Version>,
    /// The content types linked to its variant group in the connected stack (Content
    /// Management API).
    pub content_types: ContentTypeLinks,
}

/// What is known of the content types linked to a live experience's variant group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentTypeLinks {
    /// Read from the stack's variant groups, sorted; empty when none is linked or the
    /// experience has no variant group yet (no variants, or Personalize has not made it).
    Read(Vec<String>),
    /// Not read, and why: the project connects no stack, the target has no Content Management
    /// API endpoint, or the CMA refused.
    Unread(String),
}

impl Default for ContentTypeLinks {
    fn default() -> Self {
        ContentTypeLinks::Unread("the variant groups were not read".to_owned())
    }
}

impl ContentTypeLinks {
    /// The linked content types, if they were read.
    #[must_use]
    pub fn read(&self) -> Option<&[String]> {
        match self {
            ContentTypeLinks::Read(linked) => Some(linked),
            ContentTypeLinks::Unread(_) => None,
        }
    }
}

/// The key of `origins` where an experience's `spec.contentTypes` was written, from the
/// experience's address.
#[must_use]
pub fn content_types_origin(experience_address: &str) -> String {
    format!("{experience_address}#contentTypes")
}

/// Resource kinds, in the order the plan format names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Project,
    StackLink,
    Member,
    Attribute,
    Event,
    Audience,
    Experience,
    ExperienceOrder,
}

impl Kind {
    /// The snake_case name used in addresses and JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Project => "project",
            Kind::StackLink => "stack_link",
            Kind::Member => "member",
            Kind::Attribute => "attribute",
            Kind::Event => "event",
            Kind::Audience => "audience",
            Kind::Experience => "experience",
            Kind::ExperienceOrder => "experience_order",
        }
    }
}

/// The address of a resource: `project/NAME`, `project/NAME/stack_link`,
/// `project/NAME/experience_order`, or `project/NAME/KIND/NAME` for everything else.
#[must_use]
pub fn address(project: &str, kind: Kind, name: &str) -> String {
    match kind {
        Kind::Project => format!("project/{project}"),
        Kind::StackLink | Kind::ExperienceOrder => format!("project/{project}/{}", kind.as_str()),
        _ => format!("project/{project}/{}/{name}", kind.as_str()),
    }
}
