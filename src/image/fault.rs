//! What a registry's trouble means, in a check and in a pull: "no such image", "registry
//! trouble" or "no Engine", and the one error a redeploy stops with when credentials would go
//! where they must not.

use crate::engine::docker_host;
use crate::error::{EngineFault, Error, ErrorKind, Result};
use crate::image::auth::Auth;
use crate::image::registry;
use crate::reference::ImageRef;

/// What a pull (and a redeploy stopped by the registry) left as it was.
pub const PULL_LEFT: &str = "the local tag and all containers were left as they were";
/// What a check left as it was.
pub const CHECK_LEFT: &str = "nothing was pulled and nothing was changed";

/// The registry wants the credentials sent where they must not go (see
/// [`registry::Unanswered::credentials_at_risk`]).
pub(crate) fn credentials_at_risk(image: &ImageRef, why: &str) -> Error {
    Error::new(
        ErrorKind::Registry,
        format!(
            "registry {} would have the credentials sent where they must not go ({why}); they \
             were sent neither there nor to the Engine",
            image.registry
        ),
    )
    .about(format!("image {image}"))
    .left(CHECK_LEFT)
}

/// Before credentials go to the Engine for a pull no check preceded: the error of a registry
/// whose token realm would get them in clear, or over TLS nobody verifies. One request, and
/// only with credentials.
pub(crate) async fn refuse_credentials_at_risk(
    image: &ImageRef,
    auth: Option<&Auth>,
) -> Result<()> {
    let Some(auth) = auth else { return Ok(()) };
    match registry::manifest_digest(image, Some(auth)).await {
        Err(refused) if refused.credentials_at_risk => {
            Err(credentials_at_risk(image, &refused.why).left(PULL_LEFT))
        }
        _ => Ok(()),
    }
}

/// Sorts the Engine's answer to a pull (or to its registry question) into "no such image",
/// "registry trouble" and "no Engine"; what was left is the caller's to say.
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
    let registry = &image.registry;
    let (kind, problem) = match fault {
        EngineFault::Unreachable(why) => (
            ErrorKind::DockerUnavailable,
            format!(
                "cannot reach the Docker Engine at {} ({why})",
                docker_host()
            ),
        ),
        // The Engine was reached: it waited on the registry, which trickled or never ended its
        // answer. The registry's fault, not the Engine's.
        EngineFault::TimedOut => (
            ErrorKind::Registry,
            format!(
                "registry {registry} did not answer the Docker Engine in time (request timed \
                 out: a slow or hanging registry?)"
            ),
        ),
        _ if auth => (
            ErrorKind::Registry,
            format!("registry {registry} refused access ({message})"),
        ),
        _ if missing => (
            ErrorKind::ImageNotFound,
            format!("not found in registry {registry} ({message})"),
        ),
        _ => (
            ErrorKind::Registry,
            format!("pull from registry {registry} failed ({message})"),
        ),
    };
    Error::new(kind, problem)
        .about(format!("image {image}"))
        .left(PULL_LEFT)
}
