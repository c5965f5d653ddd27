//! Tolerant reads and faithful writes, end to end over HTTP: the real binary against the
//! emulator's quirks mode (answers shaped as the hosted service may send them) and against
//! versions holding fields pzctl does not manage.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use pzctl::emulator::{self, EmulatorConfig, EmulatorHandle, quirks};
use pzctl::live::{Backend, Method, Request};
use pzctl::wire;
use serde_json::{Value, json};

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

/// `pzctl` in `dir` against the endpoint `url` (through `PZCTL_ENDPOINT`, which only the
/// commands with a target read) as the owner, isolated from the caller's environment.
fn pzctl(dir: &Path, url: &str) -> Command {
    let mut cmd = Command::cargo_bin("pzctl").expect("the pzctl binary");
    cmd.current_dir(dir)
        .env("PZCTL_ENDPOINT", url)
        .env_remove("PZCTL_REGION")
        .env_remove("PZCTL_STATE_DIR")
        .env_remove("CONTENTSTACK_OAUTH_TOKEN")
        .env("CONTENTSTACK_AUTHTOKEN", "owner-token")
        .env("CONTENTSTACK_ORGANIZATION_UID", "blt5a5a5a5a5a5a5a5a")
        .env("NO_COLOR", "1");
    cmd
}

fn start(quirks: bool) -> EmulatorHandle {
    let mut config = EmulatorConfig::with_default_users();
    config.quirks = quirks;
    config.record_requests = true;
    emulator::start(config, "127.0.0.1:0".parse().expect("address")).expect("start the emulator")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run and require success; stdout and stderr.
fn run(cmd: &mut Command) -> (String, String) {
    let output = cmd.output().expect("run pzctl");
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}{stderr}");
    (stdout, stderr)
}

/// A copy of the quickstart in `dir/manifests`.
fn copy_quickstart(dir: &Path) -> PathBuf {
    let target = dir.join("manifests");
    std::fs::create_dir_all(&target).expect("mkdir");
    for entry in std::fs::read_dir(quickstart()).expect("read quickstart") {
        let path = entry.expect("entry").path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, target.join(name)).expect("copy");
        }
    }
    target
}

fn plan_json(dir: &Path, url: &str, manifests: &Path) -> Value {
    let (stdout, _) = run(pzctl(dir, url)
        .args(["plan", "--format", "json"])
        .arg(manifests));
    serde_json::from_str(&stdout).expect("plan JSON")
}

fn warnings_of(plan: &Value, kind: &str) -> Vec<Value> {
    plan["warnings"]
        .as_array()
        .map(|warnings| {
            warnings
                .iter()
                .filter(|warning| warning["kind"] == kind)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn quirks_apply_then_plan_shows_no_changes_and_export_validates() {
    let server = start(true);
    let url = server.url();
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();

    let (_, stderr) = run(pzctl(dir, &url)
        .args(["apply", "--auto-approve"])
        .arg(quickstart()));
    // The new project was empty when it was read, so there was nothing odd to read yet.
    assert!(!stderr.contains("cannot be read"), "{stderr}");

    // Created with its stack in the POST; never linked by a PUT afterwards.
    let requests = server.requests();
    let post = requests
        .iter()
        .find(|request| request.method == "POST" && request.path == "/projects")
        .expect("POST /projects");
    assert_eq!(
        post.body.as_ref().map(|body| &body["connectedStackApiKey"]),
        Some(&json!("blt0123456789abcdef")),
        "{post:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|request| request.method == "PUT" && request.path.starts_with("/projects/")),
        "{requests:?}"
    );
    let state = server.state();
    let project = &state["projects"][0]["project"];
    assert_eq!(project["connectedStackApiKey"], "blt0123456789abcdef");
    assert_eq!(project["organizationUid"], "blt5a5a5a5a5a5a5a5a");

    // Every answer variant is read; the plan is empty and says why twice, once each.
    let output = pzctl(dir, &url)
        .args(["plan", "--detailed-exitcode"])
        .arg(quickstart())
        .output()
        .expect("run");
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("No changes."), "{stdout}");
    assert_eq!(
        stderr.matches(quirks::UNREADABLE_AUDIENCE).count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("the experience order is not managed")
            .count(),
        1,
        "{stderr}"
    );

    let plan = plan_json(dir, &url, &quickstart());
    assert_eq!(
        plan["summary"],
        json!({"create": 0, "update": 0, "delete": 0})
    );
    let audiences = warnings_of(&plan, "audience");
    assert_eq!(audiences.len(), 1, "{plan:#}");
    assert_eq!(audiences[0]["name"], quirks::UNREADABLE_AUDIENCE);
    assert_eq!(audiences[0]["project"], "storefront");
    assert_eq!(warnings_of(&plan, "experience_order").len(), 1);
    assert_eq!(plan["warnings"].as_array().map(Vec::len), Some(2));

    // Export skips what it cannot read, and what it writes validates and plans clean.
    let (_, stderr) = run(pzctl(dir, &url).args(["export", "--out", "out"]));
    assert!(stderr.contains(quirks::UNREADABLE_AUDIENCE), "{stderr}");
    run(pzctl(dir, &url).args(["validate", "out"]));
    let output = pzctl(dir, &url)
        .args(["plan", "out", "--detailed-exitcode"])
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

#[test]
fn one_odd_record_is_one_warning_and_the_rest_of_the_plan_is_unchanged() {
    let plain = start(false);
    let odd = start(true);
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();
    let manifests = copy_quickstart(dir);
    for server in [&plain, &odd] {
        run(pzctl(dir, &server.url())
            .args(["apply", "--auto-approve"])
            .arg(&manifests));
    }
    // Change an audience and an experience.
    let path = manifests.join("experiences.yaml");
    let experiences = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        experiences.replace("Bold checkout button", "Bolder checkout button"),
    )
    .expect("write");
    let path = manifests.join("audiences.yaml");
    let audiences = std::fs::read_to_string(&path).expect("read");
    assert!(audiences.contains("description:"), "{audiences}");
    std::fs::write(
        &path,
        audiences.replacen("description: ", "description: Now ", 1),
    )
    .expect("write");

    let expected = plan_json(dir, &plain.url(), &manifests);
    let got = plan_json(dir, &odd.url(), &manifests);
    assert_eq!(got["changes"], expected["changes"]);
    assert_eq!(got["summary"], expected["summary"]);
    assert_eq!(expected["summary"]["update"], 2, "{expected:#}");
    assert!(expected.get("warnings").is_none(), "{expected:#}");
    let warnings = warnings_of(&got, "audience");
    assert_eq!(warnings.len(), 1, "{got:#}");
    assert_eq!(warnings[0]["uid"], "0000000000000000000000ff");
    assert!(
        warnings[0]["message"]
            .as_str()
            .is_some_and(|message| message.contains("BehaviourReference")),
        "{warnings:?}"
    );

    // A manifest that would reuse the unreadable audience's name is refused, not duplicated.
    std::fs::write(
        manifests.join("odd.yaml"),
        format!(
            "apiVersion: pzctl/v1\nkind: Audience\nmetadata:\n  name: {}\n  project: storefront\nspec:\n  rules:\n    any:\n      - preset: COUNTRY\n        condition: STRING_EQUALS\n        value: AU\n",
            quirks::UNREADABLE_AUDIENCE
        ),
    )
    .expect("write");
    run(pzctl(dir, &plain.url()).arg("validate").arg(&manifests));
    let output = pzctl(dir, &odd.url())
        .arg("plan")
        .arg(&manifests)
        .output()
        .expect("run");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("immutable-field") && stderr.contains("neither updates it nor"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_rewrite_keeps_what_pzctl_does_not_manage() {
    let server = start(true);
    let url = server.url();
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().to_owned();
    let manifests = copy_quickstart(&dir);
    {
        let (dir, url, manifests) = (dir.clone(), url.clone(), manifests.clone());
        tokio::task::spawn_blocking(move || {
            run(pzctl(&dir, &url)
                .args(["apply", "--auto-approve"])
                .arg(&manifests))
        })
        .await
        .expect("apply");
    }

    // Someone sets what pzctl does not manage on the A/B test's draft.
    let state = server.state();
    let project = &state["projects"][0];
    let project_uid = project["project"]["uid"].as_str().expect("project uid");
    let experience = project["experiences"]
        .as_array()
        .and_then(|experiences| {
            experiences
                .iter()
                .find(|experience| experience["experience"]["name"] == "checkout-test")
        })
        .expect("checkout-test");
    let experience_uid = experience["experience"]["uid"].as_str().expect("uid");
    let draft = &experience["versions"][0];
    assert_eq!(draft["status"], "DRAFT");
    let mut body = draft.clone();
    if let Some(map) = body.as_object_mut() {
        map.insert("variantSplit".into(), json!("CUSTOM"));
        map.insert("reviewNote".into(), json!({"by": "ui", "ok": true}));
    }
    body["variants"][0]["color"] = json!("#ff0000");
    body["targeting"]["lyticsAudiences"] = json!(["0123456789abcdef0123456789abcdef"]);
    let backend = crate::support::http_backend(&url, "owner-token");
    let path = wire::path(&[
        "experiences",
        experience_uid,
        "versions",
        draft["uid"].as_str().expect("version uid"),
    ]);
    backend
        .send(
            Request::new(Method::Put, path)
                .project(project_uid)
                .body(body),
        )
        .await
        .expect("set unmanaged fields");

    // A manifest change rewrites the draft.
    let path = manifests.join("experiences.yaml");
    let experiences = std::fs::read_to_string(&path).expect("read");
    let changed = experiences.replace(
        "      traffic: 50\n    - name: Bold\n      traffic: 50",
        "      traffic: 60\n    - name: Bold\n      traffic: 40",
    );
    assert_ne!(changed, experiences);
    std::fs::write(&path, changed).expect("write");
    {
        let (dir, url, manifests) = (dir.clone(), url.clone(), manifests.clone());
        tokio::task::spawn_blocking(move || {
            run(pzctl(&dir, &url)
                .args(["apply", "--auto-approve"])
                .arg(&manifests))
        })
        .await
        .expect("apply");
    }

    let state = server.state();
    let experience = state["projects"][0]["experiences"]
        .as_array()
        .and_then(|experiences| {
            experiences
                .iter()
                .find(|experience| experience["experience"]["name"] == "checkout-test")
        })
        .cloned()
        .expect("checkout-test");
    let draft = &experience["versions"][0];
    assert_eq!(draft["status"], "DRAFT");
    assert_eq!(draft["variants"][0]["trafficDistribution"], 60, "{draft:#}");
    assert_eq!(draft["variantSplit"], "CUSTOM", "{draft:#}");
    assert_eq!(
        draft["extra"]["reviewNote"],
        json!({"by": "ui", "ok": true})
    );
    assert_eq!(draft["variants"][0]["color"], "#ff0000");
    assert_eq!(
        draft["targeting"]["lyticsAudiences"],
        json!(["0123456789abcdef0123456789abcdef"])
    );
    assert_eq!(
        draft["targeting"]["audience"]["audienceCombinationType"],
        "AND"
    );
    // Server-kept fields are never sent back.
    let put = server
        .requests()
        .into_iter()
        .rev()
        .find(|request| request.method == "PUT" && request.path.contains("/versions/"))
        .expect("the rewrite");
    let sent = put.body.expect("body");
    assert!(
        sent.get("createdAt").is_none() && sent.get("_id").is_none(),
        "{sent:#}"
    );
    assert_eq!(sent["variantSplit"], "CUSTOM");
}
