//! Every keyword of `docker_container.running`, in the forms Salt's translation accepts, lands
//! where the Engine expects it in the create request; aliases name the same keyword; the
//! Engine's defaults are not recorded; bad values and unknown names are refused by name.

use docker_deploy::spec::keywords::KEYWORDS;
use docker_deploy::ContainerSpec;
use serde_json::{json, Value};

fn spec(keywords: Value) -> ContainerSpec {
    ContainerSpec::from_keywords("web", keywords.as_object().unwrap())
        .unwrap_or_else(|e| panic!("{keywords}: {e}"))
}

fn refused(keywords: Value) -> String {
    match ContainerSpec::from_keywords("web", keywords.as_object().unwrap()) {
        Ok(spec) => panic!("{keywords} was accepted: {}", spec.canonical_json()),
        Err(e) => e.to_string(),
    }
}

/// Every key of `want` is in `have` with the same value (objects compared the same way).
fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(have), Value::Object(want)) => want
            .iter()
            .all(|(k, v)| have.get(k).is_some_and(|h| contains(h, v))),
        (have, want) => have == want,
    }
}

fn lands(keywords: Value, want: Value) {
    let request = spec(keywords.clone()).create_request("img", &[], &[]);
    assert!(
        contains(&request, &want),
        "{keywords}\n  gives {request}\n  lacks {want}"
    );
    // And the request reads into the Engine client's model.
    spec(keywords)
        .to_create_body("img", &[], &[])
        .expect("a well-formed request");
}

#[test]
fn every_keyword_lands_where_the_engine_takes_it() {
    let cases = [
        (
            json!({"blkio_weight": 300}),
            json!({"HostConfig": {"BlkioWeight": 300}}),
        ),
        (
            json!({"blkio_weight_device": ["/dev/sda:200"]}),
            json!({"HostConfig": {"BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 200}]}}),
        ),
        (
            json!({"cap_add": "NET_ADMIN, SYS_TIME", "cap_drop": ["MKNOD"]}),
            json!({"HostConfig": {"CapAdd": ["NET_ADMIN", "SYS_TIME"], "CapDrop": ["MKNOD"]}}),
        ),
        (
            json!({"cgroup_parent": "/app", "cgroupns": "private"}),
            json!({"HostConfig": {"CgroupParent": "/app", "CgroupnsMode": "private"}}),
        ),
        (
            json!({"cpu_period": 50000, "cpu_quota": 25000, "cpu_shares": 512, "cpuset_cpus": "0-1", "cpuset_mems": "0", "nano_cpus": 1500000000}),
            json!({"HostConfig": {"CpuPeriod": 50000, "CpuQuota": 25000, "CpuShares": 512, "CpusetCpus": "0-1", "CpusetMems": "0", "NanoCpus": 1500000000_i64}}),
        ),
        (
            json!({"device_read_bps": "/dev/sda:1mb", "device_write_iops": [{"Path": "/dev/sdb", "Rate": 100}]}),
            json!({"HostConfig": {"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1048576}], "BlkioDeviceWriteIOps": [{"Path": "/dev/sdb", "Rate": 100}]}}),
        ),
        (
            json!({"device_read_iops": ["/dev/sda:50"], "device_write_bps": ["/dev/sda:2m"]}),
            json!({"HostConfig": {"BlkioDeviceReadIOps": [{"Path": "/dev/sda", "Rate": 50}], "BlkioDeviceWriteBps": [{"Path": "/dev/sda", "Rate": 2097152}]}}),
        ),
        (
            json!({"devices": "/dev/fuse,/dev/sda:/dev/xvda:r"}),
            json!({"HostConfig": {"Devices": [
                {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
                {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/xvda", "CgroupPermissions": "r"},
            ]}}),
        ),
        (
            json!({"device_requests": [{"driver": "nvidia", "count": -1, "capabilities": [["gpu"]]}]}),
            json!({"HostConfig": {"DeviceRequests": [{"Driver": "nvidia", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}]}}),
        ),
        (
            json!({"dns": "8.8.8.8,1.1.1.1", "dns_opt": ["ndots:2"], "dns_search": "example.com"}),
            json!({"HostConfig": {"Dns": ["8.8.8.8", "1.1.1.1"], "DnsOptions": ["ndots:2"], "DnsSearch": ["example.com"]}}),
        ),
        (
            json!({"domainname": "example.com", "stdin_open": true, "tty": true, "network_disabled": false}),
            json!({"Domainname": "example.com", "OpenStdin": true, "Tty": true}),
        ),
        (
            json!({"group_add": ["audio"], "init": true, "ipc_mode": "shareable", "pid_mode": "host"}),
            json!({"HostConfig": {"GroupAdd": ["audio"], "Init": true, "IpcMode": "shareable", "PidMode": "host"}}),
        ),
        (
            json!({"links": "db:database", "log_driver": "syslog", "log_opt": "tag=web,syslog-facility=daemon"}),
            json!({"HostConfig": {"Links": ["db:database"], "LogConfig": {"Type": "syslog", "Config": {"tag": "web", "syslog-facility": "daemon"}}}}),
        ),
        (
            json!({"mem_limit": "256m", "mem_reservation": "128m", "mem_swappiness": 10, "memswap_limit": -1, "shm_size": "64m"}),
            json!({"HostConfig": {"Memory": 268435456, "MemoryReservation": 134217728, "MemorySwappiness": 10, "MemorySwap": -1, "ShmSize": 67108864}}),
        ),
        (
            json!({"oom_kill_disable": true, "oom_score_adj": 500, "pids_limit": 100}),
            json!({"HostConfig": {"OomKillDisable": true, "OomScoreAdj": 500, "PidsLimit": 100}}),
        ),
        (
            json!({"ports": "7000-7001,53/udp"}),
            json!({"ExposedPorts": {"7000/tcp": {}, "7001/tcp": {}, "53/udp": {}}}),
        ),
        (
            json!({"privileged": true, "publish_all_ports": true, "read_only": true, "runtime": "runc"}),
            json!({"HostConfig": {"Privileged": true, "PublishAllPorts": true, "ReadonlyRootfs": true, "Runtime": "runc"}}),
        ),
        (
            json!({"security_opt": ["no-new-privileges"], "storage_opt": {"size": "10G"}, "sysctls": ["net.core.somaxconn=1024"]}),
            json!({"HostConfig": {"SecurityOpt": ["no-new-privileges"], "StorageOpt": {"size": "10G"}, "Sysctls": {"net.core.somaxconn": "1024"}}}),
        ),
        (
            json!({"tmpfs": ["/run:size=64m", "/tmp"], "ulimits": "nofile=1024:2048,nproc=512"}),
            json!({"HostConfig": {
                "Tmpfs": {"/run": "size=64m", "/tmp": ""},
                "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}, {"Name": "nproc", "Soft": 512, "Hard": 512}],
            }}),
        ),
        (
            json!({"userns_mode": "host", "uts_mode": "host", "volume_driver": "local", "volumes_from": ["data:ro"]}),
            json!({"HostConfig": {"UsernsMode": "host", "UTSMode": "host", "VolumeDriver": "local", "VolumesFrom": ["data:ro"]}}),
        ),
        (
            json!({"isolation": "process", "detach": true}),
            json!({"HostConfig": {"Isolation": "process"}}),
        ),
        // Forms of the first keywords Salt accepts too.
        (
            json!({"port_bindings": "8085-8087:8085-8087"}),
            json!({"HostConfig": {"PortBindings": {
                "8085/tcp": [{"HostIp": "", "HostPort": "8085"}],
                "8086/tcp": [{"HostIp": "", "HostPort": "8086"}],
                "8087/tcp": [{"HostIp": "", "HostPort": "8087"}],
            }}, "ExposedPorts": {"8085/tcp": {}, "8086/tcp": {}, "8087/tcp": {}}}),
        ),
        (
            json!({"binds": {"/srv/data": {"bind": "/data", "ro": true}, "logs": {"bind": "/logs", "mode": "rw"}}}),
            json!({"HostConfig": {"Binds": ["/srv/data:/data:ro", "logs:/logs"]}}),
        ),
        (
            json!({"healthcheck": {"Test": ["CMD", "true"], "Interval": 30_000_000_000_i64, "Retries": 3}}),
            json!({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 30_000_000_000_i64, "Retries": 3}}),
        ),
        (
            json!({"healthcheck": {"test": "true", "interval": 30_000_000_000_i64}}),
            json!({"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000_i64}}),
        ),
        (
            json!({"networks": [{"front": [{"aliases": ["web"]}]}, "back"], "restart_policy": "on-failure:3"}),
            json!({"HostConfig": {"NetworkMode": "back", "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}},
                   "NetworkingConfig": {"EndpointsConfig": {"back": {}}}}),
        ),
    ];
    for (keywords, want) in cases {
        lands(keywords, want);
    }
}

#[test]
fn aliases_name_the_same_keyword_and_two_names_of_one_are_refused() {
    let pairs = [
        ("cmd", "command", json!("httpd -f")),
        ("env", "environment", json!({"A": "1"})),
        ("publish", "port_bindings", json!(["8080:80"])),
        ("volume", "volumes", json!(["/data"])),
        ("label", "labels", json!({"a": "b"})),
        ("restart", "restart_policy", json!("always")),
        ("workdir", "working_dir", json!("/app")),
        ("cpuset", "cpuset_cpus", json!("0")),
        ("dns_option", "dns_opt", json!(["ndots:1"])),
        ("expose", "ports", json!([80])),
        ("interactive", "stdin_open", json!(true)),
        ("ipc", "ipc_mode", json!("host")),
        ("memory", "mem_limit", json!("1g")),
        ("memory_swap", "memswap_limit", json!("2g")),
        ("publish_all", "publish_all_ports", json!(true)),
        ("rm", "auto_remove", json!(false)),
        ("sysctl", "sysctls", json!({"a.b": "1"})),
        ("security_opts", "security_opt", json!(["x"])),
        ("ulimit", "ulimits", json!(["nofile=1"])),
        ("user_ns_mode", "userns_mode", json!("host")),
        ("cpu_group", "cpu_period", json!(100000)),
    ];
    for (alias, name, value) in pairs {
        assert_eq!(
            spec(json!({ alias: value.clone() })).canonical_json(),
            spec(json!({ name: value.clone() })).canonical_json(),
            "{alias} is {name}"
        );
        let twice = refused(json!({ alias: value.clone(), name: value }));
        assert!(twice.contains("declared twice"), "{twice}");
    }
    // Salt's state takes both stop timeouts (its own, and the container's): both are one
    // keyword here, and the container's wins.
    assert_eq!(
        spec(json!({"stop_timeout": 7})).canonical_json(),
        spec(json!({"shutdown_timeout": 7})).canonical_json()
    );
    assert_eq!(
        spec(json!({"shutdown_timeout": 30, "stop_timeout": 7})).canonical_json(),
        spec(json!({"shutdown_timeout": 7})).canonical_json()
    );
}

#[test]
fn every_spelling_of_one_declaration_is_one_record() {
    for (a, b) in [
        (
            json!({"cap_add": ["net_admin", "CAP_SYS_TIME"]}),
            json!({"cap_add": "SYS_TIME,NET_ADMIN"}),
        ),
        (
            json!({"security_opt": ["seccomp=unconfined", "no-new-privileges"]}),
            json!({"security_opt": "no-new-privileges, seccomp=unconfined"}),
        ),
        (
            json!({"labels": "tier=web,team"}),
            json!({"labels": {"team": "", "tier": "web"}}),
        ),
        (
            json!({"healthcheck": {"Test": ["CMD", "true"], "Interval": 1_500_000_000_i64}}),
            json!({"healthcheck": {"test": ["CMD", "true"], "interval": "1500ms"}}),
        ),
        (
            json!({"binds": {"/srv": {"bind": "/data", "ro": "true"}}}),
            json!({"binds": ["/srv:/data:ro"]}),
        ),
        (json!({"mem_limit": "1.5k"}), json!({"mem_limit": 1536})),
    ] {
        assert_eq!(
            spec(a.clone()).canonical_json(),
            spec(b.clone()).canonical_json(),
            "{a} and {b}"
        );
    }
    let caps = spec(json!({"cap_add": ["cap_net_admin"]})).create_request("img", &[], &[]);
    assert_eq!(caps["HostConfig"]["CapAdd"], json!(["NET_ADMIN"]));
}

#[test]
fn the_engines_defaults_are_not_recorded() {
    let defaults = json!({
        "auto_remove": false, "detach": true, "privileged": false, "init": "false",
        "tty": false, "cap_add": [], "dns": [], "environment": {}, "isolation": "default",
        "network_mode": "bridge", "restart_policy": "no", "oom_score_adj": 0, "cpu_quota": 0,
    });
    assert_eq!(spec(defaults).canonical_json(), "{}");
}

#[test]
fn bad_values_and_unknown_names_are_refused_by_name() {
    for (keywords, needle) in [
        (
            json!({"requires": ["x"]}),
            "did you mean the requisite \"require\"",
        ),
        (json!({"commands": "x"}), "did you mean \"command\""),
        (json!({"lxc_conf": {"a": "b"}}), "removed from Docker"),
        (json!({"auto_remove": true}), "auto_remove: True is refused"),
        (
            json!({"mac_address": "02:42:ac:11:00:02"}),
            "mac_address: is refused",
        ),
        (json!({"mem_limit": "lots"}), "mem_limit"),
        (json!({"mem_limit": "99999999t"}), "out of range"),
        (json!({"blkio_weight": 5}), "from 10 to 1000"),
        (
            json!({"ulimits": ["nofile=2048:1024"]}),
            "above its hard limit",
        ),
        (json!({"dns": ["not-an-ip"]}), "not an IP address"),
        (json!({"devices": ["dev/sda"]}), "devices"),
        (json!({"tmpfs": ["run"]}), "not an absolute path"),
        (json!({"cgroupns": "shared"}), "host or private"),
        (json!({"port_bindings": "8085-8087:80-81"}), "as many ports"),
        (
            json!({"publish_all_ports": true, "port_bindings": ["80:80"]}),
            "publish_all_ports",
        ),
        (json!({"network_mode": "host", "hostname": "x"}), "hostname"),
        (json!({"device_requests": [{"gpus": 1}]}), "unknown key"),
        (
            json!({"host_config": {"Privileged": true}}),
            "by their keywords",
        ),
        (
            json!({"binds": {"/srv": {"bind": "/d", "readonly": true}}}),
            "binds",
        ),
        (
            json!({"binds": {"/srv": {"bind": "/d", "ro": true, "mode": "rw"}}}),
            "binds",
        ),
        (
            json!({"healthcheck": {"test": "true", "Test": "false"}}),
            "healthcheck",
        ),
        (json!({"sysctls": ["net.a=1", "net.a=2"]}), "twice"),
        (json!({"ulimits": ["nofile=-1:1024"]}), "ulimits"),
        (json!({"ulimits": ["nofile=1", "nofile=2"]}), "twice"),
        (json!({"cpu_quota": 500}), "cpu_quota"),
        (json!({"cap_add": ["NET ADMIN"]}), "not a capability name"),
        (json!({"expose": ["0"]}), "ports"),
        (json!({"ports": "1000-3000"}), "at most 1024 ports"),
        (json!({"port_bindings": "1000-3000"}), "at most 1024 ports"),
    ] {
        let message = refused(keywords.clone());
        assert!(message.contains(needle), "{keywords}: {message}");
        assert!(message.contains("nothing was changed"), "{message}");
    }
}

#[test]
fn every_keyword_of_docker_container_running_is_in_the_table() {
    // The arguments of saltext-dockermod's docker_container.running that configure the
    // container (its translate/container.py, and `networks`), besides the state's own options.
    let salt = [
        "auto_remove",
        "binds",
        "blkio_weight",
        "blkio_weight_device",
        "cap_add",
        "cap_drop",
        "command",
        "cpu_group",
        "cpu_period",
        "cpu_quota",
        "cpu_shares",
        "cpuset_cpus",
        "cpuset_mems",
        "detach",
        "device_read_bps",
        "device_read_iops",
        "device_write_bps",
        "device_write_iops",
        "devices",
        "device_requests",
        "dns",
        "dns_opt",
        "dns_search",
        "domainname",
        "entrypoint",
        "environment",
        "extra_hosts",
        "group_add",
        "healthcheck",
        "hostname",
        "init",
        "ipc_mode",
        "isolation",
        "labels",
        "links",
        "log_driver",
        "log_opt",
        "mac_address",
        "mem_limit",
        "mem_reservation",
        "mem_swappiness",
        "memswap_limit",
        "nano_cpus",
        "network_disabled",
        "network_mode",
        "networks",
        "oom_kill_disable",
        "oom_score_adj",
        "pid_mode",
        "pids_limit",
        "port_bindings",
        "ports",
        "privileged",
        "publish_all_ports",
        "read_only",
        "restart_policy",
        "runtime",
        "security_opt",
        "shm_size",
        "stdin_open",
        "stop_signal",
        "stop_timeout",
        "storage_opt",
        "sysctls",
        "tmpfs",
        "tty",
        "ulimits",
        "user",
        "userns_mode",
        "volume_driver",
        "volumes",
        "volumes_from",
        "working_dir",
        "cgroup_parent",
        "cgroupns",
        "uts_mode",
        "cmd",
        "cpuset",
        "dns_option",
        "env",
        "expose",
        "interactive",
        "ipc",
        "label",
        "memory",
        "memory_swap",
        "publish",
        "publish_all",
        "restart",
        "rm",
        "sysctl",
        "security_opts",
        "ulimit",
        "user_ns_mode",
        "volume",
        "workdir",
        "shutdown_timeout",
    ];
    let known: Vec<&str> = KEYWORDS
        .iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied()))
        .collect();
    for name in salt {
        assert!(known.contains(&name), "{name} is not in the table");
    }
}
