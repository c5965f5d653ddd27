//! Export: turn a live organization ([`LiveState`]) into manifest files that `pzctl validate`
//! accepts and `pzctl plan` reports as "No changes.".
//!
//! Owns the layout of an export (one folder per project, one multi-document file per kind),
//! the choice of manifest names (live names, disambiguated when two live objects share one),
//! and what cannot round-trip (warnings). Documents are built by `manifest::raise` (the inverse
//! of lowering) and written by `yaml_out`, the same code the plan's manifest view and renderers
//! use.
//!
//! Invariant: pure and deterministic. No IO, no clock; the same `LiveState` gives the same
//! files byte for byte. The CLI (`cli::export`) writes the files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::convert::{self, Names, Versions};
use crate::manifest::raise::{self, Raise};
use crate::model::{
    AttributeRef, LiveExperience, LiveProject, LiveState, Ref, RuleGroup, RuleNode, VariantSpec,
};
use crate::wire::{self, AttributeType};
use crate::yaml_out;

/// The `$schema` reference written when none is given: right for an export folder that sits at
/// the top of a repository whose `schemas/` folder holds `pzctl schema` output (the files are
/// two levels down: `DIR/<project>/<kind>.yaml`).
pub const DEFAULT_SCHEMA_REF: &str = "../../schemas/manifest.schema.json";

/// How to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Written verbatim after `# yaml-language-server: $schema=` at the top of every file;
    /// `None` writes no such line. A relative path is relative to the file's own folder.
    pub schema: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            schema: Some(DEFAULT_SCHEMA_REF.to_owned()),
        }
    }
}

/// The result of an export: files to write and what the user must know.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// Relative path (`<project-slug>/<kind>.yaml`) -> YAML text.
    pub files: BTreeMap<PathBuf, String>,
    /// Things that will not round-trip or were left out, one sentence each.
    pub warnings: Vec<String>,
    /// How many projects were exported.
    pub projects: usize,
    /// How many documents other than projects were written.
    pub resources: usize,
}

/// Export every project (or only those named in `only`; empty means all) with the default
/// [`Options`].
#[must_use]
pub fn export(live: &LiveState, only: &[String]) -> Exported {
    export_with(live, only, &Options::default())
}

/// Export with explicit options.
#[must_use]
pub fn export_with(live: &LiveState, only: &[String], options: &Options) -> Exported {
    let mut out = Exported::default();
    for wanted in only {
        if !live.projects.contains_key(wanted) {
            out.warnings.push(format!(
                "project `{wanted}` does not exist in the organization; nothing exported for it"
            ));
        }
    }
    let mut folders = BTreeSet::new();
    for (name, project) in &live.projects {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let base = slug(name);
        let mut folder = base.clone();
        let mut counter = 2;
        while !folders.insert(folder.clone()) {
            folder = format!("{base}-{counter}");
            counter += 1;
        }
        if folder != base {
            out.warnings.push(format!(
                "project `{name}`: folder `{base}` is taken by another project; wrote `{folder}`"
            ));
        }
        export_project(name, project, &folder, options, &mut out);
        out.projects += 1;
    }
    out
}

/// A folder name for a project: lower-case ASCII letters and digits, runs of anything else
/// become one `-`; never empty.
#[must_use]
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("project");
    }
    out
}

/// Give every live object of one kind a unique manifest name: its live name, or `name-2`,
/// `name-3`, … (by uid order) when several share one. Returns uid -> name and a warning per
/// shared name.
fn unique_names<'a>(
    project: &str,
    kind: &str,
    objects: impl Iterator<Item = (&'a str, &'a str)>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (uid, name) in objects {
        by_name.entry(name).or_default().push(uid);
    }
    let mut taken: BTreeSet<String> = by_name.keys().map(|name| (*name).to_owned()).collect();
    let mut names = BTreeMap::new();
    let mut warnings = Vec::new();
    for (name, mut uids) in by_name {
        uids.sort_unstable();
        let mut chosen = Vec::new();
        for (index, uid) in uids.iter().enumerate() {
            let unique = if index == 0 {
                name.to_owned()
            } else {
                let mut counter = index + 1;
                loop {
                    let candidate = format!("{name}-{counter}");
                    if taken.insert(candidate.clone()) {
                        break candidate;
                    }
                    counter += 1;
                }
            };
            chosen.push(format!("`{unique}` (uid {uid})"));
            names.insert((*uid).to_owned(), unique);
        }
        if uids.len() > 1 {
            warnings.push(format!(
                "project `{project}`: {count} {kind}s are named `{name}`; exported as {list}. \
                 plan matches {kind}s by name, so these will not round-trip: rename them in \
                 the live project so names are unique, then export again",
                count = uids.len(),
                list = chosen.join(", "),
            ));
        }
    }
    (names, warnings)
}

struct Files<'a> {
    folder: &'a str,
    options: &'a Options,
}

impl Files<'_> {
    fn write(&self, out: &mut Exported, file: &str, documents: &[String]) {
        if documents.is_empty() {
            return;
        }
        let mut text = String::new();
        if let Some(schema) = &self.options.schema {
            let _ = writeln!(text, "# yaml-language-server: $schema={schema}");
        }
        text.push_str(&documents.join("---\n"));
        out.files
            .insert(PathBuf::from(self.folder).join(file), text);
    }
}

fn export_project(
    name: &str,
    live: &LiveProject,
    folder: &str,
    options: &Options,
    out: &mut Exported,
) {
    let files = Files { folder, options };

    // Manifest names per kind (uid -> name).
    let customs: Vec<&wire::Attribute> = live
        .attributes
        .iter()
        .filter(|attribute| attribute.kind == AttributeType::Custom)
        .collect();
    let (attribute_names, warnings) = unique_names(
        name,
        "attribute",
        customs.iter().map(|a| (a.uid.as_str(), a.name.as_str())),
    );
    out.warnings.extend(warnings);
    let (event_names, warnings) = unique_names(
        name,
        "event",
        live.events.iter().map(|e| (e.uid.as_str(), e.key.as_str())),
    );
    out.warnings.extend(warnings);
    // Externally synced audiences are not exported, so they take no manifest name.
    let (mut audience_names, warnings) = unique_names(
        name,
        "audience",
        live.audiences
            .iter()
            .filter(|a| a.definition.is_some())
            .map(|a| (a.uid.as_str(), a.name.as_str())),
    );
    out.warnings.extend(warnings);
    for audience in live.audiences.iter().filter(|a| a.definition.is_none()) {
        audience_names.insert(audience.uid.clone(), audience.name.clone());
    }
    let (experience_names, warnings) = unique_names(
        name,
        "experience",
        live.experiences
            .iter()
            .map(|e| (e.experience.uid.as_str(), e.experience.name.as_str())),
    );
    out.warnings.extend(warnings);

    // Visit objects in manifest-name order, so warnings do not depend on the live order.
    let by_name = |names: &BTreeMap<String, String>, uid: &str| names.get(uid).cloned();
    let mut audiences: Vec<&wire::Audience> = live.audiences.iter().collect();
    audiences.sort_by_cached_key(|a| (by_name(&audience_names, &a.uid), a.uid.clone()));
    let mut experiences: Vec<&LiveExperience> = live.experiences.iter().collect();
    experiences.sort_by_cached_key(|e| {
        (
            by_name(&experience_names, &e.experience.uid),
            e.experience.uid.clone(),
        )
    });

    // Audiences first: the skipped ones must not be referred to by what follows.
    let mut names = Names {
        attributes: attribute_names.clone(),
        events: event_names.clone(),
        audiences: BTreeMap::new(),
    };
    let mut skipped_audiences: BTreeMap<String, String> = BTreeMap::new();
    let mut audience_docs: BTreeMap<String, String> = BTreeMap::new();
    for audience in &audiences {
        let Some(manifest_name) = audience_names.get(&audience.uid) else {
            continue;
        };
        if audience.definition.is_none() {
            skipped_audiences.insert(audience.uid.clone(), manifest_name.clone());
        } else {
            names
                .audiences
                .insert(audience.uid.clone(), manifest_name.clone());
        }
    }
    for audience in &audiences {
        let Some(manifest_name) = names.audiences.get(&audience.uid) else {
            if let Some(skipped) = skipped_audiences.get(&audience.uid) {
                let origin = audience.source.as_deref().unwrap_or("an external source");
                out.warnings.push(format!(
                    "project `{name}`: audience `{skipped}` is synced from {origin} and has no \
                     rules; it was not exported (manifests cannot manage it)"
                ));
            }
            continue;
        };
        match convert::audience_spec(audience, &names) {
            Ok(spec) => {
                let mut dangling = BTreeSet::new();
                collect_dangling(&spec.rules, &mut dangling);
                for uid in dangling {
                    out.warnings.push(format!(
                        "project `{name}`: audience `{manifest_name}` uses custom attribute uid \
                         {uid}, which does not exist; validate will report the reference"
                    ));
                }
                audience_docs.insert(
                    manifest_name.clone(),
                    document("Audience", manifest_name, Some(name), spec.raise()),
                );
            }
            Err(error) => out
                .warnings
                .push(format!("project `{name}`: {error}; it was not exported")),
        }
    }

    // Attributes (custom only: presets are built in); events, whose manifest name is the key.
    let attribute_docs = documents(customs, &attribute_names, ("Attribute", name), |a| {
        (&a.uid, convert::attribute_spec(a).raise())
    });
    let event_docs = documents(&live.events, &event_names, ("Event", name), |e| {
        (&e.uid, convert::event_spec(e).raise())
    });

    // Experiences: the version in force, with its status.
    let mut experience_docs = BTreeMap::new();
    let mut left_out = BTreeSet::new();
    for experience in &experiences {
        let Some(manifest_name) = experience_names.get(&experience.experience.uid) else {
            continue;
        };
        match experience_doc(
            name,
            manifest_name,
            experience,
            &names,
            &skipped_audiences,
            &mut out.warnings,
        ) {
            Some(doc) => {
                experience_docs.insert(manifest_name.clone(), doc);
            }
            None => {
                left_out.insert(experience.experience.uid.clone());
            }
        }
    }

    // The project itself.
    let project_spec = convert::project_spec(&live.project);
    let stack = convert::stack_link_spec(&live.project).stack;
    let members = live.members.as_ref().map(|members| {
        let mut specs: Vec<_> = members.iter().map(convert::member_spec).collect();
        specs.sort();
        specs.dedup_by(|a, b| a.email == b.email);
        specs
    });
    if members.is_none() {
        out.warnings.push(format!(
            "project `{name}`: members were not exported because the target has no members \
             endpoint (the hosted API); they stay unmanaged"
        ));
    }
    let mut order = Vec::new();
    let mut complete = true;
    for uid in &live.priority {
        match experience_names.get(uid) {
            Some(experience) if !left_out.contains(uid) => order.push(experience.clone()),
            Some(experience) => {
                complete = false;
                out.warnings.push(format!(
                    "project `{name}`: experienceOrder was left out (priority stays unmanaged) \
                     because it includes experience `{experience}`, which was not exported"
                ));
            }
            None => {
                complete = false;
                out.warnings.push(format!(
                    "project `{name}`: experienceOrder was left out (priority stays unmanaged) \
                     because the live priority list names experience uid {uid}, which does not \
                     exist"
                ));
            }
        }
    }
    let spec = raise::Raise::raise(&raise::Project {
        spec: Some(&project_spec),
        stack: stack.as_deref(),
        members: members.as_deref(),
        invitation_message: None,
        experience_order: (complete && !order.is_empty()).then_some(order.as_slice()),
        prune: Some(false),
    });
    files.write(
        out,
        "project.yaml",
        &[document("Project", name, None, spec)],
    );

    out.resources +=
        attribute_docs.len() + event_docs.len() + audience_docs.len() + experience_docs.len();
    let values = |docs: BTreeMap<String, String>| docs.into_values().collect::<Vec<_>>();
    files.write(out, "attributes.yaml", &values(attribute_docs));
    files.write(out, "events.yaml", &values(event_docs));
    files.write(out, "audiences.yaml", &values(audience_docs));
    files.write(out, "experiences.yaml", &values(experience_docs));
}

/// One manifest document, as the files hold it.
fn document(
    kind: &str,
    manifest_name: &str,
    project: Option<&str>,
    spec: serde_json::Value,
) -> String {
    yaml_out::document(&raise::document(kind, manifest_name, project, spec))
}

/// The `kind` document of each object of `project` that has a manifest name (by its uid in
/// `names`), by that name. `read` gives an object's uid and raised spec.
fn documents<'a, T: 'a>(
    objects: impl IntoIterator<Item = &'a T>,
    names: &BTreeMap<String, String>,
    (kind, project): (&str, &str),
    read: impl Fn(&'a T) -> (&'a String, serde_json::Value),
) -> BTreeMap<String, String> {
    let mut docs = BTreeMap::new();
    for object in objects {
        let (uid, spec) = read(object);
        if let Some(manifest_name) = names.get(uid) {
            let doc = document(kind, manifest_name, Some(project), spec);
            docs.insert(manifest_name.clone(), doc);
        }
    }
    docs
}

fn collect_dangling(group: &RuleGroup, out: &mut BTreeSet<String>) {
    for node in &group.rules {
        match node {
            RuleNode::Group(inner) => collect_dangling(inner, out),
            RuleNode::Condition(condition) => {
                if let AttributeRef::Custom(Ref::Uid { uid }) = &condition.attribute {
                    out.insert(uid.clone());
                }
            }
        }
    }
}

/// Keep the audience references that name exported audiences; warn about the others.
fn keep_exported(
    audiences: &[Ref],
    skipped: &BTreeMap<String, String>,
    what: &str,
    warnings: &mut Vec<String>,
) -> Vec<Ref> {
    let mut kept = Vec::new();
    for audience in audiences {
        match audience {
            Ref::Name(_) => kept.push(audience.clone()),
            Ref::Uid { uid } => match skipped.get(uid) {
                Some(skipped_name) => warnings.push(format!(
                    "{what} uses audience `{skipped_name}`, which was not exported (synced from \
                     outside); the reference was left out, so plan will show a change"
                )),
                None => warnings.push(format!(
                    "{what} uses audience uid {uid}, which does not exist; the reference was \
                     left out, so plan will show a change"
                )),
            },
        }
    }
    kept
}

fn experience_doc(
    project: &str,
    manifest_name: &str,
    live: &LiveExperience,
    names: &Names,
    skipped: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let what = format!("project `{project}`: experience `{manifest_name}`");
    let versions = Versions::of(live);
    let (status, _) = versions.effective();
    if versions.draft.is_some() && (versions.active.is_some() || versions.paused.is_some()) {
        warnings.push(format!(
            "{what} has a draft version waiting alongside its {} one; only the {} version was \
             exported (publish or discard the draft in the UI to export it)",
            status, status,
        ));
    }
    let mut spec = convert::experience_spec(live, names);
    // Linked content types are written; none linked is left unmanaged, as before anything
    // was linked, so an export never starts managing links nobody set.
    if spec.content_types.as_ref().is_some_and(Vec::is_empty) {
        spec.content_types = None;
    }
    if let crate::model::ContentTypeLinks::Unread(why) = &live.content_types
        && live
            .experience
            .cms
            .as_ref()
            .is_some_and(|cms| !cms.is_null())
    {
        warnings.push(format!(
            "{what}: its linked content types cannot be read ({why}), so `contentTypes` is \
             left out (not managed)"
        ));
    }
    for tag in &spec.tags {
        let valid = (1..=32).contains(&tag.chars().count())
            && tag
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | ':' | '-'));
        if !valid {
            warnings.push(format!(
                "{what}: tag `{tag}` is not 1-32 letters, digits, `_`, `:` or `-`, so \
                 validate will reject it; rename it in the UI or edit the manifest"
            ));
        }
    }

    // Lytics audiences of variants are not in `audiences` and not in the spec: say so.
    if let (_, Some(version)) = versions.effective() {
        for variant in &version.variants {
            if let wire::Variant::Segmented {
                name,
                lytics_audiences,
                ..
            } = variant
                && !lytics_audiences.is_empty()
            {
                warnings.push(format!(
                    "{what}: variant `{name}` also targets {} Lytics audience(s), which \
                     manifests cannot express; they were left out",
                    lytics_audiences.len()
                ));
            }
        }
    }

    for variant in &mut spec.variants {
        if let VariantSpec::Segmented {
            name, audiences, ..
        } = variant
        {
            *audiences = keep_exported(
                audiences,
                skipped,
                &format!("{what}: variant `{name}`"),
                warnings,
            );
        }
    }
    if spec.variants.is_empty() {
        warnings.push(format!(
            "{what} has no variants yet and manifests need at least one; it was not exported \
             (add a variant in the UI and export again, or write its manifest by hand)"
        ));
        return None;
    }
    if let Some(targeting) = &mut spec.targeting {
        targeting.audiences = keep_exported(
            &targeting.audiences,
            skipped,
            &format!("{what}: targeting"),
            warnings,
        );
        if targeting.audiences.is_empty() {
            spec.targeting = None;
        }
    }
    spec.metrics.retain(|metric| match metric {
        Ref::Uid { uid } => {
            warnings.push(format!(
                "{what}: metric event uid {uid} does not exist; it was left out"
            ));
            false
        }
        Ref::Name(_) => true,
    });
    let spec = spec.raise();
    Some(document("Experience", manifest_name, Some(project), spec))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::model::LiveExperience;

    fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).expect("valid wire json")
    }

    fn condition(attribute: Value, condition: &str, value: Option<Value>) -> Value {
        let mut rule = json!({"__type": "Rule", "attribute": attribute,
            "attributeMatchCondition": condition, "invertCondition": false});
        if let Some(value) = value {
            rule["attributeMatchOptions"] = json!({"__type": "StringMatchOptions", "value": value});
        }
        rule
    }

    fn version(uid: &str, status: &str, variants: Value, extra: Value) -> wire::Version {
        let mut body = json!({"uid": uid, "status": status, "variants": variants});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                body.insert(key.clone(), value.clone());
            }
        }
        from(body)
    }

    fn experience(
        uid: &str,
        name: &str,
        kind: &str,
        tags: Value,
        versions: Vec<wire::Version>,
    ) -> LiveExperience {
        LiveExperience {
            experience: from(json!({"_id": uid, "uid": uid, "name": name, "__type": kind,
                "shortUid": "0", "tags": tags, "description": ""})),
            versions,
            content_types: crate::model::ContentTypeLinks::default(),
        }
    }

    fn storefront() -> LiveProject {
        LiveProject {
            project: from(json!({"_id": "p1", "uid": "p1", "name": "Storefront",
                "description": "Online store: personalization", "connectedStackApiKey": "blt0123"})),
            members: Some(vec![
                from(json!({"email": "Dev@Example.com", "role": "MEMBER", "status": "PENDING"})),
                from(json!({"email": "owner@example.com", "role": "OWNER", "status": "ACCEPTED"})),
            ]),
            attributes: vec![
                from(
                    json!({"_id": "a0", "uid": "a0", "name": "Device Type", "key": "DEVICE_TYPE", "__type": "PRESET"}),
                ),
                from(
                    json!({"_id": "a1", "uid": "a1", "name": "loyalty-tier", "key": "loyalty_tier",
                    "description": "Tier", "__type": "CUSTOM"}),
                ),
                from(
                    json!({"_id": "a2", "uid": "a2", "name": "yes", "key": "yes", "__type": "CUSTOM"}),
                ),
            ],
            events: vec![
                from(
                    json!({"_id": "e1", "uid": "e1", "key": "add_to_cart", "description": "Added to cart"}),
                ),
                from(json!({"_id": "e2", "uid": "e2", "key": "purchase"})),
            ],
            audiences: vec![
                from(
                    json!({"_id": "u1", "uid": "u1", "name": "gold-members", "description": "Gold tier on mobile",
                    "definition": {"__type": "RuleCombination", "combinationType": "AND", "rules": [
                        condition(json!({"__type": "CustomAttributeReference", "ref": "a1"}), "STRING_EQUALS", Some(json!("gold"))),
                        {"__type": "RuleCombination", "combinationType": "OR", "rules": [
                            condition(json!({"__type": "PresetAttributeReference", "ref": "DEVICE_TYPE"}), "STRING_EQUALS", Some(json!("MOBILE"))),
                            {"__type": "Rule", "attribute": {"__type": "CustomAttributeReference", "ref": "a2"},
                             "attributeMatchCondition": "HAS_ANY_VALUE", "invertCondition": true},
                            condition(json!({"__type": "CustomAttributeReference", "ref": "a1"}), "STRING_EQUALS", Some(json!("no # really"))),
                        ]}
                    ]}}),
                ),
                from(json!({"_id": "u2", "uid": "u2", "name": "lytics-vip", "source": "Lytics"})),
            ],
            experiences: vec![
                experience(
                    "x1",
                    "homepage-hero",
                    "SEGMENTED",
                    json!(["Env:Production", "hero"]),
                    vec![
                        version(
                            "v1",
                            "ACTIVE",
                            json!([
                                {"__type": "SegmentedVariant", "name": "Gold", "shortUid": "1",
                                 "audiences": ["u1"], "audienceCombinationType": "OR"},
                                {"__type": "SegmentedVariant", "name": "VIP", "shortUid": "2",
                                 "audiences": ["u1", "u2"], "audienceCombinationType": "AND"},
                            ]),
                            json!({}),
                        ),
                        version("v2", "DRAFT", json!([]), json!({})),
                    ],
                ),
                experience(
                    "x2",
                    "checkout-test",
                    "AB_TEST",
                    json!([]),
                    vec![version(
                        "v3",
                        "DRAFT",
                        json!([
                            {"__type": "ABTestVariant", "name": "Control", "trafficDistribution": 50},
                            {"__type": "ABTestVariant", "name": "Bold", "trafficDistribution": "50"},
                        ]),
                        json!({
                            "metrics": [{"__type": "Primary", "event": "e1", "name": "add_to_cart"},
                                        {"__type": "Secondary", "event": "e2", "name": "purchase"}],
                            "targeting": {"audience": {"audiences": ["u1"], "audienceCombinationType": "AND"}}
                        }),
                    )],
                ),
            ],
            priority: vec!["x2".to_owned(), "x1".to_owned()],
            cms_unread: None,
        }
    }

    fn state(projects: Vec<LiveProject>) -> LiveState {
        LiveState {
            projects: projects
                .into_iter()
                .map(|project| (project.project.name.clone(), project))
                .collect(),
            principal: None,
            warnings: Vec::new(),
        }
    }

    fn all_text(exported: &Exported) -> String {
        let mut text = String::new();
        for (path, contents) in &exported.files {
            let _ = writeln!(text, "=== {}\n{contents}", path.display());
        }
        text
    }

    #[test]
    fn exports_one_folder_per_project_with_names_not_uids() {
        let exported = export(&state(vec![storefront()]), &[]);
        assert_eq!(exported.projects, 1);
        assert_eq!(exported.resources, 2 + 2 + 1 + 2);
        let text = all_text(&exported);
        for uid in ["\"a1\"", "u1", "x1", "v1", "blt0123\n"] {
            assert!(!text.contains(&format!(" {uid}\n")), "uid {uid} leaked");
        }
        insta::assert_snapshot!(text);
        insta::assert_snapshot!(exported.warnings.join("\n"));
    }

    #[test]
    fn every_file_parses_as_yaml_documents() {
        let exported = export(&state(vec![storefront()]), &[]);
        for (path, text) in &exported.files {
            let documents: Vec<Value> = serde_saphyr::from_multiple(text)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            assert!(!documents.is_empty());
            for document in documents {
                assert_eq!(document["apiVersion"], "pzctl/v1", "{}", path.display());
            }
        }
        let audiences: Vec<Value> = serde_saphyr::from_multiple(
            &exported.files[&PathBuf::from("storefront/audiences.yaml")],
        )
        .expect("parses");
        assert_eq!(
            audiences[0]["spec"]["rules"]["all"][1]["any"][2]["value"],
            "no # really"
        );
        assert_eq!(
            audiences[0]["spec"]["rules"]["all"][1]["any"][1]["attribute"],
            "yes"
        );
    }

    #[test]
    fn shared_names_are_disambiguated_by_uid_and_reported() {
        let mut project = storefront();
        let mut twin = project.experiences[0].clone();
        twin.experience.uid = "x0".to_owned();
        project.experiences.push(twin);
        let mut audience = project.audiences[0].clone();
        audience.uid = "u9".to_owned();
        project.audiences.push(audience);
        let exported = export(&state(vec![project]), &[]);
        let experiences = &exported.files[&PathBuf::from("storefront/experiences.yaml")];
        let documents: Vec<Value> = serde_saphyr::from_multiple(experiences).expect("parses");
        let names: Vec<&Value> = documents.iter().map(|d| &d["metadata"]["name"]).collect();
        assert_eq!(names, ["checkout-test", "homepage-hero", "homepage-hero-2"]);
        let warnings = exported.warnings.join("\n");
        assert!(
            warnings.contains("2 experiences are named `homepage-hero`; exported as `homepage-hero` (uid x0), `homepage-hero-2` (uid x1)"),
            "{warnings}"
        );
        assert!(
            warnings.contains("2 audiences are named `gold-members`"),
            "{warnings}"
        );
        // The priority list follows the uid -> name choice.
        let project = &exported.files[&PathBuf::from("storefront/project.yaml")];
        assert!(
            project.contains("experienceOrder: [checkout-test, homepage-hero-2]"),
            "{project}"
        );
    }

    #[test]
    fn only_limits_projects_and_reports_unknown_names() {
        let mut other = storefront();
        other.project.name = "Other Shop!".to_owned();
        other.project.uid = "p2".to_owned();
        other.members = None;
        let live = state(vec![storefront(), other]);
        let exported = export(&live, &["Other Shop!".to_owned(), "missing".to_owned()]);
        let folders: BTreeSet<_> = exported
            .files
            .keys()
            .filter_map(|path| path.parent().map(|p| p.display().to_string()))
            .collect();
        assert_eq!(folders.into_iter().collect::<Vec<_>>(), ["other-shop"]);
        assert!(exported.warnings[0].contains("`missing` does not exist"));
        assert!(
            exported
                .warnings
                .iter()
                .any(|w| w.contains("`Other Shop!`: members were not exported")),
            "{:?}",
            exported.warnings
        );
        let project = &exported.files[&PathBuf::from("other-shop/project.yaml")];
        assert!(!project.contains("members"), "{project}");
        assert_eq!(export(&live, &[]).projects, 2);
    }

    #[test]
    fn colliding_folders_get_a_suffix() {
        let mut other = storefront();
        other.project.name = "storefront".to_owned();
        other.project.uid = "p2".to_owned();
        let exported = export(&state(vec![storefront(), other]), &[]);
        assert!(
            exported
                .files
                .contains_key(&PathBuf::from("storefront-2/project.yaml"))
        );
        assert!(
            exported
                .warnings
                .iter()
                .any(|w| w.contains("wrote `storefront-2`"))
        );
    }

    #[test]
    fn schema_line_is_configurable() {
        let live = state(vec![storefront()]);
        let none = export_with(&live, &[], &Options { schema: None });
        assert!(none.warnings.iter().all(|w| !w.contains("members")));
        assert!(
            none.files
                .values()
                .all(|text| text.starts_with("apiVersion: pzctl/v1\n"))
        );
        let default = export(&live, &[]);
        assert!(default.files.values().all(|text| text.starts_with(
            "# yaml-language-server: $schema=../../schemas/manifest.schema.json\napiVersion:"
        )));
    }

    #[test]
    fn experiences_without_variants_are_skipped_and_priority_left_unmanaged() {
        let mut project = storefront();
        project.experiences.push(experience(
            "x3",
            "fresh",
            "SEGMENTED",
            json!(["has space"]),
            vec![version("v9", "DRAFT", json!([]), json!({}))],
        ));
        project.priority.push("x3".to_owned());
        let exported = export(&state(vec![project]), &[]);
        let experiences = &exported.files[&PathBuf::from("storefront/experiences.yaml")];
        assert!(!experiences.contains("fresh"), "{experiences}");
        let project = &exported.files[&PathBuf::from("storefront/project.yaml")];
        assert!(!project.contains("experienceOrder"), "{project}");
        insta::assert_snapshot!(exported.warnings.join("\n"), @r"
        project `Storefront`: audience `lytics-vip` is synced from Lytics and has no rules; it was not exported (manifests cannot manage it)
        project `Storefront`: experience `fresh`: tag `has space` is not 1-32 letters, digits, `_`, `:` or `-`, so validate will reject it; rename it in the UI or edit the manifest
        project `Storefront`: experience `fresh` has no variants yet and manifests need at least one; it was not exported (add a variant in the UI and export again, or write its manifest by hand)
        project `Storefront`: experience `homepage-hero` has a draft version waiting alongside its active one; only the active version was exported (publish or discard the draft in the UI to export it)
        project `Storefront`: experience `homepage-hero`: variant `VIP` uses audience `lytics-vip`, which was not exported (synced from outside); the reference was left out, so plan will show a change
        project `Storefront`: experienceOrder was left out (priority stays unmanaged) because it includes experience `fresh`, which was not exported
        ");
    }

    #[test]
    fn output_is_deterministic_and_ignores_live_order() {
        let forward = storefront();
        let mut reversed = storefront();
        let mut lytics = reversed.audiences[1].clone();
        lytics.uid = "u0".to_owned();
        lytics.name = "another-lytics".to_owned();
        reversed.audiences.push(lytics.clone());
        let mut forward = forward;
        forward.audiences.insert(0, lytics);
        reversed.attributes.reverse();
        reversed.events.reverse();
        reversed.audiences.reverse();
        reversed.experiences.reverse();
        if let Some(members) = reversed.members.as_mut() {
            members.reverse();
        }
        assert_eq!(
            export(&state(vec![forward]), &[]),
            export(&state(vec![reversed]), &[])
        );
    }

    #[test]
    fn synced_audiences_take_no_name_and_dangling_references_are_dropped() {
        let mut project = storefront();
        // A Lytics audience with the same name as a rule-based one: no `-2` needed.
        project.audiences[1].name = "gold-members".to_owned();
        // Metrics and targeting pointing at objects that are gone.
        if let Some(version) = project.experiences[1].versions.first_mut() {
            version.metrics[1].event = "e-gone".to_owned();
            if let Some(audience) = version
                .targeting
                .as_mut()
                .and_then(|targeting| targeting.audience.as_mut())
            {
                audience.audiences.push("u-gone".to_owned());
            }
        }
        let exported = export(&state(vec![project]), &[]);
        let warnings = exported.warnings.join("\n");
        assert!(!warnings.contains("are named"), "{warnings}");
        assert!(
            warnings.contains("checkout-test`: metric event uid e-gone does not exist"),
            "{warnings}"
        );
        assert!(
            warnings.contains("checkout-test`: targeting uses audience uid u-gone"),
            "{warnings}"
        );
        let experiences = &exported.files[&PathBuf::from("storefront/experiences.yaml")];
        assert!(
            experiences.contains("    audiences: [gold-members]\n"),
            "{experiences}"
        );
        assert!(
            experiences.contains("  metrics: [add_to_cart]\n"),
            "{experiences}"
        );
        assert!(!experiences.contains("uid:"), "{experiences}");
    }

    #[test]
    fn slugs_are_folder_safe() {
        assert_eq!(slug("Storefront"), "storefront");
        assert_eq!(slug("  My  Shop / EU "), "my-shop-eu");
        assert_eq!(slug("…"), "project");
    }

    fn tricky() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ a-zA-Z0-9:#,\\-.\\[\\]{}'\"!&*?|>%@`~\\\\\n\t\r]{0,12}",
            prop::sample::select(vec![
                "yes",
                "NO",
                "Null",
                "~",
                "true",
                "off",
                ".inf",
                "-.Inf",
                ".NaN",
                "0x1F",
                "0o17",
                "1_000",
                "1e3",
                "+1",
                "2024-01-01",
                "<<",
                "=",
                "- a",
                "? a",
                "!tag",
                "&a",
                "*a",
                "%x",
                "@x",
                "`x",
                "'",
                "\"",
                "#",
                "a:",
                "::",
                "\u{85}",
                "\u{2028}",
                "\u{feff}x",
            ])
            .prop_map(str::to_owned),
        ]
    }

    proptest! {
        #[test]
        fn any_string_reads_back_unchanged(text in tricky()) {
            let document = format!("key: {}\nlist: {}\n", yaml_out::scalar(&text), yaml_out::flow(&json!([text, "x"])));
            let parsed: BTreeMap<String, Value> = serde_saphyr::from_str(&document)
                .map_err(|error| TestCaseError::fail(format!("{document:?}: {error}")))?;
            prop_assert_eq!(&parsed["key"], &Value::String(text.clone()), "{:?}", document);
            prop_assert_eq!(&parsed["list"], &json!([text, "x"]), "{:?}", document);
        }

        #[test]
        fn any_document_reads_back_unchanged(text in tricky(), other in tricky()) {
            let value = json!({
                "spec": {"key": text, "list": [text, other], "items": [{"name": other, "tags": [text]}]},
                "keyed": {text.clone(): other},
            });
            let document = yaml_out::document(&value);
            let parsed: Value = serde_saphyr::from_str(&document)
                .map_err(|error| TestCaseError::fail(format!("{document:?}: {error}")))?;
            prop_assert_eq!(parsed, value, "{:?}", document);
        }

        #[test]
        fn any_string_reads_back_as_a_typed_string(text in tricky()) {
            let document = format!("{}\n", yaml_out::scalar(&text));
            let parsed: String = serde_saphyr::from_str(&document)
                .map_err(|error| TestCaseError::fail(format!("{document:?}: {error}")))?;
            prop_assert_eq!(parsed, text);
        }
    }
}
