//! The live organization as `pzctl show` prints it: every identifier the UI shows (project
//! UIDs, experience and variant shortUids, version uids, member roles and statuses).
//!
//! Pure: reads only the [`LiveState`] it is given, in its (deterministic) order.

use serde_json::{Value, json};

use crate::model::{ContentTypeLinks, LiveExperience, LiveProject, LiveState};
use crate::wire::{self, AttributeType, VersionStatus};

/// The live view's JSON format version, in its `format_version` field.
pub const LIVE_FORMAT_VERSION: u32 = 1;

/// The live organization as JSON (`pzctl show --format json`), ending with a newline.
pub fn live_json(live: &LiveState) -> String {
    let projects: Vec<Value> = live.projects.values().map(project_json).collect();
    let view = json!({
        "format_version": LIVE_FORMAT_VERSION,
        "projects": projects,
    });
    let mut text = serde_json::to_string_pretty(&view).unwrap_or_default();
    text.push('\n');
    text
}

/// The live organization as text (`pzctl show`), ending with a newline.
pub fn live_text(live: &LiveState) -> String {
    if live.projects.is_empty() {
        return "No projects.\n".to_owned();
    }
    let mut out = String::new();
    for (index, project) in live.projects.values().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        project_text(project, &mut out);
    }
    out
}

fn project_json(live: &LiveProject) -> Value {
    let project = &live.project;
    json!({
        "name": project.name,
        "uid": project.uid,
        "stack": project.connected_stack_api_key,
        "description": project.description,
        "members": live.members.as_ref().map(|members| {
            members
                .iter()
                .map(|member| json!({
                    "email": member.email,
                    "role": role(member.role),
                    "status": status(member.status),
                }))
                .collect::<Vec<_>>()
        }),
        "attributes": live
            .attributes
            .iter()
            .map(|attribute| json!({
                "name": attribute.name,
                "key": attribute.key,
                "uid": attribute.uid,
                "preset": attribute.kind == AttributeType::Preset,
            }))
            .collect::<Vec<_>>(),
        "events": live
            .events
            .iter()
            .map(|event| json!({ "key": event.key, "uid": event.uid }))
            .collect::<Vec<_>>(),
        "audiences": live
            .audiences
            .iter()
            .map(|audience| json!({ "name": audience.name, "uid": audience.uid }))
            .collect::<Vec<_>>(),
        "experiences": live
            .experiences
            .iter()
            .map(|experience| experience_json(experience, stacked(live)))
            .collect::<Vec<_>>(),
        "priority": live
            .priority
            .iter()
            .map(|uid| json!({ "uid": uid, "name": experience_name(live, uid) }))
            .collect::<Vec<_>>(),
    })
}

/// Whether the project connects a stack (its experiences then show their CMS variant group).
fn stacked(live: &LiveProject) -> bool {
    live.project
        .connected_stack_api_key
        .as_deref()
        .is_some_and(|key| !key.is_empty())
}

/// The experience's CMS variant group uid (`_cms.variantGroup`).
fn variant_group(live: &LiveExperience) -> Option<&str> {
    live.experience.cms.as_ref()?.get("variantGroup")?.as_str()
}

fn experience_json(live: &LiveExperience, stacked: bool) -> Value {
    let mut value = experience_json_base(live);
    if stacked && let Value::Object(map) = &mut value {
        map.insert("variantGroup".to_owned(), json!(variant_group(live)));
        map.insert("contentTypes".to_owned(), json!(live.content_types.read()));
        if let ContentTypeLinks::Unread(why) = &live.content_types {
            map.insert("contentTypesUnread".to_owned(), json!(why));
        }
    }
    value
}

fn experience_json_base(live: &LiveExperience) -> Value {
    let experience = &live.experience;
    let shown = shown_version(live);
    json!({
        "name": experience.name,
        "uid": experience.uid,
        "shortUid": experience.short_uid,
        "type": experience_type(experience.kind),
        "status": experience.status,
        "activeVersion": version_uid(live, &[VersionStatus::Active, VersionStatus::Paused]),
        "draftVersion": version_uid(live, &[VersionStatus::Draft]),
        "variants": shown
            .map(|version| {
                version
                    .variants
                    .iter()
                    .map(|variant| {
                        let (name, short_uid) = variant_ids(variant);
                        json!({ "name": name, "shortUid": short_uid })
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    })
}

fn project_text(live: &LiveProject, out: &mut String) {
    let project = &live.project;
    out.push_str(&format!("project {}\n", project.name));
    out.push_str(&format!("  uid:         {}\n", project.uid));
    out.push_str(&format!(
        "  stack:       {}\n",
        project
            .connected_stack_api_key
            .as_deref()
            .unwrap_or("(none)")
    ));
    out.push_str(&format!(
        "  description: {}\n",
        if project.description.is_empty() {
            "(none)"
        } else {
            &project.description
        }
    ));

    match &live.members {
        None => out.push_str("  members: (this target does not list members)\n"),
        Some(members) if members.is_empty() => out.push_str("  members: (none)\n"),
        Some(members) => {
            out.push_str("  members:\n");
            let rows = members
                .iter()
                .map(|member| {
                    vec![
                        member.email.clone(),
                        role(member.role).to_owned(),
                        status(member.status).to_owned(),
                    ]
                })
                .collect();
            table(out, rows);
        }
    }

    section(
        out,
        "attributes",
        live.attributes
            .iter()
            .map(|attribute| {
                let name = if attribute.kind == AttributeType::Preset {
                    format!("{} (preset)", attribute.name)
                } else {
                    attribute.name.clone()
                };
                vec![
                    name,
                    format!("key {}", attribute.key),
                    attribute.uid.clone(),
                ]
            })
            .collect(),
    );
    section(
        out,
        "events",
        live.events
            .iter()
            .map(|event| vec![event.key.clone(), event.uid.clone()])
            .collect(),
    );
    section(
        out,
        "audiences",
        live.audiences
            .iter()
            .map(|audience| vec![audience.name.clone(), audience.uid.clone()])
            .collect(),
    );

    if live.experiences.is_empty() {
        out.push_str("  experiences: (none)\n");
    } else {
        out.push_str("  experiences:\n");
        for experience in &live.experiences {
            experience_text(experience, stacked(live), out);
        }
    }

    if live.priority.is_empty() {
        out.push_str("  priority: (none)\n");
    } else {
        out.push_str("  priority (highest first):\n");
        for (index, uid) in live.priority.iter().enumerate() {
            match experience_name(live, uid) {
                Some(name) => out.push_str(&format!("    {}. {name} ({uid})\n", index + 1)),
                None => out.push_str(&format!("    {}. {uid}\n", index + 1)),
            }
        }
    }
}

fn experience_text(live: &LiveExperience, stacked: bool, out: &mut String) {
    let experience = &live.experience;
    out.push_str(&format!("    {}\n", experience.name));
    let none = || "(none)".to_owned();
    let mut rows = vec![
        vec!["uid".to_owned(), experience.uid.clone()],
        vec!["shortUid".to_owned(), experience.short_uid.clone()],
        vec![
            "type".to_owned(),
            experience_type(experience.kind).to_owned(),
        ],
        vec!["status".to_owned(), experience.status.to_lowercase()],
        vec![
            "active version".to_owned(),
            version_uid(live, &[VersionStatus::Active, VersionStatus::Paused])
                .map_or_else(none, str::to_owned),
        ],
        vec![
            "draft version".to_owned(),
            version_uid(live, &[VersionStatus::Draft]).map_or_else(none, str::to_owned),
        ],
    ];
    if stacked {
        rows.push(vec![
            "variant group".to_owned(),
            variant_group(live).map_or_else(none, str::to_owned),
        ]);
        rows.push(vec![
            "content types".to_owned(),
            match &live.content_types {
                ContentTypeLinks::Read(linked) if linked.is_empty() => none(),
                ContentTypeLinks::Read(linked) => linked.join(", "),
                ContentTypeLinks::Unread(why) => format!("(not read: {why})"),
            },
        ]);
    }
    let mut block = String::new();
    table(&mut block, rows);
    for line in block.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    let variants = shown_version(live).map_or(&[][..], |version| version.variants.as_slice());
    if variants.is_empty() {
        out.push_str("      variants: (none)\n");
    } else {
        out.push_str("      variants:\n");
        let rows = variants
            .iter()
            .map(|variant| {
                let (name, short_uid) = variant_ids(variant);
                vec![
                    name.to_owned(),
                    format!("shortUid {}", short_uid.unwrap_or("(none)")),
                ]
            })
            .collect();
        let mut block = String::new();
        table(&mut block, rows);
        for line in block.lines() {
            out.push_str(&format!("    {line}\n"));
        }
    }
}

/// `  title:` and a table of rows, or `  title: (none)`.
fn section(out: &mut String, title: &str, rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        out.push_str(&format!("  {title}: (none)\n"));
    } else {
        out.push_str(&format!("  {title}:\n"));
        table(out, rows);
    }
}

/// Rows indented by four spaces, columns padded to their widest cell.
fn table(out: &mut String, rows: Vec<Vec<String>>) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from("    ");
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let width = widths.get(column).copied().unwrap_or(0);
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// The uid of the experience's version in one of these statuses.
fn version_uid<'a>(live: &'a LiveExperience, statuses: &[VersionStatus]) -> Option<&'a str> {
    live.versions
        .iter()
        .find(|version| statuses.contains(&version.status))
        .map(|version| version.uid.as_str())
}

/// The version whose variants are shown: the active (or paused) one, else the draft, else the
/// latest.
fn shown_version(live: &LiveExperience) -> Option<&wire::Version> {
    let with = |statuses: &[VersionStatus]| {
        live.versions
            .iter()
            .find(|version| statuses.contains(&version.status))
    };
    with(&[VersionStatus::Active, VersionStatus::Paused])
        .or_else(|| with(&[VersionStatus::Draft]))
        .or_else(|| {
            live.versions
                .iter()
                .find(|version| version.uid == live.experience.latest_version)
        })
}

fn variant_ids(variant: &wire::Variant) -> (&str, Option<&str>) {
    match variant {
        wire::Variant::Segmented {
            name, short_uid, ..
        }
        | wire::Variant::AbTest {
            name, short_uid, ..
        } => (name.as_str(), short_uid.as_deref()),
    }
}

fn experience_name<'a>(live: &'a LiveProject, uid: &str) -> Option<&'a str> {
    live.experiences
        .iter()
        .find(|experience| experience.experience.uid == uid)
        .map(|experience| experience.experience.name.as_str())
}

fn role(role: wire::ProjectRole) -> &'static str {
    match role {
        wire::ProjectRole::Owner => "owner",
        wire::ProjectRole::Member => "member",
    }
}

fn status(status: wire::MemberStatus) -> &'static str {
    match status {
        wire::MemberStatus::Pending => "pending",
        wire::MemberStatus::Accepted => "accepted",
    }
}

fn experience_type(kind: wire::ExperienceType) -> &'static str {
    match kind {
        wire::ExperienceType::Segmented => "segmented",
        wire::ExperienceType::AbTest => "ab_test",
    }
}
