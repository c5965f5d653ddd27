//! Quirks mode (`pzctl emulator --quirks`): answers rewritten into the variants the hosted
//! service may send (`personalize-api.md` §7), so clients are tested against them end to end.
//!
//! Every rewrite is deterministic and keeps the meaning a tolerant client must read from it:
//! - list records alternate between both ids, only `uid` and only `_id`;
//! - empty descriptions are `null`;
//! - every record carries a field no client knows (`servedWith`);
//! - versions without targeting have `targeting: {}`; metrics and audience rule nodes have no
//!   `__type`; segmented variants matching any audience (`OR`) have no
//!   `audienceCombinationType`;
//! - every versions list ends with an `ARCHIVED` version and one of a status no client knows
//!   (`SCHEDULED`);
//! - every audiences list ends with one audience no client can read (a rule on an attribute
//!   reference of an unknown `__type`);
//! - `GET /experiences-priority` answers 404 (the route is unconfirmed on the hosted service);
//! - on the Content Management API, `GET /v3/variant_groups` without `experience_uid` answers
//!   404 (the official CLI only ever asks for one experience's group; that the whole stack's
//!   can be listed is unconfirmed).
//!
//! Only answers change: what the store holds and what writes accept stay as without quirks.

use serde_json::{Value, json};

/// A field no client knows, on every record served in quirks mode.
pub const UNKNOWN_FIELD: &str = "servedWith";

/// The name of the audience in quirks mode that no client can read.
pub const UNREADABLE_AUDIENCE: &str = "quirks-unreadable-audience";

/// Whether quirks mode answers this GET with a 404 instead (the priority route, and the
/// listing of a whole stack's variant groups).
#[must_use]
pub fn missing_route(path: &str) -> bool {
    let segments = route(path);
    match segments
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["experiences-priority", ..] => true,
        ["v3", "variant_groups"] => !path.split_once('?').is_some_and(|(_, query)| {
            query
                .split('&')
                .any(|pair| pair.starts_with("experience_uid="))
        }),
        _ => false,
    }
}

fn route(path: &str) -> Vec<String> {
    let path = path.split('?').next().unwrap_or("");
    path.split('/')
        .filter(|segment| !segment.is_empty())
        .map(crate::wire::decode_segment)
        .collect()
}

/// Rewrite the answer of a successful GET of `path`.
#[must_use]
pub fn rewrite(path: &str, mut answer: Value) -> Value {
    let segments = route(path);
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (&segments[..], &mut answer) {
        (["experiences", experience, "versions"], Value::Array(versions)) => {
            for version in versions.iter_mut() {
                quirk_version(version);
            }
            versions.push(extra_version(experience, "a", "ARCHIVED"));
            versions.push(extra_version(experience, "b", "SCHEDULED"));
        }
        (["audiences"], Value::Array(audiences)) => {
            for audience in audiences.iter_mut() {
                if let Some(definition) = audience.get_mut("definition") {
                    quirk_rules(definition);
                }
            }
            audiences.push(json!({
                "uid": "0000000000000000000000ff",
                "name": UNREADABLE_AUDIENCE,
                "description": "a rule on an attribute reference no client knows",
                "definition": {"__type": "RuleCombination", "combinationType": "AND", "rules": [
                    {"__type": "Rule",
                     "attribute": {"__type": "BehaviourReference", "ref": "visits"},
                     "attributeMatchCondition": "NUMBER_GREATER_THAN",
                     "attributeMatchOptions": {"__type": "NumberMatchOptions", "value": 3},
                     "invertCondition": false}
                ]}
            }));
        }
        _ => {}
    }
    match &mut answer {
        Value::Array(records) => {
            for (index, record) in records.iter_mut().enumerate() {
                quirk_record(record, Some(index));
            }
        }
        record @ Value::Object(_) => quirk_record(record, None),
        _ => {}
    }
    answer
}

/// Ids, null descriptions, an unknown field.
fn quirk_record(record: &mut Value, index: Option<usize>) {
    let Value::Object(map) = record else {
        return;
    };
    if map.contains_key("uid") && map.contains_key("_id") {
        match index.map(|index| index % 3) {
            Some(1) => {
                map.remove("_id");
            }
            Some(2) => {
                map.remove("uid");
            }
            _ => {}
        }
    }
    if map.get("description").and_then(Value::as_str) == Some("") {
        map.insert("description".to_owned(), Value::Null);
    }
    if map.contains_key("uid") || map.contains_key("_id") {
        map.insert(UNKNOWN_FIELD.to_owned(), json!({"mode": "quirks"}));
    }
}

fn quirk_version(version: &mut Value) {
    let Value::Object(map) = version else {
        return;
    };
    if map.get("targeting").is_none_or(Value::is_null) {
        map.insert("targeting".to_owned(), json!({}));
    }
    if let Some(Value::Array(metrics)) = map.get_mut("metrics") {
        for metric in metrics {
            if let Value::Object(metric) = metric {
                metric.remove("__type");
            }
        }
    }
    if let Some(Value::Array(variants)) = map.get_mut("variants") {
        for variant in variants {
            if let Value::Object(variant) = variant {
                let segmented =
                    variant.get("__type").and_then(Value::as_str) == Some("SegmentedVariant");
                let any = variant
                    .get("audienceCombinationType")
                    .and_then(Value::as_str)
                    == Some("OR");
                if segmented && any {
                    variant.remove("audienceCombinationType");
                }
            }
        }
    }
}

/// Remove `__type` from every rule node below the root (groups have `rules`, rules have
/// `attribute`, so the shape tells them apart).
fn quirk_rules(definition: &mut Value) {
    if let Some(Value::Array(rules)) = definition.get_mut("rules") {
        for node in rules {
            if let Value::Object(map) = node {
                map.remove("__type");
            }
            quirk_rules(node);
        }
    }
}

/// A version a client must read and leave alone: a 24-hex uid derived from the experience's.
fn extra_version(experience: &str, tag: &str, status: &str) -> Value {
    let mut uid: String = experience.chars().take(23).collect();
    while uid.len() < 23 {
        uid.push('0');
    }
    uid.push_str(tag);
    json!({
        "uid": uid,
        "_id": uid,
        "status": status,
        "variants": [],
        "metrics": [],
        "variantSplit": "EQUAL",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn versions_get_every_variant_of_the_answer() {
        let answer = json!([{
            "uid": "v1", "_id": "v1", "status": "DRAFT", "description": "",
            "variants": [{"__type": "SegmentedVariant", "name": "A", "audiences": ["u"], "audienceCombinationType": "OR"}],
            "metrics": [{"__type": "Primary", "event": "e", "name": "buy"}]
        }]);
        let out = rewrite("/experiences/abc/versions", answer);
        let versions = out.as_array().unwrap();
        assert_eq!(versions.len(), 3);
        assert_eq!(versions[0]["targeting"], json!({}));
        assert!(versions[0]["metrics"][0].get("__type").is_none());
        assert!(
            versions[0]["variants"][0]
                .get("audienceCombinationType")
                .is_none()
        );
        assert_eq!(versions[0]["description"], Value::Null);
        assert_eq!(versions[1]["status"], "ARCHIVED");
        assert!(
            versions[1].get("_id").is_none(),
            "second record has only uid"
        );
        assert!(
            versions[2].get("uid").is_none(),
            "third record has only _id"
        );
        assert!(missing_route("/experiences-priority"));
        assert!(!missing_route("/experiences"));
    }
}
