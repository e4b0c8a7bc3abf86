//! What a bearer check costs: HS256 verification alone, the same token
//! answered from the table of lately verified tokens, and the whole
//! `authenticate` (verification plus the in-process revocation view holding
//! many entries). Both must stay far below a request's own overhead, and
//! the check with a million live revocations within 1.2x of the check with
//! none (`verify_and_check_empty_view` against
//! `verify_and_check_1m_revocations`).

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis::core::revocation::{Revocation, RevocationView};
use portcullis::core::session::SessionId;
use portcullis::core::token::{check_lifetime, AccessClaims, KeyRing, TokenSettings};
use portcullis::core::user::{CredentialEpoch, UnixSeconds, UserId};
use portcullis::core::verified_tokens::VerifiedTokens;
use secrecy::SecretString;
use std::hint::black_box;
use uuid::Uuid;

const NOW: UnixSeconds = UnixSeconds::new(1_800_000_000);

fn settings() -> TokenSettings {
    TokenSettings {
        issuer: "portcullis".into(),
        audience: "portcullis-api".into(),
        access_ttl_seconds: 900,
        leeway_seconds: 30,
    }
}

fn token(ring: &KeyRing) -> String {
    token_of(ring, 0)
}

/// The `n`th of many distinct tokens: its own user, session and id.
fn token_of(ring: &KeyRing, n: u128) -> String {
    ring.sign(&AccessClaims {
        iss: "portcullis".into(),
        aud: "portcullis-api".into(),
        sub: Uuid::from_u128(1 + (n << 32)),
        role: "user".into(),
        sid: Uuid::from_u128(2 + (n << 32)),
        jti: Uuid::from_u128(3 + (n << 32)),
        iat: NOW,
        nbf: NOW,
        exp: NOW + 900,
        epoch: CredentialEpoch::new(3),
        amr: vec!["pwd".into()],
    })
}

fn bearer_check(c: &mut Criterion) {
    let ring = KeyRing::new(&[SecretString::from("k".repeat(32)), SecretString::from("o".repeat(32))]).unwrap();
    let token = token(&ring);
    let settings = settings();
    c.bench_function("hs256_verify", |b| b.iter(|| ring.verify(black_box(&token), &settings, NOW).unwrap()));

    // What `authenticate` does for a token it verified lately: the table's
    // lookup and the clock's check, instead of the signature and claims.
    let verified = VerifiedTokens::default();
    verified.insert(ring.generation(), &token, ring.verify_signed(&token, &settings).unwrap());
    c.bench_function("hs256_verify_cached", |b| {
        b.iter(|| {
            let hit = verified.get(ring.generation(), black_box(&token)).unwrap();
            check_lifetime(&hit, &settings, NOW).unwrap();
            hit.principal
        });
    });

    let view = RevocationView::new();
    for n in 10..100_010u128 {
        view.apply(&Revocation::Token { jti: Uuid::from_u128(n), until: NOW + 900 }, NOW);
    }
    c.bench_function("verify_and_check_100k_revocations", |b| {
        b.iter(|| {
            let principal = ring.verify(black_box(&token), &settings, NOW).unwrap();
            assert!(!view.is_revoked(
                principal.token_id,
                principal.session_id,
                UserId::from_uuid(Uuid::from_u128(1)),
                principal.credential_epoch
            ));
        });
    });
}

/// The same checks of 1 024 distinct tokens (so the view's lookups are
/// not all one cached bucket) against an empty view and against a view
/// holding 1 000 000 live revocations, a third of each kind.
fn bearer_check_at_scale(c: &mut Criterion) {
    let ring = KeyRing::new(&[SecretString::from("k".repeat(32))]).unwrap();
    let settings = settings();
    let tokens: Vec<String> = (0..1024).map(|n| token_of(&ring, n)).collect();
    let full = RevocationView::new();
    for n in 0..1_000_000u128 {
        let id = Uuid::from_u128((n << 64) | 0x7000_8000_0000_0000);
        let until = NOW + 930;
        full.apply(
            &match n % 3 {
                0 => Revocation::Token { jti: id, until },
                1 => Revocation::Session { sid: SessionId::from_uuid(id), until },
                _ => Revocation::UserCutoff { user: UserId::from_uuid(id), epoch: CredentialEpoch::new(9), until },
            },
            NOW,
        );
    }
    assert_eq!(full.len(), 1_000_000);
    let empty = RevocationView::new();
    for (name, view) in [("verify_and_check_empty_view", &empty), ("verify_and_check_1m_revocations", &full)] {
        let mut next = 0usize;
        c.bench_function(name, |b| {
            b.iter(|| {
                next = (next + 1) % tokens.len();
                let principal = ring.verify(black_box(&tokens[next]), &settings, NOW).unwrap();
                assert!(!view.is_revoked(
                    principal.token_id,
                    principal.session_id,
                    principal.user_id,
                    principal.credential_epoch
                ));
            });
        });
    }
}

criterion_group!(benches, bearer_check, bearer_check_at_scale);
criterion_main!(benches);
