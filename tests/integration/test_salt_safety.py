"""Safe redeploy through Salt (`salt-call --local`): rollback as a failed state, replicas with a
strategy, the rollback execution function, Salt and Python contending for the host lock, and a
salt-call killed mid-redeploy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.support.deploying import (
    Run,
    assert_serving,
    identity,
    publish_variant,
    registry_only,
    replica_ports,
)
from tests.support.saltcall import SALT_CALL, SaltCall
from tests.support.testbed import inspect, wait_for, wait_http


@pytest.fixture
def salt(app, tmp_path):
    return SaltCall(tmp_path / "salt", app)


def salt_call(salt: SaltCall, *args: str, env: dict | None = None) -> subprocess.Popen:
    cmd = [str(SALT_CALL), "--local", "-c", str(salt.root / "conf"), "--out=json", *args]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def state_result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=180)
    try:
        states = json.loads(out)["local"]
    except (ValueError, KeyError) as error:
        raise AssertionError(f"salt-call failed: {out}\n{err}") from error
    (result,) = [v for k, v in states.items() if k.startswith("docker_deploy_|-")]
    return result


def test_a_failing_image_is_a_failed_state_that_names_the_image_the_cause_and_what_runs(app, salt):
    app.publish("v1")
    salt.write_state(extra="    - min_uptime: 1\n")
    assert salt.apply()["result"] is True
    before = identity(app.name)
    publish_variant(app, "exits")
    failed = salt.apply()
    assert failed["result"] is False and failed["changes"] == {}
    comment = failed["comment"]
    assert "RolledBack" in comment and app.ref in comment, comment
    # Under restart_policy unless-stopped it restarts: what it printed says why.
    assert "cannot start: no config" in comment, "why it failed"
    assert f"image {before[1][:19]}" in comment and "running under the name" in comment, comment
    assert identity(app.name) == before
    assert_serving(app, "v1")


def test_replicas_with_a_strategy_roll_through_salt(app, salt):
    first = replica_ports(2)
    label_key, label_value = next(iter(app.bed.labels.items()))
    (salt.root / "states" / "app.sls").write_text(
        f"""{app.name}:
  docker_deploy.deployed:
    - image: {app.registry.host}/{app.repo}
    - tag: prod
    - replicas: 2
    - strategy: stop-first
    - min_uptime: 0.5
    - port_bindings: ["127.0.0.1:{first}-{first + 1}:80"]
    - labels: {{{label_key}: "{label_value}"}}
"""
    )
    app.publish("v1")
    created = salt.apply()
    assert created["result"] is True, created["comment"]
    assert set(created["changes"]) == {f"{app.name}-1", f"{app.name}-2"}
    app.publish("v2")
    predicted = salt.apply(test=True)
    assert predicted["result"] is None and "would be replaced" in predicted["comment"]
    assert wait_http(first, "v1") == "v1", "test=True changed nothing"
    rolled = salt.apply()
    assert rolled["result"] is True, rolled["comment"]
    assert "downtime" in rolled["comment"]
    for i in range(2):
        assert wait_http(first + i, "v2") == "v2"
        assert "image" in rolled["changes"][f"{app.name}-{i + 1}"]
    assert salt.apply()["changes"] == {}


def test_the_rollback_execution_function(app, salt):
    app.publish("v1")
    salt.write_state(extra="    - min_uptime: 0.5\n")
    salt.apply()
    v1 = identity(app.name)[1]
    app.publish("v2")
    assert salt.apply()["result"] is True
    assert_serving(app, "v2")
    proc = salt_call(salt, "docker_deploy.rollback", app.name, "min_uptime=0.5")
    out, err = proc.communicate(timeout=120)
    result = json.loads(out)["local"]
    assert result["image_id"] == v1 and result["comment"].startswith("rolled back"), (out, err)
    assert_serving(app, "v1")


def test_salt_and_python_never_interleave_on_one_container(app, salt, tmp_path):
    app.publish("v1")
    salt.write_state(extra="    - min_uptime: 0.5\n")
    salt.apply()
    app.publish("v2")
    python_run = Run(
        app,
        tmp_path,
        pause="create",
        environment={"APP_ENV": "prod"},
        restart_policy="unless-stopped",
    )
    python_run.wait_paused()
    # While the Python run holds the lock: a short lock_timeout fails, touching nothing.
    salt.write_state(extra="    - min_uptime: 0.5\n    - lock_timeout: 1\n")
    timed_out = salt.apply()
    assert timed_out["result"] is False and "LockTimeout" in timed_out["comment"]
    # A patient run waits, then re-plans against what the Python run left: nothing to do.
    salt.write_state(extra="    - min_uptime: 0.5\n")
    waiting = salt_call(salt, "state.apply", "app")
    time.sleep(2)
    assert waiting.poll() is None, "the salt run must be waiting for the lock"
    python_run.release()
    assert python_run.outcome() == {"action": "replaced"}
    after = state_result(waiting)
    assert after["result"] is True and after["changes"] == {}, after
    assert_serving(app, "v2")


def test_a_salt_call_killed_mid_redeploy_is_recovered_by_the_next_one(app, salt, tmp_path):
    app.publish("v1")
    salt.write_state(extra="    - min_uptime: 0.5\n")
    salt.apply()
    app.publish("v2")
    pause_file = tmp_path / "paused"
    env = {
        "SALTEXT_DOCKER_DEPLOY_PAUSE_AFTER": "rename:1",
        "SALTEXT_DOCKER_DEPLOY_PAUSE_FILE": str(pause_file),
    }
    killed = salt_call(salt, "state.apply", "app", env=env)
    wait_for(lambda: pause_file.exists() or killed.poll() is not None, timeout=120)
    assert pause_file.exists(), killed.communicate()
    assert inspect(app.name) is None, "paused with the old container moved aside"
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    recovered = salt.apply()
    assert recovered["result"] is True, recovered["comment"]
    assert "recovered" in recovered["changes"] and "interrupted" in recovered["comment"]
    assert_serving(app, "v2")


def test_a_group_state_redeploys_its_containers_and_predicts_in_test_mode(app, salt):
    ports = [replica_ports(1), replica_ports(1)]
    names = [f"{app.name}-a", f"{app.name}-b"]
    label_key, label_value = next(iter(app.bed.labels.items()))
    entries = "".join(
        f"""      - name: {n}
        image: {app.registry.host}/{app.repo}
        tag: prod
        port_bindings: ["127.0.0.1:{p}:80"]
"""
        for n, p in zip(names, ports, strict=True)
    )
    (salt.root / "states" / "app.sls").write_text(
        f"""frontends:
  docker_deploy.group:
    - concurrency: 2
    - min_uptime: 0.5
    - labels: {{{label_key}: "{label_value}"}}
    - containers:
{entries}"""
    )
    app.publish("v1")
    try:
        first = salt.apply()
        assert first["result"] is True, first["comment"]
        assert set(first["changes"]) == set(names)
        app.publish("v2")
        predicted = salt.apply(test=True)
        assert predicted["result"] is None and set(predicted["changes"]) == set(names)
        assert all(wait_http(p, "v1") == "v1" for p in ports), "test=True changed nothing"
        second = salt.apply()
        assert second["result"] is True, second["comment"]
        assert all("deploy" in second["changes"][n] for n in names)
        assert all(wait_http(p, "v2") == "v2" for p in ports)
        assert salt.apply()["changes"] == {}
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)


def test_start_first_with_a_declared_healthcheck_and_keep_images_through_salt(app, salt):
    """The remaining options through a state: start-first (no fixed port), a declared
    healthcheck gating the swap, and keep_images pruning what the redeploy left."""
    label_key, label_value = next(iter(app.bed.labels.items()))
    (salt.root / "states" / "app.sls").write_text(
        f"""{app.name}:
  docker_deploy.deployed:
    - image: {app.registry.host}/{app.repo}
    - tag: prod
    - strategy: start-first
    - keep_images: 1
    - port_bindings: ["127.0.0.1::80"]
    - healthcheck: {{test: ["/bin/busybox", "true"], interval: 0.5, retries: 1}}
    - labels: {{{label_key}: "{label_value}"}}
"""
    )
    registry_only(app, "v1")
    first = salt.apply()
    assert first["result"] is True, first["comment"]
    v1 = inspect(app.name)["Image"]
    registry_only(app, "v2")
    second = salt.apply()
    assert second["result"] is True, second["comment"]
    summary = second["changes"]["deploy"]
    assert summary["strategy"] == "start-first" and summary["downtime_ms"] == 0
    assert summary["removed_images"] == [v1], summary
    steps = summary["steps"]
    verify = next(i for i, s in enumerate(steps) if s.startswith("verify"))
    stop = next(i for i, s in enumerate(steps) if s.startswith("stop"))
    assert verify < stop, steps
    found = inspect(app.name)
    assert found["State"]["Health"]["Status"] == "healthy"
    port = int(found["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
    assert wait_http(port, "v2") == "v2"
    assert app.bed.containers(app.name) == [app.name]
