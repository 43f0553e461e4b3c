"""saltext-docker-deploy: keep Docker containers on the newest image of a tag, safely.

The work is done by a Rust core (``saltext.docker_deploy._core``); this package re-exports it.
"""

from saltext.docker_deploy._core import (
    EXCEPTIONS,
    OPTION_TABLE,
    OPTIONS,
    PULL_POLICIES,
    SPEC_KEYWORDS,
    STRATEGIES,
    ContainerStartError,
    DeployError,
    DockerUnavailable,
    ImageNotFound,
    InvalidSpec,
    LockTimeout,
    RegistryError,
    RolledBack,
    check,
    image_diff,
    preview,
    pull,
    redeploy,
    redeploy_group,
    remove,
    rollback,
)

__all__ = [
    "EXCEPTIONS",
    "OPTIONS",
    "OPTION_TABLE",
    "PULL_POLICIES",
    "SPEC_KEYWORDS",
    "STRATEGIES",
    "ContainerStartError",
    "DeployError",
    "DockerUnavailable",
    "ImageNotFound",
    "InvalidSpec",
    "LockTimeout",
    "RegistryError",
    "RolledBack",
    "check",
    "image_diff",
    "preview",
    "pull",
    "redeploy",
    "redeploy_group",
    "remove",
    "rollback",
]
