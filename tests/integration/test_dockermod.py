"""The same container as Salt's own state: the same arguments through `saltext-dockermod`
(Salt's `docker_container.running` and `docker.create`, with docker-py, from PyPI) and through
`docker_deploy`, then `docker inspect` of both compared where each argument lands.

Each case is a group of keywords. Salt's container is made by `docker.create` (the function
`docker_container.running` creates with); ours by a real redeploy paused right after its create
step (the test hook), so settings this machine cannot start (`privileged`, devices) are still
compared where the Engine took them. A realistic state is also applied by both states and the
running containers compared; and a container made by `docker_container.running` is adopted
without a restart when its state switches to `docker_deploy.deployed`.

Where Salt's translation is wrong, ours differs on purpose (README, "Differences from
docker_container.running"): those are asserted as differences here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from saltext import docker_deploy
from tests.support.deploying import Run
from tests.support.saltcall import SaltCall
from tests.support.testbed import container_events, docker, inspect, wait_http

SALT_CALL = Path(sys.executable).parent / "salt-call"

# Where each keyword lands, from the core's table (`HostConfig.CapAdd`).
LANDS = {row["name"]: row["lands"] for row in docker_deploy.SPEC_TABLE}
LANDS["port_bindings"] = "HostConfig.PortBindings"
ALIASES = {a: row["name"] for row in docker_deploy.SPEC_TABLE for a in row["aliases"]}

CASES = {
    "process": {
        "command": ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"],
        "environment": {"APP_ENV": "prod", "EMPTY": ""},
        "working_dir": "/www",
        "user": "0:0",
        "hostname": "web1",
        "domainname": "example.com",
        "stop_signal": "SIGINT",
        "stop_timeout": 7,
        "tty": True,
        "stdin_open": True,
        "init": True,
        "healthcheck": {"test": ["CMD", "true"], "interval": 30_000_000_000, "retries": 3},
        "restart_policy": "on-failure:3",
    },
    "network": {
        "port_bindings": ["127.0.0.1:{port}:80", "127.0.0.1::81/udp"],
        "ports": [8080, "9000/udp"],
        "dns": ["10.0.0.53"],
        "dns_opt": ["ndots:2"],
        "dns_search": ["example.com"],
        "extra_hosts": ["db:10.0.0.2", "cache:10.0.0.3"],
    },
    "resources": {
        "mem_limit": "256m",
        "mem_reservation": "128m",
        "memswap_limit": "512m",
        "mem_swappiness": 10,
        "cpu_period": 100000,
        "cpu_quota": 50000,
        "cpu_shares": 512,
        "cpuset_cpus": "0",
        "cpuset_mems": "0",
        "pids_limit": 100,
        "oom_score_adj": 100,
        "oom_kill_disable": True,
        "shm_size": "64m",
        "blkio_weight": 300,
        "ulimits": ["nofile=1024:2048", "nproc=512"],
    },
    "security": {
        "cap_add": ["NET_ADMIN", "SYS_TIME"],
        "cap_drop": ["MKNOD"],
        "security_opt": ["no-new-privileges"],
        "privileged": True,
        "read_only": True,
        "group_add": ["audio"],
        "sysctls": {"net.core.somaxconn": "1024"},
        "ipc_mode": "shareable",
        "pid_mode": "host",
        "uts_mode": "host",
        "cgroup_parent": "/ddtest",
    },
    "devices": {
        "devices": ["/dev/fuse:/dev/fuse:rwm"],
        "device_read_bps": ["/dev/null:1048576"],
        "device_write_iops": ["/dev/null:100"],
        "blkio_weight_device": ["/dev/null:200"],
        "runtime": "runc",
    },
    "storage": {
        "binds": {"/tmp": {"bind": "/host-tmp", "ro": True}},
        "volumes": ["/cache"],
        "tmpfs": {"/run": "size=64m"},
        "volume_driver": "local",
    },
    "logging": {"log_driver": "json-file", "log_opt": {"max-size": "1m", "max-file": "2"}},
    "cpus": {"nano_cpus": 500_000_000},
    "more": {
        "entrypoint": ["/bin/busybox"],
        "labels": {"team": "web", "tier": "front"},
        "device_write_bps": ["/dev/null:2097152"],
        "device_read_iops": ["/dev/null:50"],
        "device_requests": [{"driver": "nvidia", "count": -1, "capabilities": [["gpu"]]}],
        "publish_all_ports": True,
        "userns_mode": "host",
        "cgroupns": "private",
    },
    # A peer container (made by the test, never started) to link to and take volumes from.
    "peers": {"links": {"{peer}": "db"}, "volumes_from": ["{peer}:ro"]},
    "no-network": {"network_mode": "none", "network_disabled": True},
    # docker-py's spellings: the Engine's healthcheck keys (nanoseconds), comma-separated lists.
    "forms": {
        "healthcheck": {"Test": ["CMD", "true"], "Interval": 2_000_000_000, "Retries": 2},
        "security_opt": "no-new-privileges",
        "cap_add": "NET_ADMIN,SYS_TIME",
        "dns": "10.0.0.53,10.0.0.54",
    },
}

# Settings this machine's Engine drops at create (cgroup v2 has no such control), for Salt's
# container and ours alike: compared, but they may be unset on both.
ENGINE_DROPS = {"blkio_weight", "blkio_weight_device", "oom_kill_disable"}


def at(found: dict, path: str):
    value = found
    for part in path.split("."):
        value = (value or {}).get(part)
    return value


def salt_create(app, tmp_path: Path, name: str, keywords: dict) -> str:
    """`docker.create` of saltext-dockermod, as `docker_container.running` calls it."""
    conf = tmp_path / "salt-conf"
    conf.mkdir(exist_ok=True)
    (conf / "minion").write_text(
        f"id: dd-diff\nroot_dir: {tmp_path}/salt-run\nfile_client: local\n"
        f"log_file: {tmp_path}/salt.log\n"
    )
    label_key, label_value = next(iter(app.bed.labels.items()))
    labels = {label_key: label_value, **keywords.pop("labels", {})}
    args = [f"{k}={json.dumps(v)}" for k, v in {**keywords, "labels": labels}.items()]
    proc = subprocess.run(
        [str(SALT_CALL), "--local", "-c", str(conf), "--out=json", "docker.create", app.ref,
         f"name={name}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    created = json.loads(proc.stdout or "{}").get("local")
    assert isinstance(created, dict) and created.get("Id"), f"{proc.stdout}\n{proc.stderr}"
    return created["Id"]


def ours_created(app, tmp_path: Path, keywords: dict) -> dict:
    """Our container as the create step left it: a redeploy paused after it, then killed."""
    # The app's own settings give way to the case's (stop_timeout is shutdown_timeout).
    defaults = {"port_bindings": None, "shutdown_timeout": None}
    run = Run(app, tmp_path, pause="create", **{**defaults, **keywords})
    try:
        run.wait_paused()
        return inspect(f"{app.name}.deploy-new")
    finally:
        run.kill()


def bind_targets(keywords: dict) -> set[str]:
    return {target["bind"] for target in keywords.get("binds", {}).values()}


def filled(keywords: dict, **names) -> dict:
    """`keywords` with `{port}`, `{peer}` (in values and in dict keys) filled in."""

    def fill(value):
        if isinstance(value, str):
            return value.format(**names)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {fill(k): fill(v) for k, v in value.items()}
        return value

    return {k: fill(v) for k, v in keywords.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_keyword_lands_where_salts_translation_puts_it(app, tmp_path, case):
    app.publish("v1")
    docker("pull", "-q", app.ref)
    peer = f"{app.name}-peer"
    keywords = filled(CASES[case], port=app.port, peer=peer)
    salt_name = f"{app.name}-salt"
    try:
        if case == "peers":
            docker("create", "--name", peer, "--label", app.bed.label, "-v", "/shared", app.ref)
        salt_create(app, tmp_path, salt_name, dict(keywords))
        salts = inspect(salt_name)
        ours = ours_created(app, tmp_path, dict(keywords))
        for keyword in keywords:
            path = LANDS[ALIASES.get(keyword, keyword)]
            mine, theirs = at(ours, path), at(salts, path)
            if keyword == "volumes":
                # Salt declares every bind's target as a volume too (README, "Differences").
                theirs = {k: v for k, v in theirs.items() if k not in bind_targets(keywords)}
            if keyword == "labels":
                # Ours carries this tool's record besides.
                mine = {k: v for k, v in mine.items() if not k.startswith("io.saltext.")}
            if keyword == "links":
                # The Engine writes a link with the name of the container that has it.
                mine = [link.replace(f"{app.name}.deploy-new", "<self>") for link in mine]
                theirs = [link.replace(salt_name, "<self>") for link in theirs]
            assert mine == theirs, f"{keyword} at {path}: ours {mine!r}, Salt's {theirs!r}"
            if keyword not in ENGINE_DROPS:
                assert at(ours, path) not in (None, "", [], {}, 0, False), f"{keyword} unset"
    finally:
        docker("rm", "-f", salt_name, f"{app.name}.deploy-new", peer, check=False)


def test_where_salts_translation_is_wrong_ours_does_what_was_declared(app, tmp_path):
    app.publish("v1")
    docker("pull", "-q", app.ref)
    salt_name = f"{app.name}-salt"
    keywords = {"log_opt": {"max-size": "1m"}, "cpu_group": 50000}
    try:
        salt_create(app, tmp_path, salt_name, dict(keywords))
        salts, ours = inspect(salt_name), ours_created(app, tmp_path, dict(keywords))
        # Salt: log_opt alone switches logging off; cpu_group is dropped by docker-py.
        assert at(salts, "HostConfig.LogConfig.Type") == "none"
        assert at(salts, "HostConfig.CpuPeriod") == 0
        # Ours: the Engine's default driver with the options; the CPU period as documented.
        assert at(ours, "HostConfig.LogConfig.Type") == "json-file"
        assert at(ours, "HostConfig.LogConfig.Config")["max-size"] == "1m"
        assert at(ours, "HostConfig.CpuPeriod") == 50000
        docker("rm", "-f", salt_name, f"{app.name}.deploy-new")
        # Salt hands a rate with a unit to the Engine as it is, which refuses it.
        rate = {"device_read_bps": ["/dev/null:1mb"]}
        with pytest.raises(AssertionError, match="cannot unmarshal string"):
            salt_create(app, tmp_path, salt_name, dict(rate))
        ours = ours_created(app, tmp_path, dict(rate))
        assert at(ours, "HostConfig.BlkioDeviceReadBps") == [{"Path": "/dev/null", "Rate": 1048576}]
    finally:
        docker("rm", "-f", salt_name, f"{app.name}.deploy-new", check=False)


STATE = """\
{name}:
  {state}:
    - image: {image}
    - port_bindings: ["127.0.0.1:{port}:80"]
    - environment: {{APP_ENV: prod}}
    - restart_policy: unless-stopped
    - cap_add: [NET_ADMIN]
    - mem_limit: 256m
    - log_driver: json-file
    - log_opt: {{max-size: 1m}}
    - ulimits: nofile=1024:2048
    - labels: {{{label_key}: "{label_value}"}}
    - stop_timeout: 5
    - shutdown_timeout: 20
    - networks:
      - {network}:
        - aliases: [web]
{extra}"""


def write_state(salt: SaltCall, app, state: str, extra: str = "") -> None:
    label_key, label_value = next(iter(app.bed.labels.items()))
    (salt.root / "states" / "app.sls").write_text(
        STATE.format(
            name=app.name, state=state, image=app.ref, port=app.port,
            label_key=label_key, label_value=label_value, extra=extra,
            network=f"{app.name}-net",
        )
    )  # fmt: skip


def apply(salt: SaltCall) -> dict:
    proc = subprocess.run(salt.command(), capture_output=True, text=True, timeout=180)
    try:
        (result,) = json.loads(proc.stdout)["local"].values()
    except (ValueError, KeyError) as err:
        raise AssertionError(f"salt-call failed: {proc.stdout}\n{proc.stderr}") from err
    return result


def test_a_state_switched_from_docker_container_running_is_adopted_without_a_restart(app, tmp_path):
    """The promise: change one line, `docker_container.running` to `docker_deploy.deployed`,
    and the container Salt made keeps running; the next run is a no-op; the containers both
    states make for the same arguments agree on every argument."""
    app.publish("v1")
    docker("pull", "-q", app.ref)
    network = f"{app.name}-net"
    docker("network", "create", "--label", app.bed.label, network)
    try:
        switch_over(app, tmp_path)
    finally:
        docker("rm", "-f", app.name, check=False)
        docker("network", "rm", network, check=False)


def switch_over(app, tmp_path):
    salt = SaltCall(tmp_path / "salt", app)
    write_state(salt, app, "docker_container.running")
    first = apply(salt)
    assert first["result"] is True, first["comment"]
    theirs = inspect(app.name)
    assert wait_http(app.port, "v1") == "v1"

    write_state(salt, app, "docker_deploy.deployed", extra="    - min_uptime: 0.5\n")
    since = time.time()
    switched = apply(salt)
    until = time.time()
    assert switched["result"] is True, switched["comment"]
    assert switched["changes"].pop("deploy")["downtime_ms"] is None
    assert switched["changes"] == {"declared_settings_recorded": {"old": False, "new": True}}
    assert "runs the declared image with every declared setting" in switched["comment"]
    assert container_events(since, until, app.name) == []
    now = inspect(app.name)
    assert (now["Id"], now["State"]["StartedAt"]) == (theirs["Id"], theirs["State"]["StartedAt"])
    again = apply(salt)
    assert again["result"] is True and again["changes"] == {}, again

    # Ours, made from scratch by the same state, agrees with Salt's on every argument.
    docker("rm", "-f", app.name)
    made = apply(salt)
    assert made["result"] is True and made["changes"]["container_id"]["new"], made
    ours = inspect(app.name)
    for path in [
        "HostConfig.PortBindings", "HostConfig.RestartPolicy", "HostConfig.CapAdd",
        "HostConfig.Memory", "HostConfig.LogConfig", "HostConfig.Ulimits", "Config.StopTimeout",
    ]:  # fmt: skip
        assert at(ours, path) == at(theirs, path), path
    network = f"{app.name}-net"
    for found in (ours, theirs):
        assert "web" in found["NetworkSettings"]["Networks"][network]["Aliases"]
    assert "APP_ENV=prod" in ours["Config"]["Env"] and "APP_ENV=prod" in theirs["Config"]["Env"]
    assert wait_http(app.port, "v1") == "v1"
