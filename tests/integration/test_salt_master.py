"""A real salt-master and two salt-minions on loopback apply the example state, all at once
and one minion at a time (`-b 1`). Both minions drive the local engine, so each gets its own
container name and port from its pillar."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.testbed import free_port, inspect, wait_for, wait_http

BIN = Path(sys.executable).parent
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "salt"
MINIONS = ("dd-m1", "dd-m2")


class SaltCluster:
    def __init__(self, root: Path, app):
        self.root, self.app = root, app
        self.conf = root / "master-conf"
        self.procs: list[subprocess.Popen] = []
        publish_port, ret_port = free_port(), free_port()
        for sub in ("states", "pillar", "master-conf"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (self.conf / "master").write_text(
            f"root_dir: {root}/master\ninterface: 127.0.0.1\npublish_port: {publish_port}\n"
            f"ret_port: {ret_port}\nauto_accept: true\nuser: root\n"
            f"file_roots: {{base: [{root}/states]}}\npillar_roots: {{base: [{root}/pillar]}}\n"
            "log_file: master.log\nworker_threads: 2\n"
        )
        self.ports = {}
        label_key, label_value = next(iter(app.bed.labels.items()))
        pillar_top = ["base:"]
        for minion in MINIONS:
            conf = root / f"{minion}-conf"
            conf.mkdir()
            (conf / "minion").write_text(
                f"id: {minion}\nroot_dir: {root}/{minion}\nmaster: 127.0.0.1\n"
                f"master_port: {ret_port}\npublish_port: {publish_port}\n"
                "log_file: minion.log\nacceptance_wait_time: 1\n"
            )
            self.ports[minion] = free_port()
            (root / "pillar" / f"{minion}.sls").write_text(
                json.dumps(
                    {
                        "webapp": {
                            "name": self.container(minion),
                            "image": f"{app.registry.host}/{app.repo}",
                            "env": "qa",
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
        for minion in MINIONS:
            conf = self.root / f"{minion}-conf"
            self.procs.append(subprocess.Popen([BIN / "salt-minion", "-c", conf, "-l", "quiet"]))
        answered = wait_for(lambda: set(self.ping()) == set(MINIONS), timeout=90, interval=1)
        if not answered:
            raise RuntimeError(f"minions did not answer the master: {self.ping()}")

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

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        from tests.support.testbed import docker

        docker("rm", "-f", *(self.container(m) for m in MINIONS), check=False)


@pytest.fixture
def cluster(app):
    # A short root: Salt's IPC sockets live under it, and Unix socket paths are limited to
    # 107 bytes (pytest's tmp_path is too deep).
    root = Path(tempfile.mkdtemp(prefix="ddsalt-", dir="/tmp"))
    salt_cluster = SaltCluster(root, app)
    try:
        salt_cluster.start()
        yield salt_cluster
    finally:
        salt_cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def only_state(minion_result) -> dict:
    assert isinstance(minion_result, dict), minion_result
    (state,) = minion_result.values()
    return state


def test_master_applies_to_two_minions_all_at_once_and_one_at_a_time(app, cluster):
    app.publish("v1", tag="qa")
    results = cluster.salt("*", "state.apply")
    for minion in MINIONS:
        state = only_state(results[minion])
        assert state["result"] is True, state["comment"]
        assert state["changes"]["container_id"]["old"] is None
        assert wait_http(cluster.ports[minion], "v1") == "v1"
    first_ids = {m: inspect(cluster.container(m))["Id"] for m in MINIONS}

    app.publish("v2", tag="qa")
    started = time.monotonic()
    batched = cluster.salt("-b", "1", "*", "state.apply")
    assert time.monotonic() - started < 170
    for minion in MINIONS:
        state = only_state(batched[minion])
        assert state["result"] is True, state["comment"]
        assert state["changes"]["container_id"]["old"] == first_ids[minion]
        assert "image" in state["changes"]
        assert wait_http(cluster.ports[minion], "v2") == "v2"

    again = cluster.salt("*", "state.apply")
    for minion in MINIONS:
        state = only_state(again[minion])
        assert state["result"] is True and state["changes"] == {}
