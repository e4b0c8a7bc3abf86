//! What a key rotation does to the use cases that derive values from the
//! ring: a refresh retried within the grace window while replicas disagree
//! on the active key still returns the very same child.

use super::harness::{anonymous, harness};
use super::keyring::KeyRing;
use secrecy::SecretString;

fn ring(keys: &[&SecretString]) -> KeyRing {
    KeyRing::new(&keys.iter().map(|key| (*key).clone()).collect::<Vec<_>>()).unwrap()
}

#[tokio::test]
async fn a_grace_retry_across_a_promotion_returns_the_same_child() {
    let h = harness().await;
    let (old, new) = (SecretString::from("o".repeat(32)), SecretString::from("n".repeat(32)));
    h.auth.live_keys().replace(ring(&[&old, &new]));
    let first = h.signed_up("ada@example.com").await;
    let child = h.auth.refresh(first.refresh_token.expose(), &anonymous()).await.unwrap();

    // The retry reaches a replica that has already promoted the new key:
    // its own derivation differs, but it finds the stored child.
    let promoted = ring(&[&new, &old]);
    assert_ne!(first.refresh_token.child(&promoted).expose(), child.refresh_token.expose());
    h.auth.live_keys().replace(promoted);
    h.clock.advance(5);
    let retried = h.auth.refresh(first.refresh_token.expose(), &anonymous()).await.unwrap();
    assert_eq!(retried.refresh_token.expose(), child.refresh_token.expose());

    // After retirement the child still rotates, and its tokens verify.
    h.auth.live_keys().replace(ring(&[&new]));
    let next = h.auth.refresh(child.refresh_token.expose(), &anonymous()).await.unwrap();
    assert!(h.auth.authenticate(&next.access_token).is_ok());
    assert!(h.auth.authenticate(&first.access_token).is_err(), "the retired key's token is refused");
}
