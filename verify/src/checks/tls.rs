//! `tls.*`: encryption in transit, judged on `rediss://` targets from what
//! the server actually does on the wire (a handshake of the verifier's own,
//! the certificate it presents, a TLS 1.0/1.1 ClientHello it must refuse,
//! a PING on the plaintext port), with INFO and CONFIG GET as evidence
//! where the user may read them.
//!
//! On a `redis://` target the wire checks skip (there is no TLS to judge)
//! and `tls.unencrypted` says whether that plaintext leaves the machine.
//! The inspection connection trusts nothing it receives and sends no
//! credentials: only a PING.

use super::config_evidence;
use crate::check::{Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity};
use crate::ctx::{Ctx, Unavailable};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use topology::tls::legacy::{self, Answer, Legacy};
use topology::tls::Inspection;
use topology::Target;

/// Bound on one inspection handshake or probe.
const PROBE_BOUND: Duration = Duration::from_secs(5);
/// Days left under which a certificate fails: a renewal is overdue.
const FAIL_DAYS: i64 = 7;
/// Days left under which a certificate warns.
const WARN_DAYS: i64 = 30;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn plaintext_skip(target: &Target) -> Option<Outcome> {
    (!target.tls).then(|| {
        Outcome::skip(format!(
            "{} is a plaintext redis:// target: there is no TLS to judge (tls.unencrypted says whether that matters)",
            target.address()
        ))
    })
}

async fn inspect(target: &Target) -> Result<(Inspection, Evidence), Outcome> {
    match topology::tls::inspect(target, PROBE_BOUND).await {
        Ok(i) => {
            let ev = Evidence::new(
                format!("TLS handshake with {} (no client certificate)", target.address()),
                format!(
                    "{} {}, {} certificate(s), chain {}, client certificate {}requested; PING -> {}",
                    i.protocol,
                    i.cipher,
                    i.chain_len,
                    match &i.verified {
                        Ok(()) => "valid for the host".to_owned(),
                        Err(e) => format!("invalid: {e}"),
                    },
                    if i.client_cert_requested { "" } else { "not " },
                    i.ping_reply
                ),
            );
            Ok((i, ev))
        }
        Err(e) => Err(Outcome::error(format!(
            "failed to complete a TLS handshake with {}: {e}",
            target.address()
        ))),
    }
}

fn denied_or(name: &str, e: &Unavailable) -> Evidence {
    config_evidence(name, &format!("({})", e.reason()))
}

// ---------------------------------------------------------------------------

/// `tls.plaintext-port`
pub struct PlaintextPort;

static PLAINTEXT_PORT: CheckMeta = CheckMeta {
    id: "tls.plaintext-port",
    area: Area::Tls,
    title: "No plaintext port beside the TLS port",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "A server with both `port` and `tls-port` open serves the same data and credentials in clear text to any client that asks: TLS then protects only the clients that chose it. Redis closes the plaintext listener only with `port 0`. https://redis.io/docs/latest/operate/oss_and_stack/management/security/encryption/",
    remediation: "redis-conf/tls.conf: `port 0` beside `tls-port`; Helm `tls.enabled: true` (the chart sets `port 0`); on ElastiCache `transit_encryption_mode = \"required\"` (terraform/modules/elasticache-redis sets it, with `transit_encryption_enabled = true`).",
};

/// The verdict on the plaintext port (`port`, 0 = closed) and whether a
/// PING there was answered (`None`: not tried or no answer).
pub(crate) fn judge_plaintext(tcp_port: u64, answered: Option<&str>) -> Outcome {
    match (tcp_port, answered) {
        (0, _) => Outcome::pass("the plaintext port is closed (port 0): TLS only"),
        (p, Some(reply)) => Outcome::fail(format!(
            "plaintext port {p} is open beside TLS and answers (PING -> {reply})"
        )),
        (p, None) => Outcome::warn(format!(
            "plaintext port {p} is configured beside TLS; it did not answer from here, but other hosts may reach it"
        )),
    }
}

async fn ping_plaintext(host: &str, port: u16) -> Result<String, String> {
    let ask = async {
        let mut tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        tcp.write_all(b"PING\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let n = tcp.read(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf[..n]).trim_end().to_owned();
        if text.starts_with('+') || text.starts_with('-') {
            Ok(text)
        } else {
            Err(format!("no Redis reply ({text:?})"))
        }
    };
    tokio::time::timeout(Duration::from_secs(2), ask)
        .await
        .unwrap_or_else(|_| Err("no answer within 2s".into()))
}

check_type!(PlaintextPort, PLAINTEXT_PORT);

impl PlaintextPort {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        if let Some(skip) = plaintext_skip(&ctx.target) {
            return skip;
        }
        // CONFIG GET port is exact. INFO's tcp_port is what least-privilege
        // users can read, but with `port 0` Redis reports the TLS port
        // there, so a tcp_port equal to the port we reached means closed.
        let mut evidence = Vec::new();
        let port = match ctx.config_get("port").await {
            Ok(Some(p)) => {
                evidence.push(config_evidence("port", &p));
                p.parse::<u64>().ok()
            }
            Ok(None) => None,
            Err(e) => {
                evidence.push(denied_or("port", &e));
                None
            }
        };
        let port = match port {
            Some(p) => p,
            None => {
                let (info, ev) = match super::info_fields(ctx, "server", &["tcp_port"]).await {
                    Ok(x) => x,
                    Err(o) => return o.with(evidence),
                };
                evidence.push(ev);
                match info.get_u64("tcp_port") {
                    Some(p) if p == u64::from(ctx.target.port) => 0,
                    Some(p) => p,
                    None => {
                        return Outcome::skip(
                            "neither CONFIG GET port nor INFO server's tcp_port is readable here: run as `admin`, or grant `+config|get`",
                        )
                        .with(evidence)
                    }
                }
            }
        };
        let answered = if port == 0 {
            None
        } else {
            let p = u16::try_from(port).unwrap_or(0);
            let reply = ping_plaintext(&ctx.target.host, p).await;
            evidence.push(Evidence::new(
                format!("PING over plaintext TCP to {}:{p}", ctx.target.host),
                match &reply {
                    Ok(r) => r.clone(),
                    Err(e) => e.clone(),
                },
            ));
            reply.ok()
        };
        judge_plaintext(port, answered.as_deref()).with(evidence)
    }
}

// ---------------------------------------------------------------------------

/// `tls.protocols`
pub struct Protocols;

static PROTOCOLS: CheckMeta = CheckMeta {
    id: "tls.protocols",
    area: Area::Tls,
    title: "Only TLS 1.2 and 1.3 are offered",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "TLS 1.0 and 1.1 are deprecated (RFC 8996): no AEAD ciphers, SHA-1 in the handshake, and the BEAST/POODLE family of downgrade attacks. A server that still accepts them lets a middlebox force every client down. The verifier offers each old version in a ClientHello of its own and reads only the server's first answer.",
    remediation: "redis-conf/tls.conf: `tls-protocols \"TLSv1.2 TLSv1.3\"`; Helm `tls.enabled` writes the same line; ElastiCache negotiates TLS 1.2+ itself.",
};

/// The verdict from the negotiated version and the answers to each old one.
pub(crate) fn judge_protocols(
    negotiated: &str,
    legacy: &[(Legacy, Result<Answer, String>)],
) -> Outcome {
    let accepted: Vec<&str> = legacy
        .iter()
        .filter(|(_, a)| matches!(a, Ok(Answer::Accepted)))
        .map(|(v, _)| v.name())
        .collect();
    if !accepted.is_empty() {
        return Outcome::fail(format!(
            "the server accepts deprecated {}",
            accepted.join(" and ")
        ));
    }
    if let Some((v, Err(e))) = legacy.iter().find(|(_, a)| a.is_err()) {
        return Outcome::error(format!(
            "failed to ask whether {} is accepted: {e}",
            v.name()
        ));
    }
    if !matches!(negotiated, "TLSv1_2" | "TLSv1_3") {
        return Outcome::fail(format!("negotiated {negotiated}, not TLS 1.2 or 1.3"));
    }
    Outcome::pass(format!(
        "TLS 1.0 and 1.1 refused; negotiated {}",
        negotiated.replace('_', ".")
    ))
}

check_type!(Protocols, PROTOCOLS);

impl Protocols {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        if let Some(skip) = plaintext_skip(&ctx.target) {
            return skip;
        }
        let (ins, mut evidence) = match inspect(&ctx.target).await {
            Ok((i, ev)) => (i, vec![ev]),
            Err(o) => return o,
        };
        let mut answers = Vec::new();
        for v in [Legacy::Tls10, Legacy::Tls11] {
            let a = legacy::probe(&ctx.target.host, ctx.target.port, v, PROBE_BOUND)
                .await
                .map_err(|e| e.to_string());
            evidence.push(Evidence::new(
                format!("{} ClientHello to {}", v.name(), ctx.target.address()),
                match &a {
                    Ok(Answer::Accepted) => "ServerHello: accepted".to_owned(),
                    Ok(Answer::Refused(why)) => format!("refused ({why})"),
                    Err(e) => e.clone(),
                },
            ));
            answers.push((v, a));
        }
        match ctx.config_get("tls-protocols").await {
            Ok(Some(v)) => evidence.push(config_evidence("tls-protocols", &v)),
            Ok(None) => {}
            Err(e) => evidence.push(denied_or("tls-protocols", &e)),
        }
        judge_protocols(&ins.protocol, &answers).with(evidence)
    }
}

// ---------------------------------------------------------------------------

/// `tls.certificate`
pub struct Certificate;

static CERTIFICATE: CheckMeta = CheckMeta {
    id: "tls.certificate",
    area: Area::Tls,
    title: "The certificate chain is valid for the host and not about to expire",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Clients that verify the chain (as they must, or TLS stops nothing in the middle) refuse a server whose certificate is untrusted, issued for another name, or expired: an expiry is an outage on a date known in advance. The check verifies the presented chain against the roots the verifier was given (--tls-ca, else the system's) for the target's host, fails under 7 days left and warns under 30.",
    remediation: "Renew or reissue the server certificate (`tls-cert-file`, redis-conf/tls.conf) for the names clients use, signed by the CA they trust; with the Helm chart, cert-manager's `tls.certManager.renewBefore` renews ahead of expiry.",
};

/// The verdict on the presented chain at `now` (Unix seconds).
pub(crate) fn judge_certificate(ins: &Inspection, now: i64) -> Outcome {
    if let Err(e) = &ins.verified {
        return Outcome::fail(format!("the certificate chain does not verify: {e}"));
    }
    let Some(v) = ins.leaf else {
        return Outcome::error("failed to read the certificate's validity period");
    };
    let days = v.days_left(now);
    if days < FAIL_DAYS {
        Outcome::fail(format!(
            "the server certificate expires in {days} day(s) (under {FAIL_DAYS})"
        ))
    } else if days < WARN_DAYS {
        Outcome::warn(format!(
            "the server certificate expires in {days} days (under {WARN_DAYS})"
        ))
    } else {
        Outcome::pass(format!(
            "the chain is valid for the host; {days} days to expiry"
        ))
    }
}

check_type!(Certificate, CERTIFICATE);

impl Certificate {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        if let Some(skip) = plaintext_skip(&ctx.target) {
            return skip;
        }
        match inspect(&ctx.target).await {
            Ok((ins, ev)) => judge_certificate(&ins, now()).with(vec![ev]),
            Err(o) => o,
        }
    }
}

// ---------------------------------------------------------------------------

/// `tls.client-auth`
pub struct ClientAuth;

static CLIENT_AUTH: CheckMeta = CheckMeta {
    id: "tls.client-auth",
    area: Area::Tls,
    title: "Client certificates are required as declared",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "`tls-auth-clients yes` (mutual TLS) refuses any client without a certificate from the CA before it can send a command: a stolen password alone is not enough. A run with --tls-cert expects mutual TLS and warns when the server still serves a handshake without a certificate (`optional`); a run without reports ACLs as the only gate. https://redis.io/docs/latest/operate/oss_and_stack/management/security/encryption/",
    remediation: "redis-conf/tls.conf: `tls-auth-clients yes`; Helm `tls.authClients: \"yes\"`.",
};

/// The verdict from what a client without a certificate saw, given whether
/// the run declared mutual TLS (it was given a client certificate).
pub(crate) fn judge_client_auth(ins: &Inspection, declared_mutual: bool) -> Outcome {
    let observed = match (ins.client_cert_requested, ins.answers_without_client_cert) {
        (true, false) => "yes",
        (true, true) => "optional",
        (false, _) => "no",
    };
    match (declared_mutual, observed) {
        (true, "yes") => Outcome::pass(
            "a client without a certificate is refused (tls-auth-clients yes), as declared by --tls-cert",
        ),
        // A client certificate proves this client has one, not that every
        // client must: `optional` is a legitimate migration state (the
        // chart's default), so it warns rather than fails the run.
        (true, other) => Outcome::warn(format!(
            "a client certificate was given (--tls-cert) but a client without one is also served (tls-auth-clients {other}): set `yes` once every client has a certificate"
        )),
        (false, "yes") => Outcome::pass(
            "the server requires client certificates (tls-auth-clients yes)",
        ),
        (false, other) => Outcome::pass(format!(
            "clients without a certificate are served (tls-auth-clients {other}); ACLs are the only gate, as declared (no --tls-cert)"
        )),
    }
}

check_type!(ClientAuth, CLIENT_AUTH);

impl ClientAuth {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        if let Some(skip) = plaintext_skip(&ctx.target) {
            return skip;
        }
        let (ins, mut evidence) = match inspect(&ctx.target).await {
            Ok((i, ev)) => (i, vec![ev]),
            Err(o) => return o,
        };
        match ctx.config_get("tls-auth-clients").await {
            Ok(Some(v)) => evidence.push(config_evidence("tls-auth-clients", &v)),
            Ok(None) => {}
            Err(e) => evidence.push(denied_or("tls-auth-clients", &e)),
        }
        judge_client_auth(&ins, ctx.target.tls_files.cert.is_some()).with(evidence)
    }
}

// ---------------------------------------------------------------------------

/// `tls.replication`
pub struct Replication;

static REPLICATION: CheckMeta = CheckMeta {
    id: "tls.replication",
    area: Area::Tls,
    title: "Replication runs over TLS",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::REPLICATED,
    why: "With TLS for clients but not `tls-replication`, every write still crosses the network in clear text from the primary to each replica, along with `masterauth`. https://redis.io/docs/latest/operate/oss_and_stack/management/security/encryption/#replication",
    remediation: "redis-conf/tls.conf: `tls-replication yes`; Helm `tls.enabled` sets it in modes sentinel and cluster.",
};

/// `tls.cluster`
pub struct ClusterBus;

static CLUSTER_BUS: CheckMeta = CheckMeta {
    id: "tls.cluster",
    area: Area::Tls,
    title: "The cluster bus runs over TLS",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::CLUSTER,
    why: "Without `tls-cluster` the cluster bus (gossip, failover votes, slot moves) between nodes is plaintext and unauthenticated beyond the network: a host that can reach the bus port can join the conversation. https://redis.io/docs/latest/operate/oss_and_stack/management/security/encryption/#cluster",
    remediation: "redis-conf/tls.conf: `tls-cluster yes`; Helm `tls.enabled` sets it in mode cluster.",
};

/// The verdict on a yes/no TLS flag read with CONFIG GET.
pub(crate) fn judge_flag(name: &str, value: Option<&str>) -> Outcome {
    match value {
        Some("yes") => Outcome::pass(format!("{name} yes")),
        Some(other) => Outcome::fail(format!("{name} {other}: this traffic is plaintext")),
        None => Outcome::skip(format!("this server has no {name} setting")),
    }
}

async fn flag(ctx: &Ctx, name: &str) -> Outcome {
    if let Some(skip) = plaintext_skip(&ctx.target) {
        return skip;
    }
    match ctx.config_get(name).await {
        Ok(v) => {
            let ev = config_evidence(name, v.as_deref().unwrap_or("(none)"));
            judge_flag(name, v.as_deref()).with(vec![ev])
        }
        Err(Unavailable::Denied(r)) => Outcome::skip(format!(
            "CONFIG GET {name} not permitted here ({r}): run as `admin`, or grant `+config|get`"
        )),
        Err(Unavailable::Failed(r)) => Outcome::error(format!("CONFIG GET {name} failed: {r}")),
    }
}

check_type!(Replication, REPLICATION);

impl Replication {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        flag(ctx, "tls-replication").await
    }
}

check_type!(ClusterBus, CLUSTER_BUS);

impl ClusterBus {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        flag(ctx, "tls-cluster").await
    }
}

// ---------------------------------------------------------------------------

/// `tls.unencrypted`
pub struct Unencrypted;

static UNENCRYPTED: CheckMeta = CheckMeta {
    id: "tls.unencrypted",
    area: Area::Tls,
    title: "Traffic to a non-loopback target is encrypted",
    severity: Severity::Warn,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "A redis:// target on another host carries passwords (AUTH), keys and values in clear text across every network between client and server. On loopback the traffic never leaves the machine; anywhere else it should be rediss://.",
    remediation: "Serve TLS (redis-conf/tls.conf, Helm `tls.enabled: true`; terraform/modules/elasticache-redis always sets `transit_encryption_enabled = true`) and point clients at rediss://.",
};

/// The verdict on how the verifier itself reaches the node.
pub(crate) fn judge_unencrypted(target: &Target) -> Outcome {
    if target.tls {
        Outcome::pass(format!("{} is reached over TLS", target.address()))
    } else if target.is_loopback() {
        Outcome::pass(format!(
            "{} is plaintext on loopback: the traffic does not leave this machine",
            target.address()
        ))
    } else {
        Outcome::warn(format!(
            "{} is a plaintext target off this machine: passwords and data cross the network unencrypted",
            target.address()
        ))
    }
}

check_type!(Unencrypted, UNENCRYPTED);

impl Unencrypted {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        judge_unencrypted(&ctx.target).with(vec![Evidence::new(
            "target",
            format!(
                "{}://{}",
                if ctx.target.tls { "rediss" } else { "redis" },
                ctx.target.address()
            ),
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::run;
    use crate::ctx::Captured;
    use topology::tls::Validity;

    fn inspection() -> Inspection {
        Inspection {
            protocol: "TLSv1_3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
            chain_len: 1,
            verified: Ok(()),
            leaf: Some(Validity {
                not_before: 0,
                not_after: 100 * 86_400,
            }),
            client_cert_requested: true,
            answers_without_client_cert: false,
            ping_reply: "received fatal alert: CertificateRequired".into(),
        }
    }

    #[test]
    fn plaintext_port_passes_closed_fails_answering_warns_silent() {
        assert_eq!(judge_plaintext(0, None).status, Status::Pass);
        let o = judge_plaintext(6379, Some("-NOAUTH Authentication required."));
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("6379"), "{}", o.message);
        let o = judge_plaintext(6379, None);
        assert_eq!(o.status, Status::Warn);
        assert!(o.message.contains("6379"));
    }

    #[test]
    fn protocols_fail_on_an_accepted_old_version() {
        let refused = || Ok(Answer::Refused("alert 70".into()));
        let o = judge_protocols(
            "TLSv1_3",
            &[(Legacy::Tls10, refused()), (Legacy::Tls11, refused())],
        );
        assert_eq!(o.status, Status::Pass, "{}", o.message);
        let o = judge_protocols(
            "TLSv1_2",
            &[
                (Legacy::Tls10, refused()),
                (Legacy::Tls11, Ok(Answer::Accepted)),
            ],
        );
        assert_eq!(
            (o.status, o.message.contains("TLSv1.1")),
            (Status::Fail, true)
        );
        let o = judge_protocols("TLSv1_3", &[(Legacy::Tls10, Err("no answer".into()))]);
        assert_eq!(o.status, Status::Error);
    }

    #[test]
    fn certificate_fails_invalid_or_expiring_and_warns_under_30_days() {
        let day = 86_400;
        let ins = inspection();
        assert_eq!(judge_certificate(&ins, 0).status, Status::Pass);
        assert_eq!(judge_certificate(&ins, 80 * day).status, Status::Warn);
        let o = judge_certificate(&ins, 95 * day);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("expires in 5 day"), "{}", o.message);
        let mut bad = inspection();
        bad.verified = Err("invalid peer certificate: UnknownIssuer".into());
        let o = judge_certificate(&bad, 0);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("UnknownIssuer"));
    }

    #[test]
    fn client_auth_is_judged_against_the_declaration() {
        let required = inspection();
        assert_eq!(judge_client_auth(&required, true).status, Status::Pass);
        let mut optional = inspection();
        optional.answers_without_client_cert = true;
        let o = judge_client_auth(&optional, true);
        assert_eq!(o.status, Status::Warn);
        assert!(o.message.contains("optional"), "{}", o.message);
        let mut none = inspection();
        none.client_cert_requested = false;
        none.answers_without_client_cert = true;
        let o = judge_client_auth(&none, false);
        assert_eq!(o.status, Status::Pass);
        assert!(o.message.contains("tls-auth-clients no"), "{}", o.message);
    }

    #[test]
    fn replication_and_cluster_flags() {
        assert_eq!(
            judge_flag("tls-replication", Some("yes")).status,
            Status::Pass
        );
        assert_eq!(
            judge_flag("tls-replication", Some("no")).status,
            Status::Fail
        );
        assert_eq!(judge_flag("tls-cluster", None).status, Status::Skip);
    }

    #[test]
    fn unencrypted_warns_off_loopback_only() {
        let plain = |h: &str| Target::new(h, 6379, None, None);
        assert_eq!(judge_unencrypted(&plain("127.0.0.1")).status, Status::Pass);
        let o = judge_unencrypted(&plain("10.0.0.5"));
        assert_eq!(o.status, Status::Warn);
        assert!(o.message.contains("10.0.0.5:6379"));
        let mut tls = plain("10.0.0.5");
        tls.tls = true;
        assert_eq!(judge_unencrypted(&tls).status, Status::Pass);
    }

    #[test]
    fn wire_checks_skip_on_a_plaintext_target() {
        // Captured contexts are plaintext 127.0.0.1 targets.
        let captured = Captured::default().config("tls-replication", "yes");
        for check in [
            &PlaintextPort as &dyn crate::check::Check,
            &Protocols,
            &Certificate,
            &ClientAuth,
            &Replication,
        ] {
            let o = run(check, captured.clone());
            assert_eq!(o.status, Status::Skip, "{}", check.meta().id);
            assert!(o.message.contains("plaintext redis://"));
        }
        assert_eq!(run(&Unencrypted, Captured::default()).status, Status::Pass);
    }
}
