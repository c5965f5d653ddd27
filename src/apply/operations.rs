//! The API calls that carry out one change, per kind and action, repeated through the run's
//! [`crate::live::retry::RetryPolicy`]: idempotent calls are repeated after a lost answer; a
//! create whose answer was lost is looked up by its identity (name, event key, member email)
//! before it is repeated; a delete that finds nothing is done.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::state::{ProjectState, RunState};
use super::{ApplyConfig, Created, CreatedVariant, Outcome};
use crate::convert::{self, MissingReference, Resource, VersionContent, Versions};
use crate::live::retry::{retry_create, retry_idempotent};
use crate::live::{Api, Backend, BackendError};
use crate::model::{
    ExperienceSpec, ExperienceStatus, Kind, LiveState, MemberSpec, MemberTarget, ProjectRole,
    ProjectSpec, Ref, Sides, Specs, StackLinkSpec,
};
use crate::plan::{Action, Change, VariantRename};
use crate::wire::{self, Collection, VersionStatus};

/// Why a change failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OperationError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("project `{0}` does not exist")]
    MissingProject(String),
    #[error("{kind} `{name}` does not exist in project `{project}`")]
    MissingObject {
        kind: &'static str,
        name: String,
        project: String,
    },
    #[error("cannot build the request: {0}")]
    Reference(#[from] MissingReference),
    #[error("the plan's create or update has no `after`")]
    NoAfter,
    #[error("{0}")]
    Impossible(String),
    #[error(
        "live-duplicate: {kind} `{name}` was made in project `{project}` since the plan was read \
         ({found}); it was neither created a second time nor adopted. Plan again to review it"
    )]
    MadeSincePlan {
        kind: &'static str,
        name: String,
        project: String,
        /// `uid …, made … by …` as the record says.
        found: String,
    },
}

type Result<T, E = OperationError> = std::result::Result<T, E>;

fn is_not_found(error: &BackendError) -> bool {
    error.status() == Some(404)
}

/// Run an idempotent call (GET, PUT, DELETE) through the run's retry policy. `$call` is an
/// expression ending in `.await`, evaluated once per attempt.
macro_rules! idempotent {
    ($shared:expr, $call:expr) => {
        retry_idempotent!($shared.config.retry, $call)
    };
}

/// Make a create (POST) at most once in effect through the run's retry policy: after a lost
/// answer, `$lookup` (giving `Result<Option<T>, BackendError>`) looks for what it may have made.
macro_rules! create_once {
    ($shared:expr, post: $post:expr, lookup: $lookup:expr) => {
        retry_create!($shared.config.retry, post: $post, lookup: $lookup)
    };
}

mod cms;

/// A delete that finds nothing (after a lost answer, or because someone else deleted the
/// object) is done.
fn deleted(result: Result<(), BackendError>) -> Result<(), BackendError> {
    match result {
        Err(error) if is_not_found(&error) => Ok(()),
        other => other,
    }
}

/// What [`Shared::resource_change`] wrote.
enum Written<T> {
    Created(T),
    /// The uid of the updated object.
    Updated(String),
    Deleted,
}

/// What a change ended as, when it did not fail.
enum Done {
    Applied,
    Manual(String),
}

/// Everything the tasks of one run share.
pub(crate) struct Shared<B> {
    api: Arc<Api<B>>,
    state: RunState,
    config: ApplyConfig,
    /// Project-level PUTs (project update, stack link) send the whole project: one at a time
    /// per project, so neither overwrites the other with stale fields.
    project_locks: std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Tells the coordinator that the experience of the change with this index exists (see
    /// `Graph::gate`).
    created: tokio::sync::mpsc::UnboundedSender<usize>,
    /// The stack each project created by this plan is created with (its stack-link create).
    linked_on_create: BTreeMap<String, StackLinkSpec>,
    /// The identifiers creates got back, by change address, until their change finishes.
    identifiers: std::sync::Mutex<BTreeMap<String, Created>>,
    /// The uids of every object the plan was read with: an object found by a look that is
    /// not among them (nor made by this run) was made since.
    known: BTreeSet<String>,
    /// The looks before creates, one per project and kind (see [`Look`]).
    looks: std::sync::Mutex<BTreeMap<(String, &'static str), Arc<Look>>>,
    /// The projects this run created, and when their `POST` was sent: such a project was
    /// empty then, which serves as the first look of every kind in it.
    born: std::sync::Mutex<BTreeMap<String, tokio::time::Instant>>,
}

/// An object of one identity found by the look before a create.
#[derive(Clone, Debug)]
struct Seen {
    identity: String,
    uid: String,
    made: wire::Made,
}

impl Seen {
    fn describe(&self) -> String {
        let made = self.made.describe();
        if made.is_empty() {
            format!("uid {}", self.uid)
        } else {
            format!("uid {}, {made}", self.uid)
        }
    }
}

/// How old a list's answer may be when a create arrives and still serve as its look; a list
/// that took longer than this to answer (waiting its turn under the rate limit) serves for as
/// long as it took.
pub(crate) const LOOK_FRESHNESS: std::time::Duration = std::time::Duration::from_secs(1);

/// The look before the creates of one kind in one project. A create arrives and uses the
/// last list if that list is in flight (it waits for the answer) or was answered at most
/// [`LOOK_FRESHNESS`] before (or as long as the list took, if longer); otherwise it lists
/// anew. So a wave of creates, and a chain of creates that follow one another, cost about one
/// list a second, and no create is checked against a finding older than a second or than the
/// time a request of this run waits anyway.
#[derive(Default)]
struct Look {
    /// Until when the last finding serves, and what it found.
    last: tokio::sync::Mutex<Option<(tokio::time::Instant, Arc<Vec<Seen>>)>>,
}

impl Look {
    /// A look whose first finding is "nothing", as of `born`: a project this run created holds
    /// nothing but what this run makes in it, as of its `POST`.
    fn empty_since(born: Option<tokio::time::Instant>) -> Self {
        Look {
            last: tokio::sync::Mutex::new(
                born.map(|born| (born + LOOK_FRESHNESS, Arc::new(Vec::new()))),
            ),
        }
    }

    /// What the organization held shortly before this create arrived: the last finding if it
    /// still serves (a list in flight when the create arrives does), else what `list`, run
    /// now, finds. `Ok(None)` from `list` (nothing it could read) leaves the
    /// last finding as it was.
    async fn seen<F, Fut>(&self, list: F) -> Result<Arc<Vec<Seen>>, BackendError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<Vec<Seen>>, BackendError>>,
    {
        let arrival = tokio::time::Instant::now();
        let mut last = self.last.lock().await;
        if let Some((until, seen)) = last.as_ref()
            && *until >= arrival
        {
            return Ok(Arc::clone(seen));
        }
        let began = tokio::time::Instant::now();
        match list().await? {
            Some(seen) => {
                let seen = Arc::new(seen);
                let answered = tokio::time::Instant::now();
                let until = answered + LOOK_FRESHNESS.max(answered - began);
                *last = Some((until, Arc::clone(&seen)));
                Ok(seen)
            }
            None => Ok(last
                .as_ref()
                .map_or_else(|| Arc::new(Vec::new()), |(_, seen)| Arc::clone(seen))),
        }
    }
}

impl<B: Backend> Shared<B> {
    pub(crate) fn new(
        api: Arc<Api<B>>,
        live: &LiveState,
        config: ApplyConfig,
        created: tokio::sync::mpsc::UnboundedSender<usize>,
        changes: &[Change],
    ) -> Self {
        let creates_project = |project: &str| {
            changes.iter().any(|change| {
                change.project == project
                    && change.kind() == Kind::Project
                    && change.action == Action::Create
            })
        };
        let linked_on_create = changes
            .iter()
            .filter(|change| change.action == Action::Create && creates_project(&change.project))
            .filter_map(|change| match &change.specs {
                Specs::StackLink(sides) => sides
                    .after
                    .clone()
                    .map(|link| (change.project.clone(), link)),
                _ => None,
            })
            .collect();
        let state = RunState::from_live(live);
        state.follow_renames(changes);
        Shared {
            api,
            state,
            config,
            project_locks: std::sync::Mutex::new(BTreeMap::new()),
            created,
            linked_on_create,
            identifiers: std::sync::Mutex::new(BTreeMap::new()),
            known: known_uids(live),
            looks: std::sync::Mutex::new(BTreeMap::new()),
            born: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    fn look(&self, project: &str, kind: &'static str) -> Arc<Look> {
        let born = self
            .born
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(project)
            .copied();
        let mut looks = self
            .looks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            looks
                .entry((project.to_owned(), kind))
                .or_insert_with(|| Arc::new(Look::empty_since(born))),
        )
    }

    /// Fail a create when the look found an object of its identity that the plan did not
    /// know and this run did not make.
    fn check_look(
        &self,
        seen: &[Seen],
        made_here: &BTreeMap<String, String>,
        kind: &'static str,
        name: &str,
        project: &str,
    ) -> Result<()> {
        let made_here: BTreeSet<&str> = made_here.values().map(String::as_str).collect();
        let found: Vec<String> = seen
            .iter()
            .filter(|object| {
                object.identity == name
                    && !self.known.contains(&object.uid)
                    && !made_here.contains(object.uid.as_str())
            })
            .map(Seen::describe)
            .collect();
        if found.is_empty() {
            return Ok(());
        }
        Err(OperationError::MadeSincePlan {
            kind,
            name: name.to_owned(),
            project: project.to_owned(),
            found: found.join("; "),
        })
    }

    fn project_lock(&self, project: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .project_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(locks.entry(project.to_owned()).or_default())
    }

    fn project(&self, name: &str) -> Result<Arc<ProjectState>> {
        self.state
            .project(name)
            .ok_or_else(|| OperationError::MissingProject(name.to_owned()))
    }

    /// Record an identifier the API gave the object of the change at `address`.
    fn identify(&self, address: &str, update: impl FnOnce(&mut Created)) {
        let mut identifiers = self
            .identifiers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        update(identifiers.entry(address.to_owned()).or_default());
    }

    /// Carry out change `index` of the plan; also what it created, if anything, and whether
    /// a failure is contained (the run may start other changes).
    pub(crate) async fn execute(
        &self,
        index: usize,
        change: &Change,
    ) -> (Outcome, Option<Created>, bool) {
        // A create refused by its look changed nothing: the run goes on with what does not
        // depend on it.
        let mut contained = false;
        let outcome = match self.run(index, change).await {
            Ok(Done::Applied) => Outcome::Applied,
            Ok(Done::Manual(steps)) => Outcome::Manual { steps },
            Err(error) => {
                contained = matches!(error, OperationError::MadeSincePlan { .. });
                Outcome::Failed {
                    error: error.to_string(),
                }
            }
        };
        let created = self
            .identifiers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&change.address);
        (outcome, created, contained)
    }

    async fn run(&self, index: usize, change: &Change) -> Result<Done> {
        match &change.specs {
            Specs::Project(sides) => self.project_change(change, sides).await,
            Specs::StackLink(sides) => self.stack_link_change(change, sides).await,
            Specs::Member(sides) => self.member_change(change, sides).await,
            Specs::Attribute(sides) => self.resource_change(change, sides).await.map(drop),
            Specs::Event(sides) => self.resource_change(change, sides).await.map(drop),
            Specs::Audience(sides) => self.resource_change(change, sides).await.map(drop),
            Specs::Experience(sides) => self.experience_change(index, change, sides).await,
            Specs::ExperienceOrder(sides) => self.experience_order_change(change, sides).await,
        }
        .map(|()| Done::Applied)
        .or_else(|error| match error {
            OperationError::Backend(BackendError::Unsupported(_))
                if change.kind() == Kind::Member =>
            {
                Ok(Done::Manual(member_steps(change)))
            }
            OperationError::Backend(BackendError::Unsupported(_))
                if change.kind() == Kind::ExperienceOrder =>
            {
                Ok(Done::Manual(order_steps(change)))
            }
            other => Err(other),
        })
    }

    async fn project_change(&self, change: &Change, sides: &Sides<ProjectSpec>) -> Result<()> {
        let name = &change.project;
        let api = &self.api;
        match change.action {
            Action::Create => {
                // The stack is linked in the POST itself (the confirmed way); the plan's
                // stack-link change then finds it linked and sends nothing.
                let stack = self.linked_on_create.get(name).cloned().unwrap_or_default();
                let input = convert::project_input(name, wanted(sides)?, &stack);
                // Look right before the create (see `Look`).
                let seen = self
                    .look("", "project")
                    .seen(|| async {
                        let projects = idempotent!(self, api.list_projects().await)?;
                        Ok(Some(
                            projects
                                .into_iter()
                                .map(|project| Seen {
                                    identity: project.name,
                                    uid: project.uid,
                                    made: wire::Made {
                                        created_at: project.created_at,
                                        ..wire::Made::default()
                                    },
                                })
                                .collect(),
                        ))
                    })
                    .await?;
                self.check_look(&seen, &BTreeMap::new(), "project", name, name)?;
                let posted = tokio::time::Instant::now();
                let project = create_once!(self,
                    post: api.create_project(&input).await,
                    lookup: api.list_projects().await.map(|projects| {
                        projects.into_iter().find(|project| &project.name == name)
                    })
                )?;
                self.identify(&change.address, |created| {
                    created.uid.clone_from(&project.uid);
                });
                self.born
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(name.clone(), posted);
                self.state.insert(
                    name,
                    ProjectState {
                        uid: project.uid.clone(),
                        description: project.description.clone(),
                        stack: project
                            .connected_stack_api_key
                            .filter(|key| !key.is_empty()),
                        ..ProjectState::default()
                    },
                );
            }
            Action::Update => {
                let spec = wanted(sides)?;
                let lock = self.project_lock(name);
                let _guard = lock.lock().await;
                let project = self.project(name)?;
                let stack = StackLinkSpec {
                    stack: project.stack.clone(),
                };
                let input = convert::project_input(name, spec, &stack);
                idempotent!(self, api.update_project(&project.uid, &input).await)?;
                self.state.update(name, |state| {
                    state.description = spec.description.clone();
                });
            }
            Action::Delete => {
                let project = self.project(name)?;
                deleted(idempotent!(self, api.delete_project(&project.uid).await))?;
                self.state.remove(name);
            }
        }
        Ok(())
    }

    async fn stack_link_change(&self, change: &Change, sides: &Sides<StackLinkSpec>) -> Result<()> {
        let name = &change.project;
        let link = match change.action {
            Action::Create | Action::Update => wanted(sides)?.clone(),
            Action::Delete => StackLinkSpec::default(),
        };
        let lock = self.project_lock(name);
        let _guard = lock.lock().await;
        let project = self.project(name)?;
        if project.stack == link.stack {
            // Linked by the project's create already (or by an earlier run).
            return Ok(());
        }
        let spec = ProjectSpec {
            description: project.description.clone(),
        };
        let input = convert::project_input(name, &spec, &link);
        idempotent!(self, self.api.update_project(&project.uid, &input).await)?;
        self.state.update(name, |state| state.stack = link.stack);
        Ok(())
    }

    async fn member_change(
        &self,
        change: &Change,
        sides: &Sides<MemberSpec, MemberTarget>,
    ) -> Result<()> {
        if !self.api.backend.supports_members() {
            return Err(BackendError::Unsupported("project members".to_owned()).into());
        }
        let project = self.project(&change.project)?;
        let api = &self.api;
        let email = change.name.to_lowercase();
        match change.action {
            Action::Create => {
                let target = wanted(sides)?;
                let input = convert::member_input(target);
                create_once!(self,
                    post: api.invite_member(&project.uid, &input).await,
                    lookup: api.list_members(&project.uid).await.map(|members| {
                        members
                            .into_iter()
                            .find(|member| member.email.eq_ignore_ascii_case(&input.email))
                    })
                )?;
            }
            Action::Update => {
                let role = wanted(sides)?.member.role;
                idempotent!(
                    self,
                    api.update_member(&project.uid, &email, role.into()).await
                )?;
            }
            Action::Delete => {
                deleted(idempotent!(
                    self,
                    api.remove_member(&project.uid, &email).await
                ))?;
            }
        }
        Ok(())
    }

    /// Create, update or delete one object of a project-scoped kind. An update is sent only
    /// when its body differs from the one the live spec gives (an experience update may
    /// change nothing but its versions).
    async fn resource_change<R: Resource>(
        &self,
        change: &Change,
        sides: &Sides<R>,
    ) -> Result<Written<R::Wire>> {
        let project = self.project(&change.project)?;
        let api = &self.api;
        let name = &change.name;
        match change.action {
            Action::Create => {
                let input = wanted(sides)?.input(name, &project.uids)?;
                // Look right before the create: the API has no conditional create, and an
                // object of this identity made since the plan was read (another run, the UI)
                // would otherwise get a twin. One list serves the creates of this kind in this
                // project that start together (see `Look`).
                let seen = self
                    .look(&change.project, R::Wire::WORD)
                    .seen(|| async {
                        match idempotent!(self, api.list::<R::Wire>(&project.uid).await) {
                            Ok(objects) => Ok(Some(
                                objects
                                    .iter()
                                    .filter_map(|object| {
                                        Some(Seen {
                                            identity: R::name(object)?.to_owned(),
                                            uid: object.uid().to_owned(),
                                            made: object.made().clone(),
                                        })
                                    })
                                    .collect(),
                            )),
                            // A record the typed list cannot read: observe read it tolerantly
                            // and the plan accounted for it; the create goes ahead unlooked,
                            // as it would have before looks, rather than fail.
                            Err(BackendError::Decode { .. }) => Ok(None),
                            Err(error) => Err(error),
                        }
                    })
                    .await?;
                let current = self.project(&change.project)?;
                self.check_look(
                    &seen,
                    R::uids(&current.uids),
                    R::Wire::WORD,
                    name,
                    &change.project,
                )?;
                let object = create_once!(self,
                    post: api.create::<R::Wire>(&project.uid, &input).await,
                    lookup: api.list::<R::Wire>(&project.uid).await.map(|objects| {
                        objects
                            .into_iter()
                            .find(|object| R::name(object) == Some(name.as_str()))
                    })
                )?;
                self.state.update(&change.project, |state| {
                    R::uids_mut(&mut state.uids).insert(name.clone(), object.uid().to_owned());
                });
                self.identify(&change.address, |created| {
                    object.uid().clone_into(&mut created.uid);
                });
                Ok(Written::Created(object))
            }
            Action::Update => {
                let uid = object_uid(R::uids(&project.uids), R::Wire::WORD, change)?;
                let input = wanted(sides)?.input(name, &project.uids)?;
                // The live object's body carries its live name: a rename is a difference.
                let live_input = sides
                    .before
                    .as_ref()
                    .and_then(|before| before.input(change.live_name(), &project.uids).ok());
                if live_input.as_ref() != Some(&input) {
                    idempotent!(
                        self,
                        api.update::<R::Wire>(&project.uid, &uid, &input).await
                    )?;
                }
                Ok(Written::Updated(uid))
            }
            Action::Delete => {
                let uid = object_uid(R::uids(&project.uids), R::Wire::WORD, change)?;
                deleted(idempotent!(
                    self,
                    api.delete::<R::Wire>(&project.uid, &uid).await
                ))?;
                self.state.update(&change.project, |state| {
                    R::uids_mut(&mut state.uids).remove(name);
                });
                Ok(Written::Deleted)
            }
        }
    }

    async fn experience_change(
        &self,
        index: usize,
        change: &Change,
        sides: &Sides<ExperienceSpec>,
    ) -> Result<()> {
        if change.action == Action::Delete {
            self.unlink_before_delete(change, sides).await?;
        }
        let written = self.resource_change(change, sides).await?;
        let project = self.project(&change.project)?;
        let api = &self.api;
        let (uid, versions) = match written {
            Written::Deleted => return Ok(()),
            Written::Created(experience) => {
                // The coordinator may be gone only when the run is over; nothing to tell then.
                let _ = self.created.send(index);
                self.identify(&change.address, |created| {
                    created.short_uid = Some(experience.short_uid.clone())
                        .filter(|short_uid| !short_uid.is_empty());
                });
                // A new experience comes with one empty draft, `latestVersion`.
                let versions = if experience.latest_version.is_empty() {
                    idempotent!(self, api.list_versions(&project.uid, &experience.uid).await)?
                } else {
                    vec![wire::Version {
                        id: experience.latest_version.clone(),
                        uid: experience.latest_version.clone(),
                        status: VersionStatus::Draft,
                        variants: Vec::new(),
                        metrics: Vec::new(),
                        targeting: None,
                        updated_at: String::new(),
                        extra: wire::Extra::new(),
                    }]
                };
                (experience.uid, versions)
            }
            Written::Updated(uid) => {
                let versions = idempotent!(self, api.list_versions(&project.uid, &uid).await)?;
                (uid, versions)
            }
        };
        let created = matches!(change.action, Action::Create);
        let version = self
            .converge_versions(
                &project,
                &uid,
                wanted(sides)?,
                &versions,
                &change.renamed_variants,
            )
            .await?;
        if let (true, Some(version)) = (created, version) {
            self.identify(&change.address, |created| {
                created.version = Some(version.uid.clone()).filter(|uid| !uid.is_empty());
                created.variants = version
                    .variants
                    .iter()
                    .map(|variant| {
                        let (name, short_uid) = match variant {
                            wire::Variant::Segmented {
                                name, short_uid, ..
                            }
                            | wire::Variant::AbTest {
                                name, short_uid, ..
                            } => (name, short_uid),
                        };
                        CreatedVariant {
                            name: name.clone(),
                            short_uid: short_uid.clone(),
                        }
                    })
                    .collect();
            });
        }
        self.link_content_types(change, sides, &uid).await
    }

    /// Bring an experience's versions to the spec's content and status, from `versions` as
    /// they are now. Never edits the content of an active (locked) version.
    async fn converge_versions(
        &self,
        project: &ProjectState,
        experience: &str,
        spec: &ExperienceSpec,
        versions: &[wire::Version],
        renamed_variants: &[VariantRename],
    ) -> Result<Option<wire::Version>> {
        let find = |status| versions.iter().find(|version| version.status == status);
        let live = Versions {
            draft: find(VersionStatus::Draft),
            active: find(VersionStatus::Active),
            paused: find(VersionStatus::Paused),
        };
        let (status, effective) = live.effective();
        let wanted = VersionContent::of_spec(spec);
        let in_force = effective
            .map(|version| convert::version_content(version, &project.names()))
            .unwrap_or_default();
        if wanted == in_force {
            return match (status, spec.status, effective) {
                (current, desired, _) if current == desired => Ok(effective.cloned()),
                (_, ExperienceStatus::Draft, _) => Err(OperationError::Impossible(format!(
                    "experience `{experience}` is {} and the API cannot move it back to draft",
                    status_word(status)
                ))),
                (_, desired, Some(version)) => self
                    .move_status(project, experience, version.clone(), desired)
                    .await
                    .map(Some),
                (_, _, None) => Err(OperationError::Impossible(format!(
                    "experience `{experience}` has no version to activate"
                ))),
            };
        }
        // New content always goes into the draft (the one allowed), never into a locked
        // version. Variant shortUids come from the version in force, so CMS mappings survive.
        // Variants renamed in place (`renamed_variants`) are read under their new names in the
        // versions the write copies from, so they keep their shortUids and unknown fields.
        let renamed =
            |version: &wire::Version| convert::with_variant_renames(version, renamed_variants);
        let effective_renamed = effective.map(renamed);
        let draft_renamed = live.draft.map(renamed);
        let effective = effective_renamed.as_ref();
        let carry_over = effective.filter(|version| version.status != VersionStatus::Draft);
        let api = &self.api;
        // Read-modify-write: what pzctl does not manage (`variantSplit`, Lytics audiences,
        // unknown fields) comes from the live version the write replaces or copies.
        let draft = if let Some(draft) = draft_renamed.as_ref() {
            let mut input = convert::version_input(
                &wanted,
                VersionStatus::Draft,
                carry_over.or(Some(draft)),
                &project.uids,
            )?;
            convert::carry_over(&mut input, draft);
            idempotent!(
                self,
                api.update_version(&project.uid, experience, &draft.uid, &input)
                    .await
            )?
        } else {
            let mut input =
                convert::version_input(&wanted, VersionStatus::Draft, carry_over, &project.uids)?;
            if let Some(base) = effective {
                convert::carry_over(&mut input, base);
            }
            create_once!(self,
                post: api.create_version(&project.uid, experience, &input).await,
                lookup: api.list_versions(&project.uid, experience).await.map(|versions| {
                    versions
                        .into_iter()
                        .find(|version| version.status == VersionStatus::Draft)
                })
            )?
        };
        if spec.status == ExperienceStatus::Draft {
            return Ok(Some(draft));
        }
        self.move_status(project, experience, draft, spec.status)
            .await
            .map(Some)
    }

    /// Move `version` (a draft, the active or the paused version) to `desired` (active or
    /// paused) with its content unchanged, through active when pausing a draft.
    async fn move_status(
        &self,
        project: &ProjectState,
        experience: &str,
        mut version: wire::Version,
        desired: ExperienceStatus,
    ) -> Result<wire::Version> {
        let api = &self.api;
        let steps: &[VersionStatus] = match (version.status, desired) {
            (VersionStatus::Active, ExperienceStatus::Paused) => &[VersionStatus::Paused],
            (_, ExperienceStatus::Paused) => &[VersionStatus::Active, VersionStatus::Paused],
            (_, _) => &[VersionStatus::Active],
        };
        for &status in steps {
            let input = convert::status_only(&version, status);
            let answer = idempotent!(
                self,
                api.update_version(&project.uid, experience, &version.uid, &input)
                    .await
            )?;
            version = if answer.uid.is_empty() {
                wire::Version { status, ..version }
            } else {
                answer
            };
        }
        Ok(version)
    }

    async fn experience_order_change(
        &self,
        change: &Change,
        sides: &Sides<Vec<Ref>, Vec<String>>,
    ) -> Result<()> {
        let project = self.project(&change.project)?;
        let api = &self.api;
        let names = match change.action {
            Action::Delete => return Ok(()),
            Action::Create | Action::Update => wanted(sides)?,
        };
        let mut order = Vec::with_capacity(names.len());
        for name in names {
            order.push(project.uids.experiences.get(name).cloned().ok_or_else(|| {
                OperationError::MissingObject {
                    kind: "experience",
                    name: name.clone(),
                    project: change.project.clone(),
                }
            })?);
        }
        // The API wants every experience of the project: the ones the manifests do not order
        // keep their relative order after the ordered ones.
        // An endpoint without a usable priority route (a 404, another shape) cannot take the
        // order: it becomes a manual step, as observe would have told for a known project.
        let current = match idempotent!(self, api.get_priority(&project.uid).await) {
            Err(error)
                if error.status() == Some(404) || matches!(error, BackendError::Decode { .. }) =>
            {
                return Err(OperationError::Backend(BackendError::Unsupported(
                    "the experience priority".to_owned(),
                )));
            }
            other => other?,
        };
        let input = convert::priority_input(order, current);
        idempotent!(self, api.put_priority(&project.uid, &input).await)?;
        Ok(())
    }
}

fn status_word(status: ExperienceStatus) -> &'static str {
    match status {
        ExperienceStatus::Draft => "draft",
        ExperienceStatus::Active => "active",
        ExperienceStatus::Paused => "paused",
    }
}

/// The uids of every object in `live`, of every kind and project.
fn known_uids(live: &LiveState) -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    for project in live.projects.values() {
        known.insert(project.project.uid.clone());
        known.extend(project.attributes.iter().map(|object| object.uid.clone()));
        known.extend(project.events.iter().map(|object| object.uid.clone()));
        known.extend(project.audiences.iter().map(|object| object.uid.clone()));
        known.extend(
            project
                .experiences
                .iter()
                .map(|object| object.experience.uid.clone()),
        );
    }
    known.extend(
        live.warnings
            .iter()
            .filter_map(|warning| warning.uid.clone()),
    );
    known
}

/// The desired spec of a create or an update.
fn wanted<Before, After>(sides: &Sides<Before, After>) -> Result<&After> {
    sides.after.as_ref().ok_or(OperationError::NoAfter)
}

fn object_uid(
    map: &BTreeMap<String, String>,
    kind: &'static str,
    change: &Change,
) -> Result<String> {
    map.get(&change.name)
        .cloned()
        .ok_or_else(|| OperationError::MissingObject {
            kind,
            name: change.name.clone(),
            project: change.project.clone(),
        })
}

/// The UI steps for a member change the target has no API for.
/// The UI steps that set an experience order the endpoint cannot take.
pub(crate) fn order_steps(change: &Change) -> String {
    let order = match &change.specs {
        Specs::ExperienceOrder(Sides {
            after: Some(order), ..
        }) => order.join(", "),
        _ => String::new(),
    };
    format!(
        "In Personalize, open project {} → Experiences → Prioritize, and order them: {order}",
        change.project
    )
}

pub(crate) fn member_steps(change: &Change) -> String {
    let project = &change.project;
    let email = &change.name;
    let role = match &change.specs {
        Specs::Member(Sides {
            after: Some(target),
            ..
        }) => match target.member.role {
            ProjectRole::Owner => "Owner",
            ProjectRole::Member => "Member",
        },
        _ => "member",
    };
    match change.action {
        Action::Create => format!(
            "In Personalize, open project {project} → Settings → Users → + Invite User, enter {email}, role {role}"
        ),
        Action::Update => format!(
            "In Personalize, open project {project} → Settings → Users → row {email} → change the role to {role}"
        ),
        Action::Delete => format!(
            "In Personalize, open project {project} → Settings → Users → row {email} → Remove"
        ),
    }
}

#[cfg(test)]
mod look_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn found(name: &str) -> Seen {
        Seen {
            identity: name.to_owned(),
            uid: format!("uid-{name}"),
            made: wire::Made::default(),
        }
    }

    /// A look at `look` that counts its lists in `lists` and finds `name`.
    async fn look_at(look: &Look, lists: &AtomicUsize, name: &str) -> Vec<String> {
        slow_look_at(look, lists, name, std::time::Duration::from_millis(20)).await
    }

    /// [`look_at`] with a list that takes `takes` to answer.
    async fn slow_look_at(
        look: &Look,
        lists: &AtomicUsize,
        name: &str,
        takes: std::time::Duration,
    ) -> Vec<String> {
        look.seen(|| async {
            lists.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(takes).await;
            Ok(Some(vec![found(name)]))
        })
        .await
        .expect("a list")
        .iter()
        .map(|seen| seen.identity.clone())
        .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn creates_within_the_freshness_share_a_list_and_later_ones_list_again() {
        let look = Look::default();
        let lists = AtomicUsize::new(0);
        assert_eq!(look_at(&look, &lists, "a").await, ["a"]);
        // Creates arriving together, or while the list is young, share it.
        let (first, second) =
            tokio::join!(look_at(&look, &lists, "b"), look_at(&look, &lists, "c"));
        assert_eq!(
            (first, second),
            (vec!["a".to_owned()], vec!["a".to_owned()])
        );
        tokio::time::advance(LOOK_FRESHNESS / 2).await;
        assert_eq!(look_at(&look, &lists, "d").await, ["a"]);
        assert_eq!(lists.load(Ordering::SeqCst), 1);
        // A create that arrives after the list has aged past the freshness lists again, and
        // sees what was made in between.
        tokio::time::advance(LOOK_FRESHNESS).await;
        assert_eq!(look_at(&look, &lists, "e").await, ["e"]);
        assert_eq!(lists.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_list_that_waited_its_turn_serves_as_long_as_it_took() {
        let look = Look::default();
        let lists = AtomicUsize::new(0);
        let takes = LOOK_FRESHNESS * 3;
        assert_eq!(slow_look_at(&look, &lists, "a", takes).await, ["a"]);
        tokio::time::advance(LOOK_FRESHNESS * 2).await;
        assert_eq!(look_at(&look, &lists, "b").await, ["a"]);
        assert_eq!(lists.load(Ordering::SeqCst), 1);
        tokio::time::advance(LOOK_FRESHNESS * 2).await;
        assert_eq!(look_at(&look, &lists, "c").await, ["c"]);
        assert_eq!(lists.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_project_made_by_the_run_is_its_own_first_look_until_it_ages() {
        let lists = AtomicUsize::new(0);
        let look = Look::empty_since(Some(tokio::time::Instant::now()));
        tokio::time::advance(LOOK_FRESHNESS / 2).await;
        assert!(look_at(&look, &lists, "a").await.is_empty());
        assert_eq!(lists.load(Ordering::SeqCst), 0);
        tokio::time::advance(LOOK_FRESHNESS).await;
        assert_eq!(look_at(&look, &lists, "b").await, ["b"]);
        assert_eq!(lists.load(Ordering::SeqCst), 1);
        // A project this run did not make has no first look.
        let unborn = Look::empty_since(None);
        assert_eq!(look_at(&unborn, &lists, "c").await, ["c"]);
        assert_eq!(lists.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_list_that_reads_nothing_keeps_the_last_finding() {
        let look = Look::default();
        let lists = AtomicUsize::new(0);
        assert_eq!(look_at(&look, &lists, "a").await, ["a"]);
        tokio::time::advance(LOOK_FRESHNESS * 2).await;
        let seen = look
            .seen(|| async { Ok(None) })
            .await
            .expect("no list error");
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].identity, "a");
    }
}
