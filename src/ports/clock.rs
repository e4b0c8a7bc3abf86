//! Time and randomness. They reach the core only through these traits, so
//! core tests can fix both.

use crate::core::user::UnixSeconds;
use uuid::Uuid;

/// The current time.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;

    /// Seconds since the Unix epoch.
    fn now(&self) -> UnixSeconds {
        UnixSeconds::new(self.now_millis().div_euclid(1000))
    }
}

/// A source of unpredictable bytes and identifiers.
///
/// Implementations must be cryptographically secure: refresh tokens and
/// token ids are drawn from here.
pub trait Entropy: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// A fresh random (v4) UUID.
    fn uuid_v4(&self) -> Uuid {
        let mut bytes = [0u8; 16];
        self.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// A fresh time-ordered (v7) UUID for `now`.
    fn uuid_v7(&self, now_millis: u64) -> Uuid {
        let mut bytes = [0u8; 10];
        self.fill(&mut bytes);
        uuid::Builder::from_unix_timestamp_millis(now_millis, &bytes).into_uuid()
    }
}
