//! The scratch node of `monitoring.alerts-fire`: a standalone redis-server
//! the drill launches beside the deployment (same launcher, profile and
//! passwords, so the one exporter reaches it), filled to a small
//! `maxmemory` under `noeviction` so the memory alerts have something to
//! fire on. A deployment node is never filled: that would refuse the
//! application's writes (or evict its keys) to prove an alert.

use super::DrillError;
use topology::{Deployment, ErrorCode, LaunchOptions, Profile, ReplyError, Timeouts, Topology};

/// Headroom above the empty node's `used_memory` that `maxmemory` allows:
/// small, so a few hundred writes reach it.
const HEADROOM: u64 = 4 << 20;
/// Size of each fill value.
const VALUE: usize = 64 << 10;
/// Most fill writes before giving up (HEADROOM / VALUE is ~64).
const MAX_FILL: usize = 2_000;

/// Launches the scratch node like `d`.
pub(crate) async fn launch(d: &Deployment) -> Result<Deployment, DrillError> {
    let mut options = LaunchOptions::from_env().map_err(|e| {
        DrillError::Other(format!("read the launch options for the scratch node: {e}"))
    })?;
    if let Some(c) = &d.credentials {
        options.credentials = c.clone();
    }
    let profile = if d.credentials.is_some() {
        Profile::Hardened
    } else {
        d.profile
    };
    Deployment::launch_with(&Topology::Standalone, profile, &options, d.launcher())
        .await
        .map_err(|e| DrillError::Other(format!("launch the scratch node: {e}")))
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: std::time::Duration::from_secs(1),
        response: std::time::Duration::from_secs(2),
    }
}

/// Sets a small `maxmemory` (noeviction) on the scratch node and writes
/// until it answers OOM; returns what was done, for the evidence.
pub(crate) async fn fill(scratch: &Deployment) -> Result<String, DrillError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        DrillError::Other(format!("{what} on the scratch node: {e}"))
    };
    let mut c = topology::connect(&scratch.target, &timeouts())
        .await
        .map_err(|e| fail("connect", &e))?;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut c)
        .await
        .map_err(|e| fail("run INFO memory", &e))?;
    let used = crate::info::Info::parse(&info)
        .get_u64("used_memory")
        .ok_or_else(|| DrillError::Other("read used_memory on the scratch node".into()))?;
    let max = used + HEADROOM;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(max)
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query_async(&mut c)
        .await
        .map_err(|e| fail("set maxmemory", &e))?;
    let value = vec![b'x'; VALUE];
    for i in 0..MAX_FILL {
        let r: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("alerts-fire:fill:{i}"))
            .arg(&value)
            .query_async(&mut c)
            .await;
        match r {
            Ok(()) => {}
            Err(e) if ReplyError::from_redis(&e).is_some_and(|r| r.code == ErrorCode::Oom) => {
                return Ok(format!(
                    "maxmemory {max} (used_memory {used} + {HEADROOM}), noeviction; {i} writes of {VALUE} bytes, then OOM"
                ));
            }
            Err(e) => return Err(fail("write", &e)),
        }
    }
    Err(DrillError::Other(format!(
        "see the scratch node answer OOM within {MAX_FILL} writes of {VALUE} bytes (maxmemory {max})"
    )))
}

/// Keeps writing to the full scratch node (each write answered OOM, which
/// the exporter counts in `redis_errors_total{err="OOM"}`): `increase()`
/// needs the counter to grow between scrapes, not just to exist. Full-size
/// values under new keys: right after the fill, freed client buffers leave
/// room for a small write (an overwrite of one key would keep succeeding),
/// never for many large ones. Stops when the returned handle is aborted.
pub(crate) fn keep_rejecting(scratch: &Deployment) -> tokio::task::JoinHandle<()> {
    let target = scratch.target.clone();
    tokio::spawn(async move {
        let Ok(mut c) = topology::connect(&target, &timeouts()).await else {
            return;
        };
        let value = vec![b'x'; VALUE];
        for i in 0.. {
            let _: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("alerts-fire:more:{i}"))
                .arg(&value)
                .query_async(&mut c)
                .await;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
}
