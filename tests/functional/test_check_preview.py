"""check (registry digest, no pull), preview (read-only plan) and remove, on the real engine."""

from __future__ import annotations

import logging
import shutil
import time

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import ImageNotFound, RegistryError
from tests.support.apps import App
from tests.support.testbed import Registry, container_events, docker, free_port, inspect


def local_id(ref: str) -> str | None:
    out = docker("image", "inspect", "-f", "{{.Id}}", ref, check=False)
    return out or None


DIRECT = "SALTEXT_DOCKER_DEPLOY_DIRECT_REGISTRY"


@pytest.mark.parametrize("direct", ["on", "off"])
def test_check_asks_the_registry_without_pulling(app, monkeypatch, direct):
    """The same answers whether the registry is asked directly or through the Engine."""
    if direct == "off":
        monkeypatch.setenv(DIRECT, "off")
    via = "registry" if direct == "on" else "engine"
    ref = app.publish("v1")
    fresh = docker_deploy.check(ref)
    assert fresh["via"] == via
    assert fresh["update_available"] is True
    assert fresh["local_id"] is None and fresh["local_digest"] is None
    assert fresh["remote_digest"].startswith("sha256:")
    assert local_id(ref) is None, "check must not pull"

    pulled = docker_deploy.pull(ref)
    current = docker_deploy.check(ref)
    assert current["via"] == via
    assert current["update_available"] is False
    assert current["local_digest"] == current["remote_digest"] == pulled["digest"].split("@")[1]
    assert current["local_id"] == pulled["id"]

    app.publish("v2")
    moved = docker_deploy.check(ref)
    assert moved["via"] == via
    assert moved["update_available"] is True
    assert moved["remote_digest"] != current["remote_digest"]
    assert moved["local_digest"] == current["remote_digest"]
    assert local_id(ref) == pulled["id"], "check must not move the local tag"


def test_direct_and_engine_digests_agree(app, monkeypatch):
    """The direct HEAD names the digest the Engine records when it pulls (index types first in
    Accept); a mismatch would turn every if-changed run into a pull."""
    ref = app.publish("v1")
    direct = docker_deploy.check(ref)
    monkeypatch.setenv(DIRECT, "0")
    engine = docker_deploy.check(ref)
    assert (direct["via"], engine["via"]) == ("registry", "engine")
    assert direct["remote_digest"] == engine["remote_digest"]
    pulled = docker_deploy.pull(ref)
    assert pulled["digest"] == f"{ref.rsplit(':', 1)[0]}@{direct['remote_digest']}"


def test_a_proxy_in_the_environment_leaves_the_question_to_the_engine(app, monkeypatch, caplog):
    """A minion behind a proxy may not reach the registry itself; the Engine has its own proxy
    settings, so the check goes through it (and NO_PROXY lets the direct question through)."""
    ref = app.publish("v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    caplog.set_level(logging.INFO, logger="saltext.docker_deploy")
    proxied = docker_deploy.check(ref)
    assert proxied["via"] == "engine"
    assert "HTTPS_PROXY is set" in caplog.text
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert docker_deploy.check(ref)["via"] == "registry"
    assert docker_deploy.check(ref)["remote_digest"] == proxied["remote_digest"]


def test_check_errors(app):
    app.publish("v1")
    with pytest.raises(ImageNotFound, match="no-such-tag"):
        docker_deploy.check(f"{app.registry.host}/{app.repo}:no-such-tag")
    with pytest.raises(RegistryError, match="nothing was pulled"):
        docker_deploy.check(f"127.0.0.1:{free_port()}/{app.repo}:prod")


def test_preview_predicts_without_touching_anything(app):
    ref = app.publish("v1")
    app.deploy()
    before = inspect(app.name)["Id"]
    since = time.time()
    same = docker_deploy.preview(app.name, ref, **app.spec())
    drift = docker_deploy.preview(app.name, ref, **app.spec(environment={"A": "1"}))
    remote = docker_deploy.check(ref)["remote_digest"]
    app.publish("v2")
    moved_digest = docker_deploy.check(ref)["remote_digest"]
    moved = docker_deploy.preview(app.name, ref, image_id=moved_digest, **app.spec())
    until = time.time() + 0.5
    time.sleep(0.6)

    assert same["action"] == "none" and same["changes"] == {}
    assert drift["action"] == "replaced"
    assert drift["changes"]["environment"] == {"old": None, "new": {"A": "<hidden>"}}
    assert drift["changes"]["container_id"] == {"old": before, "new": None}
    assert drift["comment"].startswith("would replace")
    assert moved["action"] == "replaced" and moved_digest != remote
    assert moved["changes"]["image"]["new"] == moved_digest
    assert container_events(since, until, app.name) == []
    assert inspect(app.name)["Id"] == before


def test_remove_stops_and_removes(app):
    app.publish("v1")
    deployed = app.deploy()
    gone = docker_deploy.remove(app.name)
    assert gone["removed"] is True and gone["container_id"] == deployed["container_id"]
    assert inspect(app.name) is None
    assert docker_deploy.remove(app.name)["removed"] is False


@pytest.fixture(scope="module")
def tls_registry(bed):
    registry = Registry(bed.workdir / "tls-registry", tls=True)
    try:
        yield registry
    finally:
        registry.stop()


def test_a_tls_registry_is_asked_directly_once_its_ca_is_known(
    bed, tls_registry, images, monkeypatch, tmp_path
):
    """TLS as the Engine does it: the system roots plus /etc/docker/certs.d/<host>/*.crt (here
    a temp certs.d). An unknown CA, or a client certificate, leaves the question to the Engine,
    which answers the same digest."""
    app = App(bed, tls_registry, images, f"ddtest-{bed.run_id}-tls", "tls", free_port())
    try:
        ref = app.publish("v1")
        certs_d = tmp_path / "certs.d"
        monkeypatch.setenv("SALTEXT_DOCKER_DEPLOY_CERTS_D", str(certs_d))
        unknown_ca = docker_deploy.check(ref)
        assert unknown_ca["via"] == "engine"

        registry_dir = certs_d / tls_registry.host
        registry_dir.mkdir(parents=True)
        shutil.copy(tls_registry.ca, registry_dir / "ca.crt")
        trusted = docker_deploy.check(ref)
        assert trusted["via"] == "registry"
        assert trusted["remote_digest"] == unknown_ca["remote_digest"]

        (registry_dir / "client.cert").write_text("a client certificate only the Engine sends")
        assert docker_deploy.check(ref)["via"] == "engine"
    finally:
        app.remove()


def test_remove_takes_what_an_interrupted_or_kept_redeploy_left(app):
    app.publish("v1")
    app.deploy()
    backup = inspect(app.name)["Id"]
    # rollback=False keeps the failed container and the stopped previous one.
    app.publish("exits")
    with pytest.raises(docker_deploy.ContainerStartError):
        app.deploy(rollback=False)
    assert inspect(f"{app.name}.deploy-old")["Id"] == backup
    gone = docker_deploy.remove(app.name)
    assert gone["removed"] and gone["helpers_removed"] == [f"{app.name}.deploy-old"], gone
    assert app.bed.containers(app.name) == []


def test_remove_outwaits_a_slow_stop(app, monkeypatch):
    """The container ignores SIGTERM: its stop takes its whole shutdown_timeout (5 s), longer
    than one Engine call may take here (2 s). Once that read as an unreachable Engine."""
    app.ref = app.bed.publish(app.registry, app.images["stubborn-v1"], app.repo, "prod")
    app.deploy()
    monkeypatch.setenv("SALTEXT_DOCKER_DEPLOY_ENGINE_TIMEOUT", "2")
    started = time.monotonic()
    gone = docker_deploy.remove(app.name)
    assert gone["removed"] and inspect(app.name) is None
    assert time.monotonic() - started >= 4, "the stop waited out the container's stop timeout"
