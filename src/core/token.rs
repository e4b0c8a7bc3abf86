//! Access tokens: their claims and the rules every token meets whatever
//! key signed it. The keys themselves, and which algorithm each one pins,
//! are the key ring's ([`super::keyring`]). A header this service does not
//! fully understand is refused: any `crit` (RFC 7515 §4.1.11: no extension
//! is implemented here) and any `typ` but `JWT` or `at+jwt`.

use super::session::SessionId;
use super::user::{CredentialEpoch, Role, UnixSeconds, UserId};
use super::verified_tokens::Verified;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use super::keyring::KeyRing;

/// Shortest HS256 key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;
/// Longest token even looked at, in bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Most clock leeway allowed when checking `exp` and `nbf`.
pub const MAX_LEEWAY_SECONDS: i64 = 30;

/// Issuer, audience and lifetime of access tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_seconds: i64,
    pub leeway_seconds: i64,
}

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub role: String,
    pub sid: Uuid,
    pub jti: Uuid,
    pub iat: UnixSeconds,
    pub nbf: UnixSeconds,
    pub exp: UnixSeconds,
    /// The user's credential epoch when the token was issued: the token is
    /// refused once the user's has moved past it.
    pub epoch: CredentialEpoch,
    /// How the session was authenticated (RFC 8176): `["pwd"]`, or
    /// `["pwd", "otp"]` after a second factor. Absent from tokens issued
    /// before the claim existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// `amr` of a session opened with the password alone.
pub const AMR_PASSWORD: &[&str] = &["pwd"];
/// `amr` of a session opened with the password and a TOTP code (or a
/// recovery code).
pub const AMR_PASSWORD_OTP: &[&str] = &["pwd", "otp"];

/// Who a verified access token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
    pub session_id: SessionId,
    pub token_id: Uuid,
    pub issued_at: UnixSeconds,
    pub expires_at: UnixSeconds,
    pub credential_epoch: CredentialEpoch,
}

/// Why an access token was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token has expired")]
    Expired,
    #[error("token has been revoked")]
    Revoked,
    #[error("token is invalid")]
    Invalid,
}

/// A configured key could not be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("signing key #{position} is {length} bytes; HS256 keys must be at least {MIN_KEY_BYTES} bytes")]
    TooShort { position: usize, length: usize },
}

/// The one HS256 key-length rule: the key ring and configuration both ask
/// it, so a key configuration accepts is a key the ring accepts.
///
/// # Errors
/// [`KeyError::TooShort`] naming the key's 1-based `position`, never its bytes.
pub fn check_key_length(position: usize, key: &[u8]) -> Result<(), KeyError> {
    if key.len() < MIN_KEY_BYTES {
        return Err(KeyError::TooShort { position, length: key.len() });
    }
    Ok(())
}

/// What a token whose signature has been checked says, before the clock
/// judges it: the part that cannot change while its key stays in the ring.
pub(crate) fn claims_to_verified(claims: &AccessClaims) -> Result<Verified, TokenError> {
    let role = claims.role.parse::<Role>().map_err(|_| TokenError::Invalid)?;
    let principal = Principal {
        user_id: UserId::from_uuid(claims.sub),
        role,
        session_id: SessionId::from_uuid(claims.sid),
        token_id: claims.jti,
        issued_at: claims.iat,
        expires_at: claims.exp,
        credential_epoch: claims.epoch,
    };
    Ok(Verified { principal, not_before: claims.nbf.max(claims.iat) })
}

/// The clock's part of the bearer check, made on every check, cached or not:
/// valid from `not_before` and until `exp`, with leeway either side.
///
/// # Errors
/// [`TokenError::Invalid`] before `not_before`, [`TokenError::Expired`] from `exp`.
pub fn check_lifetime(verified: &Verified, settings: &TokenSettings, now: UnixSeconds) -> Result<(), TokenError> {
    let leeway = settings.leeway_seconds.clamp(0, MAX_LEEWAY_SECONDS);
    if verified.not_before > now + leeway {
        return Err(TokenError::Invalid);
    }
    if verified.principal.expires_at <= now - leeway {
        return Err(TokenError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use proptest::prelude::*;
    use secrecy::SecretString;
    use sha2::Sha256;

    const NOW: UnixSeconds = UnixSeconds::new(1_800_000_000);

    fn secret(fill: char) -> SecretString {
        SecretString::from(fill.to_string().repeat(40))
    }

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "portcullis".into(),
            audience: "portcullis-api".into(),
            access_ttl_seconds: 900,
            leeway_seconds: 30,
        }
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "portcullis".into(),
            aud: "portcullis-api".into(),
            sub: Uuid::from_u128(1),
            role: "user".into(),
            sid: Uuid::from_u128(2),
            jti: Uuid::from_u128(3),
            iat: NOW,
            nbf: NOW,
            exp: NOW + 900,
            epoch: CredentialEpoch::INITIAL,
            amr: vec!["pwd".into()],
        }
    }

    fn ring(fills: &[char]) -> KeyRing {
        KeyRing::new(&fills.iter().map(|c| secret(*c)).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn a_signed_token_verifies_and_names_its_key() {
        let ring = ring(&['a']);
        let token = ring.sign(&claims());
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
        assert_eq!(header.kid.as_deref(), Some(ring.signing_kid()));
        let principal = ring.verify(&token, &settings(), NOW).unwrap();
        assert_eq!(principal.user_id, UserId::from_uuid(Uuid::from_u128(1)));
        assert_eq!(principal.role, Role::User);
    }

    #[test]
    fn every_key_in_the_ring_verifies_and_a_removed_key_does_not() {
        let old = ring(&['a']);
        let token = old.sign(&claims());
        assert!(ring(&['b', 'a']).verify(&token, &settings(), NOW).is_ok());
        assert_eq!(ring(&['b']).verify(&token, &settings(), NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn short_keys_are_refused_with_their_position() {
        use crate::core::keyring::{KeyName, RingError};
        let keys = [secret('a'), SecretString::from("short".to_string())];
        assert_eq!(KeyRing::new(&keys).unwrap_err(), RingError::TooShort { key: KeyName::Position(2), length: 5 });
        assert_eq!(KeyRing::new(&[]).unwrap_err(), RingError::Empty);
        assert_eq!(check_key_length(2, b"short"), Err(KeyError::TooShort { position: 2, length: 5 }));
    }

    #[test]
    fn expiry_and_not_before_honour_the_leeway() {
        let ring = ring(&['a']);
        let token = ring.sign(&claims());
        assert!(ring.verify(&token, &settings(), NOW + 900 + 29).is_ok());
        assert_eq!(ring.verify(&token, &settings(), NOW + 900 + 30), Err(TokenError::Expired));
        assert!(ring.verify(&token, &settings(), NOW - 30).is_ok());
        assert_eq!(ring.verify(&token, &settings(), NOW - 31), Err(TokenError::Invalid));
    }

    #[test]
    fn wrong_issuer_or_audience_is_rejected() {
        let ring = ring(&['a']);
        for mutate in [|c: &mut AccessClaims| c.iss = "other".into(), |c: &mut AccessClaims| c.aud = "other".into()] {
            let mut bad = claims();
            mutate(&mut bad);
            assert_eq!(ring.verify(&ring.sign(&bad), &settings(), NOW), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn other_algorithms_and_none_are_rejected() {
        let ring = ring(&['a']);
        let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let body = b64(&serde_json::to_value(claims()).unwrap());
        for alg in ["none", "HS384", "HS512", "RS256"] {
            let header = b64(&serde_json::json!({"alg": alg, "typ": "JWT", "kid": ring.signing_kid()}));
            let token = format!("{header}.{body}.");
            assert_eq!(ring.verify(&token, &settings(), NOW), Err(TokenError::Invalid), "{alg}");
        }
        // HS512 signed with the very same secret is still refused.
        let mut header = Header::new(Algorithm::HS512);
        header.kid = Some(ring.signing_kid().to_owned());
        let hs512 =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret("a".repeat(40).as_bytes())).unwrap();
        assert_eq!(ring.verify(&hs512, &settings(), NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn missing_or_unknown_kid_and_missing_claims_are_rejected() {
        let ring = ring(&['a']);
        let key = EncodingKey::from_secret("a".repeat(40).as_bytes());
        let no_kid = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &key).unwrap();
        assert_eq!(ring.verify(&no_kid, &settings(), NOW), Err(TokenError::Invalid));
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(ring.signing_kid().to_owned());
        let mut partial = serde_json::to_value(claims()).unwrap();
        partial.as_object_mut().unwrap().remove("exp");
        let no_exp = jsonwebtoken::encode(&header, &partial, &key).unwrap();
        assert_eq!(ring.verify(&no_exp, &settings(), NOW), Err(TokenError::Invalid));
    }

    /// A token signed with the ring's key under `header`, `alg` and `kid` set.
    fn signed_with_header(ring: &KeyRing, mut header: serde_json::Value) -> String {
        let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        header["alg"] = "HS256".into();
        header["kid"] = ring.signing_kid().into();
        let input = format!("{}.{}", b64(&header), b64(&serde_json::to_value(claims()).unwrap()));
        let mut mac = Hmac::<Sha256>::new_from_slice("a".repeat(40).as_bytes()).unwrap();
        mac.update(input.as_bytes());
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{input}.{signature}")
    }

    #[test]
    fn a_critical_header_parameter_is_refused_whatever_it_names() {
        let ring = ring(&['a']);
        assert!(ring.verify(&signed_with_header(&ring, serde_json::json!({})), &settings(), NOW).is_ok());
        for crit in [serde_json::json!(["exp"]), serde_json::json!(["b64"]), serde_json::json!([]), "x".into()] {
            let token = signed_with_header(&ring, serde_json::json!({"crit": crit, "b64": false, "exp": 1}));
            assert_eq!(ring.verify(&token, &settings(), NOW), Err(TokenError::Invalid), "{crit}");
        }
    }

    #[test]
    fn a_type_other_than_jwt_or_at_jwt_is_refused() {
        let ring = ring(&['a']);
        for typ in ["JWT", "jwt", "at+jwt", "AT+JWT"] {
            let token = signed_with_header(&ring, serde_json::json!({"typ": typ}));
            assert!(ring.verify(&token, &settings(), NOW).is_ok(), "{typ}");
        }
        for typ in [serde_json::json!("JOSE"), "secevent+jwt".into(), "".into(), serde_json::json!(1)] {
            let token = signed_with_header(&ring, serde_json::json!({"typ": typ}));
            assert_eq!(ring.verify(&token, &settings(), NOW), Err(TokenError::Invalid), "{typ}");
        }
    }

    #[test]
    fn tokens_over_8_kib_are_rejected_unread() {
        let ring = ring(&['a']);
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(ring.verify(&huge, &settings(), NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn a_tampered_signature_is_rejected() {
        let ring = ring(&['a']);
        let mut token = ring.sign(&claims());
        let last = token.pop().unwrap();
        token.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(ring.verify(&token, &settings(), NOW), Err(TokenError::Invalid));
    }

    #[test]
    fn key_ids_do_not_reveal_keys_and_debug_hides_them() {
        let ring = ring(&['a']);
        assert_eq!(ring.signing_kid().len(), 16);
        assert!(!format!("{ring:?}").contains("aaaa"));
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_verifies_or_panics(input in "\\PC{0,600}") {
            prop_assert!(ring(&['a']).verify(&input, &settings(), NOW).is_err());
        }
    }
}
