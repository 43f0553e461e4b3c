//! `rollback()`: back to the image that ran under a name before its last redeploy (recorded
//! on the container), with the settings it runs with now, through the same verified path.

use bollard::Docker;

use crate::container::observe::observe_vetted;
use crate::deploy::report::{RedeployReport, ReportAction};
use crate::deploy::request::{validate_container_name, RedeployRequest};
use crate::deploy::single::redeploy;
use crate::engine::{inspect_container, inspect_image};
use crate::error::{Error, ErrorKind, Result, NOTHING_CHANGED};
use crate::image::refresh::Pinned;
use crate::options::Options;
use crate::reference::{short_id, ImageRef};
use crate::spec::ContainerSpec;
use crate::steps::Steps;

/// Redeploys the image recorded on `name` as the one it replaced. `options` gives the
/// strategy, the verification, the lock timeout and `dry_run`; the rest comes from the record.
pub async fn rollback(
    docker: &Docker,
    name: &str,
    options: Options,
    steps: &mut Steps<'_>,
) -> Result<RedeployReport> {
    validate_container_name(name)?;
    let subject = format!("container {name:?}");
    let left = format!("container {name:?} was left as it was");
    let found = inspect_container(docker, name, &left)
        .await?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Docker,
                "there is no container under that name to roll back",
            )
            .about(&subject)
            .left(NOTHING_CHANGED)
        })?;
    let found = observe_vetted(docker, &found, &left).await?;
    let record = &found.record;
    let (Some(previous), Some(spec), Some(reference)) =
        (&record.previous_image, &record.spec, &record.image_ref)
    else {
        return Err(Error::new(
            ErrorKind::Docker,
            "it records no previous image (it was created, not replaced, by this tool, or not \
             by this tool at all)",
        )
        .about(&subject)
        .left(left));
    };
    if inspect_image(docker, previous, &left).await?.is_none() {
        return Err(Error::new(
            ErrorKind::ImageNotFound,
            format!(
                "the previous image {} is no longer on this host (removed by keep_images or a \
                 prune?)",
                short_id(previous)
            ),
        )
        .about(&subject)
        .left(left));
    }
    let spec = ContainerSpec::from_record(name, spec)?;
    let image = ImageRef::parse(reference).map_err(|e| e.about(&subject))?;
    let mut request = RedeployRequest::new(name, image, spec, options)?;
    request.pinned = Some(Pinned::Image {
        id: previous.clone(),
        digest: None,
    });
    request.replica_of = record.replica_of.clone();
    // The rollback's options are this run's: the container keeps the ones it recorded.
    if let Some(options) = &record.options {
        request.options_record = options.clone();
    }
    let mut report = redeploy(docker, &request, steps).await?;
    if report.action != ReportAction::None {
        let went = if request.dry_run {
            "would roll back"
        } else {
            "rolled back"
        };
        report.comment = format!(
            "{went} {name:?} to {}: {}",
            short_id(previous),
            report.comment
        );
    }
    Ok(report)
}
