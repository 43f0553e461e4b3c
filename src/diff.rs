//! Read-only comparison of a container with the local tag: never pulls, creates or changes.

use std::collections::HashMap;

use bollard::models::{ContainerInspectResponse, ContainerSummary, MountPoint};
use bollard::Docker;
use serde::Serialize;

use crate::engine::{inspect_container, inspect_image};
use crate::error::Result;
use crate::plan::{Observed, VolumeMount};
use crate::reference::ImageRef;
use crate::spec::{
    LABEL_DIGEST, LABEL_IMAGE, LABEL_IMAGE_ID, LABEL_NAME, LABEL_PREFIX, LABEL_PREVIOUS_CONTAINER,
    LABEL_PREVIOUS_IMAGE, LABEL_REPLICA_OF, LABEL_SPEC,
};

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
    observed(
        summary.id.clone().unwrap_or_default(),
        summary.image_id.clone().unwrap_or_default(),
        summary.state.map(|s| s.to_string()).unwrap_or_default(),
        None,
        summary.labels.as_ref(),
        summary.mounts.as_deref().unwrap_or_default(),
    )
}

/// Reduces an inspect to what the decision needs.
pub(crate) fn observe(inspect: &ContainerInspectResponse) -> Observed {
    let config = inspect.config.as_ref();
    let auto_remove = inspect
        .host_config
        .as_ref()
        .and_then(|h| h.auto_remove)
        .unwrap_or(false);
    let found = observed(
        inspect.id.clone().unwrap_or_default(),
        inspect.image.clone().unwrap_or_default(),
        inspect
            .state
            .as_ref()
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        config.and_then(|c| c.stop_timeout),
        config.and_then(|c| c.labels.as_ref()),
        inspect.mounts.as_deref().unwrap_or_default(),
    );
    Observed {
        auto_remove,
        ..found
    }
}

/// Where a container's labels under our prefix came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provenance {
    /// None of ours.
    None,
    /// Written by this tool: they record the very image the container runs.
    Ours,
    /// Inherited from its image (a `docker commit` of one of our containers, or an image built
    /// with our labels): they record another image, so they say nothing of this container.
    Inherited,
    /// Written by a version before the image record, or inherited: [`vet_unproven`] keeps
    /// those its image does not carry too.
    Unproven,
}

/// Whose our labels on a container running `image_id` are.
pub(crate) fn provenance(labels: Option<&HashMap<String, String>>, image_id: &str) -> Provenance {
    let Some(labels) = labels else {
        return Provenance::None;
    };
    match labels.get(LABEL_IMAGE_ID) {
        Some(recorded) if recorded == image_id => Provenance::Ours,
        Some(_) => Provenance::Inherited,
        None if labels.keys().any(|k| k.starts_with(LABEL_PREFIX)) => Provenance::Unproven,
        None => Provenance::None,
    }
}

fn observed(
    id: String,
    image_id: String,
    status: String,
    stop_timeout: Option<i64>,
    labels: Option<&HashMap<String, String>>,
    mounts: &[MountPoint],
) -> Observed {
    let trusted = match provenance(labels, &image_id) {
        Provenance::Ours | Provenance::Unproven => labels,
        Provenance::None | Provenance::Inherited => None,
    };
    // Empty is "none": every label of ours is always written, so that none is inherited.
    let label = |key: &str| {
        trusted
            .and_then(|l| l.get(key))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    Observed {
        declared_spec: label(LABEL_SPEC),
        owner: label(LABEL_NAME),
        previous_container: label(LABEL_PREVIOUS_CONTAINER),
        previous_image: label(LABEL_PREVIOUS_IMAGE),
        image_ref: label(LABEL_IMAGE),
        replica_of: label(LABEL_REPLICA_OF),
        digest: label(LABEL_DIGEST),
        volumes: mounts
            .iter()
            .filter(|m| m.typ.as_deref() == Some("volume"))
            .filter_map(|m| {
                Some(VolumeMount {
                    name: m.name.clone()?,
                    destination: m.destination.clone()?,
                })
            })
            .collect(),
        id,
        image_id,
        status,
        stop_timeout,
        // Only an inspect tells (see `observe`); a listing leaves it unknown, which only the
        // no-op reads.
        auto_remove: false,
    }
}

/// For a container whose labels are [`Provenance::Unproven`]: forgets each of our labels that
/// its image carries with the same value (the image's, not ours). `image_labels` are the
/// labels of the image it runs.
pub(crate) fn vet_unproven(observed: &mut Observed, image_labels: &HashMap<String, String>) {
    let inherited = |key: &str, value: &Option<String>| {
        value.is_some() && image_labels.get(key) == value.as_ref()
    };
    let fields: [(&str, &mut Option<String>); 7] = [
        (LABEL_SPEC, &mut observed.declared_spec),
        (LABEL_NAME, &mut observed.owner),
        (LABEL_PREVIOUS_CONTAINER, &mut observed.previous_container),
        (LABEL_PREVIOUS_IMAGE, &mut observed.previous_image),
        (LABEL_IMAGE, &mut observed.image_ref),
        (LABEL_REPLICA_OF, &mut observed.replica_of),
        (LABEL_DIGEST, &mut observed.digest),
    ];
    for (key, value) in fields {
        if inherited(key, value) {
            *value = None;
        }
    }
}

/// Observes an inspected container, reading its image's labels too when its own labels of
/// ours are unproven (see [`Provenance`]): only containers made by older versions, or from an
/// image carrying our labels, cost that second read.
pub(crate) async fn observe_vetted(
    docker: &Docker,
    inspect: &ContainerInspectResponse,
    untouched: &str,
) -> Result<Observed> {
    let mut found = observe(inspect);
    let labels = inspect.config.as_ref().and_then(|c| c.labels.as_ref());
    if provenance(labels, &found.image_id) == Provenance::Unproven {
        vet(docker, &mut found, untouched).await?;
    }
    Ok(found)
}

/// [`vet_unproven`] with the labels of the image the container runs (none when it is gone).
pub(crate) async fn vet(docker: &Docker, found: &mut Observed, untouched: &str) -> Result<()> {
    let image = inspect_image(docker, &found.image_id, untouched).await?;
    let image_labels = image
        .and_then(|i| i.config)
        .and_then(|c| c.labels)
        .unwrap_or_default();
    vet_unproven(found, &image_labels);
    Ok(())
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
