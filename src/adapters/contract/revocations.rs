//! The revocations contract: one entry per subject, later cut-offs win,
//! nothing is shortened, and the feed returns what was recorded since a
//! position.

use super::NOW;
use crate::core::revocation::Revocation;
use crate::core::session::SessionId;
use crate::core::user::{CredentialEpoch, UnixSeconds, UserId};
use crate::ports::RevocationStore;
use uuid::Uuid;

/// Sorts revocations so lists from stores that do not order them compare.
fn sorted(mut revocations: Vec<Revocation>) -> Vec<Revocation> {
    revocations.sort_by_key(|revocation| match *revocation {
        Revocation::Token { jti, .. } => (0, jti),
        Revocation::Session { sid, .. } => (1, sid.as_uuid()),
        Revocation::UserCutoff { user, .. } => (2, user.as_uuid()),
    });
    revocations
}

/// Revocations: one entry per subject, later cut-offs win, nothing is
/// shortened, and entries past their `until` are neither active nor kept.
pub async fn revocations_contract(store: &dyn RevocationStore) {
    assert!(store.active(NOW).await.expect("storage answers").is_empty());
    revocation_feed_contract(store).await;
    store.purge(UnixSeconds::new(i64::MAX)).await.expect("storage answers");

    // The same id as a token, a session and a user: three subjects.
    let id = Uuid::now_v7();
    let user = UserId::from_uuid(id);
    let token = Revocation::Token { jti: id, until: NOW + 100 };
    let session = Revocation::Session { sid: SessionId::from_uuid(id), until: NOW + 50 };
    let cutoff = Revocation::UserCutoff { user, epoch: CredentialEpoch::new(3), until: NOW + 200 };
    for revocation in [&token, &session, &cutoff] {
        store.record(revocation).await.expect("the revocation is stored");
    }
    let active = store.active(NOW).await.expect("storage answers");
    assert_eq!(sorted(active), sorted(vec![token.clone(), session.clone(), cutoff.clone()]));

    // An earlier cut-off never replaces a later one.
    let earlier = Revocation::UserCutoff { user, epoch: CredentialEpoch::new(2), until: NOW + 190 };
    store.record(&earlier).await.expect("the revocation is stored");
    // A later one does, without ending sooner than the one it replaces.
    let later = Revocation::UserCutoff { user, epoch: CredentialEpoch::new(4), until: NOW + 150 };
    store.record(&later).await.expect("the revocation is stored");
    let merged_cutoff = Revocation::UserCutoff { user, epoch: CredentialEpoch::new(4), until: NOW + 200 };
    // Re-recording a token replaces its entry, never shortening it.
    let longer = Revocation::Token { jti: id, until: NOW + 300 };
    store.record(&longer).await.expect("the revocation is stored");
    store.record(&Revocation::Token { jti: id, until: NOW + 10 }).await.expect("the revocation is stored");
    let active = store.active(NOW).await.expect("storage answers");
    assert_eq!(
        sorted(active),
        sorted(vec![longer.clone(), session.clone(), merged_cutoff.clone()]),
        "one entry per subject"
    );

    // `until` is the last instant that matters: at it, an entry is over.
    let active = store.active(NOW + 50).await.expect("storage answers");
    assert_eq!(sorted(active), sorted(vec![longer.clone(), merged_cutoff.clone()]));
    assert_eq!(store.purge(NOW + 49).await.expect("storage answers"), 0);
    assert_eq!(store.purge(NOW + 50).await.expect("storage answers"), 1);
    assert_eq!(store.purge(NOW + 50).await.expect("storage answers"), 0);
    let active = store.active(NOW).await.expect("storage answers");
    assert_eq!(sorted(active), sorted(vec![longer, merged_cutoff]), "purging keeps what still matters");

    // A purged subject can be revoked afresh.
    store.record(&session).await.expect("the revocation is stored");
    assert_eq!(store.active(NOW).await.expect("storage answers").len(), 3);

    assert_eq!(store.purge(NOW + 1_000).await.expect("storage answers"), 3);
    assert!(store.active(NOW).await.expect("storage answers").is_empty());
}

/// Replicas learn of each other's revocations by asking what was recorded
/// since a position: new and re-recorded entries show up, older ones not.
async fn revocation_feed_contract(store: &dyn RevocationStore) {
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(3));
    let first = Revocation::Token { jti: Uuid::now_v7(), until: NOW + 60 };
    store.record(&first).await.expect("storage answers");
    let (seen, after_first) = store.recorded_since(i64::MIN, NOW).await.expect("storage answers");
    assert_eq!(seen, vec![first.clone()]);
    pause().await;
    let second = Revocation::Session { sid: SessionId::from_uuid(Uuid::now_v7()), until: NOW + 60 };
    store.record(&second).await.expect("storage answers");
    let (seen, after_second) = store.recorded_since(after_first + 1, NOW).await.expect("storage answers");
    assert_eq!(seen, vec![second.clone()], "only what came after the position");
    assert!(after_second > after_first);
    let (nothing, unchanged) = store.recorded_since(after_second + 1, NOW).await.expect("storage answers");
    assert!(nothing.is_empty());
    assert_eq!(unchanged, after_second + 1, "with nothing new the position stays");
    pause().await;
    store.record(&first).await.expect("storage answers");
    let (seen, _) = store.recorded_since(after_second + 1, NOW).await.expect("storage answers");
    assert_eq!(seen, vec![first.clone()], "a re-recorded entry shows up again");
    let (expired, _) = store.recorded_since(i64::MIN, NOW + 61).await.expect("storage answers");
    assert!(expired.is_empty(), "entries that no longer matter are not fed");
}
