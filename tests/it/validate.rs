//! Integration tests: validate. Loads every fixture under `tests/fixtures/validate/` (one
//! problem class each; the folder name starts with the code it must report) in process and in
//! parallel, and snapshots the JSON and text diagnostics as the CLI renders them; checks once
//! that the real binary prints the same; checks the examples, the committed schemas, the docs,
//! lowering, and that no input makes loading panic.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pzctl::diagnostic::Code;
use pzctl::manifest::{self, LoadConfig};
use pzctl::model::{self, Combination, ExperienceStatus, ProjectRole, VariantSpec};

use crate::support::TestContext;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/validate")
}

fn pzctl(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("pzctl").expect("the pzctl binary");
    cmd.current_dir(dir).env("NO_COLOR", "1");
    cmd
}

fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures folder")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn there_are_at_least_forty_fixtures_and_each_names_a_code() {
    let names = fixture_names();
    assert!(names.len() >= 40, "only {} fixtures", names.len());
    let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    for name in names {
        let code = name.split("--").next().unwrap_or_default();
        assert!(
            codes.contains(&code),
            "fixture `{name}` does not start with a code"
        );
    }
}

/// What `pzctl validate --format json NAME` and `pzctl validate NAME` print when run in the
/// fixtures folder, rendered in process by the CLI's own renderer (colour off).
fn validate_in_process(
    config: &LoadConfig,
) -> (pzctl::cli::ValidateReport, pzctl::cli::ValidateReport) {
    use pzctl::cli::{DiagnosticFormat, validate_report};
    let loaded = manifest::load_all_in(&fixtures(), config);
    (
        validate_report(&loaded, DiagnosticFormat::Json, false),
        validate_report(&loaded, DiagnosticFormat::Text, false),
    )
}

/// The checks and the snapshot of one fixture (run on a worker thread).
fn check_fixture(name: &str) -> (String, Vec<String>) {
    let mut failures = Vec::new();
    let expected = name.split("--").next().unwrap_or_default().to_owned();
    let (json_run, text_run) = validate_in_process(&LoadConfig {
        paths: vec![PathBuf::from(name)],
        ..LoadConfig::default()
    });
    let items = match serde_json::from_str::<serde_json::Value>(&json_run.stdout) {
        Ok(json) => json.as_array().cloned().unwrap_or_default(),
        Err(error) => {
            failures.push(format!("{name}: stdout is not JSON: {error}"));
            Vec::new()
        }
    };
    let has_error = items.iter().any(|d| d["severity"] == "error");
    if json_run.exit != u8::from(has_error) || text_run.exit != json_run.exit {
        failures.push(format!(
            "{name}: exit {} (text {}) with errors={has_error}",
            json_run.exit, text_run.exit
        ));
    }
    if !items.iter().any(|d| d["code"] == expected.as_str()) {
        failures.push(format!("{name}: no `{expected}` in {}", json_run.stdout));
    }
    for d in &items {
        for key in ["file", "line", "column", "code", "message"] {
            if d.get(key).is_none() {
                failures.push(format!("{name}: a diagnostic has no `{key}`: {d}"));
            }
        }
        // A problem in a file has a line; only a problem of the whole run (`no-manifests`)
        // has no place.
        let placeless = d["file"].is_null() && d["code"] == "no-manifests";
        if d["line"].as_u64().unwrap_or(0) == 0 && !placeless {
            failures.push(format!("{name}: a diagnostic has no line: {d}"));
        }
    }
    if !text_run.stdout.is_empty() {
        failures.push(format!("{name}: text format wrote to stdout"));
    }
    let snapshot = format!(
        "exit: {}\n--- json (stdout)\n{}--- text (stderr)\n{}",
        json_run.exit, json_run.stdout, text_run.stderr
    );
    (snapshot, failures)
}

/// Every fixture, in process and in parallel (one thread each: the alias bomb alone takes
/// seconds in a debug build, so it must not hold up a queue).
#[test]
fn every_fixture_reports_its_code_at_a_place() {
    let names = fixture_names();
    let results: Vec<(String, Vec<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = names
            .iter()
            .map(|name| scope.spawn(move || check_fixture(name)))
            .collect();
        workers
            .into_iter()
            .zip(&names)
            .map(|(worker, name)| {
                worker
                    .join()
                    .unwrap_or_else(|_| (String::new(), vec![format!("{name}: panicked")]))
            })
            .collect()
    });
    let mut failures = Vec::new();
    for (name, (snapshot, mut found)) in names.iter().zip(results) {
        failures.append(&mut found);
        insta::assert_snapshot!(format!("fixture__{name}"), snapshot);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// End to end: the binary prints exactly what the in-process renderer gives, over every fixture
/// at once (but the alias bomb, which is slow in a debug build), in both formats.
#[test]
fn the_binary_prints_what_the_in_process_renderer_gives() {
    let exclude = "yaml-limit--alias-bomb/**".to_owned();
    let config = LoadConfig {
        paths: vec![PathBuf::from(".")],
        exclude: vec![exclude.clone()],
        ..LoadConfig::default()
    };
    let (json_run, text_run) = validate_in_process(&config);
    assert_eq!(json_run.exit, 1, "the fixtures have errors");
    for (format, expected) in [("json", &json_run), ("text", &text_run)] {
        let out = pzctl(&fixtures())
            .args(["validate", "--format", format, "--exclude", &exclude, "."])
            .output()
            .expect("run pzctl");
        assert_eq!(
            out.status.code(),
            Some(i32::from(expected.exit)),
            "{format}"
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected.stdout,
            "{format}: stdout"
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            expected.stderr,
            "{format}: stderr"
        );
    }
}

#[test]
fn github_format_writes_workflow_annotations() {
    let context = TestContext::new();
    let mut command = context.pzctl();
    command
        .current_dir(fixtures())
        .args(["validate", "--format", "github", "traffic-sum"]);
    pzctl_snapshot!(context, "github_format_traffic_sum", &mut command);
}

#[test]
fn examples_are_valid() {
    let context = TestContext::new();
    let mut command = context.pzctl();
    command.current_dir(root()).args(["validate", "examples"]);
    let output = pzctl_snapshot!(context, "validate_examples", &mut command);
    assert_eq!(output.status.code(), Some(0));
}

/// Issue 16, item 6: YAML of other tools (Kubernetes, a GitHub workflow, the emulator's users
/// file, OpenShift's own `kind: Project`) beside the manifests is skipped with one notice.
#[test]
fn foreign_yaml_is_skipped_with_one_notice() {
    let context = TestContext::new();
    let mut command = context.pzctl();
    command
        .current_dir(root().join("tests/fixtures"))
        .args(["validate", "foreign"]);
    pzctl_snapshot!(context, "validate_foreign_yaml", &mut command);
    let loaded = manifest::load_in(
        &root().join("tests/fixtures"),
        &LoadConfig {
            paths: vec![PathBuf::from("foreign")],
            ..LoadConfig::default()
        },
    );
    assert_eq!(loaded.files, vec!["foreign/personalize/project.yaml"]);
    assert_eq!(loaded.skipped.len(), 4, "{:?}", loaded.skipped);
    assert_eq!(loaded.diagnostics, Vec::new());
    assert_eq!(
        loaded.desired.projects["storefront"]
            .events
            .keys()
            .collect::<Vec<_>>(),
        vec!["add_to_cart"]
    );
    // Other tools' YAML next to a pzctl document in one file is still an error.
    let mixed = "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: p}\nspec: {}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\nname: ci\non: [push]\n";
    let loaded = manifest::load_str("mixed.yaml", mixed);
    let codes: Vec<(Code, usize)> = loaded
        .diagnostics
        .iter()
        .map(|d| (d.code, d.line().unwrap_or(0)))
        .collect();
    assert_eq!(
        codes,
        vec![
            (Code::UnsupportedApiVersion, 6),
            (Code::UnknownKind, 7),
            (Code::NotAManifest, 10)
        ]
    );
    assert!(loaded.skipped.is_empty());
}

#[test]
fn example_files_point_editors_at_the_schema() {
    let loaded = manifest::load(&LoadConfig {
        paths: vec![root().join("examples")],
        ..LoadConfig::default()
    });
    assert!(loaded.files.len() >= 7);
    assert!(loaded.skipped.len() >= 4, "{:?}", loaded.skipped);
    for file in &loaded.files {
        let path = Path::new(file);
        let text = std::fs::read_to_string(path).expect("read example");
        // Workflow files and the emulator's users file live beside the manifests but belong to
        // other tools: the loader skips them (with one notice).
        assert!(text.contains("apiVersion: pzctl/"), "{file} is no manifest");
        let first = text.lines().next().unwrap_or_default();
        let schema = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| panic!("{file} does not start with the schema comment"));
        let target = path.parent().expect("parent").join(schema);
        assert!(
            target.exists(),
            "{file}: {} does not exist",
            target.display()
        );
    }
}

#[test]
fn include_and_exclude_select_files() {
    let quickstart = root().join("examples/quickstart");
    let loaded = manifest::load(&LoadConfig {
        paths: vec![quickstart.clone()],
        include: vec!["**/project.yaml".to_owned(), "**/signals.yaml".to_owned()],
        exclude: vec!["**/signals.yaml".to_owned()],
    });
    assert_eq!(loaded.files.len(), 1, "{:?}", loaded.files);
    assert!(loaded.files[0].ends_with("project.yaml"));
    // experienceOrder now names experiences that are not loaded.
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.code == Code::DanglingReference)
    );
}

#[test]
fn no_manifests_is_an_error() {
    let context = TestContext::new();
    let mut command = context.pzctl();
    command.args(["validate", "."]);
    pzctl_snapshot!(context, "validate_no_manifests", &mut command);
}

#[test]
fn huge_files_are_refused() {
    let context = TestContext::new();
    let mut text = String::from(
        "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: big}\nspec:\n  description: \"",
    );
    text.push_str(&"x".repeat(manifest::MAX_FILE_BYTES));
    text.push_str("\"\n");
    std::fs::write(context.path().join("big.yaml"), text).expect("write");
    let mut command = context.pzctl();
    command.args(["validate", "--format", "json", "."]);
    pzctl_snapshot!(context, "validate_huge_file", &mut command);
}

#[test]
fn quickstart_lowers_to_the_expected_desired_state() {
    let loaded = manifest::load(&LoadConfig {
        paths: vec![root().join("examples/quickstart")],
        ..LoadConfig::default()
    });
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let project = &loaded.desired.projects["storefront"];
    assert_eq!(project.spec.description, "Online store personalization");
    assert_eq!(project.stack.as_deref(), Some("blt0123456789abcdef"));
    let members = project.members.clone().expect("members");
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].email, "owner@example.com");
    assert_eq!(members[0].role, ProjectRole::Owner);
    assert_eq!(members[1].role, ProjectRole::Member);
    assert_eq!(
        project.experience_order,
        Some(vec!["homepage-hero".to_owned(), "checkout-test".to_owned()])
    );
    assert!(!project.prune);
    assert_eq!(project.attributes["loyalty-tier"].key, "loyalty_tier");
    assert_eq!(project.events["add_to_cart"].key, "add_to_cart");
    let audience = &project.audiences["gold-members"];
    assert_eq!(audience.rules.combination, Combination::All);
    assert_eq!(audience.rules.rules.len(), 2);
    match &audience.rules.rules[0] {
        model::RuleNode::Condition(c) => {
            assert_eq!(
                c.attribute,
                model::AttributeRef::Custom("loyalty-tier".into())
            );
            assert_eq!(c.condition, "STRING_EQUALS");
            assert_eq!(c.value, Some(serde_json::json!("gold")));
            assert!(!c.negate);
        }
        other => panic!("expected a condition, got {other:?}"),
    }
    match &audience.rules.rules[1] {
        model::RuleNode::Group(g) => {
            assert_eq!(g.combination, Combination::Any);
            assert_eq!(g.rules.len(), 2);
        }
        other => panic!("expected a group, got {other:?}"),
    }
    let hero = &project.experiences["homepage-hero"];
    assert_eq!(hero.kind, model::ExperienceType::Segmented);
    assert_eq!(hero.status, ExperienceStatus::Active);
    assert_eq!(hero.tags, vec!["env:production", "team:web"]);
    assert_eq!(
        hero.variants,
        vec![VariantSpec::Segmented {
            name: "Gold".to_owned(),
            audiences: vec!["gold-members".into()],
            combination: Combination::Any,
        }]
    );
    let test = &project.experiences["checkout-test"];
    assert_eq!(test.kind, model::ExperienceType::AbTest);
    assert_eq!(test.status, ExperienceStatus::Draft);
    assert_eq!(test.metrics, vec!["add_to_cart"]);
    let targeting = test.targeting.clone().expect("targeting");
    assert_eq!(targeting.combination, Combination::All);
    assert_eq!(
        test.variants,
        vec![
            VariantSpec::AbTest {
                name: "Control".to_owned(),
                traffic: 50
            },
            VariantSpec::AbTest {
                name: "Bold".to_owned(),
                traffic: 50
            },
        ]
    );
    let addresses: Vec<&str> = project.origins.keys().map(String::as_str).collect();
    assert_eq!(
        addresses,
        vec![
            "project/storefront",
            "project/storefront/attribute/loyalty-tier",
            "project/storefront/audience/gold-members",
            "project/storefront/event/add_to_cart",
            "project/storefront/experience/checkout-test",
            "project/storefront/experience/homepage-hero",
            "project/storefront/experience_order",
            "project/storefront/member/dev@example.com",
            "project/storefront/member/owner@example.com",
            "project/storefront/stack_link",
        ]
    );
    let origin = &project.origins["project/storefront/experience/checkout-test"];
    assert!(origin.file.ends_with("experiences.yaml"));
    assert_eq!(origin.line, 18);
}

#[test]
fn lowering_is_best_effort_when_other_documents_are_broken() {
    let text = "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: p}\nspec: {}\n---\napiVersion: pzctl/v1\nkind: Event\nmetadata: {name: ok, project: p}\n---\napiVersion: pzctl/v1\nkind: Event\nmetadata: {name: broken, project: p}\nspec: {description: [1]}\n---\napiVersion: pzctl/v1\nkind: Event\nmetadata: {name: typo, project: p}\nspec: {descripton: x}\n";
    let loaded = manifest::load_str("mixed.yaml", text);
    assert!(loaded.has_errors());
    let project = &loaded.desired.projects["p"];
    assert!(project.events.contains_key("ok"));
    // A wrong value: the document is still lowered and checked, without it.
    assert_eq!(project.events["broken"].description, "");
    // Only an unknown field: the rest of the document is still lowered and checked.
    assert!(project.events.contains_key("typo"));
    assert_eq!(project.members, None);
    let codes: Vec<(Code, usize, usize)> = loaded
        .diagnostics
        .iter()
        .map(|d| (d.code, d.line().unwrap_or(0), d.column().unwrap_or(0)))
        .collect();
    assert_eq!(
        codes,
        vec![(Code::WrongType, 13, 21), (Code::UnknownField, 18, 8)]
    );
}

#[test]
fn a_broken_document_does_not_make_references_to_it_dangle() {
    let text = "apiVersion: pzctl/v1\nkind: Project\nmetadata: {name: p}\nspec: {}\n---\napiVersion: pzctl/v1\nkind: Audience\nmetadata: {name: a, project: p}\nspec: {rules: 5}\n---\napiVersion: pzctl/v1\nkind: Experience\nmetadata: {name: e, project: p}\nspec: {type: segmented, variants: [{name: v, audiences: [a]}]}\n";
    let loaded = manifest::load_str("refs.yaml", text);
    let codes: Vec<Code> = loaded.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![Code::WrongType]);
}

#[test]
fn schemas_are_fresh() {
    let dir = root().join("schemas");
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let mut stale = Vec::new();
    for (name, text) in pzctl::schema::generate() {
        let path = dir.join(&name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != text {
            if update {
                std::fs::write(&path, &text).expect("write schema");
            } else {
                let diff = similar::TextDiff::from_lines(&committed, &text)
                    .unified_diff()
                    .header(&format!("committed {name}"), &format!("generated {name}"))
                    .to_string();
                stale.push(diff);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "schemas/ is stale; run `UPDATE_SCHEMAS=1 cargo test --test it schemas_are_fresh`:\n{}",
        stale.join("\n")
    );
}

#[test]
fn schemas_are_valid_against_the_meta_schema() {
    for (name, text) in pzctl::schema::generate() {
        let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
        if let Err(error) = jsonschema::meta::validate(&schema) {
            panic!("{name} is not a valid JSON Schema: {error}");
        }
    }
}

#[test]
fn the_committed_schema_accepts_the_examples_and_rejects_a_typo() {
    let schema: serde_json::Value =
        serde_json::from_str(pzctl::schema::COMMITTED).expect("schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
    let good = serde_json::json!({"apiVersion": "pzctl/v1", "kind": "Event",
        "metadata": {"name": "add_to_cart", "project": "p"}});
    assert!(validator.is_valid(&good));
    let typo = serde_json::json!({"apiVersion": "pzctl/v1", "kind": "Event",
        "metadata": {"name": "add_to_cart", "project": "p"}, "spec": {"descripton": "x"}});
    assert!(!validator.is_valid(&typo));
}

#[test]
fn every_code_has_a_docs_heading() {
    let docs = std::fs::read_to_string(root().join("docs/diagnostics.md")).expect("docs");
    let mut names = std::collections::BTreeSet::new();
    for code in Code::ALL {
        assert!(
            names.insert(code.as_str()),
            "duplicate code {}",
            code.as_str()
        );
        let heading = format!("\n## {}\n", code.as_str());
        assert!(
            docs.contains(&heading),
            "docs/diagnostics.md lacks `## {}`",
            code.as_str()
        );
        let serialized = serde_json::to_value(code).expect("serialize");
        assert_eq!(serialized, code.as_str());
        assert!(!code.description().is_empty());
    }
}

#[test]
fn garbage_inputs_never_panic() {
    let quickstart =
        std::fs::read_to_string(root().join("examples/quickstart/experiences.yaml")).expect("read");
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\n\n".to_vec(),
        b"---\n---\n".to_vec(),
        b"\xff\xfe\x00binary".to_vec(),
        b"{".to_vec(),
        b"key: [unclosed".to_vec(),
        b"!!binary aGVsbG8=".to_vec(),
        b"? [complex, key]\n: value\n".to_vec(),
        b"1: one\n2: two\n".to_vec(),
        b"*undefined_alias".to_vec(),
        b"kind: Project\napiVersion: pzctl/v1\nmetadata: 7\nspec: [1]\n".to_vec(),
        b"kind: 12\napiVersion: null\n".to_vec(),
        "a: \u{1F600}\n".as_bytes().to_vec(),
        "- ".repeat(10_000).into_bytes(),
        "a:\n".repeat(1000).into_bytes(),
    ];
    for cut in (0..quickstart.len()).step_by(11) {
        inputs.push(quickstart.as_bytes()[..cut].to_vec());
    }
    for input in inputs {
        let loaded = manifest::load_inputs(vec![("garbage.yaml".to_owned(), input)]);
        for d in &loaded.diagnostics {
            if let Some(location) = &d.location {
                assert!(location.line >= 1 && location.column >= 1, "{d:?}");
            }
        }
        let _ = pzctl::diagnostic::render_text(&loaded.diagnostics, &loaded.sources, false);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn random_text_never_panics(text in "[a-z:{}\\[\\],&*!|>'\" \n\t#-]{0,200}") {
        let loaded = manifest::load_str("random.yaml", &text);
        let rendered = pzctl::diagnostic::render_text(&loaded.diagnostics, &loaded.sources, false);
        // Every problem points into the file, and each one is shown.
        for d in &loaded.diagnostics {
            proptest::prop_assert_eq!(d.file(), Some("random.yaml"), "{:?}", d);
            proptest::prop_assert!(
                d.line().is_some_and(|line| line >= 1) && d.column().is_some_and(|column| column >= 1),
                "{:?}",
                d
            );
            proptest::prop_assert!(rendered.contains(d.code.as_str()), "{:?} not in {}", d, rendered);
        }
        proptest::prop_assert_eq!(rendered.is_empty(), loaded.diagnostics.is_empty());
    }

    #[test]
    fn mutated_manifests_never_panic(cut in 0usize..700, insert in "[a-z:{}\\[\\],&*!|>'\" \n\t#-]{0,8}") {
        let base = "apiVersion: pzctl/v1\nkind: Experience\nmetadata: {name: e, project: p}\nspec:\n  type: ab_test\n  variants:\n    - {name: A, traffic: 50}\n    - {name: B, traffic: 50}\n  targeting: {audiences: [x], match: all}\n  metrics: [m]\n";
        let at = cut.min(base.len());
        let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
        let loaded = manifest::load_str("mutated.yaml", &text);
        let _ = pzctl::diagnostic::render_text(&loaded.diagnostics, &loaded.sources, false);
        let json: serde_json::Value = serde_json::from_str(&pzctl::diagnostic::render_json(&loaded.diagnostics))
            .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
        proptest::prop_assert_eq!(json.as_array().map(Vec::len), Some(loaded.diagnostics.len()));
    }
}

#[test]
fn every_schema_property_has_a_description() {
    fn walk(value: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                    for (name, prop) in props {
                        if prop.get("description").is_none() {
                            missing.push(format!("{path}/properties/{name}"));
                        }
                    }
                }
                for (key, child) in map {
                    walk(child, &format!("{path}/{key}"), missing);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{path}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let schema: serde_json::Value =
        serde_json::from_str(pzctl::schema::COMMITTED).expect("schema is JSON");
    let mut missing = Vec::new();
    // The `if` branches only select a kind; they are not fields.
    walk(&schema["$defs"], "#/$defs", &mut missing);
    walk(&schema["properties"], "#/properties", &mut missing);
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:?}"
    );
    let examples = pzctl::schema::COMMITTED.matches("\"examples\"").count();
    assert!(examples >= 30, "only {examples} examples");
}

#[test]
fn rendering_survives_spans_that_do_not_fit_the_text() {
    let mut sources = pzctl::diagnostic::Sources::default();
    sources.insert("m.yaml", "name: caf\u{e9}\n");
    // Inside the two-byte `é`, and past the end.
    let diagnostic = pzctl::diagnostic::Diagnostic::error(Code::InvalidValue, "bad")
        .at(pzctl::diagnostic::Location::new("m.yaml", 1, 7).with_span(10, 100));
    let text = pzctl::diagnostic::render_text(std::slice::from_ref(&diagnostic), &sources, false);
    assert!(text.contains("[m.yaml:1:"), "{text}");
    assert!(text.contains("line 1, column 7"), "{text}");
    let json = pzctl::diagnostic::render_json(&[diagnostic]);
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(parsed[0]["code"], "invalid-value");
    assert_eq!(parsed[0]["line"], 1);
}

#[test]
fn schema_command_prints_and_writes_the_committed_schemas() {
    let out = pzctl(&root()).arg("schema").output().expect("run pzctl");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        pzctl::schema::COMMITTED
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pzctl(&root())
        .args(["schema", "--out"])
        .arg(dir.path())
        .output()
        .expect("run pzctl");
    assert_eq!(out.status.code(), Some(0));
    for entry in std::fs::read_dir(root().join("schemas")).expect("schemas/") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name");
        let written = std::fs::read_to_string(dir.path().join(name)).expect("written");
        let committed = std::fs::read_to_string(&path).expect("committed");
        assert_eq!(written, committed, "{}", path.display());
    }
}

/// Issue 16, item 5: a tab in the indentation is reported at the tab itself (the YAML scanner
/// stops where the token before it ended, often on the line before), with a hint.
#[test]
fn a_tab_is_reported_at_its_own_line_and_column() {
    let head = "apiVersion: pzctl/v1\nkind: Project\nmetadata:\n  name: p\n";
    let cases = [
        // (text after the head, line, column)
        ("spec:\n\tdescription: x\n", 6, 1),
        ("spec:\n  description: x\n  \tprune: true\n", 7, 3),
        ("spec:\n  description: x\n\n\t\n\tprune: true\n", 9, 1),
        ("\tspec: {}\n", 5, 1),
    ];
    for (tail, line, column) in cases {
        let text = format!("{head}{tail}");
        let loaded = manifest::load_str("tab.yaml", &text);
        let found: Vec<(Code, usize, usize, Option<&str>)> = loaded
            .diagnostics
            .iter()
            .map(|d| {
                (
                    d.code,
                    d.line().unwrap_or(0),
                    d.column().unwrap_or(0),
                    d.help.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            found,
            vec![(
                Code::YamlSyntax,
                line,
                column,
                Some("indent with spaces instead of tabs")
            )],
            "{text:?}"
        );
        let d = &loaded.diagnostics[0];
        let (offset, len) = d
            .location
            .as_ref()
            .and_then(|location| location.span)
            .expect("a span");
        assert_eq!(&text[offset..offset + len], "\t", "{text:?}");
    }
    // A tab that separates a value, or one on a blank line, is fine YAML.
    let fine = format!("{head}spec:\n  description:\tx\n\t\n  prune: true\n");
    let loaded = manifest::load_str("fine.yaml", &fine);
    assert_eq!(loaded.diagnostics, Vec::new());
}

#[test]
fn github_annotations_are_one_per_real_problem() {
    use pzctl::cli::{DiagnosticFormat, validate_report};
    for (fixture, expected) in [
        // A wrong status and tag do not hide the traffic sum of the same document.
        (
            "invalid-value--next-to-a-traffic-sum",
            vec!["invalid-value", "invalid-tag", "traffic-sum"],
        ),
        // A broken file's attribute and event are not "dangling" where they are used; the
        // event no file declares is.
        (
            "yaml-syntax--references-into-a-broken-file",
            vec!["dangling-reference", "yaml-syntax"],
        ),
    ] {
        let loaded = manifest::load_in(
            &fixtures(),
            &LoadConfig {
                paths: vec![PathBuf::from(fixture)],
                ..LoadConfig::default()
            },
        );
        let report = validate_report(&loaded, DiagnosticFormat::Github, false);
        let titles: Vec<&str> = report
            .stdout
            .lines()
            .filter_map(|line| line.split("title=").nth(1))
            .filter_map(|rest| rest.split("::").next())
            .collect();
        assert_eq!(titles, expected, "{fixture}: {}", report.stdout);
    }
}

#[test]
fn the_audience_reference_lists_every_condition_with_the_value_it_takes() {
    use pzctl::manifest::lower::{ConditionValue, condition_value};
    let docs = std::fs::read_to_string(root().join("docs/manifests/audience.md"))
        .expect("read docs/manifests/audience.md");
    let section = docs
        .split("### Conditions and their values")
        .nth(1)
        .expect("the audience reference has a table of conditions");
    for condition in pzctl::wire::MATCH_CONDITIONS {
        let row = section
            .lines()
            .find(|line| line.starts_with(&format!("| `{condition}` |")))
            .unwrap_or_else(|| panic!("`{condition}` is not in the table"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let expected = match condition_value(condition) {
            None => "none",
            Some(ConditionValue::String) => "string",
            Some(ConditionValue::Number) => "number",
            Some(ConditionValue::Json) => "JSON text",
            Some(ConditionValue::StringList) => "list of strings",
            Some(ConditionValue::Time) => "time",
            Some(ConditionValue::TimeRange) => "list of two times (start, end)",
        };
        assert_eq!(cells.get(2).copied(), Some(expected), "{row}");
        // The example is of the type it documents.
        if let (Some(kind), Some(example)) = (
            condition_value(condition),
            cells
                .get(3)
                .and_then(|cell| cell.strip_prefix("`value: ")?.strip_suffix('`')),
        ) {
            let text = format!(
                "apiVersion: pzctl/v1\nkind: Project\nmetadata: {{name: p}}\n---\napiVersion: pzctl/v1\nkind: Audience\nmetadata: {{name: a, project: p}}\nspec:\n  rules:\n    all:\n      - preset: CITY\n        condition: {condition}\n        value: {example}\n"
            );
            let loaded = manifest::load_str("example.yaml", &text);
            assert!(
                !loaded
                    .diagnostics
                    .iter()
                    .any(|d| d.code == Code::WrongConditionValue),
                "{condition}: {example} ({kind:?}): {:?}",
                loaded.diagnostics
            );
        }
    }
}
