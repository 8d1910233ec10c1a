//! Both launchers give the same `Deployment`, and node control does what it
//! says: pause makes the server silent, kill and restart keep acknowledged
//! AOF data, stop is graceful. Every wait is bounded.

#![expect(
    clippy::expect_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::time::Duration;
use topology::{connect, Deployment, Launcher, Profile, Timeouts, Topology};

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_millis(500),
        response: Duration::from_millis(500),
    }
}

fn docker_available() -> bool {
    let image = topology::launch::redis_image();
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

async fn node_control_round_trip(launcher: Launcher) {
    let mut d = Deployment::launch_with(&Topology::Standalone, Profile::Hardened, launcher)
        .await
        .expect("launch");
    assert_eq!(d.launcher(), launcher);
    let mut conn = connect(&d.target, &quick())
        .await
        .expect("connect as admin");
    let _: () = redis::cmd("SET")
        .arg("durable")
        .arg("1")
        .query_async(&mut conn)
        .await
        .expect("SET");
    // The app user exists and cannot run FLUSHALL.
    let mut app = connect(&d.app_target().expect("app target"), &quick())
        .await
        .expect("connect as app");
    let denied: redis::RedisResult<()> = redis::cmd("FLUSHALL").query_async(&mut app).await;
    let err = denied.expect_err("app must not run FLUSHALL");
    assert!(topology::client::is_noperm(&err), "{err}");

    d.pause().await.expect("pause");
    assert!(
        connect(&d.target, &quick()).await.is_err(),
        "a paused server must not answer"
    );
    d.resume().await.expect("resume");
    d.wait_ready(Duration::from_secs(10))
        .await
        .expect("ready after resume");

    // appendfsync everysec: wait past one fsync before the crash.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.kill().await.expect("kill");
    assert!(
        connect(&d.target, &quick()).await.is_err(),
        "a killed server must not answer"
    );
    d.restart().await.expect("restart after kill");
    let mut conn = connect(&d.target, &quick())
        .await
        .expect("connect after restart");
    let v: Option<String> = redis::cmd("GET")
        .arg("durable")
        .query_async(&mut conn)
        .await
        .expect("GET");
    assert_eq!(
        v.as_deref(),
        Some("1"),
        "AOF lost an acknowledged write across kill/restart"
    );

    d.stop().await.expect("graceful stop");
    assert!(connect(&d.target, &quick()).await.is_err());
    d.restart().await.expect("restart after stop");
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

#[tokio::test]
async fn bad_launcher_setting_is_one_clear_error() {
    // Not set process-wide (tests run in parallel); exercised through the
    // error type instead.
    let e = topology::LaunchError::BadLauncherSetting("kubernetes".into());
    assert_eq!(
        e.to_string(),
        "failed to read REDIS_LAUNCHER: `kubernetes` is not docker, process or auto"
    );
}
