//! Choosing the live target from the global options: an HTTP endpoint (hosted region or
//! emulator URL) or the embedded local organization.
//!
//! Credentials come from the environment only (`CONTENTSTACK_AUTHTOKEN` or
//! `CONTENTSTACK_OAUTH_TOKEN`, plus `CONTENTSTACK_ORGANIZATION_UID`); they are never read from
//! flags, so they never show up in shell history or process listings.

use anyhow::{Context, bail};
use serde_json::Value;

use crate::live::embedded::EmbeddedBackend;
use crate::live::http::{self, Credentials, HttpBackend, HttpConfig, HttpSummary, Secret};
use crate::live::retry::RetryPolicy;
use crate::live::{Backend, BackendError, Request};

/// The selected target.
pub enum Target {
    /// The hosted API or an emulator.
    Http(HttpBackend),
    /// The embedded local organization under the state directory.
    Embedded(EmbeddedBackend),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Target").field(&self.describe()).finish()
    }
}

impl Backend for Target {
    async fn send(&self, request: Request) -> Result<Value, BackendError> {
        match self {
            Target::Http(backend) => backend.send(request).await,
            Target::Embedded(backend) => backend.send(request).await,
        }
    }

    fn supports_members(&self) -> bool {
        match self {
            Target::Http(backend) => backend.supports_members(),
            Target::Embedded(backend) => backend.supports_members(),
        }
    }

    fn supports_cma(&self) -> bool {
        match self {
            Target::Http(backend) => backend.supports_cma(),
            Target::Embedded(backend) => backend.supports_cma(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Http(backend) => backend.describe(),
            Target::Embedded(backend) => backend.describe(),
        }
    }
}

/// The environment variables credentials are read from.
pub const AUTHTOKEN_ENV: &str = "CONTENTSTACK_AUTHTOKEN";
pub const OAUTH_TOKEN_ENV: &str = "CONTENTSTACK_OAUTH_TOKEN";
pub const ORGANIZATION_ENV: &str = "CONTENTSTACK_ORGANIZATION_UID";

/// The environment variables of `--endpoint`, `--region`, `--state-dir` and `--cma-endpoint`.
pub const ENDPOINT_ENV: &str = "PZCTL_ENDPOINT";
pub const CMA_ENDPOINT_ENV: &str = "PZCTL_CMA_ENDPOINT";
pub const REGION_ENV: &str = "PZCTL_REGION";
pub const STATE_DIR_ENV: &str = "PZCTL_STATE_DIR";

/// The state directory without `--state-dir` or `PZCTL_STATE_DIR`.
pub const DEFAULT_STATE_DIR: &str = ".pzctl";

/// Pick the target: `--endpoint` (or `PZCTL_ENDPOINT`) or `--region` (or `PZCTL_REGION`)
/// select the HTTP client; otherwise the embedded local organization in `--state-dir` (or
/// `PZCTL_STATE_DIR`, default `.pzctl`). A flag wins over its variable.
pub fn select(global: &super::TargetArgs) -> anyhow::Result<Target> {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    select_with(global, &env)
}

/// `select` with the environment read through `env` (injected for tests).
pub fn select_with(
    global: &super::TargetArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Target> {
    let endpoint = global.endpoint.clone().or_else(|| env(ENDPOINT_ENV));
    let region = global.region.clone().or_else(|| env(REGION_ENV));
    let state_dir = global
        .state_dir
        .clone()
        .or_else(|| env(STATE_DIR_ENV).map(std::path::PathBuf::from))
        .unwrap_or_else(|| std::path::PathBuf::from(DEFAULT_STATE_DIR));
    let cma_endpoint = cma_endpoint(global, env);
    match http_config(endpoint.as_deref(), region.as_deref(), env)? {
        Some(mut config) => {
            config.cma_url = cma_endpoint.or_else(|| cma_of_hosted(&config.base_url));
            config.requests_per_second = client_rate(global.rate_limit, env)?;
            if config.requests_per_second.is_infinite() && is_hosted(&config.base_url) {
                super::output::error_line(&format!(
                    "warning: client pacing is off (--rate-limit 0) against the hosted API at \
                     {}; it allows {DEFAULT_RATE_LIMIT} requests per second per organization, \
                     and answers above that are retried after a 429",
                    config.base_url
                ));
            }
            super::output::redact_with(config.credentials.redactor());
            let backend = HttpBackend::new(config).context("cannot set up the HTTP client")?;
            Ok(Target::Http(backend))
        }
        None => {
            if let Some(url) = cma_endpoint {
                bail!(
                    "--cma-endpoint {url} needs --endpoint or --region: the local organization \
                     serves its stacks' variant groups itself"
                );
            }
            let backend = EmbeddedBackend::open(&state_dir).with_context(|| {
                format!(
                    "cannot open the local organization at {}",
                    state_dir.display()
                )
            })?;
            Ok(Target::Embedded(backend))
        }
    }
}

/// `--cma-endpoint`, else `PZCTL_CMA_ENDPOINT`, when given.
fn cma_endpoint(
    global: &super::TargetArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    global
        .cma_endpoint
        .clone()
        .or_else(|| env(CMA_ENDPOINT_ENV))
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
}

/// What a saved plan records of the target these options select (never a credential), found
/// without opening it: a plan for another target is refused before anything is created.
pub fn plan_target(global: &super::TargetArgs) -> anyhow::Result<crate::plan::PlanTarget> {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let endpoint = global.endpoint.clone().or_else(|| env(ENDPOINT_ENV));
    let region = global.region.clone().or_else(|| env(REGION_ENV));
    Ok(
        match http_config(endpoint.as_deref(), region.as_deref(), &env)? {
            Some(config) => crate::plan::PlanTarget::endpoint(
                &config.base_url,
                config.organization_uid.as_deref(),
            )
            .with_cma(
                cma_endpoint(global, &env)
                    .or_else(|| cma_of_hosted(&config.base_url))
                    .as_deref(),
            ),
            None => {
                let state_dir = global
                    .state_dir
                    .clone()
                    .or_else(|| env(STATE_DIR_ENV).map(std::path::PathBuf::from))
                    .unwrap_or_else(|| std::path::PathBuf::from(DEFAULT_STATE_DIR));
                crate::plan::PlanTarget::local(&state_dir.to_string_lossy())
            }
        },
    )
}

/// The environment variable of `--retry-deadline`.
pub const RETRY_DEADLINE_ENV: &str = "PZCTL_RETRY_DEADLINE";

/// Parse a number of seconds (`120`, `0.5`).
pub fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    text.parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .and_then(|seconds| std::time::Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| format!("`{text}` is not a number of seconds"))
}

/// The run's retry policy: the defaults, with `--retry-deadline` (else `PZCTL_RETRY_DEADLINE`).
pub fn retry_policy(target: &super::TargetArgs) -> anyhow::Result<RetryPolicy> {
    let mut policy = RetryPolicy::default();
    if let Some(deadline) = target.retry_deadline {
        policy.deadline = deadline;
    } else if let Some(text) = std::env::var(RETRY_DEADLINE_ENV)
        .ok()
        .filter(|text| !text.trim().is_empty())
    {
        policy.deadline = parse_seconds(&text)
            .map_err(|message| anyhow::anyhow!("invalid {RETRY_DEADLINE_ENV}: {message}"))?;
    }
    Ok(policy)
}

impl Target {
    /// What this run did over HTTP (`None` for the embedded organization).
    #[must_use]
    pub fn http_summary(&self, retry: &RetryPolicy) -> Option<HttpSummary> {
        match self {
            Target::Http(backend) => Some(HttpSummary::new(backend.stats(), retry.retries())),
            Target::Embedded(_) => None,
        }
    }
}

/// The environment variable of `--rate-limit`.
pub const RATE_LIMIT_ENV: &str = "PZCTL_RATE_LIMIT";

/// The client pacing without `--rate-limit`: the hosted API's documented per-organization limit.
pub const DEFAULT_RATE_LIMIT: f64 = 10.0;

/// Parse a `--rate-limit` value: a positive finite number of requests per second, or `0` /
/// `unlimited` for no client pacing (returned as `f64::INFINITY`, which is how
/// [`HttpConfig::requests_per_second`] spells "unpaced").
pub fn parse_rate_limit(text: &str) -> Result<f64, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("unlimited") {
        return Ok(f64::INFINITY);
    }
    let invalid = || {
        format!(
            "`{text}` is not a rate: give a positive number of requests per second (e.g. 10 or \
             2.5), or 0 / unlimited for no client pacing"
        )
    };
    let value: f64 = text.parse().map_err(|_| invalid())?;
    if value == 0.0 {
        Ok(f64::INFINITY)
    } else if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(invalid())
    }
}

/// The client's requests per second: `--rate-limit`, else `PZCTL_RATE_LIMIT`, else 10.
/// `f64::INFINITY` means no pacing. `env` reads an environment variable (injected for tests).
pub fn client_rate(flag: Option<f64>, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<f64> {
    if let Some(rate) = flag {
        return Ok(rate);
    }
    match env(RATE_LIMIT_ENV) {
        Some(text) => parse_rate_limit(&text)
            .map_err(|message| anyhow::anyhow!("invalid {RATE_LIMIT_ENV}: {message}")),
        None => Ok(DEFAULT_RATE_LIMIT),
    }
}

/// The HTTP configuration for `--endpoint` / `--region`, or `None` for the embedded target.
/// `env` reads an environment variable (injected for tests).
pub fn http_config(
    endpoint: Option<&str>,
    region: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<HttpConfig>> {
    let endpoint = endpoint.map(str::trim).filter(|text| !text.is_empty());
    let region = region.map(str::trim).filter(|text| !text.is_empty());
    let base_url = match (endpoint, region) {
        (Some(endpoint), Some(region)) => {
            bail!("--endpoint {endpoint} and --region {region} both select a target; give one")
        }
        (Some(endpoint), None) => endpoint.trim_end_matches('/').to_owned(),
        (None, Some(region)) => match http::region_url(region) {
            Some(url) => url.to_owned(),
            None => bail!(
                "unknown region `{region}`; valid regions: {}",
                http::REGIONS.join(", ")
            ),
        },
        (None, None) => return Ok(None),
    };

    let credentials = match (env(AUTHTOKEN_ENV), env(OAUTH_TOKEN_ENV)) {
        (Some(_), Some(_)) => bail!(
            "both {AUTHTOKEN_ENV} and {OAUTH_TOKEN_ENV} are set; unset one so it is clear which \
             credential acts"
        ),
        (Some(token), None) => Credentials::Authtoken(Secret::new(token)),
        (None, Some(token)) => Credentials::Bearer(Secret::new(token)),
        (None, None) => bail!(
            "{base_url} needs credentials: set {AUTHTOKEN_ENV} (a user authtoken) or \
             {OAUTH_TOKEN_ENV} (an OAuth access token)"
        ),
    };

    let hosted = is_hosted(&base_url);
    let organization_uid = env(ORGANIZATION_ENV);
    if hosted && organization_uid.is_none() {
        bail!(
            "{base_url} needs the organization: set {ORGANIZATION_ENV} (projects are listed and \
             created per organization)"
        );
    }
    // Whether the endpoint has `/user` and the members routes is learned from its answers
    // (`live::observe`), not from its host name.
    let mut config = HttpConfig::new(base_url, credentials);
    config.organization_uid = organization_uid;
    Ok(Some(config))
}

/// The Content Management API of a hosted region's Personalize base URL (given by `--region`
/// or spelled out with `--endpoint`); `None` for any other URL.
#[must_use]
pub fn cma_of_hosted(base_url: &str) -> Option<String> {
    let base_url = base_url.trim_end_matches('/');
    http::REGIONS
        .iter()
        .find(|region| http::region_url(region) == Some(base_url))
        .and_then(|region| http::cma_region_url(region))
        .map(str::to_owned)
}

/// Whether a base URL points at the hosted service (host ending with `contentstack.com`).
#[must_use]
pub fn is_hosted(base_url: &str) -> bool {
    let rest = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    host == "contentstack.com" || host.ends_with(".contentstack.com")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn no_endpoint_means_embedded() {
        let config = http_config(None, None, &env_of(&[])).unwrap();
        assert!(config.is_none());
    }

    #[test]
    fn region_selects_hosted_and_leaves_members_to_be_learned() {
        let env = env_of(&[(AUTHTOKEN_ENV, "tok"), (ORGANIZATION_ENV, "org1")]);
        let config = http_config(None, Some("eu"), &env).unwrap().unwrap();
        assert_eq!(
            config.base_url,
            "https://eu-personalize-api.contentstack.com"
        );
        assert!(
            config.supports_members,
            "learned from a 404, not from the host"
        );
        assert_eq!(
            config.credentials,
            Credentials::Authtoken(Secret::new("tok"))
        );
        assert_eq!(config.organization_uid.as_deref(), Some("org1"));
    }

    #[test]
    fn emulator_endpoint_has_members_and_bearer() {
        let env = env_of(&[(OAUTH_TOKEN_ENV, "oauth")]);
        let config = http_config(Some("http://127.0.0.1:4010/"), None, &env)
            .unwrap()
            .unwrap();
        assert_eq!(config.base_url, "http://127.0.0.1:4010");
        assert!(config.supports_members);
        assert_eq!(
            config.credentials,
            Credentials::Bearer(Secret::new("oauth"))
        );
    }

    #[test]
    fn unknown_region_lists_valid_ones() {
        let error = http_config(None, Some("mars"), &env_of(&[])).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("mars"), "{message}");
        assert!(
            message.contains("azure-eu") && message.contains("gcp-na"),
            "{message}"
        );
    }

    #[test]
    fn both_tokens_is_an_error_that_does_not_print_them() {
        let env = env_of(&[(AUTHTOKEN_ENV, "tok-AAA"), (OAUTH_TOKEN_ENV, "tok-BBB")]);
        let message = http_config(Some("http://localhost:1"), None, &env)
            .unwrap_err()
            .to_string();
        assert!(!message.contains("tok-AAA") && !message.contains("tok-BBB"));
    }

    #[test]
    fn credentials_and_hosted_organization_are_required() {
        let message = http_config(Some("http://127.0.0.1:4010"), None, &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(message.contains(AUTHTOKEN_ENV), "{message}");
        let env = env_of(&[(AUTHTOKEN_ENV, "tok")]);
        let message = http_config(None, Some("na"), &env).unwrap_err().to_string();
        assert!(message.contains(ORGANIZATION_ENV), "{message}");
        // The emulator does not need an organization uid.
        assert!(http_config(Some("http://127.0.0.1:4010"), None, &env).is_ok());
    }

    #[test]
    fn no_endpoint_opens_the_embedded_organization() {
        let dir = tempfile::tempdir().unwrap();
        let global = super::super::TargetArgs {
            endpoint: None,
            region: Some("  ".to_owned()),
            state_dir: Some(dir.path().join(".pzctl")),
            rate_limit: None,
            retry_deadline: None,
            cma_endpoint: None,
        };
        let target = select_with(&global, &env_of(&[])).unwrap();
        assert!(
            target.supports_cma(),
            "the local organization serves its CMA itself"
        );
        assert!(matches!(target, Target::Embedded(_)), "{target:?}");
        assert!(target.supports_members());
        // Nothing is created before the first write.
        assert!(!dir.path().join(".pzctl").exists());
    }

    #[test]
    fn the_cma_follows_the_region_or_the_flag() {
        assert_eq!(
            cma_of_hosted("https://eu-personalize-api.contentstack.com/").as_deref(),
            Some("https://eu-api.contentstack.com")
        );
        assert_eq!(
            cma_of_hosted("https://personalize-api.contentstack.com").as_deref(),
            Some("https://api.contentstack.io")
        );
        assert_eq!(cma_of_hosted("http://127.0.0.1:4010"), None);
        let env = env_of(&[(AUTHTOKEN_ENV, "tok"), (ORGANIZATION_ENV, "org1")]);
        let args = |endpoint: Option<&str>, region: Option<&str>, cma: Option<&str>| {
            super::super::TargetArgs {
                endpoint: endpoint.map(str::to_owned),
                region: region.map(str::to_owned),
                state_dir: None,
                rate_limit: None,
                retry_deadline: None,
                cma_endpoint: cma.map(str::to_owned),
            }
        };
        let cma = |target: Target| match target {
            Target::Http(backend) => backend.cma_url().map(str::to_owned),
            Target::Embedded(_) => panic!("expected an HTTP target"),
        };
        let hosted = select_with(&args(None, Some("gcp-na"), None), &env).unwrap();
        assert_eq!(
            cma(hosted).as_deref(),
            Some("https://gcp-na-api.contentstack.com")
        );
        let emulator = select_with(&args(Some("http://127.0.0.1:4010"), None, None), &env).unwrap();
        assert!(!emulator.supports_cma());
        let emulator = select_with(
            &args(
                Some("http://127.0.0.1:4010"),
                None,
                Some("http://127.0.0.1:4011/"),
            ),
            &env,
        )
        .unwrap();
        assert_eq!(cma(emulator).as_deref(), Some("http://127.0.0.1:4011"));
        let local = select_with(&args(None, None, Some("http://127.0.0.1:4011")), &env);
        assert!(local.is_err());
    }

    #[test]
    fn rate_limit_values() {
        assert_eq!(parse_rate_limit("10"), Ok(10.0));
        assert_eq!(parse_rate_limit(" 2.5 "), Ok(2.5));
        assert_eq!(parse_rate_limit("0"), Ok(f64::INFINITY));
        assert_eq!(parse_rate_limit("Unlimited"), Ok(f64::INFINITY));
        for bad in ["-1", "abc", "NaN", "inf", ""] {
            let message = parse_rate_limit(bad).unwrap_err();
            assert!(message.contains("positive number"), "{bad}: {message}");
        }
    }

    #[test]
    fn rate_limit_comes_from_flag_then_env_then_default() {
        assert_eq!(client_rate(None, &env_of(&[])).unwrap(), DEFAULT_RATE_LIMIT);
        let env = env_of(&[(RATE_LIMIT_ENV, "unlimited")]);
        assert_eq!(client_rate(None, &env).unwrap(), f64::INFINITY);
        assert_eq!(client_rate(Some(3.0), &env).unwrap(), 3.0);
        let env = env_of(&[(RATE_LIMIT_ENV, "fast")]);
        let message = client_rate(None, &env).unwrap_err().to_string();
        assert!(
            message.contains(RATE_LIMIT_ENV) && message.contains("fast"),
            "{message}"
        );
    }

    #[test]
    fn retry_deadline_values() {
        use std::time::Duration;
        assert_eq!(parse_seconds("120"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_seconds(" 0.5 "), Ok(Duration::from_millis(500)));
        for bad in ["-1", "soon", "NaN", "inf", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        // After the subcommand, or before it (taken by `or`).
        for argv in [
            ["pzctl", "plan", "--retry-deadline", "7"],
            ["pzctl", "--retry-deadline", "7", "plan"],
        ] {
            let cli = <super::super::Cli as clap::Parser>::try_parse_from(argv).unwrap();
            let super::super::Command::Plan(args) = cli.command else {
                panic!("{argv:?} is not `plan`");
            };
            let target = args.target.or(&cli.global);
            assert_eq!(
                retry_policy(&target).unwrap().deadline,
                Duration::from_secs(7),
                "{argv:?}"
            );
        }
        // Not a flag of the commands that do not read a live organization.
        assert!(
            <super::super::Cli as clap::Parser>::try_parse_from([
                "pzctl",
                "validate",
                "--retry-deadline",
                "7",
            ])
            .is_err()
        );
    }

    #[test]
    fn hosted_detection() {
        assert!(is_hosted("https://personalize-api.contentstack.com"));
        assert!(is_hosted(
            "https://EU-personalize-api.contentstack.com:443/x"
        ));
        assert!(!is_hosted("http://127.0.0.1:4010"));
        assert!(!is_hosted("https://contentstack.com.evil.example"));
        assert!(!is_hosted("http://localhost:4010/contentstack.com"));
    }
}
