//! The whole flow for one container: pull -> observe -> plan -> apply.
//!
//! Apply keeps the old container until the new one runs: the new container is created under a
//! temporary name while the old one serves; the old one is stopped and moved aside under a
//! backup name; the new one takes the name and starts; only then is the backup removed. Any
//! failure on the way removes the new container and brings the old one back as it was.

use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, NetworkConnectRequest};
use bollard::query_parameters::{
    CreateContainerOptions, InspectNetworkOptions, RemoveContainerOptions, RenameContainerOptions,
    StopContainerOptions,
};
use bollard::Docker;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::diff::observe;
use crate::engine::{inspect_container, inspect_image, Step, Steps};
use crate::error::{EngineFault, Error, Result};
use crate::plan::{plan, short_id, spec_diff, Action, Desired, Observed, Plan, Reason};
use crate::pull::{pull, Auth, PullReport};
use crate::reference::ImageRef;
use crate::spec::{ContainerSpec, LABEL_IMAGE, LABEL_NAME, LABEL_PREVIOUS_IMAGE, LABEL_SPEC};

/// Suffix of the new container while the old one still holds the name.
pub const TEMPORARY_SUFFIX: &str = ".deploy-new";
/// Suffix of the old container while the new one starts under the name.
pub const BACKUP_SUFFIX: &str = ".deploy-old";

#[derive(Debug, Clone)]
pub struct RedeployRequest {
    pub name: String,
    pub image: ImageRef,
    pub spec: ContainerSpec,
    pub pull: bool,
    pub auth: Option<Auth>,
    /// Replace the container even when nothing differs (Salt's `watch` requisite).
    pub force: bool,
}

impl RedeployRequest {
    /// Validates the name; the image and spec arrive parsed.
    pub fn new(
        name: &str,
        image: ImageRef,
        spec: ContainerSpec,
        pull: bool,
        auth: Option<Auth>,
    ) -> Result<Self> {
        validate_container_name(name)?;
        Ok(RedeployRequest {
            name: name.to_string(),
            image,
            spec,
            pull,
            auth,
            force: false,
        })
    }
}

/// The Engine's rule for container names, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, checked before any call.
pub fn validate_container_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidSpec(format!(
            "container name {name:?} is invalid: it must match [a-zA-Z0-9][a-zA-Z0-9_.-]+; \
             nothing was changed"
        )))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RedeployReport {
    pub name: String,
    pub image: String,
    /// `none`, `created`, `replaced` or `started`.
    pub action: &'static str,
    /// What changed, each as `{old, new}`; empty exactly when `action == "none"`.
    pub changes: Map<String, Value>,
    pub container_id: Option<String>,
    pub image_id: String,
    /// The image ID of the container that was under the name before; `None` when there was none.
    pub previous_image_id: Option<String>,
    /// Why the action was taken, one clause per reason.
    pub reasons: Vec<String>,
    /// One line for a human: what was done and why.
    pub comment: String,
    /// The pull report, when the call pulled.
    pub pull: Option<PullReport>,
    /// From the old container stopping to the new one running, when a container was replaced.
    pub downtime_ms: Option<f64>,
    pub steps: Vec<Step>,
    /// Problems after success that need an operator's eye (a backup that could not be removed).
    pub warnings: Vec<String>,
}

/// Runs the flow. `steps` receives one line per step.
pub async fn redeploy(
    docker: &Docker,
    request: &RedeployRequest,
    steps: &mut Steps<'_>,
) -> Result<RedeployReport> {
    let name = &request.name;
    let image = &request.image;

    let untouched = format!("container {name:?} was left as it was");
    // The plan step's time covers reading the container (and the tag, without a pull).
    let mut started = Instant::now();
    let (pulled, image_id, current) = if request.pull {
        let pulled = pull(docker, image, request.auth.as_ref(), steps)
            .await
            .map_err(|e| e.context(&format!("container {name:?}")))?;
        started = Instant::now();
        let current = inspect_container(docker, name, &untouched).await?;
        let image_id = pulled.id.clone();
        (Some(pulled), image_id, current)
    } else {
        // Nothing to wait for: read the tag and the container at once.
        let local_name = image.local_name();
        let (local, current) = tokio::join!(
            inspect_image(docker, &local_name, &untouched),
            inspect_container(docker, name, &untouched),
        );
        let image_id = local?.and_then(|i| i.id).ok_or_else(|| {
            Error::ImageNotFound(format!(
                "image {image} is not on this host and pull=False; container {name:?} was \
                 left as it was"
            ))
        })?;
        (None, image_id, current?)
    };
    let current = current.map(|c| observe(&c));
    let spec_json = request.spec.canonical_json();
    let decision = decide(
        request,
        current.as_ref(),
        &image_id,
        &spec_json,
        started,
        "",
        steps,
    );

    let mut outcome = Outcome {
        container_id: current.as_ref().map(|c| c.id.clone()),
        downtime_ms: None,
        warnings: Vec::new(),
    };
    let apply = Apply {
        docker,
        request,
        image_id: &image_id,
        spec_json: &spec_json,
    };
    match decision.action {
        Action::None => {}
        Action::Create => {
            apply.refuse_orphaned_backup(&untouched).await?;
            outcome.container_id = Some(apply.create_and_start(steps).await?);
        }
        Action::Start => {
            let current = current
                .as_ref()
                .expect("start is planned for an existing container");
            apply.start_existing(current, steps).await?;
        }
        Action::Replace => {
            let current = current
                .as_ref()
                .expect("replace is planned for an existing container");
            outcome = apply.replace(current, steps).await?;
        }
    }
    Ok(report(
        request, current, decision, image_id, &spec_json, pulled, outcome, steps, "",
    ))
}

/// What [`redeploy`] would do, read only: no pull and no call that changes anything.
/// `assume_image_id` is the image the tag is about to point at (a registry digest from a
/// check); by default the local tag's image.
pub async fn preview(
    docker: &Docker,
    request: &RedeployRequest,
    assume_image_id: Option<&str>,
    steps: &mut Steps<'_>,
) -> Result<RedeployReport> {
    let name = &request.name;
    let image = &request.image;
    let untouched = "nothing was changed";
    let started = Instant::now();
    let local_name = image.local_name();
    let (local, current) = tokio::join!(
        async {
            match assume_image_id {
                Some(_) => Ok(None),
                None => inspect_image(docker, &local_name, untouched).await,
            }
        },
        inspect_container(docker, name, untouched),
    );
    let image_id = match assume_image_id {
        Some(id) => id.to_string(),
        None => local?.and_then(|i| i.id).ok_or_else(|| {
            Error::ImageNotFound(format!(
                "image {image} is not on this host (pull it, or check the registry first); \
                 container {name:?} was left as it was"
            ))
        })?,
    };
    let current = current?.map(|c| observe(&c));
    let spec_json = request.spec.canonical_json();
    let decision = decide(
        request,
        current.as_ref(),
        &image_id,
        &spec_json,
        started,
        "would be ",
        steps,
    );
    let outcome = Outcome {
        container_id: current.as_ref().map(|c| c.id.clone()),
        downtime_ms: None,
        warnings: Vec::new(),
    };
    Ok(report(
        request,
        current,
        decision,
        image_id,
        &spec_json,
        None,
        outcome,
        steps,
        "would be ",
    ))
}

/// Plans against what runs (honouring `force`) and logs the decision as the `plan` step.
fn decide(
    request: &RedeployRequest,
    current: Option<&Observed>,
    image_id: &str,
    spec_json: &str,
    started: Instant,
    mood: &str,
    steps: &mut Steps<'_>,
) -> Plan {
    let decision = plan(
        current,
        &Desired {
            image_id,
            spec_json,
        },
    )
    .forced(request.force);
    steps.record(
        "plan",
        started,
        format!("{mood}{}: {}", decision.action.as_str(), decision.summary()),
    );
    decision
}

#[allow(clippy::too_many_arguments)]
fn report(
    request: &RedeployRequest,
    current: Option<Observed>,
    decision: Plan,
    image_id: String,
    spec_json: &str,
    pulled: Option<PullReport>,
    outcome: Outcome,
    steps: &Steps<'_>,
    mood: &str,
) -> RedeployReport {
    let mut changes = changes(current.as_ref(), &decision, &image_id, spec_json, &outcome);
    if !mood.is_empty() && decision.action == Action::Replace {
        // Not created yet: the new container has no ID to show.
        if let Some(Value::Object(ids)) = changes.get_mut("container_id") {
            ids.insert("new".into(), Value::Null);
        }
    }
    RedeployReport {
        name: request.name.clone(),
        image: request.image.to_string(),
        action: decision.action.as_str(),
        comment: format!("{mood}{}", comment(&request.name, &decision)),
        reasons: decision.reasons.iter().map(Reason::describe).collect(),
        changes,
        container_id: outcome.container_id,
        image_id,
        previous_image_id: current.map(|c| c.image_id),
        pull: pulled,
        downtime_ms: outcome.downtime_ms,
        steps: steps.done.clone(),
        warnings: outcome.warnings,
    }
}

/// What [`remove`] did.
#[derive(Debug, Clone, Serialize)]
pub struct RemoveReport {
    pub name: String,
    pub removed: bool,
    pub container_id: Option<String>,
    pub image_id: Option<String>,
}

/// Stops (gracefully, with the container's own stop timeout) and removes the container `name`.
pub async fn remove(docker: &Docker, name: &str, steps: &mut Steps<'_>) -> Result<RemoveReport> {
    let untouched = format!("container {name:?} was left as it was");
    let Some(found) = inspect_container(docker, name, &untouched).await? else {
        return Ok(RemoveReport {
            name: name.to_string(),
            removed: false,
            container_id: None,
            image_id: None,
        });
    };
    let id = found.id.clone().unwrap_or_default();
    let started = Instant::now();
    let fail = |e: bollard::errors::Error| {
        EngineFault::from(e).into_error(
            &format!("container {name:?}: could not be removed"),
            &untouched,
        )
    };
    if found
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false)
    {
        docker
            .stop_container(&id, None::<StopContainerOptions>)
            .await
            .map_err(fail)?;
    }
    docker
        .remove_container(
            &id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(fail)?;
    steps.record("remove", started, format!("{} removed", short_id(&id)));
    Ok(RemoveReport {
        name: name.to_string(),
        removed: true,
        container_id: Some(id),
        image_id: found.image,
    })
}

struct Outcome {
    container_id: Option<String>,
    downtime_ms: Option<f64>,
    warnings: Vec<String>,
}

fn comment(name: &str, decision: &Plan) -> String {
    match decision.action {
        Action::None => format!("container {name:?} is up to date: nothing to do"),
        action => format!("{} {name:?}: {}", action.as_str(), decision.summary()),
    }
}

fn old_new(old: impl Into<Value>, new: impl Into<Value>) -> Value {
    json!({"old": old.into(), "new": new.into()})
}

/// The `changes` of the report, by image ID and declared setting, never by layers.
fn changes(
    current: Option<&Observed>,
    decision: &Plan,
    image_id: &str,
    spec_json: &str,
    outcome: &Outcome,
) -> Map<String, Value> {
    let mut changes = Map::new();
    match (decision.action, current) {
        (Action::None, _) => {}
        (Action::Start, Some(current)) => {
            changes.insert("status".into(), old_new(current.status.as_str(), "running"));
        }
        (_, current) => {
            let old_image = current.map(|c| c.image_id.clone());
            if old_image.as_deref() != Some(image_id) {
                changes.insert("image".into(), old_new(old_image, image_id));
            }
            changes.insert(
                "container_id".into(),
                old_new(current.map(|c| c.id.clone()), outcome.container_id.clone()),
            );
            if let Some(current) = current {
                for (setting, (old, new)) in spec_diff(current.declared_spec.as_deref(), spec_json)
                {
                    changes.insert(setting, old_new(old, new));
                }
                if current.declared_spec.is_none() {
                    changes.insert("declared_settings_recorded".into(), old_new(false, true));
                }
            }
        }
    }
    changes
}

/// The mutating half, with what it needs at hand.
struct Apply<'a> {
    docker: &'a Docker,
    request: &'a RedeployRequest,
    image_id: &'a str,
    spec_json: &'a str,
}

impl Apply<'_> {
    fn name(&self) -> &str {
        &self.request.name
    }

    fn create_body(&self, previous_image: Option<&str>) -> ContainerCreateBody {
        let mut labels = vec![
            (LABEL_SPEC, self.spec_json.to_string()),
            (LABEL_IMAGE, self.request.image.to_string()),
            (LABEL_NAME, self.request.name.clone()),
        ];
        if let Some(previous) = previous_image {
            labels.push((LABEL_PREVIOUS_IMAGE, previous.to_string()));
        }
        // Create by image ID, not by tag: the tag may move between our pull and the create.
        self.request.spec.to_create_body(self.image_id, &labels)
    }

    /// Creates a container under `as_name` and connects its extra networks.
    async fn create(
        &self,
        as_name: &str,
        previous_image: Option<&str>,
        steps: &mut Steps<'_>,
    ) -> std::result::Result<String, EngineFault> {
        let started = Instant::now();
        // Engine 20.10 accepts a missing network at create and fails only at start, after the
        // old container has stopped: look the networks up now, while it still serves.
        for network in self.request.spec.network_names() {
            self.docker
                .inspect_network(network, None::<InspectNetworkOptions>)
                .await?;
        }
        let options = CreateContainerOptions {
            name: Some(as_name.to_string()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), self.create_body(previous_image))
            .await?;
        for (network, attachment) in self.request.spec.extra_networks() {
            let connect = NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(attachment.endpoint()),
            };
            if let Err(e) = self.docker.connect_network(network, connect).await {
                self.remove_quietly(&created.id, steps).await;
                return Err(e.into());
            }
        }
        steps.record(
            "create",
            started,
            format!(
                "{as_name} from {} ({})",
                self.request.image,
                short_id(self.image_id)
            ),
        );
        Ok(created.id)
    }

    /// Starts a container and checks that it is running, not exited at once.
    async fn start_verified(
        &self,
        id: &str,
        steps: &mut Steps<'_>,
    ) -> std::result::Result<(), EngineFault> {
        let started = Instant::now();
        self.docker.start_container(id, None).await?;
        let state = self.docker.inspect_container(id, None).await?.state;
        // `Running` is also true while a crash-looping container restarts: not good enough.
        let running = state.as_ref().and_then(|s| s.running).unwrap_or(false)
            && !state.as_ref().and_then(|s| s.restarting).unwrap_or(false);
        if !running {
            let code = state.as_ref().and_then(|s| s.exit_code).unwrap_or_default();
            let error = state
                .and_then(|s| s.error)
                .filter(|e| !e.is_empty())
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            return Err(EngineFault::Other(format!(
                "it exited right after start with code {code}{error}"
            )));
        }
        steps.record("start", started, format!("{} running", short_id(id)));
        Ok(())
    }

    async fn remove_quietly(&self, id: &str, steps: &mut Steps<'_>) -> bool {
        let started = Instant::now();
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        let removed = self
            .docker
            .remove_container(id, Some(options))
            .await
            .is_ok();
        steps.record(
            "remove",
            started,
            format!(
                "{} {}",
                short_id(id),
                if removed {
                    "removed"
                } else {
                    "could not be removed"
                }
            ),
        );
        removed
    }

    async fn rename(
        &self,
        id: &str,
        to: &str,
        steps: &mut Steps<'_>,
    ) -> std::result::Result<(), EngineFault> {
        let started = Instant::now();
        self.docker
            .rename_container(
                id,
                RenameContainerOptions {
                    name: to.to_string(),
                },
            )
            .await?;
        steps.record("rename", started, format!("{} -> {to}", short_id(id)));
        Ok(())
    }

    /// An interrupted replacement can leave the old container only under the backup name: a
    /// new container must not be created over it as if nothing had run before.
    async fn refuse_orphaned_backup(&self, untouched: &str) -> Result<()> {
        let name = self.name();
        let backup = format!("{name}{BACKUP_SUFFIX}");
        match inspect_container(self.docker, &backup, untouched).await? {
            None => Ok(()),
            Some(_) => Err(Error::Docker(format!(
                "container {name:?}: no container has the name, but {backup:?} holds the \
                 previous one from an interrupted redeploy; it was left as it was: rename it \
                 back to {name:?} (or remove it), then run again"
            ))),
        }
    }

    /// No container under the name: create it there directly and start it.
    async fn create_and_start(&self, steps: &mut Steps<'_>) -> Result<String> {
        let name = self.name();
        let image = &self.request.image;
        let id = self.create(name, None, steps).await.map_err(|fault| {
            Error::ContainerStart(format!(
                "container {name:?}: could not be created from image {image} ({}); no container \
                 existed before and none was left behind",
                fault.message()
            ))
        })?;
        if let Err(fault) = self.start_verified(&id, steps).await {
            self.remove_quietly(&id, steps).await;
            return Err(Error::ContainerStart(format!(
                "container {name:?}: the new container from image {image} could not be started \
                 ({}); it was removed, and no container existed before",
                fault.message()
            )));
        }
        Ok(id)
    }

    /// Same image and settings, but stopped: start it again.
    async fn start_existing(&self, current: &Observed, steps: &mut Steps<'_>) -> Result<()> {
        self.start_verified(&current.id, steps)
            .await
            .map_err(|fault| {
                Error::ContainerStart(format!(
                    "container {:?}: could not be started ({}); it was left {}",
                    self.name(),
                    fault.message(),
                    current.status
                ))
            })
    }

    /// Clears a temporary container that an interrupted run left behind; refuses to touch a
    /// container under a name we use that we did not create.
    async fn clear_leftover(&self, as_name: &str, steps: &mut Steps<'_>) -> Result<()> {
        let name = self.name();
        let untouched = format!("container {name:?} was left as it was");
        let Some(leftover) = inspect_container(self.docker, as_name, &untouched).await? else {
            return Ok(());
        };
        let ours = leftover
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(LABEL_NAME))
            .is_some_and(|owner| owner == name);
        if !ours {
            return Err(Error::Docker(format!(
                "container {name:?}: the name {as_name:?} that a redeploy needs is taken by a \
                 container this tool did not create; both were left as they were"
            )));
        }
        let id = leftover.id.unwrap_or_default();
        if !self.remove_quietly(&id, steps).await {
            return Err(Error::Docker(format!(
                "container {name:?}: a temporary container {as_name:?} from an interrupted run \
                 could not be removed; {untouched}"
            )));
        }
        Ok(())
    }

    /// Replaces the container in the safe order; on failure puts the old one back.
    async fn replace(&self, current: &Observed, steps: &mut Steps<'_>) -> Result<Outcome> {
        let name = self.name();
        let image = &self.request.image;
        let temporary = format!("{name}{TEMPORARY_SUFFIX}");
        let backup = format!("{name}{BACKUP_SUFFIX}");
        let was_running = matches!(current.status.as_str(), "running" | "restarting" | "paused");
        let kept = format!(
            "the previous container ({}, image {}) was left {}",
            short_id(&current.id),
            short_id(&current.image_id),
            if was_running {
                "running"
            } else {
                current.status.as_str()
            }
        );

        self.clear_leftover(&temporary, steps).await?;
        let untouched = format!("container {name:?} was left as it was");
        if inspect_container(self.docker, &backup, &untouched)
            .await?
            .is_some()
        {
            return Err(Error::Docker(format!(
                "container {name:?}: a backup container {backup:?} exists from an interrupted \
                 redeploy; it and {name:?} were left as they were: keep the one you want and \
                 remove the other, then run again"
            )));
        }

        // 1. The new container, created while the old one serves.
        let new_id = self
            .create(&temporary, Some(&current.image_id), steps)
            .await
            .map_err(|fault| {
                Error::ContainerStart(format!(
                    "container {name:?}: the new container from image {image} could not be \
                     created ({}); {kept}",
                    fault.message()
                ))
            })?;

        // 2. Stop the old one. From here on, every failure restores it.
        let stop_started = Instant::now();
        let swapped = async {
            if was_running {
                // The client must outwait the Engine's own stop timeout, or a slow stop would be
                // reported as a failure while the Engine goes on stopping the container.
                let grace = current.stop_timeout.unwrap_or(10).max(0) as u64;
                self.docker
                    .clone()
                    .with_timeout(Duration::from_secs(grace + 60))
                    .stop_container(&current.id, None::<StopContainerOptions>)
                    .await?;
                steps.record(
                    "stop",
                    stop_started,
                    format!("{} stopped", short_id(&current.id)),
                );
            }
            // 3. Swap the names, 4. start the new one.
            self.rename(&current.id, &backup, steps).await?;
            self.rename(&new_id, name, steps).await?;
            self.start_verified(&new_id, steps).await
        }
        .await;

        if let Err(fault) = swapped {
            let restored = self.restore(current, &new_id, was_running, steps).await;
            let state = match restored {
                Ok(()) => kept.replace("was left", "was restored and is"),
                Err(why) => format!(
                    "restoring the previous container failed ({why}); it is kept as {backup:?} \
                     or {name:?}: nothing was deleted"
                ),
            };
            let error = match &fault {
                EngineFault::Unreachable(_) => Error::DockerUnavailable,
                _ => Error::ContainerStart,
            };
            return Err(error(format!(
                "container {name:?}: the new container from image {image} could not replace \
                 the previous one ({}); {state}",
                fault.message()
            )));
        }
        let downtime_ms = was_running.then(|| stop_started.elapsed().as_secs_f64() * 1000.0);

        // 5. Only now, with the new one running, give up the old one.
        let mut warnings = Vec::new();
        if !self.remove_quietly(&current.id, steps).await {
            warnings.push(format!(
                "the previous container {backup:?} ({}) could not be removed; remove it by hand",
                short_id(&current.id)
            ));
        }
        Ok(Outcome {
            container_id: Some(new_id),
            downtime_ms,
            warnings,
        })
    }

    /// Undoes a failed swap: the new container goes, the old one gets its name and state back.
    async fn restore(
        &self,
        current: &Observed,
        new_id: &str,
        was_running: bool,
        steps: &mut Steps<'_>,
    ) -> std::result::Result<(), String> {
        let started = Instant::now();
        if !self.remove_quietly(new_id, steps).await {
            return Err(format!(
                "the new container {} could not be removed, so the name could not be given back",
                short_id(new_id)
            ));
        }
        // The old container may still be under its name (the first rename failed) or under the
        // backup name; renaming it to the name it already has is an error we can ignore.
        let _ = self
            .docker
            .rename_container(
                &current.id,
                RenameContainerOptions {
                    name: self.name().to_string(),
                },
            )
            .await;
        let holder = self
            .docker
            .inspect_container(self.name(), None)
            .await
            .map_err(|e| EngineFault::from(e).message().to_string())?;
        if holder.id.as_deref() != Some(current.id.as_str()) {
            return Err(format!(
                "the name {:?} is held by another container",
                self.name()
            ));
        }
        if was_running {
            self.docker
                .start_container(&current.id, None)
                .await
                .map_err(|e| EngineFault::from(e).message().to_string())?;
        }
        steps.record(
            "restore",
            started,
            format!("{} back under {:?}", short_id(&current.id), self.name()),
        );
        Ok(())
    }
}
