//! Server error replies, typed once.
//!
//! Redis answers a refused command with `-CODE detail`. Callers decide on the
//! code (`NOPERM`, `READONLY`, `MOVED`, …), never on a prefix of the text,
//! because the detail wording changes between versions. [`ReplyError`] is
//! built from a `redis::RedisError` or from raw reply text in one place.

use std::fmt;

/// The codes this toolkit acts on; anything else is kept as [`ErrorCode::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The ACL denies the command, key or channel.
    NoPerm,
    /// Authentication is required.
    NoAuth,
    /// Wrong user or password.
    WrongPass,
    /// Cluster redirect: the slot lives elsewhere.
    Moved,
    /// Cluster redirect during slot migration.
    Ask,
    /// A write reached a replica.
    ReadOnly,
    /// A replica with `replica-serve-stale-data no` lost its primary.
    MasterDown,
    /// `min-replicas-to-write` is not met.
    NoReplicas,
    /// The cluster cannot serve the slot (or the whole keyspace).
    ClusterDown,
    /// Keys of one command hash to different slots.
    CrossSlot,
    /// The dataset is still being loaded.
    Loading,
    /// A script or function is running too long.
    Busy,
    /// Background save failed and writes are refused.
    Misconf,
    /// `maxmemory` reached under `noeviction`.
    Oom,
    /// A transaction was aborted.
    ExecAbort,
    /// The generic `ERR` code.
    Err,
    /// Any other code, as the server sent it.
    Other(String),
}

impl ErrorCode {
    /// Reads a code as the server spells it.
    pub fn parse(code: &str) -> Self {
        match code {
            "NOPERM" => Self::NoPerm,
            "NOAUTH" => Self::NoAuth,
            "WRONGPASS" => Self::WrongPass,
            "MOVED" => Self::Moved,
            "ASK" => Self::Ask,
            "READONLY" => Self::ReadOnly,
            "MASTERDOWN" => Self::MasterDown,
            "NOREPLICAS" => Self::NoReplicas,
            "CLUSTERDOWN" => Self::ClusterDown,
            "CROSSSLOT" => Self::CrossSlot,
            "LOADING" => Self::Loading,
            "BUSY" => Self::Busy,
            "MISCONF" => Self::Misconf,
            "OOM" => Self::Oom,
            "EXECABORT" => Self::ExecAbort,
            "ERR" => Self::Err,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as the server spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::NoPerm => "NOPERM",
            Self::NoAuth => "NOAUTH",
            Self::WrongPass => "WRONGPASS",
            Self::Moved => "MOVED",
            Self::Ask => "ASK",
            Self::ReadOnly => "READONLY",
            Self::MasterDown => "MASTERDOWN",
            Self::NoReplicas => "NOREPLICAS",
            Self::ClusterDown => "CLUSTERDOWN",
            Self::CrossSlot => "CROSSSLOT",
            Self::Loading => "LOADING",
            Self::Busy => "BUSY",
            Self::Misconf => "MISCONF",
            Self::Oom => "OOM",
            Self::ExecAbort => "EXECABORT",
            Self::Err => "ERR",
            Self::Other(s) => s,
        }
    }

    /// A definite refusal: the server did not apply the write and says so,
    /// so a client may count it as failed (not unknown).
    pub fn is_definite_refusal(&self) -> bool {
        matches!(
            self,
            Self::ReadOnly
                | Self::NoReplicas
                | Self::MasterDown
                | Self::ClusterDown
                | Self::Loading
                | Self::Misconf
                | Self::Oom
                | Self::NoPerm
                | Self::NoAuth
                | Self::CrossSlot
                | Self::ExecAbort
        )
    }

    /// The node answering is not (or no longer) the primary for this write:
    /// a topology-aware connection should find the primary again.
    pub fn means_wrong_node(&self) -> bool {
        matches!(self, Self::ReadOnly | Self::MasterDown)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `-CODE detail` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyError {
    /// The code.
    pub code: ErrorCode,
    /// The rest of the line.
    pub detail: String,
}

impl ReplyError {
    /// Parses `CODE detail` text as Redis sends it (without the `-`).
    pub fn parse(text: &str) -> Self {
        let text = text.trim().trim_start_matches('-');
        let (code, detail) = text.split_once(' ').unwrap_or((text, ""));
        // Codes are upper-case words; anything else is a generic error text.
        if !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase()) {
            Self {
                code: ErrorCode::parse(code),
                detail: detail.to_owned(),
            }
        } else {
            Self {
                code: ErrorCode::Err,
                detail: text.to_owned(),
            }
        }
    }

    /// The server error inside a client error, if the server sent one.
    pub fn from_redis(e: &redis::RedisError) -> Option<Self> {
        let code = e.code()?;
        Some(Self {
            code: ErrorCode::parse(code),
            detail: e.detail().unwrap_or("").to_owned(),
        })
    }

    /// The error carried by a `Value::ServerError`.
    pub fn from_server_error(e: &redis::ServerError) -> Self {
        Self {
            code: ErrorCode::parse(e.code()),
            detail: e.details().unwrap_or("").to_owned(),
        }
    }
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            f.write_str(self.code.as_str())
        } else {
            write!(f, "{} {}", self.code, self.detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_and_details() {
        let e =
            ReplyError::parse("-NOPERM User app has no permissions to run the 'flushall' command");
        assert_eq!(e.code, ErrorCode::NoPerm);
        assert!(e.detail.starts_with("User app"));
        let e = ReplyError::parse("MOVED 3999 127.0.0.1:6381");
        assert_eq!(
            (e.code, e.detail.as_str()),
            (ErrorCode::Moved, "3999 127.0.0.1:6381")
        );
        assert_eq!(
            ReplyError::parse("READONLY You can't write against a read only replica.").code,
            ErrorCode::ReadOnly
        );
        assert_eq!(
            ReplyError::parse("WEIRDCODE x").code,
            ErrorCode::Other("WEIRDCODE".into())
        );
        // Text that is not a code stays whole under ERR.
        let e = ReplyError::parse("no captured reply");
        assert_eq!(
            (e.code, e.detail.as_str()),
            (ErrorCode::Err, "no captured reply")
        );
    }

    #[test]
    fn classifies_refusals() {
        assert!(ErrorCode::NoReplicas.is_definite_refusal());
        assert!(ErrorCode::ClusterDown.is_definite_refusal());
        assert!(!ErrorCode::Moved.is_definite_refusal());
        assert!(ErrorCode::ReadOnly.means_wrong_node());
        assert!(!ErrorCode::NoPerm.means_wrong_node());
        assert_eq!(ErrorCode::parse("BUSY").as_str(), "BUSY");
    }
}
