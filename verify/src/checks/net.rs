//! `net.*`: network exposure.

use super::config_evidence;
use crate::check::{Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity};
use crate::ctx::{Ctx, Unavailable};

/// `net.protected-mode`
pub struct ProtectedMode;

static PROTECTED_MODE: CheckMeta = CheckMeta {
    id: "net.protected-mode",
    area: Area::Net,
    title: "Protected mode is on, or its absence is covered by bind and auth",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Protected mode refuses non-loopback clients while the default user has no password: the safety net when an ACL file is lost or a config is reset. Turning it off is how most exposed instances became exposed. https://redis.io/docs/latest/operate/oss_and_stack/management/security/#protected-mode",
    remediation: "redis-conf/redis.conf: `protected-mode yes`.",
};

/// `net.bind`
pub struct Bind;

static BIND: CheckMeta = CheckMeta {
    id: "net.bind",
    area: Area::Net,
    title: "Not bound to every interface without authentication and TLS",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "`bind *` accepts connections on every address of the host, including public ones. Listening widely is only safe when clients must authenticate and traffic is encrypted. https://redis.io/docs/latest/operate/oss_and_stack/management/security/#network-security",
    remediation: "redis-conf/redis.conf: `bind` to the addresses clients use (127.0.0.1 locally; in a container the published port decides exposure); enable TLS (`tls-port`) when listening beyond a private network.",
};

/// Whether a `bind` value listens on every interface.
pub fn binds_everything(bind: &str) -> bool {
    let addrs: Vec<&str> = bind
        .split_whitespace()
        .map(|a| a.trim_start_matches('-'))
        .collect();
    addrs.is_empty()
        || addrs
            .iter()
            .any(|a| matches!(*a, "*" | "0.0.0.0" | "::*" | "::"))
}

async fn skip_denied(ctx: &Ctx, name: &str, e: &Unavailable) -> Outcome {
    ctx.withheld(&format!("CONFIG GET {name}"), e).await
}

/// Whether strangers are refused (anonymous PING gets NOAUTH).
async fn auth_required(ctx: &Ctx) -> (bool, Evidence) {
    let reply = ctx.anonymous_ping().await;
    let observed = match &reply {
        Ok(s) => s.clone(),
        Err(e) => e.clone(),
    };
    (
        matches!(&reply, Err(e) if crate::ctx::code_of(e.as_ref()) == topology::ErrorCode::NoAuth),
        Evidence {
            node: None,
            command: "PING (new connection, no credentials)".into(),
            observed,
        },
    )
}

check_type!(ProtectedMode, PROTECTED_MODE);

impl ProtectedMode {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let mode = match ctx.config_get("protected-mode").await {
            Ok(Some(v)) => v,
            Ok(None) => return Outcome::skip("this server has no protected-mode setting"),
            Err(e) => return skip_denied(ctx, "protected-mode", &e).await,
        };
        let mut evidence = vec![config_evidence("protected-mode", &mode)];
        if mode == "yes" {
            return Outcome::pass("protected-mode is on").with(evidence);
        }
        let bind = ctx
            .config_get("bind")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        evidence.push(config_evidence("bind", &bind));
        let (auth, ev) = auth_required(ctx).await;
        evidence.push(ev);
        if !binds_everything(&bind) && auth {
            Outcome::pass(format!(
                "protected-mode is off, covered by `bind {bind}` and required authentication"
            ))
            .with(evidence)
        } else if auth {
            Outcome::fail("protected-mode is off and the server listens on every interface")
                .with(evidence)
        } else {
            Outcome::fail("protected-mode is off and clients need no password").with(evidence)
        }
    }
}

check_type!(Bind, BIND);

impl Bind {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let bind = match ctx.config_get("bind").await {
            Ok(Some(v)) => v,
            Ok(None) => return Outcome::skip("this server has no bind setting"),
            Err(e) => return skip_denied(ctx, "bind", &e).await,
        };
        let mut evidence = vec![config_evidence("bind", &bind)];
        if !binds_everything(&bind) {
            return Outcome::pass(format!("bound to {bind}")).with(evidence);
        }
        let (auth, ev) = auth_required(ctx).await;
        evidence.push(ev);
        let tls_port = ctx
            .config_get("tls-port")
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| "0".into());
        let port = ctx
            .config_get("port")
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| "6379".into());
        evidence.push(config_evidence("tls-port", &tls_port));
        evidence.push(config_evidence("port", &port));
        // TLS only counts when the plaintext port is closed.
        let tls_only = tls_port != "0" && port == "0";
        match (auth, tls_only) {
        (true, true) => Outcome::pass("listens on every interface, with authentication and TLS only").with(evidence),
        (true, false) => Outcome::warn("listens on every interface with authentication but without TLS: safe only where the network (container port publishing, security group) limits who connects").with(evidence),
        (false, _) => Outcome::fail("listens on every interface and clients need no password").with(evidence),
    }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::run;
    use crate::ctx::Captured;

    #[test]
    fn recognises_wildcard_binds() {
        assert!(binds_everything("* -::*"));
        assert!(binds_everything("0.0.0.0"));
        assert!(binds_everything(""));
        assert!(!binds_everything("127.0.0.1 -::1"));
        assert!(!binds_everything("10.0.0.5"));
    }

    #[test]
    fn protected_mode_on_passes_off_and_open_fails() {
        let on = Captured::default().config("protected-mode", "yes");
        assert_eq!(run(&ProtectedMode, on).status, Status::Pass);
        let off = Captured::default()
            .config("protected-mode", "no")
            .config("bind", "127.0.0.1")
            .text("ANON PING", "PONG");
        assert_eq!(run(&ProtectedMode, off).status, Status::Fail);
        let covered = Captured::default()
            .config("protected-mode", "no")
            .config("bind", "10.0.0.5")
            .reply("ANON PING", Err("NOAUTH Authentication required."));
        assert_eq!(run(&ProtectedMode, covered).status, Status::Pass);
    }

    #[test]
    fn protected_mode_skips_where_config_is_denied() {
        let managed = Captured::default().reply(
            "CONFIG GET protected-mode",
            Err("ERR unknown command 'CONFIG', with args beginning with: 'GET' 'protected-mode'"),
        );
        assert_eq!(run(&ProtectedMode, managed).status, Status::Skip);
    }

    #[test]
    fn bind_all_without_auth_fails_with_auth_warns() {
        let open = Captured::default()
            .config("bind", "* -::*")
            .text("ANON PING", "PONG")
            .config("tls-port", "0")
            .config("port", "6379");
        assert_eq!(run(&Bind, open).status, Status::Fail);
        let authed = Captured::default()
            .config("bind", "* -::*")
            .reply("ANON PING", Err("NOAUTH Authentication required."))
            .config("tls-port", "0")
            .config("port", "6379");
        assert_eq!(run(&Bind, authed).status, Status::Warn);
        let tls = Captured::default()
            .config("bind", "* -::*")
            .reply("ANON PING", Err("NOAUTH Authentication required."))
            .config("tls-port", "6380")
            .config("port", "0");
        assert_eq!(run(&Bind, tls).status, Status::Pass);
        let local = Captured::default().config("bind", "127.0.0.1 -::1");
        assert_eq!(run(&Bind, local).status, Status::Pass);
    }
}
