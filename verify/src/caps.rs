//! Dangerous capabilities: what a user could do to a server, each a set of
//! commands and subcommands (`parent|sub`, as `COMMAND LIST` names them).
//!
//! `acl.dangerous-commands` takes the commands to judge from the server's
//! own table (`COMMAND LIST FILTERBY ACLCAT dangerous` and `… admin`), so an
//! alias (SLAVEOF next to REPLICAOF) or a second entry point (MODULE LOADEX
//! next to MODULE LOAD) is judged even when this table forgets it: a
//! command of the server's categories that is in no group here is judged as
//! [`UNCLASSIFIED`]. A unit test fails when a command of a captured server
//! table is in no group, so the table is kept complete.

use redis::Value;
use std::collections::BTreeMap;

use crate::reply::value_text;

/// One capability.
#[derive(Debug)]
pub struct Capability {
    /// Stable short id, used in evidence.
    pub id: &'static str,
    /// What a user holding it can do.
    pub title: &'static str,
    /// Whether holding it fails the check (observation only does not).
    pub damaging: bool,
    /// Its commands, lowercase, subcommands as `parent|sub`.
    pub commands: &'static [&'static str],
}

/// The capabilities, in report order. A command may belong to several.
pub static CAPABILITIES: &[Capability] = &[
    Capability {
        id: "wipe-data",
        title: "wipe data",
        damaging: true,
        commands: &["flushall", "flushdb", "swapdb"],
    },
    Capability {
        id: "stop-server",
        title: "stop the server",
        damaging: true,
        commands: &["shutdown"],
    },
    Capability {
        id: "replication-failover",
        title: "change replication or failover",
        damaging: true,
        commands: &[
            "replicaof",
            "slaveof",
            "failover",
            "cluster|failover",
            "cluster|replicate",
            "cluster|reset",
            "cluster|forget",
            "cluster|meet",
            "cluster|setslot",
            "cluster|addslots",
            "cluster|addslotsrange",
            "cluster|delslots",
            "cluster|delslotsrange",
            "cluster|flushslots",
            "cluster|bumpepoch",
            "cluster|set-config-epoch",
            "cluster|saveconfig",
        ],
    },
    Capability {
        id: "load-code",
        title: "load native code",
        damaging: true,
        commands: &["module|load", "module|loadex", "module|unload"],
    },
    Capability {
        id: "write-files",
        title: "write files on the server (CONFIG SET dir + SAVE)",
        damaging: true,
        commands: &[
            "config|set",
            "config|rewrite",
            "save",
            "bgsave",
            "bgrewriteaof",
            "acl|save",
        ],
    },
    Capability {
        id: "read-everything",
        title: "read every key past key ACLs, or copy keys elsewhere",
        damaging: true,
        commands: &[
            "monitor", "sync", "psync", "replconf", "migrate", "sort", "sort_ro",
        ],
    },
    Capability {
        id: "stall-server",
        title: "stall or debug the server",
        damaging: true,
        commands: &["keys", "debug", "pfdebug", "pfselftest"],
    },
    Capability {
        id: "kill-clients",
        title: "kill or pause clients",
        damaging: true,
        commands: &[
            "client|kill",
            "client|pause",
            "client|unpause",
            "client|no-evict",
            "client|unblock",
        ],
    },
    Capability {
        id: "rewrite-config-acl",
        title: "rewrite configuration or ACLs",
        damaging: true,
        commands: &[
            "config|set",
            "config|rewrite",
            "config|resetstat",
            "acl|setuser",
            "acl|deluser",
            "acl|load",
            "acl|save",
            "slowlog|reset",
            "latency|reset",
        ],
    },
    Capability {
        id: "read-secrets",
        title: "read password hashes and secrets (masterauth, ACL rules)",
        damaging: true,
        commands: &["config|get", "acl|list", "acl|getuser", "acl|log"],
    },
    Capability {
        id: "restore-payloads",
        title: "restore crafted serialized payloads",
        damaging: true,
        commands: &["restore", "restore-asking"],
    },
    Capability {
        id: "observe",
        title: "observe server state (not judged)",
        damaging: false,
        commands: &[
            "info",
            "role",
            "lastsave",
            "slowlog|get",
            "slowlog|len",
            "latency|latest",
            "latency|graph",
            "latency|doctor",
            "latency|histogram",
            "latency|history",
            "client|list",
            "module|list",
            "acl|users",
            "acl|dryrun",
            "cluster|slaves",
            "cluster|replicas",
            "cluster|count-failure-reports",
        ],
    },
];

/// Where a server command of the dangerous or admin categories that no
/// group names is judged: as damaging, until the table says otherwise.
pub static UNCLASSIFIED: Capability = Capability {
    id: "unclassified",
    title: "run a dangerous or admin command this verifier does not classify",
    damaging: true,
    commands: &[],
};

/// The capabilities `command` belongs to ([`UNCLASSIFIED`] when none).
pub fn groups_of(command: &str) -> Vec<&'static Capability> {
    let found: Vec<&'static Capability> = CAPABILITIES
        .iter()
        .filter(|c| c.commands.contains(&command))
        .collect();
    if found.is_empty() {
        vec![&UNCLASSIFIED]
    } else {
        found
    }
}

/// Every command the table names, for servers whose `COMMAND LIST` the
/// verifier may not read.
pub fn known_commands() -> Vec<String> {
    let mut all: Vec<String> = CAPABILITIES
        .iter()
        .flat_map(|c| c.commands.iter().map(|s| (*s).to_owned()))
        .collect();
    all.sort();
    all.dedup();
    all
}

/// What the server's `COMMAND INFO` says about a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandInfo {
    /// Redis arity: `n` exactly n words, `-n` at least n.
    pub arity: i64,
    /// Refused inside MULTI before the ACL is consulted (`no_multi`).
    pub no_multi: bool,
}

/// Reads a `COMMAND INFO` reply into `name → info`, subcommands included as
/// `parent|sub`.
pub fn parse_command_info(reply: &Value) -> BTreeMap<String, CommandInfo> {
    let mut out = BTreeMap::new();
    if let Value::Array(entries) = reply {
        for e in entries {
            add_entry(e, &mut out);
        }
    }
    out
}

fn add_entry(entry: &Value, out: &mut BTreeMap<String, CommandInfo>) {
    let Value::Array(fields) = entry else { return };
    let (Some(name), Some(Value::Int(arity))) = (fields.first(), fields.get(1)) else {
        return;
    };
    let no_multi = match fields.get(2) {
        Some(Value::Array(flags)) | Some(Value::Set(flags)) => flags
            .iter()
            .any(|f| value_text(f).eq_ignore_ascii_case("no_multi")),
        _ => false,
    };
    out.insert(
        value_text(name).to_ascii_lowercase(),
        CommandInfo {
            arity: *arity,
            no_multi,
        },
    );
    if let Some(Value::Array(subs)) = fields.get(9) {
        for s in subs {
            add_entry(s, out);
        }
    }
}

/// A key or argument name no real deployment uses.
const FILLER: &str = "__verify-probe-none";

/// Arguments for probing `command` without running it: harmless ones for
/// the commands where a value matters to a reader of the evidence, else
/// fillers to the command's arity (probes only ever reach the ACL engine or
/// a discarded transaction, which check arity).
pub fn probe_argv(command: &str, info: Option<CommandInfo>) -> Vec<String> {
    let fixed: Option<&[&str]> = match command {
        "config|set" => Some(&["CONFIG", "SET", "slowlog-max-len", "256"]),
        "module|load" => Some(&["MODULE", "LOAD", "/nonexistent/verify-probe.so"]),
        "keys" => Some(&["KEYS", "__verify-probe-none*"]),
        "migrate" => Some(&["MIGRATE", "127.0.0.1", "1", FILLER, "0", "1"]),
        "replicaof" => Some(&["REPLICAOF", "NO", "ONE"]),
        "slaveof" => Some(&["SLAVEOF", "NO", "ONE"]),
        "debug" => Some(&["DEBUG", "SLEEP", "0"]),
        _ => None,
    };
    if let Some(f) = fixed {
        return f.iter().map(|s| (*s).to_owned()).collect();
    }
    let mut argv: Vec<String> = command.split('|').map(str::to_ascii_uppercase).collect();
    let arity = info.map_or(1, |i| i.arity);
    let want = usize::try_from(arity.unsigned_abs()).unwrap_or(1);
    while argv.len() < want {
        argv.push(FILLER.to_owned());
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `COMMAND LIST FILTERBY ACLCAT dangerous` on Redis 7.0.15 (75 names).
    const DANGEROUS_7_0: &str = "acl|deluser acl|dryrun acl|getuser acl|list acl|load acl|log acl|save acl|setuser acl|users bgrewriteaof bgsave client|kill client|list client|no-evict client|pause client|unblock client|unpause cluster|addslots cluster|addslotsrange cluster|bumpepoch cluster|count-failure-reports cluster|delslots cluster|delslotsrange cluster|failover cluster|flushslots cluster|forget cluster|meet cluster|replicas cluster|replicate cluster|reset cluster|saveconfig cluster|set-config-epoch cluster|setslot cluster|slaves config|get config|resetstat config|rewrite config|set debug failover flushall flushdb info keys lastsave latency|doctor latency|graph latency|histogram latency|history latency|latest latency|reset migrate module|list module|load module|loadex module|unload monitor pfdebug pfselftest psync replconf replicaof restore restore-asking role save shutdown slaveof slowlog|get slowlog|len slowlog|reset sort sort_ro swapdb sync";

    #[test]
    fn every_dangerous_command_of_7_0_is_in_a_group() {
        let names: Vec<&str> = DANGEROUS_7_0.split_whitespace().collect();
        assert_eq!(names.len(), 75);
        let orphans: Vec<&&str> = names
            .iter()
            .filter(|n| groups_of(n)[0].id == UNCLASSIFIED.id)
            .collect();
        assert!(orphans.is_empty(), "in no capability group: {orphans:?}");
    }

    #[test]
    fn an_unknown_command_is_judged_as_damaging() {
        let g = groups_of("module|loadanother");
        assert_eq!(g[0].id, "unclassified");
        assert!(g[0].damaging);
    }

    #[test]
    fn probe_arguments_meet_the_arity() {
        let info = CommandInfo {
            arity: -4,
            no_multi: false,
        };
        assert_eq!(
            probe_argv(
                "acl|setuser",
                Some(CommandInfo {
                    arity: -3,
                    no_multi: false
                })
            )
            .len(),
            3
        );
        assert_eq!(probe_argv("client|kill", Some(info)).len(), 4);
        assert_eq!(
            probe_argv(
                "flushall",
                Some(CommandInfo {
                    arity: -1,
                    no_multi: false
                })
            ),
            ["FLUSHALL"]
        );
        assert_eq!(probe_argv("slaveof", None), ["SLAVEOF", "NO", "ONE"]);
    }

    #[test]
    fn reads_command_info_with_subcommands_and_no_multi() {
        let s = |t: &str| Value::BulkString(t.as_bytes().to_vec());
        let sub = Value::Array(vec![
            s("config|set"),
            Value::Int(-4),
            Value::Array(vec![s("admin")]),
        ]);
        let config = Value::Array(vec![
            s("config"),
            Value::Int(-2),
            Value::Array(vec![]),
            Value::Int(0),
            Value::Int(0),
            Value::Int(0),
            Value::Array(vec![]),
            Value::Array(vec![]),
            Value::Array(vec![]),
            Value::Array(vec![sub]),
        ]);
        let shutdown = Value::Array(vec![
            s("shutdown"),
            Value::Int(-1),
            Value::Array(vec![s("admin"), s("no_multi")]),
        ]);
        let t = parse_command_info(&Value::Array(vec![config, shutdown]));
        assert_eq!(t["config|set"].arity, -4);
        assert!(t["shutdown"].no_multi);
        assert!(!t["config"].no_multi);
    }
}
