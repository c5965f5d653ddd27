//! Lowering: typed raw documents -> `model::DesiredState`, plus the meaning checks that a
//! schema cannot express (names, references, sums, owners, limits). Best effort: whatever is
//! valid is lowered even when other parts have problems.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{Code, Diagnostic, Location, suggest};
use crate::manifest::raw;
use crate::manifest::workspace::{Limit, Limits};
use crate::manifest::yaml::{Document, Pos};
use crate::model::{
    self, AttributeRef, AttributeSpec, AudienceSpec, Combination, Condition, DesiredProject,
    DesiredState, EventSpec, ExperienceSpec, ExperienceType, Kind, MemberSpec, Origin, ProjectRole,
    Ref, RuleGroup, RuleNode, TargetingSpec, VariantSpec,
};
use crate::wire;

/// A document that passed the schema, typed.
#[derive(Debug)]
pub enum Typed {
    Project(raw::ProjectDocument),
    Attribute(raw::AttributeDocument),
    Event(raw::EventDocument),
    Audience(raw::AudienceDocument),
    Experience(raw::ExperienceDocument),
}

/// Who a typed document is: its `kind` (as written), name, project (`None` for a project)
/// and previous names.
struct Identity<'a> {
    kind: &'static str,
    name: &'a String,
    project: Option<&'a String>,
    previous_names: Option<&'a Vec<String>>,
}

impl Typed {
    fn identity(&self) -> Identity<'_> {
        match self {
            Typed::Project(d) => Identity {
                kind: "Project",
                name: &d.metadata.name,
                project: None,
                previous_names: d.metadata.previous_names.as_ref(),
            },
            Typed::Attribute(d) => Identity::resource("Attribute", &d.metadata),
            Typed::Event(d) => Identity {
                kind: "Event",
                name: &d.metadata.name,
                project: Some(&d.metadata.project),
                previous_names: d.metadata.previous_names.as_ref(),
            },
            Typed::Audience(d) => Identity::resource("Audience", &d.metadata),
            Typed::Experience(d) => Identity::resource("Experience", &d.metadata),
        }
    }
}

impl<'a> Identity<'a> {
    fn resource(kind: &'static str, metadata: &'a raw::ResourceMetadata) -> Self {
        Identity {
            kind,
            name: &metadata.name,
            project: Some(&metadata.project),
            previous_names: metadata.previous_names.as_ref(),
        }
    }
}

/// One parsed document with its file and spans; `typed` is `None` when the schema failed.
/// Once typed, the document keeps no JSON value (`doc.value` is null): read it through
/// `typed` (and [`Item::str_at`]).
#[derive(Debug)]
pub struct Item {
    pub file: String,
    pub doc: Document,
    pub typed: Option<Typed>,
}

impl Item {
    /// A text of the document: its identity (`/kind`, `/metadata/name`, `/metadata/project`)
    /// from the typed document when there is one (a checked document keeps no JSON value),
    /// anything else from the value.
    fn str_at(&self, pointer: &str) -> Option<&str> {
        if let Some(typed) = &self.typed {
            let id = typed.identity();
            match pointer {
                "/kind" => return Some(id.kind),
                "/metadata/name" => return Some(id.name),
                "/metadata/project" => return id.project.map(String::as_str),
                _ => {}
            }
        }
        self.doc.value.pointer(pointer).and_then(|v| v.as_str())
    }

    /// `metadata.previousNames`: from the typed document when there is one, else the value.
    fn previous_names(&self) -> Vec<&str> {
        match &self.typed {
            Some(typed) => (typed.identity().previous_names.into_iter().flatten())
                .map(String::as_str)
                .collect(),
            None => self
                .doc
                .value
                .pointer("/metadata/previousNames")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect(),
        }
    }
}

/// Names declared by any document (valid or not), so that one broken document does not
/// make every reference to it dangle: (project, kind) -> names.
#[derive(Debug, Default)]
struct Declared {
    projects: BTreeSet<String>,
    names: BTreeMap<(String, &'static str), BTreeSet<String>>,
    /// Names written in files that could not be parsed as YAML: a reference to one of them
    /// is a consequence of that file's error, not a problem of its own.
    unreadable: BTreeSet<String>,
    /// (project, kind) -> previous name -> the current name that lists it.
    previous: BTreeMap<(String, &'static str), BTreeMap<String, String>>,
}

impl Declared {
    fn has(&self, project: &str, kind: &'static str, name: &str) -> bool {
        self.names
            .get(&(project.to_owned(), kind))
            .is_some_and(|names| names.contains(name))
    }
    fn candidates(&self, project: &str, kind: &'static str) -> Vec<&str> {
        self.names
            .get(&(project.to_owned(), kind))
            .map(|names| names.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

struct Ctx<'a> {
    diagnostics: Vec<Diagnostic>,
    declared: &'a Declared,
    limits: &'a Limits,
    /// Counts above a default limit that `pzctl.yaml` does not raise, by limit and by what
    /// holds them (a project's, an experience's name), with the count and where the first
    /// one over the default is: reported together, in one warning.
    over_default: BTreeMap<(Limit, String), (usize, Location)>,
}

impl Ctx<'_> {
    /// Check `count` against `limit`. `holder` names what holds the counted things (e.g.
    /// "project `shop`"), `pos` is where to report. When `growing`, `count` goes up by one per
    /// call and the check fires once, when the limit is first exceeded; otherwise `count` is
    /// final. Above a declared limit, or above the API's maximum, is an error; above a default
    /// that `pzctl.yaml` does not raise is recorded for the one warning of the run.
    fn limit(
        &mut self,
        item: &Item,
        (pointer, key): (&str, bool),
        limit: Limit,
        count: usize,
        holder: &str,
        growing: bool,
    ) {
        let crossed = |threshold: usize| {
            if growing {
                count == threshold + 1
            } else {
                count > threshold
            }
        };
        let code = match limit {
            Limit::Projects => Code::TooManyProjects,
            Limit::Variants => Code::TooManyVariants,
            Limit::Rules => Code::TooManyRules,
            _ => Code::LimitExceeded,
        };
        let noun = limit.noun();
        let counted = if growing {
            format!("more than {}", count - 1)
        } else {
            count.to_string()
        };
        // Projects are counted in the organization: `holder` says which one is over.
        let over = |most: usize, whose: &str| match limit {
            Limit::Projects => format!("{holder}; {whose} {most} projects"),
            _ => format!(
                "{holder} has {counted} {noun}; {whose} {most} {noun} {}",
                limit.scope()
            ),
        };
        // Positions are looked up only for a problem (see `yaml::parse_lazy`).
        let pos = |item: &Item| {
            if key {
                item.doc.key_pos(pointer)
            } else {
                item.doc.pos(pointer)
            }
        };
        let (message, help) = match self.limits.declared(limit) {
            Some((declared, at)) => {
                if !crossed(declared) {
                    return;
                }
                let place = format!("{}:{}", at.file_or("pzctl.yaml"), at.line);
                (
                    over(
                        declared,
                        "the organization's limit, as `pzctl.yaml` declares it, is",
                    ),
                    Some(if declared < limit.maximum() {
                        format!(
                            "the limit is declared at {place}; if the organization's limit was raised further, raise it there too (the API allows at most {})",
                            limit.maximum()
                        )
                    } else {
                        format!("the limit is declared at {place}; the API allows no more")
                    }),
                )
            }
            None => {
                if crossed(limit.maximum()) {
                    (
                        over(limit.maximum(), "even a raised limit allows at most"),
                        Some(format!(
                            "the API's default is {}; Contentstack raises it on request to at most {}",
                            limit.default_value(),
                            limit.maximum()
                        )),
                    )
                } else {
                    if count > limit.default_value() && count <= limit.maximum() {
                        let holder = match limit {
                            Limit::Projects => "the organization",
                            _ => holder,
                        };
                        self.over_default
                            .entry((limit, holder.to_owned()))
                            .and_modify(|(seen, _)| *seen = (*seen).max(count))
                            .or_insert_with(|| (count, location(item, &pos(item))));
                    }
                    return;
                }
            }
        };
        let pos = pos(item);
        self.push(item, pos, code, message, help);
    }

    /// The one warning about default limits (see [`Ctx::limit`]), if any was exceeded.
    fn default_limits_warning(&self) -> Option<Diagnostic> {
        let first = self
            .over_default
            .values()
            .map(|(_, location)| location)
            .min_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)))?;
        let mut parts = Vec::new();
        let mut suggested = Vec::new();
        for limit in Limit::ALL {
            let holders: Vec<(&String, usize)> = self
                .over_default
                .iter()
                .filter(|((l, _), _)| *l == limit)
                .map(|((_, holder), (count, _))| (holder, *count))
                .collect();
            let Some(&(holder, most)) = holders.iter().max_by_key(|(_, count)| *count) else {
                continue;
            };
            let noun = limit.noun();
            let default = limit.default_value();
            parts.push(match (limit, holders.len()) {
                (Limit::Projects, _) => format!("{most} projects (default {default})"),
                (_, 1) => format!("{most} {noun} in {holder} (default {default})"),
                (_, n) => format!(
                    "up to {most} {noun} {} in {n} places, e.g. {holder} (default {default})",
                    limit.scope()
                ),
            });
            suggested.push(format!("{}: {most}", limit.key()));
        }
        let suggested = suggested.join(", ");
        let help = match &self.limits.file {
            Some(file) => format!(
                "apply fails unless the organization's limits were raised; if they were, declare the raised values under `limits:` in `{file}` (at least `{suggested}`)"
            ),
            None => format!(
                "apply fails unless the organization's limits were raised; if they were, declare them in a workspace file `pzctl.yaml` at the root of the tree (`apiVersion: pzctl/v1`, `kind: Workspace`, `limits:` with at least `{suggested}`)"
            ),
        };
        Some(
            Diagnostic::warning(
                Code::DefaultLimit,
                format!(
                    "the manifests exceed the API's default limits: {}",
                    parts.join("; ")
                ),
            )
            .at(first.clone())
            .with_help(Some(help)),
        )
    }

    fn push(&mut self, item: &Item, pos: Pos, code: Code, message: String, help: Option<String>) {
        self.diagnostics.push(
            Diagnostic::error(code, message)
                .at(location(item, &pos))
                .with_help(help),
        );
    }

    /// An error at the value `pointer` names; [`Ctx::push`] takes any position (a key's).
    fn at(
        &mut self,
        item: &Item,
        pointer: &str,
        code: Code,
        message: String,
        help: Option<String>,
    ) {
        let pos = item.doc.pos(pointer);
        self.push(item, pos, code, message, help);
    }

    /// Check a list of references at `pointer`: each resolves and none is listed twice (`place`
    /// ends that message, e.g. `` in `metrics` ``).
    fn references(
        &mut self,
        item: &Item,
        pointer: &str,
        project: &str,
        kind: &'static str,
        names: &[String],
        place: &str,
    ) {
        let mut seen = BTreeSet::new();
        for (i, name) in names.iter().enumerate() {
            let here = format!("{pointer}/{i}");
            if seen.insert(name.as_str()) {
                self.reference(item, &here, project, kind, name);
            } else {
                let message = format!("{kind} `{name}` is listed twice{place}");
                self.at(item, &here, Code::DuplicateReference, message, None);
            }
        }
    }

    /// Check a reference; returns whether it resolves.
    fn reference(
        &mut self,
        item: &Item,
        pointer: &str,
        project: &str,
        kind: &'static str,
        name: &str,
    ) -> bool {
        if self.declared.has(project, kind, name) {
            return true;
        }
        if self.declared.unreadable.contains(name) {
            return false;
        }
        let candidates = self.declared.candidates(project, kind);
        let renamed = self
            .declared
            .previous
            .get(&(project.to_owned(), kind))
            .and_then(|previous| previous.get(name));
        let help = renamed
            .map(|current| {
                format!(
                    "{kind} `{current}` was `{name}` (it lists `{name}` in `previousNames`); refer to it as `{current}`"
                )
            })
            .or_else(|| {
                suggest(name, candidates.iter().copied()).map(|s| format!("did you mean `{s}`?"))
            })
            .or_else(|| {
                (!candidates.is_empty()).then(|| {
                    format!(
                        "{kind}s in project `{project}`: {}",
                        crate::diagnostic::backticked(candidates.iter())
                    )
                })
            });
        self.at(
            item,
            pointer,
            Code::DanglingReference,
            format!("no {kind} named `{name}` in project `{project}`"),
            help,
        );
        false
    }
}

/// Where `pos` is in `item`'s file.
fn location(item: &Item, pos: &Pos) -> Location {
    Location::new(pos.file_or(&item.file), pos.line, pos.column).with_span(pos.offset, pos.len)
}

fn origin(item: &Item) -> Origin {
    origin_at(item, &item.doc.start)
}

/// Where `pos` is: in `item`'s file, or in the overlay file that put it there.
fn origin_at(item: &Item, pos: &Pos) -> Origin {
    Origin {
        file: pos.file_or(&item.file).to_owned(),
        line: pos.line,
        column: pos.column,
    }
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "Project" => "project",
        "Attribute" => "attribute",
        "Event" => "event",
        "Audience" => "audience",
        "Experience" => "experience",
        _ => "resource",
    }
}

/// Whether `text` is a valid attribute or event key (`raw::KEY_PATTERN`).
#[must_use]
pub fn is_key(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A loose email check: one `@`, a non-empty local part, a dotted domain, no spaces.
#[must_use]
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.split('.').count() >= 2
        && domain.split('.').all(|part| !part.is_empty())
}

/// Lower every item; returns the desired state and the meaning diagnostics.
pub fn lower(items: &[Item]) -> (DesiredState, Vec<Diagnostic>) {
    lower_with(items, BTreeSet::new(), &Limits::default())
}

/// Like [`lower`]; references to `unreadable` names (written in files whose YAML could not be
/// parsed) are not reported as dangling, their file's error is. Counts are checked against
/// `limits` (the organization's, as the workspace file declares them).
pub fn lower_with(
    items: &[Item],
    unreadable: BTreeSet<String>,
    limits: &Limits,
) -> (DesiredState, Vec<Diagnostic>) {
    let mut declared = Declared {
        unreadable,
        ..Declared::default()
    };
    for item in items {
        let (Some(kind), Some(name)) = (item.str_at("/kind"), item.str_at("/metadata/name")) else {
            continue;
        };
        if kind == "Project" {
            declared.projects.insert(name.to_owned());
        } else if let Some(project) = item.str_at("/metadata/project") {
            declared
                .names
                .entry((project.to_owned(), kind_label(kind)))
                .or_default()
                .insert(name.to_owned());
            for old in item.previous_names() {
                declared
                    .previous
                    .entry((project.to_owned(), kind_label(kind)))
                    .or_default()
                    .entry(old.to_owned())
                    .or_insert_with(|| name.to_owned());
            }
        }
    }
    let mut ctx = Ctx {
        diagnostics: Vec::new(),
        declared: &declared,
        limits,
        over_default: BTreeMap::new(),
    };
    let mut state = DesiredState::default();
    // first declaration of (project, kind, name); its place is looked up only for a duplicate,
    // so that documents without problems never need their positions.
    let mut seen: BTreeMap<(String, &'static str, String), &Item> = BTreeMap::new();

    // Projects first, so resources can attach to them.
    let mut project_count = 0usize;
    for item in items {
        let Some(Typed::Project(doc)) = &item.typed else {
            continue;
        };
        let name = doc.metadata.name.clone();
        if !check_duplicate(&mut seen, &mut ctx, item, "", "project", &name) {
            continue;
        }
        project_count += 1;
        ctx.limit(
            item,
            ("/metadata/name", false),
            Limit::Projects,
            project_count,
            &format!("project `{name}` is project number {project_count}"),
            true,
        );
        let mut project = lower_project(&mut ctx, item, doc);
        if let Some(previous) = &doc.metadata.previous_names {
            project.previous_names.insert(
                model::address(&name, Kind::Project, &name),
                previous.clone(),
            );
        }
        state.projects.insert(name, project);
    }

    for item in items {
        let Some(typed) = &item.typed else { continue };
        let id = typed.identity();
        let (kind, name) = (kind_label(id.kind), id.name);
        let Some(meta_project) = id.project else {
            continue;
        };
        if !declared.projects.contains(meta_project.as_str()) {
            if declared.unreadable.contains(meta_project.as_str()) {
                continue;
            }
            let candidates: Vec<&str> = declared.projects.iter().map(String::as_str).collect();
            let help = suggest(meta_project, candidates.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .or_else(|| Some("declare it with a `kind: Project` document".to_owned()));
            ctx.at(
                item,
                "/metadata/project",
                Code::DanglingReference,
                format!("no project named `{meta_project}`"),
                help,
            );
            continue;
        }
        if !check_duplicate(&mut seen, &mut ctx, item, meta_project, kind, name) {
            continue;
        }
        let project_name = meta_project.clone();
        let name = name.clone();
        let lowered = match typed {
            Typed::Project(_) => None,
            Typed::Attribute(d) => Some(Lowered::Attribute(AttributeSpec {
                key: match d.spec.as_ref().and_then(|s| s.key.clone()) {
                    Some(key) => key,
                    None => {
                        if !is_key(&name) {
                            ctx.at(
                                item,
                                "/metadata/name",
                                Code::InvalidKey,
                                format!("attribute `{name}` has no `spec.key`, and its name is not a valid key (1 to 64 letters, digits, `_` or `-`)"),
                                Some("set `spec.key`, e.g. `key: loyalty_tier`".to_owned()),
                            );
                        }
                        name.clone()
                    }
                },
                description: d
                    .spec
                    .as_ref()
                    .and_then(|s| s.description.clone())
                    .unwrap_or_default(),
            })),
            Typed::Event(d) => Some(Lowered::Event(EventSpec {
                key: name.clone(),
                description: d
                    .spec
                    .as_ref()
                    .and_then(|s| s.description.clone())
                    .unwrap_or_default(),
            })),
            Typed::Audience(d) => {
                lower_audience(&mut ctx, item, &project_name, d).map(Lowered::Audience)
            }
            Typed::Experience(d) => Some(Lowered::Experience(lower_experience(
                &mut ctx,
                item,
                &project_name,
                d,
            ))),
        };
        // The project failed the schema: references were checked, nothing to attach to.
        let Some(project) = state.projects.get_mut(&project_name) else {
            continue;
        };
        let (model_kind, count, limit) = match lowered {
            None => continue,
            Some(Lowered::Attribute(spec)) => {
                project.attributes.insert(name.clone(), spec);
                (Kind::Attribute, project.attributes.len(), Limit::Attributes)
            }
            Some(Lowered::Event(spec)) => {
                project.events.insert(name.clone(), spec);
                (Kind::Event, project.events.len(), Limit::Events)
            }
            Some(Lowered::Audience(spec)) => {
                project.audiences.insert(name.clone(), spec);
                (Kind::Audience, project.audiences.len(), Limit::Audiences)
            }
            Some(Lowered::Experience(spec)) => {
                project.experiences.insert(name.clone(), spec);
                (
                    Kind::Experience,
                    project.experiences.len(),
                    Limit::Experiences,
                )
            }
        };
        project.origins.insert(
            model::address(&project_name, model_kind, &name),
            origin(item),
        );
        record_previous_names(project, typed, &project_name, model_kind, &name);
        // From the typed document: its position is looked up only when it is there.
        if matches!(typed, Typed::Experience(d) if d.spec.content_types.is_some()) {
            project.origins.insert(
                model::content_types_origin(&model::address(&project_name, model_kind, &name)),
                origin_at(item, &item.doc.key_pos("/spec/contentTypes")),
            );
        }
        ctx.limit(
            item,
            ("/metadata/name", false),
            limit,
            count,
            &format!("project `{project_name}`"),
            true,
        );
    }

    // Attribute keys are the SDK's identity of an attribute: unique per project.
    let mut keys: BTreeMap<(String, String), String> = BTreeMap::new();
    for item in items {
        let Some(Typed::Attribute(doc)) = &item.typed else {
            continue;
        };
        let project = &doc.metadata.project;
        let Some(spec) = state
            .projects
            .get(project)
            .and_then(|p| p.attributes.get(&doc.metadata.name))
        else {
            continue;
        };
        if state
            .projects
            .get(project)
            .and_then(|p| {
                p.origins.get(&model::address(
                    project,
                    Kind::Attribute,
                    &doc.metadata.name,
                ))
            })
            .is_some_and(|o| o.file != item.file || o.line != item.doc.start.line)
        {
            continue; // a duplicate name, already reported
        }
        let key = (project.clone(), spec.key.clone());
        if let Some(first) = keys.get(&key) {
            let pointer = if item.doc.has("/spec/key") {
                "/spec/key"
            } else {
                "/metadata/name"
            };
            ctx.at(
                item,
                pointer,
                Code::DuplicateName,
                format!(
                    "attribute key `{}` is used by both `{first}` and `{}` in project `{project}`",
                    spec.key, doc.metadata.name
                ),
                Some(
                    "attribute keys must be unique in a project; set a different `spec.key`"
                        .to_owned(),
                ),
            );
        } else {
            keys.insert(key, doc.metadata.name.clone());
        }
    }

    // Content types live in the connected stack: checked once every project is known.
    for item in items {
        let Some(Typed::Experience(doc)) = &item.typed else {
            continue;
        };
        if doc.spec.content_types.is_none() {
            continue;
        }
        let project = &doc.metadata.project;
        if let Some(desired) = state.projects.get(project)
            && desired.stack.is_none()
        {
            ctx.push(item, item.doc.key_pos("/spec/contentTypes"),
                Code::ContentTypesWithoutStack,
                format!(
                    "experience `{}` links content types, but project `{project}` connects no stack",
                    doc.metadata.name
                ),
                Some("set `spec.stack` on the project to the stack's API key, or remove `contentTypes`".to_owned()),
            );
        }
    }

    // experienceOrder refers to experiences: checked once every experience is known.
    for item in items {
        let Some(Typed::Project(doc)) = &item.typed else {
            continue;
        };
        let Some(order) = &doc.spec.experience_order else {
            continue;
        };
        let (ptr, project) = ("/spec/experienceOrder", &doc.metadata.name);
        ctx.references(
            item,
            ptr,
            project,
            "experience",
            order,
            " in `experienceOrder`",
        );
    }

    check_previous_names(&mut ctx, items, &declared);

    let warning = ctx.default_limits_warning();
    let mut diagnostics = ctx.diagnostics;
    diagnostics.extend(warning);
    diagnostics
        .sort_by(|a, b| (a.file(), a.line(), a.column()).cmp(&(b.file(), b.line(), b.column())));
    (state, diagnostics)
}

/// Keep a resource's `metadata.previousNames` (and, for an experience, its variants'
/// `previousNames`) for the planner's renames in place.
fn record_previous_names(
    project: &mut DesiredProject,
    typed: &Typed,
    project_name: &str,
    kind: Kind,
    name: &str,
) {
    if let Some(previous) = typed
        .identity()
        .previous_names
        .filter(|previous| !previous.is_empty())
    {
        project
            .previous_names
            .insert(model::address(project_name, kind, name), previous.clone());
    }
    if let Typed::Experience(d) = typed {
        let variants: BTreeMap<String, Vec<String>> = d
            .spec
            .variants
            .iter()
            .filter_map(|variant| {
                let previous = variant.previous_names.as_ref()?;
                (!previous.is_empty()).then(|| (variant.name.clone(), previous.clone()))
            })
            .collect();
        if !variants.is_empty() {
            project
                .variant_previous_names
                .insert(name.to_owned(), variants);
        }
    }
}

/// `previousNames` must name objects no document is now, once: a previous name that is a
/// current name (of the document itself or another of its kind and project), or that two
/// entries list, would make the rename ambiguous. The same holds for the variants of one
/// experience.
fn check_previous_names(ctx: &mut Ctx, items: &[Item], declared: &Declared) {
    // (project, kind, previous name) -> where it was first listed.
    let mut listed: BTreeMap<(String, &'static str, String), String> = BTreeMap::new();
    for item in items {
        let Some(typed) = &item.typed else { continue };
        let id = typed.identity();
        let (kind, name) = (kind_label(id.kind), id.name);
        let project = id.project.map_or("", String::as_str);
        let scope = if kind == "project" {
            String::new()
        } else {
            format!(" in project `{project}`")
        };
        let is_current = |old: &str| {
            if kind == "project" {
                declared.projects.contains(old)
            } else {
                declared.has(project, kind, old)
            }
        };
        for (i, old) in id.previous_names.into_iter().flatten().enumerate() {
            let pointer = format!("/metadata/previousNames/{i}");
            if old == name {
                ctx.at(
                    item,
                    &pointer,
                    Code::PreviousNameConflict,
                    format!("{kind} `{name}` lists its own name in `previousNames`"),
                    Some(
                        "a previous name is a name the object no longer has; remove it".to_owned(),
                    ),
                );
                continue;
            }
            if is_current(old) {
                ctx.at(
                    item,
                    &pointer,
                    Code::PreviousNameConflict,
                    format!(
                        "`{old}`, a previous name of {kind} `{name}`, is the name of another {kind}{scope}"
                    ),
                    Some(format!(
                        "both would claim the live {kind} `{old}`; remove `{old}` from `previousNames`, or rename the other document (an environment's overlay that still patches `{old}` adds it back: rename the overlay document too)"
                    )),
                );
                continue;
            }
            let key = (project.to_owned(), kind, old.clone());
            let here = format!("{}:{}", item.file, item.doc.pos(&pointer).line);
            if let Some(first) = listed.get(&key) {
                ctx.at(
                    item,
                    &pointer,
                    Code::PreviousNameConflict,
                    format!("the previous name `{old}` is listed twice for {kind}s{scope}"),
                    Some(format!(
                        "first listed at {first}; one live {kind} can be renamed to one name only"
                    )),
                );
                continue;
            }
            listed.insert(key, here);
        }
        if let Typed::Experience(d) = typed {
            check_variant_previous_names(ctx, item, d);
        }
    }
}

fn check_variant_previous_names(ctx: &mut Ctx, item: &Item, doc: &raw::ExperienceDocument) {
    let experience = &doc.metadata.name;
    let current: BTreeSet<&str> = doc.spec.variants.iter().map(|v| v.name.as_str()).collect();
    let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, variant) in doc.spec.variants.iter().enumerate() {
        for (j, old) in variant.previous_names.iter().flatten().enumerate() {
            let pointer = format!("/spec/variants/{i}/previousNames/{j}");
            if old == &variant.name {
                ctx.at(
                    item,
                    &pointer,
                    Code::PreviousNameConflict,
                    format!(
                        "variant `{old}` of experience `{experience}` lists its own name in `previousNames`"
                    ),
                    Some("a previous name is a name the variant no longer has; remove it".to_owned()),
                );
            } else if current.contains(old.as_str()) {
                ctx.at(
                    item,
                    &pointer,
                    Code::PreviousNameConflict,
                    format!(
                        "`{old}`, a previous name of variant `{}`, is the name of another variant of experience `{experience}`",
                        variant.name
                    ),
                    Some(format!("remove `{old}` from `previousNames`")),
                );
            } else if let Some(first) = listed.get(old.as_str()) {
                let line = item.doc.pos(&format!("/spec/variants/{first}/name")).line;
                ctx.at(
                    item,
                    &pointer,
                    Code::PreviousNameConflict,
                    format!(
                        "the previous name `{old}` is listed twice in experience `{experience}`"
                    ),
                    Some(format!(
                        "first listed by the variant on line {line}; one live variant can keep its shortUid under one name only"
                    )),
                );
            } else {
                listed.insert(old, i);
            }
        }
    }
}

/// Whether `item` is the first declaration of its (project, kind, name); a later one is a
/// `duplicate-name` error pointing at the first.
fn check_duplicate<'a>(
    seen: &mut BTreeMap<(String, &'static str, String), &'a Item>,
    ctx: &mut Ctx,
    item: &'a Item,
    project: &str,
    kind: &'static str,
    name: &str,
) -> bool {
    let key = (project.to_owned(), kind, name.to_owned());
    if let Some(first) = seen.get(&key) {
        let first = format!(
            "{}:{}",
            first.file,
            first.doc.key_pos("/metadata/name").line
        );
        let scope = if kind == "project" {
            String::new()
        } else {
            format!(" in project `{project}`")
        };
        ctx.at(
            item,
            "/metadata/name",
            Code::DuplicateName,
            format!("{kind} `{name}` is declared twice{scope}"),
            Some(format!("first declared at {first}")),
        );
        return false;
    }
    seen.insert(key, item);
    true
}

enum Lowered {
    Attribute(AttributeSpec),
    Event(EventSpec),
    Audience(AudienceSpec),
    Experience(ExperienceSpec),
}

fn lower_project(ctx: &mut Ctx, item: &Item, doc: &raw::ProjectDocument) -> DesiredProject {
    let name = doc.metadata.name.clone();
    let spec = &doc.spec;
    let mut project = DesiredProject {
        name: name.clone(),
        spec: model::ProjectSpec {
            description: spec.description.clone().unwrap_or_default(),
        },
        stack: spec.stack.clone(),
        members: None,
        invitation_message: spec.invitation_message.clone(),
        experience_order: spec.experience_order.clone(),
        prune: spec.prune.unwrap_or(false),
        ..DesiredProject::default()
    };
    project
        .origins
        .insert(model::address(&name, Kind::Project, &name), origin(item));
    for (declared, kind, pointer) in [
        (project.stack.is_some(), Kind::StackLink, "/spec/stack"),
        (
            project.experience_order.is_some(),
            Kind::ExperienceOrder,
            "/spec/experienceOrder",
        ),
    ] {
        if declared {
            let origin = origin_at(item, &item.doc.key_pos(pointer));
            project
                .origins
                .insert(model::address(&name, kind, &name), origin);
        }
    }
    if let Some(members) = &spec.members {
        let mut list = Vec::new();
        let mut emails: BTreeMap<String, usize> = BTreeMap::new();
        for (i, member) in members.iter().enumerate() {
            let ptr = format!("/spec/members/{i}/email");
            let email = member.email.trim().to_lowercase();
            if !is_email(&email) {
                ctx.at(
                    item,
                    &ptr,
                    Code::InvalidEmail,
                    format!("`{}` is not an email address", member.email),
                    Some("expected something like `name@example.com`".to_owned()),
                );
                continue;
            }
            if let Some(first) = emails.get(&email) {
                let first_line = item.doc.pos(&format!("/spec/members/{first}/email")).line;
                ctx.at(
                    item,
                    &ptr,
                    Code::DuplicateMember,
                    format!("member `{email}` is listed twice in project `{name}`"),
                    Some(format!("first listed on line {first_line}; give each member one entry with one role")),
                );
                continue;
            }
            emails.insert(email.clone(), i);
            let role = member.role;
            let origin = origin_at(item, &item.doc.pos(&format!("/spec/members/{i}")));
            project
                .origins
                .insert(model::address(&name, Kind::Member, &email), origin);
            list.push(MemberSpec { email, role });
        }
        if !members.iter().any(|m| m.role == ProjectRole::Owner) {
            ctx.push(item, item.doc.key_pos("/spec/members"),
                Code::NoOwner,
                format!("project `{name}` lists its members but none has `role: owner`"),
                Some("a project needs at least one owner; add one, or remove `members` to leave members unmanaged".to_owned()),
            );
        }
        project.members = Some(list);
    }
    project
}

fn count_conditions(rules: &[raw::Rule]) -> usize {
    rules
        .iter()
        .map(|rule| match (&rule.all, &rule.any) {
            (Some(group), _) | (None, Some(group)) => count_conditions(group),
            (None, None) => 1,
        })
        .sum()
}

fn lower_audience(
    ctx: &mut Ctx,
    item: &Item,
    project: &str,
    doc: &raw::AudienceDocument,
) -> Option<AudienceSpec> {
    let rules = &doc.spec.rules;
    let (combination, list, key) = match (&rules.all, &rules.any) {
        (Some(list), None) => (Combination::All, list, "all"),
        (None, Some(list)) => (Combination::Any, list, "any"),
        _ => return None, // the schema (minProperties/maxProperties) reported it
    };
    let total = count_conditions(list);
    ctx.limit(
        item,
        ("/spec/rules", true),
        Limit::Rules,
        total,
        &format!("audience `{}`", doc.metadata.name),
        false,
    );
    let mut ok = true;
    let group = lower_group(
        ctx,
        item,
        project,
        combination,
        list,
        &format!("/spec/rules/{key}"),
        &mut ok,
    );
    ok.then(|| AudienceSpec {
        description: doc.spec.description.clone().unwrap_or_default(),
        rules: group,
    })
}

fn lower_group(
    ctx: &mut Ctx,
    item: &Item,
    project: &str,
    combination: Combination,
    rules: &[raw::Rule],
    ptr: &str,
    ok: &mut bool,
) -> RuleGroup {
    if rules.is_empty() {
        ctx.push(
            item,
            item.doc.key_pos(ptr),
            Code::InvalidRule,
            "a rule group must have at least one rule".to_owned(),
            None,
        );
        *ok = false;
    }
    let mut nodes = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let here = format!("{ptr}/{i}");
        if let Some(node) = lower_rule(ctx, item, project, rule, &here, ok) {
            nodes.push(node);
        }
    }
    RuleGroup {
        combination,
        rules: nodes,
    }
}

fn lower_rule(
    ctx: &mut Ctx,
    item: &Item,
    project: &str,
    rule: &raw::Rule,
    ptr: &str,
    ok: &mut bool,
) -> Option<RuleNode> {
    let is_condition = rule.attribute.is_some()
        || rule.preset.is_some()
        || rule.condition.is_some()
        || rule.value.is_some()
        || rule.negate.is_some();
    match (&rule.all, &rule.any) {
        (Some(_), Some(_)) => {
            ctx.at(
                item,
                ptr,
                Code::InvalidRule,
                "a rule group has both `all` and `any`; use one, and nest the other".to_owned(),
                None,
            );
            *ok = false;
            return None;
        }
        (Some(list), None) | (None, Some(list)) => {
            if is_condition {
                ctx.at(item, ptr, Code::InvalidRule, "a rule is either a group (`all`/`any`) or a condition (`attribute`/`preset` + `condition`), not both".to_owned(), None);
                *ok = false;
                return None;
            }
            let (combination, key) = if rule.all.is_some() {
                (Combination::All, "all")
            } else {
                (Combination::Any, "any")
            };
            return Some(RuleNode::Group(lower_group(
                ctx,
                item,
                project,
                combination,
                list,
                &format!("{ptr}/{key}"),
                ok,
            )));
        }
        (None, None) => {}
    }
    let attribute = match (&rule.attribute, &rule.preset) {
        (Some(_), Some(_)) => {
            ctx.at(
                item,
                ptr,
                Code::InvalidRule,
                "a condition has both `attribute` and `preset`; use one".to_owned(),
                None,
            );
            *ok = false;
            return None;
        }
        (Some(name), None) => {
            if !ctx.reference(
                item,
                &format!("{ptr}/attribute"),
                project,
                "attribute",
                name,
            ) {
                *ok = false;
            }
            AttributeRef::Custom(Ref::Name(name.clone()))
        }
        (None, Some(preset)) => AttributeRef::Preset(preset.clone()),
        (None, None) => {
            ctx.at(
                item,
                ptr,
                Code::InvalidRule,
                "a rule needs `attribute` or `preset` (a condition), or `all`/`any` (a group)"
                    .to_owned(),
                None,
            );
            *ok = false;
            return None;
        }
    };
    let Some(condition) = rule.condition.clone() else {
        *ok = false;
        return None; // the schema (dependentRequired) reported it
    };
    let valueless = wire::VALUELESS_CONDITIONS.contains(&condition.as_str());
    match (&rule.value, valueless) {
        (None, false) => {
            ctx.push(
                item,
                item.doc.key_pos(&format!("{ptr}/condition")),
                Code::ValueRequired,
                format!("condition `{condition}` needs a `value`"),
                None,
            );
            *ok = false;
        }
        (Some(_), true) => {
            ctx.push(
                item,
                item.doc.key_pos(&format!("{ptr}/value")),
                Code::ValueForbidden,
                format!("condition `{condition}` takes no `value`"),
                Some("remove `value`".to_owned()),
            );
            *ok = false;
        }
        (Some(value), false) => {
            if let Some(expected) = condition_value(&condition)
                && !expected.accepts(value)
            {
                ctx.at(
                    item,
                    &format!("{ptr}/value"),
                    Code::WrongConditionValue,
                    format!(
                        "condition `{condition}` takes {}; `value` is {}",
                        expected.describe(),
                        shown(value)
                    ),
                    Some(format!("for example `value: {}`", expected.example())),
                );
                *ok = false;
            }
        }
        (None, true) => {}
    }
    Some(RuleNode::Condition(Condition {
        attribute,
        condition,
        value: if valueless { None } else { rule.value.clone() },
        negate: rule.negate.unwrap_or(false),
    }))
}

/// `match:` defaults to `any`.
fn combination(value: Option<Combination>) -> Combination {
    value.unwrap_or(Combination::Any)
}

fn lower_experience(
    ctx: &mut Ctx,
    item: &Item,
    project: &str,
    doc: &raw::ExperienceDocument,
) -> ExperienceSpec {
    let spec = &doc.spec;
    let name = &doc.metadata.name;
    ctx.limit(
        item,
        ("/spec/variants", true),
        Limit::Variants,
        spec.variants.len(),
        &format!("experience `{name}`"),
        false,
    );
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut variants = Vec::new();
    let check_audiences = |ctx: &mut Ctx, list: &[String], ptr: &str| {
        ctx.references(item, ptr, project, "audience", list, "");
    };
    for (i, variant) in spec.variants.iter().enumerate() {
        let ptr = format!("/spec/variants/{i}");
        if let Some(first) = names.get(variant.name.as_str()) {
            ctx.at(
                item,
                &format!("{ptr}/name"),
                Code::DuplicateVariant,
                format!(
                    "variant `{}` appears twice in experience `{name}`",
                    variant.name
                ),
                Some(format!("first at variant {first}")),
            );
        } else {
            names.insert(&variant.name, i);
        }
        match spec.kind {
            ExperienceType::Segmented => {
                if variant.traffic.is_some() {
                    ctx.push(item, item.doc.key_pos(&format!("{ptr}/traffic")),
                        Code::FieldNotAllowed,
                        "`traffic` applies to A/B tests only; segmented variants are chosen by audience".to_owned(),
                        Some("remove `traffic`, or set `type: ab_test`".to_owned()),
                    );
                }
                let audiences = variant.audiences.clone().unwrap_or_default();
                if audiences.is_empty() {
                    ctx.at(
                        item,
                        &ptr,
                        Code::MissingAudiences,
                        format!("segmented variant `{}` has no audiences", variant.name),
                        Some("add `audiences: [AUDIENCE-NAME]`".to_owned()),
                    );
                }
                check_audiences(ctx, &audiences, &format!("{ptr}/audiences"));
                variants.push(VariantSpec::Segmented {
                    name: variant.name.clone(),
                    audiences: by_name(&audiences),
                    combination: combination(variant.combination),
                });
            }
            ExperienceType::AbTest => {
                for field in ["audiences", "match"] {
                    let present = if field == "audiences" {
                        variant.audiences.is_some()
                    } else {
                        variant.combination.is_some()
                    };
                    if present {
                        ctx.push(item, item.doc.key_pos(&format!("{ptr}/{field}")),
                            Code::FieldNotAllowed,
                            format!("`{field}` applies to segmented variants only; A/B tests split traffic"),
                            Some("to limit who takes part, use `spec.targeting`".to_owned()),
                        );
                    }
                }
                if variant.traffic.is_none() {
                    ctx.at(
                        item,
                        &ptr,
                        Code::MissingTraffic,
                        format!("A/B variant `{}` has no `traffic`", variant.name),
                        Some("add `traffic: PERCENT`; the variants sum to 100".to_owned()),
                    );
                }
                variants.push(VariantSpec::AbTest {
                    name: variant.name.clone(),
                    traffic: variant.traffic.unwrap_or(0),
                });
            }
        }
    }
    let mut targeting = None;
    match spec.kind {
        ExperienceType::Segmented => {
            if spec.targeting.is_some() {
                ctx.push(item, item.doc.key_pos("/spec/targeting"),
                    Code::FieldNotAllowed,
                    "`targeting` applies to A/B tests only; segmented variants target audiences themselves".to_owned(),
                    None,
                );
            }
        }
        ExperienceType::AbTest => {
            if spec.variants.len() < 2 {
                ctx.push(
                    item,
                    item.doc.key_pos("/spec/variants"),
                    Code::TooFewVariants,
                    format!(
                        "A/B test `{name}` has {} variant; it needs at least 2",
                        spec.variants.len()
                    ),
                    None,
                );
            }
            if spec.variants.iter().all(|v| v.traffic.is_some()) {
                let sum: u64 = spec
                    .variants
                    .iter()
                    .map(|v| u64::from(v.traffic.unwrap_or(0)))
                    .sum();
                if sum != 100 {
                    let detail = spec
                        .variants
                        .iter()
                        .map(|v| format!("{} {}", v.name, v.traffic.unwrap_or(0)))
                        .collect::<Vec<_>>()
                        .join(" + ");
                    ctx.push(
                        item,
                        item.doc.key_pos("/spec/variants"),
                        Code::TrafficSum,
                        format!("the traffic of A/B test `{name}` sums to {sum}, not 100"),
                        Some(format!("{detail} = {sum}")),
                    );
                }
            }
            if let Some(t) = &spec.targeting {
                check_audiences(ctx, &t.audiences, "/spec/targeting/audiences");
                targeting = Some(TargetingSpec {
                    audiences: by_name(&t.audiences),
                    combination: combination(t.combination),
                });
            }
        }
    }
    let metrics = spec.metrics.clone().unwrap_or_default();
    ctx.references(
        item,
        "/spec/metrics",
        project,
        "event",
        &metrics,
        " in `metrics`",
    );
    let mut tags = wire::normalize_tags(&spec.tags.clone().unwrap_or_default());
    tags.sort();
    let content_types = lower_content_types(ctx, item, spec.content_types.as_deref());
    ExperienceSpec {
        kind: spec.kind,
        description: spec.description.clone().unwrap_or_default(),
        tags,
        status: spec.status.unwrap_or_default(),
        variants,
        targeting,
        metrics: by_name(&metrics),
        content_types,
    }
}

/// `spec.contentTypes`: sorted, each UID once. A UID that does not match the pattern is the
/// schema's error (and left out here); restricted keywords and repeats are reported at their
/// item.
fn lower_content_types(
    ctx: &mut Ctx,
    item: &Item,
    content_types: Option<&[String]>,
) -> Option<Vec<String>> {
    let content_types = content_types?;
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, uid) in content_types.iter().enumerate() {
        let ptr = format!("/spec/contentTypes/{i}");
        if !raw::is_content_type_uid(uid) {
            continue;
        }
        if raw::RESTRICTED_CONTENT_TYPES.contains(&uid.as_str()) {
            ctx.at(
                item,
                &ptr,
                Code::InvalidContentType,
                format!(
                    "`{uid}` is a restricted keyword of the CMS; no content type has it as UID"
                ),
                None,
            );
            continue;
        }
        if let Some(first) = seen.get(uid.as_str()) {
            ctx.at(
                item,
                &ptr,
                Code::DuplicateContentType,
                format!("content type `{uid}` is listed twice in `contentTypes`"),
                Some(format!("first at item {first}")),
            );
            continue;
        }
        seen.insert(uid, i);
    }
    Some(seen.into_keys().map(str::to_owned).collect())
}

/// References by manifest name.
fn by_name(names: &[String]) -> Vec<Ref> {
    names.iter().cloned().map(Ref::Name).collect()
}

/// The value a match condition takes (`docs/manifests/audience.md` lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionValue {
    /// Any text.
    String,
    /// A number (a YAML number, not quoted).
    Number,
    /// JSON text (a string that parses as JSON).
    Json,
    /// A list of one or more strings.
    StringList,
    /// A time: an RFC 3339 date-time (`2026-03-01T09:00:00Z`) or a date (`2026-03-01`).
    Time,
    /// Two times, the start and the end.
    TimeRange,
}

/// The value `condition` takes; `None` for conditions that take none or are unknown (the
/// schema reports those).
#[must_use]
pub fn condition_value(condition: &str) -> Option<ConditionValue> {
    Some(match condition {
        "STRING_EQUALS" | "CONTAINS_SUBSTRING" => ConditionValue::String,
        "NUMBER_LESS_THAN" | "NUMBER_GREATER_THAN" | "NUMBER_EQUAL_TO" => ConditionValue::Number,
        "JSON_MATCH" => ConditionValue::Json,
        "IS_MEMBER_OF" => ConditionValue::StringList,
        "BEFORE_TIME" | "AFTER_TIME" => ConditionValue::Time,
        "BETWEEN_TIME" => ConditionValue::TimeRange,
        _ => return None,
    })
}

impl ConditionValue {
    /// Whether `value` is of this type.
    #[must_use]
    pub fn accepts(self, value: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (self, value) {
            (ConditionValue::String, Value::String(_))
            | (ConditionValue::Number, Value::Number(_)) => true,
            (ConditionValue::Json, Value::String(text)) => {
                serde_json::from_str::<Value>(text).is_ok()
            }
            (ConditionValue::StringList, Value::Array(items)) => {
                !items.is_empty() && items.iter().all(Value::is_string)
            }
            (ConditionValue::Time, Value::String(text)) => is_time(text),
            (ConditionValue::TimeRange, Value::Array(items)) => {
                items.len() == 2 && items.iter().all(|item| item.as_str().is_some_and(is_time))
            }
            _ => false,
        }
    }

    /// The type in words, as a diagnostic says it.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            ConditionValue::String => "a string",
            ConditionValue::Number => "a number",
            ConditionValue::Json => "JSON text (a string that parses as JSON)",
            ConditionValue::StringList => "a list of strings",
            ConditionValue::Time => {
                "a time: an RFC 3339 date-time such as `2026-03-01T09:00:00Z`, or a date such as `2026-03-01`"
            }
            ConditionValue::TimeRange => {
                "a list of two times (RFC 3339 date-times or dates), the start and the end"
            }
        }
    }

    /// A value of this type, as YAML.
    #[must_use]
    pub fn example(self) -> &'static str {
        match self {
            ConditionValue::String => "gold",
            ConditionValue::Number => "1000",
            ConditionValue::Json => r#"'{"plan": "pro"}'"#,
            ConditionValue::StringList => "[gold, platinum]",
            ConditionValue::Time => "2026-03-01T09:00:00Z",
            ConditionValue::TimeRange => "[2026-03-01T00:00:00Z, 2026-03-31T23:59:59Z]",
        }
    }
}

/// A value as a diagnostic shows it: its type, and short scalars themselves.
fn shown(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::String(text) if text.chars().count() <= 40 => format!("the string {text:?}"),
        Value::String(_) => "a string".to_owned(),
        Value::Number(number) => format!("the number {number}"),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Null => "empty (null)".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

/// An RFC 3339 date-time (`2026-03-01T09:00:00Z`, `2026-03-01T09:00:00.5+01:00`) or a date
/// (`2026-03-01`).
#[must_use]
pub fn is_time(text: &str) -> bool {
    fn digits(text: &str, count: usize) -> Option<u32> {
        (text.len() == count && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    }
    fn is_date(text: &str) -> bool {
        let mut parts = text.split('-');
        let (Some(year), Some(month), Some(day), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Some(year), Some(month), Some(day)) =
            (digits(year, 4), digits(month, 2), digits(day, 2))
        else {
            return false;
        };
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        (1..=days).contains(&day)
    }
    fn is_clock(text: &str) -> bool {
        let (clock, fraction) = text.split_once('.').unwrap_or((text, "0"));
        let mut parts = clock.split(':');
        let (Some(hour), Some(minute), Some(second), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        matches!(
            (digits(hour, 2), digits(minute, 2), digits(second, 2)),
            (Some(0..=23), Some(0..=59), Some(0..=60))
        ) && !fraction.is_empty()
            && fraction.bytes().all(|b| b.is_ascii_digit())
    }
    fn is_offset(text: &str) -> bool {
        let Some((hour, minute)) = text.split_once(':') else {
            return false;
        };
        matches!(
            (digits(hour, 2), digits(minute, 2)),
            (Some(0..=23), Some(0..=59))
        )
    }
    let Some((date, time)) = text.split_once(['T', 't']) else {
        return is_date(text);
    };
    if !is_date(date) {
        return false;
    }
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return is_clock(clock);
    }
    match time.rfind(['+', '-']) {
        Some(at) => is_clock(&time[..at]) && is_offset(&time[at + 1..]),
        None => false,
    }
}
