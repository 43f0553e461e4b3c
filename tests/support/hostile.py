"""A fake Docker registry (a small subset of the Registry HTTP API v2) that misbehaves on
purpose, over plain HTTP or over TLS with a test CA.

Why a fake and not Debian's docker-registry: a real registry is never slow, never endless,
never wrong about its digest. The code under test asks registries itself (``HEAD
/v2/<path>/manifests/<tag>``, answering Basic and Bearer challenges) and falls back to the
Docker Engine, which asks the registry again in its own way; both clients must end in bounded
time with a clear answer or error, and must never hand credentials to a host that should not
see them. So the fake answers byte by byte as told, and records every request it receives
(raw head included), so that a test can see who sent what where.

What it serves when it behaves (mode ``ok``): ``GET /v2/`` (the Engine's ping), the manifest of
a tiny image by tag or digest (``HEAD``/``GET``), that image's config blob, and a token at
``/token`` when it is (also) a token realm. The image's one layer is never served: a pull from
the fake can never complete, so a redeploy from it can never replace a container.

Modes (one server per mode; see ``MODES``):

- ``ok``: as above, the control.
- ``status500``: every request, the ping included, is answered 500.
- ``no_digest``: manifests are answered 200 without ``Docker-Content-Digest`` (the Engine then
  GETs the manifest and hashes it itself).
- ``bad_digest``: manifests carry a malformed ``Docker-Content-Digest`` (``digest=``, default
  ``sha256:xyz``; e.g. 10 KB of hex).
- ``huge_headers``: every response carries one header of ``header_bytes`` (default 4 MiB).
- ``endless_headers``: manifest responses never finish their head: header lines keep coming,
  every ``interval`` seconds (0: as fast as the client reads).
- ``huge_body``: the body of a manifest ``GET`` (``body_on="manifest"``, its ``HEAD`` then has
  no digest, which makes the Engine ``GET``) or of the token (``body_on="token"``) is
  ``body_bytes`` of whitespace before the real body.
- ``endless_body``: that body never ends (chunked, 4 KiB every ``interval`` s, default 0.05; not
  faster, as the Engine, shared by the host, may buffer it all in memory).
- ``slow``: every response trickles, one byte every ``interval`` s (default 1).
- ``redirect``: manifests and blobs are answered ``redirect_status`` (default 307) to the same
  path on ``redirect_to`` (in tests a server on another host, which records whether
  credentials followed).
- ``hang``: accepts connections and never reads or answers.

A misbehaviour that never ends is bounded by ``give_up`` seconds (default 600) per response;
``cut()`` hangs up every open connection (new ones meet the same misbehaviour) and ``stop()``
closes the port too: a test can always end, and the Engine's own requests end with it.

Scenes compose servers into the situations tests need (``scene()``): the above, plus
``token_realm_other_host`` (a Bearer challenge whose realm is a TLS token service on this
machine's non-loopback address), ``token_realm_plain_http`` (the realm over plain HTTP on that
address), and ``tls_expired`` / ``tls_wrong_host`` (the registry over TLS with an expired
certificate, or one for another name). A "different host" is this machine's non-loopback IPv4
address (``lan_ip()``), as the code under test counts all of 127.0.0.0/8 as this machine.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import json
import re
import secrets
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.support.pki import certificate, write_pem

MODES = (
    "ok",
    "status500",
    "no_digest",
    "bad_digest",
    "huge_headers",
    "endless_headers",
    "huge_body",
    "endless_body",
    "slow",
    "redirect",
    "hang",
    "rate_limited",
)
SCENES = (
    *MODES,
    "token_realm_other_host",
    "token_realm_plain_http",
    "tls_expired",
    "tls_wrong_host",
)

OUR_AGENT = "saltext-docker-deploy/"
# What the `rate_limited` fake asks clients to wait.
RETRY_AFTER_S = 120
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
# A request head is a few hundred bytes; a client sending more than this is misbehaving too.
MAX_REQUEST_HEAD = 64 << 10


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# The tiny image every fake serves: its config blob is served, its one layer never is.
_LAYER = b"a layer no fake registry ever serves"
CONFIG = json.dumps(
    {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [_sha256(_LAYER)]},
    }
).encode()
CONFIG_DIGEST = _sha256(CONFIG)
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(CONFIG),
            "digest": CONFIG_DIGEST,
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(_LAYER),
                "digest": _sha256(_LAYER),
            }
        ],
    },
    indent=3,
).encode()
DIGEST = _sha256(MANIFEST)

_REASONS = {200: "OK", 302: "Found", 307: "Temporary Redirect", 400: "Bad Request"}
_REASONS |= {401: "Unauthorized", 404: "Not Found", 431: "Request Header Fields Too Large"}
_REASONS |= {500: "Internal Server Error"}


def lan_ip() -> str:
    """This machine's non-loopback IPv4 address, the source of its default route (a UDP
    "connect" sends nothing). The code under test and the Engine see it as another host."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))
        ip = probe.getsockname()[0]
    if ipaddress.ip_address(ip).is_loopback:
        raise RuntimeError(f"no non-loopback IPv4 address (the default route leaves from {ip})")
    return ip


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# --- TLS ---------------------------------------------------------------------------------------


@dataclass
class ServerCert:
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


class TestCA:
    """A throwaway CA and the server certificates it signs: good, expired, or for another name."""

    __test__ = False  # not a pytest class

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key, self.cert = certificate("hostile-registry test CA")
        self.path = write_pem(self.dir / "ca.crt", cert=self.cert)

    def issue(self, ip: str, *, expired: bool = False, wrong_host: bool = False) -> ServerCert:
        """A certificate for ``ip`` (valid for a day either side of now), or one that expired
        yesterday, or one for ``registry.wrong.example`` and 10.255.255.1 instead of ``ip``."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=1)
        if expired:
            start, end = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip))]
        if wrong_host:
            names = [
                x509.DNSName("registry.wrong.example"),
                x509.IPAddress(ipaddress.ip_address("10.255.255.1")),
            ]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile registry")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        stem = f"server-{secrets.token_hex(4)}"
        return ServerCert(
            cert=write_pem(self.dir / f"{stem}.crt", cert=cert),
            key=write_pem(self.dir / f"{stem}.key", key=key),
        )

    def trust(self, authority: str, certs_d: Path) -> None:
        """Makes ``authority`` (``host:port``) trusted as the Engine's certs.d layout says."""
        (certs_d / authority).mkdir(parents=True, exist_ok=True)
        shutil.copy(self.path, certs_d / authority / "ca.crt")


# --- the server --------------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the fake received it."""

    server: str  # the URL of the server that received it
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    head: bytes  # the raw request head
    tls: bool
    at: float = field(default_factory=time.monotonic)

    @property
    def client(self) -> str:
        """``ours``, ``engine`` or the user agent as sent."""
        agent = self.headers.get("user-agent", "")
        if agent.startswith(OUR_AGENT):
            return "ours"
        return "engine" if agent.startswith("docker/") else agent or "?"

    def carries(self, username: str, password: str) -> bool:
        """True when the password is in the request, as itself or in a Basic credential."""
        basic = base64.b64encode(f"{username}:{password}".encode())
        return password.encode() in self.head or basic in self.head

    def __str__(self) -> str:
        auth = self.headers.get("authorization", "")
        auth = f" Authorization: {auth.split(' ')[0]} ..." if auth else ""
        return f"{self.client} {self.method} {self.server}{self.path}{auth}"


class FakeRegistry:
    """One fake registry on ``host`` (a free port), misbehaving as ``mode`` says. ``auth``:
    ``None``, ``"basic"`` or ``"bearer"`` (challenge with ``realm``; ``"self"`` means this
    server's own ``/token``). ``may_see_credentials`` says whether a request carrying the
    test's credentials is legitimate here, ``verifiable`` whether a client could verify its TLS
    certificate (``Scene.leaks``)."""

    def __init__(
        self,
        mode: str = "ok",
        *,
        host: str = "127.0.0.1",
        tls: ServerCert | None = None,
        auth: str | None = None,
        realm: str | None = None,
        redirect_to: str | None = None,
        redirect_status: int = 307,
        digest: str = "sha256:xyz",
        header_bytes: int = 4 << 20,
        body_on: str = "manifest",
        body_bytes: int = 32 << 20,
        interval: float | None = None,
        may_see_credentials: bool = True,
        give_up: float = 600.0,
    ):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
        if body_on not in ("manifest", "token"):
            raise ValueError(f"body_on must be manifest or token, not {body_on!r}")
        self.mode, self.auth, self.body_on = mode, auth, body_on
        self.redirect_to, self.redirect_status = redirect_to, redirect_status
        self.bad_digest, self.header_bytes, self.body_bytes = digest, header_bytes, body_bytes
        default_interval = {"slow": 1.0, "endless_body": 0.05}.get(mode, 0.0)
        self.interval = default_interval if interval is None else interval
        self.may_see_credentials, self.give_up = may_see_credentials, give_up
        self.verifiable = True
        self.bind_host, self.tls = host, tls is not None
        self._ssl = tls.context() if tls else None
        self.token = "fake-token-" + secrets.token_hex(8)
        self.requests: list[Seen] = []
        self.tls_failures: list[str] = []
        # Every digest of a manifest body this server sent: an honest client's answer is one.
        self.digests: set[str] = {DIGEST}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server((host, 0), backlog=64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.host = f"{host}:{self.port}"
        self.url = f"{'https' if self.tls else 'http'}://{self.host}"
        self.realm = f"{self.url}/token" if realm == "self" else realm
        if auth == "bearer" and not self.realm:
            raise ValueError("a bearer challenge needs a realm")
        self._acceptor = threading.Thread(target=self._accept, name=f"fake {self.url}", daemon=True)
        self._acceptor.start()

    def ref(self, repo: str = "hostile/app", tag: str = "prod") -> str:
        return f"{self.host}/{repo}:{tag}"

    def cut(self) -> None:
        """Hangs up every open connection (each client sees its answer end), and goes on
        misbehaving on new ones."""
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Closes the port and cuts every connection; records stay readable. Idempotent."""
        self._stop.set()
        self._acceptor.join(5)
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()
        for thread in list(self._threads):
            thread.join(5)

    def __enter__(self) -> FakeRegistry:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- connections ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            thread = threading.Thread(target=self._connection, args=(conn,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _connection(self, conn: socket.socket) -> None:
        self._track(conn, True)
        try:
            if self._stop.is_set():
                return
            if self._ssl is not None:
                conn.settimeout(10)
                raw = conn
                try:
                    conn = self._ssl.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    self.tls_failures.append(str(e))
                    return
                finally:
                    self._track(raw, False)
                self._track(conn, True)
                conn.settimeout(None)
            if self.mode == "hang":
                self._stop.wait(self.give_up)
                return
            buffered = b""
            while not self._stop.is_set():
                request, buffered = self._read(conn, buffered)
                if request is None:
                    return
                self.requests.append(request)
                if request.method == "?":
                    self._send(conn, request, 400, b"not HTTP\n", keep=False)
                    return
                if not self._answer(conn, request):
                    return
        except (OSError, ValueError):  # a hung-up client, or a Content-Length that is no number
            pass
        finally:
            self._track(conn, False)
            with contextlib.suppress(OSError):
                conn.close()

    def _read(self, conn: socket.socket, buffered: bytes) -> tuple[Seen | None, bytes]:
        """The next request head; a TLS hello, or too long a head, as method ``?``."""
        while b"\r\n\r\n" not in buffered:
            if buffered.startswith(b"\x16") or len(buffered) > MAX_REQUEST_HEAD:
                return Seen(self.url, "?", repr(buffered[:16]), {}, buffered, self.tls), b""
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            buffered += chunk
        head, _, rest = buffered.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, _, target = lines[0].partition(" ")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        # GET and HEAD carry no body; anything sent along is skipped.
        length = int(headers.get("content-length", "0") or 0)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        path = target.rpartition(" ")[0] or target
        return Seen(self.url, method, path, headers, head, self.tls), rest[length:]

    # -- answers --------------------------------------------------------------------------------

    def _answer(self, conn: socket.socket, req: Seen) -> bool:
        """Answers one request; False when the connection is done."""
        if self.mode == "status500":
            return self._send(conn, req, 500, _error("UNKNOWN", "this fake fails every request"))
        path = req.path.split("?")[0]
        if path == "/token":
            return self._token(conn, req)
        if path in ("/v2/", "/v2"):
            if self._denied(req):
                return self._challenge(conn, req, "")
            return self._send(conn, req, 200, b"{}", {"Content-Type": "application/json"})
        match = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/([^/]+)", path)
        if not match:
            return self._send(conn, req, 404, _error("NOT_FOUND", "no such endpoint"))
        name, kind, reference = match.groups()
        if self._denied(req):
            return self._challenge(conn, req, name)
        if self.mode == "redirect":
            location = {"Location": f"{self.redirect_to}{req.path}"}
            return self._send(conn, req, self.redirect_status, b"", location)
        if kind == "blobs":
            if reference != CONFIG_DIGEST:
                return self._send(conn, req, 404, _error("BLOB_UNKNOWN", "blob unknown"))
            headers = {"Content-Type": "application/octet-stream"}
            return self._send(
                conn, req, 200, CONFIG, headers | {"Docker-Content-Digest": reference}
            )
        return self._manifest(conn, req)

    def _denied(self, req: Seen) -> bool:
        given = req.headers.get("authorization", "")
        return (self.auth == "basic" and not given.startswith("Basic ")) or (
            self.auth == "bearer" and not given.startswith("Bearer ")
        )

    def _challenge(self, conn: socket.socket, req: Seen, name: str) -> bool:
        if self.auth == "basic":
            challenge = 'Basic realm="fake registry"'
        else:
            challenge = f'Bearer realm="{self.realm}",service="fake-registry"'
            if name:
                challenge += f',scope="repository:{name}:pull"'
        headers = {"WWW-Authenticate": challenge}
        return self._send(
            conn, req, 401, _error("UNAUTHORIZED", "authentication required"), headers
        )

    def _manifest(self, conn: socket.socket, req: Seen) -> bool:
        if self.mode == "rate_limited":
            body = _error("TOOMANYREQUESTS", "slow down")
            return self._send(conn, req, 429, body, {"Retry-After": str(RETRY_AFTER_S)})
        headers = {"Content-Type": MANIFEST_TYPE, "Docker-Content-Digest": DIGEST}
        hostile_body = self.mode in ("huge_body", "endless_body") and self.body_on == "manifest"
        if self.mode == "no_digest" or hostile_body:
            del headers["Docker-Content-Digest"]
        elif self.mode == "bad_digest":
            headers["Docker-Content-Digest"] = self.bad_digest
        if self.mode == "endless_headers":
            return self._endless_head(conn, headers)
        if hostile_body and req.method == "GET":
            return self._hostile_body(conn, req, MANIFEST, headers)
        return self._send(conn, req, 200, MANIFEST, headers)

    def _token(self, conn: socket.socket, req: Seen) -> bool:
        body = json.dumps({"token": self.token, "access_token": self.token, "expires_in": 300})
        headers = {"Content-Type": "application/json"}
        if self.mode in ("huge_body", "endless_body") and self.body_on == "token":
            return self._hostile_body(conn, req, body.encode(), headers)
        return self._send(conn, req, 200, body.encode(), headers)

    def _hostile_body(self, conn: socket.socket, req: Seen, body: bytes, headers: dict) -> bool:
        if self.mode == "huge_body":
            padded = b" " * self.body_bytes + body
            if body == MANIFEST:
                self.digests.add(_sha256(padded))
            return self._send(conn, req, 200, padded, headers, keep=False)
        # endless: chunked whitespace, never the last chunk.
        head = _head(200, headers | {"Transfer-Encoding": "chunked", "Connection": "close"})
        conn.sendall(head)
        chunk = b"1000\r\n" + b" " * 0x1000 + b"\r\n"
        deadline = time.monotonic() + self.give_up
        while time.monotonic() < deadline and not self._stop.wait(self.interval):
            conn.sendall(chunk)
        return False

    def _endless_head(self, conn: socket.socket, headers: dict) -> bool:
        conn.sendall(_head(200, headers, end=False))
        deadline, n = time.monotonic() + self.give_up, 0
        # As fast as the client reads (a batch a send), or a line every `interval` seconds.
        batch = 1 if self.interval else 512
        while time.monotonic() < deadline and not self._stop.is_set():
            lines = "".join(f"X-Endless-{n + i}: {'x' * 64}\r\n" for i in range(batch))
            conn.sendall(lines.encode())
            n += batch
            if self.interval and self._stop.wait(self.interval):
                break
        return False

    def _send(
        self,
        conn: socket.socket,
        req: Seen,
        status: int,
        body: bytes = b"",
        headers: dict | None = None,
        keep: bool = True,
    ) -> bool:
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        headers["Content-Length"] = str(len(body))
        if self.mode == "huge_headers":
            headers["X-Padding"] = "p" * self.header_bytes
        keep = keep and req.headers.get("connection", "").lower() != "close"
        if not keep:
            headers["Connection"] = "close"
        payload = _head(status, headers) + (b"" if req.method == "HEAD" else body)
        if self.mode != "slow":
            conn.sendall(payload)
            return keep
        deadline = time.monotonic() + self.give_up
        for i in range(len(payload)):
            if time.monotonic() > deadline or self._stop.wait(self.interval if i else 0):
                break
            conn.sendall(payload[i : i + 1])
        return False


def _head(status: int, headers: dict, end: bool = True) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Whatever')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Docker-Distribution-API-Version: registry/2.0")
    return ("\r\n".join(lines) + "\r\n" + ("\r\n" if end else "")).encode("latin-1")


def _error(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


# --- scenes ------------------------------------------------------------------------------------


@dataclass
class Scene:
    """The registry an image reference points to, and the server on another host it sends
    clients to (a redirect target or a token realm), if any."""

    mode: str
    registry: FakeRegistry
    outside: FakeRegistry | None = None

    @property
    def servers(self) -> list[FakeRegistry]:
        return [s for s in (self.registry, self.outside) if s is not None]

    @property
    def requests(self) -> list[Seen]:
        return sorted((r for s in self.servers for r in s.requests), key=lambda r: r.at)

    @property
    def digests(self) -> set[str]:
        return set().union(*(s.digests for s in self.servers))

    def ref(self, repo: str = "hostile/app", tag: str = "prod") -> str:
        return self.registry.ref(repo, tag)

    def leaks(self, username: str, password: str) -> list[str]:
        """Every request that carried the credentials where they should not go: to a server
        that may not see them, or to another host in the clear or over TLS that no client
        could verify (its certificate is bad, or signed by a CA nobody was given)."""
        found = []
        for server in self.servers:
            elsewhere = not is_loopback(server.bind_host)
            if not server.may_see_credentials:
                why = "not theirs to see"
            elif elsewhere and not server.tls:
                why = "in the clear to another host"
            elif elsewhere and not server.verifiable:
                why = "over TLS no client could verify, to another host"
            else:
                continue
            found += [f"{r} ({why})" for r in server.requests if r.carries(username, password)]
        return found

    def cut(self) -> None:
        for server in self.servers:
            server.cut()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@contextlib.contextmanager
def scene(
    mode: str, *, ca: TestCA | None = None, host: str = "127.0.0.1", **options
) -> Iterator[Scene]:
    """Starts the servers of one scene (``SCENES``) and stops them all afterwards.

    ``host`` is where the registry listens (the TLS scenes may use ``lan_ip()``); ``ca`` signs
    the certificates of the TLS scenes; ``options`` go to the registry's ``FakeRegistry``.
    ``redirect`` and the token scenes put their second server on ``lan_ip()``.
    """
    if mode not in SCENES:
        raise ValueError(f"unknown scene {mode!r} (known: {', '.join(SCENES)})")
    if mode in ("token_realm_other_host", "tls_expired", "tls_wrong_host") and ca is None:
        raise ValueError(f"scene {mode} needs a TestCA")
    started: list[FakeRegistry] = []
    try:
        outside, server_mode = None, mode
        if mode == "redirect":
            outside = FakeRegistry(host=lan_ip(), may_see_credentials=False)
            started.append(outside)
            options = {"auth": "basic", "redirect_to": outside.url} | options
        elif mode.startswith("token_realm_"):
            ip = lan_ip()
            cert = ca.issue(ip) if mode == "token_realm_other_host" else None
            outside = FakeRegistry(host=ip, tls=cert)
            started.append(outside)
            options = {"auth": "bearer", "realm": f"{outside.url}/token"} | options
            server_mode = "ok"
        elif mode.startswith("tls_"):
            cert = ca.issue(
                host, expired=mode == "tls_expired", wrong_host=mode == "tls_wrong_host"
            )
            options = {"auth": "basic", "tls": cert} | options
            server_mode = "ok"
        registry = FakeRegistry(server_mode, host=host, **options)
        started.append(registry)
        registry.verifiable = not mode.startswith("tls_")
        the_scene = Scene(mode=mode, registry=registry, outside=outside)
        yield the_scene
    finally:
        for server in started:
            server.stop()
