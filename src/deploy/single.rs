//! One container: pull -> lock -> observe -> recover -> plan -> apply -> verify, and its report.
//!
//! The common case, nothing to do, is settled first in one round of reads ([`settled`]); a
//! change takes the full way ([`full`]). A dry run is the same path with the switch on: it
//! takes no lock, pulls nothing (the registry is asked what a pull would bring), and stops
//! once the plan is made ([`crate::container::converge`]).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bollard::Docker;

use crate::container::adopted::{self, Adopted};
use crate::container::converge::{converge, Converged, Settings};
use crate::container::docker::{Blueprint, DockerEngine};
use crate::container::observe::Observed;
use crate::container::plan::{plan, Action, Desired, Plan, Target};
use crate::container::scene::{read_scene, Scene};
use crate::deploy::report::{Outcome, RedeployReport, Run};
use crate::deploy::request::RedeployRequest;
use crate::engine::inspect_image;
use crate::error::{ErrorKind, Result, NOTHING_CHANGED};
use crate::image::check::{compare, local_image, remote_digest, LocalImage};
use crate::image::fault::PULL_LEFT;
use crate::image::prune::prune_images;
use crate::image::pull::PullReport;
use crate::image::refresh::Pinned;
use crate::image::refresh::{by_digest, confirmed, local_image_id, refresh, PullPolicy, Refreshed};
use crate::lock;
use crate::spec::record::Record;
use crate::steps::{no_log, Steps};

/// Brings the container `request.name` to the declared image and spec. `steps` receives one
/// line per step.
pub async fn redeploy(
    docker: &Docker,
    request: &RedeployRequest,
    steps: &mut Steps<'_>,
) -> Result<RedeployReport> {
    request.validate()?;
    let held = lock::try_acquire(lock::Subject::Container(&request.name))?;
    if request.dry_run {
        // A dry run only looks whether another run holds the lock, and lets go at once.
        let busy = held.is_none();
        drop(held);
        let mut report = redeploy_from(docker, request, Some(Early::default()), steps).await?;
        if busy {
            report.warnings.push(format!(
                "another run is redeploying {:?} now: a real run would wait for it, then decide \
                 against what it leaves",
                request.name
            ));
        }
        return Ok(report);
    }
    redeploy_from(docker, request, held.map(Early::held), steps).await
}

/// What a run starts with when the one-round no-op may settle it: the lock, taken without
/// waiting (none in a dry run), and the scene when a group's listing already read it.
#[derive(Default)]
pub(crate) struct Early {
    pub held: Option<lock::HostLock>,
    pub scene: Option<Scene>,
}

impl Early {
    pub(crate) fn held(held: lock::HostLock) -> Early {
        Early {
            held: Some(held),
            scene: None,
        }
    }
}

/// [`redeploy`], given what it starts with: `early` when the no-op may be settled in one
/// round of reads, `None` for the full way at once (a busy lock, a group's pulled entry).
pub(crate) async fn redeploy_from(
    docker: &Docker,
    request: &RedeployRequest,
    early: Option<Early>,
    steps: &mut Steps<'_>,
) -> Result<RedeployReport> {
    request.validate()?;
    if let Some(Early { held, scene }) = early {
        if let Some(result) = settled(docker, request, scene, steps).await {
            return result;
        }
        // Anything but "nothing to do" takes the full way, which reads everything again: the
        // pull runs without the lock, so that a slow pull never holds up another run.
        drop(held);
    }
    full(docker, request, steps).await
}

/// A group's first phase for one entry: the one-round no-op under the lock it took (if any),
/// released before returning, settled or not.
pub(crate) async fn settle_only(
    docker: &Docker,
    request: &RedeployRequest,
    early: Early,
    steps: &mut Steps<'_>,
) -> Option<Result<RedeployReport>> {
    let Early { held, scene } = early;
    let outcome = settled(docker, request, scene, steps).await;
    drop(held);
    outcome
}

/// The full way: the pull (no lock: it only moves the local tag, and two pulls of a tag
/// agree), the lock, what runs under the three names, then recovery, plan and steps.
async fn full(
    docker: &Docker,
    request: &RedeployRequest,
    steps: &mut Steps<'_>,
) -> Result<RedeployReport> {
    let name = &request.name;
    let left = format!("container {name:?} was left as it was");
    let refreshed = refresh_for(docker, request, steps).await?;
    let started = Instant::now();
    let held = match request.dry_run {
        true => None,
        false => Some(lock::acquire(lock::Subject::Container(name), request.lock_timeout).await?),
    };
    if held
        .as_ref()
        .is_some_and(|h| h.waited > Duration::from_millis(100))
    {
        steps.record(
            "lock",
            started,
            format!("waited for another redeploy of {name:?}"),
        );
    }
    let contended = held.as_ref().is_some_and(|h| h.contended);
    // The image and the containers after the lock: a run that waited deploys what the tag
    // says now, against what the other run left. Independent reads, so both at once.
    let pulled = refreshed.report;
    let image = async {
        match (&request.pinned, refreshed.pending, refreshed.image_id) {
            (Some(pinned), ..) => Ok(pinned.clone()),
            (None, Some(digest), _) => Ok(Pinned::Pending { digest }),
            // A run that held the lock may have pulled a newer image of the tag meanwhile;
            // not of a digest, which names one image for good.
            (None, None, Some(id)) if !contended || request.digest.is_some() => {
                Ok(Pinned::Image { id, digest: None })
            }
            (None, None, _) => local_image_id(docker, &request.image, &left)
                .await
                .map(|id| Pinned::Image { id, digest: None }),
        }
    };
    let (image, scene) = tokio::join!(image, read_scene(docker, name, &left));
    let (mut image, scene) = (image?, scene?);
    if let (Pinned::Pending { digest }, Some(current)) = (&image, &scene.primary) {
        if let Some(running) = pending_runs_already(docker, request, digest, current).await {
            image = running;
        }
    }
    let target = image.target();
    if !request.still_expected(scene.primary.as_ref()) {
        return Ok(changed_meanwhile(
            request,
            target,
            scene.primary,
            pulled,
            steps,
        ));
    }
    // The digest the deployed image came under, when this run knows it for that very image.
    let digest = match (&image, &pulled) {
        (Pinned::Image { id, .. }, Some(pulled)) if &pulled.id == id => pulled.digest.clone(),
        (Pinned::Image { digest, .. }, _) => digest.clone(),
        (Pinned::Pending { .. }, _) => None,
    };

    let spec_json = request.spec.canonical_json();
    let blueprint = Blueprint {
        name,
        spec: &request.spec,
        image_id: target.id_or_digest(),
        record: Record {
            spec: Some(spec_json.clone()),
            owner: Some(name.clone()),
            image_ref: Some(request.image.to_string()),
            digest: digest.clone(),
            replica_of: request.replica_of.clone(),
            options: Some(request.options_record.clone()),
            ..Record::default()
        },
        verification: request.verification,
        renew_anonymous_volumes: request.renew_anonymous_volumes,
    };
    let mut engine = DockerEngine::new(docker, blueprint, Some(scene), steps);
    let desired = Desired {
        image: target,
        spec: &request.spec,
        spec_json: &spec_json,
        adopt: request.replica_of.is_none(),
    };
    let settings = Settings {
        strategy: request.strategy,
        rollback: request.rollback,
        force: request.force,
        dry_run: request.dry_run,
    };
    let result = converge(&mut engine, name, &desired, settings).await;
    let kept_volumes = std::mem::take(&mut engine.kept_volumes);
    let steps = engine.steps;
    let run = Run {
        request,
        target,
        spec_json: &spec_json,
        pulled,
        digest: digest.clone(),
    };
    let done = match result {
        Ok(done) => done,
        Err(failed) => return Err(run.failed(failed, steps)),
    };
    let unrecorded = match request.dry_run {
        true => None,
        false => keep_adoption(request, &done, &spec_json, digest),
    };
    let mut report = run.converged(done, steps);
    report.warnings.extend(kept_volumes);
    report.warnings.extend(unrecorded);
    if let (Some(keep), false) = (request.keep_images, request.dry_run) {
        let (removed, failed) =
            prune_images(docker, &request.image, keep, &HashSet::new(), steps).await;
        report.removed_images = removed;
        report.warnings.extend(failed);
        report.steps = steps.done.clone();
    }
    drop(held);
    Ok(report)
}

/// The report of a request whose container was replaced or removed by another run between
/// the moment it was listed and the lock (`update`): the name is left as that run left it.
fn changed_meanwhile(
    request: &RedeployRequest,
    target: Target<'_>,
    current: Option<Observed>,
    pulled: Option<PullReport>,
    steps: &Steps<'_>,
) -> RedeployReport {
    let spec_json = request.spec.canonical_json();
    let run = Run {
        request,
        target,
        spec_json: &spec_json,
        pulled,
        digest: None,
    };
    let outcome = Outcome {
        container_id: current.as_ref().map(|c| c.id.clone()),
        downtime_ms: None,
        warnings: vec![],
    };
    let plan = Plan {
        action: Action::None,
        reasons: vec![],
        adopt: false,
    };
    let mut report = run.report(current, plan, outcome, steps);
    report.comment = format!(
        "container {:?} was {} since it was listed: left as that run left it",
        request.name,
        match &report.container_id {
            Some(_) => "replaced",
            None => "removed",
        }
    );
    report
}

/// Keeps (or forgets) the record of an adopted container, after a run that succeeded: one
/// found to run as declared is adopted; one replaced by a container of ours is forgotten.
/// A record that cannot be written is a warning, not a failure: the container runs as
/// declared either way, and the next run decides the adoption again from the container.
fn keep_adoption(
    request: &RedeployRequest,
    done: &Converged,
    spec_json: &str,
    digest: Option<String>,
) -> Option<String> {
    match (done.plan.adopt, &done.container_id) {
        (true, Some(container)) => adopted::keep(
            &request.name,
            &Adopted {
                container: container.clone(),
                spec: spec_json.to_string(),
                image: request.image.to_string(),
                digest,
                options: Some(request.options_record.clone()),
            },
        )
        .err()
        .map(|e| {
            format!(
                "{} (the adopted container runs as declared; the next run compares it again)",
                e.problem
            )
        }),
        _ => {
            if matches!(done.plan.action, Action::Replace | Action::Create) {
                adopted::forget(&request.name);
            }
            None
        }
    }
}

/// The no-op in one round. The registry's digest, and what runs under the three names, are
/// read at once; the registry's digest is compared with the digest the container records
/// (our label: the same manifest digest is the same image), or with the local tag's when it
/// records none. When the container runs that image with the declared spec, and no
/// interrupted run left anything, the report is ready. `None` for anything else (a pull, a
/// change, a recovery, an error of the Engine): the full way, which reads it all again,
/// decides and says why. The registry's error is final: the full way would only ask it again,
/// and wait as long again for a registry that hangs.
async fn settled(
    docker: &Docker,
    request: &RedeployRequest,
    scene: Option<Scene>,
    steps: &mut Steps<'_>,
) -> Option<Result<RedeployReport>> {
    let name = &request.name;
    let image = &request.image;
    let left = format!("container {name:?} was left as it was");
    // Steps are recorded quietly and logged only if this path settles the run.
    let mut quiet = Steps::new(name.clone(), &no_log);
    let scene = async {
        match scene {
            Some(scene) => Some(scene),
            None => read_scene(docker, name, &left).await.ok(),
        }
    };
    let planned = Instant::now();
    let (target, pulled, scene): (Pinned, Option<PullReport>, Scene) =
        match (&request.pinned, request.pull_policy) {
            (Some(pinned), _) => (pinned.clone(), None, scene.await?),
            // A pinned digest: the image of it on this host, no registry asked (one that is
            // not here yet is pulled on the full way).
            (None, _) if request.digest.is_some() => {
                let digest = request.digest.as_deref().unwrap_or_default();
                let mut quiet_pull = Steps::new(name.clone(), &no_log);
                let (refreshed, scene) = tokio::join!(
                    by_digest(
                        docker,
                        image,
                        digest,
                        None,
                        request.pull_timeout,
                        true,
                        &mut quiet_pull
                    ),
                    scene
                );
                let pulled = refreshed.ok()?.report?;
                let id = pulled.id.clone();
                (Pinned::Image { id, digest: None }, Some(pulled), scene?)
            }
            (None, PullPolicy::Always) => return None,
            (None, PullPolicy::IfChanged) => {
                let auth = request.auth.as_ref();
                let (remote, scene) = tokio::join!(remote_digest(docker, image, auth), scene);
                let remote = match remote {
                    Ok(remote) => remote,
                    // Worded as the pull's would be: the redeploy stops here.
                    Err(e) if e.is(ErrorKind::Registry) || e.is(ErrorKind::ImageNotFound) => {
                        return Some(Err(e.left(PULL_LEFT).about(request.subject())))
                    }
                    Err(_) => return None,
                };
                let scene = scene?;
                let recorded = scene.primary.as_ref().and_then(|c| {
                    Some(LocalImage::recorded_on(
                        c.image_id.clone(),
                        c.record.digest.clone()?,
                    ))
                });
                let local = match recorded {
                    Some(recorded) => Some(recorded),
                    None => local_image(docker, image).await.ok()?,
                };
                let checked = compare(image, remote, local, planned, &mut quiet);
                let pulled = confirmed(image, checked)?;
                let id = pulled.id.clone();
                (Pinned::Image { id, digest: None }, Some(pulled), scene)
            }
            (None, PullPolicy::Missing | PullPolicy::Never) => {
                let (local, scene) = tokio::join!(local_image(docker, image), scene);
                let id = local.ok()??.id?;
                (Pinned::Image { id, digest: None }, None, scene?)
            }
        };
    if scene.temporary.is_some()
        || scene.backup.is_some()
        || !request.still_expected(scene.primary.as_ref())
    {
        return None;
    }
    let target = target.target();
    let spec_json = request.spec.canonical_json();
    let desired = Desired {
        image: target,
        spec: &request.spec,
        spec_json: &spec_json,
        adopt: request.replica_of.is_none(),
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
    if let (Some(keep), false) = (request.keep_images, request.dry_run) {
        let (removed, failed) = prune_images(docker, image, keep, &HashSet::new(), steps).await;
        removed_images = removed;
        warnings = failed;
    }
    let outcome = Outcome {
        container_id: scene.primary.as_ref().map(|c| c.id.clone()),
        downtime_ms: None,
        warnings,
    };
    let digest = pulled.as_ref().and_then(|p| p.digest.clone());
    let run = Run {
        request,
        target,
        spec_json: &spec_json,
        pulled,
        digest,
    };
    let mut report = run.report(scene.primary, decision, outcome, steps);
    report.removed_images = removed_images;
    Some(Ok(report))
}

/// In a dry run, when a pull would bring the image of registry digest `digest`: the image
/// `current` runs, if it is that very image (its image was pulled under that digest before,
/// though the container records none: a rollback, or `pull_policy` never). A real run would
/// pull it and find the image ID the container runs; the dry run must predict the same.
async fn pending_runs_already(
    docker: &Docker,
    request: &RedeployRequest,
    digest: &str,
    current: &Observed,
) -> Option<Pinned> {
    if Target::Pending(digest).is_run_by(current) {
        return None;
    }
    let image = inspect_image(docker, &current.image_id, NOTHING_CHANGED)
        .await
        .ok()??;
    let pulled_under = format!("{}@{digest}", request.image.repository());
    image
        .repo_digests
        .unwrap_or_default()
        .contains(&pulled_under)
        .then(|| Pinned::Image {
            id: current.image_id.clone(),
            digest: Some(pulled_under),
        })
}

/// Refreshes the tag for a request (nothing to do when it deploys a given image).
pub(crate) async fn refresh_for(
    docker: &Docker,
    request: &RedeployRequest,
    steps: &mut Steps<'_>,
) -> Result<Refreshed> {
    if request.pinned.is_some() {
        return Ok(Refreshed::default());
    }
    if let Some(digest) = &request.digest {
        return by_digest(
            docker,
            &request.image,
            digest,
            request.auth.as_ref(),
            request.pull_timeout,
            request.dry_run,
            steps,
        )
        .await
        .map_err(|e| e.about(request.subject()));
    }
    refresh(
        docker,
        &request.image,
        request.auth.as_ref(),
        request.pull_policy,
        request.pull_timeout,
        request.dry_run,
        steps,
    )
    .await
    .map_err(|e| e.about(request.subject()))
}
