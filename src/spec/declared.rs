//! The declared container configuration, normalised so that equal intent gives equal values:
//! what a container is built from (nothing is copied from the old container), and what its
//! record holds. Each declared keyword of the table ([`super::keywords`]) with its normalised
//! value; the views below read the few the redeploy itself needs.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result, NOTHING_CHANGED};
use crate::input::Invalid;
use crate::spec::forms::{HostBinding, NetworkAttachment};
use crate::spec::keywords::{index_of, Keyword, KEYWORDS};

/// The declared spec: each declared keyword's normalised value, by its place in the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    values: BTreeMap<usize, Value>,
}

impl ContainerSpec {
    /// The normalised value of a declared keyword (by its canonical name).
    pub fn get(&self, keyword: &str) -> Option<&Value> {
        self.values.get(&index_of(keyword))
    }

    /// Declares `keyword` with a normalised value (`None`: not declared).
    pub(crate) fn set(&mut self, keyword: &str, value: Option<Value>) {
        let index = index_of(keyword);
        match value {
            Some(value) if index < KEYWORDS.len() => {
                self.values.insert(index, value);
            }
            _ => {
                self.values.remove(&index);
            }
        }
    }

    /// The declared keywords with their values, in the table's order.
    pub fn declared(&self) -> impl Iterator<Item = (&'static Keyword, &Value)> {
        self.values.iter().map(|(i, v)| (&KEYWORDS[*i], v))
    }

    /// A declared keyword's value as `T` (`None` when not declared, or of another shape).
    pub fn value_of<T: DeserializeOwned>(&self, keyword: &str) -> Option<T> {
        self.get(keyword)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// A declared keyword's value as `T`, or `T`'s default.
    fn view<T: DeserializeOwned + Default>(&self, keyword: &str) -> T {
        self.value_of(keyword).unwrap_or_default()
    }

    pub fn environment(&self) -> BTreeMap<String, String> {
        self.view("environment")
    }

    pub fn port_bindings(&self) -> BTreeMap<String, Vec<HostBinding>> {
        self.view("port_bindings")
    }

    pub fn binds(&self) -> Vec<String> {
        self.view("binds")
    }

    pub fn volumes(&self) -> Vec<String> {
        self.view("volumes")
    }

    pub fn network_mode(&self) -> Option<String> {
        self.view("network_mode")
    }

    pub fn networks(&self) -> BTreeMap<String, NetworkAttachment> {
        self.view("networks")
    }

    pub fn shutdown_timeout(&self) -> Option<i64> {
        self.view("shutdown_timeout")
    }

    /// The canonical JSON recorded on the container: the declared keywords in the table's
    /// order, each value normalised, so that equal specs give equal strings.
    pub fn canonical_json(&self) -> String {
        let map: Map<String, Value> = self
            .declared()
            .map(|(keyword, value)| (keyword.name.to_string(), value.clone()))
            .collect();
        Value::Object(map).to_string()
    }

    /// Reads back the record [`canonical_json`](Self::canonical_json) wrote on a container.
    /// A keyword this version does not know is left out (a newer version wrote it).
    pub fn from_record(container: &str, record: &str) -> Result<Self> {
        let unreadable = |why: String| {
            Error::new(
                ErrorKind::Docker,
                format!("its record of the declared settings cannot be read ({why})"),
            )
            .about(format!("container {container:?}"))
            .left(NOTHING_CHANGED)
        };
        let map: Map<String, Value> =
            serde_json::from_str(record).map_err(|e| unreadable(e.to_string()))?;
        let mut spec = ContainerSpec::default();
        for (keyword, value) in map {
            spec.set(&keyword, Some(value));
        }
        Ok(spec)
    }

    /// Host ports that only one container can hold at a time (not `""`, "any free port").
    pub fn fixed_host_ports(&self) -> Vec<String> {
        self.port_bindings()
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
        let mut bindings = self.port_bindings();
        for binding in bindings.values_mut().flatten() {
            match binding.host_port.split_once('-') {
                Some((first, last)) => {
                    let (first, last): (u32, u32) = (
                        first.parse().unwrap_or_default(),
                        last.parse().unwrap_or_default(),
                    );
                    let ports = (last + 1).saturating_sub(first);
                    if ports != count {
                        return Err(inv.err(
                            "port_bindings",
                            format!(
                                "the host port range {first}-{last} has {ports} ports for {count} \
                                 replicas"
                            ),
                        ));
                    }
                    binding.host_port = (first + index - 1).to_string();
                }
                None if !binding.host_port.is_empty() && count > 1 => {
                    return Err(inv.err(
                        "port_bindings",
                        format!(
                            "host port {} cannot be held by {count} replicas at once; give a \
                             range with one port per replica, such as {}-{}",
                            binding.host_port,
                            binding.host_port,
                            binding.host_port.parse::<u32>().unwrap_or(0) + count - 1
                        ),
                    ));
                }
                None => {}
            }
        }
        let mut spec = self.clone();
        if !bindings.is_empty() {
            spec.set("port_bindings", serde_json::to_value(bindings).ok());
        }
        Ok(spec)
    }

    /// The container paths where a container of this spec gets anonymous volumes: its image's
    /// VOLUMEs and the declared `volumes`, less the paths a declared bind covers.
    pub fn anonymous_volume_paths(&self, image_volumes: &[String]) -> BTreeSet<String> {
        let bound: BTreeSet<String> = self
            .binds()
            .iter()
            .filter_map(|bind| bind.split(':').nth(1))
            .map(clean_path)
            .collect();
        image_volumes
            .iter()
            .chain(&self.volumes())
            .map(|path| clean_path(path))
            .filter(|path| !bound.contains(path))
            .collect()
    }

    /// The user-defined networks the container needs: `networks`, and a `network_mode` that
    /// names one (not `host`, `none`, `container:...`).
    pub fn network_names(&self) -> Vec<String> {
        let mode = self.network_mode().filter(|m| {
            !matches!(m.as_str(), "host" | "none" | "bridge" | "default")
                && !m.starts_with("container:")
        });
        self.networks().into_keys().chain(mode).collect()
    }

    /// The networks to connect after create: the Engine (API 1.41) takes only one at create.
    pub fn extra_networks(&self) -> Vec<(String, NetworkAttachment)> {
        self.networks().into_iter().skip(1).collect()
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
