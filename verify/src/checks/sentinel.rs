//! `sentinel.*`: the Sentinels that detect a failed primary and fail over,
//! judged across every Sentinel of the deployment.
//!
//! Only read-only commands are sent (`SENTINEL MASTER`, `CKQUORUM`,
//! `GET-MASTER-ADDR-BY-NAME`, `CONFIG GET`, `MYID`, `INFO`); never
//! `SENTINEL SET`, `CONFIG SET`, `RESET` or `FAILOVER`, not even to probe.

use super::repl::{expected_replicas, refused, Tally};
use crate::check::{Applies, Area, CheckMeta, Needs, Outcome, Scope, Severity};
use crate::ctx::classify;
use crate::ctx::{code_of, value_text, Unavailable};
use crate::discover::row;
use crate::fleet::{Fleet, FleetKind, Member, Role};
use redis::Value;
use std::collections::BTreeMap;

/// The policy's `down-after-milliseconds` is 5000 and its
/// `failover-timeout` 60000; the bounds allow twice that, and leave out
/// Redis' defaults (30 s, 180 s), which the policy exists to change.
const DOWN_AFTER_MS: std::ops::RangeInclusive<u64> = 1_000..=10_000;
/// See [`DOWN_AFTER_MS`].
const FAILOVER_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 10_000..=120_000;

/// Fewer Sentinels than this cannot keep a majority through one loss.
const MIN_SENTINELS: usize = 3;

/// The master name the Sentinels monitor.
fn master_name(fleet: &Fleet) -> Option<&str> {
    match &fleet.kind {
        FleetKind::Sentinel { master } => Some(master),
        FleetKind::Standalone | FleetKind::Cluster => None,
    }
}

/// The outcome when discovery found no Sentinel to ask.
fn no_sentinel() -> Outcome {
    Outcome::skip("no reachable Sentinel")
}

/// `SENTINEL MASTER <master>` as field/value pairs, recorded as evidence
/// with `fields`.
async fn master_row(
    s: &Member,
    master: &str,
    t: &mut Tally,
    fields: &[&str],
) -> Option<BTreeMap<String, String>> {
    let command = format!("SENTINEL MASTER {master}");
    match s.ctx.cached(&["SENTINEL", "MASTER", master]).await {
        Ok(v) => {
            let r = row(&v);
            let shown: Vec<String> = fields
                .iter()
                .map(|f| format!("{f}:{}", r.get(*f).map_or("<absent>", String::as_str)))
                .collect();
            t.saw(&s.label, &command, shown.join(" "));
            Some(r)
        }
        Err(e) => {
            t.unavailable(&s.label, &command, &classify(e));
            None
        }
    }
}

fn number(r: &BTreeMap<String, String>, field: &str) -> Option<u64> {
    r.get(field).and_then(|v| v.parse().ok())
}

/// `sentinel.count`
pub struct Count;

static COUNT: CheckMeta = CheckMeta {
    id: "sentinel.count",
    area: Area::Sentinel,
    title: "At least three Sentinels are reachable and know each other",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::SENTINEL,
    why: "A failover needs a majority of the Sentinels to authorise it. With two, losing one (or the host it shares with the primary) leaves no majority and no failover; with three, any one may fail. Sentinels that do not know each other (hello messages lost, wrong sentinel-user/sentinel-pass) each count a smaller electorate. Expected: at least 3, and the launched spec or `[topology] sentinels` in verify.toml. https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/#example-2-basic-setup-with-three-boxes",
    remediation: "Run three Sentinels on three hosts (redis-conf/sentinel.conf on each); Helm: `sentinel.replicas: 3` (odd, at least 3); peers authenticate with `sentinel sentinel-user sentinel` / `sentinel-pass`.",
};

check_type!(Count, COUNT, fleet);

impl Count {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let Some(master) = master_name(fleet) else {
            return Outcome::skip("not a Sentinel deployment");
        };
        let need = fleet
            .expected
            .sentinels
            .or(fleet.settings.topology.sentinels)
            .unwrap_or(MIN_SENTINELS)
            .max(MIN_SENTINELS);
        let reachable: Vec<&str> = fleet.sentinels.iter().map(|s| s.label.as_str()).collect();
        let mut t = Tally::default();
        for s in &fleet.sentinels {
            let Some(r) = master_row(s, master, &mut t, &["num-other-sentinels"]).await else {
                continue;
            };
            match number(&r, "num-other-sentinels") {
                Some(others) if usize::try_from(others + 1).is_ok_and(|k| k < reachable.len()) => {
                    t.warn(format!(
                        "{}: knows {} Sentinel(s), itself included, of {} reachable: peers are not discovering each other (hello channel, sentinel-user/sentinel-pass)",
                        s.label,
                        others + 1,
                        reachable.len()
                    ));
                }
                Some(_) => t.pass(),
                None => t.error(format!(
                    "{}: SENTINEL MASTER has no num-other-sentinels",
                    s.label
                )),
            }
        }
        if reachable.len() < need {
            let unreachable: Vec<&str> =
                fleet.unreachable.iter().map(|(l, _)| l.as_str()).collect();
            t.fail(format!(
                "{} of at least {need} Sentinels reachable ({}){}",
                reachable.len(),
                reachable.join(", "),
                if unreachable.is_empty() {
                    String::new()
                } else {
                    format!("; unreachable nodes: {}", unreachable.join(", "))
                }
            ));
        }
        t.finish(
            format!(
                "{} Sentinels reachable ({}), each knowing all of them",
                reachable.len(),
                reachable.join(", ")
            ),
            "no reachable Sentinel",
        )
    }
}

/// `sentinel.quorum`
pub struct Quorum;

static QUORUM: CheckMeta = CheckMeta {
    id: "sentinel.quorum",
    area: Area::Sentinel,
    title: "Every Sentinel can reach the quorum and a failover majority",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::SENTINEL,
    why: "SENTINEL CKQUORUM asks each Sentinel whether enough peers are up to agree the primary is down (the quorum) and to authorise a failover (a majority). When it says NOQUORUM the next primary crash is a permanent outage, and nothing else reports it until then. A quorum below the majority lets a minority of Sentinels declare the primary down on their own view (a majority must still authorise the failover). https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/#sentinel-commands",
    remediation: "redis-conf/sentinel.conf: `sentinel monitor <name> <host> <port> 2` with three reachable Sentinels that authenticate to each other; Helm: `sentinel.quorum` (at most `sentinel.replicas`) and `sentinel.replicas`.",
};

check_type!(Quorum, QUORUM, fleet);

impl Quorum {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let Some(master) = master_name(fleet) else {
            return Outcome::skip("not a Sentinel deployment");
        };
        if fleet.sentinels.is_empty() {
            return no_sentinel();
        }
        let mut t = Tally::default();
        for s in &fleet.sentinels {
            let command = format!("SENTINEL CKQUORUM {master}");
            match s.ctx.cmd(&["SENTINEL", "CKQUORUM", master]).await {
                Ok(v) => {
                    t.saw(&s.label, &command, value_text(&v));
                    t.pass();
                }
                Err(e) => match classify(e) {
                    Unavailable::Failed(e)
                        if code_of(&e) == topology::ErrorCode::Other("NOQUORUM".into()) =>
                    {
                        t.saw(&s.label, &command, e.clone());
                        t.fail(format!("{}: {e}", s.label));
                    }
                    other => t.unavailable(&s.label, &command, &other),
                },
            }
            let Some(r) = master_row(s, master, &mut t, &["quorum", "num-other-sentinels"]).await
            else {
                continue;
            };
            if let (Some(q), Some(others)) =
                (number(&r, "quorum"), number(&r, "num-other-sentinels"))
            {
                let voters = others + 1;
                let majority = voters / 2 + 1;
                if q < majority {
                    t.warn(format!(
                        "{}: quorum {q} of {voters} Sentinels is below the majority ({majority}): a minority can declare the primary down",
                        s.label
                    ));
                }
            }
        }
        t.finish(
            "every Sentinel reaches the quorum and the majority to authorise a failover",
            "no reachable Sentinel",
        )
    }
}

/// `sentinel.agree`
pub struct Agree;

static AGREE: CheckMeta = CheckMeta {
    id: "sentinel.agree",
    area: Area::Sentinel,
    title: "Every Sentinel names the same primary, and it is the only one",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::SENTINEL,
    why: "Clients ask any Sentinel where the primary is. Sentinels that disagree (a partition, a failover that did not converge) send clients to different nodes, and two data nodes that both answer ROLE master take writes in two branches: the next resync discards one of them without an error anywhere. Jepsen showed exactly this loss for Sentinel in 2013: https://aphyr.com/posts/283-jepsen-redis. https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/#consistency-under-partitions",
    remediation: "Find why a Sentinel or node disagrees (partition, stale sentinel.conf, a node that was not reconfigured) and let Sentinel reconverge: redis-conf/sentinel.conf `sentinel monitor` names the same primary everywhere, min-replicas-to-write bounds what a stale primary can accept (repl.min-replicas).",
};

check_type!(Agree, AGREE, fleet);

impl Agree {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let Some(master) = master_name(fleet) else {
            return Outcome::skip("not a Sentinel deployment");
        };
        if fleet.sentinels.is_empty() {
            return no_sentinel();
        }
        let mut t = Tally::default();
        let mut named: Vec<(String, String)> = Vec::new();
        for s in &fleet.sentinels {
            let command = format!("SENTINEL GET-MASTER-ADDR-BY-NAME {master}");
            match s
                .ctx
                .cached(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", master])
                .await
            {
                Ok(Value::Array(v)) if v.len() == 2 => {
                    let addr = format!("{}:{}", value_text(&v[0]), value_text(&v[1]));
                    t.saw(&s.label, &command, addr.clone());
                    named.push((s.label.clone(), addr));
                }
                Ok(other) => {
                    t.saw(&s.label, &command, value_text(&other));
                    t.fail(format!("{}: does not monitor `{master}`", s.label));
                }
                Err(e) => t.unavailable(&s.label, &command, &classify(e)),
            }
        }
        let mut addrs: Vec<&str> = named.iter().map(|(_, a)| a.as_str()).collect();
        addrs.sort_unstable();
        addrs.dedup();
        if addrs.len() > 1 {
            let by_addr: Vec<String> = addrs
                .iter()
                .map(|a| {
                    let who: Vec<&str> = named
                        .iter()
                        .filter(|(_, x)| x == a)
                        .map(|(l, _)| l.as_str())
                        .collect();
                    format!("{} → {a}", who.join(", "))
                })
                .collect();
            t.fail(format!(
                "the Sentinels disagree on the primary: {}",
                by_addr.join("; ")
            ));
        } else if !named.is_empty() {
            t.pass();
        }
        for m in &fleet.data {
            t.saw(
                &m.label,
                "ROLE (at discovery)",
                format!("{:?}", m.role).to_lowercase(),
            );
        }
        let primaries: Vec<&str> = fleet
            .data_in(Role::Primary)
            .map(|m| m.label.as_str())
            .collect();
        match primaries.as_slice() {
            [] => t.fail("no reachable data node answers ROLE master"),
            [_] => t.pass(),
            more => t.fail(format!(
                "{} all answer ROLE master: writes to the wrong one are discarded at the next resync",
                more.join(", ")
            )),
        }
        t.finish(
            match addrs.first() {
                Some(a) => format!("every Sentinel names {a}, the only node answering ROLE master"),
                None => "the Sentinels name one primary".to_owned(),
            },
            "no reachable Sentinel",
        )
    }
}

/// `sentinel.tilt`
pub struct Tilt;

static TILT: CheckMeta = CheckMeta {
    id: "sentinel.tilt",
    area: Area::Sentinel,
    title: "No Sentinel is in TILT mode",
    severity: Severity::Warn,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::SENTINEL,
    why: "A Sentinel enters TILT when its clock jumps or its process stalls (an overloaded or paused host) and then stops acting for 30 s: it neither votes nor fails over. Every Sentinel in TILT at once means no failover. A state rather than a setting, and usually short, so a warning by default; raise it to deny in verify.toml where a run must not pass during one. https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/#tilt-mode",
    remediation: "Find what stalls the Sentinel host (CPU starvation, a paused VM, clock steps: use a slewing NTP client) and give Sentinels their own CPU (Helm: `sentinel.resources`).",
};

check_type!(Tilt, TILT, fleet);

impl Tilt {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let mut t = Tally::default();
        for s in &fleet.sentinels {
            let info = match s.ctx.info("sentinel").await {
                Ok(i) => i,
                Err(e) => {
                    t.unavailable(&s.label, "INFO sentinel", &e);
                    continue;
                }
            };
            t.saw(
                &s.label,
                "INFO sentinel",
                format!(
                    "{} {} {}",
                    info.show("sentinel_tilt"),
                    info.show("sentinel_tilt_since_seconds"),
                    info.show("master0")
                ),
            );
            match info.get("sentinel_tilt") {
                Some("0") => t.pass(),
                Some("1") => t.fail(format!(
                    "{}: in TILT{}: it will not vote or fail over",
                    s.label,
                    info.get("sentinel_tilt_since_seconds")
                        .filter(|v| *v != "-1")
                        .map(|v| format!(" for {v} s"))
                        .unwrap_or_default()
                )),
                other => t.error(format!(
                    "{}: INFO sentinel has sentinel_tilt:{}",
                    s.label,
                    other.unwrap_or("<absent>")
                )),
            }
        }
        t.finish("no Sentinel is in TILT", "no reachable Sentinel")
    }
}

/// `sentinel.auth-required`
pub struct AuthRequired;

static AUTH_REQUIRED: CheckMeta = CheckMeta {
    id: "sentinel.auth-required",
    area: Area::Sentinel,
    title: "Sentinels refuse unauthenticated clients",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::SENTINEL,
    why: "Whoever can talk to an open Sentinel can run SENTINEL FAILOVER, RESET or REMOVE, or SENTINEL SET the primary's down-after to an hour: an outage or a failover to order, on a port that is usually less guarded than the data nodes'. Clients also trust the primary address Sentinel hands out. https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/#configuring-sentinel-instances-with-authentication",
    remediation: "redis-conf/sentinel.conf: `user default off …` plus the `admin`, `sentinel` and `app` users, and `protected-mode yes` (the Helm chart renders the same file, passwords from `auth.existingSecret`).",
};

check_type!(AuthRequired, AUTH_REQUIRED, fleet);

impl AuthRequired {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let mut t = Tally::default();
        for s in &fleet.sentinels {
            let reply = s.ctx.anonymous_ping().await;
            t.saw(
                &s.label,
                "PING (new connection, no credentials)",
                match &reply {
                    Ok(v) => v.clone(),
                    Err(e) => e.clone(),
                },
            );
            match reply {
                Ok(_) => t.fail(format!(
                    "{}: answers without credentials: anyone who reaches it can fail over or reconfigure the deployment",
                    s.label
                )),
                Err(e) if refused(&e) => t.pass(),
                Err(e) => t.error(format!(
                    "{}: could not test an unauthenticated connection: {e}",
                    s.label
                )),
            }
        }
        t.finish(
            "every Sentinel refuses unauthenticated clients",
            "no reachable Sentinel",
        )
    }
}

/// `sentinel.deny-scripts-reconfig`
pub struct DenyScriptsReconfig;

static DENY_SCRIPTS: CheckMeta = CheckMeta {
    id: "sentinel.deny-scripts-reconfig",
    area: Area::Sentinel,
    title: "SENTINEL SET cannot change notification or reconfig scripts",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::SENTINEL,
    why: "With deny-scripts-reconfig no, anyone allowed SENTINEL SET can point notification-script or client-reconfig-script at any executable on the Sentinel host, which Sentinel then runs: command execution as the Sentinel's user. Redis Sentinel 7.0 reports the setting through no command (SENTINEL CONFIG GET knows resolve-hostnames, announce-hostnames, announce-ip, announce-port, sentinel-user and sentinel-pass only), and probing it with SENTINEL SET would change the configuration. So it is read from SENTINEL CONFIG GET where a server answers for it, else from the Sentinel's own sentinel.conf when the Sentinel runs on this machine (the file INFO server names, accepted only if its `sentinel myid` is the Sentinel's SENTINEL MYID; an absent line is the default, yes); otherwise the check is skipped. https://raw.githubusercontent.com/redis/redis/7.0/sentinel.conf",
    remediation: "redis-conf/sentinel.conf: `sentinel deny-scripts-reconfig yes` (the Helm chart renders the same file). The setting cannot be changed at run time: edit the file and restart the Sentinel.",
};

check_type!(DenyScriptsReconfig, DENY_SCRIPTS, fleet);

/// Why a Sentinel's sentinel.conf could not serve as evidence.
#[derive(Debug, thiserror::Error)]
enum ConfNotRead {
    /// The Sentinel is reached over the network.
    #[error("the Sentinel is not on this machine, so its sentinel.conf cannot be read")]
    NotLocal,
    /// INFO server is not available.
    #[error("INFO server failed: {0}")]
    Info(String),
    /// INFO server names no file.
    #[error("INFO server names no config file")]
    NoConfigFile,
    /// SENTINEL MYID is not available.
    #[error("SENTINEL MYID failed: {0}")]
    MyId(String),
    /// The file is not readable here (a container's path, permissions).
    #[error("cannot read {path} here: {source}")]
    Read {
        /// The file INFO named.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file at that path exists here but is another Sentinel's.
    #[error("{path} here is not this Sentinel's (its `sentinel myid` differs from {myid})")]
    OtherSentinel {
        /// The file INFO named.
        path: String,
        /// This Sentinel's id.
        myid: String,
    },
}

/// What a sentinel.conf says: `Some(true|false)` for an explicit
/// `sentinel deny-scripts-reconfig` line, `None` when absent (default yes);
/// `Err` when its `sentinel myid` is not `myid`.
fn deny_scripts_in_conf(text: &str, myid: &str) -> Result<Option<bool>, ()> {
    let mut owner = false;
    let mut deny = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [s, k, id] if s.eq_ignore_ascii_case("sentinel") && k.eq_ignore_ascii_case("myid") => {
                owner = *id == myid;
            }
            [s, k, v]
                if s.eq_ignore_ascii_case("sentinel")
                    && k.eq_ignore_ascii_case("deny-scripts-reconfig") =>
            {
                deny = Some(v.trim_matches('"').eq_ignore_ascii_case("yes"));
            }
            _ => {}
        }
    }
    if owner {
        Ok(deny)
    } else {
        Err(())
    }
}

/// Largest sentinel.conf read: a real one is a few KiB.
const MAX_CONF_BYTES: u64 = 1024 * 1024;

async fn from_local_conf(s: &Member) -> Result<(String, Option<bool>), ConfNotRead> {
    if !s.ctx.target.is_loopback() {
        return Err(ConfNotRead::NotLocal);
    }
    let info = s
        .ctx
        .info("server")
        .await
        .map_err(|e| ConfNotRead::Info(e.reason().to_owned()))?;
    let path = info
        .get("config_file")
        .filter(|p| !p.is_empty())
        .ok_or(ConfNotRead::NoConfigFile)?
        .to_owned();
    let myid = s
        .ctx
        .cached(&["SENTINEL", "MYID"])
        .await
        .map(|v| value_text(&v))
        .map_err(ConfNotRead::MyId)?;
    let read = |source| ConfNotRead::Read {
        path: path.clone(),
        source,
    };
    // A small local file: reading it inline does not hold the runtime up.
    let len = std::fs::metadata(&path).map_err(read)?.len();
    if len > MAX_CONF_BYTES {
        return Err(read(std::io::Error::other(format!(
            "{len} bytes is not a sentinel.conf"
        ))));
    }
    let text = std::fs::read_to_string(&path).map_err(read)?;
    deny_scripts_in_conf(&text, &myid)
        .map(|deny| (path.clone(), deny))
        .map_err(|()| ConfNotRead::OtherSentinel {
            path: path.clone(),
            myid,
        })
}

impl DenyScriptsReconfig {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let mut t = Tally::default();
        for s in &fleet.sentinels {
            let command = "SENTINEL CONFIG GET deny-scripts-reconfig";
            let on_wire = match s
                .ctx
                .cached(&["SENTINEL", "CONFIG", "GET", "deny-scripts-reconfig"])
                .await
            {
                Ok(v) => {
                    let value = row(&v).remove("deny-scripts-reconfig");
                    t.saw(
                        &s.label,
                        command,
                        value.clone().unwrap_or_else(|| "<not reported>".into()),
                    );
                    value.map(|v| v.eq_ignore_ascii_case("yes"))
                }
                Err(e) => {
                    t.saw(&s.label, command, e);
                    None
                }
            };
            let deny = match on_wire {
                Some(d) => d,
                None => match from_local_conf(s).await {
                    Ok((path, deny)) => {
                        t.saw(
                            &s.label,
                            &format!("read {path} (sentinel myid matches SENTINEL MYID)"),
                            match deny {
                                Some(true) => "sentinel deny-scripts-reconfig yes",
                                Some(false) => "sentinel deny-scripts-reconfig no",
                                None => "no deny-scripts-reconfig line (default: yes)",
                            },
                        );
                        deny.unwrap_or(true)
                    }
                    Err(why) => {
                        t.skip(format!(
                            "{}: Sentinel 7.0 reports deny-scripts-reconfig through no command and {why}",
                            s.label
                        ));
                        continue;
                    }
                },
            };
            if deny {
                t.pass();
            } else {
                t.fail(format!(
                    "{}: deny-scripts-reconfig is no: SENTINEL SET can make it run any executable",
                    s.label
                ));
            }
        }
        t.finish(
            "every Sentinel denies script reconfiguration",
            "no reachable Sentinel",
        )
    }
}

/// `sentinel.timers`
pub struct Timers;

static TIMERS: CheckMeta = CheckMeta {
    id: "sentinel.timers",
    area: Area::Sentinel,
    title: "Failure detection and failover timers are within the policy's bounds",
    severity: Severity::Warn,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::SENTINEL,
    why: "down-after-milliseconds is how long every write waits for a dead primary before a failover even starts: the default 30 s is 30 s of refused logins, rate limits and locks; below 1 s a fork or a network blip triggers failovers, each of which loses the writes not yet replicated. failover-timeout also sets when a stuck failover is retried (twice the timeout: 6 min at the default 180 s). The bounds are twice the policy's values (down-after 1-10 s, policy 5 s; failover-timeout 10-120 s, policy 60 s), so Redis' defaults fall outside. parallel-syncs must leave at least one replica serving while the others resynchronise with the new primary (policy: 1). https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/#other-sentinel-options",
    remediation: "redis-conf/sentinel.conf: `sentinel down-after-milliseconds <name> 5000`, `sentinel failover-timeout <name> 60000`, `sentinel parallel-syncs <name> 1`; Helm: `sentinel.downAfterMilliseconds`, `sentinel.failoverTimeout`, `sentinel.parallelSyncs`.",
};

check_type!(Timers, TIMERS, fleet);

impl Timers {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let Some(master) = master_name(fleet) else {
            return Outcome::skip("not a Sentinel deployment");
        };
        let mut t = Tally::default();
        for s in &fleet.sentinels {
            let Some(r) = master_row(
                s,
                master,
                &mut t,
                &[
                    "down-after-milliseconds",
                    "failover-timeout",
                    "parallel-syncs",
                    "num-slaves",
                ],
            )
            .await
            else {
                continue;
            };
            let (Some(down), Some(failover), Some(syncs)) = (
                number(&r, "down-after-milliseconds"),
                number(&r, "failover-timeout"),
                number(&r, "parallel-syncs"),
            ) else {
                t.error(format!(
                    "{}: SENTINEL MASTER lacks the timer fields",
                    s.label
                ));
                continue;
            };
            let replicas = fleet
                .expected
                .replicas_per_primary
                .or(fleet.settings.topology.replicas)
                .or_else(|| number(&r, "num-slaves").and_then(|n| usize::try_from(n).ok()))
                .unwrap_or_else(|| expected_replicas(fleet));
            let mut problems = Vec::new();
            if !DOWN_AFTER_MS.contains(&down) {
                problems.push(format!(
                    "down-after-milliseconds {down} outside {}-{}",
                    DOWN_AFTER_MS.start(),
                    DOWN_AFTER_MS.end()
                ));
            }
            if !FAILOVER_TIMEOUT_MS.contains(&failover) {
                problems.push(format!(
                    "failover-timeout {failover} outside {}-{}",
                    FAILOVER_TIMEOUT_MS.start(),
                    FAILOVER_TIMEOUT_MS.end()
                ));
            }
            if replicas > 1 && usize::try_from(syncs).is_ok_and(|n| n >= replicas) {
                problems.push(format!(
                    "parallel-syncs {syncs} resynchronises all {replicas} replicas at once"
                ));
            }
            if problems.is_empty() {
                t.pass();
            } else {
                t.fail(format!("{}: {}", s.label, problems.join(", ")));
            }
        }
        t.finish(
            "every Sentinel's down-after, failover-timeout and parallel-syncs are within bounds",
            "no reachable Sentinel",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::repl::testing::sentinel_fleet;
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::run_fleet;
    use crate::config::{Settings, TopologySettings};
    use crate::ctx::Captured;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn flat(pairs: &[(&str, &str)]) -> Value {
        Value::Array(pairs.iter().flat_map(|(k, v)| [bulk(k), bulk(v)]).collect())
    }

    /// `SENTINEL MASTER mymaster` as redis-sentinel 7.0.15 answers it
    /// (the fields the checks read).
    fn master(down: &str, failover: &str, syncs: &str, others: &str, quorum: &str) -> Value {
        flat(&[
            ("name", "mymaster"),
            ("ip", "127.0.0.1"),
            ("port", "7001"),
            ("flags", "master"),
            ("down-after-milliseconds", down),
            ("num-slaves", "2"),
            ("num-other-sentinels", others),
            ("quorum", quorum),
            ("failover-timeout", failover),
            ("parallel-syncs", syncs),
        ])
    }

    fn hardened_master() -> Value {
        master("5000", "60000", "1", "2", "2")
    }

    fn primary() -> (&'static str, Role, Captured) {
        ("n1", Role::Primary, Captured::default())
    }

    fn three(f: impl Fn(usize) -> Captured) -> Vec<(&'static str, Captured)> {
        vec![("s1", f(0)), ("s2", f(1)), ("s3", f(2))]
    }

    fn fleet(sentinels: Vec<(&'static str, Captured)>) -> Fleet {
        sentinel_fleet(vec![primary()], sentinels, Settings::default())
    }

    #[test]
    fn count_passes_with_three_and_fails_with_two() {
        let with = |_| Captured::default().reply("SENTINEL MASTER mymaster", Ok(hardened_master()));
        let o = run_fleet(&Count, &fleet(three(with)));
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.message.contains("s1, s2, s3"));

        let mut two = three(with);
        two.pop();
        let o = run_fleet(&Count, &fleet(two));
        assert_eq!(o.status, Status::Fail);
        assert!(o
            .message
            .starts_with("2 of at least 3 Sentinels reachable (s1, s2)"));

        // Declared five: three are not enough.
        let mut declared = fleet(three(with));
        declared.settings.topology = TopologySettings {
            sentinels: Some(5),
            ..Default::default()
        };
        assert_eq!(run_fleet(&Count, &declared).status, Status::Fail);
    }

    #[test]
    fn count_warns_when_a_sentinel_does_not_know_its_peers() {
        let o = run_fleet(
            &Count,
            &fleet(three(|i| {
                let others = if i == 2 { "0" } else { "2" };
                Captured::default().reply(
                    "SENTINEL MASTER mymaster",
                    Ok(master("5000", "60000", "1", others, "2")),
                )
            })),
        );
        assert_eq!(o.status, Status::Warn);
        assert!(o.message.starts_with("s3: knows 1 Sentinel(s)"));
    }

    const CKQUORUM_OK: &str =
        "OK 3 usable Sentinels. Quorum and failover authorization can be reached";
    const NOQUORUM: &str = "NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master. Not enough available Sentinels to reach the majority and authorize a failover";

    #[test]
    fn quorum_pass_fail_warn_skip() {
        let ok = |_| {
            Captured::default()
                .reply(
                    "SENTINEL CKQUORUM mymaster",
                    Ok(Value::SimpleString(CKQUORUM_OK.into())),
                )
                .reply("SENTINEL MASTER mymaster", Ok(hardened_master()))
        };
        assert_eq!(run_fleet(&Quorum, &fleet(three(ok))).status, Status::Pass);

        let o = run_fleet(
            &Quorum,
            &fleet(three(|i| {
                if i == 1 {
                    Captured::default()
                        .reply("SENTINEL CKQUORUM mymaster", Err(NOQUORUM))
                        .reply("SENTINEL MASTER mymaster", Ok(hardened_master()))
                } else {
                    ok(i)
                }
            })),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with("s2: NOQUORUM 1 usable Sentinels"));

        let low = |_| {
            Captured::default()
                .reply(
                    "SENTINEL CKQUORUM mymaster",
                    Ok(Value::SimpleString(CKQUORUM_OK.into())),
                )
                .reply(
                    "SENTINEL MASTER mymaster",
                    Ok(master("5000", "60000", "1", "2", "1")),
                )
        };
        let o = run_fleet(&Quorum, &fleet(three(low)));
        assert_eq!(o.status, Status::Warn);
        assert!(o
            .message
            .contains("quorum 1 of 3 Sentinels is below the majority (2)"));

        let denied = |_| {
            Captured::default()
                .reply(
                    "SENTINEL CKQUORUM mymaster",
                    Err("NOPERM this user has no permissions to run the 'sentinel|ckquorum' command"),
                )
                .reply("SENTINEL MASTER mymaster", Err("NOPERM no permissions"))
        };
        assert_eq!(
            run_fleet(&Quorum, &fleet(three(denied))).status,
            Status::Skip
        );
    }

    fn addr(host: &str, port: &str) -> Value {
        Value::Array(vec![bulk(host), bulk(port)])
    }

    #[test]
    fn agree_pass_and_fails() {
        let named = |a: &'static str| {
            move |_| {
                Captured::default().reply(
                    "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster",
                    Ok(addr(a, "7001")),
                )
            }
        };
        let o = run_fleet(&Agree, &fleet(three(named("127.0.0.1"))));
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.message.starts_with("every Sentinel names 127.0.0.1:7001"));

        let o = run_fleet(
            &Agree,
            &fleet(three(|i| {
                let host = if i == 2 { "10.0.0.9" } else { "127.0.0.1" };
                Captured::default().reply(
                    "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster",
                    Ok(addr(host, "7001")),
                )
            })),
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "the Sentinels disagree on the primary: s3 → 10.0.0.9:7001; s1, s2 → 127.0.0.1:7001"
        );

        // One Sentinel does not know the master at all.
        let o = run_fleet(
            &Agree,
            &fleet(three(|i| {
                let reply = if i == 0 {
                    Value::Nil
                } else {
                    addr("127.0.0.1", "7001")
                };
                Captured::default().reply("SENTINEL GET-MASTER-ADDR-BY-NAME mymaster", Ok(reply))
            })),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with("s1: does not monitor `mymaster`"));

        // Two data nodes answer ROLE master.
        let two_primaries = sentinel_fleet(
            vec![primary(), ("n3", Role::Primary, Captured::default())],
            three(named("127.0.0.1")),
            Settings::default(),
        );
        let o = run_fleet(&Agree, &two_primaries);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with("n1, n3 all answer ROLE master"));
    }

    /// `INFO sentinel` from redis-sentinel 7.0.15.
    fn info_sentinel(tilt: &str, since: &str) -> String {
        format!("# Sentinel\r\nsentinel_masters:1\r\nsentinel_tilt:{tilt}\r\nsentinel_tilt_since_seconds:{since}\r\nsentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\nsentinel_simulate_failure_flags:0\r\nmaster0:name=mymaster,status=ok,address=127.0.0.1:7001,slaves=2,sentinels=3\r\n")
    }

    #[test]
    fn tilt_pass_fail_skip() {
        let calm = |_| Captured::default().text("INFO sentinel", &info_sentinel("0", "-1"));
        let o = run_fleet(&Tilt, &fleet(three(calm)));
        assert_eq!(o.status, Status::Pass);
        assert!(o.evidence[0].observed.contains("status=ok"));
        let o = run_fleet(
            &Tilt,
            &fleet(three(|i| {
                let (tilt, since) = if i == 0 { ("1", "12") } else { ("0", "-1") };
                Captured::default().text("INFO sentinel", &info_sentinel(tilt, since))
            })),
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "s1: in TILT for 12 s: it will not vote or fail over"
        );
        let denied = |_| Captured::default().reply("INFO sentinel", Err("NOPERM no permissions"));
        assert_eq!(run_fleet(&Tilt, &fleet(three(denied))).status, Status::Skip);
    }

    #[test]
    fn auth_required_pass_and_fail() {
        let closed =
            |_| Captured::default().reply("ANON PING", Err("NOAUTH Authentication required."));
        assert_eq!(
            run_fleet(&AuthRequired, &fleet(three(closed))).status,
            Status::Pass
        );
        let o = run_fleet(
            &AuthRequired,
            &fleet(three(|i| {
                if i == 1 {
                    Captured::default().text("ANON PING", "PONG")
                } else {
                    closed(i)
                }
            })),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with("s2: answers without credentials"));
        let broken = |_| Captured::default().reply("ANON PING", Err("failed to connect: refused"));
        assert_eq!(
            run_fleet(&AuthRequired, &fleet(three(broken))).status,
            Status::Error
        );
    }

    /// An empty `SENTINEL CONFIG GET deny-scripts-reconfig` reply: what
    /// 7.0.15 answers for a parameter it does not know.
    fn not_reported() -> Captured {
        Captured::default().reply(
            "SENTINEL CONFIG GET deny-scripts-reconfig",
            Ok(Value::Array(vec![])),
        )
    }

    fn with_conf(path: &std::path::Path, myid: &str) -> Captured {
        not_reported()
            .text(
                "INFO server",
                &format!(
                    "# Server\r\nredis_mode:sentinel\r\nconfig_file:{}\r\n",
                    path.display()
                ),
            )
            .text("SENTINEL MYID", myid)
    }

    const MYID: &str = "e2442e198a33837e5410ff3ad26103d29f9c3c6d";

    #[test]
    fn deny_scripts_read_from_the_sentinels_own_conf() {
        let dir = tempfile::tempdir().unwrap();
        let conf = |name: &str, deny: Option<&str>| {
            let p = dir.path().join(name);
            let mut text = String::from("port 26379\nsentinel monitor mymaster 127.0.0.1 7001 2\n");
            if let Some(d) = deny {
                text.push_str(&format!("sentinel deny-scripts-reconfig {d}\n"));
            }
            text.push_str(&format!(
                "# Generated by CONFIG REWRITE\nsentinel myid {MYID}\n"
            ));
            std::fs::write(&p, text).unwrap();
            p
        };
        let yes = conf("yes.conf", Some("yes"));
        let no = conf("no.conf", Some("no"));
        let default = conf("default.conf", None);
        let o = run_fleet(
            &DenyScriptsReconfig,
            &fleet(vec![
                ("s1", with_conf(&yes, MYID)),
                ("s2", with_conf(&default, MYID)),
            ]),
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
        let o = run_fleet(
            &DenyScriptsReconfig,
            &fleet(vec![
                ("s1", with_conf(&yes, MYID)),
                ("s2", with_conf(&no, MYID)),
            ]),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with("s2: deny-scripts-reconfig is no"));
        // A file at that path that belongs to another Sentinel is no evidence.
        let o = run_fleet(
            &DenyScriptsReconfig,
            &fleet(vec![("s1", with_conf(&no, "someoneelse"))]),
        );
        assert_eq!(o.status, Status::Skip, "{o:?}");
        assert!(o.message.contains("is not this Sentinel's"));
    }

    #[test]
    fn deny_scripts_skips_without_evidence_and_uses_the_wire_when_reported() {
        let o = run_fleet(
            &DenyScriptsReconfig,
            &fleet(vec![(
                "s1",
                with_conf(
                    std::path::Path::new("/nonexistent/verify/sentinel.conf"),
                    MYID,
                ),
            )]),
        );
        assert_eq!(o.status, Status::Skip);
        assert!(
            o.message.starts_with("s1: Sentinel 7.0 reports deny-scripts-reconfig through no command and cannot read /nonexistent/verify/sentinel.conf"),
            "{}",
            o.message
        );
        // A server that does answer for it is believed.
        let reported = |v: &str| {
            Captured::default().reply(
                "SENTINEL CONFIG GET deny-scripts-reconfig",
                Ok(flat(&[("deny-scripts-reconfig", v)])),
            )
        };
        assert_eq!(
            run_fleet(&DenyScriptsReconfig, &fleet(vec![("s1", reported("yes"))])).status,
            Status::Pass
        );
        assert_eq!(
            run_fleet(&DenyScriptsReconfig, &fleet(vec![("s1", reported("no"))])).status,
            Status::Fail
        );
    }

    #[test]
    fn conf_parsing_binds_to_the_sentinel() {
        let text = format!("sentinel deny-scripts-reconfig no\nsentinel myid {MYID}\n");
        assert_eq!(deny_scripts_in_conf(&text, MYID), Ok(Some(false)));
        assert_eq!(
            deny_scripts_in_conf(&format!("sentinel myid {MYID}\n"), MYID),
            Ok(None)
        );
        assert_eq!(deny_scripts_in_conf(&text, "other"), Err(()));
    }

    #[test]
    fn timers_pass_and_fail_outside_the_bounds() {
        let with = |v: Value| {
            move |_| Captured::default().reply("SENTINEL MASTER mymaster", Ok(v.clone()))
        };
        let o = run_fleet(&Timers, &fleet(three(with(hardened_master()))));
        assert_eq!(o.status, Status::Pass, "{o:?}");
        // Redis' defaults.
        let o = run_fleet(
            &Timers,
            &fleet(three(with(master("30000", "180000", "1", "2", "2")))),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with(
            "s1, s2, s3: down-after-milliseconds 30000 outside 1000-10000, failover-timeout 180000 outside 10000-120000"
        ));
        let o = run_fleet(
            &Timers,
            &fleet(three(with(master("500", "60000", "2", "2", "2")))),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("down-after-milliseconds 500"));
        assert!(o
            .message
            .contains("parallel-syncs 2 resynchronises all 2 replicas at once"));
        let denied =
            |_| Captured::default().reply("SENTINEL MASTER mymaster", Err("NOPERM no permissions"));
        assert_eq!(
            run_fleet(&Timers, &fleet(three(denied))).status,
            Status::Skip
        );
    }
}

#[cfg(test)]
mod live {
    //! The Sentinel checks and the `repl.*` checks against launched
    //! Sentinel deployments (local processes).
    use super::super::repl;
    use super::super::repl::testing::{assert_never_fails, run_live, status_of};
    use super::*;
    use crate::check::{Check, Status};
    use topology::{Profile, Topology};

    const CHECKS: &[&dyn Check] = &[
        &repl::Replicas,
        &repl::Link,
        &repl::ReadOnly,
        &repl::Auth,
        &repl::MinReplicas,
        &Count,
        &Quorum,
        &Agree,
        &Tilt,
        &AuthRequired,
        &DenyScriptsReconfig,
        &Timers,
    ];

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn live_sentinel_hardened_never_fails() {
        let results = run_live(Topology::SENTINEL, Profile::Hardened, CHECKS).await;
        assert_never_fails(&results, CHECKS.len());
        // On local processes the Sentinel's own file is evidence.
        let (status, detail) = status_of(&results, "sentinel.deny-scripts-reconfig");
        assert_eq!(status, Status::Pass, "{detail}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn live_sentinel_weak_fails_each_guard() {
        let results = run_live(Topology::SENTINEL, Profile::Weak, CHECKS).await;
        // n3's wrong masterauth: one replica short, its link down.
        // n2's replica-read-only no; no auth anywhere; min-replicas 0;
        // Sentinels open, scripts reconfigurable, default timers.
        for id in [
            "repl.replicas",
            "repl.link",
            "repl.read-only",
            "repl.auth",
            "repl.min-replicas",
            "sentinel.auth-required",
            "sentinel.deny-scripts-reconfig",
            "sentinel.timers",
        ] {
            let (status, detail) = status_of(&results, id);
            assert_eq!(status, Status::Fail, "{detail}");
        }
        for (id, names) in [
            ("repl.link", "n3"),
            ("repl.read-only", "n2"),
            ("repl.replicas", "n1"),
        ] {
            let (_, detail) = status_of(&results, id);
            assert!(detail.contains(names), "{detail}");
        }
        // What the weak profile leaves intact still passes.
        for id in [
            "sentinel.count",
            "sentinel.quorum",
            "sentinel.agree",
            "sentinel.tilt",
        ] {
            let (status, detail) = status_of(&results, id);
            assert_eq!(status, Status::Pass, "{detail}");
        }
    }
}
