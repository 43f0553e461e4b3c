//! The body of `POST /containers/create`, from the declared spec alone: each declared keyword
//! lands where its row says, as the Engine's API takes it; what several keywords make together
//! (published ports are exposed too, the first network is the mode) is added here.

use bollard::models::{ContainerCreateBody, EndpointIpamConfig, EndpointSettings};
use serde_json::{json, Map, Value};

use crate::spec::declared::ContainerSpec;
use crate::spec::forms::NetworkAttachment;
use crate::spec::keywords::{set_path, Lands};

/// An existing volume to mount in a new container (a previous container's, taken over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    pub name: String,
    pub destination: String,
}

impl ContainerSpec {
    /// The body of `POST /containers/create` for `image`, with this tool's labels and the
    /// existing `volumes` to mount (a previous container's, taken over). The request as the
    /// Engine's API writes it, read into bollard's model: an error when they disagree (a bug).
    pub fn to_create_body(
        &self,
        image: &str,
        tool_labels: &[(&str, String)],
        volumes: &[VolumeMount],
    ) -> Result<ContainerCreateBody, String> {
        let body = self.create_request(image, tool_labels, volumes);
        serde_json::from_value(body).map_err(|e| format!("the create request is malformed: {e}"))
    }

    /// The create request as JSON, in the Engine API's names.
    pub fn create_request(
        &self,
        image: &str,
        tool_labels: &[(&str, String)],
        volumes: &[VolumeMount],
    ) -> Value {
        let mut config = Map::new();
        let mut host = Map::new();
        for (keyword, value) in self.declared() {
            let api = (keyword.api)(value);
            match keyword.lands {
                Lands::Config(path) => set_path(&mut config, path, api),
                Lands::Host(path) => set_path(&mut host, path, api),
                Lands::Special(_) | Lands::Nowhere(_) => {}
            }
        }
        config.insert("Image".into(), json!(image));

        // This tool's labels beside the declared ones (never declared: reserved).
        let labels = config.entry("Labels").or_insert_with(|| json!({}));
        if let Value::Object(labels) = labels {
            for (key, value) in tool_labels {
                labels.insert(key.to_string(), json!(value));
            }
        }

        // Published ports are exposed too (as `docker run -p` does).
        if let Some(bindings) = self.get("port_bindings") {
            host.insert(
                "PortBindings".into(),
                crate::spec::forms::port_bindings_api(bindings),
            );
            let exposed = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            if let (Value::Object(exposed), Value::Object(bindings)) = (exposed, bindings) {
                for port in bindings.keys() {
                    exposed.insert(port.clone(), json!({}));
                }
            }
        }

        // The Engine (API 1.41) attaches one network at create; the rest are connected after.
        let networks = self.networks();
        if let Some((name, attachment)) = networks.iter().next() {
            if self.network_mode().is_none() {
                host.insert("NetworkMode".into(), json!(name));
            }
            let endpoint = serde_json::to_value(attachment.endpoint()).unwrap_or(Value::Null);
            config.insert(
                "NetworkingConfig".into(),
                json!({"EndpointsConfig": {name: endpoint}}),
            );
        }

        if !volumes.is_empty() {
            let mounts: Vec<Value> = volumes
                .iter()
                .map(|v| json!({"Target": v.destination, "Source": v.name, "Type": "volume"}))
                .collect();
            host.insert("Mounts".into(), Value::Array(mounts));
        }
        config.insert("HostConfig".into(), Value::Object(host));
        Value::Object(config)
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
            aliases: (!self.aliases.is_empty()).then(|| self.aliases.clone()),
            ipam_config: ipam,
            ..Default::default()
        }
    }
}
