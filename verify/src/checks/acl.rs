//! `acl.*`: what the application's user is allowed to do.

use crate::caps::{self, Capability, CommandInfo};
use crate::check::{Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity};
use crate::ctx::{value_text, Ctx};
use crate::probe::Permission;
use redis::Value;
use std::collections::BTreeMap;

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

check_type!(DangerousCommands, DANGEROUS);

/// A fixed sample of dangerous commands with harmless arguments of the
/// right arity, for checks that probe a role that should hold none of them
/// (`repl.auth`); `acl.dangerous-commands` judges the server's whole table.
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

/// The commands to judge: the server's own `@dangerous` and `@admin`
/// categories, or the built-in table when this user may not list them.
async fn server_commands(ctx: &Ctx, evidence: &mut Vec<Evidence>) -> Vec<String> {
    let mut names = Vec::new();
    for cat in ["dangerous", "admin"] {
        match ctx
            .cached(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", cat])
            .await
        {
            Ok(Value::Array(items)) | Ok(Value::Set(items)) => {
                evidence.push(Evidence::new(
                    format!("COMMAND LIST FILTERBY ACLCAT {cat}"),
                    format!("{} commands", items.len()),
                ));
                names.extend(items.iter().map(|v| value_text(v).to_ascii_lowercase()));
            }
            other => {
                evidence.push(Evidence::new(
                    format!("COMMAND LIST FILTERBY ACLCAT {cat}"),
                    format!(
                        "unavailable ({}); judged against the built-in table",
                        match other {
                            Err(e) => e,
                            Ok(v) => value_text(&v),
                        }
                    ),
                ));
                names = caps::known_commands();
                break;
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Arity and flags of `names` from one `COMMAND INFO` (subcommands come
/// with their parents).
async fn command_info(ctx: &Ctx, names: &[String]) -> BTreeMap<String, CommandInfo> {
    let mut parents: Vec<&str> = names
        .iter()
        .map(|n| n.split('|').next().unwrap_or(n))
        .collect();
    parents.sort_unstable();
    parents.dedup();
    let mut argv = vec!["COMMAND", "INFO"];
    argv.extend(parents);
    match ctx.cached(&argv).await {
        Ok(v) => caps::parse_command_info(&v),
        Err(_) => BTreeMap::new(),
    }
}

/// Per capability: the capability, its allowed commands, how many were
/// denied, and the undetermined ones with why.
type Tally = (&'static Capability, Vec<String>, usize, Vec<String>);

/// SHUTDOWN cannot be queued in MULTI (refused before the ACL check), so a
/// user probing itself tries `SHUTDOWN ABORT`: the ACL is consulted first
/// (NOPERM when denied) and, allowed, it only cancels a shutdown in
/// progress, which INFO shows (`shutdown_in_milliseconds`) and the probe is
/// not sent when one is. Without INFO there is no harmless proof.
async fn shutdown_self_probe(ctx: &Ctx) -> (String, Permission) {
    let server = match ctx.info("server").await {
        Ok(i) => i,
        Err(e) => {
            return (
                "SHUTDOWN".into(),
                Permission::Unknown(format!(
                    "MULTI refuses SHUTDOWN before the ACL check and INFO is not readable ({}) to prove SHUTDOWN ABORT harmless; run as admin (ACL DRYRUN) to decide",
                    e.reason()
                )),
            )
        }
    };
    if server.get("shutdown_in_milliseconds").is_some() {
        return (
            "SHUTDOWN".into(),
            Permission::Unknown(
                "a shutdown is in progress (INFO shutdown_in_milliseconds); probe not sent".into(),
            ),
        );
    }
    let reply = ctx.cmd(&["SHUTDOWN", "ABORT"]).await;
    let permission = match reply {
        Err(e) if crate::ctx::code_of(&e) == topology::ErrorCode::NoPerm => Permission::Denied(e),
        Err(e) if e.to_ascii_lowercase().contains("no shutdown in progress") => {
            Permission::Allowed(format!("SHUTDOWN ABORT answered `{e}`"))
        }
        Err(e) => Permission::Unknown(e),
        Ok(v) => Permission::Allowed(value_text(&v)),
    };
    (
        "SHUTDOWN ABORT (no shutdown in progress per INFO)".into(),
        permission,
    )
}

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
        let mut evidence = vec![Evidence::new("ACL WHOAMI", format!("{whoami} ({note})"))];
        let names = server_commands(ctx, &mut evidence).await;
        let info = command_info(ctx, &names).await;
        // Per capability: allowed, denied and undetermined commands.
        let mut groups: BTreeMap<&'static str, Tally> = BTreeMap::new();
        let mut probed = 0;
        for name in &names {
            let caps_of = caps::groups_of(name);
            if caps_of.iter().all(|c| !c.damaging) {
                continue;
            }
            probed += 1;
            let cmd_info = info.get(name).copied();
            let argv = caps::probe_argv(name, cmd_info);
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let permission = if via_dryrun {
                let mut full = vec!["ACL", "DRYRUN", user.as_str()];
                full.extend_from_slice(&args);
                let reply = ctx.cmd(&full).await.map(|v| value_text(&v));
                Permission::from_dryrun_reply(reply)
            } else if *name == "shutdown" {
                shutdown_self_probe(ctx).await.1
            } else if cmd_info.is_some_and(|i| i.no_multi) {
                Permission::Unknown(
                    "MULTI refuses it before the ACL check and running it is not harmless; run as admin (ACL DRYRUN) to decide".into(),
                )
            } else {
                ctx.queue_probe(&args).await
            };
            let shown = name.replace('|', " ").to_ascii_uppercase();
            for cap in caps_of.iter().filter(|c| c.damaging) {
                let g = groups
                    .entry(cap.id)
                    .or_insert_with(|| (*cap, Vec::new(), 0, Vec::new()));
                match &permission {
                    Permission::Allowed(_) => g.1.push(shown.clone()),
                    Permission::Denied(_) => g.2 += 1,
                    Permission::Unknown(why) => g.3.push(format!("{shown} ({why})")),
                }
            }
        }
        let how = if via_dryrun {
            format!("ACL DRYRUN {user} <command>")
        } else {
            "MULTI; <command>; DISCARD".to_owned()
        };
        let mut allowed_caps = Vec::new();
        let mut undetermined = Vec::new();
        for (id, (cap, allowed, denied, unknown)) in &groups {
            let mut parts = Vec::new();
            if !allowed.is_empty() {
                parts.push(format!("allowed: {}", allowed.join(", ")));
                allowed_caps.push(format!("{} ({})", cap.title, allowed.join(", ")));
            }
            parts.push(format!("{denied} denied"));
            if !unknown.is_empty() {
                parts.push(format!("undetermined: {}", unknown.join("; ")));
                undetermined.extend(
                    unknown
                        .iter()
                        .map(|u| u.split(" (").next().unwrap_or(u).to_owned()),
                );
            }
            evidence.push(Evidence::new(
                format!("{how} — capability {id}: {}", cap.title),
                parts.join("; "),
            ));
        }
        undetermined.sort();
        undetermined.dedup();
        if !allowed_caps.is_empty() {
            Outcome::fail(format!("user `{user}` may {}", allowed_caps.join("; "))).with(evidence)
        } else if !undetermined.is_empty() {
            Outcome::warn(format!(
                "user `{user}` is denied every dangerous command that could be tested; undetermined: {}",
                undetermined.join(", ")
            ))
            .with(evidence)
        } else {
            Outcome::pass(format!(
                "user `{user}` is denied all {probed} dangerous or admin commands the server lists, in {} capabilities",
                groups.len()
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

/// One line of `ACL LIST`: the user's name and rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AclUser {
    pub name: String,
    pub rules: Vec<String>,
}

impl AclUser {
    fn on(&self) -> bool {
        self.rules.iter().any(|r| r == "on")
    }
    fn has(&self, rule: &str) -> bool {
        self.rules.iter().any(|r| r == rule)
    }
}

/// Parses `ACL LIST` (one `user <name> <rules…>` per entry).
pub(crate) fn parse_acl_list(v: &Value) -> Vec<AclUser> {
    let lines: Vec<String> = match v {
        Value::Array(items) | Value::Set(items) => items.iter().map(value_text).collect(),
        other => value_text(other).lines().map(str::to_owned).collect(),
    };
    lines
        .iter()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next()? == "user").then_some(())?;
            let name = words.next()?.to_owned();
            Some(AclUser {
                name,
                rules: words.map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// The enabled users, or the outcome to report when ACL LIST is withheld.
async fn enabled_users(ctx: &Ctx) -> Result<(Vec<AclUser>, Evidence), Outcome> {
    match ctx.cached(&["ACL", "LIST"]).await {
        Ok(v) => {
            let users = parse_acl_list(&v);
            // Password hashes stay out of the evidence.
            let shown: Vec<String> = users
                .iter()
                .map(|u| {
                    let flags: Vec<&str> = u
                        .rules
                        .iter()
                        .map(String::as_str)
                        .filter(|r| !r.starts_with('#') && !r.starts_with('>'))
                        .collect();
                    format!("{} {}", u.name, flags.join(" "))
                })
                .collect();
            let ev = Evidence::new("ACL LIST (password hashes removed)", shown.join(" | "));
            Ok((users.into_iter().filter(AclUser::on).collect(), ev))
        }
        Err(e) => Err(ctx.withheld("ACL LIST", &crate::ctx::classify(e)).await),
    }
}

/// Users that hold the admin role: the policy's `admin` and the user the
/// verifier runs as (it is expected to be an admin when it can list ACLs).
fn admin_role(whoami: &str, name: &str) -> bool {
    name == "admin" || name == whoami
}

/// Whether `user` may run `argv`, asked of the ACL engine only.
async fn dryrun(ctx: &Ctx, user: &str, argv: &[&str]) -> Permission {
    let mut full = vec!["ACL", "DRYRUN", user];
    full.extend_from_slice(argv);
    Permission::from_dryrun_reply(ctx.cmd(&full).await.map(|v| value_text(&v)))
}

/// Commands that run or load Lua code or functions. `SCRIPT KILL` and
/// `FUNCTION KILL` stop code and are not here (Sentinel needs SCRIPT KILL).
pub(crate) const SCRIPTING: &[&[&str]] = &[
    &["EVAL", "return 1", "0"],
    &["EVAL_RO", "return 1", "0"],
    &["EVALSHA", "0000000000000000000000000000000000000000", "0"],
    &["FCALL", "__verify_probe_none", "0"],
    &["FUNCTION", "LOAD", "__verify-probe-none"],
    &["SCRIPT", "LOAD", "return 1"],
];

/// Who may reach scripting: `(user, commands)` for every enabled user with
/// at least one, found with ACL DRYRUN; `Err` with the outcome to report when
/// the users cannot be listed.
pub(crate) async fn scripting_users(
    ctx: &Ctx,
) -> Result<(Vec<(String, Vec<String>)>, Vec<Evidence>), Outcome> {
    let (users, ev) = enabled_users(ctx).await?;
    let mut evidence = vec![ev];
    let mut out = Vec::new();
    for u in &users {
        let mut reach = Vec::new();
        for argv in SCRIPTING {
            if matches!(dryrun(ctx, &u.name, argv).await, Permission::Allowed(_)) {
                let name = match argv {
                    [c, s, ..] if matches!(*c, "FUNCTION" | "SCRIPT") => format!("{c} {s}"),
                    [c, ..] => (*c).to_owned(),
                    [] => String::new(),
                };
                reach.push(name);
            }
        }
        evidence.push(Evidence::new(
            format!(
                "ACL DRYRUN {} EVAL|EVALSHA|FCALL|FUNCTION LOAD|SCRIPT LOAD …",
                u.name
            ),
            if reach.is_empty() {
                "denied".to_owned()
            } else {
                format!("allowed: {}", reach.join(", "))
            },
        ));
        if !reach.is_empty() {
            out.push((u.name.clone(), reach));
        }
    }
    Ok((out, evidence))
}

/// `acl.least-privilege`
pub struct LeastPrivilege;

static LEAST_PRIVILEGE: CheckMeta = CheckMeta {
    id: "acl.least-privilege",
    area: Area::Acl,
    title: "Only the admin role holds admin power; no user without a password; channels closed by default",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Each extra user that may run CONFIG SET, ACL SETUSER or MODULE LOAD is a second admin whose password may leak; a `nopass` user lets anyone who can connect log in as it; without `acl-pubsub-default resetchannels` new users may read every channel. Redis ACL docs: https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/",
    remediation: "redis-conf/users.acl: only `admin` holds `+@all` without `-@dangerous -@admin`; every user has a password (`#<sha256>`), none `nopass`; redis-conf/redis.conf `acl-pubsub-default resetchannels` (the Helm chart renders the same files; Terraform: `create_users`).",
};

check_type!(LeastPrivilege, LEAST_PRIVILEGE);

/// Probes that only an admin may pass; any one allowed means admin power.
const ADMIN_POWER: &[&[&str]] = &[
    &["CONFIG", "SET", "slowlog-max-len", "256"],
    &["ACL", "SETUSER", "__verify-probe-none"],
    &["MODULE", "LOAD", "/nonexistent/verify-probe.so"],
];

impl LeastPrivilege {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let whoami = match ctx.whoami().await {
            Ok(u) => u,
            Err(e) => return ctx.withheld("ACL WHOAMI", &e).await,
        };
        let (users, ev) = match enabled_users(ctx).await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let mut evidence = vec![ev];
        let mut problems = Vec::new();
        for u in &users {
            if u.has("nopass") {
                problems.push(format!("user `{}` needs no password (nopass)", u.name));
            }
            if admin_role(&whoami, &u.name) {
                continue;
            }
            for argv in ADMIN_POWER {
                if let Permission::Allowed(_) = dryrun(ctx, &u.name, argv).await {
                    evidence.push(Evidence::new(
                        format!("ACL DRYRUN {} {}", u.name, argv.join(" ")),
                        "OK",
                    ));
                    problems.push(format!(
                        "user `{}` holds admin power ({} {})",
                        u.name, argv[0], argv[1]
                    ));
                    break;
                }
            }
        }
        match ctx.config_get("acl-pubsub-default").await {
            Ok(Some(v)) => {
                evidence.push(super::config_evidence("acl-pubsub-default", &v));
                if v != "resetchannels" {
                    problems.push(format!(
                        "acl-pubsub-default is {v}: new users may use every channel"
                    ));
                }
            }
            Ok(None) => evidence.push(super::config_evidence(
                "acl-pubsub-default",
                "<not supported>",
            )),
            Err(e) => {
                // Where CONFIG is withheld the users are still judged; the
                // skip is reported only when they raise nothing.
                let skip = ctx.withheld("CONFIG GET acl-pubsub-default", &e).await;
                if problems.is_empty() || skip.status == crate::check::Status::Error {
                    return skip.with(evidence);
                }
                evidence.push(Evidence::new("CONFIG GET acl-pubsub-default", skip.message));
            }
        }
        if problems.is_empty() {
            Outcome::pass(format!(
                "{} enabled users: only the admin role holds admin power, none is nopass, channels reset by default",
                users.len()
            ))
            .with(evidence)
        } else {
            Outcome::fail(problems.join("; ")).with(evidence)
        }
    }
}

/// `acl.scripting`
pub struct Scripting;

static SCRIPTING_META: CheckMeta = CheckMeta {
    id: "acl.scripting",
    area: Area::Acl,
    title: "Only the admin and application users can run Lua or functions",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Lua runs inside the server: the 2025 RediShell family (CVE-2025-49844, -46817, -46818, -46819) and earlier Lua CVEs turn EVAL into code execution on unpatched builds. Roles that never need scripts (exporter, replication, Sentinel) must not reach EVAL, EVALSHA, FCALL, FUNCTION LOAD or SCRIPT LOAD. https://redis.io/docs/latest/develop/interact/programmability/",
    remediation: "redis-conf/users.acl: roles other than `admin` and `app` start from `-@all` and add only what they need (no `+@scripting`); if the application needs no scripts, add `-@scripting` to `app` (Helm renders the same file; Terraform: `create_users`).",
};

check_type!(Scripting, SCRIPTING_META);

impl Scripting {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let whoami = match ctx.whoami().await {
            Ok(u) => u,
            Err(e) => return ctx.withheld("ACL WHOAMI", &e).await,
        };
        let app = ctx
            .settings
            .app_user
            .clone()
            .unwrap_or_else(|| "app".to_owned());
        let (reach, evidence) = match scripting_users(ctx).await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let names: Vec<String> = reach.iter().map(|(u, _)| format!("`{u}`")).collect();
        let extra: Vec<String> = reach
            .iter()
            .filter(|(u, _)| !admin_role(&whoami, u) && *u != app)
            .map(|(u, cmds)| format!("`{u}` ({})", cmds.join(", ")))
            .collect();
        if extra.is_empty() {
            Outcome::pass(format!(
                "scripting reachable by {}",
                if names.is_empty() {
                    "nobody".to_owned()
                } else {
                    names.join(", ")
                }
            ))
            .with(evidence)
        } else {
            Outcome::fail(format!(
                "roles that need no scripts can run them: {}",
                extra.join(", ")
            ))
            .with(evidence)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::{run, run_with};
    use crate::config::Settings;
    use crate::ctx::Captured;

    fn list(items: &[&str]) -> Result<Value, &'static str> {
        Ok(Value::Array(
            items
                .iter()
                .map(|s| Value::BulkString(s.as_bytes().to_vec()))
                .collect(),
        ))
    }

    const DENIED: &str = "This user has no permissions to run the command";

    /// A server listing a few dangerous commands, probed for `user`.
    fn server(user: &str, allowed: &[&str]) -> Captured {
        let dangerous = [
            "flushall",
            "slaveof",
            "replicaof",
            "shutdown",
            "info",
            "module|loadex",
        ];
        let mut c = Captured::default()
            .text("ACL WHOAMI", "admin")
            .reply(&format!("ACL DRYRUN {user} PING"), Ok(Value::Okay))
            .reply("COMMAND LIST FILTERBY ACLCAT dangerous", list(&dangerous))
            .reply(
                "COMMAND LIST FILTERBY ACLCAT admin",
                list(&["shutdown", "slaveof"]),
            )
            .reply(
                "COMMAND INFO flushall info module replicaof shutdown slaveof",
                Err("ERR not captured"),
            );
        for d in dangerous {
            let argv = caps::probe_argv(d, None).join(" ");
            let reply = if allowed.contains(&d) {
                Ok(Value::Okay)
            } else {
                Ok(Value::BulkString(DENIED.as_bytes().to_vec()))
            };
            c = c.reply(&format!("ACL DRYRUN {user} {argv}"), reply);
        }
        c
    }

    #[test]
    fn hardened_app_user_passes_with_evidence_per_capability() {
        let o = run(&DangerousCommands, server("app", &[]));
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o
            .evidence
            .iter()
            .any(|e| e.command.contains("capability stop-server")));
        assert!(o
            .evidence
            .iter()
            .any(|e| e.command.contains("capability replication-failover")));
    }

    #[test]
    fn an_alias_left_allowed_fails_naming_its_capability() {
        let settings = Settings {
            app_user: Some("web".into()),
            ..Default::default()
        };
        let o = run_with(&DangerousCommands, server("web", &["slaveof"]), settings);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "user `web` may change replication or failover (SLAVEOF)"
        );
    }

    #[test]
    fn a_command_in_no_group_is_judged() {
        // module|loadex is classified; a made-up future entry point is not.
        let c = server("app", &[])
            .reply(
                "COMMAND LIST FILTERBY ACLCAT admin",
                list(&["module|loadnew"]),
            )
            .reply("ACL DRYRUN app MODULE LOADNEW", Ok(Value::Okay));
        let o = run(&DangerousCommands, c);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(o.message.contains("MODULE LOADNEW"), "{}", o.message);
    }

    #[test]
    fn self_probe_of_shutdown_uses_abort_only_when_info_shows_no_shutdown() {
        let c = Captured::default()
            .text("ACL WHOAMI", "default")
            .reply("ACL DRYRUN app PING", Err("ERR User 'app' not found"))
            .reply(
                "COMMAND LIST FILTERBY ACLCAT dangerous",
                list(&["shutdown"]),
            )
            .reply("COMMAND LIST FILTERBY ACLCAT admin", list(&["shutdown"]))
            .reply("COMMAND INFO shutdown", Err("ERR not captured"))
            .text("INFO server", "redis_version:7.0.15\r\n")
            .reply("SHUTDOWN ABORT", Err("ERR No shutdown in progress."));
        let o = run(&DangerousCommands, c.clone());
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(o.message.contains("stop the server"));
        let busy = c.text(
            "INFO server",
            "redis_version:7.0.15\r\nshutdown_in_milliseconds:900\r\n",
        );
        assert_eq!(run(&DangerousCommands, busy).status, Status::Warn);
    }

    const HARDENED_LIST: &[&str] = &[
        "user admin on #ab ~* &* +@all",
        "user app on #cd ~* &* +@all -@dangerous +role",
        "user default off resetchannels -@all",
        "user exporter on #ef resetchannels -@all +info",
    ];

    fn users(list_items: &[&str]) -> Captured {
        let mut c = Captured::default()
            .text("ACL WHOAMI", "admin")
            .reply("ACL LIST", list(list_items))
            .config("acl-pubsub-default", "resetchannels");
        for u in ["admin", "app", "exporter", "ops", "guest"] {
            for argv in ADMIN_POWER.iter().chain(SCRIPTING) {
                let allowed = u == "admin"
                    || u == "ops"
                    || (u == "app"
                        && argv[0] != "CONFIG"
                        && argv[0] != "ACL"
                        && argv[0] != "MODULE");
                let reply = if allowed {
                    Ok(Value::Okay)
                } else {
                    Ok(Value::BulkString(DENIED.as_bytes().to_vec()))
                };
                c = c.reply(&format!("ACL DRYRUN {u} {}", argv.join(" ")), reply);
            }
        }
        c
    }

    #[test]
    fn least_privilege_passes_the_policy_and_fails_each_weakness() {
        let o = run(&LeastPrivilege, users(HARDENED_LIST));
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(
            !o.evidence[0].observed.contains("#ab"),
            "hashes leaked: {:?}",
            o.evidence
        );
        let mut second = HARDENED_LIST.to_vec();
        second.push("user ops on #12 ~* &* +@all");
        let o = run(&LeastPrivilege, users(&second));
        assert_eq!(
            (o.status, o.message.as_str()),
            (Status::Fail, "user `ops` holds admin power (CONFIG SET)")
        );
        let mut open = HARDENED_LIST.to_vec();
        open.push("user guest on nopass ~cache:* resetchannels -@all +get");
        let o = run(&LeastPrivilege, users(&open));
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("`guest` needs no password"));
        let channels = users(HARDENED_LIST).config("acl-pubsub-default", "allchannels");
        assert_eq!(run(&LeastPrivilege, channels).status, Status::Fail);
    }

    #[test]
    fn least_privilege_still_judges_users_where_config_is_blocked() {
        let blocked = "ERR unknown command 'CONFIG', with args beginning with: 'GET' ";
        let mut open = HARDENED_LIST.to_vec();
        open.push("user guest on nopass ~cache:* resetchannels -@all +get");
        let o = run(
            &LeastPrivilege,
            users(&open).reply("CONFIG GET acl-pubsub-default", Err(blocked)),
        );
        assert_eq!(o.status, Status::Fail, "{o:?}");
        let clean = users(HARDENED_LIST).reply("CONFIG GET acl-pubsub-default", Err(blocked));
        let o = run(&LeastPrivilege, clean);
        assert_eq!(o.status, Status::Skip);
        assert_eq!(o.withheld, Some(crate::check::Withheld::Provider));
    }

    #[test]
    fn least_privilege_is_a_permission_skip_for_the_app_user() {
        let c = Captured::default().text("ACL WHOAMI", "app").reply(
            "ACL LIST",
            Err("NOPERM User app has no permissions to run the 'acl|list' command"),
        );
        let o = run(&LeastPrivilege, c);
        assert_eq!(o.status, Status::Skip);
        assert_eq!(o.withheld, Some(crate::check::Withheld::Permission));
        assert!(o.message.contains("grant `+acl|list`"), "{}", o.message);
    }

    #[test]
    fn scripting_names_who_can_reach_it() {
        let o = run(&Scripting, users(HARDENED_LIST));
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert_eq!(o.message, "scripting reachable by `admin`, `app`");
        let mut extra = HARDENED_LIST.to_vec();
        extra.push("user ops on #12 ~* &* +@all");
        let o = run(&Scripting, users(&extra));
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("`ops` (EVAL"), "{}", o.message);
    }
}
