"""Type stubs for the native module ``saltext.docker_deploy._core`` (written by hand)."""

from typing import Any, TypedDict

SPEC_KEYWORDS: list[str]

class DeployError(Exception): ...
class DockerUnavailable(DeployError): ...
class ImageNotFound(DeployError): ...
class RegistryError(DeployError): ...
class InvalidSpec(DeployError): ...
class ContainerStartError(DeployError): ...

class Auth(TypedDict, total=False):
    username: str
    password: str
    identitytoken: str
    serveraddress: str
    email: str

class PullResult(TypedDict):
    image: str
    id: str
    previous_id: str | None
    changed: bool
    digest: str | None

class DiffResult(TypedDict):
    name: str
    image: str
    exists: bool
    status: str | None
    container_id: str | None
    container_image_id: str | None
    image_id: str | None
    differs: bool

class Step(TypedDict):
    step: str
    detail: str
    duration_ms: float

class RedeployResult(TypedDict):
    name: str
    image: str
    action: str
    changes: dict[str, dict[str, Any]]
    container_id: str | None
    image_id: str
    previous_image_id: str | None
    reasons: list[str]
    comment: str
    pull: PullResult | None
    downtime_ms: float | None
    steps: list[Step]
    warnings: list[str]

def pull(image: str, *, auth: Auth | None = None) -> PullResult: ...
def image_diff(name: str, image: str) -> DiffResult: ...
def redeploy(
    name: str,
    image: str,
    *,
    pull: bool = True,
    auth: Auth | None = None,
    **spec: Any,
) -> RedeployResult: ...
