//! What a bearer check costs: HS256 verification alone, and the whole
//! `authenticate` (verification plus the in-process revocation view holding
//! many entries). Both must stay far below a request's own overhead.

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis::core::revocation::{Revocation, RevocationView};
use portcullis::core::token::{AccessClaims, KeyRing, TokenSettings};
use portcullis::core::user::{CredentialEpoch, UnixSeconds, UserId};
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
    ring.sign(&AccessClaims {
        iss: "portcullis".into(),
        aud: "portcullis-api".into(),
        sub: Uuid::from_u128(1),
        role: "user".into(),
        sid: Uuid::from_u128(2),
        jti: Uuid::from_u128(3),
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

criterion_group!(benches, bearer_check);
criterion_main!(benches);
