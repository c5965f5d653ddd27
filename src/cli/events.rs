//! `pzctl apply --format ndjson`: one JSON object per line on stdout, as the apply happens
//! (`docs/apply.md`, "The event stream"). Every event has `"v"` (the stream's version) and
//! `"type"`. Retries and waits come from the task of the change they belong to (through
//! `live::observer`); every event is written as one whole line.

use serde_json::{Value, json};

use super::output;
use crate::apply::{ApplyReport, Created, Outcome, Reporter};
use crate::diagnostic::{self, Diagnostic};
use crate::live::observer::{Notice, Observer, Wait};
use crate::plan::{Change, Plan};

/// The version of the event stream, in every event's `v`.
pub const EVENTS_VERSION: u32 = 2;

/// Print one event: `fields` with `v` and `type` first.
fn emit(kind: &str, fields: Value) {
    let mut event = serde_json::Map::new();
    event.insert("v".to_owned(), json!(EVENTS_VERSION));
    event.insert("type".to_owned(), json!(kind));
    if let Value::Object(fields) = fields {
        event.extend(fields);
    }
    let line = serde_json::to_string(&Value::Object(event)).unwrap_or_else(|_| {
        format!(r#"{{"v":{EVENTS_VERSION},"type":"error","message":"cannot serialize an event"}}"#)
    });
    output::stdout_line(&line);
}

fn change_fields(change: &Change) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("address".to_owned(), json!(change.address));
    fields.insert("kind".to_owned(), json!(change.kind()));
    fields.insert("action".to_owned(), json!(change.action));
    if let Some(old) = &change.renamed_from {
        fields.insert("renamed_from".to_owned(), json!(old));
    }
    fields
}

/// The plan about to be applied: its counts and its changes' addresses in plan order.
pub fn plan(plan: &Plan) {
    emit(
        "plan",
        json!({
            "create": plan.summary.create,
            "update": plan.summary.update,
            "delete": plan.summary.delete,
            "changes": plan.changes.iter().map(|change| &change.address).collect::<Vec<_>>(),
        }),
    );
}

/// Nothing was written: the manifests, the plan or a stale saved plan were refused.
pub fn refused(diagnostics: &[Diagnostic]) {
    let diagnostics: Value =
        serde_json::from_str(&diagnostic::render_json(diagnostics)).unwrap_or(json!([]));
    emit(
        "refused",
        json!({ "message": "refused; nothing was written", "diagnostics": diagnostics }),
    );
}

/// The run stopped with an error before or outside the changes.
pub fn error(message: &str) {
    emit("error", json!({ "message": output::redacted(message) }));
}

/// The final report, as `--format json` prints it.
pub fn report(report: &ApplyReport) {
    let report = serde_json::to_value(report).unwrap_or(Value::Null);
    emit("report", json!({ "report": report }));
    // Skipped changes never start; the report knows them.
}

/// Reports each change as it starts and finishes.
#[derive(Debug, Default)]
pub struct Events;

impl Events {
    /// The changes that never started, after the run.
    pub fn skipped(report: &ApplyReport, plan: &Plan) {
        for (result, change) in report.results.iter().zip(&plan.changes) {
            if let Outcome::Skipped { blocked_by } = &result.outcome {
                let mut fields = change_fields(change);
                fields.insert("blocked_by".to_owned(), json!(blocked_by));
                emit("change_skipped", Value::Object(fields));
            }
        }
    }
}

impl Reporter for Events {
    fn started(&mut self, change: &Change) {
        emit("change_started", Value::Object(change_fields(change)));
    }

    fn finished_with(&mut self, change: &Change, outcome: &Outcome, created: Option<&Created>) {
        let mut fields = change_fields(change);
        match outcome {
            Outcome::Applied => {
                fields.insert("status".to_owned(), json!("applied"));
            }
            Outcome::Failed { error } => {
                fields.insert("status".to_owned(), json!("failed"));
                fields.insert("error".to_owned(), json!(output::redacted(error)));
            }
            Outcome::Manual { steps } => {
                fields.insert("status".to_owned(), json!("manual"));
                fields.insert("steps".to_owned(), json!(steps));
            }
            Outcome::Skipped { blocked_by } => {
                fields.insert("status".to_owned(), json!("skipped"));
                fields.insert("blocked_by".to_owned(), json!(blocked_by));
            }
        }
        if let Some(created) = created {
            fields.insert(
                "created".to_owned(),
                serde_json::to_value(created).unwrap_or(Value::Null),
            );
        }
        emit("change_finished", Value::Object(fields));
    }
}

/// Streams each retry and wait as it happens: `retry`, `lookup` and `wait` events.
#[derive(Debug, Default)]
pub struct Waits;

impl Observer for Waits {
    fn notice(&self, notice: &Notice) {
        let mut fields = serde_json::Map::new();
        fields.insert("address".to_owned(), json!(notice.address));
        fields.insert("attempt".to_owned(), json!(notice.attempt));
        fields.insert("status".to_owned(), json!(notice.status));
        fields.insert(
            "wait_ms".to_owned(),
            json!(u64::try_from(notice.wait.as_millis()).unwrap_or(u64::MAX)),
        );
        fields.insert("method".to_owned(), json!(notice.method));
        fields.insert("path".to_owned(), json!(notice.path));
        let kind = match notice.what {
            Wait::Retry => "retry",
            Wait::Lookup => "lookup",
            Wait::RetryAfter => {
                fields.insert("reason".to_owned(), json!("retry_after"));
                "wait"
            }
            Wait::Slowdown { rate } => {
                fields.insert("reason".to_owned(), json!("slowdown"));
                fields.insert("rate".to_owned(), json!((rate * 100.0).round() / 100.0));
                "wait"
            }
        };
        emit(kind, Value::Object(fields));
    }
}
