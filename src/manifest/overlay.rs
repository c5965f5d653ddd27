//! Environments at the level of spanned YAML, before any schema check: overlay documents
//! patch, add to or remove base documents; `${values.NAME}` placeholders are filled in from
//! the environment's typed values; base project names become live ones.
//!
//! Patch rules: an overlay document patches the base document of the same kind, project and
//! name. Mappings merge by key (a `null` value removes the key); lists replace, except
//! `spec.variants` (keyed by `name`) and `spec.members` (keyed by `email`, compared
//! case-insensitively), whose items merge by that key (an item with `remove: true` removes
//! the base item). An overlay document with no base counterpart is added; one with
//! `metadata.remove: true` removes its base counterpart from the environment.
//!
//! Invariant: every node of a patched document keeps the position of the file that set it
//! (`Pos::file` names the overlay for the nodes it wrote), so diagnostics point at the line
//! that set the value. Nothing here panics on any input.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::workspace::{Env, TypedValue, ValueType};
use super::yaml::{self, Document, Pos, SpanMap};

/// A YAML node with its position, and the position of the key that holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub key_pos: Option<Pos>,
    pub kind: NodeKind,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Scalar(Value),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// A problem found while patching: where, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub pos: Pos,
    pub message: String,
    pub help: Option<String>,
}

impl Node {
    /// The tree of a parsed document; with `file`, every position names that file.
    #[must_use]
    pub fn from_document(doc: &Document, file: Option<&str>) -> Node {
        let file: Option<Arc<str>> = file.map(Arc::from);
        build(doc, &doc.value, "", &file)
    }

    /// The parsed document this tree is.
    #[must_use]
    pub fn into_document(self) -> Document {
        let mut spans = SpanMap::new();
        let start = self.pos.clone();
        let value = flatten(self, "", &mut spans);
        Document {
            value,
            spans,
            start,
            lazy: None,
        }
    }

    fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str_at(&self, key: &str) -> Option<&str> {
        match &self.get(key)?.kind {
            NodeKind::Scalar(Value::String(text)) => Some(text),
            _ => None,
        }
    }
}

fn build(doc: &Document, value: &Value, ptr: &str, file: &Option<Arc<str>>) -> Node {
    let tag = |mut pos: Pos| {
        if file.is_some() {
            pos.file.clone_from(file);
        }
        pos
    };
    let pos = tag(doc.pos(ptr));
    let key_pos = doc.spans.get(&format!("{ptr}#key")).cloned().map(tag);
    let kind = match value {
        Value::Array(items) => NodeKind::Seq(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| build(doc, item, &format!("{ptr}/{i}"), file))
                .collect(),
        ),
        Value::Object(map) => NodeKind::Map(
            map.iter()
                .map(|(key, item)| {
                    let child = format!("{ptr}/{}", yaml::escape(key));
                    (key.clone(), build(doc, item, &child, file))
                })
                .collect(),
        ),
        scalar => NodeKind::Scalar(scalar.clone()),
    };
    Node { pos, key_pos, kind }
}

fn flatten(node: Node, ptr: &str, spans: &mut SpanMap) -> Value {
    spans.insert(ptr.to_owned(), node.pos);
    if let Some(key_pos) = node.key_pos {
        spans.insert(format!("{ptr}#key"), key_pos);
    }
    match node.kind {
        NodeKind::Scalar(value) => value,
        NodeKind::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| flatten(item, &format!("{ptr}/{i}"), spans))
                .collect(),
        ),
        NodeKind::Map(entries) => {
            let mut map = serde_json::Map::new();
            for (key, item) in entries {
                let child = format!("{ptr}/{}", yaml::escape(&key));
                let value = flatten(item, &child, spans);
                map.insert(key, value);
            }
            Value::Object(map)
        }
    }
}

/// The key that items of the list at `ptr` merge by, when they merge rather than replace.
fn list_key(ptr: &str) -> Option<&'static str> {
    match ptr {
        "/spec/variants" => Some("name"),
        "/spec/members" => Some("email"),
        _ => None,
    }
}

fn same_key(field: &str, a: &str, b: &str) -> bool {
    if field == "email" {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn is_removal(node: &Node) -> bool {
    matches!(
        node.get("remove").map(|n| &n.kind),
        Some(NodeKind::Scalar(Value::Bool(true)))
    )
}

fn without_remove(mut node: Node) -> Node {
    if let NodeKind::Map(entries) = &mut node.kind {
        entries.retain(|(key, _)| key != "remove");
    }
    node
}

/// Patch `base` with `patch` (the node at `ptr`): mappings merge by key, a `null` removes a
/// key, keyed lists merge by their key, anything else is replaced.
pub fn merge(base: &mut Node, patch: Node, ptr: &str, problems: &mut Vec<Problem>) {
    match (&mut base.kind, patch.kind) {
        (NodeKind::Map(entries), NodeKind::Map(patches)) => {
            for (key, value) in patches {
                let child = format!("{ptr}/{}", yaml::escape(&key));
                let found = entries.iter().position(|(k, _)| *k == key);
                match (found, &value.kind) {
                    (Some(i), NodeKind::Scalar(Value::Null)) => {
                        entries.remove(i);
                    }
                    (None, NodeKind::Scalar(Value::Null)) => {}
                    (Some(i), _) => {
                        if let Some((_, slot)) = entries.get_mut(i) {
                            merge(slot, value, &child, problems);
                        }
                    }
                    (None, _) => entries.push((key, value)),
                }
            }
        }
        (NodeKind::Seq(items), NodeKind::Seq(patches)) if list_key(ptr).is_some() => {
            let field = list_key(ptr).unwrap_or("name");
            for item in patches {
                let Some(key) = item.str_at(field).map(str::to_owned) else {
                    problems.push(Problem {
                        pos: item.pos.clone(),
                        message: format!(
                            "an item of `{}` in an overlay needs `{field}`: items merge with the base's by `{field}`",
                            super::schema::display_path(ptr)
                        ),
                        help: None,
                    });
                    continue;
                };
                let found = items
                    .iter()
                    .position(|base| base.str_at(field).is_some_and(|k| same_key(field, k, &key)));
                match (found, is_removal(&item)) {
                    (Some(i), true) => {
                        items.remove(i);
                    }
                    (None, true) => problems.push(Problem {
                        pos: item.pos.clone(),
                        message: format!(
                            "removes `{key}` from `{}`, which the base does not list",
                            super::schema::display_path(ptr)
                        ),
                        help: None,
                    }),
                    (Some(i), false) => {
                        if let Some(slot) = items.get_mut(i) {
                            merge(slot, without_remove(item), &format!("{ptr}/{i}"), problems);
                        }
                    }
                    (None, false) => items.push(without_remove(item)),
                }
            }
        }
        (_, kind) => {
            base.kind = kind;
            base.pos = patch.pos;
            if patch.key_pos.is_some() {
                base.key_pos = patch.key_pos;
            }
        }
    }
}

/// The identity of a document: kind, project (empty for a project) and name.
pub type Identity = (String, String, String);

/// The identity of a document, when it has one.
#[must_use]
pub fn identity(node: &Node) -> Option<Identity> {
    let kind = node.str_at("kind")?;
    let metadata = node.get("metadata")?;
    let name = metadata.str_at("name")?;
    let project = if kind == "Project" {
        ""
    } else {
        metadata.str_at("project")?
    };
    Some((kind.to_owned(), project.to_owned(), name.to_owned()))
}

/// One overlay document: its file and its tree (positions tagged with the file).
#[derive(Clone, Debug)]
pub struct OverlayDoc {
    pub file: String,
    pub node: Node,
}

/// What happens to one overlay document.
#[derive(Debug)]
pub enum Outcome {
    /// It patched its base counterpart.
    Patched,
    /// It removed its base counterpart.
    Removed,
    /// No base document has its identity: it is added.
    Added(Node),
}

/// Apply one overlay document to the base documents (`(file, tree)`, `None` once removed).
pub fn apply(
    base: &mut [(String, Option<Node>)],
    overlay: OverlayDoc,
    environment: &str,
    problems: &mut Vec<Problem>,
) -> Option<Outcome> {
    let Some(id) = identity(&overlay.node) else {
        let what = if overlay.node.str_at("kind").is_none() {
            "`kind`"
        } else if overlay.node.str_at("kind") == Some("Project") {
            "`metadata.name`"
        } else {
            "`metadata.name` and `metadata.project`"
        };
        problems.push(Problem {
            pos: overlay.node.pos.clone(),
            message: format!(
                "an overlay document needs {what}: it patches the base document of the same kind, project and name"
            ),
            help: None,
        });
        return None;
    };
    let removal = overlay.node.get("metadata").is_some_and(is_removal);
    let target = base
        .iter()
        .position(|(_, node)| node.as_ref().and_then(identity).as_ref() == Some(&id));
    let (kind, project, name) = &id;
    let described = if project.is_empty() {
        format!("{kind} `{name}`")
    } else {
        format!("{kind} `{name}` of project `{project}`")
    };
    let mut node = overlay.node;
    if let NodeKind::Map(entries) = &mut node.kind {
        for (key, value) in entries.iter_mut() {
            if key == "metadata" {
                *value = without_remove(value.clone());
            }
        }
    }
    match (target, removal) {
        (Some(i), true) => {
            if node.get("spec").is_some() {
                problems.push(Problem {
                    pos: node.get("spec").map_or(node.pos.clone(), |s| {
                        s.key_pos.clone().unwrap_or_else(|| s.pos.clone())
                    }),
                    message: format!("this overlay removes {described}, so it takes no `spec`"),
                    help: Some("drop `spec`, or drop `remove: true` to patch it".to_owned()),
                });
            }
            if let Some(slot) = base.get_mut(i) {
                slot.1 = None;
            }
            Some(Outcome::Removed)
        }
        (None, true) => {
            problems.push(Problem {
                pos: node
                    .get("metadata")
                    .map_or(node.pos.clone(), |m| m.pos.clone()),
                message: format!(
                    "environment `{environment}` removes {described}, which no base manifest declares"
                ),
                help: None,
            });
            None
        }
        (Some(i), false) => {
            if let Some((_, Some(target))) = base.get_mut(i) {
                merge(target, node, "", problems);
            }
            Some(Outcome::Patched)
        }
        (None, false) => Some(Outcome::Added(node)),
    }
}

/// A problem with a placeholder: its code (`unresolved-value` or `mistyped-value`).
#[derive(Clone, Debug, PartialEq)]
pub struct ValueProblem {
    pub mistyped: bool,
    pub problem: Problem,
}

/// Where a `${` starts in `text` that is not escaped as `$${`.
fn unescaped(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'$' {
            if bytes[i + 1] == b'$' && bytes.get(i + 2) == Some(&b'{') {
                i += 3;
                continue;
            }
            if bytes[i + 1] == b'{' {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

/// The value name of a text that is exactly `${values.NAME}`.
fn reference(text: &str) -> Option<&str> {
    let name = text.strip_prefix("${values.")?.strip_suffix('}')?;
    (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then_some(name)
}

/// Fill in `${values.NAME}` placeholders of one document from `env` (none: no environment,
/// so every placeholder is unresolved), and turn `$${` into a literal `${`. Placeholders
/// are read in `spec` only, and stand for a whole YAML value.
pub fn resolve(doc: &mut Document, env: Option<&Env>) -> Vec<ValueProblem> {
    let mut found = Vec::new();
    collect_strings(&doc.value, "", &mut found);
    let mut problems = Vec::new();
    for pointer in found {
        let Some(Value::String(text)) = doc.value.pointer(&pointer) else {
            continue;
        };
        let text = text.clone();
        let pos = doc.pos(&pointer);
        let Some(at) = unescaped(&text) else {
            if let Some(slot) = doc.value.pointer_mut(&pointer) {
                *slot = Value::String(text.replace("$${", "${"));
            }
            continue;
        };
        let shown = placeholder_text(&text, at);
        let unresolved = |message: String, help: Option<String>| ValueProblem {
            mistyped: false,
            problem: Problem {
                pos: pos.clone(),
                message,
                help,
            },
        };
        let Some(env) = env else {
            problems.push(unresolved(
                format!("`{shown}` is not resolved: no environment provides values here"),
                Some(format!(
                    "declare the value in an environment of `{}` and use it as `${{values.NAME}}` with `--env NAME`; write `$${{` for a literal `${{`",
                    super::select::WORKSPACE_FILE
                )),
            ));
            continue;
        };
        if !pointer.starts_with("/spec/") {
            problems.push(unresolved(
                format!("`{shown}` is outside `spec`: values fill in `spec` fields only, never a document's identity"),
                Some("write `$${` for a literal `${`".to_owned()),
            ));
            continue;
        }
        let Some(name) = reference(&text) else {
            problems.push(unresolved(
                format!("`{shown}` is not resolved: a placeholder is the whole value and reads `${{values.NAME}}`"),
                Some("write `$${` for a literal `${`".to_owned()),
            ));
            continue;
        };
        let Some(value) = env.values.get(name) else {
            if env.mistyped.iter().any(|m| m == name) {
                // Its declaration is reported as mistyped already.
                continue;
            }
            let names: Vec<&str> = env.values.keys().map(String::as_str).collect();
            let help = crate::diagnostic::suggest(name, names.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .or_else(|| {
                    (!names.is_empty()).then(|| {
                        format!(
                            "values of environment `{}`: {}",
                            env.name,
                            crate::diagnostic::backticked(names.iter())
                        )
                    })
                });
            problems.push(unresolved(
                format!("environment `{}` has no value `{name}`", env.name),
                help,
            ));
            continue;
        };
        let stack = pointer == "/spec/stack"
            && doc.value.get("kind").and_then(Value::as_str) == Some("Project");
        if stack != (value.kind == ValueType::StackKey) {
            let message = if stack {
                format!(
                    "`spec.stack` takes a `stackKey` value; `{name}` of environment `{}` is declared `{}`",
                    env.name,
                    value.kind.as_str()
                )
            } else {
                format!(
                    "`{name}` of environment `{}` is a `stackKey` value, which only `spec.stack` of a project takes",
                    env.name
                )
            };
            problems.push(ValueProblem {
                mistyped: true,
                problem: Problem {
                    pos: pos.clone(),
                    message,
                    help: None,
                },
            });
            continue;
        }
        fill(doc, &pointer, value, &pos);
    }
    problems
}

/// The placeholder starting at byte `at` of `text`, for messages.
fn placeholder_text(text: &str, at: usize) -> String {
    let rest = &text[at..];
    let end = rest.find('}').map_or(rest.len(), |i| i + 1);
    rest[..end].chars().take(80).collect()
}

fn fill(doc: &mut Document, pointer: &str, value: &TypedValue, pos: &Pos) {
    if let Some(slot) = doc.value.pointer_mut(pointer) {
        *slot = value.value.clone();
    }
    if let Value::Array(items) = &value.value {
        for i in 0..items.len() {
            doc.spans.insert(format!("{pointer}/{i}"), pos.clone());
        }
    }
}

fn collect_strings(value: &Value, ptr: &str, out: &mut Vec<String>) {
    match value {
        Value::String(text) if text.contains("${") => out.push(ptr.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_strings(item, &format!("{ptr}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                collect_strings(item, &format!("{ptr}/{}", yaml::escape(key)), out);
            }
        }
        _ => {}
    }
}

/// Rename base projects to their live names in one document: a project's `metadata.name`,
/// anything else's `metadata.project`.
pub fn rename(doc: &mut Document, projects: &BTreeMap<String, (String, Pos)>) {
    let pointer = if doc.value.get("kind").and_then(Value::as_str) == Some("Project") {
        "/metadata/name"
    } else {
        "/metadata/project"
    };
    if let Some(slot) = doc.value.pointer_mut(pointer)
        && let Some(name) = slot.as_str()
        && let Some((live, _)) = projects.get(name)
    {
        *slot = Value::String(live.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str, file: Option<&str>) -> Node {
        let (docs, problems) = yaml::parse(text);
        assert!(problems.is_empty(), "{problems:?}");
        Node::from_document(&docs[0], file)
    }

    fn value(node: &Node) -> Value {
        node.clone().into_document().value
    }

    fn merged(base: &str, patch: &str) -> (Node, Vec<Problem>) {
        let mut base = node(base, None);
        let mut problems = Vec::new();
        merge(
            &mut base,
            node(patch, Some("overlay.yaml")),
            "",
            &mut problems,
        );
        (base, problems)
    }

    #[test]
    fn mappings_merge_by_key_and_null_removes() {
        let (out, problems) = merged(
            "spec: {stack: a, description: d, prune: true}\n",
            "spec: {stack: b, prune: null, tags: [x]}\n",
        );
        assert!(problems.is_empty());
        assert_eq!(
            value(&out),
            serde_json::json!({"spec": {"stack": "b", "description": "d", "tags": ["x"]}})
        );
    }

    #[test]
    fn lists_replace_unless_keyed() {
        let (out, _) = merged(
            "spec: {tags: [a, b], metrics: [m]}\n",
            "spec: {tags: [c]}\n",
        );
        assert_eq!(value(&out)["spec"]["tags"], serde_json::json!(["c"]));
        assert_eq!(value(&out)["spec"]["metrics"], serde_json::json!(["m"]));
    }

    #[test]
    fn variants_merge_by_name_and_members_by_email() {
        let (out, problems) = merged(
            "spec:\n  variants:\n    - {name: A, traffic: 50}\n    - {name: B, traffic: 50}\n  members:\n    - {email: o@x.com, role: owner}\n    - {email: d@x.com, role: member}\n",
            "spec:\n  variants:\n    - {name: B, traffic: 20}\n    - {name: C, traffic: 30}\n  members:\n    - {email: D@X.com, remove: true}\n    - {email: n@x.com, role: member}\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            value(&out)["spec"],
            serde_json::json!({
                "variants": [{"name": "A", "traffic": 50}, {"name": "B", "traffic": 20}, {"name": "C", "traffic": 30}],
                "members": [{"email": "o@x.com", "role": "owner"}, {"email": "n@x.com", "role": "member"}],
            })
        );
    }

    #[test]
    fn previous_names_merge_like_any_field_and_variants_stay_keyed_by_their_name() {
        // The base renamed variant `A` to `Alpha`; the environment's overlay patches `Alpha`
        // and gives the document previous names of its own.
        let (out, problems) = merged(
            "metadata:\n  name: hero\n  previousNames: [old-hero]\nspec:\n  variants:\n    - {name: Alpha, previousNames: [A], traffic: 50}\n    - {name: B, traffic: 50}\n",
            "metadata:\n  previousNames: [staging-hero]\nspec:\n  variants:\n    - {name: Alpha, traffic: 60}\n    - {name: B, traffic: 40, previousNames: [Bee]}\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            value(&out),
            serde_json::json!({
                "metadata": {"name": "hero", "previousNames": ["staging-hero"]},
                "spec": {"variants": [
                    {"name": "Alpha", "previousNames": ["A"], "traffic": 60},
                    {"name": "B", "traffic": 40, "previousNames": ["Bee"]},
                ]},
            })
        );
    }

    #[test]
    fn removing_an_unlisted_item_or_an_item_without_key_is_a_problem() {
        let (_, problems) = merged(
            "spec:\n  members:\n    - {email: o@x.com, role: owner}\n",
            "spec:\n  members:\n    - {email: z@x.com, remove: true}\n    - {role: member}\n",
        );
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].pos.line, 3);
        assert_eq!(problems[0].pos.file.as_deref(), Some("overlay.yaml"));
        assert!(problems[0].message.contains("z@x.com"));
        assert!(problems[1].message.contains("needs `email`"));
    }

    #[test]
    fn patched_nodes_keep_the_position_of_the_file_that_set_them() {
        let (out, _) = merged(
            "spec:\n  description: d\n  stack: a\n",
            "# comment\nspec:\n  stack: b\n",
        );
        let doc = out.into_document();
        let stack = doc.pos("/spec/stack");
        assert_eq!(
            (stack.line, stack.file.as_deref()),
            (3, Some("overlay.yaml"))
        );
        let description = doc.pos("/spec/description");
        assert_eq!((description.line, description.file), (2, None));
    }

    fn env(values: &[(&str, ValueType, Value)]) -> Env {
        Env {
            name: "staging".to_owned(),
            values: values
                .iter()
                .map(|(name, kind, value)| {
                    (
                        (*name).to_owned(),
                        TypedValue {
                            kind: *kind,
                            value: value.clone(),
                            pos: Pos::default(),
                        },
                    )
                })
                .collect(),
            ..Env::default()
        }
    }

    fn resolved(text: &str, env: Option<&Env>) -> (Value, Vec<ValueProblem>) {
        let (mut docs, _) = yaml::parse(text);
        let problems = resolve(&mut docs[0], env);
        (docs[0].value.clone(), problems)
    }

    #[test]
    fn placeholders_are_filled_with_typed_values() {
        let env = env(&[
            (
                "stack",
                ValueType::StackKey,
                serde_json::json!("blt0123456789abcdef"),
            ),
            ("tags", ValueType::List, serde_json::json!(["a", "b"])),
            ("share", ValueType::Integer, serde_json::json!(40)),
        ]);
        let (value, problems) = resolved(
            "kind: Project\nspec: {stack: '${values.stack}', tags: '${values.tags}', n: '${values.share}', text: 'cost $${x}'}\n",
            Some(&env),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            value["spec"],
            serde_json::json!({"stack": "blt0123456789abcdef", "tags": ["a", "b"], "n": 40, "text": "cost ${x}"})
        );
    }

    #[test]
    fn unresolved_and_mistyped_placeholders_are_problems_at_their_line() {
        let env = env(&[
            (
                "stagingStack",
                ValueType::StackKey,
                serde_json::json!("blt0123456789abcdef"),
            ),
            ("label", ValueType::String, serde_json::json!("x")),
        ]);
        let (_, problems) = resolved(
            "kind: Project\nmetadata: {name: '${values.label}'}\nspec:\n  stack: ${values.stagingStak}\n  description: ${values.stagingStack}\n  invitationMessage: hello ${values.label}\n",
            Some(&env),
        );
        let lines: Vec<(usize, bool)> = problems
            .iter()
            .map(|p| (p.problem.pos.line, p.mistyped))
            .collect();
        assert_eq!(lines, [(2, false), (4, false), (5, true), (6, false)]);
        assert_eq!(
            problems[1].problem.help.as_deref(),
            Some("did you mean `stagingStack`?")
        );
        let (_, problems) = resolved(
            "kind: Project\nspec:\n  stack: ${values.label}\n",
            Some(&env),
        );
        assert!(problems[0].mistyped);
    }

    #[test]
    fn without_an_environment_every_placeholder_is_unresolved() {
        let (value, problems) = resolved(
            "kind: Project\nspec: {stack: '${STAGING_STACK}', description: 'a $${b}'}\n",
            None,
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].problem.message.contains("`${STAGING_STACK}`"));
        assert_eq!(value["spec"]["description"], "a ${b}");
    }

    #[test]
    fn overlays_patch_add_and_remove() {
        let doc = |text: &str| node(text, None);
        let mut base = vec![
            (
                "a.yaml".to_owned(),
                Some(doc(
                    "kind: Event\nmetadata: {name: e, project: p}\nspec: {description: d}\n",
                )),
            ),
            (
                "a.yaml".to_owned(),
                Some(doc("kind: Event\nmetadata: {name: f, project: p}\n")),
            ),
        ];
        let overlay = |text: &str| OverlayDoc {
            file: "o.yaml".to_owned(),
            node: node(text, Some("o.yaml")),
        };
        let mut problems = Vec::new();
        let patched = apply(
            &mut base,
            overlay("kind: Event\nmetadata: {name: e, project: p}\nspec: {description: x}\n"),
            "staging",
            &mut problems,
        );
        assert!(matches!(patched, Some(Outcome::Patched)));
        let removed = apply(
            &mut base,
            overlay("kind: Event\nmetadata: {name: f, project: p, remove: true}\n"),
            "staging",
            &mut problems,
        );
        assert!(matches!(removed, Some(Outcome::Removed)));
        assert!(base[1].1.is_none());
        let added = apply(
            &mut base,
            overlay("kind: Event\nmetadata: {name: g, project: p}\n"),
            "staging",
            &mut problems,
        );
        assert!(matches!(added, Some(Outcome::Added(_))));
        assert!(problems.is_empty());
        let nothing = apply(
            &mut base,
            overlay("kind: Event\nmetadata: {name: h, project: p, remove: true}\n"),
            "staging",
            &mut problems,
        );
        assert!(nothing.is_none());
        assert!(problems[0].message.contains("no base manifest declares"));
        let first = base[0].1.clone().map(|n| n.into_document().value);
        assert_eq!(
            first,
            Some(
                serde_json::json!({"kind": "Event", "metadata": {"name": "e", "project": "p"}, "spec": {"description": "x"}})
            )
        );
    }
}
