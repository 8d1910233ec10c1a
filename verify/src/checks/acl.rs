//! `acl.*`: what the application's user is allowed to do.

use crate::check::{Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity};
use crate::ctx::{value_text, Ctx};
use crate::probe::Permission;

/// `acl.dangerous-commands`
pub struct DangerousCommands;

static DANGEROUS: CheckMeta = CheckMeta {
    id: "acl.dangerous-commands",
    area: Area::Acl,
    title: "The application user cannot run dangerous or admin commands",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "A compromised or buggy application must not be able to wipe the data (FLUSHALL), stall the server (KEYS, DEBUG), reconfigure it (CONFIG SET, ACL SETUSER, REPLICAOF, MODULE LOAD) or stop it. ACLs are the supported control since Redis 6; rename-command breaks replication and tooling. https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/",
    remediation: "redis-conf/users.acl: `user app on #<sha256> ~* &* +@all -@dangerous -@admin +role` (the Helm chart renders the same file; the Terraform module creates the same `app` user, `create_users`).",
};

/// Commands the application must not run, each with harmless arguments of
/// the right arity. They are only ever probed, never executed.
pub const PROBES: &[&[&str]] = &[
    &["FLUSHALL"],
    &["FLUSHDB"],
    &["CONFIG", "SET", "slowlog-max-len", "256"],
    &["DEBUG", "SLEEP", "0"],
    &["SHUTDOWN"],
    &["MODULE", "LOAD", "/nonexistent/verify-probe.so"],
    &["KEYS", "__verify-probe-none*"],
    &["MIGRATE", "127.0.0.1", "1", "__verify-probe-none", "0", "1"],
    &["REPLICAOF", "NO", "ONE"],
    &["ACL", "SETUSER", "__verify-probe-none"],
];

check_type!(DangerousCommands, DANGEROUS);

impl DangerousCommands {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let whoami = match ctx.whoami().await {
            Ok(u) => u,
            Err(e) => return ctx.withheld("ACL WHOAMI", &e).await,
        };
        let Resolved {
            user,
            via_dryrun,
            note,
        } = resolve_app_user(ctx, &whoami).await;
        let mut allowed = Vec::new();
        let mut unknown = Vec::new();
        let mut evidence = vec![Evidence {
            node: None,
            command: "ACL WHOAMI".into(),
            observed: format!("{whoami} ({note})"),
        }];
        for argv in PROBES {
            let (command, permission) = if via_dryrun {
                let mut full = vec!["ACL", "DRYRUN", user.as_str()];
                full.extend_from_slice(argv);
                let reply = ctx.cmd(&full).await.map(|v| value_text(&v));
                (full.join(" "), Permission::from_dryrun_reply(reply))
            } else {
                (
                    format!("MULTI; {}; DISCARD", argv.join(" ")),
                    ctx.queue_probe(argv).await,
                )
            };
            let name = display_name(argv);
            let observed = match &permission {
                Permission::Allowed(s) => {
                    allowed.push(name);
                    format!("allowed: {s}")
                }
                Permission::Denied(s) => format!("denied: {s}"),
                Permission::Unknown(s) => {
                    unknown.push(name);
                    format!("unknown: {s}")
                }
            };
            evidence.push(Evidence {
                node: None,
                command,
                observed,
            });
        }
        if !allowed.is_empty() {
            Outcome::fail(format!("user `{user}` may run {}", allowed.join(", "))).with(evidence)
        } else if !unknown.is_empty() {
            Outcome::warn(format!("user `{user}` is denied every probed command that could be tested; undetermined: {}", unknown.join(", "))).with(evidence)
        } else {
            Outcome::pass(format!(
                "user `{user}` is denied all {} dangerous commands",
                PROBES.len()
            ))
            .with(evidence)
        }
    }
}

struct Resolved {
    user: String,
    via_dryrun: bool,
    note: String,
}

/// Decides whose permissions to judge and how. An explicit `app_user` (or
/// the policy's `app` role when it exists) is probed with ACL DRYRUN from
/// the verifier's user; otherwise the verifier's own user is the
/// application user and is probed with MULTI/DISCARD.
async fn resolve_app_user(ctx: &Ctx, whoami: &str) -> Resolved {
    let candidate = ctx
        .settings
        .app_user
        .clone()
        .unwrap_or_else(|| "app".to_owned());
    if candidate != whoami {
        let exists = ctx.cmd(&["ACL", "DRYRUN", &candidate, "PING"]).await;
        match exists {
            Ok(_) => {
                return Resolved {
                    user: candidate,
                    via_dryrun: true,
                    note: "probing the application user with ACL DRYRUN".into(),
                }
            }
            Err(e) if ctx.settings.app_user.is_some() => {
                return Resolved {
                    user: whoami.to_owned(),
                    via_dryrun: false,
                    note: format!(
                    "ACL DRYRUN for `{candidate}` failed ({e}); probing the connected user instead"
                ),
                }
            }
            Err(_) => {}
        }
    }
    Resolved {
        user: whoami.to_owned(),
        via_dryrun: false,
        note: "probing the connected user with MULTI/DISCARD".into(),
    }
}

fn display_name(argv: &[&str]) -> String {
    match argv {
        [c, s, ..] if matches!(*c, "CONFIG" | "ACL" | "MODULE") => format!("{c} {s}"),
        [c, ..] => (*c).to_owned(),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::{run, run_with};
    use crate::config::Settings;
    use crate::ctx::Captured;
    use redis::Value;

    fn with_all(
        mut c: Captured,
        f: impl Fn(&[&str]) -> (String, Result<Value, &'static str>),
    ) -> Captured {
        for argv in PROBES {
            let (k, v) = f(argv);
            c = c.reply(&k, v);
        }
        c
    }

    #[test]
    fn stock_server_default_user_fails_via_queue_probes() {
        let c = Captured::default()
            .text("ACL WHOAMI", "default")
            .reply("ACL DRYRUN app PING", Err("ERR User 'app' not found"));
        let c = with_all(c, |argv| {
            (
                format!("QUEUE {}", argv.join(" ")),
                Ok(Value::SimpleString("QUEUED".into())),
            )
        });
        let o = run(&DangerousCommands, c);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("FLUSHALL"));
    }

    #[test]
    fn hardened_app_user_passes_via_dryrun() {
        let c = Captured::default()
            .text("ACL WHOAMI", "admin")
            .reply("ACL DRYRUN app PING", Ok(Value::Okay));
        let c = with_all(c, |argv| {
            (
                format!("ACL DRYRUN app {}", argv.join(" ")),
                Ok(Value::BulkString(
                    b"User app has no permissions to run the command".to_vec(),
                )),
            )
        });
        let o = run(&DangerousCommands, c);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert_eq!(o.evidence.len(), PROBES.len() + 1);
    }

    #[test]
    fn one_allowed_command_fails() {
        let c = Captured::default()
            .text("ACL WHOAMI", "admin")
            .reply("ACL DRYRUN web PING", Ok(Value::Okay));
        let c = with_all(c, |argv| {
            let reply: Result<Value, &'static str> = if argv[0] == "KEYS" {
                Ok(Value::Okay)
            } else {
                Ok(Value::BulkString(b"User web has no permissions".to_vec()))
            };
            (format!("ACL DRYRUN web {}", argv.join(" ")), reply)
        });
        let settings = Settings {
            app_user: Some("web".into()),
            ..Default::default()
        };
        let o = run_with(&DangerousCommands, c, settings);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.message, "user `web` may run KEYS");
    }

    #[test]
    fn probes_only_the_commands_the_policy_names() {
        let names: Vec<String> = PROBES.iter().map(|a| display_name(a)).collect();
        for want in [
            "FLUSHALL",
            "FLUSHDB",
            "CONFIG SET",
            "DEBUG",
            "SHUTDOWN",
            "MODULE LOAD",
            "KEYS",
            "MIGRATE",
            "REPLICAOF",
            "ACL SETUSER",
        ] {
            assert!(names.iter().any(|n| n == want), "{want}");
        }
    }
}
