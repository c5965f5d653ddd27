//! What the applier knows about the live organization while it runs: project uids and fields,
//! and name -> uid maps per project, seeded from the observed [`LiveState`] and extended with
//! the objects the run creates.
//!
//! Invariant: the lock is never held across an `.await`.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::convert::{Names, Uids};
use crate::model::LiveState;

/// One project as the run knows it.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProjectState {
    pub(crate) uid: String,
    pub(crate) description: String,
    pub(crate) stack: Option<String>,
    pub(crate) uids: Uids,
}

impl ProjectState {
    /// The uid -> name maps for reading versions.
    pub(crate) fn names(&self) -> Names {
        let invert = |map: &BTreeMap<String, String>| {
            map.iter()
                .map(|(name, uid)| (uid.clone(), name.clone()))
                .collect()
        };
        Names {
            attributes: invert(&self.uids.attributes),
            events: invert(&self.uids.events),
            audiences: invert(&self.uids.audiences),
        }
    }
}

/// Projects by name.
#[derive(Debug, Default)]
pub(crate) struct RunState {
    projects: Mutex<BTreeMap<String, ProjectState>>,
}

impl RunState {
    pub(crate) fn from_live(live: &LiveState) -> Self {
        let projects = live
            .projects
            .iter()
            .map(|(name, project)| {
                let state = ProjectState {
                    uid: project.project.uid.clone(),
                    description: project.project.description.clone(),
                    stack: project
                        .project
                        .connected_stack_api_key
                        .clone()
                        .filter(|key| !key.is_empty()),
                    uids: Uids::from_live(project),
                };
                (name.clone(), state)
            })
            .collect();
        RunState {
            projects: Mutex::new(projects),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ProjectState>> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.projects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of one project's state.
    pub(crate) fn project(&self, name: &str) -> Option<ProjectState> {
        self.lock().get(name).cloned()
    }

    /// Change one project's state; `false` if the project is unknown.
    pub(crate) fn update(&self, name: &str, change: impl FnOnce(&mut ProjectState)) -> bool {
        match self.lock().get_mut(name) {
            Some(project) => {
                change(project);
                true
            }
            None => false,
        }
    }

    pub(crate) fn insert(&self, name: &str, project: ProjectState) {
        self.lock().insert(name.to_owned(), project);
    }

    pub(crate) fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Take the plan's renames in place: a renamed project is known under its new name, a
    /// renamed object under its new name in its project's maps. Done before the run starts,
    /// so every change resolves the plan's names, whatever order renames finish in.
    pub(crate) fn follow_renames(&self, changes: &[crate::plan::Change]) {
        use crate::model::Kind;
        let mut projects = self.lock();
        for change in changes {
            if let (Kind::Project, Some(old)) = (change.kind(), &change.renamed_from)
                && let Some(project) = projects.remove(old)
            {
                projects.insert(change.name.clone(), project);
            }
        }
        for change in changes {
            let Some(old) = &change.renamed_from else {
                continue;
            };
            let Some(project) = projects.get_mut(&change.project) else {
                continue;
            };
            let map = match change.kind() {
                Kind::Attribute => &mut project.uids.attributes,
                Kind::Event => &mut project.uids.events,
                Kind::Audience => &mut project.uids.audiences,
                Kind::Experience => &mut project.uids.experiences,
                _ => continue,
            };
            if let Some(uid) = map.remove(old) {
                map.insert(change.name.clone(), uid);
            }
        }
    }
}
