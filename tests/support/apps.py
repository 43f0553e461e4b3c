"""The app under test: the busybox httpd image variants (built on first use) and one container
under test (its name, its tag in the registry, its host port), as the conftest fixtures hand
them out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tests.support.testbed import (
    CRASHES_ONCE_CMD,
    EXIT_CMD,
    EXITS_LATER_CMD,
    HEALTHY,
    NEVER_HEALTHY,
    OOM_CMD,
    STUBBORN_CMD,
    UNHEALTHY,
    Registry,
    TestBed,
    docker,
    remove_containers_and_volumes,
)

# Where the volume image variants keep their data.
IMAGE_VOLUME = "/var/lib/app"

# The image variants: (version string served, command, further Dockerfile lines).
VARIANTS = {
    "v1": ("v1", None, ""),
    "v2": ("v2", None, ""),
    "v3": ("v3", None, ""),
    "exits": ("exits", EXIT_CMD, ""),
    "exits-later": ("exits-later", EXITS_LATER_CMD, ""),
    "crashes-once": ("crashes-once", CRASHES_ONCE_CMD, ""),
    "healthy": ("healthy", None, HEALTHY),
    "unhealthy": ("unhealthy", None, UNHEALTHY),
    "never-healthy": ("never-healthy", None, NEVER_HEALTHY),
    "stubborn-v1": ("v1", STUBBORN_CMD, ""),
    "stubborn-v2": ("v2", STUBBORN_CMD, ""),
    # Data in an image VOLUME, as databases keep it.
    "volume-v1": ("v1", None, f"VOLUME {json.dumps([IMAGE_VOLUME])}"),
    "volume-v2": ("v2", None, f"VOLUME {json.dumps([IMAGE_VOLUME])}"),
    # A failing image with one more VOLUME: its fresh volume must go with it.
    "volume-exits": ("exits", EXIT_CMD, f"VOLUME {json.dumps([IMAGE_VOLUME, '/var/cache/new'])}"),
    "oom": ("oom", OOM_CMD, ""),
}


class Images(dict):
    """Local tags of the image variants, each built on first use."""

    def __init__(self, bed: TestBed):
        super().__init__()
        self.bed = bed

    def __missing__(self, variant: str) -> str:
        version, cmd, instructions = VARIANTS[variant]
        tag = f"ddtest-{self.bed.run_id}/web:{variant}"
        self.bed.build(tag, version, cmd=cmd, instructions=instructions)
        self[variant] = tag
        return tag


# Where the host locks (and the records of adopted containers) live.
LOCK_DIR = "/run/saltext-docker-deploy"


@dataclass
class App:
    """One container under test: its name, its tag in the registry, its host port."""

    bed: TestBed
    registry: Registry
    images: Images
    name: str
    repo: str
    port: int
    ref: str = ""

    def publish(self, version: str, tag: str = "prod") -> str:
        self.ref = self.bed.publish(self.registry, self.images[version], self.repo, tag)
        return self.ref

    def spec(self, **overrides) -> dict:
        spec = {
            "labels": self.bed.labels,
            "port_bindings": [f"127.0.0.1:{self.port}:80"],
            "shutdown_timeout": 5,
        }
        spec.update(overrides)
        return spec

    def deploy(self, **overrides):
        from saltext import docker_deploy

        pull = overrides.pop("pull", True)
        image = overrides.pop("image", self.ref)
        # Half a second of uptime proves a start here; the verification tests set their own.
        overrides.setdefault("min_uptime", 0.5)
        return docker_deploy.redeploy(self.name, image, pull=pull, **self.spec(**overrides))

    @property
    def volume(self) -> str:
        """A labelled named volume for this app's data, created on first use."""
        name = f"{self.name}-data"
        docker("volume", "create", "--label", self.bed.label, name)
        return name

    def remove(self) -> None:
        # The record of a container this tool adopted lives beside its lock.
        for record in Path(LOCK_DIR).glob(f"{self.name}@adopted@*.json"):
            record.unlink(missing_ok=True)
        names = [self.name, f"{self.name}.deploy-new", f"{self.name}.deploy-old"]
        replicas = docker(
            "ps", "-aq", "--filter", f"label=io.saltext.docker-deploy.replica-of={self.name}"
        ).split()
        remove_containers_and_volumes(names + replicas)
        docker("volume", "rm", f"{self.name}-data", check=False)
        # Untag what this app pulled; the images themselves belong to the session.
        refs = docker(
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            f"{self.registry.host}/{self.repo}",
            check=False,
        ).split()
        if refs:
            docker("rmi", *refs, check=False)
