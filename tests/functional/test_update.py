"""`update(image)`: every container on the host that follows a tag is redeployed from its
record (its declaration and options as last deployed), through the verified path; the tag's
digest decides, so a repeated or late call is a no-op; containers on other tags see no Engine
event. `managed()` lists what this tool keeps. Against the real Engine and registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from saltext import docker_deploy
from tests.support.apps import LOCK_DIR
from tests.support.deploying import pause_env
from tests.support.testbed import (
    container_events,
    docker,
    free_port,
    inspect,
    remove_containers_and_volumes,
    wait_for,
    wait_http,
)


def deploy(app, name, ref, port, **more):
    more.setdefault("min_uptime", 0.5)
    spec = app.spec(port_bindings=[f"127.0.0.1:{port}:80"])
    return docker_deploy.redeploy(name, ref, **{**spec, **more})


def test_update_redeploys_the_containers_of_the_pushed_tag_from_their_records(app):
    qa = app.publish("v1", tag="qa")
    prod = app.publish("v1", tag="prod")
    names = {"a": app.name, "b": f"{app.name}-b", "c": f"{app.name}-c"}
    ports = {key: free_port() for key in names}
    try:
        deploy(app, names["a"], qa, ports["a"], strategy="stop-first", environment={"K": "a"})
        deploy(app, names["b"], qa, ports["b"], health_timeout=30)
        deploy(app, names["c"], prod, ports["c"])
        kept = {m["name"]: m for m in docker_deploy.managed()}
        assert {kept[n]["image"] for n in names.values()} == {qa, prod}
        assert kept[names["a"]]["digest"] and kept[names["a"]]["adopted"] is False
        before = {key: inspect(name)["Id"] for key, name in names.items()}

        app.publish("v2", tag="qa")
        predicted = docker_deploy.update(qa, dry_run=True)
        assert [(e["name"], e["report"]["action"]) for e in predicted] == [
            (names["a"], "replaced"),
            (names["b"], "replaced"),
        ]
        assert {key: inspect(name)["Id"] for key, name in names.items()} == before
        # `names`: only the containers whose names match.
        only_b = docker_deploy.update(qa, dry_run=True, names=[f"{app.name}-?"])
        assert [e["name"] for e in only_b] == [names["b"]]

        since = time.time()
        updated = docker_deploy.update(qa)
        until = time.time()
        assert [(e["name"], e["error"]) for e in updated] == [
            (names["a"], None),
            (names["b"], None),
        ]
        reports = {e["name"]: e["report"] for e in updated}
        assert {r["action"] for r in reports.values()} == {"replaced"}
        # The recorded options and declaration: stop-first, the variable, the port.
        assert reports[names["a"]]["strategy"] == "stop-first"
        assert reports[names["b"]]["strategy"] == "create-first"
        assert "K=a" in inspect(names["a"])["Config"]["Env"]
        assert wait_http(ports["a"], "v2") == "v2" and wait_http(ports["b"], "v2") == "v2"
        assert container_events(since, until, names["c"]) == []
        assert wait_http(ports["c"], "v1") == "v1"
        # The record is written again by the update: the next one still knows stop-first.
        app.publish("v3", tag="qa")
        again = {e["name"]: e["report"] for e in docker_deploy.update(qa)}
        assert again[names["a"]]["strategy"] == "stop-first"

        # A repeated (or late) delivery: the tag's digest already runs, nothing to do.
        since = time.time()
        repeated = docker_deploy.update(qa)
        until = time.time()
        assert [e["report"]["action"] for e in repeated] == ["none", "none"]
        assert container_events(since, until, app.name) == []
        # A tag nobody here follows: nothing.
        assert docker_deploy.update(f"{app.registry.host}/nobody:qa") == []
    finally:
        remove_containers_and_volumes([names["b"], names["c"]])


def test_update_takes_an_adopted_container_and_a_replica_set(app):
    qa = app.publish("v1", tag="qa")
    docker("pull", "-q", qa)
    label_key, label_value = next(iter(app.bed.labels.items()))
    port = free_port()
    adopted = f"{app.name}-adopted"
    docker(
        "run", "-d", "--name", adopted, "--label", f"{label_key}={label_value}",
        "-p", f"127.0.0.1:{port}:80", "--stop-timeout", "5", qa,
    )  # fmt: skip
    try:
        spec = app.spec(port_bindings=[f"127.0.0.1:{port}:80"])
        assert docker_deploy.redeploy(adopted, qa, min_uptime=0.5, **spec)["action"] == "adopted"
        base = free_port()
        while not all(_free(base + i) for i in range(2)):
            base = free_port()
        rolled = docker_deploy.redeploy(
            app.name, qa, replicas=2, min_uptime=0.5,
            **app.spec(port_bindings=[f"127.0.0.1:{base}-{base + 1}:80"]),
        )  # fmt: skip
        assert rolled["action"] == "updated"
        kept = {m["name"]: m for m in docker_deploy.managed()}
        assert kept[adopted]["adopted"] is True
        assert kept[f"{app.name}-2"]["replica_of"] == app.name

        app.publish("v2", tag="qa")
        updated = docker_deploy.update(qa)
        assert [(e["name"], e["report"]["action"]) for e in updated] == [
            (f"{app.name}-1", "replaced"),
            (f"{app.name}-2", "replaced"),
            (adopted, "replaced"),
        ]
        assert wait_http(port, "v2") == "v2"
        assert wait_http(base, "v2") == "v2" and wait_http(base + 1, "v2") == "v2"
        assert inspect(adopted)["Config"]["Labels"]["io.saltext.docker-deploy.name"] == adopted
    finally:
        for record in Path(LOCK_DIR).glob(f"{adopted}@adopted@*.json"):
            record.unlink(missing_ok=True)
        remove_containers_and_volumes([adopted])


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


UPDATE_RUNNER = """
import json, sys
from saltext import docker_deploy
print(json.dumps(docker_deploy.update(sys.argv[1])))
"""


def test_an_update_acts_only_on_the_containers_it_listed_as_they_were(app, tmp_path):
    """Between its listing and each container's lock, another run may remove the container,
    or replace it with a new declaration: the update then leaves the name as that run left it
    (no container brought back, no older declaration put back). A stopped one is not taken."""
    qa = app.publish("v1", tag="qa")
    names = {"removed": app.name, "redeclared": f"{app.name}-b", "stopped": f"{app.name}-c"}
    ports = {key: free_port() for key in names}
    try:
        for key, name in names.items():
            deploy(app, name, qa, ports[key], environment={"V": "1"})
        docker("stop", "-t", "1", names["stopped"])
        app.publish("v2", tag="qa")
        pause = tmp_path / "paused"
        child = subprocess.Popen(
            [sys.executable, "-c", UPDATE_RUNNER, qa],
            env={**os.environ, **pause_env(pause, "listed")},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert wait_for(pause.exists, timeout=60), "the update did not reach its pause"
            docker_deploy.remove(names["removed"])
            redeclared = deploy(
                app, names["redeclared"], qa, ports["redeclared"], environment={"V": "2"}
            )
            assert redeclared["action"] == "replaced"
            since = time.time()
            pause.unlink()
            out, err = child.communicate(timeout=120)
            until = time.time()
        finally:
            child.kill()
        entries = {e["name"]: e for e in json.loads(out or "null") or []}
        assert set(entries) == {names["removed"], names["redeclared"]}, err
        for key in ("removed", "redeclared"):
            report = entries[names[key]]["report"]
            assert report["action"] == "none", report
        assert "removed since it was listed" in entries[names["removed"]]["report"]["comment"]
        assert "replaced since it was listed" in entries[names["redeclared"]]["report"]["comment"]
        assert inspect(names["removed"]) is None
        assert "V=2" in inspect(names["redeclared"])["Config"]["Env"]
        assert container_events(since, until, app.name) == []
        assert inspect(names["stopped"])["State"]["Status"] == "exited"
    finally:
        remove_containers_and_volumes([names["redeclared"], names["stopped"]])


def test_the_recorded_options_survive_a_group_a_rollback_and_are_not_the_updates(app):
    """What a container records is what its declaration asked, whoever replaced it last:
    a group (which prunes for its entries), a rollback (whose own options are its run's) and
    an update (its pull_timeout is the call's) record the declared options again."""
    label = "io.saltext.docker-deploy.options"
    qa = app.publish("v1", tag="qa")
    declared = {"strategy": "stop-first", "keep_images": 3, "min_uptime": 0.5}
    grouped = docker_deploy.redeploy_group(
        [{"name": app.name, "image": qa, **app.spec(), **declared}]
    )
    assert grouped[0]["report"]["action"] == "created", grouped
    recorded = json.loads(inspect(app.name)["Config"]["Labels"][label])
    assert recorded == {"strategy": "stop-first", "min_uptime": 0.5, "keep_images": 3}

    app.publish("v2", tag="qa")
    (updated,) = docker_deploy.update(qa, pull_timeout=100)
    assert updated["report"]["action"] == "replaced"
    assert json.loads(inspect(app.name)["Config"]["Labels"][label]) == recorded
    rolled = docker_deploy.rollback(app.name, min_uptime=0.5)
    assert rolled["action"] == "replaced" and rolled["strategy"] == "create-first"
    assert json.loads(inspect(app.name)["Config"]["Labels"][label]) == recorded
