//! Execution order: the dependency and permission edges between planned changes, and a
//! deterministic topological sort of them (`docs/ordering.md`).
//!
//! Invariant: every `depends_on` names an earlier change; ties are broken by
//! (project, phase, kind, name), never by input order.

use std::collections::{BTreeMap, BTreeSet};

use super::Change;
use super::diff::{Effect, Planned};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{Kind, address};

use super::Action;

/// The phase of a change within its project: what runs first when nothing else decides.
fn phase(planned: &Planned) -> u8 {
    match (planned.change.kind(), planned.change.action, planned.effect) {
        (Kind::Project, Action::Delete, _) => 4,
        (_, _, Some(Effect::Revoke)) => 3,
        (Kind::Project, _, _) => 0,
        (_, Action::Delete, _) => 2,
        _ => 1,
    }
}

/// (project, phase, kind rank, name).
type SortKey = (String, u8, u8, String);

/// The tie-break key: deletes run in reverse kind order.
fn sort_key(planned: &Planned) -> SortKey {
    let kind = planned.change.kind() as u8;
    let kind = if planned.change.action == Action::Delete {
        u8::MAX - kind
    } else {
        kind
    };
    (
        planned.change.project.clone(),
        phase(planned),
        kind,
        planned.change.name.clone(),
    )
}

/// The direct edges: `edges[to]` holds the indices of the changes `to` waits for.
fn edges(planned: &[Planned]) -> Vec<BTreeSet<usize>> {
    let mut edges = vec![BTreeSet::new(); planned.len()];
    let by_address: BTreeMap<&str, usize> = planned
        .iter()
        .enumerate()
        .map(|(index, planned)| (planned.change.address.as_str(), index))
        .collect();
    // Project deletes come before project creates: the organization's project limit is small
    // (3 by default), so replacing one project by another must free the slot first.
    let project_deletes: Vec<usize> = (0..planned.len())
        .filter(|&index| {
            planned[index].change.kind() == Kind::Project
                && planned[index].change.action == Action::Delete
        })
        .collect();
    for (index, planned) in planned.iter().enumerate() {
        if planned.change.kind() == Kind::Project && planned.change.action == Action::Create {
            edges[index].extend(project_deletes.iter().copied());
        }
    }
    let mut by_project: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, planned) in planned.iter().enumerate() {
        by_project
            .entry(planned.change.project.as_str())
            .or_default()
            .push(index);
    }
    for (project, members) in &by_project {
        let is = |index: usize, kind: Kind, action: Action| {
            planned[index].change.kind() == kind && planned[index].change.action == action
        };
        // A project is created (or renamed) before everything in it.
        if let Some(&create) = members.iter().find(|&&index| {
            is(index, Kind::Project, Action::Create)
                || (is(index, Kind::Project, Action::Update)
                    && planned[index].change.renamed_from.is_some())
        }) {
            for &index in members {
                if index != create {
                    edges[index].insert(create);
                }
            }
        }
        for &index in members {
            let change = &planned[index].change;
            // What a change uses is created or updated first.
            if change.action != Action::Delete {
                for (kind, name) in &planned[index].uses {
                    if let Some(&target) = by_address.get(address(project, *kind, name).as_str())
                        && planned[target].change.action != Action::Delete
                    {
                        edges[index].insert(target);
                    }
                }
            }
            // A live reference is detached (by an update or a delete) before its target goes.
            if change.action == Action::Delete {
                for &other in members {
                    if other != index
                        && planned[other].change.action != Action::Create
                        && planned[other]
                            .used_live
                            .iter()
                            .any(|(kind, name)| *kind == change.kind() && name == &change.name)
                    {
                        edges[index].insert(other);
                    }
                }
            }
            // The stack changes once what works on the live stack's links is done (an
            // experience delete unlinks its content types there first).
            if change.kind() == Kind::StackLink && change.action != Action::Delete {
                for &other in members {
                    if other != index
                        && planned[other]
                            .used_live
                            .iter()
                            .any(|(kind, name)| *kind == Kind::StackLink && name == &change.name)
                    {
                        edges[index].insert(other);
                    }
                }
            }
            // Priority is set once the experiences it names exist (or are gone).
            if change.kind() == Kind::ExperienceOrder {
                for &other in members {
                    if planned[other].change.kind() == Kind::Experience
                        && planned[other].change.action != Action::Update
                    {
                        edges[index].insert(other);
                    }
                }
            }
            // Members: add before remove.
            if change.kind() == Kind::Member
                && change.action == Action::Delete
                && planned[index].effect.is_none()
            {
                for &other in members {
                    if planned[other].change.kind() == Kind::Member
                        && planned[other].change.action != Action::Delete
                        && planned[other].effect != Some(Effect::Revoke)
                    {
                        edges[index].insert(other);
                    }
                }
            }
            match planned[index].effect {
                // A grant comes before the changes that need it.
                Some(Effect::Grant) => {
                    for &other in members {
                        if other != index
                            && planned[other].change.requires == super::Requirement::ProjectOwner
                            && planned[other].effect != Some(Effect::Revoke)
                        {
                            edges[other].insert(index);
                        }
                    }
                }
                // A revoke comes after every other change in the project.
                Some(Effect::Revoke) => {
                    for &other in members {
                        if other != index && planned[other].effect != Some(Effect::Revoke) {
                            edges[index].insert(other);
                        }
                    }
                }
                None => {}
            }
        }
    }
    edges
}

/// Sort the changes topologically; fill in `depends_on`.
pub(crate) fn order(planned: Vec<Planned>) -> Result<Vec<Planned>, Diagnostic> {
    let edges = edges(&planned);
    let keys: Vec<_> = planned.iter().map(sort_key).collect();
    let mut waiting: Vec<usize> = edges.iter().map(BTreeSet::len).collect();
    let mut dependents = vec![Vec::new(); planned.len()];
    for (index, from) in edges.iter().enumerate() {
        for &dependency in from {
            dependents[dependency].push(index);
        }
    }
    let mut ready: BTreeSet<(&SortKey, usize)> = (0..planned.len())
        .filter(|&index| waiting[index] == 0)
        .map(|index| (&keys[index], index))
        .collect();
    let mut sequence = Vec::with_capacity(planned.len());
    while let Some(next) = ready.pop_first() {
        let index = next.1;
        sequence.push(index);
        for &dependent in &dependents[index] {
            waiting[dependent] -= 1;
            if waiting[dependent] == 0 {
                ready.insert((&keys[dependent], dependent));
            }
        }
    }
    if sequence.len() != planned.len() {
        let stuck: Vec<&str> = (0..planned.len())
            .filter(|index| waiting[*index] > 0)
            .map(|index| planned[index].change.address.as_str())
            .collect();
        return Err(super::diff::diagnostic(
            Code::Internal,
            format!(
                "the changes {} depend on each other in a cycle; this is a bug, please report it",
                stuck.join(", ")
            ),
            None,
            None,
        ));
    }
    let mut position = vec![0; planned.len()];
    for (at, &index) in sequence.iter().enumerate() {
        position[index] = at;
    }
    let addresses: Vec<String> = planned
        .iter()
        .map(|planned| planned.change.address.clone())
        .collect();
    let mut slots: Vec<Option<Planned>> = planned.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    for &index in &sequence {
        let Some(mut planned) = slots[index].take() else {
            continue;
        };
        let mut dependencies: Vec<usize> = edges[index].iter().copied().collect();
        dependencies.sort_by_key(|dependency| position[*dependency]);
        planned.change.depends_on = dependencies
            .into_iter()
            .map(|dependency| addresses[dependency].clone())
            .collect();
        out.push(planned);
    }
    Ok(out)
}

/// Only the changes.
pub(crate) fn changes(planned: Vec<Planned>) -> Vec<Change> {
    planned.into_iter().map(|planned| planned.change).collect()
}

#[cfg(test)]
mod tests {
    use crate::model::{DesiredProject, DesiredState, LiveProject, LiveState};
    use crate::plan::{Action, PlanConfig, plan};

    fn live_project(name: &str) -> LiveProject {
        LiveProject::empty(
            serde_json::from_value(
                serde_json::json!({"_id": name, "uid": format!("uid-{name}"), "name": name}),
            )
            .expect("a project"),
        )
    }

    /// Regression: replacing projects at the organization's project limit failed with
    /// PROJECT_COUNT_EXCEEDED because the creates ran before the deletes.
    #[test]
    fn project_deletes_come_before_project_creates() {
        let mut live = LiveState::default();
        for name in ["a", "b", "c"] {
            live.projects.insert(name.to_owned(), live_project(name));
        }
        let mut desired = DesiredState::default();
        for name in ["a", "z"] {
            desired.projects.insert(
                name.to_owned(),
                DesiredProject {
                    name: name.to_owned(),
                    ..DesiredProject::default()
                },
            );
        }
        let config = PlanConfig {
            delete_projects: vec!["b".to_owned(), "c".to_owned()],
            ..PlanConfig::default()
        };
        let planned = plan(&desired, &live, &config).expect("a plan");
        let actions: Vec<(&str, Action)> = planned
            .changes
            .iter()
            .map(|change| (change.address.as_str(), change.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("project/b", Action::Delete),
                ("project/c", Action::Delete),
                ("project/z", Action::Create),
            ]
        );
        assert_eq!(planned.changes[2].depends_on, ["project/b", "project/c"]);
    }
}
