"""Helpers shared by the safety tests of the Python API and of Salt: a redeploy in a child
process (to pause or kill it), and the checks every safety test ends with."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.testbed import docker, inspect, wait_for, wait_http

# Runs one redeploy in its own process (so that it can be killed) and prints its outcome.
RUNNER = """
import json, sys
from saltext import docker_deploy
args = json.loads(sys.argv[1])
try:
    report = docker_deploy.redeploy(**args)
    print(json.dumps({"action": report["action"]}))
except docker_deploy.DeployError as err:
    print(json.dumps({"error": type(err).__name__, "message": str(err)}))
"""


# The step boundaries of each strategy where a run can be paused (and killed) by the test hook.
BOUNDARIES = [
    ("create-first", "plan"),
    ("create-first", "create"),
    ("create-first", "stop"),
    ("create-first", "rename:1"),
    ("create-first", "rename:2"),
    ("create-first", "start"),
    ("create-first", "verify"),
    ("stop-first", "create"),
    ("stop-first", "rename:1"),
    ("stop-first", "stop"),
    ("stop-first", "rename:2"),
    ("start-first", "start"),
    ("start-first", "rename:1"),
    ("start-first", "rename:2"),
    ("start-first", "stop"),
]


def pause_env(pause_file: Path, pause: str | None) -> dict[str, str]:
    """The test hook's environment: pause after the step `pause` (`stop`, `rename:2`) until
    `pause_file` is deleted."""
    if not pause:
        return {}
    return {
        "SALTEXT_DOCKER_DEPLOY_PAUSE_AFTER": pause,
        "SALTEXT_DOCKER_DEPLOY_PAUSE_FILE": str(pause_file),
    }


class Run:
    """A redeploy in a child process, optionally paused after a step (test-only hook). With
    `engine` (a privateengine.PrivateEngine) the child runs in that engine's namespace."""

    def __init__(
        self,
        app,
        tmp_path: Path,
        pause: str | None = None,
        engine=None,
        env: dict[str, str] | None = None,
        **kwargs,
    ):
        self.pause_file = tmp_path / f"paused-{time.monotonic_ns()}"
        extra = {**pause_env(self.pause_file, pause), **(env or {})}
        kwargs.setdefault("min_uptime", 0.5)
        args = {"name": app.name, "image": app.ref, **app.spec(), **kwargs}
        command = [sys.executable, "-c", RUNNER, json.dumps(args)]
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        if engine is None:
            self.proc = subprocess.Popen(command, env={**os.environ, **extra}, **pipes)
        else:
            self.proc = engine.popen(*command, env=extra, **pipes)

    def wait_paused(self) -> None:
        wait_for(lambda: self.pause_file.exists() or self.proc.poll() is not None, timeout=60)
        assert self.pause_file.exists(), f"never paused: {self.proc.communicate()}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def release(self) -> None:
        self.pause_file.unlink()

    def outcome(self, timeout: float = 120) -> dict:
        out, err = self.proc.communicate(timeout=timeout)
        assert out.strip(), err
        return json.loads(out.strip().splitlines()[-1])


def identity(name: str) -> tuple[str, str]:
    found = inspect(name)
    return found["Id"], found["Image"]


def write_data(app, text: str) -> None:
    docker("exec", app.name, "/bin/busybox", "sh", "-c", f"echo {text} > /data/file")


def read_data(app) -> str:
    return docker("exec", app.name, "/bin/busybox", "cat", "/data/file")


def assert_serving(app, version: str, data: str | None = None) -> None:
    """The one container under the name serves `version`, nothing else is left, data intact."""
    assert wait_http(app.port, version) == version
    assert app.bed.containers(app.name) == [app.name], "leftover or missing containers"
    assert inspect(app.name)["State"]["Running"]
    if data is not None:
        assert read_data(app) == data


def publish_variant(app, variant: str) -> None:
    app.ref = app.bed.publish(app.registry, app.images[variant], app.repo, "prod")


def replica_ports(count: int) -> int:
    """A first port with `count` free ports after it."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        if first + count < 65535 and all(port_free(first + i) for i in range(count)):
            return first
    raise AssertionError("no free port range")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def registry_only(app, version: str) -> None:
    """Publishes a fresh build of `version` and deletes it locally: the host knows it only by
    pulling, so its only names are the registry repository's (as on a real minion)."""
    local = f"ddtest-{app.bed.run_id}/keep:{version}-{time.monotonic_ns()}"
    app.bed.build(local, version)
    app.ref = app.bed.publish(app.registry, local, app.repo, "prod")
    docker("rmi", local)
