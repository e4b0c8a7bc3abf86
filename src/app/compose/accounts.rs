//! The adapters of the account life cycle: the mailer for verification
//! and reset links, and the key that seals second-factor secrets.

use crate::adapters::log_mailer::LogMailer;
use crate::adapters::mail_queue::{MailQueue, RetryPolicy, MAX_SHUTDOWN_DRAIN};
use crate::adapters::mail_templates::MailTemplates;
use crate::adapters::smtp_mailer::SmtpMailer;
use crate::app::config::{Deployment, MailCommon, MailSettings, MailerChoice, MfaKeySetting, Settings};
use crate::core::mfa_key::MfaKey;
use crate::ports::{Entropy, MailTransport, MfaRepo};
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// The mail queue over the configured transport; `None` without a mailer.
/// A shutdown waits for queued mail as long as one SMTP exchange may take
/// (at most 10 s).
pub(super) fn open_mailer(settings: &MailSettings) -> anyhow::Result<Option<Arc<MailQueue>>> {
    let mut drain = MAX_SHUTDOWN_DRAIN;
    let (common, transport): (&MailCommon, Arc<dyn MailTransport>) = match &settings.mailer {
        MailerChoice::None => {
            tracing::info!("PORTCULLIS_MAILER is unset: no verification or password-reset mail is sent");
            return Ok(None);
        }
        MailerChoice::Log(common) => (common, Arc::new(LogMailer)),
        MailerChoice::Smtp(common, smtp) => {
            tracing::info!(host = %smtp.host, port = smtp.port, security = ?smtp.security, "mail goes out over SMTP");
            drain = smtp.timeout;
            (common, Arc::new(SmtpMailer::new(smtp).context("PORTCULLIS_SMTP")?))
        }
    };
    let templates = MailTemplates::load(&common.public_url, common.templates_dir.as_deref())
        .context("PORTCULLIS_MAIL_TEMPLATES_DIR")?;
    let retry = RetryPolicy { max_backoff: common.retry_max, ..RetryPolicy::default() };
    let queue = MailQueue::start(transport, templates, common.queue, retry).with_shutdown_drain(drain);
    Ok(Some(Arc::new(queue)))
}

/// The key that seals second-factor secrets: the configured one; without
/// one, in development a random key for this process (with a warning), and
/// in production none, so enrolment is refused, unless users have TOTP on
/// already: then the start is refused, since their secrets could not be
/// read.
pub(super) async fn mfa_key(
    settings: &Settings,
    from_source: Option<SecretString>,
    store: &dyn MfaRepo,
    entropy: &dyn Entropy,
    serving: bool,
) -> anyhow::Result<Option<MfaKey>> {
    let from_source = from_source
        .map(|key| MfaKeySetting::validate(Some(key.expose_secret().to_owned())))
        .transpose()
        .context("the `mfa_key` field of the Vault secret")?
        .flatten();
    let key = match (&settings.mfa_key, &from_source) {
        (Some(configured), Some(fetched)) if configured.bytes() != fetched.bytes() => {
            anyhow::bail!("PORTCULLIS_MFA_KEY and the Vault secret's `mfa_key` differ: set the key in one place only")
        }
        (Some(key), _) | (None, Some(key)) => Some(key),
        (None, None) => None,
    };
    if let Some(key) = key {
        return Ok(Some(MfaKey::new(key.bytes()).context("PORTCULLIS_MFA_KEY")?));
    }
    if settings.deployment == Deployment::Production {
        if serving && store.any_confirmed().await.context("checking for TOTP enrolments")? {
            anyhow::bail!(
                "users have TOTP enabled but PORTCULLIS_MFA_KEY (or PORTCULLIS_MFA_KEY_FILE) is unset: \
                 their secrets cannot be read; set the key they were sealed with"
            );
        }
        tracing::warn!("PORTCULLIS_MFA_KEY is unset: TOTP enrolment is refused (503 mfa_unavailable)");
        return Ok(None);
    }
    tracing::warn!(
        "PORTCULLIS_MFA_KEY is unset: sealing TOTP secrets with a random key that lives as long as this process"
    );
    Ok(Some(MfaKey::random(entropy)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::adapters::system::OsEntropy;
    use std::collections::HashMap;

    const KEY_A: &str = "WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=";
    const KEY_B: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    fn settings(mfa_key: Option<&str>) -> Settings {
        let sqlite = cfg!(feature = "sqlite");
        let database =
            if sqlite { crate::app::config::DEFAULT_DATABASE_URL } else { "postgres://portcullis@localhost/db" };
        let mut vars = HashMap::from([
            ("DATABASE_URL".to_owned(), database.to_owned()),
            ("PORTCULLIS_ENV".to_owned(), "production".to_owned()),
            ("PORTCULLIS_JWT_KEYS".to_owned(), "compose-test-signing-key-0123456789abcdef".to_owned()),
        ]);
        if let Some(key) = mfa_key {
            vars.insert("PORTCULLIS_MFA_KEY".to_owned(), key.to_owned());
        }
        Settings::load(None, &vars).expect("valid settings")
    }

    async fn resolve(configured: Option<&str>, from_source: Option<&str>) -> anyhow::Result<Option<MfaKey>> {
        let fetched = from_source.map(|key| SecretString::from(key.to_owned()));
        mfa_key(&settings(configured), fetched, &MemoryStore::new(), &OsEntropy, true).await
    }

    #[tokio::test]
    async fn the_vault_secret_may_supply_the_mfa_key_but_never_a_different_one() {
        assert!(resolve(None, None).await.unwrap().is_none(), "production without a key: none");
        assert!(resolve(None, Some(KEY_A)).await.unwrap().is_some(), "the source's key is used");
        assert!(resolve(Some(KEY_A), Some(KEY_A)).await.unwrap().is_some(), "the same key twice is fine");
        let differ = resolve(Some(KEY_A), Some(KEY_B)).await.unwrap_err().to_string();
        assert!(differ.contains("differ"), "{differ}");
        let malformed = format!("{:#}", resolve(None, Some("short")).await.unwrap_err());
        assert!(malformed.contains("mfa_key") && !malformed.contains("short\""), "{malformed}");
    }
}
