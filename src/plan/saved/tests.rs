//! Unit tests of saved plans: the comparison, the digest, reading a file, contradicting flags.

use serde_json::{Value, json};

use super::*;
use crate::plan::{Action, Change, LiveFingerprint, Summary};

fn change(address: &str, action: Action, description: &str, depends_on: &[&str]) -> Change {
    let name = address.rsplit('/').next().unwrap_or(address);
    let before = (action != Action::Create)
        .then(|| json!({"key": name, "name": name, "description": "old", "dataType": "String"}));
    let after = (action != Action::Delete).then(
        || json!({"key": name, "name": name, "description": description, "dataType": "String"}),
    );
    serde_json::from_value(json!({
        "address": address, "kind": "attribute", "action": action, "project": "shop",
        "name": name, "before": before, "after": after, "fields": [],
        "requires": "project_member", "depends_on": depends_on,
    }))
    .expect("an attribute change")
}

fn changes() -> Vec<Change> {
    vec![
        change("project/shop/attribute/a", Action::Create, "A", &[]),
        change(
            "project/shop/attribute/b",
            Action::Update,
            "B",
            &["project/shop/attribute/a"],
        ),
        change("project/shop/attribute/c", Action::Delete, "", &[]),
    ]
}

fn binding() -> Binding {
    Binding {
        pzctl_version: "1.2.3".to_owned(),
        target: PlanTarget::local("./.pzctl/"),
        selection: Selection {
            paths: vec!["manifests".to_owned()],
            include: Vec::new(),
            exclude: vec!["**/draft-*.yaml".to_owned()],
            projects: vec!["shop".to_owned()],
            env: Some("staging".to_owned()),
        },
        guards: Guards {
            allow_delete: false,
            max_deletions: 10,
            delete_projects: Vec::new(),
        },
    }
}

fn plan() -> Plan {
    Plan {
        format_version: FORMAT_VERSION,
        binding: None,
        summary: Summary {
            create: 1,
            update: 1,
            delete: 1,
        },
        changes: changes(),
        live_fingerprint: LiveFingerprint::default(),
        unmanaged: Vec::new(),
        notes: Vec::new(),
        warnings: Vec::new(),
        digest: None,
    }
}

fn sealed_text() -> String {
    crate::render::json(&seal(plan(), binding()))
}

#[test]
fn the_same_changes_do_not_differ() {
    assert_eq!(compare(&changes(), &changes()), Vec::new());
    assert_eq!(compare(&[], &[]), Vec::new());
}

#[test]
fn a_change_added_removed_or_different_is_named_with_its_fields() {
    let saved = changes();
    let mut fresh = changes();
    fresh.remove(2);
    fresh.push(change("project/shop/attribute/d", Action::Create, "D", &[]));
    fresh[0] = change("project/shop/attribute/a", Action::Create, "A2", &[]);
    assert_eq!(
        compare(&saved, &fresh),
        vec![
            PlanDifference::Removed {
                address: "project/shop/attribute/c".to_owned(),
                action: Action::Delete
            },
            PlanDifference::Changed {
                address: "project/shop/attribute/a".to_owned(),
                fields: vec!["after".to_owned()]
            },
            PlanDifference::Added {
                address: "project/shop/attribute/d".to_owned(),
                action: Action::Create
            },
        ]
    );
}

#[test]
fn action_before_and_depends_on_are_compared() {
    let saved = changes();
    let mut fresh = changes();
    fresh[1] = change("project/shop/attribute/b", Action::Delete, "", &[]);
    let differences = compare(&saved, &fresh);
    assert_eq!(
        differences,
        vec![PlanDifference::Changed {
            address: "project/shop/attribute/b".to_owned(),
            fields: vec![
                "action".to_owned(),
                "after".to_owned(),
                "depends_on".to_owned()
            ]
        }]
    );
    assert_eq!(
        differences[0].to_string(),
        "project/shop/attribute/b: differs in action, after, depends_on"
    );
}

#[test]
fn the_order_and_duplicates_are_differences() {
    let saved = changes();
    let mut fresh = changes();
    fresh.swap(0, 2);
    assert!(matches!(
        compare(&saved, &fresh).as_slice(),
        [PlanDifference::Order { .. }]
    ));
    let mut doubled = changes();
    doubled.push(changes()[0].clone());
    assert!(
        compare(&doubled, &changes()).contains(&PlanDifference::Duplicate {
            address: "project/shop/attribute/a".to_owned()
        })
    );
}

#[test]
fn a_sealed_plan_reads_back_as_written() {
    let text = sealed_text();
    let plan = read(&text).expect("a sealed plan");
    assert_eq!(plan.binding, Some(binding()));
    assert_eq!(plan.changes, changes());
    assert_eq!(crate::render::json(&plan), text);
    assert!(
        plan.digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
}

#[test]
fn any_edit_is_named_as_an_edit() {
    let original: Value = serde_json::from_str(&sealed_text()).expect("JSON");
    type Edit = (&'static str, fn(&mut Value));
    let edits: Vec<Edit> = vec![
        ("action", |v| v["changes"][0]["action"] = json!("delete")),
        ("address", |v| {
            v["changes"][0]["address"] = json!("project/shop/attribute/z");
        }),
        ("value", |v| {
            v["changes"][0]["after"]["description"] = json!("X")
        }),
        ("summary", |v| v["summary"]["delete"] = json!(0)),
        ("guard", |v| {
            v["binding"]["guards"]["allow_delete"] = json!(true)
        }),
        ("target", |v| {
            v["binding"]["target"]["state_dir"] = json!("other")
        }),
        ("removed", |v| {
            if let Some(list) = v["changes"].as_array_mut() {
                list.remove(1);
            }
        }),
    ];
    for (what, edit) in edits {
        let mut value = original.clone();
        edit(&mut value);
        let text = value.to_string();
        assert_eq!(read(&text), Err(FileRefusal::Edited), "{what}");
    }
    let mut value = original.clone();
    if let Value::Object(map) = &mut value {
        map.shift_remove("digest");
    }
    assert_eq!(read(&value.to_string()), Err(FileRefusal::NoDigest));
    // Reformatting is not an edit: the digest is over the canonical JSON.
    assert!(read(&original.to_string()).is_ok());
    assert_eq!(
        FileRefusal::Edited.message("plan.json"),
        "plan.json was edited after it was written"
    );
}

#[test]
fn versions_other_than_this_one_are_refused() {
    let mut value: Value = serde_json::from_str(&sealed_text()).expect("JSON");
    value["format_version"] = json!(99);
    assert_eq!(
        read(&value.to_string()),
        Err(FileRefusal::Newer { found: 99 })
    );
    let message = FileRefusal::Newer { found: 99 }.message("plan.json");
    assert!(message.contains("99") && message.contains(&FORMAT_VERSION.to_string()));
    value["format_version"] = json!(2);
    assert_eq!(
        read(&value.to_string()),
        Err(FileRefusal::Older { found: 2 })
    );
    assert_eq!(read("{}"), Err(FileRefusal::NoVersion));
    assert!(matches!(read("not json"), Err(FileRefusal::NotJson(_))));
}

#[test]
fn flags_that_say_something_else_contradict_the_plan() {
    let recorded = binding();
    assert_eq!(
        contradictions(&recorded, &GivenFlags::default()),
        Vec::new()
    );
    let same = GivenFlags {
        paths: vec!["./manifests/".to_owned()],
        exclude: vec!["**/draft-*.yaml".to_owned()],
        projects: vec!["shop".to_owned()],
        env: Some("staging".to_owned()),
        max_deletions: Some(10),
        ..GivenFlags::default()
    };
    assert_eq!(contradictions(&recorded, &same), Vec::new());
    let other = GivenFlags {
        paths: vec!["other".to_owned()],
        include: vec!["*.yaml".to_owned()],
        exclude: vec!["x".to_owned()],
        projects: vec!["web".to_owned()],
        env: Some("production".to_owned()),
        allow_delete: true,
        max_deletions: Some(50),
        delete_projects: vec!["old".to_owned()],
    };
    let flags: Vec<String> = contradictions(&recorded, &other)
        .into_iter()
        .map(|(flag, _, _)| flag)
        .collect();
    assert_eq!(
        flags,
        [
            "paths",
            "--include",
            "--exclude",
            "--project",
            "--delete-project",
            "--env",
            "--allow-delete",
            "--max-deletions"
        ]
    );
    let mut none = binding();
    none.selection.env = None;
    assert_eq!(
        contradictions(
            &none,
            &GivenFlags {
                env: Some("staging".to_owned()),
                ..GivenFlags::default()
            }
        ),
        vec![("--env".to_owned(), "staging".to_owned(), "none".to_owned())]
    );
}

#[test]
fn targets_are_compared_by_place() {
    assert_eq!(PlanTarget::local("./.pzctl/"), PlanTarget::local(".pzctl"));
    assert_ne!(PlanTarget::local(".pzctl"), PlanTarget::local("other"));
    assert_eq!(
        PlanTarget::endpoint("http://127.0.0.1:1/", None),
        PlanTarget::endpoint("http://127.0.0.1:1", None)
    );
    assert_eq!(clean_path("/tmp/./x/"), "/tmp/x");
    assert_eq!(clean_path("./"), ".");
    // The Content Management API is part of the place: content types are linked there.
    let with = |cma: Option<&str>| PlanTarget::endpoint("http://127.0.0.1:1", None).with_cma(cma);
    assert_eq!(
        with(Some("http://127.0.0.1:2/")),
        with(Some("http://127.0.0.1:2"))
    );
    assert_ne!(
        with(Some("http://127.0.0.1:2")),
        with(Some("http://127.0.0.1:3"))
    );
    assert_ne!(with(Some("http://127.0.0.1:2")), with(None));
    assert_eq!(
        with(Some("http://127.0.0.1:2")).to_string(),
        "http://127.0.0.1:1 with the Content Management API at http://127.0.0.1:2"
    );
    // A target without one is written as before.
    assert!(
        !serde_json::to_string(&with(None))
            .unwrap_or_default()
            .contains("cma")
    );
}
