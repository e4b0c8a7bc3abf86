//! A JSON string that is only ever a string.
//!
//! poem-openapi's `String` also accepts JSON numbers and booleans, turning
//! `{"password": 123}` into the text "123"; a client that sends the wrong
//! type should hear so, with `400`, instead. The shaped variants below are
//! the same, with a schema that tells clients (and fuzzers) what is accepted.

use crate::core::email::MAX_EMAIL_BYTES;
use crate::core::password::MIN_PASSWORD_CHARS;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;
use std::borrow::Cow;

/// A request field that must be a JSON string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Ok(Self(text)),
            Some(other) => Err(ParseError::expected_type(other)),
            None => Err(ParseError::expected_input()),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

/// The shape of the refresh tokens this service issues: 256 random bits as
/// unpadded base64url, 43 characters, the last one carrying 4 bits.
pub const REFRESH_TOKEN_PATTERN: &str = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$";

/// A JSON string like [`Text`] whose schema also states the shape the
/// handlers accept. Only the document says so: the handlers judge the
/// value, so one of another shape keeps its documented answer (a `422`
/// naming the field, or a `401`), instead of the `400` a poem-openapi
/// validator would give.
///
/// With `max_chars`, a longer string is refused as the schema's
/// `maxLength` says (a `400`, as for any value of the wrong type).
macro_rules! shaped_text {
    ($(#[$meta:meta])* $name:ident, $schema_name:literal, $schema:expr $(, max_chars = $max:expr)?) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(pub String);

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = String;
            type RawElementValueType = String;

            fn name() -> Cow<'static, str> {
                $schema_name.into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(&self.0)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                let text = Text::parse_from_json(value).map_err(ParseError::propagate)?;
                $(
                    if text.0.chars().count() > $max {
                        return Err(ParseError::custom(format!("longer than {} characters", $max)));
                    }
                )?
                Ok(Self(text.0))
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<Value> {
                Some(Value::String(self.0.clone()))
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }
    };
}

shaped_text!(
    /// A refresh token in a request, documented with the shape this service
    /// issues (a token of another shape is still a `401` on refresh and a
    /// `422` on logout).
    RefreshTokenText,
    "RefreshToken",
    MetaSchema { pattern: Some(REFRESH_TOKEN_PATTERN.to_owned()), ..MetaSchema::new("string") }
);

shaped_text!(
    /// An e-mail address in a request, documented as `format: email` of at
    /// most 254 characters (the handlers trim it, count bytes and check the
    /// syntax: a `422 validation_failed` otherwise).
    EmailText,
    "Email",
    MetaSchema { max_length: Some(MAX_EMAIL_BYTES), ..MetaSchema::new_with_format("string", "email") }
);

shaped_text!(
    /// A password being chosen, documented with `minLength: 12`, the one
    /// password rule JSON Schema can state (the handlers count it after
    /// NFKC normalisation and judge the byte limit and the strength: a `422
    /// weak_password` otherwise).
    NewPasswordText,
    "NewPassword",
    MetaSchema { min_length: Some(MIN_PASSWORD_CHARS), ..MetaSchema::new("string") }
);

/// Longest device token accepted; the ones this service issues are far
/// shorter.
pub const MAX_DEVICE_TOKEN_CHARS: usize = 256;

shaped_text!(
    /// A device token in a login: a JSON string, never a number or a
    /// boolean passed off as one (an unknown or expired token is ignored).
    DeviceTokenText,
    "DeviceToken",
    MetaSchema { max_length: Some(MAX_DEVICE_TOKEN_CHARS), ..MetaSchema::new("string") },
    max_chars = MAX_DEVICE_TOKEN_CHARS
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaped_texts_are_strings_documented_with_their_shape() {
        assert_eq!(RefreshTokenText::parse_from_json(Some(Value::String("t".into()))).unwrap(), "t".into());
        assert!(RefreshTokenText::parse_from_json(Some(serde_json::json!(1))).is_err());
        assert!(EmailText::parse_from_json(Some(Value::Null)).is_err());
        assert_eq!(EmailText::from("not checked here").to_json(), Some(Value::String("not checked here".into())));
        let MetaSchemaRef::Inline(token) = RefreshTokenText::schema_ref() else { panic!("inline schema") };
        assert_eq!(token.pattern.as_deref(), Some(REFRESH_TOKEN_PATTERN));
        let MetaSchemaRef::Inline(email) = EmailText::schema_ref() else { panic!("inline schema") };
        assert_eq!((email.format, email.max_length), (Some("email"), Some(MAX_EMAIL_BYTES)));
        let MetaSchemaRef::Inline(password) = NewPasswordText::schema_ref() else { panic!("inline schema") };
        assert_eq!(password.min_length, Some(MIN_PASSWORD_CHARS));
        assert!(NewPasswordText::parse_from_json(Some(serde_json::json!(123_456_789_012_u64))).is_err());
    }

    #[test]
    fn only_strings_parse() {
        assert_eq!(Text::parse_from_json(Some(Value::String("a".into()))).unwrap(), Text("a".into()));
        for wrong in [serde_json::json!(123), serde_json::json!(true), serde_json::json!(null), serde_json::json!([])] {
            assert!(Text::parse_from_json(Some(wrong)).is_err());
        }
        assert!(Text::parse_from_json(None).is_err());
        assert_eq!(Text::from("x").to_json(), Some(Value::String("x".into())));
    }

    #[test]
    fn a_device_token_is_a_string_of_bounded_length() {
        let parse = |value: Value| DeviceTokenText::parse_from_json(Some(value));
        assert_eq!(parse(Value::String("abc".into())).unwrap().0, "abc");
        assert!(parse(Value::String("é".repeat(MAX_DEVICE_TOKEN_CHARS))).is_ok());
        assert!(parse(Value::String("x".repeat(MAX_DEVICE_TOKEN_CHARS + 1))).is_err());
        for wrong in [serde_json::json!(1), serde_json::json!(true), serde_json::json!(1.5), serde_json::json!([])] {
            assert!(parse(wrong.clone()).is_err(), "{wrong} was taken for a device token");
        }
    }
}
