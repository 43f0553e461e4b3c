"""Data in anonymous volumes survives every redeploy: an image's ``VOLUME`` (where postgres,
mysql, redis keep their data) and the declared ``volumes`` move to the new container at the
same paths, in every strategy, through a rollback, a recovery after a kill and the first run
over a container made by hand; no volume is left dangling by a redeploy. With
``renew_anonymous_volumes`` the new container starts empty and the old volumes go.
"""

from __future__ import annotations

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import RolledBack
from tests.support.apps import IMAGE_VOLUME
from tests.support.deploying import Run, assert_serving, identity, publish_variant
from tests.support.testbed import docker, inspect, volumes_of


def volume_at(name: str, path: str) -> str | None:
    found = inspect(name) or {}
    for mount in found.get("Mounts") or []:
        if mount.get("Type") == "volume" and mount.get("Destination") == path:
            return mount["Name"]
    return None


def write(app, path: str, text: str) -> None:
    docker("exec", app.name, "/bin/busybox", "sh", "-c", f"echo {text} > {path}/file")


def read(app, path: str) -> str:
    return docker("exec", app.name, "/bin/busybox", "cat", f"{path}/file", check=False)


def volume_exists(name: str) -> bool:
    return bool(docker("volume", "ls", "-q", "--filter", f"name=^{name}$"))


def dangling() -> set[str]:
    return set(docker("volume", "ls", "-q", "--filter", "dangling=true").split())


@pytest.fixture
def with_data(app):
    """The app on an image with a VOLUME, data written into it; v2 (same VOLUME) published."""
    publish_variant(app, "volume-v1")
    app.deploy()
    write(app, IMAGE_VOLUME, "kept-across-redeploys")
    volume = volume_at(app.name, IMAGE_VOLUME)
    assert volume, "the image's VOLUME gives the container an anonymous volume"
    publish_variant(app, "volume-v2")
    return app, volume


@pytest.mark.parametrize("strategy", ["create-first", "stop-first", "start-first"])
def test_an_image_volume_moves_to_the_new_container_in_every_strategy(app, strategy):
    spec = {"port_bindings": ["127.0.0.1::80"]} if strategy == "start-first" else {}
    publish_variant(app, "volume-v1")
    app.deploy(strategy=strategy, **spec)
    write(app, IMAGE_VOLUME, f"data-{strategy}")
    volume = volume_at(app.name, IMAGE_VOLUME)
    publish_variant(app, "volume-v2")
    before = dangling()
    report = app.deploy(strategy=strategy, **spec)
    assert report["action"] == "replaced"
    assert volume_at(app.name, IMAGE_VOLUME) == volume, "the same volume, at the same path"
    assert read(app, IMAGE_VOLUME) == f"data-{strategy}"
    assert dangling() - before == set(), "a redeploy leaves no volume dangling"
    assert app.bed.containers(app.name) == [app.name]


def test_declared_volumes_move_too_and_force_keeps_them(app):
    app.publish("v1")
    app.deploy(volumes=["/cache"])
    write(app, "/cache", "declared")
    volume = volume_at(app.name, "/cache")
    app.publish("v2")
    app.deploy(volumes=["/cache"])
    assert volume_at(app.name, "/cache") == volume and read(app, "/cache") == "declared"
    forced = app.deploy(volumes=["/cache"], force=True)
    assert forced["action"] == "replaced"
    assert volume_at(app.name, "/cache") == volume and read(app, "/cache") == "declared"
    # A bind declared at the path wins over the volume there: nothing is taken over.
    bound = app.bed.workdir / f"bind-{app.name}"
    bound.mkdir()
    app.deploy(volumes=["/cache"], binds=[f"{bound}:/cache"])
    assert volume_at(app.name, "/cache") is None
    assert volume_exists(volume), "the volume no longer declared is kept, never deleted"
    docker("volume", "rm", volume)


def test_a_rolled_back_redeploy_keeps_the_data_and_leaves_no_new_volume(with_data):
    app, volume = with_data
    before_id = identity(app.name)
    publish_variant(app, "volume-exits")
    before = dangling()
    with pytest.raises(RolledBack) as err:
        app.deploy()
    assert "rollback" in [s["step"] for s in err.value.report["steps"]]
    assert identity(app.name) == before_id
    assert volume_at(app.name, IMAGE_VOLUME) == volume
    assert read(app, IMAGE_VOLUME) == "kept-across-redeploys"
    # The failed container took the volume over and had a fresh one at its extra VOLUME: the
    # first is back with the old container, the second went with the failed one.
    assert dangling() - before == set()
    assert_serving(app, "v1")


def test_a_kill_mid_redeploy_then_recovery_keeps_the_data(with_data, tmp_path):
    app, volume = with_data
    run = Run(app, tmp_path, pause="rename:2")
    run.wait_paused()
    run.kill()
    report = app.deploy()
    assert report["recovered"], report
    assert volume_at(app.name, IMAGE_VOLUME) == volume
    assert read(app, IMAGE_VOLUME) == "kept-across-redeploys"
    assert_serving(app, "v2")


def test_the_first_run_over_a_container_made_by_hand_keeps_its_data(app):
    publish_variant(app, "volume-v1")
    docker("pull", app.ref, quiet=True)
    docker(
        "run", "-d", "--name", app.name, "--label", app.bed.label,
        "-p", f"127.0.0.1:{app.port}:80", app.ref,
    )  # fmt: skip
    write(app, IMAGE_VOLUME, "made-by-hand")
    volume = volume_at(app.name, IMAGE_VOLUME)
    report = app.deploy()
    assert report["action"] == "replaced" and "declared_settings_recorded" in report["changes"]
    assert volume_at(app.name, IMAGE_VOLUME) == volume
    assert read(app, IMAGE_VOLUME) == "made-by-hand"
    assert_serving(app, "v1")


def test_rollback_to_the_previous_image_keeps_the_data(with_data):
    app, volume = with_data
    app.deploy()
    write(app, IMAGE_VOLUME, "written-by-v2")
    back = docker_deploy.rollback(app.name, min_uptime=0.5)
    assert back["action"] == "replaced"
    assert volume_at(app.name, IMAGE_VOLUME) == volume
    assert read(app, IMAGE_VOLUME) == "written-by-v2"
    assert_serving(app, "v1")


def test_renew_anonymous_volumes_starts_empty_and_removes_the_old_volume(with_data):
    app, volume = with_data
    # First a plain redeploy: the volume is now mounted by name in the new container, which
    # the Engine never removes with a container; renewing must still remove it.
    app.deploy()
    publish_variant(app, "volume-v1")
    before = dangling()
    report = app.deploy(renew_anonymous_volumes=True)
    assert report["action"] == "replaced"
    fresh = volume_at(app.name, IMAGE_VOLUME)
    assert fresh and fresh != volume
    assert read(app, IMAGE_VOLUME) == "", "a renewed volume starts empty"
    assert not volume_exists(volume), "the renewed volume goes with the old container"
    assert dangling() - before == set()
    assert volumes_of(app.name) == [fresh]


def test_a_named_volume_is_never_taken_over_nor_removed(app):
    """A container made by hand with a named volume where the image declares a VOLUME, then
    deployed without a bind for it: the new container gets a fresh volume there (the state
    decides what is bound), the named one is kept, and the report says so."""
    publish_variant(app, "volume-v1")
    docker("pull", app.ref, quiet=True)
    named = f"{app.name}-named"
    docker("volume", "create", "--label", app.bed.label, named)
    docker(
        "run", "-d", "--name", app.name, "--label", app.bed.label,
        "-v", f"{named}:{IMAGE_VOLUME}", "-p", f"127.0.0.1:{app.port}:80", app.ref,
    )  # fmt: skip
    write(app, IMAGE_VOLUME, "in-the-named-volume")
    for renew in (False, True):
        report = app.deploy(force=True, renew_anonymous_volumes=renew)
        assert report["action"] == "replaced"
        assert volume_at(app.name, IMAGE_VOLUME) != named
        assert volume_exists(named), f"renew={renew} removed a named volume"
        if not renew:
            assert any(named in w and "binds" in w for w in report["warnings"]), report
    # Declared, it is mounted again, with its data; the anonymous one is kept, unused.
    anonymous = volume_at(app.name, IMAGE_VOLUME)
    report = app.deploy(binds=[f"{named}:{IMAGE_VOLUME}"])
    assert read(app, IMAGE_VOLUME) == "in-the-named-volume"
    assert volume_exists(anonymous) and any(anonymous in w for w in report["warnings"]), report
    docker("rm", "-f", app.name)
    docker("volume", "rm", named, anonymous, check=False)


def test_a_container_started_with_rm_is_refused_untouched(app):
    """Stopping it would delete it (and its anonymous volumes): it cannot be the backup."""
    publish_variant(app, "volume-v1")
    docker("pull", app.ref, quiet=True)
    found = docker(
        "run", "-d", "--rm", "--name", app.name, "--label", app.bed.label,
        "-p", f"127.0.0.1:{app.port}:80", app.ref,
    )  # fmt: skip
    with pytest.raises(docker_deploy.DeployError, match="--rm") as err:
        app.deploy()
    assert "nothing was changed" in str(err.value)
    assert identity(app.name)[0] == found and inspect(app.name)["State"]["Running"]
