"""The host lock nobody else can touch: one fixed directory shared by every caller (root, a
member of the Docker socket's group, any TMPDIR), checked before use; lock files that are
never links, FIFOs or readable by others; and removal and scale-down under the same lock.

A user other than root is played by `setpriv` (uid 65534, `nobody`), with or without the
Docker socket's group.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from saltext import docker_deploy
from saltext.docker_deploy import DeployError, LockTimeout
from tests.support.deploying import Run, assert_serving, identity, replica_ports
from tests.support.testbed import inspect

LOCK_DIR = Path("/run/saltext-docker-deploy")
NOBODY = 65534


def lock_file(name: str) -> Path:
    """The lock file of container `name` on this Engine (a run must have made it)."""
    (found,) = LOCK_DIR.glob(f"{name}@*.lock")
    return found


def docker_socket_gid() -> int:
    return os.stat("/var/run/docker.sock").st_gid


def as_user(code: str, *, gid: int = NOBODY, args: list[str] | None = None):
    """Runs Python `code` as uid 65534 with primary group `gid` and no other group."""
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={gid}", "--clear-groups"]
    return subprocess.run(
        [*command, sys.executable, "-c", code, *(args or [])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_directory_is_roots_and_the_lock_files_are_private(app):
    app.publish("v1")
    app.deploy()
    meta = os.lstat(LOCK_DIR)
    assert stat.S_ISDIR(meta.st_mode) and meta.st_uid == 0
    # Shared with the Docker socket's group (sticky: no member deletes another's lock).
    assert stat.S_IMODE(meta.st_mode) == 0o3770 and meta.st_gid == docker_socket_gid()
    lock = os.lstat(lock_file(app.name))
    assert stat.S_ISREG(lock.st_mode)
    assert stat.S_IMODE(lock.st_mode) & 0o027 == 0, oct(lock.st_mode)


@pytest.mark.parametrize("planted", ["symlink", "fifo", "world-readable"])
def test_a_planted_lock_file_is_refused_and_nothing_is_changed(app, tmp_path, planted):
    app.publish("v1")
    app.deploy()
    before = identity(app.name)
    app.publish("v2")
    path = lock_file(app.name)
    path.unlink()
    target = tmp_path / "created-through-the-link"
    if planted == "symlink":
        path.symlink_to(target)
    elif planted == "fifo":
        os.mkfifo(path, 0o600)
    else:
        path.write_text("")
        path.chmod(0o644)
    try:
        started = time.monotonic()
        with pytest.raises(DeployError) as err:
            app.deploy()
        assert time.monotonic() - started < 30, "a FIFO must never hang the run"
        message = str(err.value)
        assert str(path) in message and "nothing was changed" in message, message
        expected = {"symlink": "symbolic link", "fifo": "no regular file", "world-readable": "0644"}
        assert expected[planted] in message, message
        assert not target.exists(), "a link is never followed"
        assert identity(app.name) == before
    finally:
        path.unlink()
    assert app.deploy()["action"] == "replaced"
    assert_serving(app, "v2")


def test_a_lock_directory_another_user_made_is_refused(app, tmp_path, monkeypatch):
    app.publish("v1")
    squatted = tmp_path / "locks"
    squatted.mkdir()
    os.chown(squatted, NOBODY, NOBODY)
    monkeypatch.setenv("SALTEXT_DOCKER_DEPLOY_LOCK_DIR", str(squatted))
    with pytest.raises(DeployError, match=f"belongs to user {NOBODY}") as err:
        app.deploy()
    assert "nothing was changed" in str(err.value)
    assert inspect(app.name) is None
    squatted.chmod(0o777)
    os.chown(squatted, 0, 0)
    with pytest.raises(DeployError, match="writable by every user"):
        app.deploy()
    assert inspect(app.name) is None


def test_other_users_can_neither_read_nor_replace_the_locks(app):
    app.publish("v1")
    app.deploy()
    path = lock_file(app.name)
    attempt = as_user(
        "import os, sys\n"
        "tried = []\n"
        f"for act in (lambda: open({str(path)!r}), lambda: os.unlink({str(path)!r}),\n"
        f"            lambda: open({str(LOCK_DIR / 'x.lock')!r}, 'w')):\n"
        "    try:\n"
        "        act(); tried.append('allowed')\n"
        "    except PermissionError:\n"
        "        tried.append('denied')\n"
        "print(tried)\n"
    )
    assert attempt.stdout.strip() == "['denied', 'denied', 'denied']", attempt
    assert path.exists()


RUNNER_AS_USER = """
import json, sys
from saltext import docker_deploy
try:
    docker_deploy.redeploy(**json.loads(sys.argv[1]))
    print(json.dumps({"outcome": "done"}))
except docker_deploy.DeployError as err:
    print(json.dumps({"outcome": type(err).__name__, "message": str(err)}))
"""


def test_root_a_docker_group_member_and_any_tmpdir_share_one_lock(app, tmp_path, monkeypatch):
    app.publish("v1")
    app.deploy()
    app.publish("v2")
    holder = Run(app, tmp_path, pause="plan")
    holder.wait_paused()
    args = json.dumps({"name": app.name, "image": app.ref, **app.spec(), "lock_timeout": 1})
    # A member of the socket's group (not root): waits for root's lock, then gives up.
    member = as_user(RUNNER_AS_USER, gid=docker_socket_gid(), args=[args])
    outcome = json.loads(member.stdout.strip().splitlines()[-1])
    assert outcome["outcome"] == "LockTimeout", (outcome, member.stderr)
    # Root with another temp directory: the same lock.
    other_tmp = tmp_path / "other-tmp"
    other_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(other_tmp))
    with pytest.raises(LockTimeout):
        app.deploy(lock_timeout=1)
    holder.release()
    assert holder.outcome() == {"action": "replaced"}
    assert_serving(app, "v2")


def test_remove_waits_for_a_running_redeploy(app, tmp_path):
    app.publish("v1")
    app.deploy()
    before = identity(app.name)
    app.publish("v2")
    holder = Run(app, tmp_path, pause="plan")
    holder.wait_paused()
    with pytest.raises(LockTimeout, match="another run"):
        docker_deploy.remove(app.name, lock_timeout=1)
    assert identity(app.name) == before
    holder.release()
    assert holder.outcome() == {"action": "replaced"}
    removed = docker_deploy.remove(app.name)
    assert removed["removed"] and inspect(app.name) is None


def test_the_scale_down_takes_each_removed_replicas_lock(app, tmp_path):
    first = replica_ports(3)
    spec = {**app.spec(), "port_bindings": [f"127.0.0.1:{first}-{first + 2}:80"]}
    spec["min_uptime"] = 0.5
    app.publish("v1")
    docker_deploy.redeploy(app.name, app.ref, replicas=3, **spec)
    third = f"{app.name}-3"
    # Another run on replica 3 alone (paused after its plan, holding replica 3's lock).
    holder = Run(app, tmp_path, pause="plan", name=third, pull=False)
    holder.wait_paused()
    spec["port_bindings"] = [f"127.0.0.1:{first}-{first + 1}:80"]
    with pytest.raises(LockTimeout, match=third):
        docker_deploy.redeploy(app.name, app.ref, replicas=2, lock_timeout=1, **spec)
    assert inspect(third) is not None, "a replica another run holds is not removed"
    holder.kill()
    down = docker_deploy.redeploy(app.name, app.ref, replicas=2, **spec)
    assert down["removed"] == [third] and inspect(third) is None
