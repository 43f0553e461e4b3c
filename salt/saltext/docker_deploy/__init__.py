"""saltext-docker-deploy: keep Docker containers on the newest image of a tag, safely.

The work is done by a Rust core (``saltext.docker_deploy._core``); this package re-exports it.
"""

from saltext.docker_deploy._core import (
    SPEC_KEYWORDS,
    ContainerStartError,
    DeployError,
    DockerUnavailable,
    ImageNotFound,
    InvalidSpec,
    RegistryError,
    check,
    image_diff,
    preview,
    pull,
    redeploy,
    remove,
)

__all__ = [
    "SPEC_KEYWORDS",
    "ContainerStartError",
    "DeployError",
    "DockerUnavailable",
    "ImageNotFound",
    "InvalidSpec",
    "RegistryError",
    "check",
    "image_diff",
    "preview",
    "pull",
    "redeploy",
    "remove",
]
