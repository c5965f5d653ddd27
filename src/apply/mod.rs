//! The applier: carries out exactly the changes of a [`Plan`], in dependency order, with
//! bounded concurrency, and reports what happened in an [`ApplyReport`].
//!
//! Invariants:
//! - It executes only the plan's changes and never re-plans by itself.
//! - A change starts only after every change it `depends_on` has succeeded.
//! - After a hard failure (or a cancellation) no new change starts; in-flight changes finish,
//!   every change depending on the failure is `Skipped { blocked_by }`, and so is every change
//!   that had not started.
//! - A create whose answer was lost is looked up by its identity before it is repeated, so a
//!   re-run never makes duplicates.
//! - Every create is preceded by a look for an object of its identity (a list of its kind in
//!   its project at most about a second old, shared; see `operations::Look`); one made since
//!   the plan was read fails the create
//!   (`live-duplicate`) without stopping the run: its dependents are skipped, the rest goes on.
//! - Reporter events come from the one coordinating task, so progress output never interleaves.
//!   Each change's task runs within the caller's `live::observer` scope, with the change's
//!   address, so its retries and waits are told as they happen, between its `started` and its
//!   `finished`.
//! - Request bodies are built only by [`crate::convert`].

mod operations;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use tokio::task::JoinSet;

use crate::live::http::HttpSummary;
use crate::live::observer;
use crate::live::retry::RetryPolicy;
use crate::live::{Api, Backend};
use crate::model::{ExperienceStatus, Kind, LiveState, Specs};
use crate::plan::{Action, Change, Plan};

/// The version of the apply report format (`docs/apply.md`).
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// How to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyConfig {
    /// How many changes may run at once (at least 1).
    pub parallelism: usize,
    /// How requests are repeated after a 429, a 5xx or a lost answer (the one retry layer:
    /// the HTTP client sends each request once).
    pub retry: RetryPolicy,
}

impl Default for ApplyConfig {
    fn default() -> Self {
        ApplyConfig {
            parallelism: 4,
            retry: RetryPolicy::default(),
        }
    }
}

/// Progress events, modeled on ripgrep's `Sink`: the defaults do nothing.
pub trait Reporter: Send {
    fn started(&mut self, _change: &Change) {}
    fn finished(&mut self, _change: &Change, _outcome: &Outcome) {}
    /// A change finished, with the identifiers its create got back (if it created anything).
    fn finished_with(&mut self, change: &Change, outcome: &Outcome, _created: Option<&Created>) {
        self.finished(change, outcome);
    }
}

/// The identifiers the API gave an object a change created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Created {
    /// The object's uid (a project's UID; an attribute's, event's, audience's or experience's uid).
    pub uid: String,
    /// An experience's shortUid.
    #[serde(rename = "shortUid", skip_serializing_if = "Option::is_none")]
    pub short_uid: Option<String>,
    /// An experience's version written by the change (its draft, or the version it activated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// An experience's variants with their shortUids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<CreatedVariant>,
}

/// A variant of a created experience.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreatedVariant {
    pub name: String,
    #[serde(rename = "shortUid")]
    pub short_uid: Option<String>,
}

/// A reporter that ignores every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoReporter;

impl Reporter for NoReporter {}

/// What became of one change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The change was made.
    Applied,
    /// The change was attempted and failed.
    Failed { error: String },
    /// The change was not attempted: it depends on a failed change (its address), or the run
    /// stopped before it could start.
    Skipped { blocked_by: String },
    /// The target has no API for the change (members on the hosted API); a person must do it.
    Manual { steps: String },
}

impl Outcome {
    /// Whether the change's dependents may go ahead.
    #[must_use]
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Applied | Outcome::Manual { .. })
    }
}

/// The result of one change, in plan order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeResult {
    pub address: String,
    pub kind: Kind,
    pub action: Action,
    pub outcome: Outcome,
    /// What a create made, with the identifiers the API gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Created>,
}

/// What an apply did. Serializable (`pzctl apply --format json`); holds no secrets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApplyReport {
    pub format_version: u32,
    /// One per change of the plan, in plan order.
    pub results: Vec<ChangeResult>,
    pub applied: usize,
    pub failed: usize,
    pub skipped: usize,
    pub manual: usize,
    /// The run was cancelled (Ctrl-C) before it finished.
    pub interrupted: bool,
    /// What the run did over HTTP (requests, 429s, retries, the pace it settled on); absent
    /// for the embedded organization. Filled in by the caller, which owns the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSummary>,
}

impl ApplyReport {
    /// Everything planned was done (or handed over as manual steps).
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.failed == 0 && self.skipped == 0 && !self.interrupted
    }
}

/// Asks a running apply to stop starting new changes. Cheap to clone; every clone is the same
/// token.
#[derive(Clone, Debug)]
pub struct CancelToken {
    sender: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelToken {
    #[must_use]
    pub fn new() -> Self {
        CancelToken {
            sender: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// Stop starting new changes; in-flight ones finish.
    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }

    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once [`CancelToken::cancel`] has been called.
    pub async fn cancelled(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = receiver.wait_for(|cancelled| *cancelled).await;
    }
}

/// Why the run stopped starting new changes.
enum Stop {
    Failure(String),
    Interrupted,
}

/// Carry out `plan` against `api`. `live` is the state the plan was computed from (or a fresh
/// observation of it): it supplies the uids of the objects the plan names.
pub async fn apply<B: Backend + 'static>(
    plan: &Plan,
    api: Arc<Api<B>>,
    live: &LiveState,
    config: &ApplyConfig,
    cancel: CancelToken,
    reporter: &mut dyn Reporter,
) -> ApplyReport {
    let changes: Arc<Vec<Change>> = Arc::new(plan.changes.clone());
    let count = changes.len();
    let graph = Graph::new(&changes);
    let (created_sender, mut created) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let shared = Arc::new(operations::Shared::new(
        api,
        live,
        config.clone(),
        created_sender,
        &changes,
    ));

    let mut remaining: Vec<usize> = graph.dependencies.iter().map(Vec::len).collect();
    let mut gate_open: Vec<bool> = graph.gate.iter().map(Option::is_none).collect();
    let mut started = vec![false; count];
    // Ready changes start by priority: the longest chain of requests still behind them first
    // (the critical path), then plan order (see `Graph::rank`).
    let key = |index: usize| (std::cmp::Reverse(graph.rank[index]), index);
    let mut ready: BTreeSet<(std::cmp::Reverse<u64>, usize)> = (0..count)
        .filter(|&i| remaining[i] == 0 && gate_open[i])
        .map(key)
        .collect();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; count];
    let mut created_ids: Vec<Option<Created>> = vec![None; count];
    let mut running: JoinSet<(usize, Outcome, Option<Created>, bool)> = JoinSet::new();
    let mut task_changes: Vec<(tokio::task::Id, usize)> = Vec::new();
    let mut stop: Option<Stop> = None;
    let parallelism = config.parallelism.max(1);
    let observer = observer::current();

    // The object of change `index` exists now: the change gated on it may start.
    let open_gate = |index: usize,
                     gate_open: &mut [bool],
                     remaining: &[usize],
                     started: &[bool],
                     ready: &mut BTreeSet<(std::cmp::Reverse<u64>, usize)>| {
        if let Some(follower) = graph.follower[index] {
            gate_open[follower] = true;
            if remaining[follower] == 0 && !started[follower] {
                ready.insert(key(follower));
            }
        }
    };

    loop {
        if stop.is_none() && cancel.is_cancelled() {
            stop = Some(Stop::Interrupted);
        }
        while let Ok(index) = created.try_recv() {
            open_gate(index, &mut gate_open, &remaining, &started, &mut ready);
        }
        while stop.is_none() && running.len() < parallelism {
            let Some((_, next)) = ready.pop_first() else {
                break;
            };
            started[next] = true;
            reporter.started(&changes[next]);
            let shared = Arc::clone(&shared);
            let task_list = Arc::clone(&changes);
            // Retries and waits of the change's requests name the change.
            let scope = observer
                .as_ref()
                .map(|scope| scope.for_change(&changes[next].address));
            let handle = running.spawn(observer::within(scope, async move {
                let (outcome, created, contained) = shared.execute(next, &task_list[next]).await;
                (next, outcome, created, contained)
            }));
            task_changes.push((handle.id(), next));
        }
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            joined = running.join_next_with_id() => joined,
            Some(index) = created.recv() => {
                open_gate(index, &mut gate_open, &remaining, &started, &mut ready);
                continue;
            }
            () = cancel.cancelled(), if stop.is_none() => {
                stop = Some(Stop::Interrupted);
                continue;
            }
        };
        let (index, outcome, created, contained) = match joined {
            None => break,
            Some(Ok((id, (index, outcome, created, contained)))) => {
                task_changes.retain(|(task, _)| *task != id);
                (index, outcome, created, contained)
            }
            Some(Err(error)) => {
                let id = error.id();
                let Some(position) = task_changes.iter().position(|(task, _)| *task == id) else {
                    continue;
                };
                let (_, index) = task_changes.swap_remove(position);
                let message = if error.is_panic() {
                    "internal error: the change's task panicked (this is a bug, please report it)"
                } else {
                    "internal error: the change's task was cancelled (this is a bug, please report it)"
                };
                (
                    index,
                    Outcome::Failed {
                        error: message.to_owned(),
                    },
                    None,
                    false,
                )
            }
        };
        reporter.finished_with(&changes[index], &outcome, created.as_ref());
        created_ids[index] = created;
        if outcome.is_done() {
            open_gate(index, &mut gate_open, &remaining, &started, &mut ready);
            for &dependent in &graph.dependents[index] {
                remaining[dependent] -= 1;
                if remaining[dependent] == 0 && gate_open[dependent] {
                    ready.insert(key(dependent));
                }
            }
        } else if stop.is_none() && !contained {
            stop = Some(Stop::Failure(changes[index].address.clone()));
        }
        outcomes[index] = Some(outcome);
    }

    let interrupted = matches!(stop, Some(Stop::Interrupted));
    let general_reason = match &stop {
        Some(Stop::Failure(address)) => format!("stopped after failure of {address}"),
        Some(Stop::Interrupted) => "interrupted before it started".to_owned(),
        None => "a dependency that never became ready (a cycle in the plan)".to_owned(),
    };
    let mut memo = BTreeMap::new();
    let blocked: Vec<Option<usize>> = (0..count)
        .map(|index| graph.failed_ancestor(index, &outcomes, &mut memo))
        .collect();
    let mut results = Vec::with_capacity(count);
    for (index, change) in changes.iter().enumerate() {
        let outcome = outcomes[index].take().unwrap_or_else(|| Outcome::Skipped {
            blocked_by: blocked[index].map_or_else(
                || general_reason.clone(),
                |failed| changes[failed].address.clone(),
            ),
        });
        results.push(ChangeResult {
            address: change.address.clone(),
            kind: change.kind(),
            action: change.action,
            outcome,
            created: created_ids[index].take(),
        });
    }
    let tally = |wanted: fn(&Outcome) -> bool| {
        results
            .iter()
            .filter(|result| wanted(&result.outcome))
            .count()
    };
    ApplyReport {
        format_version: REPORT_FORMAT_VERSION,
        applied: tally(|outcome| matches!(outcome, Outcome::Applied)),
        failed: tally(|outcome| matches!(outcome, Outcome::Failed { .. })),
        skipped: tally(|outcome| matches!(outcome, Outcome::Skipped { .. })),
        manual: tally(|outcome| matches!(outcome, Outcome::Manual { .. })),
        interrupted,
        results,
        http: None,
    }
}

/// The dependency graph of a plan, by change index.
struct Graph {
    dependencies: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    /// Experience creates of one project make their `POST` in plan order: the server appends
    /// new experiences to the priority list (and numbers their `shortUid`s) in creation order,
    /// and the planner predicts that order from the plan. `gate[i]` is the create whose object
    /// must exist before change `i` starts; `follower` is the reverse. Only the `POST` is
    /// ordered, not the version calls that follow it.
    gate: Vec<Option<usize>>,
    follower: Vec<Option<usize>>,
    /// The requests on the longest chain from change `i` to the end of the plan, `i` included,
    /// through dependents and gates, each change weighted by [`requests_of`]. Starting the
    /// highest rank first keeps the critical path moving while other work fills the free slots.
    rank: Vec<u64>,
}

/// About how many API requests a change makes one after the other (`operations.rs`): an
/// experience create is a POST and a draft PUT, plus one PUT per status move; an update reads
/// the versions and writes; the order reads and writes the priority; the rest is one call.
/// Linking content types adds the CMA's (see [`cma_requests_of`]).
fn requests_of(change: &Change) -> u64 {
    cma_requests_of(change)
        + match (&change.specs, change.action) {
            (Specs::Experience(sides), Action::Create) => {
                match sides.after.as_ref().map(|spec| spec.status) {
                    Some(ExperienceStatus::Active) => 3,
                    Some(ExperienceStatus::Paused) => 4,
                    _ => 2,
                }
            }
            (Specs::Experience(_), Action::Update) => 3,
            (Specs::ExperienceOrder(_), Action::Create | Action::Update) => 2,
            _ => 1,
        }
}

/// The content type requests of an experience change: reading the experience and its variant
/// group and writing the group when links change; reading and writing the group before a
/// delete of a linked experience.
fn cma_requests_of(change: &Change) -> u64 {
    let Specs::Experience(sides) = &change.specs else {
        return 0;
    };
    let before = sides
        .before
        .as_ref()
        .and_then(|spec| spec.content_types.as_ref());
    let after = sides
        .after
        .as_ref()
        .and_then(|spec| spec.content_types.as_ref());
    match (change.action, before, after) {
        (Action::Delete, Some(linked), _) if !linked.is_empty() => 2,
        (Action::Create, _, Some(wanted)) if !wanted.is_empty() => 3,
        (Action::Update, before, Some(wanted)) if before != Some(wanted) => 3,
        _ => 0,
    }
}

impl Graph {
    fn new(changes: &[Change]) -> Self {
        let index: BTreeMap<&str, usize> = changes
            .iter()
            .enumerate()
            .map(|(i, change)| (change.address.as_str(), i))
            .collect();
        let mut dependencies = vec![Vec::new(); changes.len()];
        let mut dependents = vec![Vec::new(); changes.len()];
        for (i, change) in changes.iter().enumerate() {
            let mut seen = BTreeSet::new();
            for address in &change.depends_on {
                // An address outside the plan is not something this run waits for.
                if let Some(&dependency) = index.get(address.as_str())
                    && dependency != i
                    && seen.insert(dependency)
                {
                    dependencies[i].push(dependency);
                    dependents[dependency].push(i);
                }
            }
        }
        let mut gate = vec![None; changes.len()];
        let mut follower = vec![None; changes.len()];
        let mut last_create: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, change) in changes.iter().enumerate() {
            if change.kind() == Kind::Experience
                && change.action == Action::Create
                && let Some(previous) = last_create.insert(change.project.as_str(), i)
            {
                gate[i] = Some(previous);
                follower[previous] = Some(i);
            }
        }
        let rank = Self::ranks(changes, &dependents, &follower);
        Graph {
            dependencies,
            dependents,
            gate,
            follower,
            rank,
        }
    }

    /// [`Graph::rank`], computed over a topological order (Kahn's algorithm, so no recursion);
    /// changes on a cycle, which never start, keep their own weight.
    fn ranks(
        changes: &[Change],
        dependents: &[Vec<usize>],
        follower: &[Option<usize>],
    ) -> Vec<u64> {
        let count = changes.len();
        let successors = |i: usize| dependents[i].iter().copied().chain(follower[i]);
        let mut incoming = vec![0usize; count];
        for i in 0..count {
            for next in successors(i) {
                incoming[next] += 1;
            }
        }
        let mut order: Vec<usize> = (0..count).filter(|&i| incoming[i] == 0).collect();
        let mut position = 0;
        while let Some(&i) = order.get(position) {
            position += 1;
            for next in successors(i) {
                incoming[next] -= 1;
                if incoming[next] == 0 {
                    order.push(next);
                }
            }
        }
        let mut rank: Vec<u64> = changes.iter().map(requests_of).collect();
        for &i in order.iter().rev() {
            let behind = successors(i).map(|next| rank[next]).max().unwrap_or(0);
            rank[i] += behind;
        }
        rank
    }

    /// The failed change that a not-started change `index` transitively depends on, if any.
    fn failed_ancestor(
        &self,
        index: usize,
        outcomes: &[Option<Outcome>],
        memo: &mut BTreeMap<usize, Option<usize>>,
    ) -> Option<usize> {
        if let Some(known) = memo.get(&index) {
            return *known;
        }
        // A cycle guard: while this change is explored it counts as not blocked.
        memo.insert(index, None);
        let mut answer = None;
        for &dependency in self.dependencies[index].iter().chain(&self.gate[index]) {
            match &outcomes[dependency] {
                Some(Outcome::Failed { .. }) => answer = Some(dependency),
                None => answer = self.failed_ancestor(dependency, outcomes, memo),
                Some(_) => {}
            }
            if answer.is_some() {
                break;
            }
        }
        memo.insert(index, answer);
        answer
    }
}

/// The addresses whose live fingerprint differs between `plan` and `live`: changed, appeared
/// or disappeared since the plan was made. Only projects the plan read or changes are looked
/// at, so a plan limited with `--project` is not made stale by other projects.
#[must_use]
pub fn stale_objects(plan: &Plan, live: &LiveState) -> Vec<String> {
    let now = crate::plan::fingerprint(live);
    let mut scope: BTreeSet<&str> = plan
        .live_fingerprint
        .objects
        .keys()
        .filter_map(|address| project_of(address))
        .collect();
    scope.extend(plan.changes.iter().map(|change| change.project.as_str()));
    differing_objects(&plan.live_fingerprint.objects, &now.objects, &scope)
}

/// The project name of an address `project/NAME[/...]`.
fn project_of(address: &str) -> Option<&str> {
    let rest = address.strip_prefix("project/")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

fn differing_objects(
    before: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
    scope: &BTreeSet<&str>,
) -> Vec<String> {
    let in_scope = |address: &str| project_of(address).is_some_and(|name| scope.contains(name));
    let addresses: BTreeSet<&String> = before.keys().chain(now.keys()).collect();
    addresses
        .into_iter()
        .filter(|address| in_scope(address) && before.get(*address) != now.get(*address))
        .cloned()
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
