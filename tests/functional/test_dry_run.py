"""The dry run is the real run with the switch on: scenario by scenario, ``dry_run=True``
predicts what the real run then does (the same action, or the same error), makes no call that
changes anything (no Engine event for the containers or the repository while it runs), and
leaves everything as it was.

Each scenario prepares the Engine and the registry, then ``dry_then_real`` runs the dry run,
reads the Engine's events over its window, and runs the real thing.
"""

from __future__ import annotations

import json
import time

import pytest

from saltext import docker_deploy
from tests.support.deploying import Run, replica_ports
from tests.support.testbed import container_events, docker, engine_events, inspect


def outcome(call):
    """What a call did: its action, or the name of the error it raised; and the result."""
    try:
        result = call()
    except docker_deploy.DeployError as err:
        return type(err).__name__, err
    return result["action"], result


def snapshot(app) -> list[tuple[str, str, str]]:
    """Every container of the app (also helpers and replicas): name, ID, state."""
    names = docker("ps", "-a", "--format", "{{.Names}}", "--filter", f"name={app.name}").split()
    return sorted((n, inspect(n)["Id"], inspect(n)["State"]["Status"]) for n in names)


def dry_then_real(app, run, **kwargs):
    """`run(dry_run=..., **kwargs)` as a dry run, then for real. The dry run must leave every
    container as it was and cause no container or image event of the app."""
    before = snapshot(app)
    local_tags = docker("images", "-q", f"{app.registry.host}/{app.repo}", check=False)
    since = time.time()
    dry = outcome(lambda: run(dry_run=True, **kwargs))
    until = time.time()
    events = container_events(since, until, app.name) + [
        e for e in engine_events(since, until, "image") if app.repo in json.dumps(e)
    ]
    assert events == [], f"the dry run changed something: {events}"
    assert snapshot(app) == before
    assert docker("images", "-q", f"{app.registry.host}/{app.repo}", check=False) == local_tags
    real = outcome(lambda: run(dry_run=False, **kwargs))
    assert dry[0] == real[0], f"predicted {dry}, then did {real}"
    return dry[1], real[1]


def redeploy(app, **overrides):
    def run(**kwargs):
        return app.deploy(**overrides, **kwargs)

    return run


def test_first_deploy(app):
    app.publish("v1")
    dry, real = dry_then_real(app, redeploy(app))
    assert dry["action"] == "created" and dry["dry_run"] is True
    assert dry["comment"] == f'would create "{app.name}": no container under that name'
    assert dry["changes"]["container_id"] == {"old": None, "new": None}
    assert real["dry_run"] is False and real["changes"]["container_id"]["new"]


def test_no_op(app):
    app.publish("v1")
    app.deploy()
    dry, _ = dry_then_real(app, redeploy(app))
    assert dry["action"] == "none" and dry["changes"] == {}


def test_tag_moved_in_the_registry(app):
    app.publish("v1")
    first = app.deploy()
    app.publish("v2")
    dry, real = dry_then_real(app, redeploy(app))
    assert dry["action"] == "replaced"
    # Not pulled: what a pull would bring is known by its digest only.
    assert dry["pending_digest"] == real["pull"]["digest"].split("@")[1]
    assert dry["changes"]["image"]["old"] == first["image_id"]
    assert "registry digest now" in dry["comment"]
    assert real["image_id"] != first["image_id"]


def test_spec_drift(app):
    app.publish("v1")
    app.deploy()
    dry, _ = dry_then_real(app, redeploy(app, environment={"TOKEN": "s3cret-value"}))
    assert dry["action"] == "replaced"
    assert dry["reasons"] == ["declared settings changed: environment"]
    assert "s3cret-value" not in json.dumps(dry)


def test_a_stopped_container(app):
    app.publish("v1")
    app.deploy()
    docker("stop", "-t", "1", app.name)
    dry, _ = dry_then_real(app, redeploy(app))
    assert dry["action"] == "started"
    assert dry["changes"] == {"status": {"old": "exited", "new": "running"}}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("never", "none"), ("missing", "none"), ("always", "replaced"), ("if-changed", "replaced")],
)
def test_every_pull_policy_with_the_registry_ahead_of_the_local_tag(app, policy, expected):
    """The registry holds v2, the local tag v1 (the container runs it): `never` and `missing`
    deploy the local tag (nothing to do), `always` and `if-changed` pull v2."""
    app.publish("v1")
    app.deploy()
    local = docker("image", "inspect", "-f", "{{.Id}}", app.ref)
    app.publish("v2")
    docker("tag", local, app.ref)
    dry, _ = dry_then_real(app, redeploy(app, pull_policy=policy))
    assert dry["action"] == expected


def test_replicas(app):
    app.publish("v1")
    first = replica_ports(2)
    spec = {"port_bindings": [f"127.0.0.1:{first}-{first + 1}:80"]}
    dry, _ = dry_then_real(app, redeploy(app, replicas=2, **spec))
    assert dry["action"] == "updated"
    assert [r["action"] for r in dry["results"]] == ["created", "created"]
    app.publish("v2")
    dry, real = dry_then_real(app, redeploy(app, replicas=2, **spec))
    assert [r["action"] for r in dry["results"]] == ["replaced", "replaced"]
    assert [r["action"] for r in real["results"]] == ["replaced", "replaced"]
    # Scaling down: the replica beyond the count would go, and then goes.
    one = {"port_bindings": [f"127.0.0.1:{first}:80"]}
    dry, real = dry_then_real(app, redeploy(app, replicas=1, **one))
    assert dry["removed"] == real["removed"] == [f"{app.name}-2"]


def test_a_group_with_a_failing_entry(app):
    app.publish("v1")
    app.deploy()
    app.publish("v2")
    missing = f"{app.registry.host}/{app.repo}-missing:prod"
    entries = [
        {"name": app.name, "image": app.ref, "min_uptime": 0.5, **app.spec()},
        {"name": f"{app.name}-x", "image": missing, **app.spec(port_bindings=[])},
    ]

    def run(dry_run):
        return docker_deploy.redeploy_group(entries, dry_run=dry_run)

    before = snapshot(app)
    since = time.time()
    dry = run(True)
    until = time.time()
    events = container_events(since, until, app.name) + [
        e for e in engine_events(since, until, "image") if app.repo in json.dumps(e)
    ]
    assert events == [] and snapshot(app) == before
    real = run(False)
    assert [(e["name"], e["error"]) for e in dry] == [(e["name"], e["error"]) for e in real]
    assert dry[0]["report"]["action"] == real[0]["report"]["action"] == "replaced"
    assert dry[0]["report"]["dry_run"] is True
    assert dry[1]["error"] == "ImageNotFound"


def test_an_interrupted_run_waiting_to_be_recovered(app, tmp_path):
    app.publish("v1")
    app.deploy()
    app.publish("v2")
    # A run killed after it stopped the old container and moved it aside.
    run = Run(app, tmp_path, pause="rename:1")
    run.wait_paused()
    run.kill()
    assert inspect(f"{app.name}.deploy-old") is not None
    dry, real = dry_then_real(app, redeploy(app))
    assert dry["recovered"] and real["recovered"]
    assert dry["comment"].startswith("would recover an interrupted redeploy first")
    assert dry["action"] == "replaced"
    assert snapshot(app) == [(app.name, real["container_id"], "running")]


def test_a_foreign_container_under_a_helper_name(app):
    app.publish("v1")
    app.deploy()
    foreign = f"{app.name}.deploy-new"
    docker("create", "--name", foreign, "--label", app.bed.label, app.images["v1"])
    before = inspect(foreign)["Id"]
    dry, real = dry_then_real(app, redeploy(app, force=True))
    assert isinstance(dry, docker_deploy.DeployError)
    assert "did not create" in str(dry) and str(dry) == str(real)
    assert inspect(foreign)["Id"] == before


def test_remove_and_rollback(app):
    app.publish("v1")
    app.deploy()
    app.publish("v2")
    app.deploy()
    dry, real = dry_then_real(
        app, lambda **kw: docker_deploy.rollback(app.name, min_uptime=0.5, **kw)
    )
    assert dry["comment"].startswith(f'would roll back "{app.name}"')
    assert dry["image_id"] == real["image_id"]
    since = time.time()
    dry = docker_deploy.remove(app.name, dry_run=True)
    assert container_events(since, time.time(), app.name) == []
    assert dry["removed"] is True and dry["dry_run"] is True and inspect(app.name) is not None
    assert docker_deploy.remove(app.name)["removed"] is True


def test_the_registry_tag_moved_back_after_a_rollback(app):
    """After a rollback the container records no digest; the registry's tag moved back to the
    image it runs (a pipeline re-pointing `prod`, nothing pushed from this host): a real run
    pulls and finds that very image (nothing to do), and the dry run must say so, not predict
    a replacement by the digest alone. It knows the image by the digest it was pulled under."""
    app.publish("v1")
    app.bed.publish(app.registry, app.images["v1"], app.repo, "v1")
    app.deploy()
    app.publish("v2")
    app.deploy()
    docker_deploy.rollback(app.name, min_uptime=0.5)
    app.registry.retag(app.repo, "v1", "prod")
    dry, real = dry_then_real(app, redeploy(app))
    assert dry["action"] == real["action"] == "none", (dry, real)


def test_a_missing_network_is_predicted_as_the_failure_it_would_be(app):
    app.publish("v1")
    app.deploy()
    dry, real = dry_then_real(app, redeploy(app, networks=[f"{app.name}-no-such-network"]))
    assert isinstance(dry, docker_deploy.ContainerStartError), dry
    assert "could not be created" in str(dry) and "could not be created" in str(real)


def test_a_dry_run_neither_takes_nor_waits_for_a_held_lock(app, tmp_path):
    """While a real run holds the container's lock (paused after its plan), a dry run answers
    at once, says another run is at work, and changes nothing; the real run then goes on."""
    app.publish("v1")
    app.deploy()
    app.publish("v2")
    holder = Run(app, tmp_path, pause="plan")
    holder.wait_paused()
    try:
        started = time.monotonic()
        report = app.deploy(dry_run=True, lock_timeout=30)
        assert time.monotonic() - started < 10
        assert report["action"] == "replaced" and report["dry_run"] is True
        assert any("another run is redeploying" in w for w in report["warnings"]), report
    finally:
        holder.release()
    assert holder.outcome()["action"] == "replaced"
