//! Parsing the declared configuration from the keyword arguments of Salt's
//! `docker_container.running`, as the table says ([`super::keywords`]): each keyword by its
//! name or an alias, each value in the forms it accepts. An unknown keyword (with the nearest
//! known name), a removed one, a malformed value or two names for one keyword is an error
//! that names it, before any Docker call.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::input::Invalid;
use crate::spec::declared::ContainerSpec;
use crate::spec::keywords::{find, KEYWORDS, REFUSED};

pub use crate::spec::forms::split_shell_words;

/// Salt's requisites: a typo of one (`requires`) reaches the state as an argument.
const REQUISITES: &[&str] = &[
    "require",
    "require_in",
    "require_any",
    "watch",
    "watch_in",
    "watch_any",
    "onchanges",
    "onchanges_in",
    "onchanges_any",
    "onfail",
    "onfail_in",
    "onfail_any",
    "onfail_all",
    "prereq",
    "prereq_in",
    "listen",
    "listen_in",
    "use",
    "use_in",
    "onlyif",
    "unless",
    "creates",
];

impl ContainerSpec {
    /// Parses the keyword arguments declared for `container`. `null` means "not declared", as
    /// an omitted keyword does.
    pub fn from_keywords(container: &str, keywords: &Map<String, Value>) -> Result<Self> {
        let context = format!("container {container:?}");
        let inv = Invalid { context: &context };
        let mut spec = ContainerSpec::default();
        let mut given: Vec<Option<&str>> = vec![None; KEYWORDS.len()];
        for (name, value) in keywords {
            let Some((index, keyword)) = find(name) else {
                return Err(Error::invalid(&context, unknown(name)));
            };
            if value.is_null() {
                continue;
            }
            let read = (keyword.read)(&inv, keyword.name, value)?;
            match given[index].replace(name) {
                None => spec.set(keyword.name, read),
                Some(first) if both_meant(first, name) => {
                    if name == STOP_TIMEOUT {
                        spec.set(keyword.name, read);
                    } else {
                        given[index] = Some(first);
                    }
                }
                Some(first) => {
                    return Err(inv.err(
                        keyword.name,
                        format!("declared twice, as {first:?} and as {name:?}"),
                    ))
                }
            }
        }
        check_together(&inv, &spec)?;
        Ok(spec)
    }
}

/// Salt's state takes both: `stop_timeout` is the container's, `shutdown_timeout` how long
/// the state waits when it stops the old one. Here the Engine waits the container's own
/// (`stop_timeout` when both are declared, else the one declared) every time it is stopped.
const STOP_TIMEOUT: &str = "stop_timeout";

/// Two names of one keyword that a state may declare together (see [`STOP_TIMEOUT`]).
fn both_meant(first: &str, second: &str) -> bool {
    let mut pair = [first, second];
    pair.sort_unstable();
    pair == ["shutdown_timeout", STOP_TIMEOUT]
}

/// What settings declared together must agree on.
fn check_together(inv: &Invalid, spec: &ContainerSpec) -> Result<()> {
    if let Some(mode) = spec.network_mode() {
        let exclusive = mode == "host" || mode == "none" || mode.starts_with("container:");
        if exclusive && spec.get("networks").is_some() {
            return Err(inv.err(
                "networks",
                format!("cannot attach networks with network_mode {mode:?}"),
            ));
        }
        // The Engine would silently discard them: say so instead.
        if exclusive && spec.get("port_bindings").is_some() {
            return Err(inv.err(
                "port_bindings",
                format!("cannot publish ports with network_mode {mode:?}"),
            ));
        }
        if mode == "host" && spec.get("hostname").is_some() {
            return Err(inv.err("hostname", "cannot be set with network_mode \"host\""));
        }
    }
    if spec.get("publish_all_ports").is_some() && spec.get("port_bindings").is_some() {
        return Err(inv.err(
            "port_bindings",
            "cannot be declared with publish_all_ports (every exposed port gets a random one)",
        ));
    }
    Ok(())
}

/// The error for a keyword nobody knows, with the nearest known name (or why it is gone).
fn unknown(name: &str) -> String {
    if let Some((_, why)) = REFUSED.iter().find(|(refused, _)| *refused == name) {
        return format!("{name:?} is not supported: {why}");
    }
    let keywords = KEYWORDS
        .iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied()));
    let options = crate::options::TABLE.iter().map(|row| row.name);
    let nearest = keywords
        .chain(options)
        .map(|known| (distance(name, known), known, false))
        .chain(REQUISITES.iter().map(|r| (distance(name, r), *r, true)))
        .min_by_key(|(d, _, _)| *d);
    let shown: String = name.chars().take(64).collect();
    match nearest {
        Some((d, known, requisite)) if d <= 2 + name.len() / 6 => match requisite {
            true => format!(
                "unknown keyword {shown:?} (did you mean the requisite {known:?}? requisites \
                 are Salt's, and Salt reads them only under their own names)"
            ),
            false => format!("unknown keyword {shown:?} (did you mean {known:?}?)"),
        },
        _ => format!(
            "unknown keyword {shown:?} (known: every argument of docker_container.running; see \
             SPEC_KEYWORDS)"
        ),
    }
}

/// The edit distance of two names (Levenshtein), for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (here + 1)
                .min(row[j] + 1)
                .min(previous + usize::from(ca != *cb));
            previous = here;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::spec::declared::clean_path;
    use crate::spec::forms::{HealthCheck, HostBinding, RestartPolicy};
    use crate::spec::record::LABEL_SPEC;
    use serde_json::json;
    use std::collections::BTreeMap;

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
    fn a_keyword_and_its_alias_are_one_declaration() {
        invalid(json!({"command": "a", "cmd": "a"}), "declared twice");
        // Salt's state takes both stop timeouts: the container's own wins, in either order.
        for pair in [
            json!({"shutdown_timeout": 30, "stop_timeout": 10}),
            json!({"stop_timeout": 10, "shutdown_timeout": 30}),
        ] {
            assert_eq!(parse(pair).unwrap().shutdown_timeout(), Some(10));
        }
        invalid(
            json!({"stop_timeout": 10, "shutdown_timeout": "x"}),
            "shutdown_timeout",
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
        assert_eq!(empty_value.environment()["A"], "");
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
        assert_eq!(spec.port_bindings()["80/tcp"], vec![hb("", "8080")]);
        assert_eq!(
            spec.port_bindings()["443/tcp"],
            vec![hb("127.0.0.1", "8443")]
        );
        assert_eq!(spec.port_bindings()["53/udp"], vec![hb("", "53")]);
        assert_eq!(spec.port_bindings()["9000/tcp"], vec![hb("127.0.0.1", "")]);
        assert_eq!(spec.port_bindings()["7000/tcp"], vec![hb("", "")]);

        let engine =
            parse(json!({"port_bindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}))
                .unwrap();
        let salt = parse(json!({"port_bindings": {"80": 8080}})).unwrap();
        let text = parse(json!({"port_bindings": "8080:80"})).unwrap();
        assert_eq!(engine, salt);
        assert_eq!(engine, text);
        let ip = parse(json!({"port_bindings": {"80": "127.0.0.1:8080"}})).unwrap();
        assert_eq!(ip.port_bindings()["80/tcp"], vec![hb("127.0.0.1", "8080")]);
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
                .value_of::<RestartPolicy>("restart_policy")
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
            spec.value_of::<Vec<String>>("command").unwrap(),
            vec!["sh", "-c", "echo \"hi there\"", "a b"]
        );
        assert_eq!(
            spec.value_of::<Vec<String>>("entrypoint").unwrap(),
            vec!["/bin/x", "1"]
        );
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
        assert_eq!(spec.binds(), vec!["/b:/data:ro", "vol:/x"]);
        assert_eq!(
            spec.volumes().iter().collect::<Vec<_>>(),
            vec!["/cache", "/tmp/a"]
        );
        assert_eq!(
            spec.value_of::<BTreeMap<String, String>>("labels").unwrap()["flag"],
            ""
        );
        assert_eq!(
            spec.value_of::<Vec<String>>("extra_hosts")
                .unwrap_or_default(),
            vec!["db:10.0.0.2"]
        );
        assert_eq!(spec.networks()["backend"].aliases, vec!["api"]);
        assert_eq!(
            spec.extra_networks()
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            vec!["frontend"]
        );
        assert_eq!(
            parse(json!({"extra_hosts": ["db:10.0.0.2"]}))
                .unwrap()
                .value_of::<Vec<String>>("extra_hosts")
                .unwrap_or_default(),
            spec.value_of::<Vec<String>>("extra_hosts")
                .unwrap_or_default()
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
        assert_eq!(spec.value_of::<String>("user").as_deref(), Some("1000"));
        assert_eq!(spec.shutdown_timeout(), Some(5));
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
                .value_of::<String>("stop_signal")
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
        let body = spec
            .to_create_body("img:1", &[(LABEL_SPEC, spec.canonical_json())], &[])
            .unwrap();
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
        let check = shell.value_of::<HealthCheck>("healthcheck").unwrap();
        assert_eq!(check.test, ["CMD-SHELL", "wget -q localhost"]);
        assert_eq!(
            (check.interval_ms, check.timeout_ms, check.start_period_ms),
            (Some(2000), Some(1000), Some(500))
        );
        let argv = parse(json!({"healthcheck": {"test": ["/bin/true"]}})).unwrap();
        assert_eq!(
            argv.value_of::<HealthCheck>("healthcheck").unwrap().test,
            ["CMD", "/bin/true"]
        );
        let engine = parse(json!({"healthcheck": {"test": ["CMD", "/bin/true"]}})).unwrap();
        assert_eq!(
            engine.value_of::<HealthCheck>("healthcheck").unwrap().test,
            ["CMD", "/bin/true"]
        );
        let off = parse(json!({"healthcheck": {"test": "none"}})).unwrap();
        assert_eq!(
            off.value_of::<HealthCheck>("healthcheck").unwrap().test,
            ["NONE"]
        );

        let body = shell.to_create_body("img", &[], &[]).unwrap();
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
            spec.port_bindings()["80/tcp"][0].host_port,
            "8080-8082",
            "a range is kept as declared"
        );
        // 9000 is fixed: three replicas cannot share it.
        let err = spec.for_replica("web", 1, 3).unwrap_err().to_string();
        assert!(err.contains("9000") && err.contains("9000-9002"), "{err}");

        let ranged = parse(json!({"port_bindings": ["127.0.0.1:8080-8082:80", "90"]})).unwrap();
        for index in 1..=3 {
            let one = ranged.for_replica("web", index, 3).unwrap();
            assert_eq!(
                one.port_bindings()["80/tcp"][0].host_port,
                (8079 + index).to_string()
            );
            assert_eq!(one.port_bindings()["90/tcp"][0].host_port, "");
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
