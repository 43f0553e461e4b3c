"""End to end through Salt: `salt-call --local state.apply` against the real engine and registry."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.saltcall import SALT_CALL, SaltCall
from tests.support.testbed import (
    docker,
    free_port,
    inspect,
    stop_process,
    wait_for,
    wait_http,
)


@pytest.fixture
def salt(app, tmp_path):
    return SaltCall(tmp_path / "salt", app)


def events_about(app, since: float, until: float) -> list[dict]:
    time.sleep(max(0.0, until - time.time()) + 0.1)
    out = docker(
        "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--format", "{{json .}}"
    )
    return [json.loads(e) for e in out.splitlines() if app.name in e or app.repo in e]


def test_salt_call_deploy_noop_predict_replace(app, salt):
    app.publish("v1")
    salt.write_state()

    first = salt.apply()
    assert first["result"] is True, first["comment"]
    assert set(first["changes"]) >= {"image", "container_id"}
    assert first["changes"]["container_id"]["old"] is None
    assert wait_http(app.port, "v1") == "v1"
    assert "APP_ENV=prod" in inspect(app.name)["Config"]["Env"]

    noop = salt.apply()
    assert noop["result"] is True and noop["changes"] == {}, noop
    assert "up to date" in noop["comment"]

    app.publish("v2")
    before = inspect(app.name)
    local_tag = docker("image", "inspect", "-f", "{{.Id}}", app.ref)
    since = time.time()
    predicted = salt.apply(test=True)
    until = time.time() + 0.3
    assert predicted["result"] is None, predicted
    assert predicted["comment"].startswith("would")
    assert predicted["changes"]["image"]["old"] == before["Image"]
    assert "in the registry" in predicted["changes"]["image"]["new"]
    assert events_about(app, since, until) == [], "test=True touched the engine"
    assert inspect(app.name)["Id"] == before["Id"]
    assert docker("image", "inspect", "-f", "{{.Id}}", app.ref) == local_tag
    assert wait_http(app.port, "v1") == "v1"

    replaced = salt.apply()
    assert replaced["result"] is True, replaced["comment"]
    assert replaced["changes"]["image"]["old"] == before["Image"]
    assert replaced["changes"]["image"]["new"] != before["Image"]
    assert replaced["changes"]["container_id"]["old"] == before["Id"]
    assert replaced["comment"].startswith("replaced") and "tag now" in replaced["comment"]
    assert wait_http(app.port, "v2") == "v2"
    assert app.bed.containers(app.name) == [app.name]

    again = salt.apply()
    assert again["result"] is True and again["changes"] == {}
    again_test = salt.apply(test=True)
    assert again_test["result"] is True and again_test["changes"] == {}


def test_salt_call_bad_argument_touches_nothing(app, salt):
    app.publish("v1")
    salt.write_state()
    assert salt.apply()["result"] is True
    before = inspect(app.name)
    salt.write_state(extra="    - enviroment: {A: b}\n")
    for test in (True, False):
        bad = salt.apply(test=test)
        assert bad["result"] is False
        assert "enviroment" in bad["comment"] and bad["changes"] == {}
    assert inspect(app.name)["Id"] == before["Id"]
    assert inspect(app.name)["State"]["StartedAt"] == before["State"]["StartedAt"]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "salt"


def test_the_example_state_deploys_the_environment_tag(app, salt):
    """examples/salt as shipped, with the pillar pointed at the test registry."""
    app.publish("v1", tag="qa")
    for sls in ("top.sls", "webapp.sls"):
        (salt.root / "states" / sls).write_text((EXAMPLES / "states" / sls).read_text())
    (salt.root / "pillar" / "top.sls").write_text((EXAMPLES / "pillar" / "top.sls").read_text())
    label_key, label_value = next(iter(app.bed.labels.items()))
    (salt.root / "pillar" / "webapp.sls").write_text(
        json.dumps(
            {
                "webapp": {
                    "name": app.name,
                    "image": f"{app.registry.host}/{app.repo}",
                    "env": "qa",
                    "bind": "127.0.0.1",
                    "port": app.port,
                    "labels": {label_key: label_value},
                }
            }
        )
    )

    def highstate() -> dict:
        cmd = [str(SALT_CALL), "--local", "-c", str(salt.root / "conf"), "--out=json"]
        proc = subprocess.run(
            [*cmd, "state.apply"], capture_output=True, text=True, timeout=120, check=False
        )
        (result,) = json.loads(proc.stdout)["local"].values()
        return result

    first = highstate()
    assert first["result"] is True, first["comment"]
    assert wait_http(app.port, "v1") == "v1"
    assert "APP_ENV=qa" in inspect(app.name)["Config"]["Env"]
    assert inspect(app.name)["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert highstate()["changes"] == {}


PACKAGE = Path(__file__).resolve().parents[2] / "salt" / "saltext" / "docker_deploy"
MARKER = """

def loaded_from(name="x", **kwargs):  # appended by the test: which copy did Salt load?
    return {marker}
"""


def test_modules_copied_into_file_roots_are_loaded_and_work(app, salt):
    """The second way to install: `_modules` / `_states` in file_roots plus saltutil.sync_all.
    A marker function appended to the copies tells which file Salt actually loaded."""
    app.publish("v1")
    salt.write_state()
    for kind, target in (("modules", "_modules"), ("states", "_states")):
        folder = salt.root / "states" / target
        folder.mkdir()
        source = (PACKAGE / kind / "docker_deploy_mod.py").read_text()
        marker = (
            "__file__"
            if kind == "modules"
            else '{"name": name, "result": True, "changes": {}, "comment": __file__}'
        )
        (folder / "docker_deploy_mod.py").write_text(source + MARKER.format(marker=marker))

    base = [str(SALT_CALL), "--local", "-c", str(salt.root / "conf"), "--out=json"]

    def call(*args: str):
        proc = subprocess.run(
            [*base, *args], capture_output=True, text=True, timeout=120, check=False
        )
        return json.loads(proc.stdout)["local"]

    synced = call("saltutil.sync_all")
    assert "modules.docker_deploy_mod" in synced["modules"]
    assert "states.docker_deploy_mod" in synced["states"]
    module_file = call("docker_deploy.loaded_from")
    assert "extmods" in module_file and module_file.endswith("docker_deploy_mod.py")
    (state,) = call("state.single", "docker_deploy.loaded_from", "name=x").values()
    assert "extmods" in state["comment"]

    deployed = salt.apply()
    assert deployed["result"] is True, deployed["comment"]
    assert wait_http(app.port, "v1") == "v1"
    assert salt.apply()["changes"] == {}


def test_test_mode_with_the_registry_unreachable_cannot_tell(app, salt):
    app.publish("v1")
    salt.write_state()
    assert salt.apply()["result"] is True
    before = inspect(app.name)
    sls = salt.root / "states" / "app.sls"
    sls.write_text(sls.read_text().replace(app.registry.host, f"127.0.0.1:{free_port()}"))
    since = time.time()
    blind = salt.apply(test=True)
    until = time.time() + 0.3
    assert blind["result"] is False and blind["changes"] == {}
    assert "cannot tell" in blind["comment"] and "RegistryError" in blind["comment"]
    assert events_about(app, since, until) == []
    assert inspect(app.name)["State"]["StartedAt"] == before["State"]["StartedAt"]


def test_a_watch_requisite_forces_a_redeploy(app, salt):
    app.publish("v1")
    salt.write_state()
    first = salt.apply()
    assert first["result"] is True
    salt.write_state(
        extra="    - watch:\n        - test: config-changed\n\n"
        "config-changed:\n  test.succeed_with_changes: []\n"
    )
    forced = salt.apply()
    assert forced["result"] is True, forced["comment"]
    assert "watch" in forced["comment"]
    assert forced["changes"]["container_id"]["old"] == first["changes"]["container_id"]["new"]
    assert inspect(app.name)["Id"] != first["changes"]["container_id"]["new"]
    assert wait_http(app.port, "v1") == "v1"


def test_test_mode_follows_the_pull_policy(app, salt):
    """test=True is the real path's dry run: with `pull_policy: never` a tag that moved only in
    the registry changes nothing, and test=True says so (it used to predict a replacement)."""
    app.publish("v1")
    salt.write_state()
    assert salt.apply()["result"] is True
    salt.write_state(extra="    - pull_policy: never\n")
    before = inspect(app.name)["Id"]
    local = docker("image", "inspect", "-f", "{{.Id}}", app.ref)
    app.publish("v2")
    docker("tag", local, app.ref)
    predicted = salt.apply(test=True)
    assert predicted["result"] is True and predicted["changes"] == {}, predicted
    applied = salt.apply()
    assert applied["result"] is True and applied["changes"] == {}, applied
    assert inspect(app.name)["Id"] == before


def test_test_mode_of_a_group_reports_each_entry_and_the_failing_one(app, salt):
    """A group under test=True: the entry that would change is predicted, the one whose image
    is not in the registry fails the state with its error, and nothing raises (it used to)."""
    app.publish("v1")
    label_key, label_value = next(iter(app.bed.labels.items()))
    host = app.registry.host
    (salt.root / "states" / "app.sls").write_text(
        f"""\
pair:
  docker_deploy.group:
    - labels: {{{label_key}: "{label_value}"}}
    - min_uptime: 0.5
    - containers:
      - {{name: {app.name}, image: {host}/{app.repo}, tag: prod,
         port_bindings: ["127.0.0.1:{app.port}:80"]}}
      - {{name: {app.name}-missing, image: {host}/{app.repo}-missing, tag: prod}}
"""
    )
    predicted = salt.apply(test=True)
    assert predicted["result"] is False, predicted
    lines = predicted["comment"].splitlines()
    assert lines[0].startswith(f'{app.name}: would create "{app.name}"'), lines
    assert lines[1].startswith(f"{app.name}-missing: ImageNotFound"), lines
    assert list(predicted["changes"]) == [app.name]
    assert inspect(app.name) is None
    applied = salt.apply()
    assert applied["result"] is False
    assert applied["comment"].splitlines()[0].startswith(f'{app.name}: created "{app.name}"')
    assert wait_http(app.port, "v1") == "v1"


def test_the_deployed_states_of_a_run_are_settled_together(app, salt, images, registry, bed):
    """Two deployed states: the second apply finds both up to date in one pass at the first
    state (the minion log says so), and a third apply after the tag of one moved replaces
    that one only."""
    other = f"{app.name}-b"
    port = free_port()
    conf = salt.root / "conf" / "minion"
    conf.write_text(conf.read_text() + "log_level_logfile: info\n")
    app.publish("v1")
    salt.write_state(
        extra=(
            f"{other}:\n  docker_deploy.deployed:\n"
            f"    - image: {app.registry.host}/{app.repo}\n    - tag: prod\n"
            f'    - port_bindings: ["127.0.0.1:{port}:80"]\n    - shutdown_timeout: 5\n'
            f"    - labels: {json.dumps(app.bed.labels)}\n"
        )
    )
    try:
        proc = subprocess.run(salt.command(), capture_output=True, text=True, timeout=120)
        first = json.loads(proc.stdout)["local"]
        assert all(r["result"] is True for r in first.values()), first
        proc = subprocess.run(salt.command(), capture_output=True, text=True, timeout=120)
        again = json.loads(proc.stdout)["local"]
        assert all(r["result"] is True and r["changes"] == {} for r in again.values()), again
        (log,) = salt.root.rglob("minion.log")
        log = log.read_text()
        names = ", ".join(sorted([app.name, other]))
        assert f"2 deployed states settled together; up to date: {names}" in log, log[-2000:]
        app.publish("v2")
        proc = subprocess.run(salt.command(), capture_output=True, text=True, timeout=120)
        moved = json.loads(proc.stdout)["local"]
        assert all(r["changes"]["image"]["new"] for r in moved.values()), moved
        assert wait_http(port, "v2") == "v2" and wait_http(app.port, "v2") == "v2"
    finally:
        docker("rm", "-f", other, check=False)


def test_under_salt_call_local_the_events_go_to_the_local_bus_of_a_minion_daemon(app):
    """Masterless (`salt-call --local`): with a salt-minion daemon running here without a
    master (`master_type: disable`), a redeploy's event goes to that minion's local bus; with
    none, there is no bus, and the deploy goes on without it."""
    import salt.config
    import salt.utils.event

    # A short root: the bus's sockets live under it (Unix socket paths: at most 107 bytes).
    root = Path(tempfile.mkdtemp(prefix="ddsc-", dir="/tmp"))
    call = SaltCall(root, app)
    with (root / "conf" / "minion").open("a") as conf:
        conf.write("master_type: disable\n")
    daemon = None
    try:
        app.publish("v1")
        call.write_state()
        created = call.apply()  # no daemon: no bus
        assert created["result"] is True, created["comment"]

        daemon = subprocess.Popen(
            [SALT_CALL.parent / "salt-minion", "-c", root / "conf", "-l", "quiet"]
        )
        opts = salt.config.minion_config(str(root / "conf" / "minion"))
        sock_dir = Path(opts["sock_dir"])
        assert wait_for(lambda: list(sock_dir.glob("minion_event_*_pub.ipc")), timeout=60)
        with salt.utils.event.get_event(
            "minion", sock_dir=str(sock_dir), opts=opts, listen=True
        ) as bus:
            app.publish("v2")
            replaced = call.apply()
            assert replaced["result"] is True, replaced["comment"]
            event = bus.get_event(wait=20, tag="saltext/docker_deploy/", full=True)
        assert event is not None, "no event on the local bus"
        assert event["tag"] == "saltext/docker_deploy/replaced"
        assert event["data"]["name"] == app.name and event["data"]["minion"] == "dd-test"
        assert event["data"]["new_image_id"] == inspect(app.name)["Image"]
    finally:
        if daemon is not None:
            stop_process(daemon)
        shutil.rmtree(root, ignore_errors=True)
