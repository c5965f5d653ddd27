//! `pzctl validate`: load manifests, print every problem, exit 1 when any is an error.

use std::process::ExitCode;

use super::output::{self, Stream};
use super::pipeline;
use crate::diagnostic::{self, Severity};
use crate::manifest::{self, LoadConfig};

/// Arguments of `pzctl validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub select: super::SelectArgs,
    #[command(flatten)]
    pub color: super::ColorArgs,
    /// How to print problems: `text` (stderr, with source snippets), `json` (stdout, an array)
    /// or `github` (stdout, workflow annotations).
    #[arg(long, value_enum, default_value = "text")]
    pub format: super::DiagnosticFormat,
    /// Only parse the YAML (no schema, no meaning checks); for benchmarks.
    #[arg(long, hide = true)]
    pub parse_only: bool,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    if args.parse_only {
        return Ok(parse_only(&LoadConfig {
            paths: args.select.paths.clone(),
            include: args.select.include.clone(),
            exclude: args.select.exclude.clone(),
        }));
    }
    let loaded = pipeline::load_every(&args.select)?;
    let report = report(&loaded, args.format, output::colors(Stream::Stderr));
    output::stdout_bytes(report.stdout.as_bytes());
    if let Some(text) = report.stderr.strip_suffix('\n') {
        output::error_line(text);
    }
    if report.exit == 0 {
        // `--project` names a declared project (validate does not read the organization).
        let declared = loaded.declared_projects();
        super::scope::names(&args.select.project, &[], &declared, &Default::default())?;
    }
    Ok(ExitCode::from(report.exit))
}

/// What `pzctl validate` prints for loaded manifests, and how it exits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// JSON or GitHub annotations (empty for the text format).
    pub stdout: String,
    /// The text diagnostics (text format), then the summary line; ends with a newline.
    pub stderr: String,
    /// 1 when any diagnostic is an error, else 0.
    pub exit: u8,
}

/// Render what `pzctl validate` prints; pure, so tests can run it in process.
#[must_use]
pub fn report(loaded: &manifest::Loaded, format: super::DiagnosticFormat, color: bool) -> Report {
    let errors = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = loaded.diagnostics.len() - errors;
    let mut stdout = String::new();
    let mut stderr = String::new();
    match format {
        super::DiagnosticFormat::Text => {
            let text = diagnostic::render_text(&loaded.diagnostics, &loaded.sources, color);
            if !text.is_empty() {
                stderr.push_str(text.trim_end());
                stderr.push('\n');
            }
        }
        super::DiagnosticFormat::Json => {
            stdout = diagnostic::render_json(&loaded.diagnostics);
        }
        super::DiagnosticFormat::Github => {
            stdout = diagnostic::render_github(&loaded.diagnostics);
        }
    }
    if let Some(notice) = loaded.skipped_notice() {
        stderr.push_str(&notice);
        stderr.push('\n');
    }
    let resources: usize = loaded
        .desired
        .projects
        .values()
        .map(|p| 1 + p.attributes.len() + p.events.len() + p.audiences.len() + p.experiences.len())
        .sum();
    let files = loaded.files.len();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let warned = if warnings > 0 {
        format!(", {}", plural(warnings, "warning"))
    } else {
        String::new()
    };
    if errors == 0 {
        stderr.push_str(&format!(
            "valid: {} in {}{warned}\n",
            plural(resources, "resource"),
            plural(files, "file"),
        ));
    } else {
        stderr.push_str(&format!(
            "invalid: {}{warned} in {}\n",
            plural(errors, "error"),
            plural(files, "file")
        ));
    }
    Report {
        stdout,
        stderr,
        exit: u8::from(errors > 0),
    }
}

/// Read and parse every file, nothing else: the floor that `validate` is measured against.
fn parse_only(config: &LoadConfig) -> ExitCode {
    let mut files = 0usize;
    let mut documents = 0usize;
    let mut problems = 0usize;
    let mut paths = Vec::new();
    for path in &config.paths {
        collect(path, &mut paths);
    }
    paths.sort();
    for path in paths {
        files += 1;
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                // The parse `validate` runs (positions found only where a problem needs one).
                let (docs, found) = manifest::yaml::parse_lazy(&std::sync::Arc::from(text));
                documents += docs.len();
                problems += found.len();
            }
            Err(_) => problems += 1,
        }
    }
    output::error_line(&format!(
        "parsed {documents} documents in {files} files ({problems} problems)"
    ));
    if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn collect(path: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                collect(&entry.path(), out);
            }
        }
    } else if matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    ) {
        out.push(path.to_path_buf());
    }
}
