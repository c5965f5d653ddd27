//! `pzctl emulator`: serve the Personalize Management API on loopback until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::emulator::{EmulatorConfig, Server};

/// Arguments of `pzctl emulator`.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4010")]
    pub listen: SocketAddr,
    /// Address of the Content Management API's listener (`/v3/variant_groups`, where
    /// experiences' content types are linked); give its URL to pzctl as `--cma-endpoint`.
    /// Default: the `--listen` host on a free port.
    #[arg(long, value_name = "ADDR")]
    pub cma_listen: Option<SocketAddr>,
    /// Users file (YAML: `users: [{email, role: owner|admin|member, token, stacks}]`; the
    /// optional `stacks` maps stack API keys to `read` or `write` on the Content Management
    /// API). Without it, the users of `examples/emulator-users.yaml`.
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// Keep the state in this JSON file (loaded at start, rewritten atomically after each
    /// write). Without it, state lives in memory.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Sleep this many milliseconds before answering each request.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Allow this many requests per second for the organization; above it answer 429 with
    /// `Retry-After`.
    #[arg(long, value_parser = positive)]
    pub rate_limit: Option<f64>,
    /// Probability (0..=1) of answering 5xx before processing a request.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub fault_rate: f64,
    /// Probability (0..=1) of carrying out a request and then closing the connection without
    /// answering.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    pub drop_rate: f64,
    /// Seed of the fault random number generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Projects allowed in the organization (default 3, as the hosted service).
    #[arg(long)]
    pub max_projects: Option<usize>,
    /// Serve only the hosted API's routes: `GET /user` and the members routes answer 404.
    #[arg(long)]
    pub no_extensions: bool,
    /// Answer with the variants the hosted service may send: records with only `uid` or only
    /// `_id`, `null` descriptions, unknown fields, `targeting: {}`, metrics and rule groups
    /// without `__type`, an archived version, an unreadable audience, no
    /// `/experiences-priority` (see docs/emulator.md).
    #[arg(long)]
    pub quirks: bool,
}

fn probability(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not a probability between 0 and 1"))
    }
}

fn positive(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if value > 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(format!("{value} must be greater than 0"))
    }
}

pub async fn run(args: EmulatorArgs) -> anyhow::Result<ExitCode> {
    let mut config = EmulatorConfig::with_default_users();
    if let Some(path) = &args.users {
        config.users = EmulatorConfig::load_users(path).map_err(anyhow::Error::msg)?;
    }
    config.data = args.data.clone();
    config.latency_ms = args.latency_ms;
    config.rate_limit = args.rate_limit;
    config.fault_rate = args.fault_rate;
    config.drop_rate = args.drop_rate;
    config.seed = args.seed;
    config.extensions = !args.no_extensions;
    config.quirks = args.quirks;
    config.cma_listen = args.cma_listen;
    if let Some(max) = args.max_projects {
        config.limits.projects_per_org = max;
    }
    let emails: Vec<String> = config
        .users
        .iter()
        .map(|user| format!("  {} ({:?})", user.email, user.role).to_lowercase())
        .collect();
    let server = Server::bind(config, args.listen)
        .await
        .with_context(|| format!("cannot start the emulator on {}", args.listen))?;
    let addr = server.local_addr()?;
    let cma = server.cma_addr()?;
    super::output::error_line(&format!(
        "pzctl emulator listening on http://{addr} (Ctrl-C to stop)"
    ));
    super::output::error_line(&format!(
        "content management API on http://{cma} (pass it as --cma-endpoint)"
    ));
    match &args.data {
        Some(path) => super::output::error_line(&format!("state file: {}", path.display())),
        None => super::output::error_line("state: in memory"),
    }
    super::output::error_line("users:");
    for line in emails {
        super::output::error_line(&line);
    }
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the emulator stopped with an error")?;
    super::output::error_line("pzctl emulator stopped");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    #[test]
    fn parses_flags() {
        let parsed = Wrapper::try_parse_from([
            "x",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "10",
            "--fault-rate",
            "0.25",
            "--drop-rate",
            "1",
            "--seed",
            "9",
            "--latency-ms",
            "5",
            "--max-projects",
            "100",
            "--cma-listen",
            "127.0.0.1:0",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.args.listen.port(), 0);
        assert_eq!(parsed.args.rate_limit, Some(10.0));
        assert!((parsed.args.fault_rate - 0.25).abs() < f64::EPSILON);
        assert_eq!(parsed.args.seed, 9);
        assert_eq!(parsed.args.max_projects, Some(100));
        assert_eq!(parsed.args.cma_listen.map(|addr| addr.port()), Some(0));
        let defaults = Wrapper::try_parse_from(["x"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defaults.args.listen.to_string(), "127.0.0.1:4010");
        assert!(Wrapper::try_parse_from(["x", "--fault-rate", "1.5"]).is_err());
        assert!(Wrapper::try_parse_from(["x", "--rate-limit", "0"]).is_err());
    }
}
