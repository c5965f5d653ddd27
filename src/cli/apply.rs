//! `pzctl apply`: plan (or read a saved plan, check it against the command line and the target,
//! plan again and compare), confirm, execute with progress on stderr, and report; the report as
//! JSON on stdout with `--format json`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use super::output::{self, Stream};
use super::pipeline::{self, PlanRequest, Planned, Problems};
use crate::apply::{self, ApplyConfig, ApplyReport, CancelToken, Outcome, Reporter};
use crate::diagnostic::{Code, Diagnostic, Sources};
use crate::live::http::HttpSummary;
use crate::live::observer;
use crate::live::retry::RetryPolicy;
use crate::live::{Api, Backend};
use crate::manifest;
use crate::model::LiveState;
use crate::plan::{self, Action, Change, Plan};

/// Arguments of `pzctl apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub select: super::SelectArgs,
    #[command(flatten)]
    pub target: super::TargetArgs,
    #[command(flatten)]
    pub color: super::ColorArgs,
    /// Execute this saved plan (`pzctl plan --out FILE`): plan again with the selection, guards
    /// and target it records, and apply only if that gives the same changes (else exit 3,
    /// nothing written). Flags given with it must say what the plan records.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin or stderr is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// How many changes may run at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallelism: u32,
    /// How to print the report: `text` (a summary on stderr), `json` (the report on stdout;
    /// problems that stop the apply are printed on stdout as the JSON array of `validate
    /// --format json`) or `ndjson` (one JSON event per line on stdout as the apply happens,
    /// `docs/apply.md`).
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Allow deletes of undeclared objects outside `prune: true` projects. Never deletes a
    /// project.
    #[arg(long)]
    pub allow_delete: bool,
    /// Delete this project and everything in it (repeatable). No manifest may declare it;
    /// nothing else deletes a project.
    #[arg(long, value_name = "NAME")]
    pub delete_project: Vec<String>,
    /// Refuse plans that delete more objects than this.
    #[arg(long, default_value_t = 10)]
    pub max_deletions: usize,
    /// Which of the options with a default were given on the command line (`paths`,
    /// `max_deletions`), so that `--plan` can tell a contradiction from a default.
    #[arg(skip)]
    pub given: Vec<&'static str>,
}

/// The ids of `paths` and `max_deletions` when they come from the command line.
#[must_use]
pub fn given_on_command_line(matches: &clap::ArgMatches) -> Vec<&'static str> {
    ["paths", "max_deletions"]
        .into_iter()
        .filter(|id| {
            matches!(
                matches
                    .try_get_raw(id)
                    .ok()
                    .flatten()
                    .map(|_| matches.value_source(id)),
                Some(Some(clap::parser::ValueSource::CommandLine))
            )
        })
        .collect()
}

/// Exit code of `apply --plan` when planning again gives other changes.
const NO_LONGER_MATCHES: u8 = 3;

/// Output formats of the apply report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Ndjson,
}

/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

pub async fn run(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let ndjson = args.format == ReportFormat::Ndjson;
    // Retries and waits are streamed as they happen, also those of reading the organization.
    let scope = ndjson.then(|| observer::Scope::new(Arc::new(super::events::Waits)));
    let result = observer::within(scope, run_to_end(args)).await;
    if let (true, Err(error)) = (ndjson, &result) {
        super::events::error(&format!("error: {error:#}"));
    }
    result
}

async fn run_to_end(mut args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let problems = match args.format {
        ReportFormat::Json => Problems::Json,
        ReportFormat::Text => Problems::Text,
        ReportFormat::Ndjson => Problems::Events,
    };
    // A saved plan is checked against the command line and the target before anything is
    // opened; then it is planned again from what it records.
    let saved = match &args.plan {
        Some(file) => match check_saved(&args, file, problems)? {
            Ok((saved, select, guards)) => {
                args.select = select;
                args.allow_delete = guards.allow_delete;
                args.max_deletions = guards.max_deletions;
                args.delete_project = guards.delete_projects;
                Some(saved)
            }
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let request = PlanRequest {
        select: &args.select,
        allow_delete: args.allow_delete,
        delete_projects: &args.delete_project,
        max_deletions: args.max_deletions,
        problems,
    };
    // Manifests are checked before any target is opened.
    let loaded = match pipeline::load_checked(&request)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let source = match (&args.plan, &saved) {
        (Some(file), Some(saved)) => Source::Saved {
            file,
            saved,
            loaded,
        },
        _ => Source::Fresh(loaded),
    };
    let api = Arc::new(Api::new(super::target::select(&args.target)?));
    let retry = super::target::retry_policy(&args.target)?;
    let result = match prepare(&api, &source, &request, args.format, &retry).await {
        Ok(Ok(Planned { plan, live })) => {
            execute(Arc::clone(&api), plan, live, &args, &retry, &|| {
                api.backend.http_summary(&retry)
            })
            .await
        }
        Ok(Err(code)) => Ok(code),
        Err(error) => Err(error),
    };
    if let Some(summary) = api.backend.http_summary(&retry) {
        output::error_line(&summary.line());
    }
    result
}

/// What the plan to apply comes from.
enum Source<'a> {
    /// A plan saved with `pzctl plan --out`, checked, and the manifests it records.
    Saved {
        file: &'a std::path::Path,
        saved: &'a Plan,
        loaded: manifest::Loaded,
    },
    /// Manifests, loaded and checked, to plan from now.
    Fresh(manifest::Loaded),
}

/// The plan to apply: the saved one, or a fresh one, printed. Refusals are shown here and come
/// back as the exit code to end with.
async fn prepare<B: Backend>(
    api: &Api<B>,
    source: &Source<'_>,
    request: &PlanRequest<'_>,
    format: ReportFormat,
    retry: &RetryPolicy,
) -> anyhow::Result<Result<Planned, ExitCode>> {
    match source {
        Source::Saved {
            file,
            saved,
            loaded,
        } => match pipeline::plan_live(api, loaded, request, retry).await? {
            Ok(fresh) => Ok(compare_saved(file, saved, fresh, request.problems)),
            Err(_) => {
                output::error_line(&format!(
                    "error: the saved plan `{}` no longer matches: planning again was refused; nothing was written",
                    file.display()
                ));
                Ok(Err(ExitCode::from(NO_LONGER_MATCHES)))
            }
        },
        Source::Fresh(loaded) => {
            let planned = pipeline::plan_live(api, loaded, request, retry).await?;
            if let Ok(Planned { plan, .. }) = &planned {
                show_plan(plan, format);
            }
            Ok(planned)
        }
    }
}

/// Print a fresh plan before confirming it: on stdout, or on stderr when stdout carries the
/// JSON report.
fn show_plan(plan: &Plan, format: ReportFormat) {
    if plan.changes.is_empty() {
        return;
    }
    match format {
        ReportFormat::Text => output::stdout_bytes(
            crate::render::text(plan, output::colors(Stream::Stdout)).as_bytes(),
        ),
        ReportFormat::Json | ReportFormat::Ndjson => {
            output::error_line(crate::render::text(plan, output::colors(Stream::Stderr)).trim_end())
        }
    }
}

async fn execute<B: Backend + 'static>(
    api: Arc<Api<B>>,
    plan: Plan,
    live: LiveState,
    args: &ApplyArgs,
    retry: &RetryPolicy,
    http: &dyn Fn() -> Option<HttpSummary>,
) -> anyhow::Result<ExitCode> {
    if args.format == ReportFormat::Ndjson {
        super::events::plan(&plan);
    }
    if plan.changes.is_empty() {
        match args.format {
            ReportFormat::Text => output::stdout_line("No changes."),
            ReportFormat::Json | ReportFormat::Ndjson => {
                output::error_line("No changes.");
                let mut report = apply::apply(
                    &plan,
                    Arc::clone(&api),
                    &live,
                    &ApplyConfig::default(),
                    CancelToken::new(),
                    &mut apply::NoReporter,
                )
                .await;
                report.http = http();
                if args.format == ReportFormat::Ndjson {
                    super::events::report(&report);
                } else {
                    print_json(&report)?;
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // A saved plan was reviewed when it was made; a fresh one is confirmed here.
    if args.plan.is_none() && !args.auto_approve && !confirm().await? {
        if args.format == ReportFormat::Ndjson {
            super::events::error("Apply cancelled.");
        }
        output::error_line("Apply cancelled.");
        return Ok(ExitCode::from(1));
    }

    let cancel = CancelToken::new();
    let watcher = tokio::spawn(watch_interrupts(Interrupts::listen(), cancel.clone()));
    let config = ApplyConfig {
        parallelism: usize::try_from(args.parallelism).unwrap_or(4),
        retry: retry.clone(),
    };
    let mut progress = Progress::new(plan.changes.len());
    let mut events = super::events::Events;
    let reporter: &mut dyn Reporter = match args.format {
        ReportFormat::Ndjson => &mut events,
        ReportFormat::Text | ReportFormat::Json => &mut progress,
    };
    let mut report = apply::apply(&plan, api, &live, &config, cancel, reporter).await;
    report.http = http();
    progress.done();
    watcher.abort();

    summarize(&report);
    match args.format {
        ReportFormat::Text => {}
        ReportFormat::Json => print_json(&report)?,
        ReportFormat::Ndjson => {
            super::events::Events::skipped(&report, &plan);
            super::events::report(&report);
        }
    }
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else if report.interrupted {
        ExitCode::from(INTERRUPTED)
    } else {
        ExitCode::from(1)
    })
}

/// Read a saved plan and check it against the command line and the target, before anything is
/// opened: the plan, the selection and the guards to plan again with, or the exit code.
#[allow(clippy::type_complexity)]
fn check_saved(
    args: &ApplyArgs,
    file: &std::path::Path,
    problems: Problems,
) -> anyhow::Result<Result<(Plan, super::SelectArgs, plan::Guards), ExitCode>> {
    let shown = file.display().to_string();
    let again = format!("run `pzctl plan --out {shown}` again, review it, then apply it");
    let refuse = |refusals: Vec<Diagnostic>| {
        pipeline::show(&refusals, &Sources::default(), problems);
        output::error_line(&format!(
            "error: the saved plan `{shown}` was refused; nothing was written"
        ));
        Ok(Err(ExitCode::from(1)))
    };
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read plan `{shown}`"))?;
    let saved = match plan::saved::read(&text) {
        Ok(saved) => saved,
        Err(refusal) => {
            return refuse(vec![
                Diagnostic::error(Code::SavedPlan, refusal.message(&shown))
                    .with_help(again.clone()),
            ]);
        }
    };
    let Some(binding) = saved.binding.clone() else {
        return refuse(vec![Diagnostic::error(
            Code::SavedPlan,
            plan::saved::FileRefusal::NoBinding.message(&shown),
        )]);
    };
    let text_of = |paths: &[PathBuf]| -> Vec<String> {
        paths
            .iter()
            .map(|path| path.to_string_lossy().into_owned())
            .collect()
    };
    let given = plan::saved::GivenFlags {
        paths: if args.given.contains(&"paths") {
            text_of(&args.select.paths)
        } else {
            Vec::new()
        },
        include: args.select.include.clone(),
        exclude: args.select.exclude.clone(),
        projects: args.select.project.clone(),
        env: args.select.env.clone(),
        allow_delete: args.allow_delete,
        max_deletions: args
            .given
            .contains(&"max_deletions")
            .then_some(args.max_deletions),
        delete_projects: args.delete_project.clone(),
    };
    let contradictions = plan::saved::contradictions(&binding, &given);
    if !contradictions.is_empty() {
        return refuse(
            contradictions
                .into_iter()
                .map(|(flag, given, recorded)| {
                    Diagnostic::error(
                        Code::SavedPlan,
                        format!(
                            "{flag} {given} contradicts the saved plan `{shown}`, made with {recorded}"
                        ),
                    )
                    .with_help(
                        "leave it out to use what the plan records, or make a new plan with it"
                            .to_owned(),
                    )
                })
                .collect(),
        );
    }
    let current = super::target::plan_target(&args.target)?;
    if current != binding.target {
        let unrecorded_cma = binding.target.cma_endpoint.is_none()
            && crate::plan::PlanTarget {
                cma_endpoint: None,
                ..current.clone()
            } == binding.target;
        return refuse(vec![
            Diagnostic::error(
                Code::SavedPlan,
                format!(
                    "the saved plan `{shown}` was made for {}, not for {current}",
                    binding.target
                ),
            )
            .with_help(unrecorded_cma.then(|| {
                "the plan records no Content Management API (it was made without one, or by an \
                 earlier pzctl): make a new plan with the same options"
                    .to_owned()
            })),
        ]);
    }
    let selection = &binding.selection;
    let select = super::SelectArgs {
        paths: selection.paths.iter().map(PathBuf::from).collect(),
        include: selection.include.clone(),
        exclude: selection.exclude.clone(),
        project: selection.projects.clone(),
        env: selection.env.clone(),
    };
    Ok(Ok((saved, select, binding.guards)))
}

/// Apply the fresh plan only if its changes are the saved ones; else show every difference
/// (one `stale-plan` diagnostic each) and end with exit code 3.
fn compare_saved(
    file: &std::path::Path,
    saved: &Plan,
    fresh: Planned,
    problems: Problems,
) -> Result<Planned, ExitCode> {
    let shown = file.display();
    let differences = plan::compare(&saved.changes, &fresh.plan.changes);
    if differences.is_empty() {
        let summary = &fresh.plan.summary;
        output::error_line(&format!(
            "Applying the saved plan `{shown}`: {} to create, {} to update, {} to delete.",
            summary.create, summary.update, summary.delete
        ));
        return Ok(fresh);
    }
    let again = format!("run `pzctl plan --out {shown}` again, review it, then apply it");
    let refusals: Vec<Diagnostic> = differences
        .iter()
        .enumerate()
        .map(|(index, difference)| {
            let diagnostic = Diagnostic::error(
                Code::StalePlan,
                format!("the saved plan no longer matches: {difference}"),
            );
            if index == 0 {
                diagnostic.with_help(again.clone())
            } else {
                diagnostic
            }
        })
        .collect();
    pipeline::show(&refusals, &Sources::default(), problems);
    let changed = apply::stale_objects(saved, &fresh.live);
    if !changed.is_empty() {
        output::error_line(&format!(
            "live objects changed since the plan was made: {}",
            changed.join(", ")
        ));
    }
    output::error_line(&format!(
        "error: the saved plan `{shown}` no longer matches ({} {}); nothing was written",
        differences.len(),
        if differences.len() == 1 {
            "difference"
        } else {
            "differences"
        }
    ));
    Err(ExitCode::from(NO_LONGER_MATCHES))
}

/// Ask on the terminal; refuse when there is none.
async fn confirm() -> anyhow::Result<bool> {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        anyhow::bail!(
            "refusing to apply without confirmation: pass --auto-approve (stdin or stderr is not a terminal)"
        );
    }
    output::error_line("\nDo you want to perform these actions? Only 'yes' will be accepted:");
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .context("cannot read the answer")?
    .context("cannot read the answer")?;
    Ok(answer.trim() == "yes")
}

/// Ctrl-C, listened for from the moment this is made (`tokio::signal::ctrl_c` registers only
/// when first polled, which could miss an early interrupt).
struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn listen() -> Self {
        Interrupts {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok(),
        }
    }

    /// Wait for the next Ctrl-C; `false` if none can come.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            match &mut self.signal {
                Some(signal) => signal.recv().await.is_some(),
                None => tokio::signal::ctrl_c().await.is_ok(),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

/// First Ctrl-C: stop starting new changes and let the ones in flight finish. Second: exit now.
async fn watch_interrupts(mut interrupts: Interrupts, cancel: CancelToken) {
    if !interrupts.next().await {
        return;
    }
    cancel.cancel();
    output::error_line(
        "Interrupted: finishing the changes in flight, starting no new ones (press Ctrl-C again to stop at once).",
    );
    if interrupts.next().await {
        output::error_line(
            "Stopped at once: changes in flight may or may not have been made; run `pzctl apply` again to converge.",
        );
        #[expect(
            clippy::disallowed_methods,
            reason = "a second Ctrl-C stops at once, without waiting for the changes in flight"
        )]
        std::process::exit(i32::from(INTERRUPTED));
    }
}

fn print_json(report: &ApplyReport) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report).context("cannot serialize the report")?;
    output::stdout_line(&text);
    Ok(())
}

fn symbol(action: Action) -> char {
    match action {
        Action::Create => '+',
        Action::Update => '~',
        Action::Delete => '-',
    }
}

/// One line per finished change.
fn finished_line(change: &Change, outcome: &Outcome) -> String {
    let what = match outcome {
        Outcome::Applied => "applied".to_owned(),
        Outcome::Failed { error } => format!("failed: {error}"),
        Outcome::Skipped { blocked_by } => format!("skipped ({blocked_by})"),
        Outcome::Manual { steps } => format!("manual step: {steps}"),
    };
    format!("{} {}: {what}", symbol(change.action), change.address)
}

/// Progress on stderr: a bar on a terminal, else one line per finished change.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    in_flight: Vec<String>,
}

impl Progress {
    fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(u64::try_from(total).unwrap_or(u64::MAX)),
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {wide_msg}")
            {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            in_flight: Vec::new(),
        }
    }

    fn show_in_flight(&self) {
        if let Some(bar) = &self.bar {
            bar.set_message(self.in_flight.join(", "));
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for Progress {
    fn started(&mut self, change: &Change) {
        self.in_flight.push(change.address.clone());
        self.show_in_flight();
    }

    fn finished(&mut self, change: &Change, outcome: &Outcome) {
        self.in_flight.retain(|address| *address != change.address);
        let line = finished_line(change, outcome);
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            None => output::error_line(&line),
        }
        self.show_in_flight();
    }
}

/// The closing lines on stderr: failures, skips, manual steps, and the counts.
fn summarize(report: &ApplyReport) {
    for result in &report.results {
        if let Outcome::Failed { error } = &result.outcome {
            output::error_line(&format!("error: {}: {error}", result.address));
        }
    }
    if report.manual > 0 {
        output::error_line(&format!(
            "{} change{} must be made by hand (this target has no API for them):",
            report.manual,
            if report.manual == 1 { "" } else { "s" }
        ));
        for result in &report.results {
            if let Outcome::Manual { steps } = &result.outcome {
                output::error_line(&format!("  {}: {steps}", result.address));
            }
        }
    }
    let created: Vec<String> = report
        .results
        .iter()
        .filter_map(|result| Some((&result.address, result.created.as_ref()?)))
        .map(|(address, created)| created_line(address, created))
        .collect();
    if !created.is_empty() {
        output::error_line("Created:");
        for line in created {
            output::error_line(&format!("  {line}"));
        }
    }
    output::error_line(&format!(
        "{}: {} applied, {} failed, {} skipped.",
        if report.interrupted {
            "Apply interrupted"
        } else {
            "Apply complete"
        },
        report.applied,
        report.failed,
        report.skipped
    ));
    if !report.is_success() {
        output::error_line(
            "hint: run `pzctl apply` again to finish; it only makes what is still missing",
        );
    }
}

/// `address: uid …, shortUid …, version …, variant shortUids: Name …` for one create.
fn created_line(address: &str, created: &apply::Created) -> String {
    let mut line = format!("{address}: uid {}", created.uid);
    if let Some(short_uid) = &created.short_uid {
        line.push_str(&format!(", shortUid {short_uid}"));
    }
    if let Some(version) = &created.version {
        line.push_str(&format!(", version {version}"));
    }
    if !created.variants.is_empty() {
        let variants: Vec<String> = created
            .variants
            .iter()
            .map(|variant| {
                format!(
                    "{} {}",
                    variant.name,
                    variant.short_uid.as_deref().unwrap_or("(none)")
                )
            })
            .collect();
        line.push_str(&format!(", variant shortUids: {}", variants.join(", ")));
    }
    line
}
