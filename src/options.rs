//! How a redeploy runs, as opposed to what it deploys: the one table of options a caller may
//! give (`pull`, `strategy`, `min_uptime`, `dry_run`, ...), each with its type, default, range
//! and one line of doc, and which calls take it. The Python functions, the Salt modules, the
//! stub and the README take their option lists from here (exported as `OPTION_TABLE`, and
//! checked against it by tests). Every keyword that is not an option is a container setting
//! ([`crate::spec`]).
//!
//! Every number has a range: a value outside it (or of the wrong type) is an `InvalidSpec` that
//! names the option and the range, never a panic, a wrapped-around duration or a hang.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::image::auth::Auth;
use crate::image::refresh::PullPolicy;
use crate::input::{describe_word, type_name, Invalid};

/// The calls that take options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `redeploy` (and the `deployed` state).
    Redeploy,
    /// One entry of `redeploy_group` (and of the `group` state).
    GroupEntry,
    /// `redeploy_group` itself.
    Group,
    Rollback,
    Remove,
    Pull,
    Check,
    /// `update`: every container that follows an image, from its record.
    Update,
}

impl Call {
    /// Its name in the exported table (the Python function's, or `group_entry`).
    pub fn as_str(self) -> &'static str {
        match self {
            Call::Redeploy => "redeploy",
            Call::GroupEntry => "group_entry",
            Call::Group => "redeploy_group",
            Call::Rollback => "rollback",
            Call::Remove => "remove",
            Call::Pull => "pull",
            Call::Check => "check",
            Call::Update => "update",
        }
    }

    /// As a message names it.
    fn describe(self) -> &'static str {
        match self {
            Call::GroupEntry => "a group entry",
            other => other.as_str(),
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct OptionRow {
    pub name: &'static str,
    /// The Python type it takes.
    pub kind: &'static str,
    /// Its default as JSON (`null`: not set).
    pub default: &'static str,
    /// One line for the docs.
    pub doc: &'static str,
    /// The calls that take it.
    pub calls: &'static [Call],
}

const REDEPLOY: &[Call] = &[Call::Redeploy, Call::GroupEntry];
const VERIFIED: &[Call] = &[Call::Redeploy, Call::GroupEntry, Call::Rollback];

/// Every option, in the order they are documented.
pub const TABLE: &[OptionRow] = &[
    OptionRow {
        name: "pull",
        kind: "bool",
        default: "true",
        doc: "pull the tag first; `False` uses the local tag as it is (`pull_policy: never`)",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "pull_policy",
        kind: "str",
        default: "\"if-changed\"",
        doc: "how to pull: `if-changed` (ask the registry for the tag's digest, one request and \
              no layers, and pull only when it moved), `always`, `missing` (only when the tag \
              is not on this host), `never`",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "digest",
        kind: "str",
        default: "null",
        doc: "deploy the image of this manifest digest (`sha256:...`) of the tag's repository, \
              pulled by digest, instead of asking for the tag's; the container still follows \
              the tag (a fleet rollout pins one digest for every minion)",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "auth",
        kind: "dict",
        default: "null",
        doc: "`{username, password}` for the registry (Salt: by default the \
              `docker-registries` pillar entry of the image's registry)",
        calls: &[
            Call::Redeploy,
            Call::GroupEntry,
            Call::Pull,
            Call::Check,
            Call::Update,
        ],
    },
    OptionRow {
        name: "force",
        kind: "bool",
        default: "false",
        doc: "replace the container even when nothing differs (a `watch` requisite sets it)",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "strategy",
        kind: "str",
        default: "\"create-first\"",
        doc: "`create-first`, `stop-first` or `start-first` (see How a replacement runs)",
        calls: VERIFIED,
    },
    OptionRow {
        name: "health_timeout",
        kind: "float",
        default: "60",
        doc: "seconds to wait for `healthy` when the container has a HEALTHCHECK",
        calls: VERIFIED,
    },
    OptionRow {
        name: "min_uptime",
        kind: "float",
        default: "2",
        doc: "without a HEALTHCHECK: seconds the new container must run without a restart",
        calls: VERIFIED,
    },
    OptionRow {
        name: "rollback",
        kind: "bool",
        default: "true",
        doc: "bring the previous container back on failure; `False` keeps the failed one for \
              inspection and the previous one stopped as `<name>.deploy-old`",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "lock_timeout",
        kind: "float",
        default: "300",
        doc: "seconds to wait while another run redeploys or removes the same container on \
              this host",
        calls: &[
            Call::Redeploy,
            Call::GroupEntry,
            Call::Rollback,
            Call::Remove,
        ],
    },
    OptionRow {
        name: "keep_images",
        kind: "int",
        default: "null",
        doc: "after a success, remove images of the repository beyond the newest N, never one \
              in use",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "replicas",
        kind: "int",
        default: "null",
        doc: "manage `<name>-1` .. `<name>-N`, one at a time; host ports take a range \
              (`8080-8082:80`)",
        calls: &[Call::Redeploy],
    },
    OptionRow {
        name: "renew_anonymous_volumes",
        kind: "bool",
        default: "false",
        doc: "give the new container fresh anonymous volumes, and remove the old container's \
              (by default it takes them over)",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "pull_timeout",
        kind: "float",
        default: "600",
        doc: "seconds a pull may take before it is given up, the old container serving",
        calls: &[Call::Redeploy, Call::GroupEntry, Call::Pull, Call::Update],
    },
    OptionRow {
        name: "dry_run",
        kind: "bool",
        default: "false",
        doc: "say what would be done, with the same report, and change nothing: no pull, no \
              container created, started, stopped, renamed or removed (Salt's `test=True`)",
        calls: &[
            Call::Redeploy,
            Call::GroupEntry,
            Call::Group,
            Call::Rollback,
            Call::Remove,
            Call::Update,
        ],
    },
    OptionRow {
        name: "names",
        kind: "list",
        default: "null",
        doc: "only the containers whose names match one of these patterns (`*` any run of \
              characters, `?` one); Salt: by default the minion's `docker_deploy:names` config",
        calls: &[Call::Update],
    },
    OptionRow {
        name: "events",
        kind: "bool",
        default: "true",
        doc: "Salt: fire an event on the master's bus for each outcome \
              (`saltext/docker_deploy/<outcome>`); the Python API fires none",
        calls: &[
            Call::Redeploy,
            Call::Group,
            Call::Rollback,
            Call::Remove,
            Call::Update,
        ],
    },
    OptionRow {
        name: "watch_action",
        kind: "str",
        default: "\"force\"",
        doc: "docker_container.running's: only `force` (a `watch` that fires redeploys)",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "start",
        kind: "bool",
        default: "true",
        doc: "docker_container.running's: only `True` (a container is verified running)",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "skip_translate",
        kind: "object",
        default: "null",
        doc: "docker_container.running's; accepted, changes nothing (every form is read)",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "ignore_collisions",
        kind: "bool",
        default: "false",
        doc: "docker_container.running's; accepted, changes nothing (two names of one keyword \
              are an error)",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "validate_ip_addrs",
        kind: "bool",
        default: "true",
        doc: "docker_container.running's; accepted, changes nothing (addresses are checked)",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "client_timeout",
        kind: "int",
        default: "null",
        doc: "docker_container.running's; accepted, changes nothing (see \
              SALTEXT_DOCKER_DEPLOY_ENGINE_TIMEOUT)",
        calls: REDEPLOY,
    },
    OptionRow {
        name: "concurrency",
        kind: "int",
        default: "4",
        doc: "how many containers of a group are redeployed at the same time",
        calls: &[Call::Group, Call::Update],
    },
];

/// The options a call takes, by name.
pub fn names_for(call: Call) -> Vec<&'static str> {
    TABLE
        .iter()
        .filter(|row| row.calls.contains(&call))
        .map(|row| row.name)
        .collect()
}

/// In which order the old container gives way to the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Create the new container while the old one serves, then swap: the gap is stop + start.
    #[default]
    CreateFirst,
    /// The seed's order, stop before anything else, for containers that must never overlap.
    StopFirst,
    /// Start and verify the new one before the old one stops: no gap, but no fixed host ports.
    StartFirst,
}

impl Strategy {
    pub const NAMES: [&'static str; 3] = ["create-first", "stop-first", "start-first"];

    pub fn parse(text: &str) -> Result<Strategy> {
        match text {
            "create-first" => Ok(Strategy::CreateFirst),
            "stop-first" => Ok(Strategy::StopFirst),
            "start-first" => Ok(Strategy::StartFirst),
            other => Err(Error::invalid(
                "",
                format!(
                    "strategy {} is unknown (known: {})",
                    describe_word(other),
                    Strategy::NAMES.join(", ")
                ),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::CreateFirst => "create-first",
            Strategy::StopFirst => "stop-first",
            Strategy::StartFirst => "start-first",
        }
    }
}

/// Seconds, as given (fractions allowed), and the range each duration option accepts.
pub const HEALTH_TIMEOUT_S: RangeInclusive<f64> = 0.0..=86_400.0;
pub const MIN_UPTIME_S: RangeInclusive<f64> = 0.0..=3_600.0;
pub const LOCK_TIMEOUT_S: RangeInclusive<f64> = 0.0..=86_400.0;
pub const PULL_TIMEOUT_S: RangeInclusive<f64> = 1.0..=86_400.0;
pub const KEEP_IMAGES: RangeInclusive<i64> = 1..=1_000;
/// Replicas of one container on one host; each is a container of its own, rolled one by one.
pub const REPLICAS: RangeInclusive<i64> = 1..=100;
/// Containers of a group redeployed at once, over one Engine connection.
pub const CONCURRENCY: RangeInclusive<i64> = 1..=64;
/// docker_container.running's client timeout (accepted, without effect here).
pub const CLIENT_TIMEOUT_S: RangeInclusive<i64> = 1..=86_400;

/// A container name pattern: `*` matches any run of characters, `?` one; the rest is literal
/// (container names have no other special character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    /// A list of patterns, or one (or several, comma-separated) as a string.
    pub(crate) fn parse_list(
        bad: &Invalid,
        option: &str,
        value: &Value,
    ) -> Result<Vec<NamePattern>> {
        let texts: Vec<&str> = match value {
            Value::String(text) => text.split(',').map(str::trim).collect(),
            Value::Array(items) => items
                .iter()
                .map(|item| bad.text(option, item))
                .collect::<Result<_>>()?,
            other => {
                return Err(bad.err(
                    option,
                    format!("expected a list of name patterns, got {}", type_name(other)),
                ))
            }
        };
        texts
            .into_iter()
            .map(|text| {
                let valid = !text.is_empty()
                    && text.len() <= 256
                    && text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-*?".contains(c));
                match valid {
                    true => Ok(NamePattern(text.to_string())),
                    false => Err(bad.err(
                        option,
                        format!(
                            "{} is not a container name pattern (letters, digits, _ . - and \
                             the wildcards * ?)",
                            describe_word(text)
                        ),
                    )),
                }
            })
            .collect()
    }

    /// Whether `name` matches (the whole name).
    pub fn matches(&self, name: &str) -> bool {
        // Iterative wildcard matching: linear backtracking over the last `*` only.
        let (pattern, name) = (self.0.as_bytes(), name.as_bytes());
        let (mut p, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match pattern.get(p) {
                Some(b'*') => {
                    star = Some((p, n));
                    p += 1;
                }
                Some(&c) if c == b'?' || c == name[n] => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        p = sp + 1;
                        n = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|&c| c == b'*')
    }
}

/// The parsed options; [`Default`] holds the table's defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// `pull=False` is `pull_policy: never`.
    pub pull_policy: PullPolicy,
    pub auth: Option<Auth>,
    pub force: bool,
    pub strategy: Strategy,
    pub health_timeout: Duration,
    pub min_uptime: Duration,
    pub rollback: bool,
    pub lock_timeout: Duration,
    pub keep_images: Option<u32>,
    pub replicas: Option<u32>,
    /// Give the new container fresh anonymous volumes instead of the old one's.
    pub renew_anonymous_volumes: bool,
    /// The longest a pull may take, start to end.
    pub pull_timeout: Duration,
    /// Say what would be done and change nothing.
    pub dry_run: bool,
    pub concurrency: usize,
    /// `update`: only the containers whose names match one of these patterns.
    pub names: Option<Vec<NamePattern>>,
    /// Deploy the image of this manifest digest of the tag's repository (`sha256:...`).
    pub digest: Option<String>,
}

impl Default for Options {
    /// The table's defaults, read by the same parser as a caller's values.
    fn default() -> Self {
        let mut options = Options {
            pull_policy: PullPolicy::IfChanged,
            auth: None,
            force: false,
            strategy: Strategy::default(),
            health_timeout: Duration::ZERO,
            min_uptime: Duration::ZERO,
            rollback: false,
            lock_timeout: Duration::ZERO,
            keep_images: None,
            replicas: None,
            renew_anonymous_volumes: false,
            pull_timeout: Duration::ZERO,
            dry_run: false,
            concurrency: 1,
            names: None,
            digest: None,
        };
        let bad = Invalid {
            context: "the table of defaults",
        };
        let mut pull = true;
        for row in TABLE {
            let value: Value = serde_json::from_str(row.default).expect("defaults are JSON");
            if value.is_null() {
                continue; // not set
            }
            options
                .set(&bad, row.name, &value, &mut pull)
                .expect("every default is a valid value of its option");
        }
        options
    }
}

impl Options {
    /// Reads the options `call` takes; any other is refused by name. `context` names what they
    /// are for in an error (`container "web"`). `null` is "not given", as Salt passes unset
    /// arguments.
    pub fn parse(context: &str, call: Call, given: &Map<String, Value>) -> Result<Options> {
        let bad = Invalid { context };
        let mut parsed = Options::default();
        let mut pull = true;
        let taken = names_for(call);
        for (option, value) in given {
            // `null` is "not given", whichever call it is given to (Salt passes unset
            // arguments as None).
            if value.is_null() {
                continue;
            }
            if !taken.contains(&option.as_str()) {
                let why = match TABLE.iter().any(|row| row.name == option) {
                    true => format!("not an option of {}", call.describe()),
                    false => "not an option".to_string(),
                };
                return Err(bad.err(option, format!("{why} (known: {})", taken.join(", "))));
            }
            parsed.set(&bad, option, value, &mut pull)?;
        }
        if !pull {
            parsed.pull_policy = PullPolicy::Never;
        }
        Ok(parsed)
    }

    /// Sets one option from its value; `pull` collects `pull=False`, which wins over any
    /// `pull_policy`.
    fn set(&mut self, bad: &Invalid, option: &str, value: &Value, pull: &mut bool) -> Result<()> {
        let context = bad.context;
        match option {
            "pull" => *pull = bad.flag(option, value)?,
            "pull_policy" => {
                self.pull_policy =
                    PullPolicy::parse(bad.text(option, value)?).map_err(|e| e.about(context))?
            }
            "digest" => self.digest = Some(manifest_digest(bad, option, value)?),
            "auth" => self.auth = Some(parse_auth(bad, value)?),
            "force" => self.force = bad.flag(option, value)?,
            "strategy" => {
                self.strategy =
                    Strategy::parse(bad.text(option, value)?).map_err(|e| e.about(context))?
            }
            "health_timeout" => {
                self.health_timeout = bad.seconds(option, value, &HEALTH_TIMEOUT_S)?
            }
            "min_uptime" => self.min_uptime = bad.seconds(option, value, &MIN_UPTIME_S)?,
            "rollback" => self.rollback = bad.flag(option, value)?,
            "lock_timeout" => self.lock_timeout = bad.seconds(option, value, &LOCK_TIMEOUT_S)?,
            "keep_images" => {
                self.keep_images = whole_or_none(bad, option, value, &KEEP_IMAGES)?;
            }
            "replicas" => self.replicas = whole_or_none(bad, option, value, &REPLICAS)?,
            "renew_anonymous_volumes" => self.renew_anonymous_volumes = bad.flag(option, value)?,
            "pull_timeout" => self.pull_timeout = bad.seconds(option, value, &PULL_TIMEOUT_S)?,
            "dry_run" => self.dry_run = bad.flag(option, value)?,
            "names" => self.names = Some(NamePattern::parse_list(bad, option, value)?),
            // The Salt modules' (they fire the events); checked here like every option.
            "events" => {
                bad.flag(option, value)?;
            }
            "concurrency" => {
                self.concurrency =
                    bad.whole(option, "a whole number", value, &CONCURRENCY)? as usize
            }
            "watch_action" => {
                if bad.text(option, value)? != "force" {
                    return Err(bad.err(
                        option,
                        "only \"force\" is supported (a watch that fires redeploys the container)",
                    ));
                }
            }
            "start" => {
                if !bad.flag(option, value)? {
                    return Err(bad.err(
                        option,
                        "only True is supported: a redeploy proves the new container by running it",
                    ));
                }
            }
            "ignore_collisions" | "validate_ip_addrs" => {
                bad.flag(option, value)?;
            }
            // Accepted for the states written for docker_container.running: checked for its
            // forms, so that a typo is still an error, and otherwise without effect.
            "client_timeout" => {
                whole_or_none(bad, option, value, &CLIENT_TIMEOUT_S)?;
            }
            "skip_translate" => {
                let forms = matches!(value, Value::Null | Value::Bool(_) | Value::String(_))
                    || value
                        .as_array()
                        .is_some_and(|items| items.iter().all(Value::is_string));
                if !forms {
                    return Err(bad.err(
                        option,
                        format!(
                            "expected True, False, or keyword names (a list or a \
                             comma-separated string), got {}",
                            type_name(value)
                        ),
                    ));
                }
            }
            other => unreachable!("option {other} is in the table but not read"),
        }
        Ok(())
    }
}

/// A manifest digest as a registry names it: `sha256:` and 64 lowercase hex digits (or
/// `sha384:` / `sha512:` and 96 / 128).
fn manifest_digest(bad: &Invalid, option: &str, value: &Value) -> Result<String> {
    let text = bad.text(option, value)?;
    let well_formed = text.split_once(':').is_some_and(|(algorithm, hex)| {
        let length = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return false,
        };
        hex.len() == length && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if !well_formed {
        return Err(bad.err(
            option,
            format!(
                "expected a manifest digest, \"sha256:\" and 64 lowercase hex digits, got {}",
                describe_word(text)
            ),
        ));
    }
    Ok(text.to_string())
}

/// A whole number within `range` (small enough for a `u32`), or `None` for `null`.
fn whole_or_none(
    bad: &Invalid,
    option: &str,
    value: &Value,
    range: &RangeInclusive<i64>,
) -> Result<Option<u32>> {
    if value.is_null() {
        return Ok(None);
    }
    Ok(Some(
        bad.whole(option, "a whole number", value, range)? as u32
    ))
}

/// `{username, password}` (or an identity token). Only the keys are ever named in an error.
fn parse_auth(bad: &Invalid, value: &Value) -> Result<Auth> {
    let Value::Object(map) = value else {
        return Err(bad.err(
            "auth",
            format!(
                "expected a dict with username and password, got {}",
                type_name(value)
            ),
        ));
    };
    let mut auth = Auth::default();
    for (key, value) in map {
        let text = match value {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => {
                return Err(bad.err(
                    "auth",
                    format!("{key:?} must be a string, got {}", type_name(other)),
                ))
            }
        };
        match key.as_str() {
            "username" => auth.username = text,
            "password" => auth.password = text,
            "identitytoken" | "identity_token" => auth.identity_token = text,
            // The registry comes from the image reference; accepted for Salt's pillar layout.
            "serveraddress" | "email" => {}
            _ => {
                return Err(bad.err(
                    "auth",
                    format!("unknown key {key:?} (known: username, password, identitytoken)"),
                ))
            }
        }
    }
    Ok(auth)
}

/// Splits keyword arguments into options and container settings.
pub fn split(keywords: Map<String, Value>) -> (Map<String, Value>, Map<String, Value>) {
    keywords
        .into_iter()
        .partition(|(keyword, _)| TABLE.iter().any(|row| row.name == keyword))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    fn parse(v: Value) -> Result<Options> {
        Options::parse("container \"web\"", Call::Redeploy, v.as_object().unwrap())
    }

    fn invalid(v: Value, needle: &str) -> String {
        match parse(v.clone()) {
            Err(e) if e.is(ErrorKind::InvalidSpec) => {
                let msg = e.to_string();
                assert!(msg.contains(needle), "{v}: {msg:?} lacks {needle:?}");
                assert!(
                    msg.contains("\"web\"") && msg.contains("nothing was changed"),
                    "{msg}"
                );
                msg
            }
            other => panic!("{v}: expected InvalidSpec, got {other:?}"),
        }
    }

    #[test]
    fn defaults_come_from_the_table() {
        let d = Options::default();
        assert_eq!(d.pull_policy, PullPolicy::IfChanged);
        assert_eq!(d.min_uptime, Duration::from_secs(2));
        assert_eq!(d.health_timeout, Duration::from_secs(60));
        assert_eq!(d.lock_timeout, Duration::from_secs(300));
        assert_eq!(d.pull_timeout, Duration::from_secs(600));
        assert_eq!(d.concurrency, 4);
        assert!(d.rollback && !d.force && !d.dry_run && !d.renew_anonymous_volumes);
        assert_eq!((d.keep_images, d.replicas), (None, None));
        // Every default, given explicitly, is the same as not giving it.
        for row in TABLE
            .iter()
            .filter(|row| row.calls.contains(&Call::Redeploy))
        {
            let value: Value = serde_json::from_str(row.default).unwrap();
            let given = parse(json!({ row.name: value })).unwrap();
            assert_eq!(format!("{given:?}"), format!("{d:?}"), "{}", row.name);
        }
    }

    #[test]
    fn nulls_are_not_given_and_pull_false_wins() {
        let d = parse(json!({})).unwrap();
        let nulls = parse(json!({"min_uptime": null, "strategy": null, "pull": null})).unwrap();
        assert_eq!(nulls.min_uptime, d.min_uptime);
        assert_eq!(
            parse(json!({"pull": false, "pull_policy": "always"}))
                .unwrap()
                .pull_policy,
            PullPolicy::Never
        );
        assert_eq!(
            parse(json!({"pull_policy": "missing"}))
                .unwrap()
                .pull_policy,
            PullPolicy::Missing
        );
        assert_eq!(
            parse(json!({"min_uptime": "1.5"})).unwrap().min_uptime,
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn a_digest_is_a_manifest_digest_and_never_quoted_whole() {
        let good = format!("sha256:{}", "0a".repeat(32));
        assert_eq!(parse(json!({"digest": good})).unwrap().digest, Some(good));
        let long = format!("sha512:{}", "f".repeat(128));
        assert!(parse(json!({"digest": long})).is_ok());
        for bad in [
            json!("sha256:abc"),
            json!(format!("sha256:{}", "A".repeat(64))),
            json!(format!("md5:{}", "a".repeat(32))),
            json!(format!("sha256:{}", "a".repeat(63))),
            json!(""),
        ] {
            invalid(json!({ "digest": bad }), "expected a manifest digest");
        }
        invalid(json!({"digest": 7}), "expected a string");
    }

    #[test]
    fn every_number_has_a_range() {
        invalid(json!({"replicas": 4_294_967_295_u64}), "replicas");
        invalid(json!({"replicas": 0}), "from 1 to 100");
        invalid(json!({"replicas": 1.5}), "replicas");
        invalid(json!({"keep_images": -1}), "keep_images");
        invalid(json!({"keep_images": 0}), "from 1");
        invalid(json!({"min_uptime": 1e300}), "min_uptime");
        invalid(json!({"min_uptime": -1}), "min_uptime");
        invalid(
            json!({"health_timeout": 18_446_744_073_709_551_615_u64}),
            "health_timeout",
        );
        invalid(json!({"lock_timeout": "soon"}), "lock_timeout");
        invalid(json!({"pull_timeout": 0}), "pull_timeout");
        assert_eq!(parse(json!({"replicas": 100})).unwrap().replicas, Some(100));
        assert_eq!(
            parse(json!({"keep_images": "3"})).unwrap().keep_images,
            Some(3)
        );
    }

    #[test]
    fn types_are_checked_and_named() {
        invalid(json!({"pull": "no"}), "expected True or False");
        invalid(json!({"dry_run": "yes"}), "dry_run");
        invalid(json!({"strategy": 3}), "strategy");
        invalid(json!({"strategy": "blue-green"}), "blue-green");
        invalid(json!({"pull_policy": "sometimes"}), "sometimes");
        invalid(json!({"replicass": 3}), "not an option");
        // docker_container.running's options: without effect, but not without a check.
        invalid(json!({"client_timeout": "sixty"}), "client_timeout");
        invalid(json!({"client_timeout": 0}), "from 1");
        invalid(json!({"skip_translate": 3}), "skip_translate");
        invalid(json!({"skip_translate": [true]}), "keyword names");
        for given in [json!(true), json!("port_bindings,binds"), json!(["binds"])] {
            assert!(parse(json!({"skip_translate": given, "client_timeout": 60})).is_ok());
        }
    }

    #[test]
    fn each_call_takes_only_its_options() {
        // `null` is "not given", even for an option the call does not take.
        assert!(Options::parse(
            "container \"web\"",
            Call::GroupEntry,
            json!({"replicas": null}).as_object().unwrap(),
        )
        .is_ok());
        let entry = Options::parse(
            "container \"web\"",
            Call::GroupEntry,
            json!({"replicas": 2}).as_object().unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(entry.contains("not an option of a group entry"), "{entry}");
        let pull = Options::parse(
            "image \"x\"",
            Call::Pull,
            json!({"strategy": "stop-first"}).as_object().unwrap(),
        )
        .unwrap_err()
        .to_string();
        assert!(pull.contains("known: auth, pull_timeout"), "{pull}");
        assert_eq!(
            names_for(Call::Rollback),
            [
                "strategy",
                "health_timeout",
                "min_uptime",
                "lock_timeout",
                "dry_run",
                "events"
            ]
        );
        assert_eq!(
            names_for(Call::Update),
            [
                "auth",
                "pull_timeout",
                "dry_run",
                "names",
                "events",
                "concurrency"
            ]
        );
    }

    #[test]
    fn name_patterns_match_whole_names() {
        let bad = Invalid { context: "update" };
        let patterns =
            NamePattern::parse_list(&bad, "names", &json!(["web-*", "db?", "api"])).unwrap();
        let matches = |name: &str| patterns.iter().any(|p| p.matches(name));
        for name in ["web-1", "web-", "db1", "api"] {
            assert!(matches(name), "{name}");
        }
        for name in ["web", "xweb-1", "db12", "api2", "apı"] {
            assert!(!matches(name), "{name}");
        }
        let star = NamePattern::parse_list(&bad, "names", &json!("*-q1, a*b*c")).unwrap();
        assert!(star[0].matches("ddtest-9-dd-q1") && !star[0].matches("ddtest-9-dd-q2"));
        assert!(star[1].matches("abc") && star[1].matches("aXbYbZc") && !star[1].matches("acb"));
        // A long run of stars cannot make matching slow.
        let stars = NamePattern("*a".repeat(100));
        assert!(!stars.matches(&"a".repeat(99)));
        for bad_value in [json!(""), json!(["web/1"]), json!(3), json!([1])] {
            assert!(NamePattern::parse_list(&bad, "names", &bad_value).is_err());
        }
    }

    #[test]
    fn credentials_never_appear_in_a_message() {
        let msg = invalid(
            json!({"auth": {"username": "ci", "password": 12345678}}),
            "password",
        );
        assert!(!msg.contains("12345678"), "{msg}");
        let msg = invalid(json!({"auth": {"user": "hunter2"}}), "unknown key");
        assert!(!msg.contains("hunter2"), "{msg}");
        let msg = invalid(json!({"auth": "ci:hunter2"}), "auth");
        assert!(!msg.contains("hunter2"), "{msg}");
        let msg = invalid(json!({"pull": "hunter2 with spaces"}), "pull");
        assert!(!msg.contains("hunter2"), "{msg}");
        let auth =
            parse(json!({"auth": {"username": "ci", "password": "s", "serveraddress": "x"}}))
                .unwrap()
                .auth
                .unwrap();
        assert_eq!(
            (auth.username.as_deref(), auth.password.as_deref()),
            (Some("ci"), Some("s"))
        );
        assert!(
            !format!("{auth:?}").contains("\"s\""),
            "Debug hides the password"
        );
    }

    #[test]
    fn split_keeps_settings_apart() {
        let (options, spec) = split(
            json!({"pull": false, "environment": {"A": "1"}, "replicas": 2})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(options.len(), 2);
        assert_eq!(spec.keys().collect::<Vec<_>>(), ["environment"]);
    }
}
