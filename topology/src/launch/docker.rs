//! Nodes as Docker containers on a network of their own.
//!
//! Every node of a deployment joins one network the launch creates (peers
//! talk only there, by container name) and the default bridge (which only
//! carries the published port). Each node listens inside its container on
//! the same port it is published on, on the host's 127.0.0.1 only, so an
//! announced `name:port` maps to `127.0.0.1:port`. Cutting a node off the
//! peers network (`isolate`) leaves its published port reachable: the
//! minority-side primary that still takes writes from clients.

use super::LaunchError;
use crate::nodes::{NodeSpec, Program};
use std::collections::HashMap;
use std::time::Duration;
use testcontainers::bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest, PortBinding,
};
use testcontainers::bollard::query_parameters::KillContainerOptions;
use testcontainers::bollard::Docker;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// Where the rendered files are copied; the start script moves them into
/// the data volume on first start (so Sentinel and CONFIG REWRITE can
/// rewrite them and a restart keeps what they wrote).
const SEED_DIR: &str = "/redis-seed";
/// The data directory of the official image (owned by its `redis` user).
pub(super) const DATA_DIR: &str = "/data";
/// The `redis` user of the official image (and of the offline images).
const REDIS_UID: &str = "999:999";
/// The edge network: carries the published port, never peer traffic
/// (no name resolution on the default bridge).
const EDGE_NETWORK: &str = "bridge";
/// Cluster bus port inside every container (never published).
pub(super) const BUS_PORT: u16 = 16379;

fn client() -> Result<Docker, String> {
    Docker::connect_with_local_defaults().map_err(|e| format!("no Docker client: {e}"))
}

/// Whether Docker can run `image` here: the daemon answers and the image is
/// present locally or may be pulled. Returns the reason when not.
pub(super) async fn usable(image: &str, no_pull: bool) -> Result<(), String> {
    let docker = client()?;
    match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("daemon did not answer: {e}")),
        Err(_) => return Err("daemon did not answer within 3s".into()),
    }
    match tokio::time::timeout(Duration::from_secs(5), docker.inspect_image(image)).await {
        Ok(Ok(_)) => Ok(()),
        // Not present: testcontainers will pull it; the start timeout bounds
        // the pull on machines that reach no registry.
        Ok(Err(_)) if !no_pull => Ok(()),
        Ok(Err(e)) => Err(format!(
            "image {image} is not present and pulling is disabled: {e}"
        )),
        Err(_) => Err("daemon did not describe the image within 5s".into()),
    }
}

fn split_image(image: &str) -> (String, String) {
    // The tag follows the last ':' unless that ':' belongs to a registry port.
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (image.to_owned(), "latest".to_owned()),
    }
}

/// A fresh name prefix for one deployment's network and containers.
pub(super) fn deployment_name() -> String {
    use rand::Rng;
    format!("redis-readiness-{:08x}", rand::rng().random::<u32>())
}

pub(super) struct ContainerNode {
    // Always Some until drop; an Option so Drop can move it into a runtime.
    container: Option<ContainerAsync<GenericImage>>,
    name: String,
    network: String,
}

impl ContainerNode {
    /// Starts `spec` as container `name` on `network`, its client port
    /// published on 127.0.0.1 under the same number.
    pub(super) async fn start(
        image: &str,
        spec: &NodeSpec,
        name: &str,
        network: &str,
    ) -> Result<Self, LaunchError> {
        let (image_name, tag) = split_image(image);
        let port = spec.placement.port;
        let mut script = String::from("umask 077; ");
        for (file, _) in &spec.files {
            script.push_str(&format!(
                "test -f {DATA_DIR}/{file} || cat {SEED_DIR}/{file} > {DATA_DIR}/{file} || exit 1; "
            ));
        }
        let config = format!("{DATA_DIR}/{}", spec.config_name);
        script.push_str(&match spec.program {
            Program::Server => format!("exec redis-server {config}"),
            Program::Sentinel => format!("exec redis-server {config} --sentinel"),
        });
        let mut request = GenericImage::new(image_name, tag)
            .with_exposed_port(port.tcp())
            .with_wait_for(WaitFor::Nothing)
            .with_cmd(["sh", "-c", script.as_str()])
            .with_container_name(name)
            .with_network(network)
            .with_user(REDIS_UID)
            .with_startup_timeout(Duration::from_secs(90));
        for (file, text) in &spec.files {
            request = request.with_copy_to(format!("{SEED_DIR}/{file}"), text.clone().into_bytes());
        }
        let request = request.with_host_config_modifier(move |hc| {
            let mut bindings = HashMap::new();
            bindings.insert(
                format!("{port}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(port.to_string()),
                }]),
            );
            hc.publish_all_ports = Some(false);
            hc.port_bindings = Some(bindings);
        });
        let container = request
            .start()
            .await
            .map_err(|e| LaunchError::Docker(format!("{}: {e}", spec.id)))?;
        let node = Self {
            container: Some(container),
            name: name.to_owned(),
            network: network.to_owned(),
        };
        node.connect(EDGE_NETWORK).await.map_err(|e| {
            LaunchError::Docker(format!("{}: failed to join the edge network: {e}", spec.id))
        })?;
        Ok(node)
    }

    fn container(&self) -> &ContainerAsync<GenericImage> {
        // Only Drop takes it out.
        self.container
            .as_ref()
            .unwrap_or_else(|| unreachable!("container taken before drop"))
    }

    pub(super) fn short_id(&self) -> String {
        let id = self.container().id();
        id[..id.len().min(12)].to_owned()
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    async fn connect(&self, network: &str) -> Result<(), String> {
        client()?
            .connect_network(
                network,
                NetworkConnectRequest {
                    container: self.container().id().to_owned(),
                    endpoint_config: Some(EndpointSettings::default()),
                },
            )
            .await
            .map_err(|e| e.to_string())
    }

    /// The node's IP on the peers network (CLUSTER MEET takes IPs only).
    pub(super) async fn peer_ip(&self) -> Result<String, LaunchError> {
        let info = client()
            .map_err(LaunchError::Docker)?
            .inspect_container(self.container().id(), None)
            .await
            .map_err(|e| LaunchError::Docker(e.to_string()))?;
        info.network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(&self.network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| {
                LaunchError::Docker(format!("{} has no address on {}", self.name, self.network))
            })
    }

    pub(super) async fn kill(&mut self) -> Result<(), LaunchError> {
        client()
            .map_err(|e| control("kill", e))?
            .kill_container(self.container().id(), Some(KillContainerOptions::default()))
            .await
            .map_err(|e| control("kill", e))
    }

    pub(super) async fn stop(&mut self) -> Result<(), LaunchError> {
        let grace = i32::try_from(super::STOP_GRACE.as_secs()).unwrap_or(30);
        self.container()
            .stop_with_timeout(Some(grace))
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
        let running = self
            .container()
            .is_running()
            .await
            .map_err(|e| control("restart", e))?;
        if running {
            self.stop().await?;
        }
        // The host port was fixed at creation, so it stays the same.
        self.container()
            .start()
            .await
            .map_err(|e| control("restart", e))
    }

    /// Cuts the node off the peers network; its published port stays up.
    pub(super) async fn isolate(&mut self) -> Result<(), LaunchError> {
        client()
            .map_err(|e| control("isolate", e))?
            .disconnect_network(
                &self.network,
                NetworkDisconnectRequest {
                    container: self.container().id().to_owned(),
                    force: Some(true),
                },
            )
            .await
            .map_err(|e| control("isolate", e))
    }

    /// Joins the peers network again (same name, so peers find it again).
    pub(super) async fn heal(&mut self) -> Result<(), LaunchError> {
        let network = self.network.clone();
        self.connect(&network).await.map_err(|e| control("heal", e))
    }
}

impl Drop for ContainerNode {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        // testcontainers removes the container (and, with the last one, the
        // network it created) in its own Drop, which needs a Tokio runtime; a
        // deployment dropped outside one (a sync test, the end of main) gets
        // a short-lived runtime so nothing leaks.
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
