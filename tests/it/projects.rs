//! Integration tests: `pzctl projects`, the real binary on a scratch git repository: every
//! declared project, and with `--changed-since` only those a change since a ref touches
//! (changed, added, deleted, renamed and untracked files, files of two projects, the workspace
//! file), the JSON shape, and the errors (unknown ref, no repository, no git, invalid manifests).

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// Environment variables that would point git somewhere else than the scratch repository.
const GIT_ENV: [&str; 5] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_CEILING_DIRECTORIES",
];

/// A scratch git repository with manifests under `m/`.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo {
            dir: tempfile::tempdir().expect("create a temp dir"),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create folders");
        }
        std::fs::write(path, text).expect("write a file");
    }

    fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path().join(rel)).expect("remove a file");
    }

    fn git(&self, args: &[&str]) {
        let mut command = std::process::Command::new("git");
        command
            .args([
                "-c",
                "user.name=pzctl",
                "-c",
                "user.email=pzctl@example.com",
            ])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        for name in GIT_ENV {
            command.env_remove(name);
        }
        let out = command
            .output()
            .expect("git is installed (these tests need it)");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn commit(&self) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", "manifests"]);
    }

    /// `pzctl projects ARGS` run in the repository's top folder.
    fn projects(&self, args: &[&str]) -> Output {
        self.projects_in(self.path(), args)
    }

    fn projects_in(&self, dir: &Path, args: &[&str]) -> Output {
        let mut command = Command::cargo_bin("pzctl").expect("the pzctl binary is built");
        command
            .arg("projects")
            .args(args)
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("PZCTL_ENDPOINT");
        for name in GIT_ENV {
            command.env_remove(name);
        }
        command.output().expect("run pzctl")
    }

    /// The JSON array `pzctl projects m --format json ARGS` prints (it must succeed).
    fn listed(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["m", "--format", "json"];
        all.extend_from_slice(args);
        let out = self.projects(&all);
        assert!(
            out.status.success(),
            "pzctl projects {all:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json_names(&out)
    }

    fn changed(&self) -> Vec<String> {
        self.listed(&["--changed-since", "HEAD"])
    }
}

/// Stdout as a JSON array of strings: one line, sorted.
fn json_names(out: &Output) -> Vec<String> {
    let text = String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8");
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text:?}");
    let value: serde_json::Value = serde_json::from_str(&text).expect("stdout is JSON");
    let names: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("a JSON array: {text}"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("strings only: {text}"))
                .to_owned()
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted");
    names
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn project(name: &str) -> String {
    format!(
        "apiVersion: pzctl/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec: {{description: {name}}}\n"
    )
}

fn event(name: &str, project: &str) -> String {
    format!(
        "apiVersion: pzctl/v1\nkind: Event\nmetadata: {{name: {name}, project: {project}}}\nspec: {{}}\n"
    )
}

fn docs(parts: &[String]) -> String {
    parts.join("---\n")
}

/// Projects alpha, beta and gamma (gamma in a subfolder), an extra file of events per project,
/// and a file outside `m/`; all committed.
fn three_projects() -> Repo {
    let repo = Repo::new();
    for name in ["alpha", "beta"] {
        repo.write(&format!("m/{name}.yaml"), &project(name));
        repo.write(
            &format!("m/{name}-events.yaml"),
            &event(&format!("{name}_signup"), name),
        );
    }
    repo.write("m/gamma/project.yml", &project("gamma"));
    repo.write("m/gamma/events.yaml", &event("gamma_signup", "gamma"));
    repo.write("README.md", "manifests under m/\n");
    repo.write("other/delta.yaml", &project("delta"));
    repo.commit();
    repo
}

#[test]
fn lists_every_declared_project_sorted_in_text_and_json() {
    let repo = three_projects();
    let out = repo.projects(&["m"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha\nbeta\ngamma\n");
    assert_eq!(repo.listed(&[]), ["alpha", "beta", "gamma"]);
    // Two paths, and the loader's selection.
    let out = repo.projects(&["m", "other", "--format", "json"]);
    assert_eq!(json_names(&out), ["alpha", "beta", "delta", "gamma"]);
    assert_eq!(
        repo.listed(&["--exclude", "m/gamma/**", "--exclude", "m/*-events.yaml"]),
        ["alpha", "beta"]
    );
    assert_eq!(repo.listed(&["--project", "beta"]), ["beta"]);
}

#[test]
fn no_change_lists_nothing_as_an_empty_array() {
    let repo = three_projects();
    let out = repo.projects(&["m", "--format", "json", "--changed-since", "HEAD"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[]\n");
    let out = repo.projects(&["m", "--changed-since", "HEAD"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "text: nothing at all");
    assert!(stderr(&out).contains("0 of 3 projects"), "{}", stderr(&out));
}

#[test]
fn a_changed_file_touches_its_project() {
    let repo = three_projects();
    repo.write("m/beta-events.yaml", &event("beta_signup_renamed", "beta"));
    assert_eq!(repo.changed(), ["beta"]);
    // Staged or not makes no difference: the ref is compared with the working tree.
    repo.git(&["add", "-A"]);
    assert_eq!(repo.changed(), ["beta"]);
    // A committed change since an older ref.
    repo.git(&["commit", "-q", "-m", "beta"]);
    assert_eq!(repo.changed(), Vec::<String>::new());
    assert_eq!(repo.listed(&["--changed-since", "HEAD~1"]), ["beta"]);
}

#[test]
fn an_added_file_touches_its_project() {
    let repo = three_projects();
    repo.write("m/gamma/more.yaml", &event("gamma_buy", "gamma"));
    repo.git(&["add", "m/gamma/more.yaml"]);
    assert_eq!(repo.changed(), ["gamma"]);
}

#[test]
fn an_untracked_file_touches_its_project() {
    let repo = three_projects();
    repo.write("m/new.yaml", &event("alpha_buy", "alpha"));
    assert_eq!(repo.changed(), ["alpha"]);
    // Ignored files are not read by git's listing.
    let repo = three_projects();
    repo.write(".gitignore", "scratch.yaml\n");
    repo.commit();
    repo.write("m/scratch.yaml", &event("alpha_buy", "alpha"));
    assert_eq!(repo.changed(), Vec::<String>::new());
}

#[test]
fn a_deleted_file_touches_the_projects_it_declared_at_the_ref() {
    let repo = three_projects();
    repo.remove("m/alpha-events.yaml");
    assert_eq!(repo.changed(), ["alpha"]);
    repo.git(&["rm", "-q", "--cached", "m/alpha-events.yaml"]);
    assert_eq!(repo.changed(), ["alpha"]);
}

#[test]
fn a_renamed_file_touches_its_project() {
    // Renamed with git (staged) ...
    let repo = three_projects();
    repo.git(&["mv", "m/beta-events.yaml", "m/beta-signups.yaml"]);
    assert_eq!(repo.changed(), ["beta"]);
    // ... or in the working tree only (old path deleted, new path untracked).
    let repo = three_projects();
    std::fs::create_dir_all(repo.path().join("m/b")).expect("mkdir");
    std::fs::rename(
        repo.path().join("m/beta-events.yaml"),
        repo.path().join("m/b/events.yaml"),
    )
    .expect("rename");
    assert_eq!(repo.changed(), ["beta"]);
    // Renamed into the tree from outside it: the new file counts.
    let repo = three_projects();
    repo.write("notes/gamma-extra.yaml", &event("gamma_extra", "gamma"));
    repo.commit();
    repo.git(&["mv", "notes/gamma-extra.yaml", "m/gamma/extra.yaml"]);
    assert_eq!(repo.changed(), ["gamma"]);
}

#[test]
fn a_file_with_two_projects_touches_both() {
    let repo = three_projects();
    repo.write(
        "m/shared.yaml",
        &docs(&[event("alpha_share", "alpha"), event("gamma_share", "gamma")]),
    );
    repo.commit();
    repo.write(
        "m/shared.yaml",
        &docs(&[
            event("alpha_share", "alpha"),
            event("gamma_share", "gamma"),
            "# a comment\n".to_owned(),
        ]),
    );
    assert_eq!(repo.changed(), ["alpha", "gamma"]);
}

#[test]
fn a_document_moved_between_projects_touches_both() {
    let repo = three_projects();
    // beta-events.yaml now declares an event of alpha: beta lost one, alpha gained one.
    repo.write("m/beta-events.yaml", &event("beta_signup", "alpha"));
    assert_eq!(repo.changed(), ["alpha", "beta"]);
}

#[test]
fn files_the_loader_does_not_read_touch_nothing() {
    let repo = three_projects();
    repo.write("README.md", "changed\n");
    repo.write(
        "other/delta.yaml",
        &docs(&[project("delta"), "# x\n".to_owned()]),
    );
    repo.write("m/.hidden/alpha.yaml", &event("alpha_hidden", "alpha"));
    repo.write("m/notes.txt", "alpha\n");
    assert_eq!(repo.changed(), Vec::<String>::new());
    // An excluded file is not read, so its change touches nothing either.
    repo.write("m/alpha-events.yaml", &event("alpha_other", "alpha"));
    assert_eq!(
        repo.listed(&["--changed-since", "HEAD", "--exclude", "m/alpha-*"]),
        Vec::<String>::new()
    );
    assert_eq!(repo.changed(), ["alpha"]);
}

#[test]
fn the_workspace_file_touches_every_project() {
    let repo = three_projects();
    repo.write("m/pzctl.yaml", "apiVersion: pzctl/v1\nkind: Workspace\n");
    repo.commit();
    repo.remove("m/pzctl.yaml");
    assert_eq!(repo.changed(), ["alpha", "beta", "gamma"]);
    // Only at the root of a PATH folder: `pzctl.yaml` in a subfolder is an ordinary file.
    let repo = three_projects();
    repo.write("m/gamma/pzctl.yaml", &event("gamma_ws", "gamma"));
    assert_eq!(repo.changed(), ["gamma"]);
}

#[test]
fn paths_are_relative_to_where_pzctl_runs() {
    let repo = three_projects();
    repo.write("m/gamma/events.yaml", &event("gamma_signup_2", "gamma"));
    let out = repo.projects_in(
        &repo.path().join("m"),
        &["--changed-since", "HEAD", "--format", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_names(&out), ["gamma"]);
    let out = repo.projects_in(
        &repo.path().join("m/gamma"),
        &[".", "../alpha.yaml", "--changed-since", "HEAD"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "gamma\n");
}

#[test]
fn an_unknown_ref_is_an_error() {
    let repo = three_projects();
    let out = repo.projects(&["m", "--changed-since", "no-such-branch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("unknown git ref `no-such-branch`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn outside_a_repository_or_without_git_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = Repo {
        dir: tempfile::tempdir_in(dir.path()).expect("temp dir"),
    };
    plain.write("m/alpha.yaml", &project("alpha"));
    // GIT_CEILING_DIRECTORIES stops git from finding a repository above the temp dir.
    let out = Command::cargo_bin("pzctl")
        .expect("the pzctl binary is built")
        .args(["projects", "m", "--changed-since", "HEAD"])
        .current_dir(plain.path())
        .env("GIT_CEILING_DIRECTORIES", dir.path())
        .env_remove("GIT_DIR")
        .output()
        .expect("run pzctl");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not in a git repository"),
        "{}",
        stderr(&out)
    );
    // Listing without --changed-since needs no git.
    let no_git = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| {
        Command::cargo_bin("pzctl")
            .expect("the pzctl binary is built")
            .arg("projects")
            .args(args)
            .current_dir(plain.path())
            .env("PATH", no_git.path())
            .output()
            .expect("run pzctl")
    };
    let out = run(&["m", "--changed-since", "HEAD"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("git is not installed or not on PATH"),
        "{}",
        stderr(&out)
    );
    let out = run(&["m"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha\n");
}

#[test]
fn invalid_manifests_list_nothing_and_fail() {
    let repo = three_projects();
    repo.write("m/beta-events.yaml", &event("beta_signup", "betta"));
    for args in [&["m"][..], &["m", "--changed-since", "HEAD"]] {
        let out = repo.projects(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let text = stderr(&out);
        assert!(text.contains("dangling-reference"), "{text}");
        assert!(text.contains("m/beta-events.yaml"), "{text}");
    }
}

#[test]
fn an_undeclared_project_is_an_error() {
    let repo = three_projects();
    let out = repo.projects(&["m", "--project", "omega"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`omega`"), "{}", stderr(&out));
}

/// The combined plan comment of `examples/github/pzctl-matrix.yml`, its `actions/github-script`
/// run under node against a fake GitHub API.
mod matrix_comment {
    use std::path::Path;

    use assert_cmd::Command;
    use serde_json::{Value, json};

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn script() -> String {
        let text = std::fs::read_to_string(root().join("examples/github/pzctl-matrix.yml"))
            .expect("read pzctl-matrix.yml");
        let workflow: Value = serde_saphyr::from_str(&text).expect("pzctl-matrix.yml is YAML");
        workflow["jobs"]["comment"]["steps"]
            .as_array()
            .expect("the comment job has steps")
            .iter()
            .find(|step| step["name"] == "Post the combined plan as a PR comment")
            .and_then(|step| step["with"]["script"].as_str())
            .expect("the comment step has a script")
            .to_owned()
    }

    /// One downloaded plan artifact: project, exit code, plan.md.
    struct Artifact<'a>(&'a str, &'a str, &'a str);

    /// Runs the script with `plans` downloaded and `existing` comments (`[id, user type, body]`);
    /// returns its calls (`["update", id, body]`, `["create", issue, body]`, `["delete", id]`).
    /// None when node is not installed.
    fn run(
        listed: &str,
        projects: &str,
        plans: &[Artifact<'_>],
        existing: Value,
    ) -> Option<Vec<Value>> {
        let node = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("node"))
                .find(|candidate| candidate.is_file())
        });
        let Some(node) = node else {
            eprintln!("note: node not found: the matrix comment tests are skipped");
            return None;
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (index, Artifact(project, code, plan)) in plans.iter().enumerate() {
            let folder = dir.path().join(format!("plans/pzctl-matrix-plan-{index}"));
            std::fs::create_dir_all(&folder).expect("mkdir");
            std::fs::write(folder.join("project.txt"), format!("{project}\n")).expect("write");
            std::fs::write(folder.join("exitcode.txt"), format!("{code}\n")).expect("write");
            std::fs::write(folder.join("plan.md"), plan).expect("write");
        }
        let harness = crate::support::github_script_harness(&existing, &script());
        std::fs::write(dir.path().join("harness.js"), harness).expect("write the harness");
        let output = std::process::Command::new(node)
            .arg("harness.js")
            .current_dir(dir.path())
            .env("LISTED", listed)
            .env("PROJECTS", projects)
            .output()
            .expect("node runs");
        assert!(
            output.status.success(),
            "the comment script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(serde_json::from_slice(&output.stdout).expect("the harness prints JSON"))
    }

    fn body(call: &Value) -> &str {
        call[2].as_str().expect("a comment body")
    }

    /// pzctl's own Markdown plan of project alpha against an empty embedded organization.
    fn alpha_plan() -> String {
        let repo = super::three_projects();
        let state = repo.path().join("state");
        let state = state.to_string_lossy();
        let out = Command::cargo_bin("pzctl")
            .expect("the pzctl binary is built")
            .args(["--state-dir", &state, "plan", "m", "--project", "alpha"])
            .args(["--format", "markdown", "--detailed-exitcode"])
            .current_dir(repo.path())
            .env_remove("PZCTL_ENDPOINT")
            .env_remove("PZCTL_REGION")
            .output()
            .expect("run pzctl");
        assert_eq!(out.status.code(), Some(2), "{}", super::stderr(&out));
        String::from_utf8(out.stdout).expect("UTF-8")
    }

    #[test]
    fn one_comment_tables_every_project_and_is_updated_in_place() {
        let alpha = alpha_plan();
        let plans = [
            Artifact("alpha", "2", &alpha),
            Artifact(
                "beta",
                "0",
                "## pzctl plan\n\nNo changes. The live organization matches the manifests.\n",
            ),
            Artifact(
                "gamma",
                "1",
                "pzctl plan failed (exit code 1):\n\n````text\nerror: cannot read the live organization\n````\n",
            ),
        ];
        let existing = json!([
            [1, "User", "<!-- pzctl-matrix-plan -->\nquoted by a human"],
            [2, "Bot", "<!-- pzctl-matrix-plan -->\nthe old plan"],
            [
                3,
                "Bot",
                "<!-- pzctl-matrix-plan part 2 -->\nan old second part"
            ],
            [
                4,
                "Bot",
                "<!-- pzctl-plan -->\nthe single-job workflow's comment"
            ],
        ]);
        let Some(calls) = run(
            "success",
            r#"["alpha","beta","delta","gamma"]"#,
            &plans,
            existing,
        ) else {
            return;
        };
        assert_eq!(calls.len(), 2, "{calls:#?}");
        assert_eq!((&calls[0][0], &calls[0][1]), (&json!("update"), &json!(2)));
        assert_eq!(calls[1], json!(["delete", 3]));
        let text = body(&calls[0]);
        assert!(
            text.starts_with("<!-- pzctl-matrix-plan -->\n## pzctl plan of 4 projects\n"),
            "{text}"
        );
        let total = alpha
            .lines()
            .find_map(|line| line.strip_prefix("**").and_then(|l| l.strip_suffix("**")))
            .expect("pzctl prints the totals");
        for row in [
            format!("| `alpha` | {total} |"),
            "| `beta` | no changes |".to_owned(),
            "| `delta` | no plan: the job did not finish (see the workflow run) |".to_owned(),
            "| `gamma` | **failed** (exit code 1) |".to_owned(),
        ] {
            assert!(text.contains(&row), "missing {row:?} in\n{text}");
        }
        // Alpha's plan as pzctl wrote it, without its own heading and totals; gamma's error.
        assert!(text.contains("### Project `alpha`"), "{text}");
        assert!(text.contains("<details>"), "{text}");
        assert_eq!(text.matches("## pzctl plan").count(), 1, "{text}");
        assert!(!text.contains(&format!("**{total}**")), "{text}");
        assert!(
            text.contains("### Project `gamma`: the plan failed"),
            "{text}"
        );
        assert!(text.contains("cannot read the live organization"), "{text}");
        assert!(
            !text.contains("No changes. The live organization"),
            "{text}"
        );
        assert!(
            text.ends_with("[workflow run](https://github.com/o/r/actions/runs/42)</sub>"),
            "{text}"
        );
    }

    #[test]
    fn long_plans_are_split_under_the_comment_limit() {
        let part = |c: char| format!("```diff\n{}\n```", c.to_string().repeat(30_000));
        let alpha = format!(
            "**Part 1 of 3**\n\n## pzctl plan\n\n**Plan: 3 to create, 0 to update, 0 to delete.**\n\n{}\n<!-- pzctl:part -->\n**Part 2 of 3**\n\n{}\n<!-- pzctl:part -->\n**Part 3 of 3**\n\n{}\n",
            part('a'),
            part('b'),
            part('c')
        );
        let beta = format!(
            "## pzctl plan\n\n**Plan: 1 to create, 0 to update, 0 to delete.**\n\n{}\n",
            part('d')
        );
        let plans = [Artifact("alpha", "2", &alpha), Artifact("beta", "2", &beta)];
        let Some(calls) = run("success", r#"["alpha","beta"]"#, &plans, json!([])) else {
            return;
        };
        assert!(calls.len() >= 2, "{}", calls.len());
        let all: String = calls.iter().map(body).collect();
        for c in ['a', 'b', 'c', 'd'] {
            assert!(
                all.contains(&c.to_string().repeat(30_000)),
                "part {c} is whole"
            );
        }
        for (index, call) in calls.iter().enumerate() {
            assert_eq!(&call[0], "create");
            let text = body(call);
            assert!(
                text.chars().count() <= 65_536,
                "comment {index} is too long"
            );
            let marker = if index == 0 {
                "<!-- pzctl-matrix-plan -->\n".to_owned()
            } else {
                format!("<!-- pzctl-matrix-plan part {} -->\n", index + 1)
            };
            assert!(text.starts_with(&marker), "{}", &text[..60]);
            assert!(text.ends_with(&format!(", part {} of {}</sub>", index + 1, calls.len())));
            // Never a code fence left open.
            assert_eq!(text.matches("```").count() % 2, 0, "comment {index}");
        }
    }

    #[test]
    fn nothing_to_plan_and_a_failed_listing_say_so() {
        let Some(calls) = run(
            "success",
            "[]",
            &[],
            json!([[5, "Bot", "<!-- pzctl-matrix-plan -->\nold"]]),
        ) else {
            return;
        };
        assert_eq!(calls.len(), 1);
        assert_eq!((&calls[0][0], &calls[0][1]), (&json!("update"), &json!(5)));
        assert!(body(&calls[0]).contains("changes no project's manifests: nothing to plan"));
        let Some(calls) = run("failure", "", &[], json!([])) else {
            return;
        };
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0][0], "create");
        assert!(
            body(&calls[0]).contains("could not list the projects"),
            "{}",
            body(&calls[0])
        );
    }
}

#[test]
fn with_an_environment_overlay_files_touch_their_projects_under_live_names() {
    let repo = three_projects();
    repo.write(
        "m/pzctl.yaml",
        "apiVersion: pzctl/v1\nkind: Workspace\nenvironments:\n  dev:\n    projects: {alpha: alpha-dev}\n    overlays: [dev]\n  prod:\n    overlays: [prod]\n",
    );
    repo.write("m/dev/alpha.yaml", &event("alpha_signup", "alpha"));
    repo.write("m/prod/beta.yaml", &event("beta_signup", "beta"));
    repo.commit();
    assert_eq!(
        repo.listed(&["--env", "dev"]),
        ["alpha-dev", "beta", "gamma"]
    );
    repo.write(
        "m/dev/alpha.yaml",
        &event("alpha_signup", "alpha").replace("spec: {}", "spec: {description: x}"),
    );
    repo.write(
        "m/prod/beta.yaml",
        &event("beta_signup", "beta").replace("spec: {}", "spec: {description: x}"),
    );
    assert_eq!(
        repo.listed(&["--env", "dev", "--changed-since", "HEAD"]),
        ["alpha-dev"]
    );
    assert_eq!(
        repo.listed(&["--env", "prod", "--changed-since", "HEAD"]),
        ["beta"]
    );
    // Without --env the workspace's environments must be chosen from.
    let out = repo.projects(&["m"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("choose one with `--env NAME`"),
        "{}",
        stderr(&out)
    );
}
