//! Vault settings (`PORTCULLIS_SECRETS=vault`, the `vault` feature): the
//! address, the CA file, the KV v2 secret's `mount/path`, and exactly one
//! sign-in method. Vault's own variables keep the names its CLI gives them
//! (`VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_CACERT`); credential files are
//! checked here and read again by the adapter at every sign-in. Never
//! connects, and never formats a token or a secret id.

use super::raw::RawSettings;
use super::values::invalid;
use super::{ConfigError, Deployment};
use crate::adapters::file_secrets::read_secret_file;
use crate::adapters::vault::{Credential, VaultAuth, VaultSettings, DEFAULT_K8S_TOKEN_FILE};
use secrecy::SecretString;
use std::path::{Path, PathBuf};

/// # Errors
/// [`ConfigError`] naming the variable that is missing, malformed, or in
/// conflict with another.
pub fn validate(raw: &RawSettings, deployment: Deployment) -> Result<VaultSettings, ConfigError> {
    let address = set(raw.vault_addr.as_deref())
        .ok_or_else(|| invalid("VAULT_ADDR", "must be set when PORTCULLIS_SECRETS=vault (e.g. https://vault:8200)"))?;
    check_address(address, deployment)?;
    let (mount, path) = set(raw.vault_path.as_deref())
        .and_then(|value| value.trim_matches('/').split_once('/'))
        .filter(|(mount, path)| !mount.is_empty() && !path.trim_matches('/').is_empty())
        .ok_or_else(|| {
            invalid(
                "PORTCULLIS_VAULT_PATH",
                "must be `mount/path` of a KV version 2 secret (e.g. secret/portcullis) when PORTCULLIS_SECRETS=vault",
            )
        })?;
    let ca_cert = set(raw.vault_cacert.as_deref()).map(PathBuf::from);
    if let Some(ca_cert) = &ca_cert {
        readable("VAULT_CACERT", ca_cert)?;
    }
    Ok(VaultSettings {
        address: address.to_owned(),
        ca_cert,
        mount: mount.to_owned(),
        path: path.trim_matches('/').to_owned(),
        auth: auth(raw)?,
        deadline: VaultSettings::DEFAULT_DEADLINE,
    })
}

fn set(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// An `http(s)://host[:port]` URL. Plain HTTP would send the token in the
/// clear, so production accepts it only to a Vault Agent on loopback.
fn check_address(address: &str, deployment: Deployment) -> Result<(), ConfigError> {
    let rest = address
        .strip_prefix("https://")
        .or_else(|| address.strip_prefix("http://"))
        .ok_or_else(|| invalid("VAULT_ADDR", "must be an http:// or https:// URL"))?;
    if url::Url::parse(address).is_err() || rest.is_empty() {
        return Err(invalid("VAULT_ADDR", "is not a valid URL"));
    }
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let loopback = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|local| host == *local || host.strip_prefix(local).is_some_and(|port| port.starts_with(':')));
    if address.starts_with("http://") && !loopback && deployment == Deployment::Production {
        return Err(invalid(
            "VAULT_ADDR",
            "is plain http:// to a remote host; production requires https:// (or a Vault Agent on loopback)",
        ));
    }
    Ok(())
}

fn readable(variable: &'static str, path: &Path) -> Result<(), ConfigError> {
    read_secret_file(path)
        .map(drop)
        .map_err(|problem| invalid(variable, format!("cannot read {}: {problem}", path.display())))
}

/// A credential from `variable` or the file `file_variable` names; the
/// file is checked now and read again at every sign-in.
fn credential(
    value: Option<&str>,
    variable: &'static str,
    file: Option<&str>,
    file_variable: &'static str,
) -> Result<Option<Credential>, ConfigError> {
    match (value.filter(|v| !v.is_empty()), set(file)) {
        (Some(_), Some(_)) => Err(invalid(file_variable, format!("is set together with {variable}; set one of them"))),
        (Some(value), None) => Ok(Some(Credential::Value(SecretString::from(value.to_owned())))),
        (None, Some(path)) => {
            readable(file_variable, Path::new(path))?;
            Ok(Some(Credential::File(PathBuf::from(path))))
        }
        (None, None) => Ok(None),
    }
}

/// Exactly one method: a token, AppRole or Kubernetes.
fn auth(raw: &RawSettings) -> Result<VaultAuth, ConfigError> {
    let token =
        credential(raw.vault_token.as_deref(), "VAULT_TOKEN", raw.vault_token_file.as_deref(), "VAULT_TOKEN_FILE")?;
    let secret_id = credential(
        raw.vault_secret_id.as_deref(),
        "VAULT_SECRET_ID",
        raw.vault_secret_id_file.as_deref(),
        "VAULT_SECRET_ID_FILE",
    )?;
    let role_id = set(raw.vault_role_id.as_deref());
    let k8s_role = set(raw.vault_k8s_role.as_deref());
    let chosen: Vec<&str> = [
        token.as_ref().map(|_| "a token (VAULT_TOKEN / VAULT_TOKEN_FILE)"),
        (role_id.is_some() || secret_id.is_some()).then_some("AppRole (VAULT_ROLE_ID)"),
        k8s_role.map(|_| "Kubernetes (VAULT_K8S_ROLE)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if chosen.len() > 1 {
        return Err(invalid(
            "PORTCULLIS_SECRETS",
            format!("Vault sign-in is ambiguous: {} are all set; keep one", chosen.join(", ")),
        ));
    }
    let auth_mount = set(raw.vault_auth_mount.as_deref());
    if raw.vault_k8s_token_file.is_some() && k8s_role.is_none() {
        return Err(invalid("VAULT_K8S_TOKEN_FILE", "is only read with VAULT_K8S_ROLE (Kubernetes sign-in)"));
    }
    if let Some(token) = token {
        if auth_mount.is_some() {
            return Err(invalid(
                "PORTCULLIS_VAULT_AUTH_MOUNT",
                "names an auth mount, which token sign-in does not use",
            ));
        }
        return Ok(VaultAuth::Token(token));
    }
    if let Some(role) = k8s_role {
        let token_file = PathBuf::from(set(raw.vault_k8s_token_file.as_deref()).unwrap_or(DEFAULT_K8S_TOKEN_FILE));
        readable("VAULT_K8S_TOKEN_FILE", &token_file)?;
        let mount = auth_mount.unwrap_or("kubernetes").trim_matches('/').to_owned();
        return Ok(VaultAuth::Kubernetes { mount, role: role.to_owned(), token_file });
    }
    match (role_id, secret_id) {
        (Some(role_id), Some(secret_id)) => Ok(VaultAuth::AppRole {
            mount: auth_mount.unwrap_or("approle").trim_matches('/').to_owned(),
            role_id: role_id.to_owned(),
            secret_id,
        }),
        (Some(_), None) => Err(invalid("VAULT_SECRET_ID", "must be set (or VAULT_SECRET_ID_FILE) with VAULT_ROLE_ID")),
        (None, Some(_)) => Err(invalid("VAULT_ROLE_ID", "must be set with VAULT_SECRET_ID")),
        (None, None) => Err(invalid(
            "VAULT_TOKEN",
            "no Vault sign-in is configured: set VAULT_TOKEN or VAULT_TOKEN_FILE, VAULT_ROLE_ID with VAULT_SECRET_ID, \
             or VAULT_K8S_ROLE",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawSettings {
        let mut raw = RawSettings { vault_addr: Some("http://127.0.0.1:8200".into()), ..RawSettings::default() };
        raw.vault_path = Some("secret/portcullis".into());
        for (name, value) in pairs {
            let value = Some((*value).to_owned());
            match *name {
                "VAULT_ADDR" => raw.vault_addr = value,
                "PORTCULLIS_VAULT_PATH" => raw.vault_path = value,
                "PORTCULLIS_VAULT_AUTH_MOUNT" => raw.vault_auth_mount = value,
                "VAULT_TOKEN" => raw.vault_token = value,
                "VAULT_TOKEN_FILE" => raw.vault_token_file = value,
                "VAULT_ROLE_ID" => raw.vault_role_id = value,
                "VAULT_SECRET_ID" => raw.vault_secret_id = value,
                "VAULT_K8S_ROLE" => raw.vault_k8s_role = value,
                "VAULT_K8S_TOKEN_FILE" => raw.vault_k8s_token_file = value,
                "VAULT_CACERT" => raw.vault_cacert = value,
                other => panic!("unknown {other}"),
            }
        }
        raw
    }

    fn refusal(pairs: &[(&str, &str)], deployment: Deployment) -> String {
        validate(&raw(pairs), deployment).unwrap_err().to_string()
    }

    #[test]
    fn each_sign_in_method_is_read_with_its_default_mount() {
        let token = validate(&raw(&[("VAULT_TOKEN", "hvs.sekrit")]), Deployment::Development).unwrap();
        assert_eq!((token.mount.as_str(), token.path.as_str(), token.auth.method()), ("secret", "portcullis", "token"));
        assert!(!format!("{token:?}").contains("sekrit"));
        let approle = validate(&raw(&[("VAULT_ROLE_ID", "r"), ("VAULT_SECRET_ID", "s")]), Deployment::Development);
        assert!(matches!(approle.unwrap().auth, VaultAuth::AppRole { ref mount, .. } if mount == "approle"));
        let jwt = tempfile::NamedTempFile::new().unwrap();
        let k8s = validate(
            &raw(&[
                ("VAULT_K8S_ROLE", "portcullis"),
                ("VAULT_K8S_TOKEN_FILE", &jwt.path().display().to_string()),
                ("PORTCULLIS_VAULT_AUTH_MOUNT", "k8s-prod/"),
            ]),
            Deployment::Development,
        );
        assert!(matches!(k8s.unwrap().auth, VaultAuth::Kubernetes { ref mount, .. } if mount == "k8s-prod"));
    }

    #[test]
    fn missing_ambiguous_or_malformed_settings_are_refused_by_name() {
        let dev = Deployment::Development;
        assert!(refusal(&[], dev).contains("no Vault sign-in"));
        let message = refusal(&[("VAULT_TOKEN", "t"), ("VAULT_ROLE_ID", "r"), ("VAULT_SECRET_ID", "s")], dev);
        assert!(message.contains("ambiguous") && !message.contains(": t"), "{message}");
        assert!(refusal(&[("VAULT_ROLE_ID", "r")], dev).contains("VAULT_SECRET_ID"));
        assert!(refusal(&[("VAULT_TOKEN", "t"), ("PORTCULLIS_VAULT_PATH", "portcullis")], dev).contains("mount/path"));
        assert!(refusal(&[("VAULT_TOKEN", "t"), ("VAULT_ADDR", "vault:8200")], dev).contains("VAULT_ADDR"));
        assert!(refusal(&[("VAULT_TOKEN", "t"), ("VAULT_ADDR", "http://")], dev).contains("VAULT_ADDR"));
        let message = refusal(&[("VAULT_TOKEN_FILE", "/nonexistent/token")], dev);
        assert!(message.contains("VAULT_TOKEN_FILE") && message.contains("/nonexistent/token"), "{message}");
        let message = refusal(&[("VAULT_K8S_ROLE", "r"), ("VAULT_K8S_TOKEN_FILE", "/nonexistent/jwt")], dev);
        assert!(message.contains("VAULT_K8S_TOKEN_FILE"), "{message}");
        assert!(refusal(&[("VAULT_TOKEN", "t"), ("VAULT_CACERT", "/nonexistent/ca.pem")], dev).contains("VAULT_CACERT"));
    }

    #[test]
    fn production_refuses_plain_http_except_to_loopback() {
        let prod = Deployment::Production;
        let message = refusal(&[("VAULT_TOKEN", "t"), ("VAULT_ADDR", "http://vault.internal:8200")], prod);
        assert!(message.contains("https://"), "{message}");
        for address in ["http://127.0.0.1:8200", "http://localhost:8100", "https://vault.internal:8200"] {
            assert!(validate(&raw(&[("VAULT_TOKEN", "t"), ("VAULT_ADDR", address)]), prod).is_ok(), "{address}");
        }
        assert!(refusal(&[("VAULT_TOKEN", "t"), ("VAULT_ADDR", "http://localhost.evil:80")], prod).contains("https"));
    }
}
