//! The real clock and the operating system's randomness.

use crate::ports::{Clock, Entropy};
use rand::RngCore;
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A cryptographically secure generator seeded from the operating system.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // ThreadRng is a CSPRNG reseeded from the operating system.
        rand::rng().fill_bytes(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_past_2025_and_entropy_varies() {
        assert!(SystemClock.now() > crate::core::user::UnixSeconds::new(1_735_689_600));
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        OsEntropy.fill(&mut a);
        OsEntropy.fill(&mut b);
        assert_ne!(a, b);
        assert_eq!(OsEntropy.uuid_v4().get_version_num(), 4);
        assert_eq!(OsEntropy.uuid_v7(1_000).get_version_num(), 7);
    }
}
