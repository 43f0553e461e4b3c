"""Faults of the Engine itself, on a private Engine (tests/support/privateengine.py) so that the
shared one is never killed, stopped or filled: the daemon killed and restarted at every step
boundary of every strategy, stopped (SIGSTOP) mid-step, its disk full during a pull and a create,
an out-of-memory kill during verification, and SIGTERM to salt-call at every step boundary.

Every case ends the same way: the service answers on the new image after the next run, exactly
one container is left, and the data written before the fault (a named volume and an anonymous
one) is intact; until then the previous container is never lost unless the new one runs. Each
case appends a row (fault, outcome, seconds to recover) to target/fault-report.jsonl, which
the closing note of issue 11 tabulates.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import privateengine
from tests.support.deploying import BOUNDARIES, Run, pause_env
from tests.support.saltcall import SaltCall
from tests.support.testbed import free_port, wait_for

private_engine = privateengine.private_engine

REPORT = Path(__file__).resolve().parents[2] / "target" / "fault-report.jsonl"
NAMED, ANONYMOUS = "/data", "/cache"


def record(fault: str, **outcome) -> None:
    REPORT.parent.mkdir(exist_ok=True)
    with REPORT.open("a") as report:
        report.write(json.dumps({"fault": fault, **outcome}) + "\n")


@dataclass
class Site:
    """One service on the private engine: its container name, its repository in the private
    registry, its data in a named and an anonymous volume. Shaped like apps.App (bed,
    registry, name, repo, port, ref, spec) so that deploying.Run and SaltCall take it."""

    engine: privateengine.PrivateEngine
    bed: object
    images: dict
    name: str
    strategy: str = "create-first"
    port: int = field(default_factory=free_port)
    ref: str = ""

    @property
    def repo(self) -> str:
        return self.name

    @property
    def registry(self):
        return self.engine.start_registry()

    def publish(self, variant: str) -> str:
        self.ref = self.engine.publish(self.images[variant], self.repo, "prod")
        return self.ref

    def spec(self, **overrides) -> dict:
        # start-first cannot hold a fixed host port: an ephemeral one, read back when needed.
        host = "" if self.strategy == "start-first" else str(self.port)
        spec = {
            "labels": self.bed.labels,
            "port_bindings": [f"127.0.0.1:{host}:80"],
            "binds": [f"{self.name}-data:{NAMED}"],
            "volumes": [ANONYMOUS],
            "restart_policy": "unless-stopped",
            "shutdown_timeout": 5,
            "strategy": self.strategy,
        }
        spec.update(overrides)
        return spec

    def run(self, tmp_path: Path, pause: str | None = None, env: dict | None = None, **kw):
        return Run(self, tmp_path, pause=pause, engine=self.engine, env=env, **kw)

    def deploy(self, tmp_path: Path, **overrides) -> dict:
        return self.run(tmp_path, **overrides).outcome(timeout=180)

    def write_data(self, text: str) -> None:
        for path in (NAMED, ANONYMOUS):
            self.engine.docker(
                "exec", self.name, "/bin/busybox", "sh", "-c", f"echo {text} > {path}/file"
            )

    def data(self) -> tuple[str, str]:
        def read(path):
            proc = self.engine.docker_proc("exec", self.name, "/bin/busybox", "cat", f"{path}/file")
            return proc.stdout.strip()

        return read(NAMED), read(ANONYMOUS)

    def serves(self) -> str | None:
        return self.engine.exec_http(self.name)

    def containers(self) -> list[str]:
        out = self.engine.docker("ps", "-a", "--format", "{{.Names}}")
        return sorted(n for n in out.split() if n == self.name or n.startswith(self.name + "."))

    def cleanup(self) -> None:
        names = self.containers()
        volumes = []
        for name in names:
            for mount in (self.engine.inspect(name) or {}).get("Mounts") or []:
                if mount.get("Type") == "volume":
                    volumes.append(mount["Name"])
        if names:
            self.engine.docker_proc("rm", "-f", *names)
        if volumes:
            self.engine.docker_proc("volume", "rm", *set(volumes))

    def assert_converged(
        self, tmp_path: Path, fault: str, started: float, next_run=None, **extra
    ) -> None:
        """The next run (`next_run()`, by default a redeploy of the same declaration) ends with
        the one container serving v2, the data intact; records it."""
        t0 = time.monotonic()
        final = next_run() if next_run else self.deploy(tmp_path)
        assert "error" not in final, final
        answered = wait_for(lambda: self.serves() == "v2", timeout=20)
        assert answered, f"v2 does not answer: {self.serves()!r} ({self.containers()})"
        assert self.containers() == [self.name]
        assert self.data() == ("before-the-fault", "before-the-fault")
        record(
            fault,
            next_run=final.get("action"),
            recover_s=round(time.monotonic() - t0, 2),
            total_s=round(time.monotonic() - started, 2),
            service="answering",
            data="intact",
            **extra,
        )


_serial = iter(range(1, 10_000))


@pytest.fixture(scope="module", autouse=True)
def fresh_report():
    REPORT.unlink(missing_ok=True)


@pytest.fixture
def site(private_engine, bed, images, tmp_path):
    """Makes a service on v1 with data written and v2 published under its tag; removes it."""
    made = []

    def make(strategy: str = "create-first") -> Site:
        one = Site(private_engine, bed, images, f"fault{next(_serial)}", strategy=strategy)
        made.append(one)
        one.publish("v1")
        first = one.deploy(tmp_path)
        assert first.get("action") == "created", first
        one.write_data("before-the-fault")
        one.publish("v2")
        return one

    yield make
    for one in made:
        one.cleanup()


def the_previous_container_is_never_lost(site: Site, old_id: str, v2_image: str) -> None:
    """The previous container still exists, unless the new one holds the name: it goes only
    once the new one was verified (a daemon restart may have stopped that one since: the next
    run starts it again)."""
    under_the_name = site.engine.inspect(site.name)
    if under_the_name and under_the_name["Image"] == v2_image:
        return
    assert site.engine.inspect(old_id) is not None, (
        f"the previous container {old_id[:12]} is gone and v2 does not hold the name: "
        f"{site.containers()}"
    )


@pytest.mark.parametrize(("strategy", "pause"), BOUNDARIES)
def test_the_daemon_killed_and_restarted_at_a_step_boundary(site, tmp_path, strategy, pause):
    app = site(strategy)
    old_id = app.engine.inspect(app.name)["Id"]
    v2_image = app.engine.load(app.images["v2"])
    started = time.monotonic()
    run = app.run(tmp_path, pause=pause)
    run.wait_paused()
    restart_s = app.engine.restart_daemon()
    run.release()
    # The run goes on against the restarted daemon, which stopped every container it had.
    outcome = run.outcome(timeout=180)
    the_previous_container_is_never_lost(app, old_id, v2_image)
    app.assert_converged(
        tmp_path,
        f"dockerd kill -9 + restart after {pause} ({strategy})",
        started,
        interrupted_run=outcome.get("action") or outcome.get("error"),
        daemon_restart_s=round(restart_s, 2),
    )


@pytest.mark.parametrize("pause", ["create", "stop", "start"])
def test_the_daemon_stopped_mid_step_ends_in_bounded_time(site, tmp_path, pause):
    app = site()
    old_id = app.engine.inspect(app.name)["Id"]
    v2_image = app.engine.load(app.images["v2"])
    started = time.monotonic()
    # Three seconds per Engine call: a stopped daemon answers nothing, ever.
    run = app.run(tmp_path, pause=pause, env={"SALTEXT_DOCKER_DEPLOY_ENGINE_TIMEOUT": "3"})
    run.wait_paused()
    app.engine.pause_daemon()
    try:
        run.release()
        outcome = run.outcome(timeout=120)
        bounded_s = time.monotonic() - started
    finally:
        app.engine.resume_daemon()
    assert outcome.get("error"), outcome
    assert "timed out" in outcome["message"], outcome
    assert app.name in outcome["message"], outcome
    the_previous_container_is_never_lost(app, old_id, v2_image)
    app.assert_converged(
        tmp_path,
        f"dockerd SIGSTOP after {pause} (create-first)",
        started,
        interrupted_run=f"{outcome['error']} after {bounded_s:.1f} s",
    )


def test_a_full_disk_during_the_pull_keeps_the_old_one_serving(site, tmp_path):
    app = site()
    before = app.engine.inspect(app.name)["Id"]
    started = time.monotonic()
    with app.engine.disk_full():
        outcome = app.deploy(tmp_path)
        assert outcome.get("error") == "RegistryError", outcome
        assert "no space left on device" in outcome["message"], outcome
        assert app.engine.inspect(app.name)["Id"] == before and app.serves() == "v1"
    app.assert_converged(tmp_path, "data root full during the pull", started)


def test_a_full_disk_during_the_create_keeps_the_old_one_serving(site, tmp_path):
    app = site()
    before = app.engine.inspect(app.name)["Id"]
    started = time.monotonic()
    run = app.run(tmp_path, pause="plan")  # after the pull, before the create
    run.wait_paused()
    with app.engine.disk_full():
        run.release()
        outcome = run.outcome()
        assert outcome.get("error") == "ContainerStartError", outcome
        assert "no space left on device" in outcome["message"], outcome
        assert "left running" in outcome["message"], outcome
        assert app.engine.inspect(app.name)["Id"] == before and app.serves() == "v1"
    app.assert_converged(tmp_path, "data root full during the create", started)


def test_an_out_of_memory_kill_during_verify_rolls_back(site, tmp_path):
    app = site()
    before = app.engine.inspect(app.name)["Id"]
    app.publish("oom")
    started = time.monotonic()
    run = app.run(tmp_path, pause="create", min_uptime=10)
    run.wait_paused()
    new = f"{app.name}.deploy-new"
    app.engine.docker("update", "--memory", "24m", "--memory-swap", "24m", new)
    run.release()
    outcome = run.outcome()
    assert outcome.get("error") == "RolledBack", outcome
    assert "out of memory" in outcome["message"], outcome
    assert app.engine.inspect(app.name)["Id"] == before and app.serves() == "v1"
    assert app.data() == ("before-the-fault", "before-the-fault")
    app.publish("v2")
    app.assert_converged(tmp_path, "OOM kill of the new container during verify", started)


@pytest.mark.parametrize(("strategy", "pause"), BOUNDARIES)
def test_sigterm_to_salt_call_at_a_step_boundary(site, tmp_path, strategy, pause):
    app = site(strategy)
    old_id = app.engine.inspect(app.name)["Id"]
    v2_image = app.engine.load(app.images["v2"])
    salt = SaltCall(tmp_path / "salt", app)
    host = "" if strategy == "start-first" else str(app.port)
    salt.write_state(
        extra=f'    - binds: ["{app.name}-data:{NAMED}"]\n    - volumes: ["{ANONYMOUS}"]\n'
        f"    - strategy: {strategy}\n    - min_uptime: 0.5\n"
    )
    state = salt.root / "states" / "app.sls"
    state.write_text(state.read_text().replace(f"127.0.0.1:{app.port}:80", f"127.0.0.1:{host}:80"))
    pause_file = tmp_path / "paused"
    started = time.monotonic()
    proc = app.engine.popen(
        *salt.command(),
        env=pause_env(pause_file, pause),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_for(lambda: pause_file.exists() or proc.poll() is not None, timeout=120)
    assert pause_file.exists(), proc.communicate()
    proc.send_signal(signal.SIGTERM)
    # Salt's handler runs only once our call returns to Python: the redeploy is not cut short.
    died = wait_for(lambda: proc.poll() is not None, timeout=3)
    pause_file.unlink()
    out, err = proc.communicate(timeout=120)
    try:
        interrupted = SaltCall.result(subprocess.CompletedProcess([], proc.returncode, out, err))
        what = "its state " + ("succeeded" if interrupted["result"] else "failed")
    except AssertionError:
        what = "no state result"
    the_previous_container_is_never_lost(app, old_id, v2_image)

    def next_salt_call() -> dict:
        again = app.engine.run(*salt.command(), timeout=120)
        result = SaltCall.result(again)
        assert result["result"] is True, result
        return {"action": "changed" if result["changes"] else "none"}

    app.assert_converged(
        tmp_path,
        f"SIGTERM to salt-call after {pause} ({strategy})",
        started,
        next_run=next_salt_call,
        interrupted_run=f"exit {proc.returncode} {'at once' if died else 'after the step'}, {what}",
    )
