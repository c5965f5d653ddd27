//! One path at a time: whether `load` reads a file, and under which name, even for a file
//! that no longer exists (deleted in git); and which projects a file's documents belong to.
//!
//! Invariant: the answer is the loader's own selection (folders walked recursively without
//! hidden folders, `*.yaml` / `*.yml`, files named on the command line read whatever their
//! extension, `--include` / `--exclude` matched against the displayed name).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use super::{LoadConfig, display, is_manifest, yaml};

/// The file name of the workspace file at the root of a manifest tree.
pub const WORKSPACE_FILE: &str = "pzctl.yaml";

/// Deepest folder nesting the loader walks.
const MAX_DEPTH: usize = 64;

/// One of the configured paths.
#[derive(Clone, Debug)]
struct Root {
    /// As given (what displayed names start with).
    given: PathBuf,
    /// Absolute, symlinks resolved.
    canonical: PathBuf,
    folder: bool,
    /// Overlay folders of the root's workspace (canonical): files there belong to an
    /// environment, not to the base.
    overlays: Vec<(String, PathBuf)>,
}

/// The loader's file selection, asked about one absolute path at a time.
#[derive(Clone, Debug)]
pub struct Selection {
    roots: Vec<Root>,
    include: Option<globset::GlobSet>,
    exclude: Option<globset::GlobSet>,
}

impl Selection {
    /// The selection of `config`. Paths that do not exist and invalid globs select nothing
    /// here; `load` reports them.
    #[must_use]
    pub fn new(config: &LoadConfig) -> Selection {
        let roots = config
            .paths
            .iter()
            .filter_map(|given| {
                let canonical = std::fs::canonicalize(given).ok()?;
                let folder = canonical.is_dir();
                let overlays = if folder {
                    overlays_of(&canonical)
                } else {
                    Vec::new()
                };
                Some(Root {
                    given: given.clone(),
                    folder,
                    canonical,
                    overlays,
                })
            })
            .collect();
        let mut ignored = Vec::new();
        Selection {
            roots,
            include: super::globs(&config.include, &mut ignored),
            exclude: super::globs(&config.exclude, &mut ignored),
        }
    }

    /// The name `load` shows the file at `path` under, when it reads it for the base (no
    /// environment). `path` is absolute with its folders' symlinks resolved; the file itself
    /// need not exist.
    #[must_use]
    pub fn name_of(&self, path: &Path) -> Option<String> {
        self.name_in(path, None)
    }

    /// The name `load` shows the file at `path` under, when it reads it for environment `env`
    /// (`None`: the base): the base's files, and the files of that environment's overlays.
    #[must_use]
    pub fn name_in(&self, path: &Path, env: Option<&str>) -> Option<String> {
        self.roots.iter().find_map(|root| {
            let name = if root.folder {
                if root
                    .overlays
                    .iter()
                    .any(|(of, folder)| path.starts_with(folder) && Some(of.as_str()) != env)
                {
                    return None;
                }
                let rest = path.strip_prefix(&root.canonical).ok()?;
                if rest
                    .ancestors()
                    .skip(1)
                    .filter(|a| !a.as_os_str().is_empty())
                    .any(|a| is_workspace_tree(&root.canonical.join(a)))
                {
                    // Another manifest tree, read on its own.
                    return None;
                }
                let folders: Vec<Component<'_>> = rest.parent()?.components().collect();
                let walked = folders.len() <= MAX_DEPTH
                    && folders.iter().all(|c| match c {
                        Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
                        _ => false,
                    });
                if !walked || rest.as_os_str().is_empty() || !is_manifest(path) {
                    return None;
                }
                display(&root.given.join(rest))
            } else if root.canonical == path {
                display(&root.given)
            } else {
                return None;
            };
            let skipped = self.include.as_ref().is_some_and(|g| !g.is_match(&name))
                || self.exclude.as_ref().is_some_and(|g| g.is_match(&name));
            (!skipped).then_some(name)
        })
    }

    /// Whether `path` (absolute, as for [`Selection::name_of`]) is the workspace file at the
    /// root of one of the configured folders: its settings apply to every project.
    #[must_use]
    pub fn is_workspace_file(&self, path: &Path) -> bool {
        self.roots
            .iter()
            .any(|root| root.folder && path == root.canonical.join(WORKSPACE_FILE))
    }
}

/// Whether `folder` is the root of a manifest tree of its own: its `pzctl.yaml` is a
/// workspace file (`kind: Workspace`). A `pzctl.yaml` of manifests is an ordinary file.
#[must_use]
pub fn is_workspace_tree(folder: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(folder.join(WORKSPACE_FILE)) else {
        return false;
    };
    let (documents, _) = yaml::parse(&text);
    documents
        .first()
        .and_then(|doc| doc.value.get("kind"))
        .and_then(serde_json::Value::as_str)
        == Some("Workspace")
}

/// The overlay folders of the workspace file in `folder` (canonical), by environment.
fn overlays_of(folder: &Path) -> Vec<(String, PathBuf)> {
    let file = folder.join(WORKSPACE_FILE);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Vec::new();
    };
    let (workspace, _) = super::workspace::read(WORKSPACE_FILE, folder, &text);
    workspace
        .environments
        .values()
        .flat_map(|env| {
            env.overlays.iter().map(|(overlay, _)| {
                let path = folder.join(overlay);
                (
                    env.name.clone(),
                    std::fs::canonicalize(&path).unwrap_or(path),
                )
            })
        })
        .collect()
}

/// The projects the documents of one file belong to: the name of every `Project` document and
/// the `metadata.project` of every other one. Best effort: documents that do not parse or lack
/// these fields contribute nothing (the file is checked by `load` when it is read).
#[must_use]
pub fn projects_of(text: &str) -> BTreeSet<String> {
    let (documents, _) = yaml::parse(text);
    documents
        .iter()
        .filter_map(|doc| {
            let pointer = if doc.value.get("kind").and_then(|k| k.as_str()) == Some("Project") {
                "/metadata/name"
            } else {
                "/metadata/project"
            };
            doc.value.pointer(pointer)?.as_str().map(str::to_owned)
        })
        .collect()
}

/// Whether a manifest file may hold a document of one of `projects`, so that a run limited to
/// them (`--project`) must read it. `false` only when it certainly holds none: every document
/// names another project. A file that cannot be read as YAML, or has a document whose project
/// cannot be told (no `metadata.project`, not a mapping), may belong to any project.
///
/// Cheap first: a text that holds none of the names, literally, with nothing that could write
/// a name in other characters (a `\` escape, a `!!binary` scalar; names with spaces or `'`
/// could be folded or quoted, so they are never matched this way), names none of them. Only
/// the other files have their identity fields read ([`yaml::heads`]).
#[must_use]
pub fn may_belong(bytes: &[u8], projects: &BTreeSet<String>) -> bool {
    if bytes.len() > super::MAX_FILE_BYTES {
        return true;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return true;
    };
    let literal = !text.contains('\\')
        && !text.contains("!!binary")
        && !text.contains("tag:yaml.org,2002:binary");
    if literal
        && projects.iter().all(|name| {
            !name.is_empty()
                && !name.chars().any(|c| c.is_whitespace() || c == '\'')
                && !text.contains(name.as_str())
        })
    {
        return false;
    }
    match yaml::heads(text) {
        None => true,
        Some(heads) => heads.iter().any(|head| {
            head.project()
                .is_none_or(|project| projects.contains(project))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_of_reads_projects_and_metadata_project() {
        let text = "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: a}\n---\n\
                    apiVersion: pzctl/v1\nkind: Event\nmetadata: {name: e, project: b}\n---\n\
                    kind: Event\nmetadata: {name: f}\n---\n- not a mapping\n";
        let found: Vec<String> = projects_of(text).into_iter().collect();
        assert_eq!(found, ["a", "b"]);
        assert!(projects_of(": : [").is_empty());
    }

    #[test]
    fn a_file_belongs_to_a_selection_unless_it_certainly_names_other_projects() {
        let shop: BTreeSet<String> = ["shop".to_owned()].into();
        let may = |text: &str| may_belong(text.as_bytes(), &shop);
        let event = |project: &str| {
            format!(
                "apiVersion: pzctl/v1\nkind: Event\nmetadata: {{name: e, project: {project}}}\n"
            )
        };
        // Another project's: by the text alone, or by the identity fields.
        assert!(!may(&event("blog")));
        assert!(!may(&format!("# the shop is elsewhere\n{}", event("blog"))));
        assert!(!may(&event("\"bl\\x6fg\"")));
        // The selected project, however it is written.
        assert!(may(&event("shop")));
        assert!(may(&event("\"sh\\x6fp\"")));
        assert!(may(&format!("{}---\n{}", event("blog"), event("shop"))));
        assert!(may(
            "apiVersion: pzctl/v1\nkind: Project\nmetadata:\n  name: shop\n"
        ));
        assert!(may(
            "kind: Event\nmetadata: {name: e, project: !!binary c2hvcA==}\n"
        ));
        // Cannot tell: read it.
        assert!(may("kind: Event\nmetadata: {name: e, project: [shop\n"));
        assert!(may("kind: Event\nmetadata: {name: shop}\n"));
        assert!(may("- kind: Event\n  metadata: {name: e, project: shop}\n"));
        assert!(may(&format!(
            "{}---\nkind: Event\nmetadata: {{name: shop-x}}\n",
            event("blog")
        )));
        // Nothing in it can name the project, even a document that names none.
        assert!(!may(&format!("{}---\nkind: Event\n", event("blog"))));
        assert!(may_belong(&[0xff, 0xfe], &shop));
        let spaced: BTreeSet<String> = ["my shop".to_owned()].into();
        assert!(may_belong(
            b"kind: Event\nmetadata:\n  name: e\n  project: my\n    shop\n",
            &spaced
        ));
    }

    #[test]
    fn name_of_follows_the_loader() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        let canonical = std::fs::canonicalize(&root).expect("canonical");
        let config = LoadConfig {
            paths: vec![root.clone()],
            include: Vec::new(),
            exclude: vec!["**/skip-*.yaml".to_owned()],
        };
        let selection = Selection::new(&config);
        let shown = |rel: &str| selection.name_of(&canonical.join(rel));
        assert_eq!(
            shown("sub/gone.yaml"),
            Some(display(&root.join("sub/gone.yaml")))
        );
        assert!(shown("a.yml").is_some());
        assert_eq!(shown("notes.md"), None);
        assert_eq!(shown(".hidden/a.yaml"), None);
        assert_eq!(shown("sub/skip-me.yaml"), None);
        assert_eq!(selection.name_of(&dir.path().join("other.yaml")), None);
        assert!(selection.is_workspace_file(&canonical.join(WORKSPACE_FILE)));
        assert!(!selection.is_workspace_file(&canonical.join("sub").join(WORKSPACE_FILE)));
    }

    #[test]
    fn overlays_belong_to_their_environment_and_nested_trees_to_themselves() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        for folder in ["over/dev", "inner"] {
            std::fs::create_dir_all(root.join(folder)).expect("mkdir");
        }
        std::fs::write(
            root.join(WORKSPACE_FILE),
            "apiVersion: pzctl/v1\nkind: Workspace\nenvironments:\n  dev:\n    overlays: [over/dev]\n",
        )
        .expect("write");
        std::fs::write(root.join("inner").join(WORKSPACE_FILE), "kind: Workspace\n")
            .expect("write");
        let selection = Selection::new(&LoadConfig {
            paths: vec![root.clone()],
            ..LoadConfig::default()
        });
        let patch = root.join("over/dev/a.yaml");
        assert_eq!(selection.name_of(&patch), None);
        assert_eq!(selection.name_in(&patch, Some("prod")), None);
        assert_eq!(
            selection.name_in(&patch, Some("dev")),
            Some(display(&patch))
        );
        assert!(selection.name_of(&root.join("base.yaml")).is_some());
        assert_eq!(selection.name_of(&root.join("inner/a.yaml")), None);
    }
}
