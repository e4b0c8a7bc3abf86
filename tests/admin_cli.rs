//! The operator's commands, run as the real binary against a temporary
//! SQLite database: `config check` redacts every secret, each `admin`
//! command works and is audited as `cli:<command line>`, and no password is
//! ever taken from the command line. The trail is then read back through
//! `GET /v1/admin/audit` of a service started on the same database.
#![cfg(feature = "sqlite")]

use portcullis::app::config::Settings;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const JWT_KEY: &str = "cli-test-signing-key-0123456789-abcdefghij";
const ROOT_PASSWORD: &str = "Vault-door-Orchid-71-sunrise";
const BOB_PASSWORD: &str = "correct-Horse-battery-staple-42";
const NEW_PASSWORD: &str = "another-Long-unusual-phrase-77";

fn vars(dir: &Path) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".into(), format!("sqlite://{}/cli.db", dir.display())),
        ("PORTCULLIS_JWT_KEYS".into(), JWT_KEY.into()),
        ("PORTCULLIS_BCRYPT_COST".into(), "4".into()),
    ]
}

/// Runs the binary in `dir` with `args`, only `vars` in its environment,
/// and `stdin` written to its standard input.
fn run(dir: &Path, args: &[&str], extra: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.env_clear().current_dir(dir).args(args);
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (name, value) in vars(dir) {
        command.env(name, value);
    }
    for (name, value) in extra {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the binary runs");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin is written");
    child.wait_with_output().expect("the binary ends")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn config_check_prints_the_configuration_without_a_secret_or_exits_78() {
    let dir = tempfile::tempdir().unwrap();
    let admin = [("PORTCULLIS_ADMIN_EMAIL", "root@example.com"), ("PORTCULLIS_ADMIN_PASSWORD", ROOT_PASSWORD)];
    let output = run(dir.path(), &["config", "check"], &admin, "");
    let printed = text(&output);
    assert_eq!(output.status.code(), Some(0), "{printed}");
    assert!(printed.contains("root@example.com") && printed.contains("bcrypt_cost: 4"), "{printed}");
    for secret in [JWT_KEY, ROOT_PASSWORD] {
        assert!(!printed.contains(secret), "{secret} leaked: {printed}");
    }
    let output = run(dir.path(), &["config", "check"], &[("PORTCULLIS_BCRYPT_COST", "99")], "");
    assert_eq!(output.status.code(), Some(78), "{}", text(&output));
    assert!(text(&output).contains("PORTCULLIS_BCRYPT_COST"), "{}", text(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_admin_command_works_and_is_audited_as_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let password_file = path.join("root-password");
    std::fs::write(&password_file, format!("{ROOT_PASSWORD}\n")).unwrap();
    let file = password_file.to_str().unwrap();

    let created = run(path, &["admin", "create", "root@example.com", "--password-file", file], &[], "");
    assert_eq!(created.status.code(), Some(0), "{}", text(&created));
    assert!(text(&created).contains("created admin root@example.com"), "{}", text(&created));
    let bob = run(path, &["admin", "create", "bob@example.com", "--role", "user"], &[], &format!("{BOB_PASSWORD}\n"));
    assert_eq!(bob.status.code(), Some(0), "{}", text(&bob));
    let on_argv = run(path, &["admin", "create", "eve@example.com", BOB_PASSWORD], &[], "");
    assert_eq!(on_argv.status.code(), Some(2), "a password on the command line is refused unread");
    let empty = run(path, &["admin", "reset-password", "bob@example.com"], &[], "");
    assert_eq!(empty.status.code(), Some(1), "{}", text(&empty));

    for args in [
        &["admin", "set-role", "bob@example.com", "admin"][..],
        &["admin", "reset-password", "bob@example.com"][..],
        &["admin", "disable", "bob@example.com"][..],
    ] {
        let output = run(path, args, &[], &format!("{NEW_PASSWORD}\n"));
        assert_eq!(output.status.code(), Some(0), "{args:?}: {}", text(&output));
        assert!(!text(&output).contains(NEW_PASSWORD), "{}", text(&output));
    }
    let unknown = run(path, &["admin", "disable", "nobody@example.com"], &[], "");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown).contains("no account has the address"), "{}", text(&unknown));
    // Without Redis the lockouts live in the service's memory: refused, not faked.
    let unlock = run(path, &["admin", "unlock", "bob@example.com"], &[], "");
    assert_eq!(unlock.status.code(), Some(1));
    assert!(text(&unlock).contains("REDIS_URL is not set"), "{}", text(&unlock));

    let events = trail_of(path).await;
    let by_cli: Vec<(&str, &str)> = events
        .iter()
        .filter(|event| event["actor"].as_str().is_some_and(|actor| actor.starts_with("cli:portcullis admin ")))
        .map(|event| (event["type"].as_str().unwrap(), event["actor"].as_str().unwrap()))
        .collect();
    let root_created = |(kind, actor): &(&str, &str)| {
        *kind == "admin_user_created"
            && actor.starts_with("cli:portcullis admin create root@example.com --password-file ")
    };
    assert!(by_cli.iter().any(root_created), "{by_cli:?}");
    for (kind, command) in [
        ("admin_user_created", "admin create bob@example.com --role user"),
        ("admin_role_changed", "admin set-role bob@example.com admin"),
        ("admin_password_reset", "admin reset-password bob@example.com"),
        ("admin_user_disabled", "admin disable bob@example.com"),
    ] {
        let actor = format!("cli:portcullis {command}");
        assert!(by_cli.contains(&(kind, actor.as_str())), "{kind} by {actor} in {by_cli:?}");
    }
    let everything = serde_json::to_string(&events).unwrap();
    for secret in [ROOT_PASSWORD, BOB_PASSWORD, NEW_PASSWORD, JWT_KEY] {
        assert!(!everything.contains(secret), "{secret} is in the trail");
    }
}

/// Starts the service on the database the commands wrote, signs in as
/// root and reads the whole trail, page by page.
async fn trail_of(dir: &Path) -> Vec<Value> {
    let mut vars: HashMap<String, String> = vars(dir).into_iter().collect();
    vars.insert("PORTCULLIS_BIND".into(), "127.0.0.1:0".into());
    let settings = Settings::load(None, &vars).unwrap();
    let running = portcullis::app::start(&settings).await.unwrap();
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"email": "root@example.com", "password": ROOT_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().expect("root signs in").to_owned();
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = client.get(format!("{base}/v1/admin/audit")).bearer_auth(&token).query(&[("limit", "2")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page: Value = request.send().await.unwrap().json().await.unwrap();
        events.extend(page["items"].as_array().expect("a page").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let bad = client.get(format!("{base}/v1/admin/audit?type=nonsense")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(bad.status(), 422);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    running.stop().await.unwrap();
    events
}
