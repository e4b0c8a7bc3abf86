//! Request parts that poem-openapi has no type for: an optional JSON body,
//! and the page size and cursor of the user list. Each states its shape in
//! the document and leaves judging the value to the handler, so a bad value
//! is a `422` naming the field rather than the framework's `400`.

use super::problem::Problem;
use crate::core::admin::MAX_PAGE_SIZE;
use crate::core::user::UserId;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::error::ParseRequestPayloadError;
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, Type};
use std::borrow::Cow;

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

/// The page size when the request names none.
pub const DEFAULT_PAGE_SIZE: i64 = 50;

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

impl PageSize {
    /// The page size asked for, or the default.
    ///
    /// # Errors
    /// A `422 validation_failed` naming `limit` outside 1..=[`MAX_PAGE_SIZE`].
    pub fn resolve(size: Option<Self>) -> Result<u32, Problem> {
        let limit = size.map_or(DEFAULT_PAGE_SIZE, |size| size.0);
        u32::try_from(limit)
            .ok()
            .filter(|limit| (1..=MAX_PAGE_SIZE).contains(limit))
            .ok_or_else(|| Problem::validation("limit", format!("must be between 1 and {MAX_PAGE_SIZE}")))
    }
}

impl Cursor {
    /// The session the next page of a session list starts after, if a
    /// cursor was sent.
    ///
    /// # Errors
    /// A `422 validation_failed` naming `cursor` when it is not a session id.
    pub fn resolve_session(cursor: Option<Self>) -> Result<Option<crate::core::session::SessionId>, Problem> {
        cursor
            .map(|cursor| {
                cursor.0.parse().map_err(|_| Problem::validation("cursor", "is not a cursor from a previous page"))
            })
            .transpose()
    }

    /// The user the next page starts after, if a cursor was sent.
    ///
    /// # Errors
    /// A `422 validation_failed` naming `cursor` when it is not a user id.
    pub fn resolve(cursor: Option<Self>) -> Result<Option<UserId>, Problem> {
        cursor
            .map(|cursor| {
                cursor
                    .0
                    .parse::<UserId>()
                    .map_err(|_| Problem::validation("cursor", "is not a cursor from a previous page"))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_outside_the_range_name_the_limit_field() {
        assert_eq!(PageSize::resolve(None).unwrap(), 50);
        assert_eq!(PageSize::resolve(Some(PageSize(100))).unwrap(), 100);
        for bad in [0, -1, 101, i64::MAX] {
            let problem = PageSize::resolve(Some(PageSize(bad))).unwrap_err();
            assert_eq!(problem.errors[0].field, "limit", "{bad}");
        }
    }

    #[test]
    fn a_cursor_is_a_user_id() {
        assert_eq!(Cursor::resolve(None).unwrap(), None);
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(Cursor::resolve(Some(Cursor(id.clone()))).unwrap().map(|user| user.to_string()), Some(id));
        assert_eq!(Cursor::resolve(Some(Cursor("x".into()))).unwrap_err().errors[0].field, "cursor");
    }
}
