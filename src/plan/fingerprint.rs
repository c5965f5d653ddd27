//! Fingerprints of live objects: SHA-256 of each object's canonical JSON (keys sorted), so
//! `apply --plan` can tell which objects changed since the plan was made.
//!
//! Invariant: deterministic; the same live state always gives the same digest.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::LiveFingerprint;
use crate::model::{Kind, LiveState, address};
use crate::wire::AttributeType;

/// JSON with object keys sorted at every level (compact, as `serde_json` writes it), the
/// top-level key `skip` left out.
fn canonical(value: &Value, skip: Option<&str>, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut sorted: Vec<(&String, &Value)> = map
                .iter()
                .filter(|(key, _)| Some(key.as_str()) != skip)
                .collect();
            sorted.sort_unstable_by_key(|(key, _)| *key);
            out.push(b'{');
            for (index, (key, value)) in sorted.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                scalar(key, out);
                out.push(b':');
                canonical(value, None, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                canonical(item, None, out);
            }
            out.push(b']');
        }
        other => scalar(other, out),
    }
}

/// A string, number, boolean or null as compact JSON.
fn scalar<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    // Writing a scalar into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// SHA-256 of the canonical JSON of `value` without its top-level key `skip`, hex.
#[must_use]
pub fn value_digest(value: &Value, skip: Option<&str>) -> String {
    let mut text = Vec::new();
    canonical(value, skip, &mut text);
    hex(&Sha256::digest(&text))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// SHA-256 of the canonical JSON of `object`, hex.
#[must_use]
pub fn object_digest<T: Serialize>(object: &T) -> String {
    value_digest(&serde_json::to_value(object).unwrap_or(Value::Null), None)
}

/// Fingerprint every live object the planner reads.
#[must_use]
pub fn fingerprint(live: &LiveState) -> LiveFingerprint {
    let mut objects = BTreeMap::new();
    for (name, project) in &live.projects {
        let project_digest = object_digest(&project.project);
        objects.insert(address(name, Kind::Project, name), project_digest.clone());
        objects.insert(address(name, Kind::StackLink, name), project_digest);
        for member in project.members.iter().flatten() {
            objects.insert(
                address(name, Kind::Member, &member.email.to_lowercase()),
                object_digest(member),
            );
        }
        for attribute in &project.attributes {
            if attribute.kind == AttributeType::Custom {
                objects.insert(
                    address(name, Kind::Attribute, &attribute.name),
                    object_digest(attribute),
                );
            }
        }
        for event in &project.events {
            objects.insert(address(name, Kind::Event, &event.key), object_digest(event));
        }
        for audience in &project.audiences {
            objects.insert(
                address(name, Kind::Audience, &audience.name),
                object_digest(audience),
            );
        }
        for experience in &project.experiences {
            let mut versions: Vec<&crate::wire::Version> = experience.versions.iter().collect();
            versions.sort_by(|left, right| left.uid.cmp(&right.uid));
            // The linked content types count when there are any (so the digests of
            // experiences without links are what they were before links were read).
            let digest = match experience.content_types.read() {
                Some(linked) if !linked.is_empty() => {
                    object_digest(&(&experience.experience, versions, linked))
                }
                _ => object_digest(&(&experience.experience, versions)),
            };
            objects.insert(
                address(name, Kind::Experience, &experience.experience.name),
                digest,
            );
        }
        objects.insert(
            address(name, Kind::ExperienceOrder, name),
            object_digest(&project.priority),
        );
    }
    let mut all = String::new();
    for (object_address, digest) in &objects {
        all.push_str(object_address);
        all.push('=');
        all.push_str(digest);
        all.push('\n');
    }
    LiveFingerprint {
        digest: hex(&Sha256::digest(all.as_bytes())),
        objects,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{object_digest, value_digest};

    #[test]
    fn digest_ignores_key_order_but_not_values() {
        let one = object_digest(&json!({"a": 1, "b": [1, 2]}));
        let same: serde_json::Value =
            serde_json::from_str(r#"{"b": [1, 2], "a": 1}"#).unwrap_or_default();
        assert_eq!(one, object_digest(&same));
        assert_ne!(one, object_digest(&json!({"a": 1, "b": [2, 1]})));
        assert_eq!(one.len(), 64);
    }

    /// The canonical form is what earlier releases hashed too (sorted keys, compact, strings
    /// escaped as `serde_json` writes them), so their saved plans still verify: the digests
    /// below are SHA-256 of that text as written by another JSON library.
    #[test]
    fn the_canonical_form_is_pinned() {
        let value = json!({"b": [1, 2, {"z": null, "a": true}], "a": "q\"u\u{e9}\n", "n": 0.5,
                           "digest": "x", "m": {"y": -3, "x": "t"}});
        assert_eq!(
            value_digest(&value, Some("digest")),
            "4754194a635beeac64d36766a82c3635486b27cb59335174a90398ad59e01d2b"
        );
        assert_eq!(
            object_digest(&value),
            "61ea619aa424b6b05ae11418903f959efe01b9819b6c7a4b05149a31b273d2a7"
        );
    }
}
