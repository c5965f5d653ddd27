//! Emulator tests over real sockets, with a tiny HTTP/1.1 client so that a dropped answer is
//! seen exactly as a client sees it (the connection closes with no response).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{EmulatorConfig, EmulatorHandle, EmulatorStats, UserEntry, start};

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Send one request; `Ok(None)` when the server closed the connection without answering.
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (key, value) in headers {
        text.push_str(&format!("{key}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).ok()?;
    let mut raw = Vec::new();
    if stream.read_to_end(&mut raw).is_err() || raw.is_empty() {
        return None;
    }
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_owned(),
    })
}

const OWNER: (&str, &str) = ("authtoken", "owner-token");
const JSON: (&str, &str) = ("content-type", "application/json");

fn emulator(config: EmulatorConfig) -> EmulatorHandle {
    let local: SocketAddr = ([127, 0, 0, 1], 0).into();
    start(config, local).unwrap_or_else(|e| panic!("cannot start the emulator: {e}"))
}

fn create_project(handle: &EmulatorHandle, name: &str) -> Option<Answer> {
    send(
        handle.addr(),
        "POST",
        "/projects",
        &[OWNER, JSON],
        Some(&json!({"name": name}).to_string()),
    )
}

#[test]
fn serves_the_api() {
    let handle = emulator(EmulatorConfig::with_default_users());
    assert!(handle.url().starts_with("http://127.0.0.1:"));
    let addr = handle.addr();
    let created = create_project(&handle, "p1").unwrap_or_else(|| panic!("no answer"));
    assert_eq!(created.status, 201);
    assert!(
        created
            .header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
    );
    let p = created.json()["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let scoped = [
        OWNER,
        JSON,
        ("x-project-uid", p.as_str()),
        ("organization_uid", "ignored"),
    ];
    let attribute = send(
        addr,
        "POST",
        "/attributes",
        &scoped,
        Some(r#"{"name":"Tier","key":"tier"}"#),
    )
    .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(attribute.status, 201);
    let a = attribute.json()["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let list = send(
        addr,
        "GET",
        "/attributes",
        &[
            ("Authorization", "Bearer admin-token"),
            ("X-Project-Uid", &p),
        ],
        None,
    )
    .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(list.status, 200);
    assert!(list.json().as_array().is_some_and(|items| items.len() == 9));
    let experience = send(
        addr,
        "POST",
        "/experiences",
        &scoped,
        Some(r#"{"name":"hero","__type":"SEGMENTED"}"#),
    )
    .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(experience.status, 201);
    assert_eq!(experience.json()["shortUid"], "1");
    let updated = send(
        addr,
        "PUT",
        &format!("/attributes/{a}"),
        &scoped,
        Some(r#"{"name":"Tier","key":"tier","description":"d"}"#),
    )
    .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(updated.status, 200);
    let deleted = send(addr, "DELETE", &format!("/attributes/{a}"), &scoped, None)
        .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, "");
    let user = send(addr, "GET", "/user", &[("authtoken", "member-token")], None)
        .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(
        user.json(),
        json!({"email": "member@example.com", "organizationRole": "member"})
    );
    let forbidden = send(
        addr,
        "GET",
        "/attributes",
        &[("authtoken", "member-token"), ("x-project-uid", &p)],
        None,
    )
    .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        forbidden.json(),
        json!({"statusCode": 403, "message": "Forbidden resource", "error": "Forbidden"})
    );
    let stats =
        send(addr, "GET", "/_emulator/stats", &[], None).unwrap_or_else(|| panic!("no answer"));
    assert_eq!(stats.json()["writes"], 5);
    assert_eq!(handle.stats().writes, 5);
    assert_eq!(handle.state()["projects"][0]["project"]["name"], "p1");
}

#[test]
fn rejects_bad_requests() {
    let handle = emulator(EmulatorConfig::with_default_users());
    let addr = handle.addr();
    let answer = send(addr, "GET", "/projects", &[], None).unwrap_or_else(|| panic!("no answer"));
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json()["error_message"],
        "You're not allowed in here unless you're logged in."
    );
    let answer = send(addr, "GET", "/projects", &[("authtoken", "wrong")], None)
        .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(answer.status, 401);
    let answer = send(addr, "POST", "/projects", &[OWNER], Some(r#"{"name":"p"}"#))
        .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(answer.status, 400);
    assert!(
        answer
            .body
            .contains("Content-Type must be application/json")
    );
    let answer = send(
        addr,
        "POST",
        "/projects",
        &[OWNER, JSON],
        Some(r#"{"name":"#),
    )
    .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(answer.status, 400);
    assert!(
        answer.json()["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Invalid JSON body"))
    );
    let answer = send(addr, "GET", "/projects", &[OWNER, JSON], Some(r#"{"a":1}"#))
        .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json()["message"],
        "GET requests must not carry a body"
    );
    let answer =
        send(addr, "GET", "/nope?x=1", &[OWNER], None).unwrap_or_else(|| panic!("no answer"));
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["message"], "Cannot GET /nope");
    let answer =
        send(addr, "PATCH", "/projects", &[OWNER], None).unwrap_or_else(|| panic!("no answer"));
    assert_eq!(answer.status, 404, "{}", answer.body);
    let answer =
        send(addr, "GET", "/attributes", &[OWNER], None).unwrap_or_else(|| panic!("no answer"));
    assert_eq!(answer.status, 400);
    assert!(answer.json()["errors"]["x-project-uid"].is_array());
    // Nothing above was a successful write.
    assert_eq!(handle.stats().writes, 0);
    assert_eq!(handle.stats().requests, 8);
}

#[test]
fn persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let data = dir.path().join("state.json");
    let mut config = EmulatorConfig::with_default_users();
    config.data = Some(data.clone());
    let first = emulator(config.clone());
    assert_eq!(create_project(&first, "kept").map(|a| a.status), Some(201));
    let state = first.state();
    drop(first);
    let text = std::fs::read_to_string(&data).unwrap_or_else(|e| panic!("{e}"));
    let saved: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(saved, state);
    let second = emulator(config);
    assert_eq!(second.state(), state);
    let list = send(second.addr(), "GET", "/projects", &[OWNER], None)
        .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(list.json()[0]["name"], "kept");
    // Counters continue: the next project gets a new uid.
    let next = create_project(&second, "next").unwrap_or_else(|| panic!("no answer"));
    assert_ne!(next.json()["uid"], list.json()[0]["uid"]);
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let mut config = EmulatorConfig::with_default_users();
    config.rate_limit = Some(1.0);
    let handle = emulator(config);
    let first = send(handle.addr(), "GET", "/projects", &[OWNER], None)
        .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(first.status, 200);
    let second = send(handle.addr(), "GET", "/projects", &[OWNER], None)
        .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(second.status, 429);
    assert_eq!(second.header("retry-after"), Some("1"));
    assert_eq!(
        second.json(),
        json!({"statusCode": 429, "message": "Too Many Requests"})
    );
    assert_eq!(handle.stats().rate_limited, 1);
}

#[test]
fn faults_happen_before_processing() {
    let mut config = EmulatorConfig::with_default_users();
    config.fault_rate = 1.0;
    let handle = emulator(config);
    let answer = create_project(&handle, "never").unwrap_or_else(|| panic!("no answer"));
    assert!((500..600).contains(&answer.status));
    assert_eq!(handle.state()["projects"], json!([]));
    assert_eq!(handle.stats().server_errors, 1);
}

#[test]
fn drops_commit_then_close_the_connection() {
    let mut config = EmulatorConfig::with_default_users();
    config.drop_rate = 1.0;
    let handle = emulator(config);
    assert!(create_project(&handle, "committed").is_none());
    assert_eq!(
        handle.state()["projects"][0]["project"]["name"],
        "committed"
    );
    assert_eq!(
        handle.stats(),
        EmulatorStats {
            requests: 1,
            drops: 1,
            writes: 1,
            ..EmulatorStats::default()
        }
    );
}

#[test]
fn faults_are_deterministic_per_seed() {
    let statuses = |seed| {
        let mut config = EmulatorConfig::with_default_users();
        config.fault_rate = 0.5;
        config.seed = seed;
        let handle = emulator(config);
        (0..20)
            .map(|_| {
                send(handle.addr(), "GET", "/projects", &[OWNER], None).map_or(0, |a| a.status)
            })
            .collect::<Vec<u16>>()
    };
    let first = statuses(7);
    assert_eq!(first, statuses(7));
    assert!(first.contains(&200));
    assert!(first.iter().any(|s| *s >= 500));
}

#[test]
fn latency_is_added() {
    let mut config = EmulatorConfig::with_default_users();
    config.latency_ms = 120;
    let handle = emulator(config);
    let started = Instant::now();
    let answer = send(handle.addr(), "GET", "/projects", &[OWNER], None)
        .unwrap_or_else(|| panic!("no answer"));
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(120));
}

#[test]
fn users_file_checks_and_token_privacy() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("users.yaml");
    let write = |text: &str| std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    write("users:\n  - {email: A@x.com, role: admin, token: secret-1}\n");
    let users = EmulatorConfig::load_users(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(users[0].email, "a@x.com");
    assert_eq!(users[0].role, crate::wire::OrgRole::Admin);
    let debug = format!("{users:?}");
    assert!(!debug.contains("secret-1"), "{debug}");
    write(
        "users:\n  - {email: a@x.com, role: admin, token: secret-1}\n  - {email: b@x.com, role: member, token: secret-1}\n",
    );
    let error = EmulatorConfig::load_users(&path).expect_err("the call should fail");
    assert!(error.contains("users[1].token"), "{error}");
    assert!(!error.contains("secret-1"), "{error}");
    write("users:\n  - {email: a@x.com, role: boss, token: t}\n");
    let error = EmulatorConfig::load_users(&path).expect_err("the call should fail");
    assert!(error.contains("users.yaml"), "{error}");
    let default = EmulatorConfig::with_default_users();
    let emails: Vec<&str> = default
        .users
        .iter()
        .map(|u: &UserEntry| u.email.as_str())
        .collect();
    assert_eq!(
        emails,
        [
            "owner@example.com",
            "admin@example.com",
            "member@example.com",
            "dev@example.com"
        ]
    );
    assert!(!format!("{default:?}").contains("owner-token"));
}

#[test]
fn emulator_does_not_import_the_planner() {
    let sources = [
        include_str!("mod.rs"),
        include_str!("server.rs"),
        include_str!("net.rs"),
    ];
    for source in sources {
        for module in ["plan", "apply", "manifest", "render"] {
            let forbidden = format!("crate::{module}");
            assert!(
                !source.contains(&forbidden),
                "the emulator imports {forbidden}"
            );
        }
    }
}
