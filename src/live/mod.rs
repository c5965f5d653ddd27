//! Live state: the one [`Backend`] trait with its three faces (the HTTP client for the hosted
//! API and the emulator, and the embedded local organization), the typed [`Api`] over it, and
//! [`observe`], which reads a whole organization into a [`LiveState`].
//!
//! Invariant: this module and its children are the only code that talks to a live organization.
//! `http` is the only importer of `reqwest`.

pub mod embedded;
pub mod http;
mod observe;
pub mod observer;
pub mod pace;
pub mod redact;
pub mod retry;

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::wire::{self, ApiError, Collection};
pub use crate::wire::{Method, Request};

pub use observe::{observe, observe_with};

/// Why a call did not succeed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum BackendError {
    /// The server answered with an error status.
    #[error("{method} {path} failed with {}", .error)]
    Api {
        method: &'static str,
        path: String,
        error: ApiError,
    },
    /// No answer arrived (timeout, connection reset, dropped response). The request may or may
    /// not have taken effect: callers must look before they repeat a create.
    #[error("{method} {path}: no response: {message}")]
    Transport {
        method: &'static str,
        path: String,
        message: String,
    },
    /// The backend has no such endpoint (members on the hosted API).
    #[error("{0} is not available on this endpoint")]
    Unsupported(String),
    /// The answer was not the JSON shape the API documents.
    #[error("{method} {path}: unexpected response: {message}")]
    Decode {
        method: &'static str,
        path: String,
        message: String,
    },
    /// Local failure of the embedded organization (lock, disk).
    #[error("local organization: {0}")]
    Local(String),
}

impl BackendError {
    /// The API error, if the server answered.
    #[must_use]
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            BackendError::Api { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.api().map(|error| error.status)
    }

    /// The method and path of the request that failed (empty when no request was sent).
    #[must_use]
    pub fn request(&self) -> (&'static str, &str) {
        match self {
            BackendError::Api { method, path, .. }
            | BackendError::Transport { method, path, .. }
            | BackendError::Decode { method, path, .. } => (method, path),
            BackendError::Unsupported(_) | BackendError::Local(_) => ("", ""),
        }
    }
}

/// The one trait for live state. Implementations carry out a [`Request`] and return the JSON
/// answer (`Value::Null` for an empty 204), or the error.
///
/// Pacing under the rate limit and authentication are the implementation's business; every
/// request is sent at most once per call. Callers repeat requests through
/// [`retry::RetryPolicy`], the one retry layer.
pub trait Backend: Send + Sync {
    fn send(&self, request: Request) -> impl Future<Output = Result<Value, BackendError>> + Send;

    /// Whether the members endpoints exist (false on the hosted API).
    fn supports_members(&self) -> bool;

    /// Whether requests to the Content Management API (paths under `/v3/`) can be sent: the
    /// embedded organization serves them itself, the HTTP client needs a CMA endpoint.
    fn supports_cma(&self) -> bool {
        false
    }

    /// A short description of the target for messages, e.g. `local organization at .pzctl/`.
    /// Never contains a token.
    fn describe(&self) -> String;
}

/// Typed calls over any [`Backend`], one per endpoint of `personalize-api.md` §2.
pub struct Api<B> {
    pub backend: B,
}

fn decode<T: DeserializeOwned>(request: &Request, value: Value) -> Result<T, BackendError> {
    serde_json::from_value(value).map_err(|error| BackendError::Decode {
        method: request.method.as_str(),
        path: request.path.clone(),
        message: error.to_string(),
    })
}

fn to_body<T: Serialize>(value: &T) -> Value {
    // Serializing our own wire types cannot fail: they hold no maps with non-string keys.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl<B: Backend> Api<B> {
    pub fn new(backend: B) -> Self {
        Api { backend }
    }

    async fn call<T: DeserializeOwned>(&self, request: Request) -> Result<T, BackendError> {
        let answer = self.backend.send(request.clone()).await?;
        decode(&request, answer)
    }

    async fn call_empty(&self, request: Request) -> Result<(), BackendError> {
        self.backend.send(request).await.map(|_| ())
    }

    fn members_supported(&self) -> Result<(), BackendError> {
        if self.backend.supports_members() {
            Ok(())
        } else {
            Err(BackendError::Unsupported("project members".to_owned()))
        }
    }

    /// Who the credentials act as (emulator extension `GET /user`). `Ok(None)` when the
    /// backend cannot tell.
    pub async fn current_user(&self) -> Result<Option<wire::User>, BackendError> {
        if !self.backend.supports_members() {
            return Ok(None);
        }
        self.call(Request::get(wire::path(&["user"])))
            .await
            .map(Some)
    }

    /// The JSON answer of a GET, undecoded (for tolerant reads).
    pub async fn get_value(&self, request: Request) -> Result<Value, BackendError> {
        self.backend.send(request).await
    }

    pub async fn list_projects(&self) -> Result<Vec<wire::Project>, BackendError> {
        self.call(Request::get(wire::path(&["projects"]))).await
    }
    /// `POST /projects`. The stack is linked here, with `connectedStackApiKey` in the body:
    /// the only confirmed way (the official CLI's import does exactly this). Without a stack
    /// the key is left out rather than sent as `null`.
    pub async fn create_project(
        &self,
        input: &wire::ProjectInput,
    ) -> Result<wire::Project, BackendError> {
        let mut body = to_body(input);
        if let Value::Object(map) = &mut body
            && map.get("connectedStackApiKey").is_some_and(Value::is_null)
        {
            map.remove("connectedStackApiKey");
        }
        self.call(Request::new(Method::Post, wire::path(&["projects"])).body(body))
            .await
    }
    /// `PUT /projects/{uid}` with the whole project: the one place a project is rewritten,
    /// and so the one place a stack is linked, switched or unlinked after creation.
    ///
    /// **Unconfirmed** against the hosted service: the official CLI never PUTs a project;
    /// that a PUT with `connectedStackApiKey` links a stack and one with `null` unlinks it
    /// comes from a third-party report (`personalize-api.md` §2.1, §7). The emulator and the
    /// embedded organization implement exactly that.
    pub async fn update_project(
        &self,
        uid: &str,
        input: &wire::ProjectInput,
    ) -> Result<wire::Project, BackendError> {
        let path = wire::path(&["projects", uid]);
        self.call(Request::new(Method::Put, path).body(to_body(input)))
            .await
    }
    pub async fn delete_project(&self, uid: &str) -> Result<(), BackendError> {
        self.call_empty(Request::new(Method::Delete, wire::path(&["projects", uid])))
            .await
    }

    pub async fn list_members(&self, project: &str) -> Result<Vec<wire::Member>, BackendError> {
        self.members_supported()?;
        self.call(Request::get(wire::path(&["projects", project, "users"])))
            .await
    }
    pub async fn invite_member(
        &self,
        project: &str,
        input: &wire::MemberInput,
    ) -> Result<wire::Member, BackendError> {
        self.members_supported()?;
        let path = wire::path(&["projects", project, "users"]);
        self.call(Request::new(Method::Post, path).body(to_body(input)))
            .await
    }
    pub async fn update_member(
        &self,
        project: &str,
        email: &str,
        role: wire::ProjectRole,
    ) -> Result<wire::Member, BackendError> {
        self.members_supported()?;
        let body = to_body(&wire::MemberRoleInput { role });
        let path = wire::path(&["projects", project, "users", email]);
        self.call(Request::new(Method::Put, path).body(body)).await
    }
    pub async fn remove_member(&self, project: &str, email: &str) -> Result<(), BackendError> {
        self.members_supported()?;
        let path = wire::path(&["projects", project, "users", email]);
        self.call_empty(Request::new(Method::Delete, path)).await
    }

    /// Every object of a project-scoped collection, e.g. `list::<wire::Attribute>(project)`.
    pub async fn list<T: Collection>(&self, project: &str) -> Result<Vec<T>, BackendError> {
        self.call(Request::get(wire::path(&[T::PATH])).project(project))
            .await
    }
    pub async fn create<T: Collection>(
        &self,
        project: &str,
        input: &T::Input,
    ) -> Result<T, BackendError> {
        let request = Request::new(Method::Post, wire::path(&[T::PATH]));
        self.call(request.project(project).body(to_body(input)))
            .await
    }
    pub async fn update<T: Collection>(
        &self,
        project: &str,
        uid: &str,
        input: &T::Input,
    ) -> Result<T, BackendError> {
        let request = Request::new(Method::Put, wire::path(&[T::PATH, uid]));
        self.call(request.project(project).body(to_body(input)))
            .await
    }
    pub async fn delete<T: Collection>(
        &self,
        project: &str,
        uid: &str,
    ) -> Result<(), BackendError> {
        let request = Request::new(Method::Delete, wire::path(&[T::PATH, uid]));
        self.call_empty(request.project(project)).await
    }

    pub async fn get_experience(
        &self,
        project: &str,
        uid: &str,
    ) -> Result<wire::Experience, BackendError> {
        self.call(Request::get(wire::path(&["experiences", uid])).project(project))
            .await
    }

    pub async fn list_versions(
        &self,
        project: &str,
        experience: &str,
    ) -> Result<Vec<wire::Version>, BackendError> {
        let path = wire::path(&["experiences", experience, "versions"]);
        self.call(Request::get(path).project(project)).await
    }
    pub async fn create_version(
        &self,
        project: &str,
        experience: &str,
        input: &wire::VersionInput,
    ) -> Result<wire::Version, BackendError> {
        let path = wire::path(&["experiences", experience, "versions"]);
        self.call(
            Request::new(Method::Post, path)
                .project(project)
                .body(to_body(input)),
        )
        .await
    }
    pub async fn update_version(
        &self,
        project: &str,
        experience: &str,
        version: &str,
        input: &wire::VersionInput,
    ) -> Result<wire::Version, BackendError> {
        let path = wire::path(&["experiences", experience, "versions", version]);
        self.call(
            Request::new(Method::Put, path)
                .project(project)
                .body(to_body(input)),
        )
        .await
    }
    pub async fn delete_version(
        &self,
        project: &str,
        experience: &str,
        version: &str,
    ) -> Result<(), BackendError> {
        let path = wire::path(&["experiences", experience, "versions", version]);
        self.call_empty(Request::new(Method::Delete, path).project(project))
            .await
    }

    /// CMA `GET /v3/variant_groups` on stack `api_key`: one experience's groups
    /// (`experience_uid`), or one page of all the stack's (`skip`, with the total count).
    pub async fn list_variant_groups(
        &self,
        api_key: &str,
        experience_uid: Option<&str>,
        skip: usize,
    ) -> Result<wire::VariantGroups, BackendError> {
        let mut path = wire::path(&["v3", "variant_groups"]);
        match experience_uid {
            Some(uid) => {
                path.push_str("?experience_uid=");
                path.push_str(&wire::path(&[uid])[1..]);
            }
            None => path.push_str(&format!(
                "?include_count=true&limit={}&skip={skip}",
                wire::VARIANT_GROUPS_PAGE
            )),
        }
        self.call(Request::get(path).stack(api_key)).await
    }

    /// CMA `PUT /v3/variant_groups/{uid}` on stack `api_key`: link and unlink content types.
    pub async fn update_variant_group(
        &self,
        api_key: &str,
        uid: &str,
        input: &wire::VariantGroupInput,
    ) -> Result<Value, BackendError> {
        let path = wire::path(&["v3", "variant_groups", uid]);
        self.backend
            .send(
                Request::new(Method::Put, path)
                    .stack(api_key)
                    .body(to_body(input)),
            )
            .await
    }

    pub async fn get_priority(&self, project: &str) -> Result<wire::Priority, BackendError> {
        self.call(Request::get(wire::path(&["experiences-priority"])).project(project))
            .await
    }
    pub async fn put_priority(
        &self,
        project: &str,
        input: &wire::Priority,
    ) -> Result<wire::Priority, BackendError> {
        self.call(
            Request::new(Method::Put, wire::path(&["experiences-priority"]))
                .project(project)
                .body(to_body(input)),
        )
        .await
    }
}
