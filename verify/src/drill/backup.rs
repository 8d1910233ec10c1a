//! `persistence.backup-restore`: a backup is only as good as a restore
//! from it. Under write load, BGSAVE on the primary, wait (bounded) until
//! Redis itself reports the save done and good (`rdb_bgsave_in_progress:0`,
//! `rdb_last_bgsave_status:ok`, LASTSAVE newer than before), copy the RDB,
//! start a fresh `redis-server` from the copy on a free 127.0.0.1 port and
//! hand what it holds to the harness, which checks that every write acked
//! before the BGSAVE was sent is there and nothing never written is.
//!
//! Why "acked before the BGSAVE was sent" is the line: Redis runs commands
//! one at a time and forks the saving child while executing BGSAVE, so a
//! write whose reply the client had before it sent BGSAVE was applied
//! before the fork and is in the snapshot. Writes in flight at that instant
//! may or may not be; they are not counted either way.
//!
//! The copy needs the node's files: the process launcher runs the node on
//! this host, so the file is copied directly. The Docker launcher does not
//! hand its container ids to drills (no `docker cp`), and an existing
//! deployment gives no file access; both are reported `skip` with that
//! reason, before any write.

use super::{Budget, Drill, DrillCtx, DrillError, DrillMeta, Subject};
use crate::check::{Applies, BoxFuture, Evidence};
use crate::config::DrillSettings;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use topology::Launcher;

/// Bound for BGSAVE to be accepted (another save may be running) and for
/// the save to finish.
const SAVE: Duration = Duration::from_secs(30);
/// Bound for the fresh node to answer and finish loading the copy.
const LOAD: Duration = Duration::from_secs(20);
/// Bound for writes to be acknowledged after the BGSAVE.
const RESUME: Duration = Duration::from_secs(10);
/// Write-unavailability a BGSAVE may cost by default: the fork of a
/// drill-sized dataset blocks the server for milliseconds; the rest is
/// slack for a loaded CI host (`[drills]` overrides it).
const BGSAVE_UNAVAILABILITY_MS: u64 = 2000;

/// The budget: nothing acked before the backup may be missing from it.
pub fn backup_budget(s: &DrillSettings) -> Budget {
    let max_unavailability_ms = s.max_unavailability_ms.unwrap_or(BGSAVE_UNAVAILABILITY_MS);
    Budget {
        max_lost_acked: Some(0),
        max_loss_window_ms: None,
        max_unavailability_ms,
        basis: format!(
            "an RDB taken by BGSAVE holds every write acked before BGSAVE was sent: 0 of them absent from the restored node; unavailability ≤ {max_unavailability_ms} ms (the fork)"
        ),
    }
}

/// `persistence.backup-restore`. `stale` restores from a snapshot taken
/// before the measured one (a backup older than its label): the
/// configuration the tests use to prove the comparison fails when writes
/// acked before the backup are missing from it.
pub struct BackupRestore {
    /// Restore from an earlier BGSAVE instead of the measured one.
    pub stale: bool,
}

static BACKUP_RESTORE: DrillMeta = DrillMeta {
    id: "persistence.backup-restore",
    title: "A fresh server restored from a BGSAVE holds every write acked before it",
    applies: Applies {
        standalone: true,
        sentinel: false,
        cluster: false,
    },
    injects: "BGSAVE on the server under write load; copies the RDB (CONFIG GET dir/dbfilename) and starts a fresh redis-server from the copy on a free 127.0.0.1 port (process launcher; skipped on Docker and existing deployments: no file access)",
    measures: "rdb_bgsave_in_progress, rdb_last_bgsave_status and LASTSAVE after the save; RDB size; the restored node's keys and values against the writes acked before BGSAVE (absent = lost, never written = unexpected)",
    budget: "0 writes acked before the BGSAVE absent from the restored node, 0 unexpected; unavailability ≤ 2000 ms ([drills] max_unavailability_ms)",
    why: "A backup nobody restored is a hope: the Redis persistence docs advise copying the RDB off the host, and only a restore shows the copy is complete (`rdb_last_bgsave_status:err` means the last save failed, e.g. on a full disk, while writes still succeed unless stop-writes-on-bgsave-error).",
};

impl Drill for BackupRestore {
    fn meta(&self) -> &'static DrillMeta {
        &BACKUP_RESTORE
    }

    fn available(&self, d: &Subject<'_>) -> Result<(), DrillError> {
        match d.launcher() {
            Some(Launcher::Process) => Ok(()),
            Some(Launcher::Docker) => Err(DrillError::Unsupported(
                "copies the RDB out of the node's data directory: the Docker launcher does not expose its container ids to drills (no docker cp); the process launcher runs it".into(),
            )),
            None => Err(DrillError::Unsupported(
                "copies the RDB out of the server's data directory: an existing deployment gives no file access".into(),
            )),
        }
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(async move {
            let node = ctx.old_primary.clone();
            let rdb = rdb_path(ctx, &node).await?;
            let dir = Scratch::new()?;
            let copy = dir.path().join("dump.rdb");
            if self.stale {
                // The earlier snapshot: what an old backup holds.
                bgsave(ctx, &node).await?;
                copy_rdb(ctx, &rdb, &copy)?;
                // Writes acked from here on are missing from the copy.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let (fault, cutoff) = bgsave(ctx, &node).await?;
            if !self.stale {
                copy_rdb(ctx, &rdb, &copy)?;
            }
            ctx.log.record("RDB copied", Some(&node), None);
            let lists = restore(ctx, dir.path()).await?;
            ctx.restored = Some((cutoff, lists));
            ctx.mark_heal("restored node read and stopped", &node);
            ctx.wait_ack_after(fault, RESUME).await?;
            Ok(backup_budget(ctx.settings))
        })
    }
}

/// `CONFIG GET dir` and `dbfilename` (as admin): where the RDB is.
async fn rdb_path(ctx: &mut DrillCtx<'_>, node: &str) -> Result<PathBuf, DrillError> {
    let value = |reply: String| reply.split_once(' ').map(|(_, v)| v.to_owned());
    let dir = ctx.admin(node, &["CONFIG", "GET", "dir"]).await?;
    let file = ctx.admin(node, &["CONFIG", "GET", "dbfilename"]).await?;
    let (Some(d), Some(f)) = (value(dir), value(file)) else {
        return Err(DrillError::Other(
            "read CONFIG GET dir / dbfilename: empty reply".into(),
        ));
    };
    let path = Path::new(&d).join(&f);
    ctx.evidence.push(Evidence::on(
        node,
        "CONFIG GET dir, CONFIG GET dbfilename",
        path.display().to_string(),
    ));
    Ok(path)
}

fn field<'t>(info: &'t str, name: &str) -> Option<&'t str> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
}

fn integer(reply: &str, what: &str) -> Result<u64, DrillError> {
    reply
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| DrillError::Other(format!("read {what}: got {reply:?}")))
}

/// Runs BGSAVE and waits (bounded) for Redis to report it finished and
/// good. Returns the fault time (ms) and the cutoff: the drill-clock
/// instant just before BGSAVE was sent.
async fn bgsave(ctx: &mut DrillCtx<'_>, node: &str) -> Result<(u64, Duration), DrillError> {
    let before = integer(&ctx.admin(node, &["LASTSAVE"]).await?, "LASTSAVE")?;
    // LASTSAVE has 1 s resolution: a save finishing in the second of the
    // previous one would not look newer, so start in a later second.
    let now = integer(&ctx.admin(node, &["TIME"]).await?, "TIME")?;
    if now <= before {
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let deadline = tokio::time::Instant::now() + SAVE;
    let cutoff = ctx.log.clock().now();
    let fault = ctx.mark_fault("BGSAVE", node);
    let started = loop {
        match ctx.admin(node, &["BGSAVE"]).await {
            Ok(reply) => break reply,
            // Another save is running (its snapshot predates the cutoff):
            // wait for it and ask again.
            Err(e)
                if ["in progress", "child process is active"]
                    .iter()
                    .any(|m| e.to_string().contains(m)) =>
            {
                if tokio::time::Instant::now() >= deadline {
                    return Err(DrillError::Other(format!(
                        "start BGSAVE within {SAVE:?}: {e}"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    };
    ctx.evidence.push(Evidence::on(node, "BGSAVE", started));
    loop {
        let info = ctx.admin(node, &["INFO", "persistence"]).await?;
        let in_progress = field(&info, "rdb_bgsave_in_progress").unwrap_or("?");
        let status = field(&info, "rdb_last_bgsave_status").unwrap_or("?");
        let last = integer(&ctx.admin(node, &["LASTSAVE"]).await?, "LASTSAVE")?;
        if in_progress == "0" && status != "ok" {
            return Err(DrillError::Other(format!(
                "save the RDB: rdb_last_bgsave_status:{status} after BGSAVE"
            )));
        }
        if in_progress == "0" && last > before {
            ctx.log.record("BGSAVE done", Some(node), None);
            ctx.evidence.push(Evidence::on(
                node,
                "INFO persistence",
                format!("rdb_bgsave_in_progress:{in_progress}, rdb_last_bgsave_status:{status}"),
            ));
            ctx.evidence.push(Evidence::on(
                node,
                "LASTSAVE",
                format!("{last} (before BGSAVE: {before})"),
            ));
            return Ok((fault, cutoff));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DrillError::Other(format!(
                "see BGSAVE finish within {SAVE:?}: rdb_bgsave_in_progress:{in_progress}, rdb_last_bgsave_status:{status}, LASTSAVE {last} (before {before})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn copy_rdb(ctx: &mut DrillCtx<'_>, from: &Path, to: &Path) -> Result<(), DrillError> {
    let bytes = std::fs::copy(from, to)
        .map_err(|e| DrillError::Other(format!("copy {}: {e}", from.display())))?;
    ctx.evidence.push(Evidence::new(
        "copy of the RDB",
        format!("{bytes} bytes from {}", from.display()),
    ));
    Ok(())
}

/// A temp dir of our own, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, DrillError> {
        let dir = std::env::temp_dir().join(format!(
            "verify-restore-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&dir)
            .map_err(|e| DrillError::Other(format!("create {}: {e}", dir.display())))?;
        Ok(Self(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> Result<u16, DrillError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| DrillError::Other(format!("find a free port: {e}")))
}

/// Starts a fresh `redis-server` on the copy in `dir`, reads every writer
/// list from it and stops it (by its PID) whatever happened.
async fn restore(ctx: &mut DrillCtx<'_>, dir: &Path) -> Result<super::Lists, DrillError> {
    let bin = std::env::var_os("REDIS_SERVER_BIN").unwrap_or_else(|| "redis-server".into());
    let port = free_port()?;
    let mut child = tokio::process::Command::new(&bin)
        .args(["--bind", "127.0.0.1", "--port", port.to_string().as_str()])
        .arg("--dir")
        .arg(dir)
        .args(["--dbfilename", "dump.rdb"])
        .args(["--appendonly", "no", "--save", ""])
        .args(["--logfile", "restore.log", "--daemonize", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            DrillError::Other(format!(
                "start {} (set REDIS_SERVER_BIN): {e}",
                Path::new(&bin).display()
            ))
        })?;
    let read = read_restored(ctx, port).await;
    // Stopped by PID, whatever the read gave.
    let _ = child.kill().await;
    ctx.log.record("restored node stopped", None, None);
    match read {
        Ok(lists) => Ok(lists),
        Err(e) => {
            let log = std::fs::read_to_string(dir.join("restore.log")).unwrap_or_default();
            let tail = log.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
            Err(DrillError::Other(format!("{e} (restore.log: {tail})")))
        }
    }
}

async fn read_restored(ctx: &mut DrillCtx<'_>, port: u16) -> Result<super::Lists, DrillError> {
    let url = format!("redis://127.0.0.1:{port}/");
    let client = redis::Client::open(url.as_str())
        .map_err(|e| DrillError::Other(format!("address the restored node: {e}")))?;
    let deadline = tokio::time::Instant::now() + LOAD;
    let mut conn = loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(1),
            client.get_multiplexed_async_connection(),
        )
        .await;
        if let Ok(Ok(mut c)) = attempt {
            // A server still loading answers INFO; `loading:0` means done.
            let info: redis::RedisResult<String> = redis::cmd("INFO")
                .arg("persistence")
                .query_async(&mut c)
                .await;
            if let Ok(i) = info {
                if field(&i, "loading") == Some("0") {
                    break c;
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DrillError::Other(format!(
                "see the restored node on 127.0.0.1:{port} finish loading (loading:0) within {LOAD:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ctx.log.record("restored node loaded", None, None);
    let keys: i64 = redis::cmd("DBSIZE")
        .query_async(&mut conn)
        .await
        .map_err(|e| DrillError::Other(format!("run DBSIZE on the restored node: {e}")))?;
    let lists = tokio::time::timeout(
        Duration::from_secs(10),
        super::read_lists(&mut conn, &ctx.keys, false),
    )
    .await
    .map_err(|_| DrillError::Other("read the restored node within 10s".into()))?
    .map_err(|e| DrillError::Other(format!("read the restored node: {e}")))?;
    let values: usize = lists.values().map(Vec::len).sum();
    ctx.evidence.push(Evidence::new(
        format!("restored node 127.0.0.1:{port}: INFO persistence, DBSIZE, LRANGE"),
        format!("loading:0; {keys} keys; {values} values in the writer lists"),
    ));
    Ok(lists)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_read_exactly() {
        let info = "# Persistence\r\nloading:0\r\nrdb_bgsave_in_progress:1\r\nrdb_last_bgsave_status:ok\r\n";
        assert_eq!(field(info, "loading"), Some("0"));
        assert_eq!(field(info, "rdb_bgsave_in_progress"), Some("1"));
        assert_eq!(field(info, "rdb_last_bgsave_status"), Some("ok"));
        assert_eq!(field(info, "rdb_last"), None);
        assert!(integer("1764630000", "LASTSAVE").is_ok_and(|v| v == 1_764_630_000));
        assert!(integer("1764630000 123", "TIME").is_ok());
        assert!(integer("(nil)", "LASTSAVE").is_err());
    }

    #[test]
    fn an_existing_deployment_is_skipped_for_want_of_file_access() {
        let target = topology::Target::new("127.0.0.1", 6379, None, None);
        let node = super::super::control::DrillNode {
            id: "127.0.0.1:6379".into(),
            sentinel: false,
            announced: topology::Addr::new("127.0.0.1", 6379),
            reachable: topology::Addr::new("127.0.0.1", 6379),
            target: target.clone(),
        };
        let mut commands = super::super::commands::Commands::new(Default::default(), Vec::new());
        let subject = Subject::existing(
            topology::Topology::Standalone,
            topology::Service::standalone(target),
            vec![node],
            0,
            &mut commands,
        );
        let skip = BackupRestore { stale: false }.available(&subject);
        assert!(
            matches!(&skip, Err(DrillError::Unsupported(why)) if why.contains("no file access")),
            "{skip:?}"
        );
    }

    #[test]
    fn the_backup_may_lose_nothing_acked_before_it() {
        let b = backup_budget(&DrillSettings::default());
        assert_eq!(
            (b.max_lost_acked, b.max_unavailability_ms),
            (Some(0), BGSAVE_UNAVAILABILITY_MS)
        );
    }
}
