"""Side-by-side benchmark: saltext-docker-deploy vs Salt's Docker states (saltext-dockermod) vs
the seed's shell approach, on the real engine and a local registry. Run it with `bash bench/run`.

Systems (each `salt-call --local state.apply`, Salt 3008.4, one minion config per system):
  ours       docker_deploy.deployed per container (S3: one docker_deploy.group state)
  dockermod  docker_image.present (force: True) + docker_container.running
  seed       docker_image.present (force: True) + cmd.run "docker stop/rm" guarded by an
             `unless` shell check of the image IDs + docker_container.running

Scenarios (medians over --runs):
  S1  nothing changed, 1 and 20 containers: sum of the states' durations, salt-call wall time,
      peak RSS of salt-call
  S2  a new image pushed, 1 graceful container on a fixed port: state time, and the window an
      HTTP prober (every 5 ms) saw refused; beside it the floor, `docker stop` + `docker start`
  S3  a new image pushed for 20 containers: wall time of the run (the group at concurrency 20);
      beside it the floor, a stop and a start of 20 containers at once from one process
  S4  "is there a new image?": ours by the registry digest vs a pull (Python API, in process)
  S5  the Python API in a loop in one process: a no-op redeploy, image_diff; docker-py beside it
  S6  a fleet from a salt-master: 6 minions on loopback, each with its container on a new image;
      our rollout (`salt-run docker_deploy.rollout`, batches of half the fleet) against
      `salt -b 3` applying Salt's own docker_image.present + docker_container.running: the
      wall time, and the longest gap an HTTP prober saw on any minion's container

Every measured run is checked for what it claims: no-op runs report no changes, redeploys end
with every container serving the new version. The table goes to stdout, the raw numbers to
bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker as docker_py
from probe import Prober  # bench/probe.py: a script's own folder is on sys.path

from saltext import docker_deploy
from tests.support.cluster import SaltCluster
from tests.support.testbed import Registry, TestBed, docker, free_port, wait_http

HERE = Path(__file__).resolve().parent

SALT_CALL = Path(sys.executable).parent / "salt-call"
SYSTEMS = ("ours", "ours-group", "dockermod", "seed")
GROUP_CONCURRENCY = 10
# S3 redeploys its 20 containers all at once, as its floor does: the fastest the group goes.
S3_CONCURRENCY = 20
# S6: the fleet (minions on loopback, each a salt-minion process beside one master), and the
# batch both systems roll it out in: half of it.
FLEET = 6
FLEET_BATCH = FLEET // 2

# S6's states, one per system, each minion's container name, port and image from its pillar.
FLEET_OURS = """\
{%- set app = pillar['webapp'] %}
{{ app['name'] }}:
  docker_deploy.deployed:
    - image: {{ app['image'] }}:prod
    - port_bindings: ["127.0.0.1:{{ app['port'] }}:80"]
    - labels: {{ app['labels'] | json }}
    - shutdown_timeout: 10
"""
FLEET_DOCKERMOD = """\
{%- set app = pillar['webapp'] %}
pull:
  docker_image.present:
    - name: {{ app['dm_image'] }}
    - force: True
{{ app['dm_name'] }}:
  docker_container.running:
    - image: {{ app['dm_image'] }}
    - port_bindings: 127.0.0.1:{{ app['dm_port'] }}:80
    - labels: {{ app['labels'] | json }}
    - stop_timeout: 10
    - require: [{docker_image: pull}]
"""


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


_ports_given: set[int] = set()


def unique_port() -> int:
    """A free port never given before in this run: the kernel may hand out a just-released
    port twice, and two containers cannot publish the same one."""
    while (port := free_port()) in _ports_given:
        pass
    _ports_given.add(port)
    return port


class App:
    """One container of the benchmark: its name, its own repository, its host port."""

    def __init__(self, bed: TestBed, registry: Registry, system: str, index: int):
        self.name = f"ddbench-{bed.run_id}-{system}-{index}"
        self.repo = f"bench-{system}-{index}"
        self.ref = f"{registry.host}/{self.repo}:prod"
        self.port = unique_port()


class Minion:
    """A masterless minion for one system: its states, its applies, measured."""

    def __init__(self, root: Path, system: str, bed: TestBed):
        self.root, self.system, self.bed = root, system, bed
        for sub in ("states", "conf"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "conf" / "minion").write_text(
            f"id: bench-{system}\nroot_dir: {root}/run\nfile_client: local\n"
            f"file_roots: {{base: [{root}/states]}}\nlog_file: {root}/minion.log\n"
            "log_level_logfile: warning\n"
        )

    def write(self, apps: list[App], concurrency: int = GROUP_CONCURRENCY) -> None:
        label_key, label_value = next(iter(self.bed.labels.items()))
        labels = f'{{{label_key}: "{label_value}"}}'
        out = ["#!yaml"]
        grouped = self.system == "ours-group"
        if grouped:
            out += [
                "fleet:",
                "  docker_deploy.group:",
                f"    - concurrency: {concurrency}",
                f"    - labels: {labels}",
                "    - shutdown_timeout: 10",
                "    - containers:",
            ]
            for app in apps:
                out += [
                    f"      - name: {app.name}",
                    f"        image: {app.ref}",
                    f'        port_bindings: ["127.0.0.1:{app.port}:80"]',
                ]
        for app in [] if grouped else apps:
            if self.system == "ours":
                out += [
                    f"{app.name}:",
                    "  docker_deploy.deployed:",
                    f"    - image: {app.ref}",
                    f'    - port_bindings: ["127.0.0.1:{app.port}:80"]',
                    f"    - labels: {labels}",
                    "    - shutdown_timeout: 10",
                ]
                continue
            out += [
                f"pull-{app.name}:",
                "  docker_image.present:",
                f"    - name: {app.ref}",
                "    - force: True",
            ]
            requisite = f"pull-{app.name}"
            if self.system == "seed":
                # The seed's guard: stop and remove only when the running image is not the
                # tag's (or there is no container yet, when there is nothing to remove).
                check = (
                    f"! docker inspect {app.name} >/dev/null 2>&1 || "
                    f"test \"$(docker inspect -f '{{{{.Image}}}}' {app.name})\" = "
                    f"\"$(docker image inspect -f '{{{{.Id}}}}' {app.ref})\""
                )
                out += [
                    f"replace-{app.name}:",
                    "  cmd.run:",
                    f"    - name: docker stop {app.name} && docker rm {app.name}",
                    f"    - unless: {json.dumps(check)}",
                    f"    - require: [{{docker_image: {requisite}}}]",
                ]
                requisite = f"replace-{app.name}"
            out += [
                f"{app.name}:",
                "  docker_container.running:",
                f"    - image: {app.ref}",
                f"    - port_bindings: 127.0.0.1:{app.port}:80",
                f"    - labels: {labels}",
                "    - stop_timeout: 10",
                f"    - require: [{{{'cmd' if self.system == 'seed' else 'docker_image'}: "
                f"{requisite}}}]",
            ]
        (self.root / "states" / "bench.sls").write_text("\n".join(out) + "\n")

    def apply(self) -> dict:
        cmd = [str(SALT_CALL), "--local", "-c", str(self.root / "conf"), "--out=json"]
        out_path, err_path = self.root / "out.json", self.root / "err.txt"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen([*cmd, "state.apply", "bench"], stdout=out, stderr=err)
            # wait4, not wait: it also returns the child's own peak RSS (KiB on Linux).
            _, status, usage = os.wait4(proc.pid, 0)
            wall_ms = (time.perf_counter() - started) * 1000
            proc.returncode = os.waitstatus_to_exitcode(status)
        text = out_path.read_text()
        try:
            states = json.loads(text)["local"]
        except (ValueError, KeyError) as error:
            raise RuntimeError(
                f"{self.system}: {text[:2000]}\n{err_path.read_text()[-2000:]}"
            ) from error
        failed = {k: v["comment"] for k, v in states.items() if v["result"] is not True}
        if failed:
            raise RuntimeError(f"{self.system}: states failed: {failed}")
        return {
            "state_ms": sum(v["duration"] for v in states.values()),
            "wall_ms": wall_ms,
            "rss_mib": usage.ru_maxrss / 1024,
            "changed": [k for k, v in states.items() if v["changes"]],
        }


class Bench:
    def __init__(self, runs: int):
        self.runs = runs
        self.bed = TestBed()
        self.registry = Registry(self.bed.workdir / "registry")
        self.minions = {s: Minion(self.bed.workdir / f"salt-{s}", s, self.bed) for s in SYSTEMS}
        tag = f"ddbench-{self.bed.run_id}/web"
        self.local = {v: f"{tag}:{v}" for v in ("v1", "v2")}
        for version, local in self.local.items():
            self.bed.build(local, version)
        self.results: dict = {"runs": runs}

    def publish(self, apps: list[App], version: str) -> None:
        for app in apps:
            self.bed.publish(self.registry, self.local[version], app.repo, "prod")

    def apps(self, system: str, count: int, offset: int = 0) -> list[App]:
        return [App(self.bed, self.registry, system, offset + i) for i in range(count)]

    def noop(self, system: str, apps: list[App]) -> dict:
        minion = self.minions[system]
        minion.write(apps)
        samples = []
        for _ in range(self.runs):
            run = minion.apply()
            assert run["changed"] == [], f"{system}: a no-op run reported changes: {run}"
            samples.append(run)
        return {k: median(s[k] for s in samples) for k in ("state_ms", "wall_ms", "rss_mib")}

    def s1(self) -> None:
        for count in (1, 20):
            row = {}
            for system in SYSTEMS:
                apps = self.apps(system, count, offset=100 * count)
                self.publish(apps, "v1")
                minion = self.minions[system]
                minion.write(apps)
                first = minion.apply()
                # One state per container, or one group state for all of them.
                assert first["changed"], f"{system}: the first apply deployed nothing: {first}"
                row[system] = self.noop(system, apps)
                self.forget(apps)
                print(f"  S1 {count:2} {system:9} {row[system]}", file=sys.stderr, flush=True)
            self.results[f"S1_{count}"] = row

    def s2(self) -> None:
        row = {}
        for system in ("ours", "dockermod", "seed"):
            apps = self.apps(system, 1, offset=500)
            (app,) = apps
            self.publish(apps, "v1")
            minion = self.minions[system]
            minion.write(apps)
            minion.apply()
            samples = []
            for n in range(self.runs):
                version = "v2" if n % 2 == 0 else "v1"
                self.publish(apps, version)
                assert wait_http(app.port, "v1" if version == "v2" else "v2")
                prober = Prober(app.port)
                prober.start()
                time.sleep(0.2)
                run = minion.apply()
                assert wait_http(app.port, version) == version, f"{system} did not redeploy"
                samples.append({**run, **prober.stop()})
            row[system] = {
                k: median(s[k] for s in samples) for k in ("state_ms", "gap_ms", "refused")
            }
            self.forget(apps)
            print(f"  S2 {system:9} {row[system]}", file=sys.stderr, flush=True)
        # The floor: the same kind of container, stopped and started again by hand.
        port = unique_port()
        name = f"ddbench-{self.bed.run_id}-floor"
        docker(
            "run",
            "-d",
            "--name",
            name,
            "--label",
            self.bed.label,
            "-p",
            f"127.0.0.1:{port}:80",
            self.local["v1"],
        )
        assert wait_http(port, "v1") == "v1"
        samples = []
        for _ in range(self.runs):
            prober = Prober(port)
            prober.start()
            time.sleep(0.2)
            started = time.perf_counter()
            docker("stop", name)
            docker("start", name)
            took = (time.perf_counter() - started) * 1000
            assert wait_http(port, "v1") == "v1"
            samples.append({"state_ms": took, **prober.stop()})
        row["floor"] = {k: median(s[k] for s in samples) for k in ("state_ms", "gap_ms", "refused")}
        docker("rm", "-f", name)
        self.results["S2"] = row

    def s3(self) -> None:
        row = {}
        # One state per container redeploys one after the other; the group is what S3 is for.
        for system in ("ours-group", "dockermod", "seed"):
            apps = self.apps(system, 20, offset=700)
            self.publish(apps, "v1")
            minion = self.minions[system]
            minion.write(apps, concurrency=S3_CONCURRENCY)
            minion.apply()
            samples = []
            for n in range(self.runs):
                version = "v2" if n % 2 == 0 else "v1"
                self.publish(apps, version)
                run = minion.apply()
                for app in apps:
                    assert wait_http(app.port, version) == version, f"{system}: {app.name}"
                samples.append(run)
            row[system] = {k: median(s[k] for s in samples) for k in ("state_ms", "wall_ms")}
            self.forget(apps)
            print(f"  S3 {system:9} {row[system]}", file=sys.stderr, flush=True)
        row["floor"] = self.s3_floor()
        print(f"  S3 floor     {row['floor']}", file=sys.stderr, flush=True)
        self.results["S3"] = row

    def s3_floor(self) -> dict:
        """What the Engine needs at the least to put 20 containers on a new image: a stop and a
        start of each (a replacement also creates and removes), all 20 at once from one process,
        with no Salt, no pull and no verification."""
        apps = self.apps("floor", 20, offset=800)
        # The Engine the CLI and our module use (DOCKER_HOST), one connection per thread.
        client = docker_py.from_env(timeout=300, max_pool_size=len(apps)).api

        def restart(app: App) -> None:
            client.stop(app.name, timeout=10)
            client.start(app.name)

        samples = []
        try:
            for app in apps:
                docker(
                    "run", "-d", "--name", app.name, "--label", self.bed.label,
                    "-p", f"127.0.0.1:{app.port}:80", self.local["v1"],
                )  # fmt: skip
            for app in apps:
                assert wait_http(app.port, "v1") == "v1", app.name
            with ThreadPoolExecutor(len(apps)) as pool:
                for _ in range(self.runs):
                    started = time.perf_counter()
                    list(pool.map(restart, apps))
                    samples.append((time.perf_counter() - started) * 1000)
                    for app in apps:
                        assert wait_http(app.port, "v1") == "v1", app.name
        finally:
            self.forget(apps)
        return {"wall_ms": median(samples)}

    def s4(self) -> None:
        (app,) = self.apps("check", 1, offset=900)
        self.publish([app], "v1")
        docker_deploy.pull(app.ref)
        samples = []
        for n in range(self.runs):
            version = "v2" if n % 2 == 0 else "v1"
            self.publish([app], version)
            before = docker("image", "inspect", "-f", "{{.Id}}", app.ref)
            # The repository's images (other users share the engine: only ours are compared).
            repo = app.ref.rsplit(":", 1)[0]
            listing = ("images", "--digests", "--no-trunc", "--format", "{{.ID}} {{.Digest}}")
            images_before = docker(*listing, repo)
            # The question is asked on every run, so it is timed as asked repeatedly (the
            # median of 5); the first ask after the push is kept beside it.
            checks = []
            for _ in range(5):
                started = time.perf_counter()
                checked = docker_deploy.check(app.ref)
                checks.append((time.perf_counter() - started) * 1000)
                assert checked["update_available"], checked
            check_ms, first_check_ms = statistics.median(checks), checks[0]
            assert docker("image", "inspect", "-f", "{{.Id}}", app.ref) == before
            assert docker(*listing, repo) == images_before, "the check downloaded something"
            # The pull that answers the same question. The versions differ in one small layer
            # and the rest is already here: the cheapest pull there is.
            started = time.perf_counter()
            pulled = docker_deploy.pull(app.ref)
            pull_ms = (time.perf_counter() - started) * 1000
            assert pulled["changed"], pulled
            samples.append(
                {"check_ms": check_ms, "first_check_ms": first_check_ms, "pull_ms": pull_ms}
            )
        self.results["S4"] = {k: median(s[k] for s in samples) for k in samples[0]}
        print(f"  S4 {self.results['S4']}", file=sys.stderr, flush=True)

    def s5(self) -> None:
        app, wide = self.apps("api", 2, offset=950)
        spec = {"labels": self.bed.labels, "port_bindings": [f"127.0.0.1:{app.port}:80"]}
        docker_deploy.redeploy(app.name, self.local["v1"], pull=False, min_uptime=0.5, **spec)
        # The same no-op with 30 declared keywords instead of 3 (issue 13: no dearer).
        wide_spec = {
            **spec,
            "port_bindings": [f"127.0.0.1:{wide.port}:80"],
            "environment": {"APP_ENV": "prod", "LOG_LEVEL": "info"},
            "restart_policy": "unless-stopped",
            "working_dir": "/www",
            "hostname": "wide",
            "domainname": "example.com",
            "extra_hosts": ["db:10.0.0.2"],
            "shutdown_timeout": 5,
            "stop_signal": "SIGTERM",
            "cap_add": ["NET_ADMIN"],
            "cap_drop": ["MKNOD"],
            "security_opt": ["no-new-privileges"],
            "dns": ["127.0.0.11"],
            "dns_search": ["example.com"],
            "dns_opt": ["ndots:1"],
            "mem_limit": "256m",
            "mem_reservation": "128m",
            "cpu_shares": 512,
            "pids_limit": 200,
            "shm_size": "64m",
            "ulimits": ["nofile=1024:2048"],
            "sysctls": {"net.core.somaxconn": "1024"},
            "tmpfs": {"/run": "size=16m"},
            "log_driver": "json-file",
            "log_opt": {"max-size": "1m"},
            "tty": True,
            "stdin_open": True,
            "init": True,
            "oom_score_adj": 100,
        }
        assert len(wide_spec) == 30
        docker_deploy.redeploy(wide.name, self.local["v1"], pull=False, min_uptime=0.5, **wide_spec)
        client = docker_py.from_env()
        calls = 200

        def per_call(fn) -> float:
            fn()
            started = time.perf_counter()
            for _ in range(calls):
                fn()
            return (time.perf_counter() - started) * 1000 / calls

        def noop() -> None:
            report = docker_deploy.redeploy(app.name, self.local["v1"], pull=False, **spec)
            assert report["action"] == "none"

        def noop_30() -> None:
            report = docker_deploy.redeploy(wide.name, self.local["v1"], pull=False, **wide_spec)
            assert report["action"] == "none"

        def diff() -> None:
            assert not docker_deploy.image_diff(app.name, self.local["v1"])["differs"]

        def docker_py_diff() -> None:
            container = client.containers.get(app.name)
            assert container.attrs["Image"] == client.images.get(self.local["v1"]).id

        samples = [
            {
                "redeploy_noop_ms": per_call(noop),
                "redeploy_noop_30_keywords_ms": per_call(noop_30),
                "image_diff_ms": per_call(diff),
                "docker_py_diff_ms": per_call(docker_py_diff),
            }
            for _ in range(self.runs)
        ]
        self.results["S5"] = {k: median(s[k] for s in samples) for k in samples[0]}
        print(f"  S5 {self.results['S5']}", file=sys.stderr, flush=True)

    def s6(self) -> None:
        """A fleet from the master: our rollout against `salt -b`, each minion's container on
        a new image, a prober on every container."""
        ours_repo, dm_repo = "bench-fleet-ours", "bench-fleet-dm"
        fleet = _FleetApp(self.bed, self.registry, ours_repo, f"ddbench-{self.bed.run_id}-fleet")
        minions = {f"fleet{i}": "prod" for i in range(1, FLEET + 1)}
        root = Path(tempfile.mkdtemp(prefix="ddbench-", dir="/tmp"))  # short: socket paths
        cluster = SaltCluster(root, fleet, minions)
        dm_ports = {minion: unique_port() for minion in minions}
        for minion in minions:
            path = root / "pillar" / f"{minion}.sls"
            pillar = json.loads(path.read_text())
            pillar["webapp"].update(
                dm_name=f"{cluster.container(minion)}-dm",
                dm_port=dm_ports[minion],
                dm_image=f"{self.registry.host}/{dm_repo}:prod",
            )
            path.write_text(json.dumps(pillar))
        (root / "states" / "fleet_ours.sls").write_text(FLEET_OURS)
        (root / "states" / "fleet_dm.sls").write_text(FLEET_DOCKERMOD)
        ports = {
            "ours": [cluster.ports[m] for m in minions],
            "dockermod": [dm_ports[m] for m in minions],
        }
        repos = {"ours": ours_repo, "dockermod": dm_repo}

        def roll_out(system: str) -> None:
            if system == "ours":
                report, printed = cluster.salt_run(
                    "docker_deploy.rollout", "tgt=fleet*", "mods=fleet_ours", "canary=0",
                    f"batch={FLEET_BATCH}", "timeout=120",
                )  # fmt: skip
                assert report["result"] is True, printed
                return
            cmd = [
                Path(sys.executable).parent / "salt", "-c", cluster.conf, "--out=json",
                "--static", "-b", str(FLEET_BATCH), "fleet*", "state.apply", "fleet_dm",
            ]  # fmt: skip
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
            returns = json.loads(proc.stdout)
            for minion in minions:
                states = returns.get(minion)
                assert isinstance(states, dict), (minion, proc.stdout[-2000:])
                failed = {k: v["comment"] for k, v in states.items() if v["result"] is not True}
                assert not failed, (minion, failed)

        row = {}
        try:
            cluster.start()
            for system in ("ours", "dockermod"):
                publish = [_Repo(repos[system])]
                self.publish(publish, "v1")
                roll_out(system)  # the first deploy, not measured
                for port in ports[system]:
                    assert wait_http(port, "v1") == "v1", (system, port)
                samples = []
                for n in range(self.runs):
                    version = "v2" if n % 2 == 0 else "v1"
                    self.publish(publish, version)
                    probers = [Prober(port) for port in ports[system]]
                    for prober in probers:
                        prober.start()
                    time.sleep(0.2)
                    started = time.perf_counter()
                    roll_out(system)
                    wall_ms = (time.perf_counter() - started) * 1000
                    for port in ports[system]:
                        assert wait_http(port, version) == version, (system, port)
                    gaps = [prober.stop() for prober in probers]
                    samples.append(
                        {
                            "wall_ms": wall_ms,
                            "gap_ms": max(g["gap_ms"] for g in gaps),
                            "refused": sum(g["refused"] for g in gaps),
                        }
                    )
                row[system] = {k: median(s[k] for s in samples) for k in samples[0]}
                print(f"  S6 {system:9} {row[system]}", file=sys.stderr, flush=True)
        finally:
            cluster.stop()
            docker("rm", "-f", *(f"{cluster.container(m)}-dm" for m in minions), check=False)
            shutil.rmtree(root, ignore_errors=True)
        self.results["S6"] = row

    def forget(self, apps: list[App]) -> None:
        """Removes a scenario's containers, so that the next one runs on a quiet engine."""
        docker("rm", "-f", *[a.name for a in apps], check=False)

    def close(self) -> None:
        self.registry.stop()
        self.bed.cleanup()


class _FleetApp:
    """What tests.support.cluster.SaltCluster reads of an app: the bed (labels), the
    registry, our repository, and the prefix of the minions' container names."""

    def __init__(self, bed: TestBed, registry: Registry, repo: str, name: str):
        self.bed, self.registry, self.repo, self.name = bed, registry, repo, name


class _Repo:
    """A repository to publish to (Bench.publish reads `repo`)."""

    def __init__(self, repo: str):
        self.repo = repo


def fmt(value, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:,.1f}{unit}" if value < 100 else f"{value:,.0f}{unit}"


def ratio(theirs, ours) -> str:
    if not theirs or not ours:
        return "n/a"
    return f"{theirs / ours:,.1f}x"


def best_ours(row: dict, metric: str):
    values = [row[s][metric] for s in ("ours", "ours-group") if s in row and row[s][metric]]
    return min(values) if values else None


def table(results: dict) -> str:
    """The side-by-side table, Markdown: one row per scenario and metric."""
    rows = [
        "| scenario | metric | ours (a state each) | ours (one group state) | dockermod (b) "
        "| seed (c) | b / best of ours |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]

    def row(label: str, metric: str, r: dict, unit: str) -> str:
        cells = " | ".join(fmt(r[s][metric], unit) if s in r else "n/a" for s in SYSTEMS)
        versus = ratio(r["dockermod"][metric], best_ours(r, metric))
        return f"| {label} | {metric} | {cells} | {versus} |"

    for count in (1, 20):
        r = results[f"S1_{count}"]
        label = f"S1 no-op, {count} container{'s' if count > 1 else ''}"
        for metric, unit in (("state_ms", " ms"), ("wall_ms", " ms"), ("rss_mib", " MiB")):
            rows.append(row(label, metric, r, unit))
        if count == 20:
            per = [fmt(r[s]["state_ms"] / 20, " ms") for s in ("ours", "ours-group")]
            rows.append(f"| {label} | state_ms per container | {per[0]} | {per[1]} | | | |")
    r = results["S2"]
    for metric, unit in (("state_ms", " ms"), ("gap_ms", " ms"), ("refused", "")):
        rows.append(row("S2 new image, 1 container", metric, r, unit))
    floor = r["floor"]
    rows.append(
        f"| S2 floor: docker stop + docker start | gap_ms | {fmt(floor['gap_ms'], ' ms')} | | | "
        f"| ours / floor: {ratio(r['ours']['gap_ms'], floor['gap_ms'])} |"
    )
    r = results["S3"]
    rows.append(row("S3 new image, 20 containers", "wall_ms", r, " ms"))
    if "floor" in r:
        floor = r["floor"]["wall_ms"]
        rows.append(
            f"| S3 floor: stop + start of the 20 at once (no Salt, no verification) | wall_ms "
            f"| | {fmt(floor, ' ms')} | | | the most b / ours could be: "
            f"{ratio(r['dockermod']['wall_ms'], floor)}; with our default min_uptime (2 s) "
            f"added: {ratio(r['dockermod']['wall_ms'], floor + 2000)} |"
        )
    r = results["S4"]
    rows.append(
        f"| S4 is there a new image? | registry digest (ours) vs pull | "
        f"{fmt(r['check_ms'], ' ms')} | | pull: {fmt(r['pull_ms'], ' ms')} | "
        f"| pull / check: {ratio(r['pull_ms'], r['check_ms'])} |"
    )
    rows.append(
        f"| S4 is there a new image? | first check after the push | "
        f"{fmt(r['first_check_ms'], ' ms')} | | | | pull / first: "
        f"{ratio(r['pull_ms'], r['first_check_ms'])} |"
    )
    r = results["S5"]
    rows.append(
        f"| S5 Python API, in process | no-op redeploy per call | "
        f"{fmt(r['redeploy_noop_ms'], ' ms')} | | | | |"
    )
    rows.append(
        f"| S5 Python API, in process | no-op redeploy per call, 30 declared keywords | "
        f"{fmt(r['redeploy_noop_30_keywords_ms'], ' ms')} | | | | 30 / 3 keywords: "
        f"{ratio(r['redeploy_noop_30_keywords_ms'], r['redeploy_noop_ms'])} |"
    )
    rows.append(
        f"| S5 Python API, in process | image_diff per call | {fmt(r['image_diff_ms'], ' ms')} "
        f"| | docker-py: {fmt(r['docker_py_diff_ms'], ' ms')} | "
        f"| docker-py / ours: {ratio(r['docker_py_diff_ms'], r['image_diff_ms'])} |"
    )
    r = results.get("S6")
    if r:
        label = f"S6 fleet, {FLEET} minions from a master, batches of {FLEET_BATCH}"
        for metric, unit in (("wall_ms", " ms"), ("gap_ms", " ms"), ("refused", "")):
            rows.append(
                f"| {label} | {metric} | {fmt(r['ours'][metric], unit)} | | "
                f"{fmt(r['dockermod'][metric], unit)} | | "
                f"{ratio(r['dockermod'][metric], r['ours'][metric])} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario")
    parser.add_argument(
        "--only",
        metavar="S1,S4",
        help="run these scenarios only and print their raw numbers (no table, no results.json)",
    )
    args = parser.parse_args()
    bench = Bench(args.runs)
    scenarios = (bench.s1, bench.s2, bench.s3, bench.s4, bench.s5, bench.s6)
    only = {s.strip().upper() for s in args.only.split(",")} if args.only else None
    try:
        for scenario in scenarios:
            if only and scenario.__name__.upper() not in only:
                continue
            print(f"==> {scenario.__name__.upper()}", file=sys.stderr, flush=True)
            scenario()
    finally:
        bench.close()
    if only:
        print(json.dumps(bench.results, indent=2))
        return
    engine = docker("version", "-f", "{{.Server.Version}}")
    bench.results["machine"] = {
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker_engine": engine,
        "date": time.strftime("%Y-%m-%d"),
    }
    (HERE / "results.json").write_text(json.dumps(bench.results, indent=2) + "\n")
    print(table(bench.results))


if __name__ == "__main__":
    main()
