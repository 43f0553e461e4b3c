"""Fixtures over the real test bed: Docker Engine, local registry, busybox images. Shared by
every tier; the helpers they hand out live in ``tests.support``."""

from __future__ import annotations

import itertools
import subprocess

import pytest

from tests.support.apps import App, Images
from tests.support.testbed import Registry, TestBed, free_port


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
    """Local tags of the busybox httpd app and its variants, by variant: {"v1": tag, ...}."""
    tags = Images(bed)
    for variant in ("v1", "v2"):
        # Built now: most tests use both.
        tags[variant]
    return tags


_serial = itertools.count(1)


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
