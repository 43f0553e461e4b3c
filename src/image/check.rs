//! "Is there a new image?" without pulling: the registry's current manifest digest for the tag,
//! compared with the digests the local image was pulled under. No layer is downloaded, no tag
//! moves. The digest comes from the registry itself ([`registry`], one HEAD request) and, when
//! that gives no answer, from the Engine (`GET /distribution/{name}/json`).

use std::time::Instant;

use bollard::Docker;
use serde::Serialize;

use crate::engine::inspect_image;
use crate::error::{EngineFault, Error, ErrorKind, Result};
use crate::image::auth::Auth;
use crate::image::fault::{credentials_at_risk, pull_error, CHECK_LEFT};
use crate::image::registry;
use crate::reference::short_id;
use crate::reference::ImageRef;
use crate::steps::Steps;

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub image: String,
    /// True when a pull would change the local tag (or the tag is not on this host yet).
    pub update_available: bool,
    /// The digest the local tag's image was pulled under, when it came from this repository.
    pub local_digest: Option<String>,
    /// The digest the registry holds for the tag now.
    pub remote_digest: String,
    /// The local tag's image ID; `None` when the tag is not on this host.
    pub local_id: Option<String>,
    /// Who answered: `registry` (asked directly) or `engine` (the Engine's distribution
    /// endpoint, when the registry could not be asked directly).
    pub via: &'static str,
}

/// The longest the Engine may take to give the registry's digest.
const ENGINE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Asks the registry for the tag's digest and compares it with the local tag's, both at once.
pub async fn check(
    docker: &Docker,
    image: &ImageRef,
    auth: Option<&Auth>,
    steps: &mut Steps<'_>,
) -> Result<CheckReport> {
    let started = Instant::now();
    let (remote, local) = tokio::join!(
        remote_digest(docker, image, auth),
        local_image(docker, image)
    );
    Ok(compare(image, remote?, local?, started, steps))
}

/// The local tag as a check compares it (`None` when it is not on this host).
pub(crate) async fn local_image(docker: &Docker, image: &ImageRef) -> Result<Option<LocalImage>> {
    let found = inspect_image(docker, &image.local_name(), CHECK_LEFT).await?;
    Ok(found.map(LocalImage::from))
}

/// The local tag as a check compares it: its image ID and the digests it was pulled under.
#[derive(Debug, Clone, Default)]
pub struct LocalImage {
    pub id: Option<String>,
    pub repo_digests: Vec<String>,
    /// Read from a container's digest label rather than from the local tag.
    pub on_container: bool,
}

impl LocalImage {
    /// The image a container runs, with the digest it was pulled under (our label).
    pub fn recorded_on(image_id: String, digest: String) -> Self {
        LocalImage {
            id: Some(image_id),
            repo_digests: vec![digest],
            on_container: true,
        }
    }
}

impl From<bollard::models::ImageInspect> for LocalImage {
    fn from(inspect: bollard::models::ImageInspect) -> Self {
        LocalImage {
            id: inspect.id,
            repo_digests: inspect.repo_digests.unwrap_or_default(),
            on_container: false,
        }
    }
}

/// The registry's answer, and who gave it.
#[derive(Debug, Clone)]
pub struct RemoteDigest {
    /// The manifest digest the registry holds for the tag (`sha256:...`).
    pub digest: String,
    via: Via,
}

/// Compares the registry's digest with `local` (the local tag, or the image a container
/// records), and logs the `check` step from `started`.
pub(crate) fn compare(
    image: &ImageRef,
    remote: RemoteDigest,
    local: Option<LocalImage>,
    started: Instant,
    steps: &mut Steps<'_>,
) -> CheckReport {
    let RemoteDigest {
        digest: remote_digest,
        via,
    } = remote;
    let repository = image.repository();
    // An image pulled under several tags of one repository has several digests; the tag is
    // current when any of them is the registry's.
    let local_digests: Vec<String> = local
        .as_ref()
        .map(|i| i.repo_digests.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| {
            d.split_once('@')
                .filter(|(repo, _)| *repo == repository)
                .map(|(_, digest)| digest.to_string())
        })
        .collect();
    let update_available = !local_digests.contains(&remote_digest);
    let on_container = local.as_ref().is_some_and(|i| i.on_container);
    let local_digest = if update_available {
        local_digests.first().cloned()
    } else {
        Some(remote_digest.clone())
    };
    steps.record(
        "check",
        started,
        format!(
            "{image}: registry has {} ({}), {}",
            short_id(&remote_digest),
            via.said(),
            match (update_available, on_container) {
                (true, false) => "a pull would change the local tag",
                (false, false) => "local tag is current",
                (true, true) => "the container's image is not the registry's",
                (false, true) => "the container's image is current (its recorded digest)",
            }
        ),
    );
    CheckReport {
        image: image.to_string(),
        update_available,
        local_digest,
        remote_digest,
        local_id: local.and_then(|i| i.id),
        via: via.name(),
    }
}

/// Who gave the registry's digest.
#[derive(Debug, Clone)]
enum Via {
    Registry,
    /// The Engine, because the registry gave no direct answer (why).
    Engine(String),
}

impl Via {
    fn name(&self) -> &'static str {
        match self {
            Via::Registry => "registry",
            Via::Engine(_) => "engine",
        }
    }

    fn said(&self) -> String {
        match self {
            Via::Registry => "asked directly".to_string(),
            Via::Engine(why) => format!("through the Engine; directly: {why}"),
        }
    }
}

/// The tag's digest in the registry: asked directly, else through the Engine, whose answer
/// (or error) is the final word.
pub(crate) async fn remote_digest(
    docker: &Docker,
    image: &ImageRef,
    auth: Option<&Auth>,
) -> Result<RemoteDigest> {
    match direct_digest(image, auth).await? {
        Ok(answered) => Ok(answered),
        Err(why) => engine_digest(docker, image, auth, why).await,
    }
}

/// The registry's answer to the direct question: `Ok(Ok(..))` the digest, `Ok(Err(why))` no
/// usable answer (the Engine is to be asked), `Err` a final one: the credentials are at risk,
/// or the registry limits the rate (the Engine's question would count against it too).
pub(crate) async fn direct_digest(
    image: &ImageRef,
    auth: Option<&Auth>,
) -> Result<std::result::Result<RemoteDigest, String>> {
    match registry::manifest_digest(image, auth).await {
        Ok(digest) => Ok(Ok(RemoteDigest {
            digest,
            via: Via::Registry,
        })),
        Err(refused) if refused.credentials_at_risk => {
            Err(credentials_at_risk(image, &refused.why))
        }
        Err(refused) if refused.rate_limit.is_some() => {
            let mut error = Error::new(
                ErrorKind::Registry,
                format!("registry {}: {}", image.registry, refused.why),
            )
            .about(format!("image {image}"))
            .left(CHECK_LEFT);
            error.rate_limit = refused.rate_limit;
            Err(error)
        }
        Err(refused) => Ok(Err(refused.why)),
    }
}

/// The registry's digest as the Engine gives it, when the registry could not be asked
/// directly (`why`).
pub(crate) async fn engine_digest(
    docker: &Docker,
    image: &ImageRef,
    auth: Option<&Auth>,
    why: String,
) -> Result<RemoteDigest> {
    // The Engine waits on the registry as long as it trickles: bounded here, the registry's
    // fault (the Engine's own pings give up after 15-25 s).
    let local_name = image.local_name();
    let asked = docker.inspect_registry_image(&local_name, auth.map(|a| a.credentials(image)));
    let remote = match tokio::time::timeout(ENGINE_CHECK_TIMEOUT, asked).await {
        Ok(answer) => {
            answer.map_err(|e| pull_error(image, EngineFault::from(e)).left(CHECK_LEFT))?
        }
        Err(_) => return Err(pull_error(image, EngineFault::TimedOut).left(CHECK_LEFT)),
    };
    Ok(RemoteDigest {
        digest: remote.descriptor.digest.unwrap_or_default(),
        via: Via::Engine(why),
    })
}

/// A tag resolved to the digest it points at in the registry, nothing pulled or compared (a
/// fleet rollout pins it once for every minion).
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    /// The reference as parsed.
    pub image: String,
    /// The manifest digest (`sha256:...`).
    pub digest: String,
    /// The image by digest (`repo@sha256:...`).
    pub reference: String,
    /// `registry` (asked directly) or `engine`.
    pub via: &'static str,
}

impl Resolved {
    pub(crate) fn new(image: &ImageRef, remote: RemoteDigest) -> Resolved {
        Resolved {
            image: image.to_string(),
            reference: format!("{}@{}", image.repository(), remote.digest),
            digest: remote.digest,
            via: remote.via.name(),
        }
    }
}
