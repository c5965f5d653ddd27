//! The manifest view of a spec: a `model::*Spec` (as a plan's `before`/`after` JSON) turned back
//! into the `spec:` a user writes in a manifest, so plans speak the reviewer's vocabulary.
//!
//! The view uses manifest keys and words (`type: ab_test`, `rules: {all: [...]}`,
//! `match: any`, `role: member`, `invitationMessage`), and leaves out what a manifest may leave
//! out when it has its default value (`negate: false`, empty `description`, `tags` and
//! `metrics`, absent `targeting` and `stack`). The planner diffs two views to compute a change's
//! `fields`; the renderers show views for creates and deletes.
//!
//! The views are built by `manifest::raise` (the inverse of lowering), the same code that writes
//! exported manifests, so the manifest vocabulary lives in one place (`manifest::raw`). Typed
//! callers use [`manifest_view_of`]; [`manifest_view`] reads a spec from a plan's JSON first.
//!
//! Invariant: a pure function of its input. A value that is not a valid spec of the kind (a hand
//! edited plan file) is returned as it is rather than refused: a view is for reading only, and
//! apply never reads it.

use serde_json::Value;

use crate::model::{
    AttributeSpec, AudienceSpec, EventSpec, ExperienceSpec, Kind, MemberSpec, ProjectSpec, Ref,
    StackLinkSpec,
};

/// The manifest `spec:` of a `model::*Spec` value of `kind`, with defaulted and empty fields
/// left out. An `experience_order` (a list of names) becomes `{"experienceOrder": [...]}`.
#[must_use]
pub fn manifest_view(kind: Kind, spec: &Value) -> Value {
    view(kind, spec).unwrap_or_else(|| spec.clone())
}

/// A spec with a manifest view: what [`manifest_view`] reads a spec of its kind as (an
/// experience order is a `[String]`).
pub use crate::manifest::raise::Raise as ManifestView;

/// The manifest view of a typed spec (see [`ManifestView`]).
#[must_use]
pub fn manifest_view_of(spec: &(impl ManifestView + ?Sized)) -> Value {
    spec.raise()
}

/// A member's view; a member create carries the project's invitation message.
#[must_use]
pub fn member_view(member: &MemberSpec, invitation_message: Option<&str>) -> Value {
    let mut view = member.raise();
    if let (Some(message), Value::Object(map)) = (invitation_message, &mut view) {
        map.insert(
            "invitationMessage".to_owned(),
            Value::String(message.to_owned()),
        );
    }
    view
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
    Some(match kind {
        Kind::Project => parse::<ProjectSpec>(spec)?.raise(),
        Kind::StackLink => parse::<StackLinkSpec>(spec)?.raise(),
        Kind::Member => member_view(
            &parse::<MemberSpec>(spec)?,
            spec.get("invitation_message").and_then(Value::as_str),
        ),
        Kind::Attribute => parse::<AttributeSpec>(spec)?.raise(),
        Kind::Event => parse::<EventSpec>(spec)?.raise(),
        Kind::Audience => parse::<AudienceSpec>(spec)?.raise(),
        Kind::Experience => parse::<ExperienceSpec>(spec)?.raise(),
        // A live order may hold stale uids, shown as `uid:UID`.
        Kind::ExperienceOrder => parse::<Vec<Ref>>(spec)?
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .raise(),
    })
}

fn parse<T: serde::de::DeserializeOwned>(spec: &Value) -> Option<T> {
    serde_json::from_value(spec.clone()).ok()
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
            "rules": {"combination": "all", "rules": [
                {"condition": {"attribute": {"custom": "loyalty-tier"}, "condition": "STRING_EQUALS", "value": "gold", "negate": false}},
                {"group": {"combination": "any", "rules": [
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
            "kind": "ab_test", "description": "", "tags": [], "status": "draft",
            "variants": [{"ab_test": {"name": "Control", "traffic": 50}}, {"ab_test": {"name": "Bold", "traffic": 50}}],
            "targeting": {"audiences": ["gold"], "combination": "all"},
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
            "kind": "segmented", "description": "Hero", "tags": ["env:prod"], "status": "active",
            "variants": [{"segmented": {"name": "Gold", "audiences": ["gold"], "combination": "any"}}],
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
                &json!({"email": "a@example.com", "role": "member", "invitation_message": "Hi"})
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
