//! saltext-docker-deploy core: keep a container on the newest image of a tag, safely.
//!
//! The flow, as the folders read: what is asked ([`reference`] parses the image, [`spec`] the
//! declared configuration, [`options`] how it runs); the [`image`] side (is there a new image,
//! pull it, prune old ones); the [`container`] side (observe what runs, plan what to do, the
//! steps that survive a kill at any point and their undoing, verify the new container); and the
//! operations that join them in [`deploy`] (a single container, a group, replicas, rollback,
//! remove), under a host [`lock`]. [`engine`] is the edge to the Docker Engine.
//!
//! The functions at this level are the blocking entry points the Python binding wraps: each
//! parses its input before any Docker call, then runs on its own runtime (see
//! [`engine::block_on`] for why).

pub mod container;
pub mod deploy;
pub mod engine;
pub mod error;
pub mod image;
mod input;
pub mod lock;
pub mod options;
mod pause;
pub mod reference;
mod secrets;
pub mod spec;
pub mod steps;

#[cfg(feature = "python")]
mod python;

pub use container::diff::DiffReport;
pub use container::verify::Verification;
pub use deploy::group::GroupEntry;
pub use deploy::remove::RemoveReport;
pub use deploy::replicas::ReplicasReport;
pub use deploy::report::{RedeployReport, ReportAction};
pub use deploy::request::RedeployRequest;
pub use deploy::update::Managed;
pub use error::{Error, ErrorKind, Result};
pub use image::auth::Auth;
pub use image::check::{CheckReport, Resolved};
pub use image::pull::PullReport;
pub use image::refresh::{Pinned, PullPolicy};
pub use options::Options;
pub use options::Strategy;
pub use reference::ImageRef;
pub use spec::ContainerSpec;
pub use steps::{no_log, LogSink, Step};

use engine::{block_on, connect};
use steps::Steps;

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
        image::pull::pull(&docker, &image, auth, timeout, &mut steps).await
    })
}

/// Compares the container `name` with the local tag of `image`; read only.
pub fn image_diff(name: &str, image: &str) -> Result<DiffReport> {
    deploy::request::validate_container_name(name)?;
    let image = ImageRef::parse(image)?;
    let context = format!("container {name:?}");
    block_on(&context, async {
        let docker = connect(&context).await?;
        container::diff::image_diff(&docker, name, &image).await
    })
}

/// Brings the container `request.name` to the declared image and spec (see
/// [`deploy::single::redeploy`]).
pub fn redeploy_container(request: &RedeployRequest, log: LogSink) -> Result<RedeployReport> {
    let context = format!("container {:?}", request.name);
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(request.name.clone(), log);
        deploy::single::redeploy(&docker, request, &mut steps).await
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
        deploy::replicas::redeploy_replicas(&docker, request, count, &mut steps).await
    })
}

/// Brings back the image that ran under `name` before its last redeploy.
pub fn rollback_container(name: &str, options: Options, log: LogSink) -> Result<RedeployReport> {
    deploy::request::validate_container_name(name)?;
    let context = format!("container {name:?}");
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(name, log);
        deploy::rollback::rollback(&docker, name, options, &mut steps).await
    })
}

/// Redeploys several containers over one Engine connection, up to `concurrency` at a time;
/// each is verified and rolled back on its own, and one failure does not stop the others.
/// Results come back in the order of `requests`.
pub fn redeploy_group(
    requests: &[RedeployRequest],
    concurrency: usize,
    log: LogSink,
) -> Result<Vec<GroupEntry>> {
    deploy::group::validate_group(requests)?;
    block_on("group", async {
        let docker = connect("group").await?;
        Ok(deploy::group::redeploy_group(&docker, requests, concurrency, log).await)
    })
}

/// Every container this tool keeps on the Engine (see [`deploy::update::managed`]).
pub fn managed_containers() -> Result<Vec<Managed>> {
    block_on("containers", async {
        let docker = connect("containers").await?;
        deploy::update::managed(&docker).await
    })
}

/// Redeploys every container that follows `image`, from its record (see
/// [`deploy::update::update`]); `given` are the caller's options over the recorded ones.
pub fn update_containers(
    image: &str,
    given: &serde_json::Map<String, serde_json::Value>,
    scope: &deploy::update::Scope,
    log: LogSink,
) -> Result<Vec<GroupEntry>> {
    let image = ImageRef::parse(image)?;
    let context = format!("image {image}");
    block_on(&context, async {
        let docker = connect(&context).await?;
        deploy::update::update(&docker, &image, given, scope, log).await
    })
}

/// Asks the registry for the tag's digest, without pulling: would a pull change the local tag?
pub fn check_image(image: &str, auth: Option<&Auth>, log: LogSink) -> Result<CheckReport> {
    let image = ImageRef::parse(image)?;
    let context = format!("image {image}");
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(image.to_string(), log);
        image::check::check(&docker, &image, auth, &mut steps).await
    })
}

/// The digest the registry holds for `image`'s tag, nothing pulled: asked directly, and
/// through the local Engine only when the registry cannot be asked directly (a salt-master
/// without an Engine needs none).
pub fn resolve_digest(image: &str, auth: Option<&Auth>) -> Result<Resolved> {
    let image = ImageRef::parse(image)?;
    let context = format!("image {image}");
    block_on(&context, async {
        let remote = match image::check::direct_digest(&image, auth).await? {
            Ok(remote) => remote,
            Err(why) => {
                let docker = connect(&context).await?;
                image::check::engine_digest(&docker, &image, auth, why).await?
            }
        };
        Ok(Resolved::new(&image, remote))
    })
}

/// Stops and removes the container `name` (and what an interrupted redeploy of it left), if
/// there is one, under its lock; with `dry_run`, says what would be removed.
pub fn remove_container(
    name: &str,
    lock_timeout: std::time::Duration,
    dry_run: bool,
    log: LogSink,
) -> Result<RemoveReport> {
    deploy::request::validate_container_name(name)?;
    let context = format!("container {name:?}");
    block_on(&context, async {
        let docker = connect(&context).await?;
        let mut steps = Steps::new(name, log);
        deploy::remove::remove(&docker, name, lock_timeout, None, dry_run, &mut steps).await
    })
}
