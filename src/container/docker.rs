//! The Docker side of [`Engine`]: each step of a redeploy as Engine calls, for the containers
//! of one name. New containers are built from the declared spec alone, take over the previous
//! container's anonymous volumes, and record what they were declared with.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, NetworkConnectRequest};
use bollard::query_parameters::{
    CreateContainerOptions, InspectNetworkOptions, RemoveContainerOptions, RemoveVolumeOptions,
    RenameContainerOptions, StopContainerOptions,
};
use bollard::Docker;

use crate::container::converge::{Engine, Fault, Removal};
use crate::container::observe::Observed;
use crate::container::scene::{read_scene, Scene};
use crate::container::verify::{verify, Verification};
use crate::error::{EngineFault, ErrorKind, NOTHING_CHANGED};
use crate::pause::PausePoint;
use crate::reference::short_id;
use crate::secrets::hide_environment;
use crate::spec::create::VolumeMount;
use crate::spec::declared::{clean_path, ContainerSpec};
use crate::spec::forms::MAX_SHUTDOWN_TIMEOUT_S;
use crate::spec::record::{Record, Role};
use crate::steps::Steps;

/// The Docker Engine as [`converge`](crate::container::converge) drives it, for the
/// containers of one name.
pub(crate) struct DockerEngine<'a, 's> {
    docker: &'a Docker,
    /// The name the containers are for.
    name: &'a str,
    spec: &'a ContainerSpec,
    /// The image ID every new container is created from (never the tag: it may move between
    /// the pull and the create).
    image_id: &'a str,
    /// What every new container records; the container it replaces is filled in per create.
    record: Record,
    verification: Verification,
    renew_anonymous_volumes: bool,
    pub(crate) steps: &'a mut Steps<'s>,
    /// Each observed container's own stop timeout: a stop must be outwaited, not cut short.
    stop_timeouts: HashMap<String, Option<i64>>,
    pause: Option<PausePoint>,
    /// The scene read together with the image, handed to the first `scene()` call.
    prefetched: Option<Scene>,
    /// The containers this run started (the Engine reset their restart counts).
    started: HashSet<String>,
    /// With `renew_anonymous_volumes`: the previous container's volumes, removed with it.
    renewed: Vec<String>,
    /// Warnings about volumes left behind on purpose (data is never deleted unasked).
    pub(crate) kept_volumes: Vec<String>,
}

/// What a [`DockerEngine`] creates: the declared container, and what it records.
pub(crate) struct Blueprint<'a> {
    pub name: &'a str,
    pub spec: &'a ContainerSpec,
    pub image_id: &'a str,
    pub record: Record,
    pub verification: Verification,
    pub renew_anonymous_volumes: bool,
}

impl<'a, 's> DockerEngine<'a, 's> {
    /// `prefetched`: the scene already read (with the image, or in a group's listing).
    pub(crate) fn new(
        docker: &'a Docker,
        blueprint: Blueprint<'a>,
        prefetched: Option<Scene>,
        steps: &'a mut Steps<'s>,
    ) -> Self {
        DockerEngine {
            docker,
            name: blueprint.name,
            spec: blueprint.spec,
            image_id: blueprint.image_id,
            record: blueprint.record,
            verification: blueprint.verification,
            renew_anonymous_volumes: blueprint.renew_anonymous_volumes,
            steps,
            stop_timeouts: HashMap::new(),
            pause: PausePoint::from_env(),
            prefetched,
            started: HashSet::new(),
            renewed: Vec::new(),
            kept_volumes: Vec::new(),
        }
    }
}

impl From<bollard::errors::Error> for Fault {
    fn from(err: bollard::errors::Error) -> Self {
        // A call that timed out reached an Engine that is slow, not gone: worth a rollback.
        let fault = EngineFault::from(err);
        Fault {
            unreachable: matches!(fault, EngineFault::Unreachable(_)),
            message: fault.message().to_string(),
        }
    }
}

/// Stops a container, outwaiting its own stop timeout (`grace`, the Engine's 10 s when unset):
/// a slow stop must not be reported as a failure, or as an Engine that cannot be reached,
/// while the Engine goes on stopping it. Already stopped is stopped.
pub(crate) async fn stop_container(
    docker: &Docker,
    id: &str,
    grace: Option<i64>,
) -> std::result::Result<(), bollard::errors::Error> {
    // A container this tool did not create may declare any stop timeout: bounded here.
    let grace = grace.unwrap_or(10).clamp(0, MAX_SHUTDOWN_TIMEOUT_S) as u64;
    let patience = docker.timeout() + Duration::from_secs(grace);
    match docker
        .clone()
        .with_timeout(patience)
        .stop_container(id, None::<StopContainerOptions>)
        .await
    {
        Err(e) if status_of(&e) != Some(304) => Err(e),
        _ => Ok(()),
    }
}

/// Whether a fault is the Engine saying "already so" (304) or "no such container" (404).
pub(crate) fn status_of(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

impl DockerEngine<'_, '_> {
    fn create_body(
        &self,
        as_name: &str,
        previous: Option<&Observed>,
        volumes: &[VolumeMount],
    ) -> std::result::Result<ContainerCreateBody, Fault> {
        let role = match as_name == self.name {
            true => Role::Primary,
            false => Role::Temporary,
        };
        let record = Record {
            previous_image: previous.map(|p| p.image_id.clone()),
            previous_container: previous.map(|p| p.id.clone()),
            ..self.record.clone()
        };
        let labels = record.labels(self.image_id, role);
        self.spec
            .to_create_body(self.image_id, &labels, volumes)
            .map_err(|why| Fault::new(format!("it could not be created: {why}")))
    }

    /// The previous container's volumes the new one takes over: at each path where the new one
    /// would get a fresh anonymous volume (its image's VOLUMEs and the declared `volumes`, less
    /// the paths a declared bind covers), the anonymous volume the previous one has there
    /// (named volumes are as declared). With `renew_anonymous_volumes` none is taken over; they
    /// are remembered, to go with the previous container once it is retired.
    async fn volumes_to_take_over(
        &mut self,
        previous: &Observed,
    ) -> std::result::Result<Vec<VolumeMount>, Fault> {
        if previous.volumes.is_empty() {
            return Ok(Vec::new());
        }
        let image = self
            .docker
            .inspect_image(self.image_id)
            .await
            .map_err(|e| {
                let mut f = Fault::from(e);
                f.message = format!("it could not be created: its image: {}", f.message);
                f
            })?;
        let image_volumes = image.config.and_then(|c| c.volumes).unwrap_or_default();
        let paths = self.spec.anonymous_volume_paths(&image_volumes);
        let mut taken = Vec::new();
        for volume in &previous.volumes {
            let at_anonymous_path = paths.contains(&clean_path(&volume.destination));
            match (looks_anonymous(&volume.name), at_anonymous_path) {
                (true, true) => taken.push(volume.clone()),
                (true, false) => self.kept_volumes.push(format!(
                    "the previous container's anonymous volume {} at {} was kept, unused: the \
                     new container declares no volume there (remove it with `docker volume rm \
                     {}` when its data is not needed)",
                    short_id(&volume.name),
                    volume.destination,
                    volume.name
                )),
                // Named volumes are as declared; one the old container had where the new one
                // gets an empty anonymous volume is most likely a bind left out of the state.
                (false, true) => self.kept_volumes.push(format!(
                    "the previous container's named volume {:?} at {} is not mounted in the \
                     new container, which has an empty anonymous volume there: declare it in \
                     binds ({}:{}) to keep using it (the volume itself was kept)",
                    volume.name, volume.destination, volume.name, volume.destination
                )),
                (false, false) => {}
            }
        }
        if self.renew_anonymous_volumes {
            self.renewed = taken.into_iter().map(|v| v.name).collect();
            return Ok(Vec::new());
        }
        Ok(taken)
    }
}

/// The Engine names anonymous volumes with 64 hex digits.
fn looks_anonymous(name: &str) -> bool {
    name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit())
}

impl Engine for DockerEngine<'_, '_> {
    async fn scene(&mut self) -> std::result::Result<Scene, Fault> {
        let scene = match self.prefetched.take() {
            Some(scene) => scene,
            None => read_scene(self.docker, self.name, NOTHING_CHANGED)
                .await
                .map_err(|e| Fault {
                    unreachable: e.is(ErrorKind::DockerUnavailable),
                    message: e.to_string(),
                })?,
        };
        for c in [&scene.primary, &scene.temporary, &scene.backup]
            .into_iter()
            .flatten()
        {
            self.stop_timeouts.insert(c.id.clone(), c.stop_timeout);
        }
        Ok(scene)
    }

    async fn create(
        &mut self,
        as_name: &str,
        previous: Option<&Observed>,
    ) -> std::result::Result<String, Fault> {
        self.preflight().await?;
        let not_created = |e| {
            let mut f = Fault::from(e);
            f.message = format!("it could not be created: {}", f.message);
            f
        };
        let options = CreateContainerOptions {
            name: Some(as_name.to_string()),
            ..Default::default()
        };
        let volumes = match previous {
            Some(previous) => self.volumes_to_take_over(previous).await?,
            None => Vec::new(),
        };
        let body = self.create_body(as_name, previous, &volumes)?;
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(not_created)?;
        for (network, attachment) in self.spec.extra_networks() {
            let connect = NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(attachment.endpoint()),
            };
            if let Err(e) = self.docker.connect_network(&network, connect).await {
                let _ = self.remove(&created.id, Removal::Discard).await;
                return Err(Fault::from(e));
            }
        }
        self.stop_timeouts
            .insert(created.id.clone(), self.spec.shutdown_timeout());
        Ok(created.id)
    }

    async fn preflight(&mut self) -> std::result::Result<(), Fault> {
        // Engine 20.10 accepts a missing network at create and fails only at start, after the
        // old container has stopped: look the networks up now, while it still serves.
        for network in self.spec.network_names() {
            self.docker
                .inspect_network(&network, None::<InspectNetworkOptions>)
                .await
                .map_err(|e| {
                    let mut f = Fault::from(e);
                    f.message = format!("it could not be created: {}", f.message);
                    f
                })?;
        }
        Ok(())
    }

    async fn stop(&mut self, id: &str) -> std::result::Result<(), Fault> {
        // The client must outwait the Engine's own stop timeout, or a slow stop would be
        // reported as a failure while the Engine goes on stopping the container.
        let grace = self.stop_timeouts.get(id).copied().flatten();
        stop_container(self.docker, id, grace)
            .await
            .map_err(Fault::from)
    }

    async fn start(&mut self, id: &str) -> std::result::Result<(), Fault> {
        match self.docker.start_container(id, None).await {
            Err(e) if status_of(&e) != Some(304) => {
                let mut f = Fault::from(e);
                f.message = format!("it could not be started: {}", f.message);
                Err(f)
            }
            // 304: it was running already, and its restart count was not reset.
            Err(_) => Ok(()),
            Ok(()) => {
                self.started.insert(id.to_string());
                Ok(())
            }
        }
    }

    async fn verify(&mut self, id: &str) -> std::result::Result<(), Fault> {
        let started_by_us = self.started.contains(id);
        verify(self.docker, id, self.verification, started_by_us)
            .await
            .map_err(|mut fault| {
                // The container's last output may print its configuration.
                fault.message = hide_environment(&fault.message, &self.spec.environment());
                fault
            })
    }

    async fn rename(&mut self, id: &str, to: &str) -> std::result::Result<(), Fault> {
        let options = RenameContainerOptions {
            name: to.to_string(),
        };
        self.docker
            .rename_container(id, options)
            .await
            .map_err(Fault::from)
    }

    async fn remove(&mut self, id: &str, how: Removal) -> std::result::Result<(), Fault> {
        // A discarded container's anonymous volumes were made with it and hold nothing proven;
        // those it took over were mounted by name, which the Engine never removes with it. A
        // retired one's volumes live on in the new container; renewed ones go below, and only
        // those (one at a path the new container no longer declares is kept, with a warning).
        let options = RemoveContainerOptions {
            force: true,
            v: how == Removal::Discard,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Err(e) if status_of(&e) != Some(404) => return Err(Fault::from(e)),
            _ => {}
        }
        if how == Removal::Retire {
            // Renewed: the new container has fresh ones at the same paths.
            for volume in std::mem::take(&mut self.renewed) {
                if let Err(e) = self
                    .docker
                    .remove_volume(&volume, None::<RemoveVolumeOptions>)
                    .await
                {
                    if status_of(&e) != Some(404) {
                        self.kept_volumes.push(format!(
                            "renew_anonymous_volumes: the previous volume {} was kept ({})",
                            short_id(&volume),
                            Fault::from(e).message
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn note(&mut self, step: &'static str, started: Instant, detail: String) {
        // The test hook pauses after a step that was done, never after a failed one.
        let done = !detail.starts_with("failed: ");
        self.steps.record(step, started, detail);
        if let (Some(pause), true) = (&mut self.pause, done) {
            pause.after(step);
        }
    }
}
