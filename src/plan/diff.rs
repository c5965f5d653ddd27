//! The diff: desired specs against live wire objects read as specs (through [`crate::convert`]),
//! producing unordered [`Planned`] changes with the references that ordering needs.
//!
//! Invariant: only specs are compared, never wire objects, so server-assigned fields, tag case
//! and order, presets and defaults never show up as differences.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::view::{default_of, manifest_view};
use super::{Action, Change, FieldChange, PlanConfig, Requirement, Unmanaged};
use crate::convert::{self, Names, Resource};
use crate::diagnostic::{Code, Diagnostic, Location};
use crate::model::{
    AttributeSpec, AudienceSpec, ContentTypeLinks, DesiredProject, DesiredState, EventSpec,
    ExperienceSpec, ExperienceStatus, Kind, LiveProject, LiveState, LiveWarning, MemberSpec,
    MemberTarget, Origin, ProjectRole, Ref, Sides, Specs, StackLinkSpec, address,
};
use crate::wire::{self, MemberStatus};

/// How a member change affects the acting principal's own project role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Raises the principal to project owner.
    Grant,
    /// Lowers or removes the principal's project role.
    Revoke,
}

/// A change before ordering, with what the ordering and the guards need to know about it.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub change: Change,
    /// Resources (kind, name) of the same project the desired spec refers to.
    pub uses: Vec<(Kind, String)>,
    /// Resources (kind, name) of the same project the live spec refers to.
    pub used_live: Vec<(Kind, String)>,
    /// A change to the principal's own membership.
    pub effect: Option<Effect>,
}

/// Everything the diff found: changes and refusals.
#[derive(Debug, Default)]
pub(crate) struct Diff {
    pub planned: Vec<Planned>,
    pub diagnostics: Vec<Diagnostic>,
    /// Live objects no manifest declares that the plan does not delete.
    pub unmanaged: Vec<Unmanaged>,
    /// Identities two live objects share (`live-duplicate`): nothing touching them is planned.
    pub duplicates: Vec<super::Note>,
    /// Other notes of the diff (renames that could not be made).
    pub notes: Vec<super::Note>,
}

/// Make a located diagnostic.
pub(crate) fn diagnostic(
    code: Code,
    message: String,
    origin: Option<&Origin>,
    help: Option<String>,
) -> Diagnostic {
    Diagnostic::error(code, message)
        .at(origin.map(|origin| Location::new(&origin.file, origin.line, origin.column)))
        .with_help(help)
}

/// Where the change at `change_address` was declared: its own origin, else its project's.
pub(crate) fn origin_of<'a>(
    desired: Option<&'a DesiredProject>,
    change_address: &str,
    project: &str,
) -> Option<&'a Origin> {
    let desired = desired?;
    desired.origins.get(change_address).or_else(|| {
        desired
            .origins
            .get(&address(project, Kind::Project, project))
    })
}

/// The requirement of a kind.
pub(crate) fn requirement(kind: Kind, action: Action) -> Requirement {
    match (kind, action) {
        (Kind::Project, Action::Create) => Requirement::OrgAdmin,
        (Kind::Project | Kind::StackLink | Kind::Member, _) => Requirement::ProjectOwner,
        _ => Requirement::ProjectMember,
    }
}

struct Builder<'a> {
    project: &'a str,
    planned: Vec<Planned>,
    /// The project's live records that could not be read: unmanaged, and never reused blindly.
    unreadable: Vec<&'a LiveWarning>,
    unmanaged: Vec<Unmanaged>,
    duplicates: Vec<super::Note>,
    /// What renames could not do (previous names live next to current ones).
    notes: Vec<super::Note>,
}

/// The note of two (or more) live objects of one kind with one name.
fn duplicate<R: Resource>(project: &str, name: &str, objects: &[&R::Live]) -> super::Note {
    let described: Vec<String> = objects
        .iter()
        .map(|object| {
            let wire = R::object(object);
            let uid = wire::Collection::uid(wire);
            let mut parts = vec![format!("uid {uid}")];
            let made = wire::Collection::made(wire).describe();
            if !made.is_empty() {
                parts.push(made);
            }
            match wire::Collection::updated_at(wire) {
                "" => {}
                at => parts.push(format!("last updated {at}")),
            }
            parts.join(", ")
        })
        .collect();
    super::Note {
        address: address(project, R::KIND, name),
        message: format!(
            "live-duplicate: {} live {}s in project `{project}` are named `{name}` ({}); no change \
             to `{name}` is planned, because it could go to either",
            objects.len(),
            R::KIND.as_str(),
            described.join("; ")
        ),
        steps: vec![format!(
            "delete or rename all but one of them in the Personalize UI, then plan again"
        )],
    }
}

/// One project's sides, as every resource kind of it is diffed.
struct ProjectSides<'a> {
    desired: &'a DesiredProject,
    live: &'a LiveProject,
    /// Live uids -> manifest names, renamed objects under their new names.
    names: &'a Names,
    renames: &'a super::renames::Renames,
    /// Whether live objects no manifest declares are deleted.
    may_delete: bool,
}

impl Builder<'_> {
    /// Diff one resource kind: create what is missing, update what differs (unless `check`
    /// refuses it), and (when allowed) delete what no manifest declares. `check` sees the live
    /// spec (`None` for a create) and the desired one, and gives the change's note.
    fn diff_resource<R: Resource>(
        &mut self,
        sides: &ProjectSides,
        check: impl Fn(&str, Option<&R>, &R) -> Result<Option<String>, Diagnostic>,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let ProjectSides {
            desired: desired_project,
            live: live_project,
            names,
            renames,
            may_delete,
        } = *sides;
        let desired = R::desired(desired_project);
        let renamed = renames.of(R::KIND);
        let mut by_name: BTreeMap<&str, Vec<&R::Live>> = BTreeMap::new();
        for object in R::live(live_project) {
            if let Some(name) = R::name(R::object(object)) {
                by_name.entry(name).or_default().push(object);
            }
        }
        // Two live objects with one name: any change could go to either, so none is planned.
        let mut live: BTreeMap<&str, &R::Live> = BTreeMap::new();
        let mut duplicated: BTreeSet<&str> = BTreeSet::new();
        for (name, objects) in by_name {
            match objects.as_slice() {
                [object] => {
                    live.insert(name, object);
                }
                many => {
                    self.duplicates
                        .push(duplicate::<R>(self.project, name, many));
                    duplicated.insert(name);
                }
            }
        }
        for (name, spec) in desired {
            if duplicated.contains(name.as_str()) {
                continue;
            }
            let change_address = address(self.project, R::KIND, name);
            // The live object of this name, else the one it is renamed from.
            let renamed_from = renamed
                .get(name)
                .filter(|_| !live.contains_key(name.as_str()));
            let found = live
                .get(name.as_str())
                .or_else(|| renamed_from.and_then(|old| live.get(old.as_str())));
            let unreadable = self
                .unreadable
                .iter()
                .find(|warning| warning.kind == R::KIND && warning.name.as_ref() == Some(name));
            if let (Some(warning), None) = (unreadable, found) {
                diagnostics.push(diagnostic(
                    Code::ImmutableField,
                    format!(
                        "`{change_address}`: the live {} of this name (uid {}) cannot be read ({}), so pzctl neither updates it nor creates another one",
                        R::KIND.as_str(),
                        warning.uid.as_deref().unwrap_or("unknown"),
                        warning.message
                    ),
                    origin_of(Some(desired_project), &change_address, self.project),
                    Some("fix or rename the live object in the Personalize UI, or give the manifest another name".to_owned()),
                ));
                continue;
            }
            let (before, used_live) = match found {
                None => (None, Vec::new()),
                Some(object) => match R::of_live(object, names) {
                    Ok(live_spec) => (
                        Some(live_spec.managed_as(spec)),
                        R::live_references(object, names),
                    ),
                    Err(unexpressible) => {
                        diagnostics.push(diagnostic(
                            Code::ImmutableField,
                            format!("{unexpressible}: `{change_address}`"),
                            origin_of(Some(desired_project), &change_address, self.project),
                            Some(unexpressible.help().to_owned()),
                        ));
                        continue;
                    }
                },
            };
            if before.as_ref() == Some(spec) && renamed_from.is_none() {
                continue;
            }
            let note = match check(&change_address, before.as_ref(), spec) {
                Ok(note) => note,
                Err(refusal) => {
                    diagnostics.push(refusal);
                    continue;
                }
            };
            let action = if before.is_some() {
                Action::Update
            } else {
                Action::Create
            };
            let after = Some(spec.clone());
            let planned = self.push(action, name, R::specs(Sides { before, after }));
            planned.uses = spec.references();
            planned.used_live = used_live;
            planned.change.note = note;
            planned.change.renamed_from = renamed_from.cloned();
        }
        for (name, object) in &live {
            // An object a manifest renames is that manifest's.
            if desired.contains_key(*name) || renamed.values().any(|old| old == name) {
                continue;
            }
            // What manifests cannot express (synced audiences) is not ours to delete, nor
            // to list as unmanaged: no manifest could declare it.
            let Ok(live_spec) = R::of_live(object, names) else {
                continue;
            };
            if !may_delete {
                self.unmanaged.push(Unmanaged {
                    address: address(self.project, R::KIND, name),
                    kind: R::KIND,
                    project: self.project.to_owned(),
                    name: (*name).to_owned(),
                    uid: wire::Collection::uid(R::object(object)).to_owned(),
                });
                continue;
            }
            let before = Some(live_spec);
            let planned = self.push(
                Action::Delete,
                name,
                R::specs(Sides {
                    before,
                    after: None,
                }),
            );
            planned.used_live = R::live_references(object, names);
        }
    }

    fn push(&mut self, action: Action, name: &str, specs: Specs) -> &mut Planned {
        let kind = specs.kind();
        let fields = match (specs.before_json(), specs.after_json(), action) {
            (Some(before), Some(after), Action::Update) => field_changes(
                kind,
                &manifest_view(kind, &before),
                &manifest_view(kind, &after),
            ),
            _ => Vec::new(),
        };
        self.planned.push(Planned {
            change: Change {
                address: address(self.project, kind, name),
                action,
                project: self.project.to_owned(),
                name: name.to_owned(),
                renamed_from: None,
                renamed_variants: Vec::new(),
                specs,
                fields,
                requires: requirement(kind, action),
                depends_on: Vec::new(),
                note: None,
            },
            uses: Vec::new(),
            used_live: Vec::new(),
            effect: None,
        });
        let last = self.planned.len() - 1;
        &mut self.planned[last]
    }
}

/// Diff the whole organization.
pub(crate) fn diff(desired: &DesiredState, live: &LiveState, config: &PlanConfig) -> Diff {
    let mut out = Diff::default();
    let mut names: BTreeSet<&String> = desired.projects.keys().collect();
    names.extend(live.projects.keys());
    for name in names {
        let to_delete = config.delete_projects.iter().any(|delete| delete == name);
        if !config.projects.is_empty()
            && !config.projects.iter().any(|only| only == name)
            && !to_delete
        {
            continue;
        }
        let mut builder = Builder {
            project: name,
            planned: Vec::new(),
            unreadable: live
                .warnings
                .iter()
                .filter(|warning| &warning.project == name)
                .collect(),
            unmanaged: Vec::new(),
            duplicates: Vec::new(),
            notes: Vec::new(),
        };
        match (desired.projects.get(name), live.projects.get(name)) {
            (Some(desired_project), live_project) => {
                diff_project(
                    desired_project,
                    live_project,
                    live,
                    config,
                    &mut builder,
                    &mut out.diagnostics,
                );
            }
            // A project no selected manifest mentions is left alone: deleting one is an
            // explicit request (`--delete-project`), never a consequence of the selection.
            (None, Some(live_project)) if to_delete => {
                let before = Some(convert::project_spec(&live_project.project));
                let specs = Specs::Project(Sides {
                    before,
                    after: None,
                });
                let planned = builder.push(Action::Delete, name, specs);
                let contents = contents(live_project);
                let listed: Vec<String> = contents
                    .iter()
                    .filter(|(count, _, _)| *count > 0)
                    .map(|(count, one, many)| {
                        format!("{count} {}", if *count == 1 { one } else { many })
                    })
                    .collect();
                planned.change.note = Some(if listed.is_empty() {
                    format!("`--delete-project {name}`: the project is empty")
                } else {
                    format!(
                        "`--delete-project {name}`: deletes everything in it: {}",
                        listed.join(", ")
                    )
                });
            }
            (None, Some(live_project)) => builder.unmanaged.push(Unmanaged {
                address: address(name, Kind::Project, name),
                kind: Kind::Project,
                project: name.clone(),
                name: name.clone(),
                uid: live_project.project.uid.clone(),
            }),
            (None, None) => {}
        }
        out.planned.extend(builder.planned);
        out.unmanaged.extend(builder.unmanaged);
        out.duplicates.extend(builder.duplicates);
        out.notes.extend(builder.notes);
    }
    out
}

/// What deleting a live project deletes with it: (count, singular, plural) per kind, the
/// preset attributes left out (they come with every project).
pub(crate) fn contents(project: &LiveProject) -> [(usize, &'static str, &'static str); 4] {
    let custom = project
        .attributes
        .iter()
        .filter(|attribute| attribute.kind != wire::AttributeType::Preset)
        .count();
    [
        (project.experiences.len(), "experience", "experiences"),
        (project.audiences.len(), "audience", "audiences"),
        (project.events.len(), "event", "events"),
        (custom, "attribute", "attributes"),
    ]
}

#[allow(clippy::too_many_lines)]
fn diff_project(
    desired: &DesiredProject,
    live_project: Option<&LiveProject>,
    live: &LiveState,
    config: &PlanConfig,
    builder: &mut Builder<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let name = builder.project;
    let may_delete = !config.partial && (desired.prune || config.allow_delete);
    let desired_stack = StackLinkSpec {
        stack: desired.stack.clone().filter(|stack| !stack.is_empty()),
    };
    let empty = LiveProject::empty(wire::Project {
        name: name.to_owned(),
        ..wire::Project::default()
    });

    // The project and its stack link.
    let live_members: Option<Vec<wire::Member>>;
    let live_project = match live_project {
        None => {
            let after = Some(desired.spec.clone());
            builder.push(
                Action::Create,
                name,
                Specs::Project(Sides {
                    before: None,
                    after,
                }),
            );
            if desired_stack.stack.is_some() {
                let after = Some(desired_stack.clone());
                let specs = Specs::StackLink(Sides {
                    before: None,
                    after,
                });
                builder.push(Action::Create, name, specs).change.note =
                    Some("connected as part of creating the project".to_owned());
            }
            // The creator becomes the project's owner.
            live_members = live.principal.as_ref().map(|principal| {
                vec![wire::Member {
                    email: principal.email.clone(),
                    role: wire::ProjectRole::Owner,
                    status: MemberStatus::Accepted,
                    invitation_message: None,
                    updated_at: String::new(),
                }]
            });
            &empty
        }
        Some(live_project) => {
            let live_spec = convert::project_spec(&live_project.project);
            // The live project has another name when the manifest renames it (see `renames`).
            let renamed_from =
                (live_project.project.name != name).then(|| live_project.project.name.clone());
            if live_spec != desired.spec || renamed_from.is_some() {
                let after = Some(desired.spec.clone());
                let specs = Specs::Project(Sides {
                    before: Some(live_spec),
                    after,
                });
                let planned = builder.push(Action::Update, name, specs);
                if let Some(old) = &renamed_from {
                    planned.change.note = Some(format!(
                        "renamed in place: the project keeps its UID `{}` and everything in it",
                        live_project.project.uid
                    ));
                    planned.change.renamed_from = Some(old.clone());
                }
            }
            let live_stack = convert::stack_link_spec(&live_project.project);
            let action = match (&live_stack.stack, &desired_stack.stack) {
                (None, Some(_)) => Some(Action::Create),
                (Some(before), Some(after)) if before != after => Some(Action::Update),
                (Some(_), None) => Some(Action::Delete),
                _ => None,
            };
            if let Some(action) = action {
                let before = (action != Action::Create).then_some(live_stack);
                let after = (action != Action::Delete).then(|| desired_stack.clone());
                builder.push(action, name, Specs::StackLink(Sides { before, after }));
            }
            live_members = live_project.members.clone();
            live_project
        }
    };

    // Without members on the live side (no members API), the declared members are a note of
    // the plan (`notes.rs`), not changes. A declared member list is the whole list: who is
    // missing from it is removed, without `prune` or `--allow-delete` (the last-owner guard
    // still holds).
    if let (Some(wanted), Some(members)) = (&desired.members, &live_members) {
        diff_members(desired, wanted, members, live, true, builder, diagnostics);
    }

    // Renamed objects read under their new names, so what refers to them shows no change.
    let renames = super::renames::resources(
        desired,
        name,
        live_project,
        &builder.unreadable,
        diagnostics,
        &mut builder.notes,
    );
    let names = renames.names(Names::from_live(live_project));
    let first_resource = builder.planned.len();
    let sides = ProjectSides {
        desired,
        live: live_project,
        names: &names,
        renames: &renames,
        may_delete,
    };
    builder.diff_resource::<AttributeSpec>(&sides, no_check, diagnostics);
    builder.diff_resource::<EventSpec>(&sides, no_check, diagnostics);
    builder.diff_resource::<AudienceSpec>(&sides, no_check, diagnostics);
    let first_experience = builder.planned.len();
    builder.diff_resource::<ExperienceSpec>(
        &sides,
        |change_address, live, spec| {
            check_content_types(desired, live_project, change_address, spec)?;
            check_experience(desired, name, change_address, live, spec)
        },
        diagnostics,
    );
    for planned in &mut builder.planned[first_resource..] {
        super::renames::annotate(&mut planned.change, desired, live_project);
    }
    for planned in &mut builder.planned[first_experience..] {
        content_type_edges(planned, name);
        match planned.change.action {
            Action::Delete => {
                planned.change.note = experience_losses(live_project, &planned.change.name);
            }
            Action::Update => {
                if let Some(replaced) = pending_draft(live_project, &names, &planned.change) {
                    planned.change.note = Some(match planned.change.note.take() {
                        Some(note) => format!("{note}; {replaced}"),
                        None => replaced,
                    });
                }
            }
            Action::Create => {}
        }
    }
    hint_renames(&mut builder.planned[first_resource..]);

    // Priority, unless the endpoint cannot tell it (a warning says so once).
    let order_known = !builder
        .unreadable
        .iter()
        .any(|warning| warning.kind == Kind::ExperienceOrder);
    if let Some(declared) = desired.experience_order.as_ref().filter(|_| order_known) {
        let experiences = &builder.planned[first_experience..];
        let named = |action: Action| {
            experiences
                .iter()
                .filter(move |planned| planned.change.action == action)
                .map(|planned| planned.change.name.clone())
        };
        let created: Vec<String> = named(Action::Create).collect();
        let deleted: BTreeSet<String> = named(Action::Delete).collect();
        diff_order(
            live_project,
            renames.of(Kind::Experience),
            declared,
            &created,
            &deleted,
            builder,
        );
    }
}

/// When an update writes new content to an active or paused experience that also has a
/// pending draft (left in the UI) unlike both the manifest and the version in force, apply
/// replaces that draft: say so, with how the draft differs from what replaces it.
fn pending_draft(live_project: &LiveProject, names: &Names, change: &Change) -> Option<String> {
    let Specs::Experience(sides) = &change.specs else {
        return None;
    };
    let (before, after) = (sides.before.as_ref()?, sides.after.as_ref()?);
    let content = |spec: &ExperienceSpec| {
        (
            spec.variants.clone(),
            spec.targeting.clone(),
            spec.metrics.clone(),
        )
    };
    if before.status == ExperienceStatus::Draft || content(before) == content(after) {
        return None;
    }
    let live = live_project
        .experiences
        .iter()
        .find(|experience| experience.experience.name == change.live_name())?;
    let draft = convert::Versions::of(live).draft?;
    let draft_content = convert::version_content(draft, names);
    let draft_spec = ExperienceSpec {
        variants: draft_content.variants,
        targeting: draft_content.targeting,
        metrics: draft_content.metrics,
        ..after.clone()
    };
    if content(&draft_spec) == content(after) || content(&draft_spec) == content(before) {
        return None;
    }
    let (Ok(draft_json), Ok(after_json)) = (
        serde_json::to_value(&draft_spec),
        serde_json::to_value(after),
    ) else {
        return None;
    };
    let differences: Vec<String> = field_changes(
        Kind::Experience,
        &manifest_view(Kind::Experience, &draft_json),
        &manifest_view(Kind::Experience, &after_json),
    )
    .iter()
    .map(|field| {
        format!(
            "{}: {} -> {}",
            field.path,
            crate::render::inline_value(field.before.as_ref()),
            crate::render::inline_value(field.after.as_ref())
        )
    })
    .collect();
    let updated = match draft.updated_at.as_str() {
        "" => String::new(),
        at => format!(", last updated {at}"),
    };
    Some(format!(
        "replaces the pending draft (version {}{updated}), which differs from both the manifest \
         and the version in force: {}",
        draft.uid,
        differences.join(", ")
    ))
}

/// What deleting a live experience loses, for its delete's note: whether it is serving, its
/// analytics, and its link to the CMS variant group (which the API leaves behind).
fn experience_losses(live_project: &LiveProject, name: &str) -> Option<String> {
    let live = live_project
        .experiences
        .iter()
        .find(|experience| experience.experience.name == name)?;
    let experience = &live.experience;
    let state = match experience.status.to_ascii_uppercase().as_str() {
        "ACTIVE" => "it is active: visitors stop getting its variants".to_owned(),
        "PAUSED" => "it is paused".to_owned(),
        "DRAFT" | "" => "it is a draft".to_owned(),
        other => format!("it is {}", other.to_ascii_lowercase()),
    };
    let versions = live.versions.len();
    let cms = match (&experience.cms, &live.content_types) {
        (Some(cms), ContentTypeLinks::Read(linked)) if !cms.is_null() && !linked.is_empty() => {
            format!(
                "its content types {} are unlinked from its CMS variant group first; the group stays behind, and entry variants made for its variants stop matching",
                crate::diagnostic::backticked(linked.iter())
            )
        }
        (Some(cms), ContentTypeLinks::Unread(why))
            if !cms.is_null() && live_project.cms_unread.is_some() =>
        {
            format!(
                "its CMS variant group stays behind, and entry variants made for its variants stop matching; its linked content types cannot be read ({why}), so unlink them in the CMS if any are linked"
            )
        }
        (Some(cms), _) if !cms.is_null() => {
            "its CMS variant group stays behind, unlinked, and entry variants made for its variants stop matching".to_owned()
        }
        _ => "it has no CMS variant group link".to_owned(),
    };
    Some(format!(
        "deleting loses the experience: {state}; its analytics ({versions} {}) go with it; {cms}",
        if versions == 1 { "version" } else { "versions" }
    ))
}

/// A delete and a create of the same kind with the same content look like a rename: both get a
/// hint, because deleting and re-creating loses the live object (its uid and what hangs on it).
/// Experiences are compared without their description and status.
fn hint_renames(planned: &mut [Planned]) {
    fn content(kind: Kind, spec: Option<Value>) -> Option<Value> {
        let mut spec = spec?;
        if kind == Kind::Experience
            && let Some(map) = spec.as_object_mut()
        {
            map.remove("description");
            map.remove("status");
        }
        Some(spec)
    }
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (delete, deleted) in planned.iter().enumerate() {
        if deleted.change.action != Action::Delete {
            continue;
        }
        let before = content(deleted.change.kind(), deleted.change.before_json());
        let twin = planned.iter().position(|created| {
            created.change.action == Action::Create
                && created.change.kind() == deleted.change.kind()
                && !pairs
                    .iter()
                    .any(|(_, create)| planned[*create].change.address == created.change.address)
                && content(created.change.kind(), created.change.after_json()) == before
        });
        if let Some(create) = twin {
            pairs.push((delete, create));
        }
    }
    for (delete, create) in pairs {
        let kind = planned[delete].change.kind().as_str();
        let old = planned[delete].change.name.clone();
        let new = planned[create].change.name.clone();
        let hint = format!(
            "renamed? `{kind} {old}` is deleted and `{kind} {new}` created with the same content; the live object (its uid and what refers to it) is lost. To keep it, add `previousNames: [{old}]` to the `metadata` of `{kind} {new}`: the plan then renames it in place"
        );
        for index in [delete, create] {
            let note = &mut planned[index].change.note;
            *note = Some(match note.take() {
                Some(note) => format!("{note}; {hint}"),
                None => hint.clone(),
            });
        }
    }
}

/// Attributes, events and audiences are planned as they are, without a note.
fn no_check<R>(_: &str, _: Option<&R>, _: &R) -> Result<Option<String>, Diagnostic> {
    Ok(None)
}

/// Refuse, before anything is written, an experience that manages `contentTypes` when the
/// connected stack's variant groups could not be read (no CMA endpoint, or the CMA refused):
/// its links can be neither compared nor written.
fn check_content_types(
    desired: &DesiredProject,
    live_project: &LiveProject,
    change_address: &str,
    spec: &ExperienceSpec,
) -> Result<(), Diagnostic> {
    if spec.content_types.is_none() {
        return Ok(());
    }
    let name = change_address.rsplit('/').next().unwrap_or_default();
    let live = live_project
        .experiences
        .iter()
        .find(|experience| experience.experience.name == name);
    let why = match (
        &live_project.cms_unread,
        live.map(|live| &live.content_types),
    ) {
        (_, Some(ContentTypeLinks::Read(_))) => return Ok(()),
        (_, Some(ContentTypeLinks::Unread(why))) | (Some(why), None) => why.clone(),
        (None, None) => return Ok(()),
    };
    let stack = desired.stack.as_deref().unwrap_or("(none)");
    Err(diagnostic(
        Code::CmsUnavailable,
        format!(
            "`{change_address}` manages its content types, but the variant groups of stack `{stack}` cannot be read: {why}"
        ),
        desired
            .origins
            .get(&crate::model::content_types_origin(change_address))
            .or_else(|| origin_of(Some(desired), change_address, &desired.name)),
        Some("content types are linked on the Content Management API: give its URL with --cma-endpoint (or PZCTL_CMA_ENDPOINT) when --endpoint names an emulator, and make sure the user has a stack role that may edit content types (Personalize roles do not grant stack permissions)".to_owned()),
    ))
}

/// Linking content types needs the connected stack: an experience that manages them waits
/// for its project's stack link. A delete's `contentTypes: []` (nothing to unlink) is left
/// out of its view.
fn content_type_edges(planned: &mut Planned, project: &str) {
    let Specs::Experience(sides) = &mut planned.change.specs else {
        return;
    };
    if planned.change.action == Action::Delete {
        if let Some(before) = sides.before.as_mut() {
            match &before.content_types {
                Some(linked) if linked.is_empty() => before.content_types = None,
                // Its links are taken off the stack it is on now, before that stack changes.
                Some(_) => planned
                    .used_live
                    .push((Kind::StackLink, project.to_owned())),
                None => {}
            }
        }
        return;
    }
    if sides
        .after
        .as_ref()
        .is_some_and(|after| after.content_types.is_some())
    {
        planned.uses.push((Kind::StackLink, project.to_owned()));
    }
}

/// The note of an experience create or update, or why it is refused: the type cannot change
/// and nothing goes back to draft.
fn check_experience(
    desired: &DesiredProject,
    project: &str,
    change_address: &str,
    live: Option<&ExperienceSpec>,
    spec: &ExperienceSpec,
) -> Result<Option<String>, Diagnostic> {
    let Some(live) = live else {
        return Ok(match spec.status {
            ExperienceStatus::Draft => None,
            ExperienceStatus::Active => {
                Some("created with a draft version, then activated".to_owned())
            }
            ExperienceStatus::Paused => {
                Some("created with a draft version, activated, then paused".to_owned())
            }
        });
    };
    let origin = origin_of(Some(desired), change_address, project);
    if live.kind != spec.kind {
        return Err(diagnostic(
            Code::ImmutableField,
            format!(
                "the type of `{change_address}` cannot change from `{}` to `{}`",
                live.kind, spec.kind
            ),
            origin,
            Some("give the experience a new name to create it with the new type".to_owned()),
        ));
    }
    if spec.status == ExperienceStatus::Draft && live.status != ExperienceStatus::Draft {
        return Err(diagnostic(
            Code::InvalidTransition,
            format!(
                "`{change_address}` is {} and cannot go back to draft",
                live.status
            ),
            origin,
            Some("declare `status: paused` to stop it".to_owned()),
        ));
    }
    Ok(experience_note(live, spec))
}

fn diff_members(
    desired: &DesiredProject,
    wanted: &[MemberSpec],
    live_members: &[wire::Member],
    live: &LiveState,
    remove_missing: bool,
    builder: &mut Builder<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let first = builder.planned.len();
    let principal = live
        .principal
        .as_ref()
        .map(|principal| principal.email.to_lowercase());
    let live_by_email: BTreeMap<String, &wire::Member> = live_members
        .iter()
        .map(|member| (member.email.to_lowercase(), member))
        .collect();
    let wanted_by_email: BTreeMap<String, &MemberSpec> = wanted
        .iter()
        .map(|member| (member.email.to_lowercase(), member))
        .collect();
    for (email, spec) in &wanted_by_email {
        let is_principal = principal.as_deref() == Some(email.as_str());
        match live_by_email.get(email) {
            None => {
                let after = Some(MemberTarget {
                    member: (*spec).clone(),
                    invitation_message: desired.invitation_message.clone(),
                });
                builder.push(
                    Action::Create,
                    email,
                    Specs::Member(Sides {
                        before: None,
                        after,
                    }),
                );
            }
            Some(member) => {
                let live_spec = convert::member_spec(member);
                if live_spec.role == spec.role {
                    continue;
                }
                let accepted = member.status == MemberStatus::Accepted;
                let after = Some(MemberTarget {
                    member: (*spec).clone(),
                    invitation_message: None,
                });
                let specs = Specs::Member(Sides {
                    before: Some(live_spec),
                    after,
                });
                let planned = builder.push(Action::Update, email, specs);
                if is_principal && accepted {
                    if spec.role == ProjectRole::Owner {
                        planned.effect = Some(Effect::Grant);
                        planned.change.note = Some(
                            "promotes the acting user; changes that need a project owner wait for it"
                                .to_owned(),
                        );
                    } else {
                        planned.effect = Some(Effect::Revoke);
                        planned.change.note = Some(
                            "demotes the acting user; runs after every other change in the project"
                                .to_owned(),
                        );
                    }
                }
                if member.status == MemberStatus::Pending {
                    planned.change.note = Some("the invitation is still pending".to_owned());
                }
            }
        }
    }
    if remove_missing {
        for (email, member) in &live_by_email {
            if wanted_by_email.contains_key(email) {
                continue;
            }
            let is_principal = principal.as_deref() == Some(email.as_str());
            let pending = member.status == MemberStatus::Pending;
            let specs = Specs::Member(Sides {
                before: Some(convert::member_spec(member)),
                after: None,
            });
            let planned = builder.push(Action::Delete, email, specs);
            planned.change.note = Some(if pending {
                "not in `members`: revokes the pending invitation".to_owned()
            } else {
                "not in `members`, which is the whole member list".to_owned()
            });
            if is_principal && !pending {
                planned.effect = Some(Effect::Revoke);
                planned.change.note = Some(
                    "removes the acting user; runs after every other change in the project"
                        .to_owned(),
                );
            }
        }
    }

    // Never leave a project without an accepted owner: count owners after the member changes.
    // A pending invitation grants nothing, and the API refuses to remove or demote the last
    // accepted owner (`personalize.PROJECTS.LAST_OWNER`) even when an owner invitation is
    // pending, so counting it would plan a change apply cannot make.
    let mut roles: BTreeMap<String, (ProjectRole, bool)> = live_by_email
        .iter()
        .map(|(email, member)| {
            (
                email.clone(),
                (member.role.into(), member.status == MemberStatus::Accepted),
            )
        })
        .collect();
    let mut touched_owner = false;
    for planned in &builder.planned[first..] {
        let email = planned.change.name.clone();
        match planned.change.action {
            Action::Delete => {
                touched_owner |=
                    roles.remove(&email).map(|(role, _)| role) == Some(ProjectRole::Owner);
            }
            Action::Create | Action::Update => {
                if let Some(spec) = wanted_by_email.get(&email) {
                    let accepted = roles.get(&email).is_some_and(|(_, accepted)| *accepted);
                    touched_owner |= roles
                        .insert(email, (spec.role, accepted))
                        .map(|(role, _)| role)
                        == Some(ProjectRole::Owner);
                }
            }
        }
    }
    let accepted_owner = roles
        .values()
        .any(|(role, accepted)| *role == ProjectRole::Owner && *accepted);
    if touched_owner && !accepted_owner {
        let project_address = address(builder.project, Kind::Project, builder.project);
        let pending_owner = roles.values().any(|(role, _)| *role == ProjectRole::Owner);
        diagnostics.push(diagnostic(
            Code::LastOwner,
            format!(
                "the member changes would leave project `{}` without an accepted owner",
                builder.project
            ),
            origin_of(Some(desired), &project_address, builder.project),
            Some(if pending_owner {
                "an invited owner counts once they accept; keep the current owner until then, and remove them in a later apply".to_owned()
            } else {
                "keep at least one member with `role: owner`".to_owned()
            }),
        ));
    }
}

fn diff_order(
    live_project: &LiveProject,
    renamed: &BTreeMap<String, String>,
    declared: &[String],
    created: &[String],
    deleted: &BTreeSet<String>,
    builder: &mut Builder<'_>,
) {
    let uid_to_name: BTreeMap<&str, &str> = live_project
        .experiences
        .iter()
        .map(|experience| {
            let live_name = experience.experience.name.as_str();
            // A renamed experience is ordered under its new name.
            let name = renamed
                .iter()
                .find(|(_, old)| *old == live_name)
                .map_or(live_name, |(new, _)| new.as_str());
            (experience.experience.uid.as_str(), name)
        })
        .collect();
    // The live order by name (a stale uid stays a uid); experiences missing from the priority
    // list follow by name.
    let mut live_order: Vec<Ref> = live_project
        .priority
        .iter()
        .map(|uid| {
            uid_to_name
                .get(uid.as_str())
                .map_or_else(|| Ref::Uid { uid: uid.clone() }, |name| Ref::from(*name))
        })
        .collect();
    let mut unlisted: Vec<&str> = uid_to_name
        .iter()
        .filter(|(uid, _)| !live_project.priority.iter().any(|listed| listed == *uid))
        .map(|(_, name)| *name)
        .collect();
    unlisted.sort_unstable();
    live_order.extend(unlisted.into_iter().map(Ref::from));
    // Entries that name no experience (stale uids) are left out of the comparison.
    let live_named: Vec<&str> = live_order.iter().filter_map(Ref::name).collect();

    // The experiences there will be after the other changes, live ones in their live order,
    // new ones after them by name.
    let mut expected: Vec<String> = live_named
        .iter()
        .filter(|name| !deleted.contains(**name))
        .map(|name| (*name).to_owned())
        .collect();
    let mut created_sorted = created.to_vec();
    created_sorted.sort();
    expected.extend(created_sorted);

    let final_set: BTreeSet<&String> = expected.iter().collect();
    let mut wanted: Vec<String> = Vec::new();
    for name in declared {
        if final_set.contains(name) && !wanted.contains(name) {
            wanted.push(name.clone());
        }
    }
    for name in &expected {
        if !wanted.contains(name) {
            wanted.push(name.clone());
        }
    }
    // Compared with the live order itself, not with what the server's bookkeeping would
    // probably give (deletes dropped, creates appended): apply creates experiences
    // concurrently, so their creation order is not known.
    if wanted == live_named {
        return;
    }
    let project = builder.project.to_owned();
    // The field diff reads `experienceOrder: [...] -> [...]` (see `view`).
    let specs = Specs::ExperienceOrder(Sides {
        before: Some(live_order),
        after: Some(wanted),
    });
    builder.push(Action::Update, &project, specs);
}

fn experience_note(live: &ExperienceSpec, desired: &ExperienceSpec) -> Option<String> {
    let content_changed = live.variants != desired.variants
        || live.targeting != desired.targeting
        || live.metrics != desired.metrics;
    let status_changed = live.status != desired.status;
    match (content_changed, live.status, status_changed) {
        (true, ExperienceStatus::Active | ExperienceStatus::Paused, _) => Some(format!(
            "the content of {} experience cannot be edited: a new draft version is created, then made {}",
            match live.status {
                ExperienceStatus::Active => "an active",
                _ => "a paused",
            },
            desired.status
        )),
        (_, _, true) => Some(format!("status {} -> {}", live.status, desired.status)),
        _ => None,
    }
}

/// The leaf differences between two manifest views of `kind`, as dotted paths with `[index]`
/// for list items (`rules.all[0].value`, `variants[1].traffic`). A field one side leaves out
/// reads as its default when it has one (see [`default_of`]), else as absent.
#[must_use]
pub(crate) fn field_changes(kind: Kind, before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk_fields(kind, String::new(), Some(before), Some(after), 0, &mut out);
    out
}

/// Deeper differences are reported as a whole subtree.
const MAX_FIELD_DEPTH: usize = 8;

fn walk_fields(
    kind: Kind,
    path: String,
    before: Option<&Value>,
    after: Option<&Value>,
    depth: usize,
    out: &mut Vec<FieldChange>,
) {
    if before == after {
        return;
    }
    let leaf_path = if path.is_empty() {
        "value".to_owned()
    } else {
        path.clone()
    };
    match (before, after) {
        (Some(Value::Object(left)), Some(Value::Object(right))) if depth < MAX_FIELD_DEPTH => {
            let mut keys: Vec<&String> = left.keys().collect();
            for key in right.keys() {
                if !left.contains_key(key) {
                    keys.push(key);
                }
            }
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let default = default_of(kind, key);
                walk_fields(
                    kind,
                    child,
                    left.get(key).or(default.as_ref()),
                    right.get(key).or(default.as_ref()),
                    depth + 1,
                    out,
                );
            }
        }
        (Some(Value::Array(left)), Some(Value::Array(right)))
            if depth < MAX_FIELD_DEPTH
                && depth > 0
                && left.len() == right.len()
                && left.iter().chain(right).all(Value::is_object) =>
        {
            for (index, (left, right)) in left.iter().zip(right).enumerate() {
                walk_fields(
                    kind,
                    format!("{path}[{index}]"),
                    Some(left),
                    Some(right),
                    depth + 1,
                    out,
                );
            }
        }
        _ => out.push(FieldChange {
            path: leaf_path,
            before: before.cloned(),
            after: after.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::field_changes;
    use crate::model::Kind;
    use crate::plan::manifest_view;

    fn paths(kind: Kind, before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
        field_changes(
            kind,
            &manifest_view(kind, before),
            &manifest_view(kind, after),
        )
        .into_iter()
        .map(|field| field.path)
        .collect()
    }

    /// Each changed field as (path, before, after).
    fn described(fields: Vec<super::FieldChange>) -> Vec<(String, Option<Value>, Option<Value>)> {
        let described = fields.into_iter();
        described
            .map(|field| (field.path, field.before, field.after))
            .collect()
    }

    use serde_json::Value;

    use crate::diagnostic::Code;
    use crate::model::{
        DesiredProject, DesiredState, LiveProject, LiveState, MemberSpec, Principal, ProjectRole,
    };
    use crate::plan::{PlanConfig, plan};
    use crate::wire::{self, MemberStatus, OrgRole};

    fn owner_only(email: &str, role: ProjectRole) -> DesiredState {
        let mut desired = DesiredState::default();
        desired.projects.insert(
            "team".to_owned(),
            DesiredProject {
                name: "team".to_owned(),
                members: Some(vec![MemberSpec {
                    email: email.to_owned(),
                    role,
                }]),
                ..DesiredProject::default()
            },
        );
        desired
    }

    fn admin_org() -> LiveState {
        LiveState {
            principal: Some(Principal {
                email: "admin@example.com".to_owned(),
                org_role: OrgRole::Admin,
            }),
            ..LiveState::default()
        }
    }

    fn member(email: &str, status: MemberStatus) -> wire::Member {
        wire::Member {
            email: email.to_owned(),
            role: wire::ProjectRole::Owner,
            status,
            invitation_message: None,
            updated_at: String::new(),
        }
    }

    fn codes(result: Result<crate::plan::Plan, Vec<crate::diagnostic::Diagnostic>>) -> Vec<Code> {
        result.map_or_else(
            |diagnostics| diagnostics.into_iter().map(|d| d.code).collect(),
            |_| Vec::new(),
        )
    }

    /// Regression: a plan removed the last accepted owner because a pending owner invitation
    /// counted as an owner; the API refuses that (LAST_OWNER), so apply failed half-way.
    #[test]
    fn a_pending_owner_invitation_does_not_count_as_an_owner() {
        let config = PlanConfig {
            allow_delete: true,
            ..PlanConfig::default()
        };
        // A new project handed straight to an invitee: the creator would be removed.
        let desired = owner_only("dev@example.com", ProjectRole::Owner);
        assert_eq!(
            codes(plan(&desired, &admin_org(), &config)),
            [Code::LastOwner]
        );
        // A live project whose other owner has not accepted yet.
        let mut live = admin_org();
        live.projects.insert(
            "team".to_owned(),
            LiveProject {
                members: Some(vec![
                    member("admin@example.com", MemberStatus::Accepted),
                    member("dev@example.com", MemberStatus::Pending),
                ]),
                ..LiveProject::empty(
                    serde_json::from_value(json!({"_id": "p", "uid": "p", "name": "team"}))
                        .expect("a project"),
                )
            },
        );
        assert_eq!(codes(plan(&desired, &live, &config)), [Code::LastOwner]);
        // Once accepted, the hand-over is planned.
        if let Some(project) = live.projects.get_mut("team")
            && let Some(members) = project.members.as_mut()
        {
            members[1].status = MemberStatus::Accepted;
        }
        let planned = plan(&desired, &live, &config).expect("a plan");
        assert_eq!(planned.changes.len(), 1);
        // Demoting yourself while the only other owner is pending is refused too.
        if let Some(project) = live.projects.get_mut("team")
            && let Some(members) = project.members.as_mut()
        {
            members[1].status = MemberStatus::Pending;
        }
        let mut desired = owner_only("dev@example.com", ProjectRole::Owner);
        if let Some(project) = desired.projects.get_mut("team")
            && let Some(members) = project.members.as_mut()
        {
            members.push(MemberSpec {
                email: "admin@example.com".to_owned(),
                role: ProjectRole::Member,
            });
        }
        assert_eq!(codes(plan(&desired, &live, &config)), [Code::LastOwner]);
    }

    #[test]
    fn field_changes_are_leaf_paths_in_manifest_terms() {
        let experience = |description: &str, tags: &[&str], traffic: u32| {
            json!({
                "kind": "ab_test", "description": description, "tags": tags, "status": "draft",
                "variants": [
                    {"ab_test": {"name": "A", "traffic": traffic}},
                    {"ab_test": {"name": "B", "traffic": 100 - traffic}}
                ],
                "targeting": null, "metrics": []
            })
        };
        assert_eq!(
            paths(
                Kind::Experience,
                &experience("a", &["x"], 50),
                &experience("b", &["x", "y"], 60)
            ),
            vec![
                "description",
                "tags",
                "variants[0].traffic",
                "variants[1].traffic"
            ]
        );
    }

    #[test]
    fn rule_paths_follow_all_and_any() {
        let audience = |value: &str, negate: bool| {
            json!({"description": "", "rules": {"combination": "all", "rules": [
                {"condition": {"attribute": {"custom": "tier"}, "condition": "STRING_EQUALS", "value": "gold", "negate": false}},
                {"group": {"combination": "any", "rules": [
                    {"condition": {"attribute": {"preset": "DEVICE_TYPE"}, "condition": "STRING_EQUALS", "value": value, "negate": negate}}
                ]}}
            ]}})
        };
        let before = manifest_view(Kind::Audience, &audience("MOBILE", false));
        let after = manifest_view(Kind::Audience, &audience("TABLET", true));
        let fields = field_changes(Kind::Audience, &before, &after);
        assert_eq!(
            described(fields),
            vec![
                (
                    "rules.all[1].any[0].value".to_owned(),
                    Some(json!("MOBILE")),
                    Some(json!("TABLET"))
                ),
                (
                    "rules.all[1].any[0].negate".to_owned(),
                    Some(json!(false)),
                    Some(json!(true))
                ),
            ]
        );
    }

    #[test]
    fn omitted_fields_read_as_their_default() {
        let fields = field_changes(
            Kind::Experience,
            &manifest_view(
                Kind::Experience,
                &json!({"kind": "segmented", "description": "", "tags": [], "status": "draft",
                        "variants": [], "targeting": null, "metrics": []}),
            ),
            &manifest_view(
                Kind::Experience,
                &json!({"kind": "segmented", "description": "Hero", "tags": ["a"], "status": "draft",
                        "variants": [], "targeting": null, "metrics": []}),
            ),
        );
        assert_eq!(
            described(fields),
            vec![
                (
                    "description".to_owned(),
                    Some(json!("")),
                    Some(json!("Hero"))
                ),
                ("tags".to_owned(), Some(json!([])), Some(json!(["a"]))),
            ]
        );
    }

    #[test]
    fn arrays_of_different_length_change_as_a_whole() {
        let before = json!({"variants": [{"a": 1}]});
        let after = json!({"variants": [{"a": 1}, {"a": 2}]});
        let fields = field_changes(Kind::Experience, &before, &after);
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].path, "variants");
        assert_eq!(fields[0].after, Some(json!([{"a": 1}, {"a": 2}])));
    }

    #[test]
    fn added_and_removed_keys_without_default_are_absent() {
        let fields = field_changes(Kind::Experience, &json!({"a": 1}), &json!({"b": 2}));
        assert_eq!(
            described(fields),
            vec![
                ("a".to_owned(), Some(json!(1)), None),
                ("b".to_owned(), None, Some(json!(2))),
            ]
        );
    }
}
