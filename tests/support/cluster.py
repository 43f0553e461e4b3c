"""A real salt-master and salt-minions on loopback, each minion with the example state and its
own container name and port from its pillar (they all drive the local Engine), for the tests
that need a master: applying states from it, and events, beacons and the reactor."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

from tests.support.testbed import docker, free_port, stop_process, wait_for

BIN = Path(sys.executable).parent
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "salt"


class SaltCluster:
    """``minions``: {minion id: the tag its container follows}. ``master_extra`` and
    ``minion_extra`` are appended to the master's and every minion's configuration."""

    def __init__(
        self,
        root: Path,
        app,
        minions: dict[str, str],
        master_extra: str = "",
        minion_extra: str = "",
    ):
        self.root, self.app, self.minions = root, app, dict(minions)
        self.conf = root / "master-conf"
        self.procs: list[subprocess.Popen] = []
        self.minion_procs: dict[str, subprocess.Popen] = {}
        self.publish_port, self.ret_port = free_port(), free_port()
        for sub in ("states", "pillar", "master-conf", "reactor"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (self.conf / "master").write_text(
            f"root_dir: {root}/master\ninterface: 127.0.0.1\npublish_port: {self.publish_port}\n"
            f"ret_port: {self.ret_port}\nauto_accept: true\nuser: root\n"
            f"file_roots: {{base: [{root}/states]}}\npillar_roots: {{base: [{root}/pillar]}}\n"
            "log_file: master.log\nworker_threads: 2\n" + master_extra
        )
        self.ports = {}
        label_key, label_value = next(iter(app.bed.labels.items()))
        pillar_top = ["base:"]
        for minion, tag in self.minions.items():
            conf = root / f"{minion}-conf"
            conf.mkdir()
            (conf / "minion").write_text(
                f"id: {minion}\nroot_dir: {root}/{minion}\nmaster: 127.0.0.1\n"
                f"master_port: {self.ret_port}\npublish_port: {self.publish_port}\n"
                "log_file: minion.log\nacceptance_wait_time: 1\n"
                # Every minion drives the same Engine: an update or the beacon on one takes
                # only its own container (on a host of its own, every container is its own).
                f"docker_deploy:\n  names: [{self.container(minion)}]\n" + minion_extra
            )
            self.ports[minion] = free_port()
            (root / "pillar" / f"{minion}.sls").write_text(
                json.dumps(
                    {
                        "webapp": {
                            "name": self.container(minion),
                            "image": f"{app.registry.host}/{app.repo}",
                            "env": tag,
                            "bind": "127.0.0.1",
                            "port": self.ports[minion],
                            "labels": {label_key: label_value},
                        }
                    }
                )
            )
            pillar_top.append(f"  '{minion}': ['{minion}']")
        (root / "pillar" / "top.sls").write_text("\n".join(pillar_top) + "\n")
        for sls in ("top.sls", "webapp.sls"):
            (root / "states" / sls).write_text((EXAMPLES / "states" / sls).read_text())

    def container(self, minion: str) -> str:
        return f"{self.app.name}-{minion}"

    def start(self) -> None:
        self.procs.append(subprocess.Popen([BIN / "salt-master", "-c", self.conf, "-l", "quiet"]))
        for minion in self.minions:
            self._start_minion(minion)
        answered = wait_for(lambda: set(self.ping()) == set(self.minions), timeout=90, interval=1)
        if not answered:
            raise RuntimeError(f"minions did not answer the master: {self.ping()}")

    def _start_minion(self, minion: str) -> None:
        conf = self.root / f"{minion}-conf"
        proc = subprocess.Popen([BIN / "salt-minion", "-c", conf, "-l", "quiet"])
        self.procs.append(proc)
        self.minion_procs[minion] = proc

    def stop_minion(self, minion: str) -> None:
        """Stops one salt-minion (its container keeps running)."""
        stop_process(self.minion_procs.pop(minion))

    def start_minion(self, minion: str) -> None:
        """Starts one salt-minion again, and waits until it answers."""
        self._start_minion(minion)
        if not wait_for(lambda: minion in self.ping(), timeout=60, interval=1):
            raise RuntimeError(f"minion {minion} did not answer the master again")

    def salt_run(self, *args: str, timeout: int = 300) -> tuple[object, str]:
        """``salt-run`` on the master: its return, and the text it printed (``--out=yaml``,
        which reads as a user sees it and parses back)."""
        cmd = [BIN / "salt-run", "-c", self.conf, "-l", "quiet", "--out=yaml", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        try:
            return yaml.safe_load(proc.stdout), proc.stdout
        except yaml.YAMLError as err:
            raise AssertionError(f"salt-run {args}: {proc.stdout}\n{proc.stderr}") from err

    def salt(self, *args: str, timeout: int = 180) -> dict:
        cmd = [BIN / "salt", "-c", self.conf, "--out=json", "--static", "-t", "60", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        try:
            return json.loads(proc.stdout or "{}")
        except ValueError as err:
            raise AssertionError(f"salt {args}: {proc.stdout}\n{proc.stderr}") from err

    def ping(self) -> dict:
        try:
            return self.salt("*", "test.ping", timeout=30)
        except (AssertionError, subprocess.TimeoutExpired):
            return {}

    @contextmanager
    def events(self, tagmatch: str = "*"):
        """The master's events matching ``tagmatch`` while the block runs, as they come: a
        list of ``(seconds since the block began, tag, data)`` that grows in the background."""
        seen: list[tuple[float, str, dict]] = []
        cmd = [BIN / "salt-run", "-c", self.conf, "state.event", f"tagmatch={tagmatch}",
               "pretty=False"]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started = time.monotonic()

        def read():
            for line in proc.stdout:
                tag, tab, data = line.rstrip("\n").partition("\t")
                try:
                    event = json.loads(data) if tab else None
                except ValueError:
                    event = None
                # Anything else is the runner's own output (its traceback when stopped).
                if isinstance(event, dict):
                    seen.append((time.monotonic() - started, tag, event))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        # state.event connects to the master's bus before it prints anything: give it a moment.
        time.sleep(2)
        try:
            yield seen
        finally:
            stop_process(proc, timeout=10)
            reader.join(timeout=5)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        docker("rm", "-f", *(self.container(m) for m in self.minions), check=False)


@contextmanager
def salt_cluster(app, minions: dict[str, str], **extra):
    # A short root: Salt's IPC sockets live under it, and Unix socket paths are limited to
    # 107 bytes (pytest's tmp_path is too deep).
    root = Path(tempfile.mkdtemp(prefix="ddsalt-", dir="/tmp"))
    cluster = SaltCluster(root, app, minions, **extra)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def only_state(minion_result) -> dict:
    assert isinstance(minion_result, dict), minion_result
    (state,) = minion_result.values()
    return state
