//! Pull a tag and say, by image ID, whether the local tag moved.
//!
//! The change is decided by comparing the tag's image ID before and after, never by whether
//! layers were downloaded: a tag that moved to layers already on disk is a change (the mistake
//! of salt#44334).

use std::time::{Duration, Instant};

use bollard::query_parameters::CreateImageOptions;
use bollard::Docker;
use futures_util::StreamExt;
use serde::Serialize;

use crate::engine::inspect_image;
use crate::error::{EngineFault, Error, ErrorKind, Result};
use crate::image::auth::Auth;
use crate::image::fault::{pull_error, refuse_credentials_at_risk, PULL_LEFT};
use crate::reference::short_id;
use crate::reference::ImageRef;
use crate::steps::Steps;

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
pub(crate) async fn pull_expecting(
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
        refuse_credentials_at_risk(image, auth).await?;
    }
    let local = image.local_name();
    let previous_id = inspect_image(docker, &local, PULL_LEFT)
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
            return Err(Error::new(
                ErrorKind::Registry,
                format!(
                    "the pull from registry {} did not finish within {:.0} s (pull_timeout)",
                    image.registry,
                    timeout.as_secs_f64()
                ),
            )
            .about(format!("image {image}"))
            .left(PULL_LEFT))
        }
    }

    let pulled = inspect_image(docker, &local, PULL_LEFT)
        .await?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::ImageNotFound,
                "the pull finished but the tag is not on this host",
            )
            .about(format!("image {image}"))
            .left(PULL_LEFT)
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
