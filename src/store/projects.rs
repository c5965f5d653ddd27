//! Projects and their members (the members routes are an emulator extension).

use serde_json::{Value, json};

use super::{
    Answer, AttributeRecord, Meta, ProjectRecord, ProjectState, Store, body_object, invalid,
    invalid_ref, optional_string, required_string,
};
use crate::wire::{self, ApiError, MemberStatus, ProjectRole, Request};

impl Store {
    fn project_json(&self, index: usize) -> Value {
        let state = &self.projects[index];
        let mut value = json!(state.project);
        if let Value::Object(map) = &mut value {
            map.insert("audienceCount".to_owned(), json!(state.audiences.len()));
            let active = state
                .experiences
                .iter()
                .filter(|e| e.experience.status == "ACTIVE")
                .count();
            map.insert("activeExperienceCount".to_owned(), json!(active));
        }
        value
    }

    pub(super) fn list_projects(&self, actor: &str, query: &[(String, String)]) -> Answer {
        let admin = self.org_role(actor)?.is_admin();
        let stack = query
            .iter()
            .find(|(key, _)| key == "connectedStackApiKey")
            .map(|(_, value)| value.as_str());
        let items = (0..self.projects.len())
            .filter(|&i| admin || self.accepted_role(actor, i).is_some())
            .filter(|&i| match stack {
                Some(key) => {
                    self.projects[i].project.connected_stack_api_key.as_deref() == Some(key)
                }
                None => true,
            })
            .map(|i| self.project_json(i))
            .collect();
        Ok(Value::Array(items))
    }

    pub(super) fn get_project(&self, actor: &str, uid: &str) -> Answer {
        let index = self.project_index(uid)?;
        self.require_read(actor, index)?;
        Ok(self.project_json(index))
    }

    fn check_project_name(&self, name: &str, except: Option<usize>) -> Result<(), ApiError> {
        let taken = self
            .projects
            .iter()
            .enumerate()
            .any(|(i, state)| Some(i) != except && state.project.name == name);
        if taken {
            Err(invalid_ref(
                "name",
                "personalize.PROJECTS.DUPLICATE_NAME",
                &format!("a project named {name:?} already exists in this organization"),
            ))
        } else {
            Ok(())
        }
    }

    pub(super) fn create_project(&mut self, actor: &str, request: &Request) -> Answer {
        if !self.org_role(actor)?.is_admin() {
            return Err(ApiError::forbidden());
        }
        let body = body_object(request)?;
        let name = required_string(body, "name")?;
        let description = optional_string(body, "description")?.unwrap_or_default();
        let stack = optional_string(body, "connectedStackApiKey")?.filter(|key| !key.is_empty());
        self.check_project_name(&name, None)?;
        if self.projects.len() >= self.limits.projects_per_org {
            return Err(invalid_ref(
                "name",
                "personalize.PROJECTS.PROJECT_COUNT_EXCEEDED",
                &format!(
                    "the organization already has {} projects (limit {})",
                    self.projects.len(),
                    self.limits.projects_per_org
                ),
            ));
        }
        let now = self.tick();
        let actor = actor.to_lowercase();
        let uid = self.new_id();
        let mut attributes = Vec::new();
        for (reference, label) in wire::PRESET_ATTRIBUTES {
            let id = self.new_id();
            attributes.push(AttributeRecord {
                id: id.clone(),
                uid: id,
                name: (*label).to_owned(),
                key: (*reference).to_owned(),
                description: String::new(),
                kind: wire::AttributeType::Preset,
                project: uid.clone(),
                meta: Meta::new(&now, &actor),
            });
        }
        self.projects.push(ProjectState {
            project: ProjectRecord {
                id: uid.clone(),
                uid,
                name,
                description,
                // The organization the request named, as the service records it.
                organization_uid: request
                    .organization
                    .clone()
                    .unwrap_or_else(|| self.organization_uid.clone()),
                connected_stack_api_key: stack,
                meta: Meta::new(&now, &actor),
            },
            members: vec![wire::Member {
                email: actor,
                role: ProjectRole::Owner,
                status: MemberStatus::Accepted,
                invitation_message: None,
                updated_at: now,
            }],
            attributes,
            events: Vec::new(),
            audiences: Vec::new(),
            experiences: Vec::new(),
            priority: Vec::new(),
            next_experience_short_uid: 1,
        });
        Ok(self.project_json(self.projects.len() - 1))
    }

    pub(super) fn update_project(&mut self, actor: &str, uid: &str, request: &Request) -> Answer {
        let index = self.managed_project(actor, uid)?;
        let body = body_object(request)?;
        let name = required_string(body, "name")?;
        let description = optional_string(body, "description")?;
        // Absent keeps the stack; `null` disconnects it.
        let stack = if body.contains_key("connectedStackApiKey") {
            Some(optional_string(body, "connectedStackApiKey")?.filter(|key| !key.is_empty()))
        } else {
            None
        };
        self.check_project_name(&name, Some(index))?;
        let now = self.tick();
        let record = &mut self.projects[index].project;
        record.name = name;
        record.description = description.unwrap_or_default();
        if let Some(stack) = stack {
            record.connected_stack_api_key = stack;
        }
        record.meta.touch(&now, &actor.to_lowercase());
        Ok(self.project_json(index))
    }

    pub(super) fn delete_project(&mut self, actor: &str, uid: &str) -> Answer {
        let index = self.managed_project(actor, uid)?;
        self.tick();
        self.projects.remove(index);
        Ok(Value::Null)
    }

    pub(super) fn list_members(&self, actor: &str, uid: &str) -> Answer {
        let index = self.project_index(uid)?;
        self.require_read(actor, index)?;
        Ok(json!(self.projects[index].members))
    }

    /// The project `uid`, after the check that `actor` may manage it.
    fn managed_project(&self, actor: &str, uid: &str) -> Result<usize, ApiError> {
        let index = self.project_index(uid)?;
        self.require_manage(actor, index)?;
        Ok(index)
    }

    fn member_index(&self, project: usize, email: &str) -> Result<usize, ApiError> {
        let email = email.trim().to_lowercase();
        self.projects[project]
            .members
            .iter()
            .position(|member| member.email == email)
            .ok_or_else(|| super::missing("Member", &email))
    }

    /// Whether `member` is the only accepted owner left.
    fn is_last_owner(&self, project: usize, member: usize) -> bool {
        let members = &self.projects[project].members;
        let target = &members[member];
        target.role == ProjectRole::Owner
            && target.status == MemberStatus::Accepted
            && members
                .iter()
                .filter(|m| m.role == ProjectRole::Owner && m.status == MemberStatus::Accepted)
                .count()
                == 1
    }

    fn last_owner_error(&self, project: usize, member: usize) -> ApiError {
        invalid_ref(
            "email",
            "personalize.PROJECTS.LAST_OWNER",
            &format!(
                "{} is the last owner of project {}",
                self.projects[project].members[member].email, self.projects[project].project.name
            ),
        )
    }

    pub(super) fn invite_member(&mut self, actor: &str, uid: &str, request: &Request) -> Answer {
        let index = self.managed_project(actor, uid)?;
        let input: wire::MemberInput = parse_body(request)?;
        let email = input.email.trim().to_lowercase();
        if !email.contains('@') {
            return Err(invalid("email", &["email must be an email"]));
        }
        if self.projects[index]
            .members
            .iter()
            .any(|m| m.email == email)
        {
            return Err(invalid_ref(
                "email",
                "personalize.PROJECTS.MEMBER_ALREADY_EXISTS",
                &format!("{email} is already a member or invited"),
            ));
        }
        let now = self.tick();
        let member = wire::Member {
            email,
            role: input.role,
            status: MemberStatus::Pending,
            invitation_message: input.invitation_message,
            updated_at: now,
        };
        self.projects[index].members.push(member.clone());
        Ok(json!(member))
    }

    pub(super) fn update_member(
        &mut self,
        actor: &str,
        uid: &str,
        email: &str,
        request: &Request,
    ) -> Answer {
        let index = self.managed_project(actor, uid)?;
        let member = self.member_index(index, email)?;
        let input: wire::MemberRoleInput = parse_body(request)?;
        if input.role != ProjectRole::Owner && self.is_last_owner(index, member) {
            return Err(self.last_owner_error(index, member));
        }
        let now = self.tick();
        let record = &mut self.projects[index].members[member];
        record.role = input.role;
        record.updated_at = now;
        Ok(json!(record))
    }

    pub(super) fn remove_member(&mut self, actor: &str, uid: &str, email: &str) -> Answer {
        let index = self.managed_project(actor, uid)?;
        let member = self.member_index(index, email)?;
        if self.is_last_owner(index, member) {
            return Err(self.last_owner_error(index, member));
        }
        self.tick();
        self.projects[index].members.remove(member);
        Ok(Value::Null)
    }

    pub(super) fn accept_invitation(&mut self, actor: &str, uid: &str, email: &str) -> Answer {
        let index = self.project_index(uid)?;
        let member = self.member_index(index, email)?;
        if self.projects[index].members[member].email != actor.to_lowercase() {
            return Err(ApiError::forbidden());
        }
        let now = self.tick();
        let record = &mut self.projects[index].members[member];
        record.status = MemberStatus::Accepted;
        record.updated_at = now;
        Ok(json!(record))
    }
}

/// Deserialize a typed body; a shape error is a 400 naming the body.
pub(super) fn parse_body<T: serde::de::DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let body = body_object(request)?;
    serde_json::from_value(Value::Object(body.clone()))
        .map_err(|error| invalid("body", &[&error.to_string()]))
}
