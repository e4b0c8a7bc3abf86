//! The compact serialisation of a signed token (RFC 7515 §7.1), read once:
//! its three parts, its protected header and the rules this service sets on
//! it, and the HS256 check with a key the key ring prepared once. Must never
//! accept a token that `jsonwebtoken` would refuse.
//!
//! The header is read into borrowed fields, in one pass, so the bearer
//! check on every gateway request allocates nothing for it. The parameters
//! `jsonwebtoken` types (`cty`, `jku`, `jwk`, `x5u`, `x5c`, `x5t`,
//! `x5t#S256`) are typed alike here, so a header that one refuses the other
//! refuses too.

use super::token::{AccessClaims, TokenError, TokenSettings};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;

/// A compact token split into its parts.
pub(crate) struct Compact<'a> {
    /// `header.payload`: what the signature covers.
    pub signing_input: &'a str,
    /// The payload, base64url.
    pub payload: &'a str,
    /// The signature, base64url.
    pub signature: &'a str,
    /// The protected header, decoded.
    pub header: Vec<u8>,
}

impl<'a> Compact<'a> {
    /// Splits `token` into exactly three parts and decodes its header.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] for any other number of parts or a header that
    /// is not base64url without padding.
    pub fn split(token: &'a str) -> Result<Self, TokenError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        let (encoded_header, payload) = signing_input.split_once('.').ok_or(TokenError::Invalid)?;
        if payload.contains('.') {
            return Err(TokenError::Invalid);
        }
        let header = URL_SAFE_NO_PAD.decode(encoded_header).map_err(|_| TokenError::Invalid)?;
        Ok(Self { signing_input, payload, signature, header })
    }

    /// The header parameters, checked against this service's rules: a
    /// `kid` is required, `crit` refuses the token whatever it names (no
    /// extension is implemented), and `typ`, compared without case as RFC
    /// 7515 advises, is `JWT` or `at+jwt` when present.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] when the header breaks any of these rules or
    /// is not a JSON object of correctly typed parameters.
    pub fn header(&self) -> Result<JoseHeader<'_>, TokenError> {
        let header: JoseHeader<'_> = serde_json::from_slice(&self.header).map_err(|_| TokenError::Invalid)?;
        if header.crit.is_some() || header.kid.is_none() {
            return Err(TokenError::Invalid);
        }
        match header.typ.as_deref() {
            Some(typ) if !typ.eq_ignore_ascii_case("JWT") && !typ.eq_ignore_ascii_case("at+jwt") => {
                Err(TokenError::Invalid)
            }
            _ => Ok(header),
        }
    }

    /// The claims of an HS256 token whose signature `hmac` verifies (in
    /// constant time, by ring), read only once it does, with the issuer and
    /// audience `settings` name.
    pub fn hmac_claims(&self, hmac: &ring::hmac::Key, settings: &TokenSettings) -> Result<AccessClaims, TokenError> {
        let mut signature = [0_u8; 64];
        let length = URL_SAFE_NO_PAD.decode_slice(self.signature, &mut signature).map_err(|_| TokenError::Invalid)?;
        ring::hmac::verify(hmac, self.signing_input.as_bytes(), &signature[..length])
            .map_err(|_| TokenError::Invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(self.payload).map_err(|_| TokenError::Invalid)?;
        let claims: AccessClaims = serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        let expected = claims.iss == settings.issuer && claims.aud == settings.audience;
        expected.then_some(claims).ok_or(TokenError::Invalid)
    }
}

/// The protected header: what this service reads, and the parameters
/// `jsonwebtoken` types, typed alike.
#[derive(Deserialize)]
#[allow(dead_code)] // the typed parameters are read only for their shape
pub(crate) struct JoseHeader<'a> {
    #[serde(borrow)]
    pub alg: Cow<'a, str>,
    #[serde(borrow, default)]
    pub kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
    #[serde(borrow, default)]
    cty: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    jku: Option<Cow<'a, str>>,
    #[serde(default)]
    jwk: Option<jsonwebtoken::jwk::Jwk>,
    #[serde(borrow, default)]
    x5u: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    x5c: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    x5t: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "x5t#S256")]
    x5t_s256: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(header: &serde_json::Value) -> String {
        raw_token(&header.to_string())
    }

    fn raw_token(header: &str) -> String {
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn a_token_has_exactly_three_parts() {
        let good = token(&json!({"alg": "HS256", "kid": "k"}));
        let compact = Compact::split(&good).unwrap();
        assert_eq!((compact.payload, compact.signature), ("e30", "c2ln"));
        assert_eq!(compact.header().unwrap().kid.as_deref(), Some("k"));
        for bad in [format!("{good}.x"), good.replacen('.', "", 1), String::new(), "..".into(), "a.b.c".into()] {
            assert!(Compact::split(&bad).and_then(|compact| compact.header().map(|_| ())).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_parameters_are_typed_as_jsonwebtoken_types_them() {
        for refused in [
            json!({"alg": "HS256"}),
            json!({"alg": "HS256", "kid": 1}),
            json!({"alg": "HS256", "kid": "k", "cty": 1}),
            json!({"alg": "HS256", "kid": "k", "x5c": "not a list"}),
            json!({"alg": "HS256", "kid": "k", "jwk": 5}),
            json!({"alg": "HS256", "kid": "k", "crit": []}),
            json!({"alg": "HS256", "kid": "k", "typ": "JOSE"}),
            json!(["HS256"]),
        ] {
            let token = token(&refused);
            let split = Compact::split(&token).unwrap();
            assert!(split.header().is_err(), "{refused}");
        }
        let duplicate = raw_token(r#"{"alg":"HS256","alg":"HS256","kid":"k"}"#);
        assert!(Compact::split(&duplicate).unwrap().header().is_err());
        let escaped = token(&json!({"alg": "HS256", "kid": "k\u{e9}", "typ": "at+JWT", "other": {"x": 1}}));
        let split = Compact::split(&escaped).unwrap();
        assert_eq!(split.header().unwrap().kid.as_deref(), Some("k\u{e9}"));
    }
}
