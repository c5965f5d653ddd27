//! Permission checks: the acting principal's role in each project, the role each change needs,
//! and one `permission-denied` diagnostic per change the principal may not make.
//!
//! Invariant: decided from the live state only (accepted memberships; pending invitations grant
//! nothing), plus the plan's own grants and revokes of the principal's role.

use std::collections::BTreeMap;

use super::diff::{Effect, Planned, diagnostic, origin_of};
use super::{Action, Requirement};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{DesiredState, LiveState, Principal, ProjectRole};
use crate::wire::MemberStatus;

/// What the principal may do in one project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Nothing,
    Member,
    Owner,
    OrgAdmin,
}

impl Role {
    fn allows(self, requirement: Requirement) -> bool {
        match requirement {
            Requirement::ProjectMember => self >= Role::Member,
            Requirement::ProjectOwner => self >= Role::Owner,
            Requirement::OrgAdmin => self == Role::OrgAdmin,
        }
    }

    fn describe(self, project: &str) -> String {
        match self {
            Role::Nothing => format!("not a member of project `{project}`"),
            Role::Member => format!("a member (not an owner) of project `{project}`"),
            Role::Owner => format!("an owner of project `{project}`"),
            Role::OrgAdmin => "an organization owner or admin".to_owned(),
        }
    }
}

fn requirement_name(requirement: Requirement) -> &'static str {
    match requirement {
        Requirement::ProjectMember => "a project role (member or owner)",
        Requirement::ProjectOwner => "the project owner role",
        Requirement::OrgAdmin => "the organization owner or admin role",
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

/// The principal's role in a project before any change; `None` when it cannot be known.
fn base_role(principal: &Principal, live: &LiveState, project: &str) -> Option<Role> {
    if principal.org_role.is_admin() {
        return Some(Role::OrgAdmin);
    }
    let Some(live_project) = live.projects.get(project) else {
        // The creator of a project becomes its owner (creating it is checked separately).
        return Some(Role::Owner);
    };
    let members = live_project.members.as_ref()?;
    let member = members
        .iter()
        .find(|member| member.email.eq_ignore_ascii_case(&principal.email));
    Some(match member {
        Some(member) if member.status == MemberStatus::Accepted => match member.role.into() {
            ProjectRole::Owner => Role::Owner,
            ProjectRole::Member => Role::Member,
        },
        _ => Role::Nothing,
    })
}

/// One diagnostic per change the principal may not make, in execution order.
pub(crate) fn check(
    planned: &[Planned],
    desired: &DesiredState,
    live: &LiveState,
) -> Vec<Diagnostic> {
    let Some(principal) = &live.principal else {
        return Vec::new();
    };
    let mut roles: BTreeMap<&str, Option<Role>> = BTreeMap::new();
    for planned in planned {
        let project = planned.change.project.as_str();
        roles
            .entry(project)
            .or_insert_with(|| base_role(principal, live, project));
    }
    // A permitted grant raises the role every other change of the project is checked against.
    let mut effective = roles.clone();
    for planned in planned {
        if planned.effect == Some(Effect::Grant)
            && let Some(Some(role)) = roles.get(planned.change.project.as_str())
            && role.allows(planned.change.requires)
        {
            effective.insert(
                planned.change.project.as_str(),
                Some((*role).max(Role::Owner)),
            );
        }
    }
    let mut out = Vec::new();
    for planned in planned {
        let change = &planned.change;
        let project = change.project.as_str();
        let role =
            if change.kind() == crate::model::Kind::Project && change.action == Action::Create {
                Some(if principal.org_role.is_admin() {
                    Role::OrgAdmin
                } else {
                    Role::Nothing
                })
            } else if planned.effect == Some(Effect::Grant) {
                roles.get(project).copied().flatten()
            } else {
                effective.get(project).copied().flatten()
            };
        let Some(role) = role else { continue };
        if role.allows(change.requires) {
            continue;
        }
        out.push(diagnostic(
            Code::PermissionDenied,
            format!(
                "`{}` may not {} `{}`: it needs {}, and `{}` is {}",
                principal.email,
                verb(change.action),
                change.address,
                requirement_name(change.requires),
                principal.email,
                if change.requires == Requirement::OrgAdmin {
                    "not an organization owner or admin".to_owned()
                } else {
                    role.describe(project)
                }
            ),
            origin_of(desired.projects.get(project), &change.address, project),
            Some(
                "ask an organization admin or a project owner to apply this change, or to grant you the role"
                    .to_owned(),
            ),
        ));
    }
    out
}
