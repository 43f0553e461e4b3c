//! What runs: a container read from the Engine (an inspect, or a listing entry) reduced to
//! what the decision needs, with our record only where the labels are ours.

use bollard::models::{ContainerInspectResponse, ContainerSummary, MountPoint};
use bollard::Docker;
use serde::Serialize;
use serde_json::Value;

use crate::engine::inspect_image;
use crate::error::Result;
use crate::spec::create::VolumeMount;
use crate::spec::record::{provenance, Provenance, Record};

/// What we read from the Engine about a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub id: String,
    pub image_id: String,
    pub status: Status,
    /// What our labels say of it, as far as they are ours (see [`Record::read`]): empty for
    /// a container this tool did not create.
    pub record: Record,
    /// Seconds the Engine waits after the stop signal before killing (`None`: its default, 10).
    pub stop_timeout: Option<i64>,
    /// Its volume mounts, which a replacement takes over where it would get fresh anonymous
    /// ones.
    pub volumes: Vec<VolumeMount>,
    /// Started with `--rm`: the Engine deletes it (and its anonymous volumes) once it stops.
    pub auto_remove: bool,
    /// For a container under the name that carries no record of ours: what it runs with, as
    /// [`crate::spec::running::running_config`] keeps it (read by [`crate::container::scene`]),
    /// to tell whether it can be adopted.
    pub running: Option<Box<Value>>,
}

impl Observed {
    /// Running in the Engine's sense: also paused or being restarted by its restart policy.
    pub fn is_running(&self) -> bool {
        self.status.is_running()
    }
}

/// The Engine's `State.Status` of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    /// Being stopped (newer Engines say so): not running, for the plan.
    Stopping,
    Removing,
    Exited,
    Dead,
    /// A status this version does not know (or none was read).
    #[default]
    Unknown,
}

impl Status {
    pub fn parse(text: &str) -> Status {
        match text {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "stopping" => Status::Stopping,
            "removing" => Status::Removing,
            "exited" => Status::Exited,
            "dead" => Status::Dead,
            _ => Status::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Stopping => "stopping",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
            Status::Unknown => "unknown",
        }
    }

    /// Running, paused by an operator, or being restarted by its restart policy: the Engine's
    /// business, not drift; stopping it is a stop.
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }

    /// Dead, or being removed: it cannot be started again.
    pub fn is_startable(self) -> bool {
        !matches!(self, Status::Dead | Status::Removing)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reduces a container listing entry to what the decision needs, as [`observe`] does for an
/// inspect; the listing has no stop timeout, which only a stop needs (and reads again).
pub(crate) fn observe_summary(summary: &ContainerSummary) -> Observed {
    observed(
        summary.id.clone().unwrap_or_default(),
        summary.image_id.clone().unwrap_or_default(),
        summary
            .state
            .map(|s| Status::parse(s.as_ref()))
            .unwrap_or_default(),
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
            .map(|s| Status::parse(s.as_ref()))
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

fn observed(
    id: String,
    image_id: String,
    status: Status,
    stop_timeout: Option<i64>,
    labels: Option<&std::collections::HashMap<String, String>>,
    mounts: &[MountPoint],
) -> Observed {
    Observed {
        record: Record::read(labels, &image_id),
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
        running: None,
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

/// [`Record::vet_unproven`] with the labels of the image the container runs (none when it is
/// gone).
pub(crate) async fn vet(docker: &Docker, found: &mut Observed, untouched: &str) -> Result<()> {
    let image = inspect_image(docker, &found.image_id, untouched).await?;
    let image_labels = image
        .and_then(|i| i.config)
        .and_then(|c| c.labels)
        .unwrap_or_default();
    found.record.vet_unproven(&image_labels);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_and_print_as_the_engine_says_them() {
        for word in [
            "created",
            "running",
            "paused",
            "restarting",
            "stopping",
            "removing",
            "exited",
            "dead",
        ] {
            let status = Status::parse(word);
            assert_eq!(status.as_str(), word);
            assert_eq!(serde_json::to_value(status).unwrap(), word);
        }
        assert_eq!(Status::parse("frozen"), Status::Unknown);
        assert!(Status::Paused.is_running() && !Status::Stopping.is_running());
        assert!(!Status::Dead.is_startable() && Status::Exited.is_startable());
    }
}
