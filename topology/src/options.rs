//! Launch settings, read from the environment once, at the edge.
//!
//! [`LaunchOptions::from_env`] is the only place that reads `REDIS_LAUNCHER`,
//! the image names, binary paths and role passwords; it is a thin wrapper
//! over [`LaunchOptions::from_lookup`], which tests call with a closure
//! instead of mutating the process environment (which races between tests).

use crate::credentials::Credentials;
use std::path::PathBuf;

/// Official image used when `REDIS_IMAGE` is not set.
pub const DEFAULT_REDIS_IMAGE: &str = "redis:7.4";

/// Which launcher to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LauncherChoice {
    /// Docker when a daemon answers and the image is usable, else processes.
    Auto,
    /// Containers only.
    Docker,
    /// Local processes only.
    Process,
}

/// Everything a launch reads from outside the program.
#[derive(Clone, Debug)]
pub struct LaunchOptions {
    /// `REDIS_LAUNCHER`: `auto` (default), `docker` or `process`.
    pub launcher: LauncherChoice,
    /// `REDIS_IMAGE`: the image for data nodes and Sentinels.
    pub redis_image: String,
    /// `REDIS_NO_PULL`: never pull a missing image.
    pub no_pull: bool,
    /// `REDIS_SERVER_BIN`: the `redis-server` binary; else PATH.
    pub redis_server_bin: Option<PathBuf>,
    /// `REDIS_SENTINEL_BIN`: the `redis-sentinel` binary; else PATH, else
    /// `redis-server --sentinel`.
    pub redis_sentinel_bin: Option<PathBuf>,
    /// `PATH`, to find the binaries.
    pub path: Option<String>,
    /// Role passwords (`REDIS_ADMIN_PASSWORD`, …), generated where unset.
    pub credentials: Credentials,
    /// The TLS profile (`--tls`), off unless asked for.
    pub tls: Option<TlsLaunch>,
}

/// The launched TLS profile: certificates generated at launch, TLS only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsLaunch {
    /// `tls-auth-clients`: `yes` (mutual TLS: the deployment's targets then
    /// carry the generated client certificate), `optional` or `no`.
    pub auth_clients: &'static str,
    /// How long the server certificate is valid from the launch.
    pub valid_for: std::time::Duration,
    /// Leave a plaintext `port` open beside `tls-port` (the weak variant
    /// the `tls.plaintext-port` check must catch; process launcher only).
    pub plaintext_port: Option<u16>,
}

impl Default for TlsLaunch {
    fn default() -> Self {
        Self {
            auth_clients: "yes",
            valid_for: std::time::Duration::from_secs(365 * 86_400),
            plaintext_port: None,
        }
    }
}

/// A setting with a value it does not accept.
#[derive(Debug, thiserror::Error)]
#[error("failed to read {variable}: `{value}` is not {expected}")]
pub struct OptionError {
    /// The variable.
    pub variable: &'static str,
    /// What it held.
    pub value: String,
    /// What it may hold.
    pub expected: &'static str,
}

impl LaunchOptions {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, OptionError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `lookup(variable)`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, OptionError> {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());
        let launcher = match get("REDIS_LAUNCHER").as_deref() {
            None | Some("auto") => LauncherChoice::Auto,
            Some("docker") => LauncherChoice::Docker,
            Some("process") => LauncherChoice::Process,
            Some(other) => {
                return Err(OptionError {
                    variable: "REDIS_LAUNCHER",
                    value: other.to_owned(),
                    expected: "docker, process or auto",
                })
            }
        };
        Ok(Self {
            launcher,
            redis_image: get("REDIS_IMAGE").unwrap_or_else(|| DEFAULT_REDIS_IMAGE.to_owned()),
            no_pull: lookup("REDIS_NO_PULL").is_some(),
            redis_server_bin: get("REDIS_SERVER_BIN").map(PathBuf::from),
            redis_sentinel_bin: get("REDIS_SENTINEL_BIN").map(PathBuf::from),
            path: get("PATH"),
            credentials: Credentials::from_lookup(&lookup),
            tls: None,
        })
    }

    /// The same options with the TLS profile on (`Some`) or off.
    pub fn with_tls(mut self, tls: Option<TlsLaunch>) -> Self {
        self.tls = tls;
        self
    }

    /// The same options with another launcher.
    pub fn with_launcher(mut self, launcher: LauncherChoice) -> Self {
        self.launcher = launcher;
        self
    }

    /// The `redis-server` binary to run, if one can be found.
    pub fn server_bin(&self) -> Option<PathBuf> {
        self.redis_server_bin
            .clone()
            .or_else(|| self.on_path("redis-server"))
    }

    /// The `redis-sentinel` binary, if one can be found.
    pub fn sentinel_bin(&self) -> Option<PathBuf> {
        self.redis_sentinel_bin
            .clone()
            .or_else(|| self.on_path("redis-sentinel"))
    }

    fn on_path(&self, name: &str) -> Option<PathBuf> {
        let path = self.path.as_ref()?;
        std::env::split_paths(path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<LaunchOptions, OptionError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LaunchOptions::from_lookup(move |k| {
            pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_and_overrides() {
        let o = with(&[]).unwrap();
        assert_eq!(o.launcher, LauncherChoice::Auto);
        assert_eq!(o.redis_image, DEFAULT_REDIS_IMAGE);
        assert!(!o.no_pull);
        let o = with(&[
            ("REDIS_LAUNCHER", "process"),
            ("REDIS_IMAGE", "local/redis:7"),
            ("REDIS_NO_PULL", "1"),
            ("REDIS_ADMIN_PASSWORD", "pw"),
        ])
        .unwrap();
        assert_eq!(o.launcher, LauncherChoice::Process);
        assert_eq!(o.redis_image, "local/redis:7");
        assert!(o.no_pull);
        assert_eq!(o.credentials.admin.expose(), "pw");
    }

    #[test]
    fn rejects_an_unknown_launcher_with_the_variable_named() {
        let e = with(&[("REDIS_LAUNCHER", "podman")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to read REDIS_LAUNCHER: `podman` is not docker, process or auto"
        );
    }
}
