//! Choosing the live target from the global options: an HTTP endpoint (hosted region or
//! emulator URL) or the embedded local organization.
//!
//! Credentials come from the environment only (`CONTENTSTACK_AUTHTOKEN` or
//! `CONTENTSTACK_OAUTH_TOKEN`, plus `CONTENTSTACK_ORGANIZATION_UID`); they are never read from
//! flags, so they never show up in shell history or process listings.

use anyhow::{Context, bail};
use serde_json::Value;

use crate::live::embedded::EmbeddedBackend;
use crate::live::http::{self, Credentials, HttpBackend, HttpConfig, Secret};
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

/// Pick the target: `--endpoint` (or `PZCTL_ENDPOINT`) or `--region` select the HTTP client;
/// otherwise the embedded local organization in `--state-dir`.
// The plan, apply and export commands call this; until they land nothing in the binary does.
#[allow(dead_code)]
pub fn select(global: &super::GlobalArgs) -> anyhow::Result<Target> {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    match http_config(global.endpoint.as_deref(), global.region.as_deref(), &env)? {
        Some(config) => {
            let backend = HttpBackend::new(config).context("cannot set up the HTTP client")?;
            Ok(Target::Http(backend))
        }
        None => {
            let backend = EmbeddedBackend::open(&global.state_dir).with_context(|| {
                format!(
                    "cannot open the local organization at {}",
                    global.state_dir.display()
                )
            })?;
            Ok(Target::Embedded(backend))
        }
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
        (None, None) => Credentials::None,
    };

    let mut config = HttpConfig::new(base_url.clone(), credentials);
    config.organization_uid = env(ORGANIZATION_ENV);
    config.supports_members = !is_hosted(&base_url);
    Ok(Some(config))
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
    fn region_selects_hosted_without_members() {
        let env = env_of(&[(AUTHTOKEN_ENV, "tok"), (ORGANIZATION_ENV, "org1")]);
        let config = http_config(None, Some("eu"), &env).unwrap().unwrap();
        assert_eq!(
            config.base_url,
            "https://eu-personalize-api.contentstack.com"
        );
        assert!(!config.supports_members);
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
