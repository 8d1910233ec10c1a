//! What a check runs against: the target, a connection, the settings, and
//! cached replies so that each command is sent once per run.
//!
//! A context is either live (a real server) or captured (replies recorded
//! from a server, for unit tests of check logic without a server).

use crate::config::Settings;
use crate::info::Info;
use crate::probe::Permission;
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
                match cmd.query_async::<Value>(&mut conn).await {
                    Ok(Value::ServerError(e)) => {
                        Err(format!("{} {}", e.code(), e.details().unwrap_or("")))
                    }
                    Ok(v) => Ok(v),
                    Err(e) => Err(error_text(&e)),
                }
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
                match redis::cmd("PING").query_async::<Value>(&mut conn).await {
                    Ok(Value::ServerError(e)) => {
                        Err(format!("{} {}", e.code(), e.details().unwrap_or("")))
                    }
                    Ok(v) => Ok(value_text(&v)),
                    Err(e) => Err(error_text(&e)),
                }
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

/// One prefix per run: `__verify:<random hex>:`.
fn run_prefix() -> String {
    use rand::Rng;
    format!("__verify:{:016x}:", rand::rng().random::<u64>())
}

/// Text of a simple reply value.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".to_owned(),
        Value::Int(i) => i.to_string(),
        Value::Nil => "(nil)".to_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Array(items) | Value::Set(items) => {
            items.iter().map(value_text).collect::<Vec<_>>().join(" ")
        }
        Value::ServerError(e) => format!("{} {}", e.code(), e.details().unwrap_or("")),
        other => format!("{other:?}"),
    }
}

/// The server's error code in an error text as [`Ctx::cmd`] returns it
/// (`CODE detail`); callers match codes, never the wording.
pub fn code_of(error: &str) -> topology::ErrorCode {
    topology::ReplyError::parse(error).code
}

/// Text of a client error without the "An error was signalled by the
/// server" wrapping.
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

/// Reads a [`Ctx::cmd`] error: refused by the ACL (`NOPERM`) or by a
/// provider that removed the command or subcommand (ElastiCache answers
/// CONFIG with `ERR unknown command`; `SENTINEL …` and `CLUSTER …` answer
/// `ERR unknown subcommand`) is "not permitted", anything else a failure.
pub(crate) fn classify(e: String) -> Unavailable {
    let reply = topology::ReplyError::parse(&e);
    let removed = reply.code == topology::ErrorCode::Err && {
        let d = reply.detail.to_ascii_lowercase();
        d.starts_with("unknown command") || d.starts_with("unknown subcommand")
    };
    if reply.code == topology::ErrorCode::NoPerm || removed {
        Unavailable::Denied(e)
    } else {
        Unavailable::Failed(e)
    }
}
