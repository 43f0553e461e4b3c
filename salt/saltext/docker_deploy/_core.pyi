"""Type stubs for the native module ``saltext.docker_deploy._core`` (written by hand)."""

from typing import Any, Literal, TypedDict, overload

# The result types exist only for type checkers (the runtime returns plain dicts).

__all__ = [
    "OPTIONS",
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

OPTIONS: list[str]
PULL_POLICIES: list[str]
SPEC_KEYWORDS: list[str]
STRATEGIES: list[str]

class DeployError(Exception): ...
class DockerUnavailable(DeployError): ...
class ImageNotFound(DeployError): ...
class RegistryError(DeployError): ...
class InvalidSpec(DeployError): ...
class ContainerStartError(DeployError): ...
class LockTimeout(DeployError): ...

class RolledBack(ContainerStartError):
    report: dict[str, Any]

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
    strategy: str
    recovered: str | None
    removed_images: list[str]
    steps: list[_Step]
    warnings: list[str]

class _ReplicasResult(TypedDict):
    name: str
    image: str
    replicas: int
    action: str
    changes: dict[str, Any]
    comment: str
    image_id: str
    results: list[_RedeployResult]
    removed: list[str]

class _GroupEntry(TypedDict):
    name: str
    report: _RedeployResult | None
    error: str | None
    message: str | None

def redeploy_group(
    containers: list[dict[str, Any]], *, concurrency: int | None = None
) -> list[_GroupEntry]: ...

class _CheckResult(TypedDict):
    image: str
    update_available: bool
    local_digest: str | None
    remote_digest: str
    local_id: str | None
    via: Literal["registry", "engine"]

class _RemoveResult(TypedDict):
    name: str
    removed: bool
    container_id: str | None
    image_id: str | None
    helpers_removed: list[str]
    warnings: list[str]

def check(image: str, *, auth: _Auth | None = None) -> _CheckResult: ...
@overload
def preview(
    name: str,
    image: str,
    *,
    image_id: str | None = None,
    force: bool = False,
    strategy: str = "create-first",
    replicas: None = None,
    **spec: Any,
) -> _RedeployResult: ...
@overload
def preview(
    name: str,
    image: str,
    *,
    image_id: str | None = None,
    force: bool = False,
    strategy: str = "create-first",
    replicas: int,
    **spec: Any,
) -> _ReplicasResult: ...
def rollback(
    name: str,
    *,
    strategy: str = "create-first",
    health_timeout: float = 60.0,
    min_uptime: float = 2.0,
    lock_timeout: float = 300.0,
) -> _RedeployResult: ...
def remove(name: str, *, lock_timeout: float = 300.0) -> _RemoveResult: ...
def pull(image: str, *, auth: _Auth | None = None, pull_timeout: float = 600.0) -> _PullResult: ...
def image_diff(name: str, image: str) -> _DiffResult: ...
@overload
def redeploy(
    name: str,
    image: str,
    *,
    pull: bool = True,
    pull_policy: str | None = None,
    force: bool = False,
    auth: _Auth | None = None,
    strategy: str = "create-first",
    health_timeout: float = 60.0,
    min_uptime: float = 2.0,
    rollback: bool = True,
    lock_timeout: float = 300.0,
    keep_images: int | None = None,
    renew_anonymous_volumes: bool = False,
    pull_timeout: float = 600.0,
    replicas: None = None,
    **spec: Any,
) -> _RedeployResult: ...
@overload
def redeploy(
    name: str,
    image: str,
    *,
    pull: bool = True,
    pull_policy: str | None = None,
    force: bool = False,
    auth: _Auth | None = None,
    strategy: str = "create-first",
    health_timeout: float = 60.0,
    min_uptime: float = 2.0,
    rollback: bool = True,
    lock_timeout: float = 300.0,
    keep_images: int | None = None,
    renew_anonymous_volumes: bool = False,
    pull_timeout: float = 600.0,
    replicas: int,
    **spec: Any,
) -> _ReplicasResult: ...
