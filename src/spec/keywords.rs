//! The keywords a container is declared with: one row each, with its canonical name (Salt's
//! `docker_container.running`'s), its aliases, the value forms it accepts, where it lands in
//! the Engine's create request (and so how it reads back from `inspect`), and a line of doc.
//! Parsing, the record, the create request, the README's table and the exported keyword list
//! all come from here: adding a keyword is adding a row.
//!
//! The record on a container lists the declared keywords in the order of this table. The
//! first seventeen rows are the keywords of the first version, in its order: they must stay
//! first and unchanged (tests/golden.rs), or every container would be replaced by an upgrade.
//! A keyword declared as the Engine's default (`privileged: False`, an empty list) is not
//! recorded: declaring it changes nothing, and adding it to a state replaces nothing.

use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::input::Invalid;
use crate::spec::forms as f;

/// One keyword.
pub struct Keyword {
    /// The canonical name, as the record and `docker_container.running` write it.
    pub name: &'static str,
    /// Other names for it, as Salt's translation accepts them (`cmd`, `env`, ...).
    pub aliases: &'static [&'static str],
    /// The value forms it accepts, for the docs.
    pub accepts: &'static str,
    /// Where it lands in the create request (and in `inspect`).
    pub lands: Lands,
    /// One line for the docs.
    pub doc: &'static str,
    /// Reads a declared value: the normalised value, or `None` when it is the Engine's default
    /// (not recorded).
    pub(crate) read: Read,
    /// The normalised value as the Engine's API takes it at `lands`.
    pub(crate) api: fn(&Value) -> Value,
    /// How the value a container runs with is compared with the declared one (adoption).
    pub check: Check,
    /// What a container has there when the keyword is not declared (adoption checks it).
    pub unset: Unset,
}

/// What a container holds where a keyword lands when it is not declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unset {
    /// Nothing: null, empty, zero, false (or -1, "unlimited").
    Empty,
    /// Its image's value, at the same place of the image's `Config`.
    Image,
    /// Its image's entries, beside the declared ones (`Env`, `Labels`, `Volumes`,
    /// `ExposedPorts`).
    Merged,
    /// Whatever the Engine or its daemon sets (a host name, the logging driver, /dev/shm's
    /// size): not looked at.
    Engine,
}

/// How a running container's value (read back from `inspect`) meets a declared one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The same value.
    Equal,
    /// Every declared item is there (the image adds its own: `Env`, `Labels`, `Volumes`).
    Contains,
    /// The same items, in any order.
    SameSet,
    /// `HostConfig.PortBindings`, with an empty host IP where none is given.
    Bindings,
    /// The container is attached to every declared network.
    Networks,
    /// `HostConfig.Binds`, with `:rw` (the default mode) as good as none.
    Binds,
    /// Capabilities, in any order and spelling (`net_admin`, `CAP_NET_ADMIN`: the Engine adds
    /// the prefix).
    Capabilities,
    /// Links: the Engine keeps `/peer:/self/alias` for `peer:alias`.
    Links,
    /// A signal by any of its names (`TERM`, `SIGTERM`).
    Signal,
    /// The declared value, or none: `shutdown_timeout`, which Salt's state uses only to stop
    /// the old container and so never sets on a container.
    Lenient,
}

/// Reads one keyword's value (the keyword's name for the messages).
pub(crate) type Read = fn(&Invalid, &'static str, &Value) -> Result<Option<Value>>;

/// Where a keyword lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lands {
    /// A field of the container's `Config` (a dotted path for a nested one).
    Config(&'static str),
    /// A field of its `HostConfig`.
    Host(&'static str),
    /// Built by the create request itself (networks: one at create, the rest connected).
    Special(&'static str),
    /// Accepted for compatibility, changes nothing, not recorded.
    Nowhere(&'static str),
}

impl Lands {
    /// As the docs say it: `HostConfig.CapAdd`.
    pub fn describe(self) -> String {
        match self {
            Lands::Config(path) => format!("Config.{path}"),
            Lands::Host(path) => format!("HostConfig.{path}"),
            Lands::Special(what) | Lands::Nowhere(what) => what.to_string(),
        }
    }
}

const fn row(
    name: &'static str,
    aliases: &'static [&'static str],
    lands: Lands,
    read: Read,
    accepts: &'static str,
    doc: &'static str,
) -> Keyword {
    Keyword {
        name,
        aliases,
        accepts,
        lands,
        doc,
        read,
        api: same,
        check: Check::Equal,
        unset: Unset::Empty,
    }
}

const fn unset(keyword: Keyword, unset: Unset) -> Keyword {
    Keyword { unset, ..keyword }
}

const fn checked(keyword: Keyword, check: Check) -> Keyword {
    Keyword { check, ..keyword }
}

const fn with_api(keyword: Keyword, api: fn(&Value) -> Value) -> Keyword {
    Keyword { api, ..keyword }
}

fn same(value: &Value) -> Value {
    value.clone()
}

use Check::{Bindings, Binds, Capabilities, Contains, Lenient, Links, Networks, SameSet, Signal};
use Lands::{Config, Host, Nowhere, Special};
use Unset::{Engine, Image, Merged};

const LIST: &str = "a list, or a comma-separated string";
const CAPABILITIES: &str =
    "a list (or comma-separated string) of capabilities: `NET_ADMIN`, `net_admin`, `CAP_NET_ADMIN`, `ALL`";
const MAP: &str = "a dict, or a list (or comma-separated string) of `key=value`";
const BYTES: &str = "bytes, as a number or with a unit (`256m`, `1g`, `512k`, `100mb`)";
const FLAG: &str = "True or False";

/// Every keyword, in the order of the record.
pub const KEYWORDS: &[Keyword] = &[
    // The first version's keywords, in its order: never move or change these.
    unset(with_api(
        row(
            "command",
            &["cmd"],
            Config("Cmd"),
            f::argv,
            "a string (split like a shell) or a list",
            "the command the container runs (its image's CMD otherwise)",
        ),
        same,
    ), Image),
    unset(row(
        "entrypoint",
        &[],
        Config("Entrypoint"),
        f::argv,
        "a string (split like a shell) or a list",
        "the entrypoint (its image's otherwise)",
    ), Image),
    unset(with_api(
        checked(row(
            "environment",
            &["env"],
            Config("Env"),
            f::environment,
            "a dict, a list of `KEY=VALUE`, or a list of one-key dicts",
            "environment variables (values are hidden in every report)",
        ), Contains),
        f::env_api,
    ), Merged),
    with_api(
        checked(row(
            "port_bindings",
            &["publish"],
            Special("HostConfig.PortBindings, Config.ExposedPorts"),
            f::port_bindings,
            "a list (or comma-separated string) of `host:container[/proto]`, `ip:host:container`, \
             `ip::container`, `container`, container-side ranges (`8085-8087:8085-8087`); a host \
             range for replicas (`8080-8082:80`); the Engine's dict \
             `{\"80/tcp\": [{\"HostIp\": \"\", \"HostPort\": \"8080\"}]}`; `{container: host}`",
            "ports published on the host",
        ), Bindings),
        f::port_bindings_api,
    ),
    checked(row(
        "binds",
        &[],
        Host("Binds"),
        f::binds,
        "a list (or comma-separated string) of `source:/container/path[:options]`, or \
         docker-py's dict `{source: {bind: /path, ro: True}}` (or `mode`)",
        "host paths and named volumes mounted in the container",
    ), Binds),
    unset(with_api(
        checked(row(
            "volumes",
            &["volume"],
            Config("Volumes"),
            f::volumes,
            "a list of container paths",
            "anonymous volumes (taken over by each new container)",
        ), Contains),
        f::volumes_api,
    ), Merged),
    unset(checked(row(
        "labels",
        &["label"],
        Config("Labels"),
        f::labels,
        "a dict, a list of `key=value` or of keys, or a comma-separated string \
         (`io.saltext.docker-deploy.*` is reserved)",
        "labels (this tool's own are added)",
    ), Contains), Merged),
    with_api(
        row(
            "restart_policy",
            &["restart"],
            Host("RestartPolicy"),
            f::restart_policy,
            "`no`, `always`, `unless-stopped`, `on-failure[:N]`, or `{Name, MaximumRetryCount}`",
            "what the Engine does when the container exits",
        ),
        f::restart_policy_api,
    ),
    unset(row(
        "network_mode",
        &[],
        Host("NetworkMode"),
        f::network_mode,
        "`bridge`, `host`, `none`, `container:<name>`, or a network name",
        "the network stack the container uses",
    ), Engine),
    unset(checked(row(
        "networks",
        &[],
        Special("NetworkingConfig (one at create, the others connected)"),
        f::networks,
        "a list of names, `{name: {aliases, ipv4_address, ipv6_address}}`, or a list of \
         one-key dicts `[{name: {aliases: [...]}}]`",
        "user-defined networks to attach",
    ), Networks), Engine),
    unset(row(
        "user",
        &[],
        Config("User"),
        f::user,
        "a user name or uid, `user:group`",
        "the user the container runs as",
    ), Image),
    unset(row(
        "working_dir",
        &["workdir"],
        Config("WorkingDir"),
        f::abs_path,
        "an absolute path",
        "the working directory",
    ), Image),
    unset(row(
        "hostname",
        &[],
        Config("Hostname"),
        f::word,
        "a host name",
        "the container's host name",
    ), Engine),
    checked(row(
        "extra_hosts",
        &[],
        Host("ExtraHosts"),
        f::extra_hosts,
        "a list (or comma-separated string) of `host:ip`, or a dict `{host: ip}`",
        "lines added to /etc/hosts",
    ), SameSet),
    checked(row(
        "shutdown_timeout",
        &["stop_timeout"],
        Config("StopTimeout"),
        f::shutdown_timeout,
        "whole seconds",
        "how long the Engine waits after `stop_signal` before it kills",
    ), Lenient),
    unset(checked(row(
        "stop_signal",
        &[],
        Config("StopSignal"),
        f::signal,
        "a signal name or number",
        "the signal that stops the container",
    ), Signal), Image),
    unset(with_api(
        row(
            "healthcheck",
            &[],
            Config("Healthcheck"),
            f::healthcheck,
            "`{test, interval, timeout, retries, start_period}`: `test` a shell string, an argv \
             list, or `[\"CMD\", ...]` / `[\"NONE\"]`; durations as seconds, `\"500ms\"`, \
             `\"2s\"`, `\"1m\"`, or docker-py's nanoseconds; also docker-py's `{Test, Interval, \
             ...}`",
            "the container's HEALTHCHECK (the image's otherwise); a redeploy waits for `healthy`",
        ),
        f::healthcheck_api,
    ), Image),
    // Everything else `docker_container.running` takes, by name.
    row(
        "auto_remove",
        &["rm"],
        Host("AutoRemove"),
        f::auto_remove,
        FLAG,
        "only False: a container removed when it stops could never wait as the backup",
    ),
    row(
        "blkio_weight",
        &[],
        Host("BlkioWeight"),
        f::blkio_weight,
        "10 to 1000",
        "relative block I/O weight",
    ),
    checked(row(
        "blkio_weight_device",
        &[],
        Host("BlkioWeightDevice"),
        f::blkio_weight_device,
        "a list of `PATH:WEIGHT`, or of `{Path, Weight}`",
        "block I/O weight per device",
    ), SameSet),
    checked(row(
        "cap_add",
        &[],
        Host("CapAdd"),
        f::capabilities,
        CAPABILITIES,
        "Linux capabilities to add",
    ), Capabilities),
    checked(row(
        "cap_drop",
        &[],
        Host("CapDrop"),
        f::capabilities,
        CAPABILITIES,
        "Linux capabilities to drop",
    ), Capabilities),
    row(
        "cgroup_parent",
        &[],
        Host("CgroupParent"),
        f::text,
        "a cgroup path",
        "the cgroup the container's cgroup is made under",
    ),
    unset(row(
        "cgroupns",
        &[],
        Host("CgroupnsMode"),
        f::cgroupns,
        "`host` or `private`",
        "the cgroup namespace",
    ), Engine),
    row(
        "cpu_period",
        &["cpu_group"],
        Host("CpuPeriod"),
        f::cpu_period,
        "microseconds, 1000 to 1000000",
        "the length of a CPU period (CFS)",
    ),
    row(
        "cpu_quota",
        &[],
        Host("CpuQuota"),
        f::cpu_quota,
        "microseconds per period, -1 or more",
        "CPU time per period (CFS)",
    ),
    row(
        "cpu_shares",
        &[],
        Host("CpuShares"),
        f::cpu_shares,
        "2 to 262144",
        "relative CPU weight",
    ),
    row(
        "cpuset_cpus",
        &["cpuset"],
        Host("CpusetCpus"),
        f::cpu_set,
        "`0-3` or `0,1`",
        "the CPUs the container may use",
    ),
    row(
        "cpuset_mems",
        &[],
        Host("CpusetMems"),
        f::cpu_set,
        "`0-3` or `0,1`",
        "the memory nodes the container may use (NUMA)",
    ),
    unset(row(
        "detach",
        &[],
        Nowhere("(accepted: containers always run detached)"),
        f::detach,
        FLAG,
        "accepted for docker_container.running; every container runs detached",
    ), Engine),
    checked(row(
        "device_read_bps",
        &[],
        Host("BlkioDeviceReadBps"),
        f::device_bps,
        "a list of `PATH:RATE` (rate in bytes, with a unit), or of `{Path, Rate}`",
        "read rate limit per device",
    ), SameSet),
    checked(row(
        "device_read_iops",
        &[],
        Host("BlkioDeviceReadIOps"),
        f::device_iops,
        "a list of `PATH:RATE` (operations per second), or of `{Path, Rate}`",
        "read operations limit per device",
    ), SameSet),
    checked(row(
        "device_write_bps",
        &[],
        Host("BlkioDeviceWriteBps"),
        f::device_bps,
        "a list of `PATH:RATE` (rate in bytes, with a unit), or of `{Path, Rate}`",
        "write rate limit per device",
    ), SameSet),
    checked(row(
        "device_write_iops",
        &[],
        Host("BlkioDeviceWriteIOps"),
        f::device_iops,
        "a list of `PATH:RATE` (operations per second), or of `{Path, Rate}`",
        "write operations limit per device",
    ), SameSet),
    checked(row(
        "devices",
        &[],
        Host("Devices"),
        f::devices,
        "a list (or comma-separated string) of `/dev/host[:/dev/container[:permissions]]`, or of \
         `{PathOnHost, PathInContainer, CgroupPermissions}`",
        "host devices in the container",
    ), SameSet),
    row(
        "device_requests",
        &[],
        Host("DeviceRequests"),
        f::device_requests,
        "a list of dicts `{driver, count, device_ids, capabilities, options}` (docker-py's \
         names, or the Engine's)",
        "devices requested from a driver (GPUs: `{driver: nvidia, count: -1, capabilities: \
         [[gpu]]}`)",
    ),
    row(
        "dns",
        &[],
        Host("Dns"),
        f::ip_list,
        "a list (or comma-separated string) of IP addresses",
        "DNS servers",
    ),
    row(
        "dns_opt",
        &["dns_option"],
        Host("DnsOptions"),
        f::word_list,
        LIST,
        "DNS options",
    ),
    row(
        "dns_search",
        &[],
        Host("DnsSearch"),
        f::word_list,
        LIST,
        "DNS search domains",
    ),
    row(
        "domainname",
        &[],
        Config("Domainname"),
        f::word,
        "a domain name",
        "the container's domain name",
    ),
    checked(row(
        "group_add",
        &[],
        Host("GroupAdd"),
        f::word_set,
        LIST,
        "more groups the container's user is in",
    ), SameSet),
    row(
        "init",
        &[],
        Host("Init"),
        f::flag,
        FLAG,
        "run an init process as PID 1 (tini)",
    ),
    unset(row(
        "ipc_mode",
        &["ipc"],
        Host("IpcMode"),
        f::word,
        "`none`, `private`, `shareable`, `host`, `container:<name>`",
        "the IPC namespace",
    ), Engine),
    unset(row(
        "isolation",
        &[],
        Host("Isolation"),
        f::isolation,
        "`default`, `process` or `hyperv`",
        "the isolation technology (Windows)",
    ), Engine),
    checked(row(
        "links",
        &[],
        Host("Links"),
        f::links,
        "a list (or comma-separated string) of `name:alias`, or a dict `{name: alias}`",
        "legacy links to other containers",
    ), Links),
    unset(row(
        "log_driver",
        &[],
        Host("LogConfig.Type"),
        f::word,
        "a logging driver name",
        "where the container's output goes (`json-file`, `syslog`, ...)",
    ), Engine),
    unset(checked(row(
        "log_opt",
        &[],
        Host("LogConfig.Config"),
        f::key_values,
        MAP,
        "the logging driver's options",
    ), Contains), Engine),
    unset(row(
        "mac_address",
        &[],
        Nowhere("(refused)"),
        f::mac_address,
        "a MAC address",
        "refused: the Engine API of this client sets it per network, not per container",
    ), Engine),
    row(
        "mem_limit",
        &["memory"],
        Host("Memory"),
        f::bytes,
        BYTES,
        "the memory limit",
    ),
    row(
        "mem_reservation",
        &[],
        Host("MemoryReservation"),
        f::bytes,
        BYTES,
        "the soft memory limit",
    ),
    row(
        "mem_swappiness",
        &[],
        Host("MemorySwappiness"),
        f::swappiness,
        "0 to 100",
        "how readily the container's memory is swapped",
    ),
    unset(row(
        "memswap_limit",
        &["memory_swap"],
        Host("MemorySwap"),
        f::swap_bytes,
        "bytes (as `mem_limit`), or -1 for unlimited",
        "memory plus swap limit",
    ), Engine),
    row(
        "nano_cpus",
        &[],
        Host("NanoCpus"),
        f::nano_cpus,
        "billionths of a CPU (1e9 is one)",
        "the CPU limit",
    ),
    row(
        "network_disabled",
        &[],
        Config("NetworkDisabled"),
        f::flag,
        FLAG,
        "no networking at all",
    ),
    row(
        "oom_kill_disable",
        &[],
        Host("OomKillDisable"),
        f::flag,
        FLAG,
        "never OOM-kill the container",
    ),
    row(
        "oom_score_adj",
        &[],
        Host("OomScoreAdj"),
        f::oom_score_adj,
        "-1000 to 1000",
        "the container's OOM score adjustment",
    ),
    row(
        "pid_mode",
        &[],
        Host("PidMode"),
        f::word,
        "`host` or `container:<name>`",
        "the PID namespace",
    ),
    row(
        "pids_limit",
        &[],
        Host("PidsLimit"),
        f::pids_limit,
        "-1 (unlimited) or more",
        "the most processes the container may run",
    ),
    unset(with_api(
        checked(row(
            "ports",
            &["expose"],
            Config("ExposedPorts"),
            f::ports,
            "a list (or comma-separated string) of `port[/proto]` or ranges `7000-7005[/proto]`",
            "ports exposed without publishing (published ones are exposed anyway)",
        ), Contains),
        f::ports_api,
    ), Merged),
    row(
        "privileged",
        &[],
        Host("Privileged"),
        f::flag,
        FLAG,
        "every privilege of the host",
    ),
    row(
        "publish_all_ports",
        &["publish_all"],
        Host("PublishAllPorts"),
        f::flag,
        FLAG,
        "publish every exposed port on a random host port",
    ),
    row(
        "read_only",
        &[],
        Host("ReadonlyRootfs"),
        f::flag,
        FLAG,
        "a read-only root file system",
    ),
    unset(row(
        "runtime",
        &[],
        Host("Runtime"),
        f::word,
        "a runtime name",
        "the OCI runtime",
    ), Engine),
    checked(row(
        "security_opt",
        &["security_opts"],
        Host("SecurityOpt"),
        f::text_set,
        LIST,
        "security options (`no-new-privileges`, `seccomp=...`, `apparmor=...`)",
    ), SameSet),
    unset(row(
        "shm_size",
        &[],
        Host("ShmSize"),
        f::bytes,
        BYTES,
        "the size of /dev/shm",
    ), Engine),
    row(
        "stdin_open",
        &["interactive"],
        Config("OpenStdin"),
        f::flag,
        FLAG,
        "keep the container's stdin open",
    ),
    row(
        "storage_opt",
        &[],
        Host("StorageOpt"),
        f::key_values,
        MAP,
        "the storage driver's options for the container",
    ),
    row(
        "sysctls",
        &["sysctl"],
        Host("Sysctls"),
        f::key_values,
        MAP,
        "kernel parameters",
    ),
    row(
        "tmpfs",
        &[],
        Host("Tmpfs"),
        f::tmpfs,
        "a dict `{path: options}`, or a list of `path[:options]`",
        "tmpfs mounts",
    ),
    row(
        "tty",
        &[],
        Config("Tty"),
        f::flag,
        FLAG,
        "a pseudo-terminal",
    ),
    checked(row(
        "ulimits",
        &["ulimit"],
        Host("Ulimits"),
        f::ulimits,
        "a list (or comma-separated string) of `name=soft[:hard]`, or of `{Name, Soft, Hard}`",
        "resource limits",
    ), SameSet),
    row(
        "userns_mode",
        &["user_ns_mode"],
        Host("UsernsMode"),
        f::word,
        "`host`",
        "the user namespace",
    ),
    row(
        "uts_mode",
        &[],
        Host("UTSMode"),
        f::word,
        "`host`",
        "the UTS namespace",
    ),
    row(
        "volume_driver",
        &[],
        Host("VolumeDriver"),
        f::word,
        "a volume driver name",
        "the driver of the container's volumes",
    ),
    checked(row(
        "volumes_from",
        &[],
        Host("VolumesFrom"),
        f::text_list,
        LIST,
        "containers whose volumes are mounted too (`name[:ro|rw]`)",
    ), SameSet),
];

/// Names refused with the reason: an argument Docker itself removed, and the Engine's own
/// structure where a state might try to pass it whole.
pub const REFUSED: &[(&str, &str)] = &[
    (
        "lxc_conf",
        "the LXC execution driver it configured was removed from Docker in 1.10",
    ),
    (
        "host_config",
        "declare its settings by their keywords (binds, port_bindings, mem_limit, ...), as \
         docker_container.running takes them",
    ),
];

/// The keyword named `name` (canonical, or an alias), and its place in the table.
pub fn find(name: &str) -> Option<(usize, &'static Keyword)> {
    KEYWORDS
        .iter()
        .enumerate()
        .find(|(_, k)| k.name == name || k.aliases.contains(&name))
}

/// The place of a canonical keyword in the table (the record's order).
pub(crate) fn index_of(name: &str) -> usize {
    KEYWORDS
        .iter()
        .position(|k| k.name == name)
        .unwrap_or(usize::MAX)
}

/// The canonical names, in the table's order (exported to Python as `SPEC_KEYWORDS`).
pub fn names() -> Vec<&'static str> {
    KEYWORDS.iter().map(|k| k.name).collect()
}

/// Sets `value` at a dotted `path` in `map` (`LogConfig.Type`).
pub(crate) fn set_path(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_string(), value);
        }
        Some((head, rest)) => {
            let inner = map.entry(head.to_string()).or_insert_with(|| json!({}));
            if let Value::Object(inner) = inner {
                set_path(inner, rest, value);
            }
        }
    }
}

/// The value at a dotted `path` of `value`, if any.
pub(crate) fn get_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, part| v.get(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases_are_each_one_keywords() {
        let mut seen = std::collections::HashSet::new();
        for keyword in KEYWORDS {
            for name in std::iter::once(keyword.name).chain(keyword.aliases.iter().copied()) {
                assert!(seen.insert(name), "{name} names two keywords");
            }
            assert!(!keyword.doc.is_empty() && !keyword.accepts.is_empty());
        }
        for (name, _) in REFUSED {
            assert!(find(name).is_none());
        }
    }

    #[test]
    fn the_first_version_s_keywords_come_first_in_its_order() {
        assert_eq!(
            names()[..17],
            [
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
            ]
        );
    }

    #[test]
    fn dotted_paths_nest() {
        let mut map = Map::new();
        set_path(&mut map, "LogConfig.Type", json!("syslog"));
        set_path(&mut map, "LogConfig.Config", json!({"tag": "x"}));
        let value = Value::Object(map);
        assert_eq!(get_path(&value, "LogConfig.Type"), Some(&json!("syslog")));
        assert_eq!(
            value,
            json!({"LogConfig": {"Type": "syslog", "Config": {"tag": "x"}}})
        );
    }
}
