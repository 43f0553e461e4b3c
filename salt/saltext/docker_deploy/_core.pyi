"""Type stubs for the native module ``saltext.docker_deploy._core`` (written by hand)."""

from typing import Any, TypedDict

# The result types exist only for type checkers (the runtime returns plain dicts).

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

SPEC_KEYWORDS: list[str]

class DeployError(Exception): ...
class DockerUnavailable(DeployError): ...
class ImageNotFound(DeployError): ...
class RegistryError(DeployError): ...
class InvalidSpec(DeployError): ...
class ContainerStartError(DeployError): ...

class _Auth(TypedDict, total=False):
    username: str
    password: str
    identitytoken: str
    serveraddress: str
    email: str

class _PullResult(TypedDict):
    image: str
    id: str
    previous_id: str | None
    changed: bool
    digest: str | None

class _DiffResult(TypedDict):
    name: str
    image: str
    exists: bool
    status: str | None
    container_id: str | None
    container_image_id: str | None
    image_id: str | None
    differs: bool

class _Step(TypedDict):
    step: str
    detail: str
    duration_ms: float

class _RedeployResult(TypedDict):
    name: str
    image: str
    action: str
    changes: dict[str, dict[str, Any]]
    container_id: str | None
    image_id: str
    previous_image_id: str | None
    reasons: list[str]
    comment: str
    pull: _PullResult | None
    downtime_ms: float | None
    steps: list[_Step]
    warnings: list[str]

class _CheckResult(TypedDict):
    image: str
    update_available: bool
    local_digest: str | None
    remote_digest: str
    local_id: str | None

class _RemoveResult(TypedDict):
    name: str
    removed: bool
    container_id: str | None
    image_id: str | None

def check(image: str, *, auth: _Auth | None = None) -> _CheckResult: ...
def preview(
    name: str, image: str, *, image_id: str | None = None, force: bool = False, **spec: Any
) -> _RedeployResult: ...
def remove(name: str) -> _RemoveResult: ...
def pull(image: str, *, auth: _Auth | None = None) -> _PullResult: ...
def image_diff(name: str, image: str) -> _DiffResult: ...
def redeploy(
    name: str,
    image: str,
    *,
    pull: bool = True,
    force: bool = False,
    auth: _Auth | None = None,
    **spec: Any,
) -> _RedeployResult: ...
