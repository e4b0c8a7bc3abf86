//! `portcullis healthcheck` against the real binary: healthy while the
//! service listens (on a wildcard bind, through loopback, and on the
//! metrics listener), unhealthy with a reason once it has stopped.
#![cfg(feature = "sqlite")]

use serde_json::Value;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary in `dir` with only `vars` in its environment.
fn portcullis(dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.env_clear().current_dir(dir);
    for (name, value) in vars {
        command.env(name, value);
    }
    command
}

/// Starts the service and returns it with its `listening` log line.
fn serve(dir: &Path) -> (Child, Value) {
    let database = format!("sqlite://{}", dir.join("healthcheck.db").display());
    let mut child = portcullis(
        dir,
        &[("DATABASE_URL", &database), ("PORTCULLIS_BIND", "0.0.0.0:0"), ("PORTCULLIS_METRICS_BIND", "127.0.0.1:0")],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("the binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Ok(line) = receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if parsed["message"] == "listening" {
            return (child, parsed);
        }
    }
    child.kill().ok();
    child.wait().ok();
    panic!("the service did not say it was listening within 30 s");
}

fn healthcheck(dir: &Path, bind: &str) -> Output {
    portcullis(dir, &[("PORTCULLIS_BIND", bind)]).arg("healthcheck").output().expect("the healthcheck runs")
}

#[test]
fn the_healthcheck_passes_while_the_service_listens_and_fails_once_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, listening) = serve(dir.path());
    let addr = listening["addr"].as_str().expect("addr in the listening line").to_owned();
    let metrics_addr = listening["metrics_addr"].as_str().expect("metrics_addr in the listening line").to_owned();
    assert!(addr.starts_with("0.0.0.0:"), "a wildcard bind: {addr}");

    let main = healthcheck(dir.path(), &addr);
    let metrics = healthcheck(dir.path(), &metrics_addr);
    child.kill().expect("the server stops");
    child.wait().unwrap();
    let stopped = healthcheck(dir.path(), &addr);

    assert_eq!(main.status.code(), Some(0), "{}", String::from_utf8_lossy(&main.stderr));
    assert_eq!(metrics.status.code(), Some(0), "{}", String::from_utf8_lossy(&metrics.stderr));
    assert_eq!(stopped.status.code(), Some(1));
    let reason = String::from_utf8_lossy(&stopped.stderr);
    let port = addr.rsplit(':').next().unwrap();
    assert!(reason.contains(&format!("nothing answered at 127.0.0.1:{port}")), "{reason}");
}

#[test]
fn a_bind_that_is_no_address_fails_the_healthcheck_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let output = healthcheck(dir.path(), "localhost:8080");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("PORTCULLIS_BIND=\"localhost:8080\""));
}
