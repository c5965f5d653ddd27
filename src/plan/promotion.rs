//! Promotion: how the desired states of two environments of a workspace differ
//! (`pzctl diff --env FROM --env TO`), in the words of the manifests.
//!
//! Projects are compared by their base name (the `metadata.name` of the base `Project`
//! document): each environment maps base names to its own live names, so the live names
//! always differ and say nothing. Every object is compared as its manifest view (the `spec:` a
//! user writes, see [`super::manifest_view`]), field by field with the planner's
//! [`super::diff::field_changes`], so a difference reads like a plan's update.
//!
//! Invariant: pure; the same two desired states give the same [`Promotion`], whatever the
//! order the manifests were read in.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::ManifestView as _;
use crate::manifest::raise;
use crate::model::{self, DesiredProject, DesiredState, Kind, StackLinkSpec};

/// The version of the JSON form of a promotion (`pzctl diff --format json`).
pub const FORMAT_VERSION: u32 = 1;

/// One environment as a promotion compares it.
#[derive(Clone, Copy, Debug)]
pub struct Side<'a> {
    /// The environment's name (`--env NAME`).
    pub environment: &'a str,
    /// Its desired state, projects under their live names.
    pub desired: &'a DesiredState,
    /// Its live project name by base project name (`environments.NAME.projects` of
    /// `pzctl.yaml`); a base project not listed keeps its name.
    pub projects: &'a BTreeMap<String, String>,
}

/// How two environments' desired states differ.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Promotion {
    pub format_version: u32,
    pub from: Environment,
    pub to: Environment,
    pub summary: Summary,
    /// By base project, kind (in plan order: project, stack link, members, attributes, events,
    /// audiences, experiences, experience order) and name.
    pub differences: Vec<Difference>,
}

impl Promotion {
    /// Whether the two environments declare the same objects with the same fields.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }
}

/// One side of a promotion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Environment {
    /// The environment's name.
    pub name: String,
    /// The live project name of every compared base project this environment declares, by
    /// base name.
    pub projects: BTreeMap<String, String>,
}

/// Counts per kind of difference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub only_in_from: usize,
    pub only_in_to: usize,
    pub different: usize,
}

/// Whether an object is in one environment only, or in both with different fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// Declared by the first environment only.
    OnlyInFrom,
    /// Declared by the second environment only.
    OnlyInTo,
    /// Declared by both, with different fields.
    Different,
}

/// One object that differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Difference {
    /// `project/BASE/KIND/NAME` (see [`model::address`]), with the base project name.
    pub address: String,
    pub difference: DifferenceKind,
    pub kind: Kind,
    /// The base project name.
    pub project: String,
    /// The object's name (the email of a member; the base project name for project-level
    /// kinds).
    pub name: String,
    /// The manifest view in the first environment (`null` when only in the second).
    pub from: Option<Value>,
    /// The manifest view in the second environment (`null` when only in the first).
    pub to: Option<Value>,
    /// The fields that differ (empty unless `different`).
    pub fields: Vec<Field>,
}

/// One field that differs: a dotted path into the manifest `spec:`, as a plan's `fields`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    pub path: String,
    pub from: Option<Value>,
    pub to: Option<Value>,
}

/// Compare `from` with `to`, limited to the base projects named in `only` (empty: all).
#[must_use]
pub fn compare(from: &Side<'_>, to: &Side<'_>, only: &[String]) -> Promotion {
    let left = by_base(from);
    let right = by_base(to);
    let selected = |base: &str| only.is_empty() || only.iter().any(|name| name == base);
    let mut bases: BTreeSet<&str> = left.keys().map(String::as_str).collect();
    bases.extend(right.keys().map(String::as_str));
    let mut differences = Vec::new();
    let mut summary = Summary::default();
    let mut from_projects = BTreeMap::new();
    let mut to_projects = BTreeMap::new();
    for base in bases.into_iter().filter(|base| selected(base)) {
        let l = left.get(base);
        let r = right.get(base);
        if let Some(project) = l {
            from_projects.insert(base.to_owned(), project.name.clone());
        }
        if let Some(project) = r {
            to_projects.insert(base.to_owned(), project.name.clone());
        }
        let l = l.map(|project| objects(base, project)).unwrap_or_default();
        let r = r.map(|project| objects(base, project)).unwrap_or_default();
        let mut keys: BTreeSet<&(Kind, String)> = l.keys().collect();
        keys.extend(r.keys());
        for key in keys {
            let (kind, name) = key;
            let (before, after) = (l.get(key), r.get(key));
            let (difference, fields) = match (before, after) {
                (Some(_), None) => (DifferenceKind::OnlyInFrom, Vec::new()),
                (None, Some(_)) => (DifferenceKind::OnlyInTo, Vec::new()),
                (Some(before), Some(after)) => {
                    let fields: Vec<Field> = super::diff::field_changes(*kind, before, after)
                        .into_iter()
                        .map(|field| Field {
                            path: field.path,
                            from: field.before,
                            to: field.after,
                        })
                        .collect();
                    if fields.is_empty() {
                        continue;
                    }
                    (DifferenceKind::Different, fields)
                }
                (None, None) => continue,
            };
            match difference {
                DifferenceKind::OnlyInFrom => summary.only_in_from += 1,
                DifferenceKind::OnlyInTo => summary.only_in_to += 1,
                DifferenceKind::Different => summary.different += 1,
            }
            differences.push(Difference {
                address: model::address(base, *kind, name),
                difference,
                kind: *kind,
                project: base.to_owned(),
                name: name.clone(),
                from: before.cloned(),
                to: after.cloned(),
                fields,
            });
        }
    }
    Promotion {
        format_version: FORMAT_VERSION,
        from: Environment {
            name: from.environment.to_owned(),
            projects: from_projects,
        },
        to: Environment {
            name: to.environment.to_owned(),
            projects: to_projects,
        },
        summary,
        differences,
    }
}

/// The base name of a live project of `side`, or the name itself when the environment does not
/// rename it.
#[must_use]
pub fn base_name<'a>(side: &'a Side<'_>, live: &'a str) -> &'a str {
    side.projects
        .iter()
        .find(|(_, name)| name.as_str() == live)
        .map_or(live, |(base, _)| base.as_str())
}

fn by_base<'a>(side: &'a Side<'_>) -> BTreeMap<String, &'a DesiredProject> {
    side.desired
        .projects
        .iter()
        .map(|(live, project)| (base_name(side, live).to_owned(), project))
        .collect()
}

/// Every object of a project as its manifest view, by kind and name.
fn objects(base: &str, project: &DesiredProject) -> BTreeMap<(Kind, String), Value> {
    let mut out = BTreeMap::new();
    let own = raise::Project {
        spec: Some(&project.spec),
        invitation_message: project.invitation_message.as_deref(),
        prune: project.prune.then_some(true),
        ..raise::Project::default()
    };
    out.insert((Kind::Project, base.to_owned()), own.raise());
    out.insert(
        (Kind::StackLink, base.to_owned()),
        StackLinkSpec {
            stack: project.stack.clone(),
        }
        .raise(),
    );
    for member in project.members.iter().flatten() {
        out.insert((Kind::Member, member.email.clone()), member.raise());
    }
    for (name, spec) in &project.attributes {
        out.insert((Kind::Attribute, name.clone()), spec.raise());
    }
    for (name, spec) in &project.events {
        out.insert((Kind::Event, name.clone()), spec.raise());
    }
    for (name, spec) in &project.audiences {
        out.insert((Kind::Audience, name.clone()), spec.raise());
    }
    for (name, spec) in &project.experiences {
        out.insert((Kind::Experience, name.clone()), spec.raise());
    }
    if let Some(order) = &project.experience_order {
        out.insert(
            (Kind::ExperienceOrder, base.to_owned()),
            order.as_slice().raise(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::{DifferenceKind, Side, compare};
    use crate::model::{
        DesiredProject, DesiredState, EventSpec, ExperienceSpec, ExperienceStatus, ExperienceType,
        Kind,
    };

    fn state(live: &str, status: ExperienceStatus, events: &[&str]) -> DesiredState {
        let mut project = DesiredProject {
            name: live.to_owned(),
            stack: Some("blt0123456789abcdef".to_owned()),
            ..DesiredProject::default()
        };
        project.experiences.insert(
            "checkout-test".to_owned(),
            ExperienceSpec {
                kind: ExperienceType::AbTest,
                description: String::new(),
                tags: Vec::new(),
                status,
                variants: Vec::new(),
                targeting: None,
                metrics: Vec::new(),
                content_types: None,
            },
        );
        for event in events {
            project.events.insert(
                (*event).to_owned(),
                EventSpec {
                    key: (*event).to_owned(),
                    description: String::new(),
                },
            );
        }
        let mut desired = DesiredState::default();
        desired.projects.insert(live.to_owned(), project);
        desired
    }

    #[test]
    fn projects_are_compared_by_base_name_in_manifest_words() {
        let staging = state("shop-staging", ExperienceStatus::Active, &["qa", "buy"]);
        let production = state("shop", ExperienceStatus::Draft, &["buy", "refund"]);
        let staging_names = BTreeMap::from([("shop".to_owned(), "shop-staging".to_owned())]);
        let production_names = BTreeMap::new();
        let from = Side {
            environment: "staging",
            desired: &staging,
            projects: &staging_names,
        };
        let to = Side {
            environment: "production",
            desired: &production,
            projects: &production_names,
        };
        let promotion = compare(&from, &to, &[]);
        let described: Vec<(String, DifferenceKind)> = promotion
            .differences
            .iter()
            .map(|d| (d.address.clone(), d.difference))
            .collect();
        assert_eq!(
            described,
            [
                (
                    "project/shop/event/qa".to_owned(),
                    DifferenceKind::OnlyInFrom
                ),
                (
                    "project/shop/event/refund".to_owned(),
                    DifferenceKind::OnlyInTo
                ),
                (
                    "project/shop/experience/checkout-test".to_owned(),
                    DifferenceKind::Different
                ),
            ]
        );
        let experience = &promotion.differences[2];
        assert_eq!(experience.kind, Kind::Experience);
        assert_eq!(experience.fields.len(), 1);
        assert_eq!(experience.fields[0].path, "status");
        assert_eq!(experience.fields[0].from, Some(json!("active")));
        assert_eq!(experience.fields[0].to, Some(json!("draft")));
        assert_eq!(promotion.summary.only_in_from, 1);
        assert_eq!(promotion.summary.only_in_to, 1);
        assert_eq!(promotion.summary.different, 1);
        assert_eq!(promotion.from.projects["shop"], "shop-staging");
        assert_eq!(promotion.to.projects["shop"], "shop");
        // The same state compared with itself: nothing differs, whatever the live names.
        assert!(compare(&from, &from, &[]).is_empty());
        // A project filter by base name.
        assert!(compare(&from, &to, &["other".to_owned()]).is_empty());
        assert_eq!(compare(&from, &to, &["shop".to_owned()]), promotion);
    }
}
