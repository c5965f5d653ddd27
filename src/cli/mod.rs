//! The command line: argument parsing, target selection, output and exit codes.
//!
//! Invariant: the only module that writes to stdout/stderr and the only user of `anyhow`.
//! Data (JSON, Markdown, plans) goes to stdout; diagnostics, progress and prompts to stderr.

mod apply;
mod diff;
mod emulator;
mod events;
mod export;
mod help;
mod pipeline;
mod plan;
mod projects;
mod schema;
mod scope;
mod show;
mod target;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use help::man_pages;
pub use target::{Target, parse_rate_limit, select_with};
pub use validate::{Report as ValidateReport, report as validate_report};

/// Manage Contentstack Personalize the GitOps way.
#[derive(Debug, Parser)]
#[command(
    name = "pzctl",
    version,
    about,
    propagate_version = true,
    after_long_help = help::after_help(None),
    mut_arg("endpoint", |arg| arg.hide(true)),
    mut_arg("region", |arg| arg.hide(true)),
    mut_arg("state_dir", |arg| arg.hide(true)),
    mut_arg("rate_limit", |arg| arg.hide(true)),
    mut_arg("retry_deadline", |arg| arg.hide(true))
)]
pub struct Cli {
    /// The target options given before the subcommand (`pzctl --endpoint URL plan`), still
    /// accepted for the commands that read a live organization; they are documented on those
    /// commands, and given with any other command they are an error.
    #[command(flatten)]
    pub global: TargetArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Which live organization to read and change: `plan`, `apply` and `export` take these.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// Personalize Management API base URL (the hosted service or an emulator) [env:
    /// PZCTL_ENDPOINT]. Without it (and without `--region`) the target is the embedded local
    /// organization under `--state-dir`.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Hosted region: na, eu, au, azure-na, azure-eu, gcp-na or gcp-eu [env: PZCTL_REGION].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Directory of the embedded local organization [env: PZCTL_STATE_DIR] [default: .pzctl].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Client pacing of HTTP targets, in requests per second [env: PZCTL_RATE_LIMIT]
    /// [default: 10, the hosted API's per-organization limit]. `0` or `unlimited` turns client
    /// pacing off (warned about on the hosted API).
    #[arg(long, value_name = "RPS", value_parser = target::parse_rate_limit)]
    pub rate_limit: Option<f64>,
    /// Give up on a request the server keeps refusing with 429, with no other answer, for
    /// this many seconds [env: PZCTL_RETRY_DEADLINE] [default: 120].
    #[arg(long, value_name = "SECONDS", value_parser = target::parse_seconds)]
    pub retry_deadline: Option<std::time::Duration>,
    /// Content Management API base URL, where experiences' content types are linked [env:
    /// PZCTL_CMA_ENDPOINT] [default: the region's, e.g. https://api.contentstack.io for na].
    /// Give the emulator's CMA URL (it prints it at start) with an emulator `--endpoint`.
    #[arg(long, value_name = "URL")]
    pub cma_endpoint: Option<String>,
}

impl TargetArgs {
    /// These options, each one missing taken from `outer` (the options given before the
    /// subcommand).
    #[must_use]
    pub fn or(self, outer: &TargetArgs) -> TargetArgs {
        TargetArgs {
            endpoint: self.endpoint.or_else(|| outer.endpoint.clone()),
            region: self.region.or_else(|| outer.region.clone()),
            state_dir: self.state_dir.or_else(|| outer.state_dir.clone()),
            rate_limit: self.rate_limit.or(outer.rate_limit),
            retry_deadline: self.retry_deadline.or(outer.retry_deadline),
            cma_endpoint: self.cma_endpoint.or_else(|| outer.cma_endpoint.clone()),
        }
    }

    /// The flags given, by name (for refusing them where they do not apply).
    fn given(&self) -> Vec<&'static str> {
        let mut given = Vec::new();
        if self.endpoint.is_some() {
            given.push("--endpoint");
        }
        if self.region.is_some() {
            given.push("--region");
        }
        if self.state_dir.is_some() {
            given.push("--state-dir");
        }
        if self.rate_limit.is_some() {
            given.push("--rate-limit");
        }
        if self.retry_deadline.is_some() {
            given.push("--retry-deadline");
        }
        if self.cma_endpoint.is_some() {
            given.push("--cma-endpoint");
        }
        given
    }
}

/// Which manifest files to read.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Files or folders to read manifests from; `-` reads one file from standard input.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Read only files matching this glob (repeatable).
    #[arg(long)]
    pub include: Vec<String>,
    /// Skip files matching this glob (repeatable).
    #[arg(long)]
    pub exclude: Vec<String>,
    /// Limit to these projects (repeatable).
    #[arg(long)]
    pub project: Vec<String>,
    /// The environment of the workspace file `pzctl.yaml` to read: the base patched by its
    /// overlays, its values filled in, its projects under their live names. Required when
    /// `pzctl.yaml` declares environments, except by `validate`, which without it checks every
    /// environment [env: PZCTL_ENV].
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
}

/// The variable `--env` is read from when it is not given (empty: no environment).
pub const ENV_VARIABLE: &str = "PZCTL_ENV";

/// `--env`, else `PZCTL_ENV` when it is set and not empty.
fn env_or_variable(env: &mut Option<String>) {
    if env.is_none() {
        *env = std::env::var(ENV_VARIABLE)
            .ok()
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty());
    }
}

/// When to colour the output.
#[derive(Debug, Clone, Copy, Args)]
pub struct ColorArgs {
    /// When to colour: `auto` colours a terminal unless `NO_COLOR` is set or `TERM=dumb`
    /// (`CLICOLOR_FORCE` forces colour); `always` and `never` decide regardless.
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
}

/// The values of `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests against the schemas and each other; print every problem.
    #[command(after_long_help = help::after_help(Some("validate")))]
    Validate(validate::ValidateArgs),
    /// Read live state, diff it against the manifests and show what would change.
    #[command(after_long_help = help::after_help(Some("plan")))]
    Plan(plan::PlanArgs),
    /// Carry out a plan (fresh, or saved with `plan --out`).
    #[command(after_long_help = help::after_help(Some("apply")))]
    Apply(apply::ApplyArgs),
    /// Show how two environments' desired states differ (`--env FROM --env TO`), for promotion.
    ///
    /// Reads manifests only. Projects are compared by their base name; every object that is in
    /// one environment only, or in both with different fields, is listed in manifest words.
    #[command(after_long_help = help::after_help(Some("diff")))]
    Diff(diff::DiffArgs),
    /// Render a saved plan again, or show the live organization with its identifiers.
    #[command(after_long_help = help::after_help(Some("show")))]
    Show(show::ShowArgs),
    /// Write manifests for what is live.
    #[command(after_long_help = help::after_help(Some("export")))]
    Export(export::ExportArgs),
    /// Serve the Personalize Management API on loopback, for tests, demos and CI dry runs.
    #[command(after_long_help = help::after_help(Some("emulator")))]
    Emulator(emulator::EmulatorArgs),
    /// List the projects the manifests declare (or those changed since a git ref), for a CI matrix.
    ///
    /// Invalid manifests are reported as `pzctl validate` reports them, and nothing is listed
    /// (exit 1). Warnings are left to `pzctl validate`.
    #[command(after_long_help = help::after_help(Some("projects")))]
    Projects(projects::ProjectsArgs),
    /// Write the JSON Schemas of the manifests.
    #[command(after_long_help = help::after_help(Some("schema")))]
    Schema(schema::SchemaArgs),
    /// Print shell completions.
    #[command(after_long_help = help::after_help(Some("completions")))]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Output formats of validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticFormat {
    Text,
    Json,
    Github,
}

/// Run the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    if let (Command::Apply(args), Some(("apply", given))) = (&mut cli.command, matches.subcommand())
    {
        args.given = apply::given_on_command_line(given);
    }
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            let mut message = format!("error: {error}");
            for cause in error.chain().skip(1) {
                message.push_str(&format!("\n  caused by: {cause}"));
            }
            output::error_line(&message);
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let outer = cli.global;
    let uses_target = matches!(
        cli.command,
        Command::Plan(_) | Command::Apply(_) | Command::Show(_) | Command::Export(_)
    );
    let given = outer.given();
    if !uses_target && !given.is_empty() {
        let flags: Vec<String> = given.iter().map(|flag| format!("`{flag}`")).collect();
        anyhow::bail!(
            "{} {} only to `plan`, `apply`, `show` and `export`",
            flags.join(", "),
            if flags.len() == 1 { "applies" } else { "apply" }
        );
    }
    match cli.command {
        Command::Validate(mut args) => {
            env_or_variable(&mut args.select.env);
            output::choose_colors(args.color.color);
            validate::run(args)
        }
        Command::Plan(mut args) => {
            env_or_variable(&mut args.select.env);
            output::choose_colors(args.color.color);
            args.target = args.target.or(&outer);
            runtime()?.block_on(plan::run(args))
        }
        Command::Apply(mut args) => {
            env_or_variable(&mut args.select.env);
            output::choose_colors(args.color.color);
            args.target = args.target.or(&outer);
            runtime()?.block_on(apply::run(args))
        }
        Command::Show(mut args) => {
            output::choose_colors(args.color.color);
            args.target = args.target.or(&outer);
            runtime()?.block_on(show::run(args))
        }
        Command::Export(mut args) => {
            args.target = args.target.or(&outer);
            runtime()?.block_on(export::run(args))
        }
        Command::Emulator(args) => runtime()?.block_on(emulator::run(args)),
        Command::Projects(mut args) => {
            env_or_variable(&mut args.select.env);
            projects::run(args)
        }
        Command::Diff(args) => {
            output::choose_colors(args.color.color);
            diff::run(args)
        }
        Command::Schema(args) => schema::run(args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "pzctl", &mut out);
            output::stdout_bytes(&out);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The only place that prints, and the one colour decision. Everything goes through the
/// redactor of the selected target's credentials, so no token is ever printed, whatever a server
/// sent.
pub mod output {
    use std::io::Write;
    use std::sync::OnceLock;

    use super::ColorWhen;
    use crate::live::redact::Redactor;

    static REDACTOR: OnceLock<Redactor> = OnceLock::new();

    /// Remove these credentials from everything printed from now on.
    pub fn redact_with(redactor: Redactor) {
        let _ = REDACTOR.set(redactor);
    }

    /// `text` without the credentials.
    pub fn redacted(text: &str) -> String {
        match REDACTOR.get() {
            Some(redactor) if !redactor.is_empty() => redactor.text(text),
            _ => text.to_owned(),
        }
    }

    /// Record `--color` for [`colors`]: `auto` leaves the decision to the environment and the
    /// stream, `always` and `never` override both.
    pub fn choose_colors(when: ColorWhen) {
        let choice = match when {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::Always,
            ColorWhen::Never => anstream::ColorChoice::Never,
        };
        choice.write_global();
    }

    /// The streams output goes to.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Stream {
        Stdout,
        Stderr,
    }

    /// Whether to colour what goes to `stream`: `--color`, else `NO_COLOR` (never),
    /// `CLICOLOR_FORCE` (always), `CLICOLOR=0` (never), and otherwise a terminal whose `TERM`
    /// is not `dumb`.
    #[must_use]
    pub fn colors(stream: Stream) -> bool {
        let choice = match stream {
            Stream::Stdout => anstream::AutoStream::choice(&std::io::stdout()),
            Stream::Stderr => anstream::AutoStream::choice(&std::io::stderr()),
        };
        !matches!(choice, anstream::ColorChoice::Never)
    }

    /// Write data to stdout; a closed pipe is not an error.
    pub fn stdout_bytes(bytes: &[u8]) {
        let text;
        let bytes = match (REDACTOR.get(), std::str::from_utf8(bytes)) {
            (Some(redactor), Ok(utf8)) if !redactor.is_empty() => {
                text = redactor.text(utf8);
                text.as_bytes()
            }
            _ => bytes,
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    /// Write a data line to stdout.
    pub fn stdout_line(text: &str) {
        stdout_bytes(format!("{text}\n").as_bytes());
    }

    /// Write a human line to stderr.
    pub fn error_line(text: &str) {
        let text = redacted(text);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
    }

    /// One `warning:` line per live record or answer that could not be read.
    pub fn live_warnings(live: &crate::model::LiveState) {
        for warning in &live.warnings {
            error_line(&format!("warning: {warning}"));
        }
    }
}
