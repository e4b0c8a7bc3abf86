//! The fake Vault's answers, shaped as Vault documents them (and as
//! `vaultrs` parses them): every success carries `request_id`,
//! `lease_id`, `lease_duration`, `renewable`, `data` / `auth`, `warnings`
//! and `wrap_info`; every failure is `{"errors": [...]}`.

use super::{lock, Mode, Shared, State, Token, Version};
use poem::http::{Method, StatusCode};
use poem::{Request, Response};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn reply(status: StatusCode, body: &Value) -> Response {
    Response::builder().status(status).content_type("application/json").body(body.to_string())
}

fn errors(status: StatusCode, messages: &[&str]) -> Response {
    reply(status, &json!({ "errors": messages }))
}

fn envelope(data: Option<&Value>, auth: Option<&Value>) -> Value {
    json!({
        "request_id": uuid::Uuid::new_v4().to_string(),
        "lease_id": "",
        "lease_duration": 0,
        "renewable": false,
        "data": data,
        "auth": auth,
        "warnings": null,
        "wrap_info": null,
    })
}

fn auth_info(token: &str, details: &Token) -> Value {
    json!({
        "client_token": token,
        "accessor": format!("accessor-{}", uuid::Uuid::new_v4().simple()),
        "policies": ["default", "portcullis"],
        "token_policies": ["default", "portcullis"],
        "metadata": null,
        "lease_duration": details.ttl.as_secs(),
        "renewable": details.renewable,
        "entity_id": "",
        "token_type": "service",
        "orphan": true,
    })
}

pub async fn handle(state: Shared, mut request: Request) -> Response {
    let mode = lock(&state).mode.unwrap_or(Mode::Up);
    match mode {
        Mode::Up => {}
        Mode::Stalled => {
            // Far longer than any client deadline; the test ends first.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Mode::Sealed => return errors(StatusCode::SERVICE_UNAVAILABLE, &["Vault is sealed"]),
    }
    let body = request.take_body().into_bytes().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = request.header("X-Vault-Token").map(str::to_owned);
    let path = request.uri().path().to_owned();
    let version = request
        .uri()
        .query()
        .and_then(|query| query.split('&').find_map(|pair| pair.strip_prefix("version=")))
        .and_then(|version| version.parse::<usize>().ok());
    let method = request.method().clone();
    let mut state = lock(&state);
    route(&mut state, &method, &path, token.as_deref(), &body, version)
}

fn route(
    state: &mut State,
    method: &Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
    version: Option<usize>,
) -> Response {
    let Some(path) = path.strip_prefix("/v1/") else { return errors(StatusCode::NOT_FOUND, &[]) };
    if path == "sys/health" {
        return reply(
            StatusCode::OK,
            &json!({
                "cluster_id": "fake", "cluster_name": "fake-vault", "initialized": true,
                "performance_standby": false, "replication_dr_mode": "disabled",
                "replication_perf_mode": "disabled", "sealed": false,
                "server_time_utc": time::OffsetDateTime::now_utc().unix_timestamp(),
                "standby": false, "version": "1.15.0-fake",
            }),
        );
    }
    if let Some(mount) = path.strip_prefix("auth/").and_then(|rest| rest.strip_suffix("/login")) {
        if *method == Method::POST && !mount.contains('/') {
            return login(state, mount, body);
        }
    }
    // Everything else needs a live token.
    let Some(name) = token.filter(|name| live(state, name)) else {
        return errors(StatusCode::FORBIDDEN, &["permission denied"]);
    };
    let name = name.to_owned();
    if path == "auth/token/lookup-self" && *method == Method::GET {
        return lookup_self(state, &name);
    }
    if path == "auth/token/renew-self" && (*method == Method::POST || *method == Method::PUT) {
        return renew_self(state, &name);
    }
    kv(state, method, path, body, version)
}

fn live(state: &mut State, name: &str) -> bool {
    let expired = match state.tokens.get(name) {
        None => return false,
        Some(token) => token.expires_at.is_some_and(|at| Instant::now() >= at),
    };
    if expired {
        state.tokens.remove(name);
    }
    !expired
}

fn login(state: &mut State, mount: &str, body: &Value) -> Response {
    let text = |field: &str| body.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
    let accepted = if let Some((role_id, secret_id)) = state.approles.get(mount) {
        if text("role_id") != *role_id || text("secret_id") != *secret_id {
            return errors(StatusCode::BAD_REQUEST, &["invalid role or secret ID"]);
        }
        true
    } else if let Some((role, jwt)) = state.kubernetes.get(mount) {
        if text("role") != *role || text("jwt") != *jwt {
            return errors(StatusCode::FORBIDDEN, &["permission denied"]);
        }
        true
    } else {
        false
    };
    if !accepted {
        return errors(StatusCode::BAD_REQUEST, &[format!("no handler for route \"auth/{mount}/login\"").as_str()]);
    }
    state.logins += 1;
    let (name, token) = state.issue_token();
    reply(StatusCode::OK, &envelope(None, Some(&auth_info(&name, &token))))
}

fn lookup_self(state: &State, name: &str) -> Response {
    let token = &state.tokens[name];
    let ttl = token.expires_at.map_or(0, |at| at.saturating_duration_since(Instant::now()).as_secs());
    let data = json!({
        "accessor": "accessor", "creation_time": 0, "creation_ttl": token.ttl.as_secs(),
        "display_name": "token", "entity_id": "", "expire_time": null, "explicit_max_ttl": 0,
        "id": name, "identity_policies": null, "issue_time": now_rfc3339(), "meta": null,
        "num_uses": 0, "orphan": true, "path": "auth/token/create", "policies": ["default"],
        "renewable": token.renewable, "ttl": ttl,
    });
    reply(StatusCode::OK, &envelope(Some(&data), None))
}

fn renew_self(state: &mut State, name: &str) -> Response {
    let Some(token) = state.tokens.get_mut(name) else { return errors(StatusCode::FORBIDDEN, &["permission denied"]) };
    if !token.renewable {
        return errors(StatusCode::BAD_REQUEST, &["lease is not renewable"]);
    }
    token.expires_at = Some(Instant::now() + token.ttl);
    let token = token.clone();
    state.renewals += 1;
    reply(StatusCode::OK, &envelope(None, Some(&auth_info(name, &token))))
}

fn metadata(version: &Version, number: usize) -> Value {
    json!({
        "created_time": version.created, "deletion_time": "", "custom_metadata": null,
        "destroyed": false, "version": number,
    })
}

fn kv(state: &mut State, method: &Method, path: &str, body: &Value, version: Option<usize>) -> Response {
    let Some((mount, rest)) = path.split_once('/') else { return errors(StatusCode::NOT_FOUND, &[]) };
    if !state.kv_mounts.iter().any(|known| known == mount) {
        return errors(StatusCode::NOT_FOUND, &[format!("no handler for route \"{path}\"").as_str()]);
    }
    let key = |secret: &str| (mount.to_owned(), secret.to_owned());
    if let Some(secret) = rest.strip_prefix("data/") {
        if *method == Method::GET {
            state.reads += 1;
            let Some(versions) = state.secrets.get(&key(secret)) else { return errors(StatusCode::NOT_FOUND, &[]) };
            let number = version.filter(|n| *n > 0).unwrap_or(versions.len());
            let Some(found) = versions.get(number.wrapping_sub(1)) else {
                return errors(StatusCode::NOT_FOUND, &[]);
            };
            let data = json!({ "data": found.data, "metadata": metadata(found, number) });
            return reply(StatusCode::OK, &envelope(Some(&data), None));
        }
        if *method == Method::POST || *method == Method::PUT {
            let Some(data) = body.get("data").filter(|data| data.is_object()) else {
                return errors(StatusCode::BAD_REQUEST, &["no data provided"]);
            };
            let versions = state.secrets.entry(key(secret)).or_default();
            versions.push(Version { data: data.clone(), created: now_rfc3339() });
            let created = metadata(versions.last().expect("just pushed"), versions.len());
            return reply(StatusCode::OK, &envelope(Some(&created), None));
        }
    }
    if let Some(secret) = rest.strip_prefix("metadata/") {
        if *method == Method::GET {
            let Some(versions) = state.secrets.get(&key(secret)) else { return errors(StatusCode::NOT_FOUND, &[]) };
            let listed: serde_json::Map<String, Value> = versions
                .iter()
                .enumerate()
                .map(|(index, v)| {
                    let entry = json!({"created_time": v.created, "deletion_time": "", "destroyed": false});
                    ((index + 1).to_string(), entry)
                })
                .collect();
            let first = versions.first().map(|v| v.created.clone()).unwrap_or_default();
            let last = versions.last().map(|v| v.created.clone()).unwrap_or_default();
            let data = json!({
                "cas_required": false, "created_time": first, "current_version": versions.len(),
                "delete_version_after": "0s", "max_versions": 0, "oldest_version": 1,
                "updated_time": last, "custom_metadata": null, "versions": listed,
            });
            return reply(StatusCode::OK, &envelope(Some(&data), None));
        }
    }
    errors(StatusCode::METHOD_NOT_ALLOWED, &["unsupported operation"])
}
