//! `pzctl apply`: plan (or read a saved plan and check it is not stale), confirm, execute with
//! progress on stderr, and report; the report as JSON on stdout with `--format json`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use super::output;
use crate::apply::{self, ApplyConfig, ApplyReport, CancelToken, Outcome, Reporter};
use crate::diagnostic;
use crate::live::http::HttpSummary;
use crate::live::retry::RetryPolicy;
use crate::live::{self, Api, Backend};
use crate::manifest::{self, LoadConfig};
use crate::model::LiveState;
use crate::plan::{self, Action, Change, Plan, PlanConfig};

/// Arguments of `pzctl apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub select: super::SelectArgs,
    /// Execute this saved plan (`pzctl plan --out FILE`) instead of planning now. It is
    /// refused if any object it read has changed since.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin or stderr is not a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// How many changes may run at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallelism: u32,
    /// How to print the report: `text` (a summary on stderr) or `json` (the report on stdout).
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Allow deletes outside projects with `prune: true`, and project deletes.
    #[arg(long)]
    pub allow_delete: bool,
    /// Refuse plans that delete more objects than this.
    #[arg(long, default_value_t = 10)]
    pub max_deletions: usize,
}

/// Output formats of the apply report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: u8 = 130;

pub async fn run(global: &super::GlobalArgs, args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let target = super::target::select(global)?;
    let retry = super::target::retry_policy(global)?;
    let api = Arc::new(Api::new(target));
    let result = execute(Arc::clone(&api), args, &retry, &|| {
        api.backend.http_summary(&retry)
    })
    .await;
    if let Some(summary) = api.backend.http_summary(&retry) {
        output::error_line(&summary.line());
    }
    result
}

/// What to apply, and the live state it starts from.
enum Prepared {
    Apply { plan: Box<Plan>, live: LiveState },
    Exit(ExitCode),
}

async fn execute<B: Backend + 'static>(
    api: Arc<Api<B>>,
    args: ApplyArgs,
    retry: &RetryPolicy,
    http: &dyn Fn() -> Option<HttpSummary>,
) -> anyhow::Result<ExitCode> {
    let prepared = match &args.plan {
        Some(file) => saved_plan(&api, file, retry).await?,
        None => fresh_plan(&api, &args, retry).await?,
    };
    let (plan, live) = match prepared {
        Prepared::Apply { plan, live } => (*plan, live),
        Prepared::Exit(code) => return Ok(code),
    };
    if plan.changes.is_empty() {
        match args.format {
            ReportFormat::Text => output::stdout_line("No changes."),
            ReportFormat::Json => {
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
                print_json(&report)?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    // A saved plan was reviewed when it was made; a fresh one is confirmed here.
    if args.plan.is_none() && !args.auto_approve && !confirm().await? {
        output::error_line("Apply cancelled.");
        return Ok(ExitCode::from(1));
    }

    let cancel = CancelToken::new();
    let watcher = tokio::spawn(watch_interrupts(Interrupts::listen(), cancel.clone()));
    let config = ApplyConfig {
        parallelism: usize::try_from(args.parallelism).unwrap_or(4),
        retry: retry.clone(),
    };
    let mut reporter = Progress::new(plan.changes.len());
    let mut report = apply::apply(&plan, api, &live, &config, cancel, &mut reporter).await;
    report.http = http();
    reporter.done();
    watcher.abort();

    summarize(&report);
    if args.format == ReportFormat::Json {
        print_json(&report)?;
    }
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else if report.interrupted {
        ExitCode::from(INTERRUPTED)
    } else {
        ExitCode::from(1)
    })
}

/// Load, observe and plan; print the plan.
async fn fresh_plan<B: Backend>(
    api: &Api<B>,
    args: &ApplyArgs,
    retry: &RetryPolicy,
) -> anyhow::Result<Prepared> {
    let loaded = manifest::load(&LoadConfig {
        paths: args.select.paths.clone(),
        include: args.select.include.clone(),
        exclude: args.select.exclude.clone(),
    });
    let color_stderr = colors(&std::io::stderr());
    if let Some(notice) = loaded.skipped_notice() {
        output::error_line(&notice);
    }
    if !loaded.diagnostics.is_empty() {
        let text = diagnostic::render_text(&loaded.diagnostics, &loaded.sources, color_stderr);
        output::error_line(text.trim_end());
    }
    if loaded.has_errors() {
        output::error_line("error: the manifests have errors; nothing was applied");
        return Ok(Prepared::Exit(ExitCode::from(1)));
    }
    let only = (!args.select.project.is_empty()).then_some(args.select.project.as_slice());
    let live = live::observe_with(api, only, retry)
        .await
        .with_context(|| format!("cannot read {}", api.backend.describe()))?;
    if live.principal.is_none() {
        output::error_line(
            "warning: this endpoint cannot tell who is acting, so permissions were not checked; apply may fail with 403",
        );
    }
    output::live_warnings(&live);
    let config = PlanConfig {
        allow_delete: args.allow_delete,
        max_deletions: args.max_deletions,
        projects: args.select.project.clone(),
        partial: !args.select.include.is_empty() || !args.select.exclude.is_empty(),
    };
    let plan = match plan::plan(&loaded.desired, &live, &config) {
        Ok(plan) => plan,
        Err(diagnostics) => {
            let text = diagnostic::render_text(&diagnostics, &loaded.sources, color_stderr);
            output::error_line(text.trim_end());
            output::error_line("error: the plan was refused; nothing was applied");
            return Ok(Prepared::Exit(ExitCode::from(1)));
        }
    };
    if !plan.changes.is_empty() {
        let rendered = match args.format {
            ReportFormat::Text => crate::render::text(&plan, colors(&std::io::stdout())),
            ReportFormat::Json => crate::render::text(&plan, color_stderr),
        };
        match args.format {
            ReportFormat::Text => output::stdout_bytes(rendered.as_bytes()),
            ReportFormat::Json => output::error_line(rendered.trim_end()),
        }
    }
    Ok(Prepared::Apply {
        plan: Box::new(plan),
        live,
    })
}

/// Read a saved plan and refuse it if the objects it read changed since.
async fn saved_plan<B: Backend>(
    api: &Api<B>,
    file: &std::path::Path,
    retry: &RetryPolicy,
) -> anyhow::Result<Prepared> {
    let shown = file.display();
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read plan `{shown}`"))?;
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .with_context(|| format!("`{shown}` is not JSON"))?
        .get("format_version")
        .and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(plan::FORMAT_VERSION)) {
        anyhow::bail!(
            "`{shown}` has plan `format_version` {}; this pzctl reads version {}",
            version.map_or_else(|| "(missing)".to_owned(), |v| v.to_string()),
            plan::FORMAT_VERSION
        );
    }
    let plan: Plan =
        serde_json::from_str(&text).with_context(|| format!("`{shown}` is not a pzctl plan"))?;
    let live = live::observe_with(api, None, retry)
        .await
        .with_context(|| format!("cannot read {}", api.backend.describe()))?;
    output::live_warnings(&live);
    let stale = apply::stale_objects(&plan, &live);
    if !stale.is_empty() {
        let mut message = format!(
            "error: the plan in `{shown}` is stale: {} changed since it was made:",
            if stale.len() == 1 {
                "this object".to_owned()
            } else {
                format!("these {} objects", stale.len())
            }
        );
        for address in &stale {
            message.push_str(&format!("\n  {address}"));
        }
        message.push_str(&format!(
            "\nhint: run `pzctl plan --out {shown}` again, review it, then apply it"
        ));
        output::error_line(&message);
        return Ok(Prepared::Exit(ExitCode::from(1)));
    }
    output::error_line(&format!(
        "Applying the saved plan `{shown}`: {} to create, {} to update, {} to delete.",
        plan.summary.create, plan.summary.update, plan.summary.delete
    ));
    Ok(Prepared::Apply {
        plan: Box::new(plan),
        live,
    })
}

fn colors(stream: &impl IsTerminal) -> bool {
    std::env::var_os("NO_COLOR").is_none() && stream.is_terminal()
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
    if report.interrupted {
        output::error_line("Apply interrupted: changes that had not started were skipped.");
    }
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
    output::error_line(&format!(
        "Apply complete: {} applied, {} failed, {} skipped.",
        report.applied, report.failed, report.skipped
    ));
    if !report.is_success() {
        output::error_line(
            "hint: run `pzctl apply` again to finish; it only makes what is still missing",
        );
    }
}
