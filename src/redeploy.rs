//! The whole flow for one container: pull -> lock -> observe -> recover -> plan -> apply ->
//! verify, and the report of it.
//!
//! The order of the containers' steps, the recovery of an interrupted run and the rollback of a
//! failed one are decided in [`crate::converge`]; this module carries them out on the Docker
//! Engine ([`DockerEngine`]), verifies new containers (healthy, or running without restarts
//! for `min_uptime`), and adds what surrounds a redeploy: the pull, the host lock, pruning old
//! images, `rollback()` and rolling replicas.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bollard::models::NetworkConnectRequest;
use bollard::models::{ContainerCreateBody, ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptions, EventsOptions, InspectNetworkOptions, ListContainersOptions,
    ListImagesOptions, LogsOptions, RemoveContainerOptions, RemoveImageOptions,
    RemoveVolumeOptions, RenameContainerOptions, StopContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::check::{check_against, LocalImage};
use crate::converge::{
    converge, recover, Converged, Engine, FailKind, Failed, Fault, Recovery, Removal, Scene,
    Settings, Slot, Strategy, BACKUP_SUFFIX, TEMPORARY_SUFFIX,
};
use crate::diff::{observe_summary, observe_vetted, provenance, vet, Provenance};
use crate::engine::{inspect_container, inspect_image, Step, Steps};
use crate::error::{EngineFault, Error, Result};
use crate::lock;
use crate::options::Options;
use crate::plan::{
    plan, short_id, spec_diff, Action, Desired, Observed, Plan, Reason, VolumeMount,
};
use crate::pull::{refresh, Auth, PullPolicy, PullReport, Refreshed};
use crate::reference::ImageRef;
use crate::spec::{
    ContainerSpec, LABEL_DIGEST, LABEL_IMAGE, LABEL_IMAGE_ID, LABEL_NAME, LABEL_PREVIOUS_CONTAINER,
    LABEL_PREVIOUS_IMAGE, LABEL_REPLICA_OF, LABEL_ROLE, LABEL_SPEC,
};

/// When a new container counts as working.
#[derive(Debug, Clone, Copy)]
pub struct Verification {
    /// With a HEALTHCHECK (the image's or the spec's): how long to wait for `healthy`.
    pub health_timeout: Duration,
    /// Without one: how long it must stay running without a restart.
    pub min_uptime: Duration,
}

impl Default for Verification {
    fn default() -> Self {
        Verification {
            health_timeout: Duration::from_secs(60),
            min_uptime: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RedeployRequest {
    pub name: String,
    pub image: ImageRef,
    pub spec: ContainerSpec,
    pub pull_policy: PullPolicy,
    pub auth: Option<Auth>,
    /// Replace the container even when nothing differs (Salt's `watch` requisite).
    pub force: bool,
    pub strategy: Strategy,
    /// Bring the previous container back when the new one fails (default). `false` keeps the
    /// failed container for inspection and the previous one stopped.
    pub rollback: bool,
    pub verification: Verification,
    /// How long to wait for another redeploy of the same container on this host.
    pub lock_timeout: Duration,
    /// After a success, remove images of the repository beyond the newest N (never one in use).
    pub keep_images: Option<u32>,
    /// Give the new container fresh anonymous volumes; by default it takes over the old one's.
    pub renew_anonymous_volumes: bool,
    /// The longest a pull may take.
    pub pull_timeout: Duration,
    /// Deploy this image ID rather than the tag's (`rollback`, replicas after one pull).
    pub image_id: Option<String>,
    /// With `image_id`: the manifest digest it was pulled under (`repo@sha256:...`), recorded
    /// on the container it creates.
    pub image_digest: Option<String>,
    /// The replica set this container belongs to.
    pub replica_of: Option<String>,
}

impl RedeployRequest {
    /// Validates the name; the image and spec arrive parsed. `pull`: the default pull policy
    /// (`if-changed`) or `never`. Everything else has its default.
    pub fn new(
        name: &str,
        image: ImageRef,
        spec: ContainerSpec,
        pull: bool,
        auth: Option<Auth>,
    ) -> Result<Self> {
        let options = Options {
            pull_policy: if pull {
                PullPolicy::IfChanged
            } else {
                PullPolicy::Never
            },
            auth,
            ..Options::default()
        };
        Self::with_options(name, image, spec, options)
    }

    /// The request for `name` with the given options (`options.replicas` is the caller's).
    pub fn with_options(
        name: &str,
        image: ImageRef,
        spec: ContainerSpec,
        options: Options,
    ) -> Result<Self> {
        validate_container_name(name)?;
        Ok(RedeployRequest {
            name: name.to_string(),
            image,
            spec,
            pull_policy: options.pull_policy,
            auth: options.auth,
            force: options.force,
            strategy: options.strategy,
            rollback: options.rollback,
            verification: Verification {
                health_timeout: options.health_timeout,
                min_uptime: options.min_uptime,
            },
            lock_timeout: options.lock_timeout,
            keep_images: options.keep_images,
            renew_anonymous_volumes: options.renew_anonymous_volumes,
            pull_timeout: options.pull_timeout,
            image_id: None,
            image_digest: None,
            replica_of: None,
        })
    }

    /// Checks what can be checked before any Docker call.
    pub fn validate(&self) -> Result<()> {
        validate_container_name(&self.name)?;
        let fixed = self.spec.fixed_host_ports();
        if self.strategy == Strategy::StartFirst && !fixed.is_empty() {
            return Err(Error::InvalidSpec(format!(
                "container {:?}: strategy \"start-first\" runs the new container beside the old \
                 one, but host port(s) {} can be held by only one of them; use \"create-first\" \
                 or publish without a fixed host port; nothing was changed",
                self.name,
                fixed.join(", ")
            )));
        }
        if self.keep_images == Some(0) {
            return Err(Error::InvalidSpec(format!(
                "container {:?}: keep_images must be at least 1 (the image in use is always \
                 kept); nothing was changed",
                self.name
            )));
        }
        Ok(())
    }
}

/// Container names are used as lock file names too: bounded so that one always fits.
pub const MAX_NAME_LEN: usize = 200;

/// The Engine's rule for container names, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, and ours: at most
/// [`MAX_NAME_LEN`] characters, and not one of the helper names a redeploy uses for another
/// container (`<name>.deploy-new`, `<name>.deploy-old`). Checked before any call.
pub fn validate_container_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        // Never the whole of a long input in a message.
        let shown: String = name.chars().take(64).collect();
        let more = if shown.len() < name.len() { "..." } else { "" };
        return Err(Error::InvalidSpec(format!(
            "container name {shown:?}{more} is invalid: it must match \
             [a-zA-Z0-9][a-zA-Z0-9_.-]+; nothing was changed"
        )));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidSpec(format!(
            "container name {:?}... is invalid: it is longer than {MAX_NAME_LEN} characters; \
             nothing was changed",
            &name[..32]
        )));
    }
    if let Some(suffix) = [TEMPORARY_SUFFIX, BACKUP_SUFFIX]
        .into_iter()
        .find(|suffix| name.ends_with(suffix))
    {
        return Err(Error::InvalidSpec(format!(
            "container name {name:?} is invalid: names ending in {suffix:?} are the helper names \
             of a redeploy of {:?}; nothing was changed",
            &name[..name.len() - suffix.len()]
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct RedeployReport {
    pub name: String,
    pub image: String,
    /// `none`, `created`, `replaced`, `started`, `recovered` (only an interrupted run's
    /// leftovers were put right), or (in a `RolledBack` error) `rolled-back`.
    pub action: &'static str,
    /// What changed, each as `{old, new}`; empty exactly when `action == "none"`.
    pub changes: Map<String, Value>,
    pub container_id: Option<String>,
    /// The image the name was meant to run (the new image).
    pub image_id: String,
    /// The image ID of the container that was under the name before; `None` when there was none.
    pub previous_image_id: Option<String>,
    /// Why the action was taken, one clause per reason.
    pub reasons: Vec<String>,
    /// One line for a human: what was done and why.
    pub comment: String,
    /// The pull report, when the call pulled.
    pub pull: Option<PullReport>,
    /// From the old container stopping to the new one running, when a container was replaced
    /// (0 with `start-first`: the new one ran before the old one stopped).
    pub downtime_ms: Option<f64>,
    pub strategy: &'static str,
    /// What an interrupted earlier run had left, and how it was put right.
    pub recovered: Option<String>,
    /// Images removed by `keep_images`.
    pub removed_images: Vec<String>,
    pub steps: Vec<Step>,
    /// Problems after success that need an operator's eye (a backup that could not be removed).
    pub warnings: Vec<String>,
}

/// Test-only pause points: `SALTEXT_DOCKER_DEPLOY_PAUSE_AFTER=<step>[:<n>]` (say `stop` or
/// `rename:2`) and `SALTEXT_DOCKER_DEPLOY_PAUSE_FILE=<path>` make the process write the file
/// after the n-th step of that name and wait until the file is gone, so a test can act there:
/// kill -9 the process, or change the engine under it and let it go on.
struct PausePoint {
    step: String,
    nth: usize,
    seen: usize,
    file: std::path::PathBuf,
}

impl PausePoint {
    fn from_env() -> Option<PausePoint> {
        let spec = std::env::var("SALTEXT_DOCKER_DEPLOY_PAUSE_AFTER").ok()?;
        let file = std::env::var_os("SALTEXT_DOCKER_DEPLOY_PAUSE_FILE")?.into();
        let (step, nth) = match spec.split_once(':') {
            Some((step, n)) => (step.to_string(), n.parse().unwrap_or(1)),
            None => (spec, 1),
        };
        Some(PausePoint {
            step,
            nth,
            seen: 0,
            file,
        })
    }

    fn after(&mut self, step: &str) {
        if step != self.step {
            return;
        }
        self.seen += 1;
        if self.seen == self.nth && std::fs::write(&self.file, step).is_ok() {
            // Blocks the whole runtime on purpose: nothing may happen while paused.
            let deadline = Instant::now() + Duration::from_secs(600);
            while self.file.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Runs the flow. `steps` receives one line per step.
pub async fn redeploy(
    docker: &Docker,
    request: &RedeployRequest,
    steps: &mut Steps<'_>,
) -> Result<RedeployReport> {
    request.validate()?;
    let early =
        lock::try_acquire(lock::Subject::Container(&request.name))?.map(|held| (held, None));
    redeploy_from(docker, request, early, steps).await
}

/// [`redeploy`], given the lock when it was free (and the scene a group read under it): the
/// common case, nothing to do, is then settled in one round of reads.
pub(crate) async fn redeploy_from(
    docker: &Docker,
    request: &RedeployRequest,
    early: Option<(lock::HostLock, Option<Scene>)>,
    steps: &mut Steps<'_>,
) -> Result<RedeployReport> {
    request.validate()?;
    if let Some((held, scene)) = early {
        if let Some(result) = settled(docker, request, scene, steps).await {
            return result;
        }
        // Anything but "nothing to do" takes the full way, which reads everything again: the
        // pull runs without the lock, so that a slow pull never holds up another run.
        drop(held);
    }
    let name = &request.name;
    let image = &request.image;
    let untouched = format!("container {name:?} was left as it was");

    // The pull needs no lock: it only moves the local tag, and two pulls of a tag agree.
    let refreshed = refresh_for(docker, request, steps).await?;
    let pulled = refreshed.report;
    let started = Instant::now();
    let held = lock::acquire(lock::Subject::Container(name), request.lock_timeout).await?;
    if held.waited > Duration::from_millis(100) {
        steps.record(
            "lock",
            started,
            format!("waited for another redeploy of {name:?}"),
        );
    }
    // The image and the containers after the lock: a run that waited deploys what the tag
    // says now, against what the other run left. Independent reads, so both at once.
    let local_tag = async {
        match (&request.image_id, refreshed.image_id) {
            (Some(id), _) => Ok(id.clone()),
            // A run that held the lock may have pulled a newer image of the tag meanwhile.
            (None, Some(id)) if !held.contended => Ok(id),
            (None, _) => local_image_id(docker, image, &untouched).await,
        }
    };
    let (image_id, scene) = tokio::join!(local_tag, read_scene(docker, name, &untouched));
    let (image_id, scene) = (image_id?, scene?);
    // The digest the deployed image came under, when this run knows it for that very image.
    let image_digest = match (&pulled, &request.image_digest) {
        (Some(pulled), _) if pulled.id == image_id => pulled.digest.clone(),
        (_, Some(digest)) if request.image_id.as_ref() == Some(&image_id) => Some(digest.clone()),
        _ => None,
    };

    let spec_json = request.spec.canonical_json();
    let desired = Desired {
        image_id: &image_id,
        spec_json: &spec_json,
    };
    let settings = Settings {
        strategy: request.strategy,
        rollback: request.rollback,
        force: request.force,
    };
    let mut engine = DockerEngine {
        docker,
        request,
        image_id: &image_id,
        image_digest: image_digest.as_deref(),
        spec_json: &spec_json,
        steps,
        stop_timeouts: HashMap::new(),
        pause: PausePoint::from_env(),
        prefetched: Some(scene),
        started: HashSet::new(),
        renewed: Vec::new(),
        kept_volumes: Vec::new(),
    };
    let result = converge(&mut engine, name, &desired, settings).await;
    let kept_volumes = std::mem::take(&mut engine.kept_volumes);
    let steps = engine.steps;
    match result {
        Ok(done) => {
            let mut removed_images = Vec::new();
            let mut warnings = done.warnings.clone();
            warnings.extend(kept_volumes);
            if let Some(keep) = request.keep_images {
                let (removed, failed) =
                    prune_images(docker, image, keep, &HashSet::new(), steps).await;
                removed_images = removed;
                warnings.extend(failed);
            }
            drop(held);
            let mut report =
                converged_report(request, done, image_id.clone(), &spec_json, pulled, steps);
            report.removed_images = removed_images;
            report.warnings = warnings;
            Ok(report)
        }
        Err(failed) => Err(failure_error(
            request,
            failed,
            image_id.clone(),
            &spec_json,
            pulled,
            steps,
        )),
    }
}

/// The no-op in one round. Under a lock taken without waiting, the registry's digest, the
/// local tag and the three names are read at once; when the container already runs the tag's
/// image with the declared spec, and no interrupted run left anything, the report is ready.
/// `None` for anything else (a pull, a change, a recovery, an error of the Engine): the full
/// flow, which reads it all again, decides and says why. The registry's error is final: the
/// full flow would only ask it again, and wait as long again for a registry that hangs.
async fn settled(
    docker: &Docker,
    request: &RedeployRequest,
    scene: Option<Scene>,
    steps: &mut Steps<'_>,
) -> Option<Result<RedeployReport>> {
    let name = &request.name;
    let untouched = format!("container {name:?} was left as it was");
    // Steps are recorded quietly and logged only if this path settles the run.
    let mut quiet = Steps::new(name.clone(), &crate::engine::no_log);
    // A container read beforehand (a group's listing) may say which manifest digest its image
    // was pulled under: the registry's digest is then compared with it, and the local tag is
    // not read at all (a tag that moved or went away locally changes nothing for the container:
    // the same digest is the same image).
    let recorded = scene
        .as_ref()
        .and_then(|s| s.primary.as_ref())
        .and_then(|c| {
            Some(LocalImage::recorded_on(
                c.image_id.clone(),
                c.digest.clone()?,
            ))
        });
    let image = async {
        let local = async {
            let found = inspect_image(docker, &request.image.local_name(), &untouched).await?;
            Ok(found.map(LocalImage::from))
        };
        match (&request.image_id, request.pull_policy) {
            (Some(id), _) => Some(Ok((id.clone(), None))),
            (None, PullPolicy::Always) => None,
            (None, PullPolicy::IfChanged) => {
                let auth = request.auth.as_ref();
                let local = async {
                    match recorded {
                        Some(recorded) => Ok(Some(recorded)),
                        None => local.await,
                    }
                };
                let checked =
                    match check_against(docker, &request.image, auth, local, &mut quiet).await {
                        Ok(checked) => checked,
                        // Worded as the pull's would be: the redeploy stops here.
                        Err(e @ (Error::Registry(_) | Error::ImageNotFound(_))) => {
                            let e = e.reword(crate::pull::UNTOUCHED);
                            return Some(Err(e.context(&format!("container {name:?}"))));
                        }
                        Err(_) => return None,
                    };
                let pulled = PullReport::confirmed(&request.image, checked)?;
                Some(Ok((pulled.id.clone(), Some(pulled))))
            }
            (None, PullPolicy::Missing | PullPolicy::Never) => {
                let id = local.await.ok()??.id?;
                Some(Ok((id, None)))
            }
        }
    };
    let scene = async {
        match scene {
            Some(scene) => Some(scene),
            None => read_scene(docker, name, &untouched).await.ok(),
        }
    };
    let planned = Instant::now();
    let (image, scene) = tokio::join!(image, scene);
    let (image_id, pulled) = match image? {
        Ok(found) => found,
        Err(e) => return Some(Err(e)),
    };
    let scene = scene?;
    if scene.temporary.is_some() || scene.backup.is_some() {
        return None;
    }
    let spec_json = request.spec.canonical_json();
    let desired = Desired {
        image_id: &image_id,
        spec_json: &spec_json,
    };
    let decision = plan(scene.primary.as_ref(), &desired).forced(request.force);
    if decision.action != Action::None {
        return None;
    }
    steps.adopt(quiet);
    steps.record(
        "plan",
        planned,
        format!("{}: {}", decision.action.as_str(), decision.summary()),
    );
    let mut warnings = Vec::new();
    let mut removed_images = Vec::new();
    if let Some(keep) = request.keep_images {
        let (removed, failed) =
            prune_images(docker, &request.image, keep, &HashSet::new(), steps).await;
        removed_images = removed;
        warnings = failed;
    }
    let outcome = Outcome {
        container_id: scene.primary.as_ref().map(|c| c.id.clone()),
        downtime_ms: None,
        warnings,
    };
    let mut report = report(
        request,
        scene.primary,
        decision,
        image_id,
        &spec_json,
        pulled,
        outcome,
        steps,
        "",
    );
    report.removed_images = removed_images;
    Some(Ok(report))
}

/// One read of the Engine for a group (taken under the group's locks): every container under
/// the group's names and helper names, in one listing instead of three inspects each. The
/// tags' images are still inspected one by one, at the same time as the registry is asked: a
/// filtered image listing costs the Engine time for every image on the host and every filter
/// (~70 ms for 20 tags among 170 images), far more than 20 concurrent inspects.
pub(crate) async fn snapshot(
    docker: &Docker,
    requests: &[&RedeployRequest],
) -> Result<HashMap<String, Scene>> {
    // One regex for all names, compiled once by the Engine: `^/(a|b)(\.deploy-(new|old))?$`.
    // Names are `[a-zA-Z0-9][a-zA-Z0-9_.-]*` (validated), so '.' is the one regex character.
    let names: Vec<String> = requests
        .iter()
        .map(|r| r.name.replace('.', r"\."))
        .collect();
    let pattern = format!(r"^/({})(\.deploy-(new|old))?$", names.join("|"));
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("name".to_string(), vec![pattern])])),
            ..Default::default()
        }))
        .await
        .map_err(|e| {
            EngineFault::from(e).into_error("reading the group's containers", "nothing was changed")
        })?;
    let mut by_name: HashMap<&str, Observed> = HashMap::new();
    for c in &containers {
        let mut observed = observe_summary(c);
        if provenance(c.labels.as_ref(), &observed.image_id) == Provenance::Unproven {
            vet(docker, &mut observed, "nothing was changed").await?;
        }
        for n in c.names.iter().flatten() {
            by_name.insert(n.trim_start_matches('/'), observed.clone());
        }
    }
    let observed = |name: &str| by_name.get(name).cloned();
    Ok(requests
        .iter()
        .map(|r| {
            let scene = Scene {
                primary: observed(&r.name),
                temporary: observed(&Slot::Temporary.name_for(&r.name)),
                backup: observed(&Slot::Backup.name_for(&r.name)),
            };
            (r.name.clone(), scene)
        })
        .collect())
}

/// Pulls at once in a group's pull phase: the Engine serialises most of a pull, so more at
/// once only wait longer (20 pulls of a moved tag took 474 ms one at a time, 319-363 ms four at
/// a time, 322 ms ten at a time, and seconds twenty at a time).
const PULLS_AT_ONCE: usize = 4;

/// Keeps several containers on their tags over one Engine connection, each exactly as
/// [`redeploy`] would (verified, rolled back on its own; one failure does not stop the others).
/// Results come in the order of `requests`. Three phases:
///
/// 1. The common case, nothing to do, for the whole group at once: the locks nobody holds,
///    one listing of the containers under them ([`snapshot`]), then each container settled
///    in one round ([`settled`]). A busy lock or a failed listing only costs the reads.
/// 2. The tags of the rest are brought up to date (checks and pulls) before any container is
///    touched: on an Engine busy starting and stopping containers a pull takes a second or
///    more, on an idle one tens of ms (BENCHMARKS.md, S3).
/// 3. The redeploys of the image IDs pulled, `concurrency` at a time.
///
/// Images are pruned (`keep_images`) once every entry is done, and never one that an entry of
/// the group deploys: one entry's pruning must not delete the image the next one is about to
/// create its container from.
pub async fn redeploy_group(
    docker: &Docker,
    requests: &[RedeployRequest],
    concurrency: usize,
    log: crate::engine::LogSink<'_>,
) -> Vec<Result<RedeployReport>> {
    let unpruned: Vec<RedeployRequest> = requests
        .iter()
        .map(|r| RedeployRequest {
            keep_images: None,
            ..r.clone()
        })
        .collect();
    let outcomes = redeploy_each(docker, &unpruned, concurrency, log).await;
    let declared: HashSet<String> = outcomes.iter().filter_map(|(id, _)| id.clone()).collect();
    let mut results = Vec::with_capacity(outcomes.len());
    for (request, (_, mut result)) in requests.iter().zip(outcomes) {
        if let (Some(keep), Ok(report)) = (request.keep_images, &mut result) {
            let mut steps = Steps::new(request.name.clone(), log);
            let (removed, warnings) =
                prune_images(docker, &request.image, keep, &declared, &mut steps).await;
            report.removed_images = removed;
            report.warnings.extend(warnings);
            report.steps.extend(steps.done);
        }
        results.push(result);
    }
    results
}

/// The three phases of [`redeploy_group`]; each result with the image ID the entry deploys
/// (when it got as far as knowing it).
async fn redeploy_each(
    docker: &Docker,
    requests: &[RedeployRequest],
    concurrency: usize,
    log: crate::engine::LogSink<'_>,
) -> Vec<(Option<String>, Result<RedeployReport>)> {
    use futures_util::stream::{self, StreamExt};
    let concurrency = concurrency.max(1);

    let held: Vec<Option<lock::HostLock>> = requests
        .iter()
        .map(|r| lock::try_acquire(lock::Subject::Container(&r.name)).unwrap_or(None))
        .collect();
    let locked: Vec<&RedeployRequest> = requests
        .iter()
        .zip(&held)
        .filter_map(|(request, held)| held.as_ref().map(|_| request))
        .collect();
    let mut prefetched = if locked.is_empty() {
        HashMap::new()
    } else {
        snapshot(docker, &locked).await.unwrap_or_default()
    };
    let early: Vec<_> = requests
        .iter()
        .zip(held)
        .map(|(r, held)| held.map(|held| (held, prefetched.remove(&r.name))))
        .collect();

    enum Stage {
        Done(Box<Result<RedeployReport>>),
        Refreshed(Refreshed),
    }
    // 1. Settled under the locks nobody held, each released as soon as its entry is settled or
    // not: every one is free before the first pull (a pull never holds up another run).
    let settling: Vec<(Steps<'_>, Option<Result<RedeployReport>>)> =
        stream::iter(requests.iter().zip(early))
            .map(|(request, early)| async move {
                let mut steps = Steps::new(request.name.clone(), log);
                let outcome = match early {
                    Some((held, scene)) => {
                        let outcome = settled(docker, request, scene, &mut steps).await;
                        drop(held);
                        outcome
                    }
                    None => None,
                };
                (steps, outcome)
            })
            .buffered(concurrency)
            .collect()
            .await;
    // 2. The tags of the rest, brought up to date before any container is touched.
    let pulls = tokio::sync::Semaphore::new(PULLS_AT_ONCE);
    let pulls = &pulls;
    let first: Vec<(Steps<'_>, Stage)> = stream::iter(requests.iter().zip(settling))
        .map(|(request, (mut steps, outcome))| async move {
            if let Some(result) = outcome {
                return (steps, Stage::Done(Box::new(result)));
            }
            let _permit = pulls.acquire().await;
            let stage = match refresh_for(docker, request, &mut steps).await {
                Ok(refreshed) => Stage::Refreshed(refreshed),
                Err(e) => Stage::Done(Box::new(Err(e))),
            };
            (steps, stage)
        })
        .buffered(concurrency)
        .collect()
        .await;

    // 3. The redeploys of the image IDs pulled.
    stream::iter(requests.iter().zip(first))
        .map(|(request, (mut steps, stage))| async move {
            let refreshed = match stage {
                Stage::Done(result) => {
                    let image_id = (*result).as_ref().ok().map(|r| r.image_id.clone());
                    return (image_id, *result);
                }
                Stage::Refreshed(refreshed) => refreshed,
            };
            // The image ID pulled is the one deployed, as for replicas.
            let mut pinned = request.clone();
            if pinned.image_id.is_none() {
                pinned.image_digest = refreshed
                    .report
                    .as_ref()
                    .filter(|r| refreshed.image_id.as_ref() == Some(&r.id))
                    .and_then(|r| r.digest.clone());
                pinned.image_id = refreshed.image_id;
            }
            let result = redeploy_from(docker, &pinned, None, &mut steps).await;
            let result = result.map(|mut report| {
                report.pull = report.pull.or(refreshed.report);
                report
            });
            let image_id = match &result {
                Ok(report) => Some(report.image_id.clone()),
                Err(_) => pinned.image_id,
            };
            (image_id, result)
        })
        .buffered(concurrency)
        .collect()
        .await
}

/// Refreshes the tag for a request (nothing to do when it deploys a given image ID).
async fn refresh_for(
    docker: &Docker,
    request: &RedeployRequest,
    steps: &mut Steps<'_>,
) -> Result<Refreshed> {
    if request.image_id.is_some() {
        return Ok(Refreshed::default());
    }
    refresh(
        docker,
        &request.image,
        request.auth.as_ref(),
        request.pull_policy,
        request.pull_timeout,
        steps,
    )
    .await
    .map_err(|e| e.context(&format!("container {:?}", request.name)))
}

/// The local tag's image ID, which must exist when nothing was pulled.
async fn local_image_id(docker: &Docker, image: &ImageRef, untouched: &str) -> Result<String> {
    let local = inspect_image(docker, &image.local_name(), untouched).await?;
    local.and_then(|i| i.id).ok_or_else(|| {
        Error::ImageNotFound(format!(
            "image {image} is not on this host and pull=False (pull_policy never); {untouched}"
        ))
    })
}

fn converged_report(
    request: &RedeployRequest,
    done: Converged,
    image_id: String,
    spec_json: &str,
    pulled: Option<PullReport>,
    steps: &Steps<'_>,
) -> RedeployReport {
    let outcome = Outcome {
        container_id: done.container_id,
        downtime_ms: done.downtime_ms,
        warnings: done.warnings,
    };
    let mut report = report(
        request,
        done.current,
        done.plan,
        image_id,
        spec_json,
        pulled,
        outcome,
        steps,
        "",
    );
    if let Some(what) = &done.recovered {
        if report.action == "none" {
            report.action = "recovered";
        }
        report.comment = format!(
            "recovered an interrupted redeploy ({what}); {}",
            report.comment
        );
        report
            .changes
            .insert("recovered".into(), Value::String(what.clone()));
    }
    report.recovered = done.recovered;
    report
}

/// The error a failed converge surfaces as, with what runs now.
fn failure_error(
    request: &RedeployRequest,
    failed: Box<Failed>,
    image_id: String,
    spec_json: &str,
    pulled: Option<PullReport>,
    steps: &Steps<'_>,
) -> Error {
    let name = &request.name;
    let image = &request.image;
    let Failed {
        why, state, kind, ..
    } = &*failed;
    match kind {
        FailKind::Refused => Error::Docker(why.clone()),
        FailKind::Unreachable => Error::DockerUnavailable(format!(
            "container {name:?}: cannot reach the Docker Engine ({why}); {state}"
        )),
        FailKind::Failed => Error::ContainerStart(format!(
            "container {name:?}: image {image} ({}) failed: {why}; {state}",
            short_id(&image_id)
        )),
        FailKind::RolledBack => {
            let message = format!(
                "container {name:?}: image {image} ({}) failed: {why}; rolled back: {state}",
                short_id(&image_id)
            );
            let decision = failed.plan.clone().unwrap_or(Plan {
                action: Action::Replace,
                reasons: vec![],
            });
            let running = failed.current.clone();
            let mut report = report(
                request,
                running.clone(),
                decision,
                image_id,
                spec_json,
                pulled,
                Outcome {
                    container_id: running.as_ref().map(|c| c.id.clone()),
                    downtime_ms: None,
                    warnings: vec![],
                },
                steps,
                "",
            );
            report.action = "rolled-back";
            report.comment = message.clone();
            report.changes = Map::new();
            report.recovered = failed.recovered;
            let report = serde_json::to_value(&report).unwrap_or(Value::Null);
            Error::RolledBack {
                message,
                report: Box::new(report),
            }
        }
    }
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
    let (local, scene) = tokio::join!(
        async {
            match assume_image_id {
                Some(_) => Ok(None),
                None => inspect_image(docker, &local_name, untouched).await,
            }
        },
        read_scene(docker, name, untouched),
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
    let scene = scene?;
    // An interrupted run's leftovers are recovered first; plan against what that leaves.
    let (current, recovering) = match recover(name, &scene, true, true) {
        Recovery::Nothing => (scene.primary, None),
        Recovery::Refuse(why) => return Err(Error::Docker(why)),
        Recovery::Ops { ops, what } => {
            let restores = ops
                .iter()
                .any(|op| matches!(op, crate::converge::Op::Rename(_, Slot::Primary)));
            let basis = if restores {
                scene.backup.map(|mut b| {
                    b.status = "running".into();
                    b
                })
            } else {
                scene.primary
            };
            (basis, Some(what))
        }
    };
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
    let mut report = report(
        request,
        current,
        decision,
        image_id,
        &spec_json,
        None,
        outcome,
        steps,
        "would be ",
    );
    if let Some(what) = recovering {
        report.comment = format!(
            "an interrupted redeploy would be recovered first ({what}); {}",
            report.comment
        );
        report.recovered = Some(what);
    }
    Ok(report)
}

/// What exists under the three names a redeploy of `name` uses, read at once.
pub(crate) async fn read_scene(docker: &Docker, name: &str, untouched: &str) -> Result<Scene> {
    let read = |slot: Slot| async move {
        match inspect_container(docker, &slot.name_for(name), untouched).await? {
            Some(found) => observe_vetted(docker, &found, untouched).await.map(Some),
            None => Ok(None),
        }
    };
    let (primary, temporary, backup) = tokio::join!(
        read(Slot::Primary),
        read(Slot::Temporary),
        read(Slot::Backup)
    );
    Ok(Scene {
        primary: primary?,
        temporary: temporary?,
        backup: backup?,
    })
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
        strategy: request.strategy.as_str(),
        recovered: None,
        removed_images: Vec::new(),
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
    /// Helper containers an interrupted or `rollback=False` redeploy left (`<name>.deploy-new`,
    /// `<name>.deploy-old`) that were removed too.
    pub helpers_removed: Vec<String>,
    /// What was left on purpose (a foreign container under a helper name).
    pub warnings: Vec<String>,
}

/// Stops (outwaiting its own stop timeout) and removes the container `name`, under its lock,
/// and the helper containers a redeploy of it left behind; a helper name held by a container
/// this tool did not create for `name` is left alone, with a warning. Volumes are kept.
/// `replica_of`: remove it only if it is (still, under the lock) a replica of that set.
pub async fn remove(
    docker: &Docker,
    name: &str,
    lock_timeout: Duration,
    replica_of: Option<&str>,
    steps: &mut Steps<'_>,
) -> Result<RemoveReport> {
    let started = Instant::now();
    let held = lock::acquire(lock::Subject::Container(name), lock_timeout).await?;
    if held.waited > Duration::from_millis(100) {
        steps.record(
            "lock",
            started,
            format!("waited for another run on {name:?}"),
        );
    }
    let untouched = format!("container {name:?} was left as it was");
    let scene = read_scene(docker, name, &untouched).await?;
    if let (Some(set), Some(primary)) = (replica_of, &scene.primary) {
        if primary.replica_of.as_deref() != Some(set) {
            return Ok(RemoveReport {
                name: name.to_string(),
                removed: false,
                container_id: Some(primary.id.clone()),
                image_id: Some(primary.image_id.clone()),
                helpers_removed: Vec::new(),
                warnings: vec![format!(
                    "{name:?} is no longer a replica of {set:?} (another run changed it): left"
                )],
            });
        }
    }
    let mut report = RemoveReport {
        name: name.to_string(),
        removed: false,
        container_id: scene.primary.as_ref().map(|c| c.id.clone()),
        image_id: scene.primary.as_ref().map(|c| c.image_id.clone()),
        helpers_removed: Vec::new(),
        warnings: Vec::new(),
    };
    let linked = |helper: &Observed| {
        [&scene.primary, &scene.temporary]
            .into_iter()
            .flatten()
            .any(|c| c.previous_container.as_deref() == Some(helper.id.as_str()))
    };
    for (slot, helper) in [
        (Slot::Temporary, &scene.temporary),
        (Slot::Backup, &scene.backup),
    ] {
        let Some(helper) = helper else { continue };
        let helper_name = slot.name_for(name);
        if helper.owner.as_deref() == Some(name) || linked(helper) {
            remove_one(docker, &helper_name, helper, steps).await?;
            report.helpers_removed.push(helper_name);
        } else {
            report.warnings.push(format!(
                "{helper_name:?} ({}) was left: this tool did not create it for {name:?}",
                short_id(&helper.id)
            ));
        }
    }
    if let Some(primary) = &scene.primary {
        remove_one(docker, name, primary, steps).await?;
        report.removed = true;
    }
    Ok(report)
}

/// Stops and removes one container (its volumes stay).
async fn remove_one(
    docker: &Docker,
    name: &str,
    found: &Observed,
    steps: &mut Steps<'_>,
) -> Result<()> {
    let started = Instant::now();
    let untouched = format!("container {name:?} was left as it was");
    let fail = |e: bollard::errors::Error| {
        let fault = EngineFault::from(e);
        if matches!(fault, EngineFault::TimedOut) {
            Error::Docker(format!(
                "container {name:?}: it did not stop in time ({}); {untouched} (the Engine may \
                 still be stopping it: run again)",
                fault.message()
            ))
        } else {
            fault.into_error(
                &format!("container {name:?}: could not be removed"),
                &untouched,
            )
        }
    };
    if crate::converge::is_running(found) {
        // Read again: a listing or a vetted observation may lack the stop timeout.
        let grace = inspect_container(docker, &found.id, &untouched)
            .await?
            .and_then(|i| i.config)
            .and_then(|c| c.stop_timeout);
        stop_container(docker, &found.id, grace)
            .await
            .map_err(fail)?;
    }
    match docker
        .remove_container(
            &found.id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
    {
        Err(e) if status_of(&e) != Some(404) => return Err(fail(e)),
        _ => {}
    }
    steps.record(
        "remove",
        started,
        format!("{name} {} removed", short_id(&found.id)),
    );
    Ok(())
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
                    let (old, new) = match setting.as_str() {
                        "environment" => masked_environment(&old, &new),
                        _ => (old, new),
                    };
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

/// `environment` values are often secrets, and `changes` go to Salt's job cache and returners:
/// the keys are shown, each value only as whether it changed.
fn masked_environment(old: &Value, new: &Value) -> (Value, Value) {
    let empty = Map::new();
    let (old_map, new_map) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mask = |this: &Map<String, Value>, other: &Map<String, Value>| -> Value {
        if this.is_empty() {
            return Value::Null;
        }
        let masked = this
            .iter()
            .map(|(key, value)| {
                let changed = other.get(key).is_some_and(|o| o != value);
                let shown = if changed {
                    "<hidden, changed>"
                } else {
                    "<hidden>"
                };
                (key.clone(), Value::String(shown.into()))
            })
            .collect();
        Value::Object(masked)
    };
    (mask(old_map, new_map), mask(new_map, old_map))
}

/// `text` (a container's output, say) with every declared `environment` value replaced by
/// `<hidden>`; values shorter than 4 characters are too common to be told from other text.
fn hide_environment(
    text: &str,
    environment: &std::collections::BTreeMap<String, String>,
) -> String {
    let mut values: Vec<&str> = environment
        .values()
        .map(String::as_str)
        .filter(|v| v.chars().count() >= 4)
        .collect();
    // Longest first: a value that contains another is hidden whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.into_iter().fold(text.to_string(), |text, value| {
        text.replace(value, "<hidden>")
    })
}

/// The Docker Engine as [`converge`] drives it.
struct DockerEngine<'a, 's> {
    docker: &'a Docker,
    request: &'a RedeployRequest,
    image_id: &'a str,
    /// The manifest digest `image_id` was pulled under, when known (recorded as a label).
    image_digest: Option<&'a str>,
    spec_json: &'a str,
    steps: &'a mut Steps<'s>,
    /// Each observed container's own stop timeout: a stop must be outwaited, not cut short.
    stop_timeouts: HashMap<String, Option<i64>>,
    pause: Option<PausePoint>,
    /// The scene read together with the image, handed to the first `scene()` call.
    prefetched: Option<Scene>,
    /// The containers this run started (the Engine reset their restart counts).
    started: HashSet<String>,
    /// With `renew_anonymous_volumes`: the previous container's volumes, removed with it.
    renewed: Vec<String>,
    /// Warnings about volumes left behind on purpose (data is never deleted unasked).
    kept_volumes: Vec<String>,
}

fn fault(err: bollard::errors::Error) -> Fault {
    // A call that timed out reached an Engine that is slow, not gone: worth a rollback.
    let fault = EngineFault::from(err);
    Fault {
        unreachable: matches!(fault, EngineFault::Unreachable(_)),
        message: fault.message().to_string(),
    }
}

/// Stops a container, outwaiting its own stop timeout (`grace`, the Engine's 10 s when unset):
/// a slow stop must not be reported as a failure, or as an Engine that cannot be reached,
/// while the Engine goes on stopping it. Already stopped is stopped.
async fn stop_container(
    docker: &Docker,
    id: &str,
    grace: Option<i64>,
) -> std::result::Result<(), bollard::errors::Error> {
    // A container this tool did not create may declare any stop timeout: bounded here.
    let grace = grace
        .unwrap_or(10)
        .clamp(0, crate::spec::MAX_SHUTDOWN_TIMEOUT_S) as u64;
    let patience = docker.timeout() + Duration::from_secs(grace);
    match docker
        .clone()
        .with_timeout(patience)
        .stop_container(id, None::<StopContainerOptions>)
        .await
    {
        Err(e) if status_of(&e) != Some(304) => Err(e),
        _ => Ok(()),
    }
}

/// Whether a fault is the Engine saying "already so" (304) or "no such container" (404).
fn status_of(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

impl DockerEngine<'_, '_> {
    fn create_body(
        &self,
        as_name: &str,
        previous: Option<&Observed>,
        volumes: &[VolumeMount],
    ) -> ContainerCreateBody {
        let role = if as_name == self.request.name {
            "primary"
        } else {
            "temporary"
        };
        // Every label of ours is always set, empty when it does not apply: a container also
        // carries its image's labels, and an image committed from one of ours carries ours.
        let labels = [
            (LABEL_SPEC, self.spec_json.to_string()),
            (LABEL_IMAGE, self.request.image.to_string()),
            (LABEL_IMAGE_ID, self.image_id.to_string()),
            (LABEL_NAME, self.request.name.clone()),
            (LABEL_ROLE, role.to_string()),
            (
                LABEL_PREVIOUS_IMAGE,
                previous.map(|p| p.image_id.clone()).unwrap_or_default(),
            ),
            (
                LABEL_PREVIOUS_CONTAINER,
                previous.map(|p| p.id.clone()).unwrap_or_default(),
            ),
            (
                LABEL_DIGEST,
                self.image_digest.unwrap_or_default().to_string(),
            ),
            (
                LABEL_REPLICA_OF,
                self.request.replica_of.clone().unwrap_or_default(),
            ),
        ];
        // Create by image ID, not by tag: the tag may move between our pull and the create.
        self.request
            .spec
            .to_create_body(self.image_id, &labels, volumes)
    }

    /// The previous container's volumes the new one takes over: at each path where the new one
    /// would get a fresh anonymous volume (its image's VOLUMEs and the declared `volumes`, less
    /// the paths a declared bind covers), the anonymous volume the previous one has there
    /// (named volumes are as declared). With `renew_anonymous_volumes` none is taken over; they
    /// are remembered, to go with the previous container once it is retired.
    async fn volumes_to_take_over(
        &mut self,
        previous: &Observed,
    ) -> std::result::Result<Vec<VolumeMount>, Fault> {
        if previous.volumes.is_empty() {
            return Ok(Vec::new());
        }
        let image = self
            .docker
            .inspect_image(self.image_id)
            .await
            .map_err(|e| {
                let mut f = fault(e);
                f.message = format!("it could not be created: its image: {}", f.message);
                f
            })?;
        let image_volumes = image.config.and_then(|c| c.volumes).unwrap_or_default();
        let paths = self.request.spec.anonymous_volume_paths(&image_volumes);
        let mut taken = Vec::new();
        for volume in &previous.volumes {
            let at_anonymous_path = paths.contains(&crate::spec::clean_path(&volume.destination));
            match (looks_anonymous(&volume.name), at_anonymous_path) {
                (true, true) => taken.push(volume.clone()),
                (true, false) => self.kept_volumes.push(format!(
                    "the previous container's anonymous volume {} at {} was kept, unused: the \
                     new container declares no volume there (remove it with `docker volume rm \
                     {}` when its data is not needed)",
                    short_id(&volume.name),
                    volume.destination,
                    volume.name
                )),
                // Named volumes are as declared; one the old container had where the new one
                // gets an empty anonymous volume is most likely a bind left out of the state.
                (false, true) => self.kept_volumes.push(format!(
                    "the previous container's named volume {:?} at {} is not mounted in the \
                     new container, which has an empty anonymous volume there: declare it in \
                     binds ({}:{}) to keep using it (the volume itself was kept)",
                    volume.name, volume.destination, volume.name, volume.destination
                )),
                (false, false) => {}
            }
        }
        if self.request.renew_anonymous_volumes {
            self.renewed = taken.into_iter().map(|v| v.name).collect();
            return Ok(Vec::new());
        }
        Ok(taken)
    }
}

/// The Engine names anonymous volumes with 64 hex digits.
fn looks_anonymous(name: &str) -> bool {
    name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit())
}

impl Engine for DockerEngine<'_, '_> {
    async fn scene(&mut self) -> std::result::Result<Scene, Fault> {
        let scene = match self.prefetched.take() {
            Some(scene) => scene,
            None => read_scene(self.docker, &self.request.name, "nothing was changed")
                .await
                .map_err(|e| Fault {
                    unreachable: matches!(e, Error::DockerUnavailable(_)),
                    message: e.to_string(),
                })?,
        };
        for c in [&scene.primary, &scene.temporary, &scene.backup]
            .into_iter()
            .flatten()
        {
            self.stop_timeouts.insert(c.id.clone(), c.stop_timeout);
        }
        Ok(scene)
    }

    async fn create(
        &mut self,
        as_name: &str,
        previous: Option<&Observed>,
    ) -> std::result::Result<String, Fault> {
        // Engine 20.10 accepts a missing network at create and fails only at start, after the
        // old container has stopped: look the networks up now, while it still serves.
        let not_created = |e| {
            let mut f = fault(e);
            f.message = format!("it could not be created: {}", f.message);
            f
        };
        for network in self.request.spec.network_names() {
            self.docker
                .inspect_network(network, None::<InspectNetworkOptions>)
                .await
                .map_err(not_created)?;
        }
        let options = CreateContainerOptions {
            name: Some(as_name.to_string()),
            ..Default::default()
        };
        let volumes = match previous {
            Some(previous) => self.volumes_to_take_over(previous).await?,
            None => Vec::new(),
        };
        let body = self.create_body(as_name, previous, &volumes);
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(not_created)?;
        for (network, attachment) in self.request.spec.extra_networks() {
            let connect = NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(attachment.endpoint()),
            };
            if let Err(e) = self.docker.connect_network(network, connect).await {
                let _ = self.remove(&created.id, Removal::Discard).await;
                return Err(fault(e));
            }
        }
        self.stop_timeouts
            .insert(created.id.clone(), self.request.spec.shutdown_timeout);
        Ok(created.id)
    }

    async fn stop(&mut self, id: &str) -> std::result::Result<(), Fault> {
        // The client must outwait the Engine's own stop timeout, or a slow stop would be
        // reported as a failure while the Engine goes on stopping the container.
        let grace = self.stop_timeouts.get(id).copied().flatten();
        stop_container(self.docker, id, grace).await.map_err(fault)
    }

    async fn start(&mut self, id: &str) -> std::result::Result<(), Fault> {
        match self.docker.start_container(id, None).await {
            Err(e) if status_of(&e) != Some(304) => {
                let mut f = fault(e);
                f.message = format!("it could not be started: {}", f.message);
                Err(f)
            }
            // 304: it was running already, and its restart count was not reset.
            Err(_) => Ok(()),
            Ok(()) => {
                self.started.insert(id.to_string());
                Ok(())
            }
        }
    }

    async fn verify(&mut self, id: &str) -> std::result::Result<(), Fault> {
        let started_by_us = self.started.contains(id);
        verify(self.docker, id, self.request.verification, started_by_us)
            .await
            .map_err(|mut fault| {
                // The container's last output may print its configuration.
                fault.message = hide_environment(&fault.message, &self.request.spec.environment);
                fault
            })
    }

    async fn rename(&mut self, id: &str, to: &str) -> std::result::Result<(), Fault> {
        let options = RenameContainerOptions {
            name: to.to_string(),
        };
        self.docker
            .rename_container(id, options)
            .await
            .map_err(fault)
    }

    async fn remove(&mut self, id: &str, how: Removal) -> std::result::Result<(), Fault> {
        // A discarded container's anonymous volumes were made with it and hold nothing proven;
        // those it took over were mounted by name, which the Engine never removes with it. A
        // retired one's volumes live on in the new container; renewed ones go below, and only
        // those (one at a path the new container no longer declares is kept, with a warning).
        let options = RemoveContainerOptions {
            force: true,
            v: how == Removal::Discard,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Err(e) if status_of(&e) != Some(404) => return Err(fault(e)),
            _ => {}
        }
        if how == Removal::Retire {
            // Renewed: the new container has fresh ones at the same paths.
            for volume in std::mem::take(&mut self.renewed) {
                if let Err(e) = self
                    .docker
                    .remove_volume(&volume, None::<RemoveVolumeOptions>)
                    .await
                {
                    if status_of(&e) != Some(404) {
                        self.kept_volumes.push(format!(
                            "renew_anonymous_volumes: the previous volume {} was kept ({})",
                            short_id(&volume),
                            fault(e).message
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn note(&mut self, step: &'static str, started: Instant, detail: String) {
        // The test hook pauses after a step that was done, never after a failed one.
        let done = !detail.starts_with("failed: ");
        self.steps.record(step, started, detail);
        if let (Some(pause), true) = (&mut self.pause, done) {
            pause.after(step);
        }
    }
}

/// Waits until the container proves itself: `healthy` when it has a HEALTHCHECK (within
/// `health_timeout`), else running without a restart for `min_uptime`. Fails as soon as it
/// exits, restarts or turns unhealthy, saying why.
pub(crate) async fn verify(
    docker: &Docker,
    id: &str,
    verification: Verification,
    started_by_us: bool,
) -> std::result::Result<(), Fault> {
    let started = Instant::now();
    // For the Engine's events: from a little before this verification (its start step).
    let since = std::time::SystemTime::now() - Duration::from_secs(30);
    let mut first_restart_count = None;
    let mut first_started_at = None;
    let mut waited_for_exit = false;
    loop {
        let inspect = docker.inspect_container(id, None).await.map_err(fault)?;
        // A start through the API resets the count, so after ours any restart is one since; a
        // baseline from the first inspect would miss a crash that the restart policy answered
        // before it. A container this run did not start is judged from its first inspect.
        let restarts = inspect.restart_count.unwrap_or(0);
        let baseline = match started_by_us {
            true => 0,
            false => *first_restart_count.get_or_insert(restarts),
        };
        let state = inspect.state.unwrap_or_default();
        // A restart that the count misses (one by hand, say) still moves the start time.
        let started_at = state.started_at.clone().unwrap_or_default();
        let restarted = *first_started_at.get_or_insert_with(|| started_at.clone()) != started_at;
        let health_tail = || {
            let last = state
                .health
                .as_ref()
                .and_then(|h| h.log.as_ref())
                .and_then(|log| log.last());
            match last {
                Some(check) => {
                    let output = check.output.as_deref().unwrap_or("").trim();
                    let tail: String = output
                        .chars()
                        .rev()
                        .take(200)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    format!(
                        "; last check exited {}: {tail:?}",
                        check.exit_code.unwrap_or_default()
                    )
                }
                None => String::new(),
            }
        };
        if state.restarting.unwrap_or(false) || restarts > baseline || restarted {
            // Between two restarts the exit code is already reset, and a start resets the
            // out-of-memory flag: the output and the Engine's events tell more.
            let oom =
                state.oom_killed.unwrap_or(false) || oom_killed_since(docker, id, since).await;
            return Err(Fault::new(format!(
                "it keeps restarting ({} restarts, last exit code {}{}){}",
                restarts,
                state.exit_code.unwrap_or_default(),
                if oom { "; killed: out of memory" } else { "" },
                output_tail(docker, id).await
            )));
        }
        if !state.running.unwrap_or(false) {
            let status = state
                .status
                .unwrap_or(ContainerStateStatusEnum::EMPTY)
                .to_string();
            let oom = if state.oom_killed.unwrap_or(false) {
                " (killed: out of memory)"
            } else {
                ""
            };
            let error = state
                .error
                .as_deref()
                .filter(|e| !e.is_empty())
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            return Err(Fault::new(format!(
                "it is {status}, exit code {}{oom}{error}{}{}",
                state.exit_code.unwrap_or_default(),
                health_tail(),
                output_tail(docker, id).await
            )));
        }
        let elapsed = started.elapsed();
        match state.health.as_ref().and_then(|h| h.status) {
            Some(HealthStatusEnum::HEALTHY) => return Ok(()),
            Some(HealthStatusEnum::UNHEALTHY) => {
                return Err(Fault::new(format!(
                    "its HEALTHCHECK reports unhealthy{}",
                    health_tail()
                )))
            }
            Some(HealthStatusEnum::STARTING) => {
                if elapsed >= verification.health_timeout {
                    return Err(Fault::new(format!(
                        "it did not become healthy within {:.0} s (health_timeout){}",
                        verification.health_timeout.as_secs_f64(),
                        health_tail()
                    )));
                }
            }
            _ => {
                if elapsed >= verification.min_uptime {
                    return Ok(());
                }
                // Without a HEALTHCHECK nothing is learned before the container exits, so
                // rather than ask every 100 ms (an inspect costs the Engine ~0.6 ms of CPU,
                // which it lacks when many containers start at once) wait for the exit itself,
                // until min_uptime is reached; the next inspect judges either way. Only once:
                // a wait that returns early without an exit falls back to polling.
                if !waited_for_exit {
                    waited_for_exit = true;
                    wait_for_exit(docker, id, verification.min_uptime - elapsed).await;
                    continue;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Returns when the container stops running (an exit, also one a restart policy answers) or
/// after `limit`, whichever comes first. Dropping the Engine's wait closes its request.
async fn wait_for_exit(docker: &Docker, id: &str, limit: Duration) {
    use futures_util::StreamExt;
    let options = WaitContainerOptions {
        condition: "not-running".into(),
    };
    let mut exit = docker.wait_container(id, Some(options));
    tokio::select! {
        _ = exit.next() => {}
        _ = tokio::time::sleep(limit) => {}
    }
}

/// Whether the Engine reported an out-of-memory kill of the container since `since` (its
/// `oom` event: the state's flag is gone once a restart policy has started it again).
async fn oom_killed_since(docker: &Docker, id: &str, since: std::time::SystemTime) -> bool {
    use futures_util::StreamExt;
    let seconds = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().to_string())
            .unwrap_or_default()
    };
    let options = EventsOptions {
        since: Some(seconds(since)),
        until: Some(seconds(
            std::time::SystemTime::now() + Duration::from_secs(1),
        )),
        filters: Some(HashMap::from([
            ("container".to_string(), vec![id.to_string()]),
            ("event".to_string(), vec!["oom".to_string()]),
        ])),
    };
    let mut events = docker.events(Some(options));
    let first = tokio::time::timeout(Duration::from_secs(3), events.next()).await;
    matches!(first, Ok(Some(Ok(_))))
}

/// The last lines the container wrote (stdout and stderr), for the message of a failure:
/// `; last output: "..."`, or nothing when there is none or it cannot be read.
async fn output_tail(docker: &Docker, id: &str) -> String {
    use futures_util::StreamExt;
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: "5".to_string(),
        ..Default::default()
    };
    let mut lines = Vec::new();
    let mut stream = docker.logs(id, Some(options));
    // A message detail, never worth a long wait (an Engine that stopped answering).
    let read = async {
        let mut read_bytes = 0;
        while let Some(Ok(chunk)) = stream.next().await {
            let bytes = chunk.into_bytes();
            read_bytes += bytes.len();
            lines.push(String::from_utf8_lossy(&bytes).trim_end().to_string());
            // Five lines may still be gigabytes: only a few hundred characters are shown.
            if read_bytes > 64 * 1024 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    let text = lines.join(" | ");
    let text: String = text.chars().take(300).collect();
    if text.trim().is_empty() {
        String::new()
    } else {
        format!("; last output: {text:?}")
    }
}

/// Removes images of `image`'s repository beyond the newest `keep`, never one that any
/// container uses. Returns the removed IDs and a warning per image that could not go.
async fn prune_images(
    docker: &Docker,
    image: &ImageRef,
    keep: u32,
    protected: &HashSet<String>,
    steps: &mut Steps<'_>,
) -> (Vec<String>, Vec<String>) {
    let started = Instant::now();
    let repository = image.repository();
    let listed = tokio::join!(
        docker.list_images(Some(ListImagesOptions::default())),
        docker.list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        })),
    );
    let (images, containers) = match listed {
        (Ok(images), Ok(containers)) => (images, containers),
        (Err(e), _) | (_, Err(e)) => {
            return (
                vec![],
                vec![format!(
                    "keep_images: the images could not be listed ({}); none was removed",
                    fault(e).message
                )],
            )
        }
    };
    let in_use: HashSet<String> = containers.into_iter().filter_map(|c| c.image_id).collect();
    let of_repository = |names: &[String], separator: char| {
        names.iter().any(|n| {
            n.rsplit_once(separator)
                .is_some_and(|(repo, _)| repo == repository)
        })
    };
    let mut mine: Vec<_> = images
        .into_iter()
        .filter(|i| of_repository(&i.repo_tags, ':') || of_repository(&i.repo_digests, '@'))
        .collect();
    mine.sort_by_key(|i| std::cmp::Reverse(i.created));
    let mut removed = Vec::new();
    let mut warnings = Vec::new();
    for old in mine.into_iter().skip(keep as usize) {
        if in_use.contains(&old.id) || protected.contains(&old.id) {
            continue;
        }
        // Not forced: an image another tag still names stays, and says so.
        match docker
            .remove_image(&old.id, None::<RemoveImageOptions>, None)
            .await
        {
            Ok(_) => removed.push(old.id),
            Err(e) => warnings.push(format!(
                "keep_images: image {} was kept ({})",
                short_id(&old.id),
                fault(e).message
            )),
        }
    }
    steps.record(
        "prune",
        started,
        format!("{} old image(s) of {repository} removed", removed.len()),
    );
    (removed, warnings)
}

/// How `rollback` redeploys.
#[derive(Debug, Clone, Copy)]
pub struct RollbackOptions {
    pub strategy: Strategy,
    pub verification: Verification,
    pub lock_timeout: Duration,
}

impl Default for RollbackOptions {
    fn default() -> Self {
        RollbackOptions {
            strategy: Strategy::default(),
            verification: Verification::default(),
            lock_timeout: Duration::from_secs(300),
        }
    }
}

/// Goes back to the image that ran under `name` before its last redeploy (recorded on the
/// container), with the settings it runs with now, through the same verified path.
pub async fn rollback(
    docker: &Docker,
    name: &str,
    options: RollbackOptions,
    steps: &mut Steps<'_>,
) -> Result<RedeployReport> {
    validate_container_name(name)?;
    let untouched = format!("container {name:?} was left as it was");
    let found = inspect_container(docker, name, &untouched)
        .await?
        .ok_or_else(|| {
            Error::Docker(format!(
                "container {name:?}: there is no container under that name to roll back; \
                 nothing was changed"
            ))
        })?;
    let found = observe_vetted(docker, &found, &untouched).await?;
    let (Some(previous), Some(record), Some(reference)) = (
        &found.previous_image,
        &found.declared_spec,
        &found.image_ref,
    ) else {
        return Err(Error::Docker(format!(
            "container {name:?}: it records no previous image (it was created, not replaced, \
             by this tool, or not by this tool at all); {untouched}"
        )));
    };
    if inspect_image(docker, previous, &untouched).await?.is_none() {
        return Err(Error::ImageNotFound(format!(
            "container {name:?}: the previous image {} is no longer on this host (removed by \
             keep_images or a prune?); {untouched}",
            short_id(previous)
        )));
    }
    let spec = ContainerSpec::from_record(name, record)?;
    let mut request = RedeployRequest::new(name, ImageRef::parse(reference)?, spec, false, None)?;
    request.image_id = Some(previous.clone());
    request.strategy = options.strategy;
    request.verification = options.verification;
    request.lock_timeout = options.lock_timeout;
    request.replica_of = found.replica_of.clone();
    let mut report = redeploy(docker, &request, steps).await?;
    if report.action != "none" {
        report.comment = format!(
            "rolled back {name:?} to {}: {}",
            short_id(previous),
            report.comment
        );
    }
    Ok(report)
}

/// What a rolling update of replicas did.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicasReport {
    pub name: String,
    pub image: String,
    pub replicas: u32,
    /// `none` when every replica was up to date, else `updated`.
    pub action: &'static str,
    /// Per replica name, that replica's changes; `removed` lists replicas beyond the count.
    pub changes: Map<String, Value>,
    pub comment: String,
    pub image_id: String,
    /// One report per replica, in rollout order (up to the failed one, in a `RolledBack`).
    pub results: Vec<RedeployReport>,
    pub removed: Vec<String>,
}

/// The names of the replicas of `name`.
pub fn replica_names(name: &str, count: u32) -> Vec<String> {
    (1..=count).map(|i| format!("{name}-{i}")).collect()
}

/// Keeps `name-1` .. `name-count` on the declared image, one at a time (at most one replica
/// is unavailable), stopping at the first failure: the failed replica rolls back and the ones
/// after it stay on their image. Replicas beyond the count are removed after a success.
pub async fn redeploy_replicas(
    docker: &Docker,
    request: &RedeployRequest,
    count: u32,
    steps: &mut Steps<'_>,
) -> Result<ReplicasReport> {
    let name = &request.name;
    let requests = replica_requests(request, count)?;
    let untouched = format!("the replicas of {name:?} were left as they were");
    let image = &request.image;
    let refreshed = refresh_for(docker, request, steps).await?;
    let image_digest = match (&request.image_id, &refreshed.report) {
        (None, Some(report)) if refreshed.image_id.as_ref() == Some(&report.id) => {
            report.digest.clone()
        }
        _ => request.image_digest.clone(),
    };
    let image_id = match (&request.image_id, refreshed.image_id) {
        (Some(id), _) => id.clone(),
        (None, Some(id)) => id,
        (None, None) => local_image_id(docker, image, &untouched).await?,
    };
    // One rollout of the set at a time; each replica also takes its own lock.
    let _held = lock::acquire(lock::Subject::Replicas(name), request.lock_timeout).await?;
    let mut results: Vec<RedeployReport> = Vec::new();
    for (index, mut one) in (1..=count).zip(requests) {
        one.image_id = Some(image_id.clone());
        one.image_digest = image_digest.clone();
        // The images are pruned once, after the last replica.
        one.keep_images = None;
        let mut replica_steps = steps.child(one.name.clone());
        match redeploy(docker, &one, &mut replica_steps).await {
            Ok(report) => results.push(report),
            Err(err) => {
                let done: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
                let stopped = format!(
                    "the rollout stopped at replica {index} of {count}: {}; the replicas after \
                     it were not touched",
                    if done.is_empty() {
                        "no replica was updated before it".to_string()
                    } else {
                        format!("{} were updated before it", done.join(", "))
                    }
                );
                return Err(match err {
                    Error::RolledBack { message, report } => {
                        let mut rollout =
                            replicas_report(request, count, &image_id, results, vec![], "");
                        rollout.action = "rolled-back";
                        rollout.comment = format!("{message}; {stopped}");
                        let mut value = serde_json::to_value(&rollout).unwrap_or(Value::Null);
                        if let Some(list) = value.get_mut("results").and_then(Value::as_array_mut) {
                            list.push(*report);
                        }
                        Error::RolledBack {
                            message: rollout.comment,
                            report: Box::new(value),
                        }
                    }
                    other => other.map_message_pub(|m| format!("{m}; {stopped}")),
                });
            }
        }
    }
    // Replicas beyond the count (the set was scaled down) go only after a full success.
    let mut removed = Vec::new();
    let wanted: HashSet<String> = replica_names(name, count).into_iter().collect();
    let listed = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![format!("{LABEL_REPLICA_OF}={name}")],
            )])),
            ..Default::default()
        }))
        .await
        .map_err(|e| {
            EngineFault::from(e).into_error(&format!("replicas of {name:?}"), &untouched)
        })?;
    for extra in listed {
        let Some(extra_name) = extra
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
        else {
            continue;
        };
        // Only replicas this tool made for the set: a container that inherited the label
        // from its image is somebody else's.
        let mut observed = observe_summary(&extra);
        if provenance(extra.labels.as_ref(), &observed.image_id) == Provenance::Unproven {
            vet(docker, &mut observed, &untouched).await?;
        }
        let ours = observed.replica_of.as_deref() == Some(name.as_str())
            && observed.owner.as_deref() == Some(extra_name.as_str());
        if ours && !wanted.contains(&extra_name) && replica_index(name, &extra_name).is_some() {
            let gone = remove(docker, &extra_name, request.lock_timeout, Some(name), steps).await?;
            if gone.removed {
                removed.push(extra_name);
            }
        }
    }
    if let Some(keep) = request.keep_images {
        let (pruned, warnings) = prune_images(docker, image, keep, &HashSet::new(), steps).await;
        if let Some(last) = results.last_mut() {
            last.removed_images = pruned;
            last.warnings.extend(warnings);
        }
    }
    Ok(replicas_report(
        request, count, &image_id, results, removed, "",
    ))
}

/// Every replica's request, checked before the first Docker call.
fn replica_requests(request: &RedeployRequest, count: u32) -> Result<Vec<RedeployRequest>> {
    let name = &request.name;
    if count == 0 {
        return Err(Error::InvalidSpec(format!(
            "container {name:?}: replicas must be at least 1 (use docker_deploy.absent to \
             remove); nothing was changed"
        )));
    }
    let mut requests = Vec::new();
    for (index, replica) in (1..=count).zip(replica_names(name, count)) {
        let mut one = request.clone();
        one.spec = request.spec.for_replica(name, index, count)?;
        one.name = replica;
        one.pull_policy = PullPolicy::Never;
        one.replica_of = Some(name.clone());
        one.validate()?;
        requests.push(one);
    }
    Ok(requests)
}

/// What [`redeploy_replicas`] would do, read only.
pub async fn preview_replicas(
    docker: &Docker,
    request: &RedeployRequest,
    count: u32,
    assume_image_id: Option<&str>,
    steps: &mut Steps<'_>,
) -> Result<ReplicasReport> {
    let mut results = Vec::new();
    for one in replica_requests(request, count)? {
        let mut replica_steps = steps.child(one.name.clone());
        results.push(preview(docker, &one, assume_image_id, &mut replica_steps).await?);
    }
    let image_id = results
        .first()
        .map(|r| r.image_id.clone())
        .unwrap_or_default();
    Ok(replicas_report(
        request,
        count,
        &image_id,
        results,
        vec![],
        "would be ",
    ))
}

/// `web-3` -> 3 for the set `web`.
fn replica_index(name: &str, replica: &str) -> Option<u32> {
    replica.strip_prefix(name)?.strip_prefix('-')?.parse().ok()
}

fn replicas_report(
    request: &RedeployRequest,
    count: u32,
    image_id: &str,
    results: Vec<RedeployReport>,
    removed: Vec<String>,
    mood: &str,
) -> ReplicasReport {
    let mut changes = Map::new();
    let mut done = Vec::new();
    for r in &results {
        if r.action != "none" {
            changes.insert(r.name.clone(), Value::Object(r.changes.clone()));
            done.push(format!("{} {mood}{}", r.name, r.action));
        }
    }
    if !removed.is_empty() {
        changes.insert("removed".into(), json!(removed));
        done.extend(removed.iter().map(|r| format!("{r} removed")));
    }
    let name = &request.name;
    let comment = if done.is_empty() {
        format!("all {count} replicas of {name:?} are up to date: nothing to do")
    } else {
        format!(
            "{count} replicas of {name:?} on {}: {}",
            short_id(image_id),
            done.join(", ")
        )
    };
    ReplicasReport {
        name: name.clone(),
        image: request.image.to_string(),
        replicas: count,
        action: if changes.is_empty() {
            "none"
        } else {
            "updated"
        },
        changes,
        comment,
        image_id: image_id.to_string(),
        results,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_values_are_hidden_in_output_and_changes() {
        let env = std::collections::BTreeMap::from([
            ("DB_PASSWORD".to_string(), "hunter2-secret".to_string()),
            ("TOKEN".to_string(), "hunter2".to_string()),
            ("DEBUG".to_string(), "1".to_string()),
        ]);
        let shown = hide_environment("connecting with hunter2-secret and hunter2, 1 try", &env);
        assert_eq!(shown, "connecting with <hidden> and <hidden>, 1 try");
        let (old, new) = masked_environment(
            &json!({"A": "same", "B": "old-secret"}),
            &json!({"A": "same", "B": "new-secret", "C": "added"}),
        );
        assert_eq!(old, json!({"A": "<hidden>", "B": "<hidden, changed>"}));
        assert_eq!(
            new,
            json!({"A": "<hidden>", "B": "<hidden, changed>", "C": "<hidden>"})
        );
        assert_eq!(
            masked_environment(&Value::Null, &json!({"A": "x"})).0,
            Value::Null
        );
    }

    #[test]
    fn names_are_checked_before_any_call() {
        for bad in ["web.deploy-new", "web.deploy-old", "-web", "w", "a/b", "é"] {
            assert!(validate_container_name(bad).is_err(), "{bad}");
        }
        let long = "w".repeat(MAX_NAME_LEN + 1);
        let err = validate_container_name(&long).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
        assert!(validate_container_name("web.deploy-newer").is_ok());
        assert!(validate_container_name(&"w".repeat(MAX_NAME_LEN)).is_ok());
    }
}
