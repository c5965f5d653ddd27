//! Translation between the model's specs (references by manifest name) and the API's wire
//! objects (references by uid), in both directions.
//!
//! The planner reads live wire objects as specs to compare them with the desired ones; the
//! applier turns desired specs into request bodies. Both go through this module, so what is
//! compared is exactly what is sent.
//!
//! Invariant: pure functions, no IO.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{
    AttributeRef, AttributeSpec, AudienceSpec, Combination, Condition, DesiredProject, EventSpec,
    ExperienceSpec, ExperienceStatus, ExperienceType, Kind, LiveExperience, LiveProject,
    MemberSpec, ProjectRole, ProjectSpec, Ref, RuleGroup, RuleNode, Sides, Specs, StackLinkSpec,
    TargetingSpec, VariantSpec,
};
use crate::wire::{self, AttributeType, Collection, VersionStatus};

/// A project-scoped resource kind that the planner diffs and the applier creates, updates and
/// deletes the same way: custom attributes, events, audiences and experiences. Implemented by
/// each kind's spec, so the diff loop (`plan::diff`) and the API calls (`apply::operations`)
/// are written once.
pub trait Resource: Clone + PartialEq + serde::Serialize + Sized {
    const KIND: Kind;
    /// The wire object of the API's collection.
    type Wire: Collection;
    /// A live object as observed (an experience comes with its versions).
    type Live;

    /// The project's live objects of this kind.
    fn live(project: &LiveProject) -> &[Self::Live];
    /// The project's declared objects of this kind, by manifest name.
    fn desired(project: &DesiredProject) -> &BTreeMap<String, Self>;
    fn object(live: &Self::Live) -> &Self::Wire;
    /// The manifest name a live object goes by; `None` for objects manifests never manage
    /// (preset attributes).
    fn name(object: &Self::Wire) -> Option<&str>;
    /// Read a live object as a spec.
    fn of_live(live: &Self::Live, names: &Names) -> Result<Self, Unexpressible>;
    /// The body that creates or replaces the object.
    fn input(
        &self,
        name: &str,
        uids: &Uids,
    ) -> Result<<Self::Wire as Collection>::Input, MissingReference>;
    /// What the spec refers to in its project.
    fn references(&self) -> Vec<(Kind, String)> {
        Vec::new()
    }
    /// What a live object refers to; all of it is detached by an update or a delete.
    fn live_references(live: &Self::Live, names: &Names) -> Vec<(Kind, String)> {
        Self::of_live(live, names)
            .map(|spec| spec.references())
            .unwrap_or_default()
    }
    /// A live spec as `desired` manages it: what the manifest leaves unmanaged (an
    /// experience's absent `contentTypes`) is taken out, so it is neither compared nor shown.
    #[must_use]
    fn managed_as(self, _desired: &Self) -> Self {
        self
    }
    /// Manifest name -> uid of this kind.
    fn uids(uids: &Uids) -> &BTreeMap<String, String>;
    fn uids_mut(uids: &mut Uids) -> &mut BTreeMap<String, String>;
    /// The typed specs of a change of this kind.
    fn specs(sides: Sides<Self>) -> Specs;
    /// The sides of a change, if it is of this kind.
    fn sides(specs: &Specs) -> Option<&Sides<Self>>;
}

/// The parts of a [`Resource`] implementation that only name the kind's field and variant.
macro_rules! resource_fields {
    ($variant:ident, $field:ident) => {
        fn live(project: &LiveProject) -> &[Self::Live] {
            &project.$field
        }
        fn desired(project: &DesiredProject) -> &BTreeMap<String, Self> {
            &project.$field
        }
        fn uids(uids: &Uids) -> &BTreeMap<String, String> {
            &uids.$field
        }
        fn uids_mut(uids: &mut Uids) -> &mut BTreeMap<String, String> {
            &mut uids.$field
        }
        fn specs(sides: Sides<Self>) -> Specs {
            Specs::$variant(sides)
        }
        fn sides(specs: &Specs) -> Option<&Sides<Self>> {
            match specs {
                Specs::$variant(sides) => Some(sides),
                _ => None,
            }
        }
    };
    // A kind whose live objects are the wire objects themselves.
    (flat $variant:ident, $field:ident) => {
        resource_fields!($variant, $field);
        fn object(live: &Self::Live) -> &Self::Wire {
            live
        }
    };
    // A flat kind named alike in `Kind`, `Specs` and `wire`.
    (same $variant:ident, $field:ident) => {
        const KIND: Kind = Kind::$variant;
        type Wire = wire::$variant;
        type Live = wire::$variant;
        resource_fields!(flat $variant, $field);
    };
}

impl Resource for AttributeSpec {
    resource_fields!(same Attribute, attributes);
    fn name(object: &wire::Attribute) -> Option<&str> {
        (object.kind == AttributeType::Custom).then_some(object.name.as_str())
    }
    fn of_live(live: &wire::Attribute, _: &Names) -> Result<Self, Unexpressible> {
        Ok(attribute_spec(live))
    }
    fn input(&self, name: &str, _: &Uids) -> Result<wire::AttributeInput, MissingReference> {
        Ok(attribute_input(name, self))
    }
}

impl Resource for EventSpec {
    resource_fields!(same Event, events);
    /// An event goes by its key.
    fn name(object: &wire::Event) -> Option<&str> {
        Some(&object.key)
    }
    fn of_live(live: &wire::Event, _: &Names) -> Result<Self, Unexpressible> {
        Ok(event_spec(live))
    }
    fn input(&self, _: &str, _: &Uids) -> Result<wire::EventInput, MissingReference> {
        Ok(event_input(self))
    }
}

impl Resource for AudienceSpec {
    resource_fields!(same Audience, audiences);
    fn name(object: &wire::Audience) -> Option<&str> {
        Some(&object.name)
    }
    fn of_live(live: &wire::Audience, names: &Names) -> Result<Self, Unexpressible> {
        audience_spec(live, names)
    }
    fn input(&self, name: &str, uids: &Uids) -> Result<wire::AudienceInput, MissingReference> {
        audience_input(name, self, uids)
    }
    fn references(&self) -> Vec<(Kind, String)> {
        AudienceSpec::references(self)
    }
}

impl Resource for ExperienceSpec {
    const KIND: Kind = Kind::Experience;
    type Wire = wire::Experience;
    type Live = LiveExperience;
    resource_fields!(Experience, experiences);
    fn object(live: &LiveExperience) -> &wire::Experience {
        &live.experience
    }
    fn name(object: &wire::Experience) -> Option<&str> {
        Some(&object.name)
    }
    fn of_live(live: &LiveExperience, names: &Names) -> Result<Self, Unexpressible> {
        Ok(experience_spec(live, names))
    }
    /// The experience's own fields; its content goes into versions.
    fn input(&self, name: &str, _: &Uids) -> Result<wire::ExperienceInput, MissingReference> {
        Ok(experience_input(name, self))
    }
    fn references(&self) -> Vec<(Kind, String)> {
        ExperienceSpec::references(self)
    }
    /// `contentTypes` absent from the manifest: whatever is linked stays as it is.
    fn managed_as(mut self, desired: &Self) -> Self {
        if desired.content_types.is_none() {
            self.content_types = None;
        }
        self
    }
    /// What any live version refers to (a pending draft as well as the version in force).
    fn live_references(live: &LiveExperience, names: &Names) -> Vec<(Kind, String)> {
        let mut out = std::collections::BTreeSet::new();
        for version in &live.versions {
            if version.status == VersionStatus::Archived {
                continue;
            }
            let content = version_content(version, names);
            let spec = ExperienceSpec {
                kind: live.experience.kind.into(),
                description: String::new(),
                tags: Vec::new(),
                status: ExperienceStatus::Draft,
                variants: content.variants,
                targeting: content.targeting,
                metrics: content.metrics,
                content_types: None,
            };
            out.extend(spec.references());
        }
        out.into_iter().collect()
    }
}

/// Map an enum between the manifests' words (`model`) and the API's (`wire`), both ways.
macro_rules! same_variants {
    ($model:ident <=> $wire:ident { $($from:ident <=> $to:ident),+ $(,)? }) => {
        impl From<$model> for wire::$wire {
            fn from(value: $model) -> Self {
                match value {
                    $($model::$from => wire::$wire::$to,)+
                }
            }
        }
        impl From<wire::$wire> for $model {
            fn from(value: wire::$wire) -> Self {
                match value {
                    $(wire::$wire::$to => $model::$from,)+
                }
            }
        }
    };
}
same_variants!(ProjectRole <=> ProjectRole { Owner <=> Owner, Member <=> Member });
same_variants!(Combination <=> Combination { All <=> And, Any <=> Or });
same_variants!(ExperienceType <=> ExperienceType { Segmented <=> Segmented, AbTest <=> AbTest });

/// A name the manifests would need but the live project does not have (yet).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{name}` does not exist in the project")]
pub struct MissingReference {
    pub kind: &'static str,
    pub name: String,
}

/// Live uid -> manifest name, per kind, for reading wire objects as specs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    /// Custom attribute uid -> attribute name.
    pub attributes: BTreeMap<String, String>,
    /// Event uid -> event key.
    pub events: BTreeMap<String, String>,
    /// Audience uid -> audience name.
    pub audiences: BTreeMap<String, String>,
}

impl Names {
    #[must_use]
    pub fn from_live(project: &LiveProject) -> Self {
        Names {
            attributes: Self::of::<AttributeSpec>(project),
            events: Self::of::<EventSpec>(project),
            audiences: Self::of::<AudienceSpec>(project),
        }
    }

    /// Uid -> the name a live object of kind `R` goes by (presets have none).
    fn of<R: Resource>(project: &LiveProject) -> BTreeMap<String, String> {
        let objects = R::live(project).iter().map(R::object);
        objects
            .filter_map(|object| Some((object.uid().to_owned(), R::name(object)?.to_owned())))
            .collect()
    }

    /// The reference a live uid reads as: its object's name, or the uid itself when no object
    /// has it (a dangling reference still has to be shown and compared; it equals no name).
    fn name(map: &BTreeMap<String, String>, uid: &str) -> Ref {
        map.get(uid).map_or_else(
            || Ref::Uid {
                uid: uid.to_owned(),
            },
            |name| Ref::Name(name.clone()),
        )
    }
}

/// Manifest name -> live uid, per kind, for building request bodies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uids {
    /// Custom attribute name -> uid.
    pub attributes: BTreeMap<String, String>,
    /// Event key -> uid.
    pub events: BTreeMap<String, String>,
    /// Audience name -> uid.
    pub audiences: BTreeMap<String, String>,
    /// Experience name -> uid.
    pub experiences: BTreeMap<String, String>,
}

impl Uids {
    #[must_use]
    pub fn from_live(project: &LiveProject) -> Self {
        let names = Names::from_live(project);
        let invert = |map: BTreeMap<String, String>| {
            map.into_iter().map(|(uid, name)| (name, uid)).collect()
        };
        Uids {
            attributes: invert(names.attributes),
            events: invert(names.events),
            audiences: invert(names.audiences),
            experiences: project
                .experiences
                .iter()
                .map(|live| (live.experience.name.clone(), live.experience.uid.clone()))
                .collect(),
        }
    }

    fn lookup(
        map: &BTreeMap<String, String>,
        kind: &'static str,
        reference: &Ref,
    ) -> Result<String, MissingReference> {
        reference
            .name()
            .and_then(|name| map.get(name))
            .cloned()
            .ok_or_else(|| MissingReference {
                kind,
                name: reference.to_string(),
            })
    }
}

#[must_use]
pub fn project_spec(project: &wire::Project) -> ProjectSpec {
    ProjectSpec {
        description: project.description.clone(),
    }
}

#[must_use]
pub fn stack_link_spec(project: &wire::Project) -> StackLinkSpec {
    StackLinkSpec {
        stack: project
            .connected_stack_api_key
            .clone()
            .filter(|key| !key.is_empty()),
    }
}

/// The body that creates or updates a project with its stack link.
#[must_use]
pub fn project_input(name: &str, spec: &ProjectSpec, stack: &StackLinkSpec) -> wire::ProjectInput {
    wire::ProjectInput {
        name: name.to_owned(),
        description: spec.description.clone(),
        connected_stack_api_key: stack.stack.clone(),
    }
}

#[must_use]
pub fn member_spec(member: &wire::Member) -> MemberSpec {
    MemberSpec {
        email: member.email.to_lowercase(),
        role: member.role.into(),
    }
}

/// `POST /projects/{uid}/users` body: the invitation of `target`'s member, with its message.
#[must_use]
pub fn member_input(target: &crate::model::MemberTarget) -> wire::MemberInput {
    wire::MemberInput {
        email: target.member.email.clone(),
        role: target.member.role.into(),
        invitation_message: target.invitation_message.clone(),
    }
}

#[must_use]
pub fn attribute_spec(attribute: &wire::Attribute) -> AttributeSpec {
    AttributeSpec {
        key: attribute.key.clone(),
        description: attribute.description.clone(),
    }
}

#[must_use]
pub fn attribute_input(name: &str, spec: &AttributeSpec) -> wire::AttributeInput {
    wire::AttributeInput {
        name: name.to_owned(),
        key: spec.key.clone(),
        description: spec.description.clone(),
    }
}

#[must_use]
pub fn event_spec(event: &wire::Event) -> EventSpec {
    EventSpec {
        key: event.key.clone(),
        description: event.description.clone(),
    }
}

#[must_use]
pub fn event_input(spec: &EventSpec) -> wire::EventInput {
    wire::EventInput {
        key: spec.key.clone(),
        description: spec.description.clone(),
    }
}

/// Why a live object cannot be expressed in manifests.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unexpressible {
    #[error("audience `{name}` is synced from {origin} and cannot be managed by manifests")]
    ExternalAudience { name: String, origin: String },
}

impl Unexpressible {
    /// What the user can do about it.
    #[must_use]
    pub fn help(&self) -> &'static str {
        match self {
            Unexpressible::ExternalAudience { .. } => "rename the audience in the manifest",
        }
    }
}

/// Read a live audience as a spec. Externally synced audiences (Lytics) have no definition.
pub fn audience_spec(
    audience: &wire::Audience,
    names: &Names,
) -> Result<AudienceSpec, Unexpressible> {
    let Some(definition) = &audience.definition else {
        return Err(Unexpressible::ExternalAudience {
            name: audience.name.clone(),
            origin: audience
                .source
                .clone()
                .unwrap_or_else(|| "an external source".to_owned()),
        });
    };
    Ok(AudienceSpec {
        description: audience.description.clone(),
        rules: rule_group_from_wire(&definition.root, names),
    })
}

fn rule_group_from_wire(group: &wire::RuleCombination, names: &Names) -> RuleGroup {
    RuleGroup {
        combination: group.combination_type.into(),
        rules: group
            .rules
            .iter()
            .map(|node| match node {
                wire::RuleNode::Combination(inner) => {
                    RuleNode::Group(rule_group_from_wire(inner, names))
                }
                wire::RuleNode::Rule(rule) => RuleNode::Condition(condition_from_wire(rule, names)),
            })
            .collect(),
    }
}

fn condition_from_wire(rule: &wire::Rule, names: &Names) -> Condition {
    let attribute = match &rule.attribute {
        wire::AttributeReference::Custom { reference } => {
            AttributeRef::Custom(Names::name(&names.attributes, reference))
        }
        wire::AttributeReference::Preset { reference } => AttributeRef::Preset(reference.clone()),
    };
    Condition {
        attribute,
        condition: rule.attribute_match_condition.clone(),
        value: rule
            .attribute_match_options
            .as_ref()
            .map(|options| options.value.clone())
            .filter(|value| !value.is_null()),
        negate: rule.invert_condition,
    }
}

/// The body that creates or replaces an audience.
pub fn audience_input(
    name: &str,
    spec: &AudienceSpec,
    uids: &Uids,
) -> Result<wire::AudienceInput, MissingReference> {
    Ok(wire::AudienceInput {
        name: name.to_owned(),
        description: spec.description.clone(),
        definition: wire::AudienceDefinition {
            kind: "RuleCombination".to_owned(),
            root: rule_group_to_wire(&spec.rules, uids)?,
        },
    })
}

fn rule_group_to_wire(
    group: &RuleGroup,
    uids: &Uids,
) -> Result<wire::RuleCombination, MissingReference> {
    let mut rules = Vec::with_capacity(group.rules.len());
    for node in &group.rules {
        rules.push(match node {
            RuleNode::Group(inner) => wire::RuleNode::Combination(rule_group_to_wire(inner, uids)?),
            RuleNode::Condition(condition) => {
                wire::RuleNode::Rule(condition_to_wire(condition, uids)?)
            }
        });
    }
    Ok(wire::RuleCombination {
        combination_type: group.combination.into(),
        rules,
    })
}

fn condition_to_wire(condition: &Condition, uids: &Uids) -> Result<wire::Rule, MissingReference> {
    let attribute = match &condition.attribute {
        AttributeRef::Custom(name) => wire::AttributeReference::Custom {
            reference: Uids::lookup(&uids.attributes, "attribute", name)?,
        },
        AttributeRef::Preset(name) => wire::AttributeReference::Preset {
            reference: name.clone(),
        },
    };
    Ok(wire::Rule {
        attribute,
        attribute_match_condition: condition.condition.clone(),
        attribute_match_options: condition.value.as_ref().map(|value| wire::MatchOptions {
            kind: match_options_type(value).to_owned(),
            value: value.clone(),
        }),
        invert_condition: condition.negate,
    })
}

/// The `__type` of `attributeMatchOptions` for a value. Only `StringMatchOptions` is confirmed
/// against the hosted API; the others follow its naming.
#[must_use]
pub fn match_options_type(value: &Value) -> &'static str {
    match value {
        Value::Number(_) => "NumberMatchOptions",
        Value::Bool(_) => "BooleanMatchOptions",
        Value::Array(_) | Value::Object(_) => "JsonMatchOptions",
        Value::String(_) | Value::Null => "StringMatchOptions",
    }
}

/// The body that creates or updates an experience's own fields (not its variants).
#[must_use]
pub fn experience_input(name: &str, spec: &ExperienceSpec) -> wire::ExperienceInput {
    wire::ExperienceInput {
        name: name.to_owned(),
        description: spec.description.clone(),
        kind: spec.kind.into(),
        tags: spec.tags.clone(),
    }
}

/// The versions of a live experience that matter for planning.
#[derive(Clone, Copy, Debug, Default)]
pub struct Versions<'a> {
    pub draft: Option<&'a wire::Version>,
    pub active: Option<&'a wire::Version>,
    pub paused: Option<&'a wire::Version>,
}

impl<'a> Versions<'a> {
    #[must_use]
    pub fn of(experience: &'a LiveExperience) -> Self {
        let find = |status| {
            experience
                .versions
                .iter()
                .find(|version| version.status == status)
        };
        Versions {
            draft: find(VersionStatus::Draft),
            active: find(VersionStatus::Active),
            paused: find(VersionStatus::Paused),
        }
    }

    /// The live status and the version whose content is in force: the active one, else the
    /// paused one, else the draft.
    #[must_use]
    pub fn effective(&self) -> (ExperienceStatus, Option<&'a wire::Version>) {
        if let Some(active) = self.active {
            (ExperienceStatus::Active, Some(active))
        } else if let Some(paused) = self.paused {
            (ExperienceStatus::Paused, Some(paused))
        } else {
            (ExperienceStatus::Draft, self.draft)
        }
    }
}

/// The content of a version, in spec terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionContent {
    pub variants: Vec<VariantSpec>,
    pub targeting: Option<TargetingSpec>,
    pub metrics: Vec<Ref>,
}

impl VersionContent {
    #[must_use]
    pub fn of_spec(spec: &ExperienceSpec) -> Self {
        VersionContent {
            variants: spec.variants.clone(),
            targeting: spec.targeting.clone(),
            metrics: spec.metrics.clone(),
        }
    }
}

/// Read a version's content in spec terms.
#[must_use]
pub fn version_content(version: &wire::Version, names: &Names) -> VersionContent {
    let variants = version
        .variants
        .iter()
        .map(|variant| match variant {
            wire::Variant::Segmented {
                name,
                audiences,
                audience_combination_type,
                ..
            } => VariantSpec::Segmented {
                name: name.clone(),
                audiences: audiences
                    .iter()
                    .map(|uid| Names::name(&names.audiences, uid))
                    .collect(),
                combination: (*audience_combination_type).into(),
            },
            wire::Variant::AbTest {
                name,
                traffic_distribution,
                ..
            } => VariantSpec::AbTest {
                name: name.clone(),
                traffic: traffic_percent(traffic_distribution),
            },
        })
        .collect();
    let targeting = version
        .targeting
        .as_ref()
        .and_then(|targeting| targeting.audience.as_ref())
        .filter(|audience| !audience.audiences.is_empty())
        .map(|audience| TargetingSpec {
            audiences: audience
                .audiences
                .iter()
                .map(|uid| Names::name(&names.audiences, uid))
                .collect(),
            combination: audience.audience_combination_type.into(),
        });
    let metrics = version
        .metrics
        .iter()
        .map(|metric| Names::name(&names.events, &metric.event))
        .collect();
    VersionContent {
        variants,
        targeting,
        metrics,
    }
}

/// A traffic percentage sent as a number or a numeric string; anything else reads as 0.
#[must_use]
pub fn traffic_percent(value: &Value) -> u32 {
    match value {
        Value::Number(number) => number
            .as_u64()
            .or_else(|| number.as_f64().map(|float| float.round().max(0.0) as u64))
            .and_then(|whole| u32::try_from(whole).ok())
            .unwrap_or(0),
        Value::String(text) => text.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// Read a live experience as a spec: its own fields, its live status, and the content of the
/// version in force (see [`Versions::effective`]).
#[must_use]
pub fn experience_spec(live: &LiveExperience, names: &Names) -> ExperienceSpec {
    let (status, version) = Versions::of(live).effective();
    let content = version
        .map(|version| version_content(version, names))
        .unwrap_or_default();
    let mut tags = wire::normalize_tags(&live.experience.tags);
    tags.sort();
    ExperienceSpec {
        kind: live.experience.kind.into(),
        description: live.experience.description.clone(),
        tags,
        status,
        variants: content.variants,
        targeting: content.targeting,
        metrics: content.metrics,
        content_types: live.content_types.read().map(<[String]>::to_vec),
    }
}

/// The body that links exactly `wanted` to a variant group named `name` that has `linked`
/// now: every wanted content type as `linked`, every other linked one as `unlinked`, sorted.
/// Both the documented delta reading and a whole-list reading of the CMA end at `wanted`.
/// `None` when nothing changes.
#[must_use]
pub fn variant_group_input(
    name: &str,
    wanted: &[String],
    linked: &[String],
) -> Option<wire::VariantGroupInput> {
    let wanted: std::collections::BTreeSet<&String> = wanted.iter().collect();
    let linked: std::collections::BTreeSet<&String> = linked.iter().collect();
    if wanted == linked {
        return None;
    }
    let mut content_types: Vec<wire::ContentTypeLink> = wanted
        .iter()
        .map(|uid| wire::ContentTypeLink {
            uid: (*uid).clone(),
            status: wire::LinkStatus::Linked,
        })
        .chain(linked.difference(&wanted).map(|uid| wire::ContentTypeLink {
            uid: (*uid).clone(),
            status: wire::LinkStatus::Unlinked,
        }))
        .collect();
    content_types.sort_by(|a, b| a.uid.cmp(&b.uid));
    Some(wire::VariantGroupInput {
        name: name.to_owned(),
        content_types,
    })
}

/// The body of a version with `content` and `status`. Variant `shortUid`s are carried over by
/// name from `existing` (the server only accepts shortUids it assigned), so CMS variant
/// mappings survive an update.
pub fn version_input(
    content: &VersionContent,
    status: VersionStatus,
    existing: Option<&wire::Version>,
    uids: &Uids,
) -> Result<wire::VersionInput, MissingReference> {
    let short_uid_of = |wanted: &str| {
        existing.and_then(|version| {
            version.variants.iter().find_map(|variant| match variant {
                wire::Variant::Segmented {
                    name, short_uid, ..
                }
                | wire::Variant::AbTest {
                    name, short_uid, ..
                } if name == wanted => short_uid.clone(),
                _ => None,
            })
        })
    };
    let mut variants = Vec::with_capacity(content.variants.len());
    for variant in &content.variants {
        variants.push(match variant {
            VariantSpec::Segmented {
                name,
                audiences,
                combination,
            } => wire::Variant::Segmented {
                name: name.clone(),
                short_uid: short_uid_of(name),
                audiences: audiences
                    .iter()
                    .map(|audience| Uids::lookup(&uids.audiences, "audience", audience))
                    .collect::<Result<_, _>>()?,
                lytics_audiences: Vec::new(),
                audience_combination_type: (*combination).into(),
                extra: wire::Extra::new(),
            },
            VariantSpec::AbTest { name, traffic } => wire::Variant::AbTest {
                name: name.clone(),
                short_uid: short_uid_of(name),
                traffic_distribution: Value::from(*traffic),
                extra: wire::Extra::new(),
            },
        });
    }
    let targeting = match &content.targeting {
        Some(targeting) => Some(wire::Targeting {
            audience: Some(wire::TargetingAudience {
                audiences: targeting
                    .audiences
                    .iter()
                    .map(|audience| Uids::lookup(&uids.audiences, "audience", audience))
                    .collect::<Result<_, _>>()?,
                audience_combination_type: targeting.combination.into(),
                extra: wire::Extra::new(),
            }),
            extra: wire::Extra::new(),
        }),
        None => None,
    };
    let mut metrics = Vec::with_capacity(content.metrics.len());
    for (index, event) in content.metrics.iter().enumerate() {
        metrics.push(wire::Metric {
            kind: if index == 0 { "Primary" } else { "Secondary" }.to_owned(),
            event: Uids::lookup(&uids.events, "event", event)?,
            name: event.to_string(),
            extra: wire::Extra::new(),
        });
    }
    Ok(wire::VersionInput {
        status,
        variants,
        metrics,
        targeting,
        extra: wire::Extra::new(),
    })
}

/// `version` with the variants that [`crate::model::VariantRename`]s rename read under their
/// new names: the base a write copies shortUids and unknown fields from, so a variant renamed
/// in place keeps its shortUid. A rename whose new name the version already has is left out.
#[must_use]
pub fn with_variant_renames(
    version: &wire::Version,
    renames: &[crate::model::VariantRename],
) -> wire::Version {
    let mut version = version.clone();
    let name_of = |variant: &wire::Variant| match variant {
        wire::Variant::Segmented { name, .. } | wire::Variant::AbTest { name, .. } => name.clone(),
    };
    let present: Vec<String> = version.variants.iter().map(name_of).collect();
    for rename in renames {
        if present.contains(&rename.name) {
            continue;
        }
        for variant in &mut version.variants {
            match variant {
                wire::Variant::Segmented { name, .. } | wire::Variant::AbTest { name, .. }
                    if *name == rename.renamed_from =>
                {
                    name.clone_from(&rename.name);
                }
                _ => {}
            }
        }
    }
    version
}

/// Read-modify-write: carry over into `input` everything of `base` (the live version the
/// write replaces or copies) that pzctl does not manage, so that a rewrite never drops it:
/// the version's own unknown fields (`variantSplit`, …), each variant's `lyticsAudiences` and
/// unknown fields (matched by name), the unknown fields of the targeting (its
/// `lyticsAudiences`, …) and of each metric (matched by event). What pzctl manages always
/// comes from `input`; server-kept keys (`_id`, audit fields) are never sent.
pub fn carry_over(input: &mut wire::VersionInput, base: &wire::Version) {
    fn merge(into: &mut wire::Extra, from: &wire::Extra) {
        for (key, value) in from {
            if !wire::SERVER_KEYS.contains(&key.as_str()) && !into.contains_key(key) {
                into.insert(key.clone(), value.clone());
            }
        }
    }
    merge(&mut input.extra, &base.carried_over());
    for variant in &mut input.variants {
        let name = match variant {
            wire::Variant::Segmented { name, .. } | wire::Variant::AbTest { name, .. } => {
                name.clone()
            }
        };
        let Some(old) = base.variants.iter().find(|old| match old {
            wire::Variant::Segmented { name: old, .. }
            | wire::Variant::AbTest { name: old, .. } => *old == name,
        }) else {
            continue;
        };
        match (variant, old) {
            (
                wire::Variant::Segmented {
                    lytics_audiences,
                    extra,
                    ..
                },
                wire::Variant::Segmented {
                    lytics_audiences: old_lytics,
                    extra: old_extra,
                    ..
                },
            ) => {
                if lytics_audiences.is_empty() {
                    lytics_audiences.clone_from(old_lytics);
                }
                merge(extra, old_extra);
            }
            (
                wire::Variant::AbTest { extra, .. },
                wire::Variant::AbTest {
                    extra: old_extra, ..
                },
            ) => merge(extra, old_extra),
            _ => {}
        }
    }
    if let Some(old) = &base.targeting {
        let targeting = input.targeting.get_or_insert_with(wire::Targeting::default);
        merge(&mut targeting.extra, &old.extra);
        if let (Some(audience), Some(old_audience)) = (&mut targeting.audience, &old.audience) {
            merge(&mut audience.extra, &old_audience.extra);
        }
        if targeting.audience.is_none() && targeting.extra.is_empty() {
            input.targeting = None;
        }
    }
    for metric in &mut input.metrics {
        if let Some(old) = base.metrics.iter().find(|old| old.event == metric.event) {
            merge(&mut metric.extra, &old.extra);
        }
    }
}

/// A version body with `version`'s own content and a new status (a status-only move): the live
/// version as it is, unknown fields included.
#[must_use]
pub fn status_only(version: &wire::Version, status: VersionStatus) -> wire::VersionInput {
    wire::VersionInput {
        status,
        variants: version.variants.clone(),
        metrics: version.metrics.clone(),
        targeting: version.targeting.clone(),
        extra: version.carried_over(),
    }
}

/// `PUT /experiences-priority` body: the `ordered` experience uids first, then every other
/// experience of `current` in its relative order (the API wants all of them).
#[must_use]
pub fn priority_input(ordered: Vec<String>, current: wire::Priority) -> wire::Priority {
    let mut priority_order = ordered;
    for uid in current.priority_order {
        if !priority_order.contains(&uid) {
            priority_order.push(uid);
        }
    }
    wire::Priority { priority_order }
}

/// The wire status for a spec status.
#[must_use]
pub fn version_status(status: ExperienceStatus) -> VersionStatus {
    match status {
        ExperienceStatus::Draft => VersionStatus::Draft,
        ExperienceStatus::Active => VersionStatus::Active,
        ExperienceStatus::Paused => VersionStatus::Paused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Combination;

    fn live_project() -> LiveProject {
        let project: wire::Project = serde_json::from_value(serde_json::json!({
            "_id": "p1", "uid": "p1", "name": "shop", "description": "d", "connectedStackApiKey": "blt1"
        }))
        .expect("project");
        let attribute: wire::Attribute = serde_json::from_value(serde_json::json!({
            "_id": "a1", "uid": "a1", "name": "tier", "key": "tier", "__type": "CUSTOM"
        }))
        .expect("attribute");
        let event: wire::Event =
            serde_json::from_value(serde_json::json!({"_id": "e1", "uid": "e1", "key": "buy"}))
                .expect("event");
        let audience: wire::Audience = serde_json::from_value(serde_json::json!({
            "_id": "u1", "uid": "u1", "name": "gold",
            "definition": {"__type": "RuleCombination", "combinationType": "AND", "rules": [
                {"__type": "Rule", "attribute": {"__type": "CustomAttributeReference", "ref": "a1"},
                 "attributeMatchCondition": "STRING_EQUALS",
                 "attributeMatchOptions": {"__type": "StringMatchOptions", "value": "gold"},
                 "invertCondition": false},
                {"__type": "RuleCombination", "combinationType": "OR", "rules": [
                    {"__type": "Rule", "attribute": {"__type": "PresetAttributeReference", "ref": "DEVICE_TYPE"},
                     "attributeMatchCondition": "HAS_ANY_VALUE", "invertCondition": true}]}
            ]}
        }))
        .expect("audience");
        LiveProject {
            attributes: vec![attribute],
            events: vec![event],
            audiences: vec![audience],
            ..LiveProject::empty(project)
        }
    }

    #[test]
    fn audience_round_trips_through_names_and_uids() {
        let live = live_project();
        let names = Names::from_live(&live);
        let uids = Uids::from_live(&live);
        let spec = audience_spec(&live.audiences[0], &names).expect("expressible");
        assert_eq!(spec.rules.combination, Combination::All);
        assert_eq!(
            spec.rules.rules[0],
            RuleNode::Condition(Condition {
                attribute: AttributeRef::Custom("tier".into()),
                condition: "STRING_EQUALS".to_owned(),
                value: Some(Value::from("gold")),
                negate: false,
            })
        );
        let input = audience_input("gold", &spec, &uids).expect("resolvable");
        assert_eq!(
            Some(&input.definition),
            live.audiences[0].definition.as_ref()
        );
    }

    #[test]
    fn a_dangling_reference_is_a_uid_and_equals_no_name() {
        let mut live = live_project();
        // The attribute the audience reads is gone.
        live.attributes.clear();
        let spec = audience_spec(&live.audiences[0], &Names::from_live(&live)).expect("rules");
        let RuleNode::Condition(condition) = &spec.rules.rules[0] else {
            panic!("a condition: {spec:?}");
        };
        let dangling = Ref::Uid {
            uid: "a1".to_owned(),
        };
        assert_eq!(condition.attribute, AttributeRef::Custom(dangling.clone()));
        assert_ne!(dangling, Ref::from("uid:a1"));
        assert_eq!(
            serde_json::to_value(&condition.attribute).expect("json"),
            serde_json::json!({"custom": {"uid": "a1"}})
        );
        let error = audience_input("gold", &spec, &Uids::from_live(&live)).expect_err("dangling");
        assert_eq!(
            error.to_string(),
            "attribute `uid:a1` does not exist in the project"
        );
    }

    #[test]
    fn missing_reference_is_named() {
        let uids = Uids::default();
        let spec = AudienceSpec {
            description: String::new(),
            rules: RuleGroup {
                combination: Combination::Any,
                rules: vec![RuleNode::Condition(Condition {
                    attribute: AttributeRef::Custom("age".into()),
                    condition: "HAS_ANY_VALUE".to_owned(),
                    value: None,
                    negate: false,
                })],
            },
        };
        let error = audience_input("x", &spec, &uids).expect_err("age is unknown");
        assert_eq!(
            error.to_string(),
            "attribute `age` does not exist in the project"
        );
    }

    #[test]
    fn version_content_round_trips_and_keeps_short_uids() {
        let live = live_project();
        let names = Names::from_live(&live);
        let uids = Uids::from_live(&live);
        let content = VersionContent {
            variants: vec![VariantSpec::Segmented {
                name: "Gold".to_owned(),
                audiences: vec!["gold".into()],
                combination: Combination::Any,
            }],
            targeting: None,
            metrics: vec!["buy".into()],
        };
        let existing: wire::Version = serde_json::from_value(serde_json::json!({
            "uid": "v1", "status": "DRAFT", "variants": [
                {"__type": "SegmentedVariant", "name": "Gold", "shortUid": "7", "audiences": [], "audienceCombinationType": "AND"}
            ]
        }))
        .expect("version");
        let input = version_input(&content, VersionStatus::Draft, Some(&existing), &uids)
            .expect("resolvable");
        match &input.variants[0] {
            wire::Variant::Segmented {
                short_uid,
                audiences,
                ..
            } => {
                assert_eq!(short_uid.as_deref(), Some("7"));
                assert_eq!(audiences, &vec!["u1".to_owned()]);
            }
            other => panic!("unexpected variant {other:?}"),
        }
        assert_eq!(input.metrics[0].kind, "Primary");
        let version = wire::Version {
            id: String::new(),
            uid: "v2".to_owned(),
            status: VersionStatus::Draft,
            variants: input.variants.clone(),
            metrics: input.metrics.clone(),
            targeting: input.targeting.clone(),
            updated_at: String::new(),
            extra: wire::Extra::new(),
        };
        assert_eq!(version_content(&version, &names), content);
    }

    #[test]
    fn a_variant_renamed_in_place_keeps_its_short_uid_and_unknown_fields() {
        let live: wire::Version = serde_json::from_value(serde_json::json!({
            "uid": "v1", "status": "ACTIVE", "variants": [
                {"__type": "ABTestVariant", "name": "Control", "shortUid": "3", "trafficDistribution": 50, "color": "grey"},
                {"__type": "ABTestVariant", "name": "Bold", "shortUid": "4", "trafficDistribution": 50}
            ]
        }))
        .expect("version");
        let renames = [
            crate::model::VariantRename {
                name: "Baseline".to_owned(),
                renamed_from: "Control".to_owned(),
            },
            // The version has the new name already: nothing to rename.
            crate::model::VariantRename {
                name: "Bold".to_owned(),
                renamed_from: "Control".to_owned(),
            },
        ];
        let base = with_variant_renames(&live, &renames);
        let content = VersionContent {
            variants: vec![
                VariantSpec::AbTest {
                    name: "Baseline".to_owned(),
                    traffic: 60,
                },
                VariantSpec::AbTest {
                    name: "Bold".to_owned(),
                    traffic: 40,
                },
            ],
            targeting: None,
            metrics: Vec::new(),
        };
        let mut input = version_input(
            &content,
            VersionStatus::Draft,
            Some(&base),
            &Uids::default(),
        )
        .expect("no references");
        carry_over(&mut input, &base);
        let described: Vec<(String, Option<String>, Option<Value>)> = input
            .variants
            .iter()
            .map(|variant| match variant {
                wire::Variant::AbTest {
                    name,
                    short_uid,
                    extra,
                    ..
                } => (name.clone(), short_uid.clone(), extra.get("color").cloned()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            described,
            [
                (
                    "Baseline".to_owned(),
                    Some("3".to_owned()),
                    Some(Value::from("grey"))
                ),
                ("Bold".to_owned(), Some("4".to_owned()), None),
            ]
        );
    }

    #[test]
    fn traffic_accepts_numbers_and_numeric_strings() {
        assert_eq!(traffic_percent(&Value::from(50)), 50);
        assert_eq!(traffic_percent(&Value::from("25")), 25);
        assert_eq!(traffic_percent(&Value::from(33.4)), 33);
        assert_eq!(traffic_percent(&Value::from("x")), 0);
    }
}
