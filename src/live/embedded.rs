//! The embedded local organization: the [`Store`] kept in `DIR/state.json` under an exclusive
//! file lock (`DIR/lock`), no server.
//!
//! Invariants: every call holds the lock from reading to saving, so two processes never lose
//! each other's writes; a successful write is saved atomically (temp file, fsync, rename, fsync
//! of the directory), so a kill at any moment loses at most the request in flight; stray
//! temporary files are never read. The parsed state is cached and reused while the file's
//! identity (inode, size, modification time) is unchanged.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{Backend, BackendError, Request};
use crate::store::{self, Limits, Store};
use crate::wire::{self, OrgRole};

/// The organization uid of a new local organization.
const ORGANIZATION: &str = "local";
/// The default user and first organization owner.
const DEFAULT_USER: &str = "owner@example.com";

/// The users of a new local organization: those of `examples/emulator-users.yaml`, so that
/// `PZCTL_LOCAL_USER` can act as an organization admin or member as against the emulator.
fn initial_users() -> Vec<wire::User> {
    [
        (DEFAULT_USER, OrgRole::Owner),
        ("admin@example.com", OrgRole::Admin),
        ("member@example.com", OrgRole::Member),
        ("dev@example.com", OrgRole::Member),
    ]
    .into_iter()
    .map(|(email, organization_role)| wire::User {
        email: email.to_owned(),
        organization_role,
    })
    .collect()
}

/// Identity of the state file as last read or written.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

struct Cache {
    /// Opened (and the directory created) at the first write, or at the first read of a
    /// directory that exists.
    lock: Option<File>,
    store: Option<Store>,
    stamp: Option<Stamp>,
}

struct Inner {
    dir: PathBuf,
    state: PathBuf,
    actor: String,
    cache: Mutex<Cache>,
}

/// The embedded local organization under a directory (normally `.pzctl/`).
#[derive(Clone)]
pub struct EmbeddedBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("dir", &self.inner.dir)
            .field("actor", &self.inner.actor)
            .finish()
    }
}

fn local(context: &str, path: &Path, error: impl std::fmt::Display) -> BackendError {
    BackendError::Local(format!("{context} {}: {error}", path.display()))
}

impl EmbeddedBackend {
    /// Open (creating if needed) the organization in `dir`. The acting user is
    /// `PZCTL_LOCAL_USER` (default `owner@example.com`), added as an organization owner if new.
    pub fn open(dir: &Path) -> Result<Self, BackendError> {
        let actor = std::env::var("PZCTL_LOCAL_USER")
            .ok()
            .map(|user| user.trim().to_lowercase())
            .filter(|user| !user.is_empty())
            .unwrap_or_else(|| DEFAULT_USER.to_owned());
        Self::open_as(dir, &actor)
    }

    /// [`EmbeddedBackend::open`] acting as `actor` (no environment lookup). Nothing is created
    /// until the first write: reading an organization that does not exist yet reads a new one
    /// in memory, and leaves no directory, lock or state file behind.
    pub fn open_as(dir: &Path, actor: &str) -> Result<Self, BackendError> {
        let backend = EmbeddedBackend {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                state: dir.join("state.json"),
                actor: actor.trim().to_lowercase(),
                cache: Mutex::new(Cache {
                    lock: None,
                    store: None,
                    stamp: None,
                }),
            }),
        };
        // Read the state once, so a state file this pzctl cannot read is refused here.
        backend.inner.with_store(false, |_| ((), false))?;
        Ok(backend)
    }

    /// The directory of the organization.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Carry out a request synchronously (what [`Backend::send`] runs on a blocking thread).
    pub fn send_blocking(&self, request: &Request) -> Result<Value, BackendError> {
        let actor = self.inner.actor.clone();
        let answer = self.inner.with_store(store::is_write(request), |store| {
            let result = store.dispatch(&actor, request);
            let changed = result.is_ok() && store::is_write(request);
            (result, changed)
        })?;
        answer.map_err(|error| BackendError::Api {
            method: request.method.as_str(),
            path: request.path.clone(),
            error,
        })
    }
}

impl Inner {
    /// Lock, refresh the cached store, run `f`, save when it reports a change, unlock. Without
    /// `write`, an organization whose directory does not exist is read in memory, unlocked:
    /// there is nothing to race with and nothing is created.
    fn with_store<T>(
        &self,
        write: bool,
        f: impl FnOnce(&mut Store) -> (T, bool),
    ) -> Result<T, BackendError> {
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| BackendError::Local("the local organization cache is poisoned".into()))?;
        if cache.lock.is_none() && (write || self.dir.is_dir()) {
            std::fs::create_dir_all(&self.dir).map_err(|e| local("cannot create", &self.dir, e))?;
            let lock_path = self.dir.join("lock");
            let lock = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| local("cannot open", &lock_path, e))?;
            cache.lock = Some(lock);
        }
        let locked = match &cache.lock {
            Some(lock) => {
                lock.lock()
                    .map_err(|e| local("cannot lock", &self.dir.join("lock"), e))?;
                true
            }
            None => false,
        };
        let result = self.locked(&mut cache, locked, f);
        // Unlock even when the work failed; closing the file would unlock too.
        if let Some(lock) = &cache.lock {
            let _ = lock.unlock();
        }
        result
    }

    fn locked<T>(
        &self,
        cache: &mut Cache,
        locked: bool,
        f: impl FnOnce(&mut Store) -> (T, bool),
    ) -> Result<T, BackendError> {
        let stamp = match Stamp::of(&self.state) {
            Ok(stamp) => Some(stamp),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(local("cannot read", &self.state, error)),
        };
        let fresh = cache.store.is_some() && stamp.is_some() && cache.stamp == stamp;
        if !fresh {
            cache.store = None;
            let store = match &stamp {
                Some(_) => {
                    let text = std::fs::read(&self.state)
                        .map_err(|e| local("cannot read", &self.state, e))?;
                    let value: Value = serde_json::from_slice(&text)
                        .map_err(|e| local("corrupt state file", &self.state, e))?;
                    Store::from_json(value).map_err(|e| local("cannot read", &self.state, e))?
                }
                None => Store::new(ORGANIZATION, initial_users(), Limits::default()),
            };
            cache.store = Some(store);
            cache.stamp = stamp.clone();
        }
        let Some(store) = cache.store.as_mut() else {
            return Err(BackendError::Local(
                "the local organization is not loaded".into(),
            ));
        };
        // The acting user is an organization owner if new (saved with the next write).
        let added = store.ensure_user(wire::User {
            email: self.actor.clone(),
            organization_role: OrgRole::Owner,
        });
        let (answer, changed) = f(store);
        if locked && (changed || (added && stamp.is_some())) {
            let bytes = serde_json::to_vec_pretty(&store.to_json())
                .map_err(|e| local("cannot serialize", &self.state, e))?;
            if let Err(error) = store::write_atomically(&self.state, &bytes) {
                // The in-memory copy is ahead of the file: forget it.
                cache.store = None;
                cache.stamp = None;
                return Err(local("cannot write", &self.state, error));
            }
            cache.stamp = Stamp::of(&self.state).ok();
        }
        Ok(answer)
    }
}

impl Backend for EmbeddedBackend {
    async fn send(&self, request: Request) -> Result<Value, BackendError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.send_blocking(&request))
            .await
            .map_err(|error| {
                BackendError::Local(format!("local organization task failed: {error}"))
            })?
    }

    fn supports_members(&self) -> bool {
        true
    }

    fn supports_cma(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("local organization at {}", self.inner.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Method;
    use serde_json::json;

    /// A test's `unwrap`, with the error's message.
    trait OrPanic<T> {
        fn or_panic(self) -> T;
    }

    impl<T, E: std::fmt::Display> OrPanic<T> for Result<T, E> {
        #[track_caller]
        fn or_panic(self) -> T {
            match self {
                Ok(value) => value,
                Err(error) => panic!("{error}"),
            }
        }
    }

    fn create_project(backend: &EmbeddedBackend, name: &str) -> Result<Value, BackendError> {
        backend.send_blocking(&Request::new(Method::Post, "/projects").body(json!({"name": name})))
    }

    #[test]
    fn reading_a_new_organization_creates_nothing_until_a_write() {
        let dir = tempfile::tempdir().or_panic();
        let path = dir.path().join("org");
        let backend = EmbeddedBackend::open_as(&path, "new@example.com").or_panic();
        let user = backend.send_blocking(&Request::get("/user")).or_panic();
        assert_eq!(
            user,
            json!({"email": "new@example.com", "organizationRole": "owner"})
        );
        let projects = backend.send_blocking(&Request::get("/projects")).or_panic();
        assert_eq!(projects, json!([]));
        assert!(!path.exists(), "no directory, lock or state file");
        create_project(&backend, "p1").or_panic();
        assert!(path.join("state.json").is_file() && path.join("lock").is_file());
        let state: Value =
            serde_json::from_str(&std::fs::read_to_string(path.join("state.json")).or_panic())
                .or_panic();
        let users = state["users"].as_array().map(Vec::len).unwrap_or_default();
        assert_eq!(users, initial_users().len() + 1, "the acting user is saved");
    }

    #[test]
    fn creates_and_reopens() {
        let dir = tempfile::tempdir().or_panic();
        let path = dir.path().join("org");
        let backend = EmbeddedBackend::open_as(&path, "owner@example.com").or_panic();
        assert_eq!(
            backend.describe(),
            format!("local organization at {}", path.display())
        );
        assert!(backend.supports_members());
        let project = create_project(&backend, "p1").or_panic();
        // A torn temp file left behind is ignored.
        std::fs::write(path.join(".state-garbage.tmp"), b"{\"torn").or_panic();
        let again = EmbeddedBackend::open_as(&path, "new@example.com").or_panic();
        let user = again.send_blocking(&Request::get("/user")).or_panic();
        assert_eq!(
            user,
            json!({"email": "new@example.com", "organizationRole": "owner"})
        );
        let list = again.send_blocking(&Request::get("/projects")).or_panic();
        assert_eq!(list[0]["uid"], project["uid"]);
        // Errors come back as API errors with the path.
        let error = create_project(&again, "p1").expect_err("the call should fail");
        assert_eq!(error.status(), Some(400));
        // The first handle sees the second's writes (cache invalidated by the file change).
        create_project(&again, "p2").or_panic();
        let list = backend.send_blocking(&Request::get("/projects")).or_panic();
        assert_eq!(list.as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().or_panic();
        let path = dir.path().to_path_buf();
        let setup = EmbeddedBackend::open_as(&path, "owner@example.com").or_panic();
        let project = create_project(&setup, "p").or_panic();
        let uid = project["uid"].as_str().unwrap_or_default().to_owned();
        // Separate handles behave like separate processes: each has its own cache and lock fd.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                let uid = uid.clone();
                std::thread::spawn(move || {
                    let backend = EmbeddedBackend::open_as(&path, "owner@example.com").or_panic();
                    for i in 0..25 {
                        backend
                            .send_blocking(
                                &Request::new(Method::Post, "/events")
                                    .project(&uid)
                                    .body(json!({"key": format!("e{t}-{i}")})),
                            )
                            .or_panic();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread
                .join()
                .unwrap_or_else(|_| panic!("writer thread panicked"));
        }
        let text = std::fs::read_to_string(path.join("state.json")).or_panic();
        let state: Value = serde_json::from_str(&text).or_panic();
        assert!(Store::from_json(state).is_ok());
        let events = setup
            .send_blocking(&Request::get("/events").project(&uid))
            .or_panic();
        assert_eq!(events.as_array().map(Vec::len), Some(100));
    }

    /// Writer half of `concurrent_processes_lose_nothing` (runs only in a child process).
    #[test]
    #[ignore = "run by concurrent_processes_lose_nothing in a child process"]
    fn child_writer() {
        let (Ok(dir), Ok(project), Ok(tag)) = (
            std::env::var("PZCTL_TEST_CHILD_DIR"),
            std::env::var("PZCTL_TEST_CHILD_PROJECT"),
            std::env::var("PZCTL_TEST_CHILD_TAG"),
        ) else {
            return;
        };
        let backend = EmbeddedBackend::open_as(Path::new(&dir), "owner@example.com").or_panic();
        for i in 0..20 {
            backend
                .send_blocking(
                    &Request::new(Method::Post, "/events")
                        .project(&project)
                        .body(json!({"key": format!("{tag}-{i}")})),
                )
                .or_panic();
        }
    }

    #[test]
    fn concurrent_processes_lose_nothing() {
        let dir = tempfile::tempdir().or_panic();
        let setup = EmbeddedBackend::open_as(dir.path(), "owner@example.com").or_panic();
        let project = create_project(&setup, "p").or_panic();
        let uid = project["uid"].as_str().unwrap_or_default().to_owned();
        let exe = std::env::current_exe().or_panic();
        let children: Vec<_> = (0..3)
            .map(|n| {
                std::process::Command::new(&exe)
                    .args([
                        "--exact",
                        "live::embedded::tests::child_writer",
                        "--ignored",
                        "--quiet",
                    ])
                    .env("PZCTL_TEST_CHILD_DIR", dir.path())
                    .env("PZCTL_TEST_CHILD_PROJECT", &uid)
                    .env("PZCTL_TEST_CHILD_TAG", format!("c{n}"))
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .or_panic()
            })
            .collect();
        for i in 0..20 {
            setup
                .send_blocking(
                    &Request::new(Method::Post, "/events")
                        .project(&uid)
                        .body(json!({"key": format!("parent-{i}")})),
                )
                .or_panic();
        }
        for mut child in children {
            let status = child.wait().or_panic();
            assert!(status.success(), "a writer process failed");
        }
        let events = setup
            .send_blocking(&Request::get("/events").project(&uid))
            .or_panic();
        assert_eq!(events.as_array().map(Vec::len), Some(80));
    }

    #[test]
    fn initial_users_match_the_emulator_example() {
        let example: Vec<wire::User> = crate::emulator::EmulatorConfig::with_default_users()
            .users
            .iter()
            .map(|user| wire::User {
                email: user.email.clone(),
                organization_role: user.role,
            })
            .collect();
        assert_eq!(initial_users(), example);
    }

    #[test]
    fn acts_as_a_seeded_member() {
        let dir = tempfile::tempdir().or_panic();
        let member = EmbeddedBackend::open_as(dir.path(), "member@example.com").or_panic();
        let me = member.send_blocking(&Request::get("/user")).or_panic();
        assert_eq!(me["organizationRole"], "member");
        let error = create_project(&member, "p").expect_err("members cannot create projects");
        assert_eq!(error.status(), Some(403));
    }

    /// Every typed call of `Api` decodes what the store answers.
    #[tokio::test]
    async fn typed_api_round_trip() {
        let dir = tempfile::tempdir().or_panic();
        let backend = EmbeddedBackend::open_as(dir.path(), "owner@example.com").or_panic();
        let api = super::super::Api::new(backend);
        let me = api.current_user().await.or_panic();
        assert_eq!(me.map(|u| u.organization_role), Some(OrgRole::Owner));
        let input = wire::ProjectInput {
            name: "p".into(),
            description: "d".into(),
            connected_stack_api_key: Some("blt1".into()),
        };
        let project = api.create_project(&input).await.or_panic();
        let p = project.uid.as_str();
        let input = wire::ProjectInput {
            connected_stack_api_key: None,
            ..input
        };
        let updated = api.update_project(p, &input).await.or_panic();
        assert_eq!(updated.connected_stack_api_key, None);
        assert_eq!(api.list_projects().await.or_panic().len(), 1);
        let member = wire::MemberInput {
            email: "dev@example.com".into(),
            role: wire::ProjectRole::Member,
            invitation_message: Some("hi".into()),
        };
        let invited = api.invite_member(p, &member).await.or_panic();
        assert_eq!(invited.status, wire::MemberStatus::Pending);
        let changed = api
            .update_member(p, "dev@example.com", wire::ProjectRole::Owner)
            .await
            .or_panic();
        assert_eq!(changed.role, wire::ProjectRole::Owner);
        assert_eq!(api.list_members(p).await.or_panic().len(), 2);
        api.remove_member(p, "dev@example.com").await.or_panic();
        let attribute = api
            .create::<wire::Attribute>(
                p,
                &wire::AttributeInput {
                    name: "Tier".into(),
                    key: "tier".into(),
                    description: String::new(),
                },
            )
            .await
            .or_panic();
        let event = api
            .create::<wire::Event>(
                p,
                &wire::EventInput {
                    key: "buy".into(),
                    description: String::new(),
                },
            )
            .await
            .or_panic();
        let definition = wire::AudienceDefinition {
            kind: "RuleCombination".into(),
            root: wire::RuleCombination {
                combination_type: wire::Combination::And,
                rules: vec![wire::RuleNode::Rule(wire::Rule {
                    attribute: wire::AttributeReference::Custom {
                        reference: attribute.uid.clone(),
                    },
                    attribute_match_condition: "STRING_EQUALS".into(),
                    attribute_match_options: Some(wire::MatchOptions {
                        kind: "StringMatchOptions".into(),
                        value: json!("gold"),
                    }),
                    invert_condition: false,
                })],
            },
        };
        let audience_input = wire::AudienceInput {
            name: "gold".into(),
            description: String::new(),
            definition,
        };
        let audience = api
            .create::<wire::Audience>(p, &audience_input)
            .await
            .or_panic();
        assert_eq!(
            audience.definition.as_ref(),
            Some(&audience_input.definition)
        );
        let experience = api
            .create::<wire::Experience>(
                p,
                &wire::ExperienceInput {
                    name: "test".into(),
                    description: String::new(),
                    kind: wire::ExperienceType::AbTest,
                    tags: vec!["B".into(), "a".into()],
                },
            )
            .await
            .or_panic();
        assert_eq!(experience.tags, ["b", "a"]);
        let version = wire::VersionInput {
            status: wire::VersionStatus::Active,
            variants: ["A", "B"]
                .into_iter()
                .map(|name| wire::Variant::AbTest {
                    name: name.into(),
                    short_uid: None,
                    traffic_distribution: json!(50),
                    extra: wire::Extra::new(),
                })
                .collect(),
            metrics: vec![wire::Metric {
                kind: "Primary".into(),
                event: event.uid.clone(),
                name: "Buy".into(),
                extra: wire::Extra::new(),
            }],
            targeting: Some(wire::Targeting {
                audience: Some(wire::TargetingAudience {
                    audiences: vec![audience.uid.clone()],
                    audience_combination_type: wire::Combination::And,
                    extra: wire::Extra::new(),
                }),
                extra: wire::Extra::new(),
            }),
            extra: wire::Extra::new(),
        };
        let active = api
            .update_version(p, &experience.uid, &experience.latest_version, &version)
            .await
            .or_panic();
        assert_eq!(active.status, wire::VersionStatus::Active);
        let again = api.get_experience(p, &experience.uid).await.or_panic();
        assert_eq!(again.status, "ACTIVE");
        assert_eq!(
            again.referred_audiences,
            std::slice::from_ref(&audience.uid)
        );
        let draft = wire::VersionInput {
            status: wire::VersionStatus::Draft,
            ..version
        };
        let new_draft = api
            .create_version(p, &experience.uid, &draft)
            .await
            .or_panic();
        let versions = api.list_versions(p, &experience.uid).await.or_panic();
        assert_eq!(versions.len(), 2);
        api.delete_version(p, &experience.uid, &new_draft.uid)
            .await
            .or_panic();
        let priority = api.get_priority(p).await.or_panic();
        assert_eq!(
            priority.priority_order,
            std::slice::from_ref(&experience.uid)
        );
        api.put_priority(p, &priority).await.or_panic();
        assert_eq!(api.list::<wire::Experience>(p).await.or_panic().len(), 1);
        assert_eq!(api.list::<wire::Event>(p).await.or_panic().len(), 1);
        assert_eq!(api.list::<wire::Audience>(p).await.or_panic().len(), 1);
        api.delete::<wire::Experience>(p, &experience.uid)
            .await
            .or_panic();
        api.delete::<wire::Audience>(p, &audience.uid)
            .await
            .or_panic();
        api.delete::<wire::Event>(p, &event.uid).await.or_panic();
        let renamed = wire::AttributeInput {
            name: "Tier 2".into(),
            key: "tier".into(),
            description: "d".into(),
        };
        api.update::<wire::Attribute>(p, &attribute.uid, &renamed)
            .await
            .or_panic();
        api.delete::<wire::Attribute>(p, &attribute.uid)
            .await
            .or_panic();
        api.delete_project(p).await.or_panic();
        assert!(api.list_projects().await.or_panic().is_empty());
    }

    #[tokio::test]
    async fn async_send_works() {
        let dir = tempfile::tempdir().or_panic();
        let backend = EmbeddedBackend::open_as(dir.path(), "owner@example.com").or_panic();
        let api = super::super::Api::new(backend);
        let project = api
            .create_project(&wire::ProjectInput {
                name: "p".into(),
                ..Default::default()
            })
            .await
            .or_panic();
        let attributes = api.list::<wire::Attribute>(&project.uid).await.or_panic();
        assert_eq!(attributes.len(), wire::PRESET_ATTRIBUTES.len());
        let members = api.list_members(&project.uid).await.or_panic();
        assert_eq!(members[0].email, "owner@example.com");
    }
}
