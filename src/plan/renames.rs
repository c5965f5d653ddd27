//! Renames in place: which live object a manifest was before (`metadata.previousNames`,
//! `variants[].previousNames`).
//!
//! A manifest whose name no live object has takes over the one live object that has one of
//! its previous names: the plan updates that object (the update changes its name) instead of
//! deleting it and creating another, so it keeps its uid and what hangs on it. Projects are
//! matched before anything else (the live state is read under the new project names from
//! then on); resources per project, before the diff, so references to a renamed object read
//! by its new name and referrers show no change.
//!
//! Invariant: pure. A rename is never a guess: when previous names match several live objects
//! (or an unreadable one), nothing is renamed and the plan is refused.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::diff::{diagnostic, origin_of};
use super::{Note, PlanConfig, VariantRename};
use crate::convert::{self, Names, Resource};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{
    AttributeSpec, AudienceSpec, DesiredProject, DesiredState, EventSpec, ExperienceSpec, Kind,
    LiveProject, LiveState, LiveWarning, Sides, Specs, VariantSpec, address,
};
use crate::wire;

/// The live state with renamed projects under their new names, the configuration with
/// `--project` names that are a renamed project's old name read as its new one, and the
/// problems and notes of project renames.
pub(crate) fn projects<'a>(
    desired: &DesiredState,
    live: &'a LiveState,
    config: &PlanConfig,
) -> (Cow<'a, LiveState>, PlanConfig, Vec<Diagnostic>, Vec<Note>) {
    let mut diagnostics = Vec::new();
    let mut notes = Vec::new();
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    for (name, project) in &desired.projects {
        let project_address = address(name, Kind::Project, name);
        let Some(previous) = project.previous_names.get(&project_address) else {
            continue;
        };
        let found: Vec<&String> = previous
            .iter()
            .filter(|old| live.projects.contains_key(*old))
            .collect();
        if live.projects.contains_key(name) {
            notes.extend(both_live(&project_address, Kind::Project, name, &found));
            continue;
        }
        let origin = origin_of(Some(project), &project_address, name);
        match found.as_slice() {
            [] => {}
            [old] if config.delete_projects.contains(old) => diagnostics.push(diagnostic(
                Code::AmbiguousRename,
                format!(
                    "`--delete-project {old}` names the project that project `{name}` renames (its `previousNames` list `{old}`)"
                ),
                origin,
                Some(format!(
                    "drop `--delete-project {old}` to rename it, or remove `{old}` from `previousNames` to delete it"
                )),
            )),
            [old] => {
                renamed.insert((*old).clone(), name.clone());
            }
            many => diagnostics.push(ambiguous(&project_address, Kind::Project, name, many, origin)),
        }
    }
    if renamed.is_empty() {
        return (Cow::Borrowed(live), config.clone(), diagnostics, notes);
    }
    let mut live = live.clone();
    for (old, new) in &renamed {
        if let Some(project) = live.projects.remove(old) {
            live.projects.insert(new.clone(), project);
        }
        for warning in &mut live.warnings {
            if &warning.project == old {
                warning.project.clone_from(new);
            }
        }
    }
    let mut config = config.clone();
    for selected in &mut config.projects {
        if let Some(new) = renamed.get(selected.as_str()) {
            selected.clone_from(new);
        }
    }
    (Cow::Owned(live), config, diagnostics, notes)
}

/// The live name each renamed resource of one project had, per kind: new name -> live name.
#[derive(Debug, Default)]
pub(crate) struct Renames {
    by_kind: BTreeMap<Kind, BTreeMap<String, String>>,
}

impl Renames {
    /// Renames of `kind`: manifest name -> live name.
    pub(crate) fn of(&self, kind: Kind) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.by_kind.get(&kind).unwrap_or(&NONE)
    }

    /// `names` with every renamed object read under its new name, so that what refers to it
    /// (by uid) reads as referring to the manifest's name.
    pub(crate) fn names(&self, mut names: Names) -> Names {
        // One pass, old name -> new name, so renames never chain.
        fn rename(map: &mut BTreeMap<String, String>, renames: &BTreeMap<String, String>) {
            let new_of: BTreeMap<&String, &String> =
                renames.iter().map(|(new, old)| (old, new)).collect();
            for name in map.values_mut() {
                if let Some(new) = new_of.get(name) {
                    *name = (*new).clone();
                }
            }
        }
        rename(&mut names.attributes, self.of(Kind::Attribute));
        rename(&mut names.events, self.of(Kind::Event));
        rename(&mut names.audiences, self.of(Kind::Audience));
        names
    }
}

/// Match the project's renamed resources with live objects.
pub(crate) fn resources(
    desired: &DesiredProject,
    project: &str,
    live: &LiveProject,
    unreadable: &[&LiveWarning],
    diagnostics: &mut Vec<Diagnostic>,
    notes: &mut Vec<Note>,
) -> Renames {
    let mut renames = Renames::default();
    let mut context = Context {
        desired,
        project,
        unreadable,
        diagnostics,
        notes,
    };
    context.of_kind::<AttributeSpec>(&mut renames, live);
    context.of_kind::<EventSpec>(&mut renames, live);
    context.of_kind::<AudienceSpec>(&mut renames, live);
    context.of_kind::<ExperienceSpec>(&mut renames, live);
    renames
}

struct Context<'a, 'b> {
    desired: &'a DesiredProject,
    project: &'a str,
    unreadable: &'a [&'a LiveWarning],
    diagnostics: &'b mut Vec<Diagnostic>,
    notes: &'b mut Vec<Note>,
}

impl Context<'_, '_> {
    /// The renames of kind `R`, into `renames`.
    fn of_kind<R: Resource>(&mut self, renames: &mut Renames, live: &LiveProject) {
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for object in R::live(live) {
            if let Some(name) = R::name(R::object(object)) {
                *count.entry(name).or_default() += 1;
            }
        }
        let mut out = BTreeMap::new();
        for name in R::desired(self.desired).keys() {
            let change_address = address(self.project, R::KIND, name);
            let Some(previous) = self.desired.previous_names.get(&change_address) else {
                continue;
            };
            let found: Vec<&String> = previous
                .iter()
                .flat_map(|old| {
                    std::iter::repeat_n(old, count.get(old.as_str()).copied().unwrap_or(0))
                })
                .collect();
            if count.contains_key(name.as_str()) {
                let mut distinct = found.clone();
                distinct.dedup();
                self.notes
                    .extend(both_live(&change_address, R::KIND, name, &distinct));
                continue;
            }
            let origin = origin_of(Some(self.desired), &change_address, self.project);
            let unreadable = self.unreadable.iter().find(|warning| {
                warning.kind == R::KIND
                    && warning
                        .name
                        .as_ref()
                        .is_some_and(|old| previous.contains(old))
            });
            match (found.as_slice(), unreadable) {
                ([], None) => {}
                ([old], None) => {
                    out.insert(name.clone(), (*old).clone());
                }
                ([], Some(warning)) => self.diagnostics.push(diagnostic(
                    Code::ImmutableField,
                    format!(
                        "`{change_address}`: the live {} `{}` it renames (uid {}) cannot be read ({}), so pzctl neither renames it nor creates another one",
                        R::KIND.as_str(),
                        warning.name.as_deref().unwrap_or_default(),
                        warning.uid.as_deref().unwrap_or("unknown"),
                        warning.message
                    ),
                    origin,
                    Some("fix or rename the live object in the Personalize UI, or remove the name from `previousNames`".to_owned()),
                )),
                (many, _) => {
                    self.diagnostics
                        .push(ambiguous(&change_address, R::KIND, name, many, origin));
                }
            }
        }
        renames.by_kind.insert(R::KIND, out);
    }
}

/// The refusal of a rename that matches several live objects.
fn ambiguous(
    change_address: &str,
    kind: Kind,
    name: &str,
    found: &[&String],
    origin: Option<&crate::model::Origin>,
) -> Diagnostic {
    let mut distinct: Vec<&String> = found.to_vec();
    distinct.dedup();
    let listed: Vec<String> = distinct.iter().map(|old| format!("`{old}`")).collect();
    let message = if distinct.len() == 1 {
        format!(
            "`{change_address}`: {} live {}s are named `{}`, the previous name of {} `{name}`; pzctl cannot tell which one to rename",
            found.len(),
            kind.as_str(),
            distinct[0],
            kind.as_str()
        )
    } else {
        format!(
            "`{change_address}`: the previous names {} of {} `{name}` are all live; pzctl cannot tell which one to rename",
            listed.join(" and "),
            kind.as_str()
        )
    };
    diagnostic(
        Code::AmbiguousRename,
        message,
        origin,
        Some("keep one previous name (or delete or rename the other live objects in the Personalize UI), then plan again".to_owned()),
    )
}

/// A manifest whose name is live also lists previous names that are live: the object of its
/// own name is managed, the others are left as they are (or pruned); say so once.
fn both_live(change_address: &str, kind: Kind, name: &str, found: &[&String]) -> Option<Note> {
    let old = found.first()?;
    Some(Note {
        address: change_address.to_owned(),
        message: format!(
            "{} `{name}` lists `{old}` in `previousNames`, but both are live: `{name}` is managed as it is, and `{old}` is not renamed",
            kind.as_str()
        ),
        steps: vec![format!(
            "if `{old}` is the object to keep, delete `{name}` in the Personalize UI (or remove it from live) and plan again; else remove `{old}` from `previousNames`"
        )],
    })
}

/// The variants of an experience update that keep their live variant under a new name: a
/// desired variant whose name no live variant has, and exactly one of whose previous names a
/// live variant has.
pub(crate) fn variants(
    previous: Option<&BTreeMap<String, Vec<String>>>,
    before: &ExperienceSpec,
    after: &ExperienceSpec,
) -> Vec<VariantRename> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    let live: Vec<&str> = before.variants.iter().map(variant_name).collect();
    let mut out = Vec::new();
    for variant in &after.variants {
        let name = variant_name(variant);
        if live.contains(&name) {
            continue;
        }
        let found: Vec<&String> = previous
            .get(name)
            .into_iter()
            .flatten()
            .filter(|old| live.contains(&old.as_str()))
            .collect();
        if let [old] = found.as_slice()
            && live.iter().filter(|live| *live == old).count() == 1
        {
            out.push(VariantRename {
                name: name.to_owned(),
                renamed_from: (*old).clone(),
            });
        }
    }
    out
}

/// A variant's name.
pub(crate) fn variant_name(variant: &VariantSpec) -> &str {
    match variant {
        VariantSpec::Segmented { name, .. } | VariantSpec::AbTest { name, .. } => name,
    }
}

/// What a rename or a key change needs to say, on its update: an attribute or event key
/// change warns that SDK calls using the old key stop matching; an experience update records
/// the variants it renames (`renamed_variants`) and notes every variant that gets a new
/// shortUid and every live variant it removes.
pub(crate) fn annotate(change: &mut super::Change, desired: &DesiredProject, live: &LiveProject) {
    if change.action != super::Action::Update {
        return;
    }
    let note = match &change.specs {
        Specs::Attribute(Sides {
            before: Some(before),
            after: Some(after),
        }) => key_note(
            "attribute",
            &before.key,
            &after.key,
            "set it as a user attribute stop matching the audiences that read it",
        ),
        Specs::Event(Sides {
            before: Some(before),
            after: Some(after),
        }) => key_note(
            "event",
            &before.key,
            &after.key,
            "trigger it stop counting for the experiences that use it as a metric",
        ),
        Specs::Experience(Sides {
            before: Some(before),
            after: Some(after),
        }) => {
            let renamed = variants(
                desired.variant_previous_names.get(&change.name),
                before,
                after,
            );
            let note = short_uid_note(live, change.live_name(), before, after, &renamed);
            change.renamed_variants = renamed;
            note
        }
        _ => None,
    };
    if let Some(note) = note {
        change.note = Some(match change.note.take() {
            Some(first) => format!("{first}; {note}"),
            None => note,
        });
    }
}

fn key_note(kind: &str, before: &str, after: &str, effect: &str) -> Option<String> {
    (before != after).then(|| {
        format!(
            "the {kind} key changes from `{before}` to `{after}`: SDK calls that still send `{before}` to {effect}; change the site's code with it"
        )
    })
}

/// Which variants of an experience update keep their shortUid, which get a new one, and
/// which live ones go (`None` when every variant keeps its own).
fn short_uid_note(
    live: &LiveProject,
    live_name: &str,
    before: &ExperienceSpec,
    after: &ExperienceSpec,
    renamed: &[VariantRename],
) -> Option<String> {
    let live_names: Vec<&str> = before.variants.iter().map(variant_name).collect();
    let wanted: Vec<&str> = after.variants.iter().map(variant_name).collect();
    let short_uids: BTreeMap<String, String> = live
        .experiences
        .iter()
        .find(|experience| experience.experience.name == live_name)
        .and_then(|experience| convert::Versions::of(experience).effective().1)
        .map(|version| {
            version
                .variants
                .iter()
                .filter_map(|variant| match variant {
                    wire::Variant::Segmented {
                        name, short_uid, ..
                    }
                    | wire::Variant::AbTest {
                        name, short_uid, ..
                    } => short_uid.clone().map(|short_uid| (name.clone(), short_uid)),
                })
                .collect()
        })
        .unwrap_or_default();
    let shown = |name: &str| match short_uids.get(name) {
        Some(short_uid) => format!("`{name}` (shortUid {short_uid})"),
        None => format!("`{name}`"),
    };
    let mut parts = Vec::new();
    for rename in renamed {
        parts.push(format!(
            "variant {} is renamed `{}` and keeps its shortUid",
            shown(&rename.renamed_from),
            rename.name
        ));
    }
    let new: Vec<String> = wanted
        .iter()
        .filter(|name| !live_names.contains(name) && !renamed.iter().any(|r| r.name == **name))
        .map(|name| format!("`{name}`"))
        .collect();
    let removed: Vec<String> = live_names
        .iter()
        .filter(|name| !wanted.contains(name) && !renamed.iter().any(|r| r.renamed_from == **name))
        .map(|name| shown(name))
        .collect();
    match new.as_slice() {
        [] => {}
        [one] => parts.push(format!("variant {one} gets a new shortUid")),
        many => parts.push(format!("variants {} get new shortUids", many.join(", "))),
    }
    if !removed.is_empty() {
        parts.push(format!(
            "live variant{} {} {} removed: CMS entry variants made for {} stop matching",
            if removed.len() == 1 { "" } else { "s" },
            removed.join(", "),
            if removed.len() == 1 { "is" } else { "are" },
            if removed.len() == 1 { "it" } else { "them" },
        ));
        if !new.is_empty() {
            parts.push(
                "renamed? list a variant's old name in its `previousNames` to keep its shortUid"
                    .to_owned(),
            );
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
