//! `auth.*`: who can talk to the server without credentials.

use crate::check::{Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity};
use crate::ctx::{value_text, Ctx};

/// `auth.required`
pub struct Required;

static REQUIRED: CheckMeta = CheckMeta {
    id: "auth.required",
    area: Area::Auth,
    title: "Clients must authenticate before running commands",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "An open Redis is found by scanners within minutes and used to read sessions, wipe rate limits, or write SSH keys and cron jobs through CONFIG SET dir (the 2015-2018 mass compromises). Redis security docs: https://redis.io/docs/latest/operate/oss_and_stack/management/security/",
    remediation: "Disable the default user and give every client its own ACL user: redis-conf/users.acl `user default off …` (the Helm chart renders the same file, passwords from `auth.existingSecret` or generated; the Terraform module's `create_users` makes ElastiCache's default user off).",
};

check_type!(Required, REQUIRED);

impl Required {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let reply = ctx.anonymous_ping().await;
        let evidence = vec![Evidence {
            node: None,
            command: "PING (new connection, no credentials)".into(),
            observed: match &reply {
                Ok(s) => s.clone(),
                Err(e) => e.clone(),
            },
        }];
        match reply {
            Ok(_) => {
                Outcome::fail("a connection without credentials can run commands").with(evidence)
            }
            Err(e) if crate::ctx::code_of(e.as_ref()) == topology::ErrorCode::NoAuth => {
                Outcome::pass("unauthenticated clients are refused (NOAUTH)").with(evidence)
            }
            Err(e) => Outcome::error(format!("could not test an unauthenticated connection: {e}"))
                .with(evidence),
        }
    }
}

/// `auth.default-user`
pub struct DefaultUser;

static DEFAULT_USER: CheckMeta = CheckMeta {
    id: "auth.default-user",
    area: Area::Auth,
    title: "The `default` user is off or has a password, never `nopass`",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Every new connection is logged in as `default`. With `nopass` anyone who reaches the port has that user's permissions, which are all commands unless changed. Redis ACL docs: https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/",
    remediation: "redis-conf/users.acl: `user default off resetpass -@all` (or give it a password and minimal rights).",
};

check_type!(DefaultUser, DEFAULT_USER);

impl DefaultUser {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        match ctx.cached(&["ACL", "GETUSER", "default"]).await {
            Ok(v) => {
                let flags = user_flags(&v);
                let evidence = vec![Evidence {
                    node: None,
                    command: "ACL GETUSER default".into(),
                    observed: format!("flags: {}", flags.join(" ")),
                }];
                let has = |f: &str| flags.iter().any(|x| x == f);
                if has("off") {
                    Outcome::pass("the default user is disabled").with(evidence)
                } else if has("nopass") {
                    Outcome::fail("the default user is enabled with `nopass`: anyone who connects is logged in").with(evidence)
                } else {
                    Outcome::pass("the default user is enabled and requires a password")
                        .with(evidence)
                }
            }
            Err(e)
                if crate::ctx::code_of(e.as_ref()) == topology::ErrorCode::NoPerm
                    || e.to_lowercase().contains("unknown") =>
            {
                // Managed services deny ACL GETUSER; infer from what a
                // stranger gets instead.
                let anon = ctx.anonymous_ping().await;
                let evidence = vec![
                    Evidence {
                        node: None,
                        command: "ACL GETUSER default".into(),
                        observed: e,
                    },
                    Evidence {
                        node: None,
                        command: "PING (new connection, no credentials)".into(),
                        observed: match &anon {
                            Ok(s) => s.clone(),
                            Err(e) => e.clone(),
                        },
                    },
                ];
                match anon {
                    Ok(_) => Outcome::fail(
                        "the default user needs no password (an anonymous PING works)",
                    )
                    .with(evidence),
                    Err(e) if crate::ctx::code_of(e.as_ref()) == topology::ErrorCode::NoAuth => Outcome::pass(
                        "the default user is disabled or has a password (anonymous PING refused)",
                    )
                    .with(evidence),
                    Err(e) => Outcome::error(format!("could not inspect the default user: {e}"))
                        .with(evidence),
                }
            }
            Err(e) => Outcome::error(format!("ACL GETUSER default failed: {e}")),
        }
    }
}

/// The `flags` of an `ACL GETUSER` reply (RESP2 array or RESP3 map).
fn user_flags(v: &redis::Value) -> Vec<String> {
    use redis::Value;
    let pairs: Vec<(&Value, &Value)> = match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|p| match p {
                [k, v] => Some((k, v)),
                _ => None,
            })
            .collect(),
        Value::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .find(|(k, _)| value_text(k) == "flags")
        .map(|(_, v)| match v {
            Value::Array(f) | Value::Set(f) => f.iter().map(value_text).collect(),
            other => vec![value_text(other)],
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::run;
    use crate::ctx::Captured;
    use redis::Value;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn getuser(flags: &[&str]) -> Value {
        Value::Array(vec![
            bulk("flags"),
            Value::Array(flags.iter().map(|f| bulk(f)).collect()),
            bulk("passwords"),
            Value::Array(vec![]),
        ])
    }

    #[test]
    fn required_passes_on_noauth_and_fails_on_pong() {
        let hardened =
            Captured::default().reply("ANON PING", Err("NOAUTH Authentication required."));
        assert_eq!(run(&Required, hardened).status, Status::Pass);
        let open = Captured::default().text("ANON PING", "PONG");
        assert_eq!(run(&Required, open).status, Status::Fail);
    }

    #[test]
    fn default_user_off_passes_nopass_fails() {
        let off = Captured::default().reply(
            "ACL GETUSER default",
            Ok(getuser(&["off", "sanitize-payload"])),
        );
        assert_eq!(run(&DefaultUser, off).status, Status::Pass);
        let open = Captured::default().reply(
            "ACL GETUSER default",
            Ok(getuser(&["on", "nopass", "sanitize-payload"])),
        );
        assert_eq!(run(&DefaultUser, open).status, Status::Fail);
        let pw = Captured::default().reply(
            "ACL GETUSER default",
            Ok(getuser(&["on", "sanitize-payload"])),
        );
        assert_eq!(run(&DefaultUser, pw).status, Status::Pass);
    }

    #[test]
    fn default_user_falls_back_when_acl_is_denied() {
        let managed = Captured::default()
            .reply(
                "ACL GETUSER default",
                Err("NOPERM this user has no permissions to run the 'acl|getuser' command"),
            )
            .reply("ANON PING", Err("NOAUTH Authentication required."));
        let o = run(&DefaultUser, managed);
        assert_eq!(o.status, Status::Pass);
        assert_eq!(o.evidence.len(), 2);
    }
}
