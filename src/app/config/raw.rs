//! Every setting as text, as the layers deliver it, before any check. The
//! shape mirrors the variable names, which are part of the contract; the
//! typed sections in the sibling modules are built from it.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawQuota {
    pub per_minute: Option<String>,
    pub burst: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawApiQuota {
    pub per_minute: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawLoginFailures {
    pub max: Option<String>,
    pub window_seconds: Option<String>,
    pub lockout_seconds: Option<String>,
}

/// Only a maximum: the account-wide count shares the login-failure window.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawAccountFailures {
    pub max: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawLimits {
    pub auth: RawQuota,
    pub api: RawApiQuota,
    pub login_failures: RawLoginFailures,
    pub account_failures: RawAccountFailures,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDatabase {
    pub max_connections: Option<String>,
    pub min_connections: Option<String>,
    pub connect_deadline_seconds: Option<String>,
    pub acquire_timeout_seconds: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawConnections {
    pub header_read_timeout_seconds: Option<String>,
    pub idle_timeout_seconds: Option<String>,
    pub max: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRedis {
    pub key_prefix: Option<String>,
    pub cluster: Option<String>,
    pub ca_file: Option<String>,
}

/// The `PORTCULLIS_SMTP__*` variables. No `Debug`: it holds a password.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawSmtp {
    pub host: Option<String>,
    pub port: Option<String>,
    pub security: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<String>,
    pub timeout_seconds: Option<String>,
    pub retry_max_seconds: Option<String>,
    pub ca_file: Option<String>,
}

/// Every setting as text. No `Debug`: it holds keys and passwords.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawSettings {
    pub bind: Option<String>,
    pub database_url: Option<String>,
    pub sqlite_fallback: Option<String>,
    pub redis_url: Option<String>,
    pub jwt_keys: Option<String>,
    pub secret_key: Option<String>,
    pub secrets: Option<String>,
    pub vault_path: Option<String>,
    pub vault_auth_mount: Option<String>,
    pub secrets_refresh_seconds: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    // The `*_FILE` variants of the secrets above.
    pub database_url_file: Option<String>,
    pub redis_url_file: Option<String>,
    pub jwt_keys_file: Option<String>,
    pub admin_password_file: Option<String>,
    pub mfa_key: Option<String>,
    pub mfa_key_file: Option<String>,
    // Vault's own variables, named as its CLI names them.
    pub vault_addr: Option<String>,
    pub vault_token: Option<String>,
    pub vault_token_file: Option<String>,
    pub vault_role_id: Option<String>,
    pub vault_secret_id: Option<String>,
    pub vault_secret_id_file: Option<String>,
    pub vault_k8s_role: Option<String>,
    pub vault_k8s_token_file: Option<String>,
    pub vault_cacert: Option<String>,
    pub trusted_proxies: Option<String>,
    pub client_ip_header: Option<String>,
    pub env: Option<String>,
    pub metrics_bind: Option<String>,
    pub metrics_public: Option<String>,
    pub bcrypt_cost: Option<String>,
    pub access_token_ttl_seconds: Option<String>,
    pub refresh_token_ttl_seconds: Option<String>,
    pub refresh_reuse_grace_seconds: Option<String>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub limits: RawLimits,
    pub cors_allowed_origins: Option<String>,
    pub hsts_max_age_seconds: Option<String>,
    pub shutdown_drain_seconds: Option<String>,
    pub hash_workers: Option<String>,
    pub hash_queue: Option<String>,
    pub audit_retention_days: Option<String>,
    pub registration: Option<String>,
    pub database: RawDatabase,
    pub redis: RawRedis,
    pub connections: RawConnections,
    pub mailer: Option<String>,
    pub mail_from: Option<String>,
    pub public_url: Option<String>,
    pub mail_templates_dir: Option<String>,
    pub mail_queue: Option<String>,
    pub require_verified_email: Option<String>,
    pub smtp: RawSmtp,
}
