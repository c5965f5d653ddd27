//! Raising: the inverse of lowering. Model specs become the manifest documents (`raw` types,
//! serialized) that lower back into them, with every field a manifest may leave out at its
//! default left out (`negate: false`, empty `description`, `tags` and `metrics`, no
//! `targeting`).
//!
//! The plan's manifest view (`plan::view`) and `export` both write manifests through here, so
//! the manifest vocabulary is written once, in `raw`. Values are JSON in the key order of the
//! `raw` types; `yaml_out` writes them as YAML.
//!
//! Invariant: pure; `lower(raise(spec)) == spec` for every spec lowering can produce.

use serde::Serialize;
use serde_json::Value;

use super::raw;
use crate::model::{
    AttributeRef, AttributeSpec, AudienceSpec, EventSpec, ExperienceSpec, MemberSpec, ProjectSpec,
    Ref, RuleGroup, RuleNode, StackLinkSpec, VariantSpec,
};

fn to_json(value: &impl Serialize) -> Value {
    // The raw types have string keys only, so serialization cannot fail.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Some(text) unless it is empty (manifests default text to "").
fn text(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// Some(items) unless there are none.
fn list<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

/// Manifests write references by name; a dangling live reference (shown in plans, never
/// exported) reads `uid:UID`.
fn names(refs: &[Ref]) -> Vec<String> {
    refs.iter().map(ToString::to_string).collect()
}

/// The parts of a `Project` document's `spec:`; `None` parts are left out.
#[derive(Clone, Copy, Debug, Default)]
pub struct Project<'a> {
    pub spec: Option<&'a ProjectSpec>,
    pub stack: Option<&'a str>,
    pub members: Option<&'a [MemberSpec]>,
    pub invitation_message: Option<&'a str>,
    pub experience_order: Option<&'a [String]>,
    pub prune: Option<bool>,
}

fn project(parts: &Project<'_>) -> raw::ProjectSpec {
    raw::ProjectSpec {
        description: parts.spec.and_then(|spec| text(&spec.description)),
        stack: parts.stack.map(str::to_owned),
        members: parts
            .members
            .map(|members| members.iter().map(member).collect()),
        invitation_message: parts.invitation_message.map(str::to_owned),
        experience_order: parts.experience_order.map(<[String]>::to_vec),
        prune: parts.prune,
    }
}

fn member(spec: &MemberSpec) -> raw::Member {
    raw::Member {
        email: spec.email.clone(),
        role: spec.role,
    }
}

fn attribute(spec: &AttributeSpec) -> raw::AttributeSpec {
    raw::AttributeSpec {
        key: Some(spec.key.clone()),
        description: text(&spec.description),
    }
}

/// The event key is the document's `metadata.name`, not part of its `spec:`.
fn event(spec: &EventSpec) -> raw::EventSpec {
    raw::EventSpec {
        description: text(&spec.description),
    }
}

fn audience(spec: &AudienceSpec) -> raw::AudienceSpec {
    raw::AudienceSpec {
        description: text(&spec.description),
        rules: rule_group(&spec.rules),
    }
}

fn rules(group: &RuleGroup) -> Vec<raw::Rule> {
    group
        .rules
        .iter()
        .map(|node| match node {
            RuleNode::Group(inner) => {
                let inner = rule_group(inner);
                raw::Rule {
                    all: inner.all,
                    any: inner.any,
                    ..raw::Rule::default()
                }
            }
            RuleNode::Condition(condition) => {
                let (attribute, preset) = match &condition.attribute {
                    AttributeRef::Custom(name) => (Some(name.to_string()), None),
                    AttributeRef::Preset(name) => (None, Some(name.clone())),
                };
                raw::Rule {
                    attribute,
                    preset,
                    condition: Some(condition.condition.clone()),
                    value: condition.value.clone(),
                    negate: condition.negate.then_some(true),
                    ..raw::Rule::default()
                }
            }
        })
        .collect()
}

fn rule_group(group: &RuleGroup) -> raw::RuleGroup {
    let items = Some(rules(group));
    match group.combination {
        crate::model::Combination::All => raw::RuleGroup {
            all: items,
            any: None,
        },
        crate::model::Combination::Any => raw::RuleGroup {
            all: None,
            any: items,
        },
    }
}

fn experience(spec: &ExperienceSpec) -> raw::ExperienceSpec {
    raw::ExperienceSpec {
        kind: spec.kind,
        description: text(&spec.description),
        tags: list(&spec.tags),
        // Always written although it defaults to draft: whether an experience goes live matters.
        status: Some(spec.status),
        variants: spec
            .variants
            .iter()
            .map(|variant| match variant {
                VariantSpec::Segmented {
                    name,
                    audiences,
                    combination,
                } => raw::Variant {
                    name: name.clone(),
                    previous_names: None,
                    audiences: Some(names(audiences)),
                    combination: Some(*combination),
                    traffic: None,
                },
                VariantSpec::AbTest { name, traffic } => raw::Variant {
                    name: name.clone(),
                    previous_names: None,
                    audiences: None,
                    combination: None,
                    traffic: Some(*traffic),
                },
            })
            .collect(),
        targeting: spec.targeting.as_ref().map(|targeting| raw::Targeting {
            audiences: names(&targeting.audiences),
            combination: Some(targeting.combination),
        }),
        metrics: list(&names(&spec.metrics)),
        content_types: spec.content_types.clone(),
    }
}

/// A model spec that raises into a manifest `spec:`, or into the part of one that declares it
/// (a member is one item of `members:`; a stack link, a project's own fields or an experience
/// order are the `spec:` of a `Project` document with only those fields).
pub trait Raise {
    /// The manifest JSON, fields at their default left out.
    fn raise(&self) -> Value;
}

macro_rules! raise_by {
    ($($spec:ty => |$value:ident| $raw:expr),+ $(,)?) => {$(
        impl Raise for $spec {
            fn raise(&self) -> Value {
                let $value = self;
                to_json(&$raw)
            }
        }
    )+};
}
raise_by!(
    Project<'_> => |parts| project(parts),
    ProjectSpec => |spec| project(&Project { spec: Some(spec), ..Project::default() }),
    StackLinkSpec => |link| project(&Project { stack: link.stack.as_deref(), ..Project::default() }),
    [String] => |order| project(&Project { experience_order: Some(order), ..Project::default() }),
    MemberSpec => |spec| member(spec),
    AttributeSpec => |spec| attribute(spec),
    EventSpec => |spec| event(spec),
    AudienceSpec => |spec| audience(spec),
    ExperienceSpec => |spec| experience(spec),
);

/// A whole document: `apiVersion`, `kind`, `metadata` and `spec`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    api_version: raw::ApiVersion,
    kind: &'a str,
    metadata: Metadata<'a>,
    spec: Value,
}

#[derive(Serialize)]
struct Metadata<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<&'a str>,
}

/// A whole document of `kind` (`Project`, `Attribute`, `Event`, `Audience` or `Experience`)
/// around a `spec:` from [`Raise`]; `project` is `None` for projects.
#[must_use]
pub fn document(kind: &str, name: &str, project: Option<&str>, spec: Value) -> Value {
    to_json(&Document {
        api_version: raw::ApiVersion::V1,
        kind,
        metadata: Metadata { name, project },
        spec,
    })
}
