//! The manifest view of a spec: a `model::*Spec` (as a plan's `before`/`after` JSON) turned back
//! into the `spec:` a user writes in a manifest, so plans speak the reviewer's vocabulary.
//!
//! The view uses manifest keys and words (`type: ab_test`, `rules: {all: [...]}`,
//! `match: any`, `role: member`, `invitationMessage`), and leaves out what a manifest may leave
//! out when it has its default value (`negate: false`, empty `description`, `tags` and
//! `metrics`, absent `targeting` and `stack`). The planner diffs two views to compute a change's
//! `fields`; the renderers show views for creates and deletes.
//!
//! Invariant: a pure function of its input. A value that is not a valid spec of the kind (a hand
//! edited plan file) is returned as it is rather than refused: a view is for reading only, and
//! apply never reads it.

use serde_json::{Map, Value};

use crate::model::{
    AttributeRef, AttributeSpec, AudienceSpec, Combination, EventSpec, ExperienceSpec,
    ExperienceStatus, ExperienceType, Kind, MemberSpec, ProjectRole, ProjectSpec, RuleGroup,
    RuleNode, StackLinkSpec, TargetingSpec, VariantSpec,
};

/// The manifest `spec:` of a `model::*Spec` value of `kind`, with defaulted and empty fields
/// left out. An `experience_order` (a list of names) becomes `{"experienceOrder": [...]}`.
#[must_use]
pub fn manifest_view(kind: Kind, spec: &Value) -> Value {
    view(kind, spec).unwrap_or_else(|| spec.clone())
}

/// The value a manifest means when it leaves out the field `key` of a view, if it has one.
/// Field diffs use it so that, e.g., adding `negate: true` reads `false -> true`.
#[must_use]
pub(crate) fn default_of(kind: Kind, key: &str) -> Option<Value> {
    match (kind, key) {
        (
            Kind::Project | Kind::Attribute | Kind::Event | Kind::Audience | Kind::Experience,
            "description",
        ) => Some(Value::String(String::new())),
        (Kind::Audience, "negate") => Some(Value::Bool(false)),
        (Kind::Experience, "tags" | "metrics") => Some(Value::Array(Vec::new())),
        _ => None,
    }
}

fn view(kind: Kind, spec: &Value) -> Option<Value> {
    let mut out = Map::new();
    match kind {
        Kind::Project => {
            let spec: ProjectSpec = parse(spec)?;
            text(&mut out, "description", &spec.description);
        }
        Kind::StackLink => {
            let spec: StackLinkSpec = parse(spec)?;
            if let Some(stack) = spec.stack {
                out.insert("stack".to_owned(), Value::String(stack));
            }
        }
        Kind::Member => {
            let member: MemberSpec = parse(spec)?;
            out.insert("email".to_owned(), Value::String(member.email));
            out.insert("role".to_owned(), Value::from(role_word(member.role)));
            // A member create carries the project's invitation message.
            if let Some(message) = spec.get("invitation_message").and_then(Value::as_str) {
                out.insert(
                    "invitationMessage".to_owned(),
                    Value::String(message.to_owned()),
                );
            }
        }
        Kind::Attribute => {
            let spec: AttributeSpec = parse(spec)?;
            out.insert("key".to_owned(), Value::String(spec.key));
            text(&mut out, "description", &spec.description);
        }
        Kind::Event => {
            // The key is the manifest's `metadata.name`, not part of its `spec:`.
            let spec: EventSpec = parse(spec)?;
            text(&mut out, "description", &spec.description);
        }
        Kind::Audience => {
            let spec: AudienceSpec = parse(spec)?;
            text(&mut out, "description", &spec.description);
            out.insert("rules".to_owned(), rule_group(&spec.rules));
        }
        Kind::Experience => {
            let spec: ExperienceSpec = parse(spec)?;
            experience(&mut out, spec);
        }
        Kind::ExperienceOrder => {
            let names: Vec<String> = parse(spec)?;
            out.insert("experienceOrder".to_owned(), Value::from(names));
        }
    }
    Some(Value::Object(out))
}

fn parse<T: serde::de::DeserializeOwned>(spec: &Value) -> Option<T> {
    serde_json::from_value(spec.clone()).ok()
}

/// Insert a text field unless it is empty (manifests default it to "").
fn text(out: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        out.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn role_word(role: ProjectRole) -> &'static str {
    match role {
        ProjectRole::Owner => "owner",
        ProjectRole::Member => "member",
    }
}

fn match_word(combination: Combination) -> &'static str {
    match combination {
        Combination::And => "all",
        Combination::Or => "any",
    }
}

fn status_word(status: ExperienceStatus) -> &'static str {
    match status {
        ExperienceStatus::Draft => "draft",
        ExperienceStatus::Active => "active",
        ExperienceStatus::Paused => "paused",
    }
}

/// `{all: [...]}` or `{any: [...]}`, conditions as `{attribute|preset, condition, value, negate}`.
fn rule_group(group: &RuleGroup) -> Value {
    let items = group
        .rules
        .iter()
        .map(|node| match node {
            RuleNode::Group(inner) => rule_group(inner),
            RuleNode::Condition(condition) => {
                let mut map = Map::new();
                let (key, name) = match &condition.attribute {
                    AttributeRef::Custom(name) => ("attribute", name),
                    AttributeRef::Preset(name) => ("preset", name),
                };
                map.insert(key.to_owned(), Value::String(name.clone()));
                map.insert(
                    "condition".to_owned(),
                    Value::String(condition.condition.clone()),
                );
                if let Some(value) = &condition.value {
                    map.insert("value".to_owned(), value.clone());
                }
                if condition.negate {
                    map.insert("negate".to_owned(), Value::Bool(true));
                }
                Value::Object(map)
            }
        })
        .collect();
    let mut map = Map::new();
    map.insert(
        match_word(group.combination).to_owned(),
        Value::Array(items),
    );
    Value::Object(map)
}

fn experience(out: &mut Map<String, Value>, spec: ExperienceSpec) {
    out.insert(
        "type".to_owned(),
        Value::from(match spec.kind {
            ExperienceType::Segmented => "segmented",
            ExperienceType::AbTest => "ab_test",
        }),
    );
    text(out, "description", &spec.description);
    if !spec.tags.is_empty() {
        out.insert("tags".to_owned(), strings(&spec.tags));
    }
    // Always shown although it defaults to draft: whether an experience goes live matters.
    out.insert("status".to_owned(), Value::from(status_word(spec.status)));
    let variants = spec
        .variants
        .iter()
        .map(|variant| {
            let mut map = Map::new();
            match variant {
                VariantSpec::Segmented {
                    name,
                    audiences,
                    combination,
                } => {
                    map.insert("name".to_owned(), Value::String(name.clone()));
                    map.insert("audiences".to_owned(), strings(audiences));
                    map.insert("match".to_owned(), Value::from(match_word(*combination)));
                }
                VariantSpec::AbTest { name, traffic } => {
                    map.insert("name".to_owned(), Value::String(name.clone()));
                    map.insert("traffic".to_owned(), Value::from(*traffic));
                }
            }
            Value::Object(map)
        })
        .collect();
    out.insert("variants".to_owned(), Value::Array(variants));
    if let Some(TargetingSpec {
        audiences,
        combination,
    }) = &spec.targeting
    {
        let mut map = Map::new();
        map.insert("audiences".to_owned(), strings(audiences));
        map.insert("match".to_owned(), Value::from(match_word(*combination)));
        out.insert("targeting".to_owned(), Value::Object(map));
    }
    if !spec.metrics.is_empty() {
        out.insert("metrics".to_owned(), strings(&spec.metrics));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::manifest_view;
    use crate::model::Kind;

    #[test]
    fn audience_rules_read_as_all_and_any_without_defaults() {
        let spec = json!({
            "description": "Gold tier",
            "rules": {"combination": "AND", "rules": [
                {"condition": {"attribute": {"custom": "loyalty-tier"}, "condition": "STRING_EQUALS", "value": "gold", "negate": false}},
                {"group": {"combination": "OR", "rules": [
                    {"condition": {"attribute": {"preset": "DEVICE_TYPE"}, "condition": "HAS_ANY_VALUE", "value": null, "negate": true}}
                ]}}
            ]}
        });
        assert_eq!(
            manifest_view(Kind::Audience, &spec),
            json!({
                "description": "Gold tier",
                "rules": {"all": [
                    {"attribute": "loyalty-tier", "condition": "STRING_EQUALS", "value": "gold"},
                    {"any": [{"preset": "DEVICE_TYPE", "condition": "HAS_ANY_VALUE", "negate": true}]}
                ]}
            })
        );
    }

    #[test]
    fn experiences_read_as_manifests_write_them() {
        let ab = json!({
            "kind": "AB_TEST", "description": "", "tags": [], "status": "draft",
            "variants": [{"ab_test": {"name": "Control", "traffic": 50}}, {"ab_test": {"name": "Bold", "traffic": 50}}],
            "targeting": {"audiences": ["gold"], "combination": "AND"},
            "metrics": []
        });
        assert_eq!(
            manifest_view(Kind::Experience, &ab),
            json!({
                "type": "ab_test", "status": "draft",
                "variants": [{"name": "Control", "traffic": 50}, {"name": "Bold", "traffic": 50}],
                "targeting": {"audiences": ["gold"], "match": "all"}
            })
        );
        let segmented = json!({
            "kind": "SEGMENTED", "description": "Hero", "tags": ["env:prod"], "status": "active",
            "variants": [{"segmented": {"name": "Gold", "audiences": ["gold"], "combination": "OR"}}],
            "targeting": null, "metrics": ["add_to_cart"]
        });
        assert_eq!(
            manifest_view(Kind::Experience, &segmented),
            json!({
                "type": "segmented", "description": "Hero", "tags": ["env:prod"], "status": "active",
                "variants": [{"name": "Gold", "audiences": ["gold"], "match": "any"}],
                "metrics": ["add_to_cart"]
            })
        );
    }

    #[test]
    fn members_projects_and_signals() {
        assert_eq!(
            manifest_view(
                Kind::Member,
                &json!({"email": "a@example.com", "role": "MEMBER", "invitation_message": "Hi"})
            ),
            json!({"email": "a@example.com", "role": "member", "invitationMessage": "Hi"})
        );
        assert_eq!(
            manifest_view(Kind::Project, &json!({"description": ""})),
            json!({})
        );
        assert_eq!(
            manifest_view(Kind::StackLink, &json!({"stack": null})),
            json!({})
        );
        assert_eq!(
            manifest_view(Kind::Event, &json!({"key": "buy", "description": "Bought"})),
            json!({"description": "Bought"})
        );
        assert_eq!(
            manifest_view(Kind::ExperienceOrder, &json!(["a", "b"])),
            json!({"experienceOrder": ["a", "b"]})
        );
    }

    #[test]
    fn values_that_are_not_specs_are_shown_as_they_are() {
        let odd = json!({"something": "else"});
        assert_eq!(manifest_view(Kind::Audience, &odd), odd);
    }
}
