//! Parsing the declared configuration strictly from the keyword arguments of Salt's
//! `docker_container.running` (`environment`, `port_bindings`, ...): unknown keywords and
//! malformed values are errors that name the keyword, before any Docker call.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::input::{describe, type_name, whole_number, Invalid};
use crate::spec::declared::{
    ContainerSpec, HealthCheck, HostBinding, NetworkAttachment, RestartPolicy,
};
use crate::spec::record::LABEL_PREFIX;

/// Every keyword the spec accepts, in the order they are documented.
pub const KEYWORDS: &[&str] = &[
    "command",
    "entrypoint",
    "environment",
    "port_bindings",
    "binds",
    "volumes",
    "labels",
    "restart_policy",
    "network_mode",
    "networks",
    "user",
    "working_dir",
    "hostname",
    "extra_hosts",
    "shutdown_timeout",
    "stop_signal",
    "healthcheck",
];

impl ContainerSpec {
    /// Parses the keyword arguments declared for `container`. Unknown keywords and malformed
    /// values are errors; `null` means "not declared", as an omitted keyword does.
    pub fn from_keywords(container: &str, keywords: &Map<String, Value>) -> Result<Self> {
        let context = format!("container {container:?}");
        let inv = Invalid { context: &context };
        let mut spec = ContainerSpec::default();
        for (keyword, value) in keywords {
            if value.is_null() && KEYWORDS.contains(&keyword.as_str()) {
                continue;
            }
            let k = keyword.as_str();
            match k {
                "command" => spec.command = Some(parse_argv(&inv, k, value)?),
                "entrypoint" => spec.entrypoint = Some(parse_argv(&inv, k, value)?),
                "environment" => spec.environment = parse_environment(&inv, value)?,
                "port_bindings" => spec.port_bindings = parse_port_bindings(&inv, value)?,
                "binds" => spec.binds = parse_binds(&inv, value)?,
                "volumes" => spec.volumes = parse_volumes(&inv, value)?,
                "labels" => spec.labels = parse_labels(&inv, value)?,
                "restart_policy" => spec.restart_policy = parse_restart_policy(&inv, value)?,
                "network_mode" => {
                    // The Engine's default network on Linux: declaring it is not declaring.
                    let mode = parse_name(&inv, k, value)?;
                    spec.network_mode = (mode != "bridge" && mode != "default").then_some(mode);
                }
                "networks" => spec.networks = parse_networks(&inv, value)?,
                "user" => spec.user = Some(parse_name(&inv, k, value)?),
                "working_dir" => {
                    let dir = parse_string(&inv, k, value)?;
                    if !dir.starts_with('/') {
                        return Err(inv.err(k, format!("{dir:?} is not an absolute path")));
                    }
                    spec.working_dir = Some(dir);
                }
                "hostname" => spec.hostname = Some(parse_name(&inv, k, value)?),
                "extra_hosts" => spec.extra_hosts = parse_extra_hosts(&inv, value)?,
                "shutdown_timeout" => spec.shutdown_timeout = Some(parse_seconds(&inv, k, value)?),
                "stop_signal" => spec.stop_signal = Some(parse_signal(&inv, value)?),
                "healthcheck" => spec.healthcheck = Some(parse_healthcheck(&inv, value)?),
                _ => {
                    return Err(Error::invalid(
                        &context,
                        format!(
                            "unknown keyword {keyword:?} (known: {})",
                            KEYWORDS.join(", ")
                        ),
                    ))
                }
            }
        }
        if let Some(mode) = &spec.network_mode {
            let exclusive = mode == "host" || mode == "none" || mode.starts_with("container:");
            if exclusive && !spec.networks.is_empty() {
                return Err(inv.err(
                    "networks",
                    format!("cannot attach networks with network_mode {mode:?}"),
                ));
            }
            // The Engine would silently discard them: say so instead.
            if exclusive && !spec.port_bindings.is_empty() {
                return Err(inv.err(
                    "port_bindings",
                    format!("cannot publish ports with network_mode {mode:?}"),
                ));
            }
        }
        Ok(spec)
    }
}

/// Strings, and numbers written without quotes in YAML (`PORT: 8080`), as text.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_string(inv: &Invalid, keyword: &str, value: &Value) -> Result<String> {
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
fn parse_name(inv: &Invalid, keyword: &str, value: &Value) -> Result<String> {
    let s = parse_string(inv, keyword, value)?;
    if s.chars().any(char::is_whitespace) {
        return Err(inv.err(keyword, format!("{s:?} must not contain whitespace")));
    }
    Ok(s)
}

/// A list, or a comma-separated string (Salt accepts both for list-valued keywords).
fn parse_list(inv: &Invalid, keyword: &str, value: &Value) -> Result<Vec<String>> {
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

fn parse_argv(inv: &Invalid, keyword: &str, value: &Value) -> Result<Vec<String>> {
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
fn unclosed(quote: &str, input: &str) -> String {
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

fn check_env_name(inv: &Invalid, name: &str) -> Result<()> {
    if name.is_empty() || name.contains('=') || name.chars().any(char::is_whitespace) {
        return Err(inv.err(
            "environment",
            format!("{name:?} is not a valid variable name"),
        ));
    }
    Ok(())
}

/// A dict, a list of `KEY=VALUE`, or a list of one-key dicts (Salt's three forms).
fn parse_environment(inv: &Invalid, value: &Value) -> Result<BTreeMap<String, String>> {
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

fn parse_port(inv: &Invalid, text: &str, what: &str) -> Result<u16> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 && text.chars().all(|c| c.is_ascii_digit()) => Ok(port),
        _ => Err(inv.err(
            "port_bindings",
            format!("{what} {text:?} is not a port number (1-65535)"),
        )),
    }
}

/// `"80"`, `"80/udp"` -> `"80/tcp"`, `"80/udp"`.
fn container_port_key(inv: &Invalid, text: &str) -> Result<String> {
    let (port, proto) = match text.split_once('/') {
        Some((port, proto)) => (port, proto),
        None => (text, "tcp"),
    };
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(inv.err(
            "port_bindings",
            format!("protocol {proto:?} in {text:?} must be tcp, udp or sctp"),
        ));
    }
    let port = parse_port(inv, port, "container port")?;
    Ok(format!("{port}/{proto}"))
}

fn host_binding(inv: &Invalid, ip: &str, port: &str) -> Result<HostBinding> {
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
            parse_port(inv, first, "host port")?,
            parse_port(inv, last, "host port")?,
        );
        if first > last {
            return Err(inv.err(
                "port_bindings",
                format!("host port range {port:?} runs backwards"),
            ));
        }
        format!("{first}-{last}")
    } else {
        parse_port(inv, port, "host port")?.to_string()
    };
    Ok(HostBinding {
        host_ip: ip.to_string(),
        host_port,
    })
}

/// `container`, `host:container`, `ip:host:container`, `ip::container`, each with `/proto`.
fn parse_port_binding_text(inv: &Invalid, text: &str) -> Result<(String, HostBinding)> {
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
    Ok((
        container_port_key(inv, container)?,
        host_binding(inv, ip, host)?,
    ))
}

/// A list of `host:container[/proto]` strings (or a comma-separated string), or the Engine's
/// dict `{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`, or Salt's `{container: host}`.
fn parse_port_bindings(inv: &Invalid, value: &Value) -> Result<BTreeMap<String, Vec<HostBinding>>> {
    let mut bindings: BTreeMap<String, Vec<HostBinding>> = BTreeMap::new();
    match value {
        Value::Object(map) => {
            for (container, hosts) in map {
                let key = container_port_key(inv, container)?;
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
                let (key, binding) = parse_port_binding_text(inv, &text)?;
                bindings.entry(key).or_default().push(binding);
            }
        }
        Value::Number(n) => {
            let (key, binding) = parse_port_binding_text(inv, &n.to_string())?;
            bindings.entry(key).or_default().push(binding);
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
fn parse_binds(inv: &Invalid, value: &Value) -> Result<Vec<String>> {
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

fn parse_volumes(inv: &Invalid, value: &Value) -> Result<BTreeSet<String>> {
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

fn parse_labels(inv: &Invalid, value: &Value) -> Result<BTreeMap<String, String>> {
    let mut labels = BTreeMap::new();
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
fn parse_restart_policy(inv: &Invalid, value: &Value) -> Result<Option<RestartPolicy>> {
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

fn parse_attachment(inv: &Invalid, network: &str, value: &Value) -> Result<NetworkAttachment> {
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
fn parse_networks(inv: &Invalid, value: &Value) -> Result<BTreeMap<String, NetworkAttachment>> {
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
fn parse_extra_hosts(inv: &Invalid, value: &Value) -> Result<Vec<String>> {
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
fn parse_whole(inv: &Invalid, keyword: &str, what: &str, value: &Value, max: i64) -> Result<i64> {
    let number = whole_number(value);
    number.filter(|n| (0..=max).contains(n)).ok_or_else(|| {
        inv.err(
            keyword,
            format!("expected {what} from 0 to {max}, got {}", describe(value)),
        )
    })
}

fn parse_seconds(inv: &Invalid, keyword: &str, value: &Value) -> Result<i64> {
    parse_whole(
        inv,
        keyword,
        "a whole number of seconds",
        value,
        MAX_SHUTDOWN_TIMEOUT_S,
    )
}

/// `"500ms"`, `"2s"`, `"1m"`, or a number of seconds (fractions allowed) -> milliseconds, at
/// most [`MAX_HEALTH_DURATION_MS`].
fn parse_duration_ms(inv: &Invalid, what: &str, value: &Value) -> Result<i64> {
    let ms = match value {
        Value::Number(n) => n.as_f64().map(|s| s * 1000.0),
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
fn parse_healthcheck(inv: &Invalid, value: &Value) -> Result<HealthCheck> {
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
    for (key, value) in map {
        match key.as_str() {
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

fn parse_signal(inv: &Invalid, value: &Value) -> Result<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::spec::declared::clean_path;
    use crate::spec::record::LABEL_SPEC;
    use serde_json::json;

    fn parse(v: Value) -> Result<ContainerSpec> {
        ContainerSpec::from_keywords("web", v.as_object().unwrap())
    }

    fn invalid(v: Value, needle: &str) {
        match parse(v.clone()) {
            Err(e) if e.is(ErrorKind::InvalidSpec) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(needle),
                    "{v}: message {msg:?} lacks {needle:?}"
                );
                assert!(msg.contains("\"web\""), "{msg}");
                assert!(msg.contains("nothing was changed"), "{msg}");
            }
            other => panic!("{v}: expected InvalidSpec, got {other:?}"),
        }
    }

    #[test]
    fn empty_spec_is_canonical_empty_object() {
        assert_eq!(parse(json!({})).unwrap().canonical_json(), "{}");
        // null means "not declared"
        assert_eq!(
            parse(json!({"command": null})).unwrap(),
            ContainerSpec::default()
        );
    }

    #[test]
    fn environment_forms_are_equal() {
        let a = parse(json!({"environment": {"B": "2", "A": 1}})).unwrap();
        let b = parse(json!({"environment": ["A=1", "B=2"]})).unwrap();
        let c = parse(json!({"environment": [{"A": "1"}, {"B": 2}]})).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.canonical_json(), c.canonical_json());
        assert_eq!(a.canonical_json(), r#"{"environment":{"A":"1","B":"2"}}"#);
        let empty_value = parse(json!({"environment": ["A="]})).unwrap();
        assert_eq!(empty_value.environment["A"], "");
    }

    #[test]
    fn environment_errors() {
        invalid(json!({"environment": "A=1"}), "environment");
        invalid(json!({"environment": ["A"]}), "not KEY=VALUE");
        let err = parse(json!({"environment": ["DB_PASSWORD:hunter2"]})).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = parse(json!({"command": "login --password 'hunter2"})).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        invalid(json!({"environment": {"A": [1]}}), "\"A\"");
        invalid(json!({"environment": ["A=1", "A=2"]}), "twice");
        invalid(json!({"environment": {"": "x"}}), "variable name");
    }

    #[test]
    fn port_binding_forms() {
        let spec = parse(json!({"port_bindings": ["8080:80", "127.0.0.1:8443:443/tcp", "53:53/udp", "127.0.0.1::9000", 7000]})).unwrap();
        let hb = |ip: &str, port: &str| HostBinding {
            host_ip: ip.into(),
            host_port: port.into(),
        };
        assert_eq!(spec.port_bindings["80/tcp"], vec![hb("", "8080")]);
        assert_eq!(spec.port_bindings["443/tcp"], vec![hb("127.0.0.1", "8443")]);
        assert_eq!(spec.port_bindings["53/udp"], vec![hb("", "53")]);
        assert_eq!(spec.port_bindings["9000/tcp"], vec![hb("127.0.0.1", "")]);
        assert_eq!(spec.port_bindings["7000/tcp"], vec![hb("", "")]);

        let engine =
            parse(json!({"port_bindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}))
                .unwrap();
        let salt = parse(json!({"port_bindings": {"80": 8080}})).unwrap();
        let text = parse(json!({"port_bindings": "8080:80"})).unwrap();
        assert_eq!(engine, salt);
        assert_eq!(engine, text);
        let ip = parse(json!({"port_bindings": {"80": "127.0.0.1:8080"}})).unwrap();
        assert_eq!(ip.port_bindings["80/tcp"], vec![hb("127.0.0.1", "8080")]);
    }

    #[test]
    fn port_binding_errors() {
        invalid(json!({"port_bindings": ["80:70000"]}), "container port");
        invalid(json!({"port_bindings": ["x:80"]}), "host port");
        invalid(json!({"port_bindings": ["8082-8080:80"]}), "backwards");
        invalid(json!({"port_bindings": ["a:b:c:d"]}), "host:container");
        invalid(json!({"port_bindings": ["999.1.1.1:80:80"]}), "IP");
        invalid(json!({"port_bindings": ["80/icmp"]}), "protocol");
        invalid(json!({"port_bindings": ["8080:80", "8080:80"]}), "twice");
        invalid(
            json!({"port_bindings": {"80": {"HostPort": "1", "Bogus": 1}}}),
            "Bogus",
        );
        invalid(json!({"port_bindings": true}), "port_bindings");
    }

    #[test]
    fn restart_policies() {
        let p = |v: Value| {
            parse(json!({"restart_policy": v}))
                .unwrap()
                .restart_policy
                .unwrap()
        };
        assert_eq!(
            p(json!("always")),
            RestartPolicy {
                name: "always".into(),
                maximum_retry_count: None
            }
        );
        assert_eq!(
            p(json!("on-failure:3")),
            RestartPolicy {
                name: "on-failure".into(),
                maximum_retry_count: Some(3)
            }
        );
        assert_eq!(
            p(json!({"Name": "on-failure", "MaximumRetryCount": 3})),
            p(json!("on-failure:3"))
        );
        invalid(json!({"restart_policy": "sometimes"}), "sometimes");
        invalid(
            json!({"restart_policy": "always:3"}),
            "only allowed with on-failure",
        );
        invalid(json!({"restart_policy": "on-failure:x"}), "whole number");
        invalid(
            json!({"restart_policy": "on-failure:99999999999"}),
            "whole number",
        );
        invalid(json!({"restart_policy": 3}), "restart_policy");
    }

    #[test]
    fn command_and_entrypoint() {
        let spec = parse(
            json!({"command": "sh -c 'echo \"hi there\"' a\\ b", "entrypoint": ["/bin/x", 1]}),
        )
        .unwrap();
        assert_eq!(
            spec.command.unwrap(),
            vec!["sh", "-c", "echo \"hi there\"", "a b"]
        );
        assert_eq!(spec.entrypoint.unwrap(), vec!["/bin/x", "1"]);
        invalid(json!({"command": "echo 'oops"}), "unclosed");
        invalid(json!({"command": {"a": 1}}), "command");
        invalid(json!({"entrypoint": [["x"]]}), "entrypoint");
    }

    #[test]
    fn binds_volumes_labels_hosts_networks() {
        let spec = parse(json!({
            "binds": ["/b:/data:ro", "vol:/x"],
            "volumes": "/cache,/tmp/a",
            "labels": ["team=web", "flag"],
            "extra_hosts": {"db": "10.0.0.2"},
            "networks": [{"backend": [{"aliases": ["api", "api"]}]}, "frontend"],
        }))
        .unwrap();
        assert_eq!(spec.binds, vec!["/b:/data:ro", "vol:/x"]);
        assert_eq!(
            spec.volumes.iter().collect::<Vec<_>>(),
            vec!["/cache", "/tmp/a"]
        );
        assert_eq!(spec.labels["flag"], "");
        assert_eq!(spec.extra_hosts, vec!["db:10.0.0.2"]);
        assert_eq!(spec.networks["backend"].aliases, vec!["api"]);
        assert_eq!(
            spec.extra_networks()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            vec!["frontend"]
        );
        assert_eq!(
            parse(json!({"extra_hosts": ["db:10.0.0.2"]}))
                .unwrap()
                .extra_hosts,
            spec.extra_hosts
        );

        invalid(json!({"binds": ["/only-one"]}), "binds");
        invalid(json!({"binds": ["/a:relative"]}), "binds");
        invalid(json!({"volumes": ["relative"]}), "volumes");
        invalid(
            json!({"labels": {"io.saltext.docker-deploy.spec": "x"}}),
            "reserved",
        );
        invalid(json!({"labels": 5}), "labels");
        invalid(json!({"extra_hosts": ["db"]}), "host:ip");
        invalid(json!({"extra_hosts": ["db:not-an-ip"]}), "host:ip");
        invalid(json!({"networks": [{"n": {"bogus": 1}}]}), "bogus");
        invalid(
            json!({"network_mode": "host", "networks": ["n"]}),
            "network_mode",
        );
    }

    #[test]
    fn scalars() {
        let spec = parse(
            json!({"user": 1000, "working_dir": "/srv", "hostname": "web1",
            "shutdown_timeout": 5, "stop_signal": "SIGINT", "network_mode": "bridge"}),
        )
        .unwrap();
        assert_eq!(spec.user.as_deref(), Some("1000"));
        assert_eq!(spec.shutdown_timeout, Some(5));
        invalid(json!({"working_dir": "srv"}), "absolute");
        invalid(json!({"shutdown_timeout": -1}), "shutdown_timeout");
        invalid(json!({"shutdown_timeout": 1.5}), "shutdown_timeout");
        invalid(json!({"stop_signal": "SIG TERM"}), "stop_signal");
        invalid(json!({"hostname": "a b"}), "whitespace");
        invalid(json!({"user": ""}), "user");
    }

    #[test]
    fn equal_intent_normalises_equal() {
        let same = |a: Value, b: Value| {
            assert_eq!(
                parse(a.clone()).unwrap().canonical_json(),
                parse(b.clone()).unwrap().canonical_json(),
                "{a} vs {b}"
            );
        };
        same(json!({"binds": ["/a:/b:rw"]}), json!({"binds": ["/a:/b"]}));
        same(
            json!({"stop_signal": "term"}),
            json!({"stop_signal": "SIGTERM"}),
        );
        same(json!({"network_mode": "bridge"}), json!({}));
        same(json!({"network_mode": "default"}), json!({}));
        same(json!({"restart_policy": "no"}), json!({}));
        assert_eq!(
            parse(json!({"stop_signal": "9"}))
                .unwrap()
                .stop_signal
                .as_deref(),
            Some("9")
        );
        invalid(
            json!({"network_mode": "host", "port_bindings": ["80:80"]}),
            "cannot publish",
        );
    }

    #[test]
    fn unknown_keyword_is_named() {
        invalid(
            json!({"enviroment": {"A": "1"}}),
            "unknown keyword \"enviroment\"",
        );
    }

    #[test]
    fn create_body_carries_spec_and_labels() {
        let spec = parse(json!({
            "environment": {"A": "1"}, "port_bindings": ["127.0.0.1:8080:80"],
            "restart_policy": "on-failure:2", "networks": ["n1", "n2"], "shutdown_timeout": 3,
        }))
        .unwrap();
        let body = spec.to_create_body("img:1", &[(LABEL_SPEC, spec.canonical_json())], &[]);
        assert_eq!(body.image.as_deref(), Some("img:1"));
        assert_eq!(body.env, Some(vec!["A=1".to_string()]));
        assert_eq!(body.exposed_ports, Some(vec!["80/tcp".to_string()]));
        assert_eq!(body.stop_timeout, Some(3));
        assert_eq!(
            body.labels.as_ref().unwrap()[LABEL_SPEC],
            spec.canonical_json()
        );
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("n1"));
        let bindings = host.port_bindings.unwrap();
        let b = &bindings["80/tcp"].as_ref().unwrap()[0];
        assert_eq!(
            (b.host_ip.as_deref(), b.host_port.as_deref()),
            (Some("127.0.0.1"), Some("8080"))
        );
        assert_eq!(host.restart_policy.unwrap().maximum_retry_count, Some(2));
        assert!(body
            .networking_config
            .unwrap()
            .endpoints_config
            .unwrap()
            .contains_key("n1"));
    }

    #[test]
    fn healthcheck_forms_normalise_and_reach_the_create_body() {
        let shell = parse(
            json!({"healthcheck": {"test": "wget -q localhost", "interval": "2s",
            "timeout": 1, "retries": 3, "start_period": "500ms"}}),
        )
        .unwrap();
        let check = shell.healthcheck.clone().unwrap();
        assert_eq!(check.test, ["CMD-SHELL", "wget -q localhost"]);
        assert_eq!(
            (check.interval_ms, check.timeout_ms, check.start_period_ms),
            (Some(2000), Some(1000), Some(500))
        );
        let argv = parse(json!({"healthcheck": {"test": ["/bin/true"]}})).unwrap();
        assert_eq!(argv.healthcheck.unwrap().test, ["CMD", "/bin/true"]);
        let engine = parse(json!({"healthcheck": {"test": ["CMD", "/bin/true"]}})).unwrap();
        assert_eq!(engine.healthcheck.unwrap().test, ["CMD", "/bin/true"]);
        let off = parse(json!({"healthcheck": {"test": "none"}})).unwrap();
        assert_eq!(off.healthcheck.unwrap().test, ["NONE"]);

        let body = shell.to_create_body("img", &[], &[]);
        let health = body.healthcheck.unwrap();
        assert_eq!(health.interval, Some(2_000_000_000));
        assert_eq!(health.retries, Some(3));

        invalid(
            json!({"healthcheck": {"interval": "1s"}}),
            "test is required",
        );
        invalid(json!({"healthcheck": {"test": "x", "every": 1}}), "every");
        invalid(
            json!({"healthcheck": {"test": "x", "interval": "soon"}}),
            "interval",
        );
        invalid(json!({"healthcheck": "wget"}), "expected a dict");
    }

    #[test]
    fn volume_paths_compare_as_the_engine_cleans_them() {
        for (given, clean) in [
            ("/data", "/data"),
            ("/data/", "/data"),
            ("/data//db/./", "/data/db"),
            ("/a/../b", "/b"),
            ("/", "/"),
            ("//", "/"),
        ] {
            assert_eq!(clean_path(given), clean, "{given}");
        }
        let spec = parse(json!({"volumes": ["/cache//x/"], "binds": ["v:/data/"]})).unwrap();
        let paths = spec.anonymous_volume_paths(&["/data".into(), "/var/lib/app/".into()]);
        assert_eq!(
            paths.into_iter().collect::<Vec<_>>(),
            ["/cache/x", "/var/lib/app"],
            "declared and image volumes, less the bind's path"
        );
    }

    #[test]
    fn replicas_take_one_port_each_from_a_range() {
        let spec = parse(json!({"port_bindings": ["127.0.0.1:8080-8082:80", "9000:90"]}));
        let spec = spec.unwrap();
        assert_eq!(
            spec.port_bindings["80/tcp"][0].host_port, "8080-8082",
            "a range is kept as declared"
        );
        // 9000 is fixed: three replicas cannot share it.
        let err = spec.for_replica("web", 1, 3).unwrap_err().to_string();
        assert!(err.contains("9000") && err.contains("9000-9002"), "{err}");

        let ranged = parse(json!({"port_bindings": ["127.0.0.1:8080-8082:80", "90"]})).unwrap();
        for index in 1..=3 {
            let one = ranged.for_replica("web", index, 3).unwrap();
            assert_eq!(
                one.port_bindings["80/tcp"][0].host_port,
                (8079 + index).to_string()
            );
            assert_eq!(one.port_bindings["90/tcp"][0].host_port, "");
        }
        let err = ranged.for_replica("web", 1, 2).unwrap_err().to_string();
        assert!(err.contains("3 ports for 2 replicas"), "{err}");
        assert_eq!(ranged.fixed_host_ports(), ["8080-8082"]);
    }

    #[test]
    fn the_record_on_a_container_reads_back_as_the_same_spec() {
        let spec = parse(json!({
            "command": "httpd -f", "environment": {"A": "1"}, "port_bindings": ["8080:80"],
            "binds": ["data:/data"], "restart_policy": "on-failure:2", "networks": ["n1"],
            "healthcheck": {"test": "true", "interval": 1}, "stop_signal": "TERM",
        }))
        .unwrap();
        let back = ContainerSpec::from_record("web", &spec.canonical_json()).unwrap();
        assert_eq!(back, spec);
        assert_eq!(back.canonical_json(), spec.canonical_json());
        let err = ContainerSpec::from_record("web", "{not json").unwrap_err();
        assert!(err.to_string().contains("cannot be read"), "{err}");
    }
}
