//! Integration tests of the command line's shared behaviour, through the real binary: problems
//! as JSON on stdout when `plan` and `apply` refuse, `stale-plan` diagnostics, target options
//! only where they apply, `--color` and the colour variables, help and man page sections,
//! `validate -`, and a `Project` without `spec`.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{TestContext, describe};

/// Environment variables that would change what the binary does; removed for every run.
const AMBIENT: &[&str] = &[
    "PZCTL_ENDPOINT",
    "PZCTL_REGION",
    "PZCTL_STATE_DIR",
    "PZCTL_RATE_LIMIT",
    "PZCTL_LOCAL_USER",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "TERM",
    "CI",
];

/// The binary in `dir`, with a clean environment plus `env`.
fn pzctl(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pzctl"));
    command.current_dir(dir).args(args).stdin(Stdio::null());
    for name in AMBIENT {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    pzctl(dir, args, env).output().expect("run pzctl")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The codes of a JSON diagnostics array, checking every item has the documented keys.
fn codes(json: &str) -> Vec<String> {
    let items: Vec<serde_json::Value> = serde_json::from_str(json)
        .unwrap_or_else(|error| panic!("not a JSON array ({error}): {json}"));
    items
        .iter()
        .map(|item| {
            for key in ["file", "line", "column", "code", "message", "severity"] {
                assert!(item.get(key).is_some(), "no `{key}` in {item}");
            }
            item["code"].as_str().expect("code").to_owned()
        })
        .collect()
}

const PROJECT: &str =
    "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: shop}\nspec:\n  description: A shop\n";
const EVENT: &str =
    "apiVersion: pzctl/v1\nkind: Event\nmetadata: {name: add_to_cart, project: shop}\n";
const BROKEN: &str = "apiVersion: pzctl/v1\nkind: Event\nmetadata: {name: add_to_cart, project: shop}\nspec: {descripton: typo}\n";

/// A folder `m` in `dir` holding `files`.
fn manifests(dir: &Path, files: &[(&str, &str)]) -> String {
    let folder = dir.join("m");
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("create the manifest folder");
    for (name, text) in files {
        std::fs::write(folder.join(name), text).expect("write a manifest");
    }
    "m".to_owned()
}

#[test]
fn invalid_manifests_print_the_validate_json_on_stdout_for_plan_and_apply() {
    let context = TestContext::new();
    let dir = context.path();
    let tree = manifests(dir, &[("shop.yaml", PROJECT), ("event.yaml", BROKEN)]);
    let validate = run(dir, &["validate", &tree, "--format", "json"], &[]);
    assert_eq!(validate.status.code(), Some(1), "{}", describe(&validate));
    assert_eq!(codes(&stdout(&validate)), ["unknown-field"]);
    for command in [
        vec!["plan", tree.as_str(), "--format", "json"],
        vec!["apply", tree.as_str(), "--format", "json", "--auto-approve"],
    ] {
        let output = run(dir, &command, &[]);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        assert_eq!(stdout(&output), stdout(&validate), "{command:?}");
        assert!(
            stderr(&output).contains("the manifests have errors"),
            "{}",
            describe(&output)
        );
        assert!(
            !dir.join(".pzctl").exists(),
            "{command:?} opened the local organization although the manifests are invalid"
        );
    }
    // Without `--format json`, stdout stays empty and the problems go to stderr.
    let text = run(dir, &["plan", &tree], &[]);
    assert_eq!(text.status.code(), Some(1));
    assert_eq!(stdout(&text), "");
    assert!(
        stderr(&text).contains("unknown-field"),
        "{}",
        describe(&text)
    );
}

#[test]
fn refused_plans_print_their_diagnostics_as_json_on_stdout() {
    let context = TestContext::new();
    let dir = context.path();
    let tree = manifests(dir, &[("shop.yaml", PROJECT), ("event.yaml", EVENT)]);
    let applied = run(dir, &["apply", &tree, "--auto-approve"], &[]);
    assert_eq!(applied.status.code(), Some(0), "{}", describe(&applied));

    // Without the event's manifest, the event is deleted: more deletions than allowed.
    let tree = manifests(dir, &[("shop.yaml", PROJECT)]);
    let guard = ["--allow-delete", "--max-deletions", "0", "--format", "json"];
    for command in ["plan", "apply"] {
        let mut args = vec![command, tree.as_str()];
        args.extend_from_slice(&guard);
        if command == "apply" {
            args.push("--auto-approve");
        }
        let output = run(dir, &args, &[]);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        assert_eq!(
            codes(&stdout(&output)),
            ["too-many-deletions"],
            "{}",
            describe(&output)
        );
        assert!(
            stderr(&output).contains("the plan was refused"),
            "{}",
            describe(&output)
        );
    }
    // The event is still there.
    let tree = manifests(dir, &[("shop.yaml", PROJECT), ("event.yaml", EVENT)]);
    let again = run(dir, &["plan", &tree, "--detailed-exitcode"], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
}

#[test]
fn apply_shows_refusals_with_their_source_line_as_plan_does() {
    let context = TestContext::new();
    let dir = context.path();
    let tree = manifests(dir, &[("shop.yaml", PROJECT), ("event.yaml", EVENT)]);
    let applied = run(dir, &["apply", &tree, "--auto-approve"], &[]);
    assert_eq!(applied.status.code(), Some(0), "{}", describe(&applied));
    // An owner demoting the only owner is refused with the member line shown.
    let demoted = "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: shop}\nspec:\n  members:\n    - {email: owner@example.com, role: member}\n";
    let tree = manifests(dir, &[("shop.yaml", demoted), ("event.yaml", EVENT)]);
    let plan = run(dir, &["plan", &tree], &[]);
    let apply = run(dir, &["apply", &tree, "--auto-approve"], &[]);
    assert_eq!(plan.status.code(), Some(1), "{}", describe(&plan));
    assert_eq!(apply.status.code(), Some(1), "{}", describe(&apply));
    let shown = |output: &Output| {
        stderr(output)
            .lines()
            .take_while(|line| !line.starts_with("error: the plan was refused"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        shown(&plan).contains("owner@example.com, role: member"),
        "{}",
        describe(&plan)
    );
    assert_eq!(shown(&apply), shown(&plan));
}

#[test]
fn a_saved_plan_that_no_longer_matches_is_refused_with_stale_plan_diagnostics() {
    let context = TestContext::new();
    let dir = context.path();
    let tree = manifests(dir, &[("shop.yaml", PROJECT)]);
    let saved = run(dir, &["plan", &tree, "--out", "plan.json"], &[]);
    assert_eq!(saved.status.code(), Some(0), "{}", describe(&saved));
    // The organization changes behind the saved plan's back.
    let other = "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: shop}\nspec:\n  description: Someone else's\n";
    let tree = manifests(dir, &[("shop.yaml", other)]);
    let applied = run(dir, &["apply", &tree, "--auto-approve"], &[]);
    assert_eq!(applied.status.code(), Some(0), "{}", describe(&applied));

    let json = run(
        dir,
        &["apply", "--plan", "plan.json", "--format", "json"],
        &[],
    );
    assert_eq!(json.status.code(), Some(3), "{}", describe(&json));
    let found = codes(&stdout(&json));
    assert!(
        !found.is_empty() && found.iter().all(|code| code == "stale-plan"),
        "{}",
        describe(&json)
    );
    let items: Vec<serde_json::Value> = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert!(
        items
            .iter()
            .any(|item| item["message"]
                .as_str()
                .is_some_and(|message| message
                    .starts_with("the saved plan no longer matches: project/shop:"))),
        "{items:?}"
    );
    assert!(
        items.iter().all(|item| item["line"].is_null()),
        "a difference has no place in a manifest: {items:?}"
    );

    let text = run(dir, &["apply", "--plan", "plan.json"], &[]);
    assert_eq!(text.status.code(), Some(3), "{}", describe(&text));
    let message = stderr(&text);
    assert!(message.contains("stale-plan"), "{message}");
    assert!(message.contains("no longer matches"), "{message}");
    assert!(message.contains("pzctl plan --out plan.json"), "{message}");
}

#[test]
fn target_options_belong_to_the_commands_that_use_them() {
    let context = TestContext::new();
    let dir = context.path();
    for command in ["validate", "schema", "emulator"] {
        let help = run(dir, &[command, "--help"], &[]);
        let text = stdout(&help);
        for flag in ["--endpoint", "--region", "--state-dir", "--retry-deadline"] {
            assert!(
                !text.contains(flag),
                "`{command} --help` lists {flag}:\n{text}"
            );
        }
        let given = run(dir, &[command, "--endpoint", "http://127.0.0.1:1"], &[]);
        assert_eq!(given.status.code(), Some(2), "{}", describe(&given));
        let before = run(dir, &["--region", "eu", command, "--help"], &[]);
        assert_eq!(
            before.status.code(),
            Some(0),
            "help wins: {}",
            describe(&before)
        );
    }
    let before = run(dir, &["--state-dir", "elsewhere", "validate"], &[]);
    assert_eq!(before.status.code(), Some(1), "{}", describe(&before));
    assert!(
        stderr(&before)
            .contains("`--state-dir` applies only to `plan`, `apply`, `show` and `export`"),
        "{}",
        describe(&before)
    );
    let before = run(dir, &["--retry-deadline", "5", "validate"], &[]);
    assert_eq!(before.status.code(), Some(1), "{}", describe(&before));
    assert!(
        stderr(&before)
            .contains("`--retry-deadline` applies only to `plan`, `apply`, `show` and `export`"),
        "{}",
        describe(&before)
    );
    for command in ["plan", "apply", "show", "export"] {
        let help = stdout(&run(dir, &[command, "--help"], &[]));
        for flag in [
            "--endpoint",
            "--region",
            "--state-dir",
            "--rate-limit",
            "--retry-deadline",
        ] {
            assert!(help.contains(flag), "`{command} --help` lacks {flag}");
        }
    }
    let top = stdout(&run(dir, &["--help"], &[]));
    assert!(!top.contains("--endpoint <"), "{top}");
}

#[test]
fn target_options_are_taken_after_and_before_the_command_and_from_the_environment() {
    let context = TestContext::new();
    let dir = context.path();
    let tree = manifests(dir, &[("shop.yaml", PROJECT)]);
    for (args, env, folder) in [
        // apply, which writes: the state directory is created at the first write.
        (
            vec!["apply", "m", "--auto-approve", "--state-dir", "after"],
            vec![],
            "after",
        ),
        (
            vec!["--state-dir", "before", "apply", "m", "--auto-approve"],
            vec![],
            "before",
        ),
        (
            vec!["apply", "m", "--auto-approve"],
            vec![("PZCTL_STATE_DIR", "from-env")],
            "from-env",
        ),
        (
            vec!["apply", "m", "--auto-approve", "--state-dir", "flag-wins"],
            vec![("PZCTL_STATE_DIR", "env-loses")],
            "flag-wins",
        ),
    ] {
        let output = run(dir, &args, &env);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(
            dir.join(folder).is_dir(),
            "{args:?} {env:?} did not use {folder}"
        );
    }
    assert!(!dir.join("env-loses").exists());
    assert_eq!(tree, "m");
}

const ESCAPE: &str = "\u{1b}[";

#[test]
fn colour_follows_the_flag_then_the_environment() {
    let context = TestContext::new();
    let dir = context.path();
    let tree = manifests(dir, &[("event.yaml", BROKEN)]);
    let coloured = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["validate", tree.as_str()];
        all.extend_from_slice(args);
        let output = run(dir, &all, env);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        stderr(&output).contains(ESCAPE)
    };
    // Not a terminal: no colour by default.
    assert!(!coloured(&[], &[]));
    assert!(coloured(&["--color", "always"], &[]));
    assert!(coloured(&["--color", "always"], &[("NO_COLOR", "1")]));
    assert!(!coloured(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    assert!(coloured(&[], &[("CLICOLOR_FORCE", "1")]));
    assert!(coloured(&[], &[("CLICOLOR_FORCE", "1"), ("TERM", "dumb")]));
    assert!(!coloured(
        &[],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    ));
    assert!(!coloured(&["--color", "auto"], &[("TERM", "dumb")]));
    let bad = run(dir, &["validate", &tree, "--color", "sometimes"], &[]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
}

#[test]
fn help_and_man_pages_have_environment_exit_status_and_examples() {
    let context = TestContext::new();
    let dir = context.path();
    let pages = pzctl::cli::man_pages();
    for (command, variables) in [
        (
            None,
            vec![
                "PZCTL_ENDPOINT",
                "CONTENTSTACK_AUTHTOKEN",
                "NO_COLOR",
                "TERM",
            ],
        ),
        (Some("validate"), vec!["NO_COLOR", "CLICOLOR_FORCE", "TERM"]),
        (
            Some("plan"),
            vec![
                "PZCTL_ENDPOINT",
                "PZCTL_REGION",
                "PZCTL_STATE_DIR",
                "PZCTL_RATE_LIMIT",
                "PZCTL_RETRY_DEADLINE",
                "PZCTL_LOCAL_USER",
                "CONTENTSTACK_AUTHTOKEN",
                "CONTENTSTACK_OAUTH_TOKEN",
                "CONTENTSTACK_ORGANIZATION_UID",
                "NO_COLOR",
            ],
        ),
        (
            Some("apply"),
            vec!["PZCTL_ENDPOINT", "CONTENTSTACK_AUTHTOKEN"],
        ),
        (
            Some("export"),
            vec!["PZCTL_ENDPOINT", "CONTENTSTACK_AUTHTOKEN"],
        ),
        (Some("schema"), vec![]),
    ] {
        let args: Vec<&str> = command.into_iter().chain(["--help"]).collect();
        let help = stdout(&run(dir, &args, &[]));
        let name = command.map_or("pzctl.1".to_owned(), |command| format!("pzctl-{command}.1"));
        let page = String::from_utf8_lossy(&pages[&name]).into_owned();
        for section in ["Exit status:", "Examples:"] {
            assert!(help.contains(section), "{args:?} lacks {section}:\n{help}");
        }
        for section in [".SH \"EXIT STATUS\"", ".SH EXAMPLES"] {
            assert!(page.contains(section), "{name} lacks {section}");
        }
        assert_eq!(
            help.contains("Environment:"),
            !variables.is_empty(),
            "{args:?}:\n{help}"
        );
        assert_eq!(
            page.contains(".SH ENVIRONMENT"),
            !variables.is_empty(),
            "{name}"
        );
        for variable in variables {
            assert!(help.contains(variable), "{args:?} lacks {variable}");
            assert!(page.contains(variable), "{name} lacks {variable}");
        }
    }
    let plan = stdout(&run(dir, &["plan", "--help"], &[]));
    assert!(plan.contains("--detailed-exitcode"), "{plan}");
    assert!(
        plan.contains("  2  "),
        "plan's exit status lists 2:\n{plan}"
    );
    let apply = stdout(&run(dir, &["apply", "--help"], &[]));
    assert!(
        apply.contains("  130"),
        "apply's exit status lists 130:\n{apply}"
    );
}

#[test]
fn validate_dash_reads_standard_input() {
    let context = TestContext::new();
    let dir = context.path();
    let check = |input: &str| {
        let mut child = pzctl(dir, &["validate", "-", "--format", "json"], &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pzctl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    };
    let valid = check(&format!("{PROJECT}---\n{EVENT}"));
    assert_eq!(valid.status.code(), Some(0), "{}", describe(&valid));
    assert_eq!(stdout(&valid), "[]\n");
    assert!(
        stderr(&valid).contains("valid: 2 resources in 1 file"),
        "{}",
        describe(&valid)
    );
    let invalid = check(BROKEN);
    assert_eq!(invalid.status.code(), Some(1), "{}", describe(&invalid));
    let items: Vec<serde_json::Value> = serde_json::from_str(&stdout(&invalid)).expect("JSON");
    let unknown = items
        .iter()
        .find(|item| item["code"] == "unknown-field")
        .unwrap_or_else(|| panic!("no unknown-field: {items:?}"));
    assert_eq!(unknown["file"], "<stdin>");
    assert_eq!(unknown["line"], 4);

    let mixed = run(dir, &["validate", "-", "."], &[]);
    assert_eq!(mixed.status.code(), Some(1), "{}", describe(&mixed));
    assert!(
        stderr(&mixed).contains("`-` (standard input)"),
        "{}",
        describe(&mixed)
    );
}

#[test]
fn a_project_needs_no_spec() {
    let context = TestContext::new();
    let dir = context.path();
    let bare = "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: shop}\n";
    let tree = manifests(dir, &[("shop.yaml", bare), ("event.yaml", EVENT)]);
    let validate = run(dir, &["validate", &tree], &[]);
    assert_eq!(validate.status.code(), Some(0), "{}", describe(&validate));
    let applied = run(dir, &["apply", &tree, "--auto-approve"], &[]);
    assert_eq!(applied.status.code(), Some(0), "{}", describe(&applied));
    let again = run(dir, &["plan", &tree, "--detailed-exitcode"], &[]);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
}

#[test]
fn docs_link_only_to_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let mut folders = vec![root.join("docs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read docs").flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                pages.push(path);
            }
        }
    }
    let mut problems = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(&page).expect("read a page");
        let shown = page
            .strip_prefix(root)
            .unwrap_or(&page)
            .display()
            .to_string();
        if text.contains("personalize-api.md") {
            problems.push(format!("{shown} refers to personalize-api.md"));
        }
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or_default();
            if target.is_empty()
                || target == "..."
                || target.contains("://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let base = page.parent().unwrap_or(root);
            if !base.join(target).exists() {
                problems.push(format!("{shown} links to missing `{target}`"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `pzctl ARGS` on a pseudo-terminal through util-linux `script`, in `dir`; `None` when `script`
/// is not installed.
fn on_terminal(dir: &Path, args: &str, env: &[(&str, &str)]) -> Option<String> {
    let script = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|path| Path::new(path).exists())?;
    let line = format!("{} {args}", env!("CARGO_BIN_EXE_pzctl"));
    let mut command = Command::new(script);
    command
        .current_dir(dir)
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null());
    for name in AMBIENT {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run script");
    Some(stdout(&output))
}

#[test]
fn a_terminal_gets_colour_unless_no_color_or_term_dumb() {
    let context = TestContext::new();
    let dir = context.path();
    let tree = manifests(dir, &[("event.yaml", BROKEN)]);
    let args = format!("validate {tree}");
    let Some(plain) = on_terminal(dir, &args, &[("TERM", "xterm-256color")]) else {
        eprintln!("skipped: util-linux `script` is not installed, so no pseudo-terminal");
        return;
    };
    assert!(plain.contains(ESCAPE), "a terminal gets colour:\n{plain}");
    let checks = [
        (vec![("TERM", "dumb")], false),
        (vec![("TERM", "xterm-256color"), ("NO_COLOR", "1")], false),
        (vec![("TERM", "xterm-256color"), ("CLICOLOR", "0")], false),
        (vec![("TERM", "dumb"), ("CLICOLOR_FORCE", "1")], true),
    ];
    for (env, coloured) in checks {
        let text = on_terminal(dir, &args, &env).unwrap_or_default();
        assert_eq!(text.contains(ESCAPE), coloured, "{env:?}:\n{text}");
    }
    let never = on_terminal(dir, &format!("{args} --color never"), &[("TERM", "xterm")]);
    assert!(!never.unwrap_or_default().contains(ESCAPE));
}

#[test]
fn help_names_every_environment_variable_the_code_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("src")];
    let mut read = std::collections::BTreeSet::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read src").flatten() {
                files.push(entry.path());
            }
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a source file");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
        {
            let quoted = line.split('"').nth(1).unwrap_or_default();
            let reads = line.contains("env::var(\"")
                || line.contains("env::var_os(\"")
                || (line.contains("_ENV: &str = \"") && line.contains("const"));
            if reads && !quoted.is_empty() {
                read.insert(quoted.to_owned());
            }
        }
    }
    assert!(read.contains("PZCTL_LOCAL_USER") && read.contains("CONTENTSTACK_AUTHTOKEN"));
    let help = stdout(&run(root, &["--help"], &[]));
    let missing: Vec<&String> = read
        .iter()
        .filter(|name| !help.contains(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "`pzctl --help` does not name {missing:?}"
    );
}
