//! Experience versions and their lifecycle: one DRAFT at a time, ACTIVE/PAUSED content locked
//! (status-only moves between them allowed), no way back to DRAFT, activation archives the
//! previous ACTIVE/PAUSED version, variant short uids from a per-experience high-water counter.
//! Also keeps the experience summary (`status`, `latestVersion`, `referredAudiences`, `_cms`).

use serde_json::{Map, Value, json};

use super::{Answer, Meta, Store, VersionRecord, body_object, invalid, invalid_ref, missing};
use crate::wire::{self, ApiError, Request, Variant, VersionStatus};

const LOCKED: &str = "personalize.EXPERIENCES.VERSIONS.CANNOT_UPDATE_LOCKED_VERSION";
const NOT_DRAFT: &str = "personalize.EXPERIENCES.VERSIONS.CANNOT_MARK_VERSION_AS_DRAFT";
const DRAFT_EXISTS: &str =
    "personalize.EXPERIENCES.VERSIONS.CANNOT_CREATE_VERSION_AS_DRAFT_ALREADY_EXISTS";

/// A version body, parsed for shape only.
struct VersionBody {
    status: VersionStatus,
    variants: Vec<Variant>,
    variant_split: Option<Value>,
    metrics: Vec<wire::Metric>,
    targeting: Option<wire::Targeting>,
    /// Whether `metrics` / `targeting` were in the body (a status-only move may leave them out).
    has_metrics: bool,
    has_targeting: bool,
    /// Fields the store does not model, kept as sent (the service keeps what it is given, and
    /// a client's read-modify-write is only testable if they come back).
    extra: Map<String, Value>,
}

/// The version fields the store models; every other field of a body is kept in `extra`.
const MODELED: &[&str] = &["status", "variants", "variantSplit", "metrics", "targeting"];

/// A version as the API returns it: the record with its unmodeled fields inlined.
pub(super) fn version_json(record: &VersionRecord) -> Value {
    let mut value = json!(record);
    if let Value::Object(map) = &mut value {
        map.remove("extra");
        for (key, field) in &record.extra {
            if !map.contains_key(key) {
                map.insert(key.clone(), field.clone());
            }
        }
    }
    value
}

fn short_uid(variant: &Variant) -> Option<&String> {
    match variant {
        Variant::Segmented { short_uid, .. } | Variant::AbTest { short_uid, .. } => {
            short_uid.as_ref()
        }
    }
}

fn set_short_uid(variant: &mut Variant, value: String) {
    match variant {
        Variant::Segmented { short_uid, .. } | Variant::AbTest { short_uid, .. } => {
            *short_uid = Some(value);
        }
    }
}

/// A traffic percentage given as a number or a numeric string.
fn traffic(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// A variant's content without its short uid, traffic as a number.
fn canonical(variant: &Variant) -> Value {
    let mut value = json!(variant);
    if let Value::Object(map) = &mut value {
        map.remove("shortUid");
        if let Some(share) = map.get("trafficDistribution").and_then(traffic) {
            map.insert("trafficDistribution".to_owned(), json!(share));
        }
    }
    value
}

fn parse_body(body: &Map<String, Value>) -> Result<VersionBody, ApiError> {
    let status = match body.get("status") {
        None | Some(Value::Null) => {
            return Err(invalid("status", &["INVALID_STATUS", "STATUS_REQUIRED"]));
        }
        Some(Value::String(text)) if text == "DRAFT" => VersionStatus::Draft,
        Some(Value::String(text)) if text == "ACTIVE" => VersionStatus::Active,
        Some(Value::String(text)) if text == "PAUSED" => VersionStatus::Paused,
        Some(other) => {
            return Err(invalid(
                "status",
                &[
                    "INVALID_STATUS",
                    &format!("status {other} is not one of DRAFT, ACTIVE, PAUSED"),
                ],
            ));
        }
    };
    let Some(Value::Array(raw)) = body.get("variants") else {
        return Err(invalid("variants", &["VARIANTS_NOT_ARRAY", "EMPTY_ARRAY"]));
    };
    if raw.is_empty() {
        return Err(invalid("variants", &["EMPTY_ARRAY"]));
    }
    let mut variants = Vec::new();
    for (i, item) in raw.iter().enumerate() {
        let variant: Variant = serde_json::from_value(item.clone())
            .map_err(|error| invalid("variants", &[&format!("variants.{i}: {error}")]))?;
        variants.push(variant);
    }
    let metrics = match body.get("metrics") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|error| invalid("metrics", &[&format!("metrics: {error}")]))?,
    };
    let targeting = match body.get("targeting") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            serde_json::from_value(value.clone())
                .map_err(|error| invalid("targeting", &[&format!("targeting: {error}")]))?,
        ),
    };
    Ok(VersionBody {
        status,
        variants,
        variant_split: body.get("variantSplit").filter(|v| !v.is_null()).cloned(),
        metrics,
        targeting,
        has_metrics: body.contains_key("metrics"),
        has_targeting: body.contains_key("targeting"),
        extra: body
            .iter()
            .filter(|(key, _)| {
                !MODELED.contains(&key.as_str()) && !wire::SERVER_KEYS.contains(&key.as_str())
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    })
}

impl Store {
    fn version_index(&self, p: usize, e: usize, uid: &str) -> Result<usize, ApiError> {
        self.projects[p].experiences[e]
            .versions
            .iter()
            .position(|v| v.uid == uid)
            .ok_or_else(|| missing("Version", uid))
    }

    fn check_audience(&self, p: usize, field: &str, uid: &str) -> Result<(), ApiError> {
        if !wire::is_object_id(uid) {
            return Err(invalid(field, &[&format!("{uid} is not a valid ObjectId")]));
        }
        if !self.projects[p].audiences.iter().any(|a| a.uid == uid) {
            return Err(invalid_ref(
                field,
                "personalize.EXPERIENCES.VERSIONS.AUDIENCE_NOT_FOUND",
                &format!("audience {uid} does not exist in this project"),
            ));
        }
        Ok(())
    }

    /// Content rules for a version that will be stored with new content.
    fn check_content(&self, p: usize, e: usize, body: &VersionBody) -> Result<(), ApiError> {
        let state = &self.projects[p].experiences[e];
        let kind = state.experience.kind;
        if body.variants.len() > self.limits.variants_per_experience {
            return Err(invalid_ref(
                "variants",
                "personalize.EXPERIENCES.VERSIONS.VARIANT_COUNT_EXCEEDED",
                &format!(
                    "{} variants; at most {} are allowed",
                    body.variants.len(),
                    self.limits.variants_per_experience
                ),
            ));
        }
        let mut seen_short = Vec::new();
        let mut total = 0.0;
        for (i, variant) in body.variants.iter().enumerate() {
            if let Some(short) = short_uid(variant) {
                let known = short
                    .parse::<u64>()
                    .is_ok_and(|n| n < state.next_variant_short_uid);
                if !known || seen_short.contains(&short) {
                    return Err(invalid_ref(
                        "variants",
                        "personalize.EXPERIENCES.VERSIONS.INVALID_VARIANT_SHORT_UID",
                        &format!("variants.{i}.shortUid {short:?} was not assigned by the server"),
                    ));
                }
                seen_short.push(short);
            }
            match (kind, variant) {
                (
                    wire::ExperienceType::Segmented,
                    Variant::Segmented {
                        name, audiences, ..
                    },
                ) => {
                    if name.trim().is_empty() {
                        return Err(invalid(
                            "variants",
                            &[&format!("variants.{i}.name should not be empty")],
                        ));
                    }
                    if audiences.is_empty() {
                        return Err(invalid(
                            "variants",
                            &[
                                "EMPTY_ARRAY",
                                &format!("variants.{i}.audiences should not be empty"),
                            ],
                        ));
                    }
                    if audiences.len() > self.limits.audiences_per_variant {
                        return Err(invalid_ref(
                            "variants",
                            "personalize.EXPERIENCES.VERSIONS.AUDIENCE_COUNT_EXCEEDED",
                            &format!(
                                "variants.{i} has {} audiences; at most {} are allowed",
                                audiences.len(),
                                self.limits.audiences_per_variant
                            ),
                        ));
                    }
                    for audience in audiences {
                        self.check_audience(p, "variants", audience)?;
                    }
                }
                (
                    wire::ExperienceType::AbTest,
                    Variant::AbTest {
                        name,
                        traffic_distribution,
                        ..
                    },
                ) => {
                    if name.trim().is_empty() {
                        return Err(invalid(
                            "variants",
                            &[&format!("variants.{i}.name should not be empty")],
                        ));
                    }
                    match traffic(traffic_distribution) {
                        Some(share) if (0.0..=100.0).contains(&share) => total += share,
                        _ => {
                            return Err(invalid(
                                "variants",
                                &[&format!(
                                    "variants.{i}.trafficDistribution must be a percentage between 0 and 100"
                                )],
                            ));
                        }
                    }
                }
                _ => {
                    return Err(invalid_ref(
                        "variants",
                        "personalize.EXPERIENCES.VERSIONS.INVALID_VARIANT_TYPE",
                        &format!(
                            "variants.{i}: a {} experience takes {} variants",
                            if kind == wire::ExperienceType::Segmented {
                                "SEGMENTED"
                            } else {
                                "AB_TEST"
                            },
                            if kind == wire::ExperienceType::Segmented {
                                "SegmentedVariant"
                            } else {
                                "ABTestVariant"
                            },
                        ),
                    ));
                }
            }
        }
        if kind == wire::ExperienceType::AbTest {
            if body.variants.len() < 2 {
                return Err(invalid_ref(
                    "variants",
                    "personalize.EXPERIENCES.VERSIONS.AB_TEST_MIN_VARIANTS",
                    "an A/B test needs at least 2 variants",
                ));
            }
            if (total - 100.0).abs() > 1e-6 {
                return Err(invalid_ref(
                    "variants",
                    "personalize.EXPERIENCES.VERSIONS.INVALID_TRAFFIC_DISTRIBUTION",
                    &format!("traffic distribution adds up to {total}, not 100"),
                ));
            }
        }
        for metric in &body.metrics {
            if !self.projects[p]
                .events
                .iter()
                .any(|ev| ev.uid == metric.event)
            {
                return Err(invalid_ref(
                    "metrics",
                    "personalize.EXPERIENCES.VERSIONS.EVENT_NOT_FOUND",
                    &format!("event {} does not exist in this project", metric.event),
                ));
            }
        }
        if let Some(targeting) = &body.targeting {
            for audience in targeting.audience.iter().flat_map(|a| &a.audiences) {
                self.check_audience(p, "targeting", audience)?;
            }
        }
        Ok(())
    }

    /// Give server short uids to the variants that have none.
    fn assign_short_uids(&mut self, p: usize, e: usize, variants: &mut [Variant]) {
        let state = &mut self.projects[p].experiences[e];
        for variant in variants {
            if short_uid(variant).is_none() {
                set_short_uid(variant, state.next_variant_short_uid.to_string());
                state.next_variant_short_uid += 1;
            }
        }
    }

    /// After version `v` was written: an active one archives the others that ran; the
    /// experience's summary follows.
    fn after_version_write(&mut self, p: usize, e: usize, v: usize, now: &str, actor: &str) {
        if self.projects[p].experiences[e].versions[v].status == VersionStatus::Active {
            self.archive_others(p, e, v, now, actor);
        }
        self.refresh_experience(p, e, now, actor);
    }

    /// Archive every ACTIVE/PAUSED version but `keep`.
    fn archive_others(&mut self, p: usize, e: usize, keep: usize, now: &str, actor: &str) {
        for (i, version) in self.projects[p].experiences[e]
            .versions
            .iter_mut()
            .enumerate()
        {
            if i != keep
                && matches!(
                    version.status,
                    VersionStatus::Active | VersionStatus::Paused
                )
            {
                version.status = VersionStatus::Archived;
                version.meta.touch(now, actor);
            }
        }
    }

    /// Recompute the experience summary after a version change.
    fn refresh_experience(&mut self, p: usize, e: usize, now: &str, actor: &str) {
        let state = &self.projects[p].experiences[e];
        let find = |status| state.versions.iter().position(|v| v.status == status);
        let status = if find(VersionStatus::Active).is_some() {
            "ACTIVE"
        } else if find(VersionStatus::Paused).is_some() {
            "PAUSED"
        } else {
            "DRAFT"
        };
        let current = find(VersionStatus::Active)
            .or_else(|| find(VersionStatus::Paused))
            .or_else(|| find(VersionStatus::Draft))
            .unwrap_or(state.versions.len().saturating_sub(1));
        let mut audiences: Vec<String> = Vec::new();
        let mut lytics: Vec<String> = Vec::new();
        if let Some(version) = state.versions.get(current) {
            for variant in &version.variants {
                if let Variant::Segmented {
                    audiences: native,
                    lytics_audiences,
                    ..
                } = variant
                {
                    for uid in native {
                        if !audiences.contains(uid) {
                            audiences.push(uid.clone());
                        }
                    }
                    for uid in lytics_audiences {
                        if !lytics.contains(uid) {
                            lytics.push(uid.clone());
                        }
                    }
                }
            }
            if let Some(targeting) = &version.targeting {
                for uid in targeting.audience.iter().flat_map(|a| &a.audiences) {
                    if !audiences.contains(uid) {
                        audiences.push(uid.clone());
                    }
                }
            }
        }
        let latest = state
            .versions
            .last()
            .map(|v| v.uid.clone())
            .unwrap_or_default();
        // `_cms`: one CMS variant per variant short uid ever used, once any version has variants.
        let shorts: Vec<String> = state
            .versions
            .iter()
            .flat_map(|v| v.variants.iter().filter_map(short_uid).cloned())
            .collect();
        let mut cms = state.experience.cms.clone();
        if !shorts.is_empty() {
            let mut map = match cms {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            if !map.contains_key("variantGroup") {
                map.insert("variantGroup".to_owned(), json!(self.new_cms_uid()));
            }
            let mut variants = match map.remove("variants") {
                Some(Value::Object(variants)) => variants,
                _ => Map::new(),
            };
            for short in shorts {
                if !variants.contains_key(&short) {
                    variants.insert(short, json!(self.new_cms_uid()));
                }
            }
            map.insert("variants".to_owned(), Value::Object(variants));
            cms = Some(Value::Object(map));
        }
        let record = &mut self.projects[p].experiences[e].experience;
        status.clone_into(&mut record.status);
        record.latest_version = latest;
        record.referred_audiences = audiences;
        record.referred_lytics_audiences = lytics;
        record.cms = cms;
        record.meta.touch(now, actor);
    }

    pub(super) fn list_versions(&self, p: usize, uid: &str) -> Answer {
        let e = self.experience_index(p, uid)?;
        Ok(Value::Array(
            self.projects[p].experiences[e]
                .versions
                .iter()
                .rev()
                .map(version_json)
                .collect(),
        ))
    }

    pub(super) fn create_version(
        &mut self,
        actor: &str,
        p: usize,
        uid: &str,
        request: &Request,
    ) -> Answer {
        let e = self.experience_index(p, uid)?;
        let mut body = parse_body(body_object(request)?)?;
        match body.status {
            VersionStatus::Draft => {
                if self.projects[p].experiences[e]
                    .versions
                    .iter()
                    .any(|v| v.status == VersionStatus::Draft)
                {
                    return Err(invalid_ref(
                        "status",
                        DRAFT_EXISTS,
                        &format!("experience {uid} already has a draft version"),
                    ));
                }
            }
            VersionStatus::Active => {}
            _ => {
                return Err(invalid(
                    "status",
                    &["INVALID_STATUS", "a new version is DRAFT or ACTIVE"],
                ));
            }
        }
        self.check_content(p, e, &body)?;
        let now = self.tick();
        let actor = actor.to_lowercase();
        let id = self.new_id();
        self.assign_short_uids(p, e, &mut body.variants);
        let record = VersionRecord {
            id: id.clone(),
            uid: id,
            experience: uid.to_owned(),
            status: body.status,
            variants: body.variants,
            variant_split: body.variant_split,
            metrics: body.metrics,
            targeting: body.targeting,
            extra: body.extra,
            meta: Meta::new(&now, &actor),
        };
        let value = version_json(&record);
        self.projects[p].experiences[e].versions.push(record);
        let index = self.projects[p].experiences[e].versions.len() - 1;
        self.after_version_write(p, e, index, &now, &actor);
        Ok(value)
    }

    pub(super) fn update_version(
        &mut self,
        actor: &str,
        p: usize,
        uid: &str,
        version: &str,
        request: &Request,
    ) -> Answer {
        let e = self.experience_index(p, uid)?;
        let v = self.version_index(p, e, version)?;
        let mut body = parse_body(body_object(request)?)?;
        let current = &self.projects[p].experiences[e].versions[v];
        let replace_content = match (current.status, body.status) {
            (VersionStatus::Archived | VersionStatus::Unknown, _) => {
                return Err(invalid_ref(
                    "status",
                    LOCKED,
                    &format!("version {version} is archived and cannot change"),
                ));
            }
            (VersionStatus::Draft, VersionStatus::Draft | VersionStatus::Active) => true,
            (VersionStatus::Draft, _) => {
                return Err(invalid(
                    "status",
                    &["INVALID_STATUS", "a draft version can only be activated"],
                ));
            }
            (VersionStatus::Active | VersionStatus::Paused, VersionStatus::Draft) => {
                return Err(invalid_ref(
                    "status",
                    NOT_DRAFT,
                    &format!("version {version} has run and cannot become a draft again"),
                ));
            }
            (VersionStatus::Active | VersionStatus::Paused, _) => {
                if !same_content(current, &body) {
                    return Err(invalid_ref(
                        "variants",
                        LOCKED,
                        &format!(
                            "version {version} is {:?}; only its status can change (create a new draft to change content)",
                            current.status
                        ),
                    ));
                }
                false
            }
        };
        if replace_content {
            self.check_content(p, e, &body)?;
        }
        let now = self.tick();
        let actor = actor.to_lowercase();
        if replace_content {
            // A variant sent again without its short uid keeps it (the CLI strips them).
            let explicit: Vec<String> = body
                .variants
                .iter()
                .filter_map(short_uid)
                .cloned()
                .collect();
            let mut previous: Vec<Variant> = self.projects[p].experiences[e].versions[v]
                .variants
                .iter()
                .filter(|old| short_uid(old).is_some_and(|s| !explicit.contains(s)))
                .cloned()
                .collect();
            for variant in &mut body.variants {
                if short_uid(variant).is_some() {
                    continue;
                }
                let same = previous.iter().position(|old| {
                    short_uid(old).is_some() && canonical(old) == canonical(variant)
                });
                if let Some(index) = same {
                    let old = previous.remove(index);
                    if let Some(short) = short_uid(&old) {
                        set_short_uid(variant, short.clone());
                    }
                }
            }
            self.assign_short_uids(p, e, &mut body.variants);
        }
        let record = &mut self.projects[p].experiences[e].versions[v];
        record.status = body.status;
        if replace_content {
            record.variants = body.variants;
            record.variant_split = body.variant_split;
            record.metrics = body.metrics;
            record.targeting = body.targeting;
            record.extra = body.extra;
        }
        record.meta.touch(&now, &actor);
        let value = version_json(record);
        self.after_version_write(p, e, v, &now, &actor);
        Ok(value)
    }

    pub(super) fn delete_version(
        &mut self,
        actor: &str,
        p: usize,
        uid: &str,
        version: &str,
    ) -> Answer {
        let e = self.experience_index(p, uid)?;
        let v = self.version_index(p, e, version)?;
        let state = &self.projects[p].experiences[e];
        if state.versions.len() == 1 {
            return Err(invalid_ref(
                "version",
                "CANNOT_DELETE_ONLY_DRAFT",
                &format!("version {version} is the only version of experience {uid}"),
            ));
        }
        if matches!(
            state.versions[v].status,
            VersionStatus::Active | VersionStatus::Paused
        ) {
            return Err(invalid_ref(
                "version",
                "personalize.EXPERIENCES.VERSIONS.CANNOT_DELETE_LOCKED_VERSION",
                &format!(
                    "version {version} is running or paused; archive it by activating another version"
                ),
            ));
        }
        let now = self.tick();
        self.projects[p].experiences[e].versions.remove(v);
        self.refresh_experience(p, e, &now, &actor.to_lowercase());
        Ok(Value::Null)
    }
}

/// Whether a request's content equals a stored version's (short uids may be omitted).
fn same_content(existing: &VersionRecord, body: &VersionBody) -> bool {
    existing.variants.len() == body.variants.len()
        && existing
            .variants
            .iter()
            .zip(&body.variants)
            .all(|(old, new)| {
                canonical(old) == canonical(new)
                    && short_uid(new).is_none_or(|short| short_uid(old) == Some(short))
            })
        && (!body.has_metrics || existing.metrics == body.metrics)
        && (!body.has_targeting || existing.targeting == body.targeting)
        && body
            .variant_split
            .as_ref()
            .is_none_or(|split| existing.variant_split.as_ref() == Some(split))
}
