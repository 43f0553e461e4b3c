//! What a redeploy is asked to do: the container's name, image and declared spec, and how it
//! runs (the options), all checked before any Docker call.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::container::observe::Observed;
use crate::container::plan::Target;
use crate::container::scene::{BACKUP_SUFFIX, TEMPORARY_SUFFIX};
use crate::container::verify::Verification;
use crate::error::{Error, Result};
use crate::image::auth::Auth;
use crate::image::refresh::{Pinned, PullPolicy};
use crate::options::Options;
use crate::options::Strategy;
use crate::reference::ImageRef;
use crate::spec::ContainerSpec;

#[derive(Debug, Clone)]
pub struct RedeployRequest {
    pub name: String,
    pub image: ImageRef,
    pub spec: ContainerSpec,
    pub pull_policy: PullPolicy,
    pub auth: Option<Auth>,
    /// Replace the container even when nothing differs (Salt's `watch` requisite).
    pub force: bool,
    pub strategy: Strategy,
    /// Bring the previous container back when the new one fails (default). `false` keeps the
    /// failed container for inspection and the previous one stopped.
    pub rollback: bool,
    pub verification: Verification,
    /// How long to wait for another redeploy of the same container on this host.
    pub lock_timeout: Duration,
    /// After a success, remove images of the repository beyond the newest N (never one in use).
    pub keep_images: Option<u32>,
    /// Give the new container fresh anonymous volumes; by default it takes over the old one's.
    pub renew_anonymous_volumes: bool,
    /// The longest a pull may take.
    pub pull_timeout: Duration,
    /// Decide as a real run would, and say so: no pull, no lock, no step taken.
    pub dry_run: bool,
    /// Deploy this image rather than the tag's (`rollback`; replicas and group entries after
    /// their one pull).
    pub pinned: Option<Pinned>,
    /// The caller's manifest digest of the tag's repository (`sha256:...`): deployed instead
    /// of the tag's, pulled by digest when it is not on this host (a fleet rollout's).
    pub digest: Option<String>,
    /// The replica set this container belongs to.
    pub replica_of: Option<String>,
    /// The options the new container records (see [`recorded_options`]): taken from the
    /// options as given, before a group or a rollout clears what it does itself
    /// (`keep_images`), and kept as recorded by `update` and `rollback`.
    pub options_record: String,
    /// Act only if this container still holds the name (`update`: what it listed may have
    /// been replaced or removed before the lock was taken); else leave the name alone.
    pub expected_container: Option<String>,
}

impl Pinned {
    /// The image the plan judges by.
    pub fn target(&self) -> Target<'_> {
        match self {
            Pinned::Image { id, .. } => Target::Id(id),
            Pinned::Pending { digest } => Target::Pending(digest),
        }
    }
}

impl RedeployRequest {
    /// The request for `name` with the given options (`options.replicas` is the caller's).
    pub fn new(name: &str, image: ImageRef, spec: ContainerSpec, options: Options) -> Result<Self> {
        validate_container_name(name)?;
        let options_record = recorded_options(&options);
        Ok(RedeployRequest {
            name: name.to_string(),
            image,
            spec,
            pull_policy: options.pull_policy,
            auth: options.auth,
            force: options.force,
            strategy: options.strategy,
            rollback: options.rollback,
            verification: Verification {
                health_timeout: options.health_timeout,
                min_uptime: options.min_uptime,
            },
            lock_timeout: options.lock_timeout,
            keep_images: options.keep_images,
            renew_anonymous_volumes: options.renew_anonymous_volumes,
            pull_timeout: options.pull_timeout,
            dry_run: options.dry_run,
            pinned: None,
            digest: options.digest,
            replica_of: None,
            options_record,
            expected_container: None,
        })
    }

    /// Whether `primary` (what holds the name now) is what the request may act on: any, or
    /// the very container it expects.
    pub fn still_expected(&self, primary: Option<&Observed>) -> bool {
        match &self.expected_container {
            None => true,
            Some(id) => primary.is_some_and(|found| &found.id == id),
        }
    }

    /// What a message about this request is about: `container "web"`.
    pub fn subject(&self) -> String {
        format!("container {:?}", self.name)
    }

    /// Checks what can be checked before any Docker call.
    pub fn validate(&self) -> Result<()> {
        validate_container_name(&self.name)?;
        let fixed = self.spec.fixed_host_ports();
        if self.digest.is_some() && self.pull_policy == PullPolicy::Never {
            return Err(Error::invalid(
                self.subject(),
                "digest is pulled by digest when it is not on this host: not with pull=False \
                 (pull_policy never)",
            ));
        }
        if let (Some(given), Some(own)) = (&self.digest, &self.image.digest) {
            if given != own {
                return Err(Error::invalid(
                    self.subject(),
                    format!(
                        "digest {given} is not the digest the image reference names ({own}): \
                         give one or the other"
                    ),
                ));
            }
        }
        if self.keep_images == Some(0) {
            return Err(Error::invalid(
                self.subject(),
                "keep_images must be at least 1 (the image in use is always kept)",
            ));
        }
        if self.strategy == Strategy::StartFirst && !fixed.is_empty() {
            return Err(Error::invalid(
                self.subject(),
                format!(
                    "strategy \"start-first\" runs the new container beside the old one, but \
                     host port(s) {} can be held by only one of them; use \"create-first\" or \
                     publish without a fixed host port",
                    fixed.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// The options a redeploy without a declaration (`update`, on a registry push) replaces a
/// container with: those that shape a replacement, where they are not the defaults, as
/// canonical JSON (`{}` when all are: an empty label is a container of a version that recorded
/// none). Never the credentials, nor what only one run asks (`force`, `dry_run`, the pull).
pub fn recorded_options(options: &Options) -> String {
    let defaults = Options::default();
    let mut map = Map::new();
    let mut keep = |name: &str, value: Value, default: Value| {
        if value != default {
            map.insert(name.to_string(), value);
        }
    };
    let seconds = |d: Duration| json!(d.as_secs_f64());
    keep(
        "strategy",
        json!(options.strategy.as_str()),
        json!(defaults.strategy.as_str()),
    );
    keep(
        "health_timeout",
        seconds(options.health_timeout),
        seconds(defaults.health_timeout),
    );
    keep(
        "min_uptime",
        seconds(options.min_uptime),
        seconds(defaults.min_uptime),
    );
    keep(
        "rollback",
        json!(options.rollback),
        json!(defaults.rollback),
    );
    keep(
        "lock_timeout",
        seconds(options.lock_timeout),
        seconds(defaults.lock_timeout),
    );
    keep(
        "keep_images",
        json!(options.keep_images),
        json!(defaults.keep_images),
    );
    keep(
        "renew_anonymous_volumes",
        json!(options.renew_anonymous_volumes),
        json!(defaults.renew_anonymous_volumes),
    );
    keep(
        "pull_timeout",
        seconds(options.pull_timeout),
        seconds(defaults.pull_timeout),
    );
    Value::Object(map).to_string()
}

/// Container names are used as lock file names too: bounded so that one always fits.
pub const MAX_NAME_LEN: usize = 200;

/// The Engine's rule for container names, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, and ours: at most
/// [`MAX_NAME_LEN`] characters, and not one of the helper names a redeploy uses for another
/// container (`<name>.deploy-new`, `<name>.deploy-old`). Checked before any call.
pub fn validate_container_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        // Never the whole of a long input in a message.
        let shown: String = name.chars().take(64).collect();
        let more = if shown.len() < name.len() { "..." } else { "" };
        return Err(Error::invalid(
            "",
            format!(
                "container name {shown:?}{more} is invalid: it must match \
                 [a-zA-Z0-9][a-zA-Z0-9_.-]+"
            ),
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(
            "",
            format!(
                "container name {:?}... is invalid: it is longer than {MAX_NAME_LEN} characters",
                &name[..32]
            ),
        ));
    }
    if let Some(suffix) = [TEMPORARY_SUFFIX, BACKUP_SUFFIX]
        .into_iter()
        .find(|suffix| name.ends_with(suffix))
    {
        return Err(Error::invalid(
            "",
            format!(
                "container name {name:?} is invalid: names ending in {suffix:?} are the helper \
                 names of a redeploy of {:?}",
                &name[..name.len() - suffix.len()]
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_any_call() {
        for bad in ["web.deploy-new", "web.deploy-old", "-web", "w", "a/b", "é"] {
            assert!(validate_container_name(bad).is_err(), "{bad}");
        }
        let long = "w".repeat(MAX_NAME_LEN + 1);
        let err = validate_container_name(&long).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
        assert!(validate_container_name("web.deploy-newer").is_ok());
        assert!(validate_container_name(&"w".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn start_first_with_a_fixed_host_port_is_refused() {
        let spec = ContainerSpec::from_keywords(
            "web",
            serde_json::json!({"port_bindings": ["8080:80"]})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let options = Options {
            strategy: Strategy::StartFirst,
            ..Options::default()
        };
        let request =
            RedeployRequest::new("web", ImageRef::parse("reg/web").unwrap(), spec, options)
                .unwrap();
        let err = request.validate().unwrap_err().to_string();
        assert!(
            err.contains("8080") && err.contains("nothing was changed"),
            "{err}"
        );
    }
}
