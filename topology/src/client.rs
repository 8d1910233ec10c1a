//! The one place that builds Redis connections.
//!
//! Every connection gets a connect timeout and a response timeout, so no
//! call into a dead, paused or firewalled server can hang a run. Errors are
//! classified into what a user can act on (wrong password, not a Redis
//! server, TLS mismatch, still loading) without ever echoing the password.

use crate::reply::{ErrorCode, ReplyError};
use crate::secret::Secret;
use crate::target::Target;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use std::time::Duration;
use thiserror::Error;

/// Bounds on every network wait.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// TCP connect plus TLS handshake plus AUTH.
    pub connect: Duration,
    /// Each command's reply.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            response: Duration::from_secs(5),
        }
    }
}

/// Why a connection could not be made or used, in terms a user can act on.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Nothing listens there, or the host is unreachable.
    #[error("failed to connect to {address}: {detail}")]
    Unreachable {
        /// `host:port`.
        address: String,
        /// The OS or client error.
        detail: String,
    },
    /// No answer within the connect or response timeout.
    #[error("failed to get an answer from {address} within {timeout:?} (wrong port, firewall, paused server, or TLS/plaintext mismatch)")]
    Timeout {
        /// `host:port`.
        address: String,
        /// The bound that expired.
        timeout: Duration,
    },
    /// WRONGPASS: unknown user or wrong password (Redis does not say which).
    #[error("failed to authenticate as `{user}` on {address}: wrong user or password")]
    Auth {
        /// `host:port`.
        address: String,
        /// The user name (never the password).
        user: String,
    },
    /// The peer does not speak RESP.
    #[error(
        "failed to talk to {address}: the server does not speak the Redis protocol ({detail})"
    )]
    NotRedis {
        /// `host:port`.
        address: String,
        /// What went wrong.
        detail: String,
    },
    /// TLS handshake failure (plaintext server, bad certificate, …).
    #[error("failed to establish TLS with {address}: {detail}")]
    Tls {
        /// `host:port`.
        address: String,
        /// What went wrong.
        detail: String,
    },
    /// The server answered -LOADING.
    #[error("failed to use {address}: the server is still loading its dataset; retry when loading is done")]
    Loading {
        /// `host:port`.
        address: String,
    },
    /// A TLS file could not be read.
    #[error("failed to read TLS file {path}: {source}")]
    TlsFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Anything else the client reported.
    #[error("failed to use {address}: {detail}")]
    Other {
        /// `host:port`.
        address: String,
        /// The error, with any password removed.
        detail: String,
    },
}

/// Makes sure rustls has a process-wide crypto provider. Two providers in one
/// binary (ring from one dependency, aws-lc-rs from another) make rustls
/// refuse to pick one; installing ring explicitly settles it.
pub fn install_crypto_provider() {
    // Err means one is already installed, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The redis-rs connection settings of a target: address, TLS, user,
/// password and database.
pub fn connection_info(target: &Target) -> Result<redis::ConnectionInfo, ClientError> {
    let mut redis_settings = RedisConnectionInfo::default()
        .set_db(target.db)
        .set_skip_set_lib_name();
    if let Some(user) = &target.user {
        redis_settings = redis_settings.set_username(user);
    }
    if let Some(password) = &target.password {
        redis_settings = redis_settings.set_password(password.expose());
    }
    let addr = if target.tls {
        ConnectionAddr::TcpTls {
            host: target.host.clone(),
            port: target.port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(target.host.clone(), target.port)
    };
    Ok(addr
        .into_connection_info()
        .map_err(|e| other(target, &e))?
        .set_redis_settings(redis_settings))
}

/// The CA and client certificate of a TLS target, when it names any (else
/// the system roots are used).
pub fn tls_certificates(target: &Target) -> Result<Option<redis::TlsCertificates>, ClientError> {
    let files = &target.tls_files;
    if !(target.tls && (files.ca.is_some() || files.cert.is_some())) {
        return Ok(None);
    }
    let read = |p: &std::path::PathBuf| {
        std::fs::read(p).map_err(|source| ClientError::TlsFile {
            path: p.display().to_string(),
            source,
        })
    };
    let root_cert = files.ca.as_ref().map(read).transpose()?;
    let client_tls = match (&files.cert, &files.key) {
        (Some(c), Some(k)) => Some(redis::ClientTlsConfig {
            client_cert: read(c)?,
            client_key: read(k)?,
        }),
        _ => None,
    };
    Ok(Some(redis::TlsCertificates {
        client_tls,
        root_cert,
    }))
}

/// Builds a redis-rs client for a target (no I/O yet).
pub fn client_for(target: &Target) -> Result<redis::Client, ClientError> {
    install_crypto_provider();
    let info = connection_info(target)?;
    match tls_certificates(target)? {
        Some(certs) => redis::Client::build_with_tls(info, certs)
            .map_err(|e| classify(target, &e, Duration::ZERO)),
        None => redis::Client::open(info).map_err(|e| other(target, &e)),
    }
}

/// Opens a multiplexed connection, authenticates, and proves the server
/// answers with a PING. Every step is bounded by `timeouts`, and every
/// reply by [`crate::capped::MAX_REPLY_BYTES`].
pub async fn connect(
    target: &Target,
    timeouts: &Timeouts,
) -> Result<MultiplexedConnection, ClientError> {
    install_crypto_provider();
    let info = connection_info(target)?;
    // The outer timeout also bounds what the inner ones do not cover (DNS,
    // the TLS handshake, AUTH and HELLO during setup).
    let mut conn = match tokio::time::timeout(
        timeouts.connect + timeouts.response,
        open(target, info.redis_settings(), timeouts),
    )
    .await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(timeout(target, timeouts.connect)),
    };
    let ping: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
    match ping {
        Ok(_) => Ok(conn),
        // An anonymous connection to an ACL-protected server is still a
        // working connection: the caller asked for one to test exactly that.
        Err(e) if is_noauth(&e) && target.password.is_none() => Ok(conn),
        Err(e) => Err(classify(target, &e, timeouts.response)),
    }
}

/// TCP (and TLS) under a reply-size cap, then redis-rs's setup (AUTH,
/// SELECT) on that stream. The connection's driver runs on the runtime
/// until every handle to the connection is dropped.
async fn open(
    target: &Target,
    redis_settings: &RedisConnectionInfo,
    timeouts: &Timeouts,
) -> Result<MultiplexedConnection, ClientError> {
    use crate::capped::{Capped, MAX_REPLY_BYTES};
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(timeouts.response));
    let tcp = match tokio::time::timeout(
        timeouts.connect,
        tokio::net::TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await
    {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(classify(target, &e.into(), timeouts.connect)),
        Err(_) => return Err(timeout(target, timeouts.connect)),
    };
    // Small request/reply exchanges: do not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    if target.tls {
        let tls_error = |e: crate::tls::TlsError| match e {
            crate::tls::TlsError::File { path, source } => ClientError::TlsFile { path, source },
            other => ClientError::Tls {
                address: target.address(),
                detail: one_line(&other.to_string()),
            },
        };
        let tls_config = crate::tls::client_config(&target.tls_files).map_err(tls_error)?;
        let stream = crate::tls::handshake(tcp, &target.host, tls_config)
            .await
            .map_err(tls_error)?;
        let (conn, driver) = MultiplexedConnection::new_with_config(
            redis_settings,
            Capped::new(stream, MAX_REPLY_BYTES),
            config,
        )
        .await
        .map_err(|e| classify(target, &e, timeouts.response))?;
        tokio::spawn(driver);
        Ok(conn)
    } else {
        let (conn, driver) = MultiplexedConnection::new_with_config(
            redis_settings,
            Capped::new(tcp, MAX_REPLY_BYTES),
            config,
        )
        .await
        .map_err(|e| classify(target, &e, timeouts.response))?;
        tokio::spawn(driver);
        Ok(conn)
    }
}

/// A connection with no credentials, to test what strangers can do.
pub async fn connect_anonymous(
    target: &Target,
    timeouts: &Timeouts,
) -> Result<MultiplexedConnection, ClientError> {
    connect(&target.anonymous(), timeouts).await
}

/// The server's error code in a client error, if the server sent one.
pub fn reply_code(e: &redis::RedisError) -> Option<ErrorCode> {
    ReplyError::from_redis(e).map(|r| r.code)
}

/// True for -NOAUTH replies (authentication required).
pub fn is_noauth(e: &redis::RedisError) -> bool {
    reply_code(e) == Some(ErrorCode::NoAuth)
}

/// True for -NOPERM replies (ACL denied the command).
pub fn is_noperm(e: &redis::RedisError) -> bool {
    reply_code(e) == Some(ErrorCode::NoPerm)
}

fn timeout(target: &Target, t: Duration) -> ClientError {
    ClientError::Timeout {
        address: target.address(),
        timeout: t,
    }
}

fn other(target: &Target, e: &redis::RedisError) -> ClientError {
    ClientError::Other {
        address: target.address(),
        detail: scrub(&e.to_string(), target.password.as_ref()),
    }
}

/// Maps a redis-rs error to what the user can do about it.
pub fn classify(target: &Target, e: &redis::RedisError, bound: Duration) -> ClientError {
    let address = target.address();
    let text = one_line(&scrub(&e.to_string(), target.password.as_ref()));
    let lower = text.to_lowercase();
    // A reply from the server is decided by its code alone.
    match reply_code(e) {
        Some(ErrorCode::WrongPass) => {
            return ClientError::Auth {
                address,
                user: target.user_name().to_owned(),
            }
        }
        Some(ErrorCode::Loading) => return ClientError::Loading { address },
        Some(_) => {
            return ClientError::Other {
                address,
                detail: text,
            }
        }
        None => {}
    }
    // Client-side errors carry no code: the connection layer's own text.
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || lower.contains("invalid username-password")
    {
        return ClientError::Auth {
            address,
            user: target.user_name().to_owned(),
        };
    }
    if e.is_timeout() || lower.contains("timed out") || lower.contains("timeout") {
        return timeout(target, bound);
    }
    if lower.contains("tls")
        || lower.contains("certificate")
        || lower.contains("handshake")
        || lower.contains("invalidcontenttype")
        || lower.contains("corrupt message")
    {
        return ClientError::Tls {
            address,
            detail: text,
        };
    }
    if e.is_connection_refusal()
        || lower.contains("refused")
        || lower.contains("unreachable")
        || lower.contains("no route")
        || lower.contains("failed to lookup")
        || lower.contains("name or service not known")
    {
        return ClientError::Unreachable {
            address,
            detail: text,
        };
    }
    if lower.contains("parse")
        || lower.contains("response was")
        || lower.contains("invalid")
        || lower.contains("unexpected")
        || lower.contains("protocol")
    {
        return ClientError::NotRedis {
            address,
            detail: text,
        };
    }
    if e.is_unrecoverable_error() || e.is_io_error() {
        // A peer that closes the connection after a RESP command (HTTP servers
        // do this on a malformed request) looks like a dropped connection.
        return ClientError::NotRedis {
            address,
            detail: text,
        };
    }
    ClientError::Other {
        address,
        detail: text,
    }
}

/// Collapses a multi-line client error into one line for one-line reports.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes a password from an error message, in case a client library ever
/// echoes it back.
pub fn scrub(text: &str, password: Option<&Secret>) -> String {
    match password {
        Some(p) if !p.expose().is_empty() => text.replace(p.expose(), "***"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::new("10.0.0.9", 6379, Some("app"), Some(Secret::new("hunter2")))
    }

    /// A server reply turned into the client error redis-rs returns.
    fn server(reply: &str) -> redis::RedisError {
        match redis::parse_redis_value(format!("-{reply}\r\n").as_bytes()) {
            Ok(redis::Value::ServerError(e)) => e.into(),
            other => panic!("not a server error: {other:?}"),
        }
    }

    fn io(kind: std::io::ErrorKind, text: &str) -> redis::RedisError {
        std::io::Error::new(kind, text.to_owned()).into()
    }

    #[test]
    fn classifies_server_replies_by_code() {
        let t = target();
        let b = Duration::from_secs(1);
        assert!(matches!(
            classify(&t, &server("WRONGPASS invalid username-password pair or user is disabled."), b),
            ClientError::Auth { user, .. } if user == "app"
        ));
        assert!(matches!(
            classify(
                &t,
                &server("LOADING Redis is loading the dataset in memory"),
                b
            ),
            ClientError::Loading { .. }
        ));
        // A code the classifier does not act on stays a server answer, even
        // when its text mentions words the client-side rules look for.
        assert!(matches!(
            classify(&t, &server("NOPERM this user has no permissions to run the 'tls' command"), b),
            ClientError::Other { detail, .. } if detail.starts_with("NoPerm") || detail.contains("NOPERM") || detail.contains("permissions")
        ));
        assert!(is_noperm(&server("NOPERM no")));
        assert!(is_noauth(&server("NOAUTH Authentication required.")));
        assert!(!is_noauth(&server("ERR mentions NOAUTH in text")));
    }

    #[test]
    fn classifies_client_side_failures() {
        let t = target();
        let b = Duration::from_secs(2);
        assert!(matches!(
            classify(
                &t,
                &io(
                    std::io::ErrorKind::ConnectionRefused,
                    "Connection refused (os error 111)"
                ),
                b
            ),
            ClientError::Unreachable { .. }
        ));
        assert!(matches!(
            classify(&t, &io(std::io::ErrorKind::TimedOut, "timed out"), b),
            ClientError::Timeout { timeout, .. } if timeout == b
        ));
        assert!(matches!(
            classify(
                &t,
                &io(
                    std::io::ErrorKind::InvalidData,
                    "received corrupt message of type InvalidContentType"
                ),
                b
            ),
            ClientError::Tls { .. }
        ));
    }

    #[test]
    fn never_echoes_the_password() {
        let t = target();
        let e = io(std::io::ErrorKind::Other, "auth failed for hunter2 somehow");
        let text = classify(&t, &e, Duration::ZERO).to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("***"), "{text}");
    }
}
