//! Bearer tokens this replica has verified lately, so that the gateway's
//! check of the same token on every request of a user does not repeat the
//! signature, header and claims work each time (about half of the check's
//! instructions). Envoy's `jwt_authn` filter keeps such a cache for the
//! same reason.
//!
//! What a cached token skips is only what cannot change while its key ring
//! stays in use: the signature, the header rules, the issuer and audience,
//! the role. Everything that moves with time or with revocations is judged
//! on every check, exactly as for a token seen for the first time:
//! - its lifetime (`nbf`, `iat`, `exp`, with leeway) against the clock;
//! - the revocation view (the caller's, after this);
//! - the ring: an entry belongs to the ring that verified it, by the ring's
//!   generation, so a reload that retires a key ends its tokens here too.
//!
//! A token is served from an entry only if it equals the stored token byte
//! for byte, compared in constant time, so a forged token that lands in a
//! verified token's slot (say, the same signature under another payload)
//! is verified in full, and refused. The table is direct-mapped, with
//! [`VERIFIED_TOKENS_SLOTS`] slots chosen by a per-process keyed hash of
//! the token's tail; a busy slot is overwritten. Memory is bounded whatever
//! the number of users: at most one token (at most
//! [`super::token::MAX_TOKEN_BYTES`], about 400 bytes in practice) per slot.

use super::token::Principal;
use super::user::UnixSeconds;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};
use subtle::ConstantTimeEq;

/// Slots in the table: a few megabytes at most with tokens of this
/// service's size, enough for the users active at once on a replica.
pub const VERIFIED_TOKENS_SLOTS: usize = 8_192;

/// How many bytes from the end of the token choose its slot: within the
/// signature, whose bytes a keyed MAC made (a token of 32 bytes or fewer is
/// hashed whole; no valid token is that short).
const SLOT_KEY_BYTES: usize = 32;

/// A verified token: what its claims say, and the latest of its `nbf` and
/// `iat`, before which it is not valid yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub principal: Principal,
    pub not_before: UnixSeconds,
}

struct Entry {
    ring: u64,
    token: Box<[u8]>,
    verified: Verified,
}

/// The table of lately verified tokens.
pub struct VerifiedTokens {
    slots: Box<[Mutex<Option<Entry>>]>,
    hasher: RandomState,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self::new(VERIFIED_TOKENS_SLOTS)
    }
}

impl VerifiedTokens {
    /// A table of `slots` slots (at least one).
    pub fn new(slots: usize) -> Self {
        Self { slots: (0..slots.max(1)).map(|_| Mutex::new(None)).collect(), hasher: RandomState::new() }
    }

    fn slot(&self, token: &[u8]) -> &Mutex<Option<Entry>> {
        let tail = &token[token.len().saturating_sub(SLOT_KEY_BYTES)..];
        // The remainder is below the slot count, which is a usize.
        #[allow(clippy::cast_possible_truncation)]
        let index = (self.hasher.hash_one(tail) % self.slots.len() as u64) as usize;
        &self.slots[index]
    }

    /// What `ring` verified of exactly this `token`, if it is still held.
    pub fn get(&self, ring: u64, token: &str) -> Option<Verified> {
        let slot = self.slot(token.as_bytes()).lock().unwrap_or_else(PoisonError::into_inner);
        let entry = slot.as_ref()?;
        let same = entry.ring == ring && same_bytes(&entry.token, token.as_bytes());
        same.then(|| entry.verified.clone())
    }

    /// Holds what `ring` verified of `token`, in place of whatever its slot
    /// held.
    pub fn insert(&self, ring: u64, token: &str, verified: Verified) {
        let entry = Entry { ring, token: token.as_bytes().into(), verified };
        let previous = self.slot(token.as_bytes()).lock().unwrap_or_else(PoisonError::into_inner).replace(entry);
        // The old token is freed outside the lock.
        drop(previous);
    }

    /// How many slots hold a token.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|slot| slot.lock().unwrap_or_else(PoisonError::into_inner).is_some()).count()
    }

    /// Whether no slot holds a token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether `a` and `b` are equal, in a time that depends on their length
/// only (lengths are public). Word by word: `subtle` compares a byte slice
/// one byte at a time behind an optimisation barrier each, several
/// thousand instructions for a token, on every check.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().expect("chunks of eight bytes"));
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut same = a_words.remainder().ct_eq(b_words.remainder());
    for (x, y) in a_words.zip(b_words) {
        same &= word(x).ct_eq(&word(y));
    }
    bool::from(same)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::session::SessionId;
    use crate::core::user::{CredentialEpoch, Role, UserId};
    use uuid::Uuid;

    fn verified(n: u128) -> Verified {
        Verified {
            principal: Principal {
                user_id: UserId::from_uuid(Uuid::from_u128(n)),
                role: Role::User,
                session_id: SessionId::from_uuid(Uuid::from_u128(n + 1)),
                token_id: Uuid::from_u128(n + 2),
                issued_at: UnixSeconds::new(100),
                expires_at: UnixSeconds::new(1_000),
                credential_epoch: CredentialEpoch::INITIAL,
            },
            not_before: UnixSeconds::new(100),
        }
    }

    #[test]
    fn only_the_same_token_under_the_same_ring_is_served() {
        let table = VerifiedTokens::new(16);
        let token = format!("header.payload.{}", "s".repeat(43));
        table.insert(7, &token, verified(1));
        assert_eq!(table.get(7, &token), Some(verified(1)));
        assert_eq!(table.get(8, &token), None, "another ring");
        // Same tail, so the same slot: another payload under a copied signature.
        assert_eq!(table.get(7, &token.replacen("payload", "pAyload", 1)), None);
        assert_eq!(table.get(7, &token.replacen("payload", "payloadX", 1)), None);
        assert_eq!(table.get(7, &token[1..]), None);
    }

    #[test]
    fn bytes_are_equal_only_when_every_byte_is() {
        let token = b"0123456789abcdefghijklmnopqrstuvwxyz-0123456789";
        assert!(same_bytes(token, token));
        assert!(same_bytes(b"", b""));
        for at in 0..token.len() {
            let mut other = *token;
            other[at] ^= 1;
            assert!(!same_bytes(token, &other), "a difference at byte {at}");
        }
        assert!(!same_bytes(token, &token[1..]));
    }

    #[test]
    fn memory_is_bounded_by_the_slots() {
        let table = VerifiedTokens::new(4);
        for n in 0..100_u128 {
            table.insert(1, &format!("token-{n}-{}", "x".repeat(40 + (n as usize % 7))), verified(n));
        }
        assert!((1..=4).contains(&table.len()));
        let last = format!("token-99-{}", "x".repeat(40 + 99 % 7));
        assert_eq!(table.get(1, &last), Some(verified(99)), "the newest token holds its slot");
        assert!(VerifiedTokens::new(0).is_empty());
    }

    #[test]
    fn concurrent_checks_see_whole_entries() {
        let table = std::sync::Arc::new(VerifiedTokens::new(2));
        let threads: Vec<_> = (0..4_u128)
            .map(|t| {
                let table = table.clone();
                std::thread::spawn(move || {
                    let token = format!("token-{t}-{}", "y".repeat(40));
                    for _ in 0..2_000 {
                        table.insert(1, &token, verified(t * 10));
                        if let Some(found) = table.get(1, &token) {
                            assert_eq!(found, verified(t * 10), "an entry is another token's");
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}
