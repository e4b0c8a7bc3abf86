//! The limiter on a Redis Cluster of three primaries started by the test:
//! the contract holds, and a lockout survives its slot moving to another
//! primary, with the limiter answering throughout the move.

use super::*;
use crate::adapters::limiter_contract::limiter_contract;
use crate::testing::{RedisCluster, RedisNode};
use uuid::Uuid;

async fn cluster_limiter(cluster: &RedisCluster) -> RedisLimiter {
    let prefix = format!("portcullis-test-{}", Uuid::new_v4().simple());
    let target = RedisTarget::parse(&cluster.urls(), true, None).unwrap();
    RedisLimiter::connect_to(&target)
        .await
        .unwrap_or_else(|error| panic!("the cluster answers: {error:#}"))
        .with_prefix(KeyPrefix::parse(&prefix).unwrap())
        .with_timeout(Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_limiter_keeps_its_contract_on_a_three_primary_cluster() {
    let Some(cluster) = RedisCluster::start(3, 0).await else { return };
    let limiter = cluster_limiter(&cluster).await;
    limiter_contract(&limiter).await;
}

async fn node_id(node: &RedisNode) -> String {
    node.command(redis::cmd("CLUSTER").arg("MYID")).await.unwrap()
}

/// The index of the primary that serves `slot`, by its own `CLUSTER NODES`.
async fn owner_of(cluster: &RedisCluster, slot: u16) -> usize {
    for (index, node) in cluster.nodes.iter().enumerate() {
        let nodes: String = node.command(redis::cmd("CLUSTER").arg("NODES")).await.unwrap();
        let mine = nodes.lines().find(|line| line.contains("myself")).unwrap();
        let serves = mine.split_whitespace().skip(8).any(|range| match range.split_once('-') {
            Some((low, high)) => (low.parse().unwrap_or(u16::MAX)..=high.parse().unwrap_or(0)).contains(&slot),
            None => range.parse::<u16>().is_ok_and(|single| single == slot),
        });
        if serves {
            return index;
        }
    }
    panic!("no primary serves slot {slot}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lockout_survives_its_slot_moving_to_another_primary() {
    let Some(cluster) = RedisCluster::start(3, 0).await else { return };
    let limiter = cluster_limiter(&cluster).await;
    let policy = FailurePolicy { max: 3, window: Duration::from_secs(60), lockout: Duration::from_secs(120) };
    let locked = FailureKey { account: "moving@example.com".into(), ip: Some("192.0.2.80".parse().unwrap()) };
    let counting = FailureKey { account: "moving@example.com".into(), ip: Some("192.0.2.81".parse().unwrap()) };
    for _ in 0..policy.max {
        limiter.record_failure(&locked, &policy).await.unwrap();
    }
    limiter.record_failure(&counting, &policy).await.unwrap();
    assert!(limiter.locked_for(&locked).await.unwrap().is_some());

    let keys = limiter.keys.counter(&locked);
    let slot: u16 = cluster.nodes[0].command(redis::cmd("CLUSTER").arg("KEYSLOT").arg(&keys.counter)).await.unwrap();
    let source = owner_of(&cluster, slot).await;
    let destination = (source + 1) % cluster.nodes.len();
    let (from, to) = (&cluster.nodes[source], &cluster.nodes[destination]);
    let (from_id, to_id) = (node_id(from).await, node_id(to).await);

    // The move, as `redis-cli --cluster reshard` makes it: IMPORTING on the
    // destination, MIGRATING on the source, the keys one MIGRATE at a time.
    let _: () =
        to.command(redis::cmd("CLUSTER").arg("SETSLOT").arg(slot).arg("IMPORTING").arg(&from_id)).await.unwrap();
    let _: () =
        from.command(redis::cmd("CLUSTER").arg("SETSLOT").arg(slot).arg("MIGRATING").arg(&to_id)).await.unwrap();
    let moving: Vec<String> =
        from.command(redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(slot).arg(100)).await.unwrap();
    assert!(moving.len() >= 3, "the counters and their index share the slot: {moving:?}");
    // Half the keys move first: a script now finds some keys on each side.
    let (first, rest) = moving.split_at(moving.len() / 2);
    for batch in [first, rest] {
        let _: () = from
            .command(
                redis::cmd("MIGRATE").arg("127.0.0.1").arg(to.port).arg("").arg(0).arg(5000).arg("KEYS").arg(batch),
            )
            .await
            .unwrap();
        // Mid-move the lockout holds, wherever its counter is now: the
        // client follows the source's ASK to the destination.
        let left = limiter.locked_for(&locked).await.expect("the limiter answers during the move");
        assert!(left.is_some(), "the lockout held during the move");
    }
    for node in &cluster.nodes {
        let _: () = node.command(redis::cmd("CLUSTER").arg("SETSLOT").arg(slot).arg("NODE").arg(&to_id)).await.unwrap();
    }
    assert_eq!(owner_of(&cluster, slot).await, destination, "the slot moved");
    let count: i64 = to.command(redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot)).await.unwrap();
    assert_eq!(count, i64::try_from(moving.len()).unwrap(), "every key moved with it");

    // After the move: the lockout is still there, counting goes on where it
    // was, and clearing the account finds every counter through its index.
    let left = limiter.locked_for(&locked).await.unwrap().expect("the lockout survived the move");
    assert!(left > Duration::from_secs(100), "{left:?}");
    assert_eq!(limiter.record_failure(&counting, &policy).await.unwrap(), None, "second failure of three");
    assert_eq!(limiter.record_failure(&counting, &policy).await.unwrap(), Some(policy.lockout), "the third locks");
    limiter.clear_account("moving@example.com").await.unwrap();
    assert_eq!(limiter.locked_for(&locked).await.unwrap(), None);
    assert_eq!(limiter.locked_for(&counting).await.unwrap(), None);
}
