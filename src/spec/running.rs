//! Whether a container runs with what is declared, read back from its `inspect` where each
//! keyword lands: how a container this tool did not create (made by `docker_container.running`
//! or by hand) is adopted rather than replaced, when it already is what is declared.

use serde_json::{Map, Value};

use crate::spec::declared::ContainerSpec;
use crate::spec::forms::port_bindings_api;
use crate::spec::keywords::{get_path, Check, Keyword, Lands};

/// What of a container's `inspect` the comparison reads: its `Config`, `HostConfig` and the
/// networks it is attached to (kept for a container that carries no record of ours).
pub fn running_config(inspect: &Value) -> Value {
    let mut kept = Map::new();
    for key in ["Config", "HostConfig"] {
        if let Some(part) = inspect.get(key) {
            kept.insert(key.into(), part.clone());
        }
    }
    if let Some(networks) = get_path(inspect, "NetworkSettings.Networks") {
        kept.insert("Networks".into(), networks.clone());
    }
    Value::Object(kept)
}

/// The declared keywords the container (as [`running_config`] kept it) does not run with; empty
/// when it runs with all of them. Undeclared keywords are not looked at.
pub fn differences(spec: &ContainerSpec, running: &Value) -> Vec<&'static str> {
    spec.declared()
        .filter(|(keyword, value)| !meets(keyword, value, running))
        .map(|(keyword, _)| keyword.name)
        .collect()
}

fn meets(keyword: &Keyword, value: &Value, running: &Value) -> bool {
    let declared = (keyword.api)(value);
    let at = |path: &str| get_path(running, path);
    match keyword.check {
        Check::Networks => {
            let attached = running.get("Networks").and_then(Value::as_object);
            value
                .as_object()
                .into_iter()
                .flatten()
                .all(|(name, _)| attached.is_some_and(|a| a.contains_key(name)))
        }
        Check::Bindings => same_bindings(&port_bindings_api(value), at("HostConfig.PortBindings")),
        check => {
            let path = match keyword.lands {
                Lands::Config(path) => format!("Config.{path}"),
                Lands::Host(path) => format!("HostConfig.{path}"),
                // Nothing the container holds says it: no reason to replace it.
                Lands::Special(_) | Lands::Nowhere(_) => return true,
            };
            compare(check, &declared, at(&path))
        }
    }
}

fn compare(check: Check, declared: &Value, running: Option<&Value>) -> bool {
    let Some(running) = running else {
        return false;
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
            let normal = |items: &[Value]| -> Vec<Value> {
                items
                    .iter()
                    .map(|v| {
                        let upper = v.as_str().unwrap_or_default().to_ascii_uppercase();
                        Value::String(upper.strip_prefix("CAP_").unwrap_or(&upper).to_string())
                    })
                    .collect()
            };
            same_items(&normal(want), &normal(have))
        }
        (Check::Binds, Value::Array(want), Value::Array(have)) => {
            // `:rw` is the default mode, as the declaration's normalisation says.
            let strip = |items: &[Value]| -> Vec<Value> {
                items
                    .iter()
                    .map(|v| match v.as_str() {
                        Some(s) => Value::String(s.strip_suffix(":rw").unwrap_or(s).to_string()),
                        None => v.clone(),
                    })
                    .collect()
            };
            same_items(&strip(want), &strip(have))
        }
        (_, declared, running) => declared == running,
    }
}

fn same_items(want: &[Value], have: &[Value]) -> bool {
    want.len() == have.len() && want.iter().all(|item| have.contains(item))
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

    /// As `inspect` shows a container `docker run` made with the same settings.
    fn inspect() -> Value {
        json!({
            "Config": {
                "Env": ["PATH=/bin", "APP_ENV=prod"],
                "Cmd": ["httpd", "-f"],
                "Labels": {"team": "web", "org.opencontainers.image.title": "app"},
                "ExposedPorts": {"80/tcp": {}},
                "StopTimeout": 5,
            },
            "HostConfig": {
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                "Binds": ["/srv:/srv:rw"],
                "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                "CapAdd": ["CAP_SYS_TIME", "CAP_NET_ADMIN"],
                "Memory": 268435456,
                "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}},
            },
            "NetworkSettings": {"Networks": {"front": {}, "bridge": {}}},
        })
    }

    #[test]
    fn a_container_that_runs_the_declaration_has_no_difference() {
        let declared = spec(json!({
            "environment": {"APP_ENV": "prod"},
            "command": "httpd -f",
            "labels": {"team": "web"},
            "port_bindings": ["8080:80"],
            "binds": ["/srv:/srv"],
            "restart_policy": "always",
            "cap_add": "NET_ADMIN,SYS_TIME",
            "mem_limit": "256m",
            "log_opt": {"max-size": "10m"},
            "networks": ["front"],
            "shutdown_timeout": 5,
            "privileged": false,
        }));
        let running = running_config(&inspect());
        assert_eq!(differences(&declared, &running), Vec::<&str>::new());
    }

    #[test]
    fn each_setting_that_differs_is_named() {
        let declared = spec(json!({
            "environment": {"APP_ENV": "dev"},
            "port_bindings": ["8081:80"],
            "cap_add": ["NET_ADMIN"],
            "privileged": true,
            "networks": ["back"],
            "labels": {"team": "web"},
        }));
        let running = running_config(&inspect());
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
}
