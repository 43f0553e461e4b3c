//! The decision: given what runs under a name and what is declared, what has to happen.
//! Pure functions over observed state, so every combination is tested without an engine.

use std::collections::BTreeMap;

use serde_json::Value;

/// What we read from the Engine about the container under the name.
///
/// The fields from our labels (`declared_spec`, `owner`, ...) are set only when this tool wrote
/// them: a container also carries its image's labels, and an image committed from one of our
/// containers carries ours ([`crate::diff`] sorts them out).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub id: String,
    pub image_id: String,
    /// The Engine's `State.Status`: created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    /// The canonical spec recorded on the container when we created it; `None` when it was not
    /// created by this tool (or by an older version without the record).
    pub declared_spec: Option<String>,
    /// Seconds the Engine waits after the stop signal before killing (`None`: its default, 10).
    pub stop_timeout: Option<i64>,
    /// The name the container was declared for (our label); `None` when we did not create it.
    pub owner: Option<String>,
    /// The ID of the container this one replaced (our label), which links a new container to
    /// the backup an interrupted redeploy left.
    pub previous_container: Option<String>,
    /// The image ID of the container this one replaced (our label; what `rollback` goes to).
    pub previous_image: Option<String>,
    /// The image reference it was declared with (our label).
    pub image_ref: Option<String>,
    /// The replica set it belongs to (our label).
    pub replica_of: Option<String>,
    /// The manifest digest its image was pulled under (our label, `repo@sha256:...`).
    pub digest: Option<String>,
    /// Its volume mounts, which a replacement takes over where it would get fresh anonymous
    /// ones.
    pub volumes: Vec<VolumeMount>,
    /// Started with `--rm`: the Engine deletes it (and its anonymous volumes) once it stops.
    pub auto_remove: bool,
}

/// A volume mounted in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    pub name: String,
    pub destination: String,
}

/// What is declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired<'a> {
    pub image_id: &'a str,
    pub spec_json: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Create,
    Start,
    Replace,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Create => "created",
            Action::Start => "started",
            Action::Replace => "replaced",
        }
    }
}

/// Why a container has to be replaced; several may hold at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Missing,
    ImageChanged {
        old: String,
        new: String,
    },
    /// The declared settings differ; the names of the settings that changed.
    SpecChanged {
        settings: Vec<String>,
    },
    /// The container carries no record of what was declared for it.
    SpecUnrecorded,
    /// The container is dead (or being removed) and cannot be started again.
    NotStartable {
        status: String,
    },
    Stopped {
        status: String,
    },
    /// Asked for (Salt's `watch` requisite fired) although nothing differs.
    Forced,
}

impl Reason {
    /// One clause for a human: "image sha256:1a2b.. -> sha256:9f8e..".
    pub fn describe(&self) -> String {
        match self {
            Reason::Missing => "no container under that name".into(),
            Reason::ImageChanged { old, new } => {
                format!("running {}, tag now {}", short_id(old), short_id(new))
            }
            Reason::SpecChanged { settings } => {
                format!("declared settings changed: {}", settings.join(", "))
            }
            Reason::SpecUnrecorded => "the container has no record of its declared settings".into(),
            Reason::NotStartable { status } => format!("the container is {status}"),
            Reason::Stopped { status } => format!("the container was {status}"),
            Reason::Forced => "a redeploy was requested (watch)".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub action: Action,
    pub reasons: Vec<Reason>,
}

impl Plan {
    /// With `force`, an existing container is replaced even when nothing differs.
    pub fn forced(self, force: bool) -> Plan {
        match self.action {
            Action::None | Action::Start if force => {
                let mut reasons = self.reasons;
                reasons.push(Reason::Forced);
                Plan {
                    action: Action::Replace,
                    reasons,
                }
            }
            _ => self,
        }
    }

    pub fn summary(&self) -> String {
        self.reasons
            .iter()
            .map(Reason::describe)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Decides what to do with the container under the name.
pub fn plan(observed: Option<&Observed>, desired: &Desired) -> Plan {
    let Some(current) = observed else {
        return Plan {
            action: Action::Create,
            reasons: vec![Reason::Missing],
        };
    };
    let mut reasons = Vec::new();
    if current.image_id != desired.image_id {
        reasons.push(Reason::ImageChanged {
            old: current.image_id.clone(),
            new: desired.image_id.to_string(),
        });
    }
    match &current.declared_spec {
        None => reasons.push(Reason::SpecUnrecorded),
        Some(recorded) if recorded != desired.spec_json => reasons.push(Reason::SpecChanged {
            settings: spec_diff(Some(recorded), desired.spec_json)
                .into_keys()
                .collect(),
        }),
        Some(_) => {}
    }
    if matches!(current.status.as_str(), "dead" | "removing") {
        reasons.push(Reason::NotStartable {
            status: current.status.clone(),
        });
    }
    if !reasons.is_empty() {
        return Plan {
            action: Action::Replace,
            reasons,
        };
    }
    // Same image, same settings: only its run state can be off. `paused` and `restarting` are
    // the Engine's business (an operator's pause, a restart policy at work), not drift.
    match current.status.as_str() {
        "running" | "paused" | "restarting" => Plan {
            action: Action::None,
            reasons,
        },
        status => Plan {
            action: Action::Start,
            reasons: vec![Reason::Stopped {
                status: status.to_string(),
            }],
        },
    }
}

/// The settings whose declared values differ, each as `(old, new)`; `old` is `None` for every
/// setting when nothing was recorded. Settings are the top-level keys of the canonical spec.
pub fn spec_diff(recorded: Option<&str>, declared: &str) -> BTreeMap<String, (Value, Value)> {
    let parse = |json: &str| match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let old = recorded.map(parse).unwrap_or_default();
    let new = parse(declared);
    let mut diff = BTreeMap::new();
    for key in old.keys().chain(new.keys()) {
        let (o, n) = (
            old.get(key).cloned().unwrap_or(Value::Null),
            new.get(key).cloned().unwrap_or(Value::Null),
        );
        if o != n {
            diff.insert(key.clone(), (o, n));
        }
    }
    diff
}

/// `sha256:0123456789ab...` -> `sha256:0123456789ab`, the length `docker ps` shows.
pub fn short_id(id: &str) -> String {
    // By characters, not bytes: IDs also come from labels, which may hold anything.
    let first_12 = |text: &str| text.chars().take(12).collect::<String>();
    match id.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", first_12(hex)),
        None => first_12(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_A: &str = r#"{"environment":{"A":"1"}}"#;
    const SPEC_B: &str = r#"{"environment":{"A":"2"},"user":"app"}"#;
    const STATUSES: &[&str] = &[
        "created",
        "running",
        "paused",
        "restarting",
        "removing",
        "exited",
        "dead",
    ];

    fn observed(image: &str, status: &str, spec: Option<&str>) -> Observed {
        Observed {
            id: "c1".into(),
            image_id: image.into(),
            status: status.into(),
            declared_spec: spec.map(String::from),
            ..Observed::default()
        }
    }

    #[test]
    fn missing_container_is_created() {
        let p = plan(
            None,
            &Desired {
                image_id: "sha256:new",
                spec_json: SPEC_A,
            },
        );
        assert_eq!(p.action, Action::Create);
        assert_eq!(p.reasons, vec![Reason::Missing]);
    }

    /// Every combination of image (same/other), record (same/other/missing) and state.
    #[test]
    fn exhaustive_over_image_spec_and_state() {
        let desired = Desired {
            image_id: "sha256:new",
            spec_json: SPEC_A,
        };
        for image in ["sha256:new", "sha256:old"] {
            for spec in [Some(SPEC_A), Some(SPEC_B), None] {
                for status in STATUSES {
                    let current = observed(image, status, spec);
                    let p = plan(Some(&current), &desired);
                    let image_differs = image != desired.image_id;
                    let spec_differs = spec != Some(SPEC_A);
                    let unstartable = matches!(*status, "dead" | "removing");
                    let expected = if image_differs || spec_differs || unstartable {
                        Action::Replace
                    } else if matches!(*status, "running" | "paused" | "restarting") {
                        Action::None
                    } else {
                        Action::Start
                    };
                    assert_eq!(p.action, expected, "{image} {spec:?} {status}");
                    assert_eq!(
                        p.reasons.is_empty(),
                        expected == Action::None,
                        "reasons exactly when something is done: {p:?}"
                    );
                    assert_eq!(
                        p.reasons
                            .iter()
                            .any(|r| matches!(r, Reason::ImageChanged { .. })),
                        image_differs
                    );
                    assert_eq!(p.reasons.contains(&Reason::SpecUnrecorded), spec.is_none());
                }
            }
        }
    }

    #[test]
    fn force_replaces_only_what_would_otherwise_be_kept() {
        let desired = Desired {
            image_id: "sha256:x",
            spec_json: SPEC_A,
        };
        for status in STATUSES {
            let current = observed("sha256:x", status, Some(SPEC_A));
            let unforced = plan(Some(&current), &desired);
            let forced = plan(Some(&current), &desired).forced(true);
            assert_eq!(forced.action, Action::Replace, "{status}");
            assert!(forced.reasons.contains(&Reason::Forced) || unforced.action == Action::Replace);
            assert_eq!(plan(Some(&current), &desired).forced(false), unforced);
        }
        assert_eq!(plan(None, &desired).forced(true).action, Action::Create);
    }

    #[test]
    fn spec_change_names_the_settings() {
        let current = observed("sha256:x", "running", Some(SPEC_A));
        let p = plan(
            Some(&current),
            &Desired {
                image_id: "sha256:x",
                spec_json: SPEC_B,
            },
        );
        assert_eq!(
            p.reasons,
            vec![Reason::SpecChanged {
                settings: vec!["environment".into(), "user".into()]
            }]
        );
        assert!(p.summary().contains("environment, user"));
    }

    #[test]
    fn spec_diff_reports_old_and_new() {
        let d = spec_diff(Some(SPEC_A), SPEC_B);
        assert_eq!(d["environment"].0, serde_json::json!({"A": "1"}));
        assert_eq!(d["user"], (Value::Null, Value::String("app".into())));
        assert!(spec_diff(Some(SPEC_A), SPEC_A).is_empty());
        assert_eq!(spec_diff(None, SPEC_B).len(), 2);
        assert!(spec_diff(None, "{}").is_empty());
    }

    #[test]
    fn image_change_is_described_with_short_ids() {
        let r = Reason::ImageChanged {
            old: format!("sha256:{}", "1".repeat(64)),
            new: format!("sha256:{}", "9".repeat(64)),
        };
        assert_eq!(
            r.describe(),
            "running sha256:111111111111, tag now sha256:999999999999"
        );
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(short_id("sha256:ééééééééééééé"), "sha256:éééééééééééé");
    }
}
