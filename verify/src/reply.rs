//! Reading replies: the text of a value, a server error as `CODE detail`
//! text, and its code, on top of the typed [`topology::ReplyError`].
//!
//! Contexts and probes both read replies; keeping the helpers here, beside
//! the typed error, lets neither depend on the other for them.

use redis::Value;
use topology::{ErrorCode, ReplyError};

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

/// Text of a client error without the "An error was signalled by the
/// server" wrapping.
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => e.to_string(),
    }
}

/// A command's result with server errors, whether the client surfaced them
/// as `Err` or as a `Value::ServerError`, turned into `CODE detail` text.
pub fn server_result(reply: redis::RedisResult<Value>) -> Result<Value, String> {
    match reply {
        Ok(Value::ServerError(e)) => Err(format!("{} {}", e.code(), e.details().unwrap_or(""))),
        Ok(v) => Ok(v),
        Err(e) => Err(error_text(&e)),
    }
}

/// The server's error code in an error text as [`server_result`] returns
/// it (`CODE detail`); callers match codes, never the wording.
pub fn code_of(error: &str) -> ErrorCode {
    ReplyError::parse(error).code
}

/// Whether an error says the command (or subcommand) does not exist on this
/// server: a provider removed or renamed it (ElastiCache answers CONFIG with
/// `ERR unknown command`), or the server predates it.
pub fn is_unknown_command(error: &str) -> bool {
    let reply = ReplyError::parse(error);
    let detail = reply.detail.to_ascii_lowercase();
    reply.code == ErrorCode::Err
        && (detail.starts_with("unknown command") || detail.starts_with("unknown subcommand"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_codes_and_removed_commands() {
        assert_eq!(
            code_of("NOPERM User app has no permissions"),
            ErrorCode::NoPerm
        );
        assert!(is_unknown_command(
            "ERR unknown command 'CONFIG', with args beginning with: 'GET' 'maxmemory' "
        ));
        assert!(is_unknown_command(
            "ERR unknown subcommand 'GETUSER'. Try ACL HELP."
        ));
        assert!(!is_unknown_command("ERR syntax error"));
        assert!(!is_unknown_command("NOPERM unknown command"));
    }

    #[test]
    fn server_errors_in_values_become_text() {
        let v = Value::Okay;
        assert_eq!(server_result(Ok(v)), Ok(Value::Okay));
    }
}
