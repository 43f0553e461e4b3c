//! The declared container configuration, normalised so that equal intent gives equal values:
//! what a container is built from (nothing is copied from the old container), and what its
//! record (see [`super::record`]) holds.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::input::Invalid;

/// The normalised spec. Field order and `BTreeMap`s make its JSON canonical; it reads back
/// (`Deserialize`) from the record on a container, which `rollback` redeploys from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// `"80/tcp"` -> host bindings, sorted.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub port_bindings: BTreeMap<String, Vec<HostBinding>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<String>,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub volumes: BTreeSet<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkAttachment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheck>,
}

/// A declared HEALTHCHECK; durations in milliseconds (the Engine wants nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthCheck {
    /// `["CMD-SHELL", "..."]`, `["CMD", ...]` or `["NONE"]` (turns the image's check off).
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HostBinding {
    pub host_ip: String,
    /// Empty means "any free port"; `8080-8082` a range (one port per replica).
    pub host_port: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_count: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkAttachment {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
}

impl ContainerSpec {
    /// Host ports that only one container can hold at a time (not `""`, "any free port").
    pub fn fixed_host_ports(&self) -> Vec<String> {
        self.port_bindings
            .values()
            .flatten()
            .filter(|b| !b.host_port.is_empty())
            .map(|b| b.host_port.clone())
            .collect()
    }

    /// The spec of replica `index` (1-based) of `count`: each host port range `a-b` gives the
    /// replica its own port, `a + index - 1`; it must have exactly `count` ports.
    pub fn for_replica(&self, container: &str, index: u32, count: u32) -> Result<Self> {
        let context = format!("container {container:?}");
        let inv = Invalid { context: &context };
        let mut spec = self.clone();
        for bindings in spec.port_bindings.values_mut() {
            for binding in bindings.iter_mut() {
                match binding.host_port.split_once('-') {
                    Some((first, last)) => {
                        let (first, last): (u32, u32) = (
                            first.parse().unwrap_or_default(),
                            last.parse().unwrap_or_default(),
                        );
                        if last + 1 - first != count {
                            return Err(inv.err(
                                "port_bindings",
                                format!(
                                    "the host port range {}-{} has {} ports for {count} replicas",
                                    first,
                                    last,
                                    last + 1 - first
                                ),
                            ));
                        }
                        binding.host_port = (first + index - 1).to_string();
                    }
                    None if !binding.host_port.is_empty() && count > 1 => {
                        return Err(inv.err(
                            "port_bindings",
                            format!(
                                "host port {} cannot be held by {count} replicas at once; give \
                                 a range with one port per replica, such as {}-{}",
                                binding.host_port,
                                binding.host_port,
                                binding.host_port.parse::<u32>().unwrap_or(0) + count - 1
                            ),
                        ));
                    }
                    None => {}
                }
            }
        }
        Ok(spec)
    }

    /// The container paths where a container of this spec gets anonymous volumes: its image's
    /// VOLUMEs and the declared `volumes`, less the paths a declared bind covers.
    pub fn anonymous_volume_paths(&self, image_volumes: &[String]) -> BTreeSet<String> {
        let bound: BTreeSet<String> = self
            .binds
            .iter()
            .filter_map(|bind| bind.split(':').nth(1))
            .map(clean_path)
            .collect();
        image_volumes
            .iter()
            .chain(&self.volumes)
            .map(|path| clean_path(path))
            .filter(|path| !bound.contains(path))
            .collect()
    }

    /// The user-defined networks the container needs: `networks`, and a `network_mode` that
    /// names one (not `host`, `none`, `container:...`).
    pub fn network_names(&self) -> impl Iterator<Item = &String> {
        let mode = self.network_mode.as_ref().filter(|m| {
            !matches!(m.as_str(), "host" | "none" | "bridge" | "default")
                && !m.starts_with("container:")
        });
        self.networks.keys().chain(mode)
    }

    /// The networks to connect after create: the Engine (API 1.41) takes only one at create.
    pub fn extra_networks(&self) -> impl Iterator<Item = (&String, &NetworkAttachment)> {
        self.networks.iter().skip(1)
    }
}

/// A container path as the Engine compares mount points (Go's `path.Clean`): `//`, `/./`,
/// `..` and trailing slashes resolved, so `/data//db/` and `/data/db` are one path.
pub fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}
