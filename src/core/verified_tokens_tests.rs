//! The bearer check with its cache of verified tokens, as an attacker and
//! the clock see it: a token served from the cache is refused exactly when
//! a token checked in full would be.

use super::harness::{anonymous, harness, ring};
use super::keyring::KeyRing;
use super::token::TokenError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secrecy::SecretString;

#[tokio::test]
async fn a_cached_token_still_expires() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    assert_eq!(h.auth.authenticate(&pair.access_token).unwrap(), principal, "served again, unchanged");
    // 900 s of lifetime and 30 s of leeway.
    h.clock.advance(929);
    assert!(h.auth.authenticate(&pair.access_token).is_ok());
    h.clock.advance(1);
    assert_eq!(h.auth.authenticate(&pair.access_token), Err(TokenError::Expired));
}

#[tokio::test]
async fn a_cached_token_is_refused_once_revoked() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    h.auth.logout(&principal, None, &anonymous()).await.unwrap();
    assert_eq!(h.auth.authenticate(&pair.access_token), Err(TokenError::Revoked));
}

#[tokio::test]
async fn a_cached_token_is_refused_once_its_key_is_retired() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    h.auth.authenticate(&pair.access_token).unwrap();
    // The same key again in a new ring: a reload keeps its tokens valid.
    h.auth.live_keys().replace(ring());
    assert!(h.auth.authenticate(&pair.access_token).is_ok());
    let other = SecretString::from("z".repeat(32));
    h.auth.live_keys().replace(KeyRing::new(&[other]).unwrap());
    assert_eq!(h.auth.authenticate(&pair.access_token), Err(TokenError::Invalid));
}

#[tokio::test]
async fn a_forged_payload_under_a_cached_signature_is_refused() {
    let h = harness().await;
    let pair = h.signed_up("ada@example.com").await;
    let principal = h.auth.authenticate(&pair.access_token).unwrap();
    let parts: Vec<&str> = pair.access_token.split('.').collect();
    let mut claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["role"] = "admin".into();
    let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    assert_eq!(h.auth.authenticate(&forged), Err(TokenError::Invalid));
    // A token differing only in case, or trailing bytes, is another token.
    let shouted = format!("{}.{}.{}", parts[0], parts[1], parts[2].to_ascii_uppercase());
    assert_eq!(h.auth.authenticate(&shouted), Err(TokenError::Invalid));
    assert_eq!(h.auth.authenticate(&format!("{}=", pair.access_token)), Err(TokenError::Invalid));
    assert_eq!(h.auth.authenticate(&pair.access_token).unwrap(), principal, "the real token still passes");
}
