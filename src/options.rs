//! How a redeploy runs, as opposed to what it deploys: one table of the options a caller may
//! give (`pull`, `strategy`, `min_uptime`, ...), with their defaults and bounds, read from the
//! keyword arguments before any Docker call. Every keyword that is not an option is a container
//! setting ([`crate::spec`]).
//!
//! Every number has a range: a value outside it (or of the wrong type) is an `InvalidSpec` that
//! names the option and the range, never a panic, a wrapped-around duration or a hang.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::converge::Strategy;
use crate::error::{Error, Result};
use crate::pull::{Auth, PullPolicy};
use crate::spec::type_name;

/// The options, in the order they are documented. A keyword not in this list is a setting.
pub const NAMES: &[&str] = &[
    "pull",
    "pull_policy",
    "auth",
    "force",
    "strategy",
    "health_timeout",
    "min_uptime",
    "rollback",
    "lock_timeout",
    "keep_images",
    "replicas",
    "renew_anonymous_volumes",
    "pull_timeout",
];

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

/// The parsed options; [`Default`] holds every default.
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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pull_policy: PullPolicy::IfChanged,
            auth: None,
            force: false,
            strategy: Strategy::default(),
            health_timeout: Duration::from_secs(60),
            min_uptime: Duration::from_secs(2),
            rollback: true,
            lock_timeout: Duration::from_secs(300),
            keep_images: None,
            replicas: None,
            renew_anonymous_volumes: false,
            pull_timeout: Duration::from_secs(600),
        }
    }
}

/// Splits keyword arguments into options and container settings.
pub fn split(keywords: Map<String, Value>) -> (Map<String, Value>, Map<String, Value>) {
    keywords
        .into_iter()
        .partition(|(keyword, _)| NAMES.contains(&keyword.as_str()))
}

/// Builds the `InvalidSpec` error for one option of one container.
pub(crate) struct Bad<'a> {
    pub context: &'a str,
}

impl Bad<'_> {
    pub(crate) fn err(&self, option: &str, why: impl std::fmt::Display) -> Error {
        Error::InvalidSpec(format!(
            "{}: {option}: {why}; nothing was changed",
            self.context
        ))
    }

    /// A number of seconds within `range` (a whole or fractional number, or its text).
    pub(crate) fn seconds(
        &self,
        option: &str,
        value: &Value,
        range: RangeInclusive<f64>,
    ) -> Result<Duration> {
        let number = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        number
            .filter(|s| s.is_finite() && range.contains(s))
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                self.err(
                    option,
                    format!(
                        "expected a number of seconds from {} to {}, got {}",
                        range.start(),
                        range.end(),
                        describe(value)
                    ),
                )
            })
    }

    /// A whole number within `range`.
    pub(crate) fn whole(
        &self,
        option: &str,
        value: &Value,
        range: RangeInclusive<i64>,
    ) -> Result<i64> {
        whole_number(value).filter(|n| range.contains(n)).ok_or_else(|| {
            self.err(
                option,
                format!(
                    "expected a whole number from {} to {}, got {}",
                    range.start(),
                    range.end(),
                    describe(value)
                ),
            )
        })
    }

    pub(crate) fn flag(&self, option: &str, value: &Value) -> Result<bool> {
        value.as_bool().ok_or_else(|| {
            self.err(
                option,
                format!("expected True or False, got {}", describe(value)),
            )
        })
    }

    pub(crate) fn text<'v>(&self, option: &str, value: &'v Value) -> Result<&'v str> {
        value.as_str().ok_or_else(|| {
            self.err(
                option,
                format!("expected a string, got {}", describe(value)),
            )
        })
    }
}

/// A whole number, given as one (`3`, `3.0`) or as its text (`"3"`); `None` for anything else.
pub(crate) fn whole_number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A value as an error message may show it: numbers and short words as they are, anything
/// else by its type (a misplaced secret must not end up in a message).
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s)
            if s.len() <= 32
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) =>
        {
            format!("{s:?}")
        }
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a dict".into(),
    }
}

impl Options {
    /// Reads the options; `context` names what they are for in an error (`container "web"`).
    /// `null` is "not given", as Salt passes unset arguments.
    pub fn parse(context: &str, options: &Map<String, Value>) -> Result<Options> {
        let bad = Bad { context };
        let mut parsed = Options::default();
        let mut pull = true;
        let mut pull_policy = None;
        for (option, value) in options {
            if value.is_null() {
                continue;
            }
            match option.as_str() {
                "pull" => pull = bad.flag(option, value)?,
                "pull_policy" => {
                    pull_policy = Some(
                        PullPolicy::parse(bad.text(option, value)?)
                            .map_err(|e| e.context(context))?,
                    )
                }
                "auth" => parsed.auth = Some(parse_auth(&bad, value)?),
                "force" => parsed.force = bad.flag(option, value)?,
                "strategy" => {
                    parsed.strategy =
                        Strategy::parse(bad.text(option, value)?).map_err(|e| e.context(context))?
                }
                "health_timeout" => {
                    parsed.health_timeout = bad.seconds(option, value, HEALTH_TIMEOUT_S)?
                }
                "min_uptime" => parsed.min_uptime = bad.seconds(option, value, MIN_UPTIME_S)?,
                "rollback" => parsed.rollback = bad.flag(option, value)?,
                "lock_timeout" => {
                    parsed.lock_timeout = bad.seconds(option, value, LOCK_TIMEOUT_S)?
                }
                "keep_images" => {
                    parsed.keep_images = Some(bad.whole(option, value, KEEP_IMAGES)? as u32)
                }
                "replicas" => parsed.replicas = Some(bad.whole(option, value, REPLICAS)? as u32),
                "renew_anonymous_volumes" => {
                    parsed.renew_anonymous_volumes = bad.flag(option, value)?
                }
                "pull_timeout" => {
                    parsed.pull_timeout = bad.seconds(option, value, PULL_TIMEOUT_S)?
                }
                other => {
                    return Err(bad.err(
                        other,
                        format!("not an option (known: {})", NAMES.join(", ")),
                    ))
                }
            }
        }
        parsed.pull_policy = match (pull, pull_policy) {
            (false, _) => PullPolicy::Never,
            (true, Some(policy)) => policy,
            (true, None) => PullPolicy::IfChanged,
        };
        Ok(parsed)
    }
}

/// `{username, password}` (or an identity token). Only the keys are ever named in an error.
fn parse_auth(bad: &Bad, value: &Value) -> Result<Auth> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Options> {
        Options::parse("container \"web\"", v.as_object().unwrap())
    }

    fn invalid(v: Value, needle: &str) -> String {
        match parse(v.clone()) {
            Err(Error::InvalidSpec(msg)) => {
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
    fn defaults_and_nulls() {
        let d = parse(json!({})).unwrap();
        assert_eq!(d.pull_policy, PullPolicy::IfChanged);
        assert_eq!(d.min_uptime, Duration::from_secs(2));
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
        invalid(json!({"strategy": 3}), "strategy");
        invalid(json!({"strategy": "blue-green"}), "blue-green");
        invalid(json!({"pull_policy": "sometimes"}), "sometimes");
        invalid(json!({"replicass": 3}), "not an option");
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
