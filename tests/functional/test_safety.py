"""Safe redeploy against the real engine: verification, rollback, strategies, kills at step
boundaries, the host lock, rollback(), keep_images, rolling replicas, data in volumes.

Every test ends by checking what should hold after any redeploy: the service answers on its
port, exactly the containers that should exist exist, and the data written before is there.
"""

from __future__ import annotations

import socket
import time

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import (
    ContainerStartError,
    DeployError,
    InvalidSpec,
    LockTimeout,
    RolledBack,
)
from tests.support.deploying import (
    BOUNDARIES,
    Run,
    assert_serving,
    identity,
    publish_variant,
    registry_only,
    replica_ports,
    write_data,
)
from tests.support.testbed import docker, inspect, wait_for, wait_http


@pytest.fixture
def serving(app):
    """The app on v1 with data in a named volume; v2 published under the same tag."""
    app.publish("v1")
    volume = app.volume
    app.deploy(binds=[f"{volume}:/data"])
    write_data(app, "written-by-v1")
    before = identity(app.name)
    return app, before, {"binds": [f"{volume}:/data"]}


# --- verification and rollback ---------------------------------------------------------------


def test_an_image_that_exits_at_once_is_rolled_back(serving):
    app, before, spec = serving
    publish_variant(app, "exits")
    with pytest.raises(RolledBack) as err:
        app.deploy(**spec)
    message = str(err.value)
    assert app.ref in message and "exit code 3" in message, message
    assert "cannot start: no config" in message, "the container's last output says why"
    assert "restored" in message and before[1][:19] in message, "must say what runs now"
    assert isinstance(err.value, ContainerStartError) and isinstance(err.value, DeployError)
    report = err.value.report
    assert report["action"] == "rolled-back" and report["previous_image_id"] == before[1]
    assert [s["step"] for s in report["steps"]].count("rollback") == 1
    assert identity(app.name) == before, "the previous container itself must be back"
    assert_serving(app, "v1", data="written-by-v1")


def test_an_exit_within_min_uptime_is_caught_when_it_happens(serving):
    # Without a HEALTHCHECK the run waits for the container's exit (the Engine's wait) rather
    # than polling: the exit a second in must end the wait then, not at min_uptime's end.
    app, before, spec = serving
    publish_variant(app, "exits-later")
    with pytest.raises(RolledBack, match=r"exit code 0") as err:
        app.deploy(min_uptime=20, **spec)
    assert "lost the database" in str(err.value), "the container's last output says why"
    steps = err.value.report["steps"]
    (failed,) = [s for s in steps if s["step"] == "verify" and s["detail"].startswith("failed")]
    assert "exit code 0" in failed["detail"], failed
    assert failed["duration_ms"] < 10_000, f"the exit ended the wait only at min_uptime: {failed}"
    assert identity(app.name) == before
    assert_serving(app, "v1", data="written-by-v1")


def test_a_crash_its_restart_policy_answered_before_verification_is_caught(serving, tmp_path):
    # The new container crashes at once and its restart policy runs it again, all while the run
    # is paused after its start step: its first look sees it running with one restart. A start
    # through the API resets the count, so that one restart must fail it.
    app, before, spec = serving
    publish_variant(app, "crashes-once")
    run = Run(app, tmp_path, pause="start:1", restart_policy="always", min_uptime=1, **spec)
    run.wait_paused()
    # Under create-first the new container holds the name by now.
    restarted = wait_for(lambda: inspect(app.name)["RestartCount"] >= 1, timeout=30)
    assert restarted and inspect(app.name)["State"]["Running"], "the crash was not answered yet"
    run.release()
    outcome = run.outcome()
    assert outcome.get("error") == "RolledBack", outcome
    assert "restart" in outcome["message"] and "crashing once" in outcome["message"], outcome
    assert identity(app.name) == before
    assert_serving(app, "v1", data="written-by-v1")


def test_a_failing_healthcheck_is_rolled_back_with_its_log(serving):
    app, before, spec = serving
    publish_variant(app, "unhealthy")
    with pytest.raises(RolledBack, match="unhealthy") as err:
        app.deploy(**spec)
    assert "db unreachable" in str(err.value), "the health log tail belongs in the message"
    assert identity(app.name) == before
    assert_serving(app, "v1", data="written-by-v1")


def test_an_image_never_healthy_within_health_timeout_is_rolled_back(serving):
    app, _, spec = serving
    publish_variant(app, "never-healthy")
    started = time.monotonic()
    with pytest.raises(RolledBack, match=r"did not become healthy within 3 s"):
        app.deploy(health_timeout=3, **spec)
    assert time.monotonic() - started < 60, "health_timeout must bound the wait"
    assert_serving(app, "v1", data="written-by-v1")


def test_a_healthy_image_is_accepted_once_healthy(serving):
    app, _, spec = serving
    publish_variant(app, "healthy")
    report = app.deploy(**spec)
    assert report["action"] == "replaced"
    assert inspect(app.name)["State"]["Health"]["Status"] == "healthy"
    assert_serving(app, "healthy", data="written-by-v1")


def test_a_restart_loop_under_restart_policy_always_is_rolled_back(serving):
    app, before, spec = serving
    publish_variant(app, "exits")
    with pytest.raises(RolledBack, match=r"restart|exit code 3"):
        app.deploy(restart_policy="always", min_uptime=3, **spec)
    assert identity(app.name) == before
    assert_serving(app, "v1", data="written-by-v1")


def test_a_declared_healthcheck_gates_the_redeploy(serving):
    app, before, spec = serving
    # The image is FROM scratch, with no /bin/sh for a shell-string test: argv form.
    failing = {
        "test": ["/bin/busybox", "sh", "-c", "echo declared check failed; exit 1"],
        "interval": "1s",
        "retries": 1,
    }
    with pytest.raises(RolledBack, match="declared check failed"):
        app.deploy(healthcheck=failing, **spec)
    assert identity(app.name) == before
    passing = {"test": ["/bin/busybox", "true"], "interval": 0.5, "retries": 1}
    report = app.deploy(healthcheck=passing, **spec)
    assert report["action"] == "replaced" and "healthcheck" in report["changes"]
    assert inspect(app.name)["State"]["Health"]["Status"] == "healthy"
    assert_serving(app, "v1", data="written-by-v1")


def test_rollback_false_keeps_the_failed_container_and_the_stopped_backup(serving):
    app, before, spec = serving
    publish_variant(app, "exits")
    with pytest.raises(ContainerStartError, match="rollback=False") as err:
        app.deploy(rollback=False, **spec)
    assert not isinstance(err.value, RolledBack)
    backup = inspect(f"{app.name}.deploy-old")
    assert backup["Id"] == before[0] and not backup["State"]["Running"]
    assert inspect(app.name)["Config"]["Cmd"][-1].endswith("exit 3"), "kept for inspection"
    # The next run (rollback on) converges back to the backup, then fails the new image again.
    with pytest.raises(DeployError):
        app.deploy(**spec)
    assert identity(app.name) == before
    assert_serving(app, "v1", data="written-by-v1")


def test_the_image_deleted_between_pull_and_create_keeps_the_old_one(serving, tmp_path):
    app, before, spec = serving
    local = f"ddtest-{app.bed.run_id}/web:doomed"
    doomed = app.bed.build(local, "v2")
    app.ref = app.bed.publish(app.registry, local, app.repo, "prod")
    started_at = inspect(app.name)["State"]["StartedAt"]
    run = Run(app, tmp_path, pause="plan", **spec)
    run.wait_paused()
    docker("rmi", "-f", doomed)
    run.release()
    outcome = run.outcome()
    assert outcome.get("error") == "ContainerStartError", outcome
    assert "could not be created" in outcome["message"] and "left running" in outcome["message"]
    found = inspect(app.name)
    assert (found["Id"], found["Image"]) == before
    assert found["State"]["StartedAt"] == started_at, "the old one was never stopped"
    assert_serving(app, "v1", data="written-by-v1")


@pytest.mark.parametrize("slot", ["deploy-new", "deploy-old"])
def test_a_name_we_need_held_by_a_foreign_container_is_refused_untouched(serving, slot):
    app, before, spec = serving
    app.publish("v2")
    foreign = f"{app.name}.{slot}"
    foreign_id = docker("create", "--name", foreign, "--label", app.bed.label, app.images["v1"])
    with pytest.raises(DeployError, match="did not create") as err:
        app.deploy(**spec)
    assert foreign in str(err.value) and "left as it was" in str(err.value)
    assert identity(app.name) == before and inspect(foreign)["Id"] == foreign_id
    docker("rm", "-f", foreign)
    assert_serving(app, "v1", data="written-by-v1")


# --- strategies -------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["create-first", "stop-first"])
def test_strategies_with_a_fixed_port_replace_and_report_downtime(serving, strategy):
    app, before, spec = serving
    app.publish("v2")
    report = app.deploy(strategy=strategy, **spec)
    assert report["action"] == "replaced" and report["strategy"] == strategy
    assert 0 < report["downtime_ms"] < 10_000
    assert report["previous_image_id"] == before[1] and report["image_id"] != before[1]
    steps = [s["step"] for s in report["steps"]]
    if strategy == "create-first":
        assert steps.index("create") < steps.index("stop") < steps.index("start"), steps
    else:
        # stop-first: nothing new starts before the old one has stopped.
        assert steps.index("create") < steps.index("rename") < steps.index("stop"), steps
        assert steps.index("stop") < steps.index("start"), steps
    assert_serving(app, "v2", data="written-by-v1")


def test_start_first_runs_the_new_one_before_the_old_one_stops(app):
    app.publish("v1")
    spec = {"port_bindings": ["127.0.0.1::80"], "strategy": "start-first"}
    app.deploy(**spec)
    app.publish("v2")
    report = app.deploy(**spec)
    assert report["action"] == "replaced" and report["downtime_ms"] == 0
    steps = [s["step"] for s in report["steps"]]
    assert steps.index("verify") < steps.index("stop"), steps
    port = int(inspect(app.name)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
    assert wait_http(port, "v2") == "v2"
    assert app.bed.containers(app.name) == [app.name]


def test_start_first_with_a_fixed_host_port_is_invalid_before_any_call(app):
    app.publish("v1")
    with pytest.raises(InvalidSpec, match="start-first") as err:
        app.deploy(strategy="start-first")
    assert str(app.port) in str(err.value) and "nothing was changed" in str(err.value)
    assert inspect(app.name) is None
    with pytest.raises(InvalidSpec, match="blue-green"):
        app.deploy(strategy="blue-green")


# --- crash safety -----------------------------------------------------------------------------


@pytest.mark.parametrize(("strategy", "pause"), BOUNDARIES)
def test_a_kill_at_a_step_boundary_converges_on_the_next_run(serving, tmp_path, strategy, pause):
    app, _, spec = serving
    if strategy == "start-first":
        # No fixed host port with start-first: first move the app to an ephemeral one.
        spec = {**spec, "port_bindings": ["127.0.0.1::80"]}
        app.deploy(**spec)
    app.publish("v2")
    run = Run(app, tmp_path, pause=pause, strategy=strategy, **spec)
    run.wait_paused()
    run.kill()
    left = app.bed.containers(app.name)
    report = app.deploy(strategy=strategy, **spec)
    assert report["action"] in ("replaced", "recovered", "none"), report
    if len(left) > 1:
        assert report["recovered"], f"{left} needed a recovery: {report}"
    if strategy == "start-first":
        app.port = int(inspect(app.name)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
    assert_serving(app, "v2", data="written-by-v1")


def test_a_real_kill_during_a_slow_stop_converges(app, tmp_path):
    """The old container ignores SIGTERM, so its stop takes the whole shutdown_timeout; the
    redeploying process is killed in the middle of it, while the Engine goes on stopping."""
    app.ref = app.bed.publish(app.registry, app.images["stubborn-v1"], app.repo, "prod")
    spec = {"binds": [f"{app.volume}:/data"], "shutdown_timeout": 4}
    app.deploy(**spec)
    write_data(app, "kept")
    app.ref = app.bed.publish(app.registry, app.images["stubborn-v2"], app.repo, "prod")
    run = Run(app, tmp_path, **spec)
    wait_for(lambda: inspect(f"{app.name}.deploy-new") is not None, timeout=60)
    time.sleep(1.0)  # inside the 4 s stop
    assert inspect(app.name)["State"]["Running"], "the stop must still be under way"
    run.kill()
    report = app.deploy(**spec)
    assert report["recovered"] and report["action"] == "replaced", report
    assert_serving(app, "v2", data="kept")


# --- one at a time ----------------------------------------------------------------------------


def test_two_concurrent_runs_never_interleave(serving, tmp_path):
    app, _, spec = serving
    app.publish("v2")
    runs = [Run(app, tmp_path, **spec) for _ in range(2)]
    outcomes = sorted(r.outcome().get("action", "error") for r in runs)
    assert outcomes == ["none", "replaced"], outcomes
    assert_serving(app, "v2", data="written-by-v1")


def test_a_run_waiting_for_the_lock_times_out_then_the_holder_finishes(serving, tmp_path):
    app, _, spec = serving
    app.publish("v2")
    holder = Run(app, tmp_path, pause="create", **spec)
    holder.wait_paused()
    with pytest.raises(LockTimeout, match="another run still holds it") as err:
        app.deploy(lock_timeout=1, **spec)
    assert "nothing was changed" in str(err.value)
    holder.release()
    assert holder.outcome() == {"action": "replaced"}
    assert_serving(app, "v2", data="written-by-v1")


# --- rollback(), keep_images ------------------------------------------------------------------


def test_rollback_goes_back_to_the_previous_image_with_its_data(serving):
    app, before, spec = serving
    app.publish("v2")
    forward = app.deploy(**spec)
    write_data(app, "written-by-v2")
    back = docker_deploy.rollback(app.name, min_uptime=0.5)
    assert back["action"] == "replaced" and back["comment"].startswith("rolled back")
    assert back["image_id"] == before[1] and back["previous_image_id"] == forward["image_id"]
    assert_serving(app, "v1", data="written-by-v2")
    # The rollback is recorded like any redeploy: rolling back again goes forward.
    assert docker_deploy.rollback(app.name, min_uptime=0.5)["image_id"] == forward["image_id"]
    assert_serving(app, "v2", data="written-by-v2")


def test_rollback_without_a_previous_image_says_so(app):
    app.publish("v1")
    app.deploy()
    with pytest.raises(DeployError, match="no previous image"):
        docker_deploy.rollback(app.name)
    with pytest.raises(DeployError, match="no container"):
        docker_deploy.rollback(f"{app.name}-missing")


def images_of(app) -> set[str]:
    """IDs of the local images named by the app's registry repository (tag or digest)."""
    repo = f"{app.registry.host}/{app.repo}"
    out = docker("images", "--digests", "--no-trunc", "--format", "{{.ID}}", repo)
    return set(out.split())


def test_keep_images_removes_old_images_of_the_repository_but_never_one_in_use(app):
    ids = {}
    for version in ("v1", "v2", "v3"):
        registry_only(app, version)
        report = app.deploy(keep_images=2)
        ids[version] = report["image_id"]
    assert report["removed_images"] == [ids["v1"]], report
    assert images_of(app) == {ids["v2"], ids["v3"]}
    registry_only(app, "v4")
    report = app.deploy(keep_images=1)
    assert images_of(app) == {report["image_id"]} and ids["v3"] in report["removed_images"]
    assert_serving(app, "v4")

    # An image in use by any container is never removed, even beyond N.
    held = docker("create", "--label", app.bed.label, report["image_id"])
    try:
        registry_only(app, "v5")
        report = app.deploy(keep_images=1)
        assert images_of(app) == {report["image_id"], inspect(held)["Image"]}
    finally:
        docker("rm", "-f", held)
    assert_serving(app, "v5")


# --- rolling replicas -------------------------------------------------------------------------


def test_a_rolling_update_stops_at_the_failed_replica(app):
    first = replica_ports(3)
    spec = {
        "labels": app.bed.labels,
        "port_bindings": [f"127.0.0.1:{first}-{first + 2}:80"],
        "min_uptime": 0.5,
        "shutdown_timeout": 5,
    }
    app.publish("v1")
    created = docker_deploy.redeploy(app.name, app.ref, replicas=3, **spec)
    assert [r["action"] for r in created["results"]] == ["created"] * 3
    for i in range(3):
        assert wait_http(first + i, "v1") == "v1"
    noop = docker_deploy.redeploy(app.name, app.ref, replicas=3, **spec)
    assert noop["action"] == "none" and noop["changes"] == {}

    # Each replica is verified before the next is touched: a bad image stops at the first.
    publish_variant(app, "exits")
    with pytest.raises(RolledBack) as err:
        docker_deploy.redeploy(app.name, app.ref, replicas=3, **spec)
    assert "replica 1 of 3" in str(err.value) and "no replica was updated" in str(err.value)
    assert err.value.report["action"] == "rolled-back"
    assert identity_image_versions(app, 3) == ["v1", "v1", "v1"]
    for i in range(3):
        assert wait_http(first + i, "v1") == "v1"

    # A good image whose second replica cannot start: its host port is taken.
    app.publish("v2")
    with socket.socket() as holder:
        docker("stop", f"{app.name}-2")
        # Our own HTTP checks left TIME_WAIT connections on that port.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", first + 1))
        holder.listen()
        with pytest.raises(DeployError) as err:
            docker_deploy.redeploy(app.name, app.ref, replicas=3, **spec)
        assert "replica 2 of 3" in str(err.value) and f"{app.name}-1 were updated" in str(err.value)
    assert wait_http(first, "v2") == "v2", "replica 1 is on the new image"
    assert "v1" in identity_image_versions(app, 3)[2], "replica 3 stayed on the old image"
    names = sorted(n for n in app.bed.containers() if n.startswith(app.name + "-"))
    assert names == [f"{app.name}-{i}" for i in (1, 2, 3)], names

    # With the port free again the rollout completes; scaling down removes the extra replica.
    done = docker_deploy.redeploy(app.name, app.ref, replicas=3, **spec)
    assert done["action"] == "updated"
    for i in range(3):
        assert wait_http(first + i, "v2") == "v2"
    spec["port_bindings"] = [f"127.0.0.1:{first}-{first + 1}:80"]
    down = docker_deploy.redeploy(app.name, app.ref, replicas=2, **spec)
    assert down["removed"] == [f"{app.name}-3"] and inspect(f"{app.name}-3") is None


def identity_image_versions(app, count: int) -> list[str]:
    """The `version` label of the image each replica runs."""
    return [
        docker("image", "inspect", "-f", '{{index .Config.Labels "version"}}', image)
        for image in (inspect(f"{app.name}-{i}")["Image"] for i in range(1, count + 1))
    ]


def test_environment_values_in_the_containers_output_are_hidden(serving):
    """The failing image prints "cannot start: no config"; declared as an environment value,
    that text is hidden from the message, the report and its steps."""
    app, before, spec = serving
    publish_variant(app, "exits")
    with pytest.raises(RolledBack) as err:
        app.deploy(environment={"WHY": "no config"}, **spec)
    assert "cannot start: <hidden>" in str(err.value), err.value
    assert "no config" not in str(err.value) and "no config" not in str(err.value.report)
    assert identity(app.name) == before
