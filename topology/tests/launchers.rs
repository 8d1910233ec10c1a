//! Both launchers give the same `Deployment` for every topology, and node
//! control does what it says: pause makes a node silent, kill and restart
//! keep acknowledged AOF data, stop is graceful, a Sentinel deployment fails
//! over and the topology-aware connection follows it, a Cluster routes keys
//! of every slot, and (Docker) an isolated node loses its peers while this
//! host still reaches it. Every wait is bounded.

#![expect(
    clippy::expect_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::time::Duration;
use topology::{
    connect, Connection, Deployment, LaunchOptions, Launcher, Profile, Timeouts, Topology,
};

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        response: Duration::from_millis(500),
    }
}

fn options() -> LaunchOptions {
    LaunchOptions::from_env().expect("launch options")
}

fn docker_available() -> bool {
    let image = options().redis_image;
    let ok = std::process::Command::new("docker")
        .args(["image", "inspect", &image])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("REQUIRE_DOCKER").is_none(),
            "REQUIRE_DOCKER set but {image} is missing"
        );
        eprintln!("SKIPPED: Docker image {image} not available");
    }
    ok
}

async fn launch(topology: Topology, profile: Profile, launcher: Launcher) -> Deployment {
    Deployment::launch_with(&topology, profile, &options(), launcher)
        .await
        .expect("launch")
}

async fn query<T: redis::FromRedisValue>(
    conn: &mut impl redis::aio::ConnectionLike,
    args: &[&str],
) -> redis::RedisResult<T> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(conn).await
}

async fn info_field(d: &Deployment, id: &str, section: &str, field: &str) -> Option<String> {
    let node = d.node(id).expect("node");
    let mut c = connect(&d.node_target(node), &quick()).await.ok()?;
    let text: String = query(&mut c, &["INFO", section]).await.ok()?;
    text.lines().find_map(|l| {
        l.trim_end()
            .strip_prefix(&format!("{field}:"))
            .map(str::to_owned)
    })
}

async fn node_control_round_trip(launcher: Launcher) {
    let mut d = launch(Topology::Standalone, Profile::Hardened, launcher).await;
    assert_eq!(d.launcher(), launcher);
    let mut conn = connect(&d.target, &quick())
        .await
        .expect("connect as admin");
    let _: () = query(&mut conn, &["SET", "durable", "1"])
        .await
        .expect("SET");
    // The app user exists and cannot run FLUSHALL.
    let mut app = connect(&d.app_target().expect("app target"), &quick())
        .await
        .expect("connect as app");
    let denied: redis::RedisResult<()> = query(&mut app, &["FLUSHALL"]).await;
    let err = denied.expect_err("app must not run FLUSHALL");
    assert!(topology::client::is_noperm(&err), "{err}");

    d.pause("n1").await.expect("pause");
    assert!(
        connect(&d.target, &quick()).await.is_err(),
        "a paused server must not answer"
    );
    d.resume("n1").await.expect("resume");
    d.wait_converged(Duration::from_secs(10))
        .await
        .expect("ready after resume");

    // appendfsync everysec: wait past one fsync before the crash.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.kill("n1").await.expect("kill");
    assert!(
        connect(&d.target, &quick()).await.is_err(),
        "a killed server must not answer"
    );
    d.restart("n1").await.expect("restart after kill");
    let mut conn = connect(&d.target, &quick())
        .await
        .expect("connect after restart");
    let v: Option<String> = query(&mut conn, &["GET", "durable"]).await.expect("GET");
    assert_eq!(
        v.as_deref(),
        Some("1"),
        "AOF lost an acknowledged write across kill/restart"
    );

    d.stop("n1").await.expect("graceful stop");
    assert!(connect(&d.target, &quick()).await.is_err());
    d.restart("n1").await.expect("restart after stop");
    assert!(matches!(
        d.kill("n9").await,
        Err(topology::LaunchError::NoSuchNode(id)) if id == "n9"
    ));
}

/// A Sentinel deployment converges, the app user writes through Sentinel,
/// and after the primary is killed the same connection finds the new
/// primary (it never retries the failed command itself).
async fn sentinel_fails_over_and_the_connection_follows(launcher: Launcher) {
    let mut d = launch(Topology::SENTINEL, Profile::Hardened, launcher).await;
    assert_eq!(d.nodes().len(), 6);
    assert_eq!(d.sentinels().count(), 3);
    let first = d.primary().await.expect("primary").id.clone();
    assert_eq!(first, "n1");
    for id in ["n2", "n3"] {
        assert_eq!(
            info_field(&d, id, "replication", "master_link_status")
                .await
                .as_deref(),
            Some("up"),
            "{id}"
        );
    }
    let app = d.app_service().expect("app service");
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        response: Duration::from_secs(1),
    };
    let mut conn = Connection::open(&app, &timeouts)
        .await
        .expect("sentinel connection");
    let _: () = query(&mut conn, &["SET", "k", "before"])
        .await
        .expect("SET");
    // WAIT makes the write durable on a replica before the crash.
    let acked: i64 = query(&mut conn, &["WAIT", "2", "2000"])
        .await
        .expect("WAIT");
    assert_eq!(acked, 2);
    d.kill("n1").await.expect("kill primary");
    // down-after 5 s + election: bounded at 30 s.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let value = loop {
        if let Ok(v) = query::<Option<String>>(&mut conn, &["GET", "k"]).await {
            let w: redis::RedisResult<()> = query(&mut conn, &["SET", "k2", "after"]).await;
            if w.is_ok() {
                break v;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failover within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        value.as_deref(),
        Some("before"),
        "a WAIT-acknowledged write was lost"
    );
    let second = d.primary().await.expect("new primary").id.clone();
    assert_ne!(second, "n1");
    // The old primary comes back as a replica of the new one.
    d.restart("n1").await.expect("restart old primary");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while info_field(&d, "n1", "replication", "master_link_status")
        .await
        .as_deref()
        != Some("up")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "old primary did not rejoin as a replica"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A launched cluster serves every slot: keys spread over all shards are
/// written and read through one connection (MOVED handled, announced names
/// mapped to reachable addresses).
async fn cluster_routes_every_slot(launcher: Launcher) {
    let d = launch(Topology::CLUSTER, Profile::Hardened, launcher).await;
    assert_eq!(d.data_nodes().count(), 6);
    let app = d.app_service().expect("app service");
    let mut conn = Connection::open(&app, &quick())
        .await
        .expect("cluster connection");
    for i in 0..200 {
        let key = format!("key:{i}");
        let _: () = query(&mut conn, &["SET", &key, &i.to_string()])
            .await
            .expect("SET");
    }
    for i in 0..200 {
        let v: String = query(&mut conn, &["GET", &format!("key:{i}")])
            .await
            .expect("GET");
        assert_eq!(v, i.to_string());
    }
    // Each primary holds some of them: the keys really spread.
    let mut holding = 0;
    for node in d.data_nodes() {
        let mut c = connect(&d.node_target(node), &quick()).await.expect("node");
        let role: Vec<redis::Value> = query(&mut c, &["ROLE"]).await.expect("ROLE");
        let size: i64 = query(&mut c, &["DBSIZE"]).await.expect("DBSIZE");
        if matches!(&role[0], redis::Value::BulkString(b) if b == b"master") && size > 0 {
            holding += 1;
        }
    }
    assert_eq!(holding, 3);
    // A weak cluster leaves one shard without its replica.
    let weak = launch(Topology::CLUSTER, Profile::Weak, launcher).await;
    assert_eq!(weak.data_nodes().count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_launcher_node_control() {
    node_control_round_trip(Launcher::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_launcher_node_control() {
    if !docker_available() {
        return;
    }
    node_control_round_trip(Launcher::Docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_sentinel_fails_over_and_the_connection_follows() {
    sentinel_fails_over_and_the_connection_follows(Launcher::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_sentinel_fails_over_and_the_connection_follows() {
    if !docker_available() {
        return;
    }
    sentinel_fails_over_and_the_connection_follows(Launcher::Docker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_cluster_routes_every_slot() {
    cluster_routes_every_slot(Launcher::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_cluster_routes_every_slot() {
    if !docker_available() {
        return;
    }
    cluster_routes_every_slot(Launcher::Docker).await;
}

/// Docker isolation cuts a replica off its primary while its published
/// port still answers; healing brings the link back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_isolated_replica_loses_its_primary_but_stays_reachable() {
    if !docker_available() {
        return;
    }
    let mut d = launch(Topology::SENTINEL, Profile::Hardened, Launcher::Docker).await;
    d.isolate("n2").await.expect("isolate");
    let n2 = d.node_target(d.node("n2").expect("n2"));
    let mut c = connect(&n2, &quick())
        .await
        .expect("isolated node still reachable from the host");
    // Drop the replication link; reconnecting needs the peers network.
    let _: i64 = query(&mut c, &["CLIENT", "KILL", "TYPE", "master"])
        .await
        .expect("CLIENT KILL");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if info_field(&d, "n2", "replication", "master_link_status")
            .await
            .as_deref()
            == Some("down")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "isolated replica kept its link"
        );
    }
    // Still down a few seconds later: it really cannot reach its primary.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        info_field(&d, "n2", "replication", "master_link_status")
            .await
            .as_deref(),
        Some("down")
    );
    d.heal("n2").await.expect("heal");
    // While cut off, the replica's name lookups of its primary go to the
    // host's resolvers and may block it for their timeout; relinking can
    // then take a while on a loaded machine (seen: over 20 s in CI).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while info_field(&d, "n2", "replication", "master_link_status")
        .await
        .as_deref()
        != Some("up")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "healed replica did not relink"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_launcher_refuses_isolation_with_a_reason() {
    let mut d = launch(Topology::Standalone, Profile::Hardened, Launcher::Process).await;
    let e = d
        .isolate("n1")
        .await
        .expect_err("processes cannot be isolated");
    assert!(matches!(
        e,
        topology::LaunchError::Unsupported {
            action: "isolate",
            ..
        }
    ));
    assert!(e.to_string().contains("needs the Docker launcher"), "{e}");
}

#[tokio::test]
async fn bad_launcher_setting_is_one_clear_error() {
    let e = LaunchOptions::from_lookup(|k| (k == "REDIS_LAUNCHER").then(|| "kubernetes".into()))
        .expect_err("unknown launcher");
    assert_eq!(
        e.to_string(),
        "failed to read REDIS_LAUNCHER: `kubernetes` is not docker, process or auto"
    );
}
