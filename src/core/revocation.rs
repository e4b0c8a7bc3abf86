//! The in-process view of revocations that every bearer check consults.
//!
//! Checking a token must not cost a database round trip, so revoked token
//! ids, revoked sessions and per-user cut-offs (the first credential epoch
//! still valid) live here, in memory. Writes
//! go to the durable [`crate::ports::RevocationStore`] and to this view;
//! at start the view is loaded from the store. Entries carry the instant
//! after which they no longer matter (every token they could reject has
//! expired by then) and are pruned after it, so the view stays small.

use super::revocation_filter::{IdKind, RevocationFilter};
use super::session::SessionId;
use super::user::{CredentialEpoch, UnixSeconds, UserId};
use std::collections::HashMap;
use std::sync::RwLock;
use uuid::Uuid;

const TOKEN: &str = "token";
const SESSION: &str = "session";
const USER_CUTOFF: &str = "user_cutoff";

/// One revocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// One access token, by `jti`.
    Token { jti: Uuid, until: UnixSeconds },
    /// Every access token of one session, by `sid`.
    Session { sid: SessionId, until: UnixSeconds },
    /// Every access token of one user issued in an epoch before `epoch`
    /// (logout-all, password change, disabling, deletion, role change).
    UserCutoff { user: UserId, epoch: CredentialEpoch, until: UnixSeconds },
}

impl Revocation {
    /// The stored name of this kind of revocation.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Token { .. } => TOKEN,
            Self::Session { .. } => SESSION,
            Self::UserCutoff { .. } => USER_CUTOFF,
        }
    }

    /// The id of what is revoked: a token, a session or a user.
    pub fn subject(&self) -> Uuid {
        match *self {
            Self::Token { jti, .. } => jti,
            Self::Session { sid, .. } => sid.as_uuid(),
            Self::UserCutoff { user, .. } => user.as_uuid(),
        }
    }

    /// The stored cut-off of a user cut-off: its first valid epoch.
    pub fn cutoff(&self) -> Option<i64> {
        match *self {
            Self::UserCutoff { epoch, .. } => Some(epoch.value()),
            Self::Token { .. } | Self::Session { .. } => None,
        }
    }

    /// Rebuilds a revocation from its stored parts; `None` when they do not
    /// describe one.
    pub fn from_parts(kind: &str, subject: Uuid, cutoff: Option<i64>, until: UnixSeconds) -> Option<Self> {
        match (kind, cutoff) {
            (TOKEN, _) => Some(Self::Token { jti: subject, until }),
            (SESSION, _) => Some(Self::Session { sid: SessionId::from_uuid(subject), until }),
            (USER_CUTOFF, Some(cutoff)) => {
                Some(Self::UserCutoff { user: UserId::from_uuid(subject), epoch: CredentialEpoch::new(cutoff), until })
            }
            _ => None,
        }
    }

    pub fn until(&self) -> UnixSeconds {
        match self {
            Self::Token { until, .. } | Self::Session { until, .. } | Self::UserCutoff { until, .. } => *until,
        }
    }
}

fn shrink_if_sparse<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if map.len() < map.capacity() / 4 {
        map.shrink_to_fit();
    }
}

#[derive(Default)]
struct Entries {
    tokens: HashMap<Uuid, UnixSeconds>,
    sessions: HashMap<SessionId, UnixSeconds>,
    cutoffs: HashMap<UserId, (CredentialEpoch, UnixSeconds)>,
    /// Every id in the maps, and perhaps some pruned since: a check looks
    /// in the maps only for ids it may contain.
    filter: RevocationFilter,
    inserts_since_prune: u32,
}

impl Entries {
    fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.cutoffs.len()
    }

    /// Adds a new id to the filter, rebuilding it twice as large when full.
    fn filter_insert(&mut self, kind: IdKind, id: Uuid) {
        if self.filter.has_room() {
            self.filter.insert(kind, id);
        } else {
            self.rebuild_filter();
        }
    }

    /// A filter of the maps as they are, with room to double.
    fn rebuild_filter(&mut self) {
        let mut filter = RevocationFilter::with_capacity(self.len() * 2);
        self.tokens.keys().for_each(|jti| filter.insert(IdKind::Token, *jti));
        self.sessions.keys().for_each(|sid| filter.insert(IdKind::Session, sid.as_uuid()));
        self.cutoffs.keys().for_each(|user| filter.insert(IdKind::User, user.as_uuid()));
        self.filter = filter;
    }
}

/// What the view knows; cheap to read from many threads at once.
#[derive(Default)]
pub struct RevocationView {
    entries: RwLock<Entries>,
}

/// Prune expired entries after this many inserts.
const PRUNE_EVERY: u32 = 1024;

impl RevocationView {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `revocation`; a later cut-off for the same user replaces an earlier one.
    pub fn apply(&self, revocation: &Revocation, now: UnixSeconds) {
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match *revocation {
            Revocation::Token { jti, until } => {
                if entries.tokens.insert(jti, until).is_none() {
                    entries.filter_insert(IdKind::Token, jti);
                }
            }
            Revocation::Session { sid, until } => {
                if entries.sessions.insert(sid, until).is_none() {
                    entries.filter_insert(IdKind::Session, sid.as_uuid());
                }
            }
            Revocation::UserCutoff { user, epoch, until } => {
                let known = entries.cutoffs.contains_key(&user);
                let slot = entries.cutoffs.entry(user).or_insert((epoch, until));
                if epoch >= slot.0 {
                    *slot = (epoch, until.max(slot.1));
                }
                if !known {
                    entries.filter_insert(IdKind::User, user.as_uuid());
                }
            }
        }
        entries.inserts_since_prune += 1;
        if entries.inserts_since_prune >= PRUNE_EVERY {
            Self::prune_locked(&mut entries, now);
        }
    }

    /// Whether a token with these claims has been revoked. No clock is
    /// read: a token is cut off by the epoch it was issued in.
    pub fn is_revoked(&self, jti: Uuid, sid: SessionId, user: UserId, epoch: CredentialEpoch) -> bool {
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let filter = &entries.filter;
        (filter.may_contain(IdKind::Token, jti) && entries.tokens.contains_key(&jti))
            || (filter.may_contain(IdKind::Session, sid.as_uuid()) && entries.sessions.contains_key(&sid))
            || (filter.may_contain(IdKind::User, user.as_uuid())
                && entries.cutoffs.get(&user).is_some_and(|(first_valid, _)| epoch < *first_valid))
    }

    /// The user's first valid epoch, as far as this view knows.
    pub fn cutoff(&self, user: UserId) -> Option<CredentialEpoch> {
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.cutoffs.get(&user).map(|(cutoff, _)| *cutoff)
    }

    /// Drops entries that can no longer reject any unexpired token.
    pub fn prune(&self, now: UnixSeconds) {
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        Self::prune_locked(&mut entries, now);
    }

    fn prune_locked(entries: &mut Entries, now: UnixSeconds) {
        entries.tokens.retain(|_, until| *until > now);
        entries.sessions.retain(|_, until| *until > now);
        entries.cutoffs.retain(|_, (_, until)| *until > now);
        // A wave of revocations that has expired gives its tables back.
        shrink_if_sparse(&mut entries.tokens);
        shrink_if_sparse(&mut entries.sessions);
        shrink_if_sparse(&mut entries.cutoffs);
        // Pruned ids only make the filter less sharp, never wrong; rebuild
        // it once a quarter of what it holds has gone.
        if entries.len() * 4 < entries.filter.entries() * 3 {
            entries.rebuild_filter();
        }
        entries.inserts_since_prune = 0;
    }

    /// Number of entries held, for tests and metrics.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId::from_uuid(Uuid::from_u128(7))
    }

    fn session(n: u128) -> SessionId {
        SessionId::from_uuid(Uuid::from_u128(n))
    }

    fn at(seconds: i64) -> UnixSeconds {
        UnixSeconds::new(seconds)
    }

    fn epoch(value: i64) -> CredentialEpoch {
        CredentialEpoch::new(value)
    }

    #[test]
    fn revoked_tokens_sessions_and_cutoffs_are_seen() {
        let view = RevocationView::new();
        let (jti, sid) = (Uuid::from_u128(1), session(2));
        assert!(!view.is_revoked(jti, sid, user(), epoch(0)));
        view.apply(&Revocation::Token { jti, until: at(200) }, at(100));
        assert!(view.is_revoked(jti, session(3), user(), epoch(0)));
        view.apply(&Revocation::Session { sid, until: at(200) }, at(100));
        assert!(view.is_revoked(Uuid::from_u128(4), sid, user(), epoch(0)));
        view.apply(&Revocation::UserCutoff { user: user(), epoch: epoch(3), until: at(300) }, at(100));
        assert!(view.is_revoked(Uuid::from_u128(5), session(6), user(), epoch(2)));
        assert!(!view.is_revoked(Uuid::from_u128(5), session(6), user(), epoch(3)));
    }

    #[test]
    fn an_earlier_cutoff_never_replaces_a_later_one() {
        let view = RevocationView::new();
        view.apply(&Revocation::UserCutoff { user: user(), epoch: epoch(5), until: at(300) }, at(100));
        view.apply(&Revocation::UserCutoff { user: user(), epoch: epoch(4), until: at(250) }, at(100));
        assert_eq!(view.cutoff(user()), Some(epoch(5)));
    }

    #[test]
    fn revocations_round_trip_through_their_stored_parts() {
        let all = [
            Revocation::Token { jti: Uuid::from_u128(1), until: at(9) },
            Revocation::Session { sid: session(2), until: at(9) },
            Revocation::UserCutoff { user: user(), epoch: epoch(5), until: at(9) },
        ];
        for revocation in all {
            let parts = (revocation.kind(), revocation.subject(), revocation.cutoff(), revocation.until());
            assert_eq!(Revocation::from_parts(parts.0, parts.1, parts.2, parts.3), Some(revocation));
        }
        assert_eq!(Revocation::from_parts("user_cutoff", Uuid::from_u128(3), None, at(9)), None);
        assert_eq!(Revocation::from_parts("other", Uuid::from_u128(3), None, at(9)), None);
    }

    #[test]
    fn expired_entries_are_pruned() {
        let view = RevocationView::new();
        view.apply(&Revocation::Token { jti: Uuid::from_u128(1), until: at(200) }, at(100));
        view.apply(&Revocation::Session { sid: session(2), until: at(400) }, at(100));
        view.prune(at(300));
        assert_eq!(view.len(), 1);
    }

    #[test]
    fn every_revocation_is_seen_through_the_filter_as_it_grows_and_is_pruned() {
        let view = RevocationView::new();
        let ids = |range: std::ops::Range<u128>| range.map(|n| Uuid::from_u128(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        for (n, id) in ids(0..20_000).enumerate() {
            let until = at(if n % 2 == 0 { 200 } else { 400 });
            view.apply(&Revocation::Token { jti: id, until }, at(100));
            view.apply(&Revocation::Session { sid: SessionId::from_uuid(id), until }, at(100));
            view.apply(&Revocation::UserCutoff { user: UserId::from_uuid(id), epoch: epoch(2), until }, at(100));
        }
        let revoked = |id: Uuid| {
            let other = Uuid::from_u128(u128::MAX - id.as_u128());
            (
                view.is_revoked(id, session(1), user(), epoch(0)),
                view.is_revoked(other, SessionId::from_uuid(id), user(), epoch(0)),
                view.is_revoked(other, session(1), UserId::from_uuid(id), epoch(1)),
            )
        };
        assert!(ids(0..20_000).all(|id| revoked(id) == (true, true, true)));
        assert!(!view.is_revoked(Uuid::from_u128(1), session(1), user(), epoch(0)));
        view.prune(at(300));
        assert_eq!(view.len(), 30_000);
        for (n, id) in ids(0..20_000).enumerate() {
            let expected = n % 2 == 1;
            assert_eq!(revoked(id), (expected, expected, expected), "{n}");
        }
    }

    #[test]
    fn pruning_happens_by_itself_as_entries_arrive() {
        let view = RevocationView::new();
        for n in 0..u128::from(PRUNE_EVERY) {
            view.apply(&Revocation::Token { jti: Uuid::from_u128(n), until: at(10) }, at(20));
        }
        assert!(view.is_empty());
    }
}
