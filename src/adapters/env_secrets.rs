//! Signing keys from the environment (`PORTCULLIS_JWT_KEYS`, or
//! `SECRET_KEY` for a single key), as read by the configuration layer.

use crate::ports::{SecretError, SecretSource};
use async_trait::async_trait;
use secrecy::SecretString;

/// Keys handed over by configuration.
pub struct EnvSecrets {
    keys: Vec<SecretString>,
}

impl EnvSecrets {
    pub fn new(keys: Vec<SecretString>) -> Self {
        Self { keys }
    }
}

#[async_trait]
impl SecretSource for EnvSecrets {
    async fn jwt_keys(&self) -> Result<Vec<SecretString>, SecretError> {
        if self.keys.is_empty() {
            return Err(SecretError::Missing);
        }
        Ok(self.keys.clone())
    }

    fn name(&self) -> &'static str {
        "env"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn keys_come_back_in_order_and_none_is_missing() {
        let source = EnvSecrets::new(vec![SecretString::from("a".repeat(32)), SecretString::from("b".repeat(32))]);
        let keys = source.jwt_keys().await.unwrap();
        assert_eq!(keys[1].expose_secret(), &"b".repeat(32));
        assert!(matches!(EnvSecrets::new(vec![]).jwt_keys().await, Err(SecretError::Missing)));
        assert_eq!(source.name(), "env");
    }
}
