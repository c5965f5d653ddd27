//! Project-scoped resources: attributes, events, audiences, experiences and the priority list.
//! (Versions live in `versions.rs`.)

use serde_json::{Map, Value, json};

use serde::Serialize;

use super::{
    Answer, AttributeRecord, AudienceRecord, EventRecord, ExperienceRecord, ExperienceState,
    Limits, Meta, ProjectState, Store, VersionRecord, body_object, invalid, invalid_ref, missing,
    optional_string, required_string,
};
use crate::wire::{self, ApiError, Method, Request};

fn count_exceeded(field: &str, code: &str, what: &str, limit: usize) -> ApiError {
    invalid_ref(field, code, &format!("at most {limit} {what} are allowed"))
}

/// A project-scoped collection of records with the same lifecycle: attributes, events and
/// audiences. Listing, lookup by uid, create, update and delete are written once over it
/// ([`Store::collection`]); each kind says how a body becomes its fields.
pub(super) trait Records: Serialize + Sized {
    /// The object's name in 404 messages, e.g. `Attribute`.
    const NAME: &'static str;
    /// The error code of a second record with the same key, for kinds whose key is unique.
    const DUPLICATE_KEY: Option<&'static str> = None;
    /// The field, code and words of the error for one record too many.
    const TOO_MANY: (&'static str, &'static str, &'static str);
    /// What a create or an update body says, validated.
    type Fields;
    fn all(project: &ProjectState) -> &Vec<Self>;
    fn all_mut(project: &mut ProjectState) -> &mut Vec<Self>;
    fn uid(&self) -> &str;
    fn meta_mut(&mut self) -> &mut Meta;
    /// The key, unique in its project, of a record and of a body.
    fn key(&self) -> Option<&str> {
        None
    }
    fn key_of(_fields: &Self::Fields) -> Option<&str> {
        None
    }
    /// Whether the record counts towards the limit (custom attributes do, presets do not).
    fn counts(&self) -> bool {
        true
    }
    fn limit(limits: &Limits) -> usize;
    /// Refuse to change or delete this record (preset attributes).
    fn check_mutable(&self) -> Result<(), ApiError> {
        Ok(())
    }
    /// Validate a body.
    fn fields(store: &Store, p: usize, request: &Request) -> Result<Self::Fields, ApiError>;
    fn new(id: String, project: String, meta: Meta, fields: Self::Fields) -> Self;
    fn set(&mut self, fields: Self::Fields);
}

/// The parts of a [`Records`] implementation that only name the project's field.
macro_rules! records_fields {
    ($field:ident) => {
        fn all(project: &ProjectState) -> &Vec<Self> {
            &project.$field
        }
        fn all_mut(project: &mut ProjectState) -> &mut Vec<Self> {
            &mut project.$field
        }
        fn uid(&self) -> &str {
            &self.uid
        }
        fn meta_mut(&mut self) -> &mut Meta {
            &mut self.meta
        }
    };
}

/// The fields of an attribute body: name, key, description.
pub(super) type AttributeFields = (String, String, String);

impl Records for AttributeRecord {
    const NAME: &'static str = "Attribute";
    const DUPLICATE_KEY: Option<&'static str> = Some("personalize.ATTRIBUTES.DUPLICATE_KEY");
    const TOO_MANY: (&'static str, &'static str, &'static str) = (
        "key",
        "personalize.ATTRIBUTES.ATTRIBUTE_COUNT_EXCEEDED",
        "custom attributes per project",
    );
    type Fields = AttributeFields;
    records_fields!(attributes);
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn key_of((_, key, _): &AttributeFields) -> Option<&str> {
        Some(key)
    }
    fn counts(&self) -> bool {
        self.kind == wire::AttributeType::Custom
    }
    fn limit(limits: &Limits) -> usize {
        limits.attributes_per_project
    }
    fn check_mutable(&self) -> Result<(), ApiError> {
        if self.kind == wire::AttributeType::Preset {
            return Err(invalid_ref(
                "attribute",
                "personalize.ATTRIBUTES.PRESET_ATTRIBUTE_IMMUTABLE",
                &format!("preset attribute {} cannot be changed or deleted", self.key),
            ));
        }
        Ok(())
    }
    fn fields(_: &Store, _: usize, request: &Request) -> Result<AttributeFields, ApiError> {
        let body = body_object(request)?;
        let name = required_string(body, "name")?;
        let key = required_string(body, "key")?;
        let description = optional_string(body, "description")?.unwrap_or_default();
        Ok((name, key, description))
    }
    fn new(
        id: String,
        project: String,
        meta: Meta,
        (name, key, description): AttributeFields,
    ) -> Self {
        AttributeRecord {
            id: id.clone(),
            uid: id,
            name,
            key,
            description,
            kind: wire::AttributeType::Custom,
            project,
            meta,
        }
    }
    fn set(&mut self, (name, key, description): AttributeFields) {
        self.name = name;
        self.key = key;
        self.description = description;
    }
}

/// The fields of an event body: key, name (optional), description.
pub(super) type EventFields = (String, Option<String>, String);

impl Records for EventRecord {
    const NAME: &'static str = "Event";
    const DUPLICATE_KEY: Option<&'static str> = Some("personalize.EVENTS.DUPLICATE_KEY");
    const TOO_MANY: (&'static str, &'static str, &'static str) = (
        "key",
        "personalize.EVENTS.EVENT_COUNT_EXCEEDED",
        "events per project",
    );
    type Fields = EventFields;
    records_fields!(events);
    fn key(&self) -> Option<&str> {
        Some(&self.key)
    }
    fn key_of((key, _, _): &EventFields) -> Option<&str> {
        Some(key)
    }
    fn limit(limits: &Limits) -> usize {
        limits.events_per_project
    }
    fn fields(_: &Store, _: usize, request: &Request) -> Result<EventFields, ApiError> {
        let body = body_object(request)?;
        let key = required_string(body, "key")?;
        let name = optional_string(body, "name")?;
        let description = optional_string(body, "description")?.unwrap_or_default();
        Ok((key, name, description))
    }
    fn new(id: String, project: String, meta: Meta, (key, name, description): EventFields) -> Self {
        EventRecord {
            id: id.clone(),
            uid: id,
            key,
            name,
            description,
            project,
            meta,
        }
    }
    fn set(&mut self, (key, name, description): EventFields) {
        self.key = key;
        // An update without a name keeps the one the event has.
        if name.is_some() {
            self.name = name;
        }
        self.description = description;
    }
}

/// The fields of an audience body: name, description, definition as stored.
pub(super) type AudienceFields = (String, String, Value);

impl Records for AudienceRecord {
    const NAME: &'static str = "Audience";
    const TOO_MANY: (&'static str, &'static str, &'static str) = (
        "name",
        "personalize.AUDIENCES.AUDIENCE_COUNT_EXCEEDED",
        "audiences per project",
    );
    type Fields = AudienceFields;
    records_fields!(audiences);
    fn limit(limits: &Limits) -> usize {
        limits.audiences_per_project
    }
    fn fields(store: &Store, p: usize, request: &Request) -> Result<AudienceFields, ApiError> {
        store.audience_input(p, request)
    }
    fn new(
        id: String,
        project: String,
        meta: Meta,
        (name, description, definition): AudienceFields,
    ) -> Self {
        AudienceRecord {
            id: id.clone(),
            uid: id,
            name,
            description,
            definition,
            project,
            meta,
        }
    }
    fn set(&mut self, (name, description, definition): AudienceFields) {
        self.name = name;
        self.description = description;
        self.definition = definition;
    }
}

impl Store {
    /// One call on a collection of [`Records`]: list or create (`uid` absent), update or
    /// delete (`uid` present).
    pub(super) fn collection<R: Records>(
        &mut self,
        actor: &str,
        p: usize,
        request: &Request,
        uid: Option<&str>,
    ) -> Answer {
        let actor = actor.to_lowercase();
        match (request.method, uid) {
            (Method::Get, _) => Ok(json!(R::all(&self.projects[p]))),
            (Method::Post, _) => {
                let fields = self.record_fields::<R>(p, request, None)?;
                let records = R::all(&self.projects[p]);
                let limit = R::limit(&self.limits);
                if records.iter().filter(|record| record.counts()).count() >= limit {
                    let (field, code, what) = R::TOO_MANY;
                    return Err(count_exceeded(field, code, what, limit));
                }
                let now = self.tick();
                let id = self.new_id();
                let project = self.projects[p].project.uid.clone();
                let record = R::new(id, project, Meta::new(&now, &actor), fields);
                let value = json!(record);
                R::all_mut(&mut self.projects[p]).push(record);
                Ok(value)
            }
            (Method::Put, Some(uid)) => {
                let index = self.record_index::<R>(p, uid)?;
                R::all(&self.projects[p])[index].check_mutable()?;
                let fields = self.record_fields::<R>(p, request, Some(uid))?;
                let now = self.tick();
                let record = &mut R::all_mut(&mut self.projects[p])[index];
                record.set(fields);
                record.meta_mut().touch(&now, &actor);
                Ok(json!(record))
            }
            (Method::Delete, Some(uid)) => {
                let index = self.record_index::<R>(p, uid)?;
                R::all(&self.projects[p])[index].check_mutable()?;
                self.tick();
                R::all_mut(&mut self.projects[p]).remove(index);
                Ok(Value::Null)
            }
            (method, _) => Err(ApiError::not_found(&format!(
                "Cannot {} {}",
                method.as_str(),
                request.path
            ))),
        }
    }

    /// A body's fields, refused when its key is another record's.
    fn record_fields<R: Records>(
        &self,
        p: usize,
        request: &Request,
        except: Option<&str>,
    ) -> Result<R::Fields, ApiError> {
        let fields = R::fields(self, p, request)?;
        if let (Some(code), Some(key)) = (R::DUPLICATE_KEY, R::key_of(&fields))
            && R::all(&self.projects[p])
                .iter()
                .any(|record| record.key() == Some(key) && Some(record.uid()) != except)
        {
            let word = R::NAME.to_lowercase();
            return Err(invalid_ref(
                "key",
                code,
                &format!("an {word} with key {key:?} already exists in this project"),
            ));
        }
        Ok(fields)
    }

    fn record_index<R: Records>(&self, p: usize, uid: &str) -> Result<usize, ApiError> {
        R::all(&self.projects[p])
            .iter()
            .position(|record| record.uid() == uid)
            .ok_or_else(|| missing(R::NAME, uid))
    }

    /// Validate an audience body; returns (name, description, definition as stored).
    fn audience_input(
        &self,
        p: usize,
        request: &Request,
    ) -> Result<(String, String, Value), ApiError> {
        let body = body_object(request)?;
        let name = required_string(body, "name")?;
        let description = optional_string(body, "description")?.unwrap_or_default();
        let mut definition = match body.get("definition") {
            Some(Value::Object(map)) => map.clone(),
            None | Some(Value::Null) => {
                return Err(invalid("definition", &["definition should not be empty"]));
            }
            Some(_) => return Err(invalid("definition", &["definition must be an object"])),
        };
        if !definition.contains_key("__type") {
            definition.insert("__type".to_owned(), json!("RuleCombination"));
        }
        let definition = Value::Object(definition);
        let parsed: wire::AudienceDefinition = serde_json::from_value(definition.clone())
            .map_err(|error| invalid("definition", &[&format!("invalid definition: {error}")]))?;
        if parsed.kind != "RuleCombination" {
            return Err(invalid(
                "definition",
                &["definition.__type must be RuleCombination"],
            ));
        }
        let mut rules = 0;
        self.check_rules(p, &parsed.root, "definition", &mut rules)?;
        if rules > self.limits.rules_per_audience {
            return Err(invalid_ref(
                "definition",
                "personalize.AUDIENCES.RULE_COUNT_EXCEEDED",
                &format!(
                    "the definition has {rules} rules; at most {} are allowed",
                    self.limits.rules_per_audience
                ),
            ));
        }
        Ok((name, description, definition))
    }

    fn check_rules(
        &self,
        p: usize,
        group: &wire::RuleCombination,
        path: &str,
        count: &mut usize,
    ) -> Result<(), ApiError> {
        for (i, node) in group.rules.iter().enumerate() {
            let here = format!("{path}.rules.{i}");
            match node {
                wire::RuleNode::Combination(inner) => self.check_rules(p, inner, &here, count)?,
                wire::RuleNode::Rule(rule) => {
                    *count += 1;
                    match &rule.attribute {
                        wire::AttributeReference::Custom { reference } => {
                            let known = self.projects[p].attributes.iter().any(|a| {
                                a.uid == *reference && a.kind == wire::AttributeType::Custom
                            });
                            if !known {
                                return Err(invalid_ref(
                                    "definition",
                                    "personalize.AUDIENCES.ATTRIBUTE_NOT_FOUND",
                                    &format!(
                                        "{here}: custom attribute {reference} does not exist in this project"
                                    ),
                                ));
                            }
                        }
                        wire::AttributeReference::Preset { reference } => {
                            if !wire::PRESET_ATTRIBUTES.iter().any(|(r, _)| r == reference) {
                                return Err(invalid_ref(
                                    "definition",
                                    "personalize.AUDIENCES.ATTRIBUTE_NOT_FOUND",
                                    &format!("{here}: {reference} is not a preset attribute"),
                                ));
                            }
                        }
                    }
                    let condition = rule.attribute_match_condition.as_str();
                    if !wire::MATCH_CONDITIONS.contains(&condition) {
                        return Err(invalid(
                            "definition",
                            &[
                                "NOT_VALID_ENUM",
                                &format!(
                                    "{here}.attributeMatchCondition: {condition:?} is not a valid match condition"
                                ),
                            ],
                        ));
                    }
                    if !wire::VALUELESS_CONDITIONS.contains(&condition)
                        && rule.attribute_match_options.is_none()
                    {
                        return Err(invalid(
                            "definition",
                            &[&format!(
                                "{here}: valid matchOptions is required for {condition} condition"
                            )],
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    // ----- experiences -----

    pub(super) fn list_experiences(&self, p: usize) -> Value {
        Value::Array(
            self.projects[p]
                .experiences
                .iter()
                .map(|e| json!(e.experience))
                .collect(),
        )
    }

    pub(super) fn experience_index(&self, p: usize, uid: &str) -> Result<usize, ApiError> {
        self.projects[p]
            .experiences
            .iter()
            .position(|e| e.experience.uid == uid)
            .ok_or_else(|| missing("Experience", uid))
    }

    pub(super) fn get_experience(&self, p: usize, uid: &str) -> Answer {
        let index = self.experience_index(p, uid)?;
        Ok(json!(self.projects[p].experiences[index].experience))
    }

    fn experience_tags(&self, body: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
        let raw = match body.get("tags") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(invalid("tags", &["tags must be an array"])),
        };
        let mut tags = Vec::new();
        for item in raw {
            let Some(tag) = item.as_str() else {
                return Err(invalid("tags", &["each value in tags must be a string"]));
            };
            let valid = !tag.is_empty()
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-'));
            if !valid {
                return Err(invalid_ref(
                    "tags",
                    "personalize.EXPERIENCES.INVALID_TAG",
                    &format!("tag {tag:?} may only contain letters, digits, '_', ':' and '-'"),
                ));
            }
            if tag.chars().count() > self.limits.tag_length {
                return Err(invalid_ref(
                    "tags",
                    "personalize.EXPERIENCES.TAG_LENGTH_EXCEEDED",
                    &format!(
                        "tag {tag:?} is longer than {} characters",
                        self.limits.tag_length
                    ),
                ));
            }
            tags.push(tag.to_owned());
        }
        let tags = wire::normalize_tags(&tags);
        if tags.len() > self.limits.tags_per_experience {
            return Err(count_exceeded(
                "tags",
                "personalize.EXPERIENCES.TAG_COUNT_EXCEEDED",
                "tags per experience",
                self.limits.tags_per_experience,
            ));
        }
        Ok(Some(tags))
    }

    fn experience_type(body: &Map<String, Value>) -> Result<wire::ExperienceType, ApiError> {
        match body.get("__type").and_then(Value::as_str) {
            Some("SEGMENTED") => Ok(wire::ExperienceType::Segmented),
            Some("AB_TEST") => Ok(wire::ExperienceType::AbTest),
            _ => Err(invalid(
                "__type",
                &[
                    "NOT_VALID_ENUM",
                    "__type must be one of the following values: SEGMENTED, AB_TEST",
                ],
            )),
        }
    }

    pub(super) fn create_experience(&mut self, actor: &str, p: usize, request: &Request) -> Answer {
        let body = body_object(request)?;
        let name = required_string(body, "name")?;
        let description = optional_string(body, "description")?.unwrap_or_default();
        let kind = Self::experience_type(body)?;
        let tags = self.experience_tags(body)?.unwrap_or_default();
        if self.projects[p].experiences.len() >= self.limits.experiences_per_project {
            return Err(count_exceeded(
                "name",
                "personalize.EXPERIENCES.EXPERIENCE_COUNT_EXCEEDED",
                "experiences per project",
                self.limits.experiences_per_project,
            ));
        }
        let now = self.tick();
        let actor = actor.to_lowercase();
        let uid = self.new_id();
        let version_uid = self.new_id();
        let project_uid = self.projects[p].project.uid.clone();
        let short_uid = self.projects[p].next_experience_short_uid;
        self.projects[p].next_experience_short_uid += 1;
        let state = ExperienceState {
            experience: ExperienceRecord {
                id: uid.clone(),
                uid: uid.clone(),
                name,
                description,
                kind,
                short_uid: short_uid.to_string(),
                status: "DRAFT".to_owned(),
                latest_version: version_uid.clone(),
                tags,
                referred_audiences: Vec::new(),
                referred_lytics_audiences: Vec::new(),
                cms: None,
                project: project_uid,
                meta: Meta::new(&now, &actor),
            },
            versions: vec![VersionRecord {
                id: version_uid.clone(),
                uid: version_uid,
                experience: uid.clone(),
                status: wire::VersionStatus::Draft,
                variants: Vec::new(),
                variant_split: None,
                metrics: Vec::new(),
                targeting: None,
                extra: serde_json::Map::new(),
                meta: Meta::new(&now, &actor),
            }],
            next_variant_short_uid: 0,
        };
        let value = json!(state.experience);
        self.projects[p].experiences.push(state);
        self.projects[p].priority.push(uid);
        Ok(value)
    }

    pub(super) fn update_experience(
        &mut self,
        actor: &str,
        p: usize,
        uid: &str,
        request: &Request,
    ) -> Answer {
        let index = self.experience_index(p, uid)?;
        let body = body_object(request)?;
        let name = required_string(body, "name")?;
        let description = optional_string(body, "description")?.unwrap_or_default();
        let current = self.projects[p].experiences[index].experience.kind;
        if body.get("__type").is_some() && Self::experience_type(body)? != current {
            return Err(invalid_ref(
                "__type",
                "personalize.EXPERIENCES.TYPE_IMMUTABLE",
                &format!("experience {uid} keeps its type; create a new experience instead"),
            ));
        }
        let tags = self.experience_tags(body)?;
        let now = self.tick();
        let record = &mut self.projects[p].experiences[index].experience;
        record.name = name;
        record.description = description;
        if let Some(tags) = tags {
            record.tags = tags;
        }
        record.meta.touch(&now, &actor.to_lowercase());
        Ok(json!(record))
    }

    pub(super) fn delete_experience(&mut self, p: usize, uid: &str) -> Answer {
        let index = self.experience_index(p, uid)?;
        self.tick();
        self.projects[p].experiences.remove(index);
        self.projects[p].priority.retain(|u| u != uid);
        Ok(Value::Null)
    }

    // ----- priority -----

    pub(super) fn put_priority(&mut self, p: usize, request: &Request) -> Answer {
        let body = body_object(request)?;
        let Some(Value::Array(items)) = body.get("priorityOrder") else {
            return Err(invalid(
                "priorityOrder",
                &["priorityOrder must be an array"],
            ));
        };
        let mut order: Vec<String> = Vec::new();
        for item in items {
            let Some(uid) = item.as_str() else {
                return Err(invalid(
                    "priorityOrder",
                    &["each value in priorityOrder must be a string"],
                ));
            };
            if order.iter().any(|known| known == uid)
                || !self.projects[p]
                    .experiences
                    .iter()
                    .any(|e| e.experience.uid == uid)
            {
                return Err(invalid_ref(
                    "priorityOrder",
                    "INVALID_EXPERIENCES",
                    &format!("{uid} is not an experience of this project or is listed twice"),
                ));
            }
            order.push(uid.to_owned());
        }
        let absent: Vec<&str> = self.projects[p]
            .experiences
            .iter()
            .map(|e| e.experience.uid.as_str())
            .filter(|uid| !order.iter().any(|o| o == uid))
            .collect();
        if !absent.is_empty() {
            return Err(invalid_ref(
                "priorityOrder",
                "MISSING_EXPERIENCES",
                &format!(
                    "priorityOrder must list every experience; missing {}",
                    absent.join(", ")
                ),
            ));
        }
        self.tick();
        self.projects[p].priority = order;
        Ok(json!({ "priorityOrder": self.projects[p].priority }))
    }
}
