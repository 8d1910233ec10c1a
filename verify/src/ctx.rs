//! What a check runs against: the target, a connection, the settings, and
//! cached replies so that each command is sent once per run.
//!
//! A context is either live (a real server) or captured (replies recorded
//! from a server, for unit tests of check logic without a server).

use crate::config::Settings;
use crate::info::Info;
use crate::model::{Outcome, Withheld};
use crate::probe::Permission;
use crate::provider::Provider;
pub use crate::reply::{code_of, error_text, value_text};
use redis::aio::MultiplexedConnection;
use redis::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use topology::{Target, Timeouts};

/// Why a command's reply is not available.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// The ACL or the provider (e.g. ElastiCache) does not allow it.
    Denied(String),
    /// It failed for another reason.
    Failed(String),
}

impl Unavailable {
    /// Human text.
    pub fn reason(&self) -> &str {
        match self {
            Unavailable::Denied(s) | Unavailable::Failed(s) => s,
        }
    }
}

/// Replies recorded from a server, keyed by the command line.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    replies: HashMap<String, Result<Value, String>>,
}

impl Captured {
    /// Records a reply for `command` (arguments joined by single spaces).
    /// Special keys: `ANON PING` (a connection without credentials) and
    /// `QUEUE <command>` (the reply while queued in MULTI).
    pub fn reply(mut self, command: &str, reply: Result<Value, &str>) -> Self {
        self.replies
            .insert(command.to_uppercase(), reply.map_err(str::to_owned));
        self
    }

    /// Records a bulk-string reply.
    pub fn text(self, command: &str, text: &str) -> Self {
        self.reply(command, Ok(Value::BulkString(text.as_bytes().to_vec())))
    }

    /// Records a `CONFIG GET` reply for one parameter.
    pub fn config(self, name: &str, value: &str) -> Self {
        let v = Value::Array(vec![
            Value::BulkString(name.as_bytes().to_vec()),
            Value::BulkString(value.as_bytes().to_vec()),
        ]);
        self.reply(&format!("CONFIG GET {name}"), Ok(v))
    }

    fn get(&self, argv: &[String]) -> Result<Value, String> {
        let key = argv.join(" ").to_uppercase();
        self.replies
            .get(&key)
            .cloned()
            .unwrap_or_else(|| Err(format!("ERR no captured reply for `{key}`")))
    }
}

enum Source {
    Live {
        conn: MultiplexedConnection,
        timeouts: Timeouts,
    },
    Captured(Captured),
}

/// Everything a check may use.
pub struct Ctx {
    /// The target (password redacted when printed).
    pub target: Target,
    /// Validated settings.
    pub settings: Settings,
    /// Prefix of every key this run writes (removed before the run ends).
    pub key_prefix: String,
    source: Source,
    cache: Mutex<HashMap<String, Result<Value, String>>>,
}

impl Ctx {
    /// A live context on an open connection.
    pub fn live(
        target: Target,
        conn: MultiplexedConnection,
        timeouts: Timeouts,
        settings: Settings,
    ) -> Self {
        Self {
            target,
            settings,
            key_prefix: run_prefix(),
            source: Source::Live { conn, timeouts },
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A context over captured replies.
    pub fn captured(target: Target, captured: Captured, settings: Settings) -> Self {
        Self {
            target,
            settings,
            key_prefix: "__verify:test:".to_owned(),
            source: Source::Captured(captured),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Sends one command (not cached). The reply's server errors come back as
    /// `Err(text)`.
    pub async fn cmd(&self, argv: &[&str]) -> Result<Value, String> {
        let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
        match &self.source {
            Source::Captured(c) => c.get(&argv),
            Source::Live { conn, .. } => {
                let mut conn = conn.clone();
                let mut cmd = redis::cmd(&argv[0]);
                for a in &argv[1..] {
                    cmd.arg(a);
                }
                crate::reply::server_result(cmd.query_async::<Value>(&mut conn).await)
            }
        }
    }

    /// Sends a command once per run and caches its reply.
    pub async fn cached(&self, argv: &[&str]) -> Result<Value, String> {
        let key = argv.join(" ");
        if let Some(hit) = self.lock_cache().get(&key) {
            return hit.clone();
        }
        let reply = self.cmd(argv).await;
        self.lock_cache().insert(key, reply.clone());
        reply
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Result<Value, String>>> {
        // A poisoned cache only means a check panicked; its data is still valid.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `INFO <section>`, parsed. INFO is allowed on managed services.
    pub async fn info(&self, section: &str) -> Result<Info, Unavailable> {
        match self.cached(&["INFO", section]).await {
            Ok(v) => Ok(Info::parse(&value_text(&v))),
            Err(e) => Err(classify(e)),
        }
    }

    /// `CONFIG GET <name>`: `Ok(None)` when the server has no such parameter,
    /// `Err(Denied)` where CONFIG is not permitted (ACL, ElastiCache).
    pub async fn config_get(&self, name: &str) -> Result<Option<String>, Unavailable> {
        match self.cached(&["CONFIG", "GET", name]).await {
            Ok(Value::Array(items)) | Ok(Value::Set(items)) => {
                Ok(items.chunks(2).find_map(|pair| match pair {
                    [k, v] if value_text(k).eq_ignore_ascii_case(name) => Some(value_text(v)),
                    _ => None,
                }))
            }
            Ok(Value::Map(pairs)) => Ok(pairs
                .iter()
                .find(|(k, _)| value_text(k).eq_ignore_ascii_case(name))
                .map(|(_, v)| value_text(v))),
            Ok(other) => Err(Unavailable::Failed(format!("unexpected reply {other:?}"))),
            Err(e) => Err(classify(e)),
        }
    }

    /// The user the verifier logged in as, from its own target (no command
    /// needed: `ACL WHOAMI` itself may be denied).
    pub fn login_user(&self) -> &str {
        self.target.user.as_deref().unwrap_or("default")
    }

    /// The managed service this node runs on, when its `INFO server` says.
    pub async fn provider(&self) -> Option<Provider> {
        self.info("server")
            .await
            .ok()
            .as_ref()
            .and_then(Provider::detect)
    }

    /// The outcome of a check whose evidence `command` was not available:
    /// a skip saying who withheld it and what would allow it, or an error
    /// when the reason is not permissions.
    pub async fn withheld(&self, command: &str, why: &Unavailable) -> Outcome {
        let Unavailable::Denied(reply) = why else {
            return Outcome::error(format!("{command} failed: {}", why.reason()));
        };
        if code_of(reply) == topology::ErrorCode::NoPerm {
            let user = self.login_user();
            let rule = acl_rule_for(command);
            let allow = if user == "admin" {
                format!("grant `{rule}`")
            } else {
                format!("run as `admin`, or grant `{rule}`")
            };
            return Outcome::withheld(
                Withheld::Permission,
                format!("{command} denied to `{user}`: {allow}"),
            );
        }
        match self.provider().await {
            Some(p) => Outcome::withheld(
                Withheld::Provider,
                format!(
                    "{command} blocked by {}: its equivalent control is {}",
                    p.name(),
                    p.control(command)
                ),
            ),
            None => Outcome::withheld(
                Withheld::Provider,
                format!(
                    "{command} is not available here (removed or renamed by the server's operator or provider: {})",
                    topology::client::one_line(reply)
                ),
            ),
        }
    }

    /// The user the verifier is authenticated as (`ACL WHOAMI`).
    pub async fn whoami(&self) -> Result<String, Unavailable> {
        self.cached(&["ACL", "WHOAMI"])
            .await
            .map(|v| value_text(&v))
            .map_err(classify)
    }

    /// PING on a fresh connection without credentials: what a stranger on
    /// the network gets.
    pub async fn anonymous_ping(&self) -> Result<String, String> {
        match &self.source {
            Source::Captured(c) => c
                .get(&["ANON".to_owned(), "PING".to_owned()])
                .map(|v| value_text(&v)),
            Source::Live { timeouts, .. } => {
                let mut conn = topology::connect_anonymous(&self.target, timeouts)
                    .await
                    .map_err(|e| e.to_string())?;
                crate::reply::server_result(
                    redis::cmd("PING").query_async::<Value>(&mut conn).await,
                )
                .map(|v| value_text(&v))
            }
        }
    }

    /// Whether the connected user may run `argv`, found by queueing it
    /// inside MULTI and discarding: Redis checks ACLs (and DEBUG/MODULE
    /// protection) when a command is queued, and a discarded transaction
    /// executes nothing. A dedicated connection keeps other traffic out of
    /// the transaction.
    pub async fn queue_probe(&self, argv: &[&str]) -> Permission {
        match &self.source {
            Source::Captured(c) => {
                let mut key = vec!["QUEUE".to_owned()];
                key.extend(argv.iter().map(|s| (*s).to_owned()));
                Permission::from_queue_reply(c.get(&key).map(|v| value_text(&v)))
            }
            Source::Live { timeouts, .. } => {
                let mut conn = match topology::connect(&self.target, timeouts).await {
                    Ok(c) => c,
                    Err(e) => return Permission::Unknown(format!("no probe connection: {e}")),
                };
                crate::probe::queue_and_discard(&mut conn, argv).await
            }
        }
    }
}

/// The ACL rule that would allow `command`: `+info`, `+config|get`, …
/// (container commands are granted per subcommand).
pub fn acl_rule_for(command: &str) -> String {
    const CONTAINERS: &[&str] = &[
        "acl", "client", "cluster", "command", "config", "debug", "function", "latency", "memory",
        "module", "object", "script", "slowlog", "xinfo",
    ];
    let mut words = command.split_whitespace().map(str::to_ascii_lowercase);
    let first = words.next().unwrap_or_default();
    match words.next() {
        Some(sub) if CONTAINERS.contains(&first.as_str()) => format!("+{first}|{sub}"),
        _ => format!("+{first}"),
    }
}

/// One prefix per run: `__verify:<random hex>:`.
fn run_prefix() -> String {
    use rand::Rng;
    format!("__verify:{:016x}:", rand::rng().random::<u64>())
}

/// Reads a [`Ctx::cmd`] error: refused by the ACL (`NOPERM`) or by a
/// provider that removed the command or subcommand (ElastiCache answers
/// CONFIG with `ERR unknown command`; `SENTINEL …` and `CLUSTER …` answer
/// `ERR unknown subcommand`) is "not permitted", anything else a failure.
pub(crate) fn classify(e: String) -> Unavailable {
    if code_of(&e) == topology::ErrorCode::NoPerm || crate::reply::is_unknown_command(&e) {
        Unavailable::Denied(e)
    } else {
        Unavailable::Failed(e)
    }
}
