//! What a redeploy reports: the action (as a closed set), why, what changed (by image ID and
//! declared setting, never by layers; `environment` values masked), the steps with their
//! times, and one line for a human. A dry run reports the same shape, in the conditional.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::container::converge::{Converged, FailKind, Failed};
use crate::container::observe::{Observed, Status};
use crate::container::plan::{spec_diff, Action, Plan, Reason, Target};
use crate::deploy::request::RedeployRequest;
use crate::error::{Error, ErrorKind};
use crate::image::pull::PullReport;
use crate::reference::short_id;
use crate::secrets::masked_environment;
use crate::steps::{Step, Steps};

/// What a redeploy did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportAction {
    None,
    Created,
    Started,
    Replaced,
    /// A container this tool did not create runs as declared: kept, its record kept.
    Adopted,
    /// Only an interrupted run's leftovers were put right.
    Recovered,
    /// (In a `RolledBack` error) the new container failed and the previous one runs again.
    RolledBack,
    /// (In a `ContainerStartError`) the new container failed, and nothing ran before it (or
    /// `rollback=False` kept it for inspection).
    Failed,
}

impl ReportAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportAction::None => "none",
            ReportAction::Created => "created",
            ReportAction::Started => "started",
            ReportAction::Replaced => "replaced",
            ReportAction::Adopted => "adopted",
            ReportAction::Recovered => "recovered",
            ReportAction::RolledBack => "rolled-back",
            ReportAction::Failed => "failed",
        }
    }
}

impl From<Action> for ReportAction {
    fn from(action: Action) -> Self {
        match action {
            Action::None => ReportAction::None,
            Action::Create => ReportAction::Created,
            Action::Start => ReportAction::Started,
            Action::Replace => ReportAction::Replaced,
            Action::Adopt => ReportAction::Adopted,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RedeployReport {
    pub name: String,
    pub image: String,
    /// `none`, `created`, `replaced`, `started`, `recovered`, or (in a `RolledBack` error)
    /// `rolled-back`; in a dry run, what a real run would do.
    pub action: ReportAction,
    /// What changed, each as `{old, new}`; empty exactly when `action == "none"`.
    pub changes: Map<String, Value>,
    pub container_id: Option<String>,
    /// The image the name was meant to run (the new image); in a dry run where a pull would
    /// bring a new image, the registry's digest of it (see `pending_digest`).
    pub image_id: String,
    /// The image ID of the container that was under the name before; `None` when there was none.
    pub previous_image_id: Option<String>,
    /// Why the action was taken, one clause per reason.
    pub reasons: Vec<String>,
    /// One line for a human: what was done (or would be) and why.
    pub comment: String,
    /// The pull report, when the call pulled, or when the registry confirmed the image (the
    /// local tag's, or the one the container records having been pulled under).
    pub pull: Option<PullReport>,
    /// From the old container stopping to the new one running, when a container was replaced
    /// (0 with `start-first`: the new one ran before the old one stopped).
    pub downtime_ms: Option<f64>,
    pub strategy: &'static str,
    /// What an interrupted earlier run had left, and how it was (or would be) put right.
    pub recovered: Option<String>,
    /// Images removed by `keep_images`.
    pub removed_images: Vec<String>,
    pub steps: Vec<Step>,
    /// Problems after success that need an operator's eye (a backup that could not be removed).
    pub warnings: Vec<String>,
    /// Nothing was done: the report says what a real run would do.
    pub dry_run: bool,
    /// In a dry run, when the registry holds a new image for the tag: its manifest digest (a
    /// pull would bring it; its image ID is known only then).
    pub pending_digest: Option<String>,
    /// The manifest digest the deployed image came under (`repo@sha256:...`), when known.
    pub digest: Option<String>,
    /// The digest the container that was under the name before records, when it records one.
    pub previous_digest: Option<String>,
    /// In a `RolledBack` or `ContainerStartError` report: the step that failed and why (the
    /// exit code, the HEALTHCHECK's last output, the container's last lines).
    pub failure: Option<Failure>,
}

/// Where and why a redeploy failed.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub step: &'static str,
    pub reason: String,
}

/// How the steps ended, for the report.
pub(crate) struct Outcome {
    pub container_id: Option<String>,
    pub downtime_ms: Option<f64>,
    pub warnings: Vec<String>,
}

/// The run a report is of: the request, the image it deploys, and its pull.
pub(crate) struct Run<'a> {
    pub request: &'a RedeployRequest,
    pub target: Target<'a>,
    pub spec_json: &'a str,
    pub pulled: Option<PullReport>,
    /// The manifest digest the deployed image came under, when the run knows it.
    pub digest: Option<String>,
}

impl Run<'_> {
    /// The report of a decision about `current`, carried out (or, in a dry run, only made).
    pub(crate) fn report(
        self,
        current: Option<Observed>,
        plan: Plan,
        outcome: Outcome,
        steps: &Steps<'_>,
    ) -> RedeployReport {
        let Run {
            request,
            target,
            spec_json,
            pulled,
            digest,
        } = self;
        let dry_run = request.dry_run;
        let changes = changes(
            request,
            current.as_ref(),
            &plan,
            target,
            spec_json,
            &outcome,
        );
        RedeployReport {
            name: request.name.clone(),
            image: request.image.to_string(),
            action: plan.action.into(),
            comment: comment(&request.name, &plan, dry_run),
            reasons: plan.reasons.iter().map(Reason::describe).collect(),
            changes,
            container_id: outcome.container_id,
            image_id: target.id_or_digest().to_string(),
            previous_digest: current.as_ref().and_then(|c| c.record.digest.clone()),
            previous_image_id: current.map(|c| c.image_id),
            pull: pulled,
            downtime_ms: outcome.downtime_ms,
            strategy: request.strategy.as_str(),
            recovered: None,
            removed_images: Vec::new(),
            steps: steps.done.clone(),
            warnings: outcome.warnings,
            dry_run,
            pending_digest: match target {
                Target::Pending(digest) => Some(digest.to_string()),
                Target::Id(_) => None,
            },
            digest,
            failure: None,
        }
    }

    /// The report of a [`converge`](crate::container::converge::converge) that succeeded.
    pub(crate) fn converged(self, done: Converged, steps: &Steps<'_>) -> RedeployReport {
        let dry_run = self.request.dry_run;
        let outcome = Outcome {
            container_id: done.container_id,
            downtime_ms: done.downtime_ms,
            warnings: done.warnings,
        };
        let mut report = self.report(done.current, done.plan, outcome, steps);
        if let Some(what) = &done.recovered {
            if report.action == ReportAction::None {
                report.action = ReportAction::Recovered;
            }
            report.comment = match dry_run {
                true => format!(
                    "would recover an interrupted redeploy first ({what}); {}",
                    report.comment
                ),
                false => format!(
                    "recovered an interrupted redeploy ({what}); {}",
                    report.comment
                ),
            };
            report
                .changes
                .insert("recovered".into(), Value::String(what.clone()));
        }
        report.recovered = done.recovered;
        report
    }

    /// The error a failed converge surfaces as, with what runs now.
    pub(crate) fn failed(self, failed: Box<Failed>, steps: &Steps<'_>) -> Error {
        let request = self.request;
        let subject = request.subject();
        let failing = || {
            format!(
                "image {} ({}) failed: {}",
                request.image,
                short_id(self.target.id_or_digest()),
                failed.why
            )
        };
        match failed.kind {
            FailKind::Refused => Error::new(ErrorKind::Docker, failed.why.clone())
                .about(subject)
                .left(failed.state.clone()),
            FailKind::Unreachable => Error::new(
                ErrorKind::DockerUnavailable,
                format!("cannot reach the Docker Engine ({})", failed.why),
            )
            .about(subject)
            .left(failed.state.clone()),
            FailKind::Failed | FailKind::RolledBack => {
                let (error, action) = match failed.kind {
                    FailKind::RolledBack => (
                        Error::new(ErrorKind::RolledBack, failing())
                            .about(subject)
                            .left(format!("rolled back: {}", failed.state)),
                        ReportAction::RolledBack,
                    ),
                    _ => (
                        Error::new(ErrorKind::ContainerStart, failing())
                            .about(subject)
                            .left(failed.state.clone()),
                        ReportAction::Failed,
                    ),
                };
                let running = failed.current.clone();
                let plan = failed.plan.clone().unwrap_or(Plan {
                    action: Action::Replace,
                    reasons: vec![],
                    adopt: false,
                });
                let outcome = Outcome {
                    container_id: running.as_ref().map(|c| c.id.clone()),
                    downtime_ms: None,
                    warnings: vec![],
                };
                let mut report = self.report(running, plan, outcome, steps);
                report.action = action;
                report.comment = error.to_string();
                report.changes = Map::new();
                report.recovered = failed.recovered.clone();
                report.failure = Some(Failure {
                    step: failed.step.unwrap_or("verify"),
                    reason: failed.why.clone(),
                });
                let report = serde_json::to_value(&report).unwrap_or(Value::Null);
                error.with_report(report)
            }
        }
    }
}

/// One line for a human: `replaced "web": running sha256:.., tag now sha256:..`, or in a dry
/// run `would replace "web": ...`.
fn comment(name: &str, decision: &Plan, dry_run: bool) -> String {
    match (decision.action, dry_run) {
        (Action::None, _) => format!("container {name:?} is up to date: nothing to do"),
        (action, false) => format!("{} {name:?}: {}", action.as_str(), decision.summary()),
        (action, true) => format!("would {} {name:?}: {}", action.verb(), decision.summary()),
    }
}

fn old_new(old: impl Into<Value>, new: impl Into<Value>) -> Value {
    json!({"old": old.into(), "new": new.into()})
}

/// The `changes` of the report, by image ID and declared setting, never by layers.
fn changes(
    request: &RedeployRequest,
    current: Option<&Observed>,
    decision: &Plan,
    target: Target,
    spec_json: &str,
    outcome: &Outcome,
) -> Map<String, Value> {
    let mut changes = Map::new();
    match (decision.action, current) {
        (Action::None, _) => {}
        (Action::Start, Some(current)) => {
            changes.insert(
                "status".into(),
                old_new(current.status.as_str(), Status::Running.as_str()),
            );
            if decision.adopt {
                changes.insert("declared_settings_recorded".into(), old_new(false, true));
            }
        }
        (Action::Adopt, _) => {
            changes.insert("declared_settings_recorded".into(), old_new(false, true));
        }
        (_, current) => {
            let old_image = current.map(|c| c.image_id.clone());
            let new_image = match (target, current) {
                (target, Some(current)) if target.is_run_by(current) => None,
                (Target::Id(id), _) => Some(Value::from(id)),
                (Target::Pending(digest), _) => Some(Value::from(format!(
                    "{} now {digest} in the registry",
                    request.image
                ))),
            };
            if let Some(new_image) = new_image {
                changes.insert("image".into(), old_new(old_image, new_image));
            }
            // In a dry run the new container is not created yet: it has no ID to show.
            let new_container = match request.dry_run {
                true => None,
                false => outcome.container_id.clone(),
            };
            changes.insert(
                "container_id".into(),
                old_new(current.map(|c| c.id.clone()), new_container),
            );
            if let Some(current) = current {
                for (setting, (old, new)) in spec_diff(current.record.spec.as_deref(), spec_json) {
                    let (old, new) = match setting.as_str() {
                        "environment" => masked_environment(&old, &new),
                        _ => (old, new),
                    };
                    changes.insert(setting, old_new(old, new));
                }
                if current.record.spec.is_none() {
                    changes.insert("declared_settings_recorded".into(), old_new(false, true));
                }
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;
    use crate::reference::ImageRef;
    use crate::spec::record::Record;
    use crate::spec::ContainerSpec;

    fn request(dry_run: bool) -> RedeployRequest {
        let options = Options {
            dry_run,
            ..Options::default()
        };
        let spec = ContainerSpec::default();
        RedeployRequest::new(
            "web",
            ImageRef::parse("reg/web:prod").unwrap(),
            spec,
            options,
        )
        .unwrap()
    }

    fn running(image: &str, spec: &str) -> Observed {
        Observed {
            id: "c1".into(),
            image_id: image.into(),
            status: Status::Running,
            record: Record {
                spec: Some(spec.into()),
                ..Record::default()
            },
            ..Observed::default()
        }
    }

    fn report_of(request: &RedeployRequest, current: Observed, target: Target) -> RedeployReport {
        let spec = r#"{"environment":{"PASSWORD":"new-secret"}}"#;
        let plan = crate::container::plan::plan(
            Some(&current),
            &crate::container::plan::Desired {
                image: target,
                spec: &ContainerSpec::default(),
                adopt: true,
                spec_json: spec,
            },
        );
        let run = Run {
            request,
            target,
            spec_json: spec,
            pulled: None,
            digest: None,
        };
        let outcome = Outcome {
            container_id: Some("c2".into()),
            downtime_ms: Some(12.0),
            warnings: vec![],
        };
        run.report(
            Some(current),
            plan,
            outcome,
            &Steps::new("web", &crate::steps::no_log),
        )
    }

    #[test]
    fn a_replacement_reports_images_containers_and_masked_settings() {
        let old = running("sha256:old", r#"{"environment":{"PASSWORD":"old-secret"}}"#);
        let report = report_of(&request(false), old, Target::Id("sha256:new"));
        assert_eq!(report.action, ReportAction::Replaced);
        assert_eq!(
            report.changes["image"],
            json!({"old": "sha256:old", "new": "sha256:new"})
        );
        assert_eq!(
            report.changes["container_id"],
            json!({"old": "c1", "new": "c2"})
        );
        assert_eq!(
            report.changes["environment"],
            json!({"old": {"PASSWORD": "<hidden, changed>"}, "new": {"PASSWORD": "<hidden, changed>"}})
        );
        let shown = serde_json::to_string(&report).unwrap();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(report
            .comment
            .starts_with("replaced \"web\": running sha256:old"));
        assert_eq!(serde_json::to_value(report.action).unwrap(), "replaced");
    }

    #[test]
    fn a_dry_run_says_what_would_be_done_in_the_same_shape() {
        let old = running("sha256:old", r#"{"environment":{"PASSWORD":"new-secret"}}"#);
        let report = report_of(&request(true), old, Target::Pending("sha256:d2"));
        assert_eq!(report.action, ReportAction::Replaced);
        assert!(report.dry_run);
        assert_eq!(report.pending_digest.as_deref(), Some("sha256:d2"));
        assert_eq!(
            report.comment,
            "would replace \"web\": running sha256:old, registry digest now sha256:d2"
        );
        assert_eq!(
            report.changes["image"]["new"],
            "reg/web:prod now sha256:d2 in the registry"
        );
        assert_eq!(report.changes["container_id"]["new"], Value::Null);
    }

    #[test]
    fn actions_serialise_to_the_words_users_see() {
        let words: Vec<Value> = [
            ReportAction::None,
            ReportAction::Created,
            ReportAction::Started,
            ReportAction::Replaced,
            ReportAction::Recovered,
            ReportAction::RolledBack,
        ]
        .into_iter()
        .map(|a| {
            let word = serde_json::to_value(a).unwrap();
            assert_eq!(word, a.as_str());
            word
        })
        .collect();
        assert_eq!(
            words,
            [
                "none",
                "created",
                "started",
                "replaced",
                "recovered",
                "rolled-back"
            ]
        );
    }
}
