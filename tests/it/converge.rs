//! Integration tests: convergence. For random desired organizations (written as manifest YAML
//! and loaded the way `pzctl` loads them) and random starting organizations (empty, or another
//! random desired state applied first), plan → apply → observe → plan again must give an EMPTY
//! plan, and apply must report no failure.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use pzctl::apply::{self, ApplyConfig, CancelToken, NoReporter};
use pzctl::live::{Api, Backend, observe};

use crate::support::StoreBackend;
use pzctl::manifest;
use pzctl::model::{DesiredState, LiveState};
use pzctl::plan::{self, PlanConfig};
use pzctl::store::{Limits, Store};
use pzctl::wire::{self, OrgRole};
use serde_json::{Value, json};

const OWNER: &str = "owner@example.com";

const ADMIN: &str = "admin@example.com";

fn org(actor: &'static str, members: bool) -> Arc<Api<StoreBackend>> {
    let users = [
        (OWNER, OrgRole::Owner),
        (ADMIN, OrgRole::Admin),
        ("dev@example.com", OrgRole::Member),
        ("member@example.com", OrgRole::Member),
    ]
    .iter()
    .map(|(email, role)| wire::User {
        email: (*email).to_owned(),
        organization_role: *role,
    })
    .collect();
    Arc::new(Api::new(StoreBackend {
        store: Arc::new(Mutex::new(Store::new("blt0rg", users, Limits::default()))),
        actor,
        members,
    }))
}

// ---------------------------------------------------------------------------------------------
// The generator: one random organization as manifest documents (JSON is YAML).

const PROJECTS: [&str; 4] = ["storefront", "blog", "docs", "shop"];
const ATTRIBUTES: [&str; 4] = ["tier", "age", "plan-type", "yes"];
const EVENTS: [&str; 3] = ["buy", "view", "add_to_cart"];
const AUDIENCES: [&str; 4] = ["gold", "silver", "null", "mobile-users"];
const EXPERIENCES: [&str; 4] = ["hero", "checkout", "Big Sale", "promo"];
const VARIANTS: [&str; 4] = ["A", "B", "Control", "Gold"];
const TAGS: [&str; 6] = ["env:prod", "Env:Prod", "hero", "HERO", "x", "ab_c"];
const TEXTS: [&str; 10] = [
    "",
    "hello",
    "yes",
    "a: b",
    "x #y",
    "ünïcode",
    "null",
    "1.5",
    " pad\n",
    "007",
];
const STATUSES: [&str; 3] = ["draft", "active", "paused"];
const STACKS: [&str; 2] = ["blt0123456789abcdef", "blt00000000000000ff"];
const CONTENT_TYPES: [&str; 3] = ["home_page", "banner", "product_2"];

/// A rule tree node before names are known: leaves pick an attribute by index (custom when the
/// project has attributes and `custom` is set), a condition, and a value seed.
#[derive(Clone, Debug)]
enum GenRule {
    Leaf {
        custom: bool,
        attribute: usize,
        condition: usize,
        value: (bool, i64, usize),
        negate: bool,
    },
    Group {
        all: bool,
        items: Vec<GenRule>,
    },
}

#[derive(Clone, Debug)]
struct GenExperience {
    name: usize,
    description: usize,
    status: u8,
    tags: Vec<usize>,
    /// Per variant: (name index, audience picks, match all?).
    variants: Vec<(usize, Vec<usize>, bool)>,
    /// Traffic split seed for A/B tests.
    split: u8,
    targeting: Option<(Vec<usize>, bool)>,
    metrics: Vec<usize>,
    /// `contentTypes` (written when the project connects a stack): None leaves them
    /// unmanaged.
    content_types: Option<Vec<usize>>,
}

/// owner@, dev@, member@: absent or owner?; dev's email in mixed case.
type GenMembers = (Option<bool>, Option<bool>, Option<bool>, bool);

#[derive(Clone, Debug)]
struct GenProject {
    name: usize,
    description: usize,
    stack: Option<usize>,
    /// None: members unmanaged; else (dev role, member role): None absent, Some(owner?).
    members: Option<GenMembers>,
    /// experienceOrder: bit 0 reverses, the rest drops some from the end.
    order: Option<u8>,
    prune: bool,
    /// (name index, key variant, description).
    attributes: Vec<(usize, bool, usize)>,
    events: Vec<(usize, usize)>,
    audiences: Vec<(usize, usize, GenRule)>,
    experiences: Vec<GenExperience>,
}

fn gen_rule() -> impl Strategy<Value = GenRule> {
    let leaf = (
        any::<bool>(),
        0usize..4,
        0..wire::MATCH_CONDITIONS.len(),
        (any::<bool>(), -50i64..50, 0usize..TEXTS.len()),
        any::<bool>(),
    )
        .prop_map(
            |(custom, attribute, condition, value, negate)| GenRule::Leaf {
                custom,
                attribute,
                condition,
                value,
                negate,
            },
        );
    leaf.prop_recursive(2, 8, 3, |inner| {
        (any::<bool>(), prop::collection::vec(inner, 1..3))
            .prop_map(|(all, items)| GenRule::Group { all, items })
    })
}

/// The top of an audience's rules is always a group.
fn gen_top_rule() -> impl Strategy<Value = GenRule> {
    (any::<bool>(), prop::collection::vec(gen_rule(), 1..3))
        .prop_map(|(all, items)| GenRule::Group { all, items })
}

fn gen_experience() -> impl Strategy<Value = GenExperience> {
    (
        (0usize..EXPERIENCES.len(), 0usize..TEXTS.len(), 0u8..3),
        prop::collection::vec(0usize..TAGS.len(), 0..4),
        prop::collection::vec(
            (
                0usize..VARIANTS.len(),
                prop::collection::vec(0usize..4, 1..3),
                any::<bool>(),
            ),
            1..4,
        ),
        any::<u8>(),
        prop::option::of((prop::collection::vec(0usize..4, 1..3), any::<bool>())),
        prop::collection::vec(0usize..3, 0..3),
        prop::option::of(prop::collection::vec(0usize..CONTENT_TYPES.len(), 0..3)),
    )
        .prop_map(
            |(
                (name, description, status),
                tags,
                variants,
                split,
                targeting,
                metrics,
                content_types,
            )| {
                GenExperience {
                    name,
                    description,
                    status,
                    tags,
                    variants,
                    split,
                    targeting,
                    metrics,
                    content_types,
                }
            },
        )
}

fn gen_project() -> impl Strategy<Value = GenProject> {
    (
        (
            0usize..PROJECTS.len(),
            0usize..TEXTS.len(),
            prop::option::of(0usize..STACKS.len()),
            prop::option::of((
                prop::option::weighted(0.8, any::<bool>()),
                prop::option::of(any::<bool>()),
                prop::option::of(any::<bool>()),
                any::<bool>(),
            )),
            prop::option::of(any::<u8>()),
            any::<bool>(),
        ),
        prop::collection::vec(
            (0usize..ATTRIBUTES.len(), any::<bool>(), 0usize..TEXTS.len()),
            0..5,
        ),
        prop::collection::vec((0usize..EVENTS.len(), 0usize..TEXTS.len()), 0..4),
        prop::collection::vec(
            (0usize..AUDIENCES.len(), 0usize..TEXTS.len(), gen_top_rule()),
            0..5,
        ),
        prop::collection::vec(gen_experience(), 0..5),
    )
        .prop_map(
            |(
                (name, description, stack, members, order, prune),
                attributes,
                events,
                audiences,
                experiences,
            )| GenProject {
                name,
                description,
                stack,
                members,
                order,
                prune,
                attributes,
                events,
                audiences,
                experiences,
            },
        )
}

fn gen_org() -> impl Strategy<Value = Vec<GenProject>> {
    prop::collection::vec(gen_project(), 1..4)
}

/// Per element: take `a`'s (true) or `b`'s; the longer list's tail comes from `b` when chosen.
fn mix_list<T: Clone>(a: &[T], b: &[T], mask: &mut impl Iterator<Item = bool>) -> Vec<T> {
    let mut out = Vec::new();
    for i in 0..a.len().max(b.len()) {
        let from_a = mask.next().unwrap_or(true);
        match (a.get(i), b.get(i), from_a) {
            (Some(x), _, true) | (None, Some(x), false) => out.push(x.clone()),
            (_, Some(y), false) => out.push(y.clone()),
            _ => {}
        }
    }
    out
}

/// A desired state close to `start`: each field (and list element) from `start` or `other`.
fn mix(start: &[GenProject], other: &[GenProject], mask: &[bool]) -> Vec<GenProject> {
    let mut mask = mask.iter().copied().cycle();
    let mut out = Vec::new();
    for (i, project) in start.iter().enumerate() {
        let Some(o) = other.get(i) else {
            if mask.next().unwrap_or(true) {
                out.push(project.clone());
            }
            continue;
        };
        let mut m = || mask.next().unwrap_or(true);
        let mut mixed = project.clone();
        if !m() {
            mixed.description = o.description;
        }
        if !m() {
            mixed.stack = o.stack;
        }
        if !m() {
            mixed.members = o.members;
        }
        if !m() {
            mixed.order = o.order;
        }
        if !m() {
            mixed.prune = o.prune;
        }
        mixed.attributes = mix_list(&project.attributes, &o.attributes, &mut mask);
        mixed.events = mix_list(&project.events, &o.events, &mut mask);
        mixed.audiences = mix_list(&project.audiences, &o.audiences, &mut mask);
        mixed.experiences = mix_list(&project.experiences, &o.experiences, &mut mask);
        out.push(mixed);
    }
    if out.is_empty() {
        out = other.to_vec();
    }
    out
}

/// (starting organization, desired organization): no start, an unrelated start, or a start the
/// desired state is a variation of (most updates come from those).
fn gen_case() -> impl Strategy<Value = (Option<Vec<GenProject>>, Vec<GenProject>)> {
    prop_oneof![
        1 => gen_org().prop_map(|desired| (None, desired)),
        1 => (gen_org(), gen_org()).prop_map(|(start, desired)| (Some(start), desired)),
        3 => (gen_org(), gen_org(), prop::collection::vec(any::<bool>(), 1..64)).prop_map(
            |(start, other, mask)| {
                let desired = mix(&start, &other, &mask);
                (Some(start), desired)
            }
        ),
    ]
}

/// Keep the first of each name (by index), in order.
fn unique_by<T>(items: &[T], key: impl Fn(&T) -> usize) -> Vec<&T> {
    let mut seen = std::collections::BTreeSet::new();
    items.iter().filter(|item| seen.insert(key(item))).collect()
}

fn pick<'a>(names: &[&'a str], picks: &[usize]) -> Vec<&'a str> {
    let mut chosen: Vec<&str> = Vec::new();
    for index in picks {
        let name = names[index % names.len()];
        if !chosen.contains(&name) {
            chosen.push(name);
        }
    }
    chosen
}

fn rule_json(rule: &GenRule, attributes: &[&str]) -> Value {
    match rule {
        GenRule::Group { all, items } => {
            let items: Vec<Value> = items.iter().map(|r| rule_json(r, attributes)).collect();
            if *all {
                json!({"all": items})
            } else {
                json!({"any": items})
            }
        }
        GenRule::Leaf {
            custom,
            attribute,
            condition,
            value: (is_number, number, text),
            negate,
        } => {
            let condition = wire::MATCH_CONDITIONS[*condition];
            let mut leaf = if *custom && !attributes.is_empty() {
                json!({"attribute": attributes[attribute % attributes.len()]})
            } else {
                let presets = wire::PRESET_ATTRIBUTES;
                json!({"preset": presets[attribute % presets.len()].0})
            };
            leaf["condition"] = json!(condition);
            if !wire::VALUELESS_CONDITIONS.contains(&condition) {
                // A value of the type the condition takes (`manifest::lower::condition_value`).
                use pzctl::manifest::lower::{ConditionValue, condition_value};
                let date = |offset: i64| {
                    let day = offset.rem_euclid(28) + 1;
                    format!("2026-{:02}-{day:02}", offset.rem_euclid(12) + 1)
                };
                leaf["value"] = match condition_value(condition) {
                    Some(ConditionValue::Number) => match text % 5 {
                        0 => json!(number),
                        1 => json!(*number as f64 + 0.5),
                        2 => json!(*number as f64),
                        3 => json!(number * 9_007_199_254_740),
                        _ => json!(*number as f64 / 10.0),
                    },
                    Some(ConditionValue::Json) => json!(format!("{{\"n\": {number}}}")),
                    Some(ConditionValue::StringList) => json!([TEXTS[*text]]),
                    Some(ConditionValue::Time) if *is_number => {
                        json!(format!("{}T09:30:00Z", date(*number)))
                    }
                    Some(ConditionValue::Time) => json!(date(*number)),
                    Some(ConditionValue::TimeRange) => {
                        json!([
                            date(*number),
                            format!("{}T23:59:59+02:00", date(*number + 1))
                        ])
                    }
                    Some(ConditionValue::String) | None => json!(TEXTS[*text]),
                };
            }
            if *negate {
                leaf["negate"] = json!(true);
            }
            leaf
        }
    }
}

/// (project index, experience index) pairs.
type Started = BTreeSet<(usize, usize)>;

/// The manifest documents of one generated organization, as one YAML stream, and which
/// experiences it declares active or paused. An experience of `started` (live and no longer a
/// draft) is declared paused instead of draft: going back to draft is refused by design.
/// The type of an experience follows its name (it cannot change either).
fn manifests(projects: &[GenProject], started: &Started, actor: &str) -> (String, Started) {
    let mut docs: Vec<Value> = Vec::new();
    let mut now_started = Started::new();
    for project in unique_by(projects, |p| p.name) {
        let p = PROJECTS[project.name];
        let attributes: Vec<&str> = unique_by(&project.attributes, |a| a.0)
            .iter()
            .map(|a| ATTRIBUTES[a.0])
            .collect();
        for (name, key, description) in unique_by(&project.attributes, |a| a.0) {
            let mut spec = json!({"description": TEXTS[*description]});
            if *key {
                spec["key"] = json!(format!("{}_key", ATTRIBUTES[*name].replace('-', "_")));
            }
            docs.push(json!({"apiVersion": "pzctl/v1", "kind": "Attribute",
                "metadata": {"name": ATTRIBUTES[*name], "project": p}, "spec": spec}));
        }
        let events: Vec<&str> = unique_by(&project.events, |e| e.0)
            .iter()
            .map(|e| EVENTS[e.0])
            .collect();
        for (name, description) in unique_by(&project.events, |e| e.0) {
            docs.push(json!({"apiVersion": "pzctl/v1", "kind": "Event",
                "metadata": {"name": EVENTS[*name], "project": p},
                "spec": {"description": TEXTS[*description]}}));
        }
        let audiences: Vec<&str> = unique_by(&project.audiences, |a| a.0)
            .iter()
            .map(|a| AUDIENCES[a.0])
            .collect();
        for (name, description, rules) in unique_by(&project.audiences, |a| a.0) {
            docs.push(json!({"apiVersion": "pzctl/v1", "kind": "Audience",
                "metadata": {"name": AUDIENCES[*name], "project": p},
                "spec": {"description": TEXTS[*description], "rules": rule_json(rules, &attributes)}}));
        }
        let mut experiences: Vec<&str> = Vec::new();
        for experience in unique_by(&project.experiences, |e| e.name) {
            let name = EXPERIENCES[experience.name];
            let segmented = experience.name % 2 == 0;
            if segmented && audiences.is_empty() {
                continue;
            }
            experiences.push(name);
            let mut status = usize::from(experience.status);
            if status == 0 && started.contains(&(project.name, experience.name)) {
                status = 2;
            }
            if status != 0 {
                now_started.insert((project.name, experience.name));
            }
            let mut spec = json!({
                "type": if segmented { "segmented" } else { "ab_test" },
                "description": TEXTS[experience.description],
                "status": STATUSES[status],
            });
            if !experience.tags.is_empty() {
                spec["tags"] = json!(experience.tags.iter().map(|t| TAGS[*t]).collect::<Vec<_>>());
            }
            let variants = unique_by(&experience.variants, |v| v.0);
            if segmented {
                spec["variants"] = json!(
                    variants
                        .iter()
                        .map(|(name, picks, all)| json!({
                            "name": VARIANTS[*name],
                            "audiences": pick(&audiences, picks),
                            "match": if *all { "all" } else { "any" },
                        }))
                        .collect::<Vec<_>>()
                );
            } else {
                let mut names: Vec<&str> = variants.iter().map(|v| VARIANTS[v.0]).collect();
                if names.len() < 2 {
                    names = vec!["Control", "Bold"];
                }
                let count = names.len() as u32;
                let first = 1 + u32::from(experience.split) % (101 - count);
                let rest = 100 - first;
                let share = rest / (count - 1);
                let list: Vec<Value> = names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let traffic = match i {
                            0 => first,
                            i if i as u32 == count - 1 => rest - share * (count - 2),
                            _ => share,
                        };
                        json!({"name": name, "traffic": traffic})
                    })
                    .collect();
                spec["variants"] = json!(list);
                if let Some((picks, all)) = &experience.targeting
                    && !audiences.is_empty()
                {
                    spec["targeting"] = json!({"audiences": pick(&audiences, picks),
                        "match": if *all { "all" } else { "any" }});
                }
                if !events.is_empty() && !experience.metrics.is_empty() {
                    spec["metrics"] = json!(pick(&events, &experience.metrics));
                }
            }
            if let (Some(content_types), Some(_)) = (&experience.content_types, project.stack) {
                let unique: BTreeSet<&str> =
                    content_types.iter().map(|i| CONTENT_TYPES[*i]).collect();
                spec["contentTypes"] = json!(unique);
            }
            docs.push(json!({"apiVersion": "pzctl/v1", "kind": "Experience",
                "metadata": {"name": name, "project": p}, "spec": spec}));
        }
        let mut spec = json!({"description": TEXTS[project.description]});
        if let Some(stack) = project.stack {
            spec["stack"] = json!(STACKS[stack]);
        }
        if let Some((first, dev, member, mixed_case)) = project.members {
            // The acting user created the project and stays an accepted owner: invited owners
            // stay pending here, and leaving no accepted owner is refused by design.
            let mut members = vec![json!({"email": actor, "role": "owner"})];
            let role = |owner: bool| if owner { "owner" } else { "member" };
            if let Some(owner) = first
                && actor != OWNER
            {
                members.push(json!({"email": OWNER, "role": role(owner)}));
            }
            if let Some(owner) = dev {
                let email = if mixed_case {
                    "Dev@Example.com"
                } else {
                    "dev@example.com"
                };
                members.push(json!({"email": email, "role": role(owner)}));
            }
            if let Some(owner) = member {
                members.push(json!({"email": "member@example.com", "role": role(owner)}));
            }
            spec["members"] = json!(members);
        }
        if let Some(seed) = project.order
            && !experiences.is_empty()
        {
            if seed % 2 == 1 {
                experiences.reverse();
            }
            // Sometimes only the first few are declared.
            let keep = experiences
                .len()
                .saturating_sub(usize::from(seed / 2 % 3))
                .max(1);
            experiences.truncate(keep);
            spec["experienceOrder"] = json!(experiences);
        }
        if project.prune {
            spec["prune"] = json!(true);
        }
        docs.insert(
            0,
            json!({"apiVersion": "pzctl/v1", "kind": "Project", "metadata": {"name": p}, "spec": spec}),
        );
    }
    let text = docs
        .iter()
        .map(|doc| format!("---\n{doc}\n"))
        .collect::<String>();
    (text, now_started)
}

// ---------------------------------------------------------------------------------------------
// The property.

/// With `allow_delete`, the user also asks (`--delete-project`) to delete the live projects the
/// manifests dropped: nothing else deletes a project.
fn plan_config(allow_delete: bool, desired: &DesiredState, live: &LiveState) -> PlanConfig {
    let delete_projects = if allow_delete {
        // A project a manifest renames (`previousNames`) is not dropped.
        let renamed: BTreeSet<&String> = desired
            .projects
            .values()
            .flat_map(|project| project.previous_names.values().flatten())
            .collect();
        live.projects
            .keys()
            .filter(|name| !desired.projects.contains_key(*name) && !renamed.contains(name))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    PlanConfig {
        allow_delete,
        delete_projects,
        max_deletions: 1000,
        ..PlanConfig::default()
    }
}

fn changes(plan: &plan::Plan) -> String {
    serde_json::to_string_pretty(&plan.changes).unwrap_or_default()
}

/// Load `text`, plan it against the organization, apply it, and return the observed result.
/// Errors describe what went wrong with everything needed to reproduce it.
async fn converge<B: Backend + 'static>(
    api: &Arc<Api<B>>,
    text: &str,
    allow_delete: bool,
) -> Result<LiveState, String> {
    converge_or_refuse(api, text, allow_delete, false)
        .await?
        .ok_or_else(|| "refused".to_owned())
}

/// [`converge`]; with `renames`, a first plan refused only because previous names match
/// several live objects (`ambiguous-rename`) is a valid outcome (`None`): it writes nothing.
async fn converge_or_refuse<B: Backend + 'static>(
    api: &Arc<Api<B>>,
    text: &str,
    allow_delete: bool,
    renames: bool,
) -> Result<Option<LiveState>, String> {
    let loaded = manifest::load_str("org.yaml", text);
    converge_loaded_or_refuse(api, &loaded, text, allow_delete, renames).await
}

/// [`converge`] of manifests already loaded (`text` describes them in errors).
async fn converge_loaded<B: Backend + 'static>(
    api: &Arc<Api<B>>,
    loaded: &manifest::Loaded,
    text: &str,
    allow_delete: bool,
) -> Result<LiveState, String> {
    converge_loaded_or_refuse(api, loaded, text, allow_delete, false)
        .await?
        .ok_or_else(|| "refused".to_owned())
}

/// [`converge_or_refuse`] of manifests already loaded.
async fn converge_loaded_or_refuse<B: Backend + 'static>(
    api: &Arc<Api<B>>,
    loaded: &manifest::Loaded,
    text: &str,
    allow_delete: bool,
    renames: bool,
) -> Result<Option<LiveState>, String> {
    if loaded.has_errors() {
        return Err(format!(
            "INVALID generated manifests:\n{}\n{text}",
            pzctl::diagnostic::render_text(&loaded.diagnostics, &loaded.sources, false)
        ));
    }
    let live = observe(api.as_ref(), None)
        .await
        .map_err(|e| format!("observe: {e}"))?;
    let planned = match plan::plan(
        &loaded.desired,
        &live,
        &plan_config(allow_delete, &loaded.desired, &live),
    ) {
        Ok(planned) => planned,
        Err(diagnostics)
            if renames
                && diagnostics
                    .iter()
                    .all(|d| d.code == pzctl::diagnostic::Code::AmbiguousRename) =>
        {
            if std::env::var_os("CONVERGE_STATS").is_some() {
                eprintln!("STATS refused: ambiguous rename");
            }
            return Ok(None);
        }
        Err(diagnostics) => {
            return Err(format!(
                "plan refused:\n{}\n{text}",
                pzctl::diagnostic::render_text(&diagnostics, &loaded.sources, false)
            ));
        }
    };
    let config = ApplyConfig {
        parallelism: 4,
        retry: pzctl::live::retry::RetryPolicy::fast().with_max_attempts(1),
    };
    let report = apply::apply(
        &planned,
        Arc::clone(api),
        &live,
        &config,
        CancelToken::new(),
        &mut NoReporter,
    )
    .await;
    if !report.is_success() {
        return Err(format!(
            "apply failed:\n{}\nplan:\n{}\n{text}",
            serde_json::to_string_pretty(&report).unwrap_or_default(),
            changes(&planned)
        ));
    }
    let after = observe(api.as_ref(), None)
        .await
        .map_err(|e| format!("observe: {e}"))?;
    let again = plan::plan(
        &loaded.desired,
        &after,
        &plan_config(allow_delete, &loaded.desired, &after),
    )
    .map_err(|diagnostics| {
        format!(
            "second plan refused:\n{}\n{text}",
            pzctl::diagnostic::render_text(&diagnostics, &loaded.sources, false)
        )
    })?;
    if std::env::var_os("CONVERGE_STATS").is_some() {
        let renamed = planned
            .changes
            .iter()
            .filter(|change| change.renamed_from.is_some() || !change.renamed_variants.is_empty())
            .count();
        eprintln!(
            "STATS {:?} {} renames {renamed}",
            planned.summary,
            live.projects.len()
        );
    }
    if !again.changes.is_empty() {
        return Err(format!(
            "the plan after apply is not empty:\n{}\nfirst plan:\n{}\n{text}",
            changes(&again),
            changes(&planned)
        ));
    }
    Ok(Some(after))
}

/// Give the documents of `text` random `previousNames` (and their variants too), as a user
/// who renamed things would: names of the kind that no document of the project uses, an
/// experience's only from experiences of its type. An experience that may take over a started
/// one is no draft (a started experience cannot go back to draft).
fn with_previous_names(text: &str, seed: u64, started: &Started) -> String {
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut docs: Vec<Value> = text
        .split("---\n")
        .filter(|part| !part.trim().is_empty())
        .filter_map(|part| serde_json::from_str(part.trim()).ok())
        .collect();
    let identity = |doc: &Value| {
        (
            doc["kind"].as_str().unwrap_or_default().to_owned(),
            doc["metadata"]["project"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    let declared: BTreeSet<(String, String, String)> = docs.iter().map(identity).collect();
    let mut listed: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut project_previous: std::collections::BTreeMap<String, Vec<String>> =
        std::collections::BTreeMap::new();
    for doc in &mut docs {
        let (kind, project, name) = identity(doc);
        let universe: Vec<&str> = match kind.as_str() {
            "Project" => PROJECTS.to_vec(),
            "Attribute" => ATTRIBUTES.to_vec(),
            "Event" => EVENTS.to_vec(),
            "Audience" => AUDIENCES.to_vec(),
            "Experience" => {
                let parity = EXPERIENCES.iter().position(|e| *e == name).unwrap_or(0) % 2;
                EXPERIENCES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % 2 == parity)
                    .map(|(_, e)| *e)
                    .collect()
            }
            _ => Vec::new(),
        };
        if next() % 3 != 0 {
            let mut previous = Vec::new();
            for _ in 0..1 + next() % 2 {
                let candidate = universe[(next() % universe.len() as u64) as usize];
                let key = (kind.clone(), project.clone(), candidate.to_owned());
                if candidate != name
                    && !declared.contains(&key)
                    && !listed.contains(&key)
                    && !previous.contains(&candidate)
                {
                    listed.insert(key);
                    previous.push(candidate);
                }
            }
            if !previous.is_empty() {
                doc["metadata"]["previousNames"] = json!(previous);
                if kind == "Project" {
                    project_previous.insert(
                        name.clone(),
                        previous.iter().map(|p| (*p).to_owned()).collect(),
                    );
                }
            }
        }
        if kind == "Experience"
            && let Some(variants) = doc["spec"]["variants"].as_array_mut()
        {
            let current: Vec<String> = variants
                .iter()
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect();
            let mut used: BTreeSet<String> = BTreeSet::new();
            for variant in variants.iter_mut() {
                if next() % 3 != 0 {
                    continue;
                }
                let pool = ["A", "B", "Control", "Gold", "Bold"];
                let candidate = pool[(next() % pool.len() as u64) as usize];
                if !current.iter().any(|c| c == candidate) && used.insert(candidate.to_owned()) {
                    variant["previousNames"] = json!([candidate]);
                }
            }
        }
    }
    // An experience that may take over a started one (in its project or one the project is
    // renamed from) is paused rather than a draft.
    for doc in &mut docs {
        let (kind, project, name) = identity(doc);
        if kind != "Experience" || doc["spec"]["status"] != json!("draft") {
            continue;
        }
        let mut projects = vec![project.clone()];
        projects.extend(project_previous.get(&project).cloned().unwrap_or_default());
        let mut names = vec![name.clone()];
        names.extend(
            doc["metadata"]["previousNames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str().map(str::to_owned)),
        );
        let index = |list: &[&str], wanted: &str| list.iter().position(|n| *n == wanted);
        let taken_over = projects.iter().any(|p| {
            names.iter().any(|n| {
                matches!((index(&PROJECTS, p), index(&EXPERIENCES, n)), (Some(p), Some(e)) if started.contains(&(p, e)))
            })
        });
        if taken_over {
            doc["spec"]["status"] = json!("paused");
        }
    }
    docs.iter().map(|doc| format!("---\n{doc}\n")).collect()
}

/// Edits "in the UI" between the two applies: for each seed, one live experience (by index)
/// gets a new draft version with its variants reversed and, for A/B tests, the traffic moved;
/// or its live versions are left alone.
async fn ui_edits<B: Backend + 'static>(api: &Api<B>, edits: &[usize]) -> Result<(), String> {
    let live = observe(api, None)
        .await
        .map_err(|e| format!("observe: {e}"))?;
    let experiences: Vec<(&str, &pzctl::model::LiveExperience)> = live
        .projects
        .values()
        .flat_map(|project| {
            project
                .experiences
                .iter()
                .map(move |experience| (project.project.uid.as_str(), experience))
        })
        .collect();
    if experiences.is_empty() {
        return Ok(());
    }
    let mut touched = BTreeSet::new();
    for seed in edits {
        let (project, experience) = experiences[seed % experiences.len()];
        if seed % 7 == 6 {
            // Make an event in the UI that no manifest declares: the plan lists it as
            // unmanaged, or deletes it where deletes are allowed, and converges either way.
            // Two edits may pick one key: what the API refuses is simply not made, and what it
            // allows twice is a live duplicate the plan leaves alone.
            let _ = api
                .create::<wire::Event>(
                    project,
                    &wire::EventInput {
                        key: format!("ui_made_{}", seed % 1000),
                        description: "made in the UI".to_owned(),
                    },
                )
                .await;
            continue;
        }
        if seed % 5 == 4 {
            // Reorder the project's experiences in the UI.
            if let Some(live_project) = live
                .projects
                .values()
                .find(|candidate| candidate.project.uid == project)
            {
                let mut order = live_project.priority.clone();
                order.reverse();
                api.put_priority(
                    project,
                    &wire::Priority {
                        priority_order: order,
                    },
                )
                .await
                .map_err(|e| format!("ui reorder: {e}"))?;
            }
            continue;
        }
        if !touched.insert(experience.experience.uid.clone()) {
            continue;
        }
        if seed % 5 == 3 {
            // Pause (or resume) the running version in the UI.
            let running = experience.versions.iter().find(|version| {
                matches!(
                    version.status,
                    wire::VersionStatus::Active | wire::VersionStatus::Paused
                )
            });
            if let Some(running) = running {
                let input = wire::VersionInput {
                    status: if running.status == wire::VersionStatus::Active {
                        wire::VersionStatus::Paused
                    } else {
                        wire::VersionStatus::Active
                    },
                    variants: running.variants.clone(),
                    metrics: running.metrics.clone(),
                    extra: wire::Extra::new(),
                    targeting: running.targeting.clone(),
                };
                api.update_version(project, &experience.experience.uid, &running.uid, &input)
                    .await
                    .map_err(|e| format!("ui pause of {}: {e}", experience.experience.name))?;
            }
            continue;
        }
        let Some(latest) = experience
            .versions
            .iter()
            .max_by(|a, b| a.updated_at.cmp(&b.updated_at))
        else {
            continue;
        };
        let mut variants = latest.variants.clone();
        variants.reverse();
        if seed % 2 == 0 {
            let count = variants.len();
            for (i, variant) in variants.iter_mut().enumerate() {
                if let wire::Variant::AbTest {
                    traffic_distribution,
                    ..
                } = variant
                {
                    *traffic_distribution = json!(if i == 0 { 100 - (count - 1) } else { 1 });
                }
            }
        }
        let input = wire::VersionInput {
            status: wire::VersionStatus::Draft,
            variants,
            metrics: latest.metrics.clone(),
            targeting: latest.targeting.clone(),
            extra: wire::Extra::new(),
        };
        let has_draft = experience
            .versions
            .iter()
            .any(|version| version.status == wire::VersionStatus::Draft);
        let result = if has_draft {
            let draft = experience
                .versions
                .iter()
                .find(|version| version.status == wire::VersionStatus::Draft)
                .map(|version| version.uid.clone())
                .unwrap_or_default();
            api.update_version(project, &experience.experience.uid, &draft, &input)
                .await
        } else {
            api.create_version(project, &experience.experience.uid, &input)
                .await
        };
        result.map_err(|e| format!("ui edit of {}: {e}", experience.experience.name))?;
    }
    Ok(())
}

/// How one case runs.
#[derive(Clone, Debug)]
struct Setup {
    /// The embedded organization on disk instead of the store in memory.
    embedded: bool,
    /// `--allow-delete` for the desired state (otherwise only `prune: true` projects delete).
    allow_delete: bool,
    /// In memory: act as the organization admin instead of the owner.
    admin: bool,
    /// In memory: like the hosted API, no members endpoint (manifests leave members out).
    hosted: bool,
    /// UI edits after the starting state (see [`ui_edits`]).
    edits: Vec<usize>,
    /// The desired documents list random previous names (see [`with_previous_names`]).
    renames: Option<u64>,
}

fn gen_setup() -> impl Strategy<Value = Setup> {
    (
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.15),
        prop_oneof![
            2 => Just(Vec::new()),
            1 => prop::collection::vec(any::<usize>(), 1..4),
        ],
        prop_oneof![
            1 => Just(None),
            1 => any::<u64>().prop_map(Some),
        ],
    )
        .prop_map(
            |(embedded, allow_delete, admin, hosted, edits, renames)| Setup {
                embedded,
                allow_delete,
                admin,
                hosted,
                edits,
                renames,
            },
        )
}

async fn run_on<B: Backend + 'static>(
    api: Arc<Api<B>>,
    actor: &str,
    setup: &Setup,
    start: Option<&[GenProject]>,
    desired: &[GenProject],
) -> Result<(), String> {
    let mut started = Started::new();
    if let Some(start) = start {
        let (text, now_started) = manifests(start, &Started::new(), actor);
        converge(&api, &text, true)
            .await
            .map_err(|e| format!("while applying the STARTING state: {e}"))?;
        started = now_started;
        ui_edits(&api, &setup.edits).await?;
    }
    // Live projects stay (a plan never deletes a project unless `--delete-project` names it,
    // whatever `--allow-delete` says): new ones only fit under the organization's limit.
    let mut desired = desired.to_vec();
    {
        let mut names: BTreeSet<usize> = start
            .unwrap_or_default()
            .iter()
            .map(|project| project.name)
            .collect();
        desired.retain(|project| {
            names.contains(&project.name)
                || (names.len() < wire::limits::PROJECTS_PER_ORG && names.insert(project.name))
        });
        if desired.is_empty() {
            return Ok(());
        }
    }
    let mut text = manifests(&desired, &started, actor).0;
    if let Some(seed) = setup.renames {
        text = with_previous_names(&text, seed, &started);
    }
    converge_or_refuse(&api, &text, setup.allow_delete, setup.renames.is_some())
        .await
        .map(drop)
}

fn run(setup: &Setup, start: Option<&[GenProject]>, desired: &[GenProject]) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        if setup.embedded {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let backend = pzctl::live::embedded::EmbeddedBackend::open_as(dir.path(), OWNER)
                .map_err(|e| e.to_string())?;
            run_on(Arc::new(Api::new(backend)), OWNER, setup, start, desired).await
        } else if setup.hosted {
            let strip = |projects: &[GenProject]| -> Vec<GenProject> {
                projects
                    .iter()
                    .cloned()
                    .map(|mut project| {
                        project.members = None;
                        project
                    })
                    .collect()
            };
            let start = start.map(strip);
            let actor = if setup.admin { ADMIN } else { OWNER };
            run_on(
                org(actor, false),
                actor,
                setup,
                start.as_deref(),
                &strip(desired),
            )
            .await
        } else {
            let actor = if setup.admin { ADMIN } else { OWNER };
            run_on(org(actor, true), actor, setup, start, desired).await
        }
    })
}

fn is_valid(projects: &[GenProject]) -> bool {
    !manifest::load_str("org.yaml", &manifests(projects, &Started::new(), OWNER).0).has_errors()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_plan_right_after_a_successful_apply_is_empty(
        (start, desired) in gen_case(),
        setup in gen_setup(),
    ) {
        prop_assume!(start.as_deref().is_none_or(is_valid));
        prop_assume!(is_valid(&desired));
        if let Err(message) = run(&setup, start.as_deref(), &desired) {
            prop_assert!(false, "{}", message);
        }
    }
}

#[test]
fn the_generator_writes_valid_manifests() {
    // The rejection rate must stay low, or the property tests little.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = gen_org();
    let mut valid = 0;
    for _ in 0..100 {
        let org = strategy.new_tree(&mut runner).expect("generate").current();
        if is_valid(&org) {
            valid += 1;
        } else {
            let (text, _) = manifests(&org, &Started::new(), OWNER);
            let loaded = manifest::load_str("org.yaml", &text);
            eprintln!(
                "{}",
                pzctl::diagnostic::render_text(&loaded.diagnostics, &loaded.sources, false)
            );
        }
    }
    assert!(
        valid >= 90,
        "only {valid} of 100 generated organizations validate"
    );
}

// ---------------------------------------------------------------------------------------------
// Environments: one random base, two random overlays, applied one after the other into one
// organization.

/// What one environment's overlay changes: the project's description, experiences' statuses
/// and tags (lists replace), an event only this environment has; and its stack value.
#[derive(Clone, Debug)]
struct GenEnv {
    description: Option<usize>,
    /// (experience index, status).
    statuses: Vec<(usize, u8)>,
    tags: Option<Vec<usize>>,
    extra_event: bool,
    stack: usize,
}

fn gen_env() -> impl Strategy<Value = GenEnv> {
    (
        prop::option::of(0usize..TEXTS.len()),
        prop::collection::vec((any::<usize>(), 0u8..3), 0..3),
        prop::option::of(prop::collection::vec(0usize..TAGS.len(), 0..3)),
        any::<bool>(),
        0usize..STACKS.len(),
    )
        .prop_map(|(description, statuses, tags, extra_event, stack)| GenEnv {
            description,
            statuses,
            tags,
            extra_event,
            stack,
        })
}

/// Write a manifest tree: `base/org.yaml` (the generated base, its stacks as
/// `${values.stack}`), one overlay folder per environment, and `pzctl.yaml` mapping every base
/// project `P` to `P-ENV`.
fn environment_tree(dir: &std::path::Path, base: &[GenProject], envs: &[(&str, &GenEnv)]) {
    let (text, _) = manifests(base, &Started::new(), OWNER);
    let mut docs: Vec<Value> = text
        .split("---\n")
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| serde_json::from_str(doc.trim()).expect("the generator writes JSON"))
        .collect();
    let mut projects = Vec::new();
    let mut experiences: Vec<(String, String)> = Vec::new();
    for doc in &mut docs {
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match doc["kind"].as_str() {
            Some("Project") => {
                if doc["spec"].get("stack").is_some() {
                    doc["spec"]["stack"] = json!("${values.stack}");
                }
                projects.push(name);
            }
            Some("Experience") => experiences.push((
                doc["metadata"]["project"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                name,
            )),
            _ => {}
        }
    }
    let write = |path: std::path::PathBuf, docs: &[Value]| {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
        let text: String = docs.iter().map(|doc| format!("---\n{doc}\n")).collect();
        std::fs::write(path, text).expect("write manifests");
    };
    write(dir.join("base/org.yaml"), &docs);
    let mut environments = serde_json::Map::new();
    for (env, overlay) in envs {
        let mut patches: Vec<Value> = Vec::new();
        for project in &projects {
            if let Some(description) = overlay.description {
                patches.push(json!({"apiVersion": "pzctl/v1", "kind": "Project",
                    "metadata": {"name": project}, "spec": {"description": TEXTS[description]}}));
            }
            if overlay.extra_event {
                patches.push(json!({"apiVersion": "pzctl/v1", "kind": "Event",
                    "metadata": {"name": format!("only_{env}"), "project": project},
                    "spec": {"description": format!("only in {env}")}}));
            }
        }
        let mut specs: std::collections::BTreeMap<usize, Value> = std::collections::BTreeMap::new();
        if !experiences.is_empty() {
            for (index, status) in &overlay.statuses {
                specs
                    .entry(index % experiences.len())
                    .or_insert_with(|| json!({}))["status"] = json!(STATUSES[usize::from(*status)]);
            }
            if let Some(tags) = &overlay.tags {
                let tags: Vec<&str> = tags.iter().map(|t| TAGS[*t]).collect();
                specs.entry(0).or_insert_with(|| json!({}))["tags"] = json!(tags);
            }
        }
        for (index, spec) in specs {
            let (project, name) = &experiences[index];
            patches.push(json!({"apiVersion": "pzctl/v1", "kind": "Experience",
                "metadata": {"name": name, "project": project}, "spec": spec}));
        }
        write(dir.join(format!("overlays/{env}/patch.yaml")), &patches);
        let renamed: serde_json::Map<String, Value> = projects
            .iter()
            .map(|project| (project.clone(), json!(format!("{project}-{env}"))))
            .collect();
        environments.insert(
            (*env).to_owned(),
            json!({"projects": renamed, "overlays": [format!("overlays/{env}")],
                "values": {"stack": {"type": "stackKey", "value": STACKS[overlay.stack]}}}),
        );
    }
    let workspace =
        json!({"apiVersion": "pzctl/v1", "kind": "Workspace", "environments": environments});
    std::fs::write(dir.join("pzctl.yaml"), format!("{workspace}\n")).expect("write pzctl.yaml");
}

/// Apply staging, then production, into one organization: each converges (a plan right after
/// its apply is empty), and applying production leaves staging as applied.
fn run_environments(
    base: &[GenProject],
    staging: &GenEnv,
    production: &GenEnv,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    environment_tree(
        dir.path(),
        base,
        &[("staging", staging), ("production", production)],
    );
    let config = manifest::LoadConfig {
        paths: vec![dir.path().to_path_buf()],
        ..manifest::LoadConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let users = [(OWNER, OrgRole::Owner), ("dev@example.com", OrgRole::Member), ("member@example.com", OrgRole::Member)]
            .iter()
            .map(|(email, role)| wire::User { email: (*email).to_owned(), organization_role: *role })
            .collect();
        let limits = Limits { projects_per_org: 2 * PROJECTS.len(), ..Limits::default() };
        let api = Arc::new(Api::new(StoreBackend {
            store: Arc::new(Mutex::new(Store::new("blt0rg", users, limits))),
            actor: OWNER,
            members: true,
        }));
        let mut loaded = Vec::new();
        for env in ["staging", "production"] {
            let one = manifest::load_env(&config, Some(env));
            let described = format!("environment {env} of the tree {base:#?}\nstaging {staging:#?}\nproduction {production:#?}");
            let after = converge_loaded(&api, &one, &described, false)
                .await
                .map_err(|e| format!("while applying {env}: {e}"))?;
            for project in one.desired.projects.keys() {
                if !project.ends_with(&format!("-{env}")) || !after.projects.contains_key(project) {
                    return Err(format!("{env}: project `{project}` is not live under its environment's name"));
                }
            }
            loaded.push((env, one, described));
        }
        // Production's apply left staging alone: staging still plans to no changes.
        let live = observe(api.as_ref(), None).await.map_err(|e| format!("observe: {e}"))?;
        for (env, one, described) in &loaded {
            let again = plan::plan(&one.desired, &live, &plan_config(false, &one.desired, &live))
                .map_err(|_| format!("{env}: the plan after both applies was refused\n{described}"))?;
            if !again.changes.is_empty() {
                return Err(format!(
                    "{env}: not converged after both environments were applied:\n{}\n{described}",
                    changes(&again)
                ));
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn environments_from_one_base_each_converge_and_leave_each_other_alone(
        base in gen_org(),
        staging in gen_env(),
        production in gen_env(),
    ) {
        prop_assume!(is_valid(&base));
        if let Err(message) = run_environments(&base, &staging, &production) {
            prop_assert!(false, "{}", message);
        }
    }
}
