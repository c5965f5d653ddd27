//! The command line: argument parsing, target selection, output and exit codes.
//!
//! Invariant: the only module that writes to stdout/stderr and the only user of `anyhow`.
//! Data (JSON, Markdown, plans) goes to stdout; diagnostics, progress and prompts to stderr.

mod apply;
mod emulator;
mod export;
mod plan;
mod projects;
mod schema;
mod target;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use target::{Target, parse_rate_limit, select_with};
pub use validate::{Report as ValidateReport, report as validate_report};

/// Manage Contentstack Personalize the GitOps way.
#[derive(Debug, Parser)]
#[command(name = "pzctl", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Personalize Management API base URL (the hosted service or an emulator). Without it (and
    /// without `--region`) the target is the embedded local organization under `.pzctl/`.
    #[arg(long, global = true, env = "PZCTL_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Hosted region: na, eu, au, azure-na, azure-eu, gcp-na or gcp-eu.
    #[arg(long, global = true, env = "PZCTL_REGION")]
    pub region: Option<String>,
    /// Directory of the embedded local organization.
    #[arg(long, global = true, env = "PZCTL_STATE_DIR", default_value = ".pzctl")]
    pub state_dir: PathBuf,
    /// Client pacing of HTTP targets, in requests per second [env: PZCTL_RATE_LIMIT]
    /// [default: 10, the hosted API's per-organization limit]. `0` or `unlimited` turns client
    /// pacing off (warned about on the hosted API). For `pzctl emulator`, `--rate-limit` is
    /// instead the emulator's own server-side limit.
    #[arg(long, global = true, value_name = "RPS", value_parser = target::parse_rate_limit)]
    pub rate_limit: Option<f64>,
    /// Give up on a request the server keeps refusing with 429, with no other answer, for
    /// this many seconds [env: PZCTL_RETRY_DEADLINE] [default: 120].
    #[arg(long, global = true, value_name = "SECONDS", value_parser = target::parse_seconds)]
    pub retry_deadline: Option<std::time::Duration>,
}

/// Which manifest files to read.
#[derive(Debug, Clone, Args)]
pub struct SelectArgs {
    /// Files or folders to read manifests from.
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
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests against the schemas and each other; print every problem.
    Validate(validate::ValidateArgs),
    /// Read live state, diff it against the manifests and show what would change.
    Plan(plan::PlanArgs),
    /// Carry out a plan (fresh, or saved with `plan --out`).
    Apply(apply::ApplyArgs),
    /// Write manifests for what is live.
    Export(export::ExportArgs),
    /// Serve the Personalize Management API on loopback, for tests, demos and CI dry runs.
    Emulator(emulator::EmulatorArgs),
    /// List the projects the manifests declare (or those changed since a git ref), for a CI matrix.
    ///
    /// Invalid manifests are reported as `pzctl validate` reports them, and nothing is listed
    /// (exit 1). Warnings are left to `pzctl validate`.
    Projects(projects::ProjectsArgs),
    /// Write the JSON Schemas of the manifests.
    Schema(schema::SchemaArgs),
    /// Print shell completions.
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
    let cli = Cli::parse();
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
    match cli.command {
        Command::Validate(args) => validate::run(&cli.global, args),
        Command::Plan(args) => runtime()?.block_on(plan::run(&cli.global, args)),
        Command::Apply(args) => runtime()?.block_on(apply::run(&cli.global, args)),
        Command::Export(args) => runtime()?.block_on(export::run(&cli.global, args)),
        Command::Emulator(args) => runtime()?.block_on(emulator::run(&cli.global, args)),
        Command::Projects(args) => projects::run(&cli.global, args),
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

/// The only place that prints. Everything goes through the redactor of the selected target's
/// credentials, so no token is ever printed, whatever a server sent.
pub mod output {
    use std::io::Write;
    use std::sync::OnceLock;

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
