//! Signing keys from the environment (`PORTCULLIS_JWT_KEYS`, or
//! `SECRET_KEY` for a single key), as read by the configuration layer.

use crate::ports::{RingDocument, SecretError, SecretSource};
use async_trait::async_trait;

/// The ring handed over by configuration.
pub struct EnvSecrets {
    ring: RingDocument,
}

impl EnvSecrets {
    pub fn new(ring: RingDocument) -> Self {
        Self { ring }
    }
}

#[async_trait]
impl SecretSource for EnvSecrets {
    async fn key_ring(&self) -> Result<RingDocument, SecretError> {
        if self.ring.keys.is_empty() {
            return Err(SecretError::Missing);
        }
        Ok(self.ring.clone())
    }

    fn name(&self) -> &'static str {
        "env"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::{ExposeSecret, SecretString};

    #[tokio::test]
    async fn keys_come_back_in_order_and_none_is_missing() {
        let ring =
            RingDocument::from_hs256_list(vec![SecretString::from("a".repeat(32)), SecretString::from("b".repeat(32))]);
        let source = EnvSecrets::new(ring);
        let keys = source.key_ring().await.unwrap().keys;
        assert_eq!(keys[1].key.expose_secret(), &"b".repeat(32));
        assert!(matches!(EnvSecrets::new(RingDocument::default()).key_ring().await, Err(SecretError::Missing)));
        assert_eq!(source.name(), "env");
    }
}
