//! Whether a container runs with what is declared, read back from its `inspect` where each
//! keyword lands: how a container this tool did not create (made by `docker_container.running`
//! or by hand) is adopted rather than replaced, when it already is what this tool would build.
//!
//! Every keyword is looked at, declared or not: a declared one must hold the declared value;
//! one that is not declared must hold what a container built from the declaration would (the
//! Engine's default, or its image's value), so that a container started `--privileged`, with
//! another port, a restart policy or a bind nobody declared is replaced, not adopted.

use serde_json::{Map, Value};

use crate::spec::declared::ContainerSpec;
use crate::spec::forms::port_bindings_api;
use crate::spec::keywords::{get_path, Check, Keyword, Lands, Unset, KEYWORDS};

/// What of a container's `inspect` the comparison reads: its `Config`, `HostConfig`, the
/// networks it is attached to, and its image's `Config` (what it inherits).
pub fn running_config(inspect: &Value, image_config: Option<&Value>) -> Value {
    let mut kept = Map::new();
    for key in ["Config", "HostConfig"] {
        if let Some(part) = inspect.get(key) {
            kept.insert(key.into(), part.clone());
        }
    }
    if let Some(networks) = get_path(inspect, "NetworkSettings.Networks") {
        kept.insert("Networks".into(), networks.clone());
    }
    kept.insert("Image".into(), image_config.cloned().unwrap_or(Value::Null));
    Value::Object(kept)
}

/// What the container (as [`running_config`] kept it) runs with otherwise than a container
/// built from `spec` would: each keyword, with `(not declared)` after one that is set though
/// it is not declared. Empty when it runs as declared.
pub fn differences(spec: &ContainerSpec, running: &Value) -> Vec<String> {
    let mut differing = Vec::new();
    for keyword in KEYWORDS {
        let same = match spec.get(keyword.name) {
            Some(value) => meets(keyword, value, spec, running),
            None => unset_as_built(keyword, spec, running),
        };
        if !same {
            differing.push(match spec.get(keyword.name) {
                Some(_) => keyword.name.to_string(),
                None => format!("{} (not declared)", keyword.name),
            });
        }
    }
    differing
}

/// Where a keyword's value is in the container (`Config.Cmd`), if it lands in one place.
fn path_of(keyword: &Keyword) -> Option<String> {
    match keyword.name {
        "port_bindings" => Some("HostConfig.PortBindings".into()),
        _ => match keyword.lands {
            Lands::Config(path) => Some(format!("Config.{path}")),
            Lands::Host(path) => Some(format!("HostConfig.{path}")),
            Lands::Special(_) | Lands::Nowhere(_) => None,
        },
    }
}

/// A declared keyword's value is what the container holds.
fn meets(keyword: &Keyword, value: &Value, spec: &ContainerSpec, running: &Value) -> bool {
    if keyword.check == Check::Networks {
        return same_networks(spec, running);
    }
    let Some(path) = path_of(keyword) else {
        // Accepted, never recorded (`detach`): nothing in the container says it.
        return matches!(keyword.lands, Lands::Nowhere(_));
    };
    let have = get_path(running, &path);
    if keyword.check == Check::Bindings {
        return same_bindings(&port_bindings_api(value), have);
    }
    let want = (keyword.api)(value);
    if keyword.unset == Unset::Merged {
        // The declared entries are there, and nothing else but the image's own.
        return compare(Check::Contains, &want, have)
            && only_image_extras(keyword, &want, spec, running, have);
    }
    compare(keyword.check, &want, have)
}

/// An undeclared keyword holds what a container built from the declaration would.
fn unset_as_built(keyword: &Keyword, spec: &ContainerSpec, running: &Value) -> bool {
    if keyword.check == Check::Networks {
        return same_networks(spec, running);
    }
    let Some(path) = path_of(keyword) else {
        return true;
    };
    let have = get_path(running, &path);
    match keyword.unset {
        Unset::Engine => true,
        Unset::Empty => have.is_none_or(is_empty),
        Unset::Image => {
            let image = get_path(
                running,
                &format!("Image.{}", path.trim_start_matches("Config.")),
            );
            have.filter(|v| !is_empty(v)) == image.filter(|v| !is_empty(v))
        }
        Unset::Merged => only_image_extras(keyword, &Value::Null, spec, running, have),
    }
}

/// Every entry of `have` is declared (`want`), the image's own, or (for the places that also
/// hold them) what other declared keywords add: published ports are exposed, and Salt declares
/// each bind's target as a volume.
fn only_image_extras(
    keyword: &Keyword,
    want: &Value,
    spec: &ContainerSpec,
    running: &Value,
    have: Option<&Value>,
) -> bool {
    let path = path_of(keyword).unwrap_or_default();
    let image = get_path(
        running,
        &format!("Image.{}", path.trim_start_matches("Config.")),
    );
    let allowed = |item: &Value, key: Option<&str>| {
        let in_value = |source: Option<&Value>| match (source, key) {
            (Some(Value::Array(items)), None) => items.contains(item),
            (Some(Value::Object(map)), Some(key)) => map.get(key) == Some(item),
            (Some(Value::Object(map)), None) => item.as_str().is_some_and(|k| map.contains_key(k)),
            _ => false,
        };
        let added = match (keyword.name, item.as_str().or(key)) {
            ("ports", Some(port)) => spec
                .get("port_bindings")
                .and_then(Value::as_object)
                .is_some_and(|bindings| bindings.contains_key(port)),
            ("volumes", Some(path)) => spec
                .binds()
                .iter()
                .any(|bind| bind.split(':').nth(1) == Some(path)),
            _ => false,
        };
        in_value(Some(want)) || in_value(image) || added
    };
    match have {
        None | Some(Value::Null) => true,
        Some(Value::Array(items)) => items.iter().all(|item| allowed(item, None)),
        // Labels: key and value; `Volumes`, `ExposedPorts`: keys with empty values.
        Some(Value::Object(map)) => map.iter().all(|(key, value)| match value {
            Value::Object(empty) if empty.is_empty() => allowed(&Value::String(key.clone()), None),
            value => allowed(value, Some(key)),
        }),
        Some(_) => false,
    }
}

/// Nothing set: null, empty, zero, false, `no` (the restart policy), or -1 ("unlimited").
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => matches!(n.as_i64(), Some(0 | -1)),
        Value::String(s) => s.is_empty() || s == "no",
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.values().all(is_empty),
    }
}

fn compare(check: Check, declared: &Value, running: Option<&Value>) -> bool {
    let Some(running) = running else {
        return false;
    };
    let words = |items: &[Value], normal: &dyn Fn(&str) -> String| -> Vec<Value> {
        items
            .iter()
            .map(|v| match v.as_str() {
                Some(s) => Value::String(normal(s)),
                None => v.clone(),
            })
            .collect()
    };
    match (check, declared, running) {
        (Check::Contains, Value::Array(want), Value::Array(have)) => {
            want.iter().all(|item| have.contains(item))
        }
        (Check::Contains, Value::Object(want), Value::Object(have)) => {
            want.iter().all(|(k, v)| have.get(k) == Some(v))
        }
        (Check::SameSet, Value::Array(want), Value::Array(have)) => same_items(want, have),
        (Check::Capabilities, Value::Array(want), Value::Array(have)) => {
            let normal = |s: &str| {
                let upper = s.to_ascii_uppercase();
                upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
            };
            same_items(&words(want, &normal), &words(have, &normal))
        }
        (Check::Binds, Value::Array(want), Value::Array(have)) => {
            // `:rw` is the default mode, as the declaration's normalisation says.
            let normal = |s: &str| s.strip_suffix(":rw").unwrap_or(s).to_string();
            same_items(&words(want, &normal), &words(have, &normal))
        }
        (Check::Links, Value::Array(want), Value::Array(have)) => {
            // The Engine keeps `/peer:/self/alias`; declared is `peer:alias`.
            let normal = |s: &str| match s.split_once(':') {
                Some((peer, path)) => format!(
                    "{}:{}",
                    peer.trim_start_matches('/'),
                    path.rsplit('/').next().unwrap_or(path)
                ),
                None => s.to_string(),
            };
            same_items(&words(want, &normal), &words(have, &normal))
        }
        (Check::Signal, Value::String(want), Value::String(have)) => {
            let normal = |s: &str| {
                let upper = s.to_ascii_uppercase();
                upper.strip_prefix("SIG").unwrap_or(&upper).to_string()
            };
            normal(want) == normal(have)
        }
        (Check::Lenient, declared, running) => declared == running || is_empty(running),
        (_, declared, running) => declared == running,
    }
}

fn same_items(want: &[Value], have: &[Value]) -> bool {
    want.len() == have.len() && want.iter().all(|item| have.contains(item))
}

/// The container is attached to exactly the declared networks (or to the Engine's default
/// one when none and no `network_mode` is declared), with the declared aliases and addresses.
fn same_networks(spec: &ContainerSpec, running: &Value) -> bool {
    let attached = running
        .get("Networks")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let declared = spec.networks();
    if declared.is_empty() {
        // `network_mode` (declared) is compared where it lands; the default one is `bridge`.
        return spec.network_mode().is_some() || attached.keys().all(|name| name == "bridge");
    }
    if attached.len() != declared.len() {
        return false;
    }
    declared.iter().all(|(name, attachment)| {
        let Some(endpoint) = attached.get(name) else {
            return false;
        };
        let aliases: Vec<&str> = endpoint
            .get("Aliases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let address = |key: &str| {
            get_path(endpoint, &format!("IPAMConfig.{key}"))
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
        };
        attachment
            .aliases
            .iter()
            .all(|a| aliases.contains(&a.as_str()))
            && attachment.ipv4_address.as_deref() == address("IPv4Address")
            && attachment.ipv6_address.as_deref() == address("IPv6Address")
    })
}

/// Port bindings, each with `HostIp` `""` when none is given, in any order.
fn same_bindings(declared: &Value, running: Option<&Value>) -> bool {
    let normal = |bindings: &Value| -> Vec<(String, Vec<(String, String)>)> {
        let mut ports: Vec<(String, Vec<(String, String)>)> = bindings
            .as_object()
            .into_iter()
            .flatten()
            .map(|(port, hosts)| {
                let mut hosts: Vec<(String, String)> = hosts
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|h| {
                        let text = |key: &str| {
                            h.get(key).and_then(Value::as_str).unwrap_or("").to_string()
                        };
                        (text("HostIp"), text("HostPort"))
                    })
                    .collect();
                hosts.sort();
                (port.clone(), hosts)
            })
            .collect();
        ports.sort();
        ports
    };
    running.is_some_and(|running| normal(declared) == normal(running))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(keywords: Value) -> ContainerSpec {
        ContainerSpec::from_keywords("web", keywords.as_object().unwrap()).unwrap()
    }

    /// As `inspect` shows a container `docker run` made with the settings declared below.
    fn inspect() -> Value {
        json!({
            "Config": {
                "Env": ["PATH=/bin", "APP_ENV=prod"],
                "Cmd": ["httpd", "-f"],
                "Labels": {"team": "web", "org.opencontainers.image.title": "app"},
                "ExposedPorts": {"80/tcp": {}},
                "StopTimeout": 5,
                "Hostname": "3f2a1b",
                "StopSignal": "TERM",
            },
            "HostConfig": {
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "Binds": ["/srv:/srv:rw"],
                "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                "CapAdd": ["CAP_SYS_TIME", "CAP_NET_ADMIN"],
                "Memory": 268435456,
                "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
                "Privileged": false,
                "NetworkMode": "front",
                "ShmSize": 67108864,
                "PidsLimit": null,
                "Links": ["/db:/web/database"],
            },
            "NetworkSettings": {"Networks": {"front": {"Aliases": ["web", "3f2a1b"]}}},
        })
    }

    fn image() -> Value {
        json!({
            "Env": ["PATH=/bin"],
            "Labels": {"org.opencontainers.image.title": "app"},
            "ExposedPorts": {"80/tcp": {}},
        })
    }

    fn declared() -> Value {
        json!({
            "environment": {"APP_ENV": "prod"},
            "command": "httpd -f",
            "labels": {"team": "web"},
            "port_bindings": ["8080:80"],
            "binds": ["/srv:/srv"],
            "restart_policy": "always",
            "cap_add": "NET_ADMIN,SYS_TIME",
            "mem_limit": "256m",
            "log_opt": {"max-size": "10m"},
            "networks": {"front": {"aliases": ["web"]}},
            "shutdown_timeout": 5,
            "stop_signal": "SIGTERM",
            "links": {"db": "database"},
            "privileged": false,
        })
    }

    #[test]
    fn a_container_that_runs_the_declaration_has_no_difference() {
        let running = running_config(&inspect(), Some(&image()));
        assert_eq!(
            differences(&spec(declared()), &running),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_declared_setting_that_differs_is_named() {
        let declared = spec(json!({
            "environment": {"APP_ENV": "dev"},
            "port_bindings": ["8081:80"],
            "cap_add": ["NET_ADMIN"],
            "privileged": true,
            "networks": ["back"],
            "labels": {"team": "web"},
            "command": "httpd -f",
            "binds": "/srv:/srv",
            "restart_policy": "always",
            "mem_limit": "256m",
            "shutdown_timeout": 5,
            "links": ["db:database"],
            "stop_signal": "TERM",
        }));
        let running = running_config(&inspect(), Some(&image()));
        assert_eq!(
            differences(&declared, &running),
            [
                "environment",
                "port_bindings",
                "networks",
                "cap_add",
                "privileged"
            ]
        );
    }

    #[test]
    fn what_is_set_though_not_declared_keeps_a_container_from_being_adopted() {
        let running = running_config(&inspect(), Some(&image()));
        let mut keywords = declared();
        let map = keywords.as_object_mut().unwrap();
        for name in ["restart_policy", "binds", "mem_limit", "command"] {
            map.remove(name);
        }
        let differing = differences(&spec(keywords), &running);
        assert_eq!(
            differing,
            [
                "command (not declared)",
                "binds (not declared)",
                "restart_policy (not declared)",
                "mem_limit (not declared)",
            ]
        );
        // An environment variable nobody declared, which the image does not set either.
        let mut extra = inspect();
        extra["Config"]["Env"] = json!(["PATH=/bin", "APP_ENV=prod", "DEBUG=1"]);
        let running = running_config(&extra, Some(&image()));
        assert_eq!(differences(&spec(declared()), &running), ["environment"]);
        // Another network, or a missing alias.
        let mut other = inspect();
        other["NetworkSettings"]["Networks"]["bridge"] = json!({});
        let running = running_config(&other, Some(&image()));
        assert_eq!(differences(&spec(declared()), &running), ["networks"]);
        let mut bare = inspect();
        bare["NetworkSettings"]["Networks"]["front"]["Aliases"] = json!([]);
        let running = running_config(&bare, Some(&image()));
        assert_eq!(differences(&spec(declared()), &running), ["networks"]);
    }
}
