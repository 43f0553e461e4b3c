"""Fixtures over the real test bed: Docker Engine, local registry, busybox images."""

from __future__ import annotations

import itertools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from testbed import Registry, TestBed, docker, free_port


def _engine_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def bed():
    # A missing engine fails the run (never a skip): every capability is proven on the real one.
    if not _engine_answers():
        pytest.fail("no Docker Engine answers `docker info`; run .ci/setup (CI needs one)")
    testbed = TestBed()
    try:
        yield testbed
    finally:
        testbed.cleanup()


@pytest.fixture(scope="session")
def registry(bed):
    reg = Registry(bed.workdir / "registry")
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def images(bed):
    """Local images v1 and v2 of the busybox httpd app: {"v1": tag, "v2": tag}."""
    repo = f"ddtest-{bed.run_id}/web"
    tags = {v: f"{repo}:{v}" for v in ("v1", "v2")}
    for version, tag in tags.items():
        bed.build(tag, version)
    return tags


_serial = itertools.count(1)


@dataclass
class App:
    """One container under test: its name, its tag in the registry, its host port."""

    bed: TestBed
    registry: Registry
    images: dict[str, str]
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

    def remove(self) -> None:
        names = [self.name, f"{self.name}.deploy-new", f"{self.name}.deploy-old"]
        docker("rm", "-f", "-v", *names, check=False)
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


@pytest.fixture
def app(bed, registry, images):
    n = next(_serial)
    application = App(
        bed=bed,
        registry=registry,
        images=images,
        name=f"ddtest-{bed.run_id}-{n}",
        repo=f"app{n}",
        port=free_port(),
    )
    try:
        yield application
    finally:
        application.remove()


def pytest_report_header(config):
    try:
        import salt.version

        return f"salt: {salt.version.__version__}"
    except ImportError:
        return "salt: not installed"
