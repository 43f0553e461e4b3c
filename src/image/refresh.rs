//! Check, then pull: brings the local tag up to date as the pull policy says, before a
//! redeploy decides. In a dry run nothing is pulled: the registry is asked instead, and what a
//! pull would bring is said as the registry's digest ([`Refreshed::pending`]).

use std::time::Duration;

use bollard::Docker;

use crate::error::{Error, ErrorKind, Result};
use crate::image::auth::Auth;
use crate::image::check::{check, local_image, CheckReport};
use crate::image::fault::PULL_LEFT;
use crate::image::pull::{pull, pull_expecting, PullReport};
use crate::input::describe_word;
use crate::reference::ImageRef;
use crate::steps::Steps;

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
            other => Err(Error::invalid(
                "",
                format!(
                    "pull_policy {} is unknown (known: {})",
                    describe_word(other),
                    PullPolicy::NAMES.join(", ")
                ),
            )),
        }
    }
}

/// An image a request deploys instead of asking for the tag's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pinned {
    /// This image ID, and the manifest digest it was pulled under (`repo@sha256:...`) when
    /// known, recorded on the container it creates.
    Image { id: String, digest: Option<String> },
    /// In a dry run: the image a pull would bring, by the registry's manifest digest.
    Pending { digest: String },
}

/// What [`refresh`] learnt: the pull report (a pull ran, or the registry confirmed the local
/// tag), and the local tag's image ID when it is known without another request.
#[derive(Debug, Default)]
pub struct Refreshed {
    pub report: Option<PullReport>,
    pub image_id: Option<String>,
    /// In a dry run, when a pull would bring a new image: the registry's manifest digest of
    /// it (`sha256:...`). Its image ID is known only once it is pulled.
    pub pending: Option<String>,
}

impl Refreshed {
    fn pulled(report: PullReport) -> Refreshed {
        Refreshed {
            image_id: Some(report.id.clone()),
            report: Some(report),
            pending: None,
        }
    }

    /// The image a run deploys after this refresh: the image ID it brought (with the digest
    /// it was pulled under when the report is of that very image), or in a dry run the
    /// registry's digest of what a pull would bring; `None` leaves it to the local tag.
    pub fn pinned(&self) -> Option<Pinned> {
        if let Some(digest) = &self.pending {
            return Some(Pinned::Pending {
                digest: digest.clone(),
            });
        }
        let id = self.image_id.clone()?;
        let digest = self
            .report
            .as_ref()
            .filter(|r| r.id == id)
            .and_then(|r| r.digest.clone());
        Some(Pinned::Image { id, digest })
    }
}

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

/// Brings the local tag up to date as `policy` says; with `dry_run`, only says what a pull
/// would bring.
pub async fn refresh(
    docker: &Docker,
    image: &ImageRef,
    auth: Option<&Auth>,
    policy: PullPolicy,
    timeout: Duration,
    dry_run: bool,
    steps: &mut Steps<'_>,
) -> Result<Refreshed> {
    match policy {
        PullPolicy::Never => Ok(Refreshed::default()),
        PullPolicy::Missing => match local_image(docker, image).await? {
            Some(local) => Ok(Refreshed {
                image_id: local.id,
                ..Refreshed::default()
            }),
            None if dry_run => checked(docker, image, auth, timeout, true, steps).await,
            None => pull(docker, image, auth, timeout, steps)
                .await
                .map(Refreshed::pulled),
        },
        // A dry run of `always` asks the registry: a pull of the digest the local tag already
        // has changes nothing.
        PullPolicy::Always if !dry_run => pull(docker, image, auth, timeout, steps)
            .await
            .map(Refreshed::pulled),
        PullPolicy::Always | PullPolicy::IfChanged => {
            checked(docker, image, auth, timeout, dry_run, steps).await
        }
    }
}

/// The image of a manifest digest the caller pinned, from the tag's repository: the one on
/// this host when it is here already (no request: a digest names one image, for good), else
/// pulled by digest, which leaves the local tag where it was; in a dry run, the digest as
/// what a pull would bring.
pub async fn by_digest(
    docker: &Docker,
    image: &ImageRef,
    digest: &str,
    auth: Option<&Auth>,
    timeout: Duration,
    dry_run: bool,
    steps: &mut Steps<'_>,
) -> Result<Refreshed> {
    let at = ImageRef {
        digest: Some(digest.to_string()),
        ..image.clone()
    };
    let local = local_image(docker, &at)
        .await
        .map_err(|e| e.left(PULL_LEFT))?;
    if let Some(id) = local.and_then(|l| l.id) {
        return Ok(Refreshed::pulled(PullReport {
            image: at.to_string(),
            previous_id: Some(id.clone()),
            id,
            changed: false,
            digest: Some(at.local_name()),
        }));
    }
    if dry_run {
        return Ok(Refreshed {
            pending: Some(digest.to_string()),
            ..Refreshed::default()
        });
    }
    let mut report = pull(docker, &at, auth, timeout, steps).await?;
    report.digest = Some(at.local_name());
    Ok(Refreshed::pulled(report))
}

/// Asks the registry, and pulls only when it holds another image than the local tag (in a dry
/// run, says so instead).
async fn checked(
    docker: &Docker,
    image: &ImageRef,
    auth: Option<&Auth>,
    timeout: Duration,
    dry_run: bool,
    steps: &mut Steps<'_>,
) -> Result<Refreshed> {
    // In a redeploy, the check's "nothing was pulled" is the pull's "left as they were".
    let checked = check(docker, image, auth, steps)
        .await
        .map_err(|e| e.left(PULL_LEFT))?;
    let expected = checked.remote_digest.clone();
    if let Some(report) = confirmed(image, checked) {
        return Ok(Refreshed::pulled(report));
    }
    if dry_run {
        return Ok(Refreshed {
            pending: Some(expected),
            ..Refreshed::default()
        });
    }
    pull_expecting(docker, image, auth, timeout, Some(&expected), steps)
        .await
        .map(Refreshed::pulled)
}

/// The local tag's image ID, which must exist when nothing was pulled.
pub(crate) async fn local_image_id(
    docker: &Docker,
    image: &ImageRef,
    left: &str,
) -> Result<String> {
    let local = local_image(docker, image).await.map_err(|e| e.left(left))?;
    local.and_then(|i| i.id).ok_or_else(|| {
        Error::new(
            ErrorKind::ImageNotFound,
            format!("image {image} is not on this host and pull=False (pull_policy never)"),
        )
        .left(left)
    })
}
