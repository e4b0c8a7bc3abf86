//! `portcullis admin create|reset-password|unlock|set-role|disable|reset-mfa`: account
//! recovery without SQL, against the configured database (and, for
//! `unlock`, the configured Redis). A password is read from
//! `--password-file PATH` or standard input, never from the command line.
//! Each command is audited with the actor `cli:<command line>`.

use super::load_settings;
use crate::app::compose::{admin_tools, AdminTools};
use crate::core::admin::AdminError;
use crate::core::audit::Origin;
use crate::core::auth::{MfaError, RegisterError};
use crate::core::user::{Role, UserChange, UserStatus};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub const USAGE: &str =
    "usage: portcullis [--config PATH] admin create EMAIL [--role admin|user] [--password-file PATH]
       portcullis [--config PATH] admin reset-password EMAIL [--password-file PATH]
       portcullis [--config PATH] admin unlock EMAIL
       portcullis [--config PATH] admin set-role EMAIL admin|user
       portcullis [--config PATH] admin disable EMAIL
       portcullis [--config PATH] admin reset-mfa EMAIL
A password is read from --password-file, else from standard input; never from the command line.";

/// Longest password input read; bcrypt takes 72 bytes, so anything near
/// this is refused by the policy anyway.
const MAX_PASSWORD_INPUT: u64 = 4096;

/// One admin command, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum AdminCommand {
    Create { email: String, role: Role, password_file: Option<PathBuf> },
    ResetPassword { email: String, password_file: Option<PathBuf> },
    Unlock { email: String },
    SetRole { email: String, role: Role },
    Disable { email: String },
    ResetMfa { email: String },
}

fn role(value: &str) -> Result<Role, String> {
    value.parse().map_err(|_| format!("{value:?} is not a role: use admin or user"))
}

/// Parses the words after `admin`.
///
/// # Errors
/// The usage, or what is wrong, for the caller to print.
pub fn parse(words: &[String]) -> Result<AdminCommand, String> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["create", email, rest @ ..] => {
            let (mut role_name, mut password_file) = ("admin", None);
            let mut rest = rest.iter();
            while let Some(flag) = rest.next() {
                match (*flag, rest.next()) {
                    ("--role", Some(value)) => role_name = value,
                    ("--password-file", Some(path)) => password_file = Some(PathBuf::from(path)),
                    _ => return Err(USAGE.to_owned()),
                }
            }
            Ok(AdminCommand::Create { email: (*email).to_owned(), role: role(role_name)?, password_file })
        }
        ["reset-password", email] => {
            Ok(AdminCommand::ResetPassword { email: (*email).to_owned(), password_file: None })
        }
        ["reset-password", email, "--password-file", path] => {
            Ok(AdminCommand::ResetPassword { email: (*email).to_owned(), password_file: Some(PathBuf::from(path)) })
        }
        ["unlock", email] => Ok(AdminCommand::Unlock { email: (*email).to_owned() }),
        ["set-role", email, value] => Ok(AdminCommand::SetRole { email: (*email).to_owned(), role: role(value)? }),
        ["disable", email] => Ok(AdminCommand::Disable { email: (*email).to_owned() }),
        ["reset-mfa", email] => Ok(AdminCommand::ResetMfa { email: (*email).to_owned() }),
        _ => Err(USAGE.to_owned()),
    }
}

/// The password from the file, else from standard input: its first line,
/// without the line ending.
fn read_password(file: Option<&Path>) -> Result<String, String> {
    let mut raw = String::new();
    let read = match file {
        Some(path) => std::fs::File::open(path)
            .and_then(|file| file.take(MAX_PASSWORD_INPUT).read_to_string(&mut raw))
            .map_err(|error| format!("cannot read the password file {}: {error}", path.display())),
        None => std::io::stdin()
            .take(MAX_PASSWORD_INPUT)
            .read_to_string(&mut raw)
            .map_err(|error| format!("cannot read the password from standard input: {error}")),
    };
    read?;
    let password = raw.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        return Err("no password given: pass --password-file PATH or write it to standard input".to_owned());
    }
    Ok(password)
}

/// Runs `portcullis admin …`; `command_line` is what the operator typed
/// (without the program's path), recorded as the actor.
pub fn run(config: Option<&Path>, words: &[String], command_line: &str) -> ExitCode {
    let command = match parse(words) {
        Ok(command) => command,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let settings = match load_settings(config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("portcullis: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let origin = Origin::cli(&format!("portcullis {command_line}"));
    runtime.block_on(async {
        let tools = match admin_tools(&settings).await {
            Ok(tools) => tools,
            Err(error) => {
                eprintln!("portcullis: {error:#}");
                return ExitCode::FAILURE;
            }
        };
        match execute(&tools, command, &origin).await {
            Ok(done) => {
                println!("{done}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("portcullis: {error}");
                ExitCode::FAILURE
            }
        }
    })
}

fn admin_error(email: &str, error: AdminError) -> String {
    match error {
        AdminError::NotFound => format!("no account has the address {email}"),
        AdminError::LastAdmin => "the last active admin cannot be demoted or disabled".to_owned(),
        AdminError::WeakPassword(error) => format!("the password is refused: {error}"),
        AdminError::Failure(failure) => format!("{:#}", anyhow::Error::new(failure)),
    }
}

async fn execute(tools: &AdminTools, command: AdminCommand, origin: &Origin) -> Result<String, String> {
    let auth = &tools.auth;
    match command {
        AdminCommand::Create { email, role, password_file } => {
            let password = read_password(password_file.as_deref())?;
            let user = auth.create_account(&email, password, role, origin).await.map_err(|error| match error {
                RegisterError::EmailTaken => format!("{email} is already registered"),
                RegisterError::InvalidEmail(error) => format!("{email:?} is not a valid address: {error}"),
                RegisterError::WeakPassword(error) => format!("the password is refused: {error}"),
                // Only self-registration is ever closed.
                RegisterError::Closed => "registration is closed".to_owned(),
                RegisterError::MailDisabled => "no mailer is configured".to_owned(),
                RegisterError::Failure(failure) => format!("{:#}", anyhow::Error::new(failure)),
            })?;
            Ok(format!("created {} {} ({})", user.role.as_str(), user.email.as_str(), user.id))
        }
        AdminCommand::ResetPassword { email, password_file } => {
            let password = read_password(password_file.as_deref())?;
            let user = auth.user_by_email(&email).await.map_err(|e| admin_error(&email, e))?;
            auth.reset_password(user.id, password, origin).await.map_err(|e| admin_error(&email, e))?;
            Ok(format!("password of {email} reset; every session of the account has ended"))
        }
        AdminCommand::Unlock { email } => {
            if !tools.limiter_shared {
                return Err("REDIS_URL is not set: lockouts live in the running service's memory, out of \
                            this command's reach. Use POST /v1/admin/users/{id}/unlock, or restart the service"
                    .to_owned());
            }
            let user = auth.user_by_email(&email).await.map_err(|e| admin_error(&email, e))?;
            auth.unlock_user(user.id, origin).await.map_err(|e| admin_error(&email, e))?;
            if tools.limiter.degraded() {
                return Err("Redis did not answer: the lockout may still hold; try again".to_owned());
            }
            Ok(format!("failed logins and lockouts of {email} cleared"))
        }
        AdminCommand::SetRole { email, role } => {
            let user = auth.user_by_email(&email).await.map_err(|e| admin_error(&email, e))?;
            let change = UserChange { role: Some(role), status: None };
            auth.update_user(user.id, change, origin).await.map_err(|e| admin_error(&email, e))?;
            Ok(format!("{email} is now {}", role.as_str()))
        }
        AdminCommand::Disable { email } => {
            let user = auth.user_by_email(&email).await.map_err(|e| admin_error(&email, e))?;
            let change = UserChange { role: None, status: Some(UserStatus::Disabled) };
            auth.update_user(user.id, change, origin).await.map_err(|e| admin_error(&email, e))?;
            Ok(format!("{email} is disabled; every session of the account has ended"))
        }
        AdminCommand::ResetMfa { email } => {
            let user = auth.user_by_email(&email).await.map_err(|e| admin_error(&email, e))?;
            let removed = auth.reset_mfa(user.id, origin).await.map_err(|error| match error {
                MfaError::UserGone => format!("no account has the address {email}"),
                other => format!("{:#}", anyhow::Error::new(other)),
            })?;
            Ok(if removed {
                format!("the second factor of {email} is removed; the password alone signs in until it enrols again")
            } else {
                format!("{email} has no second factor")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn commands_parse_and_a_password_on_the_command_line_is_refused() {
        assert_eq!(
            parse(&words("create a@example.com --role user")).unwrap(),
            AdminCommand::Create { email: "a@example.com".into(), role: Role::User, password_file: None }
        );
        assert_eq!(
            parse(&words("set-role a@example.com admin")).unwrap(),
            AdminCommand::SetRole { email: "a@example.com".into(), role: Role::Admin }
        );
        assert!(parse(&words("create a@example.com hunter2hunter2")).is_err());
        assert!(parse(&words("reset-password a@example.com hunter2hunter2")).is_err());
        assert!(parse(&words("set-role a@example.com root")).is_err());
        assert!(parse(&words("create a@example.com --role")).is_err());
        assert_eq!(
            parse(&words("reset-mfa a@example.com")).unwrap(),
            AdminCommand::ResetMfa { email: "a@example.com".into() }
        );
    }
}
