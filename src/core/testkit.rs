//! Deterministic stand-ins for the clock and randomness, and a fast
//! password hasher, for core tests.

use crate::core::password::{Password, PasswordHash};
use crate::ports::{Clock, Entropy, HashError, PasswordHasher};
use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// A clock that moves only when told.
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn at(seconds: i64) -> Self {
        Self(AtomicI64::new(seconds * 1000))
    }
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds * 1000, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Reproducible randomness.
pub struct SeededEntropy(Mutex<StdRng>);

impl SeededEntropy {
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }
}

impl Entropy for SeededEntropy {
    fn fill(&self, buf: &mut [u8]) {
        self.0.lock().unwrap().fill_bytes(buf);
    }
}

/// A hasher that costs nothing: SHA-256 with a prefix. Tests of the use
/// cases need bcrypt's contract, not its cost.
#[derive(Default)]
pub struct FastHasher;

#[async_trait]
impl PasswordHasher for FastHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let digest = Sha256::digest(password.expose().as_bytes());
        Ok(PasswordHash::new(format!("fast${}", super::hex::encode(&digest))))
    }
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, HashError> {
        Ok(self.hash(password).await?.as_str() == hash.as_str())
    }
    /// One digest, no parameters: nothing is ever re-hashed.
    fn needs_rehash(&self, _: &PasswordHash) -> bool {
        false
    }
}
