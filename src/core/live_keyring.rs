//! The key ring in use, swapped whole by a reload under running requests.

use super::keyring::KeyRing;
use std::fmt;

/// The ring in use, shared by the service and whatever reloads it: readers
/// take the current ring without a lock, and a reload swaps it whole, so a
/// request sees either the old ring or the new one, never a mixture.
#[derive(Clone)]
pub struct LiveKeyRing(std::sync::Arc<arc_swap::ArcSwap<KeyRing>>);

impl LiveKeyRing {
    pub fn new(ring: KeyRing) -> Self {
        Self(std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(ring)))
    }

    /// The ring as of now; keep it for the whole of one operation.
    pub fn current(&self) -> std::sync::Arc<KeyRing> {
        self.0.load_full()
    }

    /// Puts `ring` in use for every operation that starts from now on.
    pub fn replace(&self, ring: KeyRing) {
        self.0.store(std::sync::Arc::new(ring));
    }

    /// [`Self::replace`] with a ring the caller keeps a handle to.
    pub fn replace_shared(&self, ring: std::sync::Arc<KeyRing>) {
        self.0.store(ring);
    }
}

impl From<KeyRing> for LiveKeyRing {
    fn from(ring: KeyRing) -> Self {
        Self::new(ring)
    }
}

impl fmt::Debug for LiveKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.current().fmt(f)
    }
}
