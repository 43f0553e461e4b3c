//! The three names a redeploy of one container uses, and what is under them: the name
//! itself, `<name>.deploy-new` for a new container that does not serve yet, and
//! `<name>.deploy-old` for the previous container while the new one proves itself.

use std::collections::HashMap;

use bollard::query_parameters::ListContainersOptions;
use bollard::Docker;

use crate::container::adopted;
use crate::container::observe::{observe_summary, observe_vetted, vet, Observed};
use crate::engine::{inspect_container, inspect_image};
use crate::error::{EngineFault, Result, NOTHING_CHANGED};
use crate::spec::record::{provenance, Provenance};
use crate::spec::running::running_config;

/// Suffix of the new container while the old one still holds the name.
pub const TEMPORARY_SUFFIX: &str = ".deploy-new";
/// Suffix of the old container while the new one proves itself under the name.
pub const BACKUP_SUFFIX: &str = ".deploy-old";

/// The names a redeploy of one container uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Primary,
    Temporary,
    Backup,
}

impl Slot {
    pub fn name_for(self, name: &str) -> String {
        match self {
            Slot::Primary => name.to_string(),
            Slot::Temporary => format!("{name}{TEMPORARY_SUFFIX}"),
            Slot::Backup => format!("{name}{BACKUP_SUFFIX}"),
        }
    }
}

/// What exists under the three names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scene {
    pub primary: Option<Observed>,
    pub temporary: Option<Observed>,
    pub backup: Option<Observed>,
}

/// What exists under the three names a redeploy of `name` uses, read at once. A container
/// under the name that carries no record of ours (nor one kept for it when it was adopted) is
/// read with what it runs and its image's config, to tell whether it can be adopted.
pub(crate) async fn read_scene(docker: &Docker, name: &str, untouched: &str) -> Result<Scene> {
    let read = |slot: Slot| async move {
        match inspect_container(docker, &slot.name_for(name), untouched).await? {
            Some(found) => {
                let observed = observe_vetted(docker, &found, untouched).await?;
                Ok(Some((observed, found)))
            }
            None => Ok(None),
        }
    };
    let (primary, temporary, backup) = tokio::join!(
        read(Slot::Primary),
        read(Slot::Temporary),
        read(Slot::Backup)
    );
    let primary = match primary? {
        Some((mut observed, inspect)) => {
            adopted::recall(name, &mut observed);
            if observed.record.spec.is_none() {
                let image = inspect_image(docker, &observed.image_id, untouched).await?;
                let image_config = image
                    .and_then(|i| i.config)
                    .and_then(|c| serde_json::to_value(c).ok());
                observed.running = serde_json::to_value(&inspect)
                    .ok()
                    .map(|v| Box::new(running_config(&v, image_config.as_ref())));
            }
            Some(observed)
        }
        None => None,
    };
    Ok(Scene {
        primary,
        temporary: temporary?.map(|(observed, _)| observed),
        backup: backup?.map(|(observed, _)| observed),
    })
}

/// One read of the Engine for several containers (a group's, under its locks): every container
/// under their names and helper names, in one listing instead of three inspects each. (A
/// filtered image listing for their tags was tried too: it costs the Engine time for every
/// image on the host and every filter, ~70 ms for 20 tags among 170 images.)
pub(crate) async fn read_scenes(docker: &Docker, names: &[&str]) -> Result<HashMap<String, Scene>> {
    // One regex for all names, compiled once by the Engine: `^/(a|b)(\.deploy-(new|old))?$`.
    // Names are `[a-zA-Z0-9][a-zA-Z0-9_.-]*` (validated), so '.' is the one regex character.
    let escaped: Vec<String> = names.iter().map(|name| name.replace('.', r"\.")).collect();
    let pattern = format!(r"^/({})(\.deploy-(new|old))?$", escaped.join("|"));
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("name".to_string(), vec![pattern])])),
            ..Default::default()
        }))
        .await
        .map_err(|e| {
            EngineFault::from(e).into_error("reading the group's containers", NOTHING_CHANGED)
        })?;
    let mut by_name: HashMap<&str, Observed> = HashMap::new();
    for c in &containers {
        let mut observed = observe_summary(c);
        if provenance(c.labels.as_ref(), &observed.image_id) == Provenance::Unproven {
            vet(docker, &mut observed, NOTHING_CHANGED).await?;
        }
        for n in c.names.iter().flatten() {
            by_name.insert(n.trim_start_matches('/'), observed.clone());
        }
    }
    let observed = |name: &str| by_name.get(name).cloned();
    Ok(names
        .iter()
        .map(|name| {
            let mut primary = observed(name);
            if let Some(found) = &mut primary {
                adopted::recall(name, found);
            }
            let scene = Scene {
                primary,
                temporary: observed(&Slot::Temporary.name_for(name)),
                backup: observed(&Slot::Backup.name_for(name)),
            };
            (name.to_string(), scene)
        })
        .collect())
}
