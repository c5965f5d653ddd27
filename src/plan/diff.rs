//! The diff: desired specs against live wire objects read as specs (through [`crate::convert`]),
//! producing unordered [`Planned`] changes with the references that ordering needs.
//!
//! Invariant: only specs are compared, never wire objects, so server-assigned fields, tag case
//! and order, presets and defaults never show up as differences.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::view::{default_of, manifest_view};
use super::{Action, Change, FieldChange, PlanConfig, Requirement};
use crate::convert::{self, Names};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{
    AttributeRef, AudienceSpec, DesiredProject, DesiredState, ExperienceSpec, ExperienceStatus,
    Kind, LiveProject, LiveState, MemberSpec, Origin, ProjectRole, RuleGroup, RuleNode,
    StackLinkSpec, VariantSpec, address,
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
}

/// Make a located diagnostic.
pub(crate) fn diagnostic(
    code: Code,
    message: String,
    origin: Option<&Origin>,
    help: Option<String>,
) -> Diagnostic {
    Diagnostic {
        code,
        severity: crate::diagnostic::Severity::Error,
        message,
        file: origin.map(|origin| origin.file.clone()),
        line: origin.map_or(0, |origin| origin.line),
        column: origin.map_or(0, |origin| origin.column),
        span: None,
        help,
    }
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

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
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
}

impl Builder<'_> {
    /// Diff a kind whose objects reference nothing: create what is missing, update what
    /// differs, and (when allowed) delete what no manifest declares.
    fn diff_flat<Spec: PartialEq + Serialize, Live>(
        &mut self,
        kind: Kind,
        desired: &BTreeMap<String, Spec>,
        live: &BTreeMap<&str, &Live>,
        live_spec: fn(&Live) -> Spec,
        may_delete: bool,
    ) {
        for (name, spec) in desired {
            match live.get(name.as_str()) {
                None => {
                    self.push(kind, Action::Create, name, None, Some(to_value(spec)));
                }
                Some(live_object) => {
                    let current = live_spec(live_object);
                    if &current != spec {
                        let before = Some(to_value(&current));
                        self.push(kind, Action::Update, name, before, Some(to_value(spec)));
                    }
                }
            }
        }
        if may_delete {
            for (name, live_object) in live {
                if !desired.contains_key(*name) {
                    let before = Some(to_value(&live_spec(live_object)));
                    self.push(kind, Action::Delete, name, before, None);
                }
            }
        }
    }

    fn push(
        &mut self,
        kind: Kind,
        action: Action,
        name: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) -> &mut Planned {
        let fields = match (&before, &after, action) {
            (Some(before), Some(after), Action::Update) => field_changes(
                kind,
                &manifest_view(kind, before),
                &manifest_view(kind, after),
            ),
            _ => Vec::new(),
        };
        self.planned.push(Planned {
            change: Change {
                address: address(self.project, kind, name),
                kind,
                action,
                project: self.project.to_owned(),
                name: name.to_owned(),
                before,
                after,
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
        if !config.projects.is_empty() && !config.projects.iter().any(|only| only == name) {
            continue;
        }
        let mut builder = Builder {
            project: name,
            planned: Vec::new(),
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
            (None, Some(live_project)) => {
                if config.allow_delete && !config.partial {
                    let planned = builder.push(
                        Kind::Project,
                        Action::Delete,
                        name,
                        Some(to_value(&convert::project_spec(&live_project.project))),
                        None,
                    );
                    planned.change.note = Some(format!(
                        "no manifest declares project `{name}`; deleting it deletes everything in it ({} experiences, {} audiences)",
                        live_project.experiences.len(),
                        live_project.audiences.len()
                    ));
                }
            }
            (None, None) => {}
        }
        out.planned.extend(builder.planned);
    }
    out
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
    let empty = LiveProject {
        project: wire::Project {
            id: String::new(),
            uid: String::new(),
            name: name.to_owned(),
            description: String::new(),
            organization_uid: String::new(),
            connected_stack_api_key: None,
            created_at: String::new(),
            updated_at: String::new(),
        },
        members: None,
        attributes: Vec::new(),
        events: Vec::new(),
        audiences: Vec::new(),
        experiences: Vec::new(),
        priority: Vec::new(),
    };

    // The project and its stack link.
    let live_members: Option<Vec<wire::Member>>;
    let live_project = match live_project {
        None => {
            builder.push(
                Kind::Project,
                Action::Create,
                name,
                None,
                Some(to_value(&desired.spec)),
            );
            if desired_stack.stack.is_some() {
                builder
                    .push(
                        Kind::StackLink,
                        Action::Create,
                        name,
                        None,
                        Some(to_value(&desired_stack)),
                    )
                    .change
                    .note = Some("connected as part of creating the project".to_owned());
            }
            // The creator becomes the project's owner.
            live_members = live.principal.as_ref().map(|principal| {
                vec![wire::Member {
                    email: principal.email.clone(),
                    role: ProjectRole::Owner,
                    status: MemberStatus::Accepted,
                    invitation_message: None,
                    updated_at: String::new(),
                }]
            });
            &empty
        }
        Some(live_project) => {
            let live_spec = convert::project_spec(&live_project.project);
            if live_spec != desired.spec {
                builder.push(
                    Kind::Project,
                    Action::Update,
                    name,
                    Some(to_value(&live_spec)),
                    Some(to_value(&desired.spec)),
                );
            }
            let live_stack = convert::stack_link_spec(&live_project.project);
            match (&live_stack.stack, &desired_stack.stack) {
                (None, Some(_)) => {
                    builder.push(
                        Kind::StackLink,
                        Action::Create,
                        name,
                        None,
                        Some(to_value(&desired_stack)),
                    );
                }
                (Some(before), Some(after)) if before != after => {
                    builder.push(
                        Kind::StackLink,
                        Action::Update,
                        name,
                        Some(to_value(&live_stack)),
                        Some(to_value(&desired_stack)),
                    );
                }
                (Some(_), None) => {
                    builder.push(
                        Kind::StackLink,
                        Action::Delete,
                        name,
                        Some(to_value(&live_stack)),
                        None,
                    );
                }
                _ => {}
            }
            live_members = live_project.members.clone();
            live_project
        }
    };

    match (&desired.members, &live_members) {
        (Some(wanted), Some(members)) => diff_members(
            desired,
            wanted,
            members,
            live,
            may_delete,
            builder,
            diagnostics,
        ),
        (Some(wanted), None) => {
            // The endpoint cannot list members (the hosted API): every declared member is shown
            // as an invitation, which apply prints as a manual step. Nothing is removed.
            let first = builder.planned.len();
            diff_members(desired, wanted, &[], live, false, builder, diagnostics);
            for planned in &mut builder.planned[first..] {
                planned.change.note = Some(
                    "members cannot be read on this endpoint: check and invite by hand".to_owned(),
                );
            }
        }
        _ => {}
    }

    let names = Names::from_live(live_project);

    // Attributes (custom only; presets are never managed), by name.
    let live_attributes: BTreeMap<&str, &wire::Attribute> = live_project
        .attributes
        .iter()
        .filter(|attribute| attribute.kind == wire::AttributeType::Custom)
        .map(|attribute| (attribute.name.as_str(), attribute))
        .collect();
    builder.diff_flat(
        Kind::Attribute,
        &desired.attributes,
        &live_attributes,
        convert::attribute_spec,
        may_delete,
    );

    // Events, by key.
    let live_events: BTreeMap<&str, &wire::Event> = live_project
        .events
        .iter()
        .map(|event| (event.key.as_str(), event))
        .collect();
    builder.diff_flat(
        Kind::Event,
        &desired.events,
        &live_events,
        convert::event_spec,
        may_delete,
    );

    // Audiences, by name. Externally synced audiences cannot be expressed as specs.
    let live_audiences: BTreeMap<&str, &wire::Audience> = live_project
        .audiences
        .iter()
        .map(|audience| (audience.name.as_str(), audience))
        .collect();
    for (audience_name, spec) in &desired.audiences {
        let uses = audience_uses(spec);
        match live_audiences.get(audience_name.as_str()) {
            None => {
                builder
                    .push(
                        Kind::Audience,
                        Action::Create,
                        audience_name,
                        None,
                        Some(to_value(spec)),
                    )
                    .uses = uses;
            }
            Some(live_audience) => match convert::audience_spec(live_audience, &names) {
                Ok(live_spec) => {
                    if &live_spec != spec {
                        let used_live = audience_uses(&live_spec);
                        let planned = builder.push(
                            Kind::Audience,
                            Action::Update,
                            audience_name,
                            Some(to_value(&live_spec)),
                            Some(to_value(spec)),
                        );
                        planned.uses = uses;
                        planned.used_live = used_live;
                    }
                }
                Err(unexpressible) => {
                    let change_address = address(name, Kind::Audience, audience_name);
                    diagnostics.push(diagnostic(
                        Code::ImmutableField,
                        format!("{unexpressible}: `{change_address}`"),
                        origin_of(Some(desired), &change_address, name),
                        Some("rename the audience in the manifest".to_owned()),
                    ));
                }
            },
        }
    }
    if may_delete {
        for (audience_name, live_audience) in &live_audiences {
            if desired.audiences.contains_key(*audience_name) {
                continue;
            }
            // Synced audiences are not ours to delete.
            let Ok(live_spec) = convert::audience_spec(live_audience, &names) else {
                continue;
            };
            let used_live = audience_uses(&live_spec);
            builder
                .push(
                    Kind::Audience,
                    Action::Delete,
                    audience_name,
                    Some(to_value(&live_spec)),
                    None,
                )
                .used_live = used_live;
        }
    }

    // Experiences, by name.
    let live_experiences: BTreeMap<&str, &crate::model::LiveExperience> = live_project
        .experiences
        .iter()
        .map(|experience| (experience.experience.name.as_str(), experience))
        .collect();
    let mut created = Vec::new();
    let mut deleted = BTreeSet::new();
    for (experience_name, spec) in &desired.experiences {
        let uses = experience_uses(spec);
        let change_address = address(name, Kind::Experience, experience_name);
        match live_experiences.get(experience_name.as_str()) {
            None => {
                let planned = builder.push(
                    Kind::Experience,
                    Action::Create,
                    experience_name,
                    None,
                    Some(to_value(spec)),
                );
                planned.uses = uses;
                planned.change.note = match spec.status {
                    ExperienceStatus::Draft => None,
                    ExperienceStatus::Active => {
                        Some("created with a draft version, then activated".to_owned())
                    }
                    ExperienceStatus::Paused => {
                        Some("created with a draft version, activated, then paused".to_owned())
                    }
                };
                created.push(experience_name.clone());
            }
            Some(live_experience) => {
                let live_spec = convert::experience_spec(live_experience, &names);
                if live_spec.kind != spec.kind {
                    diagnostics.push(diagnostic(
                        Code::ImmutableField,
                        format!(
                            "the type of `{change_address}` cannot change from `{}` to `{}`",
                            type_name(live_spec.kind),
                            type_name(spec.kind)
                        ),
                        origin_of(Some(desired), &change_address, name),
                        Some(
                            "give the experience a new name to create it with the new type"
                                .to_owned(),
                        ),
                    ));
                    continue;
                }
                if spec.status == ExperienceStatus::Draft
                    && live_spec.status != ExperienceStatus::Draft
                {
                    diagnostics.push(diagnostic(
                        Code::InvalidTransition,
                        format!(
                            "`{change_address}` is {} and cannot go back to draft",
                            status_name(live_spec.status)
                        ),
                        origin_of(Some(desired), &change_address, name),
                        Some("declare `status: paused` to stop it".to_owned()),
                    ));
                    continue;
                }
                if &live_spec == spec {
                    continue;
                }
                let note = experience_note(&live_spec, spec);
                let used_live = live_experience_uses(live_experience, &names);
                let planned = builder.push(
                    Kind::Experience,
                    Action::Update,
                    experience_name,
                    Some(to_value(&live_spec)),
                    Some(to_value(spec)),
                );
                planned.uses = uses;
                planned.used_live = used_live;
                planned.change.note = note;
            }
        }
    }
    if may_delete {
        for (experience_name, live_experience) in &live_experiences {
            if desired.experiences.contains_key(*experience_name) {
                continue;
            }
            let live_spec = convert::experience_spec(live_experience, &names);
            let used_live = live_experience_uses(live_experience, &names);
            builder
                .push(
                    Kind::Experience,
                    Action::Delete,
                    experience_name,
                    Some(to_value(&live_spec)),
                    None,
                )
                .used_live = used_live;
            deleted.insert(experience_name.to_string());
        }
    }

    // Priority.
    if let Some(declared) = &desired.experience_order {
        diff_order(live_project, declared, &created, &deleted, builder);
    }
}

fn diff_members(
    desired: &DesiredProject,
    wanted: &[MemberSpec],
    live_members: &[wire::Member],
    live: &LiveState,
    may_delete: bool,
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
                let mut after = to_value(spec);
                if let (Some(message), Value::Object(map)) =
                    (&desired.invitation_message, &mut after)
                {
                    map.insert(
                        "invitation_message".to_owned(),
                        Value::String(message.clone()),
                    );
                }
                builder.push(Kind::Member, Action::Create, email, None, Some(after));
            }
            Some(member) => {
                let live_spec = convert::member_spec(member);
                if live_spec.role == spec.role {
                    continue;
                }
                let accepted = member.status == MemberStatus::Accepted;
                let planned = builder.push(
                    Kind::Member,
                    Action::Update,
                    email,
                    Some(to_value(&live_spec)),
                    Some(to_value(*spec)),
                );
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
    if may_delete {
        for (email, member) in &live_by_email {
            if wanted_by_email.contains_key(email) {
                continue;
            }
            let is_principal = principal.as_deref() == Some(email.as_str());
            let pending = member.status == MemberStatus::Pending;
            let planned = builder.push(
                Kind::Member,
                Action::Delete,
                email,
                Some(to_value(&convert::member_spec(member))),
                None,
            );
            if pending {
                planned.change.note = Some("revokes the pending invitation".to_owned());
            }
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
                (member.role, member.status == MemberStatus::Accepted),
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
    declared: &[String],
    created: &[String],
    deleted: &BTreeSet<String>,
    builder: &mut Builder<'_>,
) {
    let uid_to_name: BTreeMap<&str, &str> = live_project
        .experiences
        .iter()
        .map(|experience| {
            (
                experience.experience.uid.as_str(),
                experience.experience.name.as_str(),
            )
        })
        .collect();
    // The live order by name; experiences missing from the priority list follow by name.
    let mut live_order: Vec<String> = live_project
        .priority
        .iter()
        .map(|uid| {
            uid_to_name
                .get(uid.as_str())
                .map_or_else(|| format!("uid:{uid}"), |name| (*name).to_owned())
        })
        .collect();
    let mut unlisted: Vec<&str> = uid_to_name
        .iter()
        .filter(|(uid, _)| !live_project.priority.iter().any(|listed| listed == *uid))
        .map(|(_, name)| *name)
        .collect();
    unlisted.sort_unstable();
    live_order.extend(unlisted.into_iter().map(str::to_owned));

    // The experiences there will be after the other changes, live ones in their live order,
    // new ones after them by name.
    let mut expected: Vec<String> = live_order
        .iter()
        .filter(|name| !deleted.contains(*name) && !name.starts_with("uid:"))
        .cloned()
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
    // concurrently, so their creation order is not known. Entries that name no experience
    // (stale uids) are left out of the comparison.
    let live_named: Vec<&String> = live_order
        .iter()
        .filter(|name| !name.starts_with("uid:"))
        .collect();
    if wanted.iter().collect::<Vec<_>>() == live_named {
        return;
    }
    let project = builder.project.to_owned();
    // The field diff reads `experienceOrder: [...] -> [...]` (see `view`).
    builder.push(
        Kind::ExperienceOrder,
        Action::Update,
        &project,
        Some(Value::from(live_order)),
        Some(Value::from(wanted)),
    );
}

/// Custom attributes an audience's rules read.
pub(crate) fn audience_uses(spec: &AudienceSpec) -> Vec<(Kind, String)> {
    fn walk(group: &RuleGroup, out: &mut BTreeSet<String>) {
        for node in &group.rules {
            match node {
                RuleNode::Group(inner) => walk(inner, out),
                RuleNode::Condition(condition) => {
                    if let AttributeRef::Custom(name) = &condition.attribute {
                        out.insert(name.clone());
                    }
                }
            }
        }
    }
    let mut names = BTreeSet::new();
    walk(&spec.rules, &mut names);
    names
        .into_iter()
        .map(|name| (Kind::Attribute, name))
        .collect()
}

/// Audiences and events an experience refers to.
pub(crate) fn experience_uses(spec: &ExperienceSpec) -> Vec<(Kind, String)> {
    let mut out = BTreeSet::new();
    for variant in &spec.variants {
        if let VariantSpec::Segmented { audiences, .. } = variant {
            for audience in audiences {
                out.insert((Kind::Audience, audience.clone()));
            }
        }
    }
    if let Some(targeting) = &spec.targeting {
        for audience in &targeting.audiences {
            out.insert((Kind::Audience, audience.clone()));
        }
    }
    for metric in &spec.metrics {
        out.insert((Kind::Event, metric.clone()));
    }
    out.into_iter().collect()
}

/// Audiences and events any live version of an experience refers to (a pending draft as well
/// as the version in force): all of them are detached by an update or a delete.
fn live_experience_uses(
    experience: &crate::model::LiveExperience,
    names: &Names,
) -> Vec<(Kind, String)> {
    let mut out = BTreeSet::new();
    for version in &experience.versions {
        if version.status == wire::VersionStatus::Archived {
            continue;
        }
        let content = convert::version_content(version, names);
        let spec = ExperienceSpec {
            kind: experience.experience.kind,
            description: String::new(),
            tags: Vec::new(),
            status: ExperienceStatus::Draft,
            variants: content.variants,
            targeting: content.targeting,
            metrics: content.metrics,
        };
        out.extend(experience_uses(&spec));
    }
    out.into_iter().collect()
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
            status_name(desired.status)
        )),
        (_, _, true) => Some(format!(
            "status {} -> {}",
            status_name(live.status),
            status_name(desired.status)
        )),
        _ => None,
    }
}

fn status_name(status: ExperienceStatus) -> &'static str {
    match status {
        ExperienceStatus::Draft => "draft",
        ExperienceStatus::Active => "active",
        ExperienceStatus::Paused => "paused",
    }
}

fn type_name(kind: wire::ExperienceType) -> &'static str {
    match kind {
        wire::ExperienceType::Segmented => "segmented",
        wire::ExperienceType::AbTest => "ab_test",
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

    use crate::diagnostic::Code;
    use crate::model::{
        DesiredProject, DesiredState, LiveProject, LiveState, MemberSpec, Principal,
    };
    use crate::plan::{PlanConfig, plan};
    use crate::wire::{self, MemberStatus, OrgRole, ProjectRole};

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
            role: ProjectRole::Owner,
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
                project: serde_json::from_value(json!({"_id": "p", "uid": "p", "name": "team"}))
                    .expect("a project"),
                members: Some(vec![
                    member("admin@example.com", MemberStatus::Accepted),
                    member("dev@example.com", MemberStatus::Pending),
                ]),
                attributes: Vec::new(),
                events: Vec::new(),
                audiences: Vec::new(),
                experiences: Vec::new(),
                priority: Vec::new(),
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
                "kind": "AB_TEST", "description": description, "tags": tags, "status": "draft",
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
            json!({"description": "", "rules": {"combination": "AND", "rules": [
                {"condition": {"attribute": {"custom": "tier"}, "condition": "STRING_EQUALS", "value": "gold", "negate": false}},
                {"group": {"combination": "OR", "rules": [
                    {"condition": {"attribute": {"preset": "DEVICE_TYPE"}, "condition": "STRING_EQUALS", "value": value, "negate": negate}}
                ]}}
            ]}})
        };
        let before = manifest_view(Kind::Audience, &audience("MOBILE", false));
        let after = manifest_view(Kind::Audience, &audience("TABLET", true));
        let fields = field_changes(Kind::Audience, &before, &after);
        let described: Vec<(String, Option<serde_json::Value>, Option<serde_json::Value>)> = fields
            .into_iter()
            .map(|field| (field.path, field.before, field.after))
            .collect();
        assert_eq!(
            described,
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
                &json!({"kind": "SEGMENTED", "description": "", "tags": [], "status": "draft",
                        "variants": [], "targeting": null, "metrics": []}),
            ),
            &manifest_view(
                Kind::Experience,
                &json!({"kind": "SEGMENTED", "description": "Hero", "tags": ["a"], "status": "draft",
                        "variants": [], "targeting": null, "metrics": []}),
            ),
        );
        let described: Vec<(String, Option<serde_json::Value>, Option<serde_json::Value>)> = fields
            .into_iter()
            .map(|field| (field.path, field.before, field.after))
            .collect();
        assert_eq!(
            described,
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
        let described: Vec<(String, Option<serde_json::Value>, Option<serde_json::Value>)> = fields
            .into_iter()
            .map(|field| (field.path, field.before, field.after))
            .collect();
        assert_eq!(
            described,
            vec![
                ("a".to_owned(), Some(json!(1)), None),
                ("b".to_owned(), None, Some(json!(2))),
            ]
        );
    }
}
