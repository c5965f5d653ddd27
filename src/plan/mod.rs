//! The planner: a pure, synchronous function from (desired state, live state, principal) to a
//! [`Plan`]: the diff, its dependency and permission order, and the guards.
//!
//! Invariants: no IO, no clock, no randomness; the same inputs give a byte-identical plan
//! whatever the order the manifests were read in. Permission problems are found here, before
//! anything is written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::model::VariantRename;
use crate::model::{Kind, Specs};

mod diff;
mod fingerprint;
mod notes;
mod order;
mod permissions;
pub mod promotion;
mod renames;
pub mod saved;
pub mod scope;
mod view;

pub use fingerprint::object_digest;
pub use saved::{Binding, Guards, PlanDifference, PlanTarget, Selection, compare};
pub use view::{ManifestView, manifest_view, manifest_view_of, member_view};

/// The version of the plan file format (`docs/plan-format.md`).
pub const FORMAT_VERSION: u32 = 3;

/// A plan: the changes in execution order, with what apply needs to check staleness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    /// What a saved plan was made against and from (`plan --out`); `None` from the planner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<Binding>,
    pub summary: Summary,
    /// In execution order: every `depends_on` names an earlier change.
    pub changes: Vec<Change>,
    /// Live objects of the selected projects that no manifest declares and the plan does not
    /// delete, by address; left out of the JSON when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged: Vec<Unmanaged>,
    /// A digest of every live object the plan read, for `apply --plan`.
    pub live_fingerprint: LiveFingerprint,
    /// What the plan could not manage on this endpoint, with the steps to do it by hand (members
    /// where the endpoint has no members API). Not changes: they count in no summary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    /// Live records of the selected projects that could not be read (left alone as unmanaged),
    /// and endpoint answers that could not be used; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<crate::model::LiveWarning>,
    /// `sha256:HEX` over the canonical JSON of everything else ([`saved::digest_of`]); set
    /// with the binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Something the plan leaves to a person, said once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The address it is about, e.g. `project/shop`.
    pub address: String,
    pub message: String,
    /// What to do by hand, one step per line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
}

/// A live object no manifest declares and the plan leaves alone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unmanaged {
    /// `project/NAME/KIND/NAME` (see [`crate::model::address`]).
    pub address: String,
    pub kind: Kind,
    /// The project's name.
    pub project: String,
    /// The object's name (the project name for a project).
    pub name: String,
    /// The live object's uid.
    pub uid: String,
}

/// Counts per action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
}

impl Summary {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.create + self.update + self.delete == 0
    }
}

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// The least role a change needs. Organization owners and admins may do everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Any project role (or an organization owner/admin).
    ProjectMember,
    /// The project's owner (or an organization owner/admin).
    ProjectOwner,
    /// An organization owner or admin.
    OrgAdmin,
}

/// One change to one resource.
///
/// In JSON the change's `kind`, `before` and `after` come from [`Specs`]; the keys keep the
/// documented order (`docs/plan-format.md`). Reading a plan checks every spec against its kind
/// and that creates and updates say what they want, so a bad plan is refused whole, before
/// anything is written.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "ChangeFile")]
pub struct Change {
    /// `project/NAME/KIND/NAME` (see [`crate::model::address`]); unique within a plan.
    pub address: String,
    pub action: Action,
    /// The project's name.
    pub project: String,
    /// The resource's name (email for members; the project name for project-level kinds).
    pub name: String,
    /// An update that renames the live object in place (`metadata.previousNames`): the name
    /// it has now (an event's key, a project's name). `None` for every other change.
    pub renamed_from: Option<String>,
    /// An experience update whose variants keep their shortUids under new names
    /// (`variants[].previousNames`); empty for every other change.
    pub renamed_variants: Vec<VariantRename>,
    /// The kind with its live spec (`before`, `None` for creates) and its desired spec
    /// (`after`, `None` for deletes).
    pub specs: Specs,
    /// Field-level differences of an update (empty for creates and deletes), in manifest terms:
    /// the difference of the [`manifest_view`]s of `before` and `after`.
    pub fields: Vec<FieldChange>,
    pub requires: Requirement,
    /// Addresses of earlier changes that must succeed first.
    pub depends_on: Vec<String>,
    /// Why the change is ordered or shaped as it is, for people only; apply never reads it.
    pub note: Option<String>,
}

impl Change {
    /// The name of the live object the change touches: the name it is renamed from, else
    /// its own.
    #[must_use]
    pub fn live_name(&self) -> &str {
        self.renamed_from.as_deref().unwrap_or(&self.name)
    }

    #[must_use]
    pub fn kind(&self) -> Kind {
        self.specs.kind()
    }

    /// The live spec as JSON, as the plan file holds it.
    #[must_use]
    pub fn before_json(&self) -> Option<Value> {
        self.specs.before_json()
    }

    /// The desired spec as JSON, as the plan file holds it.
    #[must_use]
    pub fn after_json(&self) -> Option<Value> {
        self.specs.after_json()
    }
}

/// A change as a plan file holds it, before the checks of [`Change`].
#[derive(Deserialize)]
struct ChangeFile {
    address: String,
    action: Action,
    project: String,
    name: String,
    #[serde(default)]
    renamed_from: Option<String>,
    #[serde(flatten)]
    specs: Specs,
    fields: Vec<FieldChange>,
    #[serde(default)]
    renamed_variants: Vec<VariantRename>,
    requires: Requirement,
    depends_on: Vec<String>,
    #[serde(default)]
    note: Option<String>,
}

impl TryFrom<ChangeFile> for Change {
    type Error = String;

    fn try_from(file: ChangeFile) -> Result<Self, String> {
        if file.action != Action::Delete && !file.specs.has_after() {
            return Err(format!(
                "change `{}` is a {} without an `after`",
                file.address,
                match file.action {
                    Action::Create => "create",
                    _ => "update",
                }
            ));
        }
        if file.action != Action::Update
            && (file.renamed_from.is_some() || !file.renamed_variants.is_empty())
        {
            return Err(format!(
                "change `{}` renames, but only an update can rename",
                file.address
            ));
        }
        Ok(Change {
            address: file.address,
            action: file.action,
            project: file.project,
            name: file.name,
            renamed_from: file.renamed_from,
            renamed_variants: file.renamed_variants,
            specs: file.specs,
            fields: file.fields,
            requires: file.requires,
            depends_on: file.depends_on,
            note: file.note,
        })
    }
}

impl Serialize for Change {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Change", 13)?;
        out.serialize_field("address", &self.address)?;
        out.serialize_field("kind", &self.kind())?;
        out.serialize_field("action", &self.action)?;
        out.serialize_field("project", &self.project)?;
        out.serialize_field("name", &self.name)?;
        match &self.renamed_from {
            Some(renamed_from) => out.serialize_field("renamed_from", renamed_from)?,
            None => out.skip_field("renamed_from")?,
        }
        out.serialize_field("before", &self.before_json())?;
        out.serialize_field("after", &self.after_json())?;
        out.serialize_field("fields", &self.fields)?;
        if self.renamed_variants.is_empty() {
            out.skip_field("renamed_variants")?;
        } else {
            out.serialize_field("renamed_variants", &self.renamed_variants)?;
        }
        out.serialize_field("requires", &self.requires)?;
        out.serialize_field("depends_on", &self.depends_on)?;
        match &self.note {
            Some(note) => out.serialize_field("note", note)?,
            None => out.skip_field("note")?,
        }
        out.end()
    }
}

/// One field of an update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// A dotted path into the manifest `spec:` (see [`manifest_view`]), e.g. `description`,
    /// `rules.all[0].value` or `variants[1].traffic`; list items by index.
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Fingerprints of the live objects a plan read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveFingerprint {
    /// SHA-256 over `objects`, hex.
    pub digest: String,
    /// Address → SHA-256 of the object's canonical JSON, hex.
    pub objects: BTreeMap<String, String>,
}

/// What to plan and which guards apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanConfig {
    /// Allow deletes of undeclared objects outside `prune: true` projects.
    pub allow_delete: bool,
    /// Delete these projects (`--delete-project`), which no manifest may declare. Nothing else
    /// deletes a project.
    pub delete_projects: Vec<String>,
    /// Refuse plans with more deletes than this.
    pub max_deletions: usize,
    /// Only these projects (empty: every project the manifests or the organization have).
    pub projects: Vec<String>,
    /// The manifests were narrowed (`--include`/`--exclude`): nothing missing from them may
    /// become a delete.
    pub partial: bool,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            allow_delete: false,
            delete_projects: Vec::new(),
            max_deletions: 10,
            projects: Vec::new(),
            partial: false,
        }
    }
}

/// Compute the plan. `Err` carries every refusal (permissions, guards, impossible transitions),
/// each located at the manifest that asked for it when there is one.
pub fn plan(
    desired: &crate::model::DesiredState,
    live: &crate::model::LiveState,
    config: &PlanConfig,
) -> Result<Plan, Vec<crate::diagnostic::Diagnostic>> {
    // Renamed projects are read under their new names from here on; the fingerprint is of
    // the live state as observed.
    let observed = live;
    let (live, config, rename_diagnostics, rename_notes) =
        renames::projects(desired, observed, config);
    let (live, config) = (live.as_ref(), &config);
    let diff::Diff {
        planned,
        mut diagnostics,
        mut unmanaged,
        duplicates,
        notes: diff_notes,
    } = diff::diff(desired, live, config);
    diagnostics.splice(0..0, rename_diagnostics);
    unmanaged.sort();
    let planned = match order::order(planned) {
        Ok(planned) => planned,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            return Err(diagnostics);
        }
    };
    diagnostics.extend(permissions::check(&planned, desired, live));

    // A project delete counts itself and every object in it.
    let mut deleted = 0;
    let mut deletes: Vec<String> = Vec::new();
    for planned in &planned {
        if planned.change.action != Action::Delete {
            continue;
        }
        let inside = match planned.change.kind() {
            Kind::Project => live
                .projects
                .get(&planned.change.name)
                .map_or(0, |project| {
                    diff::contents(project)
                        .iter()
                        .map(|(count, _, _)| count)
                        .sum()
                }),
            _ => 0,
        };
        deleted += 1 + inside;
        deletes.push(if inside > 0 {
            format!(
                "{} (and the {inside} objects in it)",
                planned.change.address
            )
        } else {
            planned.change.address.clone()
        });
    }
    if deleted > config.max_deletions {
        diagnostics.push(diff::diagnostic(
            crate::diagnostic::Code::TooManyDeletions,
            format!(
                "the plan deletes {} objects, more than the limit of {}: {}",
                deleted,
                config.max_deletions,
                deletes.join(", ")
            ),
            None,
            Some("raise `--max-deletions` if these deletes are intended".to_owned()),
        ));
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }

    let changes = order::changes(planned);
    let mut summary = Summary::default();
    for change in &changes {
        match change.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Delete => summary.delete += 1,
        }
    }
    Ok(Plan {
        format_version: FORMAT_VERSION,
        binding: None,
        summary,
        changes,
        unmanaged,
        live_fingerprint: fingerprint(observed),
        notes: {
            let mut notes = notes::notes(desired, live, config);
            notes.extend(rename_notes);
            notes.extend(diff_notes);
            notes.extend(duplicates);
            notes
        },
        warnings: live
            .warnings
            .iter()
            .filter(|warning| {
                warning.project.is_empty()
                    || config.projects.is_empty()
                    || config.projects.contains(&warning.project)
            })
            .cloned()
            .collect(),
        digest: None,
    })
}

/// Fingerprint every live object: address -> SHA-256 of its canonical JSON.
#[must_use]
pub fn fingerprint(live: &crate::model::LiveState) -> LiveFingerprint {
    fingerprint::fingerprint(live)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Change;
    use crate::model::{Kind, ProjectRole, Specs};

    fn member_create(after: &serde_json::Value) -> serde_json::Value {
        json!({
            "address": "project/shop/member/dev@example.com", "kind": "member",
            "action": "create", "project": "shop", "name": "dev@example.com",
            "before": null, "after": after, "fields": [], "requires": "project_owner",
            "depends_on": ["project/shop"]
        })
    }

    #[test]
    fn a_change_reads_its_specs_by_kind_and_writes_the_same_json() {
        let file = member_create(
            &json!({"email": "dev@example.com", "role": "member", "invitation_message": "Hi"}),
        );
        let change: Change = serde_json::from_value(file.clone()).expect("a member create");
        assert_eq!(change.kind(), Kind::Member);
        let Specs::Member(sides) = &change.specs else {
            panic!("{change:?}")
        };
        let target = sides.after.as_ref().expect("an after");
        assert_eq!(target.member.role, ProjectRole::Member);
        assert_eq!(target.invitation_message.as_deref(), Some("Hi"));
        assert_eq!(
            serde_json::to_string(&change).expect("serializes"),
            file.to_string()
        );
    }

    #[test]
    fn a_change_whose_after_is_not_a_spec_of_its_kind_is_refused() {
        // A member without a role, and one whose role is not a role.
        for after in [
            json!({"email": "dev@example.com"}),
            json!({"email": "dev@example.com", "role": "ADMIN"}),
            json!(["dev@example.com"]),
        ] {
            let file = member_create(&after);
            assert!(
                serde_json::from_value::<Change>(file).is_err(),
                "{after} was accepted"
            );
        }
        let mut file = member_create(&json!(null));
        let error = serde_json::from_value::<Change>(file.clone()).expect_err("no after");
        assert!(error.to_string().contains("without an `after`"), "{error}");
        // The same change as a delete needs no `after`.
        file["action"] = json!("delete");
        file["before"] = json!({"email": "dev@example.com", "role": "owner"});
        assert!(serde_json::from_value::<Change>(file).is_ok());
    }

    #[test]
    fn only_an_update_renames() {
        let mut file = member_create(&json!({"email": "dev@example.com", "role": "member"}));
        file["renamed_from"] = json!("old@example.com");
        let error = serde_json::from_value::<Change>(file.clone()).expect_err("a create");
        assert!(
            error.to_string().contains("only an update can rename"),
            "{error}"
        );
        file["action"] = json!("update");
        file["before"] = json!({"email": "old@example.com", "role": "member"});
        let change: Change = serde_json::from_value(file.clone()).expect("an update");
        assert_eq!(change.live_name(), "old@example.com");
        // Written back with the key where the plan format documents it.
        let written = serde_json::to_value(&change).expect("serializes");
        let keys: Vec<&String> = written.as_object().expect("an object").keys().collect();
        assert_eq!(keys[4..7], ["name", "renamed_from", "before"]);
    }

    #[test]
    fn the_invitation_message_is_read_only_under_its_own_name() {
        let file = member_create(
            &json!({"email": "dev@example.com", "role": "member", "invitationMessage": "Hi"}),
        );
        let change: Change = serde_json::from_value(file).expect("unknown keys are ignored");
        let Specs::Member(sides) = &change.specs else {
            panic!("{change:?}")
        };
        assert_eq!(
            sides
                .after
                .as_ref()
                .and_then(|target| target.invitation_message.as_deref()),
            None
        );
    }
}
