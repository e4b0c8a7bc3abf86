//! `GET /.well-known/jwks.json`: the public keys of the ring's asymmetric
//! keys (active and verify-only), so other services can verify access
//! tokens without holding a key that can mint them. HS256 keys are never
//! published in any form: a ring of them publishes an empty set.

use super::state::AppState;
use super::ApiTags;
use crate::core::keyring::PublicKey;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use std::sync::Arc;

/// One public key, as RFC 7517 / RFC 8037 write it.
#[derive(Object, Debug, PartialEq, Eq)]
pub struct Jwk {
    /// `OKP` (Ed25519) or `EC` (P-256).
    pub kty: String,
    /// `Ed25519` or `P-256`.
    pub crv: String,
    /// base64url public key (Ed25519) or x coordinate (P-256).
    pub x: String,
    /// base64url y coordinate (P-256 only).
    #[oai(skip_serializing_if_is_none)]
    pub y: Option<String>,
    /// The `kid` tokens signed by this key carry.
    pub kid: String,
    /// `EdDSA` or `ES256`: the only algorithm this key verifies.
    pub alg: String,
    /// Always `sig`.
    #[oai(rename = "use")]
    pub use_: String,
}

impl From<&PublicKey> for Jwk {
    fn from(key: &PublicKey) -> Self {
        Self {
            kty: key.kty.to_owned(),
            crv: key.crv.to_owned(),
            x: key.x.clone(),
            y: key.y.clone(),
            kid: key.kid.clone(),
            alg: key.alg.as_str().to_owned(),
            use_: "sig".to_owned(),
        }
    }
}

/// A JSON Web Key Set.
#[derive(Object)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// The public keys; cacheable for one refresh interval of the ring.
    #[oai(status = 200)]
    Ok(Json<JwkSet>, #[oai(header = "Cache-Control")] String),
}

pub struct JwksApi;

#[OpenApi(tag = "ApiTags::Operations")]
impl JwksApi {
    /// Public signing keys (JWKS)
    ///
    /// The public keys of the EdDSA and ES256 keys of the ring, active and
    /// verify-only, so that other services can verify access tokens. A ring
    /// of HS256 keys publishes `{"keys": []}`. Cacheable for one refresh
    /// interval of the key ring (`PORTCULLIS_SECRETS_REFRESH_SECONDS`).
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: Data<&Arc<AppState>>) -> JwksResponse {
        let ring = state.auth.keys();
        let keys = ring.public_keys().map(Jwk::from).collect();
        let cache = format!("public, max-age={}", state.keys.interval().as_secs());
        JwksResponse::Ok(Json(JwkSet { keys }), cache)
    }
}
