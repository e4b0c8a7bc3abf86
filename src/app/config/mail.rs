//! Outgoing mail: which transport (`none`, `log` or `smtp`), the sender,
//! the public URL links point to, the templates, and whether logins need a
//! verified address. Never logs or formats the SMTP password.

use super::raw::RawSmtp;
use super::secret_files::value_or_file;
use super::values::{invalid, parse_sized};
use super::{ConfigError, Deployment};
use crate::adapters::smtp_mailer::{SmtpOptions, SmtpRoots, SmtpSecurity};
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

/// What every real mailer needs.
#[derive(Clone, Debug)]
pub struct MailCommon {
    /// Links are `<public_url>/verify-email#token=…` and
    /// `<public_url>/reset-password#token=…`.
    pub public_url: String,
    /// Files here replace the built-in templates of the same name.
    pub templates_dir: Option<PathBuf>,
    /// Messages that may wait for delivery.
    pub queue: usize,
    /// The longest wait between two delivery attempts.
    pub retry_max: Duration,
}

/// Which mailer runs.
#[derive(Clone, Debug)]
pub enum MailerChoice {
    /// No mail: verification and reset answer `501 mail_disabled`.
    None,
    /// Development: messages go to the log.
    Log(MailCommon),
    Smtp(MailCommon, SmtpOptions),
}

#[derive(Clone, Debug)]
pub struct MailSettings {
    pub mailer: MailerChoice,
    /// Refuse logins from unverified addresses.
    pub require_verified_email: bool,
}

/// The mail variables, as read.
pub struct RawMail<'a> {
    pub mailer: Option<&'a str>,
    pub from: Option<&'a str>,
    pub public_url: Option<&'a str>,
    pub templates_dir: Option<&'a str>,
    pub queue: Option<&'a str>,
    pub require_verified_email: Option<&'a str>,
    pub smtp: RawSmtp,
}

fn parse_bool(variable: &'static str, value: Option<&str>) -> Result<bool, ConfigError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(invalid(variable, format!("{other:?} is not `true` or `false`"))),
    }
}

impl MailSettings {
    /// # Errors
    /// [`ConfigError`] naming the variable that is missing or wrong.
    pub fn validate(raw: RawMail<'_>, deployment: Deployment) -> Result<Self, ConfigError> {
        let require_verified_email = parse_bool("PORTCULLIS_REQUIRE_VERIFIED_EMAIL", raw.require_verified_email)?;
        let choice = raw.mailer.map(|v| v.trim().to_ascii_lowercase());
        let mailer = match choice.as_deref() {
            None | Some("" | "none") => MailerChoice::None,
            Some("log") => {
                if deployment == Deployment::Production {
                    return Err(invalid(
                        "PORTCULLIS_MAILER",
                        "`log` writes live links into the log and is for development only; \
                         use `smtp` when PORTCULLIS_ENV=production",
                    ));
                }
                MailerChoice::Log(common(&raw)?)
            }
            Some("smtp") => {
                let common = common(&raw)?;
                let smtp = smtp(raw.smtp, raw.from, deployment)?;
                MailerChoice::Smtp(common, smtp)
            }
            Some(other) => {
                return Err(invalid("PORTCULLIS_MAILER", format!("{other:?} is not one of none, log, smtp")))
            }
        };
        if require_verified_email && matches!(mailer, MailerChoice::None) {
            return Err(invalid(
                "PORTCULLIS_REQUIRE_VERIFIED_EMAIL",
                "is true but no mailer is configured, so no address could ever be verified; set PORTCULLIS_MAILER",
            ));
        }
        Ok(Self { mailer, require_verified_email })
    }
}

fn common(raw: &RawMail<'_>) -> Result<MailCommon, ConfigError> {
    let public_url = raw.public_url.map(str::trim).filter(|v| !v.is_empty()).ok_or_else(|| {
        invalid("PORTCULLIS_PUBLIC_URL", "must be set with a mailer: it is where the mailed links point")
    })?;
    if !(public_url.starts_with("https://") || public_url.starts_with("http://"))
        || public_url.contains(char::is_whitespace)
        || public_url.contains(['#', '?'])
    {
        return Err(invalid(
            "PORTCULLIS_PUBLIC_URL",
            format!("{public_url:?} is not an http(s) URL without query or fragment"),
        ));
    }
    let queue = parse_sized("PORTCULLIS_MAIL_QUEUE", raw.queue, 1000usize, 1, 1_000_000)?;
    let retry_max =
        parse_sized("PORTCULLIS_SMTP__RETRY_MAX_SECONDS", raw.smtp.retry_max_seconds.as_deref(), 60u64, 1, 3600)?;
    Ok(MailCommon {
        public_url: public_url.to_owned(),
        templates_dir: raw.templates_dir.map(str::trim).filter(|v| !v.is_empty()).map(PathBuf::from),
        queue,
        retry_max: Duration::from_secs(retry_max),
    })
}

fn smtp(raw: RawSmtp, from: Option<&str>, deployment: Deployment) -> Result<SmtpOptions, ConfigError> {
    let host = raw
        .host
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid("PORTCULLIS_SMTP__HOST", "must be set when PORTCULLIS_MAILER=smtp"))?;
    let from = from
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid("PORTCULLIS_MAIL_FROM", "must be set when PORTCULLIS_MAILER=smtp"))?;
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(invalid("PORTCULLIS_MAIL_FROM", format!("{from:?} is not a mailbox (`Name <a@b.example>`)")));
    }
    let security = match raw.security.as_deref().map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("starttls") => SmtpSecurity::StartTls,
        Some("tls") => SmtpSecurity::Tls,
        Some("none") => SmtpSecurity::None,
        Some(other) => {
            return Err(invalid("PORTCULLIS_SMTP__SECURITY", format!("{other:?} is not one of starttls, tls, none")))
        }
    };
    let default_port: u16 = if security == SmtpSecurity::Tls { 465 } else { 587 };
    let port = parse_sized("PORTCULLIS_SMTP__PORT", raw.port.as_deref(), default_port, 1, 65_535)?;
    let timeout = parse_sized("PORTCULLIS_SMTP__TIMEOUT_SECONDS", raw.timeout_seconds.as_deref(), 10u64, 1, 300)?;
    let password =
        value_or_file("PORTCULLIS_SMTP__PASSWORD", raw.password, "PORTCULLIS_SMTP__PASSWORD_FILE", raw.password_file)?;
    let username = raw.username.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if username.is_some() != password.is_some() {
        return Err(invalid(
            if username.is_some() { "PORTCULLIS_SMTP__PASSWORD" } else { "PORTCULLIS_SMTP__USERNAME" },
            "SMTP authentication needs both PORTCULLIS_SMTP__USERNAME and PORTCULLIS_SMTP__PASSWORD",
        ));
    }
    if security == SmtpSecurity::None && username.is_some() && deployment == Deployment::Production {
        return Err(invalid(
            "PORTCULLIS_SMTP__SECURITY",
            "is `none` with a password: in production credentials are only sent over TLS (tls or starttls)",
        ));
    }
    let ca = raw.ca_file.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(smtp_roots).transpose()?;
    if ca.is_some() && security == SmtpSecurity::None {
        return Err(invalid(
            "PORTCULLIS_SMTP__CA_FILE",
            "is set but PORTCULLIS_SMTP__SECURITY is `none`: a CA file only applies to `tls` or `starttls`",
        ));
    }
    Ok(SmtpOptions {
        ca,
        host,
        port,
        security,
        username,
        password: password.map(SecretString::from),
        timeout: Duration::from_secs(timeout),
        from: from.to_owned(),
    })
}

/// The PEM roots of `PORTCULLIS_SMTP__CA_FILE`.
fn smtp_roots(path: &str) -> Result<SmtpRoots, ConfigError> {
    let pem = std::fs::read(path)
        .map_err(|error| invalid("PORTCULLIS_SMTP__CA_FILE", format!("cannot read {path}: {error}")))?;
    SmtpRoots::from_pem(pem).map_err(|problem| invalid("PORTCULLIS_SMTP__CA_FILE", format!("{path} {problem}")))
}
