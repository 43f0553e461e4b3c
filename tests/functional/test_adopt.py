"""Switching over without a restart: a container this tool did not create (by hand, or by
Salt's `docker_container.running`) that runs the declared image with every declared setting is
adopted, not replaced: no Engine event that changes it, and its record kept beside its lock,
where the next run's no-op reads it. One that differs is replaced, naming what differs."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.support.apps import LOCK_DIR
from tests.support.testbed import container_events, docker, inspect, wait_http


def run_by_hand(app, *extra: str) -> str:
    """`docker run` of the app's image with the app's settings (and `extra` options)."""
    docker("pull", "-q", app.ref)
    label_key, label_value = next(iter(app.bed.labels.items()))
    return docker(
        "run", "-d", "--name", app.name, "--label", f"{label_key}={label_value}",
        "-p", f"127.0.0.1:{app.port}:80", "--stop-timeout", "5", *extra, app.ref,
    )  # fmt: skip


def test_a_container_that_runs_the_declaration_is_adopted_without_a_restart(app):
    app.publish("v1")
    made = run_by_hand(app, "-e", "APP_ENV=prod", "--cap-add", "NET_ADMIN")
    started = inspect(app.name)["State"]["StartedAt"]
    spec = {"environment": {"APP_ENV": "prod"}, "cap_add": ["NET_ADMIN"]}

    predicted = app.deploy(dry_run=True, **spec)
    assert predicted["action"] == "adopted", predicted
    assert not list(Path(LOCK_DIR).glob(f"{app.name}@adopted@*.json")), "a dry run keeps nothing"

    since = time.time()
    adopted = app.deploy(**spec)
    until = time.time()
    assert adopted["action"] == "adopted", adopted
    assert adopted["changes"] == {"declared_settings_recorded": {"old": False, "new": True}}
    assert "runs the declared image with every declared setting" in adopted["comment"]
    assert container_events(since, until, app.name) == []
    assert inspect(app.name)["Id"] == made and inspect(app.name)["State"]["StartedAt"] == started
    assert wait_http(app.port, "v1") == "v1"
    (record,) = Path(LOCK_DIR).glob(f"{app.name}@adopted@*.json")
    assert oct(record.stat().st_mode & 0o777) in ("0o600", "0o640")
    assert json.loads(record.read_text())["container"] == made

    # The next run finds the record beside the lock: nothing to do, by the registry's digest.
    again = app.deploy(**spec)
    assert again["action"] == "none", again
    assert [s["step"] for s in again["steps"]] == ["check", "plan"]

    # Then it is ours like any other: a new image replaces it, and the record is forgotten.
    app.publish("v2")
    replaced = app.deploy(**spec)
    assert replaced["action"] == "replaced"
    assert inspect(app.name)["Config"]["Labels"]["io.saltext.docker-deploy.name"] == app.name
    assert not list(Path(LOCK_DIR).glob(f"{app.name}@adopted@*.json"))
    assert wait_http(app.port, "v2") == "v2"


def test_a_container_that_differs_is_replaced_naming_the_settings(app):
    app.publish("v1")
    made = run_by_hand(app, "-e", "APP_ENV=dev")
    replaced = app.deploy(environment={"APP_ENV": "prod"}, privileged=False, read_only=False)
    assert replaced["action"] == "replaced"
    assert replaced["reasons"] == [
        "the container (not made by this tool) differs from the declaration in: environment"
    ]
    assert inspect(app.name)["Id"] != made
    assert "APP_ENV=prod" in inspect(app.name)["Config"]["Env"]


def test_a_stopped_container_that_runs_the_declaration_is_started_and_adopted(app):
    app.publish("v1")
    made = run_by_hand(app)
    docker("stop", "-t", "1", app.name)
    started = app.deploy()
    assert started["action"] == "started", started
    assert started["changes"]["declared_settings_recorded"] == {"old": False, "new": True}
    assert inspect(app.name)["Id"] == made
    assert app.deploy()["action"] == "none"


def test_what_is_set_though_not_declared_is_replaced_not_adopted(app):
    """A container that runs the declared image and settings, but also a restart policy, a
    capability and a variable nobody declared, is not what this tool would build."""
    app.publish("v1")
    made = run_by_hand(app, "--restart", "always", "--cap-add", "SYS_TIME", "-e", "DEBUG=1")
    replaced = app.deploy()
    assert replaced["action"] == "replaced", replaced
    (reason,) = replaced["reasons"]
    for name in ("environment", "restart_policy", "cap_add"):
        assert f"{name} (not declared)" in reason, reason
    assert inspect(app.name)["Id"] != made


def test_a_container_on_another_network_is_replaced_not_adopted(app):
    app.publish("v1")
    network = f"{app.name}-net"
    docker("network", "create", "--label", app.bed.label, network)
    try:
        made = run_by_hand(app, "--network", network)
        replaced = app.deploy(port_bindings=[f"127.0.0.1:{app.port}:80"])
        assert replaced["action"] == "replaced"
        assert "networks (not declared)" in replaced["reasons"][0], replaced["reasons"]
        assert inspect(app.name)["Id"] != made
    finally:
        app.remove()
        docker("network", "rm", network, check=False)


def test_an_adoption_record_that_cannot_be_written_is_a_warning(app):
    """The container runs as declared either way: the run succeeds, says the record was not
    kept, and the next run compares the container again (and adopts it again)."""
    app.publish("v1")
    made = run_by_hand(app)
    assert app.deploy(dry_run=True)["action"] == "adopted"
    (lock,) = Path(LOCK_DIR).glob(f"{app.name}@*.lock")
    engine = lock.name.removeprefix(f"{app.name}@").removesuffix(".lock")
    blocker = Path(LOCK_DIR) / f"{app.name}@adopted@{engine}.json"
    blocker.mkdir()  # a rename onto a directory fails
    try:
        adopted = app.deploy()
        assert adopted["action"] == "adopted", adopted
        (warning,) = [w for w in adopted["warnings"] if "adoption record" in w]
        assert str(blocker) in warning and "compares it again" in warning, warning
        assert inspect(app.name)["Id"] == made
        assert app.deploy()["action"] == "adopted"
        assert not list(Path(LOCK_DIR).glob(f".{app.name}@adopted@*")), "no partial record left"
    finally:
        blocker.rmdir()
