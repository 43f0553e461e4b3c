//! Read-only comparison of a container with the local tag: never pulls, creates or changes.

use bollard::models::{ContainerInspectResponse, ContainerSummary};
use bollard::Docker;
use serde::Serialize;

use crate::engine::{inspect_container, inspect_image};
use crate::error::Result;
use crate::plan::Observed;
use crate::reference::ImageRef;
use crate::spec::{LABEL_DIGEST, LABEL_NAME, LABEL_PREVIOUS_CONTAINER, LABEL_SPEC};

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub name: String,
    pub image: String,
    /// A container exists under the name.
    pub exists: bool,
    /// Its state (`running`, `exited`, ...), when it exists.
    pub status: Option<String>,
    pub container_id: Option<String>,
    pub container_image_id: Option<String>,
    /// The local tag's image ID; `None` when the tag is not on this host.
    pub image_id: Option<String>,
    /// True when the container is missing or runs another image ID than the local tag.
    pub differs: bool,
}

const UNTOUCHED: &str = "nothing was changed";

/// Reduces a container listing entry to what the decision needs, as [`observe`] does for an
/// inspect; the listing has no stop timeout, which only a stop needs (and reads again).
pub(crate) fn observe_summary(summary: &ContainerSummary) -> Observed {
    let label = |key: &str| summary.labels.as_ref().and_then(|l| l.get(key)).cloned();
    Observed {
        id: summary.id.clone().unwrap_or_default(),
        image_id: summary.image_id.clone().unwrap_or_default(),
        status: summary
            .state
            .map(|s| s.to_string())
            .unwrap_or_default(),
        declared_spec: label(LABEL_SPEC),
        stop_timeout: None,
        owner: label(LABEL_NAME),
        previous_container: label(LABEL_PREVIOUS_CONTAINER),
        digest: label(LABEL_DIGEST).filter(|d| !d.is_empty()),
    }
}

/// Reduces an inspect to what the decision needs.
pub(crate) fn observe(inspect: &ContainerInspectResponse) -> Observed {
    let config_labels = inspect.config.as_ref().and_then(|c| c.labels.as_ref());
    Observed {
        id: inspect.id.clone().unwrap_or_default(),
        image_id: inspect.image.clone().unwrap_or_default(),
        status: inspect
            .state
            .as_ref()
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        declared_spec: config_labels.and_then(|l| l.get(LABEL_SPEC)).cloned(),
        stop_timeout: inspect.config.as_ref().and_then(|c| c.stop_timeout),
        owner: config_labels.and_then(|l| l.get(LABEL_NAME)).cloned(),
        previous_container: config_labels
            .and_then(|l| l.get(LABEL_PREVIOUS_CONTAINER))
            .cloned(),
        digest: config_labels
            .and_then(|l| l.get(LABEL_DIGEST))
            .filter(|d| !d.is_empty())
            .cloned(),
    }
}

pub async fn image_diff(docker: &Docker, name: &str, image: &ImageRef) -> Result<DiffReport> {
    // Independent reads: ask for both at once.
    let local_name = image.local_name();
    let (container, local_image) = tokio::join!(
        inspect_container(docker, name, UNTOUCHED),
        inspect_image(docker, &local_name, UNTOUCHED),
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
        status: observed.as_ref().map(|c| c.status.clone()),
        container_id: observed.as_ref().map(|c| c.id.clone()),
        container_image_id: observed.map(|c| c.image_id),
        image_id,
        differs,
    })
}
