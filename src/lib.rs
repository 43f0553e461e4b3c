//! saltext-docker-deploy core: keep a container on the newest image of a tag, safely.
//!
//! The flow, one module per step: [`reference`] parses the image, [`spec`] the declared
//! configuration; [`pull`] moves the local tag; [`diff`] compares what runs with the tag;
//! [`check`] asks the registry without pulling; [`plan`] decides (pure); [`redeploy`] applies the decision in an order that never loses the
//! running container. [`engine`] is the edge to the Docker Engine.
//!
//! The functions at this level are the blocking entry points the Python binding wraps: each
//! parses its input before any Docker call, then runs on its own runtime (see
//! [`engine::block_on`] for why).

pub mod check;
pub mod diff;
pub mod engine;
pub mod error;
pub mod plan;
pub mod pull;
pub mod redeploy;
pub mod reference;
pub mod spec;

#[cfg(feature = "python")]
mod python;

pub use check::CheckReport;
pub use diff::DiffReport;
pub use engine::{no_log, LogSink, Step};
pub use error::{Error, Result};
pub use pull::{Auth, PullReport};
pub use redeploy::{RedeployReport, RedeployRequest, RemoveReport};
pub use reference::ImageRef;
pub use spec::ContainerSpec;

use engine::{block_on, connect, Steps};

/// Pulls `image` and reports whether the local tag's image ID moved.
pub fn pull_image(image: &str, auth: Option<&Auth>, log: LogSink) -> Result<PullReport> {
    let image = ImageRef::parse(image)?;
    block_on(async {
        let docker = connect(&format!("image {image}")).await?;
        let mut steps = Steps::new(image.to_string(), log);
        pull::pull(&docker, &image, auth, &mut steps).await
    })
}

/// Compares the container `name` with the local tag of `image`; read only.
pub fn image_diff(name: &str, image: &str) -> Result<DiffReport> {
    redeploy::validate_container_name(name)?;
    let image = ImageRef::parse(image)?;
    block_on(async {
        let docker = connect(&format!("container {name:?}")).await?;
        diff::image_diff(&docker, name, &image).await
    })
}

/// Brings the container `request.name` to the declared image and spec (see [`redeploy`]).
pub fn redeploy_container(request: &RedeployRequest, log: LogSink) -> Result<RedeployReport> {
    block_on(async {
        let docker = connect(&format!("container {:?}", request.name)).await?;
        let mut steps = Steps::new(request.name.clone(), log);
        redeploy::redeploy(&docker, request, &mut steps).await
    })
}

/// Asks the registry for the tag's digest, without pulling: would a pull change the local tag?
pub fn check_image(image: &str, auth: Option<&Auth>, log: LogSink) -> Result<CheckReport> {
    let image = ImageRef::parse(image)?;
    block_on(async {
        let docker = connect(&format!("image {image}")).await?;
        let mut steps = Steps::new(image.to_string(), log);
        check::check(&docker, &image, auth, &mut steps).await
    })
}

/// What [`redeploy_container`] would do, read only (see [`redeploy::preview`]).
pub fn preview_redeploy(
    request: &RedeployRequest,
    assume_image_id: Option<&str>,
    log: LogSink,
) -> Result<RedeployReport> {
    block_on(async {
        let docker = connect(&format!("container {:?}", request.name)).await?;
        let mut steps = Steps::new(request.name.clone(), log);
        redeploy::preview(&docker, request, assume_image_id, &mut steps).await
    })
}

/// Stops and removes the container `name`, if there is one.
pub fn remove_container(name: &str, log: LogSink) -> Result<RemoveReport> {
    redeploy::validate_container_name(name)?;
    block_on(async {
        let docker = connect(&format!("container {name:?}")).await?;
        let mut steps = Steps::new(name, log);
        redeploy::remove(&docker, name, &mut steps).await
    })
}
