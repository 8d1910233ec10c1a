//! `conn.*`: can the verifier reach and use the server.

use super::info_evidence;
use crate::check::{Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity};
use crate::ctx::{value_text, Ctx};

/// `conn.reachable`
pub struct Reachable;

static REACHABLE: CheckMeta = CheckMeta {
    id: "conn.reachable",
    area: Area::Conn,
    title: "Server answers and accepts a write",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Every other check assumes a working connection. The version and role are evidence for the rest of the report; a write round-trip under the run's own key prefix shows the server accepts writes (a primary that rejects writes, e.g. when out of memory, fails rate limits and sessions).",
    remediation: "Check the URL, credentials and network path; see the error for which of them failed.",
};

check_type!(Reachable, REACHABLE);

impl Reachable {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let mut evidence = Vec::new();
        match ctx.cmd(&["PING"]).await {
            Ok(v) => evidence.push(Evidence {
                node: None,
                command: "PING".into(),
                observed: value_text(&v),
            }),
            Err(e) => return Outcome::error(format!("PING failed: {e}")),
        }
        // Version and role are evidence when this user may read INFO; a
        // least-privilege user (`-@dangerous` removes INFO) is still judged
        // on PING and the write round-trip.
        let server = ctx.info("server").await;
        let replication = ctx.info("replication").await;
        match (&server, &replication) {
            (Ok(server), Ok(replication)) => {
                evidence.push(info_evidence(
                    "server",
                    &[server.show("redis_version"), server.show("redis_mode")],
                ));
                evidence.push(info_evidence("replication", &[replication.show("role")]));
            }
            // Denied (ACL, provider): judged on PING and the round trip.
            // Anything else (connection lost, a reply over the cap) means the
            // run cannot tell whether the server works: an error, not a fail.
            (Err(e @ crate::ctx::Unavailable::Failed(_)), _)
            | (_, Err(e @ crate::ctx::Unavailable::Failed(_))) => {
                return Outcome::error(format!("INFO failed: {}", e.reason())).with(evidence)
            }
            (Err(e), _) | (_, Err(e)) => evidence.push(Evidence::new("INFO", e.reason())),
        }
        let server = server.unwrap_or_default();
        let replication = replication.unwrap_or_default();
        // A managed service is named here, once, for the whole report.
        let on = crate::provider::Provider::detect(&server)
            .map(|p| format!(" on {}", p.name()))
            .unwrap_or_default();
        let version = server.get("redis_version").unwrap_or("?");
        let version = format!("{version}{on}");
        let role = replication.get("role").unwrap_or("?");
        if role != "master" && role != "?" {
            return Outcome::pass(format!(
                "Redis {version}, role {role} (write round-trip skipped on a replica)"
            ))
            .with(evidence);
        }
        // The write round-trip uses the run's own prefix and a TTL, so the
        // key disappears even if the run is killed before it deletes it.
        // In a cluster the key's slot may live on another node (MOVED):
        // other hash tags are tried, a bounded number of times.
        let mut attempts = Vec::new();
        for tag in 0..CLUSTER_KEY_ATTEMPTS {
            let key = if tag == 0 {
                format!("{}probe", ctx.key_prefix)
            } else {
                format!("{}probe{{{tag}}}", ctx.key_prefix)
            };
            let set = ctx.cmd(&["SET", &key, "1", "PX", "60000", "NX"]).await;
            if matches!(&set, Err(e) if matches!(topology::ReplyError::parse(e).code, topology::ErrorCode::Moved | topology::ErrorCode::Ask))
            {
                attempts.push(set.err().unwrap_or_default());
                continue;
            }
            let get = ctx.cmd(&["GET", &key]).await;
            let del = ctx.cmd(&["DEL", &key]).await;
            evidence.push(Evidence {
                node: None,
                command: format!("SET {key} 1 PX 60000 NX; GET; DEL"),
                observed: format!(
                    "{:?} / {:?} / {:?}",
                    set.as_ref().map(value_text),
                    get.as_ref().map(value_text),
                    del.as_ref().map(value_text)
                ),
            });
            return match (set, get) {
                (Ok(_), Ok(v)) if value_text(&v) == "1" => {
                    Outcome::pass(format!("Redis {version}, role {role}, write round-trip ok")).with(evidence)
                }
                (Err(e), _) if role == "?" && crate::ctx::code_of(e.as_ref()) == topology::ErrorCode::ReadOnly => Outcome::pass(format!(
                    "Redis {version}, a replica (READONLY; INFO not readable by this user)"
                ))
                .with(evidence),
                (Err(e), _) if crate::ctx::code_of(e.as_ref()) == topology::ErrorCode::NoPerm => Outcome::pass(format!(
                    "Redis {version}, role {role} (the verifier's user may not write; round-trip skipped)"
                ))
                .with(evidence),
                (Err(e), _) => {
                    Outcome::fail(format!("Redis {version}, role {role}, but a write was rejected: {e}")).with(evidence)
                }
                (_, other) => {
                    Outcome::fail(format!("Redis {version}: wrote a key but read back {other:?}")).with(evidence)
                }
            };
        }
        evidence.push(Evidence {
            node: None,
            command: format!(
                "SET {}probe{{N}} … ({CLUSTER_KEY_ATTEMPTS} hash tags)",
                ctx.key_prefix
            ),
            observed: attempts.last().cloned().unwrap_or_default(),
        });
        Outcome::pass(format!(
            "Redis {version}, role {role}; every probe key hashed to another node's slots, write round-trip skipped"
        ))
        .with(evidence)
    }
}

/// Hash tags tried before giving up on finding a slot this node owns; with
/// three shards the chance that all miss is (2/3)^16, about 0.15%.
const CLUSTER_KEY_ATTEMPTS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::run;
    use crate::ctx::Captured;
    use redis::Value;

    fn base() -> Captured {
        Captured::default()
            .reply("PING", Ok(Value::SimpleString("PONG".into())))
            .text(
                "INFO server",
                "redis_version:7.0.15\r\nredis_mode:standalone\r\n",
            )
            .text("INFO replication", "role:master\r\n")
    }

    #[test]
    fn passes_with_a_write_round_trip() {
        let c = base()
            .reply("SET __verify:test:probe 1 PX 60000 NX", Ok(Value::Okay))
            .text("GET __verify:test:probe", "1")
            .reply("DEL __verify:test:probe", Ok(Value::Int(1)));
        let o = run(&Reachable, c);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.message.contains("7.0.15"));
    }

    #[test]
    fn fails_when_writes_are_rejected() {
        let c = base()
            .reply(
                "SET __verify:test:probe 1 PX 60000 NX",
                Err("OOM command not allowed when used memory > 'maxmemory'."),
            )
            .reply("GET __verify:test:probe", Ok(Value::Nil))
            .reply("DEL __verify:test:probe", Ok(Value::Int(0)));
        assert_eq!(run(&Reachable, c).status, Status::Fail);
    }

    #[test]
    fn cluster_redirects_try_another_hash_tag() {
        let c = base()
            .reply(
                "SET __verify:test:probe 1 PX 60000 NX",
                Err("MOVED 1234 10.0.0.2:6379"),
            )
            .reply("SET __verify:test:probe{1} 1 PX 60000 NX", Ok(Value::Okay))
            .text("GET __verify:test:probe{1}", "1")
            .reply("DEL __verify:test:probe{1}", Ok(Value::Int(1)));
        let o = run(&Reachable, c);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.message.contains("round-trip ok"));
    }

    #[test]
    fn cluster_down_fails() {
        let c = base()
            .reply(
                "SET __verify:test:probe 1 PX 60000 NX",
                Err("CLUSTERDOWN Hash slot not served"),
            )
            .reply(
                "GET __verify:test:probe",
                Err("CLUSTERDOWN Hash slot not served"),
            )
            .reply(
                "DEL __verify:test:probe",
                Err("CLUSTERDOWN Hash slot not served"),
            );
        assert_eq!(run(&Reachable, c).status, Status::Fail);
    }

    #[test]
    fn passes_on_ping_and_write_when_info_is_denied() {
        let denied = "NOPERM User app has no permissions to run the 'info' command";
        let c = Captured::default()
            .reply("PING", Ok(Value::SimpleString("PONG".into())))
            .reply("INFO server", Err(denied))
            .reply("INFO replication", Err(denied))
            .reply("SET __verify:test:probe 1 PX 60000 NX", Ok(Value::Okay))
            .text("GET __verify:test:probe", "1")
            .reply("DEL __verify:test:probe", Ok(Value::Int(1)));
        let o = run(&Reachable, c);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.message.contains("write round-trip ok"), "{}", o.message);
        assert!(o.evidence.iter().any(|e| e.observed.contains("NOPERM")));
    }

    #[test]
    fn names_a_managed_service_it_recognises() {
        let c = base()
            .text(
                "INFO server",
                "redis_version:7.1.0\r\nos:Amazon ElastiCache\r\nredis_mode:standalone\r\n",
            )
            .reply("SET __verify:test:probe 1 PX 60000 NX", Ok(Value::Okay))
            .text("GET __verify:test:probe", "1")
            .reply("DEL __verify:test:probe", Ok(Value::Int(1)));
        let o = run(&Reachable, c);
        assert!(
            o.message
                .starts_with("Redis 7.1.0 on ElastiCache, role master"),
            "{}",
            o.message
        );
    }

    #[test]
    fn errors_when_ping_fails() {
        let c = Captured::default().reply(
            "PING",
            Err("LOADING Redis is loading the dataset in memory"),
        );
        assert_eq!(run(&Reachable, c).status, Status::Error);
    }
}
