//! Several containers over one Engine connection, each exactly as a single redeploy would
//! (verified, rolled back on its own; one failure does not stop the others).

use std::collections::{HashMap, HashSet};

use bollard::Docker;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;

use crate::container::scene::read_scenes;
use crate::deploy::report::RedeployReport;
use crate::deploy::request::RedeployRequest;
use crate::deploy::single::{redeploy_from, refresh_for, settle_only, Early};
use crate::error::{Error, Result};
use crate::image::prune::prune_images;
use crate::image::refresh::Pinned;
use crate::image::refresh::Refreshed;
use crate::lock;
use crate::steps::{LogSink, Steps};

/// One container of a group: its report, or the error that stopped it.
#[derive(Debug, Serialize)]
pub struct GroupEntry {
    pub name: String,
    pub report: Option<RedeployReport>,
    /// The exception name (`RolledBack`, `ImageNotFound`, ...) when it failed.
    pub error: Option<&'static str>,
    pub message: Option<String>,
    /// With `RolledBack` (or a failed first start): the failed redeploy's report, as the
    /// exception would carry it (its steps, and where and why it failed).
    pub error_report: Option<Box<Value>>,
}

impl GroupEntry {
    pub(crate) fn of(name: &str, result: Result<RedeployReport>) -> GroupEntry {
        match result {
            Ok(report) => GroupEntry {
                name: name.to_string(),
                report: Some(report),
                error: None,
                message: None,
                error_report: None,
            },
            Err(err) => GroupEntry {
                name: name.to_string(),
                report: None,
                error: Some(err.exception()),
                message: Some(err.to_string()),
                error_report: err.report,
            },
        }
    }

    /// An entry that failed before its redeploy began (`error` an exception's name).
    pub(crate) fn failed(name: &str, error: &'static str, message: String) -> GroupEntry {
        GroupEntry {
            name: name.to_string(),
            report: None,
            error: Some(error),
            message: Some(message),
            error_report: None,
        }
    }
}

/// Checks a group before any Docker call: every entry, and no name twice (twice in one run
/// would be replaced twice, by two redeploys racing for one name).
pub fn validate_group(requests: &[RedeployRequest]) -> Result<()> {
    let mut names = HashSet::new();
    for request in requests {
        request.validate()?;
        if !names.insert(request.name.as_str()) {
            return Err(Error::invalid(
                "containers",
                format!("container {:?} is declared twice", request.name),
            ));
        }
    }
    Ok(())
}

/// Pulls at once in a group's pull phase: the Engine serialises most of a pull, so more at
/// once only wait longer (20 pulls of a moved tag took 474 ms one at a time, 319-363 ms four at
/// a time, 322 ms ten at a time, and seconds twenty at a time).
const PULLS_AT_ONCE: usize = 4;

/// Keeps several containers on their tags, up to `concurrency` at a time; one entry per
/// request, in order. Three phases:
///
/// 1. The common case, nothing to do, for the whole group at once: the locks nobody holds
///    (none in a dry run), one listing of the containers under them, then each container
///    settled in one round. A busy lock or a failed listing only costs the reads.
/// 2. The tags of the rest are brought up to date (checks and pulls; in a dry run, checks)
///    before any container is touched: on an Engine busy starting and stopping containers a
///    pull takes a second or more, on an idle one tens of ms (BENCHMARKS.md, S3).
/// 3. The redeploys of the image IDs pulled, `concurrency` at a time.
///
/// Images are pruned (`keep_images`) once every entry is done, and never one that an entry of
/// the group deploys: one entry's pruning must not delete the image the next one is about to
/// create its container from.
pub async fn redeploy_group(
    docker: &Docker,
    requests: &[RedeployRequest],
    concurrency: usize,
    log: LogSink<'_>,
) -> Vec<GroupEntry> {
    let unpruned: Vec<RedeployRequest> = requests
        .iter()
        .map(|r| RedeployRequest {
            keep_images: None,
            ..r.clone()
        })
        .collect();
    let outcomes = redeploy_each(docker, &unpruned, concurrency, log).await;
    let declared: HashSet<String> = outcomes.iter().filter_map(|(id, _)| id.clone()).collect();
    let mut entries = Vec::with_capacity(outcomes.len());
    for (request, (_, mut result)) in requests.iter().zip(outcomes) {
        if let (Some(keep), Ok(report), false) = (request.keep_images, &mut result, request.dry_run)
        {
            let mut steps = Steps::new(request.name.clone(), log);
            let (removed, warnings) =
                prune_images(docker, &request.image, keep, &declared, &mut steps).await;
            report.removed_images = removed;
            report.warnings.extend(warnings);
            report.steps.extend(steps.done);
        }
        entries.push(GroupEntry::of(&request.name, result));
    }
    entries
}

/// The three phases of [`redeploy_group`]; each result with the image ID the entry deploys
/// (when it got as far as knowing it).
async fn redeploy_each(
    docker: &Docker,
    requests: &[RedeployRequest],
    concurrency: usize,
    log: LogSink<'_>,
) -> Vec<(Option<String>, Result<RedeployReport>)> {
    let concurrency = concurrency.max(1);
    let early = settle_first(docker, requests).await;

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
                    Some(early) => settle_only(docker, request, early, &mut steps).await,
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

    // 3. The redeploys of the image IDs pulled (in a dry run, of what a pull would bring).
    stream::iter(requests.iter().zip(first))
        .map(|(request, (mut steps, stage))| async move {
            let refreshed = match stage {
                Stage::Done(result) => {
                    let image_id = (*result).as_ref().ok().map(|r| r.image_id.clone());
                    return (image_id, *result);
                }
                Stage::Refreshed(refreshed) => refreshed,
            };
            // The image pulled is the one deployed, as for replicas.
            let mut pinned = request.clone();
            if pinned.pinned.is_none() {
                pinned.pinned = refreshed.pinned();
            }
            let result = redeploy_from(docker, &pinned, None, &mut steps).await;
            let result = result.map(|mut report| {
                report.pull = report.pull.or(refreshed.report);
                report
            });
            let image_id = match (&result, &pinned.pinned) {
                (Ok(report), _) => Some(report.image_id.clone()),
                (Err(_), Some(Pinned::Image { id, .. })) => Some(id.clone()),
                (Err(_), _) => None,
            };
            (image_id, result)
        })
        .buffered(concurrency)
        .collect()
        .await
}

/// Phase 1's reads: the locks nobody holds (a dry run takes none) and one listing of the
/// containers of those entries. `None` for an entry whose lock is busy: it takes the full way.
async fn settle_first(docker: &Docker, requests: &[RedeployRequest]) -> Vec<Option<Early>> {
    let held: Vec<Option<Option<lock::HostLock>>> = requests
        .iter()
        .map(|r| match r.dry_run {
            true => Some(None),
            false => lock::try_acquire(lock::Subject::Container(&r.name))
                .unwrap_or(None)
                .map(Some),
        })
        .collect();
    let names: Vec<&str> = requests
        .iter()
        .zip(&held)
        .filter(|(_, held)| held.is_some())
        .map(|(r, _)| r.name.as_str())
        .collect();
    let mut scenes = match names.is_empty() {
        true => HashMap::new(),
        false => read_scenes(docker, &names).await.unwrap_or_default(),
    };
    requests
        .iter()
        .zip(held)
        .map(|(r, held)| {
            held.map(|held| Early {
                held,
                scene: scenes.remove(&r.name),
            })
        })
        .collect()
}
