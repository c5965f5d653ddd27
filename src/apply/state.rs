//! What the applier knows about the live organization while it runs: project uids and fields,
//! and name -> uid maps per project, seeded from the observed [`LiveState`] and extended with
//! the objects the run creates.
//!
//! Invariant: the lock is never held across an `.await`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

/// The name -> uid map of `kind` in `project`, for the kinds that have one.
fn uid_map(
    project: &mut ProjectState,
    kind: crate::model::Kind,
) -> Option<&mut BTreeMap<String, String>> {
    use crate::model::Kind;
    Some(match kind {
        Kind::Attribute => &mut project.uids.attributes,
        Kind::Event => &mut project.uids.events,
        Kind::Audience => &mut project.uids.audiences,
        Kind::Experience => &mut project.uids.experiences,
        _ => return None,
    })
}

/// Projects by name. Each is shared with the tasks that read it (a read is a reference count,
/// not a copy of its maps); a change copies it only while a task still holds the old one.
#[derive(Debug, Default)]
pub(crate) struct RunState {
    projects: Mutex<BTreeMap<String, Arc<ProjectState>>>,
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
                (name.clone(), Arc::new(state))
            })
            .collect();
        RunState {
            projects: Mutex::new(projects),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<ProjectState>>> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.projects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One project's state as it is now.
    pub(crate) fn project(&self, name: &str) -> Option<Arc<ProjectState>> {
        self.lock().get(name).map(Arc::clone)
    }

    /// Change one project's state; `false` if the project is unknown.
    pub(crate) fn update(&self, name: &str, change: impl FnOnce(&mut ProjectState)) -> bool {
        match self.lock().get_mut(name) {
            Some(project) => {
                change(Arc::make_mut(project));
                true
            }
            None => false,
        }
    }

    pub(crate) fn insert(&self, name: &str, project: ProjectState) {
        self.lock().insert(name.to_owned(), Arc::new(project));
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
        let renamed_projects: Vec<(String, Arc<ProjectState>)> = changes
            .iter()
            .filter(|change| change.kind() == Kind::Project)
            .filter_map(|change| {
                let project = projects.remove(change.renamed_from.as_ref()?)?;
                Some((change.name.clone(), project))
            })
            .collect();
        projects.extend(renamed_projects);
        // Every old name is taken out before any new one goes in, so renames never chain.
        let mut moved: Vec<(&crate::plan::Change, String)> = Vec::new();
        for change in changes {
            let Some(old) = &change.renamed_from else {
                continue;
            };
            let Some(project) = projects.get_mut(&change.project) else {
                continue;
            };
            if let Some(uid) =
                uid_map(Arc::make_mut(project), change.kind()).and_then(|map| map.remove(old))
            {
                moved.push((change, uid));
            }
        }
        for (change, uid) in moved {
            if let Some(map) = projects
                .get_mut(&change.project)
                .and_then(|project| uid_map(Arc::make_mut(project), change.kind()))
            {
                map.insert(change.name.clone(), uid);
            }
        }
    }
}
