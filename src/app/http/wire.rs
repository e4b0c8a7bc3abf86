//! The request and response bodies of the API, and their conversions from
//! and into core types. Shapes only: no rule is checked here.

use super::text::{DeviceTokenText, EmailText, NewPasswordText, RefreshTokenText, Text};
use crate::core::auth::TokenPair;
use crate::core::user::{Role, User, UserStatus};
use poem_openapi::payload::Json;
use poem_openapi::types::{Example, MaybeUndefined};
use poem_openapi::{ApiResponse, Enum, Object};
use time::OffsetDateTime;
use uuid::Uuid;

/// A user's role.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "Role", rename_all = "lowercase")]
pub enum RoleView {
    User,
    Admin,
}

/// Whether a user may sign in.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[oai(rename = "UserStatus", rename_all = "lowercase")]
pub enum StatusView {
    Active,
    Disabled,
}

impl From<Role> for RoleView {
    fn from(role: Role) -> Self {
        match role {
            Role::User => Self::User,
            Role::Admin => Self::Admin,
        }
    }
}

impl From<RoleView> for Role {
    fn from(role: RoleView) -> Self {
        match role {
            RoleView::User => Self::User,
            RoleView::Admin => Self::Admin,
        }
    }
}

impl From<UserStatus> for StatusView {
    fn from(status: UserStatus) -> Self {
        match status {
            UserStatus::Active => Self::Active,
            UserStatus::Disabled => Self::Disabled,
        }
    }
}

impl From<StatusView> for UserStatus {
    fn from(status: StatusView) -> Self {
        match status {
            StatusView::Active => Self::Active,
            StatusView::Disabled => Self::Disabled,
        }
    }
}

/// A user account. Never carries the password hash.
#[derive(Object, Debug)]
#[oai(rename = "User")]
pub struct UserView {
    pub id: Uuid,
    /// Normalised (trimmed, lower-case) address.
    pub email: String,
    pub role: RoleView,
    pub status: StatusView,
    /// Whether the owner has proved the address (a mailed link), or an
    /// administrator created the account.
    pub email_verified: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// An instant in seconds as the API writes it (RFC 3339).
pub fn timestamp(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            role: user.role.into(),
            status: user.status.into(),
            email_verified: user.email_verified,
            created_at: timestamp(user.created_at.seconds()),
            updated_at: timestamp(user.updated_at.seconds()),
        }
    }
}

/// An access token and the refresh token that renews it.
#[derive(Object, Debug)]
#[oai(rename = "TokenPair")]
pub struct TokenPairView {
    /// HS256 JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque; single use: each refresh returns a new one.
    // The pattern is `text::REFRESH_TOKEN_PATTERN` (an attribute needs a
    // literal; a test in `spec` checks they agree). Response-only: nothing
    // is validated, the document just states the shape.
    #[oai(validator(pattern = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))]
    pub refresh_token: String,
    /// Login only: an opaque, long-lived token bound to this account. Keep
    /// it on this device and send it with later logins: it lets the owner
    /// sign in while others' failed guesses have the account locked.
    #[oai(skip_serializing_if_is_none)]
    pub device_token: Option<String>,
}

impl From<TokenPair> for TokenPairView {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token.expose().to_owned(),
            device_token: pair.device_token,
        }
    }
}

// The request objects below carry no `write_only`: they only ever travel in
// requests, and poem-openapi leaves write-only fields out of an object's
// example, which left the login example without a password.

/// E-mail and password.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct Credentials {
    /// At most 254 bytes; compared case-insensitively.
    pub email: EmailText,
    /// 12 characters to 72 bytes of UTF-8, hard to guess, not containing the address's local part.
    pub password: NewPasswordText,
}

impl Example for Credentials {
    fn example() -> Self {
        Self { email: "ada@example.com".into(), password: "correct-Horse-battery-staple".into() }
    }
}

/// E-mail and password, and the device token of an earlier login here.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct LoginRequest {
    /// At most 254 bytes; compared case-insensitively.
    pub email: EmailText,
    /// The account's password.
    pub password: Text,
    /// The `device_token` an earlier login on this device returned. A
    /// valid one exempts this login from the account-wide lockout and from
    /// locks earned by other addresses, within its own small failure
    /// budget; an invalid or expired one is ignored, and `null` or no
    /// field at all means none.
    #[oai(nullable)]
    pub device_token: Option<DeviceTokenText>,
}

impl Example for LoginRequest {
    fn example() -> Self {
        Self {
            email: "ada@example.com".into(),
            password: "correct-Horse-battery-staple".into(),
            device_token: Some(DeviceTokenText(format!("{}.1830000000.{}", "3f".repeat(16), "a1".repeat(32)))),
        }
    }
}

/// A refresh token to exchange.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct RefreshRequest {
    pub refresh_token: RefreshTokenText,
}

impl Example for RefreshRequest {
    fn example() -> Self {
        Self { refresh_token: "q4Zs0dVhYkq1a9W9o1p3m8Gd2bJx7nXyT6cRfLuE2sA".into() }
    }
}

/// Optionally, the refresh token of the session to end as well.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct LogoutRequest {
    /// Omitted or `null`: end only the caller's own session.
    #[oai(nullable)]
    pub refresh_token: Option<RefreshTokenText>,
}

impl Example for LogoutRequest {
    fn example() -> Self {
        Self { refresh_token: Some("q4Zs0dVhYkq1a9W9o1p3m8Gd2bJx7nXyT6cRfLuE2sA".into()) }
    }
}

/// The current password and the new one.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct PasswordChange {
    pub current_password: Text,
    /// The same rules as at registration.
    pub new_password: NewPasswordText,
}

impl Example for PasswordChange {
    fn example() -> Self {
        Self {
            current_password: "correct-Horse-battery-staple".into(),
            new_password: "another-Long-unusual-phrase-77".into(),
        }
    }
}

/// An account an admin creates: either with its first password (the
/// registration rules apply), or with `invite: true` and no password, in
/// which case the address is mailed an invitation link, valid 24 hours,
/// that sets the first password through `/v1/auth/password-reset/confirm`
/// and proves the address. Exactly one of the two: `422
/// password_or_invite` otherwise. The role defaults to `user`.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct NewUser {
    /// At most 254 bytes; compared case-insensitively.
    pub email: EmailText,
    /// 12 characters to 72 bytes of UTF-8, hard to guess, not containing the address's local part. Omitted with `invite: true`.
    pub password: Option<NewPasswordText>,
    // No doc comment: on a `$ref` it becomes an `allOf` that generated
    // clients refuse. The object's description says the default.
    pub role: Option<RoleView>,
    /// `true`: create the account without a usable password and mail it an invitation (`501 mail_disabled` without a mailer). Default `false`.
    pub invite: Option<bool>,
}

impl Example for NewUser {
    fn example() -> Self {
        Self {
            email: "grace@example.com".into(),
            password: Some("correct-Horse-battery-staple".into()),
            role: Some(RoleView::User),
            invite: Some(false),
        }
    }
}

/// Fields to change; omitted fields stay as they are (`null` is refused).
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct UserPatch {
    pub role: MaybeUndefined<RoleView>,
    pub status: MaybeUndefined<StatusView>,
}

impl Example for UserPatch {
    fn example() -> Self {
        Self { role: MaybeUndefined::Value(RoleView::Admin), status: MaybeUndefined::Value(StatusView::Active) }
    }
}

/// One page of users in creation order.
#[derive(Object)]
#[oai(rename = "UserPage")]
pub struct UserPageView {
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum RegisterOk {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<UserView>),
}

#[derive(ApiResponse)]
pub enum TokensOk {
    /// A new token pair.
    #[oai(status = 200)]
    Ok(Json<TokenPairView>),
}

#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[derive(ApiResponse)]
pub enum VerifyOk {
    /// The token is valid; the headers name its user.
    #[oai(status = 200)]
    Valid(#[oai(header = "X-User-Id")] String, #[oai(header = "X-User-Role")] String),
}

#[derive(ApiResponse)]
pub enum UserOk {
    /// The user.
    #[oai(status = 200)]
    Ok(Json<UserView>),
}

#[derive(ApiResponse)]
pub enum UserPageOk {
    /// A page of users.
    #[oai(status = 200)]
    Ok(Json<UserPageView>),
}
