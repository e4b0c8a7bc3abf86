//! Several replicas sharing one database act as one: a revocation made on
//! one replica is honoured by every other within a second.

use crate::helpers::{spawn_app_with, unique_email, TestApp, STRONG_PASSWORD};
use std::time::{Duration, Instant};

async fn replicas(count: usize) -> Vec<TestApp> {
    let first = spawn_app_with(&[]).await;
    let url = first.database_url().to_owned();
    let mut all = vec![first];
    for _ in 1..count {
        all.push(spawn_app_with(&[("DATABASE_URL", &url)]).await);
    }
    all
}

/// Waits until every replica refuses every token, at most one second;
/// returns how long it took.
async fn refused_everywhere_within_a_second(replicas: &[TestApp], tokens: &[&str]) -> Duration {
    let limit = Duration::from_secs(1);
    let started = Instant::now();
    loop {
        let mut refused = true;
        for replica in replicas {
            for token in tokens {
                refused &= replica.verify(token).await.status().as_u16() == 401;
            }
        }
        if refused {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not every replica refused the tokens within {limit:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_on_one_replica_is_honoured_by_the_others_within_a_second() {
    let replicas = replicas(3).await;
    let email = unique_email("replicated");
    assert_eq!(replicas[0].register(&email, STRONG_PASSWORD).await.status().as_u16(), 201);
    let pair = replicas[1].login_pair(&email, STRONG_PASSWORD).await;
    for replica in &replicas {
        assert_eq!(replica.verify(&pair.access_token).await.status().as_u16(), 200);
    }

    assert_eq!(replicas[0].logout(&pair.access_token, None).await.status().as_u16(), 204);

    let took = refused_everywhere_within_a_second(&replicas[1..], &[&pair.access_token]).await;
    eprintln!("the other replicas refused the token after {took:?}");
    assert_eq!(replicas[2].refresh(&pair.refresh_token).await.status().as_u16(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_logout_all_on_one_replica_is_honoured_by_the_others_within_a_second() {
    let replicas = replicas(3).await;
    let email = unique_email("everywhere");
    assert_eq!(replicas[0].register(&email, STRONG_PASSWORD).await.status().as_u16(), 201);
    let first = replicas[1].login_pair(&email, STRONG_PASSWORD).await;
    let second = replicas[2].login_pair(&email, STRONG_PASSWORD).await;

    assert_eq!(replicas[0].logout_all(&first.access_token).await.status().as_u16(), 204);

    refused_everywhere_within_a_second(&replicas, &[&first.access_token, &second.access_token]).await;
    let fresh = replicas[2].login_pair(&email, STRONG_PASSWORD).await;
    assert_eq!(replicas[1].verify(&fresh.access_token).await.status().as_u16(), 200, "new sign-ins still work");
}
