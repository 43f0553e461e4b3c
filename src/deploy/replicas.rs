//! Rolling replicas: `name-1` .. `name-N` on one image, one at a time (at most one replica is
//! unavailable), stopping at the first failure; replicas beyond the count go after a success.

use std::collections::{HashMap, HashSet};

use bollard::query_parameters::ListContainersOptions;
use bollard::Docker;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::container::observe::observe_summary;
use crate::deploy::remove::remove;
use crate::deploy::report::{RedeployReport, ReportAction};
use crate::deploy::request::RedeployRequest;
use crate::deploy::single::{redeploy, refresh_for};
use crate::error::{EngineFault, Error, ErrorKind, Result};
use crate::image::prune::prune_images;
use crate::image::refresh::Pinned;
use crate::image::refresh::{local_image_id, PullPolicy};
use crate::lock;
use crate::reference::short_id;
use crate::spec::record::{provenance, Provenance, LABEL_REPLICA_OF};
use crate::steps::Steps;

/// What a rolling update of replicas did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct ReplicasReport {
    pub name: String,
    pub image: String,
    pub replicas: u32,
    pub action: ReplicasAction,
    /// Per replica name, that replica's changes; `removed` lists replicas beyond the count.
    pub changes: Map<String, Value>,
    pub comment: String,
    /// The image the replicas run (in a dry run where a pull would bring a new one, the
    /// registry's digest of it).
    pub image_id: String,
    /// One report per replica, in rollout order (up to the failed one, in a `RolledBack`).
    pub results: Vec<RedeployReport>,
    /// Replicas beyond the count that were (or would be) removed.
    pub removed: Vec<String>,
    pub dry_run: bool,
}

/// What a rollout of replicas did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicasAction {
    /// Every replica was up to date.
    None,
    Updated,
    /// (In a `RolledBack` error) a replica failed and runs its previous image again.
    RolledBack,
    /// (In any other error of the rollout) it stopped at a replica that failed otherwise.
    Failed,
}

/// The names of the replicas of `name`.
pub fn replica_names(name: &str, count: u32) -> Vec<String> {
    (1..=count).map(|i| format!("{name}-{i}")).collect()
}

/// Keeps `name-1` .. `name-count` on the declared image, one at a time, stopping at the first
/// failure: the failed replica rolls back and the ones after it stay on their image. Replicas
/// beyond the count are removed after a success.
pub async fn redeploy_replicas(
    docker: &Docker,
    request: &RedeployRequest,
    count: u32,
    steps: &mut Steps<'_>,
) -> Result<ReplicasReport> {
    let name = &request.name;
    let requests = replica_requests(request, count)?;
    let left = format!("the replicas of {name:?} were left as they were");
    // One pull for the set: every replica deploys the image it brought.
    let refreshed = refresh_for(docker, request, steps).await?;
    let pinned = match request.pinned.clone().or_else(|| refreshed.pinned()) {
        Some(pinned) => pinned,
        None => Pinned::Image {
            id: local_image_id(docker, &request.image, &left).await?,
            digest: None,
        },
    };
    let image_id = match &pinned {
        Pinned::Image { id, .. } => id.clone(),
        Pinned::Pending { digest } => digest.clone(),
    };
    // One rollout of the set at a time; each replica also takes its own lock.
    let _held = match request.dry_run {
        true => None,
        false => Some(lock::acquire(lock::Subject::Replicas(name), request.lock_timeout).await?),
    };
    let mut results: Vec<RedeployReport> = Vec::new();
    for (index, mut one) in (1..=count).zip(requests) {
        one.pinned = Some(pinned.clone());
        // The images are pruned once, after the last replica.
        one.keep_images = None;
        let mut replica_steps = steps.child(one.name.clone());
        match redeploy(docker, &one, &mut replica_steps).await {
            Ok(report) => results.push(report),
            Err(err) => return Err(stopped(request, count, index, &image_id, results, err)),
        }
    }
    let removed = scale_down(docker, request, count, &left, steps).await?;
    if let (Some(keep), false) = (request.keep_images, request.dry_run) {
        let (pruned, warnings) =
            prune_images(docker, &request.image, keep, &HashSet::new(), steps).await;
        if let Some(last) = results.last_mut() {
            last.removed_images = pruned;
            last.warnings.extend(warnings);
        }
    }
    Ok(replicas_report(request, count, &image_id, results, removed))
}

/// The error of a rollout that stopped at replica `index`: what the failed replica said, and
/// which replicas were updated before it.
fn stopped(
    request: &RedeployRequest,
    count: u32,
    index: u32,
    image_id: &str,
    results: Vec<RedeployReport>,
    err: Error,
) -> Error {
    let done: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    let stopped = format!(
        "the rollout stopped at replica {index} of {count}: {}; the replicas after it were \
         not touched",
        match done.is_empty() {
            true => "no replica was updated before it".to_string(),
            false => format!("{} were updated before it", done.join(", ")),
        }
    );
    let mut err = err.and_left(stopped);
    // The rollout's report rides on the error whenever it has something to say: the replicas
    // updated before (each an event for Salt), and the failed one's report.
    let failed = err.report.take();
    if failed.is_some() || !results.is_empty() {
        let mut rollout = replicas_report(request, count, image_id, results, vec![]);
        rollout.action = match err.kind {
            ErrorKind::RolledBack => ReplicasAction::RolledBack,
            _ => ReplicasAction::Failed,
        };
        rollout.comment = err.to_string();
        let mut value = serde_json::to_value(&rollout).unwrap_or(Value::Null);
        if let (Some(list), Some(failed)) = (
            value.get_mut("results").and_then(Value::as_array_mut),
            failed,
        ) {
            list.push(*failed);
        }
        err = err.with_report(value);
    }
    err
}

/// Replicas beyond the count (the set was scaled down) go only after a full success; in a dry
/// run, they are only named.
async fn scale_down(
    docker: &Docker,
    request: &RedeployRequest,
    count: u32,
    left: &str,
    steps: &mut Steps<'_>,
) -> Result<Vec<String>> {
    let name = &request.name;
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
        .map_err(|e| EngineFault::from(e).into_error(&format!("replicas of {name:?}"), left))?;
    let mut removed = Vec::new();
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
            crate::container::observe::vet(docker, &mut observed, left).await?;
        }
        let ours = observed.record.replica_of.as_deref() == Some(name.as_str())
            && observed.record.owner.as_deref() == Some(extra_name.as_str());
        if ours && !wanted.contains(&extra_name) && replica_index(name, &extra_name).is_some() {
            let gone = remove(
                docker,
                &extra_name,
                request.lock_timeout,
                Some(name),
                request.dry_run,
                steps,
            )
            .await?;
            if gone.removed {
                removed.push(extra_name);
            }
        }
    }
    Ok(removed)
}

/// Every replica's request, checked before the first Docker call.
fn replica_requests(request: &RedeployRequest, count: u32) -> Result<Vec<RedeployRequest>> {
    let name = &request.name;
    if count == 0 {
        return Err(Error::invalid(
            request.subject(),
            "replicas must be at least 1 (use docker_deploy.absent to remove)",
        ));
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
) -> ReplicasReport {
    let mood = if request.dry_run { "would be " } else { "" };
    let mut changes = Map::new();
    let mut done = Vec::new();
    for r in &results {
        if r.action != ReportAction::None {
            changes.insert(r.name.clone(), Value::Object(r.changes.clone()));
            done.push(format!("{} {mood}{}", r.name, r.action.as_str()));
        }
    }
    if !removed.is_empty() {
        changes.insert("removed".into(), json!(removed));
        done.extend(removed.iter().map(|r| format!("{r} {mood}removed")));
    }
    let name = &request.name;
    let comment = match done.is_empty() {
        true => format!("all {count} replicas of {name:?} are up to date: nothing to do"),
        false => format!(
            "{count} replicas of {name:?} on {}: {}",
            short_id(image_id),
            done.join(", ")
        ),
    };
    ReplicasReport {
        name: name.clone(),
        image: request.image.to_string(),
        replicas: count,
        action: match changes.is_empty() {
            true => ReplicasAction::None,
            false => ReplicasAction::Updated,
        },
        changes,
        comment,
        image_id: image_id.to_string(),
        results,
        removed,
        dry_run: request.dry_run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_numbered_from_one_and_found_by_number() {
        assert_eq!(replica_names("web", 3), ["web-1", "web-2", "web-3"]);
        assert_eq!(replica_index("web", "web-12"), Some(12));
        assert_eq!(replica_index("web", "web-x"), None);
        assert_eq!(replica_index("web", "webby-1"), None);
        assert_eq!(replica_index("web", "web"), None);
    }
}
