"""Proves tests/support/privateengine.py: a private Engine in its own network namespace that takes
kill -9, SIGSTOP and a full disk, and leaves nothing behind (checked by the fixture)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support import privateengine, testbed

private_engine = privateengine.private_engine  # the module-scoped fixture, for this module

# Run by the code-under-test child: its namespace, the daemon via DOCKER_HOST, a published port.
CHILD = """
import os, socket, sys, urllib.request
print(os.stat("/proc/self/ns/net").st_ino)
with socket.socket(socket.AF_UNIX) as s:
    s.connect(os.environ["DOCKER_HOST"].removeprefix("unix://"))
    s.sendall(b"GET /_ping HTTP/1.0\\r\\n\\r\\n")
    print(s.recv(64).split(b" ")[1].decode())
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=5).read().decode())
"""


def loaded(engine: privateengine.PrivateEngine, tag: str) -> str:
    """`tag` in the private engine (each test can run alone)."""
    if engine.docker_proc("image", "inspect", tag).returncode != 0:
        engine.load(tag)
    return tag


def state(engine: privateengine.PrivateEngine, name: str) -> dict:
    info = engine.inspect(name)
    return {
        "status": info["State"]["Status"],
        "exit": info["State"]["ExitCode"],
        "restarts": info["RestartCount"],
    }


def test_isolated_namespace_and_child(private_engine, images):
    engine = private_engine
    tag = loaded(engine, images["v1"])
    port = testbed.free_port()
    engine.docker("run", "-d", "--name", "iso", "-p", f"127.0.0.1:{port}:80", tag)

    # Published on 127.0.0.1 of the private namespace, through its own docker0; not the host's.
    assert engine.wait_http(port, "v1") == "v1"
    assert testbed.http_get(port) is None
    assert engine.exec_http("iso") == "v1"
    assert engine.run("ip", "link", "show", "docker0").returncode == 0
    assert engine.inspect("iso")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]

    child = engine.python(CHILD, str(port), timeout=30)
    assert child.returncode == 0, child.stderr
    netns, ping, page = child.stdout.split()
    assert int(netns) == os.stat(engine.netns).st_ino
    assert (ping, page) == ("200", "v1")


def test_kill9_and_restart(private_engine, images):
    engine = private_engine
    tag = loaded(engine, images["v1"])
    kept_port, always_port = testbed.free_port(), testbed.free_port()
    engine.docker("volume", "create", "data")
    engine.docker(
        "run", "-d", "--name", "kept", "-v", "data:/data", "-p", f"127.0.0.1:{kept_port}:80", tag
    )
    always = ["--restart", "always", "-p", f"127.0.0.1:{always_port}:80"]
    engine.docker("run", "-d", "--name", "always", *always, tag)
    engine.docker("exec", "kept", "/bin/busybox", "sh", "-c", "echo survived > /data/proof")
    kept_ip = engine.inspect("kept")["NetworkSettings"]["IPAddress"]
    assert engine.wait_http(kept_port, "v1") == "v1"
    ref = engine.publish(images["v2"], "survivor", "v2")

    engine.kill_daemon()
    assert not engine.ping()
    down = engine.docker_proc("ps")
    assert down.returncode != 0 and "Cannot connect to the Docker daemon" in down.stderr
    # Without the daemon the containers run on under their shims, but docker-proxy died with
    # dockerd: the published port is refused while the container's own address answers.
    assert engine.http_get(kept_port) is None
    direct = engine.run("/bin/busybox", "wget", "-q", "-O-", f"http://{kept_ip}/")
    assert direct.stdout.strip() == "v1", direct.stderr

    seconds = engine.restart_daemon()
    after = {name: state(engine, name) for name in ("kept", "always")}
    print(f"\nrestarted in {seconds:.2f} s; containers after the restart: {after}")
    # No live-restore: the new daemon's restore stops what still ran, with the stop signal
    # (HTTPD_CMD traps TERM: exit 0, not 137), and starts the restart=always one again, as a
    # daemon start, not a policy restart (the count stays 0).
    assert after["kept"] == {"status": "exited", "exit": 0, "restarts": 0}
    assert after["always"] == {"status": "running", "exit": 0, "restarts": 0}
    assert engine.wait_http(always_port, "v1") == "v1"

    engine.docker("pull", ref)  # the registry lives in the namespace, not under dockerd
    engine.docker("start", "kept")
    assert engine.docker("exec", "kept", "/bin/busybox", "cat", "/data/proof") == "survived"
    assert engine.wait_http(kept_port, "v1") == "v1"


def test_disk_full(private_engine, images):
    engine = private_engine
    tag = loaded(engine, images["v1"])
    ref = engine.publish(images["v3"], "app", "v3")  # an image the engine never had
    assert engine.docker_proc("image", "inspect", ref).returncode != 0  # only a pull brings it

    with engine.disk_full():
        assert shutil.disk_usage(engine.data).free < 4096
        create = engine.docker_proc("create", "--name", "full", tag)
        print(f"\ncreate on a full disk: {create.stderr.strip()}")
        assert create.returncode != 0 and "no space left on device" in create.stderr
        pull = engine.docker_proc("pull", ref)
        print(f"pull on a full disk: {pull.stderr.strip()}")
        assert pull.returncode != 0 and "no space left on device" in pull.stderr
        assert engine.ping()  # the daemon itself carries on
    assert engine.docker("ps", "-aq", "--filter", "name=^full$") == ""  # no half container

    engine.docker("create", "--name", "roomy", tag)
    engine.docker("pull", ref)
    assert engine.inspect(ref) is not None


def test_sigstop(private_engine, images):
    engine = private_engine
    tag = loaded(engine, images["v1"])
    engine.docker("run", "-d", "--name", "frozen-daemon", tag)
    ip = engine.inspect("frozen-daemon")["NetworkSettings"]["IPAddress"]

    with engine.paused():
        assert privateengine.process_state(engine.pid) == "T"
        # The socket still accepts (the kernel's backlog), so a client hangs rather than fails.
        assert not engine.ping(timeout=0.5)
        with pytest.raises(subprocess.TimeoutExpired):
            engine.docker_proc("ps", timeout=2)
        # containerd and the containers are not stopped.
        assert engine.run("/bin/busybox", "wget", "-q", "-O-", f"http://{ip}/").stdout == "v1\n"

    assert testbed.wait_for(engine.ping, timeout=5)
    assert "frozen-daemon" in engine.docker("ps", "--format", "{{.Names}}")
