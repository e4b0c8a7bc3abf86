//! The real binary at start: configuration errors exit 78 with a message
//! naming the variable, `.env` is read before logging starts, and the
//! start-up line names its adapters in clear text. Each run fails fast on
//! purpose (a refused setting, or an address already taken), so no test
//! has to stop a server.

#[cfg(feature = "sqlite")]
use serde_json::Value;
#[cfg(feature = "sqlite")]
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

/// A database URL this build can parse; only the tests that start the
/// service need one it can also open.
fn database_url(dir: &Path) -> String {
    if cfg!(feature = "sqlite") {
        format!("sqlite://{}", dir.join("startup.db").display())
    } else {
        "postgres://portcullis@127.0.0.1:1/portcullis".to_owned()
    }
}

/// Runs the binary in `dir` with only `vars` in its environment (the
/// working directory keeps any developer `.env` out of reach).
fn run(dir: &Path, vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.env_clear().current_dir(dir);
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("the binary runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn a_misspelt_variable_exits_78_suggesting_the_right_name() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_url(dir.path());
    let output = run(dir.path(), &[("DATABASE_URL", &database), ("PORTCULLIS_BCRYPT_COSTT", "5")]);
    let printed = text(&output);
    assert_eq!(output.status.code(), Some(78), "{printed}");
    assert!(printed.contains("PORTCULLIS_BCRYPT_COSTT"), "{printed}");
    assert!(printed.contains("did you mean PORTCULLIS_BCRYPT_COST?"), "{printed}");
}

#[test]
fn an_old_alias_exits_78_naming_the_real_variable() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_url(dir.path());
    let output = run(dir.path(), &[("PORTCULLIS_DATABASE_URL", &database)]);
    let printed = text(&output);
    assert_eq!(output.status.code(), Some(78), "{printed}");
    assert!(printed.contains("did you mean DATABASE_URL?"), "{printed}");
}

#[test]
fn a_bad_or_misspelt_registration_setting_exits_78_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_url(dir.path());
    for (name, value) in [("PORTCULLIS_REGISTRATION", "invite-only"), ("PORTCULLIS_REGISTRATON", "closed")] {
        let output = run(dir.path(), &[("DATABASE_URL", &database), (name, value)]);
        let printed = text(&output);
        assert_eq!(output.status.code(), Some(78), "{name}={value}: {printed}");
        assert!(printed.contains("PORTCULLIS_REGISTRATION"), "{printed}");
    }
}

#[test]
fn a_bad_redis_key_prefix_exits_78_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_url(dir.path());
    for prefix in ["caf\u{e9}", "tab\there", "with space"] {
        let output = run(dir.path(), &[("DATABASE_URL", &database), ("PORTCULLIS_REDIS__KEY_PREFIX", prefix)]);
        let printed = text(&output);
        assert_eq!(output.status.code(), Some(78), "{prefix:?}: {printed}");
        assert!(printed.contains("PORTCULLIS_REDIS__KEY_PREFIX"), "{printed}");
        assert!(!printed.contains("panicked"), "{printed}");
        if !cfg!(feature = "redis") {
            assert!(printed.contains("`redis` feature"), "{printed}");
        }
    }
}

/// Starts the service on an address already taken, so that it composes
/// every adapter, logs its start-up line and exits.
#[cfg(feature = "sqlite")]
fn start_on_a_taken_port(dir: &Path, extra: &[(&str, &str)]) -> (Output, Vec<Value>) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let database = database_url(dir);
    let mut vars = vec![("DATABASE_URL", database.as_str()), ("PORTCULLIS_BIND", bind.as_str())];
    vars.extend_from_slice(extra);
    let output = run(dir, &vars);
    let lines =
        String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    (output, lines)
}

#[cfg(feature = "sqlite")]
fn has_message(lines: &[Value], message: &str) -> bool {
    lines.iter().any(|line| line["message"] == message)
}

#[cfg(feature = "sqlite")]
#[test]
fn the_start_up_line_names_each_adapter_in_clear_text_and_test_tooling_is_no_error() {
    let dir = tempfile::tempdir().unwrap();
    // CI sets these around every process it starts, the binary included.
    let tooling =
        [("PORTCULLIS_REQUIRE_SERVICES", "1"), ("PORTCULLIS_TEST_STORE", "postgres"), ("PORTCULLIS_URL", "x")];
    let (output, lines) = start_on_a_taken_port(dir.path(), &tooling);
    assert_eq!(output.status.code(), Some(1), "the taken port stops the start: {}", text(&output));
    let starting = lines.iter().find(|line| line["message"] == "starting portcullis").expect("a start-up line");
    for (field, adapter) in
        [("database", "sqlite"), ("rate_limiter", "memory"), ("secrets", "env"), ("password_hasher", "bcrypt")]
    {
        assert_eq!(starting[field], adapter, "{field} in {starting}");
    }
    assert!(!starting.to_string().contains("REDACTED"), "{starting}");
}

#[cfg(feature = "sqlite")]
#[test]
fn rust_log_in_dot_env_is_honoured_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "RUST_LOG=warn\n").unwrap();

    let (output, lines) = start_on_a_taken_port(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(has_message(&lines, "start failed"), "errors still pass a warn filter: {}", text(&output));
    assert!(!has_message(&lines, "starting portcullis"), ".env's RUST_LOG=warn hides info: {}", text(&output));

    let (output, lines) = start_on_a_taken_port(dir.path(), &[("RUST_LOG", "info")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(has_message(&lines, "starting portcullis"), "the environment overrides .env: {}", text(&output));

    let (output, lines) = start_on_a_taken_port(dir.path(), &[("RUST_LOG", "[[[")]);
    assert!(has_message(&lines, "RUST_LOG does not parse; logging at info"), "{}", text(&output));
    assert!(has_message(&lines, "starting portcullis"), "a bad filter falls back to info: {}", text(&output));
}

#[cfg(feature = "sqlite")]
#[test]
fn listening_is_logged_once_with_both_addresses() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let database = database_url(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .env_clear()
        .current_dir(dir.path())
        .env("DATABASE_URL", &database)
        .env("PORTCULLIS_BIND", "127.0.0.1:0")
        .env("PORTCULLIS_METRICS_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while let Ok(line) = receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        let done = parsed["message"] == "listening";
        seen.push(parsed);
        if done {
            break;
        }
    }
    // Anything a second listener would announce arrives within moments.
    std::thread::sleep(Duration::from_millis(300));
    seen.extend(receiver.try_iter().map(|line| serde_json::from_str(&line).unwrap_or(Value::Null)));
    child.kill().expect("the server stops");
    child.wait().unwrap();

    let listening: Vec<&Value> = seen.iter().filter(|line| line["message"] == "listening").collect();
    assert_eq!(listening.len(), 1, "one listening line: {seen:?}");
    for field in ["addr", "metrics_addr"] {
        let address = listening[0][field].as_str().unwrap_or_else(|| panic!("{field} in {}", listening[0]));
        assert!(address.parse::<std::net::SocketAddr>().is_ok(), "{field} is an address: {address}");
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn the_file_source_is_named_at_start_and_an_unreadable_ring_file_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("ring");
    std::fs::write(&ring, "startup-file-key-0123456789abcdefghijklmn\n").unwrap();
    let ring_path = ring.display().to_string();
    let file = [("PORTCULLIS_SECRETS", "file"), ("PORTCULLIS_JWT_KEYS_FILE", ring_path.as_str())];
    let (output, lines) = start_on_a_taken_port(dir.path(), &file);
    let starting = lines.iter().find(|line| line["message"] == "starting portcullis").expect("a start-up line");
    assert_eq!(starting["secrets"], "file", "{}", text(&output));
    assert!(!text(&output).contains("startup-file-key"), "{}", text(&output));

    std::fs::remove_file(&ring).unwrap();
    let (output, _) = start_on_a_taken_port(dir.path(), &file);
    let printed = text(&output);
    assert_eq!(output.status.code(), Some(1), "{printed}");
    assert!(printed.contains(&ring_path) && printed.contains("no such file"), "{printed}");
}

#[test]
fn a_secret_and_its_file_together_exit_78_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_url(dir.path());
    let secret = dir.path().join("admin-password");
    std::fs::write(&secret, "file-held-password-123\n").unwrap();
    let secret = secret.display().to_string();
    let output = run(
        dir.path(),
        &[
            ("DATABASE_URL", &database),
            ("PORTCULLIS_ADMIN_PASSWORD", "inline-password-456"),
            ("PORTCULLIS_ADMIN_PASSWORD_FILE", &secret),
        ],
    );
    let printed = text(&output);
    assert_eq!(output.status.code(), Some(78), "{printed}");
    assert!(printed.contains("PORTCULLIS_ADMIN_PASSWORD_FILE") && printed.contains("PORTCULLIS_ADMIN_PASSWORD;"));
    assert!(!printed.contains("file-held-password") && !printed.contains("inline-password"), "{printed}");
}

#[cfg(not(feature = "vault"))]
#[test]
fn vault_in_a_build_without_the_feature_exits_78_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_url(dir.path());
    let output = run(dir.path(), &[("DATABASE_URL", &database), ("PORTCULLIS_SECRETS", "vault")]);
    let printed = text(&output);
    assert_eq!(output.status.code(), Some(78), "{printed}");
    assert!(printed.contains("PORTCULLIS_SECRETS") && printed.contains("`vault` feature"), "{printed}");
}

/// The real binary reads its ring from the in-test Vault server.
#[cfg(all(feature = "sqlite", feature = "vault"))]
#[test]
fn the_vault_source_signs_in_with_approle_at_start_and_is_named() {
    use portcullis::adapters::vault::fake::FakeVault;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let fake = runtime.block_on(FakeVault::start());
    let key = "startup-vault-key-0123456789abcdefghijklmn";
    fake.put("secret", "portcullis", serde_json::json!({"keys": [{"alg": "HS256", "state": "active", "key": key}]}));
    fake.add_approle("approle", "startup-role", "startup-secret-id-9d2f");
    let dir = tempfile::tempdir().unwrap();
    let address = fake.address();
    let vault = [
        ("PORTCULLIS_SECRETS", "vault"),
        ("PORTCULLIS_VAULT_PATH", "secret/portcullis"),
        ("VAULT_ADDR", address.as_str()),
        ("VAULT_ROLE_ID", "startup-role"),
        ("VAULT_SECRET_ID", "startup-secret-id-9d2f"),
    ];
    let (output, lines) = start_on_a_taken_port(dir.path(), &vault);
    let printed = text(&output);
    let starting = lines
        .iter()
        .find(|line| line["message"] == "starting portcullis")
        .unwrap_or_else(|| panic!("a start-up line, in: {printed}"));
    assert_eq!(starting["secrets"], "vault", "{printed}");
    assert!(has_message(&lines, "signed in to Vault"), "{printed}");
    assert_eq!(fake.counts().0, 1, "one AppRole login");
    assert!(!printed.contains(key) && !printed.contains("startup-secret-id") && !printed.contains("hvs."), "{printed}");
    drop(fake);
}
