//! The body of `POST /containers/create`, from the declared spec alone.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig, Mount,
    MountType, NetworkingConfig, PortBinding, RestartPolicy as EngineRestartPolicy,
    RestartPolicyNameEnum,
};

use crate::spec::declared::{ContainerSpec, NetworkAttachment};

/// An existing volume to mount in a new container (a previous container's, taken over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    pub name: String,
    pub destination: String,
}

impl ContainerSpec {
    /// The body of `POST /containers/create`, from this spec alone.
    /// `volumes` are existing volumes to mount (a previous container's, taken over).
    pub fn to_create_body(
        &self,
        image: &str,
        tool_labels: &[(&str, String)],
        volumes: &[VolumeMount],
    ) -> ContainerCreateBody {
        let mut labels: HashMap<String, String> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.extend(tool_labels.iter().map(|(k, v)| (k.to_string(), v.clone())));

        let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = self
            .port_bindings
            .iter()
            .map(|(port, hosts)| {
                let hosts = hosts
                    .iter()
                    .map(|h| PortBinding {
                        host_ip: Some(h.host_ip.clone()),
                        host_port: Some(h.host_port.clone()),
                    })
                    .collect();
                (port.clone(), Some(hosts))
            })
            .collect();

        let first_network = self.networks.iter().next();
        let network_mode = self
            .network_mode
            .clone()
            .or_else(|| first_network.map(|(name, _)| name.clone()));

        let host_config = HostConfig {
            binds: non_empty(self.binds.clone()),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            restart_policy: self.restart_policy.as_ref().map(|p| EngineRestartPolicy {
                name: Some(match p.name.as_str() {
                    "always" => RestartPolicyNameEnum::ALWAYS,
                    "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                    "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                    _ => RestartPolicyNameEnum::NO,
                }),
                maximum_retry_count: p.maximum_retry_count,
            }),
            network_mode,
            extra_hosts: non_empty(self.extra_hosts.clone()),
            mounts: non_empty(
                volumes
                    .iter()
                    .map(|v| Mount {
                        target: Some(v.destination.clone()),
                        source: Some(v.name.clone()),
                        typ: Some(MountType::VOLUME),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        };

        let networking_config = first_network.map(|(name, attachment)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(name.clone(), attachment.endpoint())])),
        });

        ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: self.command.clone(),
            entrypoint: self.entrypoint.clone(),
            env: non_empty(
                self.environment
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            exposed_ports: non_empty(self.port_bindings.keys().cloned().collect()),
            volumes: non_empty(self.volumes.iter().cloned().collect()),
            labels: Some(labels),
            user: self.user.clone(),
            working_dir: self.working_dir.clone(),
            hostname: self.hostname.clone(),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.shutdown_timeout,
            healthcheck: self.healthcheck.as_ref().map(|h| {
                // Bounded at parse time (a day), so this cannot overflow; saturate anyway.
                let nanos = |ms: Option<i64>| ms.map(|ms| ms.saturating_mul(1_000_000));
                HealthConfig {
                    test: Some(h.test.clone()),
                    interval: nanos(h.interval_ms),
                    timeout: nanos(h.timeout_ms),
                    retries: h.retries,
                    start_period: nanos(h.start_period_ms),
                    ..Default::default()
                }
            }),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        }
    }
}

impl NetworkAttachment {
    pub fn endpoint(&self) -> EndpointSettings {
        let ipam = (self.ipv4_address.is_some() || self.ipv6_address.is_some()).then(|| {
            EndpointIpamConfig {
                ipv4_address: self.ipv4_address.clone(),
                ipv6_address: self.ipv6_address.clone(),
                ..Default::default()
            }
        });
        EndpointSettings {
            aliases: non_empty(self.aliases.clone()),
            ipam_config: ipam,
            ..Default::default()
        }
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}
