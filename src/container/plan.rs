//! The decision: given what runs under a name and what is declared, what has to happen.
//! Pure functions over observed state, so every combination is tested without an engine.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::container::observe::{Observed, Status};
use crate::reference::short_id;
use crate::spec::running::differences;
use crate::spec::ContainerSpec;

/// What is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desired<'a> {
    pub image: Target<'a>,
    pub spec: &'a ContainerSpec,
    /// Its canonical JSON, as recorded on the containers this tool creates.
    pub spec_json: &'a str,
    /// A container this tool did not create may be adopted (not for replicas: they are found
    /// by our labels alone).
    pub adopt: bool,
}

/// The image the name must run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// This image ID (pulled, or on this host).
    Id(&'a str),
    /// In a dry run, an image a pull would bring: the registry's manifest digest of it
    /// (`sha256:...`); its ID is known only once it is pulled.
    Pending(&'a str),
}

impl<'a> Target<'a> {
    /// The image ID, or the pending digest.
    pub fn id_or_digest(self) -> &'a str {
        match self {
            Target::Id(id) | Target::Pending(id) => id,
        }
    }

    /// Whether `current` runs this image: the same ID, or (pending) the container records
    /// that very manifest digest.
    pub fn is_run_by(self, current: &Observed) -> bool {
        match self {
            Target::Id(id) => current.image_id == id,
            Target::Pending(digest) => current
                .record
                .digest
                .as_deref()
                .and_then(|d| d.rsplit_once('@'))
                .is_some_and(|(_, recorded)| recorded == digest),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Create,
    Start,
    Replace,
    /// A container this tool did not create runs the declared image with every declared
    /// setting: it is kept as it is, and its record kept beside its lock.
    Adopt,
}

impl Action {
    /// As the report says what was done: `none`, `created`, `started`, `replaced`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Create => "created",
            Action::Start => "started",
            Action::Replace => "replaced",
            Action::Adopt => "adopted",
        }
    }

    /// As a dry run says what would be done: `create`, `start`, `replace`.
    pub fn verb(self) -> &'static str {
        match self {
            Action::None => "leave",
            Action::Create => "create",
            Action::Start => "start",
            Action::Replace => "replace",
            Action::Adopt => "adopt",
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
    /// In a dry run: the registry holds another image for the tag than the one running (by
    /// manifest digest), not pulled yet.
    RegistryMoved {
        old: String,
        digest: String,
    },
    /// The declared settings differ; the names of the settings that changed.
    SpecChanged {
        settings: Vec<String>,
    },
    /// The container carries no record of what was declared for it.
    SpecUnrecorded,
    /// A container this tool did not create runs with other settings than declared: these.
    NotAsDeclared {
        settings: Vec<String>,
    },
    /// A container this tool did not create runs the declared image with every declared
    /// setting (why it is adopted).
    AsDeclared,
    /// A container this tool did not create runs as declared, but is restarting or paused:
    /// not proven to work, so it is replaced rather than adopted.
    NotAdoptable {
        status: Status,
    },
    /// The container is dead (or being removed) and cannot be started again.
    NotStartable {
        status: Status,
    },
    Stopped {
        status: Status,
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
            Reason::RegistryMoved { old, digest } => format!(
                "running {}, registry digest now {}",
                short_id(old),
                short_id(digest)
            ),
            Reason::SpecChanged { settings } => {
                format!("declared settings changed: {}", settings.join(", "))
            }
            Reason::SpecUnrecorded => "the container has no record of its declared settings".into(),
            Reason::NotAsDeclared { settings } => format!(
                "the container (not made by this tool) differs from the declaration in: {}",
                settings.join(", ")
            ),
            Reason::NotAdoptable { status } => {
                format!("the container (not made by this tool) runs as declared but is {status}")
            }
            Reason::AsDeclared => {
                "the container (not made by this tool) runs the declared image with every \
                 declared setting"
                    .into()
            }
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
    /// The container (not made by this tool) runs as declared: its record is to be kept.
    pub adopt: bool,
}

impl Plan {
    /// With `force`, an existing container is replaced even when nothing differs.
    pub fn forced(self, force: bool) -> Plan {
        match self.action {
            Action::None | Action::Start | Action::Adopt if force => {
                let mut reasons = self.reasons;
                reasons.retain(|r| *r != Reason::AsDeclared);
                reasons.push(Reason::Forced);
                Plan {
                    action: Action::Replace,
                    reasons,
                    adopt: false,
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
            adopt: false,
        };
    };
    let mut reasons = Vec::new();
    match desired.image {
        target if target.is_run_by(current) => {}
        Target::Id(new) => reasons.push(Reason::ImageChanged {
            old: current.image_id.clone(),
            new: new.to_string(),
        }),
        Target::Pending(digest) => reasons.push(Reason::RegistryMoved {
            old: current.image_id.clone(),
            digest: digest.to_string(),
        }),
    }
    let mut adopt = false;
    match &current.record.spec {
        // Not made by this tool: adopted when it runs as declared (read from its inspect).
        None => match current.running.as_deref().filter(|_| desired.adopt) {
            Some(running) => {
                let settings = differences(desired.spec, running);
                match (settings.is_empty(), current.status) {
                    (false, _) => reasons.push(Reason::NotAsDeclared { settings }),
                    // Crash-looping or paused: not proven to run as declared.
                    (true, status @ (Status::Restarting | Status::Paused)) => {
                        reasons.push(Reason::NotAdoptable { status })
                    }
                    (true, _) => adopt = true,
                }
            }
            None => reasons.push(Reason::SpecUnrecorded),
        },
        Some(recorded) if recorded != desired.spec_json => reasons.push(Reason::SpecChanged {
            settings: spec_diff(Some(recorded), desired.spec_json)
                .into_keys()
                .collect(),
        }),
        Some(_) => {}
    }
    if !current.status.is_startable() {
        reasons.push(Reason::NotStartable {
            status: current.status,
        });
    }
    if !reasons.is_empty() {
        return Plan {
            action: Action::Replace,
            reasons,
            adopt: false,
        };
    }
    // Same image, same settings: only its run state can be off. `paused` and `restarting` are
    // the Engine's business (an operator's pause, a restart policy at work), not drift.
    match current.status {
        status if status.is_running() && adopt => Plan {
            action: Action::Adopt,
            reasons: vec![Reason::AsDeclared],
            adopt,
        },
        status if status.is_running() => Plan {
            action: Action::None,
            reasons,
            adopt,
        },
        status => Plan {
            action: Action::Start,
            reasons: vec![Reason::Stopped { status }],
            adopt,
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
            status: Status::parse(status),
            record: crate::spec::record::Record {
                spec: spec.map(String::from),
                ..Default::default()
            },
            ..Observed::default()
        }
    }

    #[test]
    fn missing_container_is_created() {
        let p = plan(
            None,
            &Desired {
                image: Target::Id("sha256:new"),
                spec: &ContainerSpec::default(),
                adopt: true,
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
            image: Target::Id("sha256:new"),
            spec: &ContainerSpec::default(),
            adopt: true,
            spec_json: SPEC_A,
        };
        for image in ["sha256:new", "sha256:old"] {
            for spec in [Some(SPEC_A), Some(SPEC_B), None] {
                for status in STATUSES {
                    let current = observed(image, status, spec);
                    let p = plan(Some(&current), &desired);
                    let image_differs = image != "sha256:new";
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
            image: Target::Id("sha256:x"),
            spec: &ContainerSpec::default(),
            adopt: true,
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
                image: Target::Id("sha256:x"),
                spec: &ContainerSpec::default(),
                adopt: true,
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
    }

    #[test]
    fn a_pending_image_is_judged_by_the_digest_the_container_records() {
        let mut current = observed("sha256:old", "running", Some(SPEC_A));
        let desired = Desired {
            image: Target::Pending("sha256:d2"),
            spec: &ContainerSpec::default(),
            adopt: true,
            spec_json: SPEC_A,
        };
        let p = plan(Some(&current), &desired);
        assert_eq!(p.action, Action::Replace);
        assert_eq!(
            p.summary(),
            "running sha256:old, registry digest now sha256:d2"
        );
        current.record.digest = Some("reg/web@sha256:d2".into());
        assert_eq!(plan(Some(&current), &desired).action, Action::None);
    }
}
