"""The Python face against the real engine and registry: pull, image_diff, redeploy."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import (
    ContainerStartError,
    DeployError,
    DockerUnavailable,
    ImageNotFound,
    InvalidSpec,
    RegistryError,
)
from tests.support.testbed import (
    container_events,
    docker,
    free_port,
    http_get,
    inspect,
    wait_http,
)


def identity(name: str) -> tuple[str, str, bool]:
    """(container ID, StartedAt, running) as the Engine reports them."""
    info = inspect(name)
    assert info is not None, f"container {name} does not exist"
    return info["Id"], info["State"]["StartedAt"], info["State"]["Running"]


def assert_untouched(app, before: tuple[str, str, bool], restored: bool = False) -> None:
    """The previous container is the one under the name, running and serving v1. `restored`:
    it was stopped and started again by a rollback, so only its StartedAt may differ."""
    now = identity(app.name)
    if restored:
        assert (now[0], now[2]) == (before[0], True), "the previous container was not restored"
    else:
        assert now == before, "the previous container was changed"
    assert before[2], "the previous container should be running"
    version = "v1"
    assert wait_http(app.port, version) == version
    assert app.bed.containers(app.name) == [app.name], "leftover helper containers"


# --- the flow ----------------------------------------------------------------------------


def test_first_deploy_creates_and_the_same_call_is_a_noop(app):
    app.publish("v1")
    first = app.deploy()
    assert first["action"] == "created"
    assert first["changes"]["container_id"]["old"] is None
    assert first["changes"]["container_id"]["new"] == first["container_id"]
    assert first["previous_image_id"] is None
    assert first["pull"]["previous_id"] is None and first["pull"]["changed"] is True
    assert wait_http(app.port, "v1") == "v1"
    before = identity(app.name)
    assert before[0] == first["container_id"] and before[2]

    since = time.time()
    second = app.deploy()
    until = time.time() + 0.5
    assert second["action"] == "none"
    assert second["changes"] == {}
    assert second["container_id"] == first["container_id"]
    assert second["image_id"] == first["image_id"]
    assert second["pull"]["changed"] is False
    assert identity(app.name) == before, "container ID and StartedAt must not change"
    time.sleep(0.6)  # `docker events --until` needs the window to have passed
    assert container_events(since, until, app.name) == [], "a no-op made a container call"


def test_noop_without_pull_makes_no_engine_event_at_all(app):
    app.publish("v1")
    app.deploy()
    since = time.time()
    result = app.deploy(pull=False)
    until = time.time() + 0.5
    time.sleep(0.6)
    assert result["action"] == "none" and result["pull"] is None
    out = docker(
        "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--format", "{{json .}}"
    )
    about_app = [line for line in out.splitlines() if app.name in line or app.repo in line]
    assert about_app == [], "a no-op without pull made an Engine call that emits an event"


def test_moved_tag_is_pulled_and_replaces_the_container(app):
    ref = app.publish("v1")
    first = app.deploy()
    v1_id = first["image_id"]
    app.publish("v2")

    # The registry moved, the host has not pulled yet: the local tag still matches.
    assert docker_deploy.image_diff(app.name, ref)["differs"] is False

    pulled = docker_deploy.pull(ref)
    assert pulled["changed"] is True
    assert pulled["previous_id"] == v1_id
    assert pulled["id"] != v1_id
    assert pulled["digest"].startswith(f"{app.registry.host}/{app.repo}@sha256:")
    assert pulled["image"] == ref

    diff = docker_deploy.image_diff(app.name, ref)
    assert diff["exists"] is True and diff["differs"] is True
    assert diff["container_image_id"] == v1_id and diff["image_id"] == pulled["id"]

    since = time.time()
    replaced = app.deploy()
    until = time.time() + 0.5
    assert replaced["action"] == "replaced"
    assert replaced["changes"]["image"] == {"old": v1_id, "new": pulled["id"]}
    time.sleep(0.6)
    order = [
        (e["Action"], e["Actor"]["Attributes"]["name"])
        for e in container_events(since, until, app.name)
    ]
    created_new = order.index(("create", f"{app.name}.deploy-new"))
    stopped_old = order.index(("stop", app.name))
    started_new = order.index(("start", app.name))
    removed_old = order.index(("destroy", f"{app.name}.deploy-old"))
    # The safe order: new created while the old serves; old removed only once the new runs.
    assert created_new < stopped_old < started_new < removed_old, order
    assert replaced["previous_image_id"] == v1_id
    assert replaced["container_id"] != first["container_id"]
    assert replaced["downtime_ms"] is not None and replaced["downtime_ms"] > 0
    assert wait_http(app.port, "v2") == "v2"
    assert app.bed.containers(app.name) == [app.name]
    assert identity(app.name)[0] == replaced["container_id"]
    assert docker_deploy.image_diff(app.name, ref)["differs"] is False

    again = app.deploy()
    assert again["action"] == "none" and again["changes"] == {}


def test_pull_reports_a_tag_that_moved_to_layers_already_on_disk(app):
    """salt#44334: no layer is downloaded (v2 was built here), yet the tag moved."""
    ref = app.publish("v1")
    assert docker_deploy.pull(ref)["changed"] is True
    assert docker_deploy.pull(ref)["changed"] is False
    app.publish("v2")
    moved = docker_deploy.pull(ref)
    assert moved["changed"] is True
    assert moved["id"] == docker("image", "inspect", "-f", "{{.Id}}", app.images["v2"])


def test_environment_change_replaces_then_is_stable(app):
    app.publish("v1")
    first = app.deploy(environment={"MODE": "a-secret", "KEPT": "k-secret"})
    changed = app.deploy(environment=["MODE=b-secret", "KEPT=k-secret", "NEW=n-secret"])
    assert changed["action"] == "replaced"
    # The keys, never the values (often secrets): `changes` go to Salt's job cache.
    assert changed["changes"]["environment"] == {
        "old": {"KEPT": "<hidden>", "MODE": "<hidden, changed>"},
        "new": {"KEPT": "<hidden>", "MODE": "<hidden, changed>", "NEW": "<hidden>"},
    }
    assert "secret" not in str(changed), changed
    assert "image" not in changed["changes"]
    assert changed["container_id"] != first["container_id"]
    env = inspect(app.name)["Config"]["Env"]
    assert "MODE=b-secret" in env and "MODE=a-secret" not in env
    stable = app.deploy(environment={"MODE": "b-secret", "KEPT": "k-secret", "NEW": "n-secret"})
    assert stable["action"] == "none"
    assert wait_http(app.port, "v1") == "v1"


def test_stopped_container_is_started(app):
    app.publish("v1")
    first = app.deploy()
    docker("stop", app.name)
    started = app.deploy()
    assert started["action"] == "started"
    assert started["changes"] == {"status": {"old": "exited", "new": "running"}}
    container_id, _, running = identity(app.name)
    assert running and container_id == first["container_id"]
    assert wait_http(app.port, "v1") == "v1"


def test_container_without_our_record_counts_as_drifted(app):
    ref = app.publish("v1")
    docker_deploy.pull(ref)
    docker(
        "run",
        "-d",
        "--name",
        app.name,
        "--label",
        app.bed.label,
        "-p",
        f"127.0.0.1:{app.port}:80",
        ref,
    )
    adopted = app.deploy()
    assert adopted["action"] == "replaced"
    assert adopted["changes"]["declared_settings_recorded"] == {"old": False, "new": True}
    assert app.deploy()["action"] == "none"


# --- bad input and faults: right exception, previous container still serving ------------


@pytest.fixture
def serving(app):
    app.publish("v1")
    app.deploy()
    before = identity(app.name)
    assert wait_http(app.port, "v1") == "v1"
    return app, before


def test_bad_reference_is_invalid_spec_before_any_docker_call(serving, monkeypatch):
    app, before = serving
    with monkeypatch.context() as m:
        # No engine behind this: an InvalidSpec proves nothing was asked of Docker.
        m.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        for bad in ["Bad/Name:tag", "repo:", "repo@sha256:short", ""]:
            with pytest.raises(InvalidSpec, match="nothing was pulled or changed"):
                docker_deploy.redeploy(app.name, bad, **app.spec())
            with pytest.raises(InvalidSpec):
                docker_deploy.pull(bad)
    assert_untouched(app, before)


def test_unknown_keyword_and_malformed_value_are_named(serving, monkeypatch):
    app, before = serving
    with monkeypatch.context() as m:
        m.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        with pytest.raises(InvalidSpec, match='unknown keyword "enviroment"'):
            app.deploy(enviroment={"A": "1"})
        with pytest.raises(InvalidSpec, match="restart_policy"):
            app.deploy(restart_policy="sometimes")
        with pytest.raises(InvalidSpec, match="port_bindings"):
            app.deploy(port_bindings=["80:99999"])
        with pytest.raises(InvalidSpec, match="container name"):
            docker_deploy.redeploy("bad name!", app.ref)
        with pytest.raises(InvalidSpec, match="auth"):
            docker_deploy.pull(app.ref, auth={"user": "x"})
    assert_untouched(app, before)


def test_tag_missing_in_registry_is_image_not_found(serving):
    app, before = serving
    missing = f"{app.registry.host}/{app.repo}:no-such-tag"
    with pytest.raises(ImageNotFound, match=app.name) as err:
        docker_deploy.redeploy(app.name, missing, **app.spec())
    assert "no-such-tag" in str(err.value) and "left as" in str(err.value)
    with pytest.raises(ImageNotFound):
        docker_deploy.pull(missing)
    assert_untouched(app, before)


def test_registry_unreachable_is_registry_error(serving):
    app, before = serving
    nowhere = f"127.0.0.1:{free_port()}/{app.repo}:prod"
    with pytest.raises(RegistryError) as err:
        docker_deploy.redeploy(app.name, nowhere, **app.spec())
    assert nowhere.split("/")[0] in str(err.value) and app.name in str(err.value)
    assert "left as they were" in str(err.value)
    assert_untouched(app, before)


@pytest.mark.parametrize("host", ["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:{port}"])
def test_docker_unreachable_is_docker_unavailable(serving, monkeypatch, host):
    app, before = serving
    host = host.format(port=free_port())
    with monkeypatch.context() as m:
        m.setenv("DOCKER_HOST", host)
        with pytest.raises(DockerUnavailable, match=app.name) as err:
            app.deploy()
        assert host in str(err.value) and "nothing was changed" in str(err.value)
        with pytest.raises(DockerUnavailable):
            docker_deploy.image_diff(app.name, app.ref)
    assert_untouched(app, before)


def test_docker_host_tcp_is_honoured(serving, tmp_path, monkeypatch):
    """The same engine behind a tcp:// DOCKER_HOST (a socat-free relay in Python)."""
    app, _ = serving
    relay = socket.socket()
    relay.bind(("127.0.0.1", 0))
    relay.listen(8)
    port = relay.getsockname()[1]

    def pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def serve():
        while True:
            try:
                client, _ = relay.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect("/var/run/docker.sock")
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        with monkeypatch.context() as m:
            m.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
            diff = docker_deploy.image_diff(app.name, app.ref)
    finally:
        relay.close()
    assert diff["exists"] is True and diff["differs"] is False


def test_host_port_taken_keeps_the_previous_container_serving(serving):
    app, before = serving
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        with pytest.raises(ContainerStartError, match=app.name) as err:
            app.deploy(port_bindings=[f"127.0.0.1:{taken}:80"])
    message = str(err.value)
    assert "restored" in message and "running" in message
    assert_untouched(app, before, restored=True)
    # And the next call with the original spec is a no-op again.
    assert app.deploy()["action"] == "none"


def test_failed_create_during_replace_leaves_the_old_one_untouched(serving):
    app, before = serving
    with pytest.raises(ContainerStartError, match="could not be") as err:
        app.deploy(networks=[f"no-such-net-{app.bed.run_id}"])
    assert app.name in str(err.value) and "left running" in str(err.value)
    assert_untouched(app, before)


def test_an_orphaned_backup_is_restored_by_the_next_run(serving):
    """A run killed after it stopped the old container and moved it aside leaves the name
    empty: the next run gives the backup its name back and starts it, creating nothing."""
    app, before = serving
    backup = f"{app.name}.deploy-old"
    docker("stop", "-t", "1", app.name)
    docker("rename", app.name, backup)
    result = app.deploy()
    assert result["action"] == "recovered", result
    assert "gave" in result["recovered"] and "its name back" in result["recovered"]
    assert inspect(backup) is None
    assert_untouched(app, before, restored=True)
    assert app.deploy()["action"] == "none"


def test_a_name_that_is_a_prefix_of_another_containers_id_is_not_confused(app):
    """The Engine resolves unknown names as ID prefixes; a deploy must not take that one."""
    app.publish("v1")
    docker_deploy.pull(app.ref)
    other = docker("create", "--label", app.bed.label, app.ref)
    try:
        prefix = next(other[:n] for n in range(6, 20) if not other[:n].isdigit())
        assert docker_deploy.image_diff(prefix, app.ref)["exists"] is False
        assert docker_deploy.remove(prefix)["removed"] is False
        created = docker_deploy.redeploy(prefix, app.ref, labels=app.bed.labels)
        assert created["action"] == "created" and created["container_id"] != other
        assert inspect(other)["Id"] == other, "the unrelated container was touched"
    finally:
        docker("rm", "-f", other, check=False)
        docker("rm", "-f", prefix if "prefix" in locals() else other, check=False)


# --- process model: fork, GIL, logging, exception names ------------------------------------


def test_works_in_a_forked_child_after_use_in_the_parent(serving):
    app, _ = serving
    assert docker_deploy.image_diff(app.name, app.ref)["differs"] is False
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: like a salt-minion job process
        signal.alarm(60)  # a hang in the child fails the test instead of hanging CI
        try:
            result = app.deploy()
            diff = docker_deploy.image_diff(app.name, app.ref)
            os.write(write_end, json.dumps([result["action"], diff["differs"]]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        answer = pipe.read()
    assert os.waitstatus_to_exitcode(status) == 0
    assert json.loads(answer) == ["none", False]


def test_gil_is_released_during_a_slow_stop(app):
    app.publish("v1")
    # PID 1 ignores SIGUSR1, so the stop lasts shutdown_timeout (2 s) until SIGKILL.
    slow = {"stop_signal": "SIGUSR1", "shutdown_timeout": 2}
    app.deploy(**slow)
    longest_pause = 0.0
    done = threading.Event()

    def tick():
        # Holding the GIL through the 2 s stop would freeze this loop for 2 s in one piece.
        nonlocal longest_pause
        last = time.monotonic()
        while not done.is_set():
            now = time.monotonic()
            longest_pause = max(longest_pause, now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        result = app.deploy(environment={"X": "1"}, **slow)
    finally:
        done.set()
        ticker.join()
    stop = [s for s in result["steps"] if s["step"] == "stop"]
    assert result["action"] == "replaced"
    assert stop and stop[0]["duration_ms"] >= 1500, "the stop was not slow"
    assert longest_pause < 0.5, f"the other thread was frozen for {longest_pause:.2f} s"


def test_steps_are_logged_to_python_logging(app, caplog):
    app.publish("v1")
    with caplog.at_level(logging.INFO, logger="saltext.docker_deploy"):
        result = app.deploy()
    lines = [r.getMessage() for r in caplog.records if r.name == "saltext.docker_deploy"]
    assert all(
        r.levelno == logging.INFO for r in caplog.records if r.name == "saltext.docker_deploy"
    )
    for step in ("pull", "plan", "create", "start"):
        assert any(f": {step}: " in line for line in lines), (step, lines)
    assert len(lines) == len(result["steps"])
    assert all(app.name in line for line in lines if ": pull: " not in line)


def test_exceptions_live_under_the_public_module():
    for exc in (DockerUnavailable, ImageNotFound, RegistryError, InvalidSpec, ContainerStartError):
        assert issubclass(exc, DeployError)
        assert exc.__module__ == "saltext.docker_deploy"
        assert repr(exc("x")).startswith(f"{exc.__name__}(")
    assert DeployError.__module__ == "saltext.docker_deploy"
    assert set(docker_deploy.__all__) >= {
        "pull",
        "image_diff",
        "redeploy",
        "DeployError",
        "DockerUnavailable",
        "ImageNotFound",
        "RegistryError",
        "InvalidSpec",
        "ContainerStartError",
    }


def test_http_helper_sees_nothing_on_a_free_port():
    """Guards the guard: the serving checks above would pass vacuously if this were broken."""
    assert http_get(free_port()) is None


def test_cli_observer_and_package_agree_on_the_engine(serving):
    app, before = serving
    diff = docker_deploy.image_diff(app.name, app.ref)
    assert diff["container_id"] == before[0]
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.Image}}", app.name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert diff["container_image_id"] == out
