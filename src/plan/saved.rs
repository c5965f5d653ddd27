//! Saved plans (`pzctl plan --out FILE`, `pzctl apply --plan FILE`): what a plan file records
//! besides its changes (its target, selection and guards, the pzctl version), the digest that
//! names a hand edit, reading a file with every refusal typed, and the comparison of a saved
//! plan with the plan computed again, which `apply --plan` applies only when they are equal.
//!
//! Invariant: pure; no IO. Credentials are never part of a [`Binding`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Change, FORMAT_VERSION, Plan};

/// Where, from what and with which guards a saved plan was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The pzctl that made the plan (`pzctl --version`).
    pub pzctl_version: String,
    pub target: PlanTarget,
    pub selection: Selection,
    pub guards: Guards,
}

/// The organization a plan was made against. Never a credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanTarget {
    /// The API base URL, without a trailing `/`; `None` for the embedded local organization.
    pub endpoint: Option<String>,
    /// The directory of the embedded local organization, as given; `None` for an HTTP target.
    pub state_dir: Option<String>,
    /// The organization uid when the target names one (`PZCTL_ORGANIZATION_UID`).
    pub organization: Option<String>,
    /// The Content Management API base URL, without a trailing `/`, when the target has one
    /// (`--cma-endpoint`, or the region's): where experiences' content types are linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cma_endpoint: Option<String>,
}

impl PlanTarget {
    /// An HTTP target.
    #[must_use]
    pub fn endpoint(url: &str, organization: Option<&str>) -> Self {
        PlanTarget {
            endpoint: Some(url.trim_end_matches('/').to_owned()),
            state_dir: None,
            organization: organization.map(str::to_owned),
            cma_endpoint: None,
        }
    }

    /// This target with the Content Management API at `url`.
    #[must_use]
    pub fn with_cma(mut self, url: Option<&str>) -> Self {
        self.cma_endpoint = url.map(|url| url.trim_end_matches('/').to_owned());
        self
    }

    /// The embedded local organization in `dir`.
    #[must_use]
    pub fn local(dir: &str) -> Self {
        PlanTarget {
            endpoint: None,
            state_dir: Some(clean_path(dir)),
            organization: None,
            cma_endpoint: None,
        }
    }
}

impl fmt::Display for PlanTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.endpoint, &self.state_dir) {
            (Some(url), _) => write!(f, "{url}")?,
            (None, Some(dir)) => write!(f, "the local organization in `{dir}`")?,
            (None, None) => write!(f, "an unnamed target")?,
        }
        if let Some(organization) = &self.organization {
            write!(f, " (organization `{organization}`)")?;
        }
        if let Some(cma) = &self.cma_endpoint {
            write!(f, " with the Content Management API at {cma}")?;
        }
        Ok(())
    }
}

/// Which manifests were read, and which projects planned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Files or folders, as given (relative to the directory pzctl ran in).
    pub paths: Vec<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    /// `--project` (empty: every project).
    pub projects: Vec<String>,
    /// `--env`: the environment of the workspace file `pzctl.yaml` (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// The deletion guards the plan was made with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guards {
    pub allow_delete: bool,
    pub max_deletions: usize,
    /// `--delete-project` (absent: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete_projects: Vec<String>,
}

/// `path` without `./` segments and trailing `/`, so `./.pzctl/` and `.pzctl` are one place.
#[must_use]
pub fn clean_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// The digest of a plan file: SHA-256 of the canonical JSON (keys sorted) of everything in it
/// but the `digest` key, as `sha256:HEX`.
#[must_use]
pub fn digest_of(file: &Value) -> String {
    format!(
        "sha256:{}",
        super::fingerprint::value_digest(file, Some("digest"))
    )
}

/// `plan` bound to `binding`, with its digest: what `plan --out` writes.
#[must_use]
pub fn seal(mut plan: Plan, binding: Binding) -> Plan {
    plan.binding = Some(binding);
    plan.digest = None;
    let digest = serde_json::to_value(&plan).map_or_else(|_| String::new(), |v| digest_of(&v));
    plan.digest = Some(digest);
    plan
}

/// Why a plan file was refused before anything was read from the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileRefusal {
    NotJson(String),
    /// `format_version` missing or not a number.
    NoVersion,
    /// Written by a newer pzctl.
    Newer {
        found: u64,
    },
    /// Written by an older pzctl, without what this one checks.
    Older {
        found: u64,
    },
    /// No `digest`: not written by `pzctl plan --out` (or the digest was removed).
    NoDigest,
    /// The content does not match its digest.
    Edited,
    /// Not a plan (a missing or ill-typed field, a bad spec).
    Invalid(String),
    /// No `binding`.
    NoBinding,
}

impl FileRefusal {
    /// The message, naming the file as `shown`.
    #[must_use]
    pub fn message(&self, shown: &str) -> String {
        match self {
            FileRefusal::NotJson(error) => format!("{shown} is not JSON: {error}"),
            FileRefusal::NoVersion => {
                format!("{shown} has no plan `format_version`; it is not a pzctl plan")
            }
            FileRefusal::Newer { found } => format!(
                "{shown} has plan format version {found}, newer than this pzctl reads (version {FORMAT_VERSION}); apply it with the pzctl that made it, or make the plan again"
            ),
            FileRefusal::Older { found } => format!(
                "{shown} has plan format version {found}, older than this pzctl reads (version {FORMAT_VERSION}); make the plan again with this pzctl"
            ),
            FileRefusal::NoDigest => format!(
                "{shown} has no `digest`: it was not written by `pzctl plan --out`, or was edited after"
            ),
            FileRefusal::Edited => format!("{shown} was edited after it was written"),
            FileRefusal::Invalid(error) => format!("{shown} is not a pzctl plan: {error}"),
            FileRefusal::NoBinding => format!(
                "{shown} does not record its target and selection (`binding`); make the plan again with `pzctl plan --out`"
            ),
        }
    }
}

/// Read a plan file: version, digest, then the typed plan.
pub fn read(text: &str) -> Result<Plan, FileRefusal> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| FileRefusal::NotJson(error.to_string()))?;
    let found = value
        .get("format_version")
        .and_then(Value::as_u64)
        .ok_or(FileRefusal::NoVersion)?;
    if found > u64::from(FORMAT_VERSION) {
        return Err(FileRefusal::Newer { found });
    }
    if found < u64::from(FORMAT_VERSION) {
        return Err(FileRefusal::Older { found });
    }
    let recorded = value
        .get("digest")
        .and_then(Value::as_str)
        .ok_or(FileRefusal::NoDigest)?;
    if recorded != digest_of(&value) {
        return Err(FileRefusal::Edited);
    }
    let plan: Plan =
        serde_json::from_value(value).map_err(|error| FileRefusal::Invalid(error.to_string()))?;
    if plan.binding.is_none() {
        return Err(FileRefusal::NoBinding);
    }
    Ok(plan)
}

/// What the command line says about the selection and the guards next to `--plan`; `None` and
/// empty lists are "not given".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GivenFlags {
    pub paths: Vec<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub projects: Vec<String>,
    /// `--env`.
    pub env: Option<String>,
    /// `--allow-delete` was given.
    pub allow_delete: bool,
    pub max_deletions: Option<usize>,
    pub delete_projects: Vec<String>,
}

/// Every flag given next to `--plan` that says something else than the plan records, as
/// `(flag, given, recorded)`. A flag that is not given takes the recorded value.
#[must_use]
pub fn contradictions(recorded: &Binding, given: &GivenFlags) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    let cleaned = |items: &[String]| items.iter().map(|p| clean_path(p)).collect::<Vec<_>>();
    let selection = &recorded.selection;
    if !given.paths.is_empty() && cleaned(&given.paths) != cleaned(&selection.paths) {
        out.push((
            "paths".to_owned(),
            list(&given.paths),
            list(&selection.paths),
        ));
    }
    for (flag, given, recorded) in [
        ("--include", &given.include, &selection.include),
        ("--exclude", &given.exclude, &selection.exclude),
        ("--project", &given.projects, &selection.projects),
        (
            "--delete-project",
            &given.delete_projects,
            &recorded.guards.delete_projects,
        ),
    ] {
        let as_set = |items: &[String]| items.iter().cloned().collect::<BTreeSet<_>>();
        if !given.is_empty() && as_set(given) != as_set(recorded) {
            out.push((flag.to_owned(), list(given), list(recorded)));
        }
    }
    if let Some(env) = &given.env
        && selection.env.as_ref() != Some(env)
    {
        out.push((
            "--env".to_owned(),
            env.clone(),
            selection.env.clone().unwrap_or_else(|| "none".to_owned()),
        ));
    }
    if given.allow_delete && !recorded.guards.allow_delete {
        out.push((
            "--allow-delete".to_owned(),
            "given".to_owned(),
            "not given".to_owned(),
        ));
    }
    if let Some(max) = given.max_deletions
        && max != recorded.guards.max_deletions
    {
        out.push((
            "--max-deletions".to_owned(),
            max.to_string(),
            recorded.guards.max_deletions.to_string(),
        ));
    }
    out
}

/// One way the plan computed now differs from the saved one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "difference", rename_all = "snake_case")]
pub enum PlanDifference {
    /// The fresh plan has a change the saved one does not.
    Added {
        address: String,
        action: super::Action,
    },
    /// The saved plan has a change the fresh one does not.
    Removed {
        address: String,
        action: super::Action,
    },
    /// Both have a change at this address, and these of its fields differ.
    Changed {
        address: String,
        fields: Vec<String>,
    },
    /// The same changes in another order.
    Order {
        saved: Vec<String>,
        fresh: Vec<String>,
    },
    /// The saved plan has several changes at one address.
    Duplicate { address: String },
}

impl fmt::Display for PlanDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanDifference::Added { address, action } => {
                write!(
                    f,
                    "{address}: a new change ({}) that the saved plan does not have",
                    word(*action)
                )
            }
            PlanDifference::Removed { address, action } => write!(
                f,
                "{address}: the saved change ({}) is no longer planned",
                word(*action)
            ),
            PlanDifference::Changed { address, fields } => {
                write!(f, "{address}: differs in {}", fields.join(", "))
            }
            PlanDifference::Order { saved, fresh } => write!(
                f,
                "the changes are in another order: saved {}, now {}",
                saved.join(" → "),
                fresh.join(" → ")
            ),
            PlanDifference::Duplicate { address } => {
                write!(
                    f,
                    "{address}: the saved plan has this change more than once"
                )
            }
        }
    }
}

fn word(action: super::Action) -> &'static str {
    match action {
        super::Action::Create => "a create",
        super::Action::Update => "an update",
        super::Action::Delete => "a delete",
    }
}

/// The fields of one change that a saved plan must have as the fresh plan has them.
fn change_fields(saved: &Change, fresh: &Change) -> Vec<String> {
    let mut fields = Vec::new();
    let mut differs = |name: &str, equal: bool| {
        if !equal {
            fields.push(name.to_owned());
        }
    };
    differs("kind", saved.kind() == fresh.kind());
    differs("action", saved.action == fresh.action);
    differs("project", saved.project == fresh.project);
    differs("name", saved.name == fresh.name);
    differs("renamed_from", saved.renamed_from == fresh.renamed_from);
    differs(
        "renamed_variants",
        saved.renamed_variants == fresh.renamed_variants,
    );
    differs("before", saved.before_json() == fresh.before_json());
    differs("after", saved.after_json() == fresh.after_json());
    differs("fields", saved.fields == fresh.fields);
    differs("requires", saved.requires == fresh.requires);
    differs("depends_on", saved.depends_on == fresh.depends_on);
    fields
}

/// Compare a saved plan's changes with the changes planned now: every change added, removed or
/// different (with the fields that differ), and the order. Empty when they are the same
/// changes in the same order; notes and the live fingerprint are not compared.
#[must_use]
pub fn compare(saved: &[Change], fresh: &[Change]) -> Vec<PlanDifference> {
    let mut differences = Vec::new();
    let mut saved_by_address: BTreeMap<&str, &Change> = BTreeMap::new();
    for change in saved {
        if saved_by_address
            .insert(change.address.as_str(), change)
            .is_some()
        {
            differences.push(PlanDifference::Duplicate {
                address: change.address.clone(),
            });
        }
    }
    let fresh_by_address: BTreeMap<&str, &Change> = fresh
        .iter()
        .map(|change| (change.address.as_str(), change))
        .collect();
    for change in saved {
        if !fresh_by_address.contains_key(change.address.as_str()) {
            differences.push(PlanDifference::Removed {
                address: change.address.clone(),
                action: change.action,
            });
        }
    }
    for change in fresh {
        match saved_by_address.get(change.address.as_str()) {
            None => differences.push(PlanDifference::Added {
                address: change.address.clone(),
                action: change.action,
            }),
            Some(saved) => {
                let fields = change_fields(saved, change);
                if !fields.is_empty() {
                    differences.push(PlanDifference::Changed {
                        address: change.address.clone(),
                        fields,
                    });
                }
            }
        }
    }
    let common = |changes: &[Change], other: &BTreeMap<&str, &Change>| -> Vec<String> {
        changes
            .iter()
            .filter(|change| other.contains_key(change.address.as_str()))
            .map(|change| change.address.clone())
            .collect()
    };
    let saved_order = common(saved, &fresh_by_address);
    let fresh_order = common(fresh, &saved_by_address);
    if saved_order != fresh_order {
        differences.push(PlanDifference::Order {
            saved: saved_order,
            fresh: fresh_order,
        });
    }
    differences
}

#[cfg(test)]
mod tests;
