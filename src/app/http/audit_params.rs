//! The query parameters of `GET /v1/admin/audit`, each with a schema that
//! states exactly what the handler accepts: a request that matches the
//! OpenAPI document is never refused for its shape (client generators and
//! fuzzers rely on that). The handler still checks every value.

use crate::core::audit::AuditType;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseFromParameter, ParseResult, Type};
use std::borrow::Cow;

/// A string parameter whose schema is `schema()`; parsed later, by the handler.
macro_rules! string_param {
    ($(#[$doc:meta])* $name:ident, $schema:expr) => {
        $(#[$doc])*
        pub struct $name(pub String);

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = String;
            type RawElementValueType = String;

            fn name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new($schema))
            }

            fn as_raw_value(&self) -> Option<&String> {
                Some(&self.0)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                Ok(Self(value.to_owned()))
            }
        }
    };
}

/// 16 bytes in unpadded base64url: 21 characters and a last one that
/// carries 2 bits, so every string of this shape decodes.
pub const AUDIT_CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]{21}[AQgw]$";

string_param!(
    /// `next_cursor` of the previous page.
    AuditCursor,
    MetaSchema { pattern: Some(AUDIT_CURSOR_PATTERN.to_owned()), ..MetaSchema::new("string") }
);

string_param!(
    /// A user id.
    UserIdParam,
    MetaSchema {
        pattern: Some(
            "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$".to_owned()
        ),
        ..MetaSchema::new_with_format("string", "uuid")
    }
);

string_param!(
    /// An audit event type.
    AuditTypeParam,
    MetaSchema {
        enum_items: AuditType::ALL.iter().map(|kind| serde_json::Value::from(kind.as_str())).collect(),
        ..MetaSchema::new("string")
    }
);

string_param!(
    /// An RFC 3339 date-time.
    DateTimeParam,
    MetaSchema::new_with_format("string", "date-time")
);

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn every_string_the_cursor_pattern_allows_decodes_to_sixteen_bytes() {
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for last in ['A', 'Q', 'g', 'w'] {
            for fill in alphabet.chars() {
                let cursor = format!("{}{last}", fill.to_string().repeat(21));
                assert_eq!(URL_SAFE_NO_PAD.decode(&cursor).unwrap().len(), 16, "{cursor}");
            }
        }
        // And every cursor a page hands out has the shape.
        for byte in [0u8, 1, 127, 255] {
            let encoded = URL_SAFE_NO_PAD.encode([byte; 16]);
            assert!(encoded.len() == 22 && "AQgw".contains(encoded.chars().last().unwrap()), "{encoded}");
        }
    }
}
