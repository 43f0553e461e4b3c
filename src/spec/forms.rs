//! The value forms the keywords accept, as Salt's `docker_container.running` takes them
//! (strings, comma-separated strings, lists, dicts, `key=value` lists, byte sizes, ...), each
//! read strictly and normalised so that equal intent gives equal values. A value is never quoted
//! in an error when it may be a secret.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::input::{describe, type_name, whole_number, Invalid};
use crate::spec::record::LABEL_PREFIX;

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

pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn parse_string(inv: &Invalid, keyword: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(inv.err(
            keyword,
            format!("expected a non-empty string, got {}", type_name(other)),
        )),
    }
}

/// A single word: user, hostname, network mode.
pub(crate) fn parse_name(inv: &Invalid, keyword: &str, value: &Value) -> Result<String> {
    let s = parse_string(inv, keyword, value)?;
    if s.chars().any(char::is_whitespace) {
        return Err(inv.err(keyword, format!("{s:?} must not contain whitespace")));
    }
    Ok(s)
}

/// A list, or a comma-separated string (Salt accepts both for list-valued keywords).
pub(crate) fn parse_list(inv: &Invalid, keyword: &str, value: &Value) -> Result<Vec<String>> {
    match value {
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                scalar_text(item).ok_or_else(|| {
                    inv.err(
                        keyword,
                        format!("list items must be strings, got {}", type_name(item)),
                    )
                })
            })
            .collect(),
        other => Err(inv.err(
            keyword,
            format!(
                "expected a list or a comma-separated string, got {}",
                type_name(other)
            ),
        )),
    }
}

pub(crate) fn parse_argv(inv: &Invalid, keyword: &str, value: &Value) -> Result<Vec<String>> {
    match value {
        Value::String(s) => split_shell_words(s).map_err(|why| inv.err(keyword, why)),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                scalar_text(item).ok_or_else(|| {
                    inv.err(
                        keyword,
                        format!("arguments must be strings, got {}", type_name(item)),
                    )
                })
            })
            .collect(),
        other => Err(inv.err(
            keyword,
            format!(
                "expected a string or a list of strings, got {}",
                type_name(other)
            ),
        )),
    }
}

/// Where a quote opened that never closed, by position: a command line may carry a secret, so
/// the message never quotes it.
pub(crate) fn unclosed(quote: &str, input: &str) -> String {
    format!(
        "an unclosed {quote} (the command is {} characters long)",
        input.chars().count()
    )
}

/// POSIX-shell-like word splitting with single and double quotes and backslash escapes, the way
/// Salt splits a string `command`.
pub fn split_shell_words(input: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = input.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(unclosed("single quote", input)),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(unclosed("double quote", input)),
                        },
                        Some(c) => word.push(c),
                        None => return Err(unclosed("double quote", input)),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("it ends in a backslash".to_string()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

pub(crate) fn check_env_name(inv: &Invalid, name: &str) -> Result<()> {
    if name.is_empty() || name.contains('=') || name.chars().any(char::is_whitespace) {
        return Err(inv.err(
            "environment",
            format!("{name:?} is not a valid variable name"),
        ));
    }
    Ok(())
}

/// A dict, a list of `KEY=VALUE`, or a list of one-key dicts (Salt's three forms).
pub(crate) fn parse_environment(inv: &Invalid, value: &Value) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    let mut put = |name: &str, value: &Value| -> Result<()> {
        check_env_name(inv, name)?;
        let text = scalar_text(value).ok_or_else(|| {
            inv.err(
                "environment",
                format!(
                    "the value of {name:?} must be a string or a number, got {}",
                    type_name(value)
                ),
            )
        })?;
        if env.insert(name.to_string(), text).is_some() {
            return Err(inv.err("environment", format!("{name:?} is declared twice")));
        }
        Ok(())
    };
    match value {
        Value::Object(map) => {
            for (name, v) in map {
                put(name, v)?;
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                match item {
                    Value::String(pair) => {
                        // Never the item itself: without its "=" the value is still in it.
                        let (name, v) = pair.split_once('=').ok_or_else(|| {
                            inv.err(
                                "environment",
                                format!("item {} is not KEY=VALUE (it has no \"=\")", index + 1),
                            )
                        })?;
                        put(name, &Value::String(v.to_string()))?;
                    }
                    Value::Object(map) if map.len() == 1 => {
                        let (name, v) = map.iter().next().expect("one entry");
                        put(name, v)?;
                    }
                    other => {
                        return Err(inv.err(
                            "environment",
                            format!(
                                "list items must be KEY=VALUE strings, got {}",
                                type_name(other)
                            ),
                        ))
                    }
                }
            }
        }
        other => {
            return Err(inv.err(
                "environment",
                format!(
                    "expected a dict or a list of KEY=VALUE, got {}",
                    type_name(other)
                ),
            ))
        }
    }
    Ok(env)
}

/// The keyword port bindings are declared with (named in their errors).
const PORT_BINDINGS: &str = "port_bindings";
/// The most ports one range expands to: a request is built and compared port by port.
const MAX_PORT_RANGE: u16 = 1023;

pub(crate) fn parse_port(inv: &Invalid, k: &str, text: &str, what: &str) -> Result<u16> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 && text.chars().all(|c| c.is_ascii_digit()) => Ok(port),
        _ => Err(inv.err(k, format!("{what} {text:?} is not a port number (1-65535)"))),
    }
}

/// `"80"`, `"80/udp"` -> `"80/tcp"`, `"80/udp"`.
pub(crate) fn container_port_key(inv: &Invalid, k: &str, text: &str) -> Result<String> {
    let (port, proto) = match text.split_once('/') {
        Some((port, proto)) => (port, proto),
        None => (text, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(inv.err(
            k,
            format!("protocol {proto:?} in {text:?} must be tcp, udp or sctp"),
        ));
    }
    let port = parse_port(inv, k, port, "container port")?;
    Ok(format!("{port}/{proto}"))
}

pub(crate) fn host_binding(inv: &Invalid, ip: &str, port: &str) -> Result<HostBinding> {
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(inv.err(
            "port_bindings",
            format!("host IP {ip:?} is not an IP address"),
        ));
    }
    let host_port = if port.is_empty() {
        String::new()
    } else if let Some((first, last)) = port.split_once('-') {
        // A range: one port per replica (see `ContainerSpec::for_replica`).
        let (first, last) = (
            parse_port(inv, PORT_BINDINGS, first, "host port")?,
            parse_port(inv, PORT_BINDINGS, last, "host port")?,
        );
        if first > last {
            return Err(inv.err(
                "port_bindings",
                format!("host port range {port:?} runs backwards"),
            ));
        }
        format!("{first}-{last}")
    } else {
        parse_port(inv, PORT_BINDINGS, port, "host port")?.to_string()
    };
    Ok(HostBinding {
        host_ip: ip.to_string(),
        host_port,
    })
}

/// `container`, `host:container`, `ip:host:container`, `ip::container`, each with `/proto`;
/// a container-side range `8085-8087` (with a host range of the same length, or none) is one
/// binding per port, as Salt's translation makes it.
pub(crate) fn parse_port_binding_text(
    inv: &Invalid,
    text: &str,
) -> Result<Vec<(String, HostBinding)>> {
    let parts: Vec<&str> = text.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [container] => ("", "", *container),
        [host, container] => ("", *host, *container),
        [ip, host, container] => (*ip, *host, *container),
        _ => {
            return Err(inv.err(
                "port_bindings",
                format!("{text:?} is not host:container, ip:host:container or container"),
            ))
        }
    };
    let (ports, proto) = match container.split_once('/') {
        Some((ports, proto)) => (ports, format!("/{proto}")),
        None => (container, String::new()),
    };
    let Some((first, last)) = ports.split_once('-') else {
        return Ok(vec![(
            container_port_key(inv, PORT_BINDINGS, container)?,
            host_binding(inv, ip, host)?,
        )]);
    };
    let (first, last) = (
        parse_port(inv, PORT_BINDINGS, first, "container port")?,
        parse_port(inv, PORT_BINDINGS, last, "container port")?,
    );
    if first > last || last - first > MAX_PORT_RANGE {
        return Err(inv.err(
            PORT_BINDINGS,
            format!("container port range {ports:?} is not a range of at most 1024 ports"),
        ));
    }
    let count = last - first;
    let host_first = match host.split_once('-') {
        None if host.is_empty() => None,
        Some((h1, h2)) => {
            let (h1, h2) = (
                parse_port(inv, PORT_BINDINGS, h1, "host port")?,
                parse_port(inv, PORT_BINDINGS, h2, "host port")?,
            );
            if h2.checked_sub(h1) != Some(count) {
                return Err(inv.err(
                    "port_bindings",
                    format!(
                        "{text:?}: the host port range does not have as many ports as the \
                         container port range"
                    ),
                ));
            }
            Some(h1)
        }
        None => {
            return Err(inv.err(
                "port_bindings",
                format!(
                    "{text:?}: a container port range needs a host port range of the same \
                     length, or no host port"
                ),
            ))
        }
    };
    (0..=count)
        .map(|i| {
            let host_port = host_first.map(|h| (h + i).to_string()).unwrap_or_default();
            Ok((
                container_port_key(inv, PORT_BINDINGS, &format!("{}{proto}", first + i))?,
                host_binding(inv, ip, &host_port)?,
            ))
        })
        .collect()
}

/// A list of `host:container[/proto]` strings (or a comma-separated string), or the Engine's
/// dict `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`, or Salt's `{container: host}`.
pub(crate) fn parse_port_bindings(
    inv: &Invalid,
    value: &Value,
) -> Result<BTreeMap<String, Vec<HostBinding>>> {
    let mut bindings: BTreeMap<String, Vec<HostBinding>> = BTreeMap::new();
    match value {
        Value::Object(map) => {
            for (container, hosts) in map {
                let key = container_port_key(inv, PORT_BINDINGS, container)?;
                let entry = bindings.entry(key).or_default();
                let host_values: Vec<&Value> = match hosts {
                    Value::Null => vec![],
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for host in host_values {
                    let binding = match host {
                        Value::Object(h) => {
                            for k in h.keys() {
                                if k != "HostIp" && k != "HostPort" {
                                    return Err(inv.err(
                                        "port_bindings",
                                        format!("unknown key {k:?} in the binding of {container:?} (use HostIp, HostPort)"),
                                    ));
                                }
                            }
                            let field = |name: &str| -> Result<String> {
                                match h.get(name) {
                                    None | Some(Value::Null) => Ok(String::new()),
                                    Some(v) => scalar_text(v).ok_or_else(|| {
                                        inv.err(
                                            "port_bindings",
                                            format!("{name} of {container:?} must be a string"),
                                        )
                                    }),
                                }
                            };
                            host_binding(inv, &field("HostIp")?, &field("HostPort")?)?
                        }
                        other => {
                            let text = scalar_text(other).ok_or_else(|| {
                                inv.err(
                                    "port_bindings",
                                    format!("the binding of {container:?} must be a port or a dict, got {}", type_name(other)),
                                )
                            })?;
                            match text.rsplit_once(':') {
                                Some((ip, port)) => host_binding(inv, ip, port)?,
                                None => host_binding(inv, "", &text)?,
                            }
                        }
                    };
                    entry.push(binding);
                }
            }
        }
        Value::Array(_) | Value::String(_) => {
            for text in parse_list(inv, "port_bindings", value)? {
                for (key, binding) in parse_port_binding_text(inv, &text)? {
                    bindings.entry(key).or_default().push(binding);
                }
            }
        }
        Value::Number(n) => {
            for (key, binding) in parse_port_binding_text(inv, &n.to_string())? {
                bindings.entry(key).or_default().push(binding);
            }
        }
        other => {
            return Err(inv.err(
                "port_bindings",
                format!(
                    "expected a list of host:container strings or a dict, got {}",
                    type_name(other)
                ),
            ))
        }
    }
    for hosts in bindings.values_mut() {
        hosts.sort();
        let before = hosts.len();
        hosts.dedup();
        if hosts.len() != before {
            return Err(inv.err("port_bindings", "a host binding is declared twice"));
        }
    }
    Ok(bindings)
}

/// `source:/container/path[:options]`, sorted (their order has no meaning to the Engine).
pub(crate) fn parse_binds(inv: &Invalid, value: &Value) -> Result<Vec<String>> {
    let mut binds = parse_list(inv, "binds", value)?;
    for bind in &binds {
        let parts: Vec<&str> = bind.split(':').collect();
        let ok = matches!(parts.len(), 2 | 3)
            && !parts[0].is_empty()
            && parts[1].starts_with('/')
            && parts.get(2).is_none_or(|opts| !opts.is_empty());
        if !ok {
            return Err(inv.err(
                "binds",
                format!("{bind:?} is not source:/container/path[:options]"),
            ));
        }
    }
    // `rw` is the default mode: `/a:/b:rw` and `/a:/b` declare the same thing.
    for bind in &mut binds {
        if let Some(stripped) = bind.strip_suffix(":rw") {
            *bind = stripped.to_string();
        }
    }
    binds.sort();
    binds.dedup();
    Ok(binds)
}

pub(crate) fn parse_volumes(inv: &Invalid, value: &Value) -> Result<BTreeSet<String>> {
    let volumes = parse_list(inv, "volumes", value)?;
    for path in &volumes {
        if !path.starts_with('/') || path.contains(':') {
            return Err(inv.err(
                "volumes",
                format!("{path:?} is not an absolute container path (use binds for source:target)"),
            ));
        }
    }
    Ok(volumes.into_iter().collect())
}

pub(crate) fn parse_labels(inv: &Invalid, value: &Value) -> Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
    // Salt's comma-separated string is its list.
    let split;
    let value = match value {
        Value::String(text) => {
            split = Value::from(parse_list(inv, "labels", &json!(text))?);
            &split
        }
        other => other,
    };
    let pairs: Vec<(String, String)> = match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                scalar_text(v).map(|v| (k.clone(), v)).ok_or_else(|| {
                    inv.err("labels", format!("the value of {k:?} must be a string"))
                })
            })
            .collect::<Result<_>>()?,
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (s.clone(), String::new()),
                }),
                Value::Object(map) if map.len() == 1 => {
                    let (k, v) = map.iter().next().expect("one entry");
                    scalar_text(v).map(|v| (k.clone(), v)).ok_or_else(|| {
                        inv.err("labels", format!("the value of {k:?} must be a string"))
                    })
                }
                other => Err(inv.err(
                    "labels",
                    format!(
                        "list items must be key=value strings, got {}",
                        type_name(other)
                    ),
                )),
            })
            .collect::<Result<_>>()?,
        other => {
            return Err(inv.err(
                "labels",
                format!(
                    "expected a dict or a list of key=value, got {}",
                    type_name(other)
                ),
            ))
        }
    };
    for (key, val) in pairs {
        if key.is_empty() {
            return Err(inv.err("labels", "a label key is empty"));
        }
        if key.starts_with(LABEL_PREFIX) {
            return Err(inv.err(
                "labels",
                format!("{key:?} is reserved: labels under {LABEL_PREFIX} record what this tool deployed"),
            ));
        }
        if labels.insert(key.clone(), val).is_some() {
            return Err(inv.err("labels", format!("{key:?} is declared twice")));
        }
    }
    Ok(labels)
}

/// `no`, `always`, `unless-stopped`, `on-failure[:N]`, or `{Name, MaximumRetryCount}` (the
/// Engine's form, as `docker inspect` shows it). `no` is the Engine's default and normalises to
/// "not declared"; a retry count of 0 means "no limit".
pub(crate) fn parse_restart_policy(inv: &Invalid, value: &Value) -> Result<Option<RestartPolicy>> {
    let (name, retries) = match value {
        Value::String(s) => match s.split_once(':') {
            Some((name, n)) => {
                let n: i64 = n
                    .parse()
                    .ok()
                    .filter(|n| (0..=MAX_RETRIES).contains(n))
                    .ok_or_else(|| {
                        inv.err(
                            "restart_policy",
                            format!("the retry count after \"{name}:\" must be a whole number from 0 to {MAX_RETRIES}"),
                        )
                    })?;
                (name.to_string(), Some(n))
            }
            None => (s.clone(), None),
        },
        Value::Object(map) => {
            for k in map.keys() {
                if k != "Name" && k != "MaximumRetryCount" {
                    return Err(inv.err(
                        "restart_policy",
                        format!("unknown key {k:?} (use Name, MaximumRetryCount)"),
                    ));
                }
            }
            let name = map
                .get("Name")
                .and_then(Value::as_str)
                .ok_or_else(|| inv.err("restart_policy", "Name must be a string"))?;
            let retries = match map.get("MaximumRetryCount") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_i64()
                        .filter(|n| (0..=MAX_RETRIES).contains(n))
                        .ok_or_else(|| {
                            inv.err(
                                "restart_policy",
                                format!("MaximumRetryCount must be a whole number from 0 to {MAX_RETRIES}"),
                            )
                        })?,
                ),
            };
            (name.to_string(), retries)
        }
        other => {
            return Err(inv.err(
                "restart_policy",
                format!(
                    "expected a string such as \"on-failure:3\", got {}",
                    type_name(other)
                ),
            ))
        }
    };
    let retries = retries.filter(|n| *n > 0);
    match name.as_str() {
        "" | "no" if retries.is_none() => return Ok(None),
        "always" | "unless-stopped" if retries.is_none() => {}
        "on-failure" => {}
        "" | "no" | "always" | "unless-stopped" => {
            return Err(inv.err(
                "restart_policy",
                format!("a retry count is only allowed with on-failure, not {name:?}"),
            ))
        }
        _ => {
            return Err(inv.err(
                "restart_policy",
                format!("{name:?} is not one of no, always, unless-stopped, on-failure[:N]"),
            ))
        }
    }
    Ok(Some(RestartPolicy {
        name,
        maximum_retry_count: retries,
    }))
}

pub(crate) fn parse_attachment(
    inv: &Invalid,
    network: &str,
    value: &Value,
) -> Result<NetworkAttachment> {
    let mut attachment = NetworkAttachment::default();
    // Salt's form: a list of one-key dicts, `- aliases: [a, b]`.
    let map: Map<String, Value> = match value {
        Value::Null => return Ok(attachment),
        Value::Object(map) => map.clone(),
        Value::Array(items) => {
            let mut merged = Map::new();
            for item in items {
                match item {
                    Value::Object(m) => merged.extend(m.clone()),
                    other => {
                        return Err(inv.err(
                            "networks",
                            format!(
                                "settings of {network:?} must be dicts, got {}",
                                type_name(other)
                            ),
                        ))
                    }
                }
            }
            merged
        }
        other => {
            return Err(inv.err(
                "networks",
                format!(
                    "settings of {network:?} must be a dict, got {}",
                    type_name(other)
                ),
            ))
        }
    };
    for (key, v) in &map {
        match key.as_str() {
            "aliases" => {
                attachment.aliases = parse_list(inv, "networks", v)?;
                attachment.aliases.sort();
                attachment.aliases.dedup();
            }
            "ipv4_address" => attachment.ipv4_address = Some(parse_name(inv, "networks", v)?),
            "ipv6_address" => attachment.ipv6_address = Some(parse_name(inv, "networks", v)?),
            other => {
                return Err(inv.err(
                    "networks",
                    format!("unknown setting {other:?} for network {network:?} (known: aliases, ipv4_address, ipv6_address)"),
                ))
            }
        }
    }
    Ok(attachment)
}

/// A list of network names, a list of one-key dicts `{name: settings}`, or a dict.
pub(crate) fn parse_networks(
    inv: &Invalid,
    value: &Value,
) -> Result<BTreeMap<String, NetworkAttachment>> {
    let mut networks = BTreeMap::new();
    let mut put = |name: &str, settings: &Value| -> Result<()> {
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(inv.err("networks", format!("{name:?} is not a network name")));
        }
        let attachment = parse_attachment(inv, name, settings)?;
        if networks.insert(name.to_string(), attachment).is_some() {
            return Err(inv.err("networks", format!("{name:?} is declared twice")));
        }
        Ok(())
    };
    match value {
        Value::Object(map) => {
            for (name, settings) in map {
                put(name, settings)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(name) => put(name, &Value::Null)?,
                    Value::Object(map) if map.len() == 1 => {
                        let (name, settings) = map.iter().next().expect("one entry");
                        put(name, settings)?;
                    }
                    other => {
                        return Err(inv.err(
                            "networks",
                            format!("list items must be network names, got {}", type_name(other)),
                        ))
                    }
                }
            }
        }
        Value::String(_) => {
            for name in parse_list(inv, "networks", value)? {
                put(&name, &Value::Null)?;
            }
        }
        other => {
            return Err(inv.err(
                "networks",
                format!(
                    "expected a list of network names or a dict, got {}",
                    type_name(other)
                ),
            ))
        }
    }
    Ok(networks)
}

/// `host:ip` strings (or a comma-separated string), or a dict `{host: ip}`; sorted.
pub(crate) fn parse_extra_hosts(inv: &Invalid, value: &Value) -> Result<Vec<String>> {
    let pairs: Vec<(String, String)> = match value {
        Value::Object(map) => map
            .iter()
            .map(|(host, ip)| {
                scalar_text(ip).map(|ip| (host.clone(), ip)).ok_or_else(|| {
                    inv.err(
                        "extra_hosts",
                        format!("the address of {host:?} must be a string"),
                    )
                })
            })
            .collect::<Result<_>>()?,
        _ => parse_list(inv, "extra_hosts", value)?
            .into_iter()
            .map(|entry| {
                entry
                    .split_once(':')
                    .map(|(h, ip)| (h.to_string(), ip.to_string()))
                    .ok_or_else(|| inv.err("extra_hosts", format!("{entry:?} is not host:ip")))
            })
            .collect::<Result<_>>()?,
    };
    let mut hosts = Vec::with_capacity(pairs.len());
    for (host, ip) in pairs {
        if host.is_empty() || ip.parse::<std::net::IpAddr>().is_err() && ip != "host-gateway" {
            return Err(inv.err("extra_hosts", format!("{host}:{ip} is not host:ip")));
        }
        hosts.push(format!("{host}:{ip}"));
    }
    hosts.sort();
    hosts.dedup();
    Ok(hosts)
}

/// The longest `shutdown_timeout`: a day (the Engine waits that long before it kills).
pub const MAX_SHUTDOWN_TIMEOUT_S: i64 = 86_400;
/// The longest healthcheck duration (interval, timeout, start period): a day, in ms.
pub const MAX_HEALTH_DURATION_MS: i64 = 86_400_000;
/// The most healthcheck retries, and restart-policy retries, anyone needs.
pub const MAX_RETRIES: i64 = 1_000_000;

/// A whole number in `0..=max` (a number, or its text).
pub(crate) fn parse_whole(
    inv: &Invalid,
    keyword: &str,
    what: &str,
    value: &Value,
    max: i64,
) -> Result<i64> {
    let number = whole_number(value);
    number.filter(|n| (0..=max).contains(n)).ok_or_else(|| {
        inv.err(
            keyword,
            format!("expected {what} from 0 to {max}, got {}", describe(value)),
        )
    })
}

pub(crate) fn parse_seconds(inv: &Invalid, keyword: &str, value: &Value) -> Result<i64> {
    parse_whole(
        inv,
        keyword,
        "a whole number of seconds",
        value,
        MAX_SHUTDOWN_TIMEOUT_S,
    )
}

/// A number of nanoseconds (the Engine's durations) as the text of the milliseconds it is.
fn nanos_as_millis(value: &Value) -> Value {
    match value.as_f64() {
        Some(ns) => Value::String(format!("{}ms", ns / 1e6)),
        None => value.clone(),
    }
}

/// The least number a duration in seconds is read as nanoseconds from (docker-py's unit): a
/// million seconds is 11 days, far beyond any health check, and a million nanoseconds is 1 ms.
const NANOSECONDS_FROM: f64 = 1e6;

/// `"500ms"`, `"2s"`, `"1m"`, a number of seconds (fractions allowed), or docker-py's
/// nanoseconds (a number of a million or more) -> milliseconds, at most
/// [`MAX_HEALTH_DURATION_MS`].
pub(crate) fn parse_duration_ms(inv: &Invalid, what: &str, value: &Value) -> Result<i64> {
    let ms = match value {
        Value::Number(n) => n.as_f64().map(|s| match s >= NANOSECONDS_FROM {
            true => s / 1e6,
            false => s * 1000.0,
        }),
        Value::String(s) => {
            let s = s.trim();
            let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
                (n, 1.0)
            } else if let Some(n) = s.strip_suffix('s') {
                (n, 1000.0)
            } else if let Some(n) = s.strip_suffix('m') {
                (n, 60_000.0)
            } else {
                (s, 1000.0)
            };
            number.trim().parse::<f64>().ok().map(|n| n * scale)
        }
        _ => None,
    };
    ms.filter(|ms| ms.is_finite() && (0.0..=MAX_HEALTH_DURATION_MS as f64).contains(ms))
        .map(|ms| ms.round() as i64)
        .ok_or_else(|| {
            inv.err(
                "healthcheck",
                format!(
                    "{what} must be a duration from 0 to 24 hours such as 5, \"5s\" or \"500ms\", \
                     got {}",
                    describe(value)
                ),
            )
        })
}

/// `{test, interval, timeout, retries, start_period}`; `test` as a shell string, an argv, or
/// the Engine's `["CMD", ...]` / `["CMD-SHELL", "..."]` / `["NONE"]`.
pub(crate) fn parse_healthcheck(inv: &Invalid, value: &Value) -> Result<HealthCheck> {
    let Value::Object(map) = value else {
        return Err(inv.err(
            "healthcheck",
            format!(
                "expected a dict with test, interval, timeout, retries, start_period; got {}",
                type_name(value)
            ),
        ));
    };
    let mut check = HealthCheck::default();
    let mut seen = BTreeSet::new();
    for (key, value) in map {
        // docker-py's and the Engine's spelling: durations in nanoseconds.
        let nanos = key.starts_with(char::is_uppercase);
        let key = match key.as_str() {
            "Test" => "test",
            "Interval" => "interval",
            "Timeout" => "timeout",
            "Retries" => "retries",
            "StartPeriod" => "start_period",
            other => other,
        };
        if !seen.insert(key) {
            return Err(inv.err("healthcheck", format!("{key} is given twice")));
        }
        let ns_value;
        let value = match (nanos, value) {
            (true, Value::Number(_)) if key != "retries" => {
                // Already read as nanoseconds: given to the reader as "<ms>ms".
                ns_value = nanos_as_millis(value);
                &ns_value
            }
            _ => value,
        };
        match key {
            "test" => {
                check.test = match value {
                    Value::String(s) if s.eq_ignore_ascii_case("none") => vec!["NONE".into()],
                    Value::String(s) => vec!["CMD-SHELL".into(), s.clone()],
                    Value::Array(_) => {
                        let argv = parse_argv(inv, "healthcheck", value)?;
                        match argv.first().map(String::as_str) {
                            Some("CMD" | "CMD-SHELL" | "NONE") => argv,
                            _ => std::iter::once("CMD".to_string()).chain(argv).collect(),
                        }
                    }
                    other => {
                        return Err(inv.err(
                            "healthcheck",
                            format!("test must be a string or a list, got {}", type_name(other)),
                        ))
                    }
                }
            }
            "interval" => check.interval_ms = Some(parse_duration_ms(inv, key, value)?),
            "timeout" => check.timeout_ms = Some(parse_duration_ms(inv, key, value)?),
            "start_period" => check.start_period_ms = Some(parse_duration_ms(inv, key, value)?),
            "retries" => {
                check.retries = Some(parse_whole(
                    inv,
                    "healthcheck",
                    "retries as a whole number",
                    value,
                    MAX_RETRIES,
                )?)
            }
            other => {
                return Err(inv.err(
                    "healthcheck",
                    format!(
                        "unknown key {other:?} (known: test, interval, timeout, retries, \
                         start_period)"
                    ),
                ))
            }
        }
    }
    if check.test.is_empty() || check.test == ["CMD"] || check.test == ["CMD-SHELL"] {
        return Err(inv.err("healthcheck", "test is required (a command to run)"));
    }
    Ok(check)
}

pub(crate) fn parse_signal(inv: &Invalid, value: &Value) -> Result<String> {
    let signal = parse_string(inv, "stop_signal", value)?;
    if !signal
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-')
    {
        return Err(inv.err(
            "stop_signal",
            format!("{signal:?} is not a signal name or number"),
        ));
    }
    // `TERM`, `term` and `SIGTERM` are one signal to the Engine; record one spelling.
    let upper = signal.to_ascii_uppercase();
    if upper.starts_with(|c: char| c.is_ascii_alphabetic()) && !upper.starts_with("SIG") {
        return Ok(format!("SIG{upper}"));
    }
    Ok(upper)
}

// ---- The table's readers: one per value form (see `keywords::Read`). ---------------------

/// `Some(value)` as JSON, or `None` when `empty` (an empty value is the Engine's default).
fn recorded<T: Serialize>(value: T, empty: bool) -> Result<Option<Value>> {
    Ok((!empty).then(|| serde_json::to_value(value).unwrap_or(Value::Null)))
}

pub(crate) fn argv(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    recorded(parse_argv(inv, k, v)?, false)
}

pub(crate) fn environment(inv: &Invalid, _: &'static str, v: &Value) -> Result<Option<Value>> {
    let env = parse_environment(inv, v)?;
    recorded(&env, env.is_empty())
}

/// `{"A": "1"}` -> `["A=1"]`.
pub(crate) fn env_api(value: &Value) -> Value {
    let pairs = value.as_object().into_iter().flatten();
    Value::Array(
        pairs
            .map(|(k, v)| Value::String(format!("{k}={}", v.as_str().unwrap_or_default())))
            .collect(),
    )
}

pub(crate) fn port_bindings(inv: &Invalid, _: &'static str, v: &Value) -> Result<Option<Value>> {
    let bindings = parse_port_bindings(inv, v)?;
    recorded(&bindings, bindings.is_empty())
}

/// `{"80/tcp": [{"host_ip": "", "host_port": "8080"}]}` as the Engine takes it.
pub(crate) fn port_bindings_api(value: &Value) -> Value {
    let mut map = Map::new();
    for (port, hosts) in value.as_object().into_iter().flatten() {
        let hosts: Vec<Value> = hosts
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| json!({"HostIp": h["host_ip"], "HostPort": h["host_port"]}))
            .collect();
        map.insert(port.clone(), Value::Array(hosts));
    }
    Value::Object(map)
}

pub(crate) fn binds(inv: &Invalid, _: &'static str, v: &Value) -> Result<Option<Value>> {
    let binds = match v {
        // docker-py's form: {source: {bind: /path, ro: True} | {bind, mode: ro}}.
        Value::Object(map) => {
            let mut binds = Vec::new();
            for (source, target) in map {
                let (bind, mode) = match target {
                    Value::Object(t) => {
                        if let Some(key) = t
                            .keys()
                            .find(|k| !["bind", "ro", "mode", "propagation"].contains(&k.as_str()))
                        {
                            return Err(inv.err(
                                "binds",
                                format!(
                                    "unknown key {key:?} for {source:?} (known: bind, ro, mode, \
                                     propagation)"
                                ),
                            ));
                        }
                        let bind = t.get("bind").and_then(Value::as_str).ok_or_else(|| {
                            inv.err("binds", format!("{source:?} has no bind path"))
                        })?;
                        let text = |key: &str| -> Result<Option<String>> {
                            match t.get(key) {
                                None | Some(Value::Null) => Ok(None),
                                Some(v) => scalar_text(v).map(Some).ok_or_else(|| {
                                    inv.err("binds", format!("the {key} of {source:?} is not text"))
                                }),
                            }
                        };
                        // docker-py: `ro` (any true value) or `mode`, not both; then
                        // `propagation` after a comma.
                        let mode = match (text("mode")?, t.get("ro")) {
                            (Some(_), Some(_)) => {
                                return Err(inv.err(
                                    "binds",
                                    format!("{source:?} gives both ro and mode: give one"),
                                ))
                            }
                            (Some(mode), None) => mode,
                            (None, Some(ro)) => match parse_flag(inv, "binds", ro)? {
                                true => "ro".into(),
                                false => String::new(),
                            },
                            (None, None) => String::new(),
                        };
                        let mode = match (mode.as_str(), text("propagation")?) {
                            (_, None) => mode,
                            ("", Some(propagation)) => format!("rw,{propagation}"),
                            (_, Some(propagation)) => format!("{mode},{propagation}"),
                        };
                        (bind.to_string(), mode)
                    }
                    Value::String(bind) => (bind.clone(), String::new()),
                    other => {
                        return Err(inv.err(
                            "binds",
                            format!(
                                "the target of {source:?} must be a dict, got {}",
                                type_name(other)
                            ),
                        ))
                    }
                };
                binds.push(match mode.is_empty() {
                    true => format!("{source}:{bind}"),
                    false => format!("{source}:{bind}:{mode}"),
                });
            }
            parse_binds(inv, &json!(binds))?
        }
        _ => parse_binds(inv, v)?,
    };
    recorded(&binds, binds.is_empty())
}

pub(crate) fn volumes(inv: &Invalid, _: &'static str, v: &Value) -> Result<Option<Value>> {
    let volumes = parse_volumes(inv, v)?;
    recorded(&volumes, volumes.is_empty())
}

/// A list of paths -> `{path: {}}`, as the Engine takes `Volumes` and `ExposedPorts`.
pub(crate) fn volumes_api(value: &Value) -> Value {
    let keys = value.as_array().into_iter().flatten();
    Value::Object(
        keys.filter_map(|k| Some((k.as_str()?.to_string(), json!({}))))
            .collect(),
    )
}

pub(crate) fn labels(inv: &Invalid, _: &'static str, v: &Value) -> Result<Option<Value>> {
    let labels = parse_labels(inv, v)?;
    recorded(&labels, labels.is_empty())
}

pub(crate) fn restart_policy(inv: &Invalid, _: &'static str, v: &Value) -> Result<Option<Value>> {
    match parse_restart_policy(inv, v)? {
        Some(policy) => recorded(policy, false),
        None => Ok(None),
    }
}

pub(crate) fn restart_policy_api(value: &Value) -> Value {
    json!({
        "Name": value["name"],
        "MaximumRetryCount": value.get("maximum_retry_count").cloned().unwrap_or(json!(0)),
    })
}

pub(crate) fn network_mode(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    // The Engine's default network on Linux: declaring it is not declaring.
    let mode = parse_name(inv, k, v)?;
    Ok((mode != "bridge" && mode != "default").then(|| Value::String(mode)))
}

pub(crate) fn networks(inv: &Invalid, _: &'static str, v: &Value) -> Result<Option<Value>> {
    let networks = parse_networks(inv, v)?;
    recorded(&networks, networks.is_empty())
}

pub(crate) fn user(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    Ok(Some(Value::String(parse_name(inv, k, v)?)))
}

pub(crate) fn abs_path(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let dir = parse_string(inv, k, v)?;
    if !dir.starts_with('/') {
        return Err(inv.err(k, format!("{dir:?} is not an absolute path")));
    }
    Ok(Some(Value::String(dir)))
}

/// A single word (a name, a mode).
pub(crate) fn word(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    Ok(Some(Value::String(parse_name(inv, k, v)?)))
}

/// Any non-empty text.
pub(crate) fn text(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    Ok(Some(Value::String(parse_string(inv, k, v)?)))
}

pub(crate) fn extra_hosts(inv: &Invalid, _: &'static str, v: &Value) -> Result<Option<Value>> {
    let hosts = parse_extra_hosts(inv, v)?;
    recorded(&hosts, hosts.is_empty())
}

pub(crate) fn shutdown_timeout(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    Ok(Some(json!(parse_seconds(inv, k, v)?)))
}

pub(crate) fn signal(inv: &Invalid, _: &'static str, v: &Value) -> Result<Option<Value>> {
    Ok(Some(Value::String(parse_signal(inv, v)?)))
}

pub(crate) fn healthcheck(inv: &Invalid, _: &'static str, v: &Value) -> Result<Option<Value>> {
    recorded(parse_healthcheck(inv, v)?, false)
}

/// Milliseconds -> the Engine's nanoseconds, its keys.
pub(crate) fn healthcheck_api(value: &Value) -> Value {
    // Bounded at parse time (a day), so this cannot overflow; saturate anyway.
    let nanos = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_i64)
            .map(|ms| ms.saturating_mul(1_000_000))
    };
    let mut api = Map::new();
    api.insert("Test".into(), value["test"].clone());
    for (ours, theirs) in [
        ("interval_ms", "Interval"),
        ("timeout_ms", "Timeout"),
        ("start_period_ms", "StartPeriod"),
    ] {
        if let Some(ns) = nanos(ours) {
            api.insert(theirs.into(), json!(ns));
        }
    }
    if let Some(retries) = value.get("retries") {
        api.insert("Retries".into(), retries.clone());
    }
    Value::Object(api)
}

/// True or False (also as YAML's words for them, quoted).
fn parse_flag(inv: &Invalid, k: &str, v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(inv.err(k, format!("expected True or False, got {}", describe(v)))),
        },
        Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
            Ok(n.as_i64() == Some(1))
        }
        other => Err(inv.err(
            k,
            format!("expected True or False, got {}", describe(other)),
        )),
    }
}

/// A flag; False (the Engine's default) is not recorded.
pub(crate) fn flag(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    Ok(parse_flag(inv, k, v)?.then_some(Value::Bool(true)))
}

pub(crate) fn detach(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    parse_flag(inv, k, v)?;
    Ok(None)
}

pub(crate) fn auto_remove(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    match parse_flag(inv, k, v)? {
        false => Ok(None),
        true => Err(inv.err(
            k,
            "True is refused: the Engine removes such a container the moment it stops, so it \
             could never wait as the backup while its replacement proves itself (a one-shot \
             container is docker_container.run's business)",
        )),
    }
}

pub(crate) fn mac_address(inv: &Invalid, k: &'static str, _: &Value) -> Result<Option<Value>> {
    Err(inv.err(
        k,
        "is refused: the Engine API this tool speaks sets a MAC address per network, and the \
         per-container one was dropped from it (Engine 25 moved it to the network endpoint)",
    ))
}

/// A whole number in `range`, or one of `defaults` (the Engine's: not recorded).
fn whole_in(
    inv: &Invalid,
    k: &str,
    v: &Value,
    range: std::ops::RangeInclusive<i64>,
    defaults: &[i64],
) -> Result<Option<Value>> {
    if whole_number(v).is_some_and(|n| defaults.contains(&n)) {
        return Ok(None);
    }
    let n = inv.whole(k, "a whole number", v, &range)?;
    Ok(Some(json!(n)))
}

pub(crate) fn blkio_weight(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    whole_in(inv, k, v, 10..=1000, &[0])
}

pub(crate) fn cpu_period(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    whole_in(inv, k, v, 1000..=1_000_000, &[0])
}

pub(crate) fn cpu_quota(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    whole_in(inv, k, v, 1000..=i64::from(i32::MAX), &[0, -1])
}

pub(crate) fn cpu_shares(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    whole_in(inv, k, v, 2..=262_144, &[0])
}

pub(crate) fn nano_cpus(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    whole_in(inv, k, v, 1..=1_000_000_000_000, &[0])
}

pub(crate) fn swappiness(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    whole_in(inv, k, v, 0..=100, &[-1])
}

pub(crate) fn oom_score_adj(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    whole_in(inv, k, v, -1000..=1000, &[0])
}

pub(crate) fn pids_limit(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    whole_in(inv, k, v, 1..=i64::from(i32::MAX), &[0, -1])
}

/// The most bytes any limit may name: an exbibyte (anything larger is a typo).
const MAX_BYTES: i64 = 1 << 60;

/// `256m`, `1g`, `512k`, `100mb`, `1.5g`, or a number of bytes.
fn parse_bytes(inv: &Invalid, k: &str, v: &Value) -> Result<i64> {
    let bad = || {
        inv.err(
            k,
            format!(
                "expected bytes, as a number or with a unit (b, k, m, g, t), got {}",
                describe(v)
            ),
        )
    };
    let bytes = match v {
        Value::Number(_) => whole_number(v).ok_or_else(bad)? as f64,
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            let s = s.strip_suffix('b').unwrap_or(&s);
            let (number, scale) = match s.chars().last() {
                Some('k') => (&s[..s.len() - 1], 1024_f64),
                Some('m') => (&s[..s.len() - 1], 1024_f64.powi(2)),
                Some('g') => (&s[..s.len() - 1], 1024_f64.powi(3)),
                Some('t') => (&s[..s.len() - 1], 1024_f64.powi(4)),
                _ => (s, 1.0),
            };
            number.trim().parse::<f64>().map_err(|_| bad())? * scale
        }
        _ => return Err(bad()),
    };
    if !bytes.is_finite() || !(0.0..=MAX_BYTES as f64).contains(&bytes) {
        return Err(inv.err(k, format!("{} is out of range (0 to 1 EiB)", describe(v))));
    }
    // Truncated, as docker-py does: `1.7k` is 1740 bytes in Salt's container too.
    Ok(bytes.trunc() as i64)
}

pub(crate) fn bytes(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let n = parse_bytes(inv, k, v)?;
    Ok((n != 0).then(|| json!(n)))
}

pub(crate) fn swap_bytes(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    if whole_number(v) == Some(-1) {
        return Ok(Some(json!(-1)));
    }
    bytes(inv, k, v)
}

/// `0-3`, `0,1`: CPUs or memory nodes.
pub(crate) fn cpu_set(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let set = parse_string(inv, k, v)?;
    let ok = set.split(',').all(|part| {
        let mut ends = part.trim().splitn(2, '-');
        ends.all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && n.len() < 6)
    });
    if !ok {
        return Err(inv.err(
            k,
            format!(
                "{} is not a list of numbers and ranges such as 0-3,5",
                describe(v)
            ),
        ));
    }
    Ok(Some(Value::String(
        set.chars().filter(|c| !c.is_whitespace()).collect(),
    )))
}

pub(crate) fn cgroupns(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    match parse_name(inv, k, v)?.as_str() {
        mode @ ("host" | "private") => Ok(Some(json!(mode))),
        other => Err(inv.err(
            k,
            format!("{} must be host or private", describe(&json!(other))),
        )),
    }
}

pub(crate) fn isolation(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    match parse_name(inv, k, v)?.as_str() {
        "default" => Ok(None),
        mode @ ("process" | "hyperv") => Ok(Some(json!(mode))),
        other => Err(inv.err(
            k,
            format!(
                "{} must be default, process or hyperv",
                describe(&json!(other))
            ),
        )),
    }
}

/// Words, in the given order (order matters: DNS servers, options).
pub(crate) fn word_list(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let items = parse_list(inv, k, v)?;
    if let Some(bad) = items.iter().find(|i| i.chars().any(char::is_whitespace)) {
        return Err(inv.err(
            k,
            format!("{} must not contain whitespace", describe(&json!(bad))),
        ));
    }
    recorded(&items, items.is_empty())
}

/// Texts, in the given order.
pub(crate) fn text_list(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let items = parse_list(inv, k, v)?;
    recorded(&items, items.is_empty())
}

/// Words whose order means nothing (capabilities, groups): sorted, each once.
pub(crate) fn word_set(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let items: BTreeSet<String> = parse_list(inv, k, v)?.into_iter().collect();
    if let Some(bad) = items.iter().find(|i| i.chars().any(char::is_whitespace)) {
        return Err(inv.err(
            k,
            format!("{} must not contain whitespace", describe(&json!(bad))),
        ));
    }
    recorded(&items, items.is_empty())
}

/// Texts whose order means nothing (security options): sorted, each once.
pub(crate) fn text_set(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let items: BTreeSet<String> = parse_list(inv, k, v)?.into_iter().collect();
    recorded(&items, items.is_empty())
}

/// Linux capabilities, as the Engine names them (`NET_ADMIN`: it takes `net_admin` and
/// `CAP_NET_ADMIN` too), so that every spelling of one declaration is one record.
pub(crate) fn capabilities(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let mut items = BTreeSet::new();
    for given in parse_list(inv, k, v)? {
        let upper = given.to_ascii_uppercase();
        let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(inv.err(
                k,
                format!("{} is not a capability name", describe(&json!(given))),
            ));
        }
        items.insert(name.to_string());
    }
    recorded(&items, items.is_empty())
}

pub(crate) fn ip_list(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let items = parse_list(inv, k, v)?;
    if let Some(bad) = items
        .iter()
        .find(|i| i.parse::<std::net::IpAddr>().is_err())
    {
        return Err(inv.err(k, format!("{} is not an IP address", describe(&json!(bad)))));
    }
    recorded(&items, items.is_empty())
}

/// A dict, or `key=value` items (a list, or a comma-separated string): sorted by key.
fn parse_key_values(
    inv: &Invalid,
    k: &str,
    v: &Value,
    delimiter: char,
) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    match v {
        Value::Object(given) => {
            for (key, value) in given {
                let text = scalar_text(value).ok_or_else(|| {
                    inv.err(
                        k,
                        format!(
                            "the value of {key:?} must be text, got {}",
                            type_name(value)
                        ),
                    )
                })?;
                map.insert(key.clone(), text);
            }
        }
        _ => {
            for item in parse_list(inv, k, v)? {
                let (key, value) = item.split_once(delimiter).ok_or_else(|| {
                    inv.err(
                        k,
                        format!("an item is not key{delimiter}value (it has no {delimiter:?})"),
                    )
                })?;
                let key = key.trim();
                if map
                    .insert(key.to_string(), value.trim().to_string())
                    .is_some()
                {
                    return Err(inv.err(k, format!("{key:?} is declared twice")));
                }
            }
        }
    }
    if map.keys().any(String::is_empty) {
        return Err(inv.err(k, "a key is empty"));
    }
    Ok(map)
}

pub(crate) fn key_values(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let map = parse_key_values(inv, k, v, '=')?;
    recorded(&map, map.is_empty())
}

/// `name:alias` (a dict `{name: alias}` too) -> sorted `name:alias`.
pub(crate) fn links(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let map = parse_key_values(inv, k, v, ':')?;
    let links: Vec<String> = map
        .iter()
        .map(|(name, alias)| format!("{name}:{alias}"))
        .collect();
    recorded(&links, links.is_empty())
}

/// `{path: options}`, or `path[:options]` items.
pub(crate) fn tmpfs(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let map: BTreeMap<String, String> = match v {
        Value::Object(_) => parse_key_values(inv, k, v, ':')?,
        _ => {
            let mut map = BTreeMap::new();
            for item in parse_list(inv, k, v)? {
                let (path, options) = match item.split_once(':') {
                    Some((path, options)) => (path.to_string(), options.to_string()),
                    None => (item, String::new()),
                };
                if map.insert(path.clone(), options).is_some() {
                    return Err(inv.err(k, format!("{} is given twice", describe(&json!(path)))));
                }
            }
            map
        }
    };
    if let Some(path) = map.keys().find(|p| !p.starts_with('/')) {
        return Err(inv.err(
            k,
            format!("{} is not an absolute path", describe(&json!(path))),
        ));
    }
    recorded(&map, map.is_empty())
}

/// `PATH:VALUE` items (or `{Path, <name>}` dicts) -> `[{Path, <name>}]`, `read_value` reading
/// each value.
fn device_values(
    inv: &Invalid,
    k: &str,
    v: &Value,
    name: &str,
    read_value: &dyn Fn(&Value) -> Result<i64>,
) -> Result<Option<Value>> {
    let items: Vec<Value> = match v {
        Value::Array(items) => items.clone(),
        _ => parse_list(inv, k, v)?
            .into_iter()
            .map(Value::String)
            .collect(),
    };
    let mut devices = BTreeMap::new();
    for item in &items {
        let (path, value) = match item {
            Value::Object(map) => (
                map.get("Path")
                    .or_else(|| map.get("path"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                map.get(name)
                    .or_else(|| map.get(&name.to_ascii_lowercase()))
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
            other => {
                let text = scalar_text(other).unwrap_or_default();
                match text.rsplit_once(':') {
                    Some((path, value)) => (path.to_string(), Value::String(value.to_string())),
                    None => {
                        return Err(inv.err(
                            k,
                            format!("an item is not PATH:{}", name.to_ascii_uppercase()),
                        ))
                    }
                }
            }
        };
        if !path.starts_with('/') {
            return Err(inv.err(
                k,
                format!("{} is not an absolute device path", describe(&json!(path))),
            ));
        }
        let n = read_value(&value)?;
        if devices.insert(path.clone(), n).is_some() {
            return Err(inv.err(k, format!("{} is given twice", describe(&json!(path)))));
        }
    }
    let list: Vec<Value> = devices
        .into_iter()
        .map(|(path, n)| json!({"Path": path, name: n}))
        .collect();
    recorded(&list, list.is_empty())
}

pub(crate) fn blkio_weight_device(
    inv: &Invalid,
    k: &'static str,
    v: &Value,
) -> Result<Option<Value>> {
    device_values(inv, k, v, "Weight", &|w| {
        inv.whole(k, "a weight", w, &(10..=1000))
    })
}

pub(crate) fn device_bps(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    device_values(inv, k, v, "Rate", &|r| parse_bytes(inv, k, r))
}

pub(crate) fn device_iops(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    device_values(inv, k, v, "Rate", &|r| {
        inv.whole(k, "operations per second", r, &(0..=i64::from(u32::MAX)))
    })
}

/// `/dev/host[:/dev/container[:permissions]]` (or the Engine's dicts).
pub(crate) fn devices(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let items: Vec<Value> = match v {
        Value::Array(items) => items.clone(),
        _ => parse_list(inv, k, v)?
            .into_iter()
            .map(Value::String)
            .collect(),
    };
    let mut devices = Vec::new();
    for item in &items {
        let (host, container, permissions) = match item {
            Value::Object(map) => {
                let field = |name: &str| {
                    map.get(name)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                (
                    field("PathOnHost"),
                    field("PathInContainer"),
                    field("CgroupPermissions"),
                )
            }
            other => {
                let text = scalar_text(other).unwrap_or_default();
                let mut parts = text.splitn(3, ':').map(String::from);
                let host = parts.next().unwrap_or_default();
                let second = parts.next().unwrap_or_default();
                let third = parts.next().unwrap_or_default();
                // `/dev/x:rwm` names the permissions, not a container path.
                match (
                    second.starts_with('/') || second.is_empty(),
                    third.is_empty(),
                ) {
                    (true, _) => (host, second, third),
                    (false, true) => (host, String::new(), second),
                    (false, false) => {
                        return Err(
                            inv.err(k, "an item is not /dev/host[:/dev/container[:permissions]]")
                        )
                    }
                }
            }
        };
        let container = if container.is_empty() {
            host.clone()
        } else {
            container
        };
        let permissions = if permissions.is_empty() {
            "rwm".to_string()
        } else {
            permissions
        };
        if !host.starts_with('/')
            || !container.starts_with('/')
            || !permissions.chars().all(|c| "rwm".contains(c))
        {
            return Err(inv.err(
                k,
                "an item is not /dev/host[:/dev/container[:permissions (r, w, m)]]",
            ));
        }
        devices.push(json!({"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": permissions}));
    }
    // Their order means nothing: sorted, so that reordering them changes nothing.
    devices.sort_by_key(|d| d.to_string());
    let before = devices.len();
    devices.dedup();
    if devices.len() != before {
        return Err(inv.err(k, "a device is given twice"));
    }
    recorded(&devices, devices.is_empty())
}

/// docker-py's `DeviceRequest` dicts (or the Engine's): `{driver, count, device_ids,
/// capabilities, options}`.
pub(crate) fn device_requests(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let Value::Array(items) = v else {
        return Err(inv.err(k, format!("expected a list of dicts, got {}", type_name(v))));
    };
    let mut requests = Vec::new();
    for item in items {
        let Value::Object(map) = item else {
            return Err(inv.err(
                k,
                format!(
                    "expected a list of dicts, got a list of {}",
                    type_name(item)
                ),
            ));
        };
        // Every field, with docker-py's defaults: the Engine keeps what it is given.
        let mut request = Map::new();
        request.insert("Driver".into(), json!(""));
        request.insert("Count".into(), json!(0));
        request.insert("DeviceIDs".into(), json!([]));
        request.insert("Capabilities".into(), json!([]));
        request.insert("Options".into(), json!({}));
        let mut given = BTreeSet::new();
        for (key, value) in map {
            let (api, value) = match key.as_str() {
                "driver" | "Driver" => ("Driver", json!(parse_string(inv, k, value)?)),
                "count" | "Count" => ("Count", json!(inv.whole(k, "a count", value, &(-1..=1024))?)),
                "device_ids" | "DeviceIDs" => ("DeviceIDs", json!(parse_list(inv, k, value)?)),
                "capabilities" | "Capabilities" => {
                    let Value::Array(sets) = value else {
                        return Err(inv.err(k, "capabilities must be a list of lists, such as [[gpu]]"));
                    };
                    let sets: Vec<Vec<String>> = sets
                        .iter()
                        .map(|set| parse_list(inv, k, set))
                        .collect::<Result<_>>()?;
                    ("Capabilities", json!(sets))
                }
                "options" | "Options" => ("Options", json!(parse_key_values(inv, k, value, '=')?)),
                other => {
                    return Err(inv.err(
                        k,
                        format!("unknown key {other:?} (known: driver, count, device_ids, capabilities, options)"),
                    ))
                }
            };
            if !given.insert(api) {
                return Err(inv.err(k, format!("{api} is given twice in a request")));
            }
            request.insert(api.to_string(), value);
        }
        requests.push(Value::Object(request));
    }
    recorded(&requests, requests.is_empty())
}

/// `nofile=1024:2048`, `nproc=512` (or `{Name, Soft, Hard}`): sorted by name.
pub(crate) fn ulimits(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let items: Vec<Value> = match v {
        Value::Array(items) => items.clone(),
        _ => parse_list(inv, k, v)?
            .into_iter()
            .map(Value::String)
            .collect(),
    };
    let limit = |v: &Value| inv.whole(k, "a limit", v, &(-1..=i64::MAX));
    let mut limits = BTreeMap::new();
    for item in &items {
        let (name, soft, hard) = match item {
            Value::Object(map) => {
                let name = map
                    .get("Name")
                    .or_else(|| map.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let soft = limit(
                    map.get("Soft")
                        .or_else(|| map.get("soft"))
                        .unwrap_or(&Value::Null),
                )?;
                let hard = match map.get("Hard").or_else(|| map.get("hard")) {
                    Some(h) => limit(h)?,
                    None => soft,
                };
                (name.to_string(), soft, hard)
            }
            other => {
                let text = scalar_text(other).unwrap_or_default();
                let (name, limits) = text
                    .split_once('=')
                    .ok_or_else(|| inv.err(k, "an item is not name=soft[:hard]"))?;
                let (soft, hard) = match limits.split_once(':') {
                    Some((soft, hard)) => (soft, hard),
                    None => (limits, limits),
                };
                (
                    name.trim().to_string(),
                    limit(&json!(soft.trim()))?,
                    limit(&json!(hard.trim()))?,
                )
            }
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(inv.err(k, "a limit has no valid name (nofile, nproc, memlock, ...)"));
        }
        // -1 is unlimited: a soft limit may not exceed the hard one (the kernel refuses it
        // when the container starts, after the old one was stopped).
        let above = match (soft, hard) {
            (_, -1) => false,
            (-1, _) => true,
            (soft, hard) => soft > hard,
        };
        if above {
            return Err(inv.err(
                k,
                format!("the soft limit of {name} is above its hard limit"),
            ));
        }
        if limits.insert(name.clone(), (soft, hard)).is_some() {
            return Err(inv.err(k, format!("{name} is declared twice")));
        }
    }
    let list: Vec<Value> = limits
        .into_iter()
        .map(|(name, (soft, hard))| json!({"Name": name, "Soft": soft, "Hard": hard}))
        .collect();
    recorded(&list, list.is_empty())
}

/// Exposed ports: `80`, `53/udp`, `7000-7005` -> sorted `["53/udp", "80/tcp", ...]`.
pub(crate) fn ports(inv: &Invalid, k: &'static str, v: &Value) -> Result<Option<Value>> {
    let items: Vec<String> = match v {
        Value::Number(n) => vec![n.to_string()],
        _ => parse_list(inv, k, v)?,
    };
    let mut ports = BTreeSet::new();
    for item in items {
        let (range, proto) = match item.split_once('/') {
            Some((range, proto)) => (range.to_string(), proto.to_string()),
            None => (item.clone(), "tcp".to_string()),
        };
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (
                parse_port(inv, k, a, "port")?,
                parse_port(inv, k, b, "port")?,
            ),
            None => {
                let p = parse_port(inv, k, &range, "port")?;
                (p, p)
            }
        };
        if first > last || last - first > MAX_PORT_RANGE {
            return Err(inv.err(
                k,
                format!(
                    "{} is not a port range of at most 1024 ports",
                    describe(&json!(item))
                ),
            ));
        }
        for port in first..=last {
            ports.insert(container_port_key(inv, k, &format!("{port}/{proto}"))?);
        }
    }
    recorded(&ports, ports.is_empty())
}

pub(crate) fn ports_api(value: &Value) -> Value {
    volumes_api(value)
}
