//! Removing a container and what an interrupted redeploy of it left, under its lock.

use std::time::{Duration, Instant};

use bollard::query_parameters::RemoveContainerOptions;
use bollard::Docker;
use serde::Serialize;

use crate::container::adopted;
use crate::container::docker::{status_of, stop_container};
use crate::container::observe::Observed;
use crate::container::scene::{read_scene, Slot};
use crate::engine::inspect_container;
use crate::error::{EngineFault, Error, ErrorKind, Result};
use crate::lock;
use crate::reference::short_id;
use crate::steps::Steps;

/// What [`remove`] did.
#[derive(Debug, Clone, Serialize)]
pub struct RemoveReport {
    pub name: String,
    /// The container was removed (in a dry run: would be).
    pub removed: bool,
    pub container_id: Option<String>,
    pub image_id: Option<String>,
    /// Helper containers an interrupted or `rollback=False` redeploy left (`<name>.deploy-new`,
    /// `<name>.deploy-old`) that were removed too.
    pub helpers_removed: Vec<String>,
    /// What was left on purpose (a foreign container under a helper name).
    pub warnings: Vec<String>,
    /// Nothing was removed: the report says what a real run would remove.
    pub dry_run: bool,
}

/// Stops (outwaiting its own stop timeout) and removes the container `name`, under its lock,
/// and the helper containers a redeploy of it left behind; a helper name held by a container
/// this tool did not create for `name` is left alone, with a warning. Volumes are kept.
/// `replica_of`: remove it only if it is (still, under the lock) a replica of that set. A dry
/// run takes no lock and removes nothing: it reports what would go.
pub async fn remove(
    docker: &Docker,
    name: &str,
    lock_timeout: Duration,
    replica_of: Option<&str>,
    dry_run: bool,
    steps: &mut Steps<'_>,
) -> Result<RemoveReport> {
    let started = Instant::now();
    let held = match dry_run {
        true => None,
        false => Some(lock::acquire(lock::Subject::Container(name), lock_timeout).await?),
    };
    if held
        .as_ref()
        .is_some_and(|held| held.waited > Duration::from_millis(100))
    {
        steps.record(
            "lock",
            started,
            format!("waited for another run on {name:?}"),
        );
    }
    let untouched = format!("container {name:?} was left as it was");
    let scene = read_scene(docker, name, &untouched).await?;
    if let (Some(set), Some(primary)) = (replica_of, &scene.primary) {
        if primary.record.replica_of.as_deref() != Some(set) {
            return Ok(RemoveReport {
                name: name.to_string(),
                removed: false,
                container_id: Some(primary.id.clone()),
                image_id: Some(primary.image_id.clone()),
                helpers_removed: Vec::new(),
                warnings: vec![format!(
                    "{name:?} is no longer a replica of {set:?} (another run changed it): left"
                )],
                dry_run,
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
        dry_run,
    };
    let linked = |helper: &Observed| {
        [&scene.primary, &scene.temporary]
            .into_iter()
            .flatten()
            .any(|c| c.record.previous_container.as_deref() == Some(helper.id.as_str()))
    };
    for (slot, helper) in [
        (Slot::Temporary, &scene.temporary),
        (Slot::Backup, &scene.backup),
    ] {
        let Some(helper) = helper else { continue };
        let helper_name = slot.name_for(name);
        if helper.record.owner.as_deref() == Some(name) || linked(helper) {
            if !dry_run {
                remove_one(docker, &helper_name, helper, steps).await?;
            }
            report.helpers_removed.push(helper_name);
        } else {
            report.warnings.push(format!(
                "{helper_name:?} ({}) was left: this tool did not create it for {name:?}",
                short_id(&helper.id)
            ));
        }
    }
    if let Some(primary) = &scene.primary {
        if !dry_run {
            remove_one(docker, name, primary, steps).await?;
            adopted::forget(name);
        }
        report.removed = true;
    }
    drop(held);
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
            Error::new(
                ErrorKind::Docker,
                format!("it did not stop in time ({})", fault.message()),
            )
            .about(format!("container {name:?}"))
            .left(format!(
                "{untouched} (the Engine may still be stopping it: run again)"
            ))
        } else {
            let mut error = fault.into_error(&format!("container {name:?}"), &untouched);
            error.problem = format!("it could not be removed: {}", error.problem);
            error
        }
    };
    if found.is_running() {
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
