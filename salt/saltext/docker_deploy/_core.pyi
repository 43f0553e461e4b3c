"""Type stubs for the native module ``saltext.docker_deploy._core`` (written by hand)."""

from typing import Any, Literal, TypedDict, overload

# The result types exist only for type checkers (the runtime returns plain dicts).

__all__ = [
    "EXCEPTIONS",
    "OPTIONS",
    "OPTION_TABLE",
    "PULL_POLICIES",
    "SPEC_KEYWORDS",
    "SPEC_TABLE",
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
    "managed",
    "preview",
    "pull",
    "redeploy",
    "redeploy_group",
    "remove",
    "resolve",
    "rollback",
    "update",
]

class _OptionRow(TypedDict):
    name: str
    type: str
    default: Any
    doc: str
    calls: list[str]

class _KeywordRow(TypedDict):
    name: str
    aliases: list[str]
    accepts: str
    lands: str
    doc: str

class _ExceptionRow(TypedDict):
    name: str
    base: str
    doc: str

OPTIONS: list[str]
OPTION_TABLE: list[_OptionRow]
EXCEPTIONS: list[_ExceptionRow]
PULL_POLICIES: list[str]
SPEC_KEYWORDS: list[str]
SPEC_TABLE: list[_KeywordRow]
STRATEGIES: list[str]

class DeployError(Exception): ...
class DockerUnavailable(DeployError): ...
class ImageNotFound(DeployError): ...

class RegistryError(DeployError):
    # The registry answered 429 Too Many Requests; the seconds it asked to wait, if it said.
    rate_limited: bool
    retry_after: float | None

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
    action: Literal[
        "none", "created", "started", "replaced", "adopted", "recovered", "rolled-back", "failed"
    ]
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
    dry_run: bool
    pending_digest: str | None
    digest: str | None
    previous_digest: str | None
    failure: _Failure | None

class _Failure(TypedDict):
    step: str
    reason: str

class _ReplicasResult(TypedDict):
    name: str
    image: str
    replicas: int
    action: Literal["none", "updated", "rolled-back", "failed"]
    changes: dict[str, Any]
    comment: str
    image_id: str
    results: list[_RedeployResult]
    removed: list[str]
    dry_run: bool

class _GroupEntry(TypedDict):
    name: str
    report: _RedeployResult | None
    error: str | None
    message: str | None
    error_report: _RedeployResult | None

def redeploy_group(
    containers: list[dict[str, Any]],
    *,
    dry_run: bool = False,
    events: bool = True,
    concurrency: int = 4,
) -> list[_GroupEntry]: ...

class _Managed(TypedDict):
    name: str
    image: str
    digest: str | None
    image_id: str
    container_id: str
    status: str
    replica_of: str | None
    adopted: bool

def managed(names: list[str] | str | None = None) -> list[_Managed]: ...
def update(
    image: str,
    *,
    auth: _Auth | None = None,
    pull_timeout: float = 600.0,
    dry_run: bool = False,
    names: list[str] | str | None = None,
    events: bool = True,
    concurrency: int = 4,
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
    dry_run: bool

def check(image: str, *, auth: _Auth | None = None) -> _CheckResult: ...

class _Resolved(TypedDict):
    image: str
    digest: str
    reference: str
    via: str

def resolve(image: str, *, auth: _Auth | None = None) -> _Resolved: ...
@overload
def preview(
    name: str,
    image: str,
    *,
    image_id: str | None = None,
    pull: bool = True,
    pull_policy: str = "if-changed",
    digest: str | None = None,
    auth: _Auth | None = None,
    force: bool = False,
    strategy: str = "create-first",
    health_timeout: float = 60.0,
    min_uptime: float = 2.0,
    rollback: bool = True,
    lock_timeout: float = 300.0,
    keep_images: int | None = None,
    renew_anonymous_volumes: bool = False,
    pull_timeout: float = 600.0,
    events: bool = True,
    watch_action: str = "force",
    start: bool = True,
    skip_translate: Any = None,
    ignore_collisions: bool = False,
    validate_ip_addrs: bool = True,
    client_timeout: int | None = None,
    replicas: None = None,
    **spec: Any,
) -> _RedeployResult: ...
@overload
def preview(
    name: str,
    image: str,
    *,
    image_id: str | None = None,
    pull: bool = True,
    pull_policy: str = "if-changed",
    digest: str | None = None,
    auth: _Auth | None = None,
    force: bool = False,
    strategy: str = "create-first",
    health_timeout: float = 60.0,
    min_uptime: float = 2.0,
    rollback: bool = True,
    lock_timeout: float = 300.0,
    keep_images: int | None = None,
    renew_anonymous_volumes: bool = False,
    pull_timeout: float = 600.0,
    events: bool = True,
    watch_action: str = "force",
    start: bool = True,
    skip_translate: Any = None,
    ignore_collisions: bool = False,
    validate_ip_addrs: bool = True,
    client_timeout: int | None = None,
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
    dry_run: bool = False,
    events: bool = True,
) -> _RedeployResult: ...
def remove(
    name: str, *, lock_timeout: float = 300.0, dry_run: bool = False, events: bool = True
) -> _RemoveResult: ...
def pull(image: str, *, auth: _Auth | None = None, pull_timeout: float = 600.0) -> _PullResult: ...
def image_diff(name: str, image: str) -> _DiffResult: ...
@overload
def redeploy(
    name: str,
    image: str,
    *,
    pull: bool = True,
    pull_policy: str = "if-changed",
    digest: str | None = None,
    auth: _Auth | None = None,
    force: bool = False,
    strategy: str = "create-first",
    health_timeout: float = 60.0,
    min_uptime: float = 2.0,
    rollback: bool = True,
    lock_timeout: float = 300.0,
    keep_images: int | None = None,
    renew_anonymous_volumes: bool = False,
    pull_timeout: float = 600.0,
    dry_run: bool = False,
    events: bool = True,
    watch_action: str = "force",
    start: bool = True,
    skip_translate: Any = None,
    ignore_collisions: bool = False,
    validate_ip_addrs: bool = True,
    client_timeout: int | None = None,
    replicas: None = None,
    **spec: Any,
) -> _RedeployResult: ...
@overload
def redeploy(
    name: str,
    image: str,
    *,
    pull: bool = True,
    pull_policy: str = "if-changed",
    digest: str | None = None,
    auth: _Auth | None = None,
    force: bool = False,
    strategy: str = "create-first",
    health_timeout: float = 60.0,
    min_uptime: float = 2.0,
    rollback: bool = True,
    lock_timeout: float = 300.0,
    keep_images: int | None = None,
    renew_anonymous_volumes: bool = False,
    pull_timeout: float = 600.0,
    dry_run: bool = False,
    events: bool = True,
    watch_action: str = "force",
    start: bool = True,
    skip_translate: Any = None,
    ignore_collisions: bool = False,
    validate_ip_addrs: bool = True,
    client_timeout: int | None = None,
    replicas: int,
    **spec: Any,
) -> _ReplicasResult: ...
