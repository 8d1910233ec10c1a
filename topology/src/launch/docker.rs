//! Redis in a Docker container through testcontainers.
//!
//! The port is published on the host's 127.0.0.1 only (testcontainers would
//! publish on every interface), and the rendered policy files are copied in.

use super::{stock_weak_args, LaunchError, Profile, LAUNCHED_MAXMEMORY};
use crate::credentials::Credentials;
use crate::policy::{render_redis_conf, render_users_acl, ServerParams};
use std::collections::HashMap;
use std::time::Duration;
use testcontainers::bollard::models::PortBinding;
use testcontainers::core::{ContainerPort, IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

const REDIS_PORT: u16 = 6379;
const CONF_DIR: &str = "/usr/local/etc/redis";
/// The `redis` user of the official image (and of the offline images).
const REDIS_UID: &str = "999:999";

/// Whether Docker can run `image` here: the daemon answers and the image is
/// present locally or its name looks pullable. Returns the reason when not.
pub(super) async fn usable(image: &str) -> Result<(), String> {
    let docker = testcontainers::bollard::Docker::connect_with_local_defaults()
        .map_err(|e| format!("no Docker client: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("daemon did not answer: {e}")),
        Err(_) => return Err("daemon did not answer within 3s".into()),
    }
    match tokio::time::timeout(Duration::from_secs(5), docker.inspect_image(image)).await {
        Ok(Ok(_)) => Ok(()),
        // Not present: testcontainers will pull it; the start timeout bounds
        // the pull on machines that reach no registry.
        Ok(Err(_)) if std::env::var_os("REDIS_NO_PULL").is_none() => Ok(()),
        Ok(Err(e)) => Err(format!(
            "image {image} is not present and pulling is disabled: {e}"
        )),
        Err(_) => Err("daemon did not describe the image within 5s".into()),
    }
}

pub(super) struct ContainerNode {
    // Always Some until drop; an Option so Drop can move it into a runtime.
    container: Option<ContainerAsync<GenericImage>>,
    image: String,
    port: u16,
}

fn split_image(image: &str) -> (String, String) {
    // The tag follows the last ':' unless that ':' belongs to a registry port.
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (image.to_owned(), "latest".to_owned()),
    }
}

impl ContainerNode {
    pub(super) async fn start(
        image: &str,
        profile: Profile,
        credentials: Option<&Credentials>,
    ) -> Result<Self, LaunchError> {
        let (name, tag) = split_image(image);
        let base = GenericImage::new(name, tag)
            .with_exposed_port(REDIS_PORT.tcp())
            .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"));
        let mut cmd = vec!["redis-server".to_owned()];
        let mut request = match (profile, credentials) {
            (Profile::Hardened, Some(c)) => {
                let conf = render_redis_conf(&ServerParams {
                    // Inside its own network namespace the server must listen
                    // on the container interface; exposure is decided by the
                    // port publishing below (host loopback only).
                    bind: "* -::*".into(),
                    port: REDIS_PORT,
                    dir: "/data".into(),
                    aclfile: format!("{CONF_DIR}/users.acl"),
                    maxmemory: LAUNCHED_MAXMEMORY.into(),
                })?;
                cmd.push(format!("{CONF_DIR}/redis.conf"));
                base.with_copy_to(format!("{CONF_DIR}/redis.conf"), conf.into_bytes())
                    .with_copy_to(
                        format!("{CONF_DIR}/users.acl"),
                        render_users_acl(c)?.into_bytes(),
                    )
            }
            _ => {
                cmd.extend(stock_weak_args());
                base.with_copy_to("/tmp/.keep", Vec::new())
            }
        };
        request = request
            .with_cmd(cmd)
            .with_user(REDIS_UID)
            .with_startup_timeout(Duration::from_secs(90))
            .with_host_config_modifier(|hc| {
                let mut bindings = HashMap::new();
                bindings.insert(
                    format!("{REDIS_PORT}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                );
                hc.publish_all_ports = Some(false);
                hc.port_bindings = Some(bindings);
            });
        let container = request
            .start()
            .await
            .map_err(|e| LaunchError::Docker(e.to_string()))?;
        let port = host_port(&container).await?;
        Ok(Self {
            container: Some(container),
            image: image.to_owned(),
            port,
        })
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn image(&self) -> &str {
        &self.image
    }

    fn container(&self) -> &ContainerAsync<GenericImage> {
        // Only Drop takes it out.
        self.container
            .as_ref()
            .unwrap_or_else(|| unreachable!("container taken before drop"))
    }

    pub(super) fn short_id(&self) -> &str {
        let id = self.container().id();
        &id[..id.len().min(12)]
    }

    pub(super) async fn kill(&mut self) -> Result<(), LaunchError> {
        self.container()
            .stop_with_timeout(Some(0))
            .await
            .map_err(|e| control("kill", e))
    }

    pub(super) async fn stop(&mut self) -> Result<(), LaunchError> {
        self.container()
            .stop_with_timeout(Some(10))
            .await
            .map_err(|e| control("stop", e))
    }

    pub(super) async fn pause(&mut self) -> Result<(), LaunchError> {
        self.container()
            .pause()
            .await
            .map_err(|e| control("pause", e))
    }

    pub(super) async fn resume(&mut self) -> Result<(), LaunchError> {
        self.container()
            .unpause()
            .await
            .map_err(|e| control("resume", e))
    }

    pub(super) async fn restart(&mut self) -> Result<(), LaunchError> {
        self.container()
            .start()
            .await
            .map_err(|e| control("restart", e))?;
        // Docker may publish a different host port after a restart.
        self.port = host_port(self.container()).await?;
        Ok(())
    }
}

impl Drop for ContainerNode {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        // testcontainers removes the container in its own Drop, which needs
        // a Tokio runtime; a deployment dropped outside one (a sync test, the
        // end of main) gets a short-lived runtime so no container leaks.
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(container);
        } else if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(async move { drop(container) });
        }
    }
}

async fn host_port(container: &ContainerAsync<GenericImage>) -> Result<u16, LaunchError> {
    container
        .get_host_port_ipv4(ContainerPort::Tcp(REDIS_PORT))
        .await
        .map_err(|e| LaunchError::Docker(format!("no published port: {e}")))
}

fn control(action: &'static str, e: impl std::fmt::Display) -> LaunchError {
    LaunchError::Control {
        action,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn splits_image_names() {
        assert_eq!(split_image("redis:7.4"), ("redis".into(), "7.4".into()));
        assert_eq!(split_image("redis"), ("redis".into(), "latest".into()));
        assert_eq!(
            split_image("reg.local:5000/redis"),
            ("reg.local:5000/redis".into(), "latest".into())
        );
        assert_eq!(
            split_image("a/redis:7.0-debian"),
            ("a/redis".into(), "7.0-debian".into())
        );
    }
}
