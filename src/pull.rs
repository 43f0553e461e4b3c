//! Pull a tag and say, by image ID, whether the local tag moved.
//!
//! The change is decided by comparing the tag's image ID before and after, never by whether
//! layers were downloaded: a tag that moved to layers already on disk is a change (the mistake
//! of salt#44334).

use std::time::{Duration, Instant};

use bollard::auth::DockerCredentials;
use bollard::query_parameters::CreateImageOptions;
use bollard::Docker;
use futures_util::StreamExt;
use serde::Serialize;

use crate::check::CheckReport;
use crate::engine::{inspect_image, Steps};
use crate::error::{EngineFault, Error, Result};
use crate::plan::short_id;
use crate::reference::ImageRef;

/// Registry credentials. Never logged, never returned.
#[derive(Clone, Default)]
pub struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub(crate) fn credentials(&self, image: &ImageRef) -> DockerCredentials {
        DockerCredentials {
            username: self.username.clone(),
            password: self.password.clone(),
            identitytoken: self.identity_token.clone(),
            serveraddress: Some(image.registry.clone()),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    /// The reference as parsed (`127.0.0.1:5000/web:prod`).
    pub image: String,
    /// The tag's image ID after the pull.
    pub id: String,
    /// The tag's image ID before the pull; `None` when the tag was absent locally.
    pub previous_id: Option<String>,
    /// True exactly when the local tag's image ID moved.
    pub changed: bool,
    /// The registry's manifest digest of what was pulled (`repo@sha256:...`).
    pub digest: Option<String>,
}

impl PullReport {
    /// The report of a pull the registry's digest made unneeded: the local tag is current.
    /// `None` when the check found the tag missing or behind.
    pub(crate) fn confirmed(image: &ImageRef, checked: CheckReport) -> Option<PullReport> {
        let id = checked.local_id.filter(|_| !checked.update_available)?;
        Some(PullReport {
            image: checked.image,
            previous_id: Some(id.clone()),
            id,
            changed: false,
            digest: Some(format!("{}@{}", image.repository(), checked.remote_digest)),
        })
    }
}

pub(crate) const UNTOUCHED: &str = "the local tag and all containers were left as they were";

/// Pulls `image` and reports whether the local tag's image ID moved. A pull that has not ended
/// after `timeout` is given up (a registry that answers a byte a second never ends one).
pub async fn pull(
    docker: &Docker,
    image: &ImageRef,
    auth: Option<&Auth>,
    timeout: Duration,
    steps: &mut Steps<'_>,
) -> Result<PullReport> {
    pull_expecting(docker, image, auth, timeout, None, steps).await
}

/// [`pull`] after a check: of the digests the image is known under in the repository (it may
/// have been pushed more than once), the report gives the registry's, `expected`.
async fn pull_expecting(
    docker: &Docker,
    image: &ImageRef,
    auth: Option<&Auth>,
    timeout: Duration,
    expected: Option<&str>,
    steps: &mut Steps<'_>,
) -> Result<PullReport> {
    if expected.is_none() {
        // No check asked the registry first: it must not get credentials it would have the
        // Engine send where they must not go.
        crate::check::refuse_credentials_at_risk(image, auth).await?;
    }
    let local = image.local_name();
    let previous_id = inspect_image(docker, &local, UNTOUCHED)
        .await?
        .and_then(|i| i.id);

    let started = Instant::now();
    let options = CreateImageOptions {
        from_image: Some(image.repository()),
        tag: Some(image.pull_tag()),
        ..Default::default()
    };
    // The Engine answers a pull only once the registry answered it: the pull's own deadline
    // bounds that wait too, not the usual per-call one.
    let pulling = docker.clone().with_timeout(timeout);
    let mut progress =
        pulling.create_image(Some(options), None, auth.map(|a| a.credentials(image)));
    let pulled = tokio::time::timeout(timeout, async {
        while let Some(event) = progress.next().await {
            event.map_err(|e| pull_error(image, EngineFault::from(e)))?;
        }
        Ok(())
    });
    // Dropping the stream closes the request, which makes the Engine cancel the pull.
    match pulled.await {
        Ok(done) => done?,
        Err(_) => {
            return Err(Error::Registry(format!(
                "image {image}: the pull from registry {} did not finish within {:.0} s \
                 (pull_timeout); {UNTOUCHED}",
                image.registry,
                timeout.as_secs_f64()
            )))
        }
    }

    let pulled = inspect_image(docker, &local, UNTOUCHED)
        .await?
        .ok_or_else(|| {
            Error::ImageNotFound(format!(
                "image {image}: the pull finished but the tag is not on this host; {UNTOUCHED}"
            ))
        })?;
    let id = pulled.id.unwrap_or_default();
    let repository = image.repository();
    let digests: Vec<String> = pulled
        .repo_digests
        .unwrap_or_default()
        .into_iter()
        .filter(|d| {
            d.split_once('@')
                .is_some_and(|(repo, _)| repo == repository)
        })
        .collect();
    let digest = expected
        .and_then(|e| digests.iter().find(|d| d.ends_with(&format!("@{e}"))))
        .or(digests.first())
        .cloned();
    let changed = previous_id.as_deref() != Some(id.as_str());
    let detail = match (&previous_id, changed) {
        (None, _) => format!("{image} is now {} (new on this host)", short_id(&id)),
        (Some(old), true) => format!("{image} moved {} -> {}", short_id(old), short_id(&id)),
        (Some(_), false) => format!("{image} unchanged at {}", short_id(&id)),
    };
    steps.record("pull", started, detail);
    Ok(PullReport {
        image: image.to_string(),
        id,
        previous_id,
        changed,
        digest,
    })
}

/// When to pull the tag before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull every time (the Engine still downloads only missing layers).
    Always,
    /// Ask the registry for the tag's digest first (one request, no layers) and pull only when
    /// it differs from the local image's: the no-op path stays one round trip.
    #[default]
    IfChanged,
    /// Pull only when the tag is not on this host at all.
    Missing,
    /// Never pull: deploy the local tag as it is (`pull=False`).
    Never,
}

impl PullPolicy {
    pub const NAMES: [&'static str; 4] = ["always", "if-changed", "missing", "never"];

    pub fn parse(text: &str) -> Result<PullPolicy> {
        match text {
            "always" => Ok(PullPolicy::Always),
            "if-changed" => Ok(PullPolicy::IfChanged),
            "missing" => Ok(PullPolicy::Missing),
            "never" => Ok(PullPolicy::Never),
            other => Err(Error::InvalidSpec(format!(
                "pull_policy {} is unknown (known: {}); nothing was changed",
                crate::options::describe(&serde_json::Value::String(other.to_string())),
                PullPolicy::NAMES.join(", ")
            ))),
        }
    }
}

/// What [`refresh`] learnt: the pull report (a pull ran, or the registry confirmed the local
/// tag), and the local tag's image ID when it is known without another request.
#[derive(Debug, Default)]
pub struct Refreshed {
    pub report: Option<PullReport>,
    pub image_id: Option<String>,
}

/// Brings the local tag up to date as `policy` says.
pub async fn refresh(
    docker: &Docker,
    image: &ImageRef,
    auth: Option<&Auth>,
    policy: PullPolicy,
    timeout: Duration,
    steps: &mut Steps<'_>,
) -> Result<Refreshed> {
    let pulled = |report: PullReport| Refreshed {
        image_id: Some(report.id.clone()),
        report: Some(report),
    };
    match policy {
        PullPolicy::Never => Ok(Refreshed::default()),
        PullPolicy::Always => pull(docker, image, auth, timeout, steps).await.map(pulled),
        PullPolicy::Missing => match inspect_image(docker, &image.local_name(), UNTOUCHED).await? {
            Some(local) => Ok(Refreshed {
                report: None,
                image_id: local.id,
            }),
            None => pull(docker, image, auth, timeout, steps).await.map(pulled),
        },
        PullPolicy::IfChanged => {
            // In a redeploy, the check's "nothing was pulled" is the pull's "left as they were".
            let checked = crate::check::check(docker, image, auth, steps)
                .await
                .map_err(|e| e.reword(UNTOUCHED))?;
            let expected = checked.remote_digest.clone();
            match PullReport::confirmed(image, checked) {
                Some(report) => Ok(Refreshed {
                    image_id: Some(report.id.clone()),
                    report: Some(report),
                }),
                None => pull_expecting(docker, image, auth, timeout, Some(&expected), steps)
                    .await
                    .map(pulled),
            }
        }
    }
}

/// Sorts a pull failure into "no such image", "registry trouble" and "no Engine".
pub(crate) fn pull_error(image: &ImageRef, fault: EngineFault) -> Error {
    let message = fault.message().to_string();
    let lower = message.to_lowercase();
    let missing = fault.is_not_found()
        || lower.contains("manifest unknown")
        || (lower.contains("not found") && !lower.contains("no such host"));
    // Narrow phrases only: Docker Hub answers a missing repository with 404 "pull access
    // denied ... does not exist", and a daemon-side "permission denied" is no registry refusal.
    let auth = !fault.is_not_found()
        && (matches!(
            fault,
            EngineFault::Status {
                code: 401 | 403,
                ..
            }
        ) || lower.contains("unauthorized")
            || lower.contains("authentication required")
            || lower.contains("no basic auth credentials")
            || lower.contains("denied: "));
    match fault {
        EngineFault::Unreachable(why) => Error::DockerUnavailable(format!(
            "image {image}: cannot reach the Docker Engine at {} ({why}); {UNTOUCHED}",
            crate::engine::docker_host()
        )),
        // The Engine was reached: it waited on the registry, which trickled or never ended its
        // answer. The registry's fault, not the Engine's.
        EngineFault::TimedOut => Error::Registry(format!(
            "image {image}: registry {} did not answer the Docker Engine in time (request \
             timed out: a slow or hanging registry?); {UNTOUCHED}",
            image.registry
        )),
        _ if auth => Error::Registry(format!(
            "image {image}: registry {} refused access ({message}); {UNTOUCHED}",
            image.registry
        )),
        _ if missing => Error::ImageNotFound(format!(
            "image {image}: not found in registry {} ({message}); {UNTOUCHED}",
            image.registry
        )),
        _ => Error::Registry(format!(
            "image {image}: pull from registry {} failed ({message}); {UNTOUCHED}",
            image.registry
        )),
    }
}
