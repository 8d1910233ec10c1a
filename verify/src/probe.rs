//! Non-executing permission probes.
//!
//! The verifier must prove that a user cannot run FLUSHALL without ever
//! running FLUSHALL. Two ways never execute the command:
//! - `ACL DRYRUN <user> <command…>` (Redis 7.0+) asks the ACL engine only;
//! - `MULTI`, `<command…>`, `DISCARD`: Redis checks permissions when the
//!   command is queued, and DISCARD drops the queue unexecuted. The probe
//!   sends the command only after MULTI answered OK, so a proxy or server
//!   without transactions never receives it bare.

use crate::reply::{server_result, value_text};
use redis::aio::MultiplexedConnection;
use redis::Value;

/// Whether a user may run a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permission {
    /// The command would run.
    Allowed(String),
    /// The ACL or a server setting refuses it; the text says which.
    Denied(String),
    /// The probe could not tell.
    Unknown(String),
}

impl Permission {
    /// Reads the reply a command got while queued in MULTI.
    pub fn from_queue_reply(reply: Result<String, String>) -> Self {
        match reply {
            Ok(s) if s.eq_ignore_ascii_case("QUEUED") => Permission::Allowed("QUEUED".into()),
            Ok(other) => Permission::Unknown(format!("unexpected reply `{other}`")),
            Err(e) => {
                let reply = topology::ReplyError::parse(&e);
                let detail = reply.detail.to_lowercase();
                if reply.code == topology::ErrorCode::NoPerm {
                    Permission::Denied(e)
                } else if reply.code == topology::ErrorCode::Err
                    && (detail.contains("command not allowed. if the enable-")
                        || detail.starts_with("unknown command"))
                {
                    // Protected by enable-debug-command / enable-module-command,
                    // or removed: nobody can run it.
                    Permission::Denied(e)
                } else {
                    Permission::Unknown(e)
                }
            }
        }
    }

    /// Reads an `ACL DRYRUN` reply: `OK` or a denial text.
    pub fn from_dryrun_reply(reply: Result<String, String>) -> Self {
        match reply {
            Ok(s) if s == "OK" => Permission::Allowed("ACL DRYRUN: OK".into()),
            Ok(s) => Permission::Denied(s),
            Err(e) => Permission::Unknown(e),
        }
    }
}

/// Queues `argv` inside MULTI on `conn` and discards the transaction.
pub async fn queue_and_discard(conn: &mut MultiplexedConnection, argv: &[&str]) -> Permission {
    let send = |argv: Vec<String>| {
        let mut c = conn.clone();
        async move {
            let mut cmd = redis::cmd(&argv[0]);
            for a in &argv[1..] {
                cmd.arg(a);
            }
            server_result(cmd.query_async::<Value>(&mut c).await).map(|v| value_text(&v))
        }
    };
    match send(vec!["MULTI".into()]).await {
        Ok(s) if s == "OK" => {}
        Ok(s) => return Permission::Unknown(format!("MULTI answered `{s}`; probe not sent")),
        Err(e) => return Permission::Unknown(format!("MULTI refused ({e}); probe not sent")),
    }
    let reply = send(argv.iter().map(|s| (*s).to_owned()).collect()).await;
    // If DISCARD fails the connection is dropped right after, and Redis
    // discards an unfinished transaction when its client goes away.
    let _ = send(vec!["DISCARD".into()]).await;
    Permission::from_queue_reply(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_queue_replies() {
        assert!(matches!(
            Permission::from_queue_reply(Ok("QUEUED".into())),
            Permission::Allowed(_)
        ));
        assert!(matches!(
            Permission::from_queue_reply(Err(
                "NOPERM User app has no permissions to run the 'flushall' command".into()
            )),
            Permission::Denied(_)
        ));
        assert!(matches!(
            Permission::from_queue_reply(Err("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.".into())),
            Permission::Denied(_)
        ));
        assert!(matches!(
            Permission::from_queue_reply(
                Err("ERR Command not allowed inside a transaction".into())
            ),
            Permission::Unknown(_)
        ));
    }

    #[test]
    fn reads_dryrun_replies() {
        assert!(matches!(
            Permission::from_dryrun_reply(Ok("OK".into())),
            Permission::Allowed(_)
        ));
        assert!(matches!(
            Permission::from_dryrun_reply(Ok(
                "User app has no permissions to run the 'keys' command".into()
            )),
            Permission::Denied(_)
        ));
        assert!(matches!(
            Permission::from_dryrun_reply(Err("ERR User 'nobody' not found".into())),
            Permission::Unknown(_)
        ));
    }
}
