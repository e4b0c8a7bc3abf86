//! The client address behind a real nginx, configured as the README shows
//! for each `PORTCULLIS_CLIENT_IP_HEADER`, with hostile `Forwarded`,
//! `X-Forwarded-For` and `X-Real-IP` values sent through it.
//!
//! nginx listens on 127.0.0.1 and reaches Portcullis from 127.0.0.1, the
//! one trusted proxy; the callers connect from 127.0.0.2 and 127.0.0.3, so
//! each has an address of its own. nginx comes from `TEST_NGINX`, else
//! `nginx` on the `PATH` or in `/usr/sbin`; without one the tests are
//! skipped (a failure under `PORTCULLIS_REQUIRE_SERVICES=1`).

use crate::helpers::*;
use serde_json::json;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WRONG_PASSWORD: &str = "a-Wrong-password-for-sure-1";

fn nginx_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("TEST_NGINX") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join("nginx")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain([PathBuf::from("/usr/sbin/nginx")]).find(|path| path.is_file())
}

/// One nginx in the foreground, stopped when dropped.
struct Nginx {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `proxy_set_header` line the README gives for `header`.
fn readme_line(header: &str) -> &'static str {
    match header {
        "x-forwarded-for" => "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "forwarded" => "proxy_set_header Forwarded \"for=\\\"$remote_addr\\\"\";",
        "x-real-ip" => "proxy_set_header X-Real-IP $remote_addr;",
        other => panic!("no README line for {other}"),
    }
}

async fn start_nginx(binary: &PathBuf, upstream: &str, header: &str) -> Nginx {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let prefix = dir.path().display();
    let config = format!(
        "daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n\
           fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass {upstream};\n\
               {}\n    }}\n  }}\n}}\n",
        readme_line(header)
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, config).expect("nginx.conf");
    let child = Command::new(binary)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let address = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(&address).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "nginx did not listen: {:?}",
            std::fs::read_to_string(dir.path().join("error.log"))
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Nginx { child, address: format!("http://{address}"), _dir: dir }
}

/// A client whose connections come from `local`.
fn caller(local: &str) -> reqwest::Client {
    let local: IpAddr = local.parse().unwrap();
    reqwest::Client::builder().no_proxy().local_address(local).build().expect("a client")
}

async fn login(client: &reqwest::Client, nginx: &Nginx, email: &str, password: &str, hostile: u32) -> u16 {
    // A parseable claim, or one with a legal `unknown` that once made the
    // whole header be discarded in favour of another.
    let forwarded = if hostile % 2 == 0 {
        format!("for=198.51.100.{hostile}")
    } else {
        format!("for=198.51.100.{hostile}, for=unknown")
    };
    client
        .post(format!("{}/v1/auth/login", nginx.address))
        .header("forwarded", forwarded)
        .header("x-forwarded-for", format!("203.0.113.{hostile}"))
        .header("x-real-ip", format!("192.0.2.{hostile}"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("a response through nginx")
        .status()
        .as_u16()
}

async fn hostile_headers_do_not_move_the_client(header: &str) {
    let Some(binary) = nginx_binary() else {
        assert!(
            std::env::var("PORTCULLIS_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "{header}: nginx is required; install it or set TEST_NGINX"
        );
        eprintln!("SKIPPED: no nginx; set TEST_NGINX or install Debian's nginx to run this test");
        return;
    };
    let app = spawn_app_with(&[
        ("PORTCULLIS_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("PORTCULLIS_CLIENT_IP_HEADER", header),
        ("PORTCULLIS_LIMITS__LOGIN_FAILURES__MAX", "3"),
    ])
    .await;
    let nginx = start_nginx(&binary, &app.address, header).await;
    let email = unique_email("nginx");
    app.register_ok(&email).await;
    let attacker = caller("127.0.0.2");

    for hostile in 0..3 {
        assert_eq!(login(&attacker, &nginx, &email, WRONG_PASSWORD, hostile).await, 401, "{header}, attempt {hostile}");
    }

    // Every guess counted against 127.0.0.2, whatever its headers said...
    assert_eq!(login(&attacker, &nginx, &email, STRONG_PASSWORD, 99).await, 429, "{header}");
    // ...and nobody else's address: another caller signs in.
    assert_eq!(login(&caller("127.0.0.3"), &nginx, &email, STRONG_PASSWORD, 1).await, 200, "{header}");
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_nginx_with_x_forwarded_for_the_caller_cannot_choose_its_address() {
    hostile_headers_do_not_move_the_client("x-forwarded-for").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_nginx_with_forwarded_the_caller_cannot_choose_its_address() {
    hostile_headers_do_not_move_the_client("forwarded").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_nginx_with_x_real_ip_the_caller_cannot_choose_its_address() {
    hostile_headers_do_not_move_the_client("x-real-ip").await;
}
