//! saltext-docker-deploy core: keep a container on the newest image of a tag, safely.
//!
//! The flow, one module per step: [`reference`] parses the image, [`spec`] the declared
//! configuration; [`pull`] moves the local tag; [`diff`] compares what runs with the tag;
//! [`check`] asks the registry without pulling; [`plan`] decides what to do (pure);
//! [`converge`] turns the decision into steps that survive a kill at any point, and undoes them
//! on failure (pure, over an engine trait); [`redeploy`] runs them on the Docker Engine,
//! health-gated, under a host [`lock`]. [`engine`] is the edge to the Docker Engine.
//!
//! The functions at this level are the blocking entry points the Python binding wraps: each
//! parses its input before any Docker call, then runs on its own runtime (see
//! [`engine::block_on`] for why).

pub mod check;
pub mod converge;
pub mod diff;
pub mod engine;
pub mod error;
pub mod lock;
pub mod options;
pub mod plan;
pub mod pull;
pub mod redeploy;
pub mod reference;
pub mod registry;
pub mod spec;

#[cfg(feature = "python")]
mod python;

pub use check::CheckReport;
pub use converge::Strategy;
pub use diff::DiffReport;
pub use engine::{no_log, LogSink, Step};
pub use error::{Error, Result};
pub use options::Options;
pub use pull::{Auth, PullPolicy, PullReport};
pub use redeploy::{
    RedeployReport, RedeployRequest, RemoveReport, ReplicasReport, RollbackOptions, Verification,
};
pub use reference::ImageRef;
pub use spec::ContainerSpec;

use engine::{block_on, connect, Steps};

/// Pulls `image` and reports whether the local tag's image ID moved; gives up after `timeout`.
pub fn pull_image(
    image: &str,
    auth: Option<&Auth>,
    timeout: std::time::Duration,
    log: LogSink,
) -> Result<PullReport> {
    let image = ImageRef::parse(image)?;
    let context = format!("image {image}");
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(image.to_string(), log);
        pull::pull(&docker, &image, auth, timeout, &mut steps).await
    })
}

/// Compares the container `name` with the local tag of `image`; read only.
pub fn image_diff(name: &str, image: &str) -> Result<DiffReport> {
    redeploy::validate_container_name(name)?;
    let image = ImageRef::parse(image)?;
    let context = format!("container {name:?}");
    block_on(&context, async {
        let docker = connect(&context).await?;
        diff::image_diff(&docker, name, &image).await
    })
}

/// Brings the container `request.name` to the declared image and spec (see [`redeploy`]).
pub fn redeploy_container(request: &RedeployRequest, log: LogSink) -> Result<RedeployReport> {
    let context = format!("container {:?}", request.name);
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(request.name.clone(), log);
        redeploy::redeploy(&docker, request, &mut steps).await
    })
}

/// Keeps `request.name-1` .. `-count` on the declared image, one replica at a time.
pub fn redeploy_replicas(
    request: &RedeployRequest,
    count: u32,
    log: LogSink,
) -> Result<ReplicasReport> {
    let context = format!("container {:?}", request.name);
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(request.name.clone(), log);
        redeploy::redeploy_replicas(&docker, request, count, &mut steps).await
    })
}

/// Brings back the image that ran under `name` before its last redeploy.
pub fn rollback_container(
    name: &str,
    options: RollbackOptions,
    log: LogSink,
) -> Result<RedeployReport> {
    redeploy::validate_container_name(name)?;
    let context = format!("container {name:?}");
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(name, log);
        redeploy::rollback(&docker, name, options, &mut steps).await
    })
}

/// One container of a group: its report, or the error that stopped it.
#[derive(Debug, serde::Serialize)]
pub struct GroupEntry {
    pub name: String,
    pub report: Option<RedeployReport>,
    /// The exception name (`RolledBack`, `ImageNotFound`, ...) when it failed.
    pub error: Option<&'static str>,
    pub message: Option<String>,
}

/// Redeploys several containers over one Engine connection, up to `concurrency` at a time;
/// each is verified and rolled back on its own, and one failure does not stop the others.
/// Results come back in the order of `requests`.
pub fn redeploy_group(
    requests: &[RedeployRequest],
    concurrency: usize,
    log: LogSink,
) -> Result<Vec<GroupEntry>> {
    let mut names = std::collections::HashSet::new();
    for request in requests {
        request.validate()?;
        // Twice in one run would be replaced twice, by two redeploys racing for one name.
        if !names.insert(request.name.as_str()) {
            return Err(Error::InvalidSpec(format!(
                "containers: container {:?} is declared twice; nothing was changed",
                request.name
            )));
        }
    }
    block_on("group", async {
        let docker = connect("group").await?;
        let results = redeploy::redeploy_group(&docker, requests, concurrency, log).await;
        Ok(requests
            .iter()
            .zip(results)
            .map(|(request, result)| match result {
                Ok(report) => GroupEntry {
                    name: request.name.clone(),
                    report: Some(report),
                    error: None,
                    message: None,
                },
                Err(err) => GroupEntry {
                    name: request.name.clone(),
                    report: None,
                    error: Some(err.kind()),
                    message: Some(err.to_string()),
                },
            })
            .collect())
    })
}

/// Asks the registry for the tag's digest, without pulling: would a pull change the local tag?
pub fn check_image(image: &str, auth: Option<&Auth>, log: LogSink) -> Result<CheckReport> {
    let image = ImageRef::parse(image)?;
    let context = format!("image {image}");
    block_on(&context, async {
        let docker = connect(&context).await?;
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
    let context = format!("container {:?}", request.name);
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(request.name.clone(), log);
        redeploy::preview(&docker, request, assume_image_id, &mut steps).await
    })
}

/// What [`redeploy_replicas`] would do, read only.
pub fn preview_replicas(
    request: &RedeployRequest,
    count: u32,
    assume_image_id: Option<&str>,
    log: LogSink,
) -> Result<ReplicasReport> {
    let context = format!("container {:?}", request.name);
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(request.name.clone(), log);
        redeploy::preview_replicas(&docker, request, count, assume_image_id, &mut steps).await
    })
}

/// Stops and removes the container `name` (and what an interrupted redeploy of it left), if
/// there is one, under its lock.
pub fn remove_container(
    name: &str,
    lock_timeout: std::time::Duration,
    log: LogSink,
) -> Result<RemoveReport> {
    redeploy::validate_container_name(name)?;
    let context = format!("container {name:?}");
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(name, log);
        redeploy::remove(&docker, name, lock_timeout, None, &mut steps).await
    })
}
