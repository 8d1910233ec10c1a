//! Helpers shared by the live tests.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use topology::{Deployment, LaunchOptions, Launcher, Profile, Secret, Topology};

/// A single-threaded runtime for launching deployments from sync tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Launch settings from the environment (image names, binaries).
pub fn options() -> LaunchOptions {
    LaunchOptions::from_env().expect("launch options")
}

/// Launches a standalone deployment with a given launcher.
pub fn launch(rt: &tokio::runtime::Runtime, profile: Profile, launcher: Launcher) -> Deployment {
    launch_topology(rt, Topology::Standalone, profile, launcher)
}

/// Launches any topology with a given launcher.
pub fn launch_topology(
    rt: &tokio::runtime::Runtime,
    topology: Topology,
    profile: Profile,
    launcher: Launcher,
) -> Deployment {
    rt.block_on(Deployment::launch_with(
        &topology,
        profile,
        &options(),
        launcher,
    ))
    .expect("launch deployment")
}

/// Whether the Docker tests can run: a daemon answers and the configured
/// image is present. With REQUIRE_DOCKER=1 (CI) a missing Docker fails the
/// test instead of skipping it.
pub fn docker_available() -> bool {
    let image = options().redis_image;
    let ok = Command::new("docker")
        .args(["image", "inspect", &image])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("REQUIRE_DOCKER").is_none(),
            "REQUIRE_DOCKER is set but image {image} is not available (run scripts/build-offline-images.sh)"
        );
        eprintln!("SKIPPED: no Docker daemon or image {image}; set REDIS_IMAGE or run scripts/build-offline-images.sh");
    }
    ok
}

/// The verify binary.
pub fn verify_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_verify"));
    // Tests must not pick up a developer's verify.toml or password.
    c.env_remove("REDIS_PASSWORD")
        .current_dir(std::env::temp_dir());
    c
}

/// Writes a password file in `dir`.
pub fn password_file(dir: &Path, secret: &Secret) -> PathBuf {
    let p = dir.join("password");
    std::fs::write(&p, format!("{}\n", secret.expose())).expect("write password file");
    p
}

/// The `redis+sentinel://` target of a launched Sentinel deployment, through
/// its Sentinels' published loopback ports.
pub fn sentinel_target_url(d: &Deployment) -> String {
    let sentinels: Vec<String> = d
        .sentinels()
        .map(|s| format!("127.0.0.1:{}", s.reachable.port))
        .collect();
    format!("redis+sentinel://{}/mymaster", sentinels.join(","))
}

/// Runs verify with `--format json` and returns (exit code, report, stderr).
pub fn run_json(args: &[&str]) -> (i32, Value, String) {
    let out = verify_bin()
        .args(args)
        .args(["--format", "json"])
        .output()
        .expect("run verify");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report is not JSON ({e}); stdout: {} stderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    super::schema::assert_valid(super::schema::Schema::Report, &report);
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// Runs verify against a deployment's admin target.
pub fn verify_deployment(d: &Deployment, dir: &Path, extra: &[&str]) -> (i32, Value, String) {
    let url = format!("redis://{}", d.target.address());
    let mut args = vec!["--target".to_owned(), url];
    if let (Some(user), Some(pw)) = (&d.target.user, &d.target.password) {
        args.push("--user".into());
        args.push(user.clone());
        args.push("--password-file".into());
        args.push(password_file(dir, pw).display().to_string());
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_json(&refs)
}

/// The status of each check id in a JSON report.
pub fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or("").to_owned(),
                c["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Output of a command, both streams as one string.
pub fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A bounded wait for a condition.
pub fn wait_until(bound: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + bound;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
