//! How to reach a deployment that already exists.
//!
//! A [`Target`] is parsed from a `redis://` or `rediss://` URL plus options.
//! The password may come from `--password-file` or `REDIS_PASSWORD`, so it
//! never has to appear in argv (where `ps` shows it to every local user); a
//! password embedded in the URL is accepted but redacted everywhere.

use crate::secret::Secret;
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Errors while turning user input into a [`Target`].
#[derive(Debug, Error)]
pub enum TargetError {
    /// The URL does not parse at all.
    #[error("failed to parse target URL: {0}")]
    Malformed(String),
    /// A scheme the toolkit does not know.
    #[error("unsupported URL scheme `{0}`: use redis://, rediss://, redis+sentinel://host:port,…/<master> or redis+cluster://host:port,…")]
    UnknownScheme(String),
    /// No host in the URL.
    #[error("target URL has no host")]
    MissingHost,
    /// The password file could not be read.
    #[error("failed to read password file {path}: {source}")]
    PasswordFile {
        /// The file named by the user.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// The password file exists but is empty.
    #[error("password file {0} is empty")]
    EmptyPasswordFile(PathBuf),
    /// TLS files were given for a plaintext `redis://` target.
    #[error("TLS files were given but the target uses redis://; use rediss:// for TLS")]
    TlsFilesWithoutTls,
    /// A client certificate without its key, or the reverse.
    #[error("a client certificate needs both --tls-cert and --tls-key")]
    IncompleteClientCert,
    /// `--tls` names the launched TLS profile; a target says TLS by its
    /// scheme.
    #[error("--tls launches a TLS deployment; for an existing one use a rediss:// --target (with --tls-ca, --tls-cert, --tls-key as needed)")]
    TlsLaunchFlagWithTarget,
}

/// Certificate files for TLS targets (PEM).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA bundle that signs the server certificate; the system roots when absent.
    pub ca: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    pub cert: Option<PathBuf>,
    /// Key of the client certificate.
    pub key: Option<PathBuf>,
}

/// Options that complete a URL into a [`Target`].
#[derive(Clone, Debug, Default)]
pub struct TargetOptions {
    /// User name; overrides the one in the URL.
    pub user: Option<String>,
    /// File holding the password (first line, trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// Whether to read `REDIS_PASSWORD` when no file is given.
    pub password_from_env: bool,
    /// TLS files.
    pub tls: TlsFiles,
    /// User for Sentinels, when it differs from the data nodes'.
    pub sentinel_user: Option<String>,
    /// File holding the Sentinel password; else `REDIS_SENTINEL_PASSWORD`
    /// when `password_from_env`, else the data nodes' password.
    pub sentinel_password_file: Option<PathBuf>,
    /// `NAME=HOST` rules mapping announced host names to reachable hosts.
    pub map_hosts: Vec<String>,
}

/// A Redis endpoint and the credentials to use on it.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether to speak TLS (`rediss://`).
    pub tls: bool,
    /// Certificate files for TLS.
    pub tls_files: TlsFiles,
    /// ACL user; `None` means the `default` user.
    pub user: Option<String>,
    /// Password; never printed.
    pub password: Option<Secret>,
    /// Logical database.
    pub db: i64,
}

impl Target {
    /// A plaintext target with credentials, as the launchers build them.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: Option<&str>,
        password: Option<Secret>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            tls: false,
            tls_files: TlsFiles::default(),
            user: user.map(str::to_owned),
            password,
            db: 0,
        }
    }

    /// Parses a URL and applies the options, reading `REDIS_PASSWORD` from
    /// the process environment when the options allow it.
    pub fn parse(input: &str, options: &TargetOptions) -> Result<Self, TargetError> {
        Self::parse_with(input, options, &|k| std::env::var(k).ok())
    }

    /// Parses a URL and applies the options; the environment is read through
    /// `lookup`.
    pub fn parse_with(
        input: &str,
        options: &TargetOptions,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, TargetError> {
        let url =
            url::Url::parse(input.trim()).map_err(|e| TargetError::Malformed(e.to_string()))?;
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
            other => return Err(TargetError::UnknownScheme(other.to_owned())),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(TargetError::MissingHost)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port().unwrap_or(6379);
        let db = match url.path().trim_start_matches('/') {
            "" => 0,
            s => s
                .parse::<i64>()
                .map_err(|_| TargetError::Malformed(format!("database `{s}` is not a number")))?,
        };
        let url_user = Some(percent_decode(url.username())).filter(|u| !u.is_empty());
        let url_password = url.password().map(|p| Secret::new(percent_decode(p)));

        let password = match &options.password_file {
            Some(path) => Some(read_password_file(path)?),
            None => url_password.or_else(|| {
                options
                    .password_from_env
                    .then(|| lookup("REDIS_PASSWORD"))
                    .flatten()
                    .filter(|p| !p.is_empty())
                    .map(Secret::new)
            }),
        };
        if !tls && options.tls != TlsFiles::default() {
            return Err(TargetError::TlsFilesWithoutTls);
        }
        if options.tls.cert.is_some() != options.tls.key.is_some() {
            return Err(TargetError::IncompleteClientCert);
        }
        Ok(Self {
            host,
            port,
            tls,
            tls_files: options.tls.clone(),
            user: options.user.clone().or(url_user),
            password,
            db,
        })
    }

    /// The same endpoint with other credentials.
    pub fn with_credentials(&self, user: Option<&str>, password: Option<Secret>) -> Self {
        Self {
            user: user.map(str::to_owned),
            password,
            ..self.clone()
        }
    }

    /// The same endpoint with no credentials at all.
    pub fn anonymous(&self) -> Self {
        self.with_credentials(None, None)
    }

    /// The user name this target authenticates as.
    pub fn user_name(&self) -> &str {
        self.user.as_deref().unwrap_or("default")
    }

    /// Whether the target is on this machine (localhost or a loopback
    /// address), e.g. to leave a core to a server that shares the machine.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// `host:port`, bracketing IPv6 literals.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL with the password replaced, safe for reports and logs.
    pub fn redacted(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let creds = match (&self.user, &self.password) {
            (Some(u), Some(_)) => format!("{u}:***@"),
            (Some(u), None) => format!("{u}@"),
            (None, Some(_)) => ":***@".to_owned(),
            (None, None) => String::new(),
        };
        let db = if self.db == 0 {
            String::new()
        } else {
            format!("/{}", self.db)
        };
        format!("{scheme}://{creds}{}{db}", self.address())
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

pub(crate) fn read_password_file(path: &Path) -> Result<Secret, TargetError> {
    let text = std::fs::read_to_string(path).map_err(|source| TargetError::PasswordFile {
        path: path.to_owned(),
        source,
    })?;
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Err(TargetError::EmptyPasswordFile(path.to_owned()));
    }
    Ok(Secret::new(first))
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Target, TargetError> {
        Target::parse(url, &TargetOptions::default())
    }

    #[test]
    fn parses_plain_and_tls_urls() {
        let t = parse("redis://127.0.0.1:7000").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("127.0.0.1", 7000, false));
        let t = parse("rediss://cache.example:6380/2").unwrap();
        assert_eq!((t.port, t.tls, t.db), (6380, true, 2));
        assert_eq!(parse("redis://h").unwrap().port, 6379);
    }

    #[test]
    fn parses_ipv6_literals() {
        let t = parse("redis://[::1]:7000").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.address(), "[::1]:7000");
    }

    #[test]
    fn recognises_loopback_targets() {
        assert!(parse("redis://127.0.0.1:1").unwrap().is_loopback());
        assert!(parse("redis://[::1]:1").unwrap().is_loopback());
        assert!(parse("redis://LocalHost:1").unwrap().is_loopback());
        assert!(!parse("redis://10.0.0.5:1").unwrap().is_loopback());
        assert!(!parse("redis://cache.example:1").unwrap().is_loopback());
    }

    #[test]
    fn rejects_unknown_scheme_and_garbage() {
        assert!(matches!(parse("http://h:1"), Err(TargetError::UnknownScheme(s)) if s == "http"));
        assert!(matches!(parse("not a url"), Err(TargetError::Malformed(_))));
        assert!(matches!(
            parse("redis://h:99999"),
            Err(TargetError::Malformed(_))
        ));
        assert!(matches!(
            parse("redis://h/abc"),
            Err(TargetError::Malformed(_))
        ));
    }

    #[test]
    fn redacts_password_from_url() {
        let t = parse("redis://app:s3cr%40t@h:1").unwrap();
        assert_eq!(t.password.as_ref().unwrap().expose(), "s3cr@t");
        assert_eq!(t.redacted(), "redis://app:***@h:1");
        assert!(!format!("{t:?}").contains("s3cr"));
    }

    #[test]
    fn password_file_wins_and_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "from-file\n").unwrap();
        let opts = TargetOptions {
            user: Some("admin".into()),
            password_file: Some(f),
            ..Default::default()
        };
        let t = Target::parse("redis://u:inurl@h", &opts).unwrap();
        assert_eq!(t.password.unwrap().expose(), "from-file");
        assert_eq!(t.user.as_deref(), Some("admin"));
    }

    #[test]
    fn missing_or_empty_password_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TargetOptions {
            password_file: Some(dir.path().join("nope")),
            ..Default::default()
        };
        assert!(matches!(
            Target::parse("redis://h", &missing),
            Err(TargetError::PasswordFile { .. })
        ));
        let f = dir.path().join("empty");
        std::fs::write(&f, "\n").unwrap();
        let empty = TargetOptions {
            password_file: Some(f),
            ..Default::default()
        };
        assert!(matches!(
            Target::parse("redis://h", &empty),
            Err(TargetError::EmptyPasswordFile(_))
        ));
    }

    #[test]
    fn tls_files_need_rediss() {
        let opts = TargetOptions {
            tls: TlsFiles {
                ca: Some("ca.pem".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(matches!(
            Target::parse("redis://h", &opts),
            Err(TargetError::TlsFilesWithoutTls)
        ));
        assert!(Target::parse("rediss://h", &opts).is_ok());
    }
}
