//! Read-only comparison of a container with the local tag: never pulls, creates or changes.

use bollard::Docker;
use serde::Serialize;

use crate::container::observe::{observe, Status};
use crate::engine::{inspect_container, inspect_image};
use crate::error::{Result, NOTHING_CHANGED};
use crate::reference::ImageRef;

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub name: String,
    pub image: String,
    /// A container exists under the name.
    pub exists: bool,
    /// Its state (`running`, `exited`, ...), when it exists.
    pub status: Option<Status>,
    pub container_id: Option<String>,
    pub container_image_id: Option<String>,
    /// The local tag's image ID; `None` when the tag is not on this host.
    pub image_id: Option<String>,
    /// True when the container is missing or runs another image ID than the local tag.
    pub differs: bool,
}

/// What runs under `name`, and whether it is the local tag's image.
pub async fn image_diff(docker: &Docker, name: &str, image: &ImageRef) -> Result<DiffReport> {
    // Independent reads: ask for both at once.
    let local_name = image.local_name();
    let (container, local_image) = tokio::join!(
        inspect_container(docker, name, NOTHING_CHANGED),
        inspect_image(docker, &local_name, NOTHING_CHANGED),
    );
    let observed = container?.as_ref().map(observe);
    let image_id = local_image?.and_then(|i| i.id);
    let differs = match (&observed, &image_id) {
        (Some(c), Some(tag)) => &c.image_id != tag,
        _ => true,
    };
    Ok(DiffReport {
        name: name.to_string(),
        image: image.to_string(),
        exists: observed.is_some(),
        status: observed.as_ref().map(|c| c.status),
        container_id: observed.as_ref().map(|c| c.id.clone()),
        container_image_id: observed.map(|c| c.image_id),
        image_id,
        differs,
    })
}
