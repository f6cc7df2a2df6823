//! The `Directory` contract, run against Redis and the in-process directory, plus what only
//! Redis can do (lose its data, come back).

use std::time::Duration;

use anyhow::{Result, ensure};
use confab_cluster::{Directory, DirectoryError, Keys, RedisDirectory};
use confab_testkit::{RedisCluster, RedisServer, eventually};
use fred::prelude::{Builder, ClientLike, Config, SortedSetsInterface};
use fred::types::{ClusterHash, CustomCommand};

use crate::helpers::{
    LONG_TTL, SHORT_TTL, WITHIN, nodes_of, redis_cluster_directory, redis_directory, sorted,
    wait_directory_ready,
};

/// Scenarios every `Directory` must pass.
mod scenarios {
    use super::*;

    pub(crate) async fn lease_expiry_makes_a_node_dead_and_hides_its_users(
        directory: &dyn Directory,
    ) -> Result<()> {
        directory.refresh_node_lease("n1", SHORT_TTL).await?;
        directory.refresh_node_lease("n2", LONG_TTL).await?;
        // Entries outlive the lease on purpose: the lease alone must hide them.
        directory.register_user("both", "n1", LONG_TTL).await?;
        directory.register_user("both", "n2", LONG_TTL).await?;
        directory.register_user("only-n1", "n1", LONG_TTL).await?;

        ensure!(directory.is_node_alive("n1").await?);
        ensure!(sorted(directory.live_nodes().await?) == ["n1", "n2"]);
        let found = directory.lookup_users(&["both", "only-n1"]).await?;
        ensure!(
            nodes_of(&found, "both") == ["n1", "n2"],
            "before expiry: {found:?}"
        );
        ensure!(
            nodes_of(&found, "only-n1") == ["n1"],
            "before expiry: {found:?}"
        );

        eventually("n1's lease to lapse", WITHIN, || async move {
            matches!(directory.is_node_alive("n1").await, Ok(false)).then_some(())
        })
        .await?;

        ensure!(directory.live_nodes().await? == ["n2"]);
        let found = directory.lookup_users(&["both", "only-n1"]).await?;
        ensure!(
            nodes_of(&found, "both") == ["n2"],
            "after expiry: {found:?}"
        );
        ensure!(!found.contains_key("only-n1"), "after expiry: {found:?}");
        Ok(())
    }

    pub(crate) async fn user_entries_lapse_unless_refreshed(
        directory: &dyn Directory,
    ) -> Result<()> {
        directory.refresh_node_lease("n1", LONG_TTL).await?;
        directory.register_user("fleeting", "n1", SHORT_TTL).await?;
        directory.register_user("staying", "n1", LONG_TTL).await?;
        let found = directory.lookup_users(&["fleeting", "staying"]).await?;
        ensure!(nodes_of(&found, "fleeting") == ["n1"], "{found:?}");

        eventually("the short entry to lapse", WITHIN, || async move {
            let found = directory.lookup_users(&["fleeting"]).await.ok()?;
            found.is_empty().then_some(())
        })
        .await?;
        let found = directory.lookup_users(&["fleeting", "staying"]).await?;
        ensure!(nodes_of(&found, "staying") == ["n1"], "{found:?}");
        ensure!(!found.contains_key("fleeting"), "{found:?}");
        Ok(())
    }

    pub(crate) async fn a_user_on_two_nodes_is_found_on_both_until_unregistered_from_one(
        directory: &dyn Directory,
    ) -> Result<()> {
        for node in ["phone-node", "laptop-node"] {
            directory.refresh_node_lease(node, LONG_TTL).await?;
            directory.register_user("alice", node, LONG_TTL).await?;
        }
        let found = directory.lookup_users(&["alice"]).await?;
        ensure!(
            nodes_of(&found, "alice") == ["laptop-node", "phone-node"],
            "{found:?}"
        );

        directory.unregister_user("alice", "phone-node").await?;
        let found = directory.lookup_users(&["alice"]).await?;
        ensure!(nodes_of(&found, "alice") == ["laptop-node"], "{found:?}");

        directory.unregister_user("alice", "laptop-node").await?;
        ensure!(directory.lookup_users(&["alice"]).await?.is_empty());
        Ok(())
    }

    pub(crate) async fn many_users_are_looked_up_in_one_call(
        directory: &dyn Directory,
    ) -> Result<()> {
        let nodes = ["n0", "n1", "n2"];
        for node in nodes {
            directory.refresh_node_lease(node, LONG_TTL).await?;
        }
        // More users than one script batch, so refresh_node_users has to split them.
        let users: Vec<String> = (0..1200).map(|i| format!("user-{i}")).collect();
        for (n, node) in nodes.iter().enumerate() {
            let mine: Vec<&str> = users
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 3 == n || (n == 0 && i % 10 == 1))
                .map(|(_, user)| user.as_str())
                .collect();
            directory.refresh_node_users(node, &mine, LONG_TTL).await?;
        }

        let mut asked: Vec<&str> = users.iter().map(String::as_str).collect();
        asked.extend(["nobody-1", "nobody-2"]);
        let found = directory.lookup_users(&asked).await?;
        ensure!(found.len() == users.len(), "found {} users", found.len());
        for (i, user) in users.iter().enumerate() {
            let mut expected = vec![format!("n{}", i % 3)];
            if i % 10 == 1 && i % 3 != 0 {
                expected.push("n0".to_owned());
            }
            ensure!(
                nodes_of(&found, user) == sorted(expected),
                "{user}: {:?}",
                found.get(user)
            );
        }
        Ok(())
    }

    pub(crate) async fn releasing_a_lease_hides_the_nodes_users_at_once(
        directory: &dyn Directory,
    ) -> Result<()> {
        directory.refresh_node_lease("leaving", LONG_TTL).await?;
        directory.refresh_node_lease("staying", LONG_TTL).await?;
        directory
            .refresh_node_users("leaving", &["u1", "u2", "u3"], LONG_TTL)
            .await?;
        directory.register_user("u1", "staying", LONG_TTL).await?;
        ensure!(directory.lookup_users(&["u1", "u2", "u3"]).await?.len() == 3);

        directory.release_node_lease("leaving").await?;
        ensure!(!directory.is_node_alive("leaving").await?);
        ensure!(directory.live_nodes().await? == ["staying"]);
        let found = directory.lookup_users(&["u1", "u2", "u3"]).await?;
        ensure!(
            found.len() == 1 && nodes_of(&found, "u1") == ["staying"],
            "{found:?}"
        );
        Ok(())
    }

    pub(crate) async fn looking_up_nobody_finds_nothing(directory: &dyn Directory) -> Result<()> {
        ensure!(directory.lookup_users(&[]).await?.is_empty());
        ensure!(directory.lookup_users(&["ghost"]).await?.is_empty());
        ensure!(!directory.is_node_alive("ghost-node").await?);
        directory.unregister_user("ghost", "ghost-node").await?;
        directory.ping().await?;
        Ok(())
    }

    pub(crate) async fn a_zero_ttl_is_rejected(directory: &dyn Directory) -> Result<()> {
        let lease = directory.refresh_node_lease("n1", Duration::ZERO).await;
        ensure!(
            matches!(lease, Err(DirectoryError::InvalidTtl(_))),
            "{lease:?}"
        );
        let user = directory
            .register_user("u", "n1", Duration::from_micros(10))
            .await;
        ensure!(
            matches!(user, Err(DirectoryError::InvalidTtl(_))),
            "{user:?}"
        );
        Ok(())
    }
}

/// One test per scenario and implementation.
macro_rules! directory_suite {
    ($($scenario:ident),* $(,)?) => {
        mod redis {
            $(
                #[tokio::test]
                async fn $scenario() -> anyhow::Result<()> {
                    let (directory, _server) = crate::helpers::redis_directory().await?;
                    super::scenarios::$scenario(&directory).await
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test]
                async fn $scenario() -> anyhow::Result<()> {
                    let (directory, _cluster) =
                        crate::helpers::redis_cluster_directory().await?;
                    super::scenarios::$scenario(&directory).await
                }
            )*
        }
        mod local {
            $(
                #[tokio::test]
                async fn $scenario() -> anyhow::Result<()> {
                    let (directory, ()) = crate::helpers::local_directory().await?;
                    super::scenarios::$scenario(&directory).await
                }
            )*
        }
    };
}

directory_suite!(
    lease_expiry_makes_a_node_dead_and_hides_its_users,
    user_entries_lapse_unless_refreshed,
    a_user_on_two_nodes_is_found_on_both_until_unregistered_from_one,
    many_users_are_looked_up_in_one_call,
    releasing_a_lease_hides_the_nodes_users_at_once,
    looking_up_nobody_finds_nothing,
    a_zero_ttl_is_rejected,
);

/// A plain client on the same server, to look at what the directory left in Redis.
async fn inspector(server: &RedisServer) -> Result<fred::prelude::Client> {
    let client = Builder::from_config(Config::from_url(&server.url())?).build()?;
    client.init().await?;
    Ok(client)
}

/// How many times Redis ran `EVALSHA` so far.
async fn evalsha_calls(redis: &fred::prelude::Client) -> Result<u64> {
    let info = CustomCommand::new_static("INFO", ClusterHash::FirstKey, false);
    let stats: String = redis.custom(info, vec!["commandstats"]).await?;
    let calls = stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(Ok(0), str::parse)?;
    Ok(calls)
}

#[tokio::test]
async fn redis_lookups_asked_together_share_one_script_call_and_each_gets_its_own_users()
-> Result<()> {
    let (directory, server) = redis_directory().await?;
    directory.refresh_node_lease("n1", LONG_TTL).await?;
    directory.refresh_node_lease("n2", LONG_TTL).await?;
    let users: Vec<String> = (0..50).map(|i| format!("user-{i}")).collect();
    for (i, user) in users.iter().enumerate() {
        let node = if i % 2 == 0 { "n1" } else { "n2" };
        directory.register_user(user, node, LONG_TTL).await?;
    }
    directory.lookup_users(&["warm-up"]).await?;
    let redis = inspector(&server).await?;
    let before = evalsha_calls(&redis).await?;

    // Fifty lookups at once, each of one user, one user nobody has and a shared one.
    let asked: Vec<[&str; 3]> = users
        .iter()
        .map(|user| [user.as_str(), "nobody", "user-0"])
        .collect();
    let lookups = asked.iter().map(|users| directory.lookup_users(users));
    let answers = futures_util::future::try_join_all(lookups).await?;

    let calls = evalsha_calls(&redis).await? - before;
    ensure!(
        calls <= 2,
        "{calls} script calls for 50 lookups asked together"
    );
    for (i, (user, found)) in users.iter().zip(&answers).enumerate() {
        let node = if i % 2 == 0 { "n1" } else { "n2" };
        ensure!(nodes_of(found, user) == [node], "{user}: {found:?}");
        ensure!(nodes_of(found, "user-0") == ["n1"], "{user}: {found:?}");
        let mut online = vec![user.clone(), "user-0".to_owned()];
        online.dedup();
        ensure!(
            sorted(found.keys().cloned().collect()) == sorted(online),
            "{user}: answered about others: {found:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn redis_lookups_delete_entries_of_dead_nodes() -> Result<()> {
    let (directory, server) = redis_directory().await?;
    directory.refresh_node_lease("dead", SHORT_TTL).await?;
    directory.refresh_node_lease("alive", LONG_TTL).await?;
    directory.register_user("bob", "dead", LONG_TTL).await?;
    directory.register_user("bob", "alive", LONG_TTL).await?;

    let redis = inspector(&server).await?;
    let key = Keys::default().user_nodes("bob");
    let stored: Vec<String> = redis.zrange(&key, 0, -1, None, false, None, false).await?;
    ensure!(sorted(stored) == ["alive", "dead"]);

    let directory = &directory;
    eventually(
        "the dead node to drop out of lookups",
        WITHIN,
        || async move {
            let found = directory.lookup_users(&["bob"]).await.ok()?;
            (nodes_of(&found, "bob") == ["alive"]).then_some(())
        },
    )
    .await?;
    let stored: Vec<String> = redis.zrange(&key, 0, -1, None, false, None, false).await?;
    ensure!(stored == ["alive"], "left in redis: {stored:?}");
    Ok(())
}

#[tokio::test]
async fn redis_directory_reconnects_after_a_restart_and_heartbeat_restores_users() -> Result<()> {
    let (directory, mut server) = redis_directory().await?;
    let users = ["carol", "dave"];
    directory.refresh_node_lease("n1", LONG_TTL).await?;
    directory.refresh_node_users("n1", &users, LONG_TTL).await?;
    ensure!(directory.lookup_users(&users).await?.len() == 2);

    server.kill();
    let directory = &directory;
    eventually(
        "the directory to notice Redis is gone",
        WITHIN,
        || async move { directory.ping().await.is_err().then_some(()) },
    )
    .await?;

    server.restart()?;
    wait_directory_ready(directory).await?;
    // A fresh server: nothing left, and the scripts must be loaded again.
    ensure!(directory.lookup_users(&users).await?.is_empty());
    ensure!(!directory.is_node_alive("n1").await?);

    // What the node's next heartbeat does.
    directory.refresh_node_lease("n1", LONG_TTL).await?;
    directory.refresh_node_users("n1", &users, LONG_TTL).await?;
    let found = directory.lookup_users(&users).await?;
    ensure!(nodes_of(&found, "carol") == ["n1"] && nodes_of(&found, "dave") == ["n1"]);
    ensure!(directory.live_nodes().await? == ["n1"]);
    Ok(())
}

#[tokio::test]
async fn redis_directory_connects_once_redis_comes_up() -> Result<()> {
    let mut server = RedisServer::start()?;
    server.kill();
    let directory = RedisDirectory::connect(&server.url(), Keys::default()).await?;
    ensure!(
        directory.ping().await.is_err(),
        "ping succeeded without a server"
    );

    server.restart()?;
    wait_directory_ready(&directory).await?;
    directory.refresh_node_lease("n1", LONG_TTL).await?;
    ensure!(directory.is_node_alive("n1").await?);
    Ok(())
}

#[tokio::test]
async fn redis_directories_with_different_prefixes_do_not_see_each_other() -> Result<()> {
    let server = RedisServer::start()?;
    let blue = RedisDirectory::connect(&server.url(), Keys::new("blue")?).await?;
    let green = RedisDirectory::connect(&server.url(), Keys::new("green")?).await?;
    for directory in [&blue, &green] {
        wait_directory_ready(directory).await?;
        directory.refresh_node_lease("n1", LONG_TTL).await?;
    }
    blue.register_user("erin", "n1", LONG_TTL).await?;

    ensure!(nodes_of(&blue.lookup_users(&["erin"]).await?, "erin") == ["n1"]);
    ensure!(green.lookup_users(&["erin"]).await?.is_empty());
    blue.release_node_lease("n1").await?;
    ensure!(green.is_node_alive("n1").await?);
    Ok(())
}

/// How many keys the Redis at `url` holds.
async fn key_count(url: &str) -> Result<u64> {
    let client = Builder::from_config(Config::from_url(url)?).build()?;
    client.init().await?;
    let dbsize = CustomCommand::new_static("DBSIZE", ClusterHash::FirstKey, false);
    Ok(client.custom(dbsize, Vec::<String>::new()).await?)
}

#[tokio::test]
async fn on_a_redis_cluster_users_spread_over_every_master() -> Result<()> {
    let (directory, cluster) = redis_cluster_directory().await?;
    directory.refresh_node_lease("n1", LONG_TTL).await?;
    let users: Vec<String> = (0..300).map(|i| format!("user-{i}")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    directory.refresh_node_users("n1", &names, LONG_TTL).await?;

    let found = directory.lookup_users(&names).await?;
    ensure!(found.len() == 300, "found {} of 300", found.len());
    ensure!(names.iter().all(|user| nodes_of(&found, user) == ["n1"]));
    // 300 user keys and the two lease keys, about a third on each master.
    let mut counts = Vec::new();
    for master in 0..3 {
        counts.push(key_count(&cluster.master_url(master)).await?);
    }
    ensure!(
        counts.iter().sum::<u64>() == 302,
        "keys per master: {counts:?}"
    );
    ensure!(
        counts.iter().all(|count| *count >= 60),
        "every master holds a share: {counts:?}"
    );
    Ok(())
}

/// The server of `cluster` that holds `user`'s entry.
fn server_of(cluster: &RedisCluster, user: &str) -> Result<usize> {
    cluster.serving(&Keys::default().sharded().user_nodes(user))
}

#[tokio::test]
async fn a_lost_master_fails_only_the_users_it_holds_at_once_and_names_the_shard() -> Result<()> {
    let (directory, mut cluster) = redis_cluster_directory().await?;
    directory.refresh_node_lease("n1", LONG_TTL).await?;
    let users: Vec<String> = (0..60).map(|i| format!("user-{i}")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    directory.refresh_node_users("n1", &names, LONG_TTL).await?;

    // A master holding no lease, so that only users' entries are lost.
    let leases = cluster.serving(&Keys::default().node_index())?;
    let lost = (leases + 1) % 3;
    let mut on_lost = Vec::new();
    for user in &names {
        if server_of(&cluster, user)? == lost {
            on_lost.push(*user);
        }
    }
    let elsewhere: Vec<&str> = names
        .iter()
        .copied()
        .filter(|user| !on_lost.contains(user))
        .collect();
    ensure!(!on_lost.is_empty() && !elsewhere.is_empty());
    cluster.kill(lost);

    // The lost master's users fail, naming their shard, once the client saw it go...
    let lost_address = cluster.addresses()[lost].clone();
    let (directory, first_lost) = (&directory, on_lost[0]);
    let (slot, server) = eventually(
        "lookups on the lost master to fail",
        WITHIN,
        || async move {
            match directory.lookup_users(&[first_lost]).await {
                Err(DirectoryError::Shard { slot, server, .. }) => Some((slot, server)),
                _ => None,
            }
        },
    )
    .await?;
    let key = Keys::default().sharded().user_nodes(first_lost);
    ensure!(
        slot == fred::util::redis_keyslot(key.as_bytes()),
        "slot {slot}"
    );
    ensure!(
        server == lost_address,
        "named {server}, expected {lost_address}"
    );
    // ...at once: refused because its master is known to be down, not timed out.
    match directory.lookup_users(&[first_lost]).await {
        Err(DirectoryError::Shard { source, .. }) => ensure!(
            source.to_string().contains("not connected to its master"),
            "failed otherwise: {source}"
        ),
        other => anyhow::bail!("a lookup on the lost master answered {other:?}"),
    }

    // Everyone else is still found and registered (a call held up by the lost master
    // fails with the command timeout, which `?` reports).
    let found = directory.lookup_users(&elsewhere).await?;
    ensure!(
        elsewhere
            .iter()
            .all(|user| nodes_of(&found, user) == ["n1"]),
        "{found:?}"
    );
    directory
        .refresh_node_users("n2", &elsewhere, LONG_TTL)
        .await?;
    Ok(())
}

#[tokio::test]
async fn with_the_leases_master_lost_lookups_go_by_the_entries_expiry() -> Result<()> {
    let (directory, mut cluster) = redis_cluster_directory().await?;
    directory.refresh_node_lease("n1", LONG_TTL).await?;
    let leases = cluster.serving(&Keys::default().node_index())?;
    // Users whose entries are on the other masters.
    let users: Vec<String> = (0..40).map(|i| format!("user-{i}")).collect();
    let mut elsewhere = Vec::new();
    for user in &users {
        if server_of(&cluster, user)? != leases {
            elsewhere.push(user.as_str());
        }
    }
    let (first, later) = elsewhere.split_at(elsewhere.len() / 2);
    directory.refresh_node_users("n1", first, LONG_TTL).await?;
    // Looked up once while the live nodes could be read: only n1 had a lease then.
    let found = directory.lookup_users(first).await?;
    ensure!(first.iter().all(|user| nodes_of(&found, user) == ["n1"]));
    cluster.kill(leases);

    // A node started during the outage cannot take a lease, but registers its users: they
    // are found, as are the others, by their entries alone.
    directory.refresh_node_users("n2", later, LONG_TTL).await?;
    let (directory, first, later) = (&directory, first, later);
    eventually("lookups without the leases", WITHIN, || async move {
        let found = directory.lookup_users(first).await.ok()?;
        let found_later = directory.lookup_users(later).await.ok()?;
        (first.iter().all(|user| nodes_of(&found, user) == ["n1"])
            && later
                .iter()
                .all(|user| nodes_of(&found_later, user) == ["n2"]))
        .then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn when_a_replica_takes_over_a_lost_master_its_users_are_found_again() -> Result<()> {
    let mut cluster = RedisCluster::start_with_replicas(3, 1)?;
    let directory = RedisDirectory::connect(&cluster.url(), Keys::default()).await?;
    wait_directory_ready(&directory).await?;
    directory.refresh_node_lease("n1", LONG_TTL).await?;
    let users: Vec<String> = (0..30).map(|i| format!("user-{i}")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    directory.refresh_node_users("n1", &names, LONG_TTL).await?;

    // The master of a user, its writes replicated.
    let user = names[0];
    let master = server_of(&cluster, user)?;
    let client = Builder::from_config(Config::from_url(&cluster.master_url(master))?).build()?;
    client.init().await?;
    let client = &client;
    eventually("the replica to have every write", WITHIN, || async move {
        let info = CustomCommand::new_static("INFO", ClusterHash::FirstKey, false);
        let replication: String = client.custom(info, vec!["replication"]).await.ok()?;
        let field = |line: &str, name: &str| {
            line.split(',')
                .find_map(|part| part.strip_prefix(name))
                .and_then(|value| value.trim().parse::<u64>().ok())
        };
        let offset = replication
            .lines()
            .find_map(|line| line.strip_prefix("master_repl_offset:"))?
            .trim()
            .parse::<u64>()
            .ok()?;
        let replica = replication
            .lines()
            .find_map(|line| line.strip_prefix("slave0:"))
            .and_then(|line| field(line, "offset="))?;
        (offset > 0 && replica == offset).then_some(())
    })
    .await?;
    cluster.kill(master);

    let directory = &directory;
    eventually(
        "the promoted replica to answer for the user",
        WITHIN,
        || async move {
            let found = directory.lookup_users(&[user]).await.ok()?;
            (nodes_of(&found, user) == ["n1"]).then_some(())
        },
    )
    .await?;
    Ok(())
}
