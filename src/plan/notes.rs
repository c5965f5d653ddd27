//! Notes: what a plan cannot manage on this endpoint, said once with the steps to do it by hand.
//!
//! Today one kind: an endpoint without a members API (the hosted service has none) cannot list
//! or invite project members, so declared members are neither compared nor planned; each
//! project that declares members gets one note with the Personalize UI steps, and
//! `--detailed-exitcode` is not made non-zero by them.

use super::{Note, PlanConfig};
use crate::model::{DesiredState, LiveState, MemberSpec, ProjectRole};

pub(super) fn notes(desired: &DesiredState, live: &LiveState, config: &PlanConfig) -> Vec<Note> {
    let mut notes = Vec::new();
    for (name, project) in &desired.projects {
        if !config.projects.is_empty() && !config.projects.iter().any(|only| only == name) {
            continue;
        }
        let Some(members) = project
            .members
            .as_ref()
            .filter(|members| !members.is_empty())
        else {
            continue;
        };
        // The same condition as the diff: members are known when the live project lists them,
        // or, for a project still to create, when the acting user (its first owner) is known.
        let unknown = match live.projects.get(name) {
            Some(live_project) => live_project.members.is_none(),
            None => live.principal.is_none(),
        };
        if !unknown {
            continue;
        }
        notes.push(Note {
            address: format!("project/{name}"),
            message: format!(
                "this endpoint has no members API: the {} declared member{} of project `{name}` \
                 are not compared or changed; check them in the Personalize UI",
                members.len(),
                if members.len() == 1 { "" } else { "s" }
            ),
            steps: members
                .iter()
                .map(|member| invite_step(name, member))
                .collect(),
        });
    }
    notes
}

fn invite_step(project: &str, member: &MemberSpec) -> String {
    let role = match member.role {
        ProjectRole::Owner => "Owner",
        ProjectRole::Member => "Member",
    };
    format!(
        "In Personalize, open project {project} → Settings → Users: {} should be there with role \
         {role} (else + Invite User)",
        member.email
    )
}
