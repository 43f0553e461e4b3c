"""A private Docker Engine for fault tests: kill -9, SIGSTOP, a full disk.

Fault tests must never touch the shared Engine at /var/run/docker.sock (CI, the benchmarks and
other engineers use it), so each gets its own dockerd, with its own everything:

* its own **network namespace**, a persistent one bind-mounted at ``<root>/netns``. A second
  dockerd in the host namespace fights the shared one over docker0 and iptables (with
  ``--bridge=none`` it even deletes the host's docker0). Inside its own namespace its docker0,
  iptables rules and docker-proxy ports are private, so the default bridge works and containers
  publish ports on 127.0.0.1 *of that namespace*. Only the network namespace is new: ``ip netns
  exec`` would also unshare the mount namespace and remount /sys, hiding the cgroup mounts
  ("Devices cgroup isn't mounted"), and plain ``nsenter --net`` does neither.
  The namespace outlives the daemon, so a restart after kill -9 lands in the same one: the
  registry keeps serving and 127.0.0.1 ports mean the same thing before and after.
* its own ``--config-file`` (so /etc/docker/daemon.json is not read), ``--data-root``,
  ``--exec-root``, ``--pidfile`` and socket. dockerd starts its own containerd, whose socket and
  state go under the exec root and whose content store goes under the data root, so nothing
  collides with the shared containerd (/var/run/docker/containerd). Containers go in their own
  cgroup parent (``/<root name>``), not the shared ``/docker``. One thing stays shared:
  dockerd 20.10 reads its trust key from /etc/docker/key.json whatever its config file, so
  ``docker info`` shows the shared Engine's ID.
* its data root on a size-limited **tmpfs** (96 MiB by default) so a test can fill it: the
  fuse-overlayfs driver (the shared Engine's) works on tmpfs.

No image comes from the internet: build on the shared Engine (``testbed.TestBed.build``) and
copy with :meth:`PrivateEngine.load`; :meth:`PrivateEngine.publish` pushes to a docker-registry
that listens inside the namespace, where the Engine treats 127.0.0.1 as an insecure registry.

The code under test runs in a child inside the namespace with ``DOCKER_HOST`` set to the private
socket (:meth:`PrivateEngine.python`, :meth:`PrivateEngine.run`).

Cleanup (:meth:`PrivateEngine.close`) finds everything from the root path alone (processes by
command line, network namespace or cgroup; mounts under the root), so it is complete even after
a crash; ``python -m tests.support.privateengine /tmp/ddpe-XXXXXXXX`` (from the repository
root) cleans up a run that was killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.support import testbed

CLONE_NEWNET = 0x40000000
FILL_FILE = ".ddpe-fill"
SHIM_SOCKETS = "/run/containerd/s/"  # containerd-shim-runc-v2 sockets of every containerd
_libc = ctypes.CDLL(None, use_errno=True)


def _check(*cmd: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")


def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def process_state(pid: int) -> str | None:
    """The state letter of `pid` in /proc (R, S, T for stopped, Z for zombie), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone: it only waits to be reaped)."""
    return process_state(pid) not in (None, "Z")


def _wait_gone(pids, timeout: float) -> bool:
    return testbed.wait_for(lambda: not any(_alive(p) for p in pids), timeout)


class PrivateEngine:
    """A dockerd of its own in its own network namespace; see the module docstring.

    Use as a context manager or through the ``private_engine`` fixture. ``data_size_mb=None``
    puts the data root on /tmp's filesystem instead of a tmpfs (then :meth:`fill_disk` refuses).
    ``daemon_config`` adds daemon.json settings, e.g. ``{"live-restore": True}``.
    """

    def __init__(
        self,
        data_size_mb: int | None = 96,
        daemon_config: dict | None = None,
        root: Path | None = None,
    ):
        # Short on purpose: unix socket paths under it must stay below 108 bytes.
        self.root = Path(root or tempfile.mkdtemp(prefix="ddpe-", dir="/tmp"))
        self.data = self.root / "data"
        self.exec_root = self.root / "exec"
        self.sock = self.root / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.netns = self.root / "netns"
        self.docker_config = self.root / "docker-config"  # DOCKER_CONFIG once logged in
        self.cgroup_parent = self.root.name
        self.data_size_mb = data_size_mb
        self.config = {
            "storage-driver": "fuse-overlayfs",
            "cgroup-parent": f"/{self.cgroup_parent}",
            **(daemon_config or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.registry: testbed.Registry | None = None
        self.timings: dict[str, list[float]] = {}
        self._shim_sockets: set[str] = set()
        self._log = None

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> PrivateEngine:
        """Creates the namespace and the data filesystem, and starts dockerd."""
        t0 = time.monotonic()
        try:
            self.data.mkdir(parents=True, exist_ok=True)
            self.exec_root.mkdir(exist_ok=True)
            if self.data_size_mb:
                size = f"size={self.data_size_mb}m,mode=0711"
                _check("mount", "-t", "tmpfs", "-o", size, f"ddpe-{self.root.name}", str(self.data))
            self.netns.touch()
            # `unshare --net=FILE` bind-mounts the new namespace on FILE: it persists with no
            # process in it. Loopback starts down in a new namespace.
            _check("unshare", f"--net={self.netns}", "ip", "link", "set", "lo", "up")
            (self.root / "daemon.json").write_text(json.dumps(self.config))
            self.start_daemon()
        except BaseException:
            self.close()
            raise
        self._record("start", t0)
        return self

    def start_daemon(self, timeout: float = 60) -> float:
        """Starts dockerd in the namespace on the same roots; returns the seconds until it
        answers /_ping (after a kill, that includes its restore of the old containers)."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("dockerd is already running")
        t0 = time.monotonic()
        if self._log is None:
            self._log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 (closed in close())
        # nsenter execs dockerd (no fork for a network namespace): proc.pid is dockerd's pid.
        # A session of its own: a Ctrl-C of pytest must not kill the daemon behind cleanup's back.
        self.proc = subprocess.Popen(
            self.nsenter(
                "dockerd",
                "--config-file",
                str(self.root / "daemon.json"),
                "--data-root",
                str(self.data),
                "--exec-root",
                str(self.exec_root),
                "--pidfile",
                str(self.root / "dockerd.pid"),
                "-H",
                self.host,
            ),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # The socket accepts before the daemon is ready; requests wait until restore is done.
        if not testbed.wait_for(lambda: self.proc.poll() is not None or self.ping(), timeout):
            raise RuntimeError(f"private dockerd did not answer in {timeout} s:\n{self.log()}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"private dockerd exited {self.proc.returncode}:\n{self.log()}")
        return time.monotonic() - t0

    @property
    def pid(self) -> int:
        assert self.proc is not None, "dockerd was never started"
        return self.proc.pid

    def containerd_pid(self) -> int | None:
        try:
            return int((self.exec_root / "containerd" / "containerd.pid").read_text())
        except (OSError, ValueError):
            return None

    def ping(self, timeout: float = 1.0) -> bool:
        """True when the daemon answers GET /_ping within `timeout` (False when it is down or
        stopped: a SIGSTOPped daemon's socket still accepts, but nothing answers)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(timeout)
            try:
                s.connect(str(self.sock))
                s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return s.recv(64).split(b" ")[1:2] == [b"200"]  # HTTP/1.x 200 OK
            except OSError:
                return False

    def kill_daemon(self, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
        """Sends `sig` to dockerd and waits until it and its containerd are gone.

        With SIGKILL its containerd dies too (dockerd starts it with a parent-death signal),
        and so do the docker-proxy processes: published ports stop answering. The shims and
        the containers keep running until the next daemon's restore."""
        containerd = self.containerd_pid()
        os.kill(self.pid, sig)
        self.proc.wait(timeout)
        if containerd and not _wait_gone([containerd], 10) and self._ours(containerd):
            os.kill(containerd, signal.SIGKILL)  # never left for the next daemon to adopt
            _wait_gone([containerd], 10)
        # The dead containerd is a zombie until PID 1 reaps it, and here PID 1 (not systemd)
        # takes its time: the next dockerd would find the pid "still running" in the pid file,
        # wait for its socket and give up ("timeout waiting for containerd to start").
        (self.exec_root / "containerd" / "containerd.pid").unlink(missing_ok=True)

    def restart_daemon(self) -> float:
        """kill -9 of dockerd, then a new one on the same data root in the same namespace;
        returns the seconds from the kill until the new one answers."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.kill_daemon()
        self.start_daemon()
        return self._record("restart", t0)

    def pause_daemon(self) -> None:
        """SIGSTOP of dockerd alone (containerd and the containers run on). Returns once it is
        stopped: the signal is delivered asynchronously and a busy dockerd reads "R" for a
        moment."""
        os.kill(self.pid, signal.SIGSTOP)
        if not testbed.wait_for(lambda: process_state(self.pid) == "T", timeout=5, interval=0.01):
            raise RuntimeError(f"dockerd {self.pid} did not stop: {process_state(self.pid)}")

    def resume_daemon(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    @contextlib.contextmanager
    def paused(self):
        self.pause_daemon()
        try:
            yield
        finally:
            self.resume_daemon()

    def log(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            text = (self.root / "dockerd.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    # -- running things against it ------------------------------------------------------------

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for clients of the private engine: never a context, TLS or login of
        the shared one; DOCKER_CONFIG holds the registry login once publish() made one."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "BUILDKIT"))}
        env.update(DOCKER_HOST=self.host, DOCKER_BUILDKIT="0")
        if self.docker_config.exists():
            env["DOCKER_CONFIG"] = str(self.docker_config)
        return {**env, **(extra or {})}

    def nsenter(self, *cmd: str) -> list[str]:
        """`cmd` prefixed to run inside the namespace (network namespace only)."""
        return ["nsenter", f"--net={self.netns}", "--", *cmd]

    def run(
        self, *cmd: str, timeout: float = 60, env: dict | None = None, **kwargs
    ) -> subprocess.CompletedProcess:
        """Runs `cmd` inside the namespace with DOCKER_HOST set; never raises on its exit code
        (subprocess.TimeoutExpired when it outlives `timeout`)."""
        return subprocess.run(
            self.nsenter(*cmd),
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )

    def popen(self, *cmd: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
        """Starts `cmd` inside the namespace with DOCKER_HOST set (cleanup kills it if still
        running: it is found by its namespace)."""
        return subprocess.Popen(self.nsenter(*cmd), env=self.env(env), **kwargs)

    def python(self, code: str, *args: str, timeout: float = 120, env: dict | None = None):
        """Runs `python -c code args` (this interpreter, so the venv's packages) inside the
        namespace with DOCKER_HOST set: how the code under test meets the private engine."""
        return self.run(sys.executable, "-c", code, *args, timeout=timeout, env=env)

    def docker_proc(self, *args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
        """The docker CLI against the private engine; never raises on its exit code."""
        return subprocess.run(
            ["docker", "-H", self.host, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )

    def docker(self, *args: str, timeout: float = 60) -> str:
        """The docker CLI against the private engine: its stdout; raises when it fails."""
        proc = self.docker_proc(*args, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def inspect(self, name: str) -> dict | None:
        proc = self.docker_proc("inspect", name)
        return json.loads(proc.stdout)[0] if proc.returncode == 0 else None

    def in_netns(self, fn, *args, **kwargs):
        """Calls `fn` in a new thread that joined the namespace, and returns its result.

        setns(2) moves only the calling thread, and what it creates (sockets) or forks
        (subprocess) stays in the namespace: testbed's http_get, wait_http, free_port and
        Registry work unchanged inside it. The thread ends with the call, so no other code of
        this process ever runs in the namespace."""
        result: dict = {}

        def target():
            try:
                fd = os.open(self.netns, os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns failed")
                finally:
                    os.close(fd)
                result["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # re-raised in the caller's thread
                result["error"] = exc

        thread = threading.Thread(target=target, name="ddpe-netns")
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["value"]

    def http_get(self, port: int, timeout: float = 1.0) -> str | None:
        """GET http://127.0.0.1:port/ inside the namespace (a port a container published)."""
        return self.in_netns(testbed.http_get, port, timeout)

    def wait_http(self, port: int, expected: str, timeout: float = 10.0) -> str | None:
        return self.in_netns(testbed.wait_http, port, expected, timeout)

    def exec_http(self, container: str, port: int = 80) -> str | None:
        """GET http://127.0.0.1:port/ from inside the container (busybox wget)."""
        proc = self.docker_proc(
            "exec", container, "/bin/busybox", "wget", "-q", "-O-", f"http://127.0.0.1:{port}/"
        )
        return proc.stdout.strip() if proc.returncode == 0 else None

    # -- images and the registry ----------------------------------------------------------------

    def load(self, tag: str) -> str:
        """Copies the image `tag` from the shared engine (`docker save | docker load`); returns
        its id."""
        t0 = time.monotonic()
        save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
        try:
            loaded = self.docker_proc("load", "-q", stdin=save.stdout, timeout=300)
        finally:
            save.stdout.close()
            save.wait()
        if save.returncode != 0 or loaded.returncode != 0:
            raise RuntimeError(f"loading {tag} failed: {loaded.stderr.strip()}")
        self._record("load", t0)
        return self.docker("image", "inspect", "-f", "{{.Id}}", tag)

    def start_registry(self, **kwargs) -> testbed.Registry:
        """A docker-registry listening on 127.0.0.1:<free port> inside the namespace (kwargs go
        to testbed.Registry: users, tls, ...). It lives in the namespace, not under dockerd, so
        a kill or restart of the daemon leaves it serving."""
        if self.registry is None:
            self.registry = self.in_netns(testbed.Registry, self.root / "registry", **kwargs)
        return self.registry

    def publish(self, local_tag: str, repo: str, tag: str = "latest") -> str:
        """Pushes the shared engine's image `local_tag` to the registry as `repo:tag` and
        returns the reference. The engine's images stay as they were (it loads the image for
        the push and removes it again), so the engine learns about the image only by pulling."""
        registry = self.start_registry()
        ref = f"{registry.host}/{repo}:{tag}"
        had_it = self.docker_proc("image", "inspect", local_tag).returncode == 0
        if not had_it:
            self.load(local_tag)
        self.docker("tag", local_tag, ref)
        try:
            self._login(registry)
            self.docker("push", ref)
        finally:
            self.docker_proc("rmi", ref, *([] if had_it else [local_tag]))
        return ref

    def _login(self, registry: testbed.Registry) -> None:
        """Logs in to a registry with users, into our DOCKER_CONFIG (see env()). Not
        Registry.docker_config: a login goes through the daemon, and the shared one cannot
        reach our namespace."""
        if registry.users and not self.docker_config.exists():
            user, password = next(iter(registry.users.items()))
            login = ["login", "-u", user, "--password-stdin", registry.host]
            proc = self.docker_proc("--config", str(self.docker_config), *login, input=password)
            if proc.returncode != 0:
                raise RuntimeError(f"docker login {registry.host} failed: {proc.stderr.strip()}")

    # -- the disk -----------------------------------------------------------------------------

    def fill_disk(self, leave: int = 0) -> int:
        """Fills the data root's filesystem until `leave` bytes (or fewer) are free; returns the
        bytes written. Big writes first, then pages, so it ends at 100 % with leave=0."""
        if not self.data_size_mb:
            raise RuntimeError("fill_disk needs the size-limited tmpfs (data_size_mb)")
        written = 0
        with open(self.data / FILL_FILE, "ab", buffering=0) as fill:
            for chunk in (1 << 20, 4096):
                buf = b"\0" * chunk
                while shutil.disk_usage(self.data).free - chunk >= leave:
                    try:
                        written += fill.write(buf)
                    except OSError:  # ENOSPC
                        break
        return written

    def free_disk(self) -> None:
        (self.data / FILL_FILE).unlink(missing_ok=True)

    @contextlib.contextmanager
    def disk_full(self, leave: int = 0):
        self.fill_disk(leave)
        try:
            yield
        finally:
            self.free_disk()

    # -- cleanup ------------------------------------------------------------------------------

    def _ours(self, pid: int, netns: os.stat_result | None = None) -> bool:
        """A process of this engine: dockerd, containerd, shims and fuse-overlayfs name the root
        in their command line; docker-proxy, the registry and test children share the
        namespace; container processes sit in the cgroup parent."""
        if pid == os.getpid():
            return False
        proc = Path(f"/proc/{pid}")
        with contextlib.suppress(OSError):
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if f"{self.root}/" in cmdline:
                return True
        if netns is not None:
            with contextlib.suppress(OSError):
                ns = os.stat(proc / "ns" / "net")
                if (ns.st_dev, ns.st_ino) == (netns.st_dev, netns.st_ino):
                    return True
        with contextlib.suppress(OSError):
            return f":/{self.cgroup_parent}/" in (proc / "cgroup").read_text()
        return False

    def processes(self) -> dict[int, str]:
        """This engine's live processes: {pid: command line}."""
        netns = None
        if any(m == str(self.netns) for m in self.mounts()):  # else it is a plain file
            netns = os.stat(self.netns)
        found = {}
        for entry in Path("/proc").iterdir():
            if (
                entry.name.isdigit()
                and _alive(int(entry.name))
                and self._ours(int(entry.name), netns)
            ):
                with contextlib.suppress(OSError):
                    cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                    found[int(entry.name)] = cmdline.decode(errors="replace").strip()
        return found

    def mounts(self) -> list[str]:
        """Mount points at or under the root, deepest first."""
        root = str(self.root)
        points = []
        for line in Path("/proc/mounts").read_text().splitlines():
            point = line.split()[1].encode().decode("unicode_escape")  # \040 for a space
            if point == root or point.startswith(root + "/"):
                points.append(point)
        return sorted(set(points), key=lambda p: -p.count("/"))

    def cgroups(self) -> list[Path]:
        return sorted(Path("/sys/fs/cgroup").glob(f"*/{self.cgroup_parent}")) + sorted(
            Path("/sys/fs/cgroup").glob(self.cgroup_parent)
        )

    def close(self) -> None:
        """Removes everything of this engine, whatever state it is in; idempotent."""
        t0 = time.monotonic()
        if self.root.exists():
            self._close()
            self._record("cleanup", t0)

    def _close(self) -> None:
        # Shim sockets go to the shared /run/containerd/s; ours are those bound in our namespace.
        with contextlib.suppress(Exception):
            table = self.in_netns(Path("/proc/thread-self/net/unix").read_text)
            self._shim_sockets |= {w for w in table.split() if w.startswith(SHIM_SOCKETS)}
        dockerd = self.proc.pid if self.proc and self.proc.poll() is None else None
        if dockerd is None and self.root.joinpath("dockerd.pid").exists():  # adopted root
            with contextlib.suppress(ValueError):
                pid = int(self.root.joinpath("dockerd.pid").read_text())
                dockerd = pid if _alive(pid) and self._ours(pid) else None
        if dockerd:
            os.kill(dockerd, signal.SIGCONT)  # a test may have failed while it was stopped
            # Removing the containers through the daemon unmounts and deletes cleanly.
            with contextlib.suppress(Exception):
                ids = self.docker("ps", "-aq", timeout=20).split()
                if ids:
                    self.docker_proc("rm", "-f", "-v", *ids, timeout=60)
        if self.registry is not None:
            self.registry.stop()
        if dockerd:
            os.kill(dockerd, signal.SIGTERM)  # it stops its containerd too
            if not _wait_gone([dockerd], 20):
                os.kill(dockerd, signal.SIGKILL)
            if self.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(10)
        # Whatever is left (shims, containers, proxies, test children): SIGKILL, then unmount.
        for _ in range(5):
            pids = list(self.processes())
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _wait_gone(pids, 10)
            for point in self.mounts():
                if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                    subprocess.run(["umount", "-l", point], capture_output=True)
            if not self.processes() and not self.mounts():
                break
        for cgroup in self.cgroups():
            for dirpath, _, _ in sorted(os.walk(cgroup), key=lambda w: -len(w[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
        for path in self._shim_sockets:
            with contextlib.suppress(OSError):
                os.unlink(path)
        if self._log is not None:
            self._log.close()
            self._log = None
        if not self.mounts():  # never rmtree through a mount
            shutil.rmtree(self.root, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """What cleanup left behind (empty when it was complete)."""
        left = [f"process {pid}: {cmd}" for pid, cmd in self.processes().items()]
        left += [f"mount {point}" for point in self.mounts()]
        left += [f"cgroup {cgroup}" for cgroup in self.cgroups()]
        left += [f"socket {path}" for path in self._shim_sockets if os.path.exists(path)]
        if self.root.exists():
            left.append(f"directory {self.root}")
        return left

    def _record(self, what: str, t0: float) -> float:
        seconds = time.monotonic() - t0
        self.timings.setdefault(what, []).append(seconds)
        return seconds

    def report(self) -> str:
        return "private engine timings: " + ", ".join(
            f"{what} " + "/".join(f"{s:.2f}" for s in values) + " s"
            for what, values in self.timings.items()
        )

    def __enter__(self) -> PrivateEngine:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def shared_engine_problems(had_docker0: bool = True) -> list[str]:
    """What is wrong with the shared engine (empty when it is fine): its docker0 bridge gone
    (when it had one), `docker info` failing."""
    problems = []
    if had_docker0 and not _link_exists("docker0"):
        problems.append("the host's docker0 bridge is gone")
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        problems.append(f"docker info on the shared engine failed: {info.stderr.strip()}")
    return problems


@pytest.fixture(scope="module")
def private_engine():
    """A fresh PrivateEngine per test module (fault tests leave it in odd states), removed
    afterwards; fails the module's teardown if anything of it is left or the shared engine
    suffered. In a test module: ``private_engine = privateengine.private_engine`` (an
    assignment needs no ``noqa: F401``, an import would)."""
    had_docker0 = _link_exists("docker0")
    engine = PrivateEngine()
    try:
        yield engine.open()
    finally:
        engine.close()
        print(f"\n{engine.report()}")
    left = engine.leftovers()
    assert not left, f"private engine cleanup left: {left}"
    problems = shared_engine_problems(had_docker0)
    assert not problems, problems


if __name__ == "__main__":
    # Cleans up roots of runs that died before their cleanup:
    # python -m tests.support.privateengine ROOT... (from the repository root)
    for root in sys.argv[1:]:
        engine = PrivateEngine(root=Path(root))
        engine.close()
        print(root, "left:", engine.leftovers() or "nothing")
