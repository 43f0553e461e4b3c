"""The real test bed: a local registry, busybox images built FROM scratch, and cleanup.

Shared by the pytest suite and the demo (``examples/demo.py``). Everything it creates on the
Docker Engine carries the label ``saltext-docker-deploy-test=<run id>`` so that cleanup removes
exactly what this run made and nothing else: CI and the benchmarks share the engine.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

TEST_LABEL = "saltext-docker-deploy-test"
BUSYBOX = Path("/bin/busybox")

# PID 1 is `sh`, which traps TERM and exits at once: a graceful app, so stops take milliseconds
# instead of Docker's 10 s kill timeout.
HTTPD_CMD = [
    "/bin/busybox",
    "sh",
    "-c",
    "trap 'exit 0' TERM; /bin/busybox httpd -f -p 80 -h /www & wait",
]
# PID 1 is httpd itself, which has no TERM handler: the kernel ignores TERM for PID 1, so a
# stop waits out the whole stop timeout and then kills (an app that ignores SIGTERM).
STUBBORN_CMD = ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]
# Prints a line and exits with code 3 at once.
EXIT_CMD = ["/bin/busybox", "sh", "-c", "echo 'cannot start: no config'; exit 3"]
# Exits with code 1 on its first run; run again (a restart keeps its filesystem), it serves.
CRASHES_ONCE_CMD = [
    "/bin/busybox",
    "sh",
    "-c",
    "trap 'exit 0' TERM; if [ -e /crashed-once ]; then /bin/busybox httpd -f -p 80 -h /www & wait;"
    " else /bin/busybox touch /crashed-once; echo 'crashing once'; exit 1; fi",
]
# Serves for a second, then exits with code 0 (a clean exit is a failure too).
EXITS_LATER_CMD = [
    "/bin/busybox",
    "sh",
    "-c",
    "/bin/busybox httpd -p 80 -h /www; sleep 1; echo 'lost the database'; exit 0",
]

# Serves for a second, then its PID 1 holds 250 MB: killed under a memory limit below that.
OOM_CMD = [
    "/bin/busybox",
    "sh",
    "-c",
    "/bin/busybox httpd -p 80 -h /www; sleep 1; exec /bin/busybox tail -c 250000000 /dev/zero",
]

# HEALTHCHECK instructions for the image variants.
HEALTHY = "HEALTHCHECK --interval=1s --timeout=2s --retries=3 CMD " + json.dumps(
    ["/bin/busybox", "wget", "-q", "-O-", "http://127.0.0.1/"]
)
UNHEALTHY = "HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD " + json.dumps(
    ["/bin/busybox", "sh", "-c", "echo db unreachable; exit 1"]
)
# The first check runs only after the interval: the container stays `starting` for minutes.
NEVER_HEALTHY = 'HEALTHCHECK --interval=300s CMD ["/bin/busybox", "true"]'


def docker(*args: str, check: bool = True, quiet: bool = False) -> str:
    """Runs the docker CLI (used for setup and for observing; the code under test never is)."""
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip() if not quiet else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after `timeout`; reaped either way."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def http_get(port: int, timeout: float = 1.0) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as resp:
            return resp.read().decode().strip()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


def wait_http(port: int, expected: str, timeout: float = 10.0) -> str | None:
    """Polls until the page is `expected`; returns the last answer (None when nothing answered)."""
    last: list[str | None] = [None]

    def answered() -> bool:
        last[0] = http_get(port)
        return last[0] == expected

    wait_for(answered, timeout)
    return last[0]


class Registry:
    """Debian's docker-registry on a free 127.0.0.1 port, storing in a temp dir.

    The Engine treats 127.0.0.0/8 registries as insecure, so plain HTTP works without daemon
    configuration. With ``users`` it requires htpasswd (bcrypt) authentication.
    """

    def __init__(
        self,
        workdir: Path,
        users: dict[str, str] | None = None,
        token_server=None,
        tls: bool = False,
        notify: list[tuple[str, dict[str, str]]] | None = None,
    ):
        """``token_server`` (a ``tokenserver.TokenServer``) switches htpasswd for the registry
        token flow: Bearer challenges, JWTs from the server's realm. ``tls`` serves HTTPS with a
        self-signed certificate (``self.ca``); the Engine takes any certificate from a loopback
        registry, as it treats 127.0.0.0/8 as insecure."""
        self.users = dict(users or {})
        self.token_server = token_server
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.workdir = workdir
        storage = workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        auth = ""
        if users:
            htpasswd = workdir / "htpasswd"
            for i, (user, password) in enumerate(users.items()):
                flags = "-Bbc" if i == 0 else "-Bb"
                subprocess.run(
                    ["htpasswd", flags, str(htpasswd), user, password],
                    check=True,
                    capture_output=True,
                )
            auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
        if token_server is not None:
            auth = token_server.registry_auth_config()
        self.scheme, self.ca, tls_config = "http", None, ""
        if tls:
            from tests.support.pki import certificate, write_pem  # cryptography comes with Salt

            ca = certificate("ddtest registry CA")
            key, cert = certificate("ddtest registry", ip="127.0.0.1", issuer=ca)
            self.scheme, self.ca = "https", write_pem(workdir / "ca.crt", cert=ca[1])
            write_pem(workdir / "server.crt", cert=cert)
            tls_config = (
                f"  tls:\n    certificate: {workdir / 'server.crt'}\n"
                f"    key: {write_pem(workdir / 'server.key', key=key)}\n"
            )
        # Notifications: each endpoint (url, headers) gets every event, as JSON, at least once.
        notifications = ""
        if notify:
            notifications = "notifications:\n  endpoints:\n"
            for index, (url, headers) in enumerate(notify):
                notifications += (
                    f"    - name: endpoint{index}\n      url: {url}\n      timeout: 2s\n"
                    "      threshold: 5\n      backoff: 1s\n"
                    "      ignoredmediatypes: [application/octet-stream]\n"
                )
                if headers:
                    notifications += "      headers:\n" + "".join(
                        f"        {k}: [{json.dumps(v)}]\n" for k, v in headers.items()
                    )
        config = workdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n" + tls_config + auth + notifications
        )
        self.log = open(workdir / "registry.log", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=self.log, stderr=self.log
        )
        if not wait_for(self._answers, timeout=15):
            self.stop()
            raise RuntimeError(f"docker-registry did not start on {self.host}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            urllib.request.urlopen(f"{self.url}/v2/", timeout=1, context=self._tls()).close()
            return True
        except urllib.error.HTTPError:
            return True  # 401 with auth: it is up
        except (urllib.error.URLError, OSError):
            return False

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def _tls(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=str(self.ca)) if self.ca else None

    def _headers(self, repo: str) -> dict[str, str]:
        if self.token_server is not None:
            token = self.token_server.issue(next(iter(self.users)), repo, ["pull", "push"])
            return {"Authorization": f"Bearer {token}"}
        if not self.users:
            return {}
        user, password = next(iter(self.users.items()))
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def docker_config(self) -> Path | None:
        """A Docker CLI config dir logged in to this registry (never the user's own ~/.docker)."""
        if not self.users:
            return None
        config = self.workdir / "docker-config"
        if not config.exists():
            config.mkdir()
            user, password = next(iter(self.users.items()))
            subprocess.run(
                [
                    "docker",
                    "--config",
                    str(config),
                    "login",
                    "-u",
                    user,
                    "--password-stdin",
                    self.host,
                ],
                input=password,
                text=True,
                capture_output=True,
                check=True,
            )
        return config

    def retag(self, repo: str, source_tag: str, target_tag: str) -> None:
        """Points `target_tag` at the manifest of `source_tag`, inside the registry only (as a
        CI pipeline promoting an image would), leaving every local tag as it was."""
        accept = ", ".join(
            [
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.manifest.v1+json",
            ]
        )
        url = f"{self.url}/v2/{repo}/manifests"
        req = urllib.request.Request(
            f"{url}/{source_tag}", headers={"Accept": accept, **self._headers(repo)}
        )
        with urllib.request.urlopen(req, timeout=10, context=self._tls()) as resp:
            body, media_type = resp.read(), resp.headers["Content-Type"]
        put = urllib.request.Request(
            f"{url}/{target_tag}",
            data=body,
            method="PUT",
            headers={"Content-Type": media_type, **self._headers(repo)},
        )
        urllib.request.urlopen(put, timeout=10, context=self._tls()).close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class TestBed:
    """Builds labelled images, publishes them to a registry, and removes all it made."""

    run_id: str = field(default_factory=lambda: f"{os.getpid()}-{int(time.time())}")
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dd-testbed-")))

    @property
    def label(self) -> str:
        return f"{TEST_LABEL}={self.run_id}"

    @property
    def labels(self) -> dict[str, str]:
        return {TEST_LABEL: self.run_id}

    def build(
        self, tag: str, version: str, cmd: list[str] | None = None, instructions: str = ""
    ) -> str:
        """Builds an image FROM scratch with busybox that serves `version` over HTTP on :80
        (or runs `cmd`), with optional further Dockerfile lines (HEALTHCHECK, VOLUME, LABEL)."""
        context = self.workdir / f"ctx-{version}-{abs(hash((tag, tuple(cmd or []), instructions)))}"
        (context / "www").mkdir(parents=True, exist_ok=True)
        shutil.copy2(BUSYBOX, context / "busybox")
        (context / "www" / "index.html").write_text(version + "\n")
        (context / "Dockerfile").write_text(
            "FROM scratch\n"
            "COPY busybox /bin/busybox\n"
            "COPY www /www\n"
            f"CMD {json.dumps(cmd or HTTPD_CMD)}\n" + (f"{instructions}\n" if instructions else "")
        )
        docker(
            "build",
            "-q",
            # Never share (and later delete) cached build layers with the cargo suite's builds.
            "--no-cache",
            "--label",
            self.label,
            "--label",
            f"version={version}",
            "-t",
            tag,
            str(context),
        )
        return docker("image", "inspect", "-f", "{{.Id}}", tag)

    def publish(self, registry: Registry, local_tag: str, repo: str, tag: str) -> str:
        """Makes `registry`'s `repo:tag` point at the image `local_tag`, without moving any
        local tag: the host learns about it only by pulling, as a real minion would. Returns
        the reference to deploy."""
        staging_tag = "staging-" + docker("image", "inspect", "-f", "{{.Id}}", local_tag)[7:19]
        staging = f"{registry.host}/{repo}:{staging_tag}"
        docker("tag", local_tag, staging)
        config = registry.docker_config()
        try:
            docker(*(["--config", str(config)] if config else []), "push", staging, quiet=True)
        finally:
            docker("rmi", staging, check=False)
        registry.retag(repo, staging_tag, tag)
        return f"{registry.host}/{repo}:{tag}"

    def containers(self, name: str | None = None) -> list[str]:
        """Names of this run's containers (optionally those whose name starts with `name`)."""
        out = docker("ps", "-a", "--filter", f"label={self.label}", "--format", "{{.Names}}")
        names = [n for n in out.splitlines() if n]
        if name is not None:
            names = [n for n in names if n == name or n.startswith(name + ".")]
        return sorted(names)

    def cleanup(self) -> None:
        """Removes every container, image, volume and network labelled by this run, and the
        volumes its containers mounted (anonymous ones carry no label)."""
        ids = docker("ps", "-aq", "--filter", f"label={self.label}", check=False).split()
        remove_containers_and_volumes(ids)
        refs = docker(
            "images",
            "--filter",
            f"label={self.label}",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            check=False,
        ).split()
        refs = [r for r in refs if not r.endswith(":<none>")]
        if refs:
            docker("rmi", "-f", *refs, check=False)
        dangling = docker("images", "-q", "--filter", f"label={self.label}", check=False).split()
        if dangling:
            docker("rmi", "-f", *sorted(set(dangling)), check=False)
        for kind in ("volume", "network"):
            names = docker(kind, "ls", "-q", "--filter", f"label={self.label}", check=False).split()
            if names:
                docker(kind, "rm", *names, check=False)
        with contextlib.suppress(OSError):
            shutil.rmtree(self.workdir)


def volumes_of(*containers: str) -> list[str]:
    """The names of the volumes mounted in these containers (those that exist)."""
    names: list[str] = []
    for container in containers:
        found = inspect(container)
        for mount in (found or {}).get("Mounts") or []:
            if mount.get("Type") == "volume" and mount.get("Name"):
                names.append(mount["Name"])
    return names


def remove_containers_and_volumes(containers: list[str]) -> None:
    """Removes the containers and every volume they mount: `docker rm -v` keeps a volume that
    a container mounted by name, as a redeploy mounts the ones it takes over."""
    if not containers:
        return
    volumes = volumes_of(*containers)
    docker("rm", "-f", "-v", *containers, check=False)
    if volumes:
        docker("volume", "rm", *sorted(set(volumes)), check=False)


def inspect(name: str) -> dict | None:
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout)[0]


def engine_events(since: float, until: float, kind: str) -> list[dict]:
    """The Engine's events of one type (`container`, `image`) in a time window, once it closed."""
    time.sleep(max(0.0, until - time.time()) + 0.1)
    out = docker(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{until:.3f}",
        "--filter",
        f"type={kind}",
        "--format",
        "{{json .}}",
    )
    return [json.loads(line) for line in out.splitlines() if line]


def container_events(since: float, until: float, name: str) -> list[dict]:
    """The Engine's container events for containers named `name*` in a time window."""
    events = engine_events(since, until, "container")
    return [e for e in events if e["Actor"]["Attributes"].get("name", "").startswith(name)]
