//! A compact filter in front of the revocation view's maps, so that the
//! bearer check of a token that is not revoked (nearly every one) costs the
//! same with a million revocations as with none.
//!
//! The maps of a million entries span tens of megabytes: each lookup is a
//! cache miss, and a check makes three. The filter spends 16 bits per entry
//! (2 MB at a million), which stays in cache, and answers "certainly not
//! revoked" for all but about 1.5% of the ids it is asked about; only those
//! go on to the maps. It never answers "not revoked" for an id that is:
//! entries are only ever added, and it is rebuilt from the maps when they
//! shrink or outgrow it.
//!
//! It hashes ids with a fixed mixer, not a keyed hash: the ids are minted by
//! Portcullis (random or time-ordered UUIDs) and reach the check only inside
//! a token whose signature has been verified, so nobody can choose ids that
//! crowd one part of the filter.

use uuid::Uuid;

/// Bits per entry the filter is sized for; it grows past one entry in 16.
const BITS_PER_ENTRY: usize = 16;
/// The smallest filter: 8 KiB.
const MIN_WORDS: usize = 1024;

/// The kind of id, mixed into its hash so that kinds never share bits.
#[derive(Clone, Copy)]
pub(crate) enum IdKind {
    Token = 1,
    Session = 2,
    User = 3,
}

/// A blocked Bloom filter: two bits in one 64-bit word per id.
pub(crate) struct RevocationFilter {
    words: Vec<u64>,
    entries: usize,
}

impl Default for RevocationFilter {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

fn mix(kind: IdKind, id: Uuid) -> u64 {
    let (high, low) = id.as_u64_pair();
    // splitmix64's finaliser over both halves and the kind.
    let mut x = high ^ low.rotate_left(29) ^ (kind as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl RevocationFilter {
    /// An empty filter sized for `entries`.
    pub(crate) fn with_capacity(entries: usize) -> Self {
        let words = (entries.saturating_mul(BITS_PER_ENTRY) / 64).next_power_of_two().max(MIN_WORDS);
        Self { words: vec![0; words], entries: 0 }
    }

    fn slot(&self, kind: IdKind, id: Uuid) -> (usize, u64) {
        let hash = mix(kind, id);
        // The word count is a power of two; the mask keeps the index in range.
        let word = usize::try_from(hash >> 32).unwrap_or(usize::MAX) & (self.words.len() - 1);
        let bits = (1u64 << (hash & 63)) | (1u64 << ((hash >> 6) & 63));
        (word, bits)
    }

    /// Whether the filter has room for one more entry at its density.
    pub(crate) fn has_room(&self) -> bool {
        (self.entries + 1) * BITS_PER_ENTRY <= self.words.len() * 64
    }

    pub(crate) fn insert(&mut self, kind: IdKind, id: Uuid) {
        let (word, bits) = self.slot(kind, id);
        self.words[word] |= bits;
        self.entries += 1;
    }

    /// `false` only when `id` was never inserted.
    pub(crate) fn may_contain(&self, kind: IdKind, id: Uuid) -> bool {
        let (word, bits) = self.slot(kind, id);
        self.words[word] & bits == bits
    }

    /// Ids inserted since the filter was built.
    pub(crate) fn entries(&self) -> usize {
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inserted_id_is_always_found_and_kinds_are_apart() {
        let mut filter = RevocationFilter::with_capacity(100_000);
        for n in 0..100_000u128 {
            filter.insert(IdKind::Token, Uuid::from_u128(n * 7919));
        }
        assert!((0..100_000u128).all(|n| filter.may_contain(IdKind::Token, Uuid::from_u128(n * 7919))));
        let crossed = (0..100_000u128).filter(|n| filter.may_contain(IdKind::User, Uuid::from_u128(n * 7919))).count();
        assert!(crossed < 4_000, "{crossed} user ids matched token entries");
    }

    #[test]
    fn ids_never_inserted_are_mostly_refused_at_full_density() {
        let entries = 1 << 16;
        let mut filter = RevocationFilter::with_capacity(entries);
        for n in 0..entries as u128 {
            filter.insert(IdKind::Session, Uuid::new_v4());
            assert!(filter.has_room() || n + 1 == entries as u128);
        }
        let false_positives = (0..100_000).filter(|_| filter.may_contain(IdKind::Session, Uuid::new_v4())).count();
        assert!(false_positives < 3_000, "{false_positives} of 100 000 absent ids matched");
        assert_eq!(filter.words.len() * 8, entries * BITS_PER_ENTRY / 8);
    }
}
