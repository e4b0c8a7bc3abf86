//! The HTTP API: one poem-openapi impl per tag. Handlers translate between
//! wire types and the core; they hold no rules of their own.

use super::middleware::VerifiedBearer;
use super::problem::{endpoint_errors, Problem};
use super::text::{EmailText, RefreshTokenText, Text};
use super::{AppState, ClientIp};
use crate::core::admin::{AdminError, MAX_PAGE_SIZE};
use crate::core::auth::{
    LoginError, LogoutError, PasswordChangeError, RefreshError, RegisterError, ServiceFailure, TokenPair,
};
use crate::core::password::PasswordError;
use crate::core::token::{Principal, TokenError};
use crate::core::user::{Role, User, UserChange, UserId, UserStatus};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::auth::Bearer;
use poem_openapi::error::ParseRequestPayloadError;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{Example, MaybeUndefined, ParseError, ParseFromJSON, ParseFromParameter, ParseResult, Type};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, SecurityScheme, Tags};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Tags)]
pub enum ApiTags {
    /// Registration, sign-in, token refresh and sign-out.
    Auth,
    /// The signed-in user's own account.
    Users,
    /// User administration; needs the admin role.
    Admin,
    /// Liveness and readiness probes.
    Operations,
}

/// An HS256 JWT access token, sent as `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(Principal);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let verdict = match req.data::<VerifiedBearer>() {
        Some(checked) if checked.token == bearer.token => checked.verdict.clone(),
        _ => {
            let state = req.data::<Arc<AppState>>().ok_or_else(|| poem::Error::from(Problem::internal()))?;
            state.auth.authenticate(&bearer.token)
        }
    };
    verdict.map_err(|error| token_problem(error).into())
}

pub fn token_problem(error: TokenError) -> Problem {
    match error {
        TokenError::Expired => Problem::new(StatusCode::UNAUTHORIZED, "token_expired", "the access token has expired"),
        TokenError::Revoked => {
            Problem::new(StatusCode::UNAUTHORIZED, "token_revoked", "the access token has been revoked")
        }
        TokenError::Invalid => Problem::invalid_token("the access token is invalid"),
    }
}

fn failure_problem(failure: ServiceFailure) -> Problem {
    match failure {
        ServiceFailure::Busy { retry_after } => Problem::unavailable(retry_after),
        ServiceFailure::Unavailable(source) => {
            tracing::warn!(error = ?source, "dependency unavailable");
            Problem::unavailable(Duration::from_secs(1))
        }
        ServiceFailure::Unexpected(source) => {
            tracing::error!(error = ?source, "unexpected failure");
            Problem::internal()
        }
    }
}

fn password_problem(field: &str, error: &PasswordError) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", format!("{field}: {error}"))
        .field(field, error.to_string())
}

// ---- wire types ----

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
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

fn timestamp(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id.as_uuid(),
            email: user.email.as_str().to_owned(),
            role: user.role.into(),
            status: user.status.into(),
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
}

impl From<TokenPair> for TokenPairView {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token.expose().to_owned(),
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
    pub password: Text,
}

impl Example for Credentials {
    fn example() -> Self {
        Self { email: "ada@example.com".into(), password: "correct-Horse-battery-staple".into() }
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

/// A JSON request body that may be left out, but is an object when sent.
/// `Json<Option<T>>` would also take a literal `null` body, which the
/// document does not allow; here `null` is a `400` like any wrong type.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: Type> Payload for OptionalJson<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for OptionalJson<T> {
    const IS_REQUIRED: bool = false;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let malformed = |reason: String| ParseRequestPayloadError { reason };
        let data = Vec::<u8>::from_request(request, body).await?;
        if data.is_empty() {
            return Ok(Self(None));
        }
        let value: serde_json::Value = serde_json::from_slice(&data).map_err(|e| malformed(e.to_string()))?;
        if value.is_null() {
            return Err(malformed("expected an object or no body at all, found null".to_owned()).into());
        }
        let parsed = T::parse_from_json(Some(value)).map_err(|e| malformed(e.into_message()))?;
        Ok(Self(Some(parsed)))
    }
}

poem_openapi::impl_apirequest_for_payload!(OptionalJson<T>, T: ParseFromJSON);

/// The current password and the new one.
#[derive(Object)]
#[oai(deny_unknown_fields, example)]
pub struct PasswordChange {
    pub current_password: Text,
    /// The same rules as at registration.
    pub new_password: Text,
}

impl Example for PasswordChange {
    fn example() -> Self {
        Self {
            current_password: "correct-Horse-battery-staple".into(),
            new_password: "another-Long-unusual-phrase-77".into(),
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

/// An omitted field is no change; `null` is refused, as the schema says
/// (an `Option` would quietly take `null` for "omitted").
fn patch_field<T>(name: &str, field: MaybeUndefined<T>) -> Result<Option<T>, Problem> {
    match field {
        MaybeUndefined::Null => Err(Problem::validation(name, "must not be null; omit it to leave it unchanged")),
        other => Ok(other.take()),
    }
}

/// `limit` of the user list. The schema states the accepted range; the
/// handler checks it, so a value outside it is a `422 validation_failed`
/// naming the field (a poem-openapi validator would make it a `400`).
pub struct PageSize(pub i64);

impl Type for PageSize {
    const IS_REQUIRED: bool = true;
    type RawValueType = i64;
    type RawElementValueType = i64;

    fn name() -> Cow<'static, str> {
        "PageSize".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            minimum: Some(1.0),
            maximum: Some(f64::from(MAX_PAGE_SIZE)),
            default: Some(DEFAULT_PAGE_SIZE.into()),
            ..MetaSchema::new_with_format("integer", "int64")
        }))
    }

    fn as_raw_value(&self) -> Option<&i64> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a i64> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for PageSize {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        i64::parse_from_parameter(value).map(Self).map_err(ParseError::propagate)
    }
}

const DEFAULT_PAGE_SIZE: i64 = 50;

/// `cursor` of the user list: the `next_cursor` of the previous page. The
/// schema states its shape; anything else is a `422 validation_failed`
/// naming the field, checked by the handler.
pub struct Cursor(pub String);

/// The shape of a cursor (a user id, hyphenated).
const CURSOR_PATTERN: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

impl Type for Cursor {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "Cursor".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some(CURSOR_PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for Cursor {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self(value.to_owned()))
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

// ---- responses ----

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

endpoint_errors!(RegisterErrors {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// The address is already registered (`email_taken`).
    409 => Conflict,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Invalid address (`validation_failed`), weak password (`weak_password`) or unknown field.
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Password hashing saturated or storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(LoginErrors {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Unknown address or wrong password, alike (`invalid_credentials`).
    401 => Unauthorized,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Invalid address or unknown field (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited or locked out after failed logins (`rate_limited`).
    429 => TooManyRequests,
    /// Password hashing saturated or storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(RefreshErrors {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Unknown (`invalid_token`), expired (`token_expired`) or revoked/reused (`token_revoked`).
    401 => Unauthorized,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Unknown field (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(BearerBodyErrors {
    /// Malformed JSON or a wrong type.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token; or a wrong current password.
    401 => Unauthorized,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Validation failed (`validation_failed`, `weak_password`).
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Password hashing saturated or storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(BearerErrors {
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(VerifyErrors {
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
});

endpoint_errors!(AdminListErrors {
    /// A query parameter has the wrong type.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// The caller is not an admin (`forbidden`).
    403 => Forbidden,
    /// `limit` outside 1..=100 or a malformed cursor (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(AdminUserErrors {
    /// The id is not a UUID.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// The caller is not an admin (`forbidden`).
    403 => Forbidden,
    /// No such user (`not_found`).
    404 => NotFound,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(AdminChangeErrors {
    /// The id is not a UUID, malformed JSON or a wrong type.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// The caller is not an admin (`forbidden`).
    403 => Forbidden,
    /// No such user (`not_found`).
    404 => NotFound,
    /// The last active admin cannot be demoted, disabled or deleted (`last_admin`).
    409 => Conflict,
    /// Body over 16 KiB.
    413 => PayloadTooLarge,
    /// Unknown field or a `null` value (`validation_failed`).
    422 => Unprocessable,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

endpoint_errors!(AdminDeleteErrors {
    /// The id is not a UUID.
    400 => BadRequest,
    /// Missing, invalid, expired or revoked access token.
    401 => Unauthorized,
    /// The caller is not an admin (`forbidden`).
    403 => Forbidden,
    /// No such user (`not_found`).
    404 => NotFound,
    /// The last active admin cannot be deleted (`last_admin`).
    409 => Conflict,
} retry {
    /// Rate limited (`rate_limited`).
    429 => TooManyRequests,
    /// Storage unavailable.
    503 => Unavailable,
});

fn require_admin(principal: &Principal) -> Result<(), Problem> {
    if principal.role == Role::Admin {
        Ok(())
    } else {
        Err(Problem::forbidden())
    }
}

fn admin_problem(error: AdminError) -> Problem {
    match error {
        AdminError::NotFound => Problem::not_found("no user has this id"),
        AdminError::LastAdmin => Problem::new(
            StatusCode::CONFLICT,
            "last_admin",
            "the last active admin cannot be demoted, disabled or deleted",
        ),
        AdminError::Failure(failure) => failure_problem(failure),
    }
}

// ---- endpoints ----

pub struct AuthApi;

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Register a new account
    ///
    /// Creates an account with the `user` role.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<Credentials>,
    ) -> Result<RegisterOk, RegisterErrors> {
        let Credentials { email, password } = body.0;
        match state.auth.register(&email.0, password.0).await {
            Ok(user) => Ok(RegisterOk::Created(Json(user.into()))),
            Err(RegisterError::InvalidEmail(error)) => Err(Problem::validation("email", error.to_string()).into()),
            Err(RegisterError::WeakPassword(error)) => Err(password_problem("password", &error).into()),
            Err(RegisterError::EmailTaken) => {
                Err(Problem::new(StatusCode::CONFLICT, "email_taken", "this email address is already registered")
                    .into())
            }
            Err(RegisterError::Failure(failure)) => Err(failure_problem(failure).into()),
        }
    }

    /// Sign in
    ///
    /// Exchanges e-mail and password for an access token and a refresh token.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<Credentials>,
        client_ip: Data<&ClientIp>,
    ) -> Result<TokensOk, LoginErrors> {
        let Credentials { email, password } = body.0;
        match state.auth.login(&email.0, password.0, client_ip.0 .0).await {
            Ok(pair) => Ok(TokensOk::Ok(Json(pair.into()))),
            Err(LoginError::InvalidEmail(error)) => Err(Problem::validation("email", error.to_string()).into()),
            Err(LoginError::InvalidCredentials) => {
                Err(Problem::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "invalid email or password").into())
            }
            Err(LoginError::Locked { retry_after }) => Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many failed logins; this account is locked from this address for a while",
            )
            .retry_after(retry_after)
            .into()),
            Err(LoginError::Failure(failure)) => Err(failure_problem(failure).into()),
        }
    }

    /// Refresh the tokens
    ///
    /// Rotates the refresh token and issues a new access token. Presenting a
    /// rotated token again after the grace window revokes the session.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&Arc<AppState>>,
        body: Json<RefreshRequest>,
    ) -> Result<TokensOk, RefreshErrors> {
        match state.auth.refresh(&body.0.refresh_token.0).await {
            Ok(pair) => Ok(TokensOk::Ok(Json(pair.into()))),
            Err(RefreshError::Invalid) => Err(Problem::invalid_token("the refresh token is invalid").into()),
            Err(RefreshError::Expired) => {
                Err(Problem::new(StatusCode::UNAUTHORIZED, "token_expired", "the refresh token has expired").into())
            }
            Err(RefreshError::Revoked) => {
                Err(Problem::new(StatusCode::UNAUTHORIZED, "token_revoked", "the refresh token has been revoked")
                    .into())
            }
            Err(RefreshError::Failure(failure)) => Err(failure_problem(failure).into()),
        }
    }

    /// Sign out
    ///
    /// Revokes this session and this access token; with a refresh token,
    /// that token's session too.
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: OptionalJson<LogoutRequest>,
    ) -> Result<NoContent, BearerBodyErrors> {
        let refresh_token = body.0.and_then(|b| b.refresh_token);
        match state.auth.logout(&auth.0, refresh_token.as_ref().map(|t| t.0.as_str())).await {
            Ok(()) => Ok(NoContent::Done),
            Err(LogoutError::MalformedRefreshToken) => {
                Err(Problem::validation("refresh_token", "is not a refresh token issued by this service").into())
            }
            Err(LogoutError::Failure(failure)) => Err(failure_problem(failure).into()),
        }
    }

    /// Sign out everywhere
    ///
    /// Revokes every session and access token of the caller.
    #[oai(path = "/logout-all", method = "post", operation_id = "logoutAll")]
    async fn logout_all(&self, state: Data<&Arc<AppState>>, auth: BearerAuth) -> Result<NoContent, BearerErrors> {
        state.auth.logout_all(&auth.0).await.map_err(failure_problem)?;
        Ok(NoContent::Done)
    }

    /// Check a bearer token
    ///
    /// For gateway forward-auth (nginx `auth_request`, Traefik ForwardAuth):
    /// 200 with `X-User-Id` and `X-User-Role` when the token is valid.
    /// Needs no database round trip.
    #[oai(path = "/verify", method = "get", operation_id = "verify")]
    async fn verify(&self, auth: BearerAuth) -> Result<VerifyOk, VerifyErrors> {
        Ok(VerifyOk::Valid(auth.0.user_id.to_string(), auth.0.role.as_str().to_owned()))
    }
}

pub struct UsersApi;

#[OpenApi(prefix_path = "/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// The signed-in user
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, state: Data<&Arc<AppState>>, auth: BearerAuth) -> Result<UserOk, BearerErrors> {
        match state.auth.current_user(&auth.0).await.map_err(failure_problem)? {
            Some(user) => Ok(UserOk::Ok(Json(user.into()))),
            None => Err(Problem::new(StatusCode::UNAUTHORIZED, "token_revoked", "the user no longer exists").into()),
        }
    }

    /// Change the password
    ///
    /// Keeps this session; ends every other session and every access token
    /// issued before the change (refresh to get a new one).
    #[oai(path = "/me/password", method = "put", operation_id = "changePassword")]
    async fn change_password(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: Json<PasswordChange>,
    ) -> Result<NoContent, BearerBodyErrors> {
        let PasswordChange { current_password, new_password } = body.0;
        match state.auth.change_password(&auth.0, current_password.0, new_password.0).await {
            Ok(()) => Ok(NoContent::Done),
            Err(PasswordChangeError::InvalidCredentials) => {
                Err(Problem::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "the current password is wrong")
                    .into())
            }
            Err(PasswordChangeError::WeakPassword(error)) => Err(password_problem("new_password", &error).into()),
            Err(PasswordChangeError::UserGone) => {
                Err(Problem::new(StatusCode::UNAUTHORIZED, "token_revoked", "the user no longer exists").into())
            }
            Err(PasswordChangeError::Failure(failure)) => Err(failure_problem(failure).into()),
        }
    }
}

pub struct AdminApi;

#[OpenApi(prefix_path = "/v1/admin/users", tag = "ApiTags::Admin")]
impl AdminApi {
    /// List users
    ///
    /// Keyset pagination in creation order: pass `next_cursor` as `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listUsers")]
    async fn list(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// Page size, 1..=100 (default 50).
        limit: Query<Option<PageSize>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<Cursor>>,
    ) -> Result<UserPageOk, AdminListErrors> {
        require_admin(&auth.0)?;
        let limit = limit.0.map_or(DEFAULT_PAGE_SIZE, |size| size.0);
        let limit = u32::try_from(limit)
            .ok()
            .filter(|l| (1..=MAX_PAGE_SIZE).contains(l))
            .ok_or_else(|| Problem::validation("limit", format!("must be between 1 and {MAX_PAGE_SIZE}")))?;
        let cursor = cursor
            .0
            .map(|c| {
                c.0.parse::<UserId>().map_err(|_| Problem::validation("cursor", "is not a cursor from a previous page"))
            })
            .transpose()?;
        let page = state.auth.list_users(limit, cursor).await.map_err(admin_problem)?;
        Ok(UserPageOk::Ok(Json(UserPageView {
            items: page.items.into_iter().map(UserView::from).collect(),
            next_cursor: page.next_cursor.map(|id| id.to_string()),
        })))
    }

    /// Get a user
    #[oai(path = "/:id", method = "get", operation_id = "getUser")]
    async fn get(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<UserOk, AdminUserErrors> {
        require_admin(&auth.0)?;
        let user = state.auth.get_user(UserId::from_uuid(id.0)).await.map_err(admin_problem)?;
        Ok(UserOk::Ok(Json(user.into())))
    }

    /// Change a user's role or status
    ///
    /// Disabling revokes the user's sessions. The last active admin cannot
    /// be demoted or disabled.
    #[oai(path = "/:id", method = "patch", operation_id = "updateUser")]
    async fn update(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<UserPatch>,
    ) -> Result<UserOk, AdminChangeErrors> {
        require_admin(&auth.0)?;
        let UserPatch { role, status } = body.0;
        let change = UserChange {
            role: patch_field("role", role)?.map(Role::from),
            status: patch_field("status", status)?.map(UserStatus::from),
        };
        let user = state.auth.update_user(UserId::from_uuid(id.0), change).await.map_err(admin_problem)?;
        Ok(UserOk::Ok(Json(user.into())))
    }

    /// Clear a user's lockout
    ///
    /// Forgets the failed logins of the account, from every address.
    #[oai(path = "/:id/unlock", method = "post", operation_id = "unlockUser")]
    async fn unlock(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<NoContent, AdminUserErrors> {
        require_admin(&auth.0)?;
        state.auth.unlock_user(UserId::from_uuid(id.0)).await.map_err(admin_problem)?;
        Ok(NoContent::Done)
    }

    /// Delete a user
    ///
    /// Revokes the user's sessions. The last active admin cannot be deleted.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteUser")]
    async fn delete(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> Result<NoContent, AdminDeleteErrors> {
        require_admin(&auth.0)?;
        state.auth.delete_user(UserId::from_uuid(id.0)).await.map_err(admin_problem)?;
        Ok(NoContent::Done)
    }
}
