//! Integration tests: a run limited by `--project` (one shard of a CI matrix) reads only the
//! files of its projects, so another project's broken file does not stop it, while a run over
//! the whole tree still reports it.

use std::process::Output;

use crate::support::TestContext;

fn project(name: &str) -> String {
    format!(
        "apiVersion: pzctl/v1\nkind: Project\nmetadata:\n  name: {name}\nspec:\n  description: The {name} project\n"
    )
}

fn event(name: &str, project: &str, spec: &str) -> String {
    format!(
        "apiVersion: pzctl/v1\nkind: Event\nmetadata: {{name: {name}, project: {project}}}\nspec: {spec}\n"
    )
}

/// `shop.yaml` is valid; `blog.yaml` has a typo and a dangling reference.
fn tree() -> TestContext {
    let context = TestContext::new();
    let write = |file: &str, text: String| {
        std::fs::write(context.path().join(file), text).expect("write");
    };
    write(
        "shop.yaml",
        [project("shop"), event("checkout", "shop", "{}")].join("---\n"),
    );
    write(
        "blog.yaml",
        [
            project("blog"),
            event("read", "blog", "{descriptoin: typo}"),
            "apiVersion: pzctl/v1\nkind: Experience\nmetadata: {name: hero, project: blog}\nspec:\n  type: segmented\n  variants:\n    - {name: A, audiences: [nobody]}\n".to_owned(),
        ]
        .join("---\n"),
    );
    context
}

fn run(context: &TestContext, args: &[&str]) -> Output {
    context
        .pzctl()
        .args(args)
        .env("PZCTL_STATE_DIR", context.path().join(".state"))
        .output()
        .expect("run pzctl")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn another_projects_broken_file_stops_the_whole_tree_but_not_a_shard() {
    let context = tree();
    let whole = run(&context, &["validate"]);
    assert_eq!(whole.status.code(), Some(1), "{}", stderr(&whole));
    assert!(stderr(&whole).contains("blog.yaml"), "{}", stderr(&whole));
    let plan = run(&context, &["plan"]);
    assert_eq!(plan.status.code(), Some(1), "{}", stderr(&plan));

    let shard = run(&context, &["validate", "--project", "shop"]);
    assert_eq!(shard.status.code(), Some(0), "{}", stderr(&shard));
    assert!(
        stderr(&shard).contains("valid: 2 resources in 1 file"),
        "{}",
        stderr(&shard)
    );
    let plan = run(&context, &["plan", "--project", "shop", "--format", "json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    let addresses: Vec<&str> = json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["address"].as_str())
        .collect();
    assert_eq!(
        addresses,
        ["project/shop", "project/shop/event/checkout"],
        "{json:#}"
    );
    assert!(!stderr(&plan).contains("blog"), "{}", stderr(&plan));

    // A project to delete is read too: one the manifests declare is refused.
    let delete = run(
        &context,
        &["plan", "--project", "shop", "--delete-project", "blog"],
    );
    assert_eq!(delete.status.code(), Some(1), "{}", stderr(&delete));
    // A typo is told from the projects of the files not read.
    let typo = run(&context, &["validate", "--project", "blogg"]);
    assert_eq!(typo.status.code(), Some(1), "{}", stderr(&typo));
    assert!(
        stderr(&typo).contains("did you mean `blog`?"),
        "{}",
        stderr(&typo)
    );

    // The broken project's own shard still stops.
    let blog = run(&context, &["plan", "--project", "blog"]);
    assert_eq!(blog.status.code(), Some(1), "{}", stderr(&blog));
    assert!(
        stderr(&blog).contains("unknown field `descriptoin`"),
        "{}",
        stderr(&blog)
    );
}

#[test]
fn a_broken_file_stops_a_shard_only_when_it_may_be_the_shards() {
    let context = tree();
    // Not YAML, and nothing in it can name `shop`: another project's.
    std::fs::write(
        context.path().join("blog.yaml"),
        "apiVersion: pzctl/v1\nkind: Event\nmetadata: {name: read, project: [blog\n",
    )
    .expect("write");
    let shard = run(&context, &["plan", "--project", "shop"]);
    assert_eq!(shard.status.code(), Some(0), "{}", stderr(&shard));
    // It mentions `shop`: whose it is cannot be told, so the shard reads it and stops.
    std::fs::write(
        context.path().join("blog.yaml"),
        "# was in shop\napiVersion: pzctl/v1\nkind: Event\nmetadata: {name: read, project: [blog\n",
    )
    .expect("write");
    let shard = run(&context, &["plan", "--project", "shop"]);
    assert_eq!(shard.status.code(), Some(1), "{}", stderr(&shard));
    assert!(stderr(&shard).contains("blog.yaml"), "{}", stderr(&shard));
}

#[test]
fn a_shard_of_an_environment_selects_by_live_name() {
    let context = tree();
    std::fs::write(
        context.path().join("pzctl.yaml"),
        "apiVersion: pzctl/v1\nkind: Workspace\nenvironments:\n  staging:\n    projects: {shop: shop-staging, blog: blog-staging}\n",
    )
    .expect("write");
    let shard = run(&context, &["validate", "--project", "shop-staging"]);
    assert_eq!(shard.status.code(), Some(0), "{}", stderr(&shard));
    let plan = run(
        &context,
        &[
            "plan",
            "--env",
            "staging",
            "--project",
            "shop-staging",
            "--format",
            "json",
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    assert_eq!(json["summary"]["create"], 2, "{json:#}");
    let whole = run(&context, &["validate"]);
    assert_eq!(whole.status.code(), Some(1), "{}", stderr(&whole));
}
